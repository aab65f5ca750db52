/*
 * Log replication and commitment (Raft paper §5.3, §5.4.2, Figure 2).
 *
 * Leader side: each follower has a progress record (progress.c). Messages
 * are built lazily in replication_flush(), which raft_update_get() calls:
 * every proposal and acknowledgement since the previous update is answered
 * with at most a few AppendEntries per follower, each carrying many
 * entries. Followers in REPLICATE state get a pipeline of up to
 * max_inflight messages; a rejection drops the follower back to PROBE at
 * the point the follower's hints name, skipping a whole term per round trip
 * instead of one index (end of §5.3).
 *
 * Follower side: the AppendEntries receiver implementation of Figure 2,
 * steps 1-5, and heartbeats, which carry the commit index and a ReadIndex
 * round but no log check.
 *
 * Commitment: an index is committed when a majority of voters hold it AND
 * the entry there is of the leader's current term (§5.4.2; Figure 8 shows
 * why counting replicas of an older term's entry is unsafe). A new leader
 * appends a no-op of its term at once (§8, become_leader() in convert.c) so
 * that it can commit, and learn the commit index, without waiting for a
 * client.
 */
#include <string.h>

#include "raft_internal.h"

/* ------------------------------------------------------------------------ */
/* Leader                                                                    */
/* ------------------------------------------------------------------------ */

bool replication_maybe_commit(struct raft *r)
{
    assert(r->role == RAFT_LEADER);
    raft_index matches[RAFT_MAX_SERVERS];
    unsigned n = 0;
    for (uint32_t k = 0; k < r->n_progress; k++) {
        const struct progress *p = &r->progress[k];
        if (p->voter) {
            matches[n++] = p->match;
        }
    }
    if (n == 0) {
        return false;
    }
    /* The quorum-th highest match is held by a majority. Insertion sort:
     * n is at most RAFT_MAX_SERVERS and usually 3 to 7. */
    for (unsigned i = 1; i < n; i++) {
        raft_index v = matches[i];
        unsigned j = i;
        while (j > 0 && matches[j - 1] < v) {
            matches[j] = matches[j - 1];
            j--;
        }
        matches[j] = v;
    }
    raft_index candidate = matches[raft_quorum(r) - 1];
    if (candidate <= r->commit) {
        return false;
    }
    /* §5.4.2: only entries of the current term are committed by counting
     * replicas; earlier ones are committed indirectly. */
    if (log_term(&r->log, candidate) != r->term) {
        return false;
    }
    bool first_in_term = log_term(&r->log, r->commit) != r->term;
    /* Followers learn the new commit index from the next AppendEntries
     * they get, or at the latest from the next heartbeat: no message is
     * sent for it alone (the leader answers clients; followers apply a
     * heartbeat later). */
    /* A majority holds it: no match passes the log (acknowledgements
     * beyond it are dropped, the leader's own is its stable index). */
    assert(candidate <= log_last_index(&r->log));
    r->commit = candidate;
    if (first_in_term) {
        read_on_commit_in_term(r);
    }
    membership_committed(r);
    return true;
}

/* Builds one AppendEntries to @p starting at p->next; returns the number of
 * entries it carries, or a negative error. */
static int send_append(struct raft *r, struct progress *p)
{
    /* next starts at last + 1 and only ever moves to match + 1 or past. */
    assert(p->next >= 1);
    raft_index prev = p->next - 1;
    raft_index last = log_last_index(&r->log);
    if (prev < r->log.snapshot_index || p->state == PROGRESS_SNAPSHOT) {
        /* The entries this follower needs were compacted away; only a
         * snapshot can bring it up to date. */
        int rv = snapshot_send(r, p);
        return rv < 0 ? rv : 0;
    }
    size_t n = 0;
    size_t bytes = 0;
    while (prev + n < last && n < r->opts.max_entries_per_msg) {
        const struct raft_entry *e = log_get(&r->log, prev + n + 1);
        if (n > 0 && bytes + e->data.len > r->opts.max_bytes_per_msg) {
            break;
        }
        bytes += e->data.len;
        n++;
    }
    struct raft_entry *entries = NULL;
    if (n > 0) {
        entries = arena_alloc(&r->arena, n * sizeof *entries);
        if (entries == NULL) {
            return COMMON_ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
            entries[k] = *log_get(&r->log, prev + k + 1);
        }
    }
    struct raft_message m = {
        .type = RAFT_MSG_APPEND,
        .to = p->id,
        .term = r->term,
        .append = {.prev_index = prev,
                   .prev_term = log_term(&r->log, prev),
                   .commit = r->commit,
                   .entries = entries,
                   .n_entries = n},
    };
    int rv = raft_send(r, &m);
    if (rv != 0) {
        return rv;
    }
    p->send_empty = false;
    if (p->state == PROGRESS_REPLICATE) {
        if (n > 0) {
            p->next += n;
            progress_inflight_add(p, r->opts.max_inflight, p->next - 1);
        }
    } else {
        p->probe_sent = true;
    }
    return (int)n;
}

static bool follower_due(const struct raft *r, const struct progress *p)
{
    assert(r->role == RAFT_LEADER);
    if (p->is_self || progress_paused(p, r->opts.max_inflight)) {
        return false;
    }
    if (p->state == PROGRESS_PROBE || p->state == PROGRESS_SNAPSHOT) {
        return true;
    }
    return p->next <= log_last_index(&r->log) || p->send_empty;
}

int replication_flush(struct raft *r)
{
    if (r->role != RAFT_LEADER) {
        return 0;
    }
    if (r->read_round_pending && read_round_idle(r)) {
        read_round_start(r);
        int rv = replication_heartbeat_all(r);
        if (rv != 0) {
            return rv;
        }
    }
    for (uint32_t k = 0; k < r->n_progress; k++) {
        struct progress *p = &r->progress[k];
        /* Bounded: each pass either sends entries (at most max_inflight
         * messages) or stops. */
        while (follower_due(r, p)) {
            int n = send_append(r, p);
            if (n < 0) {
                if (n == COMMON_ENOMEM) {
                    return n;
                }
                break;
            }
            if (p->state != PROGRESS_REPLICATE || n == 0) {
                break;
            }
        }
        /* Sending moves next at most to just past the log. */
        assert(p->next <= log_last_index(&r->log) + 1);
    }
    return 0;
}

int replication_heartbeat_all(struct raft *r)
{
    assert(r->role == RAFT_LEADER);
    for (uint32_t k = 0; k < r->n_progress; k++) {
        const struct progress *p = &r->progress[k];
        if (p->is_self) {
            continue;
        }
        /* A heartbeat does no log check, so it may only advance a
         * follower's commit to what is known to match there. */
        raft_index commit = p->match < r->commit ? p->match : r->commit;
        struct raft_message m = {
            .type = RAFT_MSG_HEARTBEAT,
            .to = p->id,
            .term = r->term,
            .heartbeat = {.commit = commit,
                          .context = r->read_round,
                          .match = p->match},
        };
        int rv = raft_send(r, &m);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int replication_on_append_resp(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER) {
        return raft_drop(r, "append response while not leader");
    }
    struct progress *p = raft_progress_of(r, m->from);
    /* raft_step() dropped messages from outside the configuration. */
    assert(p != NULL);
    const struct raft_append_resp *a = &m->append_resp;
    raft_index last = log_last_index(&r->log);
    if (a->index > last) {
        return raft_drop(r, "append response index beyond the log");
    }
    p->recent_active = true;
    if (a->success) {
        bool advanced = a->index > p->match;
        if (advanced) {
            p->match = a->index;
        }
        if (p->next < a->index + 1) {
            p->next = a->index + 1;
        }
        if (p->state != PROGRESS_REPLICATE) {
            /* The match point is found (or a snapshot installed): start
             * pipelining. */
            progress_become_replicate(p);
        } else {
            progress_inflight_free_to(p, r->opts.max_inflight, a->index);
        }
        if (advanced) {
            replication_maybe_commit(r);
        }
        if (r->role == RAFT_LEADER) {
            return transfer_on_progress(r, m->from);
        }
        return 0;
    }
    /* Rejections of messages sent before the latest state change are
     * stale: in REPLICATE anything at or below the match, in PROBE anything
     * but the outstanding probe, in SNAPSHOT everything. */
    if (p->state == PROGRESS_SNAPSHOT ||
        (p->state == PROGRESS_REPLICATE ? a->index <= p->match
                                        : a->index + 1 != p->next)) {
        return raft_drop(r, "stale append rejection");
    }
    raft_index next;
    if (a->hint_term == 0) {
        next = a->hint_index; /* the follower's log ends before prev */
    } else {
        /* If the leader holds entries of the follower's conflicting term,
         * the logs agree up to its last one of that term (Log Matching);
         * otherwise skip the follower's whole run of that term. */
        raft_index i = log_term_last_index(&r->log, a->hint_term);
        next = i > 0 ? i + 1 : a->hint_index;
    }
    /* Each rejection must move the probe strictly backwards, and never at
     * or below what is known to match. */
    if (next > a->index) {
        next = a->index;
    }
    if (next <= p->match) {
        next = p->match + 1;
    }
    progress_become_probe(p);
    p->next = next;
    return 0;
}

/* @p answered a heartbeat saying its log ends at @log_end - 1, below the
 * match it had acknowledged in this term. Within a term a follower's log
 * never loses what it acknowledged to that term's leader (truncation only
 * removes entries that conflict with the leader's), and the heartbeat was
 * sent after that acknowledgement arrived, so this is exact, whatever the
 * network reordered: the follower restarted from a disk that did not keep
 * what it synced (or from an old copy). Without this the leader would
 * probe at match + 1 forever and the follower never catch up. The leader
 * resends from what the follower holds (entries, or a snapshot when they
 * were compacted away). Lowering match is safe: the commit index never
 * goes back, and the next acknowledgement raises match again. */
static void lost_acknowledged(struct raft *r,
                              struct progress *p,
                              raft_index log_end)
{
    assert(log_end >= 1 && log_end <= p->match && !p->is_self);
    r->stats.follower_lost_entries++;
    raft_logf(r, COMMON_LOG_WARN,
              "follower %llu holds its log only to %llu, below the %llu it "
              "acknowledged in term %llu: it lost acknowledged entries (a "
              "disk that did not keep what it synced?); resending from %llu",
              (unsigned long long)p->id, (unsigned long long)(log_end - 1),
              (unsigned long long)p->match, (unsigned long long)r->term,
              (unsigned long long)log_end);
    p->match = log_end - 1;
    progress_become_probe(p);
}

int replication_on_heartbeat_resp(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER) {
        return raft_drop(r, "heartbeat response while not leader");
    }
    struct progress *p = raft_progress_of(r, m->from);
    assert(p != NULL);
    p->recent_active = true;
    p->probe_sent = false;
    raft_index log_end = m->heartbeat_resp.log_end;
    if (log_end != 0 && log_end <= p->match) {
        /* Answered again (a duplicate): match is below log_end by now. */
        lost_acknowledged(r, p, log_end);
    }
    if (p->state == PROGRESS_REPLICATE &&
        progress_inflight_full(p, r->opts.max_inflight)) {
        /* A window full of lost messages would otherwise stall for good. */
        progress_inflight_free_first(p, r->opts.max_inflight);
    }
    if (p->match < log_last_index(&r->log)) {
        /* Lagging: send something, even an empty AppendEntries whose log
         * check tells whether earlier messages were lost. */
        p->send_empty = true;
    }
    if (m->heartbeat_resp.context > p->read_acked &&
        m->heartbeat_resp.context <= r->read_round) {
        p->read_acked = m->heartbeat_resp.context;
        read_release_confirmed(r);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Follower                                                                  */
/* ------------------------------------------------------------------------ */

static int respond_append(struct raft *r,
                          raft_id to,
                          bool success,
                          raft_index index,
                          raft_index hint_index,
                          raft_term hint_term)
{
    /* An acknowledgement is for entries this node holds. */
    assert(!success || index <= log_last_index(&r->log));
    struct raft_message resp = {
        .type = RAFT_MSG_APPEND_RESP,
        .to = to,
        .term = r->term,
        .append_resp = {.success = success,
                        .index = index,
                        .hint_index = hint_index,
                        .hint_term = hint_term},
    };
    return raft_send(r, &resp);
}

int replication_accept_leader(struct raft *r, raft_id leader)
{
    /* The sender of a message of this node's term (raft_step). */
    assert(leader != 0 && leader != r->id);
    if (r->role == RAFT_LEADER) {
        /* Election Safety makes this impossible between correct nodes. */
        return raft_drop(r, "another leader in this node's own term");
    }
    if (r->role != RAFT_FOLLOWER || r->leader != leader) {
        /* Figure 2, candidates: "If AppendEntries RPC received from new
         * leader: convert to follower". */
        become_follower(r, r->term, leader);
    }
    r->election_elapsed = 0;
    return 0;
}

int replication_on_append(struct raft *r, const struct raft_message *m)
{
    int rv = replication_accept_leader(r, m->from);
    if (rv != 0) {
        return rv;
    }
    assert(r->role == RAFT_FOLLOWER && r->leader == m->from);
    const struct raft_append *a = &m->append;
    raft_index prev = a->prev_index;
    raft_term prev_term = a->prev_term;
    const struct raft_entry *entries = a->entries;
    size_t n = a->n_entries;

    if (prev < r->commit) {
        /* Entries up to the commit index already match the leader's (State
         * Machine Safety), so re-anchor the message at the commit index. */
        raft_index skip = r->commit - prev;
        if (skip >= n) {
            return respond_append(r, m->from, true, r->commit, 0, 0);
        }
        prev = r->commit;
        prev_term = entries[skip - 1].term;
        entries += skip;
        n -= (size_t)skip;
        if (log_term(&r->log, prev) != prev_term) {
            return raft_drop(r, "append conflicts with a committed entry");
        }
    }

    raft_index last = log_last_index(&r->log);
    /* Figure 2, AppendEntries receiver step 2: "Reply false if log doesn't
     * contain an entry at prevLogIndex whose term matches prevLogTerm". */
    if (prev > last) {
        return respond_append(r, m->from, false, a->prev_index, last + 1, 0);
    }
    raft_term have = log_term(&r->log, prev);
    if (have != prev_term) {
        return respond_append(r, m->from, false, a->prev_index,
                              log_term_first_index(&r->log, prev), have);
    }

    /* Steps 3 and 4: skip entries already present, truncate at the first
     * conflict ("delete the existing entry and all that follow it"), append
     * the rest. */
    size_t k = 0;
    for (; k < n; k++) {
        raft_index i = prev + 1 + k;
        if (i > log_last_index(&r->log)) {
            break;
        }
        if (log_term(&r->log, i) != entries[k].term) {
            log_truncate(&r->log, i);
            membership_truncated(r, i);
            break;
        }
    }
    for (; k < n; k++) {
        const struct raft_entry *e = &entries[k];
        rv = log_append_copy(&r->log, e->term, e->type, e->data.base,
                             e->data.len);
        if (rv != 0) {
            /* What was appended stays; the leader will resend the rest. */
            return rv;
        }
        /* A configuration takes effect once appended (§4.1); raft_step()
         * checked that it decodes. */
        rv = membership_appended(r, log_get(&r->log, log_last_index(&r->log)));
        assert(rv == 0);
    }

    /* Step 5: "If leaderCommit > commitIndex, set commitIndex =
     * min(leaderCommit, index of last new entry)". */
    raft_index last_new = prev + n;
    if (a->commit > r->commit) {
        raft_index c = a->commit < last_new ? a->commit : last_new;
        if (c > r->commit) {
            r->commit = c;
        }
    }
    return respond_append(r, m->from, true, last_new, 0, 0);
}

int replication_on_heartbeat(struct raft *r, const struct raft_message *m)
{
    int rv = replication_accept_leader(r, m->from);
    if (rv != 0) {
        return rv;
    }
    raft_index c = m->heartbeat.commit;
    raft_index last = log_last_index(&r->log);
    if (c > last) {
        c = last;
    }
    if (c > r->commit) {
        r->commit = c;
    }
    assert(r->commit <= last);
    /* The leader believes this node acknowledged up to match in this
     * term; a log that ends before it lost acknowledged entries. */
    raft_index log_end = m->heartbeat.match > last ? last + 1 : 0;
    struct raft_message resp = {
        .type = RAFT_MSG_HEARTBEAT_RESP,
        .to = m->from,
        .term = r->term,
        .heartbeat_resp = {.context = m->heartbeat.context, .log_end = log_end},
    };
    return raft_send(r, &resp);
}
