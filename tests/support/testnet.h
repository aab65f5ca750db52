/*
 * testnet: a deterministic in-memory network of Raft cores for tests and
 * benchmarks. One thread; every event (a tick of one node, the delivery of
 * one message) happens when the test says so, and every random choice comes
 * from the net's seeded PRNG, so a seed reproduces a run exactly.
 *
 * Each node has a perfect "disk": the hard state and log entries its core
 * asked to persist, nothing more. tn_crash() throws away everything else and
 * tn_restart() boots a new core from the disk.
 *
 * Faults: cut links (one-way or both), message loss, duplication, delay and
 * reordering. The safety monitor (monitor/, libmonitor.a) checks
 * the properties of the Raft paper's Figure 3 after every update any node
 * produces; tn_safe() and tn_violation() report it, together with the few
 * checks of the net's own (a disk written out of order, a lower term
 * persisted, a node that cannot boot from its disk).
 */
#ifndef TESTNET_H
#define TESTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "monitor/monitor.h"
#include "raft/raft.h"
#include "transport/transport.h"

#define TN_MAX_NODES 9

/* A message in flight: deliver_at_ns holds the earliest round in which it
 * can be delivered. */
#define tn_msg transport_msg

#define TN_SNAP_LEN 200

struct tn_disk
{
    struct raft_hard_state hs;
    /* The latest snapshot: digest (8 bytes), index (8), filler. */
    bool has_snap;
    raft_index snap_index;
    raft_term snap_term;
    uint8_t snap_data[TN_SNAP_LEN];
    struct raft_configuration snap_conf; /* the configuration at snap_index */
    uint8_t snap_addresses[RAFT_ADDRESSES_MAX]; /* snap_conf's table */
    struct raft_entry *entries;                 /* data owned */
    size_t len;
    size_t cap;
};

struct tn_node
{
    raft_id id;
    struct raft *r; /* NULL while crashed */
    struct tn_disk disk;
    raft_index applied;
    uint64_t applied_count;
    uint64_t digest;       /* of the entries applied, snapshot included */
    bool paused;           /* alive but not ticking or receiving */
    uint64_t reads_ok;     /* ReadIndex results released with an index */
    uint64_t reads_failed; /* ... and failed (index 0) */
};

struct testnet
{
    unsigned n;
    struct tn_node nodes[TN_MAX_NODES];
    struct raft_options opts; /* template; id and seed set per node */
    /* What every node boots with when its disk has no snapshot. */
    struct raft_configuration boot_conf;
    uint8_t boot_addresses[RAFT_ADDRESSES_MAX]; /* boot_conf's table */
    struct common_prng prng;
    uint64_t seed;
    uint64_t round; /* ticks of the global clock */

    /* Links: cut[i][j] drops messages from node i to node j. */
    bool cut[TN_MAX_NODES][TN_MAX_NODES];
    double loss;        /* probability a message is dropped */
    double duplicate;   /* probability a message is delivered twice */
    bool reorder;       /* deliver queued messages in random order */
    unsigned delay_max; /* rounds a message may wait, uniform 0..max */

    struct tn_msg **queue;
    size_t queue_len;
    size_t queue_cap;

    struct monitor *mon;
    char violation[512];

    uint64_t delivered;
    uint64_t dropped;
    uint64_t append_rejects; /* delivered AppendEntries rejections */
    /* Probability that a leader crashes after sending its AppendEntries
     * and before its own disk write completes (the write is lost). */
    double crash_mid_write;
    uint64_t crashes_mid_write;
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    /* digest_at[i]: the state machine digest after index i, as first
     * applied anywhere (every replica must agree). */
    uint64_t *digest_at;
    size_t digest_cap;

    /* Optional: sees each copy of a message a node sends; may shorten its
     * entries, or return false to drop it. */
    bool (*filter)(void *data, struct raft_message *m);
    void *filter_data;
};

/* Creates @n nodes (ids 1..n) with the options template (id and seed are
 * set per node). Returns NULL without memory. */
struct testnet *tn_new(unsigned n,
                       const struct raft_options *opts,
                       uint64_t seed);
/* The same, every node booting with @conf (nodes 1..n outside it start as
 * non-members, waiting to be added). */
struct testnet *tn_new_conf(unsigned n,
                            const struct raft_configuration *conf,
                            const struct raft_options *opts,
                            uint64_t seed);
void tn_free(struct testnet *tn);

/* Node by id (1-based). */
struct tn_node *tn_node(struct testnet *tn, raft_id id);

/* Drains every update node @id has; called after each input. */
void tn_process(struct testnet *tn, raft_id id);

void tn_tick(struct testnet *tn, raft_id id);
/* One round of the global clock: every live node ticks once (in random
 * order), then every deliverable message is delivered. */
void tn_round(struct testnet *tn);
void tn_rounds(struct testnet *tn, unsigned count);
/* Delivers one queued, deliverable message (random pick when reordering).
 * Returns false when none is deliverable. */
bool tn_deliver_one(struct testnet *tn);
/* Delivers until the queue is empty or @max deliveries were made. */
size_t tn_deliver_all(struct testnet *tn, size_t max);
/* Drops every queued message. */
void tn_clear_queue(struct testnet *tn);

/* Links */
void tn_cut(struct testnet *tn, raft_id from, raft_id to, bool cut);
void tn_isolate(struct testnet *tn, raft_id id);
/* @group has @len ids; links between the group and the rest are cut,
 * inside each side healed. */
void tn_partition(struct testnet *tn, const raft_id *group, size_t len);
void tn_heal(struct testnet *tn);

/* Crash loses everything not on the node's disk; restart boots from it. */
void tn_crash(struct testnet *tn, raft_id id);
void tn_restart(struct testnet *tn, raft_id id);
/* Replaces node @id's disk with a log of the given terms and a hard state
 * (term, vote), and boots it (for setting up figures from the paper). */
/* The disk of crashed node @id loses its last @n log entries, as a disk
 * that acknowledged syncs it did not keep would (the hard state's commit
 * is cut to what is left, as recovery would find it). */
void tn_lose_tail(struct testnet *tn, raft_id id, size_t n);
void tn_boot_log(struct testnet *tn,
                 raft_id id,
                 const raft_term *terms,
                 size_t n,
                 raft_term term,
                 raft_id vote);

/* Node @id snapshots its state machine at its applied index and compacts
 * its log, keeping the last @keep entries; leaders then send the snapshot
 * to followers that need compacted entries. */
void tn_snapshot(struct testnet *tn, raft_id id, unsigned keep);

/* Proposes @data at node @id; returns raft_propose's result. */
int tn_propose(struct testnet *tn, raft_id id, const void *data, size_t len);
/* The live leader with the highest term, or 0. */
raft_id tn_leader(struct testnet *tn);
/* Runs rounds until some node leads (and returns it) or @max rounds pass. */
raft_id tn_elect(struct testnet *tn, unsigned max);
/* Forces node @id to campaign, then delivers until quiet. */
void tn_campaign(struct testnet *tn, raft_id id);

/* True when no violation was found. */
bool tn_safe(const struct testnet *tn);
/* The first violation found, or "". */
const char *tn_violation(struct testnet *tn);

#endif /* TESTNET_H */
