/* status.c: exit statuses and error reports shared by the front ends of src/cli (status.h). */
#include <stdio.h>
#include <string.h>

#include "gridmr/log.h"
#include "status.h"

int gmr__cli_exit_status(gmr_err e)
{
    if (e == GMR_OK) return 0;
    if (e == GMR_ERR_DATA) return EXIT_DATAERR;
    if (e == GMR_ERR_INTERRUPTED) return EXIT_TEMPFAIL;
    if (e == GMR_ERR_ARG) return EXIT_USAGE;
    return 1;
}

void gmr__cli_report(const char *what)
{
    const char *msg = gmr_err_message();
    if (gmr_log_get_level() >= GMR_LOG_DEBUG)
        fprintf(stderr, "gridmr %s: %s\n", what, msg);
    else
        fprintf(stderr, "gridmr %s: %.*s\n", what, (int)strcspn(msg, "\n"), msg);
}
