/* supply_cli.c: `gridmr supply`, the front end of the data supply models (gridmr/supply.h):
 * parses the options, runs gmr_supply_build on the communicator and prints the summary on
 * rank 0. Exit statuses as everywhere: 0 ok, 2 usage, 65 bad input data (a wrong header, or a
 * rejected record under --strict), 75 stopped by SIGTERM, SIGINT or SIGUSR1 (rerun with
 * --resume), 1 any other error (printed once). */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridmr/log.h"
#include "gridmr/supply.h"
#include "opts.h"
#include "supply_cli.h"

void gmr__cli_supply_usage(FILE *f)
{
    fprintf(f,
            "usage: gridmr supply --input DIR --output SUPPLY.h5 [--csv DIR2] [options]\n"
            "\n"
            "Builds the data supply models of a power-marketing data set (gridmr gen --kind power):\n"
            "dimension tables (/dim/customer, /dim/date, /dim/province, /dim/city, code tables), fact\n"
            "tables (/fact/reading_day, /fact/bill, /fact/weather, /fact/event), the summary wide table\n"
            "/summary/customer_month and the application tables /app/forecast and /app/segment, with\n"
            "three MapReduce jobs. docs/supply.md; columns and units in docs/formats.md.\n"
            "\n"
            "  --input DIR          the data set: customers.csv readings.csv bills.csv weather.csv events.jsonl\n"
            "  --output FILE        the HDF5 file of the models; FILE.rejects lists rejected records\n"
            "  --csv DIR2           also write DIR2/app_forecast.csv and DIR2/app_segment.csv\n"
            "  --strict             stop at the first bad record (exit 65)\n"
            "  --resume             after an interrupted run (exit 75) or a crash: a job that run finished\n"
            "                       (same inputs and options) is not run again, an unfinished one maps only\n"
            "                       the splits its stage lacks; the models are then built as usual\n"
            "  --provinces P --threads T --split-size SIZE --mem-budget SIZE --shuffle-buffer SIZE --stage DIR\n"
            "  --checkpoint SEC     engine options, as for the other jobs (gridmr --help)\n"
            "  --quiet              print only errors\n");
}

static void on_signal(int sig)
{
    (void)sig;
    gmr_interrupt();
}

static int usage_error(int rank, const char *msg, const char *arg)
{
    if (rank == 0) {
        fprintf(stderr, "gridmr supply: ");
        fprintf(stderr, msg, arg);
        fprintf(stderr, "\nrun `gridmr supply --help` for the options\n");
    }
    return 2;
}

int gmr_cli_supply(MPI_Comm comm, int argc, char **argv)
{
    gmr_options o;
    gmr_supply_summary s;
    const char *input = NULL, *output = NULL, *csv = NULL;
    int rank = 0, quiet = 0;
    gmr_err err;

    MPI_Comm_rank(comm, &rank);
    if (rank != 0) gmr_log_set_rank(rank);
    {
        /* SIGTERM/SIGINT (and SIGUSR1, which slurm/gridmr.sbatch forwards on Slurm's time-limit
         * warning) stop the running job at its next check: it checkpoints its map to its
         * stage, the finished jobs' results are kept for --resume and the exit status is 75 */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGUSR1, &sa, NULL);
    }
    gmr_options_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t *size = NULL;
        if (strcmp(a, "--strict") == 0) { o.strict = 1; continue; }
        if (strcmp(a, "--quiet") == 0) { quiet = 1; continue; }
        if (strcmp(a, "--resume") == 0) { o.resume = 1; continue; }
        if (i + 1 >= argc) return usage_error(rank, "%s needs a value", a);
        if (strcmp(a, "--input") == 0) { input = argv[++i]; continue; }
        if (strcmp(a, "--output") == 0) { output = argv[++i]; continue; }
        if (strcmp(a, "--csv") == 0) { csv = argv[++i]; continue; }
        if (strcmp(a, "--stage") == 0) { o.stage_dir = argv[++i]; continue; }
        if (strcmp(a, "--threads") == 0) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 1 || v > 256) return usage_error(rank, "bad --threads '%s' (1..256)", argv[i]);
            o.threads = (int)v;
            continue;
        }
        if (strcmp(a, "--provinces") == 0 || strcmp(a, "--checkpoint") == 0) {
            char *end;
            double v = strtod(argv[++i], &end);
            if (*end || end == argv[i] || v < (a[2] == 'p' ? 1 : -1) || v > 1e6 || (a[2] == 'p' && v != (int)v))
                return usage_error(rank, "bad value '%s'", argv[i]);
            if (a[2] == 'p') o.provinces = (int)v;
            else o.checkpoint = v;
            continue;
        }
        if (strcmp(a, "--split-size") == 0) size = &o.split_size;
        else if (strcmp(a, "--mem-budget") == 0) size = &o.mem_budget;
        else if (strcmp(a, "--shuffle-buffer") == 0) size = &o.shuffle_buffer;
        if (!size) return usage_error(rank, "unknown option '%s'", a);
        if (gmr__parse_size(argv[++i], size) || *size == 0) return usage_error(rank, "bad size '%s'", argv[i]);
    }
    if (!input) return usage_error(rank, "%s", "--input DIR is required");
    if (!output) return usage_error(rank, "%s", "--output FILE is required");

    err = gmr_supply_build(comm, input, output, csv, &o, &s);
    if (err) {
        const char *msg = gmr_err_message();
        if (!gmr_err_is_remote())
            fprintf(stderr, "gridmr supply: %.*s\n", (int)strcspn(msg, "\n"), msg);
        return err == GMR_ERR_DATA ? 65 : err == GMR_ERR_INTERRUPTED ? 75 : 1;
    }
    if (rank == 0 && !quiet) {
        printf("gridmr supply: %d ranks, %d provinces, %llu + %llu splits\n", s.structured.ranks, s.structured.provinces,
               (unsigned long long)s.structured.splits, (unsigned long long)s.events.splits);
        printf("  input      %.1f MB (structured %.1f, events %.1f), %llu records, %llu rejected\n",
               (double)s.input_bytes / 1e6, (double)s.structured.input_bytes / 1e6, (double)s.events.input_bytes / 1e6,
               (unsigned long long)(s.structured.records + s.events.records), (unsigned long long)s.rejected);
        if (s.rejected) printf("  first bad  %s\n", s.first_reject);
        if (o.resume) {
            const gmr_summary *j[3] = {&s.structured, &s.events, &s.profile};
            const char *name[3] = {"structured", "events", "profile"};
            printf("  resumed   ");
            for (int k = 0; k < 3; k++)
                printf(" %s %llu of %llu splits%s%s", name[k], (unsigned long long)j[k]->splits_reused,
                       (unsigned long long)j[k]->splits, j[k]->resumed && !strcmp(j[k]->stage, "-") ? " (finished before: not run)"
                       : "", k == 2 ? "\n" : ",");
        }
        printf("  dim        %llu customers, %llu dates\n", (unsigned long long)s.customers, (unsigned long long)s.dates);
        printf("  fact       %llu customer-days, %llu bills, %llu events\n", (unsigned long long)s.reading_days,
               (unsigned long long)s.bills, (unsigned long long)s.events_rows);
        printf("  summary    %llu customer-months\n", (unsigned long long)s.customer_months);
        printf("  app        %llu forecast rows (province x hour), %llu segment rows (customers)\n",
               (unsigned long long)s.forecast_rows, (unsigned long long)s.segment_rows);
        if (s.duplicates) printf("  duplicates %llu records repeated a key seen earlier (kept once)\n", (unsigned long long)s.duplicates);
        printf("  time (s)   structured %.3f  events %.3f  models %.3f  total %.3f\n", s.structured.t_total,
               s.events.t_total, s.t_assemble, s.t_total);
        printf("  time (s)   profile %.3f  segment (all ranks) %.3f\n", s.profile.t_total, s.t_segment);
        printf("  memory     peak resident: HQ %.1f MB, other ranks at most %.1f MB\n", (double)s.peak_rss_hq / 1e6,
               (double)s.peak_rss_other / 1e6);
        printf("  throughput %.1f MB/s\n", (double)s.input_bytes / 1e6 / (s.t_total > 0 ? s.t_total : 1e-9));
        printf("  result     %s\n", output);
        if (s.rejected) printf("  rejects    %s.rejects\n", output);
    }
    if (rank == 0 && quiet && s.rejected)
        fprintf(stderr, "gridmr supply: %llu rejected records, see %s.rejects\n", (unsigned long long)s.rejected, output);
    return 0;
}
