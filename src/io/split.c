/* split.c: record-aligned splits of input files.
 *
 * HQ cuts each file at multiples of --split-size and moves every cut forward to the next
 * record start (gmr__split_align), so a split holds whole records and no rank needs its
 * neighbour's bytes. A mapper then streams its split through a window buffer
 * (gmr__split_scan): memory is bounded by the window, a record longer than --max-record is
 * skipped (and reported) instead of loaded, and headquarters gets a chance to answer split
 * requests between windows. A record is a line; a file's last line may lack its '\n'. */
#define _XOPEN_SOURCE 700
#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALIGN_WINDOW 65536

gmr_err gmr__buf_reserve(gmr__buf *b, size_t cap)
{
    gmr_err err = GMR_OK;
    size_t ncap = b->cap ? b->cap : 256;
    char *p;
    if (cap <= b->cap) return GMR_OK;
    while (ncap < cap) ncap *= 2;
    p = realloc(b->data, ncap);
    GMR_CHECK(p, GMR_ERR_NOMEM, "cannot allocate %zu bytes", ncap);
    b->data = p;
    b->cap = ncap;
out:
    return err;
}

void gmr__buf_free(gmr__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

gmr_err gmr__pread_full(int fd, const char *path, void *buf, size_t len, uint64_t off, size_t *got)
{
    gmr_err err = GMR_OK;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR) continue;
        GMR_CHECK(n >= 0, GMR_ERR_IO, "%s: read at offset %llu: %s", path, (unsigned long long)(off + done),
                  strerror(errno));
        if (n == 0) break;
        done += (size_t)n;
    }
    *got = done;
out:
    return err;
}

gmr_err gmr__split_align(int fd, const char *path, uint64_t size, uint64_t b, uint64_t *aligned)
{
    gmr_err err = GMR_OK;
    char win[ALIGN_WINDOW];
    uint64_t pos = b - 1;
    *aligned = size;
    while (pos < size) {
        size_t got = 0;
        const char *nl;
        GMR_CALL(gmr__pread_full(fd, path, win, sizeof win, pos, &got));
        if (got == 0) break;
        nl = memchr(win, '\n', got);
        if (nl) {
            *aligned = pos + (uint64_t)(nl - win) + 1;
            break;
        }
        pos += got;
    }
out:
    return err;
}

gmr_err gmr__split_scan(int fd, const char *path, uint64_t off, uint64_t len, size_t window,
                        uint64_t max_record, gmr__buf *buf, gmr__line_fn fn, void *ctx,
                        gmr__poll_fn poll, void *pctx, uint64_t *nrec)
{
    gmr_err err = GMR_OK;
    uint64_t pos = off, end = off + len, nrecords = 0, base = off;
    size_t carry = 0;  /* bytes of an unfinished record at the front of buf */
    int skipping = 0;  /* inside an overlong record: drop bytes up to its '\n' */

    GMR_CALL(gmr__buf_reserve(buf, window));
    while (pos < end || carry) {
        size_t want = buf->cap - carry, got = 0;
        const char *p, *stop, *nl;
        if (want > end - pos) want = (size_t)(end - pos);
        if (want) GMR_CALL(gmr__pread_full(fd, path, buf->data + carry, want, pos, &got));
        GMR_CHECK(got == want, GMR_ERR_IO, "%s: file shrank while reading (offset %llu)", path,
                  (unsigned long long)(pos + got));
        base = pos - carry; /* file offset of buf->data[0] */
        pos += got;
        p = buf->data;
        stop = buf->data + carry + got;
        while (p < stop && (nl = memchr(p, '\n', (size_t)(stop - p))) != NULL) {
            if (skipping) {
                skipping = 0; /* counted when it was found too long */
            } else {
                size_t n = (size_t)(nl - p);
                uint64_t at = base + (uint64_t)(p - buf->data);
                GMR_CALL(n > max_record ? fn(ctx, NULL, 0, at, 1) : fn(ctx, p, n, at, 0));
                nrecords++;
            }
            p = nl + 1;
        }
        carry = (size_t)(stop - p);
        if (skipping) {
            carry = 0; /* still inside the record that was too long */
        } else if (carry > max_record) {
            GMR_CALL(fn(ctx, NULL, 0, base + (uint64_t)(p - buf->data), 1));
            nrecords++;
            skipping = pos < end;
            carry = 0;
        } else if (pos == end) {
            /* the last record of the range: the file's last line without '\n' */
            if (carry) {
                GMR_CALL(fn(ctx, p, carry, base + (uint64_t)(p - buf->data), 0));
                nrecords++;
            }
            carry = 0;
        } else if (carry == buf->cap) {
            GMR_CALL(gmr__buf_reserve(buf, buf->cap * 2)); /* a long record: room for more */
        } else if (carry) {
            memmove(buf->data, p, carry);
        }
        if (poll) GMR_CALL(poll(pctx));
    }
    *nrec = nrecords;
out:
    return err;
}
