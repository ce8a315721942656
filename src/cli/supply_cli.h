/* supply_cli.h: `gridmr supply` (supply_cli.c), the front end of the data supply models
 * (private to the front end). */
#ifndef GMR_CLI_SUPPLY_H
#define GMR_CLI_SUPPLY_H

#include <mpi.h>
#include <stdio.h>

/* Collective on comm. argv[0] is "supply". Returns the exit status, the same on every rank:
 * 0 ok, 2 usage (printed by rank 0), 65 bad input data, 1 any other error (printed once). */
int gmr_cli_supply(MPI_Comm comm, int argc, char **argv);

/* `gridmr supply --help`. */
void gmr__cli_supply_usage(FILE *f);

#endif
