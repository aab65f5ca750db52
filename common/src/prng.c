/*
 * xoshiro256** by David Blackman and Sebastiano Vigna (public domain
 * algorithm, https://prng.di.unimi.it/), seeded with splitmix64. Every user
 * holds its own state: there is no global generator.
 */
#include "common/common.h"

uint64_t common_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void common_prng_seed(struct common_prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ull;
        p->s[i] = common_mix64(x);
    }
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t common_prng_next(struct common_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t common_prng_below(struct common_prng *p, uint64_t bound)
{
    if (bound == 0) {
        return 0;
    }
    /* Rejection sampling: discard the top partial range. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do {
        x = common_prng_next(p);
    } while (x >= limit);
    return x % bound;
}

uint64_t common_prng_range(struct common_prng *p, uint64_t lo, uint64_t hi)
{
    if (lo >= hi) {
        return lo;
    }
    if (hi - lo == UINT64_MAX) {
        return common_prng_next(p);
    }
    return lo + common_prng_below(p, hi - lo + 1);
}

double common_prng_double(struct common_prng *p)
{
    return (double)(common_prng_next(p) >> 11) * 0x1.0p-53;
}

bool common_prng_chance(struct common_prng *p, double p01)
{
    if (p01 <= 0.0) {
        return false;
    }
    if (p01 >= 1.0) {
        return true;
    }
    return common_prng_double(p) < p01;
}
