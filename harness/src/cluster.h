/*
 * The in-process cluster: N kv nodes linked by the in-memory network (the
 * Raft network) and reached by the workload's clients through the client
 * network, each node with its own disk that survives its crashes.
 *
 * Two drivers run the nodes (cluster_driver.h): threads (the default), one
 * thread per node on the real clock; and sim (cluster_config.sched set), no
 * thread at all, every tick, delivery and request an event of the
 * deterministic scheduler in virtual time. Either way the nodes' code paths
 * are the same.
 *
 * Crash stops the node and throws the kv_node away (everything not on its
 * disk is lost); restart boots a new one from the disk. Pause keeps the
 * node but stops its ticks and its processing of messages and requests,
 * which queue up until it resumes.
 *
 * Other threads see each node through a published status (role, term,
 * leader, indexes) that the node's driver refreshes after every flush.
 *
 * Over gRPC (cluster_config.grpc, threads only), Raft messages travel
 * through gRPC endpoints on loopback instead of the in-memory network,
 * whose fault table still decides each message's fate.
 */
#ifndef HARNESS_CLUSTER_H
#define HARNESS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "client_net.h"
#include "kv/kv.h"
#include "monitor/monitor.h"
#include "sched.h"
#include "storage/storage.h"
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

/* What a node armed with a crash_after fault waits for. */
enum cluster_crash_after {
    CLUSTER_CRASH_AFTER_NONE = 0,
    CLUSTER_CRASH_AFTER_VOTE = 1, /* it grants a vote (not a pre-vote) */
    CLUSTER_CRASH_AFTER_ACK = 2,  /* it acknowledges entries it persisted */
};
#define CLUSTER_CRASH_AFTER_KINDS 3

/* One node's own timing; 0 in a field means the cluster's. */
struct cluster_node_timing
{
    double clock_rate; /* its ticks come clock_rate times as often */
    unsigned election_ticks;
    unsigned heartbeat_ticks;
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
    /* Per node (node_timing[k] for node k + 1); zeroed: the cluster's. */
    struct cluster_node_timing node_timing[CLUSTER_MAX_NODES];
    /* Per node disk faults (crash disks and files; zeroed: none). The
     * cluster fills in the clock, the delay hook and the seed. */
    struct storage_fs_faults disk_faults[CLUSTER_MAX_NODES];
    /* The state machine's session TTL in log entries (0: kv's default). */
    uint64_t session_ttl;
    /* Nodes may be armed with cluster_arm_crash_after (when false, the
     * nodes' updates are not even looked at for it). */
    bool crash_after;
    /* Dynamic membership: nodes 1..members are the initial voters and
     * boot at cluster_start; the others stay outside (not started) until
     * cluster_join. 0: every node. */
    unsigned members;
};

/* A membership change or leadership transfer for cluster_control. */
enum cluster_control_op {
    CLUSTER_ADD_LEARNER = 1, /* add @target as a learner */
    CLUSTER_PROMOTE = 2,     /* make learner @target a voter */
    CLUSTER_REMOVE = 3,      /* remove @target from the configuration */
    CLUSTER_TRANSFER = 4,    /* hand leadership to voter @target */
};

/* What node @id's disk faults did over the run (cluster_disk_report). */
struct cluster_disk_report
{
    struct storage_fs_fault_stats injected;
    uint64_t stops;       /* times the node stopped serving on a failure */
    uint64_t sent_after;  /* Raft messages it sent after its disk failed */
    uint64_t acked_after; /* final client answers it sent after that */
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
    raft_index first; /* the first log entry held in memory */
    raft_index last;
    /* kv_node_stats's figures on compaction, this incarnation. */
    uint64_t snapshot_bytes_max;
    raft_index snapshot_bytes_max_index;
    uint64_t compacted_entries_max;
    raft_index compacted_entries_max_index;
    /* The configuration in force at the node (the latest in its log) and
     * the index of its entry (0: the boot configuration). */
    struct raft_configuration conf;
    raft_index conf_index;
};

/* What a node's snapshots and compactions came to over every incarnation
 * (kv_node_stats), and the log it holds now. */
struct cluster_log_stats
{
    uint64_t snapshots_taken;
    /* The largest snapshot taken or installed, and its index (0: none). */
    uint64_t snapshot_bytes_max;
    raft_index snapshot_bytes_max_index;
    /* The most log entries held in memory right after a compaction, and
     * the index of the snapshot it followed (0: no compaction). */
    uint64_t compacted_entries_max;
    raft_index compacted_entries_max_index;
    bool up;          /* running now */
    uint64_t entries; /* when up: the log entries it holds in memory now */
};

int cluster_new(const struct cluster_config *cfg, struct cluster **out);
/* Stops every node thread and frees everything. */
void cluster_free(struct cluster *c);
/* Starts every node. */
int cluster_start(struct cluster *c);

/* Crashes node @id: it loses everything not on its disk. With a crash
 * disk, the crash strikes during the node's next write when one comes
 * soon (its sync fails, so that write is lost, or torn when torn_writes),
 * as a power cut would. */
int cluster_crash(struct cluster *c, raft_id id);
int cluster_restart(struct cluster *c, raft_id id);
int cluster_pause(struct cluster *c, raft_id id);
int cluster_resume(struct cluster *c, raft_id id);

/* Arms node @id (cluster_config.crash_after must be set): the next time
 * one of its updates grants a vote (@what VOTE) or acknowledges entries
 * that the update persisted (ACK), the node loses power right after the
 * update was persisted and its messages sent, before it applies, answers
 * or does anything else. The arm holds until it fires, across the node's
 * crashes and restarts; arming again replaces it (NONE disarms). A node
 * that went down so stays down until cluster_restart. */
int cluster_arm_crash_after(struct cluster *c,
                            raft_id id,
                            enum cluster_crash_after what);
/* Whether node @id went down by its crash_after trigger since the last
 * call. In sim mode the node is already off; with threads it halted where
 * it was, and is powered off here (the controlling thread's call). */
bool cluster_reap_tripped(struct cluster *c, raft_id id);
/* crash_after triggers of kind @what fired so far, over every node. */
uint64_t cluster_crash_after_fired(struct cluster *c,
                                   enum cluster_crash_after what);

void cluster_status(struct cluster *c,
                    raft_id id,
                    struct cluster_node_status *s);
/* The leader, or 0 when there is none: of the live nodes in the leader
 * role that are voters of their own configuration and reach a quorum of
 * its voters through the network's cuts, the one of the highest term
 * (docs/scenarios.md, "Who is the leader"). */
raft_id cluster_leader(struct cluster *c);
/* The voters as a set of ids (bit k for node k): those of the
 * configuration of the leader last found by cluster_leader (the initial
 * members before any); with @committed, of the last such configuration
 * seen committed there. */
uint32_t cluster_voters(struct cluster *c, bool committed);
/* Whether node @id is part of the cluster: booted at the start or joined
 * since, and not retired. Nodes outside are never started or restarted. */
bool cluster_present(struct cluster *c, raft_id id);
/* Node @id, outside, joins: it boots on a new, empty disk with @conf (the
 * cluster's configuration, which does not list it; copied) and waits for
 * the leader's log or snapshot. */
int cluster_join(struct cluster *c,
                 raft_id id,
                 const struct raft_configuration *conf);
/* Node @id leaves: powered off and its disk wiped; it is outside. */
int cluster_retire(struct cluster *c, raft_id id);
/* A line for the run's event log (cluster_config.event), stamped with the
 * run's clock. */
void cluster_event(struct cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Runs @op on node @id's core (on the thread that runs it), with the
 * configuration in force there changed by one server for a membership
 * change; *@index gets the configuration entry's index (may be NULL).
 * kv_node_propose_conf's and kv_node_transfer_leader's codes;
 * COMMON_EUNAVAILABLE when the node is down, paused or busy. */
int cluster_control(struct cluster *c,
                    raft_id id,
                    enum cluster_control_op op,
                    raft_id target,
                    raft_index *index);
unsigned cluster_size(const struct cluster *c);
/* The Raft network (its faults are the nemesis's to set). */
struct transport_mem *cluster_net(struct cluster *c);
/* The clients' network: the workload attaches its clients there. */
struct client_net *cluster_clients(struct cluster *c);
/* Nanoseconds since the cluster was created (the run's clock; virtual in
 * sim mode). */
uint64_t cluster_now(const struct cluster *c);
/* Snapshots installed by InstallSnapshot, summed over every node and
 * incarnation. */
uint64_t cluster_snapshots_installed(struct cluster *c);
/* Node @id's disk faults so far (zeroes without faults). */
void cluster_disk_report(struct cluster *c,
                         raft_id id,
                         struct cluster_disk_report *r);
/* Node @id's snapshots and log (zeroed for an unknown id). */
void cluster_log_stats(struct cluster *c,
                       raft_id id,
                       struct cluster_log_stats *out);

#endif /* HARNESS_CLUSTER_H */
