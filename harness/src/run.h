/*
 * One harness run: build the cluster a scenario describes, run the client
 * workload and the fault timeline (and the random nemesis), then judge the
 * run - linearizability of the whole history, Raft's safety properties as
 * monitored during the run, and the scenario's own expectations - print a
 * summary, and write the history, event log and checker report when asked.
 */
#ifndef HARNESS_RUN_H
#define HARNESS_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "scenario.h"

/* Exit codes (DESIGN.md). */
#define HARNESS_EXIT_OK      0
#define HARNESS_EXIT_FAILED  1
#define HARNESS_EXIT_USAGE   2
#define HARNESS_EXIT_UNKNOWN 3

struct harness_options
{
    const char *out_dir;    /* NULL: write no files */
    double check_timeout_s; /* the checker's time budget */
    bool live;              /* one-line live status on stderr */
    bool quiet;             /* no summary table, only the result line */
    /* Sim mode: one thread, virtual time, a seeded scheduler; the same
     * scenario and seed give byte-identical history and event log. */
    bool sim;
};

/* Swarm testing: redraws @s's nemesis from @seed - which faults, how
 * often and how long, how lossy and slow the links get - so that many
 * seeds explore many different worlds. The fault timeline and the
 * expectations stay as written. */
void harness_swarm(struct scenario *s, uint64_t seed);

/* Runs @s (seed and duration already final). Returns an exit code. */
int harness_run(const struct scenario *s, const struct harness_options *o);

#endif /* HARNESS_RUN_H */
