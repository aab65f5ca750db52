/*
 * Role changes: the one place that sets r->role. Each transition is a
 * function of its own, and set_role() checks every change against the
 * table of legal transitions below, as canonical/raft's convert.c does for
 * Figure 3.3 of Ongaro's dissertation; this core adds PreVote (§9.6).
 *
 *                      timeout (no PreVote)
 *         +------------------------------------------+
 *         |   timeout             quorum of          v     quorum of
 *         |   (PreVote)           pre-votes                votes
 *     FOLLOWER ---------> PRE_CANDIDATE ---------> CANDIDATE ---------> LEADER
 *      ^  ^                   |   ^                  |                    |
 *      |  |                   |   +---- timeout -----+                    |
 *      |  |                   |        (PreVote)     |                    |
 *      |  +-------------------+----------------------+                    |
 *      |    higher term, a leader of the term, a quorum refuses,          |
 *      |    no term left (RAFT_TERM_MAX)                                  |
 *      +------------------------------------------------------------------+
 *           higher term; CheckQuorum finds no quorum
 *
 * Legal transitions and the function that performs each (a timeout, or
 * raft_campaign(), restarts a campaign in the role it is in):
 *
 *   from \ to      FOLLOWER    PRE_CANDIDATE   CANDIDATE    LEADER
 *   (raft_new)     follower    -               -            -
 *   FOLLOWER       follower    pre_candidate   candidate    -
 *   PRE_CANDIDATE  follower    pre_candidate   candidate    -
 *   CANDIDATE      follower    pre_candidate   candidate    leader
 *   LEADER         follower    -               -            -
 *
 *   follower       become_follower(): a higher term (Figure 2, all
 *                  servers), a leader of the current term (Figure 2,
 *                  candidates), a quorum refusing the (pre-)votes, no
 *                  term left to campaign in, CheckQuorum (dissertation
 *                  §6.2). A follower stays one with a new term or leader.
 *   pre_candidate  become_pre_candidate(): an election timeout or
 *                  raft_campaign() with PreVote on (election_start()).
 *   candidate      become_candidate(): the same with PreVote off, or a
 *                  quorum of pre-votes (§5.2: term + 1, vote for self).
 *   leader         become_leader(): a quorum of votes (§5.2), then the
 *                  no-op of §8 and fresh progress records (Figure 2).
 *
 * A leader never campaigns (election_start() refuses), and nothing but a
 * candidate's won election makes a leader.
 */
#include "raft_internal.h"

/* legal[from][to]; from 0 is the instance raft_new() is building. */
static const bool legal[RAFT_LEADER + 1][RAFT_LEADER + 1] = {
    [0] = {[RAFT_FOLLOWER] = true},
    [RAFT_FOLLOWER] = {[RAFT_FOLLOWER] = true,
                       [RAFT_PRE_CANDIDATE] = true,
                       [RAFT_CANDIDATE] = true},
    [RAFT_PRE_CANDIDATE] = {[RAFT_FOLLOWER] = true,
                            [RAFT_PRE_CANDIDATE] = true,
                            [RAFT_CANDIDATE] = true},
    [RAFT_CANDIDATE] = {[RAFT_FOLLOWER] = true,
                        [RAFT_PRE_CANDIDATE] = true,
                        [RAFT_CANDIDATE] = true,
                        [RAFT_LEADER] = true},
    [RAFT_LEADER] = {[RAFT_FOLLOWER] = true},
};

bool convert_legal(int from, int to)
{
    assert(from >= 0 && from <= RAFT_LEADER);
    return to >= RAFT_FOLLOWER && to <= RAFT_LEADER && legal[from][to];
}

static void set_role(struct raft *r, enum raft_role to)
{
    assert(convert_legal((int)r->role, (int)to));
    r->role = to;
    /* A transfer lasts as long as the leadership it hands over. */
    r->transfer_to = 0;
    r->transfer_sent = false;
}

/* The tally of a new (pre-)election: the node's own vote, nobody else's. */
static void votes_reset(struct raft *r)
{
    /* Only a node that may campaign does (election_start() checked). */
    assert(membership_may_campaign(r));
    for (uint32_t k = 0; k < r->n_progress; k++) {
        r->progress[k].vote = r->progress[k].is_self ? 1 : 0;
    }
}

void become_follower(struct raft *r, raft_term term, raft_id leader)
{
    /* Every term comes from a bounded message or a bounded boot state. */
    assert(term <= RAFT_TERM_MAX);
    /* Terms never go back, and nobody follows itself. */
    assert(term >= r->term && leader != r->id);
    bool was_leader = r->role == RAFT_LEADER;
    if (term > r->term) {
        /* Figure 2, all servers: "If RPC request or response contains term
         * T > currentTerm: set currentTerm = T, convert to follower". The
         * vote belongs to the old term. */
        r->term = term;
        r->vote = 0;
    }
    set_role(r, RAFT_FOLLOWER);
    r->leader = leader;
    r->heartbeat_elapsed = 0;
    /* The election timer keeps running: Figure 2 resets it only for
     * AppendEntries from the current leader or a granted vote (callers do
     * that). Resetting it on every higher term would let candidates that
     * cannot win (stale logs) keep the one node that can from ever timing
     * out. A leader stepping down starts a fresh timeout. */
    unsigned elapsed = was_leader ? 0 : r->election_elapsed;
    election_reset_timeout(r);
    r->election_elapsed = elapsed;
    if (was_leader) {
        read_fail_all(r);
    }
}

void become_pre_candidate(struct raft *r)
{
    /* Its pre-votes ask for term + 1, which must exist. */
    assert(r->term < RAFT_TERM_MAX);
    set_role(r, RAFT_PRE_CANDIDATE);
    r->stats.pre_votes_started++;
    r->leader = 0;
    election_reset_timeout(r);
    votes_reset(r);
}

void become_candidate(struct raft *r)
{
    assert(r->term < RAFT_TERM_MAX);
    /* Figure 2, candidates: "increment currentTerm, vote for self, reset
     * election timer, send RequestVote RPCs to all servers" (the caller
     * sends them). */
    set_role(r, RAFT_CANDIDATE);
    r->term++;
    r->vote = r->id;
    r->stats.elections_started++;
    r->leader = 0;
    election_reset_timeout(r);
    votes_reset(r);
}

int become_leader(struct raft *r)
{
    /* A candidate knows no leader of its term. (That it voted for itself
     * is raft_invariants()' to check: raft_planted breaks it on purpose,
     * for the monitor to catch.) */
    assert(r->leader == 0);
    set_role(r, RAFT_LEADER);
    r->leader = r->id;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    r->stats.leader_terms++;
    /* §8: "each leader commit a blank no-op entry into the log at the start
     * of its term". */
    int rv = log_append_copy(&r->log, r->term, RAFT_ENTRY_NOOP, NULL, 0);
    bool noop = rv == 0;
    if (rv == COMMON_ERANGE) {
        /* The log ends at RAFT_INDEX_MAX: no room for the no-op, nor for
         * anything this leader could commit; it still leads. */
        raft_logf(r, COMMON_LOG_WARN,
                  "the log ends at RAFT_INDEX_MAX: no no-op for term %llu",
                  (unsigned long long)r->term);
        rv = 0;
    }
    raft_index last = log_last_index(&r->log);
    for (uint32_t k = 0; k < r->n_progress; k++) {
        struct progress *p = &r->progress[k];
        /* Figure 2: "nextIndex initialized to leader last log index + 1,
         * matchIndex initialized to 0". The no-op is the first thing each
         * follower is sent, with the entry before it as the probe point. */
        progress_reset(p, noop ? last - 1 : last);
        if (p->is_self) {
            /* The leader's own copy counts once it is durable: what is
             * already persisted now, the no-op when its update is done. */
            p->match = r->log.stable;
            p->next = last + 1;
            p->recent_active = true;
        }
    }
    raft_logf(r, COMMON_LOG_INFO, "leader of term %llu at index %llu",
              (unsigned long long)r->term, (unsigned long long)last);
    return rv;
}
