/* ref_supply.c: an independent serial reference for `gridmr supply`, used by tests/run.sh.
 *
 * Shares no code with gridmr. It reads a generated power data set (docs/data.md) on its own:
 * its own CSV splitting and field checks (a record is bad for the reasons corrupt.csv lists:
 * field count, a column's type or set, a key seen before), the references' JSON parser
 * (tests/ref_json.h, shared with tests/ref_ingest.c: recursive descent, numbers kept as text, so
 * payments are summed in exact fen from their decimal text), its own calendar and holiday table, and grouping with
 * its own hash table. From the valid records it computes the summary wide table per customer
 * and month, both application tables and the bills, then reads SUPPLY.h5 with the HDF5 C API
 * and compares every value (integers exactly, floating point to 1e-12 relative).
 *
 * usage: ref_supply DATADIR SUPPLY.h5 [FORECAST.csv]
 *   prints "ref_supply: N tables, M values agree" and exits 0, or lists the first
 *   differences and exits 1; with FORECAST.csv it also writes its own app_forecast.csv there
 *   (to be compared byte for byte with `gridmr supply --csv`). */
#define _GNU_SOURCE
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    FILE *f;
    char *p = NULL;
    long n;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        perror(path);
        exit(2);
    }
    p = malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* ---- a hash table: 64-bit key -> index -------------------------------------------------- */

typedef struct map {
    uint64_t *k;
    long *v;
    size_t cap, n;
} map;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* the slot's value pointer; *fresh = 1 when the key was new (value -1) */
static long *map_get(map *m, uint64_t key, int *fresh)
{
    if (2 * (m->n + 1) > m->cap) {
        map o = *m;
        m->cap = m->cap ? 2 * m->cap : 1024;
        m->k = calloc(m->cap, sizeof *m->k);
        m->v = malloc(m->cap * sizeof *m->v);
        m->n = 0;
        for (size_t i = 0; i < m->cap; i++) m->v[i] = -2; /* empty */
        for (size_t i = 0; i < o.cap; i++)
            if (o.v[i] != -2) {
                int f;
                *map_get(m, o.k[i], &f) = o.v[i];
            }
        free(o.k);
        free(o.v);
    }
    for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->v[i] == -2) {
            m->k[i] = key;
            m->v[i] = -1;
            m->n++;
            *fresh = 1;
            return &m->v[i];
        }
        if (m->k[i] == key) {
            *fresh = 0;
            return &m->v[i];
        }
    }
}

static uint64_t fnv(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* ---- calendar ---------------------------------------------------------------------------- */

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
static int mdays(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return d[m - 1] + (m == 2 && leap(y));
}

/* Sakamoto's method: 0 Sunday .. 6 Saturday -> ISO 1 Monday .. 7 Sunday */
static int iso_weekday(int y, int m, int d)
{
    static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    int w;
    if (m < 3) y--;
    w = (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
    return w == 0 ? 7 : w;
}

/* statutory days off, mainland China (State Council notices) */
static int holiday(int y, int m, int d)
{
    static const char *const days[] = {
        "2024-01-01", "2024-02-10:2024-02-17", "2024-04-04:2024-04-06", "2024-05-01:2024-05-05", "2024-06-10",
        "2024-09-15:2024-09-17", "2024-10-01:2024-10-07", "2025-01-01", "2025-01-28:2025-02-04",
        "2025-04-04:2025-04-06", "2025-05-01:2025-05-05", "2025-05-31:2025-06-02", "2025-10-01:2025-10-08",
        "2026-01-01:2026-01-03", "2026-02-15:2026-02-23", "2026-04-04:2026-04-06", "2026-05-01:2026-05-05",
        "2026-06-19:2026-06-21", "2026-09-25:2026-09-27", "2026-10-01:2026-10-07", NULL};
    char s[11];
    snprintf(s, sizeof s, "%04d-%02d-%02d", y, m, d);
    if (y < 2024 || y > 2026) return (m == 1 && d == 1) || (m == 5 && d <= 5) || (m == 10 && d <= 7);
    for (int i = 0; days[i]; i++) {
        const char *lo = days[i], *hi = strchr(days[i], ':') ? strchr(days[i], ':') + 1 : days[i];
        if (strncmp(s, lo, 10) >= 0 && strncmp(s, hi, 10) <= 0) return 1;
    }
    return 0;
}

/* ---- field checks ------------------------------------------------------------------------ */

static int all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int is_date(const char *s, int *y, int *m, int *d)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) || !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
        return 0;
    *y = atoi(s);
    *m = atoi(s + 5);
    *d = atoi(s + 8);
    return *y >= 1900 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= mdays(*y, *m);
}

/* YYYY-MM-DDTHH:MM:SS that exists; fills the parts */
static int is_stamp_p(const char *s, int *y, int *mo, int *d, int *h, int *mi, int *se)
{
    char date[11];
    if (strlen(s) != 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':') return 0;
    memcpy(date, s, 10);
    date[10] = 0;
    if (!is_date(date, y, mo, d) || !all_digits(s + 11, 2) || !all_digits(s + 14, 2) || !all_digits(s + 17, 2)) return 0;
    *h = atoi(s + 11);
    *mi = atoi(s + 14);
    *se = atoi(s + 17);
    return *h < 24 && *mi < 60 && *se < 60;
}

/* decimal text -> integer in units of 10^-scale; 0 when not a plain decimal */
static int decimal(const char *s, int scale, int sign, long long *out)
{
    long long v = 0;
    int neg = 0, frac = -1, nd = 0;
    if (sign && *s == '-') neg = 1, s++;
    for (; *s; s++) {
        if (*s == '.' && frac < 0 && nd) { frac = 0; continue; }
        if (*s < '0' || *s > '9') return 0;
        if (frac >= 0 && ++frac > scale) return 0;
        v = v * 10 + (*s - '0');
        nd++;
    }
    if (!nd || frac == 0) return 0;
    for (int k = frac < 0 ? 0 : frac; k < scale; k++) v *= 10;
    *out = neg ? -v : v;
    return 1;
}

static int in_list(const char *s, const char *const *l)
{
    for (int i = 0; l[i]; i++)
        if (!strcmp(s, l[i])) return i + 1;
    return 0;
}

static const char *const provinces[] = {
    "Zhejiang", "Heilongjiang", "Sichuan", "Shandong", "Jiangsu", "Henan", "Xinjiang", "Fujian", "Beijing", "Hubei",
    "Hunan", "Hebei", "Shanghai", "Anhui", "Liaoning", "Shaanxi", "Jiangxi", "Chongqing", "Shanxi", "Jilin", "Gansu",
    "Inner Mongolia", "Tianjin", "Ningxia", "Qinghai", "Tibet", "Guangdong", "Guangxi", "Yunnan", "Guizhou", "Hainan", NULL};
/* GB/T 2260 codes, same order */
static const int prov_codes[] = {33, 23, 51, 37, 32, 41, 65, 35, 11, 42, 43, 13, 31, 34, 21, 61,
                                 36, 50, 14, 22, 62, 15, 12, 64, 63, 54, 44, 45, 53, 52, 46};
static const char *const voltages[] = {"0.22kV", "0.4kV", "10kV", "35kV", "110kV", NULL};
static const char *const classes[] = {"residential", "commercial", "industrial", "agricultural", "public_service", "ev_charging", NULL};
static const char *const tariffs[] = {"RES-TIER", "GEN-TOU", "LI-2PART", "AGR", "GEN-FLAT", "EV-TOU", NULL};

/* CSV line -> fields (quotes removed) in buf; the field count, -1 on broken quoting */
static int csv_fields(const char *s, size_t n, char *buf, char **f, int maxf)
{
    int nf = 0;
    size_t i = 0;
    char *o = buf;
    for (;;) {
        if (nf == maxf) return maxf + 1;
        f[nf++] = o;
        if (i < n && s[i] == '"') {
            for (i++;; i++) {
                if (i >= n) return -1;
                if (s[i] == '"') {
                    if (i + 1 < n && s[i + 1] == '"') { *o++ = '"'; i++; continue; }
                    i++;
                    break;
                }
                *o++ = s[i];
            }
            if (i < n && s[i] != ',') return -1;
        } else {
            while (i < n && s[i] != ',') *o++ = s[i++];
        }
        *o++ = 0;
        if (i >= n) break;
        i++;
    }
    return nf;
}

#include "ref_json.h"

/* ---- events --------------------------------------------------------------------------------- */

/* ---- the data set ------------------------------------------------------------------------ */

typedef struct day { uint64_t id; int ymd; long long n, wh, max, zeros, night; } day;
typedef struct cust { uint64_t id; long long county; } cust;
typedef struct seg { uint64_t id; long long n[96][2], wh[96][2], max, zeros; } seg;
typedef struct agg { uint64_t key; long long n, a, b; } agg;

static day *days; static size_t ndays, capdays;
static cust *custs; static size_t ncusts, capcusts;
static seg *segs; static size_t nsegs, capsegs;
static agg *aggs; static size_t naggs, capaggs;
static map m_day, m_cust, m_seg, m_hour, m_bill, m_weather, m_ev, m_out, m_ids, seen;
static long long nrejected;

#define GROW(arr, n, cap) do { if (n == cap) { cap = cap ? 2 * cap : 256; arr = realloc(arr, cap * sizeof *arr); memset(arr + n, 0, (cap - n) * sizeof *arr); } } while (0)

static agg *agg_of(map *m, uint64_t key)
{
    int fresh;
    long *v = map_get(m, key, &fresh);
    if (fresh) {
        GROW(aggs, naggs, capaggs);
        aggs[naggs].key = key;
        *v = (long)naggs++;
    }
    return &aggs[*v];
}

/* a valid key seen before? (one set for every file: the file's number is part of the hash) */
static int seen_before(int file, const char *k1, const char *k2)
{
    int fresh;
    uint64_t h = fnv(k1, strlen(k1), 0xcbf29ce484222325ULL ^ (uint64_t)file);
    if (k2) h = fnv(k2, strlen(k2), h * 31);
    map_get(&seen, h, &fresh);
    return !fresh;
}

typedef void (*row_fn)(char **f);

/* every valid row of a CSV file; bad ones counted */
static void csv_file(const char *dir, const char *name, int file, int nf_want, const char *(*check)(char **f), int k1, int k2, row_fn row)
{
    size_t len;
    char *data = slurp(dir, name, &len), *buf = malloc(len + 1), *f[40];
    char *p = memchr(data, '\n', len);
    for (size_t off = p ? (size_t)(p - data) + 1 : len; off < len;) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (data + off)) : len - off;
        int nf = csv_fields(data + off, n, buf, f, 32);
        off += n + 1;
        if (nf != nf_want || check(f) || seen_before(file, f[k1], k2 >= 0 ? f[k2] : NULL)) {
            nrejected++;
            continue;
        }
        row(f);
    }
    free(buf);
    free(data);
}

static const char *chk_customer(char **f)
{
    int y, m, d;
    if (strlen(f[0]) != 10 || !all_digits(f[0], 10) || !in_list(f[2], provinces) || strlen(f[4]) != 6 || !all_digits(f[4], 6) ||
        strlen(f[5]) != 5 || !all_digits(f[5], 5) || !in_list(f[6], voltages) || !in_list(f[7], classes) ||
        !in_list(f[8], tariffs) || !is_date(f[9], &y, &m, &d) || !all_digits(f[10], strlen(f[10])))
        return "bad";
    return NULL;
}

static void row_customer(char **f)
{
    int fresh;
    long *v = map_get(&m_cust, strtoull(f[0], NULL, 10), &fresh);
    GROW(custs, ncusts, capcusts);
    custs[ncusts].id = strtoull(f[0], NULL, 10);
    custs[ncusts].county = atoll(f[4]);
    *v = (long)ncusts++;
}

static const char *chk_reading(char **f)
{
    int y, mo, d, h, mi, se;
    long long wh;
    if (strlen(f[0]) != 10 || !all_digits(f[0], 10) || !is_stamp_p(f[1], &y, &mo, &d, &h, &mi, &se) || mi % 15 || se ||
        !decimal(f[2], 3, 0, &wh))
        return "bad";
    return NULL;
}

static void row_reading(char **f)
{
    int y, mo, d, h, mi, se, fresh, we, slot, night;
    long long wh;
    uint64_t id = strtoull(f[0], NULL, 10);
    long *v;
    is_stamp_p(f[1], &y, &mo, &d, &h, &mi, &se);
    decimal(f[2], 3, 0, &wh);
    int ymd = y * 10000 + mo * 100 + d;
    we = iso_weekday(y, mo, d) >= 6;
    slot = h * 4 + mi / 15;
    night = h < 7 || h >= 23;
    v = map_get(&m_day, id * 100000000ULL + (uint64_t)ymd, &fresh);
    if (fresh) {
        GROW(days, ndays, capdays);
        days[ndays].id = id;
        days[ndays].ymd = ymd;
        days[ndays].max = -1;
        *v = (long)ndays++;
    }
    day *dd = &days[*v];
    dd->n++;
    dd->wh += wh;
    if (wh > dd->max) dd->max = wh;
    dd->zeros += wh == 0;
    if (night) dd->night += wh;
    v = map_get(&m_seg, id, &fresh);
    if (fresh) {
        GROW(segs, nsegs, capsegs);
        segs[nsegs].id = id;
        *v = (long)nsegs++;
    }
    seg *s = &segs[*v];
    s->n[slot][we]++;
    s->wh[slot][we] += wh;
    if (wh > s->max) s->max = wh;
    s->zeros += wh == 0;
    agg *a = agg_of(&m_hour, (id / 100000000ULL) * 10000000000ULL + (uint64_t)ymd * 100 + (uint64_t)h);
    a->n++;
    a->a += wh;
}

static const char *chk_bill(char **f)
{
    int y, m, d;
    long long x;
    char date[16];
    if (strlen(f[0]) != 10 || !all_digits(f[0], 10) || strlen(f[1]) != 7) return "bad";
    snprintf(date, sizeof date, "%s-01", f[1]);
    if (!is_date(date, &y, &m, &d) || !all_digits(f[2], strlen(f[2]))) return "bad";
    for (int c = 3; c <= 7; c++)
        if (!decimal(f[c], c == 7 ? 2 : 3, 0, &x)) return "bad";
    return NULL;
}

static void row_bill(char **f)
{
    long long kwh, amt;
    decimal(f[3], 3, 0, &kwh);
    decimal(f[7], 2, 0, &amt);
    agg *a = agg_of(&m_bill, strtoull(f[0], NULL, 10) * 1000000ULL + (uint64_t)(atoi(f[1]) * 100 + atoi(f[1] + 5)));
    a->n++;
    a->a = kwh;
    a->b = amt;
}

static const char *chk_weather(char **f)
{
    int y, mo, d, h, mi, se;
    long long t;
    if (!in_list(f[0], provinces) || !is_stamp_p(f[1], &y, &mo, &d, &h, &mi, &se) || mi || se || !decimal(f[2], 1, 1, &t)) return "bad";
    return NULL;
}

static void row_weather(char **f)
{
    int y, mo, d, h, mi, se;
    long long t;
    is_stamp_p(f[1], &y, &mo, &d, &h, &mi, &se);
    decimal(f[2], 1, 1, &t);
    agg *a = agg_of(&m_weather, (uint64_t)prov_codes[in_list(f[0], provinces) - 1] * 10000000000ULL +
                                    (uint64_t)(y * 10000 + mo * 100 + d) * 100 + (uint64_t)h);
    a->n++;
    a->a = t;
}

static long long minutes_of(const char *s)
{
    int y, mo, d, h, mi, se;
    long long days = 0;
    is_stamp_p(s, &y, &mo, &d, &h, &mi, &se);
    for (int yy = 1970; yy < y; yy++) days += 365 + leap(yy);
    for (int mm = 1; mm < mo; mm++) days += mdays(y, mm);
    days += d - 1;
    return ((days * 24 + h) * 60 + mi) * 60 + se;
}

static void events_file(const char *dir)
{
    size_t len;
    char *data = slurp(dir, "events.jsonl", &len);
    static const char *const types[] = {"payment", "complaint", "work_order", "outage", NULL};
    for (size_t off = 0; off < len;) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (data + off)) : len - off;
        jp p = {data + off, data + off + n, 0};
        jv *v = jvalue(&p);
        const jv *x, *c, *t, *pr;
        int y, mo, d, h, mi, se, type = 0, fresh;
        long long fen = 0, mins = 0;
        off += n + 1;
        if (v) ws(&p);
        if (!v || p.s != p.end || v->t != J_OBJ) goto bad;
        x = jpath(v, "event_id");
        t = jpath(v, "type");
        if (!x || x->t != J_STR || !x->slen || !t || t->t != J_STR || !(type = in_list(t->s, types))) goto bad;
        c = jpath(v, "time");
        if (!c || c->t != J_STR || !is_stamp_p(c->s, &y, &mo, &d, &h, &mi, &se)) goto bad;
        pr = jpath(v, "province");
        if (!pr || pr->t != J_STR || !in_list(pr->s, provinces)) goto bad;
        int ym = y * 100 + mo;
        if (type != 4) {
            const jv *id = jpath(v, "customer_id");
            if (!id || id->t != J_STR || id->slen != 10 || !all_digits(id->s, 10)) goto bad;
            if (type == 1) {
                const jv *a = jpath(v, "payment.amount_yuan");
                if (!a || a->t != J_NUM || !decimal(a->s, 2, 0, &fen)) goto bad;
            }
            map_get(&m_ids, fnv(x->s, x->slen, 7), &fresh);
            if (!fresh) goto bad;
            agg *g = agg_of(&m_ev, (strtoull(id->s, NULL, 10) * 1000000ULL + (uint64_t)ym) * 8 + (uint64_t)type);
            g->n++;
            g->a += fen;
        } else {
            const jv *co = jpath(v, "county"), *s0 = jpath(v, "outage.start"), *s1 = jpath(v, "outage.end");
            if (!co || co->t != J_STR || co->slen != 6 || !all_digits(co->s, 6) || !s0 || s0->t != J_STR || !s1 ||
                s1->t != J_STR || !is_stamp_p(s0->s, &y, &mo, &d, &h, &mi, &se) || !is_stamp_p(s1->s, &y, &mo, &d, &h, &mi, &se))
                goto bad;
            mins = (minutes_of(s1->s) - minutes_of(s0->s)) / 60;
            if (mins < 0) goto bad;
            map_get(&m_ids, fnv(x->s, x->slen, 7), &fresh);
            if (!fresh) goto bad;
            agg *g = agg_of(&m_out, strtoull(co->s, NULL, 10) * 1000000ULL + (uint64_t)ym);
            g->n++;
            g->a += mins;
        }
        jfree(v);
        continue;
    bad:
        nrejected++;
        if (v) jfree(v);
    }
    free(data);
}

/* ---- comparing with the file -------------------------------------------------------------- */

static long long nvalues, nbad;

static double *h5col(hid_t f, const char *group, const char *name, size_t *n)
{
    char path[512];
    hid_t d, s;
    hsize_t dims = 0;
    double *v;
    snprintf(path, sizeof path, "%s/%s", group, name);
    d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) {
        printf("ref_supply: %s: no dataset\n", path);
        exit(1);
    }
    s = H5Dget_space(d);
    H5Sget_simple_extent_dims(s, &dims, NULL);
    v = malloc(dims * sizeof *v + 8);
    if (dims && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        printf("ref_supply: %s: cannot read\n", path);
        exit(1);
    }
    H5Sclose(s);
    H5Dclose(d);
    *n = (size_t)dims;
    return v;
}

/* table rows x cols (row-major) against group's columns names[0..cols) */
static void compare(hid_t f, const char *group, const char *const *names, int cols, const double *want, size_t rows)
{
    for (int c = 0; c < cols; c++) {
        size_t n;
        double *got = h5col(f, group, names[c], &n);
        if (n != rows) {
            printf("ref_supply: %s/%s: %zu rows, expected %zu\n", group, names[c], n, rows);
            nbad++;
            free(got);
            continue;
        }
        for (size_t r = 0; r < rows; r++) {
            double w = want[r * (size_t)cols + (size_t)c], g = got[r];
            int same = (isnan(w) && isnan(g)) || w == g || fabs(w - g) <= 1e-12 * fabs(w);
            nvalues++;
            if (!same && nbad++ < 20)
                printf("ref_supply: %s row %zu %s: got %.17g, expected %.17g\n", group, r + 1, names[c], g, w);
        }
        free(got);
    }
}

static int day_cmp(const void *a, const void *b)
{
    const day *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->ymd > y->ymd) - (x->ymd < y->ymd);
}
static int seg_cmp(const void *a, const void *b)
{
    const seg *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}
static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static const agg *find_agg(map *m, uint64_t key)
{
    int fresh;
    long *v = map_get(m, key, &fresh);
    if (fresh) {
        *v = -1; /* leave it marked absent */
        return NULL;
    }
    return *v >= 0 ? &aggs[*v] : NULL;
}

int main(int argc, char **argv)
{
    hid_t f;
    FILE *fc = NULL;
    if (argc < 3) {
        fprintf(stderr, "usage: ref_supply DATADIR SUPPLY.h5 [FORECAST.csv]\n");
        return 2;
    }
    csv_file(argv[1], "customers.csv", 0, 11, chk_customer, 0, -1, row_customer);
    csv_file(argv[1], "readings.csv", 1, 3, chk_reading, 0, 1, row_reading);
    csv_file(argv[1], "bills.csv", 2, 8, chk_bill, 0, 1, row_bill);
    csv_file(argv[1], "weather.csv", 3, 3, chk_weather, 0, 1, row_weather);
    events_file(argv[1]);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        printf("ref_supply: cannot open %s\n", argv[2]);
        return 1;
    }
    {
        unsigned long long r = 0;
        hid_t a = H5Aopen(f, "rejected", H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_ULLONG, &r) < 0 || (long long)r != nrejected) {
            printf("ref_supply: rejected %llu, expected %lld\n", r, nrejected);
            nbad++;
        }
        if (a >= 0) H5Aclose(a);
    }

    /* /summary/customer_month */
    {
        static const char *const names[] = {"customer_id", "month", "days", "intervals", "energy_kwh", "peak_kwh",
                                            "peak_kw", "load_factor", "night_share", "zero_intervals", "billed",
                                            "bill_kwh", "bill_amount_yuan", "payments", "payment_yuan", "complaints",
                                            "work_orders", "outages", "outage_minutes"};
        enum { NC = 19 };
        double *t = calloc((ndays + 1) * NC, sizeof *t);
        size_t rows = 0;
        qsort(days, ndays, sizeof *days, day_cmp);
        for (size_t i = 0; i < ndays;) {
            uint64_t id = days[i].id;
            int ym = days[i].ymd / 100;
            long long nd = 0, n = 0, wh = 0, mx = 0, z = 0, ni = 0;
            for (; i < ndays && days[i].id == id && days[i].ymd / 100 == ym; i++) {
                nd++;
                n += days[i].n;
                wh += days[i].wh;
                if (days[i].max > mx) mx = days[i].max;
                z += days[i].zeros;
                ni += days[i].night;
            }
            double *r = t + rows++ * NC;
            r[0] = (double)id;
            r[1] = ym;
            r[2] = (double)nd;
            r[3] = (double)n;
            r[4] = wh / 1000.0;
            r[5] = mx / 1000.0;
            r[6] = mx * 4 / 1000.0;
            r[7] = mx ? (double)wh / n / mx : 0;
            r[8] = wh ? (double)ni / wh : 0;
            r[9] = (double)z;
            const agg *a = find_agg(&m_bill, id * 1000000ULL + (uint64_t)ym);
            if (a) {
                r[10] = 1;
                r[11] = a->a / 1000.0;
                r[12] = a->b / 100.0;
            }
            if ((a = find_agg(&m_ev, (id * 1000000ULL + (uint64_t)ym) * 8 + 1))) { r[13] = (double)a->n; r[14] = a->a / 100.0; }
            if ((a = find_agg(&m_ev, (id * 1000000ULL + (uint64_t)ym) * 8 + 2))) r[15] = (double)a->n;
            if ((a = find_agg(&m_ev, (id * 1000000ULL + (uint64_t)ym) * 8 + 3))) r[16] = (double)a->n;
            int fresh;
            long *cv = map_get(&m_cust, id, &fresh);
            if (!fresh && *cv >= 0 && (a = find_agg(&m_out, (uint64_t)custs[*cv].county * 1000000ULL + (uint64_t)ym))) {
                r[17] = (double)a->n;
                r[18] = (double)a->a;
            }
            if (fresh) *cv = -1;
        }
        compare(f, "/summary/customer_month", names, NC, t, rows);
        free(t);
    }

    /* /app/forecast and its CSV */
    {
        static const char *const names[] = {"province", "date", "hour", "load_kwh", "temperature_c", "weekday", "month", "holiday", "intervals"};
        enum { NC = 9 };
        uint64_t *keys = malloc((m_hour.n + 1) * sizeof *keys);
        size_t nk = 0;
        for (size_t i = 0; i < m_hour.cap; i++)
            if (m_hour.v[i] >= 0) keys[nk++] = m_hour.k[i];
        qsort(keys, nk, sizeof *keys, u64_cmp);
        double *t = calloc((nk + 1) * NC, sizeof *t);
        if (argc > 3 && !(fc = fopen(argv[3], "w"))) { perror(argv[3]); return 2; }
        if (fc) fprintf(fc, "province,date,hour,load_kwh,temperature_c,weekday,month,holiday\n");
        for (size_t i = 0; i < nk; i++) {
            const agg *a = find_agg(&m_hour, keys[i]), *w = find_agg(&m_weather, keys[i]);
            int prov = (int)(keys[i] / 10000000000ULL), ymd = (int)(keys[i] / 100 % 100000000ULL), h = (int)(keys[i] % 100);
            int y = ymd / 10000, mo = ymd / 100 % 100, d = ymd % 100;
            double *r = t + i * NC;
            r[0] = prov;
            r[1] = ymd;
            r[2] = h + 1;
            r[3] = a->a / 1000.0;
            r[4] = w ? w->a / 10.0 : NAN;
            r[5] = iso_weekday(y, mo, d);
            r[6] = mo;
            r[7] = holiday(y, mo, d);
            r[8] = (double)a->n;
            if (fc) {
                char tc[32] = "";
                if (w) snprintf(tc, sizeof tc, "%s%lld.%lld", w->a < 0 ? "-" : "", llabs(w->a) / 10, llabs(w->a) % 10);
                fprintf(fc, "%d,%04d-%02d-%02d,%d,%lld.%03lld,%s,%d,%d,%d\n", prov, y, mo, d, h + 1, a->a / 1000, a->a % 1000, tc,
                        iso_weekday(y, mo, d), mo, holiday(y, mo, d));
            }
        }
        if (fc) fclose(fc);
        compare(f, "/app/forecast", names, NC, t, nk);
        free(t);
        free(keys);
    }

    /* /app/segment */
    {
        enum { NC = 1 + 96 + 8 };
        static char pn[96][8];
        const char *names[NC];
        static const char *const stats[] = {"days", "mean_daily_kwh", "peak_kwh", "load_factor", "weekend_ratio", "night_share", "daily_cv", "zero_share"};
        names[0] = "customer_id";
        for (int s = 0; s < 96; s++) {
            snprintf(pn[s], sizeof pn[s], "p%02d", s + 1);
            names[1 + s] = pn[s];
        }
        for (int s = 0; s < 8; s++) names[97 + s] = stats[s];
        qsort(segs, nsegs, sizeof *segs, seg_cmp);
        double *t = calloc((nsegs + 1) * NC, sizeof *t);
        size_t di = 0;
        for (size_t i = 0; i < nsegs; i++) {
            const seg *s = &segs[i];
            double *r = t + i * NC, mean[96], total = 0, night = 0;
            long long n0 = 0, n1 = 0, w0 = 0, w1 = 0;
            for (int k = 0; k < 96; k++) {
                long long n = s->n[k][0] + s->n[k][1];
                mean[k] = n ? (double)(s->wh[k][0] + s->wh[k][1]) / n : 0;
                total += mean[k];
                if (k < 28 || k >= 92) night += mean[k];
                n0 += s->n[k][0];
                n1 += s->n[k][1];
                w0 += s->wh[k][0];
                w1 += s->wh[k][1];
            }
            r[0] = (double)s->id;
            for (int k = 0; k < 96; k++) r[1 + k] = total > 0 ? mean[k] / (total / 96) : 0;
            while (di < ndays && days[di].id < s->id) di++;
            double dsum = 0, dss = 0, dm;
            long long nd = 0;
            for (size_t j = di; j < ndays && days[j].id == s->id; j++, nd++) dsum += (double)days[j].wh;
            dm = nd ? dsum / nd : 0;
            for (size_t j = di; j < ndays && days[j].id == s->id; j++) dss += ((double)days[j].wh - dm) * ((double)days[j].wh - dm);
            r[97] = (double)nd;
            r[98] = total / 1000;
            r[99] = s->max / 1000.0;
            r[100] = s->max && n0 + n1 ? (double)(w0 + w1) / (n0 + n1) / s->max : 0;
            r[101] = n0 && n1 && w0 ? ((double)w1 / n1) / ((double)w0 / n0) : 0;
            r[102] = total > 0 ? night / total : 0;
            r[103] = nd && dm > 0 ? sqrt(dss / nd) / dm : 0;
            r[104] = n0 + n1 ? (double)s->zeros / (n0 + n1) : 0;
        }
        compare(f, "/app/segment", names, NC, t, nsegs);
        free(t);
    }

    /* /fact/bill, and the row counts of /dim/customer and /fact/event */
    {
        static const char *const names[] = {"customer_id", "month", "kwh", "amount_yuan"};
        uint64_t *keys = malloc((m_bill.n + 1) * sizeof *keys);
        size_t nk = 0, n;
        for (size_t i = 0; i < m_bill.cap; i++)
            if (m_bill.v[i] >= 0) keys[nk++] = m_bill.k[i];
        qsort(keys, nk, sizeof *keys, u64_cmp);
        double *t = calloc((nk + 1) * 4, sizeof *t);
        for (size_t i = 0; i < nk; i++) {
            const agg *a = find_agg(&m_bill, keys[i]);
            t[i * 4] = (double)(keys[i] / 1000000ULL);
            t[i * 4 + 1] = (double)(keys[i] % 1000000ULL);
            t[i * 4 + 2] = a->a / 1000.0;
            t[i * 4 + 3] = a->b / 100.0;
        }
        compare(f, "/fact/bill", names, 4, t, nk);
        free(t);
        free(keys);
        free(h5col(f, "/dim/customer", "customer_id", &n));
        nvalues++;
        if (n != ncusts) { printf("ref_supply: /dim/customer has %zu rows, expected %zu\n", n, ncusts); nbad++; }
        free(h5col(f, "/fact/event", "type", &n));
        nvalues++;
        size_t nev = m_ids.n;
        if (n != nev) { printf("ref_supply: /fact/event has %zu rows, expected %zu\n", n, nev); nbad++; }
    }
    H5Fclose(f);
    if (nbad) {
        printf("ref_supply: %lld of %lld values differ\n", nbad, nvalues);
        return 1;
    }
    printf("ref_supply: %lld values agree (%lld rejected records)\n", nvalues, nrejected);
    return 0;
}
