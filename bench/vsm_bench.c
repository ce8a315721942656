/* vsm_bench.c: the time of one operating point of `gridmr vsm` (bench/vsm): making it and its
 * continuation power flow to the nose (whose base power flow gives the features), in one
 * process, for N points of a case made exactly as the batch makes them (gmr_vsm_point_case,
 * default options). Prints the median, mean and 90th percentile per point (wall and CPU) and
 * the mean CPF steps, as `key value` lines. Serial: no MPI is initialised (the power flow never
 * calls it).
 *
 * Only the points whose CPF reaches the nose enter the statistics (an infeasible point fails
 * its power flow after max_iter iterations: a different cost, counted in `failed`).
 *
 *   vsm_bench CASE.m N SEED [--qlim] [--level LO,HI] [--spread S] */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridmr/pf.h"
#include "gridmr/vsm.h"

static double now(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void stats(const char *name, double *v, int n)
{
    double mean = 0;
    for (int i = 0; i < n; i++) mean += v[i];
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("%s_median_ms %.3f\n%s_mean_ms %.3f\n%s_p90_ms %.3f\n", name, 1e3 * v[n / 2], name, 1e3 * mean / n, name,
           1e3 * v[(int)(0.9 * (n - 1))]);
}

int main(int argc, char **argv)
{
    gmr_pf_case base = NULL;
    gmr_vsm_options o;
    double *wall, *cpu, steps = 0;
    int n, failed = 0, ok = 0;
    if (argc < 4) {
        fprintf(stderr, "usage: vsm_bench CASE.m N SEED [--qlim] [--level LO,HI] [--spread S]\n");
        return 2;
    }
    n = atoi(argv[2]);
    if (n < 1 || gmr_pf_case_read(argv[1], &base)) {
        fprintf(stderr, "vsm_bench: %s\n", n < 1 ? "N must be positive" : gmr_err_message());
        return 1;
    }
    gmr_vsm_options_init(&o);
    o.seed = strtoull(argv[3], NULL, 10);
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--qlim") == 0) o.cpf.qlim = 1;
        else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc && sscanf(argv[i + 1], "%lf,%lf", &o.level_lo, &o.level_hi) == 2) i++;
        else if (strcmp(argv[i], "--spread") == 0 && i + 1 < argc) o.load_spread = atof(argv[++i]);
        else {
            fprintf(stderr, "vsm_bench: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    wall = malloc((size_t)n * sizeof *wall);
    cpu = malloc((size_t)n * sizeof *cpu);
    if (!wall || !cpu) return 1;
    for (int k = 0; k < n; k++) {
        gmr_pf_case c = NULL, t = NULL;
        gmr_cpf_result cr;
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        if (gmr_vsm_point_case(base, &o, (uint64_t)k, &c) || gmr_pf_case_copy(c, &t) || gmr_pf_case_scale(t, o.scale))
            return 1;
        if (gmr_cpf_run(c, t, &o.cpf, &cr) == GMR_OK) {
            steps += cr.steps;
            gmr_cpf_result_free(&cr);
            wall[ok] = now(CLOCK_MONOTONIC) - w0;
            cpu[ok] = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
            ok++;
        } else {
            failed++;
        }
        gmr_pf_case_destroy(&t);
        gmr_pf_case_destroy(&c);
    }
    printf("case %s\npoints %d\nfailed %d\nbuses %d\nsteps_mean %.2f\n", argv[1], n, failed, gmr_pf_case_nbus(base),
           steps / (ok > 0 ? ok : 1));
    if (ok == 0) return 1;
    stats("point_wall", wall, ok);
    stats("point_cpu", cpu, ok);
    gmr_pf_case_destroy(&base);
    free(wall);
    free(cpu);
    return 0;
}
