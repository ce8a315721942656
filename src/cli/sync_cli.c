/* sync_cli.c: `gridmr sync`, the front end of the element-level incremental sync (src/sync/,
 * docs/sync.md). Three forms:
 *
 *   gridmr sync load --store P.db --table T --key COL[,COL] [--mode snapshot|upsert|delete] [--route COL] FILE.csv
 *                    import a CSV file into a store as one new version (no MPI)
 *   gridmr sync dump STORE.db [--table T]
 *                    print a store deterministically (no MPI)
 *   gridmr sync status STORE.db
 *                    the catalog and what each origin holds (no MPI)
 *   mpirun -np N gridmr sync --hq HQ.db --stores DIR [--provinces P] [--chunk SIZE] [--max-resend N]
 *                    sync every DIR/NAME.db with HQ, both ways; rank 0 prints the report
 *
 * Exit status: 0 ok, 2 usage, 65 bad input data (a CSV row, a store behind HQ's catalog),
 * 1 any other error. Errors are printed once, by the rank that met them. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "gridmr/log.h"
#include "gridmr/sync.h"
#include "opts.h"
#include "sync_cli.h"


static void usage(FILE *f)
{
    fprintf(f,
            "usage: gridmr sync load --store STORE.db --table T --key COL[,COL...] [--mode M] [--route COL] FILE.csv\n"
            "       gridmr sync dump STORE.db [--table T]\n"
            "       gridmr sync status STORE.db\n"
            "       mpirun -np N gridmr sync --hq HQ.db --stores DIR [options]\n"
            "\n"
            "Element-level incremental sync between headquarters and provinces (docs/sync.md). Each\n"
            "province keeps a store DIR/NAME.db (NAME = the province); HQ keeps HQ.db, the merged view and\n"
            "the catalog. Only elements changed since the version HQ acknowledged travel, in chunks with\n"
            "an XXH3-64 checksum; the tables loaded into HQ.db flow down to every province.\n"
            "\n"
            "load: import a CSV file (header line, RFC 4180) as one new version of the store, keyed by\n"
            "the --key columns; a row whose content changed becomes an upsert.\n"
            "  --mode snapshot      the file is the whole table: keys missing from it are deleted (default)\n"
            "  --mode upsert        the file holds new and changed rows only\n"
            "  --mode delete        the keys of the file's rows are deleted\n"
            "  --route COL          (HQ's tables) a row goes down only to the province named in COL; the\n"
            "                       others get a delete of its key (a reassigned customer leaves its old\n"
            "                       province). Fixed by the table's first load (default: every province)\n"
            "dump: with --table, that table's header and live rows in key order; without, the whole\n"
            "state (version, tables, catalog, every element with origin, version, tombstones).\n"
            "status: the state without the elements: at HQ, which province holds what, at which version.\n"
            "\n"
            "sync options (sizes take K, M or G suffixes):\n"
            "  --provinces P        province groups of the ranks; store i goes to the leader of group\n"
            "                       i mod P (default round(sqrt(ranks)); rank 0 is HQ)\n"
            "  --chunk SIZE         element bytes per chunk (default 1M)\n"
            "  --max-resend N       resends of a chunk refused for a bad checksum (default 3)\n"
            "  --quiet              print nothing but errors\n"
            "\n"
            "exit status: 0 ok, 1 error, 2 usage, 65 bad input data\n");
}

/* what: "load", "dump" or "" (the sync itself) */
static void report(const char *what)
{
    char cmd[32];
    if (gmr_err_is_remote()) return;
    snprintf(cmd, sizeof cmd, "sync%s%s", *what ? " " : "", what);
    gmr__cli_report(cmd);
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int gmr_cli_sync_needs_mpi(int argc, char **argv)
{
    if (wants_help(argc, argv)) return 0;
    return !(argc >= 2 && (strcmp(argv[1], "load") == 0 || strcmp(argv[1], "dump") == 0 || strcmp(argv[1], "status") == 0));
}

static int print_line(void *ctx, const char *line)
{
    return fprintf((FILE *)ctx, "%s\n", line) < 0 ? -1 : 0;
}

static int cmd_load(int argc, char **argv)
{
    const char *store = NULL, *table = NULL, *key = NULL, *file = NULL, *route = NULL;
    gmr_sync_mode mode = GMR_SYNC_SNAPSHOT;
    gmr_sync_load_result r;
    int quiet = 0;
    gmr_err e;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--store") == 0 && more) store = argv[++i];
        else if (strcmp(a, "--table") == 0 && more) table = argv[++i];
        else if (strcmp(a, "--key") == 0 && more) key = argv[++i];
        else if (strcmp(a, "--route") == 0 && more) route = argv[++i];
        else if (strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--mode") == 0 && more) {
            a = argv[++i];
            if (strcmp(a, "snapshot") == 0) mode = GMR_SYNC_SNAPSHOT;
            else if (strcmp(a, "upsert") == 0) mode = GMR_SYNC_UPSERT;
            else if (strcmp(a, "delete") == 0) mode = GMR_SYNC_DELETE;
            else {
                fprintf(stderr, "gridmr sync load: --mode is snapshot, upsert or delete, not '%s'\n", a);
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "gridmr sync load: unknown or incomplete option '%s'\nrun `gridmr sync --help` for the options\n", a);
            return EXIT_USAGE;
        } else if (!file) file = a;
        else {
            fprintf(stderr, "gridmr sync load: one CSV file at a time ('%s' is a second)\n", a);
            return EXIT_USAGE;
        }
    }
    if (!store || !table || !key || !file) {
        fprintf(stderr, "gridmr sync load: needs --store, --table, --key and a CSV file\nrun `gridmr sync --help` for the options\n");
        return EXIT_USAGE;
    }
    e = gmr_sync_load_routed(store, table, key, route, file, mode, &r);
    if (e) {
        report("load");
        return gmr__cli_exit_status(e);
    }
    if (!quiet)
        printf("gridmr sync load: %s table %s: %llu rows, %llu upserts, %llu deletes, %llu unchanged; version %lld\n", store,
               table, (unsigned long long)r.rows, (unsigned long long)r.upserts, (unsigned long long)r.deletes,
               (unsigned long long)r.unchanged, (long long)r.version);
    return 0;
}

static int cmd_dump(int argc, char **argv)
{
    const char *store = NULL, *table = NULL;
    int status = strcmp(argv[1], "status") == 0;
    gmr_err e;
    for (int i = 2; i < argc; i++) {
        if (!status && strcmp(argv[i], "--table") == 0 && i + 1 < argc) table = argv[++i];
        else if (argv[i][0] == '-' || store) {
            fprintf(stderr, "gridmr sync %s: unexpected '%s'\nrun `gridmr sync --help` for the options\n", argv[1], argv[i]);
            return EXIT_USAGE;
        } else store = argv[i];
    }
    if (!store) {
        fprintf(stderr, "gridmr sync %s: needs a store\n", argv[1]);
        return EXIT_USAGE;
    }
    e = status ? gmr_sync_status(store, print_line, stdout) : gmr_sync_dump(store, table, print_line, stdout);
    if (e) {
        report(argv[1]);
        return gmr__cli_exit_status(e);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int gmr_cli_sync_local(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "load") == 0) return cmd_load(argc, argv);
    return cmd_dump(argc, argv);
}

static double pct(uint64_t a, uint64_t b) { return b ? 100.0 * (double)a / (double)b : 0.0; }

int gmr_cli_sync(MPI_Comm comm, int argc, char **argv)
{
    gmr_sync_options o;
    gmr_sync_stats s;
    int rank = 0, size = 1, quiet = 0;
    char error[256] = "";
    gmr_err e;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank) gmr_log_set_rank(rank);
    memset(&o, 0, sizeof o);
    o.chunk = GMR_SYNC_DEFAULT_CHUNK;
    o.max_resend = 3;
    for (int i = 1; i < argc && !error[0]; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        char *end = NULL;
        if (strcmp(a, "--hq") == 0 && more) o.hq = argv[++i];
        else if (strcmp(a, "--stores") == 0 && more) o.stores = argv[++i];
        else if (strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--provinces") == 0 && more) {
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 1 || p > size) snprintf(error, sizeof error, "--provinces must be 1..%d (the ranks)", size);
            o.provinces = (int)p;
        } else if (strcmp(a, "--chunk") == 0 && more) {
            uint64_t b = 0;
            if (gmr__parse_size(argv[++i], &b) || b < 64 || b > (1u << 30))
                snprintf(error, sizeof error, "--chunk must be a size from 64 to 1G, not '%s'", argv[i]);
            o.chunk = b;
        } else if (strcmp(a, "--max-resend") == 0 && more) {
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 0 || n > 1000) snprintf(error, sizeof error, "--max-resend must be 0..1000");
            o.max_resend = (int)n;
        } else snprintf(error, sizeof error, "unknown or incomplete option '%s'", a);
    }
    if (!error[0] && (!o.hq || !o.stores)) snprintf(error, sizeof error, "needs --hq HQ.db and --stores DIR");
    if (error[0]) {
        if (rank == 0) fprintf(stderr, "gridmr sync: %s\nrun `gridmr sync --help` for the options\n", error);
        return EXIT_USAGE;
    }
    e = gmr_sync_run(comm, &o, &s);
    if (e) {
        report("");
        return gmr__cli_exit_status(e);
    }
    if (rank == 0 && !quiet) {
        uint64_t el = s.upserts_up + s.deletes_up + s.upserts_down + s.deletes_down, by = s.bytes_up + s.bytes_down;
        double t = s.seconds > 0 ? s.seconds : 1e-9;
        printf("gridmr sync: %d ranks, %llu province stores, HQ %s\n", size, (unsigned long long)s.stores, o.hq);
        printf("  up        %llu chunks, %llu upserts, %llu deletes, %llu bytes sent; full copy %llu bytes; ratio %.3f%%\n",
               (unsigned long long)s.chunks_up, (unsigned long long)s.upserts_up, (unsigned long long)s.deletes_up,
               (unsigned long long)s.bytes_up, (unsigned long long)s.full_up, pct(s.bytes_up, s.full_up));
        printf("  down      %llu chunks, %llu upserts, %llu deletes, %llu bytes sent; full copy %llu bytes; ratio %.3f%%\n",
               (unsigned long long)s.chunks_down, (unsigned long long)s.upserts_down, (unsigned long long)s.deletes_down,
               (unsigned long long)s.bytes_down, (unsigned long long)s.full_down, pct(s.bytes_down, s.full_down));
        printf("  checks    %llu refused (bad checksum, re-sent), %llu duplicate chunks, %llu stale elements, %llu resumed\n",
               (unsigned long long)s.refused, (unsigned long long)s.duplicates, (unsigned long long)s.stale,
               (unsigned long long)s.resumed);
        printf("  time      %.3f s, %.0f elements/s, %.2f MB/s\n", s.seconds, (double)el / t, (double)by / 1e6 / t);
        printf("  phases    HQ answering %.3f s; leaders (max) own work %.3f s, waiting for HQ %.3f s\n", s.t_hq,
               s.t_work_max, s.t_wait_max);
    }
    return 0;
}
