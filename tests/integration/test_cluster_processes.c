/*
 * cluster_processes: three raftkv-server processes on loopback ports, with
 * TLS as by default (certificates from scripts/gen-certs.sh), under client
 * load through raftkv-cli. The leader is killed with SIGKILL; writes
 * go on through the CLI; it restarts from its data directory. Then every
 * node converges to the same state, every acknowledged append is in the
 * final value exactly once (and so on every node), the recorded history is
 * linearizable (lincheck), and SIGTERM stops every server cleanly.
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
};

static struct cluster cl;

static void node_start(int k)
{
    char id[16];
    char data[600];
    char log[600];
    snprintf(id, sizeof id, "%d", k + 1);
    snprintf(data, sizeof data, "%s/node%d", cl.dir, k + 1);
    snprintf(log, sizeof log, "%s/node%d.log", cl.dir, k + 1);
    char cert[600];
    char key[600];
    char ca[600];
    snprintf(cert, sizeof cert, "%s/certs/node-%d.crt", cl.dir, k + 1);
    snprintf(key, sizeof key, "%s/certs/node-%d.key", cl.dir, k + 1);
    snprintf(ca, sizeof ca, "%s/certs/ca.crt", cl.dir);
    char *argv[] = {SERVER_BIN, "--id",       id,   "--cluster",
                    cl.spec,    "--data-dir", data, "--tls-cert",
                    cert,       "--tls-key",  key,  "--tls-ca",
                    ca,         NULL};
    cl.sv.pids[k] = procs_spawn(argv, log);
    assert_true(cl.sv.pids[k] > 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&cl, 0, sizeof cl);
    procs_tempdir("cluster", cl.dir, sizeof cl.dir);
    assert_true(cl.dir[0] != '\0');
    /* The cluster runs with TLS, as by default: certificates from the
     * project's own script. */
    char certs[600];
    snprintf(certs, sizeof certs, "%s/certs", cl.dir);
    char *gen[] = {GEN_CERTS, certs, "1", "2", "3", NULL};
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

/* The leader dies mid-load and comes back; nothing acknowledged is lost,
 * nothing is applied twice, and the history is linearizable. */
static void cluster_survives_leader_kill_under_load(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/history.jsonl", cl.dir);
    memset(&ld, 0, sizeof ld);
    pthread_mutex_init(&ld.lock, NULL);
    ld.history = fopen(path, "w");
    assert_non_null(ld.history);
    ld.t0 = procs_now_ns();
    assert_true(servers_leader(&cl.sv, 15000, NULL) >= 0);
    pthread_t th[WORKERS];
    for (int p = 0; p < WORKERS; p++) {
        assert_int_equal(
            pthread_create(&th[p], NULL, worker, (void *)(intptr_t)p), 0);
    }
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
    pthread_mutex_lock(&ld.lock);
    ld.stop = true;
    pthread_mutex_unlock(&ld.lock);
    for (int p = 0; p < WORKERS; p++) {
        pthread_join(th[p], NULL);
    }
    assert_true(during > 0);
    assert_int_equal(ld.anomalies, 0);
    assert_true(ok_writes() >= 20);

    /* The restarted node catches up: every node holds the same state. */
    struct cmd_status agreed;
    assert_true(servers_converged(&cl.sv, 30000, &agreed));
    print_message("converged at index %llu, digest %016llx\n",
                  (unsigned long long)agreed.applied,
                  (unsigned long long)agreed.digest);

    /* Every acknowledged append is in its key's value exactly once, and
     * nothing there was never sent. */
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

    char *argv[] = {LINCHECK_BIN, path, NULL};
    char out[4096];
    char err[4096];
    int rc = procs_run(argv, out, sizeof out, err, sizeof err);
    print_message("lincheck: %s%s", out, err);
    assert_int_equal(rc, 0);

    /* SIGTERM: each server answers what waits and exits 0. */
    for (int k = 0; k < NODES; k++) {
        assert_int_equal(procs_stop(cl.sv.pids[k], SIGTERM, 10000), 0);
        cl.sv.pids[k] = 0;
    }
    pthread_mutex_destroy(&ld.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli_follows_redirect_from_a_follower),
        cmocka_unit_test(cluster_survives_leader_kill_under_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
