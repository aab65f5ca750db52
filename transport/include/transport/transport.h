/*
 * transport: how Raft messages travel between nodes.
 *
 * The node runtime sees only `struct transport` (a small vtable): it hands
 * a message to transport_send() and gets messages back through the deliver
 * callback it registered. Two implementations plug in behind it without
 * raft/ or kv/ knowing which:
 *   - mem: in-process queues between threads, with faults per link (loss,
 *     delay ranges, duplication, reordering, cuts, one-way cuts);
 *   - grpc: the gRPC C core between processes (proto/raft.proto).
 *
 * Messages in flight are `struct transport_msg`: one allocation holding the
 * message, its entries and their data, owned by whoever holds the pointer.
 */
#ifndef TRANSPORT_TRANSPORT_H
#define TRANSPORT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "raft/raft.h"

/* A deep copy of a Raft message; m.append.entries points inside it. */
struct transport_msg
{
    struct raft_message m;
    uint64_t deliver_at_ns; /* not before this time (mem delays) */
    uint64_t seq;           /* order of sending, for stable ordering */
};

/* Deep-copies @m (entries and data) into one allocation; NULL without
 * memory. Free with free(). */
struct transport_msg *transport_msg_clone(const struct raft_message *m);

/* Receives a message; ownership of @msg passes to the callee. */
typedef void (*transport_deliver_fn)(void *data, struct transport_msg *msg);

struct transport;

struct transport_vtable
{
    /* Sends @m (copied before return); never blocks on the network. A
     * message may be lost: Raft retries. */
    int (*send)(struct transport *t, const struct raft_message *m);
    void (*destroy)(struct transport *t);
};

struct transport
{
    const struct transport_vtable *vt;
    void *impl;
};

int transport_send(struct transport *t, const struct raft_message *m);
/* transport_free(NULL) is harmless. */
void transport_free(struct transport *t);

/* ------------------------------------------------------------------------ */
/* mem: an in-process network between threads                                */
/* ------------------------------------------------------------------------ */

#define TRANSPORT_MEM_MAX_NODES 32

/* Faults of one directed link. */
struct transport_link_faults
{
    bool cut;         /* everything sent is dropped */
    double loss;      /* probability a message is dropped */
    double duplicate; /* probability it is delivered twice */
    double reorder;   /* probability it gets an extra random delay */
    uint64_t delay_ns_min;
    uint64_t delay_ns_max;
};

struct transport_mem;

/* Clock for delays: returns nanoseconds on the driver's clock. */
typedef uint64_t (*transport_clock_fn)(void *data);

/* A network of @nodes nodes (ids 1..nodes), seeded for its random faults.
 * Thread-safe: any thread may send or change faults. */
int transport_mem_new(unsigned nodes,
                      uint64_t seed,
                      transport_clock_fn clock,
                      void *clock_data,
                      struct transport_mem **out);
void transport_mem_free(struct transport_mem *net);

/* Registers node @id's receiver (NULL to detach: messages to it are
 * dropped, as for a crashed node). */
void transport_mem_attach(struct transport_mem *net,
                          raft_id id,
                          transport_deliver_fn deliver,
                          void *data);

/* The endpoint node @id sends through (owned by the network: do not free
 * it; transport_free on it is a no-op). */
struct transport *transport_mem_endpoint(struct transport_mem *net, raft_id id);

/* Sets the faults of link from -> to; 0 for either end means every node on
 * that end. Replaces the link's loss, duplication, reordering and delays;
 * whether it is cut is kept (see transport_mem_cut). */
void transport_mem_set_faults(struct transport_mem *net,
                              raft_id from,
                              raft_id to,
                              const struct transport_link_faults *f);
/* Cuts or restores from -> to (0 = every node), keeping other faults. */
void transport_mem_cut(struct transport_mem *net,
                       raft_id from,
                       raft_id to,
                       bool cut);
/* Is from -> to cut? */
bool transport_mem_is_cut(struct transport_mem *net, raft_id from, raft_id to);
/* Removes every cut and fault. */
void transport_mem_heal(struct transport_mem *net);

/* A delay every message gets on top of its link's faults, uniform in
 * [min, max] ns (a network's own latency; heal keeps it). Default 0. */
void transport_mem_set_base_delay(struct transport_mem *net,
                                  uint64_t min_ns,
                                  uint64_t max_ns);

struct transport_mem_stats
{
    uint64_t sent;
    uint64_t delivered;
    uint64_t dropped_cut;
    uint64_t dropped_loss;
    uint64_t dropped_detached;
    uint64_t duplicated;
};
void transport_mem_stats(struct transport_mem *net,
                         struct transport_mem_stats *s);

#endif /* TRANSPORT_TRANSPORT_H */
