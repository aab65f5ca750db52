/*
 * kill9_appends: crash safety with real processes. Three raftkv-server
 * processes (plaintext on loopback, fsync on, a snapshot every 50 entries)
 * take the append load of `raftkv-bench --op append` (sessions, unique
 * tokens to four keys, reads of them; every op in a history) while the
 * test kills a server with SIGKILL three times - the leader, a follower,
 * the leader again - and restarts it on the same data directory. Then every
 * node converges to the same state and lincheck says the history is
 * linearizable: nothing acknowledged was lost, nothing applied twice, no
 * read went back in time. bench/kvbench/kill9.sh is the long form.
 *
 * Phases end on the history's growth, not on time, so a slow machine (the
 * sanitizers) only makes them longer; the bounds on the waits are there so
 * that a stuck cluster fails instead of hanging. Servers die with the test
 * (PR_SET_PDEATHSIG); RAFTKV_KEEP_TMP=1 keeps the directory (logs,
 * history).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "procs.h"
#include "servers.h"

#define NODES 3
/* Acknowledged operations (ok events) the load adds between two steps of
 * the test. */
#define STEP_EVENTS 150
/* The longest a step may take before the test gives up on the cluster. */
#define STEP_MS 120000

struct fixture
{
    char dir[512];
    char history[600];
    struct servers sv;
    char spec[256];
    char endpoints[256];
    pid_t bench;
};

static struct fixture fx;

static void node_start(int k)
{
    char id[16];
    char data[600];
    char log[600];
    snprintf(id, sizeof id, "%d", k + 1);
    snprintf(data, sizeof data, "%s/node%d", fx.dir, k + 1);
    snprintf(log, sizeof log, "%s/node%d.log", fx.dir, k + 1);
    char *argv[] = {SERVER_BIN,  "--id",       id,
                    "--cluster", fx.spec,      "--data-dir",
                    data,        "--insecure", "--snapshot-entries",
                    "50",        NULL};
    fx.sv.pids[k] = procs_spawn(argv, log);
    assert_true(fx.sv.pids[k] > 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    procs_tempdir("kill9", fx.dir, sizeof fx.dir);
    assert_true(fx.dir[0] != '\0');
    snprintf(fx.history, sizeof fx.history, "%s/history.jsonl", fx.dir);
    fx.sv.tls = NULL; /* plaintext, like the servers */
    assert_true(servers_init(&fx.sv, NODES, fx.spec, sizeof fx.spec,
                             fx.endpoints, sizeof fx.endpoints));
    for (int k = 0; k < NODES; k++) {
        node_start(k);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (fx.bench > 0) {
        procs_stop(fx.bench, SIGKILL, 5000);
    }
    servers_kill(&fx.sv);
    const char *keep = getenv("RAFTKV_KEEP_TMP");
    if (keep != NULL && strcmp(keep, "1") == 0) {
        fprintf(stderr, "kept %s\n", fx.dir);
    } else {
        procs_rmtree(fx.dir);
    }
    return 0;
}

/* Acknowledged operations in the history so far (ok events: invokes,
 * fails and infos also grow it while no quorum serves). */
static size_t events(void)
{
    FILE *f = fopen(fx.history, "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        n += strstr(line, "\"type\":\"ok\"") != NULL;
    }
    free(line);
    fclose(f);
    return n;
}

/* Waits until the history has @more ok events than now; false after
 * STEP_MS. */
static bool grows_by(size_t more)
{
    size_t want = events() + more;
    uint64_t until = procs_now_ns() + (uint64_t)STEP_MS * 1000000ull;
    while (events() < want) {
        if (procs_now_ns() > until) {
            return false;
        }
        procs_sleep_ms(20);
    }
    return true;
}

/* Three kills -9 under append load; the history is linearizable and the
 * nodes agree. */
static void appends_survive_kill9_of_leader_and_follower(void **state)
{
    (void)state;
    char *bench[] = {BENCH_BIN,       "--target",   "raftkv",    "--endpoints",
                     fx.endpoints,    "--insecure", "--op",      "append",
                     "--history",     fx.history,   "--seconds", "3600",
                     "--inflight",    "4",          "--keys",    "4",
                     "--deadline-ms", "1000",       NULL};
    char log[600];
    snprintf(log, sizeof log, "%s/bench.log", fx.dir);
    fx.bench = procs_spawn(bench, log);
    assert_true(fx.bench > 0);
    assert_true(grows_by(STEP_EVENTS));
    for (int round = 0; round < 3; round++) {
        int leader = servers_leader(&fx.sv, 15000, NULL);
        assert_true(leader >= 0);
        int victim = round == 1 ? (leader + 1) % NODES : leader;
        print_message("kill -9 node %d (%s) after %zu ok events\n", victim + 1,
                      victim == leader ? "the leader" : "a follower", events());
        assert_int_equal(procs_stop(fx.sv.pids[victim], SIGKILL, 5000),
                         128 + SIGKILL);
        fx.sv.pids[victim] = 0;
        assert_true(grows_by(STEP_EVENTS)); /* two nodes go on */
        node_start(victim);
        assert_true(grows_by(STEP_EVENTS));
    }
    /* SIGTERM: the load starts nothing new, ends what is out and leaves a
     * complete history. */
    assert_int_equal(procs_stop(fx.bench, SIGTERM, 60000), 0);
    fx.bench = 0;
    struct cmd_status agreed;
    assert_true(servers_converged(&fx.sv, 30000, &agreed));
    print_message("%zu events; converged at index %llu, snapshot at %llu\n",
                  events(), (unsigned long long)agreed.applied,
                  (unsigned long long)agreed.snapshot_index);
    assert_true(agreed.snapshot_index > 0);
    char *lincheck[] = {LINCHECK_BIN, fx.history, NULL};
    char out[4096];
    char err[4096];
    int rc = procs_run(lincheck, out, sizeof out, err, sizeof err);
    print_message("lincheck: %s%s", out, err);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_survive_kill9_of_leader_and_follower),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
