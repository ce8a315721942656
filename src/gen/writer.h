/* writer.h - puts the blocks of a power-marketing data set into its files, in block order,
 * whatever rank made them (private to src/gen/ and its tests). */
#ifndef GMR_GEN_WRITER_H
#define GMR_GEN_WRITER_H

#include <mpi.h>

#include "dataset.h"

typedef struct gmr__writer gmr__writer;

/* Collective on comm. Creates dir (with its parents), creates or empties every text file of a
 * data set and writes its header, removes blob packs (blobs-*.bin) left by an earlier run, and
 * opens the files with MPI-IO on every rank. defects: keep corrupt.csv filled (when the
 * corrupt rate is 0 it stays a header). Fails alike on every rank, leaving nothing behind. */
gmr_err gmr__writer_create(MPI_Comm comm, const char *dir, int defects, gmr__writer **w);

/* Collective. One round: every rank passes the block it generated (empty when it had none)
 * and its status; the statuses are agreed first (an error anywhere fails the round on every
 * rank). Then every file's bytes of the round go after the previous round's, rank after rank,
 * at offsets from an MPI_Allgather of the block sizes, and the blocks' defects, with their
 * lines and offsets made global, are appended to corrupt.csv the same way. Blocks handed out
 * round-robin in block order therefore land in block order. A failed write is reported at the
 * next round (or by gmr__writer_finish) on every rank. Cost: one Allreduce, one or two
 * Allgathers of (2 x files + 1) numbers per rank, and the writes. */
gmr_err gmr__writer_round(gmr__writer *w, const gmr__block *b, gmr_err local);

/* Collective. Creates (or empties) blobs-<pack>.bin and opens it on every rank. */
gmr_err gmr__writer_pack_open(gmr__writer *w, uint32_t pack);
/* Not collective. Writes len bytes at offset of the open pack; a failure is also kept for the
 * next round's agreement. */
gmr_err gmr__writer_pack_write(gmr__writer *w, uint64_t offset, const void *buf, size_t len);
/* Collective. Closes the open pack. */
gmr_err gmr__writer_pack_close(gmr__writer *w);

/* Collective. Agrees on every rank's last status and closes the files. bytes and lines get the
 * totals per file (headers included), defects the rows of corrupt.csv; the same on every rank. */
gmr_err gmr__writer_finish(gmr__writer *w, uint64_t bytes[GMR_NFILES], uint64_t lines[GMR_NFILES], uint64_t *defects);

/* Collective. Closes whatever is still open and frees w (accepts NULL, sets *w to NULL). With
 * remove (after a failure), rank 0 deletes the data set's files and the directories that
 * gmr__writer_create made. */
void gmr__writer_destroy(gmr__writer **w, int remove);

/* Seconds this rank spent in writes. */
double gmr__writer_seconds(const gmr__writer *w);

#endif /* GMR_GEN_WRITER_H */
