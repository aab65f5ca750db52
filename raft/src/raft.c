/*
 * The rules every server applies, whatever its role (Raft paper, Figure 2):
 * the term rules ("Rules for Servers: All Servers" and "Reply false if term
 * < currentTerm"), and the persistent state ("Persistent state on all
 * servers, updated on stable storage before responding to RPCs"): what is
 * restored at a start, and when the hard state must be written again.
 * instance.c calls them where they apply.
 */
#include "raft_internal.h"

void raft_restore_hard_state(struct raft *r, const struct raft_hard_state *hs)
{
    r->term = hs->term;
    r->vote = hs->vote;
}

bool raft_term_rules(struct raft *r, const struct raft_message *m, int *rv)
{
    if (m->term > r->term) {
        if (m->type == RAFT_MSG_VOTE) {
            /* Dissertation §4.2.3: a server that has heard from a leader
             * within the minimum election timeout neither updates its term
             * nor grants a vote. */
            if (election_in_lease(r) && !m->vote.transfer) {
                *rv = raft_drop(r, "vote request while a leader is live");
                return true;
            }
            if (m->vote.pre_vote) {
                *rv = election_on_vote(r, m); /* changes no term */
                return true;
            }
        }
        if (m->type == RAFT_MSG_VOTE_RESP && m->vote_resp.pre_vote &&
            m->vote_resp.granted) {
            /* A granted pre-vote carries the term the pre-candidate is
             * about to take; it is not news of a higher term. */
            *rv = election_on_vote_resp(r, m);
            return true;
        }
        raft_id leader =
            (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
             m->type == RAFT_MSG_TIMEOUT_NOW)
                ? m->from
                : 0;
        become_follower(r, m->term, leader);
    } else if (m->term < r->term) {
        /* Figure 2: "Reply false if term < currentTerm". The answer carries
         * this node's term, which makes a deposed leader or a stale
         * candidate step down. */
        switch (m->type) {
            case RAFT_MSG_APPEND:
            case RAFT_MSG_SNAPSHOT: {
                struct raft_message resp = {
                    .type = RAFT_MSG_APPEND_RESP,
                    .to = m->from,
                    .term = r->term,
                    .append_resp = {.success = false,
                                    .index = m->type == RAFT_MSG_APPEND
                                                 ? m->append.prev_index
                                                 : 0},
                };
                *rv = raft_send(r, &resp);
                return true;
            }
            case RAFT_MSG_HEARTBEAT: {
                struct raft_message resp = {
                    .type = RAFT_MSG_HEARTBEAT_RESP,
                    .to = m->from,
                    .term = r->term,
                };
                *rv = raft_send(r, &resp);
                return true;
            }
            case RAFT_MSG_VOTE: {
                struct raft_message resp = {
                    .type = RAFT_MSG_VOTE_RESP,
                    .to = m->from,
                    .term = r->term,
                    .vote_resp = {.granted = false,
                                  .pre_vote = m->vote.pre_vote},
                };
                *rv = raft_send(r, &resp);
                return true;
            }
            default:
                *rv = raft_drop(r, "response from an older term");
                return true;
        }
    }
    return false;
}

bool raft_hard_state_changed(const struct raft *r)
{
    return r->term != r->reported_hs.term || r->vote != r->reported_hs.vote ||
           r->commit != r->reported_hs.commit;
}
