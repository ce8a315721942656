/* topo.h: headquarters and provinces (private). */
#ifndef GMR_TOPO_H
#define GMR_TOPO_H

#include <mpi.h>

#include "gridmr/err.h"

typedef struct gmr__topo {
    MPI_Comm world;     /* duplicate of the job's communicator */
    int rank, size;     /* in world */
    int provinces;      /* P */
    int province;       /* this rank's province, 0..P-1 */
    MPI_Comm prov;      /* this rank's province */
    int prank, psize;   /* in prov */
    MPI_Comm leaders;   /* HQ and the province leaders (MPI_COMM_NULL on other ranks) */
} gmr__topo;

#define GMR_HQ 0

/* Default number of provinces for `size` ranks: round(sqrt(size)). */
int gmr__topo_default_provinces(int size);
/* Collective on comm. provinces <= 0 means the default; more than size is an error. */
gmr_err gmr__topo_create(MPI_Comm comm, int provinces, gmr__topo **topo);
void gmr__topo_destroy(gmr__topo **topo);
/* Province of a world rank (contiguous blocks, so a province is a set of neighbouring ranks:
 * on a cluster, neighbouring ranks share a node or a switch). */
int gmr__topo_province_of(int rank, int size, int provinces);

#endif
