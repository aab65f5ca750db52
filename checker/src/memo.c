/*
 * Lowe's memoisation (Lowe 2017, "Testing for linearizability", section 4):
 * the set of configurations (linearized ops, state) the search has already
 * entered. Reaching one again cannot lead anywhere new, so the search backs
 * off; this is what makes Wing & Gong's exponential search practical.
 *
 * The table is open addressing with linear probing, at most half full. A
 * slot holds the configuration's 64-bit hash and state, so a probe touches
 * the bitset only when both match; the bitsets themselves sit in one arena
 * of 64-bit words, each record being a header word (index of its first
 * word, number of words) and the words. The set is exact: a hash collision
 * costs a compare, never a wrong answer.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct memo_slot
{
    uint64_t hash;
    uint32_t state;
    uint32_t rec; /* 0: empty; else 1 + index of the record in the arena */
};

void memo_init(struct memo *m)
{
    memset(m, 0, sizeof *m);
}

void memo_fini(struct memo *m)
{
    free(m->slots);
    free(m->arena);
    memo_init(m);
}

size_t memo_bytes(const struct memo *m)
{
    return m->cap * sizeof *m->slots + m->arena_cap * sizeof *m->arena;
}

static int grow(struct memo *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    if (mem_budget_over(m->budget, cap * sizeof *m->slots)) {
        return COMMON_ENOMEM;
    }
    struct memo_slot *slots = big_calloc(cap, sizeof *slots, m->budget);
    if (slots == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t k = 0; k < m->cap; k++) {
        if (mem_budget_late(m->budget, k)) {
            free(slots);
            return COMMON_ENOMEM;
        }
        if (m->slots[k].rec != 0) {
            size_t i = (size_t)m->slots[k].hash & (cap - 1);
            while (slots[i].rec != 0) {
                i = (i + 1) & (cap - 1);
            }
            slots[i] = m->slots[k];
        }
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    if (m->budget != NULL) {
        m->budget->memo = memo_bytes(m);
    }
    return 0;
}

static bool same_bits(const struct memo *m,
                      uint32_t rec,
                      const uint64_t *bits,
                      size_t lo,
                      size_t hi)
{
    const uint64_t *r = &m->arena[rec - 1];
    if (r[0] != (((uint64_t)lo << 32) | (hi - lo))) {
        return false;
    }
    return memcmp(r + 1, bits + lo, (hi - lo) * sizeof *bits) == 0;
}

int memo_add(struct memo *m,
             uint64_t hash,
             uint32_t state,
             const uint64_t *bits,
             size_t lo,
             size_t hi)
{
    if ((m->len + 1) * 2 > m->cap && grow(m) != 0) {
        return COMMON_ENOMEM;
    }
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash & mask;
    for (; m->slots[i].rec != 0; i = (i + 1) & mask) {
        const struct memo_slot *s = &m->slots[i];
        if (s->hash == hash && s->state == state &&
            same_bits(m, s->rec, bits, lo, hi)) {
            return 0;
        }
    }
    size_t words = 1 + hi - lo;
    if (m->arena_len + words >= UINT32_MAX || lo > UINT32_MAX) {
        return COMMON_ENOMEM;
    }
    if (m->arena_len + words > m->arena_cap) {
        /* big_reserve at least doubles (a large arena is moved by the
         * kernel, not copied). */
        size_t want = m->arena_cap * 2 > m->arena_len + words
                          ? m->arena_cap * 2
                          : m->arena_len + words;
        if (want > SIZE_MAX / sizeof *m->arena ||
            mem_budget_over(m->budget, want * sizeof *m->arena) ||
            big_reserve(&m->arena, &m->arena_cap, m->arena_len + words,
                        sizeof *m->arena) != 0) {
            return COMMON_ENOMEM;
        }
        if (m->budget != NULL) {
            m->budget->memo = memo_bytes(m);
        }
    }
    uint64_t *r = &m->arena[m->arena_len];
    r[0] = ((uint64_t)lo << 32) | (hi - lo);
    if (hi > lo) {
        memcpy(r + 1, bits + lo, (hi - lo) * sizeof *bits);
    }
    m->slots[i].hash = hash;
    m->slots[i].state = state;
    m->slots[i].rec = (uint32_t)(m->arena_len + 1);
    m->arena_len += words;
    m->len++;
    return 1;
}
