/*
 * The gRPC endpoint's insides, shared by the files that implement it
 * (internal to libtransport_grpc.a; transport.h has the contract):
 *
 *   grpc.c         the endpoint: options, new, poll, stop, free, stats
 *   grpc_peer.c    outbound: per-peer queues, MessageBatch calls, health
 *   grpc_server.c  inbound: the gRPC server, posted requests, serving Raft
 *                  batches and application calls
 *   grpc_call.c    a server call's life: its states, its answer, the
 *                  owner's reply, orphans, slow answers
 *   grpc_limits.c  what callers may hold (grpc_limits.h)
 *   grpc_forward.c application calls forwarded to a peer (the proxy)
 *
 * Everything the endpoint waits for comes out of one completion queue,
 * which the owner's thread drains in transport_grpc_poll(); each event
 * carries a pointer to one of the objects below, whose first member (a
 * struct tag) says what it is.
 *
 * Locking: one mutex per endpoint, g->lock, guards what the comments
 * below say it guards: the peers and their calls, the server calls' states
 * and lists, the limits, the counters, the stopping flag. gRPC functions
 * that only post work (start_batch, cancel, shutdown_and_notify) are
 * called under it; the owner's callbacks (deliver, on_call, log) never
 * are, so that they may call back into the endpoint.
 */
#ifndef TRANSPORT_GRPC_ENDPOINT_H
#define TRANSPORT_GRPC_ENDPOINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "grpc_limits.h"
#include "raft/raft.h"
#include "transport/transport.h"

/* Requests kept posted per method: enough for a burst of calls arriving
 * between two polls without waiting for a re-post. */
#define POSTED_RAFT    16
#define POSTED_APP     8
#define POSTED_GENERIC 2
/* Events handled per poll before returning to the owner (a bound on how
 * long the owner's loop goes without a tick). */
#define POLL_EVENTS_MAX 256
/* Longest log line. */
#define LOG_MAX 320

enum tag_kind {
    TAG_REQUEST = 1,
    TAG_ANSWER = 2,
    TAG_PEER_CALL = 3,
    TAG_SHUTDOWN = 4,
    TAG_FORWARD = 5,
};

struct tag
{
    enum tag_kind kind;
};

/* ------------------------------------------------------------------------ */
/* Inbound                                                                   */
/* ------------------------------------------------------------------------ */

enum request_kind {
    REQUEST_RAFT = 1,
    REQUEST_APP = 2,
    REQUEST_GENERIC = 3,
};

/* A call request kept posted with the server: one set for Raft/Send, one
 * per application method, a generic one that answers unknown methods
 * UNIMPLEMENTED; posted again as soon as it fires. Its fields are gRPC's
 * to fill while posted, the polling thread's once it fired. */
struct request
{
    struct tag tag; /* first: the queue's events point here */
    struct transport_grpc *g;
    enum request_kind kind;
    unsigned method; /* REQUEST_APP: index in options.methods */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details; /* REQUEST_GENERIC */
};

/*
 * The states of a server call (struct transport_grpc_call). Each arrow
 * names the function that performs it; call_move() asserts that every
 * change is one of them (call_transition_legal).
 *
 *  server_request_done
 *          |
 *          v               call_answer (a Raft batch, a refusal,
 *         NEW ------------------------------------------------+
 *          |               an unknown method, shutting down)  |
 *          | call_wait (serve_app: admitted by the limits)    |
 *          v                                                  v
 *       WAITING ---------------- call_reply ------------> ANSWERING
 *          |                                                  |
 *          | calls_orphan_waiting                             |
 *          | (transport_grpc_stop)           call_answer_done |
 *          v                                                  v
 *  ORPHAN_ANSWERING -- call_reply --> ORPHAN_REPLIED -------> FREED
 *          |                        call_answer_done          ^
 *          | call_answer_done                                 |
 *          v                                                  |
 *  ORPHAN_ANSWERED ---------- call_reply, calls_free_orphans -+
 *
 * Who holds the call: NEW the polling thread; WAITING its owner (the
 * on_call callback gets it); ANSWERING and ORPHAN_REPLIED gRPC, until the
 * answer's batch completes; ORPHAN_ANSWERING both; ORPHAN_ANSWERED its
 * owner, or transport_grpc_free once the owner may not reply any more.
 *
 * When the answer's batch cannot start, call_answer ends it at once, as
 * call_answer_done would: ANSWERING and ORPHAN_REPLIED to FREED,
 * ORPHAN_ANSWERING to ORPHAN_ANSWERED.
 */
enum call_state {
    CALL_NEW = 0,          /* accepted; only the polling thread knows it */
    CALL_WAITING,          /* an application call with its owner, on
                              g->waiting */
    CALL_ANSWERING,        /* its answer is on its way; only gRPC holds it */
    CALL_ORPHAN_ANSWERING, /* stop answered it UNAVAILABLE while its owner
                              held it: both hold it (g->orphans) */
    CALL_ORPHAN_REPLIED,   /* its owner replied, too late: only the answer
                              holds it (g->orphans) */
    CALL_ORPHAN_ANSWERED,  /* the answer completed: only its owner holds it
                              (g->orphans) */
    CALL_FREED,            /* released; the memory goes right after */
    CALL_STATES
};

struct transport_grpc_call
{
    struct tag tag; /* first: TAG_ANSWER */
    struct transport_grpc *g;
    grpc_call *call;
    enum request_kind kind;
    /* Received with the call; they live until the call is released. */
    grpc_metadata_array md;
    grpc_call_details details; /* REQUEST_GENERIC */
    /* The answer: set before its batch starts, then gRPC's. */
    int cancelled;
    grpc_byte_buffer *resp;
    grpc_slice status_details;
    /* Guarded by the lock: the state, and the list the state puts the
     * call on (g->waiting, g->orphans, or for a moment the list of calls
     * calls_orphan_waiting is answering). */
    enum call_state state;
    struct transport_grpc_call *prev;
    struct transport_grpc_call *next;
    /* Guarded by the lock. An application call the limits admitted counts
     * against them until its answer ends: its caller's source (NULL: the
     * call does not count, or no longer), the bytes of its answer counted
     * unread, and when that answer started, on g->timed until it
     * completes or is cancelled for taking too long. */
    struct limits_source *source;
    size_t unread;
    uint64_t answer_started_ns;
    struct transport_grpc_call *timed_prev;
    struct transport_grpc_call *timed_next;
};

/* ------------------------------------------------------------------------ */
/* Outbound                                                                  */
/* ------------------------------------------------------------------------ */

struct peer;

/* A unary call to a peer, and what its one batch fills in. */
struct unary
{
    grpc_call *call;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_byte_buffer *req; /* owned */
    grpc_byte_buffer *resp;
    grpc_status_code status;
    grpc_slice details;
};

/* One MessageBatch call to a peer. */
struct peer_call
{
    struct tag tag; /* first: TAG_PEER_CALL */
    struct peer *peer;
    struct unary u;
    size_t n_msgs;
    uint64_t started_ns; /* when the call started (its round trip) */
    /* In-flight calls of the peer; guarded by the lock. */
    struct peer_call *prev;
    struct peer_call *next;
};

/* A peer and what goes to it; every field guarded by the lock. */
struct peer
{
    raft_id id;
    char *address;
    grpc_channel *channel;
    void *method; /* registered Raft/Send handle on channel */
    /* Registered handles of the application methods on channel, for
     * forwarded calls (o.n_methods of them; NULL when none). */
    void **app_methods;
    /* Messages waiting for a call, oldest first. */
    struct transport_msg **queue;
    size_t queue_len;
    size_t queue_cap;
    size_t queue_bytes; /* estimated wire size */
    unsigned inflight;
    struct peer_call *calls;
    bool failing; /* the last call failed (logged once) */
};

/* An application call forwarded to a peer (transport_grpc_forward). */
struct forward
{
    struct tag tag; /* first: TAG_FORWARD */
    struct unary u;
    grpc_metadata mark; /* TRANSPORT_GRPC_PROXIED_KEY: "1" */
    transport_grpc_forward_fn done;
    void *data;
    /* Forwards in flight (g->forwards); guarded by the lock. */
    struct forward *prev;
    struct forward *next;
};

/* ------------------------------------------------------------------------ */
/* The endpoint                                                              */
/* ------------------------------------------------------------------------ */

struct transport_grpc
{
    /* Set up by transport_grpc_new, then read-only: */
    struct transport t;
    struct transport_grpc_options o;
    char *listen;
    unsigned port;
    grpc_completion_queue *cq;
    grpc_server *server;
    void *raft_method;
    void **app_methods;
    struct request *requests;
    size_t n_requests;
    struct tag shutdown_tag;
    bool started; /* grpc_server_start was called */
    bool secure;  /* TLS: peers prove who they are */
    grpc_resource_quota *quota;
    grpc_channel_credentials *creds;
    pthread_mutex_t lock;
    /* Guarded by lock: */
    struct peer *peers[RAFT_MAX_SERVERS];
    size_t n_peers;
    struct transport_grpc_call *waiting; /* CALL_WAITING */
    struct transport_grpc_call *orphans; /* CALL_ORPHAN_* */
    struct forward *forwards;            /* in flight */
    struct limits limits;
    /* Application answers started, neither complete nor cancelled, newest
     * first. */
    struct transport_grpc_call *timed;
    bool stopping;
    size_t outstanding; /* tags still to come out of the queue */
    struct transport_grpc_stats stats;
    /* Refused peer batches: logged at most once per REFUSAL_LOG_NS, the
     * others counted until the next line. */
    uint64_t refusal_logged_ns;
    uint64_t refusals_unlogged;
    /* Polling thread only: */
    uint64_t answers_swept_ns;
    bool stopped;
};

/* grpc_peer.c ------------------------------------------------------------ */

/* The transport's send and flush (transport.h). */
int peer_send(struct transport *t, const struct raft_message *m);
int peer_flush(struct transport *t);
/* Makes @u an empty call that will send @req (ownership passes). */
void unary_init(struct unary *u, grpc_byte_buffer *req);
/* Starts @u on @channel's registered @method with a deadline @timeout_ms
 * from now and @n_md metadata @md (borrowed until it completes); its
 * completion comes out of g->cq as @tag. False when it did not start. */
bool unary_start(struct transport_grpc *g,
                 struct unary *u,
                 grpc_channel *channel,
                 void *method,
                 unsigned timeout_ms,
                 grpc_metadata *md,
                 size_t n_md,
                 void *tag);
/* Releases what @u holds. */
void unary_fini(struct unary *u);
/* Peer @id, or NULL. Lock held. */
struct peer *peer_find(struct transport_grpc *g, raft_id id);
/* A batch call to a peer completed: logs a change of the peer's health,
 * sends what queued meanwhile, frees @pc. */
void peer_call_done(struct transport_grpc *g, struct peer_call *pc);
/* Drops every queued message and cancels every batch call in flight. */
void peers_cancel(struct transport_grpc *g);
/* Frees the peers; their calls have all come back. */
void peers_free(struct transport_grpc *g);

/* grpc_forward.c --------------------------------------------------------- */

/* A forwarded call completed: hands its answer to its owner, frees @f. */
void forward_done(struct transport_grpc *g, struct forward *f);
/* Cancels every forwarded call in flight. Lock held. */
void forwards_cancel(struct transport_grpc *g);

/* grpc_server.c ---------------------------------------------------------- */

/* Creates the gRPC server on g->listen (with @tls, borrowed; NULL:
 * plaintext), binds, starts it and posts the requests. Errors as
 * transport_grpc_new's; what was made is freed by transport_grpc_free. */
int server_start(struct transport_grpc *g,
                 const struct transport_grpc_tls *tls,
                 char *why,
                 size_t why_len);
/* A posted request fired (@ok 0: it died with the server): takes its call,
 * posts it again, serves the call. */
void server_request_done(struct transport_grpc *g, struct request *r, int ok);

/* grpc_call.c ------------------------------------------------------------ */

/* Is @from -> @to an arrow of the diagram above? */
bool call_transition_legal(enum call_state from, enum call_state to);
/* "NEW", "WAITING", ... */
const char *call_state_name(enum call_state s);
/* A NEW call taking @r's call and what came with it (not its payload);
 * NULL without memory, @r untouched. */
struct transport_grpc_call *call_new(struct transport_grpc *g,
                                     struct request *r);
/* NEW -> WAITING: an application call the limits admitted (counted
 * against @source) goes to its owner. Lock held. */
void call_wait(struct transport_grpc *g,
               struct transport_grpc_call *c,
               struct limits_source *source);
/* Sends the answer of @c: @status with @message (NULL: none) and, when
 * OK, @len bytes at @resp (both copied). */
void call_answer(struct transport_grpc_call *c,
                 int status,
                 const char *message,
                 const void *resp,
                 size_t len);
/* The owner's answer to @c (as transport_grpc_reply); @no_room: refused
 * for want of room (RESOURCE_EXHAUSTED, counted). */
void call_reply(struct transport_grpc_call *c,
                int status,
                const char *message,
                const void *resp,
                size_t len,
                bool no_room);
/* The answer's batch completed. */
void call_answer_done(struct transport_grpc *g, struct transport_grpc_call *c);
/* Answers UNAVAILABLE every call waiting for its owner: each becomes an
 * orphan until its owner replies. g->stopping is set: no call joins
 * them any more. */
void calls_orphan_waiting(struct transport_grpc *g);
/* Cancels the application answers not delivered within
 * answer_timeout_ms (looks at most every ANSWER_SWEEP_NS). Polling
 * thread. */
void calls_cancel_slow(struct transport_grpc *g);
/* Frees the orphans whose owner never replied. Every answer has come back,
 * and the owner may not reply any more. */
void calls_free_orphans(struct transport_grpc *g);

#endif /* TRANSPORT_GRPC_ENDPOINT_H */
