/*
 * The linearizability search for one key: Wing & Gong's algorithm (1993,
 * "Testing and verifying concurrent objects") with Lowe's memoisation
 * (2017, "Testing for linearizability"), in the shape porcupine popularised.
 *
 * The ops' call and return events form one list sorted by time, calls
 * before returns at equal times (intervals are closed, so ops that touch are
 * concurrent). Scanning the list from its head, every call met before the
 * first return is an op that may take effect next. The search tries them in
 * turn: when the model accepts one and the resulting configuration (set of
 * linearized ops, state) is new, the op's two events are cut out of the list
 * (dancing links: they remember their neighbours, so undoing is O(1)), the
 * op is pushed, and the scan starts over. Meeting a return means the op it
 * ends must have taken effect already and has not: back off, undo the last
 * op and try the candidate after it. The key is linearizable when every op
 * with a return is placed; ops with unknown outcome (info) have only a call,
 * so they may be placed any time after it, or never.
 *
 *     scan ──call, model ok, new config──▶ push, lift, scan from head
 *      │                                        ▲
 *      └──return (or forced op's config seen)──▶ pop, unlift, scan on
 *
 * Three refinements over the textbook loop:
 * - the set of linearized ops is a bitset hashed Zobrist-style (XOR of a
 *   random word per op), so a push or pop updates the hash in O(1);
 * - an op that cannot change the state (a get, a cas mismatch) that the
 *   model accepts is placed without leaving a choice point: if any order
 *   completes the prefix, one that places it first does (it can move
 *   forward: nothing unplaced returned before its call, and the ops it
 *   jumps over see the same states). So when it is popped, the search pops
 *   on to the previous choice point. Each level of the search first makes
 *   a pass over its candidates for such ops (reads_done false), then a
 *   pass over the others;
 * - among candidates that are alike (same kind, same values) only the one
 *   that returns first is tried (find_twins says why that is enough).
 *
 * The state of a search lives in struct search, not on the C stack, so a
 * search can stop when its step budget is spent and resume later on any
 * thread (check.c schedules keys that way).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Iterations between two looks at the clock and at the other workers. */
enum {
    CHECK_EVERY = 4096
};

struct search_frame
{
    uint32_t ent;
    uint32_t state;
    bool forced;
};

struct search_timed
{
    int64_t t;
    uint32_t op;
};

/* Carves the arrays of a search of @n ops and @ents entries from one
 * allocation. */
static int carve(struct search *s, size_t n, size_t ents)
{
    struct search_work *w = &s->w;
    s->bits.words = (n + 63) / 64 + 1;
    size_t sizes[] = {
        (ents + 1) * sizeof(int32_t),
        (ents + 1) * sizeof(int32_t),
        (ents + 1) * sizeof(uint32_t),
        (ents + 1) * sizeof(int32_t),
        n * sizeof(struct search_timed),
        n * sizeof(uint64_t),
        (n + 1) * sizeof(struct search_frame),
        s->bits.words * sizeof(uint64_t),
        (n + 1) * sizeof(int32_t),
        (n + 1) * sizeof(int32_t),
        n * sizeof(uint8_t),
    };
    size_t total = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        sizes[k] = (sizes[k] + 15) & ~(size_t)15; /* keep arrays aligned */
        total += sizes[k];
    }
    char *p = calloc(1, total);
    if (p == NULL) {
        return COMMON_ENOMEM;
    }
    s->buf = p;
    w->next = (int32_t *)(void *)p;
    w->prev = (int32_t *)(void *)(p += sizes[0]);
    w->ent_op = (uint32_t *)(void *)(p += sizes[1]);
    w->ent_match = (int32_t *)(void *)(p += sizes[2]);
    w->rets = (struct search_timed *)(void *)(p += sizes[3]);
    w->zob = (uint64_t *)(void *)(p += sizes[4]);
    w->stack = (struct search_frame *)(void *)(p += sizes[5]);
    s->bits.w = (uint64_t *)(void *)(p += sizes[6]);
    w->gnext = (int32_t *)(void *)(p += sizes[7]);
    w->gprev = (int32_t *)(void *)(p += sizes[8]);
    w->twin = (uint8_t *)(void *)(p += sizes[9]);
    /* best[] is handed to the caller at the end: its own allocation. */
    s->best = malloc((n + 1) * sizeof *s->best);
    return s->best != NULL ? 0 : COMMON_ENOMEM;
}

static int by_time(const void *a, const void *b)
{
    const struct search_timed *x = a;
    const struct search_timed *y = b;
    if (x->t != y->t) {
        return x->t < y->t ? -1 : 1;
    }
    return x->op < y->op ? -1 : x->op > y->op;
}

/* Ops of one kind with the same values (two puts of "v1", two deletes) have
 * the same effect on every state. When two such ops are both candidates,
 * trying the one that returns later first is never needed: a linearization
 * that places it before the other stays one when the two swap places (the
 * earlier-returning op moves forward, which its call allows; the other
 * moves back to a place before the first one's return, so before its own),
 * and the states along it do not change. An info op returns last (never),
 * two info ops in op order. This is the symmetry reduction of model
 * checking (Emerson & Sistla 1996, "Symmetry and model checking") applied
 * to the candidates of one level.
 *
 * twin[i] says that some op like i may return before it while both are
 * candidates (its call is not after i's return): only then does the search
 * look for such an op among the level's candidates. */
struct twin_slot
{
    uint64_t key; /* kind, a, b + 1; 0 is an empty slot */
    uint32_t b;
    int64_t min_call;
};

static uint64_t twin_key(const struct pop *o)
{
    return ((uint64_t)o->kind << 32 | o->a) + 1;
}

static void twin_note(struct twin_slot *t,
                      size_t mask,
                      const struct pop *ops,
                      uint32_t i,
                      uint8_t *twin)
{
    const struct pop *o = &ops[i];
    uint64_t key = twin_key(o);
    size_t k = common_mix64(key ^ (uint64_t)o->b << 40) & mask;
    while (t[k].key != 0 && (t[k].key != key || t[k].b != o->b)) {
        k = (k + 1) & mask;
    }
    if (t[k].key == 0) {
        t[k].key = key;
        t[k].b = o->b;
        t[k].min_call = o->call;
        return;
    }
    twin[i] = !o->has_ret || t[k].min_call <= o->ret;
    if (o->call < t[k].min_call) {
        t[k].min_call = o->call;
    }
}

/* Fills w->twin from the ops taken in return order. Without memory for
 * the table, no op has a twin: the search is the same, only without the
 * reduction. */
static void find_twins(const struct pop *ops, size_t n, struct search_work *w)
{
    size_t cap = 16;
    while (cap < 2 * n) {
        cap *= 2;
    }
    struct twin_slot *t = calloc(cap, sizeof *t);
    if (t == NULL) {
        return;
    }
    for (size_t e = 1; e <= w->ents; e++) {
        if (w->ent_match[e] < 0) {
            twin_note(t, cap - 1, ops, w->ent_op[e], w->twin);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!ops[i].has_ret) {
            twin_note(t, cap - 1, ops, i, w->twin);
        }
    }
    free(t);
}

/* Whether a candidate of this level like the one at call entry @e returns
 * before it (see find_twins). */
static bool has_earlier_twin(const struct search_work *w,
                             const struct pop *ops,
                             int32_t e)
{
    uint32_t i = w->ent_op[e];
    const struct pop *o = &ops[i];
    int64_t key =
        w->ent_match[e] > 0 ? w->ent_match[e] : (int64_t)w->ents + 1 + i;
    for (int32_t f = w->next[0]; w->ent_match[f] >= 0; f = w->next[f]) {
        uint32_t j = w->ent_op[f];
        const struct pop *p = &ops[j];
        if (f == e || p->kind != o->kind || p->a != o->a || p->b != o->b) {
            continue;
        }
        int64_t kj =
            w->ent_match[f] > 0 ? w->ent_match[f] : (int64_t)w->ents + 1 + j;
        if (kj < key) {
            return true;
        }
    }
    return false;
}

/* Merges the calls (the ops are in call order) with the returns sorted by
 * time into the list 1..ents; a call comes before a return at the same
 * time. */
static void build_list(const struct pop *ops, size_t n, struct search_work *w)
{
    size_t rets = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (ops[i].has_ret) {
            w->rets[rets].t = ops[i].ret;
            w->rets[rets].op = i;
            rets++;
        }
    }
    qsort(w->rets, rets, sizeof *w->rets, by_time);
    /* A call comes before its return (time never goes backwards within a
     * process, and calls win ties), so when a return is placed its call's
     * entry is known: zob[] holds it until the Zobrist keys are drawn. */
    int32_t e = 0;
    size_t c = 0;
    size_t r = 0;
    while (c < n || r < rets) {
        bool take_call = c < n && (r == rets || ops[c].call <= w->rets[r].t);
        e++;
        if (take_call) {
            w->ent_op[e] = (uint32_t)c;
            w->ent_match[e] = 0;
            w->zob[c] = (uint64_t)e;
            c++;
        } else {
            uint32_t op = w->rets[r].op;
            w->ent_op[e] = op;
            w->ent_match[e] = -1;
            w->ent_match[w->zob[op]] = e;
            r++;
        }
    }
    size_t ents = (size_t)e;
    w->ents = ents;
    w->ent_match[0] = -1; /* the head stops a scan like a return */
    for (size_t k = 0; k <= ents; k++) {
        w->next[k] = k == ents ? 0 : (int32_t)(k + 1);
        w->prev[k] = k == 0 ? (int32_t)ents : (int32_t)(k - 1);
    }
    find_twins(ops, n, w);
    for (size_t i = 0; i < n; i++) {
        w->zob[i] = common_mix64(0x5eed0000u + i);
    }
}

/* Appends only: links the ok gets in the order of their returns (the
 * list's order). */
static void build_gets(const struct pop *ops, struct search_work *w)
{
    int32_t last = 0;
    for (size_t e = 1; e <= w->ents; e++) {
        uint32_t i = w->ent_op[e];
        if (w->ent_match[e] < 0 && ops[i].kind == POP_GET) {
            w->gnext[last] = (int32_t)i + 1;
            w->gprev[i + 1] = last;
            last = (int32_t)i + 1;
        }
    }
    w->gnext[last] = 0;
    w->gprev[0] = last;
}

/* Cuts get @i out of the get list, and puts it back (in reverse order). */
static inline void glift(struct search_work *w, uint32_t i)
{
    int32_t g = (int32_t)i + 1;
    w->gnext[w->gprev[g]] = w->gnext[g];
    w->gprev[w->gnext[g]] = w->gprev[g];
}

static inline void gunlift(struct search_work *w, uint32_t i)
{
    int32_t g = (int32_t)i + 1;
    w->gnext[w->gprev[g]] = g;
    w->gprev[w->gnext[g]] = g;
}

/* Cuts call entry @e (and its return) out of the list. */
static inline void lift(struct search_work *w, int32_t e)
{
    int32_t *next = w->next;
    int32_t *prev = w->prev;
    next[prev[e]] = next[e];
    prev[next[e]] = prev[e];
    int32_t r = w->ent_match[e];
    if (r > 0) {
        next[prev[r]] = next[r];
        prev[next[r]] = prev[r];
    }
}

/* Puts them back; lifts are undone in reverse order. */
static inline void unlift(struct search_work *w, int32_t e)
{
    int32_t *next = w->next;
    int32_t *prev = w->prev;
    int32_t r = w->ent_match[e];
    if (r > 0) {
        next[prev[r]] = r;
        prev[next[r]] = r;
    }
    next[prev[e]] = e;
    prev[next[e]] = e;
}

static inline void bit_set(struct search_bits *b, uint32_t i)
{
    size_t k = i / 64;
    b->w[k] |= (uint64_t)1 << (i % 64);
    if (k >= b->hi) {
        b->hi = k + 1;
    }
    while (b->w[b->lo] == UINT64_MAX) {
        b->lo++; /* the spare last word is never full */
    }
}

static inline void bit_clear(struct search_bits *b, uint32_t i)
{
    size_t k = i / 64;
    b->w[k] &= ~((uint64_t)1 << (i % 64));
    if (k < b->lo) {
        b->lo = k;
    }
    while (b->hi > 0 && b->w[b->hi - 1] == 0) {
        b->hi--;
    }
}

int search_start(struct search *s,
                 struct model *m,
                 const struct pop *ops,
                 size_t n)
{
    memset(s, 0, sizeof *s);
    memo_init(&s->memo);
    s->m = m;
    s->ops = ops;
    s->n = n;
    s->appends = true;
    for (size_t i = 0; i < n; i++) {
        s->remaining += ops[i].has_ret ? 1 : 0;
        s->appends &= ops[i].kind == POP_GET || ops[i].kind == POP_APPEND;
        assert(i == 0 || ops[i - 1].call <= ops[i].call);
        assert(!ops[i].has_ret || ops[i].call <= ops[i].ret);
    }
    if (n + s->remaining >= INT32_MAX) {
        return COMMON_ENOMEM;
    }
    int rv = carve(s, n, n + s->remaining);
    if (rv != 0) {
        return rv;
    }
    build_list(ops, n, &s->w);
    if (s->appends) {
        build_gets(ops, &s->w);
    }
    s->e = s->w.next[0];
    return 0;
}

void search_fini(struct search *s)
{
    /* What this key held leaves the common count with it. */
    s->budget.memo = 0;
    s->budget.model = 0;
    mem_budget_sync(&s->budget);
    memo_fini(&s->memo);
    free(s->buf);
    free(s->best);
    s->buf = NULL;
    s->best = NULL;
}

static bool should_stop(struct search *s,
                        const struct search_limits *lim,
                        enum search_status *why)
{
    if (lim->memory_bytes != 0) {
        size_t model = model_bytes(s->m);
        if (memo_bytes(&s->memo) + model > lim->memory_bytes) {
            *why = SEARCH_NOMEM;
            return true;
        }
        /* The memo and the model ask the budget before their tables grow,
         * so that no doubling overshoots it between these checks. */
        s->budget.limit = lim->memory_bytes;
        s->budget.memo = memo_bytes(&s->memo);
        s->budget.model = model;
        s->budget.all = lim->memory_all;
        s->budget.all_limit = lim->memory_all_bytes;
        mem_budget_sync(&s->budget);
        if (lim->memory_all != NULL &&
            atomic_load_explicit(lim->memory_all, memory_order_relaxed) >
                lim->memory_all_bytes) {
            *why = SEARCH_NOMEM;
            return true;
        }
    }
    /* A rehash looks at the deadline as it goes (mem_budget_late). */
    s->budget.deadline_ns = lim->deadline_ns;
    s->memo.budget = &s->budget;
    s->m->budget = &s->budget;
    if (lim->min_failed != NULL &&
        atomic_load_explicit(lim->min_failed, memory_order_relaxed) <
            lim->self) {
        *why = SEARCH_ABORTED;
        return true;
    }
    if (lim->deadline_ns != 0 && common_now_ns() >= lim->deadline_ns) {
        *why = SEARCH_TIMEOUT;
        return true;
    }
    return false;
}

/* A table could not grow: past the memory budget, or its rehash stopped
 * at the deadline. */
static enum search_status grow_failed(const struct search *s)
{
    return s->budget.timed_out ? SEARCH_TIMEOUT : SEARCH_NOMEM;
}

/* Places call entry @e, whose op the model took from s->state to @ns: the
 * configuration is new (it is in the memo now). */
static inline void push(struct search *s, int32_t e, uint32_t ns, bool forced)
{
    struct search_work *w = &s->w;
    struct search_frame *f = &w->stack[s->depth++];
    f->ent = (uint32_t)e;
    f->state = s->state;
    f->forced = forced;
    lift(w, e);
    if (s->appends && s->ops[w->ent_op[e]].kind == POP_GET) {
        glift(w, w->ent_op[e]);
    }
    s->state = ns;
    s->remaining -= s->ops[w->ent_op[e]].has_ret ? 1 : 0;
    if (s->depth > s->best_len) {
        for (size_t k = s->synced; k < s->depth; k++) {
            s->best[k] = w->ent_op[w->stack[k].ent];
        }
        s->best_len = s->synced = s->depth;
        s->memo.depth = s->depth;
    }
}

/* Undoes placements back to the last choice point: past every forced op,
 * and one more. False when there is none left (the key fails). */
static inline bool pop(struct search *s)
{
    struct search_work *w = &s->w;
    while (s->depth > 0) {
        struct search_frame f = w->stack[--s->depth];
        uint32_t i = w->ent_op[f.ent];
        unlift(w, (int32_t)f.ent);
        if (s->appends && s->ops[i].kind == POP_GET) {
            gunlift(w, i);
        }
        bit_clear(&s->bits, i);
        s->hz ^= w->zob[i];
        s->state = f.state;
        s->remaining += s->ops[i].has_ret ? 1 : 0;
        if (s->synced > s->depth) {
            s->synced = s->depth;
        }
        s->e = w->next[f.ent];
        if (!f.forced) {
            s->reads_done = true; /* it was chosen in the second pass */
            return true;
        }
    }
    return false;
}

/* Appends only: whether placing op @i keeps the state a prefix of the
 * value of the first unplaced get (see "Appends" above). */
static inline bool keeps_prefix(const struct search *s,
                                const struct pop *op,
                                uint32_t i)
{
    const struct search_work *w = &s->w;
    int32_t g = w->gnext[0];
    if (g == 0) {
        return true; /* no get left to reach */
    }
    if (op->kind == POP_APPEND) {
        return model_append_keeps_prefix(s->m, s->state, op->a,
                                         s->ops[g - 1].a);
    }
    /* A get leaves the state as it is; once the first one is placed, the
     * next one bounds the state. */
    int32_t next = w->gnext[g];
    return (uint32_t)g != i + 1 || next == 0 ||
           model_prefix_of(s->m, op->a, s->ops[next - 1].a);
}

enum search_status search_resume(struct search *s,
                                 const struct search_limits *lim)
{
    struct search_work *w = &s->w;
    struct model *m = s->m;
    uint64_t stop_at = s->steps + lim->steps;
    unsigned tick = 0;
    enum search_status why;
    while (s->remaining > 0) {
        if (++tick == CHECK_EVERY) {
            tick = 0;
            if (should_stop(s, lim, &why)) {
                return why;
            }
            if (s->steps >= stop_at) {
                return SEARCH_PAUSED;
            }
        }
        int32_t e = s->e;
        if (w->ent_match[e] < 0) {
            /* The first unplaced return: the end of this level's
             * candidates. After the read pass, try the others. */
            if (!s->reads_done) {
                s->reads_done = true;
                s->e = w->next[0];
                continue;
            }
            if (!pop(s)) {
                return SEARCH_NOT_LINEARIZABLE;
            }
            continue;
        }
        uint32_t i = w->ent_op[e];
        const struct pop *op = &s->ops[i];
        bool read_only = model_read_only(op);
        if (read_only == s->reads_done) {
            s->e = w->next[e];
            continue;
        }
        if (!read_only && w->twin[i] && has_earlier_twin(w, s->ops, e)) {
            s->e = w->next[e];
            continue;
        }
        uint32_t ns;
        s->steps++;
        if ((s->appends && !keeps_prefix(s, op, i)) ||
            !model_step(m, op, s->state, &ns)) {
            if (m->error != 0) {
                return grow_failed(s);
            }
            s->e = w->next[e];
            continue;
        }
        bit_set(&s->bits, i);
        s->hz ^= w->zob[i];
        size_t hi = s->bits.hi > s->bits.lo ? s->bits.hi : s->bits.lo;
        int added = memo_add(&s->memo, s->hz ^ common_mix64(ns), ns, s->bits.w,
                             s->bits.lo, hi);
        if (added < 0) {
            return grow_failed(s);
        }
        if (added > 0) {
            push(s, e, ns, read_only);
            s->reads_done = false;
            s->e = w->next[0];
            continue;
        }
        bit_clear(&s->bits, i);
        s->hz ^= w->zob[i];
        if (!read_only) {
            s->e = w->next[e];
            continue;
        }
        /* Placing this read-only op first was the only choice worth
         * making here, and that configuration is known to fail. */
        if (!pop(s)) {
            return SEARCH_NOT_LINEARIZABLE;
        }
    }
    return SEARCH_LINEARIZABLE;
}

/* After a failure: the state after the longest prefix, and the ops that
 * could have come next (calls before the first unplaced return) and that
 * the model refuses there, or that would take an append-only key off the
 * way to the first unplaced get's value (keeps_prefix). Each of them is
 * refused: had the search taken one, it would have gone deeper than its
 * longest prefix. */
static int explain(struct search *s, struct search_out *out)
{
    struct search_work *w = &s->w;
    uint64_t *bits = s->bits.w;
    struct model *m = s->m;
    memset(bits, 0, s->bits.words * sizeof *bits);
    out->states = malloc((out->order_len + 1) * sizeof *out->states);
    if (out->states == NULL) {
        return COMMON_ENOMEM;
    }
    uint32_t state = 0;
    for (size_t k = 0; k < out->order_len; k++) {
        uint32_t i = out->order[k];
        bits[i / 64] |= (uint64_t)1 << (i % 64);
        if (!model_step(m, &s->ops[i], state, &state)) {
            return m->error != 0 ? m->error : COMMON_EINVAL;
        }
        out->states[k] = state;
    }
    out->state = state;
    out->unplaced = malloc((s->n + 1) * sizeof *out->unplaced);
    if (out->unplaced == NULL) {
        return COMMON_ENOMEM;
    }
    if (s->appends) {
        /* The get list as it was after the prefix: its unplaced gets. */
        build_gets(s->ops, w);
        for (size_t k = 0; k < out->order_len; k++) {
            if (s->ops[out->order[k]].kind == POP_GET) {
                glift(w, out->order[k]);
            }
        }
        s->state = state;
    }
    for (size_t e = 1; e <= w->ents; e++) {
        uint32_t i = w->ent_op[e];
        if (bits[i / 64] & ((uint64_t)1 << (i % 64))) {
            continue;
        }
        if (w->ent_match[e] < 0) {
            break;
        }
        uint32_t next;
        if ((s->appends && !keeps_prefix(s, &s->ops[i], i)) ||
            !model_step(m, &s->ops[i], state, &next)) {
            if (m->error != 0) {
                return m->error;
            }
            out->unplaced[out->unplaced_len++] = i;
        }
    }
    return 0;
}

void search_finish(struct search *s,
                   enum search_status status,
                   struct search_out *out)
{
    memset(out, 0, sizeof *out);
    out->status = status;
    out->steps = s->steps;
    out->order = s->best;
    s->best = NULL;
    if (status == SEARCH_LINEARIZABLE) {
        for (size_t k = 0; k < s->depth; k++) {
            out->order[k] = s->w.ent_op[s->w.stack[k].ent];
        }
        out->order_len = s->depth;
        out->state = s->state;
    } else if (status == SEARCH_NOT_LINEARIZABLE) {
        out->order_len = s->best_len;
        if (explain(s, out) != 0) {
            out->status = SEARCH_NOMEM;
        }
    }
}
