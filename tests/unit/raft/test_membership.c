/*
 * raft_membership: single-server changes (dissertation §4.1), learners,
 * a leader removing itself, configurations through truncation, restarts
 * and compaction, and the 2015 rule (a leader changes the configuration
 * only after committing an entry of its term). Built twice: as
 * raft_membership over the real core, and as raft_membership_planted over
 * a core without that rule (RAFT_PLANTED_BUG_EARLY_CONF), where the 2015
 * schedule must end with a leader missing a committed entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "single.h"
#include "testnet.h"

static struct raft_configuration conf_of(const char *spec)
{
    /* "1 2 3 l4": voters, and learners marked l. */
    struct raft_configuration c;
    memset(&c, 0, sizeof c);
    for (const char *p = spec; *p != '\0';) {
        if (*p == ' ') {
            p++;
            continue;
        }
        bool learner = *p == 'l';
        p += learner;
        char *end = NULL;
        unsigned long id = strtoul(p, &end, 10);
        c.servers[c.count].id = id;
        c.servers[c.count].role = learner ? RAFT_LEARNER : RAFT_VOTER;
        c.count++;
        p = end;
    }
    assert_true(raft_configuration_valid(&c));
    return c;
}

static bool same_conf(const struct raft_configuration *a,
                      const struct raft_configuration *b)
{
    if (a->count != b->count) {
        return false;
    }
    for (uint32_t k = 0; k < a->count; k++) {
        int j = raft_configuration_find(b, a->servers[k].id);
        if (j < 0 || b->servers[j].role != a->servers[k].role) {
            return false;
        }
    }
    return true;
}

static struct testnet *net(unsigned n, const char *boot, uint64_t seed)
{
    struct raft_options o;
    raft_options_default(&o);
    o.promote_lag = 5;
    struct raft_configuration c = conf_of(boot);
    struct testnet *tn = tn_new_conf(n, &c, &o, seed);
    assert_non_null(tn);
    return tn;
}

static int change(struct testnet *tn, raft_id id, const char *spec)
{
    struct raft_configuration c = conf_of(spec);
    int rv = raft_propose_conf(tn_node(tn, id)->r, &c, NULL);
    tn_process(tn, id);
    return rv;
}

static void write_n(struct testnet *tn, raft_id leader, int n)
{
    for (int k = 0; k < n; k++) {
        assert_int_equal(tn_propose(tn, leader, "w", 1), 0);
        tn_round(tn);
    }
}

/* Every live member of @spec holds it as its configuration. (A removed
 * node may never learn of its removal: the leader stops sending to it.) */
static void all_hold(struct testnet *tn, const char *spec)
{
    struct raft_configuration want = conf_of(spec);
    for (raft_id id = 1; id <= tn->n; id++) {
        struct tn_node *nd = tn_node(tn, id);
        if (nd->r != NULL && raft_configuration_find(&want, id) >= 0 &&
            !same_conf(raft_config(nd->r), &want)) {
            fail_msg("node %llu does not hold '%s'", (unsigned long long)id,
                     spec);
        }
    }
}

/* A node outside the configuration is added as a learner, gets the log,
 * is refused promotion while it lags more than promote_lag entries, and
 * is promoted once caught up: the quorum then counts it. */
static void membership_add_learner_then_promote(void **state)
{
    (void)state;
    struct testnet *tn = net(4, "1 2 3", 1);
    tn_campaign(tn, 1);
    assert_int_equal(tn_leader(tn), 1);
    tn_rounds(tn, 5);
    assert_int_equal(change(tn, 1, "1 2 3 l4"), 0);
    tn_rounds(tn, 10);
    all_hold(tn, "1 2 3 l4");
    struct raft *l = tn_node(tn, 1)->r;
    assert_int_equal(tn_node(tn, 4)->applied, raft_commit_index(l));
    assert_int_equal(raft_role(tn_node(tn, 4)->r), RAFT_FOLLOWER);

    /* Cut off, it falls behind: promotion is refused. */
    tn_isolate(tn, 4);
    write_n(tn, 1, 20);
    assert_int_equal(change(tn, 1, "1 2 3 4"), COMMON_ERANGE);
    tn_heal(tn);
    tn_rounds(tn, 10);
    assert_int_equal(change(tn, 1, "1 2 3 4"), 0);
    /* One change at a time. */
    assert_int_equal(change(tn, 1, "1 2 3 4 l5"), COMMON_EBUSY);
    tn_rounds(tn, 10);
    all_hold(tn, "1 2 3 4");
    /* Four voters: a quorum is three, so two cut off stop commitment. */
    tn_isolate(tn, 3);
    tn_isolate(tn, 4);
    raft_index before = raft_commit_index(l);
    assert_int_equal(tn_propose(tn, 1, "x", 1), 0);
    tn_rounds(tn, 3);
    assert_int_equal(raft_commit_index(l), before);
    tn_heal(tn);
    tn_rounds(tn, 10);
    assert_true(raft_commit_index(l) > before);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* Changes of more or less than one server, or not valid, are refused;
 * so are changes on a follower. */
static void membership_only_single_server_changes(void **state)
{
    (void)state;
    struct testnet *tn = net(5, "1 2 3", 2);
    tn_campaign(tn, 1);
    tn_rounds(tn, 5);
    assert_int_equal(change(tn, 1, "1 2 3"), COMMON_EINVAL);
    assert_int_equal(change(tn, 1, "1 2 3 4 5"), COMMON_EINVAL);
    assert_int_equal(change(tn, 1, "1 l2 3 4"), COMMON_EINVAL);
    assert_int_equal(change(tn, 1, "1 4"), COMMON_EINVAL);
    assert_int_equal(change(tn, 2, "1 2 3 4"), COMMON_ENOTLEADER);
    struct raft_configuration none;
    memset(&none, 0, sizeof none);
    assert_int_equal(raft_propose_conf(tn_node(tn, 1)->r, &none, NULL),
                     COMMON_EINVAL);
    /* Adding a voter directly, demoting one, removing one: each alone. */
    assert_int_equal(change(tn, 1, "1 2 3 4"), 0);
    tn_rounds(tn, 10);
    assert_int_equal(change(tn, 1, "1 2 l3 4"), 0);
    tn_rounds(tn, 10);
    assert_int_equal(change(tn, 1, "1 2 4"), 0);
    tn_rounds(tn, 10);
    all_hold(tn, "1 2 4");
    /* Node 3 never got its removal (the leader stops sending to a server
     * once it appends the change), so it holds itself a learner. Cut off,
     * it pre-votes in vain: no election, no new term, and back among the
     * others it disrupts nothing. */
    raft_term term = raft_current_term(tn_node(tn, 1)->r);
    tn_isolate(tn, 3);
    tn_rounds(tn, 100);
    struct raft_stats st;
    raft_get_stats(tn_node(tn, 3)->r, &st);
    assert_int_equal(st.elections_started, 0);
    assert_int_equal(raft_current_term(tn_node(tn, 3)->r), term);
    tn_heal(tn);
    tn_rounds(tn, 100);
    assert_int_equal(tn_leader(tn), 1);
    assert_int_equal(raft_current_term(tn_node(tn, 1)->r), term);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* A leader that removes itself leads on, without counting itself, until
 * the change commits, then steps down; the others elect a leader and it
 * never leads again. */
static void membership_leader_removes_itself(void **state)
{
    (void)state;
    struct testnet *tn = net(3, "1 2 3", 3);
    tn_campaign(tn, 1);
    tn_rounds(tn, 5);
    struct raft *l = tn_node(tn, 1)->r;
    /* With node 3 cut off, {2, 3} has no quorum without node 1's own
     * copy, which no longer counts: the change cannot commit. */
    tn_isolate(tn, 3);
    assert_int_equal(change(tn, 1, "2 3"), 0);
    tn_rounds(tn, 5);
    assert_int_equal(raft_role(l), RAFT_LEADER);
    assert_true(raft_config_index(l) > raft_commit_index(l));
    tn_heal(tn);
    tn_rounds(tn, 5);
    struct raft_stats st;
    raft_get_stats(l, &st);
    assert_int_equal(st.step_downs_removed, 1);
    assert_int_not_equal(raft_role(l), RAFT_LEADER);
    raft_id next = tn_elect(tn, 400);
    assert_true(next == 2 || next == 3);
    write_n(tn, next, 5);
    tn_rounds(tn, 200);
    assert_int_equal(tn_leader(tn), next);
    raft_get_stats(l, &st);
    assert_int_equal(st.leader_terms, 1);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* A removed node that missed its removal (cut off while it was made)
 * comes back and campaigns: PreVote and the lease of the others keep it
 * from disrupting the cluster. */
static void membership_removed_node_does_not_disrupt(void **state)
{
    (void)state;
    struct testnet *tn = net(3, "1 2 3", 4);
    tn_campaign(tn, 1);
    tn_rounds(tn, 5);
    tn_isolate(tn, 3);
    assert_int_equal(change(tn, 1, "1 2"), 0);
    tn_rounds(tn, 10);
    all_hold(tn, "1 2");
    raft_term term = raft_current_term(tn_node(tn, 1)->r);
    tn_heal(tn);
    tn_rounds(tn, 300);
    assert_int_equal(tn_leader(tn), 1);
    assert_int_equal(raft_current_term(tn_node(tn, 1)->r), term);
    assert_int_equal(raft_current_term(tn_node(tn, 2)->r), term);
    struct raft_stats st;
    raft_get_stats(tn_node(tn, 3)->r, &st);
    assert_true(st.pre_votes_started > 0);
    assert_int_equal(st.elections_started, 0);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* A follower appends a change that a later leader never had: truncated
 * away, the configuration before it is in force again. */
static void membership_truncated_change_reverts(void **state)
{
    (void)state;
    const raft_term terms[] = {1};
    struct single_opts o = {
        .id = 2, .voters = 3, .terms = terms, .n_terms = 1, .term = 1};
    struct raft *r = single_new(&o);
    struct captured cap;
    struct raft_configuration c4 = conf_of("1 2 3 4");
    uint8_t buf[512];
    size_t len = raft_configuration_encode(&c4, buf, sizeof buf);
    struct raft_entry e = {
        .term = 1, .index = 2, .type = RAFT_ENTRY_CONFIG, .data = {buf, len}};
    struct raft_message m = {
        .type = RAFT_MSG_APPEND,
        .from = 1,
        .to = 2,
        .term = 1,
        .append = {.prev_index = 1,
                   .prev_term = 1,
                   .entries = &e,
                   .n_entries = 1},
    };
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_int_equal(raft_config(r)->count, 4);
    assert_int_equal(raft_config_index(r), 2);
    /* Node 3 leads term 2 without it and overwrites index 2. */
    struct raft_entry noop = {.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP};
    m = (struct raft_message){
        .type = RAFT_MSG_APPEND,
        .from = 3,
        .to = 2,
        .term = 2,
        .append = {.prev_index = 1,
                   .prev_term = 1,
                   .entries = &noop,
                   .n_entries = 1},
    };
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_int_equal(raft_config(r)->count, 3);
    assert_int_equal(raft_config_index(r), 0);
    /* A damaged configuration entry is refused before it enters the
     * log. */
    e.term = 2;
    e.index = 3;
    e.data.len = len - 1;
    m.append = (struct raft_append){
        .prev_index = 2, .prev_term = 2, .entries = &e, .n_entries = 1};
    assert_int_equal(single_step(r, &m, &cap), COMMON_EDROPPED);
    assert_non_null(strstr(raft_last_drop_reason(r), "configuration"));
    assert_int_equal(raft_last_index(r), 2);
    raft_free(r);
}

/* The configuration survives restarts through the log, and compaction
 * through the snapshot: raft_config_at() gives what a snapshot at an
 * index must carry. */
static void membership_survives_restart_and_compaction(void **state)
{
    (void)state;
    struct testnet *tn = net(4, "1 2 3", 5);
    tn_campaign(tn, 1);
    tn_rounds(tn, 5);
    raft_index before = raft_last_index(tn_node(tn, 1)->r);
    assert_int_equal(change(tn, 1, "1 2 3 l4"), 0);
    raft_index at = raft_config_index(tn_node(tn, 1)->r);
    assert_int_equal(at, before + 1);
    write_n(tn, 1, 10);
    tn_rounds(tn, 10);
    struct raft_configuration c;
    assert_int_equal(raft_config_at(tn_node(tn, 2)->r, at - 1, &c), 0);
    assert_int_equal(c.count, 3);
    assert_int_equal(raft_config_at(tn_node(tn, 2)->r, at, &c), 0);
    assert_int_equal(c.count, 4);
    /* A restart rebuilds the configuration from the log. */
    tn_crash(tn, 2);
    tn_restart(tn, 2);
    assert_int_equal(raft_config(tn_node(tn, 2)->r)->count, 4);
    assert_int_equal(raft_config_index(tn_node(tn, 2)->r), at);
    /* Compacted past the change and restarted from the snapshot: the
     * snapshot carries it. */
    tn_snapshot(tn, 2, 0);
    assert_true(tn_node(tn, 2)->disk.snap_index > at);
    assert_int_equal(tn_node(tn, 2)->disk.snap_conf.count, 4);
    tn_crash(tn, 2);
    tn_restart(tn, 2);
    assert_int_equal(raft_config(tn_node(tn, 2)->r)->count, 4);
    assert_int_equal(raft_config_index(tn_node(tn, 2)->r), 0);
    assert_int_equal(raft_config_at(tn_node(tn, 2)->r, at, &c), COMMON_ERANGE);
    /* Node 4 gets what was compacted as a snapshot from node 1 once node 1
     * compacts too. */
    tn_snapshot(tn, 1, 0);
    write_n(tn, 1, 3);
    tn_rounds(tn, 20);
    all_hold(tn, "1 2 3 l4");
    assert_int_equal(tn_node(tn, 4)->applied,
                     raft_commit_index(tn_node(tn, 1)->r));
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* Drops the leader's messages from 2 and 3 to 4 (votes still pass). */
static bool no_appends_to_4(void *data, struct raft_message *m)
{
    (void)data;
    return m->to != 4 || m->type == RAFT_MSG_VOTE ||
           m->type == RAFT_MSG_VOTE_RESP;
}

/* The 2015 schedule (Ongaro, raft-dev, "bug in single-server membership
 * changes"): from {1, 2, 3, 4}, leader 1 of term 1 adds 5 and only 5 gets
 * the entry. Node 2 leads term 2 with the votes of 3 and 4, and 4 gets
 * nothing more from it. If node 2 may change the configuration before
 * committing an entry of its term, it removes 1, and the change commits
 * on 2 and 3, a majority of {2, 3, 4}. Node 1 then leads term 3 with the
 * votes of 4 and 5, a majority of {1, 2, 3, 4, 5}, without the entries
 * committed in term 2: Leader Completeness is broken, and the monitor
 * says so. With the rule, node 2's change is refused (its no-op needs 3
 * of {1, 2, 3, 4}) and the schedule ends safe. PreVote and CheckQuorum are off:
 * they only delay the elections the schedule forces. */
static void membership_2015_rule(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.pre_vote = false;
    o.check_quorum = false;
    struct raft_configuration c = conf_of("1 2 3 4");
    struct testnet *tn = tn_new_conf(5, &c, &o, 6);
    assert_non_null(tn);
    tn_campaign(tn, 1);
    tn_rounds(tn, 5);
    assert_int_equal(tn_leader(tn), 1);
    /* 1 and 5 on one side, 2, 3 and 4 on the other. */
    for (raft_id k = 1; k <= 5; k++) {
        for (raft_id j = 1; j <= 5; j++) {
            tn_cut(tn, k, j, (k == 1 || k == 5) != (j == 1 || j == 5));
        }
    }
    assert_int_equal(change(tn, 1, "1 2 3 4 5"), 0);
    tn_deliver_all(tn, 1000);
    assert_int_equal(raft_config(tn_node(tn, 5)->r)->count, 5);
    tn->filter = no_appends_to_4;
    tn_campaign(tn, 2);
    assert_int_equal(raft_role(tn_node(tn, 2)->r), RAFT_LEADER);
    int rv = change(tn, 2, "2 3 4");
#ifdef PLANTED
    assert_int_equal(rv, 0);
#else
    assert_int_equal(rv, COMMON_EBUSY);
#endif
    tn_deliver_all(tn, 1000);
    /* 1, 4 and 5 on one side, 2 and 3 on the other. */
    for (raft_id k = 1; k <= 5; k++) {
        for (raft_id j = 1; j <= 5; j++) {
            tn_cut(tn, k, j, (k == 2 || k == 3) != (j == 2 || j == 3));
        }
    }
    /* Node 1, which never heard of term 2, restarts and campaigns. */
    tn_crash(tn, 1);
    tn_restart(tn, 1);
    for (int k = 0; k < 3 && raft_role(tn_node(tn, 1)->r) != RAFT_LEADER; k++) {
        tn_campaign(tn, 1);
    }
    assert_int_equal(raft_role(tn_node(tn, 1)->r), RAFT_LEADER);
    write_n(tn, 1, 3);
    tn_deliver_all(tn, 1000);
#ifdef PLANTED
    assert_false(tn_safe(tn));
    printf("planted: %s\n", tn_violation(tn));
#else
    assert_true(tn_safe(tn));
#endif
    tn_free(tn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(membership_add_learner_then_promote),
        cmocka_unit_test(membership_only_single_server_changes),
        cmocka_unit_test(membership_leader_removes_itself),
        cmocka_unit_test(membership_removed_node_does_not_disrupt),
        cmocka_unit_test(membership_truncated_change_reverts),
        cmocka_unit_test(membership_survives_restart_and_compaction),
        cmocka_unit_test(membership_2015_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
