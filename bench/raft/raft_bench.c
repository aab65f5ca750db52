/*
 * raft-bench: the Raft core's throughput with no I/O. Three instances run in
 * one thread; the leader gets proposals in batches, every update's messages
 * are delivered straight to the receiving core (which copies what it
 * keeps), and nothing is persisted. What is measured is the protocol's own
 * cost: proposing, building and checking AppendEntries, acknowledging,
 * counting the quorum and handing committed entries out, on all three
 * nodes.
 *
 *   raft-bench [--proposals N] [--size BYTES] [--batch B ...] [--runs R]
 *
 * For each batch size it prints the median over R runs of committed
 * proposals per second and the cost per proposal, then peak RSS.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/common.h"
#include "raft/raft.h"

#define NODES 3

struct cluster
{
    struct raft *r[NODES];
    uint64_t applied[NODES];
};

static void die(const char *what, int rv)
{
    fprintf(stderr, "raft-bench: %s: %s\n", what, common_strerror(rv));
    exit(1);
}

/* Delivers each update's messages directly, until every node is quiet. */
static void pump(struct cluster *c)
{
    bool busy = true;
    while (busy) {
        busy = false;
        for (int k = 0; k < NODES; k++) {
            struct raft_update u;
            if (!raft_update_get(c->r[k], &u)) {
                continue;
            }
            busy = true;
            for (size_t m = 0; m < u.n_messages; m++) {
                raft_id to = u.messages[m].to;
                raft_step(c->r[to - 1], &u.messages[m]);
            }
            c->applied[k] += u.n_committed;
            raft_update_done(c->r[k], &u);
        }
    }
}

static void cluster_init(struct cluster *c, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    raft_id ids[NODES] = {1, 2, 3};
    struct raft_boot b;
    memset(&b, 0, sizeof b);
    raft_configuration_voters(&b.conf, ids, NODES);
    for (int k = 0; k < NODES; k++) {
        struct raft_options o;
        raft_options_default(&o);
        o.id = ids[k];
        o.seed = seed + (uint64_t)k;
        o.max_entries_per_msg = 8192;
        o.max_bytes_per_msg = 4 * 1024 * 1024;
        int rv = raft_new(&o, &b, &c->r[k]);
        if (rv != 0) {
            die("raft_new", rv);
        }
    }
    raft_campaign(c->r[0]);
    pump(c);
    if (raft_role(c->r[0]) != RAFT_LEADER) {
        fprintf(stderr, "raft-bench: no leader\n");
        exit(1);
    }
}

static void cluster_fini(struct cluster *c)
{
    for (int k = 0; k < NODES; k++) {
        raft_free(c->r[k]);
    }
}

/* Commits @total proposals of @size bytes, @batch per update cycle, and
 * returns the elapsed nanoseconds. */
static uint64_t run(uint64_t total, size_t size, uint64_t batch)
{
    struct cluster c;
    cluster_init(&c, 42);
    uint8_t *payload = malloc(size);
    memset(payload, 'x', size);
    struct raft *leader = c.r[0];
    uint64_t start_applied = c.applied[0];
    uint64_t t0 = common_now_ns();
    uint64_t proposed = 0;
    while (proposed < total) {
        uint64_t n = total - proposed < batch ? total - proposed : batch;
        for (uint64_t k = 0; k < n; k++) {
            memcpy(payload, &proposed,
                   sizeof proposed < size ? sizeof proposed : size);
            int rv = raft_propose(leader, payload, size, NULL, NULL);
            if (rv != 0) {
                die("raft_propose", rv);
            }
            proposed++;
        }
        pump(&c);
        /* Keep memory flat: everything applied everywhere can go. */
        raft_index upto = raft_applied_index(c.r[0]);
        for (int k = 1; k < NODES; k++) {
            raft_index a = raft_applied_index(c.r[k]);
            upto = a < upto ? a : upto;
        }
        if (upto > 1024) {
            for (int k = 0; k < NODES; k++) {
                raft_compact(c.r[k], upto - 1024);
            }
        }
    }
    uint64_t elapsed = common_now_ns() - t0;
    /* Followers learn the last commit index from the next heartbeat. */
    for (int tick = 0; tick < 10; tick++) {
        for (int k = 0; k < NODES; k++) {
            raft_tick(c.r[k]);
        }
        pump(&c);
    }
    for (int k = 0; k < NODES; k++) {
        if (c.applied[k] < start_applied + total) {
            fprintf(stderr, "raft-bench: node %d applied only %llu of %llu\n",
                    k + 1, (unsigned long long)c.applied[k],
                    (unsigned long long)(start_applied + total));
            exit(1);
        }
    }
    free(payload);
    cluster_fini(&c);
    return elapsed;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: raft-bench [--proposals N] [--size BYTES] "
            "[--batch B]... [--runs R]\n");
}

int main(int argc, char **argv)
{
    uint64_t total = 2000000;
    size_t size = 64;
    int runs = 5;
    uint64_t batches[16];
    int n_batches = 0;
    static const struct option opts[] = {
        {"proposals", required_argument, NULL, 'p'},
        {"size", required_argument, NULL, 's'},
        {"runs", required_argument, NULL, 'r'},
        {"batch", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    int idx = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        if (ch == 'h') {
            usage();
            return 0;
        }
        if (ch == '?' || ch == ':') {
            fprintf(stderr, "raft-bench: %s %s\n",
                    ch == '?' ? "unknown option" : "missing a value after",
                    argv[optind - 1]);
            usage();
            return 2;
        }
        uint64_t x = 0;
        if (common_parse_u64(optarg, 1, UINT64_MAX, &x) != 0) {
            fprintf(stderr,
                    "raft-bench: --%s needs a positive number, got '%s'\n",
                    opts[idx].name, optarg);
            return 2;
        }
        if (ch == 'p') {
            total = x;
        } else if (ch == 's') {
            size = (size_t)x;
        } else if (ch == 'r') {
            runs = (int)(x > 99 ? 99 : x);
        } else if (n_batches < 16) {
            batches[n_batches++] = x;
        }
    }
    if (optind < argc) {
        usage();
        return 2;
    }
    if (n_batches == 0) {
        const uint64_t dflt[] = {1, 16, 256, 4096};
        for (int k = 0; k < 4; k++) {
            batches[n_batches++] = dflt[k];
        }
    }
    printf(
        "raft-bench: 3 Raft cores in one thread, no I/O; %llu proposals "
        "of %zu bytes per run, median of %d runs\n",
        (unsigned long long)total, size, runs);
    printf("%10s %16s %16s %14s\n", "batch", "proposals/s", "ns/proposal",
           "MB/s");
    for (int b = 0; b < n_batches; b++) {
        uint64_t t[99];
        for (int k = 0; k < runs; k++) {
            t[k] = run(total, size, batches[b]);
        }
        qsort(t, (size_t)runs, sizeof t[0], cmp_u64);
        double secs = (double)t[runs / 2] / 1e9;
        double rate = (double)total / secs;
        printf("%10llu %16.0f %16.1f %14.1f\n", (unsigned long long)batches[b],
               rate, 1e9 / rate, rate * (double)size / 1e6);
        fflush(stdout);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    return 0;
}
