/*
 * checker: differential test against a deliberately simple brute-force
 * checker, over thousands of small random histories.
 *
 * The generator makes histories that are linearizable by construction
 * (with info and fail ops); mutations then break some of them. The brute
 * force reads the generator's events directly (not through the checker's
 * history), does not split keys, and tries every order of the ops that
 * respects real time, applying DESIGN.md's semantics to a map of strings.
 * Both must agree on every history.
 *
 * The seed of the first history is CHECKER_DIFF_SEED (default 1) and the
 * number of histories CHECKER_DIFF_COUNT (default 10000); a failure prints
 * the seed that reproduces it and the history as JSON Lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

enum {
    MAX_OPS = 12,
    MAX_KEYS = 3,
    MAX_LEN = 256
};

/* An op as the brute force sees it. */
struct bop
{
    enum checker_f f;
    int key;
    const struct checker_str *v; /* the invoke's values */
    int value_count;
    struct checker_str read; /* ok get */
    bool has_ret;            /* false: info or pending */
    bool mismatch;
    bool dropped;
    int64_t call;
    int64_t ret;
};

struct brute
{
    struct bop ops[MAX_OPS];
    int n;
    bool empty_is_absent;
};

/* A key's value: present or not, and its bytes. */
struct val
{
    bool present;
    size_t len;
    char bytes[MAX_LEN];
};

static bool val_is(const struct brute *b,
                   const struct val *v,
                   struct checker_str s)
{
    bool v_absent = !v->present || (b->empty_is_absent && v->len == 0);
    bool s_absent = s.ptr == NULL || (b->empty_is_absent && s.len == 0);
    if (v_absent || s_absent) {
        return v_absent == s_absent;
    }
    return v->len == s.len && memcmp(v->bytes, s.ptr, s.len) == 0;
}

static void val_set(struct val *v, struct checker_str s)
{
    v->present = s.ptr != NULL;
    v->len = s.len;
    if (s.len > 0) {
        memcpy(v->bytes, s.ptr, s.len);
    }
}

/* Applies op @o to @vals; false when its outcome contradicts them. */
static bool apply(const struct brute *b, const struct bop *o, struct val *vals)
{
    struct val *v = &vals[o->key];
    switch (o->f) {
        case CHECKER_GET:
            return val_is(b, v, o->read);
        case CHECKER_PUT:
            val_set(v, o->v[0]);
            return true;
        case CHECKER_DELETE:
            v->present = false;
            v->len = 0;
            return true;
        case CHECKER_APPEND:
            if (!v->present) {
                val_set(v, o->v[0]);
            } else {
                assert_true(v->len + o->v[0].len <= MAX_LEN);
                memcpy(v->bytes + v->len, o->v[0].ptr, o->v[0].len);
                v->len += o->v[0].len;
            }
            return true;
        case CHECKER_CAS:
            if (o->mismatch) {
                return !val_is(b, v, o->v[0]);
            }
            if (!val_is(b, v, o->v[0])) {
                /* An info cas that found another value did nothing. */
                return !o->has_ret;
            }
            val_set(v, o->v[1]);
            return true;
    }
    return false;
}

/* True when the ops not in @done can follow, in some order. */
static bool search(const struct brute *b, unsigned done, struct val *vals)
{
    bool all = true;
    for (int i = 0; i < b->n; i++) {
        if (!(done & (1u << i)) && b->ops[i].has_ret) {
            all = false;
        }
    }
    if (all) {
        return true; /* info ops left over never took effect */
    }
    for (int i = 0; i < b->n; i++) {
        if (done & (1u << i)) {
            continue;
        }
        /* i may go next unless some op still to place returned before i
         * was invoked. */
        bool blocked = false;
        for (int j = 0; j < b->n && !blocked; j++) {
            blocked = j != i && !(done & (1u << j)) && b->ops[j].has_ret &&
                      b->ops[j].ret < b->ops[i].call;
        }
        if (blocked) {
            continue;
        }
        struct val saved[MAX_KEYS];
        memcpy(saved, vals, sizeof saved);
        if (apply(b, &b->ops[i], vals) && search(b, done | (1u << i), vals)) {
            return true;
        }
        memcpy(vals, saved, sizeof saved);
    }
    return false;
}

static int key_index(const struct checker_event *ev)
{
    if (!ev->has_key) {
        return 0;
    }
    return ev->key.ptr[1] - '0'; /* the generator names keys k0, k1, ... */
}

/* The ops of @evs, in invoke order (the checker's op order too); returns
 * the set of those that have no effect and observe nothing. */
static unsigned brute_build(const struct checker_event *evs,
                            size_t n,
                            bool empty_is_absent,
                            struct brute *out)
{
    struct brute b;
    memset(&b, 0, sizeof b);
    b.empty_is_absent = empty_is_absent;
    int open[64];
    for (int p = 0; p < 64; p++) {
        open[p] = -1;
    }
    for (size_t k = 0; k < n; k++) {
        const struct checker_event *ev = &evs[k];
        int64_t t = ev->has_time ? ev->time : (int64_t)k;
        assert_true(ev->process >= 0 && ev->process < 64);
        if (ev->type == CHECKER_INVOKE) {
            assert_true(b.n < MAX_OPS);
            struct bop *o = &b.ops[b.n];
            o->f = ev->f;
            o->key = key_index(ev);
            o->v = ev->value;
            o->value_count = ev->value_count;
            o->call = t;
            open[ev->process] = b.n++;
            continue;
        }
        struct bop *o = &b.ops[open[ev->process]];
        open[ev->process] = -1;
        o->ret = t;
        o->has_ret = ev->type != CHECKER_INFO;
        o->mismatch =
            ev->type == CHECKER_FAIL && ev->mismatch && o->f == CHECKER_CAS;
        if (ev->type == CHECKER_OK && o->f == CHECKER_GET) {
            o->read = ev->value[0];
        }
        /* No effect and no observation: as if it never ran. */
        o->dropped = (ev->type == CHECKER_FAIL && !o->mismatch) ||
                     (o->f == CHECKER_GET && ev->type != CHECKER_OK);
    }
    unsigned done = 0;
    for (int i = 0; i < b.n; i++) {
        done |= b.ops[i].dropped ? 1u << i : 0;
    }
    *out = b;
    return done;
}

/* The brute force's verdict on @evs. */
static bool brute_linearizable(const struct checker_event *evs,
                               size_t n,
                               bool empty_is_absent)
{
    struct brute b;
    unsigned done = brute_build(evs, n, empty_is_absent, &b);
    struct val vals[MAX_KEYS];
    memset(vals, 0, sizeof vals);
    return search(&b, done, vals);
}

/* True when the positions the checker gave (1-based, per key) are a valid
 * linearization: every op with a return placed, real time respected within
 * each key, and each key's ops in that order accepted by the model. */
static bool witness_valid(const struct checker_event *evs,
                          size_t n,
                          bool empty_is_absent,
                          const uint32_t *pos)
{
    struct brute b;
    unsigned dropped = brute_build(evs, n, empty_is_absent, &b);
    for (int i = 0; i < b.n; i++) {
        bool placed = pos[i] > 0;
        if ((dropped & (1u << i)) ? placed : (b.ops[i].has_ret && !placed)) {
            return false;
        }
        for (int j = 0; j < b.n && placed; j++) {
            if (j != i && pos[j] > 0 && b.ops[j].key == b.ops[i].key &&
                b.ops[j].has_ret && b.ops[j].ret < b.ops[i].call &&
                pos[j] > pos[i]) {
                return false;
            }
        }
    }
    struct val vals[MAX_KEYS];
    memset(vals, 0, sizeof vals);
    for (uint32_t p = 1; p <= (uint32_t)b.n; p++) {
        for (int i = 0; i < b.n; i++) {
            if (pos[i] == p && !apply(&b, &b.ops[i], vals)) {
                return false;
            }
        }
    }
    return true;
}

static const struct checker_str pool[] = {
    {NULL, 0}, {"", 0}, {"v0", 2}, {"v1", 2}, {"v2", 2}, {"0", 1}, {"1", 1},
};

/* Changes one thing about one completion (or invoke) of @evs. */
static void mutate(struct checker_event *evs, size_t n, struct common_prng *rng)
{
    for (int tries = 0; tries < 20; tries++) {
        struct checker_event *ev = &evs[common_prng_below(rng, n)];
        struct checker_str s =
            pool[common_prng_below(rng, sizeof pool / sizeof pool[0])];
        switch (ev->type) {
            case CHECKER_OK:
                if (ev->f == CHECKER_GET) {
                    ev->value[0] = s; /* a different read */
                    return;
                }
                if (ev->f == CHECKER_CAS) {
                    ev->type = CHECKER_FAIL; /* claims a mismatch */
                    ev->mismatch = true;
                    return;
                }
                ev->type = CHECKER_FAIL; /* claims it had no effect */
                return;
            case CHECKER_FAIL:
                if (ev->f == CHECKER_GET) {
                    continue;
                }
                ev->type = CHECKER_OK; /* claims it took effect */
                ev->mismatch = false;
                return;
            case CHECKER_INFO:
                if (ev->f == CHECKER_GET) {
                    continue;
                }
                ev->type = CHECKER_OK;
                return;
            case CHECKER_INVOKE:
                if (ev->f == CHECKER_PUT && s.ptr != NULL) {
                    ev->value[0] = s;
                    return;
                }
                if (ev->f == CHECKER_CAS) {
                    ev->value[0] = s;
                    return;
                }
                continue;
        }
    }
}

static void dump(const struct checker_event *evs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        checker_event_write_jsonl(stderr, &evs[k]);
    }
}

/* The checker's verdict on @evs, fed event by event. */
static enum checker_verdict checker_verdict(const struct checker_event *evs,
                                            size_t n,
                                            bool empty_is_absent,
                                            uint32_t *pos)
{
    struct checker_history *h = checker_history_new();
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(checker_history_add(h, &evs[k]), 0);
    }
    struct checker_options o;
    checker_options_init(&o);
    o.threads = 1;
    o.absent_reads_empty = empty_is_absent;
    struct checker_result *r;
    assert_int_equal(checker_check(h, &o, &r), 0);
    enum checker_verdict v = r->verdict;
    if (pos != NULL && r->position != NULL) {
        memcpy(pos, r->position, r->ops * sizeof *pos);
    }
    checker_result_free(r);
    checker_history_free(h);
    return v;
}

/* On thousands of small histories, linearizable ones and mutants, the
 * checker and the brute force agree, every unmutated history is
 * linearizable, and the linearization the checker reports is valid. */
static void checker_agrees_with_brute_force(void **state)
{
    (void)state;
    uint64_t first = seed_from_env("CHECKER_DIFF_SEED", 1);
    uint64_t count = seed_from_env("CHECKER_DIFF_COUNT", 10000);
    unsigned broken = 0;
    unsigned mutants = 0;
    for (uint64_t seed = first; seed < first + count; seed++) {
        struct common_prng rng;
        common_prng_seed(&rng, seed);
        struct checker_gen_options o;
        checker_gen_options_init(&o);
        o.seed = seed;
        o.ops = (size_t)common_prng_range(&rng, 1, 10);
        o.keys = (size_t)common_prng_below(&rng, MAX_KEYS + 1);
        o.processes = (size_t)common_prng_range(&rng, 1, 5);
        o.values = (size_t)common_prng_range(&rng, 1, 3);
        o.info_rate = 0.15;
        o.fail_rate = 0.1;
        o.kv_ops = common_prng_chance(&rng, 0.7);
        o.with_time = common_prng_chance(&rng, 0.8);
        /* A quarter of the histories are gets and appends only, which
         * the search cuts short by the values read (search.c). */
        o.appends = seed % 4 == 0 && o.keys > 0;
        bool empty = common_prng_chance(&rng, 0.2);
        struct checker_gen *g;
        assert_int_equal(checker_generate(&o, &g), 0);
        bool mutated = common_prng_chance(&rng, 0.7);
        if (mutated) {
            int k = (int)common_prng_range(&rng, 1, 2);
            for (int i = 0; i < k; i++) {
                mutate(g->events, g->events_len, &rng);
            }
        }
        bool want = brute_linearizable(g->events, g->events_len, empty);
        uint32_t pos[MAX_OPS] = {0};
        enum checker_verdict got =
            checker_verdict(g->events, g->events_len, empty, pos);
        bool agree = want == (got == CHECKER_LINEARIZABLE);
        bool witness = got != CHECKER_LINEARIZABLE ||
                       witness_valid(g->events, g->events_len, empty, pos);
        if (!agree || !witness || (!mutated && !want)) {
            print_error(
                "seed %llu (CHECKER_DIFF_SEED=%llu "
                "CHECKER_DIFF_COUNT=1): brute force %s, checker %s%s, "
                "absent reads empty %d, history:\n",
                (unsigned long long)seed, (unsigned long long)seed,
                want ? "linearizable" : "not linearizable",
                checker_verdict_name(got),
                witness ? "" : " with an invalid linearization", empty);
            dump(g->events, g->events_len);
            checker_gen_free(g);
            fail();
        }
        mutants += mutated;
        broken += mutated && !want;
        checker_gen_free(g);
    }
    print_message(
        "%llu histories, %u mutants, %u of them not "
        "linearizable\n",
        (unsigned long long)count, mutants, broken);
    /* The mutations must break a fair share, or the test says little. */
    if (count >= 1000) {
        assert_true(broken * 5 > mutants);
    }
}

/* Larger generated histories (hundreds of ops, many keys) are
 * linearizable, as constructed. */
static void generated_histories_are_linearizable(void **state)
{
    (void)state;
    uint64_t first = seed_from_env("CHECKER_DIFF_SEED", 1);
    for (uint64_t seed = first; seed < first + 30; seed++) {
        struct checker_gen_options o;
        checker_gen_options_init(&o);
        o.seed = seed;
        o.ops = 600;
        o.keys = seed % 5 == 0 ? 0 : 1 + seed % 20;
        o.kv_ops = o.keys > 0;
        o.processes = 2 + seed % 9;
        o.info_rate = 0.05;
        o.fail_rate = 0.05;
        struct checker_gen *g;
        assert_int_equal(checker_generate(&o, &g), 0);
        enum checker_verdict v =
            checker_verdict(g->events, g->events_len, false, NULL);
        if (v != CHECKER_LINEARIZABLE) {
            print_error("seed %llu: %s\n", (unsigned long long)seed,
                        checker_verdict_name(v));
            fail();
        }
        checker_gen_free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checker_agrees_with_brute_force),
        cmocka_unit_test(generated_histories_are_linearizable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
