/* wire.c: the chunk of gridmr sync, the unit that travels and is applied (docs/formats.md,
 * "gridmr sync").
 *
 * A chunk is a 64-byte header (magic, XXH3-64 of everything after the checksum field, total
 * length, flags, from/to version, chunk number, element count, the lengths of four strings),
 * the strings origin, table, key columns and CSV header, then the elements, each an op
 * (upsert or delete), its version, its key and, for an upsert, its value (the canonical CSV
 * line). Integers are little-endian, written byte by byte, so the format does not depend on
 * the machine. A full copy of a table costs the same per element, so the bytes ratio of a sync
 * compares like with like: the header and the strings are the only overhead (about 150 bytes
 * a chunk, against a default chunk of 1 MiB).
 *
 * Applying a chunk is idempotent by version: an element is written only when the receiver's
 * copy is older, so a chunk applied twice, or an old chunk arriving late, changes nothing. */
#define _XOPEN_SOURCE 700
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "sync/sync_impl.h"

gmr_err gmr__sbuf_put(gmr__sbuf *b, const void *p, size_t n)
{
    gmr_err err = GMR_OK;
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        uint8_t *nd;
        while (nc < b->len + n) nc *= 2;
        GMR_CHECK(nd = realloc(b->data, nc), GMR_ERR_NOMEM, "out of memory (%zu bytes)", nc);
        b->data = nd;
        b->cap = nc;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
out:
    return err;
}

gmr_err gmr__sbuf_u8(gmr__sbuf *b, uint8_t v) { return gmr__sbuf_put(b, &v, 1); }

gmr_err gmr__sbuf_u32(gmr__sbuf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
    return gmr__sbuf_put(b, x, 4);
}

gmr_err gmr__sbuf_u64(gmr__sbuf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    return gmr__sbuf_put(b, x, 8);
}

gmr_err gmr__sbuf_str(gmr__sbuf *b, const char *s)
{
    gmr_err err = GMR_OK;
    size_t n = strlen(s);
    GMR_CALL(gmr__sbuf_u32(b, (uint32_t)n));
    GMR_CALL(gmr__sbuf_put(b, s, n));
out:
    return err;
}

void gmr__sbuf_free(gmr__sbuf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static const uint8_t *take(gmr__scur *c, size_t n)
{
    const uint8_t *p;
    if (c->bad || n > c->len - c->at) {
        c->bad = 1;
        return NULL;
    }
    p = c->p + c->at;
    c->at += n;
    return p;
}

uint8_t gmr__scur_u8(gmr__scur *c)
{
    const uint8_t *p = take(c, 1);
    return p ? *p : 0;
}

uint32_t gmr__scur_u32(gmr__scur *c)
{
    const uint8_t *p = take(c, 4);
    return p ? (uint32_t)get_le(p, 4) : 0;
}

uint64_t gmr__scur_u64(gmr__scur *c)
{
    const uint8_t *p = take(c, 8);
    return p ? get_le(p, 8) : 0;
}

const uint8_t *gmr__scur_bytes(gmr__scur *c, uint32_t *n)
{
    uint32_t len = gmr__scur_u32(c);
    const uint8_t *p = take(c, len);
    *n = p ? len : 0;
    return p;
}

gmr_err gmr__scur_str(gmr__scur *c, char **s)
{
    gmr_err err = GMR_OK;
    uint32_t n = 0;
    const uint8_t *p = gmr__scur_bytes(c, &n);
    *s = NULL;
    GMR_CHECK(!c->bad, GMR_ERR_DATA, "sync: truncated message");
    GMR_CHECK(*s = malloc((size_t)n + 1), GMR_ERR_NOMEM, "out of memory");
    if (n) memcpy(*s, p, n);
    (*s)[n] = '\0';
out:
    return err;
}

/* ---- building chunks ------------------------------------------------------------------------ */

struct gmr__chunker {
    gmr__store *s;
    sqlite3_stmt *q;
    char *origin, *table, *keycols, *header;
    char *target;   /* routed table: rows routed elsewhere go as deletes (NULL: not routed) */
    uint64_t from_v, to_v, chunk_no, budget;
    int have_row; /* q holds a row not yet packed */
    int done;     /* the last chunk went out */
    char *last_key;
};

gmr_err gmr__chunker_create(gmr__store *s, const char *origin, const char *table, uint64_t from_v, uint64_t to_v,
                            const char *after, uint64_t first_chunk, uint64_t budget, const char *target,
                            gmr__chunker **cp)
{
    gmr_err err = GMR_OK;
    gmr__chunker *c = NULL;
    char *route = NULL;
    int rc;
    *cp = NULL;
    GMR_CHECK(c = calloc(1, sizeof *c), GMR_ERR_NOMEM, "out of memory");
    c->s = s;
    c->from_v = from_v;
    c->to_v = to_v;
    c->chunk_no = first_chunk;
    c->budget = budget ? budget : GMR_SYNC_DEFAULT_CHUNK;
    GMR_CHECK((c->origin = strdup(origin)) && (c->table = strdup(table)), GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__store_table_info(s, table, "", &c->keycols, &c->header));
    GMR_CALL(gmr__store_table_route(s, table, &route));
    if (target && *route) GMR_CHECK(c->target = strdup(target), GMR_ERR_NOMEM, "out of memory");
    /* the version index finds the change set; the sort by key costs O(changes log changes) (left
     * to itself SQLite walks the primary key in key order and filters every element) */
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT key, version, deleted, value, route FROM elements INDEXED BY elements_version"
                                           " WHERE tbl=?1 AND origin='' AND version>?2 AND version<=?3 AND key>?4 ORDER BY key",
                                           -1, &c->q, NULL));
    sqlite3_bind_text(c->q, 1, c->table, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->q, 2, (int64_t)from_v);
    sqlite3_bind_int64(c->q, 3, (int64_t)to_v);
    sqlite3_bind_text(c->q, 4, after ? after : "", -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(c->q);
    GMR_CALL_SQL(s->db, rc);
    c->have_row = rc == SQLITE_ROW;
    *cp = c;
    c = NULL;
out:
    free(route);
    gmr__chunker_destroy(&c);
    return err;
}

void gmr__chunker_destroy(gmr__chunker **cp)
{
    gmr__chunker *c;
    if (!cp || !*cp) return;
    c = *cp;
    sqlite3_finalize(c->q);
    free(c->origin);
    free(c->table);
    free(c->keycols);
    free(c->header);
    free(c->last_key);
    free(c->target);
    free(c);
    *cp = NULL;
}

static gmr_err chunk_begin(gmr__sbuf *out, const char *origin, const char *table, const char *keycols, const char *header)
{
    gmr_err err = GMR_OK;
    uint8_t h[GMR_CHUNK_HEADER];
    memset(h, 0, sizeof h);
    memcpy(h, GMR_CHUNK_MAGIC, 8);
    /* origin, table and key columns have 16-bit lengths in the header */
    GMR_CHECK(strlen(origin) < 65536 && strlen(table) < 65536 && strlen(keycols) < 65536, GMR_ERR_ARG,
              "sync: table %.40s...: a name or the key columns exceed 65535 bytes", table);
    out->len = 0;
    GMR_CALL(gmr__sbuf_put(out, h, sizeof h));
    GMR_CALL(gmr__sbuf_put(out, origin, strlen(origin)));
    GMR_CALL(gmr__sbuf_put(out, table, strlen(table)));
    GMR_CALL(gmr__sbuf_put(out, keycols, strlen(keycols)));
    GMR_CALL(gmr__sbuf_put(out, header, strlen(header)));
out:
    return err;
}

static size_t chunk_strings(const char *origin, const char *table, const char *keycols, const char *header)
{
    return strlen(origin) + strlen(table) + strlen(keycols) + strlen(header);
}

gmr_err gmr__chunker_next(gmr__chunker *c, gmr__sbuf *out, int *done, const char **last_key, uint64_t *upserts,
                          uint64_t *deletes)
{
    gmr_err err = GMR_OK;
    uint64_t payload = 0;
    uint32_t count = 0;
    int rc;
    uint8_t *h;
    *done = c->done;
    *last_key = NULL;
    if (c->done) goto out;
    GMR_CALL(chunk_begin(out, c->origin, c->table, c->keycols, c->header));
    while (c->have_row) {
        const char *key = (const char *)sqlite3_column_text(c->q, 0);
        size_t klen = (size_t)sqlite3_column_bytes(c->q, 0);
        const char *rt = (const char *)sqlite3_column_text(c->q, 4);
        int del = sqlite3_column_int(c->q, 2) || (c->target && (!rt || strcmp(rt, c->target) != 0));
        const char *val = del ? "" : (const char *)sqlite3_column_text(c->q, 3);
        size_t vlen = del ? 0 : (size_t)sqlite3_column_bytes(c->q, 3);
        size_t esz = GMR_ELEM_OVERHEAD + klen + vlen;
        char *lk;
        if (count > 0 && payload + esz > c->budget) break;
        GMR_CALL(gmr__sbuf_u8(out, del ? GMR_ELEM_DELETE : GMR_ELEM_UPSERT));
        GMR_CALL(gmr__sbuf_u64(out, (uint64_t)sqlite3_column_int64(c->q, 1)));
        GMR_CALL(gmr__sbuf_u32(out, (uint32_t)klen));
        GMR_CALL(gmr__sbuf_u32(out, (uint32_t)vlen));
        GMR_CALL(gmr__sbuf_put(out, key, klen));
        GMR_CALL(gmr__sbuf_put(out, val, vlen));
        GMR_CHECK(lk = strdup(key), GMR_ERR_NOMEM, "out of memory");
        free(c->last_key);
        c->last_key = lk;
        if (del) (*deletes)++;
        else (*upserts)++;
        payload += esz;
        count++;
        rc = sqlite3_step(c->q);
        GMR_CALL_SQL(c->s->db, rc);
        c->have_row = rc == SQLITE_ROW;
    }
    if (!c->have_row) c->done = 1;
    h = out->data;
    put_le(h + 16, out->len, 4);
    put_le(h + 20, c->done ? GMR_CHUNK_LAST : 0, 4);
    put_le(h + 24, c->from_v, 8);
    put_le(h + 32, c->to_v, 8);
    put_le(h + 40, c->chunk_no, 8);
    put_le(h + 48, count, 4);
    put_le(h + 52, strlen(c->origin), 2);
    put_le(h + 54, strlen(c->table), 2);
    put_le(h + 56, strlen(c->keycols), 2);
    put_le(h + 58, strlen(c->header), 4);
    put_le(h + 8, XXH3_64bits(out->data + 16, out->len - 16), 8);
    c->chunk_no++;
    *last_key = c->last_key ? c->last_key : "";
out:
    return err;
}

gmr_err gmr__chunk_full_bytes(gmr__store *s, const char *table, const char *origin, uint64_t budget, const char *target,
                              uint64_t *bytes)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *q = NULL;
    char *keycols = NULL, *header = NULL, *route = NULL;
    uint64_t payload = 0, total = 0, count = 0, fixed;
    int rc;
    if (!budget) budget = GMR_SYNC_DEFAULT_CHUNK;
    GMR_CALL(gmr__store_table_info(s, table, "", &keycols, &header));
    fixed = GMR_CHUNK_HEADER + chunk_strings(origin, table, keycols, header);
    GMR_CALL(gmr__store_table_route(s, table, &route));
    /* a routed table's full copy for a province is the rows routed to it */
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT length(CAST(key AS BLOB)), length(CAST(value AS BLOB)) FROM elements"
                                           " WHERE tbl=?1 AND origin='' AND deleted=0 AND (?2 IS NULL OR route=?2) ORDER BY key",
                                           -1, &q, NULL));
    sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
    if (target && *route) sqlite3_bind_text(q, 2, target, -1, SQLITE_STATIC);
    else sqlite3_bind_null(q, 2);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        uint64_t esz = GMR_ELEM_OVERHEAD + (uint64_t)sqlite3_column_int64(q, 0) + (uint64_t)sqlite3_column_int64(q, 1);
        if (count > 0 && payload + esz > budget) {
            total += fixed + payload;
            payload = count = 0;
        }
        payload += esz;
        count++;
    }
    GMR_CALL_SQL(s->db, rc);
    total += fixed + payload;
    *bytes = total;
out:
    sqlite3_finalize(q);
    free(keycols);
    free(header);
    free(route);
    return err;
}

/* ---- receiving chunks ----------------------------------------------------------------------- */

int gmr__chunk_verify(const uint8_t *p, size_t n)
{
    if (n < GMR_CHUNK_HEADER || memcmp(p, GMR_CHUNK_MAGIC, 8) != 0) return -1;
    if (get_le(p + 16, 4) != n) return -1;
    return get_le(p + 8, 8) == XXH3_64bits(p + 16, n - 16) ? 0 : -1;
}

static gmr_err dup_range(const uint8_t *p, size_t n, char **s)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(*s = malloc(n + 1), GMR_ERR_NOMEM, "out of memory");
    memcpy(*s, p, n);
    (*s)[n] = '\0';
out:
    return err;
}

gmr_err gmr__chunk_parse(const uint8_t *p, size_t n, gmr__chunk_info *ci)
{
    gmr_err err = GMR_OK;
    size_t lens[4], at = GMR_CHUNK_HEADER;
    char **dst[4];
    memset(ci, 0, sizeof *ci);
    GMR_CHECK(gmr__chunk_verify(p, n) == 0, GMR_ERR_DATA, "sync: chunk fails its checksum");
    ci->flags = (uint32_t)get_le(p + 20, 4);
    ci->from_v = get_le(p + 24, 8);
    ci->to_v = get_le(p + 32, 8);
    ci->chunk_no = get_le(p + 40, 8);
    ci->count = (uint32_t)get_le(p + 48, 4);
    lens[0] = get_le(p + 52, 2);
    lens[1] = get_le(p + 54, 2);
    lens[2] = get_le(p + 56, 2);
    lens[3] = get_le(p + 58, 4);
    dst[0] = &ci->origin;
    dst[1] = &ci->table;
    dst[2] = &ci->keycols;
    dst[3] = &ci->header;
    for (int i = 0; i < 4; i++) {
        GMR_CHECK(lens[i] <= n - at, GMR_ERR_DATA, "sync: chunk strings overrun its length");
        GMR_CALL(dup_range(p + at, lens[i], dst[i]));
        at += lens[i];
    }
    ci->elems = p + at;
    ci->elems_len = n - at;
out:
    if (err) gmr__chunk_info_free(ci);
    return err;
}

void gmr__chunk_info_free(gmr__chunk_info *ci)
{
    if (!ci) return;
    free(ci->origin);
    free(ci->table);
    free(ci->keycols);
    free(ci->header);
    memset(ci, 0, sizeof *ci);
}

gmr_err gmr__chunk_apply(gmr__store *s, const gmr__chunk_info *ci, const char *origin, uint64_t *stale, char **last_key)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *q_get = NULL, *q_put = NULL, *q_tbl = NULL;
    char *keycols = NULL, *header = NULL;
    gmr__scur c = {ci->elems, ci->elems_len, 0, 0};
    const uint8_t *lk = NULL;
    uint32_t lklen = 0;
    err = gmr__store_table_info(s, ci->table, origin, &keycols, &header);
    if (err == GMR_ERR_STATE) {
        err = GMR_OK;
        GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "INSERT INTO tables(tbl, origin, keycols, header) VALUES(?1,?2,?3,?4)", -1,
                                               &q_tbl, NULL));
        sqlite3_bind_text(q_tbl, 1, ci->table, -1, SQLITE_STATIC);
        sqlite3_bind_text(q_tbl, 2, origin, -1, SQLITE_STATIC);
        sqlite3_bind_text(q_tbl, 3, ci->keycols, -1, SQLITE_STATIC);
        sqlite3_bind_text(q_tbl, 4, ci->header, -1, SQLITE_STATIC);
        GMR_CALL_SQL(s->db, sqlite3_step(q_tbl));
    } else {
        GMR_CALL(err);
        GMR_CHECK(strcmp(header, ci->header) == 0 && strcmp(keycols, ci->keycols) == 0, GMR_ERR_DATA,
                  "%s: table %s from %s changed its columns or key (had %s keyed by %s, got %s keyed by %s)", s->path,
                  ci->table, origin, header, keycols, ci->header, ci->keycols);
    }
    /* one statement per element, each writing only over an older version: changes() == 0 means
     * stale (or, for a delete, a key never held: nothing to keep) */
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "INSERT INTO elements(tbl, origin, key, version, hash, deleted, value)"
                                           " VALUES(?1,?2,?3,?4,?5,0,?6) ON CONFLICT(tbl, origin, key) DO UPDATE SET"
                                           " version=excluded.version, hash=excluded.hash, deleted=0, value=excluded.value"
                                           " WHERE excluded.version > elements.version", -1, &q_put, NULL));
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "UPDATE elements SET version=?4, hash=0, deleted=1, value=NULL"
                                           " WHERE tbl=?1 AND origin=?2 AND key=?3 AND version<?4", -1, &q_get, NULL));
    for (uint32_t i = 0; i < ci->count; i++) {
        uint8_t op = gmr__scur_u8(&c);
        uint64_t v = gmr__scur_u64(&c);
        uint32_t klen = gmr__scur_u32(&c), vlen = gmr__scur_u32(&c);
        const uint8_t *key = take(&c, klen), *val = take(&c, vlen);
        sqlite3_stmt *q = op == GMR_ELEM_UPSERT ? q_put : q_get;
        GMR_CHECK(!c.bad && (op == GMR_ELEM_UPSERT || op == GMR_ELEM_DELETE) && klen > 0, GMR_ERR_DATA,
                  "sync: chunk %llu of %s/%s: bad element %u", (unsigned long long)ci->chunk_no, origin, ci->table, i);
        lk = key;
        lklen = klen;
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, ci->table, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, origin, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, (const char *)key, (int)klen, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, (int64_t)v);
        if (op == GMR_ELEM_UPSERT) {
            sqlite3_bind_int64(q, 5, (int64_t)XXH3_64bits(val, vlen));
            sqlite3_bind_text(q, 6, (const char *)val, (int)vlen, SQLITE_STATIC);
        }
        GMR_CALL_SQL(s->db, sqlite3_step(q));
        if (sqlite3_changes(s->db) == 0) (*stale)++;
    }
    GMR_CHECK(c.at == c.len, GMR_ERR_DATA, "sync: chunk %llu of %s/%s: %zu bytes after its %u elements",
              (unsigned long long)ci->chunk_no, origin, ci->table, c.len - c.at, ci->count);
    if (last_key) {
        *last_key = NULL;
        if (lk) GMR_CALL(dup_range(lk, lklen, last_key));
    }
out:
    sqlite3_finalize(q_get);
    sqlite3_finalize(q_put);
    sqlite3_finalize(q_tbl);
    free(keycols);
    free(header);
    return err;
}

int gmr__chunk_test_flip(uint8_t *p, size_t n)
{
    static long sent = 0;
    const char *at = getenv("GRIDMR_TEST_SYNC_FLIP");
    sent++;
    if (!at || atol(at) != sent || n <= GMR_CHUNK_HEADER) return 0;
    p[n - 1] ^= 0x20;
    return 1;
}

int gmr__chunk_test_dup(void)
{
    static long sent = 0;
    const char *at = getenv("GRIDMR_TEST_SYNC_DUP");
    sent++;
    return at && atol(at) == sent;
}
