/* blob.c - the unstructured part of a power-marketing data set: meter and site photos (JPEG),
 * signatures (PNG), call recordings (WAV, MP3), contracts and invoices (PDF).
 *
 * Each blob has the real structure of its format up to the point where content would start:
 * signatures, headers and chunk framing that `file`, image viewers' sniffers and a blob reader
 * can check (PNG chunk CRCs are right; the PDF has a valid cross-reference table), followed by
 * pseudo-random payload where pixels, samples or page content would be. A payload does not
 * decode to a picture or a sound; it is there for its size, its hash and its type. Blobs are
 * packed back to back in blobs-NNN.bin; manifest.csv says where each one is, its type, its
 * XXH3-64 hash and its owner. Costs: the payload is written 8 bytes per random draw, PNG adds a
 * CRC-32 pass and every blob an XXH3 pass, both several GB/s or more.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dataset.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static uint32_t crc_table[256];
static int crc_ready;

uint32_t gmr__crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    if (!crc_ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
        crc_ready = 1;
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static unsigned char *be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

static unsigned char *le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
    return p + 4;
}

static unsigned char *put_bytes(unsigned char *p, const void *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* n pseudo-random bytes, byte by byte from each draw so the bytes do not depend on endianness. */
static void fill(gmr__rng *r, unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t u = gmr__rng_next(r);
        for (int k = 0; k < 8; k++) p[i + (size_t)k] = (unsigned char)(u >> (8 * k));
    }
    if (i < n) {
        uint64_t u = gmr__rng_next(r);
        for (; i < n; i++, u >>= 8) p[i] = (unsigned char)u;
    }
}

static const uint16_t widths[] = {640, 1280, 1920, 2592}, heights[] = {480, 720, 1080, 1944};

/* ---- formats -------------------------------------------------------------------------------- */

/* JFIF: SOI, APP0, a quantisation table, a baseline frame header, a scan header, then
 * entropy-coded data without 0xFF bytes (so no marker appears), then EOI. 124 bytes of frame. */
static void jpeg(gmr__rng *r, unsigned char *p, size_t size, unsigned dim)
{
    static const unsigned char app0[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F',
                                         0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00};
    static const unsigned char sos[] = {0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00};
    unsigned char *q = put_bytes(p, app0, sizeof app0);
    q = put_bytes(q, "\xff\xdb\x00\x43\x00", 5);
    for (int i = 0; i < 64; i++) *q++ = (unsigned char)(1 + (i * 7 + i / 8) % 50);
    q = put_bytes(q, "\xff\xc0\x00\x11\x08", 5);
    *q++ = (unsigned char)(heights[dim] >> 8);
    *q++ = (unsigned char)heights[dim];
    *q++ = (unsigned char)(widths[dim] >> 8);
    *q++ = (unsigned char)widths[dim];
    q = put_bytes(q, "\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01", 10);
    q = put_bytes(q, sos, sizeof sos);
    size_t n = size - (size_t)(q - p) - 2;
    fill(r, q, n);
    for (size_t i = 0; i < n; i++)
        if (q[i] == 0xff) q[i] = 0xfe;
    q[n] = 0xff;
    q[n + 1] = 0xd9;
}

/* PNG: signature, IHDR (8-bit RGB), one IDAT holding a zlib header and random bytes, IEND;
 * every chunk CRC is right. 57 bytes of framing. */
static void png(gmr__rng *r, unsigned char *p, size_t size, unsigned dim)
{
    unsigned char *q = put_bytes(p, "\x89PNG\r\n\x1a\n", 8);
    q = be32(q, 13);
    unsigned char *chunk = q;
    q = put_bytes(q, "IHDR", 4);
    q = be32(q, widths[dim] / 2);
    q = be32(q, heights[dim] / 2);
    q = put_bytes(q, "\x08\x02\x00\x00\x00", 5);
    q = be32(q, gmr__crc32(0, chunk, 17));
    uint32_t n = (uint32_t)(size - 57);
    q = be32(q, n);
    chunk = q;
    q = put_bytes(q, "IDAT\x78\x9c", 6);
    fill(r, q, n - 2);
    q += n - 2;
    q = be32(q, gmr__crc32(0, chunk, (size_t)n + 4));
    put_bytes(q, "\x00\x00\x00\x00IEND\xae\x42\x60\x82", 12);
}

/* RIFF/WAVE: 8 kHz, 16-bit mono PCM; 44 bytes of header, then the samples. */
static void wav(gmr__rng *r, unsigned char *p, size_t size)
{
    unsigned char *q = put_bytes(p, "RIFF", 4);
    q = le32(q, (uint32_t)(size - 8));
    q = put_bytes(q, "WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00", 16);
    q = le32(q, 8000);
    q = le32(q, 16000);
    q = put_bytes(q, "\x02\x00\x10\x00" "data", 8);
    q = le32(q, (uint32_t)(size - 44));
    fill(r, q, size - 44);
}

/* MP3: an ID3v2.3 tag (a TIT2 title, then zero padding sized so the frames fill the rest) and
 * MPEG-1 Layer III frames, 32 kbit/s, 44.1 kHz, mono: 104 bytes, a 4-byte header each. */
static void mp3(gmr__rng *r, unsigned char *p, size_t size)
{
    static const char title[] = "\x00" "95598 call recording";
    const size_t frame = 104, tit2 = 10 + sizeof title - 1;
    size_t pad = (size - 10 - tit2) % frame, tag = tit2 + pad;
    unsigned char *q = put_bytes(p, "ID3\x03\x00\x00", 6);
    for (int k = 3; k >= 0; k--) *q++ = (unsigned char)((tag >> (7 * k)) & 0x7f); /* syncsafe */
    q = put_bytes(q, "TIT2", 4);
    q = be32(q, (uint32_t)(sizeof title - 1));
    q = put_bytes(q, "\x00\x00", 2);
    q = put_bytes(q, title, sizeof title - 1);
    memset(q, 0, pad);
    q += pad;
    for (unsigned char *end = p + size; q < end; q += frame) {
        put_bytes(q, "\xff\xfb\x10\xc4", 4);
        fill(r, q + 4, frame - 4);
    }
}

/* PDF 1.4: catalog, pages, one page, a content stream of random bytes, a cross-reference table
 * with the real offsets and a trailer. Numbers are zero-padded to 10 digits, so the framing has
 * a fixed length whatever the size. */
static void pdf(gmr__rng *r, unsigned char *p, size_t size)
{
#define L(s) (sizeof s - 1)
    static const char head[] = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
    static const char *const objs[3] = {
        "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
        "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n",
        "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n",
    };
    static const char obj4[] = "4 0 obj\n<< /Length ", obj4_end[] = " >>\nstream\n";
    static const char stream_end[] = "\nendstream\nendobj\n";
    static const char xref_head[] = "xref\n0 5\n0000000000 65535 f \n", xref_entry[] = " 00000 n \n";
    static const char trailer[] = "trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n", eof[] = "\n%%EOF\n";
    const size_t frame = L(obj4) + 10 + L(obj4_end) + L(stream_end) + L(xref_head) + 4 * (10 + L(xref_entry)) +
                         L(trailer) + 10 + L(eof);
    size_t off[4];
    unsigned char *q = put_bytes(p, head, L(head));
    for (int i = 0; i < 3; i++) {
        off[i] = (size_t)(q - p);
        q = put_bytes(q, objs[i], strlen(objs[i]));
    }
    off[3] = (size_t)(q - p);
    size_t n = size - off[3] - frame;
    q = put_bytes(q, obj4, L(obj4));
    q = (unsigned char *)gmr__put_uint((char *)q, n, 10);
    q = put_bytes(q, obj4_end, L(obj4_end));
    fill(r, q, n);
    q += n;
    q = put_bytes(q, stream_end, L(stream_end));
    size_t xref = (size_t)(q - p);
    q = put_bytes(q, xref_head, L(xref_head));
    for (int i = 0; i < 4; i++) {
        q = (unsigned char *)gmr__put_uint((char *)q, off[i], 10);
        q = put_bytes(q, xref_entry, L(xref_entry));
    }
    q = put_bytes(q, trailer, L(trailer));
    q = (unsigned char *)gmr__put_uint((char *)q, xref, 10);
    put_bytes(q, eof, L(eof));
#undef L
}

/* ---- a blob and its manifest row -------------------------------------------------------------- */

static const uint8_t blob_kinds[] = {GMR_DEFECT_BAD_MAGIC, GMR_DEFECT_HASH_MISMATCH};

gmr_err gmr__gen_blob(const gmr__genplan *p, uint64_t i, unsigned char *buf, gmr__block *b)
{
    gmr_err err = GMR_OK;
    const gmr__blob_info *bi = &p->blobs[i];
    gmr__rng r;
    gmr__customer c;
    gmr__rng_seed(&r, gmr__stream_seed(p->seed, GMR_TAG_BLOB, i));
    gmr__rng_next(&r); /* type and size: the plan drew them */
    gmr__rng_next(&r);
    uint64_t u = gmr__rng_next(&r), v = gmr__rng_next(&r);
    unsigned dim = (unsigned)(v >> 60) % 4;
    const char *purpose;
    switch (bi->type) {
    case GMR_BLOB_JPEG:
        purpose = (v >> 40) & 1 ? "site_photo" : "meter_photo";
        jpeg(&r, buf, bi->size, dim);
        break;
    case GMR_BLOB_PNG:
        purpose = "signature";
        png(&r, buf, bi->size, dim);
        break;
    case GMR_BLOB_WAV:
        purpose = "call_recording";
        wav(&r, buf, bi->size);
        break;
    case GMR_BLOB_MP3:
        purpose = "call_recording";
        mp3(&r, buf, bi->size);
        break;
    default:
        purpose = (v >> 40) & 1 ? "invoice" : "contract";
        pdf(&r, buf, bi->size);
        break;
    }

    /* a bad signature is stored (and hashed) as is; a hash mismatch is damage after hashing */
    int kind = -1;
    if (p->defect_thr) {
        gmr__rng d;
        gmr__rng_seed(&d, gmr__stream_seed(p->seed, GMR_TAG_BLOB_DEFECTS, i));
        uint64_t x = gmr__rng_next(&d);
        if ((x & 0xffffffffu) < p->defect_thr) kind = blob_kinds[gmr__below(x, 2)];
    }
    if (kind == GMR_DEFECT_BAD_MAGIC) memset(buf, 0, 4);
    uint64_t hash = XXH3_64bits(buf, bi->size);
    if (kind == GMR_DEFECT_HASH_MISMATCH) buf[bi->size / 2] ^= 0x5a;
    if (kind >= 0) {
        if (b->ndefects == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 256;
            gmr__defect *nd = realloc(b->defects, cap * sizeof *nd);
            GMR_CHECK(nd, GMR_ERR_NOMEM, "no memory for %zu defects", cap);
            b->defects = nd;
            b->cap = cap;
        }
        b->defects[b->ndefects++] = (gmr__defect){GMR_NFILES + bi->pack, (uint32_t)kind, GMR_NO_LINE, bi->offset};
    }

    gmr__customer_make(p->seed, p->provinces, p->mislabel_thr, gmr__below(u, (uint32_t)p->customers), &c);
    char *q = gmr__obuf_reserve(&b->out[GMR_F_MANIFEST], 512);
    GMR_CHECK(q, GMR_ERR_NOMEM, "no memory for manifest.csv");
    char *start = q;
    *q++ = 'B';
    q = gmr__put_uint(q, i + 1, 9);
    q = gmr__put_str(q, ",blobs-");
    q = gmr__put_uint(q, bi->pack, 3);
    q = gmr__put_str(q, ".bin,");
    q = gmr__put_uint(q, bi->offset, 1);
    *q++ = ',';
    q = gmr__put_uint(q, bi->size, 1);
    *q++ = ',';
    q = gmr__put_str(q, gmr__blob_mimes[bi->type]);
    *q++ = ',';
    q = gmr__put_str(q, purpose);
    *q++ = ',';
    for (int k = 60; k >= 0; k -= 4) *q++ = "0123456789abcdef"[(hash >> k) & 15];
    *q++ = ',';
    q = gmr__put_str(q, c.id);
    *q++ = ',';
    uint64_t sec = gmr__below(v, p->days * 86400u);
    q = gmr__put_stamp(q, p->start + (int64_t)(sec / 86400), (unsigned)(sec % 86400));
    *q++ = '\n';
    b->out[GMR_F_MANIFEST].len += (size_t)(q - start);
    b->lines[GMR_F_MANIFEST]++;
out:
    return err;
}
