/*
 * raft_invariants(): every fact about an instance that the core relies on
 * between two calls, asserted in one place, in the spirit of SQLite's
 * assert_pager_state(). Builds with the CMake option RAFTKV_INVARIANTS
 * (the sanitizer builds of CI, and with them the sim sweeps) call it at
 * the end of every entry point, so a broken fact is named at the call that
 * broke it, instead of surfacing as a crash or a safety violation many
 * steps later; other builds compile the call to nothing.
 *
 * The checks only read. They cost O(servers + messages in flight + queued
 * reads); nothing walks the log, whose entries are checked at its ends.
 *
 * Groups, in order: bounds and options; the log; the indexes (commit,
 * applied, stable, snapshot); the configuration; the role's own facts and
 * its timers; the leader's progress records; ReadIndex; snapshots; the
 * update cycle and the buffers.
 */
#include "raft_internal.h"

/* Terms and indexes stay within RAFT_TERM_MAX and RAFT_INDEX_MAX (raft.h),
 * so that every `+ 1` the core computes is far from wrapping. */
static void check_bounds(const struct raft *r)
{
    assert(r->id != 0 && r->id == r->opts.id);
    assert(r->opts.max_inflight >= 1 && r->opts.election_ticks >= 2);
    assert(r->term <= RAFT_TERM_MAX);
    assert(r->commit <= RAFT_INDEX_MAX);
    assert(r->read_round <= RAFT_INDEX_MAX);
    /* What the caller was told to persist never runs ahead: terms and the
     * commit index only grow. */
    assert(r->reported_hs.term <= r->term);
    assert(r->reported_hs.commit <= r->commit);
}

/* The ring holds snapshot_index + 1 .. last, with terms that never go
 * down along it (checked at its ends) and never exceed the current term. */
static void check_log(const struct raft_log *l, raft_term term)
{
    assert(l->ring != NULL && l->cap > 0 && (l->cap & (l->cap - 1)) == 0);
    assert(l->head < l->cap && l->count <= l->cap);
    assert(l->snapshot_index <= RAFT_INDEX_MAX);
    assert(l->count <= RAFT_INDEX_MAX - l->snapshot_index);
    raft_index last = log_last_index(l);
    assert(l->snapshot_index == 0 || l->snapshot_term > 0);
    assert(l->snapshot_term <= term);
    /* Entries up to stable are durable; the ones after it go out in the
     * next update. A truncation of durable entries is reported from
     * truncated_from, just past what is still durable. */
    assert(l->snapshot_index <= l->stable && l->stable <= last);
    assert(l->truncated_from == 0 || l->truncated_from <= l->stable + 1);
    assert(l->trash_len <= l->trash_cap);
    if (l->count > 0) {
        const struct raft_entry *first = log_get(l, l->snapshot_index + 1);
        const struct raft_entry *end = log_get(l, last);
        assert(first->index == l->snapshot_index + 1 && end->index == last);
        assert(first->term >= 1 && first->term >= l->snapshot_term);
        assert(end->term >= first->term && end->term <= term);
    }
}

/* snapshot <= applied <= commit <= last and applied <= stable: the update
 * hands out applied + 1 .. commit from the log, and only what is durable
 * is ever applied. A snapshot received and not yet handed out is the one
 * exception to snapshot <= applied. */
static void check_indexes(const struct raft *r)
{
    const struct raft_log *l = &r->log;
    raft_index last = log_last_index(l);
    assert(r->commit <= last);
    assert(r->applied <= r->commit);
    assert(r->applied <= l->stable);
    assert(l->snapshot_index <= r->commit);
    assert(r->applied >= l->snapshot_index ||
           (r->install_pending && r->install.index == l->snapshot_index));
}

/* A valid configuration, from the log entry at conf_index or the one at
 * the log's start; one progress record per server in its order, then this
 * node's own when it is not a member; the quorum in step with it. */
static void check_configuration(const struct raft *r)
{
    assert(raft_configuration_valid(&r->conf));
    assert(raft_configuration_valid(&r->base_conf));
    assert(r->quorum == raft_configuration_voter_count(&r->conf) / 2 + 1);
    assert(r->conf_index <= log_last_index(&r->log));
    if (r->conf_index > r->log.snapshot_index) {
        const struct raft_entry *e = log_get(&r->log, r->conf_index);
        assert(e != NULL && e->type == RAFT_ENTRY_CONFIG);
    }
    bool member = raft_configuration_find(&r->conf, r->id) >= 0;
    assert(r->n_progress == r->conf.count + (member ? 0 : 1));
    if (!member) {
        const struct progress *p = &r->progress[r->conf.count];
        assert(p->is_self && p->id == r->id && !p->voter);
    }
    for (uint32_t k = 0; k < r->n_progress; k++) {
        const struct progress *p = &r->progress[k];
        assert(k == r->conf.count ||
               (p->id == r->conf.servers[k].id &&
                p->voter == (r->conf.servers[k].role == RAFT_VOTER)));
        assert(p->is_self == (p->id == r->id));
        assert(p->inflight ==
               r->inflight_mem + (size_t)k * r->opts.max_inflight);
        assert(p->vote >= -1 && p->vote <= 1);
        assert(p->read_acked <= r->read_round);
    }
}

/* Facts of each role (convert.c makes them true on entry), and the timers:
 * a timeout is drawn from [election_ticks, 2 * election_ticks). */
static void check_role(const struct raft *r)
{
    /* Only a node that may campaign does (a voter, or while a change is
     * uncommitted a voter of the configuration before it), and its
     * configuration and commit index change only as it becomes a follower
     * (an append or a snapshot); a leader steps down once a committed
     * configuration no longer lists it as a voter. */
    bool voter = membership_may_campaign(r);
    uint32_t k = 0;
    while (k < r->n_progress && !r->progress[k].is_self) {
        k++;
    }
    assert(k < r->n_progress);
    unsigned e = r->opts.election_ticks;
    assert(r->randomized_timeout >= e && r->randomized_timeout < 2 * e);
    /* A transfer is a leader's, to another node, for at most an election
     * timeout (transfer.c). */
    assert(r->transfer_to == 0 ||
           (r->role == RAFT_LEADER && r->transfer_to != r->id &&
            r->transfer_elapsed < e));
    assert(r->transfer_to != 0 || !r->transfer_sent);
    assert(r->election_elapsed < 2 * e);
    switch (r->role) {
        case RAFT_FOLLOWER:
            assert(r->leader != r->id);
            break;
        case RAFT_PRE_CANDIDATE:
            /* It asks for term + 1, which exists; its own pre-vote counts. */
            assert(voter && r->leader == 0 && r->term < RAFT_TERM_MAX);
            assert(r->progress[k].vote == 1);
            break;
        case RAFT_CANDIDATE:
            /* Figure 2: it voted for itself in its term. */
            assert(voter && r->leader == 0 && r->term >= 1);
            assert(r->vote == r->id && r->progress[k].vote == 1);
            break;
        case RAFT_LEADER:
            /* It won its term's election, knows itself as the leader, and
             * counts itself as heard from. */
            /* A leader outside its voters steps down at its first
             * commit under a committed configuration. */
            assert(membership_self_voter(r) || r->conf_index > r->commit ||
                   log_term(&r->log, r->commit) != r->term);
            assert(r->leader == r->id && r->vote == r->id);
            assert(r->progress[k].recent_active);
            assert(r->election_elapsed < e);
            assert(r->heartbeat_elapsed < r->opts.heartbeat_ticks);
            break;
        default:
            assert(0 && "a known role");
    }
    if (r->role != RAFT_LEADER) {
        /* Only a leader keeps the heartbeat clock and reads: stepping down
         * failed every read. */
        assert(r->heartbeat_elapsed == 0);
        assert(r->reads_len == 0 && !r->read_round_pending);
    }
}

/* The leader's view of one server (Figure 2, volatile state on leaders):
 * match < next <= last + 1, and the in-flight window of REPLICATE holds
 * the increasing last indexes of messages past the match. The leader's own
 * record matches exactly what is durable (dissertation §10.2.1). */
static void check_progress(const struct raft *r, const struct progress *p)
{
    raft_index last = log_last_index(&r->log);
    unsigned max = r->opts.max_inflight;
    assert(p->match < p->next && p->next <= last + 1);
    assert(p->inflight_count <= max && p->inflight_start < max);
    switch (p->state) {
        case PROGRESS_PROBE:
            assert(p->inflight_count == 0);
            break;
        case PROGRESS_SNAPSHOT:
            assert(p->inflight_count == 0 && p->snap_index > 0);
            break;
        case PROGRESS_REPLICATE: {
            raft_index prev = p->match;
            for (unsigned k = 0; k < p->inflight_count; k++) {
                raft_index i = p->inflight[(p->inflight_start + k) % max];
                assert(i > prev);
                prev = i;
            }
            assert(prev < p->next);
            break;
        }
        default:
            assert(0 && "a known progress state");
    }
    if (p->is_self) {
        assert(p->match == r->log.stable && p->next == last + 1);
    }
}

/* ReadIndex (read.c): reads wait with round 0 until the leader has
 * committed an entry of its term, and get one then; rounds and indexes
 * never go down along the queue, a round is at most the next one, and
 * the next one is pending exactly when a read waits for it. */
static void check_reads(const struct raft *r)
{
    bool in_term = log_term(&r->log, r->commit) == r->term;
    uint64_t round = 0;
    raft_index index = 0;
    for (size_t k = 0; k < r->reads_len; k++) {
        const struct read_request *q = &r->reads[k];
        assert((q->round == 0) == !in_term);
        assert(q->round >= round && q->round <= r->read_round + 1);
        assert(q->index >= index && q->index <= r->commit);
        round = q->round;
        index = q->index;
    }
    assert(r->read_round_pending ==
           (r->reads_len > 0 && round == r->read_round + 1));
    for (size_t k = 0; k < r->reads_ready_len; k++) {
        assert(r->reads_ready[k].index <= r->commit);
    }
}

/* The snapshot a leader sends is one the state machine has applied; one
 * received is handed out once, and is where the log now starts. */
static void check_snapshots(const struct raft *r)
{
    assert(r->snap.index <= r->applied);
    assert(r->snap.index == 0 ||
           (r->snap_conf_len >= 8 && r->snap_conf_len <= sizeof r->snap_conf));
    assert(r->install_pending == (r->install_buf != NULL));
    if (r->install_pending) {
        assert(r->install.index == r->log.snapshot_index &&
               r->install.term == r->log.snapshot_term);
    }
    if (r->rx.buf == NULL) {
        assert(r->rx.len == 0 && r->rx.cap == 0);
    } else {
        assert(r->rx.len >= sizeof(size_t) && r->rx.len <= r->rx.cap);
    }
}

/* Arrays within their capacity; arena memory lives only while an update
 * is out (raft_update_get() to raft_update_done()). */
static void check_buffers(const struct raft *r)
{
    assert(r->inflight_mem != NULL);
    assert(r->outbox_len <= r->outbox_cap);
    assert(r->reads_len <= r->reads_cap);
    assert(r->reads_ready_len <= r->reads_ready_cap);
    assert(r->update_out || r->arena.head == NULL);
    assert(r->reported_role >= RAFT_FOLLOWER &&
           r->reported_role <= RAFT_LEADER);
}

void raft_invariants(const struct raft *r)
{
    assert(r != NULL);
    check_bounds(r);
    check_log(&r->log, r->term);
    check_indexes(r);
    check_configuration(r);
    check_role(r);
    if (r->role == RAFT_LEADER) {
        for (uint32_t k = 0; k < r->n_progress; k++) {
            check_progress(r, &r->progress[k]);
        }
        check_reads(r);
    }
    check_snapshots(r);
    check_buffers(r);
}
