/*
 * gen.h - `gridmr gen`: deterministic synthetic input data for `make demo`, tests and benchmarks.
 *
 * The command-line front end dispatches `gridmr gen ...` here. Two families:
 *   --kind text|meter  one file, serial; depends on nothing else in gridmr (no MPI, no core
 *                      library), so tests and benchmark scripts can produce their inputs before
 *                      any engine code runs. See gen.c for the formats and the determinism contract.
 *   --kind power       (also when --kind is absent) a heterogeneous power-marketing data set in
 *                      a directory, generated in parallel under MPI by src/gen/; gen_power.c is
 *                      its front end and docs/data.md describes the files.
 */
#ifndef GMR_CLI_GEN_H
#define GMR_CLI_GEN_H

#include <mpi.h>
#include <stdio.h>

/*
 * Runs `gridmr gen`. argv[0] is "gen"; the options follow:
 *
 *   --kind text|meter --size SIZE --out FILE [--seed S] [--vocab N] [--zipf S] [--customers N]
 *
 * Returns the process exit status: 0 on success, 2 on a usage error (message and short usage
 * on stderr), 1 on an I/O or allocation error (one line `gridmr gen: FILE: reason` on stderr;
 * a partially written output file is removed). Not collective; prints only to stdout/stderr.
 */
int gmr_cli_gen(int argc, char **argv);

/* True when `gridmr gen` with these arguments (argv[0] is "gen") makes the power data set:
 * --kind power, or no --kind. --help always takes gmr_cli_gen, which prints every mode. Not
 * collective; called before MPI_Init. */
int gmr_cli_gen_is_power(int argc, char **argv);

/* Collective on comm. Runs `gridmr gen --kind power`. Returns the exit status on every rank:
 * 0 success (rank 0 prints a summary unless --quiet), 2 usage error (rank 0 prints it), 1 any
 * other error (printed once, by the rank that met it; the files written so far are removed). */
int gmr_cli_gen_power(MPI_Comm comm, int argc, char **argv);

/* The power mode's part of `gridmr gen --help`. */
void gmr__cli_gen_power_usage(FILE *fp);

#endif /* GMR_CLI_GEN_H */
