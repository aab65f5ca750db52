/*
 * The run report: DIR/report.html of `harness --out DIR`, one
 * self-contained HTML file (no network; Chart.js is embedded in the
 * program at build time) that shows a run:
 *
 *   - the verdict first (PASS, FAIL or UNKNOWN), each check that failed
 *     with its kind (safety invariant, linearizability, expectation), the
 *     scenario, mode and seed, and the command that reproduces the run;
 *   - the cluster timeline on the run's clock: one row per node (its
 *     role and term; paused, crashed, storage failed, outside), network
 *     faults (partitions, one-way cuts, link faults) as bands;
 *   - the history as one lane per client on the same axis: counts per
 *     time bucket, and around the failing window every operation with the
 *     node that answered it, the checker's prefix and the operations it
 *     could not place marked; for a safety violation, the moment found,
 *     the violation (nodes, terms, indexes) and events.log around it;
 *   - latency over time (operations as points, coloured by outcome) and
 *     throughput over time, with the fault bands behind.
 *
 * Bounded by construction: whatever the run's length or number of
 * operations, the report holds at most REPORT_MAX_* items of each kind,
 * strings cut to REPORT_*_MAX bytes (docs/report.md gives the figures:
 * 2.6 MB at the very worst); history.jsonl keeps everything.
 *
 * Every string from the run (scenario name, keys, values, failure texts,
 * event lines) is escaped: as HTML text where it is HTML, as a JSON
 * string safe inside <script> where it is data, and the page's script
 * only ever sets it as text.
 */
#ifndef HARNESS_REPORT_H
#define HARNESS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "checker/checker.h"
#include "harness/harness.h"
#include "timeline.h"

#define REPORT_BUCKETS      200   /* time buckets of lanes and throughput */
#define REPORT_MAX_LANES    64    /* clients share lanes beyond that */
#define REPORT_MAX_OPS      1500  /* operations drawn one by one */
#define REPORT_MAX_UNPLACED 100   /* ... listed as could not be placed */
#define REPORT_MAX_POINTS   20000 /* latency points, every outcome */
#define REPORT_MAX_RARE     5000  /* ... of which fail and info at most */
#define REPORT_MAX_MISMATCH 5000  /* ... and cas mismatches at most */
#define REPORT_MAX_LOG      300   /* events.log lines shown */
#define REPORT_MAX_FAILURES 16
#define REPORT_TEXT_MAX     300 /* longest string shown (bytes) */
#define REPORT_WHAT_MAX     100 /* ... an operation described */
#define REPORT_KEY_MAX      64  /* ... a key */

struct report_input
{
    const struct scenario *s;
    bool sim;
    const char *reproduce; /* the command line, NULL: none */
    int exit_code;         /* COMMON_EXIT_OK, _FAILED or _UNKNOWN */
    const char *failures[REPORT_MAX_FAILURES]; /* the judge's, in order */
    unsigned n_failures;
    /* The checker's history and result (NULL: it did not run), and the
     * node that answered each operation of it (0: none; NULL: unknown). */
    const struct checker_history *h;
    const struct checker_result *cres;
    const uint32_t *op_node;
    const struct timeline *tl; /* NULL: none */
    const char *log;           /* events.log */
    size_t log_len;
    double run_s;
};

/* The kind of a judge's failure, from its text: "safety invariant",
 * "linearizability" or "expectation". */
const char *report_failure_kind(const char *failure);

/* Writes the report to @f. 0, or COMMON_EIO when @f reports an error. */
int report_write(FILE *f, const struct report_input *in);
/* The same into the file at @path (created or truncated). */
int report_save(const char *path, const struct report_input *in);

#endif /* HARNESS_REPORT_H */
