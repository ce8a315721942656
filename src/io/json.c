/* json.c: the "jsonl" reader (one JSON object a line, parsed by jansson) and the path
 * accessors of gridmr/json.h.
 *
 * jansson is the parser because it is small, maintained, strict (RFC 8259, UTF-8 checked) and
 * reports the column of an error; bench/ingest measures what it costs against reading the
 * same bytes as lines (docs/performance.md, "Ingest"). Each record's object lives until the
 * next record of the same reader state, so map may keep views of it during its call and
 * nothing accumulates. Jobs see the object only through opaque pointers and plain views
 * (gmr_json_value), so jansson stays out of the public API. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "gridmr/json.h"
#include "io.h"

void gmr__jsonl_state_free(gmr__reader_state *st)
{
    if (st->json) json_decref((json_t *)st->json);
    st->json = NULL;
}

/* jansson quotes the text near an error; keep the reason on one printable line. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "an object";
    }
}

int gmr__jsonl_parse(gmr__reader_state *st, const char *line, size_t len, gmr_record *rec, const char **why)
{
    json_error_t e;
    json_t *root;
    size_t i = 0;
    gmr__jsonl_state_free(st); /* the previous record's object */
    rec->data = line;
    rec->len = len;
    rec->nfields = 0;
    rec->fields = NULL;
    rec->json = NULL;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == len) return GMR__REC_SKIP; /* a blank line: JSON lines writers often end with one */
    /* duplicate member names are refused: which one a consumer sees would be up to the parser;
     * NUL escapes are allowed because the views carry lengths */
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!root) {
        if (json_error_code(&e) == json_error_out_of_memory)
            return GMR_ERROR(GMR_ERR_NOMEM, "%s: out of memory parsing JSON at offset %llu", rec->file,
                             (unsigned long long)rec->offset);
        snprintf(st->why, sizeof st->why, "invalid JSON at column %d: %s", e.column, e.text);
        printable(st->why);
        *why = st->why;
        return GMR__REC_BAD;
    }
    if (!json_is_object(root)) {
        snprintf(st->why, sizeof st->why, "a JSON line must hold an object, this one holds %s", type_name(root));
        json_decref(root);
        *why = st->why;
        return GMR__REC_BAD;
    }
    st->json = root;
    rec->json = root;
    return GMR_OK;
}

/* ---- accessors --------------------------------------------------------------------------- */

static gmr_json_type view(const json_t *j, gmr_json_value *v)
{
    memset(v, 0, sizeof *v);
    if (!j) return v->type = GMR_JSON_MISSING;
    v->node = j;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        v->type = GMR_JSON_OBJECT;
        v->len = json_object_size(j);
        break;
    case JSON_ARRAY:
        v->type = GMR_JSON_ARRAY;
        v->len = json_array_size(j);
        break;
    case JSON_STRING:
        v->type = GMR_JSON_STRING;
        v->str = json_string_value(j);
        v->len = json_string_length(j);
        break;
    case JSON_INTEGER:
        v->type = GMR_JSON_NUMBER;
        v->integer = (int64_t)json_integer_value(j);
        v->is_integer = 1;
        v->num = (double)v->integer;
        break;
    case JSON_REAL:
        v->type = GMR_JSON_NUMBER;
        v->num = json_real_value(j);
        break;
    case JSON_TRUE:
        v->type = GMR_JSON_BOOL;
        v->num = 1;
        break;
    case JSON_FALSE:
        v->type = GMR_JSON_BOOL;
        break;
    case JSON_NULL:
        v->type = GMR_JSON_NULL;
        break;
    }
    return v->type;
}

/* One step: a member of an object, or a decimal index into an array. */
static const json_t *step(const json_t *j, const char *name, size_t n)
{
    if (json_is_object(j)) {
#if JANSSON_VERSION_HEX >= 0x020e00
        return json_object_getn(j, name, n);
#else
        char key[256];
        if (n >= sizeof key) return NULL;
        memcpy(key, name, n);
        key[n] = '\0';
        return json_object_get(j, key);
#endif
    }
    if (json_is_array(j)) {
        size_t idx = 0;
        if (n == 0 || n > 18) return NULL;
        for (size_t i = 0; i < n; i++) {
            if (name[i] < '0' || name[i] > '9') return NULL;
            idx = idx * 10 + (size_t)(name[i] - '0');
        }
        return json_array_get(j, idx);
    }
    return NULL;
}

static gmr_json_type lookup(const json_t *j, const char *path, gmr_json_value *v)
{
    while (j && path && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        j = step(j, path, n);
        path = dot ? dot + 1 : path + n;
        if (dot && !*path) j = NULL; /* "a." names nothing */
    }
    return view(j, v);
}

gmr_json_type gmr_record_json(const gmr_record *rec, const char *path, gmr_json_value *v)
{
    return lookup(rec ? (const json_t *)rec->json : NULL, path, v);
}

gmr_json_type gmr_json_get(const gmr_json_value *from, const char *path, gmr_json_value *v)
{
    return lookup(from ? (const json_t *)from->node : NULL, path, v);
}
