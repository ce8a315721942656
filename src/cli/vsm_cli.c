/* vsm_cli.c: `gridmr vsm` (placeholder while the batch is written). */
#include <stdio.h>

#include "pf_cli.h"

void gmr__cli_vsm_usage(FILE *f) { fprintf(f, "usage: gridmr vsm --case FILE --points N --seed S --output VSM.h5\n"); }

int gmr__cli_vsm(MPI_Comm comm, int argc, char **argv)
{
    (void)comm; (void)argc; (void)argv;
    return 1;
}
