/* writer.c - the files of a power-marketing data set, written by all ranks at once.
 *
 * Blocks are handed out round-robin: in round k, rank r holds block k x ranks + r. After each
 * round the ranks exchange their blocks' byte and line counts (MPI_Allgather) and each writes
 * its bytes at the running end of the file plus what the lower ranks of the round hold. Files
 * thus come out in block order, which does not depend on the rank count, and no rank ever
 * holds more than one block. The same exchange turns the blocks' defects (block-relative lines
 * and offsets) into corrupt.csv rows with global line numbers and offsets.
 *
 * Writes use MPI-IO (independent MPI_File_write_at on disjoint ranges), which on a cluster file
 * system such as Lustre or GPFS is the safe way for several nodes to share a file; on a local
 * disk it is a pwrite. Rank 0 alone creates directories and files (and removes them again after
 * a failure), so errors name the path with the system's reason. Costs per round: an Allreduce
 * for the status, an Allgather of 17 numbers per rank, a second one of 1 number when defects
 * are on; blocks are megabytes, so the exchange is noise next to generating and writing them.
 */
#define _XOPEN_SOURCE 700
#include "writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sched/sched.h"

#define GATHER (2 * GMR_NFILES + 1) /* per rank: bytes and lines per file, defects */
#define MAX_DIRS 64
#define CHUNK (1 << 30)             /* MPI counts are int: write at most 1 GiB per call */

static const char *const headers[GMR_NFILES] = {
    "customer_id,name,province,city,county,supply_unit,voltage,class,tariff,registered,capacity_kva\n",
    "customer_id,class\n",
    "customer_id,timestamp,kwh\n",
    "customer_id,month,days,kwh,peak_kwh,flat_kwh,valley_kwh,amount_yuan\n",
    "province,timestamp,temperature_c\n",
    "", /* JSON lines have no header */
    "blob_id,file,offset,length,mime,purpose,xxh3,customer_id,created\n",
    "file,line,offset,kind\n",
};

struct gmr__writer {
    MPI_Comm comm;
    int rank, size;
    char *dir;
    int defects;
    MPI_File fh[GMR_NFILES];
    uint64_t base[GMR_NFILES];  /* bytes written so far (all ranks) */
    uint64_t lines[GMR_NFILES]; /* lines written so far (all ranks) */
    MPI_File pack;
    uint32_t npacks;            /* packs created so far (removed after a failure) */
    char pack_name[32];         /* of the open pack */
    uint64_t *gather;
    gmr__obuf cbuf;              /* this rank's corrupt.csv rows of the round */
    gmr_err pending;            /* this rank's failed write, agreed at the next round */
    char *made[MAX_DIRS];       /* rank 0: directories created, outermost first */
    int nmade;
    double t_write;
};

static char *path_of(const gmr__writer *w, const char *name)
{
    size_t n = strlen(w->dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", w->dir, name);
    return p;
}

static void pack_name(char *buf, size_t cap, uint32_t pack) { snprintf(buf, cap, "blobs-%03u.bin", (unsigned)pack); }

/* Rank 0: mkdir -p, remembering what it made. */
static gmr_err make_dirs(gmr__writer *w)
{
    gmr_err err = GMR_OK;
    size_t n = strlen(w->dir);
    char *path = malloc(n + 1);
    struct stat st;
    GMR_CHECK(path, GMR_ERR_NOMEM, "no memory");
    memcpy(path, w->dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        if (path[i - 1] == '/') continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) == 0) {
            if (w->nmade < MAX_DIRS) w->made[w->nmade++] = strdup(path);
        } else if (errno != EEXIST) {
            GMR_FAIL(GMR_ERR_IO, "cannot create directory %s: %s", path, strerror(errno));
        } else {
            GMR_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), GMR_ERR_IO, "cannot create directory %s: %s", w->dir,
                      strerror(ENOTDIR));
        }
        path[i] = c;
    }
out:
    free(path);
    return err;
}

/* Rank 0: creates or empties a file and writes `text` at its start. */
static gmr_err make_file(gmr__writer *w, const char *name, const char *text)
{
    gmr_err err = GMR_OK;
    char *path = path_of(w, name);
    size_t n = strlen(text);
    int fd = -1;
    GMR_CHECK(path, GMR_ERR_NOMEM, "no memory");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    GMR_CHECK(fd >= 0, GMR_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    GMR_CHECK(n == 0 || write(fd, text, n) == (ssize_t)n, GMR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    GMR_CHECK(close(fd) == 0, GMR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    fd = -1;
out:
    if (fd >= 0) close(fd);
    free(path);
    return err;
}

/* Rank 0: removes blobs-*.bin left by an earlier run (a larger one may have made more packs). */
static gmr_err remove_old_packs(gmr__writer *w)
{
    gmr_err err = GMR_OK;
    DIR *d = opendir(w->dir);
    struct dirent *e;
    GMR_CHECK(d, GMR_ERR_IO, "cannot read directory %s: %s", w->dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 10 || strncmp(e->d_name, "blobs-", 6) != 0 || strcmp(e->d_name + n - 4, ".bin") != 0) continue;
        if (strspn(e->d_name + 6, "0123456789") != n - 10) continue;
        char *path = path_of(w, e->d_name);
        GMR_CHECK(path, GMR_ERR_NOMEM, "no memory");
        int rc = unlink(path);
        int e2 = errno;
        free(path);
        GMR_CHECK(rc == 0 || e2 == ENOENT, GMR_ERR_IO, "cannot remove %s/%s: %s", w->dir, e->d_name, strerror(e2));
    }
out:
    if (d) closedir(d);
    return err;
}

/* Collective: opens name (made by rank 0) for writing on every rank. */
static gmr_err open_all(gmr__writer *w, const char *name, MPI_File *fh)
{
    gmr_err err = GMR_OK;
    char *path = path_of(w, name);
    gmr_err local = path ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "no memory");
    GMR_CALL(gmr__agree(w->comm, local));
    int rc = MPI_File_open(w->comm, path, MPI_MODE_WRONLY, MPI_INFO_NULL, fh);
    if (rc != MPI_SUCCESS) {
        char s[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, s, &len);
        *fh = MPI_FILE_NULL;
        local = GMR_ERROR(GMR_ERR_IO, "cannot open %s: %s", path, s);
    }
    GMR_CALL(gmr__agree(w->comm, local));
out:
    free(path);
    return err;
}

static gmr_err write_at(gmr__writer *w, MPI_File fh, const char *name, uint64_t off, const char *p, size_t n)
{
    gmr_err err = GMR_OK;
    double t = MPI_Wtime();
    while (n > 0) {
        int chunk = n > CHUNK ? CHUNK : (int)n, got = 0;
        MPI_Status st;
        errno = 0;
        int rc = MPI_File_write_at(fh, (MPI_Offset)off, p, chunk, MPI_BYTE, &st);
        if (rc == MPI_SUCCESS) MPI_Get_count(&st, MPI_BYTE, &got);
        if (rc != MPI_SUCCESS || got != chunk) {
            /* MPI-IO may report a short count and keep the system's reason only in errno
             * ("File too large", "No space left on device"): that is the clearer message */
            char s[MPI_MAX_ERROR_STRING] = "short write";
            int len = 0;
            if (errno != 0)
                snprintf(s, sizeof s, "%s", strerror(errno));
            else if (rc != MPI_SUCCESS)
                MPI_Error_string(rc, s, &len);
            GMR_FAIL(GMR_ERR_IO, "cannot write %s/%s: %s", w->dir, name, s);
        }
        off += (uint64_t)chunk;
        p += chunk;
        n -= (size_t)chunk;
    }
out:
    w->t_write += MPI_Wtime() - t;
    if (err && !w->pending) w->pending = err;
    return err;
}

gmr_err gmr__writer_create(MPI_Comm comm, const char *dir, int defects, gmr__writer **wp)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__writer *w = calloc(1, sizeof *w);
    int failed = 1;
    *wp = NULL;
    if (w) {
        w->comm = MPI_COMM_NULL;
        w->pack = MPI_FILE_NULL;
        for (int f = 0; f < GMR_NFILES; f++) w->fh[f] = MPI_FILE_NULL;
    } else {
        local = GMR_ERROR(GMR_ERR_NOMEM, "no memory for the writer");
    }
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Comm_dup(comm, &w->comm));
    GMR_CALL_MPI(MPI_Comm_set_errhandler(w->comm, MPI_ERRORS_RETURN));
    GMR_CALL_MPI(MPI_Comm_rank(w->comm, &w->rank));
    GMR_CALL_MPI(MPI_Comm_size(w->comm, &w->size));
    w->defects = defects;
    w->dir = strdup(dir);
    w->gather = malloc((size_t)w->size * GATHER * sizeof *w->gather);
    local = w->dir && w->gather ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "no memory for the writer");
    if (!local && w->rank == 0) {
        local = make_dirs(w);
        if (!local) local = remove_old_packs(w);
        for (int f = 0; f < GMR_NFILES && !local; f++) local = make_file(w, gmr__file_names[f], headers[f]);
    }
    GMR_CALL(gmr__agree(w->comm, local));
    for (int f = 0; f < GMR_NFILES; f++) {
        GMR_CALL(open_all(w, gmr__file_names[f], &w->fh[f]));
        w->base[f] = strlen(headers[f]);
        w->lines[f] = w->base[f] > 0;
    }
    *wp = w;
    failed = 0;
out:
    if (failed) gmr__writer_destroy(&w, 1);
    return err;
}

/* The name a defect's file has in corrupt.csv. */
static const char *defect_file(uint32_t file, char *buf, size_t cap)
{
    if (file < GMR_NFILES) return gmr__file_names[file];
    pack_name(buf, cap, file - GMR_NFILES);
    return buf;
}

gmr_err gmr__writer_round(gmr__writer *w, const gmr__block *b, gmr_err local)
{
    gmr_err err = GMR_OK;
    uint64_t mine[GATHER], off[GMR_NFILES], line0[GMR_NFILES], ndefects = 0;
    if (!local) local = w->pending;
    GMR_CALL(gmr__agree(w->comm, local));
    for (int f = 0; f < GMR_NFILES; f++) {
        mine[2 * f] = b->out[f].len;
        mine[2 * f + 1] = b->lines[f];
    }
    mine[2 * GMR_NFILES] = b->ndefects;
    GMR_CALL_MPI(MPI_Allgather(mine, GATHER, MPI_UINT64_T, w->gather, GATHER, MPI_UINT64_T, w->comm));
    for (int f = 0; f < GMR_NFILES; f++) {
        off[f] = w->base[f];
        line0[f] = w->lines[f];
        for (int r = 0; r < w->size; r++) {
            const uint64_t *g = w->gather + (size_t)r * GATHER;
            if (r < w->rank) {
                off[f] += g[2 * f];
                line0[f] += g[2 * f + 1];
            }
            w->base[f] += g[2 * f];
            w->lines[f] += g[2 * f + 1];
        }
    }
    for (int r = 0; r < w->size; r++) ndefects += w->gather[(size_t)r * GATHER + 2 * GMR_NFILES];
    for (int f = 0; f < GMR_NFILES; f++)
        if (b->out[f].len) (void)write_at(w, w->fh[f], gmr__file_names[f], off[f], b->out[f].p, b->out[f].len);

    if (w->defects && ndefects > 0) { /* every rank knows ndefects, so all take this branch */
        uint64_t clen = 0, coff = w->base[GMR_F_CORRUPT];
        char name[32];
        w->cbuf.len = 0;
        for (size_t i = 0; i < b->ndefects && !w->pending; i++) {
            const gmr__defect *d = &b->defects[i];
            char *q = gmr__obuf_reserve(&w->cbuf, 128);
            if (!q) {
                w->pending = GMR_ERROR(GMR_ERR_NOMEM, "no memory for corrupt.csv");
                break;
            }
            char *start = q;
            q = gmr__put_str(q, defect_file(d->file, name, sizeof name));
            *q++ = ',';
            if (d->line != GMR_NO_LINE) q = gmr__put_uint(q, line0[d->file] + d->line + 1, 1);
            *q++ = ',';
            q = gmr__put_uint(q, d->file < GMR_NFILES ? off[d->file] + d->offset : d->offset, 1);
            *q++ = ',';
            q = gmr__put_str(q, gmr__defect_names[d->kind]);
            *q++ = '\n';
            w->cbuf.len += (size_t)(q - start);
        }
        uint64_t len = w->pending ? 0 : w->cbuf.len;
        GMR_CALL_MPI(MPI_Allgather(&len, 1, MPI_UINT64_T, w->gather, 1, MPI_UINT64_T, w->comm));
        for (int r = 0; r < w->size; r++) {
            if (r < w->rank) coff += w->gather[r];
            clen += w->gather[r];
        }
        if (len) (void)write_at(w, w->fh[GMR_F_CORRUPT], "corrupt.csv", coff, w->cbuf.p, len);
        w->base[GMR_F_CORRUPT] += clen;
        w->lines[GMR_F_CORRUPT] += ndefects;
    }
out:
    return err;
}

gmr_err gmr__writer_pack_open(gmr__writer *w, uint32_t pack)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    pack_name(w->pack_name, sizeof w->pack_name, pack);
    if (w->rank == 0) {
        local = make_file(w, w->pack_name, "");
        if (!local) w->npacks = pack + 1;
    }
    GMR_CALL(gmr__agree(w->comm, local));
    GMR_CALL(open_all(w, w->pack_name, &w->pack));
out:
    return err;
}

gmr_err gmr__writer_pack_write(gmr__writer *w, uint64_t offset, const void *buf, size_t len)
{
    return write_at(w, w->pack, w->pack_name, offset, buf, len);
}

static gmr_err close_file(gmr__writer *w, MPI_File *fh)
{
    gmr_err err = GMR_OK;
    if (*fh != MPI_FILE_NULL) {
        int rc = MPI_File_close(fh);
        *fh = MPI_FILE_NULL;
        GMR_CHECK(rc == MPI_SUCCESS, GMR_ERR_IO, "cannot close a file in %s", w->dir);
    }
out:
    return err;
}

gmr_err gmr__writer_pack_close(gmr__writer *w)
{
    gmr_err err = GMR_OK;
    gmr_err local = close_file(w, &w->pack);
    if (!local) local = w->pending;
    GMR_CALL(gmr__agree(w->comm, local));
out:
    return err;
}

gmr_err gmr__writer_finish(gmr__writer *w, uint64_t bytes[GMR_NFILES], uint64_t lines[GMR_NFILES], uint64_t *defects)
{
    gmr_err err = GMR_OK, local = w->pending;
    GMR_CALL(gmr__agree(w->comm, local));
    for (int f = 0; f < GMR_NFILES; f++) {
        gmr_err e = close_file(w, &w->fh[f]);
        if (!local) local = e;
    }
    GMR_CALL(gmr__agree(w->comm, local));
    for (int f = 0; f < GMR_NFILES; f++) {
        bytes[f] = w->base[f];
        lines[f] = w->lines[f];
    }
    *defects = w->lines[GMR_F_CORRUPT] - 1;
out:
    return err;
}

double gmr__writer_seconds(const gmr__writer *w) { return w->t_write; }

void gmr__writer_destroy(gmr__writer **wp, int remove)
{
    gmr__writer *w;
    if (!wp || !*wp) return;
    w = *wp;
    if (w->pack != MPI_FILE_NULL) MPI_File_close(&w->pack);
    for (int f = 0; f < GMR_NFILES; f++)
        if (w->fh[f] != MPI_FILE_NULL) MPI_File_close(&w->fh[f]);
    if (remove && w->rank == 0 && w->dir) {
        char name[32];
        for (int f = 0; f < GMR_NFILES; f++) {
            char *path = path_of(w, gmr__file_names[f]);
            if (path) unlink(path);
            free(path);
        }
        for (uint32_t k = 0; k < w->npacks; k++) {
            pack_name(name, sizeof name, k);
            char *path = path_of(w, name);
            if (path) unlink(path);
            free(path);
        }
        for (int i = w->nmade - 1; i >= 0; i--) rmdir(w->made[i]);
    }
    for (int i = 0; i < w->nmade; i++) free(w->made[i]);
    if (w->comm != MPI_COMM_NULL) MPI_Comm_free(&w->comm);
    free(w->dir);
    free(w->gather);
    free(w->cbuf.p);
    free(w);
    *wp = NULL;
}
