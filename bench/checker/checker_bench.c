/*
 * checker-bench: how fast the checker is, on the workloads porcupine was
 * measured on and on a large generated history.
 *
 *   checker-bench [--runs N] [--threads N] [--testdata DIR]
 *   checker-bench --generate OPS [--keys K] [--processes P] [--info RATE]
 *                 [--fail RATE] [--seed S] > history.jsonl
 *
 * Each figure is the best of --runs runs (default 5) of checker_check on a
 * history parsed once; parsing is timed apart. The 50 etcd logs are summed
 * from their per-file bests, as porcupine's figures were. The generated
 * history (100,000 ops, 1,000 keys, 50 processes, 1% info, seed 1) is also
 * timed end to end: JSON Lines text to verdict. Peak RSS comes from
 * getrusage. Porcupine's own figures, quoted for the ratios, were taken on
 * a 2-core machine like ours.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "checker/checker.h"

struct bench_opts
{
    int runs;
    unsigned threads;
    const char *testdata;
};

struct figure
{
    double parse_s;
    double check_s; /* best of the runs */
    uint64_t steps;
    enum checker_verdict verdict;
    size_t ops;
};

static double now_s(void)
{
    return (double)common_now_ns() / 1e9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "checker-bench: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    exit(2);
}

/* Checks @h runs times; the best time wins. */
static void time_checks(struct checker_history *h,
                        const struct bench_opts *b,
                        bool empty,
                        struct figure *fig)
{
    struct checker_options o;
    checker_options_init(&o);
    o.threads = b->threads;
    o.absent_reads_empty = empty;
    fig->check_s = 1e99;
    for (int k = 0; k < b->runs; k++) {
        struct checker_result *r;
        double t0 = now_s();
        if (checker_check(h, &o, &r) != 0) {
            die("check failed", checker_history_error(h));
        }
        double t = now_s() - t0;
        if (t < fig->check_s) {
            fig->check_s = t;
        }
        fig->steps = r->steps;
        fig->verdict = r->verdict;
        fig->ops = r->ops;
        checker_result_free(r);
    }
}

static struct figure bench_file(const char *path,
                                const struct bench_opts *b,
                                bool empty)
{
    struct figure fig;
    memset(&fig, 0, sizeof fig);
    struct checker_history *h = checker_history_new();
    double t0 = now_s();
    if (checker_history_read_file(h, path, CHECKER_FORMAT_AUTO) != 0) {
        die("cannot read", checker_history_error(h));
    }
    fig.parse_s = now_s() - t0;
    time_checks(h, b, empty, &fig);
    checker_history_free(h);
    return fig;
}

static void print_figure(const char *name,
                         const char *verdict,
                         const struct figure *f,
                         double porcupine_lo,
                         double porcupine_hi)
{
    printf("%-24s %-16s %7zu ops %9llu steps  parse %.4f s  check %.4f s", name,
           verdict, f->ops, (unsigned long long)f->steps, f->parse_s,
           f->check_s);
    if (porcupine_lo > 0) {
        printf("  porcupine %.2f-%.2f s: %.1fx-%.1fx faster", porcupine_lo,
               porcupine_hi, porcupine_lo / f->check_s,
               porcupine_hi / f->check_s);
    }
    printf("\n");
}

static void bench_porcupine(const struct bench_opts *b)
{
    char path[4096];
    struct figure total;
    memset(&total, 0, sizeof total);
    int not_lin = 0;
    for (int i = 0; i < 50; i++) {
        snprintf(path, sizeof path, "%s/porcupine/jepsen/etcd_%03d.log",
                 b->testdata, i);
        struct figure f = bench_file(path, b, false);
        total.parse_s += f.parse_s;
        total.check_s += f.check_s;
        total.steps += f.steps;
        total.ops += f.ops;
        not_lin += f.verdict == CHECKER_NOT_LINEARIZABLE;
        if (i == 2) {
            print_figure("jepsen/etcd_002.log", checker_verdict_name(f.verdict),
                         &f, 0.30, 0.36);
        } else if (i == 7) {
            print_figure("jepsen/etcd_007.log", checker_verdict_name(f.verdict),
                         &f, 0.18, 0.32);
        }
    }
    char verdicts[32];
    snprintf(verdicts, sizeof verdicts, "%d/50 not-lin", not_lin);
    print_figure("jepsen/etcd_*.log (sum)", verdicts, &total, 0.52, 0.71);
    snprintf(path, sizeof path, "%s/porcupine/kv/c50-ok.txt", b->testdata);
    struct figure kv = bench_file(path, b, true);
    print_figure("kv/c50-ok.txt", checker_verdict_name(kv.verdict), &kv, 0.22,
                 0.43);
    snprintf(path, sizeof path, "%s/porcupine/kv/c50-bad.txt", b->testdata);
    kv = bench_file(path, b, true);
    print_figure("kv/c50-bad.txt", checker_verdict_name(kv.verdict), &kv, 0, 0);
}

static void generated_options(struct checker_gen_options *o)
{
    checker_gen_options_init(o);
    o->seed = 1;
    o->ops = 100000;
    o->keys = 1000;
    o->processes = 50;
    o->info_rate = 0.01;
    o->fail_rate = 0.0;
}

/* The generated history as JSON Lines text (free it). */
static char *generate_text(const struct checker_gen_options *o, size_t *len)
{
    struct checker_gen *g;
    if (checker_generate(o, &g) != 0) {
        die("cannot generate", NULL);
    }
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (f == NULL) {
        die("out of memory", NULL);
    }
    for (size_t k = 0; k < g->events_len; k++) {
        checker_event_write_jsonl(f, &g->events[k]);
    }
    fclose(f);
    checker_gen_free(g);
    return text;
}

static void bench_generated(const struct bench_opts *b)
{
    struct checker_gen_options o;
    generated_options(&o);
    size_t len;
    char *text = generate_text(&o, &len);
    struct figure fig;
    memset(&fig, 0, sizeof fig);
    double best_total = 1e99;
    fig.parse_s = 1e99;
    for (int k = 0; k < b->runs; k++) {
        struct checker_history *h = checker_history_new();
        double t0 = now_s();
        if (checker_history_parse(h, "generated", text, len,
                                  CHECKER_FORMAT_AUTO) != 0) {
            die("cannot parse", checker_history_error(h));
        }
        double parse = now_s() - t0;
        struct figure one;
        struct bench_opts single = *b;
        single.runs = 1;
        time_checks(h, &single, false, &one);
        checker_history_free(h);
        fig.parse_s = parse < fig.parse_s ? parse : fig.parse_s;
        if (k == 0 || one.check_s < fig.check_s) {
            fig.check_s = one.check_s;
        }
        fig.steps = one.steps;
        fig.verdict = one.verdict;
        fig.ops = one.ops;
        best_total =
            parse + one.check_s < best_total ? parse + one.check_s : best_total;
    }
    print_figure("generated 100k ops", checker_verdict_name(fig.verdict), &fig,
                 0, 0);
    printf("%-24s %.1f MB of JSON Lines, parse + check %.4f s\n", "",
           (double)len / 1e6, best_total);
    free(text);
}

/* How soon after its time budget a search that cannot finish gives up: a
 * single key with 14 concurrent appends and a read of a value nobody
 * wrote (about 14! states; a delete that never completes keeps the search
 * from cutting the orders short by the read's value), checked with budgets
 * of 0.5, 2 and 8 s; the figure is the worst overshoot over the runs. */
static void bench_timeout(const struct bench_opts *b)
{
    char text[8192];
    size_t at = (size_t)snprintf(text, sizeof text,
                                 "{\"process\":98,\"type\":\"invoke\",\"f\":"
                                 "\"delete\",\"key\":\"x\",\"time\":0}\n");
    for (int p = 0; p < 14; p++) {
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "{\"process\":%d,\"type\":\"invoke\",\"f\":"
                               "\"append\",\"key\":\"x\",\"value\":\"%c\","
                               "\"time\":0}\n",
                               p, 'a' + p);
    }
    for (int p = 0; p < 14; p++) {
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "{\"process\":%d,\"type\":\"ok\",\"f\":"
                               "\"append\",\"key\":\"x\",\"time\":10}\n",
                               p);
    }
    at += (size_t)snprintf(text + at, sizeof text - at,
                           "{\"process\":99,\"type\":\"invoke\",\"f\":"
                           "\"get\",\"key\":\"x\",\"time\":20}\n"
                           "{\"process\":99,\"type\":\"ok\",\"f\":\"get\","
                           "\"key\":\"x\",\"value\":\"none\",\"time\":30}\n");
    static const double budgets[] = {0.5, 2.0, 8.0};
    for (size_t k = 0; k < sizeof budgets / sizeof budgets[0]; k++) {
        double worst = 0;
        for (int run = 0; run < b->runs; run++) {
            struct checker_history *h = checker_history_new();
            if (checker_history_parse(h, "timeout", text, at,
                                      CHECKER_FORMAT_JSONL) != 0) {
                die("cannot parse", checker_history_error(h));
            }
            struct checker_options o;
            checker_options_init(&o);
            o.threads = b->threads;
            o.timeout_s = budgets[k];
            struct checker_result *r = NULL;
            double t0 = now_s();
            if (checker_check(h, &o, &r) != 0) {
                die("cannot check", NULL);
            }
            double over = now_s() - t0 - budgets[k];
            if (r->verdict != CHECKER_UNKNOWN) {
                die("the time budget test finished", NULL);
            }
            worst = over > worst ? over : worst;
            checker_result_free(r);
            checker_history_free(h);
        }
        printf("%-24s budget %.1f s: unknown, at most %.3f s late\n",
               k == 0 ? "time budget" : "", budgets[k], worst);
    }
}

static int generate_main(int argc, char **argv)
{
    struct checker_gen_options o;
    generated_options(&o);
    static const struct option opts[] = {
        {"keys", required_argument, NULL, 'k'},
        {"processes", required_argument, NULL, 'p'},
        {"info", required_argument, NULL, 'i'},
        {"fail", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    /* argv[1] is --generate: getopt starts after it, and OPS is the one
     * argument that is not an option. */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, ":", opts, NULL)) != -1) {
        switch (ch) {
            case 'k':
                o.keys = (size_t)strtoull(optarg, NULL, 10);
                break;
            case 'p':
                o.processes = (size_t)strtoull(optarg, NULL, 10);
                break;
            case 'i':
                o.info_rate = strtod(optarg, NULL);
                break;
            case 'f':
                o.fail_rate = strtod(optarg, NULL);
                break;
            case 's':
                o.seed = strtoull(optarg, NULL, 0);
                break;
            default:
                die("unknown option or missing value", argv[optind]);
        }
    }
    if (optind + 1 != argc - 1) {
        die("--generate takes one number of ops", NULL);
    }
    o.ops = (size_t)strtoull(argv[optind + 1], NULL, 10);
    if (o.processes == 0) {
        die("--processes must be at least 1", NULL);
    }
    o.kv_ops = o.keys > 0;
    struct checker_gen *g;
    if (checker_generate(&o, &g) != 0) {
        die("cannot generate", NULL);
    }
    for (size_t k = 0; k < g->events_len; k++) {
        checker_event_write_jsonl(stdout, &g->events[k]);
    }
    checker_gen_free(g);
    return fflush(stdout) == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--generate") == 0) {
        return generate_main(argc, argv);
    }
    struct bench_opts b = {5, 0, NULL};
    b.testdata = getenv("RAFTKV_TESTDATA");
    if (b.testdata == NULL) {
        b.testdata = CHECKER_BENCH_TESTDATA;
    }
    static const struct option opts[] = {
        {"runs", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'},
        {"testdata", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1 ||
           optind < argc) {
        if (ch == 'r') {
            b.runs = atoi(optarg);
        } else if (ch == 't') {
            b.threads = (unsigned)atoi(optarg);
        } else if (ch == 'd') {
            b.testdata = optarg;
        } else {
            fprintf(stderr,
                    "usage: checker-bench [--runs N] [--threads N] "
                    "[--testdata DIR]\n"
                    "       checker-bench --generate OPS [--keys K] "
                    "[--processes P] [--info RATE] [--fail RATE] "
                    "[--seed S]\n");
            return 2;
        }
    }
    if (b.runs < 1) {
        b.runs = 1;
    }
    printf("checker-bench: best of %d runs, %s threads, test data %s\n", b.runs,
           b.threads ? "fixed" : "default (one per core)", b.testdata);
    bench_porcupine(&b);
    bench_generated(&b);
    bench_timeout(&b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    return 0;
}
