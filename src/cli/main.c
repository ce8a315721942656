/* main.c: the `gridmr` command. Parses options, runs a built-in job on MPI_COMM_WORLD and
 * prints the summary on rank 0; `dump` and `gen --kind text|meter` run without MPI, `gen` of
 * the power data set and the commands of the `commands` table (lasso, sync, segment, forecast,
 * supply, pf/cpf/vsm: src/cli/<name>_cli.c) on MPI_COMM_WORLD. This is the only place that decides
 * exit statuses:
 * 0 ok, 1 error, 2 usage, 65 bad input under --strict (EX_DATAERR), 75 stopped by SIGTERM or
 * SIGINT (EX_TEMPFAIL: rerun with --resume; Slurm scripts requeue). */
#define _XOPEN_SOURCE 700
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "gen.h"
#include "forecast_cli.h"
#include "lasso_cli.h"
#include "sync_cli.h"
#include "pf_cli.h"
#include "segment_cli.h"
#include "supply_cli.h"
#include "gridmr/apps.h"
#include "gridmr/log.h"
#include "gridmr/mr.h"
#include "opts.h"


static void usage(FILE *f)
{
    fprintf(f,
            "usage: gridmr COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  wordcount --input FILE... --output OUT.h5     count words (runs under mpirun/srun)\n"
            "  aggregate --input FILE... --key COL[,COL...] --value COL[,COL...] --output OUT.h5\n"
            "                                                group-by count/sum/min/max over CSV\n"
            "  events --input FILE.jsonl... --output OUT.h5 [--key PATH,... --value PATH,... --no-checks]\n"
            "                                                count and sum per key over JSON lines (default\n"
            "                                                key type,province, value payment.amount_yuan)\n"
            "  blobs --input manifest.csv... --output OUT.h5  count and bytes per sniffed type; hash and\n"
            "                                                type mismatches are rejected records\n"
            "  dump OUT.h5 [--top N]                         print a result or a LASSO model as text\n"
            "  gen --kind text|meter --size SIZE --seed S --out FILE   make test data\n"
            "  gen --out DIR --size SIZE --provinces P --seed S        power-marketing data set\n"
            "                                                (runs under mpirun; gen --help)\n"
            "  lasso --input DATA.csv --response COL --output MODEL.h5 [options]\n"
            "                                                distributed weighted LASSO (lasso --help)\n"
            "  sync --hq HQ.db --stores DIR | sync load ... | sync dump STORE.db\n"
            "                                                incremental HQ/province sync (sync --help)\n"
            "  pf --case FILE [--qlim]                       AC power flow of a MATPOWER case (pf --help)\n"
            "  cpf --case FILE --scale F [--qlim] [--step S] continuation power flow to the nose (cpf --help)\n"
            "  vsm --case FILE --points N --seed S --output VSM.h5\n"
            "                                                batch voltage-stability margins (vsm --help)\n"
            "  segment --input FEATURES.csv --id COL [--labels FILE --label-col COL] [--k K | --supervised\n"
            "          --cv F] --output SEG.h5               customer segmentation (segment --help)\n"
            "  forecast --input FILE.csv --train FROM:TO --test FROM:TO --output FC.h5\n"
            "                                                hourly load forecasts (forecast --help)\n");
    fprintf(f,
            "  supply --input DIR --output SUPPLY.h5 [--csv DIR2]   data supply models of a power\n"
            "                                                data set (supply --help)\n"
            "\n"
            "job options (sizes take K, M or G suffixes):\n"
            "  --provinces P        provinces (default round(sqrt(ranks)))\n"
            "  --threads T          mapping threads per rank (default 1; see docs/architecture.md)\n"
            "  --split-size SIZE    input split size (default input/(32 x ranks), 1M..64M;\n"
            "                       the last ranks x that cut 4 x finer on 2+ ranks)\n"
            "  --shuffle-buffer SIZE  bytes a rank sends per shuffle round (default 64M)\n"
            "  --max-key SIZE       longest key; longer ones are rejected (default 4096)\n"
            "  --max-record SIZE    longest record (line); longer ones are rejected (default 64M)\n"
            "  --strict             stop at the first rejected record (exit 65)\n"
            "  --top N              keep only the first N rows in the job's order (reduce side: a\n"
            "                       --resume with another N reuses the staged map)\n"
            "  --stage DIR          directory of the stage file (default: beside the output, OUT.stage)\n"
            "  --resume             reuse what a matching stage holds instead of recomputing it\n"
            "  --checkpoint SEC     seconds of map between checkpoints to the stage (default 120;\n"
            "                       0: only at the end of the map)\n"
            "  --mem-budget SIZE    memory per rank for the job's tables; beyond it the map checkpoints\n"
            "                       and the shuffle spills sorted runs to the stage (default: no limit)\n"
            "  --quiet              print nothing but errors (no progress either)\n"
            "  --progress-interval SEC  seconds between progress lines when stderr is not a terminal\n"
            "                       (default 10; on a terminal a bar is redrawn instead)\n"
            "  --profile            per phase at the end: time min/avg/max over ranks, imbalance,\n"
            "                       records and bytes in/out, shuffle, spill, peak memory per rank;\n"
            "                       also stored in OUT.h5 (/profile). --log-view is the same\n"
            "\n"
            "exit status: 0 ok, 1 error, 2 usage, 65 bad record under --strict,\n"
            "             75 stopped by SIGTERM/SIGINT/SIGUSR1 (rerun with --resume)\n"
            "\n"
            "Slurm: slurm/gridmr.sbatch (requeued on the time limit, resumed), slurm/speedup.sbatch,\n"
            "       slurm/vsm.sbatch; see docs/user-guide.md\n"
            "\n"
            "environment: GRIDMR_LOG=error|warn|info|debug (debug prints error tracebacks)\n"
            "             GRIDMR_PROGRESS=bar|lines|off (default: a bar when stderr is a terminal,\n"
            "             else lines; under mpirun stderr is a pipe: bar asks for the bar anyway)\n");
}

/* First line of the recorded error (the traceback follows at debug level). */
static void report_error(const char *what, int quiet_rank)
{
    if (gmr_err_is_remote() || quiet_rank) return; /* the failing rank reports it */
    gmr__cli_report(what);
}

static void print_summary(const char *cmd, const gmr_summary *s, const char *output)
{
    double mb = (double)s->input_bytes / 1e6, t = s->t_total > 0 ? s->t_total : 1e-9;
    double ts = s->t_shuffle > 0 ? s->t_shuffle : 1e-9;
    printf("gridmr %s: %d ranks, %d provinces, %llu splits\n", cmd, s->ranks, s->provinces,
           (unsigned long long)s->splits);
    printf("  input      %.1f MB, %llu records, %llu rejected\n", mb, (unsigned long long)s->records,
           (unsigned long long)s->rejected);
    if (s->rejected) printf("  first bad  %s\n", s->first_reject);
    printf("  keys       %llu", (unsigned long long)s->keys);
    if (s->rows != s->keys) printf(" (the result keeps the top %llu)", (unsigned long long)s->rows);
    printf("\n");
    printf("  time (s)   plan %.3f  map %.3f  shuffle %.3f  stage %.3f  reduce %.3f  write %.3f  total %.3f\n",
           s->t_plan, s->t_map, s->t_shuffle, s->t_stage, s->t_reduce, s->t_write, s->t_total);
    printf("  throughput %.1f MB/s; shuffled %.1f MB at %.1f Mbit/s\n", mb / t, (double)s->shuffle_bytes / 1e6,
           (double)s->shuffle_bytes * 8 / 1e6 / ts);
    printf("  result     %s\n", output);
    printf("  stage      %s, %llu checkpoints\n", s->stage, (unsigned long long)s->checkpoints);
    if (s->splits_reused)
        printf("  resumed    %llu of %llu splits (%.1f MB) from the stage%s\n", (unsigned long long)s->splits_reused,
               (unsigned long long)s->splits, (double)s->bytes_reused / 1e6, s->resumed ? ": map skipped" : "");
    printf("  memory     peak %.1f MiB resident on the largest rank\n", (double)s->peak_rss / 1048576.0);
    if (s->spill_bytes) printf("  spilled    %.1f MB of sorted runs (--mem-budget)\n", (double)s->spill_bytes / 1e6);
    if (s->rejected) printf("  rejects    %s.rejects\n", output);
}

/* "12.3 MB" style, powers of 1000 as in the summary. */
static const char *human(uint64_t b, char *buf, size_t cap)
{
    if (b < 1000)
        snprintf(buf, cap, "%llu B", (unsigned long long)b);
    else if (b < 1000000)
        snprintf(buf, cap, "%.1f kB", (double)b / 1e3);
    else if (b < 1000000000)
        snprintf(buf, cap, "%.1f MB", (double)b / 1e6);
    else
        snprintf(buf, cap, "%.2f GB", (double)b / 1e9);
    return buf;
}

/* --profile: one line per phase, then memory per rank (all ranks up to 64, else min/avg/max;
 * the result file has them all). docs/user-guide.md shows an example. */
static void print_profile(const gmr_profile *p, const char *output)
{
    char a[32], b[32], c[32];
    uint64_t lo = UINT64_MAX, hi = 0;
    double avg = 0;
    printf("profile over %d ranks (seconds; imbalance = max/avg; records and bytes summed over ranks)\n", p->ranks);
    printf("  %-8s %8s %8s %8s %6s %12s %12s %10s %10s\n", "phase", "min", "avg", "max", "imbal", "records in",
           "records out", "bytes in", "bytes out");
    for (int i = 0; i < GMR_NPHASES; i++) {
        const gmr_phase_profile *q = &p->phase[i];
        printf("  %-8s %8.3f %8.3f %8.3f %6.2f %12llu %12llu %10s %10s\n", q->name, q->t_min, q->t_avg, q->t_max,
               q->imbalance, (unsigned long long)q->records_in, (unsigned long long)q->records_out,
               human(q->bytes_in, a, sizeof a), human(q->bytes_out, b, sizeof b));
    }
    printf("  shuffled %s, spilled and checkpointed %s\n", human(p->shuffle_bytes, a, sizeof a),
           human(p->spill_bytes, b, sizeof b));
    for (int r = 0; r < p->ranks; r++) {
        uint64_t m = p->rank_peak_rss[r];
        lo = m < lo ? m : lo;
        hi = m > hi ? m : hi;
        avg += (double)m / p->ranks;
    }
    if (p->ranks <= 64) {
        printf("  peak memory per rank (MiB):");
        for (int r = 0; r < p->ranks; r++) printf(" %.1f", (double)p->rank_peak_rss[r] / 1048576.0);
        printf("\n");
    } else {
        printf("  peak memory per rank: min %s avg %s max %s\n", human(lo, a, sizeof a),
               human((uint64_t)avg, b, sizeof b), human(hi, c, sizeof c));
    }
    printf("  stored in %s, group /profile\n", output);
}

static void on_signal(int sig)
{
    (void)sig;
    gmr_interrupt();
}

static int run_job(int argc, char **argv)
{
    gmr_err err = GMR_OK;
    gmr__cli_opts o;
    gmr_job job = NULL;
    gmr_aggregate *agg = NULL;
    gmr_events *ev = NULL;
    void *ctx = NULL;
    const gmr_job_ops *ops = NULL;
    gmr_summary sum;
    int rank = 0, status = 0;
    const char *cmd = argv[0];

    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank != 0) gmr_log_set_rank(rank);
    {
        /* SIGTERM (Slurm's time limit, preemption, mpirun passing it on) and SIGINT stop the
         * job at its next check instead of killing it mid-write */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        /* SIGUSR1: what the slurm/ scripts forward on Slurm's --signal warning (Open MPI's mpirun
         * passes USR1 on to the ranks, where it does not pass TERM) */
        sigaction(SIGUSR1, &sa, NULL);
    }
    status = gmr__cli_parse(argc, argv, &o);
    if (status) {
        if (rank == 0) {
            fprintf(stderr, "gridmr %s: %s\n", cmd, o.error);
            fprintf(stderr, "run `gridmr --help` for the options\n");
        }
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "wordcount") == 0) {
        ops = &gmr_wordcount_ops;
    } else if (strcmp(cmd, "blobs") == 0) {
        ops = &gmr_blobs_ops;
    } else if (strcmp(cmd, "events") == 0) {
        err = gmr_events_create(o.key, o.value, o.checks, &ev, &ops);
        ctx = ev;
    } else {
        err = gmr_aggregate_create(o.key, o.value, &agg, &ops);
        ctx = agg;
    }
    if (!err) err = gmr_job_create(MPI_COMM_WORLD, ops, ctx, &job);
    if (!err) err = gmr_job_set_options(job, &o.job);
    for (int i = 0; !err && i < o.ninputs; i++) err = gmr_job_add_input(job, o.inputs[i]);
    /* errors so far are the same on every rank: rank 0 reports them */
    if (err) {
        report_error(cmd, rank != 0);
        goto out;
    }
    err = gmr_job_run(job, o.output);
    if (!err) err = gmr_job_get_summary(job, &sum);
    if (!err && rank == 0 && !o.quiet) print_summary(cmd, &sum, o.output);
    if (!err && o.profile) {
        gmr_profile prof;
        err = gmr_job_get_profile(job, &prof);
        if (!err && rank == 0) print_profile(&prof, o.output);
    }
    if (!err && rank == 0 && o.quiet && sum.rejected)
        fprintf(stderr, "gridmr %s: %llu rejected records, see %s.rejects\n", cmd, (unsigned long long)sum.rejected,
                o.output);
    if (err) report_error(cmd, 0);
out:
    gmr_job_destroy(&job);
    gmr_aggregate_destroy(&agg);
    gmr_events_destroy(&ev);
    gmr__cli_free(&o);
    return gmr__cli_exit_status(err);
}

/* The commands with front ends of their own (src/cli/<name>_cli.c), run collectively on
 * MPI_COMM_WORLD. usage: printed for --help before MPI starts (NULL: the front end handles
 * --help itself); local: the front end without MPI, used when needs_mpi says so (pf and cpf are
 * serial, sync load and dump touch one store). */
typedef struct cli_command {
    int (*is)(const char *cmd);
    int (*run)(MPI_Comm comm, int argc, char **argv);
    void (*usage)(FILE *f);
    int (*needs_mpi)(int argc, char **argv);
    int (*local)(int argc, char **argv);
} cli_command;

static int is_lasso(const char *cmd) { return strcmp(cmd, "lasso") == 0; }
static int is_sync(const char *cmd) { return strcmp(cmd, "sync") == 0; }
static int is_segment(const char *cmd) { return strcmp(cmd, "segment") == 0; }
static int is_forecast(const char *cmd) { return strcmp(cmd, "forecast") == 0; }
static int is_supply(const char *cmd) { return strcmp(cmd, "supply") == 0; }
static int pf_local(int argc, char **argv) { return gmr_cli_pf(MPI_COMM_NULL, argc, argv); }

static const cli_command commands[] = {
    {is_lasso, gmr_cli_lasso, gmr__cli_lasso_usage, NULL, NULL},
    {is_sync, gmr_cli_sync, NULL, gmr_cli_sync_needs_mpi, gmr_cli_sync_local},
    {is_segment, gmr_cli_segment, gmr__cli_segment_usage, NULL, NULL},
    {is_forecast, gmr_cli_forecast, gmr__cli_forecast_usage, NULL, NULL},
    {is_supply, gmr_cli_supply, gmr__cli_supply_usage, NULL, NULL},
    {gmr_cli_pf_is_command, gmr_cli_pf, NULL, gmr_cli_pf_needs_mpi, pf_local},
};

int main(int argc, char **argv)
{
    int status, provided = 0;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gridmr %s\n", GMR_VERSION_STRING);
        return 0;
    }
    if (strcmp(argv[1], "dump") == 0) return gmr__cli_dump(argc - 1, argv + 1);
    if (strcmp(argv[1], "gen") == 0) {
        if (!gmr_cli_gen_is_power(argc - 1, argv + 1)) return gmr_cli_gen(argc - 1, argv + 1);
        /* the power data set is made by every rank of the job (alone: a singleton) */
        /* FUNNELED: with --threads, mapping threads never call MPI; the main thread does */
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "gridmr: MPI_Init failed\n");
            return 1;
        }
        status = gmr_cli_gen_power(MPI_COMM_WORLD, argc - 1, argv + 1);
        MPI_Finalize();
        return status;
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        const cli_command *cc = &commands[c];
        if (!cc->is(argv[1])) continue;
        if (cc->usage)
            for (int i = 2; i < argc; i++)
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                    cc->usage(stdout);
                    return 0;
                }
        if (cc->local && !cc->needs_mpi(argc - 1, argv + 1)) return cc->local(argc - 1, argv + 1);
        /* FUNNELED: jobs with --threads (supply) map on threads that never call MPI */
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "gridmr: MPI_Init failed\n");
            return 1;
        }
        status = cc->run(MPI_COMM_WORLD, argc - 1, argv + 1);
        /* the front ends return the same status on every rank */
        MPI_Finalize();
        return status;
    }
    if (strcmp(argv[1], "wordcount") != 0 && strcmp(argv[1], "aggregate") != 0 && strcmp(argv[1], "events") != 0 &&
        strcmp(argv[1], "blobs") != 0) {
        fprintf(stderr, "gridmr: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    /* FUNNELED: with --threads, mapping threads never call MPI; the main thread does */
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "gridmr: MPI_Init failed\n");
        return 1;
    }
    status = run_job(argc - 1, argv + 1);
    /* every rank returns the same status (errors are agreed), so a plain finalize is safe */
    MPI_Finalize();
    return status;
}
