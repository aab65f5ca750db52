/*
 * Lab 3A: leader election (Raft paper §5.2, §5.4.1; labs/3A/README.md).
 *
 * Yours to write: the election timer, RequestVote both ways and the
 * tally of votes. The role changes are done for you (convert.c:
 * become_follower, become_pre_candidate, become_candidate, become_leader,
 * which appends the no-op of §8), and so are the timer's randomness
 * (election_reset_timeout) and the lease test CheckQuorum uses
 * (election_in_lease). Each function below says which rule belongs in
 * it; until it is written it does nothing, and messages it should answer
 * are dropped with a reason that names the hole.
 *
 * PreVote (dissertation §9.6) and CheckQuorum (§6.2) are optional
 * extras: the graded 3A scenarios turn both off; labs/3A/extras/ turns
 * them on.
 */
#include "raft_internal.h"

void election_reset_timeout(struct raft *r)
{
    unsigned e = r->opts.election_ticks;
    r->election_elapsed = 0;
    r->randomized_timeout = e + (unsigned)common_prng_below(&r->prng, e);
    assert(r->randomized_timeout >= e && r->randomized_timeout < 2 * e);
}

bool election_in_lease(const struct raft *r)
{
    /* Only a leader names itself as the leader (convert.c). */
    assert(r->leader != r->id || r->role == RAFT_LEADER);
    return r->opts.check_quorum && r->leader != 0 &&
           r->election_elapsed < r->opts.election_ticks;
}

int election_start(struct raft *r, bool pre_vote, bool transfer)
{
    /* labs/3A, §5.2 "To begin an election, a follower increments its
     * current term and transitions to candidate state. It then votes for
     * itself and issues RequestVote RPCs in parallel to each of the other
     * servers": become_candidate() (or become_pre_candidate() with
     * @pre_vote, which changes no term), then a RAFT_MSG_VOTE to every
     * other voter (r->progress[], p->voter, !p->is_self) carrying the
     * last log index and term (§5.4.1), sent with raft_send(). A single
     * voter wins at once. Refuse to campaign when
     * !membership_may_campaign(r), as a leader, or at RAFT_TERM_MAX
     * (COMMON_ERANGE, raft.h). */
    (void)pre_vote;
    (void)transfer;
    return raft_drop(r, "labs/3A: election_start (§5.2) is not written");
}

int election_tick(struct raft *r)
{
    /* labs/3A, Figure 2 "Followers: If election timeout elapses without
     * receiving AppendEntries RPC from current leader or granting vote to
     * candidate: convert to candidate" and "Candidates: If election
     * timeout elapses: start new election": count r->election_elapsed up
     * to r->randomized_timeout, then election_start().
     *
     * A leader instead counts r->heartbeat_elapsed up to
     * opts.heartbeat_ticks and then sends heartbeats to every follower
     * (replication_heartbeat_all(); Figure 2 "Leaders: ... repeat during
     * idle periods to prevent election timeouts (§5.2)"), and calls
     * transfer_tick(r). Optional (CheckQuorum, §6.2): a leader that has
     * not heard from a quorum (progress recent_active) within an election
     * timeout steps down. With r->read_round_pending, call
     * read_round_start() before the heartbeats (ReadIndex, read.c). */
    (void)r;
    return 0;
}

int election_on_vote(struct raft *r, const struct raft_message *m)
{
    /* labs/3A, Figure 2 "RequestVote RPC, Receiver implementation":
     *   1. (terms: raft.c's raft_term_rules() answers older terms)
     *   2. "If votedFor is null or candidateId, and candidate's log is at
     *      least as up-to-date as receiver's log, grant vote" (§5.2,
     *      §5.4.1: compare last terms, then last indexes).
     * Record the vote in r->vote (the update reports it and the caller
     * persists it before the answer leaves), reset the election timer
     * when granting (Figure 2, Followers), and answer with a
     * RAFT_MSG_VOTE_RESP. Never vote for two candidates in one term. */
    (void)m;
    return raft_drop(r,
                     "labs/3A: RequestVote receiver (Figure 2) is not "
                     "written");
}

int election_on_vote_resp(struct raft *r, const struct raft_message *m)
{
    /* labs/3A, Figure 2 "Candidates: If votes received from majority of
     * servers: become leader" (§5.2): count each voter's first answer
     * (progress vote: +1 granted, -1 refused) for the current election
     * only, and become_leader() once a quorum (raft_quorum()) granted;
     * step back to follower once a quorum refused. */
    (void)m;
    return raft_drop(r, "labs/3A: vote counting (§5.2) is not written");
}
