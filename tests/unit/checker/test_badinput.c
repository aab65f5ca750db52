/*
 * checker: every kind of bad input is refused with "file:line: what", in
 * each format where it can occur, and leaves nothing half-done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

#define J CHECKER_FORMAT_JSONL
#define E CHECKER_FORMAT_EDN
#define L CHECKER_FORMAT_JEPSEN_LOG
#define A CHECKER_FORMAT_AUTO

/* Parses @text, expects the error @rv and a message with @where (like
 * "t:2: ") and @what. */
static void expect_error(enum checker_format format,
                         const char *text,
                         int rv,
                         const char *where,
                         const char *what)
{
    struct checked c = check_text(text, format, NULL);
    const char *msg = checker_history_error(c.h);
    if (c.parse_rv != rv || strncmp(msg, where, strlen(where)) != 0 ||
        strstr(msg, what) == NULL) {
        print_error("input:\n%s\nwant %d \"%s...%s\", got %d \"%s\"\n", text,
                    rv, where, what, c.parse_rv, msg);
        fail();
    }
    checked_free(&c);
}

/* A line that is not JSON, not a complete EDN map, or a jepsen line with a
 * broken value, is refused with its line number. */
static void unparsable_line_is_refused(void **state)
{
    (void)state;
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\"}\n"
                 "{\"process\":\n",
                 COMMON_EPARSE, "t:2: ", "not JSON");
    expect_error(J, "[1,2]\n", COMMON_EPARSE, "t:1: ", "JSON object");
    expect_error(E, "{:process 0, :type :invoke, :f :get\n", COMMON_EPARSE,
                 "t:1: ", "unterminated map");
    expect_error(E, "{:process 0 :type :invoke :f :get \"unterminated}\n",
                 COMMON_EPARSE, "t:1: ", "unterminated string");
    expect_error(E, "{:process 0, :type :invoke, :f :get} trailing\n",
                 COMMON_EPARSE, "t:1: ", "after the map");
    expect_error(L, "INFO  jepsen.util - 0\t:invoke\t:cas\t[1\n", COMMON_EPARSE,
                 "t:1: ", "value");
    expect_error(A, "hello\n", COMMON_EPARSE, "t:1: ", "--format");
}

/* An f the checker does not know is refused. */
static void unknown_f_is_refused(void **state)
{
    (void)state;
    expect_error(J, "{\"process\":0,\"type\":\"invoke\",\"f\":\"frob\"}\n",
                 COMMON_EPARSE, "t:1: ", "unknown f \"frob\"");
    expect_error(E, "{:process 0, :type :invoke, :f :frob}\n", COMMON_EPARSE,
                 "t:1: ", "unknown :f :frob");
    expect_error(L, "INFO  jepsen.util - 0\t:invoke\t:frob\tnil\n",
                 COMMON_EPARSE, "t:1: ", "unknown f");
    expect_error(J, "{\"process\":0,\"type\":\"begin\",\"f\":\"get\"}\n",
                 COMMON_EPARSE, "t:1: ", "unknown type");
}

/* A completion whose process has no outstanding invoke is refused. */
static void completion_without_invoke_is_refused(void **state)
{
    (void)state;
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\"}\n"
                 "{\"process\":1,\"type\":\"ok\",\"f\":\"get\","
                 "\"value\":null}\n",
                 COMMON_EINVAL, "t:2: ", "not invoked");
    expect_error(E, "{:process 3, :type :ok, :f :get, :value nil}\n",
                 COMMON_EINVAL, "t:1: ", "process 3 completes");
    expect_error(L, "INFO  jepsen.util - 4\t:ok\t:read\tnil\n", COMMON_EINVAL,
                 "t:1: ", "process 4 completes");
}

/* A process may not invoke while its previous op is outstanding. */
static void two_invokes_in_a_row_are_refused(void **state)
{
    (void)state;
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\"}\n"
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\"}\n",
                 COMMON_EINVAL, "t:2: ", "line 1 is outstanding");
    expect_error(L,
                 "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                 "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n",
                 COMMON_EINVAL, "t:2: ", "invokes again");
}

/* A cas needs [expected, new], with new a string. */
static void cas_without_two_values_is_refused(void **state)
{
    (void)state;
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\","
                 "\"value\":\"1\"}\n",
                 COMMON_EINVAL, "t:1: ", "cas needs two values");
    expect_error(J, "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\"}\n",
                 COMMON_EINVAL, "t:1: ", "cas needs two values");
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\","
                 "\"value\":[\"1\"]}\n",
                 COMMON_EPARSE, "t:1: ", "pair");
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\","
                 "\"value\":[\"1\",null]}\n",
                 COMMON_EINVAL, "t:1: ", "new value");
    expect_error(E, "{:process 0, :type :invoke, :f :cas, :value 1}\n",
                 COMMON_EINVAL, "t:1: ", "cas needs two values");
    expect_error(L, "INFO  jepsen.util - 0\t:invoke\t:cas\t1\n", COMMON_EINVAL,
                 "t:1: ", "cas needs two values");
}

/* Within one process, time never goes backwards. */
static void time_going_backwards_is_refused(void **state)
{
    (void)state;
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\","
                 "\"time\":100}\n"
                 "{\"process\":0,\"type\":\"ok\",\"f\":\"get\","
                 "\"value\":null,\"time\":99}\n",
                 COMMON_EINVAL, "t:2: ", "time goes backwards");
    expect_error(E,
                 "{:process 0, :type :invoke, :f :get, :time 5}\n"
                 "{:process 0, :type :ok, :f :get, :value nil, :time 6}\n"
                 "{:process 0, :type :invoke, :f :get, :time 4}\n",
                 COMMON_EINVAL, "t:3: ", "time goes backwards");
}

/* Other malformed events: mixed time fields, missing values, a completion
 * that does not match its invoke, fields of the wrong type. */
static void malformed_events_are_refused(void **state)
{
    (void)state;
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\","
                 "\"time\":1}\n"
                 "{\"process\":0,\"type\":\"ok\",\"f\":\"get\","
                 "\"value\":null}\n",
                 COMMON_EINVAL, "t:2: ", "no time");
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\"}\n"
                 "{\"process\":0,\"type\":\"ok\",\"f\":\"get\"}\n",
                 COMMON_EINVAL, "t:2: ", "value read");
    expect_error(J, "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\"}\n",
                 COMMON_EINVAL, "t:1: ", "put needs a string");
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\"}\n"
                 "{\"process\":0,\"type\":\"ok\",\"f\":\"put\"}\n",
                 COMMON_EINVAL, "t:2: ", "invoked get");
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\","
                 "\"key\":\"a\"}\n"
                 "{\"process\":0,\"type\":\"ok\",\"f\":\"get\","
                 "\"key\":\"b\",\"value\":null}\n",
                 COMMON_EINVAL, "t:2: ", "key differs");
    expect_error(J,
                 "{\"process\":\"zero\",\"type\":\"invoke\",\"f\":\"get\"}\n",
                 COMMON_EPARSE, "t:1: ", "\"process\" must be an integer");
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\","
                 "\"value\":3}\n",
                 COMMON_EPARSE, "t:1: ", "JSON strings");
    expect_error(J,
                 "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\","
                 "\"time\":1.5}\n",
                 COMMON_EPARSE, "t:1: ", "time");
    expect_error(J, "{\"type\":\"invoke\",\"f\":\"get\"}\n", COMMON_EPARSE,
                 "t:1: ", "missing \"process\"");
    expect_error(E, "{:type :invoke, :f :get}\n", COMMON_EPARSE,
                 "t:1: ", "missing :process");
    expect_error(E, "{:process 99999999999999999999, :type :invoke, :f :get}\n",
                 COMMON_EPARSE, "t:1: ", "integer");
}

/* A refused event leaves the history as it was: the line after it can
 * still be added. */
static void refused_event_leaves_history_unchanged(void **state)
{
    (void)state;
    struct checker_history *h = checker_history_new();
    struct checker_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = CHECKER_INVOKE;
    ev.f = CHECKER_CAS;
    ev.value_count = 1;
    assert_int_equal(checker_history_add(h, &ev), COMMON_EINVAL);
    assert_int_equal(checker_history_len(h), 0);
    ev.f = CHECKER_GET;
    assert_int_equal(checker_history_add(h, &ev), 0);
    assert_int_equal(checker_history_len(h), 1);
    ev.f = (enum checker_f)99;
    assert_int_equal(checker_history_add(h, &ev), COMMON_EINVAL);
    checker_history_free(h);
}

/* A file that cannot be read is an I/O error naming it. */
static void unreadable_file_is_an_io_error(void **state)
{
    (void)state;
    struct checker_history *h = checker_history_new();
    assert_int_equal(checker_history_read_file(h, "/nonexistent/history",
                                               CHECKER_FORMAT_AUTO),
                     COMMON_EIO);
    assert_non_null(strstr(checker_history_error(h), "/nonexistent/history"));
    assert_int_equal(checker_history_read_file(h, "/", CHECKER_FORMAT_AUTO),
                     COMMON_EIO);
    checker_history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unparsable_line_is_refused),
        cmocka_unit_test(unknown_f_is_refused),
        cmocka_unit_test(completion_without_invoke_is_refused),
        cmocka_unit_test(two_invokes_in_a_row_are_refused),
        cmocka_unit_test(cas_without_two_values_is_refused),
        cmocka_unit_test(time_going_backwards_is_refused),
        cmocka_unit_test(malformed_events_are_refused),
        cmocka_unit_test(refused_event_leaves_history_unchanged),
        cmocka_unit_test(unreadable_file_is_an_io_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
