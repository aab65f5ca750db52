/*
 * cluster_processes: three raftkv-server processes on loopback ports, with
 * TLS as by default (certificates from scripts/gen-certs.sh), under client
 * load through raftkv-cli. The leader is killed with SIGKILL; writes
 * go on through the CLI; it restarts from its data directory. Then every
 * node converges to the same state, every acknowledged append is in the
 * final value exactly once (and so on every node), the recorded history is
 * linearizable (lincheck), and SIGTERM stops every server cleanly.
 *
 * Then membership, on a new cluster of three under the same load: it grows
 * to five (two servers started with --join, each added as a learner, sent
 * the log and promoted), the leader is removed (it steps down, another is
 * elected), and a follower is replaced (removed, its data directory wiped,
 * joined again with the same id); the history is checked again and every
 * member converges to the same state digest.
 *
 * Servers die with the test (PR_SET_PDEATHSIG) and the teardown kills them
 * and removes the temporary directory whatever happened; set
 * RAFTKV_KEEP_TMP=1 to keep it (logs, history) for a post-mortem.
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
#define WORKERS 3

struct cluster
{
    char dir[512];
    struct servers sv;
    char spec[256];
    char endpoints[256];
    char ca[1024];
    char client_cert[1024];
    char client_key[1024];
    struct transport_grpc_tls tls; /* the client's */
    const char *prefix;            /* of the data directories: "" or "m-" */
};

static struct cluster cl;

static void node_start(int k)
{
    char id[16];
    char data[600];
    char log[600];
    snprintf(id, sizeof id, "%d", k + 1);
    snprintf(data, sizeof data, "%s/%snode%d", cl.dir, cl.prefix, k + 1);
    snprintf(log, sizeof log, "%s/node%d.log", cl.dir, k + 1);
    char cert[600];
    char key[600];
    char ca[600];
    snprintf(cert, sizeof cert, "%s/certs/node-%d.crt", cl.dir, k + 1);
    snprintf(key, sizeof key, "%s/certs/node-%d.key", cl.dir, k + 1);
    snprintf(ca, sizeof ca, "%s/certs/ca.crt", cl.dir);
    /* The membership cluster compacts often, so that a node that joins
     * needs a snapshot before the log. */
    bool small = strcmp(cl.prefix, "") != 0;
    char *argv[] = {SERVER_BIN, "--id",
                    id,         "--cluster",
                    cl.spec,    "--data-dir",
                    data,       "--tls-cert",
                    cert,       "--tls-key",
                    key,        "--tls-ca",
                    ca,         small ? "--snapshot-entries" : NULL,
                    "20",       "--snapshot-trailing",
                    "5",        NULL};
    cl.sv.pids[k] = procs_spawn(argv, log);
    assert_true(cl.sv.pids[k] > 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&cl, 0, sizeof cl);
    cl.prefix = "";
    procs_tempdir("cluster", cl.dir, sizeof cl.dir);
    assert_true(cl.dir[0] != '\0');
    /* The cluster runs with TLS, as by default: certificates from the
     * project's own script. */
    char certs[600];
    snprintf(certs, sizeof certs, "%s/certs", cl.dir);
    char *gen[] = {GEN_CERTS, certs, "1", "2", "3", "4", "5", NULL};
    assert_int_equal(procs_run(gen, NULL, 0, NULL, 0), 0);
    snprintf(cl.ca, sizeof cl.ca, "%s/ca.crt", certs);
    snprintf(cl.client_cert, sizeof cl.client_cert, "%s/client.crt", certs);
    snprintf(cl.client_key, sizeof cl.client_key, "%s/client.key", certs);
    struct transport_grpc_tls_files files = {.ca_file = cl.ca,
                                             .cert_file = cl.client_cert,
                                             .key_file = cl.client_key};
    char why[512];
    assert_int_equal(transport_grpc_tls_load(&files, &cl.tls, why, sizeof why),
                     0);
    cl.sv.tls = &cl.tls;
    assert_true(servers_init(&cl.sv, NODES, cl.spec, sizeof cl.spec,
                             cl.endpoints, sizeof cl.endpoints));
    for (int k = 0; k < NODES; k++) {
        node_start(k);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    servers_kill(&cl.sv);
    const char *keep = getenv("RAFTKV_KEEP_TMP");
    if (keep != NULL && strcmp(keep, "1") == 0) {
        fprintf(stderr, "kept %s\n", cl.dir);
    } else {
        procs_rmtree(cl.dir);
    }
    transport_grpc_tls_fini(&cl.tls);
    return 0;
}

/* Runs the CLI; stdout into @out. Returns its exit code. */
static int cli(char *out, size_t out_size, const char *endpoints, ...)
{
    char *argv[24] = {CLI_BIN,     "--endpoints", (char *)endpoints,
                      "--timeout", "3",           "--tls-ca",
                      cl.ca,       "--tls-cert",  cl.client_cert,
                      "--tls-key", cl.client_key};
    int n = 11;
    va_list ap;
    va_start(ap, endpoints);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 23) {
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    char err[4096];
    int rc = procs_run(argv, out, out_size, err, sizeof err);
    if (rc != 0 && rc != 1 && rc != 3) {
        /* Not an answer the load expects (an anomaly): say what it was. */
        fprintf(stderr, "raftkv-cli %s exited %d: %s\n", argv[11], rc, err);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Load                                                                      */
/* ------------------------------------------------------------------------ */

struct load
{
    pthread_mutex_t lock;
    FILE *history;
    uint64_t t0;
    bool stop;
    uint64_t ok_writes;
    unsigned anomalies;
    /* Appends: token -> acknowledged? (tokens "pP.N;" in keys a0, a1) */
    char acked[WORKERS][4096][1];
    unsigned invoked[WORKERS];
};

static struct load ld;

static void record(int process,
                   const char *type,
                   const char *f,
                   const char *key,
                   const char *value_json)
{
    pthread_mutex_lock(&ld.lock);
    fprintf(ld.history,
            "{\"process\":%d,\"type\":\"%s\",\"f\":\"%s\",\"key\":\"%s\"%s%s,"
            "\"time\":%llu}\n",
            process, type, f, key, value_json != NULL ? ",\"value\":" : "",
            value_json != NULL ? value_json : "",
            (unsigned long long)(procs_now_ns() - ld.t0));
    pthread_mutex_unlock(&ld.lock);
}

static bool stopping(void)
{
    pthread_mutex_lock(&ld.lock);
    bool s = ld.stop;
    pthread_mutex_unlock(&ld.lock);
    return s;
}

static void *worker(void *arg)
{
    int p = (int)(intptr_t)arg;
    uint64_t x = 0x51ed270b27f4a3c9ull * (uint64_t)(unsigned)(p + 1);
    char last_seen[64] = "none";
    char out[4096];
    for (unsigned n = 0; n < 4096 && !stopping(); n++) {
        x = common_mix64(x);
        unsigned r = (unsigned)(x % 100);
        char key[8];
        char value[64];
        char json[160];
        snprintf(key, sizeof key, "k%u", (unsigned)((x >> 8) % 3));
        if (r < 30) {
            snprintf(value, sizeof value, "p%d-%u", p, n);
            snprintf(json, sizeof json, "\"%s\"", value);
            record(p, "invoke", "put", key, json);
            int rc =
                cli(out, sizeof out, cl.endpoints, "put", key, value, NULL);
            record(p, rc == 0 ? "ok" : "info", "put", key, json);
            pthread_mutex_lock(&ld.lock);
            ld.ok_writes += rc == 0;
            ld.anomalies += rc != 0 && rc != 3;
            pthread_mutex_unlock(&ld.lock);
        } else if (r < 55) {
            record(p, "invoke", "get", key, NULL);
            int rc = cli(out, sizeof out, cl.endpoints, "get", key, NULL);
            if (rc == 0) {
                out[strcspn(out, "\n")] = '\0';
                out[sizeof last_seen - 1] = '\0'; /* values are short */
                snprintf(last_seen, sizeof last_seen, "%.63s", out);
                snprintf(json, sizeof json, "\"%.63s\"", out);
                record(p, "ok", "get", key, json);
            } else if (rc == 1) {
                record(p, "ok", "get", key, "null");
            } else {
                record(p, "info", "get", key, NULL);
                pthread_mutex_lock(&ld.lock);
                ld.anomalies += rc != 3;
                pthread_mutex_unlock(&ld.lock);
            }
        } else if (r < 70) {
            snprintf(value, sizeof value, "c%d-%u", p, n);
            snprintf(json, sizeof json, "[\"%s\",\"%s\"]", last_seen, value);
            record(p, "invoke", "cas", key, json);
            int rc = cli(out, sizeof out, cl.endpoints, "cas", key, last_seen,
                         value, NULL);
            if (rc == 1) {
                pthread_mutex_lock(&ld.lock);
                fprintf(ld.history,
                        "{\"process\":%d,\"type\":\"fail\",\"f\":\"cas\","
                        "\"key\":\"%s\",\"value\":%s,\"error\":\"mismatch\","
                        "\"time\":%llu}\n",
                        p, key, json,
                        (unsigned long long)(procs_now_ns() - ld.t0));
                pthread_mutex_unlock(&ld.lock);
            } else {
                record(p, rc == 0 ? "ok" : "info", "cas", key, json);
            }
            pthread_mutex_lock(&ld.lock);
            ld.ok_writes += rc == 0;
            ld.anomalies += rc != 0 && rc != 1 && rc != 3;
            pthread_mutex_unlock(&ld.lock);
        } else {
            snprintf(key, sizeof key, "a%u", (unsigned)((x >> 8) % 2));
            snprintf(value, sizeof value, "p%d.%u;", p, n);
            snprintf(json, sizeof json, "\"%s\"", value);
            record(p, "invoke", "append", key, json);
            int rc =
                cli(out, sizeof out, cl.endpoints, "append", key, value, NULL);
            record(p, rc == 0 ? "ok" : "info", "append", key, json);
            pthread_mutex_lock(&ld.lock);
            ld.acked[p][n][0] = rc == 0 ? 'y' : 'i';
            ld.ok_writes += rc == 0;
            ld.anomalies += rc != 0 && rc != 3;
            pthread_mutex_unlock(&ld.lock);
        }
    }
    return NULL;
}

static uint64_t ok_writes(void)
{
    pthread_mutex_lock(&ld.lock);
    uint64_t n = ld.ok_writes;
    pthread_mutex_unlock(&ld.lock);
    return n;
}

/* Waits until @n writes are acknowledged in all, at most @ms. */
static bool wait_writes(uint64_t n, unsigned ms)
{
    uint64_t until = procs_now_ns() + (uint64_t)ms * 1000000ull;
    while (ok_writes() < n) {
        if (procs_now_ns() > until) {
            return false;
        }
        procs_sleep_ms(20);
    }
    return true;
}

/* A client through a follower's address alone reaches the leader: the
 * follower's not-leader answer names it. */
static void cli_follows_redirect_from_a_follower(void **state)
{
    (void)state;
    int leader = servers_leader(&cl.sv, 15000, NULL);
    assert_true(leader >= 0);
    int follower = (leader + 1) % NODES;
    char ep[64];
    servers_address(&cl.sv, follower, ep, sizeof ep);
    char out[256];
    assert_int_equal(cli(out, sizeof out, ep, "put", "redirect", "yes", NULL),
                     0);
    assert_string_equal(out, "OK\n");
    assert_int_equal(cli(out, sizeof out, ep, "get", "redirect", NULL), 0);
    assert_string_equal(out, "yes\n");
}

/* Starts the workers, recording into @path. */
static void load_start(const char *path, pthread_t th[WORKERS])
{
    memset(&ld, 0, sizeof ld);
    pthread_mutex_init(&ld.lock, NULL);
    ld.history = fopen(path, "w");
    assert_non_null(ld.history);
    ld.t0 = procs_now_ns();
    assert_true(servers_leader(&cl.sv, 15000, NULL) >= 0);
    for (int p = 0; p < WORKERS; p++) {
        assert_int_equal(
            pthread_create(&th[p], NULL, worker, (void *)(intptr_t)p), 0);
    }
}

static void load_stop(pthread_t th[WORKERS])
{
    pthread_mutex_lock(&ld.lock);
    ld.stop = true;
    pthread_mutex_unlock(&ld.lock);
    for (int p = 0; p < WORKERS; p++) {
        pthread_join(th[p], NULL);
    }
}

/* Every member holds the same state, every acknowledged append is in its
 * key's value exactly once and nothing there was never sent, and the
 * history in @path is linearizable. */
static void check_outcome(const char *path)
{
    struct cmd_status agreed;
    assert_true(servers_converged(&cl.sv, 30000, &agreed));
    print_message("converged at index %llu, digest %016llx\n",
                  (unsigned long long)agreed.applied,
                  (unsigned long long)agreed.digest);
    char seen[WORKERS][4096];
    memset(seen, 0, sizeof seen);
    for (int a = 0; a < 2; a++) {
        char key[8];
        snprintf(key, sizeof key, "a%d", a);
        static char out[1 << 16];
        record(99, "invoke", "get", key, NULL);
        int rc = cli(out, sizeof out, cl.endpoints, "get", key, NULL);
        assert_true(rc == 0 || rc == 1);
        out[strcspn(out, "\n")] = '\0';
        if (rc == 0) {
            char json[sizeof out + 2];
            snprintf(json, sizeof json, "\"%s\"", out);
            record(99, "ok", "get", key, json);
        } else {
            out[0] = '\0';
            record(99, "ok", "get", key, "null");
        }
        char *save = NULL;
        for (char *t = strtok_r(out, ";", &save); t != NULL;
             t = strtok_r(NULL, ";", &save)) {
            int p;
            unsigned n;
            assert_int_equal(sscanf(t, "p%d.%u", &p, &n), 2);
            assert_true(p >= 0 && p < WORKERS && n < 4096);
            assert_int_not_equal(ld.acked[p][n][0], 0); /* was sent */
            assert_int_equal(seen[p][n], 0);            /* only once */
            seen[p][n] = 1;
        }
    }
    for (int p = 0; p < WORKERS; p++) {
        for (unsigned n = 0; n < 4096; n++) {
            if (ld.acked[p][n][0] == 'y' && !seen[p][n]) {
                fail_msg("acknowledged append p%d.%u is missing", p, n);
            }
        }
    }
    fclose(ld.history);
    ld.history = NULL;
    char *argv[] = {LINCHECK_BIN, (char *)path, NULL};
    char out[4096];
    char err[4096];
    int rc = procs_run(argv, out, sizeof out, err, sizeof err);
    print_message("lincheck: %s%s", out, err);
    assert_int_equal(rc, 0);
}

/* The leader dies mid-load and comes back; nothing acknowledged is lost,
 * nothing is applied twice, and the history is linearizable. */
static void cluster_survives_leader_kill_under_load(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/history.jsonl", cl.dir);
    pthread_t th[WORKERS];
    load_start(path, th);
    /* Phases end on progress, not on time: a slow machine (sanitizers,
     * TLS handshakes per CLI call) only makes them longer. */
    assert_true(wait_writes(10, 120000));
    int leader = servers_leader(&cl.sv, 5000, NULL);
    assert_true(leader >= 0);
    uint64_t before = ok_writes();
    print_message("killing leader node %d after %llu acknowledged writes\n",
                  leader + 1, (unsigned long long)before);
    assert_int_equal(procs_stop(cl.sv.pids[leader], SIGKILL, 5000), 128 + 9);
    cl.sv.pids[leader] = 0;
    assert_true(wait_writes(before + 5, 120000));
    uint64_t during = ok_writes() - before;
    print_message("%llu writes acknowledged while node %d was down\n",
                  (unsigned long long)during, leader + 1);
    node_start(leader);
    assert_true(wait_writes(ok_writes() + 5, 120000));
    load_stop(th);
    assert_true(during > 0);
    assert_int_equal(ld.anomalies, 0);
    assert_true(ok_writes() >= 20);
    /* The restarted node catches up, and the outcome holds. */
    check_outcome(path);

    /* SIGTERM: each server answers what waits and exits 0. */
    for (int k = 0; k < NODES; k++) {
        assert_int_equal(procs_stop(cl.sv.pids[k], SIGTERM, 10000), 0);
        cl.sv.pids[k] = 0;
    }
    pthread_mutex_destroy(&ld.lock);
}

/* ------------------------------------------------------------------------ */
/* Membership                                                                */
/* ------------------------------------------------------------------------ */

/* Node @k (index) joins through @join (ENDPOINTS) on its own port. */
static void node_join(int k, const char *join)
{
    char id[16];
    char data[600];
    char log[600];
    char listen[64];
    char cert[600];
    char key[600];
    char ca[600];
    snprintf(id, sizeof id, "%d", k + 1);
    snprintf(data, sizeof data, "%s/%snode%d", cl.dir, cl.prefix, k + 1);
    snprintf(log, sizeof log, "%s/%snode%d.log", cl.dir, cl.prefix, k + 1);
    servers_address(&cl.sv, k, listen, sizeof listen);
    snprintf(cert, sizeof cert, "%s/certs/node-%d.crt", cl.dir, k + 1);
    snprintf(key, sizeof key, "%s/certs/node-%d.key", cl.dir, k + 1);
    snprintf(ca, sizeof ca, "%s/certs/ca.crt", cl.dir);
    char *argv[] = {SERVER_BIN,   "--id",
                    id,           "--join",
                    (char *)join, "--listen",
                    listen,       "--data-dir",
                    data,         "--tls-cert",
                    cert,         "--tls-key",
                    key,          "--tls-ca",
                    ca,           "--snapshot-entries",
                    "20",         "--snapshot-trailing",
                    "5",          NULL};
    cl.sv.pids[k] = procs_spawn(argv, log);
    assert_true(cl.sv.pids[k] > 0);
}

/* The members as `member list` prints them: role[id] is 'v' (voter), 'l'
 * (learner) or 0 (not a member), for ids 1..SERVERS_MAX. */
static bool members(char role[SERVERS_MAX + 1])
{
    char out[4096];
    memset(role, 0, SERVERS_MAX + 1);
    if (cli(out, sizeof out, cl.endpoints, "member", "list", NULL) != 0) {
        return false;
    }
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        int id = 0;
        char address[128];
        char r[16];
        if (sscanf(line, "%d %127s %15s", &id, address, r) == 3 && id >= 1 &&
            id <= SERVERS_MAX) {
            role[id] = r[0] == 'v' ? 'v' : 'l';
        }
    }
    return true;
}

/* Polls the member list (at most @polls times, 100 ms apart) until node
 * @id is a voter. */
static bool wait_voter(int id, unsigned polls)
{
    char role[SERVERS_MAX + 1];
    for (unsigned k = 0; k < polls; k++) {
        if (members(role) && role[id] == 'v') {
            return true;
        }
        procs_sleep_ms(100);
    }
    return false;
}

/* A new cluster of three grows to five under load (two servers started
 * with --join: learners, sent the log, promoted), its leader is removed,
 * and a follower is replaced (removed, data directory wiped, joined again
 * with the same id); nothing acknowledged is lost, the history is
 * linearizable, and every member converges to the same state. */
static void cluster_grows_removes_leader_and_replaces_under_load(void **state)
{
    (void)state;
    /* Five ports; the first three bootstrap. */
    cl.prefix = "m-";
    assert_true(servers_init(&cl.sv, 5, cl.spec, sizeof cl.spec, cl.endpoints,
                             sizeof cl.endpoints));
    char three[256];
    *strchr(strchr(strchr(cl.spec, ',') + 1, ',') + 1, ',') = '\0';
    snprintf(three, sizeof three, "%s", cl.endpoints);
    *strchr(strchr(strchr(three, ',') + 1, ',') + 1, ',') = '\0';
    for (int k = 0; k < 3; k++) {
        node_start(k);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/membership.jsonl", cl.dir);
    pthread_t th[WORKERS];
    load_start(path, th);
    assert_true(wait_writes(10, 120000));

    /* The leader has compacted its log: a joining node needs its snapshot
     * first (polled at most 600 times, 100 ms apart). */
    bool compacted = false;
    for (unsigned poll = 0; poll < 600 && !compacted; poll++) {
        struct cmd_status st;
        int l = servers_leader(&cl.sv, 5000, NULL);
        compacted =
            l >= 0 && servers_status(&cl.sv, l, &st) && st.snapshot_index > 1;
        if (!compacted) {
            procs_sleep_ms(100);
        }
    }
    assert_true(compacted);

    /* Grow: 4 and 5 join one after the other. */
    for (int k = 3; k < 5; k++) {
        node_join(k, three);
        assert_true(wait_voter(k + 1, 600));
        print_message(
            "node %d joined and was promoted after %llu "
            "acknowledged writes\n",
            k + 1, (unsigned long long)ok_writes());
    }
    char role[SERVERS_MAX + 1];
    assert_true(members(role));
    for (int id = 1; id <= 5; id++) {
        assert_int_equal(role[id], 'v');
    }
    assert_true(wait_writes(ok_writes() + 5, 120000));

    /* Remove the leader: it steps down once the change commits, and
     * another leads. */
    int leader = servers_leader(&cl.sv, 15000, NULL);
    assert_true(leader >= 0);
    char id[16];
    char out[4096];
    snprintf(id, sizeof id, "%d", leader + 1);
    assert_int_equal(
        cli(out, sizeof out, cl.endpoints, "member", "remove", id, NULL), 0);
    print_message("removed leader node %d\n", leader + 1);
    assert_int_equal(procs_stop(cl.sv.pids[leader], SIGTERM, 10000), 0);
    cl.sv.pids[leader] = 0;
    cl.sv.gone[leader] = true;
    int next = servers_leader(&cl.sv, 15000, NULL);
    assert_true(next >= 0 && next != leader);
    assert_true(wait_writes(ok_writes() + 5, 120000));

    /* Replace a follower: removed, its disk wiped, joined again. */
    int victim = (next + 1) % 5;
    while (victim == leader || victim == next) {
        victim = (victim + 1) % 5;
    }
    snprintf(id, sizeof id, "%d", victim + 1);
    assert_int_equal(
        cli(out, sizeof out, cl.endpoints, "member", "remove", id, NULL), 0);
    assert_int_equal(procs_stop(cl.sv.pids[victim], SIGTERM, 10000), 0);
    cl.sv.pids[victim] = 0;
    char data[600];
    snprintf(data, sizeof data, "%s/%snode%d", cl.dir, cl.prefix, victim + 1);
    procs_rmtree(data);
    char alive[256] = "";
    for (int k = 0; k < 5; k++) {
        if (cl.sv.pids[k] > 0) {
            char ep[64];
            servers_address(&cl.sv, k, ep, sizeof ep);
            snprintf(alive + strlen(alive), sizeof alive - strlen(alive),
                     "%s%s", alive[0] != '\0' ? "," : "", ep);
        }
    }
    node_join(victim, alive);
    assert_true(wait_voter(victim + 1, 600));
    print_message("replaced node %d (wiped and joined again)\n", victim + 1);
    assert_true(wait_writes(ok_writes() + 5, 120000));
    load_stop(th);
    assert_int_equal(ld.anomalies, 0);

    /* Four voters: the removed leader is out, the replaced node is back. */
    assert_true(members(role));
    for (int k = 0; k < 5; k++) {
        assert_int_equal(role[k + 1], k == leader ? 0 : 'v');
    }
    check_outcome(path);
    pthread_mutex_destroy(&ld.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli_follows_redirect_from_a_follower),
        cmocka_unit_test(cluster_survives_leader_kill_under_load),
        cmocka_unit_test(cluster_grows_removes_leader_and_replaces_under_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
