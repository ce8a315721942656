/* testutil_mpi.h: what the MPI unit tests (check_engine.c, check_stage.c) share: this rank
 * and the communicator size (set by each main after MPI_Init) and the collective verdict, so a
 * failing check fails every rank together and none is left waiting in a collective. */
#ifndef GMR_TESTUTIL_MPI_H
#define GMR_TESTUTIL_MPI_H

#include <check.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "gridmr/log.h"
#include "testutil.h"

static int rank, size;

/* ---- collective verdicts --------------------------------------------------------------- */

/* Collective on MPI_COMM_WORLD: fails the test on every rank when `ok` is false on any. The
 * rank whose check failed prints its message; the others say that another rank failed. */
static void all_assert(int ok, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void all_assert(int ok, const char *fmt, ...)
{
    int all = 0, first_bad = 0, mine = ok ? size : rank;
    char msg[2048];
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &first_bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (all) {
        ck_assert(1); /* a check point */
        return;
    }
    if (ok) ck_abort_msg("[rank %d of %d] the check failed on rank %d", rank, size, first_bad);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ck_abort_msg("[rank %d of %d] %s", rank, size, msg);
}

/* The main of an MPI test program: runs the suite on every rank without forking (fork after
 * MPI_Init is unsafe), with a temporary directory made by rank 0 from `tmpl` and shared, and
 * fails on every rank when any rank failed. */
static int mpi_test_main(int argc, char **argv, Suite *(*make_suite)(void), const char *tmpl)
{
    int failed, any_failed = 0;
    SRunner *sr;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    gmr_log_set_level(GMR_LOG_ERROR);
    if (rank == 0 && !tmpdir_make(tmpl)) {
        perror("mkdtemp");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, MPI_COMM_WORLD);
    sr = srunner_create(make_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) tmpdir_remove();
    MPI_Finalize();
    return any_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}


#endif
