/*
 * The gRPC transport's endpoint: one per node over the gRPC C core
 * (transport.h has the contract, shared/notes/grpc-c-core.md the C core
 * facts this follows). This file holds its life - options, start, the
 * poll that drains the completion queue, stop, free - and its counters;
 * the rest is split by concept (grpc_endpoint.h lists the files).
 *
 * The idea: everything the endpoint waits for comes out of one completion
 * queue, drained by the owner's thread in transport_grpc_poll(), so that
 * every callback runs on that thread and the owner's loop can use the
 * poll's timeout for its ticks. Each event carries a tag naming one of
 * the endpoint's objects (a posted request, a server call's answer, a
 * batch call to a peer, the server's shutdown), and handle() passes it to
 * the file of that concept.
 *
 * Shutting down is ordered by what gRPC needs: calls still waiting for
 * their owner are answered first (an answer started after the server's
 * shutdown never reaches its caller), then the server shuts down, batch
 * calls are cancelled, and every tag the endpoint is owed comes back out
 * of the queue before anything is destroyed. Only the polling thread (or
 * any thread once none polls) may drain the queue.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "grpc_endpoint.h"
#include "grpc_internal.h"
#include "transport/transport.h"

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

static void grpc_destroy(struct transport *t)
{
    (void)t; /* the endpoint owns its transport: transport_grpc_free */
}

static const struct transport_vtable grpc_vtable = {
    .send = peer_send,
    .flush = peer_flush,
    .destroy = grpc_destroy,
};

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
            server_request_done(g, (struct request *)t, ok);
            break;
        case TAG_ANSWER:
            call_answer_done(g, (struct transport_grpc_call *)t);
            break;
        case TAG_PEER_CALL:
            peer_call_done(g, (struct peer_call *)t);
            break;
        case TAG_FORWARD:
            forward_done(g, (struct forward *)t);
            break;
        case TAG_SHUTDOWN:
            pthread_mutex_lock(&g->lock);
            g->outstanding--;
            pthread_mutex_unlock(&g->lock);
            g->stopped = true;
            break;
    }
}

int transport_grpc_poll(struct transport_grpc *g, unsigned timeout_ms)
{
    calls_cancel_slow(g);
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
    pthread_mutex_lock(&g->lock);
    bool first = !g->stopping;
    g->stopping = true;
    pthread_mutex_unlock(&g->lock);
    if (!first) {
        return;
    }
    calls_orphan_waiting(g);
    pthread_mutex_lock(&g->lock);
    g->outstanding++;
    grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
    pthread_mutex_unlock(&g->lock);
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
    int rv = server_start(g, o->tls, why, why_len);
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
    peers_cancel(g);
    if (g->started) {
        drain(g, true, 1000);
        if (!g->stopped) {
            grpc_server_cancel_all_calls(g->server);
        }
    }
    /* Every tag we are owed comes back before anything is destroyed. */
    drain(g, false, 0);
    /* Orphans whose owner never replied: the owner may not any more. */
    calls_free_orphans(g);
    if (g->server != NULL) {
        grpc_server_destroy(g->server);
    }
    peers_free(g);
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
