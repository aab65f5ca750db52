/*
 * cluster-bench: acknowledged operations per second of a 3-node in-process
 * cluster (one thread per node, the in-memory transport, perfect in-memory
 * disks), no faults, with 1, 16 and 64 clients issuing operations back to
 * back (half puts, half ReadIndex gets, over 1,000 keys). Prints, for each
 * client count, the median over the runs of ok ops/s with the p50 and p99
 * latency of that run, then peak RSS.
 *
 *   cluster-bench [--seconds S] [--runs R] [--clients N]... [--gets PCT]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cluster.h"
#include "workload.h"

struct result
{
    double ops_per_s;
    double p50_ms;
    double p99_ms;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_result(const void *a, const void *b)
{
    double x = ((const struct result *)a)->ops_per_s;
    double y = ((const struct result *)b)->ops_per_s;
    return x < y ? -1 : x > y;
}

static void sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s,
                          .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int run(unsigned clients,
               double seconds,
               unsigned gets,
               uint64_t seed,
               struct result *out)
{
    struct cluster_config cc = {
        .nodes = 3,
        .tick_ms = 10,
        .election_ticks = 10,
        .heartbeat_ticks = 2,
        .pre_vote = true,
        .check_quorum = true,
        .seed = seed,
        /* Compaction as in the scenarios' defaults, so memory stays flat. */
        .snapshot_entries = 1000,
        .snapshot_trailing = 100,
    };
    struct cluster *cl = NULL;
    struct workload *wl = NULL;
    int rv = cluster_new(&cc, &cl);
    if (rv != 0) {
        return rv;
    }
    struct workload_config wc = {
        .clients = clients,
        .nodes = 3,
        .keys = 1000,
        .value_size = 16,
        .op_timeout_ns = 5000000000ull,
        .attempt_timeout_ns = 1000000000ull,
        .seed = seed,
        .cluster = cl,
        .latencies_only = true,
    };
    wc.mix[KV_OP_GET] = gets;
    wc.mix[KV_OP_PUT] = 100 - gets;
    rv = workload_new(&wc, &wl);
    if (rv != 0) {
        cluster_free(cl);
        return rv;
    }
    rv = cluster_start(cl);
    /* Wait for a leader so the measurement is of steady state. */
    for (int k = 0; k < 500 && cluster_leader(cl) == 0; k++) {
        sleep_s(0.01);
    }
    if (rv == 0) {
        rv = workload_start(wl);
    }
    if (rv != 0) {
        workload_join(wl);
        workload_free(wl);
        cluster_free(cl);
        return rv;
    }
    struct workload_counts c0;
    sleep_s(0.5); /* warm up */
    workload_counts(wl, &c0);
    uint64_t t0 = cluster_now(cl);
    sleep_s(seconds);
    struct workload_counts c1;
    workload_counts(wl, &c1);
    uint64_t t1 = cluster_now(cl);
    workload_drain(wl);
    workload_join(wl);
    size_t n = 0;
    const uint64_t *lat = workload_latencies(wl, &n);
    uint64_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (n > 0 && sorted != NULL) {
        memcpy(sorted, lat, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_u64);
    }
    out->ops_per_s = (double)(c1.ok - c0.ok) / ((double)(t1 - t0) / 1e9);
    out->p50_ms = n && sorted ? (double)sorted[n / 2] / 1e6 : 0;
    out->p99_ms =
        n && sorted ? (double)sorted[(size_t)((double)n * 0.99)] / 1e6 : 0;
    free(sorted);
    workload_free(wl);
    cluster_free(cl);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 5;
    int runs = 3;
    unsigned gets = 50;
    unsigned counts[8];
    int n_counts = 0;
    static const struct option opts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"runs", required_argument, NULL, 'r'},
        {"gets", required_argument, NULL, 'g'},
        {"clients", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    bool bad = false;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (ch == 's') {
            seconds = atof(optarg);
        } else if (ch == 'r') {
            runs = atoi(optarg);
        } else if (ch == 'g') {
            gets = (unsigned)atoi(optarg);
        } else if (ch == 'c' && n_counts < 8) {
            counts[n_counts++] = (unsigned)atoi(optarg);
        } else {
            bad = true;
        }
    }
    if (bad || optind < argc) {
        fprintf(stderr,
                "usage: cluster-bench [--seconds S] [--runs R] "
                "[--clients N]... [--gets PCT]\n");
        return 2;
    }
    if (seconds <= 0 || runs < 1 || runs > 15 || gets > 100) {
        fprintf(stderr, "cluster-bench: bad arguments\n");
        return 2;
    }
    if (n_counts == 0) {
        counts[0] = 1;
        counts[1] = 16;
        counts[2] = 64;
        n_counts = 3;
    }
    printf(
        "cluster-bench: 3 nodes in-process (threads, mem transport, "
        "perfect disks), %u%% gets / %u%% puts, %.0f s per run, median of "
        "%d runs\n",
        gets, 100 - gets, seconds, runs);
    printf("%8s %14s %10s %10s\n", "clients", "ok ops/s", "p50 ms", "p99 ms");
    for (int c = 0; c < n_counts; c++) {
        struct result res[15];
        for (int k = 0; k < runs; k++) {
            int rv = run(counts[c], seconds, gets, (uint64_t)(k + 1), &res[k]);
            if (rv != 0) {
                fprintf(stderr, "cluster-bench: run failed: %s\n",
                        common_strerror(rv));
                return 1;
            }
        }
        qsort(res, (size_t)runs, sizeof res[0], cmp_result);
        const struct result *m = &res[runs / 2];
        printf("%8u %14.0f %10.3f %10.3f\n", counts[c], m->ops_per_s, m->p50_ms,
               m->p99_ms);
        fflush(stdout);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    return 0;
}
