/* opts.c: parsing of the job commands' options. Every tunable has one default, in
 * gridmr/mr.h (GMR_DEFAULT_*), shown by `gridmr --help`. */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gmr__parse_size(const char *text, uint64_t *bytes)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;
    if (!text || *text < '0' || *text > '9') return -1; /* strtoull would take blanks and signs */
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || end == text) return -1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = UINT64_C(1) << 10; break;
        case 'm': case 'M': mul = UINT64_C(1) << 20; break;
        case 'g': case 'G': mul = UINT64_C(1) << 30; break;
        default: return -1;
        }
        end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'b' || *end == 'B') end++;
        if (*end) return -1;
    }
    if (v > UINT64_MAX / mul) return -1;
    *bytes = (uint64_t)v * mul;
    return 0;
}

void gmr__cli_free(gmr__cli_opts *o) { free(o->inputs); o->inputs = NULL; }

static int fail(gmr__cli_opts *o, const char *fmt, const char *arg)
{
    snprintf(o->error, sizeof o->error, fmt, arg);
    return 1;
}

int gmr__cli_parse(int argc, char **argv, gmr__cli_opts *o)
{
    int aggregate = strcmp(argv[0], "aggregate") == 0, events = strcmp(argv[0], "events") == 0;
    memset(o, 0, sizeof *o);
    o->checks = 1;
    gmr_options_init(&o->job);
    o->inputs = calloc((size_t)argc + 1, sizeof *o->inputs);
    if (!o->inputs) return fail(o, "%s", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t *size = NULL;
        size_t tl = strlen(o->text);
        /* the options text names what decides the result (it is part of the stage
         * fingerprint), so where files go and how much is printed stay out of it */
        /* ... and so do the options that change how, not what: memory, checkpoints, rounds */
        int unrecorded = strcmp(a, "--input") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--stage") == 0 ||
                         strcmp(a, "--resume") == 0 || strcmp(a, "--quiet") == 0 || strcmp(a, "--mem-budget") == 0 ||
                         strcmp(a, "--checkpoint") == 0 || strcmp(a, "--shuffle-buffer") == 0 ||
                         strcmp(a, "--top") == 0 || strcmp(a, "--threads") == 0 ||
                         strcmp(a, "--progress-interval") == 0 || strcmp(a, "--profile") == 0 ||
                         strcmp(a, "--log-view") == 0;
        if (strncmp(a, "--", 2) == 0 && !unrecorded)
            snprintf(o->text + tl, sizeof o->text - tl, "%s%s%s%s", tl ? " " : "", a,
                     (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) ? " " : "",
                     (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) ? argv[i + 1] : "");
        if (strcmp(a, "--input") == 0) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) o->inputs[o->ninputs++] = argv[++i];
            continue;
        }
        if (strcmp(a, "--strict") == 0) { o->job.strict = 1; continue; }
        if (strcmp(a, "--quiet") == 0) { o->quiet = 1; continue; }
        if (strcmp(a, "--profile") == 0 || strcmp(a, "--log-view") == 0) { o->profile = 1; continue; }
        if (strcmp(a, "--resume") == 0) { o->job.resume = 1; continue; }
        if (events && strcmp(a, "--no-checks") == 0) { o->checks = 0; continue; }
        if (i + 1 >= argc) return fail(o, "%s needs a value", a);
        if (strcmp(a, "--output") == 0) { o->output = argv[++i]; continue; }
        if (strcmp(a, "--stage") == 0) { o->job.stage_dir = argv[++i]; continue; }
        if ((aggregate || events) && strcmp(a, "--key") == 0) { o->key = argv[++i]; continue; }
        if ((aggregate || events) && strcmp(a, "--value") == 0) { o->value = argv[++i]; continue; }
        if (strcmp(a, "--provinces") == 0) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 1 || p > 1 << 20) return fail(o, "--provinces: '%s' is not a positive number", argv[i]);
            o->job.provinces = (int)p;
            continue;
        }
        if (strcmp(a, "--checkpoint") == 0) {
            char *end;
            double c = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(c >= 0) || c > 1e9)
                return fail(o, "--checkpoint: '%s' is not a number of seconds (0: only at the end of the map)", argv[i]);
            o->job.checkpoint = c > 0 ? c : -1;
            continue;
        }
        if (strcmp(a, "--progress-interval") == 0) {
            char *end;
            double c = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(c > 0) || c > 1e6)
                return fail(o, "--progress-interval: '%s' is not a positive number of seconds", argv[i]);
            o->job.progress_interval = c;
            continue;
        }
        if (strcmp(a, "--threads") == 0) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 256) return fail(o, "--threads: '%s' is not a number from 1 to 256", argv[i]);
            o->job.threads = (int)t;
            continue;
        }
        if (strcmp(a, "--top") == 0) {
            char *end;
            unsigned long long n = strtoull(argv[++i], &end, 10);
            if (*end || argv[i][0] < '0' || argv[i][0] > '9' || n == 0)
                return fail(o, "--top: '%s' is not a positive number of rows", argv[i]);
            o->job.top = n;
            continue;
        }
        if (strcmp(a, "--split-size") == 0) size = &o->job.split_size;
        else if (strcmp(a, "--mem-budget") == 0) size = &o->job.mem_budget;
        else if (strcmp(a, "--shuffle-buffer") == 0) size = &o->job.shuffle_buffer;
        else if (strcmp(a, "--max-key") == 0) size = &o->job.max_key;
        else if (strcmp(a, "--max-record") == 0) size = &o->job.max_record;
        else return fail(o, "unknown option '%s'", a);
        if (gmr__parse_size(argv[++i], size) || *size == 0)
            return fail(o, "'%s' is not a size (a positive number with an optional K, M or G)", argv[i]);
    }
    if (o->ninputs == 0) return fail(o, "%s", "--input needs at least one file");
    if (!o->output) return fail(o, "%s", "--output OUT.h5 is required");
    if (aggregate && (!o->key || !o->value)) return fail(o, "%s", "aggregate needs --key and --value");
    o->job.options_text = o->text;
    o->job.progress = !o->quiet;
    o->job.profile = o->profile;
    return 0;
}
