/*
 * harness: run a scenario against an in-process cluster and judge it.
 *
 *   harness SCENARIO.yaml [--seed N] [--out DIR] [--duration SECONDS]
 *                         [--check-timeout SECONDS] [--quiet] [--no-status]
 *                         [--mode threads|sim] [--seeds A..B] [--swarm]
 *                         [--transport mem|grpc]
 *
 * Exit codes: 0 every check held, 1 a check failed (the last line says
 * which), 2 bad usage or a bad scenario, 3 the checker ran out of its time
 * budget (verdict unknown).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "harness/harness.h"

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
            "  --no-status          no live status line\n"
            "  --mode threads|sim   threads (default): one thread per node,\n"
            "                       real time; sim: one thread, virtual time,\n"
            "                       a seeded scheduler (same seed, same run)\n"
            "  --seeds A..B         sim: run seeds A to B, stop at the first\n"
            "                       that fails and print how to rerun it\n"
            "  --swarm              each seed also draws its own faults and\n"
            "                       timing (nemesis mix, loss, delays)\n"
            "  --transport mem|grpc override the scenario's transport: grpc\n"
            "                       carries Raft messages over gRPC on\n"
            "                       loopback (threads mode only); the\n"
            "                       scenario's link faults still apply\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    return common_parse_u64(s, 0, UINT64_MAX, out);
}

/* Seconds: > 0, at most a day. */
static int parse_seconds(const char *s, double *out)
{
    double v = 0;
    if (common_parse_double(s, 0, 86400, &v) != 0 || !(v > 0)) {
        return -1;
    }
    *out = v;
    return 0;
}

/* The --duration argument as given, for the rerun command. */
static const char *argv_duration(int argc, char **argv)
{
    for (int k = 1; k + 1 < argc; k++) {
        if (strcmp(argv[k], "--duration") == 0) {
            return argv[k + 1];
        }
    }
    return "";
}

/* "A..B" */
static int parse_range(const char *s, uint64_t *a, uint64_t *b)
{
    if (s == NULL) {
        return -1;
    }
    const char *dots = strstr(s, "..");
    if (dots == NULL || dots == s) {
        return -1;
    }
    char first[32];
    size_t n = (size_t)(dots - s);
    if (n >= sizeof first) {
        return -1;
    }
    memcpy(first, s, n);
    first[n] = '\0';
    if (parse_u64(first, a) != 0 || parse_u64(dots + 2, b) != 0 || *b < *a) {
        return -1;
    }
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
    bool seeds_set = false;
    uint64_t seed_first = 0;
    uint64_t seed_last = 0;
    bool swarm = false;
    int transport = -1; /* -1: as the scenario says, 0 mem, 1 grpc */
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return COMMON_EXIT_OK;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(v, &seed) != 0) {
                fprintf(stderr,
                        "harness: --seed needs a non-negative "
                        "integer\n");
                return COMMON_EXIT_USAGE;
            }
            seed_set = true;
            k++;
        } else if (strcmp(a, "--duration") == 0) {
            if (parse_seconds(v, &duration) != 0) {
                fprintf(stderr,
                        "harness: --duration needs a number of "
                        "seconds > 0\n");
                return COMMON_EXIT_USAGE;
            }
            duration_set = true;
            k++;
        } else if (strcmp(a, "--check-timeout") == 0) {
            if (parse_seconds(v, &o.check_timeout_s) != 0) {
                fprintf(stderr,
                        "harness: --check-timeout needs a number of "
                        "seconds > 0\n");
                return COMMON_EXIT_USAGE;
            }
            k++;
        } else if (strcmp(a, "--out") == 0) {
            if (v == NULL || *v == '\0') {
                fprintf(stderr, "harness: --out needs a directory\n");
                return COMMON_EXIT_USAGE;
            }
            o.out_dir = v;
            k++;
        } else if (strcmp(a, "--mode") == 0) {
            if (v != NULL && strcmp(v, "sim") == 0) {
                o.sim = true;
            } else if (v != NULL && strcmp(v, "threads") == 0) {
                o.sim = false;
            } else {
                fprintf(stderr, "harness: --mode takes threads or sim\n");
                return COMMON_EXIT_USAGE;
            }
            k++;
        } else if (strcmp(a, "--seeds") == 0) {
            if (parse_range(v, &seed_first, &seed_last) != 0) {
                fprintf(stderr, "harness: --seeds takes A..B with A <= B\n");
                return COMMON_EXIT_USAGE;
            }
            seeds_set = true;
            k++;
        } else if (strcmp(a, "--transport") == 0) {
            if (v != NULL && strcmp(v, "mem") == 0) {
                transport = 0;
            } else if (v != NULL && strcmp(v, "grpc") == 0) {
                transport = 1;
            } else {
                fprintf(stderr, "harness: --transport takes mem or grpc\n");
                return COMMON_EXIT_USAGE;
            }
            k++;
        } else if (strcmp(a, "--swarm") == 0) {
            swarm = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = true;
        } else if (strcmp(a, "--no-status") == 0) {
            o.live = false;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "harness: unknown option %s\n", a);
            usage(stderr);
            return COMMON_EXIT_USAGE;
        } else if (path == NULL) {
            path = a;
        } else {
            fprintf(stderr, "harness: more than one scenario: %s and %s\n",
                    path, a);
            return COMMON_EXIT_USAGE;
        }
    }
    if (path == NULL) {
        usage(stderr);
        return COMMON_EXIT_USAGE;
    }
    if (seeds_set && !o.sim) {
        fprintf(stderr, "harness: --seeds needs --mode sim\n");
        return COMMON_EXIT_USAGE;
    }
    if (seeds_set && seed_set) {
        fprintf(stderr, "harness: --seed and --seeds exclude each other\n");
        return COMMON_EXIT_USAGE;
    }
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    if (scenario_load(path, &s, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return COMMON_EXIT_USAGE;
    }
    if (transport >= 0) {
        s.transport_grpc = transport == 1;
    }
    if (s.transport_grpc && o.sim) {
        /* Sim mode runs every node on one thread in virtual time; gRPC
         * runs on real sockets, threads and clocks. */
        fprintf(stderr,
                "%s: transport grpc needs --mode threads (sim mode runs on "
                "virtual time; use transport mem there)\n",
                path);
        scenario_fini(&s);
        return COMMON_EXIT_USAGE;
    }
    if (duration_set) {
        s.duration_s = duration;
    }
    if (!seeds_set) {
        if (seed_set) {
            s.seed = seed;
        }
        if (swarm) {
            harness_swarm(&s, s.seed);
        }
        int rc = harness_run(&s, &o);
        scenario_fini(&s);
        return rc;
    }
    /* A sweep: every seed from scratch; the first failure stops it. */
    o.quiet = true;
    o.live = false;
    const char *out_dir = o.out_dir;
    int rc = COMMON_EXIT_OK;
    uint64_t ran = 0;
    for (uint64_t sd = seed_first;; sd++) {
        struct scenario one;
        if (scenario_load(path, &one, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            rc = COMMON_EXIT_USAGE;
            break;
        }
        one.seed = sd;
        if (transport >= 0) {
            one.transport_grpc = transport == 1;
        }
        if (duration_set) {
            one.duration_s = duration;
        }
        if (swarm) {
            harness_swarm(&one, sd);
        }
        o.out_dir = NULL; /* only the failing seed's files are kept */
        rc = harness_run(&one, &o);
        ran++;
        if (rc != COMMON_EXIT_OK && out_dir != NULL) {
            o.out_dir = out_dir;
            harness_run(&one, &o); /* the same run again, with its files */
        }
        scenario_fini(&one);
        if (rc != COMMON_EXIT_OK) {
            printf(
                "seed %llu failed; reproduce with:\n  %s %s --mode sim "
                "--seed %llu%s%s%s\n",
                (unsigned long long)sd, argv[0], path, (unsigned long long)sd,
                swarm ? " --swarm" : "", duration_set ? " --duration " : "",
                duration_set ? argv_duration(argc, argv) : "");
            break;
        }
        if (sd == seed_last) {
            break;
        }
    }
    if (rc == COMMON_EXIT_OK) {
        printf("all %llu seeds passed (%llu..%llu)\n", (unsigned long long)ran,
               (unsigned long long)seed_first, (unsigned long long)seed_last);
    }
    scenario_fini(&s);
    return rc;
}
