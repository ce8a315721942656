/* supply_model.c: `gridmr supply`: runs the three supply jobs (supply_jobs.c) and builds the four
 * data supply models from their results into one HDF5 file (docs/supply.md, docs/formats.md).
 *
 * The jobs do the heavy part in parallel: every record of the data set is read, checked and
 * reduced to exact per-key aggregates (per customer and day, per customer's daily profile,
 * per province and hour, per customer, month and event type, per county and month) and to
 * deduplicated records (customers, bills, weather, events). The results of jobs 1 and 2 are
 * small next to the input (about 1% of it), so headquarters (rank 0) reads them back, sorts
 * them by key and joins them into the tables: a customer's months pick up their bill, their
 * events by type and their county's outages; a province's hours pick up the temperature. Other
 * ranks wait for the outcome (an agreed status). Cost at HQ: O(k log k) for k result rows, and
 * memory for them (about 120 bytes a row). The per-customer profiles (job 3, 1.6 KB a
 * customer) never reach HQ: /app/segment is built by every rank (segment_build, below). Every
 * value is computed from exact integer sums in one fixed order, so the file is the same
 * bytes' worth of values whatever the rank count. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../gen/model.h"
#include "../sched/sched.h"
#include "../stage/h5util.h"
#include "../stage/result.h"
#include "gridmr/log.h"
#include "gridmr/supply.h"
#include "supply_impl.h"

#define SEG_SLOTS 96

/* ---- sorted result rows ------------------------------------------------------------------ */

typedef struct krow {
    const unsigned char *key;
    size_t klen;
    const uint64_t *v;
} krow;

typedef struct rows {
    krow *r;
    size_t n;
} rows;

static int krow_cmp(const void *a, const void *b)
{
    const krow *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static gmr_err rows_of(const gmr__result *res, rows *out)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(res->ncolumns == SUP_SLOTS, GMR_ERR_INTERNAL, "a supply job result has %d columns", res->ncolumns);
    out->n = (size_t)res->n;
    out->r = malloc(out->n * sizeof *out->r + 1);
    GMR_CHECK(out->r, GMR_ERR_NOMEM, "cannot sort %zu result rows", out->n);
    for (size_t i = 0; i < out->n; i++) {
        out->r[i].key = (const unsigned char *)res->keys + res->koff[i];
        out->r[i].klen = (size_t)(res->koff[i + 1] - res->koff[i]);
        out->r[i].v = res->slots + i * SUP_SLOTS;
    }
    qsort(out->r, out->n, sizeof *out->r, krow_cmp);
out:
    return err;
}

/* first row with key >= (key, klen) */
static size_t lower(const rows *t, const unsigned char *key, size_t klen)
{
    size_t lo = 0, hi = t->n;
    krow k = {key, klen, NULL};
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (krow_cmp(&t->r[mid], &k) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static const uint64_t *find(const rows *t, const unsigned char *key, size_t klen)
{
    size_t i = lower(t, key, klen);
    return i < t->n && t->r[i].klen == klen && memcmp(t->r[i].key, key, klen) == 0 ? t->r[i].v : NULL;
}

/* rows whose key starts with tag: [*b, *e) */
static void tag_range(const rows *t, unsigned char tag, size_t *b, size_t *e)
{
    unsigned char next = (unsigned char)(tag + 1);
    *b = lower(t, &tag, 1);
    *e = lower(t, &next, 1);
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

static void put_be(unsigned char *k, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8) k[i] = (unsigned char)(v & 0xff);
}

/* ---- tables ------------------------------------------------------------------------------ */

typedef enum { COL_U64, COL_I64, COL_F64, COL_STR } coltype;

#define MAX_COLS 128
#define STR_WIDTH 32 /* bytes of a text cell of the code tables, NUL included */

typedef struct table {
    const char *path, *about;
    uint64_t n;
    int ncols;
    const char *name[MAX_COLS], *unit[MAX_COLS];
    coltype type[MAX_COLS];
    void *data[MAX_COLS];
    char namebuf[MAX_COLS][8];
    size_t strw;       /* bytes of a text cell (0: STR_WIDTH) */
} table;

static void table_free(table *t)
{
    for (int c = 0; c < t->ncols; c++) free(t->data[c]);
    t->ncols = 0;
}

/* a new column of t->n values; its data pointer in *p */
static gmr_err col(table *t, const char *name, const char *unit, coltype type, void *p)
{
    gmr_err err = GMR_OK;
    size_t w = type == COL_STR ? (t->strw ? t->strw : STR_WIDTH) : 8;
    GMR_CHECK(t->ncols < MAX_COLS, GMR_ERR_INTERNAL, "too many columns in %s", t->path);
    t->data[t->ncols] = calloc((size_t)t->n + 1, w);
    GMR_CHECK(t->data[t->ncols], GMR_ERR_NOMEM, "cannot allocate %llu rows of %s", (unsigned long long)t->n, t->path);
    t->name[t->ncols] = name;
    t->unit[t->ncols] = unit;
    t->type[t->ncols] = type;
    memcpy(p, &t->data[t->ncols], sizeof(void *));
    t->ncols++;
out:
    return err;
}

/* One group, one 1-D dataset per column, attributes columns, units and description. */
static gmr_err table_write(hid_t file, const table *t)
{
    gmr_err err = GMR_OK;
    hid_t lcpl = H5I_INVALID_HID, g = H5I_INVALID_HID, space = H5I_INVALID_HID, d = H5I_INVALID_HID,
          st = H5I_INVALID_HID;
    hsize_t dims = (hsize_t)t->n;
    char *cols = NULL, *units = NULL;
    size_t cap = 16;
    for (int c = 0; c < t->ncols; c++) cap += strlen(t->name[c]) + strlen(t->unit[c]) + 2;
    cols = calloc(1, cap);
    units = calloc(1, cap);
    GMR_CHECK(cols && units, GMR_ERR_NOMEM, "out of memory");
    GMR_H5_ID(lcpl, H5Pcreate(H5P_LINK_CREATE));
    GMR_CALL_H5(H5Pset_create_intermediate_group(lcpl, 1));
    GMR_H5_ID(g, H5Gcreate2(file, t->path, lcpl, H5P_DEFAULT, H5P_DEFAULT));
    GMR_H5_ID(space, H5Screate_simple(1, &dims, NULL));
    GMR_H5_ID(st, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(st, t->strw ? t->strw : STR_WIDTH));
    GMR_CALL_H5(H5Tset_strpad(st, H5T_STR_NULLTERM));
    for (int c = 0; c < t->ncols; c++) {
        hid_t ft = t->type[c] == COL_U64 ? H5T_STD_U64LE : t->type[c] == COL_I64 ? H5T_STD_I64LE
                 : t->type[c] == COL_F64 ? H5T_IEEE_F64LE : st;
        hid_t mt = t->type[c] == COL_U64 ? H5T_NATIVE_UINT64 : t->type[c] == COL_I64 ? H5T_NATIVE_INT64
                 : t->type[c] == COL_F64 ? H5T_NATIVE_DOUBLE : st;
        GMR_H5_ID(d, H5Dcreate2(g, t->name[c], ft, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        if (t->n) GMR_CALL_H5(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data[c]));
        H5Dclose(d);
        d = H5I_INVALID_HID;
        snprintf(cols + strlen(cols), cap - strlen(cols), "%s%s", c ? "," : "", t->name[c]);
        snprintf(units + strlen(units), cap - strlen(units), "%s%s", c ? "," : "", t->unit[c]);
    }
    GMR_CALL(gmr__h5_attr_put_str(g, "columns", cols));
    GMR_CALL(gmr__h5_attr_put_str(g, "units", units));
    GMR_CALL(gmr__h5_attr_put_str(g, "description", t->about));
out:
    free(cols);
    free(units);
    if (d >= 0) H5Dclose(d);
    if (st >= 0) H5Tclose(st);
    if (space >= 0) H5Sclose(space);
    if (g >= 0) H5Gclose(g);
    if (lcpl >= 0) H5Pclose(lcpl);
    return err;
}

/* ---- the models --------------------------------------------------------------------------- */

typedef struct model {
    rows s, e;              /* the two jobs' results, sorted by key */
    hid_t file;
    FILE *fc;               /* --csv DIR/app_forecast.csv, or NULL */
    gmr_supply_summary *sum;
} model;

static int province_index(unsigned code)
{
    for (int i = 0; i < GMR_GEN_MAX_PROVINCES; i++)
        if (gmr__provinces[i].code == code) return i;
    return -1;
}

static void put_str(void *col, uint64_t i, const char *s)
{
    snprintf((char *)col + i * STR_WIDTH, STR_WIDTH, "%s", s);
}

static gmr_err code_table(hid_t file, const char *path, const char *about, const char *const *names, int n)
{
    gmr_err err = GMR_OK;
    table t = {path, about, (uint64_t)(n - 1), 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    uint64_t *code = NULL;
    void *name = NULL;
    GMR_CALL(col(&t, "code", "1", COL_U64, &code));
    GMR_CALL(col(&t, "name", "text", COL_STR, &name));
    for (int i = 1; i < n; i++) {
        code[i - 1] = (uint64_t)i;
        put_str(name, (uint64_t)i - 1, names[i]);
    }
    GMR_CALL(table_write(file, &t));
out:
    table_free(&t);
    return err;
}

/* /dim/customer, /dim/province, /dim/city, /dim/class, /dim/tariff */
static gmr_err dims(model *m)
{
    gmr_err err = GMR_OK;
    size_t b, e;
    table t = {"/dim/customer", "one row per customer of customers.csv (names left out)", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    table p = {"/dim/province", "provinces with customers or weather", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    table c = {"/dim/city", "cities with customers", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    uint64_t *id, *prov, *city, *county, *unit, *cls, *tar, *reg, *cap, *pc, *ph, *cc, *cp;
    double *kv;
    void *pn, *cn;
    int has_p[GMR_GEN_MAX_PROVINCES] = {0}, has_c[GMR_GEN_MAX_PROVINCES][GMR_GEN_CITIES];
    size_t wb, we;
    memset(has_c, 0, sizeof has_c);
    tag_range(&m->s, 'K', &b, &e);
    t.n = e - b;
    GMR_CALL(col(&t, "customer_id", "1", COL_U64, &id));
    GMR_CALL(col(&t, "province", "code", COL_U64, &prov));
    GMR_CALL(col(&t, "city", "code", COL_U64, &city));
    GMR_CALL(col(&t, "county", "code", COL_U64, &county));
    GMR_CALL(col(&t, "supply_unit", "code", COL_U64, &unit));
    GMR_CALL(col(&t, "voltage_kv", "kV", COL_F64, &kv));
    GMR_CALL(col(&t, "class", "code", COL_U64, &cls));
    GMR_CALL(col(&t, "tariff", "code", COL_U64, &tar));
    GMR_CALL(col(&t, "registered", "YYYYMMDD", COL_U64, &reg));
    GMR_CALL(col(&t, "capacity_kva", "kVA", COL_U64, &cap));
    for (size_t i = b; i < e; i++) {
        const uint64_t *v = m->s.r[i].v;
        uint64_t k = i - b;
        int pi = province_index((unsigned)v[7]), ci = (int)(v[2] / 100 % 100);
        id[k] = be(m->s.r[i].key + 1, 8);
        prov[k] = v[7];
        county[k] = v[2];
        city[k] = v[2] / 100;
        unit[k] = v[3];
        cls[k] = v[4] & 0xff;
        tar[k] = v[4] >> 8 & 0xff;
        kv[k] = gmr__sup_voltage_kv[v[4] >> 16 & 0xff];
        reg[k] = v[5];
        cap[k] = v[6];
        if (pi >= 0) {
            has_p[pi] = 1;
            if (ci >= 1 && ci <= GMR_GEN_CITIES) has_c[pi][ci - 1] = 1;
        }
    }
    m->sum->customers = t.n;
    GMR_CALL(table_write(m->file, &t));
    tag_range(&m->s, 'W', &wb, &we);
    for (size_t i = wb; i < we; i++) {
        int pi = province_index((unsigned)be(m->s.r[i].key + 1, 1));
        if (pi >= 0) has_p[pi] = 1;
    }
    for (int i = 0; i < GMR_GEN_MAX_PROVINCES; i++) {
        p.n += (uint64_t)has_p[i];
        for (int j = 0; j < GMR_GEN_CITIES; j++) c.n += (uint64_t)has_c[i][j];
    }
    GMR_CALL(col(&p, "code", "GB/T 2260", COL_U64, &pc));
    GMR_CALL(col(&p, "name", "pinyin", COL_STR, &pn));
    GMR_CALL(col(&p, "central_heating", "0/1", COL_U64, &ph));
    GMR_CALL(col(&c, "code", "province code x 100 + city", COL_U64, &cc));
    GMR_CALL(col(&c, "name", "pinyin", COL_STR, &cn));
    GMR_CALL(col(&c, "province", "code", COL_U64, &cp));
    /* in code order */
    for (unsigned code = 0, kp = 0, kc = 0; code < 100; code++) {
        int pi = province_index(code);
        if (pi < 0 || !has_p[pi]) continue;
        pc[kp] = code;
        put_str(pn, kp, gmr__provinces[pi].name);
        ph[kp++] = (uint64_t)gmr__provinces[pi].central_heating;
        for (int j = 0; j < GMR_GEN_CITIES; j++)
            if (has_c[pi][j]) {
                cc[kc] = code * 100 + (unsigned)j + 1;
                put_str(cn, kc, gmr__provinces[pi].city[j]);
                cp[kc++] = code;
            }
    }
    GMR_CALL(table_write(m->file, &p));
    GMR_CALL(table_write(m->file, &c));
    GMR_CALL(code_table(m->file, "/dim/class", "customer classes (registered in customers.csv; true ones in labels.csv)", gmr__sup_classes, 7));
    GMR_CALL(code_table(m->file, "/dim/tariff", "tariffs (docs/data.md)", gmr__sup_tariffs, 7));
    GMR_CALL(code_table(m->file, "/dim/event_type", "business event types", gmr__sup_event_types, SUP_NEV));
out:
    table_free(&t);
    table_free(&p);
    table_free(&c);
    return err;
}

static int days_in_month(uint32_t ym)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = ym / 100, mo = ym % 100;
    return d[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

/* /dim/date: every day from the first to the last of the readings and the weather */
static gmr_err dim_date(model *m)
{
    gmr_err err = GMR_OK;
    table t = {"/dim/date", "calendar: every day from the first to the last day of readings and weather", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    uint64_t *date, *year, *month, *day, *wd, *we, *hol, *doy, *dim;
    uint32_t lo = 0, hi = 0;
    const unsigned char tags[2] = {'D', 'W'};
    for (int k = 0; k < 2; k++) {
        size_t b, e;
        tag_range(&m->s, tags[k], &b, &e);
        for (size_t i = b; i < e; i++) {
            uint32_t ymd = (uint32_t)be(m->s.r[i].key + (k == 0 ? 9 : 2), 4);
            if (!lo || ymd < lo) lo = ymd;
            if (ymd > hi) hi = ymd;
        }
    }
    t.n = lo ? (uint64_t)(gmr__sup_days(hi) - gmr__sup_days(lo) + 1) : 0;
    GMR_CALL(col(&t, "date", "YYYYMMDD", COL_U64, &date));
    GMR_CALL(col(&t, "year", "1", COL_U64, &year));
    GMR_CALL(col(&t, "month", "1-12", COL_U64, &month));
    GMR_CALL(col(&t, "day", "1-31", COL_U64, &day));
    GMR_CALL(col(&t, "weekday", "1=Monday..7=Sunday", COL_U64, &wd));
    GMR_CALL(col(&t, "weekend", "0/1", COL_U64, &we));
    GMR_CALL(col(&t, "holiday", "0/1", COL_U64, &hol));
    GMR_CALL(col(&t, "day_of_year", "1-366", COL_U64, &doy));
    GMR_CALL(col(&t, "days_in_month", "days", COL_U64, &dim));
    for (uint64_t i = 0; i < t.n; i++) {
        uint32_t ymd = gmr__sup_ymd(gmr__sup_days(lo) + (int64_t)i);
        date[i] = ymd;
        year[i] = ymd / 10000;
        month[i] = ymd / 100 % 100;
        day[i] = ymd % 100;
        wd[i] = (uint64_t)gmr__sup_weekday(ymd);
        we[i] = wd[i] >= 6;
        hol[i] = (uint64_t)gmr__sup_holiday(ymd);
        doy[i] = (uint64_t)(gmr__sup_days(ymd) - gmr__sup_days(ymd / 10000 * 10000 + 101) + 1);
        dim[i] = (uint64_t)days_in_month(ymd / 100);
    }
    m->sum->dates = t.n;
    GMR_CALL(table_write(m->file, &t));
out:
    table_free(&t);
    return err;
}

/* /fact/reading_day, /fact/bill, /fact/weather, /fact/event */
static gmr_err facts(model *m, const char *readings_path, uint64_t readings_rows)
{
    gmr_err err = GMR_OK;
    table d = {"/fact/reading_day", "readings.csv (the 15-minute fact, kept where it is) summed per customer and day", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    table bl = {"/fact/bill", "bills.csv, one row per customer and month", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    table w = {"/fact/weather", "weather.csv, one row per province and hour", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    table ev = {"/fact/event", "events.jsonl normalised, one row per event", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    size_t b, e;
    uint64_t *u[8];
    double *f[8];
    void *s;
    hid_t g = H5I_INVALID_HID;

    tag_range(&m->s, 'D', &b, &e);
    d.n = e - b;
    GMR_CALL(col(&d, "customer_id", "1", COL_U64, &u[0]));
    GMR_CALL(col(&d, "date", "YYYYMMDD", COL_U64, &u[1]));
    GMR_CALL(col(&d, "intervals", "readings", COL_U64, &u[2]));
    GMR_CALL(col(&d, "energy_kwh", "kWh", COL_F64, &f[0]));
    GMR_CALL(col(&d, "peak_kwh", "kWh per 15 min", COL_F64, &f[1]));
    GMR_CALL(col(&d, "min_kwh", "kWh per 15 min", COL_F64, &f[2]));
    GMR_CALL(col(&d, "zero_intervals", "readings", COL_U64, &u[3]));
    GMR_CALL(col(&d, "night_kwh", "kWh (23:00-07:00)", COL_F64, &f[3]));
    for (size_t i = b; i < e; i++) {
        const unsigned char *k = m->s.r[i].key;
        const uint64_t *v = m->s.r[i].v;
        size_t j = i - b;
        u[0][j] = be(k + 1, 8);
        u[1][j] = be(k + 9, 4);
        u[2][j] = v[1];
        f[0][j] = (double)v[2] / 1000;
        f[1][j] = (double)v[3] / 1000;
        f[2][j] = (double)v[4] / 1000;
        u[3][j] = v[5];
        f[3][j] = (double)v[6] / 1000;
    }
    m->sum->reading_days = d.n;
    GMR_CALL(table_write(m->file, &d));
    /* the 15-minute fact itself stays in readings.csv: a reference to it */
    GMR_H5_ID(g, H5Gopen2(m->file, "/fact/reading_day", H5P_DEFAULT));
    GMR_CALL(gmr__h5_attr_put_str(g, "source", readings_path));
    GMR_CALL(gmr__h5_attr_put(g, "source_rows", H5T_NATIVE_UINT64, 1, &readings_rows));

    tag_range(&m->s, 'B', &b, &e);
    bl.n = e - b;
    GMR_CALL(col(&bl, "customer_id", "1", COL_U64, &u[0]));
    GMR_CALL(col(&bl, "month", "YYYYMM", COL_U64, &u[1]));
    GMR_CALL(col(&bl, "days", "days", COL_U64, &u[2]));
    GMR_CALL(col(&bl, "kwh", "kWh", COL_F64, &f[0]));
    GMR_CALL(col(&bl, "peak_kwh", "kWh", COL_F64, &f[1]));
    GMR_CALL(col(&bl, "flat_kwh", "kWh", COL_F64, &f[2]));
    GMR_CALL(col(&bl, "valley_kwh", "kWh", COL_F64, &f[3]));
    GMR_CALL(col(&bl, "amount_yuan", "yuan", COL_F64, &f[4]));
    for (size_t i = b; i < e; i++) {
        const unsigned char *k = m->s.r[i].key;
        const uint64_t *v = m->s.r[i].v;
        size_t j = i - b;
        u[0][j] = be(k + 1, 8);
        u[1][j] = be(k + 9, 4);
        u[2][j] = v[2];
        for (int c = 0; c < 4; c++) f[c][j] = (double)v[3 + c] / 1000;
        f[4][j] = (double)v[7] / 100;
    }
    m->sum->bills = bl.n;
    GMR_CALL(table_write(m->file, &bl));

    tag_range(&m->s, 'W', &b, &e);
    w.n = e - b;
    GMR_CALL(col(&w, "province", "code", COL_U64, &u[0]));
    GMR_CALL(col(&w, "date", "YYYYMMDD", COL_U64, &u[1]));
    GMR_CALL(col(&w, "hour", "1-24 (hour h starts at h-1:00)", COL_U64, &u[2]));
    GMR_CALL(col(&w, "temperature_c", "degC", COL_F64, &f[0]));
    for (size_t i = b; i < e; i++) {
        const unsigned char *k = m->s.r[i].key;
        size_t j = i - b;
        u[0][j] = be(k + 1, 1);
        u[1][j] = be(k + 2, 4);
        u[2][j] = be(k + 6, 1) + 1;
        f[0][j] = (double)(int64_t)m->s.r[i].v[2] / 10;
    }
    GMR_CALL(table_write(m->file, &w));

    tag_range(&m->e, 'F', &b, &e);
    ev.n = e - b;
    ev.strw = 2; /* the longest event_id and its NUL: the ids are short, the table long */
    for (size_t i = b; i < e; i++)
        if (m->e.r[i].klen > ev.strw) ev.strw = m->e.r[i].klen;
    GMR_CALL(col(&ev, "event_id", "text", COL_STR, &s));
    GMR_CALL(col(&ev, "type", "code (/dim/event_type)", COL_U64, &u[0]));
    GMR_CALL(col(&ev, "customer_id", "1 (0 for outages)", COL_U64, &u[1]));
    GMR_CALL(col(&ev, "province", "code", COL_U64, &u[2]));
    GMR_CALL(col(&ev, "time", "YYYYMMDDhhmmss", COL_U64, &u[3]));
    GMR_CALL(col(&ev, "amount_yuan", "yuan (payments)", COL_F64, &f[0]));
    GMR_CALL(col(&ev, "duration_min", "minutes (outages)", COL_U64, &u[4]));
    GMR_CALL(col(&ev, "county", "code (outages)", COL_U64, &u[5]));
    for (size_t i = b; i < e; i++) {
        const krow *r = &m->e.r[i];
        size_t j = i - b;
        memcpy((char *)s + j * ev.strw, r->key + 1, r->klen - 1);
        u[0][j] = r->v[2];
        u[1][j] = r->v[3];
        u[2][j] = r->v[4];
        u[3][j] = r->v[5];
        f[0][j] = r->v[2] == SUP_EV_PAYMENT ? (double)r->v[6] / 100 : 0;
        u[4][j] = r->v[2] == SUP_EV_OUTAGE ? r->v[6] : 0;
        u[5][j] = r->v[7];
    }
    m->sum->events_rows = ev.n;
    GMR_CALL(table_write(m->file, &ev));
out:
    if (g >= 0) H5Gclose(g);
    table_free(&d);
    table_free(&bl);
    table_free(&w);
    table_free(&ev);
    return err;
}

/* /summary/customer_month: one row per customer and month with readings */
static gmr_err summary(model *m)
{
    gmr_err err = GMR_OK;
    table t = {"/summary/customer_month", "wide table: one row per customer and month with readings", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    size_t b, e, nrows = 0;
    uint64_t *id, *month, *days, *iv, *zero, *billed, *pay, *compl, *wo, *outn, *outm;
    double *kwh, *peak, *peakkw, *lf, *night, *bkwh, *bamt, *payy;
    tag_range(&m->s, 'D', &b, &e);
    for (size_t i = b; i < e; i++)
        if (i == b || memcmp(m->s.r[i].key + 1, m->s.r[i - 1].key + 1, 8) != 0 ||
            be(m->s.r[i].key + 9, 4) / 100 != be(m->s.r[i - 1].key + 9, 4) / 100)
            nrows++;
    t.n = nrows;
    GMR_CALL(col(&t, "customer_id", "1", COL_U64, &id));
    GMR_CALL(col(&t, "month", "YYYYMM", COL_U64, &month));
    GMR_CALL(col(&t, "days", "days with readings", COL_U64, &days));
    GMR_CALL(col(&t, "intervals", "readings", COL_U64, &iv));
    GMR_CALL(col(&t, "energy_kwh", "kWh", COL_F64, &kwh));
    GMR_CALL(col(&t, "peak_kwh", "kWh per 15 min", COL_F64, &peak));
    GMR_CALL(col(&t, "peak_kw", "kW", COL_F64, &peakkw));
    GMR_CALL(col(&t, "load_factor", "mean / peak interval", COL_F64, &lf));
    GMR_CALL(col(&t, "night_share", "share of energy 23:00-07:00", COL_F64, &night));
    GMR_CALL(col(&t, "zero_intervals", "readings", COL_U64, &zero));
    GMR_CALL(col(&t, "billed", "0/1", COL_U64, &billed));
    GMR_CALL(col(&t, "bill_kwh", "kWh", COL_F64, &bkwh));
    GMR_CALL(col(&t, "bill_amount_yuan", "yuan", COL_F64, &bamt));
    GMR_CALL(col(&t, "payments", "events", COL_U64, &pay));
    GMR_CALL(col(&t, "payment_yuan", "yuan", COL_F64, &payy));
    GMR_CALL(col(&t, "complaints", "events", COL_U64, &compl));
    GMR_CALL(col(&t, "work_orders", "events", COL_U64, &wo));
    GMR_CALL(col(&t, "outages", "events in the county", COL_U64, &outn));
    GMR_CALL(col(&t, "outage_minutes", "minutes in the county", COL_U64, &outm));
    for (size_t i = b, r = 0; i < e; r++) {
        uint64_t cid = be(m->s.r[i].key + 1, 8), ym = be(m->s.r[i].key + 9, 4) / 100;
        uint64_t n = 0, wh = 0, pk = 0, z = 0, nw = 0, nd = 0;
        unsigned char k[16];
        const uint64_t *v;
        for (; i < e && be(m->s.r[i].key + 1, 8) == cid && be(m->s.r[i].key + 9, 4) / 100 == ym; i++) {
            v = m->s.r[i].v;
            nd++;
            n += v[1];
            wh += v[2];
            if (v[3] > pk) pk = v[3];
            z += v[5];
            nw += v[6];
        }
        id[r] = cid;
        month[r] = ym;
        days[r] = nd;
        iv[r] = n;
        kwh[r] = (double)wh / 1000;
        peak[r] = (double)pk / 1000;
        peakkw[r] = (double)pk * 4 / 1000;
        lf[r] = pk ? (double)wh / (double)n / (double)pk : 0;
        night[r] = wh ? (double)nw / (double)wh : 0;
        zero[r] = z;
        k[0] = 'B';
        put_be(k + 1, cid, 8);
        put_be(k + 9, ym, 4);
        if ((v = find(&m->s, k, 13)) != NULL) {
            billed[r] = 1;
            bkwh[r] = (double)v[3] / 1000;
            bamt[r] = (double)v[7] / 100;
        }
        k[0] = 'E';
        for (int ty = SUP_EV_PAYMENT; ty <= SUP_EV_WORK_ORDER; ty++) {
            put_be(k + 13, (uint64_t)ty, 1);
            if (!(v = find(&m->e, k, 14))) continue;
            if (ty == SUP_EV_PAYMENT) {
                pay[r] = v[1];
                payy[r] = (double)v[2] / 100;
            } else if (ty == SUP_EV_COMPLAINT) {
                compl[r] = v[1];
            } else {
                wo[r] = v[1];
            }
        }
        k[0] = 'K';
        if ((v = find(&m->s, k, 9)) != NULL) { /* the customer's county's outages */
            k[0] = 'O';
            put_be(k + 1, v[2], 4);
            put_be(k + 5, ym, 4);
            if ((v = find(&m->e, k, 9)) != NULL) {
                outn[r] = v[1];
                outm[r] = v[2];
            }
        }
    }
    m->sum->customer_months = t.n;
    GMR_CALL(table_write(m->file, &t));
out:
    table_free(&t);
    return err;
}

/* /app/forecast (and app_forecast.csv): one row per province and hour with readings */
static gmr_err forecast(model *m)
{
    gmr_err err = GMR_OK;
    table t = {"/app/forecast", "load forecasting: one row per province and hour with readings", 0, 0, {0}, {0}, {0}, {0}, {{0}}, 0};
    size_t b, e;
    uint64_t *prov, *date, *hour, *wd, *mon, *hol, *iv;
    double *load, *temp;
    tag_range(&m->s, 'H', &b, &e);
    t.n = e - b;
    GMR_CALL(col(&t, "province", "code", COL_U64, &prov));
    GMR_CALL(col(&t, "date", "YYYYMMDD", COL_U64, &date));
    GMR_CALL(col(&t, "hour", "1-24 (hour h starts at h-1:00)", COL_U64, &hour));
    GMR_CALL(col(&t, "load_kwh", "kWh in the hour", COL_F64, &load));
    GMR_CALL(col(&t, "temperature_c", "degC (NaN: no weather row)", COL_F64, &temp));
    GMR_CALL(col(&t, "weekday", "1=Monday..7=Sunday", COL_U64, &wd));
    GMR_CALL(col(&t, "month", "1-12", COL_U64, &mon));
    GMR_CALL(col(&t, "holiday", "0/1", COL_U64, &hol));
    GMR_CALL(col(&t, "intervals", "readings summed", COL_U64, &iv));
    if (m->fc) fprintf(m->fc, "province,date,hour,load_kwh,temperature_c,weekday,month,holiday\n");
    for (size_t i = b; i < e; i++) {
        const unsigned char *k = m->s.r[i].key;
        const uint64_t *v = m->s.r[i].v, *w;
        unsigned char wk[7];
        size_t j = i - b;
        uint32_t ymd = (uint32_t)be(k + 2, 4);
        int64_t tt = 0;
        prov[j] = be(k + 1, 1);
        date[j] = ymd;
        hour[j] = be(k + 6, 1) + 1;
        load[j] = (double)v[2] / 1000;
        memcpy(wk, k, 7);
        wk[0] = 'W';
        w = find(&m->s, wk, 7);
        if (w) tt = (int64_t)w[2];
        temp[j] = w ? (double)tt / 10 : NAN;
        wd[j] = (uint64_t)gmr__sup_weekday(ymd);
        mon[j] = ymd / 100 % 100;
        hol[j] = (uint64_t)gmr__sup_holiday(ymd);
        iv[j] = v[1];
        if (m->fc) {
            char tc[32] = "";
            if (w) snprintf(tc, sizeof tc, "%s%lld.%lld", tt < 0 ? "-" : "", (long long)(llabs(tt) / 10), (long long)(llabs(tt) % 10));
            fprintf(m->fc, "%llu,%04u-%02u-%02u,%llu,%llu.%03llu,%s,%llu,%llu,%llu\n", (unsigned long long)prov[j],
                    ymd / 10000, ymd / 100 % 100, ymd % 100, (unsigned long long)hour[j],
                    (unsigned long long)(v[2] / 1000), (unsigned long long)(v[2] % 1000), tc,
                    (unsigned long long)wd[j], (unsigned long long)mon[j], (unsigned long long)hol[j]);
        }
    }
    m->sum->forecast_rows = t.n;
    GMR_CALL(table_write(m->file, &t));
out:
    table_free(&t);
    return err;
}

static const char *const seg_stats[] = {"days", "mean_daily_kwh", "peak_kwh", "load_factor", "weekend_ratio",
                                        "night_share", "daily_cv", "zero_share"};
static const char *const seg_units[] = {"days", "kWh", "kWh per 15 min", "mean / peak interval",
                                        "weekend / weekday mean interval", "share of energy 23:00-07:00",
                                        "std / mean of daily energy", "share of readings"};

static char *path_join(const char *a, const char *sep, const char *b)
{
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, sep, b);
    return s;
}

/* ---- /app/segment, built by every rank ------------------------------------------------------ */

/* The segmentation table has one row per customer: at a million customers it must not pass
 * through headquarters. Every rank reads 1/size of the profile job's rows ('P', one per
 * customer) and of the structured job's rows (for the 'D' rows: a customer's daily energy),
 * both straight from the jobs' result files. Customer-id ranges are cut by a sample sort (each
 * rank sends `size` evenly spaced ids of its sorted part to all; the splitters are every
 * size-th of the gathered samples), one MPI_Alltoallv per record kind moves each customer's
 * profile and days to the rank of its range, and each rank computes its customers' rows in id
 * order and writes them at the offset MPI_Exscan gives, with collective hyperslab writes into
 * the file headquarters has just written. The rows are thus in customer_id order and the same
 * values whatever the rank count; a row is computed with the same operations in the same order
 * as a whole-table build would. Memory per rank: its share of profiles (1.6 KB a customer,
 * about three copies at the peak) and of days; nothing grows with the whole table on one rank
 * but the size x size samples. --csv DIR/app_segment.csv is written rank after rank (a token
 * passed along the ranks; headquarters writes the header). */

#define PREC (1 + SUP_PROF_SLOTS) /* a profile record: customer id, then the FULL value */
#define DREC 3                    /* a day record: customer id, YYYYMMDD, Wh */
#define SEG_COLS (1 + SEG_SLOTS + 8)

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    return (x > y) - (x < y);
}

static int prec_cmp(const void *a, const void *b) { return u64_cmp(a, b); }

static int drec_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* the rank whose id range holds id: the number of splitters <= id */
static int owner_of(const uint64_t *sp, int nsp, uint64_t id)
{
    int lo = 0, hi = nsp;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (sp[mid] <= id) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Collective on comm: the splitters sp[0..size-2] from the ids (sorted, n of them) of every
 * rank. */
static gmr_err splitters(MPI_Comm comm, int size, const uint64_t *ids, uint64_t n, uint64_t *sp)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    uint64_t *mine = malloc((size_t)size * sizeof *mine), *all = malloc((size_t)size * (size_t)size * sizeof *all + 8);
    int *cnt = malloc((size_t)size * sizeof *cnt), *dsp = malloc((size_t)size * sizeof *dsp), k = 0, total = 0;
    if (!mine || !all || !cnt || !dsp) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(comm, local));
    for (int i = 0; n && i < size; i++) mine[k++] = ids[n * (uint64_t)i / (uint64_t)size];
    GMR_CALL_MPI(MPI_Allgather(&k, 1, MPI_INT, cnt, 1, MPI_INT, comm));
    for (int q = 0; q < size; q++) {
        dsp[q] = total;
        total += cnt[q];
    }
    GMR_CALL_MPI(MPI_Allgatherv(mine, k, MPI_UINT64_T, all, cnt, dsp, MPI_UINT64_T, comm));
    qsort(all, (size_t)total, sizeof *all, u64_cmp);
    for (int j = 0; j + 1 < size; j++) sp[j] = total ? all[(size_t)total * (size_t)(j + 1) / (size_t)size] : UINT64_MAX;
out:
    free(mine);
    free(all);
    free(cnt);
    free(dsp);
    return err;
}

/* Collective on comm: n records of `width` uint64 in send, already grouped by destination
 * rank (scnt[q] records for rank q), to their ranks; *recv (allocated) gets *nrecv. Counts are
 * in records (an MPI contiguous type), so a rank may move more than 2 GiB. */
static gmr_err exchange(MPI_Comm comm, int size, const uint64_t *send, const int *scnt, int width, uint64_t **recv,
                        uint64_t *nrecv)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    MPI_Datatype t = MPI_DATATYPE_NULL;
    int *rcnt = calloc((size_t)size, sizeof *rcnt), *sdsp = calloc((size_t)size, sizeof *sdsp),
        *rdsp = calloc((size_t)size, sizeof *rdsp);
    uint64_t s = 0, r = 0;
    *recv = NULL;
    *nrecv = 0;
    if (!rcnt || !sdsp || !rdsp) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Alltoall(scnt, 1, MPI_INT, rcnt, 1, MPI_INT, comm));
    for (int q = 0; q < size; q++) {
        if (s > INT32_MAX || r > INT32_MAX) local = GMR_ERROR(GMR_ERR_ARG, "more than 2^31 records to move");
        sdsp[q] = (int)s;
        rdsp[q] = (int)r;
        s += (uint64_t)scnt[q];
        r += (uint64_t)rcnt[q];
    }
    if (!local && !(*recv = malloc((size_t)r * (size_t)width * 8 + 8)))
        local = GMR_ERROR(GMR_ERR_NOMEM, "cannot receive %llu records of %d values", (unsigned long long)r, width);
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Type_contiguous(width, MPI_UINT64_T, &t));
    GMR_CALL_MPI(MPI_Type_commit(&t));
    GMR_CALL_MPI(MPI_Alltoallv(send, scnt, sdsp, t, *recv, rcnt, rdsp, t, comm));
    *nrecv = r;
out:
    if (t != MPI_DATATYPE_NULL) MPI_Type_free(&t);
    free(rcnt);
    free(sdsp);
    free(rdsp);
    return err;
}

/* Not collective: rows of res whose key is tag + customer (+ more), as records of `width`
 * (customer id, then what pick() puts), grouped by owner. *out allocated; cnt[q] counts. */
typedef void (*pick_fn)(const gmr__result *res, uint64_t i, uint64_t *rec);

static void pick_profile(const gmr__result *res, uint64_t i, uint64_t *rec)
{
    memcpy(rec + 1, res->slots + i * (uint64_t)res->ncolumns, SUP_PROF_SLOTS * 8);
}

static void pick_day(const gmr__result *res, uint64_t i, uint64_t *rec)
{
    rec[1] = be((const unsigned char *)res->keys + res->koff[i] + 9, 4);
    rec[2] = res->slots[i * (uint64_t)res->ncolumns + 2];
}

static gmr_err group(const gmr__result *res, unsigned char tag, size_t klen, int width, pick_fn pick, const uint64_t *sp,
                     int size, uint64_t **out, int *cnt)
{
    gmr_err err = GMR_OK;
    uint64_t n = 0, *pos = calloc((size_t)size + 1, sizeof *pos);
    GMR_CHECK(pos, GMR_ERR_NOMEM, "out of memory");
    memset(cnt, 0, (size_t)size * sizeof *cnt);
    for (uint64_t i = 0; i < res->n; i++) {
        const unsigned char *k = (const unsigned char *)res->keys + res->koff[i];
        if (res->koff[i + 1] - res->koff[i] != klen || k[0] != tag) continue;
        cnt[owner_of(sp, size - 1, be(k + 1, 8))]++;
        n++;
    }
    *out = malloc((size_t)n * (size_t)width * 8 + 8);
    GMR_CHECK(*out, GMR_ERR_NOMEM, "cannot group %llu records", (unsigned long long)n);
    for (int q = 1; q <= size; q++) pos[q] = pos[q - 1] + (uint64_t)cnt[q - 1];
    for (uint64_t i = 0; i < res->n; i++) {
        const unsigned char *k = (const unsigned char *)res->keys + res->koff[i];
        uint64_t *rec, id;
        if (res->koff[i + 1] - res->koff[i] != klen || k[0] != tag) continue;
        id = be(k + 1, 8);
        rec = *out + pos[owner_of(sp, size - 1, id)]++ * (uint64_t)width;
        rec[0] = id;
        pick(res, i, rec);
    }
out:
    free(pos);
    return err;
}

/* One customer's row: its FULL profile pv (SUP_PROF_SLOTS) and its nd day records (DREC, in
 * date order) -> row[0..95] the normalised profile, row[96..103] the statistics. */
static void seg_row(const uint64_t *pv, const uint64_t *days, uint64_t nd, double *row)
{
    const uint64_t *n = pv + SUP_PROF_WEEK; /* n[0], wh[0], n[1], wh[1] */
    uint64_t nn[2] = {n[0], n[2]}, wh[2] = {n[1], n[3]}, pk = pv[SUP_PROF_PEAK], z = pv[SUP_PROF_ZERO];
    double mean[SEG_SLOTS] = {0}, total = 0, night = 0, dsum = 0, dss = 0, dmean;
    for (int s = 0; s < SEG_SLOTS; s++)
        if (pv[1 + 2 * s]) mean[s] = (double)pv[2 + 2 * s] / (double)pv[1 + 2 * s];
    for (int s = 0; s < SEG_SLOTS; s++) {
        total += mean[s];
        if (s < 28 || s >= 92) night += mean[s];
    }
    for (int s = 0; s < SEG_SLOTS; s++) row[s] = total > 0 ? mean[s] / (total / SEG_SLOTS) : 0;
    for (uint64_t j = 0; j < nd; j++) dsum += (double)days[j * DREC + 2];
    dmean = nd ? dsum / (double)nd : 0;
    for (uint64_t j = 0; j < nd; j++) {
        double x = (double)days[j * DREC + 2] - dmean;
        dss += x * x;
    }
    row[SEG_SLOTS + 0] = (double)nd;
    row[SEG_SLOTS + 1] = total / 1000;
    row[SEG_SLOTS + 2] = (double)pk / 1000;
    row[SEG_SLOTS + 3] = pk && nn[0] + nn[1] ? (double)(wh[0] + wh[1]) / (double)(nn[0] + nn[1]) / (double)pk : 0;
    row[SEG_SLOTS + 4] = nn[0] && nn[1] && wh[0] ? ((double)wh[1] / (double)nn[1]) / ((double)wh[0] / (double)nn[0]) : 0;
    row[SEG_SLOTS + 5] = total > 0 ? night / total : 0;
    row[SEG_SLOTS + 6] = nd && dmean > 0 ? sqrt(dss / (double)nd) / dmean : 0;
    row[SEG_SLOTS + 7] = nn[0] + nn[1] ? (double)z / (double)(nn[0] + nn[1]) : 0;
}

/* Collective on comm: n rows of this rank at row `first` of `total`, column c in cols[c] (the
 * customer ids as uint64, the rest doubles), into output's /app/segment. */
static gmr_err seg_write(MPI_Comm comm, const char *output, uint64_t first, uint64_t n, uint64_t total,
                         uint64_t *ids, double *const *cols)
{
    gmr_err err = GMR_OK;
    hid_t fapl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID, file = H5I_INVALID_HID,
          g = H5I_INVALID_HID, fs = H5I_INVALID_HID, ms = H5I_INVALID_HID, d = H5I_INVALID_HID;
    hsize_t dims = (hsize_t)total, cnt = (hsize_t)n;
    char names[SEG_COLS][24], all_names[SEG_COLS * 24], all_units[SEG_COLS * 48];
    all_names[0] = all_units[0] = 0;
    GMR_H5_ID(fapl, H5Pcreate(H5P_FILE_ACCESS));
    GMR_CALL_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
    GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
    GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    GMR_H5_ID(lcpl, H5Pcreate(H5P_LINK_CREATE));
    GMR_CALL_H5(H5Pset_create_intermediate_group(lcpl, 1));
    file = H5Fopen(output, H5F_ACC_RDWR, fapl);
    if (file < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot reopen the model file to add /app/segment", output);
    }
    GMR_H5_ID(g, H5Gcreate2(file, "/app/segment", lcpl, H5P_DEFAULT, H5P_DEFAULT));
    GMR_H5_ID(fs, H5Screate_simple(1, &dims, NULL));
    GMR_H5_ID(ms, H5Screate_simple(1, &cnt, NULL));
    GMR_CALL(gmr__h5_select_range(fs, ms, first, n));
    for (int c = 0; c < SEG_COLS; c++) {
        const char *unit = c == 0 ? "1" : c <= SEG_SLOTS ? "1 (mean of the 96 = 1)" : seg_units[c - 1 - SEG_SLOTS];
        if (c == 0) snprintf(names[c], sizeof names[c], "customer_id");
        else if (c <= SEG_SLOTS) snprintf(names[c], sizeof names[c], "p%02d", c);
        else snprintf(names[c], sizeof names[c], "%s", seg_stats[c - 1 - SEG_SLOTS]);
        snprintf(all_names + strlen(all_names), sizeof all_names - strlen(all_names), "%s%s", c ? "," : "", names[c]);
        snprintf(all_units + strlen(all_units), sizeof all_units - strlen(all_units), "%s%s", c ? "," : "", unit);
        GMR_H5_ID(d, H5Dcreate2(g, names[c], c ? H5T_IEEE_F64LE : H5T_STD_U64LE, fs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        if (total)
            GMR_CALL_H5(H5Dwrite(d, c ? H5T_NATIVE_DOUBLE : H5T_NATIVE_UINT64, ms, fs, dxpl, c ? (const void *)cols[c - 1] : (const void *)ids));
        H5Dclose(d);
        d = H5I_INVALID_HID;
    }
    GMR_CALL(gmr__h5_attr_put_str(g, "columns", all_names));
    GMR_CALL(gmr__h5_attr_put_str(g, "units", all_units));
    GMR_CALL(gmr__h5_attr_put_str(g, "description", "segmentation: normalised mean daily profile (mean 1) and statistics per customer"));
out:
    if (d >= 0) H5Dclose(d);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (g >= 0) H5Gclose(g);
    if (file >= 0 && H5Fclose(file) < 0 && !err) err = GMR_ERROR(GMR_ERR_HDF5, "%s: closing failed", output);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (fapl >= 0) H5Pclose(fapl);
    return err;
}

/* Collective on comm: csv_dir/app_segment.csv, rank after rank. */
static gmr_err seg_csv(MPI_Comm comm, int rank, int size, const char *csv_dir, uint64_t n, const uint64_t *ids,
                       double *const *cols)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    char *path = path_join(csv_dir, "/", "app_segment.csv");
    int failed = 0;
    FILE *f = NULL;
    if (rank > 0) GMR_CALL_MPI(MPI_Recv(&failed, 1, MPI_INT, rank - 1, 0, comm, MPI_STATUS_IGNORE));
    if (!path) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    else if (!failed && !(f = fopen(path, rank == 0 ? "w" : "a"))) local = GMR_ERROR(GMR_ERR_IO, "%s: %s", path, strerror(errno));
    if (f) {
        if (rank == 0) {
            fprintf(f, "customer_id");
            for (int s = 0; s < SEG_SLOTS; s++) fprintf(f, ",p%02d", s + 1);
            for (int s = 0; s < 8; s++) fprintf(f, ",%s", seg_stats[s]);
            fprintf(f, "\n");
        }
        for (uint64_t r = 0; r < n; r++) {
            fprintf(f, "%llu", (unsigned long long)ids[r]);
            for (int c = 0; c < SEG_SLOTS + 8; c++) fprintf(f, ",%.17g", cols[c][r]);
            fprintf(f, "\n");
        }
        if (ferror(f) | fclose(f)) local = GMR_ERROR(GMR_ERR_IO, "%s: write failed", path);
    }
    failed |= local != GMR_OK;
    if (rank + 1 < size) GMR_CALL_MPI(MPI_Send(&failed, 1, MPI_INT, rank + 1, 0, comm));
    GMR_CALL(gmr__agree(comm, local));
out:
    free(path);
    return err;
}

/* Collective on comm: /app/segment of output (and csv_dir/app_segment.csv) from the profile
 * job's result prof and the structured job's result st; *rows = the table's rows. */
static gmr_err segment_build(MPI_Comm user_comm, const char *prof, const char *st, const char *output, const char *csv_dir,
                             uint64_t *rows)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    MPI_Comm comm = MPI_COMM_NULL; /* our own: the csv token's point-to-point messages meet no one else's */
    gmr__result *res = NULL;
    uint64_t *ids = NULL, *sp = NULL, *send = NULL, *pr = NULL, *dr = NULL, np = 0, nd = 0, first = 0, total = 0;
    double *cols[SEG_SLOTS + 8] = {NULL};
    int rank, size, *cnt = NULL;
    GMR_CALL_MPI(MPI_Comm_dup(user_comm, &comm));
    GMR_CALL_MPI(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    sp = malloc((size_t)size * sizeof *sp);
    cnt = malloc((size_t)size * sizeof *cnt);
    if (!sp || !cnt) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    /* the profiles: splitters from this rank's part, then to their ranks */
    if (!local) local = gmr__result_read_part(prof, rank, size, &res);
    if (!local && res->ncolumns != SUP_PROF_SLOTS) local = GMR_ERROR(GMR_ERR_INTERNAL, "%s: %d columns", prof, res->ncolumns);
    if (!local && !(ids = malloc((size_t)res->n * 8 + 8))) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(comm, local));
    for (uint64_t i = 0; i < res->n; i++) ids[i] = be((const unsigned char *)res->keys + res->koff[i] + 1, 8);
    qsort(ids, (size_t)res->n, 8, u64_cmp);
    GMR_CALL(splitters(comm, size, ids, res->n, sp));
    free(ids);
    ids = NULL;
    local = group(res, 'P', 9, PREC, pick_profile, sp, size, &send, cnt);
    gmr__result_free(&res);
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL(exchange(comm, size, send, cnt, PREC, &pr, &np));
    free(send);
    send = NULL;
    /* the days */
    local = gmr__result_read_part(st, rank, size, &res);
    if (!local) local = group(res, 'D', 13, DREC, pick_day, sp, size, &send, cnt);
    gmr__result_free(&res);
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL(exchange(comm, size, send, cnt, DREC, &dr, &nd));
    free(send);
    send = NULL;
    /* this rank's rows, in customer order */
    qsort(pr, (size_t)np, PREC * 8, prec_cmp);
    qsort(dr, (size_t)nd, DREC * 8, drec_cmp);
    ids = malloc((size_t)np * 8 + 8);
    if (!ids) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    for (int c = 0; !local && c < SEG_SLOTS + 8; c++)
        if (!(cols[c] = malloc((size_t)np * sizeof(double) + 8))) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot hold %llu segment rows", (unsigned long long)np);
    GMR_CALL(gmr__agree(comm, local));
    for (uint64_t r = 0, j = 0; r < np; r++) {
        const uint64_t *p = pr + r * PREC;
        double row[SEG_SLOTS + 8];
        uint64_t j0;
        while (j < nd && dr[j * DREC] < p[0]) j++;
        for (j0 = j; j < nd && dr[j * DREC] == p[0]; j++) {}
        seg_row(p + 1, dr + j0 * DREC, j - j0, row);
        ids[r] = p[0];
        for (int c = 0; c < SEG_SLOTS + 8; c++) cols[c][r] = row[c];
    }
    free(pr);
    pr = NULL;
    free(dr);
    dr = NULL;
    GMR_CALL_MPI(MPI_Exscan(&np, &first, 1, MPI_UINT64_T, MPI_SUM, comm));
    if (rank == 0) first = 0;
    GMR_CALL_MPI(MPI_Allreduce(&np, &total, 1, MPI_UINT64_T, MPI_SUM, comm));
    GMR_CALL(seg_write(comm, output, first, np, total, ids, cols));
    if (csv_dir) GMR_CALL(seg_csv(comm, rank, size, csv_dir, np, ids, cols));
    *rows = total;
out:
    gmr__result_free(&res);
    for (int c = 0; c < SEG_SLOTS + 8; c++) free(cols[c]);
    free(ids);
    free(sp);
    free(cnt);
    free(send);
    free(pr);
    free(dr);
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    return err;
}

/* Not collective (rank 0 only): both results -> the model file (and the CSV files). */
static gmr_err assemble(const char *dir, const char *tmp[2], const char *output, const char *csv_dir,
                        gmr_supply_summary *s)
{
    gmr_err err = GMR_OK;
    gmr__result *res[2] = {NULL, NULL};
    model m;
    char *rpath = NULL, *fcp = NULL;
    double t0 = MPI_Wtime(), t1, t2;
    memset(&m, 0, sizeof m);
    m.file = H5I_INVALID_HID;
    m.sum = s;
    for (int j = 0; j < 2; j++) GMR_CALL(gmr__result_read(tmp[j], &res[j]));
    t1 = MPI_Wtime();
    GMR_CALL(rows_of(res[0], &m.s));
    GMR_CALL(rows_of(res[1], &m.e));
    t2 = MPI_Wtime();
    if (csv_dir) {
        if (mkdir(csv_dir, 0777) != 0) GMR_CHECK(errno == EEXIST, GMR_ERR_IO, "%s: %s", csv_dir, strerror(errno));
        fcp = path_join(csv_dir, "/", "app_forecast.csv");
        GMR_CHECK(fcp, GMR_ERR_NOMEM, "out of memory");
        m.fc = fopen(fcp, "w");
        GMR_CHECK(m.fc, GMR_ERR_IO, "%s: %s", fcp, strerror(errno));
    }
    m.file = H5Fcreate(output, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (m.file < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot create the HDF5 file", output);
    }
    rpath = path_join(dir, "/", "readings.csv");
    GMR_CHECK(rpath, GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__h5_attr_put_str(m.file, "job", "supply"));
    GMR_CALL(gmr__h5_attr_put_str(m.file, "gridmr_version", GMR_VERSION_STRING));
    GMR_CALL(gmr__h5_attr_put_str(m.file, "input", dir));
    GMR_CALL(gmr__h5_attr_put(m.file, "rejected", H5T_NATIVE_UINT64, 1, &s->rejected));
    GMR_CALL(dims(&m));
    GMR_CALL(dim_date(&m));
    GMR_CALL(facts(&m, rpath, s->structured.records));
    GMR_CALL(summary(&m));
    GMR_CALL(forecast(&m));
    gmr_log(GMR_LOG_DEBUG, "supply models: read %.3f s (%zu + %zu rows), sort %.3f s, tables %.3f s", t1 - t0,
            m.s.n, m.e.n, t2 - t1, MPI_Wtime() - t2);
    for (int j = 0; j < 2; j++) /* records whose key came twice, not in a row: kept once */
        for (size_t i = 0; i < (j ? m.e.n : m.s.n); i++) {
            const krow *r = j ? &m.e.r[i] : &m.s.r[i];
            if (r->v[0] == SUP_RECORD && r->v[1] > 1) s->duplicates += r->v[1] - 1;
        }
    if (m.fc) {
        int bad = ferror(m.fc);
        bad |= fclose(m.fc);
        m.fc = NULL;
        GMR_CHECK(!bad, GMR_ERR_IO, "%s: write failed", fcp);
    }
out:
    if (m.file >= 0 && H5Fclose(m.file) < 0 && !err) err = GMR_ERROR(GMR_ERR_HDF5, "%s: closing failed", output);
    if (err) unlink(output);
    if (m.fc) fclose(m.fc);
    if (err && fcp) unlink(fcp);
    free(m.s.r);
    free(m.e.r);
    for (int j = 0; j < 2; j++) gmr__result_free(&res[j]);
    free(rpath);
    free(fcp);
    return err;
}

/* Not collective (rank 0 only): OUTPUT.rejects = the jobs' rejects (structured, then events);
 * theirs removed. */
static gmr_err merge_rejects(const char *tmp[2], const char *output, uint64_t total)
{
    gmr_err err = GMR_OK;
    char *path = path_join(output, "", ".rejects"), *src = NULL;
    FILE *out = NULL, *in = NULL;
    char buf[65536];
    size_t n;
    GMR_CHECK(path, GMR_ERR_NOMEM, "out of memory");
    if (!total) {
        GMR_CHECK(unlink(path) == 0 || errno == ENOENT, GMR_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    out = fopen(path, "w");
    GMR_CHECK(out, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    for (int j = 0; j < 2; j++) {
        free(src);
        src = path_join(tmp[j], "", ".rejects");
        GMR_CHECK(src, GMR_ERR_NOMEM, "out of memory");
        if (!(in = fopen(src, "r"))) continue;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) GMR_CHECK(fwrite(buf, 1, n, out) == n, GMR_ERR_IO, "%s: write failed", path);
        fclose(in);
        in = NULL;
        unlink(src);
    }
    GMR_CHECK(fclose(out) == 0, GMR_ERR_IO, "%s: write failed", path);
    out = NULL;
out:
    if (in) fclose(in);
    if (out) fclose(out);
    free(src);
    free(path);
    return err;
}

/* OUT's stage file: DIR/basename(OUT).stage with --stage DIR, else OUT.stage (as the engine's). */
static char *stage_file(const char *out, const gmr_options *opt)
{
    const char *base = strrchr(out, '/');
    return opt->stage_dir ? path_join(opt->stage_dir, "/", base ? base + 1 : out) : path_join(out, "", "");
}

static void remove_stage(const char *out, const gmr_options *opt)
{
    char *p = stage_file(out, opt), *stage = p ? path_join(p, "", ".stage") : NULL;
    if (stage) unlink(stage);
    free(stage);
    free(p);
}

/* Collective on comm: one supply job over dir/files into out. Its stage is removed once the
 * job finished, and kept when it was interrupted (for --resume). With --resume a job whose
 * result an earlier run finished (supply_resume.c) is not run again. */
static gmr_err run_job(MPI_Comm comm, const gmr_job_ops *ops, const char *dir, const char *const *files, int nfiles,
                       const char *out, const gmr_options *opt, gmr_summary *sum)
{
    gmr_err err = GMR_OK;
    gmr__sup_map *m = NULL;
    gmr_job job = NULL;
    gmr_options o = *opt;
    char *path = NULL, *fp = NULL, text[96];
    int rank = 0, done = 0;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    /* the map depends on nothing but the job, and --strict (a strict run stops at a reject) */
    snprintf(text, sizeof text, "%s%s", ops->name, opt->strict ? " --strict" : "");
    o.options_text = text;
    GMR_CALL(gmr__agree(comm, rank == 0 ? gmr__sup_fingerprint(ops->name, &o, dir, files, nfiles, &fp) : GMR_OK));
    if (opt->resume) {
        GMR_CALL(gmr__sup_job_done(comm, out, fp, sum, &done));
        if (done) {
            if (rank == 0)
                gmr_log(GMR_LOG_INFO, "%s: finished by an earlier run (%s): not run again", ops->name, out);
            goto out;
        }
    }
    GMR_CALL(gmr__sup_map_create(&m));
    GMR_CALL(gmr_job_create(comm, ops, m, &job));
    GMR_CALL(gmr_job_set_options(job, &o));
    for (int i = 0; i < nfiles; i++) {
        path = path_join(dir, "/", files[i]);
        GMR_CHECK(path, GMR_ERR_NOMEM, "out of memory");
        GMR_CALL(gmr_job_add_input(job, path));
        free(path);
        path = NULL;
    }
    err = gmr_job_run(job, out);
    if (!err) err = gmr_job_get_summary(job, sum);
    if (!err) err = gmr__sup_job_mark(comm, out, fp);
    /* finished: the result holds everything; interrupted: the stage is what --resume needs */
    if (rank == 0 && err != GMR_ERR_INTERRUPTED) remove_stage(out, opt);
    GMR_CALL(err);
out:
    free(fp);
    free(path);
    gmr_job_destroy(&job);
    gmr__sup_map_destroy(&m);
    return err;
}

/* Collective on comm: every rank checks the headers (rank 0 reads them) before any work. */
static gmr_err check_headers(MPI_Comm comm, const char *dir)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    int rank;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    for (int i = 0; rank == 0 && !local && i < SUP_NFILES; i++) {
        char *path = path_join(dir, "/", gmr__sup_files[i]), line[512] = "";
        FILE *f = path ? fopen(path, "r") : NULL;
        if (!path) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
        else if (!f) local = GMR_ERROR(GMR_ERR_IO, "%s: %s", path, strerror(errno));
        else if (!fgets(line, sizeof line, f))
            local = GMR_ERROR(GMR_ERR_DATA, "%s: empty file (the header '%s' is expected)", path, gmr__sup_headers[i]);
        else if ((line[strcspn(line, "\r\n")] = 0, strcmp(line, gmr__sup_headers[i]) != 0))
            local = GMR_ERROR(GMR_ERR_DATA, "%s:1: header '%.80s' is not the expected '%s'", path, line, gmr__sup_headers[i]);
        if (f) fclose(f);
        free(path);
    }
    GMR_CALL(gmr__agree(comm, local));
out:
    return err;
}

/* Collective on comm: a barrier that the other ranks wait in asleep (1 ms naps) instead of
 * spinning in MPI, so that headquarters builds the models with the whole core to itself (on
 * 2 busy cores a spinning rank halved its speed). */
static gmr_err idle_wait(MPI_Comm comm)
{
    gmr_err err = GMR_OK;
    MPI_Request req = MPI_REQUEST_NULL;
    int done = 0;
    struct timespec nap = {0, 1000000};
    GMR_CALL_MPI(MPI_Ibarrier(comm, &req));
    for (;;) {
        GMR_CALL_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (done) break;
        nanosleep(&nap, NULL);
    }
out:
    return err;
}

gmr_err gmr_supply_build(MPI_Comm comm, const char *dir, const char *output, const char *csv_dir, const gmr_options *opt,
                         gmr_supply_summary *s)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    static const char *const events_file[1] = {"events.jsonl"}, *const readings_file[1] = {"readings.csv"};
    char *tmp[3] = {NULL, NULL, NULL};
    int rank = -1;
    double t0 = MPI_Wtime(), t1, tl, ts, tmax[3], tloc[3];
    uint64_t counts[8], rss[2] = {0, 0};
    struct rusage ru;

    memset(s, 0, sizeof *s);
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CHECK(dir && output && opt, GMR_ERR_ARG, "supply needs an input directory and an output file");
    tmp[0] = path_join(output, "", ".structured.h5");
    tmp[1] = path_join(output, "", ".events.h5");
    tmp[2] = path_join(output, "", ".profile.h5");
    GMR_CHECK(tmp[0] && tmp[1] && tmp[2], GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(check_headers(comm, dir));
    GMR_CALL(run_job(comm, &gmr__sup_structured_ops, dir, gmr__sup_files, SUP_NFILES, tmp[0], opt, &s->structured));
    GMR_CALL(run_job(comm, &gmr__sup_events_ops, dir, events_file, 1, tmp[1], opt, &s->events));
    GMR_CALL(run_job(comm, &gmr__sup_profile_ops, dir, readings_file, 1, tmp[2], opt, &s->profile));
    s->input_bytes = s->structured.input_bytes + s->events.input_bytes;
    s->rejected = s->structured.rejected + s->events.rejected;
    snprintf(s->first_reject, sizeof s->first_reject, "%s", s->structured.rejected ? s->structured.first_reject : s->events.first_reject);
    t1 = MPI_Wtime();
    if (rank == 0) {
        local = assemble(dir, (const char **)tmp, output, csv_dir, s);
        if (!local) local = merge_rejects((const char **)tmp, output, s->rejected);
    }
    tl = MPI_Wtime();
    GMR_CALL(idle_wait(comm));
    GMR_CALL(gmr__agree(comm, local));
    local = segment_build(comm, tmp[2], tmp[0], output, csv_dir, &s->segment_rows);
    if (local && rank == 0) { /* no half-built model file */
        char *c = csv_dir ? path_join(csv_dir, "/", "app_segment.csv") : NULL;
        unlink(output);
        if (c) unlink(c);
        free(c);
    }
    GMR_CALL(local);
    ts = MPI_Wtime();
    counts[0] = s->customers;
    counts[1] = s->dates;
    counts[2] = s->bills;
    counts[3] = s->events_rows;
    counts[4] = s->reading_days;
    counts[5] = s->customer_months;
    counts[6] = s->forecast_rows;
    counts[7] = s->segment_rows; /* known to every rank */
    GMR_CALL_MPI(MPI_Bcast(counts, 8, MPI_UINT64_T, 0, comm));
    GMR_CALL_MPI(MPI_Bcast(&s->duplicates, 1, MPI_UINT64_T, 0, comm));
    s->customers = counts[0];
    s->dates = counts[1];
    s->bills = counts[2];
    s->events_rows = counts[3];
    s->reading_days = counts[4];
    s->customer_months = counts[5];
    s->forecast_rows = counts[6];
    s->segment_rows = counts[7];
    tloc[0] = t1 - t0;
    tloc[1] = tl - t1;
    tloc[2] = ts - tl;
    GMR_CALL_MPI(MPI_Allreduce(tloc, tmax, 3, MPI_DOUBLE, MPI_MAX, comm));
    s->t_jobs = tmax[0];
    s->t_assemble = tmax[1];
    s->t_segment = tmax[2];
    if (getrusage(RUSAGE_SELF, &ru) == 0) rss[rank == 0 ? 0 : 1] = (uint64_t)ru.ru_maxrss * 1024; /* KiB on Linux */
    GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, rss, 2, MPI_UINT64_T, MPI_MAX, comm));
    s->peak_rss_hq = rss[0];
    s->peak_rss_other = rss[1];
    s->t_total = MPI_Wtime() - t0;
    gmr_log(GMR_LOG_INFO, "supply: jobs %.3f s, models at HQ %.3f s, segment %.3f s", s->t_jobs, s->t_assemble, s->t_segment);
out:
    if (err && rank == 0) { /* no model file: no rejects file of an earlier run beside it either */
        char *r = path_join(output ? output : "", "", ".rejects");
        if (r && output) unlink(r);
        free(r);
    }
    /* interrupted: the finished jobs' results and the unfinished job's stage stay for --resume */
    if (rank == 0 && err != GMR_ERR_INTERRUPTED)
        for (int j = 0; j < 3; j++)
            if (tmp[j]) {
                char *r = path_join(tmp[j], "", ".rejects");
                unlink(tmp[j]);
                if (r) unlink(r);
                free(r);
                remove_stage(tmp[j], opt); /* a job finished by an earlier run may have left it */
            }
    free(tmp[0]);
    free(tmp[1]);
    free(tmp[2]);
    return err;
}
