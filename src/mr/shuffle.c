/* shuffle.c: the hash-partitioned shuffle.
 *
 * Records are framed as [u32 key length][u32 value length][key][value]. The table's entries are
 * first ordered by destination (a counting sort of one int per entry, so no copy of the data),
 * then each round packs up to buffer/size bytes per destination, exchanges the counts with
 * MPI_Alltoall and the bytes with MPI_Alltoallv. MPI's int counts and displacements therefore
 * stay bounded by the round size whatever the total; the totals are kept in 64 bits. The loop
 * count is agreed with MPI_Allreduce, so a rank with nothing to send still takes part in every
 * round. Cost: one pass over the data to pack, one to insert, plus 2 collectives a round. */
#include "shuffle.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct cursor {
    const gmr__kvt *t;     /* table the destination's keys come from */
    const uint32_t *order; /* entry indices in t, or NULL for t's entries in order */
    uint64_t pos, end;     /* range in order (or in t) for this destination */
    uint64_t vcur;         /* list mode: value cursor inside the current entry */
} cursor;

static gmr_err reserve(char **buf, uint64_t *cap, uint64_t need)
{
    gmr_err err = GMR_OK;
    uint64_t ncap = *cap ? *cap : 4096;
    char *p;
    if (need <= *cap) return GMR_OK;
    while (ncap < need) ncap *= 2;
    p = realloc(*buf, ncap);
    GMR_CHECK(p, GMR_ERR_NOMEM, "cannot allocate a %llu-byte shuffle buffer", (unsigned long long)ncap);
    *buf = p;
    *cap = ncap;
out:
    return err;
}

/* One framed record; the buffer grows geometrically, so the check is the only cost per
 * record on the common path (inlined: packing calls this for every key sent). */
static inline gmr_err put(char **buf, uint64_t *cap, uint64_t *len, const void *key, uint32_t klen, const void *val,
                          uint32_t vlen)
{
    gmr_err err = GMR_OK;
    uint32_t hdr[2] = {klen, vlen};
    uint64_t need = *len + sizeof hdr + klen + vlen;
    char *p;
    if (need > *cap) GMR_CALL(reserve(buf, cap, need));
    p = *buf + *len;
    memcpy(p, hdr, sizeof hdr);
    if (klen) memcpy(p + sizeof hdr, key, klen);
    if (vlen) memcpy(p + sizeof hdr + klen, val, vlen);
    *len = need;
out:
    return err;
}

/* Pack up to quota bytes (at least one record when any is left) for one destination. */
static gmr_err pack(cursor *c, uint64_t quota, char **buf, uint64_t *cap, uint64_t *len)
{
    gmr_err err = GMR_OK;
    const gmr__kvt *t = c->t;
    uint64_t start = *len;
    while (c->pos < c->end && *len - start < quota) {
        uint64_t i = c->order ? c->order[c->pos] : c->pos;
        const char *key = gmr__kvt_key(t, i);
        uint32_t klen = gmr__kvt_entry(t, i)->klen;
        if (t->value_size) {
            GMR_CALL(put(buf, cap, len, key, klen, gmr__kvt_value(t, i), (uint32_t)t->value_size));
            c->pos++;
        } else {
            const void *val;
            uint32_t vlen;
            if (gmr__kvt_next_value(t, i, &c->vcur, &val, &vlen)) {
                GMR_CALL(put(buf, cap, len, key, klen, val, vlen));
            }
            if (c->vcur == UINT64_MAX || gmr__kvt_entry(t, i)->nvals == 0) {
                c->pos++;
                c->vcur = 0;
            }
        }
    }
out:
    return err;
}

gmr_err gmr__kvt_serialize(const gmr__kvt *t, char **buf, uint64_t *cap, uint64_t *len)
{
    gmr_err err = GMR_OK;
    gmr__kvt_cursor c = {t, NULL, 0, 0};
    uint64_t need = 0, longest = 0;
    *len = 0;
    gmr__kvt_framed_size(t, &need, &longest);
    GMR_CALL(reserve(buf, cap, need + 1));
    gmr__kvt_cursor_fill(&c, *buf, need, len);
out:
    return err;
}

void gmr__kvt_framed_size(const gmr__kvt *t, uint64_t *bytes, uint64_t *longest)
{
    uint64_t b = 0, m = 0;
    for (uint64_t i = 0; i < t->n; i++) {
        const gmr__kv_entry *e = gmr__kvt_entry(t, i);
        if (t->value_size) {
            uint64_t r = 8 + e->klen + t->value_size;
            b += r;
            if (r > m) m = r;
        } else {
            uint64_t cursor = 0;
            const void *val;
            uint32_t vlen;
            while (gmr__kvt_next_value(t, i, &cursor, &val, &vlen)) {
                uint64_t r = 8 + (uint64_t)e->klen + vlen;
                b += r;
                if (r > m) m = r;
            }
        }
    }
    *bytes = b;
    *longest = m;
}

int gmr__kvt_cursor_fill(gmr__kvt_cursor *c, char *buf, uint64_t cap, uint64_t *len)
{
    const gmr__kvt *t = c->t;
    while (c->pos < t->n) {
        uint64_t i = c->order ? c->order[c->pos] : c->pos;
        const gmr__kv_entry *e = gmr__kvt_entry(t, i);
        const void *val;
        uint32_t vlen, hdr[2];
        uint64_t before = c->vcur;
        if (t->value_size) {
            val = gmr__kvt_value(t, i);
            vlen = (uint32_t)t->value_size;
        } else if (c->vcur == UINT64_MAX || !gmr__kvt_next_value(t, i, &c->vcur, &val, &vlen)) {
            c->pos++; /* this key's values are all out */
            c->vcur = 0;
            continue;
        }
        if (*len + 8 + e->klen + vlen > cap) {
            c->vcur = before; /* the value goes in the next piece */
            return 1;
        }
        hdr[0] = e->klen;
        hdr[1] = vlen;
        memcpy(buf + *len, hdr, sizeof hdr);
        memcpy(buf + *len + 8, gmr__kvt_key(t, i), e->klen);
        if (vlen) memcpy(buf + *len + 8 + e->klen, val, vlen);
        *len += 8 + (uint64_t)e->klen + vlen;
        if (t->value_size) c->pos++;
    }
    return 0;
}

/* Insert received records, a batch at a time: hash the batch and prefetch its slots and
 * entries first, so the cache misses of a large table overlap (as on the map side). */
#define INGEST_BATCH 16
gmr_err gmr__kvt_ingest_parts(gmr__kvt *const *parts, int nparts, const char *buf, uint64_t len)
{
    gmr_err err = GMR_OK;
    uint64_t at = 0;
    while (at < len) {
        const char *key[INGEST_BATCH], *val[INGEST_BATCH];
        uint32_t klen[INGEST_BATCH], vlen[INGEST_BATCH];
        uint64_t hash[INGEST_BATCH];
        gmr__kvt *dst[INGEST_BATCH];
        int n = 0;
        for (; n < INGEST_BATCH && at < len; n++) {
            uint32_t hdr[2];
            GMR_CHECK(len - at >= sizeof hdr, GMR_ERR_INTERNAL, "truncated key/value record");
            memcpy(hdr, buf + at, sizeof hdr);
            at += sizeof hdr;
            GMR_CHECK(len - at >= (uint64_t)hdr[0] + hdr[1], GMR_ERR_INTERNAL, "truncated key/value record");
            key[n] = buf + at;
            klen[n] = hdr[0];
            val[n] = buf + at + hdr[0];
            vlen[n] = hdr[1];
            hash[n] = gmr__hash(key[n], klen[n]);
            dst[n] = parts[nparts > 1 ? gmr__dest(hash[n], GMR_LEVEL_PROVINCE, nparts) : 0];
            gmr__kvt_prefetch_slot(dst[n], hash[n]);
            at += (uint64_t)hdr[0] + hdr[1];
        }
        for (int j = 0; j < n; j++) gmr__kvt_prefetch_entry(dst[j], hash[j]);
        for (int j = 0; j < n; j++) GMR_CALL(gmr__kvt_insert(dst[j], hash[j], key[j], klen[j], val[j], vlen[j]));
    }
out:
    return err;
}

gmr_err gmr__kvt_ingest(gmr__kvt *dst, const char *buf, uint64_t len) { return gmr__kvt_ingest_parts(&dst, 1, buf, len); }

gmr_err gmr__shuffle(MPI_Comm comm, gmr__kvt *const *src, int nsrc, gmr__level level, uint64_t buffer,
                     gmr__kvt *dst, uint64_t *bytes_sent, uint64_t *rounds)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    int rank, size, more = 1;
    uint32_t *order = NULL;
    uint64_t *start = NULL, *incoming = NULL, expect = 0;
    cursor *cur = NULL;
    int *scount = NULL, *sdispl = NULL, *rcount = NULL, *rdispl = NULL;
    char *sbuf = NULL, *rbuf = NULL;
    uint64_t scap = 0, rcap = 0, quota, sent = 0, nround = 0;

    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    GMR_CHECK(nsrc == 1 || (nsrc == size && src[rank] == dst), GMR_ERR_ARG,
              "shuffle needs one source table, or one per rank with this rank's being the destination");
    quota = buffer / (uint64_t)size;
    if (quota < 1) quota = 1;

    start = calloc((size_t)size + 1, sizeof *start);
    cur = calloc((size_t)size, sizeof *cur);
    scount = calloc((size_t)size, sizeof *scount);
    sdispl = calloc((size_t)size, sizeof *sdispl);
    rcount = calloc((size_t)size, sizeof *rcount);
    rdispl = calloc((size_t)size, sizeof *rdispl);
    incoming = calloc((size_t)size, sizeof *incoming);
    GMR_CHECK(start && cur && scount && sdispl && rcount && rdispl && incoming, GMR_ERR_NOMEM,
              "cannot allocate shuffle state");

    if (nsrc == 1) {
        /* one table: order its entries by destination (a counting sort of indices) */
        const gmr__kvt *t = src[0];
        order = malloc((t->n + 1) * sizeof *order);
        GMR_CHECK(order, GMR_ERR_NOMEM, "cannot allocate shuffle order for %llu keys", (unsigned long long)t->n);
        for (uint64_t i = 0; i < t->n; i++) start[gmr__dest(gmr__kvt_entry(t, i)->hash, level, size) + 1]++;
        for (int d = 0; d < size; d++) start[d + 1] += start[d];
        for (int d = 0; d < size; d++) cur[d].pos = start[d];
        for (uint64_t i = 0; i < t->n; i++)
            order[cur[gmr__dest(gmr__kvt_entry(t, i)->hash, level, size)].pos++] = (uint32_t)i;
        for (int d = 0; d < size; d++) {
            cur[d].t = t;
            cur[d].order = order;
            cur[d].pos = start[d];
            cur[d].end = start[d + 1];
        }
        /* the destination is fresh and receives about as many distinct keys as this rank
         * sends: size it once instead of doubling through the growth steps */
        expect = t->n;
    } else {
        /* already partitioned at the source: this rank's own keys stay where they are */
        for (int d = 0; d < size; d++) {
            cur[d].t = src[d];
            cur[d].end = d == rank ? 0 : src[d]->n;
            start[d] = cur[d].end;
        }
        /* The destination already holds this rank's own keys and mostly receives keys it
         * holds too (every rank's map sees the common words). Reserving for this rank's whole
         * map output, as for a fresh table, doubled its slot array and rehashed every key for
         * nothing (0.03 s of a 0.16 s shuffle, 320 MiB of text on 2 ranks). Reserve only what
         * it will surely hold: the largest of its own count and any one rank's incoming count
         * (one small Alltoall); the table grows by itself past that if it must. */
        GMR_CALL_MPI(MPI_Alltoall(start, 1, MPI_UINT64_T, incoming, 1, MPI_UINT64_T, comm));
        expect = dst->n;
        for (int d = 0; d < size; d++)
            if (incoming[d] > expect) expect = incoming[d];
    }
    /* a failure here is agreed like a packing failure: this rank takes part with empty sends */
    local = gmr__kvt_reserve(dst, expect);

    while (more) {
        uint64_t slen = 0, rtotal = 0;
        int left = 0, too_big = 0, any_too_big = 0;
        /* A rank that failed locally keeps taking part with empty sends, so nobody waits. */
        for (int d = 0; d < size; d++) {
            uint64_t before = slen;
            if (!local && !too_big) local = pack(&cur[d], quota, &sbuf, &scap, &slen);
            if (slen > INT_MAX) too_big = 1;
            scount[d] = too_big ? 0 : (int)(slen - before);
            sdispl[d] = too_big ? 0 : (int)before;
            if (cur[d].pos < cur[d].end && !local) left = 1;
        }
        GMR_CALL_MPI(MPI_Alltoall(scount, 1, MPI_INT, rcount, 1, MPI_INT, comm));
        for (int d = 0; d < size; d++) {
            rdispl[d] = (int)(rtotal <= INT_MAX ? rtotal : 0);
            rtotal += (uint64_t)rcount[d];
            if (d != rank) sent += (uint64_t)scount[d];
        }
        if (rtotal > INT_MAX) too_big = 1;
        /* MPI counts are ints: every rank learns if any round would pass 2 GiB, and all stop */
        GMR_CALL_MPI(MPI_Allreduce(&too_big, &any_too_big, 1, MPI_INT, MPI_LOR, comm));
        GMR_CHECK(!any_too_big, GMR_ERR_ARG,
                  "a shuffle round would move more than 2 GiB to or from one rank: lower --shuffle-buffer");
        GMR_CALL(reserve(&rbuf, &rcap, rtotal + 1));
        GMR_CALL(reserve(&sbuf, &scap, slen + 1));
        GMR_CALL_MPI(MPI_Alltoallv(sbuf, scount, sdispl, MPI_BYTE, rbuf, rcount, rdispl, MPI_BYTE, comm));
        if (!local) local = gmr__kvt_ingest(dst, rbuf, rtotal);
        nround++;
        GMR_CALL_MPI(MPI_Allreduce(&left, &more, 1, MPI_INT, MPI_LOR, comm));
    }
    *bytes_sent = sent;
    *rounds = nround;
    err = local;
out:
    free(rbuf);
    free(sbuf);
    free(rdispl);
    free(rcount);
    free(sdispl);
    free(scount);
    free(cur);
    free(incoming);
    free(start);
    free(order);
    return err;
}
