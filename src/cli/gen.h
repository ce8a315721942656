/*
 * gen.h - `gridmr gen`: deterministic synthetic input data for `make demo`, tests and benchmarks.
 *
 * The command-line front end dispatches `gridmr gen ...` here. The generator depends on nothing
 * else in gridmr (no MPI, no core library), so tests and benchmark scripts can produce their
 * inputs before any engine code runs. See gen.c for the formats and the determinism contract.
 */
#ifndef GMR_CLI_GEN_H
#define GMR_CLI_GEN_H

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

#endif /* GMR_CLI_GEN_H */
