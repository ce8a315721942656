/* wordcount.c: the built-in word count, the engine's reference job and benchmark.
 * map emits (word, 1) per word, combine adds, reduce writes the count. The tokenizer is a
 * 256-entry table lookup per byte; everything else is the engine's hash table. */
#include <string.h>

#include "gridmr/apps.h"

static unsigned char is_space[256];

static gmr_err wc_map(void *ctx, const gmr_record *rec, gmr_emitter *em)
{
    gmr_err err = GMR_OK;
    const unsigned char *p = (const unsigned char *)rec->data, *end = p + rec->len;
    const uint64_t one = 1;
    (void)ctx;
    if (!is_space[' ']) { /* first call: the separator set of the definition */
        is_space[' '] = is_space['\t'] = is_space['\n'] = is_space['\r'] = is_space['\v'] = is_space['\f'] = 1;
    }
    while (p < end) {
        const unsigned char *w;
        while (p < end && is_space[*p]) p++;
        w = p;
        while (p < end && !is_space[*p]) p++;
        if (p > w) GMR_CALL(gmr_emit(em, w, (size_t)(p - w), &one, sizeof one));
    }
out:
    return err;
}

static void wc_combine(void *ctx, void *acc, const void *val)
{
    uint64_t a, v;
    (void)ctx;
    memcpy(&a, acc, sizeof a);
    memcpy(&v, val, sizeof v);
    a += v;
    memcpy(acc, &a, sizeof a);
}

static gmr_err wc_reduce(void *ctx, const void *key, size_t klen, gmr_values *vals, gmr_output *out)
{
    uint64_t total = 0, v;
    const void *val;
    size_t vlen;
    (void)ctx;
    while (gmr_values_next(vals, &val, &vlen)) {
        memcpy(&v, val, sizeof v);
        total += v;
    }
    return gmr_output_row(out, key, klen, &total);
}

static const gmr_column wc_columns[] = {{"count", GMR_TYPE_U64}};

/* The map keeps no state: every thread can share the (empty) context. */
static gmr_err wc_map_ctx_create(void *ctx, void **thread_ctx)
{
    *thread_ctx = ctx;
    return GMR_OK;
}

static void wc_map_ctx_destroy(void *thread_ctx) { (void)thread_ctx; }

const gmr_job_ops gmr_wordcount_ops = {
    GMR_JOB_OPS_VERSION, "wordcount", "lines", sizeof(uint64_t), wc_map, wc_combine, wc_reduce,
    1, wc_columns, GMR_ORDER_FIRST_DESC, wc_map_ctx_create, wc_map_ctx_destroy,
};
