/*
 * kv: the replicated key-value service.
 *
 * - The state machine (kv_sm): an in-memory map of byte-string keys to
 *   byte-string values, plus a session table that makes every client
 *   request take effect exactly once however often it is retried. Commands
 *   reach it through the Raft log encoded with protobuf-c (proto/kv.proto).
 * - The node runtime (kv_node): composes a Raft core, a storage, a
 *   transport and the state machine into an event-driven object. Drivers
 *   feed it events (ticks, messages, client requests) and call
 *   kv_node_flush(); it persists, sends, applies and answers through the
 *   callbacks it was given. It never reads the clock, sleeps or starts a
 *   thread, so the threaded harness and a single-threaded deterministic
 *   driver can both run it.
 * - The client (kv_client): one logical client as an event-driven object.
 *   It sends each request to the node it believes leads, follows
 *   not-leader hints, retries with the same sequence number, and records
 *   every operation (invoke, then ok / fail / info) for the history.
 *
 * Linearizability: writes go through the log; reads use ReadIndex (the
 * leader confirms its leadership with a quorum round, then answers once it
 * has applied up to the commit index it recorded), so no read is ever
 * served by a node that may have lost leadership.
 */
#ifndef KV_KV_H
#define KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "raft/raft.h"

/* A node borrows its storage and its transport; whoever builds one
 * includes storage/storage.h and transport/transport.h. */
struct storage;
struct transport;

/* ------------------------------------------------------------------------ */
/* Requests and results                                                      */
/* ------------------------------------------------------------------------ */

enum kv_op {
    KV_OP_GET = 1,
    KV_OP_PUT = 2,
    KV_OP_DELETE = 3,
    KV_OP_CAS = 4,
    KV_OP_APPEND = 5,
    /* Opens a new session before a client's first write (client_id and
     * seq 0); the session's id is the log index of the registration, which
     * the answer carries in its index. Not an operation of a history, so
     * above KV_OP_MAX. */
    KV_OP_REGISTER = 6,
};
/* The operations a client records in a history. */
#define KV_OP_MAX 5

/* "get", "put", "delete", "cas", "append", "register" or "?". */
const char *kv_op_name(int op);

/* Values match proto/kv.proto's Code. */
enum kv_status {
    KV_OK = 0,
    KV_NOT_FOUND = 1,   /* get/delete: the key was absent (still a success) */
    KV_MISMATCH = 2,    /* cas: precondition did not hold (no effect) */
    KV_NOT_LEADER = 3,  /* not proposed here: safe to send elsewhere */
    KV_RETRY = 4,       /* may or may not have taken effect: retry, same seq */
    KV_INVALID = 5,     /* malformed request */
    KV_UNAVAILABLE = 6, /* the node cannot serve (storage failed) */
    KV_EXPIRED = 7,     /* the client's session expired: start a new one */
};

const char *kv_status_name(int status);

struct kv_request
{
    uint64_t token;     /* the caller's, echoed in the response */
    uint64_t client_id; /* session; 0 = none (no exactly-once guarantee) */
    uint64_t seq;       /* > 0 within the session; 0 for KV_OP_REGISTER */
    enum kv_op op;
    struct common_buf key;      /* borrowed for the call */
    struct common_buf value;    /* put/append value; cas new value */
    struct common_buf expected; /* cas */
    bool expected_absent;       /* cas: expect the key to be absent */
};

struct kv_response
{
    uint64_t token;
    uint64_t client_id;
    uint64_t seq;
    enum kv_status status;
    raft_id leader;          /* hint when not leader, 0 when unknown */
    raft_id node;            /* who answered */
    raft_index index;        /* log index the answer reflects (for
                              * KV_OP_REGISTER: the new session's id) */
    bool found;              /* get: the key was present */
    struct common_buf value; /* get: the value; borrowed for the callback */
};

/* ------------------------------------------------------------------------ */
/* Commands (the Raft log's payload)                                        */
/* ------------------------------------------------------------------------ */

/* Encodes @req's command into a new buffer (free() it). COMMON_EINVAL for
 * an unknown op, COMMON_ENOMEM. */
int kv_command_encode(const struct kv_request *req, uint8_t **out, size_t *len);

/* A decoded command; its buffers point into the bytes it was decoded from
 * (an empty one has base NULL). */
struct kv_command
{
    uint64_t client_id;
    uint64_t seq;
    enum kv_op op;
    struct common_buf key;
    struct common_buf value;
    struct common_buf expected;
    bool expected_absent;
};

/* COMMON_ECORRUPT for bytes that are not a valid command (what protobuf-c
 * would refuse to unpack, or an unknown op). @data is borrowed for as long
 * as @cmd is used: @cmd's buffers point into it. Allocates nothing. */
int kv_command_decode(const void *data, size_t len, struct kv_command *cmd);
/* Ends @cmd's use; nothing to free since decoding allocates nothing, kept
 * so that callers need not know. */
void kv_command_free(struct kv_command *cmd);

/* ------------------------------------------------------------------------ */
/* State machine                                                             */
/* ------------------------------------------------------------------------ */

struct kv_sm;

struct kv_result
{
    /* KV_OK, KV_NOT_FOUND or KV_MISMATCH; KV_EXPIRED, KV_RETRY (an old
     * seq) or KV_INVALID (a malformed registration) with nothing applied */
    enum kv_status status;
    bool found;
    struct common_buf value; /* get: borrowed until the next change */
    bool duplicate;          /* a retried request: nothing applied again */
};

int kv_sm_new(struct kv_sm **out);
void kv_sm_free(struct kv_sm *sm);

/* Sessions idle for this many log entries are forgotten (0: never). */
#define KV_SESSION_TTL_DEFAULT 1000000

/* Applies one command, the log entry at @index (indexes increase from call
 * to call), deterministically: every replica gets the same result. A
 * KV_OP_REGISTER command (client_id and seq 0) opens a new session whose
 * id is @index - never an id used before, so a registration retried or
 * delayed opens a session nobody uses rather than reviving one. A
 * (client_id, seq) already applied returns the remembered result with
 * duplicate set; an older seq of the session returns KV_RETRY (void). A
 * session idle for the session TTL is forgotten, at the same index on
 * every replica. A write of a session the state machine does not hold -
 * never opened, or forgotten - gets KV_EXPIRED and is not applied: it may
 * have been applied before the session was forgotten, and applying it
 * again would break exactly-once (Raft dissertation §6.3). */
int kv_sm_apply(struct kv_sm *sm,
                const struct kv_command *cmd,
                uint64_t index,
                struct kv_result *res);
/* Sets the session TTL in log entries (KV_SESSION_TTL_DEFAULT at first;
 * 0: never expire). Every replica must use the same. */
void kv_sm_set_session_ttl(struct kv_sm *sm, uint64_t entries);
/* Reads a key (for ReadIndex reads): found and the value, borrowed. */
bool kv_sm_get(const struct kv_sm *sm,
               const void *key,
               size_t key_len,
               struct common_buf *value);
size_t kv_sm_keys(const struct kv_sm *sm);
size_t kv_sm_sessions(const struct kv_sm *sm);
/* An order-independent digest of the whole map (to compare replicas). */
uint64_t kv_sm_digest(const struct kv_sm *sm);

/* Encodes every key and the session table as proto/kv.proto's Snapshot
 * into a new buffer (free() it). */
int kv_sm_snapshot(const struct kv_sm *sm, uint8_t **out, size_t *len);
/* Replaces the state machine's content with a snapshot's (@data borrowed;
 * may be NULL when @len is 0, the empty snapshot). COMMON_ECORRUPT for
 * bytes that are not one (the content is then unchanged). */
int kv_sm_restore(struct kv_sm *sm, const void *data, size_t len);

/* ------------------------------------------------------------------------ */
/* Node runtime                                                              */
/* ------------------------------------------------------------------------ */

struct kv_node;

/* Everything the node does to the outside goes through these. */
struct kv_node_env
{
    void *data;
    /* Answers a client request (response borrowed for the call). */
    void (*reply)(void *data, const struct kv_response *resp);
    /* Optional: sees every Raft update after it was persisted and before
     * anything else happens (harness monitors). */
    void (*observe)(void *data,
                    struct kv_node *node,
                    const struct raft_update *u);
    /* Optional: the node stopped serving (storage failed); @why says why. */
    void (*failed)(void *data, struct kv_node *node, const char *why);
    /* Optional: every message of update @u has been sent (after @u was
     * persisted). Returning true halts the node there, as if it lost power
     * right then: the flush returns at once, nothing of @u is applied or
     * answered, and the node ignores every later tick, message and request
     * (no reply) until it is freed; kv_node_halted() says so. The harness
     * crashes nodes right after a vote or an acknowledgement this way. */
    bool (*sent)(void *data, struct kv_node *node, const struct raft_update *u);
};

struct kv_node_config
{
    struct raft_options raft; /* id, timing, seed */
    /* The cluster (unless the storage holds a snapshot, whose
     * configuration wins). */
    struct raft_configuration conf;
    /* Log compaction: after this many entries applied since the last
     * snapshot the node snapshots its state machine, stores it, and drops
     * the log up to it but the last snapshot_trailing entries (kept so
     * that slightly lagging followers need no snapshot). 0: never. */
    uint64_t snapshot_entries;
    uint64_t snapshot_bytes; /* or this many bytes of entries; 0: no limit */
    uint64_t snapshot_trailing;
    /* The state machine's session TTL in log entries (0:
     * KV_SESSION_TTL_DEFAULT; UINT64_MAX: sessions never expire). Every
     * node of a cluster must use the same. */
    uint64_t session_ttl;
    struct storage *storage;     /* borrowed; outlives the node */
    struct transport *transport; /* borrowed; outlives the node */
    struct kv_node_env env;
};

/* Boots from what the storage holds. */
int kv_node_new(const struct kv_node_config *cfg, struct kv_node **out);
void kv_node_free(struct kv_node *n);

void kv_node_tick(struct kv_node *n);
void kv_node_receive(struct kv_node *n, const struct raft_message *m);
/* A client request; answered (now or later) through env.reply. */
void kv_node_request(struct kv_node *n, const struct kv_request *req);
/* Persists, sends, applies and answers whatever the last events caused.
 * Call after a batch of events. */
void kv_node_flush(struct kv_node *n);

/* Membership changes and leadership transfer on this node's core
 * (raft_propose_conf, raft_transfer_leadership: the same rules and codes;
 * COMMON_EUNAVAILABLE on a failed or halted node). What they cause goes
 * out with the next flush. While a transfer is under way, writes are
 * answered KV_NOT_LEADER (not proposed: safe to retry, at the new leader
 * once there is one). */
int kv_node_propose_conf(struct kv_node *n,
                         const struct raft_configuration *next,
                         raft_index *index);
int kv_node_transfer_leader(struct kv_node *n, raft_id id);

raft_id kv_node_id(const struct kv_node *n);
/* The node's Raft core, for read-only inspection from the node's thread. */
const struct raft *kv_node_raft(const struct kv_node *n);
const struct kv_sm *kv_node_sm(const struct kv_node *n);
/* The node stopped serving because storage failed. */
bool kv_node_failed(const struct kv_node *n);
/* env.sent halted the node: it does nothing more until freed. */
bool kv_node_halted(const struct kv_node *n);

struct kv_node_stats
{
    uint64_t requests;
    uint64_t proposals;
    uint64_t reads;
    uint64_t replies_ok;
    uint64_t replies_not_leader;
    uint64_t replies_retry;
    uint64_t applied;
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    raft_index snapshot_index; /* the latest snapshot's */
    /* The largest snapshot this node took or installed, in bytes, and its
     * index (0, 0: none yet). */
    uint64_t snapshot_bytes_max;
    raft_index snapshot_bytes_max_index;
    /* The most log entries the node held in memory right after taking or
     * installing a snapshot and compacting its log behind it, and that
     * snapshot's index (0, 0: none yet). */
    uint64_t compacted_entries_max;
    raft_index compacted_entries_max_index;
    /* Now: writes proposed and not yet answered, and reads waiting for
     * their ReadIndex round or for the applied index to reach it. */
    uint64_t writes_waiting;
    uint64_t reads_waiting;
};
void kv_node_stats(const struct kv_node *n, struct kv_node_stats *s);

/* ------------------------------------------------------------------------ */
/* Client                                                                    */
/* ------------------------------------------------------------------------ */

/* One operation a client performs. */
struct kv_op_spec
{
    enum kv_op op;
    struct common_buf key;      /* copied */
    struct common_buf value;    /* copied */
    struct common_buf expected; /* copied (cas) */
    bool expected_absent;
};

enum kv_event_type {
    KV_EVENT_INVOKE = 1,
    KV_EVENT_OK = 2,
    KV_EVENT_FAIL = 3, /* definitely no effect (cas mismatch, or never
                          accepted by any node) */
    KV_EVENT_INFO = 4, /* unknown: timed out */
};

/* A history event, borrowed for the record callback. */
struct kv_event
{
    enum kv_event_type type;
    uint64_t process; /* Jepsen process id */
    enum kv_op op;
    struct common_buf key;
    /* invoke: put/append value, cas new value; ok get: value read */
    struct common_buf value;
    struct common_buf expected; /* cas invoke */
    bool expected_absent;
    bool found;        /* ok get: false = absent (null) */
    const char *error; /* fail/info: why ("mismatch", "timeout", ...) */
    uint64_t time_ns;
    raft_id node; /* ok/fail: the node that answered */
};

struct kv_client_env
{
    void *data;
    /* Sends a request to node @to (request borrowed for the call). */
    void (*send)(void *data, raft_id to, const struct kv_request *req);
    /* Records a history event. */
    void (*record)(void *data, const struct kv_event *ev);
};

struct kv_client_config
{
    unsigned index;         /* this client's number, 0..clients-1 */
    unsigned clients;       /* how many clients share the process-id space */
    unsigned nodes;         /* node ids 1..nodes */
    uint64_t op_timeout_ns; /* give up (info) after this */
    uint64_t attempt_timeout_ns; /* try another node after this */
    uint64_t seed;
    struct kv_client_env env;
};

struct kv_client;

int kv_client_new(const struct kv_client_config *cfg, struct kv_client **out);
void kv_client_free(struct kv_client *c);
/* Starts an operation (must be idle). Records the invoke. */
int kv_client_start(struct kv_client *c,
                    const struct kv_op_spec *op,
                    uint64_t now_ns);
/* A response to one of this client's requests. */
void kv_client_on_response(struct kv_client *c,
                           const struct kv_response *r,
                           uint64_t now_ns);
/* Timeouts: call at or after kv_client_deadline(). */
void kv_client_tick(struct kv_client *c, uint64_t now_ns);
/* When kv_client_tick next has something to do (UINT64_MAX when idle). */
uint64_t kv_client_deadline(const struct kv_client *c);
bool kv_client_busy(const struct kv_client *c);
uint64_t kv_client_process(const struct kv_client *c);
/* Token that identifies this client's requests (responses carry it). */
uint64_t kv_client_token(const struct kv_client *c);

#endif /* KV_KV_H */
