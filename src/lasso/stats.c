/* stats.c: gmr_lasso_set_data, the only part of the LASSO that touches the rows.
 *
 * Pass 1 (O(n_local p)): this rank's weighted sums sum w x_j, sum w y, sum w, the row counts,
 * and the checks (a negative or NaN weight, a NaN or Inf value: a non-finite value makes its
 * column's sum non-finite, so the check is free until something is wrong, and only then are
 * the rows searched for the culprit). The status is agreed, then one MPI_Allreduce of the
 * p + 4 sums gives the weighted means m (0 without an intercept: the raw Gram is then what the
 * problem needs).
 *
 * Pass 2 (O(n_local p^2), the dominant cost): blocks of 512 rows are copied as
 * A_i = sqrt(w_i) [x_i - m, y_i - m_y, 1] and K += A^T A with one cblas_dsyrk per block (its
 * upper triangle), added in double-double. The last column gives d = sum w (x - m) and sum w, which are zero up to
 * rounding with an intercept: subtracting d d^T / sum w is the correction of the two-pass
 * algorithm (Chan, Golub and LeVeque), so G = sum w (x - xbar)(x - xbar)^T keeps the digits a
 * one-pass X^T W X - n xbar xbar^T loses on features such as voltages near 1 pu. A second
 * MPI_Allreduce sums the packed triangles ((p + 2)(p + 3) / 2 double-double pairs, with a
 * user reduction).
 *
 * With FISTA (p too large for a Gram matrix) pass 2 forms only the column sums of squares and
 * X^T W y (O(n_local p), one Allreduce of 3p + 3 doubles), and the rows are kept for the solve.
 *
 * The sums depend on how rows are split among ranks only through the rounding inside a block:
 * the coefficients agree across rank counts to about 1e-13 relative on ordinary data (tested to
 * 1e-10 on ill-conditioned data), not bit for bit. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gridmr/log.h"
#include "lasso_impl.h"
#include "sched/sched.h"

#define BLOCK_ROWS 512

/* The first (row, column) of this rank's rows holding a non-finite x or y; column p is y. */
static void find_nonfinite(const gmr_lasso_rows *r, size_t *row, int *col)
{
    for (size_t i = 0; i < r->nrows; i++) {
        const double *x = r->x + i * r->ldx;
        for (int j = 0; j < r->p; j++)
            if (!isfinite(x[j])) {
                *row = i;
                *col = j;
                return;
            }
        if (!isfinite(r->y[i * r->incy])) {
            *row = i;
            *col = r->p;
            return;
        }
    }
    *row = r->nrows;
    *col = -1;
}

/* Pass 1 on this rank: s[0..p-1] = sum w x, s[p] = sum w y, s[p+1] = sum w, s[p+2] = rows,
 * s[p+3] = rows with w > 0. */
static gmr_err pass1(const gmr_lasso_rows *r, uint64_t row0, double *s)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    memset(s, 0, (size_t)(p + 4) * sizeof *s);
    for (size_t i = 0; i < r->nrows; i++) {
        const double *x = r->x + i * r->ldx;
        double w = r->w ? r->w[i * r->incw] : 1.0;
        GMR_CHECK(w >= 0 && w < INFINITY, GMR_ERR_DATA, "row %llu: weight %g is not a finite number >= 0",
                  (unsigned long long)(row0 + i), w);
        for (int j = 0; j < p; j++) s[j] += w * x[j];
        s[p] += w * r->y[i * r->incy];
        s[p + 1] += w;
        s[p + 3] += w > 0;
    }
    s[p + 2] = (double)r->nrows;
    for (int j = 0; j <= p; j++)
        if (!isfinite(s[j])) {
            size_t row;
            int col;
            find_nonfinite(r, &row, &col);
            if (col < 0)
                GMR_FAIL(GMR_ERR_DATA, "column %d: the weighted sum overflows (values too large)", j);
            if (col == p)
                GMR_FAIL(GMR_ERR_DATA, "row %llu: the response is %g", (unsigned long long)(row0 + row),
                         r->y[row * r->incy]);
            GMR_FAIL(GMR_ERR_DATA, "row %llu, column %d: %g is not a finite number", (unsigned long long)(row0 + row),
                     col, r->x[row * r->ldx + (size_t)col]);
        }
out:
    return err;
}

/* hi + lo += v, exactly up to the last bits of lo (Knuth's TwoSum) */
static inline void dd_add(double *hi, double *lo, double v)
{
    double s = *hi + v, bb = s - *hi, e = (*hi - (s - bb)) + (v - bb);
    *lo += e;
    *hi = s;
}

/* MPI reduction of (hi, lo) pairs: a double-double sum, commutative bit for bit. */
static void dd_sum_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    const double *a = in;
    double *b = inout;
    (void)type;
    for (int i = 0; i < *len; i++) {
        double hi = b[2 * i], lo = b[2 * i + 1] + a[2 * i + 1];
        dd_add(&hi, &lo, a[2 * i]);
        b[2 * i] = hi + lo;
        b[2 * i + 1] = lo - (b[2 * i] - hi);
    }
}

/* Pass 2 on this rank: the upper triangle of K (q x q, q = p + 2) as hi + lo += A^T A, one
 * block of rows at a time. Each block's product goes to Kb and is added to K in double-double
 * (6 flops per entry per block, about 1% of the dsyrk's 2 x BLOCK_ROWS), so the sum over blocks
 * loses nothing and what is left of rounding, inside a block, does not grow with n: the
 * statistics then hardly depend on how rows are split among ranks. */
static void pass2(const gmr_lasso_rows *r, const double *m, double *A, double *Kb, double *Khi, double *Klo)
{
    int p = r->p, q = p + 2;
    for (size_t i0 = 0; i0 < r->nrows; i0 += BLOCK_ROWS) {
        size_t nb = r->nrows - i0 < BLOCK_ROWS ? r->nrows - i0 : BLOCK_ROWS;
        for (size_t t = 0; t < nb; t++) {
            size_t i = i0 + t;
            const double *x = r->x + i * r->ldx;
            double *a = A + t * (size_t)q;
            double sw = r->w ? sqrt(r->w[i * r->incw]) : 1.0;
            for (int j = 0; j < p; j++) a[j] = sw * (x[j] - m[j]);
            a[p] = sw * (r->y[i * r->incy] - m[p]);
            a[p + 1] = sw;
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, q, (int)nb, 1.0, A, q, 0.0, Kb, q);
        for (size_t i = 0; i < (size_t)q; i++)
            for (size_t j = i; j < (size_t)q; j++) dd_add(Khi + i * (size_t)q + j, Klo + i * (size_t)q + j, Kb[i * (size_t)q + j]);
    }
}

/* Pass 2 for FISTA (O(n_local p), no Gram): per column sum w (x - m)^2, sum w (x - m)(y - m_y),
 * sum w (x - m), and sum w (y - m_y)^2, sum w (y - m_y), sum w; one Allreduce of 3p + 3 doubles,
 * then the same two-pass corrections as for G. loc and tot hold 3 (p + 2) doubles. */
static gmr_err fista_stats(gmr_lasso l, const gmr_lasso_rows *r, const double *m, double *loc, double *tot)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    double *D = loc, *C = loc + p, *d = loc + 2 * p, *yl = loc + 3 * p, S, dy, syy;
    for (size_t i = 0; i < r->nrows; i++) {
        const double *x = r->x + i * r->ldx;
        double w = r->w ? r->w[i * r->incw] : 1.0, yc = r->y[i * r->incy] - m[p];
        for (int j = 0; j < p; j++) {
            double xc = x[j] - m[j];
            D[j] += w * xc * xc;
            C[j] += w * xc * yc;
            d[j] += w * xc;
        }
        yl[0] += w * yc * yc;
        yl[1] += w * yc;
        yl[2] += w;
    }
    GMR_CALL_MPI(MPI_Allreduce(loc, tot, 3 * p + 3, MPI_DOUBLE, MPI_SUM, l->comm));
    for (int t = 0; t < 3 * p + 3; t++) GMR_CHECK(isfinite(tot[t]), GMR_ERR_DATA, "the sums of squares overflow: values too large");
    S = tot[3 * p + 2];
    dy = tot[3 * p + 1];
    syy = tot[3 * p];
    l->p = p;
    l->sw2 = S;
    for (int j = 0; j < p; j++) {
        double dj = tot[2 * p + j];
        l->diag[j] = tot[j] - (l->intercept ? dj * dj / S : 0);
        l->c[j] = tot[p + j] - (l->intercept ? dj * dy / S : 0);
        l->xmean[j] = m[j] + dj / S;
    }
    l->ymean = m[p] + dy / S;
    l->yy = syy - (l->intercept ? dy * dy / S : 0);
    l->tss = syy - dy * dy / S;
    if (l->yy < 0) l->yy = 0;
    if (l->tss < 0) l->tss = 0;
    l->nconstant = 0;
    for (int j = 0; j < p; j++) {
        double gjj = l->diag[j];
        int constant = l->intercept ? !(gjj > 0) || sqrt(gjj / S) <= 1e-11 * fabs(l->xmean[j]) : !(gjj > 0);
        l->constant[j] = (unsigned char)constant;
        l->nconstant += constant;
        l->pen[j] = constant ? 1.0 : (l->standardize ? sqrt(gjj / S) : 1.0);
    }
out:
    return err;
}

gmr_err gmr_lasso_set_data(gmr_lasso l, const gmr_lasso_rows *r)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    int in[3], agreed[3], p, q;
    uint64_t nrows, row0 = 0;
    double *s1 = NULL, *sums = NULL, *m = NULL, *A = NULL, *K = NULL, *Klo = NULL, *Kb = NULL, *packed = NULL,
           *tri = NULL;
    MPI_Datatype pair = MPI_DATATYPE_NULL;
    MPI_Op ddsum = MPI_OP_NULL;
    double t0 = MPI_Wtime();
    size_t ntri;

    GMR_CHECK(l && r, GMR_ERR_ARG, "gmr_lasso_set_data: NULL argument");
    /* the shape, agreed first: every later collective depends on p */
    in[0] = r->p;
    in[1] = -r->p;
    in[2] = (r->nrows && (!r->x || !r->y || r->ldx < (size_t)(r->p > 0 ? r->p : 0) || r->incy == 0 ||
                          (r->w && r->incw == 0)));
    GMR_CALL_MPI(MPI_Allreduce(in, agreed, 3, MPI_INT, MPI_MAX, l->comm));
    GMR_CHECK(!agreed[2], GMR_ERR_ARG, "gmr_lasso_set_data: rows without data, or ldx < p, or a zero stride");
    GMR_CHECK(agreed[0] == -agreed[1], GMR_ERR_ARG, "the ranks disagree on the number of features (%d to %d)",
              -agreed[1], agreed[0]);
    p = r->p;
    GMR_CHECK(p >= 1, GMR_ERR_ARG, "no features (p = %d)", p);
    GMR_CHECK(p <= l->opt.max_features || l->opt.method != GMR_LASSO_GRAM, GMR_ERR_ARG,
              "%d features is more than the Gram method's limit of %d (max_features; the Gram matrix takes "
              "8 p^2 bytes on every rank and n p^2 flops to form): select features first, or use FISTA",
              p, l->opt.max_features);
    l->fista = l->opt.method == GMR_LASSO_FISTA || (l->opt.method == GMR_LASSO_AUTO && p > l->opt.max_features);
    q = p + 2;
    ntri = l->fista ? 1 : (size_t)q * (size_t)(q + 1) / 2;
    nrows = r->nrows;
    GMR_CALL_MPI(MPI_Exscan(&nrows, &row0, 1, MPI_UINT64_T, MPI_SUM, l->comm));
    if (l->rank == 0) row0 = 0;

    /* every allocation before the agreement, so a failure anywhere stops all ranks together */
    free(l->G);
    free(l->c);
    free(l->xmean);
    free(l->pen);
    free(l->constant);
    free(l->diag);
    l->G = l->diag = NULL;
    if (l->fista)
        l->diag = malloc((size_t)p * sizeof *l->diag);
    else
        l->G = malloc((size_t)p * (size_t)p * sizeof *l->G);
    l->c = malloc((size_t)p * sizeof *l->c);
    l->xmean = malloc((size_t)p * sizeof *l->xmean);
    l->pen = malloc((size_t)p * sizeof *l->pen);
    l->constant = calloc((size_t)p, 1);
    s1 = malloc((size_t)(p + 4) * sizeof *s1);
    sums = malloc((size_t)(p + 4) * sizeof *sums);
    m = calloc((size_t)q, sizeof *m);
    A = malloc((size_t)(l->fista ? 1 : BLOCK_ROWS) * (size_t)q * sizeof *A);
    K = calloc(l->fista ? 3 * (size_t)q : (size_t)q * (size_t)q, sizeof *K);
    Klo = calloc(l->fista ? 3 * (size_t)q : (size_t)q * (size_t)q, sizeof *Klo);
    Kb = malloc((size_t)q * (size_t)q * sizeof *Kb);
    packed = malloc(2 * ntri * sizeof *packed);
    tri = malloc(2 * ntri * sizeof *tri);
    l->have_stats = l->solved = 0;
    if (!((l->G || l->diag) && l->c && l->xmean && l->pen && l->constant && s1 && sums && m && A && K && Klo && Kb &&
          packed && tri))
        local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate the statistics for p = %d", p);
    if (!local) local = pass1(r, row0, s1);
    GMR_CALL(gmr__agree(l->comm, local));
    GMR_CALL_MPI(MPI_Allreduce(s1, sums, p + 4, MPI_DOUBLE, MPI_SUM, l->comm));
    GMR_CHECK(sums[p + 1] > 0 && isfinite(sums[p + 1]), GMR_ERR_DATA,
              "the weights sum to %g: at least one row needs a positive weight", sums[p + 1]);
    for (int j = 0; j <= p; j++) GMR_CHECK(isfinite(sums[j]), GMR_ERR_DATA, "column %d: the weighted sum overflows", j);
    l->intercept = l->opt.intercept;
    l->standardize = l->opt.standardize;
    l->nrows = (uint64_t)sums[p + 2];
    l->npositive = (uint64_t)sums[p + 3];
    l->sum_w = sums[p + 1];
    if (l->intercept)
        for (int j = 0; j <= p; j++) m[j] = sums[j] / sums[p + 1];

    if (l->fista) { /* K and Klo serve as the 3 (p + 2) sums and their total */
        GMR_CALL(fista_stats(l, r, m, K, Klo));
        goto done;
    }
    pass2(r, m, A, Kb, K, Klo);
    for (int i = 0, t = 0; i < q; i++)
        for (int j = i; j < q; j++, t++) {
            packed[2 * t] = K[(size_t)i * (size_t)q + (size_t)j];
            packed[2 * t + 1] = Klo[(size_t)i * (size_t)q + (size_t)j];
        }
    GMR_CALL_MPI(MPI_Type_contiguous(2, MPI_DOUBLE, &pair));
    GMR_CALL_MPI(MPI_Type_commit(&pair));
    GMR_CALL_MPI(MPI_Op_create(dd_sum_op, 1, &ddsum));
    GMR_CALL_MPI(MPI_Allreduce(packed, tri, (int)ntri, pair, ddsum, l->comm));
    for (int i = 0, t = 0; i < q; i++)
        for (int j = i; j < q; j++, t++) {
            double v = tri[2 * t] + tri[2 * t + 1];
            GMR_CHECK(isfinite(v), GMR_ERR_DATA, "the sums of squares overflow: values too large");
            K[(size_t)i * (size_t)q + (size_t)j] = K[(size_t)j * (size_t)q + (size_t)i] = v;
        }

    {
        double S = K[(size_t)(p + 1) * (size_t)q + (size_t)(p + 1)];
        const double *d = K + (size_t)(p + 1) * (size_t)q; /* row p+1: sum w (x - m), sum w (y - m_y), S */
        double kyy = K[(size_t)p * (size_t)q + (size_t)p];
        l->p = p;
        l->sw2 = S;
        for (int i = 0; i < p; i++) {
            for (int j = 0; j < p; j++) {
                double v = K[(size_t)i * (size_t)q + (size_t)j];
                if (l->intercept) v -= d[i] * d[j] / S;
                l->G[(size_t)i * (size_t)p + (size_t)j] = v;
            }
            l->c[i] = K[(size_t)i * (size_t)q + (size_t)p] - (l->intercept ? d[i] * d[p] / S : 0);
            l->xmean[i] = m[i] + d[i] / S;
        }
        l->ymean = m[p] + d[p] / S;
        if (l->intercept) {
            l->yy = kyy - d[p] * d[p] / S;
            l->tss = l->yy;
        } else {
            l->yy = kyy;
            l->tss = kyy - d[p] * d[p] / S;
        }
        if (l->yy < 0) l->yy = 0;
        if (l->tss < 0) l->tss = 0;
        /* constant columns: zero variance with an intercept (up to rounding: a weighted
         * standard deviation at most 1e-11 of the mean's magnitude), all zero without */
        l->nconstant = 0;
        for (int j = 0; j < p; j++) {
            double gjj = l->G[(size_t)j * (size_t)p + (size_t)j];
            int constant = l->intercept ? !(gjj > 0) || sqrt(gjj / S) <= 1e-11 * fabs(l->xmean[j]) : !(gjj > 0);
            l->constant[j] = (unsigned char)constant;
            l->nconstant += constant;
            l->pen[j] = constant ? 1.0 : (l->standardize ? sqrt(gjj / S) : 1.0);
        }
    }
done:
    {
        gmr__lasso_problem pb = {.p = p, .G = l->G, .c = l->c, .pen = l->pen, .skip = l->constant};
        l->lambda_max = gmr__lasso_lambda_max(&pb);
    }
    l->rows = *r;
    l->have_stats = 1;
    l->t_stats = MPI_Wtime() - t0;
    gmr_log(GMR_LOG_DEBUG, "lasso: statistics of %llu rows x %d features in %.3f s",
            (unsigned long long)l->nrows, p, l->t_stats);
out:
    free(s1);
    free(sums);
    free(m);
    free(A);
    free(K);
    free(Klo);
    free(Kb);
    free(packed);
    free(tri);
    if (ddsum != MPI_OP_NULL) MPI_Op_free(&ddsum);
    if (pair != MPI_DATATYPE_NULL) MPI_Type_free(&pair);
    return err;
}
