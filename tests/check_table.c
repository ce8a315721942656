/* check_table.c: the table reader (src/io/table.c) on HDF5 groups that hold text columns, at
 * 1..4 ranks (tests/run.sh runs it under mpirun with CK_FORK=no).
 *
 * Rank 0 writes, with the plain HDF5 API, a group /t/people of 37 rows: an unsigned id past
 * 2^53 (so a detour through double would show), a fixed-length name padded with blanks, a
 * variable-length code, a float and a signed integer; and a file whose root group has a text
 * column and no `columns` attribute. Then every rank reads its block and checks each value
 * against the formula that made it: numbers where they were asked for, text ids (strings, or
 * integers printed exactly), text columns left out, and the error for a text column asked for
 * as a number (GMR_ERR_DATA on every rank, naming file, group and column). */
#define _XOPEN_SOURCE 700
#include <hdf5.h>
#include <inttypes.h>

#include "io/table.h"
#include "testutil_mpi.h"

#define NROWS 37
#define NAMEW 12

static uint64_t id_of(int i) { return (UINT64_C(1) << 60) + (uint64_t)i * 7; }
static int64_t y_of(int i) { return (int64_t)i * 1000 - 18000; }
static double x_of(int i) { return 0.25 * i - 3.5; }
static void name_of(int i, char *b, size_t cap) { snprintf(b, cap, i % 3 ? "n%03d" : "n%03d   ", i); }
static void code_of(int i, char *b, size_t cap) { snprintf(b, cap, "code-%d-%s", i, i % 2 ? "odd" : "even"); }

static void put(hid_t g, const char *name, hid_t ftype, hid_t mtype, const void *data)
{
    hsize_t n = NROWS;
    hid_t sp = H5Screate_simple(1, &n, NULL), d = H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(sp >= 0 && d >= 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
}

static void put_columns_attr(hid_t g, const char *cols)
{
    hid_t st = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a;
    H5Tset_size(st, strlen(cols) + 1);
    a = H5Acreate2(g, "columns", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(a >= 0 && H5Awrite(a, st, cols) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(st);
}

/* Rank 0: the two files; everybody waits. */
static void make_files(char *grouped, char *flat, size_t cap)
{
    tmp_path(grouped, cap, "people.h5");
    tmp_path(flat, cap, "flat.h5");
    if (rank == 0) {
        uint64_t id[NROWS];
        int64_t y[NROWS];
        double x[NROWS];
        char names[NROWS][NAMEW], codes[NROWS][32];
        const char *cp[NROWS];
        hid_t f, lcpl = H5Pcreate(H5P_LINK_CREATE), g, fixed = H5Tcopy(H5T_C_S1), var = H5Tcopy(H5T_C_S1);
        H5Tset_size(fixed, NAMEW);
        H5Tset_strpad(fixed, H5T_STR_NULLTERM);
        H5Tset_size(var, H5T_VARIABLE);
        for (int i = 0; i < NROWS; i++) {
            id[i] = id_of(i);
            y[i] = y_of(i);
            x[i] = x_of(i);
            memset(names[i], 0, NAMEW);
            name_of(i, names[i], NAMEW);
            code_of(i, codes[i], sizeof codes[i]);
            cp[i] = codes[i];
        }
        H5Pset_create_intermediate_group(lcpl, 1);
        f = H5Fcreate(grouped, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        g = H5Gcreate2(f, "/t/people", lcpl, H5P_DEFAULT, H5P_DEFAULT);
        ck_assert(f >= 0 && g >= 0);
        put(g, "id", H5T_STD_U64LE, H5T_NATIVE_UINT64, id);
        put(g, "name", fixed, fixed, names);
        put(g, "code", var, var, cp);
        put(g, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, x);
        put(g, "y", H5T_STD_I64LE, H5T_NATIVE_INT64, y);
        put_columns_attr(g, "id,name,code,x,y");
        H5Gclose(g);
        H5Fclose(f);
        /* the root group, no columns attribute: the datasets in name order (label, x) */
        f = H5Fcreate(flat, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        put(f, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, x);
        put(f, "label", var, var, cp);
        H5Fclose(f);
        H5Tclose(fixed);
        H5Tclose(var);
        H5Pclose(lcpl);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

START_TEST(test_text_columns_are_listed_and_skipped)
{
    char file[256], flat[256], path[300];
    gmr__table t;
    int dest[5] = {-1, -1, -1, 1, 0}, ok = 1;
    gmr_err err;
    make_files(file, flat, sizeof file);
    snprintf(path, sizeof path, "%s:/t/people", file);
    err = gmr__table_header(MPI_COMM_WORLD, path, &t);
    all_assert(err == GMR_OK, "header: %s", gmr_err_message());
    all_assert(t.hdf5 == 1 && t.ncols == 5 && t.size == NROWS, "hdf5 %d, %d columns, %llu rows", t.hdf5, t.ncols,
               (unsigned long long)t.size);
    all_assert(strcmp(t.names[1], "name") == 0 && strcmp(t.names[2], "code") == 0, "names %s %s", t.names[1], t.names[2]);
    all_assert(!gmr__table_is_text(&t, 0) && gmr__table_is_text(&t, 1) && gmr__table_is_text(&t, 2) &&
                   !gmr__table_is_text(&t, 3) && !gmr__table_is_text(&t, 4) && !gmr__table_is_text(&t, 5),
               "kinds '%s'", t.kinds);
    /* x and y as numbers (in the other order), the text columns not asked for */
    err = gmr__table_read(MPI_COMM_WORLD, &t, dest, 2);
    all_assert(err == GMR_OK, "read: %s", gmr_err_message());
    for (size_t i = 0; i < t.nrows; i++) {
        int r = (int)(t.first_row + i);
        ok &= t.v[2 * i] == (double)y_of(r) && t.v[2 * i + 1] == x_of(r) && t.line[i] == (uint64_t)r + 1;
    }
    all_assert(ok && t.total_rows == NROWS && t.text == NULL, "values wrong, %llu rows", (unsigned long long)t.total_rows);
    gmr__table_free(&t);
}
END_TEST

/* Each id column in turn: fixed text (trailing blanks dropped), variable text, u64 past 2^53
 * printed exactly, i64 with its sign; the numbers alongside stay right. */
START_TEST(test_any_column_is_a_text_id)
{
    char file[256], flat[256], path[300], want[64];
    for (int idc = 0; idc < 5; idc++) {
        gmr__table t;
        int dest[5] = {-1, -1, -1, 0, -1}, ok = 1, bad = -1;
        gmr_err err;
        make_files(file, flat, sizeof file);
        snprintf(path, sizeof path, "%s:/t/people", file);
        ck_assert(gmr__table_header(MPI_COMM_WORLD, path, &t) == GMR_OK);
        dest[idc] = -1;
        t.text_col1 = idc + 1;
        err = gmr__table_read(MPI_COMM_WORLD, &t, dest, 1);
        all_assert(err == GMR_OK, "id column %d: %s", idc, gmr_err_message());
        for (size_t i = 0; i < t.nrows && ok; i++) {
            int r = (int)(t.first_row + i);
            if (idc == 0) snprintf(want, sizeof want, "%" PRIu64, id_of(r));
            else if (idc == 1) name_of(r, want, sizeof want), want[4] = 0; /* "n007", blanks dropped */
            else if (idc == 2) code_of(r, want, sizeof want);
            else if (idc == 3) snprintf(want, sizeof want, "%.17g", x_of(r));
            else snprintf(want, sizeof want, "%" PRId64, y_of(r));
            ok = t.text && strcmp(t.text[i], want) == 0 && (idc == 3 || t.v[i] == x_of(r));
            if (!ok) bad = r;
        }
        all_assert(ok, "id column %d, row %d: got '%s', want '%s'", idc, bad, ok || !t.text ? "" : t.text[bad - t.first_row],
                   want);
        gmr__table_free(&t);
    }
}
END_TEST

START_TEST(test_a_text_column_asked_as_a_number_is_an_error)
{
    char file[256], flat[256], path[300];
    gmr__table t;
    int dest[5] = {-1, 0, -1, 1, -1};
    gmr_err err;
    const char *msg;
    make_files(file, flat, sizeof file);
    snprintf(path, sizeof path, "%s:/t/people", file);
    ck_assert(gmr__table_header(MPI_COMM_WORLD, path, &t) == GMR_OK);
    err = gmr__table_read(MPI_COMM_WORLD, &t, dest, 2);
    msg = gmr_err_message();
    all_assert(err == GMR_ERR_DATA, "a text column read as a number: error %d (%s), want GMR_ERR_DATA", (int)err, msg);
    all_assert(strstr(msg, "column 'name'") && strstr(msg, "/t/people/name") && strstr(msg, file) && strstr(msg, "is text"),
               "message '%s' does not name the file, group and column", msg);
    gmr__table_free(&t);
    /* the root group without a columns attribute: label (text) then x, in name order */
    ck_assert(gmr__table_header(MPI_COMM_WORLD, flat, &t) == GMR_OK);
    all_assert(t.ncols == 2 && strcmp(t.names[0], "label") == 0 && gmr__table_is_text(&t, 0), "flat: %d columns", t.ncols);
    {
        int d2[2] = {-1, 0}, ok = 1;
        t.text_col1 = 1;
        all_assert(gmr__table_read(MPI_COMM_WORLD, &t, d2, 1) == GMR_OK, "flat read: %s", gmr_err_message());
        for (size_t i = 0; i < t.nrows; i++) {
            char want[32];
            code_of((int)(t.first_row + i), want, sizeof want);
            ok &= strcmp(t.text[i], want) == 0 && t.v[i] == x_of((int)(t.first_row + i));
        }
        all_assert(ok, "flat: wrong label or x");
    }
    gmr__table_free(&t);
    ck_assert(gmr__table_header(MPI_COMM_WORLD, flat, &t) == GMR_OK);
    {
        int d2[2] = {0, -1};
        err = gmr__table_read(MPI_COMM_WORLD, &t, d2, 1);
        msg = gmr_err_message();
        all_assert(err == GMR_ERR_DATA && strstr(msg, "column 'label' (dataset /label in "), "flat: %d '%s'", (int)err, msg);
    }
    gmr__table_free(&t);
}
END_TEST

static Suite *table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("hdf5 text columns");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_text_columns_are_listed_and_skipped);
    tcase_add_test(tc, test_any_column_is_a_text_id);
    tcase_add_test(tc, test_a_text_column_asked_as_a_number_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return mpi_test_main(argc, argv, table_suite, "/tmp/gmr_check_table_XXXXXX"); }
