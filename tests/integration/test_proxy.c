/*
 * proxy_processes: raftkv-server --proxy (docs/api.md, "Follower proxy")
 * with three real servers over TLS.
 *
 * - Clients that speak to one follower only, never following a redirect,
 *   append unique tokens with sessions while leadership is handed to the
 *   other follower and back (raftkv-cli transfer-leader): every
 *   acknowledged append is in the final value exactly once, on every node
 *   (they converge to one digest), and the recorded history is
 *   linearizable (lincheck).
 * - A call that another node forwarded already (marked raftkv-proxied) is
 *   never forwarded again: a follower answers it CODE_NOT_LEADER.
 * - Beyond --proxy-max-calls a follower answers CODE_NOT_LEADER naming
 *   the leader, as without --proxy.
 *
 * Servers die with the test (PR_SET_PDEATHSIG); RAFTKV_KEEP_TMP=1 keeps
 * the temporary directory (logs, history).
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cmd.h"
#include "procs.h"
#include "servers.h"
#include "transport/transport.h"

#define NODES   3
#define WORKERS 2
#define OPS_MAX 512
/* Attempts of one operation before it is recorded as unknown (info). */
#define ATTEMPTS_MAX 200

struct fixture
{
    char dir[512];
    struct servers sv;
    char spec[256];
    char endpoints[256];
    char certs[600];
    struct transport_grpc_tls tls; /* the client's */
};

static struct fixture fx;

/* The paths of the CA and of @who's certificate and key ("client",
 * "node-4"), each in a buffer of CERT_PATH_MAX bytes. */
#define CERT_PATH_MAX 700

static void cert_paths(const char *who, char *ca, char *cert, char *key)
{
    snprintf(ca, CERT_PATH_MAX, "%s/ca.crt", fx.certs);
    snprintf(cert, CERT_PATH_MAX, "%s/%s.crt", fx.certs, who);
    snprintf(key, CERT_PATH_MAX, "%s/%s.key", fx.certs, who);
}

/* Starts node @k (index) with --proxy and the extra flags @extra (NULL
 * terminated, at most 6). */
static void node_start(int k, char *const extra[])
{
    char id[16];
    char data[600];
    char log[600];
    char who[16];
    char ca[CERT_PATH_MAX];
    char cert[CERT_PATH_MAX];
    char key[CERT_PATH_MAX];
    snprintf(id, sizeof id, "%d", k + 1);
    snprintf(data, sizeof data, "%s/node%d", fx.dir, k + 1);
    snprintf(log, sizeof log, "%s/node%d.log", fx.dir, k + 1);
    snprintf(who, sizeof who, "node-%d", k + 1);
    cert_paths(who, ca, cert, key);
    char *argv[24] = {SERVER_BIN, "--id",       id,   "--cluster",
                      fx.spec,    "--data-dir", data, "--tls-cert",
                      cert,       "--tls-key",  key,  "--tls-ca",
                      ca,         "--proxy"};
    int n = 14;
    for (int j = 0; extra != NULL && extra[j] != NULL && n < 23; j++) {
        argv[n++] = extra[j];
    }
    argv[n] = NULL;
    fx.sv.pids[k] = procs_spawn(argv, log);
    assert_true(fx.sv.pids[k] > 0);
}

/* Certificates, ports and three servers; node 3 gets @extra3. */
static void cluster_start(char *const extra3[])
{
    memset(&fx, 0, sizeof fx);
    procs_tempdir("proxy", fx.dir, sizeof fx.dir);
    assert_true(fx.dir[0] != '\0');
    snprintf(fx.certs, sizeof fx.certs, "%s/certs", fx.dir);
    char *gen[] = {GEN_CERTS, fx.certs, "1", "2", "3", "4", NULL};
    assert_int_equal(procs_run(gen, NULL, 0, NULL, 0), 0);
    char ca[CERT_PATH_MAX];
    char cert[CERT_PATH_MAX];
    char key[CERT_PATH_MAX];
    cert_paths("client", ca, cert, key);
    struct transport_grpc_tls_files files = {
        .ca_file = ca, .cert_file = cert, .key_file = key};
    char why[512];
    assert_int_equal(transport_grpc_tls_load(&files, &fx.tls, why, sizeof why),
                     0);
    fx.sv.tls = &fx.tls;
    assert_true(servers_init(&fx.sv, NODES, fx.spec, sizeof fx.spec,
                             fx.endpoints, sizeof fx.endpoints));
    for (int k = 0; k < NODES; k++) {
        node_start(k, k == NODES - 1 ? extra3 : NULL);
    }
}

static int setup_plain(void **state)
{
    (void)state;
    cluster_start(NULL);
    return 0;
}

/* Node 3 forwards one call at a time and never campaigns while the test
 * runs (an election timeout of 20 to 40 s), so it keeps the leader it
 * knows while the other two are stopped. */
static int setup_capped(void **state)
{
    (void)state;
    char *extra[] = {"--proxy-max-calls", "1", "--election-ticks", "1000",
                     NULL};
    cluster_start(extra);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int k = 0; k < NODES; k++) {
        if (fx.sv.pids[k] > 0) {
            kill(fx.sv.pids[k], SIGCONT);
        }
    }
    servers_kill(&fx.sv);
    const char *keep = getenv("RAFTKV_KEEP_TMP");
    if (keep != NULL && strcmp(keep, "1") == 0) {
        fprintf(stderr, "kept %s\n", fx.dir);
    } else {
        procs_rmtree(fx.dir);
    }
    transport_grpc_tls_fini(&fx.tls);
    return 0;
}

/* A leader, and a follower that knows it; their indexes in @leader and
 * @follower, the third node in @other. */
static void roles(int *leader, int *follower, int *other)
{
    *leader = servers_leader(&fx.sv, 15000, NULL);
    assert_true(*leader >= 0);
    *follower = (*leader + 1) % NODES;
    *other = (*leader + 2) % NODES;
    struct cmd_status st;
    for (int k = 0; k < 750; k++) {
        if (servers_status(&fx.sv, *follower, &st) && st.leader_id != 0) {
            return;
        }
        procs_sleep_ms(20);
    }
    fail_msg("node %d never learned the leader", *follower + 1);
}

/* One call of @method with @req to @c: its gRPC status in @status and,
 * when OK, the decoded answer in @out. */
static void call(struct transport_grpc_client *c,
                 enum cmd_method method,
                 const struct kv_request *req,
                 int *status,
                 struct cmd_response *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cmd_request_encode(method, req, &buf, &len), 0);
    struct transport_grpc_result res;
    assert_int_equal(transport_grpc_client_call(c, cmd_method_paths[method],
                                                buf, len, 20000, &res),
                     0);
    free(buf);
    *status = res.status;
    memset(out, 0, sizeof *out);
    if (res.status == TRANSPORT_GRPC_OK) {
        assert_int_equal(cmd_response_decode(method, res.data, res.len, out),
                         0);
    }
    free(res.data);
}

/* ------------------------------------------------------------------------ */
/* Exactly once through a follower across leader changes                     */
/* ------------------------------------------------------------------------ */

struct load
{
    pthread_mutex_t lock;
    FILE *history;
    uint64_t t0;
    bool stop;
    uint64_t acked;
    unsigned anomalies;
    unsigned redirects;          /* CODE_NOT_LEADER answers (retried) */
    char sent[WORKERS][OPS_MAX]; /* 'y' acknowledged, 'i' unknown */
    char address[64];            /* the follower every worker uses */
};

static struct load ld;

static void record(int process, const char *type, const char *f, const char *v)
{
    pthread_mutex_lock(&ld.lock);
    fprintf(ld.history,
            "{\"process\":%d,\"type\":\"%s\",\"f\":\"%s\",\"key\":\"a\"%s%s,"
            "\"time\":%llu}\n",
            process, type, f, v != NULL ? ",\"value\":" : "",
            v != NULL ? v : "", (unsigned long long)(procs_now_ns() - ld.t0));
    pthread_mutex_unlock(&ld.lock);
}

static bool load_stopping(void)
{
    pthread_mutex_lock(&ld.lock);
    bool s = ld.stop;
    pthread_mutex_unlock(&ld.lock);
    return s;
}

/* Sends @req until an answer settles it: true with @out for CODE_OK (and,
 * reads, CODE_NOT_FOUND); false when the attempts ran out or the answer
 * was not one a retry may follow. Retries the same request (the same
 * session and seq) after NOT_LEADER, RETRY, UNAVAILABLE and
 * DEADLINE_EXCEEDED: exactly once is the leader's to keep. */
static bool settle(struct transport_grpc_client *c,
                   enum cmd_method method,
                   const struct kv_request *req,
                   struct cmd_response *out)
{
    for (int a = 0; a < ATTEMPTS_MAX; a++) {
        int status = 0;
        call(c, method, req, &status, out);
        if (status == TRANSPORT_GRPC_OK &&
            (out->code == KV_OK ||
             (method == CMD_GET && out->code == KV_NOT_FOUND))) {
            return true;
        }
        free(out->value);
        out->value = NULL;
        bool retry = status == TRANSPORT_GRPC_UNAVAILABLE ||
                     status == TRANSPORT_GRPC_DEADLINE_EXCEEDED ||
                     (status == TRANSPORT_GRPC_OK &&
                      (out->code == KV_NOT_LEADER || out->code == KV_RETRY));
        pthread_mutex_lock(&ld.lock);
        ld.redirects +=
            status == TRANSPORT_GRPC_OK && out->code == KV_NOT_LEADER;
        ld.anomalies += !retry;
        pthread_mutex_unlock(&ld.lock);
        if (!retry) {
            fprintf(stderr, "unexpected answer: %s, code %d: %s\n",
                    transport_grpc_status_name(status), (int)out->code,
                    out->message);
            return false;
        }
        procs_sleep_ms(10);
    }
    return false;
}

static void *worker(void *arg)
{
    int p = (int)(intptr_t)arg;
    struct transport_grpc_client *c = NULL;
    assert_int_equal(transport_grpc_client_new(ld.address, &fx.tls, &c), 0);
    struct kv_request reg = {.op = KV_OP_REGISTER};
    struct cmd_response r;
    if (!settle(c, CMD_REGISTER, &reg, &r)) {
        transport_grpc_client_free(c);
        return NULL;
    }
    uint64_t session = r.client_id;
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(unsigned)(p + 1);
    uint64_t seq = 0;
    for (unsigned n = 0; n < OPS_MAX && !load_stopping(); n++) {
        x = common_mix64(x);
        char value[32];
        char json[48];
        if (x % 4 == 0) {
            struct kv_request get = {.op = KV_OP_GET,
                                     .key = {.base = "a", .len = 1}};
            record(p, "invoke", "get", NULL);
            if (!settle(c, CMD_GET, &get, &r)) {
                record(p, "info", "get", NULL);
                continue;
            }
            if (r.found) {
                char *j = malloc(r.value_len + 3);
                assert_non_null(j);
                snprintf(j, r.value_len + 3, "\"%.*s\"", (int)r.value_len,
                         (const char *)r.value);
                record(p, "ok", "get", j);
                free(j);
            } else {
                record(p, "ok", "get", "null");
            }
            free(r.value);
            continue;
        }
        snprintf(value, sizeof value, "p%d.%u;", p, n);
        snprintf(json, sizeof json, "\"%s\"", value);
        struct kv_request app = {
            .op = KV_OP_APPEND,
            .client_id = session,
            .seq = ++seq,
            .key = {.base = "a", .len = 1},
            .value = {.base = value, .len = strlen(value)},
        };
        record(p, "invoke", "append", json);
        bool ok = settle(c, CMD_APPEND, &app, &r);
        record(p, ok ? "ok" : "info", "append", json);
        pthread_mutex_lock(&ld.lock);
        ld.sent[p][n] = ok ? 'y' : 'i';
        ld.acked += ok;
        pthread_mutex_unlock(&ld.lock);
    }
    transport_grpc_client_free(c);
    return NULL;
}

static uint64_t acked(void)
{
    pthread_mutex_lock(&ld.lock);
    uint64_t n = ld.acked;
    pthread_mutex_unlock(&ld.lock);
    return n;
}

/* Waits (at most 120 s) for @n more acknowledged appends. */
static void wait_acked(uint64_t n)
{
    uint64_t want = acked() + n;
    for (int k = 0; k < 6000 && acked() < want; k++) {
        procs_sleep_ms(20);
    }
    assert_true(acked() >= want);
}

/* Hands leadership to node @k (index) with raftkv-cli. */
static void transfer_to(int k)
{
    char id[16];
    char ca[CERT_PATH_MAX];
    char cert[CERT_PATH_MAX];
    char key[CERT_PATH_MAX];
    snprintf(id, sizeof id, "%d", k + 1);
    cert_paths("client", ca, cert, key);
    char *argv[] = {CLI_BIN, "--endpoints", fx.endpoints, "--timeout",
                    "10",    "--tls-ca",    ca,           "--tls-cert",
                    cert,    "--tls-key",   key,          "transfer-leader",
                    id,      NULL};
    char out[1024];
    char err[1024];
    int rc = procs_run(argv, out, sizeof out, err, sizeof err);
    print_message("transfer-leader %s: exit %d %s%s", id, rc, out, err);
    assert_int_equal(rc, 0);
}

/* Workers that know one follower alone write through it while leadership
 * moves to the other follower and back: every acknowledged append is in
 * the final value once, every node holds that value, and the history is
 * linearizable. */
static void proxied_writes_apply_exactly_once_across_leader_changes(
    void **state)
{
    (void)state;
    int leader = 0;
    int follower = 0;
    int other = 0;
    roles(&leader, &follower, &other);
    memset(&ld, 0, sizeof ld);
    pthread_mutex_init(&ld.lock, NULL);
    servers_address(&fx.sv, follower, ld.address, sizeof ld.address);
    char path[600];
    snprintf(path, sizeof path, "%s/history.jsonl", fx.dir);
    ld.history = fopen(path, "w");
    assert_non_null(ld.history);
    ld.t0 = procs_now_ns();
    print_message("leader node %d; clients use node %d only\n", leader + 1,
                  follower + 1);
    pthread_t th[WORKERS];
    for (int p = 0; p < WORKERS; p++) {
        assert_int_equal(
            pthread_create(&th[p], NULL, worker, (void *)(intptr_t)p), 0);
    }
    wait_acked(20);
    transfer_to(other);
    wait_acked(20);
    transfer_to(leader);
    wait_acked(20);
    pthread_mutex_lock(&ld.lock);
    ld.stop = true;
    pthread_mutex_unlock(&ld.lock);
    for (int p = 0; p < WORKERS; p++) {
        pthread_join(th[p], NULL);
    }
    print_message("%llu appends acknowledged, %u NOT_LEADER answers retried\n",
                  (unsigned long long)ld.acked, ld.redirects);
    assert_int_equal(ld.anomalies, 0);
    /* The clients' node never led: every answer they had came through its
     * proxy. */
    struct cmd_status st;
    assert_true(servers_status(&fx.sv, follower, &st));
    assert_string_equal(st.role, "follower");
    assert_true(servers_converged(&fx.sv, 30000, &st));

    /* The final value, read through the follower too. */
    struct transport_grpc_client *c = NULL;
    assert_int_equal(transport_grpc_client_new(ld.address, &fx.tls, &c), 0);
    struct kv_request get = {.op = KV_OP_GET, .key = {.base = "a", .len = 1}};
    struct cmd_response r;
    record(99, "invoke", "get", NULL);
    assert_true(settle(c, CMD_GET, &get, &r));
    transport_grpc_client_free(c);
    assert_true(r.found);
    char *value = malloc(r.value_len + 1);
    assert_non_null(value);
    memcpy(value, r.value, r.value_len);
    value[r.value_len] = '\0';
    free(r.value);
    char *json = malloc(r.value_len + 3);
    assert_non_null(json);
    snprintf(json, r.value_len + 3, "\"%s\"", value);
    record(99, "ok", "get", json);
    free(json);
    static char seen[WORKERS][OPS_MAX];
    memset(seen, 0, sizeof seen);
    char *save = NULL;
    for (char *t = strtok_r(value, ";", &save); t != NULL;
         t = strtok_r(NULL, ";", &save)) {
        int p = -1;
        unsigned n = 0;
        assert_int_equal(sscanf(t, "p%d.%u", &p, &n), 2);
        assert_true(p >= 0 && p < WORKERS && n < OPS_MAX);
        assert_int_not_equal(ld.sent[p][n], 0); /* was sent */
        assert_int_equal(seen[p][n], 0);        /* only once */
        seen[p][n] = 1;
    }
    free(value);
    for (int p = 0; p < WORKERS; p++) {
        for (unsigned n = 0; n < OPS_MAX; n++) {
            if (ld.sent[p][n] == 'y' && !seen[p][n]) {
                fail_msg("acknowledged append p%d.%u is missing", p, n);
            }
        }
    }
    fclose(ld.history);
    char *argv[] = {LINCHECK_BIN, path, NULL};
    char out[4096];
    char err[4096];
    int rc = procs_run(argv, out, sizeof out, err, sizeof err);
    print_message("lincheck: %s%s", out, err);
    assert_int_equal(rc, 0);
    pthread_mutex_destroy(&ld.lock);
}

/* ------------------------------------------------------------------------ */
/* Loop guard                                                                */
/* ------------------------------------------------------------------------ */

static void drop_message(void *data, struct transport_msg *m)
{
    (void)data;
    free(m);
}

static void refuse_call(void *data,
                        struct transport_grpc_call *c,
                        unsigned method,
                        const void *req,
                        size_t len)
{
    (void)data;
    (void)method;
    (void)req;
    (void)len;
    transport_grpc_reply(c, TRANSPORT_GRPC_UNAVAILABLE, "not serving", NULL, 0);
}

struct forwarded
{
    bool done;
    int status;
    struct cmd_response r;
};

static void on_forwarded(void *data, const struct transport_grpc_result *res)
{
    struct forwarded *f = data;
    f->done = true;
    f->status = res->status;
    if (res->status == TRANSPORT_GRPC_OK) {
        assert_int_equal(
            cmd_response_decode(CMD_PUT, res->data, res->len, &f->r), 0);
    }
}

/* A put that a node forwarded already (here: a node 4 of the same CA,
 * forwarding as a proxy does) reaches a follower: it answers NOT_LEADER
 * naming the leader rather than forwarding it again. The same put from a
 * client is forwarded and succeeds. */
static void forwarded_call_is_not_forwarded_again(void **state)
{
    (void)state;
    int leader = 0;
    int follower = 0;
    int other = 0;
    roles(&leader, &follower, &other);
    char at[64];
    servers_address(&fx.sv, follower, at, sizeof at);

    struct transport_grpc_tls node4;
    char ca[CERT_PATH_MAX];
    char cert[CERT_PATH_MAX];
    char key[CERT_PATH_MAX];
    cert_paths("node-4", ca, cert, key);
    struct transport_grpc_tls_files files = {
        .ca_file = ca, .cert_file = cert, .key_file = key, .node = 4};
    char why[512];
    assert_int_equal(transport_grpc_tls_load(&files, &node4, why, sizeof why),
                     0);
    struct transport_grpc_options o;
    transport_grpc_options_default(&o);
    o.id = 4;
    o.listen = "127.0.0.1:0";
    o.deliver = drop_message;
    o.methods = cmd_method_paths;
    o.n_methods = CMD_METHODS;
    o.on_call = refuse_call;
    o.tls = &node4;
    struct transport_grpc *g = NULL;
    assert_int_equal(transport_grpc_new(&o, why, sizeof why, &g), 0);
    assert_int_equal(transport_grpc_set_peer(g, (raft_id)(follower + 1), at),
                     0);
    struct kv_request put = {.op = KV_OP_PUT,
                             .key = {.base = "loop", .len = 4},
                             .value = {.base = "1", .len = 1}};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cmd_request_encode(CMD_PUT, &put, &buf, &len), 0);
    struct forwarded f;
    memset(&f, 0, sizeof f);
    assert_int_equal(transport_grpc_forward(g, (raft_id)(follower + 1), CMD_PUT,
                                            buf, len, 10000, on_forwarded, &f),
                     0);
    for (int k = 0; k < 1000 && !f.done; k++) {
        transport_grpc_poll(g, 20);
    }
    assert_true(f.done);
    assert_int_equal(f.status, TRANSPORT_GRPC_OK);
    assert_int_equal(f.r.code, KV_NOT_LEADER);
    assert_int_equal(f.r.leader_id, (raft_id)(leader + 1));
    transport_grpc_free(g);
    transport_grpc_tls_fini(&node4);

    /* Unmarked, from a client: forwarded, and done. */
    struct transport_grpc_client *c = NULL;
    assert_int_equal(transport_grpc_client_new(at, &fx.tls, &c), 0);
    struct transport_grpc_result res;
    assert_int_equal(transport_grpc_client_call(c, cmd_method_paths[CMD_PUT],
                                                buf, len, 10000, &res),
                     0);
    transport_grpc_client_free(c);
    free(buf);
    assert_int_equal(res.status, TRANSPORT_GRPC_OK);
    struct cmd_response r;
    assert_int_equal(cmd_response_decode(CMD_PUT, res.data, res.len, &r), 0);
    free(res.data);
    assert_int_equal(r.code, KV_OK);
}

/* ------------------------------------------------------------------------ */
/* The cap                                                                   */
/* ------------------------------------------------------------------------ */

struct capped_call
{
    pthread_mutex_t lock;
    bool done;
    int status;
    struct cmd_response r;
};

static char capped_address[64];

static void *capped_put(void *arg)
{
    struct capped_call *cc = arg;
    struct transport_grpc_client *c = NULL;
    assert_int_equal(transport_grpc_client_new(capped_address, &fx.tls, &c), 0);
    struct kv_request put = {.op = KV_OP_PUT,
                             .key = {.base = "cap", .len = 3},
                             .value = {.base = "1", .len = 1}};
    int status = 0;
    struct cmd_response r;
    call(c, CMD_PUT, &put, &status, &r);
    transport_grpc_client_free(c);
    pthread_mutex_lock(&cc->lock);
    cc->status = status;
    cc->r = r;
    cc->done = true;
    pthread_mutex_unlock(&cc->lock);
    return NULL;
}

static bool capped_done(struct capped_call *cc)
{
    pthread_mutex_lock(&cc->lock);
    bool d = cc->done;
    pthread_mutex_unlock(&cc->lock);
    return d;
}

/* Node 3 (--proxy-max-calls 1) holds one forward to a leader that does
 * not answer (stopped, with the other node); a second call meanwhile is
 * answered NOT_LEADER naming the leader, saying the proxy is at its
 * limit. Once the others run again the forwarded one is answered. */
static void calls_beyond_the_cap_are_redirected(void **state)
{
    (void)state;
    int leader = servers_leader(&fx.sv, 15000, NULL);
    assert_true(leader >= 0 && leader != NODES - 1);
    int proxy = NODES - 1;
    struct cmd_status st;
    for (int k = 0; k < 750; k++) {
        if (servers_status(&fx.sv, proxy, &st) && st.leader_id != 0) {
            break;
        }
        procs_sleep_ms(20);
    }
    assert_int_equal(st.leader_id, (raft_id)(leader + 1));
    servers_address(&fx.sv, proxy, capped_address, sizeof capped_address);
    for (int k = 0; k < NODES - 1; k++) {
        assert_int_equal(kill(fx.sv.pids[k], SIGSTOP), 0);
    }
    struct capped_call cc[2];
    pthread_t th[2];
    for (int j = 0; j < 2; j++) {
        memset(&cc[j], 0, sizeof cc[j]);
        pthread_mutex_init(&cc[j].lock, NULL);
        assert_int_equal(pthread_create(&th[j], NULL, capped_put, &cc[j]), 0);
    }
    /* One of them is over the cap: answered at once, while the other
     * waits for the stopped leader. */
    int first = -1;
    for (int k = 0; k < 1000 && first < 0; k++) {
        first = capped_done(&cc[0]) ? 0 : capped_done(&cc[1]) ? 1 : -1;
        procs_sleep_ms(10);
    }
    assert_true(first >= 0);
    assert_false(capped_done(&cc[1 - first]));
    assert_int_equal(cc[first].status, TRANSPORT_GRPC_OK);
    assert_int_equal(cc[first].r.code, KV_NOT_LEADER);
    assert_int_equal(cc[first].r.leader_id, (raft_id)(leader + 1));
    assert_non_null(strstr(cc[first].r.message, "--proxy-max-calls"));
    for (int k = 0; k < NODES - 1; k++) {
        assert_int_equal(kill(fx.sv.pids[k], SIGCONT), 0);
    }
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    /* The forwarded one has the leader's answer (done, or a retry: the
     * leader may have stepped down after its pause). */
    const struct capped_call *w = &cc[1 - first];
    print_message("forwarded put: %s, code %d (%s)\n",
                  transport_grpc_status_name(w->status), (int)w->r.code,
                  w->r.message);
    assert_int_equal(w->status, TRANSPORT_GRPC_OK);
    assert_true(w->r.code == KV_OK || w->r.code == KV_RETRY ||
                w->r.code == KV_NOT_LEADER);
    for (int j = 0; j < 2; j++) {
        pthread_mutex_destroy(&cc[j].lock);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            proxied_writes_apply_exactly_once_across_leader_changes,
            setup_plain, teardown),
        cmocka_unit_test_setup_teardown(forwarded_call_is_not_forwarded_again,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(calls_beyond_the_cap_are_redirected,
                                        setup_capped, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
