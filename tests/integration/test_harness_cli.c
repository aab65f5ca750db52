/*
 * harness_cli: the harness program's exit codes and messages, as a user
 * meets them: bad usage and bad scenarios exit 2 naming file:line:column,
 * a short healthy run exits 0 and writes its files, a missed expectation
 * exits 1 saying which, and the history it writes is one lincheck accepts.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

static char out[65536];
static char dir[] = "/tmp/raftkv-harness-cli-XXXXXX";

/* Runs @argv, captures stdout+stderr into out[], returns the exit code. */
static int run(char *const argv[])
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while ((got = read(fds[0], out + n, sizeof out - 1 - n)) > 0) {
        n += (size_t)got;
    }
    out[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *good =
    "name: tiny\n"
    "nodes: 3\n"
    "duration_s: 1.5\n"
    "clients: {count: 2, keys: 3}\n"
    "faults:\n"
    "  - {at: 0.5, isolate: leader}\n"
    "  - {at: 1, heal: true}\n"
    "expect: {min_ok: 10, leader_within_ms_after_heal: 5000}\n";

/* No scenario, an unknown option, a bad number: usage errors, exit 2. */
static void cli_usage_errors_exit_2(void **state)
{
    (void)state;
    char *a1[] = {HARNESS_BIN, NULL};
    assert_int_equal(run(a1), 2);
    assert_non_null(strstr(out, "usage"));
    char *a2[] = {HARNESS_BIN, "x.yaml", "--bogus", NULL};
    assert_int_equal(run(a2), 2);
    assert_non_null(strstr(out, "unknown option --bogus"));
    char *a3[] = {HARNESS_BIN, "--seed", "abc", "x.yaml", NULL};
    assert_int_equal(run(a3), 2);
    assert_non_null(strstr(out, "--seed"));
    char *a4[] = {HARNESS_BIN, "--duration", "-3", "x.yaml", NULL};
    assert_int_equal(run(a4), 2);
    char *a5[] = {HARNESS_BIN, "--help", NULL};
    assert_int_equal(run(a5), 0);
}

/* A bad scenario exits 2 with FILE:LINE:COLUMN and what is wrong; a
 * missing file says it cannot be opened. */
static void cli_bad_scenario_exit_2_with_position(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    write_file(path,
               "nodes: 3\nduration_s: 5\nclients: {count: 2}\n"
               "faults:\n  - {at: 1, crash: 7}\n"
               "expect: {min_ok: 1}\n");
    char *a[] = {HARNESS_BIN, path, NULL};
    assert_int_equal(run(a), 2);
    char want[300];
    snprintf(want, sizeof want, "%s:5:", path);
    assert_non_null(strstr(out, want));
    write_file(path, "nodes: [\n");
    assert_int_equal(run(a), 2);
    assert_non_null(strstr(out, path));
    write_file(path, "");
    assert_int_equal(run(a), 2);
    char *m[] = {HARNESS_BIN, "/nonexistent/x.yaml", NULL};
    assert_int_equal(run(m), 2);
    assert_non_null(strstr(out, "/nonexistent/x.yaml"));
}

/* A healthy short run passes, writes history, events and report, and the
 * history is one lincheck finds linearizable. */
static void cli_good_run_exit_0_and_files(void **state)
{
    (void)state;
    char path[256];
    char outdir[256];
    snprintf(path, sizeof path, "%s/good.yaml", dir);
    snprintf(outdir, sizeof outdir, "%s/out/nested", dir);
    write_file(path, good);
    char *a[] = {HARNESS_BIN, path, "--out", outdir, "--no-status", NULL};
    assert_int_equal(run(a), 0);
    assert_non_null(strstr(out, "PASS tiny"));
    assert_non_null(strstr(out, "checker"));
    assert_non_null(strstr(out, "p99"));
    const char *files[] = {"history.jsonl", "events.log", "report.html"};
    for (int k = 0; k < 3; k++) {
        char f[400];
        snprintf(f, sizeof f, "%s/%s", outdir, files[k]);
        struct stat st;
        assert_int_equal(stat(f, &st), 0);
        assert_true(st.st_size > 0);
    }
    char hist[400];
    snprintf(hist, sizeof hist, "%s/history.jsonl", outdir);
    char *l[] = {LINCHECK_BIN, hist, NULL};
    assert_int_equal(run(l), 0);
}

/* An expectation that cannot be met exits 1 and names it. */
static void cli_missed_expectation_exit_1(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/greedy.yaml", dir);
    write_file(path,
               "nodes: 3\nduration_s: 1\nclients: {count: 1}\n"
               "expect: {min_ok: 100000000}\n");
    char *a[] = {HARNESS_BIN, path, "--quiet", NULL};
    assert_int_equal(run(a), 1);
    assert_non_null(strstr(out, "FAIL"));
    assert_non_null(strstr(out, "min_ok"));
}

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb");
    FILE *fb = fopen(b, "rb");
    assert_non_null(fa);
    assert_non_null(fb);
    bool same = true;
    for (;;) {
        int ca = fgetc(fa);
        int cb = fgetc(fb);
        if (ca != cb) {
            same = false;
            break;
        }
        if (ca == EOF) {
            break;
        }
    }
    fclose(fa);
    fclose(fb);
    return same;
}

/* Sim mode: the same scenario and seed give byte-identical history and
 * event log; another seed gives a different run. */
static void cli_sim_same_seed_same_run(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/sim.yaml", dir);
    write_file(path,
               "nodes: 5\nduration_s: 3\nclients: {count: 4}\n"
               "nemesis: {interval_s: 0.5, faults: [partition, crash, "
               "pause, loss]}\nexpect: {min_ok: 10}\n");
    char outs[3][256];
    const char *seeds[3] = {"7", "7", "8"};
    for (int k = 0; k < 3; k++) {
        snprintf(outs[k], sizeof outs[k], "%s/sim-%d", dir, k);
        char *a[] = {HARNESS_BIN,      path,    "--mode", "sim",     "--seed",
                     (char *)seeds[k], "--out", outs[k],  "--quiet", NULL};
        assert_int_equal(run(a), 0);
    }
    const char *files[] = {"history.jsonl", "events.log"};
    for (int f = 0; f < 2; f++) {
        char a[400];
        char b[400];
        char c[400];
        snprintf(a, sizeof a, "%s/%s", outs[0], files[f]);
        snprintf(b, sizeof b, "%s/%s", outs[1], files[f]);
        snprintf(c, sizeof c, "%s/%s", outs[2], files[f]);
        assert_true(same_file(a, b));
        assert_false(same_file(a, c));
    }
}

/* A seed sweep stops at the first failing seed and prints the command that
 * reproduces it; --seeds needs sim mode. */
static void cli_seed_sweep_reports_first_failure(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/sweep.yaml", dir);
    write_file(path,
               "nodes: 3\nduration_s: 1\nclients: {count: 2}\n"
               "expect: {min_ok: 100000000}\n");
    char *a[] = {HARNESS_BIN, path, "--mode", "sim", "--seeds", "3..9", NULL};
    assert_int_equal(run(a), 1);
    assert_non_null(strstr(out, "seed 3 failed; reproduce with:"));
    assert_non_null(strstr(out, "--mode sim --seed 3"));
    char *b[] = {HARNESS_BIN, path, "--seeds", "3..9", NULL};
    assert_int_equal(run(b), 2);
    char *c[] = {HARNESS_BIN, path, "--mode", "sim", "--seeds", "9..3", NULL};
    assert_int_equal(run(c), 2);
}

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* getopt_long's --opt=value, and --junit: a JUnit XML file with one test
 * case per seed, the failing seed's result line as its <failure>. */
static void cli_junit_and_option_forms(void **state)
{
    (void)state;
    char path[256];
    char xml[256];
    static char text[16384];
    snprintf(path, sizeof path, "%s/junit.yaml", dir);
    snprintf(xml, sizeof xml, "%s/junit.xml", dir);
    write_file(path,
               "name: junit<&>\nnodes: 3\nduration_s: 1\n"
               "clients: {count: 2}\nexpect: {min_ok: 100000000}\n");
    char junit[300];
    snprintf(junit, sizeof junit, "--junit=%s", xml);
    char *a[] = {HARNESS_BIN, "--mode=sim", "--seeds=3..4",   path,
                 junit,       "--jobs=1",   "--duration=0.5", NULL};
    assert_int_equal(run(a), 1);
    assert_non_null(strstr(out, "--mode sim --seed 3 --duration 0.5"));
    slurp(xml, text, sizeof text);
    assert_non_null(strstr(text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert_non_null(strstr(text,
                           "<testsuite name=\"junit&lt;&amp;&gt;\" "
                           "tests=\"1\" failures=\"1\" errors=\"0\""));
    assert_non_null(strstr(text, "name=\"seed 3\""));
    assert_non_null(strstr(text,
                           "<failure message=\"FAIL junit&lt;&amp;&gt;: "
                           "min_ok: "));
    assert_non_null(strstr(text, "</testsuite>\n</testsuites>\n"));
    write_file(path, good);
    char *b[] = {HARNESS_BIN, path,      "--mode", "sim", "--seed=5",
                 "--quiet",   "--junit", xml,      NULL};
    assert_int_equal(run(b), 0);
    slurp(xml, text, sizeof text);
    assert_non_null(strstr(text,
                           "<testsuite name=\"tiny\" tests=\"1\" "
                           "failures=\"0\" errors=\"0\""));
    assert_non_null(strstr(text, "classname=\"harness.tiny\" name=\"seed 5\""));
    assert_null(strstr(text, "<failure"));
    /* --json: the summary's figures as one object on the last line; the
     * table counts cas mismatches apart from failures. */
    char *j[] = {HARNESS_BIN, path,          "--mode=sim", "--seed=5",
                 "--json",    "--no-status", NULL};
    assert_int_equal(run(j), 0);
    assert_non_null(strstr(out, "  op              ok  mismatch      fail"));
    size_t len = strlen(out);
    assert_true(len > 2 && out[len - 1] == '\n' && out[len - 2] == '}');
    const char *last = out + len - 2;
    while (last > out && last[-1] != '\n') {
        last--;
    }
    assert_int_equal(strncmp(last,
                             "{\"scenario\":\"tiny\",\"mode\":\"sim\","
                             "\"seed\":5,",
                             35),
                     0);
    assert_non_null(strstr(last, "\"result\":\"pass\",\"failures\":[]"));
    assert_non_null(strstr(last, "\"cas\":{\"ok\":"));
    assert_non_null(strstr(last, "\"checker\":{\"verdict\":\"linearizable\""));
    char *c[] = {HARNESS_BIN, path, "--seed=abc", NULL};
    assert_int_equal(run(c), 2);
    assert_non_null(strstr(out, "--seed needs a non-negative integer"));
    char *d[] = {HARNESS_BIN, path, "--junit", NULL};
    assert_int_equal(run(d), 2);
    assert_non_null(strstr(out, "--junit needs a value"));
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli_usage_errors_exit_2),
        cmocka_unit_test(cli_bad_scenario_exit_2_with_position),
        cmocka_unit_test(cli_good_run_exit_0_and_files),
        cmocka_unit_test(cli_missed_expectation_exit_1),
        cmocka_unit_test(cli_sim_same_seed_same_run),
        cmocka_unit_test(cli_seed_sweep_reports_first_failure),
        cmocka_unit_test(cli_junit_and_option_forms),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return rc;
}
