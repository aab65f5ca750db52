/*
 * checker: every history of porcupine's test data gives the verdict its
 * VERDICTS file lists (kv/ histories with absent reads empty, as their
 * README says), with one thread and with two.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

static void check_all(unsigned threads)
{
    const char *dir = porcupine_dir();
    if (dir == NULL) {
        print_message("RAFTKV_TESTDATA/porcupine is missing: skipped\n");
        skip();
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/VERDICTS", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int checked = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char name[256];
        char want[64];
        if (line[0] == '#' || sscanf(line, "%255s %63s", name, want) != 2) {
            continue;
        }
        struct checker_history *h = checker_history_new();
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int rv = checker_history_read_file(h, path, CHECKER_FORMAT_AUTO);
        if (rv != 0) {
            print_error("%s\n", checker_history_error(h));
        }
        assert_int_equal(rv, 0);
        struct checker_options o;
        checker_options_init(&o);
        o.threads = threads;
        o.absent_reads_empty = strncmp(name, "kv/", 3) == 0;
        struct checker_result *r;
        assert_int_equal(checker_check(h, &o, &r), 0);
        const char *got = checker_verdict_name(r->verdict);
        if (strcmp(got, want) != 0) {
            print_error("%s: want %s, got %s\n", name, want, got);
            fail();
        }
        if (r->verdict == CHECKER_NOT_LINEARIZABLE) {
            assert_true(r->unplaced_len > 0);
        }
        checker_result_free(r);
        checker_history_free(h);
        checked++;
    }
    fclose(f);
    assert_int_equal(checked, 56);
}

/* Each of the 56 histories gets porcupine's verdict on one thread. */
static void porcupine_verdicts_one_thread(void **state)
{
    (void)state;
    check_all(1);
}

/* And the same with two worker threads. */
static void porcupine_verdicts_two_threads(void **state)
{
    (void)state;
    check_all(2);
}

/* Dropping info ops instead of keeping them is wrong: of the 10
 * linearizable etcd logs, 9 turn non-linearizable. The checker keeps them;
 * this pins down that the data really needs it. */
static void dropping_info_ops_would_be_wrong(void **state)
{
    (void)state;
    const char *dir = porcupine_dir();
    if (dir == NULL) {
        print_message("RAFTKV_TESTDATA/porcupine is missing: skipped\n");
        skip();
    }
    static const int lin[] = {2, 5, 7, 18, 25, 31, 38, 45, 48, 49};
    int turned = 0;
    for (size_t k = 0; k < sizeof lin / sizeof lin[0]; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/jepsen/etcd_%03d.log", dir, lin[k]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        /* Keep every line but the :info ones, and drop the invokes they
         * complete: an info op then never happened. */
        static char text[1 << 16];
        static char lines[400][128];
        int n = 0;
        while (n < 400 && fgets(lines[n], sizeof lines[n], f) != NULL) {
            n++;
        }
        fclose(f);
        size_t at = 0;
        for (int i = 0; i < n; i++) {
            int proc;
            if (sscanf(lines[i], "INFO jepsen.util - %d", &proc) != 1 ||
                strstr(lines[i], ":invoke") == NULL) {
                if (strstr(lines[i], ":info") == NULL) {
                    at += (size_t)snprintf(text + at, sizeof text - at, "%s",
                                           lines[i]);
                }
                continue;
            }
            /* An invoke: keep it unless this process's next line is an
             * :info completion. */
            bool info = false;
            for (int j = i + 1; j < n; j++) {
                int q;
                if (sscanf(lines[j], "INFO jepsen.util - %d", &q) == 1 &&
                    q == proc) {
                    info = strstr(lines[j], ":info") != NULL;
                    break;
                }
            }
            if (!info) {
                at += (size_t)snprintf(text + at, sizeof text - at, "%s",
                                       lines[i]);
            }
        }
        struct checked c = check_text(text, CHECKER_FORMAT_JEPSEN_LOG, NULL);
        assert_int_equal(c.parse_rv, 0);
        assert_int_equal(c.check_rv, 0);
        turned += c.r->verdict == CHECKER_NOT_LINEARIZABLE;
        checked_free(&c);
    }
    assert_int_equal(turned, 9);
}

/* The key reported for a history with several failing keys does not
 * depend on the number of threads. */
static void failing_key_does_not_depend_on_threads(void **state)
{
    (void)state;
    const char *dir = porcupine_dir();
    if (dir == NULL) {
        print_message("RAFTKV_TESTDATA/porcupine is missing: skipped\n");
        skip();
    }
    static const char *const files[] = {"kv/c10-bad.txt", "kv/c50-bad.txt"};
    for (size_t k = 0; k < 2; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        struct checker_history *h = checker_history_new();
        assert_int_equal(
            checker_history_read_file(h, path, CHECKER_FORMAT_AUTO), 0);
        char first[64] = "";
        for (unsigned threads = 1; threads <= 4; threads++) {
            struct checker_options o;
            checker_options_init(&o);
            o.threads = threads;
            o.absent_reads_empty = true;
            struct checker_result *r;
            assert_int_equal(checker_check(h, &o, &r), 0);
            assert_int_equal(r->verdict, CHECKER_NOT_LINEARIZABLE);
            if (threads == 1) {
                snprintf(first, sizeof first, "%s", r->key);
            }
            assert_string_equal(r->key, first);
            checker_result_free(r);
        }
        checker_history_free(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(porcupine_verdicts_one_thread),
        cmocka_unit_test(porcupine_verdicts_two_threads),
        cmocka_unit_test(dropping_info_ops_would_be_wrong),
        cmocka_unit_test(failing_key_does_not_depend_on_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
