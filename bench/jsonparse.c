/* jsonparse.c: the JSON parser's share of the jsonl reader's cost (bench/ingest).
 *
 * usage: jsonparse FILE.jsonl
 * Reads the file into memory, then times two passes over its lines: finding them (memchr),
 * and finding them plus json_loadb (with the jsonl reader's flags) and json_decref of each.
 * Prints "lines MB/s" and "jansson MB/s" (10^6 bytes per second of file). One process, no
 * MPI, no gridmr code: the ceiling the reader cannot pass on one core. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    FILE *f;
    char *p;
    long n;
    size_t lines = 0, objects = 0;
    double t0, t1, t2;
    if (argc != 2) {
        fprintf(stderr, "usage: jsonparse FILE.jsonl\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        perror(argv[1]);
        return 1;
    }
    p = malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        perror(argv[1]);
        return 1;
    }
    fclose(f);
    t0 = now();
    for (char *s = p, *end = p + n; s < end;) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        lines++;
        s = nl ? nl + 1 : end;
    }
    t1 = now();
    for (char *s = p, *end = p + n; s < end;) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        json_error_t e;
        json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
        if (j) objects++;
        json_decref(j);
        s = nl ? nl + 1 : end;
    }
    t2 = now();
    printf("lines %.1f\njansson %.1f\n", (double)n / 1e6 / (t1 - t0 > 1e-9 ? t1 - t0 : 1e-9), (double)n / 1e6 / (t2 - t1));
    fprintf(stderr, "jsonparse: %zu lines, %zu parsed\n", lines, objects);
    free(p);
    return 0;
}
