/*
 * The client network (see client_net.h). Requests and replies are copied
 * whole - the message and the bytes its buffers point to - into one
 * allocation, so that the receiver frees each with one free().
 *
 * With threads each sender keeps an outbox per receiver, a chain it alone
 * touches (no lock), and a flush hands the chain over under the network's
 * lock in one receiver call: the receiver takes its inbox lock and wakes
 * its thread once per batch instead of once per message, which is where
 * most of the CPU of a busy in-process cluster went.
 */
#include "client_net.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

struct client_net
{
    struct client_net_config cfg;
    pthread_mutex_t lock; /* guards the receivers below */
    struct
    {
        client_net_request_fn fn;
        void *data;
    } nodes[TRANSPORT_MEM_MAX_NODES];
    client_net_reply_fn clients_fn;
    void *clients_data;
    /* Threads, the outboxes: requests for node k (the clients' thread's),
     * replies of node k (node k's thread's). */
    struct
    {
        struct client_request *head;
        struct client_request *tail;
        unsigned len;
    } requests[TRANSPORT_MEM_MAX_NODES];
    struct
    {
        struct client_reply *head;
        struct client_reply *tail;
        unsigned len;
    } replies[TRANSPORT_MEM_MAX_NODES];
};

/* The lock is taken in threads mode only: in sim mode (a scheduler) one
 * thread runs everything. */
static void net_lock(struct client_net *cn)
{
    if (cn->cfg.sched == NULL) {
        pthread_mutex_lock(&cn->lock);
    }
}

static void net_unlock(struct client_net *cn)
{
    if (cn->cfg.sched == NULL) {
        pthread_mutex_unlock(&cn->lock);
    }
}

int client_net_new(const struct client_net_config *cfg, struct client_net **out)
{
    if (cfg->nodes == 0 || cfg->nodes > TRANSPORT_MEM_MAX_NODES ||
        cfg->net == NULL) {
        return COMMON_EINVAL;
    }
    struct client_net *cn = calloc(1, sizeof *cn);
    if (cn == NULL) {
        return COMMON_ENOMEM;
    }
    cn->cfg = *cfg;
    pthread_mutex_init(&cn->lock, NULL);
    *out = cn;
    return 0;
}

void client_net_free(struct client_net *cn)
{
    if (cn == NULL) {
        return;
    }
    for (unsigned k = 0; k < cn->cfg.nodes; k++) {
        while (cn->requests[k].head != NULL) {
            struct client_request *r = cn->requests[k].head;
            cn->requests[k].head = r->next;
            free(r);
        }
        while (cn->replies[k].head != NULL) {
            struct client_reply *m = cn->replies[k].head;
            cn->replies[k].head = m->next;
            free(m);
        }
    }
    pthread_mutex_destroy(&cn->lock);
    free(cn);
}

void client_net_attach_node(struct client_net *cn,
                            raft_id id,
                            client_net_request_fn fn,
                            void *data)
{
    if (id < 1 || id > cn->cfg.nodes) {
        return;
    }
    net_lock(cn);
    cn->nodes[id - 1].fn = fn;
    cn->nodes[id - 1].data = data;
    net_unlock(cn);
}

void client_net_attach_clients(struct client_net *cn,
                               client_net_reply_fn fn,
                               void *data)
{
    net_lock(cn);
    cn->clients_fn = fn;
    cn->clients_data = data;
    net_unlock(cn);
}

raft_id client_net_home(const struct client_net *cn, unsigned client)
{
    return client % cn->cfg.nodes + 1;
}

static unsigned client_of(uint64_t token)
{
    return (unsigned)(token >> 32);
}

/* When a message sent now arrives: sim mode, one client hop later, like a
 * local network hop; threads, at once. */
static uint64_t arrival(struct client_net *cn)
{
    if (cn->cfg.sched == NULL) {
        return 0;
    }
    return sched_now(cn->cfg.sched) + 20000 + sched_below(cn->cfg.sched, 60001);
}

void client_net_request(struct client_net *cn,
                        raft_id to,
                        const struct kv_request *req)
{
    raft_id home = client_net_home(cn, client_of(req->token));
    if (to < 1 || to > cn->cfg.nodes ||
        (home != to && transport_mem_is_cut(cn->cfg.net, home, to))) {
        return; /* lost: the attempt times out */
    }
    bool threads = cn->cfg.sched == NULL;
    if (!threads && cn->nodes[to - 1].fn == NULL) {
        return; /* down: the client times out */
    }
    size_t n = req->key.len + req->value.len + req->expected.len;
    struct client_request *r = malloc(sizeof *r + n);
    if (r == NULL) {
        return; /* like a dropped packet: the client times out */
    }
    r->next = NULL;
    r->req = *req;
    uint8_t *p = r->data;
    struct common_buf *bufs[3] = {&r->req.key, &r->req.value, &r->req.expected};
    for (int k = 0; k < 3; k++) {
        if (bufs[k]->len > 0) {
            memcpy(p, bufs[k]->base, bufs[k]->len);
        }
        bufs[k]->base = p;
        p += bufs[k]->len;
    }
    r->at = arrival(cn);
    if (!threads) {
        cn->nodes[to - 1].fn(cn->nodes[to - 1].data, r);
        return;
    }
    /* Whether the node is up is decided when the batch is handed over. */
    if (cn->requests[to - 1].tail != NULL) {
        cn->requests[to - 1].tail->next = r;
    } else {
        cn->requests[to - 1].head = r;
    }
    cn->requests[to - 1].tail = r;
    if (++cn->requests[to - 1].len >= CLIENT_NET_BATCH_MAX) {
        client_net_flush_requests(cn);
    }
}

void client_net_reply(struct client_net *cn, const struct kv_response *resp)
{
    raft_id home = client_net_home(cn, client_of(resp->token));
    if (resp->node < 1 || resp->node > cn->cfg.nodes ||
        (home != resp->node &&
         transport_mem_is_cut(cn->cfg.net, resp->node, home))) {
        return; /* the answer cannot reach the client */
    }
    bool threads = cn->cfg.sched == NULL;
    if (!threads && cn->clients_fn == NULL) {
        return; /* lost: the client's attempt times out */
    }
    struct client_reply *m = malloc(sizeof *m + resp->value.len);
    if (m == NULL) {
        return; /* lost: the client's attempt times out */
    }
    m->next = NULL;
    m->resp = *resp;
    if (resp->value.len > 0) {
        memcpy(m->data, resp->value.base, resp->value.len);
    }
    m->resp.value.base = m->data;
    m->at = arrival(cn);
    if (!threads) {
        cn->clients_fn(cn->clients_data, m);
        return;
    }
    unsigned k = (unsigned)resp->node - 1;
    if (cn->replies[k].tail != NULL) {
        cn->replies[k].tail->next = m;
    } else {
        cn->replies[k].head = m;
    }
    cn->replies[k].tail = m;
    if (++cn->replies[k].len >= CLIENT_NET_BATCH_MAX) {
        client_net_flush_replies(cn, resp->node);
    }
}

void client_net_flush_requests(struct client_net *cn)
{
    for (unsigned k = 0; k < cn->cfg.nodes; k++) {
        struct client_request *batch = cn->requests[k].head;
        if (batch == NULL) {
            continue;
        }
        cn->requests[k].head = cn->requests[k].tail = NULL;
        cn->requests[k].len = 0;
        net_lock(cn);
        client_net_request_fn fn = cn->nodes[k].fn;
        if (fn != NULL) {
            fn(cn->nodes[k].data, batch);
            batch = NULL;
        }
        net_unlock(cn);
        while (batch != NULL) { /* the node is down: lost */
            struct client_request *r = batch;
            batch = r->next;
            free(r);
        }
    }
}

void client_net_flush_replies(struct client_net *cn, raft_id id)
{
    if (id < 1 || id > cn->cfg.nodes || cn->replies[id - 1].head == NULL) {
        return;
    }
    struct client_reply *batch = cn->replies[id - 1].head;
    cn->replies[id - 1].head = cn->replies[id - 1].tail = NULL;
    cn->replies[id - 1].len = 0;
    net_lock(cn);
    if (cn->clients_fn != NULL) {
        cn->clients_fn(cn->clients_data, batch);
        batch = NULL;
    }
    net_unlock(cn);
    while (batch != NULL) { /* no clients: lost */
        struct client_reply *m = batch;
        batch = m->next;
        free(m);
    }
}
