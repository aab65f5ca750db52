/*
 * Lab 3A (heartbeats) and 3B: log replication and commitment (Raft paper
 * §5.3, §5.4.2, Figure 2; labs/3A/README.md, labs/3B/README.md).
 *
 * Yours to write. 3A: the leader's heartbeats and a follower's answer to
 * them (replication_heartbeat_all, replication_accept_leader,
 * replication_on_heartbeat). 3B: AppendEntries both ways, the leader's
 * bookkeeping of each follower (match and next, in struct progress;
 * progress.c has the flow-control helpers) and commitment
 * (replication_flush, replication_on_append, replication_on_append_resp,
 * replication_on_heartbeat_resp, replication_maybe_commit).
 *
 * The log is r->log (log.c, raft_internal.h): log_last_index, log_term,
 * log_get, log_append_copy, log_truncate. Messages go out with
 * raft_send(); whatever must be persisted is reported by the update
 * (raft.c) before the caller sends the answers.
 *
 * Each function below says which rule belongs in it; until it is written
 * it does nothing, and messages it should answer are dropped with a
 * reason that names the hole.
 */
#include <string.h>

#include "raft_internal.h"

/* ------------------------------------------------------------------------ */
/* Leader                                                                    */
/* ------------------------------------------------------------------------ */

bool replication_maybe_commit(struct raft *r)
{
    /* labs/3B, Figure 2 "Leaders: If there exists an N such that N >
     * commitIndex, a majority of matchIndex[i] >= N, and log[N].term ==
     * currentTerm: set commitIndex = N" (§5.3, §5.4.2). Count only voters
     * (progress voter; the leader's own match is its durable log); the
     * term test is what Figure 8 is about: never commit an entry of an
     * earlier term by counting its replicas. When the first entry of the
     * leader's term commits, call read_on_commit_in_term(); after any
     * advance, membership_committed(). Returns whether commit moved. */
    (void)r;
    return false;
}

int replication_flush(struct raft *r)
{
    /* labs/3B, Figure 2 "Leaders: If last log index >= nextIndex for a
     * follower: send AppendEntries RPC with log entries starting at
     * nextIndex". raft_update_get() calls this: for each follower that
     * is due (not paused: progress_paused()), build one AppendEntries
     * with prev_index = next - 1, prev_term = its term, the leader's
     * commit, and up to opts.max_entries_per_msg entries
     * (opts.max_bytes_per_msg bytes); in PROGRESS_REPLICATE advance next
     * and record the message (progress_inflight_add), in PROGRESS_PROBE
     * send one and wait (probe_sent). 3D: a follower whose next entry was
     * compacted away (next - 1 < r->log.snapshot_index) gets a snapshot
     * instead (snapshot_send()). With r->read_round_pending and
     * read_round_idle(), start a read round (read_round_start()) and
     * send heartbeats first. */
    (void)r;
    return 0;
}

int replication_heartbeat_all(struct raft *r)
{
    /* labs/3A: a RAFT_MSG_HEARTBEAT to every other server in
     * r->progress[] (Figure 2 "Leaders: Upon election: send initial empty
     * AppendEntries RPCs (heartbeat) to each server; repeat during idle
     * periods to prevent election timeouts (§5.2)"). A heartbeat does no
     * log check, so (3B) its commit must be at most what the follower is
     * known to hold: min(p->match, r->commit). It also carries the
     * ReadIndex round (context = r->read_round) and p->match. */
    (void)r;
    return 0;
}

int replication_on_append_resp(struct raft *r, const struct raft_message *m)
{
    /* labs/3B, Figure 2 "Leaders: If successful: update nextIndex and
     * matchIndex for follower (§5.3). If AppendEntries fails because of
     * log inconsistency: decrement nextIndex and retry (§5.3)". On
     * success raise match (never lower it), move next past it,
     * progress_become_replicate() or free the in-flight slots
     * (progress_inflight_free_to), then replication_maybe_commit() and
     * transfer_on_progress(). On failure ignore stale rejections, then
     * use the hints (end of §5.3: hint_term, hint_index) to jump back a
     * whole term, never to or below match, and progress_become_probe().
     * Mark the follower recent_active (CheckQuorum). */
    (void)m;
    return raft_drop(r,
                     "labs/3B: AppendEntries response (Figure 2, "
                     "Leaders) is not written");
}

int replication_on_heartbeat_resp(struct raft *r, const struct raft_message *m)
{
    /* labs/3B: a heartbeat answer says the follower is alive
     * (recent_active, probe_sent = false), may free a full in-flight
     * window (progress_inflight_free_first), and tells a lagging follower
     * to get an AppendEntries (send_empty). Its context confirms ReadIndex
     * rounds: raise p->read_acked and call read_release_confirmed(). A
     * log_end at or below match means the follower lost entries it had
     * acknowledged (a bad disk): lower match to log_end - 1 and probe. */
    (void)m;
    return raft_drop(r, "labs/3B: heartbeat response is not written");
}

/* ------------------------------------------------------------------------ */
/* Follower                                                                  */
/* ------------------------------------------------------------------------ */

int replication_accept_leader(struct raft *r, raft_id leader)
{
    /* labs/3A: the sender of an AppendEntries, heartbeat or snapshot of
     * this node's term is its leader. Figure 2 "Candidates: If
     * AppendEntries RPC received from new leader: convert to follower"
     * (become_follower(r, r->term, leader)); a leader of the same term is
     * impossible (Election Safety): drop. Either way the election timer
     * restarts (r->election_elapsed = 0): the leader is alive. Return 0
     * when the message is to be processed. */
    (void)leader;
    return raft_drop(r,
                     "labs/3A: accepting a leader (Figure 2, "
                     "Candidates) is not written");
}

int replication_on_append(struct raft *r, const struct raft_message *m)
{
    /* labs/3B, Figure 2 "AppendEntries RPC, Receiver implementation"
     * (after replication_accept_leader()):
     *   1. (terms: raft.c's raft_term_rules() answers older terms)
     *   2. "Reply false if log doesn't contain an entry at prevLogIndex
     *      whose term matches prevLogTerm" (with the hints of §5.3's end:
     *      hint_term, the term held at prev_index, and hint_index, the
     *      first index of that term, log_term_first_index(); a shorter log
     *      answers hint_term 0, hint_index last + 1)
     *   3. "If an existing entry conflicts with a new one (same index but
     *      different terms), delete the existing entry and all that
     *      follow it" (log_truncate(), then membership_truncated())
     *   4. "Append any new entries not already in the log"
     *      (log_append_copy(), then membership_appended())
     *   5. "If leaderCommit > commitIndex, set commitIndex =
     *      min(leaderCommit, index of last new entry)"
     * Answer with a RAFT_MSG_APPEND_RESP: success and the last index known
     * to match, or failure, the rejected prev_index and the hints. Entries
     * at or below the commit index already match: never truncate them. */
    (void)m;
    return raft_drop(r,
                     "labs/3B: AppendEntries receiver (Figure 2) is not "
                     "written");
}

int replication_on_heartbeat(struct raft *r, const struct raft_message *m)
{
    /* labs/3A: replication_accept_leader(), then answer with a
     * RAFT_MSG_HEARTBEAT_RESP echoing the context. 3B: a heartbeat carries
     * a commit index the follower holds (min(commit, its last index)
     * raises r->commit), and the match the leader believes this node
     * acknowledged: when this log ends before it, answer log_end = last
     * index + 1 (entries were lost). */
    (void)m;
    return raft_drop(r, "labs/3A: heartbeat receiver is not written");
}
