/* gridmr/log.h: the one logger. Every line goes to stderr tagged with the rank and level,
 * so interleaved output from many ranks stays readable in a Slurm log. Results are not logged:
 * rank 0 of the command-line front end prints them on stdout. */
#ifndef GRIDMR_LOG_H
#define GRIDMR_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gmr_log_level {
    GMR_LOG_ERROR = 0,
    GMR_LOG_WARN = 1,
    GMR_LOG_INFO = 2,
    GMR_LOG_DEBUG = 3
} gmr_log_level;

/* Messages above this level are dropped. Default GMR_LOG_WARN, or the environment variable
 * GRIDMR_LOG=error|warn|info|debug read at the first message. Not collective. */
void gmr_log_set_level(gmr_log_level level);
gmr_log_level gmr_log_get_level(void);
/* The rank shown in the tag; -1 (the default) shows none. Not collective. */
void gmr_log_set_rank(int rank);

void gmr_log(gmr_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
