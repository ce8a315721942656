/* sched.h: split planning and on-demand dispatch at headquarters (private). */
#ifndef GMR_SCHED_H
#define GMR_SCHED_H

#include <stdint.h>

#include "../core/agree.h"
#include "../topo/topo.h"
#include "gridmr/err.h"

typedef struct gmr__split {
    uint64_t off, len;
    int64_t file;
} gmr__split;

typedef struct gmr__plan {
    int nfiles;
    char **paths;        /* owned copies */
    uint64_t *sizes;
    int64_t *mtimes;     /* modification times, ns since the epoch (part of the stage fingerprint) */
    uint64_t nsplits;
    gmr__split *splits;  /* file order, then offset order */
    uint64_t total_bytes;
} gmr__plan;

/* The split size when none is given: about 32 splits per rank, so that a rank that finishes
 * early finds work, clamped to [GMR_AUTO_SPLIT_MIN, GMR_AUTO_SPLIT_MAX]. */
uint64_t gmr__plan_auto_split(uint64_t total_bytes, int ranks);

/* Collective on topo->world. HQ checks every input (exists, regular, readable), cuts
 * record-aligned splits of about split_size bytes (0: gmr__plan_auto_split, at most auto_cap
 * when that is nonzero) and broadcasts
 * the plan. A bad input fails
 * on every rank before any work: GMR_ERR_IO, with the file and reason in HQ's message. */
gmr_err gmr__plan_create(const gmr__topo *topo, int nfiles, char *const *paths, uint64_t split_size,
                         uint64_t auto_cap, gmr__plan **plan);
void gmr__plan_destroy(gmr__plan **plan);

/* Processes one split; may call gmr__sched_poll() often (HQ answers requests there). */
typedef gmr_err (*gmr__split_fn)(void *ctx, uint64_t split);
/* Asked between splits: nonzero when this rank wants the wave to end now (its tables are full,
 * or it was interrupted). Not collective. */
typedef int (*gmr__stop_fn)(void *ctx);

typedef struct gmr__sched gmr__sched;

/* One wave of the map: hands out the splits todo[0..ntodo) on demand until they run out, or
 * until a rank asks to stop (stop_fn) or HQ's wave clock passes `wave_seconds` (> 0). */
typedef struct gmr__wave {
    const uint64_t *todo;
    uint64_t ntodo;
    gmr__split_fn fn;
    gmr__stop_fn stop;     /* may be NULL */
    void *ctx;
    double wave_seconds;   /* 0: no time limit */
    uint64_t wave_splits;  /* > 0: end the wave after handing out this many splits (test hook) */
    /* Optional progress report, HQ only: called with the input bytes and splits the ranks
     * reported done in this wave (workers report with their requests, so the count lags by
     * the splits in hand). Needs the plan's splits for their sizes. */
    const gmr__split *splits;
    void (*progress)(void *progress_ctx, uint64_t bytes, uint64_t splits);
    void *progress_ctx;
} gmr__wave;

/* Collective on topo->world. Runs w->fn on splits of w->todo, each at most once across the
 * ranks: workers ask HQ for a split as soon as they start the previous one (so the answer is
 * ready when they finish), HQ maps too and answers between windows of its own splits. A rank
 * whose stop_fn fires does not start the split it already holds (it stays undone) and tells
 * HQ, which then ends the wave for everyone; HQ ends it too when its clock runs out. Which
 * splits were done is the caller's to record (in fn). A failure on any rank stops the hand
 * out; every rank still returns, and the phase status is agreed by the caller. */
gmr_err gmr__sched_run(const gmr__topo *topo, const gmr__wave *w, gmr__sched **handle_for_poll);
/* Not collective: HQ serves pending requests; a no-op elsewhere. */
gmr_err gmr__sched_poll(gmr__sched *s);


#endif
