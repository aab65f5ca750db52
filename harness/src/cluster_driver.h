/*
 * Inside the cluster: what its lifecycle code (cluster.c) and its two
 * drivers share. cluster.c keeps the node slots - booting a node from its
 * disk, crashing it, restarting it, pausing it, publishing its status - and
 * hands the driving to a driver through struct cluster_driver:
 *
 *   cluster_threads.c  one thread per node waiting on its inbox (a timed
 *                      heap of Raft messages and a queue of client
 *                      requests) with the real clock; and the gRPC wiring,
 *                      which only threads can run;
 *   cluster_sim.c      no thread: ticks, deliveries and requests are events
 *                      of the sim scheduler, in virtual time.
 *
 * Both take messages from the in-memory network and requests from the
 * client network through the same receivers, so the life of a node is the
 * same code whichever drives it.
 */
#ifndef HARNESS_CLUSTER_DRIVER_H
#define HARNESS_CLUSTER_DRIVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "client_net.h"
#include "cluster.h"
#include "common/common.h"
#include "storage/storage.h"
#include "transport/transport.h"

struct parked;

/* A membership change or transfer to run on a node's own thread
 * (cluster_control); rv and index are its outcome. */
struct cluster_ctl
{
    enum cluster_control_op op;
    raft_id target;
    raft_index index;
    int rv;
};

/* A node's disk faults and what they did (cluster_disk.c). All zero for a
 * node whose disk has none. The counters are guarded by the slot's lock;
 * the rest belongs to the thread that runs the node. */
struct cluster_disk_slot
{
    struct storage_fs *fs;     /* the faulty disk over slot.fs */
    struct transport guard;    /* what the node sends through */
    struct transport *inner;   /* ... on its way to the network */
    uint64_t failures_at_boot; /* injected failures before this life */
    uint64_t out_delay_ns;     /* sim: slow syncs of the current event */
    uint64_t busy_until;       /* sim: the disk is busy until then */
    uint64_t stops;            /* times the node stopped on a failure */
    uint64_t sent_after;       /* Raft messages sent after a failure */
    uint64_t acked_after;      /* final answers sent after a failure */
};

/* A Raft message in a node's inbox (threads), keyed on its delivery time
 * and the network's sequence number, which is unique per message. */
struct inbox_msg
{
    struct common_timed key;
    struct transport_msg *msg;
};

/*
 * A node slot: one node's place in the cluster, which outlives the node's
 * crashes (its disk and, over gRPC, its endpoint stay).
 *
 * Locking: the mutex guards the inbox, the lifecycle flags and the
 * published status. A node thread never holds it while running its
 * kv_node (which sends through the networks), so the lock orders are:
 * Raft network lock -> slot lock (delivery), client network lock -> slot
 * lock (requests); nothing takes a slot lock and then another lock.
 * Lifecycle calls come from one controlling thread.
 */
struct slot
{
    struct cluster *c;
    raft_id id;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* Guarded by lock: */
    bool up;
    bool paused;
    bool stop;      /* threads: the node thread is to end */
    bool arm_crash; /* threads: fail the next sync */
    bool waiting;   /* threads: the node thread sleeps on cond for work */
    /* crash_after: what the node waits for; whether it fired and in
     * which incarnation (not yet reaped); how often each kind fired. */
    enum cluster_crash_after crash_after;
    bool tripped;
    uint64_t tripped_gen;
    uint64_t crash_after_fired[CLUSTER_CRASH_AFTER_KINDS];
    struct common_heap inbox;     /* threads: struct inbox_msg, by due time */
    struct client_request **reqs; /* threads: client requests, oldest first */
    size_t reqs_len;
    size_t reqs_cap;
    struct cluster_node_status status;
    /* threads: a control waiting for the node thread (NULL: none), and
     * whether it ran; ctl_cond signals the controlling thread. */
    struct cluster_ctl *ctl;
    bool ctl_done;
    pthread_cond_t ctl_cond;
    /* Owned by the controlling thread (and the node thread while up): */
    bool running; /* driven: by a thread, or by sim events */
    pthread_t thread;
    struct kv_node *node;
    struct storage *disk;
    struct storage_fs *fs;       /* crash disks and files: survives crashes */
    struct transport *transport; /* what the node sends through */
    /* Over gRPC: the node's endpoint and its polling thread (they outlive
     * the node's crashes, like its address would). */
    struct transport_grpc *grpc;
    pthread_t grpc_thread;
    bool grpc_polling;
    bool crash_pending; /* sim: a crash event is scheduled */
    /* Membership: part of the cluster (booted, not retired); the
     * configuration it boots with when its disk holds none; its disk's
     * generation (a wipe starts a new one). */
    bool present;
    struct raft_configuration boot_conf;
    unsigned disk_gen;
    uint64_t installs_before; /* snapshots installed by earlier lives */
    /* Disk faults (cluster_disk.c): the faulty disk over fs (survives
     * crashes) and its checks. */
    struct cluster_disk_slot disk_faults;
    struct cluster_log_stats log_before; /* ... their snapshots, maxima */
    /* Sim mode: incarnation (events of an earlier one are stale), the
     * current tick chain (a resume starts a new one, so a pause and resume
     * within one tick leave one chain, not two), and the events parked
     * while paused, oldest first. */
    uint64_t gen;
    uint64_t tick_chain;
    struct parked *parked_head;
    struct parked *parked_tail;
};

/* How a node is driven. */
struct cluster_driver
{
    /* Starts driving @s, whose node has just booted (up, and attached to
     * both networks). On failure the caller undoes the boot. */
    int (*start)(struct slot *s);
    /* Stops driving @s before its node is freed (ends its thread). */
    void (*stop)(struct slot *s);
    /* Drops whatever waits for @s (its inbox, its parked events); called
     * under the slot's lock as the node goes down. */
    void (*discard)(struct slot *s);
    /* The receivers: Raft messages from the in-memory network (under its
     * lock) and client requests from the client network (under its lock).
     * @slot is the struct slot; the message passes to the driver. With
     * deliver_batch (threads) the network is batched
     * (transport_mem_set_batched) and Raft messages come in batches;
     * requests come in chains (client_net.h). */
    void (*deliver)(void *slot, struct transport_msg *msg);
    void (*deliver_batch)(void *slot, struct transport_msg **msgs, size_t n);
    void (*request)(void *slot, struct client_request *r);
    /* Crashes @s on a crash disk: the power cut strikes during the node's
     * next write when one comes soon (cluster_crash). */
    int (*crash)(struct slot *s);
    /* @s has just been resumed (NULL: nothing to do). */
    void (*resume)(struct slot *s);
    /* Runs @ctl on @s's node (cluster_control_apply) on the thread that
     * runs it and flushes; COMMON_EUNAVAILABLE when it cannot run now. */
    int (*control)(struct slot *s, struct cluster_ctl *ctl);
};

extern const struct cluster_driver cluster_threads_driver;
extern const struct cluster_driver cluster_sim_driver;

struct cluster
{
    struct cluster_config cfg;
    const struct cluster_driver *driver;
    uint64_t start_ns;          /* CLOCK_MONOTONIC at creation */
    struct transport_mem *net;  /* the Raft network */
    struct client_net *clients; /* the clients' network */
    struct slot slots[CLUSTER_MAX_NODES];
    /* The voters of the configuration of the leader cluster_leader last
     * found (bit k for node k; controlling thread). */
    uint32_t voters;
    uint32_t voters_committed; /* ... when its entry had committed */
};

/* Takes and releases @s's lock, in threads mode only: in sim mode one
 * thread runs everything, and a lock per event still cost a few percent
 * of a simulation. */
void cluster_slot_lock(struct slot *s);
void cluster_slot_unlock(struct slot *s);
/* A line for the event log, stamped with the run's clock. */
void cluster_event(struct cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Publishes @s's status from its node (on the thread that runs it). */
void cluster_publish(struct slot *s);
/* The node of @s loses power now (see cluster_crash). */
void cluster_power_off(struct cluster *c, struct slot *s);
/* Applies @ctl to @s's node (on the thread that runs it), filling in
 * ctl->rv and ctl->index. */
void cluster_control_apply(struct slot *s, struct cluster_ctl *ctl);
/* One tick, in nanoseconds. */
uint64_t cluster_tick_ns(const struct cluster *c);
/* One tick of node @id, whose clock may run fast or slow. */
uint64_t cluster_node_tick_ns(const struct cluster *c, raft_id id);

/* Disk faults (cluster_disk.c). Opens @s's faulty disk over its file
 * system when the node has faults; the file system the WAL is to use. */
int cluster_disk_open(struct cluster *c, struct slot *s);
struct storage_fs *cluster_disk_fs(struct slot *s);
/* A new life of @s: @t is the transport it would use; returns the one to
 * use (a guard that checks, and in sim mode delays, what it sends). */
struct transport *cluster_disk_boot(struct slot *s, struct transport *t);
/* Sim mode: the node's slow syncs of the event just run make its disk
 * busy; and whether it still is at @now (then *@until says till when). */
void cluster_disk_settle(struct slot *s);
bool cluster_disk_busy(const struct slot *s, uint64_t now, uint64_t *until);
/* The node answers a client: true when the answer was taken care of
 * (delayed behind a slow sync). */
bool cluster_disk_reply(struct slot *s, const struct kv_response *resp);
/* Whether @s's disk failed in its current life (an injected fault). */
bool cluster_disk_failed(struct slot *s);
/* The node stopped serving (env.failed). */
void cluster_disk_stopped(struct slot *s);
void cluster_disk_free(struct slot *s);

/* The gRPC wiring of the threaded driver: every node gets an endpoint on
 * loopback and a thread polling it; stop ends the threads, and frees the
 * endpoints. */
int cluster_grpc_start(struct cluster *c);
void cluster_grpc_stop(struct cluster *c);

#endif /* HARNESS_CLUSTER_DRIVER_H */
