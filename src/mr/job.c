/* job.c: one MapReduce job from plan to result file.
 *
 *   plan (HQ)  ->  map + combine (all ranks, splits on demand)  ->  stage the map output
 *              ->  shuffle inside each province, combine (the provinces' reduce)
 *              ->  shuffle across provinces, combine (the merge; skipped with one province)
 *              ->  reduce on each key's final owner  ->  collective HDF5 write
 *
 * Every phase ends with an agreement on its status (gmr__agree), so an error on one rank stops
 * all of them at the same point and nobody waits in a collective. Rejected records are kept as
 * (split, record index, reason) while mapping, because a rank does not know how many lines came
 * before its split; once every split's record count is known (one Allreduce of an array of
 * nsplits integers) they become file:line and HQ writes them, sorted, to OUT.h5.rejects.
 * Under --strict the first rejection stops the job; its line number is found by counting the
 * lines before the split, which costs one read of that prefix on the error path only.
 * With --resume, a complete and matching staged map output replaces the map (src/stage/). */
#define _XOPEN_SOURCE 700
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "../core/progress.h"
#include "../io/io.h"
#include "../sched/sched.h"
#include "../topo/topo.h"
#include "gridmr/log.h"
#include "kvtable.h"
#include "shuffle.h"
#include "spill.h"
#include "../stage/stage.h"

#define MAP_WINDOW (1u << 20)

static double now(void) { return MPI_Wtime(); } /* read window: also how often HQ answers split requests */

struct gmr_job_s {
    MPI_Comm comm;
    const gmr_job_ops *ops;
    void *ctx;
    gmr_options opt;
    char **inputs;
    int ninputs;
    gmr_summary summary;
    gmr_profile profile;
    double *prof_t;        /* [ranks x GMR_NPHASES] */
    uint64_t *prof_u;      /* [ranks x PROF_U] as gathered */
    uint64_t *prof_rank;   /* [3 x ranks]: peak rss, shuffle bytes, spill bytes */
};

/* What each rank contributes to the profile: per phase records in/out, bytes in/out, then its
 * peak memory, shuffle bytes sent and bytes spilled or checkpointed. */
#define PROF_U (4 * GMR_NPHASES + 3)
static const char *const phase_names[GMR_NPHASES] = {"plan", "map", "shuffle", "stage", "reduce", "write"};

typedef struct header {
    int loaded;
    gmr__buf line;
    gmr__reader_state st;
    size_t nfields;
} header;

typedef struct map_state map_state;
typedef struct lane_pool lane_pool;

/* Map output waits here in small batches (combine mode only): hashing a batch and prefetching
 * its table slots and entries before inserting overlaps the cache misses of a large table,
 * which is where a combining map spends its time. Keys and values are copied, so a map may
 * reuse its buffers as soon as gmr_emit returns. */
#define EMIT_BATCH 32
typedef struct emit_batch {
    int n;
    uint64_t hash[EMIT_BATCH];
    int part[EMIT_BATCH];
    uint32_t klen[EMIT_BATCH];
    uint64_t koff[EMIT_BATCH];
    gmr__buf keys;  /* key bytes of the batch */
    gmr__buf vals;  /* EMIT_BATCH values of value_size bytes */
} emit_batch;

struct gmr_emitter {
    map_state *ms;
    uint64_t split;       /* current split */
    uint64_t rec;         /* record index inside the split */
    int rejected;         /* the current record was rejected */
};

struct map_state {
    gmr_job job;
    void *map_ctx;             /* what map gets: the job's ctx, or a thread's own */
    gmr__topo *topo;
    gmr__plan *plan;
    gmr__sched *sched;
    const gmr__reader_ops *reader;
    gmr__reader_state rst;
    gmr__kvt **parts;          /* map output (the caller's), one table per rank of the province:
                                  part d holds the keys bound for province rank d, so the keys
                                  this rank keeps never move again */
    int nparts;
    emit_batch batch;
    int *fds;
    header *headers;
    gmr__buf buf;
    gmr_emitter em;
    gmr_record rec;
    uint64_t *split_records;   /* per split: records (lines) it holds; filled by its mapper */
    gmr__buf rejects;          /* [u64 split][u64 rec][u32 len][reason] ... */
    uint64_t records, rejected, bytes;
    uint64_t emitted, emit_bytes;  /* pairs passed to gmr_emit and their key + value bytes */
    uint64_t reused_records;       /* records of runs taken over from the stage */
    /* the current wave (between two checkpoints) */
    gmr__buf wave_splits;      /* [u64 split][u64 records] of each split this rank mapped */
    uint64_t wave_records, wave_rejected;
    size_t wave_rejects;       /* offset in rejects where the wave's start */
    uint64_t limit;            /* table bytes that end a wave (--mem-budget / 4), 0: none */
};

/* ---- options ----------------------------------------------------------------------------- */

void gmr_options_init(gmr_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->shuffle_buffer = GMR_DEFAULT_SHUFFLE_BUFFER;
    opt->max_key = GMR_DEFAULT_MAX_KEY;
    opt->max_record = GMR_DEFAULT_MAX_RECORD;
}

/* ---- life cycle -------------------------------------------------------------------------- */

gmr_err gmr_job_create(MPI_Comm comm, const gmr_job_ops *ops, void *ctx, gmr_job *jobp)
{
    gmr_err err = GMR_OK;
    gmr_job job = NULL;
    *jobp = NULL;
    GMR_CHECK(ops && ops->version == GMR_JOB_OPS_VERSION, GMR_ERR_ARG, "job ops version %d, expected %d",
              ops ? ops->version : -1, GMR_JOB_OPS_VERSION);
    GMR_CHECK(ops->map && ops->reduce && gmr__reader_find(ops->reader), GMR_ERR_ARG,
              "job '%s' needs map, reduce and a known reader (\"lines\", \"csv\", \"jsonl\" or \"blob\")", ops->name);
    GMR_CHECK(!ops->combine || ops->value_size > 0, GMR_ERR_ARG, "job '%s': a combiner needs value_size > 0",
              ops->name);
    GMR_CHECK(ops->ncolumns > 0 && ops->columns, GMR_ERR_ARG, "job '%s' declares no output column", ops->name);
    job = calloc(1, sizeof *job);
    GMR_CHECK(job, GMR_ERR_NOMEM, "cannot allocate a job");
    job->comm = MPI_COMM_NULL;
    GMR_CALL_MPI(MPI_Comm_dup(comm, &job->comm));
    GMR_CALL_MPI(MPI_Comm_set_errhandler(job->comm, MPI_ERRORS_RETURN));
    job->ops = ops;
    job->ctx = ctx;
    gmr_options_init(&job->opt);
    *jobp = job;
    job = NULL;
out:
    gmr_job_destroy(&job);
    return err;
}

void gmr_job_destroy(gmr_job *jobp)
{
    gmr_job job;
    if (!jobp || !*jobp) return;
    job = *jobp;
    for (int i = 0; i < job->ninputs; i++) free(job->inputs[i]);
    free(job->inputs);
    free(job->prof_t);
    free(job->prof_u);
    free(job->prof_rank);
    if (job->comm != MPI_COMM_NULL) MPI_Comm_free(&job->comm);
    free(job);
    *jobp = NULL;
}

gmr_err gmr_job_set_options(gmr_job job, const gmr_options *opt)
{
    gmr_err err = GMR_OK;
    gmr_options o = *opt;
    if (!o.shuffle_buffer) o.shuffle_buffer = GMR_DEFAULT_SHUFFLE_BUFFER;
    if (!o.max_key) o.max_key = GMR_DEFAULT_MAX_KEY;
    if (!o.max_record) o.max_record = GMR_DEFAULT_MAX_RECORD;
    GMR_CHECK(o.shuffle_buffer <= (UINT64_C(1) << 30), GMR_ERR_ARG, "--shuffle-buffer must be at most 1G");
    GMR_CHECK(o.max_key <= (UINT64_C(1) << 20), GMR_ERR_ARG, "--max-key must be at most 1M");
    GMR_CHECK(o.max_record >= 64 && o.max_record <= (UINT64_C(1) << 30), GMR_ERR_ARG,
              "--max-record must be between 64 and 1G");
    GMR_CHECK(o.provinces >= 0, GMR_ERR_ARG, "--provinces must be positive");
    GMR_CHECK(o.mem_budget == 0 || o.mem_budget >= (64u << 10), GMR_ERR_ARG, "--mem-budget must be at least 64K");
    GMR_CHECK(o.threads >= 0 && o.threads <= 256, GMR_ERR_ARG, "--threads must be between 1 and 256");
    job->opt = o;
out:
    return err;
}

gmr_err gmr_job_add_input(gmr_job job, const char *path)
{
    gmr_err err = GMR_OK;
    char **p = realloc(job->inputs, ((size_t)job->ninputs + 1) * sizeof *p);
    GMR_CHECK(p, GMR_ERR_NOMEM, "cannot add an input");
    job->inputs = p;
    job->inputs[job->ninputs] = strdup(path);
    GMR_CHECK(job->inputs[job->ninputs], GMR_ERR_NOMEM, "cannot add an input");
    job->ninputs++;
out:
    return err;
}

gmr_err gmr_job_get_summary(gmr_job job, gmr_summary *s)
{
    *s = job->summary;
    return GMR_OK;
}

gmr_err gmr_job_get_profile(gmr_job job, gmr_profile *p)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(job && job->profile.ranks > 0, GMR_ERR_ARG, "no profile: the job has not run to the end");
    *p = job->profile;
out:
    return err;
}

/* Collective on comm: gathers every rank's phase times t[GMR_NPHASES] and counters u[PROF_U]
 * and fills job->profile (identical on every rank). */
static gmr_err profile_gather(gmr_job job, MPI_Comm comm, int size, const double *t, const uint64_t *u)
{
    gmr_err err = GMR_OK;
    gmr_profile *p = &job->profile;
    free(job->prof_t);
    free(job->prof_u);
    free(job->prof_rank);
    memset(p, 0, sizeof *p);
    job->prof_t = malloc((size_t)size * GMR_NPHASES * sizeof *job->prof_t);
    job->prof_u = malloc((size_t)size * PROF_U * sizeof *job->prof_u);
    job->prof_rank = malloc((size_t)size * 3 * sizeof *job->prof_rank);
    GMR_CALL(gmr__agree(comm, job->prof_t && job->prof_u && job->prof_rank
                                  ? GMR_OK
                                  : GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate the profile of %d ranks", size)));
    GMR_CALL_MPI(MPI_Allgather(t, GMR_NPHASES, MPI_DOUBLE, job->prof_t, GMR_NPHASES, MPI_DOUBLE, comm));
    GMR_CALL_MPI(MPI_Allgather(u, PROF_U, MPI_UINT64_T, job->prof_u, PROF_U, MPI_UINT64_T, comm));
    p->ranks = size;
    for (int ph = 0; ph < GMR_NPHASES; ph++) {
        gmr_phase_profile *q = &p->phase[ph];
        double sum = 0;
        q->name = phase_names[ph];
        /* in rank order: the same sums on every rank */
        for (int r = 0; r < size; r++) {
            double x = job->prof_t[(size_t)r * GMR_NPHASES + ph];
            const uint64_t *c = job->prof_u + (size_t)r * PROF_U + 4 * ph;
            if (r == 0 || x < q->t_min) q->t_min = x;
            if (r == 0 || x > q->t_max) q->t_max = x;
            sum += x;
            q->records_in += c[0];
            q->records_out += c[1];
            q->bytes_in += c[2];
            q->bytes_out += c[3];
        }
        q->t_avg = sum / size;
        q->imbalance = q->t_avg > 0 ? q->t_max / q->t_avg : 0;
    }
    for (int r = 0; r < size; r++) {
        const uint64_t *c = job->prof_u + (size_t)r * PROF_U + 4 * GMR_NPHASES;
        job->prof_rank[r] = c[0];
        job->prof_rank[size + r] = c[1];
        job->prof_rank[2 * (size_t)size + r] = c[2];
        p->shuffle_bytes += c[1];
        p->spill_bytes += c[2];
    }
    p->rank_time = job->prof_t;
    p->rank_peak_rss = job->prof_rank;
    p->rank_shuffle_bytes = job->prof_rank + size;
    p->rank_spill_bytes = job->prof_rank + 2 * (size_t)size;
out:
    return err;
}

/* ---- map --------------------------------------------------------------------------------- */

/* Lines of `path` before `off` (error path only: reads the prefix once). */
static uint64_t lines_before(int fd, uint64_t off)
{
    char win[65536];
    uint64_t pos = 0, n = 0;
    while (pos < off) {
        size_t want = off - pos < sizeof win ? (size_t)(off - pos) : sizeof win, got = 0;
        if (gmr__pread_full(fd, "", win, want, pos, &got) || got == 0) break;
        for (size_t i = 0; i < got; i++) n += win[i] == '\n';
        pos += got;
    }
    return n;
}

static gmr_err reject_record(gmr_emitter *em, const char *reason)
{
    gmr_err err = GMR_OK;
    map_state *ms = em->ms;
    uint64_t hdr[2] = {em->split, em->rec};
    uint32_t len = (uint32_t)strlen(reason);
    if (em->rejected) return GMR_OK; /* a record counts once */
    em->rejected = 1;
    ms->rejected++;
    ms->wave_rejected++;
    if (ms->job->opt.strict) {
        const gmr__split *s = &ms->plan->splits[em->split];
        uint64_t line = 1 + lines_before(ms->fds[s->file], s->off) + em->rec;
        GMR_FAIL(GMR_ERR_DATA, "%s:%llu: %s", ms->plan->paths[s->file], (unsigned long long)line, reason);
    }
    GMR_CALL(gmr__buf_reserve(&ms->rejects, ms->rejects.len + sizeof hdr + sizeof len + len));
    memcpy(ms->rejects.data + ms->rejects.len, hdr, sizeof hdr);
    memcpy(ms->rejects.data + ms->rejects.len + sizeof hdr, &len, sizeof len);
    memcpy(ms->rejects.data + ms->rejects.len + sizeof hdr + sizeof len, reason, len);
    ms->rejects.len += sizeof hdr + sizeof len + len;
out:
    return err;
}

gmr_err gmr_reject(gmr_emitter *em, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return reject_record(em, reason);
}

static gmr_err flush_batch(map_state *ms)
{
    gmr_err err = GMR_OK;
    emit_batch *b = &ms->batch;
    size_t vs = ms->parts[0]->value_size;
    for (int j = 0; j < b->n; j++) gmr__kvt_prefetch_entry(ms->parts[b->part[j]], b->hash[j]);
    for (int j = 0; j < b->n; j++)
        GMR_CALL(gmr__kvt_insert(ms->parts[b->part[j]], b->hash[j], b->keys.data + b->koff[j], b->klen[j],
                                 b->vals.data + (size_t)j * vs, (uint32_t)vs));
out:
    b->n = 0;
    b->keys.len = 0;
    return err;
}

gmr_err gmr_emit(gmr_emitter *em, const void *key, size_t klen, const void *val, size_t vlen)
{
    gmr_err err = GMR_OK;
    map_state *ms = em->ms;
    emit_batch *b = &ms->batch;
    gmr__kvt *t;
    uint64_t h;
    int part;
    if (klen > ms->job->opt.max_key)
        return gmr_reject(em, "key of %zu bytes is longer than --max-key %llu", klen,
                          (unsigned long long)ms->job->opt.max_key);
    GMR_CHECK(vlen <= UINT32_MAX, GMR_ERR_ARG, "value of %zu bytes is too large", vlen);
    ms->emitted++;
    ms->emit_bytes += klen + vlen;
    h = gmr__hash(key, klen);
    part = gmr__dest(h, GMR_LEVEL_PROVINCE, ms->nparts);
    t = ms->parts[part];
    if (!t->value_size) return gmr__kvt_insert(t, h, key, (uint32_t)klen, val, (uint32_t)vlen);
    GMR_CHECK(vlen == t->value_size, GMR_ERR_ARG, "value of %zu bytes emitted, the job declares value_size %zu", vlen,
              t->value_size);
    if (b->keys.len + klen > b->keys.cap) GMR_CALL(gmr__buf_reserve(&b->keys, b->keys.len + klen));
    if (klen) memcpy(b->keys.data + b->keys.len, key, klen);
    memcpy(b->vals.data + (size_t)b->n * vlen, val, vlen);
    b->hash[b->n] = h;
    b->part[b->n] = part;
    b->klen[b->n] = (uint32_t)klen;
    b->koff[b->n] = b->keys.len;
    b->keys.len += klen;
    gmr__kvt_prefetch_slot(t, h);
    if (++b->n == EMIT_BATCH) GMR_CALL(flush_batch(ms));
out:
    return err;
}

static gmr_err load_header(map_state *ms, int f)
{
    gmr_err err = GMR_OK;
    header *h = &ms->headers[f];
    uint64_t end = 0;
    size_t got = 0;
    const char *why = NULL;
    if (h->loaded) return GMR_OK;
    if (ms->plan->sizes[f]) GMR_CALL(gmr__split_align(ms->fds[f], ms->plan->paths[f], ms->plan->sizes[f], 1, &end));
    GMR_CHECK(end <= ms->job->opt.max_record, GMR_ERR_DATA, "%s:1: header line longer than --max-record",
              ms->plan->paths[f]);
    GMR_CALL(gmr__buf_reserve(&h->line, (size_t)end + 1));
    GMR_CALL(gmr__pread_full(ms->fds[f], ms->plan->paths[f], h->line.data, (size_t)end, 0, &got));
    while (got && (h->line.data[got - 1] == '\n')) got--;
    h->line.len = got;
    GMR_CHECK(gmr__csv_split(h->line.data, h->line.len, &h->st.fields, &h->st.scratch, &h->nfields, &why) == 0,
              GMR_ERR_DATA, "%s:1: bad header: %s", ms->plan->paths[f], why);
    h->loaded = 1;
out:
    return err;
}

static gmr_err map_line(void *vms, const char *line, size_t len, uint64_t off, int overlong)
{
    gmr_err err = GMR_OK;
    map_state *ms = vms;
    gmr_emitter *em = &ms->em;
    const char *why = NULL;
    uint64_t idx = em->rec;
    em->rejected = 0;
    ms->rec.offset = off;
    if (overlong) {
        GMR_CALL(gmr_reject(em, "record longer than --max-record %llu bytes",
                            (unsigned long long)ms->job->opt.max_record));
    } else if (ms->reader->has_header && ms->plan->splits[em->split].off == 0 && idx == 0) {
        /* the header line, parsed by load_header */
    } else if (ms->reader->has_header && (len == 0 || (len == 1 && line[0] == '\r'))) {
        /* a blank line in a table: not a record */
    } else {
        /* 0: map it; GMR__REC_BAD: quarantine; GMR__REC_SKIP: not a record; > 0: a failure */
        int r = ms->reader->parse(&ms->rst, line, len, &ms->rec, &why);
        if (r != GMR__REC_SKIP) {
            ms->records++;
            ms->wave_records++;
        }
        if (r > 0) GMR_CALL((gmr_err)r);
        if (r == GMR__REC_BAD) GMR_CALL(gmr_reject(em, "%s", why));
        if (r == GMR_OK) GMR_CALL(ms->job->ops->map(ms->map_ctx, &ms->rec, em));
    }
    em->rec++;
out:
    return err;
}

static volatile sig_atomic_t interrupt_requested;

void gmr_interrupt(void) { interrupt_requested = 1; }

/* GMR_ERR_INTERRUPTED once gmr_interrupt() was called. Not collective: callers agree. */
static gmr_err check_interrupt(void)
{
    return interrupt_requested ? GMR_ERROR(GMR_ERR_INTERRUPTED, "interrupted by a signal: stopping") : GMR_OK;
}

/* After every read window: HQ answers split requests. An interrupt does not stop the split
 * (its keys are already in the tables): the rank finishes it and the wave ends. */
static gmr_err poll_hq(void *vms)
{
    map_state *ms = vms;
    return gmr__sched_poll(ms->sched);
}

static uint64_t tables_bytes(const map_state *ms)
{
    uint64_t b = 0; /* the emit batch is left out: bounded by EMIT_BATCH x --max-key */
    for (int d = 0; d < ms->nparts; d++) b += gmr__kvt_bytes(ms->parts[d]);
    return b;
}

/* Between splits: end the wave when this rank was interrupted or its tables are full. */
static int map_should_stop(void *vms)
{
    const map_state *ms = vms;
    return interrupt_requested || (ms->limit && tables_bytes(ms) > ms->limit);
}

static void crash_point(const gmr_job job, const gmr__topo *topo, const char *point);
static int test_hooks_apply(const gmr_job job);

/* Test hook (tests/slurm.sh): GRIDMR_TEST_SLOW_SPLIT=SEC makes every split take at least SEC
 * seconds more, so that a small job's map lasts long enough to be requeued in the middle.
 * HQ keeps answering requests meanwhile. */
static void slow_split(map_state *ms)
{
    const char *v = getenv("GRIDMR_TEST_SLOW_SPLIT");
    double sec = v ? strtod(v, NULL) : 0, end;
    if (!(sec > 0) || sec > 60 || !test_hooks_apply(ms->job)) return;
    end = now() + sec;
    while (now() < end && !interrupt_requested) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
        if (ms->sched) gmr__sched_poll(ms->sched);
    }
}

static gmr_err map_split(void *vms, uint64_t split)
{
    gmr_err err = GMR_OK;
    map_state *ms = vms;
    const gmr__split *s = &ms->plan->splits[split];
    int f = (int)s->file;
    uint64_t nrec = 0;
    size_t window = MAP_WINDOW;

    if (ms->fds[f] < 0) {
        ms->fds[f] = open(ms->plan->paths[f], O_RDONLY);
        GMR_CHECK(ms->fds[f] >= 0, GMR_ERR_IO, "%s: %s", ms->plan->paths[f], strerror(errno));
    }
    if (ms->reader->has_header) GMR_CALL(load_header(ms, f));
    ms->rec.file_index = f;
    ms->rec.file = ms->plan->paths[f];
    ms->rec.nheader = ms->headers[f].nfields;
    ms->rec.header = (const gmr_field *)(const void *)ms->headers[f].st.fields.data;
    ms->em.split = split;
    ms->em.rec = 0;
    if (window > ms->job->opt.max_record + 1) window = (size_t)ms->job->opt.max_record + 1;
    GMR_CALL(gmr__split_scan(ms->fds[f], ms->plan->paths[f], s->off, s->len, window, ms->job->opt.max_record,
                             &ms->buf, map_line, ms, poll_hq, ms, &nrec));
    ms->split_records[split] = nrec;
    ms->bytes += s->len;
    slow_split(ms);
    {
        uint64_t entry[2] = {split, nrec};
        GMR_CALL(gmr__buf_reserve(&ms->wave_splits, ms->wave_splits.len + sizeof entry));
        memcpy(ms->wave_splits.data + ms->wave_splits.len, entry, sizeof entry);
        ms->wave_splits.len += sizeof entry;
    }
    crash_point(ms->job, ms->topo, "map-split");
out:
    return err;
}

/* Not collective: a mapper's state. split_records is shared by all of a rank's mappers (each
 * split is mapped once, so they write different elements). */
static gmr_err map_state_init(map_state *ms, gmr_job job, gmr__topo *topo, gmr__plan *plan, gmr__kvt **parts,
                              uint64_t *split_records)
{
    gmr_err err = GMR_OK;
    memset(ms, 0, sizeof *ms);
    ms->job = job;
    ms->map_ctx = job->ctx;
    ms->topo = topo;
    ms->plan = plan;
    ms->reader = gmr__reader_find(job->ops->reader);
    ms->em.ms = ms;
    ms->parts = parts;
    ms->nparts = topo->psize;
    ms->limit = job->opt.mem_budget / 4;
    ms->split_records = split_records;
    ms->fds = malloc(((size_t)plan->nfiles + 1) * sizeof *ms->fds);
    ms->headers = calloc((size_t)plan->nfiles + 1, sizeof *ms->headers);
    GMR_CHECK(ms->fds && ms->headers, GMR_ERR_NOMEM, "cannot allocate map state");
    for (int f = 0; f < plan->nfiles; f++) ms->fds[f] = -1;
    if (job->ops->combine) GMR_CALL(gmr__buf_reserve(&ms->batch.vals, EMIT_BATCH * job->ops->value_size));
out:
    return err;
}

static void map_state_free(map_state *ms)
{
    if (ms->fds)
        for (int f = 0; f < ms->plan->nfiles; f++)
            if (ms->fds[f] >= 0) close(ms->fds[f]);
    free(ms->fds);
    if (ms->headers)
        for (int f = 0; f < ms->plan->nfiles; f++) {
            gmr__buf_free(&ms->headers[f].line);
            gmr__reader_state_free(&ms->headers[f].st);
        }
    free(ms->headers);
    gmr__reader_state_free(&ms->rst);
    gmr__buf_free(&ms->buf);
    gmr__buf_free(&ms->rejects);
    gmr__buf_free(&ms->batch.keys);
    gmr__buf_free(&ms->batch.vals);
    gmr__buf_free(&ms->wave_splits);
}

/* ---- rejects ----------------------------------------------------------------------------- */

typedef struct reject_line {
    int64_t file;
    uint64_t line;
    const char *reason;
    uint32_t len;
} reject_line;

static int reject_cmp(const void *a, const void *b)
{
    const reject_line *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return 0;
}

/* Collective on comm. Turns (split, record) into file:line, gathers at HQ, writes
 * OUT.h5.rejects sorted by file and line (or removes a stale one when there is none). */
static gmr_err write_rejects(map_state *ms, const char *output_path)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    MPI_Comm comm = ms->topo->world;
    gmr__plan *plan = ms->plan;
    uint64_t *first_line = NULL, n = 0, at = 0;
    reject_line *lines = NULL;
    int *counts = NULL, *displs = NULL, mylen, size = ms->topo->size, go = 1;
    char *all = NULL, *path = NULL;
    FILE *fp = NULL;
    gmr__buf mine = {0};

    /* line number of each split's first record */
    first_line = calloc(plan->nsplits + 1, sizeof *first_line);
    GMR_CHECK(first_line, GMR_ERR_NOMEM, "cannot allocate line table");
    if (plan->nsplits)
        GMR_CALL_MPI(MPI_Allreduce(ms->split_records, first_line, (int)plan->nsplits, MPI_UINT64_T, MPI_SUM, comm));
    {
        uint64_t run = 1;
        int64_t file = -1;
        for (uint64_t s = 0; s < plan->nsplits; s++) {
            uint64_t c = first_line[s];
            if (plan->splits[s].file != file) run = 1, file = plan->splits[s].file;
            first_line[s] = run;
            run += c;
        }
    }
    /* re-encode this rank's rejects as [i64 file][u64 line][u32 len][reason] */
    for (at = 0; at < ms->rejects.len;) {
        uint64_t hdr[2], rec[2];
        uint32_t len;
        memcpy(hdr, ms->rejects.data + at, sizeof hdr);
        memcpy(&len, ms->rejects.data + at + sizeof hdr, sizeof len);
        rec[0] = (uint64_t)plan->splits[hdr[0]].file;
        rec[1] = first_line[hdr[0]] + hdr[1];
        GMR_CALL(gmr__buf_reserve(&mine, mine.len + sizeof rec + sizeof len + len));
        memcpy(mine.data + mine.len, rec, sizeof rec);
        memcpy(mine.data + mine.len + sizeof rec, &len, sizeof len);
        memcpy(mine.data + mine.len + sizeof rec + sizeof len, ms->rejects.data + at + sizeof hdr + sizeof len, len);
        mine.len += sizeof rec + sizeof len + len;
        at += sizeof hdr + sizeof len + len;
    }
    /* a rank with too much to report still takes part in the gathers below, with nothing */
    mylen = mine.len < (1u << 30) ? (int)mine.len : 0;
    if (mine.len >= (1u << 30)) local = GMR_ERROR(GMR_ERR_ARG, "too many rejected records to report");
    counts = calloc((size_t)size, sizeof *counts);
    displs = calloc((size_t)size, sizeof *displs);
    GMR_CHECK(counts && displs, GMR_ERR_NOMEM, "cannot allocate reject counts");
    GMR_CALL_MPI(MPI_Gather(&mylen, 1, MPI_INT, counts, 1, MPI_INT, GMR_HQ, comm));
    if (ms->topo->rank == GMR_HQ) {
        uint64_t total = 0;
        for (int r = 0; r < size; r++) {
            displs[r] = (int)total;
            total += (uint64_t)counts[r];
        }
        if (total >= (1u << 31)) local = GMR_ERROR(GMR_ERR_ARG, "too many rejected records to report");
        all = malloc(total + 1);
        if (!all && !local) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot gather rejected records");
        if (local) memset(counts, 0, (size_t)size * sizeof *counts), memset(displs, 0, (size_t)size * sizeof *displs);
        at = local ? 0 : total;
        go = !local;
    }
    /* HQ says whether it can take the bytes; if not, everyone sends nothing */
    GMR_CALL_MPI(MPI_Bcast(&go, 1, MPI_INT, GMR_HQ, comm));
    if (!go) mylen = 0;
    GMR_CALL_MPI(MPI_Gatherv(mine.data, mylen, MPI_BYTE, all, counts, displs, MPI_BYTE, GMR_HQ, comm));
    if (ms->topo->rank == GMR_HQ && !local) {
        uint64_t total = at, cap = 0;
        for (at = 0; at < total;) {
            uint64_t rec[2];
            uint32_t len;
            memcpy(rec, all + at, sizeof rec);
            memcpy(&len, all + at + sizeof rec, sizeof len);
            if (n == cap) {
                reject_line *p = realloc(lines, (cap = cap ? 2 * cap : 64) * sizeof *lines);
                if (!p) {
                    local = GMR_ERROR(GMR_ERR_NOMEM, "cannot sort rejected records");
                    break;
                }
                lines = p;
            }
            lines[n].file = (int64_t)rec[0];
            lines[n].line = rec[1];
            lines[n].len = len;
            lines[n].reason = all + at + sizeof rec + sizeof len;
            n++;
            at += sizeof rec + sizeof len + len;
        }
        if (!local && n) qsort(lines, n, sizeof *lines, reject_cmp);
        path = malloc(strlen(output_path) + 16);
        if (!path && !local) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
        if (!local && path) {
            snprintf(path, strlen(output_path) + 16, "%s.rejects", output_path);
            if (n == 0) {
                if (unlink(path) != 0 && errno != ENOENT)
                    local = GMR_ERROR(GMR_ERR_IO, "%s: %s", path, strerror(errno));
            } else if (!(fp = fopen(path, "w"))) {
                local = GMR_ERROR(GMR_ERR_IO, "%s: %s", path, strerror(errno));
            } else {
                for (uint64_t i = 0; i < n; i++)
                    fprintf(fp, "%s:%llu: %.*s\n", plan->paths[lines[i].file], (unsigned long long)lines[i].line,
                            (int)lines[i].len, lines[i].reason);
                if (fclose(fp) != 0) local = GMR_ERROR(GMR_ERR_IO, "%s: %s", path, strerror(errno));
                fp = NULL;
            }
        }
        if (!local && n)
            snprintf(ms->job->summary.first_reject, sizeof ms->job->summary.first_reject, "%s:%llu: %.*s",
                     plan->paths[lines[0].file], (unsigned long long)lines[0].line, (int)lines[0].len,
                     lines[0].reason);
    }
    GMR_CALL(gmr__agree(comm, local));
    GMR_CALL_MPI(MPI_Bcast(ms->job->summary.first_reject, sizeof ms->job->summary.first_reject, MPI_CHAR, GMR_HQ,
                           comm));
out:
    if (fp) fclose(fp);
    free(path);
    free(all);
    free(lines);
    free(displs);
    free(counts);
    gmr__buf_free(&mine);
    free(first_line);
    return err;
}

/* ---- reduce ------------------------------------------------------------------------------ */

typedef gmr__value_ref value_ref;

struct gmr_values {
    const value_ref *v;
    uint64_t n, next;
};

int gmr_values_next(gmr_values *vals, const void **val, size_t *vlen)
{
    if (vals->next >= vals->n) return 0;
    *val = vals->v[vals->next].ptr;
    *vlen = vals->v[vals->next].len;
    vals->next++;
    return 1;
}

static int value_cmp(const void *a, const void *b)
{
    const value_ref *x = a, *y = b;
    uint32_t m = x->len < y->len ? x->len : y->len;
    int c = m ? memcmp(x->ptr, y->ptr, m) : 0;
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

gmr_err gmr_output_row(gmr_output *o, const void *key, size_t klen, const void *slots)
{
    gmr_err err = GMR_OK;
    if (o->n + 1 >= o->cap) {
        uint64_t cap = o->cap ? 2 * o->cap : 1024;
        uint64_t *k = realloc(o->koff, (cap + 1) * sizeof *k);
        GMR_CHECK(k, GMR_ERR_NOMEM, "cannot grow the output");
        o->koff = k;
        k = realloc(o->slots, cap * o->ncolumns * sizeof *k);
        GMR_CHECK(k, GMR_ERR_NOMEM, "cannot grow the output");
        o->slots = k;
        o->cap = cap;
    }
    if (o->keys_len + klen > o->keys_cap) {
        uint64_t cap = o->keys_cap ? o->keys_cap : 4096;
        char *p;
        while (cap < o->keys_len + klen) cap *= 2;
        p = realloc(o->keys, cap);
        GMR_CHECK(p, GMR_ERR_NOMEM, "cannot grow the output");
        o->keys = p;
        o->keys_cap = cap;
    }
    if (klen) memcpy(o->keys + o->keys_len, key, klen);
    o->koff[o->n] = o->keys_len;
    o->keys_len += klen;
    o->koff[o->n + 1] = o->keys_len;
    memcpy(o->slots + o->n * o->ncolumns, slots, o->ncolumns * sizeof *o->slots);
    o->n++;
out:
    return err;
}

void gmr__output_free(struct gmr_output *o)
{
    free(o->keys);
    free(o->koff);
    free(o->slots);
    memset(o, 0, sizeof *o);
}

/* One key's reduce: values are put in byte order first (list mode), so what reduce sees does
 * not depend on the rank count or on how the values travelled. */
typedef struct reduce_ctx {
    gmr_job job;
    gmr_output *out;
    uint64_t keys;     /* keys reduced (the merge path counts them here) */
} reduce_ctx;

static gmr_err reduce_key(void *vrc, const void *key, uint32_t klen, const value_ref *v, uint64_t n)
{
    reduce_ctx *rc = vrc;
    gmr_values vals = {v, n, 0};
    rc->keys++;
    if (n > 1) qsort((void *)(uintptr_t)v, n, sizeof *v, value_cmp);
    return rc->job->ops->reduce(rc->job->ctx, key, klen, &vals, rc->out);
}

static gmr_err reduce_all(gmr_job job, const gmr__kvt *t, gmr_output *out)
{
    gmr_err err = GMR_OK;
    reduce_ctx rc = {job, out, 0};
    value_ref *v = NULL;
    uint64_t vcap = 0;
    for (uint64_t i = 0; i < t->n; i++) {
        const gmr__kv_entry *e = gmr__kvt_entry(t, i);
        uint64_t cursor = 0, n = 0;
        const void *val;
        uint32_t len;
        if (t->value_size) {
            value_ref one = {gmr__kvt_value(t, i), (uint32_t)t->value_size};
            GMR_CALL(reduce_key(&rc, gmr__kvt_key(t, i), e->klen, &one, 1));
            continue;
        }
        if (e->nvals > vcap) {
            value_ref *p = realloc(v, e->nvals * sizeof *p);
            GMR_CHECK(p, GMR_ERR_NOMEM, "cannot gather %u values", e->nvals);
            v = p;
            vcap = e->nvals;
        }
        while (gmr__kvt_next_value(t, i, &cursor, &val, &len)) {
            v[n].ptr = val;
            v[n].len = len;
            n++;
        }
        GMR_CALL(reduce_key(&rc, gmr__kvt_key(t, i), e->klen, v, n));
    }
out:
    free(v);
    return err;
}

/* ---- --top ------------------------------------------------------------------------------- */

/* A row's place in the job's order, comparable without the table: the first column made
 * unsigned-descending (FIRST_DESC), then the key bytes. */
typedef struct row_rank {
    uint64_t first;
    const char *key;
    uint64_t klen, row;
} row_rank;

static int row_rank_cmp(const void *a, const void *b)
{
    const row_rank *x = a, *y = b;
    uint64_t m = x->klen < y->klen ? x->klen : y->klen;
    int c;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    c = m ? memcmp(x->key, y->key, (size_t)m) : 0;
    if (c) return c;
    return (x->klen > y->klen) - (x->klen < y->klen);
}

/* Ascending in this value = descending in the column (doubles by their IEEE order). */
static uint64_t desc_key(uint64_t slot, gmr_type type)
{
    if (type == GMR_TYPE_F64) slot = (slot >> 63) ? ~slot : slot | (UINT64_C(1) << 63);
    return ~slot;
}

static gmr_err ranks_sorted(const gmr_job job, const gmr_output *o, row_rank **rp)
{
    gmr_err err = GMR_OK;
    row_rank *r = malloc((o->n + 1) * sizeof *r);
    GMR_CHECK(r, GMR_ERR_NOMEM, "cannot sort %llu rows", (unsigned long long)o->n);
    for (uint64_t i = 0; i < o->n; i++) {
        r[i].first = job->ops->order == GMR_ORDER_FIRST_DESC ? desc_key(o->slots[i * o->ncolumns], job->ops->columns[0].type) : 0;
        r[i].key = o->keys + o->koff[i];
        r[i].klen = o->koff[i + 1] - o->koff[i];
        r[i].row = i;
    }
    qsort(r, o->n, sizeof *r, row_rank_cmp);
    *rp = r;
out:
    return err;
}

/* Collective on topo->world: keeps the first `top` rows of all ranks' output in the job's
 * order, at HQ. Each rank sends at most `top` rows, so HQ holds at most ranks x top of them,
 * whatever the number of keys. */
static gmr_err keep_top(gmr_job job, const gmr__topo *topo, gmr_output *out, uint64_t top)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    row_rank *r = NULL;
    gmr__buf mine = {0};
    gmr_output kept;
    char *all = NULL;
    int *counts = NULL, *displs = NULL, len = 0;
    uint64_t n, total = 0, row = (uint64_t)out->ncolumns * 8 + 4;

    memset(&kept, 0, sizeof kept);
    kept.ncolumns = out->ncolumns;
    local = ranks_sorted(job, out, &r);
    n = out->n < top ? out->n : top;
    for (uint64_t i = 0; !local && i < n; i++) {
        uint32_t kl = (uint32_t)r[i].klen;
        local = gmr__buf_reserve(&mine, mine.len + row + kl);
        if (local) break;
        memcpy(mine.data + mine.len, &kl, 4);
        memcpy(mine.data + mine.len + 4, r[i].key, kl);
        memcpy(mine.data + mine.len + 4 + kl, out->slots + r[i].row * out->ncolumns, out->ncolumns * 8);
        mine.len += row + kl;
    }
    if (!local && mine.len > INT32_MAX) local = GMR_ERROR(GMR_ERR_ARG, "--top %llu: too many bytes to gather", (unsigned long long)top);
    counts = calloc((size_t)topo->size, sizeof *counts);
    displs = calloc((size_t)topo->size, sizeof *displs);
    if (!local && (!counts || !displs)) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(topo->world, local));
    len = (int)mine.len;
    GMR_CALL_MPI(MPI_Gather(&len, 1, MPI_INT, counts, 1, MPI_INT, GMR_HQ, topo->world));
    for (int q = 0; q < topo->size; q++) {
        displs[q] = (int)total;
        total += (uint64_t)counts[q];
    }
    if (topo->rank == GMR_HQ && total > INT32_MAX) local = GMR_ERROR(GMR_ERR_ARG, "--top %llu: too many bytes to gather", (unsigned long long)top);
    if (topo->rank == GMR_HQ && !local && !(all = malloc(total + 1))) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(topo->world, local));
    GMR_CALL_MPI(MPI_Gatherv(mine.data, len, MPI_BYTE, all, counts, displs, MPI_BYTE, GMR_HQ, topo->world));
    if (topo->rank == GMR_HQ) {
        for (uint64_t at = 0; !local && at < total;) {
            uint32_t kl;
            memcpy(&kl, all + at, 4);
            local = gmr_output_row(&kept, all + at + 4, kl, all + at + 4 + kl);
            at += row + kl;
        }
        free(r);
        r = NULL;
        if (!local) local = ranks_sorted(job, &kept, &r);
        if (!local) {
            /* the first `top` of the gathered rows, in order */
            gmr_output best;
            memset(&best, 0, sizeof best);
            best.ncolumns = kept.ncolumns;
            for (uint64_t i = 0; !local && i < kept.n && i < top; i++)
                local = gmr_output_row(&best, r[i].key, r[i].klen, kept.slots + r[i].row * kept.ncolumns);
            gmr__output_free(&kept);
            kept = best;
        }
    }
    GMR_CALL(gmr__agree(topo->world, local));
    gmr__output_free(out);
    *out = kept;
    memset(&kept, 0, sizeof kept);
out:
    gmr__output_free(&kept);
    free(all);
    free(displs);
    free(counts);
    gmr__buf_free(&mine);
    free(r);
    return err;
}

/* ---- the run ----------------------------------------------------------------------------- */

#define MAP_GROUP "map"
#define LEDGER_HEADER 4 /* u64: splits, records, rejected, reject bytes */

/* What the map leaves for the shuffle besides the tables in memory. */
typedef struct map_result {
    char **runs;               /* map runs whose data is only in the stage */
    int nruns;
    uint64_t counts[2];        /* this rank's records and rejected records, reused ones included */
    uint64_t splits_reused, bytes_reused, checkpoints;
    int all_reused;
    double t_stage;            /* writing checkpoints */
    uint64_t stage_bytes;      /* this rank's record bytes in them */
    uint64_t io[4];            /* this rank, this run: records and bytes mapped, pairs and bytes emitted */
} map_result;

static void map_result_free(map_result *mr)
{
    gmr__stage_names_free(&mr->runs, mr->nruns);
    mr->nruns = 0;
}

static gmr_err add_name(char ***names, int *n, const char *name)
{
    gmr_err err = GMR_OK;
    char **p = realloc(*names, ((size_t)*n + 1) * sizeof *p);
    GMR_CHECK(p, GMR_ERR_NOMEM, "out of memory");
    *names = p;
    GMR_CHECK(p[*n] = strdup(name), GMR_ERR_NOMEM, "out of memory");
    (*n)++;
out:
    return err;
}

/* Test hooks for the resume tests (tests/run.sh). GRIDMR_TEST_CRASH=POINT makes the last rank
 * die by SIGKILL when it reaches POINT, as a node failure would; term-POINT sends it SIGTERM
 * instead, as Slurm's time limit would. Points: "map" (start of the map), "map-split" (after
 * each split the rank maps), "map-run" (right after the first checkpoint while splits
 * remain), "shuffle" (start of the shuffle).
 * GRIDMR_TEST_WAVE=K ends every map wave after K splits, so tests get checkpoints on small
 * inputs. GRIDMR_TEST_JOB=NAME limits these and GRIDMR_TEST_SLOW_SPLIT to the job of that name
 * (gridmr supply runs two: its tests interrupt the second one). */
static int test_hooks_apply(const gmr_job job)
{
    const char *name = getenv("GRIDMR_TEST_JOB");
    return !name || strcmp(name, job->ops->name) == 0;
}

static void crash_point(const gmr_job job, const gmr__topo *topo, const char *point)
{
    const char *at = getenv("GRIDMR_TEST_CRASH");
    if (!at || topo->rank != topo->size - 1 || !test_hooks_apply(job)) return;
    if (strcmp(at, point) == 0) raise(SIGKILL);
    if (strncmp(at, "term-", 5) == 0 && strcmp(at + 5, point) == 0) raise(SIGTERM);
}

/* This wave's ledger: which splits this rank mapped, their record counts and rejects. */
static gmr_err ledger_build(const map_state *ms, gmr__buf *lg)
{
    gmr_err err = GMR_OK;
    uint64_t rlen = ms->rejects.len - ms->wave_rejects;
    uint64_t hdr[LEDGER_HEADER] = {ms->wave_splits.len / (2 * sizeof(uint64_t)), ms->wave_records, ms->wave_rejected,
                                   rlen};
    lg->len = 0;
    GMR_CALL(gmr__buf_reserve(lg, sizeof hdr + ms->wave_splits.len + rlen + 1));
    memcpy(lg->data, hdr, sizeof hdr);
    if (ms->wave_splits.len) memcpy(lg->data + sizeof hdr, ms->wave_splits.data, ms->wave_splits.len);
    if (rlen) memcpy(lg->data + sizeof hdr + ms->wave_splits.len, ms->rejects.data + ms->wave_rejects, rlen);
    lg->len = sizeof hdr + ms->wave_splits.len + rlen;
out:
    return err;
}

/* A reused run's ledger: check it (no effect), then apply it: its splits become done, its
 * counts and rejects this rank's again. The check is agreed before anyone applies. */
static gmr_err ledger_check(const map_state *ms, const char *run, const char *lg, uint64_t len, uint8_t *done)
{
    gmr_err err = GMR_OK;
    uint64_t hdr[LEDGER_HEADER], i = 0, e[2];
    GMR_CHECK(len >= sizeof hdr, GMR_ERR_DATA, "stage: %s has a short ledger", run);
    memcpy(hdr, lg, sizeof hdr);
    GMR_CHECK(hdr[0] <= (len - sizeof hdr) / 16 && sizeof hdr + 16 * hdr[0] + hdr[3] == len, GMR_ERR_DATA,
              "stage: %s has a ledger of the wrong size", run);
    for (; i < hdr[0]; i++) {
        memcpy(e, lg + sizeof hdr + 16 * i, sizeof e);
        if (e[0] >= ms->plan->nsplits || done[e[0]]) break;
        done[e[0]] = 2; /* tentative, undone below */
    }
    for (uint64_t k = 0; k < i; k++) {
        memcpy(e, lg + sizeof hdr + 16 * k, sizeof e);
        done[e[0]] = 0;
    }
    GMR_CHECK(i == hdr[0], GMR_ERR_DATA, "stage: %s lists a split twice or one past the plan", run);
out:
    return err;
}

static gmr_err ledger_apply(map_state *ms, const char *lg, uint8_t *done)
{
    gmr_err err = GMR_OK;
    uint64_t hdr[LEDGER_HEADER];
    memcpy(hdr, lg, sizeof hdr);
    for (uint64_t i = 0; i < hdr[0]; i++) {
        uint64_t e[2];
        memcpy(e, lg + sizeof hdr + 16 * i, sizeof e);
        done[e[0]] = 1;
        ms->split_records[e[0]] = e[1];
    }
    ms->records += hdr[1];
    ms->reused_records += hdr[1];
    ms->rejected += hdr[2];
    GMR_CALL(gmr__buf_reserve(&ms->rejects, ms->rejects.len + hdr[3] + 1));
    if (hdr[3]) memcpy(ms->rejects.data + ms->rejects.len, lg + sizeof hdr + 16 * hdr[0], hdr[3]);
    ms->rejects.len += hdr[3];
out:
    return err;
}

/* Collective: read a run's records once to the end, which verifies every rank's checksum. */
static gmr_err verify_run(gmr__stage *st, const char *run)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__stage_stream *s = NULL;
    char *buf = malloc(1u << 22);
    uint64_t got = 1;
    GMR_CALL(gmr__stage_stream_open(st, run, "records", &s));
    if (!buf) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    while (!local && got) local = gmr__stage_stream_read(s, buf, 1u << 22, &got);
out:
    gmr__stage_stream_close(&s);
    free(buf);
    if (!err) err = gmr__agree(gmr__stage_comm(st), local);
    return err;
}

/* Collective: with --resume, take over the complete runs of an earlier execution (their splits
 * are not mapped again; their data joins the shuffle). Runs cut short by a crash, damaged
 * ones (checksums, ledger) and, without --resume, all of them are dropped. done: per split,
 * the same on every rank afterwards. */
static gmr_err resume_runs(gmr_job job, map_state *ms, gmr__stage *st, uint8_t *done, map_result *mr, int *next_run)
{
    gmr_err err = GMR_OK;
    char **names = NULL, group[256];
    int n = 0;
    GMR_CALL(gmr__stage_list(st, MAP_GROUP, &names, &n));
    for (int i = 0; i < n; i++) {
        char *lg = NULL;
        uint64_t len = 0;
        int idx = 0;
        gmr_err e;
        snprintf(group, sizeof group, "%s/%s", MAP_GROUP, names[i]);
        if (sscanf(names[i], "run_%d", &idx) == 1 && idx + 1 > *next_run) *next_run = idx + 1;
        if (!job->opt.resume || strncmp(names[i], "run_", 4) != 0 || !gmr__stage_has(st, group)) {
            GMR_CALL(gmr__stage_drop(st, group));
            continue;
        }
        e = gmr__stage_get(st, group, "ledger", &lg, &len);
        if (!e) e = gmr__agree(ms->topo->world, ledger_check(ms, group, lg, len, done));
        if (!e) e = verify_run(st, group);
        if (!e) e = gmr__agree(ms->topo->world, ledger_apply(ms, lg, done));
        free(lg);
        if (e == GMR_ERR_DATA) {
            /* damaged: its splits are mapped again */
            if (ms->topo->rank == GMR_HQ)
                gmr_log(GMR_LOG_WARN, "%.*s: mapping its splits again", (int)strcspn(gmr_err_message(), "\n"),
                        gmr_err_message());
            gmr_err_clear();
            GMR_CALL(gmr__stage_drop(st, group));
            continue;
        }
        GMR_CALL(e);
        GMR_CALL(add_name(&mr->runs, &mr->nruns, group));
    }
out:
    gmr__stage_names_free(&names, n);
    return err;
}

/* Collective: this wave's tables and ledger as the next map run, put on disk (stage synced). */
static gmr_err write_run(map_state *ms, gmr__stage *st, int *next_run, char *name, size_t cap, uint64_t *written)
{
    gmr_err err = GMR_OK;
    gmr__buf lg = {0};
    uint64_t meta[GMR_STAGE_META] = {0};
    snprintf(name, cap, "%s/run_%06d", MAP_GROUP, (*next_run)++);
    GMR_CALL(gmr__agree(ms->topo->world, ledger_build(ms, &lg)));
    GMR_CALL(gmr__spill_write(st, name, ms->parts, ms->nparts, 0, lg.data, lg.len, meta, written));
    GMR_CALL(gmr__stage_sync(st));
    ms->wave_splits.len = 0;
    ms->wave_records = ms->wave_rejected = 0;
    ms->wave_rejects = ms->rejects.len;
out:
    gmr__buf_free(&lg);
    return err;
}

/* ---- --threads: mapping lanes ------------------------------------------------------------ */

/* With --threads T, T worker threads (lanes) map and the rank's own thread only dispatches:
 * it gets splits from HQ exactly as without threads (MPI stays on that one thread,
 * MPI_THREAD_FUNNELED) and hands each to the next free lane, sleeping on a condition variable
 * in between; HQ's thread wakes every millisecond to answer requests. Each lane maps into its
 * own tables with its own map context, so lanes share nothing while mapping; at the end of a
 * wave the rank's thread merges the lanes' tables, ledgers and rejects into its own (one pass
 * over the lanes' distinct keys), and the wave goes on as without threads. */
#define POOL_TICK_NS 1000000L /* how often HQ's dispatching thread wakes to serve requests */

typedef struct lane {
    map_state ms;
    gmr__kvt **parts;
    uint64_t bytes;       /* its tables' bytes after its last split (under the pool's mutex) */
    pthread_t tid;
    int started;
    struct lane_pool *pool;
} lane;

struct lane_pool {
    map_state *main;      /* the rank's map state: gets the lanes' output at each wave's end */
    lane *lanes;
    int n;
    gmr__sched *sched;    /* for HQ's polling while it waits */
    pthread_mutex_t mu;
    pthread_cond_t work, room;
    int inited;
    uint64_t queued;      /* the split waiting for a lane, valid when has_queued */
    int has_queued, busy, quit;
    gmr_err err;          /* the first lane failure, and its message */
    char msg[600];
};

static void *lane_main(void *vl)
{
    lane *l = vl;
    struct lane_pool *p = l->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        uint64_t split;
        gmr_err e = GMR_OK;
        while (!p->quit && !p->has_queued) pthread_cond_wait(&p->work, &p->mu);
        if (!p->has_queued) break;
        int failed = p->err != GMR_OK; /* read under the lock */
        split = p->queued;
        p->has_queued = 0;
        p->busy++;
        pthread_cond_broadcast(&p->room);
        pthread_mutex_unlock(&p->mu);
        if (!failed) e = map_split(&l->ms, split);
        if (!e && l->ms.batch.n) e = flush_batch(&l->ms);
        pthread_mutex_lock(&p->mu);
        if (e && !p->err) {
            p->err = e;
            snprintf(p->msg, sizeof p->msg, "%.*s", (int)strcspn(gmr_err_message(), "\n"), gmr_err_message());
        }
        l->bytes = tables_bytes(&l->ms);
        p->busy--;
        pthread_cond_broadcast(&p->room);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_stop(struct lane_pool *p)
{
    if (!p->inited) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; p->lanes && i < p->n; i++) {
        lane *l = &p->lanes[i];
        if (l->started) pthread_join(l->tid, NULL);
        if (l->ms.map_ctx && l->ms.job && l->ms.map_ctx != l->ms.job->ctx) l->ms.job->ops->map_ctx_destroy(l->ms.map_ctx);
        if (l->ms.plan) map_state_free(&l->ms);
        for (int d = 0; l->parts && d < p->main->nparts; d++) gmr__kvt_destroy(&l->parts[d]);
        free(l->parts);
    }
    free(p->lanes);
    pthread_cond_destroy(&p->room);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    memset(p, 0, sizeof *p);
}

/* Not collective. Starts n lanes mapping for main. */
static gmr_err pool_start(struct lane_pool *p, map_state *main, int n)
{
    gmr_err err = GMR_OK;
    gmr_job job = main->job;
    int level = MPI_THREAD_SINGLE;
    GMR_CALL_MPI(MPI_Query_thread(&level));
    GMR_CHECK(level >= MPI_THREAD_FUNNELED, GMR_ERR_ARG,
              "--threads needs MPI initialised with MPI_Init_thread(MPI_THREAD_FUNNELED) or more");
    memset(p, 0, sizeof *p);
    p->main = main;
    p->n = n;
    GMR_CHECK(pthread_mutex_init(&p->mu, NULL) == 0 && pthread_cond_init(&p->work, NULL) == 0 &&
                  pthread_cond_init(&p->room, NULL) == 0,
              GMR_ERR_NOMEM, "cannot set up the mapping threads");
    p->inited = 1;
    p->lanes = calloc((size_t)n, sizeof *p->lanes);
    GMR_CHECK(p->lanes, GMR_ERR_NOMEM, "cannot allocate %d mapping threads", n);
    for (int i = 0; i < n; i++) {
        lane *l = &p->lanes[i];
        l->pool = p;
        l->parts = calloc((size_t)main->nparts, sizeof *l->parts);
        GMR_CHECK(l->parts, GMR_ERR_NOMEM, "cannot allocate a thread's tables");
        for (int d = 0; d < main->nparts; d++)
            GMR_CALL(gmr__kvt_create(job->ops->value_size, job->ops->combine, job->ctx, &l->parts[d]));
        GMR_CALL(map_state_init(&l->ms, job, main->topo, main->plan, l->parts, main->split_records));
        l->ms.limit = 0;
        l->ms.map_ctx = NULL;
        GMR_CALL(job->ops->map_ctx_create(job->ctx, &l->ms.map_ctx));
    }
    for (int i = 0; i < n; i++) {
        GMR_CHECK(pthread_create(&p->lanes[i].tid, NULL, lane_main, &p->lanes[i]) == 0, GMR_ERR_NOMEM,
                  "cannot start mapping thread %d", i);
        p->lanes[i].started = 1;
    }
out:
    return err;
}

/* The sched's split function on the dispatching thread: hand the split to the next free lane
 * (waiting for one; HQ serves requests meanwhile). */
static gmr_err pool_dispatch(void *vp, uint64_t split)
{
    gmr_err err = GMR_OK;
    struct lane_pool *p = vp;
    pthread_mutex_lock(&p->mu);
    while (!p->err && (p->has_queued || p->busy >= p->n)) {
        struct timespec ts;
        pthread_mutex_unlock(&p->mu);
        err = gmr__sched_poll(p->sched);
        pthread_mutex_lock(&p->mu);
        if (err) break;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += POOL_TICK_NS;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        if (p->has_queued || p->busy >= p->n) pthread_cond_timedwait(&p->room, &p->mu, &ts);
    }
    if (!err && p->err) err = GMR_ERROR(p->err, "%s", p->msg);
    if (!err) {
        p->queued = split;
        p->has_queued = 1;
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->mu);
    return err;
}

static int pool_should_stop(void *vp)
{
    struct lane_pool *p = vp;
    uint64_t b = tables_bytes(p->main);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++) b += p->lanes[i].bytes;
    pthread_mutex_unlock(&p->mu);
    return interrupt_requested || (p->main->limit && b > p->main->limit);
}

/* Not collective. At a wave's end: waits until every lane is idle, then moves the lanes'
 * tables, ledgers, counts and rejects into the rank's map state. */
static gmr_err pool_drain(struct lane_pool *p)
{
    gmr_err err = GMR_OK;
    map_state *m = p->main;
    double t0;
    pthread_mutex_lock(&p->mu);
    while (p->has_queued || p->busy) {
        struct timespec ts;
        pthread_mutex_unlock(&p->mu);
        gmr__sched_poll(p->sched); /* nothing is left to hand out; harmless */
        pthread_mutex_lock(&p->mu);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += POOL_TICK_NS;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        if (p->has_queued || p->busy) pthread_cond_timedwait(&p->room, &p->mu, &ts);
    }
    if (p->err) err = GMR_ERROR(p->err, "%s", p->msg);
    pthread_mutex_unlock(&p->mu);
    GMR_CALL(err);
    t0 = now();
    for (int i = 0; i < p->n; i++) {
        map_state *l = &p->lanes[i].ms;
        for (int d = 0; d < m->nparts; d++) {
            if (m->parts[d]->n == 0 && i == 0) {
                /* the first lane's table becomes the rank's: no copy */
                gmr__kvt *t = m->parts[d];
                m->parts[d] = l->parts[d];
                l->parts[d] = t;
                p->lanes[i].parts[d] = t;
            } else {
                GMR_CALL(gmr__kvt_merge(m->parts[d], l->parts[d]));
                GMR_CALL(gmr__kvt_clear(l->parts[d]));
            }
        }
        GMR_CALL(gmr__buf_reserve(&m->wave_splits, m->wave_splits.len + l->wave_splits.len + 1));
        if (l->wave_splits.len) memcpy(m->wave_splits.data + m->wave_splits.len, l->wave_splits.data, l->wave_splits.len);
        m->wave_splits.len += l->wave_splits.len;
        GMR_CALL(gmr__buf_reserve(&m->rejects, m->rejects.len + l->rejects.len + 1));
        if (l->rejects.len) memcpy(m->rejects.data + m->rejects.len, l->rejects.data, l->rejects.len);
        m->rejects.len += l->rejects.len;
        m->records += l->records;
        m->rejected += l->rejected;
        m->bytes += l->bytes;
        m->emitted += l->emitted;
        m->emit_bytes += l->emit_bytes;
        l->emitted = l->emit_bytes = 0;
        m->wave_records += l->wave_records;
        m->wave_rejected += l->wave_rejected;
        l->wave_splits.len = l->rejects.len = 0;
        l->records = l->rejected = l->bytes = l->wave_records = l->wave_rejected = 0;
        p->lanes[i].bytes = 0;
    }
    gmr_log(GMR_LOG_DEBUG, "merged %d threads' tables in %.3f s", p->n, now() - t0);
out:
    return err;
}

/* The map's progress: what earlier waves (and the stage) did, plus what this wave reports. */
typedef struct map_progress {
    gmr__progress *prog;
    uint64_t base_bytes, base_splits;
} map_progress;

static void map_progress_cb(void *vp, uint64_t bytes, uint64_t splits)
{
    map_progress *mp = vp;
    gmr__progress_update(mp->prog, mp->base_bytes + bytes, mp->base_splits + splits);
}

/* Collective on topo->world: maps every split not already in the stage into parts (psize
 * tables, one per province rank), in waves. After each wave but the last the tables are
 * checkpointed as a map run and emptied; the last wave's tables stay in memory for the
 * shuffle (and are checkpointed too, for a crash in the shuffle). Interrupted: checkpoints and
 * returns GMR_ERR_INTERRUPTED on every rank. Then writes the rejected records. */
static gmr_err map_phase(gmr_job job, gmr__topo *topo, gmr__plan *plan, gmr__stage *st, const char *output_path,
                         gmr__kvt **parts, gmr__progress *prog, map_result *mr)
{
    map_progress mp = {prog, 0, 0};
    gmr_err err = GMR_OK, local = GMR_OK;
    map_state ms;
    lane_pool pool;
    uint8_t *done = NULL, *mine = NULL;
    uint64_t *todo = NULL, ntodo = 0, *split_records = NULL;
    int next_run = 0, threads = job->opt.threads;
    double t1 = now();
    char name[256];
    const char *hook = test_hooks_apply(job) ? getenv("GRIDMR_TEST_WAVE") : NULL;
    gmr__wave wave;

    memset(&ms, 0, sizeof ms);
    memset(&pool, 0, sizeof pool);
    if (threads > 1 && !job->ops->map_ctx_create) {
        if (topo->rank == GMR_HQ)
            gmr_log(GMR_LOG_WARN, "job '%s' has no per-thread map context: mapping on one thread", job->ops->name);
        threads = 1;
    }

    split_records = calloc(plan->nsplits + 1, sizeof *split_records);
    local = split_records ? map_state_init(&ms, job, topo, plan, parts, split_records)
                          : GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate map state");
    done = calloc(plan->nsplits + 1, 1);
    mine = calloc(plan->nsplits + 1, 1);
    todo = malloc((plan->nsplits + 1) * sizeof *todo);
    if (!local && (!done || !mine || !todo)) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate map state");
    if (!local && threads > 1) local = pool_start(&pool, &ms, threads);
    GMR_CALL(gmr__agree(topo->world, local));

    GMR_CALL(resume_runs(job, &ms, st, done, mr, &next_run));
    /* each rank applied its own ledgers: share what is done */
    if (plan->nsplits) GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, done, (int)plan->nsplits, MPI_UINT8_T, MPI_MAX, topo->world));
    memcpy(mine, done, plan->nsplits);
    for (uint64_t s = 0; s < plan->nsplits; s++) {
        if (done[s]) {
            mr->splits_reused++;
            mr->bytes_reused += plan->splits[s].len;
        } else {
            todo[ntodo++] = s;
        }
    }
    mr->all_reused = ntodo == 0 && plan->nsplits > 0;
    mp.base_bytes = mr->bytes_reused;
    mp.base_splits = mr->splits_reused;
    gmr__progress_phase(prog, "map", plan->total_bytes, plan->nsplits, mp.base_bytes, mp.base_splits);

    memset(&wave, 0, sizeof wave);
    wave.fn = threads > 1 ? pool_dispatch : map_split;
    wave.stop = threads > 1 ? pool_should_stop : map_should_stop;
    wave.ctx = threads > 1 ? (void *)&pool : (void *)&ms;
    wave.wave_seconds = job->opt.checkpoint == 0 ? GMR_DEFAULT_CHECKPOINT : job->opt.checkpoint;
    wave.wave_splits = hook ? strtoull(hook, NULL, 10) : 0;
    wave.splits = plan->splits;
    wave.progress = prog ? map_progress_cb : NULL;
    wave.progress_ctx = &mp;
    crash_point(job, topo, "map");
    while (ntodo) {
        uint64_t mapped = 0, mapped_all = 0;
        int stop = 0, stop_any = 0;
        double t2;
        wave.todo = todo;
        wave.ntodo = ntodo;
        local = gmr__sched_run(topo, &wave, threads > 1 ? &pool.sched : &ms.sched);
        if (threads > 1) {
            gmr_err drained = pool_drain(&pool);
            if (!local) local = drained;
        }
        if (!local && ms.batch.n) local = flush_batch(&ms);
        GMR_CALL(gmr__agree(topo->world, local));
        /* which splits are done now, on every rank */
        for (uint64_t k = 0; k < ms.wave_splits.len / 16; k++) {
            uint64_t split;
            memcpy(&split, ms.wave_splits.data + 16 * k, sizeof split);
            mine[split] = 1;
        }
        mapped = ms.wave_splits.len / 16;
        GMR_CALL_MPI(MPI_Allreduce(mine, done, (int)plan->nsplits, MPI_UINT8_T, MPI_MAX, topo->world));
        GMR_CALL_MPI(MPI_Allreduce(&mapped, &mapped_all, 1, MPI_UINT64_T, MPI_SUM, topo->world));
        ntodo = 0;
        mp.base_bytes = mp.base_splits = 0;
        for (uint64_t s = 0; s < plan->nsplits; s++) {
            if (!done[s])
                todo[ntodo++] = s;
            else
                mp.base_bytes += plan->splits[s].len, mp.base_splits++;
        }
        gmr__progress_update(prog, mp.base_bytes, mp.base_splits);
        stop = interrupt_requested;
        GMR_CALL_MPI(MPI_Allreduce(&stop, &stop_any, 1, MPI_INT, MPI_LOR, topo->world));
        if (!mapped_all) {
            GMR_CHECK(stop_any, GMR_ERR_INTERNAL, "a map wave made no progress");
        } else {
            t2 = now();
            uint64_t written = 0;
            GMR_CALL(write_run(&ms, st, &next_run, name, sizeof name, &written));
            mr->stage_bytes += written;
            mr->checkpoints++;
            mr->t_stage += now() - t2;
            if (ntodo && !stop_any) {
                /* the tables are in the run now: empty them for the next wave */
                GMR_CALL(add_name(&mr->runs, &mr->nruns, name));
                for (int d = 0; d < ms.nparts; d++) GMR_CALL(gmr__kvt_clear(parts[d]));
                crash_point(job, topo, "map-run");
            }
        }
        /* every rank knows (stop_any is agreed); agreeing once more makes one rank report it */
        if (stop_any)
            GMR_CALL(gmr__agree(topo->world, GMR_ERROR(GMR_ERR_INTERRUPTED, "interrupted by a signal: stopped after a checkpoint")));
    }
    if (gmr_log_get_level() >= GMR_LOG_INFO) {
        uint64_t keys = 0;
        for (int d = 0; d < ms.nparts; d++) keys += ms.parts[d]->n;
        gmr_log(GMR_LOG_INFO, "map: %llu bytes, %llu records, %llu keys in memory, %d runs in the stage, %.3f s",
                (unsigned long long)ms.bytes, (unsigned long long)ms.records, (unsigned long long)keys, mr->nruns,
                now() - t1);
    }
    GMR_CALL(write_rejects(&ms, output_path));
    mr->counts[0] = ms.records;
    mr->counts[1] = ms.rejected;
    mr->io[0] = ms.records - ms.reused_records;
    mr->io[1] = ms.bytes;
    mr->io[2] = ms.emitted;
    mr->io[3] = ms.emit_bytes;
out:
    pool_stop(&pool);
    free(todo);
    free(mine);
    free(done);
    if (ms.plan) map_state_free(&ms);
    free(split_records);
    return err;
}

/* ---- shuffle with runs, and spills ------------------------------------------------------- */

/* The spill store: a second stage file (STAGE.spill), made at the first spill and removed at
 * the end of the job, for the sorted runs of the shuffle under --mem-budget. */
typedef struct spill_store {
    gmr__stage *st;
    char path[4200];
    char **prov_runs, **final_runs;
    int nprov, nfinal, next;
    uint64_t bytes;   /* this rank's bytes spilled */
    double t;         /* time spent writing */
} spill_store;

static void spill_store_close(spill_store *sp, const gmr__topo *topo)
{
    if (sp->st) {
        gmr__stage_close(&sp->st);
        if (topo->rank == GMR_HQ) unlink(sp->path);
    }
    gmr__stage_names_free(&sp->prov_runs, sp->nprov);
    gmr__stage_names_free(&sp->final_runs, sp->nfinal);
    sp->nprov = sp->nfinal = 0;
}

/* Collective on world: when any rank's table t holds more than limit bytes (or force), every
 * rank writes its t as the next sorted run of `level` and empties it. */
static gmr_err maybe_spill(const gmr__topo *topo, spill_store *sp, const char *level, gmr__kvt *t, uint64_t limit,
                           int force, char ***runs, int *nruns)
{
    gmr_err err = GMR_OK;
    int over = limit && gmr__kvt_bytes(t) > limit, any = 0;
    uint64_t meta[GMR_STAGE_META] = {0}, written = 0;
    char name[64];
    double t0 = now();
    GMR_CALL_MPI(MPI_Allreduce(&over, &any, 1, MPI_INT, MPI_LOR, topo->world));
    if (!any && !force) return GMR_OK;
    if (!sp->st) GMR_CALL(gmr__stage_open(topo->world, sp->path, "spill", 0, &sp->st));
    snprintf(name, sizeof name, "%s/run_%06d", level, sp->next++);
    GMR_CALL(gmr__spill_write(sp->st, name, &t, 1, 1, NULL, 0, meta, &written));
    sp->bytes += written;
    GMR_CALL(gmr__agree(topo->world, gmr__kvt_clear(t)));
    GMR_CALL(add_name(runs, nruns, name));
    sp->t += now() - t0;
out:
    return err;
}

/* Collective on world: shuffle one set of province-partitioned parts into prov, which is
 * parts[prank] on entry; afterwards every entry of parts is NULL (prov stays the caller's). */
static gmr_err province_shuffle(const gmr__topo *topo, gmr__kvt **parts, gmr__kvt *prov, uint64_t buffer,
                                uint64_t *sent)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    uint64_t bytes = 0, rounds = 0;
    if (topo->psize > 1) local = gmr__shuffle(topo->prov, parts, topo->psize, GMR_LEVEL_PROVINCE, buffer, prov, &bytes, &rounds);
    parts[topo->prank] = NULL;
    for (int d = 0; d < topo->psize; d++) gmr__kvt_destroy(&parts[d]);
    *sent += bytes;
    GMR_CALL(gmr__agree(topo->world, local));
out:
    return err;
}

/* Collective on world: parts[prank] = own and fresh tables for the other parts; on failure
 * every entry is NULL again. */
static gmr_err other_parts_create(gmr_job job, const gmr__topo *topo, gmr__kvt **parts, gmr__kvt *own)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    for (int d = 0; d < topo->psize && !local; d++)
        if (d != topo->prank) local = gmr__kvt_create(job->ops->value_size, job->ops->combine, job->ctx, &parts[d]);
    err = gmr__agree(topo->world, local);
    if (err)
        for (int d = 0; d < topo->psize; d++) gmr__kvt_destroy(&parts[d]);
    else
        parts[topo->prank] = own;
    return err;
}

/* Collective on topo->world. The province shuffle of the tables in memory and of each map run
 * in the stage (this rank's own part stays put), then the merge across provinces. Under a
 * memory budget the receiving tables spill sorted runs; the result is then the list of runs in
 * sp->final_runs (and *globalp empty), else the final-owner table. */
static gmr_err shuffle_phase(gmr_job job, gmr__topo *topo, gmr__stage *st, const map_result *mr, gmr__kvt **parts,
                             spill_store *sp, gmr__kvt **globalp, uint64_t *sent)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__kvt *prov = parts[topo->prank], *global = NULL, *t = NULL;
    uint64_t limit = job->opt.mem_budget / 4, buffer = job->opt.shuffle_buffer, meta[GMR_STAGE_META], rounds = 0;
    char text[16];
    int last = topo->provinces == 1; /* the province level is the final one */

    if (job->opt.mem_budget && buffer > job->opt.mem_budget / 16) buffer = job->opt.mem_budget / 16;
    GMR_CALL(province_shuffle(topo, parts, prov, buffer, sent)); /* prov is owned here now */
    for (int r = 0; r < mr->nruns; r++) {
        GMR_CALL(maybe_spill(topo, sp, "province", prov, limit, 0, &sp->prov_runs, &sp->nprov));
        GMR_CALL(other_parts_create(job, topo, parts, prov));
        local = gmr__stage_load(st, mr->runs[r], parts, topo->psize, meta, text, sizeof text);
        if (local) {
            parts[topo->prank] = NULL;
            for (int d = 0; d < topo->psize; d++) gmr__kvt_destroy(&parts[d]);
            GMR_CALL(local);
        }
        GMR_CALL(province_shuffle(topo, parts, prov, buffer, sent));
    }
    if (sp->nprov) GMR_CALL(maybe_spill(topo, sp, "province", prov, limit, 1, &sp->prov_runs, &sp->nprov));
    if (last) {
        if (sp->nprov) {
            sp->final_runs = sp->prov_runs;
            sp->nfinal = sp->nprov;
            sp->prov_runs = NULL;
            sp->nprov = 0;
        }
        *globalp = prov;
        prov = NULL;
        goto out;
    }

    /* across provinces: the table in memory, then each province run */
    GMR_CALL(gmr__agree(topo->world, gmr__kvt_create(job->ops->value_size, job->ops->combine, job->ctx, &global)));
    for (int r = -1; r < sp->nprov; r++) {
        uint64_t bytes = 0;
        if (r >= 0) {
            GMR_CALL(maybe_spill(topo, sp, "global", global, limit, 0, &sp->final_runs, &sp->nfinal));
            GMR_CALL(gmr__agree(topo->world, gmr__kvt_create(job->ops->value_size, job->ops->combine, job->ctx, &t)));
            GMR_CALL(gmr__stage_load(sp->st, sp->prov_runs[r], &t, 1, meta, text, sizeof text));
        }
        GMR_CALL(gmr__agree(topo->world, gmr__shuffle(topo->world, r < 0 ? &prov : &t, 1, GMR_LEVEL_GLOBAL, buffer,
                                                       global, &bytes, &rounds)));
        *sent += bytes;
        if (r < 0)
            gmr__kvt_destroy(&prov);
        else
            gmr__kvt_destroy(&t);
    }
    if (sp->nfinal) GMR_CALL(maybe_spill(topo, sp, "global", global, limit, 1, &sp->final_runs, &sp->nfinal));
    *globalp = global;
    global = NULL;
out:
    gmr__kvt_destroy(&t);
    gmr__kvt_destroy(&global);
    gmr__kvt_destroy(&prov);
    return err;
}

/* ---- the job ----------------------------------------------------------------------------- */

/* Collective: a fresh set of empty map tables, one per province rank. */
static gmr_err parts_create(gmr_job job, const gmr__topo *topo, gmr__kvt ***partsp)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__kvt **parts = calloc((size_t)topo->psize, sizeof *parts);
    if (!parts) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate map tables");
    for (int d = 0; parts && d < topo->psize && !local; d++)
        local = gmr__kvt_create(job->ops->value_size, job->ops->combine, job->ctx, &parts[d]);
    *partsp = parts;
    GMR_CALL(gmr__agree(topo->world, local));
out:
    return err;
}

static void parts_destroy(gmr__kvt ***partsp, int n)
{
    if (!*partsp) return;
    for (int d = 0; d < n; d++) gmr__kvt_destroy(&(*partsp)[d]);
    free(*partsp);
    *partsp = NULL;
}

/* The stage file: DIR/basename(OUT).stage with --stage DIR, else OUT.stage. */
static gmr_err stage_path(const gmr_job job, const char *output_path, char *path, size_t cap)
{
    gmr_err err = GMR_OK;
    const char *base = strrchr(output_path, '/');
    int n;
    base = base ? base + 1 : output_path;
    if (job->opt.stage_dir)
        n = snprintf(path, cap, "%s/%s.stage", job->opt.stage_dir, base);
    else
        n = snprintf(path, cap, "%s.stage", output_path);
    GMR_CHECK(n > 0 && (size_t)n < cap, GMR_ERR_ARG, "the stage path for %s is too long", output_path);
out:
    return err;
}

/* The canonical text of everything that decides the map output: the job, its options, the
 * inputs (path, size, modification time) and the topology. */
static gmr_err fingerprint_text(const gmr_job job, const gmr__topo *topo, const gmr__plan *plan, gmr__buf *fp)
{
    gmr_err err = GMR_OK;
    char line[8192];
    int n = snprintf(line, sizeof line,
                     "gridmr %s\njob %s\nreader %s\nvalue_size %zu\ncombine %d\noptions %s\nmax_key %llu\n"
                     "max_record %llu\nranks %d\nprovinces %d\n",
                     GMR_VERSION_STRING, job->ops->name, job->ops->reader, job->ops->value_size,
                     job->ops->combine != NULL, job->opt.options_text ? job->opt.options_text : "",
                     (unsigned long long)job->opt.max_key, (unsigned long long)job->opt.max_record, topo->size,
                     topo->provinces);
    GMR_CHECK(n > 0 && (size_t)n < sizeof line, GMR_ERR_ARG, "options too long for the stage fingerprint");
    GMR_CALL(gmr__buf_reserve(fp, (size_t)n + 1));
    memcpy(fp->data, line, (size_t)n + 1);
    fp->len = (size_t)n;
    for (int f = 0; f < plan->nfiles; f++) {
        n = snprintf(line, sizeof line, "input %s %llu %lld\n", plan->paths[f], (unsigned long long)plan->sizes[f],
                     (long long)plan->mtimes[f]);
        GMR_CHECK(n > 0 && (size_t)n < sizeof line, GMR_ERR_ARG, "input path too long for the stage fingerprint");
        GMR_CALL(gmr__buf_reserve(fp, fp->len + (size_t)n + 1));
        memcpy(fp->data + fp->len, line, (size_t)n + 1);
        fp->len += (size_t)n;
    }
    /* the splits: map runs name them by number, so the same numbers must mean the same bytes */
    n = snprintf(line, sizeof line, "splits %llu %016llx\n", (unsigned long long)plan->nsplits,
                 (unsigned long long)XXH3_64bits(plan->splits, plan->nsplits * sizeof *plan->splits));
    GMR_CALL(gmr__buf_reserve(fp, fp->len + (size_t)n + 1));
    memcpy(fp->data + fp->len, line, (size_t)n + 1);
    fp->len += (size_t)n;
out:
    return err;
}


gmr_err gmr_job_run(gmr_job job, const char *output_path)
{
    gmr_err err = GMR_OK;
    gmr__topo *topo = NULL;
    gmr__plan *plan = NULL;
    gmr__stage *stage = NULL;
    gmr__kvt *global = NULL, **parts = NULL;
    gmr_output out;
    gmr_summary *sum = &job->summary;
    gmr__buf fp = {0};
    map_result mr;
    spill_store sp;
    double t0 = now(), t1, tphase[5] = {0};
    uint64_t counts[4] = {0}, totals[4] = {0}, keys = 0;
    gmr__result_meta rmeta;
    gmr__progress *prog = NULL;
    double lt[GMR_NPHASES] = {0};   /* this rank's phase times, for the profile */
    uint64_t lu[PROF_U] = {0};      /* and its counters (see PROF_U) */

    memset(&out, 0, sizeof out);
    memset(&mr, 0, sizeof mr);
    memset(&sp, 0, sizeof sp);
    memset(sum, 0, sizeof *sum);
    job->profile.ranks = 0; /* no profile until this run ends well */
    out.ncolumns = job->ops->ncolumns;

    GMR_CALL(gmr__topo_create(job->comm, job->opt.provinces, &topo));
    gmr_log_set_rank(topo->rank);
    gmr__progress_create(topo->rank == GMR_HQ && job->opt.progress, job->opt.progress_interval, &prog);
    gmr__progress_phase(prog, "plan", 0, 0, 0, 0);
    {
        /* one split's keys stay well inside a wave; a reader may cap splits further */
        uint64_t cap = job->opt.mem_budget / 16, rcap = gmr__reader_find(job->ops->reader)->split_cap;
        if (rcap && (!cap || rcap < cap)) cap = rcap;
        GMR_CALL(gmr__plan_create(topo, job->ninputs, job->inputs, job->opt.split_size, cap, &plan));
    }
    GMR_CALL(stage_path(job, output_path, sum->stage, sizeof sum->stage));
    GMR_CHECK(snprintf(sp.path, sizeof sp.path, "%s.spill", sum->stage) < (int)sizeof sp.path, GMR_ERR_ARG,
              "stage path too long");
    GMR_CALL(fingerprint_text(job, topo, plan, &fp));
    GMR_CALL(gmr__stage_open(topo->world, sum->stage, fp.data, job->opt.resume, &stage));
    snprintf(sum->stage_note, sizeof sum->stage_note, "%s", gmr__stage_note(stage));
    if (sum->stage_note[0] && topo->rank == GMR_HQ) gmr_log(GMR_LOG_WARN, "%s", sum->stage_note);
    t1 = now();
    tphase[0] = t1 - t0;

    /* map, in waves with checkpoints; with --resume only the splits the stage lacks */
    GMR_CALL(parts_create(job, topo, &parts));
    GMR_CALL(map_phase(job, topo, plan, stage, output_path, parts, prog, &mr));
    counts[0] = mr.counts[0];
    counts[1] = mr.counts[1];
    tphase[1] = now() - t1 - mr.t_stage;
    if (topo->rank == GMR_HQ) lu[4 * 0 + 2] = plan->total_bytes, lu[4 * 0 + 1] = plan->nsplits;
    lu[4 * 1 + 0] = mr.io[0], lu[4 * 1 + 1] = mr.io[2], lu[4 * 1 + 2] = mr.io[1], lu[4 * 1 + 3] = mr.io[3];
    sum->resumed = mr.all_reused;
    sum->splits_reused = mr.splits_reused;
    sum->bytes_reused = mr.bytes_reused;
    sum->checkpoints = mr.checkpoints;
    if (job->opt.resume && topo->rank == GMR_HQ && mr.splits_reused)
        gmr_log(GMR_LOG_INFO, "resumed: %llu of %llu splits from the stage", (unsigned long long)mr.splits_reused,
                (unsigned long long)plan->nsplits);
    t1 = now();
    crash_point(job, topo, "shuffle");
    GMR_CALL(gmr__agree(topo->world, check_interrupt()));
    gmr__progress_phase(prog, "shuffle", 0, 0, 0, 0);
    GMR_CALL(shuffle_phase(job, topo, stage, &mr, parts, &sp, &global, &counts[2]));
    tphase[2] = now() - t1 - sp.t;
    lu[4 * 2 + 2] = counts[2];
    if (global) lu[4 * 2 + 1] = global->n, lu[4 * 2 + 3] = gmr__kvt_bytes(global);
    t1 = now();

    /* reduce: the final table, or the merge of the sorted runs it spilled */
    GMR_CALL(gmr__agree(topo->world, check_interrupt()));
    gmr__progress_phase(prog, "reduce", 0, 0, 0, 0);
    if (sp.nfinal) {
        reduce_ctx rc = {job, &out, 0};
        uint64_t window = job->opt.mem_budget / (8 * (uint64_t)sp.nfinal);
        if (window < (64u << 10)) window = 64u << 10;
        if (window > (4u << 20)) window = 4u << 20;
        GMR_CALL(gmr__spill_merge(sp.st, sp.final_runs, sp.nfinal, job->ops->combine ? job->ops->value_size : 0,
                                  job->ops->combine, job->ctx, window, reduce_key, &rc));
        lu[4 * 4 + 0] = rc.keys;
    } else {
        GMR_CALL(gmr__agree(topo->world, reduce_all(job, global, &out)));
        lu[4 * 4 + 0] = global->n;
    }
    lu[4 * 4 + 1] = out.n;
    lu[4 * 4 + 3] = out.keys_len + out.n * out.ncolumns * 8;
    lu[4 * 3 + 3] = mr.stage_bytes + sp.bytes;
    lu[4 * GMR_NPHASES + 1] = counts[2];
    lu[4 * GMR_NPHASES + 2] = mr.stage_bytes + sp.bytes;
    gmr__kvt_destroy(&global);
    counts[3] = sp.bytes;
    tphase[3] = now() - t1;
    tphase[4] = mr.t_stage + sp.t;
    spill_store_close(&sp, topo);
    gmr__stage_close(&stage);
    t1 = now();

    /* summary (identical on all ranks), then the collective write */
    GMR_CALL_MPI(MPI_Allreduce(counts, totals, 4, MPI_UINT64_T, MPI_SUM, topo->world));
    GMR_CALL_MPI(MPI_Allreduce(&out.n, &keys, 1, MPI_UINT64_T, MPI_SUM, topo->world));
    sum->rows = keys;
    if (job->opt.top && job->opt.top < keys) {
        GMR_CALL(keep_top(job, topo, &out, job->opt.top));
        sum->rows = job->opt.top;
    }
    sum->ranks = topo->size;
    sum->provinces = topo->provinces;
    sum->splits = plan->nsplits;
    sum->input_bytes = plan->total_bytes;
    sum->records = totals[0];
    sum->rejected = totals[1];
    sum->shuffle_bytes = totals[2];
    sum->spill_bytes = totals[3];
    sum->keys = keys;
    lt[0] = tphase[0], lt[1] = tphase[1], lt[2] = tphase[2], lt[3] = tphase[4], lt[4] = tphase[3];
    GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, tphase, 5, MPI_DOUBLE, MPI_MAX, topo->world));
    sum->t_plan = tphase[0];
    sum->t_map = tphase[1];
    sum->t_shuffle = tphase[2];
    sum->t_reduce = tphase[3];
    sum->t_stage = tphase[4];
    sum->t_total = now() - t0; /* so far; the write time is added below */
    rmeta.job = job->ops->name;
    rmeta.options = job->opt.options_text ? job->opt.options_text : "";
    rmeta.ops = job->ops;
    rmeta.summary = sum;
    rmeta.top = job->opt.top;
    gmr__progress_phase(prog, "write", 0, 0, 0, 0);
    GMR_CALL(gmr__result_write(topo->world, output_path, &out, &rmeta));
    sum->t_write = now() - t1;
    lt[5] = sum->t_write;
    lu[4 * 5 + 0] = out.n;
    lu[4 * 5 + 3] = out.keys_len + out.n * (out.ncolumns + 1) * 8;
    GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, &sum->t_write, 1, MPI_DOUBLE, MPI_MAX, topo->world));
    sum->t_total = now() - t0;
    GMR_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, &sum->t_total, 1, MPI_DOUBLE, MPI_MAX, topo->world));
    {
        struct rusage ru;
        uint64_t rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0; /* KiB on Linux */
        GMR_CALL_MPI(MPI_Allreduce(&rss, &sum->peak_rss, 1, MPI_UINT64_T, MPI_MAX, topo->world));
        lu[4 * GMR_NPHASES] = rss;
    }
    GMR_CALL(profile_gather(job, topo->world, topo->size, lt, lu));
    if (job->opt.profile) {
        gmr_err local = GMR_OK;
        /* the file is closed on every rank (H5Fclose was collective): HQ adds the group alone */
        if (topo->rank == GMR_HQ) local = gmr__result_put_profile(output_path, &job->profile);
        GMR_CALL(gmr__agree(topo->world, local));
    }
out:
    gmr__progress_destroy(&prog);
    gmr__output_free(&out);
    gmr__kvt_destroy(&global);
    if (topo) {
        parts_destroy(&parts, topo->psize);
        spill_store_close(&sp, topo);
    }
    map_result_free(&mr);
    gmr__stage_close(&stage);
    gmr__buf_free(&fp);
    gmr__plan_destroy(&plan);
    gmr__topo_destroy(&topo);
    return err;
}
