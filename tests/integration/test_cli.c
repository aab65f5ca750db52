/*
 * cli_programs: raftkv-cli and raftkv-server as a user meets them - every
 * command and its exit code against a one-node cluster, bad flags (exit 2
 * with usage), an unreachable cluster (exit 3 after --timeout), a port in
 * use (exit 3), unusable and corrupt data directories (exit 2 naming the
 * file and offset), bad requests on the wire (INVALID_ARGUMENT,
 * RESOURCE_EXHAUSTED, UNIMPLEMENTED), the connection gate, TLS by default
 * and certificate errors named at start, and a clean SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/cmd.h"
#include "procs.h"
#include "transport/transport.h"

static char dir[512];
static pid_t server;
static unsigned port;
static char endpoint[64];
static char out[65536];
static char err[65536];

/* Runs a program with a NULL-terminated argument list. */
static int run(const char *prog, ...)
{
    char *argv[32] = {(char *)prog};
    int n = 1;
    va_list ap;
    va_start(ap, prog);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31) {
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    return procs_run(argv, out, sizeof out, err, sizeof err);
}

static void start_server(const char *data, unsigned p)
{
    char cluster[96];
    snprintf(cluster, sizeof cluster, "1=127.0.0.1:%u", p);
    char log[600];
    snprintf(log, sizeof log, "%s/server.log", dir);
    char *argv[] = {SERVER_BIN,   "--id",       "1",
                    "--cluster",  cluster,      "--data-dir",
                    (char *)data, "--insecure", NULL};
    server = procs_spawn(argv, log);
    assert_true(server > 0);
    /* Up once it answers a read. */
    uint64_t until = procs_now_ns() + 15000000000ull;
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%u", p);
    while (run(CLI_BIN, "--endpoints", ep, "--insecure", "--timeout", "0.5",
               "get", "none", NULL) != 1) {
        assert_true(procs_now_ns() < until);
        procs_sleep_ms(50);
    }
}

static int setup(void **state)
{
    (void)state;
    procs_tempdir("cli", dir, sizeof dir);
    assert_true(dir[0] != '\0');
    port = procs_free_port();
    snprintf(endpoint, sizeof endpoint, "127.0.0.1:%u", port);
    char data[600];
    snprintf(data, sizeof data, "%s/data", dir);
    start_server(data, port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (server > 0) {
        procs_stop(server, SIGKILL, 5000);
        server = 0;
    }
    procs_rmtree(dir);
    return 0;
}

#define CLI(...) \
    run(CLI_BIN, "--endpoints", endpoint, "--insecure", __VA_ARGS__, NULL)
/* raftkv-server in the foreground without TLS, for starts that fail. */
#define SERVER(id, cluster, data)                                         \
    run(SERVER_BIN, "--id", id, "--cluster", cluster, "--data-dir", data, \
        "--insecure", NULL)

/* Every command against a live node: output and exit codes. */
static void cli_commands_and_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(CLI("put", "k", "v1"), 0);
    assert_string_equal(out, "OK\n");
    assert_int_equal(CLI("get", "k"), 0);
    assert_string_equal(out, "v1\n"); /* the value alone */
    assert_int_equal(CLI("append", "k", "+2"), 0);
    assert_int_equal(CLI("get", "k"), 0);
    assert_string_equal(out, "v1+2\n");
    assert_int_equal(CLI("cas", "k", "nope", "v3"), 1);
    assert_non_null(strstr(err, "cas failed"));
    assert_int_equal(CLI("cas", "k", "v1+2", "v3"), 0);
    assert_int_equal(CLI("get", "k"), 0);
    assert_string_equal(out, "v3\n");
    assert_int_equal(CLI("cas", "--absent", "k", "v4"), 1);
    assert_int_equal(CLI("cas", "--absent", "fresh", "v4"), 0);
    assert_int_equal(CLI("delete", "k"), 0);
    assert_int_equal(CLI("delete", "k"), 1);
    assert_non_null(strstr(err, "key not found"));
    assert_int_equal(CLI("get", "k"), 1);
    assert_string_equal(out, "");
    /* Values that look like options, after "--"; empty values. */
    assert_int_equal(CLI("put", "--", "dash", "-x"), 0);
    assert_int_equal(CLI("get", "dash"), 0);
    assert_string_equal(out, "-x\n");
    assert_int_equal(CLI("put", "empty", ""), 0);
    assert_int_equal(CLI("get", "empty"), 0);
    assert_string_equal(out, "\n");
    /* Options after the command work too. */
    assert_int_equal(run(CLI_BIN, "get", "fresh", "--endpoints", endpoint,
                         "--insecure", NULL),
                     0);
    assert_string_equal(out, "v4\n");
    assert_int_equal(CLI("status"), 0);
    assert_non_null(strstr(out, "leader: node 1"));
    assert_non_null(strstr(out, " leader "));
}

/* The membership commands against a one-node cluster: the member table,
 * a learner added and removed, leadership handed to the leader itself,
 * refusals the leader gives (exit 1, its reason on stderr) and usage
 * errors (exit 2). */
static void cli_member_commands_and_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(CLI("member", "list"), 0);
    char row[128];
    snprintf(row, sizeof row, "1      %-28s voter    *\n", endpoint);
    assert_non_null(strstr(out, row));
    assert_int_equal(CLI("-w", "json", "member", "list"), 0);
    assert_non_null(strstr(out, "\"id\":1,"));
    assert_non_null(strstr(out, "\"role\":\"voter\",\"leader\":true"));
    char other[64];
    snprintf(other, sizeof other, "127.0.0.1:%u", procs_free_port());
    assert_int_equal(CLI("member", "add", "2", other, "--learner"), 0);
    snprintf(row, sizeof row, "2      %-28s learner\n", other);
    assert_non_null(strstr(out, row));
    assert_int_equal(CLI("member", "list"), 0);
    assert_non_null(strstr(out, row));
    /* Refusals: exit 1 with the leader's reason. */
    assert_int_equal(CLI("member", "add", "1", "127.0.0.1:1"), 1);
    assert_non_null(strstr(err, "ALREADY_EXISTS: node 1 is already a member"));
    assert_int_equal(CLI("member", "remove", "9"), 1);
    assert_non_null(strstr(err, "NOT_FOUND: node 9 is not a member"));
    assert_int_equal(CLI("member", "promote", "1"), 1);
    assert_non_null(strstr(err, "a voter already"));
    assert_int_equal(CLI("member", "remove", "1"), 1);
    assert_non_null(strstr(err, "only voter"));
    assert_int_equal(CLI("transfer-leader", "2"), 1);
    assert_non_null(strstr(err, "learner: only a voter can lead"));
    assert_int_equal(CLI("transfer-leader", "1"), 0);
    assert_string_equal(out, "OK: node 1 leads\n");
    assert_int_equal(CLI("member", "remove", "2"), 0);
    assert_null(strstr(out, other));
    /* Usage errors. */
    const char *bad[][5] = {
        {"member", NULL},
        {"member", "list", "x", NULL},
        {"member", "add", "2", NULL},
        {"member", "add", "x", "127.0.0.1:1", NULL},
        {"member", "add", "2", "nohost", NULL},
        {"member", "add", "0", "127.0.0.1:1", NULL},
        {"member", "promote", NULL},
        {"member", "remove", "-1", NULL},
        {"member", "list", "--learner", NULL},
        {"transfer-leader", NULL},
        {"transfer-leader", "1", "2", NULL},
        {"put", "k", "v", "--learner", NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *const *b = bad[k];
        int rc = run(CLI_BIN, "--endpoints", endpoint, "--insecure", b[0], b[1],
                     b[2], b[3], b[4], NULL);
        if (rc != 2 || strstr(err, "usage:") == NULL) {
            fail_msg("case %zu (%s %s): exit %d, stderr '%s'", k, b[0],
                     b[1] != NULL ? b[1] : "", rc, err);
        }
    }
}

/* The habits of etcdctl and getopt_long: --opt=value, RAFTKV_ENDPOINTS,
 * del, -w json (keys and values in base64), endpoint health, and one
 * compact row for an endpoint that does not answer. */
static void cli_fits_the_habits_of_the_field(void **state)
{
    (void)state;
    char eq[96];
    snprintf(eq, sizeof eq, "--endpoints=%s", endpoint);
    assert_int_equal(run(CLI_BIN, eq, "--insecure", "--timeout=5", "put",
                         "habit", "v", NULL),
                     0);
    assert_string_equal(out, "OK\n");
    assert_int_equal(setenv("RAFTKV_ENDPOINTS", endpoint, 1), 0);
    assert_int_equal(run(CLI_BIN, "--insecure", "get", "habit", NULL), 0);
    assert_string_equal(out, "v\n");
    assert_int_equal(
        run(CLI_BIN, "--insecure", "-w", "json", "get", "habit", NULL), 0);
    assert_non_null(strstr(out,
                           "\"command\":\"get\",\"key\":\"aGFiaXQ=\","
                           "\"result\":\"ok\""));
    assert_non_null(strstr(out, "\"value\":\"dg==\"}"));
    assert_int_equal(
        run(CLI_BIN, "--insecure", "del", "habit", "-w=json", NULL),
        2); /* -w=json is not how short options go */
    assert_int_equal(
        run(CLI_BIN, "--insecure", "del", "habit", "--write-out=json", NULL),
        0);
    assert_non_null(strstr(out, "\"command\":\"delete\""));
    assert_int_equal(
        run(CLI_BIN, "--insecure", "-w", "json", "get", "habit", NULL), 1);
    assert_non_null(strstr(out, "\"result\":\"not-found\""));
    assert_int_equal(
        run(CLI_BIN, "--insecure", "-w", "yaml", "get", "habit", NULL), 2);
    assert_non_null(strstr(err, "-w takes table or json"));
    assert_int_equal(run(CLI_BIN, "--insecure", "endpoint", "health", NULL), 0);
    assert_non_null(strstr(out, " is healthy: node 1, leader, term "));
    /* A second endpoint where nothing listens: one compact row, the
     * details on stderr, and an unhealthy endpoint is exit 3. */
    char two[160];
    snprintf(two, sizeof two, "%s,127.0.0.1:%u", endpoint, procs_free_port());
    assert_int_equal(setenv("RAFTKV_ENDPOINTS", two, 1), 0);
    assert_int_equal(
        run(CLI_BIN, "--insecure", "--timeout", "1", "status", NULL), 0);
    const char *row = strstr(out, "unreachable");
    assert_non_null(row);
    const char *eol = strchr(row, '\n');
    assert_non_null(eol);
    /* The row ends with the status name: no raw gRPC message in it. */
    assert_true(eol - row > 11 && strncmp(eol - 11, "UNAVAILABLE", 11) == 0);
    assert_null(memchr(row, ':', (size_t)(eol - row)));
    assert_non_null(strstr(err, "UNAVAILABLE"));
    assert_int_equal(run(CLI_BIN, "--insecure", "--timeout", "1", "-w", "json",
                         "status", NULL),
                     0);
    assert_non_null(strstr(out, "\"error\":\"UNAVAILABLE\""));
    assert_non_null(strstr(out, "\"leader\":{\"id\":1,"));
    assert_int_equal(run(CLI_BIN, "--insecure", "--timeout", "1", "endpoint",
                         "health", NULL),
                     3);
    assert_non_null(strstr(out, "is unhealthy: UNAVAILABLE"));
    assert_int_equal(unsetenv("RAFTKV_ENDPOINTS"), 0);
    assert_int_equal(run(CLI_BIN, "--insecure", "get", "habit", NULL), 2);
    assert_non_null(strstr(err, "RAFTKV_ENDPOINTS"));
}

/* Bad flags and arguments exit 2 with the usage line, before any network
 * activity. */
static void cli_and_server_bad_flags_exit_2(void **state)
{
    (void)state;
    assert_int_equal(run(CLI_BIN, NULL), 2);
    assert_non_null(strstr(err, "usage: raftkv-cli"));
    assert_int_equal(CLI("frobnicate", "k"), 2);
    assert_non_null(strstr(err, "unknown command"));
    assert_int_equal(CLI("get"), 2);
    assert_int_equal(CLI("put", "k"), 2);
    assert_int_equal(CLI("cas", "k", "a"), 2);
    assert_int_equal(CLI("get", "k", "extra"), 2);
    assert_int_equal(CLI("--bogus", "get", "k"), 2);
    assert_int_equal(CLI("--absent", "get", "k"), 2);
    assert_int_equal(
        run(CLI_BIN, "--endpoints", "nohostport", "get", "k", NULL), 2);
    assert_int_equal(run(CLI_BIN, "--endpoints", "h:99999", "get", "k", NULL),
                     2);
    assert_int_equal(CLI("--timeout", "-1", "get", "k"), 2);
    assert_int_equal(CLI("--timeout", "abc", "get", "k"), 2);
    assert_int_equal(run(CLI_BIN, "--help", NULL), 0);
    assert_non_null(strstr(out, "cas --absent"));

    assert_int_equal(run(SERVER_BIN, NULL), 2);
    assert_non_null(strstr(err, "usage: raftkv-server"));
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", "1=h:1", NULL),
                     2);
    assert_non_null(strstr(err, "required"));
    assert_int_equal(run(SERVER_BIN, "--id", "0", "--cluster", "1=h:1",
                         "--data-dir", dir, NULL),
                     2);
    assert_int_equal(run(SERVER_BIN, "--id", "2", "--cluster", "1=h:1",
                         "--data-dir", dir, NULL),
                     2);
    assert_non_null(strstr(err, "node 2 is not in --cluster"));
    /* getopt_long: --flag=value reads the same as --flag value. */
    assert_int_equal(
        run(SERVER_BIN, "--id=2", "--cluster=1=h:1", "--data-dir", dir, NULL),
        2);
    assert_non_null(strstr(err, "node 2 is not in --cluster"));
    assert_int_equal(
        run(SERVER_BIN, "--id=1", "--cluster=1=h:1", "--data-dir=", NULL), 2);
    assert_non_null(strstr(err, "--data-dir is empty"));
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", "1=h:1",
                         "--data-dir", dir, "stray", NULL),
                     2);
    assert_non_null(strstr(err, "unexpected stray"));
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", "1=h:1",
                         "--data-dir", dir, "--bogus", NULL),
                     2);
    assert_non_null(strstr(err, "unknown option --bogus"));
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", NULL), 2);
    assert_non_null(strstr(err, "missing a value after --cluster"));
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", "1=h:1,1=h:2",
                         "--data-dir", dir, NULL),
                     2);
    assert_non_null(strstr(err, "appears twice"));
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", "1=h",
                         "--data-dir", dir, NULL),
                     2);
    assert_int_equal(
        run(SERVER_BIN, "--id", "1", "--cluster", "1=h:1", "--data-dir", dir,
            "--election-ticks", "3", "--heartbeat-ticks", "3", NULL),
        2);
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", "1=h:1",
                         "--data-dir", dir, "--tick-ms", "0", NULL),
                     2);
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", "1=h:1",
                         "--data-dir", dir, "--wat", NULL),
                     2);
    assert_int_equal(run(SERVER_BIN, "--help", NULL), 0);
}

/* Nothing listening: the CLI keeps trying until its --timeout, then exits
 * 3 saying what it last saw. */
static void cli_unreachable_cluster_exits_3(void **state)
{
    (void)state;
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%u", procs_free_port());
    uint64_t t0 = procs_now_ns();
    assert_int_equal(run(CLI_BIN, "--endpoints", ep, "--insecure", "--timeout",
                         "0.6", "put", "k", "v", NULL),
                     3);
    uint64_t ms = (procs_now_ns() - t0) / 1000000;
    assert_true(ms >= 500 && ms < 5000);
    assert_non_null(strstr(err, "no answer within 0.6 s"));
    assert_non_null(strstr(err, "UNAVAILABLE"));
    assert_int_equal(run(CLI_BIN, "--endpoints", ep, "--insecure", "--timeout",
                         "0.5", "status", NULL),
                     3);
    assert_non_null(strstr(out, "unreachable"));
}

/* A port in use: exit 3 naming the address and the reason. */
static void server_port_in_use_exits_3(void **state)
{
    (void)state;
    char data[600];
    snprintf(data, sizeof data, "%s/other", dir);
    char cluster[96];
    snprintf(cluster, sizeof cluster, "1=%s", endpoint);
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", cluster,
                         "--data-dir", data, "--insecure", NULL),
                     3);
    assert_non_null(strstr(err, endpoint));
    assert_non_null(strstr(err, "Address already in use"));
}

/* A data directory that cannot be used - a file, one held by a running
 * server - is refused: exit 2 saying why. */
static void server_unusable_data_dir_exits_2(void **state)
{
    (void)state;
    char cluster[96];
    snprintf(cluster, sizeof cluster, "1=127.0.0.1:%u", procs_free_port());
    char file[600];
    snprintf(file, sizeof file, "%s/a-file", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", cluster,
                         "--data-dir", file, "--insecure", NULL),
                     2);
    assert_non_null(strstr(err, "cannot use data directory"));
    assert_non_null(strstr(err, file));
    char data[600];
    snprintf(data, sizeof data, "%s/data", dir);
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", cluster,
                         "--data-dir", data, "--insecure", NULL),
                     2);
    assert_non_null(strstr(err, "in use by another process"));
}

/* Bad bytes on the wire get gRPC's error statuses from the KV service,
 * and the node goes on serving. */
static void server_bad_requests_get_grpc_errors(void **state)
{
    (void)state;
    struct transport_grpc_client *c = NULL;
    assert_int_equal(transport_grpc_client_new(endpoint, NULL, &c), 0);
    struct transport_grpc_result res;
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    for (int m = 0; m < CMD_METHODS; m++) {
        assert_int_equal(
            transport_grpc_client_call(c, cmd_method_paths[m], junk,
                                       sizeof junk, 5000, &res),
            0);
        assert_int_equal(res.status, TRANSPORT_GRPC_INVALID_ARGUMENT);
        free(res.data);
    }
    /* Garbage on the peer service too. */
    assert_int_equal(transport_grpc_client_call(c, TRANSPORT_GRPC_RAFT_METHOD,
                                                junk, sizeof junk, 5000, &res),
                     0);
    assert_int_equal(res.status, TRANSPORT_GRPC_INVALID_ARGUMENT);
    free(res.data);
    /* A session without a sequence number. */
    struct kv_request req = {.client_id = 7, .seq = 0};
    req.key.base = "k";
    req.key.len = 1;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cmd_request_encode(CMD_PUT, &req, &buf, &len), 0);
    assert_int_equal(transport_grpc_client_call(c, cmd_method_paths[CMD_PUT],
                                                buf, len, 5000, &res),
                     0);
    free(buf);
    assert_int_equal(res.status, TRANSPORT_GRPC_INVALID_ARGUMENT);
    assert_non_null(strstr(res.message, "seq"));
    free(res.data);
    /* Too big for one log entry, and too big for gRPC itself. */
    size_t big = 2u << 20;
    uint8_t *huge = calloc(1, 10u << 20);
    assert_non_null(huge);
    req.seq = 1;
    req.value.base = huge;
    req.value.len = big;
    assert_int_equal(cmd_request_encode(CMD_PUT, &req, &buf, &len), 0);
    assert_int_equal(transport_grpc_client_call(c, cmd_method_paths[CMD_PUT],
                                                buf, len, 5000, &res),
                     0);
    free(buf);
    assert_int_equal(res.status, TRANSPORT_GRPC_RESOURCE_EXHAUSTED);
    free(res.data);
    assert_int_equal(transport_grpc_client_call(c, cmd_method_paths[CMD_PUT],
                                                huge, 10u << 20, 5000, &res),
                     0);
    assert_int_equal(res.status, TRANSPORT_GRPC_RESOURCE_EXHAUSTED);
    free(res.data);
    free(huge);
    /* A method nobody serves. */
    assert_int_equal(transport_grpc_client_call(c, "/raftkv.KV/Frobnicate",
                                                NULL, 0, 5000, &res),
                     0);
    assert_int_equal(res.status, TRANSPORT_GRPC_UNIMPLEMENTED);
    free(res.data);
    transport_grpc_client_free(c);
    /* Still serving. */
    assert_int_equal(CLI("put", "after", "bad"), 0);
}

/* A TCP connection to @port from source address @from (127.0.0.x), or -1
 * when the connect itself fails. */
static int connect_from(const char *from, unsigned p)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)p)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* What the server did with @fd so far: 1 admitted (gRPC sent its HTTP/2
 * settings, which it does at once on a connection it takes, and has not
 * closed it), 0 refused or closed (reset or end of stream), -1 not known
 * yet (nothing arrived). *@admitted remembers the settings across calls;
 * what arrives is read and dropped. */
static int fate(int fd, bool *admitted)
{
    if (fd < 0) {
        return 0;
    }
    char b[4096];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (n > 0) {
            *admitted = true;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            return 0;
        }
        return *admitted ? 1 : -1;
    }
}

/* The connection gate: a source address gets at most
 * --max-connections-per-ip connections, all addresses together at most
 * --max-connections; what is over is closed at once and logged (at most a
 * line a second); the cluster's own address (a member's host) is never
 * refused, so the CLI from 127.0.0.1 goes on working; and the server raises
 * its descriptor limit to the hard one. */
static void server_connection_gate_refuses_what_is_over(void **state)
{
    (void)state;
    char data[600];
    char log[600];
    char cluster[96];
    char ep[64];
    unsigned p = procs_free_port();
    snprintf(data, sizeof data, "%s/gate", dir);
    snprintf(log, sizeof log, "%s/gate.log", dir);
    snprintf(cluster, sizeof cluster, "1=127.0.0.1:%u", p);
    snprintf(ep, sizeof ep, "127.0.0.1:%u", p);
    char *argv[] = {SERVER_BIN,
                    "--id",
                    "1",
                    "--cluster",
                    cluster,
                    "--data-dir",
                    data,
                    "--insecure",
                    "--max-connections",
                    "8",
                    "--max-connections-per-ip",
                    "5",
                    NULL};
    pid_t pid = procs_spawn(argv, log);
    assert_true(pid > 0);
    uint64_t until = procs_now_ns() + 15000000000ull;
    while (run(CLI_BIN, "--endpoints", ep, "--insecure", "--timeout", "0.5",
               "get", "none", NULL) != 1) {
        assert_true(procs_now_ns() < until);
        procs_sleep_ms(50);
    }
    int fds[3][10];
    const char *from[3] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
    for (int a = 0; a < 3; a++) {
        for (int k = 0; k < 10; k++) {
            fds[a][k] = connect_from(from[a], p);
        }
    }
    /* Counted once the server has decided every connection: admitted
     * ones get gRPC's settings, refused ones are closed. How long that
     * takes depends on the machine, not what it decides (at most 400
     * polls 25 ms apart). */
    bool admitted[3][10];
    memset(admitted, 0, sizeof admitted);
    int open_per[3] = {0, 0, 0};
    int open_total = 0;
    for (unsigned poll = 0; poll < 400; poll++) {
        bool known = true;
        memset(open_per, 0, sizeof open_per);
        open_total = 0;
        for (int a = 0; a < 3; a++) {
            for (int k = 0; k < 10; k++) {
                int f = fate(fds[a][k], &admitted[a][k]);
                known = known && f >= 0;
                open_per[a] += f == 1;
                open_total += f == 1;
            }
        }
        if (known) {
            break;
        }
        procs_sleep_ms(25);
    }
    print_message("held open: %d, %d, %d\n", open_per[0], open_per[1],
                  open_per[2]);
    assert_int_equal(open_per[0], 5);
    assert_true(open_per[1] <= 5 && open_per[2] <= 5);
    /* The CLI's own connection (if it still held one) counts too. */
    assert_true(open_total <= 8 && open_total >= 6);
    /* The cluster's own host is not refused. */
    assert_int_equal(run(CLI_BIN, "--endpoints", ep, "--insecure", "put",
                         "gated", "still", NULL),
                     0);
    for (int a = 0; a < 3; a++) {
        for (int k = 0; k < 10; k++) {
            if (fds[a][k] >= 0) {
                close(fds[a][k]);
            }
        }
    }
    /* Closed connections are forgotten: the address gets in again. */
    until = procs_now_ns() + 10000000000ull;
    for (;;) {
        int fd = connect_from("127.0.0.2", p);
        bool was_admitted = false;
        int f = -1;
        for (unsigned poll = 0; poll < 400 && f < 0; poll++) {
            procs_sleep_ms(25);
            f = fate(fd, &was_admitted);
        }
        bool ok = f == 1;
        if (fd >= 0) {
            close(fd);
        }
        if (ok) {
            break;
        }
        assert_true(procs_now_ns() < until);
    }
    char status_path[64];
    snprintf(status_path, sizeof status_path, "/proc/%d/limits", (int)pid);
    FILE *f = fopen(status_path, "r");
    assert_non_null(f);
    char line[256];
    bool raised = false;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long soft = 0;
        unsigned long long hard = 0;
        if (sscanf(line, "Max open files %llu %llu", &soft, &hard) == 2) {
            raised = soft == hard;
        }
    }
    fclose(f);
    assert_true(raised);
    assert_int_equal(procs_stop(pid, SIGTERM, 10000), 0);
    FILE *lf = fopen(log, "r");
    assert_non_null(lf);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, lf);
    fclose(lf);
    text[n] = '\0';
    assert_non_null(strstr(text, "over the cap per address"));
    assert_non_null(strstr(text, "connections: at most 8"));
}

/* TLS is on by default: a server or a CLI given neither the TLS files nor
 * --insecure refuses to start naming both; --insecure says on stderr what
 * it gives away; bad certificate files are refused at start naming the
 * file and the problem (exit 2, before the data directory is touched);
 * and a TLS server serves a CLI with the client certificate, not one
 * without TLS. */
static void programs_tls_by_default_and_certificate_errors(void **state)
{
    (void)state;
    char certs[600];
    snprintf(certs, sizeof certs, "%s/certs", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' 1 >/dev/null && '%s' '%s' '%s' >/dev/null", GEN_CERTS,
             certs, BAD_CERTS, certs, GEN_CERTS);
    assert_int_equal(system(cmd), 0);
    char ca[700];
    char crt[700];
    char key[700];
    char expired[700];
    char expired_key[700];
    char nosan[700];
    char nosan_key[700];
    char other_ca[700];
    char client_crt[700];
    char client_key[700];
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    snprintf(crt, sizeof crt, "%s/node-1.crt", certs);
    snprintf(key, sizeof key, "%s/node-1.key", certs);
    snprintf(expired, sizeof expired, "%s/expired.crt", certs);
    snprintf(expired_key, sizeof expired_key, "%s/expired.key", certs);
    snprintf(nosan, sizeof nosan, "%s/nosan.crt", certs);
    snprintf(nosan_key, sizeof nosan_key, "%s/nosan.key", certs);
    snprintf(other_ca, sizeof other_ca, "%s/other/ca.crt", certs);
    snprintf(client_crt, sizeof client_crt, "%s/client.crt", certs);
    snprintf(client_key, sizeof client_key, "%s/client.key", certs);
    char data[600];
    snprintf(data, sizeof data, "%s/tls-data", dir);
    unsigned p = procs_free_port();
    char cluster[96];
    snprintf(cluster, sizeof cluster, "1=127.0.0.1:%u", p);
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%u", p);

    /* Neither TLS nor --insecure. */
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", cluster,
                         "--data-dir", data, NULL),
                     2);
    assert_non_null(strstr(err, "TLS is on by default"));
    assert_non_null(strstr(err, "--tls-cert FILE --tls-key FILE --tls-ca"));
    assert_non_null(strstr(err, "--insecure"));
    assert_int_equal(run(CLI_BIN, "--endpoints", ep, "get", "k", NULL), 2);
    assert_non_null(strstr(err, "TLS is on by default"));
    /* Half the flags, or both ways at once. */
    assert_int_equal(
        run(SERVER_BIN, "--id", "1", "--cluster", cluster, "--data-dir", data,
            "--tls-cert", crt, "--tls-ca", ca, NULL),
        2);
    assert_non_null(strstr(err, "missing --tls-key"));
    assert_int_equal(
        run(SERVER_BIN, "--id", "1", "--cluster", cluster, "--data-dir", data,
            "--insecure", "--tls-ca", ca, NULL),
        2);
    assert_non_null(strstr(err, "contradict"));
    /* Bad files, each named. */
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster", cluster,
                         "--data-dir", data, "--tls-cert", expired, "--tls-key",
                         expired_key, "--tls-ca", ca, NULL),
                     2);
    assert_non_null(strstr(err, "expired.crt: the certificate expired on"));
    assert_int_equal(
        run(SERVER_BIN, "--id", "1", "--cluster", cluster, "--data-dir", data,
            "--tls-cert", crt, "--tls-key", key, "--tls-ca", other_ca, NULL),
        2);
    assert_non_null(strstr(err, "node-1.crt: not signed by the CA in"));
    assert_non_null(strstr(err, "other/ca.crt"));
    assert_int_equal(
        run(SERVER_BIN, "--id", "1", "--cluster", cluster, "--data-dir", data,
            "--tls-cert", nosan, "--tls-key", nosan_key, "--tls-ca", ca, NULL),
        2);
    assert_non_null(strstr(err, "nosan.crt: names no raft-kv node"));
    assert_int_equal(
        run(SERVER_BIN, "--id", "2", "--cluster", "1=127.0.0.1:1,2=127.0.0.1:2",
            "--data-dir", data, "--tls-cert", crt, "--tls-key", key, "--tls-ca",
            ca, NULL),
        2);
    assert_non_null(strstr(err, "is the certificate of node 1, not 2"));
    assert_int_equal(run(SERVER_BIN, "--id", "1", "--cluster",
                         "1=10.9.8.7:7001", "--data-dir", data, "--tls-cert",
                         crt, "--tls-key", key, "--tls-ca", ca, NULL),
                     2);
    assert_non_null(strstr(err, "does not name 10.9.8.7"));
    assert_int_equal(
        run(CLI_BIN, "--endpoints", ep, "--tls-ca", ca, "--tls-cert", expired,
            "--tls-key", expired_key, "get", "k", NULL),
        2);
    assert_non_null(strstr(err, "expired.crt: the certificate expired on"));
    /* The data directory was not touched by any of these. */
    struct stat st;
    assert_int_not_equal(stat(data, &st), 0);

    /* A TLS server: the CLI with the client certificate gets through; one
     * without a certificate, or without TLS, does not. */
    char log[600];
    snprintf(log, sizeof log, "%s/tls.log", dir);
    char *argv[] = {SERVER_BIN, "--id",       "1",  "--cluster",
                    cluster,    "--data-dir", data, "--tls-cert",
                    crt,        "--tls-key",  key,  "--tls-ca",
                    ca,         NULL};
    pid_t pid = procs_spawn(argv, log);
    assert_true(pid > 0);
    uint64_t until = procs_now_ns() + 15000000000ull;
    while (run(CLI_BIN, "--endpoints", ep, "--tls-ca", ca, "--tls-cert",
               client_crt, "--tls-key", client_key, "--timeout", "0.5", "put",
               "secure", "yes", NULL) != 0) {
        assert_true(procs_now_ns() < until);
        procs_sleep_ms(50);
    }
    assert_int_equal(
        run(CLI_BIN, "--endpoints", ep, "--tls-ca", ca, "--tls-cert",
            client_crt, "--tls-key", client_key, "get", "secure", NULL),
        0);
    assert_string_equal(out, "yes\n");
    assert_int_equal(run(CLI_BIN, "--endpoints", ep, "--tls-ca", ca,
                         "--timeout", "1", "get", "secure", NULL),
                     3);
    assert_non_null(strstr(err, "may require a client certificate"));
    assert_int_equal(run(CLI_BIN, "--endpoints", ep, "--insecure", "--timeout",
                         "1", "get", "secure", NULL),
                     3);
    assert_non_null(strstr(err, "is the cluster running with TLS?"));
    assert_int_equal(procs_stop(pid, SIGTERM, 10000), 0);

    /* --insecure says what it gives away. */
    char data2[600];
    snprintf(data2, sizeof data2, "%s/insecure-data", dir);
    unsigned p2 = procs_free_port();
    char cluster2[96];
    snprintf(cluster2, sizeof cluster2, "1=127.0.0.1:%u", p2);
    char log2[600];
    snprintf(log2, sizeof log2, "%s/insecure.log", dir);
    char *argv2[] = {SERVER_BIN,   "--id", "1",          "--cluster", cluster2,
                     "--data-dir", data2,  "--insecure", NULL};
    pid = procs_spawn(argv2, log2);
    assert_true(pid > 0);
    until = procs_now_ns() + 15000000000ull;
    char text[4096] = "";
    for (;;) {
        FILE *f = fopen(log2, "r");
        if (f != NULL) {
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = '\0';
            fclose(f);
        }
        if (strstr(text, "serving on") != NULL) {
            break;
        }
        assert_true(procs_now_ns() < until);
        procs_sleep_ms(20);
    }
    assert_non_null(strstr(text, "WARNING: --insecure: no TLS"));
    assert_non_null(strstr(text, "send Raft messages as any node"));
    assert_int_equal(procs_stop(pid, SIGTERM, 10000), 0);
}

/* A data directory belongs to one node of one cluster: started with
 * another --id, or with a map that is not the one it was made with (here
 * one that lists only this node, which once let a lone node lead a term
 * of its own), the server refuses, naming DIR/IDENTITY, what it records
 * and what was given, exit 2; started as it was made, it serves. */
static void server_refuses_another_identity(void **state)
{
    (void)state;
    assert_int_equal(CLI("put", "who", "node 1"), 0);
    assert_int_equal(procs_stop(server, SIGTERM, 10000), 0);
    server = 0;
    char data[600];
    snprintf(data, sizeof data, "%s/data", dir);
    char two[160];
    snprintf(two, sizeof two, "1=%s,2=127.0.0.1:1", endpoint);
    assert_int_equal(SERVER("2", two, data), 2);
    assert_non_null(strstr(err, "refusing to start"));
    assert_non_null(strstr(err, "/data/IDENTITY records node 1"));
    assert_non_null(strstr(err, "--id says 2"));
    assert_int_equal(SERVER("1", two, data), 2);
    assert_non_null(strstr(err, "but --cluster gives"));
    assert_non_null(strstr(err, two));
    char moved[96];
    snprintf(moved, sizeof moved, "1=127.0.0.1:%u", procs_free_port());
    assert_int_equal(SERVER("1", moved, data), 2);
    assert_non_null(strstr(err, moved));
    start_server(data, port);
    assert_int_equal(CLI("get", "who"), 0);
    assert_non_null(strstr(out, "node 1"));
}

/* --join refuses a data directory that belongs to a cluster (naming its
 * IDENTITY), flags that do not go together, an id that is a voter
 * already (exit 2), and a cluster nobody answers for (exit 3). */
static void server_join_refusals(void **state)
{
    (void)state;
    char data[600];
    char fresh[600];
    char listen[64];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(fresh, sizeof fresh, "%s/fresh", dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", procs_free_port());
    assert_int_equal(
        run(SERVER_BIN, "--id", "2", "--join", endpoint, "--listen", listen,
            "--data-dir", data, "--insecure", NULL),
        2);
    char want[700];
    snprintf(want, sizeof want, "refusing --join: %s/IDENTITY records node 1",
             data);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "belongs to a cluster already"));
    /* Flags that do not go together. */
    assert_int_equal(run(SERVER_BIN, "--id", "2", "--join", endpoint,
                         "--data-dir", fresh, "--insecure", NULL),
                     2);
    assert_non_null(strstr(err, "--join needs --listen"));
    assert_int_equal(
        run(SERVER_BIN, "--id", "2", "--join", endpoint, "--listen", listen,
            "--cluster", "1=h:1", "--data-dir", fresh, "--insecure", NULL),
        2);
    assert_non_null(strstr(err, "exclude each other"));
    assert_int_equal(run(SERVER_BIN, "--id", "2", "--join-as-learner",
                         "--data-dir", fresh, "--insecure", NULL),
                     2);
    assert_non_null(strstr(err, "goes with --join"));
    assert_int_equal(
        run(SERVER_BIN, "--id", "2", "--join", "nohost", "--listen", listen,
            "--data-dir", fresh, "--insecure", NULL),
        2);
    assert_non_null(strstr(err, "'nohost' is not HOST:PORT"));
    /* Without --cluster, a new directory has no map to start from. */
    assert_int_equal(
        run(SERVER_BIN, "--id", "2", "--data-dir", fresh, "--insecure", NULL),
        2);
    assert_non_null(strstr(err, "has no IDENTITY yet"));
    /* Node 1 is a voter already. */
    assert_int_equal(
        run(SERVER_BIN, "--id", "1", "--join", endpoint, "--listen", listen,
            "--data-dir", fresh, "--insecure", NULL),
        2);
    assert_non_null(strstr(err, "node 1 is a voter of cluster"));
    /* Nobody answers. */
    char nobody[64];
    snprintf(nobody, sizeof nobody, "127.0.0.1:%u", procs_free_port());
    assert_int_equal(run(SERVER_BIN, "--id", "2", "--join", nobody, "--listen",
                         listen, "--data-dir", fresh, "--insecure",
                         "--request-timeout", "0.5", NULL),
                     3);
    assert_non_null(strstr(err, "cannot join: no member list"));
    /* None of that left an identity behind. */
    char path[700];
    snprintf(path, sizeof path, "%s/IDENTITY", fresh);
    assert_int_equal(access(path, F_OK), -1);
}

/* Damage in the middle of the log: the server refuses to start, naming the
 * file and the offset, exit 2; SIGTERM before that stops it with 0. */
static void server_refuses_corrupt_storage(void **state)
{
    (void)state;
    for (int k = 0; k < 20; k++) {
        char key[16];
        snprintf(key, sizeof key, "c%d", k);
        assert_int_equal(CLI("put", key, "some value to fill the log"), 0);
    }
    assert_int_equal(procs_stop(server, SIGTERM, 10000), 0);
    server = 0;
    char data[600];
    snprintf(data, sizeof data, "%s/data", dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "ls %s/*.log", data);
    FILE *ls = popen(cmd, "r");
    assert_non_null(ls);
    char seg[700] = "";
    assert_non_null(fgets(seg, sizeof seg, ls));
    pclose(ls);
    seg[strcspn(seg, "\n")] = '\0';
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    assert_true(st.st_size > 400);
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    off_t at = st.st_size / 2;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
    char cluster[96];
    snprintf(cluster, sizeof cluster, "1=%s", endpoint);
    assert_int_equal(SERVER("1", cluster, data), 2);
    assert_non_null(strstr(err, "refusing to start"));
    assert_non_null(strstr(err, ".log"));
    assert_non_null(strstr(err, "offset"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli_commands_and_exit_codes),
        cmocka_unit_test(cli_member_commands_and_exit_codes),
        cmocka_unit_test(server_join_refusals),
        cmocka_unit_test(cli_fits_the_habits_of_the_field),
        cmocka_unit_test(cli_and_server_bad_flags_exit_2),
        cmocka_unit_test(cli_unreachable_cluster_exits_3),
        cmocka_unit_test(server_port_in_use_exits_3),
        cmocka_unit_test(server_unusable_data_dir_exits_2),
        cmocka_unit_test(server_bad_requests_get_grpc_errors),
        cmocka_unit_test(server_connection_gate_refuses_what_is_over),
        cmocka_unit_test(programs_tls_by_default_and_certificate_errors),
        cmocka_unit_test(server_refuses_another_identity),
        cmocka_unit_test(server_refuses_corrupt_storage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
