/*
 * checker: out of memory at any allocation is an error code (or the
 * verdict unknown), never a crash or a leak.
 *
 * The test is linked with -Wl,--wrap for malloc, calloc, realloc and
 * posix_memalign, which reroutes the calls libchecker.a makes (and this
 * file's) through the wrappers below; the n-th call fails. Each scenario
 * runs with n = 0, 1, 2, ... until it no longer reaches the n-th call. Run
 * under ASan, a leak on any of those paths fails the test at exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);

static long fail_at = -1; /* the call to fail; -1: none */
static long calls;

static bool fail_now(void)
{
    return fail_at >= 0 && calls++ == fail_at;
}

void *__wrap_malloc(size_t size)
{
    return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return fail_now() ? NULL : __real_realloc(p, size);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
    return fail_now() ? 12 /* ENOMEM */ : __real_posix_memalign(p, align, size);
}

static const char *const jsonl =
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","
    "\"value\":\"a\"}\n"
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","
    "\"value\":\"b\"}\n"
    "{\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\"}\n"
    "{\"process\":1,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\"}\n"
    "{\"process\":2,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"y\","
    "\"value\":[null,\"1\"]}\n"
    "{\"process\":2,\"type\":\"info\",\"f\":\"cas\",\"key\":\"y\"}\n"
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\"}\n"
    "{\"process\":0,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
    "\"value\":\"ba\"}\n"
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"y\"}\n"
    "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"y\","
    "\"value\":\"2\"}\n";

/* Parses, checks and reports @text once; returns whether every
 * allocation it asked for was made. */
static bool run_once(const char *text,
                     enum checker_format format,
                     unsigned threads)
{
    calls = 0;
    bool ok = true;
    struct checker_history *h = checker_history_new();
    if (h == NULL) {
        return false;
    }
    int rv = checker_history_parse(h, "t", text, strlen(text), format);
    if (rv != 0) {
        assert_int_equal(rv, COMMON_ENOMEM);
        ok = false;
    } else {
        struct checker_options o;
        checker_options_init(&o);
        o.threads = threads;
        struct checker_result *r = NULL;
        rv = checker_check(h, &o, &r);
        if (rv != 0) {
            assert_int_equal(rv, COMMON_ENOMEM);
            assert_null(r);
            ok = false;
        } else {
            FILE *sink = fopen("/dev/null", "w");
            assert_non_null(sink);
            assert_int_equal(checker_result_write_text(sink, h, r), 0);
            assert_int_equal(checker_result_write_json(sink, h, r), 0);
            assert_int_equal(checker_report_html_write(sink, h, r), 0);
            fclose(sink);
            if (r->verdict == CHECKER_UNKNOWN) {
                ok = false; /* the search ran out of memory */
            } else {
                assert_int_equal(r->verdict, CHECKER_NOT_LINEARIZABLE);
            }
            checker_result_free(r);
        }
    }
    checker_history_free(h);
    return ok;
}

static void fail_each_allocation(const char *text,
                                 enum checker_format f,
                                 unsigned threads)
{
    long n;
    for (n = 0; n < 100000; n++) {
        fail_at = n;
        bool ok = run_once(text, f, threads);
        bool reached = calls > n;
        fail_at = -1;
        if (!reached) {
            assert_true(ok); /* nothing failed, so all must have worked */
            break;
        }
    }
    print_message("%ld allocations, each failed once\n", n);
    assert_true(n > 20);
}

/* Every allocation of parsing, checking (one thread) and reporting a JSON
 * Lines history may fail. */
static void out_of_memory_anywhere_is_handled(void **state)
{
    (void)state;
    fail_each_allocation(jsonl, CHECKER_FORMAT_AUTO, 1);
}

/* The same with two workers. */
static void out_of_memory_with_threads_is_handled(void **state)
{
    (void)state;
    fail_each_allocation(jsonl, CHECKER_FORMAT_AUTO, 2);
}

/* And in the EDN and jepsen-log parsers. */
static void out_of_memory_in_other_parsers_is_handled(void **state)
{
    (void)state;
    fail_each_allocation(
        "{:process 0, :type :invoke, :f :put, :key 1, :value \"a\\tb\"}\n"
        "{:process 0, :type :ok, :f :put, :key 1, :value \"a\\tb\"}\n"
        "{:process 0, :type :invoke, :f :get, :key 1, :value nil}\n"
        "{:process 0, :type :ok, :f :get, :key 1, :value nil}\n",
        CHECKER_FORMAT_EDN, 1);
    fail_each_allocation(
        "INFO  jepsen.util - 0\t:invoke\t:write\t4\n"
        "INFO  jepsen.util - 0\t:ok\t:write\t4\n"
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"
        "INFO  jepsen.util - 1\t:ok\t:read\t3\n",
        CHECKER_FORMAT_JEPSEN_LOG, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(out_of_memory_anywhere_is_handled),
        cmocka_unit_test(out_of_memory_with_threads_is_handled),
        cmocka_unit_test(out_of_memory_in_other_parsers_is_handled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
