/* lasso_cli.h: `gridmr lasso` (lasso_cli.c), the front end of the distributed LASSO, and the
 * model part of `gridmr dump` (private to the front end). */
#ifndef GMR_CLI_LASSO_H
#define GMR_CLI_LASSO_H

#include <mpi.h>
#include <stdio.h>

/* Collective on comm. argv[0] is "lasso". Returns the exit status, the same on every rank:
 * 0 ok, 2 usage (printed by rank 0), 65 bad input data, 1 any other error (printed once). */
int gmr_cli_lasso(MPI_Comm comm, int argc, char **argv);

/* `gridmr lasso --help`. */
void gmr__cli_lasso_usage(FILE *f);

/* True when path is an HDF5 file whose root attribute job is "lasso". Not collective, no MPI. */
int gmr__cli_is_lasso_model(const char *path);

/* `gridmr dump MODEL.h5 [--top N]`: per lambda (the first N), the lines lambda, objective,
 * gap, intercept, then beta <name> <value> for each non-zero coefficient, numbers with 17
 * significant digits. Returns the exit status. Not collective, no MPI. */
int gmr__cli_dump_lasso(const char *path, unsigned long long top);

#endif
