/* gridmr/apps.h: the built-in jobs, usable from C like any user job.
 *
 * wordcount: a word is a maximal run of bytes other than space, \t, \n, \r, \v, \f; the result
 *   has one row per distinct word with column "count"; dump orders by count descending.
 * aggregate: group-by over CSV files whose first line names the columns; the key is the named
 *   key columns joined with ','; per key the result has "count" and, per value column V,
 *   "V_sum", "V_min", "V_max". Sums are exact-then-rounded (see docs/architecture.md), so they do
 *   not depend on the order ranks combine them in. A row with the wrong number of fields or a
 *   value that is not a finite number is rejected. */
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

#ifdef __cplusplus
}
#endif
#endif
