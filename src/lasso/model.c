/* model.c: the LASSO model file, reading it back, prediction and gamma_locRMSE.
 *
 * Layout (docs/formats.md), written by one rank with the serial HDF5 driver (it is small):
 *   /features      variable-length strings [p]       the feature names, in column order
 *   /beta          float64 [nlambda][p]              coefficients on the original scale
 *   /lambda, /objective, /gap, /rel_gap, /intercept, /r2, /rmse, /gamma_locrmse
 *                  float64 [nlambda]                 per lambda, decreasing lambda
 *   /passes, /nonzero, /converged, /polished
 *                  int64 [nlambda]
 *   attributes on /: job = "lasso", format = "1", gridmr_version, and the solver's and the
 *   command line's string attributes (intercept, standardize, tol, lambda_max, sum_w, rows,
 *   options, response, weights, kernel, z0, bandwidth, ...).
 * Reading needs no MPI (gridmr dump runs without it). */
#define _XOPEN_SOURCE 700
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridmr/mr.h"
#include "lasso_impl.h"
#include "sched/sched.h"
#include "stage/h5util.h"

#define MODEL_FORMAT "1"

static int is_int_field(int f) { return f >= GMR__LF_PASSES; }

static gmr_err write_ds(hid_t file, const char *name, hid_t ftype, int rank, const hsize_t *dims, const double *v)
{
    gmr_err err = GMR_OK;
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    GMR_H5_ID(space, H5Screate_simple(rank, dims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (dims[0] && (rank == 1 || dims[1])) GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
out:
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    return err;
}

gmr_err gmr__lasso_model_write(const char *path, const gmr__lasso_path *pp, char *const *names,
                               const gmr__lasso_attrs *attrs)
{
    gmr_err err = GMR_OK;
    hid_t file = H5I_INVALID_HID, strtype = H5I_INVALID_HID, space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hsize_t dims[2] = {(hsize_t)pp->nlambda, (hsize_t)pp->p}, np = (hsize_t)pp->p;

    GMR_CALL(gmr__h5_create_serial(path, "lasso", MODEL_FORMAT, &file));
    for (int i = 0; i < attrs->n; i++) GMR_CALL(gmr__h5_attr_put_str(file, attrs->name[i], attrs->value[i]));
    GMR_H5_ID(strtype, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(strtype, H5T_VARIABLE));
    GMR_CALL_H5(H5Tset_cset(strtype, H5T_CSET_UTF8));
    GMR_H5_ID(space, H5Screate_simple(1, &np, NULL));
    GMR_H5_ID(dset, H5Dcreate2(file, "features", strtype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_CALL_H5(H5Dwrite(dset, strtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, names));
    GMR_CALL(write_ds(file, "beta", H5T_IEEE_F64LE, 2, dims, pp->beta));
    for (int f = 0; f < GMR__LF_COUNT; f++)
        GMR_CALL(write_ds(file, gmr__lasso_field_names[f], is_int_field(f) ? H5T_STD_I64LE : H5T_IEEE_F64LE, 1, dims,
                          pp->field[f]));
out:
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    if (strtype >= 0) H5Tclose(strtype);
    if (file >= 0 && H5Fclose(file) < 0 && !err) err = gmr__err_h5(__FILE__, __LINE__, __func__, "H5Fclose");
    if (err) remove(path);
    return err;
}

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct attr_ctx {
    gmr__lasso_attrs *attrs;
    gmr_err err;
} attr_ctx;

static herr_t load_attr(hid_t loc, const char *name, const H5A_info_t *info, void *vctx)
{
    attr_ctx *ctx = vctx;
    char buf[4096];
    (void)info;
    if (gmr__h5_attr_get_str(loc, name, buf, sizeof buf) != GMR_OK) {
        gmr_err_clear(); /* not a string, or longer than we keep: skipped */
        return 0;
    }
    ctx->err = gmr__lasso_attrs_set(ctx->attrs, name, buf);
    return ctx->err ? -1 : 0;
}

static gmr_err read_ds(hid_t file, const char *name, int rank, const hsize_t *want, double *v)
{
    gmr_err err = GMR_OK;
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    GMR_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, GMR_ERR_DATA, "dataset /%s is missing", name);
    GMR_H5_ID(dset, H5Dopen2(file, name, H5P_DEFAULT));
    GMR_H5_ID(space, H5Dget_space(dset));
    GMR_CHECK(H5Sget_simple_extent_ndims(space) == rank, GMR_ERR_DATA, "dataset /%s has the wrong rank", name);
    GMR_CALL_H5(H5Sget_simple_extent_dims(space, dims, NULL));
    GMR_CHECK(dims[0] == want[0] && (rank == 1 || dims[1] == want[1]), GMR_ERR_DATA, "dataset /%s has the wrong size",
              name);
    if (dims[0] && (rank == 1 || dims[1])) GMR_CALL_H5(H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
out:
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return err;
}

gmr_err gmr_lasso_model_read(const char *path, gmr_lasso_model *out)
{
    gmr_err err = GMR_OK;
    hid_t file = H5I_INVALID_HID, dset = H5I_INVALID_HID, space = H5I_INVALID_HID, strtype = H5I_INVALID_HID;
    gmr_lasso_model m = NULL;
    char job[64];
    hsize_t dims[2] = {0, 0}, np = 0;
    char **raw = NULL;
    attr_ctx actx;

    GMR_CHECK(path && out, GMR_ERR_ARG, "gmr_lasso_model_read: NULL argument");
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot open (not an HDF5 file?)", path);
    }
    if (gmr__h5_attr_get_str(file, "job", job, sizeof job) != GMR_OK || strcmp(job, "lasso") != 0)
        GMR_FAIL(GMR_ERR_DATA, "%s: not a lasso model (no job = \"lasso\" attribute)", path);
    m = calloc(1, sizeof *m);
    GMR_CHECK(m, GMR_ERR_NOMEM, "cannot allocate a model");
    GMR_CHECK(H5Lexists(file, "features", H5P_DEFAULT) > 0 && H5Lexists(file, "beta", H5P_DEFAULT) > 0, GMR_ERR_DATA,
              "%s: the model has no /features or /beta", path);
    GMR_H5_ID(dset, H5Dopen2(file, "beta", H5P_DEFAULT));
    GMR_H5_ID(space, H5Dget_space(dset));
    GMR_CHECK(H5Sget_simple_extent_ndims(space) == 2, GMR_ERR_DATA, "%s: /beta is not two-dimensional", path);
    GMR_CALL_H5(H5Sget_simple_extent_dims(space, dims, NULL));
    H5Sclose(space);
    space = H5I_INVALID_HID;
    H5Dclose(dset);
    dset = H5I_INVALID_HID;
    GMR_CHECK(dims[1] >= 1 && dims[1] <= GMR_LASSO_HARD_MAX_FEATURES && dims[0] <= 100000000, GMR_ERR_DATA,
              "%s: /beta has an implausible size", path);
    GMR_CALL(gmr__lasso_path_alloc(&m->path, (int)dims[1], (int)dims[0]));
    GMR_CALL(read_ds(file, "beta", 2, dims, m->path.beta));
    for (int f = 0; f < GMR__LF_COUNT; f++) GMR_CALL(read_ds(file, gmr__lasso_field_names[f], 1, dims, m->path.field[f]));

    GMR_H5_ID(dset, H5Dopen2(file, "features", H5P_DEFAULT));
    GMR_H5_ID(space, H5Dget_space(dset));
    GMR_CHECK(H5Sget_simple_extent_ndims(space) == 1, GMR_ERR_DATA, "%s: /features is not one-dimensional", path);
    GMR_CALL_H5(H5Sget_simple_extent_dims(space, &np, NULL));
    GMR_CHECK(np == dims[1], GMR_ERR_DATA, "%s: %llu feature names for %llu coefficients", path,
              (unsigned long long)np, (unsigned long long)dims[1]);
    GMR_H5_ID(strtype, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(strtype, H5T_VARIABLE));
    GMR_CALL_H5(H5Tset_cset(strtype, H5T_CSET_UTF8));
    raw = calloc((size_t)np, sizeof *raw);
    m->names = calloc((size_t)np, sizeof *m->names);
    GMR_CHECK(raw && m->names, GMR_ERR_NOMEM, "cannot allocate %llu names", (unsigned long long)np);
    GMR_CALL_H5(H5Dread(dset, strtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw));
    for (hsize_t j = 0; j < np; j++) {
        m->names[j] = strdup(raw[j] ? raw[j] : "");
        GMR_CHECK(m->names[j], GMR_ERR_NOMEM, "cannot copy the feature names");
    }
    GMR_CALL_H5(H5Dvlen_reclaim(strtype, space, H5P_DEFAULT, raw));

    actx.attrs = &m->attrs;
    actx.err = GMR_OK;
    if (H5Aiterate2(file, H5_INDEX_NAME, H5_ITER_INC, NULL, load_attr, &actx) < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_CHECK(!actx.err, actx.err, "%s: cannot read the attributes", path);
        GMR_FAIL(GMR_ERR_HDF5, "%s: cannot read the attributes", path);
    }
    *out = m;
    m = NULL;
out:
    free(raw);
    if (strtype >= 0) H5Tclose(strtype);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    if (file >= 0) H5Fclose(file);
    gmr_lasso_model_destroy(&m);
    return err;
}

void gmr_lasso_model_destroy(gmr_lasso_model *mp)
{
    gmr_lasso_model m;
    if (!mp || !*mp) return;
    m = *mp;
    if (m->names)
        for (int j = 0; j < m->path.p; j++) free(m->names[j]);
    free(m->names);
    gmr__lasso_attrs_free(&m->attrs);
    gmr__lasso_path_free(&m->path);
    free(m);
    *mp = NULL;
}

int gmr_lasso_model_p(gmr_lasso_model m) { return m ? m->path.p : 0; }
int gmr_lasso_model_nlambda(gmr_lasso_model m) { return m ? m->path.nlambda : 0; }

const char *gmr_lasso_model_name(gmr_lasso_model m, int j)
{
    return m && m->names && j >= 0 && j < m->path.p ? m->names[j] : NULL;
}

const char *gmr_lasso_model_attr(gmr_lasso_model m, const char *name)
{
    return m && name ? gmr__lasso_attrs_get(&m->attrs, name) : NULL;
}

gmr_err gmr_lasso_model_fit(gmr_lasso_model m, int k, gmr_lasso_fit *fit)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(m && fit, GMR_ERR_ARG, "gmr_lasso_model_fit: NULL argument");
    GMR_CHECK(k >= 0 && k < m->path.nlambda, GMR_ERR_ARG, "lambda index %d is not in 0..%d", k, m->path.nlambda - 1);
    gmr__lasso_path_get(&m->path, k, fit);
out:
    return err;
}

gmr_err gmr_lasso_model_predict(gmr_lasso_model m, int k, size_t n, const double *x, size_t ldx, double *yhat)
{
    gmr_err err = GMR_OK;
    gmr_lasso_fit f;
    GMR_CALL(gmr_lasso_model_fit(m, k, &f));
    GMR_CHECK(n == 0 || (x && yhat && ldx >= (size_t)m->path.p), GMR_ERR_ARG, "gmr_lasso_model_predict: bad argument");
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * ldx;
        double s = f.intercept;
        for (int j = 0; j < m->path.p; j++)
            if (f.beta[j] != 0) s += f.beta[j] * xi[j];
        yhat[i] = s;
    }
out:
    return err;
}

gmr_err gmr_lasso_model_gamma(MPI_Comm comm, gmr_lasso_model m, int k, const gmr_lasso_rows *rows, const double *z,
                              size_t ldz, int kcols, const int *col, double h, int npoints, const double *z0,
                              double *gamma, double *locrms)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    double *res = NULL, inv;
    gmr__xsum *xs = NULL; /* per point: sum w r^2, sum w (exact: the same for any rank count) */
    gmr_lasso_fit f;
    size_t n = rows ? rows->nrows : 0;

    GMR_CHECK(m && rows && gamma && npoints >= 1 && kcols >= 1 && col && z0 && rows->p == m->path.p, GMR_ERR_ARG,
              "gmr_lasso_model_gamma: bad argument");
    GMR_CHECK(h > 0 && h < INFINITY, GMR_ERR_ARG, "bandwidth %g is not a positive number", h);
    GMR_CALL(gmr_lasso_model_fit(m, k, &f));
    inv = 1.0 / (2 * h * h);
    xs = malloc(2 * (size_t)npoints * sizeof *xs);
    res = malloc((n + 1) * sizeof *res);
    if (!(xs && res)) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate gamma_locRMSE of %d points", npoints);
    if (!local) local = gmr_lasso_model_predict(m, k, n, rows->x, rows->ldx, res);
    for (size_t i = 0; !local && i < n; i++) {
        res[i] = rows->y[i * rows->incy] - res[i];
        res[i] *= res[i];
    }
    for (int q = 0; !local && q < npoints; q++) {
        const double *zq = z0 + (size_t)q * (size_t)kcols;
        gmr__xsum_init(&xs[2 * q]);
        gmr__xsum_init(&xs[2 * q + 1]);
        for (size_t i = 0; !local && i < n; i++) {
            double d2 = 0;
            for (int t = 0; t < kcols; t++) {
                double v = z[i * ldz + (size_t)col[t]] - zq[t];
                d2 += v * v;
            }
            double w = exp(-d2 * inv);
            if (gmr__xsum_add(&xs[2 * q], w * res[i]) || gmr__xsum_add(&xs[2 * q + 1], w))
                local = GMR_ERROR(GMR_ERR_DATA, "row %zu of this rank: its squared residual %g is too large (or not a number)",
                                  i, res[i]);
        }
    }
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL(gmr__xsum_allreduce(comm, xs, xs, 2 * npoints));
    for (int q = 0; q < npoints; q++) {
        double swr = gmr__xsum_round(&xs[2 * q]), sw = gmr__xsum_round(&xs[2 * q + 1]);
        gamma[q] = sqrt(swr);
        if (locrms) locrms[q] = sw > 0 ? sqrt(swr / sw) : 0;
    }
out:
    free(xs);
    free(res);
    return err;
}
