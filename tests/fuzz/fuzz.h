/*
 * What the libFuzzer targets of tests/fuzz/ share: a check that aborts
 * (so that libFuzzer saves the input as a crash), and a reader that turns
 * the fuzzer's bytes into small numbers and byte strings, giving zeros once
 * the input runs out so that every input means something.
 *
 * Header-only: each target is one .c file with no other source.
 */
#ifndef RAFTKV_FUZZ_H
#define RAFTKV_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point, declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the code under test failed: report and crash. */
#define FUZZ_CHECK(cond)                                                \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, \
                    __LINE__, #cond);                                   \
            abort();                                                    \
        }                                                               \
    } while (0)

/* An allocation the target itself needs failed: nothing to learn. */
#define FUZZ_NONNULL(p)                                                    \
    do {                                                                   \
        if ((p) == NULL) {                                                 \
            fprintf(stderr, "%s:%d: out of memory\n", __FILE__, __LINE__); \
            abort();                                                       \
        }                                                                  \
    } while (0)

struct fuzz_in
{
    const uint8_t *p;
    size_t len;
};

static inline bool fuzz_more(const struct fuzz_in *in)
{
    return in->len > 0;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    if (in->len == 0) {
        return 0;
    }
    uint8_t b = in->p[0];
    in->p++;
    in->len--;
    return b;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
    uint16_t lo = fuzz_u8(in);
    uint16_t hi = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)(hi << 8));
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) {
        v |= (uint64_t)fuzz_u8(in) << (8 * k);
    }
    return v;
}

/* Up to @want bytes (fewer when the input ends); the bytes stay in the
 * input, which the caller keeps alive. */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in,
                                        size_t want,
                                        size_t *got)
{
    if (want > in->len) {
        want = in->len;
    }
    const uint8_t *at = in->p;
    in->p += want;
    in->len -= want;
    *got = want;
    return at;
}

#endif /* RAFTKV_FUZZ_H */
