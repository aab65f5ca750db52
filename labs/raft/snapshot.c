/*
 * Lab 3D: InstallSnapshot (Raft paper §7, Figure 13), in chunks
 * (labs/3D/README.md).
 *
 * Done for you: the leader's latest snapshot, which the caller registers
 * with raft_snapshot_set() (r->snap, its configuration encoded in
 * r->snap_conf), the receive buffer (r->rx, snapshot_rx_reset) and the
 * structural checks of snapshot messages (snapshot_message_invalid).
 *
 * Yours to write: sending a follower the snapshot one chunk at a time
 * (snapshot_send, snapshot_on_resp), and receiving and installing it
 * (snapshot_on_chunk). An installed snapshot is handed to the caller in
 * the next update (r->install, r->install_buf, r->install_pending: see
 * instance.c's update_get), which persists it and loads it into the state
 * machine before applying anything after it.
 */
#include <stdlib.h>
#include <string.h>

#include "raft_internal.h"

/* The largest snapshot a follower accepts (64 GiB): bounds the memory a
 * forged transfer could make it allocate. */
#define SNAPSHOT_MAX_BYTES (1ull << 36)

static int snapshot_set(struct raft *r, const struct raft_snapshot *s)
{
    if (s->index == 0 || s->index > r->applied ||
        !raft_configuration_valid(&s->conf) || (s->len > 0 && !s->data)) {
        return COMMON_EINVAL;
    }
    raft_term t = log_term(&r->log, s->index);
    if (t != 0 && t != s->term) {
        return COMMON_EINVAL;
    }
    size_t n =
        raft_configuration_encode(&s->conf, r->snap_conf, sizeof r->snap_conf);
    if (n > sizeof r->snap_conf) {
        return COMMON_EINVAL;
    }
    r->snap = *s;
    r->snap_conf_len = n;
    assert(r->snap.index <= r->applied && n >= 8);
    return 0;
}

int raft_snapshot_set(struct raft *r, const struct raft_snapshot *s)
{
    assert(!r->update_out && s != NULL);
    int rv = snapshot_set(r, s);
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

void snapshot_rx_reset(struct raft *r)
{
    assert(r->rx.len <= r->rx.cap);
    free(r->rx.buf);
    memset(&r->rx, 0, sizeof r->rx);
}

/* ------------------------------------------------------------------------ */
/* Leader                                                                    */
/* ------------------------------------------------------------------------ */

int snapshot_send(struct raft *r, struct progress *p)
{
    /* labs/3D, §7: "the leader must occasionally send snapshots to
     * followers that lag behind", when the entries a follower needs were
     * compacted away. Put the follower's progress in PROGRESS_SNAPSHOT
     * (snap_index = r->snap.index, snap_offset = 0, no messages in
     * flight), then send one RAFT_MSG_SNAPSHOT chunk of at most
     * opts.max_bytes_per_msg bytes from p->snap_offset (Figure 13:
     * offset, data, done; and the snapshot's index, term and encoded
     * configuration), and wait for its answer (probe_sent). Without a
     * snapshot (r->snap.index == 0) drop with a reason. */
    (void)p;
    return raft_drop(r, "labs/3D: sending a snapshot (§7) is not written");
}

int snapshot_on_resp(struct raft *r, const struct raft_message *m)
{
    /* labs/3D: the follower expects the transfer of snapshot (index,
     * term) to go on at next_offset: if it is this follower's current
     * transfer, move p->snap_offset there and let the next chunk go
     * (probe_sent = false). The end of a transfer is acknowledged with an
     * APPEND_RESP for the snapshot's index instead
     * (replication_on_append_resp). */
    (void)m;
    return raft_drop(r, "labs/3D: snapshot response is not written");
}

/* ------------------------------------------------------------------------ */
/* Follower                                                                  */
/* ------------------------------------------------------------------------ */

int snapshot_on_chunk(struct raft *r, const struct raft_message *m)
{
    /* labs/3D, Figure 13 "InstallSnapshot RPC, Receiver implementation",
     * after replication_accept_leader():
     *   1. (terms: raft.c's raft_term_rules())
     *   2. "Create new snapshot file if first chunk (offset is 0)"
     *   3. "Write data into snapshot file at given offset"
     *   4. "Reply and wait for more data chunks if done is false"
     *      (a RAFT_MSG_SNAPSHOT_RESP with the next offset expected)
     *   5. "Save snapshot file, discard any existing or partial snapshot
     *      with a smaller index"
     *   6. "If existing log entry has same index and term as snapshot's
     *      last included entry, retain log entries following it and
     *      reply" (log_compact())
     *   7. "Discard the entire log" (log_reset())
     *   8. "Reset state machine using snapshot contents (and load
     *      snapshot's cluster configuration)" (membership_reset(),
     *      membership_recompute(); hand it to the caller in r->install)
     * A snapshot this node already covers (index at or below its commit
     * index) must never be installed: it would take the state machine
     * back in time. Acknowledge it instead. Completion is acknowledged
     * with a RAFT_MSG_APPEND_RESP, success, for the snapshot's index. */
    (void)m;
    return raft_drop(r,
                     "labs/3D: InstallSnapshot receiver (Figure 13) is "
                     "not written");
}

/* Structural checks for snapshot messages (raft_step). */
const char *snapshot_message_invalid(const struct raft_message *m)
{
    assert(m != NULL);
    if (m->type == RAFT_MSG_SNAPSHOT) {
        const struct raft_snapshot_chunk *c = &m->snapshot;
        if (c->index == 0 || c->term == 0 || c->term > m->term) {
            return "snapshot with an impossible index or term";
        }
        if (c->total > SNAPSHOT_MAX_BYTES || c->offset > c->total ||
            c->len > c->total - c->offset) {
            return "snapshot chunk outside the announced size";
        }
        if ((c->len > 0 && c->data == NULL) ||
            (c->conf_len > 0 && c->conf == NULL) ||
            c->conf_len > 8 + 9 * RAFT_MAX_SERVERS) {
            return "snapshot chunk data missing";
        }
        if (c->done && c->offset + c->len != c->total) {
            return "last snapshot chunk does not end the snapshot";
        }
    }
    return NULL;
}
