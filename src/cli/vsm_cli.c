/* vsm_cli.c: `gridmr vsm`, batch voltage-stability margins and their LASSO surrogate
 * (include/gridmr/vsm.h, docs/pf.md). Collective on the job's communicator:
 *
 *   1. N operating points around the base case, their margins by CPF, spread over the ranks by
 *      HQ's on-demand scheduler (gmr_vsm_compute);
 *   2. the surrogate: the distributed LASSO fitted on the first --train share, scored on the rest
 *      (R^2, RMSE in MW); with --local K also the locally weighted model around point K;
 *   3. with --update R, the database update: candidate points drawn outside the training range
 *      (--new-level), their gamma_locRMSE against the surrogate (equation 1) over the database;
 *      those the surrogate does not cover get an exact CPF, join the database, the model is
 *      refitted; the error on separate out-of-range evaluation points is printed each round;
 *   4. every point with a margin written to --output (HDF5), the model to --model.
 * Rank 0 prints; errors are agreed and printed once. Exit: 0 ok, 2 usage, 65 bad case file, 1
 * other errors. A point that fails (islands, infeasible) is reported and the batch goes on. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "gridmr/log.h"
#include "gridmr/vsm.h"
#include "pf_cli.h"
#include "sched/sched.h"

/* an allocation every rank makes: a failure on one is agreed, so no rank waits in a collective */
#define AGREE_ALLOC(cond) GMR_CALL(gmr__agree(comm, (cond) ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")))

typedef struct vsm_opts {
    const char *cases, *output, *model;
    char model_buf[4096];
    int npoints, have_seed, quiet, no_surrogate, random, local, rounds, nnew, neval, update_max, nlambda;
    double train, bandwidth, threshold, min_support, new_lo, new_hi;
    gmr_vsm_options v;
    char error[256];
} vsm_opts;

void gmr__cli_vsm_usage(FILE *f)
{
    fprintf(f,
            "usage: gridmr vsm --case FILE --points N --seed S --output VSM.h5 [options]\n"
            "\n"
            "Voltage-stability margins of N operating points around a MATPOWER case, by continuation power\n"
            "flow, spread over the ranks by headquarters' on-demand scheduler; then the LASSO surrogate of the\n"
            "margin and, with --update, the database update driven by the local RMSE (docs/pf.md).\n"
            "\n"
            "operating points (a point depends only on the seed and its index):\n"
            "  --level LO,HI        system load level range (default %g,%g)\n"
            "  --spread S           each bus's load (P and Q) times uniform [1-S, 1+S] more (default %g)\n"
            "  --q-spread S         each bus's Q times [1-S, 1+S] more than its P (default %g)\n"
            "  --gen-spread S       each generator's P (the slack's aside) times [1-S, 1+S] (default %g)\n"
            "  --outage-rate R      probability of one branch out of service (default %g)\n"
            "  --scale F            CPF target: the point's loads and generation x F (default %g)\n"
            "  --qlim               enforce generator reactive limits (power flow and CPF)\n"
            "  --step S             first CPF step (default 0.1)\n"
            "surrogate:\n"
            "  --train FRAC         the first FRAC of the points train, the rest is held out (default 0.8)\n"
            "  --model MODEL.h5     the fitted model, a `gridmr lasso` model file (default VSM-model.h5)\n"
            "  --nlambda N          LASSO path searched for the lambda (default %d)\n"
            "  --local K            also fit the locally weighted model around point K (equation 2's W(Z0))\n"
            "  --bandwidth H        kernel bandwidth over (load_level, q_level) (default %g)\n"
            "  --no-surrogate       only the batch\n"
            "database update:\n"
            "  --update R           at most R rounds (default 0: none)\n"
            "  --new N              candidate points (default N/2), drawn with\n"
            "  --new-level LO,HI    their load level range (default: HI of --level to HI + (HI-LO))\n"
            "  --eval E             out-of-range evaluation points with exact margins (default N/4)\n"
            "  --threshold T        flag a candidate when its gamma_locRMSE / sqrt(support) exceeds T MW\n"
            "                       (default 2 x the held-out RMSE)\n"
            "  --min-support S      ... or when the database's kernel weight around it is below S (default 5)\n"
            "  --update-max K       at most K exact CPFs per round, the least covered (default: all flagged)\n"
            "  --update-random      the control experiment: K = --update-max candidates a round chosen at\n"
            "                       random instead of by gamma_locRMSE\n"
            "  --provinces P        HQ's topology (default round(sqrt(ranks)))\n"
            "  --quiet              print nothing but errors\n"
            "exit status: 0 ok, 1 error, 2 usage, 65 bad case file\n",
            1 - GMR_VSM_DEFAULT_LEVEL_SPREAD, 1 + GMR_VSM_DEFAULT_LEVEL_SPREAD, GMR_VSM_DEFAULT_LOAD_SPREAD,
            GMR_VSM_DEFAULT_Q_SPREAD, GMR_VSM_DEFAULT_GEN_SPREAD, GMR_VSM_DEFAULT_OUTAGE_RATE, GMR_VSM_DEFAULT_SCALE, GMR_VSM_DEFAULT_NLAMBDA,
            GMR_VSM_DEFAULT_BANDWIDTH);
}

static int num(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end == s || *end || errno == ERANGE || !isfinite(*v) ? -1 : 0;
}

static int pair(const char *s, double *a, double *b)
{
    char buf[128], *c;
    snprintf(buf, sizeof buf, "%s", s);
    c = strchr(buf, ',');
    if (!c) return -1;
    *c = 0;
    return num(buf, a) || num(c + 1, b) || !(*a > 0 && *b >= *a) ? -1 : 0;
}

static int parse(int argc, char **argv, vsm_opts *o)
{
    memset(o, 0, sizeof *o);
    gmr_vsm_options_init(&o->v);
    o->train = 0.8;
    o->bandwidth = GMR_VSM_DEFAULT_BANDWIDTH;
    o->min_support = 5;
    o->local = -1;
    o->nnew = o->neval = -1;
    o->nlambda = GMR_VSM_DEFAULT_NLAMBDA;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *s;
        double v;
        if (strcmp(a, "--qlim") == 0) { o->v.cpf.qlim = 1; continue; }
        if (strcmp(a, "--quiet") == 0) { o->quiet = 1; continue; }
        if (strcmp(a, "--no-surrogate") == 0) { o->no_surrogate = 1; continue; }
        if (strcmp(a, "--update-random") == 0) { o->random = 1; continue; }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            snprintf(o->error, sizeof o->error, "%s '%s'", strncmp(a, "--", 2) ? "unexpected argument" : "missing value after", a);
            return 1;
        }
        s = argv[++i];
        if (strcmp(a, "--case") == 0) { o->cases = s; continue; }
        if (strcmp(a, "--output") == 0) { o->output = s; continue; }
        if (strcmp(a, "--model") == 0) { o->model = s; continue; }
        if (strcmp(a, "--level") == 0 || strcmp(a, "--new-level") == 0) {
            double lo, hi;
            if (pair(s, &lo, &hi)) {
                snprintf(o->error, sizeof o->error, "%s: '%s' is not LO,HI with 0 < LO <= HI", a, s);
                return 1;
            }
            if (a[2] == 'l') { o->v.level_lo = lo; o->v.level_hi = hi; }
            else { o->new_lo = lo; o->new_hi = hi; }
            continue;
        }
        if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            o->v.seed = strtoull(s, &end, 10);
            if (*end || end == s || errno || s[0] == '-') {
                snprintf(o->error, sizeof o->error, "--seed: '%s' is not a non-negative integer", s);
                return 1;
            }
            o->have_seed = 1;
            continue;
        }
        if (num(s, &v)) {
            snprintf(o->error, sizeof o->error, "%s: '%s' is not a number", a, s);
            return 1;
        }
#define INTOPT(name, field, lo, hi)                                                                       \
    if (strcmp(a, name) == 0) {                                                                           \
        if (v != floor(v) || v < (lo) || v > (hi)) {                                                      \
            snprintf(o->error, sizeof o->error, "%s: '%s' is not an integer in [%g, %g]", a, s, (double)(lo), (double)(hi)); \
            return 1;                                                                                     \
        }                                                                                                 \
        field = (int)v;                                                                                   \
        continue;                                                                                         \
    }
#define DBLOPT(name, field, cond)                                                                         \
    if (strcmp(a, name) == 0) {                                                                           \
        if (!(cond)) {                                                                                    \
            snprintf(o->error, sizeof o->error, "%s: %s is out of range", a, s);                          \
            return 1;                                                                                     \
        }                                                                                                 \
        field = v;                                                                                        \
        continue;                                                                                         \
    }
        INTOPT("--points", o->npoints, 1, 10000000)
        INTOPT("--local", o->local, 0, 10000000)
        INTOPT("--update", o->rounds, 0, 100)
        INTOPT("--new", o->nnew, 0, 10000000)
        INTOPT("--eval", o->neval, 0, 10000000)
        INTOPT("--update-max", o->update_max, 1, 10000000)
        INTOPT("--nlambda", o->nlambda, 2, 1000)
        INTOPT("--provinces", o->v.provinces, 1, 1000000)
        DBLOPT("--spread", o->v.load_spread, v >= 0 && v < 1)
        DBLOPT("--gen-spread", o->v.gen_spread, v >= 0 && v < 1)
        DBLOPT("--q-spread", o->v.q_spread, v >= 0 && v < 1)
        DBLOPT("--outage-rate", o->v.outage_rate, v >= 0 && v <= 1)
        DBLOPT("--scale", o->v.scale, v > 1 && v <= 100)
        DBLOPT("--step", o->v.cpf.step, v > 0 && v <= 10)
        DBLOPT("--train", o->train, v > 0 && v < 1)
        DBLOPT("--bandwidth", o->bandwidth, v > 0)
        DBLOPT("--threshold", o->threshold, v > 0)
        DBLOPT("--min-support", o->min_support, v >= 0)
#undef INTOPT
#undef DBLOPT
        snprintf(o->error, sizeof o->error, "unknown option '%s'", a);
        return 1;
    }
    if (!o->cases || !o->npoints || !o->have_seed || !o->output) {
        snprintf(o->error, sizeof o->error, "--case FILE, --points N, --seed S and --output VSM.h5 are required");
        return 1;
    }
    if (o->v.cpf.step > o->v.cpf.step_max) o->v.cpf.step_max = o->v.cpf.step;
    if (!o->model) { /* VSM.h5 -> VSM-model.h5 */
        size_t len = strlen(o->output);
        if (len > 3 && strcmp(o->output + len - 3, ".h5") == 0) len -= 3;
        snprintf(o->model_buf, sizeof o->model_buf, "%.*s-model.h5", (int)len, o->output);
        o->model = o->model_buf;
    }
    if (o->local >= o->npoints) {
        snprintf(o->error, sizeof o->error, "--local %d: the points are numbered 0 to %d", o->local, o->npoints - 1);
        return 1;
    }
    if (o->new_hi == 0) {
        o->new_lo = o->v.level_hi;
        o->new_hi = o->v.level_hi + (o->v.level_hi - o->v.level_lo);
    }
    if (o->random && !o->update_max) {
        snprintf(o->error, sizeof o->error, "--update-random needs --update-max K (how many a round)");
        return 1;
    }
    if (o->nnew < 0) o->nnew = o->npoints / 2;
    if (o->neval < 0) o->neval = o->npoints / 4;
    return 0;
}

int gmr__cli_is_vsm_file(const char *path)
{
    gmr_vsm_points pts;
    int *set = NULL, yes;
    yes = gmr_vsm_read(path, &pts, &set) == GMR_OK;
    if (yes) gmr_vsm_points_free(&pts);
    else gmr_err_clear();
    free(set);
    return yes;
}

int gmr__cli_dump_vsm(const char *path, unsigned long long top)
{
    gmr_vsm_points pts;
    int *set = NULL;
    if (gmr_vsm_read(path, &pts, &set)) {
        const char *msg = gmr_err_message();
        fprintf(stderr, "gridmr dump: %.*s\n", (int)strcspn(msg, "\n"), msg);
        return 1;
    }
    printf("index\tset\tstatus\tmargin_mw\tlambda\tload_mw\tsteps\tmessage\n");
    for (int i = 0; i < pts.n && (unsigned long long)i < top; i++)
        printf("%llu\t%d\t%d\t%.17g\t%.17g\t%.17g\t%d\t%s\n", (unsigned long long)pts.index[i], set[i], pts.status[i],
               pts.margin_mw[i], pts.lambda[i], pts.load_mw[i], pts.steps[i], pts.message + (size_t)i * GMR_VSM_MESSAGE);
    gmr_vsm_points_free(&pts);
    free(set);
    return fflush(stdout) == 0 ? 0 : 1;
}

static void report(int rank)
{
    if (gmr_err_is_remote() || rank != 0) return;
    gmr__cli_report("vsm");
}

static uint64_t *range(uint64_t first, int n)
{
    uint64_t *v = malloc(((size_t)n + 1) * sizeof *v);
    for (int i = 0; v && i < n; i++) v[i] = first + (uint64_t)i;
    return v;
}

static void summary(const gmr_vsm_points *pts, int *failed, double *mean, double *lo, double *hi, double *steps)
{
    int ok = 0;
    *failed = 0;
    *mean = *steps = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < pts->n; i++) {
        if (pts->status[i] != GMR_VSM_OK) {
            (*failed)++;
            continue;
        }
        ok++;
        *mean += pts->margin_mw[i];
        *steps += pts->steps[i];
        *lo = fmin(*lo, pts->margin_mw[i]);
        *hi = fmax(*hi, pts->margin_mw[i]);
    }
    if (ok) {
        *mean /= ok;
        *steps /= ok;
    }
}

static void list_failed(const gmr_vsm_points *pts, const char *what)
{
    int shown = 0;
    for (int i = 0; i < pts->n; i++)
        if (pts->status[i] != GMR_VSM_OK && shown++ < 10)
            fprintf(stderr, "gridmr vsm: warning: %s point %llu failed: %s\n", what, (unsigned long long)pts->index[i],
                    pts->message + (size_t)i * GMR_VSM_MESSAGE);
}

int gmr__cli_vsm(MPI_Comm comm, int argc, char **argv)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    vsm_opts o;
    int rank = 0, size = 1, failed, ntrain;
    gmr_pf_case base = NULL;
    gmr_vsm_points db, cand, ev, add;
    gmr_vsm_surrogate sur, loc;
    uint64_t *idx = NULL;
    int *set = NULL, *mask = NULL, *flag = NULL, *done = NULL, *evmask = NULL;
    char **names = NULL;
    double mean, lo, hi, steps, *w = NULL, *gam = NULL, *sup = NULL, *score = NULL;
    const char *case_name;
    memset(&db, 0, sizeof db);
    memset(&cand, 0, sizeof cand);
    memset(&ev, 0, sizeof ev);
    memset(&add, 0, sizeof add);
    memset(&sur, 0, sizeof sur);
    memset(&loc, 0, sizeof loc);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank != 0) gmr_log_set_rank(rank);
    if (parse(argc, argv, &o)) {
        if (rank == 0) fprintf(stderr, "gridmr vsm: %s\nrun `gridmr vsm --help` for the options\n", o.error);
        return EXIT_USAGE;
    }
    case_name = strrchr(o.cases, '/') ? strrchr(o.cases, '/') + 1 : o.cases;
    /* every rank reads the (small) case; a bad file fails everywhere alike */
    local = gmr_pf_case_read(o.cases, &base);
    if (local && rank != 0) gmr_err_clear();
    GMR_CALL(gmr__agree(comm, local));
    if (rank != 0) gmr_err_clear();
    /* 1. the batch */
    idx = range(0, o.npoints);
    GMR_CALL(gmr__agree(comm, idx ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
    GMR_CALL(gmr_vsm_compute(comm, base, &o.v, idx, o.npoints, 1, &db));
    summary(&db, &failed, &mean, &lo, &hi, &steps);
    if (rank == 0) {
        list_failed(&db, "operating");
        if (!o.quiet) {
            printf("gridmr vsm: %s, %d points (%d failed), %d features, %d ranks\n", case_name, db.n, failed, db.p, size);
            printf("  margin     mean %.4f MW, min %.4f, max %.4f (target x %g, reactive limits %s)\n", mean, lo, hi,
                   o.v.scale, o.v.cpf.qlim ? "on" : "off");
            printf("  time       %.3f s, %.1f points/s, %.1f CPF steps per point; ranks busy %.1f%% of the batch\n",
                   db.seconds, db.n / db.seconds, steps, 100 * db.work_seconds / (size * db.seconds));
            printf("  cpu        %.3f s computing points, %.3f s on the busiest rank (%.2f ms per point)\n", db.cpu_seconds,
                   db.cpu_max_rank, 1e3 * db.cpu_seconds / db.n);
        }
    }
    set = calloc((size_t)o.npoints + 1, sizeof *set);
    mask = calloc((size_t)o.npoints + 1, sizeof *mask);
    names = calloc((size_t)db.p + 1, sizeof *names);
    GMR_CALL(gmr__agree(comm, set && mask && names ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
    for (int j = 0; j < db.p; j++) {
        char buf[64];
        GMR_CALL(gmr_vsm_feature_name(base, j, buf, sizeof buf));
        names[j] = strdup(buf);
        AGREE_ALLOC(names[j]);
    }
    ntrain = (int)(o.train * o.npoints);
    for (int i = 0; i < o.npoints; i++) set[i] = i < ntrain ? 0 : 1;
    if (!o.no_surrogate) {
        int usable = 0;
        for (int i = 0; i < ntrain; i++) usable += db.status[i] == GMR_VSM_OK;
        if (usable < 8) {
            if (rank == 0)
                fprintf(stderr, "gridmr vsm: warning: %d usable training points: the surrogate needs at least 8; skipped\n",
                        usable);
            o.no_surrogate = 1;
        }
    }
    if (!o.no_surrogate) {
        double r2, rmse, r2t, rmset;
        int nt, nh;
        /* 2. the surrogate */
        for (int i = 0; i < db.n; i++) mask[i] = set[i] == 0;
        GMR_CALL(gmr_vsm_fit(comm, &db, names, mask, NULL, o.nlambda, o.model, &sur));
        gmr_vsm_score(&sur, &db, mask, NULL, &r2t, &rmset, &nt);
        for (int i = 0; i < db.n; i++) mask[i] = set[i] == 1;
        gmr_vsm_score(&sur, &db, mask, NULL, &r2, &rmse, &nh);
        if (rank == 0 && !o.quiet) {
            printf("  surrogate  LASSO lambda %.6g, %d of %d features non-zero (validation RMSE %.4f MW)\n", sur.lambda,
                   sur.nonzero, db.p - 2, sur.val_rmse);
            printf("  training   %d points: R^2 %.6f, RMSE %.4f MW\n", nt, r2t, rmset);
            printf("  held-out   %d points: R^2 %.6f, RMSE %.4f MW\n", nh, r2, rmse);
        }
        if (o.threshold == 0) o.threshold = 2 * rmse;
        /* the locally weighted model around point K */
        if (o.local >= 0) {
            double z0[2], rl, el, rg, eg;
            const double *xk = db.x + (size_t)o.local * (size_t)db.p;
            w = malloc(((size_t)db.n + 1) * sizeof *w);
            AGREE_ALLOC(w);
            GMR_CHECK(db.status[o.local] == GMR_VSM_OK, GMR_ERR_DATA, "--local %d: that point failed: %s", o.local,
                      db.message + (size_t)o.local * GMR_VSM_MESSAGE);
            z0[0] = xk[db.p - 2];
            z0[1] = xk[db.p - 1];
            GMR_CALL(gmr_vsm_kernel(&db, z0, o.bandwidth, w));
            for (int i = 0; i < db.n; i++) mask[i] = set[i] == 0;
            GMR_CALL(gmr_vsm_fit(comm, &db, NULL, mask, w, o.nlambda, NULL, &loc));
            for (int i = 0; i < db.n; i++) mask[i] = set[i] == 1;
            gmr_vsm_score(&loc, &db, mask, w, &rl, &el, NULL);
            gmr_vsm_score(&sur, &db, mask, w, &rg, &eg, NULL);
            if (rank == 0 && !o.quiet)
                printf("  local      around point %d (load_level %.4f, q_level %.4f, bandwidth %g): held-out weighted "
                       "RMSE %.4f MW local, %.4f MW global\n",
                       o.local, z0[0], z0[1], o.bandwidth, el, eg);
        }
        /* 3. the database update */
        if (o.rounds > 0) {
            gmr_vsm_options on = o.v;
            int ncand_left;
            double r2e, rmse_e;
            on.level_lo = o.new_lo;
            on.level_hi = o.new_hi;
            free(idx);
            idx = range((uint64_t)o.npoints, o.nnew + o.neval);
            GMR_CALL(gmr__agree(comm, idx ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
            GMR_CALL(gmr_vsm_compute(comm, base, &on, idx, o.nnew, 0, &cand));
            GMR_CALL(gmr_vsm_compute(comm, base, &on, idx + o.nnew, o.neval, 1, &ev));
            evmask = malloc(((size_t)ev.n + 1) * sizeof *evmask);
            flag = calloc((size_t)cand.n + 1, sizeof *flag);
            done = calloc((size_t)cand.n + 1, sizeof *done);
            gam = malloc(((size_t)cand.n + 1) * sizeof *gam);
            score = malloc(((size_t)cand.n + 1) * sizeof *score);
            sup = malloc(((size_t)cand.n + 1) * sizeof *sup);
            AGREE_ALLOC(evmask && flag && done && gam && sup && score);
            for (int i = 0; i < ev.n; i++) evmask[i] = 1;
            for (int q = 0; q < cand.n; q++) done[q] = cand.status[q] != GMR_VSM_OK; /* no features: skipped */
            gmr_vsm_score(&sur, &ev, evmask, NULL, &r2e, &rmse_e, NULL);
            if (rank == 0 && !o.quiet)
                printf("  update 0   database %d points; evaluation %d points at load level %g-%g: R^2 %.6f, RMSE "
                       "%.4f MW\n",
                       sur.ntrain, ev.n, o.new_lo, o.new_hi, r2e, rmse_e);
            for (int round = 1; round <= o.rounds; round++) {
                int nflag = 0, nadd = 0, nleft = 0, *pick = NULL;
                uint64_t *fidx = NULL;
                for (int i = 0; i < db.n; i++) mask[i] = set[i] == 0 || set[i] == 2;
                GMR_CALL(gmr_vsm_gamma(comm, o.model, &db, mask, &cand, o.bandwidth, gam, sup));
                /* flagged: the local RMS of the residuals (eq. 1 over the local weight) above the
                 * threshold, or too little database weight nearby; with --update-max, the K least
                 * covered (largest score, ties by index) */
                for (int q = 0; q < cand.n; q++) {
                    double lrms = sup[q] > 0 ? gam[q] / sqrt(sup[q]) : INFINITY;
                    flag[q] = 0;
                    score[q] = -1;
                    if (done[q]) continue;
                    nleft++;
                    if (o.random) { /* the control: a pseudo-random order, whatever gamma says */
                        uint64_t h = (cand.index[q] + 1) * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)round * UINT64_C(0xBF58476D1CE4E5B9);
                        h ^= h >> 31;
                        h *= UINT64_C(0x94D049BB133111EB);
                        score[q] = (double)(h >> 11);
                        flag[q] = 1;
                        nflag++;
                    } else if (lrms > o.threshold || sup[q] < o.min_support) {
                        score[q] = fmax(lrms / o.threshold, sup[q] > 0 ? o.min_support / sup[q] : INFINITY);
                        flag[q] = 1;
                        nflag++;
                    }
                }
                while (o.update_max && nflag > o.update_max) { /* drop the best covered */
                    int drop = -1;
                    for (int q = 0; q < cand.n; q++)
                        if (flag[q] && (drop < 0 || score[q] <= score[drop])) drop = q;
                    flag[drop] = 0;
                    nflag--;
                }
                ncand_left = nleft;
                if (nflag == 0) {
                    if (rank == 0 && !o.quiet)
                        printf("  update %-3d %d candidates left, none flagged (threshold %.4f MW, min support %g): "
                               "done\n",
                               round, ncand_left, o.threshold, o.min_support);
                    break;
                }
                fidx = malloc((size_t)nflag * sizeof *fidx);
                pick = malloc((size_t)nflag * sizeof *pick);
                AGREE_ALLOC(fidx && pick);
                for (int q = 0, k = 0; q < cand.n; q++)
                    if (flag[q]) {
                        fidx[k++] = cand.index[q];
                        done[q] = 1;
                    }
                gmr_vsm_points_free(&add);
                err = gmr_vsm_compute(comm, base, &on, fidx, nflag, 1, &add);
                free(fidx);
                if (err) {
                    free(pick);
                    goto out;
                }
                for (int k = 0; k < add.n; k++)
                    if (add.status[k] == GMR_VSM_OK) pick[nadd++] = k;
                if (rank == 0) list_failed(&add, "candidate");
                {
                    int old = db.n, *s2, *m2;
                    local = gmr_vsm_points_append(&db, &add, pick, nadd);
                    free(pick);
                    GMR_CALL(gmr__agree(comm, local));
                    s2 = realloc(set, ((size_t)db.n + 1) * sizeof *set);
                    AGREE_ALLOC(s2);
                    set = s2;
                    m2 = realloc(mask, ((size_t)db.n + 1) * sizeof *mask);
                    AGREE_ALLOC(m2);
                    mask = m2;
                    for (int i = old; i < db.n; i++) set[i] = 2;
                }
                for (int i = 0; i < db.n; i++) mask[i] = set[i] == 0 || set[i] == 2;
                gmr_vsm_surrogate_free(&sur);
                GMR_CALL(gmr_vsm_fit(comm, &db, names, mask, NULL, o.nlambda, o.model, &sur));
                gmr_vsm_score(&sur, &ev, evmask, NULL, &r2e, &rmse_e, NULL);
                {
                    double r2h, rmseh;
                    for (int i = 0; i < db.n; i++) mask[i] = set[i] == 1;
                    gmr_vsm_score(&sur, &db, mask, NULL, &r2h, &rmseh, NULL);
                    if (rank == 0 && !o.quiet)
                        printf("  update %-3d %s %d of %d candidates, added %d; database %d points; evaluation R^2 "
                               "%.6f, RMSE %.4f MW; held-out R^2 %.6f, RMSE %.4f MW\n",
                               round, o.random ? "random" : "flagged", nflag, ncand_left, nadd, sur.ntrain, r2e, rmse_e, r2h, rmseh);
                }
            }
            /* the evaluation points go into the file too (set 3) */
            {
                int old = db.n, *s2, *all = malloc(((size_t)ev.n + 1) * sizeof *all);
                AGREE_ALLOC(all);
                for (int k = 0; k < ev.n; k++) all[k] = k;
                local = gmr_vsm_points_append(&db, &ev, all, ev.n);
                free(all);
                GMR_CALL(gmr__agree(comm, local));
                s2 = realloc(set, ((size_t)db.n + 1) * sizeof *set);
                AGREE_ALLOC(s2);
                set = s2;
                for (int i = old; i < db.n; i++) set[i] = 3;
            }
        }
    }
    /* 4. the file */
    GMR_CALL(gmr_vsm_write(comm, o.output, base, &o.v, &db, set, case_name));
    if (rank == 0 && !o.quiet) {
        printf("  output     %s (%d points)%s%s\n", o.output, db.n, o.no_surrogate ? "" : ", model ",
               o.no_surrogate ? "" : o.model);
    }
out:
    if (err) report(rank);
    if (names)
        for (int j = 0; j < db.p; j++) free(names[j]);
    free(names);
    free(idx);
    free(set);
    free(mask);
    free(flag);
    free(done);
    free(evmask);
    free(w);
    free(gam);
    free(sup);
    free(score);
    gmr_vsm_surrogate_free(&sur);
    gmr_vsm_surrogate_free(&loc);
    gmr_vsm_points_free(&db);
    gmr_vsm_points_free(&cand);
    gmr_vsm_points_free(&ev);
    gmr_vsm_points_free(&add);
    gmr_pf_case_destroy(&base);
    return gmr__cli_exit_status(err);
}
