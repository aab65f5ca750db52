/*
 * raftkv-server: one raft-kv node as a process.
 *
 *   raftkv-server --id N --cluster 1=HOST:PORT,2=HOST:PORT,... --data-dir DIR
 *   raftkv-server --id N --join HOST:PORT,... --listen HOST:PORT --data-dir DIR
 *                 [--join-as-learner]
 *                 (--tls-cert FILE --tls-key FILE --tls-ca FILE | --insecure)
 *                 [--allow-clients-without-cert]
 *                 [--listen HOST:PORT] [--tick-ms MS] [--election-ticks N]
 *                 [--heartbeat-ticks N] [--snapshot-entries N]
 *                 [--snapshot-trailing N] [--request-timeout SECONDS]
 *                 [--metrics-addr HOST:PORT] [--proxy]
 *                 [--proxy-max-calls N] [--quiet]
 *
 * One thread owns the node (a kv_node over the write-ahead log in DIR and
 * the gRPC transport): it waits in the endpoint's completion queue with
 * the next Raft tick as the timeout, feeds what arrived - peer messages,
 * client calls - to the kv_node, ticks it when due, then flushes: the
 * kv_node persists, sends, applies and answers, and the transport puts
 * each peer's messages on the wire as one batch call. Everything the node
 * touches is confined to this thread; gRPC's own threads only move bytes.
 *
 * Client calls (service raftkv.KV) wait in a table until the kv_node
 * answers them (writes once committed and applied, reads once a ReadIndex
 * round confirmed the leadership); the token of each kv_request finds its
 * call again. A follower answers CODE_NOT_LEADER with the leader's id and
 * address: the configuration's (members' addresses are part of it), else
 * --cluster's. A call with no answer after --request-timeout is answered
 * DEADLINE_EXCEEDED (the kv_node's later answer is dropped). With --proxy
 * a follower forwards such a call to the leader instead, unless another
 * node forwarded it already (proxy.c), and relays the answer.
 *
 * Membership calls (service raftkv.Cluster, docs/api.md) are served by the
 * leader: a change is proposed at once (kv_node_propose_conf) and its call
 * waits in cluster_waits until the entry commits in the same term, a
 * transfer until the target leads. After every flush peers_sync gives the
 * transport the address of any member of the configuration in force it
 * does not know yet, so that new members are reached without a restart.
 *
 * TLS is on by default (mutual TLS between peers, whose certificates name
 * their node ids; see transport.h and docs/security.md); --insecure runs
 * without it and says on stderr what that gives away.
 *
 * --metrics-addr serves /metrics (Prometheus), /healthz and /readyz on a
 * thread of its own (server_metrics.c): the node thread counts what
 * happens into sv->stats and publishes a copy every 100 ms.
 *
 * SIGTERM and SIGINT are blocked in every thread (before grpc_init starts
 * its threads) and polled for between events: the node answers what
 * waits UNAVAILABLE, stops serving and exits 0.
 *
 * Exit codes: 0 clean shutdown, 1 the node failed while running (a storage
 * write failed), 2 bad flags or an unusable data directory (missing
 * rights, locked by another server, refused by recovery), 3 the address
 * cannot be bound (port in use).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "join.h"
#include "kv/kv.h"
#include "proxy.h"
#include "server_metrics.h"
#include "storage/storage.h"
#include "transport/transport.h"

/* Client calls waiting for the node: the transport's own limit. */
#define PROGRAM "raftkv-server"
#define SYNOPSIS                                                            \
    "usage: raftkv-server --id N --cluster ID=HOST:PORT,... --data-dir "    \
    "DIR\n"                                                                 \
    "       raftkv-server --id N --join HOST:PORT,... --listen HOST:PORT "  \
    "--data-dir DIR\n"                                                      \
    "         (--tls-cert FILE --tls-key FILE --tls-ca FILE | --insecure) " \
    "[options]\n"
#define PENDING_BITS 12
#define PENDING_MAX  (1u << PENDING_BITS)

struct pending
{
    uint64_t gen; /* 0: free */
    struct transport_grpc_call *call;
    enum cmd_method method;
    uint64_t started_ns;
    bool proxy_full; /* --proxy had no room for it: say so if NOT_LEADER */
};

/* raftkv.Cluster calls waiting for their change to commit (or a transfer
 * to end). One membership change commits at a time, so a few suffice. */
#define CLUSTER_WAITS_MAX 8

struct cluster_wait
{
    struct transport_grpc_call *call; /* NULL: free */
    enum cmd_method method;
    raft_index index; /* the configuration entry (changes) */
    raft_term term;   /* the leader's term when it was proposed */
    raft_id target;   /* TransferLeader: the new leader */
    uint64_t started_ns;
};

struct options
{
    raft_id id;
    struct cmd_cluster cluster;
    const char *cluster_token;
    const char *data_dir;
    const char *listen;
    uint64_t tick_ms;
    uint64_t election_ticks;
    uint64_t heartbeat_ticks;
    uint64_t snapshot_entries;
    uint64_t snapshot_trailing;
    uint64_t request_timeout_ms;
    bool quiet;
    const char *metrics_addr; /* NULL: no metrics endpoint */
    const char *join;         /* --join ENDPOINTS; NULL: not joining */
    bool join_as_learner;
    struct cmd_tls_flags tls;
    bool clients_without_cert;
    /* Limits (docs/security.md). */
    struct cmd_gate_options gate;
    uint64_t max_streams;
    uint64_t idle_timeout_ms;
    uint64_t handshake_timeout_ms;
    uint64_t max_waiting;
    uint64_t max_waiting_per_ip;
    uint64_t max_unread_mb;
    uint64_t max_unread_mb_per_ip;
    uint64_t grpc_memory_mb;
    /* --proxy: forward what a follower would redirect (cmd/proxy.c). */
    bool proxy;
    uint64_t proxy_max_calls;
};

struct server
{
    struct options o;
    int lock_fd;
    struct storage_fs *fs;
    struct storage *disk;
    struct transport_grpc_tls tls; /* empty with --insecure */
    bool secure;
    struct transport_grpc *grpc;
    struct kv_node *node;
    struct proxy *proxy;  /* --proxy; NULL: off */
    uint64_t cluster_id;  /* from DIR/IDENTITY: stamped on peer batches */
    unsigned promote_lag; /* the core's promotion distance, for messages */
    struct pending pending[PENDING_MAX];
    uint32_t free_slots[PENDING_MAX];
    struct cluster_wait cluster_waits[CLUSTER_WAITS_MAX];
    /* --join: the calls to the cluster and the promoter thread, and the
     * configuration the cluster had when this node asked to join. */
    struct join join;
    struct cmd_members join_members;
    /* The peers given to the transport and their addresses, kept in step
     * with the configuration in force (peers_sync). */
    struct cmd_cluster peers;
    size_t n_free;
    uint64_t next_gen;
    /* Refusals last logged (the gate's and the transport's), to log what
     * changed at most once a second. */
    struct cmd_gate_stats gate_logged;
    uint64_t calls_refused_logged;
    uint64_t answers_cancelled_logged;
    /* --metrics-addr: the endpoint, what this thread measures (only it
     * touches stats), and when it next publishes and scans the disk. */
    struct server_metrics *metrics;
    struct server_stats stats;
    uint64_t next_publish;
    uint64_t next_disk_scan;
    /* Last logged view, to log changes only. */
    enum raft_role role;
    raft_id leader;
    bool stop;
    int exit_code;
};

static void usage(FILE *f)
{
    fprintf(f,
            "%s\n"
            "Runs node N of a raft-kv cluster: the Raft peer service and the\n"
            "client service raftkv.KV on the node's address, with durable\n"
            "storage in DIR. SIGTERM or SIGINT stops it cleanly.\n"
            "\n"
            "  --id N                this node's id, one of the cluster's\n"
            "  --cluster SPEC        every node: 1=127.0.0.1:7001,2=...; "
            "bootstraps\n"
            "                        a new cluster (not needed once DIR "
            "has an\n"
            "                        IDENTITY)\n"
            "  --join ENDPOINTS      join the running cluster these nodes "
            "belong to:\n"
            "                        added as a learner, sent the log (or a\n"
            "                        snapshot), promoted to voter once caught "
            "up;\n"
            "                        needs --listen and an empty --data-dir\n"
            "  --join-as-learner     with --join: stay a learner (the "
            "operator\n"
            "                        promotes it: raftkv-cli member "
            "promote N)\n"
            "  --data-dir DIR        the write-ahead log and snapshots\n"
            "                        (created if missing; one server at a "
            "time);\n"
            "                        DIR/IDENTITY records the node and its\n"
            "                        cluster, checked at every start\n"
            "  --cluster-token WORD  part of a new cluster's id, so that two\n"
            "                        clusters with the same map differ\n"
            "                        (default raftkv)\n"
            "  --listen HOST:PORT    bind here instead of the cluster's\n"
            "                        address for N (e.g. 0.0.0.0:7001)\n"
            "  --tick-ms MS          Raft tick (default 20)\n"
            "  --election-ticks N    election timeout, N to 2N ticks "
            "(default 15)\n"
            "  --heartbeat-ticks N   leader heartbeat period (default 3)\n"
            "  --snapshot-entries N  snapshot every N applied entries\n"
            "                        (default 10000; 0: never)\n"
            "  --snapshot-trailing N entries kept behind a snapshot "
            "(default 1000)\n"
            "  --request-timeout S   answer DEADLINE_EXCEEDED after S "
            "seconds\n"
            "                        without the node's answer (default "
            "10)\n"
            "  --metrics-addr HOST:PORT\n"
            "                        serve /metrics (Prometheus), /healthz\n"
            "                        and /readyz over plain HTTP here; no\n"
            "                        authentication: bind it to 127.0.0.1\n"
            "                        (docs/metrics.md, docs/security.md)\n"
            "  --proxy               a follower forwards client requests to "
            "the\n"
            "                        leader and relays its answers, instead "
            "of\n"
            "                        answering NOT_LEADER (Status and "
            "raftkv.Cluster\n"
            "                        are not forwarded; docs/api.md)\n"
            "  --proxy-max-calls N   forwarded calls in flight; beyond, "
            "NOT_LEADER\n"
            "                        as without --proxy (default 256)\n"
            "  --quiet               log errors only\n"
            "%s"
            "  --max-connections N   open connections (default 1024)\n"
            "  --max-connections-per-ip N\n"
            "                        from one address (default 256)\n"
            "  --connection-rate-per-ip N\n"
            "                        new ones a second from one address\n"
            "                        (default 200)\n"
            "  --max-streams N       concurrent calls per connection "
            "(default 100)\n"
            "  --idle-timeout S      close connections idle this long "
            "(default 300)\n"
            "  --handshake-timeout S close connections still in their\n"
            "                        handshake after S seconds (default 10)\n"
            "  --max-waiting N       client calls waiting for the node "
            "(default 4096)\n"
            "  --max-waiting-per-ip N\n"
            "                        of them from one address (default "
            "1024)\n"
            "  --max-unread-mb N     answers sent but not yet read by "
            "clients\n"
            "                        (default 128)\n"
            "  --max-unread-mb-per-ip N\n"
            "                        of them to one address (default 32)\n"
            "  --grpc-memory-mb N    gRPC's own buffers (default 256)\n"
            "  --allow-clients-without-cert\n"
            "                        TLS clients need no certificate for "
            "the KV\n"
            "                        service (peers always need theirs)\n"
            "\n"
            "Exit codes: 0 stopped by a signal, 1 the node failed while\n"
            "running, 2 bad flags or unusable data directory, 3 the address\n"
            "cannot be bound.\n",
            SYNOPSIS, cmd_tls_usage);
}

static void vlog(const struct server *sv, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vlog(const struct server *sv, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld raftkv-server %llu: %s\n", tm.tm_hour,
            tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
            (unsigned long long)sv->o.id, msg);
}

/* Always logged: errors and lifecycle. */
static void logf_err(const struct server *sv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_err(const struct server *sv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(sv, fmt, ap);
    va_end(ap);
}

/* Logged unless --quiet: role changes and peers. */
static void logf_info(const struct server *sv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_info(const struct server *sv, const char *fmt, ...)
{
    if (sv->o.quiet) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vlog(sv, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Waiting client calls                                                      */
/* ------------------------------------------------------------------------ */

static int pending_add(struct server *sv,
                       struct transport_grpc_call *call,
                       enum cmd_method method,
                       uint64_t *token)
{
    if (sv->n_free == 0) {
        return COMMON_EBUSY;
    }
    uint32_t idx = sv->free_slots[--sv->n_free];
    struct pending *p = &sv->pending[idx];
    p->gen = ++sv->next_gen;
    p->call = call;
    p->method = method;
    p->started_ns = common_now_ns();
    p->proxy_full = false;
    *token = (p->gen << PENDING_BITS) | idx;
    return 0;
}

static struct pending *pending_find(struct server *sv, uint64_t token)
{
    struct pending *p = &sv->pending[token & (PENDING_MAX - 1)];
    return p->gen != 0 && p->gen == token >> PENDING_BITS ? p : NULL;
}

static void pending_done(struct server *sv, struct pending *p)
{
    p->gen = 0;
    p->call = NULL;
    sv->free_slots[sv->n_free++] = (uint32_t)(p - sv->pending);
}

/* Answers every waiting call that is older than the request timeout
 * (@all: every one) with @status. */
static void pending_expire(struct server *sv,
                           bool all,
                           int status,
                           const char *message)
{
    if (sv->n_free == PENDING_MAX) {
        return;
    }
    uint64_t now = common_now_ns();
    uint64_t limit = sv->o.request_timeout_ms * COMMON_NS_PER_MS;
    for (size_t k = 0; k < PENDING_MAX; k++) {
        struct pending *p = &sv->pending[k];
        if (p->gen != 0 && (all || now - p->started_ns > limit)) {
            server_stats_reply(&sv->stats, p->method,
                               status == TRANSPORT_GRPC_DEADLINE_EXCEEDED
                                   ? SERVER_GRPC_DEADLINE_EXCEEDED
                                   : SERVER_GRPC_UNAVAILABLE,
                               p->started_ns);
            transport_grpc_reply(p->call, status, message, NULL, 0);
            pending_done(sv, p);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The node's callbacks                                                      */
/* ------------------------------------------------------------------------ */

/* Member @id's address: the configuration's, else the --cluster map's;
 * NULL when neither knows it. */
static const char *member_address(const struct server *sv,
                                  raft_id id,
                                  char *buf,
                                  size_t len)
{
    if (sv->node == NULL) {
        return cmd_cluster_address(&sv->o.cluster, id);
    }
    return cmd_member_address(kv_node_raft(sv->node), &sv->o.cluster, id, buf,
                              len);
}

static const char *reply_message(const struct server *sv,
                                 const struct kv_response *r,
                                 bool proxy_full,
                                 char *buf,
                                 size_t len)
{
    switch (r->status) {
        case KV_NOT_LEADER:
            if (r->leader != 0) {
                char at[CMD_ADDRESS_MAX];
                const char *addr = member_address(sv, r->leader, at, sizeof at);
                snprintf(buf, len, "not the leader; node %llu leads (%s)",
                         (unsigned long long)r->leader,
                         addr != NULL ? addr : "address unknown");
            } else {
                snprintf(buf, len,
                         "not the leader; no leader known (an election is "
                         "in progress)");
            }
            if (proxy_full && sv->proxy != NULL) {
                size_t used = strlen(buf);
                snprintf(buf + used, len - used,
                         "; not forwarded: %u calls are forwarded already, "
                         "the --proxy-max-calls limit",
                         proxy_inflight(sv->proxy));
            }
            return buf;
        case KV_RETRY:
            return "the outcome is unknown (leadership changed): retry "
                   "with the same client_id and seq";
        case KV_INVALID:
            return "the node refused the request (too large for one log "
                   "entry?)";
        case KV_UNAVAILABLE:
            return "the node cannot serve (its storage failed)";
        case KV_EXPIRED:
            return "the client's session expired (idle too long): use a new "
                   "client_id";
        default:
            return NULL;
    }
}

static void on_reply(void *data, const struct kv_response *r)
{
    struct server *sv = data;
    struct pending *p = pending_find(sv, r->token);
    if (p == NULL) {
        return; /* answered already: timed out, or shutting down */
    }
    if (!transport_grpc_reply_room(p->call, r->value.len)) {
        /* A large read its caller has no room for: refused before the
         * value is copied into an answer. */
        server_stats_reply(&sv->stats, p->method,
                           SERVER_GRPC_RESOURCE_EXHAUSTED, p->started_ns);
        pending_done(sv, p);
        return;
    }
    char msg[CMD_ADDRESS_MAX + 160];
    char leader_at[CMD_ADDRESS_MAX];
    struct cmd_reply_info info = {
        .term = raft_current_term(kv_node_raft(sv->node)),
        .leader_address =
            member_address(sv, r->leader, leader_at, sizeof leader_at),
        .message = reply_message(sv, r, p->proxy_full, msg, sizeof msg),
    };
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmd_response_encode(p->method, r, &info, &buf, &len) != 0) {
        server_stats_reply(&sv->stats, p->method,
                           SERVER_GRPC_RESOURCE_EXHAUSTED, p->started_ns);
        transport_grpc_reply(p->call, TRANSPORT_GRPC_RESOURCE_EXHAUSTED,
                             "out of memory", NULL, 0);
    } else {
        /* enum server_code lists the KV codes in kv_status's order. */
        server_stats_reply(&sv->stats, p->method, (enum server_code)r->status,
                           p->started_ns);
        transport_grpc_reply(p->call, TRANSPORT_GRPC_OK, NULL, buf, len);
    }
    free(buf);
    pending_done(sv, p);
}

static void on_observe(void *data,
                       struct kv_node *node,
                       const struct raft_update *u)
{
    struct server *sv = data;
    if (u->role == sv->role && u->leader == sv->leader) {
        return;
    }
    if (u->leader != 0 && u->leader != sv->leader) {
        sv->stats.leader_changes++;
    }
    raft_term term = raft_current_term(kv_node_raft(node));
    if (u->role == RAFT_LEADER) {
        logf_info(sv, "leader of term %llu", (unsigned long long)term);
    } else if (u->role == RAFT_CANDIDATE && sv->role != RAFT_CANDIDATE) {
        logf_info(sv, "candidate in term %llu", (unsigned long long)term);
    } else if (u->role == RAFT_FOLLOWER && u->leader != 0) {
        char at[CMD_ADDRESS_MAX];
        const char *addr = member_address(sv, u->leader, at, sizeof at);
        logf_info(sv, "follower of node %llu (%s) in term %llu",
                  (unsigned long long)u->leader, addr != NULL ? addr : "?",
                  (unsigned long long)term);
    } else if (sv->role == RAFT_LEADER) {
        logf_info(sv, "no longer leader (term %llu)", (unsigned long long)term);
    }
    sv->role = u->role;
    sv->leader = u->leader;
}

static void on_failed(void *data, struct kv_node *node, const char *why)
{
    (void)node;
    struct server *sv = data;
    logf_err(sv, "stopped serving: %s", why);
    sv->stop = true;
    sv->exit_code = COMMON_EXIT_FAILED;
}

/* ------------------------------------------------------------------------ */
/* The transport's callbacks (on this thread, inside transport_grpc_poll)  */
/* ------------------------------------------------------------------------ */

static void on_deliver(void *data, struct transport_msg *msg)
{
    struct server *sv = data;
    if (sv->node != NULL) {
        kv_node_receive(sv->node, &msg->m);
    }
    free(msg);
}

static void on_transport_log(void *data,
                             enum common_log_level level,
                             const char *msg)
{
    /* Peers and refused batches, rate-limited by the transport: logged
     * unless --quiet, whatever their level. */
    (void)level;
    logf_info(data, "%s", msg);
}

static void on_peer_rtt(void *data, raft_id peer, uint64_t ns)
{
    struct server *sv = data;
    server_stats_peer_rtt(&sv->stats, peer, ns);
}

static void reply_status(struct server *sv, struct transport_grpc_call *call)
{
    const struct raft *r = kv_node_raft(sv->node);
    const struct kv_sm *sm = kv_node_sm(sv->node);
    struct kv_node_stats ks;
    kv_node_stats(sv->node, &ks);
    struct cmd_status st;
    memset(&st, 0, sizeof st);
    st.id = sv->o.id;
    snprintf(st.role, sizeof st.role, "%s", raft_role_name((int)raft_role(r)));
    st.term = raft_current_term(r);
    st.leader_id = raft_leader(r);
    char at[CMD_ADDRESS_MAX];
    const char *addr = member_address(sv, st.leader_id, at, sizeof at);
    snprintf(st.leader_address, sizeof st.leader_address, "%s",
             addr != NULL ? addr : "");
    st.commit = raft_commit_index(r);
    st.applied = raft_applied_index(r);
    st.last = raft_last_index(r);
    st.digest = kv_sm_digest(sm);
    st.keys = kv_sm_keys(sm);
    st.snapshot_index = ks.snapshot_index;
    struct raft_stats rs;
    raft_get_stats(r, &rs);
    st.follower_lost_entries = rs.follower_lost_entries;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmd_status_encode(&st, &buf, &len) != 0) {
        transport_grpc_reply(call, TRANSPORT_GRPC_RESOURCE_EXHAUSTED,
                             "out of memory", NULL, 0);
        return;
    }
    transport_grpc_reply(call, TRANSPORT_GRPC_OK, NULL, buf, len);
    free(buf);
}

/* Answers @call at once with a gRPC error, counted under @code. */
static void refuse(struct server *sv,
                   struct transport_grpc_call *call,
                   unsigned method,
                   enum server_code code,
                   const char *message)
{
    int status = code == SERVER_GRPC_UNAVAILABLE ? TRANSPORT_GRPC_UNAVAILABLE
                 : code == SERVER_GRPC_INVALID_ARGUMENT
                     ? TRANSPORT_GRPC_INVALID_ARGUMENT
                     : TRANSPORT_GRPC_RESOURCE_EXHAUSTED;
    server_stats_reply(&sv->stats, (enum cmd_method)method, code,
                       common_now_ns());
    transport_grpc_reply(call, status, message, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* The membership service raftkv.Cluster                                     */
/* ------------------------------------------------------------------------ */

static enum server_code grpc_code(int status)
{
    switch (status) {
        case TRANSPORT_GRPC_INVALID_ARGUMENT:
            return SERVER_GRPC_INVALID_ARGUMENT;
        case TRANSPORT_GRPC_NOT_FOUND:
            return SERVER_GRPC_NOT_FOUND;
        case TRANSPORT_GRPC_ALREADY_EXISTS:
            return SERVER_GRPC_ALREADY_EXISTS;
        case TRANSPORT_GRPC_FAILED_PRECONDITION:
            return SERVER_GRPC_FAILED_PRECONDITION;
        case TRANSPORT_GRPC_ABORTED:
            return SERVER_GRPC_ABORTED;
        case TRANSPORT_GRPC_DEADLINE_EXCEEDED:
            return SERVER_GRPC_DEADLINE_EXCEEDED;
        case TRANSPORT_GRPC_UNAVAILABLE:
            return SERVER_GRPC_UNAVAILABLE;
        default:
            return SERVER_GRPC_RESOURCE_EXHAUSTED;
    }
}

/* An answer the follower proxy gave a client, counted as the node's own. */
static void on_proxied(void *data,
                       enum cmd_method method,
                       int status,
                       enum kv_status code,
                       uint64_t started_ns)
{
    struct server *sv = data;
    server_stats_reply(&sv->stats, method,
                       status == TRANSPORT_GRPC_OK ? (enum server_code)code
                                                   : grpc_code(status),
                       started_ns);
}

/* --proxy: forwards @call to the leader when this node knows one and is
 * not it, and the call was not forwarded to it already (a node never
 * forwards twice: no loops while leadership moves). True when the proxy
 * answers it; *@full when it had no room. */
static bool proxy_try(struct server *sv,
                      struct transport_grpc_call *call,
                      enum cmd_method method,
                      const void *req,
                      size_t len,
                      bool *full)
{
    const struct raft *r = kv_node_raft(sv->node);
    raft_id leader = raft_leader(r);
    *full = false;
    if (sv->proxy == NULL || raft_role(r) == RAFT_LEADER || leader == 0 ||
        leader == sv->o.id || transport_grpc_call_proxied(call)) {
        return false;
    }
    int rv = proxy_forward(sv->proxy, call, method, leader, req, len);
    *full = rv == COMMON_EBUSY;
    return rv == 0;
}

static void cluster_refuse(struct server *sv,
                           struct transport_grpc_call *call,
                           enum cmd_method method,
                           int status,
                           const char *why,
                           uint64_t started_ns)
{
    server_stats_reply(&sv->stats, method, grpc_code(status), started_ns);
    transport_grpc_reply(call, status, why, NULL, 0);
}

/* Answers @call with the configuration in force, under @code: KV_OK, or
 * KV_NOT_LEADER with the leader's id and address (a redirect). */
static void cluster_answer(struct server *sv,
                           struct transport_grpc_call *call,
                           enum cmd_method method,
                           enum kv_status code,
                           uint64_t started_ns)
{
    struct cmd_members m;
    cmd_members_of(kv_node_raft(sv->node), &sv->o.cluster, &m);
    m.code = code;
    m.cluster_id = sv->cluster_id;
    if (code == KV_NOT_LEADER && m.leader_id != 0) {
        snprintf(
            m.message, sizeof m.message,
            "not the leader; node %llu leads (%.200s)",
            (unsigned long long)m.leader_id,
            m.leader_address[0] != '\0' ? m.leader_address : "address unknown");
    } else if (code == KV_NOT_LEADER) {
        snprintf(m.message, sizeof m.message,
                 "not the leader; no leader known (an election is in "
                 "progress)");
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmd_members_encode(&m, &buf, &len) != 0) {
        cluster_refuse(sv, call, method, TRANSPORT_GRPC_RESOURCE_EXHAUSTED,
                       "out of memory", started_ns);
        return;
    }
    server_stats_reply(&sv->stats, method, (enum server_code)code, started_ns);
    transport_grpc_reply(call, TRANSPORT_GRPC_OK, NULL, buf, len);
    free(buf);
}

/* Why the leader refused a change or a transfer (@rv from the core), as a
 * gRPC status and a message. */
static int cluster_why(const struct server *sv,
                       const struct cmd_cluster_request *rq,
                       int rv,
                       char *why,
                       size_t why_len)
{
    const struct raft *r = kv_node_raft(sv->node);
    unsigned long long id = (unsigned long long)rq->id;
    switch (rv) {
        case COMMON_EBUSY:
            if (raft_transferee(r) != 0) {
                snprintf(why, why_len,
                         "a leadership transfer to node %llu is under way; "
                         "retry once it ends",
                         (unsigned long long)raft_transferee(r));
            } else if (raft_config_index(r) > raft_commit_index(r)) {
                snprintf(why, why_len,
                         "a membership change is already in progress (its "
                         "configuration entry at index %llu is not yet "
                         "committed); retry once it commits",
                         (unsigned long long)raft_config_index(r));
            } else {
                snprintf(why, why_len,
                         "this leader has not yet committed an entry of its "
                         "term (it was just elected); retry shortly");
            }
            return TRANSPORT_GRPC_ABORTED;
        case COMMON_ERANGE: {
            raft_index match = 0;
            raft_index next = 0;
            raft_progress(r, rq->id, &match, &next);
            snprintf(why, why_len,
                     "node %llu is behind: it holds the log up to index %llu "
                     "and the leader's ends at %llu; a learner is promoted "
                     "only within %u entries (it is catching up: retry "
                     "later)",
                     id, (unsigned long long)match,
                     (unsigned long long)raft_last_index(r), sv->promote_lag);
            return TRANSPORT_GRPC_FAILED_PRECONDITION;
        }
        case COMMON_EINVAL:
            if (rq->method == CMD_TRANSFER_LEADER &&
                raft_configuration_find(raft_config(r), rq->id) < 0) {
                snprintf(why, why_len, "node %llu is not a member", id);
                return TRANSPORT_GRPC_NOT_FOUND;
            }
            snprintf(why, why_len,
                     rq->method == CMD_TRANSFER_LEADER
                         ? "node %llu is a learner: only a voter can lead"
                         : "node %llu: not a single-server change",
                     id);
            return TRANSPORT_GRPC_FAILED_PRECONDITION;
        case COMMON_EUNAVAILABLE:
            snprintf(why, why_len,
                     "the node cannot serve (its storage "
                     "failed)");
            return TRANSPORT_GRPC_UNAVAILABLE;
        default:
            snprintf(why, why_len, "%s", common_strerror(rv));
            return TRANSPORT_GRPC_RESOURCE_EXHAUSTED;
    }
}

static void cluster_call(struct server *sv,
                         struct transport_grpc_call *call,
                         enum cmd_method method,
                         const void *req,
                         size_t len)
{
    uint64_t now = common_now_ns();
    char why[512];
    struct cmd_cluster_request rq;
    if (cmd_cluster_request_decode(method, req, len, &rq, why, sizeof why) !=
        0) {
        cluster_refuse(sv, call, method, TRANSPORT_GRPC_INVALID_ARGUMENT, why,
                       now);
        return;
    }
    const struct raft *r = kv_node_raft(sv->node);
    if (raft_role(r) != RAFT_LEADER) {
        cluster_answer(sv, call, method, KV_NOT_LEADER, now);
        return;
    }
    if (method == CMD_MEMBER_LIST ||
        (method == CMD_TRANSFER_LEADER && rq.id == sv->o.id)) {
        cluster_answer(sv, call, method, KV_OK, now);
        return;
    }
    struct cluster_wait *w = NULL;
    for (size_t k = 0; k < CLUSTER_WAITS_MAX && w == NULL; k++) {
        w = sv->cluster_waits[k].call == NULL ? &sv->cluster_waits[k] : NULL;
    }
    if (w == NULL) {
        cluster_refuse(sv, call, method, TRANSPORT_GRPC_RESOURCE_EXHAUSTED,
                       "too many membership calls waiting; retry later", now);
        return;
    }
    int rv = 0;
    raft_index index = 0;
    if (method == CMD_TRANSFER_LEADER) {
        rv = kv_node_transfer_leader(sv->node, rq.id);
    } else {
        struct raft_configuration next;
        uint8_t table[RAFT_ADDRESSES_MAX];
        int st = cmd_members_change(raft_config(r), &rq, &sv->o.cluster, &next,
                                    table, why, sizeof why);
        if (st != 0) {
            cluster_refuse(sv, call, method, st, why, now);
            return;
        }
        rv = kv_node_propose_conf(sv->node, &next, &index);
    }
    if (rv != 0) {
        int st = cluster_why(sv, &rq, rv, why, sizeof why);
        cluster_refuse(sv, call, method, st, why, now);
        return;
    }
    logf_info(sv, "%s node %llu: %s", cmd_method_paths[method] + 16,
              (unsigned long long)rq.id,
              method == CMD_TRANSFER_LEADER ? "transfer started"
                                            : "configuration entry proposed");
    w->call = call;
    w->method = method;
    w->index = index;
    w->term = raft_current_term(r);
    w->target = rq.id;
    w->started_ns = now;
}

/* Answers the Cluster calls whose change committed, whose transfer ended,
 * or whose leader lost its term first (then the outcome is unknown). */
static void cluster_progress(struct server *sv)
{
    const struct raft *r = kv_node_raft(sv->node);
    for (size_t k = 0; k < CLUSTER_WAITS_MAX; k++) {
        struct cluster_wait *w = &sv->cluster_waits[k];
        if (w->call == NULL) {
            continue;
        }
        char why[256];
        int status = TRANSPORT_GRPC_OK;
        bool done = false;
        if (w->method == CMD_TRANSFER_LEADER) {
            if (raft_leader(r) == w->target) {
                done = true;
            } else if (raft_role(r) == RAFT_LEADER && raft_transferee(r) == 0) {
                status = TRANSPORT_GRPC_ABORTED;
                snprintf(why, sizeof why,
                         "node %llu did not take over within an election "
                         "timeout; this node leads on",
                         (unsigned long long)w->target);
            } else if (raft_role(r) != RAFT_LEADER && raft_leader(r) != 0) {
                status = TRANSPORT_GRPC_UNAVAILABLE;
                snprintf(why, sizeof why, "node %llu leads instead of %llu",
                         (unsigned long long)raft_leader(r),
                         (unsigned long long)w->target);
            }
        } else if (raft_current_term(r) == w->term &&
                   raft_commit_index(r) >= w->index) {
            /* Still the term it was proposed in: the entry at w->index is
             * that change (no other leader writes in this term). */
            done = true;
        } else if (raft_current_term(r) != w->term) {
            status = TRANSPORT_GRPC_UNAVAILABLE;
            snprintf(why, sizeof why,
                     "leadership changed before the change committed: it "
                     "may or may not take effect (see MemberList)");
        }
        if (done) {
            cluster_answer(sv, w->call, w->method, KV_OK, w->started_ns);
        } else if (status != TRANSPORT_GRPC_OK) {
            cluster_refuse(sv, w->call, w->method, status, why, w->started_ns);
        } else {
            continue;
        }
        w->call = NULL;
    }
}

/* Answers every waiting Cluster call older than the request timeout (@all:
 * every one) with @status. */
static void cluster_expire(struct server *sv,
                           bool all,
                           int status,
                           const char *message)
{
    uint64_t now = common_now_ns();
    uint64_t limit = sv->o.request_timeout_ms * COMMON_NS_PER_MS;
    for (size_t k = 0; k < CLUSTER_WAITS_MAX; k++) {
        struct cluster_wait *w = &sv->cluster_waits[k];
        if (w->call != NULL && (all || now - w->started_ns > limit)) {
            cluster_refuse(sv, w->call, w->method, status, message,
                           w->started_ns);
            w->call = NULL;
        }
    }
}

/* Gives the transport every member of the configuration in force whose
 * address it does not know yet (members added, or moved), so that the
 * leader reaches new members and every node knows where the leader is. */
static void peers_sync(struct server *sv)
{
    const struct raft *r = kv_node_raft(sv->node);
    const struct raft_configuration *c = raft_config(r);
    for (uint32_t k = 0; k < c->count; k++) {
        raft_id id = c->servers[k].id;
        char at[CMD_ADDRESS_MAX];
        const char *a =
            cmd_member_address(r, &sv->o.cluster, id, at, sizeof at);
        const char *known = cmd_cluster_address(&sv->peers, id);
        if (id == sv->o.id || a == NULL ||
            (known != NULL && strcmp(known, a) == 0)) {
            continue;
        }
        struct cmd_member *m = NULL;
        for (size_t j = 0; j < sv->peers.n && m == NULL; j++) {
            m = sv->peers.members[j].id == id ? &sv->peers.members[j] : NULL;
        }
        if (m == NULL && sv->peers.n == RAFT_MAX_SERVERS) {
            logf_err(sv, "cannot reach node %llu at %s: %d peers known already",
                     (unsigned long long)id, a, RAFT_MAX_SERVERS);
            continue;
        }
        if (transport_grpc_set_peer(sv->grpc, id, a) != 0) {
            continue; /* out of memory: tried again after the next event */
        }
        if (m == NULL) {
            m = &sv->peers.members[sv->peers.n++];
            m->id = id;
        }
        snprintf(m->address, sizeof m->address, "%s", a);
        logf_info(sv, "peer %llu at %s (from the configuration)",
                  (unsigned long long)id, a);
    }
}

static void on_call(void *data,
                    struct transport_grpc_call *call,
                    unsigned method,
                    const void *req,
                    size_t len)
{
    struct server *sv = data;
    char why[256];
    if (sv->node == NULL || sv->stop) {
        refuse(sv, call, method, SERVER_GRPC_UNAVAILABLE,
               "the node is shutting down");
        return;
    }
    if (method == CMD_STATUS) {
        if (!cmd_status_request_valid(req, len)) {
            refuse(sv, call, method, SERVER_GRPC_INVALID_ARGUMENT,
                   "not a raftkv.StatusRequest");
            return;
        }
        server_stats_reply(&sv->stats, CMD_STATUS, SERVER_CODE_OK,
                           common_now_ns());
        reply_status(sv, call);
        return;
    }
    if (method >= CMD_CLUSTER_FIRST && method < CMD_METHODS) {
        if (len > CMD_REQUEST_BYTES_MAX) {
            refuse(sv, call, method, SERVER_GRPC_RESOURCE_EXHAUSTED,
                   "a request too large for raftkv.Cluster");
            return;
        }
        cluster_call(sv, call, (enum cmd_method)method, req, len);
        return;
    }
    if (len > CMD_REQUEST_BYTES_MAX) {
        snprintf(why, sizeof why,
                 "a request of %zu bytes; the largest taken is %u", len,
                 CMD_REQUEST_BYTES_MAX);
        refuse(sv, call, method, SERVER_GRPC_RESOURCE_EXHAUSTED, why);
        return;
    }
    struct cmd_request r;
    if (cmd_request_decode((enum cmd_method)method, req, len, &r, why,
                           sizeof why) != 0) {
        refuse(sv, call, method, SERVER_GRPC_INVALID_ARGUMENT, why);
        return;
    }
    bool proxy_full = false;
    if (proxy_try(sv, call, (enum cmd_method)method, req, len, &proxy_full)) {
        cmd_request_free(&r);
        return;
    }
    if (pending_add(sv, call, (enum cmd_method)method, &r.req.token) != 0) {
        refuse(sv, call, method, SERVER_GRPC_RESOURCE_EXHAUSTED,
               "too many requests waiting; retry later");
        cmd_request_free(&r);
        return;
    }
    pending_find(sv, r.req.token)->proxy_full = proxy_full;
    /* May answer at once (not leader): on_reply finds the call. */
    kv_node_request(sv->node, &r.req);
    cmd_request_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Start-up                                                                  */
/* ------------------------------------------------------------------------ */

static int flag_u64(const char *name,
                    const char *v,
                    uint64_t min,
                    uint64_t max,
                    uint64_t *out)
{
    if (common_parse_u64(v, min, max, out) != 0) {
        fprintf(stderr,
                "raftkv-server: %s needs an integer from %llu to %llu\n", name,
                (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    return 0;
}

/* The flags of --join: ENDPOINTS to ask, --listen as this node's address
 * (what the configuration records: a port, not 0), no --cluster (which
 * bootstraps a new cluster). -1 after printing why. */
static int join_flags(struct options *o, const char *cluster)
{
    if (o->join == NULL) {
        fprintf(stderr, "raftkv-server: --join-as-learner goes with --join\n");
        return -1;
    }
    if (cluster != NULL) {
        fprintf(stderr,
                "raftkv-server: --join and --cluster exclude each other: "
                "--cluster bootstraps a new cluster, --join joins a running "
                "one\n");
        return -1;
    }
    if (o->listen == NULL || !cmd_address_valid(o->listen, false)) {
        fprintf(stderr,
                "raftkv-server: --join needs --listen HOST:PORT: the "
                "address the cluster records for this node (a port, not "
                "0)\n");
        return -1;
    }
    if (strlen(o->listen) > RAFT_ADDRESS_MAX) {
        fprintf(stderr, "raftkv-server: --listen: longer than %d bytes\n",
                RAFT_ADDRESS_MAX);
        return -1;
    }
    return 0;
}

/* Fills @o from the command line; returns -1 after printing why (exit 2),
 * 1 for --help. */

/* Every flag, for getopt_long ("--flag VALUE" or "--flag=VALUE"); the
 * parser below tells them apart by name. */
static const struct option server_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"quiet", no_argument, NULL, 0},
    {"proxy", no_argument, NULL, 0},
    {"proxy-max-calls", required_argument, NULL, 0},
    {"allow-clients-without-cert", no_argument, NULL, 0},
    {"insecure", no_argument, NULL, 0},
    {"tls-cert", required_argument, NULL, 0},
    {"tls-key", required_argument, NULL, 0},
    {"tls-ca", required_argument, NULL, 0},
    {"id", required_argument, NULL, 0},
    {"cluster", required_argument, NULL, 0},
    {"data-dir", required_argument, NULL, 0},
    {"cluster-token", required_argument, NULL, 0},
    {"listen", required_argument, NULL, 0},
    {"tick-ms", required_argument, NULL, 0},
    {"election-ticks", required_argument, NULL, 0},
    {"heartbeat-ticks", required_argument, NULL, 0},
    {"snapshot-entries", required_argument, NULL, 0},
    {"snapshot-trailing", required_argument, NULL, 0},
    {"max-connections", required_argument, NULL, 0},
    {"max-connections-per-ip", required_argument, NULL, 0},
    {"connection-rate-per-ip", required_argument, NULL, 0},
    {"max-streams", required_argument, NULL, 0},
    {"max-waiting", required_argument, NULL, 0},
    {"max-waiting-per-ip", required_argument, NULL, 0},
    {"max-unread-mb", required_argument, NULL, 0},
    {"max-unread-mb-per-ip", required_argument, NULL, 0},
    {"grpc-memory-mb", required_argument, NULL, 0},
    {"idle-timeout", required_argument, NULL, 0},
    {"handshake-timeout", required_argument, NULL, 0},
    {"request-timeout", required_argument, NULL, 0},
    {"metrics-addr", required_argument, NULL, 0},
    {"join", required_argument, NULL, 0},
    {"join-as-learner", no_argument, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int parse_flags(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->tick_ms = 20;
    o->cluster_token = "raftkv";
    o->election_ticks = 15;
    o->heartbeat_ticks = 3;
    o->snapshot_entries = 10000;
    o->snapshot_trailing = 1000;
    o->request_timeout_ms = 10000;
    cmd_gate_options_default(&o->gate);
    o->max_streams = 100;
    o->idle_timeout_ms = 300000;
    o->handshake_timeout_ms = 10000;
    o->max_waiting = PENDING_MAX;
    o->max_waiting_per_ip = 1024;
    o->max_unread_mb = 128;
    o->max_unread_mb_per_ip = 32;
    o->grpc_memory_mb = 256;
    o->proxy_max_calls = 256;
    uint64_t u = 0;
    const char *cluster = NULL;
    bool have_id = false;
    opterr = 0; /* the messages below say more */
    optind = 1;
    int ch;
    int idx = 0;
    while ((ch = getopt_long(argc, argv, ":h", server_options, &idx)) != -1) {
        if (ch == 'h') {
            return 1;
        } else if (ch == ':') {
            fprintf(stderr, "raftkv-server: missing a value after %s\n",
                    argv[optind - 1]);
            return -1;
        } else if (ch == '?') {
            fprintf(stderr, "raftkv-server: unknown option %s\n",
                    argv[optind - 1]);
            return -1;
        }
        char a[64];
        snprintf(a, sizeof a, "--%s", server_options[idx].name);
        const char *v = optarg;
        int rv = 0;
        int took = cmd_tls_flag(PROGRAM, a, v, &o->tls);
        if (took < 0) {
            return -1;
        } else if (took > 0) {
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "--proxy") == 0) {
            o->proxy = true;
        } else if (strcmp(a, "--proxy-max-calls") == 0) {
            rv = flag_u64(a, v, 1, PENDING_MAX, &o->proxy_max_calls);
        } else if (strcmp(a, "--join") == 0) {
            o->join = v;
        } else if (strcmp(a, "--join-as-learner") == 0) {
            o->join_as_learner = true;
        } else if (strcmp(a, "--allow-clients-without-cert") == 0) {
            o->clients_without_cert = true;
        } else if (strcmp(a, "--id") == 0) {
            rv = flag_u64(a, v, 1, UINT64_MAX, &o->id);
            have_id = true;
        } else if (strcmp(a, "--cluster") == 0) {
            cluster = v;
        } else if (strcmp(a, "--data-dir") == 0) {
            o->data_dir = v;
        } else if (strcmp(a, "--cluster-token") == 0) {
            o->cluster_token = v;
        } else if (strcmp(a, "--listen") == 0) {
            o->listen = v;
        } else if (strcmp(a, "--metrics-addr") == 0) {
            if (!cmd_address_valid(v, true)) {
                fprintf(stderr,
                        "raftkv-server: --metrics-addr: '%s' is not "
                        "HOST:PORT\n",
                        v);
                rv = -1;
            }
            o->metrics_addr = v;
        } else if (strcmp(a, "--tick-ms") == 0) {
            rv = flag_u64(a, v, 1, 1000, &o->tick_ms);
        } else if (strcmp(a, "--election-ticks") == 0) {
            rv = flag_u64(a, v, 2, 1000, &o->election_ticks);
        } else if (strcmp(a, "--heartbeat-ticks") == 0) {
            rv = flag_u64(a, v, 1, 999, &o->heartbeat_ticks);
        } else if (strcmp(a, "--snapshot-entries") == 0) {
            rv = flag_u64(a, v, 0, UINT32_MAX, &o->snapshot_entries);
        } else if (strcmp(a, "--snapshot-trailing") == 0) {
            rv = flag_u64(a, v, 0, UINT32_MAX, &o->snapshot_trailing);
        } else if (strcmp(a, "--max-connections") == 0) {
            rv = flag_u64(a, v, 1, 1000000, &u);
            o->gate.max_connections = (unsigned)u;
        } else if (strcmp(a, "--max-connections-per-ip") == 0) {
            rv = flag_u64(a, v, 1, 1000000, &u);
            o->gate.max_per_address = (unsigned)u;
        } else if (strcmp(a, "--connection-rate-per-ip") == 0) {
            rv = flag_u64(a, v, 1, 1000000, &u);
            o->gate.rate_per_address = (unsigned)u;
        } else if (strcmp(a, "--max-streams") == 0) {
            rv = flag_u64(a, v, 1, 100000, &o->max_streams);
        } else if (strcmp(a, "--max-waiting") == 0) {
            rv = flag_u64(a, v, 1, PENDING_MAX, &o->max_waiting);
        } else if (strcmp(a, "--max-waiting-per-ip") == 0) {
            rv = flag_u64(a, v, 1, PENDING_MAX, &o->max_waiting_per_ip);
        } else if (strcmp(a, "--max-unread-mb") == 0) {
            rv = flag_u64(a, v, 1, 65536, &o->max_unread_mb);
        } else if (strcmp(a, "--max-unread-mb-per-ip") == 0) {
            rv = flag_u64(a, v, 1, 65536, &o->max_unread_mb_per_ip);
        } else if (strcmp(a, "--grpc-memory-mb") == 0) {
            rv = flag_u64(a, v, 16, 65536, &o->grpc_memory_mb);
        } else if (strcmp(a, "--idle-timeout") == 0 ||
                   strcmp(a, "--handshake-timeout") == 0) {
            uint64_t *ms = strcmp(a, "--idle-timeout") == 0
                               ? &o->idle_timeout_ms
                               : &o->handshake_timeout_ms;
            if (cmd_parse_seconds_ms(v, 86400, ms) != 0) {
                fprintf(stderr,
                        "raftkv-server: %s needs seconds (> 0, at most "
                        "86400)\n",
                        a);
                rv = -1;
            }
        } else if (strcmp(a, "--request-timeout") == 0) {
            if (cmd_parse_seconds_ms(v, 3600, &o->request_timeout_ms) != 0) {
                fprintf(stderr,
                        "raftkv-server: --request-timeout needs seconds "
                        "(> 0, at most 3600)\n");
                rv = -1;
            }
        }
        if (rv != 0) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "raftkv-server: unexpected %s\n", argv[optind]);
        return -1;
    }
    if (!have_id || o->data_dir == NULL) {
        fprintf(stderr, "raftkv-server: --id and --data-dir are required\n");
        return -1;
    }
    if (o->data_dir[0] == '\0') {
        fprintf(stderr, "raftkv-server: --data-dir is empty\n");
        return -1;
    }
    if (o->join != NULL || o->join_as_learner) {
        if (join_flags(o, cluster) != 0) {
            return -1;
        }
    } else if (cluster == NULL) {
        /* A data directory that knows its cluster needs no map. */
        struct cmd_identity ident;
        bool found = false;
        char why[512];
        if (cmd_identity_read(o->data_dir, &ident, &found, why, sizeof why) !=
            0) {
            fprintf(stderr, "raftkv-server: %s\n", why);
            return -1;
        }
        if (!found) {
            fprintf(stderr,
                    "raftkv-server: --cluster is required to bootstrap (%s "
                    "has no IDENTITY yet), or --join to join a running "
                    "cluster\n",
                    o->data_dir);
            return -1;
        }
        o->cluster = ident.members;
    }
    size_t token_len = strlen(o->cluster_token);
    if (token_len == 0 || token_len > 64 ||
        strpbrk(o->cluster_token, " \t\r\n") != NULL) {
        fprintf(stderr,
                "raftkv-server: --cluster-token needs 1 to 64 characters "
                "without spaces\n");
        return -1;
    }
    char why[256];
    if (cluster != NULL &&
        cmd_cluster_parse(cluster, &o->cluster, why, sizeof why) != 0) {
        fprintf(stderr, "raftkv-server: --cluster: %s\n", why);
        return -1;
    }
    /* Joining, the map comes from the cluster (main). */
    const char *self =
        o->join != NULL ? o->listen : cmd_cluster_address(&o->cluster, o->id);
    if (self == NULL) {
        fprintf(stderr, "raftkv-server: node %llu is not in %s\n",
                (unsigned long long)o->id,
                cluster != NULL ? "--cluster" : "the members IDENTITY records");
        return -1;
    }
    if (o->listen == NULL) {
        o->listen = self;
    } else if (!cmd_address_valid(o->listen, true)) {
        fprintf(stderr, "raftkv-server: --listen: '%s' is not HOST:PORT\n",
                o->listen);
        return -1;
    }
    if (o->clients_without_cert && o->tls.insecure) {
        fprintf(stderr,
                "raftkv-server: --allow-clients-without-cert is about TLS "
                "clients; with --insecure nobody presents a certificate\n");
        return -1;
    }
    if (o->heartbeat_ticks >= o->election_ticks) {
        fprintf(stderr,
                "raftkv-server: --heartbeat-ticks must be below "
                "--election-ticks\n");
        return -1;
    }
    return 0;
}

/* Takes the data directory for this process: a second server on the same
 * directory would corrupt it. */
static int lock_dir(struct server *sv)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/LOCK", sv->o.data_dir);
    sv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (sv->lock_fd < 0) {
        logf_err(sv, "cannot use data directory %s: %s: %s", sv->o.data_dir,
                 path, strerror(errno));
        return -1;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(sv->lock_fd, F_SETLK, &fl) != 0) {
        logf_err(sv,
                 "data directory %s is in use by another process (%s is "
                 "locked)",
                 sv->o.data_dir, path);
        return -1;
    }
    return 0;
}

/* Opens the storage and checks that recovery accepts it. */
static int open_storage(struct server *sv)
{
    char why[512];
    if (storage_fs_posix_open(sv->o.data_dir, why, sizeof why, &sv->fs) != 0) {
        logf_err(sv, "cannot use data directory %s: %s", sv->o.data_dir, why);
        return -1;
    }
    struct storage_fs *timed = NULL;
    if (sv->metrics != NULL) {
        if (disk_timing_fs_new(sv->fs, &sv->stats.wal_fsync_seconds, &timed) !=
            0) {
            logf_err(sv, "out of memory opening the data directory");
            return -1;
        }
        sv->fs = timed;
    }
    if (lock_dir(sv) != 0) {
        return -1;
    }
    struct cmd_identity ident;
    bool created = false;
    memset(&ident, 0, sizeof ident);
    if (sv->o.join != NULL) {
        /* join_prepare found no IDENTITY; join_add writes it. */
        ident.cluster_id = sv->cluster_id;
        ident.node_id = sv->o.id;
    } else if (cmd_identity_adopt(sv->o.data_dir, sv->o.id, &sv->o.cluster,
                                  sv->o.cluster_token, &ident, &created, why,
                                  sizeof why) != 0) {
        logf_err(sv, "refusing to start: %s", why);
        return -1;
    }
    sv->cluster_id = ident.cluster_id;
    struct storage_wal_options wo;
    storage_wal_options_default(&wo);
    if (storage_wal_new(sv->fs, &wo, &sv->disk) != 0) {
        logf_err(sv, "out of memory opening the write-ahead log");
        return -1;
    }
    if (timed != NULL) {
        struct storage *wal = sv->disk;
        if (disk_timing_storage_new(
                wal, timed, &sv->stats.snapshot_save_seconds, &sv->disk) != 0) {
            logf_err(sv, "out of memory opening the write-ahead log");
            storage_free(wal);
            sv->disk = NULL;
            return -1;
        }
    }
    struct storage_state st;
    if (storage_load(sv->disk, &st) != 0) {
        logf_err(sv, "refusing to start: %s", storage_error(sv->disk));
        return -1;
    }
    if (st.recovery_note[0] != '\0') {
        logf_err(sv, "recovery: %s", st.recovery_note);
    }
    bool has_state =
        st.hard_state.term > 0 || st.n_entries > 0 || st.snapshot_index > 0;
    if (sv->o.join != NULL && has_state) {
        logf_err(sv,
                 "refusing --join: %s holds Raft state (term %llu, %zu log "
                 "entries, a snapshot at %llu) but no IDENTITY: give --join "
                 "an empty directory",
                 sv->o.data_dir, (unsigned long long)st.hard_state.term,
                 st.n_entries, (unsigned long long)st.snapshot_index);
        return -1;
    }
    if (created && has_state) {
        logf_err(sv,
                 "%s held state but no IDENTITY (made by an older "
                 "raftkv-server): recorded it as node %llu of cluster "
                 "%016llx, from --id and --cluster",
                 sv->o.data_dir, (unsigned long long)ident.node_id,
                 (unsigned long long)ident.cluster_id);
    }
    logf_info(sv, "node %llu of cluster %016llx (%s/IDENTITY%s)",
              (unsigned long long)ident.node_id,
              (unsigned long long)ident.cluster_id, sv->o.data_dir,
              sv->o.join != NULL ? ", written once joined"
              : created          ? ", new"
                                 : "");
    logf_info(sv,
              "storage in %s: term %llu, commit %llu, snapshot at %llu, %zu "
              "entries after it",
              sv->o.data_dir, (unsigned long long)st.hard_state.term,
              (unsigned long long)st.hard_state.commit,
              (unsigned long long)st.snapshot_index, st.n_entries);
    return 0;
}

/* The host part of "HOST:PORT" or "[V6]:PORT" into @host. */
static void address_host(const char *address, char *host, size_t len)
{
    const char *colon = strrchr(address, ':');
    size_t n = colon != NULL ? (size_t)(colon - address) : strlen(address);
    if (n >= 2 && address[0] == '[' && address[n - 1] == ']') {
        address++;
        n -= 2;
    }
    snprintf(host, len, "%.*s", (int)n, address);
}

/* TLS on by default: the files are checked before the data directory is
 * touched; --insecure says what it gives away. */
static int load_tls(struct server *sv)
{
    char host[CMD_ADDRESS_MAX];
    address_host(sv->o.join != NULL
                     ? sv->o.listen
                     : cmd_cluster_address(&sv->o.cluster, sv->o.id),
                 host, sizeof host);
    if (cmd_tls_load(PROGRAM, &sv->o.tls, sv->o.id, host, &sv->tls,
                     &sv->secure) != 0) {
        return -1;
    }
    sv->tls.clients_need_cert = !sv->o.clients_without_cert;
    if (!sv->secure) {
        logf_err(sv,
                 "WARNING: --insecure: no TLS. Whoever reaches %s can read "
                 "every request and answer, call the KV service, and send "
                 "Raft messages as any node (votes, entries, snapshots): use "
                 "it only on a network you trust entirely (docs/security.md)",
                 sv->o.listen);
    }
    return 0;
}

static int start_transport(struct server *sv)
{
    struct transport_grpc_options o;
    transport_grpc_options_default(&o);
    o.id = sv->o.id;
    o.cluster_id = sv->cluster_id;
    o.listen = sv->o.listen;
    o.deliver = on_deliver;
    o.deliver_data = sv;
    o.methods = cmd_method_paths;
    o.n_methods = CMD_METHODS;
    o.on_call = on_call;
    o.call_data = sv;
    o.calls_max = sv->o.max_waiting;
    o.calls_per_address_max = sv->o.max_waiting_per_ip;
    o.unread_bytes_max = sv->o.max_unread_mb << 20;
    o.unread_bytes_per_address_max = sv->o.max_unread_mb_per_ip << 20;
    o.streams_max = (unsigned)sv->o.max_streams;
    o.idle_timeout_ms = (unsigned)sv->o.idle_timeout_ms;
    o.handshake_timeout_ms = (unsigned)sv->o.handshake_timeout_ms;
    o.memory_bytes_max = sv->o.grpc_memory_mb << 20;
    o.log = on_transport_log;
    o.log_data = sv;
    if (sv->metrics != NULL) {
        o.peer_rtt = on_peer_rtt;
        o.peer_rtt_data = sv;
    }
    o.tls = sv->secure ? &sv->tls : NULL;
    char why[512];
    char hosts[RAFT_MAX_SERVERS][CMD_ADDRESS_MAX];
    const char *host_list[RAFT_MAX_SERVERS];
    for (size_t k = 0; k < sv->o.cluster.n; k++) {
        address_host(sv->o.cluster.members[k].address, hosts[k],
                     sizeof hosts[k]);
        host_list[k] = hosts[k];
    }
    sv->o.gate.member_hosts = host_list;
    sv->o.gate.n_member_hosts = sv->o.cluster.n;
    int cap = cmd_gate_start(&sv->o.gate, why, sizeof why);
    sv->o.gate.member_hosts = NULL;
    if (cap < 0) {
        logf_err(sv, "cannot start: %s", why);
        return COMMON_EXIT_USAGE;
    }
    logf_info(sv,
              "connections: at most %d (%u per address, %u new a second per "
              "address)",
              cap, sv->o.gate.max_per_address, sv->o.gate.rate_per_address);
    if ((unsigned)cap < sv->o.gate.max_connections) {
        logf_err(sv,
                 "at most %d connections rather than %u: the descriptor limit "
                 "keeps %u for storage and peers (raise it with ulimit -n)",
                 cap, sv->o.gate.max_connections,
                 sv->o.gate.reserve_descriptors + sv->o.gate.member_reserve);
    }
    int rv = transport_grpc_new(&o, why, sizeof why, &sv->grpc);
    if (rv != 0) {
        logf_err(sv, "cannot listen: %s", why);
        return rv == COMMON_EUNAVAILABLE ? COMMON_EXIT_UNKNOWN
                                         : COMMON_EXIT_FAILED;
    }
    for (size_t k = 0; k < sv->o.cluster.n; k++) {
        const struct cmd_member *m = &sv->o.cluster.members[k];
        if (m->id != sv->o.id &&
            transport_grpc_set_peer(sv->grpc, m->id, m->address) != 0) {
            logf_err(sv, "out of memory adding peer %llu",
                     (unsigned long long)m->id);
            return COMMON_EXIT_FAILED;
        }
        if (m->id != sv->o.id) {
            sv->peers.members[sv->peers.n++] = *m;
        }
    }
    if (sv->o.proxy) {
        struct proxy_options po = {
            .grpc = sv->grpc,
            .max_calls = (unsigned)sv->o.proxy_max_calls,
            .timeout_ms = (unsigned)sv->o.request_timeout_ms,
            .count = on_proxied,
            .data = sv,
        };
        if (proxy_new(&po, &sv->proxy) != 0) {
            logf_err(sv, "out of memory starting the proxy");
            return COMMON_EXIT_FAILED;
        }
        logf_info(sv,
                  "proxy: as a follower, forwarding client requests to the "
                  "leader (at most %u at a time)",
                  po.max_calls);
    }
    return 0;
}

/* The joining calls' lines (the promoter's thread too: logging touches
 * nothing that changes); its retries (debug) are not logged. */
static void on_join_log(void *data,
                        enum common_log_level level,
                        const char *msg)
{
    if (level == COMMON_LOG_ERROR) {
        logf_err(data, "%s", msg);
    } else if (level != COMMON_LOG_DEBUG) {
        logf_info(data, "%s", msg);
    }
}

/* --join, before the data directory is opened: it must not belong to a
 * cluster already, and the cluster must answer MemberList. Fills the map
 * (the members and this node), the cluster's id and join_members. Returns
 * 0 or an exit code. */
static int join_prepare(struct server *sv)
{
    char why[512];
    struct cmd_identity ident;
    bool found = false;
    if (cmd_identity_read(sv->o.data_dir, &ident, &found, why, sizeof why) !=
        0) {
        logf_err(sv, "refusing --join: %s", why);
        return COMMON_EXIT_USAGE;
    }
    if (found) {
        logf_err(sv,
                 "refusing --join: %s/IDENTITY records node %llu of cluster "
                 "%016llx: this data directory belongs to a cluster already "
                 "(restart it without --join, or give --join an empty "
                 "directory)",
                 sv->o.data_dir, (unsigned long long)ident.node_id,
                 (unsigned long long)ident.cluster_id);
        return COMMON_EXIT_USAGE;
    }
    struct join *j = &sv->join;
    j->tls = sv->secure ? &sv->tls : NULL;
    j->id = sv->o.id;
    j->timeout_ms = sv->o.request_timeout_ms;
    j->log = on_join_log;
    j->log_data = sv;
    struct cmd_cluster_request list = {.method = CMD_MEMBER_LIST};
    struct cmd_members *m = &sv->join_members;
    int rv = join_call(j, &list, m, why, sizeof why);
    if (rv != 0) {
        logf_err(sv, "cannot join: no member list from %s: %s", sv->o.join,
                 why);
        return rv > 0 ? COMMON_EXIT_USAGE : COMMON_EXIT_UNKNOWN;
    }
    if (m->cluster_id == 0) {
        logf_err(sv, "cannot join: the cluster does not say its id");
        return COMMON_EXIT_UNKNOWN;
    }
    memset(&sv->o.cluster, 0, sizeof sv->o.cluster);
    bool self_in = false;
    for (size_t k = 0; k < m->n; k++) {
        const struct cmd_member_info *x = &m->members[k];
        if (x->id == sv->o.id &&
            (!x->learner || strcmp(x->address, sv->o.listen) != 0)) {
            logf_err(sv,
                     "refusing --join: node %llu is a %s of cluster %016llx "
                     "already, at %s: remove it first (raftkv-cli member "
                     "remove %llu), or join with another --id",
                     (unsigned long long)x->id,
                     x->learner ? "learner" : "voter",
                     (unsigned long long)m->cluster_id, x->address,
                     (unsigned long long)x->id);
            return COMMON_EXIT_USAGE;
        }
        self_in = self_in || x->id == sv->o.id;
        struct cmd_member *y = &sv->o.cluster.members[sv->o.cluster.n++];
        y->id = x->id;
        snprintf(y->address, sizeof y->address, "%s", x->address);
    }
    if (!self_in && sv->o.cluster.n == RAFT_MAX_SERVERS) {
        logf_err(sv, "cannot join: the cluster has %d members already",
                 RAFT_MAX_SERVERS);
        return COMMON_EXIT_USAGE;
    }
    if (!self_in) {
        struct cmd_member *y = &sv->o.cluster.members[sv->o.cluster.n++];
        y->id = sv->o.id;
        snprintf(y->address, sizeof y->address, "%s", sv->o.listen);
    }
    sv->cluster_id = m->cluster_id;
    logf_info(sv, "joining cluster %016llx: %zu members, node %llu leads",
              (unsigned long long)m->cluster_id, m->n,
              (unsigned long long)m->leader_id);
    return 0;
}

/* --join, once the node runs: asks to be added as a learner (unless a
 * previous attempt was), records IDENTITY, and starts the promoter unless
 * --join-as-learner. Returns 0 or an exit code. */
static int join_add(struct server *sv)
{
    char why[512];
    bool member = false;
    for (size_t k = 0; k < sv->join_members.n; k++) {
        member = member || sv->join_members.members[k].id == sv->o.id;
    }
    if (!member) {
        struct cmd_cluster_request rq = {
            .method = CMD_MEMBER_ADD, .id = sv->o.id, .learner = true};
        snprintf(rq.address, sizeof rq.address, "%s", sv->o.listen);
        struct cmd_members m;
        int rv = join_call(&sv->join, &rq, &m, why, sizeof why);
        if (rv != 0) {
            logf_err(sv, "cannot join: MemberAdd: %s", why);
            return rv > 0 ? COMMON_EXIT_USAGE : COMMON_EXIT_UNKNOWN;
        }
    }
    struct cmd_identity ident = {.cluster_id = sv->cluster_id,
                                 .node_id = sv->o.id,
                                 .members = sv->o.cluster};
    if (cmd_identity_write(sv->o.data_dir, &ident, why, sizeof why) != 0) {
        logf_err(sv, "cannot record the identity: %s", why);
        return COMMON_EXIT_FAILED;
    }
    logf_info(sv,
              "joined cluster %016llx as a learner (recorded in %s/IDENTITY); "
              "%s",
              (unsigned long long)sv->cluster_id, sv->o.data_dir,
              sv->o.join_as_learner
                  ? "--join-as-learner: promote it with raftkv-cli member "
                    "promote once it has caught up"
                  : "promoted to voter once caught up");
    if (!sv->o.join_as_learner && join_promoter_start(&sv->join) != 0) {
        logf_err(sv, "out of memory starting the promoter");
        return COMMON_EXIT_FAILED;
    }
    return 0;
}

/* The node thread tells the promoter when this learner holds the log the
 * leader has committed (the leader judges the rest). */
static void join_watch(struct server *sv)
{
    if (!sv->join.started) {
        return;
    }
    const struct raft *r = kv_node_raft(sv->node);
    const struct raft_configuration *c = raft_config(r);
    int k = raft_configuration_find(c, sv->o.id);
    if (k >= 0 && c->servers[k].role == RAFT_LEARNER && raft_leader(r) != 0 &&
        raft_commit_index(r) > 0 &&
        raft_applied_index(r) >= raft_commit_index(r)) {
        join_caught_up(&sv->join);
    }
}

static int start_node(struct server *sv)
{
    struct kv_node_config nc;
    memset(&nc, 0, sizeof nc);
    raft_options_default(&nc.raft);
    nc.raft.id = sv->o.id;
    nc.raft.election_ticks = (unsigned)sv->o.election_ticks;
    nc.raft.heartbeat_ticks = (unsigned)sv->o.heartbeat_ticks;
    nc.raft.seed =
        common_mix64(common_now_ns() ^ ((uint64_t)getpid() << 32) ^ sv->o.id);
    sv->promote_lag = nc.raft.promote_lag != 0 ? nc.raft.promote_lag
                                               : nc.raft.max_entries_per_msg;
    /* The bootstrap configuration, with the members' addresses (a data
     * directory's own configuration, from its log or snapshot, rules once
     * there is one). */
    raft_id ids[RAFT_MAX_SERVERS];
    const char *addrs[RAFT_MAX_SERVERS];
    uint8_t table[RAFT_ADDRESSES_MAX];
    const struct cmd_members *jm = &sv->join_members;
    size_t n = sv->o.join != NULL ? jm->n : sv->o.cluster.n;
    for (size_t k = 0; k < n; k++) {
        ids[k] = sv->o.join != NULL ? jm->members[k].id
                                    : sv->o.cluster.members[k].id;
        addrs[k] = sv->o.join != NULL ? jm->members[k].address
                                      : sv->o.cluster.members[k].address;
    }
    /* Joining: the cluster's configuration when it answered, which does
     * not list this node until the leader's log adds it. */
    bool ok = raft_configuration_voters(&nc.conf, ids, n) == 0;
    for (size_t k = 0; ok && sv->o.join != NULL && k < n; k++) {
        nc.conf.servers[k].role =
            jm->members[k].learner ? RAFT_LEARNER : RAFT_VOTER;
    }
    if (!ok || !raft_configuration_valid(&nc.conf) ||
        raft_configuration_set_addresses(&nc.conf, addrs, table,
                                         sizeof table) != 0) {
        logf_err(sv, "invalid cluster configuration");
        return -1;
    }
    nc.snapshot_entries = sv->o.snapshot_entries;
    nc.snapshot_trailing = sv->o.snapshot_trailing;
    nc.storage = sv->disk;
    nc.transport = transport_grpc_transport(sv->grpc);
    nc.env.data = sv;
    nc.env.reply = on_reply;
    nc.env.observe = on_observe;
    nc.env.failed = on_failed;
    int rv = kv_node_new(&nc, &sv->node);
    if (rv != 0) {
        if (rv == COMMON_ECORRUPT) {
            logf_err(sv, "refusing to start: %s", storage_error(sv->disk));
        } else if (rv == COMMON_EINVAL) {
            logf_err(sv,
                     "refusing to start: the Raft core refuses the state "
                     "stored in %s (a term or index beyond 2^62, or entries "
                     "that contradict the hard state or the snapshot)",
                     sv->o.data_dir);
        } else {
            logf_err(sv, "refusing to start: %s", common_strerror(rv));
        }
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */
/* ------------------------------------------------------------------------ */

static int pending_signal(const sigset_t *set)
{
    struct timespec zero = {0, 0};
    int sig = sigtimedwait(set, NULL, &zero);
    return sig > 0 ? sig : 0;
}

/* What the limits refused since the last line (at most one a second, and
 * none when nothing was refused: refused traffic cannot flood the log). */
static void log_refusals(struct server *sv)
{
    struct cmd_gate_stats g;
    cmd_gate_stats(&g);
    struct transport_grpc_stats t;
    transport_grpc_stats(sv->grpc, &t);
    const struct cmd_gate_stats *l = &sv->gate_logged;
    uint64_t total = g.refused_total - l->refused_total;
    uint64_t address = g.refused_address - l->refused_address;
    uint64_t rate = g.refused_rate - l->refused_rate;
    uint64_t fds = g.refused_descriptors - l->refused_descriptors;
    uint64_t calls = t.calls_refused - sv->calls_refused_logged;
    uint64_t cancelled = t.answers_cancelled - sv->answers_cancelled_logged;
    if (total + address + rate + fds > 0) {
        logf_err(sv,
                 "refused %llu connections in the last second (%llu over the "
                 "cap of %u, %llu over the cap per address, %llu over the "
                 "rate per address, %llu at the descriptor limit); %u open",
                 (unsigned long long)(total + address + rate + fds),
                 (unsigned long long)total, g.cap, (unsigned long long)address,
                 (unsigned long long)rate, (unsigned long long)fds, g.open);
    }
    if (calls + cancelled > 0) {
        logf_err(sv,
                 "refused %llu client calls over the limits and cancelled "
                 "%llu answers nobody read in the last second",
                 (unsigned long long)calls, (unsigned long long)cancelled);
    }
    sv->gate_logged = g;
    sv->calls_refused_logged = t.calls_refused;
    sv->answers_cancelled_logged = t.answers_cancelled;
}

/* Fills what the node, the transport and the gate report now into
 * sv->stats and publishes it for the metrics endpoint. */
static void publish_metrics(struct server *sv, uint64_t now)
{
    struct server_stats *s = &sv->stats;
    const struct raft *r = kv_node_raft(sv->node);
    const struct kv_sm *sm = kv_node_sm(sv->node);
    s->role = raft_role(r);
    s->leader = raft_leader(r);
    s->term = raft_current_term(r);
    s->commit = raft_commit_index(r);
    s->applied = raft_applied_index(r);
    s->first = raft_first_index(r);
    s->last = raft_last_index(r);
    s->keys = kv_sm_keys(sm);
    s->sessions = kv_sm_sessions(sm);
    s->requests_waiting = PENDING_MAX - sv->n_free;
    kv_node_stats(sv->node, &s->node);
    raft_get_stats(r, &s->raft);
    transport_grpc_stats(sv->grpc, &s->transport);
    cmd_gate_stats(&s->gate);
    if (now >= sv->next_disk_scan) {
        server_stats_scan_disk(s, sv->o.data_dir);
        sv->next_disk_scan = now + COMMON_NS_PER_S;
    }
    s->published_ns = now;
    server_metrics_publish(sv->metrics, s);
    sv->next_publish = now + SERVER_METRICS_PUBLISH_NS;
}

static void run(struct server *sv, const sigset_t *signals)
{
    struct transport *t = transport_grpc_transport(sv->grpc);
    uint64_t tick_ns = sv->o.tick_ms * COMMON_NS_PER_MS;
    uint64_t next_tick = common_now_ns() + tick_ns;
    uint64_t next_sweep = common_now_ns() + 100000000ull;
    uint64_t next_refusals = common_now_ns() + COMMON_NS_PER_S;
    while (!sv->stop) {
        uint64_t now = common_now_ns();
        unsigned wait_ms =
            next_tick > now ? (unsigned)((next_tick - now + 999999) / 1000000)
                            : 0;
        transport_grpc_poll(sv->grpc, wait_ms);
        now = common_now_ns();
        /* Catch up at most a few ticks after a stall, rather than a burst
         * of timeouts. */
        for (int k = 0; k < 3 && now >= next_tick; k++) {
            kv_node_tick(sv->node);
            next_tick += tick_ns;
        }
        if (now >= next_tick) {
            next_tick = now + tick_ns;
        }
        kv_node_flush(sv->node);
        cluster_progress(sv);
        peers_sync(sv);
        join_watch(sv);
        transport_flush(t);
        if (now >= next_sweep) {
            pending_expire(sv, false, TRANSPORT_GRPC_DEADLINE_EXCEEDED,
                           "no answer from the node in time");
            cluster_expire(sv, false, TRANSPORT_GRPC_DEADLINE_EXCEEDED,
                           "no answer from the node in time");
            next_sweep = now + 100000000ull;
        }
        if (now >= next_refusals) {
            cmd_gate_sweep();
            log_refusals(sv);
            next_refusals = now + COMMON_NS_PER_S;
        }
        if (sv->metrics != NULL && now >= sv->next_publish) {
            publish_metrics(sv, now);
        }
        int sig = pending_signal(signals);
        if (sig != 0) {
            logf_err(sv, "shutting down (%s)",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
            sv->stop = true;
        }
    }
}

static void cleanup(struct server *sv)
{
    join_stop(&sv->join);
    server_metrics_stop(sv->metrics);
    sv->metrics = NULL;
    if (sv->grpc != NULL) {
        /* What was refused since the last line, which would otherwise
         * never be logged when the server stops within the second. */
        log_refusals(sv);
        pending_expire(sv, true, TRANSPORT_GRPC_UNAVAILABLE,
                       "the node is shutting down");
        cluster_expire(sv, true, TRANSPORT_GRPC_UNAVAILABLE,
                       "the node is shutting down");
        if (sv->proxy != NULL) {
            proxy_stop(sv->proxy, TRANSPORT_GRPC_UNAVAILABLE,
                       "the node is shutting down: the outcome is unknown; "
                       "retry with the same client_id and seq");
        }
        transport_grpc_stop(sv->grpc);
    }
    kv_node_free(sv->node);
    sv->node = NULL;
    transport_grpc_free(sv->grpc);
    proxy_free(sv->proxy); /* after: the forwards in flight came back */
    sv->proxy = NULL;
    cmd_gate_stop();
    storage_free(sv->disk);
    storage_fs_free(sv->fs);
    transport_grpc_tls_fini(&sv->tls);
    if (sv->lock_fd >= 0) {
        close(sv->lock_fd);
    }
}

int main(int argc, char **argv)
{
    static struct server sv;
    int rc = parse_flags(argc, argv, &sv.o);
    if (rc != 0) {
        if (rc > 0) {
            usage(stdout);
        } else {
            cmd_usage_short(PROGRAM, SYNOPSIS);
        }
        return rc > 0 ? COMMON_EXIT_OK : COMMON_EXIT_USAGE;
    }
    sv.lock_fd = -1;
    sv.exit_code = COMMON_EXIT_OK;
    for (uint32_t k = 0; k < PENDING_MAX; k++) {
        sv.free_slots[k] = PENDING_MAX - 1 - k;
    }
    sv.n_free = PENDING_MAX;
    /* Before grpc_init starts threads: they inherit the blocked set, so
     * the signals stay pending for this thread to collect. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (load_tls(&sv) != 0) {
        return COMMON_EXIT_USAGE;
    }
    server_stats_init(&sv.stats, sv.o.id);
    /* Every peer's series exists before its first round trip, so that a
     * scrape never misses one (an absent series is not a zero). */
    for (size_t k = 0; k < sv.o.cluster.n; k++) {
        if (sv.o.cluster.members[k].id != sv.o.id) {
            (void)server_stats_peer(&sv.stats, sv.o.cluster.members[k].id);
        }
    }
    if (sv.o.metrics_addr != NULL) {
        char why[512];
        rc = server_metrics_start(sv.o.metrics_addr, &sv.metrics, why,
                                  sizeof why);
        if (rc != 0) {
            logf_err(&sv, "cannot serve metrics: %s", why);
            return rc == COMMON_EUNAVAILABLE ? COMMON_EXIT_UNKNOWN
                                             : COMMON_EXIT_USAGE;
        }
        logf_info(&sv,
                  "metrics on http://%s (port %u): /metrics, /healthz, "
                  "/readyz",
                  sv.o.metrics_addr, server_metrics_port(sv.metrics));
    }
    if (sv.o.join != NULL) {
        char why[256];
        if (join_parse_endpoints(&sv.join, sv.o.join, why, sizeof why) != 0) {
            fprintf(stderr, "raftkv-server: --join: %s\n", why);
            cleanup(&sv);
            return COMMON_EXIT_USAGE;
        }
        rc = join_prepare(&sv);
        if (rc != 0) {
            cleanup(&sv);
            return rc;
        }
    }
    if (open_storage(&sv) != 0) {
        cleanup(&sv);
        return COMMON_EXIT_USAGE;
    }
    rc = start_transport(&sv);
    if (rc != 0) {
        cleanup(&sv);
        return rc;
    }
    if (start_node(&sv) != 0) {
        cleanup(&sv);
        return COMMON_EXIT_USAGE;
    }
    if (sv.o.join != NULL) {
        rc = join_add(&sv);
        if (rc != 0) {
            cleanup(&sv);
            return rc;
        }
    }
    sv.stats.commit_at_start = raft_commit_index(kv_node_raft(sv.node));
    sv.stats.applied_at_start = raft_applied_index(kv_node_raft(sv.node));
    logf_info(&sv,
              "serving on %s (node %llu of %zu; peers and clients on "
              "the same port)",
              sv.o.listen, (unsigned long long)sv.o.id, sv.o.cluster.n);
    run(&sv, &signals);
    cleanup(&sv);
    if (sv.exit_code == COMMON_EXIT_OK) {
        logf_info(&sv, "stopped");
    }
    return sv.exit_code;
}
