/*
 * harness: run a scenario against an in-process cluster and judge it.
 *
 *   harness SCENARIO.yaml [--seed N] [--out DIR] [--duration SECONDS]
 *                         [--check-timeout SECONDS] [--quiet] [--no-status]
 *                         [--mode threads|sim] [--seeds A..B]
 *                         [--shard K/N] [--swarm]
 *                         [--transport mem|grpc] [--jobs N] [--junit FILE]
 *                         [--json]
 *
 * Options are read by getopt_long: "--seed 3" or "--seed=3", before or
 * after the scenario. Standard output is line-buffered, so a sweep's
 * result lines appear as the seeds end, also in a file or a pipe.
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
 * --shard K/N narrows a sweep to the K-th of N contiguous blocks of
 * A..B (shard_range), so that many machines can share one range: the
 * blocks are disjoint, cover the range, and differ in size by at most one
 * seed.
 *
 * Exit codes: 0 every check held, 1 a check failed (the last line says
 * which), 2 bad usage or a bad scenario, 3 the checker ran out of its time
 * budget (verdict unknown).
 */
#include <errno.h>
#include <getopt.h>
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
/* The longest command line reproduce_line writes. */
#define REPRODUCE_MAX 8192

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
            "  --shard K/N          sim: run only the K-th of N contiguous\n"
            "                       blocks of the --seeds range (1 <= K <= N)\n"
            "  --jobs N             a sweep's worker processes (default: one\n"
            "                       per online core); the output is the same\n"
            "  --swarm              each seed also draws its own faults and\n"
            "                       timing (nemesis mix, loss, delays)\n"
            "  --transport mem|grpc override the scenario's transport: grpc\n"
            "                       carries Raft messages over gRPC on\n"
            "                       loopback (threads mode only); the\n"
            "                       scenario's link faults still apply\n"
            "  --junit FILE         also write the result (each seed of a\n"
            "                       sweep a test case) as JUnit XML\n"
            "  --json               end with the summary as one JSON object\n"
            "                       on one line (a sweep: its outcome)\n"
            "\n"
            "Options go before or after the scenario, as --opt VALUE or\n"
            "--opt=VALUE.\n");
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

/* What --junit writes: one test case per run (per seed of a sweep). */
struct junit_case
{
    uint64_t seed;
    int rc;
    double seconds;
    char line[HARNESS_RESULT_MAX]; /* the result line */
};

struct junit
{
    const char *path; /* NULL: no --junit */
    const char *suite;
    struct junit_case *cases;
    size_t n;
    size_t cap;
};

static void junit_add(struct junit *u,
                      uint64_t seed,
                      int rc,
                      double seconds,
                      const char *line,
                      size_t line_len)
{
    if (u->path == NULL) {
        return;
    }
    if (common_grow(&u->cases, &u->cap, u->n + 1, sizeof *u->cases, 16) != 0) {
        return; /* the file will say fewer cases; the run goes on */
    }
    struct junit_case *k = &u->cases[u->n++];
    k->seed = seed;
    k->rc = rc;
    k->seconds = seconds;
    /* The last line of what the seed printed is its result line. */
    while (line_len > 0 && line[line_len - 1] == '\n') {
        line_len--;
    }
    size_t start = line_len;
    while (start > 0 && line[start - 1] != '\n') {
        start--;
    }
    size_t n = line_len - start;
    if (n >= sizeof k->line) {
        n = sizeof k->line - 1;
    }
    memcpy(k->line, line + start, n);
    k->line[n] = '\0';
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '<') {
            fputs("&lt;", f);
        } else if (ch == '>') {
            fputs("&gt;", f);
        } else if (ch == '&') {
            fputs("&amp;", f);
        } else if (ch == '"') {
            fputs("&quot;", f);
        } else if (ch < 0x20 && ch != '\t') {
            fputc(' ', f);
        } else {
            fputc(ch, f);
        }
    }
}

/* Writes the JUnit XML file: a suite named after the scenario, one case
 * per seed; a failed seed is a <failure>, an unknown verdict or a run that
 * could not happen an <error>, with the result line as the message. 0, or
 * -1 after saying why. */
static int junit_write(const struct junit *u)
{
    if (u->path == NULL) {
        return 0;
    }
    FILE *f = fopen(u->path, "w");
    if (f == NULL) {
        fprintf(stderr, "harness: cannot write %s: %s\n", u->path,
                strerror(errno));
        return -1;
    }
    size_t failures = 0;
    size_t errors = 0;
    double total = 0;
    for (size_t k = 0; k < u->n; k++) {
        failures += u->cases[k].rc == COMMON_EXIT_FAILED;
        errors += u->cases[k].rc != COMMON_EXIT_OK &&
                  u->cases[k].rc != COMMON_EXIT_FAILED;
        total += u->cases[k].seconds;
    }
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
            "<testsuite name=\"");
    xml_text(f, u->suite);
    fprintf(f,
            "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
            "time=\"%.3f\">\n",
            u->n, failures, errors, total);
    for (size_t k = 0; k < u->n; k++) {
        const struct junit_case *c = &u->cases[k];
        fprintf(f, "  <testcase classname=\"harness.");
        xml_text(f, u->suite);
        fprintf(f, "\" name=\"seed %llu\" time=\"%.3f\"",
                (unsigned long long)c->seed, c->seconds);
        if (c->rc == COMMON_EXIT_OK) {
            fprintf(f, "/>\n");
            continue;
        }
        const char *tag = c->rc == COMMON_EXIT_FAILED ? "failure" : "error";
        fprintf(f, ">\n    <%s message=\"", tag);
        xml_text(f, c->line);
        fprintf(f, "\">");
        xml_text(f, c->line);
        fprintf(f, "</%s>\n  </testcase>\n", tag);
    }
    fprintf(f, "</testsuite>\n</testsuites>\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "harness: cannot write %s\n", u->path);
        return -1;
    }
    return 0;
}

/* The command that runs seed @seed of @path again, as the run report
 * and a failed sweep show it. @duration_arg is "" when the scenario's
 * duration stands; @transport -1 when its transport does. */
static void reproduce_line(char *buf,
                           size_t size,
                           const char *argv0,
                           const char *path,
                           bool sim,
                           uint64_t seed,
                           bool swarm,
                           const char *duration_arg,
                           int transport)
{
    snprintf(buf, size, "%s %s --mode %s --seed %llu%s%s%s%s", argv0, path,
             sim ? "sim" : "threads", (unsigned long long)seed,
             swarm ? " --swarm" : "", *duration_arg ? " --duration " : "",
             duration_arg,
             transport < 0    ? ""
             : transport == 1 ? " --transport grpc"
                              : " --transport mem");
}

/* "K/N" with 1 <= K <= N. */
static int parse_shard(const char *s, uint64_t *k, uint64_t *n)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash - s >= 24) {
        return -1;
    }
    char left[24];
    memcpy(left, s, (size_t)(slash - s));
    left[slash - s] = '\0';
    if (parse_u64(left, k) != 0 || parse_u64(slash + 1, n) != 0 || *k < 1 ||
        *k > *n) {
        return -1;
    }
    return 0;
}

/* Narrows *@first..*@last to shard @k of @n: with c seeds in the range,
 * c = q*n + r, shards 1..r get q + 1 seeds and the others q, in seed
 * order, so the shards are disjoint and cover the range. Returns false
 * when the shard is empty (fewer seeds than shards). The range holds at
 * most 2^64 - 1 seeds (main refuses 0..2^64-1 with --shard). */
static bool shard_range(uint64_t *first, uint64_t *last, uint64_t k, uint64_t n)
{
    uint64_t count = *last - *first + 1;
    uint64_t q = count / n;
    uint64_t r = count % n;
    uint64_t before = (k - 1) * q + (k - 1 < r ? k - 1 : r);
    uint64_t size = q + (k - 1 < r ? 1 : 0);
    if (size == 0) {
        return false;
    }
    *first += before;
    *last = *first + size - 1;
    return true;
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
    struct junit *junit;
    uint64_t *failed_seed; /* set to the seed that failed, if one does */
};

/* Runs seed @sd from scratch, writing its files into @out_dir if not NULL;
 * sets *@rc to its exit code. -1 when the scenario no longer loads (the
 * message is on stderr). */
static int sweep_run_seed(const struct sweep *w,
                          uint64_t sd,
                          const char *out_dir,
                          int *rc,
                          char *result_out)
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
    o.result_out = result_out;
    char again[REPRODUCE_MAX];
    reproduce_line(again, sizeof again, w->argv0, w->path, true, sd, w->swarm,
                   w->duration_arg, -1);
    o.reproduce = again;
    *rc = harness_run(&one, &o);
    scenario_fini(&one);
    return 0;
}

static void sweep_print_failure(const struct sweep *w, uint64_t sd)
{
    *w->failed_seed = sd;
    char again[REPRODUCE_MAX];
    reproduce_line(again, sizeof again, w->argv0, w->path, true, sd, w->swarm,
                   w->duration_arg, -1);
    printf("seed %llu failed; reproduce with:\n  %s\n", (unsigned long long)sd,
           again);
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
    static char line[HARNESS_RESULT_MAX];
    sweep_keep_memory();
    for (uint64_t sd = w->first;; sd++) {
        int rc;
        uint64_t t0 = common_now_ns();
        if (sweep_run_seed(w, sd, NULL, &rc, line) != 0) {
            return COMMON_EXIT_USAGE;
        }
        junit_add(w->junit, sd, rc, (double)(common_now_ns() - t0) / 1e9, line,
                  strlen(line));
        if (rc != COMMON_EXIT_OK) {
            int again;
            if (out_dir != NULL &&
                sweep_run_seed(w, sd, out_dir, &again, NULL) != 0) {
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
    uint64_t ns;     /* how long the seed took */
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
        uint64_t t0 = common_now_ns();
        if (sweep_run_seed(w, r.seed, NULL, &rc, NULL) != 0) {
            r.loaded = 0;
            rc = COMMON_EXIT_USAGE;
        }
        r.ns = common_now_ns() - t0;
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
        fflush(stdout); /* progress as it comes, in a file or pipe too */
        junit_add(w->junit, sd, r.loaded ? r.rc : COMMON_EXIT_USAGE,
                  (double)r.ns / 1e9, buf, (size_t)r.len);
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
        if (sweep_run_seed(w, sd, out_dir, &again, NULL) != 0) {
            rc = COMMON_EXIT_USAGE;
        } else if (again != COMMON_EXIT_OK) {
            sweep_print_failure(w, sd);
            rc = again;
        }
    } else if (failed) {
        int again;
        if (out_dir != NULL &&
            sweep_run_seed(w, sd, out_dir, &again, NULL) != 0) {
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

/* A sweep's outcome as one JSON object on one line: the range, whether
 * every seed passed, and the seed that failed with its rerun command. */
static void print_sweep_json(const struct sweep *w,
                             const struct scenario *s,
                             int rc)
{
    struct common_vec name;
    common_vec_init(&name);
    if (common_vec_append_json(&name, s->name) != 0) {
        common_vec_fini(&name);
        return;
    }
    printf("{\"scenario\":%s", (const char *)name.data);
    common_vec_fini(&name);
    printf(
        ",\"mode\":\"sim\",\"seeds\":{\"first\":%llu,\"last\":%llu},"
        "\"swarm\":%s,\"result\":\"%s\",\"failed_seed\":",
        (unsigned long long)w->first, (unsigned long long)w->last,
        w->swarm ? "true" : "false",
        rc == COMMON_EXIT_OK        ? "pass"
        : rc == COMMON_EXIT_FAILED  ? "fail"
        : rc == COMMON_EXIT_UNKNOWN ? "unknown"
                                    : "error");
    if (rc == COMMON_EXIT_OK || *w->failed_seed == UINT64_MAX) {
        printf("null}\n");
    } else {
        printf("%llu}\n", (unsigned long long)*w->failed_seed);
    }
}

int main(int argc, char **argv)
{
    /* Line by line, also into a file or a pipe: a sweep's progress shows
     * as it comes (sweep workers print into files of their own). */
    setvbuf(stdout, NULL, _IOLBF, 0);
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
    bool shard_set = false;
    uint64_t shard_k = 1;
    uint64_t shard_n = 1;
    bool swarm = false;
    unsigned jobs = online_cores();
    int transport = -1; /* -1: as the scenario says, 0 mem, 1 grpc */
    const char *duration_arg = "";
    struct junit junit = {0};
    uint64_t failed_seed = UINT64_MAX;
    enum {
        OPT_SEED = 256,
        OPT_DURATION,
        OPT_CHECK_TIMEOUT,
        OPT_OUT,
        OPT_MODE,
        OPT_SEEDS,
        OPT_SHARD,
        OPT_JOBS,
        OPT_TRANSPORT,
        OPT_SWARM,
        OPT_QUIET,
        OPT_NO_STATUS,
        OPT_JUNIT,
        OPT_JSON,
    };
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"check-timeout", required_argument, NULL, OPT_CHECK_TIMEOUT},
        {"out", required_argument, NULL, OPT_OUT},
        {"mode", required_argument, NULL, OPT_MODE},
        {"seeds", required_argument, NULL, OPT_SEEDS},
        {"shard", required_argument, NULL, OPT_SHARD},
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"transport", required_argument, NULL, OPT_TRANSPORT},
        {"swarm", no_argument, NULL, OPT_SWARM},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"no-status", no_argument, NULL, OPT_NO_STATUS},
        {"junit", required_argument, NULL, OPT_JUNIT},
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* the messages below say more */
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *v = optarg;
        switch (ch) {
            case 'h':
                usage(stdout);
                return COMMON_EXIT_OK;
            case OPT_SEED:
                if (parse_u64(v, &seed) != 0) {
                    fprintf(stderr,
                            "harness: --seed needs a non-negative "
                            "integer\n");
                    return COMMON_EXIT_USAGE;
                }
                seed_set = true;
                break;
            case OPT_DURATION:
                if (parse_seconds(v, &duration) != 0) {
                    fprintf(stderr,
                            "harness: --duration needs a number of "
                            "seconds > 0\n");
                    return COMMON_EXIT_USAGE;
                }
                duration_set = true;
                duration_arg = v;
                break;
            case OPT_CHECK_TIMEOUT:
                if (parse_seconds(v, &o.check_timeout_s) != 0) {
                    fprintf(stderr,
                            "harness: --check-timeout needs a number of "
                            "seconds > 0\n");
                    return COMMON_EXIT_USAGE;
                }
                break;
            case OPT_OUT:
                if (*v == '\0') {
                    fprintf(stderr, "harness: --out needs a directory\n");
                    return COMMON_EXIT_USAGE;
                }
                o.out_dir = v;
                break;
            case OPT_MODE:
                if (strcmp(v, "sim") == 0) {
                    o.sim = true;
                } else if (strcmp(v, "threads") == 0) {
                    o.sim = false;
                } else {
                    fprintf(stderr, "harness: --mode takes threads or sim\n");
                    return COMMON_EXIT_USAGE;
                }
                break;
            case OPT_SEEDS:
                if (parse_range(v, &seed_first, &seed_last) != 0) {
                    fprintf(stderr,
                            "harness: --seeds takes A..B with A <= B\n");
                    return COMMON_EXIT_USAGE;
                }
                seeds_set = true;
                break;
            case OPT_SHARD:
                if (parse_shard(v, &shard_k, &shard_n) != 0) {
                    fprintf(stderr,
                            "harness: --shard takes K/N with 1 <= K <= N\n");
                    return COMMON_EXIT_USAGE;
                }
                shard_set = true;
                break;
            case OPT_JOBS: {
                uint64_t n = 0;
                if (parse_u64(v, &n) != 0 || n < 1 || n > SWEEP_JOBS_MAX) {
                    fprintf(stderr, "harness: --jobs takes 1 to %d\n",
                            SWEEP_JOBS_MAX);
                    return COMMON_EXIT_USAGE;
                }
                jobs = (unsigned)n;
                break;
            }
            case OPT_TRANSPORT:
                if (strcmp(v, "mem") == 0) {
                    transport = 0;
                } else if (strcmp(v, "grpc") == 0) {
                    transport = 1;
                } else {
                    fprintf(stderr, "harness: --transport takes mem or grpc\n");
                    return COMMON_EXIT_USAGE;
                }
                break;
            case OPT_SWARM:
                swarm = true;
                break;
            case OPT_QUIET:
                o.quiet = true;
                break;
            case OPT_NO_STATUS:
                o.live = false;
                break;
            case OPT_JSON:
                o.json = true;
                break;
            case OPT_JUNIT:
                if (*v == '\0') {
                    fprintf(stderr, "harness: --junit needs a file\n");
                    return COMMON_EXIT_USAGE;
                }
                junit.path = v;
                break;
            case ':':
                fprintf(stderr, "harness: %s needs a value\n",
                        argv[optind - 1]);
                return COMMON_EXIT_USAGE;
            default:
                fprintf(stderr, "harness: unknown option %s\n",
                        argv[optind - 1]);
                usage(stderr);
                return COMMON_EXIT_USAGE;
        }
    }
    for (int k = optind; k < argc; k++) {
        if (path == NULL) {
            path = argv[k];
        } else {
            fprintf(stderr, "harness: more than one scenario: %s and %s\n",
                    path, argv[k]);
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
    if (shard_set && !seeds_set) {
        fprintf(stderr, "harness: --shard needs --seeds\n");
        return COMMON_EXIT_USAGE;
    }
    if (shard_set && seed_last - seed_first == UINT64_MAX) {
        fprintf(stderr,
                "harness: --shard takes a range of at most 2^64 - 1 seeds\n");
        return COMMON_EXIT_USAGE;
    }
    if (shard_set && !shard_range(&seed_first, &seed_last, shard_k, shard_n)) {
        printf("shard %llu/%llu holds no seeds of a range shorter than %llu\n",
               (unsigned long long)shard_k, (unsigned long long)shard_n,
               (unsigned long long)shard_n);
        return COMMON_EXIT_OK;
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
    const char *calm = swarm ? harness_swarm_calm(&s) : NULL;
    if (calm != NULL) {
        fprintf(stderr,
                "%s: --swarm adds no nemesis here: the scenario expects %s, "
                "which a random nemesis breaks by design; its seeds run as "
                "written\n",
                path, calm);
    }
    if (!seeds_set) {
        if (seed_set) {
            s.seed = seed;
        }
        if (swarm) {
            harness_swarm(&s, s.seed);
        }
        static char line[HARNESS_RESULT_MAX];
        o.result_out = line;
        char again[REPRODUCE_MAX];
        reproduce_line(again, sizeof again, argv[0], path, o.sim, s.seed, swarm,
                       duration_arg, transport);
        o.reproduce = again;
        junit.suite = s.name;
        uint64_t t0 = common_now_ns();
        int rc = harness_run(&s, &o);
        junit_add(&junit, s.seed, rc, (double)(common_now_ns() - t0) / 1e9,
                  line, strlen(line));
        if (junit_write(&junit) != 0 && rc == COMMON_EXIT_OK) {
            rc = COMMON_EXIT_UNKNOWN;
        }
        free(junit.cases);
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
        .duration_arg = duration_arg,
        .junit = &junit,
        .failed_seed = &failed_seed,
    };
    w.o.json = false; /* the sweep says its outcome at the end */
    junit.suite = s.name;
    w.o.quiet = true;
    w.o.live = false;
    w.o.out_dir = NULL; /* only the failing seed's files are kept */
    int rc = jobs > 1 && seed_last - seed_first > 0
                 ? sweep_parallel(&w, jobs, o.out_dir)
                 : sweep_serial(&w, o.out_dir);
    if (junit_write(&junit) != 0 && rc == COMMON_EXIT_OK) {
        rc = COMMON_EXIT_UNKNOWN;
    }
    if (o.json) {
        print_sweep_json(&w, &s, rc);
    }
    free(junit.cases);
    scenario_fini(&s);
    return rc;
}
