/* check_kvt.c - specification tests for the engine's key/value table (src/mr/kvtable.c).
 *
 * What must hold: in combine mode a key appears once and its value is the combination of every
 * value inserted under it; in list mode every value is kept and a key's values are walked in
 * insertion order; keys are byte strings (any length from 0, NUL bytes included, short ones
 * inline and long ones in the arena); equal hashes never merge different keys; a value of the
 * wrong size is an error with a message.
 *
 * The reference is independent of the table: the inserted keys are sorted here and runs of
 * equal keys counted. Fixed seeds, so a failure reproduces.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr/kvtable.h"
#include "testutil.h"

/* three u32 counters, so the value is not a multiple of 8 bytes */
static void add_3xu32(void *ctx, void *acc, const void *val)
{
    uint32_t a[3], v[3];
    (void)ctx;
    memcpy(a, acc, 12);
    memcpy(v, val, 12);
    for (int i = 0; i < 3; i++) a[i] += v[i];
    memcpy(acc, a, 12);
}

typedef struct key_ref {
    const unsigned char *p;
    uint32_t len;
    uint64_t count; /* summed value */
    int seen;       /* found in the table */
} key_ref;

static int key_cmp(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    uint32_t m = x->len < y->len ? x->len : y->len;
    for (uint32_t i = 0; i < m; i++)
        if (x->p[i] != y->p[i]) return x->p[i] < y->p[i] ? -1 : 1;
    return (x->len > y->len) - (x->len < y->len);
}

/* A pool of random keys of 0..40 bytes (bytes 0..3 and 'a'..'d', so NULs are common and
 * short keys repeat), with the lengths around the inline limit always present. */
static unsigned char *make_pool(size_t npool, key_ref *pool)
{
    unsigned char *bytes = malloc(npool * 40 + 1);
    size_t at = 0;
    ck_assert_ptr_nonnull(bytes);
    for (size_t k = 0; k < npool; k++) {
        uint32_t len = (uint32_t)rng_below(41);
        if (k < 41) len = (uint32_t)k; /* every length 0..40, the empty key included */
        pool[k].p = bytes + at;
        pool[k].len = len;
        pool[k].count = 0;
        pool[k].seen = 0;
        for (uint32_t i = 0; i < len; i++) {
            uint64_t r = rng_below(8);
            bytes[at++] = (unsigned char)(r < 4 ? r : 'a' + (r - 4));
        }
    }
    return bytes;
}

/* Sort the keys and merge runs: on return ref[0..*nref) are the distinct keys with their sums. */
static void reference_counts(key_ref *ref, size_t n, size_t *nref)
{
    size_t out = 0;
    qsort(ref, n, sizeof *ref, key_cmp);
    for (size_t i = 0; i < n; i++) {
        if (out && key_cmp(&ref[out - 1], &ref[i]) == 0) {
            ref[out - 1].count += ref[i].count;
        } else {
            ref[out++] = ref[i];
        }
    }
    *nref = out;
}

static key_ref *find_ref(key_ref *ref, size_t nref, const void *key, uint32_t len)
{
    key_ref probe = {key, len, 0, 0};
    return bsearch(&probe, ref, nref, sizeof *ref, key_cmp);
}

/* ---- combine mode ---------------------------------------------------------------------- */

START_TEST(test_combine_counts_match_sorted_reference)
{
    const size_t ninsert = 200000, npool = 60000;
    key_ref *pool = malloc(npool * sizeof *pool), *ref = malloc(ninsert * sizeof *ref);
    gmr__kvt *t = NULL;
    size_t nref = 0, ninline = 0, narena = 0, empty_found = 0;
    uint64_t total = 0, table_total = 0;
    ck_assert(pool && ref);
    rng_seed(1);
    unsigned char *bytes = make_pool(npool, pool);

    ck_assert_int_eq(gmr__kvt_create(8, add_u64, NULL, &t), GMR_OK);
    ck_assert_msg(t->cap == 1024, "expected a new table of 1024 slots, got %llu", (unsigned long long)t->cap);
    for (size_t i = 0; i < ninsert; i++) {
        const key_ref *k = &pool[i < npool ? i : rng_below(npool)];
        uint64_t v = 1 + rng_below(5);
        gmr_err e = gmr__kvt_insert(t, gmr__hash(k->p, k->len), k->p, k->len, &v, 8);
        REQUIRE(e == GMR_OK, "insert %zu failed: %s", i, gmr_err_message());
        ref[i] = *k;
        ref[i].count = v;
        total += v;
    }
    reference_counts(ref, ninsert, &nref);

    ck_assert_msg(t->n == nref, "expected %zu distinct keys, table has %llu", nref, (unsigned long long)t->n);
    ck_assert_msg(t->nvalues == ninsert, "expected %zu values merged, table counted %llu", ninsert,
                  (unsigned long long)t->nvalues);
    ck_assert_msg(t->cap >= 2 * t->n && (t->cap & (t->cap - 1)) == 0,
                  "expected a power-of-two capacity >= 2n = %llu, got %llu", (unsigned long long)(2 * t->n),
                  (unsigned long long)t->cap);
    ck_assert_msg(t->cap > 1024, "the table never grew (cap %llu)", (unsigned long long)t->cap);
    for (uint64_t i = 0; i < t->n; i++) {
        const gmr__kv_entry *e = gmr__kvt_entry(t, i);
        const char *key = gmr__kvt_key(t, i);
        uint64_t v;
        key_ref *r = find_ref(ref, nref, key, e->klen);
        memcpy(&v, gmr__kvt_value(t, i), 8);
        REQUIRE(r != NULL, "entry %llu: a key of %u bytes that was never inserted", (unsigned long long)i, e->klen);
        REQUIRE(!r->seen, "entry %llu: key of %u bytes stored twice", (unsigned long long)i, e->klen);
        r->seen = 1;
        REQUIRE(v == r->count, "entry %llu (key of %u bytes): expected count %llu, got %llu", (unsigned long long)i,
                e->klen, (unsigned long long)r->count, (unsigned long long)v);
        REQUIRE(e->hash == gmr__hash(key, e->klen), "entry %llu: stored hash is not the key's hash",
                (unsigned long long)i);
        REQUIRE(e->nvals == 1, "entry %llu: combine mode entry has nvals %u, expected 1", (unsigned long long)i,
                e->nvals);
        table_total += v;
        if (e->klen == 0) empty_found++;
        if (e->klen <= GMR_KVT_INLINE_KEY)
            ninline++;
        else
            narena++;
    }
    ck_assert_msg(table_total == total, "expected the counters to sum to %llu, got %llu", (unsigned long long)total,
                  (unsigned long long)table_total);
    ck_assert_msg(empty_found == 1, "expected the empty key once, found %zu times", empty_found);
    ck_assert_msg(ninline > 100 && narena > 100, "test did not cover both key kinds: %zu inline, %zu arena", ninline,
                  narena);
    gmr__kvt_destroy(&t);
    ck_assert_ptr_null(t);
    free(bytes);
    free(ref);
    free(pool);
}
END_TEST

START_TEST(test_combine_value_not_multiple_of_8)
{
    gmr__kvt *t = NULL;
    char key[32];
    ck_assert_int_eq(gmr__kvt_create(12, add_3xu32, NULL, &t), GMR_OK);
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 3000; k++) {
            uint32_t v[3] = {1, (uint32_t)k, (uint32_t)round};
            int len = snprintf(key, sizeof key, k % 2 ? "key number %d, long form" : "k%d", k);
            REQUIRE(gmr__kvt_insert(t, gmr__hash(key, (size_t)len), key, (uint32_t)len, v, 12) == GMR_OK,
                    "insert failed: %s", gmr_err_message());
        }
    ck_assert_msg(t->n == 3000, "expected 3000 keys, got %llu", (unsigned long long)t->n);
    for (uint64_t i = 0; i < t->n; i++) {
        uint32_t v[3];
        int k;
        const gmr__kv_entry *e = gmr__kvt_entry(t, i);
        memcpy(v, gmr__kvt_value(t, i), 12);
        memcpy(key, gmr__kvt_key(t, i), e->klen);
        key[e->klen] = '\0';
        REQUIRE(sscanf(key, key[1] == 'e' ? "key number %d" : "k%d", &k) == 1, "unexpected key \"%s\"", key);
        REQUIRE(v[0] == 3 && v[1] == 3u * (uint32_t)k && v[2] == 0 + 1 + 2,
                "key \"%s\": expected (3, %u, 3), got (%u, %u, %u)", key, 3u * (uint32_t)k, v[0], v[1], v[2]);
    }
    gmr__kvt_destroy(&t);
}
END_TEST

/* The table must compare bytes, not trust the hash: give many different keys the same hash. */
START_TEST(test_equal_hashes_keep_keys_apart)
{
    gmr__kvt *t = NULL;
    char key[40];
    const uint64_t hashes[2] = {UINT64_C(0x1234567800000042), UINT64_C(0x1234567900000042)}; /* same low bits */
    ck_assert_int_eq(gmr__kvt_create(8, add_u64, NULL, &t), GMR_OK);
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 2000; k++) {
            uint64_t one = 1;
            int len = snprintf(key, sizeof key, k % 3 ? "%d" : "a much longer key, %d", k);
            REQUIRE(gmr__kvt_insert(t, hashes[k % 2], key, (uint32_t)len, &one, 8) == GMR_OK, "insert failed: %s",
                    gmr_err_message());
        }
    ck_assert_msg(t->n == 2000, "expected 2000 distinct keys under 2 hashes, got %llu", (unsigned long long)t->n);
    for (uint64_t i = 0; i < t->n; i++) {
        uint64_t v;
        memcpy(&v, gmr__kvt_value(t, i), 8);
        REQUIRE(v == 2, "entry %llu: expected count 2, got %llu", (unsigned long long)i, (unsigned long long)v);
    }
    gmr__kvt_destroy(&t);
}
END_TEST

START_TEST(test_keys_with_nul_bytes_are_distinct)
{
    static const struct {
        const char *bytes;
        uint32_t len;
    } keys[] = {
        {"", 0}, {"\0", 1}, {"\0\0", 2}, {"a", 1}, {"a\0", 2}, {"a\0b", 3}, {"a\0c", 3},
        {"\0a", 2}, {"0123456789abcdef", 16}, {"0123456789abcde\0", 16},
        {"0123456789abcdef\0", 17}, {"0123456789abcdef\0\0", 18}, {"0123456789abcdef\0x", 18},
        {"0123456789abcdef\0y", 18},
    };
    const size_t nk = sizeof keys / sizeof keys[0];
    gmr__kvt *t = NULL;
    ck_assert_int_eq(gmr__kvt_create(8, add_u64, NULL, &t), GMR_OK);
    for (size_t round = 1; round <= 3; round++)
        for (size_t k = 0; k < nk; k++) {
            uint64_t v = k + 1;
            ck_assert_int_eq(gmr__kvt_insert(t, gmr__hash(keys[k].bytes, keys[k].len), keys[k].bytes, keys[k].len, &v, 8),
                             GMR_OK);
        }
    ck_assert_msg(t->n == nk, "expected %zu distinct keys, got %llu", nk, (unsigned long long)t->n);
    /* entries are appended in first-insertion order */
    for (size_t k = 0; k < nk; k++) {
        const gmr__kv_entry *e = gmr__kvt_entry(t, k);
        uint64_t v;
        memcpy(&v, gmr__kvt_value(t, k), 8);
        ck_assert_msg(e->klen == keys[k].len && memcmp(gmr__kvt_key(t, k), keys[k].bytes, keys[k].len) == 0,
                      "entry %zu: expected key %zu (%u bytes), got %u bytes", k, k, keys[k].len, e->klen);
        ck_assert_msg(v == 3 * (k + 1), "key %zu: expected count %zu, got %llu", k, 3 * (k + 1), (unsigned long long)v);
    }
    gmr__kvt_destroy(&t);
}
END_TEST

START_TEST(test_value_size_mismatch_is_an_error)
{
    gmr__kvt *t = NULL;
    uint64_t v = 1;
    gmr_err e;
    ck_assert_int_eq(gmr__kvt_create(8, add_u64, NULL, &t), GMR_OK);
    gmr_err_clear();
    e = gmr__kvt_insert(t, gmr__hash("k", 1), "k", 1, &v, 4);
    ck_assert_msg(e == GMR_ERR_ARG, "expected GMR_ERR_ARG, got %s", gmr_err_name(e));
    ck_assert_msg(strstr(gmr_err_message(), "4 bytes") && strstr(gmr_err_message(), "value_size 8"),
                  "expected the message to give both sizes (4 bytes, value_size 8), got \"%s\"", gmr_err_message());
    ck_assert_msg(t->n == 0 && t->nvalues == 0, "a refused insert changed the table: n %llu, nvalues %llu",
                  (unsigned long long)t->n, (unsigned long long)t->nvalues);
    /* also for a key that exists already */
    ck_assert_int_eq(gmr__kvt_insert(t, gmr__hash("k", 1), "k", 1, &v, 8), GMR_OK);
    e = gmr__kvt_insert(t, gmr__hash("k", 1), "k", 1, &v, 16);
    ck_assert_msg(e == GMR_ERR_ARG, "existing key, 16-byte value: expected GMR_ERR_ARG, got %s", gmr_err_name(e));
    memcpy(&v, gmr__kvt_value(t, 0), 8);
    ck_assert_msg(v == 1, "a refused insert changed the value to %llu", (unsigned long long)v);
    gmr__kvt_destroy(&t);
    gmr__kvt_destroy(&t); /* NULL is fine */
    gmr__kvt_destroy(NULL);
}
END_TEST

/* ---- list mode ------------------------------------------------------------------------- */

START_TEST(test_list_mode_keeps_every_value_in_order)
{
    enum { NKEYS = 3000, NVALUES = 40000 };
    gmr__kvt *t = NULL;
    /* per key: the sequence numbers of its values, in insertion order */
    uint32_t *seq_key = malloc(NVALUES * sizeof *seq_key);
    uint32_t *count = calloc(NKEYS, sizeof *count);
    uint64_t *entry_of = malloc(NKEYS * sizeof *entry_of);
    char key[40], val[80];
    ck_assert(seq_key && count && entry_of);
    rng_seed(5);
    /* value_size without a combiner still means list mode */
    ck_assert_int_eq(gmr__kvt_create(8, NULL, NULL, &t), GMR_OK);
    ck_assert_msg(t->value_size == 0, "no combiner: expected list mode (value_size 0), got %zu", t->value_size);
    for (uint32_t s = 0; s < NVALUES; s++) {
        uint32_t k = (uint32_t)rng_below(NKEYS);
        int klen = snprintf(key, sizeof key, k % 4 ? "k%u" : "a key longer than sixteen bytes %u", k);
        /* value: "<seq>:" padded with (seq % 50) x's; seq % 13 == 0 gives an empty value */
        int vlen = 0;
        if (s % 13) {
            vlen = snprintf(val, sizeof val, "%u:", s);
            memset(val + vlen, 'x', s % 50);
            vlen += (int)(s % 50);
        }
        REQUIRE(gmr__kvt_insert(t, gmr__hash(key, (size_t)klen), key, (uint32_t)klen, val, (uint32_t)vlen) == GMR_OK,
                "insert failed: %s", gmr_err_message());
        seq_key[s] = k;
        count[k]++;
    }
    ck_assert_msg(t->nvalues == NVALUES, "expected %d values, got %llu", NVALUES, (unsigned long long)t->nvalues);
    size_t used = 0;
    for (uint32_t k = 0; k < NKEYS; k++) used += count[k] > 0;
    ck_assert_msg(t->n == used, "expected %zu keys, got %llu", used, (unsigned long long)t->n);

    /* map each entry back to its key number */
    for (uint32_t k = 0; k < NKEYS; k++) entry_of[k] = UINT64_MAX;
    for (uint64_t i = 0; i < t->n; i++) {
        const gmr__kv_entry *e = gmr__kvt_entry(t, i);
        unsigned k;
        memcpy(key, gmr__kvt_key(t, i), e->klen);
        key[e->klen] = '\0';
        REQUIRE(sscanf(key, key[0] == 'k' ? "k%u" : "a key longer than sixteen bytes %u", &k) == 1 && k < NKEYS,
                "unexpected key \"%s\"", key);
        REQUIRE(entry_of[k] == UINT64_MAX, "key %u stored twice", k);
        entry_of[k] = i;
        REQUIRE(e->nvals == count[k], "key %u: expected nvals %u, got %u", k, count[k], e->nvals);
    }
    /* the reference: per key, the sequence numbers of its values in insertion order (a stable
     * counting sort of the insertions by key) */
    uint32_t *first = calloc(NKEYS + 1, sizeof *first), *fill = calloc(NKEYS, sizeof *fill);
    uint32_t *seqs = malloc(NVALUES * sizeof *seqs);
    ck_assert(first && fill && seqs);
    for (uint32_t k = 0; k < NKEYS; k++) first[k + 1] = first[k] + count[k];
    for (uint32_t s = 0; s < NVALUES; s++) seqs[first[seq_key[s]] + fill[seq_key[s]]++] = s;

    /* walk every key's values: exactly the values inserted under it, in insertion order */
    for (uint32_t k = 0; k < NKEYS; k++) {
        uint64_t cursor, i = entry_of[k];
        uint32_t walked;
        const void *v;
        uint32_t vlen;
        if (!count[k]) continue;
        for (int pass = 0; pass < 2; pass++) { /* walking does not consume */
            cursor = 0;
            walked = 0;
            while (gmr__kvt_next_value(t, i, &cursor, &v, &vlen)) {
                REQUIRE(walked < count[k], "key %u: more values walked than the %u inserted", k, count[k]);
                uint32_t s = seqs[first[k] + walked];
                int elen = 0;
                if (s % 13) {
                    elen = snprintf(val, sizeof val, "%u:", s);
                    memset(val + elen, 'x', s % 50);
                    elen += (int)(s % 50);
                }
                REQUIRE(vlen == (uint32_t)elen && memcmp(v, val, vlen) == 0,
                        "key %u, value %u: expected value #%u (%d bytes), got %u bytes \"%.*s\"", k, walked, s, elen,
                        vlen, (int)(vlen > 20 ? 20 : vlen), (const char *)v);
                walked++;
            }
            REQUIRE(walked == count[k], "key %u: expected %u values, walked %u", k, count[k], walked);
            REQUIRE(gmr__kvt_next_value(t, i, &cursor, &v, &vlen) == 0, "key %u: walk restarted after the end", k);
        }
    }
    free(seqs);
    free(fill);
    free(first);
    gmr__kvt_destroy(&t);
    free(entry_of);
    free(count);
    free(seq_key);
}
END_TEST

START_TEST(test_list_mode_empty_key_and_empty_values)
{
    gmr__kvt *t = NULL;
    uint64_t cursor = 0;
    const void *v;
    uint32_t vlen;
    ck_assert_int_eq(gmr__kvt_create(0, NULL, NULL, &t), GMR_OK);
    ck_assert_int_eq(gmr__kvt_insert(t, gmr__hash("", 0), "", 0, "", 0), GMR_OK);
    ck_assert_int_eq(gmr__kvt_insert(t, gmr__hash("", 0), "", 0, "abc", 3), GMR_OK);
    ck_assert_int_eq(gmr__kvt_insert(t, gmr__hash("", 0), "", 0, NULL, 0), GMR_OK);
    ck_assert_msg(t->n == 1 && gmr__kvt_entry(t, 0)->nvals == 3, "expected one key with 3 values, got %llu keys",
                  (unsigned long long)t->n);
    ck_assert_int_eq(gmr__kvt_next_value(t, 0, &cursor, &v, &vlen), 1);
    ck_assert_uint_eq(vlen, 0);
    ck_assert_int_eq(gmr__kvt_next_value(t, 0, &cursor, &v, &vlen), 1);
    ck_assert_msg(vlen == 3 && memcmp(v, "abc", 3) == 0, "second value: expected \"abc\", got %u bytes", vlen);
    ck_assert_int_eq(gmr__kvt_next_value(t, 0, &cursor, &v, &vlen), 1);
    ck_assert_uint_eq(vlen, 0);
    ck_assert_int_eq(gmr__kvt_next_value(t, 0, &cursor, &v, &vlen), 0);
    ck_assert_msg(gmr__kvt_bytes(t) > 0, "a table with data reports 0 bytes");
    gmr__kvt_destroy(&t);
}
END_TEST

/* ---- runner ---------------------------------------------------------------------------- */

static Suite *kvt_suite(void)
{
    Suite *s = suite_create("kvt");
    TCase *tc = tcase_create("combine");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_combine_counts_match_sorted_reference);
    tcase_add_test(tc, test_combine_value_not_multiple_of_8);
    tcase_add_test(tc, test_equal_hashes_keep_keys_apart);
    tcase_add_test(tc, test_keys_with_nul_bytes_are_distinct);
    tcase_add_test(tc, test_value_size_mismatch_is_an_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("list");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_list_mode_keeps_every_value_in_order);
    tcase_add_test(tc, test_list_mode_empty_key_and_empty_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(kvt_suite()); }
