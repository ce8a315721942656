/* supply_impl.h: what the three supply jobs (supply_jobs.c) hand to the model builder
 * (supply_model.c). Private.
 *
 * Both jobs emit binary keys that start with a tag byte, numbers big-endian so that byte order
 * is numeric order, and one value of SUP_SLOTS 64-bit slots. Slot 0 says how two values of a
 * key combine: SUP_ADD sums counts and amounts and keeps max and min (exact integers, so any
 * order gives the same bits); SUP_RECORD keeps the smaller record (lexicographic over slots
 * 2..7) and counts how many were seen. Each reduce writes the slots unchanged, one row per key.
 *
 *   tag  key after the tag                  mode    slots 1..7
 *   'K'  customer id (8)                    RECORD  n, county, supply unit, class|tariff<<8|voltage<<16,
 *                                                   registered YYYYMMDD, capacity kVA, province code
 *   'B'  customer (8), YYYYMM (4)           RECORD  n, days, kwh Wh, peak Wh, flat Wh, valley Wh, amount fen
 *   'D'  customer (8), YYYYMMDD (4)         ADD     n, Wh, max Wh, min Wh, zero intervals, night Wh, 0
 *   'P'  customer (8)                       PROFILE (job 3, "supply.profile", readings.csv only;
 *                                                   SUP_PROF_SLOTS slots, below)
 *   'H'  province code (1), YYYYMMDD (4),   ADD     the same as 'D' (the province's readings in the hour)
 *        hour 0..23 (1)
 *   'W'  province code (1), YYYYMMDD, hour  RECORD  n, temperature in 0.1 degC (int64), 0...
 *   'E'  customer (8), YYYYMM (4), type (1) ADD     n, payment fen, ...
 *   'O'  county (4), YYYYMM (4)             ADD     n, outage minutes, ...
 *   'F'  event_id bytes                     RECORD  n, type, customer, province code,
 *                                                   time YYYYMMDDhhmmss, fen or minutes, county
 */
#ifndef GMR_APPS_SUPPLY_IMPL_H
#define GMR_APPS_SUPPLY_IMPL_H

#include <stdint.h>

#include "gridmr/mr.h"

#define SUP_SLOTS 8
#define SUP_ADD 0
#define SUP_RECORD 1

/* Job 3's value, one per customer: the customer's daily profile as exact integer sums. Slot 0
 * is the mode. SUP_PROF_ONE is one reading as emitted by the map (slot 1: 15-minute slot |
 * weekend << 8, slot 2: Wh); combining turns it into SUP_PROF_FULL, where the slots are
 * 1 + 2s and 2 + 2s: readings and Wh of 15-minute slot s (0..95), SUP_PROF_WEEK + 2w and
 * SUP_PROF_WEEK + 1 + 2w: readings and Wh on weekdays (w = 0) and weekend days (w = 1),
 * SUP_PROF_PEAK: the largest reading (Wh), SUP_PROF_ZERO: zero readings. Sums and a maximum:
 * associative and commutative on integers, so any combining order gives the same bits. */
#define SUP_PROF_ONE 2
#define SUP_PROF_FULL 3
#define SUP_PROF_WEEK 193
#define SUP_PROF_PEAK 197
#define SUP_PROF_ZERO 198
#define SUP_PROF_SLOTS 199

/* the structured job's input files, in gmr_job_add_input order */
enum { SUP_CUSTOMERS, SUP_READINGS, SUP_BILLS, SUP_WEATHER, SUP_NFILES };

enum { SUP_EV_PAYMENT = 1, SUP_EV_COMPLAINT, SUP_EV_WORK_ORDER, SUP_EV_OUTAGE, SUP_NEV };

extern const char *const gmr__sup_files[SUP_NFILES];
extern const char *const gmr__sup_headers[SUP_NFILES];
extern const char *const gmr__sup_classes[7];   /* code 1..6; [0] "" */
extern const char *const gmr__sup_tariffs[7];
extern const char *const gmr__sup_voltages[6];
extern const double gmr__sup_voltage_kv[6];
extern const char *const gmr__sup_event_types[SUP_NEV];

typedef struct gmr__sup_map gmr__sup_map;

/* The three jobs; ctx is a gmr__sup_map made by gmr__sup_map_create. Not collective. */
extern const gmr_job_ops gmr__sup_structured_ops;
extern const gmr_job_ops gmr__sup_events_ops;
extern const gmr_job_ops gmr__sup_profile_ops; /* input: readings.csv alone */
/* A SUP_PROF_ONE value made SUP_PROF_FULL in place (no change to a FULL one). Not collective. */
void gmr__sup_prof_expand(uint64_t *v); /* v: SUP_PROF_SLOTS slots */
gmr_err gmr__sup_map_create(gmr__sup_map **m);
void gmr__sup_map_destroy(gmr__sup_map **m);

/* Calendar helpers shared with the model builder (Not collective). */
int64_t gmr__sup_days(uint32_t ymd);        /* day number of YYYYMMDD (1970-01-01 = 0) */
uint32_t gmr__sup_ymd(int64_t days);
int gmr__sup_weekday(uint32_t ymd);         /* ISO: 1 Monday .. 7 Sunday */
int gmr__sup_holiday(uint32_t ymd);         /* 1 on a statutory holiday of mainland China */

/* --resume (supply_resume.c). The text of everything a job's rows depend on (its name, the
 * options text, --max-key, --max-record, each input's path, size and mtime), malloc'd into
 * *text. Not collective. */
gmr_err gmr__sup_fingerprint(const char *job, const gmr_options *o, const char *dir, const char *const *files,
                             int nfiles, char **text);
/* Collective on comm: *done = 1 when `out` is a finished job result carrying fingerprint fp
 * (rank 0's fp; NULL elsewhere) with its rejects file; sum then holds its figures (resumed = 1,
 * times 0). Same answer on every rank. */
gmr_err gmr__sup_job_done(MPI_Comm comm, const char *out, const char *fp, gmr_summary *sum, int *done);
/* Collective on comm: rank 0 stamps the closed result `out` with fp (it is then finished). */
gmr_err gmr__sup_job_mark(MPI_Comm comm, const char *out, const char *fp);

#endif
