/* gridmr/err.h: error codes and the call-wrapping macros every gridmr function uses.
 *
 * Every library function returns a gmr_err (0 = success). A failing call records a message
 * (with file, line and, for MPI and HDF5, the library's own text) in a per-thread buffer and
 * propagates the code; the caller that finally handles the error reads it with
 * gmr_err_message(). This mirrors PETSc's PetscCall: errors are values, never exit(). */
#ifndef GRIDMR_ERR_H
#define GRIDMR_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro table: code, name, default message. */
#define GMR_ERR_TABLE(X)                                              \
    X(GMR_OK, 0, "success")                                           \
    X(GMR_ERR_ARG, 1, "invalid argument")                             \
    X(GMR_ERR_NOMEM, 2, "out of memory")                              \
    X(GMR_ERR_IO, 3, "input/output error")                            \
    X(GMR_ERR_MPI, 4, "MPI error")                                    \
    X(GMR_ERR_HDF5, 5, "HDF5 error")                                  \
    X(GMR_ERR_DATA, 6, "bad input data")                              \
    X(GMR_ERR_STATE, 7, "operation not valid in this state")          \
    X(GMR_ERR_INTERNAL, 8, "internal error")                          \
    X(GMR_ERR_INTERRUPTED, 9, "interrupted by a signal")

typedef enum gmr_err_code {
#define GMR_ERR_ENUM_(code, value, msg) code = value,
    GMR_ERR_TABLE(GMR_ERR_ENUM_)
#undef GMR_ERR_ENUM_
} gmr_err_code;

typedef int gmr_err;

/* Name ("GMR_ERR_IO") and default message of a code. Not collective. */
const char *gmr_err_name(gmr_err e);
const char *gmr_strerror(gmr_err e);

/* The message of the most recent error recorded on this thread ("" when none). */
const char *gmr_err_message(void);
/* Forget the recorded message. */
void gmr_err_clear(void);
/* True when the recorded error happened on another rank (this rank only learned of it, and
 * its message says which rank): the front end then leaves the reporting to that rank. */
int gmr_err_is_remote(void);
void gmr__err_mark_remote(void);

/* Record an error (printf-style detail) and return e. Used by the macros below; also usable
 * directly as `return gmr_err_set(...)`. A new error replaces the recorded message; a
 * propagated one (GMR_CALL) appends the caller's location as a traceback line. */
gmr_err gmr__err_set(gmr_err e, const char *file, int line, const char *func, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
gmr_err gmr__err_trace(gmr_err e, const char *file, int line, const char *func);
gmr_err gmr__err_mpi(int mpierr, const char *file, int line, const char *func, const char *call);
gmr_err gmr__err_h5(const char *file, int line, const char *func, const char *call);
/* Put "context: " in front of the recorded message (which file, which object), once. */
void gmr__err_context(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#define GMR_ERROR(e, ...) gmr__err_set((e), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Inside a function with `gmr_err err = GMR_OK;` and an `out:` label. */
#define GMR_CALL(expr)                                                         \
    do {                                                                       \
        gmr_err gmr_call_e_ = (expr);                                          \
        if (gmr_call_e_) {                                                     \
            err = gmr__err_trace(gmr_call_e_, __FILE__, __LINE__, __func__);   \
            goto out;                                                          \
        }                                                                      \
    } while (0)

#define GMR_CHECK(cond, code, ...)                                             \
    do {                                                                       \
        if (!(cond)) {                                                         \
            err = GMR_ERROR((code), __VA_ARGS__);                              \
            goto out;                                                          \
        }                                                                      \
    } while (0)

#define GMR_FAIL(code, ...)                                                    \
    do {                                                                       \
        err = GMR_ERROR((code), __VA_ARGS__);                                  \
        goto out;                                                              \
    } while (0)

/* MPI calls on communicators with MPI_ERRORS_RETURN. */
#define GMR_CALL_MPI(expr)                                                     \
    do {                                                                       \
        int gmr_mpi_e_ = (expr);                                               \
        if (gmr_mpi_e_ != 0) {                                                 \
            err = gmr__err_mpi(gmr_mpi_e_, __FILE__, __LINE__, __func__, #expr); \
            goto out;                                                          \
        }                                                                      \
    } while (0)

/* HDF5 calls: negative herr_t / hid_t is failure; the HDF5 error stack is captured. */
#define GMR_CALL_H5(expr)                                                      \
    do {                                                                       \
        if ((long long)(expr) < 0) {                                           \
            err = gmr__err_h5(__FILE__, __LINE__, __func__, #expr);            \
            goto out;                                                          \
        }                                                                      \
    } while (0)

/* Assign-and-check form for HDF5 constructors: GMR_H5_ID(id, H5Fopen(...)). */
#define GMR_H5_ID(var, expr)                                                   \
    do {                                                                       \
        (var) = (expr);                                                        \
        if ((long long)(var) < 0) {                                            \
            err = gmr__err_h5(__FILE__, __LINE__, __func__, #expr);            \
            goto out;                                                          \
        }                                                                      \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
