/* store.c: the versioned element store of gridmr sync, one SQLite file per site (docs/sync.md).
 *
 * A province store and HQ's store have the same schema. `elements` holds one row per
 * (table, origin, key): origin '' for the site's own elements, a province's name at HQ for
 * what that province sent, "HQ" in a province for HQ's dimension tables. Each row carries the
 * version (the owner's commit counter when it last changed), an XXH3-64 of the value, and a
 * tombstone flag: a delete keeps the key with a new version, so it can travel like an upsert.
 * `catalog` (used at HQ) holds per province, table and direction the version last acknowledged
 * and the progress of a transfer in flight. SQLite gives the all-or-nothing we rely on: a load
 * and each chunk's apply are single transactions (WAL journal; synchronous=NORMAL is atomic
 * across a process kill, which is the failure the resume tests model).
 *
 * Loading a CSV file reads it once, row by row: a row is parsed (RFC 4180), rewritten in
 * canonical form (quotes only where needed), hashed and compared with the stored hash by a
 * primary-key lookup, so the cost is one B-tree probe per row and a write per changed row. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "sync/sync_impl.h"

static const char *const SCHEMA =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(k, v) VALUES('format', 'gridmr-sync 1'), ('version', 0);"
    "CREATE TABLE IF NOT EXISTS tables(tbl TEXT NOT NULL, origin TEXT NOT NULL, keycols TEXT NOT NULL,"
    " header TEXT NOT NULL, route TEXT NOT NULL DEFAULT '', PRIMARY KEY(tbl, origin)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS elements(tbl TEXT NOT NULL, origin TEXT NOT NULL, key TEXT NOT NULL,"
    " version INTEGER NOT NULL, hash INTEGER NOT NULL, deleted INTEGER NOT NULL, value TEXT, route TEXT,"
    " PRIMARY KEY(tbl, origin, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS elements_version ON elements(tbl, origin, version);"
    "CREATE TABLE IF NOT EXISTS catalog(province TEXT NOT NULL, tbl TEXT NOT NULL, dir TEXT NOT NULL,"
    " acked INTEGER NOT NULL DEFAULT 0, to_v INTEGER NOT NULL DEFAULT 0, next_chunk INTEGER NOT NULL DEFAULT 0,"
    " last_key TEXT NOT NULL DEFAULT '', PRIMARY KEY(province, tbl, dir)) WITHOUT ROWID;";

gmr_err gmr__store_exec(gmr__store *s, const char *sql)
{
    gmr_err err = GMR_OK;
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK)
        GMR_FAIL(GMR_ERR_IO, "%s: sqlite: %s (in \"%.40s\")", s->path, msg ? msg : sqlite3_errmsg(s->db), sql);
out:
    sqlite3_free(msg);
    return err;
}

gmr_err gmr__store_open(const char *path, gmr__store **sp)
{
    gmr_err err = GMR_OK;
    gmr__store *s = NULL;
    const char *fmt = NULL;
    sqlite3_stmt *st = NULL;
    *sp = NULL;
    GMR_CHECK(s = calloc(1, sizeof *s), GMR_ERR_NOMEM, "out of memory");
    GMR_CHECK(s->path = strdup(path), GMR_ERR_NOMEM, "out of memory");
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        GMR_FAIL(GMR_ERR_IO, "%s: cannot open the store: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    sqlite3_busy_timeout(s->db, 10000);
    /* an SQLite file of something else is refused before the schema touches it */
    if (sqlite3_prepare_v2(s->db, "SELECT (SELECT count(*) FROM sqlite_master),"
                           " (SELECT count(*) FROM sqlite_master WHERE name='meta')", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        GMR_FAIL(GMR_ERR_DATA, "%s: not a gridmr sync store: %s", path, sqlite3_errmsg(s->db));
    GMR_CHECK(sqlite3_column_int(st, 0) == 0 || sqlite3_column_int(st, 1) == 1, GMR_ERR_DATA,
              "%s: an SQLite file, but not a gridmr sync store", path);
    sqlite3_finalize(st);
    st = NULL;
    /* a file that is not a store (or not SQLite) fails here with SQLite's message */
    GMR_CALL(gmr__store_exec(s, SCHEMA));
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT v FROM meta WHERE k='format'", -1, &st, NULL));
    GMR_CALL_SQL(s->db, sqlite3_step(st));
    fmt = (const char *)sqlite3_column_text(st, 0);
    GMR_CHECK(fmt && strcmp(fmt, "gridmr-sync 1") == 0, GMR_ERR_DATA, "%s: not a gridmr sync store (format %s)", path,
              fmt ? fmt : "missing");
    *sp = s;
    s = NULL;
out:
    sqlite3_finalize(st);
    gmr__store_close(&s);
    return err;
}

void gmr__store_close(gmr__store **sp)
{
    if (!sp || !*sp) return;
    sqlite3_close((*sp)->db);
    free((*sp)->path);
    free(*sp);
    *sp = NULL;
}

gmr_err gmr__store_version(gmr__store *s, int64_t *v)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *st = NULL;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT v FROM meta WHERE k='version'", -1, &st, NULL));
    GMR_CALL_SQL(s->db, sqlite3_step(st));
    *v = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return err;
}

gmr_err gmr__store_set_version(gmr__store *s, int64_t v)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *st = NULL;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "UPDATE meta SET v=?1 WHERE k='version'", -1, &st, NULL));
    sqlite3_bind_int64(st, 1, v);
    GMR_CALL_SQL(s->db, sqlite3_step(st));
out:
    sqlite3_finalize(st);
    return err;
}

void gmr__strv_free(char ***v, int n)
{
    if (!v || !*v) return;
    for (int i = 0; i < n; i++) free((*v)[i]);
    free(*v);
    *v = NULL;
}

gmr_err gmr__store_own_tables(gmr__store *s, char ***names, int *n)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *st = NULL;
    char **v = NULL;
    int k = 0, rc;
    *names = NULL;
    *n = 0;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT tbl FROM tables WHERE origin='' ORDER BY tbl", -1, &st, NULL));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char **nv = realloc(v, (size_t)(k + 1) * sizeof *v);
        GMR_CHECK(nv, GMR_ERR_NOMEM, "out of memory");
        v = nv;
        GMR_CHECK(v[k] = strdup((const char *)sqlite3_column_text(st, 0)), GMR_ERR_NOMEM, "out of memory");
        k++;
    }
    GMR_CALL_SQL(s->db, rc);
    *names = v;
    *n = k;
    v = NULL;
out:
    gmr__strv_free(&v, k);
    sqlite3_finalize(st);
    return err;
}

gmr_err gmr__store_table_info(gmr__store *s, const char *table, const char *origin, char **keycols, char **header)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *st = NULL;
    int rc;
    *keycols = *header = NULL;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT keycols, header FROM tables WHERE tbl=?1 AND origin=?2",
                                           -1, &st, NULL));
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, origin, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    GMR_CALL_SQL(s->db, rc);
    if (rc != SQLITE_ROW) {
        err = GMR_ERR_STATE; /* no such table: the caller decides (not recorded as an error) */
        goto out;
    }
    GMR_CHECK(*keycols = strdup((const char *)sqlite3_column_text(st, 0)), GMR_ERR_NOMEM, "out of memory");
    GMR_CHECK(*header = strdup((const char *)sqlite3_column_text(st, 1)), GMR_ERR_NOMEM, "out of memory");
out:
    if (err) {
        free(*keycols);
        free(*header);
        *keycols = *header = NULL;
    }
    sqlite3_finalize(st);
    return err;
}

gmr_err gmr__store_table_route(gmr__store *s, const char *table, char **route)
{
    gmr_err err = GMR_OK;
    sqlite3_stmt *st = NULL;
    int rc;
    *route = NULL;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT route FROM tables WHERE tbl=?1 AND origin=''", -1, &st, NULL));
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    GMR_CALL_SQL(s->db, rc);
    GMR_CHECK(*route = strdup(rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : ""), GMR_ERR_NOMEM,
              "out of memory");
out:
    sqlite3_finalize(st);
    return err;
}

/* ---- CSV rows ------------------------------------------------------------------------------ */

/* The fields of one record: NUL-terminated copies in buf at off[i]. */
typedef struct fields {
    char *buf;
    size_t cap;
    size_t *off;
    int n, ncap;
} fields;

static int fields_push(fields *f, size_t at)
{
    if (f->n == f->ncap) {
        int nc = f->ncap ? 2 * f->ncap : 16;
        size_t *no = realloc(f->off, (size_t)nc * sizeof *no);
        if (!no) return -1;
        f->off = no;
        f->ncap = nc;
    }
    f->off[f->n++] = at;
    return 0;
}

/* Splits rec[0..len) (no line end) into fields. Returns 0, 1 when a quoted field is still open
 * (the record goes on in the next line), -1 on text after a closing quote, -2 out of memory. */
static int parse_record(const char *rec, size_t len, fields *f)
{
    size_t i = 0, o = 0;
    if (f->cap < len + 1) {
        char *nb = realloc(f->buf, len + 1);
        if (!nb) return -2;
        f->buf = nb;
        f->cap = len + 1;
    }
    f->n = 0;
    for (;;) {
        if (fields_push(f, o)) return -2;
        if (i < len && rec[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) return 1;
                if (rec[i] == '"') {
                    if (i + 1 < len && rec[i + 1] == '"') {
                        f->buf[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                f->buf[o++] = rec[i++];
            }
            if (i < len && rec[i] != ',') return -1;
        } else {
            while (i < len && rec[i] != ',') {
                if (rec[i] == '"') return -1;
                f->buf[o++] = rec[i++];
            }
        }
        f->buf[o++] = '\0';
        if (i >= len) return 0;
        i++; /* the comma */
    }
}

/* Appends field s in canonical CSV form: quoted only when it holds a comma, quote or line end. */
static gmr_err csv_put(gmr__sbuf *b, const char *s)
{
    gmr_err err = GMR_OK;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        GMR_CALL(gmr__sbuf_put(b, s, strlen(s)));
        goto out;
    }
    GMR_CALL(gmr__sbuf_u8(b, '"'));
    for (; *s; s++) {
        if (*s == '"') GMR_CALL(gmr__sbuf_u8(b, '"'));
        GMR_CALL(gmr__sbuf_u8(b, (uint8_t)*s));
    }
    GMR_CALL(gmr__sbuf_u8(b, '"'));
out:
    return err;
}

/* One logical record (a quoted field may span lines) into rec, without its line end. Returns
 * 1 with a record, 0 at the end of the file; *line is the record's first line number. */
typedef struct reader {
    FILE *f;
    const char *path;
    char *line;
    size_t lcap;
    gmr__sbuf rec;
    long lineno;
} reader;

static gmr_err next_record(reader *r, fields *fl, int *got, long *first)
{
    gmr_err err = GMR_OK;
    ssize_t n;
    int rc;
    *got = 0;
    r->rec.len = 0;
    *first = r->lineno + 1;
    for (;;) {
        errno = 0;
        n = getline(&r->line, &r->lcap, r->f);
        if (n < 0) {
            GMR_CHECK(!ferror(r->f), GMR_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
            GMR_CHECK(r->rec.len == 0, GMR_ERR_DATA, "%s:%ld: unterminated quoted field (expected a closing \")",
                      r->path, *first);
            goto out;
        }
        r->lineno++;
        if (n > 0 && r->line[n - 1] == '\n') n--;
        if (n > 0 && r->line[n - 1] == '\r') n--;
        if (r->rec.len) GMR_CALL(gmr__sbuf_u8(&r->rec, '\n'));
        GMR_CALL(gmr__sbuf_put(&r->rec, r->line, (size_t)n));
        if (r->rec.len == 0) { /* a blank line between records: skipped */
            *first = r->lineno + 1;
            continue;
        }
        rc = parse_record((const char *)r->rec.data, r->rec.len, fl);
        GMR_CHECK(rc != -2, GMR_ERR_NOMEM, "out of memory");
        GMR_CHECK(rc != -1, GMR_ERR_DATA, "%s:%ld: bad quoting (expected a field to be quoted whole, with \"\" for a quote)",
                  r->path, *first);
        if (rc == 0) break;
    }
    *got = 1;
out:
    return err;
}

/* Column indices of the comma-separated names in `key`. */
static gmr_err key_columns(const char *key, const fields *hdr, const char *path, int **idx, int *nidx)
{
    gmr_err err = GMR_OK;
    char *copy = NULL, *tok, *save = NULL;
    int *v = NULL, k = 0;
    GMR_CHECK(copy = strdup(key), GMR_ERR_NOMEM, "out of memory");
    GMR_CHECK(v = malloc(sizeof *v * (strlen(key) + 1)), GMR_ERR_NOMEM, "out of memory");
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int j = 0;
        while (j < hdr->n && strcmp(hdr->buf + hdr->off[j], tok) != 0) j++;
        GMR_CHECK(j < hdr->n, GMR_ERR_DATA, "%s:1: no key column '%s' in the header", path, tok);
        v[k++] = j;
    }
    GMR_CHECK(k > 0, GMR_ERR_ARG, "empty --key");
    *idx = v;
    *nidx = k;
    v = NULL;
out:
    free(v);
    free(copy);
    return err;
}

gmr_err gmr_sync_load(const char *store, const char *table, const char *key, const char *csv, gmr_sync_mode mode,
                      gmr_sync_load_result *res)
{
    return gmr_sync_load_routed(store, table, key, NULL, csv, mode, res);
}

gmr_err gmr_sync_load_routed(const char *store, const char *table, const char *key, const char *route, const char *csv,
                             gmr_sync_mode mode, gmr_sync_load_result *res)
{
    gmr_err err = GMR_OK;
    gmr__store *s = NULL;
    reader r = {0};
    fields fl = {0}, hdr = {0};
    gmr__sbuf header = {0}, keyb = {0}, val = {0}, keycols = {0};
    sqlite3_stmt *q_seen = NULL, *q_get = NULL, *q_put = NULL, *q_del = NULL, *q_tomb = NULL;
    char *old_keys = NULL, *old_header = NULL, *old_route = NULL;
    int *kidx = NULL, nk = 0, got = 0, in_txn = 0, rc, ridx = -1;
    int64_t v0 = 0, v;
    long first = 0;
    gmr_sync_load_result z = {0};

    *res = z;
    GMR_CHECK(table && *table && strcspn(table, "\n\t ") == strlen(table), GMR_ERR_ARG, "bad table name '%s'",
              table ? table : "");
    GMR_CHECK(r.f = fopen(csv, "rb"), GMR_ERR_IO, "%s: cannot open: %s", csv, strerror(errno));
    r.path = csv;
    GMR_CALL(gmr__store_open(store, &s));
    GMR_CALL(next_record(&r, &hdr, &got, &first));
    GMR_CHECK(got, GMR_ERR_DATA, "%s:1: empty file (expected a header line)", csv);
    for (int j = 0; j < hdr.n; j++) {
        if (j) GMR_CALL(gmr__sbuf_u8(&header, ','));
        GMR_CALL(csv_put(&header, hdr.buf + hdr.off[j]));
    }
    GMR_CALL(gmr__sbuf_u8(&header, 0));
    GMR_CALL(key_columns(key, &hdr, csv, &kidx, &nk));
    for (int j = 0; j < nk; j++) {
        if (j) GMR_CALL(gmr__sbuf_u8(&keycols, ','));
        GMR_CALL(gmr__sbuf_put(&keycols, hdr.buf + hdr.off[kidx[j]], strlen(hdr.buf + hdr.off[kidx[j]])));
    }
    GMR_CALL(gmr__sbuf_u8(&keycols, 0));
    if (route && *route) {
        for (int j = 0; j < hdr.n && ridx < 0; j++)
            if (strcmp(hdr.buf + hdr.off[j], route) == 0) ridx = j;
        GMR_CHECK(ridx >= 0, GMR_ERR_DATA, "%s:1: no route column '%s' in the header", csv, route);
    }

    GMR_CALL(gmr__store_exec(s, "BEGIN IMMEDIATE"));
    in_txn = 1;
    err = gmr__store_table_info(s, table, "", &old_keys, &old_header);
    if (err == GMR_ERR_STATE) {
        err = GMR_OK;
        GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "INSERT INTO tables(tbl, origin, keycols, header, route)"
                                               " VALUES(?1,'',?2,?3,?4)", -1, &q_put, NULL));
        sqlite3_bind_text(q_put, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(q_put, 2, (const char *)keycols.data, -1, SQLITE_STATIC);
        sqlite3_bind_text(q_put, 3, (const char *)header.data, -1, SQLITE_STATIC);
        sqlite3_bind_text(q_put, 4, ridx >= 0 ? route : "", -1, SQLITE_STATIC);
        GMR_CALL_SQL(s->db, sqlite3_step(q_put));
        sqlite3_finalize(q_put);
        q_put = NULL;
    } else {
        GMR_CALL(err);
        GMR_CHECK(strcmp(old_header, (const char *)header.data) == 0, GMR_ERR_DATA,
                  "%s:1: header differs from table %s of %s (expected %s)", csv, table, store, old_header);
        GMR_CHECK(strcmp(old_keys, (const char *)keycols.data) == 0, GMR_ERR_DATA,
                  "%s: table %s of %s is keyed by %s, not %s", csv, table, store, old_keys, (const char *)keycols.data);
        GMR_CALL(gmr__store_table_route(s, table, &old_route));
        GMR_CHECK(strcmp(old_route, ridx >= 0 ? route : "") == 0, GMR_ERR_DATA,
                  "%s: table %s of %s has the route column '%s', not '%s' ('' = not routed)", csv, table, store, old_route,
                  ridx >= 0 ? route : "");
    }
    {
        /* HQ's tables arrive in a province under origin "HQ": the province must not also own one */
        char *k2 = NULL, *h2 = NULL;
        gmr_err e2 = gmr__store_table_info(s, table, GMR_SYNC_HQ_NAME, &k2, &h2);
        free(k2);
        free(h2);
        GMR_CHECK(e2 == GMR_ERR_STATE, GMR_ERR_ARG, "%s: table %s comes from HQ; it is edited at HQ, not here", store, table);
    }
    GMR_CALL(gmr__store_version(s, &v0));
    v = v0 + 1;

    GMR_CALL(gmr__store_exec(s, "CREATE TEMP TABLE IF NOT EXISTS seen(key TEXT PRIMARY KEY) WITHOUT ROWID; DELETE FROM seen"));
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "INSERT INTO seen(key) VALUES(?1)", -1, &q_seen, NULL));
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT hash, deleted FROM elements WHERE tbl=?1 AND origin='' AND key=?2",
                                           -1, &q_get, NULL));
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO elements(tbl, origin, key, version, hash, deleted, value,"
                                           " route) VALUES(?1,'',?2,?3,?4,?5,?6,?7)", -1, &q_put, NULL));
    for (;;) {
        uint64_t h;
        int exists = 0, same = 0, was_deleted = 0;
        GMR_CALL(next_record(&r, &fl, &got, &first));
        if (!got) break;
        res->rows++;
        GMR_CHECK(fl.n == hdr.n, GMR_ERR_DATA, "%s:%ld: expected %d fields as in the header, found %d", csv, first, hdr.n,
                  fl.n);
        keyb.len = val.len = 0;
        for (int j = 0; j < nk; j++) {
            const char *kf = fl.buf + fl.off[kidx[j]];
            GMR_CHECK(*kf, GMR_ERR_DATA, "%s:%ld: empty key field %s", csv, first, hdr.buf + hdr.off[kidx[j]]);
            if (j) GMR_CALL(gmr__sbuf_u8(&keyb, ','));
            GMR_CALL(csv_put(&keyb, kf));
        }
        for (int j = 0; j < fl.n; j++) {
            if (j) GMR_CALL(gmr__sbuf_u8(&val, ','));
            GMR_CALL(csv_put(&val, fl.buf + fl.off[j]));
        }
        sqlite3_reset(q_seen);
        sqlite3_bind_text(q_seen, 1, (const char *)keyb.data, (int)keyb.len, SQLITE_STATIC);
        rc = sqlite3_step(q_seen);
        GMR_CHECK(rc != SQLITE_CONSTRAINT, GMR_ERR_DATA, "%s:%ld: duplicate key %.*s (expected each key once)", csv, first,
                  (int)keyb.len, (const char *)keyb.data);
        GMR_CALL_SQL(s->db, rc);
        h = XXH3_64bits(val.data, val.len);
        sqlite3_reset(q_get);
        sqlite3_bind_text(q_get, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(q_get, 2, (const char *)keyb.data, (int)keyb.len, SQLITE_STATIC);
        rc = sqlite3_step(q_get);
        GMR_CALL_SQL(s->db, rc);
        if (rc == SQLITE_ROW) {
            exists = 1;
            was_deleted = sqlite3_column_int(q_get, 1);
            same = (uint64_t)sqlite3_column_int64(q_get, 0) == h && !was_deleted;
        }
        if (mode == GMR_SYNC_DELETE) {
            if (!exists || was_deleted) {
                res->unchanged++;
                continue;
            }
            sqlite3_reset(q_put);
            sqlite3_bind_text(q_put, 1, table, -1, SQLITE_STATIC);
            sqlite3_bind_text(q_put, 2, (const char *)keyb.data, (int)keyb.len, SQLITE_STATIC);
            sqlite3_bind_int64(q_put, 3, v);
            sqlite3_bind_int64(q_put, 4, 0);
            sqlite3_bind_int(q_put, 5, 1);
            sqlite3_bind_null(q_put, 6);
            if (ridx >= 0) sqlite3_bind_text(q_put, 7, fl.buf + fl.off[ridx], -1, SQLITE_STATIC);
            else sqlite3_bind_null(q_put, 7);
            GMR_CALL_SQL(s->db, sqlite3_step(q_put));
            res->deletes++;
            continue;
        }
        if (same) {
            res->unchanged++;
            continue;
        }
        sqlite3_reset(q_put);
        sqlite3_bind_text(q_put, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(q_put, 2, (const char *)keyb.data, (int)keyb.len, SQLITE_STATIC);
        sqlite3_bind_int64(q_put, 3, v);
        sqlite3_bind_int64(q_put, 4, (int64_t)h);
        sqlite3_bind_int(q_put, 5, 0);
        sqlite3_bind_text(q_put, 6, (const char *)val.data, (int)val.len, SQLITE_STATIC);
        if (ridx >= 0) sqlite3_bind_text(q_put, 7, fl.buf + fl.off[ridx], -1, SQLITE_STATIC);
        else sqlite3_bind_null(q_put, 7);
        GMR_CALL_SQL(s->db, sqlite3_step(q_put));
        res->upserts++;
    }
    if (mode == GMR_SYNC_SNAPSHOT) {
        GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "UPDATE elements SET version=?2, deleted=1, hash=0, value=NULL"
                                               " WHERE tbl=?1 AND origin='' AND deleted=0 AND key NOT IN (SELECT key FROM temp.seen)",
                                               -1, &q_tomb, NULL));
        sqlite3_bind_text(q_tomb, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q_tomb, 2, v);
        GMR_CALL_SQL(s->db, sqlite3_step(q_tomb));
        res->deletes += (uint64_t)sqlite3_changes(s->db);
    }
    res->version = v0;
    if (res->upserts || res->deletes) {
        GMR_CALL(gmr__store_set_version(s, v));
        res->version = v;
    }
    GMR_CALL(gmr__store_exec(s, "DELETE FROM seen"));
    GMR_CALL(gmr__store_exec(s, "COMMIT"));
    in_txn = 0;
out:
    sqlite3_finalize(q_seen);
    sqlite3_finalize(q_get);
    sqlite3_finalize(q_put);
    sqlite3_finalize(q_del);
    sqlite3_finalize(q_tomb);
    if (in_txn) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    gmr__store_close(&s);
    if (r.f) fclose(r.f);
    free(r.line);
    gmr__sbuf_free(&r.rec);
    free(fl.buf);
    free(fl.off);
    free(hdr.buf);
    free(hdr.off);
    gmr__sbuf_free(&header);
    gmr__sbuf_free(&keyb);
    gmr__sbuf_free(&val);
    gmr__sbuf_free(&keycols);
    free(kidx);
    free(old_keys);
    free(old_header);
    free(old_route);
    return err;
}

/* ---- dump ---------------------------------------------------------------------------------- */

static gmr_err emit_line(int (*emit)(void *, const char *), void *ctx, gmr__sbuf *b)
{
    gmr_err err = GMR_OK;
    GMR_CALL(gmr__sbuf_u8(b, 0));
    GMR_CHECK(emit(ctx, (const char *)b->data) == 0, GMR_ERR_IO, "cannot write the dump");
    b->len = 0;
out:
    return err;
}

static gmr_err emitf(int (*emit)(void *, const char *), void *ctx, gmr__sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static gmr_err emitf(int (*emit)(void *, const char *), void *ctx, gmr__sbuf *b, const char *fmt, ...)
{
    gmr_err err = GMR_OK;
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    s = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    GMR_CHECK(s, GMR_ERR_NOMEM, "out of memory");
    b->len = 0;
    GMR_CALL(gmr__sbuf_put(b, s, strlen(s)));
    GMR_CALL(emit_line(emit, ctx, b));
out:
    sqlite3_free(s);
    return err;
}

static gmr_err dump(const char *store, const char *table, int status_only, int (*emit)(void *ctx, const char *line),
                    void *ctx);

gmr_err gmr_sync_dump(const char *store, const char *table, int (*emit)(void *ctx, const char *line), void *ctx)
{
    return dump(store, table, 0, emit, ctx);
}

gmr_err gmr_sync_status(const char *store, int (*emit)(void *ctx, const char *line), void *ctx)
{
    return dump(store, NULL, 1, emit, ctx);
}

static gmr_err dump(const char *store, const char *table, int status_only, int (*emit)(void *ctx, const char *line),
                    void *ctx)
{
    gmr_err err = GMR_OK;
    gmr__store *s = NULL;
    sqlite3_stmt *st = NULL;
    gmr__sbuf b = {0};
    int rc, found = 0;
    FILE *probe = NULL;
    /* opening creates a missing file: a dump must not */
    GMR_CHECK(probe = fopen(store, "rb"), GMR_ERR_IO, "%s: cannot open: %s", store, strerror(errno));
    fclose(probe);
    GMR_CALL(gmr__store_open(store, &s));
    if (table) {
        GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT header FROM tables WHERE tbl=?1 ORDER BY origin LIMIT 1", -1, &st,
                                               NULL));
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        GMR_CALL_SQL(s->db, rc);
        GMR_CHECK(rc == SQLITE_ROW, GMR_ERR_ARG, "%s: no table %s", store, table);
        GMR_CALL(emitf(emit, ctx, &b, "%s", (const char *)sqlite3_column_text(st, 0)));
        sqlite3_finalize(st);
        st = NULL;
        GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT value FROM elements WHERE tbl=?1 AND deleted=0 ORDER BY key, origin",
                                               -1, &st, NULL));
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) GMR_CALL(emitf(emit, ctx, &b, "%s", (const char *)sqlite3_column_text(st, 0)));
        GMR_CALL_SQL(s->db, rc);
        goto out;
    }
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT v FROM meta WHERE k='version'", -1, &st, NULL));
    GMR_CALL_SQL(s->db, sqlite3_step(st));
    GMR_CALL(emitf(emit, ctx, &b, "version %lld", (long long)sqlite3_column_int64(st, 0)));
    sqlite3_finalize(st);
    st = NULL;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT tbl, origin, keycols, header, route FROM tables ORDER BY tbl, origin",
                                           -1, &st, NULL));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        GMR_CALL(emitf(emit, ctx, &b, "table %s origin '%s' key %s header %s%s%s", sqlite3_column_text(st, 0),
                       sqlite3_column_text(st, 1), sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                       *sqlite3_column_text(st, 4) ? " route " : "", sqlite3_column_text(st, 4)));
    GMR_CALL_SQL(s->db, rc);
    sqlite3_finalize(st);
    st = NULL;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT province, tbl, dir, acked, to_v, next_chunk, last_key FROM catalog"
                                           " ORDER BY province, tbl, dir", -1, &st, NULL));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        GMR_CALL(emitf(emit, ctx, &b, "catalog %s %s %s acked %lld to %lld next_chunk %lld after '%s'",
                       sqlite3_column_text(st, 0), sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
                       (long long)sqlite3_column_int64(st, 3), (long long)sqlite3_column_int64(st, 4),
                       (long long)sqlite3_column_int64(st, 5), sqlite3_column_text(st, 6)));
    GMR_CALL_SQL(s->db, rc);
    sqlite3_finalize(st);
    st = NULL;
    /* which origin holds what: live elements and tombstones per table and origin */
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT tbl, origin, sum(deleted=0), sum(deleted), max(version) FROM elements"
                                           " GROUP BY tbl, origin ORDER BY tbl, origin", -1, &st, NULL));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        GMR_CALL(emitf(emit, ctx, &b, "holds %s origin '%s' live %lld deleted %lld newest v%lld", sqlite3_column_text(st, 0),
                       sqlite3_column_text(st, 1), (long long)sqlite3_column_int64(st, 2),
                       (long long)sqlite3_column_int64(st, 3), (long long)sqlite3_column_int64(st, 4)));
    GMR_CALL_SQL(s->db, rc);
    sqlite3_finalize(st);
    st = NULL;
    if (status_only) goto out;
    GMR_CALL_SQL(s->db, sqlite3_prepare_v2(s->db, "SELECT tbl, origin, key, version, deleted, value FROM elements"
                                           " ORDER BY tbl, origin, key", -1, &st, NULL));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        found++;
        if (sqlite3_column_int(st, 4))
            GMR_CALL(emitf(emit, ctx, &b, "%s\t%s\tv%lld\tdeleted\t%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                           (long long)sqlite3_column_int64(st, 3), sqlite3_column_text(st, 2)));
        else
            GMR_CALL(emitf(emit, ctx, &b, "%s\t%s\tv%lld\t%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                           (long long)sqlite3_column_int64(st, 3), sqlite3_column_text(st, 5)));
    }
    GMR_CALL_SQL(s->db, rc);
    (void)found;
out:
    sqlite3_finalize(st);
    gmr__sbuf_free(&b);
    gmr__store_close(&s);
    return err;
}
