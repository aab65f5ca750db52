/*
 * checker: the three reports say what the result says: the verdict line,
 * the JSON object (parsed back with jansson), and the HTML page; and the
 * history writer writes what the parser reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "helpers.h"

static const char *const bad =
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"k<1>\","
    "\"value\":\"1\",\"time\":0}\n"
    "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"k<1>\","
    "\"time\":5}\n"
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k<1>\","
    "\"time\":6}\n"
    "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k<1>\","
    "\"value\":\"\\u0001\\u00ff2\",\"time\":7}\n";

/* Writes a report into a string (free it). */
static char *capture(int (*write)(FILE *,
                                  const struct checker_history *,
                                  const struct checker_result *),
                     const struct checked *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(write(f, c->h, c->r), 0);
    fclose(f);
    return text;
}

/* The text report starts with one verdict line, names the key, the prefix
 * and why the unplaced op was refused, with control bytes escaped. */
static void text_report_explains_the_failure(void **state)
{
    (void)state;
    struct checked c = check_text(bad, CHECKER_FORMAT_JSONL, NULL);
    char *text = capture(checker_result_write_text, &c);
    assert_int_equal(strncmp(text, "not linearizable: key \"k<1>\"", 28), 0);
    assert_non_null(
        strstr(text, "1. process 0 put \"1\" [lines 1-2]  => \"1\""));
    assert_non_null(strstr(text, "then the key holds \"1\""));
    assert_non_null(strstr(text, "- process 1 get -> \"\\x01"));
    assert_non_null(strstr(text, "but the key holds \"1\""));
    free(text);
    checked_free(&c);
}

/* A linearizable history gets exactly one line. */
static void text_report_is_one_line_when_linearizable(void **state)
{
    (void)state;
    struct checked c = check_text("", CHECKER_FORMAT_JSONL, NULL);
    char *text = capture(checker_result_write_text, &c);
    assert_int_equal(strncmp(text, "linearizable (0 ops", 19), 0);
    assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text));
    free(text);
    checked_free(&c);
}

/* The JSON report is valid JSON (bytes that are not UTF-8 replaced) with
 * the verdict, the key, the prefix, the state and the unplaced ops. */
static void json_report_is_valid_and_complete(void **state)
{
    (void)state;
    struct checked c = check_text(bad, CHECKER_FORMAT_JSONL, NULL);
    char *text = capture(checker_result_write_json, &c);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (j == NULL) {
        print_error("%s: %s\n", text, err.text);
        fail();
    }
    assert_string_equal(json_string_value(json_object_get(j, "verdict")),
                        "not-linearizable");
    assert_string_equal(json_string_value(json_object_get(j, "key")), "k<1>");
    assert_string_equal(json_string_value(json_object_get(j, "state")), "1");
    json_t *prefix = json_object_get(j, "prefix");
    assert_int_equal(json_array_size(prefix), 1);
    json_t *op = json_array_get(prefix, 0);
    assert_string_equal(json_string_value(json_object_get(op, "f")), "put");
    assert_int_equal(json_integer_value(json_object_get(op, "call_line")), 1);
    assert_string_equal(json_string_value(json_object_get(op, "state_after")),
                        "1");
    json_t *unplaced = json_object_get(j, "unplaced");
    assert_int_equal(json_array_size(unplaced), 1);
    json_t *u = json_array_get(unplaced, 0);
    json_t *uop = json_object_get(u, "op");
    assert_string_equal(json_string_value(json_object_get(uop, "value")),
                        "\x01\xc3\xbf"
                        "2");
    assert_non_null(
        strstr(json_string_value(json_object_get(u, "why")), "holds \"1\""));
    json_decref(j);
    free(text);
    checked_free(&c);
}

/* Bytes that are not UTF-8 come out as U+FFFD, so the JSON stays valid. */
static void json_report_replaces_bytes_that_are_not_utf8(void **state)
{
    (void)state;
    struct checked c = check_text(
        "{:process 0, :type :invoke, :f :get, :key \"a\\\"\xff\"}\n"
        "{:process 0, :type :ok, :f :get, :key \"a\\\"\xff\", :value "
        "\"\xc3\"}\n",
        CHECKER_FORMAT_EDN, NULL);
    assert_int_equal(c.parse_rv, 0);
    char *text = capture(checker_result_write_json, &c);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "key")),
                        "a\"\xef\xbf\xbd");
    json_decref(j);
    free(text);
    checked_free(&c);
}

/* The HTML page stands alone: no external resources, the data embedded
 * without a raw "<" from the history, the failing ops marked. */
static void html_report_is_self_contained(void **state)
{
    (void)state;
    struct checked c = check_text(bad, CHECKER_FORMAT_JSONL, NULL);
    char *html = capture(checker_report_html_write, &c);
    assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
    assert_null(strstr(html, " src="));
    assert_null(strstr(html, " href="));
    assert_null(strstr(html, "@import"));
    assert_null(strstr(html, "k<1>")); /* escaped everywhere */
    assert_non_null(strstr(html, "k&lt;1&gt;"));
    assert_non_null(strstr(html, "k\\u003c1\\u003e"));
    /* One op drawn as "in the prefix" (1), one as "not placed" (2). */
    assert_non_null(strstr(html, ",1,1,"));
    assert_non_null(strstr(html, ",0,2,"));
    assert_non_null(strstr(html, "</html>"));
    free(html);
    checked_free(&c);
}

/* checker_report_html_save writes the file, or says it cannot. */
static void html_report_is_saved_to_a_path(void **state)
{
    (void)state;
    struct checked c = check_text(bad, CHECKER_FORMAT_JSONL, NULL);
    char path[] = "/tmp/checker-report-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(checker_report_html_save(path, c.h, c.r), 0);
    FILE *f = fopen(path, "r");
    char head[16] = {0};
    assert_int_equal(fread(head, 1, 15, f), 15);
    fclose(f);
    assert_string_equal(head, "<!DOCTYPE html>");
    remove(path);
    assert_int_equal(checker_report_html_save("/nonexistent/x.html", c.h, c.r),
                     COMMON_EIO);
    checked_free(&c);
}

static struct checker_str cstr(const char *s)
{
    struct checker_str v = {s, s != NULL ? strlen(s) : 0};
    return v;
}

/* The history writer writes each field in DESIGN.md's order, errors and
 * the answering node included, and the parser reads the lines back as the
 * same operations. */
static void history_writer_round_trips(void **state)
{
    (void)state;
    struct checker_event ev[4];
    memset(ev, 0, sizeof ev);
    ev[0].process = 2;
    ev[0].type = CHECKER_INVOKE;
    ev[0].f = CHECKER_CAS;
    ev[0].has_key = true;
    ev[0].key = cstr("k1");
    ev[0].value_count = 2;
    ev[0].value[1] = cstr("2.1");
    ev[0].has_time = true;
    ev[0].time = 10;
    ev[1] = ev[0];
    ev[1].type = CHECKER_FAIL;
    ev[1].value_count = 0;
    ev[1].error = cstr("session-expired");
    ev[1].node = 3;
    ev[1].time = 20;
    ev[2] = ev[0];
    ev[2].f = CHECKER_GET;
    ev[2].value_count = 0;
    ev[2].time = 30;
    ev[3] = ev[2];
    ev[3].type = CHECKER_OK;
    ev[3].value_count = 1; /* read null: the key is absent */
    ev[3].mismatch = false;
    ev[3].node = 1;
    ev[3].time = 40;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(checker_event_write_jsonl(f, &ev[k]), 0);
    }
    fclose(f);
    assert_string_equal(
        text,
        "{\"process\":2,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k1\","
        "\"value\":[null,\"2.1\"],\"time\":10}\n"
        "{\"process\":2,\"type\":\"fail\",\"f\":\"cas\",\"key\":\"k1\","
        "\"error\":\"session-expired\",\"node\":3,\"time\":20}\n"
        "{\"process\":2,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k1\","
        "\"time\":30}\n"
        "{\"process\":2,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k1\","
        "\"value\":null,\"node\":1,\"time\":40}\n");
    struct checked c = check_text(text, CHECKER_FORMAT_JSONL, NULL);
    assert_int_equal(c.parse_rv, 0);
    assert_int_equal(checker_history_len(c.h), 2);
    struct checker_op o;
    assert_int_equal(checker_history_op(c.h, 0, &o), 0);
    assert_int_equal(o.f, CHECKER_CAS);
    assert_int_equal(o.outcome, CHECKER_FAIL);
    assert_false(o.mismatch);
    assert_int_equal(o.value_count, 2);
    assert_null(o.value[0].ptr);
    assert_memory_equal(o.value[1].ptr, "2.1", 3);
    assert_int_equal(checker_history_op(c.h, 1, &o), 0);
    assert_int_equal(o.outcome, CHECKER_OK);
    assert_int_equal(o.value_count, 1);
    assert_null(o.value[0].ptr);
    assert_int_equal(o.return_time, 40);
    assert_int_equal(c.r->verdict, CHECKER_LINEARIZABLE);
    checked_free(&c);
    free(text);
}

/* A mismatch with no error text is written as the error "mismatch", which
 * the parser reads back as a mismatch. */
static void history_writer_writes_mismatch(void **state)
{
    (void)state;
    struct checker_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = CHECKER_FAIL;
    ev.f = CHECKER_CAS;
    ev.mismatch = true;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(checker_event_write_jsonl(f, &ev), 0);
    fclose(f);
    assert_string_equal(text,
                        "{\"process\":0,\"type\":\"fail\",\"f\":\"cas\","
                        "\"error\":\"mismatch\"}\n");
    free(text);
}

/* An append ("a" at lines 1-2) and reads of it: "b", or "a" then "b". */
static const char *append_then(const char *reads)
{
    static char text[1024];
    snprintf(text, sizeof text,
             "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\","
             "\"key\":\"x\",\"value\":\"a\",\"time\":0}\n"
             "{\"process\":0,\"type\":\"ok\",\"f\":\"append\","
             "\"key\":\"x\",\"time\":10}\n%s",
             reads);
    return text;
}

/* On a key of appends and gets, an append refused because its value leads
 * away from what the next read saw is reported with that read; so is a
 * read whose value the next read's does not start with. */
static void append_refusals_name_the_read(void **state)
{
    (void)state;
    struct checked c = check_text(
        append_then("{\"process\":1,\"type\":\"invoke\",\"f\":\"get\","
                    "\"key\":\"x\",\"time\":20}\n"
                    "{\"process\":1,\"type\":\"ok\",\"f\":\"get\","
                    "\"key\":\"x\",\"value\":\"b\",\"time\":30}\n"),
        CHECKER_FORMAT_JSONL, NULL);
    char *text = capture(checker_result_write_text, &c);
    assert_non_null(strstr(text,
                           "the key is absent, and with \"a\" appended it "
                           "cannot become \"b\", read by process 1 "
                           "[lines 3-4]"));
    free(text);
    checked_free(&c);

    c = check_text(
        append_then("{\"process\":1,\"type\":\"invoke\",\"f\":\"get\","
                    "\"key\":\"x\",\"time\":0}\n"
                    "{\"process\":1,\"type\":\"ok\",\"f\":\"get\","
                    "\"key\":\"x\",\"value\":\"a\",\"time\":30}\n"
                    "{\"process\":2,\"type\":\"invoke\",\"f\":\"get\","
                    "\"key\":\"x\",\"time\":31}\n"
                    "{\"process\":2,\"type\":\"ok\",\"f\":\"get\","
                    "\"key\":\"x\",\"value\":\"b\",\"time\":40}\n"),
        CHECKER_FORMAT_JSONL, NULL);
    text = capture(checker_result_write_text, &c);
    assert_non_null(strstr(text,
                           "it read \"a\", which the key holds, but appends "
                           "cannot take the key from there to \"b\", read by "
                           "process 2 [lines 5-6]"));
    free(text);
    checked_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_report_explains_the_failure),
        cmocka_unit_test(append_refusals_name_the_read),
        cmocka_unit_test(text_report_is_one_line_when_linearizable),
        cmocka_unit_test(json_report_is_valid_and_complete),
        cmocka_unit_test(json_report_replaces_bytes_that_are_not_utf8),
        cmocka_unit_test(html_report_is_self_contained),
        cmocka_unit_test(html_report_is_saved_to_a_path),
        cmocka_unit_test(history_writer_round_trips),
        cmocka_unit_test(history_writer_writes_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
