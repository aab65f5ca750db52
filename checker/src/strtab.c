/*
 * String interning: every distinct byte string of a history (keys, values)
 * is stored once and named by a dense 32-bit id, so the model compares
 * values as integers and a key's state is one id.
 *
 * The bytes live in one growing buffer; an open-addressing table of ids
 * (linear probing, load at most 1/2) finds a string by its XXH3 hash. The
 * table only grows, so lookups by other threads are safe once nobody adds.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "internal.h"

void strtab_init(struct strtab *t, uint32_t first_id)
{
    memset(t, 0, sizeof *t);
    t->first_id = first_id < 1 ? 1 : first_id;
}

void strtab_fini(struct strtab *t)
{
    free(t->bytes);
    free(t->ents);
    free(t->slots);
    strtab_init(t, t->first_id);
}

uint64_t strtab_hash(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

static bool same(const struct strtab *t,
                 uint32_t id,
                 const void *p,
                 size_t len,
                 uint64_t hash)
{
    const struct strtab_ent *e = &t->ents[id - t->first_id];
    return e->hash == hash && e->len == len &&
           (len == 0 || memcmp(t->bytes + e->off, p, len) == 0);
}

uint32_t strtab_find(const struct strtab *t,
                     const void *p,
                     size_t len,
                     uint64_t hash)
{
    if (t->slots_cap == 0) {
        return 0;
    }
    size_t mask = t->slots_cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        uint32_t id = t->slots[i];
        if (id == 0) {
            return 0;
        }
        if (same(t, id, p, len, hash)) {
            return id;
        }
    }
}

static int grow_slots(struct strtab *t)
{
    size_t cap = t->slots_cap ? t->slots_cap * 2 : 64;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t k = 0; k < t->count; k++) {
        size_t i = (size_t)t->ents[k].hash & (cap - 1);
        while (slots[i] != 0) {
            i = (i + 1) & (cap - 1);
        }
        slots[i] = (uint32_t)(k + t->first_id);
    }
    free(t->slots);
    t->slots = slots;
    t->slots_cap = cap;
    return 0;
}

int strtab_intern(struct strtab *t, const void *p, size_t len, uint32_t *id)
{
    uint64_t hash = strtab_hash(p, len);
    uint32_t found = strtab_find(t, p, len, hash);
    if (found != 0) {
        *id = found;
        return 0;
    }
    if (t->count >= UINT32_MAX - 1 - t->first_id) {
        return COMMON_ENOMEM;
    }
    if ((t->count + 1) * 2 > t->slots_cap && grow_slots(t) != 0) {
        return COMMON_ENOMEM;
    }
    if (len > SIZE_MAX - t->bytes_len ||
        common_grow(&t->bytes, &t->bytes_cap, t->bytes_len + len, 1,
                    ARRAY_MIN_CAP) != 0 ||
        common_grow(&t->ents, &t->ents_cap, t->count + 1, sizeof *t->ents,
                    ARRAY_MIN_CAP) != 0) {
        return COMMON_ENOMEM;
    }
    struct strtab_ent *e = &t->ents[t->count];
    e->off = t->bytes_len;
    e->len = len;
    e->hash = hash;
    if (len > 0) {
        memcpy(t->bytes + t->bytes_len, p, len);
    }
    t->bytes_len += len;
    uint32_t new_id = (uint32_t)(t->count + t->first_id);
    t->count++;
    size_t mask = t->slots_cap - 1;
    size_t i = (size_t)hash & mask;
    while (t->slots[i] != 0) {
        i = (i + 1) & mask;
    }
    t->slots[i] = new_id;
    *id = new_id;
    return 0;
}

bool strtab_has(const struct strtab *t, uint32_t id)
{
    return id >= t->first_id && id - t->first_id < t->count;
}

struct checker_str strtab_get(const struct strtab *t, uint32_t id)
{
    struct checker_str s = {NULL, 0};
    if (!strtab_has(t, id)) {
        return s;
    }
    const struct strtab_ent *e = &t->ents[id - t->first_id];
    /* A zero-length string still needs a non-NULL pointer: NULL is absent. */
    s.ptr = t->bytes != NULL ? t->bytes + e->off : "";
    s.len = e->len;
    return s;
}
