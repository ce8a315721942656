/* gridmr/lasso.h: distributed weighted LASSO on rows spread across ranks.
 *
 * Minimises over (b0, b)
 *
 *     1/2 (y - b0 - X b)^T W (y - b0 - X b) + lambda sum_j pen_j |b_j|
 *
 * with W = diag(w) (observation weights, all 1 by default), an optional unpenalised intercept
 * b0, and pen_j = 1, or the weighted standard deviation of column j when standardising (the
 * coefficients are always reported on the original scale). docs/lasso.md relates lambda to
 * glmnet's (lambda = lambda_glmnet * sum w) and to scikit-learn's alpha.
 *
 * How: each rank holds a block of rows. A reduction of the weighted sums gives the weighted
 * means; each rank centres its rows (a second pass: features such as voltages near 1 pu lose
 * their digits in a one-pass X^T W X - n xbar xbar^T) and forms the centred [X y]^T W [X y] of
 * each fixed block of 512 rows with cblas_dsyrk; a second reduction sums the blocks. Both sum
 * by fixed row blocks along a fixed tree (src/core/rsum.h), so every result below is the same
 * bits for any number of ranks and any split of the rows (docs/lasso.md, "Reproducibility"). From then
 * on every rank solves the same p x p problem: coordinate descent with covariance updates on
 * the Gram matrix, so the cost after the one pass over the data does not depend on n. The
 * duality gap, R^2, RMSE and gamma_locRMSE come from the same statistics in O(p^2). Above
 * max_features features (a Gram matrix too large), FISTA on the rows instead: one Allreduce of
 * a p-vector per iteration.
 *
 * Typical use:
 *
 *     gmr_lasso l = NULL;
 *     gmr_lasso_options o;
 *     gmr_lasso_options_init(&o);
 *     o.nlambda = 50;
 *     GMR_CALL(gmr_lasso_create(comm, &l));
 *     GMR_CALL(gmr_lasso_set_options(l, &o));
 *     GMR_CALL(gmr_lasso_set_data(l, &rows));  // this rank's rows; not kept after the call
 *     GMR_CALL(gmr_lasso_solve(l));
 *     GMR_CALL(gmr_lasso_get_fit(l, k, &fit)); // or gmr_lasso_write(l, "model.h5")
 *     gmr_lasso_destroy(&l);
 */
#ifndef GRIDMR_LASSO_H
#define GRIDMR_LASSO_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- options ----------------------------------------------------------------------------- */

#define GMR_LASSO_DEFAULT_NLAMBDA 100       /* path length */
#define GMR_LASSO_DEFAULT_RATIO_TALL 1e-4   /* smallest lambda / lambda_max when n > p */
#define GMR_LASSO_DEFAULT_RATIO_WIDE 1e-2   /* ... and when n <= p (as glmnet) */
#define GMR_LASSO_DEFAULT_TOL 1e-8          /* stop when duality gap <= tol x primal objective */
#define GMR_LASSO_DEFAULT_MAX_PASSES 100000 /* coordinate descent sweeps per lambda */
#define GMR_LASSO_DEFAULT_MAX_FEATURES 4096 /* largest p for the Gram method (128 MiB of Gram) */
#define GMR_LASSO_HARD_MAX_FEATURES 46340   /* (p + 2)^2 doubles must stay below 2^31 */

/* How gmr_lasso_solve works (docs/lasso.md, "Large p"). */
typedef enum gmr_lasso_method {
    GMR_LASSO_AUTO = 0,  /* the Gram method up to max_features, FISTA above (default) */
    GMR_LASSO_GRAM = 1,  /* coordinate descent on the p x p Gram matrix; refuse p > max_features */
    GMR_LASSO_FISTA = 2  /* accelerated proximal gradient on the rows: one Allreduce of a p-vector
                            per iteration, O(n_local p) per iteration, the rows kept until solved */
} gmr_lasso_method;

typedef struct gmr_lasso_options {
    int intercept;           /* 1 (default): fit an unpenalised intercept (the rows are centred) */
    int standardize;         /* 0 (default); 1: penalise sd_j |b_j| (glmnet's standardize = TRUE) */
    int nlambda;             /* path length when lambdas is NULL (default 100) */
    double lambda_min_ratio; /* smallest / largest lambda of the path; 0: 1e-4 when n > p, else 1e-2 */
    const double *lambdas;   /* explicit lambdas (>= 0, any order: solved in decreasing order,
                                reported in that order), or NULL for the log-spaced path from
                                lambda_max. Copied by gmr_lasso_set_options. */
    int nlambdas;            /* how many in lambdas */
    double tol;              /* relative duality gap to reach at each lambda (default 1e-8) */
    long max_passes;         /* coordinate descent sweeps per lambda (default 100000); a lambda
                                that does not converge is flagged (converged = 0), never dropped */
    int strong_rules;        /* 1 (default): sequential strong rules with a KKT check */
    int polish;              /* 1 (default): finish each lambda with an exact solve on its active
                                set (Cholesky, LAPACK), kept when signs and KKT conditions hold */
    int max_features;        /* largest p for the Gram method (default 4096, at most 46340): the
                                Gram matrix takes 8 p^2 bytes on every rank and forming it n p^2
                                flops. Above it GMR_LASSO_AUTO uses FISTA, GMR_LASSO_GRAM refuses */
    gmr_lasso_method method; /* GMR_LASSO_AUTO (default) */
} gmr_lasso_options;

/* Fill with the defaults above. Not collective. */
void gmr_lasso_options_init(gmr_lasso_options *o);

/* ---- the solver --------------------------------------------------------------------------- */

typedef struct gmr_lasso *gmr_lasso;

/* This rank's rows: row i is x[i*ldx .. i*ldx+p-1], its response y[i*incy], its weight
 * w[i*incw] (w NULL: every weight 1). Any rank may hold no rows (nrows 0). */
typedef struct gmr_lasso_rows {
    size_t nrows;
    int p;
    const double *x;
    size_t ldx;
    const double *y;
    size_t incy;
    const double *w;
    size_t incw;
} gmr_lasso_rows;

/* Collective on comm: duplicates comm. */
gmr_err gmr_lasso_create(MPI_Comm comm, gmr_lasso *out);

/* Not collective, but every rank must pass the same options. GMR_ERR_ARG on a negative or NaN
 * lambda, tol <= 0, a ratio outside (0, 1), nlambda < 1 or max_features out of range. */
gmr_err gmr_lasso_set_options(gmr_lasso l, const gmr_lasso_options *o);

/* Not collective: names of the p features (stored in the model; default x1, x2, ...), copied. */
gmr_err gmr_lasso_set_names(gmr_lasso l, int p, const char *const *names);

/* Not collective: a string attribute stored on the model file's root (the command line stores
 * its options, response, weights and kernel there). Copied; a name set twice keeps the last. */
gmr_err gmr_lasso_set_attr(gmr_lasso l, const char *name, const char *value);

/* Collective on comm. The sufficient statistics of this rank's rows: two passes over them
 * (weighted sums, then the centred Gram with cblas_dsyrk), by fixed blocks of 512 global rows
 * (the rows of a block held by the next rank are sent to the rank holding its first row, once)
 * and two reproducible reductions (src/core/rsum.h): the statistics, hence the path, are the
 * same bits for every rank count. The rows are not kept. Cost per rank n_local p^2 flops (the
 * dsyrk) plus 3 n_local p; memory 16 (p+2)^2 bytes plus 4 (p+2)^2 per level of the block tree
 * (about log2(n / 512) + 2 levels) plus a 512-row block. With FISTA (p > max_features under GMR_LASSO_AUTO, or asked for) the
 * second pass forms only the means, scales and X^T W y (O(n_local p), one Allreduce of 3p + 3
 * doubles), and the rows are read again by gmr_lasso_solve: they must stay valid and unchanged
 * until it returns. Errors, the same on every rank and reported by the rank holding the
 * row: GMR_ERR_DATA for a NaN or Inf (row and column named by global row index, counted from 0
 * across ranks in rank order), a negative weight, every weight 0, or values so large that the
 * sums overflow; GMR_ERR_ARG when p differs between ranks, p < 1 or, with GMR_LASSO_GRAM,
 * p > max_features.
 * Treatments (see gmr_lasso_info): a constant column (zero weighted variance with an
 * intercept; all zero without) gets coefficient 0 and is flagged; n <= p is allowed (the
 * solution may then not be unique; the objective is). */
gmr_err gmr_lasso_set_data(gmr_lasso l, const gmr_lasso_rows *rows);

/* Collective on comm. Solves the path (or the given lambdas) on the statistics: warm starts,
 * strong rules, coordinate descent to the relative gap, optional polish. Every rank returns
 * rank 0's path (broadcast), so results are identical on all ranks. Cost O(p^2) per sweep at
 * most, independent of n. With FISTA: warm starts, O(n_local p) and one reproducible reduction
 * of p + 2 doubles per iteration (two every 10th, for the duality gap), no polish. */
gmr_err gmr_lasso_solve(gmr_lasso l);

typedef struct gmr_lasso_info {
    uint64_t nrows;       /* rows on all ranks */
    uint64_t npositive;   /* rows with a positive weight */
    int p;
    double sum_w;         /* sum of the weights */
    double lambda_max;    /* smallest lambda with the all-zero solution */
    int nconstant;        /* columns with coefficient fixed at 0 (constant) */
    const unsigned char *constant; /* p flags, 1 for those columns (valid while l lives) */
    int nlambda;          /* path length (after gmr_lasso_solve; 0 before) */
    int nconverged;       /* lambdas that reached the tolerance */
    double t_stats, t_solve; /* seconds in gmr_lasso_set_data (max over ranks) and the solve */
    gmr_lasso_method method; /* GMR_LASSO_GRAM or GMR_LASSO_FISTA: the one in use */
} gmr_lasso_info;

/* Not collective. */
gmr_err gmr_lasso_get_info(gmr_lasso l, gmr_lasso_info *info);

/* The fit at one lambda of the path (k = 0 .. nlambda-1, lambdas decreasing). */
typedef struct gmr_lasso_fit {
    double lambda;
    double objective;     /* 1/2 r^T W r + lambda sum pen_j |b_j|, r = y - b0 - X b */
    double gap;           /* duality gap (>= objective - optimum) */
    double rel_gap;       /* gap / objective */
    double intercept;     /* b0 (0 without an intercept) */
    const double *beta;   /* p coefficients on the original scale (valid while the owner lives) */
    int nonzero;          /* coefficients != 0 */
    long passes;          /* coordinate descent sweeps (FISTA: iterations) */
    int converged;        /* rel_gap <= tol reached */
    int polished;         /* the exact active-set solve was kept */
    double r2;            /* 1 - r^T W r / sum w (y - ybar)^2 (paper eq. 3 when w = 1) */
    double rmse;          /* sqrt(r^T W r / sum w) (paper eq. 4 when w = 1) */
    double gamma_locrmse; /* sqrt(r^T W r) (paper eq. 1) */
} gmr_lasso_fit;

/* Not collective. GMR_ERR_STATE before gmr_lasso_solve, GMR_ERR_ARG for k out of range. */
gmr_err gmr_lasso_get_fit(gmr_lasso l, int k, gmr_lasso_fit *fit);

/* Collective on comm: rank 0 writes the model file (docs/formats.md) with the serial HDF5
 * driver (it is small: nlambda x p); the status is agreed, so every rank returns the same. */
gmr_err gmr_lasso_write(gmr_lasso l, const char *path);

/* Accepts NULL and *l == NULL; sets *l to NULL. Collective on comm (frees the duplicate). */
void gmr_lasso_destroy(gmr_lasso *l);

/* ---- weights ------------------------------------------------------------------------------ */

/* Gaussian kernel weights w[i] = exp(-||z_i - z0||^2 / (2 h^2)), z_i = the k values
 * z[i*ldz + col[0..k-1]]. GMR_ERR_ARG unless h > 0 and finite; GMR_ERR_DATA for a non-finite
 * z value (*bad_row set). Not collective; O(n k). */
gmr_err gmr_lasso_kernel_weights(size_t n, const double *z, size_t ldz, int k, const int *col, const double *z0,
                                 double h, double *w, size_t *bad_row);

/* ---- a fitted model read back ------------------------------------------------------------- */

typedef struct gmr_lasso_model *gmr_lasso_model;

/* Not collective, needs no MPI: reads a model file written by gmr_lasso_write. GMR_ERR_IO when
 * it cannot be opened, GMR_ERR_DATA when it is not a lasso model. */
gmr_err gmr_lasso_model_read(const char *path, gmr_lasso_model *out);
void gmr_lasso_model_destroy(gmr_lasso_model *m);
/* Not collective. p, path length, feature names and string attributes (NULL when absent). */
int gmr_lasso_model_p(gmr_lasso_model m);
int gmr_lasso_model_nlambda(gmr_lasso_model m);
const char *gmr_lasso_model_name(gmr_lasso_model m, int j);
const char *gmr_lasso_model_attr(gmr_lasso_model m, const char *name);
gmr_err gmr_lasso_model_fit(gmr_lasso_model m, int k, gmr_lasso_fit *fit);

/* Not collective: yhat[i] = b0 + x_i^T b at path index k, for n rows laid out as in
 * gmr_lasso_rows (p columns at x[i*ldx]). O(n nonzero). */
gmr_err gmr_lasso_model_predict(gmr_lasso_model m, int k, size_t n, const double *x, size_t ldx, double *yhat);

/* Collective on comm: gamma_locRMSE of the model at path index k around each of npoints
 * operating points: gamma[q] = sqrt(sum_i w_i(q) r_i^2) over the rows of every rank, with
 * r_i = y_i - b0 - x_i^T b (rows->w is ignored) and w_i(q) = exp(-||z_i - z0_q||^2 / (2 h^2)),
 * z_i the kcols values z[i*ldz + col[0..kcols-1]] (z may be rows->x); locrms[q] =
 * gamma[q] / sqrt(sum_i w_i(q)) (0 when that sum is 0; locrms may be NULL). z0 holds npoints x
 * kcols values. The sums are exact (src/core/xsum.h: the same bits for any rank count; weights
 * below 2^-128 count as 0), one MPI_Allreduce of 2 npoints 32-byte accumulators; GMR_ERR_DATA
 * for a squared residual of 2^80 or more; O(n_local (nonzero + npoints kcols))
 * per rank. */
gmr_err gmr_lasso_model_gamma(MPI_Comm comm, gmr_lasso_model m, int k, const gmr_lasso_rows *rows, const double *z,
                              size_t ldz, int kcols, const int *col, double h, int npoints, const double *z0,
                              double *gamma, double *locrms);

#ifdef __cplusplus
}
#endif
#endif
