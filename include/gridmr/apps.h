/* gridmr/apps.h: the built-in jobs, usable from C like any user job.
 *
 * wordcount: a word is a maximal run of bytes other than space, \t, \n, \r, \v, \f; the result
 *   has one row per distinct word with column "count"; dump orders by count descending.
 * aggregate: group-by over CSV files whose first line names the columns; the key is the named
 *   key columns joined with ','; per key the result has "count" and, per value column V,
 *   "V_sum", "V_min", "V_max". Sums are exact-then-rounded (see docs/architecture.md), so they do
 *   not depend on the order ranks combine them in. A row with the wrong number of fields or a
 *   value that is not a finite number is rejected.
 * events: group-by over JSON lines ("jsonl" reader). Keys and values are JSON paths
 *   (gridmr/json.h); the key is the keys' values joined with ',' (strings as their bytes,
 *   numbers as written, a missing member as ""). Per key: "count" and, per value path V (dots
 *   become '_' in column names), "V_n" (records holding a number there) and "V_sum" (their
 *   exact-then-rounded sum). With checks, a record must be a valid business event of the power
 *   data set (docs/data.md): event_id, a known type, a time that exists, and an event_id other
 *   than the previous line's; others are rejected.
 * blobs: inventory of the blobs a manifest lists ("blob" reader): one row per type sniffed from
 *   the bytes ("jpeg", "png", "wav", "mp3", "pdf", "unknown") with "count" and "bytes". Blobs
 *   whose content hash or type disagree with the manifest are rejected by the reader. */
#ifndef GRIDMR_APPS_H
#define GRIDMR_APPS_H

#include "gridmr/mr.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const gmr_job_ops gmr_wordcount_ops;

typedef struct gmr_aggregate gmr_aggregate;

/* Not collective. keys and values are comma-separated column names, e.g. "province,city" and
 * "kwh,voltage". On success *ops is the job to pass to gmr_job_create with ctx = *agg. */
gmr_err gmr_aggregate_create(const char *keys, const char *values, gmr_aggregate **agg,
                             const gmr_job_ops **ops);
void gmr_aggregate_destroy(gmr_aggregate **agg);

#define GMR_EVENTS_DEFAULT_KEYS "type,province"
#define GMR_EVENTS_DEFAULT_VALUES "payment.amount_yuan"

typedef struct gmr_events gmr_events;

/* Not collective. keys and values are comma-separated JSON paths (NULL: the defaults above;
 * values may be "" for counts only); checks: 1 to reject what is not a valid business event.
 * On success *ops is the job to pass to gmr_job_create with ctx = *ev. One job at a time per
 * gmr_events (map keeps state between records). */
gmr_err gmr_events_create(const char *keys, const char *values, int checks, gmr_events **ev,
                          const gmr_job_ops **ops);
void gmr_events_destroy(gmr_events **ev);

extern const gmr_job_ops gmr_blobs_ops;

#ifdef __cplusplus
}
#endif
#endif
