/* lasso_impl.h: the LASSO solver's private layout, shared by the files of src/lasso/ (private).
 *
 *   stats.c  gmr_lasso_set_data: the two passes over the rows and the two Allreduce
 *   cd.c     coordinate descent on the Gram matrix along a path of lambdas (serial)
 *   fista.c  accelerated proximal gradient on the rows, for p too large for a Gram matrix
 *   lasso.c  the handle: options, solve, results
 *   model.c  the model file (HDF5), reading it back, prediction and gamma_locRMSE */
#ifndef GMR_LASSO_IMPL_H
#define GMR_LASSO_IMPL_H

#include <mpi.h>

#include "core/rsum.h"
#include "gridmr/lasso.h"

/* Per-lambda scalars of a path, in this order; each is an array of nlambda doubles in
 * gmr__lasso_path.field[f] (integers are stored exactly as doubles). */
enum {
    GMR__LF_LAMBDA,
    GMR__LF_OBJECTIVE,
    GMR__LF_GAP,
    GMR__LF_REL_GAP,
    GMR__LF_INTERCEPT,
    GMR__LF_R2,
    GMR__LF_RMSE,
    GMR__LF_GAMMA,
    GMR__LF_PASSES,
    GMR__LF_NONZERO,
    GMR__LF_CONVERGED,
    GMR__LF_POLISHED,
    GMR__LF_COUNT
};

/* Dataset names of the fields in the model file, in the order above. */
extern const char *const gmr__lasso_field_names[GMR__LF_COUNT];

/* A solved path: one allocation (buf) holding the fields, then beta (nlambda x p), so one
 * MPI_Bcast moves it. */
typedef struct gmr__lasso_path {
    int p, nlambda;
    double *buf;
    double *field[GMR__LF_COUNT];
    double *beta;
} gmr__lasso_path;

gmr_err gmr__lasso_path_alloc(gmr__lasso_path *path, int p, int nlambda);
void gmr__lasso_path_free(gmr__lasso_path *path);
void gmr__lasso_path_get(const gmr__lasso_path *path, int k, gmr_lasso_fit *fit);

/* The quadratic problem min 1/2 b^T G b - c^T b + 1/2 yy + lambda sum pen_j |b_j| (G p x p
 * symmetric, full, row-major), with the columns flagged in skip held at 0. */
typedef struct gmr__lasso_problem {
    int p;
    const double *G, *c;
    double yy;                 /* the constant: y^T W y (centred with an intercept) */
    const double *pen;         /* penalty factors, > 0 where !skip */
    const unsigned char *skip;
    double tss;                /* for R^2: sum w (y - ybar)^2 */
    double sum_w;              /* for the RMSE */
    int intercept;
    const double *xmean;       /* b0 = ymean - xmean^T b, with an intercept */
    double ymean;
} gmr__lasso_problem;

/* lambda_max: max |c_j| / pen_j over the columns not skipped (0 when all are). */
double gmr__lasso_lambda_max(const gmr__lasso_problem *pb);

/* Not collective. Solves at each lambda (decreasing) with warm starts, filling path (already
 * allocated for nlambda lambdas and pb->p). O(p^2) memory, O(p |strong set|) per sweep. */
gmr_err gmr__lasso_path_solve(const gmr__lasso_problem *pb, const gmr_lasso_options *o, const double *lambdas,
                              int nlambda, gmr__lasso_path *path);

/* Not collective: stores the solution b (p values) at path index k with its figures. */
void gmr__lasso_record(const gmr__lasso_problem *pb, gmr__lasso_path *path, int k, double lambda, const double *b,
                       double primal, double gap, double rss, long passes, int converged, int polished);

struct gmr_lasso;
/* Collective on l->comm: the FISTA path over the rows kept by gmr_lasso_set_data. Errors are
 * agreed (the same on every rank). */
gmr_err gmr__lasso_fista_path(struct gmr_lasso *l, const double *lambdas, int nlambda, gmr__lasso_path *path);

/* Named string attributes (the model's root attributes). */
typedef struct gmr__lasso_attrs {
    int n;
    char **name, **value;
} gmr__lasso_attrs;

gmr_err gmr__lasso_attrs_set(gmr__lasso_attrs *a, const char *name, const char *value);
const char *gmr__lasso_attrs_get(const gmr__lasso_attrs *a, const char *name);
void gmr__lasso_attrs_free(gmr__lasso_attrs *a);

/* The rows of the blocks this rank owns (src/core/rsum.h): its local rows after the head it
 * sent away (own), then the rows received from the next ranks (tail, packed [x y w] in
 * tailbuf). Every sum over rows is made per block of rsum's block_rows rows, in row order, and
 * added along rsum's canonical tree: the results do not depend on the rank count. */
typedef struct gmr__lasso_blocks {
    gmr__rsum *rs;
    gmr_lasso_rows own, tail;
    double *tailbuf;
    uint64_t b0, b1;
    size_t R, nown; /* own.nrows + tail.nrows */
} gmr__lasso_blocks;

/* Owned row k: its x, y and weight (1 without weights). */
static inline const double *gmr__lasso_row(const gmr__lasso_blocks *b, size_t k, double *y, double *w)
{
    const gmr_lasso_rows *r = &b->own;
    if (k >= r->nrows) {
        k -= r->nrows;
        r = &b->tail;
    }
    *y = r->y[k * r->incy];
    *w = r->w ? r->w[k * r->incw] : 1.0;
    return r->x + k * r->ldx;
}

/* Owned rows [*k0, *k1) of block b (b0 <= b < b1). */
static inline void gmr__lasso_block_range(const gmr__lasso_blocks *b, uint64_t blk, size_t *k0, size_t *k1)
{
    *k0 = (size_t)(blk - b->b0) * b->R;
    *k1 = *k0 + b->R < b->nown ? *k0 + b->R : b->nown;
}

void gmr__lasso_blocks_free(gmr__lasso_blocks *b);

struct gmr_lasso {
    MPI_Comm comm;
    int rank, size;
    gmr_lasso_options opt;
    double *lambdas;          /* copy of opt.lambdas */
    char **names;             /* p feature names, or NULL */
    int nnames;
    gmr__lasso_attrs attrs;

    /* sufficient statistics (gmr_lasso_set_data) */
    int have_stats;
    int p;
    uint64_t nrows, npositive;
    double sum_w;             /* pass-1 sum of the weights */
    double *G, *c, *xmean, *pen;
    unsigned char *constant;
    int nconstant;
    double yy, tss, ymean, sw2; /* sw2: sum of sqrt(w)^2, the Gram's own weight total */
    double lambda_max;
    int fista;                /* 1: FISTA on the kept rows (no G); 0: the Gram method */
    gmr_lasso_rows rows;      /* FISTA: this rank's rows, the caller's memory */
    gmr__lasso_blocks blk;    /* FISTA: the rows of this rank's blocks (kept for the solve) */
    double *diag;             /* FISTA: sum w (x_j - xbar_j)^2 (or sum w x_j^2 without intercept) */
    int intercept;            /* the option in force when the statistics were formed */
    int standardize;
    double t_stats, t_solve;

    /* the solved path */
    int solved;
    gmr__lasso_path path;
};

struct gmr_lasso_model {
    gmr__lasso_path path;
    char **names;
    gmr__lasso_attrs attrs;
};

/* Writes the model file from rank 0's data (serial HDF5). Not collective. */
gmr_err gmr__lasso_model_write(const char *path, const gmr__lasso_path *pp, char *const *names,
                               const gmr__lasso_attrs *attrs);

#endif
