/* testutil.h - helpers shared by the Check unit tests (tests/check_*.c), and by nothing else:
 * REQUIRE for hot loops, a fixed-seed PRNG, a scratch directory under /tmp, a u64 combine
 * callback for key/value tables, and the runner of a single Check suite. Everything is static,
 * so each test program has its own copy and its own state.
 *
 * A file that includes it defines _XOPEN_SOURCE 700 before its first #include (mkdtemp,
 * opendir, unlink).
 */
#ifndef GMR_TESTS_TESTUTIL_H
#define GMR_TESTS_TESTUTIL_H

#if !defined(_XOPEN_SOURCE) || _XOPEN_SOURCE < 700
#error "define _XOPEN_SOURCE 700 before the first #include of a file that includes testutil.h"
#endif

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ck_assert marks a check point on every call (a write to the runner); inside hot loops only
 * the failing case should reach Check. */
#define REQUIRE(cond, ...)                      \
    do {                                        \
        if (!(cond)) ck_abort_msg(__VA_ARGS__); \
    } while (0)

/* ---- PRNG ------------------------------------------------------------------------------ */

static uint64_t rng_state;

static inline void rng_seed(uint64_t seed) { rng_state = seed ? seed : 1; }

/* xorshift64*: tiny, fixed and good enough to drive test inputs */
static inline uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static inline uint64_t rng_below(uint64_t n) { return rng_next() % n; }

/* ---- scratch directory ----------------------------------------------------------------- */

static char tmpdir[64];

/* Creates tmpdir from a mkdtemp template ("/tmp/name_XXXXXX"); 0 (errno set) on failure. */
static inline int tmpdir_make(const char *template)
{
    strcpy(tmpdir, template);
    return mkdtemp(tmpdir) != NULL;
}

/* Removes the files in tmpdir, then tmpdir itself. */
static inline void tmpdir_remove(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[512];
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

/* path = tmpdir/name, in a buffer of cap bytes */
static inline void tmp_path(char *path, size_t cap, const char *name) { snprintf(path, cap, "%s/%s", tmpdir, name); }

/* ---- key/value tables ------------------------------------------------------------------ */

/* combine callback: *acc += *val, both 8-byte unsigned integers */
static inline void add_u64(void *ctx, void *acc, const void *val)
{
    uint64_t a, v;
    (void)ctx;
    memcpy(&a, acc, 8);
    memcpy(&v, val, 8);
    a += v;
    memcpy(acc, &a, 8);
}

/* ---- runner ---------------------------------------------------------------------------- */

/* Runs every test of s (forking per test unless CK_FORK=no); the exit status for main. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* GMR_TESTS_TESTUTIL_H */
