/* io.h: input files, record-aligned splits and record readers (private). */
#ifndef GMR_IO_H
#define GMR_IO_H

#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"
#include "gridmr/mr.h"

/* A growable byte buffer. */
typedef struct gmr__buf {
    char *data;
    size_t len, cap;
} gmr__buf;
gmr_err gmr__buf_reserve(gmr__buf *b, size_t cap);
void gmr__buf_free(gmr__buf *b);

/* pread() the whole range, retrying short reads and EINTR; *got < len only at end of file. */
gmr_err gmr__pread_full(int fd, const char *path, void *buf, size_t len, uint64_t off, size_t *got);

/* Move a split boundary b (0 < b < size) to the start of the next record: just after the first
 * '\n' at or after offset b-1, or to size when there is none. Reads forward in small windows,
 * so it costs one window per boundary unless records are long. Not collective. */
gmr_err gmr__split_align(int fd, const char *path, uint64_t size, uint64_t b, uint64_t *aligned);

/* Called per record (a line without its '\n'), with the file offset of its first byte.
 * overlong: the record was longer than max_record and is passed empty; the caller rejects it. */
typedef gmr_err (*gmr__line_fn)(void *ctx, const char *line, size_t len, uint64_t off, int overlong);
typedef gmr_err (*gmr__poll_fn)(void *ctx);

/* Stream the records of the aligned range [off, off+len) through buf in windows of `window`
 * bytes (grown up to max_record for long records), calling fn per record and poll (if not
 * NULL) after each window. Memory stays bounded whatever the split or record sizes. Returns
 * the number of records in *nrec. Not collective. */
gmr_err gmr__split_scan(int fd, const char *path, uint64_t off, uint64_t len, size_t window,
                        uint64_t max_record, gmr__buf *buf, gmr__line_fn fn, void *ctx,
                        gmr__poll_fn poll, void *pctx, uint64_t *nrec);

/* Split one CSV record (no line terminator; a trailing '\r' is removed) into fields, RFC 4180:
 * fields separated by ',', a field starting with '"' is quoted and "" inside it is one '"'.
 * Quoted fields are unescaped into `scratch`. Returns 0, or -1 with *why set (unterminated
 * quote, text after a closing quote). A quoted field holding a line break is not supported:
 * its record is cut at the break and reported as an unterminated quote. Not collective. */
int gmr__csv_split(const char *line, size_t len, gmr__buf *fields, gmr__buf *scratch, size_t *nfields,
                   const char **why);

/* ---- readers: how a line becomes a gmr_record ------------------------------------------ */

/* Version 2 added: parse may return GMR__REC_SKIP (not a record) or a gmr_err (a failure, not a
 * bad record), split_cap, and the jsonl and blob readers with their state. */
#define GMR_READER_OPS_VERSION 2

/* What parse returns besides 0 (a record for map) and a positive gmr_err (the job fails, the
 * error already recorded with GMR_ERROR). */
#define GMR__REC_BAD (-1)  /* a bad record: *why says why; the engine quarantines it */
#define GMR__REC_SKIP (-2) /* not a record (a blank line in a table): neither mapped nor counted */

typedef struct gmr__blob_state gmr__blob_state; /* blob.c */

typedef struct gmr__reader_state {
    gmr__buf fields, scratch;
    char why[512];          /* a reason built for this record (jansson's message, a blob's place) */
    void *json;             /* jsonl: the current record's object (json_t *), freed at the next */
    gmr__blob_state *blob;  /* blob: open files, read buffer, the current gmr_blob */
} gmr__reader_state;

typedef struct gmr__reader_ops {
    int version;
    const char *name;
    int has_header;  /* the first line of every file names the columns */
    /* Fill rec->data/len and the reader's fields from one line (rec->file, file_index and
     * header are set already). GMR_OK, GMR__REC_BAD with *why, GMR__REC_SKIP, or a gmr_err. */
    int (*parse)(gmr__reader_state *st, const char *line, size_t len, gmr_record *rec, const char **why);
    /* Version 2. Largest automatic split, bytes (0: the engine's rule). A reader whose lines
     * stand for much more data than their own bytes (a manifest line for a blob) caps it so
     * the work still spreads over the ranks. */
    uint64_t split_cap;
} gmr__reader_ops;

const gmr__reader_ops *gmr__reader_find(const char *name);
/* Accepts a zeroed state; leaves it zeroed (reusable). */
void gmr__reader_state_free(gmr__reader_state *st);

/* The reader tables defined outside reader.c. */
int gmr__jsonl_parse(gmr__reader_state *st, const char *line, size_t len, gmr_record *rec, const char **why);
void gmr__jsonl_state_free(gmr__reader_state *st);
int gmr__blob_parse(gmr__reader_state *st, const char *line, size_t len, gmr_record *rec, const char **why);
void gmr__blob_state_free(gmr__reader_state *st);
#define GMR__BLOB_SPLIT_CAP (4u << 10) /* about 40 manifest lines, some 6 MB of blobs */

#endif
