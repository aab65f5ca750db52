/*
 * Internal state of the Raft core, shared by its source files:
 *   log.c          the in-memory log (a ring of entries after the snapshot)
 *   progress.c     the leader's view of each follower, in-flight window
 *   election.c     ticks, PreVote, RequestVote, CheckQuorum
 *   convert.c      role transitions, checked against a table of legal ones
 *   replication.c  AppendEntries both ways, heartbeats, commitment
 *   read.c         ReadIndex rounds
 *   snapshot.c     InstallSnapshot both ways
 *   raft.c         the rules of all servers: terms, persistent state
 *   instance.c     construction, message dispatch, updates, introspection
 *   invariants.c   raft_invariants(): the facts all of the above rely on
 */
#ifndef RAFT_INTERNAL_H
#define RAFT_INTERNAL_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* ------------------------------------------------------------------------ */
/* Log                                                                       */
/* ------------------------------------------------------------------------ */

/* Entries snapshot_index+1 .. snapshot_index+count in a ring buffer. Entry
 * data is owned by the log (one allocation per entry). Memory released by a
 * truncation or compaction goes to the trash and is freed only when the
 * current update is done, because messages and update arrays may point to
 * it. */
struct raft_log
{
    struct raft_entry *ring;
    size_t cap;  /* power of two */
    size_t head; /* ring position of index snapshot_index + 1 */
    size_t count;
    raft_index snapshot_index;
    raft_term snapshot_term;
    /* Persistence: entries up to @stable are on stable storage. */
    raft_index stable;
    /* Lowest index truncated since the last update, 0 if none. */
    raft_index truncated_from;
    void **trash;
    size_t trash_len;
    size_t trash_cap;
};

int log_init(struct raft_log *l, raft_index snapshot_index, raft_term term);
void log_fini(struct raft_log *l);
raft_term log_last_term(const struct raft_log *l);
raft_index log_first_index(const struct raft_log *l);

/* The three lookups below run for every entry sent, checked and applied,
 * tens of millions of times in a simulated run: defined here so that they
 * inline. */
static inline raft_index log_last_index(const struct raft_log *l)
{
    /* The log never passes RAFT_INDEX_MAX (log_append_copy). */
    assert(l->count <= RAFT_INDEX_MAX - l->snapshot_index);
    return l->snapshot_index + l->count;
}

/* Entry at @i or NULL. */
static inline const struct raft_entry *log_get(const struct raft_log *l,
                                               raft_index i)
{
    if (i <= l->snapshot_index || i > log_last_index(l)) {
        return NULL;
    }
    size_t k = (size_t)(i - l->snapshot_index - 1);
    assert(k < l->cap);
    const struct raft_entry *e = &l->ring[(l->head + k) & (l->cap - 1)];
    /* The ring keeps each entry at the slot its index names. */
    assert(e->index == i);
    return e;
}

/* Term at @i: the snapshot term at snapshot_index, 0 when not held. */
static inline raft_term log_term(const struct raft_log *l, raft_index i)
{
    if (i == l->snapshot_index) {
        return l->snapshot_term;
    }
    const struct raft_entry *e = log_get(l, i);
    assert(e == NULL || e->term >= 1);
    return e ? e->term : 0;
}

/* Appends a copy of @e (data copied) at last_index + 1; COMMON_ERANGE when
 * the log already ends at RAFT_INDEX_MAX. */
int log_append_copy(struct raft_log *l,
                    raft_term term,
                    enum raft_entry_type type,
                    const void *data,
                    size_t len);
/* Removes entries >= @i (i > snapshot_index), deferring frees. */
void log_truncate(struct raft_log *l, raft_index i);
/* Removes entries <= @i (i <= last index), deferring frees. */
void log_compact(struct raft_log *l, raft_index i, raft_term term_at_i);
/* Discards every entry: the log now starts after a snapshot at @i. */
void log_reset(struct raft_log *l, raft_index i, raft_term term);
/* First index of the run of entries of term log_term(@i) ending at @i. */
raft_index log_term_first_index(const struct raft_log *l, raft_index i);
/* Last index holding @term, or 0 when the log holds no entry of @term. */
raft_index log_term_last_index(const struct raft_log *l, raft_term term);
/* Frees memory released since the last call. */
void log_empty_trash(struct raft_log *l);

/* ------------------------------------------------------------------------ */
/* Progress (leader only)                                                    */
/* ------------------------------------------------------------------------ */

enum progress_state {
    PROGRESS_PROBE = 1,     /* one AppendEntries at a time, find the match */
    PROGRESS_REPLICATE = 2, /* pipeline up to max_inflight messages */
    PROGRESS_SNAPSHOT = 3,  /* sending a snapshot, one chunk at a time */
};

struct progress
{
    raft_id id;
    bool voter;
    bool is_self;
    enum progress_state state;
    raft_index match;
    raft_index next;
    /* Probe: an AppendEntries is out and unanswered; wait for its answer
     * or the next heartbeat response. */
    bool probe_sent;
    /* Heard from since the last CheckQuorum round. */
    bool recent_active;
    /* Send an AppendEntries even without entries: its log check tells
     * whether earlier messages to a lagging follower were lost. */
    bool send_empty;
    /* Last index of each in-flight AppendEntries, oldest first. */
    raft_index *inflight;
    unsigned inflight_start;
    unsigned inflight_count;
    /* Highest ReadIndex round this follower has answered. */
    uint64_t read_acked;
    /* SNAPSHOT: which snapshot is being sent and from where. */
    raft_index snap_index;
    uint64_t snap_offset;
    /* Vote tally for the current election (candidate, pre-candidate). */
    int8_t vote; /* 0 unknown, 1 granted, -1 rejected */
};

void progress_reset(struct progress *p, raft_index last_index);
bool progress_inflight_full(const struct progress *p, unsigned max);
void progress_inflight_add(struct progress *p, unsigned max, raft_index i);
/* Frees the in-flight slots of messages ending at or before @i. */
void progress_inflight_free_to(struct progress *p, unsigned max, raft_index i);
void progress_inflight_free_first(struct progress *p, unsigned max);
void progress_become_probe(struct progress *p);
void progress_become_replicate(struct progress *p);
/* May the leader send this follower an AppendEntries now? */
bool progress_paused(const struct progress *p, unsigned max_inflight);

/* ------------------------------------------------------------------------ */
/* ReadIndex                                                                 */
/* ------------------------------------------------------------------------ */

struct read_request
{
    uint64_t context;
    raft_index index; /* commit index when the read was registered */
    uint64_t round;   /* heartbeat round that confirms it */
};

/* ------------------------------------------------------------------------ */
/* Arena: memory for one update, released by raft_update_done             */
/* ------------------------------------------------------------------------ */

struct arena_block
{
    struct arena_block *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

struct arena
{
    struct arena_block *head;
    struct arena_block *spare;
};

void *arena_alloc(struct arena *a, size_t size);
void arena_reset(struct arena *a);
void arena_fini(struct arena *a);

/* ------------------------------------------------------------------------ */
/* The instance                                                              */
/* ------------------------------------------------------------------------ */

struct raft
{
    struct raft_options opts;
    raft_id id;
    struct common_prng prng;

    /* Persistent state (Figure 2). */
    raft_term term;
    raft_id vote;
    struct raft_log log;

    /* Volatile state (Figure 2). */
    raft_index commit;
    raft_index applied; /* handed out for application, confirmed by done */
    enum raft_role role;
    raft_id leader;

    /* The configuration in force (membership.c): the latest in the log,
     * from the entry at conf_index, or base_conf (the one at the log's
     * start) when conf_index is 0. */
    struct raft_configuration conf;
    raft_index conf_index;
    struct raft_configuration base_conf;
    unsigned quorum; /* voters / 2 + 1, kept in step with conf */
    /* The address tables of conf and base_conf (each points at its own,
     * or has none): the core's copies, so that they outlive the entries
     * and snapshots they came from. */
    uint8_t conf_addresses[RAFT_ADDRESSES_MAX];
    uint8_t base_addresses[RAFT_ADDRESSES_MAX];

    /* The node's latest snapshot, which a leader sends (data borrowed from
     * the caller, see raft_snapshot_set); index 0 when none. Its
     * configuration is kept encoded in snap_conf, which snap.conf's
     * address table points into. */
    struct raft_snapshot snap;
    uint8_t snap_conf[RAFT_CONF_ENCODED_MAX];
    size_t snap_conf_len;

    /* A snapshot being received (follower). */
    struct
    {
        raft_index index;
        raft_term term;
        raft_id from;
        uint8_t *buf;
        size_t len;
        size_t cap;
    } rx;
    /* A received snapshot handed out in the next update; its buffer is
     * freed at raft_update_done. */
    bool install_pending;
    struct raft_snapshot install;
    uint8_t *install_buf;
    /* One per server of conf, in its order, then this node's own when it
     * is not in conf (membership.c). */
    struct progress progress[RAFT_MAX_SERVERS + 1];
    uint32_t n_progress;
    raft_index *inflight_mem; /* (RAFT_MAX_SERVERS + 1) * max_inflight */

    /* Leadership transfer under way (leader; transfer.c): to whom, for
     * how many ticks, and whether TimeoutNow went out. */
    raft_id transfer_to;
    unsigned transfer_elapsed;
    bool transfer_sent;

    /* Timers, in ticks. */
    unsigned election_elapsed;
    unsigned heartbeat_elapsed;
    unsigned randomized_timeout;

    /* ReadIndex (leader). */
    struct read_request *reads;
    size_t reads_len;
    size_t reads_cap;
    uint64_t read_round;     /* last round number sent */
    bool read_round_pending; /* a new round must go out at next flush */
    struct raft_read *reads_ready;
    size_t reads_ready_len;
    size_t reads_ready_cap;

    /* What the last update reported (to detect changes). */
    struct raft_hard_state reported_hs;
    enum raft_role reported_role;
    raft_id reported_leader;

    /* Outbox of messages not yet handed to the caller. */
    struct raft_message *outbox;
    size_t outbox_len;
    size_t outbox_cap;

    struct arena arena;
    bool update_out; /* between raft_update_get and raft_update_done */

    const char *drop_reason;
    struct raft_stats stats;
};

/* invariants.c: raft_invariants() (raft.h) at the end of every entry point
 * in builds with RAFTKV_INVARIANTS, which define RAFT_INVARIANTS; nothing
 * in others. */
#ifdef RAFT_INVARIANTS
#define RAFT_CHECK_INVARIANTS(r) raft_invariants(r)
#else
#define RAFT_CHECK_INVARIANTS(r) ((void)(r))
#endif

/* raft.c */
int raft_send(struct raft *r, const struct raft_message *m);
int raft_drop(struct raft *r, const char *reason);
void raft_logf(struct raft *r,
               enum common_log_level level,
               const char *fmt,
               ...) __attribute__((format(printf, 3, 4)));
struct progress *raft_progress_of(struct raft *r, raft_id id);
unsigned raft_quorum(const struct raft *r);

/* membership.c: the configuration in force and changes to it. */
/* Sets the configuration at the log's start (boot, snapshot installed)
 * and in force; every progress record starts afresh. */
void membership_reset(struct raft *r, const struct raft_configuration *conf);
/* Puts in force the latest configuration entry of the log, or base_conf. */
void membership_recompute(struct raft *r);
/* After log_truncate(from): the entry in force may be gone. */
void membership_truncated(struct raft *r, raft_index from);
/* After appending @e: a configuration entry takes effect at once.
 * COMMON_EINVAL when it does not decode (checked before, normally). */
int membership_appended(struct raft *r, const struct raft_entry *e);
/* Before compacting the log up to @index: base_conf moves there. */
void membership_compacting(struct raft *r, raft_index index);
/* True unless @e is a configuration entry that does not decode. */
bool membership_entry_valid(const struct raft_entry *e);
bool membership_self_voter(const struct raft *r);
/* A voter of the configuration in force, or, while it is uncommitted, of
 * the one before it. */
bool membership_may_campaign(const struct raft *r);
/* After the commit index moved: a leader that is not a voter of a
 * committed configuration steps down. */
void membership_committed(struct raft *r);

/* transfer.c: leadership transfer. */
/* An acknowledgement from @from: TimeoutNow when it is the target and now
 * holds the whole log. */
int transfer_on_progress(struct raft *r, raft_id from);
/* A leader's tick: gives up a transfer after an election timeout. */
void transfer_tick(struct raft *r);
int transfer_on_timeout_now(struct raft *r, const struct raft_message *m);

/* raft.c: the rules of Figure 2 that every server applies. */
/* Term and vote from the boot state's hard state (raft_new). */
void raft_restore_hard_state(struct raft *r, const struct raft_hard_state *hs);
/* The term rules for a valid message: true when they dealt with it (*rv
 * is raft_step's result), false when it goes on, of this node's term. */
bool raft_term_rules(struct raft *r, const struct raft_message *m, int *rv);
/* Whether the hard state differs from the one last reported. */
bool raft_hard_state_changed(const struct raft *r);

/* convert.c: every role change (the diagram and the table are there). */
/* Is a change from role @from (0: an instance being built) to @to legal? */
bool convert_legal(int from, int to);
/* To FOLLOWER of @term (>= the current one) under @leader (0: unknown). */
void become_follower(struct raft *r, raft_term term, raft_id leader);
/* To PRE_CANDIDATE, or to CANDIDATE of term + 1 voting for itself; both
 * reset the election timer and the vote tally. */
void become_pre_candidate(struct raft *r);
void become_candidate(struct raft *r);
/* From CANDIDATE to LEADER: appends the no-op of §8 and resets the
 * progress records. */
int become_leader(struct raft *r);

/* election.c */
void election_reset_timeout(struct raft *r);
int election_tick(struct raft *r);
/* Campaigns: a PreVote round first when @pre_vote; @transfer marks the
 * vote requests as a leadership transfer's (transfer.c). */
int election_start(struct raft *r, bool pre_vote, bool transfer);
int election_on_vote(struct raft *r, const struct raft_message *m);
int election_on_vote_resp(struct raft *r, const struct raft_message *m);
bool election_in_lease(const struct raft *r);

/* replication.c */
int replication_on_append(struct raft *r, const struct raft_message *m);
int replication_on_append_resp(struct raft *r, const struct raft_message *m);
int replication_on_heartbeat(struct raft *r, const struct raft_message *m);
int replication_on_heartbeat_resp(struct raft *r, const struct raft_message *m);
int replication_heartbeat_all(struct raft *r);
/* Builds the AppendEntries each follower is due; called by update_get. */
int replication_flush(struct raft *r);
bool replication_maybe_commit(struct raft *r);
/* Called for messages of the current term from its leader (AppendEntries,
 * InstallSnapshot): a candidate or another follower's follower follows it;
 * a leader drops it. */
int replication_accept_leader(struct raft *r, raft_id leader);

/* snapshot.c */
int snapshot_send(struct raft *r, struct progress *p);
int snapshot_on_chunk(struct raft *r, const struct raft_message *m);
int snapshot_on_resp(struct raft *r, const struct raft_message *m);
void snapshot_rx_reset(struct raft *r);
const char *snapshot_message_invalid(const struct raft_message *m);
/* Replaces the configuration and rebuilds the progress records. */

/* read.c */
/* Assigns a round to waiting reads once the leader's term has a commit;
 * a single voter confirms them at once. */
void read_on_commit_in_term(struct raft *r);
/* Moves reads whose round a quorum acknowledged to the ready list. */
void read_release_confirmed(struct raft *r);
/* Starts the next confirmation round (sent on the next heartbeat). */
void read_round_start(struct raft *r);
/* No read round is waiting for its quorum. */
bool read_round_idle(const struct raft *r);
void read_fail_all(struct raft *r);
int read_push_ready(struct raft *r, uint64_t context, raft_index index);

#endif /* RAFT_INTERNAL_H */
