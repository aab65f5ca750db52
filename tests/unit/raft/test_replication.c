/*
 * raft_replication: batching, flow control (probe, pipelining, in-flight
 * bounds), heartbeats, fast backtracking and recovery from lost messages.
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
#include "testnet.h"

static struct captured cap;

static size_t count_to(int type, raft_id to)
{
    size_t n = 0;
    for (size_t k = 0; k < cap.n_msgs; k++) {
        n += (int)cap.msgs[k].type == type && cap.msgs[k].to == to;
    }
    return n;
}

static void ack(struct raft *r, raft_id from, raft_index index)
{
    struct raft_message m = {
        .type = RAFT_MSG_APPEND_RESP,
        .from = from,
        .to = raft_self(r),
        .term = raft_current_term(r),
        .append_resp = {.success = true, .index = index},
    };
    single_step(r, &m, &cap);
}

static struct raft *leader(unsigned voters,
                           unsigned max_inflight,
                           unsigned max_entries)
{
    struct single_opts o = {.id = 1,
                            .voters = voters,
                            .term = 1,
                            .max_inflight = max_inflight,
                            .max_entries_per_msg = max_entries};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    /* Every follower answers the first probe: all in REPLICATE. */
    for (raft_id id = 2; id <= voters; id++) {
        ack(r, id, raft_last_index(r));
    }
    return r;
}

static void propose_n(struct raft *r, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "v%u", k);
        assert_int_equal(raft_propose(r, buf, (size_t)len, NULL, NULL), 0);
    }
}

/* Proposals made between two updates go out together: one AppendEntries
 * per follower carrying all of them. */
static void replication_batches_proposals_into_one_message(void **state)
{
    (void)state;
    struct raft *r = leader(3, 0, 0);
    propose_n(r, 400);
    single_drain(r, &cap);
    assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 1);
    assert_int_equal(count_to(RAFT_MSG_APPEND, 3), 1);
    assert_int_equal(cap.msg_entries[0], 400);
    assert_int_equal(cap.n_persisted, 400);
    raft_free(r);
}

/* Messages hold at most max_entries_per_msg entries; a follower in
 * REPLICATE gets a pipeline of several. */
static void replication_splits_by_max_entries(void **state)
{
    (void)state;
    struct raft *r = leader(3, 0, 10);
    propose_n(r, 95);
    single_drain(r, &cap);
    assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 10);
    for (size_t k = 0; k < cap.n_msgs; k++) {
        assert_true(cap.msg_entries[k] <= 10);
    }
    raft_free(r);
}

/* Pipelining is bounded: with max_inflight 4 only four messages are out at
 * once; each acknowledgement frees room for more. */
static void replication_inflight_window_is_bounded(void **state)
{
    (void)state;
    struct raft *r = leader(3, 4, 1);
    raft_index base = raft_last_index(r);
    propose_n(r, 10);
    single_drain(r, &cap);
    assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 4);
    propose_n(r, 1);
    single_drain(r, &cap);
    assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 0);
    ack(r, 2, base + 2); /* frees two slots */
    assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 2);
    raft_index next = 0;
    raft_progress(r, 2, NULL, &next);
    assert_int_equal(next, base + 7);
    raft_free(r);
}

/* A follower in PROBE gets one AppendEntries at a time until it answers. */
static void replication_probe_sends_one_at_a_time(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 1);
    for (int k = 0; k < 5; k++) {
        propose_n(r, 3);
        single_drain(r, &cap);
        assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 0);
    }
    ack(r, 2, 1);
    /* Now replicating: the rest goes out. */
    assert_true(count_to(RAFT_MSG_APPEND, 2) >= 1);
    raft_free(r);
}

/* A heartbeat answer resumes a paused probe, and a full window of lost
 * messages is unblocked by the next heartbeat answer. */
static void replication_heartbeat_response_unblocks(void **state)
{
    (void)state;
    struct raft *r = leader(3, 2, 1);
    propose_n(r, 5);
    single_drain(r, &cap);
    assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 2);
    /* Both lost. The heartbeat answer frees a slot and, as the follower
     * lags, triggers an AppendEntries. */
    struct raft_message hb = {.type = RAFT_MSG_HEARTBEAT_RESP,
                              .from = 2,
                              .to = 1,
                              .term = raft_current_term(r)};
    single_step(r, &hb, &cap);
    assert_int_equal(count_to(RAFT_MSG_APPEND, 2), 1);
    raft_free(r);
}

/* Heartbeats carry min(match, commit): a follower is never told to commit
 * beyond what is known to match the leader. */
static void replication_heartbeat_commit_bounded_by_match(void **state)
{
    (void)state;
    struct raft *r = leader(3, 0, 0);
    raft_index base = raft_last_index(r);
    propose_n(r, 5);
    single_drain(r, &cap);
    ack(r, 3, base + 5); /* commit advances with 3; 2 lags */
    assert_int_equal(raft_commit_index(r), base + 5);
    single_ticks(r, 1, &cap);
    const struct raft_message *h2 = single_find(&cap, RAFT_MSG_HEARTBEAT, 2);
    const struct raft_message *h3 = single_find(&cap, RAFT_MSG_HEARTBEAT, 3);
    assert_non_null(h2);
    assert_non_null(h3);
    assert_int_equal(h2->heartbeat.commit, base);
    assert_int_equal(h3->heartbeat.commit, base + 5);
    raft_free(r);
}

/* Committing needs a majority of voters: 3 of 5. */
static void replication_commit_needs_majority(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 5, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    raft_index noop = raft_last_index(r);
    ack(r, 2, noop);
    assert_int_equal(raft_commit_index(r), 0);
    ack(r, 2, noop); /* a duplicate counts once */
    assert_int_equal(raft_commit_index(r), 0);
    ack(r, 4, noop);
    assert_int_equal(raft_commit_index(r), noop);
    raft_free(r);
}

/* A follower whose log diverges for hundreds of entries across a few terms
 * is repaired in a few round trips (one per term, not one per entry). */
static void replication_fast_backtracking_skips_terms(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    struct testnet *tn = tn_new(3, &o, 11);
    raft_term leader_log[300];
    raft_term stale_log[600];
    for (size_t k = 0; k < 300; k++) {
        leader_log[k] = k < 100 ? 1 : 5;
    }
    for (size_t k = 0; k < 600; k++) {
        stale_log[k] = k < 100 ? 1 : k < 300 ? 2 : k < 450 ? 3 : 4;
    }
    tn_boot_log(tn, 1, leader_log, 300, 5, 0);
    tn_boot_log(tn, 3, leader_log, 300, 5, 0);
    tn_boot_log(tn, 2, stale_log, 600, 5, 0);
    tn_isolate(tn, 2);
    tn_campaign(tn, 1);
    assert_int_equal(raft_role(tn_node(tn, 1)->r), RAFT_LEADER);
    tn_heal(tn);
    tn->append_rejects = 0;
    tn_rounds(tn, 5);
    struct tn_node *f = tn_node(tn, 2);
    struct raft *l = tn_node(tn, 1)->r;
    assert_int_equal(f->disk.len, raft_last_index(l));
    for (size_t k = 0; k < f->disk.len; k++) {
        assert_int_equal(f->disk.entries[k].term, raft_term_at(l, k + 1));
    }
    assert_true(tn->append_rejects <= 4);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* With a fifth of all messages lost, duplicated and reordered, every
 * proposal still reaches every node, in the same order. */
static void replication_survives_loss_duplication_reordering(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.max_entries_per_msg = 3;
    o.max_inflight = 4;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct testnet *tn = tn_new(5, &o, seed);
        raft_id l = tn_elect(tn, 300);
        assert_int_not_equal(l, 0);
        tn->loss = 0.2;
        tn->duplicate = 0.2;
        tn->reorder = true;
        tn->delay_max = 2;
        int proposed = 0;
        for (int round = 0; round < 300; round++) {
            raft_id cur = tn_leader(tn);
            if (cur != 0 && round % 2 == 0) {
                char buf[16];
                int len = snprintf(buf, sizeof buf, "x%d", proposed);
                if (tn_propose(tn, cur, buf, (size_t)len) == 0) {
                    proposed++;
                }
            }
            tn_round(tn);
        }
        tn->loss = 0;
        tn->duplicate = 0;
        tn->delay_max = 0;
        tn_rounds(tn, 200);
        raft_id cur = tn_leader(tn);
        assert_int_not_equal(cur, 0);
        raft_index commit = raft_commit_index(tn_node(tn, cur)->r);
        for (raft_id id = 1; id <= 5; id++) {
            assert_int_equal(tn_node(tn, id)->applied, commit);
        }
        assert_true(proposed > 50);
        /* Loss, duplicates and reordering never look like lost entries. */
        for (raft_id id = 1; id <= 5; id++) {
            struct raft_stats st;
            raft_get_stats(tn_node(tn, id)->r, &st);
            assert_int_equal(st.follower_lost_entries, 0);
        }
        assert_true(tn_safe(tn));
        tn_free(tn);
    }
}

/* Stale and duplicated acknowledgements never move match backwards. */
static void replication_stale_acks_are_harmless(void **state)
{
    (void)state;
    struct raft *r = leader(3, 0, 0);
    raft_index base = raft_last_index(r);
    propose_n(r, 10);
    single_drain(r, &cap);
    ack(r, 2, base + 10);
    ack(r, 2, base + 3);
    raft_index match = 0;
    raft_progress(r, 2, &match, NULL);
    assert_int_equal(match, base + 10);
    struct raft_message rej = {
        .type = RAFT_MSG_APPEND_RESP,
        .from = 2,
        .to = 1,
        .term = raft_current_term(r),
        .append_resp = {
            .success = false, .index = base + 2, .hint_index = base}};
    assert_int_equal(single_step(r, &rej, &cap), COMMON_EDROPPED);
    raft_progress(r, 2, &match, NULL);
    assert_int_equal(match, base + 10);
    raft_free(r);
}

/* A follower whose log ends before the match it acknowledged lost
 * entries: its heartbeat answer says where its log ends; the leader counts
 * it, lowers the match to what the follower holds and resends from there
 * (without it the leader probed at match + 1 forever). A duplicate of the
 * answer counts nothing more. */
static void replication_resends_what_a_follower_lost(void **state)
{
    (void)state;
    struct raft *r = leader(3, 0, 0);
    raft_index base = raft_last_index(r);
    propose_n(r, 10);
    single_drain(r, &cap);
    ack(r, 2, base + 10);
    single_ticks(r, 1, &cap);
    const struct raft_message *hb = single_find(&cap, RAFT_MSG_HEARTBEAT, 2);
    assert_non_null(hb);
    assert_int_equal(hb->heartbeat.match, base + 10);
    struct raft_message lost = {
        .type = RAFT_MSG_HEARTBEAT_RESP,
        .from = 2,
        .to = 1,
        .term = raft_current_term(r),
        .heartbeat_resp = {.log_end = base + 4},
    };
    assert_int_equal(single_step(r, &lost, &cap), 0);
    struct raft_stats st;
    raft_get_stats(r, &st);
    assert_int_equal(st.follower_lost_entries, 1);
    raft_index match = 0;
    raft_index next = 0;
    assert_true(raft_progress(r, 2, &match, &next));
    assert_int_equal(match, base + 3);
    assert_int_equal(next, base + 4);
    const struct raft_message *m = single_find(&cap, RAFT_MSG_APPEND, 2);
    assert_non_null(m);
    assert_int_equal(m->append.prev_index, base + 3);
    assert_int_equal(single_step(r, &lost, &cap), 0);
    raft_get_stats(r, &st);
    assert_int_equal(st.follower_lost_entries, 1);
    ack(r, 2, base + 10);
    assert_true(raft_progress(r, 2, &match, &next));
    assert_int_equal(match, base + 10);
    raft_free(r);
}

/* The follower's side: a heartbeat whose match is beyond its log gets an
 * answer saying where the log ends; one within it gets 0. */
static void replication_follower_reports_a_short_log(void **state)
{
    (void)state;
    const raft_term terms[] = {1, 1, 1, 1, 1};
    struct single_opts o = {
        .id = 2, .voters = 3, .terms = terms, .n_terms = 5, .term = 1};
    struct raft *r = single_new(&o);
    struct raft_message hb = {
        .type = RAFT_MSG_HEARTBEAT,
        .from = 1,
        .to = 2,
        .term = 1,
        .heartbeat = {.commit = 3, .match = 8},
    };
    assert_int_equal(single_step(r, &hb, &cap), 0);
    const struct raft_message *m =
        single_find(&cap, RAFT_MSG_HEARTBEAT_RESP, 1);
    assert_non_null(m);
    assert_int_equal(m->heartbeat_resp.log_end, 6);
    hb.heartbeat.match = 5;
    assert_int_equal(single_step(r, &hb, &cap), 0);
    m = single_find(&cap, RAFT_MSG_HEARTBEAT_RESP, 1);
    assert_non_null(m);
    assert_int_equal(m->heartbeat_resp.log_end, 0);
    raft_free(r);
}

/* End to end: a follower restarts from a disk that lost the last entries
 * it had acknowledged; it catches up with the leader and the cluster
 * stays safe. */
static void replication_follower_that_lost_entries_catches_up(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    struct testnet *tn = tn_new(3, &o, 5);
    raft_id l = tn_elect(tn, 300);
    assert_int_not_equal(l, 0);
    raft_id f = l == 3 ? 2 : 3;
    for (int k = 0; k < 40; k++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "y%d", k);
        assert_int_equal(tn_propose(tn, l, buf, (size_t)len), 0);
        tn_round(tn);
    }
    tn_rounds(tn, 20);
    raft_index last = raft_last_index(tn_node(tn, l)->r);
    assert_int_equal(tn_node(tn, f)->disk.len, last);
    tn_crash(tn, f);
    tn_lose_tail(tn, f, 15);
    tn_restart(tn, f);
    /* No new writes: the next heartbeat shows the gap. */
    tn_rounds(tn, 100);
    assert_int_equal(tn_leader(tn), l);
    assert_int_equal(tn_node(tn, f)->disk.len, last);
    assert_int_equal(tn_node(tn, f)->applied, last);
    struct raft_stats st;
    raft_get_stats(tn_node(tn, l)->r, &st);
    assert_true(st.follower_lost_entries >= 1);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replication_batches_proposals_into_one_message),
        cmocka_unit_test(replication_splits_by_max_entries),
        cmocka_unit_test(replication_inflight_window_is_bounded),
        cmocka_unit_test(replication_probe_sends_one_at_a_time),
        cmocka_unit_test(replication_heartbeat_response_unblocks),
        cmocka_unit_test(replication_heartbeat_commit_bounded_by_match),
        cmocka_unit_test(replication_commit_needs_majority),
        cmocka_unit_test(replication_fast_backtracking_skips_terms),
        cmocka_unit_test(replication_survives_loss_duplication_reordering),
        cmocka_unit_test(replication_stale_acks_are_harmless),
        cmocka_unit_test(replication_resends_what_a_follower_lost),
        cmocka_unit_test(replication_follower_reports_a_short_log),
        cmocka_unit_test(replication_follower_that_lost_entries_catches_up),
    };
    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
