/* blobs.c: an inventory of blobs ("blob" reader): per type sniffed from the bytes, the number
 * of blobs and their bytes.
 *
 * The reader does the work (reads each blob named by the manifest, sniffs it, hashes it, and
 * quarantines those whose hash or type disagree with the manifest); this job only counts what
 * passed. The mismatches are the job's rejected records, each with the blob's file and
 * offset in OUT.h5.rejects. */
#include <string.h>

#include "gridmr/apps.h"

static gmr_err blobs_map(void *ctx, const gmr_record *rec, gmr_emitter *em)
{
    uint64_t v[2] = {1, rec->blob->size};
    const char *name = gmr_media_name(rec->blob->media);
    (void)ctx;
    return gmr_emit(em, name, strlen(name), v, sizeof v);
}

static void blobs_combine(void *ctx, void *acc, const void *val)
{
    uint64_t a[2], b[2];
    (void)ctx;
    memcpy(a, acc, sizeof a);
    memcpy(b, val, sizeof b);
    a[0] += b[0];
    a[1] += b[1];
    memcpy(acc, a, sizeof a);
}

static gmr_err blobs_reduce(void *ctx, const void *key, size_t klen, gmr_values *vals, gmr_output *out)
{
    const void *val;
    size_t vlen;
    (void)ctx;
    if (!gmr_values_next(vals, &val, &vlen)) return GMR_OK;
    return gmr_output_row(out, key, klen, val);
}

static const gmr_column blobs_columns[] = {{"count", GMR_TYPE_U64}, {"bytes", GMR_TYPE_U64}};

/* The map keeps no state: every mapping thread shares the (empty) context. */
static gmr_err blobs_map_ctx_create(void *ctx, void **thread_ctx)
{
    *thread_ctx = ctx;
    return GMR_OK;
}

static void blobs_map_ctx_destroy(void *thread_ctx) { (void)thread_ctx; }

const gmr_job_ops gmr_blobs_ops = {
    GMR_JOB_OPS_VERSION, "blobs", "blob", 2 * sizeof(uint64_t), blobs_map, blobs_combine, blobs_reduce,
    2, blobs_columns, GMR_ORDER_KEY, blobs_map_ctx_create, blobs_map_ctx_destroy};
