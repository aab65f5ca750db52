/*
 * raft_transfer: leadership transfer (dissertation §3.10) over testnet,
 * with PreVote and CheckQuorum on: the target takes over in one election
 * although the others hear from a live leader, a lagging target is caught
 * up first, proposals wait meanwhile, and a transfer that cannot finish
 * gives up after an election timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "single.h"
#include "testnet.h"

static struct testnet *net(unsigned n, uint64_t seed, raft_id *leader)
{
    struct raft_options o;
    raft_options_default(&o);
    struct testnet *tn = tn_new(n, &o, seed);
    assert_non_null(tn);
    tn_campaign(tn, 1);
    tn_rounds(tn, 5);
    *leader = tn_leader(tn);
    assert_int_equal(*leader, 1);
    return tn;
}

static int transfer(struct testnet *tn, raft_id from, raft_id to)
{
    int rv = raft_transfer_leadership(tn_node(tn, from)->r, to);
    tn_process(tn, from);
    return rv;
}

/* An up-to-date follower takes over in the next term, although every node
 * hears from a live leader; without the transfer it could not (its
 * pre-votes are refused while the lease holds). */
static void transfer_to_an_up_to_date_follower(void **state)
{
    (void)state;
    raft_id l;
    struct testnet *tn = net(3, 1, &l);
    raft_term term = raft_current_term(tn_node(tn, 1)->r);
    /* The control: node 2 campaigning on its own gets nowhere. */
    tn_campaign(tn, 2);
    tn_rounds(tn, 2);
    assert_int_equal(tn_leader(tn), 1);
    assert_int_equal(raft_current_term(tn_node(tn, 1)->r), term);

    assert_int_equal(transfer(tn, 1, 2), 0);
    assert_int_equal(raft_transferee(tn_node(tn, 1)->r), 2);
    tn_rounds(tn, 3);
    assert_int_equal(tn_leader(tn), 2);
    assert_int_equal(raft_current_term(tn_node(tn, 2)->r), term + 1);
    assert_int_not_equal(raft_role(tn_node(tn, 1)->r), RAFT_LEADER);
    assert_int_equal(raft_transferee(tn_node(tn, 1)->r), 0);
    struct raft_stats st;
    raft_get_stats(tn_node(tn, 1)->r, &st);
    assert_int_equal(st.transfers_started, 1);
    assert_int_equal(st.transfers_aborted, 0);
    assert_int_equal(tn_propose(tn, 2, "after", 5), 0);
    tn_rounds(tn, 5);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* A target that lags is brought up to date first; the leader takes no
 * proposals meanwhile; the target, once leader, holds every entry. */
static void transfer_catches_up_a_lagging_target(void **state)
{
    (void)state;
    raft_id l;
    struct testnet *tn = net(5, 2, &l);
    tn_isolate(tn, 3);
    for (int k = 0; k < 30; k++) {
        assert_int_equal(tn_propose(tn, 1, "w", 1), 0);
        tn_round(tn);
    }
    raft_index last = raft_last_index(tn_node(tn, 1)->r);
    assert_true(raft_last_index(tn_node(tn, 3)->r) < last);
    tn_heal(tn);
    assert_int_equal(transfer(tn, 1, 3), 0);
    assert_int_equal(tn_propose(tn, 1, "no", 2), COMMON_EBUSY);
    struct raft_configuration c = *raft_config(tn_node(tn, 1)->r);
    c.count--;
    assert_int_equal(raft_propose_conf(tn_node(tn, 1)->r, &c, NULL),
                     COMMON_EBUSY);
    tn_rounds(tn, 10);
    assert_int_equal(tn_leader(tn), 3);
    assert_true(raft_last_index(tn_node(tn, 3)->r) > last);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* A target that cannot be reached: after an election timeout the leader
 * gives up, says so in its stats, and takes proposals again. */
static void transfer_gives_up_after_an_election_timeout(void **state)
{
    (void)state;
    raft_id l;
    struct testnet *tn = net(3, 3, &l);
    tn_isolate(tn, 2);
    assert_int_equal(tn_propose(tn, 1, "w", 1), 0);
    assert_int_equal(transfer(tn, 1, 2), 0);
    tn_rounds(tn, tn->opts.election_ticks);
    struct raft *r = tn_node(tn, 1)->r;
    assert_int_equal(raft_role(r), RAFT_LEADER);
    assert_int_equal(raft_transferee(r), 0);
    struct raft_stats st;
    raft_get_stats(r, &st);
    assert_int_equal(st.transfers_aborted, 1);
    assert_int_equal(tn_propose(tn, 1, "again", 5), 0);
    tn_heal(tn);
    tn_rounds(tn, 5);
    assert_int_equal(tn_leader(tn), 1);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* Transfers to itself, to a learner or a stranger, from a follower, or
 * while one is under way are refused. */
static void transfer_refusals(void **state)
{
    (void)state;
    raft_id l;
    struct testnet *tn = net(4, 4, &l);
    struct raft *r = tn_node(tn, 1)->r;
    struct raft_configuration c = *raft_config(r);
    c.servers[3].role = RAFT_LEARNER;
    assert_int_equal(raft_propose_conf(r, &c, NULL), 0);
    tn_process(tn, 1);
    tn_rounds(tn, 5);
    assert_int_equal(raft_transfer_leadership(r, 1), COMMON_EINVAL);
    assert_int_equal(raft_transfer_leadership(r, 4), COMMON_EINVAL);
    assert_int_equal(raft_transfer_leadership(r, 9), COMMON_EINVAL);
    assert_int_equal(raft_transfer_leadership(tn_node(tn, 2)->r, 3),
                     COMMON_ENOTLEADER);
    tn_isolate(tn, 3);
    assert_int_equal(transfer(tn, 1, 3), 0);
    assert_int_equal(raft_transfer_leadership(r, 2), COMMON_EBUSY);
    tn_free(tn);
}

/* TimeoutNow counts only from the receiver's leader in its term. */
static void transfer_timeout_now_only_from_the_leader(void **state)
{
    (void)state;
    const raft_term terms[] = {1, 1};
    struct single_opts o = {
        .id = 2, .voters = 3, .terms = terms, .n_terms = 2, .term = 1};
    struct raft *r = single_new(&o);
    struct captured cap;
    struct raft_message hb = {
        .type = RAFT_MSG_HEARTBEAT,
        .from = 1,
        .to = 2,
        .term = 1,
        .heartbeat = {.commit = 2, .match = 2},
    };
    assert_int_equal(single_step(r, &hb, &cap), 0);
    struct raft_message tn = {
        .type = RAFT_MSG_TIMEOUT_NOW, .from = 3, .to = 2, .term = 1};
    assert_int_equal(single_step(r, &tn, &cap), COMMON_EDROPPED);
    assert_non_null(strstr(raft_last_drop_reason(r), "leader"));
    assert_int_equal(raft_role(r), RAFT_FOLLOWER);
    tn.from = 1;
    assert_int_equal(single_step(r, &tn, &cap), 0);
    assert_int_equal(raft_role(r), RAFT_CANDIDATE);
    assert_int_equal(raft_current_term(r), 2);
    const struct raft_message *v = single_find(&cap, RAFT_MSG_VOTE, 3);
    assert_non_null(v);
    assert_true(v->vote.transfer && !v->vote.pre_vote);
    raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transfer_to_an_up_to_date_follower),
        cmocka_unit_test(transfer_catches_up_a_lagging_target),
        cmocka_unit_test(transfer_gives_up_after_an_election_timeout),
        cmocka_unit_test(transfer_refusals),
        cmocka_unit_test(transfer_timeout_now_only_from_the_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
