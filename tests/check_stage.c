/* check_stage.c - specification tests for the staging store (src/stage/stage.c). Run under
 * mpirun at 1 to 4 ranks with CK_FORK=no; every rank runs every test.
 *
 * What must hold: a phase saved by every rank (combine-mode or list-mode tables, keys of any
 * length from 0, empty tables on some or all ranks, segments across the 1 MiB chunk boundary)
 * is loaded back by a later open with resume and the same fingerprint exactly as it was, per
 * rank, with its meta figures and text ("" included); gmr__stage_has is true only for a phase
 * that was written completely; a foreign fingerprint or a missing file is explained by
 * gmr__stage_note and replaced by an empty stage, and a stage opened without resume starts
 * empty; a damaged segment makes gmr__stage_load return GMR_ERR_DATA on every rank, reported
 * by the damaged rank ("fails its checksum") and named by the others ("failed on rank R"),
 * and saving the phase again replaces it.
 *
 * The reference is independent of the table and of the stage: each rank's records are built
 * here from a fixed seed (keys distinct by construction, combined sums computed here), and a
 * loaded table is compared with them as sorted (key, value) records walked out of the table.
 * Damage and a missing completion mark are made with serial HDF5 by rank 0 while the stage is
 * closed and the other ranks wait. Every verdict is collective (all_assert), as in
 * check_engine.c, so no rank leaves a test while the others wait in a collective.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gridmr/log.h"
#include "mr/kvtable.h"
#include "stage/stage.h"
#include "testutil.h"
#include "testutil_mpi.h"


/* ---- records: the reference, and what a table holds ------------------------------------ */

typedef struct rec {
    const unsigned char *k, *v;
    uint32_t klen, vlen;
} rec;

typedef struct recs {
    rec *r;
    size_t n, cap;
} recs;

static void recs_add(recs *s, const void *k, uint32_t klen, const void *v, uint32_t vlen)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->r = realloc(s->r, s->cap * sizeof *s->r);
        REQUIRE(s->r, "out of memory for %zu records", s->cap);
    }
    s->r[s->n++] = (rec){k, v, klen, vlen};
}

static void recs_free(recs *s)
{
    free(s->r);
    memset(s, 0, sizeof *s);
}

/* bytes order: unsigned bytes, then a shorter prefix first */
static int bytes_cmp(const unsigned char *a, uint32_t alen, const unsigned char *b, uint32_t blen)
{
    uint32_t m = alen < blen ? alen : blen;
    for (uint32_t i = 0; i < m; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = bytes_cmp(x->k, x->klen, y->k, y->klen);
    return c ? c : bytes_cmp(x->v, x->vlen, y->v, y->vlen);
}

/* Every (key, value) of t, walked out of its entries (not through the shuffle framing):
 * one record per key in combine mode, one per value in list mode. Pointers into t. */
static void table_records(const gmr__kvt *t, recs *out)
{
    for (uint64_t i = 0; i < t->n; i++) {
        const gmr__kv_entry *e = gmr__kvt_entry(t, i);
        const void *k = gmr__kvt_key(t, i);
        if (t->value_size) {
            recs_add(out, k, e->klen, gmr__kvt_value(t, i), (uint32_t)t->value_size);
        } else {
            uint64_t cursor = 0;
            const void *v;
            uint32_t vlen;
            while (gmr__kvt_next_value(t, i, &cursor, &v, &vlen)) recs_add(out, k, e->klen, v, vlen);
        }
    }
}

/* "[n] 6b65790a.." : length and the first bytes in hex */
static const char *show(char *buf, size_t cap, const unsigned char *p, uint32_t len)
{
    size_t at = (size_t)snprintf(buf, cap, "[%u] ", len);
    for (uint32_t i = 0; i < len && i < 12 && at + 3 < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%02x", p[i]);
    if (len > 12 && at + 3 < cap) snprintf(buf + at, cap - at, "..");
    return buf;
}

/* Compares t's records (sorted) with want (sorted); 1 when they are the same multiset, else 0
 * and the first difference in msg. Not collective. */
static int table_matches(const gmr__kvt *t, const recs *want, uint64_t want_keys, const char *what, char *msg,
                         size_t cap)
{
    recs got = {0};
    char a[64], b[64], c[64], d[64];
    int ok = 0;
    table_records(t, &got);
    if (got.n) qsort(got.r, got.n, sizeof *got.r, rec_cmp);
    if (t->n != want_keys || got.n != want->n) {
        snprintf(msg, cap, "%s: expected %llu keys and %zu records, got %llu keys and %zu records", what,
                 (unsigned long long)want_keys, want->n, (unsigned long long)t->n, got.n);
        goto out;
    }
    for (size_t i = 0; i < got.n; i++)
        if (rec_cmp(&got.r[i], &want->r[i]) != 0) {
            const rec *w = &want->r[i], *g = &got.r[i];
            int in_key = bytes_cmp(w->k, w->klen, g->k, g->klen) != 0;
            const unsigned char *x = in_key ? w->k : w->v, *y = in_key ? g->k : g->v;
            uint32_t xl = in_key ? w->klen : w->vlen, yl = in_key ? g->klen : g->vlen, at = 0;
            while (at < xl && at < yl && x[at] == y[at]) at++;
            snprintf(msg, cap,
                     "%s: sorted record %zu of %zu: expected key %s value %s, got key %s value %s (the %s differs "
                     "from byte %u)",
                     what, i, got.n, show(a, sizeof a, w->k, w->klen), show(b, sizeof b, w->v, w->vlen),
                     show(c, sizeof c, g->k, g->klen), show(d, sizeof d, g->v, g->vlen), in_key ? "key" : "value", at);
            goto out;
        }
    ok = 1;
out:
    recs_free(&got);
    return ok;
}

/* ---- the tables each rank stages ------------------------------------------------------- */

/* Key lengths around the inline limit (16) and well past it; index 0 is the empty key. */
static const uint32_t key_lens[] = {1, 2, 7, 15, 16, 17, 24, 40, 100};
#define NKEY_LENS (sizeof key_lens / sizeof key_lens[0])
#define MAX_KEY 100

/* Key i: empty for i == 0, else key_lens[i % 9] bytes that start with i's low bytes (so keys
 * of one length differ) followed by random bytes, NUL and '\n' among them. */
static uint32_t make_key(unsigned char *p, uint64_t i)
{
    static const unsigned char alphabet[] = {0, '\n', 0xff, 'a', 'b', 'c', 'z', ' '};
    uint32_t len = i ? key_lens[i % NKEY_LENS] : 0;
    for (uint32_t j = 0; j < len; j++)
        p[j] = j == 0 ? (unsigned char)(i & 0xff) : j == 1 ? (unsigned char)(i >> 8) : alphabet[rng_below(8)];
    return len;
}

typedef struct fixture {
    gmr__kvt *t;       /* what this rank saves */
    recs want;         /* the same content, computed here, sorted */
    uint64_t keys;     /* distinct keys */
    unsigned char *mem; /* bytes of the reference records */
} fixture;

static void fixture_free(fixture *f)
{
    gmr__kvt_destroy(&f->t);
    recs_free(&f->want);
    free(f->mem);
    memset(f, 0, sizeof *f);
}

/* Sorts the reference; in combine mode also checks that the generated keys are distinct. */
static void fixture_finish(fixture *f, int combine)
{
    if (f->want.n) qsort(f->want.r, f->want.n, sizeof *f->want.r, rec_cmp);
    for (size_t i = 1; combine && i < f->want.n; i++)
        REQUIRE(bytes_cmp(f->want.r[i - 1].k, f->want.r[i - 1].klen, f->want.r[i].k, f->want.r[i].klen) != 0,
                "test setup: generated key %zu repeats", i);
}

/* Combine mode, 8-byte counters: nkeys keys, key i inserted 1 + i % 3 times with random
 * counters; the reference holds each key once with the sum (mod 2^64). */
static void make_combine(fixture *f, uint64_t seed, uint64_t nkeys)
{
    size_t at = 0;
    memset(f, 0, sizeof *f);
    rng_seed(seed);
    ck_assert_int_eq(gmr__kvt_create(8, add_u64, NULL, &f->t), GMR_OK);
    f->mem = malloc(nkeys * (MAX_KEY + 8) + 1);
    ck_assert_ptr_nonnull(f->mem);
    for (uint64_t i = 0; i < nkeys; i++) {
        unsigned char *k = f->mem + at;
        uint32_t klen = make_key(k, i);
        uint64_t sum = 0, h = gmr__hash(k, klen);
        for (uint64_t j = 0; j < 1 + i % 3; j++) {
            uint64_t v = rng_next();
            sum += v;
            REQUIRE(gmr__kvt_insert(f->t, h, k, klen, &v, 8) == GMR_OK, "insert: %s", gmr_err_message());
        }
        memcpy(k + klen, &sum, 8);
        recs_add(&f->want, k, klen, k + klen, 8);
        at += klen + 8;
    }
    f->keys = nkeys;
    fixture_finish(f, 1);
}

/* List mode: nkeys keys with 1 + i % 4 values of 0..30 random bytes each; with `bulk`, one
 * more key with three values of 400000 bytes (so the data spans two 1 MiB chunks). */
static void make_list(fixture *f, uint64_t seed, uint64_t nkeys, int bulk)
{
    enum { BULK_VALUES = 3, BULK_LEN = 400000 };
    size_t at = 0, cap = nkeys * (MAX_KEY + 4 * 30) + (bulk ? MAX_KEY + BULK_VALUES * BULK_LEN : 0) + 1;
    memset(f, 0, sizeof *f);
    rng_seed(seed);
    ck_assert_int_eq(gmr__kvt_create(0, NULL, NULL, &f->t), GMR_OK);
    f->mem = malloc(cap);
    ck_assert_ptr_nonnull(f->mem);
    for (uint64_t i = 0; i < nkeys + (bulk ? 1 : 0); i++) {
        unsigned char *k = f->mem + at;
        uint32_t klen = make_key(k, i);
        uint64_t h = gmr__hash(k, klen), nvals = i < nkeys ? 1 + i % 4 : BULK_VALUES;
        at += klen;
        for (uint64_t j = 0; j < nvals; j++) {
            unsigned char *v = f->mem + at;
            uint32_t vlen = i < nkeys ? (uint32_t)rng_below(31) : BULK_LEN;
            for (uint32_t b = 0; b < vlen; b++) v[b] = (unsigned char)rng_next();
            REQUIRE(gmr__kvt_insert(f->t, h, k, klen, v, vlen) == GMR_OK, "insert: %s", gmr_err_message());
            recs_add(&f->want, k, klen, v, vlen);
            at += vlen;
        }
    }
    REQUIRE(at < cap, "test setup: %zu bytes of reference records, room for %zu", at, cap);
    f->keys = nkeys + (bulk ? 1 : 0);
    fixture_finish(f, 0);
}

/* The ranks whose tables are empty: rank 1 in combine mode, the last rank in list mode (none
 * on one rank; the "nothing" phase covers an empty table there). */
static int empty_combine_rank(void) { return size > 1 ? 1 : -1; }
static int empty_list_rank(void) { return size > 1 ? size - 1 : -1; }

/* This rank's combine-mode table: a different count on every rank, the empty key included. */
static void make_rank_combine(fixture *f, uint64_t seed)
{
    make_combine(f, seed * 100 + (uint64_t)rank + 1, rank == empty_combine_rank() ? 0 : 40 + 29 * (uint64_t)rank);
}

static void make_rank_list(fixture *f, uint64_t seed)
{
    make_list(f, seed * 100 + (uint64_t)rank + 1, rank == empty_list_rank() ? 0 : 15 + 7 * (uint64_t)rank, rank == 0);
}

/* ---- the stage, with collective verdicts --------------------------------------------------- */

static const char fp_a[] = "check_stage fingerprint A\nranks=";
static const char fp_b[] = "check_stage fingerprint B\nranks=";

/* fingerprint text, with the rank count as a real job has it */
static const char *fingerprint(const char *base)
{
    static char buf[2][128];
    static int which;
    which ^= 1;
    snprintf(buf[which], sizeof buf[which], "%s%d", base, size);
    return buf[which];
}

static gmr__stage *open_stage(const char *path, const char *fp, int resume)
{
    gmr__stage *st = NULL;
    gmr_err_clear();
    gmr_err e = gmr__stage_open(MPI_COMM_WORLD, path, fp, resume, &st);
    all_assert(e == GMR_OK && st != NULL, "gmr__stage_open(%s, resume=%d): expected GMR_OK, got %s: %s", path, resume,
               gmr_err_name(e), gmr_err_message());
    return st;
}

static void save(gmr__stage *st, const char *phase, const fixture *f, const uint64_t meta[GMR_STAGE_META],
                 const char *text)
{
    gmr_err_clear();
    gmr_err e = gmr__stage_save(st, phase, &f->t, 1, meta, text);
    all_assert(e == GMR_OK, "gmr__stage_save(%s): expected GMR_OK, got %s: %s", phase, gmr_err_name(e),
               gmr_err_message());
}

static void close_stage(gmr__stage **st)
{
    gmr__stage_close(st);
    all_assert(*st == NULL, "gmr__stage_close did not reset the handle");
}

/* Loads `phase` into a new table of f's mode and checks table, meta and text against what was
 * saved. */
static void expect_load(gmr__stage *st, const char *phase, const fixture *f, const uint64_t meta[GMR_STAGE_META],
                        const char *text)
{
    gmr__kvt *t = NULL;
    uint64_t got_meta[GMR_STAGE_META] = {0};
    char got_text[1024], msg[1024] = "";
    int ok;
    memset(got_text, '#', sizeof got_text);
    got_text[sizeof got_text - 1] = '\0';
    ck_assert_int_eq(gmr__kvt_create(f->t->value_size, f->t->combine, NULL, &t), GMR_OK);
    gmr_err_clear();
    gmr_err e = gmr__stage_load(st, phase, &t, 1, got_meta, got_text, sizeof got_text);
    all_assert(e == GMR_OK, "gmr__stage_load(%s): expected GMR_OK, got %s: %s", phase, gmr_err_name(e),
               gmr_err_message());
    ok = table_matches(t, &f->want, f->keys, phase, msg, sizeof msg);
    all_assert(ok, "loaded table differs from the saved one: %s", msg);
    ok = 1;
    for (int i = 0; i < GMR_STAGE_META; i++)
        if (got_meta[i] != meta[i]) {
            snprintf(msg, sizeof msg, "%s: meta[%d]: expected %llu, got %llu", phase, i, (unsigned long long)meta[i],
                     (unsigned long long)got_meta[i]);
            ok = 0;
            break;
        }
    all_assert(ok, "%s", msg);
    all_assert(strcmp(got_text, text) == 0, "%s: text: expected \"%s\", got \"%.200s\"", phase, text, got_text);
    gmr__kvt_destroy(&t);
}

static int same_on_all(int v)
{
    int lo = 0, hi = 0;
    MPI_Allreduce(&v, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&v, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

static void expect_has(gmr__stage *st, const char *phase, int want, const char *why)
{
    int got = gmr__stage_has(st, phase);
    all_assert(got == want, "%s: gmr__stage_has(%s): expected %s, got %s", why, phase, want ? "true" : "false",
               got ? "true" : "false");
    all_assert(same_on_all(got), "%s: gmr__stage_has(%s) differs between ranks", why, phase);
}

static void expect_note(const gmr__stage *st, const char *part, const char *why)
{
    const char *note = gmr__stage_note(st);
    if (part[0])
        all_assert(strstr(note, part) != NULL, "%s: expected the note to contain \"%s\", got \"%s\"", why, part, note);
    else
        all_assert(note[0] == '\0', "%s: expected no note, got \"%s\"", why, note);
}

/* Collective: removes the file at path on rank 0 (it may not exist). */
static void remove_file(const char *path)
{
    if (rank == 0) unlink(path);
    MPI_Barrier(MPI_COMM_WORLD);
}

/* ---- serial edits of a closed stage (rank 0 only, not collective) ------------------------ */

/* Deletes /phase's `complete` attribute, as if the run had stopped before writing it. */
static int drop_complete_mark(const char *path, const char *phase, char *msg, size_t cap)
{
    int ok = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), g = H5I_INVALID_HID;
    if (f < 0) {
        snprintf(msg, cap, "serial H5Fopen(%s) failed", path);
        goto out;
    }
    if ((g = H5Gopen2(f, phase, H5P_DEFAULT)) < 0 || H5Aexists(g, "complete") <= 0 || H5Adelete(g, "complete") < 0) {
        snprintf(msg, cap, "%s: cannot find and delete /%s's complete attribute", path, phase);
        goto out;
    }
    ok = 1;
out:
    if (g >= 0) H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0) ok = 0;
    return ok;
}

/* Flips the bits of one byte in the middle of rank `victim`'s segment of /phase/records. */
static int damage_segment(const char *path, const char *phase, int victim, char *msg, size_t cap)
{
    int ok = 0;
    char name[128];
    hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, space = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    uint64_t *seg = malloc((size_t)size * 3 * sizeof *seg);
    hsize_t pos, one = 1;
    unsigned char byte;
    if (!seg || (f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT)) < 0) {
        snprintf(msg, cap, "serial H5Fopen(%s) failed", path);
        goto out;
    }
    snprintf(name, sizeof name, "/%s/records_segments", phase);
    if ((d = H5Dopen2(f, name, H5P_DEFAULT)) < 0 ||
        H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, seg) < 0) {
        snprintf(msg, cap, "%s: cannot read %s", path, name);
        goto out;
    }
    H5Dclose(d);
    if (seg[3 * victim + 1] == 0) {
        snprintf(msg, cap, "test setup: rank %d's segment of %s is empty", victim, phase);
        goto out;
    }
    pos = seg[3 * victim] + seg[3 * victim + 1] / 2;
    snprintf(name, sizeof name, "/%s/records", phase);
    if ((d = H5Dopen2(f, name, H5P_DEFAULT)) < 0 || (space = H5Dget_space(d)) < 0 ||
        (mspace = H5Screate_simple(1, &one, NULL)) < 0 ||
        H5Sselect_hyperslab(space, H5S_SELECT_SET, &pos, NULL, &one, NULL) < 0 ||
        H5Dread(d, H5T_NATIVE_UINT8, mspace, space, H5P_DEFAULT, &byte) < 0) {
        snprintf(msg, cap, "%s: cannot read byte %llu of %s", path, (unsigned long long)pos, name);
        goto out;
    }
    byte ^= 0xff;
    if (H5Dwrite(d, H5T_NATIVE_UINT8, mspace, space, H5P_DEFAULT, &byte) < 0) {
        snprintf(msg, cap, "%s: cannot write byte %llu of %s", path, (unsigned long long)pos, name);
        goto out;
    }
    ok = 1;
out:
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (d >= 0) H5Dclose(d);
    if (f >= 0 && H5Fclose(f) < 0) ok = 0;
    free(seg);
    return ok;
}

/* ---- round trip ------------------------------------------------------------------------- */

START_TEST(test_saved_phases_load_back_exactly_on_every_rank)
{
    static const char text[] = "rows.csv:7: expected 3 fields, found 2 (caf\xc3\xa9, tab\there)";
    const uint64_t meta_c[GMR_STAGE_META] = {123456789, 0, UINT64_MAX, UINT64_C(0x0123456789abcdef)};
    const uint64_t meta_l[GMR_STAGE_META] = {1, 2, 3, 4};
    const uint64_t meta_0[GMR_STAGE_META] = {0, 0, 0, 0};
    char path[256];
    fixture comb, list, none;
    gmr__stage *st;
    make_rank_combine(&comb, 1);
    make_rank_list(&list, 2);
    make_combine(&none, 3, 0);
    tmp_path(path, sizeof path, "roundtrip.stage");

    st = open_stage(path, fingerprint(fp_a), 0);
    expect_note(st, "", "a new stage without resume");
    save(st, "combined", &comb, meta_c, text);
    save(st, "listed", &list, meta_l, "");
    save(st, "nothing", &none, meta_0, text);
    close_stage(&st);

    st = open_stage(path, fingerprint(fp_a), 1);
    expect_note(st, "", "resume with the same fingerprint");
    expect_has(st, "combined", 1, "saved phase");
    expect_has(st, "listed", 1, "saved phase");
    expect_has(st, "nothing", 1, "saved phase with every table empty");
    /* the phases in another order than they were saved */
    expect_load(st, "listed", &list, meta_l, "");
    expect_load(st, "nothing", &none, meta_0, text);
    expect_load(st, "combined", &comb, meta_c, text);
    close_stage(&st);

    /* the tables themselves still match the reference: the comparison above was against
     * what was saved, not against a copy the stage could have changed */
    char msg[1024] = "";
    int ok = table_matches(comb.t, &comb.want, comb.keys, "saved combine table", msg, sizeof msg) &&
             table_matches(list.t, &list.want, list.keys, "saved list table", msg, sizeof msg);
    all_assert(ok, "%s", msg);
    fixture_free(&comb);
    fixture_free(&list);
    fixture_free(&none);
}
END_TEST

/* ---- completeness ----------------------------------------------------------------------- */

START_TEST(test_has_is_false_for_a_phase_never_written)
{
    char path[256];
    fixture comb;
    const uint64_t meta[GMR_STAGE_META] = {7, 7, 7, 7};
    gmr__stage *st;
    make_rank_combine(&comb, 4);
    tmp_path(path, sizeof path, "unwritten.stage");

    st = open_stage(path, fingerprint(fp_a), 0);
    expect_has(st, "never", 0, "fresh stage");
    save(st, "written", &comb, meta, "x");
    expect_has(st, "written", 1, "just saved, same open");
    expect_has(st, "never", 0, "another phase saved");
    close_stage(&st);

    st = open_stage(path, fingerprint(fp_a), 1);
    expect_has(st, "never", 0, "reopened");
    expect_has(st, "written", 1, "reopened");

    /* loading what is not there fails on every rank, and returns (no rank left waiting) */
    gmr__kvt *t = NULL;
    uint64_t got_meta[GMR_STAGE_META];
    char text[64];
    ck_assert_int_eq(gmr__kvt_create(8, add_u64, NULL, &t), GMR_OK);
    gmr_err_clear();
    gmr_err e = gmr__stage_load(st, "never", &t, 1, got_meta, text, sizeof text);
    all_assert(e != GMR_OK, "gmr__stage_load of a phase never written: expected an error, got GMR_OK");
    all_assert(same_on_all(e), "gmr__stage_load of a phase never written: codes differ between ranks (%s here)",
               gmr_err_name(e));
    gmr_err_clear();
    gmr__kvt_destroy(&t);
    close_stage(&st);
    fixture_free(&comb);
}
END_TEST

START_TEST(test_has_is_false_for_a_phase_without_its_complete_mark)
{
    char path[256], msg[512] = "";
    fixture comb, list;
    const uint64_t meta[GMR_STAGE_META] = {1, 2, 3, 4};
    gmr__stage *st;
    int ok = 1;
    make_rank_combine(&comb, 5);
    make_rank_list(&list, 6);
    tmp_path(path, sizeof path, "unmarked.stage");

    st = open_stage(path, fingerprint(fp_a), 0);
    save(st, "interrupted", &comb, meta, "t");
    save(st, "finished", &list, meta, "t");
    close_stage(&st);
    /* rank 0 edits the closed file alone; all_assert's reductions keep the others waiting */
    if (rank == 0) ok = drop_complete_mark(path, "interrupted", msg, sizeof msg);
    all_assert(ok, "%s", msg);

    st = open_stage(path, fingerprint(fp_a), 1);
    expect_note(st, "", "same fingerprint, a phase unmarked");
    expect_has(st, "interrupted", 0, "group and data present, no complete mark");
    expect_has(st, "finished", 1, "the other phase keeps its mark");
    expect_load(st, "finished", &list, meta, "t");
    /* the caller then recomputes and saves the phase again: complete once more */
    save(st, "interrupted", &comb, meta, "again");
    expect_has(st, "interrupted", 1, "saved again");
    close_stage(&st);

    st = open_stage(path, fingerprint(fp_a), 1);
    expect_has(st, "interrupted", 1, "saved again, reopened");
    expect_load(st, "interrupted", &comb, meta, "again");
    close_stage(&st);
    fixture_free(&comb);
    fixture_free(&list);
}
END_TEST

/* ---- what is not reused ----------------------------------------------------------------- */

START_TEST(test_foreign_fingerprint_recreates_the_stage)
{
    char path[256];
    fixture comb;
    const uint64_t meta[GMR_STAGE_META] = {9, 8, 7, 6};
    gmr__stage *st;
    make_rank_combine(&comb, 7);
    tmp_path(path, sizeof path, "foreign.stage");

    st = open_stage(path, fingerprint(fp_a), 0);
    save(st, "p", &comb, meta, "a");
    close_stage(&st);

    st = open_stage(path, fingerprint(fp_b), 1);
    expect_note(st, "other options", "resume with another fingerprint");
    expect_has(st, "p", 0, "stage made with another fingerprint");
    close_stage(&st);

    /* the file was recreated for B: B now resumes without a note, A no longer matches */
    st = open_stage(path, fingerprint(fp_b), 1);
    expect_note(st, "", "resume with the fingerprint of the recreated stage");
    expect_has(st, "p", 0, "recreated stage");
    save(st, "p", &comb, meta, "b");
    close_stage(&st);
    st = open_stage(path, fingerprint(fp_a), 1);
    expect_note(st, "other options", "resume with the former fingerprint");
    expect_has(st, "p", 0, "stage recreated by the former fingerprint");
    close_stage(&st);
    fixture_free(&comb);
}
END_TEST

START_TEST(test_resume_on_a_missing_file_starts_a_new_stage)
{
    char path[256];
    fixture list;
    const uint64_t meta[GMR_STAGE_META] = {5, 0, 5, 0};
    gmr__stage *st;
    make_rank_list(&list, 8);
    tmp_path(path, sizeof path, "missing.stage");
    remove_file(path);

    st = open_stage(path, fingerprint(fp_a), 1);
    expect_note(st, "missing", "resume without a stage file");
    expect_has(st, "p", 0, "new stage");
    save(st, "p", &list, meta, "made after a missing stage");
    expect_has(st, "p", 1, "saved");
    expect_load(st, "p", &list, meta, "made after a missing stage");
    close_stage(&st);

    st = open_stage(path, fingerprint(fp_a), 1);
    expect_note(st, "", "resume of the stage written after the missing one");
    expect_load(st, "p", &list, meta, "made after a missing stage");
    close_stage(&st);
    fixture_free(&list);
}
END_TEST

START_TEST(test_open_without_resume_discards_the_stage)
{
    char path[256];
    fixture comb;
    const uint64_t meta[GMR_STAGE_META] = {1, 1, 1, 1};
    gmr__stage *st;
    make_rank_combine(&comb, 9);
    tmp_path(path, sizeof path, "fresh.stage");

    st = open_stage(path, fingerprint(fp_a), 0);
    save(st, "p", &comb, meta, "");
    close_stage(&st);
    st = open_stage(path, fingerprint(fp_a), 0);
    expect_note(st, "", "no resume asked for");
    expect_has(st, "p", 0, "same fingerprint, opened without resume");
    close_stage(&st);
    fixture_free(&comb);
}
END_TEST

START_TEST(test_open_in_a_missing_directory_fails_everywhere)
{
    char path[256];
    gmr__stage *st = NULL;
    tmp_path(path, sizeof path, "no/such/dir/x.stage");
    for (int resume = 0; resume < 2; resume++) {
        gmr_err_clear();
        gmr_err e = gmr__stage_open(MPI_COMM_WORLD, path, fingerprint(fp_a), resume, &st);
        all_assert(e == GMR_ERR_IO, "resume=%d, %s: expected GMR_ERR_IO on every rank, got %s: %s", resume, path,
                   gmr_err_name(e), gmr_err_message());
        all_assert(st == NULL, "resume=%d: a failed open returned a stage", resume);
        all_assert(gmr_err_is_remote() || strstr(gmr_err_message(), "cannot create the file") != NULL,
                   "resume=%d: the reporting rank's message should say \"cannot create the file\": \"%s\"", resume,
                   gmr_err_message());
    }
    gmr_err_clear();
}
END_TEST

/* ---- damage ----------------------------------------------------------------------------- */

/* Each rank's segment in turn is damaged; the load then fails on every rank. */
START_TEST(test_damaged_segment_fails_the_load_on_every_rank)
{
    char path[256], msg[512] = "", name[64];
    fixture list;
    const uint64_t meta[GMR_STAGE_META] = {3, 1, 4, 1};
    gmr__stage *st;
    /* every rank has data here (the victim needs a segment) */
    make_list(&list, 1000 + (uint64_t)rank, 10 + 3 * (uint64_t)rank, 0);
    tmp_path(path, sizeof path, "damaged.stage");

    for (int victim = 0; victim < size; victim++) {
        gmr__kvt *t = NULL;
        uint64_t got_meta[GMR_STAGE_META];
        char text[256];
        int ok = 1, reporters = 0, mine;

        st = open_stage(path, fingerprint(fp_a), 0);
        save(st, "p", &list, meta, "t");
        close_stage(&st);
        if (rank == 0) ok = damage_segment(path, "p", victim, msg, sizeof msg);
        all_assert(ok, "%s", msg);

        st = open_stage(path, fingerprint(fp_a), 1);
        expect_note(st, "", "damaged data, intact fingerprint");
        expect_has(st, "p", 1, "damage is found by the load, not by has");
        ck_assert_int_eq(gmr__kvt_create(0, NULL, NULL, &t), GMR_OK);
        gmr_err_clear();
        gmr_err e = gmr__stage_load(st, "p", &t, 1, got_meta, text, sizeof text);
        gmr__kvt_destroy(&t);
        all_assert(e == GMR_ERR_DATA, "rank %d's segment damaged: expected GMR_ERR_DATA on every rank, got %s: %s",
                   victim, gmr_err_name(e), gmr_err_message());
        mine = !gmr_err_is_remote();
        MPI_Allreduce(&mine, &reporters, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        all_assert(reporters == 1, "rank %d's segment damaged: expected exactly one reporting rank, got %d", victim,
                   reporters);
        if (rank == victim)
            all_assert(mine && strstr(gmr_err_message(), "fails its checksum") != NULL,
                       "damaged rank %d: expected a local error containing \"fails its checksum\", got %s \"%s\"",
                       victim, mine ? "local" : "remote", gmr_err_message());
        else {
            snprintf(name, sizeof name, "failed on rank %d", victim);
            all_assert(!mine && strstr(gmr_err_message(), name) != NULL,
                       "rank %d's segment damaged: expected a remote error containing \"%s\", got %s \"%s\"", victim,
                       name, mine ? "local" : "remote", gmr_err_message());
        }
        gmr_err_clear();

        /* what the job does next: recompute and save the phase again, which a resume then loads */
        save(st, "p", &list, meta, "t");
        close_stage(&st);
        st = open_stage(path, fingerprint(fp_a), 1);
        expect_load(st, "p", &list, meta, "t");
        close_stage(&st);
    }
    fixture_free(&list);
}
END_TEST

/* ---- runner ---------------------------------------------------------------------------- */

static Suite *stage_suite(void)
{
    Suite *s = suite_create("stage");
    TCase *tc = tcase_create("round trip");
    tcase_add_test(tc, test_saved_phases_load_back_exactly_on_every_rank);
    suite_add_tcase(s, tc);

    tc = tcase_create("completeness");
    tcase_add_test(tc, test_has_is_false_for_a_phase_never_written);
    tcase_add_test(tc, test_has_is_false_for_a_phase_without_its_complete_mark);
    suite_add_tcase(s, tc);

    tc = tcase_create("reuse");
    tcase_add_test(tc, test_foreign_fingerprint_recreates_the_stage);
    tcase_add_test(tc, test_resume_on_a_missing_file_starts_a_new_stage);
    tcase_add_test(tc, test_open_without_resume_discards_the_stage);
    tcase_add_test(tc, test_open_in_a_missing_directory_fails_everywhere);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_add_test(tc, test_damaged_segment_fails_the_load_on_every_rank);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return mpi_test_main(argc, argv, stage_suite, "/tmp/gmr_check_stage_XXXXXX"); }
