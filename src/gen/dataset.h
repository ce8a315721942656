/* dataset.h - the plan of a power-marketing data set and the generation of its blocks (private
 * to src/gen/ and its tests). None of this is collective: the plan is a pure function of the
 * options, computed alike on every rank, and a block is a pure function of the plan and the
 * block's range, so writer.c only has to put blocks side by side in order.
 */
#ifndef GMR_GEN_DATASET_H
#define GMR_GEN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"
#include "model.h"
#include "power.h"

/* ---- defects -------------------------------------------------------------------------------- */

typedef enum gmr__defect_kind {
    GMR_DEFECT_FIELD_COUNT,    /* CSV row with a field too many or too few */
    GMR_DEFECT_BAD_ENUM,       /* a value outside its column's set (class, tariff, province, type) */
    GMR_DEFECT_BAD_TIMESTAMP,  /* a date or time that is malformed or does not exist */
    GMR_DEFECT_BAD_NUMBER,     /* a number column holding text ("NaN", "1.2.3", ...) */
    GMR_DEFECT_DUPLICATE_KEY,  /* a second record with a key seen just before */
    GMR_DEFECT_TRUNCATED_JSON, /* a JSON line cut short */
    GMR_DEFECT_BAD_MAGIC,      /* a blob whose first bytes are not its type's signature */
    GMR_DEFECT_HASH_MISMATCH,  /* a blob damaged after its manifest hash was taken */
    GMR_NDEFECTS
} gmr__defect_kind;

extern const char *const gmr__defect_names[GMR_NDEFECTS];

/* One injected defect. file: a gmr__file_id, or GMR_NFILES + k for blob pack k. For a text
 * file, line and offset are the 0-based line number and byte offset within the block's output
 * (writer.c makes them global); for a pack, line is GMR_NO_LINE and offset is absolute. */
#define GMR_NO_LINE UINT64_MAX
typedef struct gmr__defect {
    uint32_t file, kind;
    uint64_t line, offset;
} gmr__defect;

/* ---- blocks --------------------------------------------------------------------------------- */

typedef struct gmr__obuf {
    char *p;
    size_t len, cap;
} gmr__obuf;

/* Room for n more bytes at b->p + b->len (the buffer grows by doubling); NULL when out of memory. */
char *gmr__obuf_reserve(gmr__obuf *b, size_t n);

/* What one block produced: bytes and line counts per file, and its defects. */
typedef struct gmr__block {
    gmr__obuf out[GMR_NFILES];
    uint64_t lines[GMR_NFILES];
    gmr__defect *defects;
    size_t ndefects, cap;
} gmr__block;

/* Empties the block for the next one, keeping its buffers. */
void gmr__block_reset(gmr__block *b);
void gmr__block_free(gmr__block *b);

/* ---- the plan ------------------------------------------------------------------------------- */

enum { GMR_BLOB_JPEG, GMR_BLOB_PNG, GMR_BLOB_WAV, GMR_BLOB_MP3, GMR_BLOB_PDF, GMR_NBLOB_TYPES };
extern const char *const gmr__blob_mimes[GMR_NBLOB_TYPES];

typedef struct gmr__blob_info {
    uint64_t offset;    /* in its pack */
    uint32_t size;
    uint32_t pack;      /* blobs-<pack>.bin */
    uint8_t type;       /* GMR_BLOB_* */
} gmr__blob_info;

typedef struct gmr__genplan {
    gmr__model model;
    uint64_t seed;
    unsigned provinces;
    int64_t start;
    uint32_t days;
    uint64_t customers;
    uint64_t defect_thr;   /* a record is damaged when a 32-bit draw is below this; 0: never */
    uint32_t mislabel_thr; /* the same for a registered class */
    uint64_t budget[3];    /* structured, semi-structured, unstructured bytes asked for */
    uint64_t event_rate;   /* complaints and work orders per customer and day, x 10^6 */
    int16_t *temp;         /* [province][day][hour], 0.1 degC */
    int16_t *tmax, *tmin;  /* [province][day] */
    uint64_t cust_per_block;
    /* blobs, in order; packs hold consecutive blobs; blob blocks never straddle packs */
    uint64_t nblobs;
    gmr__blob_info *blobs;
    uint32_t npacks;
    uint64_t *pack_first;  /* [npacks + 1]: first blob of each pack */
    uint64_t *pack_bytes;  /* [npacks] */
    uint64_t nblob_blocks;
    uint64_t *blob_block_first; /* [nblob_blocks + 1] */
    uint32_t max_blob;
} gmr__genplan;

/* Not collective. Works out days, customers, event rate, the blobs and their packs from the
 * options (the rule is in docs/data.md, "Sizes"), and the temperature table. */
gmr_err gmr__genplan_create(const gmr__power_opts *o, gmr__genplan **plan);
void gmr__genplan_destroy(gmr__genplan **plan);

/* The estimated bytes of a customer's structured rows (customers, readings, bills). */
uint64_t gmr__genplan_customer_bytes(const gmr__genplan *p, const gmr__customer *c);

/* ---- generation (records.c, blob.c); not collective ------------------------------------------ */

/* Customers [first, first + count): their rows of customers, labels, readings and bills and
 * their events (payments, complaints, work orders), appended to b. */
gmr_err gmr__gen_customers(const gmr__genplan *p, uint64_t first, uint64_t count, gmr__block *b);
/* Province `prov`: its hourly weather rows and its counties' outage events, appended to b. */
gmr_err gmr__gen_province(const gmr__genplan *p, unsigned prov, gmr__block *b);
/* Blob i: its bytes into buf (p->blobs[i].size of them, buf holds p->max_blob) and its
 * manifest row (and defect, if any) appended to b. */
gmr_err gmr__gen_blob(const gmr__genplan *p, uint64_t i, unsigned char *buf, gmr__block *b);

/* CRC-32 (ISO-HDLC, as PNG uses), continued from crc (0 to start). */
uint32_t gmr__crc32(uint32_t crc, const unsigned char *p, size_t n);

#endif /* GMR_GEN_DATASET_H */
