/* table.h: a numeric table read by row blocks across ranks (private), from CSV or HDF5.
 *
 * CSV: a header line naming the columns; every other non-blank line is a row with as many
 * fields. Each rank parses the rows of its byte range (the file cut into equal parts, each cut
 * moved to the next line start).
 * HDF5 (recognised by its signature): one 1-D numeric or text (string, fixed or variable
 * length) dataset per column in the root group, or in the group named after the file as
 * "FILE.h5:/group/path" (gridmr supply's tables), all of the same length; the columns are those
 * named by the group's attribute `columns` (comma-separated) when present, else every such
 * dataset in name order. A text column is read only as the row id (text_col1); asked for as a
 * number it is GMR_ERR_DATA naming the file, group and column; otherwise it is not read. Each rank reads rows
 * [n r / size, n (r + 1) / size) of each column with collective parallel-HDF5 transfers.
 * Either way the rows never gather on one rank, rank r holds rows that come before rank r+1's,
 * and only the columns asked for are read, into a dense row-major matrix in the order asked
 * for. */
#ifndef GMR_IO_TABLE_H
#define GMR_IO_TABLE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"

typedef struct gmr__table {
    const char *path;
    int hdf5;           /* 1: an HDF5 file of columns; 0: CSV */
    int ncols;          /* fields of the header */
    char **names;       /* their names (quotes removed) */
    uint64_t data_off;  /* CSV: byte offset of the first line after the header */
    uint64_t size;      /* CSV: file size; HDF5: rows */
    int width;          /* parsed values per row */
    size_t nrows;       /* this rank's rows */
    double *v;          /* nrows x width */
    uint64_t *line;     /* each row's line number in the file (1-based; the header is line 1);
                           HDF5: its row number, 1-based */
    uint64_t first_row; /* global index of this rank's first row (rows of lower ranks before it) */
    uint64_t total_rows;
    /* Options, set between gmr__table_header and gmr__table_read (both 0 after the header): */
    int text_col1;      /* 1-based header column kept as text, not parsed (an id such as
                           "PrimClass_Everett"); its dest must be -1. 0: none. HDF5: a text
                           column's strings (trailing blanks dropped), or a numeric column's
                           values printed (integers exactly, floating point with %.17g) */
    int empty_nan;      /* 1: an empty field, or NA / NaN / nan, reads as NaN (the caller then
                           treats missing values); 0: such a field is an error */
    char **text;        /* with text_col1: each row's text of that column (trimmed), nrows of them */
    char *kinds;        /* HDF5: per column 'u' / 'i' integer, 'f' floating point, 't' text; CSV: NULL */
} gmr__table;

/* Collective on comm: rank 0 reads the header line (or lists the HDF5 columns) and broadcasts
 * it. GMR_ERR_IO when the file cannot be read, GMR_ERR_DATA when it is empty, its header is not
 * CSV, or its HDF5 columns are missing or of different lengths. */
gmr_err gmr__table_header(MPI_Comm comm, const char *path, gmr__table *t);

/* 1 when column c is an HDF5 text column (only readable as text_col1): callers that take "every
 * other column" as numbers leave it out. Not collective. */
int gmr__table_is_text(const gmr__table *t, int c);

/* Column index of name in the header, or -1. Not collective. */
int gmr__table_column(const gmr__table *t, const char *name);

/* Collective on comm: parse this rank's rows. dest[c] is where header column c goes in a row
 * of width values, or -1 to skip it (it is then not parsed at all). A row with the wrong number
 * of fields, or a parsed field that is empty or not a finite number (unless empty_nan: then an
 * empty or NA/NaN field is NaN), is GMR_ERR_DATA on every
 * rank, reported (once, by the rank that has it) as "path:line: what" ("path: row R: what"
 * for HDF5). Memory: 8 (width + 1) bytes per row plus a 1 MiB window (HDF5: one column of the
 * rank's rows). */
gmr_err gmr__table_read(MPI_Comm comm, gmr__table *t, const int *dest, int width);

/* Where row i of this rank is, for a message: "path:LINE" or "path: row R". Not collective. */
void gmr__table_where(const gmr__table *t, size_t i, char *buf, size_t cap);

void gmr__table_free(gmr__table *t);

#endif
