/* supply_resume.c: `gridmr supply --resume`: which of supply's jobs an earlier run finished.
 *
 * Each supply job writes its result to a temporary file beside the output (OUTPUT.structured.h5,
 * OUTPUT.events.h5) and its map checkpoints to its stage, as every engine job does. When a run
 * is interrupted (SIGTERM, SIGINT, SIGUSR1: exit 75) or killed, the results of the jobs that
 * finished and the stage of the one that did not stay on disk. A finished job's result carries
 * the root attribute `supply_fingerprint`: the text of everything its rows depend on (gridmr
 * version, job, options text, --max-key, --max-record, and each input's path, size and
 * modification time in ns), written on rank 0 after the engine closed the file, so its presence
 * means the result is whole. With --resume a job whose result carries the fingerprint of this
 * run's inputs and options is not run again: its summary figures come back from the result's
 * attributes and its rejects from OUTPUT.JOB.h5.rejects. Any other job runs with the engine's
 * --resume, which reuses its stage's checkpoints when the stage's own fingerprint matches.
 *
 * The fingerprint leaves out the rank, province and thread counts, the split size and the
 * memory budget: the rows of a supply job do not depend on them (tests/run.sh section 11
 * checks 1..4 ranks, --threads and --mem-budget), so a requeued job that gets other nodes still
 * skips a finished job. (The engine's stage fingerprint does include them, so an unfinished
 * job is then mapped again from the start.) */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../sched/sched.h"
#include "../stage/h5util.h"
#include "gridmr/log.h"
#include "supply_impl.h"

#define FP_ATTR "supply_fingerprint"

gmr_err gmr__sup_fingerprint(const char *job, const gmr_options *o, const char *dir, const char *const *files,
                             int nfiles, char **text)
{
    gmr_err err = GMR_OK;
    size_t cap = 512, len;
    char *s = NULL;
    *text = NULL;
    for (int i = 0; i < nfiles; i++) cap += strlen(dir) + strlen(files[i]) + 64;
    s = malloc(cap);
    GMR_CHECK(s, GMR_ERR_NOMEM, "out of memory");
    len = (size_t)snprintf(s, cap, "gridmr %s\njob %s\noptions %s\nmax_key %llu\nmax_record %llu\n", GMR_VERSION_STRING,
                           job, o->options_text ? o->options_text : "", (unsigned long long)o->max_key,
                           (unsigned long long)o->max_record);
    for (int i = 0; i < nfiles && len < cap; i++) {
        struct stat st;
        size_t at = len + 6; /* where the path lands after "input " */
        len += (size_t)snprintf(s + len, cap - len, "input %s/%s", dir, files[i]);
        if (len >= cap) break;
        if (stat(s + at, &st) != 0) memset(&st, 0, sizeof st); /* a missing input matches nothing usable */
        len += (size_t)snprintf(s + len, cap - len, " %lld %lld\n", (long long)st.st_size,
                                (long long)st.st_mtim.tv_sec * 1000000000LL + (long long)st.st_mtim.tv_nsec);
    }
    GMR_CHECK(len < cap, GMR_ERR_INTERNAL, "the fingerprint of %s does not fit", job);
    *text = s;
    s = NULL;
out:
    free(s);
    return err;
}

/* Rank 0: 1 when out is a finished result of fingerprint fp; its figures into sum. Anything
 * unreadable or missing is "not finished" (the job then runs), never an error. */
static int finished(const char *out, const char *fp, gmr_summary *sum)
{
    static const char *const names[] = {"ranks", "provinces", "splits", "input_bytes", "records", "rejected", "keys",
                                        "shuffle_bytes", "rows"};
    uint64_t v[9] = {0};
    hid_t f = H5I_INVALID_HID, a = H5I_INVALID_HID;
    int ok = 0;
    size_t cap = strlen(fp) + 2;
    char *have = malloc(cap), *rpath = malloc(strlen(out) + 16);
    FILE *r = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!have || !rpath || H5Fis_hdf5(out) <= 0) goto out;
    if ((f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) goto out;
    if (H5Aexists(f, FP_ATTR) <= 0 || gmr__h5_attr_get_str(f, FP_ATTR, have, cap) || strcmp(have, fp) != 0) goto out;
    for (int i = 0; i < 9; i++) {
        a = H5Aopen(f, names[i], H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_UINT64, &v[i]) < 0) goto out;
        H5Aclose(a);
        a = H5I_INVALID_HID;
    }
    sum->first_reject[0] = 0;
    if (v[5]) { /* its rejects must still be there: they go into OUTPUT.rejects */
        snprintf(rpath, strlen(out) + 16, "%s.rejects", out);
        if (!(r = fopen(rpath, "r")) || !fgets(sum->first_reject, sizeof sum->first_reject, r)) goto out;
        sum->first_reject[strcspn(sum->first_reject, "\n")] = 0;
    }
    sum->ranks = (int)v[0];
    sum->provinces = (int)v[1];
    sum->splits = v[2];
    sum->input_bytes = v[3];
    sum->records = v[4];
    sum->rejected = v[5];
    sum->keys = v[6];
    sum->shuffle_bytes = v[7];
    sum->rows = v[8];
    ok = 1;
out:
    if (r) fclose(r);
    if (a >= 0) H5Aclose(a);
    if (f >= 0) H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    free(rpath);
    free(have);
    return ok;
}

gmr_err gmr__sup_job_done(MPI_Comm comm, const char *out, const char *fp, gmr_summary *sum, int *done)
{
    gmr_err err = GMR_OK;
    int rank;
    gmr_summary s;
    memset(&s, 0, sizeof s);
    *done = 0;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0 && fp) *done = finished(out, fp, &s);
    GMR_CALL_MPI(MPI_Bcast(done, 1, MPI_INT, 0, comm));
    if (!*done) goto out;
    GMR_CALL_MPI(MPI_Bcast(&s, (int)sizeof s, MPI_BYTE, 0, comm)); /* plain data: ints, counts, text */
    s.resumed = 1;
    s.splits_reused = s.splits;
    s.bytes_reused = s.input_bytes;
    snprintf(s.stage, sizeof s.stage, "-");
    *sum = s;
out:
    return err;
}

gmr_err gmr__sup_job_mark(MPI_Comm comm, const char *out, const char *fp)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    int rank;
    hid_t f = H5I_INVALID_HID;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) {
        f = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT);
        if (f < 0) {
            H5Eclear2(H5E_DEFAULT);
            local = GMR_ERROR(GMR_ERR_IO, "%s: cannot reopen the job result to mark it finished", out);
        } else {
            local = gmr__h5_attr_put_str(f, FP_ATTR, fp ? fp : "");
            if (H5Fclose(f) < 0 && !local) local = GMR_ERROR(GMR_ERR_HDF5, "%s: closing failed", out);
        }
    }
    GMR_CALL(gmr__agree(comm, local));
out:
    return err;
}
