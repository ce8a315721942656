/* xsum.h - order-independent exact accumulator for sums of doubles.
 *
 * A group-by `sum` combines partial sums in whatever order the ranks and the
 * shuffle deliver them; with plain double addition the last bits then change
 * with the rank count. This accumulator keeps the sum as a 256-bit
 * two's-complement fixed-point integer (scale 2^-128), so adds and merges are
 * exact integer additions: associative and commutative, hence bit-identical
 * whatever the order. Only the final gmr__xsum_round rounds, once, correctly.
 *
 * Trade-off against a full-range superaccumulator (~4300 bits): inputs must
 * satisfy |x| < 2^80 and are first rounded to the 2^-128 grid, which buys a
 * 32-byte state with no allocation and an O(1) add of about a dozen integer
 * operations. Grid rounding (nearest, ties to even) only touches doubles with
 * |x| < 2^-76 that carry bits below 2^-128; in particular every subnormal and
 * every |x| <= 2^-129 adds nothing, so results are either 0 or >= 2^-128 in
 * magnitude and never subnormal. Because each input is rounded on its own,
 * the result is still independent of order.
 *
 * Headroom: the largest representable magnitude is 2^127, so 2^47 additions
 * of |x| < 2^80 cannot overflow; intermediate wrap-around is harmless (the
 * arithmetic is modulo 2^256) as long as the final value is in range.
 * Not thread-safe per object; merge partial accumulators instead.
 */
#ifndef GMR_CORE_XSUM_H
#define GMR_CORE_XSUM_H

#include <stdint.h>

/* 256-bit two's-complement fixed point: value = (signed 256-bit integer in
 * limb[0..3], limb[0] least significant) * 2^-128 */
typedef struct gmr__xsum { uint64_t limb[4]; } gmr__xsum;

#define GMR_XSUM_MAX_ABS 0x1p80   /* |x| must be < 2^80 to be added; allows 2^47 additions without overflow */

void   gmr__xsum_init(gmr__xsum *s);                       /* s = 0 */
int    gmr__xsum_add(gmr__xsum *s, double x);              /* 0 ok; -1 (s unchanged) if x is NaN/Inf or |x| >= GMR_XSUM_MAX_ABS */
void   gmr__xsum_merge(gmr__xsum *dst, const gmr__xsum *src); /* dst += src (exact 256-bit add) */
double gmr__xsum_round(const gmr__xsum *s);                /* the exact value correctly rounded to nearest double, ties to even */

#endif /* GMR_CORE_XSUM_H */
