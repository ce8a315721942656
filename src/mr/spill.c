/* spill.c: key/value tables as runs in a stage file, and the merge of sorted runs.
 *
 * A run is what a table held at one moment, written to the stage with gmr__stage_put (one
 * collective transfer, a checksum per rank's segment) in the shuffle's framing
 * [u32 klen][u32 vlen][key][value]. The map writes a run per wave (its checkpoint, with a
 * ledger of the splits it covers); under --mem-budget the shuffle writes sorted runs of the
 * tables it receives into whenever they outgrow the budget, and the reduce then merges them.
 *
 * The merge reads each run in windows of `window` bytes with independent transfers, so its
 * memory is (runs x window) plus one key's values, whatever the data size; it keeps the runs'
 * current records in a binary heap ordered by (hash, key) (gmr__kv_cmp), so each record costs
 * O(log runs) comparisons, nearly all decided by the 64-bit hash. A record longer than the
 * window grows that run's buffer. Every byte read is checksummed (the stream verifies at its
 * end), so a damaged run fails the job instead of giving a wrong result. */
#include "spill.h"

#include <stdlib.h>
#include <string.h>

#include "../io/io.h"
#include "../sched/sched.h"
#include "shuffle.h"

gmr_err gmr__spill_write(gmr__stage *st, const char *group, gmr__kvt *const *tables, int ntables, int sorted,
                         const void *ledger, uint64_t ledger_len, const uint64_t meta[GMR_STAGE_META],
                         uint64_t *written)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    uint64_t any_ledger = 0;
    uint32_t *order = NULL;

    if (sorted && ntables != 1) local = GMR_ERROR(GMR_ERR_INTERNAL, "a sorted run holds one table");
    if (!local && sorted) local = gmr__kvt_sorted(tables[0], &order);
    GMR_CALL(gmr__agree(gmr__stage_comm(st), local));
    GMR_CALL(gmr__stage_drop(st, group)); /* a stale copy from an interrupted run */
    GMR_CALL(gmr__stage_put_tables(st, group, "records", tables, ntables, order, written));
    GMR_CALL_MPI(MPI_Allreduce(&ledger_len, &any_ledger, 1, MPI_UINT64_T, MPI_MAX, gmr__stage_comm(st)));
    if (any_ledger) GMR_CALL(gmr__stage_put(st, group, "ledger", ledger, ledger_len));
    GMR_CALL(gmr__stage_mark(st, group, meta, NULL));
out:
    free(order);
    return err;
}

/* ---- the merge ----------------------------------------------------------------------------- */

typedef struct run_reader {
    gmr__stage_stream *s;
    char *buf;
    uint64_t cap, len, pos;
    int eof;
    /* the current record */
    uint64_t hash;
    const char *key, *val;
    uint32_t klen, vlen;
} run_reader;

/* Move to the next record of r; *more = 0 at the end of the run. */
static gmr_err reader_next(run_reader *r, int *more)
{
    gmr_err err = GMR_OK;
    uint32_t hdr[2];
    *more = 0;
    for (;;) {
        uint64_t avail = r->len - r->pos, got = 0;
        if (avail >= sizeof hdr) {
            memcpy(hdr, r->buf + r->pos, sizeof hdr);
            if (avail >= sizeof hdr + (uint64_t)hdr[0] + hdr[1]) break;
        }
        if (r->eof) {
            GMR_CHECK(avail == 0, GMR_ERR_DATA, "a staged run ends inside a record");
            return GMR_OK;
        }
        /* keep the unread tail, grow for a long record, read more */
        if (r->pos) {
            memmove(r->buf, r->buf + r->pos, (size_t)avail);
            r->len = avail;
            r->pos = 0;
        }
        if (avail >= sizeof hdr && sizeof hdr + (uint64_t)hdr[0] + hdr[1] > r->cap) {
            uint64_t ncap = sizeof hdr + (uint64_t)hdr[0] + hdr[1];
            char *p = realloc(r->buf, ncap);
            GMR_CHECK(p, GMR_ERR_NOMEM, "cannot read a %llu-byte record", (unsigned long long)ncap);
            r->buf = p;
            r->cap = ncap;
        }
        GMR_CALL(gmr__stage_stream_read(r->s, r->buf + r->len, r->cap - r->len, &got));
        if (!got) r->eof = 1;
        r->len += got;
    }
    r->klen = hdr[0];
    r->vlen = hdr[1];
    r->key = r->buf + r->pos + sizeof hdr;
    r->val = r->key + r->klen;
    r->hash = gmr__hash(r->key, r->klen);
    r->pos += sizeof hdr + (uint64_t)hdr[0] + hdr[1];
    *more = 1;
out:
    return err;
}

static int reader_less(const run_reader *a, const run_reader *b)
{
    return gmr__kv_cmp(a->hash, a->key, a->klen, b->hash, b->key, b->klen) < 0;
}

static void heap_down(run_reader **h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        run_reader *t;
        if (l < n && reader_less(h[l], h[m])) m = l;
        if (r < n && reader_less(h[r], h[m])) m = r;
        if (m == i) return;
        t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Not collective: the merge proper, over readers whose streams are open. */
static gmr_err merge_local(run_reader *rd, int n, size_t value_size, gmr_combine_fn combine, void *cctx,
                           gmr__merge_fn fn, void *ctx)
{
    gmr_err err = GMR_OK;
    run_reader **heap = calloc((size_t)n + 1, sizeof *heap);
    gmr__buf key = {0}, vals = {0};
    gmr__value_ref *refs = NULL;
    uint64_t nrefs = 0, refcap = 0;
    int nh = 0, more = 0;

    GMR_CHECK(heap, GMR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        GMR_CALL(reader_next(&rd[i], &more));
        if (more) heap[nh++] = &rd[i];
    }
    for (int i = nh / 2 - 1; i >= 0; i--) heap_down(heap, nh, i);
    while (nh) {
        run_reader *top = heap[0];
        uint64_t hash = top->hash;
        uint32_t klen = top->klen;
        GMR_CALL(gmr__buf_reserve(&key, (size_t)klen + 1));
        if (klen) memcpy(key.data, top->key, klen);
        vals.len = 0;
        nrefs = 0;
        /* every record of this key, from every run; values are copied out before the reader moves */
        while (nh && gmr__kv_cmp(heap[0]->hash, heap[0]->key, heap[0]->klen, hash, key.data, klen) == 0) {
            run_reader *r = heap[0];
            if (value_size) {
                GMR_CHECK(r->vlen == value_size, GMR_ERR_DATA, "a staged value has %u bytes, expected %zu", r->vlen,
                          value_size);
                if (vals.len == 0) {
                    GMR_CALL(gmr__buf_reserve(&vals, value_size));
                    memcpy(vals.data, r->val, value_size);
                    vals.len = value_size;
                } else {
                    combine(cctx, vals.data, r->val);
                }
            } else {
                uint64_t at = (vals.len + 7) & ~(uint64_t)7;
                GMR_CALL(gmr__buf_reserve(&vals, (size_t)(at + r->vlen + 8)));
                if (r->vlen) memcpy(vals.data + at, r->val, r->vlen);
                vals.len = (size_t)(at + r->vlen);
                if (nrefs == refcap) {
                    gmr__value_ref *p = realloc(refs, (refcap = refcap ? 2 * refcap : 64) * sizeof *p);
                    GMR_CHECK(p, GMR_ERR_NOMEM, "cannot gather a key's values");
                    refs = p;
                }
                refs[nrefs].ptr = (const void *)(uintptr_t)at; /* offset now, pointer once complete */
                refs[nrefs].len = r->vlen;
                nrefs++;
            }
            GMR_CALL(reader_next(r, &more));
            if (!more) heap[0] = heap[--nh];
            heap_down(heap, nh, 0);
        }
        if (value_size) {
            gmr__value_ref one = {vals.data, (uint32_t)value_size};
            GMR_CALL(fn(ctx, key.data, klen, &one, 1));
        } else {
            for (uint64_t i = 0; i < nrefs; i++) refs[i].ptr = vals.data + (uintptr_t)refs[i].ptr;
            GMR_CALL(fn(ctx, key.data, klen, refs, nrefs));
        }
    }
out:
    free(refs);
    gmr__buf_free(&vals);
    gmr__buf_free(&key);
    free(heap);
    return err;
}

gmr_err gmr__spill_merge(gmr__stage *st, char *const *groups, int n, size_t value_size, gmr_combine_fn combine,
                         void *cctx, uint64_t window, gmr__merge_fn fn, void *ctx)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    run_reader *rd = calloc((size_t)n + 1, sizeof *rd);
    int opened = 0;

    GMR_CALL(gmr__agree(gmr__stage_comm(st), rd ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
    if (window < 4096) window = 4096;
    for (; opened < n; opened++) {
        GMR_CALL(gmr__stage_stream_open(st, groups[opened], "records", &rd[opened].s));
        rd[opened].cap = window;
        if (!local && !(rd[opened].buf = malloc(window)))
            local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate a %llu-byte merge window", (unsigned long long)window);
    }
    if (!local) local = merge_local(rd, n, value_size, combine, cctx, fn, ctx);
out:
    for (int i = 0; rd && i < opened; i++) {
        gmr__stage_stream_close(&rd[i].s);
        free(rd[i].buf);
    }
    free(rd);
    if (!err) err = gmr__agree(gmr__stage_comm(st), local);
    return err;
}
