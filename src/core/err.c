/* err.c: error codes, messages and tracebacks.
 *
 * A failure is recorded once where it happens (GMR_ERROR, or the MPI/HDF5 wrappers that add
 * the library's own text) and each GMR_CALL on the way up appends its location, so the final
 * message reads like a short traceback. The buffer is per thread and bounded: a message that
 * does not fit is cut, never overflows. */
#include "gridmr/err.h"
#include "agree.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_CAP 4096

static _Thread_local char err_msg[ERR_MSG_CAP];
static _Thread_local size_t err_len;
static _Thread_local int err_remote;

const char *gmr_err_name(gmr_err e)
{
    switch (e) {
#define GMR_ERR_NAME_(code, value, msg) case value: return #code;
        GMR_ERR_TABLE(GMR_ERR_NAME_)
#undef GMR_ERR_NAME_
    default: return "GMR_ERR_UNKNOWN";
    }
}

const char *gmr_strerror(gmr_err e)
{
    switch (e) {
#define GMR_ERR_MSG_(code, value, msg) case value: return msg;
        GMR_ERR_TABLE(GMR_ERR_MSG_)
#undef GMR_ERR_MSG_
    default: return "unknown error";
    }
}

const char *gmr_err_message(void) { return err_msg; }

void gmr_err_clear(void)
{
    err_msg[0] = '\0';
    err_len = 0;
    err_remote = 0;
}

int gmr_err_is_remote(void) { return err_remote; }
void gmr__err_mark_remote(void) { err_remote = 1; }

static void err_append(const char *fmt, va_list ap)
{
    if (err_len >= ERR_MSG_CAP - 1) return;
    int n = vsnprintf(err_msg + err_len, ERR_MSG_CAP - err_len, fmt, ap);
    if (n < 0) return;
    err_len += (size_t)n;
    if (err_len > ERR_MSG_CAP - 1) err_len = ERR_MSG_CAP - 1;
}

static void err_appendf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_append(fmt, ap);
    va_end(ap);
}

gmr_err gmr__err_set(gmr_err e, const char *file, int line, const char *func, const char *fmt, ...)
{
    va_list ap;
    gmr_err_clear();
    va_start(ap, fmt);
    err_append(fmt, ap);
    va_end(ap);
    err_appendf("\n    at %s (%s:%d)", func, file, line);
    return e;
}

gmr_err gmr__err_trace(gmr_err e, const char *file, int line, const char *func)
{
    if (err_len == 0) err_appendf("%s", gmr_strerror(e));
    err_appendf("\n    at %s (%s:%d)", func, file, line);
    return e;
}

gmr_err gmr__err_mpi(int mpierr, const char *file, int line, const char *func, const char *call)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(mpierr, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", mpierr);
    return gmr__err_set(GMR_ERR_MPI, file, line, func, "MPI: %s: %s", call, text);
}

/* Collect the innermost descriptions of the HDF5 error stack (the most specific come last). */
static herr_t h5_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    size_t len = strlen(buf);
    if (n < 3 && len < 400) snprintf(buf + len, 512 - len, "%s%s", len ? "; " : "", e->desc ? e->desc : "?");
    return 0;
}

gmr_err gmr__err_h5(const char *file, int line, const char *func, const char *call)
{
    char stack[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk, stack);
    H5Eclear2(H5E_DEFAULT);
    return gmr__err_set(GMR_ERR_HDF5, file, line, func, "HDF5: %s failed%s%s", call, stack[0] ? ": " : "", stack);
}

void gmr__err_context(const char *fmt, ...)
{
    char pre[512];
    size_t n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre - 2, fmt, ap);
    va_end(ap);
    strcat(pre, ": ");
    n = strlen(pre);
    if (strncmp(err_msg, pre, n) == 0) return; /* said already, by an inner call */
    if (err_len + n >= ERR_MSG_CAP) err_len = ERR_MSG_CAP - 1 - n;
    memmove(err_msg + n, err_msg, err_len + 1);
    memcpy(err_msg, pre, n);
    err_len += n;
    err_msg[err_len] = '\0';
}

/* ---- agreement across ranks (agree.h) ----------------------------------------------------- */

gmr_err gmr__agree(MPI_Comm comm, gmr_err local)
{
    gmr_err err = GMR_OK;
    int in[2], res[2], rank;
    char why[512];
    GMR_CALL_MPI(MPI_Comm_rank(comm, &rank));
    in[0] = local;
    in[1] = rank; /* MAXLOC keeps the lowest rank among equal codes */
    GMR_CALL_MPI(MPI_Allreduce(in, res, 1, MPI_2INT, MPI_MAXLOC, comm));
    if (res[0] == GMR_OK) return GMR_OK;
    /* the reporting rank's reason, first line, goes to everyone (only on failure) */
    if (rank == res[1]) snprintf(why, sizeof why, "%.*s", (int)strcspn(gmr_err_message(), "\n"), gmr_err_message());
    GMR_CALL_MPI(MPI_Bcast(why, sizeof why, MPI_CHAR, res[1], comm));
    if (local != GMR_OK) {
        /* several ranks failed: the lowest with the worst code reports, the others keep quiet;
         * all return the worst code so every rank exits alike */
        if (res[1] != rank) gmr__err_mark_remote();
        return res[0];
    }
    err = GMR_ERROR(res[0], "failed on rank %d: %s", res[1], why);
    gmr__err_mark_remote();
    return err;
out:
    return err;
}
