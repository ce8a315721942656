/* model.h - the power-marketing data model of `gridmr gen --kind power` (private to src/gen/
 * and its tests).
 *
 * Everything here is a pure function of the seed and of an entity's number: a customer's
 * attributes of (seed, customer index, provinces), a reading of (seed, customer, day, slot), a
 * temperature of (seed, province code, day, hour), an outage of (seed, county, day). No state
 * carries from one entity to the next, so any rank can generate any customer, province or blob
 * in any order and the bytes do not depend on how the work is cut (docs/data.md has the model
 * in words). Arithmetic is integer fixed point; the only floating point is the cosine table,
 * built once from + - * / alone (IEEE double gives every machine the same bits; ISO C mode
 * keeps GCC from contracting into FMAs). No rand(), no locale, no libm.
 */
#ifndef GMR_GEN_MODEL_H
#define GMR_GEN_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* ---- randomness: splitmix64 to derive seeds, xoshiro256** for streams --------------------- */

/* splitmix64's output for state x: a stateless 64-bit mixer (a bijection). */
static inline uint64_t gmr__mix64(uint64_t x)
{
    uint64_t z = x + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The seed of one stream: what it is for (a GMR_TAG_*) and which entity (customer index,
 * province code, blob index, ...). Two different (tag, id) pairs give unrelated streams. */
static inline uint64_t gmr__stream_seed(uint64_t seed, uint64_t tag, uint64_t id)
{
    return gmr__mix64(gmr__mix64(seed ^ gmr__mix64(tag)) ^ id);
}

enum {
    GMR_TAG_CUSTOMER = 1, /* attributes of a customer */
    GMR_TAG_READINGS,     /* a customer's readings of one day */
    GMR_TAG_EVENTS,       /* a customer's business events */
    GMR_TAG_DEFECTS,      /* which of a customer's records are damaged (--corrupt-rate) */
    GMR_TAG_SYNOPTIC,     /* multi-day weather anomaly of a province */
    GMR_TAG_DAILY,        /* one day's weather anomaly of a province */
    GMR_TAG_HOURLY,       /* hourly temperature jitter */
    GMR_TAG_OUTAGE,       /* outages of a county */
    GMR_TAG_WX_DEFECTS,   /* damaged weather rows and outage lines of a province */
    GMR_TAG_BLOB,         /* a blob's type, size, owner and bytes */
    GMR_TAG_BLOB_DEFECTS, /* whether a blob is damaged */
};

typedef struct gmr__rng {
    uint64_t s[4];
} gmr__rng;

static inline void gmr__rng_seed(gmr__rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = gmr__mix64(seed + (uint64_t)i * 0x9e3779b97f4a7c15u);
}

static inline uint64_t gmr__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t gmr__rng_next(gmr__rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = gmr__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gmr__rotl(s[3], 45);
    return result;
}

/* A number in [0, n) from the high 32 bits of u (multiply-shift: no division, no modulo bias
 * worth speaking of for n << 2^32). */
static inline uint32_t gmr__below(uint64_t u, uint32_t n) { return (uint32_t)(((u >> 32) * n) >> 32); }

/* Roughly normal, mean 0 and standard deviation 1000, from the four 16-bit parts of u
 * (Irwin-Hall: sum of four uniforms; range about +-3464). */
int gmr__gauss1000(uint64_t u);

/* ---- calendar (proleptic Gregorian, days since 1970-01-01) ---------------------------------- */

int64_t gmr__days_from_civil(int64_t y, unsigned m, unsigned d);
void gmr__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
unsigned gmr__weekday(int64_t z); /* 0 = Monday ... 6 = Sunday */
unsigned gmr__days_in_month(int64_t y, unsigned m);
unsigned gmr__day_of_year(int64_t z); /* 0 = 1 January */
/* Parses "YYYY-MM-DD" (a real date, years 1970..9999); 0 on success, -1 otherwise. */
int gmr__parse_date(const char *s, int64_t *z);

/* ---- formatting: each writes at p and returns the end; callers reserve room ----------------- */

char *gmr__put_uint(char *p, uint64_t v, int width);       /* decimal, zero-padded to width */
char *gmr__put_fixed(char *p, int64_t v, int decimals);    /* v / 10^decimals: "-1.50" */
char *gmr__put_date(char *p, int64_t z);                   /* "YYYY-MM-DD" */
char *gmr__put_month(char *p, int64_t y, unsigned m);      /* "YYYY-MM" */
char *gmr__put_stamp(char *p, int64_t z, unsigned second); /* "YYYY-MM-DDTHH:MM:SS" */
char *gmr__put_str(char *p, const char *s);                /* s as is */
/* s as a CSV field: quoted (with "" for ") when it holds a comma, quote or line break. At most
 * 2 strlen(s) + 2 bytes. */
char *gmr__put_csv(char *p, const char *s);
/* s as a JSON string with its quotes: " \ and control characters escaped (\n \t \r, \u00XX
 * for the others), UTF-8 passed through. At most 6 strlen(s) + 2 bytes. */
char *gmr__put_json(char *p, const char *s);

/* ---- geography ----------------------------------------------------------------------------- */

#define GMR_GEN_MAX_PROVINCES 31 /* mainland China; the first 26 are State Grid's service area */
#define GMR_GEN_CITIES 3         /* cities (prefecture level) per province */
#define GMR_GEN_COUNTIES 4       /* counties (districts) per city */

typedef struct gmr__province {
    const char *name;       /* pinyin, as written in the files */
    unsigned code;          /* GB/T 2260 two-digit code, first digits of customer and county ids */
    unsigned weight;        /* population in millions (2020): how customers spread */
    int t_mean, t_season, t_diurnal; /* 0.1 degC: annual mean, seasonal and daily half-swings */
    int central_heating;    /* north of the Qinling-Huaihe line: less electric heating */
    const char *city[GMR_GEN_CITIES];
} gmr__province;

extern const gmr__province gmr__provinces[GMR_GEN_MAX_PROVINCES];

/* ---- customers ----------------------------------------------------------------------------- */

typedef enum gmr__class {
    GMR_CLASS_RESIDENTIAL,
    GMR_CLASS_COMMERCIAL,
    GMR_CLASS_INDUSTRIAL,
    GMR_CLASS_AGRICULTURAL,
    GMR_CLASS_PUBLIC,
    GMR_CLASS_EV,
    GMR_NCLASSES
} gmr__class;

extern const char *const gmr__class_names[GMR_NCLASSES];

typedef enum gmr__tariff {
    GMR_TARIFF_RES_TIER, /* residential, three monthly tiers */
    GMR_TARIFF_GEN_TOU,  /* general commercial and industrial, time of use */
    GMR_TARIFF_LI_2PART, /* large industry (>= 315 kVA): time of use plus a capacity charge */
    GMR_TARIFF_AGR,      /* agricultural production, flat */
    GMR_TARIFF_GEN_FLAT, /* public service, flat */
    GMR_TARIFF_EV_TOU,   /* EV charging, time of use */
    GMR_NTARIFFS
} gmr__tariff;

extern const char *const gmr__tariff_names[GMR_NTARIFFS];
extern const char *const gmr__voltage_names[5];

typedef struct gmr__customer {
    uint64_t index;         /* 0-based; the serial in the id is index + 1 */
    char id[12];            /* 10 digits: province code, 8-digit serial */
    unsigned prov;          /* index into gmr__provinces */
    unsigned city, county;  /* 0..GMR_GEN_CITIES-1, 0..GMR_GEN_COUNTIES-1 */
    gmr__class cls;         /* true class: drives the load (labels.csv) */
    gmr__class reg;         /* registered class (customers.csv, tariff); differs when mislabelled */
    gmr__tariff tariff;
    unsigned voltage;       /* index into gmr__voltage_names */
    uint64_t base_mwh;      /* mean consumption per 15 minutes, mWh, before all factors */
    unsigned capacity_kva;
    int64_t registered;     /* day number */
    unsigned cool, heat;    /* temperature response, per mille of load per degC */
    unsigned noise;         /* half-width of a reading's noise, per mille */
    unsigned day_jitter;    /* half-width of a day's factor, per mille */
    uint64_t name_bits;     /* picks the name */
} gmr__customer;

/* Customer `index` of a data set with `provinces` provinces. mislabel_thr: a registered class
 * differs from the true one when a 32-bit draw is below it. Not collective; pure. */
void gmr__customer_make(uint64_t seed, unsigned provinces, uint32_t mislabel_thr, uint64_t index, gmr__customer *c);
/* The customer's name, as text (not yet CSV-quoted), into buf (>= 96 bytes). */
void gmr__customer_name(const gmr__customer *c, char *buf, size_t cap);

/* ---- load ------------------------------------------------------------------------------------ */

#define GMR_SLOTS 96 /* 15-minute readings a day */

typedef struct gmr__model {
    int32_t cos_tab[4096];                    /* cos(2 pi k / 4096) x 10^6 */
    uint16_t shape[GMR_NCLASSES][2][GMR_SLOTS]; /* [class][weekend][slot], mean 1000 */
    uint8_t tou[GMR_SLOTS];                   /* 0 valley, 1 flat, 2 peak */
} gmr__model;

/* Fills the tables. Not collective; same bits on every machine. */
void gmr__model_init(gmr__model *m);
/* cos(2 pi num / den) x 10^6 from the table (num may be negative). */
int32_t gmr__cos6(const gmr__model *m, int64_t num, int64_t den);
/* The class's factor for a date, per mille: weekday and season (temperature aside). */
unsigned gmr__day_factor(const gmr__model *m, gmr__class cls, int64_t z);
/* The customer's factor for a temperature (0.1 degC), per mille: 1000 in the comfort band. */
unsigned gmr__temp_factor(const gmr__customer *c, int central_heating, int t10);

/* Temperature in 0.1 degC of province `prov` (index) at hour `hour` of day z. */
int gmr__temperature(const gmr__model *m, uint64_t seed, unsigned prov, int64_t z, unsigned hour);

/* ---- outages ----------------------------------------------------------------------------- */

enum { GMR_CAUSE_PLANNED, GMR_CAUSE_OVERLOAD, GMR_CAUSE_ICING, GMR_CAUSE_EQUIPMENT, GMR_CAUSE_STORM,
       GMR_CAUSE_EXTERNAL, GMR_CAUSE_ANIMAL, GMR_NCAUSES };
extern const char *const gmr__cause_names[GMR_NCAUSES];

typedef struct gmr__outage {
    unsigned first, end;  /* slots [first, end) of the day without supply; end <= 96 */
    unsigned cause;
    unsigned feeders[3];  /* feeder numbers, nfeeders of them */
    unsigned nfeeders;
} gmr__outage;

/* Whether county (prov, city, county) loses supply on day z; tmax and tmin are the day's
 * extremes (0.1 degC), which make unplanned outages likelier. 1 with *o filled, or 0. */
int gmr__outage_on(uint64_t seed, unsigned prov, unsigned city, unsigned county, int64_t z, int tmax, int tmin,
                   gmr__outage *o);

/* ---- bills ------------------------------------------------------------------------------- */

/* Amount in fen (0.01 yuan) of a month's bill: energy in Wh by time-of-use period (valley,
 * flat, peak), the tariff's prices, and for LI-2PART the capacity charge for `days` of the
 * month's `month_days`. Exact integer rules, documented in docs/data.md. */
uint64_t gmr__bill_fen(gmr__tariff t, const uint64_t wh[3], unsigned capacity_kva, unsigned days,
                       unsigned month_days);

#endif /* GMR_GEN_MODEL_H */
