/* gridmr/json.h: reading the JSON object of a "jsonl" record from a map function.
 *
 * The "jsonl" reader parses each line with jansson and hands map the object through the
 * opaque rec->json. These accessors look values up by path and return plain views (type,
 * string bytes, number), so a job needs neither jansson's headers nor its types, and gridmr
 * can change its parser without breaking jobs. A job that wants jansson's full API may still
 * include <jansson.h> itself and use rec->json and gmr_json_value.node as json_t * (borrowed:
 * do not decref; valid during the map call). docs/formats.md, "Readers", has the details.
 *
 *     gmr_json_value v;
 *     if (gmr_record_json(rec, "payment.amount_yuan", &v) == GMR_JSON_NUMBER) sum += v.num;
 *     if (gmr_record_json(rec, "outage.feeders.0", &v) == GMR_JSON_STRING) use(v.str, v.len);
 */
#ifndef GRIDMR_JSON_H
#define GRIDMR_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "gridmr/mr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gmr_json_type {
    GMR_JSON_MISSING = 0, /* no such member or element, or the record holds no JSON */
    GMR_JSON_NULL,
    GMR_JSON_BOOL,
    GMR_JSON_NUMBER,
    GMR_JSON_STRING,
    GMR_JSON_OBJECT,
    GMR_JSON_ARRAY
} gmr_json_type;

typedef struct gmr_json_value {
    gmr_json_type type;
    const char *str;     /* STRING: its UTF-8 bytes, unescaped, NUL-terminated (may hold "\u0000") */
    size_t len;          /* STRING: bytes; ARRAY: elements; OBJECT: members; else 0 */
    double num;          /* NUMBER: the value (an integer converted); BOOL: 0 or 1 */
    int64_t integer;     /* NUMBER written without fraction or exponent: the exact value */
    int is_integer;      /* 1 when `integer` holds the value */
    const void *node;    /* the value itself, a start for gmr_json_get (a json_t * of jansson) */
} gmr_json_value;

/* Looks `path` up in the record's JSON object and fills *v (on GMR_JSON_MISSING, v->type is
 * MISSING and the rest zero). A path is member names separated by '.', with a decimal index
 * for an array element: "type", "payment.amount_yuan", "outage.feeders.0"; "" is the object
 * itself. A name holding '.' cannot be reached by path (use jansson on .node). Not collective;
 * the view is valid during the map call only. */
gmr_json_type gmr_record_json(const gmr_record *rec, const char *path, gmr_json_value *v);

/* The same, starting from a value found before (an object or an array). */
gmr_json_type gmr_json_get(const gmr_json_value *from, const char *path, gmr_json_value *v);

#ifdef __cplusplus
}
#endif
#endif
