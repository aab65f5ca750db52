/*
 * The client network: how the workload's clients and the nodes reach each
 * other, both ways.
 *
 * Placement: client i lives beside node (i mod nodes) + 1, its home, and
 * sees the Raft network as its home does: while the in-memory network cuts
 * home -> node, the client's requests to that node are lost, and while it
 * cuts node -> home, that node's answers are. So the clients on the
 * minority side of a partition cannot reach a quorum, and the history
 * shows it. The client of a request or a reply is the high 32 bits of its
 * token (kv_client_token).
 *
 * Delivery: a request or reply is copied into a message its receiver then
 * owns. Nodes attach when they boot and detach when they go down, like the
 * Raft network's endpoints; a request for a node that is not attached is
 * lost. The clients attach once. In sim mode a message is stamped with its
 * arrival, one client hop (20 to 80 us, drawn from the scheduler's timing
 * randomness) later, and handed to its receiver at once, which schedules
 * it. With threads, messages wait in the sender's outbox until the sender
 * flushes (client_net_flush_requests, client_net_flush_replies): each
 * receiver then gets the whole batch meant for it, a chain linked by
 * next, in one call, so that a node or the clients' thread is woken once
 * per batch rather than once per message.
 *
 * Threads: the clients' side (client_net_request,
 * client_net_flush_requests) is called by one thread, the clients'; node
 * N's replies (client_net_reply with resp->node N, client_net_flush_replies
 * for N) by node N's thread alone; the attach calls by any thread.
 * Receivers are called under the client network's lock, so once a detach
 * returns no call reaches the detached receiver; a receiver may take its
 * own inbox lock, nothing else. Each outbox holds at most
 * CLIENT_NET_BATCH_MAX messages: a fuller one is flushed at once.
 */
#ifndef HARNESS_CLIENT_NET_H
#define HARNESS_CLIENT_NET_H

#include <stdint.h>

#include "kv/kv.h"
#include "sched.h"
#include "transport/transport.h"

/* The most messages an outbox holds before it is flushed (threads). */
#define CLIENT_NET_BATCH_MAX 256

/* A request on its way to a node. */
struct client_request
{
    struct client_request *next; /* the rest of the batch, then the
                                    receiver's to use */
    uint64_t at;                 /* sim: its arrival; threads: 0 (at once) */
    struct kv_request req;       /* buffers point into data[] */
    uint8_t data[];
};

/* A reply on its way to a client. */
struct client_reply
{
    struct client_reply *next; /* the rest of the batch, then the
                                  receiver's to use */
    uint64_t at;               /* sim: its arrival; threads: 0 (at once) */
    struct kv_response resp;   /* value points into data[] */
    uint8_t data[];
};

/* Receivers: a chain of messages linked by next (one in sim mode, a
 * batch with threads) passes to them (free() each). */
typedef void (*client_net_request_fn)(void *data, struct client_request *r);
typedef void (*client_net_reply_fn)(void *data, struct client_reply *r);

struct client_net_config
{
    unsigned nodes;
    struct transport_mem *net; /* whose cuts clients see (borrowed) */
    struct sched *sched;       /* sim mode (borrowed); NULL: threads */
};

struct client_net;

int client_net_new(const struct client_net_config *cfg,
                   struct client_net **out);
/* Frees @cn; receivers still attached are simply forgotten. */
void client_net_free(struct client_net *cn);

/* Node @id's receiver (@fn NULL: detached). */
void client_net_attach_node(struct client_net *cn,
                            raft_id id,
                            client_net_request_fn fn,
                            void *data);
/* The clients' receiver (@fn NULL: detached). */
void client_net_attach_clients(struct client_net *cn,
                               client_net_reply_fn fn,
                               void *data);

/* The home node of client @client. */
raft_id client_net_home(const struct client_net *cn, unsigned client);

/* A client sends @req (borrowed) to node @to. */
void client_net_request(struct client_net *cn,
                        raft_id to,
                        const struct kv_request *req);
/* Node resp->node answers @resp (borrowed). */
void client_net_reply(struct client_net *cn, const struct kv_response *resp);

/* Threads: hands the clients' pending requests to their nodes, one call
 * per node (clients' thread). Does nothing in sim mode. */
void client_net_flush_requests(struct client_net *cn);
/* Threads: hands node @id's pending replies to the clients in one call
 * (node @id's thread). Does nothing in sim mode. */
void client_net_flush_replies(struct client_net *cn, raft_id id);

#endif /* HARNESS_CLIENT_NET_H */
