/* segment.c: the numerical half of customer segmentation (segment.h, docs/segment.md).
 *
 * Rows stay on their ranks. Every pass over them ends in one MPI_Allreduce of exact sums:
 * xsum (256-bit fixed point) for the column statistics, 64-bit integers on a 2^-32 grid for the
 * per-iteration sums (centroids, gradients), integer weights for the k-means++ draws. Exact sums
 * make the order of reduction irrelevant, so 1, 2, 3 or 4 ranks give the same bits; the price
 * is a clip of the standardised values to +-32 and at most 2^26 rows (so no sum overflows), and
 * about one integer conversion per product in the inner loops.
 *
 * Costs per rank: standardisation 4 passes of n_local p; k-means++ k passes of n_local k p;
 * a Lloyd iteration n_local k p plus an Allreduce of k (p + 1) integers; a FISTA iteration
 * 2 n_local p C plus an Allreduce of (p + 1) C integers; the silhouette O(m^2 p) on a gathered
 * sample of m rows. */
#define _XOPEN_SOURCE 700
#include "segment.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xsum.h"
#include "gen/model.h"
#include "sched/sched.h"

#define FX_SCALE 0x1p32 /* fixed-point grid of the per-iteration sums */

/* truncation toward zero: one instruction (llrint is a libm call without -fno-math-errno), and
 * as deterministic; the bias is below 2^-32 per term */
/* An allocation check every rank agrees on (one MPI_Allreduce), so that a rank out of memory
 * never leaves the others waiting in the next collective. */
#define AGREE_ALLOC(cond, ...) GMR_CALL(gmr__agree(comm, (cond) ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, __VA_ARGS__)))

static inline int64_t fx(double v) { return (int64_t)(v * FX_SCALE); }

/* ---- exact reductions ------------------------------------------------------------------------ */

static void xsum_op(void *in, void *inout, int *len, MPI_Datatype *dt)
{
    gmr__xsum *a = in, *b = inout;
    (void)dt;
    for (int i = 0; i < *len; i++) gmr__xsum_merge(&b[i], &a[i]);
}

/* Collective: out[i] = the exact sum over ranks of acc[i], correctly rounded. */
static gmr_err xsum_allreduce(MPI_Comm comm, gmr__xsum *acc, int count, double *out)
{
    gmr_err err = GMR_OK;
    MPI_Datatype t = MPI_DATATYPE_NULL;
    MPI_Op op = MPI_OP_NULL;
    gmr__xsum *tot = malloc((size_t)count * sizeof *tot + 1);
    AGREE_ALLOC(tot, "out of memory for %d sums", count);
    GMR_CALL_MPI(MPI_Type_contiguous(4, MPI_UINT64_T, &t));
    GMR_CALL_MPI(MPI_Type_commit(&t));
    GMR_CALL_MPI(MPI_Op_create(xsum_op, 1, &op));
    GMR_CALL_MPI(MPI_Allreduce(acc, tot, count, t, op, comm));
    for (int i = 0; i < count; i++) out[i] = gmr__xsum_round(&tot[i]);
out:
    if (op != MPI_OP_NULL) MPI_Op_free(&op);
    if (t != MPI_DATATYPE_NULL) MPI_Type_free(&t);
    free(tot);
    return err;
}

/* Collective: integer sums, then out[i] = sum / 2^32. */
static gmr_err fx_allreduce(MPI_Comm comm, int64_t *acc, int count, double *out)
{
    gmr_err err = GMR_OK;
    int64_t *tot = malloc((size_t)count * sizeof *tot + 1);
    AGREE_ALLOC(tot, "out of memory for %d sums", count);
    GMR_CALL_MPI(MPI_Allreduce(acc, tot, count, MPI_INT64_T, MPI_SUM, comm));
    for (int i = 0; i < count; i++) out[i] = (double)tot[i] / FX_SCALE;
out:
    free(tot);
    return err;
}

/* ---- standardisation ------------------------------------------------------------------------ */

/* Collective: exact per-column sums over the non-NaN cells of ((x - center_j) / scale_j)^power
 * (center, scale optional), and their count when count is not NULL. */
static gmr_err column_moments(MPI_Comm comm, const gmr__seg_rows *r, int power, const double *center,
                              const double *scale, double *out, double *count)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    gmr__xsum *acc = calloc((size_t)2 * (size_t)p + 1, sizeof *acc);
    double *tmp = malloc((size_t)2 * (size_t)p * sizeof *tmp + 8);
    int bad = 0, anybad = 0;
    AGREE_ALLOC(acc && tmp, "out of memory for %d columns", p);
    for (size_t i = 0; i < r->n; i++) {
        const double *x = r->x + i * (size_t)p;
        for (int j = 0; j < p; j++) {
            double v = x[j], d;
            if (isnan(v)) continue;
            d = center ? v - center[j] : v;
            if (scale) d = scale[j] > 0 ? d / scale[j] : 0;
            if (power == 2) d *= d;
            else if (power == 3) d = d * d * d;
            bad |= gmr__xsum_add(&acc[j], d) != 0;
            if (count) gmr__xsum_add(&acc[p + j], 1.0);
        }
    }
    GMR_CALL_MPI(MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, comm));
    GMR_CHECK(!anybad, GMR_ERR_DATA, "a feature value is too large (its square must stay below 2^80, about 1.2e24)");
    GMR_CALL(xsum_allreduce(comm, acc, count ? 2 * p : p, tmp));
    memcpy(out, tmp, (size_t)p * sizeof *out);
    if (count) memcpy(count, tmp + p, (size_t)p * sizeof *count);
out:
    free(acc);
    free(tmp);
    return err;
}

gmr_err gmr__seg_standardize(MPI_Comm comm, gmr__seg_rows *r, int transform, gmr__seg_scale *s)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    double *sum = malloc((size_t)p * sizeof *sum + 8), *cnt = malloc((size_t)p * sizeof *cnt + 8);
    double *m2 = malloc((size_t)p * sizeof *m2 + 8), *m3 = malloc((size_t)p * sizeof *m3 + 8);
    AGREE_ALLOC(sum && cnt && m2 && m3, "out of memory for %d columns", p);
    GMR_CALL(column_moments(comm, r, 1, NULL, NULL, sum, cnt));
    for (int j = 0; j < p; j++) {
        s->mean[j] = cnt[j] > 0 ? sum[j] / cnt[j] : 0;
        s->missing[j] = (uint64_t)((double)r->total - cnt[j]);
        s->asinh[j] = 0;
    }
    GMR_CALL(column_moments(comm, r, 2, s->mean, NULL, m2, NULL));
    if (transform) {
        for (int j = 0; j < p; j++) s->sd[j] = cnt[j] > 0 ? sqrt(m2[j] / cnt[j]) : 0;
        GMR_CALL(column_moments(comm, r, 3, s->mean, s->sd, m3, NULL)); /* standardised: no overflow */
        for (int j = 0; j < p; j++)
            if (s->sd[j] > 0 && fabs(m3[j] / cnt[j]) > 2) s->asinh[j] = 1;
        for (size_t i = 0; i < r->n; i++) {
            double *x = r->x + i * (size_t)p;
            for (int j = 0; j < p; j++)
                if (s->asinh[j] && !isnan(x[j])) x[j] = asinh((x[j] - s->mean[j]) / sqrt(m2[j] / cnt[j]));
        }
        GMR_CALL(column_moments(comm, r, 1, NULL, NULL, sum, NULL));
        for (int j = 0; j < p; j++) s->mean[j] = cnt[j] > 0 ? sum[j] / cnt[j] : 0;
        GMR_CALL(column_moments(comm, r, 2, s->mean, NULL, m2, NULL));
    }
    for (int j = 0; j < p; j++) {
        /* the sd over all rows, imputed cells (at the mean) included */
        s->sd[j] = r->total > 0 ? sqrt(m2[j] / (double)r->total) : 0;
        s->dropped[j] = !(cnt[j] > 0) || !(s->sd[j] > 1e-300) || !(s->sd[j] > 1e-12 * fabs(s->mean[j]));
    }
    for (size_t i = 0; i < r->n; i++) {
        double *x = r->x + i * (size_t)p;
        for (int j = 0; j < p; j++) {
            double z = (s->dropped[j] || isnan(x[j])) ? 0 : (x[j] - s->mean[j]) / s->sd[j];
            x[j] = z > GMR_SEG_CLIP ? GMR_SEG_CLIP : (z < -GMR_SEG_CLIP ? -GMR_SEG_CLIP : z);
        }
    }
out:
    free(sum);
    free(cnt);
    free(m2);
    free(m3);
    return err;
}

/* ---- k-means --------------------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *g)
{
    g->s += 0x9e3779b97f4a7c15u;
    return gmr__mix64(g->s);
}

/* Squared distance with four partial sums: the additions do not wait on each other (a single
 * chain is bound by the add latency, 4x slower). The same code for every row on every rank, so
 * the rounding does not depend on the split. */
static double dist2(const double *a, const double *b, int p)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int j = 0;
    for (; j + 4 <= p; j += 4) {
        double t0 = a[j] - b[j], t1 = a[j + 1] - b[j + 1], t2 = a[j + 2] - b[j + 2], t3 = a[j + 3] - b[j + 3];
        s0 += t0 * t0;
        s1 += t1 * t1;
        s2 += t2 * t2;
        s3 += t3 * t3;
    }
    for (; j < p; j++) {
        double t = a[j] - b[j];
        s0 += t * t;
    }
    return (s0 + s1) + (s2 + s3);
}

/* Collective: every rank gets global row g (held by one rank) into out[p]: the owner sends its
 * values, the others zeros, and an exact MPI_SUM (x + 0 = x) delivers them. */
static gmr_err fetch_row(MPI_Comm comm, const gmr__seg_rows *r, uint64_t g, double *tmp, double *out)
{
    gmr_err err = GMR_OK;
    memset(tmp, 0, (size_t)r->p * sizeof *tmp);
    if (g >= r->first && g < r->first + r->n) memcpy(tmp, r->x + (size_t)(g - r->first) * (size_t)r->p, (size_t)r->p * sizeof *tmp);
    GMR_CALL_MPI(MPI_Allreduce(tmp, out, r->p, MPI_DOUBLE, MPI_SUM, comm));
out:
    return err;
}

/* Collective: the row farthest from its centroid (dist[] local), lowest global index on ties. */
static gmr_err farthest(MPI_Comm comm, const gmr__seg_rows *r, const double *dist, uint64_t *g)
{
    gmr_err err = GMR_OK;
    double lmax = -1, gmax;
    uint64_t lidx = UINT64_MAX;
    for (size_t i = 0; i < r->n; i++)
        if (dist[i] > lmax) lmax = dist[i];
    GMR_CALL_MPI(MPI_Allreduce(&lmax, &gmax, 1, MPI_DOUBLE, MPI_MAX, comm));
    for (size_t i = 0; i < r->n; i++)
        if (dist[i] == gmax) {
            lidx = r->first + i;
            break;
        }
    GMR_CALL_MPI(MPI_Allreduce(&lidx, g, 1, MPI_UINT64_T, MPI_MIN, comm));
out:
    return err;
}

/* Collective: row g of rank `owner` to every rank (one MPI_Bcast). */
static gmr_err bcast_row(MPI_Comm comm, const gmr__seg_rows *r, int owner, uint64_t g, double *out)
{
    gmr_err err = GMR_OK;
    int rank;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == owner) memcpy(out, r->x + (size_t)(g - r->first) * (size_t)r->p, (size_t)r->p * sizeof *out);
    GMR_CALL_MPI(MPI_Bcast(out, r->p, MPI_DOUBLE, owner, comm));
out:
    return err;
}

/* The rank holding global row g, from every rank's (first, n). */
static int owner_of(const uint64_t *firsts, const uint64_t *counts, int size, uint64_t g)
{
    for (int q = 0; q < size; q++)
        if (g >= firsts[q] && g < firsts[q] + counts[q]) return q;
    return 0;
}

/* Collective: k-means++ seeds into c (k x p). dist: scratch of n. Two collectives per seed: an
 * MPI_Allgather of the ranks' integer weight sums (which places every rank's range and gives the
 * total), and the MPI_Bcast of the drawn row from its owner. The weight of a row is
 * floor(2^32 d / (4096 p)): d <= 4096 p for values clipped to +-32, so weights stay below 2^32
 * and their exact integer sums below 2^58; no global maximum is needed. */
static gmr_err seed_plusplus(MPI_Comm comm, const gmr__seg_rows *r, int k, uint64_t seed, double *c, double *dist)
{
    gmr_err err = GMR_OK;
    rng g = {seed};
    int p = r->p, size, rank, owner;
    uint64_t pick = rng_next(&g) % r->total, mine[2] = {r->first, r->n}, *all = NULL, *firsts, *counts, *sums;
    double scale = 0x1p32 / (4096.0 * (double)p);
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    all = malloc((size_t)size * 4 * sizeof *all);
    AGREE_ALLOC(all, "out of memory");
    firsts = all;
    counts = all + size;
    sums = all + 2 * size;
    {
        uint64_t *pairs = all + 2 * size; /* (first, n) of every rank, then unpacked */
        GMR_CALL_MPI(MPI_Allgather(mine, 2, MPI_UINT64_T, pairs, 2, MPI_UINT64_T, comm));
        for (int q = 0; q < size; q++) firsts[q] = pairs[2 * q], counts[q] = pairs[2 * q + 1];
    }
    owner = owner_of(firsts, counts, size, pick);
    GMR_CALL(bcast_row(comm, r, owner, pick, c));
    for (size_t i = 0; i < r->n; i++) dist[i] = dist2(r->x + i * (size_t)p, c, p);
    for (int q = 1; q < k; q++) {
        uint64_t local = 0, total = 0, before = 0, u;
        for (size_t i = 0; i < r->n; i++) local += (uint64_t)(dist[i] * scale);
        GMR_CALL_MPI(MPI_Allgather(&local, 1, MPI_UINT64_T, sums, 1, MPI_UINT64_T, comm));
        for (int o = 0; o < size; o++) total += sums[o];
        if (total == 0) { /* every row sits on a seed: take any row */
            pick = rng_next(&g) % r->total;
            owner = owner_of(firsts, counts, size, pick);
        } else {
            u = rng_next(&g) % total;
            for (owner = 0; owner < size && u >= before + sums[owner]; owner++) before += sums[owner];
            pick = UINT64_MAX;
            if (rank == owner) {
                uint64_t acc = before;
                for (size_t i = 0; i < r->n && pick == UINT64_MAX; i++) {
                    acc += (uint64_t)(dist[i] * scale);
                    if (u < acc) pick = r->first + i;
                }
            }
        }
        if (rank == owner) memcpy(c + (size_t)q * (size_t)p, r->x + (size_t)(pick - r->first) * (size_t)p, (size_t)p * sizeof *c);
        GMR_CALL_MPI(MPI_Bcast(c + (size_t)q * (size_t)p, p, MPI_DOUBLE, owner, comm));
        for (size_t i = 0; i < r->n; i++) {
            double d = dist2(r->x + i * (size_t)p, c + (size_t)q * (size_t)p, p);
            if (d < dist[i]) dist[i] = d;
        }
    }
out:
    free(all);
    return err;
}

/* Collective: Lloyd iterations from the centroids in c, one MPI_Allreduce each: the members'
 * fixed-point sums, their counts and the number of changed assignments travel together. */
static gmr_err lloyd(MPI_Comm comm, const gmr__seg_rows *r, int k, int max_iter, double *c, int *assign, double *dist,
                     uint64_t *count, double *inertia, int *iters, int *converged, double *tmp)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    size_t kp = (size_t)k * (size_t)p, len = kp + (size_t)k + 1;
    int64_t *acc = malloc(len * sizeof *acc), *tot = malloc(len * sizeof *tot);
    gmr__xsum in;
    AGREE_ALLOC(acc && tot, "out of memory for %d centroids", k);
    for (size_t i = 0; i < r->n; i++) assign[i] = -1;
    *converged = 0;
    for (*iters = 0;; (*iters)++) {
        int64_t changed = 0;
        memset(acc, 0, len * sizeof *acc);
        for (size_t i = 0; i < r->n; i++) {
            const double *x = r->x + i * (size_t)p;
            int best = 0;
            double bd = dist2(x, c, p);
            int64_t *a;
            for (int q = 1; q < k; q++) {
                double d = dist2(x, c + (size_t)q * (size_t)p, p);
                if (d < bd) bd = d, best = q;
            }
            changed += assign[i] != best;
            assign[i] = best;
            dist[i] = bd;
            a = acc + (size_t)best * (size_t)p;
            for (int j = 0; j < p; j++) a[j] += fx(x[j]);
            acc[kp + (size_t)best]++;
        }
        acc[kp + (size_t)k] = changed;
        GMR_CALL_MPI(MPI_Allreduce(acc, tot, (int)len, MPI_INT64_T, MPI_SUM, comm));
        for (int q = 0; q < k; q++) count[q] = (uint64_t)tot[kp + (size_t)q];
        if (tot[kp + (size_t)k] == 0) { /* nothing moved: c are the means of these members */
            *converged = 1;
            break;
        }
        if (*iters == max_iter) break;
        for (int q = 0; q < k; q++)
            for (int j = 0; j < p && count[q] > 0; j++)
                c[(size_t)q * (size_t)p + (size_t)j] = (double)tot[(size_t)q * (size_t)p + (size_t)j] / FX_SCALE / (double)count[q];
        for (int q = 0; q < k; q++)
            if (count[q] == 0) { /* empty: re-seed with the row farthest from its centroid */
                uint64_t g;
                GMR_CALL(farthest(comm, r, dist, &g));
                GMR_CALL(fetch_row(comm, r, g, tmp, c + (size_t)q * (size_t)p));
                if (g >= r->first && g < r->first + r->n) dist[g - r->first] = 0;
            }
    }
    gmr__xsum_init(&in);
    for (size_t i = 0; i < r->n; i++) gmr__xsum_add(&in, dist[i]);
    GMR_CALL(xsum_allreduce(comm, &in, 1, inertia));
out:
    free(acc);
    free(tot);
    return err;
}

gmr_err gmr__kmeans(MPI_Comm comm, const gmr__seg_rows *r, const gmr__kmeans_opts *o, gmr__kmeans_result *res)
{
    gmr_err err = GMR_OK;
    int p = r->p, k = o->k;
    size_t kp = (size_t)k * (size_t)p;
    double *c = NULL, *dist = NULL, *tmp = NULL;
    int *assign = NULL;
    uint64_t *count = NULL;

    memset(res, 0, sizeof *res);
    GMR_CHECK(k >= 1 && (uint64_t)k <= r->total, GMR_ERR_ARG, "k = %d clusters for %llu rows", k,
              (unsigned long long)r->total);
    GMR_CHECK(r->total <= GMR_SEG_MAX_ROWS, GMR_ERR_ARG, "%llu rows: at most 2^26", (unsigned long long)r->total);
    res->k = k;
    res->p = p;
    res->centroids = malloc(kp * sizeof *res->centroids + 8);
    res->assign = malloc(r->n * sizeof *res->assign + 8);
    res->count = calloc((size_t)k, sizeof *res->count);
    c = malloc(kp * sizeof *c + 8);
    dist = malloc(r->n * sizeof *dist + 8);
    tmp = malloc((size_t)p * sizeof *tmp + 8);
    assign = malloc(r->n * sizeof *assign + 8);
    count = calloc((size_t)k, sizeof *count);
    AGREE_ALLOC(res->centroids && res->assign && res->count && c && dist && tmp && assign && count,
              "out of memory for k-means on %zu rows", r->n);
    res->inertia = INFINITY;
    for (int s = 0; s < (o->restarts > 0 ? o->restarts : 1); s++) {
        double inertia = 0;
        int iters = 0, conv = 0;
        GMR_CALL(seed_plusplus(comm, r, k, gmr__mix64(o->seed + 0x51ed27u * (uint64_t)(s + 1)), c, dist));
        GMR_CALL(lloyd(comm, r, k, o->max_iter, c, assign, dist, count, &inertia, &iters, &conv, tmp));
        if (inertia < res->inertia) { /* every rank sees the same inertia: the same choice */
            res->inertia = inertia;
            res->iters = iters;
            res->restart = s;
            res->converged = conv;
            memcpy(res->centroids, c, kp * sizeof *c);
            memcpy(res->assign, assign, r->n * sizeof *assign);
            memcpy(res->count, count, (size_t)k * sizeof *count);
        }
    }
out:
    free(c);
    free(dist);
    free(tmp);
    free(assign);
    free(count);
    if (err) gmr__kmeans_free(res);
    return err;
}

void gmr__kmeans_free(gmr__kmeans_result *res)
{
    if (!res) return;
    free(res->centroids);
    free(res->assign);
    free(res->count);
    memset(res, 0, sizeof *res);
}

gmr_err gmr__seg_sample(MPI_Comm comm, const gmr__seg_rows *r, int nsample, uint64_t seed, gmr__seg_rows *out)
{
    gmr_err err = GMR_OK;
    int p = r->p, size, nloc = 0, m = 0, *counts = NULL, *displs = NULL;
    double *loc = NULL;
    uint64_t thr = r->total <= (uint64_t)nsample ? UINT64_MAX : (uint64_t)((double)nsample / (double)r->total * 0x1p64);
    memset(out, 0, sizeof *out);
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    loc = malloc(r->n * (size_t)p * sizeof *loc + 8);
    counts = malloc((size_t)size * sizeof *counts);
    displs = malloc((size_t)size * sizeof *displs);
    AGREE_ALLOC(loc && counts && displs, "out of memory for a sample");
    for (size_t i = 0; i < r->n; i++)
        if (thr == UINT64_MAX || gmr__mix64(seed ^ gmr__mix64(r->first + i)) < thr)
            memcpy(loc + (size_t)nloc++ * (size_t)p, r->x + i * (size_t)p, (size_t)p * sizeof *loc);
    GMR_CALL_MPI(MPI_Allgather(&nloc, 1, MPI_INT, counts, 1, MPI_INT, comm));
    for (int q = 0; q < size; q++) {
        displs[q] = m * p;
        m += counts[q];
        counts[q] *= p;
    }
    out->x = malloc((size_t)m * (size_t)p * sizeof *out->x + 8);
    AGREE_ALLOC(out->x, "out of memory for a sample of %d rows", m);
    GMR_CALL_MPI(MPI_Allgatherv(loc, nloc * p, MPI_DOUBLE, out->x, counts, displs, MPI_DOUBLE, comm));
    out->n = (size_t)m;
    out->p = p;
    out->first = 0;
    out->total = (uint64_t)m;
out:
    free(loc);
    free(counts);
    free(displs);
    return err;
}

gmr_err gmr__silhouette(MPI_Comm comm, const gmr__seg_rows *r, const int *assign, int k, int nsample, uint64_t seed,
                        double *silhouette)
{
    gmr_err err = GMR_OK;
    int p = r->p, size, nloc = 0, m = 0, *counts = NULL, *displs = NULL, *lab = NULL, *glab = NULL;
    double *loc = NULL, *all = NULL, *sum = NULL, total = 0;
    uint64_t thr = r->total <= (uint64_t)nsample ? UINT64_MAX : (uint64_t)((double)nsample / (double)r->total * 0x1p64);
    size_t *cnt = NULL;

    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    loc = malloc(r->n * (size_t)p * sizeof *loc + 8);
    lab = malloc(r->n * sizeof *lab + 8);
    counts = malloc((size_t)size * sizeof *counts);
    displs = malloc((size_t)size * sizeof *displs);
    AGREE_ALLOC(loc && lab && counts && displs, "out of memory for the silhouette sample");
    for (size_t i = 0; i < r->n; i++)
        if (thr == UINT64_MAX || gmr__mix64(seed ^ gmr__mix64(r->first + i)) < thr) {
            memcpy(loc + (size_t)nloc * (size_t)p, r->x + i * (size_t)p, (size_t)p * sizeof *loc);
            lab[nloc++] = assign[i];
        }
    GMR_CALL_MPI(MPI_Allgather(&nloc, 1, MPI_INT, counts, 1, MPI_INT, comm));
    for (int q = 0; q < size; q++) {
        displs[q] = m;
        m += counts[q];
    }
    all = malloc((size_t)m * (size_t)p * sizeof *all + 8);
    glab = malloc((size_t)m * sizeof *glab + 8);
    sum = malloc((size_t)k * sizeof *sum + 8);
    cnt = calloc((size_t)k + 1, sizeof *cnt);
    AGREE_ALLOC(all && glab && sum && cnt, "out of memory for a sample of %d rows", m);
    GMR_CALL_MPI(MPI_Allgatherv(lab, nloc, MPI_INT, glab, counts, displs, MPI_INT, comm));
    for (int q = 0; q < size; q++) counts[q] *= p, displs[q] *= p;
    GMR_CALL_MPI(MPI_Allgatherv(loc, nloc * p, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, comm));
    for (int i = 0; i < m; i++) cnt[glab[i]]++;
    for (int i = 0; i < m; i++) {
        double a, b = INFINITY;
        int own = glab[i];
        for (int q = 0; q < k; q++) sum[q] = 0;
        for (int j = 0; j < m; j++)
            if (j != i) sum[glab[j]] += sqrt(dist2(all + (size_t)i * (size_t)p, all + (size_t)j * (size_t)p, p));
        if (cnt[own] <= 1) continue; /* a singleton scores 0 */
        a = sum[own] / (double)(cnt[own] - 1);
        for (int q = 0; q < k; q++)
            if (q != own && cnt[q] > 0 && sum[q] / (double)cnt[q] < b) b = sum[q] / (double)cnt[q];
        if (isfinite(b) && (a > 0 || b > 0)) total += (b - a) / (a > b ? a : b);
    }
    *silhouette = m > 0 ? total / m : 0;
out:
    free(loc);
    free(lab);
    free(all);
    free(glab);
    free(sum);
    free(cnt);
    free(counts);
    free(displs);
    return err;
}

/* ---- L1 multinomial logistic regression ------------------------------------------------------- */

static int trainable(const int *y, const unsigned char *use, int C, size_t i)
{
    return (!use || use[i]) && y[i] >= 0 && y[i] < C;
}

/* Collective: g = (1/m) [X 1]^T (P - Y) at theta, all (p + 1) x C. */
static gmr_err gradient(MPI_Comm comm, const gmr__seg_rows *r, const int *y, const unsigned char *use, int C,
                        const double *theta, double m, int64_t *acc, double *z, double *g)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    size_t np = ((size_t)p + 1) * (size_t)C;
    memset(acc, 0, np * sizeof *acc);
    for (size_t i = 0; i < r->n; i++) {
        const double *x = r->x + i * (size_t)p;
        double zmax = -INFINITY, s = 0;
        if (!trainable(y, use, C, i)) continue;
        for (int c = 0; c < C; c++) z[c] = theta[(size_t)p * (size_t)C + (size_t)c];
        for (int j = 0; j < p; j++) {
            const double *w = theta + (size_t)j * (size_t)C;
            if (x[j] == 0) continue;
            for (int c = 0; c < C; c++) z[c] += x[j] * w[c];
        }
        for (int c = 0; c < C; c++)
            if (z[c] > zmax) zmax = z[c];
        for (int c = 0; c < C; c++) s += (z[c] = exp(z[c] - zmax));
        for (int c = 0; c < C; c++) z[c] = z[c] / s - (c == y[i]);
        for (int j = 0; j < p; j++) {
            int64_t *a = acc + (size_t)j * (size_t)C;
            if (x[j] == 0) continue;
            for (int c = 0; c < C; c++) a[c] += fx(x[j] * z[c]);
        }
        for (int c = 0; c < C; c++) acc[(size_t)p * (size_t)C + (size_t)c] += fx(z[c]);
    }
    GMR_CALL(fx_allreduce(comm, acc, (int)np, g));
    for (size_t q = 0; q < np; q++) g[q] /= m;
out:
    return err;
}

gmr_err gmr__mlogit_lambda_max(MPI_Comm comm, const gmr__seg_rows *r, const int *y, const unsigned char *use, int C,
                               double *lambda_max, uint64_t *m)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    size_t np = ((size_t)p + 1) * (size_t)C;
    uint64_t *lc = calloc((size_t)C + 1, sizeof *lc), *gc = calloc((size_t)C + 1, sizeof *gc);
    double *theta = calloc(np, sizeof *theta), *g = calloc(np, sizeof *g), *z = calloc((size_t)C, sizeof *z);
    int64_t *acc = calloc(np, sizeof *acc);
    double mm = 0, lmax = 0;
    AGREE_ALLOC(lc && gc && theta && g && z && acc, "out of memory for %d classes", C);
    for (size_t i = 0; i < r->n; i++)
        if (trainable(y, use, C, i)) lc[y[i]]++;
    GMR_CALL_MPI(MPI_Allreduce(lc, gc, C, MPI_UINT64_T, MPI_SUM, comm));
    for (int c = 0; c < C; c++) mm += (double)gc[c];
    *m = (uint64_t)mm;
    GMR_CHECK(mm > 0, GMR_ERR_DATA, "no labelled rows to train on");
    /* the intercept-only optimum: b_c = log(prior_c) (a class with no rows: a large negative) */
    for (int c = 0; c < C; c++) theta[(size_t)p * (size_t)C + (size_t)c] = gc[c] ? log((double)gc[c] / mm) : -30;
    GMR_CALL(gradient(comm, r, y, use, C, theta, mm, acc, z, g));
    for (size_t q = 0; q < (size_t)p * (size_t)C; q++)
        if (fabs(g[q]) > lmax) lmax = fabs(g[q]);
    *lambda_max = lmax;
out:
    free(lc);
    free(gc);
    free(theta);
    free(g);
    free(z);
    free(acc);
    return err;
}

/* Collective: half the largest eigenvalue of [X 1]^T [X 1] / m over the training rows, by 50
 * steps of power iteration (sums on a coarser 2^-16 grid: |x_ij t_i| <= 2^5 sqrt(p+1) 2^5). */
static gmr_err lipschitz(MPI_Comm comm, const gmr__seg_rows *r, const int *y, const unsigned char *use, int C, double m,
                         double *lip)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    double *v = malloc(((size_t)p + 1) * sizeof *v), *u = malloc(((size_t)p + 1) * sizeof *u), norm = 0;
    int64_t *acc = malloc(((size_t)p + 1) * sizeof *acc), *tot = malloc(((size_t)p + 1) * sizeof *tot);
    AGREE_ALLOC(v && u && acc && tot, "out of memory");
    for (int j = 0; j <= p; j++) v[j] = 1 / sqrt((double)p + 1);
    for (int it = 0; it < 50; it++) {
        memset(acc, 0, ((size_t)p + 1) * sizeof *acc);
        for (size_t i = 0; i < r->n; i++) {
            const double *x = r->x + i * (size_t)p;
            double t = v[p];
            if (!trainable(y, use, C, i)) continue;
            for (int j = 0; j < p; j++) t += x[j] * v[j];
            for (int j = 0; j < p; j++) acc[j] += (int64_t)(x[j] * t * 0x1p16);
            acc[p] += (int64_t)(t * 0x1p16);
        }
        GMR_CALL_MPI(MPI_Allreduce(acc, tot, p + 1, MPI_INT64_T, MPI_SUM, comm));
        norm = 0;
        for (int j = 0; j <= p; j++) {
            u[j] = (double)tot[j] / 0x1p16 / m;
            norm += u[j] * u[j];
        }
        norm = sqrt(norm);
        if (!(norm > 0)) break;
        for (int j = 0; j <= p; j++) v[j] = u[j] / norm;
    }
    /* power iteration approaches the largest eigenvalue from below: 10 % of margin */
    *lip = 0.5 * 1.1 * (norm > 0 ? norm : 1);
out:
    free(v);
    free(u);
    free(acc);
    free(tot);
    return err;
}

gmr_err gmr__mlogit_fit(MPI_Comm comm, const gmr__seg_rows *r, const int *y, const unsigned char *use, int C,
                        double lambda, const gmr__mlogit_opts *o, double *theta, double *lip, int *iters)
{
    gmr_err err = GMR_OK;
    int p = r->p;
    size_t np = ((size_t)p + 1) * (size_t)C, nw = (size_t)p * (size_t)C;
    double *yk = malloc(np * sizeof *yk), *prev = malloc(np * sizeof *prev), *g = malloc(np * sizeof *g);
    double *z = malloc((size_t)C * sizeof *z), t = 1, m = 0;
    int64_t *acc = malloc(np * sizeof *acc);
    uint64_t lc = 0, gm = 0;
    AGREE_ALLOC(yk && prev && g && z && acc, "out of memory for %zu coefficients", np);
    for (size_t i = 0; i < r->n; i++) lc += trainable(y, use, C, i);
    GMR_CALL_MPI(MPI_Allreduce(&lc, &gm, 1, MPI_UINT64_T, MPI_SUM, comm));
    GMR_CHECK(gm > 0, GMR_ERR_DATA, "no labelled rows to train on");
    m = (double)gm;
    if (!(*lip > 0)) GMR_CALL(lipschitz(comm, r, y, use, C, m, lip));
    memcpy(yk, theta, np * sizeof *yk);
    memcpy(prev, theta, np * sizeof *prev);
    for (*iters = 0; *iters < o->max_iter;) {
        double step = 1 / *lip, tn, change = 0, big = 1, dot = 0;
        GMR_CALL(gradient(comm, r, y, use, C, yk, m, acc, z, g));
        (*iters)++;
        for (size_t q = 0; q < np; q++) {
            double v = yk[q] - step * g[q];
            if (q < nw) v = v > lambda * step ? v - lambda * step : (v < -lambda * step ? v + lambda * step : 0);
            prev[q] = theta[q];
            theta[q] = v;
            dot += (yk[q] - v) * (v - prev[q]);
            if (fabs(v - prev[q]) > change) change = fabs(v - prev[q]);
            if (fabs(v) > big) big = fabs(v);
        }
        if (change <= o->tol * big) break;
        if (dot > 0) t = 1; /* adaptive restart (O'Donoghue and Candes) */
        tn = (1 + sqrt(1 + 4 * t * t)) / 2;
        for (size_t q = 0; q < np; q++) yk[q] = theta[q] + (t - 1) / tn * (theta[q] - prev[q]);
        t = tn;
    }
out:
    free(yk);
    free(prev);
    free(g);
    free(z);
    free(acc);
    return err;
}

int gmr__mlogit_predict(int p, int C, const double *theta, const double *x)
{
    int best = 0;
    double bz = -INFINITY;
    for (int c = 0; c < C; c++) {
        double z = theta[(size_t)p * (size_t)C + (size_t)c];
        for (int j = 0; j < p; j++) z += x[j] * theta[(size_t)j * (size_t)C + (size_t)c];
        if (z > bz) bz = z, best = c;
    }
    return best;
}

/* ---- matching clusters to classes ------------------------------------------------------------- */

uint64_t gmr__seg_match(int K, int C, const uint64_t *counts, int *match)
{
    /* Hungarian method on the n x n cost -counts (padded with 0), potentials u, v (e-maxx) */
    int n = K > C ? K : C;
    double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)n + 1, sizeof *v);
    double *minv = malloc(((size_t)n + 1) * sizeof *minv);
    int *pp = calloc((size_t)n + 1, sizeof *pp), *way = calloc((size_t)n + 1, sizeof *way);
    unsigned char *used = malloc((size_t)n + 1);
    uint64_t total = 0;
    if (!u || !v || !minv || !pp || !way || !used) {
        for (int k = 0; k < K; k++) match[k] = -1;
        goto out;
    }
#define COST(i, j) (((i) <= K && (j) <= C) ? -(double)counts[(size_t)((i)-1) * (size_t)C + (size_t)((j)-1)] : 0.0)
    for (int i = 1; i <= n; i++) {
        int j0 = 0;
        pp[0] = i;
        for (int j = 0; j <= n; j++) minv[j] = INFINITY, used[j] = 0;
        do {
            int i0 = pp[j0], j1 = 0;
            double delta = INFINITY;
            used[j0] = 1;
            for (int j = 1; j <= n; j++)
                if (!used[j]) {
                    double cur = COST(i0, j) - u[i0] - v[j];
                    if (cur < minv[j]) minv[j] = cur, way[j] = j0;
                    if (minv[j] < delta) delta = minv[j], j1 = j;
                }
            for (int j = 0; j <= n; j++)
                if (used[j]) u[pp[j]] += delta, v[j] -= delta;
                else minv[j] -= delta;
            j0 = j1;
        } while (pp[j0] != 0);
        do {
            int j1 = way[j0];
            pp[j0] = pp[j1];
            j0 = j1;
        } while (j0);
    }
#undef COST
    for (int k = 0; k < K; k++) match[k] = -1;
    for (int j = 1; j <= n; j++)
        if (pp[j] >= 1 && pp[j] <= K && j <= C) {
            match[pp[j] - 1] = j - 1;
            total += counts[(size_t)(pp[j] - 1) * (size_t)C + (size_t)(j - 1)];
        }
out:
    free(u);
    free(v);
    free(minv);
    free(pp);
    free(way);
    free(used);
    return total;
}
