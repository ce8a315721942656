/* ref_ingest.c: an independent serial reference for `gridmr events` and `gridmr blobs`, used by
 * tests/run.sh.
 *
 * Shares no code with gridmr, nor its JSON parser: its own recursive-descent JSON parser
 * (RFC 8259 with the choices gridmr documents: an object per line, duplicate member names and
 * raw control characters refused, "\u0000" allowed, UTF-8 checked), its own path lookup, its
 * own signature table, grouping by sorting (not hashing), and exact sums as __int128 scaled by
 * 2^64 (as tests/ref_aggregate.c; values it cannot sum exactly are refused, never guessed).
 *
 * usage: ref_ingest events [--no-checks] KEYPATHS VALUEPATHS REJECTS FILE...
 *        ref_ingest blobs REJECTS MANIFEST...
 * prints the rows as `gridmr dump` would; REJECTS gets one "FILE:LINE,KIND" per bad record, in
 * file and line order, with the kinds of corrupt.csv (truncated_json for any JSON error,
 * bad_enum, bad_timestamp, duplicate_key, hash_mismatch, bad_magic for a type that differs from
 * the manifest's; other reasons are "other"). */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long n;
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

/* ---- rows: key + slots, grouped by sorting ---------------------------------------------- */

typedef struct row {
    char *key;
    size_t klen;
    uint64_t *u;   /* per column: counts */
    double *x;     /* per value: the value (or NAN when absent) */
} row;

static row *rows;
static size_t nrows, caprows;

static row *row_add(const char *key, size_t klen, int nu, int nx)
{
    if (nrows == caprows) {
        caprows = caprows ? 2 * caprows : 1024;
        rows = realloc(rows, caprows * sizeof *rows);
        if (!rows) exit(2);
    }
    row *r = &rows[nrows++];
    r->key = malloc(klen + 1);
    memcpy(r->key, key, klen);
    r->klen = klen;
    r->u = calloc((size_t)nu + 1, sizeof *r->u);
    r->x = calloc((size_t)nx + 1, sizeof *r->x);
    return r;
}

static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;
    size_t m = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, m);
    if (c) return c;
    return (x->klen > y->klen) - (x->klen < y->klen);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };
typedef struct jv {
    int t;
    char *s;          /* J_STR: decoded bytes; J_NUM: the text */
    size_t slen, n;
    double num;
    char **keys;      /* J_OBJ */
    size_t *klens;
    struct jv **kids; /* J_ARR, J_OBJ */
} jv;

typedef struct { const char *s, *end; int depth; } jp;

static void jfree(jv *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        jfree(v->kids[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->klens);
    free(v->s);
    free(v);
}

static void ws(jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n')) p->s++;
}

static void put_utf8(char *o, size_t *n, unsigned c)
{
    if (c < 0x80) o[(*n)++] = (char)c;
    else if (c < 0x800) { o[(*n)++] = (char)(0xc0 | c >> 6); o[(*n)++] = (char)(0x80 | (c & 63)); }
    else if (c < 0x10000) { o[(*n)++] = (char)(0xe0 | c >> 12); o[(*n)++] = (char)(0x80 | ((c >> 6) & 63)); o[(*n)++] = (char)(0x80 | (c & 63)); }
    else { o[(*n)++] = (char)(0xf0 | c >> 18); o[(*n)++] = (char)(0x80 | ((c >> 12) & 63)); o[(*n)++] = (char)(0x80 | ((c >> 6) & 63)); o[(*n)++] = (char)(0x80 | (c & 63)); }
}

static int hex4(const char *s, unsigned *c)
{
    *c = 0;
    for (int i = 0; i < 4; i++) {
        char h = s[i];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return 0;
        *c = *c * 16 + (unsigned)d;
    }
    return 1;
}

/* a UTF-8 sequence starting at s: its length, 0 when invalid */
static int utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0], v;
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!n || end - s < n) return 0;
    v = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    return n;
}

static int jstring(jp *p, char **out, size_t *olen)
{
    const char *s = p->s + 1;
    char *o = malloc((size_t)(p->end - p->s) + 4);
    size_t n = 0;
    while (s < p->end && *s != '"') {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20) { free(o); return 0; }
        if (c == '\\') {
            unsigned u, u2;
            if (s + 1 >= p->end) { free(o); return 0; }
            switch (s[1]) {
            case '"': o[n++] = '"'; s += 2; break;
            case '\\': o[n++] = '\\'; s += 2; break;
            case '/': o[n++] = '/'; s += 2; break;
            case 'b': o[n++] = '\b'; s += 2; break;
            case 'f': o[n++] = '\f'; s += 2; break;
            case 'n': o[n++] = '\n'; s += 2; break;
            case 'r': o[n++] = '\r'; s += 2; break;
            case 't': o[n++] = '\t'; s += 2; break;
            case 'u':
                if (p->end - s < 6 || !hex4(s + 2, &u)) { free(o); return 0; }
                s += 6;
                if (u >= 0xd800 && u <= 0xdbff) {
                    if (p->end - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, &u2) || u2 < 0xdc00 || u2 > 0xdfff) { free(o); return 0; }
                    u = 0x10000 + ((u - 0xd800) << 10) + (u2 - 0xdc00);
                    s += 6;
                } else if (u >= 0xdc00 && u <= 0xdfff) { free(o); return 0; }
                put_utf8(o, &n, u);
                break;
            default: free(o); return 0;
            }
            continue;
        }
        int k = utf8_len((const unsigned char *)s, (const unsigned char *)p->end);
        if (!k) { free(o); return 0; }
        memcpy(o + n, s, (size_t)k);
        n += (size_t)k;
        s += k;
    }
    if (s >= p->end) { free(o); return 0; }
    p->s = s + 1;
    o[n] = '\0';
    *out = o;
    *olen = n;
    return 1;
}

static jv *jvalue(jp *p);

static jv *jnew(int t)
{
    jv *v = calloc(1, sizeof *v);
    v->t = t;
    return v;
}

static int jpush(jv *v, jv *kid, char *key, size_t klen)
{
    v->kids = realloc(v->kids, (v->n + 1) * sizeof *v->kids);
    if (v->t == J_OBJ) {
        for (size_t i = 0; i < v->n; i++)
            if (v->klens[i] == klen && memcmp(v->keys[i], key, klen) == 0) return 0; /* duplicate member */
        v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
        v->klens = realloc(v->klens, (v->n + 1) * sizeof *v->klens);
        v->keys[v->n] = key;
        v->klens[v->n] = klen;
    }
    v->kids[v->n++] = kid;
    return 1;
}

static jv *jvalue(jp *p)
{
    jv *v = NULL;
    ws(p);
    if (p->s >= p->end || ++p->depth > 200) return NULL;
    char c = *p->s;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        v = jnew(c == '{' ? J_OBJ : J_ARR);
        p->s++;
        ws(p);
        if (p->s < p->end && *p->s == close) {
            p->s++;
            p->depth--;
            return v;
        }
        for (;;) {
            char *key = NULL;
            size_t klen = 0;
            jv *kid;
            ws(p);
            if (v->t == J_OBJ) {
                if (p->s >= p->end || *p->s != '"' || !jstring(p, &key, &klen)) goto bad;
                ws(p);
                if (p->s >= p->end || *p->s != ':') { free(key); goto bad; }
                p->s++;
            }
            kid = jvalue(p);
            if (!kid) { free(key); goto bad; }
            if (!jpush(v, kid, key, klen)) { free(key); jfree(kid); goto bad; }
            ws(p);
            if (p->s < p->end && *p->s == ',') { p->s++; continue; }
            if (p->s < p->end && *p->s == close) { p->s++; break; }
            goto bad;
        }
    } else if (c == '"') {
        v = jnew(J_STR);
        if (!jstring(p, &v->s, &v->slen)) goto bad;
    } else if (c == 't' || c == 'f' || c == 'n') {
        const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t n = strlen(w);
        if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0) return NULL;
        p->s += n;
        v = jnew(c == 't' ? J_TRUE : c == 'f' ? J_FALSE : J_NULL);
    } else {
        const char *s = p->s, *b = s;
        if (s < p->end && *s == '-') s++;
        if (s >= p->end) return NULL;
        if (*s == '0') s++;
        else if (*s >= '1' && *s <= '9') while (s < p->end && *s >= '0' && *s <= '9') s++;
        else return NULL;
        int frac = 0;
        if (s < p->end && *s == '.') {
            s++;
            frac = 1;
            if (s >= p->end || *s < '0' || *s > '9') return NULL;
            while (s < p->end && *s >= '0' && *s <= '9') s++;
        }
        if (s < p->end && (*s == 'e' || *s == 'E')) {
            s++;
            frac = 1;
            if (s < p->end && (*s == '+' || *s == '-')) s++;
            if (s >= p->end || *s < '0' || *s > '9') return NULL;
            while (s < p->end && *s >= '0' && *s <= '9') s++;
        }
        (void)frac;
        v = jnew(J_NUM);
        v->s = strndup(b, (size_t)(s - b));
        v->num = strtod(v->s, NULL);
        p->s = s;
    }
    p->depth--;
    return v;
bad:
    jfree(v);
    return NULL;
}

/* the value at a dotted path ("a.b.0"), or NULL */
static const jv *jpath(const jv *v, const char *path)
{
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        const jv *next = NULL;
        if (v->t == J_OBJ) {
            for (size_t i = 0; i < v->n; i++)
                if (v->klens[i] == n && memcmp(v->keys[i], path, n) == 0) next = v->kids[i];
        } else if (v->t == J_ARR && n > 0 && strspn(path, "0123456789") >= n) {
            size_t idx = strtoul(path, NULL, 10);
            if (idx < v->n) next = v->kids[idx];
        }
        v = next;
        path += n;
        if (dot) {
            path++;
            if (!*path) return NULL;
        }
    }
    return v;
}

/* ---- events --------------------------------------------------------------------------------- */

static int is_stamp(const char *s, size_t n)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    int y, mo, d, h, mi, se;
    char buf[32];
    if (n != 19) return 0;
    for (int i = 0; i < 19; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) return 0;
    memcpy(buf, s, 19);
    buf[19] = '\0';
    if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6) return 0;
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= md[mo - 1] + (mo == 2 && leap);
}

static const char *event_kind(const jv *v, const char **id, size_t *idlen)
{
    const jv *x = jpath(v, "event_id");
    *idlen = 0;
    if (!x || x->t != J_STR || x->slen == 0) return "other";
    *id = x->s;
    *idlen = x->slen;
    x = jpath(v, "type");
    if (!x || x->t != J_STR) return "other";
    if (strcmp(x->s, "payment") && strcmp(x->s, "complaint") && strcmp(x->s, "work_order") && strcmp(x->s, "outage"))
        return "bad_enum";
    x = jpath(v, "time");
    if (!x || x->t != J_STR || !is_stamp(x->s, x->slen)) return x && x->t == J_STR ? "bad_timestamp" : "other";
    return NULL;
}

static char **split_list(const char *s, int *n)
{
    char **out = calloc(64, sizeof *out), *dup = strdup(s), *tok;
    *n = 0;
    for (tok = strtok(dup, ","); tok && *n < 64; tok = strtok(NULL, ",")) out[(*n)++] = strdup(tok);
    free(dup);
    return out;
}

static int checks = 1;

static int events(int argc, char **argv)
{
    int nk, nv;
    char **kp = split_list(argv[0], &nk), **vp = split_list(argv[1], &nv);
    FILE *rej = fopen(argv[2], "w");
    if (!rej) { perror(argv[2]); return 2; }
    for (int f = 3; f < argc; f++) {
        size_t len, line = 0;
        char *data = slurp(argv[f], &len), previd[512];
        size_t prevlen = 0;
        for (size_t off = 0; off < len;) {
            char *nl = memchr(data + off, '\n', len - off);
            size_t n = nl ? (size_t)(nl - (data + off)) : len - off;
            jp p = {data + off, data + off + n, 0};
            const char *kind = NULL, *id = NULL;
            size_t idlen = 0, blank = strspn(data + off, " \t\r");
            jv *v = NULL;
            line++;
            off += n + 1;
            if (blank >= n) { prevlen = 0; continue; } /* a blank line: not a record */
            v = jvalue(&p);
            if (v) ws(&p);
            if (!v || p.s != p.end) kind = "truncated_json";
            else if (v->t != J_OBJ) kind = "other";
            else if (checks) kind = event_kind(v, &id, &idlen);
            size_t thislen = 0;
            if (!kind || !strcmp(kind, "duplicate_key")) thislen = idlen;
            if (!kind && checks && prevlen && prevlen == idlen && memcmp(previd, id, idlen) == 0) kind = "duplicate_key";
            if (thislen && thislen < sizeof previd) memcpy(previd, id, thislen);
            prevlen = thislen < sizeof previd ? thislen : 0;
            /* keys and values */
            char key[4096];
            size_t kl = 0;
            double *vals = calloc((size_t)nv + 1, sizeof *vals);
            int *has = calloc((size_t)nv + 1, sizeof *has);
            for (int k = 0; !kind && k < nk; k++) {
                const jv *x = jpath(v, kp[k]);
                char num[64];
                const char *s = "";
                size_t sl = 0;
                if (x && (x->t == J_OBJ || x->t == J_ARR)) { kind = "other"; break; }
                if (x && x->t == J_STR) { s = x->s; sl = x->slen; }
                if (x && x->t == J_NUM) {
                    int integer = strpbrk(x->s, ".eE") == NULL;
                    sl = (size_t)(integer ? snprintf(num, sizeof num, "%lld", strtoll(x->s, NULL, 10)) : snprintf(num, sizeof num, "%.17g", x->num));
                    s = num;
                }
                if (x && (x->t == J_TRUE || x->t == J_FALSE || x->t == J_NULL)) { s = x->t == J_TRUE ? "true" : x->t == J_FALSE ? "false" : "null"; sl = strlen(s); }
                if (kl + sl + 1 >= sizeof key) { fprintf(stderr, "ref_ingest: key too long\n"); return 2; }
                if (k) key[kl++] = ',';
                memcpy(key + kl, s, sl);
                kl += sl;
            }
            for (int i = 0; !kind && i < nv; i++) {
                const jv *x = jpath(v, vp[i]);
                if (!x || x->t == J_NULL) continue;
                if (x->t != J_NUM) { kind = "other"; break; }
                vals[i] = x->num;
                has[i] = 1;
            }
            if (kind) {
                fprintf(rej, "%s:%zu,%s\n", argv[f], line, kind);
            } else {
                row *r = row_add(key, kl, nv, nv);
                for (int i = 0; i < nv; i++) {
                    r->u[i] = (uint64_t)has[i];
                    r->x[i] = has[i] ? vals[i] : 0;
                }
            }
            free(vals);
            free(has);
            jfree(v);
        }
        free(data);
    }
    fclose(rej);
    qsort(rows, nrows, sizeof *rows, row_cmp);
    for (size_t i = 0; i < nrows;) {
        size_t j = i;
        while (j < nrows && row_cmp(&rows[i], &rows[j]) == 0) j++;
        fwrite(rows[i].key, 1, rows[i].klen, stdout);
        printf("\t%zu", j - i);
        for (int k = 0; k < nv; k++) {
            __int128 s = 0;
            uint64_t cnt = 0;
            for (size_t r = i; r < j; r++) {
                double x = rows[r].x[k], scaled = x * 0x1p64;
                if (fabs(x) >= 0x1p60 || scaled != floor(scaled)) {
                    fprintf(stderr, "ref_ingest: %g cannot be summed exactly by this reference\n", x);
                    return 3;
                }
                s += (__int128)scaled;
                cnt += rows[r].u[k];
            }
            printf("\t%llu\t%.17g", (unsigned long long)cnt, (double)s * 0x1p-64);
        }
        putchar('\n');
        i = j;
    }
    return 0;
}

/* ---- blobs ---------------------------------------------------------------------------------- */

static const char *sniff(const unsigned char *p, size_t n)
{
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return "png";
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return "jpeg";
    if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WAVE", 4)) return "wav";
    if (n >= 5 && !memcmp(p, "%PDF-", 5)) return "pdf";
    if (n >= 3 && !memcmp(p, "ID3", 3)) return "mp3";
    return "unknown"; /* the data set's MP3s all start with a tag */
}

static const char *mime_of(const char *t)
{
    return !strcmp(t, "png") ? "image/png" : !strcmp(t, "jpeg") ? "image/jpeg" : !strcmp(t, "wav") ? "audio/wav"
         : !strcmp(t, "pdf") ? "application/pdf" : !strcmp(t, "mp3") ? "audio/mpeg" : "application/octet-stream";
}

static int blobs(int argc, char **argv)
{
    FILE *rej = fopen(argv[0], "w");
    if (!rej) { perror(argv[0]); return 2; }
    for (int f = 1; f < argc; f++) {
        size_t len, line = 0;
        char *data = slurp(argv[f], &len), dir[4096];
        const char *slash = strrchr(argv[f], '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - argv[f] + 1) : 0, argv[f]);
        for (size_t off = 0; off < len;) {
            char *nl = memchr(data + off, '\n', len - off), *fl[16], tmp[4096];
            size_t n = nl ? (size_t)(nl - (data + off)) : len - off;
            int nf = 0;
            line++;
            if (n >= sizeof tmp) { fprintf(stderr, "ref_ingest: long manifest line\n"); return 2; }
            memcpy(tmp, data + off, n);
            tmp[n] = '\0';
            off += n + 1;
            if (line == 1 || n == 0) continue;
            for (char *t = tmp, *c; nf < 16; t = c + 1) { /* the data set's manifest needs no quoting */
                fl[nf++] = t;
                if (!(c = strchr(t, ','))) break;
                *c = '\0';
            }
            /* blob_id,file,offset,length,mime,purpose,xxh3,customer_id,created */
            if (nf != 9) { fprintf(rej, "%s:%zu,other\n", argv[f], line); continue; }
            char path[8192];
            snprintf(path, sizeof path, "%s%s", fl[1][0] == '/' ? "" : dir, fl[1]);
            size_t bo = strtoull(fl[2], NULL, 10), bl = strtoull(fl[3], NULL, 10);
            FILE *pf = fopen(path, "rb");
            unsigned char *buf = malloc(bl + 1);
            if (!pf || fseek(pf, (long)bo, SEEK_SET) || fread(buf, 1, bl, pf) != bl) {
                fprintf(rej, "%s:%zu,other\n", argv[f], line);
            } else {
                char hex[17];
                const char *t = sniff(buf, bl);
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits(buf, bl));
                if (strcmp(hex, fl[6]) != 0) fprintf(rej, "%s:%zu,hash_mismatch\n", argv[f], line);
                else if (strcmp(mime_of(t), fl[4]) != 0) fprintf(rej, "%s:%zu,bad_magic\n", argv[f], line);
                else {
                    row *r = row_add(t, strlen(t), 1, 0);
                    r->u[0] = bl;
                }
            }
            if (pf) fclose(pf);
            free(buf);
        }
        free(data);
    }
    fclose(rej);
    qsort(rows, nrows, sizeof *rows, row_cmp);
    for (size_t i = 0; i < nrows;) {
        size_t j = i;
        uint64_t bytes = 0;
        while (j < nrows && row_cmp(&rows[i], &rows[j]) == 0) bytes += rows[j++].u[0];
        fwrite(rows[i].key, 1, rows[i].klen, stdout);
        printf("\t%zu\t%llu\n", j - i, (unsigned long long)bytes);
        i = j;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "events") == 0 && strcmp(argv[2], "--no-checks") == 0) {
        checks = 0;
        return events(argc - 3, argv + 3);
    }
    if (argc >= 5 && strcmp(argv[1], "events") == 0) return events(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "blobs") == 0) return blobs(argc - 2, argv + 2);
    fprintf(stderr, "usage: ref_ingest events [--no-checks] KEYPATHS VALUEPATHS REJECTS FILE...\n"
                    "       ref_ingest blobs REJECTS MANIFEST...\n");
    return 2;
}
