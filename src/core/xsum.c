/* xsum.c - exact, order-independent summation of doubles (see xsum.h).
 *
 * A double is sign * m * 2^(e-1075) with a 53-bit integer m, so on the 2^-128
 * grid it is m << (e - 947): at most 53 set bits that straddle at most two of
 * the four 64-bit limbs. An add therefore costs one decode of the IEEE bits,
 * one shift, a choice of the two limbs hit and a 4-limb add-with-carry: no
 * frexp/ldexp, no loop, no memory beyond the 32-byte state. Negative inputs
 * are added as ~t + 1 (the +1 rides in as the initial carry), so the sign
 * costs no branch; the limb choice may compile to a branch, which predicts
 * well when the values of one column have similar magnitudes. Measured about
 * 3.7 ns per add at -O2 on x86-64 (a plain double += is about 1.1 ns).
 *
 * Rounding to double happens once, in gmr__xsum_round, from the exact
 * integer: take the magnitude, find its top bit, keep 53 bits and round to
 * nearest-even with a round bit and a sticky bit. About 10-20 ns: fine for
 * a per-group final step, not meant for the hot loop.
 */
#include "xsum.h"

#include <string.h>

#define MANT_BITS 52
#define MANT_MASK ((UINT64_C(1) << MANT_BITS) - 1)
#define EXP_BIAS  1023
/* shift that puts the integer significand on the 2^-128 grid: (e - 1075) + 128 */
#define GRID_SHIFT 947
/* smallest biased exponent that is rejected: |x| >= 2^80 (also catches Inf/NaN) */
#define EXP_REJECT (EXP_BIAS + 80)

void gmr__xsum_init(gmr__xsum *s)
{
    s->limb[0] = s->limb[1] = s->limb[2] = s->limb[3] = 0;
}

/* s += (t ^ mask) + carry over all four limbs, in registers. With mask = 0,
 * carry = 0 this adds t; with mask = ~0, carry = 1 it subtracts t (two's
 * complement). gcc compiles the _addcarry_u64 chain to one add/adc sequence;
 * the portable unsigned __int128 spelling, used elsewhere or when
 * GMR_XSUM_PORTABLE is defined (tests build both), measured about 1.5x the
 * cost of a whole add (6 vs 3.7 ns at -O2). */
#if defined(__x86_64__) && !defined(GMR_XSUM_PORTABLE)
#include <immintrin.h>

static inline void add4(uint64_t *s, uint64_t t0, uint64_t t1, uint64_t t2, uint64_t t3,
                        uint64_t mask, uint64_t carry)
{
    /* One limb at a time through a local of the intrinsic's own type
     * (unsigned long long, not uint64_t, so no aliasing question). Storing
     * all four at the end let gcc merge them into vector stores, which made
     * the next add's loads wait: 6 vs 3.7 ns. */
    unsigned long long r;
    unsigned char c = (unsigned char)carry;
    c = _addcarry_u64(c, s[0], t0 ^ mask, &r);
    s[0] = r;
    c = _addcarry_u64(c, s[1], t1 ^ mask, &r);
    s[1] = r;
    c = _addcarry_u64(c, s[2], t2 ^ mask, &r);
    s[2] = r;
    (void)_addcarry_u64(c, s[3], t3 ^ mask, &r);
    s[3] = r;
}
#else
__extension__ typedef unsigned __int128 u128; /* gcc and clang; quiet under -Wpedantic */

static inline void add4(uint64_t *s, uint64_t t0, uint64_t t1, uint64_t t2, uint64_t t3,
                        uint64_t mask, uint64_t carry)
{
    u128 acc = (u128)s[0] + (t0 ^ mask) + carry;
    s[0] = (uint64_t)acc;
    acc = (acc >> 64) + s[1] + (t1 ^ mask);
    s[1] = (uint64_t)acc;
    acc = (acc >> 64) + s[2] + (t2 ^ mask);
    s[2] = (uint64_t)acc;
    s[3] += (uint64_t)(acc >> 64) + (t3 ^ mask);
}
#endif

int gmr__xsum_add(gmr__xsum *s, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint64_t neg = bits >> 63;
    unsigned e = (unsigned)(bits >> MANT_BITS) & 0x7ff;
    uint64_t m = bits & MANT_MASK;
    int sh;

    if (e >= EXP_REJECT)
        return -1;
    if (e) {
        m |= UINT64_C(1) << MANT_BITS;
        sh = (int)e - GRID_SHIFT;
    } else {
        sh = 1 - GRID_SHIFT; /* subnormals and zeros: exponent of e = 1 */
    }

    if (sh < 0) {
        /* Bits below 2^-128: round m >> r to nearest, ties to even. For r > 53
         * even the largest m is below half a grid step (and r = 53 is at most
         * a tie with an even zero), so the input adds nothing; this also
         * disposes of zeros and subnormals. */
        unsigned r = (unsigned)-sh;
        if (r > 53)
            return 0;
        uint64_t q = m >> r;
        uint64_t rem = m & ((UINT64_C(1) << r) - 1);
        uint64_t half = UINT64_C(1) << (r - 1);
        q += (rem > half) | ((rem == half) & q);
        m = q;
        sh = 0;
    }

    /* sh <= (EXP_REJECT - 1) - GRID_SHIFT = 155, so idx <= 2: the shifted
     * significand occupies limbs idx and idx + 1. (m >> 1) >> (63 - b) is
     * m >> (64 - b) without the undefined shift by 64 when b = 0 (m < 2^53,
     * so it is 0 then). Selects rather than an indexed stack array, which
     * cost a store-forwarding stall per add (11 vs 6 ns measured). */
    unsigned idx = (unsigned)sh >> 6, b = (unsigned)sh & 63;
    uint64_t lo = m << b, hi = (m >> 1) >> (63 - b);
    uint64_t t0 = idx == 0 ? lo : 0;
    uint64_t t1 = idx == 0 ? hi : idx == 1 ? lo : 0;
    uint64_t t2 = idx == 1 ? hi : idx == 2 ? lo : 0;
    uint64_t t3 = idx == 2 ? hi : 0;
    add4(s->limb, t0, t1, t2, t3, (uint64_t)0 - neg, neg);
    return 0;
}

void gmr__xsum_merge(gmr__xsum *dst, const gmr__xsum *src)
{
    add4(dst->limb, src->limb[0], src->limb[1], src->limb[2], src->limb[3], 0, 0);
}

double gmr__xsum_round(const gmr__xsum *s)
{
    uint64_t neg = s->limb[3] >> 63;
    uint64_t mask = (uint64_t)0 - neg;
    uint64_t mag[4];
    uint64_t carry = neg;

    /* |value| as an unsigned 256-bit integer; the most negative value -2^255
     * maps to 2^255, which is still representable unsigned. */
    for (int i = 0; i < 4; i++) {
        uint64_t v = (s->limb[i] ^ mask) + carry;
        carry = v < carry;
        mag[i] = v;
    }

    int top = 3;
    while (top >= 0 && mag[top] == 0)
        top--;
    if (top < 0)
        return 0.0; /* +0.0 whatever the history, so -0.0 never appears */

    /* p = position of the leading bit; w = the 64 bits from p downwards,
     * sticky = whether anything below w is nonzero. */
    int p = 64 * top + 63 - __builtin_clzll(mag[top]);
    uint64_t w, sticky = 0;
    if (p >= 63) {
        unsigned sft = (unsigned)p - 63; /* <= 192, so k = 3 implies b = 0 */
        unsigned k = sft >> 6, b = sft & 63;
        w = mag[k] >> b;
        if (b)
            w |= mag[k + 1] << (64 - b);
        sticky = (mag[k] & ((UINT64_C(1) << b) - 1)) != 0;
        for (unsigned j = 0; j < k; j++)
            sticky |= mag[j] != 0;
    } else {
        w = mag[0] << (63 - p);
    }

    uint64_t mant = w >> 11;        /* 53 bits, leading one at bit 52 */
    uint64_t round = (w >> 10) & 1;
    sticky |= (w & 0x3ff) != 0;
    mant += round & (sticky | (mant & 1));
    int exp2 = p - 128; /* in [-128, 127]: always a normal double */
    if (mant >> 53) {
        mant >>= 1;
        exp2++;
    }

    uint64_t bits = (neg << 63) | ((uint64_t)(exp2 + EXP_BIAS) << MANT_BITS) | (mant & MANT_MASK);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}
