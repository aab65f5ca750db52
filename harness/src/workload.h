/*
 * The workload: the scenario's clients, driven by one thread as
 * event-driven kv_client objects, generating operations from the op mix and
 * recording the history.
 *
 * The clients reach the nodes through the cluster's client network
 * (client_net.h), which places each client beside a home node and lets it
 * see the Raft network as its home does; the workload attaches itself
 * there when it is created and detaches in workload_join().
 *
 * Operations: keys "k0".."k<keys-1>"; every put and append writes a value
 * unique in the run ("<process>.<n>", padded with '.' to value_size), so
 * the history pins down which write a read saw; a cas expects the value
 * this driver last saw for the key (or absence), so that cas both succeeds
 * and fails in useful proportions.
 */
#ifndef HARNESS_WORKLOAD_H
#define HARNESS_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "checker/checker.h"
#include "cluster.h"
#include "kv/kv.h"

struct workload_config
{
    unsigned clients;
    unsigned nodes;
    unsigned keys;
    unsigned value_size;
    uint64_t op_timeout_ns;
    uint64_t attempt_timeout_ns;
    uint64_t think_ns;
    unsigned mix[KV_OP_MAX + 1]; /* weight per enum kv_op */
    uint64_t seed;
    struct cluster *cluster;
    /* Benchmarks: keep no history, only the latency of each ok op. */
    bool latencies_only;
    /* Sim mode: no thread; replies and client timers are events of this
     * scheduler (the cluster's). NULL: a driver thread. */
    struct sched *sched;
};

/* One recorded history event (strings owned by the workload). */
struct workload_event
{
    enum kv_event_type type;
    enum kv_op op;
    bool found;           /* ok get */
    bool expected_absent; /* cas invoke */
    uint64_t process;
    uint64_t time_ns;
    raft_id node;
    const char *error; /* static */
    char *key;
    char *value; /* NULL: none (or absent for an ok get) */
    size_t value_len;
    char *expected;
    size_t expected_len;
};

struct workload;

int workload_new(const struct workload_config *cfg, struct workload **out);
/* Frees @w (after workload_join, if it was created). */
void workload_free(struct workload *w);
int workload_start(struct workload *w);
/* Stops starting new operations; lets open ones finish or time out. */
void workload_drain(struct workload *w);
/* Waits for the driver thread to end (after workload_drain) and detaches
 * the workload from the client network: no reply reaches it after this
 * returns. Call it before the cluster is freed. */
void workload_join(struct workload *w);
/* The driver thread has finished (every open operation completed). */
bool workload_done(struct workload *w);
/* Recording ran out of memory: the history is incomplete. */
bool workload_oom(const struct workload *w);

struct workload_counts
{
    uint64_t invoked;
    uint64_t ok;
    uint64_t fail;
    uint64_t info;
};
void workload_counts(struct workload *w, struct workload_counts *c);

/* The history, valid after workload_join(). */
const struct workload_event *workload_events(const struct workload *w,
                                             size_t *n);

/* With latencies_only: the latency (ns) of every ok op, in completion
 * order; valid after workload_join(). */
const uint64_t *workload_latencies(const struct workload *w, size_t *n);

/* Event @e as the checker sees it, @line its 1-based place in the history
 * (strings borrowed from @e). */
void workload_event_checker(const struct workload_event *e,
                            uint64_t line,
                            struct checker_event *out);

/* Writes the history as JSON Lines (DESIGN.md's format), through the
 * checker's writer. 0 or COMMON_EIO. */
int workload_write_jsonl(const struct workload *w, FILE *f);

#endif /* HARNESS_WORKLOAD_H */
