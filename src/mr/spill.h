/* spill.h: key/value tables as runs in a stage file, and the merge of sorted runs (private). */
#ifndef GMR_SPILL_H
#define GMR_SPILL_H

#include "../stage/stage.h"
#include "kvtable.h"

typedef struct gmr__value_ref {
    const void *ptr;
    uint32_t len;
} gmr__value_ref;

/* Called once per distinct key by the merge: one combined value in combine mode, else all the
 * key's values (in no particular order). */
typedef gmr_err (*gmr__merge_fn)(void *ctx, const void *key, uint32_t klen, const gmr__value_ref *vals, uint64_t n);

/* Collective on the stage's communicator. Writes every rank's tables, one after the other, as
 * its segment of `group`/records (with sorted set, one table only, in gmr__kv_cmp order: a
 * sorted run), and `ledger` bytes, when ledger_len is nonzero on some rank, as `group`/ledger;
 * then marks the group complete with meta. *written (may be NULL): this rank's record bytes. */
gmr_err gmr__spill_write(gmr__stage *st, const char *group, gmr__kvt *const *tables, int ntables, int sorted,
                         const void *ledger, uint64_t ledger_len, const uint64_t meta[GMR_STAGE_META],
                         uint64_t *written);

/* Collective. Merges the sorted runs groups[0..n) (each rank reads its own segments, `window`
 * bytes at a time per run) and calls fn once per distinct key, in gmr__kv_cmp order. In
 * combine mode (value_size > 0) equal keys are combined with combine(cctx, acc, val), so fn
 * gets one value. A failure in fn or a damaged run stops the merge on that rank; the status
 * is agreed, so every rank returns the same code. */
gmr_err gmr__spill_merge(gmr__stage *st, char *const *groups, int n, size_t value_size, gmr_combine_fn combine,
                         void *cctx, uint64_t window, gmr__merge_fn fn, void *ctx);

#endif
