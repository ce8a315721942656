/* check_gen.c - specification tests for the power-marketing data set generator (src/gen/). Run
 * under mpirun at 1 to 4 ranks with CK_FORK=no; every rank runs every test.
 *
 * What must hold:
 * - seeding: splitmix64 gives its published first output; streams of different (tag, id)
 *   differ; the same stream is the same on every call;
 * - calendar: day numbers and dates convert both ways; weekdays, month lengths and leap years
 *   are right; bad dates are refused;
 * - the model: the cosine table matches libm to its rounding; class shapes average 1000 and
 *   have their class's features (evening peak at home, lights at night, pumps in summer,
 *   quiet factory weekends); temperatures have Harbin's winters and Hainan's summers and a
 *   warm afternoon; customers follow the class shares, mislabels follow the rate, ids carry
 *   the province; bills follow the tariff rules to the fen;
 * - formatting: CSV quoting and JSON escaping;
 * - blocks: one block of customers equals the concatenation of smaller blocks, so cutting does
 *   not change a byte;
 * - defects: with a rate, every listed defect points at the start of its line; the clean lines
 *   are exactly the lines of the same data set without defects; the count fits the rate;
 *   rate 0 gives none; blobs are damaged only as listed and otherwise have valid structure;
 * - the whole data set is the same bytes on MPI_COMM_WORLD (1..4 ranks) and on one rank,
 *   whatever the block size; a write that fails on some rank (file size limit) fails every
 *   rank with GMR_ERR_IO and leaves no files behind.
 *
 * References are independent of the code under test where that is possible: libm's cos, a
 * bitwise CRC-32, dates counted by walking the calendar, expected bills computed by hand.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "gen/dataset.h"
#include "gen/model.h"
#include "gen/power.h"
#include "gen/writer.h"
#include "testutil.h"
#include "testutil_mpi.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static gmr__genplan *make_plan(uint64_t size, uint32_t corrupt_ppb)
{
    gmr__power_opts o;
    gmr__genplan *p = NULL;
    gmr__power_opts_init(&o);
    o.size = size;
    o.seed = 5;
    o.corrupt_ppb = corrupt_ppb;
    ck_assert_int_eq(gmr__genplan_create(&o, &p), GMR_OK);
    return p;
}

/* Start offsets of the lines of buf[0..len), in lines[] (caller frees); their count. */
static size_t line_starts(const char *buf, size_t len, size_t **lines)
{
    size_t n = 0, cap = 1024;
    size_t *l = malloc(cap * sizeof *l);
    for (size_t off = 0; off < len;) {
        if (n == cap) l = realloc(l, (cap *= 2) * sizeof *l);
        l[n++] = off;
        const char *nl = memchr(buf + off, '\n', len - off);
        REQUIRE(nl, "line at %zu has no line break", off);
        off = (size_t)(nl - buf) + 1;
    }
    *lines = l;
    return n;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc(*len + 1);
    REQUIRE(p && fread(p, 1, *len, f) == *len, "cannot read %s", path);
    fclose(f);
    return p;
}

/* Number of files in dir and whether every one is byte-equal to its namesake in other. */
static int same_dirs(const char *a, const char *b, int *nfiles, char *why, size_t cap)
{
    DIR *d = opendir(a);
    struct dirent *e;
    int same = d != NULL;
    *nfiles = 0;
    while (d && (e = readdir(d)) != NULL) {
        char pa[512], pb[512];
        size_t la = 0, lb = 0;
        if (e->d_name[0] == '.') continue;
        snprintf(pa, sizeof pa, "%s/%s", a, e->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, e->d_name);
        char *x = read_all(pa, &la), *y = read_all(pb, &lb);
        (*nfiles)++;
        if (!x || !y || la != lb || memcmp(x, y, la) != 0) {
            snprintf(why, cap, "%s differs (%zu vs %zu bytes)", e->d_name, la, lb);
            same = 0;
        }
        free(x);
        free(y);
    }
    if (d) closedir(d);
    return same;
}

/* ---- seeding -------------------------------------------------------------------------------- */

START_TEST(test_seeding)
{
    gmr__rng a, b;
    /* splitmix64 from state 0: its first output, as published with the algorithm */
    ck_assert_uint_eq(gmr__mix64(0), UINT64_C(0xe220a8397b1dcdaf));
    ck_assert_uint_ne(gmr__stream_seed(1, GMR_TAG_READINGS, 7), gmr__stream_seed(1, GMR_TAG_EVENTS, 7));
    ck_assert_uint_ne(gmr__stream_seed(1, GMR_TAG_READINGS, 7), gmr__stream_seed(1, GMR_TAG_READINGS, 8));
    ck_assert_uint_ne(gmr__stream_seed(1, GMR_TAG_READINGS, 7), gmr__stream_seed(2, GMR_TAG_READINGS, 7));
    gmr__rng_seed(&a, 42);
    gmr__rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(gmr__rng_next(&a), gmr__rng_next(&b));
    /* below() stays in range and spreads: each of 10 values within 10% of its share */
    unsigned hist[10] = {0};
    for (int i = 0; i < 100000; i++) hist[gmr__below(gmr__rng_next(&a), 10)]++;
    for (int k = 0; k < 10; k++) ck_assert_msg(hist[k] > 9000 && hist[k] < 11000, "value %d drawn %u times", k, hist[k]);
    /* gauss1000: mean about 0, standard deviation about 1000 */
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double g = gmr__gauss1000(gmr__rng_next(&a));
        s += g;
        s2 += g * g;
    }
    ck_assert_msg(fabs(s / 100000) < 20 && fabs(sqrt(s2 / 100000) - 1000) < 20, "mean %.1f sd %.1f", s / 100000,
                  sqrt(s2 / 100000));
}
END_TEST

/* ---- calendar ------------------------------------------------------------------------------- */

START_TEST(test_calendar)
{
    /* walk the calendar day by day from 1970 to 2100: the reference */
    int64_t z = 0;
    for (int64_t y = 1970; y < 2100; y++)
        for (unsigned m = 1; m <= 12; m++) {
            int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            unsigned dim = m == 2 ? 28 + (unsigned)leap : (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
            ck_assert_uint_eq(gmr__days_in_month(y, m), dim);
            for (unsigned d = 1; d <= dim; d++, z++) {
                int64_t yy;
                unsigned mm, dd;
                REQUIRE(gmr__days_from_civil(y, m, d) == z, "%lld-%u-%u", (long long)y, m, d);
                gmr__civil_from_days(z, &yy, &mm, &dd);
                REQUIRE(yy == y && mm == m && dd == d, "day %lld", (long long)z);
            }
        }
    ck_assert_uint_eq(gmr__weekday(gmr__days_from_civil(2026, 1, 1)), 3); /* a Thursday */
    ck_assert_uint_eq(gmr__weekday(gmr__days_from_civil(2024, 2, 29)), 3);
    ck_assert_uint_eq(gmr__day_of_year(gmr__days_from_civil(2024, 12, 31)), 365);
    int64_t d;
    ck_assert_int_eq(gmr__parse_date("2026-03-01", &d), 0);
    ck_assert_int_eq(d, gmr__days_from_civil(2026, 3, 1));
    const char *bad[] = {"2026-02-29", "2026-13-01", "2026-1-01", "26-01-01", "2026-01-01x", "1969-12-31", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) ck_assert_msg(gmr__parse_date(bad[i], &d) != 0, "%s accepted", bad[i]);
    char buf[32];
    *gmr__put_stamp(buf, gmr__days_from_civil(2026, 7, 9), 13 * 3600 + 5 * 60 + 7) = '\0';
    ck_assert_str_eq(buf, "2026-07-09T13:05:07");
}
END_TEST

/* ---- formatting ----------------------------------------------------------------------------- */

START_TEST(test_formatting)
{
    char buf[256];
    *gmr__put_csv(buf, "plain") = '\0';
    ck_assert_str_eq(buf, "plain");
    *gmr__put_csv(buf, "Hangzhou Jinxin Textile Co., Ltd.") = '\0';
    ck_assert_str_eq(buf, "\"Hangzhou Jinxin Textile Co., Ltd.\"");
    *gmr__put_csv(buf, "say \"hi\"") = '\0';
    ck_assert_str_eq(buf, "\"say \"\"hi\"\"\"");
    *gmr__put_json(buf, "a\"b\\c\nd\te\x01\x1f 中文") = '\0';
    ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f 中文\"");
    *gmr__put_fixed(buf, -1234, 1) = '\0';
    ck_assert_str_eq(buf, "-123.4");
    *gmr__put_fixed(buf, 5, 3) = '\0';
    ck_assert_str_eq(buf, "0.005");
    *gmr__put_fixed(buf, 0, 2) = '\0';
    ck_assert_str_eq(buf, "0.00");
}
END_TEST

/* ---- the model ------------------------------------------------------------------------------- */

START_TEST(test_cosine)
{
    gmr__model *m = malloc(sizeof *m);
    gmr__model_init(m);
    for (int k = 0; k < 4096; k++) {
        double want = cos(2 * M_PI * k / 4096) * 1e6;
        REQUIRE(fabs(m->cos_tab[k] - want) <= 0.5 + 1e-6, "cos table %d: %d, libm %.3f", k, m->cos_tab[k], want);
    }
    ck_assert_int_eq(gmr__cos6(m, -1, 4), 0); /* cos(-pi/2) */
    ck_assert_int_eq(gmr__cos6(m, 12, 24), -1000000);
    free(m);
}
END_TEST

START_TEST(test_shapes)
{
    gmr__model *m = malloc(sizeof *m);
    gmr__model_init(m);
    for (int c = 0; c < GMR_NCLASSES; c++)
        for (int w = 0; w < 2; w++) {
            unsigned sum = 0;
            for (int s = 0; s < GMR_SLOTS; s++) sum += m->shape[c][w][s];
            ck_assert_msg(sum >= 95900 && sum <= 96000, "class %d weekend %d: mean %.2f", c, w, sum / 96.0);
        }
    /* slot 4h = hour h */
    ck_assert_uint_gt(m->shape[GMR_CLASS_RESIDENTIAL][0][19 * 4], 3 * m->shape[GMR_CLASS_RESIDENTIAL][0][3 * 4]);
    ck_assert_uint_gt(m->shape[GMR_CLASS_PUBLIC][0][1 * 4], 3 * m->shape[GMR_CLASS_PUBLIC][0][12 * 4]);
    ck_assert_uint_gt(m->shape[GMR_CLASS_COMMERCIAL][0][14 * 4], 4 * m->shape[GMR_CLASS_COMMERCIAL][0][3 * 4]);
    ck_assert_uint_gt(m->shape[GMR_CLASS_EV][0][2 * 4], m->shape[GMR_CLASS_EV][0][7 * 4]);
    int64_t monday = gmr__days_from_civil(2026, 3, 2), sunday = monday + 6;
    ck_assert_uint_gt(gmr__day_factor(m, GMR_CLASS_INDUSTRIAL, monday), 12 * gmr__day_factor(m, GMR_CLASS_INDUSTRIAL, sunday) / 10);
    ck_assert_uint_gt(gmr__day_factor(m, GMR_CLASS_AGRICULTURAL, gmr__days_from_civil(2026, 7, 9)),
                      3 * gmr__day_factor(m, GMR_CLASS_AGRICULTURAL, gmr__days_from_civil(2026, 1, 9)));
    ck_assert_uint_gt(gmr__day_factor(m, GMR_CLASS_PUBLIC, gmr__days_from_civil(2026, 12, 21)),
                      gmr__day_factor(m, GMR_CLASS_PUBLIC, gmr__days_from_civil(2026, 6, 21)));
    /* temperature response: none in the comfort band, more when hot, less with central heating */
    gmr__customer c;
    memset(&c, 0, sizeof c);
    c.cool = 45;
    c.heat = 25;
    ck_assert_uint_eq(gmr__temp_factor(&c, 0, 180), 1000);
    ck_assert_uint_eq(gmr__temp_factor(&c, 0, 340), 1450);
    ck_assert_uint_eq(gmr__temp_factor(&c, 0, 20), 1250);
    ck_assert_uint_eq(gmr__temp_factor(&c, 1, 20), 1070);
    free(m);
}
END_TEST

/* Mean temperature (degC) of province `prov` over a month of 2026, and of one hour of day. */
static double mean_temp(const gmr__model *m, unsigned prov, unsigned month, int hour)
{
    double s = 0;
    int n = 0;
    int64_t z0 = gmr__days_from_civil(2026, month, 1);
    for (unsigned d = 0; d < gmr__days_in_month(2026, month); d++)
        for (unsigned h = 0; h < 24; h++)
            if (hour < 0 || (int)h == hour) {
                s += gmr__temperature(m, 9, prov, z0 + d, h) / 10.0;
                n++;
            }
    return s / n;
}

START_TEST(test_temperature)
{
    gmr__model *m = malloc(sizeof *m);
    gmr__model_init(m);
    ck_assert_str_eq(gmr__provinces[1].name, "Heilongjiang");
    ck_assert_str_eq(gmr__provinces[30].name, "Hainan");
    double harbin_jan = mean_temp(m, 1, 1, -1), harbin_jul = mean_temp(m, 1, 7, -1);
    double hainan_jan = mean_temp(m, 30, 1, -1), hainan_jul = mean_temp(m, 30, 7, -1);
    ck_assert_msg(harbin_jan < -10 && harbin_jul > 18, "Harbin: January %.1f, July %.1f", harbin_jan, harbin_jul);
    ck_assert_msg(hainan_jan > 15 && hainan_jul > 25, "Hainan: January %.1f, July %.1f", hainan_jan, hainan_jul);
    double afternoon = 0, night = 0;
    for (unsigned month = 1; month <= 12; month++) {
        afternoon += mean_temp(m, 0, month, 15);
        night += mean_temp(m, 0, month, 4);
    }
    ck_assert_msg(afternoon / 12 > night / 12 + 5, "Zhejiang: 15:00 %.1f, 04:00 %.1f", afternoon / 12, night / 12);
    /* a pure function: the same value again, and day-to-day changes stay weather-like */
    int64_t z = gmr__days_from_civil(2026, 4, 1);
    ck_assert_int_eq(gmr__temperature(m, 9, 2, z, 10), gmr__temperature(m, 9, 2, z, 10));
    for (int d = 0; d < 365; d++)
        for (unsigned h = 1; h < 24; h++) {
            int jump = gmr__temperature(m, 9, 2, z + d, h) - gmr__temperature(m, 9, 2, z + d, h - 1);
            REQUIRE(jump > -40 && jump < 40, "day %d hour %u: %.1f degC in one hour", d, h, jump / 10.0);
        }
    free(m);
}
END_TEST

START_TEST(test_customers)
{
    unsigned count[GMR_NCLASSES] = {0}, wrong = 0, prov0 = 0;
    static const unsigned share[GMR_NCLASSES] = {700, 140, 60, 50, 30, 20};
    const uint32_t three_percent = (uint32_t)(0.03 * 4294967296.0);
    for (uint64_t i = 0; i < 100000; i++) {
        gmr__customer c;
        char want[16];
        gmr__customer_make(3, 8, three_percent, i, &c);
        count[c.cls]++;
        wrong += c.reg != c.cls;
        prov0 += c.prov == 0;
        REQUIRE(c.prov < 8, "province %u of 8", c.prov);
        snprintf(want, sizeof want, "%02u%08llu", gmr__provinces[c.prov].code, (unsigned long long)i + 1);
        REQUIRE(strcmp(c.id, want) == 0, "id %s, expected %s", c.id, want);
        REQUIRE(c.capacity_kva > 0 && c.voltage < 5, "customer %llu: %u kVA", (unsigned long long)i, c.capacity_kva);
        REQUIRE(c.cls != GMR_CLASS_RESIDENTIAL || c.tariff == GMR_TARIFF_RES_TIER || c.reg != c.cls, "tariff");
    }
    for (int k = 0; k < GMR_NCLASSES; k++)
        ck_assert_msg(abs((int)count[k] - (int)share[k] * 100) < 600, "class %d: %u of 100000, expected %u", k, count[k],
                      share[k] * 100);
    ck_assert_msg(wrong > 2700 && wrong < 3300, "%u mislabelled, expected about 3000", wrong);
    /* Zhejiang holds 65 of the first 8 provinces' 535 million people */
    ck_assert_msg(prov0 > 11500 && prov0 < 12800, "%u in Zhejiang, expected about 12150", prov0);
    gmr__customer c;
    gmr__customer_make(3, 1, 0, 17, &c);
    ck_assert_uint_eq(c.prov, 0);
    ck_assert_int_eq(c.reg, c.cls);
    gmr__customer_make(3, 4, UINT32_MAX, 17, &c);
    ck_assert_int_ne(c.reg, c.cls);
}
END_TEST

START_TEST(test_bills)
{
    /* residential tiers: 88.758 kWh at 0.5380 = 47.7518 yuan -> 47.75 */
    uint64_t a[3] = {17226, 29046, 42486};
    ck_assert_uint_eq(gmr__bill_fen(GMR_TARIFF_RES_TIER, a, 4, 7, 31), 4775);
    /* 450 kWh: 200 x 0.538 + 200 x 0.588 + 50 x 0.838 = 107.6 + 117.6 + 41.9 = 267.10 */
    uint64_t b[3] = {150000, 150000, 150000};
    ck_assert_uint_eq(gmr__bill_fen(GMR_TARIFF_RES_TIER, b, 8, 30, 30), 26710);
    /* general TOU: 100 kWh valley 0.31 + 200 flat 0.642 + 300 peak 1.013 = 31 + 128.4 + 303.9 */
    uint64_t c[3] = {100000, 200000, 300000};
    ck_assert_uint_eq(gmr__bill_fen(GMR_TARIFF_GEN_TOU, c, 50, 31, 31), 46330);
    /* large industry: 100 x 0.30 + 200 x 0.62 + 300 x 0.98 = 448.00, plus 30 yuan/kVA/month pro
     * rata: 400 kVA for 7 of 28 days = 3000.00 */
    ck_assert_uint_eq(gmr__bill_fen(GMR_TARIFF_LI_2PART, c, 400, 7, 28), 44800 + 300000);
    /* rounding half up at the fen: 1 Wh x 0.4900 = 0.00049 yuan -> 0 */
    uint64_t d[3] = {0, 1, 0};
    ck_assert_uint_eq(gmr__bill_fen(GMR_TARIFF_AGR, d, 10, 1, 30), 0);
    uint64_t e[3] = {0, 10205, 0}; /* 10.205 kWh x 0.49 = 5.00045 -> 5.00 */
    ck_assert_uint_eq(gmr__bill_fen(GMR_TARIFF_AGR, e, 10, 1, 30), 500);
}
END_TEST

/* ---- blocks and defects ----------------------------------------------------------------------- */

START_TEST(test_blocks_cut_anywhere)
{
    gmr__genplan *p = make_plan(UINT64_C(2) << 20, 100000000); /* 10% damaged */
    gmr__block whole, part;
    memset(&whole, 0, sizeof whole);
    memset(&part, 0, sizeof part);
    uint64_t n = p->customers < 9 ? p->customers : 9;
    ck_assert_int_eq(gmr__gen_customers(p, 0, n, &whole), GMR_OK);
    size_t pos[GMR_NFILES] = {0}, lines[GMR_NFILES] = {0}, d = 0;
    for (uint64_t first = 0; first < n; first += 2) { /* blocks of 2 customers */
        gmr__block_reset(&part);
        ck_assert_int_eq(gmr__gen_customers(p, first, first + 2 <= n ? 2 : 1, &part), GMR_OK);
        for (size_t i = 0; i < part.ndefects; i++) { /* the same defects, in the same order, shifted */
            const gmr__defect *w = &whole.defects[d++], *x = &part.defects[i];
            REQUIRE(d <= whole.ndefects && w->file == x->file && w->kind == x->kind && w->line == x->line + lines[x->file] &&
                        w->offset == x->offset + pos[x->file],
                    "defect %zu moved", d);
        }
        for (int f = 0; f < GMR_NFILES; f++) {
            REQUIRE(pos[f] + part.out[f].len <= whole.out[f].len &&
                        (part.out[f].len == 0 || memcmp(whole.out[f].p + pos[f], part.out[f].p, part.out[f].len) == 0),
                    "%s: customers from %llu differ", gmr__file_names[f], (unsigned long long)first);
            pos[f] += part.out[f].len;
            lines[f] += part.lines[f];
        }
    }
    for (int f = 0; f < GMR_NFILES; f++) ck_assert_uint_eq(pos[f], whole.out[f].len);
    ck_assert_uint_eq(d, whole.ndefects);
    gmr__block_free(&whole);
    gmr__block_free(&part);
    gmr__genplan_destroy(&p);
}
END_TEST

/* For each text file of the customer pass: every defect points at its line's start; the lines
 * that are not listed are, in order, the lines of the data set made without defects; the
 * number of defects fits the rate. */
START_TEST(test_defects_ground_truth)
{
    const uint32_t rate = 200000000; /* 20% */
    gmr__genplan *p0 = make_plan(UINT64_C(2) << 20, 0), *p1 = make_plan(UINT64_C(2) << 20, rate);
    gmr__block b0, b1;
    memset(&b0, 0, sizeof b0);
    memset(&b1, 0, sizeof b1);
    ck_assert_uint_eq(p0->customers, p1->customers);
    ck_assert_uint_eq(p0->days, p1->days);
    ck_assert_int_eq(gmr__gen_customers(p0, 0, 6, &b0), GMR_OK);
    ck_assert_int_eq(gmr__gen_customers(p1, 0, 6, &b1), GMR_OK);
    ck_assert_uint_eq(b0.ndefects, 0);
    size_t records = 0, defects = 0;
    const int files[] = {GMR_F_CUSTOMERS, GMR_F_READINGS, GMR_F_BILLS, GMR_F_EVENTS};
    for (size_t fi = 0; fi < sizeof files / sizeof *files; fi++) {
        int f = files[fi];
        size_t *l0, *l1, n0 = line_starts(b0.out[f].p, b0.out[f].len, &l0), n1 = line_starts(b1.out[f].p, b1.out[f].len, &l1);
        int *kind = calloc(n1 + 1, sizeof *kind); /* 1 + kind per line of b1, 0 when clean */
        for (size_t i = 0; i < b1.ndefects; i++) {
            const gmr__defect *d = &b1.defects[i];
            if (d->file != (uint32_t)f) continue;
            REQUIRE(d->line < n1 && l1[d->line] == d->offset, "%s: defect at line %llu, offset %llu is not a line start",
                    gmr__file_names[f], (unsigned long long)d->line, (unsigned long long)d->offset);
            REQUIRE(kind[d->line] == 0, "%s: line %llu listed twice", gmr__file_names[f], (unsigned long long)d->line);
            kind[d->line] = 1 + (int)d->kind;
            defects++;
        }
        size_t j = 0; /* next line of b0 */
        for (size_t i = 0; i < n1; i++) {
            size_t len1 = (i + 1 < n1 ? l1[i + 1] : b1.out[f].len) - l1[i];
            if (kind[i] == 1 + GMR_DEFECT_DUPLICATE_KEY) { /* an extra line; the one before it is the original */
                REQUIRE(i > 0 && kind[i - 1] == 0, "%s: duplicate at line %zu follows no clean line", gmr__file_names[f], i);
                continue;
            }
            REQUIRE(j < n0, "%s: more lines than without defects", gmr__file_names[f]);
            size_t len0 = (j + 1 < n0 ? l0[j + 1] : b0.out[f].len) - l0[j];
            int equal = len0 == len1 && memcmp(b0.out[f].p + l0[j], b1.out[f].p + l1[i], len0) == 0;
            if (kind[i])
                REQUIRE(!equal, "%s: line %zu is listed as %s but is clean", gmr__file_names[f], i,
                        gmr__defect_names[kind[i] - 1]);
            else
                REQUIRE(equal, "%s: clean line %zu differs from the data set without defects", gmr__file_names[f], i);
            j++;
        }
        ck_assert_uint_eq(j, n0);
        records += n0;
        free(kind);
        free(l0);
        free(l1);
    }
    /* 20% of the records, within 4 standard deviations */
    double want = 0.2 * (double)records, sd = sqrt(records * 0.2 * 0.8);
    ck_assert_msg(fabs((double)defects - want) < 4 * sd, "%zu defects in %zu records", defects, records);
    gmr__block_free(&b0);
    gmr__block_free(&b1);
    gmr__genplan_destroy(&p0);
    gmr__genplan_destroy(&p1);
}
END_TEST

static int contains(const char *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, s, k) == 0) return 1;
    return 0;
}

static uint32_t crc32_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

START_TEST(test_blobs)
{
    gmr__genplan *p = make_plan(UINT64_C(32) << 20, 0), *q = make_plan(UINT64_C(32) << 20, 1000000000);
    unsigned char *buf = malloc(p->max_blob);
    gmr__block b;
    unsigned seen[GMR_NBLOB_TYPES] = {0};
    uint64_t total = 0;
    memset(&b, 0, sizeof b);
    ck_assert_uint_gt(p->nblobs, 10);
    for (uint64_t i = 0; i < p->nblobs; i++) {
        const gmr__blob_info *bi = &p->blobs[i];
        size_t n = bi->size;
        total += n;
        gmr__block_reset(&b);
        ck_assert_int_eq(gmr__gen_blob(p, i, buf, &b), GMR_OK);
        ck_assert_uint_eq(b.ndefects, 0);
        seen[bi->type]++;
        /* the manifest row carries the hash of exactly these bytes */
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits(buf, n));
        REQUIRE(contains(b.out[GMR_F_MANIFEST].p, b.out[GMR_F_MANIFEST].len, hex), "blob %llu: hash not in its manifest row",
                (unsigned long long)i);
        switch (bi->type) {
        case GMR_BLOB_JPEG:
            REQUIRE(buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff && buf[n - 2] == 0xff && buf[n - 1] == 0xd9, "JPEG");
            break;
        case GMR_BLOB_PNG: {
            REQUIRE(memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG signature");
            size_t o = 8;
            int chunks = 0;
            while (o < n) {
                uint32_t len = be32(buf + o);
                REQUIRE(o + 12 + len <= n, "PNG chunk past the end");
                REQUIRE(crc32_bitwise(buf + o + 4, len + 4) == be32(buf + o + 8 + len), "PNG chunk %d CRC", chunks);
                o += 12 + len;
                chunks++;
            }
            REQUIRE(o == n && chunks == 3 && memcmp(buf + n - 8, "IEND", 4) == 0, "PNG chunks");
            ck_assert_uint_eq(gmr__crc32(0, (const unsigned char *)"123456789", 9), 0xcbf43926u);
            break;
        }
        case GMR_BLOB_WAV:
            REQUIRE(memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WAVEfmt ", 8) == 0 && memcmp(buf + 36, "data", 4) == 0,
                    "WAV header");
            break;
        case GMR_BLOB_MP3:
            REQUIRE(memcmp(buf, "ID3\x03", 4) == 0, "ID3 tag");
            break;
        default:
            REQUIRE(memcmp(buf, "%PDF-1.4\n", 9) == 0 && memcmp(buf + n - 7, "\n%%EOF\n", 7) == 0, "PDF");
            break;
        }
        /* at rate 1 every blob is damaged, and listed with its pack and offset */
        gmr__block_reset(&b);
        ck_assert_int_eq(gmr__gen_blob(q, i, buf, &b), GMR_OK);
        REQUIRE(b.ndefects == 1 && b.defects[0].file == GMR_NFILES + bi->pack && b.defects[0].offset == bi->offset &&
                    b.defects[0].line == GMR_NO_LINE,
                "blob %llu: defect not listed", (unsigned long long)i);
    }
    for (int t = 0; t < GMR_NBLOB_TYPES; t++) ck_assert_msg(seen[t] > 0, "no blob of type %s", gmr__blob_mimes[t]);
    ck_assert_uint_eq(total, p->budget[2]); /* the last blob is cut to fit the budget exactly */
    free(buf);
    gmr__block_free(&b);
    gmr__genplan_destroy(&p);
    gmr__genplan_destroy(&q);
}
END_TEST

START_TEST(test_sizing_rule)
{
    gmr__genplan *p = make_plan(UINT64_C(2) << 20, 0);
    ck_assert_uint_eq(p->days, GMR_GEN_MIN_DAYS); /* small: a week */
    ck_assert_msg(p->customers > 20 && p->customers < 60, "%llu customers", (unsigned long long)p->customers);
    gmr__genplan_destroy(&p);
    p = make_plan(UINT64_C(1) << 30, 0); /* 1 GiB: about the rule's customers, a longer period */
    ck_assert_msg(p->days > 100 && p->days < GMR_GEN_MAX_AUTO_DAYS, "%u days", p->days);
    ck_assert_msg(p->customers > 900 && p->customers < 1100, "%llu customers", (unsigned long long)p->customers);
    gmr__genplan_destroy(&p);
    gmr__power_opts o;
    gmr__power_opts_init(&o);
    o.size = UINT64_C(2) << 20;
    o.customers = 10;
    ck_assert_int_eq(gmr__genplan_create(&o, &p), GMR_OK); /* customers given: days follow */
    ck_assert_uint_eq(p->customers, 10);
    ck_assert_msg(p->days >= 20 && p->days <= 30, "%u days", p->days);
    gmr__genplan_destroy(&p);
    o.days = 3;
    ck_assert_int_eq(gmr__genplan_create(&o, &p), GMR_OK);
    ck_assert_uint_eq(p->days, 3);
    gmr__genplan_destroy(&p);
}
END_TEST

/* ---- the whole data set, collectively ------------------------------------------------------------ */

static void opts_for(gmr__power_opts *o, const char *dir)
{
    gmr__power_opts_init(o);
    o->dir = dir;
    o->size = UINT64_C(3) << 20;
    o->seed = 2026;
    o->provinces = 5;
    o->corrupt_ppb = 10000000; /* 1% */
    o->pack = UINT64_C(1) << 20; /* several packs */
}

START_TEST(test_ranks_same_bytes)
{
    char world[256], one[256], blocky[256], why[512] = "";
    gmr__power_opts o;
    gmr__power_report r;
    tmp_path(world, sizeof world, "world");
    tmp_path(one, sizeof one, "one");
    tmp_path(blocky, sizeof blocky, "blocky");
    opts_for(&o, world);
    gmr_err e = gmr__power_generate(MPI_COMM_WORLD, &o, &r);
    all_assert(e == GMR_OK, "generate on %d ranks: %s", size, gmr_err_message());
    all_assert(r.ranks == size && r.packs > 1 && r.defects > 0, "report: %d ranks, %llu packs, %llu defects", r.ranks,
               (unsigned long long)r.packs, (unsigned long long)r.defects);
    opts_for(&o, blocky);
    o.block = 4096; /* one customer a block: the most rounds */
    e = gmr__power_generate(MPI_COMM_WORLD, &o, NULL);
    all_assert(e == GMR_OK, "generate with --block 4096: %s", gmr_err_message());
    int same = 1, n1 = 0, n2 = 0;
    if (rank == 0) {
        opts_for(&o, one);
        e = gmr__power_generate(MPI_COMM_SELF, &o, NULL);
        same = e == GMR_OK && same_dirs(world, one, &n1, why, sizeof why) && same_dirs(world, blocky, &n2, why, sizeof why);
        same = same && n1 == GMR_NFILES + (int)r.packs && n2 == n1;
        rm_tree(one);
        rm_tree(blocky);
        rm_tree(world);
    }
    all_assert(same, "the data set on %d ranks differs from 1 rank or from 1-customer blocks: %s (%d, %d files)", size, why,
               n1, n2);
}
END_TEST

START_TEST(test_write_failure_cleans_up)
{
    char dir[256];
    struct rlimit old, lim;
    gmr__power_opts o;
    tmp_path(dir, sizeof dir, "limited/sub");
    opts_for(&o, dir);
    o.block = 65536;
    /* files may not grow past 200 KB on any rank: a write fails in the middle of readings.csv */
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 200000;
    setrlimit(RLIMIT_FSIZE, &lim);
    gmr_err e = gmr__power_generate(MPI_COMM_WORLD, &o, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    int remote = gmr_err_is_remote();
    int rc = e == GMR_ERR_IO && (remote || strstr(gmr_err_message(), "cannot write") != NULL);
    all_assert(rc, "expected GMR_ERR_IO on every rank, got %d: %s", e, gmr_err_message());
    struct stat st;
    char parent[256];
    tmp_path(parent, sizeof parent, "limited");
    all_assert(stat(dir, &st) != 0 && stat(parent, &st) != 0, "%s or its parent is still there", dir);
    gmr_err_clear();
}
END_TEST

START_TEST(test_bad_directory)
{
    char file[256], dir[300];
    gmr__power_opts o;
    tmp_path(file, sizeof file, "plainfile");
    snprintf(dir, sizeof dir, "%s/sub", file);
    if (rank == 0) {
        FILE *f = fopen(file, "w");
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    opts_for(&o, dir);
    gmr_err e = gmr__power_generate(MPI_COMM_WORLD, &o, NULL);
    all_assert(e == GMR_ERR_IO, "expected GMR_ERR_IO, got %d", e);
    all_assert(gmr_err_is_remote() || strstr(gmr_err_message(), "Not a directory") != NULL, "message: %s", gmr_err_message());
    if (rank == 0) unlink(file);
    gmr_err_clear();
}
END_TEST

static Suite *gen_suite(void)
{
    Suite *s = suite_create("gen");
    TCase *t = tcase_create("model");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_seeding);
    tcase_add_test(t, test_calendar);
    tcase_add_test(t, test_formatting);
    tcase_add_test(t, test_cosine);
    tcase_add_test(t, test_shapes);
    tcase_add_test(t, test_temperature);
    tcase_add_test(t, test_customers);
    tcase_add_test(t, test_bills);
    suite_add_tcase(s, t);
    t = tcase_create("blocks");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_blocks_cut_anywhere);
    tcase_add_test(t, test_defects_ground_truth);
    tcase_add_test(t, test_blobs);
    tcase_add_test(t, test_sizing_rule);
    suite_add_tcase(s, t);
    t = tcase_create("collective");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_ranks_same_bytes);
    tcase_add_test(t, test_write_failure_cleans_up);
    tcase_add_test(t, test_bad_directory);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv) { return mpi_test_main(argc, argv, gen_suite, "/tmp/gmr_check_gen_XXXXXX"); }
