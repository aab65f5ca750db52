/*
 * Membership: the timeline's membership actions (add-node, promote,
 * remove-node, transfer-leader) and the membership nemesis, carried out
 * through the leader as the harness finds it (cluster_leader).
 *
 * Actions wait in a queue and are worked on one at a time, the oldest
 * first: the Raft core takes one configuration change at a time anyway.
 * Each attempt looks at the leader's configuration (the latest in its
 * log) and either finds the action done (committed there), waits for a
 * change in flight to commit, or asks the leader (cluster_control). When
 * there is no leader or the leader refuses (a change in flight, a
 * transfer under way, a learner too far behind), the action is tried
 * again MEMBERSHIP_RETRY_MS later, up to MEMBERSHIP_ATTEMPTS times; every
 * attempt and its outcome goes to the event log.
 *
 * A node added boots on an empty disk with the leader's configuration,
 * which does not list it, and catches up from the leader's log or
 * snapshot; unless the timeline promotes it itself, a promotion follows
 * once the add has committed. A node removed is powered off and its disk
 * wiped once its removal has committed: it is outside again, and adding
 * it later brings it back empty.
 *
 * Determinism: the `random`, `follower` and nemesis draws come from a
 * PRNG of their own, seeded from the scenario's seed, so that a scenario
 * without membership draws nothing from it.
 *
 * One thread: the run loop's.
 */
#ifndef HARNESS_MEMBERSHIP_H
#define HARNESS_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "harness/harness.h"

#define MEMBERSHIP_RETRY_MS 100
#define MEMBERSHIP_ATTEMPTS 100
#define MEMBERSHIP_QUEUE    64

/* Lines for the event log go through cluster_event. */
struct membership_config
{
    const struct scenario *scenario; /* borrowed */
    struct cluster *cluster;         /* borrowed */
};

struct membership;

/* 0 or COMMON_ENOMEM; @cfg is copied, what it points to borrowed. */
int membership_new(const struct membership_config *cfg,
                   struct membership **out);
void membership_free(struct membership *m);

/* Queues the timeline's membership action @f (borrowed for the run). */
void membership_submit(struct membership *m, const struct scenario_fault *f);
/* Works on the queue (the first attempt of a new action at once, retries
 * when due) and lets the membership nemesis act when its time has come. */
void membership_step(struct membership *m, uint64_t now);
/* The end of the run: actions still queued are dropped (and logged). */
void membership_stop(struct membership *m);
/* Changes the membership nemesis proposed and those that took effect;
 * actions given up. */
void membership_counts(const struct membership *m,
                       uint64_t *done,
                       uint64_t *given_up);

#endif /* HARNESS_MEMBERSHIP_H */
