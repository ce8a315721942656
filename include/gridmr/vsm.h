/* gridmr/vsm.h: batch voltage-stability margins over the ranks of a job, and their LASSO
 * surrogate (the paper's online assessment, docs/pf.md).
 *
 * An operating point is made from the base case by its index alone (and the seed): a system load
 * level, a per-bus load variation (Q varying a little more than P, so the power factors move), a
 * redispatch of the generators other than the slack's, and with some probability one branch out
 * of service. Its features are what an online assessment measures: the bus voltage magnitudes and
 * angles of its power flow, the loads, the generation, and the system load levels. Its margin
 * comes from a continuation power flow towards the point's loads and generation times `scale`:
 * the MW of load that can be added (lambda x (scale - 1) x the point's load) before the nose.
 *
 * gmr_vsm_compute hands the points out over the ranks with headquarters' on-demand scheduler
 * (a CPF's cost varies with the point: more steps near a limit), and gathers them on every rank
 * in index order. A point's data depend only on the seed and its index, and every point is
 * computed by the same serial code, so the results are bit-identical for any number of ranks. A
 * point whose power flow or CPF fails (islands after an outage, an infeasible loading) is kept
 * with its status and message; the batch goes on. */
#ifndef GRIDMR_VSM_H
#define GRIDMR_VSM_H

#include <mpi.h>
#include <stdint.h>

#include "gridmr/err.h"
#include "gridmr/pf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GMR_VSM_DEFAULT_LEVEL_SPREAD 0.15 /* system load level uniform in [1 - s, 1 + s] */
#define GMR_VSM_DEFAULT_LOAD_SPREAD 0.3   /* each bus's load times uniform [1 - s, 1 + s] more */
#define GMR_VSM_DEFAULT_GEN_SPREAD 0.2    /* each generator's P (slack's aside) times [1 - s, 1 + s] */
#define GMR_VSM_DEFAULT_Q_SPREAD 0.1      /* each bus's Q times [1 - s, 1 + s] more than its P */
#define GMR_VSM_DEFAULT_OUTAGE_RATE 0.0   /* probability of one branch out of service */
#define GMR_VSM_DEFAULT_SCALE 2.0         /* CPF target: the point's loads and generation x 2 */

typedef struct gmr_vsm_options {
    uint64_t seed;
    double level_lo, level_hi; /* system load level range (default 1 -/+ level spread) */
    double load_spread, q_spread, gen_spread, outage_rate, scale;
    gmr_cpf_options cpf;       /* the continuation (default gmr_cpf_options_init with step 0.1,
                                  step_max 1, error_tol 1e-2: the nose, not the path) */
    int provinces;             /* HQ's topology: 0 for the default */
} gmr_vsm_options;

/* Not collective. The defaults above. */
void gmr_vsm_options_init(gmr_vsm_options *o);

/* Status of a point. */
enum { GMR_VSM_OK = 0, GMR_VSM_FAILED = 1 };

#define GMR_VSM_MESSAGE 160 /* bytes of a failed point's message, NUL included */

/* A set of points, the same on every rank, in the order of their indices as given. */
typedef struct gmr_vsm_points {
    int n, p;                /* points, features */
    uint64_t *index;         /* the point's index (its identity with the seed) */
    double *x;               /* n x p features (row-major) */
    double *margin_mw;       /* MW of load that can be added before the nose (NAN if failed or
                                not computed) */
    double *lambda;          /* the CPF's lambda at the nose */
    double *load_mw;         /* the point's total load */
    int *status;             /* GMR_VSM_OK or GMR_VSM_FAILED */
    int *steps;              /* CPF steps */
    char *message;           /* n x GMR_VSM_MESSAGE: why a point failed ("" otherwise) */
    double seconds;          /* gmr_vsm_compute: wall time of the batch (HQ's clock) */
    double work_seconds;     /* ... and the time all ranks spent computing points (the rest
                                of ranks x seconds is waiting: scheduling, imbalance) */
    double cpu_seconds;      /* CPU time all ranks spent computing points (thread CPU clock:
                                what a dedicated core would take, whatever the machine's load) */
    double cpu_max_rank;     /* ... and that of the busiest rank: on dedicated cores the batch
                                takes at least this */
} gmr_vsm_points;

void gmr_vsm_points_free(gmr_vsm_points *pts);

/* Not collective. The number of features of a case and the name of feature j ("vm_<bus>",
 * "va_<bus>", "pd_<bus>", "qd_<bus>", "pg_<generator number>", "load_level", "q_level"). */
int gmr_vsm_nfeatures(gmr_pf_case base);
gmr_err gmr_vsm_feature_name(gmr_pf_case base, int j, char *buf, size_t cap);

/* Not collective. The operating point `index` as a case (destroy it), and its load level. */
gmr_err gmr_vsm_point_case(gmr_pf_case base, const gmr_vsm_options *o, uint64_t index, gmr_pf_case *out);

/* Collective on comm. Computes the points indices[0..n) (the same list on every rank): their
 * power flow and features, and when margins is nonzero their CPF margin (else margin_mw is NAN
 * and only a failed power flow fails the point). Dynamic scheduling from HQ; the results are
 * gathered on every rank, in the order of indices (memory: the result's n x (p + 8) doubles per
 * rank, and twice n x (p + 6) more during the call for the records and their gather). Errors
 * (the same on every rank): GMR_ERR_NOMEM, MPI; a point that fails is not an error. */
gmr_err gmr_vsm_compute(MPI_Comm comm, gmr_pf_case base, const gmr_vsm_options *o, const uint64_t *indices, int n,
                        int margins, gmr_vsm_points *out);

/* Not collective: append the points of b to a (same p). */
gmr_err gmr_vsm_points_append(gmr_vsm_points *a, const gmr_vsm_points *b, const int *which, int nwhich);

/* Collective on comm: rank 0 writes the points (docs/formats.md, "Voltage-stability batch") with
 * the serial HDF5 driver; set[i] (may be NULL) labels each point (0 training, 1 held out, 2
 * added by the database update, 3 evaluation); names the features. The status is agreed. */
gmr_err gmr_vsm_write(MPI_Comm comm, const char *path, gmr_pf_case base, const gmr_vsm_options *o,
                      const gmr_vsm_points *pts, const int *set, const char *case_name);

/* Not collective, no MPI: reads a file written by gmr_vsm_write back (set: its /set labels,
 * allocated, free() it). GMR_ERR_IO when it cannot be opened, GMR_ERR_DATA when it is not a
 * vsm file or a dataset is missing or has the wrong size. */
gmr_err gmr_vsm_read(const char *path, gmr_vsm_points *pts, int **set);

/* ---- the surrogate -------------------------------------------------------------------------- */

#define GMR_VSM_DEFAULT_NLAMBDA 60   /* path searched for the validation-selected lambda */
#define GMR_VSM_DEFAULT_BANDWIDTH 0.05 /* kernel bandwidth over (load_level, q_level) */

/* A fitted linear surrogate margin_mw ~ b0 + x^T b. */
typedef struct gmr_vsm_surrogate {
    int p;
    double intercept, *beta; /* p coefficients on the original scale */
    double lambda;           /* the lambda of the final fit (on all training rows) */
    int nonzero;
    int ntrain, nfit, nval;  /* rows: training, of which fitted and validated for the choice */
    double val_rmse;         /* RMSE (MW) of the chosen lambda on the validation rows */
} gmr_vsm_surrogate;

void gmr_vsm_surrogate_free(gmr_vsm_surrogate *s);

/* Collective on comm. The distributed LASSO (standardised, with intercept) of margin_mw on the
 * features but the last two (load_level and q_level are sums of the loads: collinear with them,
 * they would make the solution non-unique; they serve as the kernel space) of the points with train[i] != 0 (status OK), each rank holding a block of them:
 * the path is fitted on three quarters of them (every fourth training row left out), lambda is
 * chosen by the RMSE on that quarter, and the model is refitted on all training rows at that
 * lambda (scaled by the ratio of the weight sums). w (may be NULL) weighs each point: the
 * locally weighted model of the paper's equation 2 with kernel weights W(Z0). When model_path is
 * not NULL the final model is written there (a gmr lasso model file: `gridmr lasso --predict`
 * reads it; names: the p feature names, or NULL). GMR_ERR_DATA when fewer than 8 training points. */
gmr_err gmr_vsm_fit(MPI_Comm comm, const gmr_vsm_points *pts, char *const *names, const int *train, const double *w,
                    int nlambda, const char *model_path, gmr_vsm_surrogate *out);

/* Not collective. The surrogate's prediction for point i of pts. */
double gmr_vsm_predict(const gmr_vsm_surrogate *s, const gmr_vsm_points *pts, int i);

/* Not collective. R^2 and RMSE (MW) of the surrogate over the points with mask[i] != 0 (status
 * OK), weighted by w (NULL: 1); the count in *n. */
void gmr_vsm_score(const gmr_vsm_surrogate *s, const gmr_vsm_points *pts, const int *mask, const double *w, double *r2,
                   double *rmse, int *n);

/* The kernel space Z of the local model and of gamma_locRMSE: (load_level, q_level), the last two
 * features. Not collective: w[i] = exp(-||z_i - z0||^2 / (2 h^2)) for every point. */
gmr_err gmr_vsm_kernel(const gmr_vsm_points *pts, const double *z0, double h, double *w);

/* Collective on comm. The paper's equation 1 for each candidate point q: gamma[q] =
 * sqrt(sum_i w_i(z_q) r_i^2) over the database points with db_mask[i] (status OK), r_i the
 * residual of the model file's last fit, by gmr_lasso_model_gamma over rows spread across the
 * ranks; support[q] = sum_i w_i(z_q), the database's weight near q (may be NULL). A candidate
 * that failed (no features) gets gamma NaN and support 0. */
gmr_err gmr_vsm_gamma(MPI_Comm comm, const char *model_path, const gmr_vsm_points *db, const int *db_mask,
                      const gmr_vsm_points *cand, double h, double *gamma, double *support);

#ifdef __cplusplus
}
#endif
#endif
