/* model.c - the tables and pure functions of the power-marketing data model (see model.h).
 *
 * Provinces carry real names, GB/T 2260 codes, populations (which spread the customers) and a
 * climate (annual mean, seasonal and daily swings) from which the hourly temperature is built:
 * mean + seasonal cosine + diurnal cosine + a smooth anomaly (anchors every 4 days and every
 * day, linearly interpolated) + jitter. Customers get a true class (the load they draw), a
 * registered class (what the marketing system says; wrong now and then, as in real ledgers), a
 * tariff, a capacity and a voltage level consistent with their load. A reading is
 * base x class shape (weekday or weekend) x weekday and season factor x temperature response x
 * day jitter x noise, in integer fixed point. Costs: model tables are 10 KB; a customer is about
 * a dozen random draws; a temperature is three hashes.
 */
#include "model.h"

#include <stdio.h>
#include <string.h>

/* ---- randomness ------------------------------------------------------------------------- */

int gmr__gauss1000(uint64_t u)
{
    int64_t s = (int64_t)(u & 0xffff) + (int64_t)((u >> 16) & 0xffff) + (int64_t)((u >> 32) & 0xffff) +
                (int64_t)(u >> 48) - 2 * 65535;
    return (int)(s * 1000 / 37838); /* 37838 = 65536 sqrt(4/12), the sum's standard deviation */
}

/* ---- calendar (H. Hinnant's algorithms) ------------------------------------------------- */

int64_t gmr__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void gmr__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

unsigned gmr__weekday(int64_t z)
{
    int64_t w = (z + 3) % 7; /* 1970-01-01 was a Thursday */
    return (unsigned)(w < 0 ? w + 7 : w);
}

unsigned gmr__days_in_month(int64_t y, unsigned m)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[m - 1] + (m == 2 && leap);
}

unsigned gmr__day_of_year(int64_t z)
{
    int64_t y;
    unsigned m, d;
    gmr__civil_from_days(z, &y, &m, &d);
    return (unsigned)(z - gmr__days_from_civil(y, 1, 1));
}

static int digits(const char *s, int n, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return 0;
}

int gmr__parse_date(const char *s, int64_t *z)
{
    unsigned y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d)) return -1;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > gmr__days_in_month(y, m)) return -1;
    *z = gmr__days_from_civil(y, m, d);
    return 0;
}

/* ---- formatting --------------------------------------------------------------------------- */

char *gmr__put_uint(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < width) tmp[n++] = '0';
    while (n > 0) *p++ = tmp[--n];
    return p;
}

char *gmr__put_fixed(char *p, int64_t v, int decimals)
{
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++) scale *= 10;
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    p = gmr__put_uint(p, (uint64_t)v / scale, 1);
    if (decimals > 0) {
        *p++ = '.';
        p = gmr__put_uint(p, (uint64_t)v % scale, decimals);
    }
    return p;
}

char *gmr__put_date(char *p, int64_t z)
{
    int64_t y;
    unsigned m, d;
    gmr__civil_from_days(z, &y, &m, &d);
    p = gmr__put_uint(p, (uint64_t)y, 4);
    *p++ = '-';
    p = gmr__put_uint(p, m, 2);
    *p++ = '-';
    return gmr__put_uint(p, d, 2);
}

char *gmr__put_month(char *p, int64_t y, unsigned m)
{
    p = gmr__put_uint(p, (uint64_t)y, 4);
    *p++ = '-';
    return gmr__put_uint(p, m, 2);
}

char *gmr__put_stamp(char *p, int64_t z, unsigned second)
{
    p = gmr__put_date(p, z);
    *p++ = 'T';
    p = gmr__put_uint(p, second / 3600, 2);
    *p++ = ':';
    p = gmr__put_uint(p, second / 60 % 60, 2);
    *p++ = ':';
    return gmr__put_uint(p, second % 60, 2);
}

char *gmr__put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

char *gmr__put_csv(char *p, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) return gmr__put_str(p, s);
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"') *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    return p;
}

char *gmr__put_json(char *p, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': *p++ = '\\'; *p++ = '"'; break;
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        case '\t': *p++ = '\\'; *p++ = 't'; break;
        case '\r': *p++ = '\\'; *p++ = 'r'; break;
        default:
            if (*c < 0x20) {
                memcpy(p, "\\u00", 4);
                p[4] = hex[*c >> 4];
                p[5] = hex[*c & 15];
                p += 6;
            } else {
                *p++ = (char)*c;
            }
        }
    }
    *p++ = '"';
    return p;
}

/* ---- geography ------------------------------------------------------------------------------ */

/* Ordered so that a small P already mixes climates (Zhejiang, then cold Heilongjiang, then
 * Sichuan's basin); the first 26 are served by State Grid, the last 5 by China Southern Grid.
 * Climate figures are rounded normals of the capital (0.1 degC). */
const gmr__province gmr__provinces[GMR_GEN_MAX_PROVINCES] = {
    {"Zhejiang", 33, 65, 170, 115, 40, 0, {"Hangzhou", "Ningbo", "Wenzhou"}},
    {"Heilongjiang", 23, 32, 40, 215, 55, 1, {"Harbin", "Qiqihar", "Daqing"}},
    {"Sichuan", 51, 84, 165, 95, 40, 0, {"Chengdu", "Mianyang", "Deyang"}},
    {"Shandong", 37, 102, 140, 135, 50, 1, {"Jinan", "Qingdao", "Yantai"}},
    {"Jiangsu", 32, 85, 155, 125, 40, 0, {"Nanjing", "Suzhou", "Wuxi"}},
    {"Henan", 41, 99, 150, 135, 50, 1, {"Zhengzhou", "Luoyang", "Kaifeng"}},
    {"Xinjiang", 65, 26, 75, 190, 70, 1, {"Urumqi", "Karamay", "Kashgar"}},
    {"Fujian", 35, 42, 200, 85, 40, 0, {"Fuzhou", "Xiamen", "Quanzhou"}},
    {"Beijing", 11, 22, 125, 155, 55, 1, {"Dongcheng", "Haidian", "Chaoyang"}},
    {"Hubei", 42, 58, 170, 125, 40, 0, {"Wuhan", "Yichang", "Xiangyang"}},
    {"Hunan", 43, 66, 175, 120, 40, 0, {"Changsha", "Zhuzhou", "Hengyang"}},
    {"Hebei", 13, 75, 135, 150, 55, 1, {"Shijiazhuang", "Tangshan", "Baoding"}},
    {"Shanghai", 31, 25, 165, 115, 35, 0, {"Pudong", "Minhang", "Jiading"}},
    {"Anhui", 34, 61, 160, 125, 45, 0, {"Hefei", "Wuhu", "Bengbu"}},
    {"Liaoning", 21, 43, 80, 180, 50, 1, {"Shenyang", "Dalian", "Anshan"}},
    {"Shaanxi", 61, 40, 140, 135, 55, 1, {"Xi'an", "Baoji", "Xianyang"}},
    {"Jiangxi", 36, 45, 180, 115, 40, 0, {"Nanchang", "Ganzhou", "Jiujiang"}},
    {"Chongqing", 50, 32, 185, 105, 35, 0, {"Yuzhong", "Wanzhou", "Fuling"}},
    {"Shanxi", 14, 35, 100, 140, 65, 1, {"Taiyuan", "Datong", "Changzhi"}},
    {"Jilin", 22, 24, 55, 195, 50, 1, {"Changchun", "Jilin", "Siping"}},
    {"Gansu", 62, 25, 100, 130, 70, 1, {"Lanzhou", "Tianshui", "Jiuquan"}},
    {"Inner Mongolia", 15, 24, 65, 170, 65, 1, {"Hohhot", "Baotou", "Ordos"}},
    {"Tianjin", 12, 14, 127, 155, 50, 1, {"Heping", "Binhai", "Nankai"}},
    {"Ningxia", 64, 7, 95, 140, 70, 1, {"Yinchuan", "Shizuishan", "Wuzhong"}},
    {"Qinghai", 63, 6, 60, 120, 75, 1, {"Xining", "Haidong", "Golmud"}},
    {"Tibet", 54, 4, 80, 90, 80, 0, {"Lhasa", "Shigatse", "Nyingchi"}},
    {"Guangdong", 44, 126, 220, 70, 35, 0, {"Guangzhou", "Shenzhen", "Foshan"}},
    {"Guangxi", 45, 50, 215, 75, 40, 0, {"Nanning", "Liuzhou", "Guilin"}},
    {"Yunnan", 53, 47, 155, 55, 60, 0, {"Kunming", "Qujing", "Dali"}},
    {"Guizhou", 52, 39, 155, 90, 40, 0, {"Guiyang", "Zunyi", "Anshun"}},
    {"Hainan", 46, 10, 250, 40, 35, 0, {"Haikou", "Sanya", "Danzhou"}},
};

/* ---- customers ------------------------------------------------------------------------------ */

const char *const gmr__class_names[GMR_NCLASSES] = {"residential", "commercial",     "industrial",
                                                    "agricultural", "public_service", "ev_charging"};
const char *const gmr__tariff_names[GMR_NTARIFFS] = {"RES-TIER", "GEN-TOU",  "LI-2PART",
                                                     "AGR",      "GEN-FLAT", "EV-TOU"};
const char *const gmr__voltage_names[5] = {"0.22kV", "0.4kV", "10kV", "35kV", "110kV"};

/* Per class: share of customers (per mille), mean load per 15 minutes (mWh) as lo + (hi-lo) u^2,
 * temperature response (per mille per degC above 24 / below 12 degC), reading noise and day
 * jitter half-widths (per mille). */
static const struct {
    unsigned share;
    uint64_t lo, hi;
    unsigned cool, heat, noise, jitter;
} class_par[GMR_NCLASSES] = {
    {700, 40000, 350000, 45, 25, 300, 120},         /* residential */
    {140, 500000, 8000000, 35, 15, 120, 60},        /* commercial */
    {60, 10000000, 400000000, 8, 4, 100, 80},       /* industrial */
    {50, 200000, 5000000, 20, 0, 200, 150},         /* agricultural: pumps run more when hot */
    {30, 300000, 5000000, 5, 5, 50, 30},            /* public service */
    {20, 2000000, 40000000, 10, 20, 350, 200},      /* EV charging: batteries warm up in the cold */
};

static const unsigned kva_small[] = {4, 6, 8, 10, 12, 16, 20, 25};
static const unsigned kva_large[] = {10,   16,   20,   25,   30,   40,    50,    63,    80,    100,
                                     125,  160,  200,  250,  315,  400,   500,   630,   800,   1000,
                                     1250, 1600, 2000, 2500, 3150, 4000,  5000,  6300,  8000,  10000,
                                     12500, 16000, 20000, 25000, 31500, 40000, 50000, 63000};

/* The class a ledger confuses a customer with: home businesses, rural households, small
 * workshops are where real registrations go wrong. */
static gmr__class confusable(gmr__class c, uint64_t u)
{
    switch (c) {
    case GMR_CLASS_RESIDENTIAL: return GMR_CLASS_COMMERCIAL;
    case GMR_CLASS_COMMERCIAL: return u & 1 ? GMR_CLASS_INDUSTRIAL : GMR_CLASS_RESIDENTIAL;
    case GMR_CLASS_AGRICULTURAL: return GMR_CLASS_RESIDENTIAL;
    default: return GMR_CLASS_COMMERCIAL; /* industrial, public service, EV charging */
    }
}

void gmr__customer_make(uint64_t seed, unsigned provinces, uint32_t mislabel_thr, uint64_t index, gmr__customer *c)
{
    gmr__rng r;
    unsigned total = 0, x;
    uint64_t u;
    memset(c, 0, sizeof *c);
    c->index = index;
    gmr__rng_seed(&r, gmr__stream_seed(seed, GMR_TAG_CUSTOMER, index));

    for (unsigned p = 0; p < provinces; p++) total += gmr__provinces[p].weight;
    x = gmr__below(gmr__rng_next(&r), total);
    while (x >= gmr__provinces[c->prov].weight) x -= gmr__provinces[c->prov++].weight;
    u = gmr__rng_next(&r);
    x = gmr__below(u, 10);
    c->city = x < 5 ? 0 : x < 8 ? 1 : 2; /* the capital has half the customers */
    c->county = (unsigned)(u & 3);

    x = gmr__below(gmr__rng_next(&r), 1000);
    while (x >= class_par[c->cls].share) x -= class_par[c->cls++].share;
    u = gmr__rng_next(&r);
    c->reg = (uint32_t)u < mislabel_thr ? confusable(c->cls, u >> 40) : c->cls;

    uint64_t f = gmr__below(gmr__rng_next(&r), 1u << 16);
    c->base_mwh = class_par[c->cls].lo + (class_par[c->cls].hi - class_par[c->cls].lo) * f * f / (1ull << 32);
    /* peak kW ~ 2.2 x mean kW (shape peak times season), at power factor 0.9 */
    uint64_t kva_need = c->base_mwh * 4 * 22 / 9 / 1000000 + 1;
    if (c->cls == GMR_CLASS_RESIDENTIAL) {
        size_t i = 0;
        while (i + 1 < sizeof kva_small / sizeof *kva_small && kva_small[i] < kva_need) i++;
        c->capacity_kva = kva_small[i];
        c->voltage = c->capacity_kva <= 8 ? 0 : 1;
    } else {
        size_t i = 0;
        while (i + 1 < sizeof kva_large / sizeof *kva_large && kva_large[i] < kva_need) i++;
        c->capacity_kva = kva_large[i];
        c->voltage = c->capacity_kva < 100 ? 1 : c->capacity_kva < 8000 ? 2 : c->capacity_kva < 31500 ? 3 : 4;
    }
    switch (c->reg) {
    case GMR_CLASS_RESIDENTIAL: c->tariff = GMR_TARIFF_RES_TIER; break;
    case GMR_CLASS_INDUSTRIAL: c->tariff = c->capacity_kva >= 315 ? GMR_TARIFF_LI_2PART : GMR_TARIFF_GEN_TOU; break;
    case GMR_CLASS_AGRICULTURAL: c->tariff = GMR_TARIFF_AGR; break;
    case GMR_CLASS_PUBLIC: c->tariff = GMR_TARIFF_GEN_FLAT; break;
    case GMR_CLASS_EV: c->tariff = GMR_TARIFF_EV_TOU; break;
    default: c->tariff = GMR_TARIFF_GEN_TOU; break;
    }

    /* registered between 1995 (EV charging: 2015) and the end of 2024 */
    int64_t lo = gmr__days_from_civil(c->cls == GMR_CLASS_EV ? 2015 : 1995, 1, 1);
    int64_t hi = gmr__days_from_civil(2024, 12, 31);
    c->registered = lo + gmr__below(gmr__rng_next(&r), (uint32_t)(hi - lo + 1));

    u = gmr__rng_next(&r); /* each customer's slopes are 0.5..1.5 times its class's */
    c->cool = class_par[c->cls].cool * (500 + gmr__below(u, 1001)) / 1000;
    c->heat = class_par[c->cls].heat * (500 + (unsigned)((u & 0xffffffffu) % 1001)) / 1000;
    c->noise = class_par[c->cls].noise;
    c->day_jitter = class_par[c->cls].jitter;
    c->name_bits = gmr__rng_next(&r);

    snprintf(c->id, sizeof c->id, "%02u%08llu", gmr__provinces[c->prov].code, (unsigned long long)(index + 1));
}

static const char *const surnames[] = {"Wang", "Li",  "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu",  "Zhou",
                                       "Xu",   "Sun", "Ma",    "Zhu", "Hu",   "Guo",  "He",    "Gao",  "Lin", "Luo"};
static const char *const given[] = {"Wei",  "Fang", "Na",  "Min",  "Jing", "Li",  "Qiang", "Lei", "Jun",     "Yang",
                                    "Yong", "Yan",  "Jie", "Juan", "Tao",  "Ming", "Chao", "Xia", "Xiuying", "Ping"};
static const char *const brands[] = {"Jinxin",   "Huamei", "Xinhua",  "Tianyu",    "Hengda",
                                     "Dongfang", "Baili",  "Hongxing", "Yongsheng", "Ruifeng"};
static const char *const shops[] = {"Supermarket", "Hotel", "Restaurant", "Shopping Mall", "Office Tower", "Cinema"};
static const char *const industries[] = {"Textile", "Steel",     "Cement", "Chemical",       "Electronics",
                                         "Machinery", "Paper", "Glass",  "Food Processing"};

#define PICK(a, bits) (a[(bits) % (sizeof a / sizeof *a)])

void gmr__customer_name(const gmr__customer *c, char *buf, size_t cap)
{
    uint64_t b = c->name_bits;
    const char *city = gmr__provinces[c->prov].city[c->city];
    unsigned n = 1 + (unsigned)(b >> 48) % 40;
    switch (c->reg) {
    case GMR_CLASS_RESIDENTIAL:
        snprintf(buf, cap, "%s %s", PICK(surnames, b), PICK(given, b >> 8));
        break;
    case GMR_CLASS_COMMERCIAL:
        snprintf(buf, cap, "%s %s %s%s", city, PICK(brands, b), PICK(shops, b >> 8),
                 (b >> 16) % 3 == 0 ? " Co., Ltd." : "");
        break;
    case GMR_CLASS_INDUSTRIAL:
        if ((b >> 16) % 8 == 0) /* a quoted brand: "" inside a quoted CSV field */
            snprintf(buf, cap, "%s \"%s\" %s Co., Ltd.", city, PICK(brands, b), PICK(industries, b >> 8));
        else
            snprintf(buf, cap, "%s %s %s Co., Ltd.", city, PICK(brands, b), PICK(industries, b >> 8));
        break;
    case GMR_CLASS_AGRICULTURAL:
        if ((b >> 16) & 1)
            snprintf(buf, cap, "%s Irrigation Station No.%u", city, n);
        else
            snprintf(buf, cap, "%s %s Farm", PICK(surnames, b), PICK(given, b >> 8));
        break;
    case GMR_CLASS_PUBLIC:
        switch ((b >> 16) % 4) {
        case 0: snprintf(buf, cap, "%s Street Lighting Office", city); break;
        case 1: snprintf(buf, cap, "%s Water Supply Plant No.%u", city, n); break;
        case 2: snprintf(buf, cap, "%s No.%u Middle School", city, n); break;
        default: snprintf(buf, cap, "%s People's Hospital", city); break;
        }
        break;
    default:
        snprintf(buf, cap, "%s %s EV Charging Station No.%u", city, PICK(brands, b), n);
        break;
    }
}

/* ---- load ---------------------------------------------------------------------------------- */

/* Hourly shapes (per mille, any scale: normalised to mean 1000), weekday then weekend. */
static const uint16_t hourly[GMR_NCLASSES][2][24] = {
    {/* residential: morning and evening peaks; weekends start later */
     {420, 360, 330, 320, 330, 400, 620, 900, 850, 620, 560, 580, 650, 600, 560, 580, 700, 950, 1450, 1700, 1650, 1400, 1000, 650},
     {480, 400, 350, 330, 330, 360, 450, 650, 880, 950, 900, 900, 950, 880, 820, 820, 900, 1100, 1450, 1650, 1600, 1380, 1000, 700}},
    {/* commercial: open 8-22 */
     {300, 280, 270, 270, 280, 320, 450, 800, 1300, 1600, 1700, 1700, 1650, 1650, 1700, 1700, 1650, 1550, 1450, 1300, 1100, 800, 500, 350},
     {300, 280, 270, 270, 280, 300, 380, 600, 1000, 1350, 1500, 1550, 1550, 1550, 1550, 1550, 1500, 1450, 1400, 1250, 1050, 780, 480, 340}},
    {/* industrial: two shifts with a lunch dip, a night base */
     {650, 640, 630, 630, 640, 700, 850, 1050, 1250, 1300, 1300, 1250, 1050, 1250, 1300, 1300, 1250, 1200, 1150, 1100, 1050, 950, 800, 700},
     {750, 740, 730, 730, 740, 760, 800, 900, 1000, 1050, 1050, 1030, 980, 1030, 1050, 1050, 1020, 980, 940, 900, 860, 820, 790, 760}},
    {/* agricultural: daytime pumping */
     {300, 300, 300, 300, 320, 500, 1000, 1500, 1700, 1700, 1650, 1550, 1500, 1600, 1700, 1700, 1600, 1300, 900, 600, 450, 380, 340, 320},
     {300, 300, 300, 300, 320, 500, 1000, 1500, 1700, 1700, 1650, 1550, 1500, 1600, 1700, 1700, 1600, 1300, 900, 600, 450, 380, 340, 320}},
    {/* public service: street lighting at night, pumps and offices by day */
     {1700, 1700, 1700, 1700, 1650, 1400, 800, 500, 450, 450, 450, 450, 450, 450, 450, 450, 500, 800, 1400, 1700, 1750, 1750, 1750, 1700},
     {1700, 1700, 1700, 1700, 1650, 1400, 800, 500, 420, 420, 420, 420, 420, 420, 420, 420, 480, 800, 1400, 1700, 1750, 1750, 1750, 1700}},
    {/* EV charging: night charging at the valley price, midday and evening top-ups */
     {1500, 1700, 1700, 1650, 1500, 1200, 800, 700, 800, 900, 950, 1000, 1050, 950, 900, 900, 950, 1000, 1050, 1000, 950, 900, 1000, 1300},
     {1300, 1500, 1500, 1450, 1300, 1050, 750, 700, 850, 1050, 1150, 1200, 1200, 1150, 1100, 1100, 1100, 1100, 1100, 1050, 1000, 950, 1000, 1150}},
};

/* Weekday factors (Monday first) and the season's half-swing (per mille) and peak day. */
static const struct {
    uint16_t week[7];
    int season_amp;
    int season_peak;
} day_par[GMR_NCLASSES] = {
    {{980, 980, 980, 980, 1000, 1040, 1040}, 0, 0},
    {{1020, 1020, 1020, 1020, 1030, 950, 940}, 0, 0},
    {{1080, 1080, 1080, 1080, 1060, 820, 800}, 60, 340}, /* year-end production */
    {{1000, 1000, 1000, 1000, 1000, 1000, 1000}, 650, 190}, /* irrigation season */
    {{1000, 1000, 1000, 1000, 1000, 1000, 1000}, 150, 355}, /* long winter nights */
    {{970, 970, 970, 970, 1000, 1060, 1060}, 0, 0},
};

#define DET_PI 3.14159265358979323846

/* cos x for 0 <= x <= pi/2 from its Taylor series, + - * / only (x^42/42! < 1e-44). */
static double det_cos(double x)
{
    double x2 = x * x, term = 1.0, sum = 1.0;
    for (int i = 2; i <= 40; i += 2) {
        term = -term * x2 / ((double)(i - 1) * (double)i);
        sum += term;
    }
    return sum;
}

static int32_t round_to_int(double v) { return v >= 0 ? (int32_t)(v + 0.5) : -(int32_t)(-v + 0.5); }

void gmr__model_init(gmr__model *m)
{
    for (int k = 0; k <= 1024; k++) {
        int32_t c = round_to_int(det_cos(2.0 * DET_PI * k / 4096.0) * 1e6);
        m->cos_tab[k] = c;
        m->cos_tab[(4096 - k) % 4096] = c;
        if (k < 1024) {
            m->cos_tab[2048 - k] = -c;
            m->cos_tab[2048 + k] = -c;
        }
    }
    for (int c = 0; c < GMR_NCLASSES; c++)
        for (int w = 0; w < 2; w++) {
            uint32_t raw[GMR_SLOTS];
            uint64_t sum = 0;
            for (int s = 0; s < GMR_SLOTS; s++) { /* linear between whole hours */
                int h = s / 4, q = s % 4;
                int a = hourly[c][w][h], b = hourly[c][w][(h + 1) % 24];
                raw[s] = (uint32_t)(a + (b - a) * q / 4);
                sum += raw[s];
            }
            for (int s = 0; s < GMR_SLOTS; s++) m->shape[c][w][s] = (uint16_t)(raw[s] * 96000 / sum);
        }
    /* peak 08-11 and 18-23, valley 23-07, flat otherwise */
    for (int s = 0; s < GMR_SLOTS; s++) {
        int h = s / 4;
        m->tou[s] = (h >= 23 || h < 7) ? 0 : ((h >= 8 && h < 11) || (h >= 18 && h < 23)) ? 2 : 1;
    }
}

int32_t gmr__cos6(const gmr__model *m, int64_t num, int64_t den)
{
    int64_t r = num % den;
    if (r < 0) r += den;
    return m->cos_tab[(r * 4096 + den / 2) / den % 4096];
}

unsigned gmr__day_factor(const gmr__model *m, gmr__class cls, int64_t z)
{
    int64_t f = day_par[cls].week[gmr__weekday(z)];
    if (day_par[cls].season_amp) {
        int64_t s = 1000 + (int64_t)day_par[cls].season_amp *
                                gmr__cos6(m, (int64_t)gmr__day_of_year(z) - day_par[cls].season_peak, 365) / 1000000;
        f = f * s / 1000;
    }
    return (unsigned)f;
}

unsigned gmr__temp_factor(const gmr__customer *c, int central_heating, int t10)
{
    unsigned f = 1000;
    if (t10 > 240) f += c->cool * (unsigned)(t10 - 240) / 10;
    if (t10 < 120) f += (central_heating ? c->heat * 3 / 10 : c->heat) * (unsigned)(120 - t10) / 10;
    return f;
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* The anomaly anchor of a stream at point k, 0.1 degC with standard deviation sd. */
static int64_t anchor(uint64_t seed, uint64_t tag, unsigned code, int64_t k, int sd)
{
    return (int64_t)gmr__gauss1000(gmr__stream_seed(seed, tag, (uint64_t)code << 40 ^ (uint64_t)k)) * sd / 1000;
}

int gmr__temperature(const gmr__model *m, uint64_t seed, unsigned prov, int64_t z, unsigned hour)
{
    const gmr__province *p = &gmr__provinces[prov];
    int64_t t = p->t_mean;
    /* coldest around 20 January, warmest in late July; coldest hour 04:00, warmest 16:00 */
    t -= (int64_t)p->t_season * gmr__cos6(m, (int64_t)gmr__day_of_year(z) - 20, 365) / 1000000;
    t -= (int64_t)p->t_diurnal * gmr__cos6(m, (int64_t)hour - 4, 24) / 1000000;
    /* weather systems: anchors every 4 days (sd 3.0 degC) and every day (sd 1.5 degC) */
    int64_t k = floor_div(z, 4), pos = (z - 4 * k) * 24 + hour;
    int64_t a0 = anchor(seed, GMR_TAG_SYNOPTIC, p->code, k, 30), a1 = anchor(seed, GMR_TAG_SYNOPTIC, p->code, k + 1, 30);
    t += a0 + (a1 - a0) * pos / 96;
    int64_t b0 = anchor(seed, GMR_TAG_DAILY, p->code, z, 15), b1 = anchor(seed, GMR_TAG_DAILY, p->code, z + 1, 15);
    t += b0 + (b1 - b0) * (int64_t)hour / 24;
    t += (int64_t)(gmr__stream_seed(seed, GMR_TAG_HOURLY, (uint64_t)p->code << 40 ^ (uint64_t)(z * 24 + hour)) % 7) - 3;
    return (int)t;
}

/* ---- outages ----------------------------------------------------------------------------- */

const char *const gmr__cause_names[GMR_NCAUSES] = {"planned_maintenance", "overload",        "line_icing",
                                                   "equipment_failure",   "storm",           "external_damage",
                                                   "animal_contact"};

/* Chances per county and day, per million: planned work, random faults, and faults brought on
 * by heat (daily maximum >= 35 degC) or frost (minimum <= -15 degC). */
#define OUTAGE_PLANNED_PPM 800
#define OUTAGE_FAULT_PPM 1200
#define OUTAGE_HEAT_PPM 8000
#define OUTAGE_FROST_PPM 6000

int gmr__outage_on(uint64_t seed, unsigned prov, unsigned city, unsigned county, int64_t z, int tmax, int tmin,
                   gmr__outage *o)
{
    uint64_t id = (uint64_t)gmr__provinces[prov].code << 48 | (uint64_t)city << 44 | (uint64_t)county << 40 |
                  (uint64_t)(z & 0xffffffffff);
    gmr__rng r;
    uint32_t heat = tmax >= 350 ? OUTAGE_HEAT_PPM : 0, frost = tmin <= -150 ? OUTAGE_FROST_PPM : 0;
    gmr__rng_seed(&r, gmr__stream_seed(seed, GMR_TAG_OUTAGE, id));
    uint32_t x = gmr__below(gmr__rng_next(&r), 1000000);
    if (x >= OUTAGE_PLANNED_PPM + OUTAGE_FAULT_PPM + heat + frost) return 0;
    uint64_t u = gmr__rng_next(&r);
    unsigned dur;
    if (x < OUTAGE_PLANNED_PPM) { /* announced work: starts 08:00-10:00, lasts 4-8 hours */
        o->cause = GMR_CAUSE_PLANNED;
        o->first = 32 + gmr__below(u, 9);
        dur = 16 + (unsigned)(u % 17);
    } else {
        if (x < OUTAGE_PLANNED_PPM + OUTAGE_FAULT_PPM)
            o->cause = GMR_CAUSE_EQUIPMENT + (unsigned)(u % 4);
        else if (x < OUTAGE_PLANNED_PPM + OUTAGE_FAULT_PPM + heat)
            o->cause = GMR_CAUSE_OVERLOAD;
        else
            o->cause = GMR_CAUSE_ICING;
        o->first = gmr__below(u, GMR_SLOTS);
        dur = 2 + (unsigned)((u >> 8) % 23); /* 30 minutes to 6 hours */
    }
    o->end = o->first + dur > GMR_SLOTS ? GMR_SLOTS : o->first + dur;
    u = gmr__rng_next(&r);
    o->nfeeders = 1 + gmr__below(u, 3);
    for (unsigned i = 0; i < o->nfeeders; i++) o->feeders[i] = 1 + (unsigned)((u % 24) + 7 * i) % 24;
    return 1;
}

/* ---- bills ---------------------------------------------------------------------------------- */

/* Prices in 1e-4 yuan per kWh by period: valley, flat, peak. */
static const uint32_t price[GMR_NTARIFFS][3] = {
    {5380, 5380, 5380},  /* RES-TIER: the first tier; see below */
    {3100, 6420, 10130}, /* GEN-TOU */
    {3000, 6200, 9800},  /* LI-2PART, plus 30 yuan per kVA and month */
    {4900, 4900, 4900},  /* AGR */
    {6500, 6500, 6500},  /* GEN-FLAT */
    {2800, 6000, 9800},  /* EV-TOU */
};

uint64_t gmr__bill_fen(gmr__tariff t, const uint64_t wh[3], unsigned capacity_kva, unsigned days, unsigned month_days)
{
    uint64_t units = 0; /* 1e-7 yuan: Wh x 1e-4 yuan/kWh */
    if (t == GMR_TARIFF_RES_TIER) {
        /* tiers per month: up to 200 kWh at 0.5380, 200-400 at 0.5880, above at 0.8380 */
        uint64_t e = wh[0] + wh[1] + wh[2];
        uint64_t t1 = e < 200000 ? e : 200000, t2 = e < 400000 ? e - t1 : 200000, t3 = e - t1 - t2;
        units = t1 * 5380 + t2 * 5880 + t3 * 8380;
    } else {
        for (int k = 0; k < 3; k++) units += wh[k] * price[t][k];
    }
    uint64_t fen = (units + 50000) / 100000;
    if (t == GMR_TARIFF_LI_2PART) /* 3000 fen per kVA for a whole month, pro rata by day */
        fen += (2 * 3000 * (uint64_t)capacity_kva * days + month_days) / (2 * (uint64_t)month_days);
    return fen;
}
