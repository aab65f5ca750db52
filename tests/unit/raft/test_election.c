/* raft_election: leader election, PreVote and CheckQuorum over testnet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "filter.h"
#include "single.h"
#include "testnet.h"

static struct testnet *net(unsigned n, uint64_t seed)
{
    struct raft_options o;
    raft_options_default(&o);
    struct testnet *tn = tn_new(n, &o, seed);
    assert_non_null(tn);
    return tn;
}

static unsigned count_leaders(struct testnet *tn, raft_term term)
{
    unsigned c = 0;
    for (raft_id id = 1; id <= tn->n; id++) {
        struct tn_node *nd = tn_node(tn, id);
        if (nd->r != NULL && raft_role(nd->r) == RAFT_LEADER &&
            raft_current_term(nd->r) == term) {
            c++;
        }
    }
    return c;
}

/* A fresh cluster of 3, 5 or 7 elects exactly one leader, which every
 * other node follows, within 10 election timeouts. */
static void election_cluster_elects_one_leader(void **state)
{
    (void)state;
    const unsigned sizes[] = {3, 5, 7};
    for (unsigned s = 0; s < 3; s++) {
        for (uint64_t seed = 1; seed <= 20; seed++) {
            struct testnet *tn = net(sizes[s], seed);
            raft_id l = tn_elect(tn, 200);
            assert_int_not_equal(l, 0);
            tn_rounds(tn, 5);
            assert_int_equal(tn_leader(tn), l);
            raft_term t = raft_current_term(tn_node(tn, l)->r);
            assert_int_equal(count_leaders(tn, t), 1);
            for (raft_id id = 1; id <= tn->n; id++) {
                assert_int_equal(raft_leader(tn_node(tn, id)->r), l);
                assert_int_equal(raft_current_term(tn_node(tn, id)->r), t);
            }
            assert_true(tn_safe(tn));
            tn_free(tn);
        }
    }
}

/* In every partition of 3, 5 and 7 nodes into a majority and a minority,
 * the minority never elects a leader and the majority always does within
 * a bounded number of ticks. */
static void election_majority_elects_minority_never(void **state)
{
    (void)state;
    const unsigned sizes[] = {3, 5, 7};
    for (unsigned s = 0; s < 3; s++) {
        unsigned n = sizes[s];
        for (uint64_t seed = 1; seed <= 10; seed++) {
            struct testnet *tn = net(n, seed * 101 + n);
            raft_id old = tn_elect(tn, 200);
            assert_int_not_equal(old, 0);
            /* Minority: the old leader and up to (n-1)/2 - 1 others. */
            raft_id minority[TN_MAX_NODES];
            size_t m = 0;
            minority[m++] = old;
            for (raft_id id = 1; id <= n && m < (n - 1) / 2; id++) {
                if (id != old) {
                    minority[m++] = id;
                }
            }
            tn_partition(tn, minority, m);
            raft_term old_term = raft_current_term(tn_node(tn, old)->r);
            /* Bounded: CheckQuorum deposes the old leader within two
             * election timeouts, then leases expire and an election runs;
             * 30 timeouts is far beyond what a healthy run needs. */
            raft_id fresh = 0;
            for (unsigned k = 0; k < 300 && fresh == 0; k++) {
                tn_round(tn);
                for (raft_id id = 1; id <= n; id++) {
                    struct raft *r = tn_node(tn, id)->r;
                    bool in_minority = false;
                    for (size_t j = 0; j < m; j++) {
                        in_minority |= minority[j] == id;
                    }
                    if (raft_role(r) == RAFT_LEADER &&
                        raft_current_term(r) > old_term) {
                        assert_false(in_minority);
                        fresh = id;
                    }
                }
            }
            assert_int_not_equal(fresh, 0);
            /* Keep running: the minority never elects anyone, and the old
             * leader has stepped down (CheckQuorum). */
            for (unsigned k = 0; k < 200; k++) {
                tn_round(tn);
                for (size_t j = 0; j < m; j++) {
                    struct raft *r = tn_node(tn, minority[j])->r;
                    assert_false(raft_role(r) == RAFT_LEADER &&
                                 raft_current_term(r) > old_term);
                }
            }
            assert_int_not_equal(raft_role(tn_node(tn, old)->r), RAFT_LEADER);
            /* And the old leader never raised its term on its own. */
            assert_true(raft_current_term(tn_node(tn, old)->r) == old_term);
            assert_true(tn_safe(tn));
            tn_free(tn);
        }
    }
}

/* PreVote: a follower cut off from everyone, which would otherwise time
 * out over and over raising its term, rejoins without deposing the stable
 * leader, and its term has not moved. */
static void election_prevote_rejoin_does_not_depose_leader(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct testnet *tn = net(5, seed);
        raft_id l = tn_elect(tn, 200);
        assert_int_not_equal(l, 0);
        raft_id lost = l % 5 + 1;
        raft_term t = raft_current_term(tn_node(tn, l)->r);
        struct raft *lr = tn_node(tn, lost)->r;
        struct raft_stats before;
        raft_get_stats(lr, &before);
        tn_isolate(tn, lost);
        tn_rounds(tn, 200);
        assert_int_equal(raft_current_term(lr), t);
        struct raft_stats st;
        raft_get_stats(lr, &st);
        assert_true(st.pre_votes_started > before.pre_votes_started);
        assert_int_equal(st.elections_started, before.elections_started);
        tn_heal(tn);
        tn_rounds(tn, 100);
        assert_int_equal(tn_leader(tn), l);
        assert_int_equal(raft_current_term(tn_node(tn, l)->r), t);
        assert_int_equal(raft_leader(lr), l);
        assert_true(tn_safe(tn));
        tn_free(tn);
    }
}

/* The control for the test above: without PreVote the same isolated node
 * raises its term while away and, on rejoining, forces the leader to step
 * down. This is the disruption PreVote exists to prevent. */
static void election_without_prevote_rejoin_disrupts(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.pre_vote = false;
    struct testnet *tn = tn_new(5, &o, 3);
    raft_id l = tn_elect(tn, 200);
    assert_int_not_equal(l, 0);
    raft_id lost = l % 5 + 1;
    raft_term t = raft_current_term(tn_node(tn, l)->r);
    tn_isolate(tn, lost);
    tn_rounds(tn, 200);
    assert_true(raft_current_term(tn_node(tn, lost)->r) > t);
    tn_heal(tn);
    tn_rounds(tn, 100);
    assert_true(raft_current_term(tn_node(tn, tn_leader(tn))->r) > t);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* CheckQuorum: a leader cut off from every follower steps down within two
 * election timeouts, and the rest elect a new leader. */
static void election_check_quorum_isolated_leader_steps_down(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct testnet *tn = net(3, seed);
        raft_id l = tn_elect(tn, 200);
        assert_int_not_equal(l, 0);
        tn_isolate(tn, l);
        struct raft *lr = tn_node(tn, l)->r;
        unsigned k = 0;
        while (raft_role(lr) == RAFT_LEADER && k < 100) {
            tn_round(tn);
            k++;
        }
        assert_true(k <= 2 * 10);
        assert_int_equal(raft_role(lr), RAFT_FOLLOWER);
        struct raft_stats st;
        raft_get_stats(lr, &st);
        assert_int_equal(st.step_downs_check_quorum, 1);
        raft_id fresh = tn_elect(tn, 200);
        assert_int_not_equal(fresh, 0);
        assert_int_not_equal(fresh, l);
        assert_true(tn_safe(tn));
        tn_free(tn);
    }
}

/* The control: without CheckQuorum the isolated leader stays leader. */
static void election_without_check_quorum_leader_stays(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.check_quorum = false;
    struct testnet *tn = tn_new(3, &o, 5);
    raft_id l = tn_elect(tn, 200);
    tn_isolate(tn, l);
    tn_rounds(tn, 100);
    assert_int_equal(raft_role(tn_node(tn, l)->r), RAFT_LEADER);
    tn_free(tn);
}

/* A candidate whose vote splits times out and runs again in a later term
 * until one candidate wins. */
static void election_split_vote_resolves(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.pre_vote = false;
    struct testnet *tn = tn_new(4, &o, 9);
    /* 1 and 2 campaign at once; 3 and 4 each vote for one of them. */
    tn_cut(tn, 1, 4, true);
    tn_cut(tn, 2, 3, true);
    raft_campaign(tn_node(tn, 1)->r);
    tn_process(tn, 1);
    raft_campaign(tn_node(tn, 2)->r);
    tn_process(tn, 2);
    tn_deliver_all(tn, 1000);
    assert_int_equal(tn_leader(tn), 0);
    tn_heal(tn);
    raft_id l = tn_elect(tn, 300);
    assert_int_not_equal(l, 0);
    assert_true(raft_current_term(tn_node(tn, l)->r) >= 2);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* A single-node cluster elects itself on its first timeout and commits
 * without any message. */
static void election_single_node_leads_alone(void **state)
{
    (void)state;
    struct testnet *tn = net(1, 1);
    raft_id l = tn_elect(tn, 50);
    assert_int_equal(l, 1);
    assert_int_equal(tn_propose(tn, 1, "x", 1), 0);
    assert_int_equal(raft_commit_index(tn_node(tn, 1)->r), 2);
    assert_int_equal(tn_node(tn, 1)->applied, 2);
    tn_free(tn);
}

/* Election timeouts are randomized in [election_ticks, 2*election_ticks):
 * over many seeds, followers time out at different ticks. */
static void election_timeouts_are_randomized(void **state)
{
    (void)state;
    unsigned seen[64] = {0};
    for (uint64_t seed = 0; seed < 200; seed++) {
        struct testnet *tn = net(3, seed);
        tn_isolate(tn, 1);
        unsigned k = 0;
        struct raft_stats st = {0};
        while (st.pre_votes_started == 0 && k < 64) {
            tn_tick(tn, 1);
            k++;
            raft_get_stats(tn_node(tn, 1)->r, &st);
        }
        assert_true(k >= 10 && k < 20);
        seen[k]++;
        tn_free(tn);
    }
    unsigned distinct = 0;
    for (unsigned k = 0; k < 64; k++) {
        distinct += seen[k] > 0;
    }
    assert_true(distinct >= 8);
}

/* A node at RAFT_TERM_MAX has no term left to campaign in: however long
 * it waits, it starts no election or pre-vote and its term never wraps to
 * 0; raft_campaign() says COMMON_ERANGE; it still grants its vote in that
 * term. */
static void election_node_at_term_max_does_not_wrap(void **state)
{
    (void)state;
    struct captured cap;
    for (int pre_vote = 0; pre_vote < 2; pre_vote++) {
        struct single_opts o = {.id = 1,
                                .voters = 3,
                                .term = RAFT_TERM_MAX,
                                .pre_vote = pre_vote != 0};
        struct raft *r = single_new(&o);
        single_ticks(r, 100, &cap);
        assert_int_equal(raft_role(r), RAFT_FOLLOWER);
        assert_true(raft_current_term(r) == RAFT_TERM_MAX);
        assert_int_equal(cap.n_msgs, 0);
        assert_false(cap.hs_changed);
        assert_int_equal(raft_campaign(r), COMMON_ERANGE);
        single_drain(r, &cap);
        assert_int_equal(cap.n_msgs, 0);
        assert_true(raft_current_term(r) == RAFT_TERM_MAX);
        struct raft_stats st;
        raft_get_stats(r, &st);
        assert_int_equal(st.elections_started + st.pre_votes_started, 0);
        struct raft_message v = {.type = RAFT_MSG_VOTE,
                                 .from = 2,
                                 .to = 1,
                                 .term = RAFT_TERM_MAX,
                                 .vote = {.last_index = 0, .last_term = 0}};
        assert_int_equal(single_step(r, &v, &cap), 0);
        assert_true(cap.msgs[0].vote_resp.granted);
        assert_int_equal(raft_voted_for(r), 2);
        raft_free(r);
    }
}

/* A candidate may still campaign into the last term and win it, leading
 * as usual; one that does not win gives up at its next timeout and
 * follows, its term still RAFT_TERM_MAX. */
static void election_last_term_can_be_won_once(void **state)
{
    (void)state;
    struct captured cap;
    struct single_opts o = {.id = 1, .voters = 3, .term = RAFT_TERM_MAX - 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    assert_true(raft_current_term(r) == RAFT_TERM_MAX);
    assert_int_equal(raft_propose(r, "x", 1, NULL, NULL), 0);
    single_ticks(r, 5, &cap);
    assert_int_equal(raft_role(r), RAFT_LEADER);
    assert_non_null(single_find(&cap, RAFT_MSG_HEARTBEAT, 2));
    raft_free(r);

    r = single_new(&o);
    assert_int_equal(raft_campaign(r), 0);
    single_drain(r, &cap);
    assert_int_equal(raft_role(r), RAFT_CANDIDATE);
    const struct raft_message *m = single_find(&cap, RAFT_MSG_VOTE, 2);
    assert_non_null(m);
    assert_true(m->term == RAFT_TERM_MAX);
    single_ticks(r, 100, &cap);
    assert_int_equal(raft_role(r), RAFT_FOLLOWER);
    assert_true(raft_current_term(r) == RAFT_TERM_MAX);
    assert_int_equal(raft_voted_for(r), 1);
    assert_null(single_find(&cap, RAFT_MSG_VOTE, 2));
    raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(election_cluster_elects_one_leader),
        cmocka_unit_test(election_majority_elects_minority_never),
        cmocka_unit_test(election_prevote_rejoin_does_not_depose_leader),
        cmocka_unit_test(election_without_prevote_rejoin_disrupts),
        cmocka_unit_test(election_check_quorum_isolated_leader_steps_down),
        cmocka_unit_test(election_without_check_quorum_leader_stays),
        cmocka_unit_test(election_split_vote_resolves),
        cmocka_unit_test(election_single_node_leads_alone),
        cmocka_unit_test(election_timeouts_are_randomized),
        cmocka_unit_test(election_node_at_term_max_does_not_wrap),
        cmocka_unit_test(election_last_term_can_be_won_once),
    };
    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
