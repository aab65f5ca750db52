/*
 * The follower proxy (raftkv-server --proxy; proxy.h, docs/api.md).
 *
 * The idea: the follower does not interpret what it forwards. It sends the
 * client's request bytes unchanged - session (client_id, seq) included -
 * as the same method over its peer channel to the leader
 * (transport_grpc_forward), and relays the leader's answer bytes. So a
 * proxied write has exactly the guarantees of a direct one: the leader
 * deduplicates by session, and every answer that leaves the outcome
 * unknown (CODE_RETRY, UNAVAILABLE, DEADLINE_EXCEEDED) tells the client to
 * retry with the same client_id and seq, through this node or any other.
 *
 * What the proxy adds is bounded: at most max_calls forwards in flight
 * (a slot each; beyond, the caller answers NOT_LEADER as without the
 * proxy), each with a deadline. A forward that ends without the leader's
 * answer - unreachable, cancelled, an answer that does not decode - is
 * answered UNAVAILABLE, which the client may retry safely.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

struct slot
{
    struct proxy *px;
    struct transport_grpc_call *call; /* NULL: answered by proxy_stop */
    enum cmd_method method;
    raft_id leader;
    uint64_t started_ns;
    bool busy;
};

struct proxy
{
    struct proxy_options o;
    struct slot *slots; /* max_calls of them */
    unsigned *free_slots;
    unsigned n_free;
};

int proxy_new(const struct proxy_options *o, struct proxy **out)
{
    if (o->max_calls == 0 || o->grpc == NULL || o->count == NULL) {
        return COMMON_EINVAL;
    }
    struct proxy *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return COMMON_ENOMEM;
    }
    p->o = *o;
    p->slots = calloc(o->max_calls, sizeof *p->slots);
    p->free_slots = calloc(o->max_calls, sizeof *p->free_slots);
    if (p->slots == NULL || p->free_slots == NULL) {
        proxy_free(p);
        return COMMON_ENOMEM;
    }
    for (unsigned k = 0; k < o->max_calls; k++) {
        p->slots[k].px = p;
        p->free_slots[k] = o->max_calls - 1 - k;
    }
    p->n_free = o->max_calls;
    *out = p;
    return 0;
}

void proxy_free(struct proxy *p)
{
    if (p == NULL) {
        return;
    }
    free(p->slots);
    free(p->free_slots);
    free(p);
}

unsigned proxy_inflight(const struct proxy *p)
{
    return p->o.max_calls - p->n_free;
}

static void slot_release(struct proxy *p, struct slot *s)
{
    s->busy = false;
    s->call = NULL;
    p->free_slots[p->n_free++] = (unsigned)(s - p->slots);
}

/* Answers @s's client with a gRPC error. */
static void answer_error(struct proxy *p,
                         const struct slot *s,
                         int status,
                         const char *message)
{
    p->o.count(p->o.data, s->method, status, KV_OK, s->started_ns);
    transport_grpc_reply(s->call, status, message, NULL, 0);
}

/* The leader's answer @res to the forward of @s, relayed to its client. */
static void relay(struct proxy *p,
                  const struct slot *s,
                  const struct transport_grpc_result *res)
{
    char msg[512];
    unsigned long long leader = (unsigned long long)s->leader;
    switch (res->status) {
        case TRANSPORT_GRPC_OK:
            break;
        case TRANSPORT_GRPC_INVALID_ARGUMENT:
        case TRANSPORT_GRPC_RESOURCE_EXHAUSTED:
            /* Statuses a node answers clients with (docs/api.md), with
             * the same meaning here: the request itself was refused. */
            snprintf(msg, sizeof msg, "through the leader, node %llu: %s",
                     leader, res->message);
            answer_error(p, s, res->status, msg);
            return;
        case TRANSPORT_GRPC_DEADLINE_EXCEEDED:
        case TRANSPORT_GRPC_UNAVAILABLE:
            /* The leader's own answer, or the connection to it failing
             * (refused, reset, past the deadline): either way the outcome
             * may be unknown, and the same status says so. */
            snprintf(msg, sizeof msg,
                     "forwarding to the leader, node %llu: %s: the outcome "
                     "is unknown; retry with the same client_id and seq",
                     leader, res->message);
            answer_error(p, s, res->status, msg);
            return;
        default:
            snprintf(msg, sizeof msg,
                     "forwarding to the leader, node %llu, failed (%s%s%s): "
                     "the outcome is unknown; retry with the same client_id "
                     "and seq",
                     leader, transport_grpc_status_name(res->status),
                     res->message[0] != '\0' ? ": " : "", res->message);
            answer_error(p, s, TRANSPORT_GRPC_UNAVAILABLE, msg);
            return;
    }
    /* The leader is authenticated (TLS), but its answer is checked as any
     * bytes from the network before it is passed on. */
    struct cmd_response r;
    if (cmd_response_decode(s->method, res->data, res->len, &r) != 0) {
        snprintf(msg, sizeof msg,
                 "the leader, node %llu, answered %zu bytes that are not a "
                 "raftkv.KV response: the outcome is unknown; retry with the "
                 "same client_id and seq",
                 leader, res->len);
        answer_error(p, s, TRANSPORT_GRPC_UNAVAILABLE, msg);
        return;
    }
    free(r.value);
    if (!transport_grpc_reply_room(s->call, res->len)) {
        /* Answered RESOURCE_EXHAUSTED by the transport. */
        p->o.count(p->o.data, s->method, TRANSPORT_GRPC_RESOURCE_EXHAUSTED,
                   KV_OK, s->started_ns);
        return;
    }
    p->o.count(p->o.data, s->method, TRANSPORT_GRPC_OK, r.code, s->started_ns);
    transport_grpc_reply(s->call, TRANSPORT_GRPC_OK, NULL, res->data, res->len);
}

static void on_answer(void *data, const struct transport_grpc_result *res)
{
    struct slot *s = data;
    struct proxy *p = s->px;
    if (s->call != NULL) {
        relay(p, s, res);
    }
    slot_release(p, s);
}

int proxy_forward(struct proxy *p,
                  struct transport_grpc_call *call,
                  enum cmd_method method,
                  raft_id leader,
                  const void *req,
                  size_t len)
{
    if (p->n_free == 0) {
        return COMMON_EBUSY;
    }
    struct slot *s = &p->slots[p->free_slots[p->n_free - 1]];
    int rv = transport_grpc_forward(p->o.grpc, leader, (unsigned)method, req,
                                    len, p->o.timeout_ms, on_answer, s);
    if (rv != 0) {
        return rv;
    }
    p->n_free--;
    s->busy = true;
    s->call = call;
    s->method = method;
    s->leader = leader;
    s->started_ns = common_now_ns();
    return 0;
}

void proxy_stop(struct proxy *p, int status, const char *message)
{
    for (unsigned k = 0; k < p->o.max_calls; k++) {
        struct slot *s = &p->slots[k];
        if (s->busy && s->call != NULL) {
            answer_error(p, s, status, message);
            s->call = NULL;
        }
    }
}
