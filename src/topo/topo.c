/* topo.c: the headquarters + provinces topology.
 *
 * Rank 0 is headquarters (HQ): it plans the splits, hands them out and keeps the job's
 * catalogue. All ranks, HQ included, are divided into P provinces of contiguous ranks, each
 * with its own communicator (MPI_Comm_split): HQ computes as a member of province 0, so no core
 * idles. Shuffles first run inside a province (where the data was read: the paper's provincial
 * companies), and only the provinces' combined partials cross provinces. A third communicator
 * joins HQ and the province leaders (rank 0 of each province) for catalogue traffic. */
#include "topo.h"

#include <math.h>
#include <stdlib.h>

#include "gridmr/log.h"

int gmr__topo_default_provinces(int size)
{
    int p = (int)lround(sqrt((double)size));
    if (p < 1) p = 1;
    if (p > size) p = size;
    return p;
}

int gmr__topo_province_of(int rank, int size, int provinces)
{
    /* Province k holds ranks [floor(k*size/P), floor((k+1)*size/P)): sizes differ by at most
     * one, and province 0 (HQ's) is never larger than the others. */
    int k = provinces - 1;
    while (k > 0 && (long long)k * size / provinces > rank) k--;
    return k;
}

gmr_err gmr__topo_create(MPI_Comm comm, int provinces, gmr__topo **tp)
{
    gmr_err err = GMR_OK;
    gmr__topo *t = calloc(1, sizeof *t);
    GMR_CHECK(t, GMR_ERR_NOMEM, "cannot allocate the topology");
    t->world = t->prov = t->leaders = MPI_COMM_NULL;
    GMR_CALL_MPI(MPI_Comm_dup(comm, &t->world));
    GMR_CALL_MPI(MPI_Comm_set_errhandler(t->world, MPI_ERRORS_RETURN));
    GMR_CALL_MPI(MPI_Comm_rank(t->world, &t->rank));
    GMR_CALL_MPI(MPI_Comm_size(t->world, &t->size));
    if (provinces <= 0) provinces = gmr__topo_default_provinces(t->size);
    GMR_CHECK(provinces <= t->size, GMR_ERR_ARG, "--provinces %d is more than the %d ranks", provinces,
              t->size);
    t->provinces = provinces;
    t->province = gmr__topo_province_of(t->rank, t->size, provinces);
    GMR_CALL_MPI(MPI_Comm_split(t->world, t->province, t->rank, &t->prov));
    GMR_CALL_MPI(MPI_Comm_set_errhandler(t->prov, MPI_ERRORS_RETURN));
    GMR_CALL_MPI(MPI_Comm_rank(t->prov, &t->prank));
    GMR_CALL_MPI(MPI_Comm_size(t->prov, &t->psize));
    GMR_CALL_MPI(MPI_Comm_split(t->world, t->prank == 0 ? 0 : MPI_UNDEFINED, t->rank, &t->leaders));
    if (t->leaders != MPI_COMM_NULL) GMR_CALL_MPI(MPI_Comm_set_errhandler(t->leaders, MPI_ERRORS_RETURN));
    gmr_log(GMR_LOG_DEBUG, "province %d of %d, rank %d of %d in it", t->province, t->provinces, t->prank,
            t->psize);
    *tp = t;
    t = NULL;
out:
    gmr__topo_destroy(&t);
    return err;
}

void gmr__topo_destroy(gmr__topo **tp)
{
    gmr__topo *t;
    if (!tp || !*tp) return;
    t = *tp;
    if (t->leaders != MPI_COMM_NULL) MPI_Comm_free(&t->leaders);
    if (t->prov != MPI_COMM_NULL) MPI_Comm_free(&t->prov);
    if (t->world != MPI_COMM_NULL) MPI_Comm_free(&t->world);
    free(t);
    *tp = NULL;
}
