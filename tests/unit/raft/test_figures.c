/*
 * raft_figures: the rules of the Raft paper's Figure 2, one test each, and
 * the situations of Figures 7 and 8.
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

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static struct captured cap;

/* A follower (node 2 of 3) whose log has the given terms, at @term. */
static struct raft *follower(const raft_term *terms, size_t n, raft_term term)
{
    struct single_opts o = {
        .id = 2, .voters = 3, .terms = terms, .n_terms = n, .term = term};
    return single_new(&o);
}

static const struct raft_message *only_reply(int type)
{
    assert_int_equal(cap.n_msgs, 1);
    assert_int_equal(cap.msgs[0].type, type);
    return &cap.msgs[0];
}

/* ------------------------------------------------------------------------ */
/* Figure 2: AppendEntries receiver                                          */
/* ------------------------------------------------------------------------ */

/* Step 1: "Reply false if term < currentTerm" - with the receiver's term,
 * and nothing persisted. */
static void append_rejects_stale_term(void **state)
{
    (void)state;
    const raft_term log[] = {1, 2};
    struct raft *r = follower(log, 2, 3);
    const raft_term add[] = {2};
    struct raft_message m = single_append(1, 2, 2, 2, 2, add, 1, 0);
    single_step(r, &m, &cap);
    const struct raft_message *resp = only_reply(RAFT_MSG_APPEND_RESP);
    assert_false(resp->append_resp.success);
    assert_int_equal(resp->term, 3);
    assert_int_equal(cap.n_persisted, 0);
    assert_int_equal(raft_last_index(r), 2);
    assert_int_equal(raft_current_term(r), 3);
    raft_free(r);
}

/* Step 2: "Reply false if log doesn't contain an entry at prevLogIndex
 * whose term matches prevLogTerm" - both when the log is too short and
 * when the term there differs; the hints name the follower's last index
 * + 1, or its conflicting term and the first index of that term. */
static void append_rejects_missing_or_mismatched_prev(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 2, 2, 2};
    struct raft *r = follower(log, 5, 3);
    const raft_term add[] = {3};
    struct raft_message m = single_append(1, 2, 3, 7, 3, add, 1, 0);
    single_step(r, &m, &cap);
    const struct raft_message *resp = only_reply(RAFT_MSG_APPEND_RESP);
    assert_false(resp->append_resp.success);
    assert_int_equal(resp->append_resp.index, 7);
    assert_int_equal(resp->append_resp.hint_index, 6);
    assert_int_equal(resp->append_resp.hint_term, 0);

    m = single_append(1, 2, 3, 5, 3, add, 1, 0);
    single_step(r, &m, &cap);
    resp = only_reply(RAFT_MSG_APPEND_RESP);
    assert_false(resp->append_resp.success);
    assert_int_equal(resp->append_resp.index, 5);
    assert_int_equal(resp->append_resp.hint_term, 2);
    assert_int_equal(resp->append_resp.hint_index, 3);
    assert_int_equal(raft_last_index(r), 5);
    assert_int_equal(cap.n_persisted, 0);
    raft_free(r);
}

/* Step 3: "If an existing entry conflicts with a new one (same index but
 * different terms), delete the existing entry and all that follow it" -
 * and tell storage to drop them too. */
static void append_truncates_conflicting_suffix(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 2, 2, 2};
    struct raft *r = follower(log, 5, 3);
    const raft_term add[] = {3, 3};
    struct raft_message m = single_append(1, 2, 3, 2, 1, add, 2, 0);
    single_step(r, &m, &cap);
    const struct raft_message *resp = only_reply(RAFT_MSG_APPEND_RESP);
    assert_true(resp->append_resp.success);
    assert_int_equal(resp->append_resp.index, 4);
    assert_int_equal(cap.truncate_from, 3);
    assert_int_equal(raft_last_index(r), 4);
    assert_int_equal(raft_term_at(r, 3), 3);
    assert_int_equal(raft_term_at(r, 4), 3);
    assert_int_equal(cap.n_persisted, 2);
    assert_int_equal(cap.persisted[0], 3);
    raft_free(r);
}

/* Step 4: "Append any new entries not already in the log" - entries
 * already present are neither rewritten nor truncated, even when the
 * message is an old one that ends before the log does. */
static void append_adds_only_new_entries(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 2};
    struct raft *r = follower(log, 3, 2);
    const raft_term add[] = {1, 2, 2, 2};
    struct raft_message m = single_append(1, 2, 2, 1, 1, add, 4, 0);
    single_step(r, &m, &cap);
    assert_true(only_reply(RAFT_MSG_APPEND_RESP)->append_resp.success);
    assert_int_equal(cap.truncate_from, 0);
    assert_int_equal(cap.n_persisted, 2);
    assert_int_equal(cap.persisted[0], 4);
    assert_int_equal(cap.persisted[1], 5);
    /* A stale, shorter copy of the same message changes nothing. */
    m = single_append(1, 2, 2, 1, 1, add, 1, 0);
    single_step(r, &m, &cap);
    assert_true(only_reply(RAFT_MSG_APPEND_RESP)->append_resp.success);
    assert_int_equal(cap.msgs[0].append_resp.index, 2);
    assert_int_equal(cap.n_persisted, 0);
    assert_int_equal(cap.truncate_from, 0);
    assert_int_equal(raft_last_index(r), 5);
    raft_free(r);
}

/* Step 5: "If leaderCommit > commitIndex, set commitIndex =
 * min(leaderCommit, index of last new entry)" - not the follower's last
 * index, which may hold a stale suffix beyond what the leader sent. */
static void append_commit_bounded_by_last_new_entry(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 1, 1, 1, 1};
    struct raft *r = follower(log, 6, 2);
    const raft_term add[] = {1};
    struct raft_message m = single_append(1, 2, 2, 2, 1, add, 1, 6);
    single_step(r, &m, &cap);
    assert_int_equal(raft_commit_index(r), 3);
    assert_int_equal(cap.n_committed, 3);
    assert_int_equal(cap.hs.commit, 3);
    m = single_append(1, 2, 2, 3, 1, add, 1, 2);
    single_step(r, &m, &cap);
    assert_int_equal(raft_commit_index(r), 3); /* never goes back */
    raft_free(r);
}

/* ------------------------------------------------------------------------ */
/* Figure 2: RequestVote receiver                                            */
/* ------------------------------------------------------------------------ */

static struct raft_message vote(raft_id from,
                                raft_term term,
                                raft_index last_index,
                                raft_term last_term)
{
    struct raft_message m = {
        .type = RAFT_MSG_VOTE,
        .from = from,
        .to = 2,
        .term = term,
        .vote = {.last_index = last_index, .last_term = last_term},
    };
    return m;
}

/* Step 1: "Reply false if term < currentTerm". */
static void vote_rejects_stale_term(void **state)
{
    (void)state;
    struct raft *r = follower(NULL, 0, 5);
    struct raft_message m = vote(1, 4, 10, 4);
    single_step(r, &m, &cap);
    const struct raft_message *resp = only_reply(RAFT_MSG_VOTE_RESP);
    assert_false(resp->vote_resp.granted);
    assert_int_equal(resp->term, 5);
    assert_int_equal(raft_voted_for(r), 0);
    raft_free(r);
}

/* Step 2: "If votedFor is null or candidateId, and candidate's log is at
 * least as up-to-date as receiver's log, grant vote" - one vote per term,
 * repeated to the same candidate, persisted before the reply goes out. */
static void vote_granted_once_per_term(void **state)
{
    (void)state;
    struct raft *r = follower(NULL, 0, 1);
    struct raft_message m = vote(1, 2, 0, 0);
    single_step(r, &m, &cap);
    assert_true(only_reply(RAFT_MSG_VOTE_RESP)->vote_resp.granted);
    /* The same update carries the vote to persist and the reply. */
    assert_true(cap.hs_changed);
    assert_int_equal(cap.hs.vote, 1);
    assert_int_equal(cap.hs.term, 2);
    assert_int_equal(cap.updates, 1);
    m = vote(3, 2, 0, 0);
    m.to = 2;
    single_step(r, &m, &cap);
    assert_false(only_reply(RAFT_MSG_VOTE_RESP)->vote_resp.granted);
    m = vote(1, 2, 0, 0);
    single_step(r, &m, &cap);
    assert_true(only_reply(RAFT_MSG_VOTE_RESP)->vote_resp.granted);
    raft_free(r);
}

/* Step 2, §5.4.1: a candidate whose log is less up-to-date (older last
 * term, or same last term and shorter) is refused; a later last term wins
 * even with a shorter log. */
static void vote_requires_up_to_date_log(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 3};
    struct raft *r = follower(log, 3, 3);
    struct raft_message m = vote(1, 4, 5, 2); /* longer, older term */
    single_step(r, &m, &cap);
    assert_false(only_reply(RAFT_MSG_VOTE_RESP)->vote_resp.granted);
    m = vote(1, 5, 2, 3); /* same term, shorter */
    single_step(r, &m, &cap);
    assert_false(only_reply(RAFT_MSG_VOTE_RESP)->vote_resp.granted);
    m = vote(3, 6, 1, 4); /* later term, shorter */
    m.to = 2;
    single_step(r, &m, &cap);
    assert_true(only_reply(RAFT_MSG_VOTE_RESP)->vote_resp.granted);
    assert_int_equal(raft_voted_for(r), 3);
    raft_free(r);
}

/* ------------------------------------------------------------------------ */
/* Figure 2: rules for servers                                               */
/* ------------------------------------------------------------------------ */

/* All servers: "If RPC request or response contains term T > currentTerm:
 * set currentTerm = T, convert to follower" - a leader that sees a higher
 * term in a response steps down and forgets its vote. */
static void higher_term_in_response_converts_to_follower(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    raft_term t = raft_current_term(r);
    struct raft_message m = {
        .type = RAFT_MSG_APPEND_RESP,
        .from = 2,
        .to = 1,
        .term = t + 3,
        .append_resp = {.success = false},
    };
    single_step(r, &m, &cap);
    assert_int_equal(raft_role(r), RAFT_FOLLOWER);
    assert_int_equal(raft_current_term(r), t + 3);
    assert_int_equal(raft_voted_for(r), 0);
    assert_true(cap.hs_changed);
    assert_int_equal(cap.hs.term, t + 3);
    raft_free(r);
}

/* All servers: "If commitIndex > lastApplied: increment lastApplied, apply
 * log[lastApplied]" - committed entries come out once, in order, and a
 * node restarted with an applied index is not handed them again. */
static void committed_entries_are_applied_once_in_order(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 1, 1};
    struct raft *r = follower(log, 4, 1);
    const raft_term none[] = {1};
    struct raft_message m = single_append(1, 2, 1, 4, 1, none, 0, 3);
    single_step(r, &m, &cap);
    assert_int_equal(cap.n_committed, 3);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(cap.committed[k], k + 1);
    }
    m = single_append(1, 2, 1, 4, 1, none, 0, 4);
    single_step(r, &m, &cap);
    assert_int_equal(cap.n_committed, 1);
    assert_int_equal(cap.committed[0], 4);
    assert_int_equal(raft_applied_index(r), 4);
    raft_free(r);
}

/* Followers: "If election timeout elapses without receiving AppendEntries
 * from current leader or granting vote to candidate: convert to candidate"
 * - and AppendEntries from the leader keeps resetting the timer. */
static void follower_times_out_without_leader(void **state)
{
    (void)state;
    struct raft *r = follower(NULL, 0, 1);
    const raft_term none[] = {1};
    for (int k = 0; k < 100; k++) {
        raft_tick(r);
        struct raft_message m = single_append(1, 2, 1, 0, 0, none, 0, 0);
        single_step(r, &m, &cap);
        assert_int_equal(raft_role(r), RAFT_FOLLOWER);
    }
    single_ticks(r, 20, &cap);
    assert_int_equal(raft_role(r), RAFT_CANDIDATE);
    assert_int_equal(raft_current_term(r), 2);
    assert_non_null(single_find(&cap, RAFT_MSG_VOTE, 1));
    assert_non_null(single_find(&cap, RAFT_MSG_VOTE, 3));
    raft_free(r);
}

/* Candidates: "On conversion to candidate: increment currentTerm, vote for
 * self, reset election timer, send RequestVote RPCs to all other servers";
 * "If votes received from majority of servers: become leader". */
static void candidate_votes_for_itself_and_wins_with_majority(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1};
    struct single_opts o = {
        .id = 1, .voters = 5, .terms = log, .n_terms = 2, .term = 1};
    struct raft *r = single_new(&o);
    raft_campaign(r);
    single_drain(r, &cap);
    assert_int_equal(raft_role(r), RAFT_CANDIDATE);
    assert_int_equal(cap.hs.term, 2);
    assert_int_equal(cap.hs.vote, 1);
    assert_int_equal(cap.n_msgs, 4);
    for (size_t k = 0; k < cap.n_msgs; k++) {
        assert_int_equal(cap.msgs[k].vote.last_index, 2);
        assert_int_equal(cap.msgs[k].vote.last_term, 1);
    }
    struct raft_message g = {.type = RAFT_MSG_VOTE_RESP,
                             .from = 2,
                             .to = 1,
                             .term = 2,
                             .vote_resp = {.granted = true}};
    single_step(r, &g, &cap);
    single_step(r, &g, &cap); /* a duplicate vote does not count twice */
    assert_int_equal(raft_role(r), RAFT_CANDIDATE);
    g.from = 4;
    single_step(r, &g, &cap);
    assert_int_equal(raft_role(r), RAFT_LEADER);
    raft_free(r);
}

/* Candidates: "If AppendEntries RPC received from new leader: convert to
 * follower". */
static void candidate_yields_to_leader_of_same_term(void **state)
{
    (void)state;
    struct single_opts o = {.id = 2, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    raft_campaign(r);
    single_drain(r, &cap);
    assert_int_equal(raft_role(r), RAFT_CANDIDATE);
    struct raft_message m = single_append(3, 2, 2, 0, 0, NULL, 0, 0);
    single_step(r, &m, &cap);
    assert_int_equal(raft_role(r), RAFT_FOLLOWER);
    assert_int_equal(raft_leader(r), 3);
    assert_int_equal(raft_current_term(r), 2);
    raft_free(r);
}

/* Candidates: "If election timeout elapses: start new election". */
static void candidate_restarts_election_on_timeout(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    raft_campaign(r);
    single_drain(r, &cap);
    assert_int_equal(raft_current_term(r), 2);
    single_ticks(r, 20, &cap);
    assert_int_equal(raft_role(r), RAFT_CANDIDATE);
    assert_true(raft_current_term(r) >= 3);
    raft_free(r);
}

/* Leaders: "Upon election: send initial empty AppendEntries" (here with the
 * no-op of §8), "if last log index >= nextIndex for a follower: send
 * AppendEntries with log entries starting at nextIndex", "If successful:
 * update nextIndex and matchIndex". */
static void leader_sends_entries_from_next_index(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1};
    struct single_opts o = {
        .id = 1, .voters = 3, .terms = log, .n_terms = 2, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    const struct raft_message *a = single_find(&cap, RAFT_MSG_APPEND, 2);
    assert_non_null(a);
    assert_int_equal(a->append.prev_index, 2);
    assert_int_equal(a->append.prev_term, 1);
    assert_int_equal(raft_last_index(r), 3); /* the no-op */
    assert_int_equal(raft_entry_at(r, 3)->type, RAFT_ENTRY_NOOP);
    struct raft_message ok = {.type = RAFT_MSG_APPEND_RESP,
                              .from = 2,
                              .to = 1,
                              .term = raft_current_term(r),
                              .append_resp = {.success = true, .index = 3}};
    single_step(r, &ok, &cap);
    raft_index match = 0;
    raft_index next = 0;
    assert_true(raft_progress(r, 2, &match, &next));
    assert_int_equal(match, 3);
    assert_int_equal(next, 4);
    assert_int_equal(raft_commit_index(r), 3);
    assert_int_equal(raft_propose(r, "x", 1, NULL, NULL), 0);
    single_drain(r, &cap);
    a = single_find(&cap, RAFT_MSG_APPEND, 2);
    assert_non_null(a);
    assert_int_equal(a->append.prev_index, 3);
    raft_free(r);
}

/* Leaders: "If AppendEntries fails because of log inconsistency: decrement
 * nextIndex and retry" - here by whole terms using the follower's hints. */
static void leader_backs_off_on_rejection(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1, 2, 2, 3, 3};
    struct single_opts o = {
        .id = 1, .voters = 3, .terms = log, .n_terms = 6, .term = 3};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    raft_term t = raft_current_term(r);
    /* The follower holds term 2 at index 6, from index 3 on. */
    struct raft_message rej = {
        .type = RAFT_MSG_APPEND_RESP,
        .from = 2,
        .to = 1,
        .term = t,
        .append_resp = {
            .success = false, .index = 6, .hint_index = 3, .hint_term = 2}};
    single_step(r, &rej, &cap);
    raft_index next = 0;
    raft_progress(r, 2, NULL, &next);
    /* The leader's last entry of term 2 is index 4: retry after it. */
    assert_int_equal(next, 5);
    const struct raft_message *a = single_find(&cap, RAFT_MSG_APPEND, 2);
    assert_non_null(a);
    assert_int_equal(a->append.prev_index, 4);
    assert_int_equal(a->append.prev_term, 2);
    raft_free(r);
}

/* Leaders: "If there exists an N such that N > commitIndex, a majority of
 * matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex = N"
 * - an entry of an earlier term is not committed by counting replicas. */
static void leader_commits_only_current_term_by_counting(void **state)
{
    (void)state;
    const raft_term log[] = {1, 2};
    struct single_opts o = {.id = 1,
                            .voters = 3,
                            .terms = log,
                            .n_terms = 2,
                            .term = 3,
                            .commit = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    raft_term t = raft_current_term(r);
    struct raft_message ok = {.type = RAFT_MSG_APPEND_RESP,
                              .from = 2,
                              .to = 1,
                              .term = t,
                              .append_resp = {.success = true, .index = 2}};
    single_step(r, &ok, &cap);
    /* A majority holds index 2, but it is of term 2, not t. */
    assert_int_equal(raft_commit_index(r), 1);
    ok.append_resp.index = 3; /* the no-op of term t */
    single_step(r, &ok, &cap);
    assert_int_equal(raft_commit_index(r), 3);
    assert_int_equal(cap.n_committed, 2);
    raft_free(r);
}

/* ------------------------------------------------------------------------ */
/* Figure 7                                                                  */
/* ------------------------------------------------------------------------ */

/* The leader of term 8 and the six followers (a)-(f) of Figure 7. */
static const raft_term fig7_leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
static const raft_term fig7_a[] = {1, 1, 1, 4, 4, 5, 5, 6, 6};
static const raft_term fig7_b[] = {1, 1, 1, 4};
static const raft_term fig7_c[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6};
static const raft_term fig7_d[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7};
static const raft_term fig7_e[] = {1, 1, 1, 4, 4, 4, 4};
static const raft_term fig7_f[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};

static void figure7_case(const raft_term *follower_log,
                         size_t n,
                         unsigned max_rejections)
{
    struct raft_options o;
    raft_options_default(&o);
    struct testnet *tn = tn_new(3, &o, 7);
    raft_term follower_term = follower_log[n - 1] > 7 ? follower_log[n - 1] : 7;
    tn_boot_log(tn, 1, fig7_leader, COUNT(fig7_leader), 7, 0);
    tn_boot_log(tn, 3, fig7_leader, COUNT(fig7_leader), 7, 0);
    tn_boot_log(tn, 2, follower_log, n, follower_term, 0);
    tn_isolate(tn, 2);
    tn_campaign(tn, 1);
    struct raft *leader = tn_node(tn, 1)->r;
    assert_int_equal(raft_role(leader), RAFT_LEADER);
    assert_int_equal(raft_current_term(leader), 8);
    tn_heal(tn);
    tn->append_rejects = 0;
    tn_rounds(tn, 5);
    struct tn_node *f = tn_node(tn, 2);
    assert_int_equal(f->disk.len, raft_last_index(leader));
    for (size_t k = 0; k < f->disk.len; k++) {
        assert_int_equal(f->disk.entries[k].term, raft_term_at(leader, k + 1));
    }
    assert_int_equal(raft_commit_index(f->r), raft_last_index(leader));
    assert_true(tn->append_rejects <= max_rejections);
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* Figure 7 (a)-(f): each follower's log is brought in line with the
 * leader's - missing entries added, extra and conflicting ones removed -
 * and the fast backtracking needs at most two rejections where one index
 * per round trip would need up to seven. */
static void figure7_followers_converge(void **state)
{
    (void)state;
    figure7_case(fig7_a, COUNT(fig7_a), 1);
    figure7_case(fig7_b, COUNT(fig7_b), 1);
    figure7_case(fig7_c, COUNT(fig7_c), 0);
    figure7_case(fig7_d, COUNT(fig7_d), 0);
    figure7_case(fig7_e, COUNT(fig7_e), 2);
    figure7_case(fig7_f, COUNT(fig7_f), 2);
}

/* ------------------------------------------------------------------------ */
/* Figure 8                                                                  */
/* ------------------------------------------------------------------------ */

/* Cuts every AppendEntries short before its first entry of the given
 * term: those entries never reach anyone. */
static bool drop_entries_of_term(void *data, struct raft_message *m)
{
    raft_term term = *(const raft_term *)data;
    if (m->type == RAFT_MSG_APPEND) {
        for (size_t k = 0; k < m->append.n_entries; k++) {
            if (m->append.entries[k].term == term) {
                m->append.n_entries = k;
                break;
            }
        }
    }
    return true;
}

/* The state of Figure 8 (b): S1 led term 2 and wrote index 2 only locally;
 * S5 led term 3 (votes of S3, S4, S5) and wrote a different index 2, then
 * crashed. */
static struct testnet *figure8_setup(raft_term *drop_term)
{
    struct raft_options o;
    raft_options_default(&o);
    o.check_quorum = false;
    o.max_entries_per_msg = 1;
    struct testnet *tn = tn_new(5, &o, 8);
    const raft_term s1[] = {1, 2};
    const raft_term s5[] = {1, 3};
    const raft_term base[] = {1};
    tn_boot_log(tn, 1, s1, 2, 2, 1);
    tn_boot_log(tn, 2, base, 1, 2, 1);
    tn_boot_log(tn, 3, base, 1, 3, 5);
    tn_boot_log(tn, 4, base, 1, 3, 5);
    tn_boot_log(tn, 5, s5, 2, 3, 5);
    tn_crash(tn, 5);
    if (drop_term != NULL) {
        tn->filter = drop_entries_of_term;
        tn->filter_data = drop_term;
    }
    tn_isolate(tn, 4);
    /* (c): S1 is elected, for term 4, with the votes of S2 and S3. */
    for (int k = 0; k < 3 && raft_role(tn_node(tn, 1)->r) != RAFT_LEADER; k++) {
        tn_campaign(tn, 1);
    }
    assert_int_equal(raft_role(tn_node(tn, 1)->r), RAFT_LEADER);
    assert_int_equal(raft_current_term(tn_node(tn, 1)->r), 4);
    return tn;
}

/* Figure 8 (c)-(d): S1, leader of term 4, gets its term-2 entry onto a
 * majority (S1, S2, S3) but not its own term-4 entry. Counting replicas
 * must not commit index 2, because S5 can still be elected and replace it
 * - which it then does, with no committed entry lost. */
static void figure8_old_term_entry_not_committed_by_counting(void **state)
{
    (void)state;
    raft_term four = 4;
    struct testnet *tn = figure8_setup(&four);
    tn_rounds(tn, 10);
    struct raft *s1 = tn_node(tn, 1)->r;
    for (raft_id id = 1; id <= 3; id++) {
        assert_int_equal(raft_term_at(tn_node(tn, id)->r, 2), 2);
    }
    raft_index match = 0;
    raft_progress(s1, 3, &match, NULL);
    assert_int_equal(match, 2); /* S1 knows a majority holds index 2 */
    /* Nothing is committed: not index 2, and not index 1 before it (the
     * disks were set up without a commit index, and only an entry of
     * term 4 could carry them). */
    assert_int_equal(raft_commit_index(s1), 0);
    for (raft_id id = 1; id <= 4; id++) {
        assert_int_equal(tn_node(tn, id)->applied, 0);
    }
    /* (d): S1 crashes; S5 restarts and is elected with S2, S3, S4. */
    tn_crash(tn, 1);
    tn->filter = NULL;
    tn_heal(tn);
    tn_restart(tn, 5);
    for (int k = 0; k < 3 && raft_role(tn_node(tn, 5)->r) != RAFT_LEADER; k++) {
        tn_campaign(tn, 5);
    }
    assert_int_equal(raft_role(tn_node(tn, 5)->r), RAFT_LEADER);
    tn_rounds(tn, 10);
    for (raft_id id = 2; id <= 5; id++) {
        assert_int_equal(raft_term_at(tn_node(tn, id)->r, 2), 3);
        assert_true(tn_node(tn, id)->applied >= 2);
    }
    assert_true(tn_safe(tn));
    tn_free(tn);
}

/* Figure 8 (e): if S1 replicates an entry of its own term to a majority
 * before crashing, that entry and the term-2 entry before it are
 * committed, S5 can no longer win, and index 2 survives everywhere. */
static void figure8_current_term_entry_commits_old_ones(void **state)
{
    (void)state;
    struct testnet *tn = figure8_setup(NULL);
    tn_rounds(tn, 10);
    struct raft *s1 = tn_node(tn, 1)->r;
    assert_int_equal(raft_commit_index(s1), 3);
    tn_crash(tn, 1);
    tn_heal(tn);
    tn_restart(tn, 5);
    for (int k = 0; k < 5; k++) {
        tn_campaign(tn, 5);
        assert_int_not_equal(raft_role(tn_node(tn, 5)->r), RAFT_LEADER);
    }
    raft_id l = tn_elect(tn, 300);
    assert_true(l == 2 || l == 3);
    tn_rounds(tn, 10);
    for (raft_id id = 2; id <= 5; id++) {
        assert_int_equal(raft_term_at(tn_node(tn, id)->r, 2), 2);
        assert_int_equal(raft_term_at(tn_node(tn, id)->r, 3), 4);
    }
    assert_true(tn_safe(tn));
    tn_free(tn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_rejects_stale_term),
        cmocka_unit_test(append_rejects_missing_or_mismatched_prev),
        cmocka_unit_test(append_truncates_conflicting_suffix),
        cmocka_unit_test(append_adds_only_new_entries),
        cmocka_unit_test(append_commit_bounded_by_last_new_entry),
        cmocka_unit_test(vote_rejects_stale_term),
        cmocka_unit_test(vote_granted_once_per_term),
        cmocka_unit_test(vote_requires_up_to_date_log),
        cmocka_unit_test(higher_term_in_response_converts_to_follower),
        cmocka_unit_test(committed_entries_are_applied_once_in_order),
        cmocka_unit_test(follower_times_out_without_leader),
        cmocka_unit_test(candidate_votes_for_itself_and_wins_with_majority),
        cmocka_unit_test(candidate_yields_to_leader_of_same_term),
        cmocka_unit_test(candidate_restarts_election_on_timeout),
        cmocka_unit_test(leader_sends_entries_from_next_index),
        cmocka_unit_test(leader_backs_off_on_rejection),
        cmocka_unit_test(leader_commits_only_current_term_by_counting),
        cmocka_unit_test(figure7_followers_converge),
        cmocka_unit_test(figure8_old_term_entry_not_committed_by_counting),
        cmocka_unit_test(figure8_current_term_entry_commits_old_ones),
    };
    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
