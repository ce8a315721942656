/* segment_cli.c: `gridmr segment`, customer segmentation (src/apps/segment.c, docs/segment.md).
 *
 *   gridmr segment --input FEATURES.csv --id COL [--labels FILE --label-col COL]
 *                  [--k K | --supervised --cv F] --output SEG.h5
 *
 * One row per customer. The features are read by row blocks across ranks (src/io/table.c,
 * the id column kept as text, empty cells as NaN), standardised with exact sums, then either
 * clustered by k-means (k given, or chosen by the silhouette of a sample over 2..--kmax) or,
 * with --supervised, classified by an L1 multinomial logistic regression evaluated by
 * stratified F-fold cross-validation (lambda chosen inside each training part). Labels, when
 * given, are joined by id; every rank reads the labels file (it is small next to the features).
 * The result goes to SEG.h5 (docs/formats.md) with parallel HDF5, the report to standard output
 * (rank 0), the segment profiles to a PNG with gnuplot when it is installed. Exit statuses:
 * 0 ok, 2 usage, 65 bad input data, 1 other errors. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "status.h"
#include "apps/segment.h"
#include "gen/model.h"
#include "gridmr/log.h"
#include "io/io.h"
#include "io/table.h"
#include "sched/sched.h"
#include "segment_cli.h"
#include "stage/h5util.h"

/* an allocation check every rank agrees on (one MPI_Allreduce): nobody waits in a collective */
#define AGREE_ALLOC(cond, ...) GMR_CALL(gmr__agree(comm, (cond) ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, __VA_ARGS__)))

/* documented defaults (docs/segment.md, --help) */
#define DEF_KMAX 10
#define DEF_RESTARTS 10
#define DEF_MAX_ITER 300
#define DEF_CV 5
#define DEF_NLAMBDA 8
#define DEF_RATIO 1e-3
#define DEF_LOGIT_ITER 300
#define DEF_LOGIT_TOL 1e-5
#define DEF_SAMPLE 1000
#define DEF_SEED 1
#define DEF_REPLICATE_MB 256

typedef struct seg_opts {
    const char *input, *id, *labels, *label_col, *label_id, *output, *plot, *exclude;
    int k, kmax, restarts, max_iter, supervised, cv, nlambda, no_plot, quiet, transform, sample, logit_iter, replicate_mb;
    double lambda, ratio;
    int have_lambda;
    unsigned long long seed;
    char error[512];
} seg_opts;

void gmr__cli_segment_usage(FILE *f)
{
    fprintf(f,
            "usage: gridmr segment --input FEATURES.csv --id COL [--labels FILE --label-col COL]\n"
            "                      [--k K | --supervised [--cv F]] --output SEG.h5 [options]\n"
            "\n"
            "Customer segmentation across the ranks of the job (docs/segment.md). One row per customer;\n"
            "every column but the id and --exclude'd ones is a feature. Empty or NA cells are imputed with\n"
            "the column mean; features are standardised (exact sums: any rank count gives the same result).\n"
            "\n"
            "  --id COL              the customer id column: a name or a 1-based number (kept as text)\n"
            "  --exclude COL,...     other columns that are not features\n"
            "  --labels FILE         CSV of known classes, joined to the customers by id\n"
            "  --label-col COL       its class column (name or 1-based number); empty = unlabelled\n"
            "  --label-id COL        its id column (default: the features' id column name, else the first)\n"
            "unsupervised (default): k-means, k-means++ seeding\n"
            "  --k K                 clusters (default: the best mean silhouette over k = 2..KMAX)\n"
            "  --kmax KMAX           (default %d)\n"
            "  --restarts R          k-means++ starts, the lowest inertia kept (default %d)\n"
            "  --max-iter N          Lloyd iterations per start (default %d)\n"
            "  --sample M            rows in the silhouette sample (default %d)\n"
            "supervised: L1-regularised multinomial logistic regression (needs --labels)\n"
            "  --supervised\n"
            "  --cv F                stratified F-fold cross-validation, F >= 2 (default %d)\n"
            "  --lambda L            fixed L1 penalty (default: chosen per fold on a held-out fold from a\n"
            "                        path of --nlambda values down to lambda_max x %g)\n"
            "  --nlambda N           (default %d)\n"
            "  --logit-iter N        FISTA iterations per lambda (default %d)\n"
            "  --no-transform        no asinh of skewed columns (|skewness| > 2; default: transformed)\n"
            "  --replicate-mb M      when the features take at most M MiB, every rank gets a copy and the\n"
            "                        folds run in parallel, one per rank (default %d; 0: never)\n"
            "common:\n"
            "  --seed S              seeds the k-means++ draws and the folds (default %d)\n"
            "  --plot FILE.png       segment profiles (default: SEG.h5 with .png; needs gnuplot)\n"
            "  --no-plot\n"
            "  --quiet               print nothing but errors, warnings and the accuracy line\n"
            "exit status: 0 ok, 1 error, 2 usage, 65 bad input data\n",
            DEF_KMAX, DEF_RESTARTS, DEF_MAX_ITER, DEF_SAMPLE, DEF_CV, DEF_RATIO, DEF_NLAMBDA, DEF_LOGIT_ITER, DEF_REPLICATE_MB, DEF_SEED);
}

/* ---- options -------------------------------------------------------------------------------- */

static int parse_int(const char *s, int lo, int hi, int *v)
{
    char *end;
    long x;
    errno = 0;
    x = strtol(s, &end, 10);
    if (end == s || *end || errno || x < lo || x > hi) return -1;
    *v = (int)x;
    return 0;
}

static int parse_opts(int argc, char **argv, seg_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kmax = DEF_KMAX;
    o->restarts = DEF_RESTARTS;
    o->max_iter = DEF_MAX_ITER;
    o->cv = DEF_CV;
    o->nlambda = DEF_NLAMBDA;
    o->ratio = DEF_RATIO;
    o->seed = DEF_SEED;
    o->transform = 1;
    o->sample = DEF_SAMPLE;
    o->logit_iter = DEF_LOGIT_ITER;
    o->replicate_mb = DEF_REPLICATE_MB;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0, takes = 1;
        if (strcmp(a, "--supervised") == 0) o->supervised = 1, takes = 0;
        else if (strcmp(a, "--no-plot") == 0) o->no_plot = 1, takes = 0;
        else if (strcmp(a, "--quiet") == 0) o->quiet = 1, takes = 0;
        else if (strcmp(a, "--no-transform") == 0) o->transform = 0, takes = 0;
        else if (!v) {
            snprintf(o->error, sizeof o->error, "%s: unknown option or missing value", a);
            return 1;
        } else if (strcmp(a, "--input") == 0) o->input = v;
        else if (strcmp(a, "--id") == 0) o->id = v;
        else if (strcmp(a, "--labels") == 0) o->labels = v;
        else if (strcmp(a, "--label-col") == 0) o->label_col = v;
        else if (strcmp(a, "--label-id") == 0) o->label_id = v;
        else if (strcmp(a, "--output") == 0) o->output = v;
        else if (strcmp(a, "--plot") == 0) o->plot = v;
        else if (strcmp(a, "--exclude") == 0) o->exclude = v;
        else if (strcmp(a, "--k") == 0) rc = parse_int(v, 1, 1000, &o->k);
        else if (strcmp(a, "--kmax") == 0) rc = parse_int(v, 2, 1000, &o->kmax);
        else if (strcmp(a, "--restarts") == 0) rc = parse_int(v, 1, 10000, &o->restarts);
        else if (strcmp(a, "--max-iter") == 0) rc = parse_int(v, 1, 100000000, &o->max_iter);
        else if (strcmp(a, "--sample") == 0) rc = parse_int(v, 10, 100000, &o->sample);
        else if (strcmp(a, "--cv") == 0) rc = parse_int(v, 2, 1000, &o->cv);
        else if (strcmp(a, "--nlambda") == 0) rc = parse_int(v, 1, 1000, &o->nlambda);
        else if (strcmp(a, "--logit-iter") == 0) rc = parse_int(v, 1, 100000000, &o->logit_iter);
        else if (strcmp(a, "--replicate-mb") == 0) rc = parse_int(v, 0, 1000000, &o->replicate_mb);
        else if (strcmp(a, "--lambda") == 0) {
            char *end;
            o->lambda = strtod(v, &end);
            rc = end == v || *end || !(o->lambda >= 0) || !isfinite(o->lambda);
            o->have_lambda = 1;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            rc = end == v || *end || errno || v[0] == '-';
        } else {
            snprintf(o->error, sizeof o->error, "%s: unknown option", a);
            return 1;
        }
        if (rc) {
            snprintf(o->error, sizeof o->error, "%s %s: not a valid value", a, v);
            return 1;
        }
        i += takes;
    }
    if (!o->input || !o->id || !o->output) {
        snprintf(o->error, sizeof o->error, "--input, --id and --output are required");
        return 1;
    }
    if (!o->labels != !o->label_col) {
        snprintf(o->error, sizeof o->error, "--labels and --label-col go together");
        return 1;
    }
    if (o->supervised && !o->labels) {
        snprintf(o->error, sizeof o->error, "--supervised needs --labels FILE --label-col COL");
        return 1;
    }
    if (o->supervised && o->k) {
        snprintf(o->error, sizeof o->error, "--k is for k-means; --supervised predicts the classes of the labels");
        return 1;
    }
    return 0;
}

static void report(int rank, int uniform)
{
    if (uniform ? rank != 0 : gmr_err_is_remote()) return;
    gmr__cli_report("segment");
}

/* A column by name, else by 1-based number; -1 when neither. */
static int find_column(char **names, int ncols, const char *spec)
{
    char *end;
    long v;
    for (int c = 0; c < ncols; c++)
        if (strcmp(names[c], spec) == 0) return c;
    errno = 0;
    v = strtol(spec, &end, 10);
    if (end != spec && !*end && !errno && v >= 1 && v <= ncols) return (int)v - 1;
    return -1;
}

/* ---- labels ----------------------------------------------------------------------------------- */

typedef struct label_pair {
    char *id;
    int cls;          /* index into classes, -1 for an empty label */
    uint64_t line;
} label_pair;

typedef struct label_set {
    label_pair *pairs; /* sorted by id */
    size_t n;
    char **classes;    /* sorted distinct non-empty labels */
    int C;
} label_set;

static void labels_free(label_set *L)
{
    for (size_t i = 0; i < L->n; i++) free(L->pairs[i].id);
    free(L->pairs);
    for (int c = 0; c < L->C; c++) free(L->classes[c]);
    free(L->classes);
    memset(L, 0, sizeof *L);
}

static int cmp_pair(const void *a, const void *b)
{
    const label_pair *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line < y->line ? -1 : x->line > y->line);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *trimmed(const char *p, size_t n)
{
    char *s;
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r')) n--;
    if (!(s = malloc(n + 1))) return NULL;
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* Not collective (every rank calls it and gets the same result): the whole labels file. */
static gmr_err read_labels(const seg_opts *o, const char *id_name, label_set *L)
{
    gmr_err err = GMR_OK;
    FILE *f = NULL;
    char *text = NULL, *p, *labs = NULL;
    size_t len = 0, cap = 0, nf = 0, cap_pairs = 0;
    gmr__buf fields = {0}, scratch = {0};
    const char *why = NULL;
    int idc = -1, lc = -1, ncols = 0;
    char **hdr = NULL;
    uint64_t line = 0;

    memset(L, 0, sizeof *L);
    f = fopen(o->labels, "rb");
    GMR_CHECK(f, GMR_ERR_IO, "%s: %s", o->labels, strerror(errno));
    for (;;) {
        size_t got;
        if (len + 65536 + 1 > cap) {
            char *t = realloc(text, cap = 2 * cap + 65536 + 1);
            GMR_CHECK(t, GMR_ERR_NOMEM, "%s: out of memory", o->labels);
            text = t;
        }
        got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    GMR_CHECK(!ferror(f), GMR_ERR_IO, "%s: read error", o->labels);
    text[len] = 0;
    GMR_CHECK(len > 0, GMR_ERR_DATA, "%s: empty file (a header line naming the columns is expected)", o->labels);
    for (p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        const gmr_field *fl;
        line++;
        if (l == 0 || (l == 1 && p[0] == '\r')) {
            p += l + 1;
            continue;
        }
        GMR_CHECK(gmr__csv_split(p, l, &fields, &scratch, &nf, &why) == 0, GMR_ERR_DATA, "%s:%llu: %s", o->labels,
                  (unsigned long long)line, why);
        fl = (const gmr_field *)(const void *)fields.data;
        if (line == 1) {
            ncols = (int)nf;
            hdr = calloc(nf, sizeof *hdr);
            GMR_CHECK(hdr, GMR_ERR_NOMEM, "out of memory");
            for (size_t c = 0; c < nf; c++) GMR_CHECK(hdr[c] = trimmed(fl[c].ptr, fl[c].len), GMR_ERR_NOMEM, "out of memory");
            lc = find_column(hdr, ncols, o->label_col);
            GMR_CHECK(lc >= 0, GMR_ERR_DATA, "%s:1: no column '%s' (--label-col)", o->labels, o->label_col);
            if (o->label_id) {
                idc = find_column(hdr, ncols, o->label_id);
                GMR_CHECK(idc >= 0, GMR_ERR_DATA, "%s:1: no column '%s' (--label-id)", o->labels, o->label_id);
            } else {
                for (int c = 0; c < ncols && idc < 0; c++)
                    if (id_name[0] && strcmp(hdr[c], id_name) == 0) idc = c;
                if (idc < 0) idc = 0;
            }
            GMR_CHECK(idc != lc, GMR_ERR_ARG, "%s: the id and label columns are the same column", o->labels);
        } else {
            GMR_CHECK(nf == (size_t)ncols, GMR_ERR_DATA, "%s:%llu: expected %d fields, found %zu", o->labels,
                      (unsigned long long)line, ncols, nf);
            if (L->n == cap_pairs) {
                label_pair *t = realloc(L->pairs, (cap_pairs = 2 * cap_pairs + 1024) * sizeof *t);
                GMR_CHECK(t, GMR_ERR_NOMEM, "%s: out of memory", o->labels);
                L->pairs = t;
            }
            L->pairs[L->n].id = trimmed(fl[idc].ptr, fl[idc].len);
            GMR_CHECK(L->pairs[L->n].id, GMR_ERR_NOMEM, "out of memory");
            L->pairs[L->n].line = line;
            /* the label text is kept in cls's place until the classes are known */
            {
                char *lab = trimmed(fl[lc].ptr, fl[lc].len);
                GMR_CHECK(lab, GMR_ERR_NOMEM, "out of memory");
                L->pairs[L->n].cls = -1;
                if (lab[0]) {
                    char **t = realloc(L->classes, (size_t)(L->C + 1) * sizeof *t);
                    if (!t) free(lab);
                    GMR_CHECK(t, GMR_ERR_NOMEM, "out of memory");
                    L->classes = t;
                    L->classes[L->C] = lab;
                    L->pairs[L->n].cls = L->C++; /* for now: the index of its own text */
                } else {
                    free(lab);
                }
            }
            L->n++;
        }
        p += l + 1;
    }
    GMR_CHECK(line >= 1 && lc >= 0, GMR_ERR_DATA, "%s: no header line", o->labels);
    /* distinct sorted class names, then each pair's index into them */
    {
        int C = L->C, nd = 0;
        char **sorted = malloc((size_t)C * sizeof *sorted + 1);
        GMR_CHECK(sorted, GMR_ERR_NOMEM, "out of memory");
        memcpy(sorted, L->classes, (size_t)C * sizeof *sorted);
        qsort(sorted, (size_t)C, sizeof *sorted, cmp_str);
        for (int c = 0; c < C; c++)
            if (nd == 0 || strcmp(sorted[nd - 1], sorted[c]) != 0) sorted[nd++] = sorted[c];
        for (size_t i = 0; i < L->n; i++)
            if (L->pairs[i].cls >= 0) {
                char *key = L->classes[L->pairs[i].cls];
                char **hit = bsearch(&key, sorted, (size_t)nd, sizeof *sorted, cmp_str);
                L->pairs[i].cls = (int)(hit - sorted);
            }
        labs = (char *)sorted; /* freed below */
        for (int c = 0; c < nd; c++) sorted[c] = strdup(sorted[c]);
        for (int c = 0; c < C; c++) free(L->classes[c]);
        free(L->classes);
        L->classes = sorted;
        L->C = nd;
        labs = NULL;
        for (int c = 0; c < nd; c++) GMR_CHECK(sorted[c], GMR_ERR_NOMEM, "out of memory");
    }
    qsort(L->pairs, L->n, sizeof *L->pairs, cmp_pair);
    for (size_t i = 1; i < L->n; i++)
        GMR_CHECK(strcmp(L->pairs[i - 1].id, L->pairs[i].id) != 0 || L->pairs[i - 1].cls == L->pairs[i].cls,
                  GMR_ERR_DATA, "%s:%llu: id '%s' already has another label on line %llu", o->labels,
                  (unsigned long long)L->pairs[i].line, L->pairs[i].id, (unsigned long long)L->pairs[i - 1].line);
out:
    free(labs);
    if (hdr)
        for (int c = 0; c < ncols; c++) free(hdr[c]);
    free(hdr);
    free(text);
    gmr__buf_free(&fields);
    gmr__buf_free(&scratch);
    if (f) fclose(f);
    if (err) labels_free(L);
    return err;
}

static int lookup_label(const label_set *L, const char *id)
{
    size_t lo = 0, hi = L->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(L->pairs[mid].id, id);
        if (c == 0) return L->pairs[mid].cls;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* ---- output ----------------------------------------------------------------------------------- */

/* Collective: a 1-D dataset of total elements, this rank writing [start, start + count). */
static gmr_err write_1d(hid_t file, hid_t dxpl, const char *name, hid_t mtype, hid_t ftype, uint64_t total,
                        uint64_t start, uint64_t count, const void *buf)
{
    gmr_err err = GMR_OK;
    hid_t space = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hsize_t dims = (hsize_t)total, cnt = (hsize_t)count;
    GMR_H5_ID(space, H5Screate_simple(1, &dims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_H5_ID(mspace, H5Screate_simple(1, &cnt, NULL));
    GMR_CALL(gmr__h5_select_range(space, mspace, start, count));
    GMR_CALL_H5(H5Dwrite(dset, mtype, mspace, space, dxpl, buf));
out:
    if (mspace >= 0) H5Sclose(mspace);
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    return err;
}

/* Collective: a small rows x cols double matrix every rank holds; rank 0 writes it. */
static gmr_err write_matrix(hid_t file, hid_t dxpl, int rank, const char *name, int rows, int cols, const double *v)
{
    gmr_err err = GMR_OK;
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    GMR_H5_ID(space, H5Screate_simple(2, dims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(file, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (rank != 0) {
        GMR_CALL_H5(H5Sselect_none(space));
        GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_DOUBLE, space, space, dxpl, v));
    } else {
        GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, dxpl, v));
    }
out:
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    return err;
}

/* Collective: n strings every rank holds as a fixed-length string dataset, written by rank 0. */
static gmr_err write_names(hid_t file, hid_t dxpl, int rank, const char *name, int n, char **s)
{
    gmr_err err = GMR_OK;
    hid_t type = H5I_INVALID_HID;
    size_t w = 1;
    char *buf = NULL;
    for (int i = 0; i < n; i++)
        if (strlen(s[i]) + 1 > w) w = strlen(s[i]) + 1;
    buf = calloc(n > 0 ? (size_t)n : 1, w);
    GMR_CHECK(buf, GMR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * w, s[i], strlen(s[i]));
    GMR_H5_ID(type, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(type, w));
    GMR_CALL(write_1d(file, dxpl, name, type, type, (uint64_t)n, 0, rank == 0 ? (uint64_t)n : 0, buf));
out:
    if (type >= 0) H5Tclose(type);
    free(buf);
    return err;
}

/* ---- the job ---------------------------------------------------------------------------------- */

typedef struct seg_state {
    gmr__table t;
    gmr__seg_rows r;
    gmr__seg_scale sc;
    label_set L;
    int *label, *segment, *fold, nseg, p, *col;
    char **fnames, **ids;
    double *profiles, *theta;
    uint64_t *conf;  /* C x nseg */
} seg_state;

/* Collective: every rank's n ints, concatenated in rank order into out on every rank. */
static gmr_err allgather_ints(MPI_Comm comm, const int *v, size_t n, int *out)
{
    gmr_err err = GMR_OK;
    int size, mine = (int)n, *counts = NULL, *displs = NULL;
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    counts = malloc((size_t)size * sizeof *counts);
    displs = malloc((size_t)size * sizeof *displs);
    AGREE_ALLOC(counts && displs, "out of memory");
    GMR_CALL_MPI(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm));
    displs[0] = 0;
    for (int r = 1; r < size; r++) displs[r] = displs[r - 1] + counts[r - 1];
    GMR_CALL_MPI(MPI_Allgatherv(v, mine, MPI_INT, out, counts, displs, MPI_INT, comm));
out:
    free(counts);
    free(displs);
    return err;
}

/* Collective: per-segment means of the standardised features (exact sums). */
static gmr_err segment_profiles(MPI_Comm comm, seg_state *s)
{
    gmr_err err = GMR_OK;
    int p = s->p, K = s->nseg;
    size_t kp = (size_t)K * (size_t)p;
    int64_t *acc = calloc(kp + (size_t)K + 1, sizeof *acc), *tot = calloc(kp + (size_t)K + 1, sizeof *tot);
    s->profiles = calloc(kp + 1, sizeof *s->profiles);
    AGREE_ALLOC(acc && tot && s->profiles, "out of memory");
    for (size_t i = 0; i < s->r.n; i++) {
        const double *x = s->r.x + i * (size_t)p;
        for (int j = 0; j < p; j++) acc[(size_t)s->segment[i] * (size_t)p + (size_t)j] += (int64_t)(x[j] * 0x1p32);
        acc[kp + (size_t)s->segment[i]]++;
    }
    GMR_CALL_MPI(MPI_Allreduce(acc, tot, (int)(kp + (size_t)K), MPI_INT64_T, MPI_SUM, comm));
    for (int q = 0; q < K; q++)
        for (int j = 0; j < p && tot[kp + (size_t)q] > 0; j++)
            s->profiles[(size_t)q * (size_t)p + (size_t)j] =
                (double)tot[(size_t)q * (size_t)p + (size_t)j] / 0x1p32 / (double)tot[kp + (size_t)q];
out:
    free(acc);
    free(tot);
    return err;
}

/* Collective: the C x nseg confusion counts of the labelled rows. */
static gmr_err confusion(MPI_Comm comm, seg_state *s, const int *pred)
{
    gmr_err err = GMR_OK;
    size_t cells = (size_t)s->L.C * (size_t)s->nseg;
    uint64_t *loc = calloc(cells + 1, sizeof *loc);
    free(s->conf);
    s->conf = calloc(cells + 1, sizeof *s->conf);
    AGREE_ALLOC(loc && s->conf, "out of memory");
    for (size_t i = 0; i < s->r.n; i++)
        if (s->label[i] >= 0) loc[(size_t)s->label[i] * (size_t)s->nseg + (size_t)pred[i]]++;
    GMR_CALL_MPI(MPI_Allreduce(loc, s->conf, (int)cells, MPI_UINT64_T, MPI_SUM, comm));
out:
    free(loc);
    return err;
}

/* Collective: the fold of each labelled row, stratified: the j-th member of class c (in global
 * row order) goes to fold perm_c[j] mod F, perm_c a seeded shuffle of 0..n_c-1. */
static gmr_err make_folds(MPI_Comm comm, seg_state *s, int F, uint64_t seed, uint64_t *nclass)
{
    gmr_err err = GMR_OK;
    int C = s->L.C, rank;
    uint64_t *loc = calloc((size_t)C + 1, sizeof *loc), *before = calloc((size_t)C + 1, sizeof *before);
    uint64_t *perm = NULL;
    AGREE_ALLOC(loc && before, "out of memory");
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    for (size_t i = 0; i < s->r.n; i++)
        if (s->label[i] >= 0) loc[s->label[i]]++;
    GMR_CALL_MPI(MPI_Exscan(loc, before, C, MPI_UINT64_T, MPI_SUM, comm));
    if (rank == 0) memset(before, 0, (size_t)C * sizeof *before);
    GMR_CALL_MPI(MPI_Allreduce(loc, nclass, C, MPI_UINT64_T, MPI_SUM, comm));
    for (size_t i = 0; i < s->r.n; i++) s->fold[i] = -1;
    for (int c = 0; c < C; c++) {
        uint64_t n = nclass[c], x = gmr__mix64(seed ^ gmr__mix64(0xf01d + (uint64_t)c)), j = before[c];
        if (n == 0) continue;
        free(perm);
        perm = malloc(n * sizeof *perm);
        AGREE_ALLOC(perm, "out of memory for the folds of %llu rows", (unsigned long long)n);
        for (uint64_t q = 0; q < n; q++) perm[q] = q;
        for (uint64_t q = n - 1; q > 0; q--) { /* Fisher-Yates */
            uint64_t w = (x += 0x9e3779b97f4a7c15u, gmr__mix64(x)) % (q + 1), tmp = perm[q];
            perm[q] = perm[w];
            perm[w] = tmp;
        }
        for (size_t i = 0; i < s->r.n; i++)
            if (s->label[i] == c) s->fold[i] = (int)(perm[j++] % (uint64_t)F);
    }
out:
    free(loc);
    free(before);
    free(perm);
    return err;
}

/* Collective: labelled rows with mask[i] set, and how many of them theta predicts correctly. */
static gmr_err count_correct(MPI_Comm comm, const seg_state *s, const double *theta, int C, const unsigned char *mask,
                             uint64_t *correct, uint64_t *total)
{
    gmr_err err = GMR_OK;
    uint64_t loc[2] = {0, 0}, tot[2];
    for (size_t i = 0; i < s->r.n; i++)
        if (s->label[i] >= 0 && mask[i]) {
            loc[1]++;
            loc[0] += gmr__mlogit_predict(s->p, C, theta, s->r.x + i * (size_t)s->p) == s->label[i];
        }
    GMR_CALL_MPI(MPI_Allreduce(loc, tot, 2, MPI_UINT64_T, MPI_SUM, comm));
    *correct = tot[0];
    *total = tot[1];
out:
    return err;
}

/* Collective: choose lambda on the rows with use[i] set by holding out fold `hold` among them
 * (or take o->lambda), then fit on all the use rows at that lambda into theta, along the path
 * warm-started from the choice. *index_out: the path index chosen (-1: given). */
static gmr_err fit_selected(MPI_Comm comm, seg_state *s, const seg_opts *o, const unsigned char *use, int hold,
                            double *theta, double *lambda_out, int *index_out, long *iters_out)
{
    gmr_err err = GMR_OK;
    int C = s->L.C, p = s->p, best = 0, it;
    size_t np = ((size_t)p + 1) * (size_t)C;
    unsigned char *train = malloc(s->r.n + 1), *val = malloc(s->r.n + 1);
    double lmax, lip = 0, *th = calloc(np, sizeof *th), *thbest = calloc(np, sizeof *thbest), lambda;
    uint64_t m, bestc = 0, corr = 0, tot = 0;
    gmr__mlogit_opts lo = {o->logit_iter, DEF_LOGIT_TOL};
    AGREE_ALLOC(train && val && th && thbest, "out of memory");
    *iters_out = 0;
    GMR_CALL(gmr__mlogit_lambda_max(comm, &s->r, s->label, use, C, &lmax, &m));
    if (o->have_lambda) {
        lambda = o->lambda;
        best = -1;
    } else {
        for (size_t i = 0; i < s->r.n; i++) {
            train[i] = use[i] && s->fold[i] != hold;
            val[i] = use[i] && s->fold[i] == hold;
        }
        for (int q = 0; q < o->nlambda; q++) {
            double lam = o->nlambda == 1 ? lmax * o->ratio : lmax * pow(o->ratio, (double)q / (o->nlambda - 1));
            GMR_CALL(gmr__mlogit_fit(comm, &s->r, s->label, train, C, lam, &lo, th, &lip, &it));
            *iters_out += it;
            GMR_CALL(count_correct(comm, s, th, C, val, &corr, &tot));
            if (corr > bestc || q == 0) { /* ties: the larger lambda */
                bestc = corr;
                best = q;
                memcpy(thbest, th, np * sizeof *th);
            }
        }
    lambda = o->nlambda == 1 ? lmax * o->ratio : lmax * pow(o->ratio, (double)best / (o->nlambda - 1));
    }
    /* refit on every training row, warm-started from the held-out choice (or from 0) */
    memcpy(theta, thbest, np * sizeof *theta);
    lip = 0;
    GMR_CALL(gmr__mlogit_fit(comm, &s->r, s->label, use, C, lambda, &lo, theta, &lip, &it));
    *iters_out += it;
    *lambda_out = lambda;
    *index_out = best;
out:
    free(train);
    free(val);
    free(th);
    free(thbest);
    return err;
}

static void print_metrics(const seg_state *s, const int *match, uint64_t correct, uint64_t labelled, const char *how)
{
    int C = s->L.C, K = s->nseg;
    printf("accuracy %.6f\n", labelled ? (double)correct / (double)labelled : 0.0);
    printf("  (%llu of %llu labelled customers; %s)\n", (unsigned long long)correct, (unsigned long long)labelled, how);
    printf("  %-32s %9s %9s %9s\n", "class", "precision", "recall", "members");
    for (int c = 0; c < C; c++) {
        uint64_t tp = 0, pred = 0, mem = 0;
        for (int q = 0; q < K; q++) {
            mem += s->conf[(size_t)c * (size_t)K + (size_t)q];
            if (match[q] == c) {
                tp += s->conf[(size_t)c * (size_t)K + (size_t)q];
                for (int d = 0; d < C; d++) pred += s->conf[(size_t)d * (size_t)K + (size_t)q];
            }
        }
        printf("  %-32.32s %9.4f %9.4f %9llu\n", s->L.classes[c], pred ? (double)tp / (double)pred : 0.0,
               mem ? (double)tp / (double)mem : 0.0, (unsigned long long)mem);
    }
    printf("  confusion (rows: classes; columns: %s)\n  %-32s", strstr(how, "matching") ? "clusters" : "predicted classes", "");
    for (int q = 0; q < K; q++) printf(" %8d", q);
    printf("\n");
    for (int c = 0; c < C; c++) {
        printf("  %-32.32s", s->L.classes[c]);
        for (int q = 0; q < K; q++) printf(" %8llu", (unsigned long long)s->conf[(size_t)c * (size_t)K + (size_t)q]);
        printf("\n");
    }
    if (strstr(how, "matching")) {
        printf("  matching  ");
        for (int q = 0; q < K; q++) printf(" %d->%s", q, match[q] >= 0 ? s->L.classes[match[q]] : "(none)");
        printf("\n");
    }
}

/* Rank 0: the segment profiles with gnuplot; a missing gnuplot is a note, not an error. */
static void plot_profiles(const seg_opts *o, const seg_state *s, const char *png)
{
    char dat[4300], cmd[9000];
    FILE *f;
    int p = s->p, K = s->nseg, rc;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "gridmr segment: gnuplot not found: plot skipped (apt-get install gnuplot-nox)\n");
        return;
    }
    snprintf(dat, sizeof dat, "%s.dat", png);
    if (!(f = fopen(dat, "w"))) {
        fprintf(stderr, "gridmr segment: %s: %s: plot skipped\n", dat, strerror(errno));
        return;
    }
    for (int j = 0; j < p; j++) {
        fprintf(f, "%d", j + 1);
        for (int q = 0; q < K; q++) fprintf(f, " %.6g", s->profiles[(size_t)q * (size_t)p + (size_t)j]);
        fprintf(f, "\n");
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "gnuplot -e \"set terminal pngcairo size 1000,500 noenhanced; set output '%s'; "
             "set title 'gridmr segment: %s profiles (%s)'; set xlabel 'feature (column order)'; "
             "set ylabel 'mean standardised value'; set key outside right; set grid; "
             "plot for [q=2:%d] '%s' using 1:q with lines lw 2 title sprintf('segment %%d', q-2)\" 2>&1",
             png, o->supervised ? "predicted class" : "cluster", o->input, K + 1, dat);
    rc = system(cmd);
    if (rc != 0) {
        /* pngcairo may be missing in gnuplot-nox: the plain png terminal */
        char *t = strstr(cmd, "pngcairo");
        if (t) memcpy(t, "png     ", 8);
        rc = system(cmd);
    }
    remove(dat);
    if (rc != 0) fprintf(stderr, "gridmr segment: gnuplot failed: plot skipped\n");
    else if (!o->quiet) printf("  plot       %s\n", png);
}

static int run(MPI_Comm comm, seg_opts *o, int rank, int size)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    seg_state s;
    int *dest = NULL, idc, uniform = 0, C = 0, *match = NULL, idx_int = 0;
    uint64_t *nclass = NULL, labelled = 0, correct = 0, unmatched = 0, loc64[2], tot64[2], nimputed = 0;
    double t0 = MPI_Wtime(), t_read, t_fit, lambda_final = 0, *sil = NULL;
    char **excl = NULL, png[4200];
    int nexcl = 0, kchosen = 0, *yhat = NULL;
    uint64_t nsampled = 0;
    gmr__kmeans_result km;
    hid_t fapl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, file = H5I_INVALID_HID, stype = H5I_INVALID_HID;
    char *idbuf = NULL;
    long iters_total = 0;

    memset(&s, 0, sizeof s);
    memset(&km, 0, sizeof km);
    GMR_CALL(gmr__table_header(comm, o->input, &s.t));
    uniform = 1;
    idc = find_column(s.t.names, s.t.ncols, o->id);
    GMR_CHECK(idc >= 0, GMR_ERR_DATA, "%s: no column '%s' (--id: a name or a 1-based column number)", o->input, o->id);
    if (o->exclude) {
        const char *p = o->exclude;
        for (;;) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            char **t = realloc(excl, (size_t)(nexcl + 1) * sizeof *t);
            AGREE_ALLOC(t, "out of memory");
            excl = t;
            AGREE_ALLOC(excl[nexcl] = strndup(p, len), "out of memory");
            nexcl++;
            GMR_CHECK(find_column(s.t.names, s.t.ncols, excl[nexcl - 1]) >= 0, GMR_ERR_DATA, "%s: no column '%s' (--exclude)",
                      o->input, excl[nexcl - 1]);
            if (!c) break;
            p = c + 1;
        }
    }
    dest = malloc((size_t)s.t.ncols * sizeof *dest);
    s.col = malloc((size_t)s.t.ncols * sizeof *s.col);
    AGREE_ALLOC(dest && s.col, "out of memory for %d columns", s.t.ncols);
    s.p = 0;
    for (int c = 0; c < s.t.ncols; c++) {
        int skip = c == idc || gmr__table_is_text(&s.t, c); /* HDF5 text columns: only as the id */
        for (int e = 0; e < nexcl; e++) skip |= find_column(s.t.names, s.t.ncols, excl[e]) == c;
        dest[c] = skip ? -1 : s.p;
        if (!skip) s.col[s.p++] = c;
    }
    GMR_CHECK(s.p >= 1, GMR_ERR_DATA, "%s: no feature columns (every column is the id or excluded)", o->input);
    s.t.text_col1 = idc + 1; /* text (CSV, HDF5 text) or a number printed (HDF5 numeric) */
    s.t.empty_nan = 1;
    uniform = 0;
    GMR_CALL(gmr__table_read(comm, &s.t, dest, s.p));
    uniform = 1;
    t_read = MPI_Wtime() - t0;
    GMR_CHECK(s.t.total_rows >= 1, GMR_ERR_DATA, "%s: no customers (no rows after the header)", o->input);
    GMR_CHECK(s.t.total_rows <= GMR_SEG_MAX_ROWS, GMR_ERR_DATA, "%s: %llu customers, at most 2^26", o->input,
              (unsigned long long)s.t.total_rows);
    /* the rows as a packed n x p matrix, ids as text */
    s.ids = malloc((s.t.nrows + 1) * sizeof *s.ids);
    GMR_CALL(gmr__agree(comm, s.ids ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
    for (size_t i = 0; i < s.t.nrows; i++) {
        s.ids[i] = s.t.text[i];
        s.t.text[i] = NULL;
        if (!s.ids[i]) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    }
    GMR_CALL(gmr__agree(comm, local));
    s.r.n = s.t.nrows;
    s.r.p = s.p;
    s.r.x = s.t.v;
    s.r.first = s.t.first_row;
    s.r.total = s.t.total_rows;

    /* labels, joined by id */
    s.label = malloc((s.r.n + 1) * sizeof *s.label);
    s.segment = malloc((s.r.n + 1) * sizeof *s.segment);
    s.fold = malloc((s.r.n + 1) * sizeof *s.fold);
    GMR_CALL(gmr__agree(comm, s.label && s.segment && s.fold ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
    for (size_t i = 0; i < s.r.n; i++) s.label[i] = -1, s.fold[i] = -1;
    if (o->labels) {
        uniform = 0;
        GMR_CALL(gmr__agree(comm, read_labels(o, s.t.names[idc], &s.L)));
        uniform = 1;
        C = s.L.C;
        GMR_CHECK(C >= 1, GMR_ERR_DATA, "%s: no labels in column '%s'", o->labels, o->label_col);
        for (size_t i = 0; i < s.r.n; i++) s.label[i] = lookup_label(&s.L, s.ids[i]);
        nclass = calloc((size_t)C + 1, sizeof *nclass);
        AGREE_ALLOC(nclass, "out of memory");
        GMR_CALL(make_folds(comm, &s, o->cv, o->seed, nclass));
        for (int c = 0; c < C; c++) labelled += nclass[c];
        GMR_CHECK(labelled > 0, GMR_ERR_DATA, "%s: none of the customers of %s has a label (ids joined on '%s')", o->labels,
                  o->input, s.t.names[idc]);
        if (rank == 0)
            for (int c = 0; c < C; c++)
                if (nclass[c] == 0)
                    fprintf(stderr,
                            "gridmr segment: warning: class '%s' of %s has no member among the customers of %s: it is "
                            "kept in the report with no members and can never be predicted\n",
                            s.L.classes[c], o->labels, o->input);
        if (o->supervised)
            for (int c = 0; c < C; c++)
                if (nclass[c] > 0 && nclass[c] < (uint64_t)o->cv && rank == 0)
                    fprintf(stderr, "gridmr segment: warning: class '%s' has %llu members for %d folds\n",
                            s.L.classes[c], (unsigned long long)nclass[c], o->cv);
    }

    /* features: impute, transform, standardise */
    s.sc.mean = calloc((size_t)s.p, sizeof(double));
    s.sc.sd = calloc((size_t)s.p, sizeof(double));
    s.sc.missing = calloc((size_t)s.p, sizeof(uint64_t));
    s.sc.dropped = calloc((size_t)s.p, 1);
    s.sc.asinh = calloc((size_t)s.p, 1);
    AGREE_ALLOC(s.sc.mean && s.sc.sd && s.sc.missing && s.sc.dropped && s.sc.asinh, "out of memory");
    GMR_CALL(gmr__seg_standardize(comm, &s.r, o->supervised && o->transform, &s.sc));
    for (int j = 0; j < s.p; j++) nimputed += s.sc.missing[j];

    t0 = MPI_Wtime();
    if (!o->supervised) {
        gmr__kmeans_opts ko = {o->k, o->restarts, o->max_iter, (uint64_t)o->seed};
        if (!o->k) { /* choose k: k-means on a sample (gathered, the same on every rank), each k
                        scored by the sample's mean silhouette; then the chosen k on every row */
            double bestsil = -2;
            int kmax;
            gmr__seg_rows smp;
            gmr__kmeans_result sk;
            GMR_CALL(gmr__seg_sample(comm, &s.r, o->sample, (uint64_t)o->seed, &smp));
            nsampled = smp.total;
            kmax = (uint64_t)o->kmax < smp.total ? o->kmax : (int)smp.total;
            sil = calloc((size_t)o->kmax + 1, sizeof *sil);
            if (kmax < 2 || !sil) free(smp.x);
            GMR_CHECK(kmax >= 2, GMR_ERR_DATA, "%s: %llu customers: too few to choose k (give --k)", o->input,
                      (unsigned long long)s.r.total);
            AGREE_ALLOC(sil, "out of memory");
            for (int k = 2; k <= kmax && !err; k++) {
                ko.k = k;
                err = gmr__kmeans(MPI_COMM_SELF, &smp, &ko, &sk);
                if (!err) err = gmr__silhouette(MPI_COMM_SELF, &smp, sk.assign, k, (int)smp.total, (uint64_t)o->seed, &sil[k]);
                if (!err && sil[k] > bestsil) bestsil = sil[k], kchosen = k;
                gmr__kmeans_free(&sk);
            }
            free(smp.x);
            if (err) goto out;
            ko.k = kchosen;
        } else {
            kchosen = o->k;
        }
        GMR_CALL(gmr__kmeans(comm, &s.r, &ko, &km));
        s.nseg = kchosen;
        memcpy(s.segment, km.assign, s.r.n * sizeof *s.segment);
        if (o->labels) {
            uint64_t *kc = calloc((size_t)kchosen * (size_t)C + 1, sizeof *kc);
            AGREE_ALLOC(kc, "out of memory");
            GMR_CALL(confusion(comm, &s, s.segment));
            for (int c = 0; c < C; c++)
                for (int q = 0; q < kchosen; q++) kc[(size_t)q * (size_t)C + (size_t)c] = s.conf[(size_t)c * (size_t)kchosen + (size_t)q];
            match = malloc((size_t)kchosen * sizeof *match);
            if (!match) free(kc);
            AGREE_ALLOC(match, "out of memory");
            correct = gmr__seg_match(kchosen, C, kc, match);
            free(kc);
        }
    } else {
        /* cross-validation: each fold predicted by a model fitted on the others. When the
         * features fit in --replicate-mb on every rank, they are gathered everywhere and the
         * folds fitted in parallel, fold f on rank f mod size with no communication (tiny data
         * sets are latency-bound otherwise); else every fold uses every rank. The sums are exact
         * either way, so both give the same bits. */
        size_t np = ((size_t)s.p + 1) * (size_t)C;
        int replicate = size > 1 && (double)s.r.total * (double)s.p * 8 <= (double)o->replicate_mb * 1048576.0;
        seg_state rep, *w = &s;
        MPI_Comm wcomm = replicate ? MPI_COMM_SELF : comm;
        unsigned char *use = NULL;
        int *chosen = calloc((size_t)o->cv, sizeof *chosen), *yw = NULL;
        double lam;
        memset(&rep, 0, sizeof rep);
        yhat = malloc((s.r.n + 1) * sizeof *yhat);
        s.theta = calloc(np, sizeof *s.theta);
        AGREE_ALLOC(chosen && yhat && s.theta, "out of memory");
        if (replicate) {
            GMR_CALL(gmr__seg_sample(comm, &s.r, INT32_MAX, 0, &rep.r));
            rep.label = malloc((rep.r.n + 1) * sizeof *rep.label);
            rep.fold = malloc((rep.r.n + 1) * sizeof *rep.fold);
            AGREE_ALLOC(rep.label && rep.fold, "out of memory to replicate %llu customers", (unsigned long long)s.r.total);
            GMR_CALL(allgather_ints(comm, s.label, s.r.n, rep.label));
            GMR_CALL(allgather_ints(comm, s.fold, s.r.n, rep.fold));
            rep.p = s.p;
            rep.L = s.L; /* shared, freed with s */
            w = &rep;
        }
        use = malloc(w->r.n + 1);
        yw = malloc((w->r.n + 1) * sizeof *yw);
        AGREE_ALLOC(use && yw, "out of memory");
        for (size_t i = 0; i < w->r.n; i++) yw[i] = -1;
        for (int f = 0; f < o->cv; f++) {
            long it = 0;
            chosen[f] = -2;
            if (replicate && f % size != rank) continue;
            for (size_t i = 0; i < w->r.n; i++) use[i] = w->label[i] >= 0 && w->fold[i] != f;
            /* replicated: MPI_COMM_SELF, no collective on comm until the agreement below */
            err = fit_selected(wcomm, w, o, use, (f + 1) % o->cv, s.theta, &lam, &chosen[f], &it);
            if (err) break;
            iters_total += it;
            for (size_t i = 0; i < w->r.n; i++)
                if (w->label[i] >= 0 && w->fold[i] == f) yw[i] = gmr__mlogit_predict(s.p, C, s.theta, w->r.x + i * (size_t)s.p);
            gmr_log(GMR_LOG_INFO, "fold %d: lambda %.4g (path index %d), %ld FISTA iterations", f + 1, lam, chosen[f], it);
        }
        if (replicate) { /* every rank agrees on the folds' status, then merges their results */
            long itl = iters_total;
            GMR_CALL(gmr__agree(comm, err));
            GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, yw, (int)w->r.n, MPI_INT, MPI_MAX, comm));
            GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, chosen, o->cv, MPI_INT, MPI_MAX, comm));
            GMR_CALL_MPI(MPI_Allreduce(&itl, &iters_total, 1, MPI_LONG, MPI_SUM, comm));
        }
        for (size_t i = 0; i < s.r.n; i++) yhat[i] = yw[replicate ? s.r.first + i : i];
        if (!err) { /* the final model: every labelled row, lambda at the folds' median path index */
            long it = 0;
            int sorted[1000];
            memcpy(sorted, chosen, (size_t)o->cv * sizeof *chosen);
            for (int a = 1; a < o->cv; a++)
                for (int b = a; b > 0 && sorted[b - 1] > sorted[b]; b--) {
                    int t = sorted[b];
                    sorted[b] = sorted[b - 1];
                    sorted[b - 1] = t;
                }
            idx_int = sorted[o->cv / 2];
            for (size_t i = 0; i < w->r.n; i++) use[i] = w->label[i] >= 0;
            {
                seg_opts o2 = *o;
                if (!o->have_lambda) { /* the same path position on all the labelled rows */
                    double lmax;
                    uint64_t m;
                    err = gmr__mlogit_lambda_max(wcomm, &w->r, w->label, use, C, &lmax, &m);
                    o2.lambda = o->nlambda == 1 ? lmax * o->ratio : lmax * pow(o->ratio, (double)idx_int / (o->nlambda - 1));
                    o2.have_lambda = 1;
                }
                if (!err) err = fit_selected(wcomm, w, &o2, use, -1, s.theta, &lambda_final, &chosen[0], &it);
                if (!err) iters_total += it;
            }
            if (replicate) GMR_CALL(gmr__agree(comm, err));
        }
        free(use);
        free(chosen);
        free(yw);
        free(rep.r.x);
        free(rep.label);
        free(rep.fold);
        if (err) goto out;
        s.nseg = C;
        for (size_t i = 0; i < s.r.n; i++) s.segment[i] = gmr__mlogit_predict(s.p, C, s.theta, s.r.x + i * (size_t)s.p);
        GMR_CALL(confusion(comm, &s, yhat));
        match = malloc((size_t)C * sizeof *match);
        AGREE_ALLOC(match, "out of memory");
        for (int c = 0; c < C; c++) match[c] = c;
        for (int c = 0; c < C; c++) correct += s.conf[(size_t)c * (size_t)C + (size_t)c];
    }
    t_fit = MPI_Wtime() - t0;
    GMR_CALL(segment_profiles(comm, &s));
    loc64[0] = 0;
    for (size_t i = 0; i < s.r.n; i++) loc64[0] += o->labels && s.label[i] < 0;
    loc64[1] = 0;
    GMR_CALL_MPI(MPI_Allreduce(loc64, tot64, 2, MPI_UINT64_T, MPI_SUM, comm));
    unmatched = tot64[0];

    /* SEG.h5 */
    {
        size_t w = 1, mw = 0;
        uint64_t wl, wg;
        int32_t *ibuf = malloc((s.r.n + 1) * sizeof *ibuf);
        GMR_CALL(gmr__agree(comm, ibuf ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
        for (size_t i = 0; i < s.r.n; i++)
            if (strlen(s.ids[i]) + 1 > mw) mw = strlen(s.ids[i]) + 1;
        wl = mw;
        err = MPI_Allreduce(&wl, &wg, 1, MPI_UINT64_T, MPI_MAX, comm) == MPI_SUCCESS ? GMR_OK
                                                                                      : GMR_ERROR(GMR_ERR_MPI, "MPI_Allreduce");
        w = wg ? (size_t)wg : 1;
        idbuf = err ? NULL : calloc(s.r.n + 1, w);
        local = err ? err : (idbuf ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory"));
        if (local) free(ibuf);
        GMR_CALL(gmr__agree(comm, local));
        for (size_t i = 0; i < s.r.n; i++) memcpy(idbuf + i * w, s.ids[i], strlen(s.ids[i]));
        GMR_H5_ID(fapl, H5Pcreate(H5P_FILE_ACCESS));
        GMR_CALL_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
        GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
        GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        file = H5Fcreate(o->output, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (file < 0) {
            H5Eclear2(H5E_DEFAULT);
            free(ibuf);
            GMR_FAIL(GMR_ERR_IO, "%s: cannot create the HDF5 file", o->output);
        }
        GMR_H5_ID(stype, H5Tcopy(H5T_C_S1));
        GMR_CALL_H5(H5Tset_size(stype, w));
        err = write_1d(file, dxpl, "id", stype, stype, s.r.total, s.r.first, s.r.n, idbuf);
        for (size_t i = 0; i < s.r.n; i++) ibuf[i] = s.segment[i];
        if (!err) err = write_1d(file, dxpl, "segment", H5T_NATIVE_INT32, H5T_STD_I32LE, s.r.total, s.r.first, s.r.n, ibuf);
        for (size_t i = 0; i < s.r.n; i++) ibuf[i] = s.label[i];
        if (!err && o->labels) err = write_1d(file, dxpl, "label", H5T_NATIVE_INT32, H5T_STD_I32LE, s.r.total, s.r.first, s.r.n, ibuf);
        for (size_t i = 0; i < s.r.n; i++) ibuf[i] = s.fold[i];
        if (!err && o->supervised) err = write_1d(file, dxpl, "fold", H5T_NATIVE_INT32, H5T_STD_I32LE, s.r.total, s.r.first, s.r.n, ibuf);
        for (size_t i = 0; yhat && i < s.r.n; i++) ibuf[i] = yhat[i];
        if (!err && o->supervised) err = write_1d(file, dxpl, "cv_prediction", H5T_NATIVE_INT32, H5T_STD_I32LE, s.r.total, s.r.first, s.r.n, ibuf);
        free(ibuf);
        if (err) goto out;
        s.fnames = malloc((size_t)s.p * sizeof *s.fnames);
        AGREE_ALLOC(s.fnames, "out of memory");
        for (int j = 0; j < s.p; j++) s.fnames[j] = s.t.names[s.col[j]];
        GMR_CALL(write_names(file, dxpl, rank, "features", s.p, s.fnames));
        GMR_CALL(write_1d(file, dxpl, "feature_mean", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, (uint64_t)s.p, 0,
                          rank == 0 ? (uint64_t)s.p : 0, s.sc.mean));
        GMR_CALL(write_1d(file, dxpl, "feature_sd", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, (uint64_t)s.p, 0,
                          rank == 0 ? (uint64_t)s.p : 0, s.sc.sd));
        GMR_CALL(write_1d(file, dxpl, "feature_missing", H5T_NATIVE_UINT64, H5T_STD_U64LE, (uint64_t)s.p, 0,
                          rank == 0 ? (uint64_t)s.p : 0, s.sc.missing));
        GMR_CALL(write_1d(file, dxpl, "feature_asinh", H5T_NATIVE_UCHAR, H5T_STD_U8LE, (uint64_t)s.p, 0,
                          rank == 0 ? (uint64_t)s.p : 0, s.sc.asinh));
        GMR_CALL(write_1d(file, dxpl, "feature_dropped", H5T_NATIVE_UCHAR, H5T_STD_U8LE, (uint64_t)s.p, 0,
                          rank == 0 ? (uint64_t)s.p : 0, s.sc.dropped));
        GMR_CALL(write_matrix(file, dxpl, rank, "profiles", s.nseg, s.p, s.profiles));
        if (!o->supervised) GMR_CALL(write_matrix(file, dxpl, rank, "centroids", s.nseg, s.p, km.centroids));
        else GMR_CALL(write_matrix(file, dxpl, rank, "coef", s.p + 1, C, s.theta));
        if (o->labels) {
            double *cf = malloc((size_t)C * (size_t)s.nseg * sizeof *cf + 8);
            AGREE_ALLOC(cf, "out of memory");
            for (size_t q = 0; q < (size_t)C * (size_t)s.nseg; q++) cf[q] = (double)s.conf[q];
            err = write_names(file, dxpl, rank, "classes", C, s.L.classes);
            if (!err) err = write_matrix(file, dxpl, rank, "confusion", C, s.nseg, cf);
            free(cf);
            if (err) goto out;
            {
                int32_t *mm = malloc((size_t)s.nseg * sizeof *mm);
                AGREE_ALLOC(mm, "out of memory");
                for (int q = 0; q < s.nseg; q++) mm[q] = match[q];
                err = write_1d(file, dxpl, "match", H5T_NATIVE_INT32, H5T_STD_I32LE, (uint64_t)s.nseg, 0,
                               rank == 0 ? (uint64_t)s.nseg : 0, mm);
                free(mm);
                if (err) goto out;
            }
        }
        {
            char b[64];
            double acc = labelled ? (double)correct / (double)labelled : NAN;
            GMR_CALL(gmr__h5_attr_put_str(file, "job", "segment"));
            GMR_CALL(gmr__h5_attr_put_str(file, "method", o->supervised ? "l1-multinomial-logistic" : "kmeans"));
            GMR_CALL(gmr__h5_attr_put_str(file, "input", o->input));
            snprintf(b, sizeof b, "%d", s.nseg);
            GMR_CALL(gmr__h5_attr_put_str(file, "segments", b));
            snprintf(b, sizeof b, "%llu", o->seed);
            GMR_CALL(gmr__h5_attr_put_str(file, "seed", b));
            GMR_CALL(gmr__h5_attr_put(file, "accuracy", H5T_NATIVE_DOUBLE, 1, &acc));
            if (!o->supervised) GMR_CALL(gmr__h5_attr_put(file, "inertia", H5T_NATIVE_DOUBLE, 1, &km.inertia));
            if (sil) GMR_CALL(gmr__h5_attr_put(file, "silhouette", H5T_NATIVE_DOUBLE, (size_t)o->kmax - 1, sil + 2));
            if (o->supervised) GMR_CALL(gmr__h5_attr_put(file, "lambda", H5T_NATIVE_DOUBLE, 1, &lambda_final));
        }
    }

    if (rank == 0) {
        if (!o->quiet) {
            printf("gridmr segment: %llu customers of %s, %d features (%llu empty cells imputed with the column mean), "
                   "%d ranks\n",
                   (unsigned long long)s.r.total, o->input, s.p, (unsigned long long)nimputed, size);
            {
                int nd = 0, na = 0;
                for (int j = 0; j < s.p; j++) nd += s.sc.dropped[j], na += s.sc.asinh[j];
                printf("  features   standardised; %d constant or empty columns dropped; %d skewed columns asinh-"
                       "transformed\n", nd, na);
            }
            if (o->labels)
                printf("  labels     %s column '%s': %d classes, %llu customers labelled, %llu without a label\n", o->labels,
                       o->label_col, C, (unsigned long long)labelled, (unsigned long long)unmatched);
            if (!o->supervised) {
                if (sil) {
                    printf("  k          %d, the best mean silhouette of k-means on a sample of %llu rows over k = 2..%d:",
                           kchosen, (unsigned long long)nsampled, o->kmax);
                    for (int k = 2; k <= o->kmax && (uint64_t)k <= s.r.total; k++) printf(" %d:%.4f", k, sil[k]);
                    printf("\n");
                } else {
                    printf("  k          %d (given)\n", kchosen);
                }
                printf("  k-means    %d restarts (k-means++ seeding, seed %llu): start %d kept, inertia %.10g, %d "
                       "iterations%s\n",
                       o->restarts, o->seed, km.restart + 1, km.inertia, km.iters, km.converged ? "" : " (not converged)");
                printf("  sizes     ");
                for (int q = 0; q < kchosen; q++) printf(" %llu", (unsigned long long)km.count[q]);
                printf("\n");
            } else {
                printf("  classifier L1 multinomial logistic regression, %d-fold stratified cross-validation (seed "
                       "%llu), lambda %s; final model lambda %.6g; %ld FISTA iterations\n",
                       o->cv, o->seed, o->have_lambda ? "given" : "chosen on a held-out fold of each training part",
                       lambda_final, iters_total);
            }
            printf("  time (s)   read %.3f  fit %.3f\n", t_read, t_fit);
            printf("  output     %s\n", o->output);
        }
        if (o->labels) {
            if (o->quiet) printf("accuracy %.6f\n", labelled ? (double)correct / (double)labelled : 0.0);
            else print_metrics(&s, match, correct, labelled,
                               o->supervised ? "cross-validated predictions" : "best one-to-one matching of clusters to classes");
        }
        if (!o->no_plot) {
            if (o->plot) snprintf(png, sizeof png, "%s", o->plot);
            else {
                size_t l = strlen(o->output);
                snprintf(png, sizeof png, "%.*s.png", (int)(l > 3 && strcmp(o->output + l - 3, ".h5") == 0 ? l - 3 : l),
                         o->output);
            }
            plot_profiles(o, &s, png);
        }
        fflush(stdout);
    }
out:
    if (err) report(rank, uniform);
    if (stype >= 0) H5Tclose(stype);
    if (file >= 0) H5Fclose(file);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (fapl >= 0) H5Pclose(fapl);
    free(idbuf);
    gmr__kmeans_free(&km);
    for (size_t i = 0; s.ids && i < s.r.n; i++) free(s.ids[i]);
    free(s.ids);
    free(s.fnames);
    free(s.label);
    free(s.segment);
    free(s.fold);
    free(s.profiles);
    free(s.theta);
    free(s.conf);
    free(s.col);
    free(s.sc.mean);
    free(s.sc.sd);
    free(s.sc.missing);
    free(s.sc.dropped);
    free(s.sc.asinh);
    labels_free(&s.L);
    gmr__table_free(&s.t);
    for (int e = 0; e < nexcl; e++) free(excl[e]);
    free(excl);
    free(dest);
    free(nclass);
    free(match);
    free(sil);
    free(yhat);
    return gmr__cli_exit_status(err);
}

int gmr_cli_segment(MPI_Comm comm, int argc, char **argv)
{
    seg_opts o;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank != 0) gmr_log_set_rank(rank);
    if (parse_opts(argc, argv, &o)) {
        if (rank == 0) {
            fprintf(stderr, "gridmr segment: %s\n", o.error);
            fprintf(stderr, "run `gridmr segment --help` for the options\n");
        }
        return EXIT_USAGE;
    }
    return run(comm, &o, rank, size);
}
