/* lasso_cli.c: `gridmr lasso`, the command-line front end of the distributed weighted LASSO
 * (src/lasso/, docs/lasso.md). Three modes, all under mpirun on any number of ranks:
 *
 *   fit      gridmr lasso --input DATA.csv --response COL [--weights COL | --kernel COL,...
 *            --z0 V,... --bandwidth H] [--lambda L,... | --nlambda N] [--no-intercept]
 *            [--standardize] --output MODEL.h5
 *   predict  gridmr lasso --predict MODEL.h5 --input DATA.csv [--at K | --lambda L]
 *            [--output PRED.csv]
 *   gamma    gridmr lasso --predict MODEL.h5 --input DATA.csv --points Z.csv [--threshold T]
 *            gamma_locRMSE of the model around each operating point of Z.csv over the rows of
 *            DATA.csv, and which points exceed T (call for a database update)
 *
 * The CSV input is read by row blocks (src/io/table.c): each rank parses its own byte range,
 * so the rows never gather on one rank. Every column other than the response, the weights and
 * the --exclude'd ones is a feature. Errors: a usage error exits 2, bad data (a line that is
 * not numeric, a negative weight, a missing column) exits 65 with one line "FILE:LINE: what",
 * anything else 1. Rank 0 prints results; an error is printed once, by the rank that met it. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "core/rsum.h"
#include "gridmr/lasso.h"
#include "gridmr/log.h"
#include "io/table.h"
#include "lasso_cli.h"
#include "sched/sched.h"

/* where a header lives, for messages: line 1 of a CSV file, nothing for HDF5 */
#define AT1(t) ((t)->hdf5 ? "" : ":1")

typedef struct lasso_opts {
    const char *input, *response, *weights, *output, *predict, *points;
    char *kernel_text, *z0_text;
    char **kernel, **exclude;
    int nkernel, nexclude;
    double *z0, *lambdas;
    int nz0, nlambdas;
    double bandwidth, ratio, tol, threshold, at_lambda;
    int nlambda, max_features, no_intercept, standardize, no_polish, no_screen, quiet, at, method;
    int have_bandwidth, have_threshold, have_at_lambda, have_nlambda;
    long max_passes;
    char text[2048]; /* the options as given (stored in the model) */
    char error[512];
} lasso_opts;

void gmr__cli_lasso_usage(FILE *f)
{
    fprintf(f,
            "usage: gridmr lasso --input DATA.csv|DATA.h5 --response COL [options] --output MODEL.h5\n"
            "       gridmr lasso --predict MODEL.h5 --input DATA.csv [--at K | --lambda L] [--output PRED.csv]\n"
            "       gridmr lasso --predict MODEL.h5 --input DATA.csv --points Z.csv [--threshold T]\n"
            "\n"
            "Weighted LASSO across the ranks of the job (docs/lasso.md): minimises\n"
            "  1/2 sum_i w_i (y_i - b0 - x_i^T b)^2 + lambda sum_j pen_j |b_j|\n"
            "on a CSV file with a header, or an HDF5 file of 1-D datasets, one per column (in the order of\n"
            "its `columns` attribute if it has one); every column but the response, the weights and\n"
            "--exclude is a feature. Writes the path of solutions to MODEL.h5 (`gridmr dump` prints it).\n"
            "\n"
            "fit options:\n"
            "  --response COL        the response column y (required)\n"
            "  --weights COL         observation weights w_i >= 0 from a column (default: all 1)\n"
            "  --kernel COL,...      Gaussian-kernel weights w_i = exp(-||z_i - z0||^2 / (2 h^2)) over\n"
            "                        these columns (they stay features unless --exclude'd), with\n"
            "  --z0 V,...            the operating point z0 (one value per kernel column) and\n"
            "  --bandwidth H         the bandwidth h > 0\n"
            "  --exclude COL,...     columns that are not features (they may hold text)\n"
            "  --lambda L,...        solve at these lambdas only (>= 0, solved in decreasing order)\n"
            "  --nlambda N           path length, log-spaced from lambda_max (default %d)\n"
            "  --lambda-min-ratio R  smallest / largest lambda of the path (default %g when the rows\n"
            "                        with positive weight outnumber the features, else %g)\n"
            "  --tol T               relative duality gap to reach at each lambda (default %g)\n"
            "  --max-passes N        coordinate descent sweeps per lambda (default %d)\n"
            "  --no-intercept        no intercept (the rows are not centred)\n"
            "  --standardize         penalise sd_j |b_j| (glmnet's standardize = TRUE); coefficients\n"
            "                        are reported on the original scale either way\n"
            "  --no-polish           skip the exact active-set solve that finishes each lambda\n"
            "  --no-strong-rules     keep every feature in the working set\n"
            "  --max-features P      the largest p for the Gram method (default %d, at most %d: the\n"
            "                        Gram matrix takes 8 P^2 bytes per rank); above it, FISTA\n"
            "  --method M            auto (default: Gram up to --max-features, FISTA above), gram\n"
            "                        (refuse more features) or fista (one Allreduce of a p-vector per\n"
            "                        iteration over the rows; --max-passes bounds its iterations)\n"
            "  --output MODEL.h5     the model file (required)\n"
            "\n"
            "predict options:\n"
            "  --at K                path index, 1 = lambda_max (default: the last, smallest lambda)\n"
            "  --lambda L            the path's lambda nearest to L instead\n"
            "  --output PRED.csv     predictions, one per row in input order (default: none; the fit\n"
            "                        on DATA is printed when it has the response column)\n"
            "  --points Z.csv        operating points (columns named as the model's kernel columns):\n"
            "                        prints gamma_locRMSE = sqrt(sum_i w_i(z0) r_i^2) over DATA's rows\n"
            "                        around each, with the model's bandwidth (or --bandwidth H)\n"
            "  --threshold T         flag the points whose gamma_locRMSE exceeds T (database update)\n"
            "\n"
            "  --quiet               print nothing but errors and warnings\n"
            "exit status: 0 ok, 1 error, 2 usage, 65 bad input data\n",
            GMR_LASSO_DEFAULT_NLAMBDA, GMR_LASSO_DEFAULT_RATIO_TALL, GMR_LASSO_DEFAULT_RATIO_WIDE, GMR_LASSO_DEFAULT_TOL,
            GMR_LASSO_DEFAULT_MAX_PASSES, GMR_LASSO_DEFAULT_MAX_FEATURES, GMR_LASSO_HARD_MAX_FEATURES);
}

/* ---- options -------------------------------------------------------------------------------- */

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void opts_free(lasso_opts *o)
{
    free_list(o->kernel, o->nkernel);
    free_list(o->exclude, o->nexclude);
    free(o->z0);
    free(o->lambdas);
}

static int fail(lasso_opts *o, const char *fmt, const char *a, const char *b)
{
    snprintf(o->error, sizeof o->error, fmt, a, b);
    return 1;
}

/* "a,b,c" -> names (empty ones are an error). */
static int split_names(const char *text, char ***out, int *n)
{
    const char *p = text;
    *out = NULL;
    *n = 0;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        char **v = realloc(*out, (size_t)(*n + 1) * sizeof *v);
        if (!v || len == 0) {
            if (v) *out = v;
            return -1;
        }
        *out = v;
        if (!(v[*n] = strndup(p, len))) return -1;
        (*n)++;
        if (!c) return 0;
        p = c + 1;
    }
}

static int parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end == s || *end || errno == ERANGE || !isfinite(*v) ? -1 : 0;
}

static int split_values(const char *text, double **out, int *n)
{
    char **names = NULL;
    int k = 0, rc = split_names(text, &names, &k);
    *out = NULL;
    *n = 0;
    if (!rc) {
        *out = malloc((size_t)k * sizeof **out);
        if (!*out) rc = -1;
        for (int i = 0; !rc && i < k; i++) rc = parse_double(names[i], &(*out)[i]);
        if (!rc) *n = k;
    }
    free_list(names, k);
    return rc;
}

static int parse_opts(int argc, char **argv, lasso_opts *o)
{
    memset(o, 0, sizeof *o);
    o->nlambda = GMR_LASSO_DEFAULT_NLAMBDA;
    o->tol = GMR_LASSO_DEFAULT_TOL;
    o->max_passes = GMR_LASSO_DEFAULT_MAX_PASSES;
    o->max_features = GMR_LASSO_DEFAULT_MAX_FEATURES;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        size_t tl = strlen(o->text);
        int flag = strcmp(a, "--no-intercept") == 0 || strcmp(a, "--standardize") == 0 ||
                   strcmp(a, "--no-polish") == 0 || strcmp(a, "--no-strong-rules") == 0 || strcmp(a, "--quiet") == 0;
        if (strcmp(a, "--input") && strcmp(a, "--output") && strcmp(a, "--quiet") && strncmp(a, "--", 2) == 0)
            snprintf(o->text + tl, sizeof o->text - tl, "%s%s%s%s", tl ? " " : "", a, flag || i + 1 >= argc ? "" : " ",
                     flag || i + 1 >= argc ? "" : argv[i + 1]);
        if (strcmp(a, "--no-intercept") == 0) { o->no_intercept = 1; continue; }
        if (strcmp(a, "--standardize") == 0) { o->standardize = 1; continue; }
        if (strcmp(a, "--no-polish") == 0) { o->no_polish = 1; continue; }
        if (strcmp(a, "--no-strong-rules") == 0) { o->no_screen = 1; continue; }
        if (strcmp(a, "--quiet") == 0) { o->quiet = 1; continue; }
        if (strncmp(a, "--", 2) != 0) return fail(o, "unexpected argument '%s'", a, "");
        if (i + 1 >= argc) return fail(o, "%s needs a value", a, "");
        v = argv[++i];
        if (strcmp(a, "--input") == 0) o->input = v;
        else if (strcmp(a, "--response") == 0) o->response = v;
        else if (strcmp(a, "--weights") == 0) o->weights = v;
        else if (strcmp(a, "--output") == 0) o->output = v;
        else if (strcmp(a, "--predict") == 0) o->predict = v;
        else if (strcmp(a, "--points") == 0) o->points = v;
        else if (strcmp(a, "--method") == 0) {
            if (strcmp(v, "auto") == 0) o->method = GMR_LASSO_AUTO;
            else if (strcmp(v, "gram") == 0) o->method = GMR_LASSO_GRAM;
            else if (strcmp(v, "fista") == 0) o->method = GMR_LASSO_FISTA;
            else return fail(o, "--method: '%s' is not auto, gram or fista", v, "");
        }
        else if (strcmp(a, "--kernel") == 0) {
            if (o->kernel || split_names(v, &o->kernel, &o->nkernel)) return fail(o, "--kernel: '%s' is not a list of column names", v, "");
        } else if (strcmp(a, "--exclude") == 0) {
            if (o->exclude || split_names(v, &o->exclude, &o->nexclude)) return fail(o, "--exclude: '%s' is not a list of column names", v, "");
        } else if (strcmp(a, "--z0") == 0) {
            if (o->z0 || split_values(v, &o->z0, &o->nz0)) return fail(o, "--z0: '%s' is not a list of finite numbers", v, "");
        } else if (strcmp(a, "--lambda") == 0) {
            if (o->lambdas || split_values(v, &o->lambdas, &o->nlambdas))
                return fail(o, "--lambda: '%s' is not a list of finite numbers", v, "");
            for (int k = 0; k < o->nlambdas; k++)
                if (o->lambdas[k] < 0) return fail(o, "--lambda: %s is negative (lambda must be >= 0)", v, "");
            o->at_lambda = o->lambdas[0];
            o->have_at_lambda = 1;
        } else if (strcmp(a, "--bandwidth") == 0) {
            if (parse_double(v, &o->bandwidth) || !(o->bandwidth > 0)) return fail(o, "--bandwidth: '%s' is not a positive number", v, "");
            o->have_bandwidth = 1;
        } else if (strcmp(a, "--lambda-min-ratio") == 0) {
            if (parse_double(v, &o->ratio) || !(o->ratio > 0 && o->ratio < 1)) return fail(o, "--lambda-min-ratio: '%s' is not in (0, 1)", v, "");
        } else if (strcmp(a, "--tol") == 0) {
            if (parse_double(v, &o->tol) || !(o->tol > 0 && o->tol < 1)) return fail(o, "--tol: '%s' is not in (0, 1)", v, "");
        } else if (strcmp(a, "--threshold") == 0) {
            if (parse_double(v, &o->threshold) || o->threshold < 0) return fail(o, "--threshold: '%s' is not a number >= 0", v, "");
            o->have_threshold = 1;
        } else if (strcmp(a, "--nlambda") == 0 || strcmp(a, "--max-passes") == 0 || strcmp(a, "--max-features") == 0 ||
                   strcmp(a, "--at") == 0) {
            char *end;
            long n;
            errno = 0;
            n = strtol(v, &end, 10);
            if (*end || end == v || errno || n < 1 || n > 1000000000L) return fail(o, "%s: '%s' is not a positive number", a, v);
            if (strcmp(a, "--nlambda") == 0) {
                if (n > 1000000) return fail(o, "%s: '%s' is more than 1000000 lambdas", a, v);
                o->nlambda = (int)n;
                o->have_nlambda = 1;
            } else if (strcmp(a, "--max-passes") == 0) {
                o->max_passes = n;
            } else if (strcmp(a, "--max-features") == 0) {
                if (n > GMR_LASSO_HARD_MAX_FEATURES) return fail(o, "%s: '%s' is more than the largest Gram matrix (46340)", a, v);
                o->max_features = (int)n;
            } else {
                o->at = (int)n;
            }
        } else {
            return fail(o, "unknown option '%s'", a, "");
        }
    }
    if (!o->input) return fail(o, "%s", "--input DATA.csv is required", "");
    if (o->predict) {
        if (o->response || o->weights || o->kernel || o->z0 || o->have_nlambda || o->method)
            return fail(o, "%s", "--predict takes a model: --response, --weights, --kernel, --z0, --nlambda and --method belong to the fit", "");
        if (o->at && o->have_at_lambda) return fail(o, "%s", "--at and --lambda both choose the lambda: give one", "");
        if (o->have_at_lambda && o->nlambdas != 1) return fail(o, "%s", "--lambda with --predict takes one value", "");
        if (o->have_threshold && !o->points) return fail(o, "%s", "--threshold needs --points Z.csv", "");
        return 0;
    }
    if (o->points || o->at || o->have_threshold) return fail(o, "%s", "--points, --at and --threshold need --predict MODEL.h5", "");
    if (!o->response) return fail(o, "%s", "--response COL is required", "");
    if (!o->output) return fail(o, "%s", "--output MODEL.h5 is required", "");
    if (o->weights && o->kernel) return fail(o, "%s", "--weights and --kernel both give weights: choose one", "");
    if (o->kernel && (!o->z0 || !o->have_bandwidth))
        return fail(o, "%s", "--kernel needs --z0 V,... (the operating point) and --bandwidth H", "");
    if (!o->kernel && (o->z0 || o->have_bandwidth)) return fail(o, "%s", "--z0 and --bandwidth need --kernel COL,...", "");
    if (o->kernel && o->nz0 != o->nkernel) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%d", o->nz0);
        snprintf(b, sizeof b, "%d", o->nkernel);
        return fail(o, "--z0 has %s values for %s kernel columns", a, b);
    }
    if (o->lambdas && o->have_nlambda) return fail(o, "%s", "--lambda and --nlambda both choose the lambdas: give one", "");
    return 0;
}

/* ---- reporting -------------------------------------------------------------------------------- */

/* The first line of the recorded error; uniform: every rank has the same error, rank 0 tells. */
static void report(int rank, int uniform)
{
    if (uniform ? rank != 0 : gmr_err_is_remote()) return;
    gmr__cli_report("lasso");
}

static int in_list(char **v, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0) return 1;
    return 0;
}

/* Collective: every rank checks its own rows' weights; the first negative one is reported. */
static gmr_err check_weights(MPI_Comm comm, const gmr__table *t, int col, const char *name)
{
    gmr_err local = GMR_OK;
    char where[600];
    for (size_t i = 0; i < t->nrows && !local; i++) {
        double w = t->v[i * (size_t)t->width + (size_t)col];
        if (w < 0) {
            gmr__table_where(t, i, where, sizeof where);
            local = GMR_ERROR(GMR_ERR_DATA, "%s: column '%s': weight %g is negative", where, name, w);
        }
    }
    return gmr__agree(comm, local);
}

/* ---- fit ----------------------------------------------------------------------------------------- */

static int run_fit(MPI_Comm comm, lasso_opts *o, int rank, int size)
{
    gmr_err err = GMR_OK;
    gmr__table t;
    gmr_lasso l = NULL;
    gmr_lasso_options lo;
    gmr_lasso_info info;
    int *dest = NULL, *kcol = NULL, p = 0, resp, wcol = -1, width, uniform = 0;
    const char **names = NULL;
    double *w = NULL, t0 = MPI_Wtime(), t_read = 0, t_write = 0;
    char buf[256];

    memset(&t, 0, sizeof t);
    GMR_CALL(gmr__table_header(comm, o->input, &t));
    /* columns: identical on every rank */
    uniform = 1;
    resp = gmr__table_column(&t, o->response);
    GMR_CHECK(resp >= 0, GMR_ERR_DATA, "%s%s: no column named '%s' (the response)", o->input, AT1(&t), o->response);
    if (o->weights) {
        wcol = gmr__table_column(&t, o->weights);
        GMR_CHECK(wcol >= 0, GMR_ERR_DATA, "%s%s: no column named '%s' (the weights)", o->input, AT1(&t), o->weights);
        GMR_CHECK(wcol != resp, GMR_ERR_ARG, "the response '%s' cannot be the weights too", o->response);
    }
    for (int i = 0; i < o->nexclude; i++) {
        GMR_CHECK(gmr__table_column(&t, o->exclude[i]) >= 0, GMR_ERR_DATA, "%s%s: no column named '%s' (--exclude)",
                  o->input, AT1(&t), o->exclude[i]);
    }
    dest = malloc((size_t)t.ncols * sizeof *dest);
    names = malloc((size_t)t.ncols * sizeof *names);
    kcol = malloc(((size_t)o->nkernel + 1) * sizeof *kcol);
    GMR_CHECK(dest && names && kcol, GMR_ERR_NOMEM, "out of memory for %d columns", t.ncols);
    for (int c = 0; c < t.ncols; c++) {
        dest[c] = -1;
        /* an HDF5 text column (a name) is no feature unless named: then the reader says so */
        if (c == resp || c == wcol || in_list(o->exclude, o->nexclude, t.names[c]) || gmr__table_is_text(&t, c)) continue;
        for (int d = 0; d < c; d++)
            GMR_CHECK(strcmp(t.names[d], t.names[c]) != 0 || dest[d] < 0, GMR_ERR_DATA,
                      "%s%s: two feature columns are named '%s'", o->input, AT1(&t), t.names[c]);
        names[p] = t.names[c];
        dest[c] = p++;
    }
    GMR_CHECK(p >= 1, GMR_ERR_DATA, "%s: no feature columns (every column is the response, the weights or excluded)",
              o->input);
    width = p + 1;
    dest[resp] = p;
    if (wcol >= 0) dest[wcol] = width++;
    for (int k = 0; k < o->nkernel; k++) {
        int c = gmr__table_column(&t, o->kernel[k]);
        GMR_CHECK(c >= 0, GMR_ERR_DATA, "%s%s: no column named '%s' (--kernel)", o->input, AT1(&t), o->kernel[k]);
        GMR_CHECK(c != resp && c != wcol, GMR_ERR_ARG, "kernel column '%s' is the response or the weights", o->kernel[k]);
        if (dest[c] < 0) dest[c] = width++; /* an excluded column still gives the kernel its values */
        kcol[k] = dest[c];
    }
    uniform = 0;

    GMR_CALL(gmr__table_read(comm, &t, dest, width));
    uniform = 1;
    GMR_CHECK(t.total_rows > 0, GMR_ERR_DATA, "%s: no rows after the header", o->input);
    uniform = 0;
    if (wcol >= 0) GMR_CALL(check_weights(comm, &t, dest[wcol], o->weights));
    if (o->kernel) {
        w = malloc((t.nrows + 1) * sizeof *w);
        uniform = 0;
        GMR_CALL(gmr__agree(comm, w ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate %zu weights", t.nrows)));
        uniform = 1; /* the values were checked when read: only the bandwidth can be wrong, everywhere */
        GMR_CALL(gmr_lasso_kernel_weights(t.nrows, t.v, (size_t)t.width, o->nkernel, kcol, o->z0, o->bandwidth, w, NULL));
    }
    t_read = MPI_Wtime() - t0;

    uniform = 1;
    gmr_lasso_options_init(&lo);
    lo.intercept = !o->no_intercept;
    lo.standardize = o->standardize;
    lo.nlambda = o->nlambda;
    lo.lambda_min_ratio = o->ratio;
    lo.lambdas = o->lambdas;
    lo.nlambdas = o->nlambdas;
    lo.tol = o->tol;
    lo.max_passes = o->max_passes;
    lo.strong_rules = !o->no_screen;
    lo.polish = !o->no_polish;
    lo.max_features = o->max_features;
    lo.method = (gmr_lasso_method)o->method;
    GMR_CALL(gmr_lasso_create(comm, &l));
    GMR_CALL(gmr_lasso_set_options(l, &lo));
    GMR_CALL(gmr_lasso_set_names(l, p, names));
    GMR_CALL(gmr_lasso_set_attr(l, "options", o->text));
    GMR_CALL(gmr_lasso_set_attr(l, "input", o->input));
    GMR_CALL(gmr_lasso_set_attr(l, "response", o->response));
    GMR_CALL(gmr_lasso_set_attr(l, "weights", o->weights ? o->weights : (o->kernel ? "kernel" : "none")));
    if (o->kernel) {
        GMR_CALL(gmr_lasso_set_attr(l, "kernel", o->kernel_text));
        GMR_CALL(gmr_lasso_set_attr(l, "z0", o->z0_text));
        snprintf(buf, sizeof buf, "%.17g", o->bandwidth);
        GMR_CALL(gmr_lasso_set_attr(l, "bandwidth", buf));
    }
    uniform = 0;
    {
        gmr_lasso_rows rows = {.nrows = t.nrows,
                               .p = p,
                               .x = t.v,
                               .ldx = (size_t)t.width,
                               .y = t.v + p,
                               .incy = (size_t)t.width,
                               .w = o->kernel ? w : (wcol >= 0 ? t.v + dest[wcol] : NULL),
                               .incw = o->kernel ? 1 : (size_t)t.width};
        GMR_CALL(gmr_lasso_set_data(l, &rows));
    }
    GMR_CALL(gmr_lasso_solve(l));
    {
        double tw = MPI_Wtime();
        GMR_CALL(gmr_lasso_write(l, o->output));
        t_write = MPI_Wtime() - tw;
    }
    GMR_CALL(gmr_lasso_get_info(l, &info));
    if (rank == 0) {
        gmr_lasso_fit first, last;
        double worst = 0;
        int worst_k = -1;
        gmr_lasso_get_fit(l, 0, &first);
        gmr_lasso_get_fit(l, info.nlambda - 1, &last);
        for (int k = 0; k < info.nlambda; k++) {
            gmr_lasso_fit f;
            gmr_lasso_get_fit(l, k, &f);
            if (f.rel_gap > worst) {
                worst = f.rel_gap;
                worst_k = k;
            }
        }
        for (int j = 0; j < p; j++)
            if (info.constant[j])
                fprintf(stderr, "gridmr lasso: warning: column '%s' is constant%s: its coefficient is 0\n", names[j],
                        lo.intercept ? " (zero weighted variance)" : " (all zero)");
        if (info.npositive <= (uint64_t)p)
            fprintf(stderr,
                    "gridmr lasso: warning: %llu rows with a positive weight for %d features: the solution may not be "
                    "unique (the objective is)\n",
                    (unsigned long long)info.npositive, p);
        if (info.nconverged < info.nlambda) {
            gmr_lasso_fit f;
            gmr_lasso_get_fit(l, worst_k, &f);
            fprintf(stderr,
                    "gridmr lasso: warning: %d of %d lambdas did not reach the relative gap %g (worst %.3g at lambda "
                    "%.6g, index %d): they are kept and flagged in /converged; raise --max-passes\n",
                    info.nlambda - info.nconverged, info.nlambda, o->tol, f.rel_gap, f.lambda, worst_k + 1);
        }
        if (!o->quiet) {
            printf("gridmr lasso: %llu rows (%llu with a positive weight), %d features, %d ranks\n",
                   (unsigned long long)info.nrows, (unsigned long long)info.npositive, p, size);
            printf("  response   %s; weights %s%s; intercept %s; standardize %s; method %s\n", o->response,
                   o->weights ? "column " : (o->kernel ? "Gaussian kernel on " : "none"),
                   o->weights ? o->weights : (o->kernel ? o->kernel_text : ""), lo.intercept ? "yes" : "no",
                   lo.standardize ? "yes" : "no", info.method == GMR_LASSO_FISTA ? "FISTA" : "Gram");
            printf("  lambda     %d, from %.6g down to %.6g (lambda_max %.6g, sum of weights %.6g)\n", info.nlambda,
                   first.lambda, last.lambda, info.lambda_max, info.sum_w);
            printf("  converged  %d of %d to relative duality gap %g (largest %.3g)\n", info.nconverged, info.nlambda,
                   o->tol, worst);
            printf("  last       lambda %.6g: %d non-zero, R^2 %.6f, RMSE %.6g, gamma_locRMSE %.6g\n", last.lambda,
                   last.nonzero, last.r2, last.rmse, last.gamma_locrmse);
            printf("  time (s)   read %.3f  statistics %.3f  solve %.3f  write %.3f  total %.3f\n", t_read,
                   info.t_stats, info.t_solve, t_write, MPI_Wtime() - t0);
            printf("  model      %s\n", o->output);
        }
    }
out:
    if (err) report(rank, uniform);
    gmr_lasso_destroy(&l);
    gmr__table_free(&t);
    free(dest);
    free(names);
    free(kcol);
    free(w);
    return gmr__cli_exit_status(err);
}

/* ---- predict and gamma --------------------------------------------------------------------------- */

/* Collective: one "%.17g" line per local value, after a header line, in rank order (MPI-IO,
 * each rank at its offset; at most 2 GiB of text per rank). */
static gmr_err write_column(MPI_Comm comm, const char *path, const char *header, const double *v, size_t n)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    char *buf = NULL;
    size_t len = 0, cap = 32 * n + strlen(header) + 2;
    long long mine, before = 0;
    int rank;
    MPI_File fh = MPI_FILE_NULL;
    MPI_Status st;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    buf = malloc(cap);
    if (!buf) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot format %zu predictions", n);
    if (buf && rank == 0) len += (size_t)sprintf(buf, "%s\n", header);
    for (size_t i = 0; buf && i < n; i++) len += (size_t)sprintf(buf + len, "%.17g\n", v[i]);
    if (!local && len > 0x7fffffffu) local = GMR_ERROR(GMR_ERR_ARG, "%s: more than 2 GiB of predictions on one rank", path);
    GMR_CALL(gmr__agree(comm, local));
    mine = (long long)len;
    GMR_CALL_MPI(MPI_Exscan(&mine, &before, 1, MPI_LONG_LONG, MPI_SUM, comm));
    if (rank == 0) before = 0;
    {
        int rc = MPI_File_open(comm, path, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
        GMR_CHECK(rc == MPI_SUCCESS, GMR_ERR_IO, "%s: cannot create the file", path);
    }
    GMR_CALL_MPI(MPI_File_set_size(fh, 0));
    GMR_CALL_MPI(MPI_File_write_at_all(fh, (MPI_Offset)before, buf, (int)len, MPI_CHAR, &st));
out:
    if (fh != MPI_FILE_NULL) MPI_File_close(&fh);
    free(buf);
    return err;
}

/* Rank 0 reads a small CSV of operating points (the kernel columns), every rank gets them. */
static gmr_err read_points(MPI_Comm comm, const char *path, char **kernel, int nk, double **z0, int *npoints)
{
    gmr_err err = GMR_OK;
    gmr__table t;
    int *dest = NULL;
    memset(&t, 0, sizeof t);
    GMR_CALL(gmr__table_header(comm, path, &t));
    dest = malloc((size_t)t.ncols * sizeof *dest);
    GMR_CHECK(dest, GMR_ERR_NOMEM, "out of memory");
    for (int c = 0; c < t.ncols; c++) dest[c] = -1;
    for (int k = 0; k < nk; k++) {
        int c = gmr__table_column(&t, kernel[k]);
        GMR_CHECK(c >= 0, GMR_ERR_DATA, "%s%s: no column named '%s' (a kernel column of the model)", path, AT1(&t), kernel[k]);
        dest[c] = k;
    }
    GMR_CALL(gmr__table_read(comm, &t, dest, nk));
    GMR_CHECK(t.total_rows >= 1 && t.total_rows <= 10000000, GMR_ERR_DATA, "%s: %llu operating points (1 to 10^7)", path,
              (unsigned long long)t.total_rows);
    {
        int n = (int)t.nrows, *counts = NULL, *displs = NULL, size;
        GMR_CALL_MPI(MPI_Comm_size(comm, &size));
        counts = malloc((size_t)size * sizeof *counts);
        displs = malloc((size_t)size * sizeof *displs);
        *z0 = malloc((size_t)t.total_rows * (size_t)nk * sizeof **z0);
        GMR_CHECK(counts && displs && *z0, GMR_ERR_NOMEM, "out of memory for the operating points");
        n *= nk;
        GMR_CALL_MPI(MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, comm));
        displs[0] = 0;
        for (int r = 1; r < size; r++) displs[r] = displs[r - 1] + counts[r - 1];
        GMR_CALL_MPI(MPI_Allgatherv(t.v, n, MPI_DOUBLE, *z0, counts, displs, MPI_DOUBLE, comm));
        *npoints = (int)t.total_rows;
        free(counts);
        free(displs);
    }
out:
    free(dest);
    gmr__table_free(&t);
    return err;
}

static int run_predict(MPI_Comm comm, lasso_opts *o, int rank)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr_lasso_model m = NULL;
    gmr__table t;
    gmr_lasso_fit f;
    int *dest = NULL, p, k, uniform = 0, resp = -1, width, nk = 0, *kcol = NULL, npoints = 0;
    const char *rname, *kattr;
    char **kernel = NULL;
    double *yhat = NULL, *z0 = NULL, *gam = NULL, *lrms = NULL, h = o->bandwidth;

    memset(&t, 0, sizeof t);
    local = gmr_lasso_model_read(o->predict, &m);
    GMR_CALL(gmr__agree(comm, local));
    uniform = 1;
    p = gmr_lasso_model_p(m);
    if (o->have_at_lambda) { /* the path's lambda nearest to L */
        k = 0;
        for (int q = 1; q < gmr_lasso_model_nlambda(m); q++) {
            gmr_lasso_fit a, b;
            gmr_lasso_model_fit(m, q, &a);
            gmr_lasso_model_fit(m, k, &b);
            if (fabs(a.lambda - o->at_lambda) < fabs(b.lambda - o->at_lambda)) k = q;
        }
    } else {
        k = o->at ? o->at - 1 : gmr_lasso_model_nlambda(m) - 1;
        GMR_CHECK(k < gmr_lasso_model_nlambda(m), GMR_ERR_ARG, "--at %d: the model has %d lambdas", o->at,
                  gmr_lasso_model_nlambda(m));
    }
    GMR_CALL(gmr_lasso_model_fit(m, k, &f));
    uniform = 0;
    GMR_CALL(gmr__table_header(comm, o->input, &t));
    uniform = 1;
    dest = malloc((size_t)t.ncols * sizeof *dest);
    GMR_CHECK(dest, GMR_ERR_NOMEM, "out of memory for %d columns", t.ncols);
    for (int c = 0; c < t.ncols; c++) dest[c] = -1;
    for (int j = 0; j < p; j++) {
        int c = gmr__table_column(&t, gmr_lasso_model_name(m, j));
        GMR_CHECK(c >= 0, GMR_ERR_DATA, "%s%s: no column named '%s' (a feature of the model)", o->input, AT1(&t),
                  gmr_lasso_model_name(m, j));
        dest[c] = j;
    }
    width = p;
    rname = gmr_lasso_model_attr(m, "response");
    if (rname && (resp = gmr__table_column(&t, rname)) >= 0 && dest[resp] < 0) dest[resp] = width++;
    if (o->points) {
        GMR_CHECK(resp >= 0 && dest[resp] == p, GMR_ERR_DATA,
                  "%s%s: no column named '%s': gamma_locRMSE needs the response of the rows", o->input, AT1(&t),
                  rname ? rname : "(the model has no response name)");
        kattr = gmr_lasso_model_attr(m, "kernel");
        GMR_CHECK(kattr && split_names(kattr, &kernel, &nk) == 0, GMR_ERR_ARG,
                  "%s: the model was not fitted with --kernel, so it has no operating-point columns", o->predict);
        if (!o->have_bandwidth) {
            const char *b = gmr_lasso_model_attr(m, "bandwidth");
            GMR_CHECK(b && parse_double(b, &h) == 0 && h > 0, GMR_ERR_DATA, "%s: no bandwidth in the model", o->predict);
        }
        kcol = malloc((size_t)nk * sizeof *kcol);
        GMR_CHECK(kcol, GMR_ERR_NOMEM, "out of memory");
        for (int q = 0; q < nk; q++) {
            int c = gmr__table_column(&t, kernel[q]);
            GMR_CHECK(c >= 0, GMR_ERR_DATA, "%s%s: no column named '%s' (a kernel column of the model)", o->input, AT1(&t),
                      kernel[q]);
            if (dest[c] < 0) dest[c] = width++;
            kcol[q] = dest[c];
        }
    }
    uniform = 0;
    GMR_CALL(gmr__table_read(comm, &t, dest, width));
    yhat = malloc((t.nrows + 1) * sizeof *yhat);
    GMR_CALL(gmr__agree(comm, yhat ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate %zu predictions", t.nrows)));
    GMR_CALL(gmr_lasso_model_predict(m, k, t.nrows, t.v, (size_t)t.width, yhat));
    if (o->output && !o->points) GMR_CALL(write_column(comm, o->output, "prediction", yhat, t.nrows));
    if (resp >= 0 && dest[resp] == p) {
        /* the fit on these rows: R^2, RMSE, gamma_locRMSE with unit weights (eqs. 3, 4 and 1) */
        /* exact sums (src/core/xsum.h), so the figures do not depend on the rank count */
        gmr__xsum xs[4];
        double tot[4];
        gmr_err bad = GMR_OK;
        for (int q = 0; q < 4; q++) gmr__xsum_init(&xs[q]);
        for (size_t i = 0; i < t.nrows && !bad; i++) {
            double y = t.v[i * (size_t)t.width + (size_t)p], r = y - yhat[i];
            if (gmr__xsum_add(&xs[0], r * r) || gmr__xsum_add(&xs[1], y) || gmr__xsum_add(&xs[2], y * y))
                bad = GMR_ERROR(GMR_ERR_DATA, "%s:%llu: response %g or its residual %g is too large to sum (2^40 or more)",
                                o->input, (unsigned long long)t.line[i], y, r);
        }
        GMR_CALL(gmr__agree(comm, bad));
        GMR_CALL(gmr__xsum_allreduce(comm, xs, xs, 3));
        for (int q = 0; q < 3; q++) tot[q] = gmr__xsum_round(&xs[q]);
        tot[3] = (double)t.total_rows;
        if (rank == 0 && !o->quiet) {
            double tss = tot[2] - tot[1] * tot[1] / tot[3];
            printf("gridmr lasso: %s at lambda %.17g (index %d of %d): %llu rows of %s\n", o->predict, f.lambda, k + 1,
                   gmr_lasso_model_nlambda(m), (unsigned long long)t.total_rows, o->input);
            printf("  R^2 %.17g  RMSE %.17g  gamma_locRMSE %.17g\n", tss > 0 ? 1 - tot[0] / tss : 0,
                   tot[3] > 0 ? sqrt(tot[0] / tot[3]) : 0, sqrt(tot[0]));
        }
    } else if (rank == 0 && !o->quiet) {
        printf("gridmr lasso: %s at lambda %.17g (index %d of %d): %llu rows of %s (no '%s' column: no fit figures)\n",
               o->predict, f.lambda, k + 1, gmr_lasso_model_nlambda(m), (unsigned long long)t.total_rows, o->input,
               rname ? rname : "response");
    }
    if (o->points) {
        int flagged = 0;
        GMR_CALL(read_points(comm, o->points, kernel, nk, &z0, &npoints));
        gam = malloc((size_t)npoints * sizeof *gam);
        lrms = malloc((size_t)npoints * sizeof *lrms);
        GMR_CALL(gmr__agree(comm, gam && lrms ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory for %d points", npoints)));
        {
            gmr_lasso_rows rows = {.nrows = t.nrows, .p = p, .x = t.v, .ldx = (size_t)t.width, .y = t.v + p,
                                   .incy = (size_t)t.width};
            GMR_CALL(gmr_lasso_model_gamma(comm, m, k, &rows, t.v, (size_t)t.width, nk, kcol, h, npoints, z0, gam, lrms));
        }
        for (int q = 0; q < npoints; q++) flagged += o->have_threshold && gam[q] > o->threshold;
        if (rank == 0) {
            for (int q = 0; q < npoints && !o->quiet; q++)
                printf("point %d gamma_locRMSE %.17g locrms %.17g%s\n", q + 1, gam[q], lrms[q],
                       o->have_threshold ? (gam[q] > o->threshold ? " update" : " ok") : "");
            if (o->have_threshold)
                printf("gridmr lasso: %d of %d operating points exceed gamma_locRMSE %.6g (bandwidth %.6g): %s\n", flagged,
                       npoints, o->threshold, h, flagged ? "update the database" : "no update needed");
        }
    }
out:
    if (err) report(rank, uniform);
    gmr_lasso_model_destroy(&m);
    gmr__table_free(&t);
    free_list(kernel, nk);
    free(kcol);
    free(dest);
    free(yhat);
    free(z0);
    free(gam);
    free(lrms);
    return gmr__cli_exit_status(err);
}

int gmr_cli_lasso(MPI_Comm comm, int argc, char **argv)
{
    lasso_opts o;
    int rank = 0, size = 1, status;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank != 0) gmr_log_set_rank(rank);
    if (parse_opts(argc, argv, &o)) {
        if (rank == 0) {
            fprintf(stderr, "gridmr lasso: %s\n", o.error);
            fprintf(stderr, "run `gridmr lasso --help` for the options\n");
        }
        opts_free(&o);
        return EXIT_USAGE;
    }
    for (int i = 1; i + 1 < argc; i++) { /* the lists as given, for the model's attributes */
        if (strcmp(argv[i], "--kernel") == 0) o.kernel_text = argv[i + 1];
        if (strcmp(argv[i], "--z0") == 0) o.z0_text = argv[i + 1];
    }
    status = o.predict ? run_predict(comm, &o, rank) : run_fit(comm, &o, rank, size);
    opts_free(&o);
    return status;
}
