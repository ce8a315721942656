/* plan.c - how big each part of a power-marketing data set is, worked out before any row.
 *
 * --size is split by --mix into structured (customers, readings, bills, weather), semi-structured
 * (events) and unstructured (blobs) budgets. Structured bytes are mostly readings, about
 * 96 x 37 bytes per customer-day, so the budget fixes customers x days; the rule (docs/data.md)
 * first grows customers to GMR_GEN_RULE_CUSTOMERS over a week, then the period up to a year,
 * then customers again. Customers are counted by walking them in order and adding each one's
 * estimated bytes (from its own class and load, so a small data set with one big industrial
 * customer still lands near its budget) until the budget is spent. The event budget sets the
 * daily rate of complaints and work orders once payments and outages are counted. Blobs are
 * drawn one by one until their sizes reach the unstructured budget, the last one cut to fit
 * exactly, and laid out in pack files. Everything is integer arithmetic on pure functions of
 * the options, so every rank computes the same plan. Costs: about 100 operations per customer
 * for the count, 16 bytes per blob, 52 bytes per province-day for the temperature tables.
 */
#include "dataset.h"

#include <stdlib.h>
#include <string.h>

/* Estimates of bytes per record, measured on generated data (docs/data.md, "Sizes"). */
#define EST_READING_ROW 37 /* 10-digit id, timestamp, "0.123" */
#define EST_BILL_ROW 62
#define EST_CUSTOMER_ROW 97
#define EST_PAYMENT 225
#define EST_EVENT 297 /* complaint (310) or work order (287) */
#define EST_OUTAGE 280
#define PAID_PER_MILLE 950 /* bills paid within 10 days or so of their month, on average */

#define MIN_BLOB 1024
#define BLOCK_MIN (UINT64_C(64) << 10)
#define BLOCK_MAX (UINT64_C(8) << 20)

const char *const gmr__blob_mimes[GMR_NBLOB_TYPES] = {"image/jpeg", "image/png", "audio/wav", "audio/mpeg",
                                                      "application/pdf"};

/* Blob types: share per mille and sizes lo + (hi - lo) u^2 in bytes. */
static const struct {
    unsigned share;
    uint32_t lo, hi;
} blob_par[GMR_NBLOB_TYPES] = {
    {350, 20000, 400000}, /* JPEG: meter and site photos */
    {150, 4000, 160000},  /* PNG: signatures */
    {150, 32000, 960000}, /* WAV: call recordings, 8 kHz 16-bit mono, 2..60 s */
    {150, 40000, 480000}, /* MP3: call recordings */
    {200, 16000, 320000}, /* PDF: contracts and invoices */
};

static unsigned ndigits(uint64_t v)
{
    unsigned n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Calendar months the period touches. */
static unsigned months_touched(int64_t start, uint32_t days)
{
    int64_t y0, y1;
    unsigned m0, m1, d;
    gmr__civil_from_days(start, &y0, &m0, &d);
    gmr__civil_from_days(start + days - 1, &y1, &m1, &d);
    return (unsigned)((y1 - y0) * 12 + (int64_t)m1 - (int64_t)m0 + 1);
}

/* Months whose bill is usually paid inside the period (paid about 10 days after month end). */
static unsigned months_paid(int64_t start, uint32_t days)
{
    int64_t y, end = start + days;
    unsigned m, d, n = 0;
    gmr__civil_from_days(start, &y, &m, &d);
    for (;;) {
        int64_t next = gmr__days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
        if (next + 10 >= end) break;
        n++;
        y = m == 12 ? y + 1 : y;
        m = m == 12 ? 1 : m + 1;
    }
    return n;
}

uint64_t gmr__genplan_customer_bytes(const gmr__genplan *p, const gmr__customer *c)
{
    uint64_t day = 0;
    const uint16_t *shape = p->model.shape[c->cls][0];
    for (int s = 0; s < GMR_SLOTS; s++) /* the integer part's digits set a row's length */
        day += EST_READING_ROW - 1 + ndigits(c->base_mwh * shape[s] / 1000000000);
    return day * p->days + months_touched(p->start, p->days) * EST_BILL_ROW + EST_CUSTOMER_ROW;
}

static gmr_err temperatures(gmr__genplan *p)
{
    gmr_err err = GMR_OK;
    size_t pd = (size_t)p->provinces * p->days;
    p->temp = malloc(pd * 24 * sizeof *p->temp);
    p->tmax = malloc(pd * sizeof *p->tmax);
    p->tmin = malloc(pd * sizeof *p->tmin);
    GMR_CHECK(p->temp && p->tmax && p->tmin, GMR_ERR_NOMEM, "no memory for %zu province-days of weather", pd);
    for (unsigned prov = 0; prov < p->provinces; prov++)
        for (uint32_t d = 0; d < p->days; d++) {
            size_t i = (size_t)prov * p->days + d;
            int hi = -10000, lo = 10000;
            for (unsigned h = 0; h < 24; h++) {
                int t = gmr__temperature(&p->model, p->seed, prov, p->start + d, h);
                p->temp[i * 24 + h] = (int16_t)t;
                hi = t > hi ? t : hi;
                lo = t < lo ? t : lo;
            }
            p->tmax[i] = (int16_t)hi;
            p->tmin[i] = (int16_t)lo;
        }
out:
    return err;
}

/* Exact bytes of weather.csv without its header: "Province,YYYY-MM-DDTHH:MM:SS,-1.5\n". */
static uint64_t weather_bytes(const gmr__genplan *p)
{
    uint64_t n = 0;
    for (unsigned prov = 0; prov < p->provinces; prov++) {
        uint64_t fixed = strlen(gmr__provinces[prov].name) + 1 + 19 + 1 + 2 + 1;
        for (size_t i = 0; i < (size_t)p->days * 24; i++) {
            int t = p->temp[(size_t)prov * p->days * 24 + i];
            n += fixed + (t < 0) + ndigits((uint64_t)(t < 0 ? -t : t) / 10);
        }
    }
    return n;
}

static uint64_t outages(const gmr__genplan *p)
{
    uint64_t n = 0;
    gmr__outage o;
    for (unsigned prov = 0; prov < p->provinces; prov++)
        for (uint32_t d = 0; d < p->days; d++) {
            size_t i = (size_t)prov * p->days + d;
            for (unsigned c = 0; c < GMR_GEN_CITIES; c++)
                for (unsigned k = 0; k < GMR_GEN_COUNTIES; k++)
                    n += (uint64_t)gmr__outage_on(p->seed, prov, c, k, p->start + d, p->tmax[i], p->tmin[i], &o);
        }
    return n;
}

/* Draws blobs until their sizes reach the budget, cuts the last to fit, lays out packs and
 * blocks. A budget under MIN_BLOB gives no blobs. */
static gmr_err blobs(gmr__genplan *p, uint64_t pack_limit, uint64_t block)
{
    gmr_err err = GMR_OK;
    uint64_t budget = p->budget[2], total = 0, cap = 0;
    while (total < budget && budget >= MIN_BLOB) {
        gmr__rng r;
        gmr__rng_seed(&r, gmr__stream_seed(p->seed, GMR_TAG_BLOB, p->nblobs));
        unsigned x = gmr__below(gmr__rng_next(&r), 1000), t = 0;
        while (x >= blob_par[t].share) x -= blob_par[t++].share;
        uint64_t f = gmr__below(gmr__rng_next(&r), 1u << 16);
        uint64_t size = blob_par[t].lo + (blob_par[t].hi - blob_par[t].lo) * f * f / (1ull << 32);
        if (p->nblobs == cap) {
            gmr__blob_info *nb;
            cap = cap ? 2 * cap : 1024;
            nb = realloc(p->blobs, cap * sizeof *nb);
            GMR_CHECK(nb, GMR_ERR_NOMEM, "no memory for %llu blobs", (unsigned long long)cap);
            p->blobs = nb;
        }
        if (total + size > budget) { /* the last blob: cut it to fit, or give the rest to the one before */
            uint64_t rest = budget - total;
            if (rest >= MIN_BLOB || p->nblobs == 0) {
                size = rest;
            } else {
                p->blobs[p->nblobs - 1].size += (uint32_t)rest;
                total += rest;
                break;
            }
        }
        p->blobs[p->nblobs].size = (uint32_t)size;
        p->blobs[p->nblobs].type = (uint8_t)t;
        p->nblobs++;
        total += size;
    }

    /* packs: consecutive blobs, a new pack when the next blob would pass the limit */
    p->pack_first = malloc((p->nblobs + 1) * sizeof *p->pack_first);
    p->pack_bytes = malloc((p->nblobs + 1) * sizeof *p->pack_bytes);
    p->blob_block_first = malloc((p->nblobs + 1) * sizeof *p->blob_block_first);
    GMR_CHECK(p->pack_first && p->pack_bytes && p->blob_block_first, GMR_ERR_NOMEM, "no memory for the blob layout");
    uint64_t in_pack = 0, in_block = 0;
    for (uint64_t i = 0; i < p->nblobs; i++) {
        gmr__blob_info *b = &p->blobs[i];
        if (p->npacks == 0 || (in_pack > 0 && in_pack + b->size > pack_limit)) {
            if (p->npacks > 0) p->pack_bytes[p->npacks - 1] = in_pack;
            p->pack_first[p->npacks++] = i;
            in_pack = 0;
            in_block = 0;
        }
        if (in_block == 0) p->blob_block_first[p->nblob_blocks++] = i;
        b->pack = p->npacks - 1;
        b->offset = in_pack;
        in_pack += b->size;
        in_block += b->size;
        if (in_block >= block) in_block = 0;
        if (b->size > p->max_blob) p->max_blob = b->size;
    }
    if (p->npacks > 0) p->pack_bytes[p->npacks - 1] = in_pack;
    p->pack_first[p->npacks] = p->nblobs;
    p->blob_block_first[p->nblob_blocks] = p->nblobs;
out:
    return err;
}

gmr_err gmr__genplan_create(const gmr__power_opts *o, gmr__genplan **plan)
{
    gmr_err err = GMR_OK;
    gmr__genplan *p = NULL;
    unsigned msum = o->mix[0] + o->mix[1] + o->mix[2];
    GMR_CHECK(msum > 0 && o->size <= GMR_GEN_MAX_SIZE, GMR_ERR_ARG, "bad --mix or --size");
    GMR_CHECK(o->provinces >= 1 && o->provinces <= GMR_GEN_MAX_PROVINCES, GMR_ERR_ARG, "bad --provinces %u",
              o->provinces);
    p = calloc(1, sizeof *p);
    GMR_CHECK(p, GMR_ERR_NOMEM, "no memory for the plan");
    gmr__model_init(&p->model);
    p->seed = o->seed;
    p->provinces = o->provinces;
    p->start = o->start;
    /* 2^32 x ppb / 10^9 in 64 bits: rate 1 gives 2^32, above every 32-bit draw */
    p->defect_thr = ((uint64_t)o->corrupt_ppb << 32) / 1000000000u;
    p->mislabel_thr = (uint32_t)((((uint64_t)o->mislabel_ppb << 32) / 1000000000u) > UINT32_MAX
                                     ? UINT32_MAX
                                     : ((uint64_t)o->mislabel_ppb << 32) / 1000000000u);
    for (int k = 0; k < 3; k++) p->budget[k] = o->size / msum * o->mix[k] + o->size % msum * o->mix[k] / msum;
    uint64_t s = p->budget[0];

    /* the period */
    const uint64_t customer_day = (uint64_t)GMR_SLOTS * EST_READING_ROW;
    if (o->days) {
        p->days = o->days;
    } else {
        uint64_t d = o->customers ? s / (o->customers * customer_day) : s / (GMR_GEN_RULE_CUSTOMERS * customer_day);
        uint64_t lo = o->customers ? 1 : GMR_GEN_MIN_DAYS;
        p->days = (uint32_t)(d < lo ? lo : d > GMR_GEN_MAX_AUTO_DAYS ? GMR_GEN_MAX_AUTO_DAYS : d);
    }
    GMR_CALL(temperatures(p));

    /* customers: walk them until the structured budget left after weather is spent */
    uint64_t wx = weather_bytes(p), room = s > wx ? s - wx : 0, spent = 0, sampled = 0;
    if (o->customers) {
        p->customers = o->customers;
        for (uint64_t i = 0; i < p->customers && i < 1000; i++, sampled++) {
            gmr__customer c;
            gmr__customer_make(p->seed, p->provinces, p->mislabel_thr, i, &c);
            spent += gmr__genplan_customer_bytes(p, &c);
        }
    } else {
        for (;;) {
            gmr__customer c;
            gmr__customer_make(p->seed, p->provinces, p->mislabel_thr, p->customers, &c);
            uint64_t b = gmr__genplan_customer_bytes(p, &c);
            if (p->customers > 0 && (spent + b > room || p->customers == GMR_GEN_MAX_CUSTOMERS)) break;
            spent += b;
            p->customers++;
        }
        sampled = p->customers;
    }
    uint64_t block = o->block ? o->block : s / 64 < BLOCK_MIN ? BLOCK_MIN : s / 64 > BLOCK_MAX ? BLOCK_MAX : s / 64;
    p->cust_per_block = block / (spent / sampled + 1);
    if (p->cust_per_block == 0) p->cust_per_block = 1;

    /* events: payments and outages first, complaints and work orders fill the rest */
    uint64_t pay = p->customers * months_paid(p->start, p->days) * EST_PAYMENT * PAID_PER_MILLE / 1000;
    uint64_t out_bytes = outages(p) * EST_OUTAGE, cd = p->customers * p->days;
    uint64_t avail = p->budget[1] > pay + out_bytes ? p->budget[1] - pay - out_bytes : 0;
    p->event_rate = avail / EST_EVENT * 1000000 / cd;
    if (p->event_rate > 1000000000) p->event_rate = 1000000000; /* 1000 a customer-day at most */

    GMR_CALL(blobs(p, o->pack, block));
    *plan = p;
    p = NULL;
out:
    gmr__genplan_destroy(&p);
    return err;
}

void gmr__genplan_destroy(gmr__genplan **plan)
{
    gmr__genplan *p;
    if (!plan || !*plan) return;
    p = *plan;
    free(p->temp);
    free(p->tmax);
    free(p->tmin);
    free(p->blobs);
    free(p->pack_first);
    free(p->pack_bytes);
    free(p->blob_block_first);
    free(p);
    *plan = NULL;
}
