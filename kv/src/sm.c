/*
 * The state machine: a hash map of byte strings and a session table.
 *
 * The map is open addressing with linear probing and backward-shift
 * deletion (no tombstones), hashed with XXH3. The session table maps a
 * client id to the last sequence number applied for it and that request's
 * result, which is what makes a request retried after a timeout or a
 * leader change take effect exactly once: a duplicate returns the
 * remembered result and changes nothing. Everything here is deterministic,
 * so every replica that applies the same log holds the same state.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kv/kv.h"

/* The longest key, and the longest value (appends included): a request
 * past it is KV_INVALID, on every replica alike. */
#define KV_SM_BYTES_MAX UINT32_MAX

/* A key and its value share one allocation, the key first: 24 bytes a
 * slot and one malloc a pair (docs/benchmarks.md, server memory). */
struct slot
{
    uint64_t hash; /* 0 = empty (real hashes are forced non-zero) */
    uint8_t *data; /* key_len bytes of key, then val_len of value */
    uint32_t key_len;
    uint32_t val_len;
};

static inline const uint8_t *slot_key(const struct slot *s)
{
    return s->data;
}

static inline const uint8_t *slot_val(const struct slot *s)
{
    return s->data + s->key_len;
}

struct session
{
    uint64_t client_id; /* 0 = empty */
    uint64_t seq;
    enum kv_status status;
    bool found;
    uint64_t last_index; /* log index of its last request */
};

struct kv_sm
{
    struct slot *slots;
    size_t cap; /* power of two */
    size_t len;
    struct session *sessions;
    size_t s_cap;
    size_t s_len;
    uint64_t session_ttl; /* entries; 0: sessions never expire */
};

static uint64_t key_hash(const void *key, size_t len)
{
    uint64_t h = XXH3_64bits(key, len);
    return h != 0 ? h : 1;
}

int kv_sm_new(struct kv_sm **out)
{
    struct kv_sm *sm = calloc(1, sizeof *sm);
    if (sm == NULL) {
        return COMMON_ENOMEM;
    }
    sm->cap = 64;
    sm->slots = calloc(sm->cap, sizeof *sm->slots);
    sm->s_cap = 64;
    sm->sessions = calloc(sm->s_cap, sizeof *sm->sessions);
    sm->session_ttl = KV_SESSION_TTL_DEFAULT;
    if (sm->slots == NULL || sm->sessions == NULL) {
        kv_sm_free(sm);
        return COMMON_ENOMEM;
    }
    *out = sm;
    return 0;
}

void kv_sm_free(struct kv_sm *sm)
{
    if (sm == NULL) {
        return;
    }
    for (size_t k = 0; k < sm->cap && sm->slots != NULL; k++) {
        if (sm->slots[k].hash != 0) {
            free(sm->slots[k].data);
        }
    }
    free(sm->slots);
    free(sm->sessions);
    free(sm);
}

static size_t find_slot(const struct kv_sm *sm,
                        uint64_t h,
                        const void *key,
                        size_t len)
{
    size_t mask = sm->cap - 1;
    size_t k = (size_t)h & mask;
    while (sm->slots[k].hash != 0) {
        const struct slot *s = &sm->slots[k];
        if (s->hash == h && s->key_len == len &&
            (len == 0 || memcmp(slot_key(s), key, len) == 0)) {
            return k;
        }
        k = (k + 1) & mask;
    }
    return k; /* the empty slot where it would go */
}

static int grow_map(struct kv_sm *sm)
{
    size_t cap = sm->cap * 2;
    struct slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t k = 0; k < sm->cap; k++) {
        if (sm->slots[k].hash == 0) {
            continue;
        }
        size_t j = (size_t)sm->slots[k].hash & (cap - 1);
        while (slots[j].hash != 0) {
            j = (j + 1) & (cap - 1);
        }
        slots[j] = sm->slots[k];
    }
    free(sm->slots);
    sm->slots = slots;
    sm->cap = cap;
    return 0;
}

static void remove_at(struct kv_sm *sm, size_t k)
{
    size_t mask = sm->cap - 1;
    free(sm->slots[k].data);
    memset(&sm->slots[k], 0, sizeof sm->slots[k]);
    sm->len--;
    /* Backward shift: move later members of the probe run into the hole
     * when their home position allows it. */
    size_t hole = k;
    size_t j = (k + 1) & mask;
    while (sm->slots[j].hash != 0) {
        size_t home = (size_t)sm->slots[j].hash & mask;
        bool movable =
            hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            sm->slots[hole] = sm->slots[j];
            memset(&sm->slots[j], 0, sizeof sm->slots[j]);
            hole = j;
        }
        j = (j + 1) & mask;
    }
}

/* Does a key of @key_len with a value of @kept + @add bytes fit? */
static bool pair_fits(size_t key_len, size_t kept, size_t add)
{
    return key_len <= KV_SM_BYTES_MAX && kept <= KV_SM_BYTES_MAX &&
           add <= KV_SM_BYTES_MAX - kept;
}

/* Sets key to @val (or, when @append, appends @val to what is there).
 * The caller checked that the key and the value fit (pair_fits). */
static int put(struct kv_sm *sm,
               struct common_buf key,
               struct common_buf val,
               bool append)
{
    if ((sm->len + 1) * 4 > sm->cap * 3) {
        int rv = grow_map(sm);
        if (rv != 0) {
            return rv;
        }
    }
    uint64_t h = key_hash(key.base, key.len);
    size_t k = find_slot(sm, h, key.base, key.len);
    struct slot *s = &sm->slots[k];
    bool present = s->hash != 0;
    size_t keep = present && append ? s->val_len : 0;
    assert(key.len <= KV_SM_BYTES_MAX && keep + val.len <= KV_SM_BYTES_MAX);
    size_t size = key.len + keep + val.len;
    uint8_t *d = realloc(present ? s->data : NULL, size > 0 ? size : 1);
    if (d == NULL) {
        return COMMON_ENOMEM; /* the slot still holds the old pair */
    }
    if (!present && key.len > 0) {
        memcpy(d, key.base, key.len);
    }
    if (val.len > 0) {
        memcpy(d + key.len + keep, val.base, val.len);
    }
    s->data = d;
    s->val_len = (uint32_t)(keep + val.len);
    if (!present) {
        s->hash = h;
        s->key_len = (uint32_t)key.len;
        sm->len++;
    }
    return 0;
}

bool kv_sm_get(const struct kv_sm *sm,
               const void *key,
               size_t key_len,
               struct common_buf *value)
{
    uint64_t h = key_hash(key, key_len);
    size_t k = find_slot(sm, h, key, key_len);
    const struct slot *s = &sm->slots[k];
    if (s->hash == 0) {
        if (value != NULL) {
            value->base = NULL;
            value->len = 0;
        }
        return false;
    }
    if (value != NULL) {
        value->base = (void *)slot_val(s);
        value->len = s->val_len;
    }
    return true;
}

static struct session *session_find(struct kv_sm *sm,
                                    uint64_t client_id,
                                    bool insert)
{
    if (insert && (sm->s_len + 1) * 4 > sm->s_cap * 3) {
        size_t cap = sm->s_cap * 2;
        struct session *t = calloc(cap, sizeof *t);
        if (t == NULL) {
            return NULL;
        }
        for (size_t k = 0; k < sm->s_cap; k++) {
            if (sm->sessions[k].client_id == 0) {
                continue;
            }
            size_t j =
                (size_t)common_mix64(sm->sessions[k].client_id) & (cap - 1);
            while (t[j].client_id != 0) {
                j = (j + 1) & (cap - 1);
            }
            t[j] = sm->sessions[k];
        }
        free(sm->sessions);
        sm->sessions = t;
        sm->s_cap = cap;
    }
    size_t mask = sm->s_cap - 1;
    size_t k = (size_t)common_mix64(client_id) & mask;
    while (sm->sessions[k].client_id != 0) {
        if (sm->sessions[k].client_id == client_id) {
            return &sm->sessions[k];
        }
        k = (k + 1) & mask;
    }
    if (!insert) {
        return NULL;
    }
    sm->sessions[k].client_id = client_id;
    sm->s_len++;
    return &sm->sessions[k];
}

static bool buf_eq(struct common_buf a, const uint8_t *b, size_t b_len)
{
    return a.len == b_len && (b_len == 0 || memcmp(a.base, b, b_len) == 0);
}

/* Drops every session idle for session_ttl entries, by rebuilding the
 * table (the probe sequences stay valid). Runs at the same log indexes on
 * every replica, so every replica drops the same sessions. */
static int sweep_sessions(struct kv_sm *sm, uint64_t index)
{
    struct session *t = calloc(sm->s_cap, sizeof *t);
    if (t == NULL) {
        return COMMON_ENOMEM;
    }
    size_t len = 0;
    for (size_t k = 0; k < sm->s_cap; k++) {
        const struct session *old = &sm->sessions[k];
        /* Idle for session_ttl entries, without the sum that a large ttl
         * would wrap around 2^64 (expiring every session). A last index
         * after @index (only in a bad snapshot) keeps the session. */
        if (old->client_id == 0 ||
            (old->last_index <= index &&
             index - old->last_index >= sm->session_ttl)) {
            continue;
        }
        size_t j = (size_t)common_mix64(old->client_id) & (sm->s_cap - 1);
        while (t[j].client_id != 0) {
            j = (j + 1) & (sm->s_cap - 1);
        }
        t[j] = *old;
        len++;
    }
    free(sm->sessions);
    sm->sessions = t;
    sm->s_len = len;
    return 0;
}

void kv_sm_set_session_ttl(struct kv_sm *sm, uint64_t entries)
{
    sm->session_ttl = entries;
}

/* KV_OP_REGISTER: opens a session with nothing applied yet (seq 0) whose
 * id is the registration's log index. The cluster names sessions, not the
 * client, so that no registration - a retry, or one delayed in the
 * network - can revive a session that was forgotten while its client
 * still retries a write it sent (which would then be applied twice); a
 * registration whose answer was lost leaves a session nobody uses, which
 * expires like any idle one (Raft dissertation §6.3). */
static int open_session(struct kv_sm *sm,
                        const struct kv_command *cmd,
                        uint64_t index,
                        struct kv_result *res)
{
    if (cmd->client_id != 0 || cmd->seq != 0 || index == 0) {
        res->status = KV_INVALID;
        return 0;
    }
    struct session *s = session_find(sm, index, false);
    if (s != NULL) {
        /* Only a snapshot that was not ours can hold it already. */
        res->status = KV_INVALID;
        return 0;
    }
    s = session_find(sm, index, true);
    if (s == NULL) {
        return COMMON_ENOMEM;
    }
    s->seq = 0;
    s->status = KV_OK;
    s->found = false;
    s->last_index = index;
    res->status = KV_OK;
    return 0;
}

int kv_sm_apply(struct kv_sm *sm,
                const struct kv_command *cmd,
                uint64_t index,
                struct kv_result *res)
{
    memset(res, 0, sizeof *res);
    /* Sweeps happen at indexes that are multiples of the step - a fact
     * of the index alone, the same on every replica whatever its history
     * (one restored from a snapshot included); a multiple that falls on a
     * non-command entry is skipped alike everywhere. */
    if (sm->session_ttl > 0) {
        uint64_t step = sm->session_ttl / 8 > 1024 ? sm->session_ttl / 8 : 1024;
        if (index % step == 0) {
            int sv = sweep_sessions(sm, index);
            if (sv != 0) {
                return sv;
            }
        }
    }
    if (cmd->op == KV_OP_REGISTER) {
        return open_session(sm, cmd, index, res);
    }
    bool tracked = cmd->client_id != 0 && cmd->op != KV_OP_GET;
    if (tracked) {
        struct session *s = session_find(sm, cmd->client_id, false);
        if (s == NULL) {
            /* Never opened, or forgotten: if forgotten, so is the memory
             * of what it applied, and this request - perhaps the retry of
             * one applied before - cannot be applied exactly once. */
            res->status = KV_EXPIRED;
            return 0;
        }
        if (cmd->seq <= s->seq) {
            res->duplicate = true;
            if (cmd->seq == s->seq) {
                res->status = s->status;
                res->found = s->found;
            } else {
                /* The client has moved on; this old request is void. */
                res->status = KV_RETRY;
            }
            return 0;
        }
    }
    int rv = 0;
    struct common_buf cur;
    bool present = kv_sm_get(sm, cmd->key.base, cmd->key.len, &cur);
    switch (cmd->op) {
        case KV_OP_GET:
            res->status = present ? KV_OK : KV_NOT_FOUND;
            res->found = present;
            res->value = cur;
            break;
        case KV_OP_PUT:
            if (!pair_fits(cmd->key.len, 0, cmd->value.len)) {
                res->status = KV_INVALID;
                break;
            }
            rv = put(sm, cmd->key, cmd->value, false);
            res->status = KV_OK;
            break;
        case KV_OP_APPEND:
            if (!pair_fits(cmd->key.len, present ? cur.len : 0,
                           cmd->value.len)) {
                res->status = KV_INVALID;
                break;
            }
            rv = put(sm, cmd->key, cmd->value, true);
            res->status = KV_OK;
            break;
        case KV_OP_DELETE:
            if (present) {
                uint64_t h = key_hash(cmd->key.base, cmd->key.len);
                remove_at(sm, find_slot(sm, h, cmd->key.base, cmd->key.len));
            }
            res->status = present ? KV_OK : KV_NOT_FOUND;
            res->found = present;
            break;
        case KV_OP_CAS: {
            bool holds =
                cmd->expected_absent
                    ? !present
                    : present && buf_eq(cmd->expected, cur.base, cur.len);
            if (holds && !pair_fits(cmd->key.len, 0, cmd->value.len)) {
                res->status = KV_INVALID;
            } else if (holds) {
                rv = put(sm, cmd->key, cmd->value, false);
                res->status = KV_OK;
            } else {
                res->status = KV_MISMATCH;
            }
            break;
        }
        default:
            return COMMON_EINVAL;
    }
    if (rv != 0) {
        return rv;
    }
    if (tracked) {
        struct session *s = session_find(sm, cmd->client_id, false);
        assert(s != NULL); /* found above, and nothing since drops one */
        s->seq = cmd->seq;
        s->status = res->status;
        s->found = res->found;
        s->last_index = index;
    }
    return 0;
}

size_t kv_sm_keys(const struct kv_sm *sm)
{
    return sm->len;
}

size_t kv_sm_sessions(const struct kv_sm *sm)
{
    return sm->s_len;
}

uint64_t kv_sm_digest(const struct kv_sm *sm)
{
    uint64_t d = 0;
    for (size_t k = 0; k < sm->cap; k++) {
        const struct slot *s = &sm->slots[k];
        if (s->hash != 0) {
            d ^= common_mix64(s->hash ^ XXH3_64bits(slot_val(s), s->val_len));
        }
    }
    return d ^ common_mix64(sm->len);
}

/* ------------------------------------------------------------------------ */
/* Snapshots: proto/kv.proto's Snapshot, written and read directly in the    */
/* protobuf wire format (streaming, no per-key allocations), so that a map   */
/* of millions of keys does not need millions of message objects.           */
/* ------------------------------------------------------------------------ */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static size_t bytes_field_len(size_t len)
{
    return 1 + varint_len(len) + len;
}

static uint8_t *put_bytes_field(uint8_t *p,
                                uint8_t tag,
                                const void *b,
                                size_t len)
{
    *p++ = tag;
    p = put_varint(p, len);
    if (len > 0) {
        memcpy(p, b, len);
    }
    return p + len;
}

static size_t pair_len(const struct slot *s)
{
    return bytes_field_len(s->key_len) + bytes_field_len(s->val_len);
}

static size_t session_len(const struct session *s)
{
    return 1 + varint_len(s->client_id) + 1 + varint_len(s->seq) + 1 +
           varint_len((uint64_t)s->status) + 1 + 1 + 1 +
           varint_len(s->last_index);
}

int kv_sm_snapshot(const struct kv_sm *sm, uint8_t **out, size_t *len)
{
    size_t total = 0;
    for (size_t k = 0; k < sm->cap; k++) {
        if (sm->slots[k].hash != 0) {
            total += bytes_field_len(pair_len(&sm->slots[k]));
        }
    }
    for (size_t k = 0; k < sm->s_cap; k++) {
        if (sm->sessions[k].client_id != 0) {
            total += bytes_field_len(session_len(&sm->sessions[k]));
        }
    }
    uint8_t *buf = malloc(total > 0 ? total : 1);
    if (buf == NULL) {
        return COMMON_ENOMEM;
    }
    uint8_t *p = buf;
    for (size_t k = 0; k < sm->cap; k++) {
        const struct slot *s = &sm->slots[k];
        if (s->hash == 0) {
            continue;
        }
        *p++ = 0x0a; /* Snapshot.pairs */
        p = put_varint(p, pair_len(s));
        p = put_bytes_field(p, 0x0a, slot_key(s), s->key_len);
        p = put_bytes_field(p, 0x12, slot_val(s), s->val_len);
    }
    for (size_t k = 0; k < sm->s_cap; k++) {
        const struct session *s = &sm->sessions[k];
        if (s->client_id == 0) {
            continue;
        }
        *p++ = 0x12; /* Snapshot.sessions */
        p = put_varint(p, session_len(s));
        *p++ = 0x08;
        p = put_varint(p, s->client_id);
        *p++ = 0x10;
        p = put_varint(p, s->seq);
        *p++ = 0x18;
        p = put_varint(p, (uint64_t)s->status);
        *p++ = 0x20;
        *p++ = s->found ? 1 : 0;
        *p++ = 0x28;
        p = put_varint(p, s->last_index);
    }
    assert(p == buf + total);
    *out = buf;
    *len = total;
    return 0;
}

/* A bounded reader of protobuf wire format. */
struct reader
{
    const uint8_t *p;
    const uint8_t *end;
};

static bool get_varint(struct reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end) {
            return false;
        }
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = x;
            return true;
        }
    }
    return false;
}

static bool get_len(struct reader *r, struct reader *sub)
{
    uint64_t n;
    if (!get_varint(r, &n) || n > (uint64_t)(r->end - r->p)) {
        return false;
    }
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return true;
}

/* Skips a field of wire type @wt (unknown fields are allowed). */
static bool skip_field(struct reader *r, uint64_t wt)
{
    uint64_t v;
    struct reader sub;
    switch (wt) {
        case 0:
            return get_varint(r, &v);
        case 1:
            if (r->end - r->p < 8) {
                return false;
            }
            r->p += 8;
            return true;
        case 2:
            return get_len(r, &sub);
        case 5:
            if (r->end - r->p < 4) {
                return false;
            }
            r->p += 4;
            return true;
        default:
            return false;
    }
}

static bool read_pair(struct reader *r,
                      struct common_buf *key,
                      struct common_buf *val)
{
    key->base = NULL;
    key->len = 0;
    val->base = NULL;
    val->len = 0;
    while (r->p < r->end) {
        uint64_t tag;
        if (!get_varint(r, &tag)) {
            return false;
        }
        struct reader sub;
        if ((tag >> 3) == 1 && (tag & 7) == 2) {
            if (!get_len(r, &sub)) {
                return false;
            }
            key->base = (void *)sub.p;
            key->len = (size_t)(sub.end - sub.p);
        } else if ((tag >> 3) == 2 && (tag & 7) == 2) {
            if (!get_len(r, &sub)) {
                return false;
            }
            val->base = (void *)sub.p;
            val->len = (size_t)(sub.end - sub.p);
        } else if (!skip_field(r, tag & 7)) {
            return false;
        }
    }
    return true;
}

static bool read_session(struct reader *r, struct session *s)
{
    memset(s, 0, sizeof *s);
    while (r->p < r->end) {
        uint64_t tag;
        uint64_t v;
        if (!get_varint(r, &tag)) {
            return false;
        }
        uint64_t field = tag >> 3;
        if ((tag & 7) == 0 && field >= 1 && field <= 5) {
            if (!get_varint(r, &v)) {
                return false;
            }
            if (field == 1) {
                s->client_id = v;
            } else if (field == 2) {
                s->seq = v;
            } else if (field == 3) {
                /* A session remembers the result of an applied request:
                 * one of the three kv_sm_apply stores, nothing else. */
                if (v != KV_OK && v != KV_NOT_FOUND && v != KV_MISMATCH) {
                    return false;
                }
                s->status = (enum kv_status)v;
            } else if (field == 4) {
                s->found = v != 0;
            } else {
                s->last_index = v;
            }
        } else if (!skip_field(r, tag & 7)) {
            return false;
        }
    }
    /* Only a request that succeeded found its key. */
    return s->client_id != 0 && (!s->found || s->status == KV_OK);
}

int kv_sm_restore(struct kv_sm *sm, const void *data, size_t len)
{
    struct kv_sm *fresh;
    int rv = kv_sm_new(&fresh);
    if (rv != 0) {
        return rv;
    }
    /* An empty snapshot may come as NULL: even NULL + 0 is undefined. */
    struct reader r = {.p = data,
                       .end = len > 0 ? (const uint8_t *)data + len : data};
    rv = COMMON_ECORRUPT;
    while (r.p < r.end) {
        uint64_t tag;
        struct reader sub;
        if (!get_varint(&r, &tag)) {
            goto fail;
        }
        if ((tag >> 3) == 1 && (tag & 7) == 2) {
            struct common_buf key;
            struct common_buf val;
            if (!get_len(&r, &sub) || !read_pair(&sub, &key, &val)) {
                goto fail;
            }
            if (kv_sm_get(fresh, key.base, key.len, NULL) ||
                !pair_fits(key.len, 0, val.len)) {
                goto fail; /* a key twice, or too long: not ours */
            }
            int prv = put(fresh, key, val, false);
            if (prv != 0) {
                rv = prv;
                goto fail;
            }
        } else if ((tag >> 3) == 2 && (tag & 7) == 2) {
            struct session s;
            if (!get_len(&r, &sub) || !read_session(&sub, &s)) {
                goto fail;
            }
            struct session *slot = session_find(fresh, s.client_id, true);
            if (slot == NULL) {
                rv = COMMON_ENOMEM;
                goto fail;
            }
            *slot = s;
        } else if (!skip_field(&r, tag & 7)) {
            goto fail;
        }
    }
    /* Swap contents: the caller's object stays the same pointer and keeps
     * its configuration. */
    fresh->session_ttl = sm->session_ttl;
    struct kv_sm tmp = *sm;
    *sm = *fresh;
    *fresh = tmp;
    kv_sm_free(fresh);
    return 0;

fail:
    kv_sm_free(fresh);
    return rv;
}
