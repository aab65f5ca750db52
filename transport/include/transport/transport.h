/*
 * transport: how Raft messages travel between nodes.
 *
 * The node runtime sees only `struct transport` (a small vtable): it hands
 * a message to transport_send() and gets messages back through the deliver
 * callback it registered. Two implementations plug in behind it without
 * raft/ or kv/ knowing which:
 *   - mem: in-process queues between threads, with faults per link (loss,
 *     delay ranges, duplication, reordering, cuts, one-way cuts);
 *   - grpc: the gRPC C core between processes (proto/raft.proto).
 *
 * Messages in flight are `struct transport_msg`: one allocation holding the
 * message, its entries and their data, owned by whoever holds the pointer.
 */
#ifndef TRANSPORT_TRANSPORT_H
#define TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "raft/raft.h"

/* A deep copy of a Raft message; m.append.entries points inside it. */
struct transport_msg
{
    struct raft_message m;
    uint64_t deliver_at_ns; /* not before this time (mem delays) */
    uint64_t seq;           /* order of sending, for stable ordering */
};

/* Deep-copies @m (entries and data) into one allocation; NULL without
 * memory. Free with free(). */
struct transport_msg *transport_msg_clone(const struct raft_message *m);

/* Receives a message; ownership of @msg passes to the callee. */
typedef void (*transport_deliver_fn)(void *data, struct transport_msg *msg);

struct transport;

struct transport_vtable
{
    /* Sends @m (copied before return); never blocks on the network. A
     * message may be lost: Raft retries. */
    int (*send)(struct transport *t, const struct raft_message *m);
    /* Optional (NULL: every send goes out at once): puts on the wire what
     * earlier sends queued, batched per peer. */
    int (*flush)(struct transport *t);
    void (*destroy)(struct transport *t);
};

struct transport
{
    const struct transport_vtable *vt;
    void *impl;
};

int transport_send(struct transport *t, const struct raft_message *m);
/* Sends what transport_send() queued. A driver calls it after each
 * kv_node_flush(): a transport that batches (grpc) sends nothing until then;
 * for the others it does nothing. */
int transport_flush(struct transport *t);
/* transport_free(NULL) is harmless. */
void transport_free(struct transport *t);

/* ------------------------------------------------------------------------ */
/* mem: an in-process network between threads                                */
/* ------------------------------------------------------------------------ */

#define TRANSPORT_MEM_MAX_NODES 32

/* Faults of one directed link. */
struct transport_link_faults
{
    bool cut;         /* everything sent is dropped */
    double loss;      /* probability a message is dropped */
    double duplicate; /* probability it is delivered twice */
    double reorder;   /* probability it gets an extra random delay */
    uint64_t delay_ns_min;
    uint64_t delay_ns_max;
    /* Long holds (labrpc style): with probability hold, a message is held
     * an extra delay uniform in [hold_ns_min, hold_ns_max] while the rest
     * flow. 0 draws nothing. */
    double hold;
    uint64_t hold_ns_min;
    uint64_t hold_ns_max;
};

struct transport_mem;

/* Clock for delays: returns nanoseconds on the driver's clock. */
typedef uint64_t (*transport_clock_fn)(void *data);

/* A network of @nodes nodes (ids 1..nodes), seeded for its random faults.
 * Thread-safe: any thread may send or change faults. */
int transport_mem_new(unsigned nodes,
                      uint64_t seed,
                      transport_clock_fn clock,
                      void *clock_data,
                      struct transport_mem **out);
void transport_mem_free(struct transport_mem *net);
/* Promises that from now on one thread makes every call into @net, its
 * endpoints and the deliver callbacks (the sim driver): the network then
 * takes no lock. Call right after transport_mem_new. */
void transport_mem_set_single_threaded(struct transport_mem *net);

/* Registers node @id's receiver (NULL to detach: messages to it are
 * dropped, as for a crashed node). */
void transport_mem_attach(struct transport_mem *net,
                          raft_id id,
                          transport_deliver_fn deliver,
                          void *data);

/* Receives @n messages at once: ownership of each passes to the callee,
 * the array @msgs is borrowed for the call. */
typedef void (*transport_deliver_batch_fn)(void *data,
                                           struct transport_msg **msgs,
                                           size_t n);

/* The most messages an endpoint of a batched network holds before it
 * flushes itself. */
#define TRANSPORT_MEM_OUTBOX_MAX 256

/* Makes @net batched (threads): a send waits in its endpoint, and
 * transport_flush on the endpoint rolls each waiting message's dice then
 * and hands every receiver its share under one lock, in one call of its
 * batch receiver (transport_mem_attach_batch; a receiver attached with
 * transport_mem_attach gets them one by one). An endpoint holding
 * TRANSPORT_MEM_OUTBOX_MAX messages flushes itself. Each endpoint is then
 * used by one thread at a time. Call right after transport_mem_new. */
void transport_mem_set_batched(struct transport_mem *net);

/* Registers node @id's batch receiver (NULL to detach, as
 * transport_mem_attach). */
void transport_mem_attach_batch(struct transport_mem *net,
                                raft_id id,
                                transport_deliver_batch_fn deliver,
                                void *data);

/* The endpoint node @id sends through (owned by the network: do not free
 * it; transport_free on it is a no-op). */
struct transport *transport_mem_endpoint(struct transport_mem *net, raft_id id);

/* Sets the faults of link from -> to; 0 for either end means every node on
 * that end. Replaces the link's loss, duplication, reordering and delays;
 * whether it is cut is kept (see transport_mem_cut). */
void transport_mem_set_faults(struct transport_mem *net,
                              raft_id from,
                              raft_id to,
                              const struct transport_link_faults *f);
/* Cuts or restores from -> to (0 = every node), keeping other faults. */
void transport_mem_cut(struct transport_mem *net,
                       raft_id from,
                       raft_id to,
                       bool cut);
/* Is from -> to cut? */
bool transport_mem_is_cut(struct transport_mem *net, raft_id from, raft_id to);
/* The links into @to that are cut, under one lock: bit (from - 1) is set
 * when from -> @to is cut (every bit for an @to outside the network). */
uint32_t transport_mem_cut_into(struct transport_mem *net, raft_id to);
/* Removes every cut and fault. */
void transport_mem_heal(struct transport_mem *net);

/* A delay every message gets on top of its link's faults, uniform in
 * [min, max] ns (a network's own latency; heal keeps it). Default 0. */
void transport_mem_set_base_delay(struct transport_mem *net,
                                  uint64_t min_ns,
                                  uint64_t max_ns);

/* The fault table as a policy, for a transport that carries messages
 * itself (the harness over gRPC): decides the fate of @msg on the link
 * msg->m.from -> msg->m.to as a send through this network would (cut,
 * loss, duplication, delays, reordering, the base delay), stamps each copy
 * with deliver_at_ns and seq, and counts it in the stats. Ownership of @msg
 * passes to the callee. Returns how many copies go on: 0 (@msg was
 * dropped and freed), 1 (out[0] is @msg) or 2 (out[1] is a copy). Any
 * thread. */
unsigned transport_mem_route(struct transport_mem *net,
                             struct transport_msg *msg,
                             struct transport_msg *out[2]);

struct transport_mem_stats
{
    uint64_t sent;
    uint64_t delivered;
    uint64_t dropped_cut;
    uint64_t dropped_loss;
    uint64_t dropped_detached;
    uint64_t duplicated;
    uint64_t held; /* messages given a long hold */
};
void transport_mem_stats(struct transport_mem *net,
                         struct transport_mem_stats *s);

/* ------------------------------------------------------------------------ */
/* grpc: between processes, over the gRPC C core                             */
/* ------------------------------------------------------------------------ */

/*
 * One endpoint per node: a gRPC server on the node's address carrying the
 * peer service raftkv.raft.Raft (proto/raft.proto) and, optionally, an
 * application service whose unary methods the owner answers (raftkv.KV,
 * see cmd/), plus one channel to each peer. Built in libtransport_grpc.a,
 * apart from libtransport.a, so that programs without gRPC do not link it.
 *
 * Sending: transport_send() queues a copy for its peer; transport_flush()
 * sends each peer's queue as one MessageBatch call with a deadline, at
 * most peer_inflight_max calls per peer at a time (what queues meanwhile
 * goes in the next call, sent as soon as one finishes). With the default
 * of one call in flight a peer receives messages in the order they were
 * sent (calls in flight together may be served in any order). A full
 * queue, a failed call or an unknown peer loses messages: Raft retries.
 *
 * Threads: one thread polls (transport_grpc_poll), and every callback runs
 * on it: deliveries, application calls, logs. Sending, flushing, replying
 * to application calls, setting peers and stopping are safe from any
 * thread. transport_grpc_free() runs on the polling thread, or on any
 * thread once none polls.
 *
 * Errors answered to callers: a batch that does not decode or holds a
 * malformed message INVALID_ARGUMENT (nothing of it is delivered), a
 * message above message_bytes_max RESOURCE_EXHAUSTED (gRPC's own check),
 * an unknown method UNIMPLEMENTED, calls during shutdown UNAVAILABLE.
 */

/* gRPC status codes, with gRPC's values. */
enum transport_grpc_status {
    TRANSPORT_GRPC_OK = 0,
    TRANSPORT_GRPC_CANCELLED = 1,
    TRANSPORT_GRPC_UNKNOWN = 2,
    TRANSPORT_GRPC_INVALID_ARGUMENT = 3,
    TRANSPORT_GRPC_DEADLINE_EXCEEDED = 4,
    TRANSPORT_GRPC_NOT_FOUND = 5,
    TRANSPORT_GRPC_ALREADY_EXISTS = 6,
    TRANSPORT_GRPC_PERMISSION_DENIED = 7,
    TRANSPORT_GRPC_RESOURCE_EXHAUSTED = 8,
    TRANSPORT_GRPC_FAILED_PRECONDITION = 9,
    TRANSPORT_GRPC_ABORTED = 10,
    TRANSPORT_GRPC_OUT_OF_RANGE = 11,
    TRANSPORT_GRPC_UNIMPLEMENTED = 12,
    TRANSPORT_GRPC_INTERNAL = 13,
    TRANSPORT_GRPC_UNAVAILABLE = 14,
    TRANSPORT_GRPC_DATA_LOSS = 15,
    TRANSPORT_GRPC_UNAUTHENTICATED = 16,
};

/* "OK", "INVALID_ARGUMENT", ... or "UNKNOWN". */
const char *transport_grpc_status_name(int status);

/* The peer service's one method. */
#define TRANSPORT_GRPC_RAFT_METHOD "/raftkv.raft.Raft/Send"

/* Returned by transport_grpc_poll() once the endpoint has stopped. */
#define TRANSPORT_GRPC_STOPPED 1

struct transport_grpc;
/* An application call waiting for its answer. */
struct transport_grpc_call;

/* An application call arrived for options.methods[@method]; @req (@len
 * bytes) is borrowed for the callback. The owner answers it with
 * transport_grpc_reply() exactly once, now or later; @call stays valid
 * until then (or until transport_grpc_free, which answers UNAVAILABLE). */
typedef void (*transport_grpc_call_fn)(void *data,
                                       struct transport_grpc_call *call,
                                       unsigned method,
                                       const void *req,
                                       size_t len);

/* ------------------------------------------------------------------------ */
/* TLS                                                                       */
/* ------------------------------------------------------------------------ */

/*
 * With TLS (transport_grpc_options.tls), every connection is encrypted
 * and every caller's certificate, when it presents one, must chain to the
 * CA. Peers authenticate each other with mutual TLS: a node's certificate
 * names it with the URI SAN TRANSPORT_GRPC_NODE_URI followed by its id
 * ("raftkv://node/3"), and the Raft service takes a batch only from a
 * caller whose certificate names a peer of this endpoint (set with
 * transport_grpc_set_peer) and whose every message says it is from that
 * peer; anything else is answered PERMISSION_DENIED, counted
 * (stats.batches_denied) and logged at most once a second. Application
 * calls are open to every caller TLS let in: a node, a client with a
 * certificate, or (when clients_need_cert is false) a client without one.
 *
 * Without TLS (tls NULL) anyone who reaches the port may speak for any
 * node: for loopback experiments and the harness only (docs/security.md).
 */
#define TRANSPORT_GRPC_NODE_URI "raftkv://node/"

/* PEM text: the CA, and this endpoint's certificate (chain) and key. */
struct transport_grpc_tls
{
    char *ca_pem;   /* owned, NUL-terminated */
    char *cert_pem; /* owned; NULL for a client without a certificate */
    char *key_pem;  /* owned; NULL with cert_pem */
    /* Servers: callers must present a certificate (else the handshake
     * fails); false lets clients without one call the application
     * service (never the Raft service). */
    bool clients_need_cert;
};

/* What transport_grpc_tls_load reads and checks. */
struct transport_grpc_tls_files
{
    const char *ca_file;   /* required */
    const char *cert_file; /* NULL (with key_file): no certificate */
    const char *key_file;
    /* Not 0: the certificate must be node @node's (one node URI SAN naming
     * it, usable as TLS server and client). 0: a client's (usable as a
     * TLS client). */
    raft_id node;
    /* Not NULL: the certificate must name this host or IP address (the
     * address peers and clients dial). */
    const char *host;
};

/* Reads the files of @f into @out and checks them before anything
 * listens or dials: each is PEM, the key is the certificate's, the
 * certificate is in its validity period and chains to the CA, and it names
 * what @f expects. COMMON_EIO (unreadable), COMMON_EPARSE (not PEM),
 * COMMON_EINVAL (a check failed), COMMON_ENOMEM; @why names the file and
 * what is wrong ("certs/node-1.crt: the certificate expired on ...").
 * Release @out with transport_grpc_tls_fini. */
int transport_grpc_tls_load(const struct transport_grpc_tls_files *f,
                            struct transport_grpc_tls *out,
                            char *why,
                            size_t why_len);
/* Frees what @t holds (the key's bytes are wiped first); NULL harmless. */
void transport_grpc_tls_fini(struct transport_grpc_tls *t);

/* Parses "raftkv://node/N" (@len bytes at @s, not NUL-terminated): N a
 * decimal id without leading zeros, 1 to 2^64-1. */
bool transport_grpc_node_uri_parse(const char *s, size_t len, raft_id *id);

struct transport_grpc_options
{
    raft_id id; /* this node */
    /* Its cluster's id (raftkv-server: from DIR/IDENTITY; 0: none). Every
     * batch sent carries it; a batch carrying another is refused
     * FAILED_PRECONDITION, naming both, and delivers nothing. */
    uint64_t cluster_id;
    const char *listen; /* "HOST:PORT" to bind ("127.0.0.1:0": any free
                           port, see transport_grpc_port); copied */
    /* Peer calls. */
    unsigned peer_timeout_ms;    /* deadline of each batch call (500) */
    unsigned peer_inflight_max;  /* batch calls in flight per peer (1) */
    size_t peer_queue_max;       /* messages waiting per peer (8192) */
    size_t peer_queue_bytes_max; /* and their bytes (64 MiB) */
    size_t batch_bytes_max;      /* about this many bytes per call (4 MiB) */
    /* Reconnection to a peer that went away: first wait, per-attempt
     * connect timeout, and the cap of the exponential backoff. */
    unsigned backoff_initial_ms; /* 50 */
    unsigned backoff_min_ms;     /* 1000: room for a TLS handshake */
    unsigned backoff_max_ms;     /* 1000 */
    /* Server limits. */
    size_t message_bytes_max; /* largest message in or out (8 MiB) */
    unsigned streams_max;     /* concurrent calls per connection (100) */
    size_t calls_max;         /* application calls waiting for answers (4096);
                                 beyond, RESOURCE_EXHAUSTED */
    /* What callers from one source address may hold (a caller that stops
     * reading answers, or floods calls, runs into its own address's
     * share): calls waiting (1024), and bytes of answers started and not
     * yet delivered (32 MiB); all addresses together 128 MiB. Beyond,
     * RESOURCE_EXHAUSTED. An answer not delivered within
     * answer_timeout_ms (30000) is cancelled. */
    size_t calls_per_address_max;
    size_t unread_bytes_per_address_max;
    size_t unread_bytes_max;
    unsigned answer_timeout_ms;
    /* Connections: closed when idle (no call) this long (300000), or when
     * their TLS/HTTP2 handshake takes longer than this (10000). */
    unsigned idle_timeout_ms;
    unsigned handshake_timeout_ms;
    /* The memory gRPC's own buffers may take (256 MiB): the resource
     * quota, past which gRPC sheds new connections. */
    size_t memory_bytes_max;
    /* Received Raft messages (ownership passes to the callee). */
    transport_deliver_fn deliver;
    void *deliver_data;
    /* The application service: full method names ("/raftkv.KV/Put"),
     * borrowed until transport_grpc_free. n_methods 0: none. */
    const char *const *methods;
    size_t n_methods;
    transport_grpc_call_fn on_call;
    void *call_data;
    /* Lines for the log (common_log_fn; NULL: none): a peer unreachable
     * (warn) or back (info), refused batches (warn). */
    common_log_fn log;
    void *log_data;
    /* Each batch call to a peer that returned OK: its round trip, from
     * the call's start to its answer (NULL: not wanted). Called on the
     * thread in transport_grpc_poll, with no lock held. */
    void (*peer_rtt)(void *data, raft_id peer, uint64_t ns);
    void *peer_rtt_data;
    /* TLS for the server and the peer channels (borrowed for
     * transport_grpc_new); NULL: plaintext. */
    const struct transport_grpc_tls *tls;
};

/* Fills @o with the defaults above; the caller sets id, listen and
 * deliver (and the rest as wanted). */
void transport_grpc_options_default(struct transport_grpc_options *o);

/* Starts the endpoint: binds and serves at once. COMMON_EINVAL for bad
 * options, COMMON_EUNAVAILABLE when the address cannot be bound,
 * COMMON_ENOMEM; @why (@why_len bytes, may be 0) then says what, naming
 * the address and the system's reason ("127.0.0.1:7001: Address already in
 * use"). */
int transport_grpc_new(const struct transport_grpc_options *o,
                       char *why,
                       size_t why_len,
                       struct transport_grpc **out);
/* Stops serving and frees everything; answers application calls still
 * waiting UNAVAILABLE. NULL is harmless. */
void transport_grpc_free(struct transport_grpc *g);

/* The endpoint's struct transport (owned by the endpoint). */
struct transport *transport_grpc_transport(struct transport_grpc *g);
/* The port it listens on. */
unsigned transport_grpc_port(const struct transport_grpc *g);

/* Where peer @id listens ("HOST:PORT", copied). Replaces an earlier
 * address (its calls in flight finish or fail). COMMON_EINVAL for id 0,
 * this node's id or an empty address. */
int transport_grpc_set_peer(struct transport_grpc *g,
                            raft_id id,
                            const char *address);

/* Waits up to @timeout_ms for network events, then handles every event
 * ready (a bounded number). 0, or TRANSPORT_GRPC_STOPPED once stopped. */
int transport_grpc_poll(struct transport_grpc *g, unsigned timeout_ms);
/* Stops accepting calls and wakes the polling thread, whose poll then
 * returns TRANSPORT_GRPC_STOPPED. Application calls still waiting are
 * answered UNAVAILABLE; their owner may still reply to them (nothing more
 * is sent) until transport_grpc_free. Any thread; idempotent. */
void transport_grpc_stop(struct transport_grpc *g);

/* Answers an application call: @status (enum transport_grpc_status) with
 * @message (NULL: none; copied) and, when OK, the response bytes @resp
 * (@len, copied). Frees @call. */
void transport_grpc_reply(struct transport_grpc_call *call,
                          int status,
                          const char *message,
                          const void *resp,
                          size_t len);

/* Is there room for an OK answer of @len bytes to @call (its caller's
 * address may have too many answers unread)? When there is, returns true
 * and the owner replies as usual (transport_grpc_reply checks again);
 * when not, answers @call RESOURCE_EXHAUSTED itself (freeing it, counted
 * in calls_refused) and returns false. Lets the owner skip building a
 * large answer that would be refused. Any thread. */
bool transport_grpc_reply_room(struct transport_grpc_call *call, size_t len);

/* ------------------------------------------------------------------------ */
/* Forwarding an application call to a peer (raftkv-server --proxy)         */
/* ------------------------------------------------------------------------ */

/* The metadata key a forwarded call carries (value "1"): a node that
 * receives a call marked so must not forward it again. Any caller can set
 * it; it only ever costs the caller the forwarding. */
#define TRANSPORT_GRPC_PROXIED_KEY "raftkv-proxied"

/* Did @call arrive marked TRANSPORT_GRPC_PROXIED_KEY? Its owner, while it
 * holds the call. */
bool transport_grpc_call_proxied(const struct transport_grpc_call *call);

struct transport_grpc_result;

/* The answer to a forwarded call: @res and its data are borrowed for the
 * callback. */
typedef void (*transport_grpc_forward_fn)(
    void *data,
    const struct transport_grpc_result *res);

/* Sends application call options.methods[@method] with @req (@len bytes,
 * copied), marked TRANSPORT_GRPC_PROXIED_KEY, to peer @peer over the
 * peer's channel (its TLS credentials: the caller is this node), with a
 * deadline of @timeout_ms. @done runs exactly once, on the polling thread
 * (inside transport_grpc_poll, or transport_grpc_free, which cancels what
 * is in flight: CANCELLED) with the peer's answer, or the status gRPC
 * gave when there was none (UNAVAILABLE: unreachable; DEADLINE_EXCEEDED).
 * Returns 0; or COMMON_EINVAL (an unknown peer or method),
 * COMMON_ESHUTDOWN (stopping), COMMON_ENOMEM, and then @done never runs.
 * Any thread. */
int transport_grpc_forward(struct transport_grpc *g,
                           raft_id peer,
                           unsigned method,
                           const void *req,
                           size_t len,
                           unsigned timeout_ms,
                           transport_grpc_forward_fn done,
                           void *data);

struct transport_grpc_stats
{
    uint64_t sent;           /* messages handed to send() */
    uint64_t batches_sent;   /* calls started */
    uint64_t batches_failed; /* calls that did not return OK */
    uint64_t dropped;        /* messages lost before a call: queue full,
                                unknown peer, no memory, stopping */
    uint64_t received;       /* messages delivered */
    uint64_t batches_received;
    uint64_t batches_rejected;  /* answered INVALID_ARGUMENT */
    uint64_t batches_denied;    /* answered PERMISSION_DENIED */
    uint64_t batches_foreign;   /* of another cluster: FAILED_PRECONDITION */
    uint64_t calls;             /* application calls received */
    uint64_t calls_refused;     /* of them answered RESOURCE_EXHAUSTED by a
                                   limit */
    uint64_t answers_cancelled; /* not delivered within answer_timeout_ms */
    uint64_t forwarded;         /* transport_grpc_forward calls started */
};
void transport_grpc_stats(struct transport_grpc *g,
                          struct transport_grpc_stats *s);

/* ------------------------------------------------------------------------ */
/* A blocking unary gRPC client (the CLI, tests)                             */
/* ------------------------------------------------------------------------ */

struct transport_grpc_client;

/* A channel to @address ("HOST:PORT", copied), with a short reconnect
 * backoff; nothing connects until the first call. With @tls (borrowed for
 * the call; NULL: plaintext) the server's certificate must chain to its CA
 * and name the host dialled, and the client presents its certificate when
 * it has one. */
int transport_grpc_client_new(const char *address,
                              const struct transport_grpc_tls *tls,
                              struct transport_grpc_client **out);
void transport_grpc_client_free(struct transport_grpc_client *c);

struct transport_grpc_result
{
    int status;        /* enum transport_grpc_status */
    char message[256]; /* the status message, cut to fit */
    uint8_t *data;     /* the response when OK (malloc'd; free() it) */
    size_t len;
};

/* Calls @method ("/raftkv.KV/Get") with @req (@len bytes, borrowed) and
 * waits at most @timeout_ms. Returns 0 with @res filled - a failed call
 * is a status in @res, not an error here - or COMMON_ENOMEM. */
int transport_grpc_client_call(struct transport_grpc_client *c,
                               const char *method,
                               const void *req,
                               size_t len,
                               unsigned timeout_ms,
                               struct transport_grpc_result *res);

#endif /* TRANSPORT_TRANSPORT_H */
