/* sync_impl.h: the store (store.c), the chunk wire format (wire.c) and the protocol (sync.c)
 * of gridmr sync (private). */
#ifndef GMR_SYNC_IMPL_H
#define GMR_SYNC_IMPL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"
#include "gridmr/sync.h"

/* SQLite calls: anything but OK, ROW or DONE is an I/O error carrying sqlite3_errmsg. */
#define GMR_CALL_SQL(db, expr)                                                                  \
    do {                                                                                        \
        int gmr_sql_rc_ = (expr);                                                               \
        if (gmr_sql_rc_ != SQLITE_OK && gmr_sql_rc_ != SQLITE_ROW && gmr_sql_rc_ != SQLITE_DONE) { \
            err = GMR_ERROR(GMR_ERR_IO, "sqlite: %s: %s", #expr, sqlite3_errmsg(db));           \
            goto out;                                                                           \
        }                                                                                       \
    } while (0)

#define GMR_SYNC_HQ_NAME "HQ" /* the origin of HQ's own elements in a province store */

/* A growable byte buffer. */
typedef struct gmr__sbuf {
    uint8_t *data;
    size_t len, cap;
} gmr__sbuf;
gmr_err gmr__sbuf_put(gmr__sbuf *b, const void *p, size_t n);
gmr_err gmr__sbuf_u8(gmr__sbuf *b, uint8_t v);
gmr_err gmr__sbuf_u32(gmr__sbuf *b, uint32_t v);
gmr_err gmr__sbuf_u64(gmr__sbuf *b, uint64_t v);
gmr_err gmr__sbuf_str(gmr__sbuf *b, const char *s); /* u32 length, bytes */
void gmr__sbuf_free(gmr__sbuf *b);

/* A reading cursor over a received message; any overrun sets bad. */
typedef struct gmr__scur {
    const uint8_t *p;
    size_t len, at;
    int bad;
} gmr__scur;
uint8_t gmr__scur_u8(gmr__scur *c);
uint32_t gmr__scur_u32(gmr__scur *c);
uint64_t gmr__scur_u64(gmr__scur *c);
/* A pointer into the message and its length (not NUL-terminated). */
const uint8_t *gmr__scur_bytes(gmr__scur *c, uint32_t *n);
/* A malloc'd NUL-terminated copy of a u32-length string. */
gmr_err gmr__scur_str(gmr__scur *c, char **s);

/* ---- store.c ---- */
typedef struct gmr__store {
    sqlite3 *db;
    char *path;
} gmr__store;

gmr_err gmr__store_open(const char *path, gmr__store **s);
void gmr__store_close(gmr__store **s);
gmr_err gmr__store_exec(gmr__store *s, const char *sql);
gmr_err gmr__store_version(gmr__store *s, int64_t *v);
gmr_err gmr__store_set_version(gmr__store *s, int64_t v);
/* The tables whose origin is '' (this site's own), sorted; free with gmr__strv_free. */
gmr_err gmr__store_own_tables(gmr__store *s, char ***names, int *n);
void gmr__strv_free(char ***v, int n);
/* keycols and header of (table, origin); GMR_ERR_STATE when the store has no such table. */
gmr_err gmr__store_table_info(gmr__store *s, const char *table, const char *origin, char **keycols, char **header);

/* ---- wire.c: chunks ---- */
#define GMR_CHUNK_MAGIC "GMRSYNC1"
#define GMR_CHUNK_HEADER 64
#define GMR_CHUNK_LAST 1u
#define GMR_ELEM_UPSERT 1
#define GMR_ELEM_DELETE 2
#define GMR_ELEM_OVERHEAD 17 /* op u8, version u64, key length u32, value length u32 */

typedef struct gmr__chunk_info {
    uint32_t flags, count;
    uint64_t from_v, to_v, chunk_no;
    char *origin, *table, *keycols, *header; /* malloc'd by gmr__chunk_parse */
    const uint8_t *elems;                    /* into the chunk */
    size_t elems_len;
} gmr__chunk_info;

/* Builds chunks of up to `budget` element bytes from the own elements of `table` with
 * from_v < version <= to_v and key > after, in key order. */
typedef struct gmr__chunker gmr__chunker;
/* target: the receiving province, for a table routed by a column (its rows routed elsewhere
 * travel as deletes); NULL for upward transfers. */
gmr_err gmr__chunker_create(gmr__store *s, const char *origin, const char *table, uint64_t from_v, uint64_t to_v,
                            const char *after, uint64_t first_chunk, uint64_t budget, const char *target,
                            gmr__chunker **c);
/* The next chunk into out (replaced); *done set when the previous one was the last. The chunk's
 * last key is in *last_key (valid until the next call). Counts the elements it packs. */
gmr_err gmr__chunker_next(gmr__chunker *c, gmr__sbuf *out, int *done, const char **last_key, uint64_t *upserts,
                          uint64_t *deletes);
void gmr__chunker_destroy(gmr__chunker **c);
/* Bytes a full copy of the table's live own elements would take in chunks of `budget`. */
gmr_err gmr__chunk_full_bytes(gmr__store *s, const char *table, const char *origin, uint64_t budget, const char *target,
                              uint64_t *bytes);
/* The route column of the store's own table ("" when not routed). */
gmr_err gmr__store_table_route(gmr__store *s, const char *table, char **route);
/* Checks magic, length and checksum: 0 when intact. */
int gmr__chunk_verify(const uint8_t *p, size_t n);
gmr_err gmr__chunk_parse(const uint8_t *p, size_t n, gmr__chunk_info *ci);
void gmr__chunk_info_free(gmr__chunk_info *ci);
/* Applies the elements of a parsed chunk to the store under origin, inside the caller's
 * transaction: an element whose stored version is >= its own is skipped (counted in *stale),
 * so applying a chunk twice changes nothing. Records the table (keycols, header) and refuses
 * a header unlike the one stored. The key of the chunk's last element goes to *last_key. */
gmr_err gmr__chunk_apply(gmr__store *s, const gmr__chunk_info *ci, const char *origin, uint64_t *stale,
                         char **last_key);

/* Test hook: GRIDMR_TEST_SYNC_FLIP=N flips a byte of the N-th chunk this process sends (first
 * transmission only). Returns 1 when it flipped. */
int gmr__chunk_test_flip(uint8_t *p, size_t n);
/* Test hook: GRIDMR_TEST_SYNC_DUP=N makes a province leader send its N-th accepted upward chunk
 * a second time, as it would after losing HQ's acknowledgement. Returns 1 for that chunk. */
int gmr__chunk_test_dup(void);

#endif
