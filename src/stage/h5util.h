/* h5util.h: small HDF5 helpers shared by the result, stage, model, vsm and forecast files (private). */
#ifndef GMR_H5UTIL_H
#define GMR_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "gridmr/err.h"

/* Write a string / an array of n values of `type` as an attribute of obj. Collective when obj
 * belongs to a file opened with the MPI-IO driver (every rank passes the same value). */
gmr_err gmr__h5_attr_put_str(hid_t obj, const char *name, const char *value);
gmr_err gmr__h5_attr_put(hid_t obj, const char *name, hid_t type, size_t n, const void *value);
/* Read a string attribute into buf (cap bytes). GMR_ERR_DATA when it is missing, not a string
 * or too long; the HDF5 error stack is cleared either way. */
gmr_err gmr__h5_attr_get_str(hid_t obj, const char *name, char *buf, size_t cap);

/* Creates (truncates) path with the serial driver and stamps the root attributes every gridmr
 * file carries: job, format (when not NULL) and gridmr_version. GMR_ERR_IO names the file when it
 * cannot be created. The caller closes *file. Not collective. */
gmr_err gmr__h5_create_serial(const char *path, const char *job, const char *format, hid_t *file);

/* Select elements [start, start+count) of a 1-D file space and all of the count-long memory
 * space, or nothing in both when count is 0: a rank with no data still joins a collective
 * transfer. Not collective. */
gmr_err gmr__h5_select_range(hid_t fspace, hid_t mspace, uint64_t start, uint64_t count);

#endif
