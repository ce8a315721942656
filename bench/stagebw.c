/* stagebw.c: write and read bandwidth of the stage (src/stage/) against plain POSIX I/O of the
 * same bytes to the same file system, in the same run. Built as build/bench/stagebw; run under
 * mpirun by bench/staging. A benchmark, not a test.
 *
 *   mpirun -np N build/bench/stagebw [--bytes-per-rank 256M] [--reps 5] [--dir DIR]
 *                                    [--fsync] [--cold auto|yes|no] [--no-header]
 *
 * Each rank fills one combine-mode key/value table per rank of the communicator (the map's
 * partition, as the job's parts are) with random words of 2..14 letters (nearly all distinct;
 * repeats are combined) and 8-byte counts until the stage's byte form of its tables (8-byte header + key + value per record) reaches
 * --bytes-per-rank. Then, --reps times, every variant below writes those bytes to a new file in
 * --dir and reads them back:
 *
 *   stage             gmr__stage_open + gmr__stage_save + close; open with resume +
 *                     gmr__stage_load + close: the job's own code path, so it includes
 *                     serialising the tables and the checksum (write) and the checksum and
 *                     re-inserting every key into fresh tables (read)
 *   hdf5-collective   the already serialised bytes in the stage's layout (a group, a chunked
 *                     1 MiB uint8 dataset, rank after rank, and the segment table), written and
 *                     read with H5FD_MPIO_COLLECTIVE, as stage.c does: the stage's I/O alone
 *   hdf5-independent  the same with H5FD_MPIO_INDEPENDENT
 *   hdf5-nofill       hdf5-collective with H5Pset_fill_time(H5D_FILL_TIME_NEVER): parallel HDF5
 *                     allocates a chunked dataset's chunks when it is created and, by default,
 *                     writes them full of zeros then, so the stage writes every chunk twice
 *                     (zeros, then data: in the page cache, and on disk too if writeback comes
 *                     in between); stage.c sets it since bench/staging showed this (1.3-1.4x)
 *   posix-pwrite      each rank pwrite()s its bytes at its offset in one file, then pread()s
 *                     them back: the plain baseline with the same parallelism
 *   posix-single      rank 0 alone write()s all ranks' bytes (the same total) sequentially,
 *                     then read()s them back: the plain single-writer baseline
 *   stage-io          the stage's own I/O path, gmr__stage_put + mark / the stream reads of
 *                     gmr__stage_load (4 MiB windows), of bytes already serialised: its HDF5
 *                     layout, collective transfers, segment table and checksums (the CPU of framing the tables and of re-inserting
 *                     them is left out: it is in "stage" and alone in "stage-cpu")
 *   stage-cpu         no file: serialising + XXH3 (the CPU part of gmr__stage_save) in the
 *                     write columns, XXH3 + ingest into fresh tables (of gmr__stage_load) in the
 *                     read columns
 *
 * A write is timed from a barrier to the file being closed on every rank (creation, and with
 * --fsync an fsync() of the whole file by rank 0 after the close, included); a read from a
 * barrier to the file being closed again. Without --fsync no variant syncs (stage.c does no
 * H5Fflush or fsync either, on purpose), so writes end in the page cache; with it every
 * variant pays one fsync of its file. Reads are timed warm (right after the write, the file in
 * the page cache) and, when dropping the page cache works (root, /proc/sys/vm/drop_caches,
 * checked with mincore() on the file), cold: after sync() and a drop, untimed. Whatever was
 * read is checked (XXH3 of the bytes, or the key count the stage loaded) outside the timing.
 * After its reads each file is removed and sync() called, untimed, so that writeback, the
 * journal commit and the discard of the freed blocks (ext4 mounted with discard, as here) fall
 * between timings rather than into the next variant's write; and before each timed write every
 * rank writes and removes a scratch file, untimed (warm_page_cache: memory handed back to the
 * VM's host).
 *
 * Buffers: this rank's bytes and the read buffer start on a page boundary, and posix-single
 * moves whole pages per call. On this VM's AMD EPYC the kernel's copy between the page cache
 * and a user buffer (rep movsb) runs about 3x slower when the user address lies 1 to ~31 bytes
 * past the file offset, modulo 4096, which is exactly what a malloc'd buffer (16 bytes into its
 * page) read at a page-aligned file offset gets; a plain baseline must not fall into that by
 * accident. The HDF5 variants' records start at an offset that is not a multiple of 4096, so
 * they escape it; a rank's offset in the file (the bytes of the ranks before it) can still land
 * in that window by chance, for any variant.
 *
 * Within a repetition the variants run in one order and in the reverse order in the next
 * (A B C C B A ...), so a drift of the machine's load does not favour one of them. Reported per
 * variant, on standard output by rank 0, one CSV line each: median times over the repetitions,
 * bandwidth (all ranks' bytes, MB = 10^6 bytes, over the median time) and the median of the
 * per-repetition ratios of bandwidth against posix-pwrite and posix-single of the same
 * repetition (> 1: faster than plain). Progress and per-repetition times go to standard error.
 *
 * Costs: per rank about 4 x --bytes-per-rank for the tables, the bytes and the read buffer,
 * plus 2 x during a stage save or load, and the page cache of the files; the files (N x --bytes-per-rank each) are removed after
 * each read, and on failure. HDF5 1.10 transfers at most 2 GiB per rank in one call, so keep
 * --bytes-per-rank under that. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE /* mincore() */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cli/opts.h"
#include "gridmr/log.h"
#include "io/io.h"
#include "mr/kvtable.h"
#include "mr/shuffle.h"
#include "sched/sched.h"
#include "stage/h5util.h"
#include "stage/stage.h"

/* Defaults, in one place; --help prints them. */
#define BW_DEFAULT_BYTES (UINT64_C(256) << 20)
#define BW_DEFAULT_REPS 5
#define BW_CHUNK (1u << 20)   /* bytes per chunk of the records dataset, as STAGE_CHUNK in stage.c */
#define BW_IO_MAX (1u << 30)  /* bytes per read()/write() call (Linux stops at 2 GiB - 4 KiB) */
#define BW_PAGE 4096          /* alignment of the buffers and of posix-single's calls */
#define BW_PHASE "map_output" /* the phase name the job stages */
#define BW_FINGERPRINT "bench/stagebw\n"

typedef struct bw_opts {
    uint64_t bytes_per_rank;
    int reps;
    const char *dir;
    int fsync;  /* every write ends with an fsync of its file */
    int cold;   /* -1 auto, 0 no, 1 yes: cold reads after dropping the page cache */
    int header; /* print the CSV header line */
} bw_opts;

typedef struct bench {
    MPI_Comm comm;
    int rank, size;
    bw_opts opt;
    gmr__kvt **tables;    /* this rank's staged tables, one per rank (the map's partition) */
    uint64_t keys;        /* keys in them */
    char *ser;            /* their byte form, table after table (what gmr__stage_save writes) */
    uint64_t len, sum;    /* its length and XXH3 */
    uint64_t off, total;  /* this rank's offset in the records, all ranks' bytes */
    uint64_t *segs;       /* (offset, length, checksum) per rank, as the stage's segment table */
    char *rbuf;           /* read buffer (posix-single reads all ranks' bytes through it) */
    uint64_t rcap;        /* its size: len, at least 1 */
    gmr__kvt **loaded;    /* what a read loaded into tables (stage, stage-cpu) */
    uint64_t got;         /* bytes a read returned on this rank */
} bench;

typedef struct variant {
    const char *name;
    gmr_err (*write)(bench *b, const char *path);
    gmr_err (*read)(bench *b, const char *path);
} variant;

enum { OP_WRITE, OP_WARM, OP_COLD, NOPS };

/* ---- the data ---------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void sum_u64(void *ctx, void *acc, const void *val)
{
    uint64_t a, v;
    (void)ctx;
    memcpy(&a, acc, sizeof a);
    memcpy(&v, val, sizeof v);
    a += v;
    memcpy(acc, &a, sizeof a);
}

/* Word lengths 2..14 weighted roughly like the distinct words of English text (mean ~7.5). */
static int word_length(uint64_t r)
{
    static const unsigned char w[13] = {2, 5, 8, 11, 13, 13, 12, 10, 8, 6, 5, 4, 3}; /* sums to 100 */
    unsigned x = (unsigned)(r % 100);
    for (int i = 0; i < 13; i++) {
        if (x < w[i]) return 2 + i;
        x -= w[i];
    }
    return 14;
}

static gmr_err tables_create(int n, gmr__kvt ***tp)
{
    gmr_err err = GMR_OK;
    gmr__kvt **t = calloc((size_t)n, sizeof *t);
    GMR_CHECK(t, GMR_ERR_NOMEM, "cannot allocate %d tables", n);
    for (int d = 0; d < n; d++) GMR_CALL(gmr__kvt_create(sizeof(uint64_t), sum_u64, NULL, &t[d]));
out:
    *tp = t;
    return err;
}

static void tables_destroy(gmr__kvt ***tp, int n)
{
    if (!*tp) return;
    for (int d = 0; d < n; d++) gmr__kvt_destroy(&(*tp)[d]);
    free(*tp);
    *tp = NULL;
}

static uint64_t tables_keys(gmr__kvt *const *t, int n)
{
    uint64_t k = 0;
    for (int d = 0; d < n; d++) k += t[d]->n;
    return k;
}

/* Not collective: every table's byte form, one after the other, into *buf (as stage_save). */
static gmr_err serialize_all(gmr__kvt *const *t, int n, char **bufp, uint64_t *lenp)
{
    gmr_err err = GMR_OK;
    char *buf = NULL, *part = NULL;
    uint64_t len = 0, cap = 0, pcap = 0, plen = 0;
    for (int d = 0; d < n; d++) {
        GMR_CALL(gmr__kvt_serialize(t[d], &part, &pcap, &plen));
        if (len + plen > cap) {
            char *grown = realloc(buf, len + plen);
            GMR_CHECK(grown, GMR_ERR_NOMEM, "cannot hold %llu bytes", (unsigned long long)(len + plen));
            buf = grown;
            cap = len + plen;
        }
        if (plen) memcpy(buf + len, part, plen);
        len += plen;
    }
    *bufp = buf;
    *lenp = len;
    buf = NULL;
out:
    free(part);
    free(buf);
    return err;
}

/* Collective: fill the tables, serialise them, agree on the offsets. */
static gmr_err fill(bench *b)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    uint64_t seed = UINT64_C(2026) * 1000003u + (uint64_t)b->rank, est = 0, mine[3];
    unsigned char key[16];
    char *ser = NULL;

    local = tables_create(b->size, &b->tables);
    for (int d = 0; d < b->size && !local; d++)
        local = gmr__kvt_reserve(b->tables[d], b->opt.bytes_per_rank / 24 / (uint64_t)b->size + 1);
    while (!local && est < b->opt.bytes_per_rank) {
        uint64_t r = splitmix64(&seed), letters = splitmix64(&seed), h, count = 1 + (r >> 40) % 1000;
        int klen = word_length(r);
        gmr__kvt *t;
        uint64_t before;
        for (int i = 0; i < klen; i++, letters /= 26) key[i] = (unsigned char)('a' + letters % 26);
        h = gmr__hash(key, (size_t)klen);
        t = b->tables[gmr__dest(h, GMR_LEVEL_PROVINCE, b->size)];
        before = t->n;
        local = gmr__kvt_insert(t, h, key, (uint32_t)klen, &count, sizeof count);
        if (t->n > before) est += 2 * sizeof(uint32_t) + (uint64_t)klen + sizeof count;
    }
    if (!local) local = serialize_all(b->tables, b->size, &ser, &b->len);
    b->rcap = b->len ? b->len : 1; /* posix-single reads all ranks' bytes through it */
    if (!local && (posix_memalign((void **)&b->ser, BW_PAGE, (size_t)b->rcap) ||
                   posix_memalign((void **)&b->rbuf, BW_PAGE, (size_t)b->rcap)))
        local = GMR_ERROR(GMR_ERR_NOMEM, "cannot hold twice %llu bytes", (unsigned long long)b->len);
    if (!local && b->len) memcpy(b->ser, ser, (size_t)b->len);
    b->segs = calloc((size_t)b->size * 3, sizeof *b->segs);
    if (!local && !b->segs) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(b->comm, local));
    b->keys = tables_keys(b->tables, b->size);
    b->sum = XXH3_64bits(b->ser, (size_t)b->len);
    mine[0] = 0;
    mine[1] = b->len;
    mine[2] = b->sum;
    GMR_CALL_MPI(MPI_Allgather(mine, 3, MPI_UINT64_T, b->segs, 3, MPI_UINT64_T, b->comm));
    b->total = 0;
    for (int r = 0; r < b->size; r++) {
        b->segs[3 * r] = b->total;
        b->total += b->segs[3 * r + 1];
    }
    b->off = b->segs[3 * b->rank];
out:
    free(ser);
    return err;
}

/* ---- the variants ------------------------------------------------------------------------ */

static gmr_err stage_write(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    gmr__stage *st = NULL;
    const uint64_t meta[GMR_STAGE_META] = {b->keys, 0, 0, 0};
    GMR_CALL(gmr__stage_open(b->comm, path, BW_FINGERPRINT, 0, &st));
    GMR_CALL(gmr__stage_save(st, BW_PHASE, b->tables, b->size, meta, ""));
out:
    gmr__stage_close(&st);
    return err;
}

static gmr_err stage_read(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    gmr__stage *st = NULL;
    uint64_t meta[GMR_STAGE_META];
    char text[64];
    GMR_CALL(gmr__stage_open(b->comm, path, BW_FINGERPRINT, 1, &st));
    GMR_CHECK(gmr__stage_has(st, BW_PHASE), GMR_ERR_DATA, "%s: no complete phase (%s)", path, gmr__stage_note(st));
    GMR_CALL(gmr__agree(b->comm, tables_create(b->size, &b->loaded)));
    GMR_CALL(gmr__stage_load(st, BW_PHASE, b->loaded, b->size, meta, text, sizeof text));
out:
    gmr__stage_close(&st);
    return err;
}

/* stage-io: the stage's own I/O path (gmr__stage_put, and the stream reads of gmr__stage_load:
 * the HDF5 layout, collective rounds, the segment table, XXH3 checksums), of bytes already
 * serialised. */
static gmr_err stage_io_write(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    gmr__stage *st = NULL;
    const uint64_t meta[GMR_STAGE_META] = {b->keys, 0, 0, 0};
    GMR_CALL(gmr__stage_open(b->comm, path, BW_FINGERPRINT, 0, &st));
    GMR_CALL(gmr__stage_put(st, BW_PHASE, "records", b->ser, b->len));
    GMR_CALL(gmr__stage_mark(st, BW_PHASE, meta, ""));
out:
    gmr__stage_close(&st);
    return err;
}

static gmr_err stage_io_read(bench *b, const char *path)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__stage *st = NULL;
    gmr__stage_stream *s = NULL;
    uint64_t got = 1;
    /* as gmr__stage_load reads: a 4 MiB window at a time, the stream checking the checksum */
    GMR_CALL(gmr__stage_open(b->comm, path, BW_FINGERPRINT, 1, &st));
    GMR_CALL(gmr__stage_stream_open(st, BW_PHASE, "records", &s));
    b->got = 0;
    while (!local && got) {
        local = gmr__stage_stream_read(s, b->rbuf, b->rcap < (4u << 20) ? b->rcap : (4u << 20), &got);
        b->got += got;
    }
    gmr__stage_stream_close(&s);
    GMR_CALL(gmr__agree(b->comm, local));
out:
    gmr__stage_stream_close(&s);
    gmr__stage_close(&st);
    return err;
}

static hid_t fapl_mpio(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) {
        H5Pclose(fapl);
        fapl = H5I_INVALID_HID;
    }
    return fapl;
}

/* Collective: the stage's layout and calls (stage.c, gmr__stage_save) with transfer `mode`,
 * from the bytes serialised once in fill(); nofill: no zeros written when the chunks are
 * allocated (at H5Dcreate, with the MPI-IO driver). */
static gmr_err h5_write(bench *b, const char *path, H5FD_mpio_xfer_t mode, int nofill)
{
    gmr_err err = GMR_OK;
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID, g = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hid_t mspace = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hsize_t dims = b->total, maxdims = H5S_UNLIMITED, count = b->len, sdims[2] = {(hsize_t)b->size, 3};
    hsize_t chunk = b->total < BW_CHUNK ? (b->total ? b->total : 1) : BW_CHUNK;

    GMR_H5_ID(fapl, fapl_mpio(b->comm));
    GMR_H5_ID(file, H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
    GMR_H5_ID(g, H5Gcreate2(file, BW_PHASE, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_H5_ID(space, H5Screate_simple(1, &dims, &maxdims));
    GMR_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
    GMR_CALL_H5(H5Pset_chunk(dcpl, 1, &chunk));
    if (nofill) GMR_CALL_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
    GMR_H5_ID(dset, H5Dcreate2(g, "records", H5T_NATIVE_UINT8, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
    GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, mode));
    GMR_H5_ID(mspace, H5Screate_simple(1, &count, NULL));
    GMR_CALL(gmr__h5_select_range(space, mspace, b->off, b->len));
    if (b->total) GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_UINT8, mspace, space, dxpl, b->ser));
    H5Dclose(dset);
    dset = H5I_INVALID_HID;
    H5Sclose(space);
    space = H5I_INVALID_HID;
    H5Sclose(mspace);
    mspace = H5I_INVALID_HID;
    GMR_H5_ID(space, H5Screate_simple(2, sdims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(g, "segments", H5T_NATIVE_UINT64, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_H5_ID(mspace, H5Screate_simple(2, sdims, NULL));
    if (b->rank != 0) {
        GMR_CALL_H5(H5Sselect_none(space));
        GMR_CALL_H5(H5Sselect_none(mspace));
    }
    GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_UINT64, mspace, space, dxpl, b->segs));
out:
    if (dset >= 0) H5Dclose(dset);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (g >= 0) H5Gclose(g);
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    return err;
}

/* Collective: this rank's segment back into rbuf, as gmr__stage_load reads it. */
static gmr_err h5_read(bench *b, const char *path, H5FD_mpio_xfer_t mode)
{
    gmr_err err = GMR_OK;
    hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID, g = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hid_t mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hsize_t count = b->len;
    uint64_t *seg = malloc((size_t)b->size * 3 * sizeof *seg);

    GMR_CHECK(seg, GMR_ERR_NOMEM, "out of memory");
    GMR_H5_ID(fapl, fapl_mpio(b->comm));
    GMR_H5_ID(file, H5Fopen(path, H5F_ACC_RDONLY, fapl));
    GMR_H5_ID(g, H5Gopen2(file, BW_PHASE, H5P_DEFAULT));
    GMR_H5_ID(dset, H5Dopen2(g, "segments", H5P_DEFAULT));
    GMR_CALL_H5(H5Dread(dset, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, seg));
    H5Dclose(dset);
    dset = H5I_INVALID_HID;
    GMR_CHECK(seg[3 * b->rank] == b->off && seg[3 * b->rank + 1] == b->len, GMR_ERR_DATA,
              "%s: rank %d's segment is not where it was written", path, b->rank);
    GMR_H5_ID(dset, H5Dopen2(g, "records", H5P_DEFAULT));
    GMR_H5_ID(space, H5Dget_space(dset));
    GMR_H5_ID(mspace, H5Screate_simple(1, &count, NULL));
    GMR_CALL(gmr__h5_select_range(space, mspace, b->off, b->len));
    GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
    GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, mode));
    if (b->total) GMR_CALL_H5(H5Dread(dset, H5T_NATIVE_UINT8, mspace, space, dxpl, b->rbuf));
    b->got = b->len;
out:
    if (dxpl >= 0) H5Pclose(dxpl);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    if (g >= 0) H5Gclose(g);
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    free(seg);
    return err;
}

static gmr_err h5c_write(bench *b, const char *path) { return h5_write(b, path, H5FD_MPIO_COLLECTIVE, 0); }
static gmr_err h5c_read(bench *b, const char *path) { return h5_read(b, path, H5FD_MPIO_COLLECTIVE); }
static gmr_err h5i_write(bench *b, const char *path) { return h5_write(b, path, H5FD_MPIO_INDEPENDENT, 0); }
static gmr_err h5i_read(bench *b, const char *path) { return h5_read(b, path, H5FD_MPIO_INDEPENDENT); }
static gmr_err h5n_write(bench *b, const char *path) { return h5_write(b, path, H5FD_MPIO_COLLECTIVE, 1); }

/* Not collective: all n bytes at off (off < 0: at the file position), retrying short writes. */
static gmr_err write_full(int fd, const char *path, const char *p, uint64_t n, int64_t off)
{
    gmr_err err = GMR_OK;
    while (n) {
        size_t want = n < BW_IO_MAX ? (size_t)n : BW_IO_MAX;
        ssize_t w = off < 0 ? write(fd, p, want) : pwrite(fd, p, want, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        GMR_CHECK(w > 0, GMR_ERR_IO, "%s: %s", path, w < 0 ? strerror(errno) : "wrote nothing");
        p += w;
        n -= (uint64_t)w;
        if (off >= 0) off += w;
    }
out:
    return err;
}

/* Collective: rank 0 creates (truncates) the file before the others open it. */
static gmr_err posix_create(bench *b, const char *path, int *fd)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    *fd = -1;
    if (b->rank == 0) {
        *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (*fd < 0) local = GMR_ERROR(GMR_ERR_IO, "%s: %s", path, strerror(errno));
    }
    GMR_CALL(gmr__agree(b->comm, local));
    if (b->rank != 0) {
        *fd = open(path, O_WRONLY);
        if (*fd < 0) local = GMR_ERROR(GMR_ERR_IO, "%s: %s", path, strerror(errno));
    }
    GMR_CALL(gmr__agree(b->comm, local));
out:
    return err;
}

static gmr_err pwrite_write(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    int fd = -1;
    GMR_CALL(posix_create(b, path, &fd));
    GMR_CALL(write_full(fd, path, b->ser, b->len, (int64_t)b->off));
    GMR_CHECK(close(fd) == 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    fd = -1;
out:
    if (fd >= 0) close(fd);
    return err;
}

static gmr_err pwrite_read(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    size_t got = 0;
    int fd = open(path, O_RDONLY);
    GMR_CHECK(fd >= 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    GMR_CALL(gmr__pread_full(fd, path, b->rbuf, (size_t)b->len, b->off, &got));
    b->got = got;
out:
    if (fd >= 0) close(fd);
    return err;
}

/* posix-single's bytes per call: whole pages of rank 0's bytes (all of them when fewer). */
static uint64_t single_piece(const bench *b)
{
    uint64_t p = b->rcap < BW_IO_MAX ? b->rcap : BW_IO_MAX;
    return p >= BW_PAGE ? p / BW_PAGE * BW_PAGE : p;
}

/* Rank 0 writes `total` bytes (its own bytes over and over: the same volume as all ranks'). */
static gmr_err single_write(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    int fd = -1;
    if (b->rank == 0) {
        uint64_t left = b->total, piece = single_piece(b);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        GMR_CHECK(fd >= 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
        GMR_CHECK(b->len || !left, GMR_ERR_ARG, "rank 0 has no bytes to write");
        while (left) {
            uint64_t n = left < piece ? left : piece;
            GMR_CALL(write_full(fd, path, b->ser, n, -1));
            left -= n;
        }
        GMR_CHECK(close(fd) == 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
        fd = -1;
    }
out:
    if (fd >= 0) close(fd);
    return err;
}

static gmr_err single_read(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    int fd = -1;
    b->got = 0;
    if (b->rank == 0) {
        fd = open(path, O_RDONLY);
        GMR_CHECK(fd >= 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
        for (;;) {
            ssize_t r = read(fd, b->rbuf, (size_t)single_piece(b));
            if (r < 0 && errno == EINTR) continue;
            GMR_CHECK(r >= 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
            if (r == 0) break;
            b->got += (uint64_t)r;
        }
    }
out:
    if (fd >= 0) close(fd);
    return err;
}

/* stage-cpu: what gmr__stage_save does before its write and gmr__stage_load after its read. */
static gmr_err cpu_write(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    char *buf = NULL;
    uint64_t len = 0;
    (void)path;
    GMR_CALL(serialize_all(b->tables, b->size, &buf, &len));
    GMR_CHECK(XXH3_64bits(buf, (size_t)len) == b->sum, GMR_ERR_INTERNAL, "serialising twice gave other bytes");
out:
    free(buf);
    return err;
}

static gmr_err cpu_read(bench *b, const char *path)
{
    gmr_err err = GMR_OK;
    (void)path;
    GMR_CHECK(XXH3_64bits(b->ser, (size_t)b->len) == b->sum, GMR_ERR_INTERNAL, "the bytes changed");
    GMR_CALL(tables_create(b->size, &b->loaded));
    GMR_CALL(gmr__kvt_ingest_parts(b->loaded, b->size, b->ser, b->len));
out:
    return err;
}

/* Baselines first: the ratios refer to them. */
enum { V_PWRITE, V_SINGLE };
static const variant variants[] = {
    {"posix-pwrite", pwrite_write, pwrite_read},
    {"posix-single", single_write, single_read},
    {"stage", stage_write, stage_read},
    {"stage-io", stage_io_write, stage_io_read},
    {"hdf5-collective", h5c_write, h5c_read},
    {"hdf5-independent", h5i_write, h5i_read},
    {"hdf5-nofill", h5n_write, h5c_read},
    {"stage-cpu", cpu_write, cpu_read},
};
#define NVARIANTS ((int)(sizeof variants / sizeof variants[0]))
static int is_file_variant(const variant *v) { return v->write != cpu_write; }

/* ---- timing ------------------------------------------------------------------------------ */

/* Not collective (rank 0 calls it): fsync a whole file, whoever wrote it. */
static gmr_err sync_file(const char *path)
{
    gmr_err err = GMR_OK;
    int fd = open(path, O_RDONLY);
    GMR_CHECK(fd >= 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    GMR_CHECK(fsync(fd) == 0, GMR_ERR_IO, "fsync %s: %s", path, strerror(errno));
out:
    if (fd >= 0) close(fd);
    return err;
}

/* Not collective: write this rank's bytes max(2, ranks) times to a scratch file and remove it,
 * untimed, right before a timed write (enough for posix-single's writer, or for the stage's page
 * cache and its buffers). This VM hands free memory back to its host (virtio-balloon free page
 * reporting, about 2 s after it is freed), and the first touch of such memory costs a host page
 * fault per page: a 128 MiB write into the page cache then takes 0.2-0.3 s instead of 0.05 s.
 * Which write pays that depends on how long the machine was busy elsewhere before it (after a
 * stage read or stage-cpu, always). A write just before hands the page cache pages it frees on
 * unlink to the timed write, so every variant starts from memory the host backs. */
static void warm_page_cache(const bench *b, const char *path)
{
    char scratch[4200];
    int fd, n = snprintf(scratch, sizeof scratch, "%s.warm%d", path, b->rank);
    if (n < 0 || (size_t)n >= sizeof scratch) return;
    fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    for (int i = 0; i < (b->size > 2 ? b->size : 2); i++)
        if (write_full(fd, scratch, b->ser, b->len, (int64_t)(i * b->len)) != GMR_OK) {
            gmr_err_clear();
            break;
        }
    close(fd);
    unlink(scratch);
}

/* Collective: barrier, fn, (fsync), agreement; *t = the slowest rank's seconds. Before it,
 * untimed: the read buffer is overwritten, so a read that delivers nothing cannot pass for one
 * that delivered the bytes an earlier variant left there, and before a write (sync >= 0) every
 * rank warms the page cache (warm_page_cache). */
static gmr_err timed(bench *b, gmr_err (*fn)(bench *, const char *), const char *path, int sync, double *t)
{
    gmr_err err = GMR_OK;
    double t0;
    memset(b->rbuf, 0xa5, (size_t)b->rcap);
    b->got = 0;
    if (sync >= 0) warm_page_cache(b, path);
    GMR_CALL_MPI(MPI_Barrier(b->comm));
    t0 = MPI_Wtime();
    GMR_CALL(gmr__agree(b->comm, fn(b, path))); /* every rank has closed the file */
    if (sync > 0) GMR_CALL(gmr__agree(b->comm, b->rank == 0 ? sync_file(path) : GMR_OK));
    *t = MPI_Wtime() - t0;
    GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, t, 1, MPI_DOUBLE, MPI_MAX, b->comm));
out:
    return err;
}

/* Not collective: share of the file's pages in the page cache (mincore), or -1. */
static double resident_share(const char *path)
{
    struct stat sb;
    double share = -1;
    long page = sysconf(_SC_PAGESIZE);
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size == 0 || page <= 0) goto out;
    {
        size_t n = ((size_t)sb.st_size + (size_t)page - 1) / (size_t)page, in = 0;
        unsigned char *vec = malloc(n);
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (vec && p != MAP_FAILED && mincore(p, (size_t)sb.st_size, vec) == 0) {
            for (size_t i = 0; i < n; i++) in += vec[i] & 1;
            share = (double)in / (double)n;
        }
        if (p != MAP_FAILED) munmap(p, (size_t)sb.st_size);
        free(vec);
    }
out:
    if (fd >= 0) close(fd);
    return share;
}

/* Not collective (rank 0): sync, drop the page cache, and say how much of `path` is left in it
 * (-1 when the drop was refused). */
static double drop_cache(const char *path)
{
    FILE *f;
    int ok;
    sync();
    f = fopen("/proc/sys/vm/drop_caches", "w");
    if (!f) return -1;
    ok = fputs("3\n", f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok) return -1;
    return path ? resident_share(path) : 0;
}

/* Collective: the whole read of a variant was right, checked outside the timing. */
static gmr_err verify(bench *b, const variant *v)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    if (v->write == stage_write || v->write == cpu_write) {
        uint64_t k = b->loaded ? tables_keys(b->loaded, b->size) : 0;
        if (k != b->keys)
            local = GMR_ERROR(GMR_ERR_DATA, "%s read back %llu keys of %llu", v->name, (unsigned long long)k,
                              (unsigned long long)b->keys);
        tables_destroy(&b->loaded, b->size);
    } else if (v->write == stage_io_write) {
        /* the content was checked by the stage itself (its segment checksum) */
        if (b->got != b->len)
            local = GMR_ERROR(GMR_ERR_DATA, "%s read back %llu bytes of %llu", v->name, (unsigned long long)b->got,
                              (unsigned long long)b->len);
    } else if (v->write == single_write) {
        if (b->rank == 0 && b->got != b->total)
            local = GMR_ERROR(GMR_ERR_DATA, "%s read back %llu bytes of %llu", v->name, (unsigned long long)b->got,
                              (unsigned long long)b->total);
    } else if (b->got != b->len || XXH3_64bits(b->rbuf, (size_t)b->len) != b->sum) {
        local = GMR_ERROR(GMR_ERR_DATA, "%s read back other bytes than it wrote", v->name);
    }
    GMR_CALL(gmr__agree(b->comm, local));
out:
    return err;
}

static int dbl_cmp(const void *a, const void *c)
{
    double x = *(const double *)a, y = *(const double *)c;
    return (x > y) - (x < y);
}

static double median(const double *x, int n)
{
    double *s = malloc((size_t)n * sizeof *s), m;
    int k = 0;
    if (!s) return NAN;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) s[k++] = x[i];
    qsort(s, (size_t)k, sizeof *s, dbl_cmp);
    m = k == 0 ? NAN : k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
    free(s);
    return m;
}

/* Collective: --reps repetitions of every variant; t[(v * NOPS + op) * reps + rep] seconds. */
static gmr_err run(bench *b, const char *prefix, int cold, double *t)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    char path[4096] = "";
    int reps = b->opt.reps;

    for (int rep = 0; rep < reps; rep++) {
        for (int k = 0; k < NVARIANTS; k++) {
            int vi = rep % 2 ? NVARIANTS - 1 - k : k;
            const variant *v = &variants[vi];
            double *tv = t + (size_t)vi * NOPS * (size_t)reps;
            int file = is_file_variant(v);
            int n = snprintf(path, sizeof path, "%s-%s.h5", prefix, v->name);
            GMR_CHECK(n > 0 && (size_t)n < sizeof path, GMR_ERR_ARG, "--dir is too long");
            GMR_CALL(timed(b, v->write, path, file && b->opt.fsync, &tv[OP_WRITE * reps + rep]));
            GMR_CALL(timed(b, v->read, path, -1, &tv[OP_WARM * reps + rep]));
            GMR_CALL(verify(b, v));
            tv[OP_COLD * reps + rep] = NAN;
            if (cold && file) {
                if (b->rank == 0) {
                    double left = drop_cache(path);
                    if (left < 0 || left > 0.05)
                        local = GMR_ERROR(GMR_ERR_IO, "dropping the page cache left %.0f%% of %s in it", 100 * left, path);
                }
                GMR_CALL(gmr__agree(b->comm, local));
                GMR_CALL(timed(b, v->read, path, -1, &tv[OP_COLD * reps + rep]));
                GMR_CALL(verify(b, v));
            }
            if (file && b->rank == 0) {
                unlink(path);
                sync(); /* the journal commit and discard of the freed blocks, before the next timing */
            }
            path[0] = '\0';
            if (b->rank == 0)
                fprintf(stderr, "stagebw: rep %d %-16s write %7.3f s  read warm %7.3f s  cold %7.3f s\n", rep + 1,
                        v->name, tv[OP_WRITE * reps + rep], tv[OP_WARM * reps + rep], tv[OP_COLD * reps + rep]);
        }
    }
out:
    if (err && path[0] && b->rank == 0) unlink(path);
    if (err) tables_destroy(&b->loaded, b->size);
    return err;
}

static void report(const bench *b, const double *t, int cold)
{
    static const char *opname[NOPS] = {"write", "read_warm", "read_cold"};
    int reps = b->opt.reps;
    double mb = (double)b->total / 1e6, *r1 = malloc((size_t)reps * 2 * sizeof *r1), *r2 = r1 ? r1 + reps : NULL;
    if (!r1) return;
    if (b->opt.header) {
        printf("ranks,variant,mb,reps,fsync,cold");
        for (int op = 0; op < NOPS; op++)
            printf(",%s_s,%s_mb_s,%s_ratio_pwrite,%s_ratio_single", opname[op], opname[op], opname[op], opname[op]);
        printf("\n");
    }
    for (int vi = 0; vi < NVARIANTS; vi++) {
        printf("%d,%s,%.1f,%d,%s,%s", b->size, variants[vi].name, mb, reps, b->opt.fsync ? "yes" : "no",
               cold ? "yes" : "no");
        for (int op = 0; op < NOPS; op++) {
            const double *tv = t + ((size_t)vi * NOPS + (size_t)op) * (size_t)reps;
            const double *tp = t + ((size_t)V_PWRITE * NOPS + (size_t)op) * (size_t)reps;
            const double *ts = t + ((size_t)V_SINGLE * NOPS + (size_t)op) * (size_t)reps;
            double m = median(tv, reps);
            for (int i = 0; i < reps; i++) {
                r1[i] = tp[i] / tv[i]; /* bandwidth ratio = inverse time ratio */
                r2[i] = ts[i] / tv[i];
            }
            if (isnan(m))
                printf(",nan,nan,nan,nan");
            else
                printf(",%.4f,%.1f,%.3f,%.3f", m, mb / m, median(r1, reps), median(r2, reps));
        }
        printf("\n");
    }
    fflush(stdout);
    free(r1);
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mpirun -np N stagebw [options]\n"
            "  write and read bandwidth of the stage (gmr__stage_save/load), of HDF5 collective and\n"
            "  independent transfers in the stage's layout, and of plain POSIX I/O of the same bytes;\n"
            "  one CSV line per variant on standard output (see bench/README.md)\n"
            "  --bytes-per-rank SIZE  staged bytes per rank (default 256M; K/M/G suffixes)\n"
            "  --reps R               repetitions, alternating the order (default %d)\n"
            "  --dir DIR              directory of the files, on the file system to test (default .)\n"
            "  --fsync                every write variant fsyncs its file (default: none does, as the stage)\n"
            "  --cold auto|yes|no     also time reads after dropping the page cache (needs root;\n"
            "                         auto: when /proc/sys/vm/drop_caches can be written; default auto)\n"
            "  --no-header            no CSV header line\n",
            BW_DEFAULT_REPS);
}

/* 0 ok, 1 --help, 2 usage error (message in why). */
static int parse(int argc, char **argv, bw_opts *o, char *why, size_t cap)
{
    o->bytes_per_rank = BW_DEFAULT_BYTES;
    o->reps = BW_DEFAULT_REPS;
    o->dir = ".";
    o->fsync = 0;
    o->cold = -1;
    o->header = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return 1;
        if (strcmp(a, "--fsync") == 0) { o->fsync = 1; continue; }
        if (strcmp(a, "--no-header") == 0) { o->header = 0; continue; }
        if (strcmp(a, "--bytes-per-rank") != 0 && strcmp(a, "--reps") != 0 && strcmp(a, "--dir") != 0 &&
            strcmp(a, "--cold") != 0) {
            snprintf(why, cap, "unknown option '%s'", a);
            return 2;
        }
        if (!val) {
            snprintf(why, cap, "%s needs a value", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--bytes-per-rank") == 0) {
            if (gmr__parse_size(val, &o->bytes_per_rank) != 0) {
                snprintf(why, cap, "--bytes-per-rank: bad size '%s'", val);
                return 2;
            }
        } else if (strcmp(a, "--reps") == 0) {
            char *end;
            long r = strtol(val, &end, 10);
            if (*end || r < 1 || r > 1000) {
                snprintf(why, cap, "--reps takes 1..1000, not '%s'", val);
                return 2;
            }
            o->reps = (int)r;
        } else if (strcmp(a, "--dir") == 0) {
            o->dir = val;
        } else if (strcmp(val, "auto") == 0 || strcmp(val, "yes") == 0 || strcmp(val, "no") == 0) {
            o->cold = val[0] == 'a' ? -1 : val[0] == 'y';
        } else {
            snprintf(why, cap, "--cold takes auto, yes or no, not '%s'", val);
            return 2;
        }
    }
    return 0;
}

/* Collective: decide whether cold reads can be measured, on a probe file. */
static gmr_err cold_probe(bench *b, const char *prefix, int *cold)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    int ok = 0;
    if (b->opt.cold != 0 && b->rank == 0) {
        char path[4096];
        int n = snprintf(path, sizeof path, "%s-probe", prefix);
        if (n > 0 && (size_t)n < sizeof path) {
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                local = write_full(fd, path, b->ser, b->len < (8u << 20) ? b->len : (8u << 20), 0);
                close(fd);
                if (!local) {
                    double left = drop_cache(path);
                    ok = left >= 0 && left <= 0.05;
                    fprintf(stderr, "stagebw: dropping the page cache %s\n",
                            left < 0 ? "is not allowed here (not root?)"
                                     : ok ? "works" : "leaves the file in the cache: no cold reads");
                }
                unlink(path);
            } else {
                local = GMR_ERROR(GMR_ERR_IO, "%s: %s", path, strerror(errno));
            }
        }
        if (!local && !ok && b->opt.cold == 1)
            local = GMR_ERROR(GMR_ERR_ARG, "--cold yes: cannot drop the page cache on this machine");
    }
    GMR_CALL(gmr__agree(b->comm, local));
    GMR_CALL_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, b->comm));
    *cold = ok;
out:
    return err;
}

static gmr_err bench_run(MPI_Comm comm, const bw_opts *opt)
{
    gmr_err err = GMR_OK;
    bench b;
    char prefix[4000];
    long pid = (long)getpid();
    int cold = 0;
    double t0, *t = NULL;

    memset(&b, 0, sizeof b);
    b.comm = MPI_COMM_NULL;
    b.opt = *opt;
    GMR_CALL_MPI(MPI_Comm_dup(comm, &b.comm));
    GMR_CALL_MPI(MPI_Comm_set_errhandler(b.comm, MPI_ERRORS_RETURN));
    GMR_CALL_MPI(MPI_Comm_rank(b.comm, &b.rank));
    GMR_CALL_MPI(MPI_Comm_size(b.comm, &b.size));
    GMR_CALL_MPI(MPI_Bcast(&pid, 1, MPI_LONG, 0, b.comm));
    GMR_CHECK(snprintf(prefix, sizeof prefix, "%s/stagebw-%ld", opt->dir, pid) < (int)sizeof prefix, GMR_ERR_ARG,
              "--dir is too long");
    t = malloc((size_t)NVARIANTS * NOPS * (size_t)opt->reps * sizeof *t);
    GMR_CHECK(t, GMR_ERR_NOMEM, "out of memory");

    t0 = MPI_Wtime();
    GMR_CALL(fill(&b));
    if (b.rank == 0)
        fprintf(stderr, "stagebw: %d ranks, %.1f MB staged in all; rank 0: %llu keys, %.1f MB; filled in %.1f s\n",
                b.size, (double)b.total / 1e6, (unsigned long long)b.keys, (double)b.len / 1e6, MPI_Wtime() - t0);
    GMR_CALL(cold_probe(&b, prefix, &cold));
    if (b.rank == 0)
        fprintf(stderr, "stagebw: %d reps, files in %s, %s, %s\n", opt->reps, opt->dir,
                opt->fsync ? "every write fsyncs its file" : "no fsync (as the stage)",
                cold ? "warm and cold reads" : "warm reads only");
    GMR_CALL(run(&b, prefix, cold, t));
    if (b.rank == 0) report(&b, t, cold);
out:
    free(t);
    free(b.rbuf);
    free(b.segs);
    free(b.ser);
    tables_destroy(&b.loaded, b.size);
    tables_destroy(&b.tables, b.size);
    if (b.comm != MPI_COMM_NULL) MPI_Comm_free(&b.comm);
    return err;
}

int main(int argc, char **argv)
{
    bw_opts opt;
    char why[256] = "";
    int rank = 0, status;
    gmr_err err;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    gmr_log_set_rank(rank);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    status = parse(argc, argv, &opt, why, sizeof why);
    if (status) {
        if (rank == 0) {
            if (status == 2) fprintf(stderr, "stagebw: %s\n", why);
            usage(status == 1 ? stdout : stderr);
        }
        MPI_Finalize();
        return status == 1 ? 0 : 2;
    }
    err = bench_run(MPI_COMM_WORLD, &opt);
    if (err && !gmr_err_is_remote()) fprintf(stderr, "stagebw: rank %d: %s\n", rank, gmr_err_message());
    MPI_Finalize();
    return err ? 1 : 0;
}
