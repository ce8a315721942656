/* supply_jobs.c: the three MapReduce jobs behind `gridmr supply` (the layout of their keys and
 * values is in supply_impl.h; supply_model.c turns their results into the four models).
 *
 * Job 1 ("supply.structured", csv reader) reads customers.csv, readings.csv, bills.csv and
 * weather.csv in one pass. A reading emits two additive aggregates: the customer's day ('D':
 * energy, peak interval, zero intervals, night energy) and the province's hour ('H': the load).
 * A customer, bill or weather row emits itself as a record ('K', 'B', 'W'). Job 2
 * ("supply.events", jsonl reader) emits per event a record ('F', the fact table) and an
 * aggregate: the customer's month and event type ('E'), or an outage's county and month ('O').
 * Job 3 ("supply.profile", csv reader, readings.csv alone) emits per reading one 'P' key per
 * customer whose value is the whole daily profile (96 slots' readings and Wh, weekday and
 * weekend totals, peak, zero readings): one key per customer instead of the 96-192
 * per-(customer, slot, weekend) keys job 1 used to emit, which made the job's key count, and
 * the result rows headquarters read back, grow 100-fold with the customers. It checks every
 * reading as job 1 does and skips what job 1 rejects (its own rejects are not reported: job 1
 * already counts them). The emitted value is 1.6 KB, but combining a single reading into a
 * customer's profile touches three slots (SUP_PROF_ONE), so a reading costs a copy, not 199
 * additions.
 * Energy is summed as integer Wh, money as integer fen: exact, so the result does not depend
 * on the order the engine combines in, hence not on the rank count.
 *
 * Every record is checked the way docs/data.md describes the defects: the field count (JSON
 * syntax for events), each column's type and set, then the key against the record just before
 * (the data set's duplicates come right after their original). A split's first record looks
 * back: the line before it is read (one pread of at most 4 KiB, lines are short) and checked
 * the same way. Bad records are rejected with the reason. With --threads each mapping thread
 * has its own look-back state. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../gen/model.h"
#include "../io/io.h"
#include "gridmr/json.h"
#include "supply_impl.h"

#define LOOKBACK 4096u /* bytes read before a split's first record to find the line before */
#define MAX_KEY 64u    /* longest duplicate-check key; longer event ids are rejected */

const char *const gmr__sup_files[SUP_NFILES] = {"customers.csv", "readings.csv", "bills.csv", "weather.csv"};
const char *const gmr__sup_headers[SUP_NFILES] = {
    "customer_id,name,province,city,county,supply_unit,voltage,class,tariff,registered,capacity_kva",
    "customer_id,timestamp,kwh",
    "customer_id,month,days,kwh,peak_kwh,flat_kwh,valley_kwh,amount_yuan",
    "province,timestamp,temperature_c"};
static const int nfields_of[SUP_NFILES] = {11, 3, 8, 3};
const char *const gmr__sup_classes[7] = {"", "residential", "commercial", "industrial", "agricultural", "public_service",
                                          "ev_charging"};
const char *const gmr__sup_tariffs[7] = {"", "RES-TIER", "GEN-TOU", "LI-2PART", "AGR", "GEN-FLAT", "EV-TOU"};
const char *const gmr__sup_voltages[6] = {"", "0.22kV", "0.4kV", "10kV", "35kV", "110kV"};
const double gmr__sup_voltage_kv[6] = {0, 0.22, 0.4, 10, 35, 110};
const char *const gmr__sup_event_types[SUP_NEV] = {"", "payment", "complaint", "work_order", "outage"};

struct gmr__sup_map {
    /* the record map saw last, for the duplicate check */
    int last_file;
    uint64_t last_end;            /* offset just past its line */
    unsigned char last_key[MAX_KEY];
    size_t last_klen;             /* 0: it was not a valid record */
    /* reading the line before a split's first record */
    int fd, fd_file;
    char back[LOOKBACK];
    gmr__buf fields, scratch;
    gmr__reader_state js;
    /* the date of the last timestamp (readings repeat one date 96 times) */
    char date_text[10];
    uint32_t ymd;
    int weekend;
    uint64_t one[SUP_PROF_SLOTS]; /* job 3's emitted value: zero but for slots 0..2 */
};

/* ---- calendar ---------------------------------------------------------------------------- */

int64_t gmr__sup_days(uint32_t ymd) { return gmr__days_from_civil(ymd / 10000, ymd / 100 % 100, ymd % 100); }

uint32_t gmr__sup_ymd(int64_t days)
{
    int64_t y;
    unsigned m, d;
    gmr__civil_from_days(days, &y, &m, &d);
    return (uint32_t)(y * 10000 + m * 100 + d);
}

int gmr__sup_weekday(uint32_t ymd)
{
    int64_t z = gmr__sup_days(ymd); /* 1970-01-01 was a Thursday (4) */
    return (int)(((z % 7 + 7) % 7 + 3) % 7) + 1;
}

/* The State Council's statutory days off (ranges of YYYYMMDD) for 2024-2026; other years keep
 * only the fixed-date holidays (New Year's Day, May 1-5, October 1-7). */
static const uint32_t holidays[][2] = {
    {20240101, 20240101}, {20240210, 20240217}, {20240404, 20240406}, {20240501, 20240505}, {20240610, 20240610},
    {20240915, 20240917}, {20241001, 20241007}, {20250101, 20250101}, {20250128, 20250204}, {20250404, 20250406},
    {20250501, 20250505}, {20250531, 20250602}, {20251001, 20251008}, {20260101, 20260103}, {20260215, 20260223},
    {20260404, 20260406}, {20260501, 20260505}, {20260619, 20260621}, {20260925, 20260927}, {20261001, 20261007}};

int gmr__sup_holiday(uint32_t ymd)
{
    uint32_t y = ymd / 10000, md = ymd % 10000;
    if (y >= 2024 && y <= 2026) {
        for (size_t i = 0; i < sizeof holidays / sizeof holidays[0]; i++)
            if (ymd >= holidays[i][0] && ymd <= holidays[i][1]) return 1;
        return 0;
    }
    return md == 101 || (md >= 501 && md <= 505) || (md >= 1001 && md <= 1007);
}

/* ---- field checks ------------------------------------------------------------------------ */

static int digits(const char *p, size_t n, size_t want, uint64_t *v)
{
    uint64_t x = 0;
    if (n != want || n == 0 || n > 19) return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    *v = x;
    return 1;
}

static int uint_field(const gmr_field *f, uint64_t *v) { return f->len >= 1 && f->len <= 18 && digits(f->ptr, f->len, f->len, v); }

static int dim(unsigned y, unsigned m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return d[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

/* YYYY-MM-DD that exists (year >= 1900) -> YYYYMMDD */
static int date_text(const char *s, size_t n, uint32_t *ymd)
{
    uint64_t y, m, d;
    if (n != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, 4, &y) || !digits(s + 5, 2, 2, &m) ||
        !digits(s + 8, 2, 2, &d) || y < 1900 || m < 1 || m > 12 || d < 1 || (int)d > dim((unsigned)y, (unsigned)m))
        return 0;
    *ymd = (uint32_t)(y * 10000 + m * 100 + d);
    return 1;
}

/* YYYY-MM-DDTHH:MM:SS that exists */
static int stamp_text(const char *s, size_t n, uint32_t *ymd, unsigned *hh, unsigned *mm, unsigned *ss)
{
    uint64_t h, m, x;
    if (n != 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || !date_text(s, 10, ymd) || !digits(s + 11, 2, 2, &h) ||
        !digits(s + 14, 2, 2, &m) || !digits(s + 17, 2, 2, &x) || h > 23 || m > 59 || x > 59)
        return 0;
    *hh = (unsigned)h;
    *mm = (unsigned)m;
    *ss = (unsigned)x;
    return 1;
}

/* A decimal ("12", "12.5", "-3.25" when signed) with at most `scale` decimals, as an integer
 * in units of 10^-scale. */
static int fixed_field(const gmr_field *f, int scale, int sign, int64_t *v)
{
    const char *p = f->ptr, *e = f->ptr + f->len;
    int neg = 0, nd = 0, fd = -1;
    int64_t x = 0;
    if (sign && p < e && *p == '-') neg = 1, p++;
    for (; p < e; p++) {
        if (*p == '.' && fd < 0 && nd > 0) {
            fd = 0;
            continue;
        }
        if (*p < '0' || *p > '9' || nd >= 15) return 0;
        if (fd >= 0 && ++fd > scale) return 0;
        x = x * 10 + (*p - '0');
        nd++;
    }
    if (nd == 0 || fd == 0) return 0;
    for (int k = fd < 0 ? 0 : fd; k < scale; k++) x *= 10;
    *v = neg ? -x : x;
    return 1;
}

static int in_set(const gmr_field *f, const char *const *set, int n)
{
    for (int i = 1; i < n; i++)
        if (strlen(set[i]) == f->len && memcmp(set[i], f->ptr, f->len) == 0) return i;
    return 0;
}

/* index + 1 of the province named p[0..n), 0 when unknown */
static int province_of(const char *p, size_t n)
{
    for (int i = 0; i < GMR_GEN_MAX_PROVINCES; i++)
        if (strlen(gmr__provinces[i].name) == n && memcmp(gmr__provinces[i].name, p, n) == 0) return i + 1;
    return 0;
}

static void put_be(unsigned char *k, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8) k[i] = (unsigned char)(v & 0xff);
}

/* ---- one CSV row ------------------------------------------------------------------------- */

typedef struct row {
    uint64_t v[SUP_SLOTS];   /* the record's value (K, B, W) */
    uint64_t id;
    uint32_t ymd;
    unsigned hh, mm, prov_code;
    int64_t wh;
    unsigned char key[16];   /* the duplicate-check key: the file's key columns */
    size_t klen;
} row;

#define BAD(...) (snprintf(why, cap, __VA_ARGS__), why)

/* NULL when the row is valid (r filled), else the reason. Checks in docs/data.md's order:
 * field count, each column's type and set. */
static const char *check_row(gmr__sup_map *m, int kind, const gmr_field *f, size_t nf, row *r, char *why, size_t cap)
{
    int64_t x = 0;
    unsigned ss = 0;
    memset(r, 0, sizeof *r);
    if (nf != (size_t)nfields_of[kind]) return BAD("expected %d fields, found %zu", nfields_of[kind], nf);
    if (kind != SUP_WEATHER && !digits(f[0].ptr, f[0].len, 10, &r->id))
        return BAD("customer_id '%.*s' is not 10 digits", (int)(f[0].len > 40 ? 40 : f[0].len), f[0].ptr);
    switch (kind) {
    case SUP_CUSTOMERS: {
        int p = province_of(f[2].ptr, f[2].len), c = 0, vo, cl, ta;
        uint32_t reg;
        if (!p) return BAD("unknown province '%.*s'", (int)(f[2].len > 40 ? 40 : f[2].len), f[2].ptr);
        for (int i = 0; i < GMR_GEN_CITIES; i++)
            if (strlen(gmr__provinces[p - 1].city[i]) == f[3].len && memcmp(gmr__provinces[p - 1].city[i], f[3].ptr, f[3].len) == 0)
                c = i + 1;
        if (!c) return BAD("city '%.*s' is not a city of %s", (int)(f[3].len > 40 ? 40 : f[3].len), f[3].ptr, gmr__provinces[p - 1].name);
        if (!digits(f[4].ptr, f[4].len, 6, &r->v[2])) return BAD("county '%.*s' is not 6 digits", (int)(f[4].len > 40 ? 40 : f[4].len), f[4].ptr);
        if (!digits(f[5].ptr, f[5].len, 5, &r->v[3])) return BAD("supply_unit '%.*s' is not 5 digits", (int)(f[5].len > 40 ? 40 : f[5].len), f[5].ptr);
        if (!(vo = in_set(&f[6], gmr__sup_voltages, 6))) return BAD("unknown voltage '%.*s'", (int)(f[6].len > 40 ? 40 : f[6].len), f[6].ptr);
        if (!(cl = in_set(&f[7], gmr__sup_classes, 7))) return BAD("unknown class '%.*s'", (int)(f[7].len > 40 ? 40 : f[7].len), f[7].ptr);
        if (!(ta = in_set(&f[8], gmr__sup_tariffs, 7))) return BAD("unknown tariff '%.*s'", (int)(f[8].len > 40 ? 40 : f[8].len), f[8].ptr);
        if (!date_text(f[9].ptr, f[9].len, &reg)) return BAD("registered '%.*s' is not a date YYYY-MM-DD", (int)(f[9].len > 40 ? 40 : f[9].len), f[9].ptr);
        if (!uint_field(&f[10], &r->v[6])) return BAD("capacity_kva '%.*s' is not a whole number", (int)(f[10].len > 40 ? 40 : f[10].len), f[10].ptr);
        r->v[0] = SUP_RECORD;
        r->v[1] = 1;
        r->v[4] = (uint64_t)cl | (uint64_t)ta << 8 | (uint64_t)vo << 16;
        r->v[5] = reg;
        r->v[7] = gmr__provinces[p - 1].code;
        put_be(r->key, r->id, 8);
        r->klen = 8;
        return NULL;
    }
    case SUP_READINGS:
        if (f[1].len != 19) return BAD("timestamp '%.*s' is not YYYY-MM-DDTHH:MM:SS", (int)(f[1].len > 40 ? 40 : f[1].len), f[1].ptr);
        if (memcmp(f[1].ptr, m->date_text, 10) != 0) { /* a new date: check it and cache it */
            if (!date_text(f[1].ptr, 10, &m->ymd)) goto bad_stamp;
            memcpy(m->date_text, f[1].ptr, 10);
            m->weekend = gmr__sup_weekday(m->ymd) >= 6;
        }
        r->ymd = m->ymd;
        {
            const char *t = f[1].ptr + 10;
            uint64_t h, mi, se;
            if (t[0] != 'T' || t[3] != ':' || t[6] != ':' || !digits(t + 1, 2, 2, &h) || !digits(t + 4, 2, 2, &mi) ||
                !digits(t + 7, 2, 2, &se) || h > 23 || mi > 59 || se > 59)
                goto bad_stamp;
            r->hh = (unsigned)h;
            r->mm = (unsigned)mi;
            ss = (unsigned)se;
        }
        if (r->mm % 15 || ss) return BAD("timestamp '%.19s' does not start a 15-minute interval", f[1].ptr);
        if (!fixed_field(&f[2], 3, 0, &r->wh)) return BAD("kwh '%.*s' is not a number with at most 3 decimals", (int)(f[2].len > 40 ? 40 : f[2].len), f[2].ptr);
        put_be(r->key, r->id, 8);
        put_be(r->key + 8, (uint64_t)r->ymd * 100 + r->hh, 4);
        put_be(r->key + 12, r->mm, 1);
        r->klen = 13;
        return NULL;
    bad_stamp:
        return BAD("timestamp '%.*s' is not YYYY-MM-DDTHH:MM:SS that exists", (int)(f[1].len > 40 ? 40 : f[1].len), f[1].ptr);
    case SUP_BILLS: {
        uint32_t ymd;
        char tmp[10];
        if (f[1].len != 7) goto bad_month;
        memcpy(tmp, f[1].ptr, 7);
        memcpy(tmp + 7, "-01", 3);
        if (!date_text(tmp, 10, &ymd)) goto bad_month;
        if (!uint_field(&f[2], &r->v[2])) return BAD("days '%.*s' is not a whole number", (int)(f[2].len > 40 ? 40 : f[2].len), f[2].ptr);
        for (int c = 3; c <= 7; c++) {
            if (!fixed_field(&f[c], c == 7 ? 2 : 3, 0, &x))
                return BAD("%s '%.*s' is not a number with at most %d decimals", c == 7 ? "amount_yuan" : c == 3 ? "kwh" : c == 4 ? "peak_kwh" : c == 5 ? "flat_kwh" : "valley_kwh",
                           (int)(f[c].len > 40 ? 40 : f[c].len), f[c].ptr, c == 7 ? 2 : 3);
            r->v[c] = (uint64_t)x;
        }
        r->v[0] = SUP_RECORD;
        r->v[1] = 1;
        r->ymd = ymd / 100;
        put_be(r->key, r->id, 8);
        put_be(r->key + 8, r->ymd, 4);
        r->klen = 12;
        return NULL;
    bad_month:
        return BAD("month '%.*s' is not YYYY-MM", (int)(f[1].len > 40 ? 40 : f[1].len), f[1].ptr);
    }
    case SUP_WEATHER: {
        int p = province_of(f[0].ptr, f[0].len);
        if (!p) return BAD("unknown province '%.*s'", (int)(f[0].len > 40 ? 40 : f[0].len), f[0].ptr);
        if (!stamp_text(f[1].ptr, f[1].len, &r->ymd, &r->hh, &r->mm, &ss))
            return BAD("timestamp '%.*s' is not YYYY-MM-DDTHH:MM:SS that exists", (int)(f[1].len > 40 ? 40 : f[1].len), f[1].ptr);
        if (r->mm || ss) return BAD("timestamp '%.19s' does not start an hour", f[1].ptr);
        if (!fixed_field(&f[2], 1, 1, &x)) return BAD("temperature_c '%.*s' is not a number with at most 1 decimal", (int)(f[2].len > 40 ? 40 : f[2].len), f[2].ptr);
        r->prov_code = gmr__provinces[p - 1].code;
        r->v[0] = SUP_RECORD;
        r->v[1] = 1;
        r->v[2] = (uint64_t)x;
        put_be(r->key, r->prov_code, 1);
        put_be(r->key + 1, r->ymd, 4);
        put_be(r->key + 5, r->hh, 1);
        r->klen = 6;
        return NULL;
    }
    }
    return BAD("unknown input");
}

/* ---- the line before a split's first record ---------------------------------------------- */

/* The line just before the record at rec->offset: *len = (size_t)-1 when there is none (the
 * file's start, or a line longer than LOOKBACK). */
static gmr_err line_before(gmr__sup_map *m, const gmr_record *rec, const char **line, size_t *len)
{
    gmr_err err = GMR_OK;
    uint64_t end = rec->offset - 1, from; /* [.., end): the line, end at its '\n' */
    size_t got = 0, i;
    *len = (size_t)-1;
    if (rec->offset == 0) return GMR_OK;
    if (m->fd_file != rec->file_index) {
        if (m->fd >= 0) close(m->fd);
        m->fd_file = -1;
        m->fd = open(rec->file, O_RDONLY);
        GMR_CHECK(m->fd >= 0, GMR_ERR_IO, "%s: %s", rec->file, strerror(errno));
        m->fd_file = rec->file_index;
    }
    from = end > LOOKBACK ? end - LOOKBACK : 0;
    GMR_CALL(gmr__pread_full(m->fd, rec->file, m->back, (size_t)(end - from), from, &got));
    GMR_CHECK(got == end - from, GMR_ERR_IO, "%s: file shrank while reading", rec->file);
    for (i = got; i > 0 && m->back[i - 1] != '\n'; i--) {}
    if (i == 0 && from != 0) return GMR_OK; /* longer than LOOKBACK: no duplicate check */
    *line = m->back + i;
    *len = got - i;
    if (*len && (*line)[*len - 1] == '\r') (*len)--;
out:
    return err;
}

/* Is key the key of the valid record just before rec? Updates the "last" state to rec. */
static gmr_err duplicate_check(gmr__sup_map *m, const gmr_record *rec, int kind, const unsigned char *key, size_t klen,
                               int *dup)
{
    gmr_err err = GMR_OK;
    *dup = 0;
    if (!(m->last_file == rec->file_index && m->last_end == rec->offset)) {
        const char *line = NULL, *why = NULL;
        size_t len = 0, nf = 0;
        m->last_klen = 0;
        GMR_CALL(line_before(m, rec, &line, &len));
        if (len != (size_t)-1 && kind >= 0 &&
            gmr__csv_split(line, len, &m->fields, &m->scratch, &nf, &why) == 0) {
            row r;
            char tmp[200];
            char saved[10];
            uint32_t saved_ymd = m->ymd;
            int saved_weekend = m->weekend;
            memcpy(saved, m->date_text, sizeof saved);
            if (!check_row(m, kind, (const gmr_field *)(const void *)m->fields.data, nf, &r, tmp, sizeof tmp)) {
                memcpy(m->last_key, r.key, r.klen);
                m->last_klen = r.klen;
            }
            memcpy(m->date_text, saved, sizeof saved); /* the date cache stays the current record's */
            m->ymd = saved_ymd;
            m->weekend = saved_weekend;
        } else if (len != (size_t)-1 && kind < 0) {
            gmr_record prec;
            gmr_json_value v;
            int rc;
            memset(&prec, 0, sizeof prec);
            prec.file = rec->file;
            prec.file_index = rec->file_index;
            rc = gmr__jsonl_parse(&m->js, line, len, &prec, &why);
            if (rc > 0) GMR_CALL((gmr_err)rc);
            if (rc == 0 && gmr_record_json(&prec, "event_id", &v) == GMR_JSON_STRING && v.len > 0) {
                m->last_klen = v.len > MAX_KEY ? MAX_KEY : v.len;
                memcpy(m->last_key, v.str, m->last_klen);
            }
            gmr__jsonl_state_free(&m->js);
        }
    }
    *dup = m->last_klen && m->last_klen == klen && memcmp(m->last_key, key, klen) == 0;
out:
    return err;
}

static void remember(gmr__sup_map *m, const gmr_record *rec, const unsigned char *key, size_t klen)
{
    m->last_file = rec->file_index;
    m->last_end = rec->offset + rec->len + 1;
    m->last_klen = klen > MAX_KEY ? MAX_KEY : klen;
    if (key) memcpy(m->last_key, key, m->last_klen);
}

/* ---- job 1: structured ------------------------------------------------------------------- */

static gmr_err emit_add(gmr_emitter *em, const unsigned char *key, size_t klen, int64_t wh, int night)
{
    uint64_t v[SUP_SLOTS] = {SUP_ADD, 1, (uint64_t)wh, (uint64_t)wh, (uint64_t)wh, wh == 0, night ? (uint64_t)wh : 0, 0};
    return gmr_emit(em, key, klen, v, sizeof v);
}

static gmr_err structured_map(void *ctx, const gmr_record *rec, gmr_emitter *em)
{
    gmr_err err = GMR_OK;
    gmr__sup_map *m = ctx;
    int kind = rec->file_index, dup = 0;
    char why[256];
    const char *bad;
    row r;
    unsigned char k[16];

    GMR_CHECK(kind >= 0 && kind < SUP_NFILES, GMR_ERR_INTERNAL, "unexpected input %d", kind);
    bad = check_row(m, kind, rec->fields, rec->nfields, &r, why, sizeof why);
    if (!bad) GMR_CALL(duplicate_check(m, rec, kind, r.key, r.klen, &dup));
    remember(m, rec, bad ? NULL : r.key, bad ? 0 : r.klen);
    if (!bad && dup) {
        snprintf(why, sizeof why, "duplicate key (the record before has the same %s)",
                 kind == SUP_READINGS ? "customer_id and timestamp" : kind == SUP_BILLS ? "customer_id and month"
                 : kind == SUP_WEATHER ? "province and timestamp" : "customer_id");
        bad = why;
    }
    if (bad) return gmr_reject(em, "%s", bad);
    switch (kind) {
    case SUP_READINGS: {
        int night = r.hh < 7 || r.hh >= 23;
        k[0] = 'D';
        put_be(k + 1, r.id, 8);
        put_be(k + 9, r.ymd, 4);
        GMR_CALL(emit_add(em, k, 13, r.wh, night));
        k[0] = 'H';
        put_be(k + 1, r.id / 100000000u, 1);
        put_be(k + 2, r.ymd, 4);
        put_be(k + 6, r.hh, 1);
        GMR_CALL(emit_add(em, k, 7, r.wh, night));
        break;
    }
    case SUP_CUSTOMERS:
        k[0] = 'K';
        memcpy(k + 1, r.key, r.klen);
        GMR_CALL(gmr_emit(em, k, 1 + r.klen, r.v, sizeof r.v));
        break;
    case SUP_BILLS:
        k[0] = 'B';
        memcpy(k + 1, r.key, r.klen);
        GMR_CALL(gmr_emit(em, k, 1 + r.klen, r.v, sizeof r.v));
        break;
    case SUP_WEATHER:
        k[0] = 'W';
        memcpy(k + 1, r.key, r.klen);
        GMR_CALL(gmr_emit(em, k, 1 + r.klen, r.v, sizeof r.v));
        break;
    }
out:
    return err;
}

/* ADD: counts and sums add, max and min keep; RECORD: the smaller record, counts add. Both
 * are associative and commutative on exact integers: any order gives the same bits. */
static void sup_combine(void *ctx, void *acc, const void *val)
{
    uint64_t a[SUP_SLOTS], b[SUP_SLOTS];
    (void)ctx;
    memcpy(a, acc, sizeof a);
    memcpy(b, val, sizeof b);
    if (a[0] == SUP_ADD) {
        a[1] += b[1];
        a[2] += b[2];
        if ((int64_t)b[3] > (int64_t)a[3]) a[3] = b[3];
        if ((int64_t)b[4] < (int64_t)a[4]) a[4] = b[4];
        a[5] += b[5];
        a[6] += b[6];
        a[7] += b[7];
    } else {
        uint64_t n = a[1] + b[1];
        for (int i = 2; i < SUP_SLOTS; i++)
            if (a[i] != b[i]) {
                if (b[i] < a[i]) memcpy(a + 2, b + 2, 6 * sizeof *a);
                break;
            }
        a[1] = n;
    }
    memcpy(acc, a, sizeof a);
}

static gmr_err sup_reduce(void *ctx, const void *key, size_t klen, gmr_values *vals, gmr_output *out)
{
    const void *val;
    size_t vlen;
    (void)ctx;
    if (!gmr_values_next(vals, &val, &vlen)) return GMR_OK;
    return gmr_output_row(out, key, klen, val);
}

static const gmr_column sup_columns[SUP_SLOTS] = {{"mode", GMR_TYPE_U64}, {"n", GMR_TYPE_U64}, {"a", GMR_TYPE_U64},
                                                  {"b", GMR_TYPE_U64},    {"c", GMR_TYPE_U64}, {"d", GMR_TYPE_U64},
                                                  {"e", GMR_TYPE_U64},    {"f", GMR_TYPE_U64}};

/* --threads: each mapping thread keeps its own look-back state (map checks against the line
 * before from the file whenever its own last record is not that line, so any assignment of
 * records to threads gives the same rejects). combine and reduce do not use the context. */
static gmr_err sup_map_ctx_create(void *ctx, void **thread_ctx)
{
    gmr__sup_map *m = NULL;
    gmr_err err = gmr__sup_map_create(&m);
    (void)ctx;
    *thread_ctx = m;
    return err;
}

static void sup_map_ctx_destroy(void *thread_ctx)
{
    gmr__sup_map *m = thread_ctx;
    gmr__sup_map_destroy(&m);
}

const gmr_job_ops gmr__sup_structured_ops = {
    GMR_JOB_OPS_VERSION, "supply.structured", "csv", SUP_SLOTS * sizeof(uint64_t), structured_map, sup_combine,
    sup_reduce, SUP_SLOTS, sup_columns, GMR_ORDER_KEY, sup_map_ctx_create, sup_map_ctx_destroy};

/* ---- job 2: events ----------------------------------------------------------------------- */

static int json_stamp(const gmr_record *rec, const char *path, uint32_t *ymd, unsigned *hh, unsigned *mm, unsigned *ss)
{
    gmr_json_value v;
    return gmr_record_json(rec, path, &v) == GMR_JSON_STRING && stamp_text(v.str, v.len, ymd, hh, mm, ss);
}

static gmr_err events_map(void *ctx, const gmr_record *rec, gmr_emitter *em)
{
    gmr_err err = GMR_OK;
    gmr__sup_map *m = ctx;
    gmr_json_value id, v;
    uint32_t ymd = 0;
    unsigned hh = 0, mm = 0, ss = 0;
    int type = 0, dup = 0, prov = 0;
    char why[256];
    const char *bad = NULL;
    uint64_t val[SUP_SLOTS] = {SUP_RECORD, 1, 0, 0, 0, 0, 0, 0}, add[SUP_SLOTS] = {SUP_ADD, 1, 0, 0, 0, 0, 0, 0};
    unsigned char k[MAX_KEY + 16];

    if (gmr_record_json(rec, "event_id", &id) != GMR_JSON_STRING || id.len == 0) {
        bad = "no event_id string";
    } else if (id.len >= MAX_KEY) {
        bad = "event_id longer than 63 bytes";
    } else if (gmr_record_json(rec, "type", &v) != GMR_JSON_STRING || !(type = in_set(&(gmr_field){v.str, v.len}, gmr__sup_event_types, SUP_NEV))) {
        bad = v.type == GMR_JSON_STRING ? (snprintf(why, sizeof why, "unknown event type '%.*s'", (int)(v.len > 40 ? 40 : v.len), v.str), why)
                                        : "no type string";
    } else if (!json_stamp(rec, "time", &ymd, &hh, &mm, &ss)) {
        bad = "time is not YYYY-MM-DDTHH:MM:SS that exists";
    } else if (gmr_record_json(rec, "province", &v) != GMR_JSON_STRING || !(prov = province_of(v.str, v.len))) {
        bad = "no known province";
    } else if (type != SUP_EV_OUTAGE && (gmr_record_json(rec, "customer_id", &v) != GMR_JSON_STRING || !digits(v.str, v.len, 10, &val[3]))) {
        bad = "customer_id is not a string of 10 digits";
    }
    if (!bad && type == SUP_EV_PAYMENT) {
        if (gmr_record_json(rec, "payment.amount_yuan", &v) != GMR_JSON_NUMBER || !(v.num >= 0 && v.num < 1e15))
            bad = "payment.amount_yuan is not a number >= 0";
        else
            val[6] = (uint64_t)floor(v.num * 100 + 0.5);
    }
    if (!bad && type == SUP_EV_OUTAGE) {
        uint32_t y1, y2;
        unsigned h1, m1, s1, h2, m2, s2;
        if (gmr_record_json(rec, "county", &v) != GMR_JSON_STRING || !digits(v.str, v.len, 6, &val[7]))
            bad = "county is not a string of 6 digits";
        else if (!json_stamp(rec, "outage.start", &y1, &h1, &m1, &s1) || !json_stamp(rec, "outage.end", &y2, &h2, &m2, &s2))
            bad = "outage.start or outage.end is not a timestamp";
        else {
            int64_t a = gmr__sup_days(y1) * 86400 + h1 * 3600 + m1 * 60 + s1, b = gmr__sup_days(y2) * 86400 + h2 * 3600 + m2 * 60 + s2;
            if (b < a) bad = "outage ends before it starts";
            else val[6] = (uint64_t)((b - a) / 60);
        }
    }
    if (!bad) GMR_CALL(duplicate_check(m, rec, -1, (const unsigned char *)id.str, id.len > MAX_KEY ? MAX_KEY : id.len, &dup));
    remember(m, rec, bad ? NULL : (const unsigned char *)id.str, bad ? 0 : id.len);
    if (!bad && dup) {
        snprintf(why, sizeof why, "duplicate event_id '%.*s' (the record before has it)", (int)(id.len > 40 ? 40 : id.len), id.str);
        bad = why;
    }
    if (bad) return gmr_reject(em, "%s", bad);
    val[2] = (uint64_t)type;
    val[4] = gmr__provinces[prov - 1].code;
    val[5] = (uint64_t)ymd * 1000000 + hh * 10000 + mm * 100 + ss;
    k[0] = 'F';
    memcpy(k + 1, id.str, id.len);
    GMR_CALL(gmr_emit(em, k, 1 + id.len, val, sizeof val));
    add[2] = val[6];
    if (type == SUP_EV_OUTAGE) {
        k[0] = 'O';
        put_be(k + 1, val[7], 4);
        put_be(k + 5, ymd / 100, 4);
        GMR_CALL(gmr_emit(em, k, 9, add, sizeof add));
    } else {
        k[0] = 'E';
        put_be(k + 1, val[3], 8);
        put_be(k + 9, ymd / 100, 4);
        put_be(k + 13, (uint64_t)type, 1);
        GMR_CALL(gmr_emit(em, k, 14, add, sizeof add));
    }
out:
    return err;
}

/* ---- job 3: the customers' daily profiles ------------------------------------------------- */

static void prof_add_one(uint64_t *a, uint64_t slot_we, uint64_t wh)
{
    unsigned s = (unsigned)(slot_we & 0xff) % 96, we = (unsigned)(slot_we >> 8 & 1);
    a[1 + 2 * s] += 1;
    a[2 + 2 * s] += wh;
    a[SUP_PROF_WEEK + 2 * we] += 1;
    a[SUP_PROF_WEEK + 1 + 2 * we] += wh;
    if (wh > a[SUP_PROF_PEAK]) a[SUP_PROF_PEAK] = wh;
    a[SUP_PROF_ZERO] += wh == 0;
}

void gmr__sup_prof_expand(uint64_t *a)
{
    uint64_t slot_we, wh;
    if (a[0] != SUP_PROF_ONE) return;
    slot_we = a[1];
    wh = a[2];
    memset(a, 0, SUP_PROF_SLOTS * sizeof *a);
    a[0] = SUP_PROF_FULL;
    prof_add_one(a, slot_we, wh);
}

/* acc (+)= val, either of them ONE or FULL. A received value may sit at any byte offset of a
 * buffer (after its key), so val is copied; acc lives in a table entry (8-byte aligned) and is
 * worked on in place when aligned. */
static void prof_combine(void *ctx, void *acc, const void *val)
{
    uint64_t head[3], b[SUP_PROF_SLOTS], tmp[SUP_PROF_SLOTS], *a = acc;
    int aligned = ((uintptr_t)acc & 7) == 0;
    (void)ctx;
    if (!aligned) {
        memcpy(tmp, acc, sizeof tmp);
        a = tmp;
    }
    gmr__sup_prof_expand(a);
    memcpy(head, val, sizeof head);
    if (head[0] == SUP_PROF_ONE) {
        prof_add_one(a, head[1], head[2]);
    } else {
        memcpy(b, val, sizeof b);
        for (int i = 1; i < SUP_PROF_PEAK; i++) a[i] += b[i];
        if (b[SUP_PROF_PEAK] > a[SUP_PROF_PEAK]) a[SUP_PROF_PEAK] = b[SUP_PROF_PEAK];
        a[SUP_PROF_ZERO] += b[SUP_PROF_ZERO];
    }
    if (!aligned) memcpy(acc, tmp, sizeof tmp);
}

static gmr_err profile_map(void *ctx, const gmr_record *rec, gmr_emitter *em)
{
    gmr_err err = GMR_OK;
    gmr__sup_map *m = ctx;
    int dup = 0;
    char why[256];
    const char *bad;
    row r;
    unsigned char k[9];

    bad = check_row(m, SUP_READINGS, rec->fields, rec->nfields, &r, why, sizeof why);
    if (!bad) GMR_CALL(duplicate_check(m, rec, SUP_READINGS, r.key, r.klen, &dup));
    remember(m, rec, bad ? NULL : r.key, bad ? 0 : r.klen);
    if (bad || dup) return gmr_reject(em, "%s", bad ? bad : "duplicate key"); /* job 1 reports it */
    k[0] = 'P';
    put_be(k + 1, r.id, 8);
    m->one[0] = SUP_PROF_ONE;
    m->one[1] = (uint64_t)(r.hh * 4 + r.mm / 15) | (uint64_t)m->weekend << 8;
    m->one[2] = (uint64_t)r.wh;
    GMR_CALL(gmr_emit(em, k, 9, m->one, sizeof m->one));
out:
    return err;
}

/* One row per customer: the FULL profile. */
static gmr_err prof_reduce(void *ctx, const void *key, size_t klen, gmr_values *vals, gmr_output *out)
{
    const void *val;
    size_t vlen;
    uint64_t v[SUP_PROF_SLOTS];
    (void)ctx;
    if (!gmr_values_next(vals, &val, &vlen)) return GMR_OK;
    memcpy(v, val, sizeof v);
    gmr__sup_prof_expand(v);
    return gmr_output_row(out, key, klen, v);
}

/* column names v000 .. v198 (docs/formats.md: the job's temporary result) */
static char prof_names[SUP_PROF_SLOTS][8];
static gmr_column prof_columns[SUP_PROF_SLOTS];

static void prof_columns_init(void)
{
    if (prof_columns[0].name) return;
    for (int i = 0; i < SUP_PROF_SLOTS; i++) {
        snprintf(prof_names[i], sizeof prof_names[i], "v%03d", i);
        prof_columns[i].name = prof_names[i];
        prof_columns[i].type = GMR_TYPE_U64;
    }
}

const gmr_job_ops gmr__sup_profile_ops = {
    GMR_JOB_OPS_VERSION, "supply.profile", "csv", SUP_PROF_SLOTS * sizeof(uint64_t), profile_map, prof_combine,
    prof_reduce, SUP_PROF_SLOTS, prof_columns, GMR_ORDER_KEY, sup_map_ctx_create, sup_map_ctx_destroy};

const gmr_job_ops gmr__sup_events_ops = {
    GMR_JOB_OPS_VERSION, "supply.events", "jsonl", SUP_SLOTS * sizeof(uint64_t), events_map, sup_combine,
    sup_reduce, SUP_SLOTS, sup_columns, GMR_ORDER_KEY, sup_map_ctx_create, sup_map_ctx_destroy};

gmr_err gmr__sup_map_create(gmr__sup_map **mp)
{
    gmr_err err = GMR_OK;
    gmr__sup_map *m = calloc(1, sizeof *m);
    GMR_CHECK(m, GMR_ERR_NOMEM, "out of memory");
    prof_columns_init(); /* the first map context is made on the main thread, before any job */
    m->fd = -1;
    m->fd_file = -1;
    m->last_file = -1;
    *mp = m;
out:
    return err;
}

void gmr__sup_map_destroy(gmr__sup_map **mp)
{
    gmr__sup_map *m;
    if (!mp || !*mp) return;
    m = *mp;
    if (m->fd >= 0) close(m->fd);
    gmr__buf_free(&m->fields);
    gmr__buf_free(&m->scratch);
    gmr__reader_state_free(&m->js);
    free(m);
    *mp = NULL;
}
