/*
 * The Raft instance: construction from boot state, validation and dispatch
 * of incoming messages, proposals, the update cycle that hands the caller
 * what to persist, send and apply, and introspection. The rules every
 * server applies to terms and to its persistent state (Figure 2, "Rules for
 * Servers: All Servers" and "Persistent state on all servers") are in
 * raft.c, which this file calls at the three places they apply.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft_internal.h"

/* ------------------------------------------------------------------------ */
/* Arena                                                                     */
/* ------------------------------------------------------------------------ */

#define ARENA_BLOCK_SIZE (64 * 1024)

void *arena_alloc(struct arena *a, size_t size)
{
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < size) {
        if (a->spare != NULL && a->spare->cap >= size) {
            b = a->spare;
            a->spare = NULL;
        } else {
            size_t cap = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
            b = malloc(sizeof *b + cap);
            if (b == NULL) {
                return NULL;
            }
            b->cap = cap;
        }
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    assert(b->used <= b->cap);
    return p;
}

void arena_reset(struct arena *a)
{
    /* Keep one standard block for the next update; free the rest. */
    while (a->head != NULL) {
        struct arena_block *b = a->head;
        a->head = b->next;
        if (a->spare == NULL && b->cap == ARENA_BLOCK_SIZE) {
            a->spare = b;
        } else {
            free(b);
        }
    }
    /* arena_alloc() takes the spare only for what fits a standard block. */
    assert(a->spare == NULL || a->spare->cap == ARENA_BLOCK_SIZE);
}

void arena_fini(struct arena *a)
{
    arena_reset(a);
    assert(a->head == NULL);
    free(a->spare);
    a->spare = NULL;
}

/* ------------------------------------------------------------------------ */
/* Helpers shared by the other files                                         */
/* ------------------------------------------------------------------------ */

void raft_logf(struct raft *r,
               enum common_log_level level,
               const char *fmt,
               ...)
{
    assert(r != NULL);
    va_list ap;
    va_start(ap, fmt);
    common_vlogf(r->opts.log, r->opts.log_data, level, fmt, ap);
    va_end(ap);
}

int raft_drop(struct raft *r, const char *reason)
{
    /* A static string: raft_last_drop_reason() hands it out for good. */
    assert(reason != NULL);
    r->drop_reason = reason;
    r->stats.msgs_dropped++;
    raft_logf(r, COMMON_LOG_DEBUG, "dropped: %s", reason);
    return COMMON_EDROPPED;
}

int raft_send(struct raft *r, const struct raft_message *m)
{
    /* To a peer, and nothing beyond the bounds ever leaves the core. */
    assert(m->to != 0 && m->to != r->id);
    assert(m->term <= RAFT_TERM_MAX);
    if (common_grow(&r->outbox, &r->outbox_cap, r->outbox_len + 1,
                    sizeof *r->outbox, 32) != 0) {
        return COMMON_ENOMEM; /* like a lost message: Raft retries */
    }
    struct raft_message *out = &r->outbox[r->outbox_len++];
    *out = *m;
    out->from = r->id;
    return 0;
}

struct progress *raft_progress_of(struct raft *r, raft_id id)
{
    /* The records follow the configuration, then this node's own when it
     * is not in it (membership.c). */
    assert(r->n_progress >= 1 && r->n_progress <= RAFT_MAX_SERVERS + 1);
    for (uint32_t k = 0; k < r->n_progress; k++) {
        if (r->progress[k].id == id) {
            return &r->progress[k];
        }
    }
    return NULL;
}

unsigned raft_quorum(const struct raft *r)
{
    assert(r->quorum >= 1 && r->quorum <= RAFT_MAX_SERVERS / 2 + 1);
    return r->quorum;
}

const char *raft_msg_type_name(int type)
{
    _Static_assert(RAFT_MSG_TYPE_MAX == RAFT_MSG_TIMEOUT_NOW,
                   "every message type has a name below");
    switch (type) {
        case RAFT_MSG_VOTE:
            return "VOTE";
        case RAFT_MSG_VOTE_RESP:
            return "VOTE_RESP";
        case RAFT_MSG_APPEND:
            return "APPEND";
        case RAFT_MSG_APPEND_RESP:
            return "APPEND_RESP";
        case RAFT_MSG_HEARTBEAT:
            return "HEARTBEAT";
        case RAFT_MSG_HEARTBEAT_RESP:
            return "HEARTBEAT_RESP";
        case RAFT_MSG_SNAPSHOT:
            return "SNAPSHOT";
        case RAFT_MSG_SNAPSHOT_RESP:
            return "SNAPSHOT_RESP";
        case RAFT_MSG_TIMEOUT_NOW:
            return "TIMEOUT_NOW";
        default:
            return "UNKNOWN";
    }
}

const char *raft_role_name(int role)
{
    _Static_assert(RAFT_LEADER == 4, "every role has a name below");
    switch (role) {
        case RAFT_FOLLOWER:
            return "follower";
        case RAFT_PRE_CANDIDATE:
            return "pre-candidate";
        case RAFT_CANDIDATE:
            return "candidate";
        case RAFT_LEADER:
            return "leader";
        default:
            return "unknown";
    }
}

/* ------------------------------------------------------------------------ */
/* Construction                                                              */
/* ------------------------------------------------------------------------ */

void raft_options_default(struct raft_options *o)
{
    assert(o != NULL);
    memset(o, 0, sizeof *o);
    o->election_ticks = 10;
    o->heartbeat_ticks = 1;
    o->pre_vote = true;
    o->check_quorum = true;
    o->max_inflight = 256;
    o->max_entries_per_msg = 4096;
    o->max_bytes_per_msg = 1024 * 1024;
}

static bool options_valid(const struct raft_options *o)
{
    assert(o != NULL);
    return o->id != 0 && o->election_ticks >= 2 && o->heartbeat_ticks >= 1 &&
           o->heartbeat_ticks < o->election_ticks &&
           o->election_ticks <= 1000000 && o->max_inflight >= 1 &&
           o->max_inflight <= 65536 && o->max_entries_per_msg >= 1 &&
           o->max_bytes_per_msg >= 1;
}

static bool entry_type_valid(enum raft_entry_type t)
{
    /* Storage and the wire give an entry's type one byte. */
    _Static_assert(RAFT_ENTRY_CONFIG <= UINT8_MAX, "an entry type is a byte");
    return t == RAFT_ENTRY_COMMAND || t == RAFT_ENTRY_NOOP ||
           t == RAFT_ENTRY_CONFIG;
}

static bool boot_valid(const struct raft_boot *b)
{
    assert(b != NULL);
    if (!raft_configuration_valid(&b->conf)) {
        return false;
    }
    if (b->n_entries > 0 && b->entries == NULL) {
        return false;
    }
    /* Storage refuses such values too; checked first here because every
     * sum below relies on them. Entry terms are bounded by the hard
     * state's term. */
    if (b->hard_state.term > RAFT_TERM_MAX ||
        b->hard_state.commit > RAFT_INDEX_MAX ||
        b->snapshot_index > RAFT_INDEX_MAX || b->applied > RAFT_INDEX_MAX ||
        b->n_entries > RAFT_INDEX_MAX - b->snapshot_index) {
        return false;
    }
    raft_term prev = b->snapshot_term;
    if (b->snapshot_index > 0 && b->snapshot_term == 0) {
        return false;
    }
    for (size_t k = 0; k < b->n_entries; k++) {
        const struct raft_entry *e = &b->entries[k];
        if (e->index != b->snapshot_index + 1 + k || e->term < prev ||
            e->term == 0 || e->term > b->hard_state.term ||
            !entry_type_valid(e->type) ||
            (e->data.len > 0 && e->data.base == NULL) ||
            !membership_entry_valid(e)) {
            return false;
        }
        prev = e->term;
    }
    if (b->snapshot_term > b->hard_state.term) {
        return false;
    }
    raft_index last = b->snapshot_index + b->n_entries;
    return b->hard_state.commit <= last && b->applied <= last;
}

int raft_new(const struct raft_options *opts,
             const struct raft_boot *boot,
             struct raft **out)
{
    if (opts == NULL || boot == NULL || out == NULL || !options_valid(opts) ||
        !boot_valid(boot)) {
        return COMMON_EINVAL;
    }
    int rv = COMMON_ENOMEM;
    struct raft *r = calloc(1, sizeof *r);
    if (r == NULL) {
        goto err;
    }
    r->opts = *opts;
    r->id = opts->id;
    common_prng_seed(&r->prng, opts->seed ^ common_mix64(opts->id));
    raft_restore_hard_state(r, &boot->hard_state);

    rv = log_init(&r->log, boot->snapshot_index, boot->snapshot_term);
    if (rv != 0) {
        goto err_raft;
    }
    for (size_t k = 0; k < boot->n_entries; k++) {
        const struct raft_entry *e = &boot->entries[k];
        rv = log_append_copy(&r->log, e->term, e->type, e->data.base,
                             e->data.len);
        if (rv != 0) {
            goto err_log;
        }
    }
    r->log.stable = log_last_index(&r->log);

    /* Whatever was applied or snapshotted was committed. */
    r->commit = boot->hard_state.commit;
    r->applied = boot->applied > boot->snapshot_index ? boot->applied
                                                      : boot->snapshot_index;
    if (r->commit < r->applied) {
        r->commit = r->applied;
    }

    rv = COMMON_ENOMEM;
    r->inflight_mem =
        calloc((size_t)(RAFT_MAX_SERVERS + 1) * opts->max_inflight,
               sizeof *r->inflight_mem);
    if (r->inflight_mem == NULL) {
        goto err_log;
    }
    /* The boot configuration is the one at the snapshot; entries after
     * it may change it. */
    membership_reset(r, &boot->conf);
    membership_recompute(r);

    become_follower(r, r->term, 0);
    r->reported_hs = boot->hard_state;
    r->reported_hs.commit = r->commit;
    r->reported_role = RAFT_FOLLOWER;
    r->reported_leader = 0;
    /* Whatever the boot state held was durable, and its snapshot applied. */
    assert(r->log.stable == log_last_index(&r->log));
    assert(r->applied >= boot->snapshot_index && r->applied <= r->commit);
    RAFT_CHECK_INVARIANTS(r);
    *out = r;
    return 0;

err_log:
    log_fini(&r->log);
err_raft:
    free(r);
err:
    return rv;
}

void raft_free(struct raft *r)
{
    if (r == NULL) {
        return;
    }
    /* It may go with an update out (a node that crashed mid-write). */
    assert(r->install_pending == (r->install_buf != NULL));
    log_fini(&r->log);
    arena_fini(&r->arena);
    free(r->inflight_mem);
    free(r->outbox);
    free(r->reads);
    free(r->reads_ready);
    free(r->install_buf);
    snapshot_rx_reset(r);
    free(r);
}

/* ------------------------------------------------------------------------ */
/* Inputs                                                                    */
/* ------------------------------------------------------------------------ */

/* Every entry point that changes the instance: the calling contract on
 * the way in, raft_invariants() on the way out (RAFT_CHECK_INVARIANTS). */

int raft_tick(struct raft *r)
{
    assert(!r->update_out);
    int rv = election_tick(r);
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

int raft_campaign(struct raft *r)
{
    assert(!r->update_out);
    int rv = r->role == RAFT_LEADER
                 ? COMMON_EINVAL
                 : election_start(r, r->opts.pre_vote, false);
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

static int propose(struct raft *r,
                   const void *data,
                   size_t len,
                   raft_index *index,
                   raft_term *term)
{
    if (r->role != RAFT_LEADER) {
        return COMMON_ENOTLEADER;
    }
    if (r->transfer_to != 0) {
        return COMMON_EBUSY; /* handing leadership over (transfer.c) */
    }
    if (len > r->opts.max_bytes_per_msg) {
        return COMMON_ETOOBIG;
    }
    if (len > 0 && data == NULL) {
        return COMMON_EINVAL;
    }
    int rv = log_append_copy(&r->log, r->term, RAFT_ENTRY_COMMAND, data, len);
    if (rv != 0) {
        return rv;
    }
    raft_index last = log_last_index(&r->log);
    struct progress *self = raft_progress_of(r, r->id);
    /* A leader is a voter of its configuration (convert.c). */
    assert(self != NULL);
    /* Its match moves when the entry is durable (raft_update_done). */
    self->next = last + 1;
#ifdef RAFT_PLANTED_BUG_EARLY_SELF_MATCH
    /* Test-only build (raft_random_planted): the leader counts its own
     * entry before it is durable. raft_invariants() must catch it. */
    self->match = last;
#endif
    if (index != NULL) {
        *index = last;
    }
    if (term != NULL) {
        *term = r->term;
    }
    return 0;
}

int raft_propose(struct raft *r,
                 const void *data,
                 size_t len,
                 raft_index *index,
                 raft_term *term)
{
    assert(!r->update_out);
    int rv = propose(r, data, len, index, term);
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

/* The term and every index or term field of @m against RAFT_TERM_MAX and
 * RAFT_INDEX_MAX (raft.h): the reason for a rejection, or NULL. No correct
 * node sends a value above them, and adopting one would let `term + 1` or
 * `index + n` wrap (a term of 2^64-1 once made every later election run in
 * term 0). An append's entries are present and its indexes do not
 * overflow (message_invalid checks that first). */
static const char *message_beyond_bounds(const struct raft_message *m)
{
    /* message_invalid() checked the type and the append's entries. */
    assert(m->type >= 1 && m->type <= RAFT_MSG_TYPE_MAX);
    assert(m->type != RAFT_MSG_APPEND || m->append.n_entries == 0 ||
           m->append.entries != NULL);
    if (m->term > RAFT_TERM_MAX) {
        return "term beyond RAFT_TERM_MAX";
    }
    switch (m->type) {
        case RAFT_MSG_VOTE:
            if (m->vote.last_index > RAFT_INDEX_MAX) {
                return "vote last index beyond RAFT_INDEX_MAX";
            }
            if (m->vote.last_term > RAFT_TERM_MAX) {
                return "vote last term beyond RAFT_TERM_MAX";
            }
            return NULL;
        case RAFT_MSG_APPEND: {
            const struct raft_append *a = &m->append;
            if (a->prev_index > RAFT_INDEX_MAX ||
                a->n_entries > RAFT_INDEX_MAX - a->prev_index) {
                return "append index beyond RAFT_INDEX_MAX";
            }
            if (a->prev_term > RAFT_TERM_MAX) {
                return "append previous term beyond RAFT_TERM_MAX";
            }
            if (a->commit > RAFT_INDEX_MAX) {
                return "append commit beyond RAFT_INDEX_MAX";
            }
            for (size_t k = 0; k < a->n_entries; k++) {
                if (a->entries[k].index > RAFT_INDEX_MAX ||
                    a->entries[k].term > RAFT_TERM_MAX) {
                    return "append entry index or term beyond the bounds";
                }
            }
            return NULL;
        }
        case RAFT_MSG_APPEND_RESP:
            if (m->append_resp.index > RAFT_INDEX_MAX ||
                m->append_resp.hint_index > RAFT_INDEX_MAX) {
                return "append response index beyond RAFT_INDEX_MAX";
            }
            if (m->append_resp.hint_term > RAFT_TERM_MAX) {
                return "append response hint term beyond RAFT_TERM_MAX";
            }
            return NULL;
        case RAFT_MSG_HEARTBEAT:
            if (m->heartbeat.commit > RAFT_INDEX_MAX) {
                return "heartbeat commit beyond RAFT_INDEX_MAX";
            }
            if (m->heartbeat.context > RAFT_INDEX_MAX) {
                return "heartbeat read round beyond RAFT_INDEX_MAX";
            }
            if (m->heartbeat.match > RAFT_INDEX_MAX) {
                return "heartbeat match beyond RAFT_INDEX_MAX";
            }
            return NULL;
        case RAFT_MSG_HEARTBEAT_RESP:
            if (m->heartbeat_resp.context > RAFT_INDEX_MAX) {
                return "heartbeat response read round beyond RAFT_INDEX_MAX";
            }
            if (m->heartbeat_resp.log_end > RAFT_INDEX_MAX) {
                return "heartbeat response log end beyond RAFT_INDEX_MAX";
            }
            return NULL;
        case RAFT_MSG_SNAPSHOT:
            if (m->snapshot.index > RAFT_INDEX_MAX ||
                m->snapshot.term > RAFT_TERM_MAX) {
                return "snapshot index or term beyond the bounds";
            }
            return NULL;
        case RAFT_MSG_SNAPSHOT_RESP:
            if (m->snapshot_resp.index > RAFT_INDEX_MAX ||
                m->snapshot_resp.term > RAFT_TERM_MAX) {
                return "snapshot response index or term beyond the bounds";
            }
            return NULL;
        default:
            return NULL;
    }
}

/* Structural checks on a message, before any protocol rule: the reason for
 * a rejection, or NULL when the message is well formed. */
static const char *message_invalid(const struct raft *r,
                                   const struct raft_message *m)
{
    assert(m != NULL);
    if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX) {
        return "unknown message type";
    }
    if (m->to != r->id) {
        return "message addressed to another node";
    }
    if (m->from == r->id) {
        return "message from this node itself";
    }
    if (m->from == 0) {
        return "message from node 0";
    }
    /* Requests are taken from any node: a follower that has not yet
     * appended the entry that added its leader must still hear it, and
     * vote for a candidate its log is behind (membership.c). Answers come
     * only from the configuration's members: only they have progress. */
    if ((m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_APPEND_RESP ||
         m->type == RAFT_MSG_HEARTBEAT_RESP ||
         m->type == RAFT_MSG_SNAPSHOT_RESP) &&
        raft_configuration_find(&r->conf, m->from) < 0) {
        return "message from a node outside the configuration";
    }
    if ((m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_APPEND ||
         m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_SNAPSHOT ||
         m->type == RAFT_MSG_TIMEOUT_NOW) &&
        m->term == 0) {
        return "request with term 0";
    }
    if (m->type == RAFT_MSG_APPEND) {
        const struct raft_append *a = &m->append;
        if (a->n_entries > 0 && a->entries == NULL) {
            return "append with entries missing";
        }
        if (a->prev_index > UINT64_MAX - a->n_entries) {
            return "append index overflow";
        }
    }
    const char *why = message_beyond_bounds(m);
    if (why == NULL) {
        why = snapshot_message_invalid(m);
    }
    if (why != NULL) {
        return why;
    }
    if (m->type == RAFT_MSG_APPEND) {
        const struct raft_append *a = &m->append;
        if (a->prev_term > m->term ||
            (a->prev_index == 0) != (a->prev_term == 0)) {
            return "append with an impossible previous term";
        }
        raft_term prev = a->prev_term;
        for (size_t k = 0; k < a->n_entries; k++) {
            const struct raft_entry *e = &a->entries[k];
            if (e->index != a->prev_index + 1 + k) {
                return "append entries not consecutive";
            }
            if (e->term < prev || e->term > m->term || e->term == 0) {
                return "append entry with an impossible term";
            }
            if (!entry_type_valid(e->type)) {
                return "append entry of unknown type";
            }
            if (e->data.len > 0 && e->data.base == NULL) {
                return "append entry data missing";
            }
            if (!membership_entry_valid(e)) {
                return "append with a damaged configuration entry";
            }
            prev = e->term;
        }
    }
    return NULL;
}

static int step(struct raft *r, const struct raft_message *m)
{
    if (m == NULL) {
        return raft_drop(r, "no message");
    }
    const char *invalid = message_invalid(r, m);
    if (invalid != NULL) {
        return raft_drop(r, invalid);
    }

    int rv;
    if (raft_term_rules(r, m, &rv)) {
        return rv;
    }

    /* The term rules are done: what goes on is of this node's term (or
     * returned above). */
    assert(m->term == r->term);
    switch (m->type) {
        case RAFT_MSG_VOTE:
            return election_on_vote(r, m);
        case RAFT_MSG_VOTE_RESP:
            return election_on_vote_resp(r, m);
        case RAFT_MSG_APPEND:
            return replication_on_append(r, m);
        case RAFT_MSG_APPEND_RESP:
            return replication_on_append_resp(r, m);
        case RAFT_MSG_HEARTBEAT:
            return replication_on_heartbeat(r, m);
        case RAFT_MSG_HEARTBEAT_RESP:
            return replication_on_heartbeat_resp(r, m);
        case RAFT_MSG_SNAPSHOT:
            return snapshot_on_chunk(r, m);
        case RAFT_MSG_SNAPSHOT_RESP:
            return snapshot_on_resp(r, m);
        case RAFT_MSG_TIMEOUT_NOW:
            return transfer_on_timeout_now(r, m);
        default:
            return raft_drop(r, "unknown message type");
    }
}

int raft_step(struct raft *r, const struct raft_message *m)
{
    assert(!r->update_out);
    int rv = step(r, m);
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

/* ------------------------------------------------------------------------ */
/* Updates                                                                   */
/* ------------------------------------------------------------------------ */

static bool message_early(const struct raft_message *m)
{
    assert(m->type >= 1 && m->type <= RAFT_MSG_TYPE_MAX);
    return m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
           m->type == RAFT_MSG_SNAPSHOT;
}

static struct raft_entry *copy_range(struct raft *r,
                                     raft_index from,
                                     raft_index to,
                                     size_t *n)
{
    *n = 0;
    if (from > to) {
        return NULL;
    }
    /* Every index in the range is in the log: log_get() never fails. */
    assert(from > r->log.snapshot_index && to <= log_last_index(&r->log));
    size_t count = (size_t)(to - from + 1);
    struct raft_entry *out = arena_alloc(&r->arena, count * sizeof *out);
    if (out == NULL) {
        return NULL;
    }
    for (size_t k = 0; k < count; k++) {
        out[k] = *log_get(&r->log, from + k);
    }
    *n = count;
    return out;
}

static bool update_get(struct raft *r, struct raft_update *u)
{
    /* Nothing beyond the bounds is ever handed out to persist (raft.h):
     * input is checked, and the core stops at them. */
    assert(r->term <= RAFT_TERM_MAX && r->commit <= RAFT_INDEX_MAX &&
           log_last_index(&r->log) <= RAFT_INDEX_MAX);
    memset(u, 0, sizeof *u);
    /* On failure the messages wait for the next update; nothing is lost
     * that Raft does not already retry. */
    (void)replication_flush(r);

    u->hard_state.term = r->term;
    u->hard_state.vote = r->vote;
    u->hard_state.commit = r->commit;
    u->hard_state_changed = raft_hard_state_changed(r);
    u->role = r->role;
    u->leader = r->leader;
    u->role_changed =
        r->role != r->reported_role || r->leader != r->reported_leader;

    u->truncate_from = r->log.truncated_from;
    raft_index last = log_last_index(&r->log);
    if (r->log.stable < last) {
        u->entries = copy_range(r, r->log.stable + 1, last, &u->n_entries);
        if (u->entries == NULL) {
            /* No memory for the array: persist nothing now, which also
             * holds back the messages that depend on it. */
            u->truncate_from = 0;
            u->n_entries = 0;
            arena_reset(&r->arena);
            return false;
        }
    }
    /* A leader's AppendEntries, heartbeats and snapshot chunks may leave
     * before the update is persisted; everything else (votes and their
     * requests, acknowledgements) only after. Stable partition: the early
     * ones first, each group in its original order. */
    size_t early = 0;
    for (size_t k = 0; k < r->outbox_len; k++) {
        if (message_early(&r->outbox[k])) {
            if (k != early) {
                struct raft_message m = r->outbox[k];
                memmove(&r->outbox[early + 1], &r->outbox[early],
                        (k - early) * sizeof *r->outbox);
                r->outbox[early] = m;
            }
            early++;
        }
    }
    u->messages = r->outbox;
    u->n_messages = r->outbox_len;
    u->n_messages_early = early;
    raft_index applied = r->applied;
    if (r->install_pending) {
        u->snapshot = &r->install;
        if (applied < r->install.index) {
            applied = r->install.index;
        }
    }
    if (applied < r->commit) {
        u->committed = copy_range(r, applied + 1, r->commit, &u->n_committed);
    }
    u->reads = r->reads_ready;
    u->n_reads = r->reads_ready_len;

    if (!u->hard_state_changed && !u->role_changed && u->truncate_from == 0 &&
        u->n_entries == 0 && u->n_messages == 0 && u->n_committed == 0 &&
        u->n_reads == 0 && u->snapshot == NULL) {
        arena_reset(&r->arena);
        return false;
    }
    r->update_out = true;
    return true;
}

bool raft_update_get(struct raft *r, struct raft_update *u)
{
    assert(!r->update_out);
    bool ready = update_get(r, u);
    RAFT_CHECK_INVARIANTS(r);
    return ready;
}

void raft_update_done(struct raft *r, const struct raft_update *u)
{
    assert(r->update_out);
    if (u->hard_state_changed) {
        r->reported_hs = u->hard_state;
    }
    r->reported_role = u->role;
    r->reported_leader = u->leader;
    if (u->n_entries > 0) {
        raft_index persisted = u->entries[u->n_entries - 1].index;
        if (persisted > r->log.stable) {
            r->log.stable = persisted;
        }
    }
    /* The caller is done with what was reported; cleared before the leader
     * block below, which may confirm reads (a single voter's first commit
     * of its term) that the next update must report. */
    r->outbox_len = 0;
    r->reads_ready_len = 0;
    if (r->role == RAFT_LEADER) {
        /* The leader's own log counts towards commitment only as far as it
         * is durable (Raft dissertation §10.2.1: the leader writes to its
         * disk in parallel with sending AppendEntries). */
        struct progress *self = raft_progress_of(r, r->id);
        if (self != NULL && self->match < r->log.stable) {
            self->match = r->log.stable;
            replication_maybe_commit(r);
        }
    }
    if (u->truncate_from != 0) {
        r->log.truncated_from = 0;
    }
    if (u->snapshot != NULL) {
        if (r->applied < u->snapshot->index) {
            r->applied = u->snapshot->index;
        }
        r->install_pending = false;
        free(r->install_buf); /* after the caller is done with the update */
        r->install_buf = NULL;
    }
    if (u->n_committed > 0) {
        r->applied = u->committed[u->n_committed - 1].index;
    }
    arena_reset(&r->arena);
    log_empty_trash(&r->log);
    r->update_out = false;
    RAFT_CHECK_INVARIANTS(r);
}

int raft_compact(struct raft *r, raft_index index)
{
    assert(!r->update_out);
    int rv = 0;
    if (index > r->applied || index > log_last_index(&r->log)) {
        rv = COMMON_EINVAL;
    } else if (index > r->log.snapshot_index) {
        membership_compacting(r, index);
        log_compact(&r->log, index, log_term(&r->log, index));
    }
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

/* ------------------------------------------------------------------------ */
/* Introspection                                                             */
/* ------------------------------------------------------------------------ */

raft_id raft_self(const struct raft *r)
{
    assert(r->id != 0 && r->id == r->opts.id);
    return r->id;
}

enum raft_role raft_role(const struct raft *r)
{
    assert(r->role >= RAFT_FOLLOWER && r->role <= RAFT_LEADER);
    return r->role;
}

raft_id raft_leader(const struct raft *r)
{
    assert(r->leader != r->id || r->role == RAFT_LEADER);
    return r->leader;
}

raft_term raft_current_term(const struct raft *r)
{
    assert(r->term <= RAFT_TERM_MAX);
    return r->term;
}

raft_id raft_voted_for(const struct raft *r)
{
    assert(r != NULL);
    return r->vote;
}

raft_index raft_commit_index(const struct raft *r)
{
    assert(r->commit <= log_last_index(&r->log));
    return r->commit;
}

raft_index raft_applied_index(const struct raft *r)
{
    assert(r->applied <= r->commit);
    return r->applied;
}

raft_index raft_first_index(const struct raft *r)
{
    assert(r->log.snapshot_index <= r->commit);
    return log_first_index(&r->log);
}

raft_index raft_last_index(const struct raft *r)
{
    assert(r->log.stable <= log_last_index(&r->log));
    return log_last_index(&r->log);
}

raft_term raft_last_term(const struct raft *r)
{
    raft_term t = log_last_term(&r->log);
    assert(t <= r->term);
    return t;
}

raft_term raft_term_at(const struct raft *r, raft_index index)
{
    raft_term t = log_term(&r->log, index);
    assert(t <= r->term);
    return t;
}

const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index)
{
    const struct raft_entry *e = log_get(&r->log, index);
    assert(e == NULL || e->index == index);
    return e;
}

const struct raft_configuration *raft_config(const struct raft *r)
{
    assert(r->conf.count >= 1 && r->conf.count <= RAFT_MAX_SERVERS);
    return &r->conf;
}

bool raft_progress(const struct raft *r,
                   raft_id id,
                   raft_index *match,
                   raft_index *next)
{
    if (r->role != RAFT_LEADER) {
        return false;
    }
    int k = raft_configuration_find(&r->conf, id);
    if (k < 0) {
        return false;
    }
    assert(r->progress[k].id == id);
    if (match != NULL) {
        *match = r->progress[k].match;
    }
    if (next != NULL) {
        *next = r->progress[k].next;
    }
    return true;
}

const char *raft_last_drop_reason(const struct raft *r)
{
    /* raft_drop() sets the reason as it counts the drop. */
    assert(r->drop_reason != NULL || r->stats.msgs_dropped == 0);
    return r->drop_reason;
}

void raft_get_stats(const struct raft *r, struct raft_stats *s)
{
    /* Every term led was campaigned for (become_candidate). */
    assert(r->stats.leader_terms <= r->stats.elections_started);
    *s = r->stats;
}
