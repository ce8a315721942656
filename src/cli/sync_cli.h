/* sync_cli.h: `gridmr sync` (sync_cli.c), the front end of the element-level incremental sync
 * between HQ and the provinces (private to the front end). */
#ifndef GMR_CLI_SYNC_H
#define GMR_CLI_SYNC_H

#include <mpi.h>

/* True when argv (argv[0] is "sync") runs a sync under MPI; false for `sync load`, `sync dump`
 * and --help, which run without MPI through gmr_cli_sync_local. */
int gmr_cli_sync_needs_mpi(int argc, char **argv);
/* `gridmr sync load|dump|--help`. Not collective, no MPI. Returns the exit status. */
int gmr_cli_sync_local(int argc, char **argv);
/* `gridmr sync --hq HQ.db --stores DIR ...`. Collective on comm. Returns the exit status, the
 * same on every rank: 0 ok, 2 usage (printed by rank 0), 65 bad data, 1 other error. */
int gmr_cli_sync(MPI_Comm comm, int argc, char **argv);

#endif
