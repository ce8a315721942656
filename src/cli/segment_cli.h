/* segment_cli.h: `gridmr segment` (segment_cli.c), customer segmentation: distributed k-means
 * or an L1 multinomial logistic classifier on one row of features per customer. */
#ifndef GMR_CLI_SEGMENT_H
#define GMR_CLI_SEGMENT_H

#include <mpi.h>
#include <stdio.h>

/* Collective on comm. argv[0] is "segment". Returns the exit status, the same on every rank:
 * 0 ok, 2 usage (printed by rank 0), 65 bad input data, 1 any other error (printed once). */
int gmr_cli_segment(MPI_Comm comm, int argc, char **argv);

/* `gridmr segment --help`. */
void gmr__cli_segment_usage(FILE *f);

#endif
