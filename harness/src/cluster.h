/*
 * The threaded cluster: N kv nodes, one thread each, linked by the
 * in-memory transport, each with its own perfect disk that survives its
 * crashes.
 *
 * Each node thread waits on its inbox (a mutex and a condition variable)
 * for Raft messages that are due, client requests and control commands,
 * with a timeout for its next tick; it then feeds them to its kv_node and
 * flushes. Crash stops the thread and throws the kv_node away (everything
 * not on its disk is lost); restart boots a new one from the disk. Pause
 * keeps the node but stops its ticks and its processing of messages and
 * requests, which queue up until it resumes.
 *
 * Other threads see each node through a published status (role, term,
 * leader, indexes) that the node thread refreshes after every flush.
 *
 * Over gRPC (cluster_config.grpc): each node also gets a gRPC endpoint on
 * 127.0.0.1 (an ephemeral port) with a thread polling it, and Raft messages
 * travel through gRPC instead of the in-memory network. The network's
 * fault table still decides each message's fate: the receiving side asks
 * it (transport_mem_route) before the message enters the inbox, whose
 * delivery times honour the delays. Client requests stay in-process.
 *
 * Sim mode (cluster_config.sched set): no thread at all. Every tick,
 * message delivery and client request is an event of the deterministic
 * scheduler, run on the caller's thread in virtual time; pausing a node
 * parks its events until it resumes, and a crash drops its pending ones.
 */
#ifndef HARNESS_CLUSTER_H
#define HARNESS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "kv/kv.h"
#include "monitor/monitor.h"
#include "sched.h"
#include "transport/transport.h"

#define CLUSTER_MAX_NODES 15

struct cluster;

/* Where each node keeps its Raft state. */
enum cluster_disk {
    CLUSTER_DISK_MEMORY = 0, /* a perfect disk: a crash loses nothing that
                                was written */
    CLUSTER_DISK_CRASH = 1,  /* the WAL over an in-memory file system that
                                loses unsynced writes on a crash */
    CLUSTER_DISK_FILES = 2,  /* the WAL over real files in data_dir */
};

struct cluster_config
{
    unsigned nodes;
    unsigned tick_ms;
    unsigned election_ticks;
    unsigned heartbeat_ticks;
    bool pre_vote;
    bool check_quorum;
    uint64_t seed;
    struct monitor *monitor; /* borrowed; may be NULL */
    /* Replies to client requests arrive here, from node threads. */
    void (*reply)(void *data, const struct kv_response *resp);
    void *reply_data;
    /* Role and term changes, storage failures, for the event log. */
    void (*event)(void *data, uint64_t now_ns, const char *text);
    void *event_data;
    /* Sim mode: the scheduler that runs everything (borrowed). NULL:
     * threads and the real clock. */
    struct sched *sched;
    /* The network's own latency on every link (ns, uniform in [min,
     * max]); when not set, 0 with threads and 0.1-0.5 ms in sim mode. */
    bool latency_set;
    uint64_t latency_ns_min;
    uint64_t latency_ns_max;
    /* Storage: the kind, whether a crash may tear the last write (crash
     * disks), and for files the directory that holds node-<id>/. */
    enum cluster_disk disk;
    bool torn_writes;
    const char *data_dir;
    /* Raft messages over gRPC on loopback (threads only, not sim). */
    bool grpc;
    /* Log compaction (kv_node_config). */
    uint64_t snapshot_entries;
    uint64_t snapshot_bytes;
    uint64_t snapshot_trailing;
};

struct cluster_node_status
{
    bool up; /* running (not crashed) */
    bool paused;
    bool failed;                  /* storage failed */
    uint64_t snapshots_installed; /* by InstallSnapshot, this incarnation */
    uint64_t snapshots_taken;
    enum raft_role role;
    raft_term term;
    raft_id leader;
    raft_index commit;
    raft_index applied;
    raft_index last;
};

int cluster_new(const struct cluster_config *cfg, struct cluster **out);
/* Stops every node thread and frees everything. */
void cluster_free(struct cluster *c);
/* Where replies go (before cluster_start). */
void cluster_set_reply_data(struct cluster *c, void *data);
/* Starts every node. */
int cluster_start(struct cluster *c);

/* Delivers a client request to node @id (dropped if it is down). Safe from
 * any thread not holding a node's lock. */
void cluster_request(struct cluster *c,
                     raft_id id,
                     const struct kv_request *req);

/* Crashes node @id: it loses everything not on its disk. With a crash
 * disk, the crash strikes during the node's next write when one comes
 * soon (its sync fails, so that write is lost, or torn when torn_writes),
 * as a power cut would. */
int cluster_crash(struct cluster *c, raft_id id);
int cluster_restart(struct cluster *c, raft_id id);
int cluster_pause(struct cluster *c, raft_id id);
int cluster_resume(struct cluster *c, raft_id id);

void cluster_status(struct cluster *c,
                    raft_id id,
                    struct cluster_node_status *s);
/* The node that leads with the highest term among live ones, or 0. */
raft_id cluster_leader(struct cluster *c);
unsigned cluster_size(const struct cluster *c);
struct transport_mem *cluster_net(struct cluster *c);
/* Nanoseconds since the cluster was created (the run's clock; virtual in
 * sim mode). */
uint64_t cluster_now(const struct cluster *c);
/* Sim mode: a client request or reply takes this long to arrive (drawn
 * from the run's seed). */
uint64_t cluster_client_latency(struct cluster *c);
/* Snapshots installed by InstallSnapshot, summed over every node and
 * incarnation. */
uint64_t cluster_snapshots_installed(struct cluster *c);

#endif /* HARNESS_CLUSTER_H */
