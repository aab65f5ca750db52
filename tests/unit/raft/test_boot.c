/*
 * raft_boot: booting from persisted state - a log whose first index is
 * above 1 (after a snapshot), restarts keeping term, vote and commit,
 * configurations held as data, and compaction.
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

static struct raft_configuration three(void)
{
    raft_id ids[] = {1, 2, 3};
    struct raft_configuration c;
    assert_int_equal(raft_configuration_voters(&c, ids, 3), 0);
    return c;
}

/* A log that starts after a snapshot at index 100 (term 4): terms and
 * entries are addressed from 101, the snapshot's term answers for index
 * 100, and appends and elections work as usual. */
static void boot_log_starting_above_one(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.id = 1;
    struct raft_entry es[3];
    for (int k = 0; k < 3; k++) {
        es[k] = (struct raft_entry){.term = 5,
                                    .index = 101 + (raft_index)k,
                                    .type = RAFT_ENTRY_COMMAND,
                                    .data = {"abc", 3}};
    }
    struct raft_boot b = {.hard_state = {.term = 5, .commit = 101},
                          .snapshot_index = 100,
                          .snapshot_term = 4,
                          .conf = three(),
                          .entries = es,
                          .n_entries = 3,
                          .applied = 100};
    struct raft *r = NULL;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    assert_int_equal(raft_first_index(r), 101);
    assert_int_equal(raft_last_index(r), 103);
    assert_int_equal(raft_term_at(r, 100), 4);
    assert_int_equal(raft_term_at(r, 99), 0);
    assert_null(raft_entry_at(r, 100));
    assert_int_equal(raft_entry_at(r, 102)->index, 102);
    /* The committed entry after the applied index is handed out again. */
    single_drain(r, &cap);
    assert_int_equal(cap.n_committed, 1);
    assert_int_equal(cap.committed[0], 101);
    single_make_leader(r, &cap);
    assert_int_equal(raft_last_index(r), 104);
    const struct raft_message *a = single_find(&cap, RAFT_MSG_APPEND, 2);
    assert_non_null(a);
    assert_int_equal(a->append.prev_index, 103);
    /* A follower that answers "my log ends at 100" is probed at 101: the
     * entry before it is the snapshot, whose term the leader knows. */
    struct raft_message rej = {
        .type = RAFT_MSG_APPEND_RESP,
        .from = 2,
        .to = 1,
        .term = raft_current_term(r),
        .append_resp = {.success = false, .index = 103, .hint_index = 101}};
    single_step(r, &rej, &cap);
    a = single_find(&cap, RAFT_MSG_APPEND, 2);
    assert_non_null(a);
    assert_int_equal(a->append.prev_index, 100);
    assert_int_equal(a->append.prev_term, 4);
    /* A follower that needs entries before 101 cannot be served from the
     * log: the leader says why instead of sending garbage. */
    rej.append_resp.index = 100;
    rej.append_resp.hint_index = 50;
    single_step(r, &rej, &cap);
    assert_null(single_find(&cap, RAFT_MSG_APPEND, 2));
    assert_non_null(strstr(raft_last_drop_reason(r), "compacted"));
    raft_free(r);
}

/* A restarted node keeps its term, vote and commit index, and does not
 * vote again in the same term for someone else. */
static void boot_restart_keeps_term_and_vote(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    struct testnet *tn = tn_new(3, &o, 31);
    raft_id l = tn_elect(tn, 200);
    assert_int_not_equal(l, 0);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(tn_propose(tn, l, "v", 1), 0);
    }
    tn_rounds(tn, 3);
    raft_id f = l % 3 + 1;
    struct tn_node *nd = tn_node(tn, f);
    raft_term term = raft_current_term(nd->r);
    raft_id vote = raft_voted_for(nd->r);
    raft_index commit = raft_commit_index(nd->r);
    raft_index last = raft_last_index(nd->r);
    tn_crash(tn, f);
    tn_restart(tn, f);
    assert_int_equal(raft_current_term(nd->r), term);
    assert_int_equal(raft_voted_for(nd->r), vote);
    assert_int_equal(raft_commit_index(nd->r), commit);
    assert_int_equal(raft_last_index(nd->r), last);
    /* It re-applied the committed prefix to its fresh state machine. */
    assert_int_equal(nd->applied, commit);
    if (vote != 0) {
        raft_id other = vote % 3 + 1;
        if (other == f) {
            other = other % 3 + 1;
        }
        struct raft_message m = {
            .type = RAFT_MSG_VOTE,
            .from = other,
            .to = f,
            .term = term,
            .vote = {.last_index = 1000, .last_term = term},
        };
        raft_step(nd->r, &m);
        assert_int_equal(raft_voted_for(nd->r), vote);
        tn_process(tn, f);
    }
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* Configurations round-trip through their encoding; damaged or invalid
 * encodings are refused. */
static void boot_configuration_encoding(void **state)
{
    (void)state;
    struct raft_configuration c = three();
    c.servers[2].role = RAFT_LEARNER;
    uint8_t buf[512];
    size_t n = raft_configuration_encode(&c, buf, sizeof buf);
    assert_true(n <= sizeof buf);
    assert_int_equal(raft_configuration_encode(&c, buf, 3), n);
    struct raft_configuration d;
    assert_int_equal(raft_configuration_decode(&d, buf, n), 0);
    assert_int_equal(d.count, 3);
    assert_int_equal(d.servers[2].id, 3);
    assert_int_equal(d.servers[2].role, RAFT_LEARNER);
    assert_int_equal(raft_configuration_voter_count(&d), 2);
    assert_int_equal(raft_configuration_decode(&d, buf, n - 1),
                     COMMON_ECORRUPT);
    buf[0] ^= 1;
    assert_int_equal(raft_configuration_decode(&d, buf, n), COMMON_ECORRUPT);
    buf[0] ^= 1;
    memset(buf + 8, 0, 8); /* the first server's id becomes 0 */
    assert_int_equal(raft_configuration_decode(&d, buf, n), COMMON_ECORRUPT);
    raft_id dup[] = {1, 1};
    assert_int_equal(raft_configuration_voters(&d, dup, 2), COMMON_EINVAL);
    assert_int_equal(raft_configuration_voters(&d, dup, 0), COMMON_EINVAL);
    assert_int_equal(raft_configuration_find(&c, 2), 1);
    assert_int_equal(raft_configuration_find(&c, 9), -1);
}

/* A learner receives the log but does not count towards the quorum, not
 * even its own vote: it may campaign (membership.c says why) but alone,
 * with no voter answering, it never wins, and with PreVote it never even
 * takes a new term. */
static void boot_learner_does_not_count(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.id = 1;
    struct raft_boot b = {.conf = three()};
    b.conf.servers[2].role = RAFT_LEARNER;
    struct raft *r = NULL;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    single_make_leader(r, &cap);
    assert_non_null(single_find(&cap, RAFT_MSG_APPEND, 3));
    struct raft_message ok = {.type = RAFT_MSG_APPEND_RESP,
                              .from = 3,
                              .to = 1,
                              .term = raft_current_term(r),
                              .append_resp = {.success = true, .index = 1}};
    single_step(r, &ok, &cap);
    assert_int_equal(raft_commit_index(r), 0); /* 1 of 2 voters */
    ok.from = 2;
    single_step(r, &ok, &cap);
    assert_int_equal(raft_commit_index(r), 1);
    raft_free(r);

    o.id = 3;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    single_ticks(r, 100, &cap);
    assert_int_not_equal(raft_role(r), RAFT_LEADER);
    assert_int_not_equal(raft_role(r), RAFT_CANDIDATE);
    assert_int_equal(raft_current_term(r), 0);
    struct raft_stats st;
    raft_get_stats(r, &st);
    assert_true(st.pre_votes_started > 0);
    assert_int_equal(st.leader_terms, 0);
    raft_free(r);
}

/* Compaction drops applied entries from memory; later entries, terms and
 * replication are unaffected; unapplied entries cannot be compacted. */
static void boot_compaction_drops_prefix(void **state)
{
    (void)state;
    struct single_opts so = {.id = 1, .voters = 1, .term = 1};
    struct raft *r = single_new(&so);
    single_make_leader(r, &cap);
    for (int k = 0; k < 50; k++) {
        assert_int_equal(raft_propose(r, "x", 1, NULL, NULL), 0);
    }
    single_drain(r, &cap);
    assert_int_equal(raft_applied_index(r), 51);
    assert_int_equal(raft_compact(r, 52), COMMON_EINVAL);
    assert_int_equal(raft_compact(r, 40), 0);
    assert_int_equal(raft_first_index(r), 41);
    assert_int_equal(raft_term_at(r, 40), raft_current_term(r));
    assert_null(raft_entry_at(r, 40));
    assert_int_equal(raft_propose(r, "y", 1, NULL, NULL), 0);
    single_drain(r, &cap);
    assert_int_equal(raft_commit_index(r), 52);
    assert_int_equal(raft_compact(r, 10), 0); /* already gone: no-op */
    raft_free(r);
}

/* A boot state beyond the bounds is refused with COMMON_EINVAL: a term,
 * commit, applied or snapshot index above them, an entry past
 * RAFT_INDEX_MAX or of a term above RAFT_TERM_MAX, and a snapshot index so
 * large that the entries after it would wrap around to index 0. The same
 * state at the bounds boots. */
static void boot_refuses_values_beyond_bounds(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.id = 1;
    struct raft_entry es[2] = {
        {.term = RAFT_TERM_MAX,
         .index = RAFT_INDEX_MAX - 1,
         .type = RAFT_ENTRY_COMMAND},
        {.term = RAFT_TERM_MAX,
         .index = RAFT_INDEX_MAX,
         .type = RAFT_ENTRY_COMMAND},
    };
    const struct raft_boot at = {
        .hard_state = {.term = RAFT_TERM_MAX, .commit = RAFT_INDEX_MAX},
        .snapshot_index = RAFT_INDEX_MAX - 2,
        .snapshot_term = RAFT_TERM_MAX,
        .conf = three(),
        .entries = es,
        .n_entries = 2,
        .applied = RAFT_INDEX_MAX};
    struct raft *r = NULL;
    assert_int_equal(raft_new(&o, &at, &r), 0);
    assert_true(raft_current_term(r) == RAFT_TERM_MAX);
    assert_true(raft_last_index(r) == RAFT_INDEX_MAX);
    raft_free(r);

    struct raft_boot b = at;
    b.hard_state.term = RAFT_TERM_MAX + 1;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    b.hard_state.term = UINT64_MAX;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    b = at;
    b.hard_state.commit = RAFT_INDEX_MAX + 1;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    b = at;
    b.applied = RAFT_INDEX_MAX + 1;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    b = at;
    b.snapshot_term = RAFT_TERM_MAX + 1;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    b = at;
    es[0].term = RAFT_TERM_MAX + 1;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    es[0].term = RAFT_TERM_MAX;
    /* Entries one past the bound, then a snapshot itself past it. */
    b = at;
    b.snapshot_index = RAFT_INDEX_MAX - 1;
    es[0].index = RAFT_INDEX_MAX;
    es[1].index = RAFT_INDEX_MAX + 1;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    b = at;
    b.hard_state.commit = 0;
    b.applied = 0;
    b.snapshot_index = RAFT_INDEX_MAX + 1;
    b.n_entries = 0;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    /* 2^64 - 1, then entries 0 and 1: the sums wrap around. */
    b.snapshot_index = UINT64_MAX;
    es[0].index = 0;
    es[1].index = 1;
    b.n_entries = 2;
    b.hard_state.commit = 1;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boot_log_starting_above_one),
        cmocka_unit_test(boot_restart_keeps_term_and_vote),
        cmocka_unit_test(boot_configuration_encoding),
        cmocka_unit_test(boot_learner_does_not_count),
        cmocka_unit_test(boot_compaction_drops_prefix),
        cmocka_unit_test(boot_refuses_values_beyond_bounds),
    };
    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
