/*
 * gen.c - `gridmr gen`: deterministic synthetic input data.
 *
 * `make demo`, the tests and the benchmarks need inputs of a chosen size that are the same bytes
 * on every machine, so expected outputs can be kept beside the tests and timings compared across
 * hosts. Two kinds are produced:
 *
 *   text   Zipf-distributed words over a synthetic vocabulary, 8..16 words a line separated by
 *          single spaces (now and then a tab or a double space), each line ending in \n. Input
 *          for word count. With the defaults, 200 MiB holds about 27 million words of which
 *          about 790 thousand are distinct (see GEN_DEFAULT_ZIPF and word_length()).
 *   meter  CSV smart-meter readings `customer_id,province,timestamp,kwh,voltage`, one row per
 *          customer per 15-minute round, a daily load shape plus noise; one province name is
 *          RFC 4180 quoted because it contains a comma, to exercise the CSV reader.
 *
 * Size: lines are written until at least --size bytes are out, so the file ends right after
 * the first line end at or past SIZE (never more than one line past it; SIZE 0 gives an empty
 * file). The stream does not depend on SIZE, so a smaller file is a prefix of a larger one.
 *
 * Determinism: all randomness comes from xoshiro256** seeded through splitmix64; no rand(), no
 * locale, no libm. The Zipf weights r^-s are computed once per vocabulary word with a log and an
 * exp written in + - * / only, which IEEE double evaluates to the same bits everywhere (ISO C
 * mode, -std=c11, keeps GCC from contracting them into FMAs); the weights are then quantised to
 * integers and sampled through an integer alias table (Walker/Vose), O(1) per word. Meter values
 * are integer fixed point. Costs: 24 bytes of memory per vocabulary word (16 for the word, 8 for
 * its alias entry) and up to two cache misses per generated word, which dominate: 200 MiB of
 * text takes 2-3 s on a 2-core VM (0.3 s of it building the default vocabulary), meter 0.5 s.
 */
#define _POSIX_C_SOURCE 200809L

#include "gen.h"
#include "opts.h"
#include "../gen/model.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Defaults and limits, in one place; `gridmr gen --help` prints them. */
#define GEN_DEFAULT_SEED      1u
#define GEN_DEFAULT_VOCAB     1000000u
#define GEN_DEFAULT_ZIPF      1.115 /* tuned: 200 MiB -> ~27 M words, ~790 K distinct */
#define GEN_DEFAULT_CUSTOMERS 10000u
#define GEN_MAX_VOCAB         (1u << 24) /* 384 MiB of tables; 26^6 > 2^24 keeps words unique */
#define GEN_MAX_ZIPF          4.0
#define GEN_MAX_CUSTOMERS     1000000000u

/* Output buffering: lines are formatted into the buffer and written with one fwrite per ~1 MiB.
 * The slack exceeds the longest line (text: 16 * 14 + 16 bytes; meter: under 100 bytes) plus the
 * 16-byte word copies, so a line never needs a bounds check while it is being formatted. */
#define GEN_BUF_SIZE  (1u << 20)
#define GEN_BUF_SLACK 1024u

/* Word lengths 2..14; a word's slot is 16 bytes: letters, padding, length in the last byte. */
#define WORD_MIN  2
#define WORD_MAX  14
#define WORD_SLOT 16

typedef enum { KIND_NONE, KIND_TEXT, KIND_METER } gen_kind;

typedef struct {
  gen_kind kind;
  uint64_t size;
  uint64_t seed;
  const char *out;
  uint32_t vocab;
  double zipf;
  uint32_t customers;
} gen_opts;

/* ---------------------------------------------------------------------------------------------
 * Randomness: splitmix64 for seeding and stateless hashing, xoshiro256** for streams. */

static uint64_t splitmix64(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint64_t hash64(uint64_t x)
{
  return splitmix64(&x);
}

/* xoshiro256** state and step: the generator library's (src/gen/model.h); seeded below */
typedef gmr__rng rng;
#define rng_next gmr__rng_next

static void rng_seed(rng *r, uint64_t seed)
{
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

/* ---------------------------------------------------------------------------------------------
 * Deterministic r^-s. Only + - * / on doubles, a fixed number of terms, powers of two built
 * exactly, so every IEEE machine gets the same bits (libm's pow is not required to). */

#define DET_LN2   0.69314718055994530942
#define DET_SQRT2 1.41421356237309504880

/* 2^e, exact for |e| < 1000. */
static double det_pow2(int e)
{
  double p = 1.0, b = e < 0 ? 0.5 : 2.0;
  unsigned n = (unsigned)(e < 0 ? -e : e);
  while (n) {
    if (n & 1u)
      p *= b;
    b *= b;
    n >>= 1;
  }
  return p;
}

/* ln(x) for 1 <= x < 2^53: x = m 2^e with m in [sqrt(1/2), sqrt(2)], ln m = 2 atanh((m-1)/(m+1)). */
static double det_log(uint64_t x)
{
  int e = 0;
  while ((x >> e) > 1)
    e++;
  double m = (double)x / det_pow2(e);
  if (m > DET_SQRT2) {
    m *= 0.5;
    e++;
  }
  double z = (m - 1.0) / (m + 1.0), z2 = z * z, term = z, sum = 0.0;
  for (int i = 1; i < 40; i += 2) { /* |z| <= 0.18: z^41 is far below one ulp */
    sum += term / i;
    term *= z2;
  }
  return 2.0 * sum + e * DET_LN2;
}

/* e^y for -700 < y <= 0: y = k ln2 + f with f in [0, ln2), Taylor series for e^f. */
static double det_exp(double y)
{
  double kf = y / DET_LN2;
  int k = (int)kf;
  if ((double)k > kf)
    k--;
  double f = y - k * DET_LN2, term = 1.0, sum = 1.0;
  for (int i = 1; i <= 24; i++) { /* 0.7^25 / 25! is far below one ulp */
    term *= f / i;
    sum += term;
  }
  return sum * det_pow2(k);
}

static double zipf_weight(uint32_t rank, double s)
{
  return det_exp(-s * det_log((uint64_t)rank + 1));
}

/* ---------------------------------------------------------------------------------------------
 * Vocabulary: word bytes from the rank, and an alias table over the Zipf weights. */

typedef struct {
  uint32_t threshold; /* bucket j yields j if the low 32 random bits are below this */
  uint32_t alias;     /* ... and alias otherwise */
} alias_entry;

typedef struct {
  uint32_t n;
  unsigned char *words; /* n slots of WORD_SLOT bytes */
  alias_entry *table;
} vocab;

/*
 * Length of the word of 0-based rank r, before capacity bumping: about 3 + 0.6 log2(r+1) plus a
 * jitter of -2..+2 from a hash, clamped to 2..14, so frequent words tend to be short. log2 is
 * taken in eighths from the top bits. The slope sets the mean word length and with it the words
 * per megabyte (the Zipf exponent sets the distinct count): change them together.
 */
static int word_length(uint32_t r)
{
  uint64_t x = (uint64_t)r + 1;
  unsigned lg = 0;
  while ((x >> (lg + 1)) != 0)
    lg++;
  unsigned frac = lg >= 3 ? (unsigned)(x >> (lg - 3)) & 7u : (unsigned)(x << (3 - lg)) & 7u;
  unsigned lg8 = 8 * lg + frac;
  int len = 3 + (int)(lg8 * 3 / 40) + (int)(hash64(0x5eedull << 32 ^ r) % 5) - 2;
  if (len < WORD_MIN)
    len = WORD_MIN;
  if (len > WORD_MAX)
    len = WORD_MAX;
  return len;
}

/*
 * Writes the k-th word of length len into slot. The last m = min(len, 6) letters are a bijection
 * of k in [0, 26^m) (an affine map mod 26^m, then each digit shifted by a hash of the digits above
 * it, which stays invertible), so words of one length are distinct as long as k < 26^m; the
 * leading len - m letters come from a hash. Callers keep k < 26^m (26^6 > GEN_MAX_VOCAB).
 */
static void word_make(unsigned char *slot, int len, uint64_t k)
{
  int m = len < 6 ? len : 6;
  uint64_t mod = 1;
  for (int i = 0; i < m; i++)
    mod *= 26;
  uint64_t a = (0x9e3779b97f4a7c15u % mod) | 1u; /* odd; step by 2 until coprime to 13 as well */
  while (a % 13 == 0)
    a = (a + 2) % mod;
  uint64_t idx = (k * a + (uint64_t)len * 7919u) % mod; /* k, a < 26^6 < 2^29: no overflow */
  uint64_t pre = hash64((uint64_t)len << 40 ^ k);
  memset(slot, 0, WORD_SLOT);
  for (int i = 0; i < len - m; i++) {
    slot[i] = (unsigned char)('a' + pre % 26);
    pre /= 26;
  }
  uint64_t high = idx;
  for (int i = len - 1; i >= len - m; i--) {
    uint64_t digit = high % 26;
    high /= 26;
    slot[i] = (unsigned char)('a' + (digit + hash64(high ^ (uint64_t)i << 32)) % 26);
  }
  slot[WORD_SLOT - 1] = (unsigned char)len;
}

static void vocab_destroy(vocab *v)
{
  free(v->words);
  free(v->table);
  v->words = NULL;
  v->table = NULL;
}

/*
 * Builds n words and an alias table for P(rank r) ~ (r+1)^-s. The weights are quantised to
 * integers summing to exactly n * 2^32, so every bucket holds 2^32 units and Vose's pairing runs
 * in exact integer arithmetic. Returns 0, or -1 if out of memory. O(n) time.
 */
static int vocab_build(vocab *v, uint32_t n, double s)
{
  const uint64_t cap = (uint64_t)1 << 32;
  uint64_t *q = NULL;
  uint32_t *work = NULL;
  uint64_t used[WORD_MAX + 1] = {0};
  int rc = -1;

  v->n = n;
  v->words = malloc((size_t)n * WORD_SLOT);
  v->table = malloc((size_t)n * sizeof *v->table);
  q = malloc((size_t)n * sizeof *q);
  work = malloc((size_t)n * sizeof *work);
  if (!v->words || !v->table || !q || !work)
    goto out;

  for (uint32_t r = 0; r < n; r++) {
    int len = word_length(r);
    for (;;) { /* bump to the next length once all 26^len words of this one are taken */
      uint64_t room = 1;
      for (int i = 0; i < len && i < 6; i++)
        room *= 26;
      if (used[len] < room || len == WORD_MAX)
        break;
      len++;
    }
    word_make(v->words + (size_t)r * WORD_SLOT, len, used[len]++);
  }

  /* Quantise: q_r = floor(w_r * n 2^32 / W), then hand the rounding remainder out one unit at a
   * time from rank 0 (or take an excess from rank 0, the largest weight). */
  double total_w = 0.0;
  for (uint32_t r = 0; r < n; r++)
    total_w += zipf_weight(r, s);
  const uint64_t total_q = (uint64_t)n * cap;
  const double scale = (double)total_q / total_w;
  uint64_t sum_q = 0;
  for (uint32_t r = 0; r < n; r++) {
    q[r] = (uint64_t)(zipf_weight(r, s) * scale);
    sum_q += q[r];
  }
  if (sum_q > total_q) {
    if (q[0] < sum_q - total_q)
      goto out; /* cannot happen: the excess is a few ulps of the total */
    q[0] -= sum_q - total_q;
  } else {
    uint64_t deficit = total_q - sum_q;
    for (uint32_t r = 0; r < n; r++)
      q[r] += deficit / n + (r < deficit % n ? 1 : 0);
  }

  /* Vose: small buckets (< cap) grow from the front of work, large ones from the back. */
  size_t nsmall = 0, nlarge = 0;
  for (uint32_t r = 0; r < n; r++) {
    if (q[r] < cap)
      work[nsmall++] = r;
    else
      work[n - 1 - nlarge++] = r;
  }
  while (nsmall > 0 && nlarge > 0) {
    uint32_t sm = work[--nsmall];
    uint32_t lg = work[n - nlarge]; /* most recently pushed large bucket */
    v->table[sm].threshold = (uint32_t)q[sm];
    v->table[sm].alias = lg;
    q[lg] -= cap - q[sm];
    if (q[lg] < cap) {
      nlarge--;
      work[nsmall++] = lg;
    }
  }
  /* Whatever is left holds exactly cap units (integer arithmetic is exact): always itself. */
  while (nlarge > 0) {
    uint32_t r = work[n - nlarge--];
    v->table[r].threshold = UINT32_MAX;
    v->table[r].alias = r;
  }
  while (nsmall > 0) {
    uint32_t r = work[--nsmall];
    v->table[r].threshold = UINT32_MAX;
    v->table[r].alias = r;
  }
  rc = 0;

out:
  free(work);
  free(q);
  if (rc != 0)
    vocab_destroy(v);
  return rc;
}

/* One 64-bit draw: the high half picks a bucket (multiply-shift, no modulo), the low half
 * decides between the bucket and its alias. */
static uint32_t vocab_sample(const vocab *v, uint64_t u)
{
  uint32_t j = (uint32_t)(((u >> 32) * v->n) >> 32);
  const alias_entry *e = &v->table[j];
  return (uint32_t)u < e->threshold ? j : e->alias;
}

/* ---------------------------------------------------------------------------------------------
 * Output: a buffer flushed with fwrite; the first error's errno is kept for the message. */

typedef struct {
  FILE *fp;
  char *buf;
  size_t len;     /* bytes in buf */
  uint64_t total; /* bytes produced so far, flushed or not */
  int err;        /* errno of the first failure, 0 if none */
} gen_out;

static int out_flush(gen_out *o)
{
  int rc = 0;
  if (o->len > 0) {
    errno = 0;
    if (fwrite(o->buf, 1, o->len, o->fp) != o->len) {
      o->err = errno ? errno : EIO;
      rc = -1;
    }
    o->len = 0;
  }
  return rc;
}

/* Accounts for a line formatted at buf + len and ending at end; flushes when the buffer is full. */
static int out_commit(gen_out *o, char *end)
{
  size_t n = (size_t)(end - (o->buf + o->len));
  o->len += n;
  o->total += n;
  return o->len > GEN_BUF_SIZE - GEN_BUF_SLACK ? out_flush(o) : 0;
}

/* Writes v in decimal, zero-padded to at least width digits; returns the end. */
static char *put_uint(char *p, uint64_t v, int width)
{
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n < width)
    tmp[n++] = '0';
  while (n > 0)
    *p++ = tmp[--n];
  return p;
}

/* ---------------------------------------------------------------------------------------------
 * kind text */

static int gen_text(gen_out *o, const gen_opts *opt)
{
  vocab v = {0, NULL, NULL};
  rng r;
  int rc = -1;

  if (vocab_build(&v, opt->vocab, opt->zipf) != 0) {
    o->err = ENOMEM;
    goto out;
  }
  rng_seed(&r, opt->seed);
  while (o->total < opt->size) {
    char *p = o->buf + o->len;
    /* One draw shapes the line: 8..16 words; 1 line in 16 has a tab, 1 in 16 a double space. */
    uint64_t u = rng_next(&r);
    unsigned nwords = 8 + (unsigned)(u % 9);
    unsigned odd = (unsigned)(u >> 8) & 31u;
    unsigned tab_at = odd < 2 ? 1 + (unsigned)((u >> 16) % (nwords - 1)) : 0;
    unsigned double_at = odd >= 2 && odd < 4 ? 1 + (unsigned)((u >> 24) % (nwords - 1)) : 0;
    /* Draw the whole line's words first: the table lookups are then independent loads whose
     * cache misses overlap, which makes the loop about twice as fast as one word at a time. */
    uint32_t ids[16];
    for (unsigned w = 0; w < nwords; w++)
      ids[w] = vocab_sample(&v, rng_next(&r));
    for (unsigned w = 0; w < nwords; w++) {
      if (w == tab_at && w != 0) {
        *p++ = '\t';
      } else if (w != 0) {
        *p++ = ' ';
        if (w == double_at)
          *p++ = ' ';
      }
      const unsigned char *word = v.words + (size_t)ids[w] * WORD_SLOT;
      memcpy(p, word, WORD_SLOT); /* fixed-size copy; only len bytes are kept */
      p += word[WORD_SLOT - 1];
    }
    *p++ = '\n';
    if (out_commit(o, p) != 0)
      goto out;
  }
  rc = 0;

out:
  vocab_destroy(&v);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * kind meter */

typedef struct {
  const char *name; /* as written in the CSV, quotes included */
  size_t len;
} province;

#define PROVINCE(s) {s, sizeof(s) - 1}
static const province provinces[8] = {
  PROVINCE("Zhejiang"), PROVINCE("Jiangsu"), PROVINCE("Guangdong"),
  PROVINCE("Shandong"), PROVINCE("Sichuan"), PROVINCE("\"Inner Mongolia, AR\""),
  PROVINCE("Henan"),    PROVINCE("Yunnan"),
};
#undef PROVINCE

static const char meter_header[] = "customer_id,province,timestamp,kwh,voltage\n";

/* Daily load shape in per mille of a customer's base load, at 15-minute slot boundaries
 * (slot 0 = 00:00); linear in between: night trough, morning peak, midday plateau, evening peak. */
static const struct {
  int slot, permille;
} shape_points[] = {
  {0, 450}, {20, 350}, {28, 900}, {34, 1300}, {40, 800},
  {52, 750}, {68, 1000}, {78, 1700}, {88, 1200}, {96, 450},
};

static void shape_table(unsigned shape[96])
{
  size_t seg = 0;
  for (int slot = 0; slot < 96; slot++) {
    while (shape_points[seg + 1].slot <= slot)
      seg++;
    int s0 = shape_points[seg].slot, s1 = shape_points[seg + 1].slot;
    int v0 = shape_points[seg].permille, v1 = shape_points[seg + 1].permille;
    shape[slot] = (unsigned)(v0 + (v1 - v0) * (slot - s0) / (s1 - s0));
  }
}

/* "YYYY-MM-DDTHH:MM:00" for 15-minute round t after 2026-01-01T00:00:00 (day 20454). */
static size_t format_timestamp(char *p, uint64_t t)
{
  char *start = p;
  int64_t y;
  unsigned mo, d;
  gmr__civil_from_days(20454 + (int64_t)(t / 96), &y, &mo, &d); /* src/gen/model.c */
  unsigned minute = (unsigned)(t % 96) * 15;
  p = put_uint(p, (uint64_t)y, 4);
  *p++ = '-';
  p = put_uint(p, mo, 2);
  *p++ = '-';
  p = put_uint(p, d, 2);
  *p++ = 'T';
  p = put_uint(p, minute / 60, 2);
  *p++ = ':';
  p = put_uint(p, minute % 60, 2);
  memcpy(p, ":00", 3);
  p += 3;
  return (size_t)(p - start);
}

/*
 * Rows go round by round over customers C000001..CN. A customer's province and base load
 * (50..450 Wh per 15 minutes) come from a hash of the seed and the customer number; a reading is
 * base * shape(slot) * (0.85..1.15), printed with 3 decimals; voltage is 220.0 V plus triangular
 * noise of +-6.0 V, with a 15 V sag in about 1 reading of 512. All integer fixed point.
 */
static int gen_meter(gen_out *o, const gen_opts *opt)
{
  unsigned shape[96];
  char stamp[32];
  size_t stamp_len = 0;
  uint64_t round = 0;
  uint32_t cust = 0;
  uint64_t salt = hash64(opt->seed ^ 0x6d65746572ull);
  rng r;
  int rc = -1;

  shape_table(shape);
  rng_seed(&r, opt->seed);
  if (o->total < opt->size) {
    char *p = o->buf + o->len;
    memcpy(p, meter_header, sizeof meter_header - 1);
    if (out_commit(o, p + sizeof meter_header - 1) != 0)
      goto out;
  }
  while (o->total < opt->size) {
    if (cust == 0)
      stamp_len = format_timestamp(stamp, round);
    uint64_t h = hash64(salt ^ cust);
    const province *prov = &provinces[h & 7u];
    uint64_t base = 50 + (h >> 8) % 401;
    uint64_t u = rng_next(&r);
    uint64_t wh = base * shape[round % 96] * (850 + u % 301) / 1000000;
    unsigned dv = 2200 + (unsigned)((u >> 20) % 61) + (unsigned)((u >> 28) % 61) - 60;
    if (((u >> 40) & 511u) == 0)
      dv -= 150;

    char *p = o->buf + o->len;
    *p++ = 'C';
    p = put_uint(p, (uint64_t)cust + 1, 6);
    *p++ = ',';
    memcpy(p, prov->name, prov->len);
    p += prov->len;
    *p++ = ',';
    memcpy(p, stamp, stamp_len);
    p += stamp_len;
    *p++ = ',';
    p = put_uint(p, wh / 1000, 1);
    *p++ = '.';
    p = put_uint(p, wh % 1000, 3);
    *p++ = ',';
    p = put_uint(p, dv / 10, 1);
    *p++ = '.';
    *p++ = (char)('0' + dv % 10);
    *p++ = '\n';
    if (out_commit(o, p) != 0)
      goto out;

    if (++cust == opt->customers) {
      cust = 0;
      round++;
    }
  }
  rc = 0;

out:
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Options */

static void usage(FILE *fp, int full)
{
  fputs("usage: gridmr gen --kind text|meter --size SIZE --out FILE [--seed S] [--vocab N]\n"
        "                  [--zipf S] [--customers N]\n"
        "       gridmr gen [--kind power] --out DIR --size SIZE [--provinces P] [--seed S] ...\n",
        fp);
  if (!full) {
    fputs("try 'gridmr gen --help' for more information\n", fp);
    return;
  }
  fprintf(fp,
          "Write deterministic synthetic data: same arguments, same bytes on any machine.\n"
          "  --kind KIND      text: Zipf-distributed words, 8..16 a line\n"
          "                   meter: CSV customer_id,province,timestamp,kwh,voltage\n"
          "  --size SIZE      bytes to write, completed to the end of the line;\n"
          "                   K, M, G suffixes are powers of 1024\n"
          "  --out FILE       output file, '-' for standard output\n"
          "  --seed S         random seed, 0..2^64-1 (default %u)\n"
          "  --vocab N        text: vocabulary size, 1..%u (default %u)\n"
          "  --zipf S         text: Zipf exponent, 0..%.0f (default %.3f)\n"
          "  --customers N    meter: number of customers, 1..%u (default %u)\n",
          GEN_DEFAULT_SEED, GEN_MAX_VOCAB, GEN_DEFAULT_VOCAB, GEN_MAX_ZIPF, GEN_DEFAULT_ZIPF,
          GEN_MAX_CUSTOMERS, GEN_DEFAULT_CUSTOMERS);
  gmr__cli_gen_power_usage(fp);
}

/* Plain decimal, no sign, no spaces; 0 on success. */
static int parse_u64(const char *s, uint64_t *out)
{
  char *end = NULL;
  int rc = -1;
  if (*s < '0' || *s > '9')
    goto out;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    goto out;
  *out = (uint64_t)v;
  rc = 0;
out:
  return rc;
}

static int parse_count(const char *s, uint32_t max, uint32_t *out)
{
  uint64_t v = 0;
  int rc = -1;
  if (parse_u64(s, &v) != 0 || v < 1 || v > max)
    goto out;
  *out = (uint32_t)v;
  rc = 0;
out:
  return rc;
}

/* Fills opt from argv; accepts `--name value` and `--name=value`. Returns 0, 2 on a usage error
 * (message printed), or -1 if --help was given (usage printed to stdout). */
static int parse_options(int argc, char **argv, gen_opts *opt)
{
  int have_size = 0;
  int rc = 2;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *val = NULL;
    char name[16];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      usage(stdout, 1);
      rc = -1;
      goto out;
    }
    if (strncmp(arg, "--", 2) != 0) {
      fprintf(stderr, "gridmr gen: unexpected argument '%s'\n", arg);
      goto out;
    }
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (nlen >= sizeof name) {
      fprintf(stderr, "gridmr gen: unknown option '%s'\n", arg);
      goto out;
    }
    memcpy(name, arg + 2, nlen);
    name[nlen] = '\0';
    if (eq) {
      val = eq + 1;
    } else if (i + 1 < argc) {
      val = argv[++i];
    } else {
      fprintf(stderr, "gridmr gen: option '--%s' needs a value\n", name);
      goto out;
    }

    int bad = 0;
    if (strcmp(name, "kind") == 0) {
      if (strcmp(val, "text") == 0)
        opt->kind = KIND_TEXT;
      else if (strcmp(val, "meter") == 0)
        opt->kind = KIND_METER;
      else
        bad = 1;
    } else if (strcmp(name, "size") == 0) {
      bad = gmr__parse_size(val, &opt->size) != 0;
      have_size = !bad;
    } else if (strcmp(name, "seed") == 0) {
      bad = parse_u64(val, &opt->seed) != 0;
    } else if (strcmp(name, "out") == 0) {
      opt->out = val;
      bad = *val == '\0';
    } else if (strcmp(name, "vocab") == 0) {
      bad = parse_count(val, GEN_MAX_VOCAB, &opt->vocab) != 0;
    } else if (strcmp(name, "zipf") == 0) {
      char *end = NULL;
      opt->zipf = strtod(val, &end);
      bad = end == val || *end != '\0' || !(opt->zipf >= 0.0 && opt->zipf <= GEN_MAX_ZIPF);
    } else if (strcmp(name, "customers") == 0) {
      bad = parse_count(val, GEN_MAX_CUSTOMERS, &opt->customers) != 0;
    } else {
      fprintf(stderr, "gridmr gen: unknown option '--%s'\n", name);
      goto out;
    }
    if (bad) {
      fprintf(stderr, "gridmr gen: invalid value '%s' for --%s\n", val, name);
      goto out;
    }
  }
  if (opt->kind == KIND_NONE || !have_size || opt->out == NULL) {
    fprintf(stderr, "gridmr gen: --kind, --size and --out are required\n");
    goto out;
  }
  rc = 0;

out:
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Entry point */

int gmr_cli_gen(int argc, char **argv)
{
  gen_opts opt = {KIND_NONE,         0, GEN_DEFAULT_SEED, NULL, GEN_DEFAULT_VOCAB,
                  GEN_DEFAULT_ZIPF, GEN_DEFAULT_CUSTOMERS};
  gen_out o = {NULL, NULL, 0, 0, 0};
  int to_stdout = 0;
  int created = 0; /* opt.out is a regular file we truncated: a failure must not leave it behind */
  int rc = 2;

  int prc = parse_options(argc, argv, &opt);
  if (prc != 0) {
    if (prc == 2)
      usage(stderr, 0);
    rc = prc == 2 ? 2 : 0;
    goto out;
  }

  rc = 1;
  to_stdout = strcmp(opt.out, "-") == 0;
  o.buf = malloc(GEN_BUF_SIZE);
  if (o.buf == NULL) {
    o.err = ENOMEM;
    goto out;
  }
  errno = 0;
  o.fp = to_stdout ? stdout : fopen(opt.out, "wb");
  if (o.fp == NULL) {
    o.err = errno ? errno : EIO;
    goto out;
  }
  struct stat st; /* only a regular file is removed on failure, never e.g. /dev/full */
  created = !to_stdout && fstat(fileno(o.fp), &st) == 0 && S_ISREG(st.st_mode);
  if ((opt.kind == KIND_TEXT ? gen_text(&o, &opt) : gen_meter(&o, &opt)) != 0)
    goto out;
  if (out_flush(&o) != 0)
    goto out;
  errno = 0;
  if (to_stdout ? fflush(o.fp) != 0 : fclose(o.fp) != 0) {
    o.err = errno ? errno : EIO;
    o.fp = NULL; /* closed, even on failure */
    goto out;
  }
  o.fp = NULL;
  rc = 0;

out:
  if (o.fp != NULL && !to_stdout)
    fclose(o.fp);
  if (rc == 1) {
    fprintf(stderr, "gridmr gen: %s: %s\n", to_stdout ? "<stdout>" : opt.out, strerror(o.err));
    if (created)
      remove(opt.out);
  }
  free(o.buf);
  return rc;
}
