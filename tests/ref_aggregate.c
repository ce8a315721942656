/* ref_aggregate.c: an independent serial reference for `gridmr aggregate`, used by tests/run.sh.
 *
 * Deliberately shares no code with gridmr: its own CSV state machine, grouping by sorting all
 * rows (not hashing), and exact sums by a different method: every value is scaled by 2^64 into
 * an __int128 (exact for doubles whose lowest bit is at or above 2^-64 and |x| < 2^60, which the
 * test data keeps to; others are refused so the reference never guesses), summed as integers
 * and converted once, which gcc rounds correctly, then scaled back exactly.
 *
 * usage: ref_aggregate KEYCOLS VALCOLS FILE...   prints the rows as `gridmr dump` would and
 * "rejected N" on stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    char *key;
    size_t klen;
    double *v;
} row;

static int nval;

static char **split_list(const char *s, int *n)
{
    char **out = calloc(64, sizeof *out), *dup = strdup(s), *tok;
    *n = 0;
    for (tok = strtok(dup, ","); tok; tok = strtok(NULL, ",")) out[(*n)++] = strdup(tok);
    free(dup);
    return out;
}

/* parse one line into fields; returns field count or -1 when malformed */
static int parse_csv(const char *line, size_t len, char ***fields, size_t **flen)
{
    static char *buf[4096];
    static size_t bl[4096];
    int nf = 0;
    size_t i = 0;
    if (len && line[len - 1] == '\r') len--;
    for (;;) {
        char *f = malloc(len + 1);
        size_t n = 0;
        if (i < len && line[i] == '"') {
            i++;
            while (1) {
                if (i >= len) { free(f); return -1; }
                if (line[i] == '"' && i + 1 < len && line[i + 1] == '"') { f[n++] = '"'; i += 2; }
                else if (line[i] == '"') { i++; break; }
                else f[n++] = line[i++];
            }
            if (i < len && line[i] != ',') { free(f); return -1; }
        } else {
            while (i < len && line[i] != ',') f[n++] = line[i++];
        }
        buf[nf] = f;
        bl[nf] = n;
        nf++;
        if (i >= len) break;
        i++;
        if (i == len) { buf[nf] = malloc(1); bl[nf] = 0; nf++; break; }
    }
    *fields = buf;
    *flen = bl;
    return nf;
}

static int number(const char *p, size_t n, double *x)
{
    char tmp[128], *end;
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    if (!n || n >= sizeof tmp) return -1;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    *x = strtod(tmp, &end);
    /* gridmr documents |x| < 2^80 as the summable range and rejects the rest */
    return (*end || !isfinite(*x) || fabs(*x) >= 0x1p80) ? -1 : 0;
}

static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;
    size_t m = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, m);
    if (c) return c;
    return (x->klen > y->klen) - (x->klen < y->klen);
}

int main(int argc, char **argv)
{
    int nk, nv;
    char **kn, **vn;
    row *rows = NULL;
    size_t nrows = 0, cap = 0, rejected = 0;
    if (argc < 4) {
        fprintf(stderr, "usage: ref_aggregate KEYCOLS VALCOLS FILE...\n");
        return 2;
    }
    kn = split_list(argv[1], &nk);
    vn = split_list(argv[2], &nv);
    nval = nv;
    for (int a = 3; a < argc; a++) {
        FILE *fp = fopen(argv[a], "rb");
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        int ki[64], vi[64], nh = -1, lineno = 0;
        if (!fp) { perror(argv[a]); return 1; }
        while ((len = getline(&line, &lcap, fp)) >= 0) {
            char **f;
            size_t *fl;
            int nf;
            lineno++;
            if (len && line[len - 1] == '\n') len--;
            if (lineno == 1) {
                nh = parse_csv(line, (size_t)len, &f, &fl);
                for (int k = 0; k < nk + nv; k++) {
                    const char *name = k < nk ? kn[k] : vn[k - nk];
                    int j = 0;
                    while (j < nh && !(fl[j] == strlen(name) && memcmp(f[j], name, fl[j]) == 0)) j++;
                    if (j == nh) { fprintf(stderr, "no column %s\n", name); return 1; }
                    if (k < nk) ki[k] = j; else vi[k - nk] = j;
                }
                continue;
            }
            if (len == 0 || (len == 1 && line[0] == '\r')) continue;
            nf = parse_csv(line, (size_t)len, &f, &fl);
            if (nf != nh) { rejected++; continue; }
            {
                row r;
                size_t kl = 0;
                int bad = 0;
                for (int k = 0; k < nk; k++) kl += fl[ki[k]] + 1;
                r.key = malloc(kl + 1);
                r.klen = 0;
                for (int k = 0; k < nk; k++) {
                    if (k) r.key[r.klen++] = ',';
                    memcpy(r.key + r.klen, f[ki[k]], fl[ki[k]]);
                    r.klen += fl[ki[k]];
                }
                r.v = malloc(sizeof(double) * (size_t)(nv + 1));
                for (int k = 0; k < nv; k++) bad |= number(f[vi[k]], fl[vi[k]], &r.v[k]);
                if (bad) { rejected++; free(r.key); free(r.v); continue; }
                if (nrows == cap) rows = realloc(rows, (cap = cap ? 2 * cap : 1024) * sizeof *rows);
                rows[nrows++] = r;
            }
        }
        free(line);
        fclose(fp);
    }
    qsort(rows, nrows, sizeof *rows, row_cmp);
    for (size_t i = 0; i < nrows;) {
        size_t j = i;
        while (j < nrows && row_cmp(&rows[i], &rows[j]) == 0) j++;
        fwrite(rows[i].key, 1, rows[i].klen, stdout);
        printf("\t%zu", j - i);
        for (int k = 0; k < nv; k++) {
            __int128 s = 0;
            double mn = rows[i].v[k], mx = rows[i].v[k];
            for (size_t r = i; r < j; r++) {
                double x = rows[r].v[k], scaled = x * 0x1p64;
                if (fabs(x) >= 0x1p60 || scaled != floor(scaled)) {
                    fprintf(stderr, "ref_aggregate: %g cannot be summed exactly by this reference\n", x);
                    return 3;
                }
                s += (__int128)scaled;
                if (x < mn) mn = x;
                if (x > mx) mx = x;
            }
            printf("\t%.17g\t%.17g\t%.17g", (double)s * 0x1p-64, mn, mx);
        }
        putchar('\n');
        i = j;
    }
    fprintf(stderr, "rejected %zu\n", rejected);
    return 0;
}
