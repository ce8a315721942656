/* shuffle.h: hash-partitioned exchange of a key/value table (private). */
#ifndef GMR_SHUFFLE_H
#define GMR_SHUFFLE_H

#include <mpi.h>

#include "kvtable.h"

/* Which hash bits choose the destination: the province level and the cross-province level use
 * independent bits, so the second level spreads keys that the first one put together. */
typedef enum gmr__level { GMR_LEVEL_PROVINCE = 1, GMR_LEVEL_GLOBAL = 2 } gmr__level;

static inline int gmr__dest(uint64_t hash, gmr__level level, int size)
{
    return level == GMR_LEVEL_PROVINCE ? (int)((uint32_t)hash % (uint32_t)size)
                                       : (int)((uint32_t)(hash >> 32) % (uint32_t)size);
}

/* Collective on comm. Sends every (key, value) to rank gmr__dest(hash) of comm and inserts
 * what arrives into dst (combining there in combine mode). src is either one table (nsrc == 1)
 * holding keys for any rank, or one table per rank (nsrc == size of comm) where src[d] holds
 * exactly the keys bound for rank d and src[rank] is dst itself: the keys a rank keeps are then
 * neither copied nor re-inserted. Runs in rounds of at most about `buffer` bytes sent per rank
 * (counts exchanged with MPI_Alltoall first, then MPI_Alltoallv), until every rank is done;
 * totals are 64-bit. The other source tables are left as they were. */
gmr_err gmr__shuffle(MPI_Comm comm, gmr__kvt *const *src, int nsrc, gmr__level level, uint64_t buffer,
                     gmr__kvt *dst, uint64_t *bytes_sent, uint64_t *rounds);

/* The shuffle's framing as a table's byte form, also used by the stage: serialize every
 * (key, value) of t into *buf (grown as needed; *len set), and insert such bytes into a table
 * (combining in combine mode). Not collective. */
gmr_err gmr__kvt_serialize(const gmr__kvt *t, char **buf, uint64_t *cap, uint64_t *len);
/* Framing a table in bounded pieces (the stage's writes): a cursor over t's entries (in the
 * given order, or table order when NULL). gmr__kvt_framed_size gives the bytes of all records
 * and the longest one; gmr__kvt_cursor_fill appends whole records to buf[*len..cap) while they
 * fit and returns 1 while records remain. Not collective. */
typedef struct gmr__kvt_cursor {
    const gmr__kvt *t;
    const uint32_t *order;
    uint64_t pos, vcur;
} gmr__kvt_cursor;
void gmr__kvt_framed_size(const gmr__kvt *t, uint64_t *bytes, uint64_t *longest);
int gmr__kvt_cursor_fill(gmr__kvt_cursor *c, char *buf, uint64_t cap, uint64_t *len);
gmr_err gmr__kvt_ingest(gmr__kvt *dst, const char *buf, uint64_t len);
/* The same into the map's partition: each key into parts[gmr__dest(hash, GMR_LEVEL_PROVINCE, nparts)]. */
gmr_err gmr__kvt_ingest_parts(gmr__kvt *const *parts, int nparts, const char *buf, uint64_t len);

#endif
