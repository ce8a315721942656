/* forecast.h: hourly load forecasting on top of the distributed LASSO (private to gridmr; the
 * front end is src/cli/forecast_cli.c, the method docs/forecast.md).
 *
 * Three parts: a reader of hourly series laid out like GEFCom2014-E (date, hour 1-24, load,
 * temperature, optionally a series column), the design matrix (trend, calendar, holidays,
 * temperature polynomials and their hour and month interactions, recency terms), and the job:
 * series spread over the provinces of the topology, each fitted by gmr_lasso on its province's
 * ranks with lambda chosen on the last year of the training period, HQ summing the bottom-up
 * total. */
#ifndef GMR_APPS_FORECAST_H
#define GMR_APPS_FORECAST_H

#include <mpi.h>
#include <stddef.h>

#include "gridmr/err.h"

/* ---- series ---------------------------------------------------------------------------------- */

typedef struct gmr__fc_series {
    char *name;          /* the series column's value ("" without --series) */
    long day0;           /* day of the first hour (days since 1970-01-01) */
    size_t n;            /* consecutive hours from day0 hour 1 */
    double *load;        /* NaN when the cell is empty */
    double *temp;        /* never NaN after reading (short gaps interpolated) */
    long *line;          /* the source line of each hour */
    unsigned char *hol;  /* holiday flags from the input's holiday column, or NULL */
    size_t nmissing_load;
    size_t ninterp_temp;
} gmr__fc_series;

typedef struct gmr__fc_set {
    int nseries;
    gmr__fc_series *s;
} gmr__fc_set;

typedef struct gmr__fc_columns {
    const char *date, *hour, *load, *temp, *series; /* names or 1-based numbers; series NULL: one */
    const char *holiday; /* a 0/1 column of holiday flags (NULL: the built-in US list) */
} gmr__fc_columns;

#define GMR_FC_MAX_TEMP_GAP 6 /* hours of missing temperature filled by linear interpolation */

/* Not collective, no MPI: reads the whole file (rows are few: 79k hours a series). Rows of a
 * series may come in any order; they are sorted by time, and must then be consecutive hours.
 * GMR_ERR_DATA with "FILE:LINE: what" for: a missing column, a bad date or hour, a number that
 * does not parse, a repeated hour, a gap, a temperature missing for more than
 * GMR_FC_MAX_TEMP_GAP hours. Empty load cells are kept as NaN (counted). */
gmr_err gmr__fc_read_csv(const char *path, const gmr__fc_columns *cols, gmr__fc_set *set);
void gmr__fc_set_free(gmr__fc_set *set);

/* "YYYY-MM-DD" -> days since 1970-01-01; -1 when it is not a valid date. */
int gmr__fc_parse_date(const char *s, long *day);
void gmr__fc_format_date(long day, char buf[11]);
/* 1 when day is a (observed) US holiday of the built-in list (docs/forecast.md). */
int gmr__fc_us_holiday(long day);

/* ---- the design matrix --------------------------------------------------------------------- */

typedef enum gmr__fc_design_kind {
    GMR_FC_VANILLA = 0, /* Hong's GEFCom benchmark: trend, month, weekday x hour, T^1..3 x (1, month, hour) */
    GMR_FC_RECENCY = 1  /* + holidays x hour, lagged temperatures, daily moving averages, load lags */
} gmr__fc_design_kind;

#define GMR_FC_DEFAULT_TEMP_LAGS 6    /* hourly temperature lags T(t-1..t-L) */
#define GMR_FC_DEFAULT_TEMP_DAYS 2    /* daily moving averages of the previous D days */
#define GMR_FC_DEFAULT_NLAMBDA 30     /* LASSO path length for the validation */
#define GMR_FC_DEFAULT_RATIO 1e-5     /* smallest / largest lambda of that path */
#define GMR_FC_DEFAULT_TOL 1e-7       /* relative duality gap */

typedef struct gmr__fc_options {
    gmr__fc_design_kind design;
    int temp_lags, temp_days; /* recency design only */
    int horizon;              /* 0: no load lags; H >= 1: loads lagged H hours or more */
    int holidays;             /* 1: US holidays x hour (recency design) */
    int nlambda;
    double ratio, tol;
    double lambda;            /* >= 0: fixed lambda (per training row: lambda x n), no validation;
                                 < 0 (default): chosen on the validation period */
    int provinces;            /* <= 0: min(series, ranks) */
    int reconcile;            /* 1: also fit the total directly and reconcile (many series) */
    long train_from, train_to, test_from, test_to; /* days, inclusive */
} gmr__fc_options;

void gmr__fc_options_init(gmr__fc_options *o);

/* ---- the job -------------------------------------------------------------------------------- */

typedef struct gmr__fc_metrics {
    double mape, rmse, r2; /* MAPE in percent over the hours with an actual load != 0 */
    size_t n;              /* hours scored (actual and forecast both known) */
} gmr__fc_metrics;

typedef struct gmr__fc_series_result {
    double lambda, val_mape;  /* chosen lambda (on the full training set) and its validation MAPE */
    int p, nonzero;
    size_t ntrain, nskipped;  /* training hours used, and skipped (missing load or lag) */
    double train_mse;         /* in-sample mean squared residual of the final fit */
    gmr__fc_metrics fc, naive;
} gmr__fc_series_result;

typedef struct gmr__fc_result {
    int nseries, provinces, size;
    char **names;
    long test_day0;
    size_t ntest;             /* hours of the test period */
    /* on rank 0 only: nseries x ntest, series-major; NaN where unknown */
    double *actual, *forecast, *naive;
    double *total_actual, *total_forecast, *total_naive; /* bottom-up sums (ntest) */
    gmr__fc_series_result *sr;
    gmr__fc_metrics total, total_naive_m;
    /* with reconcile (rank 0): the total fitted as a series of its own (its load the sum, its
     * temperature the mean of the series'), and the reconciled total (WLS, docs/forecast.md) */
    int reconciled;
    double *direct_forecast, *recon_forecast, recon_weight;
    gmr__fc_series_result direct_sr;
    gmr__fc_metrics direct, recon;
    double t_fit;             /* seconds, max over ranks */
    double cpu_max, cpu_sum;  /* CPU seconds of the fits: the largest of a rank, and the sum */
} gmr__fc_result;

/* Collective on comm. Every rank passes the same set (each read the file). Series s is fitted by
 * province s % P on that province's ranks (rows split in time blocks); rank 0 receives every
 * series' test forecasts and sums the total in series order. */
gmr_err gmr__fc_run(MPI_Comm comm, const gmr__fc_set *set, const gmr__fc_options *o, gmr__fc_result *r);
void gmr__fc_result_free(gmr__fc_result *r);

/* Not collective: metrics of n forecasts (NaN entries skipped). */
void gmr__fc_metrics_compute(size_t n, const double *actual, const double *forecast, gmr__fc_metrics *m);

/* Not collective: rank 0 writes FC.h5 (docs/formats.md). attrs: name=value pairs, n of them. */
gmr_err gmr__fc_write_h5(const char *path, const gmr__fc_result *r, int nattr, const char *const *attr_names,
                         const char *const *attr_values);

#endif
