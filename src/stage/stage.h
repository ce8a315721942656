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
/* Why an existing stage was not reused ("" when it was, or when none was asked for). */
const char *gmr__stage_note(const gmr__stage *st);

/* Collective. True (on every rank) when `phase` was completely written with this rank count. */
int gmr__stage_has(gmr__stage *st, const char *phase);
/* Collective. Writes every rank's tables (ntables of them, one after the other) as its
 * segment of `phase`, with a checksum per segment, then marks the phase complete. The phase is
 * safe from a killed process once the stage is closed; a phase cut short by a crash is
 * unmarked or fails its checksums, and is then recomputed, never used. */
#define GMR_STAGE_META 4 /* figures kept with a phase (the job's counts at that point) */
gmr_err gmr__stage_save(gmr__stage *st, const char *phase, gmr__kvt *const *tables, int ntables,
                        const uint64_t meta[GMR_STAGE_META], const char *text);
/* Collective. Loads this rank's segment of `phase` after verifying its checksum, each key into
 * tables[gmr__dest(hash, GMR_LEVEL_PROVINCE, ntables)] (the map's partition). A damaged
 * segment on any rank returns GMR_ERR_DATA on every rank (the tables may then hold part of the
 * data: the caller discards them and recomputes the phase). */
gmr_err gmr__stage_load(gmr__stage *st, const char *phase, gmr__kvt *const *tables, int ntables,
                        uint64_t meta[GMR_STAGE_META], char *text, size_t text_cap);

#endif
