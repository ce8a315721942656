/* power.c - `gridmr gen --kind power`: plan, then three passes over blocks, then close.
 *
 * Every rank computes the same plan (plan.c) from the options. Pass 1 cuts the customers into
 * blocks of about --block bytes; pass 2 takes one province per block (weather and outages);
 * pass 3 the blobs, pack by pack. In each pass rank r generates blocks r, r + ranks, ... and
 * writer.c lays each round's blocks out in block order, so the files are the same bytes on any
 * number of ranks; a rank with no block in a round still takes part with an empty one. Every
 * round starts with an agreement on the ranks' status, so a failure anywhere stops all ranks
 * together and the writer removes what was written. The passes are timed on every rank; the
 * report gives the slowest rank's times and the generation time summed over ranks.
 */
#include "power.h"

#include <stdlib.h>
#include <string.h>

#include "../sched/sched.h"
#include "dataset.h"
#include "gridmr/log.h"
#include "writer.h"

void gmr__power_opts_init(gmr__power_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->provinces = GMR_GEN_DEFAULT_PROVINCES;
    gmr__parse_date(GMR_GEN_DEFAULT_START, &o->start);
    o->mislabel_ppb = GMR_GEN_DEFAULT_MISLABEL_PPB;
    o->mix[0] = GMR_GEN_DEFAULT_MIX_S;
    o->mix[1] = GMR_GEN_DEFAULT_MIX_J;
    o->mix[2] = GMR_GEN_DEFAULT_MIX_U;
    o->pack = GMR_GEN_DEFAULT_PACK;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

/* Pass 1: blocks of plan->cust_per_block customers. */
static gmr_err pass_customers(const gmr__genplan *p, gmr__writer *w, int rank, int size, gmr__block *b, double *gen,
                              uint64_t *bytes)
{
    gmr_err err = GMR_OK;
    uint64_t nblocks = ceil_div(p->customers, p->cust_per_block), rounds = ceil_div(nblocks, (uint64_t)size);
    for (uint64_t k = 0; k < rounds; k++) {
        uint64_t blk = k * (uint64_t)size + (uint64_t)rank, first = blk * p->cust_per_block;
        gmr_err local = GMR_OK;
        if (blk < nblocks) {
            double t = MPI_Wtime();
            uint64_t n = p->customers - first < p->cust_per_block ? p->customers - first : p->cust_per_block;
            local = gmr__gen_customers(p, first, n, b);
            *gen += MPI_Wtime() - t;
            for (int f = 0; f < GMR_NFILES; f++) *bytes += b->out[f].len;
        }
        GMR_CALL(gmr__writer_round(w, b, local));
        gmr__block_reset(b);
    }
out:
    return err;
}

/* Pass 2: one province a block. */
static gmr_err pass_provinces(const gmr__genplan *p, gmr__writer *w, int rank, int size, gmr__block *b)
{
    gmr_err err = GMR_OK;
    uint64_t rounds = ceil_div(p->provinces, (uint64_t)size);
    for (uint64_t k = 0; k < rounds; k++) {
        uint64_t prov = k * (uint64_t)size + (uint64_t)rank;
        gmr_err local = prov < p->provinces ? gmr__gen_province(p, (unsigned)prov, b) : GMR_OK;
        GMR_CALL(gmr__writer_round(w, b, local));
        gmr__block_reset(b);
    }
out:
    return err;
}

/* Pass 3: the blobs, pack by pack; a block's blobs go straight into the pack at their planned
 * offsets, their manifest rows through the writer's rounds. */
static gmr_err pass_blobs(MPI_Comm comm, const gmr__genplan *p, gmr__writer *w, int rank, int size, gmr__block *b)
{
    gmr_err err = GMR_OK;
    unsigned char *buf = NULL;
    uint64_t blk = 0;
    gmr_err local = GMR_OK;
    if (p->nblobs > 0 && !(buf = malloc(p->max_blob))) local = GMR_ERROR(GMR_ERR_NOMEM, "no memory for a blob");
    GMR_CALL(gmr__agree(comm, local));
    for (uint32_t pk = 0; pk < p->npacks; pk++) {
        uint64_t first = blk; /* the pack's blocks: [first, blk) */
        while (blk < p->nblob_blocks && p->blob_block_first[blk] < p->pack_first[pk + 1]) blk++;
        GMR_CALL(gmr__writer_pack_open(w, pk));
        uint64_t rounds = ceil_div(blk - first, (uint64_t)size);
        for (uint64_t k = 0; k < rounds; k++) {
            uint64_t mine = first + k * (uint64_t)size + (uint64_t)rank;
            if (mine < blk)
                for (uint64_t i = p->blob_block_first[mine]; i < p->blob_block_first[mine + 1] && !local; i++) {
                    local = gmr__gen_blob(p, i, buf, b);
                    if (!local) local = gmr__writer_pack_write(w, p->blobs[i].offset, buf, p->blobs[i].size);
                }
            GMR_CALL(gmr__writer_round(w, b, local));
            gmr__block_reset(b);
        }
        GMR_CALL(gmr__writer_pack_close(w));
    }
out:
    free(buf);
    return err;
}

gmr_err gmr__power_generate(MPI_Comm comm, const gmr__power_opts *o, gmr__power_report *rep)
{
    gmr_err err = GMR_OK;
    gmr__genplan *plan = NULL;
    gmr__writer *w = NULL;
    gmr__block b;
    int rank = 0, size = 1, failed = 1;
    double t0 = MPI_Wtime(), t, times[4] = {0, 0, 0, 0}, gen = 0, maxt[4], gen_sum = 0;
    uint64_t pass_bytes = 0;
    gmr__power_report r;
    memset(&b, 0, sizeof b);
    memset(&r, 0, sizeof r);

    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    GMR_CALL(gmr__agree(comm, gmr__genplan_create(o, &plan)));
    if (rank == 0)
        gmr_log(GMR_LOG_INFO, "gen: %llu customers, %u days, %u provinces, %llu blobs in %u packs, %.3f events a customer-day",
                (unsigned long long)plan->customers, plan->days, plan->provinces, (unsigned long long)plan->nblobs,
                plan->npacks, plan->event_rate / 1e6);
    GMR_CALL(gmr__writer_create(comm, o->dir, plan->defect_thr != 0, &w));

    t = MPI_Wtime();
    GMR_CALL(pass_customers(plan, w, rank, size, &b, &gen, &pass_bytes));
    times[1] = MPI_Wtime() - t;
    t = MPI_Wtime();
    GMR_CALL(pass_provinces(plan, w, rank, size, &b));
    times[2] = MPI_Wtime() - t;
    t = MPI_Wtime();
    GMR_CALL(pass_blobs(comm, plan, w, rank, size, &b));
    times[3] = MPI_Wtime() - t;
    GMR_CALL(gmr__writer_finish(w, r.bytes, r.lines, &r.defects));
    times[0] = MPI_Wtime() - t0;
    gmr_log(GMR_LOG_INFO, "gen: %.3f s generating customers (%.1f MB), %.3f s writing, %.3f s in all", gen,
            (double)pass_bytes / 1e6, gmr__writer_seconds(w), times[0]);

    GMR_CALL_MPI(MPI_Allreduce(times, maxt, 4, MPI_DOUBLE, MPI_MAX, comm));
    GMR_CALL_MPI(MPI_Allreduce(&gen, &gen_sum, 1, MPI_DOUBLE, MPI_SUM, comm));
    GMR_CALL_MPI(MPI_Allreduce(&pass_bytes, &r.customers_pass_bytes, 1, MPI_UINT64_T, MPI_SUM, comm));
    r.ranks = size;
    r.provinces = plan->provinces;
    r.start = plan->start;
    r.days = plan->days;
    r.customers = plan->customers;
    memcpy(r.budget, plan->budget, sizeof r.budget);
    r.blobs = plan->nblobs;
    r.packs = plan->npacks;
    for (uint32_t k = 0; k < plan->npacks; k++) r.blob_bytes += plan->pack_bytes[k];
    r.t_total = maxt[0];
    memcpy(r.t_pass, maxt + 1, sizeof r.t_pass);
    r.t_gen_customers = gen_sum;
    if (rep) *rep = r;
    failed = 0;
out:
    gmr__writer_destroy(&w, failed);
    gmr__block_free(&b);
    gmr__genplan_destroy(&plan);
    return err;
}
