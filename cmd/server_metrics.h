/*
 * raftkv-server's metrics and health endpoint (--metrics-addr): what the
 * node thread measures, the snapshot of it that the HTTP thread serves,
 * and the timing of the disk. Private to raftkv-server (server.c,
 * server_metrics.c, disk_timing.c); docs/metrics.md lists every metric.
 *
 * Threads: the node thread owns a struct server_stats, updates it as
 * things happen (replies, fsyncs, peer round trips) and every
 * SERVER_METRICS_PUBLISH_NS copies it into the endpoint under the
 * endpoint's lock (server_metrics_publish). libmicrohttpd's thread takes
 * that lock only to copy the latest snapshot out, then renders the page
 * from its copy: it never touches the node, the Raft core or the
 * transport.
 */
#ifndef CMD_SERVER_METRICS_H
#define CMD_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/cmd.h"
#include "cmd/metrics.h"
#include "kv/kv.h"
#include "raft/raft.h"
#include "storage/storage.h"
#include "transport/transport.h"

/* How often the node thread publishes, and how old a snapshot may be
 * before /readyz says the node loop is stuck. */
#define SERVER_METRICS_PUBLISH_NS (100ull * 1000 * 1000)
#define SERVER_METRICS_STALE_NS   (2000ull * 1000 * 1000)
/* The page's ceiling, the connections and how long one may stay idle. */
#define SERVER_METRICS_PAGE_MAX    (1u << 20)
#define SERVER_METRICS_CONNECTIONS 16u
#define SERVER_METRICS_PER_IP      8u
#define SERVER_METRICS_TIMEOUT_S   10u

/* How a client call ended: the node's ResponseHeader code (the call
 * succeeded), or the gRPC status it was answered with. */
enum server_code {
    SERVER_CODE_OK = 0, /* KV codes first, in enum kv_status's order */
    SERVER_CODE_NOT_FOUND,
    SERVER_CODE_MISMATCH,
    SERVER_CODE_NOT_LEADER,
    SERVER_CODE_RETRY,
    SERVER_CODE_INVALID,
    SERVER_CODE_UNAVAILABLE,
    SERVER_CODE_SESSION_EXPIRED,
    SERVER_GRPC_INVALID_ARGUMENT,
    SERVER_GRPC_RESOURCE_EXHAUSTED,
    SERVER_GRPC_DEADLINE_EXCEEDED,
    SERVER_GRPC_UNAVAILABLE,
    /* raftkv.Cluster's refusals (docs/api.md). */
    SERVER_GRPC_NOT_FOUND,
    SERVER_GRPC_ALREADY_EXISTS,
    SERVER_GRPC_FAILED_PRECONDITION,
    SERVER_GRPC_ABORTED,
};
#define SERVER_CODES 16

/* The label value of @c ("CODE_OK", ..., "DEADLINE_EXCEEDED"). */
const char *server_code_name(enum server_code c);

struct server_peer_stats
{
    raft_id id;
    struct cmd_histogram rtt; /* seconds */
};

/* Everything /metrics and /readyz show, as of published_ns. */
struct server_stats
{
    uint64_t published_ns; /* common_now_ns() when published */
    double start_time_s;   /* the process's start, Unix seconds */
    raft_id id;
    enum raft_role role;
    raft_id leader;
    raft_term term;
    raft_index commit;
    raft_index applied;
    raft_index first;
    raft_index last;
    raft_index commit_at_start; /* when the node was loaded */
    raft_index applied_at_start;
    uint64_t keys;
    uint64_t sessions;
    uint64_t wal_bytes;      /* the segment files' sizes */
    uint64_t snapshot_bytes; /* the snapshot files' sizes */
    uint64_t leader_changes;
    uint64_t proposals_failed;
    uint64_t requests_waiting; /* client calls waiting for the node */
    uint64_t requests[CMD_METHODS][SERVER_CODES];
    struct cmd_histogram request_seconds[CMD_METHODS];
    struct cmd_histogram wal_fsync_seconds;
    struct cmd_histogram snapshot_save_seconds;
    size_t n_peers;
    struct server_peer_stats peers[RAFT_MAX_SERVERS];
    struct kv_node_stats node;
    struct raft_stats raft;
    struct transport_grpc_stats transport;
    struct cmd_gate_stats gate;
};

/* Empty stats with every histogram's buckets set. */
void server_stats_init(struct server_stats *s, raft_id id);
/* A client call answered: counted under @method and @code, its duration
 * from @started_ns to now observed. */
void server_stats_reply(struct server_stats *s,
                        enum cmd_method method,
                        enum server_code code,
                        uint64_t started_ns);
/* Peer @peer's numbers, made (all zero) on first use so that every peer
 * has its series from the start; NULL past RAFT_MAX_SERVERS peers. */
struct server_peer_stats *server_stats_peer(struct server_stats *s,
                                            raft_id peer);
/* A peer's round trip (the transport's peer_rtt callback). */
void server_stats_peer_rtt(struct server_stats *s, raft_id peer, uint64_t ns);

/* The sizes of the write-ahead log's segments and of the snapshot files
 * in @dir (left as they were when it cannot be read). */
void server_stats_scan_disk(struct server_stats *s, const char *dir);

/* The page /metrics serves for @s. */
void server_metrics_render(const struct server_stats *s, struct cmd_prom *p);

/* Whether @s says the node is ready (docs/metrics.md): it knows a leader,
 * has applied everything it knows committed, and its node thread
 * published within SERVER_METRICS_STALE_NS of @now_ns. When not, @why
 * says which fails. */
bool server_metrics_ready(const struct server_stats *s,
                          uint64_t now_ns,
                          char *why,
                          size_t why_len);

/* The HTTP endpoint. */
struct server_metrics;

/* Serves /metrics, /healthz and /readyz on @address (HOST:PORT, HOST an
 * IPv4 or [IPv6] literal or a name; PORT 0 picks a free one) on a thread
 * of its own. Until the first server_metrics_publish, /readyz says not
 * ready and /metrics answers 503. COMMON_EUNAVAILABLE when it cannot
 * bind, COMMON_EINVAL for an address it cannot resolve, with @why. */
int server_metrics_start(const char *address,
                         struct server_metrics **out,
                         char *why,
                         size_t why_len);
/* The port it listens on. */
unsigned server_metrics_port(const struct server_metrics *m);
/* Copies @s into the endpoint (any thread; takes the endpoint's lock). */
void server_metrics_publish(struct server_metrics *m,
                            const struct server_stats *s);
/* Stops the thread and frees everything; NULL harmless. */
void server_metrics_stop(struct server_metrics *m);

/* The disk's timing: a file system over @inner (ownership passes to it,
 * freed with it) that times every sync of a file into @wal_fsync while no
 * snapshot is being saved, and a storage over @inner_storage (ownership
 * passes) that times each storage_save_snapshot into @snapshot_save. The
 * histograms are borrowed and written on the calling thread (the node's).
 * COMMON_ENOMEM (nothing taken). */
int disk_timing_fs_new(struct storage_fs *inner,
                       struct cmd_histogram *wal_fsync,
                       struct storage_fs **out);
int disk_timing_storage_new(struct storage *inner_storage,
                            struct storage_fs *timing_fs,
                            struct cmd_histogram *snapshot_save,
                            struct storage **out);

#endif /* CMD_SERVER_METRICS_H */
