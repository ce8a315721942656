/* stage.c: the staging store: one parallel HDF5 file per job (docs/formats.md).
 *
 * A phase's data is the ranks' key/value tables in the shuffle's byte framing, stored as one
 * chunked uint8 dataset `/<phase>/records`, rank after rank, written with one collective
 * transfer; `/<phase>/segments` holds each rank's (offset, length, XXH3 checksum). The phase
 * group's `complete` attribute is written after its data, and a phase is used only when it is
 * marked and every segment passes its checksum, so a crash at any point leaves the phase
 * either usable or ignored. The root's `fingerprint` attribute is
 * the XXH3-128 of a canonical text of the job, its options, its inputs (path, size, mtime)
 * and the topology; the text itself is kept beside it (`fingerprint_text`) so a mismatch can
 * be explained. A stage is reused only with --resume, a matching fingerprint, a complete phase
 * and good checksums; anything else recomputes the phase, never uses doubtful data.
 *
 * Cost: the bytes of the staged tables (the distinct keys and their values, not the input),
 * written once at the end of the phase; for wordcount on 200 MiB about 20 MB. */
#define _XOPEN_SOURCE 700
#include "stage.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../io/io.h"
#include "../mr/shuffle.h"
#include "../sched/sched.h"
#include "h5util.h"
#include "gridmr/log.h"

#define STAGE_CHUNK (1u << 20) /* bytes per chunk of a records dataset */
#define STAGE_PIECE (4u << 20) /* bytes a rank writes per collective round, and its buffer */

struct gmr__stage {
    MPI_Comm comm;
    int rank, size;
    char *path;
    hid_t file;
    char note[512];
};

static void fingerprint_hex(const char *text, char out[33])
{
    XXH128_hash_t h = XXH3_128bits(text, strlen(text));
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

static hid_t fapl_for(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) {
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
    }
    return fapl;
}

/* Collective: (re)create the file with the fingerprint attributes. */
static gmr_err stage_create(gmr__stage *st, const char *fingerprint)
{
    gmr_err err = GMR_OK;
    hid_t fapl = H5I_INVALID_HID;
    char hex[33];
    GMR_H5_ID(fapl, fapl_for(st->comm));
    st->file = H5Fcreate(st->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    GMR_CHECK(st->file >= 0, GMR_ERR_IO, "stage %s: cannot create the file (does its directory exist?)", st->path);
    fingerprint_hex(fingerprint, hex);
    GMR_CALL(gmr__h5_attr_put_str(st->file, "fingerprint", hex));
    GMR_CALL(gmr__h5_attr_put_str(st->file, "fingerprint_text", fingerprint));
    GMR_CALL(gmr__h5_attr_put_str(st->file, "gridmr_version", GMR_VERSION_STRING));
out:
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    return err;
}

gmr_err gmr__stage_open(MPI_Comm comm, const char *path, const char *fingerprint, int resume, gmr__stage **stp)
{
    gmr_err err = GMR_OK;
    gmr__stage *st = calloc(1, sizeof *st);
    hid_t fapl = H5I_INVALID_HID;
    int usable = 0, all_usable = 0;

    GMR_CHECK(st, GMR_ERR_NOMEM, "cannot allocate the stage");
    st->comm = comm;
    st->file = H5I_INVALID_HID;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    GMR_CALL_MPI(MPI_Comm_rank(comm, &st->rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &st->size));
    st->path = strdup(path);
    GMR_CHECK(st->path, GMR_ERR_NOMEM, "out of memory");

    if (resume) {
        char have[64], hex[33];
        GMR_H5_ID(fapl, fapl_for(comm));
        st->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
        H5Eclear2(H5E_DEFAULT);
        fingerprint_hex(fingerprint, hex);
        if (st->file < 0)
            snprintf(st->note, sizeof st->note, "stage %s is missing, truncated or not HDF5: recomputing", path);
        else if (gmr__h5_attr_get_str(st->file, "fingerprint", have, sizeof have) != GMR_OK)
            snprintf(st->note, sizeof st->note, "stage %s has no fingerprint: recomputing", path);
        else if (strcmp(have, hex) != 0)
            snprintf(st->note, sizeof st->note,
                     "stage %s was made by other options, inputs or rank counts: recomputing", path);
        else
            usable = 1;
        /* a file opened by some ranks and not others is of no use to anyone */
        GMR_CALL_MPI(MPI_Allreduce(&usable, &all_usable, 1, MPI_INT, MPI_LAND, comm));
        if (!all_usable && st->file >= 0) {
            H5Fclose(st->file);
            st->file = H5I_INVALID_HID;
        }
        if (!all_usable && !st->note[0])
            snprintf(st->note, sizeof st->note, "stage %s is unreadable on some rank: recomputing", path);
    }
    if (!all_usable) GMR_CALL(gmr__agree(comm, stage_create(st, fingerprint)));
    *stp = st;
    st = NULL;
out:
    if (fapl >= 0) H5Pclose(fapl);
    gmr__stage_close(&st);
    return err;
}

void gmr__stage_close(gmr__stage **stp)
{
    gmr__stage *st;
    if (!stp || !*stp) return;
    st = *stp;
    if (st->file >= 0) H5Fclose(st->file);
    free(st->path);
    free(st);
    *stp = NULL;
}

const char *gmr__stage_note(const gmr__stage *st) { return st ? st->note : ""; }

MPI_Comm gmr__stage_comm(const gmr__stage *st) { return st->comm; }

gmr_err gmr__stage_sync(gmr__stage *st)
{
    gmr_err err = GMR_OK;
    hid_t fapl = H5I_INVALID_HID;
    if (st->file >= 0) H5Fclose(st->file);
    st->file = H5I_INVALID_HID;
    GMR_H5_ID(fapl, fapl_for(st->comm));
    st->file = H5Fopen(st->path, H5F_ACC_RDWR, fapl);
    H5Eclear2(H5E_DEFAULT);
    GMR_CALL(gmr__agree(st->comm, st->file >= 0 ? GMR_OK
                                                : GMR_ERROR(GMR_ERR_IO, "stage %s: cannot reopen the file", st->path)));
out:
    if (fapl >= 0) H5Pclose(fapl);
    return err;
}

int gmr__stage_has(gmr__stage *st, const char *phase)
{
    int here = 0, all = 0;
    hid_t g = H5I_INVALID_HID;
    char mark[16];
    if (st->file >= 0 && H5Lexists(st->file, phase, H5P_DEFAULT) > 0 &&
        (g = H5Gopen2(st->file, phase, H5P_DEFAULT)) >= 0 && gmr__h5_attr_get_str(g, "complete", mark, sizeof mark) == GMR_OK)
        here = strcmp(mark, "yes") == 0;
    if (g >= 0) H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    if (MPI_Allreduce(&here, &all, 1, MPI_INT, MPI_LAND, st->comm) != MPI_SUCCESS) return 0;
    return all;
}

/* Collective: open `group` (created with its parents when create is set and it is missing). */
static gmr_err group_open(gmr__stage *st, const char *group, int create, hid_t *g)
{
    gmr_err err = GMR_OK;
    hid_t lcpl = H5I_INVALID_HID;
    *g = H5I_INVALID_HID;
    if (create && H5Lexists(st->file, group, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_H5_ID(lcpl, H5Pcreate(H5P_LINK_CREATE));
        GMR_CALL_H5(H5Pset_create_intermediate_group(lcpl, 1));
        GMR_H5_ID(*g, H5Gcreate2(st->file, group, lcpl, H5P_DEFAULT, H5P_DEFAULT));
    } else {
        *g = H5Gopen2(st->file, group, H5P_DEFAULT);
        GMR_CHECK(*g >= 0, GMR_ERR_DATA, "stage %s: no group %s", st->path, group);
    }
out:
    if (lcpl >= 0) H5Pclose(lcpl);
    return err;
}

gmr_err gmr__stage_put_fill(gmr__stage *st, const char *group, const char *name, uint64_t len, uint64_t longest,
                           gmr__stage_fill_fn fill, void *ctx)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    uint64_t mine[3], *seg = NULL, total = 0, cap, off, written = 0;
    hid_t g = H5I_INVALID_HID, space = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hid_t dcpl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    hsize_t dims, maxdims = H5S_UNLIMITED, chunk, count, sdims[2];
    char segname[256], *buf = NULL;
    XXH3_state_t *xs = NULL;
    int more = 1;

    GMR_CHECK(snprintf(segname, sizeof segname, "%s_segments", name) < (int)sizeof segname, GMR_ERR_ARG,
              "stage dataset name too long: %s", name);
    cap = longest > STAGE_PIECE ? longest : STAGE_PIECE;
    if (cap > len && len) cap = len < STAGE_PIECE ? len : cap; /* a small segment needs no 4 MiB */
    seg = calloc((size_t)st->size * 3, sizeof *seg);
    buf = malloc(cap + 1);
    xs = XXH3_createState();
    if (!seg || !buf || !xs) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    if (xs) XXH3_64bits_reset(xs);
    GMR_CALL(gmr__agree(st->comm, local));
    mine[0] = 0;
    mine[1] = len;
    mine[2] = 0;
    GMR_CALL_MPI(MPI_Allgather(mine, 3, MPI_UINT64_T, seg, 3, MPI_UINT64_T, st->comm));
    for (int r = 0; r < st->size; r++) {
        seg[3 * r] = total;
        total += seg[3 * r + 1];
    }
    off = seg[3 * st->rank];

    GMR_CALL(group_open(st, group, 1, &g));
    /* a stale copy (from an interrupted run) goes first */
    if (H5Lexists(g, name, H5P_DEFAULT) > 0) GMR_CALL_H5(H5Ldelete(g, name, H5P_DEFAULT));
    if (H5Lexists(g, segname, H5P_DEFAULT) > 0) GMR_CALL_H5(H5Ldelete(g, segname, H5P_DEFAULT));

    dims = total;
    chunk = total < STAGE_CHUNK ? (total ? total : 1) : STAGE_CHUNK; /* no mostly empty last chunk for small data */
    GMR_H5_ID(space, H5Screate_simple(1, &dims, &maxdims));
    GMR_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
    GMR_CALL_H5(H5Pset_chunk(dcpl, 1, &chunk));
    /* every byte is written right after: without this, parallel HDF5 allocates the chunks at
     * creation and writes them full of zeros first (bench/staging: 1.3-1.4x on the write) */
    GMR_CALL_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
    GMR_H5_ID(dset, H5Dcreate2(g, name, H5T_NATIVE_UINT8, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
    GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));

    /* rounds of one collective transfer each, every rank writing its next piece (or nothing),
     * until no rank has bytes left: the data never sits whole in memory a second time */
    while (more && total) {
        uint64_t n = 0;
        int left, any = 0;
        if (!local && written < len) {
            fill(ctx, buf, cap, &n);
            if (n == 0 || written + n > len)
                local = GMR_ERROR(GMR_ERR_INTERNAL, "stage %s: %s/%s: framing gave %llu bytes at %llu of %llu",
                                  st->path, group, name, (unsigned long long)n, (unsigned long long)written,
                                  (unsigned long long)len);
            if (local) n = 0;
        }
        XXH3_64bits_update(xs, buf, (size_t)n);
        count = n;
        GMR_H5_ID(mspace, H5Screate_simple(1, &count, NULL));
        GMR_CALL(gmr__h5_select_range(space, mspace, off + written, n));
        GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_UINT8, mspace, space, dxpl, buf));
        H5Sclose(mspace);
        mspace = H5I_INVALID_HID;
        written += n;
        left = !local && written < len;
        GMR_CALL_MPI(MPI_Allreduce(&left, &any, 1, MPI_INT, MPI_LOR, st->comm));
        more = any;
    }
    GMR_CALL(gmr__agree(st->comm, local));
    H5Dclose(dset);
    dset = H5I_INVALID_HID;
    H5Sclose(space);
    space = H5I_INVALID_HID;

    /* segments: (offset, length, checksum) per rank; rank 0 writes the whole table */
    mine[0] = off;
    mine[2] = XXH3_64bits_digest(xs);
    GMR_CALL_MPI(MPI_Allgather(mine, 3, MPI_UINT64_T, seg, 3, MPI_UINT64_T, st->comm));
    sdims[0] = (hsize_t)st->size;
    sdims[1] = 3;
    GMR_H5_ID(space, H5Screate_simple(2, sdims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(g, segname, H5T_NATIVE_UINT64, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_H5_ID(mspace, H5Screate_simple(2, sdims, NULL));
    if (st->rank != 0) {
        GMR_CALL_H5(H5Sselect_none(space));
        GMR_CALL_H5(H5Sselect_none(mspace));
    }
    GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_UINT64, mspace, space, dxpl, seg));
out:
    if (err && !gmr_err_is_remote()) gmr__err_context("stage %s, writing %s/%s", st->path, group, name);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (dset >= 0) H5Dclose(dset);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (g >= 0) H5Gclose(g);
    if (xs) XXH3_freeState(xs);
    free(buf);
    free(seg);
    return err;
}

/* gmr__stage_put's filler: the caller's bytes, a piece at a time. */
typedef struct bytes_feed {
    const char *p;
    uint64_t len, pos;
} bytes_feed;

static int feed_bytes(void *vf, char *buf, uint64_t cap, uint64_t *len)
{
    bytes_feed *f = vf;
    uint64_t n = f->len - f->pos < cap - *len ? f->len - f->pos : cap - *len;
    memcpy(buf + *len, f->p + f->pos, n);
    *len += n;
    f->pos += n;
    return f->pos < f->len;
}

gmr_err gmr__stage_put(gmr__stage *st, const char *group, const char *name, const void *buf, uint64_t len)
{
    bytes_feed f = {buf, len, 0};
    return gmr__stage_put_fill(st, group, name, len, 0, feed_bytes, &f);
}

/* gmr__stage_put_tables's filler: the tables' records, table after table. */
typedef struct tables_feed {
    gmr__kvt *const *tables;
    int n, i;
    gmr__kvt_cursor c;
} tables_feed;

static int feed_tables(void *vf, char *buf, uint64_t cap, uint64_t *len)
{
    tables_feed *f = vf;
    while (f->i < f->n) {
        if (gmr__kvt_cursor_fill(&f->c, buf, cap, len)) return 1;
        if (++f->i < f->n) {
            f->c.t = f->tables[f->i];
            f->c.order = NULL;
            f->c.pos = f->c.vcur = 0;
        }
    }
    return 0;
}

gmr_err gmr__stage_put_tables(gmr__stage *st, const char *group, const char *name, gmr__kvt *const *tables,
                              int ntables, const uint32_t *order, uint64_t *written)
{
    uint64_t len = 0, longest = 0;
    tables_feed f;
    for (int i = 0; i < ntables; i++) {
        uint64_t b, m;
        gmr__kvt_framed_size(tables[i], &b, &m);
        len += b;
        if (m > longest) longest = m;
    }
    memset(&f, 0, sizeof f);
    f.tables = tables;
    f.n = ntables;
    if (ntables) {
        f.c.t = tables[0];
        f.c.order = order;
    }
    if (written) *written = len;
    return gmr__stage_put_fill(st, group, name, len, longest, feed_tables, &f);
}

struct gmr__stage_stream {
    gmr__stage *st;
    hid_t dset, fspace, dxpl;
    uint64_t off, len, pos, sum;
    uint64_t dims; /* bytes of all ranks' segments */
    XXH3_state_t *xs;
    char what[300];
};

/* Collective: open group/name and find this rank's (offset, length, checksum). */
gmr_err gmr__stage_stream_open(gmr__stage *st, const char *group, const char *name, gmr__stage_stream **sp)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__stage_stream *s = calloc(1, sizeof *s);
    hid_t g = H5I_INVALID_HID, sd = H5I_INVALID_HID, ss = H5I_INVALID_HID;
    hsize_t sdims[2] = {0, 0}, dims = 0;
    uint64_t *seg = NULL;
    char segname[256];

    *sp = NULL;
    GMR_CHECK(s, GMR_ERR_NOMEM, "out of memory");
    s->st = st;
    s->dset = s->fspace = s->dxpl = H5I_INVALID_HID;
    snprintf(s->what, sizeof s->what, "%s/%s", group, name);
    snprintf(segname, sizeof segname, "%s_segments", name);
    if (H5Lexists(st->file, group, H5P_DEFAULT) <= 0 || (g = H5Gopen2(st->file, group, H5P_DEFAULT)) < 0 ||
        H5Lexists(g, name, H5P_DEFAULT) <= 0 || H5Lexists(g, segname, H5P_DEFAULT) <= 0)
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s is missing", st->path, s->what);
    if (!local && ((sd = H5Dopen2(g, segname, H5P_DEFAULT)) < 0 || (ss = H5Dget_space(sd)) < 0 ||
                   H5Sget_simple_extent_ndims(ss) != 2 || H5Sget_simple_extent_dims(ss, sdims, NULL) < 0))
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s_segments is not a segment table", st->path, s->what);
    if (!local && (sdims[0] != (hsize_t)st->size || sdims[1] != 3))
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s was written by %llu ranks, this job has %d", st->path, s->what,
                          (unsigned long long)sdims[0], st->size);
    if (!local && !(seg = malloc((size_t)st->size * 3 * sizeof *seg)))
        local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    if (!local && H5Dread(sd, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, seg) < 0)
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: cannot read %s_segments", st->path, s->what);
    if (!local && ((s->dset = H5Dopen2(g, name, H5P_DEFAULT)) < 0 || (s->fspace = H5Dget_space(s->dset)) < 0 ||
                   H5Sget_simple_extent_dims(s->fspace, &dims, NULL) < 0))
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: cannot open %s", st->path, s->what);
    if (!local) {
        s->off = seg[3 * st->rank];
        s->len = seg[3 * st->rank + 1];
        s->sum = seg[3 * st->rank + 2];
        s->dims = dims;
        if (s->off + s->len > dims || s->off + s->len < s->off)
            local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s segment of rank %d lies past the data", st->path, s->what,
                              st->rank);
    }
    if (!local && (s->xs = XXH3_createState()) == NULL) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    if (!local) XXH3_64bits_reset(s->xs);
    if (!local && ((s->dxpl = H5Pcreate(H5P_DATASET_XFER)) < 0 ||
                   H5Pset_dxpl_mpio(s->dxpl, H5FD_MPIO_INDEPENDENT) < 0))
        local = GMR_ERROR(GMR_ERR_IO, "stage %s: cannot set up reading %s", st->path, s->what);
    H5Eclear2(H5E_DEFAULT);
    GMR_CALL(gmr__agree(st->comm, local));
    *sp = s;
    s = NULL;
out:
    if (ss >= 0) H5Sclose(ss);
    if (sd >= 0) H5Dclose(sd);
    if (g >= 0) H5Gclose(g);
    free(seg);
    gmr__stage_stream_close(&s);
    return err;
}

uint64_t gmr__stage_stream_size(const gmr__stage_stream *s) { return s->len; }

gmr_err gmr__stage_stream_read(gmr__stage_stream *s, char *dst, uint64_t cap, uint64_t *got)
{
    gmr_err err = GMR_OK;
    hid_t mspace = H5I_INVALID_HID;
    hsize_t start, count;
    *got = 0;
    if (s->pos >= s->len || cap == 0) return GMR_OK;
    count = s->len - s->pos < cap ? s->len - s->pos : cap;
    start = s->off + s->pos;
    GMR_H5_ID(mspace, H5Screate_simple(1, &count, NULL));
    GMR_CALL_H5(H5Sselect_hyperslab(s->fspace, H5S_SELECT_SET, &start, NULL, &count, NULL));
    GMR_CALL_H5(H5Dread(s->dset, H5T_NATIVE_UINT8, mspace, s->fspace, s->dxpl, dst));
    XXH3_64bits_update(s->xs, dst, (size_t)count);
    s->pos += count;
    *got = count;
    GMR_CHECK(s->pos < s->len || XXH3_64bits_digest(s->xs) == s->sum, GMR_ERR_DATA,
              "stage %s: %s segment of rank %d fails its checksum", s->st->path, s->what, s->st->rank);
out:
    if (err && err != GMR_ERR_DATA) gmr__err_context("stage %s, reading %s", s->st->path, s->what);
    if (mspace >= 0) H5Sclose(mspace);
    return err;
}

void gmr__stage_stream_close(gmr__stage_stream **sp)
{
    gmr__stage_stream *s;
    if (!sp || !*sp) return;
    s = *sp;
    if (s->dxpl >= 0) H5Pclose(s->dxpl);
    if (s->fspace >= 0) H5Sclose(s->fspace);
    if (s->dset >= 0) H5Dclose(s->dset);
    if (s->xs) XXH3_freeState(s->xs);
    H5Eclear2(H5E_DEFAULT);
    free(s);
    *sp = NULL;
}

gmr_err gmr__stage_get(gmr__stage *st, const char *group, const char *name, char **bufp, uint64_t *lenp)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__stage_stream *s = NULL;
    hid_t mspace = H5I_INVALID_HID;
    hsize_t start, count;
    char *buf = NULL;

    *bufp = NULL;
    *lenp = 0;
    GMR_CALL(gmr__stage_stream_open(st, group, name, &s));
    buf = malloc((size_t)s->len + 1);
    if (!buf) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot read %llu bytes of stage", (unsigned long long)s->len);
    /* one collective read of every rank's segment; all ranks agree they can take part first */
    start = s->off;
    count = s->len;
    if (!local && (H5Pset_dxpl_mpio(s->dxpl, H5FD_MPIO_COLLECTIVE) < 0 ||
                   (mspace = H5Screate_simple(1, &count, NULL)) < 0 ||
                   gmr__h5_select_range(s->fspace, mspace, start, count) != GMR_OK))
        local = GMR_ERROR(GMR_ERR_IO, "stage %s: cannot select %s/%s", st->path, group, name);
    H5Eclear2(H5E_DEFAULT);
    GMR_CALL(gmr__agree(st->comm, local));
    if (s->dims) GMR_CALL_H5(H5Dread(s->dset, H5T_NATIVE_UINT8, mspace, s->fspace, s->dxpl, buf));
    if (!local && XXH3_64bits(buf, (size_t)s->len) != s->sum)
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s/%s segment of rank %d fails its checksum", st->path, group, name,
                          st->rank);
    GMR_CALL(gmr__agree(st->comm, local));
    *bufp = buf;
    *lenp = s->len;
    buf = NULL;
out:
    if (mspace >= 0) H5Sclose(mspace);
    gmr__stage_stream_close(&s);
    free(buf);
    return err;
}

gmr_err gmr__stage_mark(gmr__stage *st, const char *group, const uint64_t meta[GMR_STAGE_META], const char *text)
{
    gmr_err err = GMR_OK;
    hid_t g = H5I_INVALID_HID;
    GMR_CALL(group_open(st, group, 1, &g));
    GMR_CALL(gmr__h5_attr_put(g, "meta", H5T_NATIVE_UINT64, GMR_STAGE_META, meta));
    GMR_CALL(gmr__h5_attr_put_str(g, "text", text && *text ? text : "-"));
    /* No H5Fflush: with MPI-IO it fsyncs, which doubled the cost (0.1 s more on 200 MiB) and
     * protects only against a machine crash. Against a killed process, closing the file (the
     * job does it at the end of each phase) puts data and metadata in the kernel's hands, HDF5
     * writing raw data before metadata; and were anything missing, the segment checksums
     * would catch it on load. */
    GMR_CALL(gmr__h5_attr_put_str(g, "complete", "yes"));
out:
    if (err && !gmr_err_is_remote()) gmr__err_context("stage %s, marking %s", st->path, group);
    if (g >= 0) H5Gclose(g);
    return err;
}

gmr_err gmr__stage_meta(gmr__stage *st, const char *group, uint64_t meta[GMR_STAGE_META], char *text,
                        size_t text_cap)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    hid_t g = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    local = group_open(st, group, 0, &g);
    if (!local && ((attr = H5Aopen(g, "meta", H5P_DEFAULT)) < 0 || H5Aread(attr, H5T_NATIVE_UINT64, meta) < 0))
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s has no meta", st->path, group);
    if (!local) local = gmr__h5_attr_get_str(g, "text", text, text_cap);
    if (!local && strcmp(text, "-") == 0) text[0] = '\0';
    H5Eclear2(H5E_DEFAULT);
    GMR_CALL(gmr__agree(st->comm, local));
out:
    if (attr >= 0) H5Aclose(attr);
    if (g >= 0) H5Gclose(g);
    return err;
}

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *vnames)
{
    gmr__buf *names = vnames;
    size_t n = strlen(name) + 1;
    (void)g;
    (void)info;
    if (gmr__buf_reserve(names, names->len + n) != GMR_OK) return -1;
    memcpy(names->data + names->len, name, n);
    names->len += n;
    return 0;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

gmr_err gmr__stage_list(gmr__stage *st, const char *group, char ***namesp, int *np)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__buf all = {0};
    hid_t g = H5I_INVALID_HID;
    char **names = NULL;
    int n = 0;

    *namesp = NULL;
    *np = 0;
    if (H5Lexists(st->file, group, H5P_DEFAULT) > 0 && (g = H5Gopen2(st->file, group, H5P_DEFAULT)) >= 0 &&
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &all) < 0)
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: cannot list %s", st->path, group);
    H5Eclear2(H5E_DEFAULT);
    for (size_t at = 0; !local && at < all.len; at += strlen(all.data + at) + 1) n++;
    if (!local && n && !(names = calloc((size_t)n, sizeof *names))) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    n = 0;
    for (size_t at = 0; !local && names && at < all.len; at += strlen(all.data + at) + 1) {
        if (!(names[n] = strdup(all.data + at))) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
        n++;
    }
    if (!local && n) qsort(names, (size_t)n, sizeof *names, name_cmp);
    GMR_CALL(gmr__agree(st->comm, local));
    *namesp = names;
    *np = n;
    names = NULL;
out:
    gmr__stage_names_free(&names, n);
    if (g >= 0) H5Gclose(g);
    gmr__buf_free(&all);
    return err;
}

void gmr__stage_names_free(char ***names, int n)
{
    if (!names || !*names) return;
    for (int i = 0; i < n; i++) free((*names)[i]);
    free(*names);
    *names = NULL;
}

gmr_err gmr__stage_drop(gmr__stage *st, const char *group)
{
    gmr_err err = GMR_OK;
    if (H5Lexists(st->file, group, H5P_DEFAULT) > 0) GMR_CALL_H5(H5Ldelete(st->file, group, H5P_DEFAULT));
    H5Eclear2(H5E_DEFAULT);
out:
    return err;
}

gmr_err gmr__stage_save(gmr__stage *st, const char *phase, gmr__kvt *const *tables, int ntables,
                        const uint64_t meta[GMR_STAGE_META], const char *text)
{
    gmr_err err = GMR_OK;
    /* a stale copy of the phase (from an interrupted run) goes first */
    GMR_CALL(gmr__stage_drop(st, phase));
    GMR_CALL(gmr__stage_put_tables(st, phase, "records", tables, ntables, NULL, NULL));
    GMR_CALL(gmr__stage_mark(st, phase, meta, text));
out:
    return err;
}

gmr_err gmr__stage_load(gmr__stage *st, const char *phase, gmr__kvt *const *tables, int ntables,
                        uint64_t meta[GMR_STAGE_META], char *text, size_t text_cap)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__stage_stream *s = NULL;
    char *buf = NULL;
    uint64_t cap = STAGE_PIECE, have = 0, got = 1;

    GMR_CALL(gmr__stage_meta(st, phase, meta, text, text_cap));
    GMR_CALL(gmr__stage_stream_open(st, phase, "records", &s));
    /* a window at a time (independent reads): whole records are inserted, a record cut by the
     * window's end waits for the next read; the stream checks the checksum at the end */
    if (!(buf = malloc(cap))) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    while (!local && got) {
        uint64_t at = 0;
        local = gmr__stage_stream_read(s, buf + have, cap - have, &got);
        have += got;
        while (!local) {
            uint32_t hdr[2];
            uint64_t rec;
            if (have - at < sizeof hdr) break;
            memcpy(hdr, buf + at, sizeof hdr);
            rec = sizeof hdr + (uint64_t)hdr[0] + hdr[1];
            if (have - at < rec) {
                if (rec > cap) { /* a record longer than the window: grow it */
                    char *p = realloc(buf, rec);
                    if (!p) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot read a %llu-byte record", (unsigned long long)rec);
                    else buf = p, cap = rec;
                }
                break;
            }
            at += rec;
        }
        if (!local && at) local = gmr__kvt_ingest_parts(tables, ntables, buf, at);
        if (!local && at < have) memmove(buf, buf + at, (size_t)(have - at));
        have -= at;
        if (!local && !got && have)
            local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s/records of rank %d ends inside a record", st->path, phase,
                              st->rank);
    }
out:
    gmr__stage_stream_close(&s);
    free(buf);
    if (!err) err = gmr__agree(st->comm, local);
    return err;
}
