/* check_lasso.c - specification tests for the distributed weighted LASSO (src/lasso/). Run under
 * mpirun at 1 to 4 ranks with CK_FORK=no; every rank runs every test.
 *
 * What must hold, for min 1/2 (y - b0 - X b)^T W (y - b0 - X b) + lambda sum pen_j |b_j|:
 *   - the closed form of an orthogonal design: b_j = S(x_j^T W y, lambda) / x_j^T W x_j;
 *   - lambda_max (computed here from the rows) is the first lambda of the path and gives the
 *     all-zero solution, and a lambda just below it does not;
 *   - the KKT conditions at every lambda of a path, checked from the rows: |x_j^T W r| <=
 *     lambda pen_j for a zero coefficient, = lambda pen_j sign(b_j) for a non-zero one;
 *   - the duality gap, recomputed here from the rows, below the tolerance at every lambda;
 *   - an independent certificate: the exact solution on the active set with its signs (a QR
 *     factorisation of the weighted rows with LAPACK, never the Gram matrix), which satisfies
 *     the KKT conditions itself, matches the objective to 1e-12 relative;
 *   - the same bits (every field of every fit) on 1, 2, 3 and 4 ranks, rows split evenly, with an
 *     empty rank or at ragged places, for the Gram method and FISTA (docs/lasso.md): each run
 *     compares the distributed fit with a fit of all rows on MPI_COMM_SELF;
 *   - weights all 1 reproduce the unweighted problem; weights times 3 with lambda times 3 give
 *     the same coefficients (the glmnet relation lambda = lambda_glmnet sum w);
 *   - standardize = penalising sd_j |b_j| = fitting pre-scaled columns and scaling back;
 *   - FISTA (chosen automatically above max_features) reaches the relative gap, recomputed from
 *     the rows, at every lambda, with an objective between the Gram method's exact optimum and
 *     1e-8 above it;
 *   - bad inputs (NaN or Inf in X or y, a negative weight, all weights 0, lambda < 0, p
 *     differing between ranks, p over the limit) fail on every rank with the documented code;
 *     a constant column gets coefficient 0 and a flag; n < p still satisfies the KKT
 *     conditions; the model file reads back as written, and prediction and gamma_locRMSE
 *     match sums computed here.
 *
 * The problems are hard the way real ones are: AR(1)-correlated features (rho 0.5 and 0.8),
 * neither centred nor scaled (means from -3 to 1000, scales from 0.01 to 100), with and
 * without an intercept, without weights, with random weights and with Gaussian-kernel weights.
 * References are computed in long double from the rows, with fixed seeds. Every verdict is
 * collective (all_assert).
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <lapacke.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gridmr/lasso.h"
#include "gridmr/log.h"
#include "testutil.h"
#include "testutil_mpi.h"

/* ---- problems ------------------------------------------------------------------------------ */

typedef enum { W_NONE, W_RANDOM, W_KERNEL } wkind;

typedef struct problem {
    size_t n;
    int p;
    double *x, *y, *w; /* w NULL: unweighted */
} problem;

static double unif(void) { return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0; }

static double gauss(void)
{
    double u = unif(), v = unif();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* n rows, p AR(1) features with correlation rho, column j = mean_j + scale_j z_j (means and
 * scales cycling through awkward values), y = 7 + X b_true + noise, b_true with 5 non-zeros. */
static void problem_make(problem *pr, uint64_t seed, size_t n, int p, double rho, wkind wk)
{
    static const double means[] = {1.0, 50, -3, 1000, 0.98, 0};
    static const double scales[] = {0.01, 1, 100, 5, 0.05, 2};
    double *bt = calloc((size_t)p, sizeof *bt);
    REQUIRE(bt, "out of memory");
    pr->n = n;
    pr->p = p;
    pr->x = malloc(n * (size_t)p * sizeof *pr->x);
    pr->y = malloc(n * sizeof *pr->y);
    pr->w = wk == W_NONE ? NULL : malloc(n * sizeof *pr->w);
    REQUIRE(pr->x && pr->y && (wk == W_NONE || pr->w), "out of memory");
    rng_seed(seed);
    for (int t = 0; t < 5 && t < p; t++) {
        int j = (int)((t * 7 + 2) % p);
        bt[j] = (t % 2 ? -1.0 : 1.0) * (0.5 + t) / scales[j % 6];
    }
    for (size_t i = 0; i < n; i++) {
        double z = gauss(), s = 7;
        for (int j = 0; j < p; j++) {
            if (j) z = rho * z + sqrt(1 - rho * rho) * gauss();
            double v = means[j % 6] + scales[j % 6] * z;
            pr->x[i * (size_t)p + (size_t)j] = v;
            s += bt[j] * v;
        }
        pr->y[i] = s + 2.0 * gauss();
    }
    if (wk == W_RANDOM)
        for (size_t i = 0; i < n; i++) pr->w[i] = 0.1 + 1.9 * unif();
    if (wk == W_KERNEL) {
        /* around an operating point of columns 0 and 1, standardised first (as a user would with
         * columns of different scales), bandwidth 1.2 standard deviations */
        double *zs = malloc(n * 2 * sizeof *zs), z0[2] = {0.3, -0.2};
        REQUIRE(zs, "out of memory");
        for (size_t i = 0; i < n; i++)
            for (int t = 0; t < 2; t++) zs[i * 2 + (size_t)t] = (pr->x[i * (size_t)p + (size_t)t] - means[t]) / scales[t];
        gmr_err e = gmr_lasso_kernel_weights(n, zs, 2, 2, (int[]){0, 1}, z0, 1.2, pr->w, NULL);
        REQUIRE(e == GMR_OK, "kernel weights: %s", gmr_err_message());
        free(zs);
    }
    free(bt);
}

static void problem_free(problem *pr)
{
    free(pr->x);
    free(pr->y);
    free(pr->w);
    memset(pr, 0, sizeof *pr);
}

/* This rank's block of rows [lo, hi): an even split, or (uneven) none on rank 0, one share on
 * ranks 1 .. size-2 and two on the last rank. */
static void block(size_t n, int uneven, size_t *lo, size_t *hi)
{
    size_t u0, u1;
    if (!uneven || size == 1) {
        *lo = n * (size_t)rank / (size_t)size;
        *hi = n * (size_t)(rank + 1) / (size_t)size;
        return;
    }
    u0 = rank == 0 ? 0 : (size_t)rank - 1;
    u1 = rank == 0 ? 0 : (rank == size - 1 ? (size_t)size : (size_t)rank);
    *lo = n * u0 / (size_t)size;
    *hi = n * u1 / (size_t)size;
}

static gmr_lasso_rows rows_of(const problem *pr, size_t lo, size_t hi)
{
    gmr_lasso_rows r = {.nrows = hi - lo,
                        .p = pr->p,
                        .x = pr->x + lo * (size_t)pr->p,
                        .ldx = (size_t)pr->p,
                        .y = pr->y + lo,
                        .incy = 1,
                        .w = pr->w ? pr->w + lo : NULL,
                        .incw = 1};
    return r;
}

/* Fits rows [lo, hi) of pr on comm. Returns the solver (NULL and the code in *e on failure). */
static gmr_lasso fit_on(MPI_Comm comm, const problem *pr, size_t lo, size_t hi, const gmr_lasso_options *o, gmr_err *e)
{
    gmr_lasso l = NULL;
    gmr_lasso_rows r = rows_of(pr, lo, hi);
    *e = gmr_lasso_create(comm, &l);
    if (!*e) *e = gmr_lasso_set_options(l, o);
    if (!*e) *e = gmr_lasso_set_data(l, &r);
    if (!*e) *e = gmr_lasso_solve(l);
    if (*e) gmr_lasso_destroy(&l);
    return l;
}

/* The distributed fit of all of pr (even split). Fails the test on error. */
static gmr_lasso fit_all(const problem *pr, const gmr_lasso_options *o)
{
    size_t lo, hi;
    gmr_err e;
    gmr_lasso l;
    block(pr->n, 0, &lo, &hi);
    l = fit_on(MPI_COMM_WORLD, pr, lo, hi, o, &e);
    all_assert(e == GMR_OK, "fit: expected GMR_OK, got %s: %s", gmr_err_name(e), gmr_err_message());
    return l;
}

/* ---- references from the rows (long double) ----------------------------------------------- */

typedef long double ld;

typedef struct refstats {
    ld sw, ybar, *xbar, *pen;
} refstats;

static void refstats_make(const problem *pr, int intercept, int standardize, refstats *rs)
{
    int p = pr->p;
    rs->xbar = calloc((size_t)p, sizeof *rs->xbar);
    rs->pen = calloc((size_t)p, sizeof *rs->pen);
    REQUIRE(rs->xbar && rs->pen, "out of memory");
    rs->sw = 0;
    rs->ybar = 0;
    for (size_t i = 0; i < pr->n; i++) {
        ld w = pr->w ? pr->w[i] : 1;
        rs->sw += w;
        rs->ybar += w * pr->y[i];
        for (int j = 0; j < p; j++) rs->xbar[j] += w * pr->x[i * (size_t)p + (size_t)j];
    }
    rs->ybar /= rs->sw;
    for (int j = 0; j < p; j++) rs->xbar[j] /= rs->sw;
    for (int j = 0; j < p; j++) {
        ld s = 0;
        for (size_t i = 0; i < pr->n; i++) {
            ld w = pr->w ? pr->w[i] : 1, d = pr->x[i * (size_t)p + (size_t)j] - (intercept ? rs->xbar[j] : 0);
            s += w * d * d;
        }
        rs->pen[j] = standardize ? sqrtl(s / rs->sw) : 1;
    }
}

static void refstats_free(refstats *rs)
{
    free(rs->xbar);
    free(rs->pen);
}

/* Residual correlations corr_j = sum w (x_j - xbar_j) r (xbar = 0 without an intercept) and the
 * objective, for coefficients (b0, b), from the rows. */
static ld objective_rows(const problem *pr, const refstats *rs, int intercept, double lambda, ld b0, const ld *b,
                         ld *corr, ld *rss_out)
{
    int p = pr->p;
    ld rss = 0, l1 = 0;
    if (corr)
        for (int j = 0; j < p; j++) corr[j] = 0;
    for (size_t i = 0; i < pr->n; i++) {
        const double *x = pr->x + i * (size_t)p;
        ld w = pr->w ? pr->w[i] : 1, r = pr->y[i] - b0;
        for (int j = 0; j < p; j++) r -= b[j] * x[j];
        rss += w * r * r;
        if (corr)
            for (int j = 0; j < p; j++) corr[j] += w * (x[j] - (intercept ? rs->xbar[j] : 0)) * r;
    }
    for (int j = 0; j < p; j++) l1 += rs->pen[j] * fabsl(b[j]);
    if (rss_out) *rss_out = rss;
    return 0.5L * rss + lambda * l1;
}

/* The duality gap of (b0, b) from the rows: P(b) - D(s r), D(t) = t^T W yc - 1/2 t^T W t. */
static ld gap_rows(const problem *pr, const refstats *rs, int intercept, double lambda, ld b0, const ld *b, ld *primal)
{
    int p = pr->p;
    ld *corr = malloc((size_t)p * sizeof *corr), rss, dn = 0, s, ytr = 0, P;
    REQUIRE(corr, "out of memory");
    P = objective_rows(pr, rs, intercept, lambda, b0, b, corr, &rss);
    for (int j = 0; j < p; j++)
        if (rs->pen[j] > 0 && fabsl(corr[j]) / rs->pen[j] > dn) dn = fabsl(corr[j]) / rs->pen[j];
    s = dn > lambda ? lambda / dn : 1;
    for (size_t i = 0; i < pr->n; i++) {
        const double *x = pr->x + i * (size_t)p;
        ld w = pr->w ? pr->w[i] : 1, r = pr->y[i] - b0, yc = pr->y[i] - (intercept ? rs->ybar : 0);
        for (int j = 0; j < p; j++) r -= b[j] * x[j];
        ytr += w * yc * r;
    }
    free(corr);
    *primal = P;
    return P - (s * ytr - 0.5L * s * s * rss);
}

static void fit_to_ld(const gmr_lasso_fit *f, int p, ld *b0, ld *b)
{
    *b0 = f->intercept;
    for (int j = 0; j < p; j++) b[j] = f->beta[j];
}

/* KKT at one fit, from the rows; "" or what failed in msg. Tolerance relative to lambda pen_j,
 * with a floor of 1e-9 lambda_max (at lambda near 0 the conditions become g = 0). */
static int kkt_ok(const problem *pr, const refstats *rs, int intercept, const gmr_lasso_fit *f, double lambda_max,
                  char *msg, size_t cap)
{
    int p = pr->p, ok = 1;
    ld *b = calloc((size_t)p, sizeof *b), *corr = calloc((size_t)p, sizeof *corr), b0;
    REQUIRE(b && corr, "out of memory");
    fit_to_ld(f, p, &b0, b);
    objective_rows(pr, rs, intercept, f->lambda, b0, b, corr, NULL);
    for (int j = 0; j < p && ok; j++) {
        ld t = f->lambda * rs->pen[j], tol = 1e-7L * t + 1e-9L * lambda_max;
        if (b[j] == 0 && fabsl(corr[j]) > t + tol) {
            snprintf(msg, cap, "lambda %.6g: b_%d = 0 but |x_j^T W r| = %.10Lg > lambda pen_j = %.10Lg", f->lambda, j,
                     fabsl(corr[j]), t);
            ok = 0;
        }
        if (b[j] != 0 && fabsl(corr[j] - (b[j] > 0 ? t : -t)) > tol) {
            snprintf(msg, cap, "lambda %.6g: b_%d = %.6g but x_j^T W r = %.10Lg, expected %.10Lg", f->lambda, j, f->beta[j],
                     corr[j], b[j] > 0 ? t : -t);
            ok = 0;
        }
    }
    free(b);
    free(corr);
    return ok;
}

/* The exact solution on an active set A with signs s, from the weighted rows by QR (LAPACK):
 * min over (b0, b_A) of 1/2 ||W^1/2 (y - b0 - X_A b_A)||^2 + lambda pen_A^T (s_A o b_A). Writes
 * b (zero outside A) and b0. Returns 0 on success. */
static int active_set_solve(const problem *pr, const refstats *rs, int intercept, double lambda, const int *act, int a,
                            const double *sgn, ld *b0, ld *b)
{
    size_t n = pr->n;
    int m = a + (intercept ? 1 : 0), off = intercept ? 1 : 0, rc = 0;
    if (m == 0) { /* no intercept, nothing active: the zero solution */
        for (int j = 0; j < pr->p; j++) b[j] = 0;
        *b0 = 0;
        return 0;
    }
    double *Z = malloc(n * (size_t)m * sizeof *Z), *yt = malloc(n * sizeof *yt), *tau = malloc(((size_t)m + 1) * sizeof *tau);
    double *v = calloc((size_t)m + 1, sizeof *v);
    REQUIRE(Z && yt && tau && v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        double sw = sqrt(pr->w ? pr->w[i] : 1.0);
        if (intercept) Z[i] = sw;
        for (int t = 0; t < a; t++) Z[(size_t)(t + off) * n + i] = sw * pr->x[i * (size_t)pr->p + (size_t)act[t]];
        yt[i] = sw * pr->y[i];
    }
    for (int t = 0; t < a; t++) v[t + off] = (double)(rs->pen[act[t]] * sgn[t]);
    if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)n, m, Z, (int)n, tau) != 0) rc = -1;
    if (!rc && LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'T', (int)n, 1, m, Z, (int)n, tau, yt, (int)n) != 0) rc = -1;
    if (!rc && LAPACKE_dtrtrs(LAPACK_COL_MAJOR, 'U', 'T', 'N', m, 1, Z, (int)n, v, m) != 0) rc = -1;
    if (!rc) {
        for (int t = 0; t < m; t++) yt[t] -= lambda * v[t];
        if (LAPACKE_dtrtrs(LAPACK_COL_MAJOR, 'U', 'N', 'N', m, 1, Z, (int)n, yt, (int)n) != 0) rc = -1;
    }
    if (!rc) {
        for (int j = 0; j < pr->p; j++) b[j] = 0;
        *b0 = intercept ? yt[0] : 0;
        for (int t = 0; t < a; t++) b[act[t]] = yt[t + off];
    }
    free(Z);
    free(yt);
    free(tau);
    free(v);
    return rc;
}

/* ---- the closed form of an orthogonal design ---------------------------------------------- */

/* Columns 1..p of the Sylvester Hadamard matrix of order n: +-1, mean 0, x_j^T x_k = n d_jk. */
static double hadamard(size_t i, int j)
{
    return __builtin_popcountll((unsigned long long)(i & (size_t)j)) % 2 ? -1.0 : 1.0;
}

START_TEST(test_orthogonal_design_is_soft_thresholding)
{
    const size_t n = 64;
    const int p = 8;
    problem pr = {0};
    gmr_lasso_options o;
    char msg[512] = "";
    int ok = 1;
    pr.n = n;
    pr.p = p;
    pr.x = malloc(n * (size_t)p * sizeof *pr.x);
    pr.y = malloc(n * sizeof *pr.y);
    ck_assert(pr.x && pr.y);
    rng_seed(5);
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < p; j++) pr.x[i * (size_t)p + (size_t)j] = hadamard(i, j + 1);
        pr.y[i] = 3 + 2 * pr.x[i * (size_t)p] - 1.5 * pr.x[i * (size_t)p + 3] + 0.3 * pr.x[i * (size_t)p + 5] + gauss();
    }
    for (int intercept = 0; intercept <= 1; intercept++) {
        double c[8], ybar = 0, lmax = 0;
        gmr_lasso l;
        gmr_lasso_options_init(&o);
        o.intercept = intercept;
        o.nlambda = 20;
        for (size_t i = 0; i < n; i++) ybar += pr.y[i] / (double)n;
        for (int j = 0; j < p; j++) {
            ld s = 0;
            for (size_t i = 0; i < n; i++) s += pr.x[i * (size_t)p + (size_t)j] * (pr.y[i] - (intercept ? ybar : 0));
            c[j] = (double)s;
            if (fabs(c[j]) > lmax) lmax = fabs(c[j]);
        }
        l = fit_all(&pr, &o);
        for (int k = 0; k < 20 && ok; k++) {
            gmr_lasso_fit f;
            ck_assert(gmr_lasso_get_fit(l, k, &f) == GMR_OK);
            for (int j = 0; j < p && ok; j++) {
                double want = fabs(c[j]) > f.lambda ? (c[j] - copysign(f.lambda, c[j])) / (double)n : 0;
                if (fabs(f.beta[j] - want) > 1e-12 * lmax / (double)n) {
                    snprintf(msg, sizeof msg, "intercept %d, lambda %.17g: b_%d = %.17g, soft thresholding gives %.17g",
                             intercept, f.lambda, j, f.beta[j], want);
                    ok = 0;
                }
            }
            if (ok && intercept && fabs(f.intercept - ybar) > 1e-12 * fabs(ybar)) {
                snprintf(msg, sizeof msg, "intercept %.17g, expected the mean %.17g (the columns have mean 0)",
                         f.intercept, ybar);
                ok = 0;
            }
        }
        all_assert(ok, "%s", msg);
        gmr_lasso_destroy(&l);
    }
    problem_free(&pr);
}
END_TEST

/* ---- lambda_max ------------------------------------------------------------------------------ */

START_TEST(test_lambda_max_gives_the_zero_solution)
{
    problem pr = {0};
    problem_make(&pr, 11, 300, 12, 0.7, W_RANDOM);
    for (int intercept = 0; intercept <= 1; intercept++) {
        refstats rs;
        gmr_lasso_options o;
        gmr_lasso l;
        gmr_lasso_fit f;
        gmr_lasso_info info;
        ld lmax = 0;
        int nz = 0;
        refstats_make(&pr, intercept, 0, &rs);
        for (int j = 0; j < pr.p; j++) {
            ld s = 0;
            for (size_t i = 0; i < pr.n; i++)
                s += pr.w[i] * (pr.x[i * (size_t)pr.p + (size_t)j] - (intercept ? rs.xbar[j] : 0)) *
                     (pr.y[i] - (intercept ? rs.ybar : 0));
            if (fabsl(s) > lmax) lmax = fabsl(s);
        }
        gmr_lasso_options_init(&o);
        o.intercept = intercept;
        o.nlambda = 5;
        l = fit_all(&pr, &o);
        ck_assert(gmr_lasso_get_info(l, &info) == GMR_OK && gmr_lasso_get_fit(l, 0, &f) == GMR_OK);
        for (int j = 0; j < pr.p; j++) nz += f.beta[j] != 0;
        all_assert(fabsl(info.lambda_max - lmax) <= 1e-12L * lmax && f.lambda == info.lambda_max,
                   "intercept %d: lambda_max %.17g, first lambda %.17g, expected %.17Lg", intercept, info.lambda_max,
                   f.lambda, lmax);
        all_assert(nz == 0 && f.nonzero == 0 && f.converged, "intercept %d: %d non-zeros at lambda_max", intercept, nz);
        if (intercept)
            all_assert(fabsl(f.intercept - rs.ybar) <= 1e-12L * fabsl(rs.ybar),
                       "intercept at lambda_max %.17g, expected the weighted mean %.17Lg", f.intercept, rs.ybar);
        gmr_lasso_destroy(&l);
        /* just below lambda_max something enters; above it nothing */
        {
            double lam[2] = {(double)lmax * (1 - 1e-6), (double)lmax * 1.5};
            o.lambdas = lam;
            o.nlambdas = 2;
            l = fit_all(&pr, &o);
            ck_assert(gmr_lasso_get_fit(l, 0, &f) == GMR_OK);
            all_assert(f.lambda == lam[1] && f.nonzero == 0, "lambda 1.5 lambda_max: %d non-zeros", f.nonzero);
            ck_assert(gmr_lasso_get_fit(l, 1, &f) == GMR_OK);
            all_assert(f.nonzero == 1, "lambda (1 - 1e-6) lambda_max: %d non-zeros, expected 1", f.nonzero);
            gmr_lasso_destroy(&l);
        }
        refstats_free(&rs);
    }
    problem_free(&pr);
}
END_TEST

/* ---- KKT, gap and the active-set certificate on hard problems ------------------------------- */

typedef struct config {
    double rho;
    wkind wk;
    int intercept, standardize;
} config;

static const config configs[] = {
    {0.5, W_NONE, 1, 0},   {0.8, W_NONE, 0, 0},   {0.8, W_RANDOM, 1, 0}, {0.5, W_RANDOM, 0, 0},
    {0.8, W_KERNEL, 1, 0}, {0.8, W_KERNEL, 0, 0}, {0.8, W_NONE, 1, 1},   {0.5, W_KERNEL, 1, 1},
    {0.8, W_RANDOM, 0, 1},
};
static const char *const wnames[] = {"no weights", "random weights", "kernel weights"};

START_TEST(test_kkt_and_duality_gap_along_the_path)
{
    for (size_t ci = 0; ci < sizeof configs / sizeof configs[0]; ci++) {
        const config *cf = &configs[ci];
        problem pr = {0};
        refstats rs;
        gmr_lasso_options o;
        gmr_lasso l;
        gmr_lasso_info info;
        char msg[768] = "";
        int ok = 1, p = 24;
        ld *b = malloc((size_t)p * sizeof *b), b0;
        ck_assert(b != NULL);
        problem_make(&pr, 100 + ci, 500, p, cf->rho, cf->wk);
        refstats_make(&pr, cf->intercept, cf->standardize, &rs);
        gmr_lasso_options_init(&o);
        o.intercept = cf->intercept;
        o.standardize = cf->standardize;
        o.nlambda = 40;
        l = fit_all(&pr, &o);
        ck_assert(gmr_lasso_get_info(l, &info) == GMR_OK);
        all_assert(info.nlambda == 40 && info.nconverged == 40, "config %zu: %d lambdas, %d converged, expected 40 and 40",
                   ci, info.nlambda, info.nconverged);
        for (int k = 0; k < 40 && ok; k++) {
            gmr_lasso_fit f;
            ld P, gap;
            ck_assert(gmr_lasso_get_fit(l, k, &f) == GMR_OK);
            if (k) {
                gmr_lasso_fit prev;
                ck_assert(gmr_lasso_get_fit(l, k - 1, &prev) == GMR_OK);
                double want = info.lambda_max * pow(1e-4, k / 39.0);
                if (!(f.lambda < prev.lambda) || fabs(f.lambda - want) > 1e-12 * want) {
                    snprintf(msg, sizeof msg, "lambda %d = %.17g, expected %.17g, decreasing", k, f.lambda, want);
                    ok = 0;
                    break;
                }
            }
            ok = kkt_ok(&pr, &rs, cf->intercept, &f, info.lambda_max, msg, sizeof msg);
            if (!ok) break;
            fit_to_ld(&f, p, &b0, b);
            gap = gap_rows(&pr, &rs, cf->intercept, f.lambda, b0, b, &P);
            if (!(gap <= 1e-8L * P * (1 + 1e-6L) + 1e-13L * P) || !(f.rel_gap <= 1e-8) ||
                fabsl(P - f.objective) > 1e-9L * P) {
                snprintf(msg, sizeof msg,
                         "lambda %d = %.6g: gap from the rows %.3Lg (relative %.3Lg), reported %.3g (relative %.3g), "
                         "objective %.17Lg vs reported %.17g",
                         k, f.lambda, gap, gap / P, f.gap, f.rel_gap, P, f.objective);
                ok = 0;
            }
        }
        all_assert(ok, "config %zu (rho %.1f, %s, intercept %d, standardize %d): %s", ci, cf->rho, wnames[cf->wk],
                   cf->intercept, cf->standardize, msg);
        gmr_lasso_destroy(&l);
        /* coordinate descent alone (no polish): with an intercept it reaches the tolerance at
         * every lambda; without one, on uncentred columns (a condition number like glmnet's
         * 3e-4 gap case) it may stall, and must then say so: a lambda flagged converged has
         * its gap, one that is not reports the gap it has */
        o.polish = 0;
        o.max_passes = 5000;
        l = fit_all(&pr, &o);
        ck_assert(gmr_lasso_get_info(l, &info) == GMR_OK);
        for (int k = 0; k < 40 && ok; k++) {
            gmr_lasso_fit f;
            ld P, gap;
            ck_assert(gmr_lasso_get_fit(l, k, &f) == GMR_OK);
            fit_to_ld(&f, p, &b0, b);
            gap = gap_rows(&pr, &rs, cf->intercept, f.lambda, b0, b, &P);
            if (f.polished || (f.converged && !(gap <= 1e-8L * P * (1 + 1e-6L) + 1e-13L * P)) ||
                (!f.converged && (f.rel_gap <= 1e-8 || fabsl(gap - f.gap) > 1e-3L * gap + 1e-13L * P))) {
                snprintf(msg, sizeof msg,
                         "without polish, lambda %d: gap from the rows %.3Lg relative, reported %.3g, converged %d, "
                         "polished %d",
                         k, gap / P, f.rel_gap, f.converged, f.polished);
                ok = 0;
            }
        }
        all_assert(ok && (info.nconverged == 40 || !cf->intercept), "config %zu: %d of 40 converged: %s", ci,
                   info.nconverged, msg);
        gmr_lasso_destroy(&l);
        refstats_free(&rs);
        problem_free(&pr);
        free(b);
    }
}
END_TEST

START_TEST(test_certified_by_an_exact_solve_on_the_active_set)
{
    static const int ks[] = {5, 15, 30, 45, 59};
    for (size_t ci = 0; ci < sizeof configs / sizeof configs[0]; ci++) {
        const config *cf = &configs[ci];
        problem pr = {0};
        refstats rs;
        gmr_lasso_options o;
        gmr_lasso l;
        char msg[768] = "";
        int ok = 1, p = 20, act[64];
        double sgn[64];
        ld *b = malloc((size_t)p * sizeof *b), *bref = malloc((size_t)p * sizeof *bref), b0, b0ref;
        ld *corr = malloc((size_t)p * sizeof *corr);
        ck_assert(b && bref && corr);
        problem_make(&pr, 200 + ci, 400, p, cf->rho, cf->wk);
        refstats_make(&pr, cf->intercept, cf->standardize, &rs);
        gmr_lasso_options_init(&o);
        o.intercept = cf->intercept;
        o.standardize = cf->standardize;
        o.nlambda = 60;
        l = fit_all(&pr, &o);
        for (size_t t = 0; t < sizeof ks / sizeof ks[0] && ok; t++) {
            gmr_lasso_fit f;
            int a = 0;
            ld P, Pref;
            ck_assert(gmr_lasso_get_fit(l, ks[t], &f) == GMR_OK);
            fit_to_ld(&f, p, &b0, b);
            for (int j = 0; j < p; j++)
                if (f.beta[j] != 0) {
                    act[a] = j;
                    sgn[a++] = f.beta[j] > 0 ? 1 : -1;
                }
            if (active_set_solve(&pr, &rs, cf->intercept, f.lambda, act, a, sgn, &b0ref, bref) != 0) {
                snprintf(msg, sizeof msg, "lambda %d: the QR solve on the active set failed", ks[t]);
                ok = 0;
                break;
            }
            /* the reference certifies itself: signs as assumed, KKT outside the active set */
            Pref = objective_rows(&pr, &rs, cf->intercept, f.lambda, b0ref, bref, corr, NULL);
            for (int u = 0; u < a && ok; u++)
                if (bref[act[u]] * sgn[u] <= 0) {
                    snprintf(msg, sizeof msg, "lambda %d: the reference b_%d = %.6Lg has the wrong sign", ks[t], act[u],
                             bref[act[u]]);
                    ok = 0;
                }
            for (int j = 0; j < p && ok; j++)
                if (bref[j] == 0 && fabsl(corr[j]) > f.lambda * rs.pen[j] * (1 + 1e-9L)) {
                    snprintf(msg, sizeof msg, "lambda %d: the reference violates KKT at column %d (%.10Lg > %.10Lg)",
                             ks[t], j, fabsl(corr[j]), f.lambda * rs.pen[j]);
                    ok = 0;
                }
            if (!ok) break;
            P = objective_rows(&pr, &rs, cf->intercept, f.lambda, b0, b, NULL, NULL);
            if (fabsl(P - Pref) > 1e-12L * Pref) {
                snprintf(msg, sizeof msg, "lambda %d (%d active): objective %.17Lg, certified optimum %.17Lg (relative %.3Lg)",
                         ks[t], a, P, Pref, fabsl(P - Pref) / Pref);
                ok = 0;
            }
            for (int j = 0; j < p && ok; j++)
                if (fabsl(b[j] - bref[j]) > 1e-7L * fabsl(bref[j]) + 1e-12L) {
                    snprintf(msg, sizeof msg, "lambda %d: b_%d = %.17Lg, certified %.17Lg", ks[t], j, b[j], bref[j]);
                    ok = 0;
                }
        }
        all_assert(ok, "config %zu (rho %.1f, %s, intercept %d, standardize %d): %s", ci, cf->rho, wnames[cf->wk],
                   cf->intercept, cf->standardize, msg);
        gmr_lasso_destroy(&l);
        refstats_free(&rs);
        problem_free(&pr);
        free(b);
        free(bref);
        free(corr);
    }
}
END_TEST

/* ---- rank counts, weights, standardisation -------------------------------------------------- */

/* Coefficients compared to rel. Without sd: each one relative to itself (with a floor of
 * 1e-14 of the largest). With sd (the columns' standard deviations): the vector, in the norm
 * max_j sd_j |b_j|, the largest change of a fitted value per standard deviation of its column;
 * the intercept relative to |b0| + sum |xbar_j b_j|. The per-coefficient form is meaningless
 * for a coefficient near zero on ill-conditioned data: reversing the order of the rows on one
 * rank already moves one of 0.07 (about to leave the model, no intercept, uncentred columns
 * with means up to 1000) by 3e-10 of itself, while the scaled norm moves by 7e-12. */
static int same_fit(const gmr_lasso_fit *a, const gmr_lasso_fit *b, int p, double rel, const ld *sd, const ld *xbar,
                    char *msg, size_t cap)
{
    double big = 0, ib = fabs(b->intercept);
    for (int j = 0; j < p; j++) {
        double v = fabs(b->beta[j]) * (sd ? (double)sd[j] : 1.0);
        if (v > big) big = v;
        if (xbar) ib += fabs((double)xbar[j] * b->beta[j]);
    }
    for (int j = 0; j < p; j++) {
        double d = fabs(a->beta[j] - b->beta[j]);
        if (sd ? d * (double)sd[j] > rel * big : d > rel * fabs(b->beta[j]) + 1e-14 * big) {
            snprintf(msg, cap, "lambda %.6g: b_%d = %.17g vs %.17g%s", b->lambda, j, a->beta[j], b->beta[j],
                     sd ? " (scaled by the column's sd, relative to the largest)" : "");
            return 0;
        }
    }
    if (fabs(a->intercept - b->intercept) > rel * (xbar ? ib : fabs(b->intercept)) + 1e-14) {
        snprintf(msg, cap, "lambda %.6g: intercept %.17g vs %.17g", b->lambda, a->intercept, b->intercept);
        return 0;
    }
    return 1;
}

/* The same bits: every field of the fit compared as bytes (docs/lasso.md, "Reproducibility
 * across rank counts"). */
static int identical_fit(const gmr_lasso_fit *a, const gmr_lasso_fit *b, int p, char *msg, size_t cap)
{
    const double fa[8] = {a->lambda, a->objective, a->gap, a->rel_gap, a->intercept, a->r2, a->rmse, a->gamma_locrmse};
    const double fb[8] = {b->lambda, b->objective, b->gap, b->rel_gap, b->intercept, b->r2, b->rmse, b->gamma_locrmse};
    static const char *const names[8] = {"lambda", "objective", "gap", "rel_gap", "intercept", "r2", "rmse", "gamma"};
    for (int f = 0; f < 8; f++)
        if (memcmp(&fa[f], &fb[f], sizeof fa[f]) != 0) {
            snprintf(msg, cap, "lambda %.17g: %s %.17g vs %.17g", b->lambda, names[f], fa[f], fb[f]);
            return 0;
        }
    for (int j = 0; j < p; j++)
        if (memcmp(&a->beta[j], &b->beta[j], sizeof a->beta[j]) != 0) {
            snprintf(msg, cap, "lambda %.17g: b_%d = %.17g vs %.17g", b->lambda, j, a->beta[j], b->beta[j]);
            return 0;
        }
    if (a->nonzero != b->nonzero || a->passes != b->passes || a->converged != b->converged || a->polished != b->polished) {
        snprintf(msg, cap, "lambda %.17g: nonzero/passes/converged/polished %d/%ld/%d/%d vs %d/%ld/%d/%d", b->lambda,
                 a->nonzero, a->passes, a->converged, a->polished, b->nonzero, b->passes, b->converged, b->polished);
        return 0;
    }
    return 1;
}

/* Rows of this rank under split `how`: 0 even, 1 uneven (rank 0 empty), 2 ragged (cuts at
 * pseudo-random places, not multiples of anything). */
static void split_rows(size_t n, int how, size_t *lo, size_t *hi)
{
    if (how < 2) {
        block(n, how, lo, hi);
        return;
    }
    *lo = rank == 0 ? 0 : (n * (size_t)rank) / (size_t)size - 37 * (size_t)rank + 11;
    *hi = rank == size - 1 ? n : (n * (size_t)(rank + 1)) / (size_t)size - 37 * (size_t)(rank + 1) + 11;
}

START_TEST(test_same_coefficients_on_every_rank_count)
{
    /* 2600 rows: five blocks of 512 and a short one, so rank boundaries fall inside blocks */
    for (size_t ci = 0; ci < sizeof configs / sizeof configs[0] + 1; ci += 2) {
        const config *cf = &configs[ci < sizeof configs / sizeof configs[0] ? ci : 2];
        int fista = ci >= sizeof configs / sizeof configs[0];
        problem pr = {0};
        gmr_lasso_options o;
        gmr_err e;
        gmr_lasso self, dist;
        size_t lo, hi;
        char msg[512] = "";
        int ok = 1;
        problem_make(&pr, 300 + ci, 2600, 30, cf->rho, cf->wk);
        gmr_lasso_options_init(&o);
        o.intercept = cf->intercept;
        o.standardize = cf->standardize;
        o.nlambda = 30;
        if (fista) {
            o.method = GMR_LASSO_FISTA;
            o.nlambda = 8;
            o.tol = 1e-6;
        }
        self = fit_on(MPI_COMM_SELF, &pr, 0, pr.n, &o, &e);
        all_assert(e == GMR_OK, "fit on MPI_COMM_SELF: %s", gmr_err_message());
        for (int how = 0; how <= 2; how++) {
            split_rows(pr.n, how, &lo, &hi);
            dist = fit_on(MPI_COMM_WORLD, &pr, lo, hi, &o, &e);
            all_assert(e == GMR_OK, "distributed fit: %s", gmr_err_message());
            for (int k = 0; k < o.nlambda && ok; k++) {
                gmr_lasso_fit a, b;
                ck_assert(gmr_lasso_get_fit(dist, k, &a) == GMR_OK && gmr_lasso_get_fit(self, k, &b) == GMR_OK);
                ok = identical_fit(&a, &b, pr.p, msg, sizeof msg);
            }
            all_assert(ok, "config %zu%s, %s split on %d ranks vs one: not the same bits: %s", ci, fista ? " (FISTA)" : "",
                       how == 0 ? "even" : how == 1 ? "uneven" : "ragged", size, msg);
            gmr_lasso_destroy(&dist);
        }
        gmr_lasso_destroy(&self);
        problem_free(&pr);
    }
}
END_TEST

START_TEST(test_unit_weights_reproduce_the_unweighted_problem)
{
    problem pr = {0};
    gmr_lasso_options o;
    gmr_lasso a, b;
    char msg[512] = "";
    int ok = 1;
    problem_make(&pr, 400, 500, 16, 0.8, W_NONE);
    gmr_lasso_options_init(&o);
    o.nlambda = 25;
    a = fit_all(&pr, &o);
    pr.w = malloc(pr.n * sizeof *pr.w);
    ck_assert(pr.w != NULL);
    for (size_t i = 0; i < pr.n; i++) pr.w[i] = 1;
    b = fit_all(&pr, &o);
    for (int k = 0; k < 25 && ok; k++) {
        gmr_lasso_fit fa, fb;
        ck_assert(gmr_lasso_get_fit(a, k, &fa) == GMR_OK && gmr_lasso_get_fit(b, k, &fb) == GMR_OK);
        ok = fa.lambda == fb.lambda && same_fit(&fa, &fb, pr.p, 1e-13, NULL, NULL, msg, sizeof msg);
    }
    all_assert(ok, "weights 1 vs none: %s", msg);
    gmr_lasso_destroy(&a);
    gmr_lasso_destroy(&b);
    /* the glmnet relation: weights x 3 and lambda x 3 leave the coefficients unchanged */
    {
        double lam[3] = {50, 5, 0.5}, lam3[3] = {150, 15, 1.5};
        o.lambdas = lam;
        o.nlambdas = 3;
        a = fit_all(&pr, &o);
        for (size_t i = 0; i < pr.n; i++) pr.w[i] = 3;
        o.lambdas = lam3;
        b = fit_all(&pr, &o);
        for (int k = 0; k < 3 && ok; k++) {
            gmr_lasso_fit fa, fb;
            ck_assert(gmr_lasso_get_fit(a, k, &fa) == GMR_OK && gmr_lasso_get_fit(b, k, &fb) == GMR_OK);
            ok = same_fit(&fb, &fa, pr.p, 1e-10, NULL, NULL, msg, sizeof msg);
        }
        all_assert(ok, "weights x 3, lambda x 3: %s", msg);
        gmr_lasso_destroy(&a);
        gmr_lasso_destroy(&b);
    }
    problem_free(&pr);
}
END_TEST

START_TEST(test_standardize_equals_fitting_prescaled_columns)
{
    problem pr = {0};
    gmr_lasso_options o;
    gmr_lasso a, b;
    refstats rs;
    char msg[512] = "";
    int ok = 1;
    double lam[4] = {200, 40, 8, 0.5};
    problem_make(&pr, 500, 400, 12, 0.5, W_RANDOM);
    refstats_make(&pr, 1, 1, &rs);
    gmr_lasso_options_init(&o);
    o.standardize = 1;
    o.lambdas = lam;
    o.nlambdas = 4;
    a = fit_all(&pr, &o);
    for (size_t i = 0; i < pr.n; i++)
        for (int j = 0; j < pr.p; j++) pr.x[i * (size_t)pr.p + (size_t)j] /= (double)rs.pen[j];
    o.standardize = 0;
    b = fit_all(&pr, &o);
    for (int k = 0; k < 4 && ok; k++) {
        gmr_lasso_fit fa, fb;
        double bs[64];
        ck_assert(gmr_lasso_get_fit(a, k, &fa) == GMR_OK && gmr_lasso_get_fit(b, k, &fb) == GMR_OK);
        for (int j = 0; j < pr.p; j++) bs[j] = fb.beta[j] / (double)rs.pen[j];
        fb.beta = bs;
        ok = same_fit(&fa, &fb, pr.p, 1e-9, NULL, NULL, msg, sizeof msg) && fabs(fa.objective - fb.objective) <= 1e-9 * fb.objective;
        if (ok && fa.nonzero == 0 && k == 3) {
            snprintf(msg, sizeof msg, "no coefficient at the smallest lambda: the test is too easy");
            ok = 0;
        }
    }
    all_assert(ok, "standardize vs pre-scaled columns: %s", msg);
    gmr_lasso_destroy(&a);
    gmr_lasso_destroy(&b);
    refstats_free(&rs);
    problem_free(&pr);
}
END_TEST

START_TEST(test_single_lambda_from_a_cold_start_matches_the_path)
{
    problem pr = {0};
    gmr_lasso_options o;
    gmr_lasso path, one;
    gmr_lasso_fit fp, f1;
    char msg[512] = "";
    problem_make(&pr, 600, 600, 25, 0.8, W_KERNEL);
    gmr_lasso_options_init(&o);
    o.nlambda = 50;
    path = fit_all(&pr, &o);
    ck_assert(gmr_lasso_get_fit(path, 37, &fp) == GMR_OK);
    o.lambdas = &fp.lambda;
    o.nlambdas = 1;
    one = fit_all(&pr, &o);
    ck_assert(gmr_lasso_get_fit(one, 0, &f1) == GMR_OK);
    all_assert(f1.converged && f1.rel_gap <= 1e-8 && same_fit(&f1, &fp, pr.p, 1e-8, NULL, NULL, msg, sizeof msg),
               "single lambda %.6g (rel gap %.3g): %s", fp.lambda, f1.rel_gap, msg);
    gmr_lasso_destroy(&path);
    gmr_lasso_destroy(&one);
    problem_free(&pr);
}
END_TEST

/* ---- bad inputs --------------------------------------------------------------------------------- */

/* Fits with one value spoiled on the last rank; expects code on every rank. */
static void expect_failure(problem *pr, const gmr_lasso_options *o, gmr_err want, const char *what, const char *needle)
{
    size_t lo, hi;
    gmr_err e;
    gmr_lasso l;
    int mine_has;
    block(pr->n, 0, &lo, &hi);
    l = fit_on(MPI_COMM_WORLD, pr, lo, hi, o, &e);
    all_assert(e == want && l == NULL, "%s: expected %s, got %s: %s", what, gmr_err_name(want), gmr_err_name(e),
               gmr_err_message());
    /* the rank that saw it names it; the others say which rank failed */
    mine_has = needle == NULL || strstr(gmr_err_message(), needle) != NULL || strstr(gmr_err_message(), "failed on rank");
    all_assert(mine_has, "%s: message '%s' lacks '%s'", what, gmr_err_message(), needle ? needle : "");
    gmr_err_clear();
}

START_TEST(test_bad_inputs_fail_everywhere_with_a_clear_error)
{
    problem pr = {0};
    gmr_lasso_options o;
    size_t last = 0, n = 200;
    char want[64];
    problem_make(&pr, 700, n, 6, 0.5, W_RANDOM);
    gmr_lasso_options_init(&o);
    o.nlambda = 5;
    /* a row of the last rank */
    last = n * (size_t)(size - 1) / (size_t)size + 3;
    snprintf(want, sizeof want, "row %zu", last);

    pr.x[last * 6 + 2] = NAN;
    expect_failure(&pr, &o, GMR_ERR_DATA, "NaN in X", want);
    pr.x[last * 6 + 2] = INFINITY;
    expect_failure(&pr, &o, GMR_ERR_DATA, "Inf in X", want);
    pr.x[last * 6 + 2] = 1;
    pr.y[last] = -INFINITY;
    expect_failure(&pr, &o, GMR_ERR_DATA, "Inf in y", want);
    pr.y[last] = NAN;
    expect_failure(&pr, &o, GMR_ERR_DATA, "NaN in y", want);
    pr.y[last] = 1;
    pr.w[last] = -0.5;
    expect_failure(&pr, &o, GMR_ERR_DATA, "negative weight", "weight -0.5");
    pr.w[last] = NAN;
    expect_failure(&pr, &o, GMR_ERR_DATA, "NaN weight", want);
    for (size_t i = 0; i < n; i++) pr.w[i] = 0;
    expect_failure(&pr, &o, GMR_ERR_DATA, "all weights 0", "positive weight");
    for (size_t i = 0; i < n; i++) pr.w[i] = 1;
    {
        gmr_lasso l = NULL;
        double lam = -1;
        o.lambdas = &lam;
        o.nlambdas = 1;
        ck_assert(gmr_lasso_create(MPI_COMM_WORLD, &l) == GMR_OK);
        gmr_err e = gmr_lasso_set_options(l, &o);
        all_assert(e == GMR_ERR_ARG && strstr(gmr_err_message(), "lambda -1"), "lambda < 0: expected GMR_ERR_ARG, got %s: %s",
                   gmr_err_name(e), gmr_err_message());
        lam = NAN;
        e = gmr_lasso_set_options(l, &o);
        all_assert(e == GMR_ERR_ARG, "lambda NaN: expected GMR_ERR_ARG, got %s", gmr_err_name(e));
        o.lambdas = NULL;
        o.tol = 0;
        e = gmr_lasso_set_options(l, &o);
        all_assert(e == GMR_ERR_ARG, "tol 0: expected GMR_ERR_ARG, got %s", gmr_err_name(e));
        gmr_lasso_options_init(&o);
        o.nlambda = 5;
        e = gmr_lasso_solve(l);
        all_assert(e == GMR_ERR_STATE, "solve before data: expected GMR_ERR_STATE, got %s", gmr_err_name(e));
        gmr_lasso_destroy(&l);
        gmr_lasso_destroy(&l); /* twice: a no-op */
        gmr_lasso_destroy(NULL);
        gmr_err_clear();
    }
    /* p over the Gram limit with the Gram method asked for, and p differing between ranks */
    o.max_features = 5;
    o.method = GMR_LASSO_GRAM;
    expect_failure(&pr, &o, GMR_ERR_ARG, "p over max_features", "limit of 5");
    o.max_features = GMR_LASSO_DEFAULT_MAX_FEATURES;
    o.method = GMR_LASSO_AUTO;
    if (size > 1) {
        gmr_lasso l = NULL;
        size_t lo, hi;
        gmr_lasso_rows r;
        block(pr.n, 0, &lo, &hi);
        r = rows_of(&pr, lo, hi);
        if (rank == 0) r.p = 5;
        ck_assert(gmr_lasso_create(MPI_COMM_WORLD, &l) == GMR_OK);
        gmr_err e = gmr_lasso_set_data(l, &r);
        all_assert(e == GMR_ERR_ARG && strstr(gmr_err_message(), "disagree"), "p differing: got %s: %s",
                   gmr_err_name(e), gmr_err_message());
        gmr_lasso_destroy(&l);
        gmr_err_clear();
    }
    problem_free(&pr);
}
END_TEST

START_TEST(test_constant_column_gets_zero_and_a_flag)
{
    problem pr = {0}, sub = {0};
    gmr_lasso_options o;
    gmr_lasso a, b;
    gmr_lasso_info info;
    char msg[512] = "";
    int ok = 1, p = 8;
    double lam[3] = {100, 10, 1};
    problem_make(&pr, 800, 300, p, 0.5, W_NONE);
    for (size_t i = 0; i < pr.n; i++) pr.x[i * (size_t)p + 3] = 1.05; /* a bus voltage that never moves */
    /* the same problem without that column */
    sub.n = pr.n;
    sub.p = p - 1;
    sub.x = malloc(pr.n * (size_t)(p - 1) * sizeof *sub.x);
    sub.y = pr.y;
    ck_assert(sub.x != NULL);
    for (size_t i = 0; i < pr.n; i++)
        for (int j = 0, t = 0; j < p; j++)
            if (j != 3) sub.x[i * (size_t)(p - 1) + (size_t)t++] = pr.x[i * (size_t)p + (size_t)j];
    for (int standardize = 0; standardize <= 1; standardize++) {
        gmr_lasso_options_init(&o);
        o.standardize = standardize;
        o.lambdas = lam;
        o.nlambdas = 3;
        a = fit_all(&pr, &o);
        b = fit_all(&sub, &o);
        ck_assert(gmr_lasso_get_info(a, &info) == GMR_OK);
        all_assert(info.nconstant == 1 && info.constant[3] == 1, "standardize %d: %d constant columns flagged",
                   standardize, info.nconstant);
        for (int k = 0; k < 3 && ok; k++) {
            gmr_lasso_fit fa, fb;
            double full[16];
            ck_assert(gmr_lasso_get_fit(a, k, &fa) == GMR_OK && gmr_lasso_get_fit(b, k, &fb) == GMR_OK);
            for (int j = 0, t = 0; j < p; j++) full[j] = j == 3 ? 0 : fb.beta[t++];
            fb.beta = full;
            ok = fa.beta[3] == 0 && same_fit(&fa, &fb, p, 1e-9, NULL, NULL, msg, sizeof msg);
        }
        all_assert(ok, "standardize %d: with a constant column vs without it: %s", standardize, msg);
        gmr_lasso_destroy(&a);
        gmr_lasso_destroy(&b);
    }
    free(sub.x);
    problem_free(&pr);
}
END_TEST

START_TEST(test_fewer_rows_than_features_still_satisfies_kkt)
{
    problem pr = {0};
    refstats rs;
    gmr_lasso_options o;
    gmr_lasso l;
    gmr_lasso_info info;
    char msg[512] = "";
    int ok = 1;
    problem_make(&pr, 900, 30, 50, 0.5, W_NONE);
    refstats_make(&pr, 1, 0, &rs);
    gmr_lasso_options_init(&o);
    o.nlambda = 30;
    l = fit_all(&pr, &o);
    ck_assert(gmr_lasso_get_info(l, &info) == GMR_OK);
    for (int k = 0; k < 30 && ok; k++) {
        gmr_lasso_fit f;
        ck_assert(gmr_lasso_get_fit(l, k, &f) == GMR_OK);
        ok = kkt_ok(&pr, &rs, 1, &f, info.lambda_max, msg, sizeof msg);
        if (ok && k == 29 && fabs(f.lambda - 1e-2 * info.lambda_max) > 1e-12 * f.lambda) {
            snprintf(msg, sizeof msg, "n < p: the path should end at 1e-2 lambda_max, ends at %.6g", f.lambda / info.lambda_max);
            ok = 0;
        }
    }
    all_assert(ok && info.nconverged == 30, "n = 30 < p = 50 (%d of 30 converged): %s", info.nconverged, msg);
    gmr_lasso_destroy(&l);
    refstats_free(&rs);
    problem_free(&pr);
}
END_TEST

/* ---- FISTA, for p too large for a Gram matrix ----------------------------------------------------- */

START_TEST(test_fista_reaches_the_gap_and_the_gram_optimum)
{
    static const size_t which[] = {0, 2, 3, 4, 7};
    for (size_t wi = 0; wi < sizeof which / sizeof which[0]; wi++) {
        size_t ci = which[wi];
        const config *cf = &configs[ci];
        problem pr = {0};
        refstats rs;
        gmr_lasso_options o;
        gmr_lasso g, f;
        gmr_lasso_info gi, fi;
        char msg[512] = "";
        int ok = 1, p = 20;
        ld *b = calloc((size_t)p, sizeof *b), b0;
        ck_assert(b != NULL);
        problem_make(&pr, 1100 + ci, 400, p, cf->rho, cf->wk);
        refstats_make(&pr, cf->intercept, cf->standardize, &rs);
        gmr_lasso_options_init(&o);
        o.intercept = cf->intercept;
        o.standardize = cf->standardize;
        o.nlambda = 15;
        g = fit_all(&pr, &o);
        o.max_features = 10; /* p = 20 > 10: the automatic choice is FISTA */
        f = fit_all(&pr, &o);
        ck_assert(gmr_lasso_get_info(g, &gi) == GMR_OK && gmr_lasso_get_info(f, &fi) == GMR_OK);
        all_assert(gi.method == GMR_LASSO_GRAM && fi.method == GMR_LASSO_FISTA && fi.nconverged == 15,
                   "config %zu: methods %d and %d, FISTA converged at %d of 15 lambdas", ci, (int)gi.method,
                   (int)fi.method, fi.nconverged);
        for (int k = 0; k < 15 && ok; k++) {
            gmr_lasso_fit fg, ff;
            ld P, Pg, gap;
            ck_assert(gmr_lasso_get_fit(g, k, &fg) == GMR_OK && gmr_lasso_get_fit(f, k, &ff) == GMR_OK);
            fit_to_ld(&fg, p, &b0, b);
            Pg = objective_rows(&pr, &rs, cf->intercept, fg.lambda, b0, b, NULL, NULL);
            fit_to_ld(&ff, p, &b0, b);
            gap = gap_rows(&pr, &rs, cf->intercept, ff.lambda, b0, b, &P);
            /* certified by its own gap from the rows, and no better than the exact optimum */
            /* (lambda_max comes from FISTA's own statistics, equal to rounding) */
            if (fabs(ff.lambda - fg.lambda) > 1e-12 * fg.lambda || !(gap <= 1e-8L * P * (1 + 1e-6L) + 1e-13L * P) ||
                !(P >= Pg * (1 - 1e-12L)) ||
                !(P <= Pg * (1 + 1e-8L))) {
                snprintf(msg, sizeof msg,
                         "lambda %d: FISTA objective %.17Lg (gap from the rows %.3Lg relative), Gram %.17Lg", k, P, gap / P,
                         Pg);
                ok = 0;
            }
        }
        all_assert(ok, "config %zu (rho %.1f, %s, intercept %d, standardize %d): %s", ci, cf->rho, wnames[cf->wk],
                   cf->intercept, cf->standardize, msg);
        gmr_lasso_destroy(&g);
        gmr_lasso_destroy(&f);
        refstats_free(&rs);
        problem_free(&pr);
        free(b);
    }
}
END_TEST

/* ---- the model file ------------------------------------------------------------------------------ */

START_TEST(test_model_file_round_trip_prediction_and_gamma)
{
    problem pr = {0};
    gmr_lasso_options o;
    gmr_lasso l;
    gmr_lasso_model m = NULL;
    char path[256], msg[512] = "";
    const char *names[6] = {"v1", "v2", "load", "temp", "q", "x,y"};
    int ok = 1;
    gmr_err e;
    tmp_path(path, sizeof path, "model.h5");
    problem_make(&pr, 1000, 400, 6, 0.5, W_NONE);
    gmr_lasso_options_init(&o);
    o.nlambda = 10;
    ck_assert(gmr_lasso_create(MPI_COMM_WORLD, &l) == GMR_OK);
    ck_assert(gmr_lasso_set_options(l, &o) == GMR_OK);
    ck_assert(gmr_lasso_set_names(l, 6, names) == GMR_OK);
    ck_assert(gmr_lasso_set_attr(l, "response", "margin") == GMR_OK);
    {
        size_t lo, hi;
        block(pr.n, 1, &lo, &hi);
        gmr_lasso_rows r = rows_of(&pr, lo, hi);
        ck_assert(gmr_lasso_set_data(l, &r) == GMR_OK);
    }
    ck_assert(gmr_lasso_solve(l) == GMR_OK);
    e = gmr_lasso_write(l, path);
    all_assert(e == GMR_OK, "write: %s", gmr_err_message());
    e = gmr_lasso_model_read(path, &m);
    all_assert(e == GMR_OK, "read: %s", gmr_err_message());
    all_assert(gmr_lasso_model_p(m) == 6 && gmr_lasso_model_nlambda(m) == 10 &&
                   strcmp(gmr_lasso_model_name(m, 5), "x,y") == 0 &&
                   strcmp(gmr_lasso_model_attr(m, "response"), "margin") == 0 &&
                   strcmp(gmr_lasso_model_attr(m, "intercept"), "yes") == 0 && !gmr_lasso_model_attr(m, "nope"),
               "the model's shape, names or attributes differ");
    for (int k = 0; k < 10 && ok; k++) {
        gmr_lasso_fit a, b;
        ck_assert(gmr_lasso_get_fit(l, k, &a) == GMR_OK && gmr_lasso_model_fit(m, k, &b) == GMR_OK);
        ok = a.lambda == b.lambda && a.objective == b.objective && a.gap == b.gap && a.intercept == b.intercept &&
             a.passes == b.passes && a.nonzero == b.nonzero && a.converged == b.converged && a.r2 == b.r2 &&
             a.rmse == b.rmse && a.gamma_locrmse == b.gamma_locrmse && memcmp(a.beta, b.beta, 6 * sizeof(double)) == 0;
        if (!ok) snprintf(msg, sizeof msg, "lambda %d read back differs", k);
    }
    all_assert(ok, "%s", msg);
    /* prediction, and gamma_locRMSE around two operating points (columns 2, 3) against sums here */
    {
        gmr_lasso_fit f;
        size_t lo, hi;
        double yhat[400], gam[2], lrms[2], z0[4] = {-3, 1000, -1, 1003}, h = 3;
        int col[2] = {2, 3};
        ck_assert(gmr_lasso_model_fit(m, 9, &f) == GMR_OK);
        ck_assert(gmr_lasso_model_predict(m, 9, pr.n, pr.x, 6, yhat) == GMR_OK);
        for (size_t i = 0; i < pr.n && ok; i++) {
            ld s = f.intercept;
            for (int j = 0; j < 6; j++) s += (ld)f.beta[j] * pr.x[i * 6 + (size_t)j];
            if (fabsl(s - yhat[i]) > 1e-12L * (fabsl(s) + 1)) {
                snprintf(msg, sizeof msg, "prediction of row %zu: %.17g, expected %.17Lg", i, yhat[i], s);
                ok = 0;
            }
        }
        all_assert(ok, "%s", msg);
        block(pr.n, 0, &lo, &hi);
        gmr_lasso_rows r = rows_of(&pr, lo, hi);
        e = gmr_lasso_model_gamma(MPI_COMM_WORLD, m, 9, &r, r.x, 6, 2, col, h, 2, z0, gam, lrms);
        all_assert(e == GMR_OK, "gamma: %s", gmr_err_message());
        for (int q = 0; q < 2 && ok; q++) {
            ld swr = 0, sw = 0;
            for (size_t i = 0; i < pr.n; i++) {
                ld d0 = pr.x[i * 6 + 2] - z0[2 * q], d1 = pr.x[i * 6 + 3] - z0[2 * q + 1];
                ld w = expl(-(d0 * d0 + d1 * d1) / (2.0L * h * h)), res = pr.y[i] - yhat[i];
                sw += w;
                swr += w * res * res;
            }
            if (fabsl(gam[q] - sqrtl(swr)) > 1e-10L * sqrtl(swr) || fabsl(lrms[q] - sqrtl(swr / sw)) > 1e-10L * sqrtl(swr / sw)) {
                snprintf(msg, sizeof msg, "point %d: gamma %.17g, locrms %.17g, expected %.17Lg and %.17Lg", q, gam[q],
                         lrms[q], sqrtl(swr), sqrtl(swr / sw));
                ok = 0;
            }
        }
        all_assert(ok, "%s", msg);
        /* with no kernel (h huge: every weight 1) gamma is the model's own, sqrt(rss) */
        e = gmr_lasso_model_gamma(MPI_COMM_WORLD, m, 9, &r, r.x, 6, 2, col, 1e200, 1, z0, gam, NULL);
        all_assert(e == GMR_OK && fabs(gam[0] - f.gamma_locrmse) <= 1e-9 * f.gamma_locrmse,
                   "gamma with unit weights %.17g, the model's %.17g", gam[0], f.gamma_locrmse);
    }
    gmr_lasso_model_destroy(&m);
    gmr_lasso_model_destroy(&m); /* twice: a no-op */
    MPI_Barrier(MPI_COMM_WORLD); /* every rank has read it: now remove it */
    if (rank == 0) unlink(path);
    MPI_Barrier(MPI_COMM_WORLD);
    e = gmr_lasso_model_read(path, &m);
    all_assert(e == GMR_ERR_IO && m == NULL, "reading a missing model: expected GMR_ERR_IO, got %s", gmr_err_name(e));
    gmr_err_clear();
    e = gmr_lasso_write(l, "/nonexistent/dir/model.h5");
    all_assert(e == GMR_ERR_IO, "writing to a missing directory: expected GMR_ERR_IO everywhere, got %s",
               gmr_err_name(e));
    gmr_err_clear();
    gmr_lasso_destroy(&l);
    problem_free(&pr);
}
END_TEST

/* ---- runner -------------------------------------------------------------------------------------- */

static Suite *lasso_suite(void)
{
    Suite *s = suite_create("lasso");
    TCase *tc = tcase_create("exact");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_orthogonal_design_is_soft_thresholding);
    tcase_add_test(tc, test_lambda_max_gives_the_zero_solution);
    tcase_add_test(tc, test_kkt_and_duality_gap_along_the_path);
    tcase_add_test(tc, test_certified_by_an_exact_solve_on_the_active_set);
    suite_add_tcase(s, tc);

    tc = tcase_create("invariance");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_same_coefficients_on_every_rank_count);
    tcase_add_test(tc, test_unit_weights_reproduce_the_unweighted_problem);
    tcase_add_test(tc, test_standardize_equals_fitting_prescaled_columns);
    tcase_add_test(tc, test_single_lambda_from_a_cold_start_matches_the_path);
    tcase_add_test(tc, test_fista_reaches_the_gap_and_the_gram_optimum);
    suite_add_tcase(s, tc);

    tc = tcase_create("inputs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bad_inputs_fail_everywhere_with_a_clear_error);
    tcase_add_test(tc, test_constant_column_gets_zero_and_a_flag);
    tcase_add_test(tc, test_fewer_rows_than_features_still_satisfies_kkt);
    tcase_add_test(tc, test_model_file_round_trip_prediction_and_gamma);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return mpi_test_main(argc, argv, lasso_suite, "/tmp/gmr_check_lasso_XXXXXX"); }
