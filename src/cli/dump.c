/* dump.c: `gridmr dump OUT.h5 [--top N]`: a result as text, one `key<TAB>values` line per row,
 * in the job's order (wordcount: count descending then key; aggregate: key). Keys are compared
 * as bytes (shorter first on a common prefix). Integers print exactly, floating point with 17
 * significant digits, so equal doubles print equal text and different ones differ. Serial: this
 * reads the whole result on one process, it is a tool for inspection, not part of a job.
 *
 * A LASSO model (root attribute job = "lasso", written by `gridmr lasso`) prints instead, for
 * each lambda of its path in order (the first N with --top N):
 *     lambda <v>
 *     objective <v>        1/2 r^T W r + lambda sum pen_j |b_j|, unnormalised
 *     gap <v>              the duality gap, in the objective's units
 *     intercept <v>
 *     beta <column> <v>    one line per non-zero coefficient, in column order
 * A voltage-stability batch (job = "vsm", `gridmr vsm`) prints one line per point (vsm_cli.c). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../stage/h5util.h"
#include "../stage/result.h"
#include "gridmr/lasso.h"
#include "lasso_cli.h"
#include "opts.h"
#include "pf_cli.h"

/* The root attribute `job` of an HDF5 file into job[cap] ("" when it has none). 0 when path is
 * not an HDF5 file that opens. */
static int file_job(const char *path, char *job, size_t cap)
{
    hid_t f;
    job[0] = '\0';
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    if (gmr__h5_attr_get_str(f, "job", job, cap) != GMR_OK) {
        gmr_err_clear();
        job[0] = '\0';
    }
    H5Fclose(f);
    return 1;
}

int gmr__cli_is_lasso_model(const char *path)
{
    char job[16];
    return file_job(path, job, sizeof job) && strcmp(job, "lasso") == 0;
}

int gmr__cli_dump_lasso(const char *path, unsigned long long top)
{
    gmr_lasso_model m = NULL;
    int status = 0;
    if (gmr_lasso_model_read(path, &m)) {
        const char *msg = gmr_err_message();
        fprintf(stderr, "gridmr dump: %.*s\n", (int)strcspn(msg, "\n"), msg);
        return 1;
    }
    for (int k = 0; k < gmr_lasso_model_nlambda(m) && (unsigned long long)k < top; k++) {
        gmr_lasso_fit f;
        gmr_lasso_model_fit(m, k, &f);
        printf("lambda %.17g\nobjective %.17g\ngap %.17g\nintercept %.17g\n", f.lambda, f.objective, f.gap, f.intercept);
        for (int j = 0; j < gmr_lasso_model_p(m); j++)
            if (f.beta[j] != 0) printf("beta %s %.17g\n", gmr_lasso_model_name(m, j), f.beta[j]);
    }
    if (fflush(stdout) != 0) status = 1;
    gmr_lasso_model_destroy(&m);
    return status;
}

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
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: gridmr dump OUT.h5 [--top N]\n\n"
                   "Prints a MapReduce result (key<TAB>values, in the job's order), a LASSO model or a vsm\n"
                   "batch as text; --top N: the first N rows (models: lambdas). docs/formats.md, \"gridmr dump text\".\n");
            return 0;
        }
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
    if (gmr__cli_is_lasso_model(path)) return gmr__cli_dump_lasso(path, (unsigned long long)top);
    if (gmr__cli_is_vsm_file(path)) return gmr__cli_dump_vsm(path, (unsigned long long)top);
    if (gmr__result_read(path, &r)) {
        const char *msg = gmr_err_message();
        char job[32] = "";
        if (file_job(path, job, sizeof job) && job[0])
            fprintf(stderr,
                    "gridmr dump: %s is a '%s' file, not a MapReduce result, LASSO model or vsm batch: its layout is "
                    "in docs/formats.md (h5dump prints it)\n",
                    path, job);
        else
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
