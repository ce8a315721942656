/* aggregate.c: group-by over CSV files: count, sum, min and max of value columns per key.
 *
 * A map value is a partial aggregate: [count][per value column: exact sum (gmr__xsum, 32
 * bytes), min, max], so the combiner merges partials at every level of the engine and the
 * reduce only rounds the exact sums. Column names are looked up in each file's own header,
 * once per file, so files may order their columns differently. */
#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/xsum.h"
#include "gridmr/apps.h"
#include "names.h"

#define AGG_MAX_COLUMNS 64

typedef struct agg_part {
    gmr__xsum sum;
    double min, max;
} agg_part;

struct gmr_aggregate {
    gmr_job_ops ops;
    int nkeys, nvals;
    char *names[2 * AGG_MAX_COLUMNS];  /* key names then value names */
    gmr_column columns[1 + 3 * AGG_MAX_COLUMNS];
    char *colnames[1 + 3 * AGG_MAX_COLUMNS];
    int cached_file;                   /* file whose header the indices below belong to */
    size_t idx[2 * AGG_MAX_COLUMNS];
    size_t nheader;
    char *keybuf, *valbuf;
    size_t keycap;
    int is_thread_copy;                /* a mapping thread's copy: shares names, owns the buffers */
};

static gmr_err agg_lookup(gmr_aggregate *a, const gmr_record *rec)
{
    gmr_err err = GMR_OK;
    for (int i = 0; i < a->nkeys + a->nvals; i++) {
        size_t j = 0, len = strlen(a->names[i]);
        while (j < rec->nheader && !(rec->header[j].len == len && memcmp(rec->header[j].ptr, a->names[i], len) == 0))
            j++;
        GMR_CHECK(j < rec->nheader, GMR_ERR_DATA, "%s:1: no column named '%s' in the header", rec->file, a->names[i]);
        a->idx[i] = j;
    }
    a->nheader = rec->nheader;
    a->cached_file = rec->file_index;
out:
    return err;
}

/* A finite number filling the whole field (surrounding blanks allowed). */
static int parse_number(const gmr_field *f, double *x)
{
    char tmp[128], *end;
    size_t b = 0, e = f->len;
    while (b < e && (f->ptr[b] == ' ' || f->ptr[b] == '\t')) b++;
    while (e > b && (f->ptr[e - 1] == ' ' || f->ptr[e - 1] == '\t')) e--;
    if (e == b || e - b >= sizeof tmp) return -1;
    memcpy(tmp, f->ptr + b, e - b);
    tmp[e - b] = '\0';
    errno = 0;
    *x = strtod(tmp, &end);
    if (*end != '\0' || !isfinite(*x)) return -1;
    return 0;
}

static gmr_err agg_map(void *ctx, const gmr_record *rec, gmr_emitter *em)
{
    gmr_err err = GMR_OK;
    gmr_aggregate *a = ctx;
    size_t klen = 0;
    uint64_t one = 1;
    if (a->cached_file != rec->file_index) GMR_CALL(agg_lookup(a, rec));
    if (rec->nfields != a->nheader)
        return gmr_reject(em, "expected %zu fields, found %zu", a->nheader, rec->nfields);
    for (int i = 0; i < a->nkeys; i++) klen += rec->fields[a->idx[i]].len + 1;
    if (klen > a->keycap) {
        char *p = realloc(a->keybuf, klen);
        GMR_CHECK(p, GMR_ERR_NOMEM, "out of memory");
        a->keybuf = p;
        a->keycap = klen;
    }
    klen = 0;
    for (int i = 0; i < a->nkeys; i++) {
        const gmr_field *f = &rec->fields[a->idx[i]];
        if (i) a->keybuf[klen++] = ',';
        memcpy(a->keybuf + klen, f->ptr, f->len);
        klen += f->len;
    }
    memcpy(a->valbuf, &one, sizeof one);
    for (int v = 0; v < a->nvals; v++) {
        const gmr_field *f = &rec->fields[a->idx[a->nkeys + v]];
        agg_part part;
        double x;
        if (parse_number(f, &x))
            return gmr_reject(em, "column %s: '%.*s' is not a finite number", a->names[a->nkeys + v],
                              (int)(f->len > 64 ? 64 : f->len), f->ptr);
        gmr__xsum_init(&part.sum);
        if (gmr__xsum_add(&part.sum, x))
            return gmr_reject(em, "column %s: %g is out of the summable range (|x| < 2^80)", a->names[a->nkeys + v], x);
        part.min = part.max = x;
        memcpy(a->valbuf + sizeof one + (size_t)v * sizeof part, &part, sizeof part);
    }
    GMR_CALL(gmr_emit(em, a->keybuf, klen, a->valbuf, a->ops.value_size));
out:
    return err;
}

static void agg_combine(void *ctx, void *acc, const void *val)
{
    gmr_aggregate *a = ctx;
    uint64_t n, m;
    memcpy(&n, acc, sizeof n);
    memcpy(&m, val, sizeof m);
    n += m;
    memcpy(acc, &n, sizeof n);
    for (int v = 0; v < a->nvals; v++) {
        agg_part x, y;
        size_t off = sizeof n + (size_t)v * sizeof x;
        memcpy(&x, (char *)acc + off, sizeof x);
        memcpy(&y, (const char *)val + off, sizeof y);
        gmr__xsum_merge(&x.sum, &y.sum);
        /* -0 and +0 compare equal: prefer -0 for min and +0 for max so the order of merges
         * cannot change what is printed */
        if (y.min < x.min || (y.min == x.min && signbit(y.min))) x.min = y.min;
        if (y.max > x.max || (y.max == x.max && !signbit(y.max))) x.max = y.max;
        memcpy((char *)acc + off, &x, sizeof x);
    }
}

static gmr_err agg_reduce(void *ctx, const void *key, size_t klen, gmr_values *vals, gmr_output *out)
{
    gmr_aggregate *a = ctx;
    uint64_t slots[1 + 3 * AGG_MAX_COLUMNS];
    const void *val;
    size_t vlen;
    if (!gmr_values_next(vals, &val, &vlen)) return GMR_OK;
    memcpy(&slots[0], val, sizeof slots[0]);
    for (int v = 0; v < a->nvals; v++) {
        agg_part p;
        double s;
        memcpy(&p, (const char *)val + sizeof slots[0] + (size_t)v * sizeof p, sizeof p);
        s = gmr__xsum_round(&p.sum);
        memcpy(&slots[1 + 3 * v], &s, 8);
        memcpy(&slots[2 + 3 * v], &p.min, 8);
        memcpy(&slots[3 + 3 * v], &p.max, 8);
    }
    return gmr_output_row(out, key, klen, slots);
}

/* --threads: each mapping thread gets a copy with its own header cache and buffers. */
static void agg_map_ctx_destroy(void *thread_ctx)
{
    gmr_aggregate *a = thread_ctx;
    if (!a) return;
    free(a->keybuf);
    free(a->valbuf);
    free(a);
}

static gmr_err agg_map_ctx_create(void *ctx, void **thread_ctx)
{
    gmr_err err = GMR_OK;
    gmr_aggregate *a = malloc(sizeof *a);
    *thread_ctx = NULL;
    GMR_CHECK(a, GMR_ERR_NOMEM, "out of memory");
    memcpy(a, ctx, sizeof *a);
    a->is_thread_copy = 1;
    a->cached_file = -1;
    a->keybuf = NULL;
    a->keycap = 0;
    a->valbuf = malloc(a->ops.value_size);
    *thread_ctx = a;
    GMR_CHECK(a->valbuf, GMR_ERR_NOMEM, "out of memory");
    a = NULL;
out:
    if (a) {
        agg_map_ctx_destroy(a);
        *thread_ctx = NULL;
    }
    return err;
}

gmr_err gmr_aggregate_create(const char *keys, const char *values, gmr_aggregate **aggp, const gmr_job_ops **ops)
{
    gmr_err err = GMR_OK;
    gmr_aggregate *a = calloc(1, sizeof *a);
    int nc = 0;
    static const char *suffix[3] = {"_sum", "_min", "_max"};
    GMR_CHECK(a, GMR_ERR_NOMEM, "out of memory");
    a->cached_file = -1;
    GMR_CHECK(keys && gmr__names_split(keys, a->names, AGG_MAX_COLUMNS, &a->nkeys) == 0 && a->nkeys > 0, GMR_ERR_ARG,
              "--key needs 1 to %d comma-separated column names", AGG_MAX_COLUMNS);
    GMR_CHECK(values && gmr__names_split(values, a->names + a->nkeys, AGG_MAX_COLUMNS, &a->nvals) == 0 && a->nvals > 0,
              GMR_ERR_ARG,
              "--value needs 1 to %d comma-separated column names", AGG_MAX_COLUMNS);
    a->colnames[nc] = gmr__column_name("count", "");
    a->columns[nc].type = GMR_TYPE_U64;
    GMR_CHECK(a->colnames[nc], GMR_ERR_NOMEM, "out of memory");
    a->columns[nc].name = a->colnames[nc];
    nc++;
    for (int v = 0; v < a->nvals; v++)
        for (int k = 0; k < 3; k++) {
            a->colnames[nc] = gmr__column_name(a->names[a->nkeys + v], suffix[k]);
            GMR_CHECK(a->colnames[nc], GMR_ERR_NOMEM, "out of memory");
            a->columns[nc].name = a->colnames[nc];
            a->columns[nc].type = GMR_TYPE_F64;
            nc++;
        }
    a->ops.version = GMR_JOB_OPS_VERSION;
    a->ops.name = "aggregate";
    a->ops.reader = "csv";
    a->ops.value_size = sizeof(uint64_t) + (size_t)a->nvals * sizeof(agg_part);
    a->ops.map = agg_map;
    a->ops.combine = agg_combine;
    a->ops.reduce = agg_reduce;
    a->ops.ncolumns = (size_t)nc;
    a->ops.columns = a->columns;
    a->ops.order = GMR_ORDER_KEY;
    a->ops.map_ctx_create = agg_map_ctx_create;
    a->ops.map_ctx_destroy = agg_map_ctx_destroy;
    a->valbuf = malloc(a->ops.value_size);
    GMR_CHECK(a->valbuf, GMR_ERR_NOMEM, "out of memory");
    *ops = &a->ops;
    *aggp = a;
    a = NULL;
out:
    gmr_aggregate_destroy(&a);
    return err;
}

void gmr_aggregate_destroy(gmr_aggregate **ap)
{
    gmr_aggregate *a;
    if (!ap || !*ap) return;
    a = *ap;
    if (a->is_thread_copy) {
        agg_map_ctx_destroy(a);
        *ap = NULL;
        return;
    }
    for (int i = 0; i < 2 * AGG_MAX_COLUMNS; i++) free(a->names[i]);
    for (int i = 0; i < 1 + 3 * AGG_MAX_COLUMNS; i++) free(a->colnames[i]);
    free(a->keybuf);
    free(a->valbuf);
    free(a);
    *ap = NULL;
}
