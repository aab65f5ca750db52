/*
 * harness: run a scenario against an in-process cluster and judge it.
 *
 *   harness SCENARIO.yaml [--seed N] [--out DIR] [--duration SECONDS]
 *                         [--check-timeout SECONDS] [--quiet] [--no-status]
 *                         [--mode threads|sim] [--seeds A..B] [--swarm]
 *                         [--transport mem|grpc] [--jobs N]
 *
 * A sweep (--seeds) runs its seeds in --jobs worker processes (default:
 * one per online core). Worker w of N runs seeds A+w, A+w+N, ...; each
 * seed's stdout is caught in a temporary file and sent to the parent
 * through a pipe as one record, and the parent prints the records in seed
 * order and stops at the first failing seed (rerunning it itself, with
 * its files, when --out is given). So the output is byte for byte the one
 * a single process prints running the seeds one by one, whatever the
 * number of workers; only the wall time changes.
 *
 * Exit codes: 0 every check held, 1 a check failed (the last line says
 * which), 2 bad usage or a bad scenario, 3 the checker ran out of its time
 * budget (verdict unknown).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common/common.h"
#include "harness/harness.h"

/* A sweep's worker processes, at most. */
#define SWEEP_JOBS_MAX 256

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
            "  --jobs N             a sweep's worker processes (default: one\n"
            "                       per online core); the output is the same\n"
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

/* Workers for a sweep by default: one per online core. */
static unsigned online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > SWEEP_JOBS_MAX ? SWEEP_JOBS_MAX : (unsigned)n);
}

/* A sweep over seeds first..last of one scenario file. */
struct sweep
{
    const char *path;
    const char *argv0;
    struct harness_options o; /* quiet, no files */
    uint64_t first;
    uint64_t last;
    bool swarm;
    int transport; /* -1: as the scenario says, 0 mem, 1 grpc */
    bool duration_set;
    double duration;
    const char *duration_arg; /* as given, for the rerun command */
};

/* Runs seed @sd from scratch, writing its files into @out_dir if not NULL;
 * sets *@rc to its exit code. -1 when the scenario no longer loads (the
 * message is on stderr). */
static int sweep_run_seed(const struct sweep *w,
                          uint64_t sd,
                          const char *out_dir,
                          int *rc)
{
    struct scenario one;
    char err[SCENARIO_ERROR_MAX];
    if (scenario_load(w->path, &one, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    one.seed = sd;
    if (w->transport >= 0) {
        one.transport_grpc = w->transport == 1;
    }
    if (w->duration_set) {
        one.duration_s = w->duration;
    }
    if (w->swarm) {
        harness_swarm(&one, sd);
    }
    struct harness_options o = w->o;
    o.out_dir = out_dir;
    *rc = harness_run(&one, &o);
    scenario_fini(&one);
    return 0;
}

static void sweep_print_failure(const struct sweep *w, uint64_t sd)
{
    printf(
        "seed %llu failed; reproduce with:\n  %s %s --mode sim "
        "--seed %llu%s%s%s\n",
        (unsigned long long)sd, w->argv0, w->path, (unsigned long long)sd,
        w->swarm ? " --swarm" : "", w->duration_set ? " --duration " : "",
        w->duration_arg);
}

static void sweep_print_passed(const struct sweep *w)
{
    printf("all %llu seeds passed (%llu..%llu)\n",
           (unsigned long long)(w->last - w->first + 1),
           (unsigned long long)w->first, (unsigned long long)w->last);
}

/* A sweep's process runs seed after seed, each allocating and freeing
 * about the same memory (150-200 MB for nemesis-mixed). By default glibc
 * hands big blocks back to the kernel when they are freed (mmap'ed
 * blocks, a trimmed heap top), and the next seed faults fresh zeroed
 * pages in again; kept in the heap instead, they are reused at no cost.
 * The sweep's peak memory stays that of its largest seed. */
static void sweep_keep_memory(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20); /* glibc's largest */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

/* Seed after seed in this process; the first failure stops the sweep and
 * runs again with its files when @out_dir is given. */
static int sweep_serial(const struct sweep *w, const char *out_dir)
{
    sweep_keep_memory();
    for (uint64_t sd = w->first;; sd++) {
        int rc;
        if (sweep_run_seed(w, sd, NULL, &rc) != 0) {
            return COMMON_EXIT_USAGE;
        }
        if (rc != COMMON_EXIT_OK) {
            int again;
            if (out_dir != NULL &&
                sweep_run_seed(w, sd, out_dir, &again) != 0) {
                return COMMON_EXIT_USAGE;
            }
            sweep_print_failure(w, sd);
            return rc;
        }
        if (sd == w->last) {
            break;
        }
    }
    sweep_print_passed(w);
    return COMMON_EXIT_OK;
}

/* What a worker sends its parent for each seed, followed by len bytes:
 * what the seed printed on stdout. */
struct sweep_record
{
    uint64_t seed;
    int32_t rc;
    uint32_t loaded; /* 0: the scenario no longer loads */
    uint64_t len;
};

/* Writes (@out) or reads all @len bytes of @buf on @fd: 0, or -1 on an
 * error or an end of file first. */
static int move_all(int fd, void *buf, size_t len, bool out)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = out ? write(fd, p, len) : read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends the seed's record: its header, then what it printed, read back
 * from the temporary file that is our stdout. */
static int send_record(int fd, struct sweep_record *r)
{
    if (fflush(stdout) != 0) {
        return -1;
    }
    long end = ftell(stdout);
    if (end < 0) {
        return -1;
    }
    r->len = (uint64_t)end;
    char *buf = malloc(r->len > 0 ? (size_t)r->len : 1);
    if (buf == NULL) {
        return -1;
    }
    int rv = -1;
    size_t got = 0;
    while (got < r->len) {
        ssize_t n =
            pread(STDOUT_FILENO, buf + got, (size_t)r->len - got, (off_t)got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            goto out;
        }
        got += (size_t)n;
    }
    if (move_all(fd, r, sizeof *r, true) == 0 &&
        move_all(fd, buf, (size_t)r->len, true) == 0) {
        rv = 0;
    }
out:
    free(buf);
    return rv;
}

/* Worker @k of @jobs: seeds first+k, first+k+jobs, ... up to its first
 * failure, each record sent on @fd. Never returns. */
static void sweep_worker(const struct sweep *w,
                         unsigned k,
                         unsigned jobs,
                         int fd)
{
    FILE *tmp = tmpfile();
    if (tmp == NULL || dup2(fileno(tmp), STDOUT_FILENO) < 0) {
        perror("harness: sweep worker");
        _exit(COMMON_EXIT_UNKNOWN);
    }
    sweep_keep_memory();
    uint64_t span = w->last - w->first;
    for (uint64_t i = k; i <= span; i += jobs) {
        struct sweep_record r = {.seed = w->first + i, .loaded = 1};
        int rc = COMMON_EXIT_OK;
        if (fflush(stdout) != 0 || fseek(stdout, 0, SEEK_SET) != 0 ||
            ftruncate(STDOUT_FILENO, 0) != 0) {
            perror("harness: sweep worker");
            _exit(COMMON_EXIT_UNKNOWN);
        }
        if (sweep_run_seed(w, r.seed, NULL, &rc) != 0) {
            r.loaded = 0;
            rc = COMMON_EXIT_USAGE;
        }
        r.rc = rc;
        if (send_record(fd, &r) != 0) {
            _exit(COMMON_EXIT_UNKNOWN); /* the parent has stopped */
        }
        if (rc != COMMON_EXIT_OK || span - i < jobs) {
            break;
        }
    }
    _exit(COMMON_EXIT_OK);
}

/* Seeds spread over @jobs worker processes, their output printed in seed
 * order: the same bytes as sweep_serial's. */
static int sweep_parallel(const struct sweep *w,
                          unsigned jobs,
                          const char *out_dir)
{
    if (w->last - w->first < jobs - 1) {
        jobs = (unsigned)(w->last - w->first + 1);
    }
    pid_t pids[SWEEP_JOBS_MAX];
    int fds[SWEEP_JOBS_MAX];
    unsigned started = 0;
    fflush(stdout);
    fflush(stderr);
    for (; started < jobs; started++) {
        int p[2];
        if (pipe(p) != 0) {
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            close(p[0]);
            close(p[1]);
            break;
        }
        if (pid == 0) {
            for (unsigned k = 0; k < started; k++) {
                close(fds[k]);
            }
            close(p[0]);
            sweep_worker(w, started, jobs, p[1]);
        }
        close(p[1]);
        pids[started] = pid;
        fds[started] = p[0];
    }
    int rc = COMMON_EXIT_OK;
    if (started < jobs) {
        perror("harness: cannot start the sweep's workers");
        rc = COMMON_EXIT_UNKNOWN;
    }
    char *buf = NULL;
    size_t cap = 0;
    uint64_t span = w->last - w->first;
    bool died = false;   /* a worker died on seed sd */
    bool failed = false; /* seed sd failed */
    uint64_t sd = w->first;
    for (uint64_t i = 0; rc == COMMON_EXIT_OK && i <= span; i++) {
        sd = w->first + i;
        struct sweep_record r;
        int fd = fds[i % jobs];
        bool got = move_all(fd, &r, sizeof r, false) == 0 && r.seed == sd;
        if (got && r.len > cap) {
            char *grown = realloc(buf, (size_t)r.len);
            got = grown != NULL;
            if (got) {
                buf = grown;
                cap = (size_t)r.len;
            }
        }
        if (!got || move_all(fd, buf, (size_t)r.len, false) != 0) {
            died = true;
            rc = COMMON_EXIT_UNKNOWN;
            break;
        }
        fwrite(buf, 1, (size_t)r.len, stdout);
        if (!r.loaded) {
            rc = COMMON_EXIT_USAGE;
        } else if (r.rc != COMMON_EXIT_OK) {
            failed = true;
            rc = r.rc;
        }
    }
    free(buf);
    /* Workers still running seeds past a failure are not needed. */
    for (unsigned k = 0; k < started; k++) {
        if (rc != COMMON_EXIT_OK) {
            kill(pids[k], SIGTERM);
        }
        close(fds[k]);
        while (waitpid(pids[k], NULL, 0) < 0 && errno == EINTR) {
        }
    }
    if (died) {
        /* The worker died on this seed (an assert, a signal): run it here,
         * as a serial sweep would have, with its files. */
        fprintf(stderr,
                "harness: the sweep's worker died on seed %llu; running it "
                "again\n",
                (unsigned long long)sd);
        int again = COMMON_EXIT_OK;
        if (sweep_run_seed(w, sd, out_dir, &again) != 0) {
            rc = COMMON_EXIT_USAGE;
        } else if (again != COMMON_EXIT_OK) {
            sweep_print_failure(w, sd);
            rc = again;
        }
    } else if (failed) {
        int again;
        if (out_dir != NULL && sweep_run_seed(w, sd, out_dir, &again) != 0) {
            rc = COMMON_EXIT_USAGE;
        } else {
            sweep_print_failure(w, sd);
        }
    }
    if (rc == COMMON_EXIT_OK) {
        sweep_print_passed(w);
    }
    return rc;
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
    unsigned jobs = online_cores();
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
        } else if (strcmp(a, "--jobs") == 0) {
            uint64_t n = 0;
            if (parse_u64(v, &n) != 0 || n < 1 || n > SWEEP_JOBS_MAX) {
                fprintf(stderr, "harness: --jobs takes 1 to %d\n",
                        SWEEP_JOBS_MAX);
                return COMMON_EXIT_USAGE;
            }
            jobs = (unsigned)n;
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
    struct sweep w = {
        .path = path,
        .argv0 = argv[0],
        .o = o,
        .first = seed_first,
        .last = seed_last,
        .swarm = swarm,
        .transport = transport,
        .duration_set = duration_set,
        .duration = duration,
        .duration_arg = duration_set ? argv_duration(argc, argv) : "",
    };
    w.o.quiet = true;
    w.o.live = false;
    w.o.out_dir = NULL; /* only the failing seed's files are kept */
    int rc = jobs > 1 && seed_last - seed_first > 0
                 ? sweep_parallel(&w, jobs, o.out_dir)
                 : sweep_serial(&w, o.out_dir);
    scenario_fini(&s);
    return rc;
}
