/* opts.h: command-line options of the job commands (private to the front end). */
#ifndef GMR_CLI_OPTS_H
#define GMR_CLI_OPTS_H

#include <stdint.h>

#include "gridmr/mr.h"

typedef struct gmr__cli_opts {
    gmr_options job;
    char **inputs;
    int ninputs;
    const char *output, *key, *value;
    int quiet;
    int profile;       /* --profile: per-phase figures at the end (and in the result) */
    int checks;        /* events: 0 with --no-checks */
    char text[1024];   /* the options as given, stored in the result */
    char error[256];
} gmr__cli_opts;

/* "64M" -> 67108864. K/M/G are powers of 1024; a plain number is bytes. -1 on bad text. */
int gmr__parse_size(const char *text, uint64_t *bytes);
/* argv[0] is the command. 0 ok; nonzero with o->error set. */
int gmr__cli_parse(int argc, char **argv, gmr__cli_opts *o);
void gmr__cli_free(gmr__cli_opts *o);
int gmr__cli_dump(int argc, char **argv);

#endif
