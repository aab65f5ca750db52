/*
 * transport_grpc_codec: Raft messages to raftkv.raft.MessageBatch and back,
 * and the refusal of batches that are not well formed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grpc_codec.h"
#include "proto/raft.pb-c.h"
#include "transport/transport.h"

/* Packs @n messages; returns a malloc'd buffer of *@len bytes. */
static uint8_t *pack(const struct raft_message *const *msgs,
                     size_t n,
                     size_t *len)
{
    struct transport_grpc_batch *b = NULL;
    assert_int_equal(transport_grpc_batch_new(msgs, n, &b), 0);
    *len = transport_grpc_batch_size(b);
    uint8_t *buf = malloc(*len > 0 ? *len : 1);
    assert_non_null(buf);
    transport_grpc_batch_pack(b, buf);
    transport_grpc_batch_free(b);
    return buf;
}

static void free_msgs(struct transport_msg **msgs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        free(msgs[k]);
    }
    free(msgs);
}

/* Decodes @buf expecting it to be refused; returns the reason. */
static const char *refused(const uint8_t *buf, size_t len, raft_id self)
{
    static char why[256];
    struct transport_msg **msgs = NULL;
    size_t n = 99;
    why[0] = '\0';
    assert_int_equal(transport_grpc_batch_decode(buf, len, self, 0, &msgs, &n,
                                                 why, sizeof why),
                     COMMON_ECORRUPT);
    assert_null(msgs);
    assert_int_equal(n, 0);
    assert_true(why[0] != '\0');
    return why;
}

static void assert_same(const struct raft_message *a,
                        const struct raft_message *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->from, b->from);
    assert_int_equal(a->to, b->to);
    assert_int_equal(a->term, b->term);
    switch (a->type) {
        case RAFT_MSG_VOTE:
            assert_int_equal(a->vote.last_index, b->vote.last_index);
            assert_int_equal(a->vote.last_term, b->vote.last_term);
            assert_int_equal(a->vote.pre_vote, b->vote.pre_vote);
            assert_int_equal(a->vote.transfer, b->vote.transfer);
            break;
        case RAFT_MSG_VOTE_RESP:
            assert_int_equal(a->vote_resp.granted, b->vote_resp.granted);
            assert_int_equal(a->vote_resp.pre_vote, b->vote_resp.pre_vote);
            break;
        case RAFT_MSG_APPEND:
            assert_int_equal(a->append.prev_index, b->append.prev_index);
            assert_int_equal(a->append.prev_term, b->append.prev_term);
            assert_int_equal(a->append.commit, b->append.commit);
            assert_int_equal(a->append.n_entries, b->append.n_entries);
            for (size_t k = 0; k < a->append.n_entries; k++) {
                const struct raft_entry *x = &a->append.entries[k];
                const struct raft_entry *y = &b->append.entries[k];
                assert_int_equal(x->term, y->term);
                assert_int_equal(x->index, y->index);
                assert_int_equal(x->type, y->type);
                assert_int_equal(x->data.len, y->data.len);
                if (x->data.len > 0) {
                    assert_memory_equal(x->data.base, y->data.base,
                                        x->data.len);
                }
            }
            break;
        case RAFT_MSG_APPEND_RESP:
            assert_int_equal(a->append_resp.success, b->append_resp.success);
            assert_int_equal(a->append_resp.index, b->append_resp.index);
            assert_int_equal(a->append_resp.hint_index,
                             b->append_resp.hint_index);
            assert_int_equal(a->append_resp.hint_term,
                             b->append_resp.hint_term);
            break;
        case RAFT_MSG_HEARTBEAT:
            assert_int_equal(a->heartbeat.commit, b->heartbeat.commit);
            assert_int_equal(a->heartbeat.context, b->heartbeat.context);
            assert_int_equal(a->heartbeat.match, b->heartbeat.match);
            break;
        case RAFT_MSG_HEARTBEAT_RESP:
            assert_int_equal(a->heartbeat_resp.context,
                             b->heartbeat_resp.context);
            assert_int_equal(a->heartbeat_resp.log_end,
                             b->heartbeat_resp.log_end);
            break;
        case RAFT_MSG_SNAPSHOT:
            assert_int_equal(a->snapshot.index, b->snapshot.index);
            assert_int_equal(a->snapshot.term, b->snapshot.term);
            assert_int_equal(a->snapshot.conf_len, b->snapshot.conf_len);
            assert_memory_equal(a->snapshot.conf, b->snapshot.conf,
                                a->snapshot.conf_len);
            assert_int_equal(a->snapshot.offset, b->snapshot.offset);
            assert_int_equal(a->snapshot.total, b->snapshot.total);
            assert_int_equal(a->snapshot.len, b->snapshot.len);
            assert_memory_equal(a->snapshot.data, b->snapshot.data,
                                a->snapshot.len);
            assert_int_equal(a->snapshot.done, b->snapshot.done);
            break;
        case RAFT_MSG_SNAPSHOT_RESP:
            assert_int_equal(a->snapshot_resp.index, b->snapshot_resp.index);
            assert_int_equal(a->snapshot_resp.term, b->snapshot_resp.term);
            assert_int_equal(a->snapshot_resp.next_offset,
                             b->snapshot_resp.next_offset);
            break;
        case RAFT_MSG_TIMEOUT_NOW:
            break;
        default:
            fail_msg("unexpected type %d", a->type);
    }
}

/* Every message type, with every field set to something not zero, comes
 * back from the wire exactly as it left, in order. */
static void codec_round_trips_every_message_type(void **state)
{
    (void)state;
    static const char cmd1[] = "put x 1";
    static const char cmd2[] = "append y zz";
    struct raft_entry entries[3] = {
        {.term = 3,
         .index = 8,
         .type = RAFT_ENTRY_COMMAND,
         .data = {(void *)cmd1, sizeof cmd1}},
        {.term = 4, .index = 9, .type = RAFT_ENTRY_NOOP},
        {.term = 4,
         .index = 10,
         .type = RAFT_ENTRY_COMMAND,
         .data = {(void *)cmd2, sizeof cmd2}},
    };
    struct raft_configuration conf;
    raft_id ids[3] = {1, 2, 3};
    assert_int_equal(raft_configuration_voters(&conf, ids, 3), 0);
    uint8_t conf_buf[128];
    size_t conf_len =
        raft_configuration_encode(&conf, conf_buf, sizeof conf_buf);
    assert_true(conf_len <= sizeof conf_buf);
    uint8_t chunk[1000];
    for (size_t k = 0; k < sizeof chunk; k++) {
        chunk[k] = (uint8_t)(k * 7);
    }
    struct raft_message m[9];
    memset(m, 0, sizeof m);
    for (int k = 0; k < 9; k++) {
        m[k].type = (enum raft_msg_type)(k + 1);
        m[k].from = 2;
        m[k].to = 1;
        m[k].term = 4 + (raft_term)k;
    }
    m[0].vote =
        (struct raft_vote){.last_index = 10, .last_term = 4, .transfer = true};
    m[1].vote_resp = (struct raft_vote_resp){.granted = true, .pre_vote = true};
    m[2].append = (struct raft_append){.prev_index = 7,
                                       .prev_term = 3,
                                       .commit = 6,
                                       .entries = entries,
                                       .n_entries = 3};
    m[3].append_resp = (struct raft_append_resp){
        .success = true, .index = 10, .hint_index = 5, .hint_term = 2};
    m[4].heartbeat =
        (struct raft_heartbeat){.commit = 9, .context = 77, .match = 11};
    m[5].heartbeat_resp =
        (struct raft_heartbeat_resp){.context = 77, .log_end = 12};
    m[6].snapshot = (struct raft_snapshot_chunk){.index = 500,
                                                 .term = 4,
                                                 .conf = conf_buf,
                                                 .conf_len = conf_len,
                                                 .offset = 2000,
                                                 .total = 3000,
                                                 .data = chunk,
                                                 .len = sizeof chunk,
                                                 .done = true};
    m[7].snapshot_resp = (struct raft_snapshot_resp){
        .index = 500, .term = 4, .next_offset = 3000};
    const struct raft_message *ptrs[9];
    for (int k = 0; k < 9; k++) {
        ptrs[k] = &m[k];
    }
    size_t len = 0;
    uint8_t *buf = pack(ptrs, 9, &len);
    struct transport_msg **out = NULL;
    size_t n = 0;
    char why[256];
    assert_int_equal(
        transport_grpc_batch_decode(buf, len, 1, 0, &out, &n, why, sizeof why),
        0);
    assert_int_equal(n, 9);
    for (int k = 0; k < 9; k++) {
        assert_same(&m[k], &out[k]->m);
    }
    free_msgs(out, n);
    free(buf);
}

/* An empty batch is a valid batch of nothing. */
static void codec_accepts_an_empty_batch(void **state)
{
    (void)state;
    struct transport_msg **out = NULL;
    size_t n = 5;
    char why[64];
    assert_int_equal(
        transport_grpc_batch_decode(NULL, 0, 1, 0, &out, &n, why, sizeof why),
        0);
    assert_null(out);
    assert_int_equal(n, 0);
}

/* Bytes that are not a MessageBatch at all are refused, whatever they
 * are: random bytes, a truncated batch, an invalid wire type. */
static void codec_refuses_bytes_that_do_not_decode(void **state)
{
    (void)state;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_non_null(strstr(refused(garbage, sizeof garbage, 1),
                           "not a raftkv.raft.MessageBatch"));
    struct raft_message hb = {
        .type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 1};
    const struct raft_message *p = &hb;
    size_t len = 0;
    uint8_t *buf = pack(&p, 1, &len);
    refused(buf, len - 1, 1);
    free(buf);
    /* A message field whose length runs past the end. */
    static const uint8_t cut[] = {0x0a, 0x40, 0x08, 0x02};
    refused(cut, sizeof cut, 1);
    /* Randomised bytes never crash the decoder. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t rnd[64];
    for (int trial = 0; trial < 2000; trial++) {
        size_t n = (size_t)(trial % 64) + 1;
        for (size_t k = 0; k < n; k++) {
            x = common_mix64(x);
            rnd[k] = (uint8_t)x;
        }
        struct transport_msg **out = NULL;
        size_t got = 0;
        char why[128];
        int rv = transport_grpc_batch_decode(rnd, n, 1, 0, &out, &got, why,
                                             sizeof why);
        assert_true(rv == 0 || rv == COMMON_ECORRUPT || rv == COMMON_EMISMATCH);
        if (rv == 0) {
            free_msgs(out, got);
        }
    }
}

/* Packs one wire message by hand (tests of what our encoder never
 * produces). */
static uint8_t *pack_wire(Raftkv__Raft__Message *w, size_t *len)
{
    Raftkv__Raft__MessageBatch b = RAFTKV__RAFT__MESSAGE_BATCH__INIT;
    b.n_messages = 1;
    b.messages = &w;
    *len = raftkv__raft__message_batch__get_packed_size(&b);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    raftkv__raft__message_batch__pack(&b, buf);
    return buf;
}

/* Messages that decode but are not well formed are refused, and the
 * reason says which message and what is wrong. */
static void codec_refuses_malformed_messages(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf;

    /* No body (or one from a newer protocol). */
    Raftkv__Raft__Message w = RAFTKV__RAFT__MESSAGE__INIT;
    w.from = 2;
    w.to = 1;
    w.term = 1;
    buf = pack_wire(&w, &len);
    assert_non_null(strstr(refused(buf, len, 1), "no body"));
    free(buf);

    /* Addressed to another node, from node 0, from the receiver itself. */
    Raftkv__Raft__HeartbeatResp hr = RAFTKV__RAFT__HEARTBEAT_RESP__INIT;
    w.body_case = RAFTKV__RAFT__MESSAGE__BODY_HEARTBEAT_RESP;
    w.heartbeat_resp = &hr;
    buf = pack_wire(&w, &len);
    assert_non_null(strstr(refused(buf, len, 3), "for node 1, not node 3"));
    free(buf);
    w.from = 0;
    buf = pack_wire(&w, &len);
    assert_non_null(strstr(refused(buf, len, 1), "node 0"));
    free(buf);
    w.from = 1;
    buf = pack_wire(&w, &len);
    assert_non_null(strstr(refused(buf, len, 1), "come from node 1"));
    free(buf);
    w.from = 2;

    /* Entries of unknown type, or not consecutive. */
    Raftkv__Raft__Entry e1 = RAFTKV__RAFT__ENTRY__INIT;
    Raftkv__Raft__Entry e2 = RAFTKV__RAFT__ENTRY__INIT;
    Raftkv__Raft__Entry *es[2] = {&e1, &e2};
    e1.index = 5;
    e1.term = 1;
    e1.type = RAFTKV__RAFT__ENTRY_TYPE__ENTRY_TYPE_COMMAND;
    e2.index = 6;
    e2.term = 1;
    e2.type = (Raftkv__Raft__EntryType)9;
    Raftkv__Raft__Append a = RAFTKV__RAFT__APPEND__INIT;
    a.prev_index = 4;
    a.prev_term = 1;
    a.n_entries = 2;
    a.entries = es;
    w.body_case = RAFTKV__RAFT__MESSAGE__BODY_APPEND;
    w.append = &a;
    buf = pack_wire(&w, &len);
    assert_non_null(strstr(refused(buf, len, 1), "unknown type 9"));
    free(buf);
    e2.type = RAFTKV__RAFT__ENTRY_TYPE__ENTRY_TYPE_NOOP;
    e2.index = 8;
    buf = pack_wire(&w, &len);
    assert_non_null(strstr(refused(buf, len, 1), "index 8, expected 6"));
    free(buf);
    a.prev_index = UINT64_MAX - 1;
    buf = pack_wire(&w, &len);
    assert_non_null(strstr(refused(buf, len, 1), "overflow"));
    free(buf);

    /* A snapshot chunk outside its snapshot. */
    static uint8_t data[10];
    Raftkv__Raft__Snapshot s = RAFTKV__RAFT__SNAPSHOT__INIT;
    s.index = 9;
    s.term = 1;
    s.offset = 95;
    s.total = 100;
    s.data.data = data;
    s.data.len = sizeof data;
    w.body_case = RAFTKV__RAFT__MESSAGE__BODY_SNAPSHOT;
    w.snapshot = &s;
    buf = pack_wire(&w, &len);
    assert_non_null(strstr(refused(buf, len, 1), "outside its snapshot"));
    free(buf);
    s.offset = UINT64_MAX;
    buf = pack_wire(&w, &len);
    refused(buf, len, 1);
    free(buf);
}

/* One bad message spoils the whole batch: nothing of it is delivered. */
static void codec_refuses_a_batch_with_one_bad_message(void **state)
{
    (void)state;
    struct raft_message good = {
        .type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 1};
    struct raft_message bad = good;
    bad.to = 3;
    const struct raft_message *ptrs[3] = {&good, &good, &bad};
    size_t len = 0;
    uint8_t *buf = pack(ptrs, 3, &len);
    assert_non_null(strstr(refused(buf, len, 1), "message 2"));
    free(buf);
}

/* Our encoder refuses a message it cannot represent. */
/* A batch carries its sender's cluster id; a receiver of another cluster
 * refuses it with COMMON_EMISMATCH, naming both. */
static void codec_batch_carries_its_cluster(void **state)
{
    (void)state;
    struct raft_message m = {
        .type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 3};
    const struct raft_message *p = &m;
    struct transport_grpc_batch *b = NULL;
    assert_int_equal(transport_grpc_batch_new(&p, 1, &b), 0);
    transport_grpc_batch_set_cluster(b, 0x1234);
    size_t len = transport_grpc_batch_size(b);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    transport_grpc_batch_pack(b, buf);
    transport_grpc_batch_free(b);
    struct transport_msg **out = NULL;
    size_t n = 0;
    char why[256] = "";
    const uint64_t others[] = {0, 0x1235};
    for (size_t k = 0; k < 2; k++) {
        assert_int_equal(transport_grpc_batch_decode(buf, len, 1, others[k],
                                                     &out, &n, why, sizeof why),
                         COMMON_EMISMATCH);
        assert_null(out);
        assert_non_null(strstr(why, "a batch of cluster 0000000000001234"));
    }
    assert_int_equal(transport_grpc_batch_decode(buf, len, 1, 0x1234, &out, &n,
                                                 why, sizeof why),
                     0);
    assert_int_equal(n, 1);
    free_msgs(out, n);
    free(buf);
}

static void codec_encoder_refuses_unknown_types(void **state)
{
    (void)state;
    struct raft_message m = {
        .type = (enum raft_msg_type)42, .from = 1, .to = 2};
    const struct raft_message *p = &m;
    struct transport_grpc_batch *b = NULL;
    assert_int_equal(transport_grpc_batch_new(&p, 1, &b), COMMON_EINVAL);
    struct raft_entry e = {
        .term = 1, .index = 1, .type = (enum raft_entry_type)7};
    m.type = RAFT_MSG_APPEND;
    m.term = 1;
    m.append.entries = &e;
    m.append.n_entries = 1;
    assert_int_equal(transport_grpc_batch_new(&p, 1, &b), COMMON_EINVAL);
}

/* The size estimate used to cut batches never falls far below the truth. */
static void codec_estimate_bounds_the_packed_size(void **state)
{
    (void)state;
    static uint8_t data[3000];
    struct raft_entry es[50];
    for (int k = 0; k < 50; k++) {
        es[k] = (struct raft_entry){.term = UINT64_MAX / 2,
                                    .index = UINT64_MAX / 2 + (raft_index)k,
                                    .type = RAFT_ENTRY_COMMAND,
                                    .data = {data, (size_t)k * 60}};
    }
    struct raft_message m = {.type = RAFT_MSG_APPEND,
                             .from = UINT64_MAX,
                             .to = UINT64_MAX - 1,
                             .term = UINT64_MAX};
    m.append = (struct raft_append){.prev_index = UINT64_MAX / 2 - 1,
                                    .prev_term = UINT64_MAX,
                                    .commit = UINT64_MAX,
                                    .entries = es,
                                    .n_entries = 50};
    const struct raft_message *p = &m;
    struct transport_grpc_batch *b = NULL;
    assert_int_equal(transport_grpc_batch_new(&p, 1, &b), 0);
    assert_true(transport_grpc_batch_size(b) <=
                transport_grpc_msg_estimate(&m));
    transport_grpc_batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codec_round_trips_every_message_type),
        cmocka_unit_test(codec_accepts_an_empty_batch),
        cmocka_unit_test(codec_refuses_bytes_that_do_not_decode),
        cmocka_unit_test(codec_refuses_malformed_messages),
        cmocka_unit_test(codec_refuses_a_batch_with_one_bad_message),
        cmocka_unit_test(codec_batch_carries_its_cluster),
        cmocka_unit_test(codec_encoder_refuses_unknown_types),
        cmocka_unit_test(codec_estimate_bounds_the_packed_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
