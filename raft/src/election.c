/*
 * Leader election (Raft paper §5.2, §5.4.1), PreVote and CheckQuorum
 * (Ongaro's dissertation §9.6 and §6.2): ticks, (pre-)vote requests both
 * ways and their tally. The role changes they lead to, with the diagram
 * and the table of legal transitions, are in convert.c. A candidate whose
 * election times out starts a new one (§5.2: "each candidate restarts its
 * randomized election timeout").
 *
 * PreVote: before bumping its term a node asks whether it could win; peers
 * answer yes only when its log is up to date and they have not heard from a
 * leader within an election timeout. A node cut off from the cluster
 * therefore never increases its term and cannot depose a healthy leader
 * when it returns.
 *
 * CheckQuorum: a leader that has not heard from a quorum within an election
 * timeout steps down, so clients are not stuck with a leader in a minority
 * partition. Followers in turn ignore RequestVote while they are in such a
 * leader's lease (dissertation §4.2.3, "disruptive servers").
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

/* Counts granted and rejected votes among voters; returns +1 when granted
 * reach a quorum, -1 when rejections do, 0 while undecided. */
static int tally(const struct raft *r)
{
    unsigned granted = 0;
    unsigned rejected = 0;
    unsigned voters = 0;
    for (uint32_t k = 0; k < r->n_progress; k++) {
        const struct progress *p = &r->progress[k];
        if (!p->voter) {
            continue;
        }
        voters++;
        granted += p->vote > 0;
        rejected += p->vote < 0;
    }
    unsigned q = raft_quorum(r);
    /* Each voter answers once; a quorum is a majority of the voters. */
    assert(granted + rejected <= voters && q == voters / 2 + 1);
    if (granted >= q) {
        return 1;
    }
    if (rejected >= q) {
        return -1;
    }
    return 0;
}

static int decide(struct raft *r)
{
    assert(r->role == RAFT_PRE_CANDIDATE || r->role == RAFT_CANDIDATE);
    int t = tally(r);
    if (t > 0) {
        if (r->role == RAFT_PRE_CANDIDATE) {
            return election_start(r, false, false);
        }
        return become_leader(r);
    }
    if (t < 0) {
        /* A majority said no: wait for a leader or the next timeout. */
        become_follower(r, r->term, 0);
    }
    return 0;
}

int election_start(struct raft *r, bool pre_vote, bool transfer)
{
    if (!membership_may_campaign(r)) {
        return raft_drop(r, "not a voter: cannot campaign");
    }
    if (r->role == RAFT_LEADER) {
        return raft_drop(r, "already leader");
    }
    if (r->term >= RAFT_TERM_MAX) {
        /* No term is left to campaign in (raft.h): a PreVote or an
         * election would need RAFT_TERM_MAX + 1. The node waits for a
         * leader of this last term; a candidate of it gives up. */
        assert(r->term == RAFT_TERM_MAX);
        if (r->role != RAFT_FOLLOWER) {
            become_follower(r, r->term, 0);
        }
        election_reset_timeout(r);
        raft_logf(r, COMMON_LOG_WARN,
                  "term %llu is RAFT_TERM_MAX: no election can follow it",
                  (unsigned long long)r->term);
        return COMMON_ERANGE;
    }
    raft_term vote_term;
    if (pre_vote) {
        become_pre_candidate(r);
        vote_term = r->term + 1;
    } else {
        become_candidate(r);
        vote_term = r->term;
    }
    raft_logf(r, COMMON_LOG_INFO, "%s for term %llu",
              pre_vote ? "pre-vote" : "election",
              (unsigned long long)vote_term);
    int rv = decide(r); /* a single voter wins at once */
    if (rv != 0 ||
        r->role != (pre_vote ? RAFT_PRE_CANDIDATE : RAFT_CANDIDATE)) {
        return rv;
    }
    for (uint32_t k = 0; k < r->n_progress; k++) {
        const struct progress *p = &r->progress[k];
        if (p->is_self || !p->voter) {
            continue;
        }
        struct raft_message m = {
            .type = RAFT_MSG_VOTE,
            .to = p->id,
            .term = vote_term,
            .vote = {.last_index = log_last_index(&r->log),
                     .last_term = log_last_term(&r->log),
                     .pre_vote = pre_vote,
                     .transfer = transfer},
        };
        raft_send(r, &m);
    }
    return 0;
}

int election_tick(struct raft *r)
{
    /* Only a leader keeps the heartbeat clock, which the tick before this
     * one wrapped around. */
    assert(r->role == RAFT_LEADER
               ? r->heartbeat_elapsed < r->opts.heartbeat_ticks
               : r->heartbeat_elapsed == 0);
    if (r->role == RAFT_LEADER) {
        r->heartbeat_elapsed++;
        r->election_elapsed++;
        transfer_tick(r);
        if (r->election_elapsed >= r->opts.election_ticks) {
            r->election_elapsed = 0;
            if (r->opts.check_quorum) {
                unsigned active = 0;
                for (uint32_t k = 0; k < r->n_progress; k++) {
                    struct progress *p = &r->progress[k];
                    if (p->voter && (p->is_self || p->recent_active)) {
                        active++;
                    }
                    if (!p->is_self) {
                        p->recent_active = false;
                    }
                }
                if (active < raft_quorum(r)) {
                    raft_logf(r, COMMON_LOG_INFO,
                              "term %llu: no quorum heard from, stepping down",
                              (unsigned long long)r->term);
                    r->stats.step_downs_check_quorum++;
                    become_follower(r, r->term, 0);
                    return 0;
                }
            }
        }
        if (r->heartbeat_elapsed >= r->opts.heartbeat_ticks) {
            r->heartbeat_elapsed = 0;
            if (r->read_round_pending) {
                /* Reads waiting for a round ride on this heartbeat. */
                read_round_start(r);
            }
            return replication_heartbeat_all(r);
        }
        return 0;
    }
    r->election_elapsed++;
    if (r->election_elapsed >= r->randomized_timeout) {
        if (!membership_may_campaign(r)) {
            election_reset_timeout(r);
            return 0;
        }
        int rv = election_start(r, r->opts.pre_vote, false);
        /* At RAFT_TERM_MAX the timeout only restarts the timer. */
        return rv == COMMON_ERANGE ? 0 : rv;
    }
    return 0;
}

/* §5.4.1: "If the logs have last entries with different terms, then the log
 * with the later term is more up-to-date. If the logs end with the same
 * term, then whichever log is longer is more up-to-date." */
static bool log_up_to_date(const struct raft *r, raft_term term, raft_index i)
{
    /* From a message raft_step() checked against the bounds. */
    assert(term <= RAFT_TERM_MAX && i <= RAFT_INDEX_MAX);
    raft_term last_term = log_last_term(&r->log);
    return term > last_term ||
           (term == last_term && i >= log_last_index(&r->log));
}

int election_on_vote(struct raft *r, const struct raft_message *m)
{
    /* raft_step() answered requests of older terms itself. */
    assert(m->type == RAFT_MSG_VOTE && m->term >= r->term);
    const struct raft_vote *v = &m->vote;
    bool can_vote;
    if (v->pre_vote) {
        /* A pre-vote changes nothing here; it asks "would you vote?". */
        can_vote = m->term > r->term ||
                   ((r->vote == 0 || r->vote == m->from) && r->leader == 0);
    } else {
        /* Figure 2, RequestVote receiver step 2: "If votedFor is null or
         * candidateId, and candidate's log is at least as up-to-date". A
         * node that follows a leader of this term does not vote for
         * another candidate of the same term. */
        can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0);
#ifdef RAFT_PLANTED_BUG_DOUBLE_VOTE
        /* Test-only build (harness-planted): a node votes for every
         * up-to-date candidate, even twice in one term. The sim seed sweep
         * must catch the two leaders this allows. */
        can_vote = true;
#endif
    }
    bool grant = can_vote && log_up_to_date(r, v->last_term, v->last_index);
    struct raft_message resp = {
        .type = RAFT_MSG_VOTE_RESP,
        .to = m->from,
        .term = grant ? m->term : r->term,
        .vote_resp = {.granted = grant, .pre_vote = v->pre_vote},
    };
    if (grant && !v->pre_vote) {
        /* Persisted (hard state) before the response leaves: the update
         * carries both and the caller persists first. */
        r->vote = m->from;
        /* Figure 2, followers: granting a vote resets the election timer. */
        r->election_elapsed = 0;
    }
    return raft_send(r, &resp);
}

int election_on_vote_resp(struct raft *r, const struct raft_message *m)
{
    /* raft_step() dropped responses of older terms. */
    assert(m->type == RAFT_MSG_VOTE_RESP && m->term >= r->term);
    const struct raft_vote_resp *v = &m->vote_resp;
    bool expected;
    if (v->pre_vote) {
        expected = r->role == RAFT_PRE_CANDIDATE &&
                   (v->granted ? m->term == r->term + 1 : m->term == r->term);
    } else {
        expected = r->role == RAFT_CANDIDATE && m->term == r->term;
    }
    if (!expected) {
        return raft_drop(r, "vote response not for a current election");
    }
    struct progress *p = raft_progress_of(r, m->from);
    if (p == NULL || !p->voter) {
        return raft_drop(r, "vote response from a non-voter");
    }
    if (p->vote == 0) { /* the first answer counts; duplicates do not */
        p->vote = v->granted ? 1 : -1;
    }
    return decide(r);
}
