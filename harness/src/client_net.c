/*
 * The client network (see client_net.h). Requests and replies are copied
 * whole - the message and the bytes its buffers point to - into one
 * allocation, so that the receiver frees each with one free().
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
    net_lock(cn);
    client_net_request_fn fn = cn->nodes[to - 1].fn;
    size_t n = req->key.len + req->value.len + req->expected.len;
    struct client_request *r = fn != NULL ? malloc(sizeof *r + n) : NULL;
    if (r == NULL) {
        /* Down (or out of memory, like a dropped packet): the client times
         * out. */
        net_unlock(cn);
        return;
    }
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
    fn(cn->nodes[to - 1].data, r);
    net_unlock(cn);
}

void client_net_reply(struct client_net *cn, const struct kv_response *resp)
{
    raft_id home = client_net_home(cn, client_of(resp->token));
    if (home != resp->node &&
        transport_mem_is_cut(cn->cfg.net, resp->node, home)) {
        return; /* the answer cannot reach the client */
    }
    net_lock(cn);
    struct client_reply *m =
        cn->clients_fn != NULL ? malloc(sizeof *m + resp->value.len) : NULL;
    if (m == NULL) {
        net_unlock(cn);
        return; /* lost: the client's attempt times out */
    }
    m->next = NULL;
    m->resp = *resp;
    if (resp->value.len > 0) {
        memcpy(m->data, resp->value.base, resp->value.len);
    }
    m->resp.value.base = m->data;
    m->at = arrival(cn);
    cn->clients_fn(cn->clients_data, m);
    net_unlock(cn);
}
