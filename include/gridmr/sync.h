/* gridmr/sync.h: element-level incremental sync between headquarters and provinces (issue 4,
 * docs/sync.md).
 *
 * Every site keeps a store, an SQLite file of elements keyed by (table, business primary key),
 * each with a value (the record's fields, as one canonical CSV line), a content hash and the
 * store's commit counter when it last changed; a delete is a tombstone with a version. A
 * province loads CSV snapshots or change files into its store (gmr_sync_load); HQ does the same
 * for the dimension tables it owns. gmr_sync_run sends what changed since the version HQ last
 * acknowledged: upward each province's own tables, downward HQ's own tables to every province,
 * in chunks with an XXH3-64 checksum, each applied in one transaction and acknowledged. */
#ifndef GRIDMR_SYNC_H
#define GRIDMR_SYNC_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gmr_sync_mode {
    GMR_SYNC_SNAPSHOT = 0, /* the file is the whole table: rows missing from it become tombstones */
    GMR_SYNC_UPSERT = 1,   /* the file holds new and changed rows only */
    GMR_SYNC_DELETE = 2    /* the file's rows (their keys) are deleted */
} gmr_sync_mode;

typedef struct gmr_sync_load_result {
    int64_t version;      /* the store's version after the load (unchanged when nothing changed) */
    uint64_t rows;        /* data rows read */
    uint64_t upserts;     /* elements inserted or changed */
    uint64_t deletes;     /* tombstones written */
    uint64_t unchanged;   /* rows equal to the stored element */
} gmr_sync_load_result;

/* Not collective. Imports the CSV file (header line, RFC 4180) into table `table` of the store
 * at `store` (created when missing) as one new version, keyed by the comma-separated columns
 * `key`. All or nothing: a bad row (wrong field count, unterminated quote, empty or duplicate
 * key, header unlike the table's) leaves the store unchanged and returns GMR_ERR_DATA with
 * "FILE:LINE: what was expected". */
gmr_err gmr_sync_load(const char *store, const char *table, const char *key, const char *csv, gmr_sync_mode mode,
                      gmr_sync_load_result *res);
/* Not collective. gmr_sync_load for a table routed by the column `route` (NULL: not routed):
 * at HQ, a row goes down only to the province whose store name is its value in that column, and
 * every other province gets a delete of that key (so a row whose route changes, e.g. a customer
 * reassigned to another province, leaves the old province). The route column is fixed by the
 * table's first load. */
gmr_err gmr_sync_load_routed(const char *store, const char *table, const char *key, const char *route, const char *csv,
                             gmr_sync_mode mode, gmr_sync_load_result *res);

typedef struct gmr_sync_options {
    const char *hq;        /* HQ's store (created when missing) */
    const char *stores;    /* directory of the province stores, NAME.db each (NAME = province) */
    int provinces;         /* province groups of the topology; <= 0: round(sqrt(ranks)) */
    uint64_t chunk;        /* payload bytes per chunk (default GMR_SYNC_DEFAULT_CHUNK) */
    int max_resend;        /* resends of a refused chunk before giving up (default 3) */
} gmr_sync_options;

#define GMR_SYNC_DEFAULT_CHUNK (1u << 20)

typedef struct gmr_sync_stats {
    uint64_t stores;             /* province stores synced */
    uint64_t chunks_up, chunks_down;     /* chunks accepted, each direction */
    uint64_t upserts_up, deletes_up;     /* elements sent upward */
    uint64_t upserts_down, deletes_down; /* elements sent downward */
    uint64_t bytes_up, bytes_down;       /* chunk bytes sent, resends included */
    uint64_t full_up, full_down;         /* bytes a full copy of the same tables would send */
    uint64_t refused;            /* chunks refused for a bad checksum (then re-sent) */
    uint64_t duplicates;         /* chunks received again and acknowledged without change */
    uint64_t stale;              /* elements ignored: the receiver had that version or newer, or a
                                    delete of a key it never held */
    uint64_t resumed;            /* table transfers resumed after an interruption */
    double seconds;              /* wall time of the run on HQ */
    double t_hq;                 /* HQ answering requests: verifying, applying, packing downward */
    double t_work_max;           /* the busiest leader's own work: change sets, packing, applying
                                    downward chunks (its time with its stores less t_wait) */
    double t_wait_max;           /* the longest a leader waited for HQ's answers */
} gmr_sync_stats;

/* Collective on comm. Rank 0 is HQ; the stores are dealt to the province leaders of the
 * topology (store i to group i mod P). stats is filled on rank 0 (zero elsewhere). The status
 * is agreed: every rank returns the same code. */
gmr_err gmr_sync_run(MPI_Comm comm, const gmr_sync_options *opt, gmr_sync_stats *stats);

/* Not collective. Prints a store deterministically through emit (one call per line, without
 * the line end): with table NULL the whole state (version, tables, catalog, every element with
 * its origin, version and tombstones); with a table, that table's CSV header and its live rows
 * in key order (then origin), the view to compare with the CSV files. */
gmr_err gmr_sync_dump(const char *store, const char *table, int (*emit)(void *ctx, const char *line), void *ctx);
/* Not collective. The head of the whole dump: version, tables, catalog and the `holds` lines
 * (which origin holds how many live elements of each table, newest version), without the
 * elements: what HQ's catalog says about every province. */
gmr_err gmr_sync_status(const char *store, int (*emit)(void *ctx, const char *line), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
