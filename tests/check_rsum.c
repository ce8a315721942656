/* check_rsum.c: the reproducible row sums (src/core/rsum.h) at 1..4 ranks (CK_FORK=no, under
 * mpirun in tests/run.sh section 1).
 *
 * Random rows whose values span 16 decades with both signs (so that the order of the additions
 * shows in the last bits) are split among the ranks in several ways (even, rank 0 empty, ragged
 * cuts, all on the last rank) and summed by blocks: the result must be the same bits for every
 * split and equal to an independent serial evaluation of the canonical pairwise tree (written
 * here recursively from its definition, not with a stack), and close to the exact sum (xsum).
 * Also: the rows the exchange delivers, zero rows, one short block, exact sums across ranks,
 * and a missing push reported on every rank. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "core/rsum.h"
#include "core/xsum.h"
#include "testutil_mpi.h"

#define W 3 /* doubles per row, and the summed vector's length */

/* Row i's W values: deterministic in i only. */
static void row_values(uint64_t seed, size_t i, double *v)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL + 1;
    for (int c = 0; c < W; c++) {
        s ^= s >> 31;
        s *= 0x94D049BB133111EBULL;
        s ^= s >> 29;
        double u = (double)(s >> 11) / 9007199254740992.0;             /* [0, 1) */
        double e = (double)((s >> 3) % 1600) / 100.0 - 8.0;             /* 10^-8 .. 10^8 */
        v[c] = (u - 0.5) * pow(10.0, e);
    }
}

/* The canonical tree, from its definition: node (k, j) covers blocks [j 2^k, (j+1) 2^k) cut at
 * nb and is left + right (just left when the right is empty). bs: nb block sums of W. */
static void tree(const double *bs, uint64_t nb, int k, uint64_t j, double *out)
{
    uint64_t lo = j << k, mid = lo + ((uint64_t)1 << (k > 0 ? k - 1 : 0));
    if (k == 0) {
        memcpy(out, bs + lo * W, W * sizeof *out);
        return;
    }
    tree(bs, nb, k - 1, 2 * j, out);
    if (mid < nb) {
        double r[W];
        tree(bs, nb, k - 1, 2 * j + 1, r);
        for (int c = 0; c < W; c++) out[c] += r[c];
    }
}

/* The serial reference: block sums in row order, then the tree. */
static void reference(uint64_t seed, size_t n, size_t R, double *out)
{
    uint64_t nb = (n + R - 1) / R;
    int K = 0;
    double *bs = calloc(nb * W + 1, sizeof *bs), v[W];
    ck_assert(bs != NULL);
    for (size_t i = 0; i < n; i++) {
        row_values(seed, i, v);
        for (int c = 0; c < W; c++) bs[(i / R) * W + c] += v[c];
    }
    while (((uint64_t)1 << K) < nb) K++;
    if (nb)
        tree(bs, nb, K, 0, out);
    else
        memset(out, 0, W * sizeof *out);
    free(bs);
}

/* This rank's rows [lo, hi) under split `how` of n rows. */
static void split(size_t n, int how, uint64_t seed, size_t *lo, size_t *hi)
{
    size_t cut[5];
    cut[0] = 0;
    cut[size] = n;
    for (int r = 1; r < size; r++) {
        switch (how) {
        case 0: cut[r] = n * (size_t)r / (size_t)size; break;                        /* even */
        case 1: cut[r] = r == 1 ? 0 : n * (size_t)(r - 1) / (size_t)(size - 1); break; /* rank 0 empty */
        case 2: cut[r] = (size_t)((seed * 7919 + (uint64_t)r * 104729) % (n + 1)); break; /* ragged */
        default: cut[r] = 0; break;                                                  /* all on the last */
        }
    }
    for (int r = 2; r < size; r++) /* ragged cuts sorted */
        for (int q = r; q > 1 && cut[q] < cut[q - 1]; q--) {
            size_t t = cut[q];
            cut[q] = cut[q - 1];
            cut[q - 1] = t;
        }
    *lo = cut[rank];
    *hi = cut[rank + 1];
}

/* The distributed sum of rows [lo, hi) by blocks of R: the rows of this rank's blocks (its own
 * after the head, then the received tail) summed in order, one push per block. */
static gmr_err rsum_rows(uint64_t seed, size_t lo, size_t hi, size_t R, double *out, int drop_one_push)
{
    gmr_err e;
    gmr__rsum *rs = NULL;
    uint64_t b0, b1;
    size_t nhead, ntail;
    double *head = NULL, *tail = NULL;
    e = gmr__rsum_create(MPI_COMM_WORLD, hi - lo, R, W, &rs);
    if (e) return e;
    gmr__rsum_shape(rs, NULL, NULL, &b0, &b1, &nhead, &ntail);
    head = malloc((nhead + 1) * W * sizeof *head);
    tail = malloc((ntail + 1) * W * sizeof *tail);
    ck_assert(head && tail);
    for (size_t i = 0; i < nhead; i++) row_values(seed, lo + i, head + i * W);
    e = gmr__rsum_exchange(rs, head, W, tail);
    if (!e) {
        /* the tail is the global rows right after mine */
        int ok = 1;
        for (size_t i = 0; i < ntail && ok; i++) {
            double v[W];
            row_values(seed, hi + i, v);
            ok = memcmp(v, tail + i * W, sizeof v) == 0;
        }
        all_assert(ok, "the exchange delivered the wrong rows");
        gmr__rsum_begin(rs, W);
        for (uint64_t b = b0; b < b1; b++) {
            double *s = gmr__rsum_slot(rs);
            size_t g0 = (size_t)b * R, g1 = g0 + R;
            ck_assert(s != NULL);
            memset(s, 0, W * sizeof *s);
            for (size_t g = g0; g < g1; g++) {
                double v[W];
                if (g >= hi + ntail) break;
                if (g < hi)
                    row_values(seed, g, v);
                else
                    memcpy(v, tail + (g - hi) * W, sizeof v);
                for (int c = 0; c < W; c++) s[c] += v[c];
            }
            if (!(drop_one_push && b == b1 - 1)) gmr__rsum_push(rs);
        }
        e = gmr__rsum_finish(rs, out);
    }
    free(head);
    free(tail);
    gmr__rsum_destroy(&rs);
    return e;
}

START_TEST(test_same_bits_for_every_split_and_the_canonical_tree)
{
    static const size_t ns[] = {0, 5, 512, 1000, 2049};
    static const size_t Rs[] = {1, 7, 64, 512};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof Rs / sizeof Rs[0]; b++) {
            size_t n = ns[a], R = Rs[b], lo, hi;
            uint64_t seed = 11 + a * 5 + b;
            double ref[W], got[W];
            gmr__xsum x[W];
            double sabs[W] = {0, 0, 0};
            reference(seed, n, R, ref);
            for (int c = 0; c < W; c++) gmr__xsum_init(&x[c]);
            for (size_t i = 0; i < n; i++) {
                double v[W];
                row_values(seed, i, v);
                for (int c = 0; c < W; c++) {
                    gmr__xsum_add(&x[c], v[c]);
                    sabs[c] += fabs(v[c]);
                }
            }
            for (int how = 0; how < 4; how++) {
                gmr_err e;
                split(n, how, seed, &lo, &hi);
                e = rsum_rows(seed, lo, hi, R, got, 0);
                all_assert(e == GMR_OK, "n %zu R %zu split %d: %s", n, R, how, gmr_err_message());
                all_assert(memcmp(got, ref, sizeof got) == 0,
                           "n %zu R %zu split %d [%zu, %zu) on %d ranks: %.17g %.17g %.17g, the serial tree %.17g %.17g %.17g",
                           n, R, how, lo, hi, size, got[0], got[1], got[2], ref[0], ref[1], ref[2]);
                for (int c = 0; c < W; c++) {
                    double exact = gmr__xsum_round(&x[c]);
                    /* in order within a block, pairwise above: |error| <= (R + log2(nb) + 1) u sum |x| */
                    all_assert(fabs(got[c] - exact) <= (double)(R + 14) * 0x1p-53 * sabs[c],
                               "n %zu R %zu: sum %.17g, exact %.17g", n, R, got[c], exact);
                }
            }
        }
}
END_TEST

START_TEST(test_a_missing_push_fails_on_every_rank)
{
    size_t lo, hi;
    double got[W];
    gmr_err e;
    split(3000, 0, 1, &lo, &hi);
    e = rsum_rows(1, lo, hi, 100, got, 1);
    all_assert(e == GMR_ERR_STATE, "a missing push gave %d (%s)", (int)e, gmr_err_message());
    gmr_err_clear();
}
END_TEST

START_TEST(test_exact_sums_across_ranks)
{
    gmr__xsum mine[2], all[2], ref[2];
    double v[W];
    for (int c = 0; c < 2; c++) {
        gmr__xsum_init(&mine[c]);
        gmr__xsum_init(&ref[c]);
    }
    for (size_t i = 0; i < 4000; i++) {
        row_values(99, i, v);
        gmr__xsum_add(&ref[0], v[0]);
        gmr__xsum_add(&ref[1], v[1]);
        if ((int)(i % (size_t)size) == rank) {
            gmr__xsum_add(&mine[0], v[0]);
            gmr__xsum_add(&mine[1], v[1]);
        }
    }
    all_assert(gmr__xsum_allreduce(MPI_COMM_WORLD, mine, all, 2) == GMR_OK, "%s", gmr_err_message());
    all_assert(gmr__xsum_round(&all[0]) == gmr__xsum_round(&ref[0]) && gmr__xsum_round(&all[1]) == gmr__xsum_round(&ref[1]),
               "exact sums across ranks: %.17g vs %.17g", gmr__xsum_round(&all[0]), gmr__xsum_round(&ref[0]));
    /* in place */
    all_assert(gmr__xsum_allreduce(MPI_COMM_WORLD, mine, mine, 2) == GMR_OK &&
                   gmr__xsum_round(&mine[1]) == gmr__xsum_round(&ref[1]),
               "in place: %.17g vs %.17g", gmr__xsum_round(&mine[1]), gmr__xsum_round(&ref[1]));
}
END_TEST

static Suite *rsum_suite(void)
{
    Suite *s = suite_create("rsum");
    TCase *tc = tcase_create("reproducible");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_same_bits_for_every_split_and_the_canonical_tree);
    tcase_add_test(tc, test_a_missing_push_fails_on_every_rank);
    tcase_add_test(tc, test_exact_sums_across_ranks);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return mpi_test_main(argc, argv, rsum_suite, "/tmp/gmr_check_rsum_XXXXXX"); }
