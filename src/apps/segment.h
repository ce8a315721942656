/* segment.h: customer segmentation on rows spread across ranks (private; docs/segment.md).
 *
 * The numerical half of `gridmr segment` (src/cli/segment_cli.c does the files): feature
 * standardisation with missing values, distributed k-means (k-means++ seeding, restarts, the
 * silhouette of a sample to choose k), an L1-regularised multinomial logistic regression solved
 * by FISTA with the gradient reduced across ranks, and the best matching of clusters to classes.
 *
 * Determinism: every sum over rows that the ranks reduce is exact. Standardisation sums go
 * through the 256-bit fixed-point accumulator (src/core/xsum.h); the sums inside the
 * iterations (centroid sums, gradients) are 64-bit fixed-point integers on a 2^-32 grid, reduced
 * with an integer MPI_SUM, which is exact and associative. So the results are bit-identical for
 * any number of ranks and any split of the rows. That fixed point is why standardised values
 * are clipped to [-32, 32] and the rows limited to 2^26 (64 Mi): sums then cannot overflow. */
#ifndef GMR_APPS_SEGMENT_H
#define GMR_APPS_SEGMENT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"

#define GMR_SEG_CLIP 32.0              /* standardised values are clipped to +-32 */
#define GMR_SEG_MAX_ROWS (1ull << 26)  /* rows on all ranks, for the fixed-point sums */

/* This rank's rows: n x p doubles, row-major; first = global index of row 0, total = rows on
 * all ranks. */
typedef struct gmr__seg_rows {
    size_t n;
    int p;
    double *x;
    uint64_t first, total;
} gmr__seg_rows;

/* Per-column facts from gmr__seg_standardize (arrays of p, allocated by the caller). */
typedef struct gmr__seg_scale {
    double *mean, *sd;     /* of the (transformed) finite values, used to standardise */
    uint64_t *missing;     /* NaN cells, imputed */
    unsigned char *dropped;/* 1: constant or all missing: the column is set to 0 */
    unsigned char *asinh;  /* 1: transformed by asinh((x - m) / s) first (skewed) */
} gmr__seg_scale;

/* Collective on comm. In place: column by column, NaN cells are imputed with the mean of the
 * column's finite values; with transform, a column whose skewness exceeds 2 in magnitude is
 * replaced by asinh((x - mean) / sd); then every column is standardised to mean 0 and sd 1
 * (population sd) and clipped to +-GMR_SEG_CLIP. A column with no finite value or sd 0 becomes
 * all 0 (dropped). Sums are exact (xsum): the result does not depend on the rank count. */
gmr_err gmr__seg_standardize(MPI_Comm comm, gmr__seg_rows *r, int transform, gmr__seg_scale *s);

typedef struct gmr__kmeans_opts {
    int k;           /* clusters, >= 1 */
    int restarts;    /* independent k-means++ starts; the lowest inertia wins */
    int max_iter;    /* Lloyd iterations per start */
    uint64_t seed;
} gmr__kmeans_opts;

typedef struct gmr__kmeans_result {
    int k, p;
    double *centroids; /* k x p, standardised scale */
    int *assign;       /* this rank's n rows */
    uint64_t *count;   /* k */
    double inertia;    /* sum of squared distances to the centroids */
    int iters;         /* Lloyd iterations of the start kept */
    int restart;       /* which start was kept (0-based) */
    int converged;     /* assignments stopped changing */
} gmr__kmeans_result;

/* Collective on comm: k-means with k-means++ seeding (D^2 sampling on integer weights, so the
 * draws do not depend on the split), restarts seeded from opts->seed, Lloyd iterations until no
 * assignment changes. An empty cluster is re-seeded with the farthest row (lowest global index
 * on ties). Ties between centroids go to the lowest index. Allocates res's arrays. */
gmr_err gmr__kmeans(MPI_Comm comm, const gmr__seg_rows *r, const gmr__kmeans_opts *o, gmr__kmeans_result *res);
void gmr__kmeans_free(gmr__kmeans_result *res);

/* Collective on comm: about nsample rows (row g is kept when a hash of (seed, g) falls below
 * nsample / total: the same rows for any split), gathered in global order on every rank into
 * *out (out->x allocated; first 0, total = out->n). All rows when total <= nsample. */
gmr_err gmr__seg_sample(MPI_Comm comm, const gmr__seg_rows *r, int nsample, uint64_t seed, gmr__seg_rows *out);

/* Collective on comm: the mean silhouette of a sample of about nsample rows (row g is kept when
 * a hash of (seed, g) falls below nsample / total: the same rows for any split), gathered on
 * every rank. O(nsample^2 p) on every rank. */
gmr_err gmr__silhouette(MPI_Comm comm, const gmr__seg_rows *r, const int *assign, int k, int nsample, uint64_t seed,
                        double *silhouette);

typedef struct gmr__mlogit_opts {
    int max_iter;  /* FISTA iterations per lambda */
    double tol;    /* stop when max |change| <= tol * max(1, max |theta|) */
} gmr__mlogit_opts;

/* Collective on comm: the largest lambda with an all-zero W for the training rows (use[i] != 0
 * and 0 <= y[i] < C), and in *m their count. */
gmr_err gmr__mlogit_lambda_max(MPI_Comm comm, const gmr__seg_rows *r, const int *y, const unsigned char *use, int C,
                               double *lambda_max, uint64_t *m);

/* Collective on comm: minimise over theta = (W, b), W p x C, b C,
 *     (1/m) sum_{training rows} -log softmax(b + W^T x_i)_{y_i} + lambda sum |W|
 * by FISTA (step 1/L, L = half the largest eigenvalue of [X 1]^T [X 1] / m by power iteration,
 * adaptive restart). theta is (p + 1) x C row-major (row p = b), in: the warm start, out: the
 * solution. *lip: pass 0 to compute L (then it is returned) or a previous value for the same
 * rows. *iters: iterations used. */
gmr_err gmr__mlogit_fit(MPI_Comm comm, const gmr__seg_rows *r, const int *y, const unsigned char *use, int C,
                        double lambda, const gmr__mlogit_opts *o, double *theta, double *lip, int *iters);

/* Not collective: the class with the largest score for row x (lowest index on ties). */
int gmr__mlogit_predict(int p, int C, const double *theta, const double *x);

/* Not collective: the one-to-one matching of K clusters to C classes that maximises the matched
 * count (Hungarian method, O(max(K,C)^3)); counts is K x C; match[k] = class of cluster k or -1
 * (more clusters than classes). Returns the matched count. */
uint64_t gmr__seg_match(int K, int C, const uint64_t *counts, int *match);

#endif
