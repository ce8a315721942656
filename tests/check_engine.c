/* check_engine.c - specification tests for the MapReduce engine under MPI (src/mr/job.c,
 * src/mr/shuffle.c, src/sched/sched.c, src/stage/result.c). Run under mpirun at 1 to 4 ranks
 * with CK_FORK=no; every rank runs every test.
 *
 * What must hold: a job's result does not depend on the rank count, the provinces or the split
 * size and equals a serial computation from the input; reduce gets a key's values ordered by
 * bytes; the shuffle sends each key to rank gmr__dest(hash) in as many rounds as its buffer
 * needs and loses nothing; an error on any rank (a missing input, a failing map, a rejected
 * record under strict) makes gmr_job_run fail on every rank with the same code, with exactly
 * one rank (the failing one) reporting; rejected records are written, sorted, with their file
 * and line, to OUT.h5.rejects.
 *
 * Every verdict is collective (all_assert): each rank states its own check, the verdicts are
 * combined with MPI_Allreduce, and every rank fails the test together, so no rank leaves a
 * test while the others wait in a collective. Callbacks that run inside gmr_job_run never call
 * Check; they return errors, which the test then asserts on. References are computed here from
 * the input bytes; fixed seeds, so a failure reproduces.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gridmr/log.h"
#include "gridmr/mr.h"
#include "mr/kvtable.h"
#include "mr/shuffle.h"
#include "sched/sched.h"
#include "stage/result.h"
#include "testutil.h"
#include "testutil_mpi.h"


/* ---- helpers --------------------------------------------------------------------------- */

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(1099511628211);
    return h;
}

/* Collective: rank 0 writes the file, every rank learns whether that worked. */
static void write_input(const char *path, const char *data, size_t len)
{
    int ok = 1;
    if (rank == 0) {
        FILE *fp = fopen(path, "wb");
        ok = fp && fwrite(data, 1, len, fp) == len;
        if (fp && fclose(fp) != 0) ok = 0;
    }
    all_assert(ok, "cannot write %s", path);
}

/* An input of `nlines` lines built from a fixed seed. Keys (first bytes) mostly come from a
 * few letters, the rest from any byte but '\n' (NUL and '\r' included); some lines are empty,
 * some repeat an earlier line (ties for the value order). The last line lacks its '\n' unless
 * final_newline. lines[i] may be set beforehand to force a line's content. */
typedef struct input {
    char *data;
    size_t len;
    size_t nlines;
    size_t *off, *llen; /* each line, without its '\n' */
} input;

static void input_make(input *in, uint64_t seed, size_t nlines, const char *const *forced, int final_newline)
{
    size_t cap = nlines * 64 + 1024;
    in->data = malloc(cap);
    in->off = malloc(nlines * sizeof *in->off);
    in->llen = malloc(nlines * sizeof *in->llen);
    in->nlines = nlines;
    in->len = 0;
    ck_assert(in->data && in->off && in->llen);
    rng_seed(seed);
    for (size_t i = 0; i < nlines; i++) {
        size_t l, j = 0;
        char *p = in->data + in->len;
        if (forced && forced[i]) {
            l = strlen(forced[i]);
            memcpy(p, forced[i], l);
        } else if (i > 0 && rng_below(10) == 0 && !(forced && forced[j = rng_below(i)])) {
            l = in->llen[j]; /* a repeated line (never a forced one) */
            memmove(p, in->data + in->off[j], l);
        } else {
            l = rng_below(20) == 0 ? 0 : 1 + rng_below(45);
            for (size_t k = 0; k < l; k++) {
                int c;
                uint64_t r = rng_below(10);
                if (k == 0 && r < 6)
                    c = "abc"[rng_below(3)];
                else if (r < 1)
                    c = 0;
                else if (r < 2)
                    c = '\r';
                else
                    c = (int)rng_below(256);
                if (c == '\n') c = 'n';
                p[k] = (char)c;
            }
        }
        in->off[i] = in->len;
        in->llen[i] = l;
        in->len += l;
        if (i + 1 < nlines || final_newline) in->data[in->len++] = '\n';
    }
}

static void input_free(input *in)
{
    free(in->data);
    free(in->off);
    free(in->llen);
    memset(in, 0, sizeof *in);
}

/* ---- the test job: LIST mode, key = first byte of the line, value = the line --------------- */

typedef struct line_ctx {
    const char *fail_marker;   /* map fails (GMR_ERR_STATE) on a line equal to this */
    int fail_rank;             /* map fails (GMR_ERR_STATE) on this rank's first record; -1 never */
    const char *reject_prefix; /* map rejects lines starting with this, twice (counted once) */
    int failed_here;           /* this rank mapped the fail marker */
    uint64_t unsorted;         /* keys whose values reduce received out of byte order */
    uint64_t mismatched;       /* values that did not start with their key */
} line_ctx;

static int starts_with(const gmr_record *rec, const char *prefix)
{
    size_t n = strlen(prefix);
    return rec->len >= n && memcmp(rec->data, prefix, n) == 0;
}

static gmr_err line_map(void *vctx, const gmr_record *rec, gmr_emitter *em)
{
    line_ctx *c = vctx;
    if (c->fail_rank == rank && !c->failed_here) {
        c->failed_here = 1;
        return GMR_ERROR(GMR_ERR_STATE, "map told to fail on rank %d", rank);
    }
    if (c->fail_marker && rec->len == strlen(c->fail_marker) && memcmp(rec->data, c->fail_marker, rec->len) == 0) {
        c->failed_here = 1;
        return GMR_ERROR(GMR_ERR_STATE, "marker line reached in %s", rec->file);
    }
    if (c->reject_prefix && starts_with(rec, c->reject_prefix)) {
        gmr_err e = gmr_reject(em, "bad line '%.*s'", (int)rec->len, rec->data);
        if (e) return e;
        return gmr_reject(em, "second reason, must not be recorded");
    }
    return gmr_emit(em, rec->data, rec->len ? 1 : 0, rec->data, rec->len);
}

/* bytes order: unsigned bytes, then a shorter prefix first */
static int bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    const unsigned char *x = a, *y = b;
    size_t m = alen < blen ? alen : blen;
    for (size_t i = 0; i < m; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

static gmr_err line_reduce(void *vctx, const void *key, size_t klen, gmr_values *vals, gmr_output *out)
{
    line_ctx *c = vctx;
    uint64_t slots[3] = {0, 0, 0}; /* n, bytes, fnv sum */
    const void *v, *prev = NULL;
    size_t vlen, plen = 0;
    int sorted = 1;
    while (gmr_values_next(vals, &v, &vlen)) {
        if (prev && bytes_cmp(prev, plen, v, vlen) > 0) sorted = 0;
        if (klen != (vlen ? 1u : 0u) || (klen && memcmp(v, key, 1) != 0)) c->mismatched++;
        slots[0]++;
        slots[1] += vlen;
        slots[2] += fnv1a(v, vlen);
        prev = v;
        plen = vlen;
    }
    if (!sorted) {
        c->unsorted++;
        return GMR_ERROR(GMR_ERR_INTERNAL, "values of a key (%zu key bytes) arrived out of byte order", klen);
    }
    return gmr_output_row(out, key, klen, slots);
}

static const gmr_column line_columns[] = {{"n", GMR_TYPE_U64}, {"bytes", GMR_TYPE_U64}, {"fnv", GMR_TYPE_U64}};

static const gmr_job_ops line_ops = {
    GMR_JOB_OPS_VERSION, "check_lines", "lines", 0, line_map, NULL, line_reduce, 3, line_columns, GMR_ORDER_KEY,
    NULL, NULL,
};

/* Serial reference: per key (first byte 0..255, or 256 for the empty line) n, bytes, fnv sum.
 * Lines for which skip() is true are left out. */
typedef struct reference {
    uint64_t n[257], bytes[257], fnv[257];
    size_t keys;
} reference;

static void reference_add(reference *r, const char *line, size_t len)
{
    int k = len ? (unsigned char)line[0] : 256;
    if (r->n[k] == 0) r->keys++;
    r->n[k]++;
    r->bytes[k] += len;
    r->fnv[k] += fnv1a(line, len);
}

typedef int (*line_filter)(const char *line, size_t len, void *arg);

static void reference_make(reference *r, const input *const *ins, int nin, line_filter skip, void *arg)
{
    memset(r, 0, sizeof *r);
    for (int f = 0; f < nin; f++)
        for (size_t i = 0; i < ins[f]->nlines; i++) {
            const char *line = ins[f]->data + ins[f]->off[i];
            if (skip && skip(line, ins[f]->llen[i], arg)) continue;
            reference_add(r, line, ins[f]->llen[i]);
        }
}

static int column_of(const gmr__result *res, const char *name)
{
    for (int c = 0; c < res->ncolumns; c++)
        if (strcmp(res->colnames[c], name) == 0) return c;
    return -1;
}

/* Rank 0 reads the result and compares it with the reference; returns 1 when equal, else 0
 * with the first difference in msg. Not collective. */
static int result_matches(const char *path, const reference *ref, char *msg, size_t cap)
{
    gmr__result *res = NULL;
    int seen[257] = {0}, ok = 0, cn, cb, cf;
    gmr_err e = gmr__result_read(path, &res);
    if (e) {
        snprintf(msg, cap, "gmr__result_read(%s): %s", path, gmr_err_message());
        return 0;
    }
    cn = column_of(res, "n");
    cb = column_of(res, "bytes");
    cf = column_of(res, "fnv");
    if (strcmp(res->job, "check_lines") != 0) {
        snprintf(msg, cap, "job attribute: expected \"check_lines\", got \"%s\"", res->job);
        goto out;
    }
    if (res->ncolumns != 3 || cn < 0 || cb < 0 || cf < 0) {
        snprintf(msg, cap, "expected columns n, bytes, fnv; got %d columns", res->ncolumns);
        goto out;
    }
    if (res->coltypes[cn] != GMR_TYPE_U64 || res->coltypes[cb] != GMR_TYPE_U64) {
        snprintf(msg, cap, "expected u64 columns n and bytes");
        goto out;
    }
    if (res->n != ref->keys) {
        snprintf(msg, cap, "expected %zu rows (distinct keys), got %llu", ref->keys, (unsigned long long)res->n);
        goto out;
    }
    for (uint64_t i = 0; i < res->n; i++) {
        uint64_t klen = res->koff[i + 1] - res->koff[i];
        const uint64_t *row = res->slots + i * (uint64_t)res->ncolumns;
        int k;
        if (klen > 1) {
            snprintf(msg, cap, "row %llu: key of %llu bytes, expected 0 or 1", (unsigned long long)i,
                     (unsigned long long)klen);
            goto out;
        }
        k = klen ? (unsigned char)res->keys[res->koff[i]] : 256;
        if (seen[k]++) {
            snprintf(msg, cap, "row %llu: key %d appears twice", (unsigned long long)i, k);
            goto out;
        }
        if (row[cn] != ref->n[k] || row[cb] != ref->bytes[k] || row[cf] != ref->fnv[k]) {
            snprintf(msg, cap, "key %d: expected n=%llu bytes=%llu fnv=%016llx, got n=%llu bytes=%llu fnv=%016llx", k,
                     (unsigned long long)ref->n[k], (unsigned long long)ref->bytes[k], (unsigned long long)ref->fnv[k],
                     (unsigned long long)row[cn], (unsigned long long)row[cb], (unsigned long long)row[cf]);
            goto out;
        }
    }
    ok = 1;
out:
    gmr__result_free(&res);
    return ok;
}

/* Collective: create, configure and run a line job; returns gmr_job_run's code. The job is
 * destroyed; its summary is copied out when sum != NULL. */
static gmr_err run_line_job(line_ctx *ctx, const gmr_options *opt, const char *const *inputs, int ninputs,
                            const char *out, gmr_summary *sum)
{
    gmr_job job = NULL;
    gmr_err e;
    e = gmr_job_create(MPI_COMM_WORLD, &line_ops, ctx, &job);
    all_assert(e == GMR_OK, "gmr_job_create: %s", gmr_err_message());
    e = gmr_job_set_options(job, opt);
    all_assert(e == GMR_OK, "gmr_job_set_options: %s", gmr_err_message());
    for (int i = 0; i < ninputs; i++) {
        e = gmr_job_add_input(job, inputs[i]);
        all_assert(e == GMR_OK, "gmr_job_add_input: %s", gmr_err_message());
    }
    gmr_err_clear();
    e = gmr_job_run(job, out);
    if (sum) gmr_job_get_summary(job, sum);
    gmr_job_destroy(&job);
    all_assert(job == NULL, "gmr_job_destroy did not reset the handle");
    return e;
}

static int same_on_all_ranks(long long v)
{
    long long lo = 0, hi = 0;
    MPI_Allreduce(&v, &lo, 1, MPI_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&v, &hi, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* ---- the job end to end ---------------------------------------------------------------- */

START_TEST(test_list_job_matches_serial_reference)
{
    input in;
    reference ref;
    char path[256], out[256], msg[1024] = "";
    const char *inputs[1] = {path};
    const int provinces[3] = {1, size, 0};
    const uint64_t split_sizes[2] = {100, 1000};
    input_make(&in, 42, 2500, NULL, 0);
    tmp_path(path, sizeof path, "lines.txt");
    write_input(path, in.data, in.len);
    const input *ins[1] = {&in};
    reference_make(&ref, ins, 1, NULL, NULL);

    for (int p = 0; p < 3; p++)
        for (int s = 0; s < 2; s++) {
            line_ctx ctx = {.fail_rank = -1};
            gmr_options opt;
            gmr_summary sum;
            gmr_options_init(&opt);
            opt.provinces = provinces[p];
            opt.split_size = split_sizes[s];
            opt.shuffle_buffer = 512; /* many shuffle rounds */
            snprintf(out, sizeof out, "%s/lines_p%d_s%llu.h5", tmpdir, provinces[p],
                     (unsigned long long)split_sizes[s]);
            gmr_err e = run_line_job(&ctx, &opt, inputs, 1, out, &sum);
            all_assert(e == GMR_OK, "provinces %d, split size %llu: gmr_job_run returned %s: %s", provinces[p],
                       (unsigned long long)split_sizes[s], gmr_err_name(e), gmr_err_message());
            all_assert(ctx.unsorted == 0 && ctx.mismatched == 0,
                       "reduce saw %llu keys with unsorted values and %llu values under the wrong key",
                       (unsigned long long)ctx.unsorted, (unsigned long long)ctx.mismatched);
            int expect_p = provinces[p] ? provinces[p] : (int)lround(sqrt((double)size)); /* the documented default */
            all_assert(sum.ranks == size && sum.provinces == expect_p,
                       "summary: expected %d ranks in %d provinces, got %d in %d", size, expect_p, sum.ranks,
                       sum.provinces);
            all_assert(sum.records == in.nlines && sum.rejected == 0 && sum.keys == ref.keys &&
                           sum.input_bytes == in.len,
                       "summary: expected %zu records, 0 rejected, %zu keys, %zu bytes; got %llu, %llu, %llu, %llu",
                       in.nlines, ref.keys, in.len, (unsigned long long)sum.records,
                       (unsigned long long)sum.rejected, (unsigned long long)sum.keys,
                       (unsigned long long)sum.input_bytes);
            all_assert(sum.splits >= in.len / (split_sizes[s] + 100) && sum.splits <= in.len / split_sizes[s] + 1,
                       "split size %llu over %zu bytes: got %llu splits", (unsigned long long)split_sizes[s], in.len,
                       (unsigned long long)sum.splits);
            int ok = 1;
            if (rank == 0) ok = result_matches(out, &ref, msg, sizeof msg);
            all_assert(ok, "provinces %d, split size %llu: %s", provinces[p], (unsigned long long)split_sizes[s], msg);
        }
    input_free(&in);
}
END_TEST

START_TEST(test_empty_input_gives_empty_result)
{
    char path[256], out[256], msg[1024] = "";
    const char *inputs[1] = {path};
    line_ctx ctx = {.fail_rank = -1};
    gmr_options opt;
    reference ref;
    memset(&ref, 0, sizeof ref);
    tmp_path(path, sizeof path, "empty.txt");
    tmp_path(out, sizeof out, "empty.h5");
    write_input(path, "", 0);
    gmr_options_init(&opt);
    gmr_err e = run_line_job(&ctx, &opt, inputs, 1, out, NULL);
    all_assert(e == GMR_OK, "empty input: gmr_job_run returned %s: %s", gmr_err_name(e), gmr_err_message());
    int ok = 1;
    if (rank == 0) ok = result_matches(out, &ref, msg, sizeof msg);
    all_assert(ok, "empty input: %s", msg);
}
END_TEST

/* ---- the profile ------------------------------------------------------------------------ */

/* gmr_job_get_profile: refused before a run; afterwards the counts equal what the input holds
 * (records and bytes read, pairs and bytes emitted, keys reduced and rows written), agree with
 * the summary, are the same on every rank, times are ordered min <= avg <= max, and with
 * opt.profile the group /profile is in the result file with the same figures. */
START_TEST(test_profile_counts_match_the_input)
{
    input in;
    reference ref;
    char path[256], out[256];
    line_ctx ctx = {.fail_rank = -1};
    gmr_options opt;
    gmr_summary sum;
    gmr_profile p;
    gmr_job job = NULL;
    gmr_err e;
    uint64_t emitted_bytes = 0;
    input_make(&in, 7, 1800, NULL, 0);
    tmp_path(path, sizeof path, "prof.txt");
    tmp_path(out, sizeof out, "prof.h5");
    write_input(path, in.data, in.len);
    const input *ins[1] = {&in};
    reference_make(&ref, ins, 1, NULL, NULL);
    for (size_t i = 0; i < in.nlines; i++) emitted_bytes += (in.llen[i] ? 1 : 0) + in.llen[i];

    gmr_options_init(&opt);
    opt.split_size = 700;
    opt.profile = 1;
    e = gmr_job_create(MPI_COMM_WORLD, &line_ops, &ctx, &job);
    all_assert(e == GMR_OK, "gmr_job_create: %s", gmr_err_message());
    e = gmr_job_get_profile(job, &p);
    all_assert(e == GMR_ERR_ARG, "profile before any run: expected GMR_ERR_ARG, got %s", gmr_err_name(e));
    gmr_err_clear();
    all_assert(gmr_job_set_options(job, &opt) == GMR_OK && gmr_job_add_input(job, path) == GMR_OK, "job setup: %s",
               gmr_err_message());
    e = gmr_job_run(job, out);
    all_assert(e == GMR_OK, "gmr_job_run: %s: %s", gmr_err_name(e), gmr_err_message());
    gmr_job_get_summary(job, &sum);
    e = gmr_job_get_profile(job, &p);
    all_assert(e == GMR_OK, "gmr_job_get_profile after a run: %s", gmr_err_name(e));
    all_assert(p.ranks == size, "profile ranks: expected %d, got %d", size, p.ranks);
    all_assert(strcmp(p.phase[0].name, "plan") == 0 && strcmp(p.phase[1].name, "map") == 0 &&
                   strcmp(p.phase[5].name, "write") == 0,
               "phase names: got %s, %s, ..., %s", p.phase[0].name, p.phase[1].name, p.phase[5].name);
    all_assert(p.phase[0].bytes_in == in.len && p.phase[0].records_out == sum.splits,
               "plan: expected %zu bytes in and %llu splits out, got %llu and %llu", in.len,
               (unsigned long long)sum.splits, (unsigned long long)p.phase[0].bytes_in,
               (unsigned long long)p.phase[0].records_out);
    all_assert(p.phase[1].records_in == in.nlines && p.phase[1].bytes_in == in.len &&
                   p.phase[1].records_out == in.nlines && p.phase[1].bytes_out == emitted_bytes,
               "map: expected %zu records, %zu bytes in, %zu pairs, %llu bytes out; got %llu, %llu, %llu, %llu",
               in.nlines, in.len, in.nlines, (unsigned long long)emitted_bytes,
               (unsigned long long)p.phase[1].records_in, (unsigned long long)p.phase[1].bytes_in,
               (unsigned long long)p.phase[1].records_out, (unsigned long long)p.phase[1].bytes_out);
    all_assert(p.phase[4].records_in == ref.keys && p.phase[4].records_out == ref.keys &&
                   p.phase[5].records_in == ref.keys,
               "reduce/write: expected %zu keys and rows, got %llu, %llu, %llu", ref.keys,
               (unsigned long long)p.phase[4].records_in, (unsigned long long)p.phase[4].records_out,
               (unsigned long long)p.phase[5].records_in);
    all_assert(p.shuffle_bytes == sum.shuffle_bytes && p.phase[2].bytes_in == sum.shuffle_bytes,
               "shuffle bytes: summary %llu, profile %llu and %llu", (unsigned long long)sum.shuffle_bytes,
               (unsigned long long)p.shuffle_bytes, (unsigned long long)p.phase[2].bytes_in);
    {
        int ordered = 1;
        uint64_t rss_max = 0, shuf = 0;
        for (int i = 0; i < GMR_NPHASES; i++)
            ordered &= p.phase[i].t_min >= 0 && p.phase[i].t_min <= p.phase[i].t_avg * (1 + 1e-12) &&
                       p.phase[i].t_avg <= p.phase[i].t_max * (1 + 1e-12) &&
                       (p.phase[i].t_avg == 0 || fabs(p.phase[i].imbalance - p.phase[i].t_max / p.phase[i].t_avg) < 1e-12);
        for (int r = 0; r < size; r++) {
            rss_max = p.rank_peak_rss[r] > rss_max ? p.rank_peak_rss[r] : rss_max;
            shuf += p.rank_shuffle_bytes[r];
        }
        all_assert(ordered, "phase times not ordered min <= avg <= max, or imbalance != max/avg");
        all_assert(rss_max == sum.peak_rss && shuf == p.shuffle_bytes,
                   "per rank: max peak rss %llu vs summary %llu; shuffle bytes %llu vs %llu", (unsigned long long)rss_max,
                   (unsigned long long)sum.peak_rss, (unsigned long long)shuf, (unsigned long long)p.shuffle_bytes);
        all_assert(same_on_all_ranks((long long)p.phase[2].bytes_in) && same_on_all_ranks((long long)(p.phase[1].t_max * 1e9)),
                   "the profile differs between ranks");
    }
    if (rank == 0) {
        /* the file holds the same figures */
        hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT), a = H5I_INVALID_HID;
        uint64_t rin[GMR_NPHASES] = {0};
        int ok = f >= 0 && (a = H5Aopen_by_name(f, "profile", "records_in", H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
                 H5Aread(a, H5T_NATIVE_UINT64, rin) >= 0;
        if (a >= 0) H5Aclose(a);
        if (f >= 0) H5Fclose(f);
        ck_assert_msg(ok, "%s: no /profile records_in attribute", out);
        for (int i = 0; i < GMR_NPHASES; i++)
            ck_assert_msg(rin[i] == p.phase[i].records_in, "/profile records_in[%d]: file %llu, profile %llu", i,
                          (unsigned long long)rin[i], (unsigned long long)p.phase[i].records_in);
    }
    gmr_job_destroy(&job);
    input_free(&in);
}
END_TEST

/* ---- the shuffle ------------------------------------------------------------------------ */

#define SHUFFLE_KEYS 1500

static int shuffle_key(int i, char *buf)
{
    if (i == 0) return 0; /* the empty key */
    return sprintf(buf, i % 5 ? "key-%d" : "a rather long shuffle key %d", i);
}

/* which ranks hold key i before the shuffle, and with what */
static int holds(int r, int i) { return i % size == r || i % 3 == 0; }
static uint64_t held_value(int r, int i) { return (uint64_t)(r + 1) * (uint64_t)(i + 1); }
static int held_values(int r, int i) { return holds(r, i) ? 1 + (i + r) % 4 : 0; } /* list mode */

START_TEST(test_shuffle_combine_mode_sends_keys_home)
{
    const gmr__level levels[2] = {GMR_LEVEL_PROVINCE, GMR_LEVEL_GLOBAL};
    for (int l = 0; l < 2; l++) {
        gmr__kvt *src = NULL, *dst = NULL;
        char key[64];
        uint64_t src_sum = 0, dst_sum = 0, sums[2], totals[2], expect_sent = 0, sent = 0, rounds = 0, src_n;
        int bad_dest = 0, bad_value = 0, bad_hash = 0, insert_ok = 1;
        all_assert(gmr__kvt_create(8, add_u64, NULL, &src) == GMR_OK && gmr__kvt_create(8, add_u64, NULL, &dst) == GMR_OK,
                   "kvt_create: %s", gmr_err_message());
        for (int i = 0; i < SHUFFLE_KEYS; i++) {
            if (!holds(rank, i)) continue;
            int klen = shuffle_key(i, key);
            uint64_t v = held_value(rank, i), h = gmr__hash(key, (size_t)klen);
            if (gmr__kvt_insert(src, h, key, (uint32_t)klen, &v, 8) != GMR_OK) insert_ok = 0;
            src_sum += v;
            if (gmr__dest(h, levels[l], size) != rank) expect_sent += 8 + (uint64_t)klen + 8;
        }
        all_assert(insert_ok, "insert: %s", gmr_err_message());
        src_n = src->n;
        gmr_err e = gmr__shuffle(MPI_COMM_WORLD, &src, 1, levels[l], 64, dst, &sent, &rounds);
        all_assert(e == GMR_OK, "level %d: gmr__shuffle returned %s: %s", (int)levels[l], gmr_err_name(e),
                   gmr_err_message());
        for (uint64_t j = 0; j < dst->n; j++) {
            const gmr__kv_entry *en = gmr__kvt_entry(dst, j);
            const char *k = gmr__kvt_key(dst, j);
            uint64_t v, want = 0;
            int i = 0;
            memcpy(&v, gmr__kvt_value(dst, j), 8);
            dst_sum += v;
            if (gmr__dest(en->hash, levels[l], size) != rank) bad_dest++;
            if (en->hash != gmr__hash(k, en->klen)) bad_hash++;
            if (en->klen) {
                char tmp[64];
                memcpy(tmp, k, en->klen);
                tmp[en->klen] = '\0';
                if (sscanf(tmp, tmp[0] == 'k' ? "key-%d" : "a rather long shuffle key %d", &i) != 1) i = -1;
            }
            if (i >= 0)
                for (int r = 0; r < size; r++)
                    if (holds(r, i)) want += held_value(r, i);
            if (i < 0 || v != want) bad_value++;
        }
        sums[0] = src_sum;
        sums[1] = dst_sum;
        MPI_Allreduce(sums, totals, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        uint64_t keys = 0, my_keys = dst->n;
        MPI_Allreduce(&my_keys, &keys, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        all_assert(bad_dest == 0 && bad_hash == 0, "level %d: %d keys on the wrong rank, %d with a wrong hash",
                   (int)levels[l], bad_dest, bad_hash);
        all_assert(bad_value == 0, "level %d: %d keys with a wrong combined value", (int)levels[l], bad_value);
        all_assert(keys == SHUFFLE_KEYS, "level %d: expected %d keys over all ranks, got %llu", (int)levels[l],
                   SHUFFLE_KEYS, (unsigned long long)keys);
        all_assert(totals[0] == totals[1], "level %d: counters summed to %llu before, %llu after", (int)levels[l],
                   (unsigned long long)totals[0], (unsigned long long)totals[1]);
        all_assert(sent == expect_sent, "level %d: expected %llu bytes sent to other ranks, got %llu", (int)levels[l],
                   (unsigned long long)expect_sent, (unsigned long long)sent);
        all_assert(rounds > 1 && same_on_all_ranks((long long)rounds),
                   "level %d: expected the same number (> 1) of rounds on every rank, got %llu", (int)levels[l],
                   (unsigned long long)rounds);
        all_assert(src->n == src_n, "the source table changed: %llu keys, was %llu", (unsigned long long)src->n,
                   (unsigned long long)src_n);
        gmr__kvt_destroy(&dst);
        gmr__kvt_destroy(&src);
    }
}
END_TEST

/* The map's form: one table per destination, this rank's own part being the destination.
 * Three keys in four are held by every rank (as common words are), so the destination already
 * holds most of what arrives. The result is the same as from one table, the bytes sent are
 * exactly the other parts', and the destination's slot array is not oversized: at most the
 * smallest power of two >= 2 x its final keys (load 1/2), whatever it was sent. */
static int holds_common(int r, int i) { return i % 4 != 0 || i % size == r; }

START_TEST(test_shuffle_of_partitioned_tables_sizes_the_destination)
{
    gmr__kvt **parts = calloc((size_t)size, sizeof *parts);
    char key[64];
    uint64_t sent = 0, rounds = 0, expect_sent = 0, keys = 0, my_keys, cap_max = 1024, src_n[64] = {0};
    int ok = parts != NULL, bad = 0, changed = 0;
    for (int d = 0; ok && d < size; d++) ok = gmr__kvt_create(8, add_u64, NULL, &parts[d]) == GMR_OK;
    for (int i = 0; ok && i < SHUFFLE_KEYS; i++) {
        if (!holds_common(rank, i)) continue;
        int klen = shuffle_key(i, key);
        uint64_t v = held_value(rank, i), h = gmr__hash(key, (size_t)klen);
        int d = gmr__dest(h, GMR_LEVEL_PROVINCE, size);
        ok = gmr__kvt_insert(parts[d], h, key, (uint32_t)klen, &v, 8) == GMR_OK;
        if (d != rank) expect_sent += 8 + (uint64_t)klen + 8;
    }
    all_assert(ok && size <= 64, "setup: %s", gmr_err_message());
    for (int d = 0; d < size; d++) src_n[d] = parts[d]->n;
    /* one rank has nothing to send: the engine does not call the shuffle then (nsrc == 1 means
     * one table holding keys for any rank) */
    gmr_err e = size == 1 ? GMR_OK : gmr__shuffle(MPI_COMM_WORLD, parts, size, GMR_LEVEL_PROVINCE, 256, parts[rank], &sent, &rounds);
    all_assert(e == GMR_OK, "gmr__shuffle returned %s: %s", gmr_err_name(e), gmr_err_message());
    gmr__kvt *own = parts[rank];
    for (uint64_t j = 0; j < own->n; j++) {
        const gmr__kv_entry *en = gmr__kvt_entry(own, j);
        char tmp[64];
        uint64_t v, want = 0;
        int i = -1;
        memcpy(&v, gmr__kvt_value(own, j), 8);
        memcpy(tmp, gmr__kvt_key(own, j), en->klen);
        tmp[en->klen] = '\0';
        if (en->klen == 0)
            i = 0;
        else if (sscanf(tmp, tmp[0] == 'k' ? "key-%d" : "a rather long shuffle key %d", &i) != 1)
            i = -1;
        for (int r = 0; i >= 0 && r < size; r++)
            if (holds_common(r, i)) want += held_value(r, i);
        if (i < 0 || v != want || gmr__dest(en->hash, GMR_LEVEL_PROVINCE, size) != rank) bad++;
    }
    for (int d = 0; d < size; d++)
        if (d != rank && parts[d]->n != src_n[d]) changed++;
    my_keys = own->n;
    MPI_Allreduce(&my_keys, &keys, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    while (cap_max < 2 * own->n) cap_max *= 2;
    all_assert(bad == 0, "%d keys with a wrong value or on the wrong rank", bad);
    all_assert(keys == SHUFFLE_KEYS, "expected %d keys over all ranks, got %llu", SHUFFLE_KEYS, (unsigned long long)keys);
    all_assert(changed == 0, "%d source parts changed", changed);
    all_assert(sent == expect_sent, "expected %llu bytes sent, got %llu", (unsigned long long)expect_sent,
               (unsigned long long)sent);
    all_assert(own->cap <= cap_max, "%llu keys in %llu slots: expected at most %llu", (unsigned long long)own->n,
               (unsigned long long)own->cap, (unsigned long long)cap_max);
    for (int d = 0; d < size; d++) gmr__kvt_destroy(&parts[d]);
    free(parts);
}
END_TEST

/* The automatic plan: splits of gmr__plan_auto_split bytes, each cut moved to just after the
 * next '\n' at or after it; with 2+ ranks the last `ranks` splits' worth of bytes in
 * GMR_TAIL_SPLITS times smaller pieces. The reference cuts the bytes here, from the rule. */
START_TEST(test_plan_cuts_the_tail_finer_with_several_ranks)
{
    char path[4200], *data, *paths[1];
    size_t len = 0, cap = (9u << 20) / 2 + 4096;
    uint64_t split, tail_from, expect[64], nexpect = 0, b = 0;
    gmr__topo *topo = NULL;
    gmr__plan *plan = NULL;
    int bad = 0;
    data = malloc(cap);
    all_assert(data != NULL, "out of memory");
    for (int i = 0; len < (9u << 20) / 2; i++) len += (size_t)sprintf(data + len, "line %d of the plan test%s\n", i, i % 7 ? "" : " (longer)");
    tmp_path(path, sizeof path, "plan.txt");
    write_input(path, data, len);
    paths[0] = path;
    split = gmr__plan_auto_split(len, size);
    tail_from = size > 1 && len > (uint64_t)size * split ? len - (uint64_t)size * split : UINT64_MAX;
    while (b < len && nexpect < 64) {
        uint64_t e = b + (b >= tail_from ? split / GMR_TAIL_SPLITS : split);
        if (e >= len) e = len;
        else while (data[e - 1] != '\n') e++;
        expect[nexpect++] = e;
        b = e;
    }
    all_assert(gmr__topo_create(MPI_COMM_WORLD, 1, &topo) == GMR_OK, "topo: %s", gmr_err_message());
    gmr_err e = gmr__plan_create(topo, 1, paths, 0, 0, &plan);
    all_assert(e == GMR_OK, "plan: %s: %s", gmr_err_name(e), gmr_err_message());
    for (uint64_t s = 0; s < plan->nsplits && s < nexpect; s++)
        if (plan->splits[s].off + plan->splits[s].len != expect[s] || plan->splits[s].off != (s ? expect[s - 1] : 0)) bad++;
    all_assert(plan->nsplits == nexpect && bad == 0, "%d ranks: %llu splits (expected %llu), %d cut elsewhere", size,
               (unsigned long long)plan->nsplits, (unsigned long long)nexpect, bad);
    /* 4.5 MiB: 1 MiB splits; the tail (the last ranks x 1 MiB) exists from 2 to 4 ranks */
    uint64_t last = nexpect > 1 ? expect[nexpect - 1] - expect[nexpect - 2] : len;
    all_assert(size == 1 || size > 4 || (last <= split / GMR_TAIL_SPLITS + 64 && nexpect > 5),
               "%d ranks: the reference's last split has %llu bytes, of %llu splits", size, (unsigned long long)last,
               (unsigned long long)nexpect);
    gmr__plan_destroy(&plan);
    gmr__topo_destroy(&topo);
    free(data);
}
END_TEST

START_TEST(test_shuffle_list_mode_keeps_every_value)
{
    gmr__kvt *src = NULL, *dst = NULL;
    char key[64], val[64];
    uint64_t sent = 0, rounds = 0, expect_sent = 0;
    int bad = 0, insert_ok = 1;
    char why[256] = "";
    all_assert(gmr__kvt_create(0, NULL, NULL, &src) == GMR_OK && gmr__kvt_create(0, NULL, NULL, &dst) == GMR_OK,
               "kvt_create: %s", gmr_err_message());
    for (int i = 0; i < SHUFFLE_KEYS; i++) {
        int klen = shuffle_key(i, key);
        uint64_t h = gmr__hash(key, (size_t)klen);
        for (int j = 0; j < held_values(rank, i); j++) {
            int vlen = sprintf(val, "r%d/k%d/v%d", rank, i, j);
            if (j == 1) vlen = 0; /* an empty value now and then */
            if (gmr__kvt_insert(src, h, key, (uint32_t)klen, val, (uint32_t)vlen) != GMR_OK) insert_ok = 0;
            if (gmr__dest(h, GMR_LEVEL_PROVINCE, size) != rank) expect_sent += 8 + (uint64_t)klen + (uint64_t)vlen;
        }
    }
    all_assert(insert_ok, "insert: %s", gmr_err_message());
    gmr_err e = gmr__shuffle(MPI_COMM_WORLD, &src, 1, GMR_LEVEL_PROVINCE, 64, dst, &sent, &rounds);
    all_assert(e == GMR_OK, "gmr__shuffle returned %s: %s", gmr_err_name(e), gmr_err_message());
    uint64_t values = 0, keys = 0, mine[2] = {dst->n, dst->nvalues}, all[2];
    for (uint64_t j = 0; j < dst->n && !bad; j++) {
        const gmr__kv_entry *en = gmr__kvt_entry(dst, j);
        char tmp[64];
        int i = 0;
        uint64_t want_n = 0, want_fnv = 0, got_fnv = 0, cursor = 0;
        const void *v;
        uint32_t vlen;
        memcpy(tmp, gmr__kvt_key(dst, j), en->klen);
        tmp[en->klen] = '\0';
        if (en->klen && sscanf(tmp, tmp[0] == 'k' ? "key-%d" : "a rather long shuffle key %d", &i) != 1) {
            snprintf(why, sizeof why, "unexpected key \"%s\"", tmp);
            bad = 1;
            break;
        }
        if (gmr__dest(en->hash, GMR_LEVEL_PROVINCE, size) != rank) {
            snprintf(why, sizeof why, "key %d on rank %d, expected %d", i, rank,
                     gmr__dest(en->hash, GMR_LEVEL_PROVINCE, size));
            bad = 1;
        }
        for (int r = 0; r < size; r++)
            for (int jj = 0; jj < held_values(r, i); jj++) {
                int n = sprintf(val, "r%d/k%d/v%d", r, i, jj);
                want_fnv += fnv1a(val, jj == 1 ? 0 : (size_t)n);
                want_n++;
            }
        while (gmr__kvt_next_value(dst, j, &cursor, &v, &vlen)) got_fnv += fnv1a(v, vlen);
        if (en->nvals != want_n || got_fnv != want_fnv) {
            snprintf(why, sizeof why, "key %d: expected %llu values (fnv sum %016llx), got %u (%016llx)", i,
                     (unsigned long long)want_n, (unsigned long long)want_fnv, en->nvals, (unsigned long long)got_fnv);
            bad = 1;
        }
    }
    all_assert(!bad, "%s", why);
    MPI_Allreduce(mine, all, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    keys = all[0];
    values = all[1];
    uint64_t want_values = 0;
    for (int i = 0; i < SHUFFLE_KEYS; i++)
        for (int r = 0; r < size; r++) want_values += (uint64_t)held_values(r, i);
    all_assert(keys == SHUFFLE_KEYS && values == want_values, "expected %d keys and %llu values, got %llu and %llu",
               SHUFFLE_KEYS, (unsigned long long)want_values, (unsigned long long)keys, (unsigned long long)values);
    all_assert(sent == expect_sent, "expected %llu bytes sent to other ranks, got %llu",
               (unsigned long long)expect_sent, (unsigned long long)sent);
    all_assert(rounds > 1 && same_on_all_ranks((long long)rounds),
               "expected the same number (> 1) of rounds on every rank, got %llu", (unsigned long long)rounds);
    gmr__kvt_destroy(&dst);
    gmr__kvt_destroy(&src);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

/* After a failed run: same code everywhere, exactly one reporting (non-remote) rank, which is
 * `reporter` when >= 0; the others' message names the reporter. */
static void expect_failure_everywhere(gmr_err e, gmr_err code, int reporter, const char *what)
{
    int remote = gmr_err_is_remote(), nlocal = 0, mine = remote ? 0 : 1, who = remote ? size : rank, lowest = 0;
    char name[64];
    all_assert(e == code, "%s: expected %s on every rank, got %s: %s", what, gmr_err_name(code), gmr_err_name(e),
               gmr_err_message());
    MPI_Allreduce(&mine, &nlocal, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&who, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    all_assert(nlocal == 1, "%s: expected exactly one rank to report (not remote), got %d", what, nlocal);
    all_assert(reporter < 0 || lowest == reporter, "%s: expected rank %d to report, rank %d does", what, reporter,
               lowest);
    snprintf(name, sizeof name, "failed on rank %d", lowest);
    all_assert(!remote || strstr(gmr_err_message(), name) != NULL, "%s: remote rank's message should say \"%s\": \"%s\"",
               what, name, gmr_err_message());
}

START_TEST(test_missing_input_fails_with_io_error_everywhere)
{
    char missing[256], out[256];
    const char *inputs[1] = {missing};
    line_ctx ctx = {.fail_rank = -1};
    gmr_options opt;
    tmp_path(missing, sizeof missing, "no-such-input.txt");
    tmp_path(out, sizeof out, "missing.h5");
    gmr_options_init(&opt);
    gmr_err e = run_line_job(&ctx, &opt, inputs, 1, out, NULL);
    expect_failure_everywhere(e, GMR_ERR_IO, 0, "missing input");
    all_assert(rank != 0 || strstr(gmr_err_message(), missing) != NULL,
               "rank 0's message should name %s: \"%s\"", missing, gmr_err_message());
    all_assert(rank != 0 || !gmr_err_is_remote(), "rank 0 found the error itself but is marked remote");
    all_assert(rank == 0 || gmr_err_is_remote(), "rank %d only heard of the error but is not marked remote", rank);
    all_assert(rank != 0 || !file_exists(out), "a failed job left %s behind", out);
}
END_TEST

START_TEST(test_map_error_on_one_rank_stops_all)
{
    static const char marker[] = "FAIL-HERE: this line makes map fail";
    const char *forced[1500] = {0};
    char path[256], out[256];
    const char *inputs[1] = {path};
    input in;
    forced[777] = marker;
    input_make(&in, 7, 1500, forced, 1);
    tmp_path(path, sizeof path, "mapfail.txt");
    tmp_path(out, sizeof out, "mapfail.h5");
    write_input(path, in.data, in.len);
    for (int p = 0; p < 2; p++) {
        line_ctx ctx = {.fail_rank = -1};
        gmr_options opt;
        int who = 0, failed_ranks = 0, me = 0;
        gmr_options_init(&opt);
        opt.split_size = 100;
        opt.provinces = p ? size : 1;
        ctx.fail_marker = marker;
        gmr_err e = run_line_job(&ctx, &opt, inputs, 1, out, NULL);
        MPI_Allreduce(&ctx.failed_here, &failed_ranks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        me = ctx.failed_here ? rank : -1;
        MPI_Allreduce(&me, &who, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        all_assert(failed_ranks == 1, "expected the marker line to be mapped by exactly one rank, got %d",
                   failed_ranks);
        expect_failure_everywhere(e, GMR_ERR_STATE, who, "map error");
        all_assert(!ctx.failed_here || strstr(gmr_err_message(), "marker line reached") != NULL,
                   "the failing rank's message lost the map's text: \"%s\"", gmr_err_message());
    }
    input_free(&in);
}
END_TEST

/* The failing rank is each rank in turn: headquarters (rank 0) and every worker. */
START_TEST(test_map_error_on_each_rank_stops_all)
{
    char path[256], out[256], what[64];
    const char *inputs[1] = {path};
    input in;
    input_make(&in, 8, 1500, NULL, 1);
    tmp_path(path, sizeof path, "rankfail.txt");
    tmp_path(out, sizeof out, "rankfail.h5");
    write_input(path, in.data, in.len);
    for (int r = 0; r < size; r++) {
        line_ctx ctx = {.fail_rank = r};
        gmr_options opt;
        int failed_ranks = 0;
        gmr_options_init(&opt);
        opt.split_size = 100;
        gmr_err e = run_line_job(&ctx, &opt, inputs, 1, out, NULL);
        MPI_Allreduce(&ctx.failed_here, &failed_ranks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        snprintf(what, sizeof what, "map fails on rank %d", r);
        /* a worker may, rarely, get no split at all before they run out: then nothing fails */
        all_assert(failed_ranks == 1 || (r != 0 && failed_ranks == 0), "%s: %d ranks failed", what, failed_ranks);
        if (failed_ranks)
            expect_failure_everywhere(e, GMR_ERR_STATE, r, what);
        else
            all_assert(e == GMR_OK, "%s: nothing failed but gmr_job_run returned %s", what, gmr_err_name(e));
    }
    input_free(&in);
}
END_TEST

/* gmr__agree (sched.h): "every rank gets the largest error code (and the lowest rank that has
 * it); ranks that did not fail get that code with the message 'failed on rank R' and
 * gmr_err_is_remote() true". */
START_TEST(test_agree_one_failing_rank)
{
    const int last = size - 1;
    char name[64];
    gmr_err e;

    gmr_err_clear();
    e = gmr__agree(MPI_COMM_WORLD, GMR_OK);
    all_assert(e == GMR_OK && !gmr_err_is_remote(), "nobody failed: expected GMR_OK, got %s", gmr_err_name(e));

    gmr_err_clear();
    e = gmr__agree(MPI_COMM_WORLD, rank == last ? GMR_ERROR(GMR_ERR_IO, "local trouble on rank %d", rank) : GMR_OK);
    snprintf(name, sizeof name, rank == last ? "local trouble on rank %d" : "failed on rank %d", last);
    all_assert(e == GMR_ERR_IO, "rank %d failed with GMR_ERR_IO: expected it everywhere, got %s", last, gmr_err_name(e));
    all_assert(gmr_err_is_remote() == (rank != last), "rank %d failed: is_remote on rank %d should be %d, is %d", last,
               rank, rank != last, gmr_err_is_remote());
    all_assert(strstr(gmr_err_message(), name) != NULL, "expected the message to contain \"%s\", got \"%s\"", name,
               gmr_err_message());
    gmr_err_clear();
}
END_TEST

START_TEST(test_agree_lowest_rank_reports_among_equal_codes)
{
    const int last = size - 1, lowest = size > 2 ? 1 : 0;
    char name[64];
    gmr_err e;
    /* ranks `lowest` and `last` fail alike (with one rank, rank 0 alone) */
    int fails = rank == lowest || rank == last;
    gmr_err_clear();
    e = gmr__agree(MPI_COMM_WORLD, fails ? GMR_ERROR(GMR_ERR_IO, "trouble on rank %d", rank) : GMR_OK);
    all_assert(e == GMR_ERR_IO, "expected GMR_ERR_IO everywhere, rank %d got %s", rank, gmr_err_name(e));
    all_assert(gmr_err_is_remote() == (rank != lowest),
               "ranks %d and %d failed with the same code: rank %d (the lowest) should report; on rank %d is_remote "
               "should be %d, is %d",
               lowest, last, lowest, rank, rank != lowest, gmr_err_is_remote());
    snprintf(name, sizeof name, "failed on rank %d", lowest);
    all_assert(fails || strstr(gmr_err_message(), name) != NULL, "expected \"%s\", got \"%s\"", name,
               gmr_err_message());
    gmr_err_clear();
}
END_TEST

START_TEST(test_agree_larger_code_wins_everywhere)
{
    const int last = size - 1;
    gmr_err e, local = GMR_OK;
    gmr_err_clear();
    /* rank 0 fails with GMR_ERR_DATA (6), the last rank with GMR_ERR_STATE (7); one rank: STATE */
    if (rank == 0) local = GMR_ERROR(GMR_ERR_DATA, "data trouble on rank 0");
    if (rank == last) local = GMR_ERROR(GMR_ERR_STATE, "state trouble on rank %d", rank);
    e = gmr__agree(MPI_COMM_WORLD, local);
    all_assert(e == GMR_ERR_STATE,
               "rank 0 failed with GMR_ERR_DATA and rank %d with GMR_ERR_STATE: expected GMR_ERR_STATE (the larger) on "
               "every rank, rank %d got %s",
               last, rank, gmr_err_name(e));
    all_assert(gmr_err_is_remote() == (rank != last),
               "rank %d has the larger code and should report: on rank %d is_remote should be %d, is %d", last, rank,
               rank != last, gmr_err_is_remote());
    gmr_err_clear();
}
END_TEST

/* More provinces than ranks is an argument error on every rank, before any work. */
START_TEST(test_too_many_provinces_is_an_argument_error)
{
    char path[256], out[256];
    const char *inputs[1] = {path};
    line_ctx ctx = {.fail_rank = -1};
    gmr_options opt;
    tmp_path(path, sizeof path, "tiny.txt");
    tmp_path(out, sizeof out, "tiny.h5");
    write_input(path, "a\nb\n", 4);
    gmr_options_init(&opt);
    opt.provinces = size + 1;
    gmr_err e = run_line_job(&ctx, &opt, inputs, 1, out, NULL);
    all_assert(e == GMR_ERR_ARG, "--provinces %d on %d ranks: expected GMR_ERR_ARG, got %s", size + 1, size,
               gmr_err_name(e));
    all_assert(strstr(gmr_err_message(), "provinces") != NULL, "expected the message to mention provinces: \"%s\"",
               gmr_err_message());
}
END_TEST

START_TEST(test_strict_reject_names_file_and_line)
{
    const char *forced[1200] = {0};
    char path[256], out[256], where[512];
    const char *inputs[1] = {path};
    input in;
    const size_t bad_line = 913; /* 1-based */
    forced[bad_line - 1] = "BAD record under strict";
    input_make(&in, 9, 1200, forced, 1);
    tmp_path(path, sizeof path, "strict.txt");
    tmp_path(out, sizeof out, "strict.h5");
    write_input(path, in.data, in.len);
    for (int p = 0; p < 2; p++) {
        line_ctx ctx = {.fail_rank = -1};
        gmr_options opt;
        gmr_options_init(&opt);
        opt.split_size = 50;
        opt.strict = 1;
        opt.provinces = p ? size : 1;
        ctx.reject_prefix = "BAD";
        gmr_err e = run_line_job(&ctx, &opt, inputs, 1, out, NULL);
        expect_failure_everywhere(e, GMR_ERR_DATA, -1, "strict reject");
        snprintf(where, sizeof where, "%s:%zu: bad line 'BAD record under strict'", path, bad_line);
        all_assert(gmr_err_is_remote() || strstr(gmr_err_message(), where) != NULL,
                   "the failing rank's message should contain \"%s\": \"%s\"", where, gmr_err_message());
    }
    input_free(&in);
}
END_TEST

typedef struct reject_spec {
    const char *prefix;
    size_t max_record;
} reject_spec;

static int rejected_line(const char *line, size_t len, void *arg)
{
    const reject_spec *s = arg;
    size_t n = strlen(s->prefix);
    return len > s->max_record || (len >= n && memcmp(line, s->prefix, n) == 0);
}

START_TEST(test_rejects_file_lists_file_and_line_sorted)
{
    enum { NA = 400, NB = 150 };
    const char *forced_a[NA] = {0}, *forced_b[NB] = {0};
    static char long_line[3][200], max_line[65];
    char path_a[256], path_b[256], out[256], rejects[300], msg[1024] = "";
    const char *inputs[2] = {path_a, path_b};
    input a, b;
    reject_spec spec = {"BAD", 64};
    char *expected = NULL;
    size_t elen = 0, ecap = 1 << 16, nexpected = 0;
    char first[600] = "";

    /* rejected lines in many different splits (split size 50), and overlong ones (> 64 bytes) */
    const size_t bad_a[] = {1, 2, 37, 38, 120, 121, 199, 250, 333, 399, 400};
    const size_t bad_b[] = {5, 75, 150};
    static char text_a[sizeof bad_a / sizeof bad_a[0]][40], text_b[sizeof bad_b / sizeof bad_b[0]][40];
    for (size_t i = 0; i < sizeof bad_a / sizeof bad_a[0]; i++) {
        snprintf(text_a[i], sizeof text_a[i], "BAD a #%zu", bad_a[i]);
        forced_a[bad_a[i] - 1] = text_a[i];
    }
    for (size_t i = 0; i < sizeof bad_b / sizeof bad_b[0]; i++) {
        snprintf(text_b[i], sizeof text_b[i], "BAD b #%zu", bad_b[i]);
        forced_b[bad_b[i] - 1] = text_b[i];
    }
    for (int i = 0; i < 3; i++) {
        memset(long_line[i], 'L' + i, 65 + 50 * i);
        long_line[i][65 + 50 * i] = '\0';
    }
    forced_a[60 - 1] = long_line[0];
    for (int i = 0; i < 64; i++) max_line[i] = (char)('A' + i % 26); /* exactly max_record: accepted */
    forced_a[61 - 1] = max_line;
    forced_a[300 - 1] = long_line[1];
    forced_b[100 - 1] = long_line[2];
    ck_assert_uint_eq(strlen(forced_a[61 - 1]), 64);

    input_make(&a, 11, NA, forced_a, 1);
    input_make(&b, 12, NB, forced_b, 0);
    tmp_path(path_a, sizeof path_a, "rejects_a.txt");
    tmp_path(path_b, sizeof path_b, "rejects_b.txt");
    tmp_path(out, sizeof out, "rejects.h5");
    snprintf(rejects, sizeof rejects, "%s.rejects", out);
    write_input(path_a, a.data, a.len);
    write_input(path_b, b.data, b.len);

    /* the expected OUT.h5.rejects, built from the inputs in file then line order */
    expected = malloc(ecap);
    ck_assert_ptr_nonnull(expected);
    const input *ins[2] = {&a, &b};
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < ins[f]->nlines; i++) {
            const char *line = ins[f]->data + ins[f]->off[i];
            size_t len = ins[f]->llen[i];
            int n;
            if (!rejected_line(line, len, &spec)) continue;
            if (len > spec.max_record)
                n = snprintf(expected + elen, ecap - elen, "%s:%zu: record longer than --max-record 64 bytes\n",
                             inputs[f], i + 1);
            else
                n = snprintf(expected + elen, ecap - elen, "%s:%zu: bad line '%.*s'\n", inputs[f], i + 1, (int)len,
                             line);
            if (!nexpected) snprintf(first, sizeof first, "%.*s", n - 1, expected + elen);
            elen += (size_t)n;
            nexpected++;
        }
    /* exactly the forced lines: random lines are at most 45 bytes and repeats never copy a forced one */
    ck_assert_uint_eq(nexpected, sizeof bad_a / sizeof bad_a[0] + sizeof bad_b / sizeof bad_b[0] + 3);

    reference ref;
    reference_make(&ref, ins, 2, rejected_line, &spec);

    for (int p = 0; p < 2; p++) {
        line_ctx ctx = {.fail_rank = -1};
        gmr_options opt;
        gmr_summary sum;
        gmr_options_init(&opt);
        opt.split_size = 50;
        opt.max_record = 64;
        opt.shuffle_buffer = 300;
        opt.provinces = p ? size : 1;
        ctx.reject_prefix = "BAD";
        gmr_err e = run_line_job(&ctx, &opt, inputs, 2, out, &sum);
        all_assert(e == GMR_OK, "rejects without strict: gmr_job_run returned %s: %s", gmr_err_name(e),
                   gmr_err_message());
        all_assert(sum.rejected == nexpected, "summary: expected %zu rejected records, got %llu", nexpected,
                   (unsigned long long)sum.rejected);
        all_assert(strcmp(sum.first_reject, first) == 0, "summary.first_reject: expected \"%s\", got \"%s\"", first,
                   sum.first_reject);
        int ok = 1;
        if (rank == 0) {
            FILE *fp = fopen(rejects, "rb");
            char *got = malloc(ecap);
            size_t glen = fp && got ? fread(got, 1, ecap, fp) : 0;
            if (!fp) {
                snprintf(msg, sizeof msg, "%s was not written", rejects);
                ok = 0;
            } else if (glen != elen || memcmp(got, expected, elen) != 0) {
                size_t d = 0;
                while (d < glen && d < elen && got[d] == expected[d]) d++;
                snprintf(msg, sizeof msg, "%s differs at byte %zu: expected \"%.*s\", got \"%.*s\"", rejects, d,
                         (int)(elen - d < 120 ? elen - d : 120), expected + d, (int)(glen - d < 120 ? glen - d : 120),
                         got + d);
                ok = 0;
            }
            if (fp) fclose(fp);
            free(got);
        }
        all_assert(ok, "provinces %d: %s", opt.provinces, msg);
        if (rank == 0) ok = result_matches(out, &ref, msg, sizeof msg);
        all_assert(ok, "provinces %d, result without the rejected lines: %s", opt.provinces, msg);
    }

    /* a later run without rejects to the same output removes the stale rejects file */
    {
        line_ctx ctx = {.fail_rank = -1};
        gmr_options opt;
        gmr_options_init(&opt);
        opt.split_size = 50;
        gmr_err e = run_line_job(&ctx, &opt, inputs, 1, out, NULL);
        all_assert(e == GMR_OK, "clean rerun: %s: %s", gmr_err_name(e), gmr_err_message());
    }
    /* that rerun had the "BAD" lines but no reject_prefix: nothing rejected, so no file */
    all_assert(rank != 0 || !file_exists(rejects), "a run without rejects left a stale %s", rejects);
    free(expected);
    input_free(&a);
    input_free(&b);
}
END_TEST

/* ---- runner ---------------------------------------------------------------------------- */

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("job");
    tcase_add_test(tc, test_list_job_matches_serial_reference);
    tcase_add_test(tc, test_empty_input_gives_empty_result);
    tcase_add_test(tc, test_profile_counts_match_the_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("shuffle");
    tcase_add_test(tc, test_shuffle_combine_mode_sends_keys_home);
    tcase_add_test(tc, test_shuffle_list_mode_keeps_every_value);
    tcase_add_test(tc, test_shuffle_of_partitioned_tables_sizes_the_destination);
    tcase_add_test(tc, test_plan_cuts_the_tail_finer_with_several_ranks);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_missing_input_fails_with_io_error_everywhere);
    tcase_add_test(tc, test_map_error_on_one_rank_stops_all);
    tcase_add_test(tc, test_map_error_on_each_rank_stops_all);
    tcase_add_test(tc, test_agree_one_failing_rank);
    tcase_add_test(tc, test_agree_lowest_rank_reports_among_equal_codes);
    tcase_add_test(tc, test_agree_larger_code_wins_everywhere);
    tcase_add_test(tc, test_too_many_provinces_is_an_argument_error);
    tcase_add_test(tc, test_strict_reject_names_file_and_line);
    tcase_add_test(tc, test_rejects_file_lists_file_and_line_sorted);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return mpi_test_main(argc, argv, engine_suite, "/tmp/gmr_check_engine_XXXXXX"); }
