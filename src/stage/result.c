/* result.c: the result file, written collectively with parallel HDF5.
 *
 * Layout (docs/formats.md):
 *   /keys          uint8  [total key bytes]   every key's bytes, rank after rank
 *   /key_offsets   uint64 [rows + 1]          row i's key is keys[off[i], off[i+1])
 *   /columns/<c>   uint64 or float64 [rows]   one dataset per output column c
 *   attributes on /: job, options, gridmr_version, columns, order, input_bytes, records,
 *   rejected, keys, splits, shuffle_bytes, ranks, provinces, time_plan, time_map,
 *   time_shuffle, time_stage, time_reduce, time_total_before_write
 * Each rank writes its own rows at an offset from MPI_Exscan, with collective transfers
 * (H5FD_MPIO_COLLECTIVE); a rank with no rows selects nothing but still takes part. Attribute
 * writes are collective metadata operations: every rank passes the same values. */
#define _XOPEN_SOURCE 700
#include "result.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../mr/job.h"
#include "h5util.h"

static gmr_err write_1d(hid_t file, hid_t dxpl, const char *name, hid_t type, uint64_t total, uint64_t first,
                        uint64_t count, const void *buf)
{
    gmr_err err = GMR_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hsize_t dims = (hsize_t)total, cnt = (hsize_t)count;
    GMR_H5_ID(fspace, H5Screate_simple(1, &dims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(file, name, type, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_H5_ID(mspace, H5Screate_simple(1, &cnt, NULL));
    GMR_CALL(gmr__h5_select_range(fspace, mspace, first, count));
    if (total) GMR_CALL_H5(H5Dwrite(dset, type, mspace, fspace, dxpl, buf)); /* all ranks agree on total */
out:
    if (mspace >= 0) H5Sclose(mspace);
    if (dset >= 0) H5Dclose(dset);
    if (fspace >= 0) H5Sclose(fspace);
    return err;
}

static gmr_err write_attrs(hid_t file, const gmr__result_meta *m)
{
    gmr_err err = GMR_OK;
    const gmr_summary *s = m->summary;
    char cols[4096] = "";
    struct { const char *name; uint64_t v; } u[] = {
        {"input_bytes", s->input_bytes}, {"records", s->records}, {"rejected", s->rejected},
        {"keys", s->keys}, {"rows", s->rows}, {"top", m->top}, {"splits", s->splits}, {"shuffle_bytes", s->shuffle_bytes},
        {"ranks", (uint64_t)s->ranks}, {"provinces", (uint64_t)s->provinces}};
    struct { const char *name; double v; } d[] = {
        {"time_plan", s->t_plan}, {"time_map", s->t_map}, {"time_shuffle", s->t_shuffle}, {"time_stage", s->t_stage},
        {"time_reduce", s->t_reduce}, {"time_total_before_write", s->t_total}};
    for (size_t i = 0; i < m->ops->ncolumns; i++) {
        size_t len = strlen(cols);
        snprintf(cols + len, sizeof cols - len, "%s%s", i ? "," : "", m->ops->columns[i].name);
    }
    GMR_CALL(gmr__h5_attr_put_str(file, "job", m->job));
    GMR_CALL(gmr__h5_attr_put_str(file, "options", m->options));
    GMR_CALL(gmr__h5_attr_put_str(file, "gridmr_version", GMR_VERSION_STRING));
    GMR_CALL(gmr__h5_attr_put_str(file, "columns", cols));
    GMR_CALL(gmr__h5_attr_put_str(file, "order", m->ops->order == GMR_ORDER_FIRST_DESC ? "first_desc" : "key"));
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) GMR_CALL(gmr__h5_attr_put(file, u[i].name, H5T_NATIVE_UINT64, 1, &u[i].v));
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) GMR_CALL(gmr__h5_attr_put(file, d[i].name, H5T_NATIVE_DOUBLE, 1, &d[i].v));
out:
    return err;
}

/* The innermost HDF5 error description (the most specific). */
static herr_t h5_last(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc) snprintf(data, 512, "%s", e->desc);
    return 0;
}

gmr_err gmr__result_write(MPI_Comm comm, const char *path, const struct gmr_output *out,
                          const gmr__result_meta *meta)
{
    gmr_err err = GMR_OK;
    hid_t fapl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, file = H5I_INVALID_HID, cgroup = H5I_INVALID_HID;
    uint64_t mine[2] = {out->n, out->keys_len}, first[2] = {0, 0}, total[2] = {0, 0};
    uint64_t *offs = NULL, *col = NULL;
    int rank, size;

    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported through gmr_err, not printed */
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    GMR_CALL_MPI(MPI_Comm_size(comm, &size));
    GMR_CALL_MPI(MPI_Exscan(mine, first, 2, MPI_UINT64_T, MPI_SUM, comm));
    if (rank == 0) first[0] = first[1] = 0;
    GMR_CALL_MPI(MPI_Allreduce(mine, total, 2, MPI_UINT64_T, MPI_SUM, comm));

    GMR_H5_ID(fapl, H5Pcreate(H5P_FILE_ACCESS));
    GMR_CALL_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
    GMR_H5_ID(dxpl, H5Pcreate(H5P_DATASET_XFER));
    GMR_CALL_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (file < 0) {
        char why[512] = "";
        H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_last, why);
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot create the result file%s%s", path, why[0] ? ": " : "", why);
    }

    /* global key offsets; the last rank also writes the final end offset */
    offs = malloc((out->n + 1) * sizeof *offs);
    col = malloc((out->n + 1) * sizeof *col);
    GMR_CHECK(offs && col, GMR_ERR_NOMEM, "cannot allocate %llu output offsets", (unsigned long long)out->n);
    for (uint64_t i = 0; i < out->n; i++) offs[i] = first[1] + out->koff[i];
    offs[out->n] = total[1];
    GMR_CALL(write_1d(file, dxpl, "keys", H5T_NATIVE_UINT8, total[1], first[1], out->keys_len, out->keys));
    GMR_CALL(write_1d(file, dxpl, "key_offsets", H5T_NATIVE_UINT64, total[0] + 1, first[0],
                      out->n + (rank == size - 1 ? 1 : 0), offs));
    GMR_H5_ID(cgroup, H5Gcreate2(file, "columns", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    for (size_t c = 0; c < out->ncolumns; c++) {
        for (uint64_t i = 0; i < out->n; i++) col[i] = out->slots[i * out->ncolumns + c];
        GMR_CALL(write_1d(cgroup, dxpl, meta->ops->columns[c].name,
                          meta->ops->columns[c].type == GMR_TYPE_U64 ? H5T_NATIVE_UINT64 : H5T_NATIVE_DOUBLE,
                          total[0], first[0], out->n, col));
    }
    GMR_CALL(write_attrs(file, meta));
out:
    free(col);
    free(offs);
    if (cgroup >= 0) H5Gclose(cgroup);
    if (file >= 0 && H5Fclose(file) < 0 && !err) err = gmr__err_h5(__FILE__, __LINE__, __func__, "H5Fclose");
    if (dxpl >= 0) H5Pclose(dxpl);
    if (fapl >= 0) H5Pclose(fapl);
    return err;
}

/* ---- the profile ------------------------------------------------------------------------- */

/* A whole dataset of n (x m when m > 0) values, written by this process alone. */
static gmr_err put_small(hid_t g, const char *name, hid_t type, hsize_t n, hsize_t m, const void *buf)
{
    gmr_err err = GMR_OK;
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hsize_t dims[2] = {n, m};
    GMR_H5_ID(space, H5Screate_simple(m ? 2 : 1, dims, NULL));
    GMR_H5_ID(dset, H5Dcreate2(g, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_CALL_H5(H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
out:
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    return err;
}

gmr_err gmr__result_put_profile(const char *path, const gmr_profile *p)
{
    gmr_err err = GMR_OK;
    hid_t file = H5I_INVALID_HID, g = H5I_INVALID_HID;
    double t[4][GMR_NPHASES];
    uint64_t c[4][GMR_NPHASES], tot[2] = {p->shuffle_bytes, p->spill_bytes}, ranks = (uint64_t)p->ranks;
    char names[128] = "";
    for (int i = 0; i < GMR_NPHASES; i++) {
        const gmr_phase_profile *q = &p->phase[i];
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", i ? "," : "", q->name);
        t[0][i] = q->t_min, t[1][i] = q->t_avg, t[2][i] = q->t_max, t[3][i] = q->imbalance;
        c[0][i] = q->records_in, c[1][i] = q->records_out, c[2][i] = q->bytes_in, c[3][i] = q->bytes_out;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot reopen the result to add its profile", path);
    }
    GMR_H5_ID(g, H5Gcreate2(file, "profile", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    GMR_CALL(gmr__h5_attr_put_str(g, "phases", names));
    GMR_CALL(gmr__h5_attr_put(g, "ranks", H5T_NATIVE_UINT64, 1, &ranks));
    GMR_CALL(gmr__h5_attr_put(g, "time_min", H5T_NATIVE_DOUBLE, GMR_NPHASES, t[0]));
    GMR_CALL(gmr__h5_attr_put(g, "time_avg", H5T_NATIVE_DOUBLE, GMR_NPHASES, t[1]));
    GMR_CALL(gmr__h5_attr_put(g, "time_max", H5T_NATIVE_DOUBLE, GMR_NPHASES, t[2]));
    GMR_CALL(gmr__h5_attr_put(g, "imbalance", H5T_NATIVE_DOUBLE, GMR_NPHASES, t[3]));
    GMR_CALL(gmr__h5_attr_put(g, "records_in", H5T_NATIVE_UINT64, GMR_NPHASES, c[0]));
    GMR_CALL(gmr__h5_attr_put(g, "records_out", H5T_NATIVE_UINT64, GMR_NPHASES, c[1]));
    GMR_CALL(gmr__h5_attr_put(g, "bytes_in", H5T_NATIVE_UINT64, GMR_NPHASES, c[2]));
    GMR_CALL(gmr__h5_attr_put(g, "bytes_out", H5T_NATIVE_UINT64, GMR_NPHASES, c[3]));
    GMR_CALL(gmr__h5_attr_put(g, "shuffle_bytes", H5T_NATIVE_UINT64, 1, &tot[0]));
    GMR_CALL(gmr__h5_attr_put(g, "spill_bytes", H5T_NATIVE_UINT64, 1, &tot[1]));
    /* per rank: datasets, which (unlike attributes) have no 64 KiB limit at many ranks */
    GMR_CALL(put_small(g, "rank_time", H5T_NATIVE_DOUBLE, (hsize_t)p->ranks, GMR_NPHASES, p->rank_time));
    GMR_CALL(put_small(g, "rank_peak_rss", H5T_NATIVE_UINT64, (hsize_t)p->ranks, 0, p->rank_peak_rss));
    GMR_CALL(put_small(g, "rank_shuffle_bytes", H5T_NATIVE_UINT64, (hsize_t)p->ranks, 0, p->rank_shuffle_bytes));
    GMR_CALL(put_small(g, "rank_spill_bytes", H5T_NATIVE_UINT64, (hsize_t)p->ranks, 0, p->rank_spill_bytes));
out:
    if (g >= 0) H5Gclose(g);
    if (file >= 0 && H5Fclose(file) < 0 && !err) err = gmr__err_h5(__FILE__, __LINE__, __func__, "H5Fclose");
    return err;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* count elements from start of a 1-D dataset into buf (allocated); the dataset must hold
 * exactly `whole` elements unless whole is UINT64_MAX. */
static gmr_err read_range(hid_t loc, const char *name, hid_t mtype, size_t elem, uint64_t start, uint64_t count,
                          uint64_t whole, void **buf, int *is_float)
{
    gmr_err err = GMR_OK;
    hid_t dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hsize_t dims = 0, cnt = (hsize_t)count;
    GMR_H5_ID(dset, H5Dopen2(loc, name, H5P_DEFAULT));
    if (is_float) { /* 8-byte slots: doubles read as doubles, integers as uint64 */
        GMR_H5_ID(type, H5Dget_type(dset));
        *is_float = H5Tget_class(type) == H5T_FLOAT;
        mtype = *is_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_UINT64;
    }
    GMR_H5_ID(fspace, H5Dget_space(dset));
    GMR_CHECK(H5Sget_simple_extent_ndims(fspace) == 1, GMR_ERR_DATA, "dataset %s is not one-dimensional", name);
    GMR_CALL_H5(H5Sget_simple_extent_dims(fspace, &dims, NULL));
    GMR_CHECK(start + count <= dims, GMR_ERR_DATA, "dataset %s has %llu elements, %llu wanted", name,
              (unsigned long long)dims, (unsigned long long)(start + count));
    GMR_CHECK(whole == UINT64_MAX || dims == whole, GMR_ERR_DATA, "dataset %s has %llu elements, expected %llu", name,
              (unsigned long long)dims, (unsigned long long)whole);
    *buf = malloc((size_t)count * elem + 1);
    GMR_CHECK(*buf, GMR_ERR_NOMEM, "cannot allocate %llu elements", (unsigned long long)count);
    if (count) {
        GMR_H5_ID(mspace, H5Screate_simple(1, &cnt, NULL));
        GMR_CALL(gmr__h5_select_range(fspace, mspace, start, count));
        GMR_CALL_H5(H5Dread(dset, mtype, mspace, fspace, H5P_DEFAULT, *buf));
    }
out:
    if (type >= 0) H5Tclose(type);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0) H5Dclose(dset);
    return err;
}

gmr_err gmr__result_read_part(const char *path, int part, int nparts, gmr__result **resp)
{
    gmr_err err = GMR_OK;
    hid_t file = H5I_INVALID_HID, cgroup = H5I_INVALID_HID, d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    gmr__result *r = NULL;
    char cols[4096], order[32], *save = NULL, *tok;
    hsize_t dims = 0;
    uint64_t total, first, nc = 1;
    void *buf = NULL;

    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    GMR_CHECK(nparts >= 1 && part >= 0 && part < nparts, GMR_ERR_ARG, "part %d of %d", part, nparts);
    r = calloc(1, sizeof *r);
    GMR_CHECK(r, GMR_ERR_NOMEM, "out of memory");
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot open as an HDF5 result file", path);
    }
    GMR_CALL(gmr__h5_attr_get_str(file, "job", r->job, sizeof r->job));
    GMR_CALL(gmr__h5_attr_get_str(file, "columns", cols, sizeof cols));
    GMR_CALL(gmr__h5_attr_get_str(file, "order", order, sizeof order));
    r->order = strcmp(order, "first_desc") == 0 ? GMR_ORDER_FIRST_DESC : GMR_ORDER_KEY;
    GMR_H5_ID(d, H5Dopen2(file, "key_offsets", H5P_DEFAULT));
    GMR_H5_ID(sp, H5Dget_space(d));
    GMR_CALL_H5(H5Sget_simple_extent_dims(sp, &dims, NULL));
    GMR_CHECK(dims >= 1, GMR_ERR_DATA, "%s: empty key_offsets", path);
    total = (uint64_t)dims - 1;
    first = total * (uint64_t)part / (uint64_t)nparts;
    r->n = total * (uint64_t)(part + 1) / (uint64_t)nparts - first;
    GMR_CALL(read_range(file, "key_offsets", H5T_NATIVE_UINT64, 8, first, r->n + 1, UINT64_MAX, &buf, NULL));
    r->koff = buf;
    buf = NULL;
    for (uint64_t i = 0; i < r->n; i++)
        GMR_CHECK(r->koff[i] <= r->koff[i + 1], GMR_ERR_DATA, "%s: key offsets are not increasing", path);
    r->keys_len = r->koff[r->n] - r->koff[0];
    /* the last part's last offset is the whole key byte count */
    GMR_CALL(read_range(file, "keys", H5T_NATIVE_UINT8, 1, r->koff[0], r->keys_len,
                        part == nparts - 1 ? r->koff[r->n] : UINT64_MAX, &buf, NULL));
    r->keys = buf;
    buf = NULL;
    for (uint64_t i = r->n + 1; i-- > 0;) r->koff[i] -= r->koff[0];
    for (const char *c = cols; *c; c++) nc += *c == ',';
    r->colnames = calloc((size_t)nc, sizeof *r->colnames);
    r->coltypes = calloc((size_t)nc, sizeof *r->coltypes);
    r->slots = malloc((r->n * nc + 1) * sizeof *r->slots);
    GMR_CHECK(r->colnames && r->coltypes && r->slots, GMR_ERR_NOMEM, "cannot allocate %llu rows of %llu columns",
              (unsigned long long)r->n, (unsigned long long)nc);
    GMR_H5_ID(cgroup, H5Gopen2(file, "columns", H5P_DEFAULT));
    for (tok = strtok_r(cols, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int c = r->ncolumns, isf = 0;
        r->colnames[c] = strdup(tok);
        GMR_CHECK(r->colnames[c], GMR_ERR_NOMEM, "out of memory");
        r->ncolumns++;
        GMR_CALL(read_range(cgroup, tok, H5T_NATIVE_UINT64, 8, first, r->n, total, &buf, &isf));
        r->coltypes[c] = isf ? GMR_TYPE_F64 : GMR_TYPE_U64;
        for (uint64_t i = 0; i < r->n; i++) memcpy(&r->slots[i * nc + (uint64_t)c], (char *)buf + 8 * i, 8);
        free(buf);
        buf = NULL;
    }
    *resp = r;
    r = NULL;
out:
    free(buf);
    gmr__result_free(&r);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (cgroup >= 0) H5Gclose(cgroup);
    if (file >= 0) H5Fclose(file);
    return err;
}

gmr_err gmr__result_read(const char *path, gmr__result **resp) { return gmr__result_read_part(path, 0, 1, resp); }

void gmr__result_free(gmr__result **rp)
{
    gmr__result *r;
    if (!rp || !*rp) return;
    r = *rp;
    for (int c = 0; c < r->ncolumns; c++) free(r->colnames[c]);
    free(r->colnames);
    free(r->coltypes);
    free(r->slots);
    free(r->koff);
    free(r->keys);
    free(r);
    *rp = NULL;
}
