/* lasso.c: the gmr_lasso handle: options, the path of lambdas, the solve and its results
 * (coordinate descent on the Gram matrix in cd.c, or FISTA on the rows in fista.c).
 *
 * The statistics (stats.c) are the same bits on every rank and for every rank count (they are
 * summed by fixed row blocks along a fixed tree, src/core/rsum.h, and broadcast), and nothing
 * after them depends on the rank count, so the path is too; every rank solves, then takes rank
 * 0's path anyway (one MPI_Bcast of nlambda x (p + 12) doubles), which guards against a BLAS
 * that would not give the same bits on every rank. The solve costs O(p^2) per sweep and no
 * communication. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridmr/log.h"
#include "lasso_impl.h"
#include "sched/sched.h"

const char *const gmr__lasso_field_names[GMR__LF_COUNT] = {
    "lambda", "objective", "gap", "rel_gap", "intercept", "r2", "rmse", "gamma_locrmse",
    "passes", "nonzero", "converged", "polished",
};

void gmr_lasso_options_init(gmr_lasso_options *o)
{
    memset(o, 0, sizeof *o);
    o->intercept = 1;
    o->standardize = 0;
    o->nlambda = GMR_LASSO_DEFAULT_NLAMBDA;
    o->lambda_min_ratio = 0;
    o->tol = GMR_LASSO_DEFAULT_TOL;
    o->max_passes = GMR_LASSO_DEFAULT_MAX_PASSES;
    o->strong_rules = 1;
    o->polish = 1;
    o->max_features = GMR_LASSO_DEFAULT_MAX_FEATURES;
    o->method = GMR_LASSO_AUTO;
}

gmr_err gmr__lasso_path_alloc(gmr__lasso_path *path, int p, int nlambda)
{
    gmr_err err = GMR_OK;
    size_t nf = (size_t)GMR__LF_COUNT * (size_t)nlambda;
    gmr__lasso_path_free(path);
    path->buf = calloc(nf + (size_t)nlambda * (size_t)p + 1, sizeof *path->buf);
    GMR_CHECK(path->buf, GMR_ERR_NOMEM, "cannot allocate a path of %d lambdas x %d features", nlambda, p);
    path->p = p;
    path->nlambda = nlambda;
    for (int f = 0; f < GMR__LF_COUNT; f++) path->field[f] = path->buf + (size_t)f * (size_t)nlambda;
    path->beta = path->buf + nf;
out:
    return err;
}

void gmr__lasso_path_free(gmr__lasso_path *path)
{
    free(path->buf);
    memset(path, 0, sizeof *path);
}

void gmr__lasso_path_get(const gmr__lasso_path *path, int k, gmr_lasso_fit *f)
{
    double *const *v = path->field;
    f->lambda = v[GMR__LF_LAMBDA][k];
    f->objective = v[GMR__LF_OBJECTIVE][k];
    f->gap = v[GMR__LF_GAP][k];
    f->rel_gap = v[GMR__LF_REL_GAP][k];
    f->intercept = v[GMR__LF_INTERCEPT][k];
    f->beta = path->beta + (size_t)k * (size_t)path->p;
    f->nonzero = (int)v[GMR__LF_NONZERO][k];
    f->passes = (long)v[GMR__LF_PASSES][k];
    f->converged = v[GMR__LF_CONVERGED][k] != 0;
    f->polished = v[GMR__LF_POLISHED][k] != 0;
    f->r2 = v[GMR__LF_R2][k];
    f->rmse = v[GMR__LF_RMSE][k];
    f->gamma_locrmse = v[GMR__LF_GAMMA][k];
}

gmr_err gmr__lasso_attrs_set(gmr__lasso_attrs *a, const char *name, const char *value)
{
    gmr_err err = GMR_OK;
    char *n = NULL, *v = NULL, **nn, **vv;
    int i;
    for (i = 0; i < a->n && strcmp(a->name[i], name) != 0; i++) {}
    v = strdup(value);
    GMR_CHECK(v, GMR_ERR_NOMEM, "cannot copy attribute %s", name);
    if (i < a->n) {
        free(a->value[i]);
        a->value[i] = v;
        return GMR_OK;
    }
    n = strdup(name);
    nn = realloc(a->name, (size_t)(a->n + 1) * sizeof *nn);
    if (nn) a->name = nn;
    vv = realloc(a->value, (size_t)(a->n + 1) * sizeof *vv);
    if (vv) a->value = vv;
    GMR_CHECK(n && nn && vv, GMR_ERR_NOMEM, "cannot copy attribute %s", name);
    a->name[a->n] = n;
    a->value[a->n] = v;
    a->n++;
    return GMR_OK;
out:
    free(n);
    free(v);
    return err;
}

const char *gmr__lasso_attrs_get(const gmr__lasso_attrs *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], name) == 0) return a->value[i];
    return NULL;
}

void gmr__lasso_attrs_free(gmr__lasso_attrs *a)
{
    for (int i = 0; i < a->n; i++) {
        free(a->name[i]);
        free(a->value[i]);
    }
    free(a->name);
    free(a->value);
    memset(a, 0, sizeof *a);
}

gmr_err gmr_lasso_create(MPI_Comm comm, gmr_lasso *out)
{
    gmr_err err = GMR_OK;
    gmr_lasso l = NULL;
    GMR_CHECK(out, GMR_ERR_ARG, "gmr_lasso_create: NULL output");
    *out = NULL;
    l = calloc(1, sizeof *l);
    GMR_CHECK(l, GMR_ERR_NOMEM, "cannot allocate a lasso solver");
    l->comm = MPI_COMM_NULL;
    GMR_CALL_MPI(MPI_Comm_dup(comm, &l->comm));
    GMR_CALL_MPI(MPI_Comm_set_errhandler(l->comm, MPI_ERRORS_RETURN));
    GMR_CALL_MPI(MPI_Comm_rank(l->comm, &l->rank));
    GMR_CALL_MPI(MPI_Comm_size(l->comm, &l->size));
    gmr_lasso_options_init(&l->opt);
    *out = l;
    l = NULL;
out:
    gmr_lasso_destroy(&l);
    return err;
}

void gmr_lasso_destroy(gmr_lasso *lp)
{
    gmr_lasso l;
    if (!lp || !*lp) return;
    l = *lp;
    if (l->comm != MPI_COMM_NULL) MPI_Comm_free(&l->comm);
    free(l->lambdas);
    for (int i = 0; i < l->nnames; i++) free(l->names[i]);
    free(l->names);
    gmr__lasso_attrs_free(&l->attrs);
    free(l->G);
    free(l->c);
    free(l->xmean);
    free(l->pen);
    free(l->constant);
    free(l->diag);
    gmr__lasso_blocks_free(&l->blk);
    gmr__lasso_path_free(&l->path);
    free(l);
    *lp = NULL;
}

gmr_err gmr_lasso_set_options(gmr_lasso l, const gmr_lasso_options *o)
{
    gmr_err err = GMR_OK;
    double *copy = NULL;
    GMR_CHECK(l && o, GMR_ERR_ARG, "gmr_lasso_set_options: NULL argument");
    GMR_CHECK(o->tol > 0 && o->tol < 1, GMR_ERR_ARG, "tolerance %g is not in (0, 1)", o->tol);
    GMR_CHECK(o->lambda_min_ratio == 0 || (o->lambda_min_ratio > 0 && o->lambda_min_ratio < 1), GMR_ERR_ARG,
              "lambda_min_ratio %g is not in (0, 1)", o->lambda_min_ratio);
    GMR_CHECK(o->max_passes >= 1, GMR_ERR_ARG, "max_passes %ld is not positive", o->max_passes);
    GMR_CHECK(o->max_features >= 1 && o->max_features <= GMR_LASSO_HARD_MAX_FEATURES, GMR_ERR_ARG,
              "max_features %d is not in 1..%d", o->max_features, GMR_LASSO_HARD_MAX_FEATURES);
    GMR_CHECK(o->method == GMR_LASSO_AUTO || o->method == GMR_LASSO_GRAM || o->method == GMR_LASSO_FISTA, GMR_ERR_ARG,
              "unknown method %d", (int)o->method);
    if (o->lambdas) {
        GMR_CHECK(o->nlambdas >= 1, GMR_ERR_ARG, "%d lambdas given", o->nlambdas);
        for (int k = 0; k < o->nlambdas; k++)
            GMR_CHECK(o->lambdas[k] >= 0 && o->lambdas[k] < INFINITY, GMR_ERR_ARG,
                      "lambda %g is not a finite number >= 0", o->lambdas[k]);
        copy = malloc((size_t)o->nlambdas * sizeof *copy);
        GMR_CHECK(copy, GMR_ERR_NOMEM, "cannot copy %d lambdas", o->nlambdas);
        memcpy(copy, o->lambdas, (size_t)o->nlambdas * sizeof *copy);
    } else {
        GMR_CHECK(o->nlambda >= 1 && o->nlambda <= 1000000, GMR_ERR_ARG, "nlambda %d is not in 1..1000000",
                  o->nlambda);
    }
    free(l->lambdas);
    l->lambdas = copy;
    copy = NULL;
    l->opt = *o;
    l->opt.lambdas = l->lambdas;
out:
    free(copy);
    return err;
}

gmr_err gmr_lasso_set_names(gmr_lasso l, int p, const char *const *names)
{
    gmr_err err = GMR_OK;
    char **n = NULL;
    GMR_CHECK(l && names && p >= 1, GMR_ERR_ARG, "gmr_lasso_set_names: bad argument");
    n = calloc((size_t)p, sizeof *n);
    GMR_CHECK(n, GMR_ERR_NOMEM, "cannot copy %d names", p);
    for (int j = 0; j < p; j++) {
        n[j] = strdup(names[j] ? names[j] : "");
        GMR_CHECK(n[j], GMR_ERR_NOMEM, "cannot copy %d names", p);
    }
    for (int i = 0; i < l->nnames; i++) free(l->names[i]);
    free(l->names);
    l->names = n;
    l->nnames = p;
    n = NULL;
out:
    if (n)
        for (int j = 0; j < p; j++) free(n[j]);
    free(n);
    return err;
}

gmr_err gmr_lasso_set_attr(gmr_lasso l, const char *name, const char *value)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(l && name && value && *name, GMR_ERR_ARG, "gmr_lasso_set_attr: bad argument");
    GMR_CALL(gmr__lasso_attrs_set(&l->attrs, name, value));
out:
    return err;
}

static int desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

gmr_err gmr_lasso_solve(gmr_lasso l)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    double *lambdas = NULL, t0 = MPI_Wtime();
    int nl;
    GMR_CHECK(l, GMR_ERR_ARG, "gmr_lasso_solve: NULL solver");
    GMR_CHECK(l->have_stats, GMR_ERR_STATE, "gmr_lasso_solve before gmr_lasso_set_data");
    GMR_CHECK(l->opt.intercept == l->intercept && l->opt.standardize == l->standardize, GMR_ERR_STATE,
              "the intercept or standardize option changed after gmr_lasso_set_data");
    GMR_CHECK(l->fista == (l->opt.method == GMR_LASSO_FISTA || (l->opt.method == GMR_LASSO_AUTO && l->p > l->opt.max_features)),
              GMR_ERR_STATE, "the method or max_features changed after gmr_lasso_set_data");
    nl = l->opt.lambdas ? l->opt.nlambdas : l->opt.nlambda;
    lambdas = malloc((size_t)nl * sizeof *lambdas);
    GMR_CHECK(lambdas, GMR_ERR_NOMEM, "cannot allocate %d lambdas", nl);
    if (l->opt.lambdas) {
        memcpy(lambdas, l->opt.lambdas, (size_t)nl * sizeof *lambdas);
        qsort(lambdas, (size_t)nl, sizeof *lambdas, desc);
    } else {
        double ratio = l->opt.lambda_min_ratio;
        if (ratio == 0) ratio = l->npositive > (uint64_t)l->p ? GMR_LASSO_DEFAULT_RATIO_TALL : GMR_LASSO_DEFAULT_RATIO_WIDE;
        GMR_CHECK(l->lambda_max > 0, GMR_ERR_DATA,
                  "lambda_max is 0: the response is constant or uncorrelated with every feature, so the solution "
                  "is 0 for every lambda");
        /* log-spaced, lambda_max exactly first */
        for (int k = 0; k < nl; k++)
            lambdas[k] = k == 0 ? l->lambda_max : l->lambda_max * pow(ratio, (double)k / (double)(nl - 1));
    }
    local = gmr__lasso_path_alloc(&l->path, l->p, nl);
    if (l->fista) { /* collective, its errors agreed inside */
        GMR_CALL(gmr__agree(l->comm, local));
        GMR_CALL(gmr__lasso_fista_path(l, lambdas, nl, &l->path));
    } else if (!local) {
        gmr__lasso_problem pb = {.p = l->p, .G = l->G, .c = l->c, .yy = l->yy, .pen = l->pen, .skip = l->constant,
                                 .tss = l->tss, .sum_w = l->sw2, .intercept = l->intercept, .xmean = l->xmean,
                                 .ymean = l->ymean};
        local = gmr__lasso_path_solve(&pb, &l->opt, lambdas, nl, &l->path);
    }
    if (!l->fista) GMR_CALL(gmr__agree(l->comm, local));
    GMR_CALL_MPI(MPI_Bcast(l->path.buf, (int)((size_t)nl * (size_t)(GMR__LF_COUNT + l->p)), MPI_DOUBLE, 0, l->comm));
    l->solved = 1;
    l->t_solve = MPI_Wtime() - t0;
out:
    free(lambdas);
    return err;
}

gmr_err gmr_lasso_get_info(gmr_lasso l, gmr_lasso_info *info)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(l && info, GMR_ERR_ARG, "gmr_lasso_get_info: NULL argument");
    memset(info, 0, sizeof *info);
    GMR_CHECK(l->have_stats, GMR_ERR_STATE, "gmr_lasso_get_info before gmr_lasso_set_data");
    info->nrows = l->nrows;
    info->npositive = l->npositive;
    info->p = l->p;
    info->sum_w = l->sum_w;
    info->lambda_max = l->lambda_max;
    info->nconstant = l->nconstant;
    info->constant = l->constant;
    info->t_stats = l->t_stats;
    info->method = l->fista ? GMR_LASSO_FISTA : GMR_LASSO_GRAM;
    if (l->solved) {
        info->nlambda = l->path.nlambda;
        for (int k = 0; k < l->path.nlambda; k++) info->nconverged += l->path.field[GMR__LF_CONVERGED][k] != 0;
        info->t_solve = l->t_solve;
    }
out:
    return err;
}

gmr_err gmr_lasso_get_fit(gmr_lasso l, int k, gmr_lasso_fit *fit)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(l && fit, GMR_ERR_ARG, "gmr_lasso_get_fit: NULL argument");
    GMR_CHECK(l->solved, GMR_ERR_STATE, "gmr_lasso_get_fit before gmr_lasso_solve");
    GMR_CHECK(k >= 0 && k < l->path.nlambda, GMR_ERR_ARG, "lambda index %d is not in 0..%d", k, l->path.nlambda - 1);
    gmr__lasso_path_get(&l->path, k, fit);
out:
    return err;
}

gmr_err gmr_lasso_write(gmr_lasso l, const char *path)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    char **names = NULL, buf[64];
    GMR_CHECK(l && path, GMR_ERR_ARG, "gmr_lasso_write: NULL argument");
    GMR_CHECK(l->solved, GMR_ERR_STATE, "gmr_lasso_write before gmr_lasso_solve");
    GMR_CHECK(!l->names || l->nnames == l->p, GMR_ERR_ARG, "%d feature names for %d features", l->nnames, l->p);
    if (l->rank == 0) {
        names = l->names;
        if (!names) {
            names = calloc((size_t)l->p, sizeof *names);
            if (!names) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate %d names", l->p);
            for (int j = 0; !local && j < l->p; j++) {
                snprintf(buf, sizeof buf, "x%d", j + 1);
                if (!(names[j] = strdup(buf))) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate %d names", l->p);
            }
        }
        {
            char num[64];
            gmr__lasso_attrs a = l->attrs;
            /* the solver's own facts go in too (a copy, so the caller's attributes stay) */
            gmr__lasso_attrs all = {0};
            for (int i = 0; !local && i < a.n; i++) local = gmr__lasso_attrs_set(&all, a.name[i], a.value[i]);
            if (!local) local = gmr__lasso_attrs_set(&all, "intercept", l->intercept ? "yes" : "no");
            if (!local) local = gmr__lasso_attrs_set(&all, "standardize", l->standardize ? "yes" : "no");
            if (!local) local = gmr__lasso_attrs_set(&all, "method", l->fista ? "fista" : "gram");
            snprintf(num, sizeof num, "%.17g", l->opt.tol);
            if (!local) local = gmr__lasso_attrs_set(&all, "tol", num);
            snprintf(num, sizeof num, "%.17g", l->lambda_max);
            if (!local) local = gmr__lasso_attrs_set(&all, "lambda_max", num);
            snprintf(num, sizeof num, "%.17g", l->sum_w);
            if (!local) local = gmr__lasso_attrs_set(&all, "sum_w", num);
            snprintf(num, sizeof num, "%llu", (unsigned long long)l->nrows);
            if (!local) local = gmr__lasso_attrs_set(&all, "rows", num);
            if (!local) local = gmr__lasso_model_write(path, &l->path, names, &all);
            gmr__lasso_attrs_free(&all);
        }
    }
    GMR_CALL(gmr__agree(l->comm, local));
out:
    if (names && names != l->names) {
        for (int j = 0; j < l->p; j++) free(names[j]);
        free(names);
    }
    return err;
}

gmr_err gmr_lasso_kernel_weights(size_t n, const double *z, size_t ldz, int k, const int *col, const double *z0,
                                 double h, double *w, size_t *bad_row)
{
    gmr_err err = GMR_OK;
    double inv;
    GMR_CHECK(h > 0 && h < INFINITY, GMR_ERR_ARG, "bandwidth %g is not a positive number", h);
    GMR_CHECK(k >= 1 && col && z0 && (n == 0 || (z && w)), GMR_ERR_ARG, "gmr_lasso_kernel_weights: bad argument");
    for (int t = 0; t < k; t++) GMR_CHECK(isfinite(z0[t]), GMR_ERR_ARG, "operating point value %g is not finite", z0[t]);
    inv = 1.0 / (2 * h * h);
    for (size_t i = 0; i < n; i++) {
        double d2 = 0;
        for (int t = 0; t < k; t++) {
            double v = z[i * ldz + (size_t)col[t]];
            if (!isfinite(v)) {
                if (bad_row) *bad_row = i;
                GMR_FAIL(GMR_ERR_DATA, "row %zu: kernel column value %g is not finite", i, v);
            }
            d2 += (v - z0[t]) * (v - z0[t]);
        }
        w[i] = exp(-d2 * inv);
    }
out:
    return err;
}
