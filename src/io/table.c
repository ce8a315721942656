/* table.c: a numeric table read by row blocks across ranks, from CSV or HDF5 (see table.h).
 *
 * CSV: rank 0 reads the header and broadcasts it. The bytes after it are cut into as many equal
 * parts as there are ranks and each cut moved to the next line start (gmr__split_align: both
 * neighbours compute the same cut), so each rank streams its own part through a 1 MiB window
 * (gmr__split_scan) and the file is read once in all. A line's number is known only after the
 * ranks have counted theirs (one MPI_Exscan), so a rank that meets a bad line keeps its index
 * and reason, counts the rest of its lines without parsing them, and the lowest rank with a
 * bad line reports "path:line: reason" once the numbering is known. Cost: one strtod per kept
 * field; memory 8 (width + 1) bytes per row.
 *
 * HDF5: rank 0 lists the columns, their kinds (integer, floating point, text) and checks their
 * lengths; then every rank opens the file with the MPI-IO driver and reads its rows of each kept
 * column in one collective transfer, then scatters them into its rows (no parsing: the read
 * runs at the file system's speed). Text columns (a name, a text id) are never parsed: one can
 * be the row id, read as text; asked for as a number it is an error naming the column. */
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

#include <hdf5.h>

#include "io.h"
#include "sched/sched.h"
#include "stage/h5util.h"

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

/* ---- HDF5 columns ------------------------------------------------------------------------- */

static int is_hdf5(const char *path)
{
    htri_t r;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    r = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    return r > 0;
}

/* "FILE.h5" (the root group) or "FILE.h5:/group/path" (a group of a file holding several
 * tables, e.g. gridmr supply's /app/segment): the file part into file (cap bytes) and the
 * group into *group. 0 when path names no HDF5 file either way. */
static int h5_split(const char *path, char *file, size_t cap, const char **group)
{
    const char *c = NULL;
    size_t n;
    if (is_hdf5(path)) {
        snprintf(file, cap, "%s", path);
        *group = "/";
        return strlen(path) < cap;
    }
    for (const char *p = strstr(path, ":/"); p; p = strstr(p + 1, ":/")) c = p;
    if (!c || (n = (size_t)(c - path)) >= cap) return 0;
    memcpy(file, path, n);
    file[n] = 0;
    *group = c + 1;
    return is_hdf5(file);
}

typedef struct h5_list {
    gmr__buf *names; /* NUL-separated */
    int n;
} h5_list;

static herr_t list_dataset(hid_t g, const char *name, const H5L_info_t *info, void *vctx)
{
    h5_list *l = vctx;
    H5O_info_t oi;
    size_t len = strlen(name) + 1;
    (void)info;
    if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) return 0;
    if (gmr__buf_reserve(l->names, l->names->len + len)) return -1;
    memcpy(l->names->data + l->names->len, name, len);
    l->names->len += len;
    l->n++;
    return 0;
}

/* Rank 0: the column names (NUL-separated in *names, then one kind byte per column appended:
 * 'u' unsigned or 'i' signed integer, 'f' floating point, 't' text) and the common length of
 * an HDF5 input. */
static gmr_err h5_columns(const char *path, gmr__buf *names, int *ncols, uint64_t *rows)
{
    gmr_err err = GMR_OK;
    hid_t h5f = H5I_INVALID_HID, file = H5I_INVALID_HID, dset = H5I_INVALID_HID, space = H5I_INVALID_HID,
          type = H5I_INVALID_HID;
    h5_list l = {names, 0};
    char *attr = NULL, fname[4096];
    const char *group = "/";
    size_t off = 0;
    char *kinds = NULL;
    names->len = 0;
    if (!h5_split(path, fname, sizeof fname, &group)) snprintf(fname, sizeof fname, "%s", path);
    h5f = H5Fopen(fname, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (h5f < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot open the HDF5 file", path);
    }
    file = H5Gopen2(h5f, group, H5P_DEFAULT); /* the table's group ("/" for a whole file) */
    if (file < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_DATA, "%s: no group %s in %s", path, group, fname);
    }
    if (H5Aexists(file, "columns") > 0) {
        attr = malloc(1u << 20);
        GMR_CHECK(attr, GMR_ERR_NOMEM, "out of memory");
        GMR_CALL(gmr__h5_attr_get_str(file, "columns", attr, 1u << 20));
        for (char *p = attr;;) {
            char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            GMR_CHECK(len > 0, GMR_ERR_DATA, "%s: the columns attribute has an empty name", path);
            GMR_CALL(gmr__buf_reserve(names, names->len + len + 1));
            memcpy(names->data + names->len, p, len);
            names->data[names->len + len] = 0;
            names->len += len + 1;
            l.n++;
            if (!c) break;
            p = c + 1;
        }
    } else {
        GMR_CHECK(H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, NULL, list_dataset, &l) >= 0, GMR_ERR_NOMEM,
                  "%s: cannot list the datasets", path);
    }
    GMR_CHECK(l.n > 0, GMR_ERR_DATA, "%s: no datasets (one 1-D dataset per column is expected)", path);
    kinds = malloc((size_t)l.n);
    GMR_CHECK(kinds, GMR_ERR_NOMEM, "out of memory");
    for (int c = 0; c < l.n; c++) {
        const char *name = names->data + off;
        hsize_t dims = 0;
        H5T_class_t cls;
        off += strlen(name) + 1;
        GMR_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, GMR_ERR_DATA, "%s: no dataset /%s", path, name);
        GMR_H5_ID(dset, H5Dopen2(file, name, H5P_DEFAULT));
        GMR_H5_ID(space, H5Dget_space(dset));
        GMR_H5_ID(type, H5Dget_type(dset));
        cls = H5Tget_class(type);
        GMR_CHECK(H5Sget_simple_extent_ndims(space) == 1 && (cls == H5T_INTEGER || cls == H5T_FLOAT || cls == H5T_STRING),
                  GMR_ERR_DATA, "%s: /%s is not a one-dimensional numeric or text dataset", path, name);
        kinds[c] = cls == H5T_STRING ? 't' : cls == H5T_FLOAT ? 'f' : H5Tget_sign(type) == H5T_SGN_NONE ? 'u' : 'i';
        GMR_CALL_H5(H5Sget_simple_extent_dims(space, &dims, NULL));
        GMR_CHECK(c == 0 || (uint64_t)dims == *rows, GMR_ERR_DATA, "%s: /%s has %llu rows, the first column %llu", path,
                  name, (unsigned long long)dims, (unsigned long long)*rows);
        *rows = (uint64_t)dims;
        H5Tclose(type);
        H5Sclose(space);
        H5Dclose(dset);
        type = space = dset = H5I_INVALID_HID;
    }
    GMR_CALL(gmr__buf_reserve(names, names->len + (size_t)l.n));
    memcpy(names->data + names->len, kinds, (size_t)l.n);
    names->len += (size_t)l.n;
    *ncols = l.n;
out:
    free(kinds);
    free(attr);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    if (file >= 0) H5Gclose(file);
    if (h5f >= 0) H5Fclose(h5f);
    H5Eclear2(H5E_DEFAULT);
    return err;
}

gmr_err gmr__table_header(MPI_Comm comm, const char *path, gmr__table *t)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__buf line = {0}, fields = {0}, scratch = {0};
    uint64_t meta[5] = {0, 0, 0, 0, 0}; /* bytes, data_off, size or rows, kind, ncols */
    int rank, ncols = 0;
    size_t nf = 0;
    const char *why = NULL;

    memset(t, 0, sizeof *t);
    t->path = path;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) {
        char fname[4096];
        const char *group;
        if (h5_split(path, fname, sizeof fname, &group)) {
            meta[3] = 1;
            local = h5_columns(path, &line, &ncols, &meta[2]);
            meta[4] = (uint64_t)ncols;
        } else {
            local = read_header(path, &line, &meta[1], &meta[2]);
        }
    }
    meta[0] = line.len;
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Bcast(meta, 5, MPI_UINT64_T, 0, comm));
    if (rank != 0) local = gmr__buf_reserve(&line, (size_t)meta[0] + 1);
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Bcast(line.data, (int)meta[0], MPI_CHAR, 0, comm));
    line.len = (size_t)meta[0];
    t->data_off = meta[1];
    t->size = meta[2];
    t->hdf5 = (int)meta[3];
    if (t->hdf5) {
        size_t off = 0;
        t->names = calloc((size_t)meta[4], sizeof *t->names);
        GMR_CHECK(t->names, GMR_ERR_NOMEM, "cannot allocate %llu column names", (unsigned long long)meta[4]);
        t->ncols = (int)meta[4];
        for (int c = 0; c < t->ncols; c++) {
            t->names[c] = strdup(line.data + off);
            GMR_CHECK(t->names[c], GMR_ERR_NOMEM, "cannot allocate column names");
            off += strlen(line.data + off) + 1;
        }
        t->kinds = malloc((size_t)t->ncols + 1);
        GMR_CHECK(t->kinds, GMR_ERR_NOMEM, "cannot allocate column kinds");
        GMR_CHECK(off + (size_t)t->ncols == line.len, GMR_ERR_INTERNAL, "%s: the column list is garbled", path);
        memcpy(t->kinds, line.data + off, (size_t)t->ncols);
        t->kinds[t->ncols] = 0;
        goto out;
    }
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

int gmr__table_is_text(const gmr__table *t, int c)
{
    return t->kinds && c >= 0 && c < t->ncols && t->kinds[c] == 't';
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

/* NA, NaN, nan, ... (any case): a missing value when empty_nan is set */
static int is_missing(const char *p, size_t len)
{
    static const char *const words[] = {"na", "nan"};
    for (size_t w = 0; w < sizeof words / sizeof *words; w++) {
        size_t n = strlen(words[w]), i;
        if (len != n) continue;
        for (i = 0; i < n && (p[i] | 0x20) == words[w][i]; i++) {}
        if (i == n) return 1;
    }
    return len == 0;
}

static int parse_number(const char *p, size_t len, int empty_nan, double *v, const char **why)
{
    char buf[128], *end;
    while (len && (*p == ' ' || *p == '\t')) p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r')) len--;
    if (empty_nan && is_missing(p, len)) {
        *v = NAN;
        return 0;
    }
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

static gmr_err on_line(void *vctx, const char *line, size_t len, uint64_t off, int overlong)
{
    scan_ctx *s = vctx;
    (void)off;
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
        char **x = t->text_col1 ? realloc(t->text, ncap * sizeof *x) : NULL;
        if (v) t->v = v;
        if (l) t->line = l;
        if (x) t->text = x;
        if (!v || !l || (t->text_col1 && !x)) {
            s->fatal = GMR_ERROR(GMR_ERR_NOMEM, "%s: cannot hold %zu rows of %d values", t->path, ncap, t->width);
            return GMR_OK;
        }
        s->cap = ncap;
    }
    row = t->v + t->nrows * (size_t)t->width;
    for (int c = 0; c < t->ncols; c++) {
        const gmr_field *f = (const gmr_field *)(const void *)s->fields.data + c;
        if (c == t->text_col1 - 1) {
            const char *p = f->ptr;
            size_t n = f->len;
            while (n && (*p == ' ' || *p == '\t')) p++, n--;
            while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r')) n--;
            if (!(t->text[t->nrows] = malloc(n + 1))) {
                s->fatal = GMR_ERROR(GMR_ERR_NOMEM, "%s: out of memory for the text of column '%s'", t->path, t->names[c]);
                return GMR_OK;
            }
            memcpy(t->text[t->nrows], p, n);
            t->text[t->nrows][n] = 0;
            continue;
        }
        if (s->dest[c] < 0) continue;
        if (parse_number(f->ptr, f->len, t->empty_nan, &row[s->dest[c]], &why)) {
            if (t->text_col1) free(t->text[t->nrows]);
            snprintf(s->why, sizeof s->why, "column '%.80s': '%.*s'%s %s", t->names[c], (int)(f->len > 40 ? 40 : f->len),
                     f->ptr, f->len > 40 ? "..." : "", why);
            s->bad_line = index;
            return GMR_OK;
        }
    }
    t->line[t->nrows++] = index;
    return GMR_OK;
}

/* HDF5, not collective: rows [lo, lo + nr) of column c as text into t->text (a text column:
 * its strings, fixed or variable length, trailing blanks dropped; a numeric one: its values
 * printed, integers exactly, floating point with %.17g). An independent read: variable-length
 * strings are not read collectively by every HDF5 build. */
static gmr_err h5_read_text(hid_t grp, gmr__table *t, int c, uint64_t lo, size_t nr)
{
    gmr_err err = GMR_OK;
    hid_t dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, ftype = H5I_INVALID_HID,
          mtype = H5I_INVALID_HID;
    hsize_t cnt = (hsize_t)nr;
    size_t w = 8;
    int vlen = 0;
    char *buf = NULL;
    t->text = calloc(nr + 1, sizeof *t->text);
    GMR_CHECK(t->text, GMR_ERR_NOMEM, "%s: cannot hold %zu ids", t->path, nr);
    GMR_H5_ID(dset, H5Dopen2(grp, t->names[c], H5P_DEFAULT));
    GMR_H5_ID(fspace, H5Dget_space(dset));
    GMR_H5_ID(mspace, H5Screate_simple(1, &cnt, NULL));
    GMR_CALL(gmr__h5_select_range(fspace, mspace, lo, nr));
    if (t->kinds[c] == 't') {
        GMR_H5_ID(ftype, H5Dget_type(dset));
        vlen = H5Tis_variable_str(ftype) > 0;
        GMR_H5_ID(mtype, H5Tcopy(H5T_C_S1));
        w = vlen ? sizeof(char *) : H5Tget_size(ftype) + 1;
        GMR_CALL_H5(H5Tset_size(mtype, vlen ? H5T_VARIABLE : w));
        GMR_CALL_H5(H5Tset_strpad(mtype, H5T_STR_NULLTERM));
    } else {
        GMR_H5_ID(mtype, H5Tcopy(t->kinds[c] == 'u' ? H5T_NATIVE_UINT64 : t->kinds[c] == 'i' ? H5T_NATIVE_INT64
                                                                                            : H5T_NATIVE_DOUBLE));
    }
    buf = calloc(nr + 1, w);
    GMR_CHECK(buf, GMR_ERR_NOMEM, "%s: cannot hold %zu ids", t->path, nr);
    GMR_CALL_H5(H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, buf));
    for (size_t i = 0; i < nr; i++) {
        char num[64];
        const char *p = num;
        size_t n;
        if (t->kinds[c] == 't') {
            p = vlen ? ((char **)(void *)buf)[i] : buf + i * w;
            if (!p) p = "";
        } else if (t->kinds[c] == 'u') {
            uint64_t v;
            memcpy(&v, buf + i * w, sizeof v);
            snprintf(num, sizeof num, "%llu", (unsigned long long)v);
        } else if (t->kinds[c] == 'i') {
            int64_t v;
            memcpy(&v, buf + i * w, sizeof v);
            snprintf(num, sizeof num, "%lld", (long long)v);
        } else {
            double v;
            memcpy(&v, buf + i * w, sizeof v);
            snprintf(num, sizeof num, "%.17g", v);
        }
        n = strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r')) n--;
        t->text[i] = malloc(n + 1);
        GMR_CHECK(t->text[i], GMR_ERR_NOMEM, "%s: out of memory for the text of column '%s'", t->path, t->names[c]);
        memcpy(t->text[i], p, n);
        t->text[i][n] = 0;
    }
out:
    if (err && t->text) {
        for (size_t i = 0; i < nr; i++) free(t->text[i]);
        free(t->text);
        t->text = NULL;
    }
    if (vlen && buf) H5Dvlen_reclaim(mtype, mspace, H5P_DEFAULT, buf);
    free(buf);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0) H5Dclose(dset);
    return err;
}

/* HDF5: rows [n r / size, n (r + 1) / size) of each kept column, one collective read each. A
 * text column can only be the row id (text_col1); asked for as a number it is an error. */
static gmr_err h5_read(MPI_Comm comm, gmr__table *t, const int *dest, int width)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    hid_t fapl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, file = H5I_INVALID_HID, grp = H5I_INVALID_HID;
    char fname[4096];
    const char *group = "/";
    int rank, size, bad_col = -1;
    uint64_t lo, hi, bad_row = 0;
    size_t nr;
    double *tmp = NULL, bad_val = 0;

    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    if (!h5_split(t->path, fname, sizeof fname, &group)) snprintf(fname, sizeof fname, "%s", t->path);
    /* the same verdict on every rank (the header is everybody's); agreed so that rank 0 tells */
    if (t->text_col1 < 0 || t->text_col1 > t->ncols)
        local = GMR_ERROR(GMR_ERR_ARG, "%s: no column %d", t->path, t->text_col1);
    for (int c = 0; c < t->ncols && !local; c++)
        if (dest[c] >= 0 && t->kinds && t->kinds[c] == 't')
            local = GMR_ERROR(GMR_ERR_DATA, "%s: column '%s' (dataset %s%s%s in %s) is text, not a number", t->path,
                              t->names[c], group, strcmp(group, "/") == 0 ? "" : "/", t->names[c], fname);
    GMR_CALL(gmr__agree(comm, local));
    lo = t->size * (uint64_t)rank / (uint64_t)size;
    hi = t->size * (uint64_t)(rank + 1) / (uint64_t)size;
    nr = (size_t)(hi - lo);
    t->v = malloc(nr * (size_t)width * sizeof *t->v + 8);
    t->line = malloc(nr * sizeof *t->line + 8);
    tmp = malloc(nr * sizeof *tmp + 8);
    if (!t->v || !t->line || !tmp) local = GMR_ERROR(GMR_ERR_NOMEM, "%s: cannot hold %zu rows of %d values", t->path, nr, width);
    GMR_CALL(gmr__agree(comm, local));
    GMR_H5_ID(fapl, H5Pcreate(H5P_FILE_ACCESS));
    GMR_CALL_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
    GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
    GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    file = H5Fopen(fname, H5F_ACC_RDONLY, fapl);
    if (file < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot open the HDF5 file", t->path);
    }
    GMR_H5_ID(grp, H5Gopen2(file, group, H5P_DEFAULT));
    for (int c = 0; c < t->ncols && !local; c++) {
        hid_t dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
        hsize_t cnt = (hsize_t)nr;
        if (dest[c] < 0) continue;
        dset = H5Dopen2(grp, t->names[c], H5P_DEFAULT);
        if (dset >= 0) fspace = H5Dget_space(dset);
        if (fspace >= 0) mspace = H5Screate_simple(1, &cnt, NULL);
        if (mspace < 0 || gmr__h5_select_range(fspace, mspace, lo, nr) ||
            H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, tmp) < 0)
            local = gmr__err_h5(__FILE__, __LINE__, __func__, "reading a column");
        if (mspace >= 0) H5Sclose(mspace);
        if (fspace >= 0) H5Sclose(fspace);
        if (dset >= 0) H5Dclose(dset);
        for (size_t i = 0; !local && i < nr; i++) {
            t->v[i * (size_t)width + (size_t)dest[c]] = tmp[i];
            if (!isfinite(tmp[i]) && !(t->empty_nan && isnan(tmp[i])) && (bad_col < 0 || lo + i < bad_row)) {
                bad_col = c;
                bad_row = lo + i;
                bad_val = tmp[i];
            }
        }
    }
    GMR_CALL(gmr__agree(comm, local));
    if (t->text_col1 > 0) {
        local = h5_read_text(grp, t, t->text_col1 - 1, lo, nr);
        if (local) H5Eclear2(H5E_DEFAULT);
        GMR_CALL(gmr__agree(comm, local));
    }
    for (size_t i = 0; i < nr; i++) t->line[i] = lo + i + 1;
    t->width = width;
    t->nrows = nr;
    t->first_row = lo;
    t->total_rows = t->size;
    if (bad_col >= 0)
        local = GMR_ERROR(GMR_ERR_DATA, "%s: row %llu: column '%s': %g is not a finite number", t->path,
                          (unsigned long long)(bad_row + 1), t->names[bad_col], bad_val);
    GMR_CALL(gmr__agree(comm, local));
out:
    free(tmp);
    if (grp >= 0) H5Gclose(grp);
    if (file >= 0) H5Fclose(file);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (fapl >= 0) H5Pclose(fapl);
    return err;
}

gmr_err gmr__table_read(MPI_Comm comm, gmr__table *t, const int *dest, int width)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    scan_ctx s;
    gmr__buf win = {0};
    int fd = -1, rank, size;
    uint64_t lo, hi, size_now = 0, body, nrec = 0, counts[2], before[2] = {0, 0}, nrows;

    if (t->hdf5) return h5_read(comm, t, dest, width);
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

void gmr__table_where(const gmr__table *t, size_t i, char *buf, size_t cap)
{
    if (t->hdf5)
        snprintf(buf, cap, "%s: row %llu", t->path, (unsigned long long)t->line[i]);
    else
        snprintf(buf, cap, "%s:%llu", t->path, (unsigned long long)t->line[i]);
}

void gmr__table_free(gmr__table *t)
{
    if (!t) return;
    for (int c = 0; c < t->ncols && t->names; c++) free(t->names[c]);
    free(t->names);
    free(t->kinds);
    for (size_t i = 0; i < t->nrows && t->text; i++) free(t->text[i]);
    free(t->text);
    free(t->v);
    free(t->line);
    memset(t, 0, sizeof *t);
}
