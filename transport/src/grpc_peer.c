/*
 * Outbound: the endpoint's peers. send() queues a deep copy of a message
 * for its peer; flush() (or the end of an earlier call) packs the queue
 * into MessageBatch calls of at most batch_bytes_max, at most
 * peer_inflight_max in flight per peer, each with a deadline; a channel
 * per peer, with a short reconnect backoff.
 *
 * The idea: one call per flush and peer is what makes gRPC affordable
 * here. A unary round trip costs ~150 us (notes/grpc-c-core.md), so a
 * leader replicating to two followers sends two calls per flush however
 * many messages it made. Everything here is best effort: a full queue, a
 * message that cannot be packed, a failed call lose messages, and Raft
 * retries. A peer that starts or stops failing is logged once per change,
 * not once per call.
 *
 * Every peer and peer call is guarded by the endpoint's lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>

#include "grpc_codec.h"
#include "grpc_endpoint.h"
#include "grpc_internal.h"
#include "transport/transport.h"

struct peer *peer_find(struct transport_grpc *g, raft_id id)
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

void unary_init(struct unary *u, grpc_byte_buffer *req)
{
    memset(u, 0, sizeof *u);
    u->req = req;
    u->details = grpc_empty_slice();
    grpc_metadata_array_init(&u->initial_md);
    grpc_metadata_array_init(&u->trailing_md);
}

bool unary_start(struct transport_grpc *g,
                 struct unary *u,
                 grpc_channel *channel,
                 void *method,
                 unsigned timeout_ms,
                 grpc_metadata *md,
                 size_t n_md,
                 void *tag)
{
    u->call = grpc_channel_create_registered_call(
        channel, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq, method,
        transport_grpc_deadline(timeout_ms), NULL);
    grpc_op ops[6];
    transport_grpc_unary_ops(ops, u->req, &u->initial_md, &u->resp,
                             &u->trailing_md, &u->status, &u->details);
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = md;
    return u->call != NULL &&
           grpc_call_start_batch(u->call, ops, 6, tag, NULL) == GRPC_CALL_OK;
}

void unary_fini(struct unary *u)
{
    grpc_metadata_array_destroy(&u->initial_md);
    grpc_metadata_array_destroy(&u->trailing_md);
    if (u->req != NULL) {
        grpc_byte_buffer_destroy(u->req);
    }
    if (u->resp != NULL) {
        grpc_byte_buffer_destroy(u->resp);
    }
    grpc_slice_unref(u->details);
    if (u->call != NULL) {
        grpc_call_unref(u->call);
    }
}

static void peer_call_free(struct peer_call *pc)
{
    unary_fini(&pc->u);
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
    transport_grpc_batch_set_cluster(b, g->o.cluster_id);
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
        pc->n_msgs = n;
        unary_init(&pc->u, req);
        if (!unary_start(g, &pc->u, p->channel, p->method, g->o.peer_timeout_ms,
                         NULL, 0, pc)) {
            peer_call_free(pc);
            g->stats.dropped += n;
            continue;
        }
        pc->started_ns = common_now_ns();
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

int peer_send(struct transport *t, const struct raft_message *m)
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

int peer_flush(struct transport *t)
{
    struct transport_grpc *g = t->impl;
    pthread_mutex_lock(&g->lock);
    for (size_t k = 0; k < g->n_peers; k++) {
        peer_pump(g, g->peers[k]);
    }
    pthread_mutex_unlock(&g->lock);
    return 0;
}

void peer_call_done(struct transport_grpc *g, struct peer_call *pc)
{
    char line[LOG_MAX];
    line[0] = '\0';
    enum common_log_level level = COMMON_LOG_WARN;
    uint64_t rtt_ns = common_now_ns() - pc->started_ns;
    pthread_mutex_lock(&g->lock);
    struct peer *p = pc->peer;
    raft_id peer_id = p->id;
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
    if (pc->u.status != GRPC_STATUS_OK) {
        g->stats.batches_failed++;
        if (!p->failing && !g->stopping) {
            char *details = grpc_slice_to_c_string(pc->u.details);
            snprintf(line, sizeof line,
                     "peer %llu at %s unreachable: %s%s%s (messages are "
                     "dropped until it is back)",
                     (unsigned long long)p->id, p->address,
                     transport_grpc_status_name((int)pc->u.status),
                     details[0] != '\0' ? ": " : "", details);
            gpr_free(details);
        }
        p->failing = true;
    } else if (p->failing) {
        snprintf(line, sizeof line, "peer %llu at %s reachable again",
                 (unsigned long long)p->id, p->address);
        level = COMMON_LOG_INFO;
        p->failing = false;
    }
    peer_pump(g, p);
    pthread_mutex_unlock(&g->lock);
    bool ok = pc->u.status == GRPC_STATUS_OK;
    peer_call_free(pc);
    if (ok && g->o.peer_rtt != NULL) {
        g->o.peer_rtt(g->o.peer_rtt_data, peer_id, rtt_ns);
    }
    if (line[0] != '\0' && g->o.log != NULL) {
        g->o.log(g->o.log_data, level, line);
    }
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
    void **app =
        g->o.n_methods > 0 ? calloc(g->o.n_methods, sizeof *app) : NULL;
    bool app_ok = g->o.n_methods == 0 || app != NULL;
    for (size_t k = 0; app_ok && ch != NULL && k < g->o.n_methods; k++) {
        app[k] = grpc_channel_register_call(ch, g->o.methods[k], NULL, NULL);
        app_ok = app[k] != NULL;
    }
    bool fresh = p == NULL;
    if (fresh) {
        p = calloc(1, sizeof *p);
    }
    if (copy == NULL || ch == NULL || method == NULL || !app_ok || p == NULL) {
        if (ch != NULL) {
            grpc_channel_destroy(ch);
        }
        free(app);
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
        free(p->app_methods);
    }
    p->address = copy;
    p->channel = ch;
    p->method = method;
    p->app_methods = app;
    p->failing = false;
out:
    pthread_mutex_unlock(&g->lock);
    return rv;
}

void peers_cancel(struct transport_grpc *g)
{
    pthread_mutex_lock(&g->lock);
    for (size_t k = 0; k < g->n_peers; k++) {
        struct peer *p = g->peers[k];
        peer_drop_queue(g, p);
        for (struct peer_call *pc = p->calls; pc != NULL; pc = pc->next) {
            grpc_call_cancel(pc->u.call, NULL);
        }
    }
    forwards_cancel(g);
    pthread_mutex_unlock(&g->lock);
}

void peers_free(struct transport_grpc *g)
{
    for (size_t k = 0; k < g->n_peers; k++) {
        struct peer *p = g->peers[k];
        grpc_channel_destroy(p->channel);
        free(p->queue);
        free(p->address);
        free(p->app_methods);
        free(p);
    }
    g->n_peers = 0;
}
