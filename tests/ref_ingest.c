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

#include "ref_json.h"

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
