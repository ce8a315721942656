/* sched.h: split planning and on-demand dispatch at headquarters (private). */
#ifndef GMR_SCHED_H
#define GMR_SCHED_H

#include <stdint.h>

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
 * record-aligned splits of about split_size bytes (0: gmr__plan_auto_split) and broadcasts
 * the plan. A bad input fails
 * on every rank before any work: GMR_ERR_IO, with the file and reason in HQ's message. */
gmr_err gmr__plan_create(const gmr__topo *topo, int nfiles, char *const *paths, uint64_t split_size,
                         gmr__plan **plan);
void gmr__plan_destroy(gmr__plan **plan);

/* Processes one split; may call gmr__sched_poll() often (HQ answers requests there). */
typedef gmr_err (*gmr__split_fn)(void *ctx, uint64_t split);

typedef struct gmr__sched gmr__sched;

/* Collective on topo->world. Runs fn on every split exactly once across the ranks: workers
 * ask HQ for a split as soon as they start the previous one (so the answer is ready when they
 * finish), HQ answers between windows of its own splits. A failure on any rank stops the hand
 * out; every rank still returns, and the phase status is agreed by the caller. */
gmr_err gmr__sched_run(const gmr__topo *topo, uint64_t nsplits, gmr__split_fn fn, void *ctx, gmr__sched **handle_for_poll);
/* Not collective: HQ serves pending requests; a no-op elsewhere. */
gmr_err gmr__sched_poll(gmr__sched *s);

/* Collective on comm: every rank gets the largest error code (and the lowest rank that has
 * it); ranks that did not fail get that code with the message "failed on rank R: <its reason>" and
 * gmr_err_is_remote() true. */
gmr_err gmr__agree(MPI_Comm comm, gmr_err local);

#endif
