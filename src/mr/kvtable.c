/* kvtable.c: open-addressing hash table of byte-string keys.
 *
 * This is the hot path of a combining job (wordcount inserts ~27 M words into it on 200 MiB),
 * so it is built for few cache misses per lookup: a slot is one uint64 holding the top 32 hash
 * bits as a tag and the entry index, so most mismatches are rejected without touching the
 * entry; an entry holds the hash, short keys (up to 16 bytes, most words) and, in combine
 * mode, the value itself, so a hit costs two cache lines: slot and entry. Long keys live in an
 * arena (offsets, not pointers, so growth is a plain realloc). Linear probing at load <= 1/2.
 * The slot index comes from a Fibonacci mix of the full hash, not from its low bits: after a
 * shuffle every key on a rank shares hash % ranks, and low bits would then cluster.
 *
 * Combine mode keeps one fixed-size value per key, merged in place by the job's combiner.
 * List mode (no combiner) keeps every value in a node arena chained per key. */
#include "kvtable.h"

#include <stdlib.h>
#include <xxhash.h>

#define KVT_MIN_BITS 10

typedef struct vnode {
    uint64_t next; /* offset + 1 of the next node, 0 = end */
    uint32_t len;
    uint32_t pad;
} vnode;

/* list mode payload after the entry header */
typedef struct vchain {
    uint64_t head, tail; /* node offset + 1, 0 = none */
} vchain;

uint64_t gmr__hash(const void *key, size_t len) { return XXH3_64bits(key, len); }

static inline uint64_t slot_of(uint64_t hash, int bits)
{
    return (hash * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits);
}

static gmr_err grow(char **buf, uint64_t *cap, uint64_t need, size_t elem)
{
    gmr_err err = GMR_OK;
    uint64_t ncap = *cap ? *cap : 64;
    char *p;
    if (need <= *cap) return GMR_OK;
    while (ncap < need) ncap *= 2;
    p = realloc(*buf, ncap * elem);
    GMR_CHECK(p, GMR_ERR_NOMEM, "cannot grow a table to %llu bytes", (unsigned long long)(ncap * elem));
    *buf = p;
    *cap = ncap;
out:
    return err;
}

gmr_err gmr__kvt_create(size_t value_size, gmr_combine_fn combine, void *ctx, gmr__kvt **tp)
{
    gmr_err err = GMR_OK;
    gmr__kvt *t = calloc(1, sizeof *t);
    GMR_CHECK(t, GMR_ERR_NOMEM, "cannot allocate a key/value table");
    t->combine = combine;
    t->value_size = combine ? value_size : 0;
    t->ctx = ctx;
    t->stride = (sizeof(gmr__kv_entry) + (t->value_size ? t->value_size : sizeof(vchain)) + 7) & ~(size_t)7;
    t->bits = KVT_MIN_BITS;
    t->cap = (uint64_t)1 << t->bits;
    t->slots = calloc(t->cap, sizeof *t->slots);
    GMR_CHECK(t->slots, GMR_ERR_NOMEM, "cannot allocate a key/value table");
    *tp = t;
    t = NULL;
out:
    gmr__kvt_destroy(&t);
    return err;
}

void gmr__kvt_destroy(gmr__kvt **tp)
{
    if (!tp || !*tp) return;
    free((*tp)->slots);
    free((*tp)->ent);
    free((*tp)->keys);
    free((*tp)->vals);
    free(*tp);
    *tp = NULL;
}

uint64_t gmr__kvt_bytes(const gmr__kvt *t)
{
    return t->cap * sizeof *t->slots + t->ent_cap * t->stride + t->keys_cap + t->vals_cap;
}

static gmr_err rehash_to(gmr__kvt *t, int bits)
{
    gmr_err err = GMR_OK;
    uint64_t cap = (uint64_t)1 << bits, mask = cap - 1;
    uint64_t *slots = calloc(cap, sizeof *slots);
    GMR_CHECK(slots, GMR_ERR_NOMEM, "cannot grow a key/value table to %llu slots", (unsigned long long)cap);
    for (uint64_t i = 0; i < t->n; i++) {
        uint64_t h = gmr__kvt_entry(t, i)->hash, s = slot_of(h, bits);
        while (slots[s]) s = (s + 1) & mask;
        slots[s] = (h & ~UINT64_C(0xffffffff)) | (i + 1);
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->bits = bits;
out:
    return err;
}

static gmr_err rehash(gmr__kvt *t) { return rehash_to(t, t->bits + 1); }

gmr_err gmr__kvt_reserve(gmr__kvt *t, uint64_t n)
{
    int bits = t->bits;
    while (bits < 40 && ((uint64_t)1 << bits) < 2 * n) bits++;
    return bits > t->bits ? rehash_to(t, bits) : GMR_OK;
}

static gmr_err append_value(gmr__kvt *t, uint64_t i, const void *val, uint32_t vlen)
{
    gmr_err err = GMR_OK;
    uint64_t need = sizeof(vnode) + (((uint64_t)vlen + 7) & ~UINT64_C(7));
    uint64_t off = t->vals_len;
    vnode node = {0, vlen, 0};
    vchain chain;
    GMR_CALL(grow(&t->vals, &t->vals_cap, off + need, 1));
    memcpy(t->vals + off, &node, sizeof node);
    if (vlen) memcpy(t->vals + off + sizeof node, val, vlen);
    t->vals_len += need;
    memcpy(&chain, gmr__kvt_value(t, i), sizeof chain);
    if (chain.tail) {
        vnode *tail = (vnode *)(void *)(t->vals + chain.tail - 1);
        tail->next = off + 1;
    } else {
        chain.head = off + 1;
    }
    chain.tail = off + 1;
    memcpy(gmr__kvt_value(t, i), &chain, sizeof chain);
    gmr__kvt_entry(t, i)->nvals++;
out:
    return err;
}

gmr_err gmr__kvt_insert(gmr__kvt *t, uint64_t hash, const void *key, uint32_t klen, const void *val,
                        uint32_t vlen)
{
    gmr_err err = GMR_OK;
    uint64_t mask = t->cap - 1, s = slot_of(hash, t->bits), tag = hash & ~UINT64_C(0xffffffff), i;
    gmr__kv_entry *e;

    GMR_CHECK(!t->value_size || vlen == t->value_size, GMR_ERR_ARG,
              "value of %u bytes emitted, the job declares value_size %zu", vlen, t->value_size);
    for (;;) {
        uint64_t v = t->slots[s];
        if (!v) break;
        if ((v & ~UINT64_C(0xffffffff)) == tag) {
            i = (v & 0xffffffff) - 1;
            e = gmr__kvt_entry(t, i);
            if (e->hash == hash && e->klen == klen && memcmp(gmr__kvt_key(t, i), key, klen) == 0) {
                t->nvalues++;
                if (t->value_size) {
                    t->combine(t->ctx, gmr__kvt_value(t, i), val);
                    return GMR_OK;
                }
                return append_value(t, i, val, vlen);
            }
        }
        s = (s + 1) & mask;
    }

    GMR_CHECK(t->n < UINT32_MAX - 1, GMR_ERR_ARG, "more than 2^32 distinct keys on one rank");
    GMR_CALL(grow(&t->ent, &t->ent_cap, t->n + 1, t->stride));
    i = t->n;
    e = gmr__kvt_entry(t, i);
    memset(e, 0, t->stride);
    e->hash = hash;
    e->klen = klen;
    if (klen <= GMR_KVT_INLINE_KEY) {
        if (klen) memcpy(e->key.inl, key, klen);
    } else {
        GMR_CALL(grow(&t->keys, &t->keys_cap, t->keys_len + klen, 1));
        memcpy(t->keys + t->keys_len, key, klen);
        e->key.off = t->keys_len;
        t->keys_len += klen;
    }
    if (t->value_size) {
        memcpy(gmr__kvt_value(t, i), val, t->value_size);
        e->nvals = 1;
    } else {
        GMR_CALL(append_value(t, i, val, vlen));
    }
    t->nvalues++;
    t->slots[s] = tag | (i + 1);
    t->n++;
    if (2 * t->n > t->cap) GMR_CALL(rehash(t));
out:
    return err;
}

int gmr__kvt_next_value(const gmr__kvt *t, uint64_t i, uint64_t *cursor, const void **val, uint32_t *vlen)
{
    vchain chain;
    uint64_t at;
    const vnode *node;
    if (*cursor == UINT64_MAX) return 0;
    memcpy(&chain, gmr__kvt_value(t, i), sizeof chain);
    at = *cursor ? *cursor : chain.head;
    if (!at) return 0;
    node = (const vnode *)(const void *)(t->vals + at - 1);
    *val = (const char *)node + sizeof *node;
    *vlen = node->len;
    *cursor = node->next ? node->next : UINT64_MAX;
    return 1;
}

gmr_err gmr__kvt_clear(gmr__kvt *t)
{
    gmr_err err = GMR_OK;
    uint64_t *slots = calloc((size_t)1 << KVT_MIN_BITS, sizeof *slots);
    GMR_CHECK(slots, GMR_ERR_NOMEM, "cannot allocate a key/value table");
    free(t->slots);
    free(t->ent);
    free(t->keys);
    free(t->vals);
    t->slots = slots;
    t->bits = KVT_MIN_BITS;
    t->cap = (uint64_t)1 << t->bits;
    t->ent = t->keys = t->vals = NULL;
    t->n = t->ent_cap = t->keys_len = t->keys_cap = t->vals_len = t->vals_cap = t->nvalues = 0;
out:
    return err;
}

int gmr__kv_cmp(uint64_t ha, const void *ka, uint32_t la, uint64_t hb, const void *kb, uint32_t lb)
{
    uint32_t m = la < lb ? la : lb;
    int c;
    if (ha != hb) return ha < hb ? -1 : 1;
    c = m ? memcmp(ka, kb, m) : 0;
    if (c) return c;
    return (la > lb) - (la < lb);
}

typedef struct hash_index {
    uint64_t hash;
    uint32_t i;
} hash_index;

static int hash_index_cmp(const void *a, const void *b)
{
    const hash_index *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

gmr_err gmr__kvt_sorted(const gmr__kvt *t, uint32_t **orderp)
{
    gmr_err err = GMR_OK;
    hash_index *hi = malloc((t->n + 1) * sizeof *hi);
    uint32_t *order = malloc((t->n + 1) * sizeof *order);
    *orderp = NULL;
    GMR_CHECK(hi && order, GMR_ERR_NOMEM, "cannot sort %llu keys", (unsigned long long)t->n);
    for (uint64_t i = 0; i < t->n; i++) {
        hi[i].hash = gmr__kvt_entry(t, i)->hash;
        hi[i].i = (uint32_t)i;
    }
    qsort(hi, t->n, sizeof *hi, hash_index_cmp);
    for (uint64_t i = 0; i < t->n; i++) order[i] = hi[i].i;
    /* keys with equal 64-bit hashes (rare) are put in key order by an insertion sort */
    for (uint64_t a = 0; a < t->n;) {
        uint64_t b = a + 1;
        while (b < t->n && hi[b].hash == hi[a].hash) b++;
        for (uint64_t j = a + 1; j < b; j++) {
            uint32_t x = order[j];
            uint64_t k = j;
            while (k > a && gmr__kv_cmp(hi[a].hash, gmr__kvt_key(t, order[k - 1]), gmr__kvt_entry(t, order[k - 1])->klen,
                                        hi[a].hash, gmr__kvt_key(t, x), gmr__kvt_entry(t, x)->klen) > 0) {
                order[k] = order[k - 1];
                k--;
            }
            order[k] = x;
        }
        a = b;
    }
    *orderp = order;
    order = NULL;
out:
    free(order);
    free(hi);
    return err;
}

gmr_err gmr__kvt_merge(gmr__kvt *dst, const gmr__kvt *src)
{
    gmr_err err = GMR_OK;
    for (uint64_t i = 0; i < src->n; i++) {
        const gmr__kv_entry *e = gmr__kvt_entry(src, i);
        if (src->value_size) {
            GMR_CALL(gmr__kvt_insert(dst, e->hash, gmr__kvt_key(src, i), e->klen, gmr__kvt_value(src, i),
                                     (uint32_t)src->value_size));
        } else {
            uint64_t cursor = 0;
            const void *val;
            uint32_t vlen;
            while (gmr__kvt_next_value(src, i, &cursor, &val, &vlen))
                GMR_CALL(gmr__kvt_insert(dst, e->hash, gmr__kvt_key(src, i), e->klen, val, vlen));
        }
    }
out:
    return err;
}
