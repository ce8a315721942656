/* progress.c: the progress report of a running job (see progress.h). It writes to stderr, as
 * the logger does, one fprintf per line; throughput and ETA come from the bytes done since the
 * phase began (work reused from a stage counts as done at the start, so it does not inflate the
 * rate). The clock is CLOCK_MONOTONIC, so the report needs no MPI. */
#define _XOPEN_SOURCE 700
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gridmr/mr.h"

#define TTY_PERIOD 0.2 /* seconds between redraws on a terminal */
#define BAR 20

struct gmr__progress {
    int tty, drawn;          /* drawn: a terminal line is on screen without its newline */
    double interval, last;   /* last: when the last line was printed */
    double t_start, t_phase; /* job start, phase start */
    char phase[32];
    uint64_t total, items_total, base, done, items_done;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void gmr__progress_create(int enabled, double interval, gmr__progress **pp)
{
    gmr__progress *p = NULL;
    const char *mode = getenv("GRIDMR_PROGRESS");
    *pp = NULL;
    if (mode && strcmp(mode, "off") == 0) enabled = 0;
    if (!enabled || !(p = calloc(1, sizeof *p))) return;
    /* under mpirun a rank's stderr is a pipe even when mpirun's is a terminal: GRIDMR_PROGRESS
     * =bar asks for the bar anyway, =lines for plain lines on a terminal */
    p->tty = mode && strcmp(mode, "bar") == 0 ? 1 : mode && strcmp(mode, "lines") == 0 ? 0 : isatty(STDERR_FILENO);
    p->interval = interval > 0 ? interval : GMR_DEFAULT_PROGRESS_INTERVAL;
    p->t_start = p->t_phase = p->last = mono();
    *pp = p;
}

static void eta_text(char *buf, size_t cap, double s)
{
    if (s < 0 || s > 1e7)
        snprintf(buf, cap, "?");
    else if (s >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, cap, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void draw(gmr__progress *p, double t)
{
    double el = t - p->t_phase, frac = p->total ? (double)p->done / (double)p->total : 0;
    double rate = el > 0 ? (double)(p->done - p->base) / el : 0, eta = -1;
    char e[32];
    if (frac > 1) frac = 1;
    if (rate > 0 && p->total) eta = (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate;
    eta_text(e, sizeof e, eta);
    if (p->tty) {
        char bar[BAR + 1];
        int full = (int)(frac * BAR + 0.5);
        if (!p->total) {
            fprintf(stderr, "\r%-8s %-*s  %.1f s\033[K", p->phase, BAR + 2, "", el);
        } else {
            for (int i = 0; i < BAR; i++) bar[i] = i < full ? '#' : '.';
            bar[BAR] = 0;
            fprintf(stderr, "\r%-8s [%s] %5.1f%%  %.1f/%.1f MB  %.1f MB/s  ETA %s\033[K", p->phase, bar, 100 * frac,
                    (double)p->done / 1e6, (double)p->total / 1e6, rate / 1e6, e);
        }
        p->drawn = 1;
    } else if (!p->total) {
        fprintf(stderr, "gridmr: %s, %.1f s elapsed\n", p->phase, t - p->t_start);
    } else {
        fprintf(stderr, "gridmr: %s %.1f%% (%.1f of %.1f MB, %llu/%llu splits) %.1f MB/s, ETA %s, %.1f s elapsed\n",
                p->phase, 100 * frac, (double)p->done / 1e6, (double)p->total / 1e6,
                (unsigned long long)p->items_done, (unsigned long long)p->items_total, rate / 1e6, e, t - p->t_start);
    }
    fflush(stderr);
    p->last = t;
}

static void maybe_draw(gmr__progress *p)
{
    double t = mono();
    double period = p->tty && p->interval > TTY_PERIOD ? TTY_PERIOD : p->interval;
    if (t - p->last >= period) draw(p, t);
}

void gmr__progress_phase(gmr__progress *p, const char *phase, uint64_t total, uint64_t items_total, uint64_t done0,
                         uint64_t items0)
{
    if (!p) return;
    snprintf(p->phase, sizeof p->phase, "%s", phase);
    p->total = total;
    p->items_total = items_total;
    p->base = p->done = done0;
    p->items_done = items0;
    p->t_phase = mono();
    maybe_draw(p);
}

void gmr__progress_update(gmr__progress *p, uint64_t done, uint64_t items_done)
{
    if (!p) return;
    p->done = done;
    p->items_done = items_done;
    maybe_draw(p);
}

void gmr__progress_finish(gmr__progress *p)
{
    if (!p) return;
    if (p->tty && p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    p->drawn = 0;
}

void gmr__progress_destroy(gmr__progress **pp)
{
    if (!pp || !*pp) return;
    gmr__progress_finish(*pp);
    free(*pp);
    *pp = NULL;
}
