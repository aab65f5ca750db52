/*
 * raftkv-server's metrics and health endpoint: /metrics in the Prometheus
 * text format, /healthz and /readyz, served by libmicrohttpd on a thread
 * of its own (docs/metrics.md has every metric; docs/security.md what the
 * port gives away).
 *
 * The idea: the HTTP thread never reaches into the node. The node thread
 * measures (struct server_stats, its own) and publishes a copy every
 * SERVER_METRICS_PUBLISH_NS under the endpoint's lock; a request copies
 * the latest one out under that lock and renders from its copy, so a slow
 * scrape holds the lock for a memcpy and the node never waits on HTTP.
 *
 * The port is unauthenticated and bounded: at most
 * SERVER_METRICS_CONNECTIONS connections (SERVER_METRICS_PER_IP from one
 * address), each closed after SERVER_METRICS_TIMEOUT_S idle, a small
 * per-connection memory pool, only GET and HEAD (a body is never read),
 * and a page capped at SERVER_METRICS_PAGE_MAX.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "server_metrics.h"

/* ------------------------------------------------------------------------ */
/* What the node thread measures                                             */
/* ------------------------------------------------------------------------ */

static const char *const code_names[SERVER_CODES] = {
    "CODE_OK",
    "CODE_NOT_FOUND",
    "CODE_MISMATCH",
    "CODE_NOT_LEADER",
    "CODE_RETRY",
    "CODE_INVALID",
    "CODE_UNAVAILABLE",
    "CODE_SESSION_EXPIRED",
    "INVALID_ARGUMENT",
    "RESOURCE_EXHAUSTED",
    "DEADLINE_EXCEEDED",
    "UNAVAILABLE",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "FAILED_PRECONDITION",
    "ABORTED",
};

/* The methods' names as in proto/kv.proto. */
static const char *const method_names[CMD_METHODS] = {
    "Put",          "Get",
    "Delete",       "CompareAndSwap",
    "Append",       "RegisterClient",
    "Status",       "MemberList",
    "MemberAdd",    "MemberPromote",
    "MemberRemove", "TransferLeader",
};

/* server.c counts a node's answer under (enum server_code)status. */
_Static_assert((int)SERVER_CODE_OK == (int)KV_OK &&
                   (int)SERVER_CODE_NOT_LEADER == (int)KV_NOT_LEADER &&
                   (int)SERVER_CODE_SESSION_EXPIRED == (int)KV_EXPIRED,
               "enum server_code begins with enum kv_status");

const char *server_code_name(enum server_code c)
{
    return (unsigned)c < SERVER_CODES ? code_names[c] : "UNKNOWN";
}

/* Bucket bounds: those of etcd's histograms of the same meaning (1 ms to
 * 8 s doubling for the disk, 0.1 ms to 0.8 s for peer round trips), and
 * 0.5 ms to 16 s for client calls, which may wait for an election. */
static void disk_buckets(struct cmd_histogram *h)
{
    cmd_histogram_init_exponential(h, 0.001, 2, 14);
}

void server_stats_init(struct server_stats *s, raft_id id)
{
    memset(s, 0, sizeof *s);
    s->id = id;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->start_time_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    for (size_t m = 0; m < CMD_METHODS; m++) {
        cmd_histogram_init_exponential(&s->request_seconds[m], 0.0005, 2, 16);
    }
    disk_buckets(&s->wal_fsync_seconds);
    disk_buckets(&s->snapshot_save_seconds);
}

void server_stats_reply(struct server_stats *s,
                        enum cmd_method method,
                        enum server_code code,
                        uint64_t started_ns)
{
    if ((unsigned)method >= CMD_METHODS || (unsigned)code >= SERVER_CODES) {
        return;
    }
    s->requests[method][code]++;
    uint64_t now = common_now_ns();
    cmd_histogram_observe(
        &s->request_seconds[method],
        now > started_ns ? (double)(now - started_ns) / 1e9 : 0);
    /* A write the cluster may not have taken: etcd's failed proposal. */
    bool write = method < CMD_STATUS && method != CMD_GET;
    if (write && (code == SERVER_CODE_RETRY || code == SERVER_CODE_INVALID ||
                  code == SERVER_CODE_UNAVAILABLE ||
                  code == SERVER_GRPC_DEADLINE_EXCEEDED)) {
        s->proposals_failed++;
    }
}

struct server_peer_stats *server_stats_peer(struct server_stats *s,
                                            raft_id peer)
{
    for (size_t k = 0; k < s->n_peers; k++) {
        if (s->peers[k].id == peer) {
            return &s->peers[k];
        }
    }
    if (s->n_peers == RAFT_MAX_SERVERS) {
        return NULL;
    }
    struct server_peer_stats *p = &s->peers[s->n_peers++];
    p->id = peer;
    cmd_histogram_init_exponential(&p->rtt, 0.0001, 2, 14);
    return p;
}

void server_stats_peer_rtt(struct server_stats *s, raft_id peer, uint64_t ns)
{
    struct server_peer_stats *p = server_stats_peer(s, peer);
    if (p != NULL) {
        cmd_histogram_observe(&p->rtt, (double)ns / 1e9);
    }
}

/* ------------------------------------------------------------------------ */
/* The page                                                                  */
/* ------------------------------------------------------------------------ */

/* A family of one unlabelled sample. */
static void scalar(struct cmd_prom *p,
                   enum cmd_prom_type type,
                   const char *name,
                   const char *help,
                   uint64_t v)
{
    cmd_prom_family(p, name, type, help);
    cmd_prom_uint(p, name, NULL, 0, v);
}

#define gauge(p, name, help, v)   scalar(p, CMD_PROM_GAUGE, name, help, v)
#define counter(p, name, help, v) scalar(p, CMD_PROM_COUNTER, name, help, v)

/* A family of one unlabelled histogram. */
static void histogram(struct cmd_prom *p,
                      const char *name,
                      const char *help,
                      const struct cmd_histogram *h)
{
    cmd_prom_family(p, name, CMD_PROM_HISTOGRAM, help);
    cmd_prom_histogram(p, name, NULL, 0, h);
}

/* A counter with one series per reason. */
static void by_reason(struct cmd_prom *p,
                      const char *name,
                      const char *help,
                      const char *const reasons[],
                      const uint64_t counts[],
                      size_t n)
{
    cmd_prom_family(p, name, CMD_PROM_COUNTER, help);
    for (size_t k = 0; k < n; k++) {
        struct cmd_prom_label l = {"reason", reasons[k]};
        cmd_prom_uint(p, name, &l, 1, counts[k]);
    }
}

static void render_requests(const struct server_stats *s, struct cmd_prom *p)
{
    const char *name = "raftkv_server_requests_total";
    cmd_prom_family(p, name, CMD_PROM_COUNTER,
                    "Client calls of the raftkv.KV and raftkv.Cluster "
                    "services answered, by "
                    "method and by the ResponseHeader code (CODE_*) or the "
                    "gRPC status they were answered with.");
    for (size_t m = 0; m < CMD_METHODS; m++) {
        for (size_t c = 0; c < SERVER_CODES; c++) {
            /* CODE_OK always, so that every method has a series. */
            if (c != SERVER_CODE_OK && s->requests[m][c] == 0) {
                continue;
            }
            struct cmd_prom_label l[2] = {{"method", method_names[m]},
                                          {"code", code_names[c]}};
            cmd_prom_uint(p, name, l, 2, s->requests[m][c]);
        }
    }
    name = "raftkv_server_request_duration_seconds";
    cmd_prom_family(p, name, CMD_PROM_HISTOGRAM,
                    "Time from a client call's arrival to its answer, by "
                    "method.");
    for (size_t m = 0; m < CMD_METHODS; m++) {
        struct cmd_prom_label l = {"method", method_names[m]};
        cmd_prom_histogram(p, name, &l, 1, &s->request_seconds[m]);
    }
}

static void render_network(const struct server_stats *s, struct cmd_prom *p)
{
    const char *name = "raftkv_network_peer_round_trip_time_seconds";
    cmd_prom_family(p, name, CMD_PROM_HISTOGRAM,
                    "Round trip of the batch calls that carry Raft messages "
                    "to a peer, by peer id (calls that returned OK).");
    for (size_t k = 0; k < s->n_peers; k++) {
        char to[24];
        snprintf(to, sizeof to, "%llu", (unsigned long long)s->peers[k].id);
        struct cmd_prom_label l = {"to", to};
        cmd_prom_histogram(p, name, &l, 1, &s->peers[k].rtt);
    }
    const struct transport_grpc_stats *t = &s->transport;
    counter(p, "raftkv_network_peer_sent_messages_total",
            "Raft messages handed to the transport for peers.", t->sent);
    counter(p, "raftkv_network_peer_received_messages_total",
            "Raft messages received from peers and delivered to the node.",
            t->received);
    counter(p, "raftkv_network_peer_dropped_messages_total",
            "Raft messages to peers lost before a call (queue full, peer "
            "unknown, shutting down).",
            t->dropped);
    counter(p, "raftkv_network_peer_sent_failures_total",
            "Batch calls to peers that did not return OK.", t->batches_failed);
    const char *const batch_reasons[] = {"malformed", "unauthenticated",
                                         "other_cluster"};
    const uint64_t batch_counts[] = {t->batches_rejected, t->batches_denied,
                                     t->batches_foreign};
    by_reason(p, "raftkv_network_peer_rejected_batches_total",
              "Batches of Raft messages this node refused, by reason: "
              "malformed (INVALID_ARGUMENT), unauthenticated (a caller "
              "whose certificate names no peer, or a message claiming "
              "another sender: PERMISSION_DENIED), other_cluster "
              "(FAILED_PRECONDITION).",
              batch_reasons, batch_counts, 3);
    counter(p, "raftkv_server_raft_dropped_messages_total",
            "Raft messages the Raft core dropped on receipt (from a stale "
            "term, an unknown sender, or impossible for its role).",
            s->raft.msgs_dropped);
    const struct cmd_gate_stats *g = &s->gate;
    const char *const conn_reasons[] = {
        "max_connections", "max_connections_per_ip", "connection_rate_per_ip",
        "descriptors"};
    const uint64_t conn_counts[] = {g->refused_total, g->refused_address,
                                    g->refused_rate, g->refused_descriptors};
    by_reason(p, "raftkv_network_refused_connections_total",
              "TCP connections closed at once by the connection gate, by "
              "the limit reached (docs/security.md).",
              conn_reasons, conn_counts, 4);
    gauge(p, "raftkv_network_open_connections",
          "TCP connections the gate let through and has not yet seen "
          "closed (an upper bound between its sweeps).",
          g->open);
    counter(p, "raftkv_network_client_calls_refused_total",
            "Client calls answered RESOURCE_EXHAUSTED by a limit of the "
            "transport (waiting calls, unread answers).",
            t->calls_refused);
    counter(p, "raftkv_network_client_calls_forwarded_total",
            "Client calls this node forwarded to the leader as a follower "
            "with --proxy (docs/api.md, Follower proxy).",
            t->forwarded);
}

void server_metrics_render(const struct server_stats *s, struct cmd_prom *p)
{
    bool leader = s->role == RAFT_LEADER;
    gauge(p, "raftkv_server_has_leader",
          "1 when this node knows a leader of its current term, else 0.",
          s->leader != 0);
    gauge(p, "raftkv_server_is_leader", "1 when this node is the leader.",
          leader);
    gauge(p, "raftkv_server_id", "This node's id.", s->id);
    gauge(p, "raftkv_server_leader_id", "The leader this node knows (0: none).",
          s->leader);
    counter(p, "raftkv_server_leader_changes_seen_total",
            "Times this node saw a new leader (a different one, or one "
            "after none).",
            s->leader_changes);
    gauge(p, "raftkv_server_term", "The node's current Raft term.", s->term);
    gauge(p, "raftkv_server_commit_index",
          "The highest log index this node knows committed.", s->commit);
    gauge(p, "raftkv_server_applied_index",
          "The highest log index applied to this node's state machine.",
          s->applied);
    counter(p, "raftkv_server_proposals_committed_total",
            "Log entries this node saw committed since it started.",
            s->commit - s->commit_at_start);
    counter(p, "raftkv_server_proposals_applied_total",
            "Log entries this node applied since it started.",
            s->applied - s->applied_at_start);
    gauge(p, "raftkv_server_proposals_pending",
          "Client writes this node proposed and has not answered yet.",
          s->node.writes_waiting);
    counter(p, "raftkv_server_proposals_failed_total",
            "Client writes answered without a known outcome or refused: "
            "CODE_RETRY, CODE_INVALID, CODE_UNAVAILABLE or "
            "DEADLINE_EXCEEDED.",
            s->proposals_failed);
    gauge(p, "raftkv_server_reads_pending",
          "Linearizable reads waiting for their ReadIndex round.",
          s->node.reads_waiting);
    gauge(p, "raftkv_server_requests_waiting",
          "Client calls waiting for the node's answer.", s->requests_waiting);
    counter(p, "raftkv_server_elections_started_total",
            "Elections this node started as a candidate.",
            s->raft.elections_started);
    gauge(p, "raftkv_server_log_entries",
          "Log entries this node holds after its latest snapshot.",
          s->last >= s->first ? s->last - s->first + 1 : 0);
    gauge(p, "raftkv_server_log_last_index",
          "The index of the last entry in this node's log.", s->last);
    gauge(p, "raftkv_server_snapshot_index",
          "The index of this node's latest snapshot (0: none).",
          s->node.snapshot_index);
    counter(p, "raftkv_server_snapshots_taken_total",
            "Snapshots this node took of its state machine.",
            s->node.snapshots_taken);
    counter(p, "raftkv_server_snapshots_installed_total",
            "Snapshots this node installed from a leader.",
            s->node.snapshots_installed);
    gauge(p, "raftkv_disk_wal_bytes",
          "Bytes of the write-ahead log's segment files.", s->wal_bytes);
    gauge(p, "raftkv_disk_snapshot_bytes", "Bytes of the snapshot files.",
          s->snapshot_bytes);
    histogram(p, "raftkv_disk_wal_fsync_duration_seconds",
              "Duration of the write-ahead log's fsyncs (one per batch of "
              "entries).",
              &s->wal_fsync_seconds);
    histogram(p, "raftkv_disk_snapshot_save_duration_seconds",
              "Duration of saving a snapshot durably (file, fsync, rename, "
              "directory fsync, log compaction).",
              &s->snapshot_save_seconds);
    gauge(p, "raftkv_kv_keys", "Keys in this node's state machine.", s->keys);
    gauge(p, "raftkv_kv_client_sessions",
          "Client sessions this node's state machine holds.", s->sessions);
    render_requests(s, p);
    render_network(s, p);
    cmd_prom_family(p, "raftkv_process_start_time_seconds", CMD_PROM_GAUGE,
                    "Start time of the process since the Unix epoch, in "
                    "seconds.");
    cmd_prom_value(p, "raftkv_process_start_time_seconds", NULL, 0,
                   s->start_time_s);
}

bool server_metrics_ready(const struct server_stats *s,
                          uint64_t now_ns,
                          char *why,
                          size_t why_len)
{
    if (s->published_ns == 0) {
        snprintf(why, why_len, "the node has not started yet");
        return false;
    }
    if (now_ns > s->published_ns &&
        now_ns - s->published_ns > SERVER_METRICS_STALE_NS) {
        snprintf(why, why_len,
                 "the node thread has not reported for %llu ms (stuck in "
                 "a write?)",
                 (unsigned long long)((now_ns - s->published_ns) / 1000000));
        return false;
    }
    if (s->leader == 0) {
        snprintf(why, why_len, "no leader known in term %llu",
                 (unsigned long long)s->term);
        return false;
    }
    if (s->applied < s->commit) {
        snprintf(why, why_len, "applied %llu of %llu committed entries",
                 (unsigned long long)s->applied, (unsigned long long)s->commit);
        return false;
    }
    snprintf(why, why_len, "leader %llu, term %llu, applied %llu",
             (unsigned long long)s->leader, (unsigned long long)s->term,
             (unsigned long long)s->applied);
    return true;
}

/* ------------------------------------------------------------------------ */
/* The HTTP endpoint                                                         */
/* ------------------------------------------------------------------------ */

struct server_metrics
{
    struct MHD_Daemon *daemon;
    int listen_fd;
    unsigned port;
    pthread_mutex_t lock;
    struct server_stats published; /* guarded by lock */
};

static enum MHD_Result respond(struct MHD_Connection *c,
                               unsigned status,
                               const char *content_type,
                               char *body, /* malloc'd; ownership passes */
                               size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    enum MHD_Result rv = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rv;
}

static enum MHD_Result respond_text(struct MHD_Connection *c,
                                    unsigned status,
                                    const char *fmt,
                                    ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result respond_text(struct MHD_Connection *c,
                                    unsigned status,
                                    const char *fmt,
                                    ...)
{
    char *body = malloc(512);
    if (body == NULL) {
        return MHD_NO;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(body, 512, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < 512 ? (size_t)n : 511;
    return respond(c, status, "text/plain; charset=utf-8", body, len);
}

/* The latest snapshot, copied out under the lock (NULL: out of memory). */
static struct server_stats *snapshot(struct server_metrics *m)
{
    struct server_stats *s = malloc(sizeof *s);
    if (s != NULL) {
        pthread_mutex_lock(&m->lock);
        *s = m->published;
        pthread_mutex_unlock(&m->lock);
    }
    return s;
}

static enum MHD_Result serve_metrics(struct server_metrics *m,
                                     struct MHD_Connection *c)
{
    struct server_stats *s = snapshot(m);
    if (s == NULL) {
        return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    if (s->published_ns == 0) {
        free(s);
        return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "the node has not started yet\n");
    }
    struct cmd_prom p;
    cmd_prom_init(&p, SERVER_METRICS_PAGE_MAX);
    server_metrics_render(s, &p);
    free(s);
    if (p.failed) {
        cmd_prom_fini(&p);
        return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "the page does not fit in %u bytes\n",
                            SERVER_METRICS_PAGE_MAX);
    }
    return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                   p.buf, p.len);
}

static enum MHD_Result serve_ready(struct server_metrics *m,
                                   struct MHD_Connection *c)
{
    struct server_stats *s = snapshot(m);
    if (s == NULL) {
        return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    char why[256];
    bool ready = server_metrics_ready(s, common_now_ns(), why, sizeof why);
    free(s);
    return respond_text(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                        "%s: %s\n", ready ? "ready" : "not ready", why);
}

static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *c,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    static char answered;
    struct server_metrics *m = cls;
    /* Every request is answered on the first call, when its headers are
     * in; a later call brings body bytes, which are never read: the
     * connection is closed instead. */
    if (*con_cls != NULL) {
        return MHD_NO;
    }
    *con_cls = &answered;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "only GET and HEAD\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        return serve_metrics(m, c);
    }
    if (strcmp(url, "/healthz") == 0) {
        return respond_text(c, MHD_HTTP_OK, "ok\n");
    }
    if (strcmp(url, "/readyz") == 0) {
        return serve_ready(m, c);
    }
    return respond_text(c, MHD_HTTP_NOT_FOUND,
                        "not found: /metrics, /healthz and /readyz are "
                        "served here\n");
}

/* Binds and listens on @address ourselves, for a message naming the
 * address and the system's reason when that fails. */
static int open_listener(const char *address,
                         int *out_fd,
                         bool *ipv6,
                         char *why,
                         size_t why_len)
{
    if (!cmd_address_valid(address, true)) {
        snprintf(why, why_len, "'%s' is not HOST:PORT", address);
        return COMMON_EINVAL;
    }
    const char *colon = strrchr(address, ':');
    char host[CMD_ADDRESS_MAX];
    size_t n = (size_t)(colon - address);
    if (address[0] == '[') {
        snprintf(host, sizeof host, "%.*s", (int)(n - 2), address + 1);
    } else {
        snprintf(host, sizeof host, "%.*s", (int)n, address);
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai != 0 || ai == NULL) {
        snprintf(why, why_len, "%s: cannot resolve '%s': %s", address, host,
                 gai_strerror(gai));
        return COMMON_EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    int one = 1;
    int err = 0;
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        err = errno;
    }
    *ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (err != 0) {
        if (fd >= 0) {
            close(fd);
        }
        snprintf(why, why_len, "%s: %s", address, strerror(err));
        return COMMON_EUNAVAILABLE;
    }
    *out_fd = fd;
    return 0;
}

int server_metrics_start(const char *address,
                         struct server_metrics **out,
                         char *why,
                         size_t why_len)
{
    struct server_metrics *m = calloc(1, sizeof *m);
    if (m == NULL) {
        snprintf(why, why_len, "out of memory");
        return COMMON_ENOMEM;
    }
    bool ipv6 = false;
    int rv = open_listener(address, &m->listen_fd, &ipv6, why, why_len);
    if (rv != 0) {
        free(m);
        return rv;
    }
    pthread_mutex_init(&m->lock, NULL);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | (ipv6 ? MHD_USE_IPv6 : 0);
    m->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET,
        m->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)SERVER_METRICS_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)SERVER_METRICS_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_METRICS_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_END);
    if (m->daemon == NULL) {
        snprintf(why, why_len, "%s: libmicrohttpd would not start", address);
        close(m->listen_fd);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return COMMON_EUNAVAILABLE;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info != NULL ? info->port : 0;
    *out = m;
    return 0;
}

unsigned server_metrics_port(const struct server_metrics *m)
{
    return m->port;
}

void server_metrics_publish(struct server_metrics *m,
                            const struct server_stats *s)
{
    pthread_mutex_lock(&m->lock);
    m->published = *s;
    pthread_mutex_unlock(&m->lock);
}

void server_metrics_stop(struct server_metrics *m)
{
    if (m == NULL) {
        return;
    }
    MHD_stop_daemon(m->daemon); /* closes the listening socket */
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ------------------------------------------------------------------------ */
/* The data directory's sizes                                                */
/* ------------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

void server_stats_scan_disk(struct server_stats *s, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return; /* the sizes stay as last seen */
    }
    uint64_t wal = 0;
    uint64_t snap = 0;
    struct dirent *e;
    /* Bounded by the directory: the WAL keeps few files. */
    while ((e = readdir(d)) != NULL) {
        bool is_wal = ends_with(e->d_name, ".log");
        bool is_snap = ends_with(e->d_name, ".snap");
        struct stat st;
        if ((is_wal || is_snap) && fstatat(dirfd(d), e->d_name, &st, 0) == 0) {
            *(is_wal ? &wal : &snap) += (uint64_t)st.st_size;
        }
    }
    closedir(d);
    s->wal_bytes = wal;
    s->snapshot_bytes = snap;
}
