/* check_xsum.c - specification tests for the exact accumulator (src/core/xsum.c).
 *
 * What must hold: sums are exact until the single final rounding, which is
 * to nearest with ties to even; the result and the raw 256-bit state do not
 * depend on the order of adds or on how partial accumulators are merged;
 * out-of-range inputs are refused without touching the state; inputs are
 * first rounded to the 2^-128 grid (so tiny values can vanish).
 *
 * References are independent of the code under test: hardware a + b (one
 * IEEE addition is correctly rounded), and exact __int128 sums of values on
 * a coarse grid, rounded by a separate, plain __int128 routine that is itself
 * cross-checked against the compiler's __int128 -> double conversion.
 * Fixed seeds, so a failure reproduces.
 */
#define _XOPEN_SOURCE 700
#include "core/xsum.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

/* ---- helpers ---------------------------------------------------------- */

static int bits_equal(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

#define ASSERT_SAME_DOUBLE(expected, actual)                                          \
    do {                                                                              \
        double e_ = (expected), a_ = (actual);                                        \
        ck_assert_msg(bits_equal(e_, a_), "%s: expected %a, got %a", #actual, e_, a_); \
    } while (0)

static double sum_of(const double *x, size_t n)
{
    gmr__xsum s;
    gmr__xsum_init(&s);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(gmr__xsum_add(&s, x[i]) == 0, "add(%a) refused", x[i]);
    return gmr__xsum_round(&s);
}

static void shuffle(double *x, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(i);
        double t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

/* Random double with a random exponent in [lo, hi] and random sign and
 * mantissa: magnitudes spread evenly on a log scale. */
static double rand_double_exp(int lo, int hi)
{
    uint64_t mant = rng_next() & ((UINT64_C(1) << 52) - 1);
    double x = ldexp(1.0 + ldexp((double)mant, -52), lo + (int)rng_below((uint64_t)(hi - lo + 1)));
    return (rng_next() & 1) ? -x : x;
}

/* Reference rounding of v * 2^-scale to double, nearest-even, in plain
 * __int128 arithmetic: keep 53 bits, compare the rest with half. Results in
 * these tests are far from the overflow and subnormal ranges. */
static double ref_round_i128(i128 v, int scale)
{
    if (v == 0)
        return 0.0;
    int neg = v < 0;
    u128 mag = neg ? (u128)0 - (u128)v : (u128)v;
    int p = 127;
    while (!((mag >> p) & 1))
        p--;
    int r = p > 52 ? p - 52 : 0;
    u128 q = mag >> r;
    if (r > 0) {
        u128 rem = mag & (((u128)1 << r) - 1);
        u128 half = (u128)1 << (r - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
    }
    double d = ldexp((double)(uint64_t)q, r - scale); /* q <= 2^53: exact */
    return neg ? -d : d;
}

/* ---- simple sums ------------------------------------------------------ */

START_TEST(test_empty_is_positive_zero)
{
    gmr__xsum s;
    memset(&s, 0xab, sizeof s);
    gmr__xsum_init(&s);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(s.limb[i] == 0, "limb[%d]: expected 0, got %#llx", i,
                      (unsigned long long)s.limb[i]);
    ASSERT_SAME_DOUBLE(0.0, gmr__xsum_round(&s));
}
END_TEST

START_TEST(test_simple_sums)
{
    double a[] = {1.0, 2.0, 3.5};
    ASSERT_SAME_DOUBLE(6.5, sum_of(a, 3));
    double b[] = {0.1, 0.2};
    ASSERT_SAME_DOUBLE(0.1 + 0.2, sum_of(b, 2)); /* one IEEE add is correctly rounded */
    double c[] = {-1.25, 0.5, -0.25};
    ASSERT_SAME_DOUBLE(-1.0, sum_of(c, 3));
    double d[] = {0x1p-128};
    ASSERT_SAME_DOUBLE(0x1p-128, sum_of(d, 1)); /* the grid step itself is exact */
    double e[] = {0x1.fffffffffffffp79, 0x1p-128};
    ASSERT_SAME_DOUBLE(0x1.fffffffffffffp79, sum_of(e, 2));
    double f[] = {1000.0, -1000.0};
    ASSERT_SAME_DOUBLE(0.0, sum_of(f, 2)); /* exact zero is +0.0 */
}
END_TEST

START_TEST(test_zeros_add_nothing)
{
    gmr__xsum s;
    gmr__xsum_init(&s);
    ck_assert_int_eq(gmr__xsum_add(&s, -0.0), 0);
    ck_assert_int_eq(gmr__xsum_add(&s, 0.0), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(s.limb[i] == 0, "limb[%d]: expected 0, got %#llx", i,
                      (unsigned long long)s.limb[i]);
    ASSERT_SAME_DOUBLE(0.0, gmr__xsum_round(&s)); /* +0.0, not -0.0 */
    double a[] = {-0.0, -0.0};
    ASSERT_SAME_DOUBLE(0.0, sum_of(a, 2));
    double b[] = {-3.0, 3.0};
    ASSERT_SAME_DOUBLE(0.0, sum_of(b, 2));
}
END_TEST

/* Every pair sum is checked against hardware addition, which IEEE 754
 * requires to be correctly rounded to nearest-even. Magnitudes stay well
 * above the grid so no input is grid-rounded. */
START_TEST(test_pairs_match_hardware_add)
{
    rng_seed(11);
    for (int i = 0; i < 200000; i++) {
        double a = rand_double_exp(-60, 79), b;
        if (i & 1)
            b = rand_double_exp(-60, 79);
        else /* nearby magnitudes: cancellation and carries */
            b = rand_double_exp(ilogb(a) - 3, ilogb(a) + 3 > 79 ? 79 : ilogb(a) + 3);
        double pair[2] = {a, b};
        double got = sum_of(pair, 2);
        ck_assert_msg(bits_equal(a + b, got), "%a + %a: expected %a, got %a", a, b, a + b, got);
    }
}
END_TEST

/* ---- cancellation ----------------------------------------------------- */

START_TEST(test_catastrophic_cancellation_any_order)
{
    static const int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const double v[3] = {1e16, 1.0, -1e16};
    for (int k = 0; k < 6; k++) {
        double x[3] = {v[perm[k][0]], v[perm[k][1]], v[perm[k][2]]};
        double got = sum_of(x, 3);
        ck_assert_msg(bits_equal(1.0, got), "order %d: expected %a, got %a", k, 1.0, got);
    }
    /* spread over the whole range: 2^79 + 2^-128 - 2^79 */
    double w[3] = {0x1p79, 0x1p-128, -0x1p79};
    ASSERT_SAME_DOUBLE(0x1p-128, sum_of(w, 3));
}
END_TEST

/* Random values over the full accepted range, then all their negations in
 * another order, plus a known payload: everything must cancel exactly. */
START_TEST(test_full_range_cancellation)
{
    enum { N = 5000 };
    static double x[2 * N + 3];
    rng_seed(12);
    for (int i = 0; i < N; i++) {
        x[i] = rand_double_exp(-76, 79); /* >= 2^-76: on the grid, no rounding */
        x[N + i] = -x[i];
    }
    x[2 * N] = 0x1p-100;
    x[2 * N + 1] = 3.0;
    x[2 * N + 2] = -0x1p-128;
    shuffle(x, 2 * N + 3);
    /* exact value 3 + 2^-100 - 2^-128 is far below half an ulp of 3 */
    ASSERT_SAME_DOUBLE(3.0, sum_of(x, 2 * N + 3));

    /* again, with a payload whose exact value is representable */
    for (int i = 0; i < N; i++) {
        x[i] = rand_double_exp(-76, 79);
        x[N + i] = -x[i];
    }
    x[2 * N] = 0x1p-100;
    x[2 * N + 1] = -0x1p-99;
    x[2 * N + 2] = 0x1p-128;
    shuffle(x, 2 * N + 3);
    ASSERT_SAME_DOUBLE(-0x1p-100 + 0x1p-128, sum_of(x, 2 * N + 3));
}
END_TEST

/* ---- random sums against an exact integer reference ------------------- */

/* Values x = m * 2^e with e >= -scale and |x| < 2^(hibits - scale), so
 * x * 2^scale is an integer below 2^hibits and n of them sum exactly in
 * __int128. Mantissa widths (1..53 bits) and exponents are random, which
 * mixes magnitudes over the whole window. */
static void check_random_against_i128(uint64_t seed, int scale, int hibits, int n, int trials)
{
    double *x = malloc((size_t)n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    rng_seed(seed);
    for (int t = 0; t < trials; t++) {
        i128 ref = 0;
        for (int i = 0; i < n; i++) {
            int k = 1 + (int)rng_below(hibits < 53 ? (uint64_t)hibits : 53); /* bits in m */
            int emax = hibits - k - scale;             /* keeps |m| * 2^(e+scale) < 2^hibits */
            int e = -scale + (int)rng_below((uint64_t)(emax + scale + 1));
            int64_t m = (int64_t)(rng_next() >> (64 - k)) | ((int64_t)1 << (k - 1));
            if (rng_next() & 1)
                m = -m;
            x[i] = ldexp((double)m, e);                /* exact: |m| < 2^53 */
            ref += (i128)m * ((i128)1 << (e + scale)); /* no shift of negatives */
        }
        double expected = ref_round_i128(ref, scale);
        double got = sum_of(x, (size_t)n);
        ck_assert_msg(bits_equal(expected, got), "seed %llu trial %d: expected %a, got %a",
                      (unsigned long long)seed, t, expected, got);
    }
    free(x);
}

START_TEST(test_random_grid20_vs_int128)
{
    /* multiples of 2^-20 below 2^30 */
    check_random_against_i128(21, 20, 50, 1000, 200);
}
END_TEST

START_TEST(test_random_grid60_vs_int128)
{
    /* wider: multiples of 2^-60 below 2^40; 4096 terms < 2^112 fits i128 */
    check_random_against_i128(22, 60, 100, 4096, 100);
}
END_TEST

START_TEST(test_random_small_sums_vs_int128)
{
    /* few terms, so results often sit on or near rounding boundaries */
    check_random_against_i128(23, 60, 100, 3, 20000);
    check_random_against_i128(24, 20, 74, 7, 20000);
}
END_TEST

/* The reference rounding is itself checked against the compiler's
 * __int128 -> double conversion (libgcc, correctly rounded) at scale 0. */
START_TEST(test_reference_rounding_is_sound)
{
    rng_seed(25);
    for (int i = 0; i < 100000; i++) {
        int sh = (int)rng_below(60);
        i128 v = (i128)(((u128)rng_next() << 64 | rng_next()) >> (sh + 3));
        if (rng_next() & 1)
            v = -v;
        ck_assert_msg(bits_equal((double)v, ref_round_i128(v, 0)), "reference disagrees with cast: %a vs %a",
                      (double)v, ref_round_i128(v, 0));
    }
    ASSERT_SAME_DOUBLE(0x1p53, ref_round_i128(((i128)1 << 53) + 1, 0));
    ASSERT_SAME_DOUBLE(0x1p53 + 4, ref_round_i128(((i128)1 << 53) + 3, 0));
}
END_TEST

/* ---- order independence ----------------------------------------------- */

/* Merge an array of partial accumulators pairwise in a random tree. */
static void merge_random_tree(gmr__xsum *part, int k)
{
    while (k > 1) {
        int i = (int)rng_below((uint64_t)k), j = (int)rng_below((uint64_t)(k - 1));
        if (j >= i)
            j++;
        gmr__xsum_merge(&part[i], &part[j]);
        part[j] = part[k - 1];
        if (i == k - 1)
            i = j;
        k--;
    }
}

START_TEST(test_permutation_and_merge_invariance)
{
    enum { N = 20000, KMAX = 37 };
    static double x[N];
    rng_seed(31);
    for (int i = 0; i < N; i++) /* includes values that get grid-rounded */
        x[i] = rand_double_exp(-140, 70);

    gmr__xsum base;
    gmr__xsum_init(&base);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(gmr__xsum_add(&base, x[i]), 0);
    double base_d = gmr__xsum_round(&base);

    for (int trial = 0; trial < 50; trial++) {
        shuffle(x, N);
        int k = 1 + (int)rng_below(KMAX);
        gmr__xsum part[KMAX];
        for (int p = 0; p < k; p++)
            gmr__xsum_init(&part[p]);
        for (int i = 0; i < N; i++) /* uneven, random chunking */
            ck_assert_int_eq(gmr__xsum_add(&part[rng_below((uint64_t)k)], x[i]), 0);
        merge_random_tree(part, k);
        ck_assert_msg(memcmp(&base, &part[0], sizeof base) == 0, "trial %d (k=%d): state differs", trial, k);
        double got = gmr__xsum_round(&part[0]);
        ck_assert_msg(bits_equal(base_d, got), "trial %d (k=%d): expected %a, got %a", trial, k, base_d, got);
    }
}
END_TEST

/* Merging must not be sensitive to carries across limbs or sign. */
START_TEST(test_merge_with_carries)
{
    gmr__xsum a, b;
    gmr__xsum_init(&a);
    gmr__xsum_init(&b);
    ck_assert_int_eq(gmr__xsum_add(&a, -0x1p-128), 0); /* all ones */
    ck_assert_int_eq(gmr__xsum_add(&b, 0x1p-127), 0);
    gmr__xsum_merge(&a, &b);
    ASSERT_SAME_DOUBLE(0x1p-128, gmr__xsum_round(&a));
    ck_assert_msg(a.limb[0] == 1 && a.limb[1] == 0 && a.limb[2] == 0 && a.limb[3] == 0,
                  "expected state {1,0,0,0}, got {%#llx,%#llx,%#llx,%#llx}", (unsigned long long)a.limb[0],
                  (unsigned long long)a.limb[1], (unsigned long long)a.limb[2], (unsigned long long)a.limb[3]);
}
END_TEST

/* ---- rounding to nearest, ties to even --------------------------------- */

START_TEST(test_ties_to_even)
{
    double a[] = {0x1p53, 1.0}; /* 2^53 + 1: tie, even is 2^53 */
    ASSERT_SAME_DOUBLE(0x1p53, sum_of(a, 2));
    double b[] = {0x1p53, 3.0}; /* 2^53 + 3: tie, even is 2^53 + 4 */
    ASSERT_SAME_DOUBLE(0x1p53 + 4.0, sum_of(b, 2));
    double c[] = {0x1p53, 1.0, 0x1p-100}; /* just above the tie */
    ASSERT_SAME_DOUBLE(0x1p53 + 2.0, sum_of(c, 3));
    double d[] = {0x1p53, 1.0, -0x1p-128}; /* just below the tie */
    ASSERT_SAME_DOUBLE(0x1p53, sum_of(d, 3));
    double e[] = {1.0, 0x1p-53}; /* 1 + half ulp: even is 1 */
    ASSERT_SAME_DOUBLE(1.0, sum_of(e, 2));
    double f[] = {1.0, 0x1.8p-52}; /* 1 + 1.5 ulp: even is 1 + 2 ulp */
    ASSERT_SAME_DOUBLE(1.0 + 0x1p-51, sum_of(f, 2));
    double g[] = {-0x1p53, -1.0}; /* symmetric for negatives */
    ASSERT_SAME_DOUBLE(-0x1p53, sum_of(g, 2));
    double h[] = {-0x1p53, -3.0};
    ASSERT_SAME_DOUBLE(-0x1p53 - 4.0, sum_of(h, 2));
    double i[] = {0x1.fffffffffffffp0, 0x1p-53}; /* tie whose round-up carries into the exponent */
    ASSERT_SAME_DOUBLE(2.0, sum_of(i, 2));
    double j[] = {0x1p79, 0x1p79, 0x1p27}; /* 2^80 + half ulp: tie above the input range */
    ASSERT_SAME_DOUBLE(0x1p80, sum_of(j, 3));
    double j2[] = {0x1p79, 0x1p79, 0x1.8p28}; /* 2^80 + 1.5 ulp: even is 2^80 + 2 ulp */
    ASSERT_SAME_DOUBLE(0x1p80 + 0x1p29, sum_of(j2, 3));
    double k[] = {0x1p-128, 0x1p-75, 0x1p-75}; /* 2^-74 + 2^-128: far below the ulp */
    ASSERT_SAME_DOUBLE(0x1p-74, sum_of(k, 3));
}
END_TEST

START_TEST(test_negative_results)
{
    double a[] = {1.0, -2.5};
    ASSERT_SAME_DOUBLE(-1.5, sum_of(a, 2));
    double b[] = {-0x1p-128};
    ASSERT_SAME_DOUBLE(-0x1p-128, sum_of(b, 1));
    double c[] = {1e16, -1e16, -1.0, 0.25};
    ASSERT_SAME_DOUBLE(-0.75, sum_of(c, 4));
    double d[] = {-0.1, -0.2};
    ASSERT_SAME_DOUBLE(-0.1 + -0.2, sum_of(d, 2));
}
END_TEST

/* ---- range limits ------------------------------------------------------ */

START_TEST(test_rejects_nan_inf_and_2p80)
{
    const double bad[] = {NAN, -NAN, INFINITY, -INFINITY, 0x1p80, -0x1p80, 0x1.0000000000001p80, DBL_MAX, -DBL_MAX};
    gmr__xsum s, before;
    gmr__xsum_init(&s);
    ck_assert_int_eq(gmr__xsum_add(&s, 12.5), 0);
    before = s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = gmr__xsum_add(&s, bad[i]);
        ck_assert_msg(rc == -1, "add(%a): expected -1, got %d", bad[i], rc);
        ck_assert_msg(memcmp(&s, &before, sizeof s) == 0, "add(%a) changed the state", bad[i]);
    }
    ASSERT_SAME_DOUBLE(12.5, gmr__xsum_round(&s));
}
END_TEST

START_TEST(test_accepts_just_below_2p80)
{
    const double big = 0x1.fffffffffffffp79; /* nextafter(2^80, 0) */
    double a[] = {big};
    ASSERT_SAME_DOUBLE(big, sum_of(a, 1));
    double b[] = {-big};
    ASSERT_SAME_DOUBLE(-big, sum_of(b, 1));
    double c[] = {big, big};
    ASSERT_SAME_DOUBLE(2 * big, sum_of(c, 2)); /* sums may exceed 2^80 */

    /* headroom: 2^47 copies (by doubling merges) of the largest input,
     * (2^80 - 2^27) * 2^47 = 2^74 * (2^53 - 1), which is representable */
    for (int sign = -1; sign <= 1; sign += 2) {
        gmr__xsum s;
        gmr__xsum_init(&s);
        ck_assert_int_eq(gmr__xsum_add(&s, sign * big), 0);
        for (int i = 0; i < 47; i++) {
            gmr__xsum copy = s;
            gmr__xsum_merge(&s, &copy);
        }
        ASSERT_SAME_DOUBLE(sign * ldexp(big, 47), gmr__xsum_round(&s));
    }
}
END_TEST

/* ---- the 2^-128 grid --------------------------------------------------- */

/* Documented behaviour: each input is rounded to a multiple of 2^-128 on its
 * own (nearest, ties to even) before it is added, so values at or below
 * 2^-129 vanish and repeated tiny inputs do not accumulate. */
START_TEST(test_grid_rounding_of_tiny_values)
{
    double a[] = {0x1p-130, 0x1p-130, 0x1p-130, 0x1p-130}; /* exact sum 2^-128, but each rounds to 0 */
    ASSERT_SAME_DOUBLE(0.0, sum_of(a, 4));
    double b[] = {0x1p-129}; /* half a step: tie, even is 0 */
    ASSERT_SAME_DOUBLE(0.0, sum_of(b, 1));
    double c[] = {0x1.8p-128}; /* 1.5 steps: tie, even is 2 steps */
    ASSERT_SAME_DOUBLE(0x1p-127, sum_of(c, 1));
    double d[] = {0x1.8p-129}; /* 0.75 steps: nearest is 1 step */
    ASSERT_SAME_DOUBLE(0x1p-128, sum_of(d, 1));
    double e[] = {-0x1.8p-128}; /* symmetric for negatives */
    ASSERT_SAME_DOUBLE(-0x1p-127, sum_of(e, 1));
    double f[] = {0x1.0000000000001p-129}; /* just above half a step */
    ASSERT_SAME_DOUBLE(0x1p-128, sum_of(f, 1));
    double g[] = {0x1.fffffffffffffp-77}; /* 53 bits down to 2^-129: ties up to 2^-76 */
    ASSERT_SAME_DOUBLE(0x1p-76, sum_of(g, 1));
    double h[] = {0x1.ffffffffffffep-77}; /* last bit 2^-128: on the grid, exact */
    ASSERT_SAME_DOUBLE(0x1.ffffffffffffep-77, sum_of(h, 1));
    double i[] = {1.0, 0x1p-130, -1.0}; /* the tiny term is lost, not cancelled */
    ASSERT_SAME_DOUBLE(0.0, sum_of(i, 3));
}
END_TEST

/* Results can never be subnormal: the exact value lives on the 2^-128 grid,
 * and every input below 2^-129 (all subnormals, DBL_MIN) rounds to 0. */
START_TEST(test_subnormal_range_inputs_give_zero)
{
    double a[] = {DBL_MIN, 0x1p-1074, -0x1p-1074, 0x1.fffffffffffffp-1023, 0x1p-1000};
    ASSERT_SAME_DOUBLE(0.0, sum_of(a, 5));
    double b[] = {-DBL_MIN, -0x1p-1074};
    ASSERT_SAME_DOUBLE(0.0, sum_of(b, 2)); /* +0.0, not -0.0 */
    double c[] = {3.0, DBL_MIN, -3.0};
    ASSERT_SAME_DOUBLE(0.0, sum_of(c, 3));
    double d[] = {0x1p-128, DBL_MIN};
    ASSERT_SAME_DOUBLE(0x1p-128, sum_of(d, 2)); /* the smallest nonzero result */
}
END_TEST

/* ---- runner ------------------------------------------------------------ */

static Suite *xsum_suite(void)
{
    Suite *s = suite_create("xsum");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_is_positive_zero);
    tcase_add_test(tc, test_simple_sums);
    tcase_add_test(tc, test_zeros_add_nothing);
    tcase_add_test(tc, test_pairs_match_hardware_add);
    tcase_add_test(tc, test_catastrophic_cancellation_any_order);
    tcase_add_test(tc, test_full_range_cancellation);
    tcase_add_test(tc, test_random_grid20_vs_int128);
    tcase_add_test(tc, test_random_grid60_vs_int128);
    tcase_add_test(tc, test_random_small_sums_vs_int128);
    tcase_add_test(tc, test_reference_rounding_is_sound);
    tcase_add_test(tc, test_permutation_and_merge_invariance);
    tcase_add_test(tc, test_merge_with_carries);
    tcase_add_test(tc, test_ties_to_even);
    tcase_add_test(tc, test_negative_results);
    tcase_add_test(tc, test_rejects_nan_inf_and_2p80);
    tcase_add_test(tc, test_accepts_just_below_2p80);
    tcase_add_test(tc, test_grid_rounding_of_tiny_values);
    tcase_add_test(tc, test_subnormal_range_inputs_give_zero);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(xsum_suite()); }
