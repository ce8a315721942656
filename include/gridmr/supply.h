/* gridmr/supply.h: the data supply models of the power-marketing data set (`gridmr supply`).
 *
 * gmr_supply_build reads a data set made by `gridmr gen --kind power` (docs/data.md) with three
 * MapReduce jobs and writes the four models of the paper's data middle platform into one HDF5
 * file: dimension tables (/dim/...), fact tables (/fact/...), the summary wide table per
 * customer and month (/summary/customer_month) and the application tables for load forecasting
 * (/app/forecast) and segmentation (/app/segment). docs/supply.md says how each is computed,
 * docs/formats.md ("Data supply models") gives every column, unit and the layout.
 *
 *     gmr_supply_summary s;
 *     GMR_CALL(gmr_supply_build(MPI_COMM_WORLD, "data", "supply.h5", NULL, &opts, &s));
 */
#ifndef GRIDMR_SUPPLY_H
#define GRIDMR_SUPPLY_H

#include <mpi.h>

#include "gridmr/mr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gmr_supply_summary {
    gmr_summary structured;   /* job 1: customers, readings, bills, weather (csv reader) */
    gmr_summary events;       /* job 2: events.jsonl (jsonl reader) */
    uint64_t input_bytes;     /* both jobs' input */
    uint64_t rejected;        /* both jobs' rejected records (listed in OUTPUT.rejects) */
    char first_reject[512];   /* the first of them, "file:line: reason" */
    uint64_t customers, dates, bills, events_rows, reading_days;
    uint64_t customer_months, forecast_rows, segment_rows;
    uint64_t duplicates;      /* records with a key seen before, not right before (kept once) */
    double t_jobs, t_assemble, t_total;  /* seconds (max over ranks) */
    /* Appended (zero in older builds): */
    gmr_summary profile;      /* job 3: readings.csv again, one daily profile per customer */
    double t_segment;         /* seconds of the distributed /app/segment build (max over ranks) */
    uint64_t peak_rss_hq;     /* peak resident memory of headquarters (rank 0), bytes */
    uint64_t peak_rss_other;  /* the largest of the other ranks' (0 on one rank), bytes */
} gmr_supply_summary;

/* Collective on comm. input_dir holds customers.csv, readings.csv, bills.csv, weather.csv and
 * events.jsonl. Writes `output` (HDF5), OUTPUT.rejects when records were rejected (file:line:
 * reason, sorted by file then line), and with csv_dir != NULL csv_dir/app_forecast.csv and
 * csv_dir/app_segment.csv. opt: the engine options (provinces, split size, memory budget,
 * strict, stage directory, ...); options_text is ignored. Temporary job results live beside
 * the output and are removed; after gmr_interrupt() (GMR_ERR_INTERRUPTED) the finished jobs'
 * results and the unfinished job's stage are kept, and with opt->resume a later call does not
 * run a job whose kept result matches its inputs and options, and resumes the other's map from
 * its stage (docs/supply.md, "Resume"). Returns the same code on every rank: GMR_ERR_IO for a
 * missing input, GMR_ERR_DATA for a wrong header or a rejected record under strict. */
gmr_err gmr_supply_build(MPI_Comm comm, const char *input_dir, const char *output, const char *csv_dir,
                         const gmr_options *opt, gmr_supply_summary *s);

#ifdef __cplusplus
}
#endif
#endif
