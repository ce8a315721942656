/* check_supply.c - specification tests for the pieces of `gridmr supply` that need no MPI
 * (src/apps/supply_jobs.c): the calendar and holidays, and the combiner's order independence.
 *
 * What must hold: weekdays are ISO (1 Monday .. 7 Sunday) and agree with dates known from
 * ordinary calendars; day numbers and YYYYMMDD convert both ways for every day of 1900-2100;
 * the holiday table flags the State Council's days off (Spring Festival 2026 is February
 * 15-23) and only fixed-date holidays outside 2024-2026; combining additive aggregates or
 * records in any order gives the same bytes (what makes the models independent of the rank
 * count), and a record combine keeps the smaller record and counts both. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "apps/supply_impl.h"
#include "testutil.h"

START_TEST(test_weekdays_known)
{
    static const struct { uint32_t ymd; int wd; } k[] = {
        {20260101, 4}, {20260217, 2}, {20240229, 4}, {20000101, 6}, {19700101, 4}, {19000101, 1}, {21000101, 5}, {20261130, 1}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        ck_assert_msg(gmr__sup_weekday(k[i].ymd) == k[i].wd, "%u: expected weekday %d, got %d", k[i].ymd, k[i].wd,
                      gmr__sup_weekday(k[i].ymd));
}
END_TEST

START_TEST(test_days_round_trip)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t z = gmr__sup_days(19000101);
    for (int y = 1900; y <= 2100; y++)
        for (int m = 1; m <= 12; m++) {
            int n = md[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
            for (int d = 1; d <= n; d++, z++) {
                uint32_t ymd = (uint32_t)(y * 10000 + m * 100 + d);
                REQUIRE(gmr__sup_days(ymd) == z, "%u: day %lld, expected %lld", ymd, (long long)gmr__sup_days(ymd), (long long)z);
                REQUIRE(gmr__sup_ymd(z) == ymd, "day %lld: %u, expected %u", (long long)z, gmr__sup_ymd(z), ymd);
            }
        }
    ck_assert_int_eq(gmr__sup_days(19700101), 0);
}
END_TEST

START_TEST(test_holidays)
{
    static const uint32_t yes[] = {20260101, 20260103, 20260215, 20260223, 20260405, 20260501, 20260505, 20260619,
                                   20260925, 20261001, 20261007, 20250128, 20251008, 20240210, 20300101, 20300503, 20301007};
    static const uint32_t no[] = {20260104, 20260214, 20260224, 20260506, 20260928, 20261008, 20251009, 20300212, 20300601};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) ck_assert_msg(gmr__sup_holiday(yes[i]), "%u is a holiday", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) ck_assert_msg(!gmr__sup_holiday(no[i]), "%u is not a holiday", no[i]);
}
END_TEST

static void combine_all(const gmr_job_ops *ops, uint64_t *acc, uint64_t (*v)[SUP_SLOTS], const int *order, int n)
{
    memcpy(acc, v[order[0]], SUP_SLOTS * sizeof *acc);
    for (int i = 1; i < n; i++) ops->combine(NULL, acc, v[order[i]]);
}

START_TEST(test_combine_order_independent)
{
    enum { N = 40 };
    uint64_t v[N][SUP_SLOTS], a[SUP_SLOTS], b[SUP_SLOTS];
    int order[N];
    uint64_t n = 0, sum = 0, zeros = 0;
    int64_t mx = INT64_MIN, mn = INT64_MAX;
    for (int i = 0; i < N; i++) {
        int64_t wh = (int64_t)rng_below(100000) - 1000;
        uint64_t t[SUP_SLOTS] = {SUP_ADD, 1, (uint64_t)wh, (uint64_t)wh, (uint64_t)wh, wh == 0, (uint64_t)i, 0};
        memcpy(v[i], t, sizeof t);
        order[i] = i;
        n++;
        sum += (uint64_t)wh;
        zeros += wh == 0;
        if (wh > mx) mx = wh;
        if (wh < mn) mn = wh;
    }
    combine_all(&gmr__sup_structured_ops, a, v, order, N);
    ck_assert_uint_eq(a[1], n);
    ck_assert_uint_eq(a[2], sum);
    ck_assert_int_eq((int64_t)a[3], mx);
    ck_assert_int_eq((int64_t)a[4], mn);
    ck_assert_uint_eq(a[5], zeros);
    for (int rep = 0; rep < 50; rep++) {
        for (int i = N; i > 1; i--) {
            int j = (int)rng_below((uint64_t)i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        combine_all(&gmr__sup_events_ops, b, v, order, N);
        REQUIRE(memcmp(a, b, sizeof a) == 0, "order %d gives another aggregate", rep);
    }
}
END_TEST

START_TEST(test_combine_record_keeps_smaller)
{
    uint64_t r[3][SUP_SLOTS] = {{SUP_RECORD, 1, 5, 9, 0, 0, 0, 1},
                                {SUP_RECORD, 1, 5, 8, 7, 7, 7, 7},
                                {SUP_RECORD, 1, 6, 0, 0, 0, 0, 0}};
    static const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int k = 0; k < 6; k++) {
        uint64_t a[SUP_SLOTS];
        combine_all(&gmr__sup_structured_ops, a, r, orders[k], 3);
        ck_assert_uint_eq(a[1], 3);
        ck_assert_msg(memcmp(a + 2, r[1] + 2, 6 * sizeof *a) == 0, "order %d kept another record", k);
    }
}
END_TEST

/* The profile job's value: readings emitted as SUP_PROF_ONE and combined in any grouping
 * (ONE into ONE, ONE into FULL, FULL into FULL, at an odd address as a received value may be)
 * give the sums computed directly, and the same bits in every order. */
static void prof_tree(uint64_t *acc, uint64_t (*v)[SUP_PROF_SLOTS], const int *order, int n)
{
    /* pairs combined first, then the pairs into the first: exercises FULL (+) FULL */
    static unsigned char buf[SUP_PROF_SLOTS * 8 + 1];
    uint64_t part[SUP_PROF_SLOTS];
    memcpy(acc, v[order[0]], SUP_PROF_SLOTS * 8);
    for (int i = 1; i < n; i += 2) {
        memcpy(part, v[order[i]], sizeof part);
        if (i + 1 < n) {
            memcpy(buf + 1, v[order[i + 1]], sizeof part); /* an unaligned value */
            gmr__sup_profile_ops.combine(NULL, part, buf + 1);
        }
        memcpy(buf + 1, part, sizeof part);
        gmr__sup_profile_ops.combine(NULL, acc, buf + 1);
    }
    gmr__sup_prof_expand(acc);
}

START_TEST(test_profile_combine)
{
    enum { N = 300 };
    static uint64_t v[N][SUP_PROF_SLOTS];
    uint64_t want[SUP_PROF_SLOTS] = {SUP_PROF_FULL}, a[SUP_PROF_SLOTS], b[SUP_PROF_SLOTS];
    int order[N];
    for (int i = 0; i < N; i++) {
        unsigned slot = (unsigned)rng_below(96), we = (unsigned)rng_below(2);
        uint64_t wh = rng_below(5) == 0 ? 0 : rng_below(1u << 30);
        memset(v[i], 0, sizeof v[i]);
        v[i][0] = SUP_PROF_ONE;
        v[i][1] = slot | we << 8;
        v[i][2] = wh;
        order[i] = i;
        want[1 + 2 * slot]++;
        want[2 + 2 * slot] += wh;
        want[SUP_PROF_WEEK + 2 * we]++;
        want[SUP_PROF_WEEK + 1 + 2 * we] += wh;
        if (wh > want[SUP_PROF_PEAK]) want[SUP_PROF_PEAK] = wh;
        want[SUP_PROF_ZERO] += wh == 0;
    }
    prof_tree(a, v, order, N);
    for (int i = 0; i < SUP_PROF_SLOTS; i++)
        REQUIRE(a[i] == want[i], "slot %d: expected %llu, got %llu", i, (unsigned long long)want[i], (unsigned long long)a[i]);
    for (int rep = 0; rep < 30; rep++) {
        for (int i = N; i > 1; i--) {
            int j = (int)rng_below((uint64_t)i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        prof_tree(b, v, order, N);
        REQUIRE(memcmp(a, b, sizeof a) == 0, "order %d gives another profile", rep);
    }
    /* one reading alone becomes its FULL value */
    memcpy(b, v[0], sizeof b);
    gmr__sup_prof_expand(b);
    ck_assert_uint_eq(b[0], SUP_PROF_FULL);
    ck_assert_uint_eq(b[1 + 2 * (v[0][1] & 0xff)], 1);
    ck_assert_uint_eq(b[SUP_PROF_PEAK], v[0][2]);
}
END_TEST

static Suite *supply_suite(void)
{
    Suite *s = suite_create("supply");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_weekdays_known);
    tcase_add_test(tc, test_days_round_trip);
    tcase_add_test(tc, test_holidays);
    tcase_add_test(tc, test_combine_order_independent);
    tcase_add_test(tc, test_combine_record_keeps_smaller);
    tcase_add_test(tc, test_profile_combine);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(supply_suite()); }
