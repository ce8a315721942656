/* dump.c: `gridmr dump OUT.h5 [--top N]`: a result as text, one `key<TAB>values` line per row,
 * in the job's order (wordcount: count descending then key; aggregate: key). Keys are compared
 * as bytes (shorter first on a common prefix). Integers print exactly, floating point with 17
 * significant digits, so equal doubles print equal text and different ones differ. Serial: this
 * reads the whole result on one process, it is a tool for inspection, not part of a job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../stage/result.h"
#include "opts.h"

static const gmr__result *sort_res;

static int key_cmp(uint64_t a, uint64_t b)
{
    const gmr__result *r = sort_res;
    uint64_t la = r->koff[a + 1] - r->koff[a], lb = r->koff[b + 1] - r->koff[b];
    uint64_t m = la < lb ? la : lb;
    int c = m ? memcmp(r->keys + r->koff[a], r->keys + r->koff[b], (size_t)m) : 0;
    if (c) return c;
    return (la > lb) - (la < lb);
}

static int row_cmp(const void *x, const void *y)
{
    const gmr__result *r = sort_res;
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    if (r->order == GMR_ORDER_FIRST_DESC) {
        uint64_t sa = r->slots[a * (uint64_t)r->ncolumns], sb = r->slots[b * (uint64_t)r->ncolumns];
        if (r->coltypes[0] == GMR_TYPE_U64) {
            if (sa != sb) return sa > sb ? -1 : 1;
        } else {
            double da, db;
            memcpy(&da, &sa, 8);
            memcpy(&db, &sb, 8);
            if (da != db) return da > db ? -1 : 1;
        }
    }
    return key_cmp(a, b);
}

int gmr__cli_dump(int argc, char **argv)
{
    gmr__result *r = NULL;
    const char *path = NULL;
    uint64_t top = UINT64_MAX, *idx = NULL;
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
            char *end;
            top = strtoull(argv[++i], &end, 10);
            if (*end || argv[i][0] == '-') {
                fprintf(stderr, "gridmr dump: --top needs a number\n");
                return 2;
            }
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr, "usage: gridmr dump OUT.h5 [--top N]\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: gridmr dump OUT.h5 [--top N]\n");
        return 2;
    }
    if (gmr__result_read(path, &r)) {
        const char *msg = gmr_err_message();
        fprintf(stderr, "gridmr dump: %.*s\n", (int)strcspn(msg, "\n"), msg);
        return 1;
    }
    idx = malloc((r->n + 1) * sizeof *idx);
    if (!idx) {
        fprintf(stderr, "gridmr dump: out of memory\n");
        status = 1;
        goto out;
    }
    for (uint64_t i = 0; i < r->n; i++) idx[i] = i;
    sort_res = r;
    qsort(idx, r->n, sizeof *idx, row_cmp);
    for (uint64_t k = 0; k < r->n && k < top; k++) {
        uint64_t i = idx[k];
        fwrite(r->keys + r->koff[i], 1, (size_t)(r->koff[i + 1] - r->koff[i]), stdout);
        for (int c = 0; c < r->ncolumns; c++) {
            uint64_t s = r->slots[i * (uint64_t)r->ncolumns + (uint64_t)c];
            if (r->coltypes[c] == GMR_TYPE_U64) {
                printf("\t%llu", (unsigned long long)s);
            } else {
                double d;
                memcpy(&d, &s, 8);
                printf("\t%.17g", d);
            }
        }
        putchar('\n');
    }
    if (fflush(stdout) != 0) status = 1;
out:
    free(idx);
    gmr__result_free(&r);
    return status;
}
