/*
 * raft_snapshot: InstallSnapshot (Figure 13) in chunks, both ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "filter.h"
#include "single.h"

static struct captured cap;
static uint8_t snap_data[25];

static struct raft_configuration three(void)
{
    raft_id ids[] = {1, 2, 3};
    struct raft_configuration c;
    raft_configuration_voters(&c, ids, 3);
    return c;
}

/* A leader (node 1 of 3) with 50 entries, all applied, a snapshot of 25
 * bytes at index 40 and its log compacted there; messages carry at most
 * 10 bytes of data. */
static struct raft *leader_with_snapshot(size_t max_bytes)
{
    raft_term terms[50];
    for (int k = 0; k < 50; k++) {
        terms[k] = 1;
    }
    struct single_opts o = {.id = 1,
                            .voters = 3,
                            .terms = terms,
                            .n_terms = 50,
                            .term = 1,
                            .commit = 50,
                            .max_bytes_per_msg = max_bytes};
    struct raft *r = single_new(&o);
    single_drain(r, &cap); /* hands out the 50 committed entries */
    assert_int_equal(raft_applied_index(r), 50);
    for (size_t k = 0; k < sizeof snap_data; k++) {
        snap_data[k] = (uint8_t)('a' + k);
    }
    struct raft_snapshot s = {.index = 40,
                              .term = 1,
                              .conf = three(),
                              .data = snap_data,
                              .len = sizeof snap_data};
    assert_int_equal(raft_snapshot_set(r, &s), 0);
    assert_int_equal(raft_compact(r, 40), 0);
    single_make_leader(r, &cap);
    return r;
}

static void reject(struct raft *r,
                   raft_id from,
                   raft_index index,
                   raft_index hint)
{
    struct raft_message m = {
        .type = RAFT_MSG_APPEND_RESP,
        .from = from,
        .to = 1,
        .term = raft_current_term(r),
        .append_resp = {.success = false, .index = index, .hint_index = hint}};
    single_step(r, &m, &cap);
}

static void snapshot_resp(struct raft *r, raft_id from, uint64_t next)
{
    struct raft_message m = {
        .type = RAFT_MSG_SNAPSHOT_RESP,
        .from = from,
        .to = 1,
        .term = raft_current_term(r),
        .snapshot_resp = {.index = 40, .term = 1, .next_offset = next}};
    single_step(r, &m, &cap);
}

/* A follower that needs entries the leader compacted gets the snapshot in
 * chunks of at most max_bytes_per_msg, one at a time, then entries after
 * it once it acknowledges the installed snapshot. */
static void snapshot_leader_sends_chunks_then_entries(void **state)
{
    (void)state;
    struct raft *r = leader_with_snapshot(10);
    reject(r, 2, 50, 1);
    const struct raft_message *m = single_find(&cap, RAFT_MSG_SNAPSHOT, 2);
    for (uint64_t offset = 0; offset < 25; offset += 10) {
        assert_non_null(m);
        assert_int_equal(m->snapshot.index, 40);
        assert_int_equal(m->snapshot.term, 1);
        assert_int_equal(m->snapshot.offset, offset);
        assert_int_equal(m->snapshot.total, 25);
        assert_int_equal(m->snapshot.len, offset < 20 ? 10 : 5);
        assert_int_equal(m->snapshot.done, offset == 20);
        if (offset < 20) {
            snapshot_resp(r, 2, offset + 10);
            m = single_find(&cap, RAFT_MSG_SNAPSHOT, 2);
        }
    }
    /* Nothing more while the chunk is out. */
    assert_int_equal(raft_propose(r, "x", 1, NULL, NULL), 0);
    single_drain(r, &cap);
    assert_null(single_find(&cap, RAFT_MSG_SNAPSHOT, 2));
    assert_null(single_find(&cap, RAFT_MSG_APPEND, 2));
    struct raft_message ok = {.type = RAFT_MSG_APPEND_RESP,
                              .from = 2,
                              .to = 1,
                              .term = raft_current_term(r),
                              .append_resp = {.success = true, .index = 40}};
    single_step(r, &ok, &cap);
    raft_index match = 0;
    raft_index next = 0;
    raft_progress(r, 2, &match, &next);
    assert_int_equal(match, 40);
    m = single_find(&cap, RAFT_MSG_APPEND, 2);
    assert_non_null(m);
    assert_int_equal(m->append.prev_index, 40);
    assert_int_equal(m->append.prev_term, 1);
    raft_free(r);
}

/* A lost chunk is sent again after the next heartbeat answer; a follower
 * that asks for another offset gets that offset. */
static void snapshot_lost_chunk_resent(void **state)
{
    (void)state;
    struct raft *r = leader_with_snapshot(10);
    reject(r, 3, 50, 1);
    assert_non_null(single_find(&cap, RAFT_MSG_SNAPSHOT, 3));
    struct raft_message hb = {.type = RAFT_MSG_HEARTBEAT_RESP,
                              .from = 3,
                              .to = 1,
                              .term = raft_current_term(r)};
    single_step(r, &hb, &cap);
    const struct raft_message *m = single_find(&cap, RAFT_MSG_SNAPSHOT, 3);
    assert_non_null(m);
    assert_int_equal(m->snapshot.offset, 0);
    snapshot_resp(r, 3, 7);
    m = single_find(&cap, RAFT_MSG_SNAPSHOT, 3);
    assert_non_null(m);
    assert_int_equal(m->snapshot.offset, 7);
    assert_int_equal(m->snapshot.len, 10);
    /* An answer beyond the snapshot is dropped. */
    snapshot_resp(r, 3, 99);
    assert_non_null(strstr(raft_last_drop_reason(r), "beyond"));
    raft_free(r);
}

static struct raft_message chunk(raft_index index,
                                 raft_term term,
                                 uint64_t offset,
                                 const char *data,
                                 uint64_t total,
                                 bool done,
                                 const uint8_t *conf,
                                 size_t conf_len)
{
    struct raft_message m = {
        .type = RAFT_MSG_SNAPSHOT,
        .from = 1,
        .to = 2,
        .term = 5,
        .snapshot = {.index = index,
                     .term = term,
                     .conf = conf,
                     .conf_len = conf_len,
                     .offset = offset,
                     .total = total,
                     .data = data,
                     .len = strlen(data),
                     .done = done},
    };
    return m;
}

/* A follower assembles the chunks, discards a log that disagrees with the
 * snapshot, takes the snapshot's configuration, hands the snapshot out in
 * its update, and acknowledges it for the snapshot's index. */
static void snapshot_follower_installs_and_replaces_log(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 2, 2};
    struct single_opts o = {
        .id = 2, .voters = 3, .terms = log, .n_terms = 4, .term = 4};
    struct raft *r = single_new(&o);
    uint8_t conf[512];
    struct raft_configuration c = three();
    size_t conf_len = raft_configuration_encode(&c, conf, sizeof conf);
    struct raft_message m =
        chunk(10, 3, 0, "hello ", 11, false, conf, conf_len);
    single_step(r, &m, &cap);
    const struct raft_message *resp =
        single_find(&cap, RAFT_MSG_SNAPSHOT_RESP, 1);
    assert_non_null(resp);
    assert_int_equal(resp->snapshot_resp.next_offset, 6);
    m = chunk(10, 3, 6, "world", 11, true, conf, conf_len);
    struct raft_update u;
    assert_int_equal(raft_step(r, &m), 0);
    assert_true(raft_update_get(r, &u));
    assert_non_null(u.snapshot);
    assert_int_equal(u.snapshot->index, 10);
    assert_int_equal(u.snapshot->term, 3);
    assert_int_equal(u.snapshot->len, 11);
    assert_memory_equal(u.snapshot->data, "hello world", 11);
    assert_int_equal(u.snapshot->conf.count, 3);
    assert_int_equal(u.n_entries, 0);
    assert_int_equal(u.n_committed, 0);
    assert_int_equal(u.hard_state.commit, 10);
    bool acked = false;
    for (size_t k = 0; k < u.n_messages; k++) {
        acked |= u.messages[k].type == RAFT_MSG_APPEND_RESP &&
                 u.messages[k].append_resp.success &&
                 u.messages[k].append_resp.index == 10;
    }
    assert_true(acked);
    raft_update_done(r, &u);
    assert_int_equal(raft_first_index(r), 11);
    assert_int_equal(raft_last_index(r), 10);
    assert_int_equal(raft_term_at(r, 10), 3);
    assert_int_equal(raft_applied_index(r), 10);
    /* The log continues after the snapshot. */
    const raft_term add[] = {5};
    m = single_append(1, 2, 5, 10, 3, add, 1, 11);
    single_step(r, &m, &cap);
    assert_int_equal(raft_last_index(r), 11);
    assert_int_equal(cap.n_committed, 1);
    assert_int_equal(cap.committed[0], 11);
    raft_free(r);
}

/* Figure 13, step 6: a snapshot whose last entry the log already holds
 * (same index and term) keeps the entries after it. */
static void snapshot_follower_keeps_entries_after_matching_point(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 1, 1, 2, 2};
    struct single_opts o = {
        .id = 2, .voters = 3, .terms = log, .n_terms = 6, .term = 4};
    struct raft *r = single_new(&o);
    uint8_t conf[512];
    struct raft_configuration c = three();
    size_t conf_len = raft_configuration_encode(&c, conf, sizeof conf);
    struct raft_message m = chunk(4, 1, 0, "snap", 4, true, conf, conf_len);
    single_step(r, &m, &cap);
    assert_int_equal(raft_first_index(r), 5);
    assert_int_equal(raft_last_index(r), 6);
    assert_int_equal(raft_term_at(r, 6), 2);
    assert_int_equal(raft_commit_index(r), 4);
    assert_int_equal(raft_applied_index(r), 4);
    raft_free(r);
}

/* A chunk that does not continue the transfer gets the offset the
 * follower expects; a snapshot the follower already covers is only
 * acknowledged. */
static void snapshot_out_of_order_and_covered(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 1};
    struct single_opts o = {.id = 2,
                            .voters = 3,
                            .terms = log,
                            .n_terms = 3,
                            .term = 4,
                            .commit = 3};
    struct raft *r = single_new(&o);
    uint8_t conf[512];
    struct raft_configuration c = three();
    size_t conf_len = raft_configuration_encode(&c, conf, sizeof conf);
    struct raft_message m = chunk(9, 3, 4, "late", 8, true, conf, conf_len);
    single_step(r, &m, &cap);
    const struct raft_message *resp =
        single_find(&cap, RAFT_MSG_SNAPSHOT_RESP, 1);
    assert_non_null(resp);
    assert_int_equal(resp->snapshot_resp.next_offset, 0);
    m = chunk(2, 1, 0, "old", 3, true, conf, conf_len);
    single_step(r, &m, &cap);
    resp = single_find(&cap, RAFT_MSG_APPEND_RESP, 1);
    assert_non_null(resp);
    assert_true(resp->append_resp.success);
    assert_int_equal(resp->append_resp.index, 3);
    assert_int_equal(raft_first_index(r), 1);
    raft_free(r);
}

/* Malformed chunks are dropped with a reason: beyond the announced size,
 * an absurd size, a last chunk that does not end the snapshot, a damaged
 * configuration on completion, a term above the sender's. */
static void snapshot_malformed_chunks_dropped(void **state)
{
    (void)state;
    struct single_opts o = {.id = 2, .voters = 3, .term = 4};
    struct raft *r = single_new(&o);
    uint8_t conf[512];
    struct raft_configuration c = three();
    size_t conf_len = raft_configuration_encode(&c, conf, sizeof conf);
    struct raft_message m = chunk(9, 3, 0, "toolong", 3, false, conf, conf_len);
    assert_int_equal(raft_step(r, &m), COMMON_EDROPPED);
    m = chunk(9, 3, 0, "x", UINT64_MAX, false, conf, conf_len);
    assert_int_equal(raft_step(r, &m), COMMON_EDROPPED);
    m = chunk(9, 3, 0, "abc", 10, true, conf, conf_len);
    assert_int_equal(raft_step(r, &m), COMMON_EDROPPED);
    m = chunk(9, 9, 0, "abc", 3, true, conf, conf_len);
    assert_int_equal(raft_step(r, &m), COMMON_EDROPPED);
    uint8_t bad[16] = {1, 2, 3};
    m = chunk(9, 3, 0, "abc", 3, true, bad, sizeof bad);
    assert_int_equal(single_step(r, &m, &cap), COMMON_EDROPPED);
    assert_non_null(strstr(raft_last_drop_reason(r), "configuration"));
    assert_int_equal(raft_first_index(r), 1);
    raft_free(r);
}

/* raft_snapshot_set refuses a snapshot beyond what was applied, or one
 * whose term disagrees with the log. */
static void snapshot_set_validates(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 2};
    struct single_opts o = {.id = 1,
                            .voters = 3,
                            .terms = log,
                            .n_terms = 3,
                            .term = 2,
                            .commit = 3};
    struct raft *r = single_new(&o);
    single_drain(r, &cap);
    struct raft_snapshot s = {.index = 4, .term = 2, .conf = three()};
    assert_int_equal(raft_snapshot_set(r, &s), COMMON_EINVAL);
    s.index = 3;
    s.term = 1;
    assert_int_equal(raft_snapshot_set(r, &s), COMMON_EINVAL);
    s.term = 2;
    assert_int_equal(raft_snapshot_set(r, &s), 0);
    raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_leader_sends_chunks_then_entries),
        cmocka_unit_test(snapshot_lost_chunk_resent),
        cmocka_unit_test(snapshot_follower_installs_and_replaces_log),
        cmocka_unit_test(snapshot_follower_keeps_entries_after_matching_point),
        cmocka_unit_test(snapshot_out_of_order_and_covered),
        cmocka_unit_test(snapshot_malformed_chunks_dropped),
        cmocka_unit_test(snapshot_set_validates),
    };
    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
