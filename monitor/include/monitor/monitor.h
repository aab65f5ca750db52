/*
 * The safety monitor: checks the Raft paper's safety properties (Figure 3)
 * while a cluster runs, by looking at every update every node produces.
 *
 *   Election Safety      at most one leader per term;
 *   Leader Append-Only   a leader never deletes entries from its log;
 *   Log Matching         if two nodes persisted an entry with the same
 *                        index and term, their logs are identical up to it
 *                        (checked with cumulative hashes of each node's
 *                        persisted log);
 *   Leader Completeness  a leader of term T holds every entry committed in
 *                        a term before T;
 *   State Machine Safety no two nodes apply different entries at an index,
 *                        and a snapshot installed covers only what some
 *                        node applied (so a node that joins empty, or
 *                        comes back with its disk wiped, and catches up
 *                        by snapshot is checked like the others: its
 *                        view restarts at monitor_boot, the snapshot's
 *                        place in the log is checked against the others'
 *                        and what it persists and applies after it too);
 *   Bounds               no node persists, installs or sends a term or an
 *                        index above RAFT_TERM_MAX or RAFT_INDEX_MAX.
 *
 * Nodes call monitor_observe() from their own thread after persisting an
 * update; it is thread-safe. The first violation is kept (with the nodes,
 * term and index involved) and never cleared.
 *
 * A library of its own (libmonitor.a, over raft, common and xxhash only),
 * so that both the harness and the Raft core's own tests (tests/support's
 * testnet) can watch a cluster without linking anything else.
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define MONITOR_MAX_NODES 32

struct monitor;

struct monitor *monitor_new(void);
void monitor_free(struct monitor *m);
/* Promises that from now on one thread makes every call on @m (the sim
 * driver): it then takes no lock. */
void monitor_set_single_threaded(struct monitor *m);

/* Node @id (1-based) produced @u; @r is its core (read from the caller's
 * thread, which owns it). Call after the update was persisted. */
void monitor_observe(struct monitor *m,
                     raft_id id,
                     const struct raft *r,
                     const struct raft_update *u);

/* Node @id booted from a disk holding a snapshot at (@snapshot_index,
 * @snapshot_term) (0, 0 for none) and then @n entries; its state machine
 * starts from the snapshot. Call before the node's first update. */
void monitor_boot(struct monitor *m,
                  raft_id id,
                  raft_index snapshot_index,
                  raft_term snapshot_term,
                  const struct raft_entry *e,
                  size_t n);

bool monitor_ok(struct monitor *m);
/* The first violation (copied into @buf), or an empty string. */
void monitor_violation(struct monitor *m, char *buf, size_t size);

struct monitor_stats
{
    uint64_t terms_with_leader;
    uint64_t highest_term;
    uint64_t committed; /* highest index seen applied anywhere */
    uint64_t applied;   /* entries applied, all nodes */
};
void monitor_stats(struct monitor *m, struct monitor_stats *s);

#endif /* MONITOR_MONITOR_H */
