/*
 * The nemesis: every fault of a run - the scenario's fault timeline and
 * the random nemesis - and the one record of the faults in force.
 *
 * It alone puts faults in force: it cuts and heals the Raft network, sets
 * link faults, crashes, restarts, pauses and resumes nodes, and forges
 * messages; and it alone records them - which nodes it has crashed and
 * paused, whether a partition holds, since when and which side is the
 * minority, whether links are faulty, when the random nemesis strikes next
 * and when it heals. Nobody else keeps fault state: the cluster knows only
 * what each node is doing (running, paused, down), which is not the same
 * thing (a crash on a crash disk lands at the node's next write, a pause
 * of a node that is down changes nothing), and the judge hears of heals
 * through a callback and reads the partitions at the end.
 *
 * The random nemesis holds up to nemesis.concurrent faults at once, each
 * healed on its own schedule (nemesis.c says how they compose).
 *
 * Random choices (targets, the random nemesis's faults) come from a PRNG
 * seeded from the scenario's seed, drawn in the order faults fire.
 *
 * One thread: the run loop's.
 */
#ifndef HARNESS_NEMESIS_H
#define HARNESS_NEMESIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "harness/harness.h"

/* A span during which a partition or an isolation held. */
struct nemesis_interval
{
    uint64_t start; /* ns, the run's clock */
    uint64_t end;
    bool minority[SCENARIO_MAX_NODES + 1]; /* by node id: on a side with no
                                              majority */
    char what[96];                         /* the fault, described */
};

struct nemesis_config
{
    const struct scenario *scenario; /* borrowed */
    struct cluster *cluster;         /* borrowed */
    /* A line for the run's event log ("fault: ...", "nemesis: ..."). */
    void (*log)(void *data, uint64_t now, const char *text);
    void *log_data;
    /* The network was healed at @now. */
    void (*healed)(void *data, uint64_t now);
    void *healed_data;
    /* A fault ended at @now (may be NULL): a heal, restart or resume of
     * the timeline, a link fault that clears its links, the random
     * nemesis healing its fault; not the heal at the end of the run.
     * @what (borrowed for the call) describes it. */
    void (*ended)(void *data, uint64_t now, const char *what);
    void *ended_data;
};

struct nemesis;

/* A nemesis over @cfg's cluster (copied; what it points to is borrowed for
 * the nemesis's life). 0 or COMMON_ENOMEM. */
int nemesis_new(const struct nemesis_config *cfg, struct nemesis **out);
void nemesis_free(struct nemesis *n);

/* Writes down the nodes that crashed on a crash_after trigger, then fires
 * the timeline's faults due by @now, then the random nemesis's (a new
 * fault, or the healing of those whose time is up) when their time has
 * come. */
void nemesis_step(struct nemesis *n, uint64_t now);
/* The end of the run: heals the network, drops the crash_after arms that
 * did not fire and brings every node back (resumed, restarted), so that
 * open operations can finish. */
void nemesis_heal_all(struct nemesis *n, uint64_t now);

/* Membership actions done and given up so far (membership.h). */
void nemesis_membership_counts(const struct nemesis *n,
                               uint64_t *done,
                               uint64_t *given_up);
/* The last fault put in force, or "none" when none holds (for the live
 * status line). */
const char *nemesis_faults(const struct nemesis *n);
/* Whether link faults (loss, delay, duplication, ...) are in force. */
bool nemesis_link_faults(const struct nemesis *n);
/* Every partition and isolation of the run, in order (the judge's
 * no_ok_on_minority); after nemesis_heal_all, which closes the last one.
 * Valid until nemesis_free. */
const struct nemesis_interval *nemesis_intervals(const struct nemesis *n,
                                                 size_t *count);

#endif /* HARNESS_NEMESIS_H */
