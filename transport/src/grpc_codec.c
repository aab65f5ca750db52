/*
 * Raft messages on the wire (see grpc_codec.h).
 *
 * Encoding builds protobuf-c structures that point into the messages
 * themselves - entry data and snapshot chunks are not copied until
 * protobuf-c packs them into the call's buffer - so a batch costs one
 * packing pass plus a few small arrays.
 *
 * Decoding is where bytes from the network become trusted structs, so it
 * checks everything the conversion relies on (a body, known entry types,
 * consecutive indexes, a chunk inside its snapshot) and that the batch was
 * meant for this node. The Raft core checks the rest (terms, membership,
 * sizes) itself and drops what it does not like. A batch is decoded whole
 * before any of it is delivered: a malformed one is refused entirely.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_codec.h"
#include "proto/raft.pb-c.h"

struct wire_msg
{
    Raftkv__Raft__Message m;
    union
    {
        Raftkv__Raft__Vote vote;
        Raftkv__Raft__VoteResp vote_resp;
        Raftkv__Raft__Append append;
        Raftkv__Raft__AppendResp append_resp;
        Raftkv__Raft__Heartbeat heartbeat;
        Raftkv__Raft__HeartbeatResp heartbeat_resp;
        Raftkv__Raft__Snapshot snapshot;
        Raftkv__Raft__SnapshotResp snapshot_resp;
        Raftkv__Raft__TimeoutNow timeout_now;
    } body;
};

struct transport_grpc_batch
{
    Raftkv__Raft__MessageBatch batch;
    struct wire_msg *msgs;
    Raftkv__Raft__Message **msg_ptrs;
    Raftkv__Raft__Entry *entries;
    Raftkv__Raft__Entry **entry_ptrs;
};

/* protobuf-c's byte fields are not const, but packing only reads them. */
static ProtobufCBinaryData bytes(const void *p, size_t len)
{
    ProtobufCBinaryData d = {.len = len, .data = (uint8_t *)(uintptr_t)p};
    return d;
}

static int entry_type_to_wire(enum raft_entry_type t,
                              Raftkv__Raft__EntryType *out)
{
    switch (t) {
        case RAFT_ENTRY_COMMAND:
            *out = RAFTKV__RAFT__ENTRY_TYPE__ENTRY_TYPE_COMMAND;
            return 0;
        case RAFT_ENTRY_NOOP:
            *out = RAFTKV__RAFT__ENTRY_TYPE__ENTRY_TYPE_NOOP;
            return 0;
        case RAFT_ENTRY_CONFIG:
            *out = RAFTKV__RAFT__ENTRY_TYPE__ENTRY_TYPE_CONFIG;
            return 0;
    }
    return COMMON_EINVAL;
}

static int entry_type_from_wire(Raftkv__Raft__EntryType t,
                                enum raft_entry_type *out)
{
    switch (t) {
        case RAFTKV__RAFT__ENTRY_TYPE__ENTRY_TYPE_COMMAND:
            *out = RAFT_ENTRY_COMMAND;
            return 0;
        case RAFTKV__RAFT__ENTRY_TYPE__ENTRY_TYPE_NOOP:
            *out = RAFT_ENTRY_NOOP;
            return 0;
        case RAFTKV__RAFT__ENTRY_TYPE__ENTRY_TYPE_CONFIG:
            *out = RAFT_ENTRY_CONFIG;
            return 0;
        default:
            return COMMON_ECORRUPT;
    }
}

/* Fills @w from @m; entries of an append go to @entries / @entry_ptrs. */
static int to_wire(const struct raft_message *m,
                   struct wire_msg *w,
                   Raftkv__Raft__Entry *entries,
                   Raftkv__Raft__Entry **entry_ptrs)
{
    raftkv__raft__message__init(&w->m);
    w->m.from = m->from;
    w->m.to = m->to;
    w->m.term = m->term;
    switch (m->type) {
        case RAFT_MSG_VOTE:
            raftkv__raft__vote__init(&w->body.vote);
            w->body.vote.last_log_index = m->vote.last_index;
            w->body.vote.last_log_term = m->vote.last_term;
            w->body.vote.pre_vote = m->vote.pre_vote;
            w->body.vote.transfer = m->vote.transfer;
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_VOTE;
            w->m.vote = &w->body.vote;
            return 0;
        case RAFT_MSG_VOTE_RESP:
            raftkv__raft__vote_resp__init(&w->body.vote_resp);
            w->body.vote_resp.granted = m->vote_resp.granted;
            w->body.vote_resp.pre_vote = m->vote_resp.pre_vote;
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_VOTE_RESP;
            w->m.vote_resp = &w->body.vote_resp;
            return 0;
        case RAFT_MSG_APPEND: {
            Raftkv__Raft__Append *a = &w->body.append;
            raftkv__raft__append__init(a);
            a->prev_index = m->append.prev_index;
            a->prev_term = m->append.prev_term;
            a->commit = m->append.commit;
            for (size_t k = 0; k < m->append.n_entries; k++) {
                const struct raft_entry *e = &m->append.entries[k];
                Raftkv__Raft__Entry *we = &entries[k];
                raftkv__raft__entry__init(we);
                we->term = e->term;
                we->index = e->index;
                if (entry_type_to_wire(e->type, &we->type) != 0) {
                    return COMMON_EINVAL;
                }
                we->data = bytes(e->data.base, e->data.len);
                entry_ptrs[k] = we;
            }
            a->n_entries = m->append.n_entries;
            a->entries = m->append.n_entries > 0 ? entry_ptrs : NULL;
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_APPEND;
            w->m.append = a;
            return 0;
        }
        case RAFT_MSG_APPEND_RESP:
            raftkv__raft__append_resp__init(&w->body.append_resp);
            w->body.append_resp.success = m->append_resp.success;
            w->body.append_resp.index = m->append_resp.index;
            w->body.append_resp.hint_index = m->append_resp.hint_index;
            w->body.append_resp.hint_term = m->append_resp.hint_term;
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_APPEND_RESP;
            w->m.append_resp = &w->body.append_resp;
            return 0;
        case RAFT_MSG_HEARTBEAT:
            raftkv__raft__heartbeat__init(&w->body.heartbeat);
            w->body.heartbeat.commit = m->heartbeat.commit;
            w->body.heartbeat.context = m->heartbeat.context;
            w->body.heartbeat.match = m->heartbeat.match;
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_HEARTBEAT;
            w->m.heartbeat = &w->body.heartbeat;
            return 0;
        case RAFT_MSG_HEARTBEAT_RESP:
            raftkv__raft__heartbeat_resp__init(&w->body.heartbeat_resp);
            w->body.heartbeat_resp.context = m->heartbeat_resp.context;
            w->body.heartbeat_resp.log_end = m->heartbeat_resp.log_end;
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_HEARTBEAT_RESP;
            w->m.heartbeat_resp = &w->body.heartbeat_resp;
            return 0;
        case RAFT_MSG_SNAPSHOT: {
            Raftkv__Raft__Snapshot *s = &w->body.snapshot;
            raftkv__raft__snapshot__init(s);
            s->index = m->snapshot.index;
            s->term = m->snapshot.term;
            s->conf = bytes(m->snapshot.conf, m->snapshot.conf_len);
            s->offset = m->snapshot.offset;
            s->total = m->snapshot.total;
            s->data = bytes(m->snapshot.data, m->snapshot.len);
            s->done = m->snapshot.done;
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_SNAPSHOT;
            w->m.snapshot = s;
            return 0;
        }
        case RAFT_MSG_SNAPSHOT_RESP:
            raftkv__raft__snapshot_resp__init(&w->body.snapshot_resp);
            w->body.snapshot_resp.index = m->snapshot_resp.index;
            w->body.snapshot_resp.term = m->snapshot_resp.term;
            w->body.snapshot_resp.next_offset = m->snapshot_resp.next_offset;
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_SNAPSHOT_RESP;
            w->m.snapshot_resp = &w->body.snapshot_resp;
            return 0;
        case RAFT_MSG_TIMEOUT_NOW:
            raftkv__raft__timeout_now__init(&w->body.timeout_now);
            w->m.body_case = RAFTKV__RAFT__MESSAGE__BODY_TIMEOUT_NOW;
            w->m.timeout_now = &w->body.timeout_now;
            return 0;
    }
    return COMMON_EINVAL;
}

void transport_grpc_batch_free(struct transport_grpc_batch *b)
{
    if (b == NULL) {
        return;
    }
    free(b->entry_ptrs);
    free(b->entries);
    free(b->msg_ptrs);
    free(b->msgs);
    free(b);
}

void transport_grpc_batch_set_cluster(struct transport_grpc_batch *b,
                                      uint64_t cluster)
{
    assert(b != NULL);
    b->batch.cluster = cluster;
}

int transport_grpc_batch_new(const struct raft_message *const *msgs,
                             size_t n,
                             struct transport_grpc_batch **out)
{
    size_t n_entries = 0;
    for (size_t k = 0; k < n; k++) {
        if (msgs[k]->type == RAFT_MSG_APPEND) {
            n_entries += msgs[k]->append.n_entries;
        }
    }
    struct transport_grpc_batch *b = calloc(1, sizeof *b);
    if (b == NULL) {
        return COMMON_ENOMEM;
    }
    raftkv__raft__message_batch__init(&b->batch);
    b->msgs = calloc(n > 0 ? n : 1, sizeof *b->msgs);
    b->msg_ptrs = calloc(n > 0 ? n : 1, sizeof *b->msg_ptrs);
    b->entries = calloc(n_entries > 0 ? n_entries : 1, sizeof *b->entries);
    b->entry_ptrs =
        calloc(n_entries > 0 ? n_entries : 1, sizeof *b->entry_ptrs);
    if (b->msgs == NULL || b->msg_ptrs == NULL || b->entries == NULL ||
        b->entry_ptrs == NULL) {
        transport_grpc_batch_free(b);
        return COMMON_ENOMEM;
    }
    size_t e = 0;
    for (size_t k = 0; k < n; k++) {
        int rv =
            to_wire(msgs[k], &b->msgs[k], b->entries + e, b->entry_ptrs + e);
        if (rv != 0) {
            transport_grpc_batch_free(b);
            return rv;
        }
        if (msgs[k]->type == RAFT_MSG_APPEND) {
            e += msgs[k]->append.n_entries;
        }
        b->msg_ptrs[k] = &b->msgs[k].m;
    }
    b->batch.n_messages = n;
    b->batch.messages = n > 0 ? b->msg_ptrs : NULL;
    *out = b;
    return 0;
}

size_t transport_grpc_batch_size(const struct transport_grpc_batch *b)
{
    return raftkv__raft__message_batch__get_packed_size(&b->batch);
}

void transport_grpc_batch_pack(const struct transport_grpc_batch *b,
                               uint8_t *buf)
{
    raftkv__raft__message_batch__pack(&b->batch, buf);
}

size_t transport_grpc_msg_estimate(const struct raft_message *m)
{
    /* Six integer fields of at most 11 bytes each, plus framing. */
    size_t n = 96;
    if (m->type == RAFT_MSG_APPEND) {
        for (size_t k = 0; k < m->append.n_entries; k++) {
            n += 40 + m->append.entries[k].data.len;
        }
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        n += 64 + m->snapshot.conf_len + m->snapshot.len;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                  */
/* ------------------------------------------------------------------------ */

/* Checks message @k of a batch for node @self: NULL, or what is wrong
 * (written to @why). */
static const char *check(const Raftkv__Raft__Message *w,
                         size_t k,
                         raft_id self,
                         char *why,
                         size_t why_len)
{
    if (w->body_case == RAFTKV__RAFT__MESSAGE__BODY__NOT_SET) {
        snprintf(why, why_len, "message %zu has no body this node knows", k);
        return why;
    }
    if (w->from == 0 || w->to == 0) {
        snprintf(why, why_len, "message %zu is from or to node 0", k);
        return why;
    }
    if (w->to != self) {
        snprintf(why, why_len, "message %zu is for node %llu, not node %llu", k,
                 (unsigned long long)w->to, (unsigned long long)self);
        return why;
    }
    if (w->from == self) {
        snprintf(why, why_len, "message %zu claims to come from node %llu", k,
                 (unsigned long long)self);
        return why;
    }
    if (w->body_case == RAFTKV__RAFT__MESSAGE__BODY_APPEND) {
        const Raftkv__Raft__Append *a = w->append;
        if (a->prev_index > UINT64_MAX - a->n_entries) {
            snprintf(why, why_len, "message %zu: entry indexes overflow", k);
            return why;
        }
        for (size_t j = 0; j < a->n_entries; j++) {
            const Raftkv__Raft__Entry *e = a->entries[j];
            enum raft_entry_type t;
            if (entry_type_from_wire(e->type, &t) != 0) {
                snprintf(why, why_len,
                         "message %zu: entry %zu has unknown type %d", k, j,
                         (int)e->type);
                return why;
            }
            if (e->index != a->prev_index + 1 + j) {
                snprintf(why, why_len,
                         "message %zu: entry %zu has index %llu, expected "
                         "%llu",
                         k, j, (unsigned long long)e->index,
                         (unsigned long long)(a->prev_index + 1 + j));
                return why;
            }
        }
    }
    if (w->body_case == RAFTKV__RAFT__MESSAGE__BODY_SNAPSHOT) {
        const Raftkv__Raft__Snapshot *s = w->snapshot;
        if (s->offset > s->total || s->data.len > s->total - s->offset) {
            snprintf(why, why_len,
                     "message %zu: snapshot chunk at %llu (%zu bytes) "
                     "outside its snapshot of %llu bytes",
                     k, (unsigned long long)s->offset, s->data.len,
                     (unsigned long long)s->total);
            return why;
        }
    }
    return NULL;
}

/* Converts a checked message; entries of an append go to @scratch (room
 * for all of them) and point into @w. */
static void from_wire(const Raftkv__Raft__Message *w,
                      struct raft_message *m,
                      struct raft_entry *scratch)
{
    memset(m, 0, sizeof *m);
    m->from = w->from;
    m->to = w->to;
    m->term = w->term;
    switch (w->body_case) {
        case RAFTKV__RAFT__MESSAGE__BODY_VOTE:
            m->type = RAFT_MSG_VOTE;
            m->vote.last_index = w->vote->last_log_index;
            m->vote.last_term = w->vote->last_log_term;
            m->vote.pre_vote = w->vote->pre_vote;
            m->vote.transfer = w->vote->transfer;
            break;
        case RAFTKV__RAFT__MESSAGE__BODY_VOTE_RESP:
            m->type = RAFT_MSG_VOTE_RESP;
            m->vote_resp.granted = w->vote_resp->granted;
            m->vote_resp.pre_vote = w->vote_resp->pre_vote;
            break;
        case RAFTKV__RAFT__MESSAGE__BODY_APPEND: {
            const Raftkv__Raft__Append *a = w->append;
            m->type = RAFT_MSG_APPEND;
            m->append.prev_index = a->prev_index;
            m->append.prev_term = a->prev_term;
            m->append.commit = a->commit;
            for (size_t j = 0; j < a->n_entries; j++) {
                const Raftkv__Raft__Entry *e = a->entries[j];
                scratch[j].term = e->term;
                scratch[j].index = e->index;
                entry_type_from_wire(e->type, &scratch[j].type);
                scratch[j].data.base = e->data.data;
                scratch[j].data.len = e->data.len;
            }
            m->append.entries = a->n_entries > 0 ? scratch : NULL;
            m->append.n_entries = a->n_entries;
            break;
        }
        case RAFTKV__RAFT__MESSAGE__BODY_APPEND_RESP:
            m->type = RAFT_MSG_APPEND_RESP;
            m->append_resp.success = w->append_resp->success;
            m->append_resp.index = w->append_resp->index;
            m->append_resp.hint_index = w->append_resp->hint_index;
            m->append_resp.hint_term = w->append_resp->hint_term;
            break;
        case RAFTKV__RAFT__MESSAGE__BODY_HEARTBEAT:
            m->type = RAFT_MSG_HEARTBEAT;
            m->heartbeat.commit = w->heartbeat->commit;
            m->heartbeat.context = w->heartbeat->context;
            m->heartbeat.match = w->heartbeat->match;
            break;
        case RAFTKV__RAFT__MESSAGE__BODY_HEARTBEAT_RESP:
            m->type = RAFT_MSG_HEARTBEAT_RESP;
            m->heartbeat_resp.context = w->heartbeat_resp->context;
            m->heartbeat_resp.log_end = w->heartbeat_resp->log_end;
            break;
        case RAFTKV__RAFT__MESSAGE__BODY_SNAPSHOT: {
            const Raftkv__Raft__Snapshot *s = w->snapshot;
            m->type = RAFT_MSG_SNAPSHOT;
            m->snapshot.index = s->index;
            m->snapshot.term = s->term;
            m->snapshot.conf = s->conf.len > 0 ? s->conf.data : NULL;
            m->snapshot.conf_len = s->conf.len;
            m->snapshot.offset = s->offset;
            m->snapshot.total = s->total;
            m->snapshot.data = s->data.len > 0 ? s->data.data : NULL;
            m->snapshot.len = s->data.len;
            m->snapshot.done = s->done;
            break;
        }
        case RAFTKV__RAFT__MESSAGE__BODY_SNAPSHOT_RESP:
            m->type = RAFT_MSG_SNAPSHOT_RESP;
            m->snapshot_resp.index = w->snapshot_resp->index;
            m->snapshot_resp.term = w->snapshot_resp->term;
            m->snapshot_resp.next_offset = w->snapshot_resp->next_offset;
            break;
        case RAFTKV__RAFT__MESSAGE__BODY_TIMEOUT_NOW:
            m->type = RAFT_MSG_TIMEOUT_NOW;
            break;
        default:
            break; /* check() refused it */
    }
}

int transport_grpc_batch_decode(const uint8_t *buf,
                                size_t len,
                                raft_id self,
                                uint64_t cluster,
                                struct transport_msg ***out,
                                size_t *n,
                                char *why,
                                size_t why_len)
{
    *out = NULL;
    *n = 0;
    Raftkv__Raft__MessageBatch *b =
        raftkv__raft__message_batch__unpack(NULL, len, buf);
    if (b == NULL) {
        snprintf(why, why_len,
                 "%zu bytes that are not a raftkv.raft.MessageBatch", len);
        return COMMON_ECORRUPT;
    }
    if (b->cluster != cluster) {
        snprintf(why, why_len,
                 "a batch of cluster %016llx, but this node is in cluster "
                 "%016llx",
                 (unsigned long long)b->cluster, (unsigned long long)cluster);
        raftkv__raft__message_batch__free_unpacked(b, NULL);
        return COMMON_EMISMATCH;
    }
    if (b->n_messages > TRANSPORT_GRPC_BATCH_MESSAGES_MAX) {
        snprintf(why, why_len, "%zu messages in one batch (at most %d)",
                 b->n_messages, TRANSPORT_GRPC_BATCH_MESSAGES_MAX);
        raftkv__raft__message_batch__free_unpacked(b, NULL);
        return COMMON_ECORRUPT;
    }
    size_t most_entries = 0;
    for (size_t k = 0; k < b->n_messages; k++) {
        const Raftkv__Raft__Message *w = b->messages[k];
        if (check(w, k, self, why, why_len) != NULL) {
            raftkv__raft__message_batch__free_unpacked(b, NULL);
            return COMMON_ECORRUPT;
        }
        if (w->body_case == RAFTKV__RAFT__MESSAGE__BODY_APPEND &&
            w->append->n_entries > most_entries) {
            most_entries = w->append->n_entries;
        }
    }
    int rv = 0;
    struct transport_msg **msgs = NULL;
    struct raft_entry *scratch = NULL;
    if (b->n_messages > 0) {
        msgs = calloc(b->n_messages, sizeof *msgs);
        scratch =
            malloc((most_entries > 0 ? most_entries : 1) * sizeof *scratch);
        if (msgs == NULL || scratch == NULL) {
            rv = COMMON_ENOMEM;
            goto out;
        }
    }
    for (size_t k = 0; k < b->n_messages; k++) {
        struct raft_message m;
        from_wire(b->messages[k], &m, scratch);
        msgs[k] = transport_msg_clone(&m);
        if (msgs[k] == NULL) {
            rv = COMMON_ENOMEM;
            goto out;
        }
    }
    *out = msgs;
    *n = b->n_messages;
    msgs = NULL;
out:
    if (msgs != NULL) {
        for (size_t k = 0; k < b->n_messages; k++) {
            free(msgs[k]);
        }
        free(msgs);
    }
    if (rv == COMMON_ENOMEM) {
        snprintf(why, why_len, "out of memory decoding a batch");
    }
    free(scratch);
    raftkv__raft__message_batch__free_unpacked(b, NULL);
    return rv;
}
