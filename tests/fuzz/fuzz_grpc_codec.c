/*
 * fuzz_grpc_codec: the gRPC transport's codec (transport/src/grpc_codec.c)
 * on raw bytes as they would arrive from a peer.
 *
 * The first input byte picks the receiving node (1..4), the rest is the
 * packed raftkv.raft.MessageBatch. Properties: a refusal is COMMON_ECORRUPT
 * with a reason and nothing handed out; an accepted batch holds messages
 * from another node to the receiver with well-formed entries, and it
 * round-trips: encoding it and decoding that gives the same messages, and
 * encoding those gives the same bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "grpc_codec.h"
#include "transport/transport.h"

static bool same_bytes(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static bool same_entries(const struct raft_append *a,
                         const struct raft_append *b)
{
    if (a->n_entries != b->n_entries) {
        return false;
    }
    for (size_t k = 0; k < a->n_entries; k++) {
        const struct raft_entry *x = &a->entries[k];
        const struct raft_entry *y = &b->entries[k];
        if (x->term != y->term || x->index != y->index || x->type != y->type ||
            !same_bytes(x->data.base, x->data.len, y->data.base, y->data.len)) {
            return false;
        }
    }
    return true;
}

static bool same_message(const struct raft_message *a,
                         const struct raft_message *b)
{
    if (a->type != b->type || a->from != b->from || a->to != b->to ||
        a->term != b->term) {
        return false;
    }
    switch (a->type) {
        case RAFT_MSG_VOTE:
            return a->vote.last_index == b->vote.last_index &&
                   a->vote.last_term == b->vote.last_term &&
                   a->vote.pre_vote == b->vote.pre_vote &&
                   a->vote.transfer == b->vote.transfer;
        case RAFT_MSG_VOTE_RESP:
            return a->vote_resp.granted == b->vote_resp.granted &&
                   a->vote_resp.pre_vote == b->vote_resp.pre_vote;
        case RAFT_MSG_APPEND:
            return a->append.prev_index == b->append.prev_index &&
                   a->append.prev_term == b->append.prev_term &&
                   a->append.commit == b->append.commit &&
                   same_entries(&a->append, &b->append);
        case RAFT_MSG_APPEND_RESP:
            return a->append_resp.success == b->append_resp.success &&
                   a->append_resp.index == b->append_resp.index &&
                   a->append_resp.hint_index == b->append_resp.hint_index &&
                   a->append_resp.hint_term == b->append_resp.hint_term;
        case RAFT_MSG_HEARTBEAT:
            return a->heartbeat.commit == b->heartbeat.commit &&
                   a->heartbeat.context == b->heartbeat.context &&
                   a->heartbeat.match == b->heartbeat.match;
        case RAFT_MSG_HEARTBEAT_RESP:
            return a->heartbeat_resp.context == b->heartbeat_resp.context &&
                   a->heartbeat_resp.log_end == b->heartbeat_resp.log_end;
        case RAFT_MSG_SNAPSHOT: {
            const struct raft_snapshot_chunk *x = &a->snapshot;
            const struct raft_snapshot_chunk *y = &b->snapshot;
            return x->index == y->index && x->term == y->term &&
                   x->offset == y->offset && x->total == y->total &&
                   x->done == y->done &&
                   same_bytes(x->conf, x->conf_len, y->conf, y->conf_len) &&
                   same_bytes(x->data, x->len, y->data, y->len);
        }
        case RAFT_MSG_SNAPSHOT_RESP:
            return a->snapshot_resp.index == b->snapshot_resp.index &&
                   a->snapshot_resp.term == b->snapshot_resp.term &&
                   a->snapshot_resp.next_offset == b->snapshot_resp.next_offset;
        case RAFT_MSG_TIMEOUT_NOW:
            return true;
    }
    return false;
}

static void free_msgs(struct transport_msg **msgs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        free(msgs[k]);
    }
    free(msgs);
}

static void check_message(const struct raft_message *m, raft_id self)
{
    FUZZ_CHECK(m->type >= RAFT_MSG_VOTE && m->type <= RAFT_MSG_TYPE_MAX);
    FUZZ_CHECK(m->to == self && m->from != self && m->from != 0);
    if (m->type == RAFT_MSG_APPEND) {
        FUZZ_CHECK(m->append.n_entries == 0 || m->append.entries != NULL);
        for (size_t k = 0; k < m->append.n_entries; k++) {
            const struct raft_entry *e = &m->append.entries[k];
            FUZZ_CHECK(e->type >= RAFT_ENTRY_COMMAND &&
                       e->type <= RAFT_ENTRY_CONFIG);
            FUZZ_CHECK(e->data.len == 0 || e->data.base != NULL);
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        FUZZ_CHECK(m->snapshot.len == 0 || m->snapshot.data != NULL);
        FUZZ_CHECK(m->snapshot.conf_len == 0 || m->snapshot.conf != NULL);
    }
}

/* Encodes @msgs; returns a malloc'd buffer of *@len bytes. */
static uint8_t *encode(struct transport_msg *const *msgs, size_t n, size_t *len)
{
    const struct raft_message **ptrs = calloc(n > 0 ? n : 1, sizeof *ptrs);
    FUZZ_NONNULL(ptrs);
    for (size_t k = 0; k < n; k++) {
        ptrs[k] = &msgs[k]->m;
    }
    struct transport_grpc_batch *b = NULL;
    int rv = transport_grpc_batch_new(ptrs, n, &b);
    if (rv != 0) {
        fprintf(stderr, "a decoded batch does not encode: %s\n",
                common_strerror(rv));
        abort();
    }
    *len = transport_grpc_batch_size(b);
    uint8_t *buf = malloc(*len > 0 ? *len : 1);
    FUZZ_NONNULL(buf);
    transport_grpc_batch_pack(b, buf);
    transport_grpc_batch_free(b);
    free(ptrs);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    raft_id self = (raft_id)(data[0] % 4) + 1;
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    struct transport_msg **msgs = NULL;
    size_t n = 99;
    char why[256] = "";
    int rv = transport_grpc_batch_decode(buf, len, self, 0, &msgs, &n, why,
                                         sizeof why);
    if (rv != 0) {
        FUZZ_CHECK(rv == COMMON_ECORRUPT || rv == COMMON_EMISMATCH);
        FUZZ_CHECK(msgs == NULL && n == 0);
        FUZZ_CHECK(why[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(n <= TRANSPORT_GRPC_BATCH_MESSAGES_MAX);
    FUZZ_CHECK((n == 0) == (msgs == NULL));
    for (size_t k = 0; k < n; k++) {
        check_message(&msgs[k]->m, self);
    }

    size_t len1;
    uint8_t *enc1 = encode(msgs, n, &len1);
    struct transport_msg **again = NULL;
    size_t n2 = 0;
    rv = transport_grpc_batch_decode(enc1, len1, self, 0, &again, &n2, why,
                                     sizeof why);
    if (rv != 0) {
        fprintf(stderr, "a re-encoded batch is refused: %s\n", why);
        abort();
    }
    FUZZ_CHECK(n2 == n);
    for (size_t k = 0; k < n; k++) {
        FUZZ_CHECK(same_message(&msgs[k]->m, &again[k]->m));
    }
    size_t len2;
    uint8_t *enc2 = encode(again, n2, &len2);
    FUZZ_CHECK(same_bytes(enc1, len1, enc2, len2));

    free(enc2);
    free(enc1);
    free_msgs(again, n2);
    free_msgs(msgs, n);
    return 0;
}
