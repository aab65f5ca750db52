/*
 * InstallSnapshot (Raft paper §7, Figure 13), in chunks.
 *
 * Leader: a follower whose next entry was compacted away can only be
 * brought up to date with the leader's latest snapshot, which the caller
 * registered with raft_snapshot_set() (the core holds no files: it borrows
 * the caller's bytes). The follower's progress enters SNAPSHOT state and
 * gets one chunk of at most max_bytes_per_msg at a time; each chunk is
 * answered with the offset the follower expects next, and a heartbeat
 * answer resends a chunk that was lost. If the leader takes a newer
 * snapshot meanwhile, the transfer starts over with it. The follower
 * acknowledges the installed snapshot with an AppendEntries success for
 * its index, which moves the progress to REPLICATE.
 *
 * Follower: chunks accumulate in a buffer owned by the core. On the last
 * one the snapshot is installed, following Figure 13's receiver rules:
 * "If existing log entry has same index and term as snapshot's last
 * included entry, retain log entries following it"; otherwise the whole
 * log is discarded. The configuration comes from the snapshot. The next
 * update hands the snapshot to the caller, which persists it first and
 * loads it into its state machine before applying anything after it. A
 * snapshot the node already covers (index at or below its commit index)
 * is acknowledged without being installed.
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
    /* Its address table in the core's copy, not the caller's memory. */
    int rv = raft_configuration_decode(&r->snap.conf, r->snap_conf, n);
    assert(rv == 0);
    (void)rv;
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
    assert(r->role == RAFT_LEADER && !p->is_self);
    if (r->snap.index == 0 || r->snap.index < r->log.snapshot_index) {
        p->probe_sent = true;
        return raft_drop(r,
                         "follower needs entries that were compacted, "
                         "and no snapshot is available");
    }
    if (p->state != PROGRESS_SNAPSHOT || p->snap_index != r->snap.index) {
        p->state = PROGRESS_SNAPSHOT;
        p->snap_index = r->snap.index;
        p->snap_offset = 0;
        p->inflight_start = 0;
        p->inflight_count = 0;
    }
    if (p->snap_offset > r->snap.len) {
        p->snap_offset = 0;
    }
    size_t left = r->snap.len - (size_t)p->snap_offset;
    size_t len =
        left < r->opts.max_bytes_per_msg ? left : r->opts.max_bytes_per_msg;
    struct raft_message m = {
        .type = RAFT_MSG_SNAPSHOT,
        .to = p->id,
        .term = r->term,
        .snapshot = {.index = r->snap.index,
                     .term = r->snap.term,
                     .conf = r->snap_conf,
                     .conf_len = r->snap_conf_len,
                     .offset = p->snap_offset,
                     .total = r->snap.len,
                     .data = (const uint8_t *)r->snap.data + p->snap_offset,
                     .len = len,
                     .done = len == left},
    };
    int rv = raft_send(r, &m);
    if (rv != 0) {
        return rv;
    }
    p->probe_sent = true;
    p->send_empty = false;
    return 0;
}

int snapshot_on_resp(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER) {
        return raft_drop(r, "snapshot response while not leader");
    }
    struct progress *p = raft_progress_of(r, m->from);
    /* raft_step() dropped messages from outside the configuration. */
    assert(p != NULL);
    p->recent_active = true;
    const struct raft_snapshot_resp *s = &m->snapshot_resp;
    if (p->state != PROGRESS_SNAPSHOT || s->index != p->snap_index ||
        s->term != r->snap.term) {
        return raft_drop(r, "snapshot response for another transfer");
    }
    if (s->next_offset > r->snap.len) {
        return raft_drop(r, "snapshot response offset beyond the snapshot");
    }
    p->snap_offset = s->next_offset;
    p->probe_sent = false;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Follower                                                                  */
/* ------------------------------------------------------------------------ */

static int respond_offset(struct raft *r,
                          raft_id to,
                          const struct raft_snapshot_chunk *c,
                          uint64_t next)
{
    assert(to != 0 && to != r->id && c != NULL);
    struct raft_message resp = {
        .type = RAFT_MSG_SNAPSHOT_RESP,
        .to = to,
        .term = r->term,
        .snapshot_resp = {.index = c->index,
                          .term = c->term,
                          .next_offset = next},
    };
    return raft_send(r, &resp);
}

static int respond_installed(struct raft *r, raft_id to, raft_index index)
{
    /* Installed, or already covered: committed either way. */
    assert(index <= r->commit);
    struct raft_message resp = {
        .type = RAFT_MSG_APPEND_RESP,
        .to = to,
        .term = r->term,
        .append_resp = {.success = true, .index = index},
    };
    return raft_send(r, &resp);
}

static int install(struct raft *r, raft_id from)
{
    /* The last chunk of a transfer whose buffer starts with the
     * configuration's length. */
    assert(r->rx.buf != NULL && r->rx.len >= sizeof(size_t));
    const struct raft_snapshot_chunk c = {.index = r->rx.index,
                                          .term = r->rx.term};
    struct raft_configuration conf;
    memset(&conf, 0, sizeof conf);
    /* The configuration was kept at the front of the buffer. */
    size_t conf_len = 0;
    memcpy(&conf_len, r->rx.buf, sizeof conf_len);
    if (raft_configuration_decode(&conf, r->rx.buf + sizeof conf_len,
                                  conf_len) != 0) {
        snapshot_rx_reset(r);
        return raft_drop(r, "snapshot with a damaged configuration");
    }
    if (r->install_pending) {
        /* The previous one was never handed out: this one replaces it. */
        free(r->install_buf);
        r->install_pending = false;
    }
    /* Figure 13, receiver step 6 and 7. */
    if (log_term(&r->log, c.index) == c.term &&
        c.index <= log_last_index(&r->log)) {
        log_compact(&r->log, c.index, c.term);
    } else {
        log_reset(&r->log, c.index, c.term);
    }
    if (r->commit < c.index) {
        r->commit = c.index;
    }
    /* The snapshot's configuration is the one at its index; entries kept
     * after it may change it. */
    membership_reset(r, &conf);
    membership_recompute(r);
    size_t skip = sizeof conf_len + conf_len;
    r->install_buf = r->rx.buf;
    r->install.index = c.index;
    r->install.term = c.term;
    r->install.conf = conf;
    r->install.data = r->rx.buf + skip;
    r->install.len = r->rx.len - skip;
    r->install_pending = true;
    r->rx.buf = NULL; /* now owned by install_buf */
    snapshot_rx_reset(r);
    raft_logf(r, COMMON_LOG_INFO, "installed snapshot at index %llu term %llu",
              (unsigned long long)c.index, (unsigned long long)c.term);
    return respond_installed(r, from, c.index);
}

int snapshot_on_chunk(struct raft *r, const struct raft_message *m)
{
    int rv = replication_accept_leader(r, m->from);
    if (rv != 0) {
        return rv;
    }
    assert(r->role == RAFT_FOLLOWER && r->leader == m->from);
    const struct raft_snapshot_chunk *c = &m->snapshot;
    if (c->index <= r->commit) {
        /* Already covered: nothing to install. */
        snapshot_rx_reset(r);
        return respond_installed(r, m->from, r->commit);
    }
    bool same = r->rx.buf != NULL && r->rx.index == c->index &&
                r->rx.term == c->term && r->rx.from == m->from;
    if (c->offset == 0 && !same) {
        snapshot_rx_reset(r);
        /* The buffer starts with the configuration, so that the whole
         * snapshot needs only this one allocation. */
        size_t need = sizeof(size_t) + c->conf_len;
        r->rx.buf = malloc(need);
        if (r->rx.buf == NULL) {
            return COMMON_ENOMEM;
        }
        memcpy(r->rx.buf, &c->conf_len, sizeof(size_t));
        if (c->conf_len > 0) {
            memcpy(r->rx.buf + sizeof(size_t), c->conf, c->conf_len);
        }
        r->rx.len = need;
        r->rx.cap = need;
        r->rx.index = c->index;
        r->rx.term = c->term;
        r->rx.from = m->from;
        same = true;
    }
    size_t header = 0;
    if (same) {
        size_t conf_len = 0;
        memcpy(&conf_len, r->rx.buf, sizeof conf_len);
        header = sizeof conf_len + conf_len;
    }
    uint64_t have = same ? r->rx.len - header : 0;
    if (!same || c->offset != have) {
        /* Out of order or from another transfer: say where we are. */
        return respond_offset(r, m->from, c, have);
    }
    if (c->len > 0) {
        if (common_grow(&r->rx.buf, &r->rx.cap, r->rx.len + c->len, 1,
                        c->len) != 0) {
            return COMMON_ENOMEM;
        }
        memcpy(r->rx.buf + r->rx.len, c->data, c->len);
        r->rx.len += c->len;
    }
    if (!c->done) {
        return respond_offset(r, m->from, c, r->rx.len - header);
    }
    if (r->rx.len - header != c->total) {
        snapshot_rx_reset(r);
        return raft_drop(r, "snapshot shorter or longer than announced");
    }
    return install(r, m->from);
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
            c->conf_len > RAFT_CONF_ENCODED_MAX) {
            return "snapshot chunk data missing";
        }
        if (c->done && c->offset + c->len != c->total) {
            return "last snapshot chunk does not end the snapshot";
        }
    }
    return NULL;
}
