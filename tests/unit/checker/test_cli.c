/*
 * checker: lincheck's command line, run as a program: exit codes 0, 1, 2
 * and 3, options before or after FILE, stdin, --json and --html, usage.
 * The path of lincheck is the first argument.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "helpers.h"

static const char *lincheck;
static char dir[] = "/tmp/lincheck-cli-XXXXXX";
static char out[1 << 16];
static char err[1 << 16];

static const char *path_of(const char *name)
{
    static char p[4][512];
    static int next;
    char *s = p[next++ % 4];
    snprintf(s, 512, "%s/%s", dir, name);
    return s;
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = 0;
    if (f != NULL) {
        fclose(f);
    }
}

/* Runs "lincheck ARGS" (ARGS is shell text) and returns its exit code;
 * its output lands in out[] and err[]. */
static int run(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && '%s' %s >out.txt 2>err.txt", dir,
             lincheck, args);
    int status = system(cmd);
    slurp(path_of("out.txt"), out, sizeof out);
    slurp(path_of("err.txt"), err, sizeof err);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static const char *const good =
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
    "\"value\":\"1\"}\n"
    "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\"}\n";
static const char *const bad =
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
    "\"value\":\"1\"}\n"
    "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\"}\n"
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\"}\n"
    "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
    "\"value\":\"2\"}\n";

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    write_file("good.jsonl", good);
    write_file("bad.jsonl", bad);
    write_file("empty.jsonl", "");
    write_file("broken.jsonl",
               "{\"process\":0,\"type\":\"invoke\","
               "\"f\":\"get\"}\n{oops\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Exit 0 for a linearizable history (an empty one too), 1 for one that is
 * not, with the verdict on the first line. */
static void exit_codes_give_the_verdict(void **state)
{
    (void)state;
    assert_int_equal(run("good.jsonl"), 0);
    assert_int_equal(strncmp(out, "linearizable", 12), 0);
    assert_int_equal(run("empty.jsonl"), 0);
    assert_int_equal(run("bad.jsonl"), 1);
    assert_int_equal(strncmp(out, "not linearizable: key \"x\"", 25), 0);
}

/* Bad input exits 2 with "file:line: what" on stderr, "<stdin>" for -. */
static void bad_input_exits_2_with_file_and_line(void **state)
{
    (void)state;
    assert_int_equal(run("broken.jsonl"), 2);
    assert_non_null(strstr(err, "broken.jsonl:2: not JSON"));
    assert_int_equal(run("- < broken.jsonl"), 2);
    assert_non_null(strstr(err, "<stdin>:2: not JSON"));
    assert_int_equal(run("missing.jsonl"), 2);
    assert_non_null(strstr(err, "missing.jsonl"));
    assert_int_equal(run("--model register bad.jsonl"), 1);
}

/* Usage errors exit 2 and print the usage; --help exits 0. */
static void usage_errors_exit_2(void **state)
{
    (void)state;
    assert_int_equal(run("--help"), 0);
    assert_non_null(strstr(out, "usage: lincheck"));
    assert_int_equal(run("--frobnicate good.jsonl"), 2);
    assert_non_null(strstr(err, "unknown option \"--frobnicate\""));
    assert_non_null(strstr(err, "usage: lincheck"));
    assert_int_equal(run(""), 2);
    assert_int_equal(run("good.jsonl bad.jsonl"), 2);
    assert_int_equal(run("--model tree good.jsonl"), 2);
    assert_int_equal(run("--format xml good.jsonl"), 2);
    assert_int_equal(run("--timeout -1 good.jsonl"), 2);
    assert_int_equal(run("--timeout"), 2);
    assert_int_equal(run("--threads 0 good.jsonl"), 2);
}

/* Options may come after FILE, in --opt=value form too, and stdin works. */
static void options_go_before_or_after_the_file(void **state)
{
    (void)state;
    assert_int_equal(run("bad.jsonl --json"), 1);
    assert_int_equal(out[0], '{');
    assert_int_equal(run("--format=jsonl --timeout=5 --threads=2 - "
                         "< good.jsonl"),
                     0);
    assert_int_equal(run("-- bad.jsonl"), 1);
}

/* --json prints one JSON object with the verdict and the failure. */
static void json_output_is_one_object(void **state)
{
    (void)state;
    assert_int_equal(run("--json bad.jsonl"), 1);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")),
                        "not-linearizable");
    assert_int_equal(json_array_size(json_object_get(j, "unplaced")), 1);
    json_decref(j);
}

/* --html writes the page; a path that cannot be written exits 2. */
static void html_option_writes_the_page(void **state)
{
    (void)state;
    assert_int_equal(run("bad.jsonl --html report.html"), 1);
    char page[1 << 14];
    slurp(path_of("report.html"), page, sizeof page);
    assert_int_equal(strncmp(page, "<!DOCTYPE html>", 15), 0);
    assert_int_equal(run("bad.jsonl --html /nonexistent/r.html"), 2);
    assert_non_null(strstr(err, "cannot write /nonexistent/r.html"));
}

/* Writes @name: @n concurrent appends to one key and a read of a value
 * nobody wrote - about n! states, out of any search's reach. A delete
 * that never completes keeps the search from cutting the orders short by
 * the read's value (search.c, "Appends"). */
static void write_hard(const char *name, int n)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    fprintf(f,
            "{\"process\":98,\"type\":\"invoke\",\"f\":\"delete\","
            "\"key\":\"x\",\"time\":0}\n");
    for (int p = 0; p < n; p++) {
        fprintf(f,
                "{\"process\":%d,\"type\":\"invoke\",\"f\":\"append\","
                "\"key\":\"x\",\"value\":\"%c\",\"time\":0}\n",
                p, 'a' + p);
    }
    for (int p = 0; p < n; p++) {
        fprintf(f,
                "{\"process\":%d,\"type\":\"ok\",\"f\":\"append\","
                "\"key\":\"x\",\"time\":10}\n",
                p);
    }
    fprintf(f,
            "{\"process\":99,\"type\":\"invoke\",\"f\":\"get\","
            "\"key\":\"x\",\"time\":20}\n"
            "{\"process\":99,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
            "\"value\":\"z\",\"time\":30}\n");
    fclose(f);
}

/* A search past its --timeout, or its --max-steps, exits 3 (unknown). */
static void timeout_exits_3(void **state)
{
    (void)state;
    write_hard("hard.jsonl", 12);
    assert_int_equal(run("--timeout 0.2 hard.jsonl"), 3);
    assert_int_equal(strncmp(out, "unknown: the time budget ran out", 32), 0);
    assert_int_equal(run("--max-steps=100000 hard.jsonl"), 3);
    assert_int_equal(strncmp(out, "unknown: the step budget ran out", 32), 0);
    assert_int_equal(run("--max-steps 0 hard.jsonl"), 2);
}

/* Sanitizers multiply a program's memory (shadow, quarantine): RSS then
 * says nothing about the checker's budget. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* lincheck @args... (NULL-terminated) as a child of its own: its exit
 * status, and its peak RSS in KB in *rss_kb. */
static int run_measured(long *rss_kb, ...)
{
    const char *argv[16];
    int argc = 0;
    argv[argc++] = lincheck;
    va_list ap;
    va_start(ap, rss_kb);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 15) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *sink = freopen("/dev/null", "w", stdout);
        (void)sink;
        execv(lincheck, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    assert_int_equal(wait4(pid, &status, 0, &ru), pid);
    assert_true(WIFEXITED(status));
    *rss_kb = ru.ru_maxrss;
    return WEXITSTATUS(status);
}

/* A search past --memory MB says unknown, and the process's peak RSS
 * stays within the budget plus 10%: lincheck runs as a child of its own
 * (fork, exec, wait4) so that its peak is measured alone. */
static void memory_budget_holds(void **state)
{
    (void)state;
    write_hard("hard14.jsonl", 14);
    static const long budgets_mb[] = {48, 160};
    for (size_t k = 0; k < sizeof budgets_mb / sizeof budgets_mb[0]; k++) {
        char mb[32];
        snprintf(mb, sizeof mb, "%ld", budgets_mb[k]);
        long rss_kb = 0;
        assert_int_equal(
            run_measured(&rss_kb, "--threads", "1", "--memory", mb,
                         path_of("hard14.jsonl"), (const char *)NULL),
            3);
#ifdef UNDER_SANITIZER
        print_message(
            "peak RSS %ld KB for --memory %ld (not checked "
            "under a sanitizer)\n",
            rss_kb, budgets_mb[k]);
#else
        print_message("peak RSS %ld KB for --memory %ld\n", rss_kb,
                      budgets_mb[k]);
        assert_true(rss_kb <= budgets_mb[k] * 1024 * 11 / 10);
#endif
    }
    assert_int_equal(run("--threads 1 --memory 48 hard14.jsonl"), 3);
    assert_int_equal(strncmp(out, "unknown: the search ran out of memory", 37),
                     0);
    assert_int_equal(run("--memory 0 hard14.jsonl"), 2);
}

/* With more keys than workers, a key that pauses keeps its memo while the
 * next one runs: the budget holds over all of them (a key's memo does not
 * forget and go on there). The history is parsed whole first, so the
 * search's memory is the peak above that of a run that stops at once. */
static void memory_budget_holds_over_keys(void **state)
{
    (void)state;
    struct checker_gen_options o;
    checker_gen_options_init(&o);
    o.seed = 7;
    o.ops = 100000;
    o.keys = 4;
    o.processes = 40;
    o.info_rate = 0.2;
    struct checker_gen *g;
    assert_int_equal(checker_generate(&o, &g), 0);
    FILE *f = fopen(path_of("keys4.jsonl"), "w");
    assert_non_null(f);
    for (size_t k = 0; k < g->events_len; k++) {
        assert_int_equal(checker_event_write_jsonl(f, &g->events[k]), 0);
    }
    fclose(f);
    checker_gen_free(g);
    const char *h = path_of("keys4.jsonl");
    long base_kb = 0;
    long peak_kb = 0;
    assert_int_equal(run_measured(&base_kb, "--threads", "1", "--max-steps",
                                  "1", h, (const char *)NULL),
                     3);
    assert_int_equal(run_measured(&peak_kb, "--threads", "1", "--memory", "32",
                                  h, (const char *)NULL),
                     3);
    print_message(
        "peak RSS %ld KB, %ld KB of it above the parsed history, "
        "for --memory 32 over 4 keys\n",
        peak_kb, peak_kb - base_kb);
#ifndef UNDER_SANITIZER
    assert_true(peak_kb - base_kb <= 32 * 1024 * 11 / 10);
#endif
}

/* The test data's formats are read by detection, and jepsen logs use the
 * register model. */
static void porcupine_files_check_from_the_command_line(void **state)
{
    (void)state;
    const char *p = porcupine_dir();
    if (p == NULL) {
        print_message("RAFTKV_TESTDATA/porcupine is missing: skipped\n");
        skip();
    }
    char args[1024];
    snprintf(args, sizeof args, "'%s/jepsen/etcd_000.log'", p);
    assert_int_equal(run(args), 1);
    assert_non_null(strstr(out, "(the register)"));
    snprintf(args, sizeof args, "--absent-reads-empty '%s/kv/c10-ok.txt'", p);
    assert_int_equal(run(args), 0);
    snprintf(args, sizeof args, "'%s/kv/c10-ok.txt'", p);
    assert_int_equal(run(args), 1); /* "" is not absent without the flag */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-LINCHECK\n", argv[0]);
        return 2;
    }
    lincheck = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_codes_give_the_verdict),
        cmocka_unit_test(bad_input_exits_2_with_file_and_line),
        cmocka_unit_test(usage_errors_exit_2),
        cmocka_unit_test(options_go_before_or_after_the_file),
        cmocka_unit_test(json_output_is_one_object),
        cmocka_unit_test(html_option_writes_the_page),
        cmocka_unit_test(timeout_exits_3),
        cmocka_unit_test(memory_budget_holds),
        cmocka_unit_test(memory_budget_holds_over_keys),
        cmocka_unit_test(porcupine_files_check_from_the_command_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
