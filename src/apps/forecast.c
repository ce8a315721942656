/* forecast.c: hourly load forecasting with the distributed LASSO (`gridmr forecast`).
 *
 * The reader takes any hourly CSV laid out like GEFCom2014-E (date YYYY-MM-DD, hour 1-24, load,
 * temperature; an optional series column). Each rank reads the whole file: a series is at most
 * some 10^5 hours, and every rank then builds the design rows of its own block of hours,
 * looking back freely for the lags.
 *
 * The design (docs/forecast.md) is Hong's GEFCom benchmark ("vanilla": trend, month, weekday x
 * hour, temperature polynomials and their month and hour interactions) with, in the recency
 * design, holidays x hour and the same temperature block for lagged temperatures and daily
 * moving averages (Wang, Liu and Hong 2016), plus lagged loads when a horizon allows them.
 * Categorical terms use reference coding (first level dropped) so the vanilla design is of full
 * rank and lambda = 0 is ordinary least squares. Temperatures are standardised on the training
 * hours before the powers are taken (the cubes of raw Fahrenheit degrees span 10^5).
 *
 * Lambda: a path is fitted on the training period minus its last year (the validation period),
 * the lambda with the smallest validation MAPE is kept, and the full training period is refitted
 * along the same path (lambdas scaled by the row counts, the objective being a sum) down to it.
 * The test period is never looked at before the forecasts are made.
 *
 * Parallelism: series spread over the provinces of the topology; the rows of a series over its
 * province's ranks (gmr_lasso reduces the Gram matrix over the province communicator). Cost per
 * series: n p^2 / ranks flops for each of the two Gram matrices (n ~ 26k hours, p ~ 1000), the
 * path solve O(p^2) per sweep on every rank of the province. With reconcile, the total is fitted
 * as one more series and HQ reconciles it with the bottom-up sum (WLS, closed form). */
#define _XOPEN_SOURCE 700
#include "apps/forecast.h"

#include <ctype.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/rsum.h"
#include "gen/model.h"
#include "gridmr/lasso.h"
#include "gridmr/log.h"
#include "sched/sched.h"
#include "stage/h5util.h"
#include "topo/topo.h"

/* ---- dates and holidays ----------------------------------------------------------------------- */

int gmr__fc_parse_date(const char *s, long *day)
{
    int y, m, d;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int i = 0; i < 10; i++)
        if ((i == 4 || i == 7) ? s[i] != '-' : !isdigit((unsigned char)s[i])) return -1;
    if (s[10] != '\0') return -1;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return -1;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return -1;
    *day = (long)gmr__days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

void gmr__fc_format_date(long day, char buf[11])
{
    int64_t y;
    unsigned m, d;
    gmr__civil_from_days(day, &y, &m, &d);
    snprintf(buf, 11, "%04u-%02u-%02u", (unsigned)((y % 10000 + 10000) % 10000), m % 100, d % 100);
}

/* Monday = 0 (1970-01-01 was a Thursday). */
static int weekday(long day) { return (int)(((day + 3) % 7 + 7) % 7); }

static int month_of(long day)
{
    int64_t y;
    unsigned m, d;
    gmr__civil_from_days(day, &y, &m, &d);
    return (int)m;
}

/* The n-th (1-based) weekday wd (Monday 0) of month m; n = -1: the last. */
static long nth_weekday(int y, int m, int wd, int n)
{
    if (n > 0) {
        long first = (long)gmr__days_from_civil(y, (unsigned)m, 1);
        return first + (wd - weekday(first) + 7) % 7 + 7L * (n - 1);
    }
    long next = m == 12 ? (long)gmr__days_from_civil(y + 1, 1, 1) : (long)gmr__days_from_civil(y, (unsigned)m + 1, 1);
    long last = next - 1;
    return last - (weekday(last) - wd + 7) % 7;
}

/* A fixed-date holiday moves to Friday when on Saturday and to Monday when on Sunday. */
static long observed(long day)
{
    int wd = weekday(day);
    return wd == 5 ? day - 1 : wd == 6 ? day + 1 : day;
}

int gmr__fc_us_holiday(long day)
{
    int64_t y64;
    unsigned m, d;
    int y;
    gmr__civil_from_days(day, &y64, &m, &d);
    y = (int)y64;
    for (int yy = y; yy <= y + 1; yy++) /* New Year's day observed may fall on Dec 31 */
        if (day == observed((long)gmr__days_from_civil(yy, 1, 1))) return 1;
    if (day == nth_weekday(y, 1, 0, 3)) return 1;                        /* Martin Luther King */
    if (day == nth_weekday(y, 2, 0, 3)) return 1;                        /* Presidents' day */
    if (day == nth_weekday(y, 5, 0, -1)) return 1;                       /* Memorial day */
    if (day == observed((long)gmr__days_from_civil(y, 7, 4))) return 1;  /* Independence day */
    if (day == nth_weekday(y, 9, 0, 1)) return 1;                        /* Labor day */
    if (day == nth_weekday(y, 11, 3, 4)) return 1;                       /* Thanksgiving */
    if (day == nth_weekday(y, 11, 3, 4) + 1) return 1;                   /* and the day after */
    if (day == observed((long)gmr__days_from_civil(y, 12, 25))) return 1; /* Christmas */
    return 0;
}

/* ---- the reader ------------------------------------------------------------------------------- */

typedef struct rec {
    long t; /* hour index: day * 24 + hour - 1 */
    long line;
    double load, temp;
    int hol;
} rec;

typedef struct acc {
    char *name;
    rec *r;
    size_t n, cap;
} acc;

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Column by name (case-insensitive) or 1-based number; -1 when absent. */
static int find_col(char **f, int nf, const char *want)
{
    char *end;
    long k;
    for (int c = 0; c < nf; c++)
        if (strcasecmp(f[c], want) == 0) return c;
    errno = 0;
    k = strtol(want, &end, 10);
    if (*want && !*end && !errno && k >= 1 && k <= nf) return (int)k - 1;
    return -1;
}

/* Split line in place at commas (quotes around a field are dropped); returns the field count. */
static int split(char *line, char ***f, int *cap)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *c = strchr(p, ',');
        if (n == *cap) {
            int nc = *cap ? 2 * *cap : 16;
            char **v = realloc(*f, (size_t)nc * sizeof *v);
            if (!v) return -1;
            *f = v;
            *cap = nc;
        }
        if (c) *c = '\0';
        {
            size_t len = strlen(p);
            while (len && isspace((unsigned char)p[len - 1])) p[--len] = '\0';
            while (isspace((unsigned char)*p)) p++, len--;
            if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
                p[len - 1] = '\0';
                p++;
            }
        }
        (*f)[n++] = p;
        if (!c) return n;
        p = c + 1;
    }
}

/* An empty cell is NaN (1); a number 0; anything else -1. */
static int cell(const char *s, double *v)
{
    char *end;
    if (!*s || strcasecmp(s, "NA") == 0 || strcasecmp(s, "nan") == 0) {
        *v = NAN;
        return 1;
    }
    errno = 0;
    *v = strtod(s, &end);
    return *end || errno == ERANGE || !isfinite(*v) ? -1 : 0;
}

void gmr__fc_set_free(gmr__fc_set *set)
{
    if (!set) return;
    for (int i = 0; i < set->nseries; i++) {
        free(set->s[i].name);
        free(set->s[i].load);
        free(set->s[i].temp);
        free(set->s[i].line);
        free(set->s[i].hol);
    }
    free(set->s);
    set->s = NULL;
    set->nseries = 0;
}

/* Sorted records -> a series of consecutive hours, with the checks. */
static gmr_err finish_series(const char *path, acc *a, int with_hol, gmr__fc_series *s)
{
    gmr_err err = GMR_OK;
    char d0[11], d1[11], label[300];
    if (a->name[0]) snprintf(label, sizeof label, "series '%.256s': ", a->name);
    else label[0] = '\0';
    qsort(a->r, a->n, sizeof *a->r, rec_cmp);
    for (size_t i = 1; i < a->n; i++) {
        long t0 = a->r[i - 1].t, t1 = a->r[i].t;
        gmr__fc_format_date(t1 / 24, d1);
        GMR_CHECK(t1 != t0, GMR_ERR_DATA, "%s:%ld: %s%s hour %ld repeats line %ld", path, a->r[i].line, label, d1,
                  t1 % 24 + 1, a->r[i - 1].line);
        if (t1 != t0 + 1) {
            gmr__fc_format_date(t0 / 24, d0);
            GMR_FAIL(GMR_ERR_DATA, "%s:%ld: %sgap in the hours: %ld missing between %s hour %ld (line %ld) and %s hour %ld",
                     path, a->r[i].line, label, t1 - t0 - 1, d0, t0 % 24 + 1, a->r[i - 1].line, d1, t1 % 24 + 1);
        }
    }
    s->name = a->name;
    a->name = NULL;
    s->n = a->n;
    s->day0 = a->n ? a->r[0].t / 24 : 0;
    GMR_CHECK(a->n == 0 || a->r[0].t % 24 == 0, GMR_ERR_DATA, "%s:%ld: %sa series must start at hour 1 of a day", path,
              a->r[0].line, label);
    s->load = malloc((a->n + 1) * sizeof *s->load);
    s->temp = malloc((a->n + 1) * sizeof *s->temp);
    s->line = malloc((a->n + 1) * sizeof *s->line);
    if (with_hol) s->hol = malloc(a->n + 1);
    GMR_CHECK(s->load && s->temp && s->line && (s->hol || !with_hol), GMR_ERR_NOMEM, "out of memory for %zu hours", a->n);
    for (size_t i = 0; i < a->n; i++) {
        if (s->hol) s->hol[i] = (unsigned char)a->r[i].hol;
        s->load[i] = a->r[i].load;
        s->temp[i] = a->r[i].temp;
        s->line[i] = a->r[i].line;
        s->nmissing_load += isnan(s->load[i]) != 0;
    }
    /* a short run of missing temperatures is interpolated between its neighbours */
    for (size_t i = 0; i < a->n; i++) {
        size_t j = i;
        if (!isnan(s->temp[i])) continue;
        while (j < a->n && isnan(s->temp[j])) j++;
        GMR_CHECK(i > 0 && j < a->n && j - i <= GMR_FC_MAX_TEMP_GAP, GMR_ERR_DATA,
                  "%s:%ld: %stemperature missing for %zu hour(s)%s (at most %d inside the series are interpolated)", path,
                  s->line[i], label, j - i, i == 0 || j == a->n ? " at an end of the series" : "", GMR_FC_MAX_TEMP_GAP);
        for (size_t k = i; k < j; k++)
            s->temp[k] = s->temp[i - 1] + (s->temp[j] - s->temp[i - 1]) * (double)(k - i + 1) / (double)(j - i + 1);
        s->ninterp_temp += j - i;
        i = j;
    }
out:
    return err;
}

gmr_err gmr__fc_read_csv(const char *path, const gmr__fc_columns *cols, gmr__fc_set *set)
{
    gmr_err err = GMR_OK;
    FILE *f = NULL;
    char *line = NULL, **fld = NULL;
    size_t lcap = 0;
    int fcap = 0, nf, cd, ch, cl, ct, cs = -1, chol = -1, need, last = -1;
    long lineno = 1;
    acc *a = NULL;
    int na = 0;
    memset(set, 0, sizeof *set);
    f = fopen(path, "r");
    GMR_CHECK(f, GMR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    GMR_CHECK(getline(&line, &lcap, f) > 0, GMR_ERR_DATA, "%s:1: empty file (a header line is expected)", path);
    nf = split(line, &fld, &fcap);
    GMR_CHECK(nf > 0, GMR_ERR_NOMEM, "out of memory");
    cd = find_col(fld, nf, cols->date);
    ch = find_col(fld, nf, cols->hour);
    cl = find_col(fld, nf, cols->load);
    ct = find_col(fld, nf, cols->temp);
    GMR_CHECK(cd >= 0, GMR_ERR_DATA, "%s:1: no date column '%s'", path, cols->date);
    GMR_CHECK(ch >= 0, GMR_ERR_DATA, "%s:1: no hour column '%s'", path, cols->hour);
    GMR_CHECK(cl >= 0, GMR_ERR_DATA, "%s:1: no load column '%s'", path, cols->load);
    GMR_CHECK(ct >= 0, GMR_ERR_DATA, "%s:1: no temperature column '%s'", path, cols->temp);
    if (cols->series) {
        cs = find_col(fld, nf, cols->series);
        GMR_CHECK(cs >= 0, GMR_ERR_DATA, "%s:1: no series column '%s'", path, cols->series);
    }
    if (cols->holiday) {
        chol = find_col(fld, nf, cols->holiday);
        GMR_CHECK(chol >= 0, GMR_ERR_DATA, "%s:1: no holiday column '%s'", path, cols->holiday);
    }
    need = cd > ch ? cd : ch;
    need = need > chol ? need : chol;
    need = need > cl ? need : cl;
    need = need > ct ? need : ct;
    need = need > cs ? need : cs;
    while (getline(&line, &lcap, f) > 0) {
        rec r;
        long day;
        char *end;
        long h;
        const char *sname;
        int k;
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        nf = split(line, &fld, &fcap);
        GMR_CHECK(nf > 0, GMR_ERR_NOMEM, "out of memory");
        GMR_CHECK(nf > need, GMR_ERR_DATA, "%s:%ld: %d fields, expected at least %d", path, lineno, nf, need + 1);
        GMR_CHECK(gmr__fc_parse_date(fld[cd], &day) == 0, GMR_ERR_DATA, "%s:%ld: date '%s' is not a date YYYY-MM-DD", path,
                  lineno, fld[cd]);
        errno = 0;
        h = strtol(fld[ch], &end, 10);
        GMR_CHECK(*fld[ch] && !*end && !errno && h >= 1 && h <= 24, GMR_ERR_DATA, "%s:%ld: hour '%s' is not 1 to 24", path,
                  lineno, fld[ch]);
        GMR_CHECK(cell(fld[cl], &r.load) >= 0, GMR_ERR_DATA, "%s:%ld: load '%s' is not a number", path, lineno, fld[cl]);
        GMR_CHECK(cell(fld[ct], &r.temp) >= 0, GMR_ERR_DATA, "%s:%ld: temperature '%s' is not a number", path, lineno,
                  fld[ct]);
        r.hol = 0;
        if (chol >= 0) {
            GMR_CHECK(strcmp(fld[chol], "0") == 0 || strcmp(fld[chol], "1") == 0, GMR_ERR_DATA,
                      "%s:%ld: holiday '%s' is not 0 or 1", path, lineno, fld[chol]);
            r.hol = fld[chol][0] == '1';
        }
        r.t = day * 24 + h - 1;
        r.line = lineno;
        sname = cs >= 0 ? fld[cs] : "";
        k = last >= 0 && strcmp(a[last].name, sname) == 0 ? last : -1;
        for (int i = 0; k < 0 && i < na; i++)
            if (strcmp(a[i].name, sname) == 0) k = i;
        if (k < 0) {
            acc *v = realloc(a, (size_t)(na + 1) * sizeof *v);
            GMR_CHECK(v, GMR_ERR_NOMEM, "out of memory");
            a = v;
            memset(&a[na], 0, sizeof a[na]);
            a[na].name = strdup(sname);
            GMR_CHECK(a[na].name, GMR_ERR_NOMEM, "out of memory");
            k = na++;
        }
        last = k;
        if (a[k].n == a[k].cap) {
            size_t nc = a[k].cap ? 2 * a[k].cap : 1024;
            rec *v = realloc(a[k].r, nc * sizeof *v);
            GMR_CHECK(v, GMR_ERR_NOMEM, "out of memory for %zu hours", nc);
            a[k].r = v;
            a[k].cap = nc;
        }
        a[k].r[a[k].n++] = r;
    }
    GMR_CHECK(!ferror(f), GMR_ERR_IO, "%s: read error: %s", path, strerror(errno));
    GMR_CHECK(na > 0, GMR_ERR_DATA, "%s: no data rows after the header", path);
    set->s = calloc((size_t)na, sizeof *set->s);
    GMR_CHECK(set->s, GMR_ERR_NOMEM, "out of memory");
    set->nseries = na;
    for (int i = 0; i < na; i++) GMR_CALL(finish_series(path, &a[i], chol >= 0, &set->s[i]));
out:
    if (err) gmr__fc_set_free(set);
    for (int i = 0; i < na; i++) {
        free(a[i].name);
        free(a[i].r);
    }
    free(a);
    free(fld);
    free(line);
    if (f) fclose(f);
    return err;
}

/* ---- the design ----------------------------------------------------------------------------- */

void gmr__fc_options_init(gmr__fc_options *o)
{
    memset(o, 0, sizeof *o);
    o->design = GMR_FC_RECENCY;
    o->temp_lags = GMR_FC_DEFAULT_TEMP_LAGS;
    o->temp_days = GMR_FC_DEFAULT_TEMP_DAYS;
    o->holidays = 1;
    o->nlambda = GMR_FC_DEFAULT_NLAMBDA;
    o->ratio = GMR_FC_DEFAULT_RATIO;
    o->tol = GMR_FC_DEFAULT_TOL;
    o->lambda = -1;
}

#define MAX_LOAD_LAGS 16
#define TEMP_BLOCK 105 /* 3 powers x (1 + 23 hours + 11 months) */
#define LOAD_BLOCK 24  /* 1 + 23 hours */

typedef struct design {
    const gmr__fc_series *s;
    const gmr__fc_options *o;
    int p, ntv, nll;
    int ll[MAX_LOAD_LAGS]; /* load lags in hours; ll[nll-1] < 0: the 24-hour mean ending at -ll */
    long history;          /* hours needed before a row */
    double tmu, tsd, lmu;  /* temperature mean and sd, mean load, on the training hours */
    double trend0;
} design;

/* The load lags a horizon H allows: H, H+1, H+2, the multiples of 24 from H up to a week, and
 * the mean of the 24 hours ending H hours back. */
static void load_lags(design *d, int H)
{
    d->nll = 0;
    if (H <= 0) return;
    for (int k = H; k < H + 3; k++) d->ll[d->nll++] = k;
    for (int k = 24; k <= 168; k += 24)
        if (k >= H + 3) d->ll[d->nll++] = k;
    d->ll[d->nll++] = -H;
}

static gmr_err design_init(design *d, const gmr__fc_series *s, const gmr__fc_options *o, size_t tr0, size_t tr1)
{
    gmr_err err = GMR_OK;
    double sum = 0, sum2 = 0, lsum = 0;
    size_t nl = 0;
    memset(d, 0, sizeof *d);
    d->s = s;
    d->o = o;
    d->ntv = o->design == GMR_FC_RECENCY ? 1 + o->temp_lags + o->temp_days : 1;
    load_lags(d, o->horizon);
    d->p = 1 + 11 + 167 + (o->design == GMR_FC_RECENCY && o->holidays ? 24 : 0) + TEMP_BLOCK * d->ntv + LOAD_BLOCK * d->nll;
    d->history = o->design == GMR_FC_RECENCY ? (o->temp_lags > 24L * o->temp_days ? o->temp_lags : 24L * o->temp_days) : 0;
    for (int k = 0; k < d->nll; k++) {
        long back = d->ll[k] > 0 ? d->ll[k] : -d->ll[k] + 23;
        if (back > d->history) d->history = back;
    }
    for (size_t i = tr0; i < tr1; i++) {
        sum += s->temp[i];
        sum2 += s->temp[i] * s->temp[i];
        if (!isnan(s->load[i])) lsum += s->load[i], nl++;
    }
    GMR_CHECK(tr1 > tr0 + 1, GMR_ERR_DATA, "too few training hours");
    d->tmu = sum / (double)(tr1 - tr0);
    d->tsd = sqrt(fmax(sum2 / (double)(tr1 - tr0) - d->tmu * d->tmu, 0));
    if (!(d->tsd > 1e-12)) d->tsd = 1;
    d->lmu = nl && lsum != 0 ? lsum / (double)nl : 1;
    d->trend0 = (double)tr0;
out:
    return err;
}

/* One row of the design for hour i of the series; -1 when a lag is unknown (before the start
 * or a missing load). */
static int design_row(const design *d, size_t i, double *x)
{
    const gmr__fc_series *s = d->s;
    long day = s->day0 + (long)(i / 24);
    int h = (int)(i % 24), m = month_of(day) - 1, wd = weekday(day), c = 0;
    if ((long)i < d->history) return -1;
    memset(x, 0, (size_t)d->p * sizeof *x);
    x[c++] = ((double)i - d->trend0) / 8766.0; /* trend in years */
    if (m > 0) x[c + m - 1] = 1;
    c += 11;
    if (wd * 24 + h > 0) x[c + wd * 24 + h - 1] = 1;
    c += 167;
    if (d->o->design == GMR_FC_RECENCY && d->o->holidays) {
        if (s->hol ? s->hol[i] : gmr__fc_us_holiday(day)) x[c + h] = 1;
        c += 24;
    }
    for (int v = 0; v < d->ntv; v++) {
        double t, u;
        if (v == 0) t = s->temp[i];
        else if (v <= d->o->temp_lags) t = s->temp[i - (size_t)v];
        else {
            int dd = v - d->o->temp_lags; /* the dd-th previous day's mean: hours i-24dd .. i-24dd+23 */
            t = 0;
            for (int k = 0; k < 24; k++) t += s->temp[i - (size_t)(24 * dd) + (size_t)k];
            t /= 24;
        }
        u = (t - d->tmu) / d->tsd;
        for (int pw = 0; pw < 3; pw++) {
            double up = pw == 0 ? u : pw == 1 ? u * u : u * u * u;
            x[c] = up;
            if (h > 0) x[c + 1 + h - 1] = up;
            if (m > 0) x[c + 24 + m - 1] = up;
            c += 35;
        }
    }
    for (int k = 0; k < d->nll; k++) {
        double l = 0;
        if (d->ll[k] > 0) {
            l = s->load[i - (size_t)d->ll[k]];
        } else {
            for (int q = 0; q < 24; q++) l += s->load[i - (size_t)(-d->ll[k]) - (size_t)q];
            l /= 24;
        }
        if (isnan(l)) return -1;
        l /= d->lmu;
        x[c] = l;
        if (h > 0) x[c + h] = l;
        c += LOAD_BLOCK;
    }
    return 0;
}

static double predict(const double *x, int p, double b0, const double *beta)
{
    double y = b0;
    for (int j = 0; j < p; j++) y += x[j] * beta[j];
    return y;
}

/* ---- metrics -------------------------------------------------------------------------------- */

void gmr__fc_metrics_compute(size_t n, const double *actual, const double *forecast, gmr__fc_metrics *m)
{
    double ape = 0, se = 0, sy = 0, syy = 0;
    size_t k = 0, kp = 0;
    for (size_t i = 0; i < n; i++) {
        double a = actual[i], f = forecast[i];
        if (isnan(a) || isnan(f)) continue;
        k++;
        se += (f - a) * (f - a);
        sy += a;
        syy += a * a;
        if (a != 0) ape += fabs((f - a) / a), kp++;
    }
    m->n = k;
    m->mape = kp ? 100 * ape / (double)kp : NAN;
    m->rmse = k ? sqrt(se / (double)k) : NAN;
    {
        double tss = k ? syy - sy * sy / (double)k : 0;
        m->r2 = tss > 0 ? 1 - se / tss : NAN;
    }
}

/* ---- one series on a province --------------------------------------------------------------- */

/* Hour index of a day in the series (may be out of range). */
static long hour_of(const gmr__fc_series *s, long day) { return (day - s->day0) * 24; }

typedef struct fitted {
    double *fc;  /* ntest forecasts (leader only meaningful; all ranks compute nothing else) */
    gmr__fc_series_result sr;
} fitted;

/* Build the rows of [i0, i1) that this rank owns (block prank of psize). */
static gmr_err build_block(const design *d, size_t i0, size_t i1, int prank, int psize, double **x, double **y,
                           size_t **idx, size_t *nrows, size_t *nskip)
{
    gmr_err err = GMR_OK;
    size_t n = i1 - i0, b0 = i0 + n * (size_t)prank / (size_t)psize, b1 = i0 + n * (size_t)(prank + 1) / (size_t)psize;
    size_t k = 0, p = (size_t)d->p;
    *x = malloc(((b1 - b0) * p + 1) * sizeof **x);
    *y = malloc((b1 - b0 + 1) * sizeof **y);
    *idx = malloc((b1 - b0 + 1) * sizeof **idx);
    GMR_CHECK(*x && *y && *idx, GMR_ERR_NOMEM, "out of memory for %zu design rows of %zu features", b1 - b0, p);
    *nskip = 0;
    for (size_t i = b0; i < b1; i++) {
        if (isnan(d->s->load[i]) || design_row(d, i, *x + k * p) != 0) {
            (*nskip)++;
            continue;
        }
        (*y)[k] = d->s->load[i];
        (*idx)[k] = i;
        k++;
    }
    *nrows = k;
out:
    return err;
}

static gmr_err fit_series(MPI_Comm pcomm, const gmr__fc_series *s, const gmr__fc_options *o, long ntest_hours,
                          fitted *out)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    int prank, psize;
    design d;
    double *x = NULL, *y = NULL, *row = NULL, *lam = NULL, *ape = NULL, *lam2 = NULL;
    gmr__xsum *xape = NULL;
    size_t *idx = NULL, nrows = 0, nskip = 0, nsub = 0;
    long tr0 = hour_of(s, o->train_from), tr1 = hour_of(s, o->train_to + 1), va0, te0 = hour_of(s, o->test_from);
    unsigned long long cnt[4], tot[4];
    gmr_lasso l = NULL;
    gmr_lasso_options lo;
    gmr_lasso_info info;
    gmr_lasso_fit fit;
    int kbest = 0, nl = 0;
    char d0[11], d1[11];
    const char *label = s->name[0] ? s->name : "(the series)";

    GMR_CALL_MPI(MPI_Comm_rank(pcomm, &prank));
    GMR_CALL_MPI(MPI_Comm_size(pcomm, &psize));
    gmr__fc_format_date(s->day0, d0);
    gmr__fc_format_date(s->day0 + (long)(s->n / 24) - 1, d1);
    GMR_CHECK(tr0 >= 0 && tr1 <= (long)s->n, GMR_ERR_DATA, "it covers %s to %s: not the whole training period", d0,
              d1);
    GMR_CHECK(te0 >= 0 && te0 + ntest_hours <= (long)s->n, GMR_ERR_DATA,
              "it covers %s to %s: not the whole test period", d0, d1);
    /* validation: the last year of the training period when it has two, else its last quarter */
    va0 = tr1 - tr0 >= 2 * 8760 ? tr1 - 365 * 24 : tr1 - ((tr1 - tr0) / 96) * 24;
    GMR_CALL(design_init(&d, s, o, (size_t)tr0, (size_t)tr1));
    GMR_CALL(gmr__agree(pcomm, build_block(&d, (size_t)tr0, (size_t)tr1, prank, psize, &x, &y, &idx, &nrows, &nskip)));
    while (nsub < nrows && idx[nsub] < (size_t)va0) nsub++;
    cnt[0] = nsub;
    cnt[1] = nrows - nsub;
    cnt[2] = nskip;
    cnt[3] = nrows;
    GMR_CALL_MPI(MPI_Allreduce(cnt, tot, 4, MPI_UNSIGNED_LONG_LONG, MPI_SUM, pcomm));
    GMR_CHECK(tot[3] > (unsigned long long)d.p, GMR_ERR_DATA,
              "%llu usable training hours for %d features (too short a training period or too many missing loads)",
              tot[3], d.p);
    out->sr.p = d.p;
    out->sr.val_mape = NAN;
    out->sr.ntrain = (size_t)tot[3];
    out->sr.nskipped = (size_t)tot[2];
    gmr_lasso_options_init(&lo);
    lo.standardize = 1;
    lo.tol = o->tol;
    if (o->lambda >= 0) {
        double lf = o->lambda * (double)tot[3];
        lo.lambdas = &lf;
        lo.nlambdas = 1;
        GMR_CALL(gmr_lasso_create(pcomm, &l));
        GMR_CALL(gmr_lasso_set_options(l, &lo));
    } else {
        gmr_lasso_rows rows = {.nrows = nsub, .p = d.p, .x = x, .ldx = (size_t)d.p, .y = y, .incy = 1};
        GMR_CHECK(tot[0] > (unsigned long long)d.p && tot[1] > 0, GMR_ERR_DATA,
                  "%llu usable hours before the validation period and %llu in it: too few", tot[0], tot[1]);
        lo.nlambda = o->nlambda;
        lo.lambda_min_ratio = o->ratio;
        GMR_CALL(gmr_lasso_create(pcomm, &l));
        GMR_CALL(gmr_lasso_set_options(l, &lo));
        GMR_CALL(gmr_lasso_set_data(l, &rows));
        GMR_CALL(gmr_lasso_solve(l));
        GMR_CALL(gmr_lasso_get_info(l, &info));
        nl = info.nlambda;
        gmr_log(GMR_LOG_INFO, "series %s: validation path of %d lambdas, %llu rows, %d features: statistics %.2f s, solve %.2f s",
                label, nl, tot[0], d.p, info.t_stats, info.t_solve);
        lam = malloc((size_t)nl * sizeof *lam);
        ape = calloc((size_t)nl, sizeof *ape);
        xape = calloc((size_t)nl, sizeof *xape);
        GMR_CALL(gmr__agree(pcomm, lam && ape && xape ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
        /* exact sums of the absolute percentage errors: the same whatever the rows' split; an
         * error too large for the accumulator (a diverged path) counts as infinite */
        for (int k = 0; k < nl; k++) {
            GMR_CALL(gmr_lasso_get_fit(l, k, &fit));
            lam[k] = fit.lambda;
            gmr__xsum_init(&xape[k]);
            for (size_t i = nsub; i < nrows; i++) {
                double f = predict(x + i * (size_t)d.p, d.p, fit.intercept, fit.beta);
                if (y[i] != 0 && gmr__xsum_add(&xape[k], fabs((f - y[i]) / y[i])) != 0) ape[k] = INFINITY;
            }
        }
        GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, ape, nl, MPI_DOUBLE, MPI_MAX, pcomm));
        GMR_CALL(gmr__xsum_allreduce(pcomm, xape, xape, nl));
        for (int k = 0; k < nl; k++) ape[k] = isinf(ape[k]) ? INFINITY : gmr__xsum_round(&xape[k]);
        for (int k = 1; k < nl; k++)
            if (ape[k] < ape[kbest]) kbest = k;
        out->sr.val_mape = 100 * ape[kbest] / (double)tot[1];
        gmr_lasso_destroy(&l);
        /* refit on the whole training period along the same path, scaled to its row count */
        lam2 = malloc((size_t)(kbest + 1) * sizeof *lam2);
        GMR_CHECK(lam2, GMR_ERR_NOMEM, "out of memory");
        for (int k = 0; k <= kbest; k++) lam2[k] = lam[k] * (double)tot[3] / (double)tot[0];
        lo.lambdas = lam2;
        lo.nlambdas = kbest + 1;
        GMR_CALL(gmr_lasso_create(pcomm, &l));
        GMR_CALL(gmr_lasso_set_options(l, &lo));
    }
    {
        gmr_lasso_rows rows = {.nrows = nrows, .p = d.p, .x = x, .ldx = (size_t)d.p, .y = y, .incy = 1};
        GMR_CALL(gmr_lasso_set_data(l, &rows));
    }
    GMR_CALL(gmr_lasso_solve(l));
    GMR_CALL(gmr_lasso_get_info(l, &info));
    GMR_CALL(gmr_lasso_get_fit(l, info.nlambda - 1, &fit));
    gmr_log(GMR_LOG_INFO, "series %s: refit on %llu rows, %d lambdas: statistics %.2f s, solve %.2f s", label, tot[3],
            info.nlambda, info.t_stats, info.t_solve);
    out->sr.lambda = fit.lambda;
    out->sr.nonzero = fit.nonzero;
    out->sr.train_mse = fit.rmse * fit.rmse;
    free(x);
    x = NULL;
    /* the test forecasts: cheap (ntest x p), made by the province's leader */
    if (prank == 0) {
        row = malloc((size_t)d.p * sizeof *row);
        out->fc = malloc(((size_t)ntest_hours + 1) * sizeof *out->fc);
        if (!row || !out->fc) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory for %ld forecasts", ntest_hours);
        for (long i = 0; !local && i < ntest_hours; i++)
            out->fc[i] = design_row(&d, (size_t)(te0 + i), row) == 0 ? predict(row, d.p, fit.intercept, fit.beta) : NAN;
    }
    GMR_CALL(gmr__agree(pcomm, local));
out:
    gmr_lasso_destroy(&l);
    free(x);
    free(y);
    free(idx);
    free(row);
    free(lam);
    free(lam2);
    free(ape);
    free(xape);
    return err;
}

/* ---- the job ---------------------------------------------------------------------------------- */

void gmr__fc_result_free(gmr__fc_result *r)
{
    if (!r) return;
    if (r->names)
        for (int i = 0; i < r->nseries; i++) free(r->names[i]);
    free(r->names);
    free(r->actual);
    free(r->forecast);
    free(r->naive);
    free(r->total_actual);
    free(r->total_forecast);
    free(r->total_naive);
    free(r->sr);
    free(r->direct_forecast);
    free(r->recon_forecast);
    memset(r, 0, sizeof *r);
}

/* The total as a series of its own, over the hours every series covers: the load is the sum
 * (missing when one is), the temperature the mean, the holidays those of the first series. */
static gmr_err total_series(const gmr__fc_set *set, gmr__fc_series *t)
{
    gmr_err err = GMR_OK;
    long d0 = set->s[0].day0, d1 = set->s[0].day0 + (long)(set->s[0].n / 24);
    memset(t, 0, sizeof *t);
    for (int i = 1; i < set->nseries; i++) {
        long a = set->s[i].day0, b = a + (long)(set->s[i].n / 24);
        d0 = a > d0 ? a : d0;
        d1 = b < d1 ? b : d1;
    }
    t->name = strdup("total");
    t->day0 = d0;
    t->n = d1 > d0 ? (size_t)(d1 - d0) * 24 : 0;
    t->load = malloc((t->n + 1) * sizeof *t->load);
    t->temp = malloc((t->n + 1) * sizeof *t->temp);
    if (set->s[0].hol) t->hol = malloc(t->n + 1);
    GMR_CHECK(t->name && t->load && t->temp && (t->hol || !set->s[0].hol), GMR_ERR_NOMEM, "out of memory for the total");
    for (size_t k = 0; k < t->n; k++) {
        double l = 0, tc = 0;
        for (int i = 0; i < set->nseries; i++) {
            size_t h = (size_t)(d0 - set->s[i].day0) * 24 + k;
            l += set->s[i].load[h];
            tc += set->s[i].temp[h];
        }
        t->load[k] = l;
        t->temp[k] = tc / set->nseries;
        if (t->hol) t->hol[k] = set->s[0].hol[(size_t)(d0 - set->s[0].day0) * 24 + k];
        t->nmissing_load += isnan(l) != 0;
    }
out:
    return err;
}

gmr_err gmr__fc_run(MPI_Comm comm, const gmr__fc_set *set, const gmr__fc_options *o, gmr__fc_result *r)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__topo *topo = NULL;
    int rank, size, P, ns = set->nseries;
    size_t nt;
    fitted *fits = NULL;
    double t0;
    clock_t c0;
    gmr__fc_series tot;
    int nfit = ns + (o->reconcile && ns > 1);
    memset(&tot, 0, sizeof tot);
    memset(r, 0, sizeof *r);
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    GMR_CHECK(o->train_from <= o->train_to && o->test_from <= o->test_to, GMR_ERR_ARG, "empty training or test period");
    GMR_CHECK(o->test_from > o->train_to, GMR_ERR_ARG, "the test period must start after the training period");
    P = o->provinces > 0 ? o->provinces : (ns < size ? ns : size);
    GMR_CALL(gmr__topo_create(comm, P, &topo));
    nt = (size_t)(o->test_to - o->test_from + 1) * 24;
    r->nseries = ns;
    r->provinces = P;
    r->size = size;
    r->test_day0 = o->test_from;
    r->ntest = nt;
    r->names = calloc((size_t)ns, sizeof *r->names);
    r->sr = calloc((size_t)ns, sizeof *r->sr);
    fits = calloc((size_t)nfit, sizeof *fits);
    local = r->names && r->sr && fits ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    if (!local && nfit > ns) local = total_series(set, &tot);
    r->reconciled = nfit > ns;
    for (int i = 0; !local && i < ns; i++)
        if (!(r->names[i] = strdup(set->s[i].name))) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(comm, local));
    t0 = MPI_Wtime();
    c0 = clock();
    /* each province fits its series in turn; an error stops the province (agreed inside it by
     * the LASSO and fit_series), then the whole job agrees */
    for (int i = topo->province; !local && i < nfit; i += P) {
        const gmr__fc_series *si = i < ns ? &set->s[i] : &tot;
        local = fit_series(topo->prov, si, o, (long)nt, &fits[i]);
        if (local && si->name[0]) gmr__err_context("series '%s'", si->name);
        else if (local) gmr__err_context("the series");
    }
    /* before the agreement, where a rank that finished first would spin in the collective */
    r->t_fit = MPI_Wtime() - t0;
    r->cpu_max = r->cpu_sum = (double)(clock() - c0) / CLOCKS_PER_SEC;
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, &r->t_fit, 1, MPI_DOUBLE, MPI_MAX, comm));
    GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, &r->cpu_max, 1, MPI_DOUBLE, MPI_MAX, comm));
    GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, &r->cpu_sum, 1, MPI_DOUBLE, MPI_SUM, comm));
    /* HQ collects every series' forecasts and figures from its province's leader */
    if (rank == 0) {
        r->actual = malloc(((size_t)ns * nt + 1) * sizeof(double));
        r->forecast = malloc(((size_t)ns * nt + 1) * sizeof(double));
        r->naive = malloc(((size_t)ns * nt + 1) * sizeof(double));
        r->total_actual = calloc(nt + 1, sizeof(double));
        r->total_forecast = calloc(nt + 1, sizeof(double));
        r->total_naive = calloc(nt + 1, sizeof(double));
        if (nfit > ns) {
            r->direct_forecast = malloc((nt + 1) * sizeof(double));
            r->recon_forecast = malloc((nt + 1) * sizeof(double));
        }
        local = r->actual && r->forecast && r->naive && r->total_actual && r->total_forecast && r->total_naive &&
                        (nfit == ns || (r->direct_forecast && r->recon_forecast))
                    ? GMR_OK
                    : GMR_ERROR(GMR_ERR_NOMEM, "out of memory for %d x %zu forecasts", ns, nt);
    }
    GMR_CALL(gmr__agree(comm, local));
    for (int i = 0; i < nfit; i++) {
        int leader = 0;
        while (gmr__topo_province_of(leader, size, P) != i % P) leader++;
        if (rank == leader && rank != 0) {
            GMR_CALL_MPI(MPI_Send(fits[i].fc, (int)nt, MPI_DOUBLE, 0, i, topo->world));
            GMR_CALL_MPI(MPI_Send(&fits[i].sr, (int)sizeof fits[i].sr, MPI_BYTE, 0, i, topo->world));
        } else if (rank == 0) {
            double *fc = i < ns ? r->forecast + (size_t)i * nt : r->direct_forecast;
            gmr__fc_series_result *sr = i < ns ? &r->sr[i] : &r->direct_sr;
            if (leader == 0) {
                memcpy(fc, fits[i].fc, nt * sizeof *fc);
                *sr = fits[i].sr;
            } else {
                GMR_CALL_MPI(MPI_Recv(fc, (int)nt, MPI_DOUBLE, leader, i, topo->world, MPI_STATUS_IGNORE));
                GMR_CALL_MPI(MPI_Recv(sr, (int)sizeof *sr, MPI_BYTE, leader, i, topo->world, MPI_STATUS_IGNORE));
            }
        }
    }
    if (rank == 0) {
        for (int i = 0; i < ns; i++) {
            const gmr__fc_series *s = &set->s[i];
            long te0 = hour_of(s, o->test_from);
            double *a = r->actual + (size_t)i * nt, *f = r->forecast + (size_t)i * nt, *nv = r->naive + (size_t)i * nt;
            for (size_t k = 0; k < nt; k++) {
                long h = te0 + (long)k;
                a[k] = s->load[h];
                nv[k] = h >= 168 ? s->load[h - 168] : NAN; /* same hour last week */
                r->total_actual[k] += a[k];
                r->total_forecast[k] += f[k];
                r->total_naive[k] += nv[k];
            }
            gmr__fc_metrics_compute(nt, a, f, &r->sr[i].fc);
            gmr__fc_metrics_compute(nt, a, nv, &r->sr[i].naive);
        }
        gmr__fc_metrics_compute(nt, r->total_actual, r->total_forecast, &r->total);
        gmr__fc_metrics_compute(nt, r->total_actual, r->total_naive, &r->total_naive_m);
        if (r->reconciled) {
            /* WLS reconciliation of the two-level hierarchy (total = sum of the series) with
             * W = diag of the in-sample residual variances: the incoherence e = direct -
             * bottom-up goes to each node in proportion to its variance, so the total moves
             * from the bottom-up sum towards the direct forecast by sum var_i / (var_T +
             * sum var_i) of e */
            double vb = 0;
            for (int i = 0; i < ns; i++) vb += r->sr[i].train_mse;
            r->recon_weight = vb + r->direct_sr.train_mse > 0 ? vb / (vb + r->direct_sr.train_mse) : 0.5;
            for (size_t k = 0; k < nt; k++)
                r->recon_forecast[k] =
                    r->total_forecast[k] + r->recon_weight * (r->direct_forecast[k] - r->total_forecast[k]);
            gmr__fc_metrics_compute(nt, r->total_actual, r->direct_forecast, &r->direct);
            gmr__fc_metrics_compute(nt, r->total_actual, r->recon_forecast, &r->recon);
        }
    }
out:
    if (fits)
        for (int i = 0; i < nfit; i++) free(fits[i].fc);
    free(fits);
    free(tot.name);
    free(tot.load);
    free(tot.temp);
    free(tot.hol);
    gmr__topo_destroy(&topo);
    return err;
}

/* ---- FC.h5 -------------------------------------------------------------------------------------- */

static gmr_err put_attr_d(hid_t obj, const char *name, double v)
{
    gmr_err err = GMR_OK;
    hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    GMR_H5_ID(sp, H5Screate(H5S_SCALAR));
    GMR_H5_ID(a, H5Acreate2(obj, name, H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT));
    GMR_CALL_H5(H5Awrite(a, H5T_NATIVE_DOUBLE, &v));
out:
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return err;
}

static gmr_err put_vec(hid_t g, const char *name, hid_t type, size_t n, const void *v)
{
    gmr_err err = GMR_OK;
    hsize_t dim = n;
    hid_t sp = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    GMR_H5_ID(sp, H5Screate_simple(1, &dim, NULL));
    GMR_H5_ID(ds, H5Dcreate2(g, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (n) GMR_CALL_H5(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
out:
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    return err;
}

static gmr_err put_metrics(hid_t g, const char *prefix, const gmr__fc_metrics *m)
{
    gmr_err err = GMR_OK;
    char n[64];
    snprintf(n, sizeof n, "%smape", prefix);
    GMR_CALL(put_attr_d(g, n, m->mape));
    snprintf(n, sizeof n, "%srmse", prefix);
    GMR_CALL(put_attr_d(g, n, m->rmse));
    snprintf(n, sizeof n, "%sr2", prefix);
    GMR_CALL(put_attr_d(g, n, m->r2));
    snprintf(n, sizeof n, "%sn", prefix);
    GMR_CALL(put_attr_d(g, n, (double)m->n));
out:
    return err;
}

static gmr_err put_group(hid_t f, const char *name, const char *label, size_t nt, const double *a, const double *fc,
                         const double *nv, const gmr__fc_metrics *m, const gmr__fc_metrics *mn,
                         const gmr__fc_series_result *sr)
{
    gmr_err err = GMR_OK;
    hid_t g = H5I_INVALID_HID;
    double *e = malloc((nt + 1) * sizeof *e);
    GMR_CHECK(e, GMR_ERR_NOMEM, "out of memory");
    GMR_H5_ID(g, H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_CALL(gmr__h5_attr_put_str(g, "series", label));
    GMR_CALL(put_vec(g, "actual", H5T_NATIVE_DOUBLE, nt, a));
    GMR_CALL(put_vec(g, "forecast", H5T_NATIVE_DOUBLE, nt, fc));
    GMR_CALL(put_vec(g, "naive", H5T_NATIVE_DOUBLE, nt, nv));
    for (size_t k = 0; k < nt; k++) e[k] = fc[k] - a[k];
    GMR_CALL(put_vec(g, "error", H5T_NATIVE_DOUBLE, nt, e));
    GMR_CALL(put_metrics(g, "", m));
    GMR_CALL(put_metrics(g, "naive_", mn));
    if (sr) {
        GMR_CALL(put_attr_d(g, "lambda", sr->lambda));
        GMR_CALL(put_attr_d(g, "validation_mape", sr->val_mape));
        GMR_CALL(put_attr_d(g, "features", sr->p));
        GMR_CALL(put_attr_d(g, "nonzero", sr->nonzero));
        GMR_CALL(put_attr_d(g, "train_hours", (double)sr->ntrain));
        GMR_CALL(put_attr_d(g, "skipped_hours", (double)sr->nskipped));
    }
out:
    if (g >= 0) H5Gclose(g);
    free(e);
    return err;
}

gmr_err gmr__fc_write_h5(const char *path, const gmr__fc_result *r, int nattr, const char *const *attr_names,
                         const char *const *attr_values)
{
    gmr_err err = GMR_OK;
    hid_t f = H5I_INVALID_HID;
    int *date = NULL, *hour = NULL;
    size_t nt = r->ntest;
    date = malloc((nt + 1) * sizeof *date);
    hour = malloc((nt + 1) * sizeof *hour);
    GMR_CHECK(date && hour, GMR_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < nt; k++) {
        int64_t y;
        unsigned m, d;
        gmr__civil_from_days(r->test_day0 + (long)(k / 24), &y, &m, &d);
        date[k] = (int)(y * 10000 + m * 100 + d);
        hour[k] = (int)(k % 24) + 1;
    }
    GMR_CALL(gmr__h5_create_serial(path, "forecast", NULL, &f));
    for (int i = 0; i < nattr; i++) GMR_CALL(gmr__h5_attr_put_str(f, attr_names[i], attr_values[i]));
    GMR_CALL(put_attr_d(f, "nseries", r->nseries));
    GMR_CALL(put_vec(f, "date", H5T_NATIVE_INT, nt, date));
    GMR_CALL(put_vec(f, "hour", H5T_NATIVE_INT, nt, hour));
    GMR_CALL(put_group(f, "total", "total", nt, r->total_actual, r->total_forecast, r->total_naive, &r->total,
                       &r->total_naive_m, r->nseries == 1 ? &r->sr[0] : NULL));
    if (r->reconciled) {
        GMR_CALL(put_group(f, "total_direct", "total (direct model)", nt, r->total_actual, r->direct_forecast,
                           r->total_naive, &r->direct, &r->total_naive_m, &r->direct_sr));
        GMR_CALL(put_group(f, "total_reconciled", "total (reconciled)", nt, r->total_actual, r->recon_forecast,
                           r->total_naive, &r->recon, &r->total_naive_m, NULL));
        GMR_CALL(put_attr_d(f, "reconcile_weight", r->recon_weight));
    }
    {
        hid_t g = H5I_INVALID_HID;
        GMR_H5_ID(g, H5Gcreate2(f, "series", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        for (int i = 0; i < r->nseries && !err; i++) {
            char name[32];
            snprintf(name, sizeof name, "%d", i);
            err = put_group(g, name, r->names[i], nt, r->actual + (size_t)i * nt, r->forecast + (size_t)i * nt,
                            r->naive + (size_t)i * nt, &r->sr[i].fc, &r->sr[i].naive, &r->sr[i]);
        }
        H5Gclose(g);
        if (err) goto out;
    }
out:
    if (f >= 0 && H5Fclose(f) < 0 && !err) err = GMR_ERROR(GMR_ERR_IO, "%s: cannot close the file", path);
    free(date);
    free(hour);
    return err;
}
