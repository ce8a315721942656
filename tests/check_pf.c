/* check_pf.c - specification tests for the power flow and the continuation power flow (src/pf/).
 * Serial (the solvers are not collective). Data: tests/data/ieee (or $GMR_TEST_DATA), run from
 * the repository's root as tests/run.sh does.
 *
 * What must hold:
 *   - the base-case power flow of case9 and case14 equals MATPOWER's solution (pf-case9.csv,
 *     pf-case14.csv: Newton to 1e-12 in MATPOWER 8) to 1e-6 pu and 1e-4 degrees;
 *   - case118 and case300 converge, with every mismatch recomputed here from the voltages and an
 *     admittance matrix built here (dense, independently of sys.c) below 1e-8 pu;
 *   - the analytic Jacobian (plain and augmented with lambda and the arc-length row) equals
 *     central finite differences of the mismatches, at a perturbed state, on a case with tap
 *     ratios, a phase shifter and shunts;
 *   - MATPOWER's CPF test (t_cpf): t_case9_pfv2 with generator 1's Qmax = 200, target = base x 2.5,
 *     step 0.02: the nose at lambda = 0.99025 without reactive limits and 0.795809 with them
 *     (to 1e-3); and without limits the nose loading 1 + lambda (F - 1) does not depend on F
 *     (the same direction), to 1e-5;
 *   - with reactive limits every generator at a PV or slack bus ends within its limits, and the
 *     limited ones at a limit;
 *   - bad case files fail with GMR_ERR_DATA and a message naming file and line; islands, no
 *     slack and an infeasible loading fail with a clear message, never a hang;
 *   - a batch's operating point depends only on (seed, index): made twice, or after other
 *     points, it is the same; another seed or index gives another; its loads stay within the
 *     documented ranges; the feature names follow the documented layout. */
#define _XOPEN_SOURCE 700
#include <complex.h>
#include <math.h>

#include "gridmr/pf.h"
#include "gridmr/vsm.h"
#include "pf/pf_impl.h"
#include "testutil.h"

static char data_dir[512];

static void data_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/ieee/%s", data_dir, name);
}

static gmr_pf_case load(const char *name)
{
    char path[700];
    gmr_pf_case c = NULL;
    gmr_err e;
    data_path(path, sizeof path, name);
    e = gmr_pf_case_read(path, &c);
    ck_assert_msg(e == GMR_OK, "%s: %s", path, gmr_err_message());
    return c;
}

/* MATPOWER's solution: bus,Vm_pu,Va_deg lines after a header. */
static int read_solution(const char *name, int *bus, double *vm, double *va, int cap)
{
    char path[700], line[256];
    FILE *f;
    int n = 0;
    data_path(path, sizeof path, name);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert(fgets(line, sizeof line, f) != NULL);
    while (n < cap && fgets(line, sizeof line, f))
        if (sscanf(line, "%d,%lf,%lf", &bus[n], &vm[n], &va[n]) == 3) n++;
    fclose(f);
    return n;
}

static void check_against_matpower(const char *casefile, const char *solfile)
{
    gmr_pf_case c = load(casefile);
    gmr_pf_result r;
    int bus[400], n;
    double vm[400], va[400], dvm = 0, dva = 0;
    ck_assert_msg(gmr_pf_solve(c, NULL, &r) == GMR_OK, "%s", gmr_err_message());
    n = read_solution(solfile, bus, vm, va, 400);
    ck_assert_int_eq(n, gmr_pf_case_nbus(c));
    for (int k = 0; k < n; k++) {
        int i = gmr_pf_case_bus_index(c, bus[k]);
        ck_assert_msg(i >= 0, "bus %d of %s is not in %s", bus[k], solfile, casefile);
        dvm = fmax(dvm, fabs(r.vm[i] - vm[k]));
        dva = fmax(dva, fabs(r.va_deg[i] - va[k]));
        ck_assert_msg(fabs(r.vm[i] - vm[k]) <= 1e-6, "%s bus %d: Vm %.10f, MATPOWER %.10f", casefile, bus[k], r.vm[i], vm[k]);
        ck_assert_msg(fabs(r.va_deg[i] - va[k]) <= 1e-4, "%s bus %d: Va %.10f, MATPOWER %.10f", casefile, bus[k],
                      r.va_deg[i], va[k]);
    }
    ck_assert_msg(r.iterations <= 10, "%s: %d Newton iterations", casefile, r.iterations);
    gmr_pf_result_free(&r);
    gmr_pf_case_destroy(&c);
}

START_TEST(t_pf_case9) { check_against_matpower("case9.m", "pf-case9.csv"); }
END_TEST

START_TEST(t_pf_case14) { check_against_matpower("case14.m", "pf-case14.csv"); }
END_TEST

/* Mismatches from a dense admittance matrix built here from the branch records (MATPOWER's
 * formulas written out again), at the solver's voltages. */
static double independent_mismatch(gmr_pf_case c, const gmr_pf_result *r)
{
    int nb = gmr_pf_case_nbus(c), ng = gmr_pf_case_ngen(c), nl = gmr_pf_case_nbranch(c);
    double base = gmr_pf_case_base_mva(c), worst = 0;
    double complex *y = calloc((size_t)nb * (size_t)nb, sizeof *y), *v = calloc((size_t)nb, sizeof *v);
    double *p = calloc((size_t)nb, sizeof *p), *q = calloc((size_t)nb, sizeof *q);
    int *hasgen = calloc((size_t)nb, sizeof *hasgen);
    ck_assert(y && v && p && q && hasgen);
    for (int i = 0; i < nb; i++) {
        gmr_pf_bus b;
        gmr_pf_case_get_bus(c, i, &b);
        y[(size_t)i * nb + i] += (b.gs + I * b.bs) / base;
        p[i] = -b.pd / base;
        q[i] = -b.qd / base;
        v[i] = r->vm[i] * cexp(I * r->va_deg[i] * M_PI / 180);
    }
    for (int l = 0; l < nl; l++) {
        gmr_pf_branch br;
        double complex ys, t;
        gmr_pf_case_get_branch(c, l, &br);
        if (!br.status) continue;
        ys = 1 / (br.r + I * br.x);
        t = (br.ratio ? br.ratio : 1) * cexp(I * br.shift_deg * M_PI / 180);
        y[(size_t)br.from * nb + br.from] += (ys + I * br.b / 2) / (t * conj(t));
        y[(size_t)br.to * nb + br.to] += ys + I * br.b / 2;
        y[(size_t)br.from * nb + br.to] += -ys / conj(t);
        y[(size_t)br.to * nb + br.from] += -ys / t;
    }
    for (int g = 0; g < ng; g++) {
        gmr_pf_gen gn;
        gmr_pf_case_get_gen(c, g, &gn);
        if (!gn.status) continue;
        p[gn.bus] += r->pg[g] / base;
        q[gn.bus] += r->qg[g] / base;
        hasgen[gn.bus] = 1;
    }
    for (int i = 0; i < nb; i++) {
        double complex ii = 0, s;
        for (int k = 0; k < nb; k++) ii += y[(size_t)i * nb + k] * v[k];
        s = v[i] * conj(ii);
        worst = fmax(worst, fabs(creal(s) - p[i]));
        worst = fmax(worst, fabs(cimag(s) - q[i]));
    }
    free(y);
    free(v);
    free(p);
    free(q);
    free(hasgen);
    return worst;
}

static void check_converges(const char *casefile, int qlim)
{
    gmr_pf_case c = load(casefile);
    gmr_pf_options o;
    gmr_pf_result r;
    double m;
    gmr_pf_options_init(&o);
    o.qlim = qlim;
    ck_assert_msg(gmr_pf_solve(c, &o, &r) == GMR_OK, "%s: %s", casefile, gmr_err_message());
    m = independent_mismatch(c, &r);
    ck_assert_msg(m < 1e-8, "%s: largest mismatch recomputed from the voltages %.3g pu", casefile, m);
    if (qlim)
        for (int g = 0; g < gmr_pf_case_ngen(c); g++) {
            gmr_pf_gen gn;
            gmr_pf_case_get_gen(c, g, &gn);
            if (!gn.status) continue;
            ck_assert_msg(r.qg[g] <= gn.qmax + 1e-6 && r.qg[g] >= gn.qmin - 1e-6,
                          "%s generator %d: Qg %.6f outside [%g, %g] with --qlim", casefile, g + 1, r.qg[g], gn.qmin,
                          gn.qmax);
        }
    gmr_pf_result_free(&r);
    gmr_pf_case_destroy(&c);
}

START_TEST(t_pf_large) {
    check_converges("case118.m", 0);
    check_converges("case300.m", 0);
    check_converges("case14.m", 1);
    check_converges("case118.m", 1);
    check_converges("case300.m", 1);
}
END_TEST

/* The analytic Jacobian against central differences of the mismatches. */
static void fd_check(gmr_pf_case base, gmr_pf_case target, int aug)
{
    gmr__pf_sys *s = NULL;
    int n, nr;
    double *jd, *fp, *fm, *tmp, h = 1e-6, worst = 0;
    gmr_err e = gmr__pf_sys_create(base, target, &s);
    ck_assert_msg(e == GMR_OK, "%s", gmr_err_message());
    rng_seed(42);
    for (int i = 0; i < s->nb; i++) { /* a state away from the solution */
        s->va[i] += 0.2 * ((double)rng_below(1000) / 1000 - 0.5);
        s->vm[i] *= 1 + 0.1 * ((double)rng_below(1000) / 1000 - 0.5);
        s->za[i] = (double)rng_below(1000) / 1000 - 0.5;
        s->zm[i] = (double)rng_below(1000) / 1000 - 0.5;
        s->va_prev[i] = s->va[i] - 0.01;
        s->vm_prev[i] = s->vm[i] + 0.01;
    }
    s->lambda = 0.37;
    s->lambda_prev = 0.3;
    s->zl = 0.8;
    s->sigma = 0.05;
    jd = malloc((size_t)(2 * s->nb + 1) * (size_t)(2 * s->nb + 1) * sizeof *jd);
    fp = malloc((size_t)(2 * s->nb + 1) * sizeof *fp);
    fm = malloc((size_t)(2 * s->nb + 1) * sizeof *fm);
    tmp = malloc((size_t)(2 * s->nb + 1) * (size_t)(2 * s->nb + 1) * sizeof *tmp);
    ck_assert(jd && fp && fm && tmp);
    ck_assert(gmr__pf_jacobian_dense(s, aug, jd, fp) == GMR_OK);
    n = s->n;
    nr = n + aug;
    ck_assert_int_gt(n, 0);
    for (int col = 0; col < nr; col++) {
        double *x = NULL;
        for (int i = 0; i < s->nb; i++) {
            if (s->ang[i] == col) x = &s->va[i];
            if (s->mag[i] == col) x = &s->vm[i];
        }
        if (col == n) x = &s->lambda;
        ck_assert(x != NULL);
        *x += h;
        gmr__pf_jacobian_dense(s, aug, tmp, fp);
        *x -= 2 * h;
        gmr__pf_jacobian_dense(s, aug, tmp, fm);
        *x += h;
        for (int row = 0; row < nr; row++) {
            double fd = (fp[row] - fm[row]) / (2 * h), an = jd[(size_t)row * nr + col];
            double d = fabs(fd - an) / fmax(1, fabs(an));
            worst = fmax(worst, d);
            REQUIRE(d < 1e-6, "J[%d][%d] = %.10g, finite differences %.10g", row, col, an, fd);
        }
    }
    ck_assert_msg(worst < 1e-6, "largest relative difference %.3g", worst);
    free(jd);
    free(fp);
    free(fm);
    free(tmp);
    gmr__pf_sys_destroy(&s);
}

START_TEST(t_jacobian_fd)
{
    gmr_pf_case c = load("case14.m"), t = NULL;
    gmr_pf_branch br;
    gmr_pf_bus b;
    /* a phase shifter on a tapped transformer, a shunt and a line with charging */
    gmr_pf_case_get_branch(c, 9, &br);
    br.ratio = 0.97;
    br.shift_deg = -7.5;
    ck_assert(gmr_pf_case_set_branch(c, 9, &br) == GMR_OK);
    gmr_pf_case_get_bus(c, 3, &b);
    b.gs = 3;
    b.bs = -12;
    ck_assert(gmr_pf_case_set_bus(c, 3, &b) == GMR_OK);
    ck_assert(gmr_pf_case_copy(c, &t) == GMR_OK);
    ck_assert(gmr_pf_case_scale(t, 1.7) == GMR_OK);
    fd_check(c, NULL, 0);
    fd_check(c, t, 1);
    gmr_pf_case_destroy(&t);
    gmr_pf_case_destroy(&c);
    c = load("case118.m");
    ck_assert(gmr_pf_case_copy(c, &t) == GMR_OK);
    ck_assert(gmr_pf_case_scale(t, 2) == GMR_OK);
    fd_check(c, t, 1);
    gmr_pf_case_destroy(&t);
    gmr_pf_case_destroy(&c);
}
END_TEST

static double cpf_lambda(gmr_pf_case c, double scale, int qlim, double step, int adapt, double *loading)
{
    gmr_pf_case t = NULL;
    gmr_cpf_options o;
    gmr_cpf_result r;
    double lam;
    ck_assert(gmr_pf_case_copy(c, &t) == GMR_OK);
    ck_assert(gmr_pf_case_scale(t, scale) == GMR_OK);
    gmr_cpf_options_init(&o);
    o.qlim = qlim;
    o.step = step;
    o.adapt = adapt;
    ck_assert_msg(gmr_cpf_run(c, t, &o, &r) == GMR_OK, "%s", gmr_err_message());
    ck_assert_int_eq(r.stop, GMR_CPF_NOSE);
    lam = r.lambda;
    if (loading) *loading = 1 + lam * (scale - 1);
    gmr_cpf_result_free(&r);
    gmr_pf_case_destroy(&t);
    return lam;
}

START_TEST(t_cpf_matpower)
{
    gmr_pf_case c = load("t_case9_pfv2.m");
    gmr_pf_gen g;
    double lam;
    gmr_pf_case_get_gen(c, 0, &g);
    g.qmax = 200;
    ck_assert(gmr_pf_case_set_gen(c, 0, &g) == GMR_OK);
    for (int adapt = 0; adapt <= 1; adapt++) {
        lam = cpf_lambda(c, 2.5, 0, 0.02, adapt, NULL);
        ck_assert_msg(fabs(lam - 0.99025) <= 1e-3, "no limits, adapt %d: lambda %.6f, MATPOWER 0.99025", adapt, lam);
        lam = cpf_lambda(c, 2.5, 1, 0.02, adapt, NULL);
        ck_assert_msg(fabs(lam - 0.795809) <= 1e-3, "with limits, adapt %d: lambda %.6f, MATPOWER 0.795809", adapt, lam);
    }
    gmr_pf_case_destroy(&c);
}
END_TEST

START_TEST(t_cpf_direction)
{
    const char *cases[] = {"case14.m", "case118.m"};
    for (int k = 0; k < 2; k++) {
        gmr_pf_case c = load(cases[k]);
        double l2, l3;
        cpf_lambda(c, 2, 0, 0.05, 1, &l2);
        cpf_lambda(c, 3.5, 0, 0.1, 1, &l3);
        ck_assert_msg(fabs(l2 - l3) < 1e-5, "%s: the nose loading depends on the scale: %.8f (x2), %.8f (x3.5)",
                      cases[k], l2, l3);
        ck_assert_msg(l2 > 1, "%s: nose loading %.6f", cases[k], l2);
        gmr_pf_case_destroy(&c);
    }
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------------ */

#define HEAD "function mpc = t\nmpc.version = '2';\nmpc.baseMVA = 100;\n"
#define BUS "mpc.bus = [\n 1 3 0 0 0 0 1 1 0 345 1 1.1 0.9;\n 2 1 50 10 0 0 1 1 0 345 1 1.1 0.9;\n];\n"
#define GEN "mpc.gen = [\n 1 0 0 300 -300 1 100 1 250 10;\n];\n"
#define BR "mpc.branch = [\n 1 2 0.01 0.1 0.02 0 0 0 0 0 1;\n];\n"

static void expect_bad(const char *text, gmr_err code, const char *needle)
{
    gmr_pf_case c = NULL;
    gmr_err e = gmr_pf_case_parse(text, strlen(text), "bad.m", &c);
    ck_assert_msg(e == code, "expected %s, got %s (%s) for:\n%s", gmr_err_name(code), gmr_err_name(e), gmr_err_message(),
                  text);
    ck_assert_msg(strstr(gmr_err_message(), needle) != NULL, "message '%s' lacks '%s'", gmr_err_message(), needle);
    ck_assert(c == NULL);
}

START_TEST(t_bad_cases)
{
    gmr_pf_case c = NULL;
    const char *good = HEAD BUS GEN BR;
    ck_assert_msg(gmr_pf_case_parse(good, strlen(good), "good.m", &c) == GMR_OK, "%s", gmr_err_message());
    ck_assert_int_eq(gmr_pf_case_nbus(c), 2);
    gmr_pf_case_destroy(&c);
    expect_bad("mpc.baseMVA = 100;\n" BUS GEN BR, GMR_ERR_DATA, "no mpc.version");
    expect_bad("mpc.version = '1';\nmpc.baseMVA = 100;\n" BUS GEN BR, GMR_ERR_DATA, "bad.m:1: mpc.version is not '2'");
    expect_bad(HEAD "mpc.bus = [\n 1 3 0 0 0 0 1 1 0 345 1 1.1;\n];\n" GEN BR, GMR_ERR_DATA,
               "bad.m:5: mpc.bus row has 12 columns, expected at least 13");
    expect_bad(HEAD "mpc.bus = [\n 1 3 0 0 0 0 1 1 0 345 1 1.1 0.9;\n 2 1 5x 10 0 0 1 1 0 345 1 1.1 0.9;\n];\n" GEN BR,
               GMR_ERR_DATA, "bad.m:6: mpc.bus: '5x' is not a number");
    expect_bad(HEAD BUS "mpc.gen = [\n 7 0 0 300 -300 1 100 1 250 10;\n];\n" BR, GMR_ERR_DATA,
               "bad.m:9: generator at bus 7: no such bus");
    expect_bad(HEAD BUS GEN "mpc.branch = [\n 1 9 0.01 0.1 0.02 0 0 0 0 0 1;\n];\n", GMR_ERR_DATA,
               "bad.m:12: branch to bus 9: no such bus");
    expect_bad(HEAD "mpc.bus = [\n 1 1 0 0 0 0 1 1 0 345 1 1.1 0.9;\n 2 1 50 10 0 0 1 1 0 345 1 1.1 0.9;\n];\n" GEN BR,
               GMR_ERR_DATA, "no slack bus");
    expect_bad(HEAD "mpc.bus = [\n 1 3 0 0 0 0 1 1 0 345 1 1.1 0.9;\n 1 1 50 10 0 0 1 1 0 345 1 1.1 0.9;\n];\n" GEN BR,
               GMR_ERR_DATA, "bus 1 is defined twice");
    expect_bad(HEAD "mpc.bus = [\n 1 7 0 0 0 0 1 1 0 345 1 1.1 0.9;\n];\n" GEN BR, GMR_ERR_DATA, "bad.m:5: bus 1 has type 7");
    expect_bad(HEAD BUS GEN "mpc.branch = [\n 1 2 0.01 0.1 0.02 0 0 0 0 0 1;\n", GMR_ERR_DATA,
               "the file ends inside mpc.branch");
    expect_bad(HEAD BUS GEN "mpc.branch = [\n 1 2 0 0 0.02 0 0 0 0 0 1;\n];\n", GMR_ERR_DATA, "zero impedance");
    expect_bad(HEAD BUS GEN, GMR_ERR_DATA, "no mpc.branch");
    expect_bad("hello world\n", GMR_ERR_DATA, "bad.m:1: expected `mpc.FIELD = ...`");
    expect_bad(HEAD GEN BR, GMR_ERR_DATA, "no buses");
    {
        gmr_err e = gmr_pf_case_read("/nonexistent/case.m", &c);
        ck_assert_int_eq(e, GMR_ERR_IO);
        ck_assert(strstr(gmr_err_message(), "/nonexistent/case.m") != NULL);
    }
    /* fields the power flow does not use are skipped, brackets and quotes included */
    {
        const char *t = HEAD BUS GEN BR "mpc.gencost = [\n 2 0 0 3 0.1 1 0;\n];\nmpc.bus_name = {\n 'a]b';\n 'c';\n};\n";
        ck_assert_msg(gmr_pf_case_parse(t, strlen(t), "extra.m", &c) == GMR_OK, "%s", gmr_err_message());
        gmr_pf_case_destroy(&c);
    }
}
END_TEST

/* Every prefix of a real case file, and the file with bytes overwritten, parse to a case or to
 * GMR_ERR_DATA with a file:line message: never a crash (run under SANITIZE=address too). */
START_TEST(t_parser_robust)
{
    char path[700], *text;
    FILE *f;
    long len;
    int ok = 0, bad = 0;
    data_path(path, sizeof path, "case14.m");
    f = fopen(path, "rb");
    ck_assert(f != NULL);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)len + 1);
    ck_assert(text && fread(text, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    for (long cut = 0; cut <= len; cut += 3) {
        gmr_pf_case c = NULL;
        gmr_err e = gmr_pf_case_parse(text, (size_t)cut, "cut.m", &c);
        REQUIRE(e == GMR_OK || e == GMR_ERR_DATA, "prefix %ld: %s", cut, gmr_err_name(e));
        REQUIRE(e != GMR_ERR_DATA || strncmp(gmr_err_message(), "cut.m", 5) == 0, "prefix %ld: '%s'", cut, gmr_err_message());
        if (e == GMR_OK) ok++;
        else bad++;
        gmr_pf_case_destroy(&c);
    }
    ck_assert_int_gt(bad, 100);
    rng_seed(7);
    for (int k = 0; k < 2000; k++) {
        char *t = malloc((size_t)len + 1);
        gmr_pf_case c = NULL;
        gmr_err e;
        static const char junk[] = "[];%'{}-e.,\n\t x9";
        memcpy(t, text, (size_t)len);
        for (int j = 0; j < 3; j++) t[rng_below((uint64_t)len)] = junk[rng_below(sizeof junk - 1)];
        e = gmr_pf_case_parse(t, (size_t)len, "flip.m", &c);
        REQUIRE(e == GMR_OK || e == GMR_ERR_DATA, "flip %d: %s", k, gmr_err_name(e));
        if (e == GMR_OK) { /* what parsed must solve or fail cleanly */
            gmr_pf_result r;
            e = gmr_pf_solve(c, NULL, &r);
            REQUIRE(e == GMR_OK || e == GMR_ERR_DATA || e == GMR_ERR_STATE, "flip %d solve: %s", k, gmr_err_name(e));
            if (e == GMR_OK) gmr_pf_result_free(&r);
        }
        gmr_pf_case_destroy(&c);
        free(t);
    }
    free(text);
    (void)ok;
}
END_TEST

START_TEST(t_ill_posed)
{
    gmr_pf_case c = load("case14.m"), t = NULL;
    gmr_pf_result r;
    gmr_pf_branch br;
    gmr_err e;
    /* bus 8 hangs on branch 7-8 only: take it out and bus 8 is an island */
    for (int l = 0; l < gmr_pf_case_nbranch(c); l++) {
        gmr_pf_case_get_branch(c, l, &br);
        if (br.to == gmr_pf_case_bus_index(c, 8) || br.from == gmr_pf_case_bus_index(c, 8)) {
            br.status = 0;
            gmr_pf_case_set_branch(c, l, &br);
        }
    }
    e = gmr_pf_solve(c, NULL, &r);
    ck_assert_int_eq(e, GMR_ERR_DATA);
    ck_assert_msg(strstr(gmr_err_message(), "islands: bus 8 is not connected") != NULL, "%s", gmr_err_message());
    gmr_pf_case_destroy(&c);
    /* far beyond the nose: Newton gives up with a clear message */
    c = load("case9.m");
    ck_assert(gmr_pf_case_scale(c, 6) == GMR_OK);
    e = gmr_pf_solve(c, NULL, &r);
    ck_assert_int_eq(e, GMR_ERR_STATE);
    ck_assert_msg(strstr(gmr_err_message(), "did not converge") != NULL, "%s", gmr_err_message());
    /* and the CPF from it reports the same */
    ck_assert(gmr_pf_case_copy(c, &t) == GMR_OK);
    ck_assert(gmr_pf_case_scale(t, 2) == GMR_OK);
    {
        gmr_cpf_result cr;
        e = gmr_cpf_run(c, t, NULL, &cr);
        ck_assert_int_eq(e, GMR_ERR_STATE);
    }
    gmr_pf_case_destroy(&t);
    gmr_pf_case_destroy(&c);
    /* a target with the base's loads: nothing to continue towards */
    c = load("case9.m");
    ck_assert(gmr_pf_case_copy(c, &t) == GMR_OK);
    {
        gmr_cpf_result cr;
        e = gmr_cpf_run(c, t, NULL, &cr);
        ck_assert_int_eq(e, GMR_ERR_DATA);
    }
    gmr_pf_case_destroy(&t);
    gmr_pf_case_destroy(&c);
}
END_TEST

START_TEST(t_vsm_points)
{
    gmr_pf_case base = load("case14.m"), a = NULL, b = NULL, c = NULL;
    gmr_vsm_options o;
    char name[64];
    double tot = 0, tot_a = 0;
    gmr_vsm_options_init(&o);
    o.seed = 77;
    ck_assert(gmr_vsm_point_case(base, &o, 5, &a) == GMR_OK);
    ck_assert(gmr_vsm_point_case(base, &o, 6, &c) == GMR_OK);
    ck_assert(gmr_vsm_point_case(base, &o, 5, &b) == GMR_OK);
    for (int i = 0; i < gmr_pf_case_nbus(base); i++) {
        gmr_pf_bus x, y, z, p0;
        gmr_pf_case_get_bus(a, i, &x);
        gmr_pf_case_get_bus(b, i, &y);
        gmr_pf_case_get_bus(c, i, &z);
        gmr_pf_case_get_bus(base, i, &p0);
        ck_assert_msg(x.pd == y.pd && x.qd == y.qd, "bus %d: point 5 made twice differs", p0.id);
        ck_assert_msg(p0.pd == 0 || x.pd != z.pd, "bus %d: points 5 and 6 have the same load", p0.id);
        /* level in [0.85, 1.15], bus factor in [0.7, 1.3] */
        ck_assert_msg(x.pd >= p0.pd * 0.85 * 0.7 - 1e-12 && x.pd <= p0.pd * 1.15 * 1.3 + 1e-12, "bus %d: Pd %g from %g",
                      p0.id, x.pd, p0.pd);
        tot += p0.pd;
        tot_a += x.pd;
    }
    ck_assert(tot_a > 0.85 * 0.7 * tot && tot_a < 1.15 * 1.3 * tot);
    gmr_pf_case_destroy(&b);
    o.seed = 78;
    ck_assert(gmr_vsm_point_case(base, &o, 5, &b) == GMR_OK);
    {
        gmr_pf_bus x, y;
        gmr_pf_case_get_bus(a, 1, &x);
        gmr_pf_case_get_bus(b, 1, &y);
        ck_assert_msg(x.pd != y.pd, "another seed gives the same point");
    }
    ck_assert_int_eq(gmr_vsm_nfeatures(base), 4 * 14 + 5 + 2);
    ck_assert(gmr_vsm_feature_name(base, 0, name, sizeof name) == GMR_OK);
    ck_assert_str_eq(name, "vm_1");
    ck_assert(gmr_vsm_feature_name(base, 14 + 2, name, sizeof name) == GMR_OK);
    ck_assert_str_eq(name, "va_3");
    ck_assert(gmr_vsm_feature_name(base, 56, name, sizeof name) == GMR_OK);
    ck_assert_str_eq(name, "pg_1");
    ck_assert(gmr_vsm_feature_name(base, 61, name, sizeof name) == GMR_OK);
    ck_assert_str_eq(name, "load_level");
    ck_assert(gmr_vsm_feature_name(base, 62, name, sizeof name) == GMR_OK);
    ck_assert_str_eq(name, "q_level");
    ck_assert(gmr_vsm_feature_name(base, 63, name, sizeof name) == GMR_ERR_ARG);
    gmr_pf_case_destroy(&a);
    gmr_pf_case_destroy(&b);
    gmr_pf_case_destroy(&c);
    gmr_pf_case_destroy(&base);
}
END_TEST

static Suite *pf_suite(void)
{
    Suite *s = suite_create("pf");
    TCase *tc = tcase_create("pf");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_pf_case9);
    tcase_add_test(tc, t_pf_case14);
    tcase_add_test(tc, t_pf_large);
    tcase_add_test(tc, t_jacobian_fd);
    tcase_add_test(tc, t_cpf_matpower);
    tcase_add_test(tc, t_cpf_direction);
    tcase_add_test(tc, t_bad_cases);
    tcase_add_test(tc, t_ill_posed);
    tcase_add_test(tc, t_parser_robust);
    tcase_add_test(tc, t_vsm_points);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *d = getenv("GMR_TEST_DATA");
    snprintf(data_dir, sizeof data_dir, "%s", d && *d ? d : "tests/data");
    return run_suite(pf_suite());
}
