/* forecast_cli.c: `gridmr forecast`, hourly load forecasts with the distributed LASSO
 * (src/apps/forecast.c, docs/forecast.md):
 *
 *   gridmr forecast --input FILE.csv --train FROM:TO --test FROM:TO [--horizon H]
 *                   [--series COL] --output FC.h5
 *
 * Every rank reads the CSV (a series is small), the series are fitted on the provinces' ranks,
 * rank 0 writes FC.h5, the optional CSV of forecasts, the PNG of the error distributions (the
 * paper's Figure 4 analogue, with gnuplot; skipped with a note when gnuplot is missing) and the
 * report, whose line `MAPE <percent>` is the test period's (the bottom-up total's with many
 * series). Exit statuses: 0 ok, 2 usage, 65 bad input data, 1 other errors. */
#define _XOPEN_SOURCE 700
#include "status.h"
#include "forecast_cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/forecast.h"
#include "gridmr/log.h"
#include "sched/sched.h"


typedef struct fc_opts {
    const char *input, *output, *csv, *plot, *train, *test;
    gmr__fc_columns cols;
    gmr__fc_options fo;
    int no_plot, quiet;
    char error[512];
} fc_opts;

void gmr__cli_forecast_usage(FILE *f)
{
    fprintf(f,
            "usage: gridmr forecast --input FILE.csv --train FROM:TO --test FROM:TO [options] --output FC.h5\n"
            "\n"
            "Hourly load forecasts from a LASSO over trend, calendar, holidays, temperature polynomials\n"
            "with their hour and month interactions, and recency terms (docs/forecast.md). The CSV is laid\n"
            "out like GEFCom2014-E (Date,Hour,load,T; Hour 1-24; dates YYYY-MM-DD), in any units. Lambda\n"
            "is chosen on the last year of the training period (its last quarter when shorter than two\n"
            "years), then the whole training period is refitted. Prints `MAPE <percent>` for the test period.\n"
            "\n"
            "  --train FROM:TO       training days, inclusive (YYYY-MM-DD:YYYY-MM-DD)\n"
            "  --test FROM:TO        test days, after the training period\n"
            "  --horizon H           0 (default): no load lags (temperatures are taken as known);\n"
            "                        H >= 1: loads lagged H hours and more are terms too (24: day ahead)\n"
            "  --series COL          a column naming the series: each is forecast on its own, in parallel\n"
            "                        over the provinces, and HQ sums the bottom-up total\n"
            "  --date-col COL        date column (default Date; names match case-insensitively, or a\n"
            "  --hour-col COL        1-based column number), hour column (default Hour),\n"
            "  --load-col COL        load column (default load), temperature column (default T)\n"
            "  --temp-col COL\n"
            "  --design D            recency (default) or vanilla (Hong's GEFCom benchmark terms only)\n"
            "  --temp-lags L         hourly temperature lags in the recency design (default %d)\n"
            "  --temp-days D         daily temperature means of the previous D days (default %d)\n"
            "  --no-holidays         no holiday x hour terms (default: US holidays, docs/forecast.md)\n"
            "  --holiday-col COL     holidays from a 0/1 column of the input instead (e.g. `holiday` of\n"
            "                        gridmr supply's forecasting table)\n"
            "  --lambda L            fixed lambda per training hour (0: least squares); no validation\n"
            "  --nlambda N           validation path length (default %d)\n"
            "  --lambda-min-ratio R  smallest / largest lambda of the path (default %g)\n"
            "  --tol T               LASSO relative duality gap (default %g)\n"
            "  --reconcile           with --series: also fit the total as a series of its own (sum of the\n"
            "                        loads, mean temperature) and report the WLS-reconciled total too\n"
            "  --provinces P         provinces (default: min(series, ranks))\n"
            "  --output FC.h5        forecasts, actuals, errors and metrics (required)\n"
            "  --csv FILE            the forecasts as CSV too (series,date,hour,actual,forecast,naive)\n"
            "  --plot FILE.png       the error distribution plot (default: FC.png beside FC.h5)\n"
            "  --no-plot             no plot\n"
            "  --quiet               print only the MAPE line\n"
            "exit status: 0 ok, 1 error, 2 usage, 65 bad input data\n",
            GMR_FC_DEFAULT_TEMP_LAGS, GMR_FC_DEFAULT_TEMP_DAYS, GMR_FC_DEFAULT_NLAMBDA, GMR_FC_DEFAULT_RATIO,
            GMR_FC_DEFAULT_TOL);
}

static int fail(fc_opts *o, const char *fmt, const char *a)
{
    snprintf(o->error, sizeof o->error, fmt, a);
    return 1;
}

static int parse_range(const char *v, long *from, long *to)
{
    char a[11], b[11];
    if (strlen(v) != 21 || v[10] != ':') return -1;
    memcpy(a, v, 10);
    a[10] = '\0';
    memcpy(b, v + 11, 10);
    b[10] = '\0';
    return gmr__fc_parse_date(a, from) || gmr__fc_parse_date(b, to) || *from > *to ? -1 : 0;
}

static int parse_int(const char *v, long lo, long hi, int *out)
{
    char *end;
    long n;
    errno = 0;
    n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) return -1;
    *out = (int)n;
    return 0;
}

static int parse_dbl(const char *v, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    return !*v || *end || errno || !isfinite(*out) ? -1 : 0;
}

static int parse_opts(int argc, char **argv, fc_opts *o)
{
    memset(o, 0, sizeof *o);
    gmr__fc_options_init(&o->fo);
    o->cols.date = "Date";
    o->cols.hour = "Hour";
    o->cols.load = "load";
    o->cols.temp = "T";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--no-plot") == 0) { o->no_plot = 1; continue; }
        if (strcmp(a, "--quiet") == 0) { o->quiet = 1; continue; }
        if (strcmp(a, "--no-holidays") == 0) { o->fo.holidays = 0; continue; }
        if (strcmp(a, "--reconcile") == 0) { o->fo.reconcile = 1; continue; }
        if (strncmp(a, "--", 2) != 0) return fail(o, "unexpected argument '%s'", a);
        if (i + 1 >= argc) return fail(o, "%s needs a value", a);
        v = argv[++i];
        if (strcmp(a, "--input") == 0) o->input = v;
        else if (strcmp(a, "--output") == 0) o->output = v;
        else if (strcmp(a, "--csv") == 0) o->csv = v;
        else if (strcmp(a, "--plot") == 0) o->plot = v;
        else if (strcmp(a, "--series") == 0) o->cols.series = v;
        else if (strcmp(a, "--date-col") == 0) o->cols.date = v;
        else if (strcmp(a, "--hour-col") == 0) o->cols.hour = v;
        else if (strcmp(a, "--load-col") == 0) o->cols.load = v;
        else if (strcmp(a, "--temp-col") == 0) o->cols.temp = v;
        else if (strcmp(a, "--holiday-col") == 0) o->cols.holiday = v;
        else if (strcmp(a, "--train") == 0) {
            o->train = v;
            if (parse_range(v, &o->fo.train_from, &o->fo.train_to)) return fail(o, "--train: '%s' is not FROM:TO (YYYY-MM-DD:YYYY-MM-DD, FROM <= TO)", v);
        } else if (strcmp(a, "--test") == 0) {
            o->test = v;
            if (parse_range(v, &o->fo.test_from, &o->fo.test_to)) return fail(o, "--test: '%s' is not FROM:TO (YYYY-MM-DD:YYYY-MM-DD, FROM <= TO)", v);
        } else if (strcmp(a, "--design") == 0) {
            if (strcmp(v, "vanilla") == 0) o->fo.design = GMR_FC_VANILLA;
            else if (strcmp(v, "recency") == 0) o->fo.design = GMR_FC_RECENCY;
            else return fail(o, "--design: '%s' is not recency or vanilla", v);
        } else if (strcmp(a, "--horizon") == 0) {
            if (parse_int(v, 0, 168, &o->fo.horizon)) return fail(o, "--horizon: '%s' is not 0 to 168 hours", v);
        } else if (strcmp(a, "--temp-lags") == 0) {
            if (parse_int(v, 0, 72, &o->fo.temp_lags)) return fail(o, "--temp-lags: '%s' is not 0 to 72", v);
        } else if (strcmp(a, "--temp-days") == 0) {
            if (parse_int(v, 0, 7, &o->fo.temp_days)) return fail(o, "--temp-days: '%s' is not 0 to 7", v);
        } else if (strcmp(a, "--nlambda") == 0) {
            if (parse_int(v, 1, 1000, &o->fo.nlambda)) return fail(o, "--nlambda: '%s' is not 1 to 1000", v);
        } else if (strcmp(a, "--provinces") == 0) {
            if (parse_int(v, 1, 1000000, &o->fo.provinces)) return fail(o, "--provinces: '%s' is not a positive number", v);
        } else if (strcmp(a, "--lambda") == 0) {
            if (parse_dbl(v, &o->fo.lambda) || o->fo.lambda < 0) return fail(o, "--lambda: '%s' is not a number >= 0", v);
        } else if (strcmp(a, "--lambda-min-ratio") == 0) {
            if (parse_dbl(v, &o->fo.ratio) || !(o->fo.ratio > 0 && o->fo.ratio < 1)) return fail(o, "--lambda-min-ratio: '%s' is not in (0, 1)", v);
        } else if (strcmp(a, "--tol") == 0) {
            if (parse_dbl(v, &o->fo.tol) || !(o->fo.tol > 0 && o->fo.tol < 1)) return fail(o, "--tol: '%s' is not in (0, 1)", v);
        } else {
            return fail(o, "unknown option '%s'", a);
        }
    }
    if (!o->input) return fail(o, "%s", "--input FILE.csv is required");
    if (!o->train) return fail(o, "%s", "--train FROM:TO is required");
    if (!o->test) return fail(o, "%s", "--test FROM:TO is required");
    if (!o->output) return fail(o, "%s", "--output FC.h5 is required");
    if (o->cols.holiday && !o->fo.holidays) return fail(o, "%s", "--holiday-col and --no-holidays contradict each other");
    if (o->fo.test_from <= o->fo.train_to) return fail(o, "--test %s must start after the training period", o->test);
    if (o->fo.test_to - o->fo.test_from > 366 * 50) return fail(o, "--test %s: more than 50 years", o->test);
    return 0;
}

static void report_error(int rank)
{
    /* errors are agreed, and a remote one carries its rank's reason: rank 0 tells */
    if (rank != 0) return;
    gmr__cli_report("forecast");
}

static const char *series_label(const gmr__fc_result *r, int i) { return r->names[i][0] ? r->names[i] : "series"; }

static int write_csv(const char *path, const gmr__fc_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "series,date,hour,actual,forecast,naive\n");
    for (int i = 0; i < r->nseries; i++)
        for (size_t k = 0; k < r->ntest; k++) {
            char d[11];
            size_t q = (size_t)i * r->ntest + k;
            gmr__fc_format_date(r->test_day0 + (long)(k / 24), d);
            fprintf(f, "%s,%s,%zu,%.10g,%.10g,%.10g\n", series_label(r, i), d, k % 24 + 1, r->actual[q], r->forecast[q],
                    r->naive[q]);
        }
    return fclose(f) == 0 ? 0 : -1;
}

/* The Figure 4 analogue: relative errors (forecast - actual) / actual of the total over the test
 * period, gridmr against the naive baseline, in time and as a histogram. Returns 0 when the PNG
 * was made, 1 when gnuplot is missing, -1 on failure. */
static int plot(const char *png, const gmr__fc_result *r)
{
    char dat[] = "/tmp/gridmr-forecast-XXXXXX";
    int fd = mkstemp(dat), rc = -1;
    FILE *f, *g;
    if (strpbrk(png, "'\n")) { /* it goes inside a quoted gnuplot string */
        if (fd >= 0) close(fd), unlink(dat);
        return -1;
    }
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        if (fd >= 0) close(fd), unlink(dat);
        return 1;
    }
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0) close(fd), unlink(dat);
        return -1;
    }
    for (size_t k = 0; k < r->ntest; k++) {
        double a = r->total_actual[k];
        fprintf(f, "%.6f %.8g %.8g\n", (double)k / 24.0, a != 0 ? (r->total_forecast[k] - a) / a : NAN,
                a != 0 ? (r->total_naive[k] - a) / a : NAN);
    }
    fclose(f);
    g = popen("gnuplot", "w");
    if (g) {
        fprintf(g,
                "set terminal pngcairo size 1100,800 noenhanced\nset output '%s'\nset datafile missing 'nan'\n"
                "set multiplot layout 2,1 title 'Relative forecast errors over the test period (%zu hours): gridmr %.2f%% "
                "MAPE, same hour last week %.2f%%'\n"
                "set xlabel 'day of the test period'\nset ylabel '(forecast - actual) / actual'\nset grid\n"
                "plot '%s' u 1:3 w l lc rgb '#d62728' t 'naive (same hour last week)', '' u 1:2 w l lc rgb '#1f77b4' t "
                "'gridmr LASSO'\n"
                "binw = 0.01\nbin(x) = binw * floor(x / binw + 0.5)\nset xlabel 'relative error'\nset ylabel 'share of "
                "hours'\nset xrange [-0.4:0.4]\nset style fill transparent solid 0.5\nn = %zu\n"
                "plot '%s' u (bin($3)):(1.0/n) smooth freq w boxes lc rgb '#d62728' t 'naive', '' u (bin($2)):(1.0/n) "
                "smooth freq w boxes lc rgb '#1f77b4' t 'gridmr'\nunset multiplot\n",
                png, r->ntest, r->total.mape, r->total_naive_m.mape, dat, r->ntest, dat);
        rc = pclose(g) == 0 ? 0 : -1;
    }
    unlink(dat);
    return rc;
}

static void print_report(const fc_opts *o, const gmr__fc_result *r, const gmr__fc_set *set)
{
    const char *dn = o->fo.design == GMR_FC_VANILLA ? "vanilla" : "recency";
    size_t miss = 0, interp = 0;
    for (int i = 0; i < set->nseries; i++) miss += set->s[i].nmissing_load, interp += set->s[i].ninterp_temp;
    printf("gridmr forecast: %s, %d series, train %s, test %s, horizon %d%s, design %s (%d features), %d ranks, %d "
           "provinces\n",
           o->input, r->nseries, o->train, o->test, o->fo.horizon,
           o->fo.horizon == 0 ? " (no load lags)" : "", dn, r->sr[0].p, r->size, r->provinces);
    if (miss || interp)
        printf("  input: %zu empty load cells (skipped in training, not scored), %zu temperatures interpolated\n", miss,
               interp);
    for (int i = 0; i < r->nseries; i++) {
        const gmr__fc_series_result *s = &r->sr[i];
        char val[64];
        if (o->fo.lambda >= 0)
            snprintf(val, sizeof val, "fixed by --lambda");
        else
            snprintf(val, sizeof val, "validation MAPE %.3f%%", s->val_mape);
        printf("  series %-12s lambda %.4g (%s), %d of %d non-zero, %zu training hours (%zu skipped): MAPE %.3f%% RMSE "
               "%.4g R^2 %.4f; naive MAPE %.3f%%\n",
               series_label(r, i), s->lambda, val, s->nonzero, s->p, s->ntrain, s->nskipped, s->fc.mape, s->fc.rmse,
               s->fc.r2, s->naive.mape);
    }
    if (r->nseries > 1)
        printf("  total (bottom-up sum of %d series): MAPE %.3f%% RMSE %.4g R^2 %.4f; naive MAPE %.3f%%\n", r->nseries,
               r->total.mape, r->total.rmse, r->total.r2, r->total_naive_m.mape);
    if (r->reconciled) {
        printf("  total (direct model of the sum, lambda %.4g, %d of %d non-zero): MAPE %.3f%% RMSE %.4g R^2 %.4f\n",
               r->direct_sr.lambda, r->direct_sr.nonzero, r->direct_sr.p, r->direct.mape, r->direct.rmse, r->direct.r2);
        printf("  total (reconciled, WLS: bottom-up + %.3f x (direct - bottom-up)): MAPE %.3f%% RMSE %.4g R^2 %.4f\n",
               r->recon_weight, r->recon.mape, r->recon.rmse, r->recon.r2);
        printf("reconciled MAPE %.4f\n", r->recon.mape);
    }
    printf("  fit time %.2f s (CPU: %.2f s on the busiest rank, %.2f s on all)\n", r->t_fit, r->cpu_max, r->cpu_sum);
    printf("test hours %zu\n", r->total.n);
    printf("RMSE %.6g\n", r->total.rmse);
    printf("R^2 %.6f\n", r->total.r2);
    printf("naive MAPE %.4f\n", r->total_naive_m.mape);
}

int gmr_cli_forecast(MPI_Comm comm, int argc, char **argv)
{
    fc_opts o;
    int rank = 0, size = 1;
    gmr_err err = GMR_OK;
    gmr__fc_set set;
    gmr__fc_result r;
    char pngbuf[4096];
    memset(&set, 0, sizeof set);
    memset(&r, 0, sizeof r);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank != 0) gmr_log_set_rank(rank);
    if (parse_opts(argc, argv, &o)) {
        if (rank == 0) {
            fprintf(stderr, "gridmr forecast: %s\n", o.error);
            fprintf(stderr, "run `gridmr forecast --help` for the options\n");
        }
        return EXIT_USAGE;
    }
    GMR_CALL(gmr__agree(comm, gmr__fc_read_csv(o.input, &o.cols, &set)));
    GMR_CALL(gmr__fc_run(comm, &set, &o.fo, &r));
    if (rank == 0) {
        const char *names[] = {"input", "train", "test", "design", "horizon"};
        char hz[16];
        const char *values[5];
        snprintf(hz, sizeof hz, "%d", o.fo.horizon);
        values[0] = o.input;
        values[1] = o.train;
        values[2] = o.test;
        values[3] = o.fo.design == GMR_FC_VANILLA ? "vanilla" : "recency";
        values[4] = hz;
        err = gmr__fc_write_h5(o.output, &r, 5, names, values);
        if (!err && o.csv && write_csv(o.csv, &r) != 0) err = GMR_ERROR(GMR_ERR_IO, "%s: cannot write the CSV", o.csv);
    }
    GMR_CALL(gmr__agree(comm, err));
    if (rank == 0) {
        const char *png = o.plot;
        int pr = 0;
        if (!png) {
            size_t n = strlen(o.output);
            snprintf(pngbuf, sizeof pngbuf, "%.*s.png", (int)(n > 3 && strcmp(o.output + n - 3, ".h5") == 0 ? n - 3 : n),
                     o.output);
            png = pngbuf;
        }
        if (!o.no_plot) pr = plot(png, &r);
        if (!o.quiet) {
            print_report(&o, &r, &set);
            if (!o.no_plot)
                printf("plot %s\n", pr == 0 ? png : pr == 1 ? "skipped (gnuplot not found)" : "failed (gnuplot error, or a quote in the path)");
            printf("output %s\n", o.output);
        }
        printf("MAPE %.4f\n", r.total.mape);
        fflush(stdout);
    }
out:
    if (err) report_error(rank);
    gmr__fc_result_free(&r);
    gmr__fc_set_free(&set);
    return gmr__cli_exit_status(err);
}
