/* stats.c: gmr_lasso_set_data, the only part of the LASSO that touches the rows.
 *
 * Pass 1 (O(n_local p)), on this rank's rows as they are: the checks (a negative or NaN weight,
 * a NaN or Inf value: a non-finite value makes its column's sum non-finite, so the check is
 * free until something is wrong, and only then are the rows searched for the culprit) and the
 * row counts. The status is agreed.
 *
 * Then every sum over rows goes by fixed blocks of GMR__RSUM_BLOCK_ROWS rows and the canonical
 * pairwise tree of src/core/rsum.h, so that the statistics, hence the whole path, are the same
 * bits for every rank count: the rows of a block split between ranks are first sent to the
 * rank holding its first row (at most 511 rows per rank boundary, once). The weighted means m
 * come from the block sums of w x_j, w y and w (p + 2 per block).
 *
 * Pass 2 (O(n_local p^2), the dominant cost): each block is copied as
 * A_i = sqrt(w_i) [x_i - m, y_i - m_y, 1] and its K_b = A^T A formed by one cblas_dsyrk (upper
 * triangle), packed and pushed on the tree. The last column gives d = sum w (x - m) and sum w,
 * which are zero up to rounding with an intercept: subtracting d d^T / sum w is the correction
 * of the two-pass algorithm (Chan, Golub and LeVeque), so G = sum w (x - xbar)(x - xbar)^T
 * keeps the digits a one-pass X^T W X - n xbar xbar^T loses on features such as voltages near
 * 1 pu. The tree's partial sums go to the group's rank 0, which broadcasts the
 * (p + 2)(p + 3) / 2 sums.
 *
 * With FISTA (p too large for a Gram matrix) pass 2 forms only the column sums of squares and
 * X^T W y per block (O(n_local p), 3p + 3 sums), and the rows (with the received ones) are kept
 * for the solve. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gridmr/log.h"
#include "lasso_impl.h"
#include "sched/sched.h"


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

void gmr__lasso_blocks_free(gmr__lasso_blocks *b)
{
    gmr__rsum_destroy(&b->rs);
    free(b->tailbuf);
    memset(b, 0, sizeof *b);
}

/* Collective: the blocks of r's rows (rsum sums of up to mmax doubles), the head rows sent to
 * the owners of their blocks and the tail received. */
static gmr_err blocks_setup(MPI_Comm comm, const gmr_lasso_rows *r, int mmax, gmr__lasso_blocks *b)
{
    gmr_err err = GMR_OK;
    int p = r->p, width = p + 2;
    size_t nhead = 0, ntail = 0;
    double *head = NULL;
    gmr__lasso_blocks_free(b);
    GMR_CALL(gmr__rsum_create(comm, r->nrows, GMR__RSUM_BLOCK_ROWS, mmax, &b->rs));
    gmr__rsum_shape(b->rs, NULL, NULL, &b->b0, &b->b1, &nhead, &ntail);
    b->R = gmr__rsum_block_rows(b->rs);
    head = malloc((nhead + 1) * (size_t)width * sizeof *head);
    b->tailbuf = malloc((ntail + 1) * (size_t)width * sizeof *b->tailbuf);
    GMR_CALL(gmr__agree(comm, head && b->tailbuf ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory for %zu rows", nhead + ntail)));
    for (size_t i = 0; i < nhead; i++) {
        double *h = head + i * (size_t)width;
        memcpy(h, r->x + i * r->ldx, (size_t)p * sizeof *h);
        h[p] = r->y[i * r->incy];
        h[p + 1] = r->w ? r->w[i * r->incw] : 1.0;
    }
    GMR_CALL(gmr__rsum_exchange(b->rs, head, width, b->tailbuf));
    b->own = *r;
    b->own.nrows = r->nrows - nhead;
    b->own.x = r->x ? r->x + nhead * r->ldx : NULL;
    b->own.y = r->y ? r->y + nhead * r->incy : NULL;
    b->own.w = r->w ? r->w + nhead * r->incw : NULL;
    b->tail = (gmr_lasso_rows){.nrows = ntail, .p = p, .x = b->tailbuf, .ldx = (size_t)width, .y = b->tailbuf + p,
                               .incy = (size_t)width, .w = b->tailbuf + p + 1, .incw = (size_t)width};
    b->nown = b->own.nrows + ntail;
out:
    free(head);
    return err;
}

/* Collective: s[0..p-1] = sum w x, s[p] = sum w y, s[p+1] = sum w, by blocks. */
static gmr_err block_means(gmr__lasso_blocks *b, int p, double *s)
{
    gmr__rsum_begin(b->rs, p + 2);
    for (uint64_t blk = b->b0; blk < b->b1; blk++) {
        double *a = gmr__rsum_slot(b->rs);
        size_t k0, k1;
        if (!a) break; /* finish reports it */
        memset(a, 0, (size_t)(p + 2) * sizeof *a);
        gmr__lasso_block_range(b, blk, &k0, &k1);
        for (size_t k = k0; k < k1; k++) {
            double y, w;
            const double *x = gmr__lasso_row(b, k, &y, &w);
            for (int j = 0; j < p; j++) a[j] += w * x[j];
            a[p] += w * y;
            a[p + 1] += w;
        }
        gmr__rsum_push(b->rs);
    }
    return gmr__rsum_finish(b->rs, s);
}

/* Collective. Pass 2: the packed upper triangle of K = sum A^T A (q x q, q = p + 2), by blocks:
 * each block copied to A (block_rows x q, 64-byte aligned so that the BLAS sees the same
 * operands wherever the block comes from), one dsyrk into Kb, packed into the tree's slot. The
 * copy and the packing cost O(block_rows q + q^2 / 2) per block against the dsyrk's
 * block_rows q^2. */
static gmr_err pass2(gmr__lasso_blocks *b, int p, const double *m, double *A, double *Kb, double *tri)
{
    int q = p + 2, ntri = q * (q + 1) / 2;
    gmr__rsum_begin(b->rs, ntri);
    for (uint64_t blk = b->b0; blk < b->b1; blk++) {
        double *slot = gmr__rsum_slot(b->rs);
        size_t k0, k1;
        if (!slot) break;
        gmr__lasso_block_range(b, blk, &k0, &k1);
        for (size_t k = k0; k < k1; k++) {
            double y, w, sw, *a = A + (k - k0) * (size_t)q;
            const double *x = gmr__lasso_row(b, k, &y, &w);
            sw = sqrt(w);
            for (int j = 0; j < p; j++) a[j] = sw * (x[j] - m[j]);
            a[p] = sw * (y - m[p]);
            a[p + 1] = sw;
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, q, (int)(k1 - k0), 1.0, A, q, 0.0, Kb, q);
        for (int i = 0, t = 0; i < q; i++) {
            memcpy(slot + t, Kb + (size_t)i * (size_t)q + (size_t)i, (size_t)(q - i) * sizeof *slot);
            t += q - i;
        }
        gmr__rsum_push(b->rs);
    }
    return gmr__rsum_finish(b->rs, tri);
}

/* Pass 2 for FISTA (O(n_local p), no Gram): per column sum w (x - m)^2, sum w (x - m)(y - m_y),
 * sum w (x - m), and sum w (y - m_y)^2, sum w (y - m_y), sum w, by blocks (3p + 3 sums), then the
 * same two-pass corrections as for G. tot holds 3 (p + 2) doubles. */
static gmr_err fista_stats(gmr_lasso l, const double *m, double *tot)
{
    gmr_err err = GMR_OK;
    gmr__lasso_blocks *b = &l->blk;
    int p = l->blk.own.p;
    double S, dy, syy;
    gmr__rsum_begin(b->rs, 3 * p + 3);
    for (uint64_t blk = b->b0; blk < b->b1; blk++) {
        double *loc = gmr__rsum_slot(b->rs), *D, *C, *d, *yl;
        size_t k0, k1;
        if (!loc) break;
        memset(loc, 0, (size_t)(3 * p + 3) * sizeof *loc);
        D = loc, C = loc + p, d = loc + 2 * p, yl = loc + 3 * p;
        gmr__lasso_block_range(b, blk, &k0, &k1);
        for (size_t k = k0; k < k1; k++) {
            double y, w, yc;
            const double *x = gmr__lasso_row(b, k, &y, &w);
            yc = y - m[p];
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
        gmr__rsum_push(b->rs);
    }
    GMR_CALL(gmr__rsum_finish(b->rs, tot));
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
    double *s1 = NULL, *sums = NULL, *m = NULL, *A = NULL, *K = NULL, *Kb = NULL, *tri = NULL;
    gmr__lasso_blocks blk = {0};
    double t0 = MPI_Wtime();
    size_t ntri, arows;

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
    gmr__lasso_blocks_free(&l->blk);
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
    /* A: 64-byte aligned (aligned_alloc wants a multiple of the alignment) */
    arows = l->fista ? 1 : GMR__RSUM_BLOCK_ROWS;
    A = aligned_alloc(64, ((arows * (size_t)q * sizeof *A + 63) / 64) * 64);
    K = calloc(l->fista ? 3 * (size_t)q : (size_t)q * (size_t)q, sizeof *K);
    Kb = malloc((l->fista ? 1 : (size_t)q * (size_t)q) * sizeof *Kb);
    tri = malloc(ntri * sizeof *tri);
    l->have_stats = l->solved = 0;
    if (!((l->G || l->diag) && l->c && l->xmean && l->pen && l->constant && s1 && sums && m && A && K && Kb && tri))
        local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate the statistics for p = %d", p);
    if (!local) local = pass1(r, row0, s1);
    GMR_CALL(gmr__agree(l->comm, local));
    /* the counts are integers (exact in any order); the sums of pass 1 served only the checks */
    GMR_CALL_MPI(MPI_Allreduce(s1 + p + 2, sums + p + 2, 2, MPI_DOUBLE, MPI_SUM, l->comm));
    GMR_CALL(blocks_setup(l->comm, r, l->fista ? 3 * p + 3 : (int)ntri, &blk));
    GMR_CALL(block_means(&blk, p, sums));
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

    if (l->fista) { /* K serves as the 3 (p + 2) totals */
        l->blk = blk; /* kept for the solve */
        memset(&blk, 0, sizeof blk);
        GMR_CALL(fista_stats(l, m, K));
        goto done;
    }
    GMR_CALL(pass2(&blk, p, m, A, Kb, tri));
    for (int i = 0, t = 0; i < q; i++)
        for (int j = i; j < q; j++, t++) {
            double v = tri[t];
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
    gmr__lasso_blocks_free(&blk);
    free(s1);
    free(sums);
    free(m);
    free(A);
    free(K);
    free(Kb);
    free(tri);
    return err;
}
