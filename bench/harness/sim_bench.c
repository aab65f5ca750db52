/*
 * sim-bench: how much faster than real time sim mode runs. It runs a
 * scenario in sim mode several times - by default bench/harness/
 * sim-60s.yaml: 60 s of virtual time, 5 nodes, 10 clients back to back,
 * links of 1-5 ms, a partition or a crash every 2 s, the history recorded
 * and checked - and prints the median wall time, the ratio of virtual to
 * wall time, and peak RSS.
 *
 *   sim-bench [--runs R] [SCENARIO.yaml]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/common.h"
#include "harness/harness.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *path = SIM_BENCH_SCENARIO;
    int runs = 5;
    static const struct option opts[] = {
        {"runs", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (ch != 'r') {
            fprintf(stderr, "usage: sim-bench [--runs R] [SCENARIO.yaml]\n");
            return 2;
        }
        runs = atoi(optarg);
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "usage: sim-bench [--runs R] [SCENARIO.yaml]\n");
        return 2;
    }
    if (optind < argc) {
        path = argv[optind];
    }
    if (runs < 1 || runs > 50) {
        fprintf(stderr, "sim-bench: --runs takes 1..50\n");
        return 2;
    }
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    if (scenario_load(path, &s, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct harness_options o = {
        .check_timeout_s = 120, .live = false, .quiet = true, .sim = true};
    uint64_t t[50];
    for (int k = 0; k < runs; k++) {
        uint64_t t0 = common_now_ns();
        int rc = harness_run(&s, &o);
        t[k] = common_now_ns() - t0;
        if (rc != 0) {
            fprintf(stderr, "sim-bench: the run failed (exit %d)\n", rc);
            scenario_fini(&s);
            return 1;
        }
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_u64);
    double wall = (double)t[runs / 2] / 1e9;
    printf(
        "sim-bench: %s, %.0f s of virtual time, %u nodes, %u clients; "
        "median of %d runs\n",
        s.name, s.duration_s, s.nodes, s.clients.count, runs);
    printf("  wall time   %.3f s (min %.3f, max %.3f)\n", wall,
           (double)t[0] / 1e9, (double)t[runs - 1] / 1e9);
    printf("  speed       %.0fx real time\n", s.duration_s / wall);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  peak RSS    %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    scenario_fini(&s);
    return 0;
}
