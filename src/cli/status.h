/* status.h: the exit statuses of the `gridmr` command and the one way its front ends report a
 * library error (private to src/cli). */
#ifndef GMR_CLI_STATUS_H
#define GMR_CLI_STATUS_H

#include "gridmr/err.h"

#define EXIT_USAGE 2     /* bad command line */
#define EXIT_DATAERR 65  /* bad input data (EX_DATAERR) */
#define EXIT_TEMPFAIL 75 /* stopped by a signal after a checkpoint: rerun with --resume (EX_TEMPFAIL) */

/* 0 for GMR_OK, 65 for GMR_ERR_DATA, 75 for GMR_ERR_INTERRUPTED, 2 for GMR_ERR_ARG, else 1. */
int gmr__cli_exit_status(gmr_err e);

/* Prints the recorded error as "gridmr WHAT: message" on stderr: its first line, or the whole
 * traceback at GRIDMR_LOG=debug. The caller decides which rank prints. Not collective. */
void gmr__cli_report(const char *what);

#endif
