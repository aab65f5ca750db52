/*
 * The gRPC transport: one endpoint per node over the gRPC C core (see
 * transport.h for the contract, shared/notes/grpc-c-core.md for the C core
 * facts this follows).
 *
 * Everything the endpoint waits for comes out of one completion queue,
 * which the owner's thread drains in transport_grpc_poll(); each queue
 * event carries a pointer to one of our objects, whose first member says
 * what it is:
 *
 *   struct request      a call request kept posted with the server (one
 *                       set for Raft/Send, one per application method, a
 *                       generic one that answers unknown methods
 *                       UNIMPLEMENTED); re-posted as soon as it fires.
 *   transport_grpc_call a server call being answered; for application
 *                       calls it waits in a list until the owner replies.
 *   struct peer_call    one MessageBatch call to a peer.
 *   shutdown tag        the server finished shutting down.
 *
 * Sending: send() queues a deep copy per peer; flush() (or the end of an
 * earlier call) packs the queue into MessageBatch calls of at most
 * batch_bytes_max, at most peer_inflight_max in flight per peer, each with
 * a deadline. One call per flush and peer is what makes gRPC affordable
 * here: a unary round trip costs ~150 us, so a leader replicating to two
 * followers sends two calls per flush however many messages it made.
 * Failures lose messages - Raft retries - and a peer that starts or stops
 * failing is logged once per change.
 *
 * Locking: one mutex guards the peers, the waiting application calls, the
 * counters and the stopping flag. gRPC functions that only post work
 * (start_batch, cancel, shutdown_and_notify) are called under it; the
 * owner's callbacks (deliver, on_call, log) never are, so they may call
 * back into the endpoint.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "grpc_codec.h"
#include "grpc_internal.h"
#include "grpc_limits.h"
#include "transport/transport.h"

/* Requests kept posted per method: enough for a burst of calls arriving
 * between two polls without waiting for a re-post. */
#define POSTED_RAFT    16
#define POSTED_APP     8
#define POSTED_GENERIC 2
/* Events handled per poll before returning to the owner (a bound on how
 * long the owner's loop goes without a tick). */
#define POLL_EVENTS_MAX 256
#define LOG_MAX         320
/* At most one log line a second about refused peer batches: whoever can
 * reach the port must not be able to flood the log. */
#define REFUSAL_LOG_NS 1000000000ull
/* How often answers that take too long are looked for. */
#define ANSWER_SWEEP_NS 250000000ull

enum tag_kind {
    TAG_REQUEST = 1,
    TAG_ANSWER = 2,
    TAG_PEER_CALL = 3,
    TAG_SHUTDOWN = 4,
};

struct tag
{
    enum tag_kind kind;
};

enum request_kind {
    REQUEST_RAFT = 1,
    REQUEST_APP = 2,
    REQUEST_GENERIC = 3,
};

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

struct transport_grpc_call
{
    struct tag tag;
    struct transport_grpc *g;
    grpc_call *call;
    /* Application calls: the caller's source address (until the answer
     * completes), the bytes of the answer counted as unread, and when the
     * answer started (guarded by the lock, on the answering list). */
    struct limits_source *source;
    size_t unread;
    uint64_t answer_started_ns;
    struct transport_grpc_call *answering_prev;
    struct transport_grpc_call *answering_next;
    bool answering;
    bool cancel_sent;
    /* Received with the call; they live until the call is released. */
    grpc_metadata_array md;
    grpc_call_details details;
    bool has_details;
    bool app; /* counts against calls_max until its answer completes */
    /* The answer. */
    int cancelled;
    grpc_byte_buffer *resp;
    grpc_slice status_details;
    /* Guarded by the lock: the list the call is on (the waiting calls,
     * or the orphans), and the state of an application call that
     * transport_grpc_stop answered before its owner did. Such a call is
     * freed only once both its answer completed and its owner replied
     * (or the endpoint is freed). */
    struct transport_grpc_call *prev;
    struct transport_grpc_call *next;
    bool answered_by_stop;
    bool owner_replied;
    bool answer_done;
};

struct peer;

struct peer_call
{
    struct tag tag;
    struct peer *peer;
    grpc_call *call;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_byte_buffer *req;
    grpc_byte_buffer *resp;
    grpc_status_code status;
    grpc_slice details;
    size_t n_msgs;
    /* In-flight calls of the peer; guarded by the lock. */
    struct peer_call *prev;
    struct peer_call *next;
};

struct peer
{
    raft_id id;
    char *address;
    grpc_channel *channel;
    void *method; /* registered Raft/Send handle on channel */
    /* Messages waiting for a call, oldest first. */
    struct transport_msg **queue;
    size_t queue_len;
    size_t queue_cap;
    size_t queue_bytes; /* estimated wire size */
    unsigned inflight;
    struct peer_call *calls;
    bool failing; /* the last call failed (logged once) */
};

struct transport_grpc
{
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
    struct transport_grpc_call *waiting; /* application calls unanswered */
    struct transport_grpc_call *orphans; /* answered by stop, see above */
    struct limits limits;
    /* Application answers started and not complete, oldest last. */
    struct transport_grpc_call *answering;
    uint64_t answers_swept_ns;
    bool stopping;
    size_t outstanding; /* tags still to come out of the queue */
    struct transport_grpc_stats stats;
    /* Refused peer batches: logged at most once per REFUSAL_LOG_NS, the
     * others counted until the next line. */
    uint64_t refusal_logged_ns;
    uint64_t refusals_unlogged;
    /* Polling thread only: */
    bool stopped;
};

static void logf_(struct transport_grpc *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_(struct transport_grpc *g, const char *fmt, ...)
{
    if (g->o.log == NULL) {
        return;
    }
    char buf[LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g->o.log(g->o.log_data, buf);
}

void transport_grpc_options_default(struct transport_grpc_options *o)
{
    memset(o, 0, sizeof *o);
    o->peer_timeout_ms = 500;
    o->peer_inflight_max = 1;
    o->peer_queue_max = 8192;
    o->peer_queue_bytes_max = 64u << 20;
    o->batch_bytes_max = 4u << 20;
    o->backoff_initial_ms = 50;
    o->backoff_min_ms = 1000;
    o->backoff_max_ms = 1000;
    o->message_bytes_max = 8u << 20;
    o->streams_max = 100;
    o->calls_max = 4096;
    o->calls_per_address_max = 1024;
    o->unread_bytes_max = 128u << 20;
    o->unread_bytes_per_address_max = 32u << 20;
    o->answer_timeout_ms = 30000;
    o->idle_timeout_ms = 300000;
    o->handshake_timeout_ms = 10000;
    o->memory_bytes_max = 256u << 20;
}

/* ------------------------------------------------------------------------ */
/* Peers: queues and batch calls                                             */
/* ------------------------------------------------------------------------ */

static struct peer *peer_find(struct transport_grpc *g, raft_id id)
{
    for (size_t k = 0; k < g->n_peers; k++) {
        if (g->peers[k]->id == id) {
            return g->peers[k];
        }
    }
    return NULL;
}

static void peer_drop_queue(struct transport_grpc *g, struct peer *p)
{
    for (size_t k = 0; k < p->queue_len; k++) {
        free(p->queue[k]);
    }
    g->stats.dropped += p->queue_len;
    p->queue_len = 0;
    p->queue_bytes = 0;
}

static void peer_call_free(struct peer_call *pc)
{
    grpc_metadata_array_destroy(&pc->initial_md);
    grpc_metadata_array_destroy(&pc->trailing_md);
    if (pc->req != NULL) {
        grpc_byte_buffer_destroy(pc->req);
    }
    if (pc->resp != NULL) {
        grpc_byte_buffer_destroy(pc->resp);
    }
    grpc_slice_unref(pc->details);
    if (pc->call != NULL) {
        grpc_call_unref(pc->call);
    }
    free(pc);
}

/* Packs the first @n queued messages into a request buffer (NULL when
 * they cannot be encoded or are too big: they are lost). */
static grpc_byte_buffer *pack_batch(struct transport_grpc *g,
                                    struct peer *p,
                                    size_t n)
{
    const struct raft_message **msgs = malloc(n * sizeof *msgs);
    if (msgs == NULL) {
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        msgs[k] = &p->queue[k]->m;
    }
    struct transport_grpc_batch *b = NULL;
    int rv = transport_grpc_batch_new(msgs, n, &b);
    free(msgs);
    if (rv != 0) {
        return NULL;
    }
    size_t size = transport_grpc_batch_size(b);
    if (size > g->o.message_bytes_max) {
        transport_grpc_batch_free(b);
        return NULL;
    }
    grpc_slice s = grpc_slice_malloc(size);
    transport_grpc_batch_pack(b, GRPC_SLICE_START_PTR(s));
    transport_grpc_batch_free(b);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Starts batch calls to @p while it has messages queued and room in
 * flight. Lock held. */
static void peer_pump(struct transport_grpc *g, struct peer *p)
{
    while (p->queue_len > 0 && p->inflight < g->o.peer_inflight_max) {
        if (g->stopping || p->channel == NULL) {
            peer_drop_queue(g, p);
            return;
        }
        /* As many messages as fit in one batch (at least one). */
        size_t n = 0;
        size_t bytes = 0;
        while (n < p->queue_len && n < TRANSPORT_GRPC_BATCH_MESSAGES_MAX) {
            size_t est = transport_grpc_msg_estimate(&p->queue[n]->m);
            if (n > 0 && bytes + est > g->o.batch_bytes_max) {
                break;
            }
            bytes += est;
            n++;
        }
        grpc_byte_buffer *req = pack_batch(g, p, n);
        for (size_t k = 0; k < n; k++) {
            free(p->queue[k]);
        }
        memmove(p->queue, p->queue + n, (p->queue_len - n) * sizeof *p->queue);
        p->queue_len -= n;
        p->queue_bytes = p->queue_bytes > bytes ? p->queue_bytes - bytes : 0;
        struct peer_call *pc = req != NULL ? calloc(1, sizeof *pc) : NULL;
        if (pc == NULL) {
            if (req != NULL) {
                grpc_byte_buffer_destroy(req);
            }
            g->stats.dropped += n;
            continue;
        }
        pc->tag.kind = TAG_PEER_CALL;
        pc->peer = p;
        pc->req = req;
        pc->n_msgs = n;
        pc->details = grpc_empty_slice();
        grpc_metadata_array_init(&pc->initial_md);
        grpc_metadata_array_init(&pc->trailing_md);
        pc->call = grpc_channel_create_registered_call(
            p->channel, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq, p->method,
            transport_grpc_deadline(g->o.peer_timeout_ms), NULL);
        grpc_op ops[6];
        transport_grpc_unary_ops(ops, pc->req, &pc->initial_md, &pc->resp,
                                 &pc->trailing_md, &pc->status, &pc->details);
        if (pc->call == NULL ||
            grpc_call_start_batch(pc->call, ops, 6, pc, NULL) != GRPC_CALL_OK) {
            peer_call_free(pc);
            g->stats.dropped += n;
            continue;
        }
        g->outstanding++;
        g->stats.batches_sent++;
        p->inflight++;
        pc->next = p->calls;
        if (p->calls != NULL) {
            p->calls->prev = pc;
        }
        p->calls = pc;
    }
}

static int grpc_send(struct transport *t, const struct raft_message *m)
{
    struct transport_grpc *g = t->impl;
    if (m->from != g->o.id) {
        return COMMON_EINVAL;
    }
    int rv = 0;
    pthread_mutex_lock(&g->lock);
    g->stats.sent++;
    struct peer *p = peer_find(g, m->to);
    if (p == NULL) {
        rv = COMMON_EINVAL;
    } else if (g->stopping) {
        rv = COMMON_ESHUTDOWN;
    } else if (p->queue_len >= g->o.peer_queue_max ||
               p->queue_bytes + transport_grpc_msg_estimate(m) >
                   g->o.peer_queue_bytes_max) {
        rv = COMMON_EBUSY; /* the peer is slow or down */
    } else if (p->queue_len == p->queue_cap) {
        size_t cap = p->queue_cap > 0 ? 2 * p->queue_cap : 64;
        if (cap > g->o.peer_queue_max) {
            cap = g->o.peer_queue_max;
        }
        struct transport_msg **q = realloc(p->queue, cap * sizeof *q);
        if (q == NULL) {
            rv = COMMON_ENOMEM;
        } else {
            p->queue = q;
            p->queue_cap = cap;
        }
    }
    struct transport_msg *c = NULL;
    if (rv == 0) {
        c = transport_msg_clone(m);
        if (c == NULL) {
            rv = COMMON_ENOMEM;
        }
    }
    if (rv != 0) {
        g->stats.dropped++;
        pthread_mutex_unlock(&g->lock);
        return rv;
    }
    p->queue[p->queue_len++] = c;
    p->queue_bytes += transport_grpc_msg_estimate(m);
    /* A full batch need not wait for the flush. */
    if (p->queue_bytes >= g->o.batch_bytes_max) {
        peer_pump(g, p);
    }
    pthread_mutex_unlock(&g->lock);
    return 0;
}

static int grpc_flush(struct transport *t)
{
    struct transport_grpc *g = t->impl;
    pthread_mutex_lock(&g->lock);
    for (size_t k = 0; k < g->n_peers; k++) {
        peer_pump(g, g->peers[k]);
    }
    pthread_mutex_unlock(&g->lock);
    return 0;
}

static void grpc_destroy(struct transport *t)
{
    (void)t; /* the endpoint owns its transport: transport_grpc_free */
}

static const struct transport_vtable grpc_vtable = {
    .send = grpc_send,
    .flush = grpc_flush,
    .destroy = grpc_destroy,
};

/* The end of a batch call: log a change of the peer's health, then send
 * what queued meanwhile. Returns the log line to write (after unlocking)
 * in @line, or "" for none. */
static void peer_call_done(struct transport_grpc *g,
                           struct peer_call *pc,
                           char *line,
                           size_t line_len)
{
    line[0] = '\0';
    pthread_mutex_lock(&g->lock);
    struct peer *p = pc->peer;
    g->outstanding--;
    p->inflight--;
    if (pc->prev != NULL) {
        pc->prev->next = pc->next;
    } else {
        p->calls = pc->next;
    }
    if (pc->next != NULL) {
        pc->next->prev = pc->prev;
    }
    if (pc->status != GRPC_STATUS_OK) {
        g->stats.batches_failed++;
        if (!p->failing && !g->stopping) {
            char *details = grpc_slice_to_c_string(pc->details);
            snprintf(line, line_len,
                     "peer %llu at %s unreachable: %s%s%s (messages are "
                     "dropped until it is back)",
                     (unsigned long long)p->id, p->address,
                     transport_grpc_status_name((int)pc->status),
                     details[0] != '\0' ? ": " : "", details);
            gpr_free(details);
        }
        p->failing = true;
    } else if (p->failing) {
        snprintf(line, line_len, "peer %llu at %s reachable again",
                 (unsigned long long)p->id, p->address);
        p->failing = false;
    }
    peer_pump(g, p);
    pthread_mutex_unlock(&g->lock);
    peer_call_free(pc);
}

static grpc_channel *peer_channel(struct transport_grpc *g, const char *address)
{
    grpc_arg args[8];
    size_t n = 0;
    args[n++] = transport_grpc_int_arg(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                                       (int)g->o.backoff_initial_ms);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                                       (int)g->o.backoff_min_ms);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                                       (int)g->o.backoff_max_ms);
    args[n++] = transport_grpc_int_arg(
        GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
        transport_grpc_clamp_int(g->o.message_bytes_max));
    args[n++] = transport_grpc_int_arg(
        GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
        transport_grpc_clamp_int(g->o.message_bytes_max));
    /* Raft retries by itself; a proxy from the environment has no
     * business between two nodes; each endpoint has its own connections
     * (several endpoints share a process in the harness). */
    args[n++] = transport_grpc_int_arg(GRPC_ARG_ENABLE_RETRIES, 0);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    grpc_channel_args ca = {.num_args = n, .args = args};
    return grpc_channel_create(address, g->creds, &ca);
}

int transport_grpc_set_peer(struct transport_grpc *g,
                            raft_id id,
                            const char *address)
{
    if (id == 0 || id == g->o.id || address == NULL || address[0] == '\0') {
        return COMMON_EINVAL;
    }
    int rv = 0;
    pthread_mutex_lock(&g->lock);
    struct peer *p = peer_find(g, id);
    if (p != NULL && strcmp(p->address, address) == 0) {
        goto out;
    }
    if (p == NULL && g->n_peers == RAFT_MAX_SERVERS) {
        rv = COMMON_EINVAL;
        goto out;
    }
    char *copy = strdup(address);
    grpc_channel *ch = copy != NULL ? peer_channel(g, address) : NULL;
    void *method = ch != NULL ? grpc_channel_register_call(
                                    ch, TRANSPORT_GRPC_RAFT_METHOD, NULL, NULL)
                              : NULL;
    bool fresh = p == NULL;
    if (fresh) {
        p = calloc(1, sizeof *p);
    }
    if (copy == NULL || ch == NULL || method == NULL || p == NULL) {
        if (ch != NULL) {
            grpc_channel_destroy(ch);
        }
        free(copy);
        if (fresh) {
            free(p);
        }
        rv = COMMON_ENOMEM;
        goto out;
    }
    if (fresh) {
        p->id = id;
        g->peers[g->n_peers++] = p;
    } else {
        /* Calls in flight keep the old channel alive until they end. */
        grpc_channel_destroy(p->channel);
        free(p->address);
    }
    p->address = copy;
    p->channel = ch;
    p->method = method;
    p->failing = false;
out:
    pthread_mutex_unlock(&g->lock);
    return rv;
}

/* ------------------------------------------------------------------------ */
/* Server side                                                               */
/* ------------------------------------------------------------------------ */

/* Posts @r with the server again. Lock held. */
static void request_post(struct transport_grpc *g, struct request *r)
{
    r->call = NULL;
    r->payload = NULL;
    grpc_metadata_array_init(&r->md);
    grpc_call_error err;
    if (r->kind == REQUEST_GENERIC) {
        grpc_call_details_init(&r->details);
        err = grpc_server_request_call(g->server, &r->call, &r->details, &r->md,
                                       g->cq, g->cq, r);
    } else {
        void *method = r->kind == REQUEST_RAFT ? g->raft_method
                                               : g->app_methods[r->method];
        err = grpc_server_request_registered_call(g->server, method, &r->call,
                                                  &r->deadline, &r->md,
                                                  &r->payload, g->cq, g->cq, r);
    }
    if (err == GRPC_CALL_OK) {
        g->outstanding++;
    } else {
        grpc_metadata_array_destroy(&r->md);
        if (r->kind == REQUEST_GENERIC) {
            grpc_call_details_destroy(&r->details);
        }
    }
}

static void call_unlink(struct transport_grpc_call **head,
                        struct transport_grpc_call *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        *head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

static void call_push(struct transport_grpc_call **head,
                      struct transport_grpc_call *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head != NULL) {
        (*head)->prev = c;
    }
    *head = c;
}

/* An application call's answer completed (or could not start): it no
 * longer counts against the limits. Lock held. */
static void app_call_end(struct transport_grpc *g,
                         struct transport_grpc_call *c)
{
    if (c->answering) {
        if (c->answering_prev != NULL) {
            c->answering_prev->answering_next = c->answering_next;
        } else {
            g->answering = c->answering_next;
        }
        if (c->answering_next != NULL) {
            c->answering_next->answering_prev = c->answering_prev;
        }
        c->answering = false;
    }
    if (c->source != NULL) {
        limits_call_end(&g->limits, c->source, c->unread);
        c->source = NULL;
    }
    c->unread = 0;
    c->app = false;
}

static void answer_release(struct transport_grpc_call *c)
{
    if (c->resp != NULL) {
        grpc_byte_buffer_destroy(c->resp);
    }
    grpc_slice_unref(c->status_details);
    grpc_metadata_array_destroy(&c->md);
    if (c->has_details) {
        grpc_call_details_destroy(&c->details);
    }
    grpc_call_unref(c->call);
    free(c);
}

/* The answer of @c ended, completed or never started: it no longer counts
 * against the limits. Returns whether to release @c now: not while its
 * owner still holds it - an orphan stays until its owner replies (or the
 * endpoint goes). Lock held. */
static bool answer_end(struct transport_grpc *g, struct transport_grpc_call *c)
{
    if (c->app) {
        app_call_end(g, c);
    }
    bool keep = c->answered_by_stop && !c->owner_replied;
    c->answer_done = true;
    if (c->answered_by_stop && !keep) {
        call_unlink(&g->orphans, c);
    }
    return !keep;
}

/* Sends the answer of @c: status, message and (when OK) the response. */
static void answer(struct transport_grpc_call *c,
                   int status,
                   const char *message,
                   const void *resp,
                   size_t len)
{
    struct transport_grpc *g = c->g;
    c->status_details =
        grpc_slice_from_copied_string(message != NULL ? message : "");
    /* A unary call that succeeds carries a message, even an empty one. */
    if (status == GRPC_STATUS_OK) {
        c->resp = transport_grpc_buffer(resp != NULL ? resp : "", len);
    }
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->resp != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->resp;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)status;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    pthread_mutex_lock(&g->lock);
    grpc_call_error err = grpc_call_start_batch(c->call, ops, n, c, NULL);
    if (err == GRPC_CALL_OK) {
        g->outstanding++;
        if (c->app) {
            /* Until the caller has read it: a caller that never reads
             * holds at most its address's share (serve_app). */
            c->unread = c->resp != NULL ? len : 0;
            limits_answer_started(&g->limits, c->source, c->unread);
            c->answer_started_ns = common_now_ns();
            c->answering = true;
            c->answering_next = g->answering;
            if (g->answering != NULL) {
                g->answering->answering_prev = c;
            }
            g->answering = c;
        }
    }
    bool release = err != GRPC_CALL_OK && answer_end(g, c);
    pthread_mutex_unlock(&g->lock);
    if (err != GRPC_CALL_OK) {
        grpc_call_cancel(c->call, NULL);
    }
    if (release) {
        answer_release(c);
    }
}

static void answer_done(struct transport_grpc *g, struct transport_grpc_call *c)
{
    pthread_mutex_lock(&g->lock);
    g->outstanding--;
    bool release = answer_end(g, c);
    pthread_mutex_unlock(&g->lock);
    if (release) {
        answer_release(c);
    }
}

/* The owner's answer to @c; @no_room: refused for want of room. */
static void reply(struct transport_grpc_call *c,
                  int status,
                  const char *message,
                  const void *resp,
                  size_t len,
                  bool no_room)
{
    struct transport_grpc *g = c->g;
    pthread_mutex_lock(&g->lock);
    if (c->answered_by_stop) {
        /* Too late: the caller was told the node is shutting down. */
        c->owner_replied = true;
        bool release = c->answer_done;
        if (release) {
            call_unlink(&g->orphans, c);
        }
        pthread_mutex_unlock(&g->lock);
        if (release) {
            answer_release(c);
        }
        return;
    }
    call_unlink(&g->waiting, c);
    /* A large answer must fit in what its caller's address may leave
     * unread; else the caller gets RESOURCE_EXHAUSTED instead. Only large
     * ones: the answer to a write is small, so a write that took effect is
     * never reported as refused. */
    if (no_room || (status == GRPC_STATUS_OK &&
                    !limits_answer_fits(&g->limits, c->source, len))) {
        g->stats.calls_refused++;
        status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        message = "too many answers not yet read; read them, then retry";
        resp = NULL;
        len = 0;
    }
    pthread_mutex_unlock(&g->lock);
    answer(c, status, message, resp, len);
}

void transport_grpc_reply(struct transport_grpc_call *c,
                          int status,
                          const char *message,
                          const void *resp,
                          size_t len)
{
    reply(c, status, message, resp, len, false);
}

bool transport_grpc_reply_room(struct transport_grpc_call *c, size_t len)
{
    struct transport_grpc *g = c->g;
    pthread_mutex_lock(&g->lock);
    bool fits =
        c->answered_by_stop || limits_answer_fits(&g->limits, c->source, len);
    pthread_mutex_unlock(&g->lock);
    if (!fits) {
        reply(c, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL, NULL, 0, true);
    }
    return fits;
}

/* Logs a refused peer batch (@status, @why), at most one line per
 * REFUSAL_LOG_NS with the count of those not logged since the last. */
static void log_refusal(struct transport_grpc *g,
                        grpc_status_code status,
                        const char *why)
{
    uint64_t now = common_now_ns();
    pthread_mutex_lock(&g->lock);
    bool due = g->refusal_logged_ns == 0 ||
               now - g->refusal_logged_ns >= REFUSAL_LOG_NS;
    uint64_t more = g->refusals_unlogged;
    if (due) {
        g->refusal_logged_ns = now;
        g->refusals_unlogged = 0;
    } else {
        g->refusals_unlogged++;
    }
    pthread_mutex_unlock(&g->lock);
    if (!due) {
        return;
    }
    if (more > 0) {
        logf_(g,
              "refused a Raft batch (%s): %s (and %llu more since the last "
              "such line)",
              transport_grpc_status_name((int)status), why,
              (unsigned long long)more);
    } else {
        logf_(g, "refused a Raft batch (%s): %s",
              transport_grpc_status_name((int)status), why);
    }
}

/* Refuses a peer batch: answers @status with @why, counts and logs it. */
static void refuse_batch(struct transport_grpc *g,
                         struct transport_grpc_call *c,
                         grpc_status_code status,
                         const char *why)
{
    pthread_mutex_lock(&g->lock);
    if (status == GRPC_STATUS_PERMISSION_DENIED) {
        g->stats.batches_denied++;
    } else if (status == GRPC_STATUS_INVALID_ARGUMENT) {
        g->stats.batches_rejected++;
    }
    pthread_mutex_unlock(&g->lock);
    if (status != GRPC_STATUS_RESOURCE_EXHAUSTED) {
        log_refusal(g, status, why);
    }
    answer(c, status, why, NULL, 0);
}

/* Who may send Raft batches: with TLS, a peer proven by its certificate
 * (its id in @caller); without, anyone (@caller 0). Returns NULL, or why
 * not (in @why). */
static const char *caller_refused(struct transport_grpc *g,
                                  grpc_call *call,
                                  raft_id *caller,
                                  char *why,
                                  size_t why_len)
{
    *caller = 0;
    if (!g->secure) {
        return NULL;
    }
    raft_id id = transport_grpc_call_node(call);
    pthread_mutex_lock(&g->lock);
    bool member = id != 0 && peer_find(g, id) != NULL;
    pthread_mutex_unlock(&g->lock);
    if (id == 0) {
        char *peer = grpc_call_get_peer(call);
        snprintf(why, why_len,
                 "the caller at %s presented no node certificate: the Raft "
                 "service is for cluster members only",
                 peer != NULL ? peer : "?");
        gpr_free(peer);
        return why;
    }
    if (!member) {
        snprintf(why, why_len,
                 "node %llu is not a member of this node's cluster",
                 (unsigned long long)id);
        return why;
    }
    *caller = id;
    return NULL;
}

/* A Raft batch arrived: check the caller, decode the batch whole, check
 * (with TLS) that every message is from the caller, deliver it, answer. */
static void serve_raft(struct transport_grpc *g,
                       struct transport_grpc_call *c,
                       grpc_byte_buffer *payload)
{
    char why[256];
    raft_id caller = 0;
    if (caller_refused(g, c->call, &caller, why, sizeof why) != NULL) {
        refuse_batch(g, c, GRPC_STATUS_PERMISSION_DENIED, why);
        return;
    }
    if (payload == NULL) {
        /* Nothing sent: usually a peer that cancelled the call. */
        answer(c, GRPC_STATUS_INVALID_ARGUMENT, "no message in the call", NULL,
               0);
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    int rv = transport_grpc_read_payload(payload, &buf, &len);
    if (rv == COMMON_ECORRUPT) {
        snprintf(why, sizeof why, "the message cannot be read");
    } else if (rv != 0) {
        snprintf(why, sizeof why, "out of memory");
    }
    struct transport_msg **msgs = NULL;
    size_t n = 0;
    if (rv == 0) {
        rv = transport_grpc_batch_decode(buf, len, g->o.id, &msgs, &n, why,
                                         sizeof why);
    }
    free(buf);
    /* With TLS, every message must come from the caller. */
    grpc_status_code refused = GRPC_STATUS_OK;
    pthread_mutex_lock(&g->lock);
    g->stats.batches_received++;
    for (size_t k = 0; rv == 0 && k < n; k++) {
        raft_id from = msgs[k]->m.from;
        if (caller != 0 && from != caller) {
            snprintf(why, sizeof why,
                     "message %zu claims to be from node %llu, but the "
                     "caller's certificate is node %llu's",
                     k, (unsigned long long)from, (unsigned long long)caller);
            refused = GRPC_STATUS_PERMISSION_DENIED;
        }
        if (refused != GRPC_STATUS_OK) {
            rv = COMMON_EINVAL;
        }
    }
    if (rv == 0) {
        g->stats.received += n;
    }
    pthread_mutex_unlock(&g->lock);
    if (rv != 0) {
        for (size_t k = 0; k < n; k++) {
            free(msgs[k]);
        }
        free(msgs);
        if (refused == GRPC_STATUS_OK) {
            refused = rv == COMMON_ECORRUPT ? GRPC_STATUS_INVALID_ARGUMENT
                                            : GRPC_STATUS_RESOURCE_EXHAUSTED;
        }
        refuse_batch(g, c, refused, why);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        if (g->o.deliver != NULL) {
            g->o.deliver(g->o.deliver_data, msgs[k]);
        } else {
            free(msgs[k]);
        }
    }
    free(msgs);
    answer(c, GRPC_STATUS_OK, NULL, NULL, 0);
}

/* An application call arrived: hand it to the owner (or refuse it). */
static void serve_app(struct transport_grpc *g,
                      struct transport_grpc_call *c,
                      unsigned method,
                      grpc_byte_buffer *payload)
{
    /* The limits first: a refusal costs neither a copy nor a decode. */
    char address[LIMITS_ADDRESS_MAX];
    char *peer = grpc_call_get_peer(c->call);
    limits_source_address(peer, address, sizeof address);
    gpr_free(peer);
    pthread_mutex_lock(&g->lock);
    g->stats.calls++;
    if (g->stopping) {
        /* transport_grpc_stop ran since request_done looked: it answered
         * the waiting calls already and would never answer this one. */
        pthread_mutex_unlock(&g->lock);
        answer(c, GRPC_STATUS_UNAVAILABLE, "the node is shutting down", NULL,
               0);
        return;
    }
    struct limits_source *src = NULL;
    const char *full = limits_admit(&g->limits, address, &src);
    if (full == NULL) {
        c->source = src;
        c->app = true;
        call_push(&g->waiting, c);
    } else {
        g->stats.calls_refused++;
    }
    pthread_mutex_unlock(&g->lock);
    if (full != NULL) {
        answer(c, GRPC_STATUS_RESOURCE_EXHAUSTED, full, NULL, 0);
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    int rv = payload != NULL ? transport_grpc_read_payload(payload, &buf, &len)
                             : COMMON_ECORRUPT;
    if (rv != 0) {
        /* As its owner: transport_grpc_stop may have answered it since it
         * joined the waiting calls, which reply() knows. */
        reply(
            c,
            rv == COMMON_ECORRUPT ? GRPC_STATUS_INVALID_ARGUMENT
                                  : GRPC_STATUS_RESOURCE_EXHAUSTED,
            rv == COMMON_ECORRUPT ? "no message in the call" : "out of memory",
            NULL, 0, false);
        return;
    }
    g->o.on_call(g->o.call_data, c, method, buf, len);
    free(buf);
}

/* A posted request fired: take its call, post it again, serve the call. */
static void request_done(struct transport_grpc *g, struct request *r, int ok)
{
    pthread_mutex_lock(&g->lock);
    g->outstanding--;
    bool stopping = g->stopping;
    pthread_mutex_unlock(&g->lock);
    if (!ok || r->call == NULL) {
        /* The server is shutting down: the request died unanswered. */
        grpc_metadata_array_destroy(&r->md);
        if (r->kind == REQUEST_GENERIC) {
            grpc_call_details_destroy(&r->details);
        }
        if (r->payload != NULL) {
            grpc_byte_buffer_destroy(r->payload);
        }
        return;
    }
    struct transport_grpc_call *c = calloc(1, sizeof *c);
    grpc_byte_buffer *payload = r->payload;
    if (c != NULL) {
        c->tag.kind = TAG_ANSWER;
        c->g = g;
        c->call = r->call;
        c->md = r->md;
        c->status_details = grpc_empty_slice();
        if (r->kind == REQUEST_GENERIC) {
            c->details = r->details;
            c->has_details = true;
        }
    } else {
        grpc_call_cancel_with_status(r->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                     "out of memory", NULL);
        grpc_call_unref(r->call);
        grpc_metadata_array_destroy(&r->md);
        if (r->kind == REQUEST_GENERIC) {
            grpc_call_details_destroy(&r->details);
        }
    }
    enum request_kind kind = r->kind;
    unsigned method = r->method;
    if (!stopping) {
        pthread_mutex_lock(&g->lock);
        request_post(g, r);
        pthread_mutex_unlock(&g->lock);
    }
    if (c == NULL) {
        if (payload != NULL) {
            grpc_byte_buffer_destroy(payload);
        }
        return;
    }
    if (stopping) {
        /* Accepted just before the shutdown. */
        answer(c, GRPC_STATUS_UNAVAILABLE, "the node is shutting down", NULL,
               0);
    } else if (kind == REQUEST_GENERIC) {
        char *path = grpc_slice_to_c_string(c->details.method);
        char msg[300];
        snprintf(msg, sizeof msg, "unknown method %s", path);
        gpr_free(path);
        answer(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL, 0);
    } else if (kind == REQUEST_RAFT) {
        serve_raft(g, c, payload);
    } else {
        serve_app(g, c, method, payload);
    }
    if (payload != NULL) {
        grpc_byte_buffer_destroy(payload);
    }
}

static void handle(struct transport_grpc *g, void *tag, int ok)
{
    /* Every object behind a tag was set up under the lock before gRPC got
     * it; taking the lock here makes that hand-off through gRPC's queue
     * visible to ThreadSanitizer, which cannot see gRPC's own
     * synchronisation (Debian's gRPC is not built for it). */
    struct tag *t = tag;
    pthread_mutex_lock(&g->lock);
    enum tag_kind kind = t->kind;
    pthread_mutex_unlock(&g->lock);
    switch (kind) {
        case TAG_REQUEST:
            request_done(g, (struct request *)t, ok);
            break;
        case TAG_ANSWER:
            answer_done(g, (struct transport_grpc_call *)t);
            break;
        case TAG_PEER_CALL: {
            char line[LOG_MAX];
            peer_call_done(g, (struct peer_call *)t, line, sizeof line);
            if (line[0] != '\0' && g->o.log != NULL) {
                g->o.log(g->o.log_data, line);
            }
            break;
        }
        case TAG_SHUTDOWN:
            pthread_mutex_lock(&g->lock);
            g->outstanding--;
            pthread_mutex_unlock(&g->lock);
            g->stopped = true;
            break;
    }
}

/* Cancels application answers that were not delivered within
 * answer_timeout_ms: a caller that does not read them must not hold their
 * memory forever. */
static void cancel_slow_answers(struct transport_grpc *g)
{
    uint64_t now = common_now_ns();
    if (now - g->answers_swept_ns < ANSWER_SWEEP_NS) {
        return;
    }
    g->answers_swept_ns = now;
    uint64_t limit = (uint64_t)g->o.answer_timeout_ms * 1000000ull;
    pthread_mutex_lock(&g->lock);
    for (struct transport_grpc_call *c = g->answering; c != NULL;
         c = c->answering_next) {
        if (now - c->answer_started_ns > limit && !c->cancel_sent) {
            c->cancel_sent = true; /* once; its batch then completes */
            g->stats.answers_cancelled++;
            grpc_call_cancel(c->call, NULL);
        }
    }
    pthread_mutex_unlock(&g->lock);
}

int transport_grpc_poll(struct transport_grpc *g, unsigned timeout_ms)
{
    cancel_slow_answers(g);
    gpr_timespec deadline = transport_grpc_deadline(timeout_ms);
    for (int k = 0; k < POLL_EVENTS_MAX && !g->stopped; k++) {
        grpc_event ev = grpc_completion_queue_next(
            g->cq, k == 0 ? deadline : gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type != GRPC_OP_COMPLETE) {
            break;
        }
        handle(g, ev.tag, ev.success);
    }
    return g->stopped ? TRANSPORT_GRPC_STOPPED : 0;
}

void transport_grpc_stop(struct transport_grpc *g)
{
    /* Calls still waiting for their owner are answered first: an answer
     * started after the server's shutdown would never reach its caller.
     * They move to the orphans until their owner replies. */
    pthread_mutex_lock(&g->lock);
    if (g->stopping) {
        pthread_mutex_unlock(&g->lock);
        return;
    }
    g->stopping = true;
    struct transport_grpc_call *list = NULL;
    while (g->waiting != NULL) {
        struct transport_grpc_call *c = g->waiting;
        call_unlink(&g->waiting, c);
        c->answered_by_stop = true;
        call_push(&list, c);
    }
    pthread_mutex_unlock(&g->lock);
    while (list != NULL) {
        struct transport_grpc_call *c = list;
        call_unlink(&list, c);
        pthread_mutex_lock(&g->lock);
        call_push(&g->orphans, c);
        pthread_mutex_unlock(&g->lock);
        answer(c, GRPC_STATUS_UNAVAILABLE, "the node is shutting down", NULL,
               0);
    }
    pthread_mutex_lock(&g->lock);
    g->outstanding++;
    grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
    pthread_mutex_unlock(&g->lock);
}

/* Binds @listen with a plain socket to learn why gRPC could not. */
static void bind_error(const char *listen, char *why, size_t why_len)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t hl = colon != NULL ? (size_t)(colon - listen) : 0;
    if (colon == NULL || hl >= sizeof host) {
        snprintf(why, why_len, "%s: not a HOST:PORT address", listen);
        return;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    struct addrinfo *ai = NULL;
    int gai =
        getaddrinfo(host[0] != '\0' ? host : NULL, colon + 1, &hints, &ai);
    if (gai != 0) {
        snprintf(why, why_len, "%s: %s", listen, gai_strerror(gai));
        return;
    }
    int err = 0;
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int rc = bind(fd, a->ai_addr, a->ai_addrlen);
        err = rc == 0 ? 0 : errno;
        close(fd);
        if (err != 0) {
            break;
        }
    }
    freeaddrinfo(ai);
    if (err != 0) {
        snprintf(why, why_len, "%s: %s", listen, strerror(err));
    } else {
        snprintf(why, why_len, "%s: gRPC cannot listen there", listen);
    }
}

static int start_server(struct transport_grpc *g,
                        const struct transport_grpc_tls *tls,
                        char *why,
                        size_t why_len)
{
    grpc_arg args[8];
    size_t n = 0;
    args[n++] = transport_grpc_int_arg(
        GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
        transport_grpc_clamp_int(g->o.message_bytes_max));
    /* Connections that never finish their handshake, or hold no call for
     * long, are closed: a descriptor each is all they would cost, but
     * descriptors are what the connection cap counts. */
    args[n++] = transport_grpc_int_arg(
        GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
        transport_grpc_clamp_int(g->o.handshake_timeout_ms));
    args[n++] =
        transport_grpc_int_arg(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                               transport_grpc_clamp_int(g->o.idle_timeout_ms));
    /* The memory gRPC itself may take for connections and calls: past it,
     * it sheds new connections and shrinks its buffers rather than grow. */
    g->quota = grpc_resource_quota_create("raftkv");
    if (g->quota == NULL) {
        transport_grpc_why(why, why_len, "cannot create a resource quota");
        return COMMON_ENOMEM;
    }
    grpc_resource_quota_resize(g->quota, g->o.memory_bytes_max);
    grpc_arg quota;
    memset(&quota, 0, sizeof quota);
    quota.type = GRPC_ARG_POINTER;
    quota.key = (char *)(uintptr_t)GRPC_ARG_RESOURCE_QUOTA;
    quota.value.pointer.p = g->quota;
    quota.value.pointer.vtable = grpc_resource_quota_arg_vtable();
    args[n++] = quota;
    args[n++] = transport_grpc_int_arg(
        GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
        transport_grpc_clamp_int(g->o.message_bytes_max));
    args[n++] = transport_grpc_int_arg(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                                       (int)g->o.streams_max);
    /* Without this Linux lets a second server bind the same port, and a
     * node started twice would silently share its address. */
    args[n++] = transport_grpc_int_arg(GRPC_ARG_ALLOW_REUSEPORT, 0);
    grpc_channel_args ca = {.num_args = n, .args = args};
    g->server = grpc_server_create(&ca, NULL);
    if (g->server == NULL) {
        transport_grpc_why(why, why_len, "cannot create a gRPC server");
        return COMMON_ENOMEM;
    }
    g->raft_method = grpc_server_register_method(
        g->server, TRANSPORT_GRPC_RAFT_METHOD, NULL,
        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    for (size_t k = 0; k < g->o.n_methods; k++) {
        g->app_methods[k] = grpc_server_register_method(
            g->server, g->o.methods[k], NULL,
            GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (g->app_methods[k] == NULL) {
            transport_grpc_why(why, why_len, "cannot register method %s",
                               g->o.methods[k]);
            return COMMON_EINVAL;
        }
    }
    if (g->raft_method == NULL) {
        transport_grpc_why(why, why_len, "cannot register %s",
                           TRANSPORT_GRPC_RAFT_METHOD);
        return COMMON_EINVAL;
    }
    grpc_server_register_completion_queue(g->server, g->cq, NULL);
    grpc_server_credentials *sc;
    if (tls != NULL) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = tls->key_pem,
                                           .cert_chain = tls->cert_pem};
        sc = grpc_ssl_server_credentials_create_ex(
            tls->ca_pem, &pair, 1,
            tls->clients_need_cert
                ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY,
            NULL);
    } else {
        sc = grpc_insecure_server_credentials_create();
    }
    if (sc == NULL) {
        transport_grpc_why(why, why_len,
                           "cannot create the server's credentials");
        return COMMON_EINVAL;
    }
    int port = grpc_server_add_http2_port(g->server, g->listen, sc);
    grpc_server_credentials_release(sc);
    if (port <= 0) {
        if (why != NULL && why_len > 0) {
            bind_error(g->listen, why, why_len);
        }
        return COMMON_EUNAVAILABLE;
    }
    g->port = (unsigned)port;
    grpc_server_start(g->server);
    g->started = true;
    /* The requests: Raft batches, each application method, and a generic
     * one so that unknown methods are answered at once. */
    size_t k = 0;
    for (size_t j = 0; j < POSTED_RAFT; j++, k++) {
        g->requests[k].kind = REQUEST_RAFT;
    }
    for (size_t m = 0; m < g->o.n_methods; m++) {
        for (size_t j = 0; j < POSTED_APP; j++, k++) {
            g->requests[k].kind = REQUEST_APP;
            g->requests[k].method = (unsigned)m;
        }
    }
    for (size_t j = 0; j < POSTED_GENERIC; j++, k++) {
        g->requests[k].kind = REQUEST_GENERIC;
    }
    pthread_mutex_lock(&g->lock);
    for (k = 0; k < g->n_requests; k++) {
        g->requests[k].tag.kind = TAG_REQUEST;
        g->requests[k].g = g;
        request_post(g, &g->requests[k]);
    }
    pthread_mutex_unlock(&g->lock);
    return 0;
}

int transport_grpc_new(const struct transport_grpc_options *o,
                       char *why,
                       size_t why_len,
                       struct transport_grpc **out)
{
    if (o->id == 0 || o->listen == NULL || o->listen[0] == '\0' ||
        o->peer_inflight_max == 0 || o->peer_queue_max == 0 ||
        o->peer_queue_bytes_max == 0 || o->batch_bytes_max == 0 ||
        o->message_bytes_max == 0 || o->streams_max == 0 || o->calls_max == 0 ||
        o->calls_per_address_max == 0 || o->unread_bytes_max == 0 ||
        o->unread_bytes_per_address_max == 0 || o->answer_timeout_ms == 0 ||
        o->idle_timeout_ms == 0 || o->handshake_timeout_ms == 0 ||
        o->memory_bytes_max == 0 ||
        (o->n_methods > 0 && (o->methods == NULL || o->on_call == NULL))) {
        transport_grpc_why(why, why_len, "invalid transport options");
        return COMMON_EINVAL;
    }
    struct transport_grpc *g = calloc(1, sizeof *g);
    if (g == NULL) {
        transport_grpc_why(why, why_len, "out of memory");
        return COMMON_ENOMEM;
    }
    g->o = *o;
    g->t.vt = &grpc_vtable;
    g->t.impl = g;
    g->shutdown_tag.kind = TAG_SHUTDOWN;
    limits_init(&g->limits, o);
    g->listen = strdup(o->listen);
    g->n_requests = POSTED_RAFT + POSTED_APP * o->n_methods + POSTED_GENERIC;
    g->requests = calloc(g->n_requests, sizeof *g->requests);
    g->app_methods =
        calloc(o->n_methods > 0 ? o->n_methods : 1, sizeof *g->app_methods);
    if (g->listen == NULL || g->requests == NULL || g->app_methods == NULL ||
        pthread_mutex_init(&g->lock, NULL) != 0) {
        free(g->app_methods);
        free(g->requests);
        free(g->listen);
        free(g);
        transport_grpc_why(why, why_len, "out of memory");
        return COMMON_ENOMEM;
    }
    g->o.listen = g->listen;
    g->o.tls = NULL; /* borrowed for this call only */
    g->secure = o->tls != NULL;
    transport_grpc_init();
    g->creds = transport_grpc_channel_creds(o->tls);
    g->cq = grpc_completion_queue_create_for_next(NULL);
    int rv = start_server(g, o->tls, why, why_len);
    if (rv != 0) {
        transport_grpc_free(g);
        return rv;
    }
    *out = g;
    return 0;
}

/* Handles events until every tag we are owed came back, or until
 * @until_stopped and the server's shutdown tag came back, or @ms passed
 * (0: no limit). */
static void drain(struct transport_grpc *g, bool until_stopped, unsigned ms)
{
    gpr_timespec end = ms > 0 ? transport_grpc_deadline(ms)
                              : gpr_inf_future(GPR_CLOCK_MONOTONIC);
    for (;;) {
        pthread_mutex_lock(&g->lock);
        size_t left = g->outstanding;
        pthread_mutex_unlock(&g->lock);
        if (left == 0 || (until_stopped && g->stopped)) {
            return;
        }
        grpc_event ev = grpc_completion_queue_next(g->cq, end, NULL);
        if (ev.type != GRPC_OP_COMPLETE) {
            return;
        }
        handle(g, ev.tag, ev.success);
    }
}

void transport_grpc_free(struct transport_grpc *g)
{
    if (g == NULL) {
        return;
    }
    /* Stopping answers what still waits; then every batch call ends, and
     * the server may finish the calls it has (a second at most) before
     * they are cut. */
    if (g->started) {
        transport_grpc_stop(g);
    }
    pthread_mutex_lock(&g->lock);
    for (size_t k = 0; k < g->n_peers; k++) {
        struct peer *p = g->peers[k];
        peer_drop_queue(g, p);
        for (struct peer_call *pc = p->calls; pc != NULL; pc = pc->next) {
            grpc_call_cancel(pc->call, NULL);
        }
    }
    pthread_mutex_unlock(&g->lock);
    if (g->started) {
        drain(g, true, 1000);
        if (!g->stopped) {
            grpc_server_cancel_all_calls(g->server);
        }
    }
    /* Every tag we are owed comes back before anything is destroyed. */
    drain(g, false, 0);
    /* Orphans whose owner never replied: the owner may not any more. */
    while (g->orphans != NULL) {
        struct transport_grpc_call *c = g->orphans;
        call_unlink(&g->orphans, c);
        answer_release(c);
    }
    if (g->server != NULL) {
        grpc_server_destroy(g->server);
    }
    for (size_t k = 0; k < g->n_peers; k++) {
        struct peer *p = g->peers[k];
        grpc_channel_destroy(p->channel);
        free(p->queue);
        free(p->address);
        free(p);
    }
    grpc_completion_queue_shutdown(g->cq);
    while (grpc_completion_queue_next(g->cq,
                                      gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(g->cq);
    grpc_channel_credentials_release(g->creds);
    if (g->quota != NULL) {
        grpc_resource_quota_unref(g->quota);
    }
    limits_fini(&g->limits);
    pthread_mutex_destroy(&g->lock);
    free(g->app_methods);
    free(g->requests);
    free(g->listen);
    free(g);
    grpc_shutdown();
}

struct transport *transport_grpc_transport(struct transport_grpc *g)
{
    return &g->t;
}

unsigned transport_grpc_port(const struct transport_grpc *g)
{
    return g->port;
}

void transport_grpc_stats(struct transport_grpc *g,
                          struct transport_grpc_stats *s)
{
    pthread_mutex_lock(&g->lock);
    *s = g->stats;
    pthread_mutex_unlock(&g->lock);
}
