/* kvtable.h: the per-rank key/value hash table behind map-side combining, shuffle receipt and
 * reduce grouping. Private to the engine. */
#ifndef GMR_KVTABLE_H
#define GMR_KVTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gridmr/err.h"
#include "gridmr/mr.h"

#define GMR_KVT_INLINE_KEY 16 /* keys up to this many bytes live inside their entry */

/* An entry is this header followed by its payload: the value (combine mode) or the head and
 * tail of its value chain (list mode). Entries are laid out with a fixed stride. */
typedef struct gmr__kv_entry {
    uint64_t hash;
    uint32_t klen;
    uint32_t nvals;
    union {
        char inl[GMR_KVT_INLINE_KEY];
        uint64_t off; /* key arena offset when klen > GMR_KVT_INLINE_KEY */
    } key;
} gmr__kv_entry;

typedef struct gmr__kvt {
    size_t value_size;            /* > 0: combine mode (one fixed-size value per key) */
    gmr_combine_fn combine;
    void *ctx;
    uint64_t *slots;              /* (hash >> 32) << 32 | (entry index + 1); 0 = empty */
    uint64_t cap;                 /* power of two */
    int bits;
    char *ent;                    /* n entries of `stride` bytes */
    size_t stride;
    uint64_t n, ent_cap;
    char *keys;                   /* arena of the long keys */
    uint64_t keys_len, keys_cap;
    char *vals;                   /* list mode: value node arena */
    uint64_t vals_len, vals_cap;
    uint64_t nvalues;             /* values inserted (list mode) or merged (combine mode) */
} gmr__kvt;

/* The hash every level of the engine agrees on (XXH3, 64 bits). */
uint64_t gmr__hash(const void *key, size_t len);

/* value_size > 0 with combine != NULL: combine mode; otherwise list mode (values kept). */
gmr_err gmr__kvt_create(size_t value_size, gmr_combine_fn combine, void *ctx, gmr__kvt **t);
void gmr__kvt_destroy(gmr__kvt **t);
/* Size the slot array for about n keys now, instead of doubling through the growth steps. */
gmr_err gmr__kvt_reserve(gmr__kvt *t, uint64_t n);
gmr_err gmr__kvt_insert(gmr__kvt *t, uint64_t hash, const void *key, uint32_t klen, const void *val,
                        uint32_t vlen);
/* Cache hints for batched inserts (no effect on contents): the slot a hash maps to, then the
 * entry that slot points at. Issued for a batch of keys before inserting them, so the memory
 * latency of one key overlaps the others'. */
static inline void gmr__kvt_prefetch_slot(const gmr__kvt *t, uint64_t hash)
{
    __builtin_prefetch(&t->slots[(hash * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - t->bits)]);
}
static inline void gmr__kvt_prefetch_entry(const gmr__kvt *t, uint64_t hash)
{
    uint64_t v = t->slots[(hash * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - t->bits)];
    if (v && (v >> 32) == (hash >> 32)) __builtin_prefetch(t->ent + ((v & 0xffffffff) - 1) * t->stride);
}
/* Bytes held, for memory reporting. */
uint64_t gmr__kvt_bytes(const gmr__kvt *t);

static inline gmr__kv_entry *gmr__kvt_entry(const gmr__kvt *t, uint64_t i)
{
    return (gmr__kv_entry *)(void *)(t->ent + i * t->stride);
}
static inline const char *gmr__kvt_key(const gmr__kvt *t, uint64_t i)
{
    const gmr__kv_entry *e = gmr__kvt_entry(t, i);
    return e->klen <= GMR_KVT_INLINE_KEY ? e->key.inl : t->keys + e->key.off;
}
/* Combine mode: the key's value. */
static inline char *gmr__kvt_value(const gmr__kvt *t, uint64_t i)
{
    return t->ent + i * t->stride + sizeof(gmr__kv_entry);
}

/* Insert every key and value of src into dst (combining in combine mode). */
gmr_err gmr__kvt_merge(gmr__kvt *dst, const gmr__kvt *src);
/* Empty the table and give its memory back (as after create). */
gmr_err gmr__kvt_clear(gmr__kvt *t);
/* The order of sorted runs: by hash, then key bytes, then key length. */
int gmr__kv_cmp(uint64_t ha, const void *ka, uint32_t la, uint64_t hb, const void *kb, uint32_t lb);
/* Entry indices of t in that order (*order malloc'd, t->n of them). Costs a sort of 16 bytes
 * per key. */
gmr_err gmr__kvt_sorted(const gmr__kvt *t, uint32_t **order);

/* List mode: walk a key's values. *cursor starts at 0. Returns 0 at the end. */
int gmr__kvt_next_value(const gmr__kvt *t, uint64_t i, uint64_t *cursor, const void **val, uint32_t *vlen);

#endif
