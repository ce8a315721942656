/* forecast_cli.h: `gridmr forecast` (forecast_cli.c), the front end of hourly load forecasting
 * (src/apps/forecast.c, docs/forecast.md). Private to the front end. */
#ifndef GMR_CLI_FORECAST_H
#define GMR_CLI_FORECAST_H

#include <mpi.h>
#include <stdio.h>

/* Collective on comm. argv[0] is "forecast". Returns the exit status, the same on every rank:
 * 0 ok, 2 usage (printed by rank 0), 65 bad input data, 1 any other error (printed once). */
int gmr_cli_forecast(MPI_Comm comm, int argc, char **argv);

/* `gridmr forecast --help`. */
void gmr__cli_forecast_usage(FILE *f);

#endif
