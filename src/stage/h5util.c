/* h5util.c: HDF5 helpers shared by the result file (result.c), the stage (stage.c) and the serial
 * files of the LASSO model, the vsm batch and the forecasts: attributes, ranges, file creation. */
#include "h5util.h"
#include "gridmr/mr.h"

#include <string.h>

gmr_err gmr__h5_attr_put_str(hid_t obj, const char *name, const char *value)
{
    gmr_err err = GMR_OK;
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    GMR_H5_ID(type, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(type, strlen(value) + 1));
    GMR_H5_ID(space, H5Screate(H5S_SCALAR));
    if (H5Aexists(obj, name) > 0) GMR_CALL_H5(H5Adelete(obj, name)); /* replaced, never appended */
    GMR_H5_ID(attr, H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
    GMR_CALL_H5(H5Awrite(attr, type, value));
out:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return err;
}

gmr_err gmr__h5_attr_put(hid_t obj, const char *name, hid_t type, size_t n, const void *value)
{
    gmr_err err = GMR_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    hsize_t dims = (hsize_t)n;
    if (n == 1) {
        GMR_H5_ID(space, H5Screate(H5S_SCALAR));
    } else {
        GMR_H5_ID(space, H5Screate_simple(1, &dims, NULL));
    }
    if (H5Aexists(obj, name) > 0) GMR_CALL_H5(H5Adelete(obj, name));
    GMR_H5_ID(attr, H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
    GMR_CALL_H5(H5Awrite(attr, type, value));
out:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return err;
}

gmr_err gmr__h5_attr_get_str(hid_t obj, const char *name, char *buf, size_t cap)
{
    gmr_err err = GMR_OK;
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    size_t size;
    GMR_CHECK(H5Aexists(obj, name) > 0, GMR_ERR_DATA, "attribute %s is missing", name);
    GMR_H5_ID(attr, H5Aopen(obj, name, H5P_DEFAULT));
    GMR_H5_ID(type, H5Aget_type(attr));
    GMR_CHECK(H5Tget_class(type) == H5T_STRING, GMR_ERR_DATA, "attribute %s is not a string", name);
    size = H5Tget_size(type);
    GMR_CHECK(size > 0 && size < cap, GMR_ERR_DATA, "attribute %s is too long", name);
    GMR_H5_ID(mtype, H5Tcopy(H5T_C_S1));
    GMR_CALL_H5(H5Tset_size(mtype, size));
    memset(buf, 0, cap);
    GMR_CALL_H5(H5Aread(attr, mtype, buf));
out:
    if (mtype >= 0) H5Tclose(mtype);
    if (type >= 0) H5Tclose(type);
    if (attr >= 0) H5Aclose(attr);
    H5Eclear2(H5E_DEFAULT);
    return err;
}

gmr_err gmr__h5_select_range(hid_t fspace, hid_t mspace, uint64_t start, uint64_t count)
{
    gmr_err err = GMR_OK;
    hsize_t s = (hsize_t)start, c = (hsize_t)count;
    if (count) {
        GMR_CALL_H5(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &s, NULL, &c, NULL));
    } else {
        GMR_CALL_H5(H5Sselect_none(fspace));
        GMR_CALL_H5(H5Sselect_none(mspace));
    }
out:
    return err;
}

gmr_err gmr__h5_create_serial(const char *path, const char *job, const char *format, hid_t *file)
{
    gmr_err err = GMR_OK;
    hid_t f;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    *file = H5I_INVALID_HID;
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        H5Eclear2(H5E_DEFAULT);
        GMR_FAIL(GMR_ERR_IO, "%s: cannot create the file", path);
    }
    *file = f;
    GMR_CALL(gmr__h5_attr_put_str(f, "job", job));
    if (format) GMR_CALL(gmr__h5_attr_put_str(f, "format", format));
    GMR_CALL(gmr__h5_attr_put_str(f, "gridmr_version", GMR_VERSION_STRING));
out:
    return err;
}
