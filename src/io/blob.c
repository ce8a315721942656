/* blob.c: the "blob" reader. Its input is a manifest: a CSV file whose rows name blobs stored
 * elsewhere (columns file, offset, length; optional blob_id, mime, xxh3), as `gridmr gen`
 * writes for its packs. A record is a manifest row; the reader reads the blob it names and
 * hands map its metadata: size, type sniffed from the first bytes, XXH3-64 of the content.
 *
 * Why the manifest and not the packs: packs have no framing, so only the index knows where a
 * blob ends, and a manifest row is a line, which the scheduler already splits on. The cost is
 * balance: a 100-byte row stands for ~150 KB of blob, so the automatic split size is capped
 * (GMR__BLOB_SPLIT_CAP: some 40 rows) to spread the reading over the ranks. Each map then
 * pread()s its blobs in 1 MiB chunks and hashes them as they stream, so memory stays at one
 * chunk whatever the blob size, and a rank touches only the bytes of its own rows.
 *
 * A row whose blob disagrees with it is quarantined with the blob's file and offset in the
 * reason: a content hash other than the manifest's xxh3, a sniffed type other than its mime,
 * a range past the end of the file, a file that cannot be opened. A job never sees them. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "io.h"

#define BLOB_CHUNK (1u << 20) /* read size, and the reader's memory */
#define BLOB_FILES 8          /* open files kept (packs are few and read in order) */

enum { COL_ID, COL_FILE, COL_OFFSET, COL_LENGTH, COL_MIME, COL_XXH3, NCOLS };
static const char *const col_names[NCOLS] = {"blob_id", "file", "offset", "length", "mime", "xxh3"};
#define NO_COL ((size_t)-1)
#define CLIP(n) ((n) > 64 ? 64 : (int)(n)) /* bytes of a field quoted in a reason */

struct gmr__blob_state {
    char *buf;                      /* BLOB_CHUNK bytes */
    XXH3_state_t *xs;               /* for blobs longer than a chunk */
    struct {
        char *path;
        int fd;
    } files[BLOB_FILES];
    int next_evict;
    int cols_file;                  /* the manifest whose header col[] describes (-1: none) */
    size_t col[NCOLS];
    gmr__buf path, id;              /* the current blob's resolved path and id */
    gmr_blob blob;
};

/* ---- sniffing ---------------------------------------------------------------------------- */

gmr_media gmr_media_sniff(const void *vp, size_t n)
{
    const unsigned char *p = vp;
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return GMR_MEDIA_PNG;
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return GMR_MEDIA_JPEG;
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVE", 4) == 0) return GMR_MEDIA_WAV;
    if (n >= 5 && memcmp(p, "%PDF-", 5) == 0) return GMR_MEDIA_PDF;
    if (n >= 3 && memcmp(p, "ID3", 3) == 0) return GMR_MEDIA_MP3;
    /* an MPEG audio frame header: 11 sync bits, a valid version, Layer III, a valid bitrate
     * and sampling rate (a JPEG's ff d8 fails the sync) */
    if (n >= 3 && p[0] == 0xff && (p[1] & 0xe0) == 0xe0 && ((p[1] >> 3) & 3) != 1 && ((p[1] >> 1) & 3) == 1 &&
        (p[2] >> 4) != 0xf && ((p[2] >> 2) & 3) != 3)
        return GMR_MEDIA_MP3;
    return GMR_MEDIA_UNKNOWN;
}

static const char *const media_names[GMR_NMEDIA] = {"unknown", "png", "jpeg", "wav", "mp3", "pdf"};
static const char *const media_mimes[GMR_NMEDIA] = {"application/octet-stream", "image/png", "image/jpeg",
                                                     "audio/wav", "audio/mpeg", "application/pdf"};

const char *gmr_media_name(gmr_media m) { return (unsigned)m < GMR_NMEDIA ? media_names[m] : media_names[0]; }
const char *gmr_media_mime(gmr_media m) { return (unsigned)m < GMR_NMEDIA ? media_mimes[m] : media_mimes[0]; }

/* ---- state ------------------------------------------------------------------------------- */

void gmr__blob_state_free(gmr__reader_state *st)
{
    gmr__blob_state *b = st->blob;
    if (!b) return;
    for (int i = 0; i < BLOB_FILES; i++) {
        if (b->files[i].fd >= 0) close(b->files[i].fd);
        free(b->files[i].path);
    }
    if (b->xs) XXH3_freeState(b->xs);
    free(b->buf);
    gmr__buf_free(&b->path);
    gmr__buf_free(&b->id);
    free(b);
    st->blob = NULL;
}

static gmr_err state_get(gmr__reader_state *st, gmr__blob_state **bp)
{
    gmr_err err = GMR_OK;
    gmr__blob_state *b = st->blob;
    if (!b) {
        b = calloc(1, sizeof *b);
        GMR_CHECK(b, GMR_ERR_NOMEM, "cannot allocate the blob reader");
        for (int i = 0; i < BLOB_FILES; i++) b->files[i].fd = -1;
        b->cols_file = -1;
        st->blob = b;
        b->buf = malloc(BLOB_CHUNK);
        b->xs = XXH3_createState();
        GMR_CHECK(b->buf && b->xs, GMR_ERR_NOMEM, "cannot allocate the blob reader's buffer");
    }
    *bp = b;
out:
    return err;
}

/* The manifest's columns, looked up once per manifest file in its header. */
static gmr_err find_columns(gmr__blob_state *b, const gmr_record *rec)
{
    gmr_err err = GMR_OK;
    for (int c = 0; c < NCOLS; c++) {
        size_t n = strlen(col_names[c]);
        b->col[c] = NO_COL;
        for (size_t j = 0; j < rec->nheader; j++)
            if (rec->header[j].len == n && memcmp(rec->header[j].ptr, col_names[c], n) == 0) b->col[c] = j;
    }
    GMR_CHECK(b->col[COL_FILE] != NO_COL && b->col[COL_OFFSET] != NO_COL && b->col[COL_LENGTH] != NO_COL,
              GMR_ERR_DATA, "%s:1: a blob manifest needs the columns file, offset and length", rec->file);
    b->cols_file = rec->file_index;
out:
    return err;
}

/* A file descriptor for path, from the small cache. -1 with errno set when it cannot be opened. */
static int file_open(gmr__blob_state *b, const char *path)
{
    int i, fd;
    for (i = 0; i < BLOB_FILES; i++)
        if (b->files[i].path && strcmp(b->files[i].path, path) == 0) return b->files[i].fd;
    fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    i = b->next_evict;
    b->next_evict = (i + 1) % BLOB_FILES;
    if (b->files[i].fd >= 0) close(b->files[i].fd);
    free(b->files[i].path);
    b->files[i].path = strdup(path);
    b->files[i].fd = b->files[i].path ? fd : -1;
    if (!b->files[i].path) close(fd), errno = ENOMEM;
    return b->files[i].fd;
}

static int parse_u64(const gmr_field *f, uint64_t *v)
{
    uint64_t x = 0;
    if (f->len == 0 || f->len > 19) return -1;
    for (size_t i = 0; i < f->len; i++) {
        if (f->ptr[i] < '0' || f->ptr[i] > '9') return -1;
        x = x * 10 + (uint64_t)(f->ptr[i] - '0');
    }
    *v = x;
    return 0;
}

static int parse_hex64(const gmr_field *f, uint64_t *v)
{
    uint64_t x = 0;
    if (f->len != 16) return -1;
    for (size_t i = 0; i < 16; i++) {
        char c = f->ptr[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return 0;
}

static int bad(gmr__reader_state *st, const char **why, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int bad(gmr__reader_state *st, const char **why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->why, sizeof st->why, fmt, ap);
    va_end(ap);
    *why = st->why;
    return GMR__REC_BAD;
}

/* The blob's file: the manifest's `file` as is when absolute, else beside the manifest. */
static gmr_err resolve(gmr__blob_state *b, const char *manifest, const gmr_field *file)
{
    gmr_err err = GMR_OK;
    const char *slash = strrchr(manifest, '/');
    size_t dlen = file->len && file->ptr[0] == '/' ? 0 : slash ? (size_t)(slash - manifest) + 1 : 0;
    GMR_CALL(gmr__buf_reserve(&b->path, dlen + file->len + 1));
    memcpy(b->path.data, manifest, dlen);
    memcpy(b->path.data + dlen, file->ptr, file->len);
    b->path.data[dlen + file->len] = '\0';
out:
    return err;
}

int gmr__blob_parse(gmr__reader_state *st, const char *line, size_t len, gmr_record *rec, const char **why)
{
    gmr_err err = GMR_OK;
    gmr__blob_state *b = NULL;
    const gmr_field *f;
    size_t nf = 0, want, got = 0;
    uint64_t off, size, done = 0, hash = 0, listed = 0;
    char where[400];
    int fd, oneshot;
    gmr_media m = GMR_MEDIA_UNKNOWN;

    rec->data = line;
    rec->len = len;
    rec->json = NULL;
    rec->blob = NULL;
    GMR_CALL(state_get(st, &b));
    if (b->cols_file != rec->file_index) GMR_CALL(find_columns(b, rec));
    if (gmr__csv_split(line, len, &st->fields, &st->scratch, &nf, why)) return GMR__REC_BAD;
    f = (const gmr_field *)(const void *)st->fields.data;
    rec->nfields = nf;
    rec->fields = f;
    if (nf != rec->nheader) return bad(st, why, "expected %zu fields, found %zu", rec->nheader, nf);
    if (parse_u64(&f[b->col[COL_OFFSET]], &off) || parse_u64(&f[b->col[COL_LENGTH]], &size))
        return bad(st, why, "offset '%.*s' or length '%.*s' is not a number", CLIP(f[b->col[COL_OFFSET]].len),
                   f[b->col[COL_OFFSET]].ptr, CLIP(f[b->col[COL_LENGTH]].len), f[b->col[COL_LENGTH]].ptr);
    if (f[b->col[COL_FILE]].len == 0) return bad(st, why, "no file named");
    if (size > UINT64_MAX - off) return bad(st, why, "offset + length overflows");

    /* the id for map; the blob's place, as the manifest writes it, for reasons */
    GMR_CALL(resolve(b, rec->file, &f[b->col[COL_FILE]]));
    GMR_CALL(gmr__buf_reserve(&b->id, (b->col[COL_ID] != NO_COL ? f[b->col[COL_ID]].len : 0) + 1));
    b->id.len = b->col[COL_ID] != NO_COL ? f[b->col[COL_ID]].len : 0;
    if (b->id.len) memcpy(b->id.data, f[b->col[COL_ID]].ptr, b->id.len);
    b->id.data[b->id.len] = '\0';
    snprintf(where, sizeof where, "blob%s%.*s (%.*s at offset %llu, %llu bytes)", b->id.len ? " " : "",
             CLIP(b->id.len), b->id.data, f[b->col[COL_FILE]].len > 200 ? 200 : (int)f[b->col[COL_FILE]].len,
             f[b->col[COL_FILE]].ptr, (unsigned long long)off, (unsigned long long)size);

    fd = file_open(b, b->path.data);
    if (fd < 0) return bad(st, why, "%s: cannot open %s: %s", where, b->path.data, strerror(errno));

    /* stream the blob: sniff the first chunk, hash every chunk */
    oneshot = size <= BLOB_CHUNK; /* the common case: one read, one-shot hash */
    GMR_CHECK(XXH3_64bits_reset(b->xs) == XXH_OK, GMR_ERR_INTERNAL, "XXH3 reset failed");
    do {
        want = size - done < BLOB_CHUNK ? (size_t)(size - done) : BLOB_CHUNK;
        GMR_CALL(gmr__pread_full(fd, b->path.data, b->buf, want, off + done, &got));
        if (got < want)
            return bad(st, why, "%s: truncated: the file ends after %llu of its bytes", where,
                       (unsigned long long)(done + got));
        if (done == 0) m = gmr_media_sniff(b->buf, got);
        if (oneshot) {
            hash = XXH3_64bits(b->buf, got);
        } else {
            GMR_CHECK(XXH3_64bits_update(b->xs, b->buf, got) == XXH_OK, GMR_ERR_INTERNAL, "XXH3 update failed");
        }
        done += got;
    } while (done < size);
    if (!oneshot) hash = XXH3_64bits_digest(b->xs);

    /* the manifest's word against the bytes: hash first (any change), then the type */
    if (b->col[COL_XXH3] != NO_COL && f[b->col[COL_XXH3]].len) {
        const gmr_field *x = &f[b->col[COL_XXH3]];
        if (parse_hex64(x, &listed))
            return bad(st, why, "%s: xxh3 '%.*s' is not 16 hex digits", where, CLIP(x->len), x->ptr);
        if (listed != hash)
            return bad(st, why, "%s: hash mismatch: XXH3 %016llx, the manifest says %016llx", where,
                       (unsigned long long)hash, (unsigned long long)listed);
    }
    if (b->col[COL_MIME] != NO_COL && f[b->col[COL_MIME]].len) {
        const gmr_field *x = &f[b->col[COL_MIME]];
        const char *mime = gmr_media_mime(m);
        if (x->len != strlen(mime) || memcmp(x->ptr, mime, x->len) != 0)
            return bad(st, why, "%s: type mismatch: the bytes are %s, the manifest says %.*s", where,
                       gmr_media_name(m), CLIP(x->len), x->ptr);
    }
    b->blob.id = b->id.data;
    b->blob.path = b->path.data;
    b->blob.offset = off;
    b->blob.size = size;
    b->blob.media = m;
    b->blob.xxh3 = hash;
    rec->blob = &b->blob;
out:
    return err ? (int)err : GMR_OK;
}
