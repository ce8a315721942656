/* sync.c: the protocol of gridmr sync, HQ and the province leaders (docs/sync.md).
 *
 * Rank 0 is HQ: it holds the merged view and the catalog in its store and answers requests.
 * The province stores are dealt to the leaders of the topology (src/topo, store i to group
 * i mod P); each leader drives its stores one by one, always asking, HQ always answering, so
 * HQ needs no schedule and any rank count gives the same final state (HQ keys what it gets by
 * origin province, so the order in which provinces arrive cannot matter). Per store:
 *
 *   up    for each of the province's own tables: UP_BEGIN (HQ answers the version it last
 *         acknowledged and, for a transfer cut short, where it stopped), then UP_CHUNKs of the
 *         elements changed since, in key order; HQ checks the checksum (a bad one is refused
 *         and the leader sends the chunk again), applies it and records its progress in the
 *         same transaction, and answers. The last chunk moves the acknowledged version.
 *   down  DOWN_BEGIN: HQ answers with the first chunk of what changed in its own tables since
 *         the province last acknowledged them; the leader checks, applies (origin "HQ") and
 *         answers DOWN_ACK (or DOWN_NACK for a bad checksum), HQ records and sends the next.
 *
 * Resume is by key, not by chunk number: the catalog keeps the last key applied, and a
 * resumed transfer sends the elements of the same version range after that key, so elements
 * changed again in between cannot be skipped. HQ on a single rank drives its own stores
 * through the same handler without MPI. A failure at HQ answers ABORT to every later
 * request; every rank still ends with BYE and the status is agreed. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridmr/log.h"
#include "sched/sched.h"
#include "sync/sync_impl.h"
#include "topo/topo.h"

enum { MSG_UP_BEGIN = 1, MSG_UP_CHUNK, MSG_DOWN_BEGIN, MSG_DOWN_ACK, MSG_DOWN_NACK, MSG_BYE };
enum { R_OK = 0, R_NACK, R_ABORT, R_CHUNK, R_END };
#define TAG_REQ 7301
#define TAG_REP 7302

typedef struct down_session {
    char *province;
    char **tables;
    int ntables, ti;
    gmr__chunker *ck;
    gmr__sbuf chunk;     /* the chunk in flight, as built (a resend copies it again) */
    uint64_t chunk_no, to_v;
    int last, tries;
    char *last_key;
} down_session;

typedef struct hq_state {
    gmr__store *s;
    const gmr_sync_options *opt;
    gmr_sync_stats *st;
    down_session *sess; /* per requesting rank */
    int nsess;
    int abort;
    gmr_err err;        /* the failure that made HQ abort, message recorded */
    long crash_after, applied;
    double t_busy;      /* time in hq_handle */
    MPI_Comm comm;      /* where the leaders' requests arrive */
    int byes;           /* leaders that said BYE */
    gmr__sbuf in, out;  /* a leader's request and HQ's answer */
} hq_state;

typedef struct hq_link {
    MPI_Comm comm;      /* MPI_COMM_NULL: HQ itself, calls hq directly */
    hq_state *hq;
    double t_wait;      /* time in link_call */
} hq_link;

static uint64_t budget_of(const gmr_sync_options *o) { return o->chunk ? o->chunk : GMR_SYNC_DEFAULT_CHUNK; }

/* Waits for a message like MPI_Probe, but politely: Open MPI's blocking calls spin, and a rank
 * waiting for HQ (or HQ waiting for requests) would take a core from the ranks doing the work,
 * which on a small or oversubscribed node is most of the cost. Spins briefly, then sleeps with
 * a backoff from 10 us to 1 ms, so an answer is noticed within about 1 ms. */
static int polite_probe(int src, int tag, MPI_Comm comm, MPI_Status *st)
{
    long wait_ns = 10000;
    for (int spins = 0;; spins++) {
        int flag = 0, rc = MPI_Iprobe(src, tag, comm, &flag, st);
        if (rc != MPI_SUCCESS || flag) return rc;
        if (spins >= 100) {
            struct timespec ts = {0, wait_ns};
            nanosleep(&ts, NULL);
            if (wait_ns < 1000000) wait_ns *= 2;
        }
    }
}

/* MPI_Barrier, politely (see polite_probe): ranks that finish early sleep instead of spinning. */
static int polite_barrier(MPI_Comm comm)
{
    MPI_Request rq = MPI_REQUEST_NULL;
    long wait_ns = 10000;
    int rc = MPI_Ibarrier(comm, &rq);
    for (int spins = 0; rc == MPI_SUCCESS; spins++) {
        int flag = 0;
        rc = MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || flag) break;
        if (spins >= 100) {
            struct timespec ts = {0, wait_ns};
            nanosleep(&ts, NULL);
            if (wait_ns < 1000000) wait_ns *= 2;
        }
    }
    return rc;
}

/* ---- HQ --------------------------------------------------------------------------------------- */

typedef struct cat_row {
    int64_t acked, to_v, next_chunk;
    char *last_key;
} cat_row;

static gmr_err cat_get(gmr__store *s, const char *prov, const char *tbl, const char *dir, cat_row *r)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *q = NULL;
    int rc;
    memset(r, 0, sizeof *r);
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO catalog(province, tbl, dir) VALUES(?1,?2,?3)", -1, &q,
                                           NULL));
    sqlite3_bind_text(q, 1, prov, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, dir, -1, SQLITE_STATIC);
    GMR_CALL_SQL(s->db, sqlite3_step(q));
    sqlite3_finalize(q);
    q = NULL;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT acked, to_v, next_chunk, last_key FROM catalog WHERE province=?1 AND"
                                           " tbl=?2 AND dir=?3", -1, &q, NULL));
    sqlite3_bind_text(q, 1, prov, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, dir, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    GMR_CALL_SQL(s->db, rc);
    GMR_CHECK(rc == SQLITE_ROW, GMR_ERR_INTERNAL, "catalog row vanished");
    r->acked = sqlite3_column_int64(q, 0);
    r->to_v = sqlite3_column_int64(q, 1);
    r->next_chunk = sqlite3_column_int64(q, 2);
    GMR_CHECK(r->last_key = strdup((const char *)sqlite3_column_text(q, 3)), GMR_ERR_NOMEM, "out of memory");
out:
    sqlite3_finalize(q);
    return err;
}

static gmr_err cat_put(gmr__store *s, const char *prov, const char *tbl, const char *dir, const cat_row *r)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *q = NULL;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "UPDATE catalog SET acked=?4, to_v=?5, next_chunk=?6, last_key=?7"
                                           " WHERE province=?1 AND tbl=?2 AND dir=?3", -1, &q, NULL));
    sqlite3_bind_text(q, 1, prov, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, dir, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, r->acked);
    sqlite3_bind_int64(q, 5, r->to_v);
    sqlite3_bind_int64(q, 6, r->next_chunk);
    sqlite3_bind_text(q, 7, r->last_key ? r->last_key : "", -1, SQLITE_STATIC);
    GMR_CALL_SQL(s->db, sqlite3_step(q));
out:
    sqlite3_finalize(q);
    return err;
}

/* Test hook: GRIDMR_TEST_SYNC_CRASH=K kills HQ (SIGKILL, as a node failure would) right after
 * it commits its K-th chunk (an upward chunk applied, or a downward one acknowledged). */
static void crash_point(hq_state *hq)
{
    hq->applied++;
    if (hq->crash_after > 0 && hq->applied == hq->crash_after) raise(SIGKILL);
}

static gmr_err hq_up_begin(hq_state *hq, gmr__scur *c, gmr__sbuf *rep)
{
    gmr_err err = GMR_OK;
    char *prov = NULL, *tbl = NULL, *k = NULL, *h = NULL;
    cat_row r = {0};
    int64_t cur;
    GMR_CALL(gmr__scur_str(c, &prov));
    GMR_CALL(gmr__scur_str(c, &tbl));
    cur = (int64_t)gmr__scur_u64(c);
    GMR_CHECK(!c->bad, GMR_ERR_DATA, "sync: truncated UP_BEGIN");
    err = gmr__store_table_info(hq->s, tbl, "", &k, &h);
    GMR_CHECK(err == GMR_ERR_STATE, GMR_ERR_DATA, "province %s holds its own table %s, which HQ owns (edit it at HQ)", prov, tbl);
    err = GMR_OK;
    GMR_CALL(gmr__store_exec(hq->s, "BEGIN IMMEDIATE"));
    err = cat_get(hq->s, prov, tbl, "up", &r);
    if (!err) {
        if (r.to_v > r.acked) {
            if (cur < r.to_v)
                err = GMR_ERROR(GMR_ERR_DATA, "province %s: store at version %lld, behind the %lld of its unfinished sync"
                                " (restored from a backup?)", prov, (long long)cur, (long long)r.to_v);
            else hq->st->resumed++;
        } else if (cur < r.acked) {
            err = GMR_ERROR(GMR_ERR_DATA, "province %s: store at version %lld, behind the %lld HQ acknowledged (restored"
                            " from a backup?)", prov, (long long)cur, (long long)r.acked);
        } else if (cur > r.acked) {
            r.to_v = cur;
            r.next_chunk = 0;
            free(r.last_key);
            r.last_key = NULL;
            err = cat_put(hq->s, prov, tbl, "up", &r);
        } else {
            r.to_v = r.acked;
        }
    }
    if (err) {
        sqlite3_exec(hq->s->db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    GMR_CALL(gmr__store_exec(hq->s, "COMMIT"));
    GMR_CALL(gmr__sbuf_u8(rep, R_OK));
    GMR_CALL(gmr__sbuf_u64(rep, (uint64_t)r.acked));
    GMR_CALL(gmr__sbuf_u64(rep, (uint64_t)r.to_v));
    GMR_CALL(gmr__sbuf_u64(rep, (uint64_t)r.next_chunk));
    GMR_CALL(gmr__sbuf_str(rep, r.last_key ? r.last_key : ""));
out:
    free(prov);
    free(tbl);
    free(k);
    free(h);
    free(r.last_key);
    return err;
}

static gmr_err hq_up_chunk(hq_state *hq, const uint8_t *p, size_t n, gmr__sbuf *rep)
{
    gmr_err err = GMR_OK;
    gmr__chunk_info ci = {0};
    cat_row r = {0};
    char *lk = NULL;
    int in_txn = 0;
    if (gmr__chunk_verify(p, n) != 0) {
        hq->st->refused++;
        gmr_log(GMR_LOG_INFO, "sync: HQ refused a chunk of %zu bytes (bad checksum); asking again", n);
        GMR_CALL(gmr__sbuf_u8(rep, R_NACK));
        goto out;
    }
    GMR_CALL(gmr__chunk_parse(p, n, &ci));
    GMR_CHECK(*ci.origin && strcmp(ci.origin, GMR_SYNC_HQ_NAME) != 0, GMR_ERR_DATA, "sync: chunk with origin '%s'", ci.origin);
    GMR_CALL(gmr__store_exec(hq->s, "BEGIN IMMEDIATE"));
    in_txn = 1;
    GMR_CALL(cat_get(hq->s, ci.origin, ci.table, "up", &r));
    if ((int64_t)ci.to_v <= r.acked || (int64_t)ci.chunk_no < r.next_chunk) {
        hq->st->duplicates++; /* applied before: acknowledge again, change nothing */
    } else {
        GMR_CHECK((int64_t)ci.to_v == r.to_v && (int64_t)ci.from_v == r.acked && (int64_t)ci.chunk_no == r.next_chunk,
                  GMR_ERR_DATA, "sync: chunk %llu of %s/%s (versions %llu..%llu) does not follow HQ's progress (chunk %lld,"
                  " versions %lld..%lld)", (unsigned long long)ci.chunk_no, ci.origin, ci.table,
                  (unsigned long long)ci.from_v, (unsigned long long)ci.to_v, (long long)r.next_chunk, (long long)r.acked,
                  (long long)r.to_v);
        GMR_CALL(gmr__chunk_apply(hq->s, &ci, ci.origin, &hq->st->stale, &lk));
        r.next_chunk++;
        if (lk) {
            free(r.last_key);
            r.last_key = lk;
            lk = NULL;
        }
        if (ci.flags & GMR_CHUNK_LAST) {
            r.acked = r.to_v;
            r.next_chunk = 0;
            free(r.last_key);
            r.last_key = NULL;
        }
        GMR_CALL(cat_put(hq->s, ci.origin, ci.table, "up", &r));
        hq->st->chunks_up++;
    }
    GMR_CALL(gmr__store_exec(hq->s, "COMMIT"));
    in_txn = 0;
    crash_point(hq);
    GMR_CALL(gmr__sbuf_u8(rep, R_OK));
out:
    if (in_txn) sqlite3_exec(hq->s->db, "ROLLBACK", NULL, NULL, NULL);
    gmr__chunk_info_free(&ci);
    free(r.last_key);
    free(lk);
    return err;
}

static void session_clear(down_session *d)
{
    gmr__chunker_destroy(&d->ck);
    gmr__strv_free(&d->tables, d->ntables);
    gmr__sbuf_free(&d->chunk);
    free(d->province);
    free(d->last_key);
    memset(d, 0, sizeof *d);
}

/* The next downward chunk for the session into rep (R_CHUNK + bytes), or R_END. */
static gmr_err hq_down_next(hq_state *hq, down_session *d, gmr__sbuf *rep)
{
    gmr_err err = GMR_OK;
    cat_row r = {0};
    int64_t cur;
    for (;;) {
        if (d->ck) {
            int done = 0;
            const char *lk = NULL;
            GMR_CALL(gmr__chunker_next(d->ck, &d->chunk, &done, &lk, &hq->st->upserts_down, &hq->st->deletes_down));
            if (!done) {
                const uint8_t *h = d->chunk.data;
                d->last = (h[20] & GMR_CHUNK_LAST) != 0;
                d->chunk_no = 0;
                for (int i = 7; i >= 0; i--) d->chunk_no = (d->chunk_no << 8) | h[40 + i];
                free(d->last_key);
                d->last_key = NULL;
                if (*lk) GMR_CHECK(d->last_key = strdup(lk), GMR_ERR_NOMEM, "out of memory");
                d->tries = 0;
                break;
            }
            gmr__chunker_destroy(&d->ck);
            d->ti++;
        }
        if (d->ti >= d->ntables) {
            GMR_CALL(gmr__sbuf_u8(rep, R_END));
            goto out;
        }
        {
            uint64_t full = 0;
            GMR_CALL(gmr__chunk_full_bytes(hq->s, d->tables[d->ti], GMR_SYNC_HQ_NAME, budget_of(hq->opt), d->province,
                                           &full));
            hq->st->full_down += full;
        }
        GMR_CALL(gmr__store_version(hq->s, &cur));
        free(r.last_key);
        GMR_CALL(cat_get(hq->s, d->province, d->tables[d->ti], "down", &r));
        if (r.to_v > r.acked) {
            hq->st->resumed++;
        } else if (cur > r.acked) {
            r.to_v = cur;
            r.next_chunk = 0;
            free(r.last_key);
            r.last_key = NULL;
            GMR_CALL(cat_put(hq->s, d->province, d->tables[d->ti], "down", &r));
        } else {
            d->ti++;
            continue;
        }
        d->to_v = (uint64_t)r.to_v;
        GMR_CALL(gmr__chunker_create(hq->s, GMR_SYNC_HQ_NAME, d->tables[d->ti], (uint64_t)r.acked, (uint64_t)r.to_v,
                                     r.last_key, (uint64_t)r.next_chunk, budget_of(hq->opt), d->province, &d->ck));
    }
    GMR_CALL(gmr__sbuf_u8(rep, R_CHUNK));
    GMR_CALL(gmr__sbuf_put(rep, d->chunk.data, d->chunk.len));
    if (gmr__chunk_test_flip(rep->data + 1, rep->len - 1)) gmr_log(GMR_LOG_INFO, "sync: test hook flipped a byte");
    hq->st->bytes_down += d->chunk.len;
out:
    free(r.last_key);
    return err;
}

static gmr_err hq_down_ack(hq_state *hq, down_session *d)
{
    gmr_err err = GMR_OK;
    cat_row r = {0};
    const char *tbl = d->tables[d->ti];
    GMR_CALL(cat_get(hq->s, d->province, tbl, "down", &r));
    if ((int64_t)d->chunk_no == r.next_chunk && (int64_t)d->to_v == r.to_v) {
        r.next_chunk++;
        if (d->last_key) {
            free(r.last_key);
            GMR_CHECK(r.last_key = strdup(d->last_key), GMR_ERR_NOMEM, "out of memory");
        }
        if (d->last) {
            r.acked = r.to_v;
            r.next_chunk = 0;
            free(r.last_key);
            r.last_key = NULL;
        }
        GMR_CALL(cat_put(hq->s, d->province, tbl, "down", &r));
        hq->st->chunks_down++;
        crash_point(hq);
    }
out:
    free(r.last_key);
    return err;
}

/* One request from rank src; the answer goes to rep. Not collective. */
static gmr_err hq_handle(hq_state *hq, int src, const uint8_t *msg, size_t n, gmr__sbuf *rep)
{
    gmr_err err = GMR_OK;
    double t0 = MPI_Wtime();
    gmr__scur c = {msg, n, 0, 0};
    uint8_t type = gmr__scur_u8(&c);
    down_session *d = &hq->sess[src];
    rep->len = 0;
    if (hq->abort) {
        GMR_CALL(gmr__sbuf_u8(rep, R_ABORT));
        goto out;
    }
    switch (type) {
    case MSG_UP_BEGIN:
        err = hq_up_begin(hq, &c, rep);
        break;
    case MSG_UP_CHUNK:
        err = hq_up_chunk(hq, msg + 1, n - 1, rep);
        break;
    case MSG_DOWN_BEGIN:
        session_clear(d);
        err = gmr__scur_str(&c, &d->province);
        if (!err) err = gmr__store_own_tables(hq->s, &d->tables, &d->ntables);
        if (!err) err = hq_down_next(hq, d, rep);
        break;
    case MSG_DOWN_ACK:
        if (!d->province || !d->chunk.len) {
            err = GMR_ERROR(GMR_ERR_INTERNAL, "sync: DOWN_ACK outside a transfer");
            break;
        }
        err = hq_down_ack(hq, d);
        if (!err) err = hq_down_next(hq, d, rep);
        break;
    case MSG_DOWN_NACK:
        if (!d->province || !d->chunk.len) {
            err = GMR_ERROR(GMR_ERR_INTERNAL, "sync: DOWN_NACK outside a transfer");
            break;
        }
        if (++d->tries > (hq->opt->max_resend > 0 ? hq->opt->max_resend : 3)) {
            err = GMR_ERROR(GMR_ERR_IO, "sync: province %s refused chunk %llu of %s %d times (bad checksum)", d->province,
                            (unsigned long long)d->chunk_no, d->tables[d->ti], d->tries);
            break;
        }
        err = gmr__sbuf_u8(rep, R_CHUNK);
        if (!err) err = gmr__sbuf_put(rep, d->chunk.data, d->chunk.len);
        hq->st->bytes_down += d->chunk.len;
        break;
    default:
        err = GMR_ERROR(GMR_ERR_INTERNAL, "sync: unknown request %d from rank %d", type, src);
    }
    if (err) {
        hq->abort = 1;
        hq->err = err;
        rep->len = 0;
        err = gmr__sbuf_u8(rep, R_ABORT);
    }
out:
    hq->t_busy += MPI_Wtime() - t0;
    return err;
}

/* Receives one leader's request and answers it; a BYE is counted. Blocking: waits (politely)
 * for a request; otherwise only takes one already pending. *served = 1 when one was taken.
 * Not collective. */
static gmr_err hq_serve(hq_state *hq, int blocking, int *served)
{
    gmr_err err = GMR_OK;
    MPI_Status stt;
    int cnt = 0, flag = 1;
    *served = 0;
    if (blocking) GMR_CALL_MPI(polite_probe(MPI_ANY_SOURCE, TAG_REQ, hq->comm, &stt));
    else GMR_CALL_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQ, hq->comm, &flag, &stt));
    if (!flag) goto out;
    GMR_CALL_MPI(MPI_Get_count(&stt, MPI_BYTE, &cnt));
    hq->in.len = 0;
    if ((size_t)cnt > hq->in.cap) {
        uint8_t *nd = realloc(hq->in.data, (size_t)cnt);
        GMR_CHECK(nd, GMR_ERR_NOMEM, "out of memory");
        hq->in.data = nd;
        hq->in.cap = (size_t)cnt;
    }
    GMR_CALL_MPI(MPI_Recv(hq->in.data, cnt, MPI_BYTE, stt.MPI_SOURCE, TAG_REQ, hq->comm, MPI_STATUS_IGNORE));
    *served = 1;
    if (cnt >= 1 && hq->in.data[0] == MSG_BYE) {
        hq->byes++;
        goto out;
    }
    GMR_CALL(hq_handle(hq, stt.MPI_SOURCE, hq->in.data, (size_t)cnt, &hq->out));
    GMR_CALL_MPI(MPI_Send(hq->out.data, (int)hq->out.len, MPI_BYTE, stt.MPI_SOURCE, TAG_REP, hq->comm));
out:
    return err;
}

/* ---- the province side ------------------------------------------------------------------------ */

/* Sends req to HQ and waits for the answer. */
static gmr_err link_call(hq_link *l, const gmr__sbuf *req, gmr__sbuf *rep)
{
    gmr_err err = GMR_OK;
    double t0 = MPI_Wtime();
    MPI_Status stt;
    int cnt = 0;
    if (l->comm == MPI_COMM_NULL) {
        /* HQ driving its own stores answers the other leaders' pending requests first, so they
         * do not wait for HQ's share to end */
        int served = 1;
        while (served && l->hq->comm != MPI_COMM_NULL) GMR_CALL(hq_serve(l->hq, 0, &served));
        GMR_CALL(hq_handle(l->hq, 0, req->data, req->len, rep));
        goto out;
    }
    GMR_CHECK(req->len < INT_MAX, GMR_ERR_ARG, "sync: message of %zu bytes (chunk too large)", req->len);
    GMR_CALL_MPI(MPI_Send(req->data, (int)req->len, MPI_BYTE, 0, TAG_REQ, l->comm));
    GMR_CALL_MPI(polite_probe(0, TAG_REP, l->comm, &stt));
    GMR_CALL_MPI(MPI_Get_count(&stt, MPI_BYTE, &cnt));
    rep->len = 0;
    GMR_CALL(gmr__sbuf_put(rep, NULL, 0));
    if ((size_t)cnt > rep->cap) {
        uint8_t *nd = realloc(rep->data, (size_t)cnt);
        GMR_CHECK(nd, GMR_ERR_NOMEM, "out of memory");
        rep->data = nd;
        rep->cap = (size_t)cnt;
    }
    GMR_CALL_MPI(MPI_Recv(rep->data, cnt, MPI_BYTE, 0, TAG_REP, l->comm, MPI_STATUS_IGNORE));
    rep->len = (size_t)cnt;
out:
    l->t_wait += MPI_Wtime() - t0;
    return err;
}

/* Syncs one province store both ways. *stop set when HQ aborted (HQ reports why). */
static gmr_err province_sync(hq_link *l, const gmr_sync_options *opt, const char *dir, const char *name, gmr_sync_stats *st,
                             int *stop)
{
    gmr_err err = GMR_OK;
    gmr__store *s = NULL;
    char *path = NULL, **tables = NULL, *after = NULL;
    int ntables = 0, in_txn = 0;
    gmr__sbuf req = {0}, rep = {0}, ch = {0};
    gmr__chunker *ck = NULL;
    gmr__chunk_info ci = {0};
    int64_t cur;
    int maxr = opt->max_resend > 0 ? opt->max_resend : 3;

    GMR_CHECK(path = malloc(strlen(dir) + strlen(name) + 5), GMR_ERR_NOMEM, "out of memory");
    sprintf(path, "%s/%s.db", dir, name);
    GMR_CALL(gmr__store_open(path, &s));
    GMR_CALL(gmr__store_own_tables(s, &tables, &ntables));
    GMR_CALL(gmr__store_version(s, &cur));
    st->stores++;
    for (int t = 0; t < ntables; t++) {
        gmr__scur c;
        uint64_t acked, to_v, next, full = 0;
        int done = 0;
        GMR_CALL(gmr__chunk_full_bytes(s, tables[t], name, budget_of(opt), NULL, &full));
        st->full_up += full;
        req.len = 0;
        GMR_CALL(gmr__sbuf_u8(&req, MSG_UP_BEGIN));
        GMR_CALL(gmr__sbuf_str(&req, name));
        GMR_CALL(gmr__sbuf_str(&req, tables[t]));
        GMR_CALL(gmr__sbuf_u64(&req, (uint64_t)cur));
        GMR_CALL(link_call(l, &req, &rep));
        c = (gmr__scur){rep.data, rep.len, 0, 0};
        if (gmr__scur_u8(&c) != R_OK) {
            *stop = 1;
            goto out;
        }
        acked = gmr__scur_u64(&c);
        to_v = gmr__scur_u64(&c);
        next = gmr__scur_u64(&c);
        free(after);
        after = NULL;
        GMR_CALL(gmr__scur_str(&c, &after));
        if (to_v == acked) continue;
        GMR_CALL(gmr__chunker_create(s, name, tables[t], acked, to_v, after, next, budget_of(opt), NULL, &ck));
        for (;;) {
            const char *lk;
            int tries = 0;
            GMR_CALL(gmr__chunker_next(ck, &ch, &done, &lk, &st->upserts_up, &st->deletes_up));
            if (done) break;
            for (;;) {
                req.len = 0;
                GMR_CALL(gmr__sbuf_u8(&req, MSG_UP_CHUNK));
                GMR_CALL(gmr__sbuf_put(&req, ch.data, ch.len));
                if (gmr__chunk_test_flip(req.data + 1, req.len - 1)) gmr_log(GMR_LOG_INFO, "sync: test hook flipped a byte");
                st->bytes_up += ch.len;
                GMR_CALL(link_call(l, &req, &rep));
                GMR_CHECK(rep.len >= 1, GMR_ERR_INTERNAL, "sync: empty answer from HQ");
                if (rep.data[0] == R_OK) {
                    if (!gmr__chunk_test_dup()) break;
                    st->bytes_up += ch.len;
                    GMR_CALL(link_call(l, &req, &rep));
                    GMR_CHECK(rep.len >= 1 && rep.data[0] == R_OK, GMR_ERR_INTERNAL, "sync: HQ refused a duplicate chunk");
                    break;
                }
                if (rep.data[0] == R_ABORT) {
                    *stop = 1;
                    goto out;
                }
                GMR_CHECK(++tries <= maxr, GMR_ERR_IO, "sync: HQ refused chunk of %s/%s %d times (bad checksum)", name,
                          tables[t], tries);
            }
        }
        gmr__chunker_destroy(&ck);
    }
    /* downward: HQ's own tables */
    req.len = 0;
    GMR_CALL(gmr__sbuf_u8(&req, MSG_DOWN_BEGIN));
    GMR_CALL(gmr__sbuf_str(&req, name));
    GMR_CALL(link_call(l, &req, &rep));
    for (;;) {
        uint64_t stale = 0;
        GMR_CHECK(rep.len >= 1, GMR_ERR_INTERNAL, "sync: empty answer from HQ");
        if (rep.data[0] == R_END) break;
        if (rep.data[0] != R_CHUNK) {
            *stop = 1;
            goto out;
        }
        req.len = 0;
        if (gmr__chunk_verify(rep.data + 1, rep.len - 1) != 0) {
            st->refused++;
            gmr_log(GMR_LOG_INFO, "sync: %s refused a chunk from HQ (bad checksum); asking again", name);
            GMR_CALL(gmr__sbuf_u8(&req, MSG_DOWN_NACK));
        } else {
            GMR_CALL(gmr__chunk_parse(rep.data + 1, rep.len - 1, &ci));
            GMR_CHECK(strcmp(ci.origin, GMR_SYNC_HQ_NAME) == 0, GMR_ERR_DATA, "sync: downward chunk from '%s'", ci.origin);
            {
                char *k = NULL, *h = NULL;
                gmr_err e2 = gmr__store_table_info(s, ci.table, "", &k, &h);
                free(k);
                free(h);
                GMR_CHECK(e2 == GMR_ERR_STATE, GMR_ERR_DATA, "%s: holds its own table %s, which HQ owns", path, ci.table);
            }
            GMR_CALL(gmr__store_exec(s, "BEGIN IMMEDIATE"));
            in_txn = 1;
            GMR_CALL(gmr__chunk_apply(s, &ci, GMR_SYNC_HQ_NAME, &stale, NULL));
            GMR_CALL(gmr__store_exec(s, "COMMIT"));
            in_txn = 0;
            st->stale += stale;
            gmr__chunk_info_free(&ci);
            GMR_CALL(gmr__sbuf_u8(&req, MSG_DOWN_ACK));
        }
        GMR_CALL(link_call(l, &req, &rep));
    }
out:
    if (in_txn) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (err) gmr__err_context("province %s", name);
    gmr__chunk_info_free(&ci);
    gmr__chunker_destroy(&ck);
    gmr__sbuf_free(&req);
    gmr__sbuf_free(&rep);
    gmr__sbuf_free(&ch);
    gmr__strv_free(&tables, ntables);
    free(after);
    free(path);
    gmr__store_close(&s);
    return err;
}

/* ---- the run ---------------------------------------------------------------------------------- */

static int name_ok(const char *n)
{
    if (!*n || strcmp(n, GMR_SYNC_HQ_NAME) == 0) return 0;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') || *n == '_' || *n == '-'))
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The province names (NAME of DIR/NAME.db, HQ's own file left out), sorted, packed NUL-separated. */
static gmr_err list_stores(const char *dir, const char *hq, gmr__sbuf *names)
{
    gmr_err err = GMR_OK;
    DIR *d = NULL;
    struct dirent *e;
    char **v = NULL, hqreal[PATH_MAX], real[PATH_MAX], path[PATH_MAX];
    int n = 0, have_hq = realpath(hq, hqreal) != NULL;
    GMR_CHECK(d = opendir(dir), GMR_ERR_IO, "%s: cannot open the stores directory", dir);
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char **nv;
        if (len < 4 || strcmp(e->d_name + len - 3, ".db") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (have_hq && realpath(path, real) && strcmp(real, hqreal) == 0) continue;
        GMR_CHECK(nv = realloc(v, (size_t)(n + 1) * sizeof *v), GMR_ERR_NOMEM, "out of memory");
        v = nv;
        GMR_CHECK(v[n] = strndup(e->d_name, len - 3), GMR_ERR_NOMEM, "out of memory");
        n++;
        GMR_CHECK(name_ok(v[n - 1]), GMR_ERR_ARG, "%s: a province store is NAME.db with NAME of letters, digits, _ or -,"
                  " not HQ", path);
    }
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    for (int i = 0; i < n; i++) GMR_CALL(gmr__sbuf_put(names, v[i], strlen(v[i]) + 1));
out:
    if (d) closedir(d);
    gmr__strv_free(&v, n);
    return err;
}

static void stats_pack(const gmr_sync_stats *s, uint64_t *v)
{
    uint64_t a[] = {s->stores, s->chunks_up, s->chunks_down, s->upserts_up, s->deletes_up, s->upserts_down,
                    s->deletes_down, s->bytes_up, s->bytes_down, s->full_up, s->full_down, s->refused,
                    s->duplicates, s->stale, s->resumed};
    memcpy(v, a, sizeof a);
}

static void stats_unpack(gmr_sync_stats *s, const uint64_t *v)
{
    uint64_t *f[] = {&s->stores, &s->chunks_up, &s->chunks_down, &s->upserts_up, &s->deletes_up, &s->upserts_down,
                     &s->deletes_down, &s->bytes_up, &s->bytes_down, &s->full_up, &s->full_down, &s->refused,
                     &s->duplicates, &s->stale, &s->resumed};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) *f[i] = v[i];
}
#define NSTATS 15

gmr_err gmr_sync_run(MPI_Comm comm, const gmr_sync_options *opt, gmr_sync_stats *stats)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__topo *topo = NULL;
    hq_state hq;
    gmr__sbuf names = {0}, msg = {0};
    gmr_sync_stats mine;
    uint64_t sv[NSTATS], tv[NSTATS];
    double tw[2] = {0, 0}, tmax[2] = {0, 0}, t_lead = 0;
    unsigned long long nlen = 0;
    int rank, size, stop = 0;
    double t0 = MPI_Wtime();
    const char *crash = getenv("GRIDMR_TEST_SYNC_CRASH");

    memset(&hq, 0, sizeof hq);
    memset(&mine, 0, sizeof mine);
    memset(stats, 0, sizeof *stats);
    GMR_CHECK(opt && opt->hq && opt->stores, GMR_ERR_ARG, "sync needs an HQ store and a stores directory");
    GMR_CALL(gmr__topo_create(comm, opt->provinces, &topo));
    rank = topo->rank;
    size = topo->size;
    hq.opt = opt;
    hq.st = &mine;
    hq.crash_after = crash ? atol(crash) : 0;
    /* setup: HQ opens its store and lists the provinces; everyone learns the list */
    if (rank == GMR_HQ) {
        local = gmr__store_open(opt->hq, &hq.s);
        if (!local) local = list_stores(opt->stores, opt->hq, &names);
        if (!local) local = (hq.sess = calloc((size_t)size, sizeof *hq.sess)) ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
        hq.nsess = size;
        hq.comm = size > 1 ? topo->world : MPI_COMM_NULL;
        nlen = names.len;
    }
    GMR_CALL(gmr__agree(topo->world, local));
    GMR_CALL_MPI(MPI_Bcast(&nlen, 1, MPI_UNSIGNED_LONG_LONG, GMR_HQ, topo->world));
    if (rank != GMR_HQ) GMR_CALL(gmr__sbuf_put(&names, NULL, 0));
    if (rank != GMR_HQ && nlen) {
        GMR_CHECK(names.data = malloc(nlen), GMR_ERR_NOMEM, "out of memory");
        names.len = names.cap = nlen;
    }
    if (nlen) GMR_CALL_MPI(MPI_Bcast(names.data, (int)nlen, MPI_BYTE, GMR_HQ, topo->world));

    /* exchange: each leader drives its stores; HQ drives its own, answering the others' requests
     * between its own, then serves until every leader said BYE */
    {
        hq_link l = {rank == GMR_HQ ? MPI_COMM_NULL : topo->world, rank == GMR_HQ ? &hq : NULL, 0};
        size_t at = 0;
        double tl = MPI_Wtime();
        for (int i = 0; at < names.len && !local && !stop; i++) {
            const char *name = (const char *)names.data + at;
            int g = i % topo->provinces, leader = 0;
            at += strlen(name) + 1;
            while (gmr__topo_province_of(leader, size, topo->provinces) != g) leader++;
            if (leader != rank) continue;
            local = province_sync(&l, opt, opt->stores, name, &mine, &stop);
        }
        t_lead = MPI_Wtime() - tl;
        tw[0] = t_lead - l.t_wait;
        tw[1] = l.t_wait;
        if (rank != GMR_HQ) {
            msg.len = 0;
            GMR_CALL(gmr__sbuf_u8(&msg, MSG_BYE));
            GMR_CALL_MPI(MPI_Send(msg.data, 1, MPI_BYTE, GMR_HQ, TAG_REQ, topo->world));
        } else {
            while (hq.byes < size - 1) {
                int served = 0;
                GMR_CALL(hq_serve(&hq, 1, &served));
            }
            if (hq.abort && !local) local = hq.err;
        }
    }
    GMR_CALL_MPI(polite_barrier(topo->world));
    stats_pack(&mine, sv);
    GMR_CALL_MPI(MPI_Reduce(sv, tv, NSTATS, MPI_UINT64_T, MPI_SUM, GMR_HQ, topo->world));
    GMR_CALL_MPI(MPI_Reduce(tw, tmax, 2, MPI_DOUBLE, MPI_MAX, GMR_HQ, topo->world));
    if (rank == GMR_HQ) {
        stats_unpack(stats, tv);
        stats->seconds = MPI_Wtime() - t0;
        stats->t_hq = hq.t_busy;
        stats->t_work_max = tmax[0];
        stats->t_wait_max = tmax[1];
    }
    GMR_CALL(gmr__agree(topo->world, local));
out:
    if (hq.sess)
        for (int i = 0; i < hq.nsess; i++) session_clear(&hq.sess[i]);
    free(hq.sess);
    gmr__sbuf_free(&hq.in);
    gmr__sbuf_free(&hq.out);
    gmr__store_close(&hq.s);
    gmr__sbuf_free(&names);
    gmr__sbuf_free(&msg);
    gmr__topo_destroy(&topo);
    return err;
}
