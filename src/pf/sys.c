/* sys.c: the solver workspace shared by the power flow (solve.c) and the continuation (cpf.c).
 *
 * The admittance matrix is MATPOWER's makeYbus: a branch with series admittance ys = 1/(r+jx),
 * charging b and complex tap t = ratio e^{j shift} adds ys + jb/2 over |t|^2 at the from bus,
 * ys + jb/2 at the to bus, -ys/conj(t) from-to and -ys/t to-from; bus shunts add (Gs+jBs)/baseMVA.
 *
 * The Jacobian of the mismatches P_i, Q_i with respect to the angles (PV and PQ buses) and the
 * magnitudes (PQ buses) has the pattern of Ybus in each of its four blocks, so it is stored by
 * rows (one per equation) in CSR and handed to KLU as the CSC of its transpose: klu_tsolve then
 * solves with J itself. The pattern, and KLU's symbolic analysis (AMD ordering), depend only on
 * the bus types, so they are rebuilt only when a reactive limit changes a type; every Newton
 * iteration is a klu_refactor (same pivots, O(nnz(L+U))) with a fresh klu_factor only when the
 * reciprocal condition estimate says the old pivots have gone bad (near the nose). The CPF adds
 * one column (d mismatch / d lambda) and one dense row (the arc-length equation).
 *
 * Derivatives (MATPOWER's dSbus_dV in polar form, I = Ybus V, Vn = V / |V|):
 *   dS_i/dVa_k = -j V_i conj(Y_ik V_k) (k != i),   j V_i conj(I_i - Y_ii V_i) (k = i)
 *   dS_i/dVm_k =  V_i conj(Y_ik Vn_k)  (k != i),   V_i conj(Y_ii Vn_i) + conj(I_i) Vn_i (k = i) */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pf_impl.h"

typedef struct trip {
    int i, k;
    double complex y;
} trip;

static int cmp_trip(const void *a, const void *b)
{
    const trip *x = a, *y = b;
    if (x->i != y->i) return (x->i > y->i) - (x->i < y->i);
    return (x->k > y->k) - (x->k < y->k);
}

static gmr_err build_ybus(gmr__pf_sys *s, gmr_pf_case c)
{
    gmr_err err = GMR_OK;
    size_t nt = 0, cap = (size_t)c->nbus + 4 * (size_t)c->nbranch;
    trip *t = malloc(cap * sizeof *t);
    int nz = 0;
    GMR_CHECK(t, GMR_ERR_NOMEM, "out of memory for the admittance matrix");
    for (int i = 0; i < c->nbus; i++)
        t[nt++] = (trip){i, i, (c->bus[i].gs + I * c->bus[i].bs) / c->base_mva};
    for (int l = 0; l < c->nbranch; l++) {
        const gmr_pf_branch *br = &c->br[l];
        double complex ys, tap, ytt, yff, yft, ytf;
        if (!br->status) continue;
        ys = 1.0 / (br->r + I * br->x);
        tap = (br->ratio != 0 ? br->ratio : 1.0) * cexp(I * br->shift_deg * M_PI / 180.0);
        ytt = ys + I * br->b / 2;
        yff = ytt / (tap * conj(tap));
        yft = -ys / conj(tap);
        ytf = -ys / tap;
        t[nt++] = (trip){br->from, br->from, yff};
        t[nt++] = (trip){br->to, br->to, ytt};
        t[nt++] = (trip){br->from, br->to, yft};
        t[nt++] = (trip){br->to, br->from, ytf};
    }
    qsort(t, nt, sizeof *t, cmp_trip);
    s->yp = calloc((size_t)c->nbus + 1, sizeof *s->yp);
    s->yj = malloc(nt * sizeof *s->yj);
    s->y = malloc(nt * sizeof *s->y);
    s->ydiag = malloc((size_t)c->nbus * sizeof *s->ydiag);
    GMR_CHECK(s->yp && s->yj && s->y && s->ydiag, GMR_ERR_NOMEM, "out of memory for the admittance matrix");
    for (size_t e = 0; e < nt; e++) {
        if (nz > 0 && s->yj[nz - 1] == t[e].k && e > 0 && t[e - 1].i == t[e].i) {
            s->y[nz - 1] += t[e].y; /* parallel branches */
            continue;
        }
        s->yj[nz] = t[e].k;
        s->y[nz] = t[e].y;
        if (t[e].k == t[e].i) s->ydiag[t[e].i] = nz;
        s->yp[t[e].i + 1] = ++nz;
    }
    for (int i = 0; i < c->nbus; i++)
        if (s->yp[i + 1] < s->yp[i]) s->yp[i + 1] = s->yp[i];
out:
    free(t);
    return err;
}

/* Every bus that is not isolated must reach the slack through branches in service. */
static gmr_err check_islands(gmr__pf_sys *s, gmr_pf_case c)
{
    gmr_err err = GMR_OK;
    int *seen = calloc((size_t)s->nb, sizeof *seen), *stack = malloc((size_t)s->nb * sizeof *stack), top = 0;
    GMR_CHECK(seen && stack, GMR_ERR_NOMEM, "out of memory");
    seen[s->ref] = 1;
    stack[top++] = s->ref;
    while (top > 0) {
        int i = stack[--top];
        for (int e = s->yp[i]; e < s->yp[i + 1]; e++) {
            int k = s->yj[e];
            if (!seen[k] && s->type[k] != GMR_PF_ISOLATED) {
                seen[k] = 1;
                stack[top++] = k;
            }
        }
    }
    for (int i = 0; i < s->nb; i++)
        GMR_CHECK(seen[i] || s->type[i] == GMR_PF_ISOLATED, GMR_ERR_DATA,
                  "the network is split into islands: bus %d is not connected to the slack bus %d by branches in "
                  "service",
                  c->bus[i].id, c->bus[s->ref].id);
out:
    free(seen);
    free(stack);
    return err;
}

void gmr__pf_sys_injections(gmr__pf_sys *s)
{
    for (int i = 0; i < s->nb; i++) {
        s->p0[i] = -s->pdb[i];
        s->dp[i] = -(s->pdt[i] - s->pdb[i]);
        s->q0[i] = -s->qdb[i];
        s->dq[i] = -(s->qdt[i] - s->qdb[i]);
    }
    for (int g = 0; g < s->ng; g++) {
        int i;
        if (!s->gon[g]) continue;
        i = s->gbus[g];
        s->p0[i] += s->pgb[g];
        s->dp[i] += s->pgt[g] - s->pgb[g];
        s->q0[i] += s->qgb[g];
        s->dq[i] += s->qgt[g] - s->qgb[g];
    }
}

gmr_err gmr__pf_sys_create(gmr_pf_case base, gmr_pf_case target, gmr__pf_sys **out)
{
    gmr_err err = GMR_OK;
    gmr__pf_sys *s = NULL;
    int nb = base->nbus, ng = base->ngen;
    *out = NULL;
    if (target) {
        GMR_CHECK(target->nbus == nb && target->ngen == ng && target->nbranch == base->nbranch, GMR_ERR_ARG,
                  "the target case has %d buses, %d generators, %d branches; the base case %d, %d, %d", target->nbus,
                  target->ngen, target->nbranch, nb, ng, base->nbranch);
        for (int i = 0; i < nb; i++)
            GMR_CHECK(target->bus[i].id == base->bus[i].id && target->bus[i].type == base->bus[i].type, GMR_ERR_ARG,
                      "the target case's bus %d differs from the base case's bus %d (number or type)", i + 1, i + 1);
        for (int g = 0; g < ng; g++)
            GMR_CHECK(target->gen[g].bus == base->gen[g].bus && target->gen[g].status == base->gen[g].status,
                      GMR_ERR_ARG, "the target case's generator %d differs from the base case's (bus or status)", g + 1);
    }
    s = calloc(1, sizeof *s);
    GMR_CHECK(s, GMR_ERR_NOMEM, "out of memory");
    s->nb = nb;
    s->ng = ng;
    s->base_mva = base->base_mva;
    s->ref = -1;
    klu_defaults(&s->common);
    s->common.halt_if_singular = 1;
#define ALLOC(p, n) GMR_CHECK((p = calloc((size_t)(n) + 1, sizeof *(p))) != NULL, GMR_ERR_NOMEM, "out of memory")
    ALLOC(s->vm, nb);
    ALLOC(s->va, nb);
    ALLOC(s->v, nb);
    ALLOC(s->ibus, nb);
    ALLOC(s->type, nb);
    ALLOC(s->pgb, ng);
    ALLOC(s->pgt, ng);
    ALLOC(s->qgb, ng);
    ALLOC(s->qgt, ng);
    ALLOC(s->gon, ng);
    ALLOC(s->glim, ng);
    ALLOC(s->gbus, ng);
    ALLOC(s->qmax, ng);
    ALLOC(s->qmin, ng);
    ALLOC(s->pdb, nb);
    ALLOC(s->pdt, nb);
    ALLOC(s->qdb, nb);
    ALLOC(s->qdt, nb);
    ALLOC(s->p0, nb);
    ALLOC(s->dp, nb);
    ALLOC(s->q0, nb);
    ALLOC(s->dq, nb);
    ALLOC(s->ang, nb);
    ALLOC(s->mag, nb);
    ALLOC(s->za, nb);
    ALLOC(s->zm, nb);
    ALLOC(s->va_prev, nb);
    ALLOC(s->vm_prev, nb);
    ALLOC(s->f, 2 * nb + 1);
    ALLOC(s->dx, 2 * nb + 1);
#undef ALLOC
    GMR_CALL(build_ybus(s, base));
    for (int i = 0; i < nb; i++) {
        const gmr_pf_bus *b = &base->bus[i];
        s->type[i] = b->type;
        s->vm[i] = b->vm;
        s->va[i] = b->va_deg * M_PI / 180.0;
        s->pdb[i] = s->pdt[i] = b->pd / s->base_mva;
        s->qdb[i] = s->qdt[i] = b->qd / s->base_mva;
        if (target) {
            s->pdt[i] = target->bus[i].pd / s->base_mva;
            s->qdt[i] = target->bus[i].qd / s->base_mva;
        }
    }
    /* MATPOWER's bustypes: a PV or slack bus needs a generator in service */
    {
        int *has_gen = calloc((size_t)nb + 1, sizeof *has_gen);
        GMR_CHECK(has_gen, GMR_ERR_NOMEM, "out of memory");
        for (int g = 0; g < ng; g++) {
            const gmr_pf_gen *gn = &base->gen[g];
            s->gbus[g] = gn->bus;
            s->gon[g] = gn->status && s->type[gn->bus] != GMR_PF_ISOLATED;
            s->qmax[g] = gn->qmax;
            s->qmin[g] = gn->qmin;
            if (!s->gon[g]) continue;
            has_gen[gn->bus] = 1;
            s->pgb[g] = s->pgt[g] = gn->pg / s->base_mva;
            s->qgb[g] = s->qgt[g] = gn->qg / s->base_mva;
            if (target) {
                s->pgt[g] = target->gen[g].pg / s->base_mva;
                s->qgt[g] = target->gen[g].qg / s->base_mva;
            }
            if (s->type[gn->bus] == GMR_PF_PV || s->type[gn->bus] == GMR_PF_REF) s->vm[gn->bus] = gn->vg;
        }
        for (int i = 0; i < nb; i++)
            if ((s->type[i] == GMR_PF_PV || s->type[i] == GMR_PF_REF) && !has_gen[i]) s->type[i] = GMR_PF_PQ;
        free(has_gen);
    }
    for (int i = 0; i < nb && s->ref < 0; i++)
        if (s->type[i] == GMR_PF_REF) s->ref = i;
    for (int i = 0; i < nb && s->ref < 0; i++)
        if (s->type[i] == GMR_PF_PV) {
            s->ref = i;
            s->type[i] = GMR_PF_REF;
        }
    GMR_CHECK(s->ref >= 0, GMR_ERR_DATA,
              "no slack bus: no bus of type 3 (or 2) has a generator in service");
    GMR_CALL(check_islands(s, base));
    gmr__pf_sys_injections(s);
    *out = s;
    s = NULL;
out:
    gmr__pf_sys_destroy(&s);
    return err;
}

static void free_pattern(gmr__pf_sys *s)
{
    if (s->num) klu_free_numeric(&s->num, &s->common);
    if (s->sym) klu_free_symbolic(&s->sym, &s->common);
    free(s->jp);
    free(s->jj);
    free(s->jx);
    s->jp = s->jj = NULL;
    s->jx = NULL;
    s->pattern_ok = 0;
}

void gmr__pf_sys_destroy(gmr__pf_sys **ps)
{
    gmr__pf_sys *s;
    if (!ps || !*ps) return;
    s = *ps;
    free_pattern(s);
    free(s->yp);
    free(s->yj);
    free(s->ydiag);
    free(s->y);
    free(s->vm);
    free(s->va);
    free(s->v);
    free(s->ibus);
    free(s->type);
    free(s->pgb);
    free(s->pgt);
    free(s->qgb);
    free(s->qgt);
    free(s->gon);
    free(s->glim);
    free(s->gbus);
    free(s->qmax);
    free(s->qmin);
    free(s->pdb);
    free(s->pdt);
    free(s->qdb);
    free(s->qdt);
    free(s->p0);
    free(s->dp);
    free(s->q0);
    free(s->dq);
    free(s->ang);
    free(s->mag);
    free(s->za);
    free(s->zm);
    free(s->va_prev);
    free(s->vm_prev);
    free(s->f);
    free(s->dx);
    free(s);
    *ps = NULL;
}

/* The unknowns, the CSR pattern and KLU's symbolic analysis for the current types. */
static gmr_err build_pattern(gmr__pf_sys *s, int aug)
{
    gmr_err err = GMR_OK;
    int nrows, pos = 0;
    size_t cap;
    if (s->pattern_ok && s->aug == aug) return GMR_OK;
    free_pattern(s);
    s->nang = s->nmag = 0;
    for (int i = 0; i < s->nb; i++) {
        s->ang[i] = s->type[i] == GMR_PF_PV || s->type[i] == GMR_PF_PQ ? s->nang++ : -1;
        s->mag[i] = -1;
    }
    for (int i = 0; i < s->nb; i++)
        if (s->type[i] == GMR_PF_PQ) s->mag[i] = s->nang + s->nmag++;
    s->n = s->nang + s->nmag;
    s->aug = aug;
    nrows = s->n + aug;
    cap = 4 * (size_t)s->yp[s->nb] + 2 * (size_t)s->n * (size_t)aug + 2; /* 4 blocks, the lambda column and row */
    s->jp = malloc(((size_t)nrows + 1) * sizeof *s->jp);
    s->jj = malloc(cap * sizeof *s->jj);
    s->jx = malloc(cap * sizeof *s->jx);
    GMR_CHECK(s->jp && s->jj && s->jx, GMR_ERR_NOMEM, "out of memory for the Jacobian");
    s->jp[0] = 0;
    for (int pass = 0; pass < 2; pass++) /* P rows, then Q rows */
        for (int i = 0; i < s->nb; i++) {
            if ((pass == 0 ? s->ang[i] : s->mag[i]) < 0) continue;
            for (int e = s->yp[i]; e < s->yp[i + 1]; e++)
                if (s->ang[s->yj[e]] >= 0) s->jj[pos++] = s->ang[s->yj[e]];
            for (int e = s->yp[i]; e < s->yp[i + 1]; e++)
                if (s->mag[s->yj[e]] >= 0) s->jj[pos++] = s->mag[s->yj[e]];
            if (aug) s->jj[pos++] = s->n;
            s->jp[(pass == 0 ? s->ang[i] : s->mag[i]) + 1] = pos;
        }
    if (aug) {
        for (int k = 0; k <= s->n; k++) s->jj[pos++] = k;
        s->jp[s->n + 1] = pos;
    }
    s->nnz = pos;
    if (nrows > 0) {
        s->sym = klu_analyze(nrows, s->jp, s->jj, &s->common);
        GMR_CHECK(s->sym, GMR_ERR_INTERNAL, "KLU could not analyse the %d x %d Jacobian (status %d)", nrows, nrows,
                  s->common.status);
    }
    s->pattern_ok = 1;
out:
    return err;
}

static void update_v(gmr__pf_sys *s)
{
    for (int i = 0; i < s->nb; i++) s->v[i] = s->vm[i] * cexp(I * s->va[i]);
    for (int i = 0; i < s->nb; i++) {
        double complex c = 0;
        for (int e = s->yp[i]; e < s->yp[i + 1]; e++) c += s->y[e] * s->v[s->yj[e]];
        s->ibus[i] = c;
    }
}

/* Mismatches at the current state (update_v done); returns the largest magnitude. */
static double mismatch(gmr__pf_sys *s)
{
    double nrm = 0;
    for (int i = 0; i < s->nb; i++) {
        double complex si;
        if (s->ang[i] < 0) continue;
        si = s->v[i] * conj(s->ibus[i]);
        s->f[s->ang[i]] = creal(si) - (s->p0[i] + s->lambda * s->dp[i]);
        if (s->mag[i] >= 0) s->f[s->mag[i]] = cimag(si) - (s->q0[i] + s->lambda * s->dq[i]);
    }
    if (s->aug) {
        double r = s->zl * (s->lambda - s->lambda_prev) - s->sigma;
        for (int i = 0; i < s->nb; i++) {
            if (s->ang[i] >= 0) r += s->za[i] * (s->va[i] - s->va_prev[i]);
            if (s->mag[i] >= 0) r += s->zm[i] * (s->vm[i] - s->vm_prev[i]);
        }
        s->f[s->n] = r;
    }
    for (int k = 0; k < s->n + s->aug; k++) {
        double a = fabs(s->f[k]);
        if (!(a <= nrm)) nrm = isnan(a) ? INFINITY : a;
    }
    return nrm;
}

static void fill_jacobian(gmr__pf_sys *s)
{
    int pos = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < s->nb; i++) {
            if ((pass == 0 ? s->ang[i] : s->mag[i]) < 0) continue;
            for (int e = s->yp[i]; e < s->yp[i + 1]; e++) {
                int k = s->yj[e];
                double complex d;
                if (s->ang[k] < 0) continue;
                if (k != i) d = -I * s->v[i] * conj(s->y[e] * s->v[k]);
                else d = I * s->v[i] * conj(s->ibus[i] - s->y[e] * s->v[i]);
                s->jx[pos++] = pass == 0 ? creal(d) : cimag(d);
            }
            for (int e = s->yp[i]; e < s->yp[i + 1]; e++) {
                int k = s->yj[e];
                double complex d, vn;
                if (s->mag[k] < 0) continue;
                vn = s->v[k] / s->vm[k];
                d = s->v[i] * conj(s->y[e] * vn);
                if (k == i) d += conj(s->ibus[i]) * vn;
                s->jx[pos++] = pass == 0 ? creal(d) : cimag(d);
            }
            if (s->aug) s->jx[pos++] = pass == 0 ? -s->dp[i] : -s->dq[i];
        }
    if (s->aug) {
        for (int i = 0; i < s->nb; i++) {
            if (s->ang[i] >= 0) s->jx[pos + s->ang[i]] = s->za[i];
            if (s->mag[i] >= 0) s->jx[pos + s->mag[i]] = s->zm[i];
        }
        s->jx[pos + s->n] = s->zl;
    }
}

/* Factor the filled Jacobian: refactor with the old pivots, a fresh factorisation when that
 * fails or its condition estimate is poor. 0 ok, 1 singular. */
static int factor(gmr__pf_sys *s)
{
    if (s->num) {
        if (klu_refactor(s->jp, s->jj, s->jx, s->sym, s->num, &s->common) && klu_rcond(s->sym, s->num, &s->common) &&
            s->common.rcond > 1e-8)
            return 0;
        klu_free_numeric(&s->num, &s->common);
    }
    s->num = klu_factor(s->jp, s->jj, s->jx, s->sym, &s->common);
    if (!s->num) return 1;
    if (!klu_rcond(s->sym, s->num, &s->common) || !(s->common.rcond > 1e-14)) {
        klu_free_numeric(&s->num, &s->common);
        return 1;
    }
    return 0;
}

/* J^T given to KLU: klu_tsolve solves J x = b in place. */
static int solve(gmr__pf_sys *s, double *b)
{
    return klu_tsolve(s->sym, s->num, s->n + s->aug, 1, b, &s->common) ? 0 : 1;
}

int gmr__pf_newton(gmr__pf_sys *s, int aug, double tol, int max_iter, gmr_err *perr)
{
    gmr_err err = GMR_OK;
    double nrm;
    int it = 0, rc = 1;
    GMR_CALL(build_pattern(s, aug));
    update_v(s);
    nrm = mismatch(s);
    while (!(nrm < tol)) {
        if (it >= max_iter || !isfinite(nrm)) goto out;
        fill_jacobian(s);
        if (factor(s)) goto out;
        memcpy(s->dx, s->f, (size_t)(s->n + s->aug) * sizeof *s->dx);
        if (solve(s, s->dx)) goto out;
        for (int i = 0; i < s->nb; i++) {
            if (s->ang[i] >= 0) s->va[i] -= s->dx[s->ang[i]];
            if (s->mag[i] >= 0) s->vm[i] -= s->dx[s->mag[i]];
        }
        if (aug) s->lambda -= s->dx[s->n];
        it++;
        s->iterations++;
        update_v(s);
        nrm = mismatch(s);
    }
    rc = 0;
out:
    *perr = err;
    return err ? 1 : rc;
}

int gmr__pf_tangent(gmr__pf_sys *s, double *ta, double *tm, double *tl, gmr_err *perr)
{
    gmr_err err = GMR_OK;
    double nrm = 0;
    int rc = 1;
    GMR_CALL(build_pattern(s, 1));
    update_v(s);
    fill_jacobian(s);
    if (factor(s)) goto out;
    memset(s->dx, 0, (size_t)(s->n + 1) * sizeof *s->dx);
    s->dx[s->n] = 1;
    if (solve(s, s->dx)) goto out;
    for (int k = 0; k <= s->n; k++) nrm += s->dx[k] * s->dx[k];
    nrm = sqrt(nrm);
    if (!(nrm > 0 && isfinite(nrm))) goto out;
    for (int i = 0; i < s->nb; i++) {
        ta[i] = s->ang[i] >= 0 ? s->dx[s->ang[i]] / nrm : 0;
        tm[i] = s->mag[i] >= 0 ? s->dx[s->mag[i]] / nrm : 0;
    }
    *tl = s->dx[s->n] / nrm;
    rc = 0;
out:
    *perr = err;
    return err ? 1 : rc;
}

void gmr__pf_gen_output(gmr__pf_sys *s, double *pg, double *qg)
{
    for (int g = 0; g < s->ng; g++) {
        pg[g] = s->gon[g] ? s->pgb[g] + s->lambda * (s->pgt[g] - s->pgb[g]) : 0;
        qg[g] = s->gon[g] ? s->qgb[g] + s->lambda * (s->qgt[g] - s->qgb[g]) : 0;
    }
    for (int i = 0; i < s->nb; i++) {
        double complex si;
        double qbus, range = 0, pfirst;
        int nfree = 0, allfinite = 1, first = -1;
        if (s->type[i] != GMR_PF_PV && s->type[i] != GMR_PF_REF) continue;
        si = s->v[i] * conj(s->ibus[i]);
        qbus = cimag(si) + s->qdb[i] + s->lambda * (s->qdt[i] - s->qdb[i]);
        pfirst = creal(si) + s->pdb[i] + s->lambda * (s->pdt[i] - s->pdb[i]);
        for (int g = 0; g < s->ng; g++) {
            if (!s->gon[g] || s->gbus[g] != i) continue;
            if (s->glim[g]) {
                qbus -= qg[g];
                pfirst -= pg[g];
                continue;
            }
            if (first < 0) first = g;
            else pfirst -= pg[g];
            nfree++;
            if (isfinite(s->qmax[g] - s->qmin[g]) && s->qmax[g] > s->qmin[g]) range += s->qmax[g] - s->qmin[g];
            else allfinite = 0;
        }
        for (int g = 0; g < s->ng; g++) {
            if (!s->gon[g] || s->gbus[g] != i || s->glim[g]) continue;
            qg[g] = allfinite && range > 0 ? qbus * (s->qmax[g] - s->qmin[g]) / range : qbus / nfree;
        }
        if (s->type[i] == GMR_PF_REF && first >= 0) pg[first] = pfirst;
    }
}

double gmr__pf_qlim_violation(gmr__pf_sys *s, const double *qg, int *which)
{
    double worst = -INFINITY;
    *which = -1;
    for (int g = 0; g < s->ng; g++) {
        double q, v;
        if (!s->gon[g] || s->glim[g] || (s->type[s->gbus[g]] != GMR_PF_PV && s->type[s->gbus[g]] != GMR_PF_REF))
            continue;
        q = qg[g] * s->base_mva;
        v = fmax(q - s->qmax[g], s->qmin[g] - q);
        if (v > worst) {
            worst = v;
            *which = g;
        }
    }
    return worst;
}

int gmr__pf_qlim_switch(gmr__pf_sys *s, const double *pg, const double *qg, double tol)
{
    int switched = 0, lost_ref = 0;
    for (int g = 0; g < s->ng; g++) {
        double q, lim;
        int i = s->gbus[g];
        if (!s->gon[g] || s->glim[g] || (s->type[i] != GMR_PF_PV && s->type[i] != GMR_PF_REF)) continue;
        q = qg[g] * s->base_mva;
        if (q - s->qmax[g] > tol) lim = s->qmax[g];
        else if (s->qmin[g] - q > tol) lim = s->qmin[g];
        else continue;
        /* this generator at its limit, the others at its bus at their present output */
        for (int h = 0; h < s->ng; h++) {
            if (!s->gon[h] || s->gbus[h] != i || s->glim[h]) continue;
            s->glim[h] = 1;
            s->qgb[h] = s->qgt[h] = h == g ? lim / s->base_mva : qg[h];
            if (s->type[i] == GMR_PF_REF) s->pgb[h] = s->pgt[h] = pg[h]; /* no more transfer */
        }
        if (s->type[i] == GMR_PF_REF) lost_ref = 1;
        s->type[i] = GMR_PF_PQ;
        switched++;
    }
    if (!switched) return 0;
    s->pattern_ok = 0;
    if (lost_ref) {
        s->ref = -1;
        for (int i = 0; i < s->nb && s->ref < 0; i++)
            if (s->type[i] == GMR_PF_REF) s->ref = i;
        for (int i = 0; i < s->nb && s->ref < 0; i++)
            if (s->type[i] == GMR_PF_PV) {
                s->ref = i;
                s->type[i] = GMR_PF_REF;
            }
        if (s->ref < 0) return -1;
    }
    gmr__pf_sys_injections(s);
    return switched;
}

gmr_err gmr__pf_jacobian_dense(gmr__pf_sys *s, int aug, double *jd, double *f)
{
    gmr_err err = GMR_OK;
    int nr;
    GMR_CALL(build_pattern(s, aug));
    update_v(s);
    mismatch(s);
    fill_jacobian(s);
    nr = s->n + aug;
    memset(jd, 0, (size_t)nr * (size_t)nr * sizeof *jd);
    for (int r = 0; r < nr; r++)
        for (int e = s->jp[r]; e < s->jp[r + 1]; e++) jd[(size_t)r * (size_t)nr + (size_t)s->jj[e]] = s->jx[e];
    memcpy(f, s->f, (size_t)nr * sizeof *f);
out:
    return err;
}
