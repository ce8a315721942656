/* check_forecast.c - specification tests for the parts of `gridmr forecast` that need no MPI
 * (src/apps/forecast.c): dates, the holiday calendar, the series reader and its treatment of
 * bad input, and the metrics. The fits themselves (exact recovery of a synthetic series,
 * identical output on 1..4 ranks, the bottom-up total) are checked end to end by tests/run.sh
 * section 10.
 *
 * What must hold:
 *   - dates YYYY-MM-DD parse to days since 1970-01-01 and back; 29 February only in leap
 *     years; anything else is refused;
 *   - the holiday list of docs/forecast.md, with the weekend rules (Saturday -> Friday,
 *     Sunday -> Monday), on dates checked by hand against the US federal calendar;
 *   - the reader sorts a series' rows by time (any order in the file), keeps several series
 *     apart, takes CRLF line ends, quotes and column numbers, keeps an empty load as NaN (counted),
 *     interpolates a short run of missing temperatures linearly, and refuses with FILE:LINE a
 *     repeated hour, a gap, a long run of missing temperatures, a bad date, hour or number and a
 *     missing column;
 *   - MAPE, RMSE and R^2 equal sums done by hand, NaN entries skipped.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/forecast.h"
#include "testutil.h"

static long day_of(const char *s)
{
    long d = -1;
    ck_assert_msg(gmr__fc_parse_date(s, &d) == 0, "'%s' should parse", s);
    return d;
}

START_TEST(test_dates)
{
    long d;
    char buf[11];
    ck_assert_int_eq(day_of("1970-01-01"), 0);
    ck_assert_int_eq(day_of("2014-01-01"), 16071);
    ck_assert_int_eq(day_of("2012-02-29") + 1, day_of("2012-03-01"));
    ck_assert_int_eq(gmr__fc_parse_date("2013-02-29", &d), -1);
    ck_assert_int_eq(gmr__fc_parse_date("2013-13-01", &d), -1);
    ck_assert_int_eq(gmr__fc_parse_date("2013-1-01", &d), -1);
    ck_assert_int_eq(gmr__fc_parse_date("2013-01-01x", &d), -1);
    ck_assert_int_eq(gmr__fc_parse_date("1/1/2013", &d), -1);
    gmr__fc_format_date(day_of("2011-12-31"), buf);
    ck_assert_str_eq(buf, "2011-12-31");
}
END_TEST

START_TEST(test_holidays)
{
    static const char *yes[] = {"2014-01-01", "2014-01-20", "2014-02-17", "2014-05-26", "2014-07-04", "2014-09-01",
                                "2014-11-27", "2014-11-28", "2014-12-25",
                                "2010-12-31", /* New Year 2011 is a Saturday: observed the Friday before */
                                "2011-12-26", /* Christmas 2011 is a Sunday: observed the Monday after */
                                "2015-07-03", /* 4 July 2015 is a Saturday */
                                "2013-05-27", "2012-11-22"};
    static const char *no[] = {"2014-01-02", "2014-07-03", "2014-10-13" /* Columbus day: not in the list */,
                               "2014-11-11" /* Veterans day: not in the list */, "2011-12-25", "2014-12-24",
                               "2011-01-01" /* a Saturday; observed on 2010-12-31 */};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(gmr__fc_us_holiday(day_of(yes[i])), "%s should be a holiday", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        ck_assert_msg(!gmr__fc_us_holiday(day_of(no[i])), "%s should not be a holiday", no[i]);
}
END_TEST

static gmr__fc_columns gef_cols(const char *series)
{
    gmr__fc_columns c = {.date = "Date", .hour = "Hour", .load = "load", .temp = "T", .series = series};
    return c;
}

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    FILE *f;
    tmp_path(path, cap, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* reads text, expects code; when code is GMR_ERR_DATA the message must contain want */
static void expect_read(const char *text, const char *series, gmr_err code, const char *want)
{
    char path[512];
    gmr__fc_set set;
    gmr__fc_columns c = gef_cols(series);
    gmr_err e;
    write_file("in.csv", text, path, sizeof path);
    gmr_err_clear();
    e = gmr__fc_read_csv(path, &c, &set);
    ck_assert_msg(e == code, "expected code %d, got %d (%s) for:\n%s", code, e, gmr_err_message(), text);
    if (want) ck_assert_msg(strstr(gmr_err_message(), want), "message '%s' lacks '%s'", gmr_err_message(), want);
    gmr__fc_set_free(&set);
}

/* two days of one series, hour h: load 100 + h, T 10 + h */
static char *two_days(const char *series)
{
    static char buf[8192];
    size_t n = 0;
    n += (size_t)sprintf(buf + n, "%sDate,Hour,load,T\n", series ? "zone," : "");
    for (int d = 0; d < 2; d++)
        for (int h = 1; h <= 24; h++)
            n += (size_t)sprintf(buf + n, "%s%s2014-03-0%d,%d,%d,%d\n", series ? series : "", series ? "," : "", d + 1, h,
                                 100 + 24 * d + h, 10 + 24 * d + h);
    return buf;
}

START_TEST(test_reader_ok)
{
    char path[512], text[16384];
    gmr__fc_set set;
    gmr__fc_columns c = gef_cols("zone");
    size_t n = 0;
    /* series b first, then a; a's hours reversed; CRLF ends and quotes; an empty load; three
     * missing temperatures in a row inside the series */
    n += (size_t)sprintf(text + n, "zone,Date,Hour,load,T\r\n");
    for (int h = 1; h <= 24; h++) n += (size_t)sprintf(text + n, "b,\"2014-03-01\",%d,%d,%d\r\n", h, 5 * h, h);
    for (int h = 24; h >= 1; h--)
        n += (size_t)sprintf(text + n, "a,2014-03-01,%d,%s,%s\r\n", h, h == 7 ? "" : "42.5",
                             h >= 10 && h <= 12 ? "" : (h < 10 ? "9" : "13"));
    write_file("ok.csv", text, path, sizeof path);
    ck_assert_int_eq(gmr__fc_read_csv(path, &c, &set), GMR_OK);
    ck_assert_int_eq(set.nseries, 2);
    ck_assert_str_eq(set.s[0].name, "b");
    ck_assert_str_eq(set.s[1].name, "a");
    ck_assert_uint_eq(set.s[0].n, 24);
    ck_assert_uint_eq(set.s[1].n, 24);
    ck_assert_int_eq(set.s[0].day0, day_of("2014-03-01"));
    ck_assert_double_eq(set.s[0].load[3], 20);
    ck_assert_int_eq(set.s[0].line[0], 2);
    ck_assert(isnan(set.s[1].load[6]));
    ck_assert_uint_eq(set.s[1].nmissing_load, 1);
    ck_assert_uint_eq(set.s[1].ninterp_temp, 3);
    /* hours 10..12 between 9 (hour 9) and 13 (hour 13): 10, 11, 12 */
    ck_assert_double_eq_tol(set.s[1].temp[9], 10, 1e-12);
    ck_assert_double_eq_tol(set.s[1].temp[10], 11, 1e-12);
    ck_assert_double_eq_tol(set.s[1].temp[11], 12, 1e-12);
    ck_assert_int_eq(set.s[1].line[0], 49); /* hour 1 of a is the last line */
    gmr__fc_set_free(&set);
    /* column numbers and case-insensitive names */
    {
        gmr__fc_columns c2 = {.date = "date", .hour = "3", .load = "LOAD", .temp = "5", .series = "1"};
        ck_assert_int_eq(gmr__fc_read_csv(path, &c2, &set), GMR_OK);
        ck_assert_int_eq(set.nseries, 2);
        gmr__fc_set_free(&set);
    }
}
END_TEST

START_TEST(test_reader_errors)
{
    char text[8192];
    expect_read(two_days(NULL), NULL, GMR_OK, NULL);
    /* a repeated hour: line 5 repeats line 4 (2014-03-01 hour 3) */
    strcpy(text, two_days(NULL));
    {
        char *p = strstr(text, "2014-03-01,4,");
        memcpy(p + 11, "3", 1);
    }
    expect_read(text, NULL, GMR_ERR_DATA, ":5: 2014-03-01 hour 3 repeats line 4");
    /* a gap: hour 5 of day 1 removed */
    strcpy(text, two_days(NULL));
    {
        char *p = strstr(text, "2014-03-01,5,"), *q = strchr(p, '\n') + 1;
        memmove(p, q, strlen(q) + 1);
    }
    expect_read(text, NULL, GMR_ERR_DATA, "gap in the hours: 1 missing between 2014-03-01 hour 4 (line 5)");
    /* in a named series the message says which */
    strcpy(text, two_days("west"));
    {
        char *p = strstr(text, "2014-03-02,1,"), *q = strchr(p, '\n') + 1;
        while (p > text && p[-1] != '\n') p--;
        memmove(p, q, strlen(q) + 1);
    }
    expect_read(text, "zone", GMR_ERR_DATA, "series 'west': gap in the hours");
    /* temperature missing for 7 hours (more than GMR_FC_MAX_TEMP_GAP) */
    strcpy(text, "Date,Hour,load,T\n");
    for (int h = 1; h <= 24; h++) sprintf(text + strlen(text), "2014-03-01,%d,1,%s\n", h, h >= 5 && h <= 11 ? "" : "3");
    expect_read(text, NULL, GMR_ERR_DATA, ":6: temperature missing for 7 hour(s)");
    /* missing at the start cannot be interpolated */
    strcpy(text, "Date,Hour,load,T\n2014-03-01,1,1,\n2014-03-01,2,1,3\n");
    expect_read(text, NULL, GMR_ERR_DATA, ":2: temperature missing for 1 hour(s) at an end of the series");
    expect_read("Date,Hour,load,T\n2014-02-30,1,1,1\n", NULL, GMR_ERR_DATA, ":2: date '2014-02-30' is not a date");
    expect_read("Date,Hour,load,T\n2014-02-03,0,1,1\n", NULL, GMR_ERR_DATA, ":2: hour '0' is not 1 to 24");
    expect_read("Date,Hour,load,T\n2014-02-03,25,1,1\n", NULL, GMR_ERR_DATA, "hour '25' is not 1 to 24");
    expect_read("Date,Hour,load,T\n2014-02-03,1,1e999,1\n", NULL, GMR_ERR_DATA, ":2: load '1e999' is not a number");
    expect_read("Date,Hour,load,T\n2014-02-03,1,1,warm\n", NULL, GMR_ERR_DATA, ":2: temperature 'warm' is not a number");
    expect_read("Date,Hour,load,T\n2014-02-03,1,1\n", NULL, GMR_ERR_DATA, ":2: 3 fields, expected at least 4");
    expect_read("Date,Hour,load\n", NULL, GMR_ERR_DATA, ":1: no temperature column 'T'");
    expect_read("Date,Hour,load,T\n", NULL, GMR_ERR_DATA, "no data rows");
    expect_read("Date,Hour,load,T\n2014-02-03,2,1,1\n", NULL, GMR_ERR_DATA, "must start at hour 1");
    expect_read(two_days(NULL), "zone", GMR_ERR_DATA, ":1: no series column 'zone'");
    {
        gmr__fc_set set;
        gmr__fc_columns c = gef_cols(NULL);
        ck_assert_int_eq(gmr__fc_read_csv("/nonexistent/x.csv", &c, &set), GMR_ERR_IO);
    }
}
END_TEST

START_TEST(test_reader_holiday_column)
{
    char path[512], text[4096];
    gmr__fc_set set;
    gmr__fc_columns c = gef_cols(NULL);
    size_t n = (size_t)sprintf(text, "Date,Hour,load,T,holiday\n");
    for (int h = 1; h <= 24; h++) n += (size_t)sprintf(text + n, "2014-03-01,%d,1,2,%d\n", h, h >= 20);
    write_file("hol.csv", text, path, sizeof path);
    c.holiday = "holiday";
    ck_assert_int_eq(gmr__fc_read_csv(path, &c, &set), GMR_OK);
    ck_assert_ptr_nonnull(set.s[0].hol);
    for (int h = 0; h < 24; h++) ck_assert_int_eq(set.s[0].hol[h], h >= 19);
    gmr__fc_set_free(&set);
    c.holiday = NULL;
    ck_assert_int_eq(gmr__fc_read_csv(path, &c, &set), GMR_OK);
    ck_assert_ptr_null(set.s[0].hol);
    gmr__fc_set_free(&set);
    c.holiday = "holiday";
    strcpy(strstr(text, "2014-03-01,5,1,2,0"), "2014-03-01,5,1,2,yes\n");
    write_file("hol.csv", text, path, sizeof path);
    gmr_err_clear();
    ck_assert_int_eq(gmr__fc_read_csv(path, &c, &set), GMR_ERR_DATA);
    ck_assert_msg(strstr(gmr_err_message(), ":6: holiday 'yes' is not 0 or 1"), "%s", gmr_err_message());
    c.holiday = "festival";
    ck_assert_int_eq(gmr__fc_read_csv(path, &c, &set), GMR_ERR_DATA);
    ck_assert_msg(strstr(gmr_err_message(), ":1: no holiday column 'festival'"), "%s", gmr_err_message());
}
END_TEST

START_TEST(test_metrics)
{
    double a[5] = {100, 200, NAN, 400, 0}, f[5] = {110, 190, 5, NAN, 3};
    gmr__fc_metrics m;
    gmr__fc_metrics_compute(5, a, f, &m);
    /* scored: (100, 110), (200, 190), (0, 3); MAPE over the non-zero actuals */
    ck_assert_uint_eq(m.n, 3);
    ck_assert_double_eq_tol(m.mape, 100 * (0.1 + 0.05) / 2, 1e-12);
    ck_assert_double_eq_tol(m.rmse, sqrt((100.0 + 100 + 9) / 3), 1e-12);
    {
        double mean = 100, tss = 0 + 100 * 100 + 100 * 100;
        (void)mean;
        ck_assert_double_eq_tol(m.r2, 1 - 209 / tss, 1e-12);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forecast");
    TCase *tc = tcase_create("forecast");
    int rc;
    if (!tmpdir_make("/tmp/check_forecast_XXXXXX")) return EXIT_FAILURE;
    tcase_add_test(tc, test_dates);
    tcase_add_test(tc, test_holidays);
    tcase_add_test(tc, test_reader_ok);
    tcase_add_test(tc, test_reader_errors);
    tcase_add_test(tc, test_reader_holiday_column);
    tcase_add_test(tc, test_metrics);
    suite_add_tcase(s, tc);
    rc = run_suite(s);
    tmpdir_remove();
    return rc;
}
