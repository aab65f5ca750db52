/*
 * The timeline: what the cluster did over a run, kept for the run report
 * (report.h). The run loop samples it at every step: each node's state
 * (up, paused, crashed, storage failed, outside the cluster), role and
 * term, and the network's faults (which links are cut, each way, whether
 * link faults hold, and how the nemesis describes what is in force), and
 * whether the safety monitor has found a violation yet. Only changes are
 * kept, as segments [from, to) on the run's clock.
 *
 * Bounded: at most TIMELINE_MAX_SEGS segments per node and for the
 * network; past that the timeline stops growing and says from when it
 * is cut (timeline_cut_at).
 *
 * Sampling only reads (cluster_status, transport_mem_is_cut, monitor_ok):
 * a sim run is the same run with or without it. One thread: the run
 * loop's.
 */
#ifndef HARNESS_TIMELINE_H
#define HARNESS_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/harness.h"
#include "raft/raft.h"

#define TIMELINE_MAX_SEGS 1000

enum timeline_state {
    TIMELINE_OUTSIDE = 0, /* not part of the cluster (membership) */
    TIMELINE_UP = 1,
    TIMELINE_PAUSED = 2,
    TIMELINE_DOWN = 3,   /* crashed */
    TIMELINE_FAILED = 4, /* its storage failed: it stopped serving */
};

/* Network faults in force (bits). */
#define TIMELINE_NET_PARTITION 1u /* some link cut both ways */
#define TIMELINE_NET_ONE_WAY   2u /* some link cut one way only */
#define TIMELINE_NET_LINKS     4u /* loss, delay, ... on some links */

/* One node's state over [from, to). */
struct timeline_node_seg
{
    uint64_t from;
    uint64_t to;
    enum timeline_state state;
    enum raft_role role;
    raft_term term;
};

/* The network's faults over [from, to); cut[i] has bit j when the link
 * i -> j is cut. */
struct timeline_net_seg
{
    uint64_t from;
    uint64_t to;
    unsigned kinds; /* TIMELINE_NET_* bits; 0: none */
    uint16_t cut[SCENARIO_MAX_NODES + 1];
    char what[96]; /* the nemesis's description, "" when none */
};

/* What one sample saw. */
struct timeline_sample
{
    struct
    {
        enum timeline_state state;
        enum raft_role role;
        raft_term term;
    } node[SCENARIO_MAX_NODES + 1]; /* by id */
    unsigned net_kinds;
    uint16_t cut[SCENARIO_MAX_NODES + 1];
    const char *what; /* borrowed for the call */
    bool violated;    /* the safety monitor has found a violation */
};

struct timeline;

/* A timeline of @nodes nodes (at most SCENARIO_MAX_NODES); NULL when out
 * of memory. */
struct timeline *timeline_new(unsigned nodes);
void timeline_free(struct timeline *t);

/* What was seen at @now (not before the previous sample). */
void timeline_record(struct timeline *t,
                     uint64_t now,
                     const struct timeline_sample *s);
/* The run ended at @now: every open segment closes there. */
void timeline_close(struct timeline *t, uint64_t now);

unsigned timeline_nodes(const struct timeline *t);
/* Node @id's segments (1 <= id <= nodes), in time order. */
const struct timeline_node_seg *timeline_node(const struct timeline *t,
                                              unsigned id,
                                              size_t *count);
/* The network's segments, in time order (also those with no fault). */
const struct timeline_net_seg *timeline_net(const struct timeline *t,
                                            size_t *count);
/* When the monitor was first seen to have found a violation; false when
 * it never was. */
bool timeline_violation_at(const struct timeline *t, uint64_t *at);
/* When the timeline stopped growing (bound reached or out of memory);
 * false when it holds everything. */
bool timeline_cut_at(const struct timeline *t, uint64_t *at);
/* When the run ended (timeline_close), 0 before. */
uint64_t timeline_end(const struct timeline *t);

#endif /* HARNESS_TIMELINE_H */
