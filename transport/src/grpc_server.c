/*
 * Inbound: the endpoint's gRPC server. It serves the peer service's one
 * method (Raft/Send), the owner's application methods, and answers any
 * other method UNIMPLEMENTED at once; each is a set of requests kept
 * posted with the server and posted again as soon as one fires.
 *
 * The idea: what arrives is checked before it costs anything. A Raft
 * batch is taken only from a member (with TLS, the caller's certificate
 * names a peer), decoded whole and delivered only when every message in
 * it is well formed and, with TLS, from that member; a refusal is
 * answered, counted and logged at most once a second, so that whoever can
 * reach the port cannot flood the log. An application call is admitted
 * by the limits (grpc_limits.c) before its request is even copied, then
 * handed to the owner, who answers it later (grpc_call.c).
 */
#include <errno.h>
#include <netdb.h>
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

#include "grpc_codec.h"
#include "grpc_endpoint.h"
#include "grpc_internal.h"
#include "transport/transport.h"

/* At most one log line a second about refused peer batches. */
#define REFUSAL_LOG_NS 1000000000ull

static void logf_(struct transport_grpc *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_(struct transport_grpc *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    common_vlogf(g->o.log, g->o.log_data, COMMON_LOG_WARN, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */
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

/* ------------------------------------------------------------------------ */
/* Raft batches                                                              */
/* ------------------------------------------------------------------------ */

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
    } else if (status == GRPC_STATUS_FAILED_PRECONDITION) {
        g->stats.batches_foreign++;
    }
    pthread_mutex_unlock(&g->lock);
    if (status != GRPC_STATUS_RESOURCE_EXHAUSTED) {
        log_refusal(g, status, why);
    }
    call_answer(c, status, why, NULL, 0);
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
        call_answer(c, GRPC_STATUS_INVALID_ARGUMENT, "no message in the call",
                    NULL, 0);
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
        rv = transport_grpc_batch_decode(buf, len, g->o.id, g->o.cluster_id,
                                         &msgs, &n, why, sizeof why);
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
            refused = rv == COMMON_ECORRUPT    ? GRPC_STATUS_INVALID_ARGUMENT
                      : rv == COMMON_EMISMATCH ? GRPC_STATUS_FAILED_PRECONDITION
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
    call_answer(c, GRPC_STATUS_OK, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Application calls                                                         */
/* ------------------------------------------------------------------------ */

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
        /* transport_grpc_stop ran since server_request_done looked: it
         * answered the waiting calls already and would never answer this
         * one. */
        pthread_mutex_unlock(&g->lock);
        call_answer(c, GRPC_STATUS_UNAVAILABLE, "the node is shutting down",
                    NULL, 0);
        return;
    }
    struct limits_source *src = NULL;
    const char *full = limits_admit(&g->limits, address, &src);
    if (full == NULL) {
        call_wait(g, c, src);
    } else {
        g->stats.calls_refused++;
    }
    pthread_mutex_unlock(&g->lock);
    if (full != NULL) {
        call_answer(c, GRPC_STATUS_RESOURCE_EXHAUSTED, full, NULL, 0);
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    int rv = payload != NULL ? transport_grpc_read_payload(payload, &buf, &len)
                             : COMMON_ECORRUPT;
    if (rv != 0) {
        /* As its owner: transport_grpc_stop may have answered it since it
         * joined the waiting calls, which call_reply knows. */
        call_reply(
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

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */
/* ------------------------------------------------------------------------ */

/* Frees what a request that did not become a call holds. */
static void request_drop(struct request *r)
{
    grpc_metadata_array_destroy(&r->md);
    if (r->kind == REQUEST_GENERIC) {
        grpc_call_details_destroy(&r->details);
    }
}

void server_request_done(struct transport_grpc *g, struct request *r, int ok)
{
    pthread_mutex_lock(&g->lock);
    g->outstanding--;
    bool stopping = g->stopping;
    pthread_mutex_unlock(&g->lock);
    if (!ok || r->call == NULL) {
        /* The server is shutting down: the request died unanswered. */
        request_drop(r);
        if (r->payload != NULL) {
            grpc_byte_buffer_destroy(r->payload);
        }
        return;
    }
    struct transport_grpc_call *c = call_new(g, r);
    grpc_byte_buffer *payload = r->payload;
    if (c == NULL) {
        grpc_call_cancel_with_status(r->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                     "out of memory", NULL);
        grpc_call_unref(r->call);
        request_drop(r);
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
        call_answer(c, GRPC_STATUS_UNAVAILABLE, "the node is shutting down",
                    NULL, 0);
    } else if (kind == REQUEST_GENERIC) {
        char *path = grpc_slice_to_c_string(c->details.method);
        char msg[300];
        snprintf(msg, sizeof msg, "unknown method %s", path);
        gpr_free(path);
        call_answer(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL, 0);
    } else if (kind == REQUEST_RAFT) {
        serve_raft(g, c, payload);
    } else {
        serve_app(g, c, method, payload);
    }
    if (payload != NULL) {
        grpc_byte_buffer_destroy(payload);
    }
}

/* ------------------------------------------------------------------------ */
/* The server                                                                */
/* ------------------------------------------------------------------------ */

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

int server_start(struct transport_grpc *g,
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
