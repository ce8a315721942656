/* pf_cli.c: `gridmr pf` and `gridmr cpf`, the serial front ends of the power flow and of the
 * continuation power flow (src/pf/, docs/pf.md), and the dispatch to `gridmr vsm` (vsm_cli.c).
 *
 *   gridmr pf  --case FILE [--qlim] [--tol T] [--max-iter N]
 *              prints `bus Vm_pu Va_deg` then one line per bus (bus number, pu, degrees)
 *   gridmr cpf --case FILE --scale F [--qlim] [--step S] [--no-adapt]
 *              target = every load (P and Q) and every generator's output times F; prints
 *              `lambda <value>` (the nose), then `mw_margin`, `loading`, `steps`, `stop`
 *
 * Errors: a usage error exits 2, a malformed case file 65 with "FILE:LINE: what", a case with no
 * solution (infeasible, islands, no slack) 65 too with the reason, anything else 1. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "gridmr/pf.h"
#include "pf_cli.h"


int gmr_cli_pf_is_command(const char *cmd)
{
    return cmd && (strcmp(cmd, "pf") == 0 || strcmp(cmd, "cpf") == 0 || strcmp(cmd, "vsm") == 0);
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int gmr_cli_pf_needs_mpi(int argc, char **argv)
{
    return strcmp(argv[0], "vsm") == 0 && !wants_help(argc, argv);
}

static void usage(FILE *f, const char *cmd)
{
    if (strcmp(cmd, "pf") == 0)
        fprintf(f,
                "usage: gridmr pf --case FILE [--qlim] [--tol T] [--max-iter N]\n"
                "\n"
                "AC power flow (Newton-Raphson, polar form, sparse Jacobian factorised by KLU) of a MATPOWER\n"
                "version-2 case file. Prints `bus Vm_pu Va_deg` and one line per bus.\n"
                "  --case FILE    the case (mpc.baseMVA, mpc.bus, mpc.gen, mpc.branch)\n"
                "  --qlim         enforce generator reactive-power limits (PV buses turn PQ)\n"
                "  --tol T        largest mismatch in pu (default %g)\n"
                "  --max-iter N   Newton iterations (default %d)\n"
                "exit status: 0 ok, 1 error, 2 usage, 65 bad case file or no solution\n",
                GMR_PF_DEFAULT_TOL, GMR_PF_DEFAULT_MAX_ITER);
    else
        fprintf(f,
                "usage: gridmr cpf --case FILE --scale F [--qlim] [--step S] [--no-adapt]\n"
                "\n"
                "Continuation power flow from the case towards the target case whose every load (P and Q)\n"
                "and every generator's output are multiplied by F (pseudo-arc-length, predictor-corrector,\n"
                "stopping at the nose). The loading at the nose is 1 + lambda (F - 1) times the base.\n"
                "Prints `lambda <value>`, then mw_margin (MW of load added at the nose), loading, steps, stop.\n"
                "  --case FILE    the base case\n"
                "  --scale F      the target's factor (F != 1)\n"
                "  --qlim         enforce generator reactive-power limits\n"
                "  --step S       first continuation step (default %g)\n"
                "  --no-adapt     keep the step fixed (halved only when the corrector fails)\n"
                "  --max-steps N  continuation steps before giving up (default %d)\n"
                "exit status: 0 ok, 1 error, 2 usage, 65 bad case file or no solution\n",
                GMR_CPF_DEFAULT_STEP, GMR_CPF_DEFAULT_MAX_STEPS);
}

static int parse_num(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end == s || *end || errno == ERANGE || !isfinite(*v) ? -1 : 0;
}

/* The exit status of a library error; prints the first line of its message. */
static int fail_with(const char *cmd, gmr_err e)
{
    const char *msg = gmr_err_message();
    fprintf(stderr, "gridmr %s: %.*s\n", cmd, (int)strcspn(msg, "\n"), msg);
    if (e == GMR_ERR_DATA || e == GMR_ERR_STATE) return EXIT_DATAERR;
    if (e == GMR_ERR_ARG) return EXIT_USAGE;
    return 1;
}

static int run_pf_cpf(const char *cmd, int argc, char **argv)
{
    const char *path = NULL;
    double scale = NAN, v;
    gmr_pf_options po;
    gmr_cpf_options co;
    gmr_pf_case base = NULL, target = NULL;
    gmr_err e;
    int status = 0, cpf = strcmp(cmd, "cpf") == 0;
    gmr_pf_options_init(&po);
    gmr_cpf_options_init(&co);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--qlim") == 0) {
            po.qlim = co.qlim = 1;
            continue;
        }
        if (cpf && strcmp(a, "--no-adapt") == 0) {
            co.adapt = 0;
            continue;
        }
        if (i + 1 >= argc || strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "gridmr %s: %s '%s'\nrun `gridmr %s --help` for the options\n", cmd,
                    strncmp(a, "--", 2) ? "unexpected argument" : "missing value after", a, cmd);
            return EXIT_USAGE;
        }
        if (strcmp(a, "--case") == 0) {
            path = argv[++i];
            continue;
        }
        if (parse_num(argv[i + 1], &v)) {
            fprintf(stderr, "gridmr %s: %s: '%s' is not a number\n", cmd, a, argv[i + 1]);
            return EXIT_USAGE;
        }
        i++;
        if (!cpf && strcmp(a, "--tol") == 0 && v > 0) po.tol = v;
        else if (!cpf && strcmp(a, "--max-iter") == 0 && v >= 1 && v <= 1000) po.max_iter = (int)v;
        else if (cpf && strcmp(a, "--scale") == 0 && v > 0 && v != 1) scale = v;
        else if (cpf && strcmp(a, "--step") == 0 && v > 0 && v <= 10) {
            co.step = v;
            if (co.step_max < v) co.step_max = v;
            if (co.step_min > v) co.step_min = v;
        } else if (cpf && strcmp(a, "--max-steps") == 0 && v >= 1 && v <= 1e6) co.max_steps = (int)v;
        else {
            fprintf(stderr, "gridmr %s: unknown option '%s' or value '%s' out of range\nrun `gridmr %s --help` for the options\n",
                    cmd, a, argv[i], cmd);
            return EXIT_USAGE;
        }
    }
    if (!path || (cpf && isnan(scale))) {
        fprintf(stderr, "gridmr %s: --case FILE%s is required\nrun `gridmr %s --help` for the options\n", cmd,
                cpf ? " and --scale F (> 0, not 1)" : "", cmd);
        return EXIT_USAGE;
    }
    e = gmr_pf_case_read(path, &base);
    if (e) return fail_with(cmd, e);
    if (!cpf) {
        gmr_pf_result r;
        gmr_pf_bus b;
        e = gmr_pf_solve(base, &po, &r);
        if (e) {
            status = fail_with(cmd, e);
        } else {
            printf("bus Vm_pu Va_deg\n");
            for (int i = 0; i < r.nbus; i++) {
                gmr_pf_case_get_bus(base, i, &b);
                printf("%d %.10f %.10f\n", b.id, r.vm[i], r.va_deg[i]);
            }
            gmr_pf_result_free(&r);
        }
    } else {
        gmr_cpf_result r;
        e = gmr_pf_case_copy(base, &target);
        if (!e) e = gmr_pf_case_scale(target, scale);
        if (!e) e = gmr_cpf_run(base, target, &co, &r);
        if (e) {
            status = fail_with(cmd, e);
        } else {
            printf("lambda %.6f\n", r.lambda);
            printf("mw_margin %.4f\n", r.mw_margin);
            printf("loading %.6f\n", 1 + r.lambda * (scale - 1));
            printf("steps %d\n", r.steps);
            printf("limited %d\n", r.nlimited);
            printf("stop %s\n", r.stop == GMR_CPF_NOSE ? "nose" : "no-pv-bus-left");
            gmr_cpf_result_free(&r);
        }
    }
    gmr_pf_case_destroy(&target);
    gmr_pf_case_destroy(&base);
    return status;
}

int gmr_cli_pf(MPI_Comm comm, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        if (strcmp(argv[0], "vsm") == 0) gmr__cli_vsm_usage(stdout);
        else usage(stdout, argv[0]);
        return 0;
    }
    if (strcmp(argv[0], "vsm") == 0) return gmr__cli_vsm(comm, argc, argv);
    return run_pf_cpf(argv[0], argc, argv);
}
