/*
 * raft_invariants: the core's invariants are really checked. Each death
 * test builds a node, then in a child process (fork) breaks one fact
 * through the core's private state (raft_internal.h, the test-only way
 * in) and runs raft_invariants() or an entry point: the child must die of
 * SIGABRT, with the assertion of that fact in what it wrote to stderr.
 * The role-change table of convert.c is pinned down the same way.
 *
 * Entry points check the invariants only in builds with RAFTKV_INVARIANTS
 * (this test then sees RAFT_INVARIANTS): there the corrupted node must
 * die in each of them, and in other builds it must live on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "death.h"
#include "raft_internal.h"
#include "single.h"

static struct captured cap;

/* A leader of term 2 over {1, 2, 3} with entries 1-3, the no-op of term 2
 * at 4 committed by node 2's acknowledgement. */
static struct raft *new_leader(void)
{
    const raft_term log[] = {1, 1, 1};
    struct single_opts o = {.id = 1,
                            .voters = 3,
                            .terms = log,
                            .n_terms = 3,
                            .term = 1,
                            .commit = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    struct raft_message m = {
        .type = RAFT_MSG_APPEND_RESP,
        .from = 2,
        .to = 1,
        .term = raft_current_term(r),
        .append_resp = {.success = true, .index = raft_last_index(r)},
    };
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_int_equal(raft_commit_index(r), raft_last_index(r));
    raft_invariants(r);
    return r;
}

/* A candidate of term 2 (no PreVote) over {1, 2, 3}. */
static struct raft *new_candidate(void)
{
    struct single_opts o = {.id = 1, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    assert_int_equal(raft_campaign(r), 0);
    single_drain(r, &cap);
    assert_int_equal(raft_role(r), RAFT_CANDIDATE);
    raft_invariants(r);
    return r;
}

/* What a child does to the node it inherited: break a fact, then act. */
typedef void (*node_fn)(struct raft *r);

static void check(struct raft *r)
{
    raft_invariants(r);
}

/* What the child does: break a fact in its copy of the node, then act. */
struct child
{
    struct raft *r;
    node_fn corrupt;
    node_fn act;
};

static void child_main(void *arg)
{
    struct child *c = arg;
    c->corrupt(c->r);
    c->act(c->r);
}

/* Runs @corrupt then @act on the node in a child process. Returns true
 * when the child died of SIGABRT; what it wrote to stderr is in @err. */
static bool child_aborts(struct raft *r,
                         node_fn corrupt,
                         node_fn act,
                         char *err,
                         size_t err_len)
{
    struct child c = {r, corrupt, act};
    return death_run(child_main, &c, err, err_len);
}

/* The child must die of the assertion whose text contains @expect. */
static void expect_death(struct raft *r,
                         node_fn corrupt,
                         node_fn act,
                         const char *expect)
{
    struct child c = {r, corrupt, act};
    death_expect(child_main, &c, expect);
}

/* ------------------------------------------------------------------------ */
/* Corruptions                                                               */
/* ------------------------------------------------------------------------ */

static void commit_past_last(struct raft *r)
{
    r->commit = log_last_index(&r->log) + 1;
}

static void applied_past_commit(struct raft *r)
{
    r->applied = r->commit + 1;
}

static void stable_past_last(struct raft *r)
{
    r->log.stable = log_last_index(&r->log) + 1;
}

static void term_past_bound(struct raft *r)
{
    r->term = RAFT_TERM_MAX + 1;
}

static void leader_forgets_itself(struct raft *r)
{
    r->leader = 0;
}

static void own_match_behind_stable(struct raft *r)
{
    raft_progress_of(r, r->id)->match--;
}

static void follower_match_at_next(struct raft *r)
{
    struct progress *p = raft_progress_of(r, 3);
    p->match = p->next;
}

static void inflight_beyond_window(struct raft *r)
{
    raft_progress_of(r, 2)->inflight_count = r->opts.max_inflight + 1;
}

static void vote_for_another(struct raft *r)
{
    r->vote = 2;
}

/* Two reads, then the first one's round pushed past the second's. */
static void reads_out_of_order(struct raft *r)
{
    assert(raft_read_index(r, 1) == 0 && raft_read_index(r, 2) == 0);
    r->reads[0].round = r->reads[1].round + 1;
}

static void tally_out_of_range(struct raft *r)
{
    raft_progress_of(r, 2)->vote = 2;
}

/* A node booted from a snapshot at 5 whose commit (and what it applied
 * and reported) went back to 4. */
static void commit_below_snapshot(struct raft *r)
{
    r->commit = 4;
    r->applied = 4;
    r->reported_hs.commit = 4;
}

static void leave_alone(struct raft *r)
{
    (void)r;
}

/* A booted node whose snapshot at 5 lies past its commit index. */
static struct raft *new_node_after_snapshot(void)
{
    struct raft_options o;
    raft_options_default(&o);
    o.id = 1;
    struct raft_boot b;
    memset(&b, 0, sizeof b);
    const raft_id ids[] = {1, 2, 3};
    assert_int_equal(raft_configuration_voters(&b.conf, ids, 3), 0);
    b.hard_state.term = 2;
    b.hard_state.commit = 5;
    b.snapshot_index = 5;
    b.snapshot_term = 2;
    b.applied = 5;
    struct raft *r = NULL;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    return r;
}

/* ------------------------------------------------------------------------ */
/* raft_invariants() names the fact that broke                               */
/* ------------------------------------------------------------------------ */

/* A healthy leader and a healthy candidate pass, and so does a child that
 * changes nothing: the harness below does not abort on its own. */
static void invariants_hold_on_healthy_nodes(void **state)
{
    (void)state;
    struct raft *r = new_leader();
    char err[256];
    assert_false(child_aborts(r, leave_alone, check, err, sizeof err));
    raft_free(r);
    r = new_candidate();
    assert_false(child_aborts(r, leave_alone, check, err, sizeof err));
    raft_free(r);
}

/* One broken fact: the node it is broken in, how, and the text of the
 * assertion that must name it. */
struct death_case
{
    const char *name;
    struct raft *(*fixture)(void);
    node_fn corrupt;
    const char *expect;
};

static struct death_case deaths[] = {
    /* A commit index past the log's last index is caught. */
    {"invariants_catch_commit_past_the_log", new_leader, commit_past_last,
     "r->commit <= last"},
    /* An applied index past the commit index is caught. */
    {"invariants_catch_applied_past_commit", new_leader, applied_past_commit,
     "r->applied <= r->commit"},
    /* A stable index past the log's last index is caught. */
    {"invariants_catch_stable_past_the_log", new_leader, stable_past_last,
     "l->stable <= last"},
    /* A term above RAFT_TERM_MAX is caught. */
    {"invariants_catch_term_past_the_bound", new_leader, term_past_bound,
     "r->term <= RAFT_TERM_MAX"},
    /* A leader that does not know itself as the leader is caught. */
    {"invariants_catch_leader_not_knowing_itself", new_leader,
     leader_forgets_itself, "r->leader == r->id"},
    /* The leader's own match must be exactly its stable index. */
    {"invariants_catch_own_match_off_stable", new_leader,
     own_match_behind_stable, "p->match == r->log.stable"},
    /* A follower's match at or past its next index is caught. */
    {"invariants_catch_match_not_below_next", new_leader,
     follower_match_at_next, "p->match < p->next"},
    /* An in-flight window larger than max_inflight is caught. */
    {"invariants_catch_inflight_beyond_window", new_leader,
     inflight_beyond_window, "p->inflight_count <= max"},
    /* A candidate that has not voted for itself is caught. */
    {"invariants_catch_candidate_not_voting_for_itself", new_candidate,
     vote_for_another, "r->vote == r->id"},
    /* ReadIndex rounds out of order along the queue are caught. */
    {"invariants_catch_read_rounds_out_of_order", new_leader,
     reads_out_of_order, "q->round >= round"},
    /* A snapshot index past the commit index is caught. */
    {"invariants_catch_snapshot_past_commit", new_node_after_snapshot,
     commit_below_snapshot, "l->snapshot_index <= r->commit"},
    /* A vote tally out of {-1, 0, 1} is caught. */
    {"invariants_catch_vote_tally_out_of_range", new_leader, tally_out_of_range,
     "p->vote >= -1"},
};

static void invariant_is_caught(void **state)
{
    const struct death_case *c = *state;
    struct raft *r = c->fixture();
    expect_death(r, c->corrupt, check, c->expect);
    raft_free(r);
}

/* ------------------------------------------------------------------------ */
/* Role changes                                                              */
/* ------------------------------------------------------------------------ */

/* The table of legal role changes is the one docs/raft.md draws: anyone
 * may become a follower, only non-leaders campaign, only a candidate
 * becomes leader, and a new instance starts as a follower. */
static void convert_table_is_the_documented_one(void **state)
{
    (void)state;
    enum {
        F = RAFT_FOLLOWER,
        P = RAFT_PRE_CANDIDATE
    };
    enum {
        C = RAFT_CANDIDATE,
        L = RAFT_LEADER
    };
    const bool want[5][5] = {
        [0] = {[F] = true},
        [F] = {[F] = true, [P] = true, [C] = true},
        [P] = {[F] = true, [P] = true, [C] = true},
        [C] = {[F] = true, [P] = true, [C] = true, [L] = true},
        [L] = {[F] = true},
    };
    for (int from = 0; from <= L; from++) {
        for (int to = 0; to <= L; to++) {
            if (convert_legal(from, to) != want[from][to]) {
                fail_msg("role change %d -> %d: legal %d, documented %d", from,
                         to, convert_legal(from, to), want[from][to]);
            }
        }
    }
}

static void campaign_as_leader(struct raft *r)
{
    become_candidate(r);
}

/* A leader made a candidate trips the table's assertion. */
static void convert_refuses_leader_to_candidate(void **state)
{
    (void)state;
    struct raft *r = new_leader();
    expect_death(r, leave_alone, campaign_as_leader, "convert_legal(");
    raft_free(r);
}

/* ------------------------------------------------------------------------ */
/* Every entry point checks (in builds with RAFTKV_INVARIANTS)               */
/* ------------------------------------------------------------------------ */

static struct raft_update pending;

static void act_tick(struct raft *r)
{
    raft_tick(r);
}

static void act_step(struct raft *r)
{
    struct raft_message m = {
        .type = RAFT_MSG_HEARTBEAT_RESP,
        .from = 2,
        .to = 1,
        .term = raft_current_term(r),
    };
    raft_step(r, &m);
}

static void act_propose(struct raft *r)
{
    raft_propose(r, "x", 1, NULL, NULL);
}

static void act_read_index(struct raft *r)
{
    raft_read_index(r, 7);
}

static void act_campaign(struct raft *r)
{
    raft_campaign(r); /* refused on a leader, and checked all the same */
}

static void act_update_get(struct raft *r)
{
    raft_propose(r, "x", 1, NULL, NULL);
    raft_update_get(r, &pending);
}

static void act_update_done(struct raft *r)
{
    raft_update_done(r, &pending);
}

/* For raft_update_done: an update is out before the fact is broken. */
static void get_then_break(struct raft *r)
{
    raft_propose(r, "x", 1, NULL, NULL);
    assert(raft_update_get(r, &pending));
    tally_out_of_range(r);
}

static void act_compact(struct raft *r)
{
    raft_compact(r, 1);
}

static void act_snapshot_set(struct raft *r)
{
    struct raft_snapshot s = {.index = 1, .term = 1};
    const raft_id ids[] = {1, 2, 3};
    raft_configuration_voters(&s.conf, ids, 3);
    raft_snapshot_set(r, &s);
}

/* Each entry point that changes the instance runs raft_invariants() on
 * the way out when built with RAFTKV_INVARIANTS, and never otherwise: a
 * leader whose vote tally for node 2 is out of range (a fact none of them
 * reads) dies in every one of them, or lives on. */
static void entry_points_check_invariants_when_built_to(void **state)
{
    (void)state;
    const struct
    {
        const char *name;
        node_fn corrupt;
        node_fn act;
    } calls[] = {
        {"raft_tick", tally_out_of_range, act_tick},
        {"raft_step", tally_out_of_range, act_step},
        {"raft_propose", tally_out_of_range, act_propose},
        {"raft_read_index", tally_out_of_range, act_read_index},
        {"raft_campaign", tally_out_of_range, act_campaign},
        {"raft_update_get", tally_out_of_range, act_update_get},
        {"raft_update_done", get_then_break, act_update_done},
        {"raft_compact", tally_out_of_range, act_compact},
        {"raft_snapshot_set", tally_out_of_range, act_snapshot_set},
    };
#ifdef RAFT_INVARIANTS
    const bool checked = true;
#else
    const bool checked = false;
#endif
    struct raft *r = new_leader();
    for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++) {
        char err[4096];
        bool aborted =
            child_aborts(r, calls[k].corrupt, calls[k].act, err, sizeof err);
        bool named = strstr(err, "p->vote >= -1") != NULL;
        if (aborted != checked || (checked && !named)) {
            fail_msg("%s: %s (RAFT_INVARIANTS %s): %s", calls[k].name,
                     aborted ? "aborted" : "did not abort",
                     checked ? "on" : "off", err);
        }
    }
    raft_free(r);
}

#define N_DEATHS (sizeof deaths / sizeof deaths[0])

int main(void)
{
    struct CMUnitTest tests[N_DEATHS + 4] = {
        cmocka_unit_test(invariants_hold_on_healthy_nodes),
        cmocka_unit_test(convert_table_is_the_documented_one),
        cmocka_unit_test(convert_refuses_leader_to_candidate),
        cmocka_unit_test(entry_points_check_invariants_when_built_to),
    };
    for (size_t k = 0; k < N_DEATHS; k++) {
        tests[4 + k] = (struct CMUnitTest){.name = deaths[k].name,
                                           .test_func = invariant_is_caught,
                                           .initial_state = &deaths[k]};
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
