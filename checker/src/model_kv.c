/*
 * The key-value model, one key at a time (the register is the same model
 * restricted to get, put and cas on a single key).
 *
 * A key's state is a string id: 0 while the key is absent, else the id of
 * its value in the history's string table. Since every value an op writes
 * or expects is interned when the history is built, a step is an integer
 * compare and an assignment, with one exception: append makes new strings.
 * A search may try thousands of orders of concurrent appends, so an append
 * must not copy its string: it makes a node "parent ++ value" carrying its
 * length and a polynomial rolling hash (h(a ++ b) = h(a) * B^|b| + h(b),
 * mod 2^64), once per (state, value) pair (a cache maps the pair to the
 * node). States are only ever compared with strings of the history (the
 * values gets read and cas ops expect), so what matters is that a made
 * string equal to one of those gets that string's id: each new node's
 * (length, hash) is looked up among the key's history values, and a match
 * is checked byte by byte, walking both strings from their ends. Two nodes
 * with equal bytes that no op mentions may keep two ids; that only costs
 * the memo a little sharing.
 *
 * Semantics (DESIGN.md): every key starts absent; a get must read the
 * current value (null when absent); put and append always take effect
 * (appending to an absent key stores the value itself), delete makes the key
 * absent; a cas succeeds when the key holds `expected` (absent when expected
 * is null); a cas that failed with "mismatch" observed the key not holding
 * `expected` and changes nothing; an info cas may have done either.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A string made by an append: the string @parent (a state id) followed by
 * the history string @value. */
struct made_node
{
    uint32_t parent;
    uint32_t value;
    uint64_t len;
    uint64_t hash;
};

struct model_slot
{
    uint64_t hash;
    uint64_t len;
    uint32_t id;
    uint32_t used;
};

/* A history string's hash, by id (0: an empty slot). */
struct id_hash
{
    uint32_t id;
    uint64_t hash;
};

struct append_memo
{
    uint32_t state;
    uint32_t value;
    uint32_t result;
    uint32_t used;
};

/* The rolling hash's base: odd, so that it is invertible mod 2^64. */
static const uint64_t BASE = 0x100000001b3ull;

/* h = sum over k of (p[k] + 1) * BASE^(len - 1 - k), mod 2^64, by Horner's
 * rule four bytes a step: one multiply in the chain per four bytes
 * instead of one per byte, the same value (mod 2^64 arithmetic is exact).
 * A history's values are hashed once each (model_prepare), and a 200 MB
 * history of appends has 200 MB of them. */
static uint64_t hash_bytes(const char *p, size_t len)
{
    static const uint64_t B2 = BASE * BASE;
    static const uint64_t B3 = BASE * BASE * BASE;
    static const uint64_t B4 = BASE * BASE * BASE * BASE;
    const unsigned char *u = (const unsigned char *)p;
    uint64_t h = 0;
    size_t k = 0;
    for (; k + 4 <= len; k += 4) {
        h = h * B4 + ((uint64_t)u[k] + 1) * B3 + ((uint64_t)u[k + 1] + 1) * B2 +
            ((uint64_t)u[k + 2] + 1) * BASE + ((uint64_t)u[k + 3] + 1);
    }
    for (; k < len; k++) {
        h = h * BASE + (uint64_t)u[k] + 1;
    }
    return h;
}

static uint64_t base_pow(uint64_t e)
{
    uint64_t r = 1;
    uint64_t b = BASE;
    while (e > 0) {
        if (e & 1) {
            r *= b;
        }
        b *= b;
        e >>= 1;
    }
    return r;
}

void model_init(struct model *m,
                const struct strtab *strings,
                bool absent_reads_empty)
{
    memset(m, 0, sizeof *m);
    m->strings = strings;
    m->first_made = strings->first_id + (uint32_t)strings->count;
    m->absent_reads_empty = absent_reads_empty;
    m->empty_id = absent_reads_empty
                      ? strtab_find(strings, "", 0, strtab_hash("", 0))
                      : 0;
}

void model_fini(struct model *m)
{
    free(m->made);
    free(m->index);
    free(m->hashes);
    free(m->cache);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}

size_t model_bytes(const struct model *m)
{
    return m->made_cap * sizeof *m->made + m->index_cap * sizeof *m->index +
           m->hashes_cap * sizeof *m->hashes + m->cache_cap * sizeof *m->cache +
           m->scratch_cap;
}

uint32_t model_norm(const struct model *m, uint32_t id)
{
    return (m->empty_id != 0 && id == m->empty_id) ? 0 : id;
}

static bool is_made(const struct model *m, uint32_t id)
{
    return id >= m->first_made;
}

static const struct made_node *node(const struct model *m, uint32_t id)
{
    return &m->made[id - m->first_made];
}

static uint64_t length_of(const struct model *m, uint32_t id)
{
    return is_made(m, id) ? node(m, id)->len : strtab_get(m->strings, id).len;
}

/* The hash model_prepare computed for history string @id into *@hash;
 * false when it has none (hash_of then computes it). */
static bool known_hash(const struct model *m, uint32_t id, uint64_t *hash)
{
    if (m->hashes_cap == 0) {
        return false;
    }
    size_t mask = m->hashes_cap - 1;
    for (size_t i = (size_t)common_mix64(id) & mask; m->hashes[i].id != 0;
         i = (i + 1) & mask) {
        if (m->hashes[i].id == id) {
            *hash = m->hashes[i].hash;
            return true;
        }
    }
    return false;
}

static uint64_t hash_of(const struct model *m, uint32_t id)
{
    if (is_made(m, id)) {
        return node(m, id)->hash;
    }
    /* A state that a read matched is a history string, often a long one:
     * appending to it must not hash it again. */
    uint64_t h;
    if (known_hash(m, id, &h)) {
        return h;
    }
    struct checker_str s = strtab_get(m->strings, id);
    return hash_bytes(s.ptr, s.len);
}

static int hashes_add(struct model *m, uint32_t id, uint64_t hash)
{
    if ((m->hashes_len + 1) * 2 > m->hashes_cap) {
        size_t cap = m->hashes_cap ? m->hashes_cap * 2 : 256;
        struct id_hash *t = calloc(cap, sizeof *t);
        if (t == NULL) {
            return COMMON_ENOMEM;
        }
        for (size_t k = 0; k < m->hashes_cap; k++) {
            if (m->hashes[k].id != 0) {
                size_t i = (size_t)common_mix64(m->hashes[k].id) & (cap - 1);
                while (t[i].id != 0) {
                    i = (i + 1) & (cap - 1);
                }
                t[i] = m->hashes[k];
            }
        }
        free(m->hashes);
        m->hashes = t;
        m->hashes_cap = cap;
    }
    size_t i = (size_t)common_mix64(id) & (m->hashes_cap - 1);
    while (m->hashes[i].id != 0) {
        i = (i + 1) & (m->hashes_cap - 1);
    }
    m->hashes[i] = (struct id_hash){id, hash};
    m->hashes_len++;
    return 0;
}

/* Reads a state's bytes from the end, one piece (a history string) at a
 * time. */
struct rcursor
{
    uint32_t next; /* the id whose pieces come next */
    bool more;
    const char *p;
    size_t left; /* bytes of p not consumed yet (taken from its end) */
};

static void rc_init(struct rcursor *c, uint32_t id)
{
    c->next = id;
    c->more = true;
    c->p = NULL;
    c->left = 0;
}

/* Makes sure the cursor has bytes; false at the start of the string. */
static bool rc_fill(const struct model *m, struct rcursor *c)
{
    while (c->left == 0) {
        if (!c->more) {
            return false;
        }
        struct checker_str piece;
        if (is_made(m, c->next)) {
            const struct made_node *n = node(m, c->next);
            piece = strtab_get(m->strings, n->value);
            c->next = n->parent;
        } else {
            piece = strtab_get(m->strings, c->next);
            c->more = false;
        }
        c->p = piece.ptr;
        c->left = piece.len;
    }
    return true;
}

/* True when states @a and @b, of equal length, hold the same bytes. */
static bool same_content(const struct model *m, uint32_t a, uint32_t b)
{
    struct rcursor x;
    struct rcursor y;
    rc_init(&x, a);
    rc_init(&y, b);
    for (;;) {
        bool hx = rc_fill(m, &x);
        bool hy = rc_fill(m, &y);
        if (!hx || !hy) {
            return hx == hy;
        }
        size_t k = x.left < y.left ? x.left : y.left;
        if (memcmp(x.p + x.left - k, y.p + y.left - k, k) != 0) {
            return false;
        }
        x.left -= k;
        y.left -= k;
    }
}

static int index_grow(struct model *m)
{
    size_t cap = m->index_cap ? m->index_cap * 2 : 256;
    struct model_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t k = 0; k < m->index_cap; k++) {
        if (m->index[k].used) {
            size_t i = (size_t)(m->index[k].hash ^ m->index[k].len) & (cap - 1);
            while (slots[i].used) {
                i = (i + 1) & (cap - 1);
            }
            slots[i] = m->index[k];
        }
    }
    free(m->index);
    m->index = slots;
    m->index_cap = cap;
    return 0;
}

/* The id of the history string of the key equal to state @id (whose
 * length and hash are given), or 0. */
static uint32_t index_find(const struct model *m,
                           uint32_t id,
                           uint64_t len,
                           uint64_t hash)
{
    if (m->index_cap == 0) {
        return 0;
    }
    size_t mask = m->index_cap - 1;
    for (size_t i = (size_t)(hash ^ len) & mask; m->index[i].used;
         i = (i + 1) & mask) {
        const struct model_slot *s = &m->index[i];
        if (s->hash == hash && s->len == len &&
            (s->id == id || same_content(m, s->id, id))) {
            return s->id;
        }
    }
    return 0;
}

static int index_add(struct model *m, uint32_t id, uint64_t len, uint64_t hash)
{
    if ((m->index_len + 1) * 2 > m->index_cap && index_grow(m) != 0) {
        return COMMON_ENOMEM;
    }
    size_t mask = m->index_cap - 1;
    size_t i = (size_t)(hash ^ len) & mask;
    while (m->index[i].used) {
        i = (i + 1) & mask;
    }
    m->index[i] = (struct model_slot){hash, len, id, 1};
    m->index_len++;
    return 0;
}

static int know(struct model *m, uint32_t id)
{
    if (id == 0) {
        return 0;
    }
    struct checker_str s = strtab_get(m->strings, id);
    uint64_t hash = hash_bytes(s.ptr, s.len);
    if (index_find(m, id, s.len, hash) != 0) {
        return 0;
    }
    return index_add(m, id, s.len, hash) != 0 ? COMMON_ENOMEM
                                              : hashes_add(m, id, hash);
}

int model_prepare(struct model *m, const struct pop *ops, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (know(m, ops[k].a) != 0 || know(m, ops[k].b) != 0) {
            return COMMON_ENOMEM;
        }
    }
    return 0;
}

struct checker_str model_state_str(struct model *m, uint32_t state)
{
    if (!is_made(m, state)) {
        return strtab_get(m->strings, state);
    }
    struct checker_str out = {NULL, 0};
    size_t len = (size_t)node(m, state)->len;
    if (len > m->scratch_cap) {
        char *s = realloc(m->scratch, len);
        if (s == NULL) {
            m->error = COMMON_ENOMEM;
            return out;
        }
        m->scratch = s;
        m->scratch_cap = len;
    }
    struct rcursor c;
    rc_init(&c, state);
    size_t at = len;
    while (rc_fill(m, &c)) {
        at -= c.left;
        memcpy(m->scratch + at, c.p, c.left);
        c.left = 0;
    }
    out.ptr = m->scratch;
    out.len = len;
    return out;
}

bool model_pop(const struct model *m,
               const struct hop *o,
               size_t index,
               struct pop *out)
{
    memset(out, 0, sizeof *out);
    /* A pending op (no completion by the end) counts as info. */
    enum checker_type outcome = o->outcome == CHECKER_INVOKE
                                    ? CHECKER_INFO
                                    : (enum checker_type)o->outcome;
    out->has_ret = outcome != CHECKER_INFO;
    out->call = o->call_time;
    out->ret = o->ret_time;
    out->hop = index;
    switch ((enum checker_f)o->f) {
        case CHECKER_GET:
            out->kind = POP_GET;
            out->a = model_norm(m, o->v[0]);
            return outcome == CHECKER_OK; /* info and fail gets say nothing */
        case CHECKER_PUT:
            out->kind = POP_PUT;
            out->a = model_norm(m, o->v[0]);
            return outcome != CHECKER_FAIL;
        case CHECKER_DELETE:
            out->kind = POP_DELETE;
            return outcome != CHECKER_FAIL;
        case CHECKER_APPEND:
            out->kind = POP_APPEND;
            out->a = model_norm(m, o->v[0]);
            return outcome != CHECKER_FAIL;
        case CHECKER_CAS:
            out->a = model_norm(m, o->v[0]);
            out->b = model_norm(m, o->v[1]);
            if (outcome == CHECKER_OK) {
                out->kind = POP_CAS;
                return true;
            }
            if (outcome == CHECKER_INFO) {
                out->kind = POP_CAS_MAYBE;
                return true;
            }
            out->kind = POP_CAS_MISMATCH;
            return o->mismatch;
    }
    return false;
}

bool model_append_keeps_prefix(const struct model *m,
                               uint32_t state,
                               uint32_t value,
                               uint32_t target)
{
    struct checker_str v = strtab_get(m->strings, value);
    if (target == 0) {
        /* The key must stay absent: only "" read as absent does that. */
        return value == 0;
    }
    struct checker_str t = strtab_get(m->strings, target);
    uint64_t at = state == 0 ? 0 : length_of(m, state);
    return at <= t.len && v.len <= t.len - at &&
           (v.len == 0 || memcmp(t.ptr + at, v.ptr, v.len) == 0);
}

bool model_prefix_of(const struct model *m, uint32_t a, uint32_t b)
{
    if (a == 0 || a == b) {
        return true;
    }
    if (b == 0) {
        return false;
    }
    struct checker_str x = strtab_get(m->strings, a);
    struct checker_str y = strtab_get(m->strings, b);
    return x.len <= y.len && (x.len == 0 || memcmp(x.ptr, y.ptr, x.len) == 0);
}

bool model_read_only(const struct pop *op)
{
    return op->kind == POP_GET || op->kind == POP_CAS_MISMATCH;
}

/* After a table grew: the budget learns the model's size. */
static void account(struct model *m)
{
    if (m->budget != NULL) {
        m->budget->model = model_bytes(m);
        mem_budget_sync(m->budget);
    }
}

static int cache_grow(struct model *m)
{
    size_t cap = m->cache_cap ? m->cache_cap * 2 : 256;
    if (mem_budget_over(m->budget, cap * sizeof *m->cache)) {
        return COMMON_ENOMEM;
    }
    struct append_memo *c = big_calloc(cap, sizeof *c, m->budget);
    if (c == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t k = 0; k < m->cache_cap; k++) {
        if (mem_budget_late(m->budget, k)) {
            free(c);
            return COMMON_ENOMEM;
        }
        struct append_memo *e = &m->cache[k];
        if (e->used) {
            uint64_t key = ((uint64_t)e->state << 32) | e->value;
            size_t i = (size_t)common_mix64(key) & (cap - 1);
            while (c[i].used) {
                i = (i + 1) & (cap - 1);
            }
            c[i] = *e;
        }
    }
    free(m->cache);
    m->cache = c;
    m->cache_cap = cap;
    account(m);
    return 0;
}

/* The id of state ++ value, made if new. */
static int concat(struct model *m,
                  uint32_t state,
                  uint32_t value,
                  uint32_t *out)
{
    /* Onto an absent key, even "" is stored: the key is then present. */
    if (state == 0) {
        *out = value;
        return 0;
    }
    uint64_t vlen = strtab_get(m->strings, value).len;
    if (vlen == 0) {
        *out = state;
        return 0;
    }
    /* big_reserve doubles, copying from the old table. */
    bool full = m->made_len + 1 > m->made_cap;
    if ((full &&
         mem_budget_over(m->budget, 2 * m->made_cap * sizeof *m->made)) ||
        big_reserve(&m->made, &m->made_cap, m->made_len + 1, sizeof *m->made) !=
            0 ||
        m->made_len >= UINT32_MAX - 1 - m->first_made) {
        return COMMON_ENOMEM;
    }
    if (full) {
        account(m);
    }
    /* The candidate node goes in the next free place; it is kept only when
     * no history string of the key has its bytes. */
    struct made_node *n = &m->made[m->made_len];
    n->parent = state;
    n->value = value;
    n->len = length_of(m, state) + vlen;
    n->hash = hash_of(m, state) * base_pow(vlen) + hash_of(m, value);
    uint32_t id = m->first_made + (uint32_t)m->made_len;
    uint32_t known = index_find(m, id, n->len, n->hash);
    if (known != 0) {
        *out = known;
        return 0;
    }
    m->made_len++;
    *out = id;
    return 0;
}

bool model_append(struct model *m,
                  uint32_t state,
                  uint32_t value,
                  uint32_t *out)
{
    uint64_t key = ((uint64_t)state << 32) | value;
    if (m->cache_cap > 0) {
        size_t mask = m->cache_cap - 1;
        for (size_t i = (size_t)common_mix64(key) & mask; m->cache[i].used;
             i = (i + 1) & mask) {
            if (m->cache[i].state == state && m->cache[i].value == value) {
                *out = m->cache[i].result;
                return true;
            }
        }
    }
    uint32_t id;
    if (concat(m, state, value, &id) != 0 ||
        ((m->cache_len + 1) * 2 > m->cache_cap && cache_grow(m) != 0)) {
        m->error = COMMON_ENOMEM;
        return false;
    }
    size_t mask = m->cache_cap - 1;
    size_t i = (size_t)common_mix64(key) & mask;
    while (m->cache[i].used) {
        i = (i + 1) & mask;
    }
    m->cache[i] = (struct append_memo){state, value, id, 1};
    m->cache_len++;
    *out = id;
    return true;
}
