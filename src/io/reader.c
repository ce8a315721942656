/* reader.c: record readers, one small ops table per input kind.
 *
 * The split scanner hands every line to the job's reader, which turns it into a gmr_record:
 * "lines" passes the line as it is; "csv" parses RFC 4180 fields (and the engine gives it the
 * file's header); "jsonl" parses one JSON object a line (json.c); "blob" reads a manifest line
 * and the blob it points to (blob.c). A reader reports a malformed record with a reason instead
 * of calling map, so every kind of input gets the same quarantine. Every kind is line-based, so
 * the scheduler's record-aligned splits serve them all. Adding a kind is adding a table here. */
#include <string.h>

#include "io.h"

int gmr__csv_split(const char *line, size_t len, gmr__buf *fields, gmr__buf *scratch, size_t *nfields,
                   const char **why)
{
    size_t nf = 0, i = 0;
    if (len && line[len - 1] == '\r') len--;
    scratch->len = 0;
    /* Unescaped quoted fields never exceed the line, so one reservation makes scratch pointers
     * stable for the whole record. */
    if (gmr__buf_reserve(scratch, len + 1) || gmr__buf_reserve(fields, 16 * sizeof(gmr_field))) {
        *why = "out of memory";
        return -1;
    }
    for (;;) {
        gmr_field f;
        if (fields->cap < (nf + 1) * sizeof(gmr_field) &&
            gmr__buf_reserve(fields, (nf + 1) * sizeof(gmr_field))) {
            *why = "out of memory";
            return -1;
        }
        if (i < len && line[i] == '"') {
            char *o = scratch->data + scratch->len;
            size_t n = 0;
            i++;
            for (;;) {
                if (i >= len) {
                    *why = "unterminated quoted field (a line break inside quotes is not supported)";
                    return -1;
                }
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        o[n++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                o[n++] = line[i++];
            }
            if (i < len && line[i] != ',') {
                *why = "unexpected text after a closing quote";
                return -1;
            }
            f.ptr = o;
            f.len = n;
            scratch->len += n;
        } else {
            const char *c = i < len ? memchr(line + i, ',', len - i) : NULL;
            size_t e = c ? (size_t)(c - line) : len;
            f.ptr = line + i;
            f.len = e - i;
            i = e;
        }
        ((gmr_field *)(void *)fields->data)[nf++] = f;
        if (i >= len) break;
        i++; /* the comma */
        if (i == len) { /* a trailing comma: one more, empty field */
            if (fields->cap < (nf + 1) * sizeof(gmr_field) &&
                gmr__buf_reserve(fields, (nf + 1) * sizeof(gmr_field))) {
                *why = "out of memory";
                return -1;
            }
            f.ptr = line + len;
            f.len = 0;
            ((gmr_field *)(void *)fields->data)[nf++] = f;
            break;
        }
    }
    *nfields = nf;
    return 0;
}

static int lines_parse(gmr__reader_state *st, const char *line, size_t len, gmr_record *rec, const char **why)
{
    (void)st;
    (void)why;
    rec->data = line;
    rec->len = len;
    rec->nfields = 0;
    rec->fields = NULL;
    return 0;
}

static int csv_parse(gmr__reader_state *st, const char *line, size_t len, gmr_record *rec, const char **why)
{
    size_t nf = 0;
    if (gmr__csv_split(line, len, &st->fields, &st->scratch, &nf, why)) return -1;
    rec->data = line;
    rec->len = len;
    rec->nfields = nf;
    rec->fields = (const gmr_field *)(const void *)st->fields.data;
    return 0;
}

static const gmr__reader_ops readers[] = {
    {GMR_READER_OPS_VERSION, "lines", 0, lines_parse, 0},
    {GMR_READER_OPS_VERSION, "csv", 1, csv_parse, 0},
    {GMR_READER_OPS_VERSION, "jsonl", 0, gmr__jsonl_parse, 0},
    {GMR_READER_OPS_VERSION, "blob", 1, gmr__blob_parse, GMR__BLOB_SPLIT_CAP},
};

const gmr__reader_ops *gmr__reader_find(const char *name)
{
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++)
        if (name && strcmp(readers[i].name, name) == 0) return &readers[i];
    return NULL;
}

void gmr__reader_state_free(gmr__reader_state *st)
{
    gmr__buf_free(&st->fields);
    gmr__buf_free(&st->scratch);
    gmr__jsonl_state_free(st);
    gmr__blob_state_free(st);
}
