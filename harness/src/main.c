/*
 * harness: run a scenario against an in-process cluster and judge it.
 *
 *   harness SCENARIO.yaml [--seed N] [--out DIR] [--duration SECONDS]
 *                         [--check-timeout SECONDS] [--quiet] [--no-status]
 *
 * Exit codes: 0 every check held, 1 a check failed (the last line says
 * which), 2 bad usage or a bad scenario, 3 the checker ran out of its time
 * budget (verdict unknown).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "scenario.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: harness SCENARIO.yaml [--seed N] [--out DIR] "
            "[--duration SECONDS]\n"
            "                             [--check-timeout SECONDS] "
            "[--quiet] [--no-status]\n"
            "\n"
            "Runs the scenario's cluster, workload and faults, then checks\n"
            "linearizability, Raft's safety properties and the scenario's\n"
            "expectations. Exit 0 all held, 1 a check failed, 2 bad usage or\n"
            "scenario, 3 the checker ran out of time.\n"
            "\n"
            "  --seed N             override the scenario's seed\n"
            "  --out DIR            write history.jsonl, events.log and\n"
            "                       report.html there (created if missing)\n"
            "  --duration SECONDS   override the scenario's duration\n"
            "  --check-timeout S    the checker's time budget (default 120)\n"
            "  --quiet              print only the result line\n"
            "  --no-status          no live status line\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0' || *s == '-') {
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    if (s == NULL || *s == '\0') {
        return -1;
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v > 0) || v > 86400) {
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    struct harness_options o = {
        .out_dir = NULL,
        .check_timeout_s = 120,
        .live = isatty(STDERR_FILENO) != 0,
        .quiet = false,
    };
    bool seed_set = false;
    uint64_t seed = 0;
    bool duration_set = false;
    double duration = 0;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return HARNESS_EXIT_OK;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(v, &seed) != 0) {
                fprintf(stderr,
                        "harness: --seed needs a non-negative "
                        "integer\n");
                return HARNESS_EXIT_USAGE;
            }
            seed_set = true;
            k++;
        } else if (strcmp(a, "--duration") == 0) {
            if (parse_seconds(v, &duration) != 0) {
                fprintf(stderr,
                        "harness: --duration needs a number of "
                        "seconds > 0\n");
                return HARNESS_EXIT_USAGE;
            }
            duration_set = true;
            k++;
        } else if (strcmp(a, "--check-timeout") == 0) {
            if (parse_seconds(v, &o.check_timeout_s) != 0) {
                fprintf(stderr,
                        "harness: --check-timeout needs a number of "
                        "seconds > 0\n");
                return HARNESS_EXIT_USAGE;
            }
            k++;
        } else if (strcmp(a, "--out") == 0) {
            if (v == NULL || *v == '\0') {
                fprintf(stderr, "harness: --out needs a directory\n");
                return HARNESS_EXIT_USAGE;
            }
            o.out_dir = v;
            k++;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = true;
        } else if (strcmp(a, "--no-status") == 0) {
            o.live = false;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "harness: unknown option %s\n", a);
            usage(stderr);
            return HARNESS_EXIT_USAGE;
        } else if (path == NULL) {
            path = a;
        } else {
            fprintf(stderr, "harness: more than one scenario: %s and %s\n",
                    path, a);
            return HARNESS_EXIT_USAGE;
        }
    }
    if (path == NULL) {
        usage(stderr);
        return HARNESS_EXIT_USAGE;
    }
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    if (scenario_load(path, &s, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return HARNESS_EXIT_USAGE;
    }
    if (seed_set) {
        s.seed = seed;
    }
    if (duration_set) {
        /* Faults after a shortened end never fire; say so. */
        s.duration_s = duration;
    }
    if (s.transport_grpc) {
        fprintf(stderr,
                "%s: transport 'grpc' is not available in this build yet; "
                "use 'mem'\n",
                path);
        scenario_fini(&s);
        return HARNESS_EXIT_USAGE;
    }
    int rc = harness_run(&s, &o);
    scenario_fini(&s);
    return rc;
}
