/* events.c: group-by over JSON lines ("jsonl" reader): per key, the number of records and, per
 * value path, how many records hold a number there and their exact sum.
 *
 * Keys and values are JSON paths (gridmr/json.h), so nested and optional members work alike:
 * the defaults group the power data set's business events by type and province and sum the
 * payments' payment.amount_yuan. A value path that a record lacks (or holds null) adds nothing
 * to that value; one that holds anything but a number rejects the record. Sums use the exact
 * accumulator of aggregate (gmr__xsum), so they do not depend on the rank count.
 *
 * With checks on (the default), a record must also be a valid event of docs/data.md: an
 * event_id string, a type among payment, complaint, work_order and outage, a time that exists
 * (YYYY-MM-DDTHH:MM:SS), and an event_id other than the one of the record just before it. The
 * duplicate check looks only at the line before, which is where the data set's duplicates (and
 * a client's double submit) land; it costs nothing within a split and one short backward read
 * at the start of each split, instead of a keyed pass over every id. */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/xsum.h"
#include "../io/io.h"
#include "gridmr/apps.h"
#include "names.h"
#include "gridmr/json.h"

#define EV_MAX_PATHS 32
#define EV_MAX_ID 256        /* longest event_id compared for duplicates */
#define EV_MAX_BACK (64u << 20) /* longest previous line read back */

typedef struct ev_part {
    uint64_t n;
    gmr__xsum sum;
} ev_part;

struct gmr_events {
    gmr_job_ops ops;
    int checks;
    int nkeys, nvals;
    char *names[2 * EV_MAX_PATHS];          /* key paths then value paths */
    gmr_column columns[1 + 2 * EV_MAX_PATHS];
    char *colnames[1 + 2 * EV_MAX_PATHS];
    char *keybuf, *valbuf;
    size_t keycap;
    /* the record map saw last, for the duplicate check */
    int last_file;
    uint64_t last_end;                      /* offset just past its line */
    char last_id[EV_MAX_ID];
    size_t last_idlen;                      /* 0: it was not a valid event */
    /* reading the line before a split's first record */
    int fd, fd_file;
    gmr__buf back;
    gmr__reader_state prev;
};

static const char *const ev_types[] = {"payment", "complaint", "work_order", "outage"};

/* YYYY-MM-DDTHH:MM:SS, a date and time that exist. */
static int is_timestamp(const char *s, size_t n)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, dim;
    if (n != 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return 0;
    for (size_t i = 0; i < n; i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !isdigit((unsigned char)s[i])) return 0;
#define D2(a) (((a)[0] - '0') * 10 + ((a)[1] - '0'))
    y = D2(s) * 100 + D2(s + 2);
    mo = D2(s + 5);
    d = D2(s + 8);
    h = D2(s + 11);
    mi = D2(s + 14);
    se = D2(s + 17);
#undef D2
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59) return 0;
    dim = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return d >= 1 && d <= dim;
}

/* The checks of a valid event; NULL when it passes, else the reason (in why). *id: its id. */
static const char *check_event(const gmr_record *rec, char *why, size_t cap, const char **id, size_t *idlen)
{
    gmr_json_value v;
    size_t t = 0, nt = sizeof ev_types / sizeof ev_types[0];
    *idlen = 0;
    if (gmr_record_json(rec, "event_id", &v) != GMR_JSON_STRING || v.len == 0) return "no event_id string";
    *id = v.str;
    *idlen = v.len;
    if (gmr_record_json(rec, "type", &v) != GMR_JSON_STRING) return "no type string";
    while (t < nt && !(strlen(ev_types[t]) == v.len && memcmp(ev_types[t], v.str, v.len) == 0)) t++;
    if (t == nt) {
        snprintf(why, cap, "unknown event type '%.*s'", (int)(v.len > 64 ? 64 : v.len), v.str);
        return why;
    }
    if (gmr_record_json(rec, "time", &v) != GMR_JSON_STRING || !is_timestamp(v.str, v.len)) {
        if (v.type == GMR_JSON_STRING)
            snprintf(why, cap, "bad time '%.*s' (YYYY-MM-DDTHH:MM:SS that exists)", (int)(v.len > 64 ? 64 : v.len), v.str);
        else
            snprintf(why, cap, "no time string");
        return why;
    }
    return NULL;
}

/* The line before the record at `off` of `file`, read from the file (at a split's start). On
 * success *line and *len are set and *found is 1; 0 when there is none, or it is longer than
 * EV_MAX_BACK. */
static gmr_err read_line_before(gmr_events *e, const gmr_record *rec, const char **line, size_t *len, int *found)
{
    gmr_err err = GMR_OK;
    uint64_t end = rec->offset - 1, w = 4096; /* [start, end): the line, end at its '\n' */
    *found = 0;
    if (rec->offset == 0) return GMR_OK;
    if (e->fd_file != rec->file_index) {
        if (e->fd >= 0) close(e->fd);
        e->fd_file = -1;
        e->fd = open(rec->file, O_RDONLY);
        GMR_CHECK(e->fd >= 0, GMR_ERR_IO, "%s: %s", rec->file, strerror(errno));
        e->fd_file = rec->file_index;
    }
    for (;;) {
        uint64_t from = end > w ? end - w : 0;
        size_t got = 0;
        const char *nl;
        GMR_CALL(gmr__buf_reserve(&e->back, (size_t)(end - from) + 1));
        GMR_CALL(gmr__pread_full(e->fd, rec->file, e->back.data, (size_t)(end - from), from, &got));
        GMR_CHECK(got == end - from, GMR_ERR_IO, "%s: file shrank while reading", rec->file);
        nl = NULL;
        for (size_t i = got; i > 0; i--)
            if (e->back.data[i - 1] == '\n') {
                nl = e->back.data + i - 1;
                break;
            }
        if (nl || from == 0) {
            *line = nl ? nl + 1 : e->back.data;
            *len = (size_t)(e->back.data + got - *line);
            *found = 1;
            break;
        }
        if (w >= EV_MAX_BACK) break;
        w *= 2;
    }
out:
    return err;
}

/* Is the record a duplicate of the one before it? Only a valid event counts as "before". */
static gmr_err duplicate_check(gmr_events *e, const gmr_record *rec, const char *id, size_t idlen, int *dup)
{
    gmr_err err = GMR_OK;
    *dup = 0;
    if (!(e->last_file == rec->file_index && e->last_end == rec->offset)) {
        /* not the record map saw last (a split's first record, or a line the reader refused
         * came between): parse the line before, here */
        const char *line = NULL, *pid = NULL, *why = NULL;
        size_t len = 0, plen = 0;
        int found = 0, r;
        char tmp[256];
        gmr_record prec;
        e->last_idlen = 0;
        GMR_CALL(read_line_before(e, rec, &line, &len, &found));
        memset(&prec, 0, sizeof prec);
        prec.file = rec->file;
        prec.file_index = rec->file_index;
        if (found && (r = gmr__jsonl_parse(&e->prev, line, len, &prec, &why)) > 0) GMR_CALL((gmr_err)r);
        if (found && prec.json && !check_event(&prec, tmp, sizeof tmp, &pid, &plen) && plen <= EV_MAX_ID) {
            memcpy(e->last_id, pid, plen);
            e->last_idlen = plen;
        }
        gmr__jsonl_state_free(&e->prev);
    }
    *dup = e->last_idlen && e->last_idlen == idlen && memcmp(e->last_id, id, idlen) == 0;
out:
    return err;
}

/* A key part: a string as its bytes, a number as written back, true/false/null as words. */
static gmr_err key_append(gmr_events *e, size_t *klen, const gmr_json_value *v)
{
    gmr_err err = GMR_OK;
    char num[64];
    const char *p = "";
    size_t n = 0;
    switch (v->type) {
    case GMR_JSON_STRING: p = v->str; n = v->len; break;
    case GMR_JSON_NUMBER:
        n = (size_t)(v->is_integer ? snprintf(num, sizeof num, "%lld", (long long)v->integer)
                                   : snprintf(num, sizeof num, "%.17g", v->num));
        p = num;
        break;
    case GMR_JSON_BOOL: p = v->num ? "true" : "false"; n = strlen(p); break;
    case GMR_JSON_NULL: p = "null"; n = 4; break;
    default: break; /* missing: an empty part */
    }
    if (*klen + n + 1 > e->keycap) {
        size_t cap = 2 * (*klen + n + 1);
        char *q = realloc(e->keybuf, cap);
        GMR_CHECK(q, GMR_ERR_NOMEM, "out of memory");
        e->keybuf = q;
        e->keycap = cap;
    }
    memcpy(e->keybuf + *klen, p, n);
    *klen += n;
out:
    return err;
}

static gmr_err ev_map(void *ctx, const gmr_record *rec, gmr_emitter *em)
{
    gmr_err err = GMR_OK;
    gmr_events *e = ctx;
    char why[160];
    const char *bad = NULL, *id = NULL;
    size_t idlen = 0, klen = 0;
    uint64_t one = 1;
    int dup = 0;

    if (e->checks) {
        bad = check_event(rec, why, sizeof why, &id, &idlen);
        if (!bad) GMR_CALL(duplicate_check(e, rec, id, idlen, &dup));
        e->last_file = rec->file_index;
        e->last_end = rec->offset + rec->len + 1;
        e->last_idlen = 0;
        if (!bad && idlen <= EV_MAX_ID) { /* a duplicate's id is the same: it stays "before" */
            memcpy(e->last_id, id, idlen);
            e->last_idlen = idlen;
        }
        if (!bad && dup) {
            snprintf(why, sizeof why, "duplicate event_id '%.*s' (the record before has it)",
                     (int)(idlen > 64 ? 64 : idlen), id);
            bad = why;
        }
        if (bad) return gmr_reject(em, "%s", bad);
    }
    for (int k = 0; k < e->nkeys; k++) {
        gmr_json_value v;
        if (gmr_record_json(rec, e->names[k], &v) == GMR_JSON_OBJECT || v.type == GMR_JSON_ARRAY)
            return gmr_reject(em, "key %s is an %s, not a value", e->names[k],
                              v.type == GMR_JSON_OBJECT ? "object" : "array");
        if (k) e->keybuf[klen++] = ',';
        GMR_CALL(key_append(e, &klen, &v));
    }
    memcpy(e->valbuf, &one, sizeof one);
    for (int i = 0; i < e->nvals; i++) {
        const char *path = e->names[e->nkeys + i];
        gmr_json_value v;
        ev_part part;
        gmr__xsum_init(&part.sum);
        part.n = 0;
        switch (gmr_record_json(rec, path, &v)) {
        case GMR_JSON_MISSING:
        case GMR_JSON_NULL: break;
        case GMR_JSON_NUMBER:
            if (gmr__xsum_add(&part.sum, v.num))
                return gmr_reject(em, "%s: %g is out of the summable range (|x| < 2^80)", path, v.num);
            part.n = 1;
            break;
        default: return gmr_reject(em, "%s is not a number", path);
        }
        memcpy(e->valbuf + sizeof one + (size_t)i * sizeof part, &part, sizeof part);
    }
    GMR_CALL(gmr_emit(em, e->keybuf, klen, e->valbuf, e->ops.value_size));
out:
    return err;
}

static void ev_combine(void *ctx, void *acc, const void *val)
{
    gmr_events *e = ctx;
    uint64_t n, m;
    memcpy(&n, acc, sizeof n);
    memcpy(&m, val, sizeof m);
    n += m;
    memcpy(acc, &n, sizeof n);
    for (int i = 0; i < e->nvals; i++) {
        ev_part x, y;
        size_t off = sizeof n + (size_t)i * sizeof x;
        memcpy(&x, (char *)acc + off, sizeof x);
        memcpy(&y, (const char *)val + off, sizeof y);
        x.n += y.n;
        gmr__xsum_merge(&x.sum, &y.sum);
        memcpy((char *)acc + off, &x, sizeof x);
    }
}

static gmr_err ev_reduce(void *ctx, const void *key, size_t klen, gmr_values *vals, gmr_output *out)
{
    gmr_events *e = ctx;
    uint64_t slots[1 + 2 * EV_MAX_PATHS];
    const void *val;
    size_t vlen;
    if (!gmr_values_next(vals, &val, &vlen)) return GMR_OK;
    memcpy(&slots[0], val, sizeof slots[0]);
    for (int i = 0; i < e->nvals; i++) {
        ev_part p;
        double s;
        memcpy(&p, (const char *)val + sizeof slots[0] + (size_t)i * sizeof p, sizeof p);
        s = gmr__xsum_round(&p.sum);
        slots[1 + 2 * i] = p.n;
        memcpy(&slots[2 + 2 * i], &s, 8);
    }
    return gmr_output_row(out, key, klen, slots);
}

gmr_err gmr_events_create(const char *keys, const char *values, int checks, gmr_events **evp, const gmr_job_ops **ops)
{
    gmr_err err = GMR_OK;
    gmr_events *e = calloc(1, sizeof *e);
    int nc = 0;
    GMR_CHECK(e, GMR_ERR_NOMEM, "out of memory");
    e->fd = -1;
    e->fd_file = -1;
    e->last_file = -1;
    e->checks = checks;
    if (!keys) keys = GMR_EVENTS_DEFAULT_KEYS;
    if (!values) values = GMR_EVENTS_DEFAULT_VALUES;
    GMR_CHECK(gmr__names_split(keys, e->names, EV_MAX_PATHS, &e->nkeys) == 0 && e->nkeys > 0, GMR_ERR_ARG,
              "--key needs 1 to %d comma-separated JSON paths", EV_MAX_PATHS);
    GMR_CHECK(gmr__names_split(values, e->names + e->nkeys, EV_MAX_PATHS, &e->nvals) == 0, GMR_ERR_ARG,
              "--value needs 0 to %d comma-separated JSON paths", EV_MAX_PATHS);
    e->colnames[nc] = gmr__column_name("count", "");
    GMR_CHECK(e->colnames[nc], GMR_ERR_NOMEM, "out of memory");
    e->columns[nc].name = e->colnames[nc];
    e->columns[nc].type = GMR_TYPE_U64;
    nc++;
    for (int i = 0; i < e->nvals; i++) {
        e->colnames[nc] = gmr__column_name(e->names[e->nkeys + i], "_n");
        e->colnames[nc + 1] = gmr__column_name(e->names[e->nkeys + i], "_sum");
        GMR_CHECK(e->colnames[nc] && e->colnames[nc + 1], GMR_ERR_NOMEM, "out of memory");
        e->columns[nc].name = e->colnames[nc];
        e->columns[nc].type = GMR_TYPE_U64;
        e->columns[nc + 1].name = e->colnames[nc + 1];
        e->columns[nc + 1].type = GMR_TYPE_F64;
        nc += 2;
    }
    e->ops.version = GMR_JOB_OPS_VERSION;
    e->ops.name = "events";
    e->ops.reader = "jsonl";
    e->ops.value_size = sizeof(uint64_t) + (size_t)e->nvals * sizeof(ev_part);
    e->ops.map = ev_map;
    e->ops.combine = ev_combine;
    e->ops.reduce = ev_reduce;
    e->ops.ncolumns = (size_t)nc;
    e->ops.columns = e->columns;
    e->ops.order = GMR_ORDER_KEY;
    e->valbuf = malloc(e->ops.value_size);
    GMR_CHECK(e->valbuf, GMR_ERR_NOMEM, "out of memory");
    *ops = &e->ops;
    *evp = e;
    e = NULL;
out:
    gmr_events_destroy(&e);
    return err;
}

void gmr_events_destroy(gmr_events **ep)
{
    gmr_events *e;
    if (!ep || !*ep) return;
    e = *ep;
    for (int i = 0; i < 2 * EV_MAX_PATHS; i++) free(e->names[i]);
    for (int i = 0; i < 1 + 2 * EV_MAX_PATHS; i++) free(e->colnames[i]);
    if (e->fd >= 0) close(e->fd);
    gmr__buf_free(&e->back);
    gmr__reader_state_free(&e->prev);
    free(e->keybuf);
    free(e->valbuf);
    free(e);
    *ep = NULL;
}
