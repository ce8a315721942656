/* vsm.c: the batch of voltage-stability margins (include/gridmr/vsm.h).
 *
 * A point is a function of (seed, index): its random numbers come from a splitmix64 stream
 * seeded by both, drawn in a fixed order (level, then each bus, each generator, the outage), so
 * any rank makes the same point. HQ hands out positions in the list of indices on demand
 * (src/sched: a worker asks for its next point when it receives one, HQ computes points too and
 * answers between its own, and between the steps of its own CPFs); each rank keeps its records (position, status, margin, features)
 * and one MPI_Allgatherv puts them on every rank, where they are placed by position. Cost per
 * point: one power flow and one CPF (tens of KLU refactorisations of a matrix of twice the bus
 * count); communication: two small messages per point with HQ and the final gather of
 * n x (p + 6) doubles. */
#define _XOPEN_SOURCE 700
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridmr/mr.h"
#include "gridmr/vsm.h"
#include "pf_impl.h"
#include "sched/sched.h"
#include "stage/h5util.h"
#include "topo/topo.h"

#define VSM_FORMAT "1"
#define REC_HEAD 6 /* position, status, margin, lambda, load, steps */

void gmr_vsm_options_init(gmr_vsm_options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->level_lo = 1 - GMR_VSM_DEFAULT_LEVEL_SPREAD;
    o->level_hi = 1 + GMR_VSM_DEFAULT_LEVEL_SPREAD;
    o->load_spread = GMR_VSM_DEFAULT_LOAD_SPREAD;
    o->gen_spread = GMR_VSM_DEFAULT_GEN_SPREAD;
    o->q_spread = GMR_VSM_DEFAULT_Q_SPREAD;
    o->outage_rate = GMR_VSM_DEFAULT_OUTAGE_RATE;
    o->scale = GMR_VSM_DEFAULT_SCALE;
    gmr_cpf_options_init(&o->cpf);
    /* a batch wants the nose, not the path: longer steps (the nose is located to the same
     * nose_tol either way; docs/pf.md compares) */
    o->cpf.step = 0.1;
    o->cpf.step_max = 1.0;
    o->cpf.error_tol = 1e-2;
    o->provinces = 0;
}

void gmr_vsm_points_free(gmr_vsm_points *pts)
{
    if (!pts) return;
    free(pts->index);
    free(pts->x);
    free(pts->margin_mw);
    free(pts->lambda);
    free(pts->load_mw);
    free(pts->status);
    free(pts->steps);
    free(pts->message);
    memset(pts, 0, sizeof *pts);
}

static gmr_err points_alloc(gmr_vsm_points *pts, int n, int p)
{
    gmr_err err = GMR_OK;
    size_t m = (size_t)n + 1;
    memset(pts, 0, sizeof *pts);
    pts->index = calloc(m, sizeof *pts->index);
    pts->x = calloc(m * (size_t)p, sizeof *pts->x);
    pts->margin_mw = calloc(m, sizeof *pts->margin_mw);
    pts->lambda = calloc(m, sizeof *pts->lambda);
    pts->load_mw = calloc(m, sizeof *pts->load_mw);
    pts->status = calloc(m, sizeof *pts->status);
    pts->steps = calloc(m, sizeof *pts->steps);
    pts->message = calloc(m * GMR_VSM_MESSAGE, 1);
    if (!pts->index || !pts->x || !pts->margin_mw || !pts->lambda || !pts->load_mw || !pts->status || !pts->steps ||
        !pts->message) {
        gmr_vsm_points_free(pts);
        GMR_FAIL(GMR_ERR_NOMEM, "out of memory for %d points of %d features", n, p);
    }
    pts->n = n;
    pts->p = p;
out:
    return err;
}

/* ---- the points ------------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* uniform in [0, 1), 53 bits */
static double unif(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53; }

static int online_gens(gmr_pf_case c)
{
    int n = 0;
    for (int g = 0; g < c->ngen; g++) n += c->gen[g].status != 0;
    return n;
}

int gmr_vsm_nfeatures(gmr_pf_case base) { return base ? 4 * base->nbus + online_gens(base) + 2 : 0; }

gmr_err gmr_vsm_feature_name(gmr_pf_case base, int j, char *buf, size_t cap)
{
    gmr_err err = GMR_OK;
    int nb = base ? base->nbus : 0;
    static const char *const pre[4] = {"vm", "va", "pd", "qd"};
    GMR_CHECK(base && j >= 0 && j < gmr_vsm_nfeatures(base), GMR_ERR_ARG, "feature %d out of range", j);
    if (j < 4 * nb) {
        snprintf(buf, cap, "%s_%d", pre[j / nb], base->bus[j % nb].id);
    } else if (j < 4 * nb + online_gens(base)) {
        int k = j - 4 * nb;
        for (int g = 0; g < base->ngen; g++)
            if (base->gen[g].status && k-- == 0) snprintf(buf, cap, "pg_%d", g + 1);
    } else {
        snprintf(buf, cap, "%s", j == 4 * nb + online_gens(base) ? "load_level" : "q_level");
    }
out:
    return err;
}

gmr_err gmr_vsm_point_case(gmr_pf_case base, const gmr_vsm_options *o, uint64_t index, gmr_pf_case *out)
{
    gmr_err err = GMR_OK;
    gmr_pf_case c = NULL;
    uint64_t s = o->seed * UINT64_C(0xD1B54A32D192ED03) ^ (index + 1) * UINT64_C(0x9E3779B97F4A7C15);
    double level;
    int slack = -1;
    *out = NULL;
    GMR_CALL(gmr_pf_case_copy(base, &c));
    splitmix64(&s);
    level = o->level_lo + (o->level_hi - o->level_lo) * unif(&s);
    for (int i = 0; i < c->nbus; i++) {
        double f = level * (1 + o->load_spread * (2 * unif(&s) - 1));
        double fq = f * (1 + o->q_spread * (2 * unif(&s) - 1));
        c->bus[i].pd *= f;
        c->bus[i].qd *= fq;
        if (c->bus[i].type == GMR_PF_REF && slack < 0) slack = i;
    }
    for (int g = 0; g < c->ngen; g++) {
        double f = level * (1 + o->gen_spread * (2 * unif(&s) - 1));
        if (c->gen[g].bus == slack) continue; /* the slack balances */
        c->gen[g].pg *= f;
        if (c->gen[g].pmax > 0 && c->gen[g].pg > c->gen[g].pmax) c->gen[g].pg = c->gen[g].pmax;
    }
    if (o->outage_rate > 0 && c->nbranch > 0) {
        double u = unif(&s);
        int l = (int)(unif(&s) * c->nbranch);
        if (u < o->outage_rate) c->br[l].status = 0;
    }
    *out = c;
    c = NULL;
out:
    gmr_pf_case_destroy(&c);
    return err;
}

/* ---- the batch ------------------------------------------------------------------------------- */

typedef struct batch {
    gmr_pf_case base;
    const gmr_vsm_options *o;
    const uint64_t *indices;
    int margins, p;
    double base_pd, base_qd;
    /* this rank's records: REC_HEAD + p doubles each, and their messages */
    double *rec;
    char *msg;
    int nrec;
    gmr__sched **sched; /* HQ polls for requests during its own CPFs */
    double work;        /* seconds in do_point */
    double cpu;         /* thread CPU seconds in do_point */
    gmr_cpf_options cpf;
} batch;

static gmr_err poll_requests(void *ctx)
{
    batch *b = ctx;
    return gmr__sched_poll(*b->sched);
}

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void point_failed(double *r, char *m, const char *what, const char *msg)
{
    r[1] = GMR_VSM_FAILED;
    r[2] = r[3] = NAN;
    snprintf(m, GMR_VSM_MESSAGE, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

/* The features of a solved point: Vm, Va, Pd, Qd per bus, Pg per generator in service in the
 * base case, load levels. */
static void features(const batch *b, gmr_pf_case c, const double *vm, const double *va_deg, const double *pg,
                     double pd, double qd, double *x)
{
    int nb = c->nbus, k = 4 * nb;
    for (int i = 0; i < nb; i++) {
        x[i] = vm[i];
        x[nb + i] = va_deg[i];
        x[2 * nb + i] = c->bus[i].pd;
        x[3 * nb + i] = c->bus[i].qd;
    }
    for (int g = 0; g < c->ngen; g++)
        if (b->base->gen[g].status) x[k++] = pg[g];
    x[k++] = b->base_pd != 0 ? pd / b->base_pd : 1;
    x[k++] = b->base_qd != 0 ? qd / b->base_qd : 1;
}

/* One point: with margins, the CPF (whose base power flow gives the features); its power flow
 * alone otherwise, or to tell a failed power flow from a failed continuation. */
static gmr_err do_point(void *vctx, uint64_t pos)
{
    gmr_err err = GMR_OK, e;
    batch *b = vctx;
    double *r = b->rec + (size_t)b->nrec * (size_t)(REC_HEAD + b->p), *x = r + REC_HEAD, pd = 0, qd = 0;
    char *m = b->msg + (size_t)b->nrec * GMR_VSM_MESSAGE, cpf_msg[GMR_VSM_MESSAGE];
    gmr_pf_case c = NULL, t = NULL;
    gmr_pf_result pf;
    gmr_cpf_result cr;
    gmr_pf_options po;
    double t0 = MPI_Wtime(), c0 = thread_cpu();
    memset(&pf, 0, sizeof pf);
    memset(&cr, 0, sizeof cr);
    b->nrec++;
    r[0] = (double)pos;
    r[1] = GMR_VSM_OK;
    r[2] = r[3] = NAN;
    r[5] = 0;
    m[0] = 0;
    cpf_msg[0] = 0;
    for (int j = 0; j < b->p; j++) x[j] = NAN;
    GMR_CALL(gmr_vsm_point_case(b->base, b->o, b->indices[pos], &c));
    for (int i = 0; i < c->nbus; i++) {
        pd += c->bus[i].pd;
        qd += c->bus[i].qd;
    }
    r[4] = pd;
    if (b->margins) {
        GMR_CALL(gmr_pf_case_copy(c, &t));
        GMR_CALL(gmr_pf_case_scale(t, b->o->scale));
        e = gmr_cpf_run(c, t, &b->cpf, &cr);
        if (e == GMR_ERR_NOMEM) GMR_CALL(e);
        if (!e) {
            features(b, c, cr.base_vm, cr.base_va_deg, cr.base_pg, pd, qd, x);
            r[2] = cr.mw_margin;
            r[3] = cr.lambda;
            r[5] = cr.steps;
            goto out;
        }
        snprintf(cpf_msg, sizeof cpf_msg, "%s", gmr_err_message());
        gmr_err_clear();
    }
    gmr_pf_options_init(&po);
    po.tol = b->o->cpf.tol;
    po.max_iter = b->o->cpf.max_iter;
    po.qlim = b->o->cpf.qlim;
    e = gmr_pf_solve(c, &po, &pf);
    if (e == GMR_ERR_NOMEM) GMR_CALL(e);
    if (e) {
        point_failed(r, m, "power flow", gmr_err_message());
        gmr_err_clear();
        goto out;
    }
    features(b, c, pf.vm, pf.va_deg, pf.pg, pd, qd, x);
    if (b->margins) point_failed(r, m, "continuation", cpf_msg);
out:
    b->work += MPI_Wtime() - t0;
    b->cpu += thread_cpu() - c0;
    gmr_cpf_result_free(&cr);
    gmr_pf_result_free(&pf);
    gmr_pf_case_destroy(&t);
    gmr_pf_case_destroy(&c);
    return err;
}

gmr_err gmr_vsm_compute(MPI_Comm comm, gmr_pf_case base, const gmr_vsm_options *o, const uint64_t *indices, int n,
                        int margins, gmr_vsm_points *out)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__topo *topo = NULL;
    gmr__sched *handle = NULL;
    gmr__wave wave;
    batch b;
    uint64_t *todo = NULL;
    int size = 1, *counts = NULL, *displs = NULL, *mcounts = NULL, *mdispls = NULL, rec_len, total = 0;
    double *all = NULL, t0, t1 = 0, work = 0, cpu = 0, cpu_max = 0;
    char *allmsg = NULL;
    memset(&b, 0, sizeof b);
    memset(out, 0, sizeof *out);
    GMR_CHECK(base && o && n >= 0 && (n == 0 || indices), GMR_ERR_ARG, "gmr_vsm_compute: bad arguments");
    b.base = base;
    b.o = o;
    b.indices = indices;
    b.margins = margins;
    b.p = gmr_vsm_nfeatures(base);
    b.sched = &handle;
    b.cpf = o->cpf;
    b.cpf.progress = poll_requests;
    b.cpf.progress_ctx = &b;
    rec_len = REC_HEAD + b.p;
    GMR_CHECK((double)n * rec_len < 2e9, GMR_ERR_ARG, "%d points of %d features: more than 2^31 values to gather", n,
              b.p);
    for (int i = 0; i < base->nbus; i++) {
        b.base_pd += base->bus[i].pd;
        b.base_qd += base->bus[i].qd;
    }
    GMR_CALL(gmr__topo_create(comm, o->provinces, &topo));
    size = topo->size;
    b.rec = malloc(((size_t)n + 1) * (size_t)rec_len * sizeof *b.rec);
    b.msg = malloc(((size_t)n + 1) * GMR_VSM_MESSAGE);
    todo = malloc(((size_t)n + 1) * sizeof *todo);
    if (!b.rec || !b.msg || !todo) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory for %d points", n);
    GMR_CALL(gmr__agree(topo->world, local));
    for (int i = 0; i < n; i++) todo[i] = (uint64_t)i;
    memset(&wave, 0, sizeof wave);
    wave.todo = todo;
    wave.ntodo = (uint64_t)n;
    wave.fn = do_point;
    wave.ctx = &b;
    t0 = MPI_Wtime();
    local = gmr__sched_run(topo, &wave, &handle);
    GMR_CALL(gmr__agree(topo->world, local));
    t1 = MPI_Wtime() - t0;
    GMR_CALL_MPI(MPI_Bcast(&t1, 1, MPI_DOUBLE, GMR_HQ, topo->world));
    GMR_CALL_MPI(MPI_Allreduce(&b.work, &work, 1, MPI_DOUBLE, MPI_SUM, topo->world));
    GMR_CALL_MPI(MPI_Allreduce(&b.cpu, &cpu, 1, MPI_DOUBLE, MPI_SUM, topo->world));
    GMR_CALL_MPI(MPI_Allreduce(&b.cpu, &cpu_max, 1, MPI_DOUBLE, MPI_MAX, topo->world));
    /* every rank gets every record */
    counts = malloc((size_t)size * sizeof *counts);
    displs = malloc((size_t)size * sizeof *displs);
    mcounts = malloc((size_t)size * sizeof *mcounts);
    mdispls = malloc((size_t)size * sizeof *mdispls);
    all = malloc(((size_t)n + 1) * (size_t)rec_len * sizeof *all);
    allmsg = malloc(((size_t)n + 1) * GMR_VSM_MESSAGE);
    local = counts && displs && mcounts && mdispls && all && allmsg ? GMR_OK
                                                                    : GMR_ERROR(GMR_ERR_NOMEM, "out of memory gathering %d points", n);
    GMR_CALL(gmr__agree(topo->world, local));
    GMR_CALL_MPI(MPI_Allgather(&b.nrec, 1, MPI_INT, counts, 1, MPI_INT, topo->world));
    for (int r = 0; r < size; r++) {
        displs[r] = total * rec_len;
        mdispls[r] = total * GMR_VSM_MESSAGE;
        total += counts[r];
        mcounts[r] = counts[r] * GMR_VSM_MESSAGE;
        counts[r] *= rec_len;
    }
    GMR_CHECK(total == n, GMR_ERR_INTERNAL, "%d of %d points computed", total, n);
    GMR_CALL_MPI(MPI_Allgatherv(b.rec, b.nrec * rec_len, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, topo->world));
    GMR_CALL_MPI(MPI_Allgatherv(b.msg, b.nrec * GMR_VSM_MESSAGE, MPI_CHAR, allmsg, mcounts, mdispls, MPI_CHAR, topo->world));
    GMR_CALL(gmr__agree(topo->world, points_alloc(out, n, b.p)));
    out->seconds = t1;
    out->work_seconds = work;
    out->cpu_seconds = cpu;
    out->cpu_max_rank = cpu_max;
    for (int k = 0; k < n; k++) {
        const double *r = all + (size_t)k * (size_t)rec_len;
        int pos = (int)r[0];
        out->index[pos] = indices[pos];
        out->status[pos] = (int)r[1];
        out->margin_mw[pos] = r[2];
        out->lambda[pos] = r[3];
        out->load_mw[pos] = r[4];
        out->steps[pos] = (int)r[5];
        memcpy(out->x + (size_t)pos * (size_t)b.p, r + REC_HEAD, (size_t)b.p * sizeof *r);
        memcpy(out->message + (size_t)pos * GMR_VSM_MESSAGE, allmsg + (size_t)k * GMR_VSM_MESSAGE, GMR_VSM_MESSAGE);
    }
out:
    free(b.rec);
    free(b.msg);
    free(todo);
    free(counts);
    free(displs);
    free(mcounts);
    free(mdispls);
    free(all);
    free(allmsg);
    gmr__topo_destroy(&topo);
    return err;
}

gmr_err gmr_vsm_points_append(gmr_vsm_points *a, const gmr_vsm_points *b, const int *which, int nwhich)
{
    gmr_err err = GMR_OK;
    gmr_vsm_points c;
    int n = a->n + nwhich, p = a->p ? a->p : b->p;
    GMR_CHECK(a->n == 0 || b->p == a->p, GMR_ERR_ARG, "appending points of %d features to points of %d", b->p, a->p);
    GMR_CALL(points_alloc(&c, n, p));
    for (int k = 0; k < n; k++) {
        const gmr_vsm_points *s = k < a->n ? a : b;
        int i = k < a->n ? k : which[k - a->n];
        c.index[k] = s->index[i];
        c.margin_mw[k] = s->margin_mw[i];
        c.lambda[k] = s->lambda[i];
        c.load_mw[k] = s->load_mw[i];
        c.status[k] = s->status[i];
        c.steps[k] = s->steps[i];
        memcpy(c.x + (size_t)k * (size_t)p, s->x + (size_t)i * (size_t)p, (size_t)p * sizeof *c.x);
        memcpy(c.message + (size_t)k * GMR_VSM_MESSAGE, s->message + (size_t)i * GMR_VSM_MESSAGE, GMR_VSM_MESSAGE);
    }
    gmr_vsm_points_free(a);
    *a = c;
out:
    return err;
}

/* ---- the file ---------------------------------------------------------------------------------- */

static gmr_err write_1d(hid_t file, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *v)
{
    gmr_err err = GMR_OK;
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    GMR_H5_ID(space, H5Screate_simple(1, &n, NULL));
    GMR_H5_ID(dset, H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (n) GMR_CALL_H5(H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
out:
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    return err;
}

static gmr_err write_file(const char *path, gmr_pf_case base, const gmr_vsm_options *o, const gmr_vsm_points *pts,
                          const int *set, const char *case_name)
{
    gmr_err err = GMR_OK;
    hid_t file = H5I_INVALID_HID, space = H5I_INVALID_HID, dset = H5I_INVALID_HID, str = H5I_INVALID_HID,
          fstr = H5I_INVALID_HID;
    hsize_t dims[2] = {(hsize_t)pts->n, (hsize_t)pts->p}, np = (hsize_t)pts->p;
    char **names = NULL, num[64];
    int *zero = NULL;
    GMR_CALL(gmr__h5_create_serial(path, "vsm", VSM_FORMAT, &file));
    GMR_CALL(gmr__h5_attr_put_str(file, "case", case_name ? case_name : ""));
#define PUTNUM(name, fmt, v)                                 \
    do {                                                     \
        snprintf(num, sizeof num, fmt, v);                   \
        GMR_CALL(gmr__h5_attr_put_str(file, name, num));     \
    } while (0)
    PUTNUM("seed", "%llu", (unsigned long long)o->seed);
    PUTNUM("scale", "%.17g", o->scale);
    PUTNUM("level_lo", "%.17g", o->level_lo);
    PUTNUM("level_hi", "%.17g", o->level_hi);
    PUTNUM("load_spread", "%.17g", o->load_spread);
    PUTNUM("gen_spread", "%.17g", o->gen_spread);
    PUTNUM("q_spread", "%.17g", o->q_spread);
    PUTNUM("outage_rate", "%.17g", o->outage_rate);
    PUTNUM("qlim", "%d", o->cpf.qlim);
    PUTNUM("step", "%.17g", o->cpf.step);
#undef PUTNUM
    GMR_H5_ID(space, H5Screate_simple(2, dims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(file, "features", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (pts->n && pts->p) GMR_CALL_H5(H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, pts->x));
    H5Dclose(dset);
    dset = H5I_INVALID_HID;
    H5Sclose(space);
    space = H5I_INVALID_HID;
    names = calloc((size_t)pts->p + 1, sizeof *names);
    GMR_CHECK(names, GMR_ERR_NOMEM, "out of memory");
    for (int j = 0; j < pts->p; j++) {
        char buf[64];
        GMR_CALL(gmr_vsm_feature_name(base, j, buf, sizeof buf));
        names[j] = strdup(buf);
        GMR_CHECK(names[j], GMR_ERR_NOMEM, "out of memory");
    }
    GMR_H5_ID(str, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(str, H5T_VARIABLE));
    GMR_CALL_H5(H5Tset_cset(str, H5T_CSET_UTF8));
    GMR_CALL(write_1d(file, "feature_names", str, str, np, names));
    GMR_CALL(write_1d(file, "index", H5T_STD_U64LE, H5T_NATIVE_UINT64, (hsize_t)pts->n, pts->index));
    GMR_CALL(write_1d(file, "margin_mw", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)pts->n, pts->margin_mw));
    GMR_CALL(write_1d(file, "lambda", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)pts->n, pts->lambda));
    GMR_CALL(write_1d(file, "load_mw", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)pts->n, pts->load_mw));
    GMR_CALL(write_1d(file, "status", H5T_STD_I32LE, H5T_NATIVE_INT, (hsize_t)pts->n, pts->status));
    GMR_CALL(write_1d(file, "steps", H5T_STD_I32LE, H5T_NATIVE_INT, (hsize_t)pts->n, pts->steps));
    if (!set) {
        zero = calloc((size_t)pts->n + 1, sizeof *zero);
        GMR_CHECK(zero, GMR_ERR_NOMEM, "out of memory");
    }
    GMR_CALL(write_1d(file, "set", H5T_STD_I32LE, H5T_NATIVE_INT, (hsize_t)pts->n, set ? set : zero));
    GMR_H5_ID(fstr, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(fstr, GMR_VSM_MESSAGE));
    GMR_CALL_H5(H5Tset_strpad(fstr, H5T_STR_NULLTERM));
    GMR_CALL(write_1d(file, "message", fstr, fstr, (hsize_t)pts->n, pts->message));
out:
    if (names)
        for (int j = 0; j < pts->p; j++) free(names[j]);
    free(names);
    free(zero);
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    if (str >= 0) H5Tclose(str);
    if (fstr >= 0) H5Tclose(fstr);
    if (file >= 0 && H5Fclose(file) < 0 && !err) err = gmr__err_h5(__FILE__, __LINE__, __func__, "H5Fclose");
    if (err) remove(path);
    return err;
}

gmr_err gmr_vsm_write(MPI_Comm comm, const char *path, gmr_pf_case base, const gmr_vsm_options *o,
                      const gmr_vsm_points *pts, const int *set, const char *case_name)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    int rank;
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) local = write_file(path, base, o, pts, set, case_name);
    GMR_CALL(gmr__agree(comm, local));
out:
    return err;
}

/* ---- reading the file back -------------------------------------------------------------------- */

static gmr_err read_ds(hid_t file, const char *name, hid_t mtype, int rank, hsize_t d0, hsize_t d1, void *v)
{
    gmr_err err = GMR_OK;
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    GMR_CHECK(H5Lexists(file, name, H5P_DEFAULT) > 0, GMR_ERR_DATA, "dataset /%s is missing", name);
    GMR_H5_ID(dset, H5Dopen2(file, name, H5P_DEFAULT));
    GMR_H5_ID(space, H5Dget_space(dset));
    GMR_CHECK(H5Sget_simple_extent_ndims(space) == rank, GMR_ERR_DATA, "dataset /%s has the wrong rank", name);
    GMR_CALL_H5(H5Sget_simple_extent_dims(space, dims, NULL));
    GMR_CHECK(dims[0] == d0 && (rank == 1 || dims[1] == d1), GMR_ERR_DATA, "dataset /%s has the wrong size", name);
    if (d0 && (rank == 1 || d1)) GMR_CALL_H5(H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
out:
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return err;
}

gmr_err gmr_vsm_read(const char *path, gmr_vsm_points *pts, int **set)
{
    gmr_err err = GMR_OK;
    hid_t file = H5I_INVALID_HID, dset = H5I_INVALID_HID, space = H5I_INVALID_HID, fstr = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    char job[16] = "";
    memset(pts, 0, sizeof *pts);
    *set = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot open as an HDF5 file", path);
    }
    if (gmr__h5_attr_get_str(file, "job", job, sizeof job) != GMR_OK) gmr_err_clear();
    GMR_CHECK(strcmp(job, "vsm") == 0, GMR_ERR_DATA, "%s: not a gridmr vsm file", path);
    GMR_CHECK(H5Lexists(file, "features", H5P_DEFAULT) > 0, GMR_ERR_DATA, "%s: dataset /features is missing", path);
    GMR_H5_ID(dset, H5Dopen2(file, "features", H5P_DEFAULT));
    GMR_H5_ID(space, H5Dget_space(dset));
    GMR_CHECK(H5Sget_simple_extent_ndims(space) == 2, GMR_ERR_DATA, "%s: /features is not 2-D", path);
    GMR_CALL_H5(H5Sget_simple_extent_dims(space, dims, NULL));
    GMR_CHECK(dims[0] < (1u << 30) && dims[1] < (1u << 20), GMR_ERR_DATA, "%s: /features is too large", path);
    GMR_CALL(points_alloc(pts, (int)dims[0], (int)dims[1]));
    *set = calloc((size_t)dims[0] + 1, sizeof **set);
    GMR_CHECK(*set, GMR_ERR_NOMEM, "out of memory");
    GMR_H5_ID(fstr, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(fstr, GMR_VSM_MESSAGE));
    GMR_CALL_H5(H5Tset_strpad(fstr, H5T_STR_NULLTERM));
    GMR_CALL(read_ds(file, "features", H5T_NATIVE_DOUBLE, 2, dims[0], dims[1], pts->x));
    GMR_CALL(read_ds(file, "index", H5T_NATIVE_UINT64, 1, dims[0], 0, pts->index));
    GMR_CALL(read_ds(file, "margin_mw", H5T_NATIVE_DOUBLE, 1, dims[0], 0, pts->margin_mw));
    GMR_CALL(read_ds(file, "lambda", H5T_NATIVE_DOUBLE, 1, dims[0], 0, pts->lambda));
    GMR_CALL(read_ds(file, "load_mw", H5T_NATIVE_DOUBLE, 1, dims[0], 0, pts->load_mw));
    GMR_CALL(read_ds(file, "status", H5T_NATIVE_INT, 1, dims[0], 0, pts->status));
    GMR_CALL(read_ds(file, "steps", H5T_NATIVE_INT, 1, dims[0], 0, pts->steps));
    GMR_CALL(read_ds(file, "set", H5T_NATIVE_INT, 1, dims[0], 0, *set));
    GMR_CALL(read_ds(file, "message", fstr, 1, dims[0], 0, pts->message));
    for (hsize_t i = 0; i < dims[0]; i++) pts->message[(i + 1) * GMR_VSM_MESSAGE - 1] = 0;
out:
    if (fstr >= 0) H5Tclose(fstr);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    if (file >= 0) H5Fclose(file);
    if (err) {
        gmr__err_context("%s", path);
        gmr_vsm_points_free(pts);
        free(*set);
        *set = NULL;
    }
    return err;
}
