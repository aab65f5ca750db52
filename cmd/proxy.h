/*
 * The follower proxy of raftkv-server --proxy (cmd/proxy.c): a client
 * request a follower would answer CODE_NOT_LEADER is forwarded to the
 * leader over the peer connection, and the leader's answer relayed to the
 * client (docs/api.md, "Follower proxy").
 *
 * Single-threaded: every function runs on the server's node thread, and
 * the answers of forwarded calls come back on it inside
 * transport_grpc_poll.
 */
#ifndef CMD_PROXY_H
#define CMD_PROXY_H

#include <stdint.h>

#include "cmd/cmd.h"
#include "transport/transport.h"

struct proxy;

struct proxy_options
{
    struct transport_grpc *grpc; /* borrowed until proxy_free */
    unsigned max_calls;          /* forwarded calls in flight, 1 or more */
    unsigned timeout_ms;         /* the deadline of each forwarded call */
    /* Every answer the proxy gives a client: the gRPC status, and when OK
     * the leader's ResponseHeader code; for the owner's counters. */
    void (*count)(void *data,
                  enum cmd_method method,
                  int status,
                  enum kv_status code,
                  uint64_t started_ns);
    void *data;
};

/* COMMON_EINVAL (max_calls 0, no grpc or count), COMMON_ENOMEM. */
int proxy_new(const struct proxy_options *o, struct proxy **out);
/* After transport_grpc_free (which hands back every forward in flight).
 * NULL harmless. */
void proxy_free(struct proxy *p);

/* Forwards @call (KV method @method, request @req of @len bytes, borrowed)
 * to @leader. 0: the proxy answers @call from now on. COMMON_EBUSY: the
 * proxy has max_calls in flight; COMMON_EINVAL: the transport does not
 * know @leader; COMMON_ESHUTDOWN, COMMON_ENOMEM: then the caller still
 * holds @call and answers it itself. */
int proxy_forward(struct proxy *p,
                  struct transport_grpc_call *call,
                  enum cmd_method method,
                  raft_id leader,
                  const void *req,
                  size_t len);

/* Answers every client whose forwarded call is still in flight @status
 * with @message; the forwards' answers are then dropped. */
void proxy_stop(struct proxy *p, int status, const char *message);

/* Forwarded calls in flight. */
unsigned proxy_inflight(const struct proxy *p);

#endif /* CMD_PROXY_H */
