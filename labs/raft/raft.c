/*
 * The rules every server applies, whatever its role (Raft paper, Figure 2).
 * instance.c (given: construction, message dispatch, proposals, the update
 * cycle) calls them where they apply. Three holes are yours
 * (labs/README.md):
 *
 *   3A  raft_term_rules(): the term rules every server applies ("Rules for
 *       Servers: All Servers", and "Reply false if term < currentTerm");
 *   3C  raft_restore_hard_state(): the persistent state a restarted server
 *       comes back with;
 *   3C  raft_hard_state_changed(): when the hard state must be persisted
 *       again, before anything that depends on it leaves.
 */
#include "raft_internal.h"

void raft_restore_hard_state(struct raft *r, const struct raft_hard_state *hs)
{
    /* labs/3C, Figure 2 "Persistent state on all servers (Updated on
     * stable storage before responding to RPCs)": currentTerm and
     * votedFor come back from @hs, the boot state's hard state (raft_new
     * in instance.c calls this; the log's entries and the commit index
     * are restored for you). A node that forgets its vote may vote twice
     * in a term after a crash (§5.2). Until this is written every node
     * restarts in term 0, having voted for nobody. */
    (void)r;
    (void)hs;
}

bool raft_term_rules(struct raft *r, const struct raft_message *m, int *rv)
{
    /* labs/3A, Figure 2 "Rules for Servers, All Servers": "If RPC request
     * or response contains term T > currentTerm: set currentTerm = T,
     * convert to follower (§5.1)" (become_follower(r, m->term, leader),
     * the leader being the sender of an APPEND, HEARTBEAT or TIMEOUT_NOW,
     * else 0), then return false: the message goes on to its handler. And
     * "Reply false if term < currentTerm" (RequestVote and AppendEntries
     * receivers, step 1): answer an older APPEND or SNAPSHOT with an
     * unsuccessful APPEND_RESP, a HEARTBEAT with a HEARTBEAT_RESP and a
     * VOTE with a refused VOTE_RESP, each carrying this node's term (send
     * with raft_send), which makes a stale leader or candidate step down;
     * drop older responses (raft_drop). A message dealt with here returns
     * true with *rv set to what raft_send or raft_drop returned. Optional
     * extras: with PreVote, a pre-vote request or a granted pre-vote
     * answer of a higher term changes no term (*rv = election_on_vote or
     * election_on_vote_resp directly); with CheckQuorum, a vote request
     * that arrives while election_in_lease() is dropped (dissertation
     * §4.2.3) unless m->vote.transfer. */
    if (m->term != r->term) {
        *rv = raft_drop(r,
                        "labs/3A: term rules (Figure 2, All Servers) "
                        "are not written");
        return true;
    }
    return false;
}

bool raft_hard_state_changed(const struct raft *r)
{
    /* labs/3C: the hard state (term, vote, commit) must be persisted
     * whenever it differs from the last one reported (r->reported_hs,
     * which raft_update_done() records). The caller persists an update
     * before sending its votes and acknowledgements (raft.h): a vote or a
     * term it does not hear of here is lost in a crash (Figure 2,
     * "Updated on stable storage before responding to RPCs"). Until this
     * is written nothing of the hard state is ever persisted. */
    (void)r;
    return false;
}
