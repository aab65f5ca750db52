/*
 * The key-value model, one key at a time (the register is the same model
 * restricted to get, put and cas on a single key).
 *
 * A key's state is a string id: 0 while the key is absent, else the id of
 * its value in the history's string table. Since every value an op writes
 * or expects is interned when the history is built, a step is an integer
 * compare and an assignment, with one exception: append makes new strings.
 * Those are interned in a table of the model's own (ids above the
 * history's, so that an appended string that some get read has the get's
 * id), and the result of each (state, appended value) pair is cached, so a
 * search that reaches the same append again pays a hash lookup.
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

struct append_memo
{
    uint32_t state;
    uint32_t value;
    uint32_t result;
    uint32_t used;
};

static uint32_t history_empty_id(const struct strtab *strings)
{
    return strtab_find(strings, "", 0, strtab_hash("", 0));
}

void model_init(struct model *m,
                const struct strtab *strings,
                bool absent_reads_empty)
{
    memset(m, 0, sizeof *m);
    m->strings = strings;
    m->absent_reads_empty = absent_reads_empty;
    m->empty_id = absent_reads_empty ? history_empty_id(strings) : 0;
    strtab_init(&m->made, strings->first_id + (uint32_t)strings->count);
}

void model_fini(struct model *m)
{
    strtab_fini(&m->made);
    free(m->cache);
    free(m->scratch);
    m->cache = NULL;
    m->scratch = NULL;
}

void model_reset(struct model *m)
{
    strtab_clear(&m->made);
    if (m->cache != NULL) {
        memset(m->cache, 0, m->cache_cap * sizeof *m->cache);
    }
    m->cache_len = 0;
    m->error = 0;
}

uint32_t model_norm(const struct model *m, uint32_t id)
{
    return (m->empty_id != 0 && id == m->empty_id) ? 0 : id;
}

struct checker_str model_state_str(const struct model *m, uint32_t state)
{
    if (strtab_has(m->strings, state)) {
        return strtab_get(m->strings, state);
    }
    return strtab_get(&m->made, state);
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
            out->a = o->v[0];
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

bool model_read_only(const struct pop *op)
{
    return op->kind == POP_GET || op->kind == POP_CAS_MISMATCH;
}

static int cache_grow(struct model *m)
{
    size_t cap = m->cache_cap ? m->cache_cap * 2 : 256;
    struct append_memo *c = calloc(cap, sizeof *c);
    if (c == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t k = 0; k < m->cache_cap; k++) {
        struct append_memo *e = &m->cache[k];
        if (e->used) {
            size_t i =
                (size_t)common_mix64(((uint64_t)e->state << 32) | e->value) &
                (cap - 1);
            while (c[i].used) {
                i = (i + 1) & (cap - 1);
            }
            c[i] = *e;
        }
    }
    free(m->cache);
    m->cache = c;
    m->cache_cap = cap;
    return 0;
}

bool model_append(struct model *m,
                  uint32_t state,
                  uint32_t value,
                  uint32_t *out)
{
    uint64_t k = ((uint64_t)state << 32) | value;
    if (m->cache_cap > 0) {
        size_t mask = m->cache_cap - 1;
        for (size_t i = (size_t)common_mix64(k) & mask; m->cache[i].used;
             i = (i + 1) & mask) {
            if (m->cache[i].state == state && m->cache[i].value == value) {
                *out = m->cache[i].result;
                return true;
            }
        }
    }
    struct checker_str a = model_state_str(m, state);
    struct checker_str b = strtab_get(m->strings, value);
    size_t len = a.len + b.len;
    if (len > m->scratch_cap) {
        char *s = realloc(m->scratch, len);
        if (s == NULL) {
            m->error = COMMON_ENOMEM;
            return false;
        }
        m->scratch = s;
        m->scratch_cap = len;
    }
    if (a.len > 0) {
        memcpy(m->scratch, a.ptr, a.len);
    }
    if (b.len > 0) {
        memcpy(m->scratch + a.len, b.ptr, b.len);
    }
    uint32_t id =
        strtab_find(m->strings, m->scratch, len, strtab_hash(m->scratch, len));
    if (id == 0 && strtab_intern(&m->made, m->scratch, len, &id) != 0) {
        m->error = COMMON_ENOMEM;
        return false;
    }
    if (len == 0 && m->absent_reads_empty) {
        id = 0;
    }
    if ((m->cache_len + 1) * 2 > m->cache_cap && cache_grow(m) != 0) {
        m->error = COMMON_ENOMEM;
        return false;
    }
    size_t mask = m->cache_cap - 1;
    size_t i = (size_t)common_mix64(k) & mask;
    while (m->cache[i].used) {
        i = (i + 1) & mask;
    }
    m->cache[i] = (struct append_memo){state, value, id, 1};
    m->cache_len++;
    *out = id;
    return true;
}
