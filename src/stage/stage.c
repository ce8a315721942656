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

#include "../mr/shuffle.h"
#include "../sched/sched.h"
#include "h5util.h"
#include "gridmr/log.h"

#define STAGE_CHUNK (1u << 20) /* bytes per chunk of a records dataset */

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

gmr_err gmr__stage_save(gmr__stage *st, const char *phase, gmr__kvt *const *tables, int ntables,
                        const uint64_t meta[GMR_STAGE_META], const char *text)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    char *buf = NULL;
    uint64_t cap = 0, len = 0, mine[3], *seg = NULL, total = 0;
    hid_t g = H5I_INVALID_HID, space = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hid_t dcpl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    hsize_t dims, maxdims = H5S_UNLIMITED, chunk, count, sdims[2];

    for (int i = 0; i < ntables && !local; i++) {
        uint64_t part = 0;
        char *pbuf = NULL;
        uint64_t pcap = 0;
        local = gmr__kvt_serialize(tables[i], &pbuf, &pcap, &part);
        if (!local && part) {
            char *grown = len + part > cap ? realloc(buf, len + part) : buf;
            if (!grown) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot stage %llu bytes", (unsigned long long)(len + part));
            if (!local) {
                buf = grown;
                cap = cap > len + part ? cap : len + part;
                memcpy(buf + len, pbuf, part);
                len += part;
            }
        }
        free(pbuf);
    }
    mine[0] = 0;
    mine[1] = local ? 0 : len;
    mine[2] = local ? 0 : XXH3_64bits(buf, (size_t)len);
    seg = calloc((size_t)st->size * 3, sizeof *seg);
    if (!seg && !local) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(st->comm, local));
    GMR_CALL_MPI(MPI_Allgather(mine, 3, MPI_UINT64_T, seg, 3, MPI_UINT64_T, st->comm));
    for (int r = 0; r < st->size; r++) {
        seg[3 * r] = total;
        total += seg[3 * r + 1];
    }

    /* a stale copy of the phase (from an interrupted run) goes first */
    if (H5Lexists(st->file, phase, H5P_DEFAULT) > 0) GMR_CALL_H5(H5Ldelete(st->file, phase, H5P_DEFAULT));
    GMR_H5_ID(g, H5Gcreate2(st->file, phase, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));

    dims = total;
    chunk = total < STAGE_CHUNK ? (total ? total : 1) : STAGE_CHUNK; /* no mostly empty last chunk for small phases */
    GMR_H5_ID(space, H5Screate_simple(1, &dims, &maxdims));
    GMR_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
    GMR_CALL_H5(H5Pset_chunk(dcpl, 1, &chunk));
    GMR_H5_ID(dset, H5Dcreate2(g, "records", H5T_NATIVE_UINT8, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
    GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    count = len;
    GMR_H5_ID(mspace, H5Screate_simple(1, &count, NULL));
    GMR_CALL(gmr__h5_select_range(space, mspace, seg[3 * st->rank], len));
    if (total) GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_UINT8, mspace, space, dxpl, buf));
    H5Dclose(dset);
    dset = H5I_INVALID_HID;
    H5Sclose(space);
    space = H5I_INVALID_HID;
    H5Sclose(mspace);
    mspace = H5I_INVALID_HID;

    /* segments: (offset, length, checksum) per rank; rank 0 writes the whole table */
    sdims[0] = (hsize_t)st->size;
    sdims[1] = 3;
    GMR_H5_ID(space, H5Screate_simple(2, sdims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(g, "segments", H5T_NATIVE_UINT64, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_H5_ID(mspace, H5Screate_simple(2, sdims, NULL));
    if (st->rank != 0) {
        GMR_CALL_H5(H5Sselect_none(space));
        GMR_CALL_H5(H5Sselect_none(mspace));
    }
    GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_UINT64, mspace, space, dxpl, seg));

    /* the job's figures at this point, then the mark, last, after the data is on disk */
    GMR_CALL(gmr__h5_attr_put(g, "meta", H5T_NATIVE_UINT64, GMR_STAGE_META, meta));
    GMR_CALL(gmr__h5_attr_put_str(g, "text", text && *text ? text : "-"));
    /* No H5Fflush: with MPI-IO it fsyncs, which doubled the cost (0.1 s more on 200 MiB) and
     * protects only against a machine crash. Against a killed process, closing the file (the
     * job does it right after saving) puts data and metadata in the kernel's hands, HDF5
     * writing raw data before metadata; and were anything missing, the segment checksums
     * would catch it on load. */
    GMR_CALL(gmr__h5_attr_put_str(g, "complete", "yes"));
out:
    if (dxpl >= 0) H5Pclose(dxpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (dset >= 0) H5Dclose(dset);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (g >= 0) H5Gclose(g);
    free(seg);
    free(buf);
    return err;
}

gmr_err gmr__stage_load(gmr__stage *st, const char *phase, gmr__kvt *const *tables, int ntables,
                        uint64_t meta[GMR_STAGE_META], char *text, size_t text_cap)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    hid_t g = H5I_INVALID_HID, dset = H5I_INVALID_HID, space = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hid_t dxpl = H5I_INVALID_HID;
    uint64_t *seg = NULL, off, len, sum;
    hsize_t sdims[2] = {0, 0}, dims = 0, count;
    char *buf = NULL;

    GMR_H5_ID(g, H5Gopen2(st->file, phase, H5P_DEFAULT));
    {
        hid_t attr = H5I_INVALID_HID;
        GMR_H5_ID(attr, H5Aopen(g, "meta", H5P_DEFAULT));
        if (H5Aread(attr, H5T_NATIVE_UINT64, meta) < 0) err = gmr__err_h5(__FILE__, __LINE__, __func__, "meta");
        H5Aclose(attr);
        if (err) goto out;
    }
    GMR_CALL(gmr__h5_attr_get_str(g, "text", text, text_cap));
    if (strcmp(text, "-") == 0) text[0] = '\0';
    GMR_H5_ID(dset, H5Dopen2(g, "segments", H5P_DEFAULT));
    GMR_H5_ID(space, H5Dget_space(dset));
    GMR_CHECK(H5Sget_simple_extent_ndims(space) == 2, GMR_ERR_DATA, "stage %s: %s/segments is not a table", st->path,
              phase);
    GMR_CALL_H5(H5Sget_simple_extent_dims(space, sdims, NULL));
    GMR_CHECK(sdims[0] == (hsize_t)st->size && sdims[1] == 3, GMR_ERR_DATA,
              "stage %s: %s was written by %llu ranks, this job has %d", st->path, phase,
              (unsigned long long)sdims[0], st->size);
    seg = malloc((size_t)st->size * 3 * sizeof *seg);
    GMR_CHECK(seg, GMR_ERR_NOMEM, "out of memory");
    GMR_CALL_H5(H5Dread(dset, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, seg));
    H5Sclose(space);
    space = H5I_INVALID_HID;
    H5Dclose(dset);
    dset = H5I_INVALID_HID;

    off = seg[3 * st->rank];
    len = seg[3 * st->rank + 1];
    sum = seg[3 * st->rank + 2];
    GMR_H5_ID(dset, H5Dopen2(g, "records", H5P_DEFAULT));
    GMR_H5_ID(space, H5Dget_space(dset));
    GMR_CALL_H5(H5Sget_simple_extent_dims(space, &dims, NULL));
    if (off + len > dims) local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s segment of rank %d lies past the data",
                                            st->path, phase, st->rank);
    buf = malloc((size_t)(local ? 0 : len) + 1);
    if (!buf && !local) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    count = local ? 0 : len;
    GMR_H5_ID(mspace, H5Screate_simple(1, &count, NULL));
    GMR_CALL(gmr__h5_select_range(space, mspace, off, count));
    GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
    GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    if (dims) GMR_CALL_H5(H5Dread(dset, H5T_NATIVE_UINT8, mspace, space, dxpl, buf));
    if (!local && XXH3_64bits(buf, (size_t)len) != sum)
        local = GMR_ERROR(GMR_ERR_DATA, "stage %s: %s segment of rank %d fails its checksum", st->path, phase,
                          st->rank);
    if (!local) local = gmr__kvt_ingest_parts(tables, ntables, buf, len);
    GMR_CALL(gmr__agree(st->comm, local));
out:
    H5Eclear2(H5E_DEFAULT);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    if (g >= 0) H5Gclose(g);
    free(buf);
    free(seg);
    return err;
}
