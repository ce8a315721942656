/* gen_verify.c - the independent checker of `gridmr gen --kind power` data sets (tests/run.sh).
 *
 * Usage: gen_verify DIR
 *
 * Reads every file of the data set the way a strict reader would, finds the defective records
 * by itself, and compares them with DIR/corrupt.csv: the two lists must be the same set of
 * (file, line or offset, kind). A CSV line is checked for its field count (RFC 4180 quoting),
 * then column by column (enumerations, dates and timestamps that exist, numbers), then for a
 * key seen before; a JSON line is parsed in full (RFC 8259), then its type, time and id are
 * checked the same way; a blob's XXH3-64 is recomputed and its signature checked. The first
 * failing check names the defect. With no defects listed, it also checks the model: every
 * customer has a label and 96 readings a day, every bill's kWh is the sum of its month's
 * readings and equals peak + flat + valley, the blobs tile their pack files exactly, PNG chunk
 * CRCs, WAV and ID3 sizes and the PDF trailer are right, events and blobs name known customers.
 *
 * It shares no code with gridmr (plain C and libxxhash, built with gcc), so it cannot repeat
 * the generator's mistakes. Prints "ok: ..." and exits 0, or lists what differs and exits 1.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static int failures;

#define FAIL(...)                                                 \
    do {                                                          \
        if (failures++ < 20) fprintf(stderr, "gen_verify: " __VA_ARGS__); \
    } while (0)

/* ---- a set/map of 64-bit hashes ---------------------------------------------------------- */

typedef struct {
    uint64_t *keys;
    int64_t *vals;
    size_t cap, n;
} map;

static int64_t *map_slot(map *m, uint64_t key, int *found)
{
    if (key == 0) key = 1;
    if (2 * (m->n + 1) > m->cap) {
        map old = *m;
        m->cap = m->cap ? 2 * m->cap : 1024;
        m->keys = calloc(m->cap, sizeof *m->keys);
        m->vals = calloc(m->cap, sizeof *m->vals);
        if (!m->keys || !m->vals) {
            perror("gen_verify");
            exit(2);
        }
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) {
                int f;
                *map_slot(m, old.keys[i], &f) = old.vals[i];
            }
        free(old.keys);
        free(old.vals);
    }
    size_t i = key & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    *found = m->keys[i] == key;
    if (!*found) {
        m->keys[i] = key;
        m->n++;
    }
    return &m->vals[i];
}

static uint64_t h(const char *s, size_t n) { return XXH3_64bits(s, n); }
static uint64_t h2(const char *a, const char *b)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s\x1f%s", a, b);
    return h(buf, (size_t)n);
}

/* ---- files -------------------------------------------------------------------------------- */

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        FAIL("%s: cannot open\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        FAIL("%s: cannot read\n", path);
        exit(2);
    }
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* ---- detected defects vs corrupt.csv ----------------------------------------------------- */

static map listed, found;
static size_t nfound;

static void report(const char *file, unsigned long long line, unsigned long long off, const char *kind)
{
    char buf[256];
    int n;
    if (line)
        n = snprintf(buf, sizeof buf, "%s,%llu,%llu,%s", file, line, off, kind);
    else
        n = snprintf(buf, sizeof buf, "%s,,%llu,%s", file, off, kind);
    int f;
    map_slot(&found, h(buf, (size_t)n), &f);
    nfound++;
    if (f) FAIL("defect found twice: %s\n", buf);
    int in;
    int64_t *v = map_slot(&listed, h(buf, (size_t)n), &in);
    if (!in) {
        FAIL("found but not in corrupt.csv: %s\n", buf);
        *v = -1; /* keep the slot but mark it */
    } else {
        *v = 1;
    }
}

/* ---- syntax ------------------------------------------------------------------------------- */

static int isdig(char c) { return c >= '0' && c <= '9'; }

static int num(const char *s, int n, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdig(s[i])) return 0;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return 1;
}

static unsigned dim(unsigned y, unsigned m)
{
    static const unsigned d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return d[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static int is_date(const char *s)
{
    unsigned y, m, d;
    return strlen(s) == 10 && s[4] == '-' && s[7] == '-' && num(s, 4, &y) && num(s + 5, 2, &m) && num(s + 8, 2, &d) &&
           y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= dim(y, m);
}

static int is_month(const char *s)
{
    unsigned y, m;
    return strlen(s) == 7 && s[4] == '-' && num(s, 4, &y) && num(s + 5, 2, &m) && y >= 1900 && m >= 1 && m <= 12;
}

static int is_stamp(const char *s)
{
    char d[11];
    unsigned hh, mm, ss;
    if (strlen(s) != 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':') return 0;
    memcpy(d, s, 10);
    d[10] = '\0';
    return is_date(d) && num(s + 11, 2, &hh) && num(s + 14, 2, &mm) && num(s + 17, 2, &ss) && hh < 24 && mm < 60 &&
           ss < 60;
}

static int is_uint(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

static int is_decimal(const char *s, int sign)
{
    if (sign && *s == '-') s++;
    size_t a = strspn(s, "0123456789");
    if (a == 0) return 0;
    if (s[a] == '\0') return 1;
    if (s[a] != '.') return 0;
    size_t b = strspn(s + a + 1, "0123456789");
    return b > 0 && s[a + 1 + b] == '\0';
}

static int digits_n(const char *s, size_t n) { return strlen(s) == n && is_uint(s); }

static int in_set(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0) return 1;
    return 0;
}

static const char *const provinces[] = {
    "Zhejiang", "Heilongjiang", "Sichuan", "Shandong",      "Jiangsu",  "Henan",   "Xinjiang", "Fujian",
    "Beijing",  "Hubei",        "Hunan",   "Hebei",         "Shanghai", "Anhui",   "Liaoning", "Shaanxi",
    "Jiangxi",  "Chongqing",    "Shanxi",  "Jilin",         "Gansu",    "Inner Mongolia", "Tianjin", "Ningxia",
    "Qinghai",  "Tibet",        "Guangdong", "Guangxi",     "Yunnan",   "Guizhou", "Hainan",   NULL};
static const char *const cities[] = {
    "Hangzhou", "Ningbo", "Wenzhou", "Harbin", "Qiqihar", "Daqing", "Chengdu", "Mianyang", "Deyang", "Jinan",
    "Qingdao", "Yantai", "Nanjing", "Suzhou", "Wuxi", "Zhengzhou", "Luoyang", "Kaifeng", "Urumqi", "Karamay",
    "Kashgar", "Fuzhou", "Xiamen", "Quanzhou", "Dongcheng", "Haidian", "Chaoyang", "Wuhan", "Yichang", "Xiangyang",
    "Changsha", "Zhuzhou", "Hengyang", "Shijiazhuang", "Tangshan", "Baoding", "Pudong", "Minhang", "Jiading",
    "Hefei", "Wuhu", "Bengbu", "Shenyang", "Dalian", "Anshan", "Xi'an", "Baoji", "Xianyang", "Nanchang", "Ganzhou",
    "Jiujiang", "Yuzhong", "Wanzhou", "Fuling", "Taiyuan", "Datong", "Changzhi", "Changchun", "Jilin", "Siping",
    "Lanzhou", "Tianshui", "Jiuquan", "Hohhot", "Baotou", "Ordos", "Heping", "Binhai", "Nankai", "Yinchuan",
    "Shizuishan", "Wuzhong", "Xining", "Haidong", "Golmud", "Lhasa", "Shigatse", "Nyingchi", "Guangzhou",
    "Shenzhen", "Foshan", "Nanning", "Liuzhou", "Guilin", "Kunming", "Qujing", "Dali", "Guiyang", "Zunyi",
    "Anshun", "Haikou", "Sanya", "Danzhou", NULL};
static const char *const classes[] = {"residential",    "commercial",  "industrial", "agricultural",
                                      "public_service", "ev_charging", NULL};
static const char *const tariffs[] = {"RES-TIER", "GEN-TOU", "LI-2PART", "AGR", "GEN-FLAT", "EV-TOU", NULL};
static const char *const voltages[] = {"0.22kV", "0.4kV", "10kV", "35kV", "110kV", NULL};
static const char *const ev_types[] = {"payment", "complaint", "work_order", "outage", NULL};
static const char *const mimes[] = {"image/jpeg", "image/png", "audio/wav", "audio/mpeg", "application/pdf", NULL};

/* ---- CSV ---------------------------------------------------------------------------------- */

#define MAXF 32

/* Splits one line (no '\n') into unquoted fields in buf; -1 when the quoting is broken. */
static int csv_split(const char *s, size_t n, char *buf, char **f)
{
    int nf = 0;
    size_t i = 0;
    char *o = buf;
    for (;;) {
        if (nf == MAXF) return MAXF + 1;
        f[nf++] = o;
        if (i < n && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= n) return -1;
                if (s[i] == '"') {
                    if (i + 1 < n && s[i + 1] == '"') {
                        *o++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                *o++ = s[i++];
            }
            if (i < n && s[i] != ',') return -1;
        } else {
            while (i < n && s[i] != ',') {
                if (s[i] == '"') return -1;
                *o++ = s[i++];
            }
        }
        *o++ = '\0';
        if (i >= n) break;
        i++; /* the comma */
    }
    return nf;
}

typedef enum { C_ANY, C_ID, C_DIGITS5, C_DIGITS6, C_PROV, C_CITY, C_VOLT, C_CLASS, C_TARIFF, C_DATE, C_MONTH, C_STAMP, C_UINT, C_DEC, C_SDEC } col_type;

static const char *check_col(col_type t, const char *v)
{
    switch (t) {
    case C_ANY: return NULL;
    case C_ID: return digits_n(v, 10) ? NULL : "bad_enum";
    case C_DIGITS5: return digits_n(v, 5) ? NULL : "bad_enum";
    case C_DIGITS6: return digits_n(v, 6) ? NULL : "bad_enum";
    case C_PROV: return in_set(v, provinces) ? NULL : "bad_enum";
    case C_CITY: return in_set(v, cities) ? NULL : "bad_enum";
    case C_VOLT: return in_set(v, voltages) ? NULL : "bad_enum";
    case C_CLASS: return in_set(v, classes) ? NULL : "bad_enum";
    case C_TARIFF: return in_set(v, tariffs) ? NULL : "bad_enum";
    case C_DATE: return is_date(v) ? NULL : "bad_timestamp";
    case C_MONTH: return is_month(v) ? NULL : "bad_timestamp";
    case C_STAMP: return is_stamp(v) ? NULL : "bad_timestamp";
    case C_UINT: return is_uint(v) ? NULL : "bad_number";
    case C_DEC: return is_decimal(v, 0) ? NULL : "bad_number";
    case C_SDEC: return is_decimal(v, 1) ? NULL : "bad_number";
    }
    return NULL;
}

typedef struct {
    const char *name, *header;
    int nf;
    col_type cols[MAXF];
    int key[2]; /* columns of the key; -1 for none */
} csv_spec;

/* the model checks' state */
static map customers, labels, months, bills_seen, reads_per_cust;
static size_t ncustomers, nreadings;
static int check_model;

/* Calls row(fields) for each clean row. */
static void csv_file(const char *dir, const csv_spec *sp, void (*row)(char **f))
{
    size_t len, line = 1;
    char *data = slurp(dir, sp->name, &len), *f[MAXF + 1], *buf;
    map keys = {0};
    if (!data) return;
    size_t hl = strlen(sp->header);
    if (len < hl || memcmp(data, sp->header, hl) != 0) FAIL("%s: header differs\n", sp->name);
    if (len > 0 && data[len - 1] != '\n') FAIL("%s: last line has no line break\n", sp->name);
    buf = malloc(len + 1);
    for (size_t off = hl; off < len;) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (data + off)) : len - off;
        const char *kind = NULL;
        line++;
        int nf = csv_split(data + off, n, buf, f);
        if (nf != sp->nf) kind = "field_count";
        for (int c = 0; !kind && c < nf; c++) kind = check_col(sp->cols[c], f[c]);
        if (!kind && sp->key[0] >= 0) {
            int dup;
            uint64_t k = sp->key[1] >= 0 ? h2(f[sp->key[0]], f[sp->key[1]]) : h(f[sp->key[0]], strlen(f[sp->key[0]]));
            map_slot(&keys, k, &dup);
            if (dup) kind = "duplicate_key";
        }
        if (kind)
            report(sp->name, line, off, kind);
        else if (row)
            row(f);
        off += n + 1;
    }
    free(keys.keys);
    free(keys.vals);
    free(buf);
    free(data);
}

static void customer_row(char **f)
{
    int dup;
    map_slot(&customers, h(f[0], strlen(f[0])), &dup);
    ncustomers++;
}

static void label_row(char **f)
{
    int dup;
    map_slot(&labels, h(f[0], strlen(f[0])), &dup);
}

static int64_t wh_of(const char *s) /* "12.345" -> 12345 */
{
    int64_t v = 0;
    for (; *s; s++)
        if (*s != '.') v = v * 10 + (*s - '0');
    return v;
}

static void reading_row(char **f)
{
    char month[8];
    int dup;
    memcpy(month, f[1], 7);
    month[7] = '\0';
    *map_slot(&months, h2(f[0], month), &dup) += wh_of(f[2]);
    *map_slot(&reads_per_cust, h(f[0], strlen(f[0])), &dup) += 1;
    nreadings++;
}

static void bill_row(char **f)
{
    int dup, seen;
    int64_t *sum = map_slot(&months, h2(f[0], f[1]), &seen);
    if (!check_model) return;
    if (!seen || *sum != wh_of(f[3])) FAIL("bills.csv: %s %s: kWh %s is not the sum of its readings (%lld Wh)\n", f[0], f[1], f[3], (long long)*sum);
    if (wh_of(f[4]) + wh_of(f[5]) + wh_of(f[6]) != wh_of(f[3])) FAIL("bills.csv: %s %s: peak + flat + valley != kwh\n", f[0], f[1]);
    map_slot(&bills_seen, h2(f[0], f[1]), &dup);
}

/* ---- JSON ------------------------------------------------------------------------------- */

typedef struct {
    const char *s, *end;
    int depth;
    /* top-level string members we look at */
    char id[64], type[64], time[64], customer[64];
} jp;

static void ws(jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n')) p->s++;
}

static int jvalue(jp *p, char *capture, size_t cap);

/* A string; its raw (still escaped) text goes to capture when asked and short enough. */
static int jstring(jp *p, char *capture, size_t cap)
{
    const char *start;
    if (p->s >= p->end || *p->s != '"') return 0;
    start = ++p->s;
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) return 0;
        if (c == '\\') {
            p->s++;
            if (p->s >= p->end) return 0;
            if (*p->s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (p->s + i >= p->end || !strchr("0123456789abcdefABCDEF", p->s[i]) || !p->s[i]) return 0;
                p->s += 4;
            } else if (!strchr("\"\\/bfnrt", *p->s) || !*p->s) {
                return 0;
            }
        }
        p->s++;
    }
    if (p->s >= p->end) return 0;
    if (capture && (size_t)(p->s - start) < cap) {
        memcpy(capture, start, (size_t)(p->s - start));
        capture[p->s - start] = '\0';
    }
    p->s++;
    return 1;
}

static int jnumber(jp *p)
{
    const char *s = p->s;
    if (s < p->end && *s == '-') s++;
    if (s >= p->end || !isdig(*s)) return 0;
    if (*s == '0')
        s++;
    else
        while (s < p->end && isdig(*s)) s++;
    if (s < p->end && *s == '.') {
        s++;
        if (s >= p->end || !isdig(*s)) return 0;
        while (s < p->end && isdig(*s)) s++;
    }
    if (s < p->end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < p->end && (*s == '+' || *s == '-')) s++;
        if (s >= p->end || !isdig(*s)) return 0;
        while (s < p->end && isdig(*s)) s++;
    }
    p->s = s;
    return 1;
}

static int jobject(jp *p)
{
    int top = p->depth == 1;
    p->s++; /* { */
    ws(p);
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        return 1;
    }
    for (;;) {
        char key[64] = "";
        ws(p);
        if (!jstring(p, key, sizeof key)) return 0;
        ws(p);
        if (p->s >= p->end || *p->s != ':') return 0;
        p->s++;
        ws(p);
        char *cap = NULL;
        if (top && strcmp(key, "event_id") == 0) cap = p->id;
        if (top && strcmp(key, "type") == 0) cap = p->type;
        if (top && strcmp(key, "time") == 0) cap = p->time;
        if (top && strcmp(key, "customer_id") == 0) cap = p->customer;
        if (!jvalue(p, cap, 64)) return 0;
        ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == '}') {
            p->s++;
            return 1;
        }
        return 0;
    }
}

static int jarray(jp *p)
{
    p->s++; /* [ */
    ws(p);
    if (p->s < p->end && *p->s == ']') {
        p->s++;
        return 1;
    }
    for (;;) {
        ws(p);
        if (!jvalue(p, NULL, 0)) return 0;
        ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == ']') {
            p->s++;
            return 1;
        }
        return 0;
    }
}

static int jword(jp *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0) return 0;
    p->s += n;
    return 1;
}

static int jvalue(jp *p, char *capture, size_t cap)
{
    int ok;
    if (p->s >= p->end) return 0;
    if (++p->depth > 64) return 0;
    switch (*p->s) {
    case '{': ok = jobject(p); break;
    case '[': ok = jarray(p); break;
    case '"': ok = jstring(p, capture, cap); break;
    case 't': ok = jword(p, "true"); break;
    case 'f': ok = jword(p, "false"); break;
    case 'n': ok = jword(p, "null"); break;
    default: ok = jnumber(p); break;
    }
    p->depth--;
    return ok;
}

static void events_file(const char *dir)
{
    size_t len, line = 0, n_events = 0;
    char *data = slurp(dir, "events.jsonl", &len);
    map ids = {0};
    if (!data) return;
    if (len > 0 && data[len - 1] != '\n') FAIL("events.jsonl: last line has no line break\n");
    for (size_t off = 0; off < len;) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (data + off)) : len - off;
        jp p;
        const char *kind = NULL;
        memset(&p, 0, sizeof p);
        p.s = data + off;
        p.end = data + off + n;
        line++;
        ws(&p);
        if (p.s >= p.end || *p.s != '{' || !jvalue(&p, NULL, 0)) kind = "truncated_json";
        ws(&p);
        if (!kind && p.s != p.end) kind = "truncated_json";
        if (!kind && !in_set(p.type, ev_types)) kind = "bad_enum";
        if (!kind && !is_stamp(p.time)) kind = "bad_timestamp";
        if (!kind) {
            int dup;
            map_slot(&ids, h(p.id, strlen(p.id)), &dup);
            if (!*p.id || dup) kind = "duplicate_key";
        }
        if (kind) {
            report("events.jsonl", line, off, kind);
        } else {
            n_events++;
            int known;
            if (strcmp(p.type, "outage") != 0) map_slot(&customers, h(p.customer, strlen(p.customer)), &known);
            else known = 1;
            if (check_model && !known) FAIL("events.jsonl:%zu: unknown customer %s\n", line, p.customer);
        }
        off += n + 1;
    }
    free(ids.keys);
    free(ids.vals);
    free(data);
}

/* ---- blobs -------------------------------------------------------------------------------- */

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static uint32_t be(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le(const unsigned char *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }

static int magic_ok(const char *mime, const unsigned char *p, size_t n)
{
    if (strcmp(mime, "image/jpeg") == 0) return n >= 4 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff;
    if (strcmp(mime, "image/png") == 0) return n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (strcmp(mime, "audio/wav") == 0) return n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVE", 4) == 0;
    if (strcmp(mime, "audio/mpeg") == 0) return n >= 3 && (memcmp(p, "ID3", 3) == 0 || (p[0] == 0xff && (p[1] & 0xe0) == 0xe0));
    if (strcmp(mime, "application/pdf") == 0) return n >= 5 && memcmp(p, "%PDF-", 5) == 0;
    return 0;
}

/* The structure past the signature; "" when right. */
static const char *structure(const char *mime, const unsigned char *p, size_t n)
{
    if (strcmp(mime, "image/jpeg") == 0) return p[n - 2] == 0xff && p[n - 1] == 0xd9 ? "" : "no JPEG end marker";
    if (strcmp(mime, "image/png") == 0) {
        size_t o = 8;
        while (o + 12 <= n) {
            uint32_t len = be(p + o);
            if (o + 12 + len > n) return "PNG chunk runs past the end";
            if (crc32_of(p + o + 4, len + 4) != be(p + o + 8 + len)) return "PNG chunk CRC";
            if (memcmp(p + o + 4, "IEND", 4) == 0) return o + 12 == n ? "" : "bytes after IEND";
            o += 12 + len;
        }
        return "no IEND";
    }
    if (strcmp(mime, "audio/wav") == 0) return le(p + 4) == n - 8 && le(p + 40) == n - 44 ? "" : "RIFF sizes";
    if (strcmp(mime, "audio/mpeg") == 0) {
        size_t tag = ((size_t)p[6] << 21) | ((size_t)p[7] << 14) | ((size_t)p[8] << 7) | p[9];
        if ((n - 10 - tag) % 104 != 0) return "ID3 size and frames";
        for (size_t o = 10 + tag; o < n; o += 104)
            if (p[o] != 0xff || p[o + 1] != 0xfb) return "MPEG frame sync";
        return "";
    }
    if (strcmp(mime, "application/pdf") == 0) {
        const char *sx = memmem(p, n, "startxref\n", 10);
        if (n < 7 || memcmp(p + n - 7, "\n%%EOF\n", 7) != 0 || !sx) return "PDF trailer";
        size_t x = strtoul(sx + 10, NULL, 10);
        return x + 4 < n && memcmp(p + x, "xref", 4) == 0 ? "" : "PDF startxref";
    }
    return "unknown type";
}

static void blobs(const char *dir)
{
    size_t len, line = 1;
    char *data = slurp(dir, "manifest.csv", &len), *f[MAXF + 1], *buf;
    static const char header[] = "blob_id,file,offset,length,mime,purpose,xxh3,customer_id,created\n";
    char cur[64] = "";
    unsigned char *pack = NULL;
    size_t packlen = 0, next = 0;
    if (!data) return;
    if (strncmp(data, header, sizeof header - 1) != 0) FAIL("manifest.csv: header differs\n");
    buf = malloc(len + 1);
    for (size_t off = sizeof header - 1; off < len;) {
        char *nl = memchr(data + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (data + off)) : len - off;
        line++;
        if (csv_split(data + off, n, buf, f) != 9 || !is_uint(f[2]) || !is_uint(f[3]) || !in_set(f[4], mimes) ||
            !digits_n(f[7], 10) || !is_stamp(f[8])) {
            FAIL("manifest.csv:%zu: malformed\n", line);
            off += n + 1;
            continue;
        }
        if (strcmp(cur, f[1]) != 0) {
            if (pack && next != packlen) FAIL("%s: blobs cover %zu of %zu bytes\n", cur, next, packlen);
            free(pack);
            pack = (unsigned char *)slurp(dir, f[1], &packlen);
            snprintf(cur, sizeof cur, "%s", f[1]);
            next = 0;
        }
        size_t bo = strtoull(f[2], NULL, 10), bl = strtoull(f[3], NULL, 10);
        if (!pack || bo != next || bo + bl > packlen) {
            FAIL("manifest.csv:%zu: blob at %zu+%zu does not follow the previous one in %s\n", line, bo, bl, f[1]);
            break;
        }
        next = bo + bl;
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits(pack + bo, bl));
        if (strcmp(hex, f[6]) != 0)
            report(f[1], 0, bo, "hash_mismatch");
        else if (!magic_ok(f[4], pack + bo, bl))
            report(f[1], 0, bo, "bad_magic");
        else if (*structure(f[4], pack + bo, bl))
            FAIL("%s at %zu (%s): %s\n", f[1], bo, f[4], structure(f[4], pack + bo, bl));
        int known;
        map_slot(&customers, h(f[7], strlen(f[7])), &known);
        if (check_model && !known) FAIL("manifest.csv:%zu: unknown customer %s\n", line, f[7]);
        off += n + 1;
    }
    if (pack && next != packlen) FAIL("%s: blobs cover %zu of %zu bytes\n", cur, next, packlen);
    free(pack);
    free(buf);
    free(data);
}

/* ---- main ----------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_verify DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    size_t clen, nlisted = 0;
    char *c = slurp(dir, "corrupt.csv", &clen);
    if (!c) return 1;
    if (strncmp(c, "file,line,offset,kind\n", 22) != 0) FAIL("corrupt.csv: header differs\n");
    for (char *line = strchr(c, '\n') + 1; line && *line;) {
        char *nl = strchr(line, '\n');
        int dup;
        if (!nl) break;
        map_slot(&listed, h(line, (size_t)(nl - line)), &dup);
        if (dup) FAIL("corrupt.csv lists one defect twice\n");
        nlisted++;
        line = nl + 1;
    }
    free(c);
    check_model = nlisted == 0;

    static const csv_spec customers_spec = {
        "customers.csv", "customer_id,name,province,city,county,supply_unit,voltage,class,tariff,registered,capacity_kva\n",
        11, {C_ID, C_ANY, C_PROV, C_CITY, C_DIGITS6, C_DIGITS5, C_VOLT, C_CLASS, C_TARIFF, C_DATE, C_UINT}, {0, -1}};
    static const csv_spec labels_spec = {"labels.csv", "customer_id,class\n", 2, {C_ID, C_CLASS}, {0, -1}};
    static const csv_spec readings_spec = {"readings.csv", "customer_id,timestamp,kwh\n", 3, {C_ID, C_STAMP, C_DEC}, {0, 1}};
    static const csv_spec bills_spec = {"bills.csv", "customer_id,month,days,kwh,peak_kwh,flat_kwh,valley_kwh,amount_yuan\n",
                                        8, {C_ID, C_MONTH, C_UINT, C_DEC, C_DEC, C_DEC, C_DEC, C_DEC}, {0, 1}};
    static const csv_spec weather_spec = {"weather.csv", "province,timestamp,temperature_c\n", 3, {C_PROV, C_STAMP, C_SDEC}, {0, 1}};

    csv_file(dir, &customers_spec, customer_row);
    csv_file(dir, &labels_spec, label_row);
    csv_file(dir, &readings_spec, reading_row);
    csv_file(dir, &bills_spec, bill_row);
    csv_file(dir, &weather_spec, NULL);
    events_file(dir);
    blobs(dir);

    for (size_t i = 0; i < listed.cap; i++)
        if (listed.keys[i] && listed.vals[i] == 0) {
            FAIL("listed in corrupt.csv but not found (%zu listed)\n", nlisted);
            break;
        }
    if (check_model) {
        if (labels.n != ncustomers) FAIL("labels.csv has %zu customers, customers.csv %zu\n", labels.n, ncustomers);
        int64_t per = -1;
        for (size_t i = 0; i < reads_per_cust.cap; i++)
            if (reads_per_cust.keys[i]) {
                if (per < 0) per = reads_per_cust.vals[i];
                if (reads_per_cust.vals[i] != per || per % 96 != 0) {
                    FAIL("customers have different reading counts (%lld, %lld)\n", (long long)per, (long long)reads_per_cust.vals[i]);
                    break;
                }
            }
        if (reads_per_cust.n != ncustomers) FAIL("%zu customers have readings, %zu exist\n", reads_per_cust.n, ncustomers);
        if (bills_seen.n != months.n) FAIL("%zu customer-months have readings, %zu have bills\n", months.n, bills_seen.n);
    }
    if (failures) {
        fprintf(stderr, "gen_verify: %d problem%s in %s\n", failures, failures == 1 ? "" : "s", dir);
        return 1;
    }
    printf("ok: %zu clean customer rows, %zu clean readings, %zu defects found and listed%s\n", ncustomers, nreadings, nfound,
           check_model ? ", model consistent" : "");
    return 0;
}
