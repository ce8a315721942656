/* peak.c: a complete user job on the gridmr C API.
 *
 * Per customer of a meter-reading CSV (columns customer_id and kwh, as `gridmr gen --kind
 * meter` writes), find the number of readings and the peak reading. It has no combiner on
 * purpose, to show the general form: reduce receives every value of a key (sorted by bytes, so
 * the result does not depend on the rank count).
 *
 *   mpirun -np 4 ./peak OUT.h5 meter.csv [more.csv ...]
 *   gridmr dump OUT.h5
 */
#include <gridmr/apps.h>
#include <gridmr/mr.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct peak_ctx {
    int id_col, kwh_col, file; /* column indices, looked up once per file */
} peak_ctx;

static int find(const gmr_record *rec, const char *name)
{
    for (size_t i = 0; i < rec->nheader; i++)
        if (rec->header[i].len == strlen(name) && memcmp(rec->header[i].ptr, name, rec->header[i].len) == 0)
            return (int)i;
    return -1;
}

static gmr_err peak_map(void *vctx, const gmr_record *rec, gmr_emitter *em)
{
    peak_ctx *ctx = vctx;
    char num[64], *end;
    double kwh;
    const gmr_field *f;
    if (ctx->file != rec->file_index) {
        ctx->id_col = find(rec, "customer_id");
        ctx->kwh_col = find(rec, "kwh");
        ctx->file = rec->file_index;
    }
    if (ctx->id_col < 0 || ctx->kwh_col < 0) return gmr_reject(em, "no customer_id or kwh column");
    if ((size_t)ctx->id_col >= rec->nfields || (size_t)ctx->kwh_col >= rec->nfields)
        return gmr_reject(em, "too few fields");
    f = &rec->fields[ctx->kwh_col];
    if (f->len == 0 || f->len >= sizeof num) return gmr_reject(em, "bad kwh");
    memcpy(num, f->ptr, f->len);
    num[f->len] = '\0';
    kwh = strtod(num, &end);
    if (*end || !isfinite(kwh)) return gmr_reject(em, "kwh '%s' is not a number", num);
    return gmr_emit(em, rec->fields[ctx->id_col].ptr, rec->fields[ctx->id_col].len, &kwh, sizeof kwh);
}

static gmr_err peak_reduce(void *vctx, const void *key, size_t klen, gmr_values *vals, gmr_output *out)
{
    const void *v;
    size_t vlen;
    double peak = -INFINITY, x;
    uint64_t n = 0, slots[2];
    (void)vctx;
    while (gmr_values_next(vals, &v, &vlen)) {
        memcpy(&x, v, sizeof x);
        if (x > peak) peak = x;
        n++;
    }
    slots[0] = n;
    memcpy(&slots[1], &peak, sizeof peak);
    return gmr_output_row(out, key, klen, slots);
}

static const gmr_column peak_columns[] = {{"readings", GMR_TYPE_U64}, {"peak_kwh", GMR_TYPE_F64}};

static const gmr_job_ops peak_ops = {
    GMR_JOB_OPS_VERSION, "peak", "csv", 0, peak_map, NULL, peak_reduce, 2, peak_columns, GMR_ORDER_KEY,
    NULL, NULL, /* no per-thread map context: this job maps on one thread */
};

int main(int argc, char **argv)
{
    gmr_err err = GMR_OK;
    gmr_job job = NULL;
    gmr_options opt;
    gmr_summary sum;
    peak_ctx ctx = {-1, -1, -1};
    int rank;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc < 3) {
        if (rank == 0) fprintf(stderr, "usage: peak OUT.h5 FILE...\n");
        MPI_Finalize();
        return 2;
    }
    gmr_options_init(&opt);
    GMR_CALL(gmr_job_create(MPI_COMM_WORLD, &peak_ops, &ctx, &job));
    GMR_CALL(gmr_job_set_options(job, &opt));
    for (int i = 2; i < argc; i++) GMR_CALL(gmr_job_add_input(job, argv[i]));
    GMR_CALL(gmr_job_run(job, argv[1]));
    GMR_CALL(gmr_job_get_summary(job, &sum));
    if (rank == 0)
        printf("peak: %llu customers from %llu readings (%llu rejected) in %.2f s\n", (unsigned long long)sum.keys,
               (unsigned long long)sum.records, (unsigned long long)sum.rejected, sum.t_total);
out:
    if (err && !gmr_err_is_remote()) fprintf(stderr, "peak: %s\n", gmr_err_message());
    gmr_job_destroy(&job);
    MPI_Finalize();
    return err ? 1 : 0;
}
