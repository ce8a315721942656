/* gridmr/mr.h: the MapReduce API for a user's own job.
 *
 * A job is a small ops table (map, optional combine, reduce, output columns) plus options and
 * input files. gmr_job_run() plans record-aligned splits at headquarters (rank 0), hands them
 * out on request, maps them, combines per rank, shuffles keys by hash inside each province,
 * combines again (the province-level reduce), merges the provinces' partials across the whole
 * communicator by a second hash shuffle, calls reduce once per key on the key's final owner and
 * writes the result collectively to one HDF5 file. See docs/architecture.md.
 *
 * Typical use (examples/letters.c is a complete program):
 *
 *     gmr_job job = NULL;
 *     GMR_CALL(gmr_job_create(MPI_COMM_WORLD, &my_ops, &my_ctx, &job));
 *     GMR_CALL(gmr_job_set_options(job, &opts));
 *     GMR_CALL(gmr_job_add_input(job, "data.txt"));
 *     GMR_CALL(gmr_job_run(job, "out.h5"));
 *     gmr_job_destroy(&job);
 */
#ifndef GRIDMR_MR_H
#define GRIDMR_MR_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GMR_VERSION_STRING "0.1.0"

/* ---- records given to map ---------------------------------------------------------------- */

/* One input record. For the "lines" reader: a line without its '\n'. For the "csv" reader: a
 * line without its line terminator (LF or CRLF), already split into fields (RFC 4180 quoting
 * removed), and the file's header fields. For the "jsonl" reader: a line holding one JSON
 * object, parsed (read it with gridmr/json.h). For the "blob" reader: a line of a blob
 * manifest, and the metadata of the blob it names (rec->blob). Pointers are valid during the
 * map call only. docs/formats.md, "Readers", says what each reader accepts and rejects. */
typedef struct gmr_field {
    const char *ptr;
    size_t len;
} gmr_field;

/* Media types the "blob" reader recognises by their first bytes (gmr_media_sniff). */
typedef enum gmr_media {
    GMR_MEDIA_UNKNOWN = 0,
    GMR_MEDIA_PNG,   /* 89 'PNG' 0d 0a 1a 0a */
    GMR_MEDIA_JPEG,  /* ff d8 ff */
    GMR_MEDIA_WAV,   /* 'RIFF' size 'WAVE' */
    GMR_MEDIA_MP3,   /* 'ID3' tag, or an MPEG audio frame sync */
    GMR_MEDIA_PDF,   /* '%PDF-' */
    GMR_NMEDIA
} gmr_media;

/* The type of the bytes p[0..n) by their signature (n >= 12 decides every type). Not collective. */
gmr_media gmr_media_sniff(const void *p, size_t n);
/* "png", "jpeg", "wav", "mp3", "pdf", "unknown"; and the MIME type ("image/png", ...,
 * "application/octet-stream"). Static strings; any value outside the enum is "unknown". */
const char *gmr_media_name(gmr_media m);
const char *gmr_media_mime(gmr_media m);

/* What the "blob" reader found out about one blob. */
typedef struct gmr_blob {
    const char *id;            /* the manifest's blob_id ("" without that column), NUL-terminated */
    const char *path;          /* the file holding it (the manifest's `file`, resolved) */
    uint64_t offset, size;     /* where in that file, bytes */
    gmr_media media;           /* sniffed from its first bytes */
    uint64_t xxh3;             /* XXH3-64 (seed 0) of its bytes */
} gmr_blob;

typedef struct gmr_record {
    const char *data;          /* the raw record bytes */
    size_t len;
    int file_index;            /* index of the input file, in gmr_job_add_input order */
    const char *file;          /* its path */
    size_t nfields;            /* csv reader only */
    const gmr_field *fields;
    size_t nheader;            /* csv and blob readers: the file's first line, split */
    const gmr_field *header;
    /* Appended after 0.1.0: jobs built before never look past `header`, so they keep working */
    uint64_t offset;           /* byte offset of the record (line) in its file; every reader */
    const void *json;          /* jsonl reader: the parsed object, a json_t * of jansson; read it
                                  with gmr_record_json() (gridmr/json.h). NULL for other readers */
    const gmr_blob *blob;      /* blob reader: the blob's metadata. NULL for other readers */
} gmr_record;

/* ---- callbacks --------------------------------------------------------------------------- */

typedef struct gmr_emitter gmr_emitter; /* passed to map; valid during the call */
typedef struct gmr_values gmr_values;   /* passed to reduce; iterates the key's values */
typedef struct gmr_output gmr_output;   /* passed to reduce; receives output rows */

/* map: called once per record. Emit zero or more key/value pairs with gmr_emit(), or reject
 * the record with gmr_reject() (it is then counted, written to OUT.h5.rejects with its file and
 * line, and stops the job under --strict). Return nonzero only for a real failure. */
typedef gmr_err (*gmr_map_fn)(void *ctx, const gmr_record *rec, gmr_emitter *em);

/* combine: acc = acc (+) val, both value_size bytes. Must be associative and commutative and
 * bit-exact whatever the order (so results do not depend on the rank count). Optional. */
typedef void (*gmr_combine_fn)(void *ctx, void *acc, const void *val);

/* reduce: called once per distinct key on the rank that owns the key, with all its values
 * (one value when the job has a combiner; otherwise every emitted value, ordered by bytes so
 * the order does not depend on the rank count). Emit output rows with gmr_output_row(). */
typedef gmr_err (*gmr_reduce_fn)(void *ctx, const void *key, size_t klen, gmr_values *vals,
                                 gmr_output *out);

/* Output columns: each row holds, per column, `width` 8-byte slots of the column's type. */
typedef enum gmr_type { GMR_TYPE_U64 = 1, GMR_TYPE_F64 = 2 } gmr_type;

typedef struct gmr_column {
    const char *name;
    gmr_type type;
} gmr_column;

/* How `gridmr dump` orders rows. */
typedef enum gmr_order {
    GMR_ORDER_KEY = 0,        /* key ascending by bytes */
    GMR_ORDER_FIRST_DESC = 1  /* first column descending, then key ascending */
} gmr_order;

#define GMR_JOB_OPS_VERSION 1

typedef struct gmr_job_ops {
    int version;              /* GMR_JOB_OPS_VERSION */
    const char *name;         /* stored in the result's "job" attribute */
    const char *reader;       /* "lines", "csv", "jsonl" or "blob" (docs/formats.md, "Readers") */
    size_t value_size;        /* bytes per value; required (> 0) with a combiner, else 0 = any */
    gmr_map_fn map;
    gmr_combine_fn combine;   /* NULL: values are grouped and all passed to reduce */
    gmr_reduce_fn reduce;
    size_t ncolumns;
    const gmr_column *columns;
    gmr_order order;
    /* Optional, for --threads > 1 (fields added in version 1; leave them NULL otherwise): a
     * private map context for each mapping thread. map is then called concurrently from
     * several threads, each with its own context (combine and reduce keep ctx and must only
     * read it). A job without them maps on one thread whatever --threads says. */
    gmr_err (*map_ctx_create)(void *ctx, void **thread_ctx);
    void (*map_ctx_destroy)(void *thread_ctx);
} gmr_job_ops;

gmr_err gmr_emit(gmr_emitter *em, const void *key, size_t klen, const void *val, size_t vlen);
gmr_err gmr_reject(gmr_emitter *em, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Next value of the key: 1 and (*val, *vlen) set, or 0 at the end. */
int gmr_values_next(gmr_values *vals, const void **val, size_t *vlen);
/* One output row: `slots` holds one 8-byte slot per column (uint64_t or double). */
gmr_err gmr_output_row(gmr_output *out, const void *key, size_t klen, const void *slots);

/* ---- options ----------------------------------------------------------------------------- */

#define GMR_AUTO_SPLIT_MIN (1u << 20)          /* --split-size default: input / (32 x ranks), */
#define GMR_AUTO_SPLIT_MAX (64u << 20)         /* clamped to [1 MiB, 64 MiB] */
#define GMR_TAIL_SPLITS 4u                     /* with 2+ ranks the last `ranks` automatic splits' */
#define GMR_TAIL_SPLIT_MIN (256u << 10)        /* bytes are cut 4 x finer, if that is >= 256 KiB */
#define GMR_DEFAULT_SHUFFLE_BUFFER (64u << 20) /* --shuffle-buffer, bytes sent per rank per round */
#define GMR_DEFAULT_MAX_KEY 4096u              /* --max-key, longest key in bytes */
#define GMR_DEFAULT_MAX_RECORD (64u << 20)     /* --max-record, longest record in bytes */
#define GMR_DEFAULT_CHECKPOINT 120.0           /* --checkpoint, seconds between map checkpoints */
#define GMR_DEFAULT_PROGRESS_INTERVAL 10.0     /* --progress-interval, seconds between progress
                                                  lines when stderr is not a terminal */

typedef struct gmr_options {
    int provinces;          /* 0: default, round(sqrt(ranks)) clamped to [1, ranks] */
    uint64_t split_size;    /* 0: input bytes / (32 x ranks), clamped to [1 MiB, 64 MiB], finer at the end */
    uint64_t shuffle_buffer;
    uint64_t max_key;
    uint64_t max_record;
    int strict;             /* stop at the first rejected record (gmr_job_run returns GMR_ERR_DATA) */
    const char *options_text; /* stored in the result's "options" attribute, and part of the stage
                                 fingerprint: it must name everything that changes the map output
                                 (for a user job: its parameters) */
    const char *stage_dir;  /* --stage: directory of the stage file OUT.stage.h5; NULL: beside
                               the output (see docs/formats.md) */
    int resume;             /* --resume: reuse the complete phases of a matching stage */
    uint64_t mem_budget;    /* --mem-budget: bytes per rank for the job's tables (0: no limit).
                               Past a quarter of it, the map checkpoints and the shuffle spills
                               sorted runs to the stage; the reduce merges them. The output is
                               the same with or without a budget. */
    int threads;            /* --threads: mapping threads per rank (0 or 1: the rank's own
                               thread). Needs MPI_THREAD_FUNNELED and a job with
                               map_ctx_create; see docs/architecture.md for when it pays */
    uint64_t top;           /* --top: keep only the first N rows in the job's order (0: all).
                               A reduce-side option: not part of the stage fingerprint, so a
                               --resume with another N reuses the staged map output */
    double checkpoint;      /* --checkpoint: seconds of map between checkpoints to the stage
                               (0: GMR_DEFAULT_CHECKPOINT; < 0: only at the end of the map) */
    /* Appended after 0.1.0 (zero keeps the old behaviour): */
    int progress;           /* 1: HQ reports progress on stderr (the `gridmr` command sets it
                               unless --quiet): a redrawn bar on a terminal, else a plain line
                               every progress_interval seconds. 0: silent */
    double progress_interval; /* --progress-interval: seconds between plain lines
                               (0: GMR_DEFAULT_PROGRESS_INTERVAL) */
    int profile;            /* --profile: also store the run's profile (gmr_job_get_profile) in
                               the result file, group /profile */
} gmr_options;

/* Fill with defaults (all zero means default). Not collective. */
void gmr_options_init(gmr_options *opt);

/* ---- the job ----------------------------------------------------------------------------- */

typedef struct gmr_job_s *gmr_job;

/* Collective on comm (duplicates it). ops and ctx must outlive the job. */
gmr_err gmr_job_create(MPI_Comm comm, const gmr_job_ops *ops, void *ctx, gmr_job *job);
/* Not collective; must be identical on every rank. */
gmr_err gmr_job_set_options(gmr_job job, const gmr_options *opt);
gmr_err gmr_job_add_input(gmr_job job, const char *path);
/* Collective on the job's communicator. Returns the same code on every rank (the worst one
 * when several ranks fail); gmr_err_is_remote() is true on the ranks that only learned of it,
 * and the reporting rank's message says why. A
 * missing or unreadable input fails before any work with GMR_ERR_IO; a rejected record under
 * strict fails with GMR_ERR_DATA. */
gmr_err gmr_job_run(gmr_job job, const char *output_path);

/* Figures of the last run, identical on every rank. */
typedef struct gmr_summary {
    int ranks, provinces;
    uint64_t splits, input_bytes, records, rejected, keys, shuffle_bytes;
    uint64_t rows;          /* rows in the result: keys, or fewer with --top */
    double t_plan, t_map, t_shuffle, t_stage, t_reduce, t_write, t_total; /* max over ranks, seconds */
    char first_reject[512]; /* "file:line: reason" of the first rejected record (by file, line) */
    char stage[4096];       /* the stage file */
    int resumed;            /* 1: the whole map came from the stage (--resume) */
    uint64_t splits_reused; /* splits whose map output came from the stage (--resume) */
    uint64_t bytes_reused;  /* their input bytes */
    uint64_t checkpoints;   /* map runs written to the stage by this run */
    uint64_t spill_bytes;   /* bytes of sorted runs spilled under --mem-budget (all ranks) */
    uint64_t peak_rss;      /* largest peak resident memory of a rank, bytes (getrusage) */
    char stage_note[512];   /* why a stage was not reused, "" otherwise */
} gmr_summary;
gmr_err gmr_job_get_summary(gmr_job job, gmr_summary *s);

/* ---- the profile of the last run (--profile) ---------------------------------------------- */

/* Phases in the order of gmr_profile.phase: plan (HQ: inputs checked, splits cut), map (map
 * and combine; reading included), shuffle (both levels), stage (writing checkpoints and
 * spills), reduce, write (the collective result write). */
#define GMR_NPHASES 6

typedef struct gmr_phase_profile {
    const char *name;            /* "plan", "map", "shuffle", "stage", "reduce", "write" */
    double t_min, t_avg, t_max;  /* seconds, across ranks */
    double imbalance;            /* t_max / t_avg (1: balanced; 0 when t_avg is 0) */
    /* sums over ranks; what each counts is in docs/formats.md ("Profile"):
     *   plan: bytes_in = input bytes, records_out = splits
     *   map: records_in = records read, bytes_in = input bytes read (this run: splits reused
     *        from a stage are not read), records_out = pairs emitted, bytes_out = their key and
     *        value bytes
     *   shuffle: bytes_in = bytes sent, records_out = keys owned after it, bytes_out = their
     *        table bytes (0 for what went to spilled runs)
     *   stage: bytes_out = record bytes of checkpoints and spills
     *   reduce: records_in = keys reduced, records_out = rows, bytes_out = their key and slot bytes
     *   write: records_in = rows written (after --top), bytes_out = bytes of keys, offsets and
     *        columns */
    uint64_t records_in, records_out, bytes_in, bytes_out;
} gmr_phase_profile;

typedef struct gmr_profile {
    int ranks;
    gmr_phase_profile phase[GMR_NPHASES];
    uint64_t shuffle_bytes, spill_bytes;   /* sums over ranks */
    /* per rank, owned by the job (valid until its next run or destroy): */
    const double *rank_time;               /* [ranks x GMR_NPHASES]: rank r's phase p at r*6+p */
    const uint64_t *rank_peak_rss;         /* [ranks] peak resident memory, bytes (getrusage) */
    const uint64_t *rank_shuffle_bytes;    /* [ranks] bytes each rank sent in the shuffle */
    const uint64_t *rank_spill_bytes;      /* [ranks] bytes each rank spilled or checkpointed */
} gmr_profile;

/* Figures of the last run, identical on every rank (gathered once at the end of gmr_job_run:
 * one MPI_Allgather of ~30 numbers per rank). With gmr_options.profile set, the same figures
 * are stored in the result file (group /profile, docs/formats.md). Not collective.
 * GMR_ERR_ARG before any run, or when the last run failed. */
gmr_err gmr_job_get_profile(gmr_job job, gmr_profile *p);

/* Async-signal-safe: asks the running job of this process to stop at its next check (after
 * each 1 MiB read window of the map, and between phases). Call it from a SIGTERM handler (the
 * `gridmr` command does). gmr_job_run then returns GMR_ERR_INTERRUPTED on every rank, once
 * every rank has seen the request (Slurm and mpirun signal them all) or one rank reports it;
 * what was staged stays for --resume. */
void gmr_interrupt(void);

/* Accepts NULL; sets *job to NULL. Not collective (frees the duplicated communicator). */
void gmr_job_destroy(gmr_job *job);

#ifdef __cplusplus
}
#endif
#endif
