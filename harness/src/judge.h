/*
 * The judge: decides whether a run held. It watches the cluster while the
 * run goes (the longest span without a leader, the time from each heal to
 * the next leader, leaders inside no_leader windows, terms inside
 * term_unchanged windows) and notes when faults end, and at the end it
 * weighs the evidence - the safety monitor's verdict, the linearizability
 * checker's on the whole history, the scenario's expectations - prints the
 * summary, and gives the result line and the exit code.
 *
 *   judge_new -> (judge_watch, judge_healed, judge_fault_ended)*
 *             -> judge_run_over -> judge_check -> (judge_fail)*
 *             -> judge_result -> judge_free
 *
 * One thread: the run loop's.
 */
#ifndef HARNESS_JUDGE_H
#define HARNESS_JUDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checker/checker.h"
#include "cluster.h"
#include "harness/harness.h"
#include "monitor/monitor.h"
#include "nemesis.h"
#include "workload.h"

struct judge;

/* @s and @o are borrowed for the judge's life. NULL when out of memory. */
struct judge *judge_new(const struct scenario *s,
                        const struct harness_options *o);
void judge_free(struct judge *j);

/* One step of the run loop at @now: who leads @cl (cluster_leader), and,
 * inside a term_unchanged window, every live node's term. */
void judge_watch(struct judge *j, struct cluster *cl, uint64_t now);
/* The network was healed at @now: a leader is due. */
void judge_healed(struct judge *j, uint64_t now);
/* A fault ended at @now (nemesis_config.ended): an ok operation is due
 * (progress_within_ms). @what is copied. */
void judge_fault_ended(struct judge *j, uint64_t now, const char *what);
/* The run is over (after the last judge_watch). */
void judge_run_over(struct judge *j);

/* What the run left behind, borrowed for judge_check. */
struct judge_evidence
{
    struct monitor *monitor;
    const struct workload_event *events; /* the history */
    size_t n_events;
    bool history_incomplete; /* recording ran out of memory */
    const struct nemesis_interval *intervals;
    size_t n_intervals;
    uint64_t snapshots_installed;
    /* Raft messages the nodes handed to the in-memory network (none over
     * gRPC, whose messages never enter it). */
    uint64_t messages;
    /* logs[id] for node id: its snapshots and log, read as the cluster
     * stopped. */
    const struct cluster_log_stats *logs;
    double run_s; /* the run's length on its clock */
    /* What each node's disk faults did ([k] for node k + 1); NULL when
     * no node has any. */
    const struct cluster_disk_report *disks;
    /* crash_after faults: whether the scenario arms any, and how many
     * fired, after a vote and after an acknowledgement. */
    bool crash_after_used;
    uint64_t crash_after_votes;
    uint64_t crash_after_acks;
    /* Membership actions: whether the scenario has any (or the
     * membership nemesis), how many were done and how many given up. */
    bool membership_used;
    uint64_t membership_done;
    uint64_t membership_given_up;
};

/* Judges the run: safety, linearizability, expectations; prints the
 * summary (unless quiet) and, for a history that is not linearizable, the
 * checker's explanation. */
void judge_check(struct judge *j, const struct judge_evidence *e);
/* For the run report (report.h), after judge_check: the failures found
 * so far (at most @max pointers into the judge, in order; returns how
 * many), the checker's history and result (NULL when it did not run), and
 * the exit code judge_result will return if nothing else fails. */
unsigned judge_failures(const struct judge *j, const char **out, unsigned max);
const struct checker_history *judge_history(const struct judge *j);
const struct checker_result *judge_checker_result(const struct judge *j);
int judge_exit_code(const struct judge *j);
/* A failure the judge did not find itself (a file that cannot be
 * written). */
void judge_fail(struct judge *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the result line (PASS, FAIL with every failure, or UNKNOWN) and
 * returns the exit code. */
int judge_result(struct judge *j);

#endif /* HARNESS_JUDGE_H */
