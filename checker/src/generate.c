/*
 * Random histories that are linearizable by construction.
 *
 * Each process runs one op at a time: it invokes at some instant, the op
 * takes effect at a random instant strictly inside its interval, and it
 * completes later. Applying every op to a sequential map in the order of
 * those instants gives each completion its answer (the value a get read,
 * whether a cas matched), so that order is a witness linearization. Some
 * ops end fail without effect, some info (applied or not, at random; a
 * process's last info op may lack its completion line altogether), and a
 * cas that finds another value ends fail with "mismatch".
 *
 * No two events of one process share an instant, and events are written in
 * time order with invokes before completions at equal times, so the history
 * means the same whether or not its time fields are kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void checker_gen_options_init(struct checker_gen_options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->ops = 1000;
    o->keys = 10;
    o->processes = 5;
    o->values = 5;
    o->info_rate = 0.01;
    o->fail_rate = 0.01;
    o->kv_ops = true;
    o->with_time = true;
}

enum fate {
    FATE_OK,
    FATE_FAIL,
    FATE_INFO_APPLIED,
    FATE_INFO_LOST
};

/* A string in the pool: offset and length; off SIZE_MAX is null. */
struct pstr
{
    size_t off;
    size_t len;
};

struct gop
{
    size_t process;
    size_t key;
    enum checker_f f;
    enum fate fate;
    struct pstr v[2]; /* put/append value, cas [expected, new] */
    struct pstr read; /* what a get read */
    bool mismatch;    /* a cas that found another value */
    bool pending;     /* no completion line */
    int64_t call;
    int64_t lin;
    int64_t ret;
};

struct gen_impl
{
    struct checker_gen pub; /* first: checker_gen_free casts back */
    char *pool;
};

struct pool
{
    char *buf;
    size_t len;
    size_t cap;
};

static const struct pstr NULL_STR = {SIZE_MAX, 0};

static int pool_put(struct pool *p, const char *s, size_t len, struct pstr *out)
{
    if (common_grow(&p->buf, &p->cap, p->len + len + 1, 1, ARRAY_MIN_CAP) !=
        0) {
        return COMMON_ENOMEM;
    }
    if (len > 0) {
        memcpy(p->buf + p->len, s, len);
    }
    out->off = p->len;
    out->len = len;
    p->len += len;
    return 0;
}

static int pool_printf(struct pool *p,
                       struct pstr *out,
                       const char *prefix,
                       uint64_t n)
{
    char tmp[48];
    int len =
        snprintf(tmp, sizeof tmp, "%s%llu", prefix, (unsigned long long)n);
    return pool_put(p, tmp, (size_t)len, out);
}

static bool pstr_eq(const struct pool *p, struct pstr a, struct pstr b)
{
    if (a.off == SIZE_MAX || b.off == SIZE_MAX) {
        return a.off == b.off;
    }
    return a.len == b.len &&
           (a.len == 0 || memcmp(p->buf + a.off, p->buf + b.off, a.len) == 0);
}

/* Draws the op a process runs next (not its times). */
static int draw_op(const struct checker_gen_options *o,
                   struct common_prng *rng,
                   struct pool *pool,
                   struct gop *g)
{
    static const enum checker_f kv[] = {
        CHECKER_GET, CHECKER_GET, CHECKER_GET,    CHECKER_PUT,   CHECKER_PUT,
        CHECKER_CAS, CHECKER_CAS, CHECKER_APPEND, CHECKER_DELETE};
    static const enum checker_f reg[] = {CHECKER_GET, CHECKER_GET, CHECKER_GET,
                                         CHECKER_PUT, CHECKER_PUT, CHECKER_CAS,
                                         CHECKER_CAS};
    g->key = o->keys > 0 ? (size_t)common_prng_below(rng, o->keys) : 0;
    g->f = o->kv_ops ? kv[common_prng_below(rng, sizeof kv / sizeof kv[0])]
                     : reg[common_prng_below(rng, sizeof reg / sizeof reg[0])];
    if (o->appends) {
        g->f = common_prng_chance(rng, 0.5) ? CHECKER_GET : CHECKER_APPEND;
    }
    g->v[0] = g->v[1] = g->read = NULL_STR;
    uint64_t values = o->values > 0 ? o->values : 1;
    int rv = 0;
    switch (g->f) {
        case CHECKER_PUT:
            rv = pool_printf(pool, &g->v[0], "v",
                             common_prng_below(rng, values));
            break;
        case CHECKER_APPEND:
            rv =
                pool_printf(pool, &g->v[0], "", common_prng_below(rng, values));
            if (rv == 0 && o->appends && common_prng_chance(rng, 0.1)) {
                g->v[0].len = 0; /* "", which still makes an absent key "" */
            }
            break;
        case CHECKER_CAS:
            if (!common_prng_chance(rng, 0.15)) {
                rv = pool_printf(pool, &g->v[0], "v",
                                 common_prng_below(rng, values));
            }
            if (rv == 0) {
                rv = pool_printf(pool, &g->v[1], "v",
                                 common_prng_below(rng, values));
            }
            break;
        case CHECKER_GET:
        case CHECKER_DELETE:
            break;
    }
    double r = common_prng_double(rng);
    g->fate = r < o->info_rate
                  ? (common_prng_chance(rng, 0.5) ? FATE_INFO_APPLIED
                                                  : FATE_INFO_LOST)
              : r < o->info_rate + o->fail_rate ? FATE_FAIL
                                                : FATE_OK;
    return rv;
}

/* Runs @g against the sequential map @state (one value per key). */
static int apply(struct pool *pool, struct pstr *state, struct gop *g)
{
    struct pstr *cur = &state[g->key];
    switch (g->f) {
        case CHECKER_GET:
            g->read = *cur;
            return 0;
        case CHECKER_PUT:
            *cur = g->v[0];
            return 0;
        case CHECKER_DELETE:
            *cur = NULL_STR;
            return 0;
        case CHECKER_CAS:
            if (!pstr_eq(pool, *cur, g->v[0])) {
                g->mismatch = true;
                return 0;
            }
            *cur = g->v[1];
            return 0;
        case CHECKER_APPEND: {
            if (cur->off == SIZE_MAX) {
                *cur = g->v[0];
                return 0;
            }
            /* The pool may move: copy through offsets. */
            size_t len = cur->len + g->v[0].len;
            struct pstr out;
            if (common_grow(&pool->buf, &pool->cap, pool->len + len + 1, 1,
                            ARRAY_MIN_CAP) != 0) {
                return COMMON_ENOMEM;
            }
            memcpy(pool->buf + pool->len, pool->buf + cur->off, cur->len);
            memcpy(pool->buf + pool->len + cur->len, pool->buf + g->v[0].off,
                   g->v[0].len);
            out.off = pool->len;
            out.len = len;
            pool->len += len;
            *cur = out;
            return 0;
        }
    }
    return 0;
}

static int by_lin(const void *a, const void *b)
{
    const struct gop *const *x = a;
    const struct gop *const *y = b;
    if ((*x)->lin != (*y)->lin) {
        return (*x)->lin < (*y)->lin ? -1 : 1;
    }
    return *x < *y ? -1 : *x > *y;
}

/* Events: (time, invoke before completion, op) order. */
struct gev
{
    int64_t t;
    int completion;
    size_t op;
};

static int by_event(const void *a, const void *b)
{
    const struct gev *x = a;
    const struct gev *y = b;
    if (x->t != y->t) {
        return x->t < y->t ? -1 : 1;
    }
    if (x->completion != y->completion) {
        return x->completion - y->completion;
    }
    return x->op < y->op ? -1 : x->op > y->op;
}

static struct checker_str str_at(const char *pool, struct pstr s)
{
    struct checker_str out = {NULL, 0};
    if (s.off != SIZE_MAX) {
        out.ptr = pool + s.off;
        out.len = s.len;
    }
    return out;
}

/* Times and ops: processes take turns by their clocks. */
static int draw_all(const struct checker_gen_options *o,
                    struct common_prng *rng,
                    struct pool *pool,
                    struct gop *ops,
                    size_t *last)
{
    int64_t *clock = calloc(o->processes, sizeof *clock);
    if (clock == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t p = 0; p < o->processes; p++) {
        clock[p] = (int64_t)common_prng_below(rng, 20);
        last[p] = SIZE_MAX;
    }
    for (size_t k = 0; k < o->ops; k++) {
        size_t p = 0;
        for (size_t q = 1; q < o->processes; q++) {
            if (clock[q] < clock[p]) {
                p = q;
            }
        }
        struct gop *g = &ops[k];
        memset(g, 0, sizeof *g);
        g->process = p;
        if (draw_op(o, rng, pool, g) != 0) {
            free(clock);
            return COMMON_ENOMEM;
        }
        g->call = clock[p] + 1 + (int64_t)common_prng_below(rng, 10);
        g->lin = g->call + 1 + (int64_t)common_prng_below(rng, 20);
        g->ret = g->lin + 1 + (int64_t)common_prng_below(rng, 20);
        clock[p] = g->ret;
        last[p] = k;
    }
    free(clock);
    return 0;
}

int checker_generate(const struct checker_gen_options *o,
                     struct checker_gen **out)
{
    *out = NULL;
    if (o->processes == 0 || o->ops > SIZE_MAX / 4 / sizeof(struct gev)) {
        return COMMON_EINVAL;
    }
    struct common_prng rng;
    common_prng_seed(&rng, o->seed);
    struct pool pool = {NULL, 0, 0};
    struct gop *ops = calloc(o->ops + 1, sizeof *ops);
    struct gop **order = calloc(o->ops + 1, sizeof *order);
    struct pstr *state = malloc((o->keys + 1) * sizeof *state);
    size_t *last = malloc(o->processes * sizeof *last);
    struct gev *evs = calloc(2 * o->ops + 1, sizeof *evs);
    struct pstr *keys = malloc((o->keys + 1) * sizeof *keys);
    struct gen_impl *g = calloc(1, sizeof *g);
    int rv = COMMON_ENOMEM;
    if (ops == NULL || order == NULL || state == NULL || last == NULL ||
        evs == NULL || keys == NULL || g == NULL) {
        goto out_free;
    }
    for (size_t k = 0; k < o->keys; k++) {
        if (pool_printf(&pool, &keys[k], "k", k) != 0) {
            goto out_free;
        }
    }
    if (draw_all(o, &rng, &pool, ops, last) != 0) {
        goto out_free;
    }
    for (size_t k = 0; k <= o->keys; k++) {
        state[k] = NULL_STR;
    }
    for (size_t k = 0; k < o->ops; k++) {
        order[k] = &ops[k];
    }
    qsort(order, o->ops, sizeof *order, by_lin);
    for (size_t k = 0; k < o->ops; k++) {
        struct gop *x = order[k];
        bool applied = x->fate == FATE_OK || x->fate == FATE_INFO_APPLIED;
        if (applied && apply(&pool, state, x) != 0) {
            goto out_free;
        }
    }
    for (size_t p = 0; p < o->processes; p++) {
        struct gop *x = last[p] == SIZE_MAX ? NULL : &ops[last[p]];
        if (x != NULL && x->fate >= FATE_INFO_APPLIED) {
            x->pending = common_prng_chance(&rng, 0.5);
        }
    }
    size_t n = 0;
    for (size_t k = 0; k < o->ops; k++) {
        evs[n++] = (struct gev){ops[k].call, 0, k};
        if (!ops[k].pending) {
            evs[n++] = (struct gev){ops[k].ret, 1, k};
        }
    }
    qsort(evs, n, sizeof *evs, by_event);
    g->pub.events = calloc(n + 1, sizeof *g->pub.events);
    if (g->pub.events == NULL) {
        goto out_free;
    }
    g->pool = pool.buf;
    pool.buf = NULL;
    for (size_t k = 0; k < n; k++) {
        const struct gop *x = &ops[evs[k].op];
        struct checker_event *ev = &g->pub.events[k];
        ev->process = (int64_t)x->process;
        ev->f = x->f;
        ev->has_time = o->with_time;
        ev->time = evs[k].t;
        if (o->keys > 0) {
            ev->has_key = true;
            ev->key = str_at(g->pool, keys[x->key]);
        }
        if (!evs[k].completion) {
            ev->type = CHECKER_INVOKE;
            ev->value_count = x->f == CHECKER_CAS ? 2
                              : (x->f == CHECKER_PUT || x->f == CHECKER_APPEND)
                                  ? 1
                                  : 0;
            ev->value[0] = str_at(g->pool, x->v[0]);
            ev->value[1] = str_at(g->pool, x->v[1]);
        } else if (x->fate == FATE_FAIL) {
            ev->type = CHECKER_FAIL;
        } else if (x->fate != FATE_OK) {
            ev->type = CHECKER_INFO;
        } else if (x->f == CHECKER_CAS && x->mismatch) {
            ev->type = CHECKER_FAIL;
            ev->mismatch = true;
        } else {
            ev->type = CHECKER_OK;
            if (x->f == CHECKER_GET) {
                ev->value_count = 1;
                ev->value[0] = str_at(g->pool, x->read);
            }
        }
    }
    g->pub.events_len = n;
    rv = 0;

out_free:
    free(pool.buf);
    free(ops);
    free(order);
    free(state);
    free(last);
    free(evs);
    free(keys);
    if (rv != 0) {
        checker_gen_free(g != NULL ? &g->pub : NULL);
        return rv;
    }
    *out = &g->pub;
    return 0;
}

void checker_gen_free(struct checker_gen *gen)
{
    if (gen == NULL) {
        return;
    }
    struct gen_impl *g = (struct gen_impl *)(void *)gen;
    free(g->pub.events);
    free(g->pool);
    free(g);
}
