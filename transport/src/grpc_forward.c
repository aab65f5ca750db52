/*
 * Application calls forwarded to a peer: what raftkv-server --proxy uses
 * to pass a client's request from a follower to the leader and the answer
 * back (cmd/proxy.c).
 *
 * The idea: the node already keeps an authenticated channel to every
 * peer, so a forwarded call rides on it - the same connection, the same
 * TLS credentials, the same reconnect backoff - as one unary call of the
 * same method with the request bytes as received, marked with
 * TRANSPORT_GRPC_PROXIED_KEY so that the receiver never forwards it again.
 * Its completion comes out of the endpoint's one queue like every other
 * event and is handed to the owner on the polling thread.
 *
 * Forwards in flight are on g->forwards (guarded by the lock), so that
 * transport_grpc_free can cancel them; each one counts in g->outstanding
 * until its tag comes back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>

#include "grpc_endpoint.h"
#include "grpc_internal.h"
#include "transport/transport.h"

bool transport_grpc_call_proxied(const struct transport_grpc_call *call)
{
    for (size_t k = 0; k < call->md.count; k++) {
        if (grpc_slice_str_cmp(call->md.metadata[k].key,
                               TRANSPORT_GRPC_PROXIED_KEY) == 0) {
            return true;
        }
    }
    return false;
}

static void forward_free(struct forward *f)
{
    unary_fini(&f->u);
    free(f);
}

int transport_grpc_forward(struct transport_grpc *g,
                           raft_id peer,
                           unsigned method,
                           const void *req,
                           size_t len,
                           unsigned timeout_ms,
                           transport_grpc_forward_fn done,
                           void *data)
{
    if (method >= g->o.n_methods || done == NULL) {
        return COMMON_EINVAL;
    }
    struct forward *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return COMMON_ENOMEM;
    }
    f->tag.kind = TAG_FORWARD;
    f->done = done;
    f->data = data;
    f->mark.key = grpc_slice_from_static_string(TRANSPORT_GRPC_PROXIED_KEY);
    f->mark.value = grpc_slice_from_static_string("1");
    unary_init(&f->u, transport_grpc_buffer(req, len));
    int rv = 0;
    pthread_mutex_lock(&g->lock);
    struct peer *p = peer_find(g, peer);
    if (g->stopping) {
        rv = COMMON_ESHUTDOWN;
    } else if (p == NULL || p->channel == NULL || p->app_methods == NULL) {
        rv = COMMON_EINVAL;
    } else if (!unary_start(g, &f->u, p->channel, p->app_methods[method],
                            timeout_ms, &f->mark, 1, f)) {
        rv = COMMON_ENOMEM;
    }
    if (rv == 0) {
        g->outstanding++;
        g->stats.forwarded++;
        f->next = g->forwards;
        if (g->forwards != NULL) {
            g->forwards->prev = f;
        }
        g->forwards = f;
    }
    pthread_mutex_unlock(&g->lock);
    if (rv != 0) {
        forward_free(f);
    }
    return rv;
}

void forward_done(struct transport_grpc *g, struct forward *f)
{
    pthread_mutex_lock(&g->lock);
    g->outstanding--;
    if (f->prev != NULL) {
        f->prev->next = f->next;
    } else {
        g->forwards = f->next;
    }
    if (f->next != NULL) {
        f->next->prev = f->prev;
    }
    pthread_mutex_unlock(&g->lock);
    struct transport_grpc_result res;
    memset(&res, 0, sizeof res);
    res.status = (int)f->u.status;
    char *details = grpc_slice_to_c_string(f->u.details);
    snprintf(res.message, sizeof res.message, "%s", details);
    gpr_free(details);
    if (res.status == GRPC_STATUS_OK) {
        int rv = f->u.resp != NULL ? transport_grpc_read_payload(
                                         f->u.resp, &res.data, &res.len)
                                   : COMMON_ECORRUPT;
        if (rv != 0) {
            /* The peer answered OK without a readable message. */
            res.status = GRPC_STATUS_INTERNAL;
            snprintf(res.message, sizeof res.message, "%s",
                     rv == COMMON_ECORRUPT ? "no readable message in the answer"
                                           : "out of memory");
        }
    }
    f->done(f->data, &res);
    free(res.data);
    forward_free(f);
}

void forwards_cancel(struct transport_grpc *g)
{
    for (struct forward *f = g->forwards; f != NULL; f = f->next) {
        grpc_call_cancel(f->u.call, NULL);
    }
}
