/* result.h: reading a result file back (private; used by `gridmr dump` and the tests). */
#ifndef GMR_RESULT_H
#define GMR_RESULT_H

#include <stdint.h>

#include "gridmr/err.h"
#include "gridmr/mr.h"

typedef struct gmr__result {
    char job[64];
    int order;               /* gmr_order */
    uint64_t n;              /* rows */
    char *keys;
    uint64_t keys_len;
    uint64_t *koff;          /* n + 1 */
    int ncolumns;
    char **colnames;
    int *coltypes;           /* gmr_type */
    uint64_t *slots;         /* n * ncolumns (uint64_t or double bits) */
} gmr__result;

/* Not collective: reads the whole file on the calling process (part 0 of 1 below). */
gmr_err gmr__result_read(const char *path, gmr__result **res);
/* Not collective: rows [n x part / nparts, n x (part + 1) / nparts) of the file's n rows, so
 * that nparts processes reading parts 0..nparts-1 read every row once (hyperslab reads, each
 * process with the serial driver). res->koff starts at 0 for the first row read. */
gmr_err gmr__result_read_part(const char *path, int part, int nparts, gmr__result **res);
void gmr__result_free(gmr__result **res);

#endif
