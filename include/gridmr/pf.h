/* gridmr/pf.h: AC power flow and continuation power flow (CPF) on MATPOWER cases.
 *
 * A case (gmr_pf_case) is read from a MATPOWER version-2 case file: baseMVA and the bus, gen and
 * branch matrices (docs/formats.md, "Power-flow cases"). gmr_pf_solve runs Newton-Raphson in
 * polar form (unknowns: voltage angles at PV and PQ buses, magnitudes at PQ buses) with the
 * sparse Jacobian factorised by SuiteSparse KLU: one symbolic analysis per set of bus types, a
 * numeric refactorisation per iteration. Generator reactive limits are optional (a PV bus whose
 * generators leave [Qmin, Qmax] becomes PQ at the limit, as MATPOWER's enforce_q_lims = 1).
 *
 * gmr_cpf_run traces the solutions from a base case towards a target case along
 * S(lambda) = S_base + lambda (S_target - S_base) (loads and generation), by pseudo-arc-length
 * continuation: a tangent predictor, a Newton corrector on the power-flow equations plus the
 * arc-length equation, an adaptive step, and event location (by regula falsi on the step) for
 * the nose (the tangent's lambda component changes sign) and, optionally, generator reactive
 * limits (the bus turns PQ, the slack moves when the slack's generator is limited, as in
 * MATPOWER's runcpf). The margin is lambda at the nose. All of it is serial ("Not collective"):
 * the batch (gridmr vsm) spreads cases over the ranks.
 *
 * Typical use:
 *
 *     gmr_pf_case base = NULL, target = NULL;
 *     gmr_cpf_options o;
 *     gmr_cpf_result r;
 *     GMR_CALL(gmr_pf_case_read("case118.m", &base));
 *     GMR_CALL(gmr_pf_case_copy(base, &target));
 *     GMR_CALL(gmr_pf_case_scale(target, 2.0));   // every load and generator x 2
 *     gmr_cpf_options_init(&o);
 *     GMR_CALL(gmr_cpf_run(base, target, &o, &r)); // r.lambda: the nose
 *     gmr_cpf_result_free(&r);
 */
#ifndef GRIDMR_PF_H
#define GRIDMR_PF_H

#include <stddef.h>

#include "gridmr/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cases -------------------------------------------------------------------------------- */

enum { GMR_PF_PQ = 1, GMR_PF_PV = 2, GMR_PF_REF = 3, GMR_PF_ISOLATED = 4 };

/* One bus: MATPOWER's bus row (powers in MW / MVAr, shunt in MW / MVAr at 1 pu). */
typedef struct gmr_pf_bus {
    int id, type;
    double pd, qd, gs, bs, vm, va_deg, base_kv, vmax, vmin;
} gmr_pf_bus;

/* One generator: bus is the bus index (0-based, in file order), not the bus id. */
typedef struct gmr_pf_gen {
    int bus, status;
    double pg, qg, qmax, qmin, vg, pmax, pmin;
} gmr_pf_gen;

/* One branch (line or transformer): from/to bus indices (0-based); ratio 0 means 1; shift in
 * degrees; status 0 = out of service. */
typedef struct gmr_pf_branch {
    int from, to, status;
    double r, x, b, ratio, shift_deg;
} gmr_pf_branch;

typedef struct gmr_pf_case *gmr_pf_case;

/* Not collective. Reads a MATPOWER version-2 case file. GMR_ERR_IO when it cannot be read;
 * GMR_ERR_DATA with "FILE:LINE: what" for a malformed or unsupported file (a row with the wrong
 * number of columns, a non-numeric value, an unknown bus, a bus type other than 1-4, version 1,
 * no slack bus, no bus). */
gmr_err gmr_pf_case_read(const char *path, gmr_pf_case *out);
/* Not collective. The same from text in memory; name is used in messages. */
gmr_err gmr_pf_case_parse(const char *text, size_t len, const char *name, gmr_pf_case *out);
/* Not collective. A deep copy. */
gmr_err gmr_pf_case_copy(gmr_pf_case c, gmr_pf_case *out);
/* Accepts NULL and *c == NULL; sets *c to NULL. */
void gmr_pf_case_destroy(gmr_pf_case *c);

int gmr_pf_case_nbus(gmr_pf_case c);
int gmr_pf_case_ngen(gmr_pf_case c);
int gmr_pf_case_nbranch(gmr_pf_case c);
double gmr_pf_case_base_mva(gmr_pf_case c);
/* Not collective. Copy a record out or in (GMR_ERR_ARG for an index out of range, or a record
 * naming a bus out of range). */
gmr_err gmr_pf_case_get_bus(gmr_pf_case c, int i, gmr_pf_bus *b);
gmr_err gmr_pf_case_set_bus(gmr_pf_case c, int i, const gmr_pf_bus *b);
gmr_err gmr_pf_case_get_gen(gmr_pf_case c, int i, gmr_pf_gen *g);
gmr_err gmr_pf_case_set_gen(gmr_pf_case c, int i, const gmr_pf_gen *g);
gmr_err gmr_pf_case_get_branch(gmr_pf_case c, int i, gmr_pf_branch *br);
gmr_err gmr_pf_case_set_branch(gmr_pf_case c, int i, const gmr_pf_branch *br);
/* Not collective. Every load (Pd and Qd) and every generator's Pg and Qg times f. */
gmr_err gmr_pf_case_scale(gmr_pf_case c, double f);
/* Not collective. The bus index of a bus id, or -1. */
int gmr_pf_case_bus_index(gmr_pf_case c, int id);

/* ---- power flow --------------------------------------------------------------------------- */

#define GMR_PF_DEFAULT_TOL 1e-10   /* largest mismatch, pu */
#define GMR_PF_DEFAULT_MAX_ITER 30 /* Newton iterations */

typedef struct gmr_pf_options {
    double tol;   /* stop when every mismatch is below tol (pu); default 1e-10 */
    int max_iter; /* Newton iterations per solve (default 30) */
    int qlim;     /* 0 (default); 1: enforce generator reactive limits (PV -> PQ switching) */
} gmr_pf_options;

void gmr_pf_options_init(gmr_pf_options *o);

typedef struct gmr_pf_result {
    int nbus, ngen;
    double *vm, *va_deg;  /* per bus, pu and degrees */
    double *pg, *qg;      /* per generator, MW and MVAr (0 for generators out of service) */
    int *type;            /* per bus, the final type (after reactive-limit switching) */
    int iterations;       /* Newton iterations, all solves */
    int nlimited;         /* generators held at a reactive limit */
    double mismatch;      /* largest final mismatch, pu */
} gmr_pf_result;

/* Not collective. Solves the case; r is filled (free with gmr_pf_result_free). Errors:
 * GMR_ERR_DATA for an ill-posed case (a connected part of the network without a slack bus or
 * without any branch in service, a zero-impedance branch), GMR_ERR_STATE when Newton does not
 * converge in max_iter iterations (the case is probably beyond its loadability; the message
 * says the mismatch reached), GMR_ERR_NOMEM. */
gmr_err gmr_pf_solve(gmr_pf_case c, const gmr_pf_options *o, gmr_pf_result *r);
void gmr_pf_result_free(gmr_pf_result *r);

/* ---- continuation power flow -------------------------------------------------------------- */

#define GMR_CPF_DEFAULT_STEP 0.05      /* first arc-length step */
#define GMR_CPF_DEFAULT_STEP_MIN 1e-4  /* adaptive step bounds */
#define GMR_CPF_DEFAULT_STEP_MAX 0.2
#define GMR_CPF_DEFAULT_ERROR_TOL 1e-3 /* predictor-corrector distance the adaptive step aims at */
#define GMR_CPF_DEFAULT_MAX_STEPS 400  /* continuation steps before giving up */
#define GMR_CPF_DEFAULT_NOSE_TOL 1e-5  /* |dlambda/ds| at the located nose */
#define GMR_CPF_DEFAULT_QLIM_TOL 1e-5  /* MVAr beyond a limit at a located reactive-limit event */

typedef struct gmr_cpf_options {
    double step;      /* first step (arc length in pu / rad / lambda); default 0.05 */
    int adapt;        /* 1 (default): adapt the step to the predictor-corrector distance */
    double step_min, step_max, error_tol;
    int qlim;         /* 0 (default); 1: enforce generator reactive limits */
    double tol;       /* corrector mismatch, pu (default 1e-10) */
    int max_iter;     /* corrector iterations per step (default 30) */
    int max_steps;    /* default 400 */
    double nose_tol, qlim_tol;
    /* called before every continuation step when not NULL (a batch's scheduler answers other
       ranks there, so a long CPF does not keep them waiting); an error it returns ends the CPF
       with that error */
    gmr_err (*progress)(void *ctx);
    void *progress_ctx;
} gmr_cpf_options;

void gmr_cpf_options_init(gmr_cpf_options *o);

enum { GMR_CPF_NOSE = 1, GMR_CPF_NO_PV = 2 };

typedef struct gmr_cpf_result {
    double lambda;       /* at the nose: the loading is S_base + lambda (S_target - S_base) */
    double mw_margin;    /* lambda x (total target load - total base load), MW */
    double base_load_mw; /* total base load, MW */
    int stop;            /* GMR_CPF_NOSE, or GMR_CPF_NO_PV (every generator limited: with
                            qlim, the point where no PV or slack bus remains) */
    int steps;           /* accepted continuation steps */
    int iterations;      /* Newton iterations, all solves (base power flow included) */
    int nlimited;        /* reactive-limit events */
    int nbus, ngen;
    double *vm, *va_deg; /* the voltages at the nose */
    double *base_vm, *base_va_deg, *base_pg; /* the base case's power flow (as gmr_pf_solve
                            gives it: per bus pu and degrees, per generator MW) */
} gmr_cpf_result;

/* Not collective. The base power flow (with limits when o->qlim), then the continuation to
 * the nose. base and target must have the same buses, generators and branches (GMR_ERR_ARG
 * otherwise); only loads and generator outputs may differ. Errors as gmr_pf_solve for the base
 * case; GMR_ERR_STATE when the corrector fails at the smallest step or max_steps pass without
 * a nose; GMR_ERR_DATA when the target adds no load (nothing to continue towards). */
gmr_err gmr_cpf_run(gmr_pf_case base, gmr_pf_case target, const gmr_cpf_options *o, gmr_cpf_result *r);
void gmr_cpf_result_free(gmr_cpf_result *r);

#ifdef __cplusplus
}
#endif
#endif
