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
 * reordering. A safety monitor checks the properties of the Raft paper's
 * Figure 3 after every update any node produces:
 *   Election Safety     at most one leader per term;
 *   Log Matching        equal (index, term) on two disks means equal
 *                       prefixes (checked with cumulative hashes);
 *   Leader Completeness a leader of term T holds every entry committed
 *                       in a term before T;
 *   State Machine Safety no two nodes apply different entries at an index.
 * The first violation is kept in tn->violation (and never cleared).
 */
#ifndef TESTNET_H
#define TESTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "raft/raft.h"
#include "transport/transport.h"

#define TN_MAX_NODES 9

/* A message in flight: deliver_at_ns holds the earliest round in which it
 * can be delivered. */
#define tn_msg transport_msg

struct tn_disk
{
    struct raft_hard_state hs;
    struct raft_entry *entries; /* data owned */
    size_t len;
    size_t cap;
    uint64_t *chain; /* cumulative hash of entries[0..k] */
};

struct tn_node
{
    raft_id id;
    struct raft *r; /* NULL while crashed */
    struct tn_disk disk;
    raft_index applied;
    uint64_t applied_count;
    bool paused;           /* alive but not ticking or receiving */
    uint64_t reads_ok;     /* ReadIndex results released with an index */
    uint64_t reads_failed; /* ... and failed (index 0) */
};

struct tn_committed
{
    raft_term term;
    uint64_t hash;
    /* A term no earlier than the one in which the entry was committed: the
     * current term of the first node seen applying it (the committing
     * leader applies before anyone can learn of the commit from it). */
    raft_term commit_term;
};

struct testnet
{
    unsigned n;
    struct tn_node nodes[TN_MAX_NODES];
    struct raft_options opts; /* template; id and seed set per node */
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

    /* Safety monitor. */
    raft_id *leader_of_term; /* index: term */
    size_t leader_of_term_cap;
    struct tn_committed *committed; /* index: log index */
    size_t committed_len;           /* highest committed index seen */
    size_t committed_cap;
    struct tn_lm_slot *lm; /* Log Matching table: (index, term) -> hash */
    size_t lm_cap;
    size_t lm_len;
    char violation[512];

    uint64_t delivered;
    uint64_t dropped;
    uint64_t append_rejects; /* delivered AppendEntries rejections */

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
void tn_boot_log(struct testnet *tn,
                 raft_id id,
                 const raft_term *terms,
                 size_t n,
                 raft_term term,
                 raft_id vote);

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

#endif /* TESTNET_H */
