/* cd.c: coordinate descent with covariance updates on the p x p Gram matrix, along a path of
 * lambdas (serial: every rank runs it on the same statistics).
 *
 * The problem is min_b 1/2 b^T G b - c^T b + 1/2 yy + lambda sum_j pen_j |b_j|, the weighted
 * least-squares objective written with the sufficient statistics G = X^T W X and c = X^T W y
 * (centred when there is an intercept). We keep g = c - G b, the correlations of the residual
 * with every column: a coordinate update is b_j <- S(g_j + G_jj b_j, lambda pen_j) / G_jj, and
 * when b_j moves by d, g -= d G[:, j] (one daxpy of length p). A sweep over the working set
 * therefore costs O(p) per coefficient that moves and nothing depends on n.
 *
 * Because g is kept for every column, three things cost O(p) at any time:
 *   - the KKT check of the columns outside the working set (sequential strong rule: at lambda
 *     a column is left out while |g_j(previous lambda)| < pen_j (2 lambda - lambda_prev));
 *     a violator joins the working set and the sweeps go on;
 *   - the residual sum of squares rss = yy - b^T c - b^T g;
 *   - the duality gap. With s = min(1, lambda / max_j |g_j| / pen_j), the scaled residual is
 *     dual feasible and gap = P(b) - D(s r) = 1/2 (1 - s)^2 rss + lambda sum pen_j |b_j|
 *     - s b^T g: a certificate (>= P(b) - P*) that needs no pass over the data and does not
 *     subtract two large numbers (y^T W y cancels analytically). At lambda = 0 the dual is
 *     degenerate, so the gap reported there is the exact suboptimality 1/2 g^T G^{-1} g
 *     (a Cholesky factor of G, when G is positive definite).
 * A lambda is done when gap <= tol x P(b) (confirmed on a g recomputed from scratch, so that
 * the drift of the updates cannot fake it).
 *
 * The polish: once the active set and its signs stop changing, the exact solution on that set,
 * G_AA b_A = c_A - lambda pen_A sign(b_A), is one Cholesky factorisation (LAPACK dpotrf, a^3/3
 * flops) plus a step of iterative refinement; it replaces the iterate when its duality gap is
 * smaller, which on the right active set takes the objective to rounding level. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lasso_impl.h"

/* sweeps without a 0.1% improvement of the best gap before giving up on a lambda */
#define STALL_PASSES 500

typedef struct gapinfo {
    double gap, primal, rss;
} gapinfo;

typedef struct work {
    const gmr__lasso_problem *pb;
    int p;
    double *b, *g;           /* iterate and c - G b */
    int *ws;                 /* working set (indices) */
    int nws;
    unsigned char *in_ws;
    int *act;                /* active set scratch */
    double *M, *rhs, *x, *r; /* polish: G_AA factor, right-hand side, solution, refinement */
    double *bc, *gc;         /* polish: the iterate it started from */
    double *sg;              /* polish: signs of the active set */
    double *chol0;           /* Cholesky factor of G on the free columns, for lambda = 0 */
    int chol0_state;         /* 0 not tried, 1 ok, -1 not positive definite */
    int *freec;              /* the columns not skipped */
    int nfree;
} work;

double gmr__lasso_lambda_max(const gmr__lasso_problem *pb)
{
    double m = 0;
    for (int j = 0; j < pb->p; j++) {
        if (pb->skip[j]) continue;
        double a = fabs(pb->c[j]) / pb->pen[j];
        if (a > m) m = a;
    }
    return m;
}

/* g = c - G b, from scratch. O(p x nonzero). */
static void refresh_g(const gmr__lasso_problem *pb, const double *b, double *g)
{
    int p = pb->p;
    memcpy(g, pb->c, (size_t)p * sizeof *g);
    for (int k = 0; k < p; k++)
        if (b[k] != 0) cblas_daxpy(p, -b[k], pb->G + (size_t)k * (size_t)p, 1, g, 1);
}

/* 1/2 g^T G^{-1} g over the free columns (the exact suboptimality of a least-squares
 * iterate), or -1 when G is not positive definite there. */
static double ls_suboptimality(work *wk, const double *g)
{
    const gmr__lasso_problem *pb = wk->pb;
    int n = wk->nfree;
    double s = 0;
    if (wk->chol0_state == 0) {
        wk->chol0 = malloc((size_t)n * (size_t)n * sizeof *wk->chol0 + 1);
        wk->chol0_state = -1;
        if (wk->chol0) {
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++)
                    wk->chol0[(size_t)a * (size_t)n + (size_t)b] =
                        pb->G[(size_t)wk->freec[a] * (size_t)pb->p + (size_t)wk->freec[b]];
            if (n == 0 || LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, wk->chol0, n) == 0) wk->chol0_state = 1;
        }
    }
    if (wk->chol0_state < 0) return -1;
    for (int a = 0; a < n; a++) wk->r[a] = g[wk->freec[a]];
    if (n && LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', n, 1, wk->chol0, n, wk->r, n) != 0) return -1;
    for (int a = 0; a < n; a++) s += g[wk->freec[a]] * wk->r[a];
    return 0.5 * (s > 0 ? s : 0);
}

static void gap_eval(work *wk, const double *b, const double *g, double lambda, gapinfo *out)
{
    const gmr__lasso_problem *pb = wk->pb;
    double bc = 0, bg = 0, l1 = 0, dn = 0, gap;
    for (int j = 0; j < pb->p; j++) {
        if (pb->skip[j]) continue;
        double a = fabs(g[j]) / pb->pen[j];
        if (a > dn) dn = a;
        if (b[j] != 0) {
            bc += b[j] * pb->c[j];
            bg += b[j] * g[j];
            l1 += pb->pen[j] * fabs(b[j]);
        }
    }
    out->rss = pb->yy - bc - bg;
    if (out->rss < 0) out->rss = 0;
    out->primal = 0.5 * out->rss + lambda * l1;
    if (lambda > 0) {
        double s = dn > lambda ? lambda / dn : 1.0;
        gap = 0.5 * (1 - s) * (1 - s) * out->rss + (lambda * l1 - s * bg);
    } else {
        gap = ls_suboptimality(wk, g);
        if (gap < 0) gap = out->primal; /* no certificate: the trivial bound */
    }
    out->gap = gap > 0 ? gap : 0;
}

/* One sweep over the working set. Returns the number of coefficients that moved. */
static int sweep(work *wk, double lambda)
{
    const gmr__lasso_problem *pb = wk->pb;
    int p = wk->p, moved = 0;
    double *b = wk->b, *g = wk->g;
    for (int t = 0; t < wk->nws; t++) {
        int j = wk->ws[t];
        const double *Gj = pb->G + (size_t)j * (size_t)p;
        double gjj = Gj[j], bj = b[j], z = g[j] + gjj * bj, thr = lambda * pb->pen[j], nb;
        nb = z > thr ? (z - thr) / gjj : (z < -thr ? (z + thr) / gjj : 0.0);
        if (nb != bj) {
            b[j] = nb;
            cblas_daxpy(p, -(nb - bj), Gj, 1, g, 1);
            moved++;
        }
    }
    return moved;
}

/* A hash of the active set and its signs. */
static uint64_t active_signature(const double *b, int p)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (int j = 0; j < p; j++)
        if (b[j] != 0) h = (h ^ (uint64_t)(2 * j + (b[j] > 0))) * UINT64_C(1099511628211);
    return h;
}

/* Solve G_AA x = c_A - lambda pen_A s_A for the nact columns in wk->act with signs wk->sg,
 * by Cholesky and one step of iterative refinement. 0 on success (x in wk->x). */
static int solve_active(work *wk, double lambda, int a)
{
    const gmr__lasso_problem *pb = wk->pb;
    size_t p = (size_t)wk->p, ua = (size_t)a;
    for (size_t u = 0; u < ua; u++) {
        const double *Gj = pb->G + (size_t)wk->act[u] * p;
        for (size_t v = 0; v < ua; v++) wk->M[u * ua + v] = Gj[wk->act[v]];
        wk->rhs[u] = pb->c[wk->act[u]] - lambda * pb->pen[wk->act[u]] * wk->sg[u];
    }
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', a, wk->M, a) != 0) return -1;
    memcpy(wk->x, wk->rhs, ua * sizeof *wk->x);
    if (LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', a, 1, wk->M, a, wk->x, a) != 0) return -1;
    for (size_t u = 0; u < ua; u++) {
        const double *Gj = pb->G + (size_t)wk->act[u] * p;
        double s = wk->rhs[u];
        for (size_t v = 0; v < ua; v++) s -= Gj[wk->act[v]] * wk->x[v];
        wk->r[u] = s;
    }
    if (LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', a, 1, wk->M, a, wk->r, a) != 0) return -1;
    for (size_t u = 0; u < ua; u++) {
        wk->x[u] += wk->r[u];
        if (!isfinite(wk->x[u])) return -1;
    }
    return 0;
}

/* The polish: a primal active-set method (Osborne, Presnell and Turlach 2000) from the
 * current iterate. On the orthant of the signs s of b the objective is the quadratic
 * f_s(b) = 1/2 b^T G b - c^T b + lambda pen^T (s o b); its minimiser x on the active set is
 * one Cholesky solve. Moving from b towards x, stopping where a coefficient first crosses
 * zero (it leaves the set), never increases the objective; at x itself, the column that most
 * violates |g_j| <= lambda pen_j joins with the sign of g_j. When no column violates, b is
 * the exact minimiser (to rounding): 1 is returned, (b, g, *cur) updated. Otherwise (a
 * singular G_AA, a joining column that turns the wrong way, too many steps) the iterate is
 * kept only if its duality gap did not grow, and 0 is returned, so coordinate descent goes on.
 * Cost a^3 / 3 flops per step (a = active columns), O(p a) for g; a warm start along the path
 * usually needs one to three steps. */
static int polish(work *wk, double lambda, gapinfo *cur)
{
    const gmr__lasso_problem *pb = wk->pb;
    int p = wk->p, add = -1, ok = 0, max_steps = 2 * p + 20;
    double add_sign = 0;
    gapinfo gi;
    memcpy(wk->bc, wk->b, (size_t)p * sizeof *wk->bc);
    memcpy(wk->gc, wk->g, (size_t)p * sizeof *wk->gc);
    for (int step = 0; step < max_steps; step++) {
        int a = 0, out = -1, worst = -1;
        double t = 1, wv = 0;
        for (int j = 0; j < p; j++)
            if (wk->b[j] != 0 || j == add) {
                wk->act[a] = j;
                wk->sg[a++] = j == add ? add_sign : (wk->b[j] > 0 ? 1.0 : -1.0);
            }
        if (a > 0) {
            if (solve_active(wk, lambda, a) != 0) break;
            /* the step towards x, cut where a coefficient would change sign (lambda > 0: at
             * lambda = 0 the objective is smooth and signs do not matter) */
            for (int u = 0; lambda > 0 && u < a; u++) {
                double bj = wk->b[wk->act[u]];
                if (wk->x[u] * wk->sg[u] <= 0) {
                    double tu = bj / (bj - wk->x[u]);
                    if (!(tu >= 0)) tu = 0;
                    if (tu < t) {
                        t = tu;
                        out = u;
                    }
                }
            }
            if (out >= 0 && t == 0 && wk->act[out] == add) break; /* the joining column turns away */
            for (int u = 0; u < a; u++) {
                int j = wk->act[u];
                wk->b[j] = u == out ? 0.0 : (t == 1 ? wk->x[u] : wk->b[j] + t * (wk->x[u] - wk->b[j]));
            }
            refresh_g(pb, wk->b, wk->g);
        }
        add = -1;
        if (out >= 0) continue;
        /* a full step: the most violating column outside the set joins */
        for (int j = 0; j < p; j++) {
            if (pb->skip[j] || wk->b[j] != 0) continue;
            double v = fabs(wk->g[j]) / pb->pen[j];
            if (v > lambda * (1 + 1e-10) && v > wv) {
                wv = v;
                worst = j;
            }
        }
        if (worst < 0) {
            ok = 1;
            break;
        }
        add = worst;
        add_sign = wk->g[worst] > 0 ? 1.0 : -1.0;
    }
    gap_eval(wk, wk->b, wk->g, lambda, &gi);
    if (ok || gi.gap <= cur->gap) {
        *cur = gi;
        return ok;
    }
    memcpy(wk->b, wk->bc, (size_t)p * sizeof *wk->b);
    memcpy(wk->g, wk->gc, (size_t)p * sizeof *wk->g);
    return 0;
}

static void ws_add(work *wk, int j)
{
    if (wk->in_ws[j]) return;
    wk->in_ws[j] = 1;
    wk->ws[wk->nws++] = j;
}

static void solve_one(work *wk, const gmr_lasso_options *o, double lambda, double lambda_prev, int k,
                      gmr__lasso_path *path)
{
    const gmr__lasso_problem *pb = wk->pb;
    int p = wk->p, converged = 0, polished = 0;
    long passes = 0, since_best = 0;
    double best = INFINITY;
    uint64_t prev_sig = 0, tried_sig = 0;
    gapinfo gi;

    /* working set: the active columns and those the strong rule keeps */
    wk->nws = 0;
    memset(wk->in_ws, 0, (size_t)p);
    for (int j = 0; j < p; j++) {
        if (pb->skip[j]) continue;
        if (!o->strong_rules || wk->b[j] != 0 || fabs(wk->g[j]) >= pb->pen[j] * (2 * lambda - lambda_prev))
            ws_add(wk, j);
    }
    gap_eval(wk, wk->b, wk->g, lambda, &gi);
    /* a warm start may already be optimal (b = 0 above lambda_max): no violator anywhere */
    converged = gi.gap <= o->tol * gi.primal;
    for (int j = 0; j < p && converged; j++)
        if (!pb->skip[j] && fabs(wk->g[j]) > lambda * pb->pen[j] && wk->b[j] == 0) converged = 0;
    while (!converged && passes < o->max_passes) {
        int moved = sweep(wk, lambda), violators = 0;
        uint64_t sig;
        passes++;
        for (int j = 0; j < p; j++)
            if (!pb->skip[j] && !wk->in_ws[j] && fabs(wk->g[j]) > lambda * pb->pen[j]) {
                ws_add(wk, j);
                violators++;
            }
        if (violators) continue;
        gap_eval(wk, wk->b, wk->g, lambda, &gi);
        if (gi.gap <= o->tol * gi.primal) {
            refresh_g(pb, wk->b, wk->g); /* confirm without the drift of the updates */
            gap_eval(wk, wk->b, wk->g, lambda, &gi);
            if (gi.gap <= o->tol * gi.primal) break;
        }
        if (!moved) break; /* nothing moves any more: rounding has the last word */
        if (gi.gap < 0.999 * best) {
            best = gi.gap;
            since_best = 0;
        } else if (++since_best >= STALL_PASSES) {
            break;
        }
        /* the active set and its signs held for a sweep: try the exact solve */
        sig = active_signature(wk->b, p);
        if (o->polish && sig == prev_sig && sig != tried_sig) {
            tried_sig = sig;
            refresh_g(pb, wk->b, wk->g);
            gap_eval(wk, wk->b, wk->g, lambda, &gi);
            if (polish(wk, lambda, &gi)) {
                polished = 1;
                break;
            }
            for (int j = 0; j < p; j++) /* it may have brought in columns the sweeps skip */
                if (wk->b[j] != 0) ws_add(wk, j);
            sig = active_signature(wk->b, p);
        }
        prev_sig = sig;
    }
    refresh_g(pb, wk->b, wk->g);
    gap_eval(wk, wk->b, wk->g, lambda, &gi);
    if (o->polish && !polished && polish(wk, lambda, &gi)) polished = 1;
    converged = gi.gap <= o->tol * gi.primal;

    gmr__lasso_record(pb, path, k, lambda, wk->b, gi.primal, gi.gap, gi.rss, passes, converged, polished);
}

void gmr__lasso_record(const gmr__lasso_problem *pb, gmr__lasso_path *path, int k, double lambda, const double *b,
                       double primal, double gap, double rss, long passes, int converged, int polished)
{
    int p = pb->p, nonzero = 0;
    double b0 = 0, *beta = path->beta + (size_t)k * (size_t)p;
    for (int j = 0; j < p; j++) {
        beta[j] = b[j];
        if (b[j] != 0) nonzero++;
    }
    if (pb->intercept) {
        b0 = pb->ymean;
        for (int j = 0; j < p; j++)
            if (b[j] != 0) b0 -= pb->xmean[j] * b[j];
    }
    path->field[GMR__LF_LAMBDA][k] = lambda;
    path->field[GMR__LF_OBJECTIVE][k] = primal;
    path->field[GMR__LF_GAP][k] = gap;
    path->field[GMR__LF_REL_GAP][k] = primal > 0 ? gap / primal : 0;
    path->field[GMR__LF_INTERCEPT][k] = b0;
    path->field[GMR__LF_R2][k] = pb->tss > 0 ? 1 - rss / pb->tss : (rss == 0 ? 1 : 0);
    path->field[GMR__LF_RMSE][k] = pb->sum_w > 0 ? sqrt(rss / pb->sum_w) : 0;
    path->field[GMR__LF_GAMMA][k] = sqrt(rss);
    path->field[GMR__LF_PASSES][k] = (double)passes;
    path->field[GMR__LF_NONZERO][k] = nonzero;
    path->field[GMR__LF_CONVERGED][k] = converged;
    path->field[GMR__LF_POLISHED][k] = polished;
}

gmr_err gmr__lasso_path_solve(const gmr__lasso_problem *pb, const gmr_lasso_options *o, const double *lambdas,
                              int nlambda, gmr__lasso_path *path)
{
    gmr_err err = GMR_OK;
    work wk;
    size_t p = (size_t)pb->p;
    double lambda_prev = gmr__lasso_lambda_max(pb);

    memset(&wk, 0, sizeof wk);
    wk.pb = pb;
    wk.p = pb->p;
    wk.b = calloc(p, sizeof *wk.b);
    wk.g = malloc(p * sizeof *wk.g);
    wk.ws = malloc(p * sizeof *wk.ws);
    wk.in_ws = calloc(p, 1);
    wk.act = malloc(p * sizeof *wk.act);
    wk.freec = malloc(p * sizeof *wk.freec);
    wk.M = malloc(p * p * sizeof *wk.M);
    wk.rhs = malloc(p * sizeof *wk.rhs);
    wk.x = malloc(p * sizeof *wk.x);
    wk.r = malloc(p * sizeof *wk.r);
    wk.bc = malloc(p * sizeof *wk.bc);
    wk.gc = malloc(p * sizeof *wk.gc);
    wk.sg = malloc(p * sizeof *wk.sg);
    GMR_CHECK(wk.b && wk.g && wk.ws && wk.in_ws && wk.act && wk.freec && wk.M && wk.rhs && wk.x && wk.r && wk.bc &&
                  wk.gc && wk.sg,
              GMR_ERR_NOMEM, "cannot allocate the solver's workspace for p = %d", pb->p);
    for (int j = 0; j < pb->p; j++)
        if (!pb->skip[j]) wk.freec[wk.nfree++] = j;
    memcpy(wk.g, pb->c, p * sizeof *wk.g);
    for (int k = 0; k < nlambda; k++) {
        solve_one(&wk, o, lambdas[k], lambda_prev, k, path);
        lambda_prev = lambdas[k];
    }
out:
    free(wk.b);
    free(wk.g);
    free(wk.ws);
    free(wk.in_ws);
    free(wk.act);
    free(wk.freec);
    free(wk.M);
    free(wk.rhs);
    free(wk.x);
    free(wk.r);
    free(wk.bc);
    free(wk.gc);
    free(wk.sg);
    free(wk.chol0);
    return err;
}
