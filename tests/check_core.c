/* check_core.c - specification tests for the core pieces that need no MPI run:
 * size parsing (src/cli/opts.c), error codes, messages and tracebacks (src/core/err.c), the
 * engine's hash and destination choice (src/mr/kvtable.c, src/mr/shuffle.h), the province
 * layout (src/topo/topo.c) and the progress report's lines (src/core/progress.c).
 *
 * References are independent of the code under test: expected names and messages are typed
 * out here rather than taken from the X-macro table, the hash is judged by how it spreads keys
 * (not by a value computed with the same library), and province layouts are checked against
 * their stated properties. Fixed seeds, so a failure reproduces.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "gridmr/err.h"
#include "mr/kvtable.h"
#include "mr/shuffle.h"
#include "opts.h"
#include "topo/topo.h"
#include "testutil.h"

/* ---- gmr__parse_size ------------------------------------------------------------------- */

static void expect_size(const char *text, uint64_t expected)
{
    uint64_t got = UINT64_C(0xdeadbeef);
    int rc = gmr__parse_size(text, &got);
    ck_assert_msg(rc == 0, "parse_size(\"%s\"): expected success, got %d", text, rc);
    ck_assert_msg(got == expected, "parse_size(\"%s\"): expected %llu, got %llu", text,
                  (unsigned long long)expected, (unsigned long long)got);
}

static void expect_bad_size(const char *text)
{
    uint64_t got = UINT64_C(0x5eed);
    int rc = gmr__parse_size(text, &got);
    ck_assert_msg(rc == -1, "parse_size(\"%s\"): expected -1 (bad text), got %d with %llu", text, rc,
                  (unsigned long long)got);
    ck_assert_msg(got == UINT64_C(0x5eed), "parse_size(\"%s\") failed but changed *bytes to %llu", text,
                  (unsigned long long)got);
}

START_TEST(test_parse_size_accepts_numbers_and_suffixes)
{
    expect_size("10", 10);
    expect_size("0", 0);
    expect_size("1k", 1024);
    expect_size("1K", 1024);
    expect_size("64M", UINT64_C(64) << 20);
    expect_size("64m", UINT64_C(64) << 20);
    expect_size("3G", UINT64_C(3) << 30);
    expect_size("1MiB", UINT64_C(1) << 20);
    expect_size("2KB", 2048);
    expect_size("18446744073709551615", UINT64_MAX);
    expect_size("17179869183G", UINT64_C(17179869183) << 30); /* largest G that fits */
}
END_TEST

START_TEST(test_parse_size_rejects_bad_text)
{
    expect_bad_size("");
    expect_bad_size("-1");
    expect_bad_size("12Q");
    expect_bad_size("1.5M");
    expect_bad_size("M");
    expect_bad_size("1MM");
    expect_bad_size("1MiBx");
    expect_bad_size("1 M");
    ck_assert_int_eq(gmr__parse_size(NULL, &(uint64_t){0}), -1);
}
END_TEST

START_TEST(test_parse_size_rejects_overflow)
{
    expect_bad_size("18446744073709551616");   /* 2^64 */
    expect_bad_size("99999999999999999999999");
    expect_bad_size("17179869184G");           /* 2^34 G = 2^64 */
    expect_bad_size("18014398509481984K");     /* 2^54 K = 2^64 */
}
END_TEST

/* A sign hidden behind white space is still a negative number: strtoull would turn " -1" into
 * 2^64 - 1 bytes. */
START_TEST(test_parse_size_rejects_sign_after_space)
{
    expect_bad_size(" -1");
    expect_bad_size("\t-5M");
}
END_TEST

/* ---- error codes and messages ---------------------------------------------------------- */

static const struct {
    gmr_err code;
    const char *name, *message;
} expected_errors[] = {
    {0, "GMR_OK", "success"},
    {1, "GMR_ERR_ARG", "invalid argument"},
    {2, "GMR_ERR_NOMEM", "out of memory"},
    {3, "GMR_ERR_IO", "input/output error"},
    {4, "GMR_ERR_MPI", "MPI error"},
    {5, "GMR_ERR_HDF5", "HDF5 error"},
    {6, "GMR_ERR_DATA", "bad input data"},
    {7, "GMR_ERR_STATE", "operation not valid in this state"},
    {8, "GMR_ERR_INTERNAL", "internal error"},
};

START_TEST(test_err_names_and_messages_for_every_code)
{
    for (size_t i = 0; i < sizeof expected_errors / sizeof expected_errors[0]; i++) {
        gmr_err e = expected_errors[i].code;
        ck_assert_msg(strcmp(gmr_err_name(e), expected_errors[i].name) == 0, "gmr_err_name(%d): expected %s, got %s",
                      e, expected_errors[i].name, gmr_err_name(e));
        ck_assert_msg(strcmp(gmr_strerror(e), expected_errors[i].message) == 0,
                      "gmr_strerror(%d): expected \"%s\", got \"%s\"", e, expected_errors[i].message, gmr_strerror(e));
    }
    /* the enum values are the documented numbers */
    ck_assert_int_eq(GMR_OK, 0);
    ck_assert_int_eq(GMR_ERR_IO, 3);
    ck_assert_int_eq(GMR_ERR_DATA, 6);
}
END_TEST

START_TEST(test_err_unknown_codes)
{
    const int unknown[] = {-1, 10, 42, 1000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ck_assert_msg(strcmp(gmr_err_name(unknown[i]), "GMR_ERR_UNKNOWN") == 0,
                      "gmr_err_name(%d): expected GMR_ERR_UNKNOWN, got %s", unknown[i], gmr_err_name(unknown[i]));
        ck_assert_msg(strcmp(gmr_strerror(unknown[i]), "unknown error") == 0,
                      "gmr_strerror(%d): expected \"unknown error\", got \"%s\"", unknown[i], gmr_strerror(unknown[i]));
    }
}
END_TEST

/* Three functions in the house style: inner checks a precondition, middle and outer propagate. */
static int inner_check_line, middle_call_line, outer_call_line, silent_call_line;

static gmr_err inner(int n)
{
    gmr_err err = GMR_OK;
    inner_check_line = __LINE__ + 1;
    GMR_CHECK(n > 0, GMR_ERR_ARG, "n=%d must be positive", n);
out:
    return err;
}

static gmr_err middle(int n)
{
    gmr_err err = GMR_OK;
    middle_call_line = __LINE__ + 1;
    GMR_CALL(inner(n));
out:
    return err;
}

static gmr_err outer(int n)
{
    gmr_err err = GMR_OK;
    outer_call_line = __LINE__ + 1;
    GMR_CALL(middle(n));
out:
    return err;
}

/* Fails without recording any message. */
static gmr_err bare_io_failure(void) { return GMR_ERR_IO; }

static gmr_err calls_bare_failure(void)
{
    gmr_err err = GMR_OK;
    silent_call_line = __LINE__ + 1;
    GMR_CALL(bare_io_failure());
out:
    return err;
}

static void expect_contains(const char *haystack, const char *needle)
{
    ck_assert_msg(strstr(haystack, needle) != NULL, "expected the message to contain \"%s\", got \"%s\"", needle,
                  haystack);
}

START_TEST(test_check_and_call_build_a_traceback)
{
    char where[256];
    const char *msg;
    const char *p_inner, *p_middle, *p_outer;

    gmr_err_clear();
    ck_assert_int_eq(outer(5), GMR_OK);
    ck_assert_msg(strcmp(gmr_err_message(), "") == 0, "success recorded a message: \"%s\"", gmr_err_message());

    ck_assert_int_eq(outer(-3), GMR_ERR_ARG);
    msg = gmr_err_message();
    ck_assert_msg(strncmp(msg, "n=-3 must be positive", 21) == 0,
                  "expected the message to start with \"n=-3 must be positive\", got \"%s\"", msg);

    snprintf(where, sizeof where, "at inner (%s:%d)", __FILE__, inner_check_line);
    expect_contains(msg, where);
    p_inner = strstr(msg, where);
    snprintf(where, sizeof where, "at middle (%s:%d)", __FILE__, middle_call_line);
    expect_contains(msg, where);
    p_middle = strstr(msg, where);
    snprintf(where, sizeof where, "at outer (%s:%d)", __FILE__, outer_call_line);
    expect_contains(msg, where);
    p_outer = strstr(msg, where);
    ck_assert_msg(p_inner < p_middle && p_middle < p_outer,
                  "expected the traceback innermost first (inner, middle, outer), got \"%s\"", msg);
    ck_assert_int_eq(gmr_err_is_remote(), 0);
}
END_TEST

START_TEST(test_call_without_message_uses_the_code_text)
{
    char where[256];
    gmr_err_clear();
    ck_assert_int_eq(calls_bare_failure(), GMR_ERR_IO);
    ck_assert_msg(strncmp(gmr_err_message(), "input/output error", 18) == 0,
                  "expected the message to start with \"input/output error\", got \"%s\"", gmr_err_message());
    snprintf(where, sizeof where, "at calls_bare_failure (%s:%d)", __FILE__, silent_call_line);
    expect_contains(gmr_err_message(), where);
}
END_TEST

START_TEST(test_new_error_replaces_old_message_and_remote_flag)
{
    gmr_err e;
    gmr_err_clear();
    ck_assert_int_eq(outer(-1), GMR_ERR_ARG);
    gmr__err_mark_remote();
    ck_assert_int_eq(gmr_err_is_remote(), 1);
    e = GMR_ERROR(GMR_ERR_DATA, "second %s", "failure");
    ck_assert_int_eq(e, GMR_ERR_DATA);
    ck_assert_msg(strncmp(gmr_err_message(), "second failure\n", 15) == 0,
                  "expected the new message to replace the old, got \"%s\"", gmr_err_message());
    ck_assert_msg(strstr(gmr_err_message(), "n=-1") == NULL, "old message kept: \"%s\"", gmr_err_message());
    ck_assert_int_eq(gmr_err_is_remote(), 0);
    gmr__err_mark_remote();
    gmr_err_clear();
    ck_assert_int_eq(gmr_err_is_remote(), 0);
    ck_assert_str_eq(gmr_err_message(), "");
}
END_TEST

START_TEST(test_long_message_is_cut_not_overflowed)
{
    size_t n = 10000;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', n);
    big[n] = '\0';
    ck_assert_int_eq(GMR_ERROR(GMR_ERR_ARG, "%s", big), GMR_ERR_ARG);
    for (int i = 0; i < 50; i++) gmr__err_trace(GMR_ERR_ARG, __FILE__, __LINE__, __func__);
    size_t len = strlen(gmr_err_message());
    ck_assert_msg(len >= 1000 && len < 4096, "expected a message cut below 4096 bytes, got %zu bytes", len);
    ck_assert_msg(strncmp(gmr_err_message(), big, 1000) == 0, "the message does not start with the detail");
    free(big);
    gmr_err_clear();
}
END_TEST

/* gmr__err_context: "put context in front of the recorded message, once" */
START_TEST(test_context_is_prefixed_once_and_fits)
{
    size_t n = 5000;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    GMR_ERROR(GMR_ERR_HDF5, "HDF5: H5Dwrite failed");
    gmr__err_context("stage %s, writing %s", "/tmp/x.stage", "map/run_000001/records");
    gmr__err_context("stage %s, writing %s", "/tmp/x.stage", "map/run_000001/records");
    const char *want = "stage /tmp/x.stage, writing map/run_000001/records: HDF5: H5Dwrite failed\n";
    ck_assert_msg(strncmp(gmr_err_message(), want, strlen(want)) == 0,
                  "expected the context once before the message, got '%s'", gmr_err_message());
    memset(big, 'y', n);
    big[n] = '\0';
    GMR_ERROR(GMR_ERR_ARG, "%s", big);
    gmr__err_context("ctx");
    ck_assert_msg(strncmp(gmr_err_message(), "ctx: yyy", 8) == 0 && strlen(gmr_err_message()) < 4096,
                  "a full message must still get its context and stay under 4096 bytes");
    free(big);
    gmr_err_clear();
}
END_TEST

/* ---- hash and destinations ------------------------------------------------------------- */

START_TEST(test_hash_is_a_function_of_the_bytes)
{
    char a[64], b[64];
    for (int i = 0; i < 64; i++) a[i] = b[i] = (char)(i * 37 + 1);
    for (size_t len = 0; len <= 64; len++)
        REQUIRE(gmr__hash(a, len) == gmr__hash(b, len), "hash of %zu equal bytes differs between buffers", len);
    /* different bytes or lengths give different hashes (no collision among these few) */
    REQUIRE(gmr__hash("a", 1) != gmr__hash("a\0", 2), "\"a\" and \"a\\0\" hash alike");
    REQUIRE(gmr__hash("ab", 2) != gmr__hash("ba", 2), "\"ab\" and \"ba\" hash alike");
    REQUIRE(gmr__hash("", 0) != gmr__hash("\0", 1), "\"\" and \"\\0\" hash alike");
    REQUIRE(gmr__hash("hello", 5) == gmr__hash("hello world", 5), "hash reads past the length");
}
END_TEST

#define SPREAD_KEYS 100000

static uint64_t *spread_hashes(void)
{
    uint64_t *h = malloc(SPREAD_KEYS * sizeof *h);
    char key[32];
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < SPREAD_KEYS; i++) {
        int len = snprintf(key, sizeof key, "key-%d", i);
        h[i] = gmr__hash(key, (size_t)len);
    }
    return h;
}

START_TEST(test_dest_spreads_keys_uniformly_at_both_levels)
{
    uint64_t *h = spread_hashes();
    const gmr__level levels[2] = {GMR_LEVEL_PROVINCE, GMR_LEVEL_GLOBAL};
    for (int l = 0; l < 2; l++)
        for (int size = 2; size <= 7; size++) {
            long count[7] = {0};
            double expect = (double)SPREAD_KEYS / size;
            for (int i = 0; i < SPREAD_KEYS; i++) {
                int d = gmr__dest(h[i], levels[l], size);
                REQUIRE(d >= 0 && d < size, "dest %d out of range for size %d", d, size);
                count[d]++;
            }
            for (int d = 0; d < size; d++)
                REQUIRE(fabs((double)count[d] - expect) <= 0.05 * expect,
                              "level %d, size %d, dest %d: expected %.0f +- 5%%, got %ld", (int)levels[l], size, d,
                              expect, count[d]);
        }
    free(h);
}
END_TEST

START_TEST(test_dest_levels_are_independent)
{
    uint64_t *h = spread_hashes();
    long pair[4][4] = {{0}};
    double expect = SPREAD_KEYS / 16.0;
    for (int i = 0; i < SPREAD_KEYS; i++)
        pair[gmr__dest(h[i], GMR_LEVEL_PROVINCE, 4)][gmr__dest(h[i], GMR_LEVEL_GLOBAL, 4)]++;
    for (int p = 0; p < 4; p++)
        for (int g = 0; g < 4; g++)
            REQUIRE(fabs((double)pair[p][g] - expect) <= 0.10 * expect,
                          "(province dest %d, global dest %d): expected %.0f +- 10%%, got %ld", p, g, expect,
                          pair[p][g]);
    free(h);
}
END_TEST

/* ---- topology -------------------------------------------------------------------------- */

START_TEST(test_provinces_are_contiguous_balanced_blocks)
{
    for (int size = 1; size <= 64; size++)
        for (int P = 1; P <= size; P++) {
            int members[64] = {0}, prev = 0;
            REQUIRE(gmr__topo_province_of(0, size, P) == 0, "size %d, P %d: rank 0 in province %d, expected 0",
                          size, P, gmr__topo_province_of(0, size, P));
            for (int r = 0; r < size; r++) {
                int k = gmr__topo_province_of(r, size, P);
                REQUIRE(k >= 0 && k < P, "size %d, P %d: rank %d in province %d, expected 0..%d", size, P, r, k,
                              P - 1);
                REQUIRE(k == prev || k == prev + 1,
                              "size %d, P %d: rank %d in province %d after rank %d in %d (not contiguous)", size, P, r,
                              k, r - 1, prev);
                prev = k;
                members[k]++;
            }
            int lo = size, hi = 0;
            for (int k = 0; k < P; k++) {
                REQUIRE(members[k] > 0, "size %d, P %d: province %d is empty", size, P, k);
                if (members[k] < lo) lo = members[k];
                if (members[k] > hi) hi = members[k];
            }
            REQUIRE(hi - lo <= 1, "size %d, P %d: province sizes from %d to %d, expected a spread <= 1", size, P,
                          lo, hi);
            REQUIRE(members[0] == lo, "size %d, P %d: HQ's province has %d ranks, larger than the smallest %d",
                          size, P, members[0], lo);
        }
}
END_TEST

START_TEST(test_default_provinces_is_rounded_sqrt)
{
    const int size[] = {1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 16, 100};
    const int expected[] = {1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 10};
    for (size_t i = 0; i < sizeof size / sizeof size[0]; i++)
        REQUIRE(gmr__topo_default_provinces(size[i]) == expected[i],
                      "default provinces for %d ranks: expected %d, got %d", size[i], expected[i],
                      gmr__topo_default_provinces(size[i]));
}
END_TEST

/* ---- progress report ------------------------------------------------------------------- */

/* Runs the reporter with stderr sent to a file; returns what it wrote (static buffer). */
static const char *progress_output(const char *mode, int enabled)
{
    static char text[4096];
    char path[] = "/tmp/gridmr-progress-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    gmr__progress *p = NULL;
    FILE *fp;
    size_t n;
    ck_assert_msg(fd >= 0 && saved >= 0, "cannot make a scratch file");
    if (mode) setenv("GRIDMR_PROGRESS", mode, 1); else unsetenv("GRIDMR_PROGRESS");
    fflush(stderr);
    dup2(fd, 2);
    gmr__progress_create(enabled, 1e-9, &p); /* every call draws */
    gmr__progress_phase(p, "map", 1000000, 4, 300000, 1); /* 0.3 MB reused from a stage */
    gmr__progress_update(p, 500000, 2);
    gmr__progress_update(p, 1000000, 4);
    gmr__progress_phase(p, "shuffle", 0, 0, 0, 0);
    gmr__progress_destroy(&p);
    ck_assert_msg(p == NULL, "gmr__progress_destroy did not reset the handle");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fp = fdopen(fd, "r");
    rewind(fp);
    n = fread(text, 1, sizeof text - 1, fp);
    text[n] = 0;
    fclose(fp);
    unlink(path);
    unsetenv("GRIDMR_PROGRESS");
    return text;
}

START_TEST(test_progress_plain_lines)
{
    const char *t = progress_output("lines", 1);
    /* reused work counts in the percent but not in the rate: no ETA before this run did work */
    ck_assert_msg(strstr(t, "gridmr: map 30.0% (0.3 of 1.0 MB, 1/4 splits) 0.0 MB/s, ETA ?, ") == t,
                  "first line: got \"%.120s\"", t);
    ck_assert_msg(strstr(t, "\ngridmr: map 50.0% (0.5 of 1.0 MB, 2/4 splits) ") != NULL, "no 50%% line in \"%s\"", t);
    ck_assert_msg(strstr(t, "\ngridmr: map 100.0% (1.0 of 1.0 MB, 4/4 splits) ") != NULL, "no 100%% line in \"%s\"", t);
    ck_assert_msg(strstr(t, "\ngridmr: shuffle, ") != NULL, "no shuffle line in \"%s\"", t);
    ck_assert_msg(strchr(t, '\r') == NULL, "a carriage return in plain lines");
}
END_TEST

START_TEST(test_progress_bar_and_silence)
{
    const char *t = progress_output("bar", 1);
    ck_assert_msg(strstr(t, "\rmap      [######..............]  30.0%  0.3/1.0 MB") != NULL, "no 30%% bar in \"%s\"", t);
    ck_assert_msg(strstr(t, "\rmap      [##########..........]  50.0%  0.5/1.0 MB") != NULL, "no 50%% bar in \"%s\"", t);
    ck_assert_msg(strstr(t, "\rshuffle ") != NULL, "no shuffle bar in \"%s\"", t);
    ck_assert_msg(strlen(t) >= 4 && strcmp(t + strlen(t) - 4, "\r\033[K") == 0, "the bar is not cleared at the end");
    ck_assert_msg(strchr(t, '\n') == NULL, "a newline in the bar");
    t = progress_output("off", 1);
    ck_assert_msg(t[0] == 0, "GRIDMR_PROGRESS=off printed \"%s\"", t);
    t = progress_output(NULL, 0);
    ck_assert_msg(t[0] == 0, "a disabled reporter printed \"%s\"", t);
}
END_TEST

/* ---- runner ---------------------------------------------------------------------------- */

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("parse_size");
    tcase_add_test(tc, test_parse_size_accepts_numbers_and_suffixes);
    tcase_add_test(tc, test_parse_size_rejects_bad_text);
    tcase_add_test(tc, test_parse_size_rejects_overflow);
    tcase_add_test(tc, test_parse_size_rejects_sign_after_space);
    suite_add_tcase(s, tc);

    tc = tcase_create("err");
    tcase_add_test(tc, test_err_names_and_messages_for_every_code);
    tcase_add_test(tc, test_err_unknown_codes);
    tcase_add_test(tc, test_check_and_call_build_a_traceback);
    tcase_add_test(tc, test_call_without_message_uses_the_code_text);
    tcase_add_test(tc, test_new_error_replaces_old_message_and_remote_flag);
    tcase_add_test(tc, test_long_message_is_cut_not_overflowed);
    tcase_add_test(tc, test_context_is_prefixed_once_and_fits);
    suite_add_tcase(s, tc);

    tc = tcase_create("progress");
    tcase_add_test(tc, test_progress_plain_lines);
    tcase_add_test(tc, test_progress_bar_and_silence);
    suite_add_tcase(s, tc);

    tc = tcase_create("hash");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_hash_is_a_function_of_the_bytes);
    tcase_add_test(tc, test_dest_spreads_keys_uniformly_at_both_levels);
    tcase_add_test(tc, test_dest_levels_are_independent);
    suite_add_tcase(s, tc);

    tc = tcase_create("topo");
    tcase_add_test(tc, test_provinces_are_contiguous_balanced_blocks);
    tcase_add_test(tc, test_default_provinces_is_rounded_sqrt);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(core_suite()); }
