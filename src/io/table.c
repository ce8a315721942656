/* table.c: a numeric CSV file read by row blocks across ranks (see table.h).
 *
 * Rank 0 reads the header and broadcasts it. The bytes after it are cut into as many equal
 * parts as there are ranks and each cut moved to the next line start (gmr__split_align: both
 * neighbours compute the same cut), so each rank streams its own part through a 1 MiB window
 * (gmr__split_scan) and the file is read once in all. A line's number is known only after the
 * ranks have counted theirs (one MPI_Exscan), so a rank that meets a bad line keeps its index
 * and reason, counts the rest of its lines without parsing them, and the lowest rank with a
 * bad line reports "path:line: reason" once the numbering is known. Cost: one strtod per kept
 * field; memory 8 (width + 1) bytes per row. */
#define _XOPEN_SOURCE 700
#include "table.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "sched/sched.h"

#define WINDOW (1u << 20)
#define MAX_LINE (64ull << 20)

static gmr_err open_file(const char *path, int *fd, uint64_t *size)
{
    gmr_err err = GMR_OK;
    struct stat st;
    *fd = open(path, O_RDONLY);
    GMR_CHECK(*fd >= 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    GMR_CHECK(fstat(*fd, &st) == 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    GMR_CHECK(S_ISREG(st.st_mode), GMR_ERR_IO, "%s: not a regular file", path);
    *size = (uint64_t)st.st_size;
out:
    return err;
}

/* Rank 0: the header line (without its terminator) into *line, and where the data start. */
static gmr_err read_header(const char *path, gmr__buf *line, uint64_t *data_off, uint64_t *size)
{
    gmr_err err = GMR_OK;
    int fd = -1;
    uint64_t pos = 0;
    GMR_CALL(open_file(path, &fd, size));
    GMR_CHECK(*size > 0, GMR_ERR_DATA, "%s: empty file (a header line naming the columns is expected)", path);
    line->len = 0;
    for (;;) {
        size_t got = 0;
        const char *nl;
        GMR_CHECK(line->len < MAX_LINE, GMR_ERR_DATA, "%s:1: header line longer than %llu bytes", path, MAX_LINE);
        GMR_CALL(gmr__buf_reserve(line, line->len + 65536));
        GMR_CALL(gmr__pread_full(fd, path, line->data + line->len, 65536, pos, &got));
        nl = memchr(line->data + line->len, '\n', got);
        if (nl) {
            line->len = (size_t)(nl - line->data);
            *data_off = (uint64_t)line->len + 1;
            break;
        }
        line->len += got;
        pos += got;
        if (got < 65536) { /* a header and nothing else */
            *data_off = *size;
            break;
        }
    }
out:
    if (fd >= 0) close(fd);
    return err;
}

gmr_err gmr__table_header(MPI_Comm comm, const char *path, gmr__table *t)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__buf line = {0}, fields = {0}, scratch = {0};
    uint64_t meta[3] = {0, 0, 0};
    int rank;
    size_t nf = 0;
    const char *why = NULL;

    memset(t, 0, sizeof *t);
    t->path = path;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) local = read_header(path, &line, &meta[1], &meta[2]);
    meta[0] = line.len;
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Bcast(meta, 3, MPI_UINT64_T, 0, comm));
    if (rank != 0) local = gmr__buf_reserve(&line, (size_t)meta[0] + 1);
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Bcast(line.data, (int)meta[0], MPI_CHAR, 0, comm));
    line.len = (size_t)meta[0];
    t->data_off = meta[1];
    t->size = meta[2];
    GMR_CHECK(gmr__csv_split(line.data, line.len, &fields, &scratch, &nf, &why) == 0, GMR_ERR_DATA, "%s:1: %s", path,
              why);
    t->names = calloc(nf, sizeof *t->names);
    GMR_CHECK(t->names, GMR_ERR_NOMEM, "cannot allocate %zu column names", nf);
    t->ncols = (int)nf;
    for (size_t c = 0; c < nf; c++) {
        const gmr_field *f = (const gmr_field *)(const void *)fields.data + c;
        t->names[c] = malloc(f->len + 1);
        GMR_CHECK(t->names[c], GMR_ERR_NOMEM, "cannot allocate column names");
        memcpy(t->names[c], f->ptr, f->len);
        t->names[c][f->len] = 0;
    }
out:
    gmr__buf_free(&line);
    gmr__buf_free(&fields);
    gmr__buf_free(&scratch);
    return err;
}

int gmr__table_column(const gmr__table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (strcmp(t->names[c], name) == 0) return c;
    return -1;
}

typedef struct scan_ctx {
    gmr__table *t;
    const int *dest;
    gmr__buf fields, scratch;
    uint64_t nlines;     /* lines seen in the range, blank ones included */
    size_t cap;          /* rows allocated */
    uint64_t bad_line;   /* local index of the first bad line */
    char why[320];       /* its reason ("" when none) */
    gmr_err fatal;       /* out of memory */
} scan_ctx;

static int parse_number(const char *p, size_t len, double *v, const char **why)
{
    char buf[128], *end;
    while (len && (*p == ' ' || *p == '\t')) p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    if (len == 0) {
        *why = "is empty";
        return -1;
    }
    if (len >= sizeof buf) {
        *why = "is not a number";
        return -1;
    }
    memcpy(buf, p, len);
    buf[len] = 0;
    *v = strtod(buf, &end);
    if (end == buf || *end) {
        *why = "is not a number";
        return -1;
    }
    if (!isfinite(*v)) {
        *why = "is not a finite number";
        return -1;
    }
    return 0;
}

static gmr_err on_line(void *vctx, const char *line, size_t len, int overlong)
{
    scan_ctx *s = vctx;
    gmr__table *t = s->t;
    const char *why = NULL;
    size_t nf = 0;
    uint64_t index = s->nlines++;
    double *row;
    if (s->why[0] || s->fatal) return GMR_OK; /* after a bad line: only count */
    if (overlong) {
        snprintf(s->why, sizeof s->why, "line longer than %llu bytes", MAX_LINE);
        s->bad_line = index;
        return GMR_OK;
    }
    if (len == 0 || (len == 1 && line[0] == '\r')) return GMR_OK; /* blank */
    if (gmr__csv_split(line, len, &s->fields, &s->scratch, &nf, &why)) {
        snprintf(s->why, sizeof s->why, "%s", why);
        s->bad_line = index;
        return GMR_OK;
    }
    if (nf != (size_t)t->ncols) {
        snprintf(s->why, sizeof s->why, "expected %d fields, found %zu", t->ncols, nf);
        s->bad_line = index;
        return GMR_OK;
    }
    if (t->nrows == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 1024;
        double *v = realloc(t->v, ncap * (size_t)t->width * sizeof *v + 8);
        uint64_t *l = realloc(t->line, ncap * sizeof *l);
        if (v) t->v = v;
        if (l) t->line = l;
        if (!v || !l) {
            s->fatal = GMR_ERROR(GMR_ERR_NOMEM, "%s: cannot hold %zu rows of %d values", t->path, ncap, t->width);
            return GMR_OK;
        }
        s->cap = ncap;
    }
    row = t->v + t->nrows * (size_t)t->width;
    for (int c = 0; c < t->ncols; c++) {
        const gmr_field *f = (const gmr_field *)(const void *)s->fields.data + c;
        if (s->dest[c] < 0) continue;
        if (parse_number(f->ptr, f->len, &row[s->dest[c]], &why)) {
            snprintf(s->why, sizeof s->why, "column '%.80s': '%.*s'%s %s", t->names[c], (int)(f->len > 40 ? 40 : f->len),
                     f->ptr, f->len > 40 ? "..." : "", why);
            s->bad_line = index;
            return GMR_OK;
        }
    }
    t->line[t->nrows++] = index;
    return GMR_OK;
}

gmr_err gmr__table_read(MPI_Comm comm, gmr__table *t, const int *dest, int width)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    scan_ctx s;
    gmr__buf win = {0};
    int fd = -1, rank, size;
    uint64_t lo, hi, size_now = 0, body, nrec = 0, counts[2], before[2] = {0, 0}, nrows;

    memset(&s, 0, sizeof s);
    s.t = t;
    s.dest = dest;
    t->width = width;
    t->nrows = 0;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    body = t->size - t->data_off;
    lo = t->data_off + body * (uint64_t)rank / (uint64_t)size;
    hi = t->data_off + body * (uint64_t)(rank + 1) / (uint64_t)size;
    local = open_file(t->path, &fd, &size_now);
    if (!local && size_now != t->size) local = GMR_ERROR(GMR_ERR_IO, "%s: the file changed while being read", t->path);
    if (!local && lo > t->data_off && lo < t->size) local = gmr__split_align(fd, t->path, t->size, lo, &lo);
    if (!local && hi > t->data_off && hi < t->size) local = gmr__split_align(fd, t->path, t->size, hi, &hi);
    if (!local && hi > lo)
        local = gmr__split_scan(fd, t->path, lo, hi - lo, WINDOW, MAX_LINE, &win, on_line, &s, NULL, NULL, &nrec);
    if (!local) local = s.fatal;
    GMR_CALL(gmr__agree(comm, local));

    /* number the lines and rows, then report the first bad line */
    counts[0] = s.nlines;
    counts[1] = t->nrows;
    GMR_CALL_MPI(MPI_Exscan(counts, before, 2, MPI_UINT64_T, MPI_SUM, comm));
    if (rank == 0) before[0] = before[1] = 0;
    nrows = t->nrows;
    GMR_CALL_MPI(MPI_Allreduce(&nrows, &t->total_rows, 1, MPI_UINT64_T, MPI_SUM, comm));
    t->first_row = before[1];
    for (size_t i = 0; i < t->nrows; i++) t->line[i] += 2 + before[0];
    if (s.why[0])
        local = GMR_ERROR(GMR_ERR_DATA, "%s:%llu: %s", t->path, (unsigned long long)(2 + before[0] + s.bad_line), s.why);
    GMR_CALL(gmr__agree(comm, local));
out:
    if (fd >= 0) close(fd);
    gmr__buf_free(&win);
    gmr__buf_free(&s.fields);
    gmr__buf_free(&s.scratch);
    return err;
}

void gmr__table_free(gmr__table *t)
{
    if (!t) return;
    for (int c = 0; c < t->ncols && t->names; c++) free(t->names[c]);
    free(t->names);
    free(t->v);
    free(t->line);
    memset(t, 0, sizeof *t);
}
