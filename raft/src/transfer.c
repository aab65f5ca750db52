/*
 * Leadership transfer (Ongaro's dissertation §3.10).
 *
 * The leader is asked to hand leadership to a voter (before it is removed,
 * before its machine is taken down, to move the leader closer to clients).
 * It stops accepting proposals and configuration changes, so that the
 * target can catch up; replication brings the target's log up to the
 * leader's last index; then the leader sends it TimeoutNow. The target
 * campaigns at once, without PreVote, and its vote requests say they come
 * from a transfer, so that voters set their lease aside (§4.2.3 would
 * otherwise have them ignore a candidate while a leader is live). The
 * target's log is as up to date as any, so it wins unless something
 * fails; its higher term then deposes the old leader. If no new leader
 * has taken over within an election timeout, the leader gives up and
 * accepts proposals again.
 */
#include "raft_internal.h"

/* Sends TimeoutNow once the target holds the leader's whole log. */
static int maybe_send(struct raft *r)
{
    assert(r->role == RAFT_LEADER && r->transfer_to != 0);
    const struct progress *p = raft_progress_of(r, r->transfer_to);
    if (p == NULL || r->transfer_sent || p->match != log_last_index(&r->log)) {
        return 0;
    }
    struct raft_message m = {
        .type = RAFT_MSG_TIMEOUT_NOW,
        .to = r->transfer_to,
        .term = r->term,
    };
    int rv = raft_send(r, &m);
    if (rv == 0) {
        r->transfer_sent = true;
        raft_logf(r, COMMON_LOG_INFO,
                  "leadership transfer: node %llu holds the log to %llu, "
                  "TimeoutNow sent",
                  (unsigned long long)r->transfer_to,
                  (unsigned long long)p->match);
    }
    return rv;
}

static int transfer(struct raft *r, raft_id id)
{
    if (r->role != RAFT_LEADER) {
        return COMMON_ENOTLEADER;
    }
    int k = raft_configuration_find(&r->conf, id);
    if (id == r->id || k < 0 || r->conf.servers[k].role != RAFT_VOTER) {
        return COMMON_EINVAL;
    }
    if (r->transfer_to != 0) {
        return COMMON_EBUSY;
    }
    r->transfer_to = id;
    r->transfer_elapsed = 0;
    r->transfer_sent = false;
    r->stats.transfers_started++;
    raft_logf(r, COMMON_LOG_INFO,
              "leadership transfer to node %llu in term %llu",
              (unsigned long long)id, (unsigned long long)r->term);
    return maybe_send(r);
}

int raft_transfer_leadership(struct raft *r, raft_id id)
{
    assert(!r->update_out);
    int rv = transfer(r, id);
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

raft_id raft_transferee(const struct raft *r)
{
    assert(r->transfer_to == 0 || r->role == RAFT_LEADER);
    return r->transfer_to;
}

int transfer_on_progress(struct raft *r, raft_id from)
{
    if (r->transfer_to != from) {
        return 0;
    }
    return maybe_send(r);
}

void transfer_tick(struct raft *r)
{
    assert(r->role == RAFT_LEADER);
    if (r->transfer_to == 0) {
        return;
    }
    r->transfer_elapsed++;
    if (r->transfer_elapsed < r->opts.election_ticks) {
        return;
    }
    raft_logf(r, COMMON_LOG_WARN,
              "leadership transfer to node %llu gave up after an election "
              "timeout; accepting proposals again",
              (unsigned long long)r->transfer_to);
    r->stats.transfers_aborted++;
    r->transfer_to = 0;
    r->transfer_sent = false;
}

int transfer_on_timeout_now(struct raft *r, const struct raft_message *m)
{
    /* raft_step() took the sender as the leader of this term. */
    assert(m->type == RAFT_MSG_TIMEOUT_NOW && m->term == r->term);
    if (r->role != RAFT_FOLLOWER || r->leader != m->from) {
        return raft_drop(r, "TimeoutNow not from this node's leader");
    }
    if (!membership_may_campaign(r)) {
        return raft_drop(r, "TimeoutNow to a node that is not a voter");
    }
    raft_logf(r, COMMON_LOG_INFO,
              "TimeoutNow from node %llu: campaigning for term %llu",
              (unsigned long long)m->from, (unsigned long long)r->term + 1);
    return election_start(r, false, true);
}
