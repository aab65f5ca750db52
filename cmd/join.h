/*
 * raftkv-server --join: the calls a joining server makes to the cluster's
 * membership service (raftkv.Cluster), and the thread that promotes it to
 * voter once it has caught up (cmd/join.c). Private to raftkv-server.
 */
#ifndef CMD_JOIN_H
#define CMD_JOIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/cmd.h"

struct join
{
    /* Set before join_call and join_promoter_start, read-only after. */
    char endpoints[RAFT_MAX_SERVERS][CMD_ADDRESS_MAX];
    size_t n_endpoints;
    const struct transport_grpc_tls *tls; /* NULL: plaintext */
    raft_id id;
    uint64_t timeout_ms; /* each call's budget, redirects and retries in */
    common_log_fn log;   /* called on the promoter thread too */
    void *log_data;

    /* The promoter thread. lock guards caught_up, stop and promoted. */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool caught_up; /* the node thread says: worth asking now */
    bool stop;      /* the server stops */
    bool promoted;  /* done: this node is a voter */
};

/* Parses "HOST:PORT,HOST:PORT" into @j. -1 with the reason in @why. */
int join_parse_endpoints(struct join *j,
                         const char *list,
                         char *why,
                         size_t why_len);

/* Makes the Cluster call @rq at the cluster's leader, found through the
 * endpoints and redirects, retrying unreachable nodes, elections and
 * changes in progress until j->timeout_ms. Returns 0 with @out filled, a
 * gRPC status (> 0) when the leader refused (the reason in @why), or -1
 * when no leader answered in time (the last error in @why). */
int join_call(struct join *j,
              const struct cmd_cluster_request *rq,
              struct cmd_members *out,
              char *why,
              size_t why_len);

/* Starts the thread that promotes node j->id once join_caught_up says so:
 * it asks MemberPromote, and while the leader says the learner is behind,
 * waits and asks again (a bounded number of times). COMMON_ENOMEM. */
int join_promoter_start(struct join *j);
/* The node thread: this learner holds the log the leader has committed. */
void join_caught_up(struct join *j);
/* Has the promoter seen this node become a voter? */
bool join_promoted(struct join *j);
/* Stops the promoter and waits for it; harmless when not started. */
void join_stop(struct join *j);

#endif /* CMD_JOIN_H */
