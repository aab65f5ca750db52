/*
 * The leader's view of each follower (match and next index, Figure 2
 * "Volatile state on leaders") and the flow control around it, after
 * etcd-io/raft's Progress:
 *
 *            reject / heartbeat answer from a lagging follower
 *   PROBE  <---------------------------------------------- REPLICATE
 *   (one AppendEntries out at a time, ----------------->  (pipeline up to
 *    waiting for the answer)       success from a probe    max_inflight)
 *      |                                                       ^
 *      | needs entries already compacted     snapshot installed |
 *      +-----------------------> SNAPSHOT ----------------------+
 *                 (one chunk out at a time, resent after a heartbeat
 *                  answer when lost)
 *
 * In REPLICATE the leader advances next optimistically as it sends and
 * keeps the last index of each message in flight in a ring; answers free
 * the slots. A full window pauses the follower until an answer arrives.
 */
#include "raft_internal.h"

void progress_reset(struct progress *p, raft_index last_index)
{
    assert(last_index <= RAFT_INDEX_MAX);
    p->state = PROGRESS_PROBE;
    p->match = 0;
    p->next = last_index + 1;
    p->probe_sent = false;
    p->recent_active = false;
    p->send_empty = false;
    p->inflight_start = 0;
    p->inflight_count = 0;
    p->read_acked = 0;
    p->vote = 0;
}

bool progress_inflight_full(const struct progress *p, unsigned max)
{
    /* progress_inflight_add() never fills the window past @max. */
    assert(p->inflight_count <= max);
    return p->inflight_count >= max;
}

void progress_inflight_add(struct progress *p, unsigned max, raft_index i)
{
    assert(p->inflight_count < max);
    p->inflight[(p->inflight_start + p->inflight_count) % max] = i;
    p->inflight_count++;
}

void progress_inflight_free_to(struct progress *p, unsigned max, raft_index i)
{
    /* Only REPLICATE keeps a window (the other states empty it). */
    assert(p->state == PROGRESS_REPLICATE && p->inflight_count <= max);
    while (p->inflight_count > 0 && p->inflight[p->inflight_start] <= i) {
        p->inflight_start = (p->inflight_start + 1) % max;
        p->inflight_count--;
    }
}

void progress_inflight_free_first(struct progress *p, unsigned max)
{
    assert(p->state == PROGRESS_REPLICATE && p->inflight_count <= max);
    if (p->inflight_count > 0) {
        p->inflight_start = (p->inflight_start + 1) % max;
        p->inflight_count--;
    }
}

void progress_become_probe(struct progress *p)
{
    /* The leader's own record never changes state: no answer comes from
     * itself. */
    assert(!p->is_self);
    p->state = PROGRESS_PROBE;
    p->probe_sent = false;
    p->inflight_start = 0;
    p->inflight_count = 0;
    /* Resume right after what is known to match. */
    p->next = p->match + 1;
}

void progress_become_replicate(struct progress *p)
{
    assert(!p->is_self);
    p->state = PROGRESS_REPLICATE;
    p->probe_sent = false;
    p->inflight_start = 0;
    p->inflight_count = 0;
    p->next = p->match + 1;
}

bool progress_paused(const struct progress *p, unsigned max_inflight)
{
    assert(p->state >= PROGRESS_PROBE && p->state <= PROGRESS_SNAPSHOT);
    if (p->state == PROGRESS_PROBE || p->state == PROGRESS_SNAPSHOT) {
        return p->probe_sent;
    }
    return progress_inflight_full(p, max_inflight);
}
