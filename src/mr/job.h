/* job.h: the job object's layout and the output rows (private). */
#ifndef GMR_JOB_H
#define GMR_JOB_H

#include "gridmr/mr.h"

/* Output rows of one rank: keys in an arena, one offset per row, ncolumns slots per row. */
struct gmr_output {
    size_t ncolumns;
    char *keys;
    uint64_t keys_len, keys_cap;
    uint64_t *koff;    /* n + 1 offsets into keys */
    uint64_t *slots;   /* n * ncolumns */
    uint64_t n, cap;
};

void gmr__output_free(struct gmr_output *o);

/* The attributes stored with a result. */
typedef struct gmr__result_meta {
    const char *job, *options;
    const gmr_job_ops *ops;
    const gmr_summary *summary;
    uint64_t top;             /* --top, 0: all rows */
} gmr__result_meta;

/* Collective on comm: write every rank's rows into one HDF5 file (parallel HDF5, collective
 * transfers). See docs/formats.md. */
gmr_err gmr__result_write(MPI_Comm comm, const char *path, const struct gmr_output *out,
                          const gmr__result_meta *meta);

/* Not collective (one process, after the collective write has closed the file): adds the
 * group /profile with the profile's figures as attributes (docs/formats.md, "Profile"). */
gmr_err gmr__result_put_profile(const char *path, const gmr_profile *p);

#endif
