/* check_segment.c - specification tests for customer segmentation (src/apps/segment.c). Run
 * under mpirun at 1 to 4 ranks with CK_FORK=no; every rank runs every test.
 *
 * What must hold:
 *   - the matching of clusters to classes is the best one: equal to an exhaustive search over
 *     all assignments on random count tables, square or not;
 *   - standardisation: means and sds equal long-double references computed here from all rows,
 *     empty (NaN) cells imputed at the mean (0 after standardising), a constant column and an
 *     all-empty column dropped (all 0), values clipped at +-32;
 *   - k-means on well-separated blobs recovers the blobs exactly (accuracy 1 after matching)
 *     with centroids equal to the blob means computed here, and its result is bit-identical to
 *     the same call on MPI_COMM_SELF with all rows, rows split unevenly (rank 0 holds none when
 *     there are several ranks);
 *   - the silhouette equals a direct computation here when the sample is every row;
 *   - the L1 multinomial logistic regression: at lambda_max the coefficients stay 0; below it
 *     the solution satisfies the optimality (KKT) conditions computed here in long double from
 *     the rows; separable classes are predicted without error; and the coefficients are
 *     bit-identical to MPI_COMM_SELF with all rows.
 * Every verdict is collective (all_assert). */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/segment.h"
#include "testutil.h"
#include "testutil_mpi.h"

/* ---- data ------------------------------------------------------------------------------------ */

static uint64_t rs = 1;
static double unif(void)
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rs >> 11) / 9007199254740992.0;
}
static double gauss(void)
{
    double u = unif() + 1e-300, v = unif();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* rank r's share [lo, hi) of n rows: rank 0 none when size > 1, the rest uneven */
static void share(size_t n, size_t *lo, size_t *hi)
{
    if (size == 1) {
        *lo = 0;
        *hi = n;
        return;
    }
    if (rank == 0) {
        *lo = *hi = 0;
        return;
    }
    /* ranks 1..size-1: cuts at (r-1)^2 / (size-1)^2 */
    *lo = n * (size_t)((rank - 1) * (rank - 1)) / (size_t)((size - 1) * (size - 1));
    *hi = n * (size_t)(rank * rank) / (size_t)((size - 1) * (size - 1));
}

static gmr__seg_rows local_rows(const double *all, size_t n, int p, size_t *lo)
{
    size_t hi;
    gmr__seg_rows r;
    share(n, lo, &hi);
    r.n = hi - *lo;
    r.p = p;
    r.x = malloc((r.n + 1) * (size_t)p * sizeof *r.x);
    memcpy(r.x, all + *lo * (size_t)p, r.n * (size_t)p * sizeof *r.x);
    r.first = *lo;
    r.total = n;
    return r;
}

/* blobs: k centres far apart in p dimensions, n rows, truth[i] the blob */
static double *make_blobs(size_t n, int p, int k, double spread, int *truth)
{
    double *c = malloc((size_t)k * (size_t)p * sizeof *c), *x = malloc(n * (size_t)p * sizeof *x);
    rs = 12345;
    for (int q = 0; q < k; q++)
        for (int j = 0; j < p; j++) c[q * p + j] = 10 * gauss();
    for (size_t i = 0; i < n; i++) {
        int q = (int)(unif() * k);
        truth[i] = q;
        for (int j = 0; j < p; j++) x[i * (size_t)p + (size_t)j] = c[q * p + j] + spread * gauss();
    }
    free(c);
    return x;
}

/* ---- matching ------------------------------------------------------------------------------- */

static uint64_t best_exhaustive(int K, int C, const uint64_t *cnt, int k, unsigned used)
{
    uint64_t best = 0;
    if (k == K) return 0;
    best = best_exhaustive(K, C, cnt, k + 1, used); /* cluster k unmatched */
    for (int c = 0; c < C; c++)
        if (!(used & (1u << c))) {
            uint64_t v = cnt[(size_t)k * (size_t)C + (size_t)c] + best_exhaustive(K, C, cnt, k + 1, used | (1u << c));
            if (v > best) best = v;
        }
    return best;
}

START_TEST(test_matching_is_the_best_assignment)
{
    int ok = 1;
    char msg[256] = "";
    rs = 7;
    for (int trial = 0; trial < 300 && ok; trial++) {
        int K = 1 + (int)(unif() * 6), C = 1 + (int)(unif() * 6), match[8];
        uint64_t cnt[64], got, want, check = 0;
        unsigned seen = 0;
        for (int q = 0; q < K * C; q++) cnt[q] = (uint64_t)(unif() * 50);
        got = gmr__seg_match(K, C, cnt, match);
        want = best_exhaustive(K, C, cnt, 0, 0);
        for (int q = 0; q < K; q++)
            if (match[q] >= 0) {
                check += cnt[(size_t)q * (size_t)C + (size_t)match[q]];
                if (seen & (1u << match[q])) ok = 0;
                seen |= 1u << match[q];
            }
        if (got != want || check != got) {
            ok = 0;
            snprintf(msg, sizeof msg, "trial %d (%d x %d): matched %llu (sum %llu), exhaustive best %llu", trial, K, C,
                     (unsigned long long)got, (unsigned long long)check, (unsigned long long)want);
        }
    }
    all_assert(ok, "%s", msg);
}
END_TEST

/* ---- standardisation -------------------------------------------------------------------------- */

START_TEST(test_standardize_imputes_drops_and_matches_long_double)
{
    size_t n = 501, lo;
    int p = 5, ok = 1;
    double *all = malloc(n * (size_t)p * sizeof *all), mean[5], sd[5];
    uint64_t miss[5];
    unsigned char drop[5], as[5];
    gmr__seg_scale sc = {mean, sd, miss, drop, as};
    gmr__seg_rows r;
    char msg[256] = "";
    rs = 99;
    for (size_t i = 0; i < n; i++) {
        double *x = all + i * (size_t)p;
        x[0] = 1000 + 0.01 * gauss();                 /* large mean, tiny spread */
        x[1] = i % 7 == 3 ? NAN : 5 * gauss() - 2;    /* empty cells */
        x[2] = 4.25;                                  /* constant: dropped */
        x[3] = NAN;                                   /* all empty: dropped */
        x[4] = i == 17 ? 1e6 : gauss();               /* an outlier: clipped at +32 */
    }
    r = local_rows(all, n, p, &lo);
    ck_assert_int_eq(gmr__seg_standardize(MPI_COMM_WORLD, &r, 0, &sc), GMR_OK);
    for (int j = 0; j < p && ok; j++) {
        long double s = 0, s2 = 0, m, v;
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            if (!isnan(all[i * (size_t)p + (size_t)j])) s += all[i * (size_t)p + (size_t)j], c++;
        m = c ? s / c : 0;
        for (size_t i = 0; i < n; i++)
            if (!isnan(all[i * (size_t)p + (size_t)j])) s2 += (all[i * (size_t)p + (size_t)j] - m) * (all[i * (size_t)p + (size_t)j] - m);
        v = sqrtl(s2 / n);
        if (miss[j] != n - c) ok = 0, snprintf(msg, sizeof msg, "column %d: %llu missing, expected %zu", j, (unsigned long long)miss[j], n - c);
        if ((j == 2 || j == 3) != (drop[j] != 0)) ok = 0, snprintf(msg, sizeof msg, "column %d: dropped %d", j, drop[j]);
        if (j < 2 && (fabs(mean[j] - (double)m) > 1e-12 * fabs((double)m) + 1e-15 || fabs(sd[j] - (double)v) > 1e-12 * (double)v))
            ok = 0, snprintf(msg, sizeof msg, "column %d: mean %.17g sd %.17g, expected %.17Lg %.17Lg", j, mean[j], sd[j], m, v);
        for (size_t i = 0; i < r.n && ok; i++) {
            double raw = all[(lo + i) * (size_t)p + (size_t)j], z = r.x[i * (size_t)p + (size_t)j];
            double want = (j == 2 || j == 3 || isnan(raw)) ? 0 : (double)((raw - m) / v);
            if (want > 32) want = 32;
            if (fabs(z - want) > 1e-9 * (1 + fabs(want)))
                ok = 0, snprintf(msg, sizeof msg, "row %zu column %d: %.17g, expected %.17g", lo + i, j, z, want);
        }
    }
    all_assert(ok, "%s", msg);
    free(r.x);
    free(all);
}
END_TEST

/* ---- k-means ---------------------------------------------------------------------------------- */

START_TEST(test_kmeans_recovers_separated_blobs_on_any_rank_count)
{
    size_t n = 1200, lo;
    int p = 6, k = 5, ok = 1, *truth = malloc(n * sizeof *truth), *all_assign = malloc(n * sizeof(int)), match[5];
    double *all = make_blobs(n, p, k, 0.5, truth), mean[6], sd[6];
    uint64_t miss[6], cnt[25] = {0}, tot[25];
    unsigned char drop[6], as[6];
    gmr__seg_scale sc = {mean, sd, miss, drop, as};
    gmr__seg_rows r = local_rows(all, n, p, &lo), self;
    gmr__kmeans_opts o = {k, 4, 100, 42};
    gmr__kmeans_result res, ref;
    char msg[256] = "";

    ck_assert_int_eq(gmr__seg_standardize(MPI_COMM_WORLD, &r, 0, &sc), GMR_OK);
    ck_assert_int_eq(gmr__kmeans(MPI_COMM_WORLD, &r, &o, &res), GMR_OK);
    for (size_t i = 0; i < r.n; i++) cnt[(size_t)res.assign[i] * (size_t)k + (size_t)truth[lo + i]]++;
    MPI_Allreduce(cnt, tot, k * k, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (gmr__seg_match(k, k, tot, match) != n) ok = 0, snprintf(msg, sizeof msg, "the blobs are not recovered exactly");
    /* centroids: the standardised blob means, computed here from every row */
    {
        gmr__seg_rows whole = {n, p, malloc(n * (size_t)p * sizeof(double)), 0, n};
        memcpy(whole.x, all, n * (size_t)p * sizeof(double));
        ck_assert_int_eq(gmr__seg_standardize(MPI_COMM_SELF, &whole, 0, &sc), GMR_OK);
        for (int q = 0; q < k && ok; q++) {
            int blob = match[q];
            for (int j = 0; j < p && ok; j++) {
                long double s = 0;
                size_t c = 0;
                for (size_t i = 0; i < n; i++)
                    if (truth[i] == blob) s += whole.x[i * (size_t)p + (size_t)j], c++;
                if (fabs(res.centroids[q * p + j] - (double)(s / c)) > 1e-9)
                    ok = 0, snprintf(msg, sizeof msg, "centroid %d feature %d: %.17g, expected %.17Lg", q, j,
                                     res.centroids[q * p + j], s / c);
            }
        }
        /* the same call on all rows alone: the same bits */
        self = whole;
        ck_assert_int_eq(gmr__kmeans(MPI_COMM_SELF, &self, &o, &ref), GMR_OK);
        if (memcmp(ref.centroids, res.centroids, (size_t)k * (size_t)p * sizeof(double)) != 0 || ref.inertia != res.inertia)
            ok = 0, snprintf(msg, sizeof msg, "centroids or inertia (%.17g vs %.17g) differ from one rank's", res.inertia,
                             ref.inertia);
        for (size_t i = 0; i < r.n && ok; i++)
            if (ref.assign[lo + i] != res.assign[i]) ok = 0, snprintf(msg, sizeof msg, "row %zu assigned differently", lo + i);
        /* silhouette with every row in the sample: computed here directly */
        if (ok) {
            double s, want = 0;
            ck_assert_int_eq(gmr__silhouette(MPI_COMM_WORLD, &r, res.assign, k, (int)n, 3, &s), GMR_OK);
            for (size_t i = 0; i < n; i++) {
                double sum[5] = {0}, a, b = INFINITY;
                size_t c[5] = {0};
                for (size_t j = 0; j < n; j++) {
                    c[ref.assign[j]]++;
                    if (j != i) {
                        double d = 0;
                        for (int f = 0; f < p; f++) {
                            double t = whole.x[i * (size_t)p + (size_t)f] - whole.x[j * (size_t)p + (size_t)f];
                            d += t * t;
                        }
                        sum[ref.assign[j]] += sqrt(d);
                    }
                }
                a = sum[ref.assign[i]] / (double)(c[ref.assign[i]] - 1);
                for (int q = 0; q < k; q++)
                    if (q != ref.assign[i] && sum[q] / (double)c[q] < b) b = sum[q] / (double)c[q];
                want += (b - a) / (a > b ? a : b);
            }
            want /= (double)n;
            if (fabs(s - want) > 1e-12 || s < 0.8)
                ok = 0, snprintf(msg, sizeof msg, "silhouette %.17g, expected %.17g (and > 0.8)", s, want);
        }
        gmr__kmeans_free(&ref);
        free(whole.x);
    }
    all_assert(ok, "%s", msg);
    gmr__kmeans_free(&res);
    free(r.x);
    free(all);
    free(truth);
    free(all_assign);
}
END_TEST

START_TEST(test_kmeans_rejects_more_clusters_than_rows)
{
    double x[4] = {0, 1, 2, 3};
    gmr__seg_rows r = {rank == 0 ? 4u : 0u, 1, x, 0, 4};
    gmr__kmeans_opts o = {5, 1, 10, 1};
    gmr__kmeans_result res;
    gmr_err e = gmr__kmeans(MPI_COMM_WORLD, &r, &o, &res);
    all_assert(e == GMR_ERR_ARG, "k = 5 for 4 rows gave %d, expected GMR_ERR_ARG", (int)e);
}
END_TEST

/* ---- the classifier --------------------------------------------------------------------------- */

/* long-double gradient of the mean negative log-likelihood at theta, from all rows */
static void reference_gradient(const double *x, const int *y, size_t n, int p, int C, const double *theta, long double *g)
{
    memset(g, 0, ((size_t)p + 1) * (size_t)C * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        long double z[8], mx = -INFINITY, s = 0;
        for (int c = 0; c < C; c++) {
            z[c] = theta[p * C + c];
            for (int j = 0; j < p; j++) z[c] += (long double)x[i * (size_t)p + (size_t)j] * theta[j * C + c];
            if (z[c] > mx) mx = z[c];
        }
        for (int c = 0; c < C; c++) s += (z[c] = expl(z[c] - mx));
        for (int c = 0; c < C; c++) {
            long double r = z[c] / s - (c == y[i]);
            for (int j = 0; j < p; j++) g[j * C + c] += x[i * (size_t)p + (size_t)j] * r / n;
            g[p * C + c] += r / n;
        }
    }
}

START_TEST(test_mlogit_kkt_separable_and_rank_independent)
{
    size_t n = 600, lo;
    int p = 4, C = 3, ok = 1, *y = malloc(n * sizeof *y), *ylo, it;
    double *all = make_blobs(n, p, C, 1.5, y), mean[4], sd[4], lmax, lip = 0, theta[15] = {0}, self_theta[15] = {0};
    uint64_t miss[4], m;
    unsigned char drop[4], as[4];
    gmr__seg_scale sc = {mean, sd, miss, drop, as};
    gmr__seg_rows r, whole = {n, p, all, 0, n};
    gmr__mlogit_opts o = {5000, 1e-10};
    long double g[15];
    char msg[256] = "";

    ck_assert_int_eq(gmr__seg_standardize(MPI_COMM_SELF, &whole, 0, &sc), GMR_OK);
    r = local_rows(all, n, p, &lo);
    ylo = y + lo;
    ck_assert_int_eq(gmr__mlogit_lambda_max(MPI_COMM_WORLD, &r, ylo, NULL, C, &lmax, &m), GMR_OK);
    ck_assert_uint_eq(m, n);
    /* at lambda_max every W stays 0 */
    ck_assert_int_eq(gmr__mlogit_fit(MPI_COMM_WORLD, &r, ylo, NULL, C, lmax * 1.0001, &o, theta, &lip, &it), GMR_OK);
    for (int q = 0; q < p * C; q++)
        if (theta[q] != 0) ok = 0, snprintf(msg, sizeof msg, "coefficient %d = %g at lambda_max", q, theta[q]);
    /* below it: KKT from the rows */
    memset(theta, 0, sizeof theta);
    lip = 0;
    ck_assert_int_eq(gmr__mlogit_fit(MPI_COMM_WORLD, &r, ylo, NULL, C, lmax * 0.05, &o, theta, &lip, &it), GMR_OK);
    reference_gradient(all, y, n, p, C, theta, g);
    for (int q = 0; q < (p + 1) * C && ok; q++) {
        double gq = (double)g[q], lam = q < p * C ? lmax * 0.05 : 0;
        int bad = theta[q] == 0 ? fabs(gq) > lam + 1e-5 : fabs(gq + lam * (theta[q] > 0 ? 1 : -1)) > 1e-5;
        if (bad) ok = 0, snprintf(msg, sizeof msg, "KKT at %d: theta %.6g gradient %.9g lambda %.6g (%d iterations)", q, theta[q], gq, lam, it);
    }
    /* separable: no training error */
    for (size_t i = 0; i < n && ok; i++)
        if (gmr__mlogit_predict(p, C, theta, all + i * (size_t)p) != y[i]) ok = 0, snprintf(msg, sizeof msg, "row %zu misclassified", i);
    /* the same bits alone */
    lip = 0;
    ck_assert_int_eq(gmr__mlogit_fit(MPI_COMM_SELF, &whole, y, NULL, C, lmax * 0.05, &o, self_theta, &lip, &it), GMR_OK);
    if (ok && memcmp(theta, self_theta, sizeof theta) != 0) ok = 0, snprintf(msg, sizeof msg, "coefficients differ from one rank's");
    all_assert(ok, "%s", msg);
    free(r.x);
    free(all);
    free(y);
}
END_TEST

static Suite *segment_suite(void)
{
    Suite *s = suite_create("segment");
    TCase *tc = tcase_create("segment");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_matching_is_the_best_assignment);
    tcase_add_test(tc, test_standardize_imputes_drops_and_matches_long_double);
    tcase_add_test(tc, test_kmeans_recovers_separated_blobs_on_any_rank_count);
    tcase_add_test(tc, test_kmeans_rejects_more_clusters_than_rows);
    tcase_add_test(tc, test_mlogit_kkt_separable_and_rank_independent);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return mpi_test_main(argc, argv, segment_suite, "/tmp/gmr_check_segment_XXXXXX"); }
