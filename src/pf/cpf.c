/* cpf.c: gmr_cpf_run, the continuation power flow from a base case to its nose point.
 *
 * The state is x = (Va at PV and PQ buses, Vm at PQ buses, lambda), the equations the power-flow
 * mismatches with injections S_base + lambda (S_target - S_base). From an accepted point x_k
 * with unit tangent z_k, a step of arc length s predicts x_k + s z_k and corrects it by Newton
 * on the mismatches plus the pseudo-arc-length equation z_k . (x - x_k) = s (sys.c's augmented
 * Jacobian: the lambda column and the dense z_k row make it regular at the nose, where the
 * power-flow Jacobian alone is singular). The next tangent solves [J dF/dlambda; z_k] t = e,
 * normalised, so it keeps the direction of travel. The step adapts to the distance between
 * predictor and corrector (aiming at error_tol, growing or shrinking by at most 2x) and halves
 * when the corrector fails.
 *
 * Events are located on the step by regula falsi (Illinois) before the step is accepted, as in
 * MATPOWER's runcpf: the nose where the tangent's lambda component crosses zero (to nose_tol),
 * and, with qlim, the first generator reaching Qmax or Qmin (to qlim_tol MVAr). At a limit the
 * bus turns PQ with the generator held there (and, when it was the slack's, its P held too and
 * the first PV bus becomes the slack), the point is corrected again with the new types and the
 * continuation goes on; if the new tangent already points to lower lambda the limit itself is
 * the nose (a limit-induced bifurcation). Cost: per step, one tangent and a few corrector
 * iterations, each a KLU refactorisation of an (n+1) x (n+1) matrix, n < 2 x buses. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pf_impl.h"

#define MIN_TURN 0.9        /* cosine of the largest turn of the tangent over one step (~25 deg) */
#define MIN_TURN_LOCATE 0.5 /* ... within a step being searched for an event (~60 deg) */

void gmr_cpf_options_init(gmr_cpf_options *o)
{
    memset(o, 0, sizeof *o);
    o->step = GMR_CPF_DEFAULT_STEP;
    o->adapt = 1;
    o->step_min = GMR_CPF_DEFAULT_STEP_MIN;
    o->step_max = GMR_CPF_DEFAULT_STEP_MAX;
    o->error_tol = GMR_CPF_DEFAULT_ERROR_TOL;
    o->qlim = 0;
    o->tol = GMR_PF_DEFAULT_TOL;
    o->max_iter = GMR_PF_DEFAULT_MAX_ITER;
    o->max_steps = GMR_CPF_DEFAULT_MAX_STEPS;
    o->nose_tol = GMR_CPF_DEFAULT_NOSE_TOL;
    o->qlim_tol = GMR_CPF_DEFAULT_QLIM_TOL;
}

void gmr_cpf_result_free(gmr_cpf_result *r)
{
    if (!r) return;
    free(r->vm);
    free(r->va_deg);
    free(r->base_vm);
    free(r->base_va_deg);
    free(r->base_pg);
    memset(r, 0, sizeof *r);
}


/* The continuation's working memory: the accepted point, its tangent, the trial's tangent. */
typedef struct cont {
    gmr__pf_sys *s;
    const gmr_cpf_options *o;
    double *vak, *vmk, lk;   /* accepted point */
    double *zak, *zmk, zlk;  /* its tangent */
    double *ta, *tm, tl;     /* tangent at the trial point (row z_k) */
    double *pg, *qg;
    double pred_err;         /* predictor-corrector distance of the trial */
    double qviol;            /* largest reactive-limit violation at the trial, MVAr */
    double qviol_k;          /* ... at the accepted point */
    double turn;             /* cosine between the trial's tangent and the accepted one */
    int corr_iter;
} cont;

/* Correct a step of arc length sigma from the accepted point; then the events' values.
 * 0 ok, 1 the corrector failed. */
static int trial(cont *c, double sigma, gmr_err *err)
{
    gmr__pf_sys *s = c->s;
    double e = 0;
    int wh;
    for (int i = 0; i < s->nb; i++) {
        s->va_prev[i] = c->vak[i];
        s->vm_prev[i] = c->vmk[i];
        s->za[i] = c->zak[i];
        s->zm[i] = c->zmk[i];
        s->va[i] = c->vak[i] + sigma * c->zak[i];
        s->vm[i] = c->vmk[i] + sigma * c->zmk[i];
    }
    s->lambda_prev = c->lk;
    s->zl = c->zlk;
    s->lambda = c->lk + sigma * c->zlk;
    s->sigma = sigma;
    *err = GMR_OK;
    if (gmr__pf_newton(s, 1, c->o->tol, c->corr_iter, err)) return 1;
    for (int i = 0; i < s->nb; i++) {
        e = fmax(e, fabs(s->va[i] - (c->vak[i] + sigma * c->zak[i])));
        e = fmax(e, fabs(s->vm[i] - (c->vmk[i] + sigma * c->zmk[i])));
    }
    c->pred_err = fmax(e, fabs(s->lambda - (c->lk + sigma * c->zlk)));
    if (gmr__pf_tangent(s, c->ta, c->tm, &c->tl, err)) return 1;
    c->turn = c->tl * c->zlk;
    for (int i = 0; i < s->nb; i++) c->turn += c->ta[i] * c->zak[i] + c->tm[i] * c->zmk[i];
    c->qviol = -INFINITY;
    if (c->o->qlim) {
        gmr__pf_gen_output(s, c->pg, c->qg);
        c->qviol = gmr__pf_qlim_violation(s, c->qg, &wh);
    }
    return 0;
}

static void accept(cont *c)
{
    gmr__pf_sys *s = c->s;
    memcpy(c->vak, s->va, (size_t)s->nb * sizeof *c->vak);
    memcpy(c->vmk, s->vm, (size_t)s->nb * sizeof *c->vmk);
    c->lk = s->lambda;
    memcpy(c->zak, c->ta, (size_t)s->nb * sizeof *c->zak);
    memcpy(c->zmk, c->tm, (size_t)s->nb * sizeof *c->zmk);
    c->zlk = c->tl;
    c->qviol_k = c->qviol;
}

/* The event value at the trial: nose -dlambda (negative before it), qlim the violation. */
static double event_value(const cont *c, int nose)
{
    return nose ? -c->tl : c->qviol;
}

/* Regula falsi (Illinois) for the first zero of the event on (0, hi], where the value at 0 is
 * f_lo < 0 and at hi f_hi > 0. Leaves the located point as the trial's state. */
static gmr_err locate(cont *c, int nose, double f_lo, double hi, double f_hi)
{
    gmr_err err = GMR_OK;
    double lo = 0, tol = nose ? c->o->nose_tol : c->o->qlim_tol, sigma = hi, best = -1, best_lambda = -INFINITY;
    int side = 0, iter = c->corr_iter;
    c->corr_iter = c->o->max_iter; /* a located point is worth the full corrector */
    for (int it = 0; it < 60; it++) {
        double f;
        int tries = 0;
        sigma = hi - f_hi * (hi - lo) / (f_hi - f_lo);
        if (!(sigma > lo && sigma < hi)) sigma = 0.5 * (lo + hi);
        /* a corrector that fails, or whose tangent has turned back (another part of the curve),
         * has usually jumped past the event: come back towards lo, where a trial converged */
        while (trial(c, sigma, &err) || c->turn < MIN_TURN_LOCATE) {
            GMR_CALL(err);
            if (++tries > 8) {
                if (nose && best >= 0) { /* lambda is flat at the nose: the highest point seen */
                    if (trial(c, best, &err)) {
                        GMR_CALL(err);
                        break;
                    }
                    goto out;
                }
                break;
            }
            sigma = lo + 0.5 * (sigma - lo);
        }
        if (tries > 8)
            GMR_FAIL(GMR_ERR_STATE, "the corrector failed while locating the %s near lambda = %.6g",
                     nose ? "nose" : "reactive limit", c->lk);
        if (c->s->lambda > best_lambda) {
            best_lambda = c->s->lambda;
            best = sigma;
        }
        f = event_value(c, nose);
        if (fabs(f) <= tol || hi - lo < 1e-12) goto out;
        if (f > 0) {
            hi = sigma;
            f_hi = f;
            if (side == 1) f_lo /= 2;
            side = 1;
        } else {
            lo = sigma;
            f_lo = f;
            if (side == -1) f_hi /= 2;
            side = -1;
        }
    }
out:
    c->corr_iter = iter;
    return err;
}

gmr_err gmr_cpf_run(gmr_pf_case base, gmr_pf_case target, const gmr_cpf_options *opt, gmr_cpf_result *r)
{
    gmr_err err = GMR_OK;
    gmr_cpf_options o;
    gmr_pf_options po;
    cont c;
    gmr__pf_sys *s = NULL;
    double step, dload = 0, load = 0, transfer = 0;
    int nose = 0;
    memset(r, 0, sizeof *r);
    memset(&c, 0, sizeof c);
    GMR_CHECK(base && target, GMR_ERR_ARG, "no base or target case");
    if (opt) o = *opt;
    else gmr_cpf_options_init(&o);
    GMR_CHECK(o.step > 0 && o.step_min > 0 && o.step_max >= o.step_min && o.error_tol > 0 && o.tol > 0 &&
                  o.max_iter > 0 && o.max_steps > 0 && o.nose_tol > 0 && o.qlim_tol > 0,
              GMR_ERR_ARG, "CPF options out of range (step %g, step bounds [%g, %g])", o.step, o.step_min, o.step_max);
    GMR_CALL(gmr__pf_sys_create(base, target, &s));
    gmr_pf_options_init(&po);
    po.tol = o.tol;
    po.max_iter = o.max_iter;
    po.qlim = o.qlim;
    GMR_CALL(gmr__pf_base_solve(s, &po));
    r->nbus = s->nb;
    r->ngen = s->ng;
    r->base_vm = malloc(((size_t)s->nb + 1) * sizeof *r->base_vm);
    r->base_va_deg = malloc(((size_t)s->nb + 1) * sizeof *r->base_va_deg);
    r->base_pg = malloc(((size_t)s->ng + 1) * sizeof *r->base_pg);
    GMR_CHECK(r->base_vm && r->base_va_deg && r->base_pg, GMR_ERR_NOMEM, "out of memory");
    {
        double *qg = malloc(((size_t)s->ng + 1) * sizeof *qg);
        GMR_CHECK(qg, GMR_ERR_NOMEM, "out of memory");
        gmr__pf_gen_output(s, r->base_pg, qg);
        free(qg);
    }
    for (int i = 0; i < s->nb; i++) {
        r->base_vm[i] = s->vm[i];
        r->base_va_deg[i] = s->va[i] * 180.0 / M_PI;
    }
    for (int g = 0; g < s->ng; g++) r->base_pg[g] *= s->base_mva;
    for (int i = 0; i < s->nb; i++) {
        load += s->pdb[i];
        dload += s->pdt[i] - s->pdb[i];
        transfer += fabs(s->pdt[i] - s->pdb[i]) + fabs(s->qdt[i] - s->qdb[i]);
    }
    GMR_CHECK(transfer > 0, GMR_ERR_DATA, "the target case has the same loads as the base case: nothing to continue towards");
    c.s = s;
    c.o = &o;
    c.corr_iter = o.max_iter < 12 ? o.max_iter : 12;
#define ALLOC(p) GMR_CHECK((p = calloc((size_t)s->nb + (size_t)s->ng + 1, sizeof *(p))) != NULL, GMR_ERR_NOMEM, "out of memory")
    ALLOC(c.vak);
    ALLOC(c.vmk);
    ALLOC(c.zak);
    ALLOC(c.zmk);
    ALLOC(c.ta);
    ALLOC(c.tm);
    ALLOC(c.pg);
    ALLOC(c.qg);
#undef ALLOC
    /* the first tangent: towards increasing lambda */
    s->lambda = 0;
    memset(s->za, 0, (size_t)s->nb * sizeof *s->za);
    memset(s->zm, 0, (size_t)s->nb * sizeof *s->zm);
    s->zl = 1;
    if (gmr__pf_tangent(s, c.ta, c.tm, &c.tl, &err)) {
        GMR_CALL(err);
        GMR_FAIL(GMR_ERR_STATE, "the Jacobian of the base case is singular: no tangent");
    }
    c.qviol = -INFINITY;
    if (o.qlim) {
        int wh;
        gmr__pf_gen_output(s, c.pg, c.qg);
        c.qviol = gmr__pf_qlim_violation(s, c.qg, &wh);
    }
    accept(&c);
    step = o.step;
    for (;;) {
        if (o.progress) GMR_CALL(o.progress(o.progress_ctx));
        GMR_CHECK(r->steps < o.max_steps, GMR_ERR_STATE,
                  "no nose point after %d continuation steps (lambda reached %.6g): raise the step or the target",
                  o.max_steps, c.lk);
        /* a corrector that fails, or lands where the tangent has turned by more than ~25 degrees
         * (it may have jumped to another part of the curve, past the nose and back), halves the
         * step */
        while (trial(&c, step, &err) || (c.turn < MIN_TURN && step > o.step_min)) {
            GMR_CALL(err);
            step /= 2;
            GMR_CHECK(step >= o.step_min, GMR_ERR_STATE,
                      "the corrector fails even at the smallest step %g near lambda = %.6g", o.step_min, c.lk);
        }
        /* events in this step: the nose first (past it the reactive outputs turn back, so the
         * limit's event is no longer monotone on the step), then a limit before it */
        if (c.tl < 0 || (o.qlim && c.qviol > o.qlim_tol)) {
            double hi = step, qhi = c.qviol;
            int sw;
            if (c.tl < 0) {
                if (c.tl < -o.nose_tol) GMR_CALL(locate(&c, 1, -c.zlk, step, -c.tl));
                if (!(o.qlim && c.qviol > o.qlim_tol)) {
                    nose = 1;
                    break;
                }
                hi = s->sigma; /* a limit is reached before the nose */
                qhi = c.qviol;
            }
            GMR_CALL(locate(&c, 0, c.qviol_k < 0 ? c.qviol_k : -o.qlim_tol, hi, qhi));
            accept(&c);
            r->steps++;
            gmr__pf_gen_output(s, c.pg, c.qg);
            sw = gmr__pf_qlim_switch(s, c.pg, c.qg, -2 * o.qlim_tol);
            r->nlimited += sw > 0 ? sw : 0;
            if (sw < 0) {
                r->stop = GMR_CPF_NO_PV;
                break;
            }
            /* correct the same point with the new bus types (a step of length 0) */
            if (trial(&c, 0, &err)) {
                GMR_CALL(err);
                GMR_FAIL(GMR_ERR_STATE, "no solution after a reactive limit at lambda = %.6g", c.lk);
            }
            accept(&c);
            if (c.zlk <= 0) { /* the limit is the nose */
                nose = 1;
                break;
            }
            continue;
        }
        if (o.adapt) {
            double ratio = c.pred_err > 0 ? sqrt(o.error_tol / c.pred_err) : 2;
            step *= fmin(2, fmax(0.5, ratio));
            step = fmin(o.step_max, fmax(o.step_min, step));
        }
        accept(&c);
        r->steps++;
    }
    if (nose) {
        r->stop = GMR_CPF_NOSE;
        r->steps++;
    }
    r->lambda = s->lambda;
    r->base_load_mw = load * s->base_mva;
    r->mw_margin = r->lambda * dload * s->base_mva;
    r->iterations = s->iterations;
    r->vm = malloc(((size_t)s->nb + 1) * sizeof *r->vm);
    r->va_deg = malloc(((size_t)s->nb + 1) * sizeof *r->va_deg);
    GMR_CHECK(r->vm && r->va_deg, GMR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->nb; i++) {
        r->vm[i] = s->vm[i];
        r->va_deg[i] = s->va[i] * 180 / M_PI;
    }
out:
    if (err) gmr_cpf_result_free(r);
    free(c.vak);
    free(c.vmk);
    free(c.zak);
    free(c.zmk);
    free(c.ta);
    free(c.tm);
    free(c.pg);
    free(c.qg);
    gmr__pf_sys_destroy(&s);
    return err;
}
