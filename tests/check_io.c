/* check_io.c - specification tests for record-aligned splits and record readers
 * (src/io/split.c, src/io/reader.c).
 *
 * What must hold: a split boundary moves to just after the first '\n' at or after b-1 (or to
 * the end of the file); scanning the splits of a file, cut the way headquarters cuts it, yields
 * exactly the file's lines, in order, once each, whatever the split size and read window;
 * records longer than max_record are reported once each and skipped without disturbing their
 * neighbours; CSV records split by RFC 4180; a JSON line becomes an object read by path, or a bad
 * record with jansson's reason; a blob manifest row yields the blob's sniffed type and XXH3
 * (checked against libxxhash directly), or a bad record naming the blob's file and offset.
 *
 * References are independent of the code under test: lines are found by splitting the file's
 * bytes on '\n' here, and the first newline at or after an offset by a plain loop. Test files
 * live in a mkdtemp directory that the (unchecked, parent-side) fixture removes even when a test
 * fails. Fixed seeds, so a failure reproduces.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "gridmr/json.h"
#include "io/io.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------------------- */

static void tmpdir_create(void)
{
    if (!tmpdir_make("/tmp/gmr_check_io_XXXXXX")) {
        perror("mkdtemp");
        abort();
    }
}

/* Write a test file and open it for reading; the path is kept in `path` (>= 256 bytes). */
static int write_test_file(const char *name, const char *data, size_t len, char *path)
{
    FILE *fp;
    int fd;
    tmp_path(path, 256, name);
    fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot create %s", path);
    ck_assert_msg(fwrite(data, 1, len, fp) == len, "cannot write %s", path);
    ck_assert_int_eq(fclose(fp), 0);
    fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "cannot open %s", path);
    return fd;
}

/* Random lines of random bytes (never '\n'; '\r' and NUL included), mostly short, some long
 * (up to 1100 bytes, beyond the scanner's initial 256-byte buffer) and some empty. */
static char *random_lines(size_t target, int final_newline, size_t *len)
{
    char *s = malloc(target + 1024);
    size_t n = 0;
    ck_assert_ptr_nonnull(s);
    while (n < target) {
        size_t l = rng_below(10) == 0 ? rng_below(150) : rng_below(25);
        if (rng_below(60) == 0) l = 200 + rng_below(900); /* longer than any read buffer starts */
        if (rng_below(12) == 0) l = 0;
        for (size_t i = 0; i < l; i++) {
            char c;
            switch (rng_below(20)) {
            case 0: c = '\r'; break;
            case 1: c = '\0'; break;
            case 2: c = (char)(0x80 + rng_below(128)); break;
            default: c = (char)('a' + rng_below(26)); break;
            }
            s[n++] = c;
        }
        s[n++] = '\n';
    }
    if (!final_newline) s[n++] = 'z'; /* last line without its '\n' */
    *len = n;
    return s;
}

/* The independent reference: the file's lines, split on '\n' here. */
typedef struct lines {
    size_t n;
    size_t *off, *len;
} lines;

static lines split_lines(const char *s, size_t size)
{
    lines L = {0, malloc((size + 2) * sizeof(size_t)), malloc((size + 2) * sizeof(size_t))};
    size_t start = 0;
    ck_assert(L.off && L.len);
    for (size_t i = 0; i < size; i++)
        if (s[i] == '\n') {
            L.off[L.n] = start;
            L.len[L.n] = i - start;
            L.n++;
            start = i + 1;
        }
    if (start < size) {
        L.off[L.n] = start;
        L.len[L.n] = size - start;
        L.n++;
    }
    return L;
}

static void lines_free(lines *L)
{
    free(L->off);
    free(L->len);
}

/* What the scanner handed out, in order. */
typedef struct collected {
    char *bytes;
    size_t bytes_len, bytes_cap;
    size_t n, cap;
    size_t *off, *len;
    uint64_t *at;     /* the file offset the scanner gave */
    int *overlong;
    int polls;
    int fail_at;      /* return an error at this record (1-based), 0 = never */
} collected;

static gmr_err collect_line(void *ctx, const char *line, size_t len, uint64_t at, int overlong)
{
    collected *c = ctx;
    if (c->fail_at && (int)c->n + 1 == c->fail_at) return GMR_ERROR(GMR_ERR_DATA, "stop at record %d", c->fail_at);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 256;
        c->off = realloc(c->off, c->cap * sizeof *c->off);
        c->len = realloc(c->len, c->cap * sizeof *c->len);
        c->overlong = realloc(c->overlong, c->cap * sizeof *c->overlong);
        c->at = realloc(c->at, c->cap * sizeof *c->at);
        if (!c->off || !c->len || !c->overlong || !c->at) return GMR_ERR_NOMEM;
    }
    if (c->bytes_len + len > c->bytes_cap) {
        while (c->bytes_len + len > c->bytes_cap) c->bytes_cap = c->bytes_cap ? 2 * c->bytes_cap : 4096;
        c->bytes = realloc(c->bytes, c->bytes_cap);
        if (!c->bytes) return GMR_ERR_NOMEM;
    }
    if (overlong && (line != NULL || len != 0)) return GMR_ERROR(GMR_ERR_INTERNAL, "overlong record passed non-empty");
    if (len) memcpy(c->bytes + c->bytes_len, line, len);
    c->off[c->n] = c->bytes_len;
    c->len[c->n] = len;
    c->overlong[c->n] = overlong;
    c->at[c->n] = at;
    c->bytes_len += len;
    c->n++;
    return GMR_OK;
}

static gmr_err count_poll(void *ctx)
{
    ((collected *)ctx)->polls++;
    return GMR_OK;
}

static void collected_free(collected *c)
{
    free(c->bytes);
    free(c->off);
    free(c->len);
    free(c->overlong);
    free(c->at);
    memset(c, 0, sizeof *c);
}

/* Independent first-newline search: the boundary b (0 < b < size) moved to just after the
 * first '\n' at or after b - 1, or size. */
static uint64_t reference_align(const char *s, uint64_t size, uint64_t b)
{
    for (uint64_t j = b - 1; j < size; j++)
        if (s[j] == '\n') return j + 1;
    return size;
}

static void expect_align(int fd, const char *path, uint64_t size, uint64_t b, uint64_t expected)
{
    uint64_t got = 12345;
    gmr_err e = gmr__split_align(fd, path, size, b, &got);
    ck_assert_msg(e == GMR_OK, "split_align(b=%llu) failed: %s", (unsigned long long)b, gmr_err_message());
    ck_assert_msg(got == expected, "split_align(b=%llu) of a %llu-byte file: expected %llu, got %llu",
                  (unsigned long long)b, (unsigned long long)size, (unsigned long long)expected,
                  (unsigned long long)got);
}

/* Cuts the way the brief for HQ reads: at multiples of S, each moved by split_align, dropping
 * cuts that land on or before the previous one. Returns the number of splits; cuts[0..n]. */
static size_t plan_cuts(int fd, const char *path, uint64_t size, uint64_t S, uint64_t *cuts)
{
    size_t n = 0;
    cuts[0] = 0;
    for (uint64_t k = 1; size && k * S < size; k++) {
        uint64_t a = 0;
        REQUIRE(gmr__split_align(fd, path, size, k * S, &a) == GMR_OK, "split_align failed: %s", gmr_err_message());
        REQUIRE(a > k * S - 1 && a <= size, "split_align(%llu) = %llu is outside (b-1, size]",
                (unsigned long long)(k * S), (unsigned long long)a);
        if (a >= size) break;
        if (a > cuts[n]) cuts[++n] = a;
    }
    if (size) cuts[++n] = size;
    return n;
}

/* Scan every split [cuts[i], cuts[i+1]) and compare what comes out with the reference lines:
 * record r is line r, or (when longer than max_record) an overlong report. */
static void scan_and_compare(int fd, const char *path, const char *data, const lines *L, const uint64_t *cuts,
                             size_t nsplits, size_t window, uint64_t max_record, int fresh_buffer, const char *what)
{
    collected c;
    gmr__buf buf = {0};
    uint64_t total = 0;
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < nsplits; i++) {
        uint64_t nrec = 999999, before = c.n;
        if (fresh_buffer) gmr__buf_free(&buf);
        gmr_err e = gmr__split_scan(fd, path, cuts[i], cuts[i + 1] - cuts[i], window, max_record, &buf, collect_line,
                                    &c, count_poll, &c, &nrec);
        REQUIRE(e == GMR_OK, "%s: split_scan [%llu, %llu) failed: %s", what, (unsigned long long)cuts[i],
                (unsigned long long)cuts[i + 1], gmr_err_message());
        REQUIRE(nrec == c.n - before, "%s: split [%llu, %llu): nrec %llu but %zu records handed out", what,
                (unsigned long long)cuts[i], (unsigned long long)cuts[i + 1], (unsigned long long)nrec,
                c.n - before);
        total += nrec;
    }
    REQUIRE(total == L->n, "%s: expected %zu records in all, got %llu", what, L->n, (unsigned long long)total);
    REQUIRE(c.n == L->n, "%s: expected %zu records, callback saw %zu", what, L->n, c.n);
    for (size_t r = 0; r < L->n; r++) {
        REQUIRE(c.at[r] == L->off[r], "%s: record %zu: expected file offset %zu, the scanner said %llu", what, r,
                L->off[r], (unsigned long long)c.at[r]);
        if (L->len[r] > max_record) {
            REQUIRE(c.overlong[r] == 1 && c.len[r] == 0,
                    "%s: record %zu (%zu bytes > max_record %llu): expected an overlong report, got overlong=%d len=%zu",
                    what, r, L->len[r], (unsigned long long)max_record, c.overlong[r], c.len[r]);
        } else {
            REQUIRE(c.overlong[r] == 0, "%s: record %zu (%zu bytes) reported overlong (max_record %llu)", what, r,
                    L->len[r], (unsigned long long)max_record);
            REQUIRE(c.len[r] == L->len[r] && (!L->len[r] || memcmp(c.bytes + c.off[r], data + L->off[r], L->len[r]) == 0),
                    "%s: record %zu: expected %zu bytes at file offset %zu, got %zu different bytes", what, r,
                    L->len[r], L->off[r], c.len[r]);
        }
    }
    gmr__buf_free(&buf);
    collected_free(&c);
}

/* ---- gmr__split_align ------------------------------------------------------------------ */

START_TEST(test_align_boundaries_in_small_file)
{
    char path[256];
    const char *s = "abc\ndef\nghi\n";
    int fd = write_test_file("small", s, 12, path);
    expect_align(fd, path, 12, 4, 4);  /* right after a '\n': stays */
    expect_align(fd, path, 12, 5, 8);  /* inside "def": to the next line */
    expect_align(fd, path, 12, 7, 8);  /* on the '\n' of "def" */
    expect_align(fd, path, 12, 3, 4);  /* b-1 is 'c', b is the '\n' */
    expect_align(fd, path, 12, 1, 4);
    expect_align(fd, path, 12, 11, 12); /* inside the last line */
    close(fd);
}
END_TEST

START_TEST(test_align_in_last_line_without_newline)
{
    char path[256];
    int fd = write_test_file("nolf", "abc\ndef", 7, path);
    expect_align(fd, path, 7, 4, 4);
    expect_align(fd, path, 7, 5, 7);
    expect_align(fd, path, 7, 6, 7);
    close(fd);
}
END_TEST

START_TEST(test_align_across_a_line_longer_than_64k)
{
    char path[256];
    size_t size = 2 + 100000 + 1 + 2;
    char *s = malloc(size);
    ck_assert_ptr_nonnull(s);
    memcpy(s, "a\n", 2);
    memset(s + 2, 'x', 100000);
    memcpy(s + 100002, "\nb\n", 3);
    int fd = write_test_file("long", s, size, path);
    expect_align(fd, path, size, 2, 2);
    expect_align(fd, path, size, 3, 100003);
    expect_align(fd, path, size, 50000, 100003);
    expect_align(fd, path, size, 65537, 100003);
    expect_align(fd, path, size, 100002, 100003);
    expect_align(fd, path, size, 100003, 100003);
    expect_align(fd, path, size, 100004, size);
    close(fd);
    free(s);
}
END_TEST

START_TEST(test_align_without_any_newline_gives_file_size)
{
    char path[256];
    size_t size = 200000;
    char *s = malloc(size);
    ck_assert_ptr_nonnull(s);
    memset(s, 'y', size);
    int fd = write_test_file("flat", s, size, path);
    expect_align(fd, path, size, 1, size);
    expect_align(fd, path, size, 500, size);
    expect_align(fd, path, size, size - 1, size);
    close(fd);
    free(s);
}
END_TEST

START_TEST(test_align_matches_reference_at_every_offset)
{
    char path[256];
    size_t size;
    rng_seed(11);
    char *s = random_lines(4000, 0, &size);
    int fd = write_test_file("random", s, size, path);
    for (uint64_t b = 1; b < size; b++) {
        uint64_t got = 0, want = reference_align(s, size, b);
        REQUIRE(gmr__split_align(fd, path, size, b, &got) == GMR_OK, "split_align(%llu) failed: %s",
                (unsigned long long)b, gmr_err_message());
        REQUIRE(got == want, "split_align(b=%llu): expected %llu, got %llu", (unsigned long long)b,
                (unsigned long long)want, (unsigned long long)got);
    }
    close(fd);
    free(s);
}
END_TEST

/* ---- gmr__split_scan ------------------------------------------------------------------- */

static void scan_many_split_sizes(int final_newline)
{
    char path[256];
    size_t size;
    rng_seed(final_newline ? 21 : 22);
    char *s = random_lines(6000, final_newline, &size);
    int fd = write_test_file(final_newline ? "lf" : "nolf", s, size, path);
    lines L = split_lines(s, size);
    uint64_t *cuts = malloc((size + 2) * sizeof *cuts);
    const size_t windows[] = {4, 7, 64, 65536};
    uint64_t sizes[230];
    size_t nsizes = 0;
    char what[128];
    ck_assert_ptr_nonnull(cuts);
    size_t nlong = 0;
    for (size_t r = 0; r < L.n; r++) nlong += L.len[r] > 256;
    ck_assert_msg(L.n > 100 && nlong >= 2, "test file has only %zu lines, %zu over 256 bytes", L.n, nlong);
    for (uint64_t S = 1; S <= 200; S++) sizes[nsizes++] = S;
    for (int i = 0; i < 20; i++) sizes[nsizes++] = 201 + rng_below(size);
    sizes[nsizes++] = size - 1;
    sizes[nsizes++] = size;
    sizes[nsizes++] = size + 7;
    for (size_t k = 0; k < nsizes; k++) {
        size_t nsplits = plan_cuts(fd, path, size, sizes[k], cuts);
        for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++)
            for (int fresh = 0; fresh < 2; fresh++) {
                snprintf(what, sizeof what, "split size %llu, window %zu, %s buffer", (unsigned long long)sizes[k],
                         windows[w], fresh ? "fresh" : "reused");
                scan_and_compare(fd, path, s, &L, cuts, nsplits, windows[w], UINT64_MAX, fresh, what);
            }
    }
    free(cuts);
    lines_free(&L);
    close(fd);
    free(s);
}

START_TEST(test_scan_splits_give_every_line_once)
{
    scan_many_split_sizes(1);
}
END_TEST

START_TEST(test_scan_splits_last_line_without_newline)
{
    scan_many_split_sizes(0);
}
END_TEST

START_TEST(test_scan_overlong_records_reported_once_and_neighbours_intact)
{
    char path[256];
    size_t size;
    rng_seed(31);
    char *s = random_lines(6000, 0, &size);
    int fd = write_test_file("overlong", s, size, path);
    lines L = split_lines(s, size);
    uint64_t *cuts = malloc((size + 2) * sizeof *cuts);
    const uint64_t max_records[] = {0, 1, 10, 24, 100, 300, 700};
    const size_t windows[] = {4, 7, 11, 64, 65536};
    const uint64_t split_sizes[] = {1, 13, 50, 97, 500, 100000};
    size_t noverlong = 0;
    char what[160];
    ck_assert_ptr_nonnull(cuts);
    for (size_t r = 0; r < L.n; r++) noverlong += L.len[r] > 10;
    ck_assert_msg(noverlong > 10 && noverlong < L.n - 10, "test file: %zu of %zu lines over 10 bytes", noverlong, L.n);
    for (size_t m = 0; m < sizeof max_records / sizeof max_records[0]; m++)
        for (size_t k = 0; k < sizeof split_sizes / sizeof split_sizes[0]; k++) {
            size_t nsplits = plan_cuts(fd, path, size, split_sizes[k], cuts);
            for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++)
                for (int fresh = 0; fresh < 2; fresh++) {
                    snprintf(what, sizeof what, "max_record %llu, split size %llu, window %zu, %s buffer",
                             (unsigned long long)max_records[m], (unsigned long long)split_sizes[k], windows[w],
                             fresh ? "fresh" : "reused");
                    scan_and_compare(fd, path, s, &L, cuts, nsplits, windows[w], max_records[m], fresh, what);
                }
        }
    free(cuts);
    lines_free(&L);
    close(fd);
    free(s);
}
END_TEST

/* One overlong line spanning many windows, between two short ones, in one split. */
START_TEST(test_scan_overlong_line_spanning_windows)
{
    char path[256];
    size_t size = 3 + 5000 + 4; /* "ab\n", 5000 q, "\ncd\n" */
    char *s = malloc(size);
    collected c;
    gmr__buf buf = {0};
    uint64_t nrec = 0;
    ck_assert_ptr_nonnull(s);
    memcpy(s, "ab\n", 3);
    memset(s + 3, 'q', 5000);
    memcpy(s + 5003, "\ncd\n", 4);
    int fd = write_test_file("span", s, size, path);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(gmr__split_scan(fd, path, 0, size, 16, 100, &buf, collect_line, &c, count_poll, &c, &nrec),
                     GMR_OK);
    ck_assert_msg(nrec == 3 && c.n == 3, "expected 3 records, got nrec %llu, %zu calls", (unsigned long long)nrec, c.n);
    ck_assert_msg(c.overlong[0] == 0 && c.len[0] == 2 && memcmp(c.bytes + c.off[0], "ab", 2) == 0,
                  "record 0: expected \"ab\"");
    ck_assert_msg(c.overlong[1] == 1, "record 1: expected one overlong report, got overlong=%d len=%zu", c.overlong[1],
                  c.len[1]);
    ck_assert_msg(c.overlong[2] == 0 && c.len[2] == 2 && memcmp(c.bytes + c.off[2], "cd", 2) == 0,
                  "record 2: expected \"cd\", got %zu bytes overlong=%d", c.len[2], c.overlong[2]);
    ck_assert_msg(buf.cap <= 4096, "the buffer grew to %zu bytes for max_record 100", buf.cap);
    /* the window never exceeds the buffer, so there is at least one poll per buffer-full */
    ck_assert_msg(c.polls >= (int)(size / buf.cap), "expected a poll per window (>= %zu for a %zu-byte buffer), got %d",
                  size / buf.cap, buf.cap, c.polls);
    collected_free(&c);
    gmr__buf_free(&buf);
    close(fd);
    free(s);
}
END_TEST

START_TEST(test_scan_keeps_crlf_as_data)
{
    char path[256];
    const char *s = "a\r\nb\r\n\r\nlast\r";
    size_t size = strlen(s);
    collected c;
    gmr__buf buf = {0};
    uint64_t nrec = 0;
    const char *expected[] = {"a\r", "b\r", "\r", "last\r"};
    int fd = write_test_file("crlf", s, size, path);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(gmr__split_scan(fd, path, 0, size, 64, 1000, &buf, collect_line, &c, NULL, NULL, &nrec), GMR_OK);
    ck_assert_msg(nrec == 4 && c.n == 4, "expected 4 records, got nrec %llu, %zu calls", (unsigned long long)nrec, c.n);
    for (int r = 0; r < 4; r++)
        ck_assert_msg(c.len[r] == strlen(expected[r]) && memcmp(c.bytes + c.off[r], expected[r], c.len[r]) == 0,
                      "record %d: expected \"%s\" (%zu bytes) with its '\\r', got %zu bytes", r, expected[r],
                      strlen(expected[r]), c.len[r]);
    collected_free(&c);
    gmr__buf_free(&buf);
    close(fd);
}
END_TEST

START_TEST(test_scan_empty_file_and_empty_range)
{
    char path[256];
    collected c;
    gmr__buf buf = {0};
    uint64_t nrec = 77;
    int fd = write_test_file("empty", "", 0, path);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(gmr__split_scan(fd, path, 0, 0, 64, 1000, &buf, collect_line, &c, NULL, NULL, &nrec), GMR_OK);
    ck_assert_msg(nrec == 0 && c.n == 0, "empty file: expected 0 records, got nrec %llu, %zu calls",
                  (unsigned long long)nrec, c.n);
    close(fd);
    fd = write_test_file("two", "x\ny", 3, path);
    nrec = 77;
    ck_assert_int_eq(gmr__split_scan(fd, path, 2, 0, 64, 1000, &buf, collect_line, &c, NULL, NULL, &nrec), GMR_OK);
    ck_assert_msg(nrec == 0 && c.n == 0, "empty range: expected 0 records, got nrec %llu, %zu calls",
                  (unsigned long long)nrec, c.n);
    ck_assert_int_eq(gmr__split_scan(fd, path, 2, 1, 64, 1000, &buf, collect_line, &c, NULL, NULL, &nrec), GMR_OK);
    ck_assert_msg(nrec == 1 && c.n == 1 && c.len[0] == 1 && c.bytes[c.off[0]] == 'y',
                  "last line \"y\" without '\\n': expected 1 record \"y\", got nrec %llu, %zu calls",
                  (unsigned long long)nrec, c.n);
    collected_free(&c);
    gmr__buf_free(&buf);
    close(fd);
}
END_TEST

START_TEST(test_scan_propagates_callback_errors)
{
    char path[256];
    collected c;
    gmr__buf buf = {0};
    uint64_t nrec = 0;
    int fd = write_test_file("stop", "a\nb\nc\nd\n", 8, path);
    memset(&c, 0, sizeof c);
    c.fail_at = 3;
    gmr_err e = gmr__split_scan(fd, path, 0, 8, 4, 1000, &buf, collect_line, &c, NULL, NULL, &nrec);
    ck_assert_msg(e == GMR_ERR_DATA, "expected the callback's GMR_ERR_DATA, got %s", gmr_err_name(e));
    ck_assert_msg(c.n == 2, "expected the scan to stop after 2 records, got %zu", c.n);
    ck_assert_msg(strstr(gmr_err_message(), "stop at record 3") != NULL, "message lost: \"%s\"", gmr_err_message());
    collected_free(&c);
    gmr__buf_free(&buf);
    close(fd);
}
END_TEST

START_TEST(test_scan_of_truncated_file_is_an_io_error)
{
    char path[256];
    collected c;
    gmr__buf buf = {0};
    uint64_t nrec = 0;
    int fd = write_test_file("short", "a\nb\n", 4, path);
    memset(&c, 0, sizeof c);
    /* a range that runs past the end: the file shrank after planning */
    gmr_err e = gmr__split_scan(fd, path, 0, 10, 64, 1000, &buf, collect_line, &c, NULL, NULL, &nrec);
    ck_assert_msg(e == GMR_ERR_IO, "expected GMR_ERR_IO, got %s", gmr_err_name(e));
    ck_assert_msg(strstr(gmr_err_message(), path) != NULL, "expected the message to name %s, got \"%s\"", path,
                  gmr_err_message());
    collected_free(&c);
    gmr__buf_free(&buf);
    close(fd);
}
END_TEST

/* ---- gmr__csv_split -------------------------------------------------------------------- */

typedef struct csv_case {
    gmr__buf fields, scratch;
    size_t n;
    const char *why;
    int rc;
} csv_case;

static void csv_run(csv_case *c, const char *line, size_t len)
{
    c->n = 12345;
    c->why = NULL;
    c->rc = gmr__csv_split(line, len, &c->fields, &c->scratch, &c->n, &c->why);
}

static void csv_free(csv_case *c)
{
    gmr__buf_free(&c->fields);
    gmr__buf_free(&c->scratch);
}

/* expected: n fields, given as C strings (no NUL inside) */
static void expect_fields(const char *line, size_t n, const char *const *expected)
{
    csv_case c;
    memset(&c, 0, sizeof c);
    csv_run(&c, line, strlen(line));
    ck_assert_msg(c.rc == 0, "csv \"%s\": expected success, got %d (%s)", line, c.rc, c.why ? c.why : "no reason");
    ck_assert_msg(c.n == n, "csv \"%s\": expected %zu fields, got %zu", line, n, c.n);
    const gmr_field *f = (const gmr_field *)(const void *)c.fields.data;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(f[i].len == strlen(expected[i]) && memcmp(f[i].ptr, expected[i], f[i].len) == 0,
                      "csv \"%s\": field %zu: expected \"%s\", got \"%.*s\"", line, i, expected[i], (int)f[i].len,
                      f[i].ptr);
    csv_free(&c);
}

static void expect_csv_error(const char *line, const char *reason_part)
{
    csv_case c;
    memset(&c, 0, sizeof c);
    csv_run(&c, line, strlen(line));
    ck_assert_msg(c.rc == -1, "csv \"%s\": expected -1, got %d", line, c.rc);
    ck_assert_msg(c.why && strstr(c.why, reason_part), "csv \"%s\": expected a reason with \"%s\", got \"%s\"", line,
                  reason_part, c.why ? c.why : "(none)");
    csv_free(&c);
}

#define FIELDS(...) (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), (const char *const[]){__VA_ARGS__}

START_TEST(test_csv_plain_and_empty_fields)
{
    expect_fields("a,b,c", FIELDS("a", "b", "c"));
    expect_fields("one", FIELDS("one"));
    expect_fields("", FIELDS(""));
    expect_fields("a,,b", FIELDS("a", "", "b"));
    expect_fields(",", FIELDS("", ""));
    expect_fields(",,", FIELDS("", "", ""));
    expect_fields("a,b,", FIELDS("a", "b", ""));
    expect_fields(" a , b ", FIELDS(" a ", " b ")); /* spaces are data */
}
END_TEST

START_TEST(test_csv_quoted_fields)
{
    expect_fields("\"a,b\",c", FIELDS("a,b", "c"));
    expect_fields("x,\"a,b\"", FIELDS("x", "a,b"));
    expect_fields("\"say \"\"hi\"\"\",2", FIELDS("say \"hi\"", "2"));
    expect_fields("\"\"\"\"", FIELDS("\""));
    expect_fields("\"\"", FIELDS(""));
    expect_fields("\"\",\"\"", FIELDS("", ""));
    expect_fields("\"\",", FIELDS("", ""));
    expect_fields("\"a\",", FIELDS("a", ""));
    expect_fields("1,\"\",3", FIELDS("1", "", "3"));
}
END_TEST

START_TEST(test_csv_line_terminator)
{
    expect_fields("a,b\r", FIELDS("a", "b"));
    expect_fields("\r", FIELDS(""));
    expect_fields("a,\r", FIELDS("a", ""));
    expect_fields("\"q\"\r", FIELDS("q"));
    expect_fields("a,b\r\r", FIELDS("a", "b\r")); /* only the terminator's '\r' goes */
    expect_fields("\"a\r\"", FIELDS("a\r"));      /* a '\r' inside quotes is data */
}
END_TEST

START_TEST(test_csv_errors)
{
    expect_csv_error("\"abc", "unterminated");
    expect_csv_error("a,\"b", "unterminated");
    expect_csv_error("\"abc\"\"", "unterminated");
    expect_csv_error("\"", "unterminated");
    expect_csv_error("\"abc\"x,1", "after a closing quote");
    expect_csv_error("1,\"abc\" ", "after a closing quote");
    expect_csv_error("\"a\"\"b\"c", "after a closing quote");
}
END_TEST

/* A quote that does not start a field is ordinary data: the field is taken as it is, quotes and
 * all, and a comma after it still separates (no quoting starts in mid-field). */
START_TEST(test_csv_quote_inside_unquoted_field_is_data)
{
    expect_fields("a\"b,c", FIELDS("a\"b", "c"));
    expect_fields("a\"b,c\"d", FIELDS("a\"b", "c\"d"));
    expect_fields("ab\"\"", FIELDS("ab\"\""));
    expect_fields(" \"x,y\"", FIELDS(" \"x", "y\""));
}
END_TEST

START_TEST(test_csv_thousand_fields_and_buffer_reuse)
{
    char *line = malloc(20000), expect[32];
    size_t len = 0;
    csv_case c;
    memset(&c, 0, sizeof c);
    ck_assert_ptr_nonnull(line);
    for (int i = 0; i < 1000; i++) {
        if (i) line[len++] = ',';
        if (i % 3 == 0)
            len += (size_t)sprintf(line + len, "\"q%d,\"\"%d\"", i, i); /* "q<i>,""<i>" -> q<i>,"<i> */
        else if (i % 7 == 0)
            ; /* empty field */
        else
            len += (size_t)sprintf(line + len, "f%d", i);
    }
    line[len++] = '\r';
    for (int pass = 0; pass < 2; pass++) {
        csv_run(&c, line, len);
        ck_assert_msg(c.rc == 0, "1000 fields: expected success, got %d (%s)", c.rc, c.why ? c.why : "");
        ck_assert_msg(c.n == 1000, "expected 1000 fields, got %zu", c.n);
        const gmr_field *f = (const gmr_field *)(const void *)c.fields.data;
        for (int i = 0; i < 1000; i++) {
            if (i % 3 == 0)
                sprintf(expect, "q%d,\"%d", i, i);
            else if (i % 7 == 0)
                expect[0] = '\0';
            else
                sprintf(expect, "f%d", i);
            REQUIRE(f[i].len == strlen(expect) && memcmp(f[i].ptr, expect, f[i].len) == 0,
                    "pass %d, field %d: expected \"%s\", got \"%.*s\"", pass, i, expect, (int)f[i].len, f[i].ptr);
        }
        /* a short record after a long one: the count is for this record only */
        csv_run(&c, "x,y", 3);
        ck_assert_msg(c.rc == 0 && c.n == 2, "after 1000 fields, \"x,y\": expected 2 fields, got %zu", c.n);
    }
    csv_free(&c);
    free(line);
}
END_TEST

START_TEST(test_readers_by_name)
{
    const gmr__reader_ops *lines_r = gmr__reader_find("lines"), *csv_r = gmr__reader_find("csv");
    gmr__reader_state st;
    gmr_record rec;
    const char *why = NULL;
    memset(&st, 0, sizeof st);
    memset(&rec, 0, sizeof rec);
    ck_assert_msg(lines_r && lines_r->version == GMR_READER_OPS_VERSION && !lines_r->has_header,
                  "\"lines\": expected a version-%d reader without a header", GMR_READER_OPS_VERSION);
    ck_assert_msg(csv_r && csv_r->version == GMR_READER_OPS_VERSION && csv_r->has_header,
                  "\"csv\": expected a version-%d reader with a header", GMR_READER_OPS_VERSION);
    ck_assert_msg(gmr__reader_find("jsonl") && !gmr__reader_find("jsonl")->has_header && !gmr__reader_find("jsonl")->split_cap,
                  "\"jsonl\": expected a reader without a header or split cap");
    ck_assert_msg(gmr__reader_find("blob") && gmr__reader_find("blob")->has_header && gmr__reader_find("blob")->split_cap > 0,
                  "\"blob\": expected a manifest reader (header) with a split cap");
    ck_assert_ptr_null(gmr__reader_find("json"));
    ck_assert_ptr_null(gmr__reader_find(NULL));
    ck_assert_int_eq(lines_r->parse(&st, "a,b\r", 4, &rec, &why), 0);
    ck_assert_msg(rec.len == 4 && rec.nfields == 0, "lines: expected the raw 4 bytes, got len %zu nfields %zu",
                  rec.len, rec.nfields);
    ck_assert_int_eq(csv_r->parse(&st, "a,\"b\"\r", 6, &rec, &why), 0);
    ck_assert_msg(rec.len == 6 && rec.nfields == 2 && rec.fields[1].len == 1 && rec.fields[1].ptr[0] == 'b',
                  "csv: expected raw 6 bytes and fields a|b, got len %zu nfields %zu", rec.len, rec.nfields);
    ck_assert_int_eq(csv_r->parse(&st, "\"a", 2, &rec, &why), -1);
    ck_assert_msg(why && strstr(why, "unterminated"), "csv: expected an unterminated-quote reason, got \"%s\"",
                  why ? why : "(none)");
    gmr__reader_state_free(&st);
}
END_TEST

/* ---- jsonl reader and gridmr/json.h ------------------------------------------------------ */

static int jsonl(gmr__reader_state *st, const char *line, gmr_record *rec, const char **why)
{
    return gmr__reader_find("jsonl")->parse(st, line, strlen(line), rec, why);
}

START_TEST(test_jsonl_object_and_paths)
{
    gmr__reader_state st;
    gmr_record rec;
    gmr_json_value v, arr;
    const char *why = NULL;
    memset(&st, 0, sizeof st);
    memset(&rec, 0, sizeof rec);
    ck_assert_int_eq(jsonl(&st, "{\"a\":{\"b\":[10,{\"c\":\"x\\u0000y\"}],\"r\":2.5,\"t\":true,\"n\":null},\"s\":\"\\u00e9\"}\r", &rec, &why),
                     GMR_OK);
    ck_assert_ptr_nonnull(rec.json);
    ck_assert_msg(gmr_record_json(&rec, "a.b.0", &v) == GMR_JSON_NUMBER && v.is_integer && v.integer == 10 && v.num == 10,
                  "a.b.0: expected the integer 10, got type %d integer %lld", v.type, (long long)v.integer);
    ck_assert_msg(gmr_record_json(&rec, "a.b.1.c", &v) == GMR_JSON_STRING && v.len == 3 && memcmp(v.str, "x\0y", 3) == 0,
                  "a.b.1.c: expected the 3 bytes x NUL y, got type %d len %zu", v.type, v.len);
    ck_assert_msg(gmr_record_json(&rec, "a.r", &v) == GMR_JSON_NUMBER && !v.is_integer && v.num == 2.5,
                  "a.r: expected the real 2.5, got type %d %g", v.type, v.num);
    ck_assert_msg(gmr_record_json(&rec, "a.t", &v) == GMR_JSON_BOOL && v.num == 1, "a.t: expected true");
    ck_assert_msg(gmr_record_json(&rec, "a.n", &v) == GMR_JSON_NULL, "a.n: expected null, got %d", v.type);
    ck_assert_msg(gmr_record_json(&rec, "s", &v) == GMR_JSON_STRING && v.len == 2 && strcmp(v.str, "\xc3\xa9") == 0,
                  "s: expected e-acute in UTF-8");
    ck_assert_msg(gmr_record_json(&rec, "", &v) == GMR_JSON_OBJECT && v.len == 2, "\"\": expected the 2-member root");
    /* absent: a missing member, an index past the end, not an index, a path through a scalar, a trailing dot */
    const char *missing[] = {"z", "a.b.2", "a.b.x", "a.r.q", "a.", "a.b.01x"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        ck_assert_msg(gmr_record_json(&rec, missing[i], &v) == GMR_JSON_MISSING && v.node == NULL && v.len == 0,
                      "%s: expected MISSING, got type %d", missing[i], v.type);
    /* from a value found before */
    ck_assert_int_eq(gmr_record_json(&rec, "a.b", &arr), GMR_JSON_ARRAY);
    ck_assert_msg(arr.len == 2 && gmr_json_get(&arr, "1.c", &v) == GMR_JSON_STRING && v.len == 3, "a.b then 1.c");
    ck_assert_int_eq(gmr_json_get(NULL, "x", &v), GMR_JSON_MISSING);
    /* the next record replaces the object (no leak under ASan); a non-JSON record has none */
    ck_assert_int_eq(jsonl(&st, "{\"k\":1}", &rec, &why), GMR_OK);
    ck_assert_int_eq(gmr_record_json(&rec, "a", &v), GMR_JSON_MISSING);
    rec.json = NULL;
    ck_assert_int_eq(gmr_record_json(&rec, "", &v), GMR_JSON_MISSING);
    gmr__reader_state_free(&st);
    ck_assert_ptr_null(st.json);
}
END_TEST

START_TEST(test_jsonl_rejects_with_reason)
{
    gmr__reader_state st;
    gmr_record rec;
    const char *why = NULL;
    struct { const char *line, *reason; } bad[] = {
        {"{\"a\":1", "invalid JSON at column"},
        {"{\"a\":1}x", "invalid JSON at column"},
        {"{\"a\":1,\"a\":2}", "duplicate object key"},
        {"{\"a\":\"\xff\"}", "unable to decode byte"},
        {"{\"a\":\"tab\there\"}", "control character"},
        {"[1,2]", "must hold an object, this one holds an array"},
        {"\"text\"", "invalid JSON"},
        {"42", "invalid JSON"},
    };
    memset(&st, 0, sizeof st);
    memset(&rec, 0, sizeof rec);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        ck_assert_msg(jsonl(&st, bad[i].line, &rec, &why) == GMR__REC_BAD && why && strstr(why, bad[i].reason),
                      "'%s': expected a bad record saying '%s', got '%s'", bad[i].line, bad[i].reason, why ? why : "(none)");
        for (const char *c = why; *c; c++) ck_assert_msg((unsigned char)*c >= 0x20, "reason with a control character");
        ck_assert_ptr_null(rec.json);
    }
    ck_assert_int_eq(jsonl(&st, "", &rec, &why), GMR__REC_SKIP);
    ck_assert_int_eq(jsonl(&st, " \t\r", &rec, &why), GMR__REC_SKIP);
    gmr__reader_state_free(&st);
}
END_TEST

/* ---- blob reader ------------------------------------------------------------------------- */

START_TEST(test_media_sniff)
{
    static const struct { const char *bytes; size_t n; gmr_media m; } cases[] = {
        {"\x89PNG\r\n\x1a\n....", 12, GMR_MEDIA_PNG},
        {"\x89PNG\r\n\x1a", 7, GMR_MEDIA_UNKNOWN},      /* too short */
        {"\xff\xd8\xff\xe0", 4, GMR_MEDIA_JPEG},
        {"RIFF\x24\0\0\0WAVEfmt ", 16, GMR_MEDIA_WAV},
        {"RIFF\x24\0\0\0AVI LIST", 16, GMR_MEDIA_UNKNOWN}, /* RIFF but not WAVE */
        {"ID3\x03\0\0", 6, GMR_MEDIA_MP3},
        {"\xff\xfb\x90\x64", 4, GMR_MEDIA_MP3},          /* MPEG-1 Layer III frame */
        {"\xff\xfd\x90\x64", 4, GMR_MEDIA_UNKNOWN},      /* Layer II */
        {"\xff\xfb\xf0\x64", 4, GMR_MEDIA_UNKNOWN},      /* bad bitrate index */
        {"%PDF-1.4\n", 9, GMR_MEDIA_PDF},
        {"\0\0\0\0\r\n\x1a\n", 8, GMR_MEDIA_UNKNOWN},   /* a PNG whose first 4 bytes were zeroed */
        {"", 0, GMR_MEDIA_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(gmr_media_sniff(cases[i].bytes, cases[i].n) == cases[i].m, "case %zu: expected %s, got %s", i,
                      gmr_media_name(cases[i].m), gmr_media_name(gmr_media_sniff(cases[i].bytes, cases[i].n)));
    ck_assert_str_eq(gmr_media_mime(GMR_MEDIA_MP3), "audio/mpeg");
    ck_assert_str_eq(gmr_media_name((gmr_media)99), "unknown");
}
END_TEST

/* A pack of three blobs (one longer than the reader's 1 MiB chunk) and a manifest header. */
typedef struct blob_fixture {
    char pack[256], manifest[256];
    unsigned char *bytes;
    size_t off[3], len[3];
    gmr__buf hdr_fields, hdr_scratch;
    size_t nheader;
} blob_fixture;

static void blob_fixture_make(blob_fixture *fx, const char *header)
{
    static const size_t lens[3] = {100, 1500000, 3000};
    size_t total = 0;
    const char *why = NULL;
    memset(fx, 0, sizeof *fx);
    for (int i = 0; i < 3; i++) total += lens[i];
    fx->bytes = malloc(total);
    ck_assert_ptr_nonnull(fx->bytes);
    rng_seed(42);
    for (size_t i = 0; i < total; i++) fx->bytes[i] = (unsigned char)rng_below(256);
    total = 0;
    for (int i = 0; i < 3; i++) {
        fx->off[i] = total;
        fx->len[i] = lens[i];
        total += lens[i];
    }
    memcpy(fx->bytes + fx->off[0], "\x89PNG\r\n\x1a\n", 8);
    memcpy(fx->bytes + fx->off[1], "%PDF-", 5);
    close(write_test_file("pack.bin", (const char *)fx->bytes, total, fx->pack));
    close(write_test_file("manifest.csv", header, strlen(header), fx->manifest));
    ck_assert_int_eq(gmr__csv_split(header, strlen(header), &fx->hdr_fields, &fx->hdr_scratch, &fx->nheader, &why), 0);
}

static void blob_fixture_free(blob_fixture *fx)
{
    free(fx->bytes);
    gmr__buf_free(&fx->hdr_fields);
    gmr__buf_free(&fx->hdr_scratch);
}

static int blob_line(gmr__reader_state *st, blob_fixture *fx, gmr_record *rec, const char **why, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    memset(rec, 0, sizeof *rec);
    rec->file = fx->manifest;
    rec->file_index = 0;
    rec->nheader = fx->nheader;
    rec->header = (const gmr_field *)(const void *)fx->hdr_fields.data;
    return gmr__reader_find("blob")->parse(st, line, strlen(line), rec, why);
}

START_TEST(test_blob_metadata_and_mismatches)
{
    blob_fixture fx;
    gmr__reader_state st;
    gmr_record rec;
    const char *why = NULL;
    uint64_t h[3];
    blob_fixture_make(&fx, "blob_id,file,offset,length,mime,xxh3");
    for (int i = 0; i < 3; i++) h[i] = XXH3_64bits(fx.bytes + fx.off[i], fx.len[i]);
    memset(&st, 0, sizeof st);
    /* right: metadata from the bytes; the long blob is hashed in chunks, to the same value */
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B1,pack.bin,%zu,%zu,image/png,%016llx", fx.off[0], fx.len[0],
                               (unsigned long long)h[0]), GMR_OK);
    ck_assert_msg(rec.blob && rec.blob->media == GMR_MEDIA_PNG && rec.blob->size == 100 && rec.blob->xxh3 == h[0] &&
                      strcmp(rec.blob->id, "B1") == 0 && strcmp(rec.blob->path, fx.pack) == 0 && rec.nfields == 6,
                  "B1: wrong metadata");
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B2,pack.bin,%zu,%zu,application/pdf,%016llX", fx.off[1], fx.len[1],
                               (unsigned long long)h[1]), GMR_OK);
    ck_assert_msg(rec.blob->media == GMR_MEDIA_PDF && rec.blob->xxh3 == h[1] && rec.blob->offset == 100,
                  "B2 (1.5 MB): expected pdf and XXH3 %016llx, got %s %016llx", (unsigned long long)h[1],
                  gmr_media_name(rec.blob->media), (unsigned long long)rec.blob->xxh3);
    /* optional columns left empty: nothing to compare */
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B3,pack.bin,%zu,%zu,,", fx.off[2], fx.len[2]), GMR_OK);
    ck_assert_int_eq(rec.blob->media, GMR_MEDIA_UNKNOWN);
    /* mismatches and unreadable blobs: bad records whose reason names the file and offset */
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B1,pack.bin,%zu,%zu,image/png,%016llx", fx.off[0], fx.len[0],
                               (unsigned long long)(h[0] ^ 1)), GMR__REC_BAD);
    ck_assert_msg(strstr(why, "blob B1 (pack.bin at offset 0, 100 bytes): hash mismatch") != NULL, "got '%s'", why);
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B2,pack.bin,%zu,%zu,image/jpeg,%016llx", fx.off[1], fx.len[1],
                               (unsigned long long)h[1]), GMR__REC_BAD);
    ck_assert_msg(strstr(why, "at offset 100, 1500000 bytes): type mismatch: the bytes are pdf, the manifest says image/jpeg"),
                  "got '%s'", why);
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B3,pack.bin,%zu,%zu,,", fx.off[2], fx.len[2] + 1), GMR__REC_BAD);
    ck_assert_msg(strstr(why, "truncated: the file ends after 3000 of its bytes") != NULL, "got '%s'", why);
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B4,gone.bin,0,1,,"), GMR__REC_BAD);
    ck_assert_msg(strstr(why, "cannot open") && strstr(why, "No such file"), "got '%s'", why);
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B5,pack.bin,0,1,,zz"), GMR__REC_BAD);
    ck_assert_msg(strstr(why, "not 16 hex digits") != NULL, "got '%s'", why);
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B6,pack.bin,-1,1,,"), GMR__REC_BAD);
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B7,pack.bin,0,1"), GMR__REC_BAD);
    ck_assert_msg(strstr(why, "expected 6 fields, found 4") != NULL, "got '%s'", why);
    ck_assert_int_eq(blob_line(&st, &fx, &rec, &why, "B8,\"pack.bin,0,1,,"), GMR__REC_BAD);
    gmr__reader_state_free(&st);
    ck_assert_ptr_null(st.blob);
    blob_fixture_free(&fx);
}
END_TEST

START_TEST(test_blob_manifest_needs_columns)
{
    blob_fixture fx;
    gmr__reader_state st;
    gmr_record rec;
    const char *why = NULL;
    int r;
    blob_fixture_make(&fx, "id,path,offset,length");
    memset(&st, 0, sizeof st);
    r = blob_line(&st, &fx, &rec, &why, "B1,pack.bin,0,1");
    ck_assert_msg(r == GMR_ERR_DATA && strstr(gmr_err_message(), "needs the columns file, offset and length"),
                  "expected GMR_ERR_DATA for a manifest without 'file', got %d (%s)", r, gmr_err_message());
    gmr_err_clear();
    gmr__reader_state_free(&st);
    blob_fixture_free(&fx);
}
END_TEST

/* ---- runner ---------------------------------------------------------------------------- */

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("align");
    tcase_add_unchecked_fixture(tc, tmpdir_create, tmpdir_remove);
    tcase_add_test(tc, test_align_boundaries_in_small_file);
    tcase_add_test(tc, test_align_in_last_line_without_newline);
    tcase_add_test(tc, test_align_across_a_line_longer_than_64k);
    tcase_add_test(tc, test_align_without_any_newline_gives_file_size);
    tcase_add_test(tc, test_align_matches_reference_at_every_offset);
    suite_add_tcase(s, tc);

    tc = tcase_create("scan");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, tmpdir_create, tmpdir_remove);
    tcase_add_test(tc, test_scan_splits_give_every_line_once);
    tcase_add_test(tc, test_scan_splits_last_line_without_newline);
    tcase_add_test(tc, test_scan_overlong_records_reported_once_and_neighbours_intact);
    tcase_add_test(tc, test_scan_overlong_line_spanning_windows);
    tcase_add_test(tc, test_scan_keeps_crlf_as_data);
    tcase_add_test(tc, test_scan_empty_file_and_empty_range);
    tcase_add_test(tc, test_scan_propagates_callback_errors);
    tcase_add_test(tc, test_scan_of_truncated_file_is_an_io_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("csv");
    tcase_add_test(tc, test_csv_plain_and_empty_fields);
    tcase_add_test(tc, test_csv_quoted_fields);
    tcase_add_test(tc, test_csv_line_terminator);
    tcase_add_test(tc, test_csv_errors);
    tcase_add_test(tc, test_csv_quote_inside_unquoted_field_is_data);
    tcase_add_test(tc, test_csv_thousand_fields_and_buffer_reuse);
    tcase_add_test(tc, test_readers_by_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("jsonl");
    tcase_add_test(tc, test_jsonl_object_and_paths);
    tcase_add_test(tc, test_jsonl_rejects_with_reason);
    suite_add_tcase(s, tc);

    tc = tcase_create("blob");
    tcase_add_unchecked_fixture(tc, tmpdir_create, tmpdir_remove);
    tcase_add_test(tc, test_media_sniff);
    tcase_add_test(tc, test_blob_metadata_and_mismatches);
    tcase_add_test(tc, test_blob_manifest_needs_columns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(io_suite()); }
