/* solve.c: gmr_pf_solve, the AC power flow of one case (Newton in sys.c), with MATPOWER's
 * enforce_q_lims = 1 when asked: solve, hold every generator outside [Qmin, Qmax] at its limit
 * (its bus turns PQ; when the slack's generator goes, the first PV bus becomes the slack and
 * the angles are shifted back so the original slack keeps its angle), solve again, until no
 * limit is violated. Each solve costs a few KLU refactorisations; a switch costs a new symbolic
 * analysis. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pf_impl.h"

void gmr_pf_options_init(gmr_pf_options *o)
{
    memset(o, 0, sizeof *o);
    o->tol = GMR_PF_DEFAULT_TOL;
    o->max_iter = GMR_PF_DEFAULT_MAX_ITER;
    o->qlim = 0;
}

void gmr_pf_result_free(gmr_pf_result *r)
{
    if (!r) return;
    free(r->vm);
    free(r->va_deg);
    free(r->pg);
    free(r->qg);
    free(r->type);
    memset(r, 0, sizeof *r);
}

gmr_err gmr__pf_base_solve(gmr__pf_sys *s, const gmr_pf_options *o)
{
    gmr_err err = GMR_OK;
    double *pg = malloc(((size_t)s->ng + 1) * sizeof *pg), *qg = malloc(((size_t)s->ng + 1) * sizeof *qg);
    int ref0 = s->ref, rounds = 0;
    double va0 = s->va[ref0];
    GMR_CHECK(pg && qg, GMR_ERR_NOMEM, "out of memory");
    for (;;) {
        int sw;
        if (gmr__pf_newton(s, 0, o->tol, o->max_iter, &err)) {
            GMR_CALL(err);
            GMR_FAIL(GMR_ERR_STATE,
                     "the power flow did not converge in %d Newton iterations: the operating point is probably "
                     "beyond the loadability limit (infeasible)",
                     o->max_iter);
        }
        if (!o->qlim) break;
        gmr__pf_gen_output(s, pg, qg);
        sw = gmr__pf_qlim_switch(s, pg, qg, 1e-6);
        GMR_CHECK(sw >= 0, GMR_ERR_STATE, "every generator is at a reactive-power limit: no PV or slack bus remains");
        if (sw == 0) break;
        GMR_CHECK(++rounds <= s->ng + 1, GMR_ERR_INTERNAL, "reactive-limit switching does not settle");
    }
    if (s->ref != ref0) {
        double shift = va0 - s->va[ref0];
        for (int i = 0; i < s->nb; i++) s->va[i] += shift;
    }
out:
    free(pg);
    free(qg);
    return err;
}

gmr_err gmr_pf_solve(gmr_pf_case c, const gmr_pf_options *opt, gmr_pf_result *r)
{
    gmr_err err = GMR_OK;
    gmr__pf_sys *s = NULL;
    gmr_pf_options o;
    memset(r, 0, sizeof *r);
    GMR_CHECK(c, GMR_ERR_ARG, "no case");
    if (opt) o = *opt;
    else gmr_pf_options_init(&o);
    GMR_CHECK(o.tol > 0 && o.max_iter > 0, GMR_ERR_ARG, "tol %g and max_iter %d must be positive", o.tol, o.max_iter);
    GMR_CALL(gmr__pf_sys_create(c, NULL, &s));
    GMR_CALL(gmr__pf_base_solve(s, &o));
    r->nbus = s->nb;
    r->ngen = s->ng;
    r->vm = malloc(((size_t)s->nb + 1) * sizeof *r->vm);
    r->va_deg = malloc(((size_t)s->nb + 1) * sizeof *r->va_deg);
    r->type = malloc(((size_t)s->nb + 1) * sizeof *r->type);
    r->pg = malloc(((size_t)s->ng + 1) * sizeof *r->pg);
    r->qg = malloc(((size_t)s->ng + 1) * sizeof *r->qg);
    GMR_CHECK(r->vm && r->va_deg && r->type && r->pg && r->qg, GMR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->nb; i++) {
        r->vm[i] = s->vm[i];
        r->va_deg[i] = s->va[i] * 180.0 / M_PI;
        r->type[i] = s->type[i];
    }
    gmr__pf_gen_output(s, r->pg, r->qg);
    for (int g = 0; g < s->ng; g++) {
        r->pg[g] *= s->base_mva;
        r->qg[g] *= s->base_mva;
        r->nlimited += s->glim[g];
    }
    r->iterations = s->iterations;
    {
        double m = 0;
        for (int k = 0; k < s->n; k++) m = fmax(m, fabs(s->f[k]));
        r->mismatch = m;
    }
out:
    if (err) gmr_pf_result_free(r);
    gmr__pf_sys_destroy(&s);
    return err;
}
