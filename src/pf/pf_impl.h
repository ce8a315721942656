/* pf_impl.h: the power-flow subsystem's private layout, shared by the files of src/pf/ (private).
 *
 *   case.c    the MATPOWER case parser and the gmr_pf_case accessors
 *   sys.c     the solver workspace: admittance matrix, bus types, the sparse Jacobian pattern
 *             and its KLU factorisation, the Newton iteration (plain or augmented for the CPF)
 *   solve.c   gmr_pf_solve: Newton with optional reactive-limit switching
 *   cpf.c     gmr_cpf_run: pseudo-arc-length continuation to the nose
 *   vsm.c     the batch of voltage-stability margins (gmr_vsm_*, include/gridmr/vsm.h) */
#ifndef GMR_PF_IMPL_H
#define GMR_PF_IMPL_H

#include <complex.h>
#include <klu.h>

#include "gridmr/pf.h"

struct gmr_pf_case {
    double base_mva;
    int nbus, ngen, nbranch;
    gmr_pf_bus *bus;
    gmr_pf_gen *gen;
    gmr_pf_branch *br;
    int *sorted; /* bus indices sorted by id, for gmr_pf_case_bus_index */
};

/* The solver workspace of one case. Powers in pu; angles in radians. The injection at bus i is
 * P_i(lambda) = p0[i] + lambda dp[i] (and Q likewise); for the plain power flow dp = dq = 0. */
typedef struct gmr__pf_sys {
    int nb, ng;
    double base_mva;
    /* Ybus in CSR, columns sorted, the diagonal always present (ydiag[i]: its position) */
    int *yp, *yj, *ydiag;
    double complex *y;
    /* state */
    double *vm, *va, lambda;
    double complex *v, *ibus;
    int *type;   /* current types: GMR_PF_PQ, _PV, _REF or _ISOLATED */
    int ref;     /* the slack bus */
    /* per generator, pu, base and target: P, Q; gon: in service; glim: Q held (at a limit) */
    double *pgb, *pgt, *qgb, *qgt;
    int *gon, *glim, *gbus;
    double *qmax, *qmin; /* MVAr */
    /* per bus loads (pu), base and target */
    double *pdb, *pdt, *qdb, *qdt;
    double *p0, *dp, *q0, *dq;
    /* unknowns: ang[i] >= 0 the column of Va_i (non-slack), mag[i] >= 0 of Vm_i (PQ) */
    int *ang, *mag, nang, nmag, n;
    int aug; /* 1: one more unknown (lambda) and equation (the arc-length row) */
    /* Jacobian, rows = equations (CSR), given to KLU as the CSC of its transpose (klu_tsolve) */
    int *jp, *jj, nnz;
    double *jx;
    klu_symbolic *sym;
    klu_numeric *num;
    klu_common common;
    int pattern_ok; /* 0 after a change of bus types: the pattern is rebuilt */
    double *f, *dx;
    /* arc-length row: z (full space: za per bus, zm per bus, zl), anchor point, step */
    double *za, *zm, zl, *va_prev, *vm_prev, lambda_prev, sigma;
    int iterations;
} gmr__pf_sys;

/* Build the workspace of base (and target: NULL for a plain power flow; it must match base's
 * structure). GMR_ERR_DATA for an ill-posed network (islands without a slack, zero impedance).
 * Not collective. */
gmr_err gmr__pf_sys_create(gmr_pf_case base, gmr_pf_case target, gmr__pf_sys **out);
void gmr__pf_sys_destroy(gmr__pf_sys **s);
/* Recompute p0, dp, q0, dq from the generators and loads (after a change of limits). */
void gmr__pf_sys_injections(gmr__pf_sys *s);
/* Newton on the current types (aug: with lambda and the arc-length row). Returns 0 on
 * convergence to tol within max_iter, 1 when it does not converge, the Jacobian is singular or
 * an error happened; *err is then set only for a real error (allocation, KLU's analysis), and a
 * plain failure leaves the state unusable (the caller restores or gives up). */
int gmr__pf_newton(gmr__pf_sys *s, int aug, double tol, int max_iter, gmr_err *err);
/* Solve J_aug t = e_last at the current state, with the arc-length row z (tangent); result in
 * full space (ta, tm per bus, tl), normalised. Returns 0, or 1 when singular. */
int gmr__pf_tangent(gmr__pf_sys *s, double *ta, double *tm, double *tl, gmr_err *err);
/* Bus and generator reactive output (pu) at the current state: qg[g] for online generators at
 * PV or slack buses (shared in proportion to their ranges), their fixed value otherwise; and
 * pg of the slack generators. */
void gmr__pf_gen_output(gmr__pf_sys *s, double *pg, double *qg);
/* Largest limit violation (MVAr, > 0 when violated) over generators not yet limited, and which
 * generator (-1 when none is eligible). */
double gmr__pf_qlim_violation(gmr__pf_sys *s, const double *qg, int *which);
/* Hold every generator violating its limit by more than tol MVAr at that limit (and the others
 * at its bus at their present output), turn their buses PQ, move the slack to the first PV bus
 * if it went; returns the number switched, -1 when no PV or slack bus remains. */
int gmr__pf_qlim_switch(gmr__pf_sys *s, const double *pg, const double *qg, double tol);
/* The base power flow of the workspace (solve.c): Newton, then with o->qlim the switching loop
 * until no generator violates a limit; angles shifted back if the slack moved. GMR_ERR_STATE
 * when Newton does not converge or every generator ends limited. */
gmr_err gmr__pf_base_solve(gmr__pf_sys *s, const gmr_pf_options *o);
/* For the tests: the Jacobian at the current state as a dense row-major (n+aug) x (n+aug)
 * matrix (rows: P then Q equations then the arc-length row; columns: angles, magnitudes,
 * lambda; s->ang and s->mag give the positions) and the mismatches f. */
gmr_err gmr__pf_jacobian_dense(gmr__pf_sys *s, int aug, double *jd, double *f);

#endif
