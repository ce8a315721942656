/* progress.h: the progress report of a running job, on HQ (private).
 *
 * One reporter per job, enabled on HQ only (other ranks get a disabled one, whose calls cost a
 * branch). On a terminal (stderr is a tty) it redraws one line, at most 5 times a second (or
 * every `interval` seconds when that is shorter):
 *     map [#########...........]  45.2%  14.5/32.0 MB  12.3 MB/s  ETA 0:02
 * Otherwise (a Slurm log, a pipe) it appends a plain line every `interval` seconds:
 *     gridmr: map 45.2% (14.5 of 32.0 MB, 12/32 splits) 12.3 MB/s, ETA 0:02, 3.1 s elapsed
 * A job shorter than the interval prints nothing. Under mpirun a rank's stderr is a pipe even
 * on a terminal, so the environment can choose: GRIDMR_PROGRESS=bar, lines or off. Phases without a measure of their own
 * (shuffle, reduce, write) show their name and elapsed time. Not collective: nothing here
 * talks to other ranks; HQ feeds it what the scheduler already knows. */
#ifndef GMR_PROGRESS_H
#define GMR_PROGRESS_H

#include <stdint.h>

#include "gridmr/err.h"

typedef struct gmr__progress gmr__progress;

/* enabled = 0 gives a reporter that prints nothing. interval <= 0: GMR_DEFAULT_PROGRESS_INTERVAL.
 * A NULL *p on allocation failure also prints nothing (progress is never worth failing a job). */
void gmr__progress_create(int enabled, double interval, gmr__progress **p);
/* A new phase; total > 0: its work in bytes (the percent is done/total), else unmeasured.
 * done0 bytes and items0 items are done already (reused from a stage): they count in the
 * percent but not in the throughput. */
void gmr__progress_phase(gmr__progress *p, const char *phase, uint64_t total, uint64_t items_total, uint64_t done0,
                         uint64_t items0);
/* done bytes and done items (splits) of the current phase, from its start. */
void gmr__progress_update(gmr__progress *p, uint64_t done, uint64_t items_done);
/* Ends the report: a terminal's line gets its newline. */
void gmr__progress_finish(gmr__progress *p);
void gmr__progress_destroy(gmr__progress **p);

#endif
