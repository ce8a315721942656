/* stage.h: the job's staging store in parallel HDF5 (private). */
#ifndef GMR_STAGE_H
#define GMR_STAGE_H

#include <mpi.h>

#include "../mr/kvtable.h"
#include "gridmr/err.h"

typedef struct gmr__stage gmr__stage;

/* Collective on comm. Opens the stage file at `path` for a job whose options and inputs are
 * described by `fingerprint` (canonical text). With resume, an existing file made with the same
 * fingerprint is kept and its complete phases can be loaded; a missing, unreadable, truncated
 * or foreign file is replaced, and gmr__stage_note() says why. Without resume the file is
 * created afresh. */
gmr_err gmr__stage_open(MPI_Comm comm, const char *path, const char *fingerprint, int resume, gmr__stage **st);
/* Collective. Closes the file (accepts NULL, sets *st to NULL). */
void gmr__stage_close(gmr__stage **st);
/* The stage's communicator (the caller's, not duplicated). */
MPI_Comm gmr__stage_comm(const gmr__stage *st);
/* Collective. Closes and reopens the file, which puts everything written so far (data and
 * HDF5's cached metadata) in the kernel's hands: a process killed after this loses nothing. */
gmr_err gmr__stage_sync(gmr__stage *st);
/* Why an existing stage was not reused ("" when it was, or when none was asked for). */
const char *gmr__stage_note(const gmr__stage *st);

/* Collective. True (on every rank) when group `phase` was marked complete (gmr__stage_mark). */
int gmr__stage_has(gmr__stage *st, const char *phase);

/* ---- building blocks: segmented, checksummed byte datasets ------------------------------- */

/* Collective. Writes each rank's len bytes as its segment of the dataset `group`/`name` (the
 * group and its parents are created when missing; an existing dataset of that name is
 * replaced), in one collective transfer, with an (offset, length, XXH3) row per rank in
 * `group`/`name`_segments. */
gmr_err gmr__stage_put(gmr__stage *st, const char *group, const char *name, const void *buf, uint64_t len);
/* The same, the bytes coming from fill, which appends whole records to buf[*len..cap) while
 * they fit and returns 1 while some remain; len is this rank's total (exact), longest its
 * longest record. The segment is written in collective rounds of a few MiB through one
 * buffer, so it is never whole in memory a second time. */
typedef int (*gmr__stage_fill_fn)(void *ctx, char *buf, uint64_t cap, uint64_t *len);
gmr_err gmr__stage_put_fill(gmr__stage *st, const char *group, const char *name, uint64_t len, uint64_t longest,
                           gmr__stage_fill_fn fill, void *ctx);
/* Collective. The records of ntables tables, one after the other (the first in `order` when
 * given: gmr__kvt_sorted), in the shuffle's framing. *written (may be NULL): this rank's bytes. */
gmr_err gmr__stage_put_tables(gmr__stage *st, const char *group, const char *name, gmr__kvt *const *tables,
                              int ntables, const uint32_t *order, uint64_t *written);
/* Collective. Reads this rank's segment of `group`/`name` into *buf (malloc'd, *len bytes;
 * free it) and verifies its checksum. A missing dataset, one written by another rank count or
 * a damaged segment on any rank returns GMR_ERR_DATA on every rank. */
gmr_err gmr__stage_get(gmr__stage *st, const char *group, const char *name, char **buf, uint64_t *len);
/* Collective. Stores meta and text (attributes) on `group`, then marks it complete: the mark
 * is written last, so a group cut short by a crash is never taken for complete. */
#define GMR_STAGE_META 4 /* figures kept with a phase (the job's counts at that point) */
gmr_err gmr__stage_mark(gmr__stage *st, const char *group, const uint64_t meta[GMR_STAGE_META], const char *text);
/* Collective. Reads the meta and text of a marked group. */
gmr_err gmr__stage_meta(gmr__stage *st, const char *group, uint64_t meta[GMR_STAGE_META], char *text,
                        size_t text_cap);
/* Collective. The names of the subgroups of `group`, sorted (*names NULL and *n 0 when the
 * group does not exist). Free with gmr__stage_names_free. */
gmr_err gmr__stage_list(gmr__stage *st, const char *group, char ***names, int *n);
void gmr__stage_names_free(char ***names, int n);
/* Collective. Removes `group` (nothing when it does not exist). HDF5 keeps the file space for
 * reuse by later writes to the same file; it does not shrink the file. */
gmr_err gmr__stage_drop(gmr__stage *st, const char *group);

/* Reading a segment in pieces (the merge of sorted runs): open and close are collective, the
 * reads are independent and may differ in number between ranks. The checksum is verified when
 * the last byte has been read (GMR_ERR_DATA then, on this rank). */
typedef struct gmr__stage_stream gmr__stage_stream;
gmr_err gmr__stage_stream_open(gmr__stage *st, const char *group, const char *name, gmr__stage_stream **s);
/* Not collective. Reads up to cap bytes into dst; *got is 0 at the end. */
gmr_err gmr__stage_stream_read(gmr__stage_stream *s, char *dst, uint64_t cap, uint64_t *got);
/* Bytes of this rank's segment. */
uint64_t gmr__stage_stream_size(const gmr__stage_stream *s);
/* Collective: every rank that opened a stream closes it at the same point (accepts NULL, sets
 * *s to NULL). */
void gmr__stage_stream_close(gmr__stage_stream **s);

/* ---- tables -------------------------------------------------------------------------------- */

/* Collective. Writes every rank's tables (ntables of them, one after the other) as its
 * segment of `phase`/records, then marks the phase complete with meta and text. The phase is
 * safe from a killed process once the stage is closed; a phase cut short by a crash is
 * unmarked or fails its checksums, and is then recomputed, never used. */
gmr_err gmr__stage_save(gmr__stage *st, const char *phase, gmr__kvt *const *tables, int ntables,
                        const uint64_t meta[GMR_STAGE_META], const char *text);
/* Collective. Loads this rank's segment of `phase` after verifying its checksum, each key into
 * tables[gmr__dest(hash, GMR_LEVEL_PROVINCE, ntables)] (the map's partition). A damaged
 * segment on any rank returns GMR_ERR_DATA on every rank (the tables may then hold part of the
 * data: the caller discards them and recomputes the phase). */
gmr_err gmr__stage_load(gmr__stage *st, const char *phase, gmr__kvt *const *tables, int ntables,
                        uint64_t meta[GMR_STAGE_META], char *text, size_t text_cap);

#endif
