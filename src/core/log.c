/* log.c: the rank-tagged logger (see gridmr/log.h). One fprintf per message so lines from
 * different ranks interleave whole; no locking beyond what stdio does. */
#include "gridmr/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int log_level = -1;
static int log_rank = -1;

static const char *level_name[] = {"error", "warn", "info", "debug"};

void gmr_log_set_level(gmr_log_level level) { log_level = (int)level; }

gmr_log_level gmr_log_get_level(void)
{
    if (log_level < 0) {
        const char *env = getenv("GRIDMR_LOG");
        log_level = GMR_LOG_WARN;
        for (int i = 0; env && i < 4; i++)
            if (strcmp(env, level_name[i]) == 0) log_level = i;
    }
    return (gmr_log_level)log_level;
}

void gmr_log_set_rank(int rank) { log_rank = rank; }

void gmr_log(gmr_log_level level, const char *fmt, ...)
{
    char line[2048];
    int n;
    va_list ap;
    if ((int)level > (int)gmr_log_get_level()) return;
    if (log_rank >= 0)
        n = snprintf(line, sizeof line, "[gridmr %d %s] ", log_rank, level_name[level]);
    else
        n = snprintf(line, sizeof line, "[gridmr %s] ", level_name[level]);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
