/* ref_lasso.c: the independent certificate of `gridmr lasso` for tests/run.sh. Plain C, LAPACK
 * and none of gridmr's code: it reads the CSV itself and the model as `gridmr dump` prints it.
 *
 *   ref_lasso DATA.csv RESPONSE [--weights COL | --kernel C1,C2,... --z0 V1,V2,... --bandwidth H]
 *             [--no-intercept] [--standardize] < DUMP.txt
 *
 * Every column but the response and the weights is a feature (no quoting in DATA.csv). For each
 * lambda of the dump, from the rows in long double:
 *   - the KKT conditions: |x_j^T W r| <= lambda pen_j for a zero coefficient, = lambda pen_j
 *     sign(b_j) for a non-zero one (x centred at the weighted means with an intercept), to
 *     1e-7 lambda pen_j + 1e-9 lambda_max;
 *   - the printed objective, to 1e-9, and the duality gap of the printed solution below 1e-8
 *     of the objective;
 *   - the exact solution on the printed active set with its signs, by a QR factorisation of
 *     the weighted rows (LAPACK dgeqrf, dormqr, dtrtrs; the intercept an unpenalised column of
 *     ones): its signs hold, it satisfies the KKT conditions itself, and the printed solution's
 *     objective matches it to 1e-12 relative.
 * Prints "ok: N lambdas certified" and exits 0, or the first failure and exits 1. */
#define _GNU_SOURCE
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef long double ld;

static size_t n;
static int p, intercept = 1, standardize = 0;
static double *X, *Y, *W;
static char **names;
static ld *xbar, *pen, sw;

static void die(const char *msg)
{
    fprintf(stderr, "ref_lasso: %s\n", msg);
    exit(2);
}

static int split(char *line, char **f, int cap)
{
    int k = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *s = line;; s++) {
        if (k < cap) f[k] = s;
        k++;
        s = strchr(s, ',');
        if (!s) break;
        *s = 0;
    }
    return k;
}

static int find(char **hdr, int nh, const char *name)
{
    for (int i = 0; i < nh; i++)
        if (strcmp(hdr[i], name) == 0) return i;
    return -1;
}

static void load(const char *path, const char *resp, const char *wcol, const char *kernel, const char *z0s, double h)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL, *hline = NULL, *f[4096], *hdr[4096];
    size_t cap = 0, rows_cap = 1024;
    int nh, ry, rw = -1, nk = 0, kc[16];
    double z0[16];
    if (!fp || getline(&hline, &cap, fp) < 0) die("cannot read the data file");
    nh = split(hline, hdr, 4096);
    if (nh > 4096) die("too many columns");
    ry = find(hdr, nh, resp);
    if (ry < 0) die("no response column");
    if (wcol && (rw = find(hdr, nh, wcol)) < 0) die("no weight column");
    if (kernel) {
        char *kc_text = strdup(kernel), *zt = strdup(z0s), *kf[16], *zf[16];
        nk = split(kc_text, kf, 16);
        if (split(zt, zf, 16) != nk) die("--z0 and --kernel differ in length");
        for (int k = 0; k < nk; k++) {
            if ((kc[k] = find(hdr, nh, kf[k])) < 0) die("no kernel column");
            z0[k] = strtod(zf[k], NULL);
        }
    }
    names = malloc((size_t)nh * sizeof *names);
    p = 0;
    for (int c = 0; c < nh; c++)
        if (c != ry && c != rw) names[p++] = strdup(hdr[c]);
    X = malloc(rows_cap * (size_t)p * sizeof *X);
    Y = malloc(rows_cap * sizeof *Y);
    W = malloc(rows_cap * sizeof *W);
    n = 0;
    while (getline(&line, &cap, fp) > 0) {
        if (line[0] == '\n' || line[0] == '\r') continue;
        if (split(line, f, 4096) != nh) die("a row with the wrong number of fields");
        if (n == rows_cap) {
            rows_cap *= 2;
            X = realloc(X, rows_cap * (size_t)p * sizeof *X);
            Y = realloc(Y, rows_cap * sizeof *Y);
            W = realloc(W, rows_cap * sizeof *W);
        }
        for (int c = 0, j = 0; c < nh; c++)
            if (c != ry && c != rw) X[n * (size_t)p + (size_t)j++] = strtod(f[c], NULL);
        Y[n] = strtod(f[ry], NULL);
        W[n] = rw >= 0 ? strtod(f[rw], NULL) : 1.0;
        if (nk) {
            ld d2 = 0;
            for (int k = 0; k < nk; k++) {
                ld d = strtod(f[kc[k]], NULL) - z0[k];
                d2 += d * d;
            }
            W[n] = exp(-(double)(d2 / (2.0L * h * h)));
        }
        n++;
    }
    fclose(fp);
    free(line);
    free(hline);
}

static void stats(void)
{
    xbar = calloc((size_t)p, sizeof *xbar);
    pen = calloc((size_t)p, sizeof *pen);
    sw = 0;
    for (size_t i = 0; i < n; i++) {
        sw += W[i];
        for (int j = 0; j < p; j++) xbar[j] += (ld)W[i] * X[i * (size_t)p + (size_t)j];
    }
    for (int j = 0; j < p; j++) xbar[j] /= sw;
    for (int j = 0; j < p; j++) {
        ld s = 0;
        for (size_t i = 0; i < n; i++) {
            ld d = X[i * (size_t)p + (size_t)j] - (intercept ? xbar[j] : 0);
            s += W[i] * d * d;
        }
        pen[j] = standardize ? sqrtl(s / sw) : 1;
    }
}

/* objective, residual correlations (centred x with an intercept), and the dual value of s r */
static ld evaluate(double lambda, ld b0, const ld *b, ld *corr, ld *gap)
{
    ld rss = 0, l1 = 0, ybar = 0, ytr = 0, dn = 0, s, P;
    for (size_t i = 0; i < n; i++) ybar += W[i] * (ld)Y[i];
    ybar /= sw;
    for (int j = 0; j < p; j++) corr[j] = 0;
    for (size_t i = 0; i < n; i++) {
        const double *x = X + i * (size_t)p;
        ld r = Y[i] - b0, yc = Y[i] - (intercept ? ybar : 0);
        for (int j = 0; j < p; j++) r -= b[j] * x[j];
        rss += W[i] * r * r;
        ytr += W[i] * yc * r;
        for (int j = 0; j < p; j++) corr[j] += W[i] * (x[j] - (intercept ? xbar[j] : 0)) * r;
    }
    for (int j = 0; j < p; j++) {
        l1 += pen[j] * fabsl(b[j]);
        if (pen[j] > 0 && fabsl(corr[j]) / pen[j] > dn) dn = fabsl(corr[j]) / pen[j];
    }
    P = 0.5L * rss + lambda * l1;
    s = dn > lambda ? lambda / dn : 1;
    *gap = P - (s * ytr - 0.5L * s * s * rss);
    return P;
}

static int exact(double lambda, const int *act, int a, const double *sg, ld *b0, ld *b)
{
    int m = a + intercept, rc = 0;
    if (m == 0) { /* no intercept, nothing active: the zero solution */
        for (int j = 0; j < p; j++) b[j] = 0;
        *b0 = 0;
        return 0;
    }
    double *Z = malloc(n * (size_t)m * sizeof *Z), *yt = malloc(n * sizeof *yt), *tau = malloc(((size_t)m + 1) * sizeof *tau);
    double *v = calloc((size_t)m + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        double s = sqrt(W[i]);
        if (intercept) Z[i] = s;
        for (int t = 0; t < a; t++) Z[(size_t)(t + intercept) * n + i] = s * X[i * (size_t)p + (size_t)act[t]];
        yt[i] = s * Y[i];
    }
    for (int t = 0; t < a; t++) v[t + intercept] = (double)pen[act[t]] * sg[t];
    if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)n, m, Z, (int)n, tau) ||
        LAPACKE_dormqr(LAPACK_COL_MAJOR, 'L', 'T', (int)n, 1, m, Z, (int)n, tau, yt, (int)n) ||
        LAPACKE_dtrtrs(LAPACK_COL_MAJOR, 'U', 'T', 'N', m, 1, Z, (int)n, v, m))
        rc = -1;
    if (!rc) {
        for (int t = 0; t < m; t++) yt[t] -= lambda * v[t];
        if (LAPACKE_dtrtrs(LAPACK_COL_MAJOR, 'U', 'N', 'N', m, 1, Z, (int)n, yt, (int)n)) rc = -1;
    }
    for (int j = 0; j < p; j++) b[j] = 0;
    *b0 = intercept ? yt[0] : 0;
    for (int t = 0; !rc && t < a; t++) b[act[t]] = yt[t + intercept];
    free(Z);
    free(yt);
    free(tau);
    free(v);
    return rc;
}

int main(int argc, char **argv)
{
    const char *wcol = NULL, *kernel = NULL, *z0 = NULL;
    double h = 0, lambda = 0, objective = 0, lmax = 0, gapp = 0;
    char line[8192], key[4096];
    ld b0 = 0, *b, *bref, *corr, b0ref;
    int have = 0, count = 0, *act;
    double *sg;
    if (argc < 3) die("usage: ref_lasso DATA.csv RESPONSE [options] < DUMP");
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) wcol = argv[++i];
        else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) kernel = argv[++i];
        else if (strcmp(argv[i], "--z0") == 0 && i + 1 < argc) z0 = argv[++i];
        else if (strcmp(argv[i], "--bandwidth") == 0 && i + 1 < argc) h = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--no-intercept") == 0) intercept = 0;
        else if (strcmp(argv[i], "--standardize") == 0) standardize = 1;
        else die("unknown option");
    }
    load(argv[1], argv[2], wcol, kernel, z0, h);
    stats();
    b = calloc((size_t)p, sizeof *b);
    bref = calloc((size_t)p, sizeof *bref);
    corr = calloc((size_t)p, sizeof *corr);
    act = calloc((size_t)p, sizeof *act);
    sg = calloc((size_t)p, sizeof *sg);
    {   /* lambda_max: the residual correlations of the zero solution */
        ld g0, ybar = 0;
        for (size_t i = 0; i < n; i++) ybar += W[i] * (ld)Y[i];
        evaluate(0, intercept ? ybar / sw : 0, b, corr, &g0);
        lmax = 0;
        for (int j = 0; j < p; j++)
            if (pen[j] > 0 && fabsl(corr[j]) / pen[j] > lmax) lmax = (double)(fabsl(corr[j]) / pen[j]);
    }
    for (int more = 1; more;) {
        double v = 0;
        more = fgets(line, sizeof line, stdin) != NULL;
        if (more && sscanf(line, "beta %4095s %lf", key, &v) == 2) {
            int j = 0;
            while (j < p && strcmp(names[j], key) != 0) j++;
            if (j == p) die("a beta line names no feature");
            b[j] = v;
            continue;
        }
        if (more && sscanf(line, "objective %lf", &v) == 1) { objective = v; continue; }
        if (more && sscanf(line, "gap %lf", &v) == 1) { gapp = v; continue; }
        if (more && sscanf(line, "intercept %lf", &v) == 1) { b0 = v; continue; }
        if (more && sscanf(line, "lambda %lf", &v) != 1) die("a line of the dump is not lambda/objective/gap/intercept/beta");
        if (have) { /* certify the block just read */
            ld gap, P, Pref, gref;
            int a = 0;
            P = evaluate(lambda, b0, b, corr, &gap);
            for (int j = 0; j < p; j++) {
                ld t = lambda * pen[j], tol = 1e-7L * t + 1e-9L * lmax;
                if ((b[j] == 0 && fabsl(corr[j]) > t + tol) || (b[j] != 0 && fabsl(corr[j] - (b[j] > 0 ? t : -t)) > tol)) {
                    printf("FAIL lambda %.17g: KKT at %s: b = %.17Lg, x^T W r = %.17Lg, lambda pen = %.17Lg\n", lambda,
                           names[j], b[j], corr[j], t);
                    return 1;
                }
                if (b[j] != 0) {
                    act[a] = j;
                    sg[a++] = b[j] > 0 ? 1 : -1;
                }
            }
            if (fabsl(P - objective) > 1e-9L * P || !(gap <= 1e-8L * P) || fabsl(gapp) > 1e-8 * objective) {
                printf("FAIL lambda %.17g: objective %.17Lg from the rows, %.17g printed; gap %.3Lg from the rows, %.3g printed\n",
                       lambda, P, objective, gap, gapp);
                return 1;
            }
            if (exact(lambda, act, a, sg, &b0ref, bref)) {
                printf("FAIL lambda %.17g: the QR solve on the active set failed\n", lambda);
                return 1;
            }
            Pref = evaluate(lambda, b0ref, bref, corr, &gref);
            for (int t = 0; t < a; t++)
                if (bref[act[t]] * sg[t] <= 0) {
                    printf("FAIL lambda %.17g: the certified solution flips the sign of %s\n", lambda, names[act[t]]);
                    return 1;
                }
            for (int j = 0; j < p; j++)
                if (bref[j] == 0 && fabsl(corr[j]) > lambda * pen[j] * (1 + 1e-9L) + 1e-12L * lmax) {
                    printf("FAIL lambda %.17g: the active set is wrong: %s violates KKT at the certified solution\n",
                           lambda, names[j]);
                    return 1;
                }
            if (fabsl(P - Pref) > 1e-12L * Pref) {
                printf("FAIL lambda %.17g: objective %.17Lg, certified optimum %.17Lg (relative %.3Lg)\n", lambda, P, Pref,
                       fabsl(P - Pref) / Pref);
                return 1;
            }
            count++;
        }
        if (more) {
            lambda = v;
            have = 1;
            b0 = 0;
            for (int j = 0; j < p; j++) b[j] = 0;
        }
    }
    printf("ok: %d lambdas certified\n", count);
    return count ? 0 : 1;
}
