/* sched.c: headquarters plans the splits and hands them out on demand.
 *
 * Planning: HQ alone touches the file system metadata (stat, open) so that a bad input is
 * reported once, before any rank starts, then broadcasts the split table (24 bytes a split).
 *
 * Dispatch: a worker keeps one request in flight. It asks for its next split the moment it
 * receives one, so HQ's answer travels while the worker maps. HQ maps splits too, and answers
 * requests between the read windows of its own splits (gmr__sched_poll, about every 1 MiB of
 * input): no rank idles, and a faster rank or province simply asks more often. When splits
 * run out, or any rank reports a failure in its request, HQ answers "none" and waits until
 * every worker has heard it, so no message is left in flight.
 *
 * Waves: the job maps in waves so that it can checkpoint (and, under --mem-budget, spill)
 * between them, which needs every rank at the same point. A wave ends when its splits run
 * out, when a rank asks for it in its request (full tables, or a signal), or when HQ's clock
 * says a checkpoint is due. A worker that asks to stop does not start the split it holds; that
 * split stays undone and goes to the next wave, so stopping costs at most the split in hand. */
#define _XOPEN_SOURCE 700
#include "sched.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/io.h"
#include "gridmr/log.h"

#define TAG_REQUEST 7101
#define TAG_REPLY 7102

struct gmr__sched {
    const gmr__topo *topo;
    const gmr__wave *w;
    uint64_t next;  /* next index into w->todo */
    double t0;      /* start of the wave, HQ's clock */
    int ndone;      /* workers told "none" */
    uint64_t *rank_done; /* HQ, progress: 2 x size, each rank's [bytes, splits] done in the wave */
    int abort;      /* a rank failed: hand out nothing more */
    int stop;       /* the wave ends: hand out nothing more */
};

void gmr__plan_destroy(gmr__plan **pp)
{
    gmr__plan *p;
    if (!pp || !*pp) return;
    p = *pp;
    for (int i = 0; i < p->nfiles; i++) free(p->paths ? p->paths[i] : NULL);
    free(p->paths);
    free(p->sizes);
    free(p->mtimes);
    free(p->splits);
    free(p);
    *pp = NULL;
}

/* HQ: check one input (exists, regular file, readable) and record its size. */
static gmr_err check_file(gmr__plan *p, int f)
{
    gmr_err err = GMR_OK;
    const char *path = p->paths[f];
    struct stat st;
    int fd = open(path, O_RDONLY);
    GMR_CHECK(fd >= 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    GMR_CHECK(fstat(fd, &st) == 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    GMR_CHECK(S_ISREG(st.st_mode), GMR_ERR_IO, "%s: not a regular file", path);
    p->sizes[f] = (uint64_t)st.st_size;
    p->mtimes[f] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    p->total_bytes += p->sizes[f];
out:
    if (fd >= 0) close(fd);
    return err;
}

/* HQ: append a file's record-aligned splits: split_size bytes each, and from byte tail_from on
 * (UINT64_MAX: nowhere) tail_size bytes each. */
static gmr_err cut_file(gmr__plan *p, int f, uint64_t split_size, uint64_t tail_from, uint64_t tail_size)
{
    gmr_err err = GMR_OK;
    const char *path = p->paths[f];
    int fd = -1;
    uint64_t b = 0;
    fd = open(path, O_RDONLY);
    GMR_CHECK(fd >= 0, GMR_ERR_IO, "%s: %s", path, strerror(errno));
    while (b < p->sizes[f]) {
        uint64_t e = b + (b >= tail_from ? tail_size : split_size);
        gmr__split *s;
        if (e >= p->sizes[f])
            e = p->sizes[f];
        else
            GMR_CALL(gmr__split_align(fd, path, p->sizes[f], e, &e));
        s = realloc(p->splits, (p->nsplits + 1) * sizeof *s);
        GMR_CHECK(s, GMR_ERR_NOMEM, "cannot grow the split table");
        p->splits = s;
        s[p->nsplits].off = b;
        s[p->nsplits].len = e - b;
        s[p->nsplits].file = f;
        p->nsplits++;
        b = e;
    }
out:
    if (fd >= 0) close(fd);
    return err;
}

uint64_t gmr__plan_auto_split(uint64_t total_bytes, int ranks)
{
    uint64_t s = total_bytes / (32 * (uint64_t)ranks);
    if (s < GMR_AUTO_SPLIT_MIN) s = GMR_AUTO_SPLIT_MIN;
    if (s > GMR_AUTO_SPLIT_MAX) s = GMR_AUTO_SPLIT_MAX;
    return s;
}

gmr_err gmr__plan_create(const gmr__topo *topo, int nfiles, char *const *paths, uint64_t split_size,
                         uint64_t auto_cap, gmr__plan **pp)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__plan *p = calloc(1, sizeof *p);
    uint64_t hdr[2];
    GMR_CHECK(p, GMR_ERR_NOMEM, "cannot allocate the plan");
    p->nfiles = nfiles;
    p->paths = calloc((size_t)nfiles + 1, sizeof *p->paths);
    p->sizes = calloc((size_t)nfiles + 1, sizeof *p->sizes);
    p->mtimes = calloc((size_t)nfiles + 1, sizeof *p->mtimes);
    GMR_CHECK(p->paths && p->sizes && p->mtimes, GMR_ERR_NOMEM, "cannot allocate the plan");
    for (int f = 0; f < nfiles; f++) {
        p->paths[f] = strdup(paths[f]);
        GMR_CHECK(p->paths[f], GMR_ERR_NOMEM, "cannot allocate the plan");
    }
    if (topo->rank == GMR_HQ) {
        for (int f = 0; f < nfiles && !local; f++) local = check_file(p, f);
        uint64_t tail_from = UINT64_MAX, tail_size = 0;
        if (!split_size) {
            split_size = gmr__plan_auto_split(p->total_bytes, topo->size);
            if (auto_cap && split_size > auto_cap) split_size = auto_cap;
            /* The map's tail: splits are handed out in order, so the last ones decide how long
             * the first rank to run out waits for the others (up to a split, half of one on
             * average: 0.04 s of a 2.7 s map of 320 MiB on 2 ranks). The last `ranks` splits'
             * worth of bytes is cut GMR_TAIL_SPLITS times finer, which divides that wait by as
             * much for 3 x ranks more splits. One rank has no tail to shorten. */
            if (topo->size > 1 && split_size / GMR_TAIL_SPLITS >= GMR_TAIL_SPLIT_MIN &&
                p->sizes[nfiles - 1] > (uint64_t)topo->size * split_size) {
                tail_from = p->sizes[nfiles - 1] - (uint64_t)topo->size * split_size;
                tail_size = split_size / GMR_TAIL_SPLITS;
            }
        }
        for (int f = 0; f < nfiles && !local; f++)
            local = cut_file(p, f, split_size, f == nfiles - 1 ? tail_from : UINT64_MAX, tail_size);
    }
    GMR_CALL(gmr__agree(topo->world, local));

    hdr[0] = p->nsplits;
    hdr[1] = p->total_bytes;
    GMR_CALL_MPI(MPI_Bcast(hdr, 2, MPI_UINT64_T, GMR_HQ, topo->world));
    GMR_CALL_MPI(MPI_Bcast(p->sizes, nfiles, MPI_UINT64_T, GMR_HQ, topo->world));
    GMR_CALL_MPI(MPI_Bcast(p->mtimes, nfiles, MPI_INT64_T, GMR_HQ, topo->world));
    if (topo->rank != GMR_HQ) {
        p->nsplits = hdr[0];
        p->total_bytes = hdr[1];
        p->splits = calloc(p->nsplits + 1, sizeof *p->splits);
        GMR_CHECK(p->splits, GMR_ERR_NOMEM, "cannot allocate the split table");
    }
    /* 24-byte splits as 3 uint64 each; counts stay below 2^31 elements for any real plan */
    GMR_CHECK(p->nsplits < (uint64_t)INT32_MAX / 3, GMR_ERR_ARG, "too many splits (%llu): raise --split-size",
              (unsigned long long)p->nsplits);
    if (p->nsplits)
        GMR_CALL_MPI(MPI_Bcast(p->splits, (int)(3 * p->nsplits), MPI_UINT64_T, GMR_HQ, topo->world));
    *pp = p;
    p = NULL;
out:
    gmr__plan_destroy(&p);
    return err;
}

/* A request carries [status, stop, bytes, splits]: the worker's error code (0 if none), whether
 * it asks for the wave to end, and the input bytes and splits it finished in this wave (for the
 * progress report; the split in hand is not counted yet). A reply is a split number, or -1:
 * nothing more in this wave. */
#define REQ 4

/* HQ: pass the wave's progress so far to the wave's progress callback. */
static void report(gmr__sched *s)
{
    uint64_t b = 0, n = 0;
    if (!s->w->progress || !s->rank_done) return;
    for (int r = 0; r < s->topo->size; r++) b += s->rank_done[2 * r], n += s->rank_done[2 * r + 1];
    s->w->progress(s->w->progress_ctx, b, n);
}
static void end_wave_if_due(gmr__sched *s)
{
    const gmr__wave *w = s->w;
    if (s->next == 0) return; /* every wave hands out at least one split */
    if (w->wave_seconds > 0 && MPI_Wtime() - s->t0 >= w->wave_seconds) s->stop = 1;
    if (w->wave_splits && s->next >= w->wave_splits) s->stop = 1;
}

/* HQ: answer every request that has arrived. */
static gmr_err serve(gmr__sched *s, int block)
{
    gmr_err err = GMR_OK;
    MPI_Comm comm = s->topo->world;
    for (;;) {
        int flag = 0;
        int64_t req[REQ] = {0, 0, 0, 0}, reply;
        MPI_Status st;
        if (block) {
            GMR_CALL_MPI(MPI_Probe(MPI_ANY_SOURCE, TAG_REQUEST, comm, &st));
            flag = 1;
        } else {
            GMR_CALL_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQUEST, comm, &flag, &st));
        }
        if (!flag) break;
        GMR_CALL_MPI(MPI_Recv(req, REQ, MPI_INT64_T, st.MPI_SOURCE, TAG_REQUEST, comm, MPI_STATUS_IGNORE));
        if (req[0]) s->abort = 1;
        if (s->rank_done) {
            s->rank_done[2 * st.MPI_SOURCE] = (uint64_t)req[2];
            s->rank_done[2 * st.MPI_SOURCE + 1] = (uint64_t)req[3];
        }
        if (req[1]) s->stop = 1;
        end_wave_if_due(s);
        reply = (!s->abort && !s->stop && s->next < s->w->ntodo) ? (int64_t)s->w->todo[s->next++] : -1;
        if (reply < 0) s->ndone++;
        GMR_CALL_MPI(MPI_Send(&reply, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_REPLY, comm));
        block = 0;
        report(s);
    }
out:
    return err;
}

gmr_err gmr__sched_poll(gmr__sched *s)
{
    if (!s || s->topo->rank != GMR_HQ || s->topo->size == 1) return GMR_OK;
    return serve(s, 0);
}

static gmr_err run_hq(gmr__sched *s, gmr_err *local)
{
    gmr_err err = GMR_OK;
    const gmr__wave *w = s->w;
    while (!s->abort && !*local) {
        GMR_CALL(serve(s, 0));
        if (w->stop && w->stop(w->ctx)) s->stop = 1;
        end_wave_if_due(s);
        if (s->abort || s->stop || s->next >= w->ntodo) break;
        {
            uint64_t split = w->todo[s->next++];
            *local = w->fn(w->ctx, split);
            if (s->rank_done && w->splits) {
                s->rank_done[0] += w->splits[split].len;
                s->rank_done[1]++;
                report(s);
            }
        }
    }
    if (*local) s->abort = 1;
    while (s->ndone < s->topo->size - 1) GMR_CALL(serve(s, 1));
out:
    return err;
}

static gmr_err run_worker(gmr__sched *s, gmr_err *local)
{
    gmr_err err = GMR_OK;
    const gmr__wave *w = s->w;
    MPI_Comm comm = s->topo->world;
    int64_t req[REQ] = {0, 0, 0, 0}, sent[REQ] = {0, 0, 0, 0}, split = -1, next = -1, bytes = 0, nsplits = 0;
    MPI_Request rq[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};

    req[1] = w->stop && w->stop(w->ctx);
    GMR_CALL_MPI(MPI_Sendrecv(req, REQ, MPI_INT64_T, GMR_HQ, TAG_REQUEST, &split, 1, MPI_INT64_T, GMR_HQ, TAG_REPLY,
                              comm, MPI_STATUS_IGNORE));
    while (split >= 0) {
        int stop = w->stop && w->stop(w->ctx);
        if (*local || stop) {
            /* tell HQ at once and drain: HQ now answers "none"; the split held stays undone */
            req[0] = *local;
            req[1] = stop;
            req[2] = bytes;
            req[3] = nsplits;
            GMR_CALL_MPI(MPI_Sendrecv(req, REQ, MPI_INT64_T, GMR_HQ, TAG_REQUEST, &split, 1, MPI_INT64_T, GMR_HQ,
                                      TAG_REPLY, comm, MPI_STATUS_IGNORE));
            continue;
        }
        /* ask for the next split now, so the answer is here when this one is done */
        sent[0] = 0;
        sent[1] = 0;
        sent[2] = bytes;
        sent[3] = nsplits;
        GMR_CALL_MPI(MPI_Irecv(&next, 1, MPI_INT64_T, GMR_HQ, TAG_REPLY, comm, &rq[0]));
        GMR_CALL_MPI(MPI_Isend(sent, REQ, MPI_INT64_T, GMR_HQ, TAG_REQUEST, comm, &rq[1]));
        *local = w->fn(w->ctx, (uint64_t)split);
        if (w->splits) bytes += (int64_t)w->splits[split].len, nsplits++;
        GMR_CALL_MPI(MPI_Waitall(2, rq, MPI_STATUSES_IGNORE));
        split = next;
    }
out:
    return err;
}

gmr_err gmr__sched_run(const gmr__topo *topo, const gmr__wave *w, gmr__sched **handle)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__sched s;
    memset(&s, 0, sizeof s);
    s.topo = topo;
    s.w = w;
    s.t0 = MPI_Wtime();
    *handle = &s;
    /* progress is HQ's only; without memory for it the wave runs unreported */
    if (topo->rank == GMR_HQ && w->progress && w->splits) s.rank_done = calloc(2 * (size_t)topo->size, sizeof *s.rank_done);
    if (topo->rank == GMR_HQ)
        err = run_hq(&s, &local);
    else
        err = run_worker(&s, &local);
    *handle = NULL;
    free(s.rank_done);
    if (!err) err = local;
    return err;
}
