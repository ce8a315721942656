/* pf_cli.h: `gridmr pf`, `gridmr cpf` and `gridmr vsm` (pf_cli.c, vsm_cli.c), the front ends of
 * the power flow, the continuation power flow and the batch of voltage-stability margins
 * (private to the front end). */
#ifndef GMR_CLI_PF_H
#define GMR_CLI_PF_H

#include <mpi.h>
#include <stdio.h>

/* True when cmd is "pf", "cpf" or "vsm". */
int gmr_cli_pf_is_command(const char *cmd);
/* True when the command runs on MPI (vsm, unless it only asks for --help). */
int gmr_cli_pf_needs_mpi(int argc, char **argv);
/* argv[0] is the command. pf and cpf are serial (comm may be MPI_COMM_NULL); vsm is collective on
 * comm. Returns the exit status, the same on every rank: 0 ok, 2 usage, 65 bad input data, 1
 * other error. */
int gmr_cli_pf(MPI_Comm comm, int argc, char **argv);
/* Collective on comm: `gridmr vsm` (vsm_cli.c). */
int gmr__cli_vsm(MPI_Comm comm, int argc, char **argv);
void gmr__cli_vsm_usage(FILE *f);
/* True when path is an HDF5 file whose root attribute job is "vsm". Not collective, no MPI. */
int gmr__cli_is_vsm_file(const char *path);
/* `gridmr dump VSM.h5 [--top N]`: a header line, then per point (the first N) index, set,
 * status, margin_mw, lambda, load_mw, steps and the message, tab-separated, numbers with 17
 * significant digits. Returns the exit status. Not collective, no MPI. */
int gmr__cli_dump_vsm(const char *path, unsigned long long top);

#endif
