/* power.h - `gridmr gen --kind power`: a heterogeneous power-marketing data set (private to the
 * command-line front end, src/gen/ and the tests).
 *
 * One collective call writes the whole data set into a directory: structured CSV (customers,
 * 15-minute meter readings, monthly bills, hourly weather), semi-structured JSON lines
 * (business events) and unstructured binary blobs (photos, call recordings, scanned contracts)
 * packed into a few files with a manifest, plus ground truth for tests (true customer classes,
 * the list of injected defects). The bytes depend on the options only, never on the number of
 * ranks or on how the work is cut into blocks. docs/data.md describes every file.
 */
#ifndef GMR_GEN_POWER_H
#define GMR_GEN_POWER_H

#include <mpi.h>
#include <stdint.h>

#include "gridmr/err.h"

/* Defaults and limits, in one place; `gridmr gen --help` prints them. */
#define GMR_GEN_DEFAULT_PROVINCES 4
#define GMR_GEN_DEFAULT_START "2026-01-01"
#define GMR_GEN_DEFAULT_MIX_S 100 /* structured : semi-structured : unstructured bytes, as in */
#define GMR_GEN_DEFAULT_MIX_J 50  /* the paper's data */
#define GMR_GEN_DEFAULT_MIX_U 80
#define GMR_GEN_DEFAULT_MISLABEL_PPB 30000000u /* 3% of customers registered in a wrong class */
#define GMR_GEN_DEFAULT_PACK (UINT64_C(256) << 20) /* bytes per blob pack file */
#define GMR_GEN_RULE_CUSTOMERS 1000 /* sizing rule: the period grows past a week only with this many */
#define GMR_GEN_MIN_DAYS 7          /* ... customers, and stops growing at a year */
#define GMR_GEN_MAX_AUTO_DAYS 365
#define GMR_GEN_MAX_DAYS 3660 /* --days: ten years (the temperature table is 48 bytes a province-day) */
#define GMR_GEN_MAX_CUSTOMERS 99999999u /* 8-digit serial in the customer id */
#define GMR_GEN_MAX_SIZE (UINT64_C(1) << 50)
#define GMR_GEN_MAX_MIX 1000
#define GMR_GEN_MIN_PACK (UINT64_C(1) << 20)

/* The files of a data set (blob packs aside: blobs-000.bin, blobs-001.bin, ...). */
typedef enum gmr__file_id {
    GMR_F_CUSTOMERS,
    GMR_F_LABELS,
    GMR_F_READINGS,
    GMR_F_BILLS,
    GMR_F_WEATHER,
    GMR_F_EVENTS,
    GMR_F_MANIFEST,
    GMR_F_CORRUPT,
    GMR_NFILES
} gmr__file_id;

extern const char *const gmr__file_names[GMR_NFILES];

typedef struct gmr__power_opts {
    const char *dir;        /* output directory, created (with its parents) when missing */
    uint64_t size;          /* bytes of structured + semi-structured + unstructured data */
    uint64_t seed;
    unsigned provinces;     /* 1..GMR_GEN_MAX_PROVINCES */
    int64_t start;          /* first day, days since 1970-01-01 */
    uint32_t days;          /* 0: from size (docs/data.md, "Sizes") */
    uint64_t customers;     /* 0: from size */
    uint32_t corrupt_ppb;   /* damaged records per 10^9 */
    uint32_t mislabel_ppb;  /* customers registered in a wrong class, per 10^9 */
    unsigned mix[3];        /* structured : semi-structured : unstructured */
    uint64_t block;         /* bytes of work per block; 0: automatic. Never changes the output */
    uint64_t pack;          /* bytes per blob pack file */
} gmr__power_opts;

/* Fills o with the defaults (dir NULL, size 0: the caller sets both). Not collective. */
void gmr__power_opts_init(gmr__power_opts *o);

typedef struct gmr__power_report {
    int ranks;
    unsigned provinces;
    int64_t start;
    uint32_t days;
    uint64_t customers;
    uint64_t budget[3];          /* bytes asked for: structured, semi, unstructured */
    uint64_t bytes[GMR_NFILES];  /* bytes written per file */
    uint64_t lines[GMR_NFILES];  /* lines per file, headers included */
    uint64_t blobs, packs, blob_bytes;
    uint64_t defects;            /* rows of corrupt.csv */
    double t_total;              /* seconds, slowest rank */
    double t_pass[3];            /* customers, weather, blobs passes: seconds, slowest rank */
    double t_gen_customers;      /* customers pass: seconds spent generating, summed over ranks */
    uint64_t customers_pass_bytes; /* customers, labels, readings, bills and events of that pass */
} gmr__power_report;

/* Collective on comm. Writes the data set described by o into o->dir: every rank generates
 * blocks of customers, provinces and blobs round-robin, and each block lands at an offset agreed
 * with MPI_Allgather, so the files are the same bytes on any number of ranks. Existing files of
 * a data set in dir are replaced (blob packs of an earlier, larger run are removed). On failure
 * every rank returns the same error and the files written so far are removed. rep (may be
 * NULL) gets the figures, the same on every rank. */
gmr_err gmr__power_generate(MPI_Comm comm, const gmr__power_opts *o, gmr__power_report *rep);

#endif /* GMR_GEN_POWER_H */
