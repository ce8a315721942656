/* agree.h: one status for all ranks of a communicator (private; defined in err.c).
 *
 * Every collective step of gridmr ends by agreeing on its outcome, so that a failure seen by
 * one rank stops all of them alike instead of leaving the others waiting in the next
 * collective. The scheduler, the stage, the jobs and the reproducible sums use it. */
#ifndef GMR_CORE_AGREE_H
#define GMR_CORE_AGREE_H

#include <mpi.h>

#include "gridmr/err.h"

/* Collective on comm: every rank gets the largest error code (and the lowest rank that has
 * it); ranks that did not fail get that code with the message "failed on rank R: <its reason>" and
 * gmr_err_is_remote() true. */
gmr_err gmr__agree(MPI_Comm comm, gmr_err local);

#endif
