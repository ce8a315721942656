/* records.c - the text records of a power-marketing data set: a block of customers (their
 * customers, labels, readings and bills rows and their events) and a province (its weather rows
 * and outage events), with the defects asked for by --corrupt-rate.
 *
 * A customer is generated day by day: 96 readings from its class shape and factors, its
 * county's outage (which zeroes the readings it covers), the month's bill when the month ends
 * (the sums of exactly those readings, priced by its tariff), and the day's events, in time
 * order: payments of earlier bills, complaints and work orders. Random streams are per customer
 * (per customer and day for readings), so blocks can be cut anywhere. Defects come from a
 * separate stream: a data set with defects equals the one without them except at the damaged
 * records, and every defect is recorded with its line and offset for corrupt.csv.
 *
 * Costs: the reading loop is one random draw, four multiplications and a short decimal
 * conversion per row; rows are formatted straight into the block's buffer, which is grown only
 * between days (room for a day's rows is reserved up front), so the hot loop has no checks.
 */
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

const char *const gmr__file_names[GMR_NFILES] = {"customers.csv", "labels.csv",   "readings.csv", "bills.csv",
                                                 "weather.csv",   "events.jsonl", "manifest.csv", "corrupt.csv"};

const char *const gmr__defect_names[GMR_NDEFECTS] = {"field_count",    "bad_enum",   "bad_timestamp",
                                                     "bad_number",     "duplicate_key", "truncated_json",
                                                     "bad_magic",      "hash_mismatch"};

/* Room reserved for one row; the longest (a complaint) is under 1 KB. */
#define ROW_ROOM 2048
#define DAY_EVENTS_MAX 1008 /* the plan caps the rate at 1000 a day; payments come on top */

char *gmr__obuf_reserve(gmr__obuf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap - b->len < n) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return NULL;
        b->p = q;
        b->cap = cap;
    }
    return b->p + b->len;
}

void gmr__block_reset(gmr__block *b)
{
    for (int f = 0; f < GMR_NFILES; f++) {
        b->out[f].len = 0;
        b->lines[f] = 0;
    }
    b->ndefects = 0;
}

void gmr__block_free(gmr__block *b)
{
    for (int f = 0; f < GMR_NFILES; f++) free(b->out[f].p);
    free(b->defects);
    memset(b, 0, sizeof *b);
}

/* ---- defects -------------------------------------------------------------------------------- */

typedef struct defects {
    gmr__rng r;
    uint64_t thr;
} defects;

static void defects_init(defects *d, const gmr__genplan *p, uint64_t tag, uint64_t id)
{
    d->thr = p->defect_thr;
    if (d->thr) gmr__rng_seed(&d->r, gmr__stream_seed(p->seed, tag, id));
}

/* Whether the next record is damaged: -1, or its kind from kinds[0..n). *aux gets a draw that
 * picks the details (which token, where to cut). */
static int defect_pick(defects *d, const uint8_t *kinds, unsigned n, uint64_t *aux)
{
    uint64_t u;
    if (!d->thr) return -1;
    u = gmr__rng_next(&d->r);
    if ((u & 0xffffffffu) >= d->thr) return -1;
    *aux = gmr__rng_next(&d->r);
    return kinds[gmr__below(u, n)];
}

static const uint8_t csv_kinds[] = {GMR_DEFECT_FIELD_COUNT, GMR_DEFECT_BAD_ENUM, GMR_DEFECT_BAD_TIMESTAMP,
                                    GMR_DEFECT_BAD_NUMBER, GMR_DEFECT_DUPLICATE_KEY};
static const uint8_t reading_kinds[] = {GMR_DEFECT_FIELD_COUNT, GMR_DEFECT_BAD_TIMESTAMP, GMR_DEFECT_BAD_NUMBER,
                                        GMR_DEFECT_DUPLICATE_KEY};
static const uint8_t json_kinds[] = {GMR_DEFECT_TRUNCATED_JSON, GMR_DEFECT_BAD_ENUM, GMR_DEFECT_BAD_TIMESTAMP,
                                     GMR_DEFECT_DUPLICATE_KEY};

/* Bad values: none is valid in its column, none holds a comma, quote or line break. */
static const char *const bad_stamps[] = {"2026-02-30T12:00:00", "2026-13-01T00:00:00", "2026-01-01T25:00:00",
                                         "2026-01-01T10:61:00", "2026-01-01 08:00",    "01/02/2026 08:00:00",
                                         "0000-00-00T00:00:00", "20260101T080000"};
static const char *const bad_dates[] = {"2019-02-30", "2019-13-01", "19-05-04", "2019/05/04", "0000-00-00"};
static const char *const bad_months[] = {"2026-13", "2026-00", "26-01", "2026/01"};
static const char *const bad_numbers[] = {"NaN", "1.2.3", "abc", "12O", "--", "#VALUE!"};
static const char *const bad_classes[] = {"residental", "unknown", "other", "-"};
static const char *const bad_tariffs[] = {"RES-TIER-X", "UNKNOWN", "TOU"};
static const char *const bad_voltages[] = {"380V", "0.38kV", "?"};
static const char *const bad_provinces[] = {"Atlantis", "Unknown", "Zhejaing"};
static const char *const bad_types[] = {"refund", "unknown", "meter_alarm", "work-order"};

#define N_(a) (sizeof a / sizeof *a)
#define PICK(a, u) (a[(u) % N_(a)])

static gmr_err defect_add(gmr__block *b, uint32_t file, uint32_t kind, uint64_t line, uint64_t offset)
{
    gmr_err err = GMR_OK;
    if (b->ndefects == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        gmr__defect *d = realloc(b->defects, cap * sizeof *d);
        GMR_CHECK(d, GMR_ERR_NOMEM, "no memory for %zu defects", cap);
        b->defects = d;
        b->cap = cap;
    }
    b->defects[b->ndefects++] = (gmr__defect){file, kind, line, offset};
out:
    return err;
}

/* A CSV row was formatted at b->out[f] + len up to end (no line break yet). Applies a
 * FIELD_COUNT or DUPLICATE_KEY defect, records any defect, ends the line and commits it. The
 * last field of every file is unquoted, so the last comma is the last separator. */
static gmr_err csv_finish(gmr__block *b, int f, char *end, int kind, uint64_t aux)
{
    gmr_err err = GMR_OK;
    gmr__obuf *o = &b->out[f];
    char *start = o->p + o->len;
    if (kind == GMR_DEFECT_FIELD_COUNT) {
        if (aux & 1) {
            while (end[-1] != ',') end--;
            end--; /* drop the last field and its comma */
        } else {
            memcpy(end, ",extra", 6);
            end += 6;
        }
    }
    *end++ = '\n';
    if (kind >= 0 && kind != GMR_DEFECT_DUPLICATE_KEY) GMR_CALL(defect_add(b, (uint32_t)f, (uint32_t)kind, b->lines[f], o->len));
    o->len += (size_t)(end - start);
    b->lines[f]++;
    if (kind == GMR_DEFECT_DUPLICATE_KEY) { /* the same row again: the second one is the defect */
        size_t n = (size_t)(end - start);
        char *q = gmr__obuf_reserve(o, n);
        GMR_CHECK(q, GMR_ERR_NOMEM, "no memory for %s", gmr__file_names[f]);
        memcpy(q, o->p + o->len - n, n);
        GMR_CALL(defect_add(b, (uint32_t)f, GMR_DEFECT_DUPLICATE_KEY, b->lines[f], o->len));
        o->len += n;
        b->lines[f]++;
    }
out:
    return err;
}

/* The same for a JSON line: TRUNCATED_JSON cuts it after 1 .. len-1 bytes (never valid: the
 * object is not closed). */
static gmr_err json_finish(gmr__block *b, char *end, int kind, uint64_t aux)
{
    gmr__obuf *o = &b->out[GMR_F_EVENTS];
    if (kind == GMR_DEFECT_TRUNCATED_JSON) {
        size_t len = (size_t)(end - (o->p + o->len));
        end = o->p + o->len + 1 + gmr__below(aux, (uint32_t)(len - 1));
    }
    return csv_finish(b, GMR_F_EVENTS, end, kind, aux);
}

#define RESERVE(q, b, f, n)                                                                   \
    do {                                                                                      \
        (q) = gmr__obuf_reserve(&(b)->out[f], (n));                                            \
        GMR_CHECK((q), GMR_ERR_NOMEM, "no memory for %s", gmr__file_names[f]);                \
    } while (0)

/* ---- customers and labels ------------------------------------------------------------------ */

static gmr_err customer_row(gmr__block *b, const gmr__customer *c, defects *dd)
{
    gmr_err err = GMR_OK;
    char name[128], *q;
    uint64_t aux = 0;
    int kind = defect_pick(dd, csv_kinds, N_(csv_kinds), &aux);
    unsigned col = (unsigned)(aux >> 32) % 4; /* which enum column a BAD_ENUM hits */
    const gmr__province *pv = &gmr__provinces[c->prov];
    gmr__customer_name(c, name, sizeof name);

    RESERVE(q, b, GMR_F_CUSTOMERS, ROW_ROOM);
    q = gmr__put_str(q, c->id);
    *q++ = ',';
    q = gmr__put_csv(q, name);
    *q++ = ',';
    q = gmr__put_str(q, kind == GMR_DEFECT_BAD_ENUM && col == 0 ? PICK(bad_provinces, aux) : pv->name);
    *q++ = ',';
    q = gmr__put_csv(q, pv->city[c->city]);
    *q++ = ',';
    q = gmr__put_uint(q, (uint64_t)pv->code * 10000 + (c->city + 1) * 100 + c->county + 1, 6);
    *q++ = ',';
    q = gmr__put_uint(q, (uint64_t)pv->code * 1000 + 400 + c->city + 1, 5);
    *q++ = ',';
    q = gmr__put_str(q, kind == GMR_DEFECT_BAD_ENUM && col == 1 ? PICK(bad_voltages, aux) : gmr__voltage_names[c->voltage]);
    *q++ = ',';
    q = gmr__put_str(q, kind == GMR_DEFECT_BAD_ENUM && col == 2 ? PICK(bad_classes, aux) : gmr__class_names[c->reg]);
    *q++ = ',';
    q = gmr__put_str(q, kind == GMR_DEFECT_BAD_ENUM && col == 3 ? PICK(bad_tariffs, aux) : gmr__tariff_names[c->tariff]);
    *q++ = ',';
    q = kind == GMR_DEFECT_BAD_TIMESTAMP ? gmr__put_str(q, PICK(bad_dates, aux)) : gmr__put_date(q, c->registered);
    *q++ = ',';
    q = kind == GMR_DEFECT_BAD_NUMBER ? gmr__put_str(q, PICK(bad_numbers, aux)) : gmr__put_uint(q, c->capacity_kva, 1);
    GMR_CALL(csv_finish(b, GMR_F_CUSTOMERS, q, kind, aux));

    RESERVE(q, b, GMR_F_LABELS, ROW_ROOM);
    q = gmr__put_str(q, c->id);
    *q++ = ',';
    q = gmr__put_str(q, gmr__class_names[c->cls]);
    GMR_CALL(csv_finish(b, GMR_F_LABELS, q, -1, 0));
out:
    return err;
}

/* ---- events ------------------------------------------------------------------------------ */

enum { EV_PAYMENT, EV_COMPLAINT, EV_WORK_ORDER };
static const char *const ev_types[] = {"payment", "complaint", "work_order"};

static const char *const pay_channels[] = {"alipay", "wechat_pay", "bank_withhold", "service_hall", "sgcc_app"};
static const char *const categories[] = {"voltage", "outage", "billing", "meter", "service"};
static const char *const channels[] = {"95598_hotline", "online_app", "wechat", "service_hall"};
/* Complaint texts by category: UTF-8, quotes, backslashes and control characters on purpose. */
static const char *const texts[5][3] = {
    {"电压不稳，灯光闪烁", "Voltage drops every evening; the air conditioner stops", "电压偏低，空调无法启动"},
    {"停电超过4小时，冰箱里的食物坏了", "Power cut without notice,\nplease explain", "频繁停电，影响生产"},
    {"本月电费比上月高出一倍", "Bill for last month is \"estimated\", not read", "阶梯电价计算有误？"},
    {"Meter display shows \"Err-07\"", "电表显示乱码：\x01\x02", "Photo saved at C:\\scans\\meter.jpg"},
    {"抄表员未按时抄表\t请核实", "Called 95598 twice \xe2\x80\x93 no one came", "营业厅排队时间太长"},
};
static const char *const tags[] = {"repeat", "urgent", "media_attention", "elderly_customer"};
static const char *const order_kinds[] = {"meter_replacement", "meter_inspection", "line_repair", "capacity_change",
                                          "new_connection"};
static const char *const priorities[] = {"low", "normal", "urgent"};

typedef struct day_event {
    uint32_t sec;  /* second of the day */
    uint8_t type;  /* EV_* */
    uint8_t pay;   /* index into the pending payments for EV_PAYMENT */
} day_event;

typedef struct payment {
    int64_t day;       /* when it is paid */
    uint32_t sec;
    int64_t year;      /* of the bill */
    unsigned month;
    uint64_t fen;
    int late, partial;
    unsigned channel;
} payment;

#define MAX_PENDING 8

typedef struct cust_state {
    const gmr__genplan *p;
    const gmr__customer *c;
    gmr__block *b;
    defects *dd;
    gmr__rng ev;          /* events */
    unsigned seq;         /* events so far, for ids */
    uint64_t register_wh; /* meter register at the start of the day */
    payment pending[MAX_PENDING];
    unsigned npending;
    uint64_t wh[3];       /* the open month: valley, flat, peak */
    unsigned mdays;
    int64_t my;
    unsigned mm;
} cust_state;

/* "z + sec seconds" as a timestamp, sec may pass midnight. */
static char *put_later(char *q, int64_t z, uint64_t sec) { return gmr__put_stamp(q, z + (int64_t)(sec / 86400), (unsigned)(sec % 86400)); }

static char *event_head(char *q, cust_state *s, unsigned type, int64_t z, unsigned sec, int kind, uint64_t aux)
{
    q = gmr__put_str(q, "{\"event_id\":\"EV");
    q = gmr__put_str(q, s->c->id);
    *q++ = '-';
    q = gmr__put_uint(q, ++s->seq, 5);
    q = gmr__put_str(q, "\",\"type\":\"");
    q = gmr__put_str(q, kind == GMR_DEFECT_BAD_ENUM ? PICK(bad_types, aux) : ev_types[type]);
    q = gmr__put_str(q, "\",\"time\":\"");
    q = kind == GMR_DEFECT_BAD_TIMESTAMP ? gmr__put_str(q, PICK(bad_stamps, aux)) : gmr__put_stamp(q, z, sec);
    q = gmr__put_str(q, "\",\"customer_id\":\"");
    q = gmr__put_str(q, s->c->id);
    q = gmr__put_str(q, "\",\"province\":");
    return gmr__put_json(q, gmr__provinces[s->c->prov].name);
}

static char *payment_body(char *q, cust_state *s, const payment *pay)
{
    q = gmr__put_str(q, ",\"payment\":{\"bill_month\":\"");
    q = gmr__put_month(q, pay->year, pay->month);
    q = gmr__put_str(q, "\",\"amount_yuan\":");
    q = gmr__put_fixed(q, (int64_t)(pay->partial ? pay->fen / 2 : pay->fen), 2);
    q = gmr__put_str(q, ",\"channel\":\"");
    q = gmr__put_str(q, pay_channels[pay->channel]);
    q = gmr__put_str(q, pay->late ? "\",\"late\":true" : "\",\"late\":false");
    if (pay->partial) {
        q = gmr__put_str(q, ",\"partial\":true,\"remaining_yuan\":");
        q = gmr__put_fixed(q, (int64_t)(pay->fen - pay->fen / 2), 2);
    }
    q = gmr__put_str(q, "}");
    if (pay->channel == 3) { /* paid at a counter: who took it */
        q = gmr__put_str(q, ",\"operator\":\"T");
        q = gmr__put_uint(q, (uint64_t)gmr__provinces[s->c->prov].code * 1000 + 400 + s->c->city + 1, 5);
        *q++ = '-';
        q = gmr__put_uint(q, 1 + s->seq % 17, 2);
        *q++ = '"';
    }
    return q;
}

static char *complaint_body(char *q, cust_state *s, int64_t z, unsigned sec)
{
    uint64_t u = gmr__rng_next(&s->ev), v = gmr__rng_next(&s->ev);
    unsigned cat = gmr__below(u, 5);
    q = gmr__put_str(q, ",\"complaint\":{\"category\":\"");
    q = gmr__put_str(q, categories[cat]);
    q = gmr__put_str(q, "\",\"channel\":\"");
    q = gmr__put_str(q, channels[(u >> 8) % N_(channels)]);
    q = gmr__put_str(q, "\",\"severity\":");
    q = gmr__put_uint(q, 1 + (u >> 12) % 3, 1);
    q = gmr__put_str(q, ",\"text\":");
    q = gmr__put_json(q, texts[cat][(u >> 16) % 3]);
    *q++ = '}';
    if ((v & 0xff) < 180) { /* 70% resolved, most of them rated */
        q = gmr__put_str(q, ",\"resolution\":{\"status\":\"resolved\",\"closed\":\"");
        q = put_later(q, z, sec + 3600 * (1 + (v >> 8) % 72));
        *q++ = '"';
        if (((v >> 16) & 7) != 0) {
            q = gmr__put_str(q, ",\"satisfaction\":");
            q = gmr__put_uint(q, 1 + (v >> 20) % 5, 1);
        }
        *q++ = '}';
    }
    if (((v >> 24) & 3) == 0) { /* a quarter carry tags */
        unsigned n = 1 + (unsigned)(v >> 28) % 2, t = (unsigned)(v >> 32) % N_(tags);
        q = gmr__put_str(q, ",\"tags\":[");
        for (unsigned i = 0; i < n; i++) {
            if (i) *q++ = ',';
            q = gmr__put_json(q, tags[(t + i) % N_(tags)]);
        }
        *q++ = ']';
    }
    return q;
}

static char *order_body(char *q, cust_state *s, int64_t z, unsigned sec)
{
    uint64_t u = gmr__rng_next(&s->ev);
    unsigned kind = gmr__below(u, N_(order_kinds)), closed = ((u >> 8) & 3) != 0;
    const gmr__province *pv = &gmr__provinces[s->c->prov];
    q = gmr__put_str(q, ",\"order\":{\"kind\":\"");
    q = gmr__put_str(q, order_kinds[kind]);
    q = gmr__put_str(q, "\",\"priority\":\"");
    q = gmr__put_str(q, priorities[(u >> 12) % 3]);
    q = gmr__put_str(q, closed ? "\",\"status\":\"closed\"" : "\",\"status\":\"open\"");
    q = gmr__put_str(q, ",\"crew\":{\"id\":\"W");
    q = gmr__put_uint(q, (uint64_t)pv->code * 1000 + 400 + s->c->city + 1, 5);
    *q++ = '-';
    q = gmr__put_uint(q, 1 + (u >> 16) % 20, 2);
    q = gmr__put_str(q, "\",\"members\":");
    q = gmr__put_uint(q, 2 + (u >> 24) % 4, 1);
    *q++ = '}';
    if (closed) {
        q = gmr__put_str(q, ",\"closed\":\"");
        q = put_later(q, z, sec + 1800 * (1 + (u >> 28) % 96));
        *q++ = '"';
    }
    *q++ = '}';
    if (kind <= 1) { /* meter work reads the register */
        q = gmr__put_str(q, ",\"meter\":{\"asset_id\":\"M");
        q = gmr__put_str(q, s->c->id);
        q = gmr__put_str(q, "\",\"reading_kwh\":");
        q = gmr__put_fixed(q, (int64_t)s->register_wh, 3);
        *q++ = '}';
    }
    return q;
}

static gmr_err day_events(cust_state *s, int64_t z)
{
    gmr_err err = GMR_OK;
    day_event ev[DAY_EVENTS_MAX];
    unsigned n = 0;
    uint64_t rate = s->p->event_rate;
    uint64_t extra = rate / 1000000 + (gmr__below(gmr__rng_next(&s->ev), 1000000) < rate % 1000000);
    for (unsigned i = 0; i < s->npending; i++)
        if (s->pending[i].day == z) ev[n++] = (day_event){s->pending[i].sec, EV_PAYMENT, (uint8_t)i};
    for (uint64_t i = 0; i < extra; i++) {
        uint64_t u = gmr__rng_next(&s->ev);
        ev[n++] = (day_event){gmr__below(u, 86400), (u & 0xfff) < 1638 ? EV_COMPLAINT : EV_WORK_ORDER, 0};
    }
    for (unsigned i = 1; i < n; i++) { /* by time; insertion sort keeps equal times in order */
        day_event e = ev[i];
        unsigned j = i;
        for (; j > 0 && ev[j - 1].sec > e.sec; j--) ev[j] = ev[j - 1];
        ev[j] = e;
    }
    for (unsigned i = 0; i < n; i++) {
        char *q;
        uint64_t aux = 0;
        int kind = defect_pick(s->dd, json_kinds, N_(json_kinds), &aux);
        RESERVE(q, s->b, GMR_F_EVENTS, ROW_ROOM);
        q = event_head(q, s, ev[i].type, z, ev[i].sec, kind, aux);
        if (ev[i].type == EV_PAYMENT)
            q = payment_body(q, s, &s->pending[ev[i].pay]);
        else if (ev[i].type == EV_COMPLAINT)
            q = complaint_body(q, s, z, ev[i].sec);
        else
            q = order_body(q, s, z, ev[i].sec);
        *q++ = '}';
        GMR_CALL(json_finish(s->b, q, kind, aux));
    }
    /* drop the payments made today */
    unsigned k = 0;
    for (unsigned i = 0; i < s->npending; i++)
        if (s->pending[i].day != z) s->pending[k++] = s->pending[i];
    s->npending = k;
out:
    return err;
}

/* ---- bills ---------------------------------------------------------------------------------- */

/* The open month's bill row; its payment is scheduled from the first of the next month: 95%
 * paid, most within 20 days, some late (up to 45 days), 3% only half. */
static gmr_err close_month(cust_state *s)
{
    gmr_err err = GMR_OK;
    const gmr__customer *c = s->c;
    unsigned dim = gmr__days_in_month(s->my, s->mm);
    uint64_t fen = gmr__bill_fen(c->tariff, s->wh, c->capacity_kva, s->mdays, dim);
    uint64_t aux = 0, u;
    int kind = defect_pick(s->dd, reading_kinds, N_(reading_kinds), &aux);
    char *q;

    RESERVE(q, s->b, GMR_F_BILLS, ROW_ROOM);
    q = gmr__put_str(q, c->id);
    *q++ = ',';
    q = kind == GMR_DEFECT_BAD_TIMESTAMP ? gmr__put_str(q, PICK(bad_months, aux)) : gmr__put_month(q, s->my, s->mm);
    *q++ = ',';
    q = gmr__put_uint(q, s->mdays, 1);
    *q++ = ',';
    q = gmr__put_fixed(q, (int64_t)(s->wh[0] + s->wh[1] + s->wh[2]), 3);
    for (int k = 2; k >= 0; k--) { /* peak, flat, valley */
        *q++ = ',';
        q = gmr__put_fixed(q, (int64_t)s->wh[k], 3);
    }
    *q++ = ',';
    q = kind == GMR_DEFECT_BAD_NUMBER ? gmr__put_str(q, PICK(bad_numbers, aux)) : gmr__put_fixed(q, (int64_t)fen, 2);
    GMR_CALL(csv_finish(s->b, GMR_F_BILLS, q, kind, aux));

    u = gmr__rng_next(&s->ev);
    if (gmr__below(u, 1000) < 950 && s->npending < MAX_PENDING) {
        payment *pay = &s->pending[s->npending++];
        unsigned x = (unsigned)(u >> 8) % 1000, delay = x < 850 ? x % 20 : 20 + x % 26;
        pay->day = gmr__days_from_civil(s->mm == 12 ? s->my + 1 : s->my, s->mm == 12 ? 1 : s->mm + 1, 1) + delay;
        pay->sec = 7 * 3600 + (unsigned)((u >> 24) % (16 * 3600));
        pay->year = s->my;
        pay->month = s->mm;
        pay->fen = fen;
        pay->late = delay >= 20;
        pay->partial = (u >> 48) % 100 < 3;
        pay->channel = (unsigned)(u >> 56) % N_(pay_channels);
    }
    s->wh[0] = s->wh[1] = s->wh[2] = 0;
    s->mdays = 0;
out:
    return err;
}

/* ---- readings ------------------------------------------------------------------------------- */

/* A damaged reading row (the hot loop writes the clean ones itself). */
static gmr_err reading_defect(gmr__block *b, const char *pre, const char *hhmm, uint64_t wh, int kind, uint64_t aux)
{
    gmr_err err = GMR_OK;
    char *q;
    RESERVE(q, b, GMR_F_READINGS, ROW_ROOM);
    memcpy(q, pre, 11); /* "customer_id," */
    q += 11;
    if (kind == GMR_DEFECT_BAD_TIMESTAMP) {
        q = gmr__put_str(q, PICK(bad_stamps, aux));
    } else {
        memcpy(q, pre + 11, 11);
        memcpy(q + 11, hhmm, 8);
        q += 19;
    }
    *q++ = ',';
    q = kind == GMR_DEFECT_BAD_NUMBER ? gmr__put_str(q, PICK(bad_numbers, aux)) : gmr__put_fixed(q, (int64_t)wh, 3);
    if (kind != GMR_DEFECT_DUPLICATE_KEY) {
        GMR_CALL(csv_finish(b, GMR_F_READINGS, q, kind, aux));
    } else { /* the meter sends the slot again with another value */
        GMR_CALL(csv_finish(b, GMR_F_READINGS, q, -1, 0));
        GMR_CALL(defect_add(b, GMR_F_READINGS, GMR_DEFECT_DUPLICATE_KEY, b->lines[GMR_F_READINGS],
                            b->out[GMR_F_READINGS].len));
        RESERVE(q, b, GMR_F_READINGS, ROW_ROOM);
        memcpy(q, pre, 22);
        memcpy(q + 22, hhmm, 8);
        q[30] = ',';
        q = gmr__put_fixed(q + 31, (int64_t)(wh + 1 + wh / 2), 3);
        GMR_CALL(csv_finish(b, GMR_F_READINGS, q, -1, 0));
    }
out:
    return err;
}

/* One customer's whole period. */
static gmr_err customer_period(const gmr__genplan *p, const gmr__customer *c, defects *dd, gmr__block *b,
                               const char (*hhmm)[8])
{
    gmr_err err = GMR_OK;
    const gmr__province *pv = &gmr__provinces[c->prov];
    cust_state s;
    char pre[24]; /* "customer_id,YYYY-MM-DDT" */
    memset(&s, 0, sizeof s);
    s.p = p;
    s.c = c;
    s.b = b;
    s.dd = dd;
    gmr__rng_seed(&s.ev, gmr__stream_seed(p->seed, GMR_TAG_EVENTS, c->index));
    s.register_wh = (uint64_t)gmr__below(gmr__rng_next(&s.ev), 50000) * 1000 + gmr__below(gmr__rng_next(&s.ev), 1000);
    memcpy(pre, c->id, 10);
    pre[10] = ',';
    pre[21] = 'T';

    for (uint32_t d = 0; d < p->days; d++) {
        int64_t z = p->start + d, y;
        unsigned m, dom;
        gmr__civil_from_days(z, &y, &m, &dom);
        if (d > 0 && m != s.mm) GMR_CALL(close_month(&s));
        s.my = y;
        s.mm = m;
        s.mdays++;

        /* the day's factors: class, weekday, season, jitter, then temperature hour by hour */
        gmr__rng r;
        gmr__rng_seed(&r, gmr__stream_seed(p->seed, GMR_TAG_READINGS, c->index << 22 | (uint64_t)(z & 0x3fffff)));
        uint64_t u = gmr__rng_next(&r);
        uint64_t dayf = (uint64_t)gmr__day_factor(&p->model, c->cls, z) *
                        (1000 - c->day_jitter + gmr__below(u, 2 * c->day_jitter + 1)) / 1000;
        size_t pd = (size_t)c->prov * p->days + d;
        const int16_t *temp = p->temp + pd * 24;
        uint64_t hf[24];
        for (int h = 0; h < 24; h++)
            hf[h] = c->base_mwh * dayf / 1000 * gmr__temp_factor(c, pv->central_heating, temp[h]) / 1000;
        gmr__outage o;
        unsigned off_first = GMR_SLOTS, off_end = GMR_SLOTS;
        if (gmr__outage_on(p->seed, c->prov, c->city, c->county, z, p->tmax[pd], p->tmin[pd], &o)) {
            off_first = o.first;
            off_end = o.end;
        }
        const uint16_t *shape = p->model.shape[c->cls][gmr__weekday(z) >= 5];
        const unsigned noise = c->noise, spiky = c->cls == GMR_CLASS_RESIDENTIAL || c->cls == GMR_CLASS_EV;
        gmr__put_date(pre + 11, z);

        gmr__obuf *rb = &b->out[GMR_F_READINGS];
        char *q;
        RESERVE(q, b, GMR_F_READINGS, (size_t)GMR_SLOTS * 64);
        uint64_t day_wh = 0;
        for (unsigned sl = 0; sl < GMR_SLOTS; sl++) {
            u = gmr__rng_next(&r);
            /* triangular noise of +-noise per mille from two draws; 1 reading in 1024 of homes
             * and chargers is a spike (a kettle, a fast charge) */
            uint64_t mean = hf[sl >> 2] * shape[sl] / 1000;
            uint64_t tri = gmr__below(u, noise + 1) + gmr__below(u << 32, noise + 1);
            uint64_t mwh = mean * (1000 - noise + tri) / 1000;
            if (spiky && ((u >> 22) & 1023) == 0) mwh *= 3;
            uint64_t wh = sl >= off_first && sl < off_end ? 0 : (mwh + 500) / 1000;
            s.wh[p->model.tou[sl]] += wh;
            day_wh += wh;
            if (dd->thr) {
                uint64_t aux = 0;
                int kind = defect_pick(dd, reading_kinds, N_(reading_kinds), &aux);
                if (kind >= 0) {
                    rb->len = (size_t)(q - rb->p);
                    GMR_CALL(reading_defect(b, pre, hhmm[sl], wh, kind, aux));
                    RESERVE(q, b, GMR_F_READINGS, (size_t)GMR_SLOTS * 64);
                    continue;
                }
            }
            memcpy(q, pre, 22);
            memcpy(q + 22, hhmm[sl], 8);
            q[30] = ',';
            q += 31;
            uint64_t ip = wh / 1000, fp = wh % 1000;
            if (ip < 10)
                *q++ = (char)('0' + ip);
            else
                q = gmr__put_uint(q, ip, 1);
            q[0] = '.';
            q[1] = (char)('0' + fp / 100);
            q[2] = (char)('0' + fp / 10 % 10);
            q[3] = (char)('0' + fp % 10);
            q[4] = '\n';
            q += 5;
            b->lines[GMR_F_READINGS]++;
        }
        rb->len = (size_t)(q - rb->p);

        GMR_CALL(day_events(&s, z));
        s.register_wh += day_wh;
    }
    GMR_CALL(close_month(&s)); /* the last, possibly partial, month */
out:
    return err;
}

gmr_err gmr__gen_customers(const gmr__genplan *p, uint64_t first, uint64_t count, gmr__block *b)
{
    gmr_err err = GMR_OK;
    char hhmm[GMR_SLOTS][8];
    for (unsigned s = 0; s < GMR_SLOTS; s++) {
        char tmp[8], *q = gmr__put_uint(tmp, s / 4, 2);
        *q++ = ':';
        gmr__put_uint(q, s % 4 * 15, 2);
        memcpy(hhmm[s], tmp, 5);
        memcpy(hhmm[s] + 5, ":00", 3);
    }
    for (uint64_t i = first; i < first + count; i++) {
        gmr__customer c;
        defects dd;
        gmr__customer_make(p->seed, p->provinces, p->mislabel_thr, i, &c);
        defects_init(&dd, p, GMR_TAG_DEFECTS, i);
        GMR_CALL(customer_row(b, &c, &dd));
        GMR_CALL(customer_period(p, &c, &dd, b, (const char(*)[8])hhmm));
    }
out:
    return err;
}

/* ---- a province: weather and outages --------------------------------------------------------- */

static gmr_err outage_event(const gmr__genplan *p, unsigned prov, unsigned city, unsigned county, int64_t z,
                            const gmr__outage *o, defects *dd, gmr__block *b)
{
    gmr_err err = GMR_OK;
    const gmr__province *pv = &gmr__provinces[prov];
    uint64_t aux = 0;
    int kind = defect_pick(dd, json_kinds, N_(json_kinds), &aux);
    int64_t y;
    unsigned m, d;
    char *q;
    gmr__civil_from_days(z, &y, &m, &d);
    RESERVE(q, b, GMR_F_EVENTS, ROW_ROOM);
    q = gmr__put_str(q, "{\"event_id\":\"OU");
    q = gmr__put_uint(q, (uint64_t)pv->code * 10000 + (city + 1) * 100 + county + 1, 6);
    *q++ = '-';
    q = gmr__put_uint(q, (uint64_t)y * 10000 + m * 100 + d, 8);
    q = gmr__put_str(q, "\",\"type\":\"");
    q = gmr__put_str(q, kind == GMR_DEFECT_BAD_ENUM ? PICK(bad_types, aux) : "outage");
    q = gmr__put_str(q, "\",\"time\":\"");
    q = kind == GMR_DEFECT_BAD_TIMESTAMP ? gmr__put_str(q, PICK(bad_stamps, aux)) : gmr__put_stamp(q, z, o->first * 900);
    q = gmr__put_str(q, "\",\"province\":");
    q = gmr__put_json(q, pv->name);
    q = gmr__put_str(q, ",\"city\":");
    q = gmr__put_json(q, pv->city[city]);
    q = gmr__put_str(q, ",\"county\":\"");
    q = gmr__put_uint(q, (uint64_t)pv->code * 10000 + (city + 1) * 100 + county + 1, 6);
    q = gmr__put_str(q, "\",\"outage\":{\"start\":\"");
    q = gmr__put_stamp(q, z, o->first * 900);
    q = gmr__put_str(q, "\",\"end\":\"");
    q = put_later(q, z, (uint64_t)o->end * 900);
    q = gmr__put_str(q, "\",\"cause\":\"");
    q = gmr__put_str(q, gmr__cause_names[o->cause]);
    q = gmr__put_str(q, o->cause == GMR_CAUSE_PLANNED ? "\",\"planned\":true" : "\",\"planned\":false");
    q = gmr__put_str(q, ",\"feeders\":[");
    for (unsigned i = 0; i < o->nfeeders; i++) {
        q = gmr__put_str(q, i ? ",\"F" : "\"F");
        q = gmr__put_uint(q, o->feeders[i], 2);
        *q++ = '"';
    }
    q = gmr__put_str(q, "]}");
    if (o->cause == GMR_CAUSE_OVERLOAD || o->cause == GMR_CAUSE_ICING) { /* weather-driven: say how hot or cold */
        q = gmr__put_str(q, ",\"weather\":{\"temperature_c\":");
        q = gmr__put_fixed(q, p->temp[((size_t)prov * p->days + (size_t)(z - p->start)) * 24 + o->first / 4], 1);
        *q++ = '}';
    }
    *q++ = '}';
    GMR_CALL(json_finish(b, q, kind, aux));
out:
    return err;
}

gmr_err gmr__gen_province(const gmr__genplan *p, unsigned prov, gmr__block *b)
{
    gmr_err err = GMR_OK;
    const gmr__province *pv = &gmr__provinces[prov];
    defects dd;
    defects_init(&dd, p, GMR_TAG_WX_DEFECTS, pv->code);
    for (uint32_t d = 0; d < p->days; d++)
        for (unsigned h = 0; h < 24; h++) {
            uint64_t aux = 0;
            int kind = defect_pick(&dd, csv_kinds, N_(csv_kinds), &aux);
            char *q;
            RESERVE(q, b, GMR_F_WEATHER, ROW_ROOM);
            q = gmr__put_str(q, kind == GMR_DEFECT_BAD_ENUM ? PICK(bad_provinces, aux) : pv->name);
            *q++ = ',';
            q = kind == GMR_DEFECT_BAD_TIMESTAMP ? gmr__put_str(q, PICK(bad_stamps, aux))
                                                 : gmr__put_stamp(q, p->start + d, h * 3600);
            *q++ = ',';
            q = kind == GMR_DEFECT_BAD_NUMBER ? gmr__put_str(q, PICK(bad_numbers, aux))
                                              : gmr__put_fixed(q, p->temp[((size_t)prov * p->days + d) * 24 + h], 1);
            GMR_CALL(csv_finish(b, GMR_F_WEATHER, q, kind, aux));
        }
    for (uint32_t d = 0; d < p->days; d++) {
        size_t pd = (size_t)prov * p->days + d;
        for (unsigned c = 0; c < GMR_GEN_CITIES; c++)
            for (unsigned k = 0; k < GMR_GEN_COUNTIES; k++) {
                gmr__outage o;
                if (gmr__outage_on(p->seed, prov, c, k, p->start + d, p->tmax[pd], p->tmin[pd], &o))
                    GMR_CALL(outage_event(p, prov, c, k, p->start + d, &o, &dd, b));
            }
    }
out:
    return err;
}
