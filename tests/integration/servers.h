/*
 * The raftkv-server processes of one test cluster on loopback ports, as a
 * test sees them from outside: each node's own view (Status), which node
 * leads, whether they all hold the same state. Shared by the integration
 * tests that run real servers (cluster_processes, adversarial_cluster);
 * each starts its servers itself (flags differ) with procs_spawn.
 */
#ifndef TESTS_INTEGRATION_SERVERS_H
#define TESTS_INTEGRATION_SERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cmd/cmd.h"
#include "transport/transport.h"

#define SERVERS_MAX 8

struct servers
{
    int n;                       /* nodes 1..n, at indexes 0..n-1 */
    unsigned ports[SERVERS_MAX]; /* node k+1 serves 127.0.0.1:ports[k] */
    pid_t pids[SERVERS_MAX];     /* 0: not running */
    /* Removed from the cluster on purpose: convergence leaves it out (a
     * node merely down is not gone, and fails it). */
    bool gone[SERVERS_MAX];
    /* The client's credentials for Status calls (borrowed; NULL:
     * plaintext, for an --insecure cluster). */
    const struct transport_grpc_tls *tls;
};

/* Gives @n nodes free ports and writes the cluster's --cluster value
 * ("1=127.0.0.1:P1,...") into @spec and the CLI's --endpoints value
 * ("127.0.0.1:P1,...") into @endpoints. False when no port was free or a
 * buffer is too small. */
bool servers_init(struct servers *s,
                  int n,
                  char *spec,
                  size_t spec_len,
                  char *endpoints,
                  size_t endpoints_len);

/* "127.0.0.1:PORT" of node @k (index) into @buf. */
void servers_address(const struct servers *s, int k, char *buf, size_t len);

/* Node @k's own view; false when it does not answer within 2 s. */
bool servers_status(const struct servers *s, int k, struct cmd_status *st);

/* The running node that leads (by the highest term a leader reports),
 * waiting up to @wait_ms for one; -1 when none. Its term in @term (may be
 * NULL). */
int servers_leader(const struct servers *s, unsigned wait_ms, raft_term *term);

/* Whether every node not gone answers with the same applied index (= its
 * commit) and the same state digest, twice in a row, within @wait_ms; the
 * first such node's view then in @agreed (may be NULL). When not, prints
 * each one's view. */
bool servers_converged(const struct servers *s,
                       unsigned wait_ms,
                       struct cmd_status *agreed);

/* SIGKILLs every running node and waits for it. */
void servers_kill(struct servers *s);

#endif /* TESTS_INTEGRATION_SERVERS_H */
