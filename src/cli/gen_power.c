/*
 * gen_power.c - the command-line front end of `gridmr gen --kind power` (src/gen/ does the work).
 *
 * main() calls gmr_cli_gen_is_power() on the arguments first: `--kind power`, or no --kind at
 * all, selects this mode (the text and meter kinds always needed --kind, so nothing that
 * worked before changes meaning). main() then initialises MPI, so the command runs under
 * mpirun on any number of ranks or alone as a singleton, and calls gmr_cli_gen_power() with
 * MPI_COMM_WORLD. Every rank parses the options alike; rank 0 alone prints usage errors and the
 * summary, and an error is printed once, by the rank where it happened.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "gen/model.h"
#include "gen/power.h"
#include "gridmr/log.h"
#include "opts.h"

int gmr_cli_gen_is_power(int argc, char **argv)
{
    const char *kind = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 0;
        if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc) kind = argv[i + 1];
        if (strncmp(argv[i], "--kind=", 7) == 0) kind = argv[i] + 7;
    }
    return kind == NULL || strcmp(kind, "power") == 0;
}

void gmr__cli_gen_power_usage(FILE *fp)
{
    fprintf(fp,
            "\n"
            "gridmr gen [--kind power] --out DIR --size SIZE [--provinces P] [--seed S]\n"
            "           [--start DATE] [--days D] [--customers N] [--corrupt-rate R]\n"
            "           [--mislabel-rate R] [--mix S:J:U] [--block SIZE] [--pack-size SIZE] [--quiet]\n"
            "Write a heterogeneous power-marketing data set into DIR (the mode when --kind is\n"
            "absent). Runs alone or under mpirun on any number of ranks: same arguments, same\n"
            "bytes. Files (docs/data.md): customers.csv, readings.csv (15-minute kWh), bills.csv,\n"
            "weather.csv, events.jsonl, blobs-NNN.bin with manifest.csv; ground truth labels.csv\n"
            "(true classes) and corrupt.csv (injected defects).\n"
            "  --out DIR          output directory, created if missing\n"
            "  --size SIZE        bytes of data (structured + semi-structured + unstructured)\n"
            "  --provinces P      provinces, 1..%d (default %d)\n"
            "  --seed S           random seed, 0..2^64-1 (default 1)\n"
            "  --start DATE       first day, YYYY-MM-DD (default %s)\n"
            "  --days D           days, 1..%d (default: from --size, %d..%d; see docs/data.md)\n"
            "  --customers N      customers, 1..%u (default: what --size leaves room for)\n"
            "  --corrupt-rate R   share of records damaged on purpose, 0..1 (default 0)\n"
            "  --mislabel-rate R  share of customers registered in a wrong class, 0..1 (default %g)\n"
            "  --mix S:J:U        byte split structured:semi:unstructured (default %d:%d:%d)\n"
            "  --block SIZE       work per block, a tuning knob that never changes the output\n"
            "                     (default size/64 of the structured part, within 64K..8M)\n"
            "  --pack-size SIZE   bytes per blob pack file (default %lluM, at least 1M)\n"
            "  --quiet            print nothing but errors\n",
            GMR_GEN_MAX_PROVINCES, GMR_GEN_DEFAULT_PROVINCES, GMR_GEN_DEFAULT_START, GMR_GEN_MAX_DAYS,
            GMR_GEN_MIN_DAYS, GMR_GEN_MAX_AUTO_DAYS, GMR_GEN_MAX_CUSTOMERS, GMR_GEN_DEFAULT_MISLABEL_PPB / 1e9,
            GMR_GEN_DEFAULT_MIX_S, GMR_GEN_DEFAULT_MIX_J,
            GMR_GEN_DEFAULT_MIX_U, (unsigned long long)(GMR_GEN_DEFAULT_PACK >> 20));
}

/* Plain decimal, no sign; 0 on success. */
static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *out = (uint64_t)v;
    return 0;
}

/* A rate 0..1 written as a decimal ("0", "0.01", "1.0") into parts per 10^9, exactly (no
 * floating point: the rate decides bytes). 0 on success. */
static int parse_rate(const char *s, uint32_t *ppb)
{
    uint64_t whole = 0, frac = 0, scale = 1000000000;
    const char *p = s;
    if (*p < '0' || *p > '9') return -1;
    while (*p >= '0' && *p <= '9') {
        whole = whole * 10 + (uint64_t)(*p++ - '0');
        if (whole > 1) return -1;
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return -1;
        for (; *p >= '0' && *p <= '9'; p++) {
            scale /= 10;
            if (scale == 0 && *p != '0') return -1; /* finer than 10^-9 */
            frac += (uint64_t)(*p - '0') * scale;
        }
    }
    if (*p != '\0' || whole * 1000000000 + frac > 1000000000) return -1;
    *ppb = (uint32_t)(whole * 1000000000 + frac);
    return 0;
}

static int parse_mix(const char *s, unsigned mix[3])
{
    uint64_t v[3];
    char buf[64], *parts[3], *save = NULL;
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    parts[0] = strtok_r(buf, ":", &save);
    parts[1] = strtok_r(NULL, ":", &save);
    parts[2] = strtok_r(NULL, ":", &save);
    if (!parts[0] || !parts[1] || !parts[2] || strtok_r(NULL, ":", &save)) return -1;
    for (int k = 0; k < 3; k++)
        if (parse_u64(parts[k], &v[k]) || v[k] > GMR_GEN_MAX_MIX) return -1;
    if (v[0] + v[1] + v[2] == 0) return -1;
    for (int k = 0; k < 3; k++) mix[k] = (unsigned)v[k];
    return 0;
}

/* Fills o from argv (`--name value` or `--name=value`). 0, or 2 with a one-line message in msg. */
static int parse(int argc, char **argv, gmr__power_opts *o, int *quiet, char *msg, size_t cap)
{
    int have_size = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL, *eq;
        char name[32];
        size_t nlen;
        if (strcmp(arg, "--quiet") == 0) {
            *quiet = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(msg, cap, "unexpected argument '%s'", arg);
            return 2;
        }
        eq = strchr(arg, '=');
        nlen = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nlen >= sizeof name) {
            snprintf(msg, cap, "unknown option '%s'", arg);
            return 2;
        }
        memcpy(name, arg + 2, nlen);
        name[nlen] = '\0';
        static const char *const known[] = {"kind",          "out",           "size",  "seed",  "provinces", "start",
                                            "days",          "customers",     "corrupt-rate", "mislabel-rate",
                                            "mix",           "block",         "pack-size"};
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof *known; k++) ok |= strcmp(name, known[k]) == 0;
        if (!ok) {
            snprintf(msg, cap, "unknown option '--%s'", name);
            return 2;
        }
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(msg, cap, "option '--%s' needs a value", name);
            return 2;
        }

        uint64_t v = 0;
        int bad = 0;
        if (strcmp(name, "kind") == 0) {
            bad = strcmp(val, "power") != 0;
        } else if (strcmp(name, "out") == 0) {
            o->dir = val;
            bad = *val == '\0';
        } else if (strcmp(name, "size") == 0) {
            bad = gmr__parse_size(val, &o->size) != 0 || o->size == 0 || o->size > GMR_GEN_MAX_SIZE;
            have_size = !bad;
        } else if (strcmp(name, "seed") == 0) {
            bad = parse_u64(val, &o->seed) != 0;
        } else if (strcmp(name, "provinces") == 0) {
            bad = parse_u64(val, &v) != 0 || v < 1 || v > GMR_GEN_MAX_PROVINCES;
            o->provinces = (unsigned)v;
        } else if (strcmp(name, "start") == 0) {
            bad = gmr__parse_date(val, &o->start) != 0;
        } else if (strcmp(name, "days") == 0) {
            bad = parse_u64(val, &v) != 0 || v < 1 || v > GMR_GEN_MAX_DAYS;
            o->days = (uint32_t)v;
        } else if (strcmp(name, "customers") == 0) {
            bad = parse_u64(val, &v) != 0 || v < 1 || v > GMR_GEN_MAX_CUSTOMERS;
            o->customers = v;
        } else if (strcmp(name, "corrupt-rate") == 0) {
            bad = parse_rate(val, &o->corrupt_ppb) != 0;
        } else if (strcmp(name, "mislabel-rate") == 0) {
            bad = parse_rate(val, &o->mislabel_ppb) != 0;
        } else if (strcmp(name, "mix") == 0) {
            bad = parse_mix(val, o->mix) != 0;
        } else if (strcmp(name, "block") == 0) {
            bad = gmr__parse_size(val, &o->block) != 0 || o->block == 0;
        } else {
            bad = gmr__parse_size(val, &o->pack) != 0 || o->pack < GMR_GEN_MIN_PACK;
        }
        if (bad) {
            snprintf(msg, cap, "invalid value '%s' for --%s", val, name);
            return 2;
        }
    }
    if (!o->dir || !have_size) {
        snprintf(msg, cap, "--out DIR and --size SIZE are required");
        return 2;
    }
    return 0;
}

static double mb(uint64_t bytes) { return (double)bytes / 1e6; }

static void print_report(const gmr__power_opts *o, const gmr__power_report *r)
{
    const uint64_t *b = r->bytes;
    uint64_t s = b[GMR_F_CUSTOMERS] + b[GMR_F_READINGS] + b[GMR_F_BILLS] + b[GMR_F_WEATHER];
    uint64_t j = b[GMR_F_EVENTS], u = r->blob_bytes;
    char date[16];
    *gmr__put_date(date, r->start) = '\0';
    printf("gridmr gen: wrote %s on %d rank%s in %.2f s\n", o->dir, r->ranks, r->ranks == 1 ? "" : "s", r->t_total);
    printf("  data set      %llu customers in %u provinces, %u days from %s (15-minute readings), seed %llu\n",
           (unsigned long long)r->customers, r->provinces, r->days, date, (unsigned long long)o->seed);
    printf("  structured    %9.3f MB  customers.csv %.3f, readings.csv %.3f, bills.csv %.3f, weather.csv %.3f\n", mb(s),
           mb(b[GMR_F_CUSTOMERS]), mb(b[GMR_F_READINGS]), mb(b[GMR_F_BILLS]), mb(b[GMR_F_WEATHER]));
    printf("  semi          %9.3f MB  events.jsonl, %llu lines\n", mb(j), (unsigned long long)r->lines[GMR_F_EVENTS]);
    printf("  unstructured  %9.3f MB  %llu blobs in %llu pack%s, manifest.csv\n", mb(u), (unsigned long long)r->blobs,
           (unsigned long long)r->packs, r->packs == 1 ? "" : "s");
    if (s > 0)
        printf("  split         %.0f : %.1f : %.1f (asked %u : %u : %u)\n", 100.0, 100.0 * (double)j / (double)s,
               100.0 * (double)u / (double)s, o->mix[0], o->mix[1], o->mix[2]);
    printf("  ground truth  labels.csv, corrupt.csv (%llu defects)\n", (unsigned long long)r->defects);
    printf("  time (s)      customers %.3f  weather %.3f  blobs %.3f  total %.3f\n", r->t_pass[0], r->t_pass[1],
           r->t_pass[2], r->t_total);
    if (r->t_gen_customers > 0)
        printf("  speed         customers pass %.1f MB/s per rank generating; all files %.1f MB/s\n",
               mb(r->customers_pass_bytes) / r->t_gen_customers, mb(s + j + u) / (r->t_total > 0 ? r->t_total : 1e-9));
}

int gmr_cli_gen_power(MPI_Comm comm, int argc, char **argv)
{
    gmr__power_opts o;
    gmr__power_report r;
    char msg[256] = "";
    int rank = 0, quiet = 0;
    gmr_err err;

    MPI_Comm_rank(comm, &rank);
    if (rank != 0) gmr_log_set_rank(rank);
    gmr__power_opts_init(&o);
    if (parse(argc, argv, &o, &quiet, msg, sizeof msg) != 0) {
        if (rank == 0) fprintf(stderr, "gridmr gen: %s\ntry 'gridmr gen --help' for more information\n", msg);
        return 2;
    }
    err = gmr__power_generate(comm, &o, &r);
    if (err) {
        const char *m = gmr_err_message();
        if (!gmr_err_is_remote()) {
            if (gmr_log_get_level() >= GMR_LOG_DEBUG)
                fprintf(stderr, "gridmr gen: %s\n", m);
            else
                fprintf(stderr, "gridmr gen: %.*s\n", (int)strcspn(m, "\n"), m);
        }
        return err == GMR_ERR_ARG ? 2 : 1;
    }
    if (rank == 0 && !quiet) print_report(&o, &r);
    return 0;
}
