/*
 * raft: the Raft consensus core as a pure state machine.
 *
 * The core does no I/O, reads no clock, starts no thread and keeps no global
 * state. Time enters as ticks (raft_tick), randomness from a PRNG seeded per
 * instance, network input as messages (raft_step), client input as proposals
 * (raft_propose, raft_read_index). Everything the caller must do comes out as
 * one update (struct raft_update), in the spirit of etcd-io/raft's Ready:
 *
 *     while (raft_update_get(r, &u)) {
 *         send u.messages[0 .. u.n_messages_early)   (may go first)
 *         persist u.hard_state (if changed), drop entries >= u.truncate_from,
 *         append u.entries          -- and make them durable, THEN
 *         send the rest of u.messages,
 *         apply u.committed,
 *         serve u.reads once applied >= their index,
 *         raft_update_done(r, &u);
 *     }
 *
 * The persist-before-send rule is what makes votes and acknowledgements
 * safe: a vote or an ack leaves the node only after the state it reports is
 * on stable storage (Raft paper, Figure 2: "Updated on stable storage before
 * responding to RPCs"). A leader's AppendEntries may go out while its own
 * disk write is in progress (dissertation §10.2.1): the leader counts its
 * own log towards a quorum only once raft_update_done() says it is
 * durable.
 *
 * Memory: everything an update points to (entries, their data, messages)
 * stays valid until raft_update_done(). Between raft_update_get() and
 * raft_update_done() the caller must not call any other function that
 * changes the instance. Data passed in (proposals, messages) is copied: it is
 * borrowed for the duration of the call only.
 *
 * Errors: functions return 0 or a negative code from common/common.h.
 * Malformed or unexpected input (unknown message type, an index beyond the
 * log, a message from a node outside the configuration, a term or index
 * above RAFT_TERM_MAX or RAFT_INDEX_MAX) is dropped with a reason
 * (raft_last_drop_reason, and the optional log callback), never asserted
 * on.
 *
 * docs/raft.md has the role diagram and which file implements which rule.
 */
#ifndef RAFT_RAFT_H
#define RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

typedef uint64_t raft_id;    /* node id; 0 means "none" */
typedef uint64_t raft_term;  /* election term; 0 before the first election */
typedef uint64_t raft_index; /* log index; the first entry has index 1 */

/* The largest term and the largest log index the core accepts, holds or
 * produces: 2^62 each. A real cluster never comes near them (2^62 elections
 * at one a millisecond take 146 million years), so any value above is
 * forged or damaged input, and the bounds keep every `term + 1` and
 * `index + n` the core computes far from wrapping around 2^64.
 *
 *   - A message from a peer carrying a term or any index or term field
 *     above its bound (prev index/term, commit, entries, snapshot index and
 *     term, reject hints, match and last indexes, the ReadIndex round in a
 *     heartbeat's context) is malformed: dropped with a reason, never
 *     adopted, never persisted.
 *   - raft_new() refuses a boot state with a term, commit, snapshot or
 *     entry beyond them (COMMON_EINVAL).
 *   - A node whose term is RAFT_TERM_MAX has no term left to campaign in:
 *     it starts no election or pre-vote (raft_campaign() returns
 *     COMMON_ERANGE; a timeout just restarts the timer, and a candidate
 *     becomes a follower). It still votes, follows and, if it leads, leads
 *     in that last term.
 *   - A log whose last index is RAFT_INDEX_MAX takes no more entries:
 *     raft_propose() returns COMMON_ERANGE (and a new leader appends no
 *     no-op). raft_read_index() likewise refuses once the ReadIndex round
 *     counter has reached RAFT_INDEX_MAX.
 *
 * The bounds are no authentication: a peer that may send any term can still
 * push the cluster to RAFT_TERM_MAX, where it elects no more leaders. Only
 * an authenticated transport keeps forged peers out. */
#define RAFT_TERM_MAX  (UINT64_C(1) << 62)
#define RAFT_INDEX_MAX (UINT64_C(1) << 62)

/* Upper bound on servers in one configuration. */
#define RAFT_MAX_SERVERS 32
/* Upper bound on one server's client address, in bytes. */
#define RAFT_ADDRESS_MAX 255
/* Upper bound on a configuration's address table (raft_configuration). */
#define RAFT_ADDRESSES_MAX (RAFT_MAX_SERVERS * (1 + RAFT_ADDRESS_MAX))
/* Upper bound on an encoded configuration. */
#define RAFT_CONF_ENCODED_MAX (8 + 9 * RAFT_MAX_SERVERS + RAFT_ADDRESSES_MAX)

/* ------------------------------------------------------------------------ */
/* Data                                                                      */
/* ------------------------------------------------------------------------ */

enum raft_entry_type {
    RAFT_ENTRY_COMMAND = 1, /* opaque state machine command */
    RAFT_ENTRY_NOOP = 2,    /* appended by each new leader (§8) */
    RAFT_ENTRY_CONFIG = 3,  /* encoded struct raft_configuration */
};

struct raft_entry
{
    raft_term term;
    raft_index index;
    enum raft_entry_type type;
    struct common_buf data; /* owner: whoever produced the entry */
};

/* The state that must be durable before the node acts on it. */
struct raft_hard_state
{
    raft_term term;
    raft_id vote; /* candidate voted for in term, or 0 */
    raft_index commit;
};

enum raft_server_role {
    RAFT_VOTER = 1,
    RAFT_LEARNER = 2, /* receives the log, never counts in a majority */
};

struct raft_server
{
    raft_id id;
    enum raft_server_role role;
};

/* A cluster configuration held as data, so that snapshots can carry it and
 * configuration entries can change it.
 *
 * Each server may carry a client address (what redirects and member lists
 * name), held out of line so that the struct stays small and cheap to copy:
 * @addresses is a table of one entry per server, in the servers' order,
 * each a length byte (0: no address) and that many bytes of printable
 * ASCII, without a NUL. NULL (and @addresses_len 0) when no server has an
 * address. The table is borrowed, never owned, by the struct: a copy of
 * the struct shares it, and it lasts as long as whatever the struct came
 * from says (the buffer it was decoded from, the caller's buffer given to
 * raft_configuration_set_addresses, the core's memory until its next
 * call). raft_configuration_copy makes a copy with a table of its own. */
struct raft_configuration
{
    uint32_t count;
    struct raft_server servers[RAFT_MAX_SERVERS];
    const uint8_t *addresses;
    uint32_t addresses_len;
};

/* Builds a configuration of @count voters with the given ids.
 * COMMON_EINVAL for 0 or more than RAFT_MAX_SERVERS ids, an id of 0 or a
 * repeated id. */
int raft_configuration_voters(struct raft_configuration *conf,
                              const raft_id *ids,
                              size_t count);
/* Checks a configuration: ids non-zero and distinct, roles known, at least
 * one voter, and an address table (when there is one) of one well-formed
 * entry per server. */
bool raft_configuration_valid(const struct raft_configuration *conf);
/* Position of @id in @conf, or -1. */
int raft_configuration_find(const struct raft_configuration *conf, raft_id id);
/* Number of voters. */
unsigned raft_configuration_voter_count(const struct raft_configuration *conf);

/* The client address of server @k (0 <= k < count): its length, 0 when it
 * has none; *@addr points at its bytes (not NUL-terminated) in the
 * configuration's address table. */
size_t raft_configuration_address(const struct raft_configuration *conf,
                                  uint32_t k,
                                  const char **addr);
/* Gives the servers of @conf the addresses @addresses[0..count) (each a
 * NUL-terminated string, or NULL or "" for none), building the table in
 * @buf (capacity @cap, RAFT_ADDRESSES_MAX always suffices), which @conf
 * then borrows; all NULL or empty leaves @conf without a table. @buf may
 * not be @conf's current table. COMMON_EINVAL for an address longer than
 * RAFT_ADDRESS_MAX or with a byte that is not printable ASCII (no spaces),
 * COMMON_ERANGE when @cap is too small; @conf is unchanged on error. */
int raft_configuration_set_addresses(struct raft_configuration *conf,
                                     const char *const *addresses,
                                     uint8_t *buf,
                                     size_t cap);
/* Copies @src into @dst with its address table copied into @buf (capacity
 * @cap); COMMON_ERANGE when it does not fit (@dst unchanged). */
int raft_configuration_copy(struct raft_configuration *dst,
                            const struct raft_configuration *src,
                            uint8_t *buf,
                            size_t cap);

/* Encodes into @buf (capacity @cap); returns the size needed, which is
 * larger than @cap when the buffer was too small (nothing useful written).
 * Without addresses the encoding is the original one ("RCF1"); with any,
 * it is "RCF2": the same, then the address table. At most
 * RAFT_CONF_ENCODED_MAX bytes. */
size_t raft_configuration_encode(const struct raft_configuration *conf,
                                 uint8_t *buf,
                                 size_t cap);
/* Decodes and validates (the bytes may come from anywhere: every length is
 * checked before it is used); COMMON_ECORRUPT on bad bytes. @conf's
 * address table points into @buf, which must outlive it. */
int raft_configuration_decode(struct raft_configuration *conf,
                              const uint8_t *buf,
                              size_t len);

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

enum raft_msg_type {
    RAFT_MSG_VOTE = 1,      /* RequestVote, or PreVote when pre_vote */
    RAFT_MSG_VOTE_RESP = 2, /* its result */
    RAFT_MSG_APPEND = 3,    /* AppendEntries */
    RAFT_MSG_APPEND_RESP = 4,
    RAFT_MSG_HEARTBEAT = 5, /* commit index + read round, no log check */
    RAFT_MSG_HEARTBEAT_RESP = 6,
    RAFT_MSG_SNAPSHOT = 7,      /* InstallSnapshot: one chunk */
    RAFT_MSG_SNAPSHOT_RESP = 8, /* progress of a transfer */
    RAFT_MSG_TIMEOUT_NOW = 9,   /* leadership transfer: campaign now */
};
#define RAFT_MSG_TYPE_MAX 9

struct raft_vote
{
    raft_index last_index; /* candidate's last log index */
    raft_term last_term;   /* term of that entry */
    bool pre_vote;         /* PreVote round: nobody changes term or vote */
    /* The candidate campaigns because the leader handed it leadership
     * (TimeoutNow): voters set aside their lease (transfer.c). */
    bool transfer;
};

struct raft_vote_resp
{
    bool granted;
    bool pre_vote;
};

struct raft_append
{
    raft_index prev_index;
    raft_term prev_term;
    raft_index commit;
    const struct raft_entry *entries; /* indexes prev_index+1, +2, ... */
    size_t n_entries;
};

/* On success @index is the last index known to match the leader. On failure
 * @index is the rejected prev_index, and the hints say where the follower's
 * log diverges: hint_term is the term the follower holds at prev_index (0
 * when its log is shorter) and hint_index the first index it holds of that
 * term (its last index + 1 when shorter). Raft paper, end of §5.3. */
struct raft_append_resp
{
    bool success;
    raft_index index;
    raft_index hint_index;
    raft_term hint_term;
};

struct raft_heartbeat
{
    raft_index commit;
    uint64_t context; /* read round number (ReadIndex), echoed back */
    /* The leader's match for the receiver: the index up to which it
     * acknowledged holding the leader's log in this term. */
    raft_index match;
};

struct raft_heartbeat_resp
{
    uint64_t context;
    /* 0, or the receiver's last index + 1 when its log ends before the
     * heartbeat's match: it lost entries it had acknowledged. */
    raft_index log_end;
};

/* One chunk of a snapshot (Raft paper, Figure 13, InstallSnapshot). The
 * snapshot covers the log up to index (of term term); conf is its
 * configuration, encoded with raft_configuration_encode. Chunks go out in
 * order; done marks the last. */
struct raft_snapshot_chunk
{
    raft_index index;
    raft_term term;
    const uint8_t *conf; /* encoded configuration */
    size_t conf_len;
    uint64_t offset; /* of this chunk's data in the snapshot */
    uint64_t total;  /* size of the whole snapshot */
    const void *data;
    size_t len;
    bool done;
};

/* The receiver expects the transfer of snapshot (index, term) to continue
 * at next_offset (0: start over). Completion is acknowledged with an
 * APPEND_RESP for the snapshot's index instead. */
struct raft_snapshot_resp
{
    raft_index index;
    raft_term term;
    uint64_t next_offset;
};

struct raft_message
{
    enum raft_msg_type type;
    raft_id from;
    raft_id to;
    raft_term term;
    union
    {
        struct raft_vote vote;
        struct raft_vote_resp vote_resp;
        struct raft_append append;
        struct raft_append_resp append_resp;
        struct raft_heartbeat heartbeat;
        struct raft_heartbeat_resp heartbeat_resp;
        struct raft_snapshot_chunk snapshot;
        struct raft_snapshot_resp snapshot_resp;
    };
};

/* "VOTE", "APPEND_RESP", ... or "UNKNOWN". */
const char *raft_msg_type_name(int type);

/* ------------------------------------------------------------------------ */
/* Instance                                                                  */
/* ------------------------------------------------------------------------ */

enum raft_role {
    RAFT_FOLLOWER = 1,
    RAFT_PRE_CANDIDATE = 2,
    RAFT_CANDIDATE = 3,
    RAFT_LEADER = 4,
};

/* "follower", "pre-candidate", "candidate", "leader". */
const char *raft_role_name(int role);

struct raft_options
{
    raft_id id;
    /* Election timeout: each follower waits a random number of ticks in
     * [election_ticks, 2 * election_ticks) before campaigning (§5.2). */
    unsigned election_ticks;
    unsigned heartbeat_ticks; /* leader heartbeat period, < election_ticks */
    bool pre_vote;            /* PreVote round before each election (§9.6) */
    bool check_quorum;        /* leader steps down without a live quorum */
    unsigned max_inflight;    /* AppendEntries in flight per follower */
    unsigned max_entries_per_msg;
    size_t max_bytes_per_msg; /* entry data bytes per AppendEntries */
    /* A learner is promoted to voter only when it holds the log to within
     * promote_lag entries of the leader's last index; 0: the default,
     * max_entries_per_msg (one AppendEntries from caught up). */
    unsigned promote_lag;
    uint64_t seed; /* PRNG seed for election timeouts */
    /* Optional: what the core has to say (dropped messages at debug level;
     * elections, new leaders and installed snapshots at info; refusals to
     * campaign at warn). */
    common_log_fn log;
    void *log_data;
};

/* Fills @o with defaults: election 10 ticks, heartbeat 1 tick, PreVote and
 * CheckQuorum on, 256 in flight, 4096 entries or 1 MiB per message. The
 * caller still sets id and seed. */
void raft_options_default(struct raft_options *o);

/* What stable storage held when the node (re)started. */
struct raft_boot
{
    struct raft_hard_state hard_state;
    /* The log holds entries from snapshot_index + 1; 0 for no snapshot. */
    raft_index snapshot_index;
    raft_term snapshot_term;
    /* Configuration in force at snapshot_index (or at boot when new);
     * copied, with its addresses. */
    struct raft_configuration conf;
    /* Persisted entries after the snapshot, contiguous (copied). */
    const struct raft_entry *entries;
    size_t n_entries;
    /* The state machine already reflects entries up to here (>= the
     * snapshot index); later committed entries are handed out again. */
    raft_index applied;
};

struct raft;

/* Creates an instance; COMMON_EINVAL for inconsistent options or boot state
 * (timeouts, a bad configuration, entries not contiguous from the snapshot,
 * a commit index beyond the log, a term or index above RAFT_TERM_MAX or
 * RAFT_INDEX_MAX), COMMON_ENOMEM. */
int raft_new(const struct raft_options *opts,
             const struct raft_boot *boot,
             struct raft **out);
void raft_free(struct raft *r);

/* One unit of logical time. */
int raft_tick(struct raft *r);

/* Feeds one received message (borrowed for the call). 0 when processed,
 * COMMON_EDROPPED when dropped (see raft_last_drop_reason), COMMON_ENOMEM. */
int raft_step(struct raft *r, const struct raft_message *m);

/* Appends a command to the leader's log (data copied). Fills the index and
 * term it was given (either may be NULL). COMMON_ENOTLEADER on non-leaders,
 * COMMON_ETOOBIG above max_bytes_per_msg, COMMON_ERANGE when the log already
 * ends at RAFT_INDEX_MAX, COMMON_ENOMEM. */
int raft_propose(struct raft *r,
                 const void *data,
                 size_t len,
                 raft_index *index,
                 raft_term *term);

/* Proposes a membership change (membership.c; Raft dissertation §4.1):
 * appends a configuration entry for @next, which takes effect at once, on
 * the leader as on each follower when it appends the entry. @next must
 * differ from the configuration in force by one server: added (voter or
 * learner), removed, or its role changed. Fills the entry's index (may be
 * NULL). COMMON_ENOTLEADER on non-leaders; COMMON_EINVAL when @next is not
 * valid or changes no server or more than one; COMMON_EBUSY while another
 * configuration entry is uncommitted or before this leader has committed
 * an entry of its term; COMMON_ERANGE when it promotes a learner more than
 * promote_lag entries behind; COMMON_ENOMEM. A leader that removes or
 * demotes itself goes on leading, without counting itself in majorities,
 * until the entry commits, then steps down. */
int raft_propose_conf(struct raft *r,
                      const struct raft_configuration *next,
                      raft_index *index);

/* Hands leadership to voter @id (transfer.c; dissertation §3.10): the
 * leader stops accepting proposals and configuration changes
 * (COMMON_EBUSY), brings @id's log up to its own and sends it TimeoutNow,
 * on which @id campaigns at once. If no new leader has taken over within
 * an election timeout, the leader gives up and accepts proposals again.
 * COMMON_ENOTLEADER; COMMON_EINVAL when @id is this node or not a voter;
 * COMMON_EBUSY while another transfer is under way; COMMON_ENOMEM. */
int raft_transfer_leadership(struct raft *r, raft_id id);
/* The voter a transfer under way hands leadership to, or 0. */
raft_id raft_transferee(const struct raft *r);

/* Starts a linearizable read (ReadIndex, Raft dissertation §6.4): once a
 * quorum has confirmed this node is still leader, an update lists
 * {context, index} in reads; the caller answers after applying up to index.
 * COMMON_ENOTLEADER on non-leaders, COMMON_ERANGE once the round counter
 * has reached RAFT_INDEX_MAX. If the node loses leadership first, the read
 * is listed with index 0: it failed, and the caller should retry. */
int raft_read_index(struct raft *r, uint64_t context);

/* Forces an election now (tests, leadership hand-off). Not a leader only:
 * COMMON_EINVAL on a leader, COMMON_ERANGE at RAFT_TERM_MAX. */
int raft_campaign(struct raft *r);

/* A snapshot of the state machine: it replaces the log up to index. */
struct raft_snapshot
{
    raft_index index;
    raft_term term;
    struct raft_configuration conf;
    const void *data;
    size_t len;
};

struct raft_read
{
    uint64_t context;
    raft_index index; /* 0: failed, leadership was lost */
};

struct raft_update
{
    bool hard_state_changed;
    struct raft_hard_state hard_state;
    /* Always filled; *_changed says whether they differ from the previous
     * update's. */
    bool role_changed;
    enum raft_role role;
    raft_id leader;
    /* When non-zero, storage drops every entry with index >= truncate_from
     * before appending @entries. */
    raft_index truncate_from;
    const struct raft_entry *entries; /* to persist, in order */
    size_t n_entries;
    /* Messages to send. The first n_messages_early (a leader's
     * AppendEntries, heartbeats and snapshot chunks) may go before the
     * update is persisted, in parallel with the disk write; the rest
     * (votes, vote requests, acknowledgements) only after. */
    const struct raft_message *messages;
    size_t n_messages;
    size_t n_messages_early;
    const struct raft_entry *committed; /* apply in order */
    size_t n_committed;
    const struct raft_read *reads;
    size_t n_reads;
    /* A snapshot received from the leader, to be persisted first (before
     * the hard state and entries) and loaded into the state machine before
     * applying @committed, which then continue after it. NULL: none. */
    const struct raft_snapshot *snapshot;
};

/* Collects the next update. Returns false when there is nothing to do
 * (a core that keeps handing out updates with nothing new in them would
 * keep its caller's loop going for ever: the KV node stops serving on one).
 * Replication messages are built here, so proposals and acks that arrived
 * since the last update go out batched. COMMON_ENOMEM while building
 * messages defers them to a later update. */
bool raft_update_get(struct raft *r, struct raft_update *u);
/* The caller has persisted, sent and applied @u. */
void raft_update_done(struct raft *r, const struct raft_update *u);

/* Drops every log entry up to and including @index from memory (the caller
 * holds a snapshot covering them). @index must be applied. */
int raft_compact(struct raft *r, raft_index index);

/* Gives the core the node's latest snapshot (already persisted by the
 * caller), which a leader sends to followers that need entries it no
 * longer holds. @s->data is borrowed until the next raft_snapshot_set() or
 * raft_free(); the rest is copied. COMMON_EINVAL when @s->index is beyond
 * the applied index or its term is not the log's term there. */
int raft_snapshot_set(struct raft *r, const struct raft_snapshot *s);

/* ------------------------------------------------------------------------ */
/* Introspection (tests, harness monitors, status)                           */
/* ------------------------------------------------------------------------ */

raft_id raft_self(const struct raft *r);
enum raft_role raft_role(const struct raft *r);
raft_id raft_leader(const struct raft *r);
raft_term raft_current_term(const struct raft *r);
raft_id raft_voted_for(const struct raft *r);
raft_index raft_commit_index(const struct raft *r);
raft_index raft_applied_index(const struct raft *r);
raft_index raft_first_index(const struct raft *r);
raft_index raft_last_index(const struct raft *r);
raft_term raft_last_term(const struct raft *r);
/* Term of the entry at @index; 0 when not in memory (compacted away or
 * beyond the log), the snapshot term at the snapshot index. */
raft_term raft_term_at(const struct raft *r, raft_index index);
/* The entry at @index, or NULL; valid until the next call that changes the
 * instance. */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index);
/* The configuration in force: the latest in the log, committed or not.
 * It and its address table are valid until the next call that changes the
 * instance. */
const struct raft_configuration *raft_config(const struct raft *r);
/* Index of the entry it came from; 0 when from the boot state or a
 * snapshot. Committed when at or below the commit index. */
raft_index raft_config_index(const struct raft *r);
/* The configuration in force at @index (what a snapshot taken there must
 * carry); its address table lives in the core until the next call that
 * changes the instance. COMMON_ERANGE unless snapshot index <= @index <= last
 * index. */
int raft_config_at(const struct raft *r,
                   raft_index index,
                   struct raft_configuration *out);
/* Leader's view of a follower; false when not leader or unknown id. */
bool raft_progress(const struct raft *r,
                   raft_id id,
                   raft_index *match,
                   raft_index *next);
/* Why the last dropped message was dropped (static string), or NULL. */
const char *raft_last_drop_reason(const struct raft *r);

struct raft_stats
{
    uint64_t msgs_dropped;
    uint64_t elections_started; /* terms this node campaigned in */
    uint64_t pre_votes_started;
    uint64_t leader_terms; /* times it became leader */
    uint64_t step_downs_check_quorum;
    /* As leader: times a follower's log was found to end before the index
     * it had acknowledged in this term (it lost acknowledged entries:
     * replication.c, lost_acknowledged); each time the leader resent from
     * what the follower holds. */
    uint64_t follower_lost_entries;
    /* As leader: stepped down because a committed configuration no longer
     * lists it as a voter. */
    uint64_t step_downs_removed;
    /* As leader: leadership transfers started, and those given up after
     * an election timeout without a new leader. */
    uint64_t transfers_started;
    uint64_t transfers_aborted;
};
void raft_get_stats(const struct raft *r, struct raft_stats *s);

/* Asserts the instance's own invariants - commit within the log, applied
 * within commit, the leader's view of each follower, the facts of its
 * role, the ReadIndex queue, ... (src/invariants.c has the list) - and
 * aborts naming the first that does not hold. Builds with the CMake option
 * RAFTKV_INVARIANTS call it at the end of every function above that
 * changes the instance; others never do, but it may be called at any
 * time. Costs O(servers + messages in flight + queued reads). */
void raft_invariants(const struct raft *r);

#endif /* RAFT_RAFT_H */
