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
 *
 * Memory is bounded by the search's budget, in two generations. When the
 * current table cannot grow within the budget, the older generation is
 * dropped and the current one takes its place; a lookup looks in both, and
 * a configuration found only in the older one is copied into the current
 * one, so what the search still meets survives. Forgetting a configuration
 * never changes a verdict: entering it again only repeats work that failed
 * before (the memo prunes; it never decides). The search meets the same
 * configurations again mostly near where it is, so little is repeated.
 * Forgetting is allowed only when the search's deepest prefix has grown
 * since the last time; otherwise the memo says COMMON_ENOMEM and the
 * verdict is unknown, as a search that cannot finish must end, and the
 * number of times is bounded by the number of ops.
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

static void table_free(struct memo_table *t)
{
    free(t->slots);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

void memo_fini(struct memo *m)
{
    table_free(&m->cur);
    table_free(&m->old);
    memo_init(m);
}

static size_t table_bytes(const struct memo_table *t)
{
    return t->cap * sizeof *t->slots + t->arena_cap * sizeof *t->arena;
}

size_t memo_bytes(const struct memo *m)
{
    return table_bytes(&m->cur) + table_bytes(&m->old);
}

static void account(struct memo *m)
{
    if (m->budget != NULL) {
        m->budget->memo = memo_bytes(m);
        mem_budget_sync(m->budget);
    }
}

static int grow(struct memo *m, struct memo_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    if (mem_budget_over(m->budget, cap * sizeof *t->slots)) {
        return COMMON_ENOMEM;
    }
    struct memo_slot *slots = big_calloc(cap, sizeof *slots, m->budget);
    if (slots == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t k = 0; k < t->cap; k++) {
        if (mem_budget_late(m->budget, k)) {
            free(slots);
            return COMMON_ENOMEM;
        }
        if (t->slots[k].rec != 0) {
            size_t i = (size_t)t->slots[k].hash & (cap - 1);
            while (slots[i].rec != 0) {
                i = (i + 1) & (cap - 1);
            }
            slots[i] = t->slots[k];
        }
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    account(m);
    return 0;
}

static bool same_bits(const struct memo_table *t,
                      uint32_t rec,
                      const uint64_t *bits,
                      size_t lo,
                      size_t hi)
{
    const uint64_t *r = &t->arena[rec - 1];
    if (r[0] != (((uint64_t)lo << 32) | (hi - lo))) {
        return false;
    }
    return memcmp(r + 1, bits + lo, (hi - lo) * sizeof *bits) == 0;
}

/* The slot of the configuration in @t, or of the empty slot where it
 * belongs (t->cap != 0). */
static size_t probe(const struct memo_table *t,
                    uint64_t hash,
                    uint32_t state,
                    const uint64_t *bits,
                    size_t lo,
                    size_t hi)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)hash & mask;
    for (; t->slots[i].rec != 0; i = (i + 1) & mask) {
        const struct memo_slot *s = &t->slots[i];
        if (s->hash == hash && s->state == state &&
            same_bits(t, s->rec, bits, lo, hi)) {
            break;
        }
    }
    return i;
}

/* Whether the configuration is in @t. */
static bool known(const struct memo_table *t,
                  uint64_t hash,
                  uint32_t state,
                  const uint64_t *bits,
                  size_t lo,
                  size_t hi)
{
    return t->cap != 0 &&
           t->slots[probe(t, hash, state, bits, lo, hi)].rec != 0;
}

/* Adds a configuration that neither generation holds to the current one:
 * 1, or COMMON_ENOMEM. */
static int add_current(struct memo *m,
                       uint64_t hash,
                       uint32_t state,
                       const uint64_t *bits,
                       size_t lo,
                       size_t hi)
{
    struct memo_table *t = &m->cur;
    if ((t->len + 1) * 2 > t->cap && grow(m, t) != 0) {
        return COMMON_ENOMEM;
    }
    size_t i = probe(t, hash, state, bits, lo, hi);
    size_t words = 1 + hi - lo;
    if (t->arena_len + words >= UINT32_MAX || lo > UINT32_MAX) {
        return COMMON_ENOMEM;
    }
    if (t->arena_len + words > t->arena_cap) {
        /* big_reserve at least doubles (a large arena is moved by the
         * kernel, not copied). */
        size_t want = t->arena_cap * 2 > t->arena_len + words
                          ? t->arena_cap * 2
                          : t->arena_len + words;
        if (want > SIZE_MAX / sizeof *t->arena ||
            mem_budget_over(m->budget, want * sizeof *t->arena) ||
            big_reserve(&t->arena, &t->arena_cap, t->arena_len + words,
                        sizeof *t->arena) != 0) {
            return COMMON_ENOMEM;
        }
        account(m);
    }
    uint64_t *r = &t->arena[t->arena_len];
    r[0] = ((uint64_t)lo << 32) | (hi - lo);
    if (hi > lo) {
        memcpy(r + 1, bits + lo, (hi - lo) * sizeof *bits);
    }
    t->slots[i].hash = hash;
    t->slots[i].state = state;
    t->slots[i].rec = (uint32_t)(t->arena_len + 1);
    t->arena_len += words;
    t->len++;
    return 1;
}

/* Whether the older generation may be forgotten now: the search went
 * deeper since the last time, and the memo may forget at all. */
static bool may_forget(const struct memo *m)
{
    return m->may_forget && m->cur.len > 0 && m->depth > m->rotated_at &&
           (m->budget == NULL || !m->budget->timed_out);
}

/* Forgets the older generation; the current one becomes it. */
static void forget(struct memo *m)
{
    table_free(&m->old);
    m->old = m->cur;
    memset(&m->cur, 0, sizeof m->cur);
    m->rotated_at = m->depth;
    m->forgotten++;
    account(m);
}

int memo_add(struct memo *m,
             uint64_t hash,
             uint32_t state,
             const uint64_t *bits,
             size_t lo,
             size_t hi)
{
    /* Known in either generation: nothing to add, whatever the budget. */
    if (known(&m->cur, hash, state, bits, lo, hi)) {
        return 0;
    }
    bool old_hit = known(&m->old, hash, state, bits, lo, hi);
    /* Each generation gets at most half of the budget, so that the one
     * that follows a forgetting has as much room as the one before. */
    if (m->budget != NULL && m->budget->limit != 0 &&
        table_bytes(&m->cur) > m->budget->limit / 2 && may_forget(m)) {
        forget(m);
    }
    for (;;) {
        int rv = add_current(m, hash, state, bits, lo, hi);
        if (rv != COMMON_ENOMEM) {
            return old_hit ? 0 : rv; /* an older one is kept: copied */
        }
        if (old_hit) {
            return 0; /* known: pruning it needs no room */
        }
        if (!may_forget(m)) {
            return rv;
        }
        forget(m);
    }
}
