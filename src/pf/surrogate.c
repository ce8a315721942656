/* surrogate.c: the LASSO surrogate of the margin and the paper's local RMSE (include/gridmr/vsm.h).
 *
 * The training points are on every rank (gmr_vsm_compute gathers them); each rank hands its
 * block of them (in index order) to the distributed LASSO (src/lasso), so the Gram matrix is
 * formed in parallel and summed by one Allreduce. The choice of lambda and the scores need only
 * the coefficients, so every rank computes them itself over all points in order: no further
 * communication, and the same figures on every rank. The local RMSE (equation 1) goes through
 * gmr_lasso_model_gamma on the model file just written, so the surrogate used online is exactly
 * the file's. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridmr/lasso.h"
#include "gridmr/vsm.h"
#include "sched/sched.h"

void gmr_vsm_surrogate_free(gmr_vsm_surrogate *s)
{
    if (!s) return;
    free(s->beta);
    memset(s, 0, sizeof *s);
}

double gmr_vsm_predict(const gmr_vsm_surrogate *s, const gmr_vsm_points *pts, int i)
{
    const double *x = pts->x + (size_t)i * (size_t)pts->p;
    double y = s->intercept;
    for (int j = 0; j < s->p - 2; j++)
        if (s->beta[j] != 0) y += s->beta[j] * x[j];
    return y;
}

static int usable(const gmr_vsm_points *pts, int i)
{
    return pts->status[i] == GMR_VSM_OK && isfinite(pts->margin_mw[i]);
}

void gmr_vsm_score(const gmr_vsm_surrogate *s, const gmr_vsm_points *pts, const int *mask, const double *w, double *r2,
                   double *rmse, int *n)
{
    double sw = 0, sy = 0, sr = 0, st = 0, mean;
    int cnt = 0;
    for (int i = 0; i < pts->n; i++) {
        double wi = w ? w[i] : 1;
        if (!mask[i] || !usable(pts, i)) continue;
        sw += wi;
        sy += wi * pts->margin_mw[i];
        cnt++;
    }
    mean = sw > 0 ? sy / sw : 0;
    for (int i = 0; i < pts->n; i++) {
        double wi = w ? w[i] : 1, r;
        if (!mask[i] || !usable(pts, i)) continue;
        r = pts->margin_mw[i] - gmr_vsm_predict(s, pts, i);
        sr += wi * r * r;
        st += wi * (pts->margin_mw[i] - mean) * (pts->margin_mw[i] - mean);
    }
    *r2 = st > 0 ? 1 - sr / st : 0;
    *rmse = sw > 0 ? sqrt(sr / sw) : 0;
    if (n) *n = cnt;
}

/* This rank's block of the listed points, packed: x (m x p), y, w. */
static gmr_err pack_block(MPI_Comm comm, const gmr_vsm_points *pts, const int *list, int m, const double *w,
                          gmr_lasso_rows *rows, double **buf)
{
    gmr_err err = GMR_OK;
    int rank, size, lo, hi, p = pts->p;
    double *x, *y, *wv;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    lo = (int)((long long)m * rank / size);
    hi = (int)((long long)m * (rank + 1) / size);
    *buf = malloc(((size_t)(hi - lo) * (size_t)(p + 2) + 1) * sizeof **buf);
    GMR_CHECK(*buf, GMR_ERR_NOMEM, "out of memory for %d rows", hi - lo);
    x = *buf;
    y = x + (size_t)(hi - lo) * (size_t)p;
    wv = y + (hi - lo);
    for (int k = lo; k < hi; k++) {
        int i = list[k];
        memcpy(x + (size_t)(k - lo) * (size_t)p, pts->x + (size_t)i * (size_t)p, (size_t)p * sizeof *x);
        y[k - lo] = pts->margin_mw[i];
        wv[k - lo] = w ? w[i] : 1;
    }
    memset(rows, 0, sizeof *rows);
    rows->nrows = (size_t)(hi - lo);
    rows->p = p - 2; /* load_level and q_level are the kernel space, not features */
    rows->x = x;
    rows->ldx = (size_t)p;
    rows->y = y;
    rows->incy = 1;
    rows->w = w ? wv : NULL;
    rows->incw = 1;
out:
    return err;
}

static gmr_err lasso_fit(MPI_Comm comm, const gmr_vsm_points *pts, const int *list, int m, const double *w,
                         const gmr_lasso_options *o, char *const *names, gmr_lasso *out)
{
    gmr_err err = GMR_OK;
    gmr_lasso l = NULL;
    gmr_lasso_rows rows;
    double *buf = NULL;
    *out = NULL;
    GMR_CALL(gmr__agree(comm, pack_block(comm, pts, list, m, w, &rows, &buf)));
    GMR_CALL(gmr_lasso_create(comm, &l));
    GMR_CALL(gmr_lasso_set_options(l, o));
    if (names) GMR_CALL(gmr_lasso_set_names(l, pts->p - 2, (const char *const *)names));
    GMR_CALL(gmr_lasso_set_data(l, &rows));
    GMR_CALL(gmr_lasso_solve(l));
    *out = l;
    l = NULL;
out:
    gmr_lasso_destroy(&l);
    free(buf);
    return err;
}

gmr_err gmr_vsm_fit(MPI_Comm comm, const gmr_vsm_points *pts, char *const *names, const int *train, const double *w,
                    int nlambda, const char *model_path, gmr_vsm_surrogate *out)
{
    gmr_err err = GMR_OK;
    int *list = NULL, *fit = NULL, *val = NULL, *mask = NULL, m = 0, nf = 0, nv = 0, best = -1;
    gmr_lasso l = NULL;
    gmr_lasso_options o;
    gmr_lasso_info info;
    gmr_lasso_fit f;
    double best_rmse = INFINITY, swt = 0, swf = 0, lam;
    memset(out, 0, sizeof *out);
    list = malloc(((size_t)pts->n + 1) * sizeof *list);
    fit = malloc(((size_t)pts->n + 1) * sizeof *fit);
    val = malloc(((size_t)pts->n + 1) * sizeof *val);
    mask = calloc((size_t)pts->n + 1, sizeof *mask);
    out->beta = calloc((size_t)pts->p + 1, sizeof *out->beta);
    GMR_CALL(gmr__agree(comm, list && fit && val && mask && out->beta ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
    for (int i = 0; i < pts->n; i++)
        if (train[i] && usable(pts, i) && (!w || w[i] > 0)) list[m++] = i;
    GMR_CHECK(m >= 8, GMR_ERR_DATA, "%d usable training points: the surrogate needs at least 8", m);
    for (int k = 0; k < m; k++) {
        double wi = w ? w[list[k]] : 1;
        swt += wi;
        if (k % 4 == 3) {
            val[nv++] = list[k];
        } else {
            fit[nf++] = list[k];
            swf += wi;
        }
    }
    /* the path on three quarters, lambda chosen on the fourth */
    gmr_lasso_options_init(&o);
    o.standardize = 1;
    o.nlambda = nlambda > 0 ? nlambda : GMR_VSM_DEFAULT_NLAMBDA;
    o.lambda_min_ratio = 1e-5;
    o.tol = 1e-10;
    GMR_CALL(lasso_fit(comm, pts, fit, nf, w, &o, NULL, &l));
    GMR_CALL(gmr_lasso_get_info(l, &info));
    out->p = pts->p;
    for (int v = 0; v < nv; v++) mask[val[v]] = 1;
    for (int k = 0; k < info.nlambda; k++) {
        double r2, rmse;
        GMR_CALL(gmr_lasso_get_fit(l, k, &f));
        out->intercept = f.intercept;
        memcpy(out->beta, f.beta, (size_t)(pts->p - 2) * sizeof *out->beta);
        gmr_vsm_score(out, pts, mask, w, &r2, &rmse, NULL);
        if (rmse < best_rmse) {
            best_rmse = rmse;
            best = k;
        }
    }
    GMR_CALL(gmr_lasso_get_fit(l, best, &f));
    lam = f.lambda * (swf > 0 ? swt / swf : 1);
    gmr_lasso_destroy(&l);
    /* the final model: all training rows at that lambda */
    o.lambdas = &lam;
    o.nlambdas = 1;
    GMR_CALL(lasso_fit(comm, pts, list, m, w, &o, names, &l));
    GMR_CALL(gmr_lasso_get_fit(l, 0, &f));
    out->intercept = f.intercept;
    memcpy(out->beta, f.beta, (size_t)(pts->p - 2) * sizeof *out->beta);
    out->lambda = f.lambda;
    out->nonzero = f.nonzero;
    out->ntrain = m;
    out->nfit = nf;
    out->nval = nv;
    out->val_rmse = best_rmse;
    if (model_path) {
        GMR_CALL(gmr_lasso_set_attr(l, "response", "margin_mw"));
        GMR_CALL(gmr_lasso_set_attr(l, "job_detail", "gridmr vsm surrogate"));
        GMR_CALL(gmr_lasso_write(l, model_path));
    }
out:
    if (err) gmr_vsm_surrogate_free(out);
    gmr_lasso_destroy(&l);
    free(list);
    free(fit);
    free(val);
    free(mask);
    return err;
}

gmr_err gmr_vsm_kernel(const gmr_vsm_points *pts, const double *z0, double h, double *w)
{
    gmr_err err = GMR_OK;
    int col[2] = {pts->p - 2, pts->p - 1};
    size_t bad = 0;
    GMR_CHECK(pts->p >= 2, GMR_ERR_ARG, "no kernel columns");
    for (int i = 0; i < pts->n; i++) { /* a failed point has no features: weight 0 */
        const double *z = pts->x + (size_t)i * (size_t)pts->p;
        if (pts->status[i] != GMR_VSM_OK || !isfinite(z[col[0]]) || !isfinite(z[col[1]])) w[i] = 0;
        else GMR_CALL(gmr_lasso_kernel_weights(1, z, (size_t)pts->p, 2, col, z0, h, w + i, &bad));
    }
out:
    return err;
}

gmr_err gmr_vsm_gamma(MPI_Comm comm, const char *model_path, const gmr_vsm_points *db, const int *db_mask,
                      const gmr_vsm_points *cand, double h, double *gamma, double *support)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr_lasso_model m = NULL;
    gmr_lasso_rows rows;
    int *list = NULL, *valid = NULL, n = 0, nv = 0, col[2] = {db->p - 2, db->p - 1};
    double *buf = NULL, *z0 = NULL, *w = NULL, *g = NULL;
    list = malloc(((size_t)db->n + 1) * sizeof *list);
    valid = malloc(((size_t)cand->n + 1) * sizeof *valid);
    z0 = malloc(((size_t)cand->n + 1) * 2 * sizeof *z0);
    g = malloc(((size_t)cand->n + 1) * sizeof *g);
    w = malloc(((size_t)db->n + 1) * sizeof *w);
    local = list && valid && z0 && g && w ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    if (!local) local = gmr_lasso_model_read(model_path, &m);
    GMR_CALL(gmr__agree(comm, local));
    for (int i = 0; i < db->n; i++)
        if (db_mask[i] && usable(db, i)) list[n++] = i;
    /* a candidate whose power flow failed has no features: gamma NaN, support 0 */
    for (int q = 0; q < cand->n; q++) {
        const double *x = cand->x + (size_t)q * (size_t)cand->p;
        gamma[q] = NAN;
        if (support) support[q] = 0;
        if (cand->status[q] != GMR_VSM_OK || !isfinite(x[col[0]]) || !isfinite(x[col[1]])) continue;
        z0[2 * nv] = x[col[0]];
        z0[2 * nv + 1] = x[col[1]];
        valid[nv++] = q;
    }
    GMR_CALL(gmr__agree(comm, pack_block(comm, db, list, n, NULL, &rows, &buf)));
    if (nv > 0) /* the same nv on every rank: the candidates are */
        GMR_CALL(gmr_lasso_model_gamma(comm, m, gmr_lasso_model_nlambda(m) - 1, &rows, rows.x, rows.ldx, 2, col, h, nv, z0,
                                       g, NULL));
    for (int k = 0; k < nv; k++) {
        gamma[valid[k]] = g[k];
        if (support) {
            double s = 0;
            GMR_CALL(gmr_vsm_kernel(db, z0 + 2 * k, h, w));
            for (int i = 0; i < n; i++) s += w[list[i]];
            support[valid[k]] = s;
        }
    }
out:
    gmr_lasso_model_destroy(&m);
    free(list);
    free(valid);
    free(z0);
    free(g);
    free(w);
    free(buf);
    return err;
}
