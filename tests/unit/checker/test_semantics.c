/*
 * checker: one small hand-written history per rule of DESIGN.md's history
 * semantics, each next to a variant on the other side of the rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

#define LIN CHECKER_LINEARIZABLE
#define NOT CHECKER_NOT_LINEARIZABLE

/* Ops whose intervals touch at one instant are concurrent: a get invoked
 * at the instant a put completes may still read the old value. */
static void touching_intervals_are_concurrent(void **state)
{
    (void)state;
    const char *touching =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":10}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":null,\"time\":20}\n";
    assert_int_equal(verdict_of(touching), LIN);
    const char *apart =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":10}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":11}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":null,\"time\":20}\n";
    assert_int_equal(verdict_of(apart), NOT);
}

/* An info put that a later get observed must have taken effect. */
static void info_write_may_have_taken_effect(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"info\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":20}\n";
    assert_int_equal(verdict_of(h), LIN);
}

/* An info put may also never take effect, or take effect after its info
 * completion; but once seen it cannot be unseen. */
static void info_write_may_not_have_taken_effect(void **state)
{
    (void)state;
    const char *never =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"info\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":null,\"time\":20}\n";
    assert_int_equal(verdict_of(never), LIN);
    const char *late =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"info\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":null,\"time\":20}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":30}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":40}\n";
    assert_int_equal(verdict_of(late), LIN);
    const char *undone =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"info\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":20}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":30}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":null,\"time\":40}\n";
    assert_int_equal(verdict_of(undone), NOT);
}

/* An info put can take effect only after its invoke. */
static void info_write_cannot_take_effect_before_its_invoke(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":0}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":5}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":10}\n"
        "{\"process\":0,\"type\":\"info\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":15}\n";
    assert_int_equal(verdict_of(h), NOT);
}

/* An invoke with no completion by the end counts as info. */
static void pending_invoke_counts_as_info(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":20}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":30}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":40}\n";
    assert_int_equal(verdict_of(h), LIN);
}

/* A failed put has no effect: nobody may read its value. */
static void fail_has_no_effect(void **state)
{
    (void)state;
    const char *read_it =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"fail\",\"f\":\"put\",\"key\":\"x\","
        "\"error\":\"timeout\",\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":1}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":4}\n";
    assert_int_equal(verdict_of(read_it), NOT);
    const char *absent =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"fail\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":null,\"time\":20}\n";
    assert_int_equal(verdict_of(absent), LIN);
}

/* A cas that failed with "mismatch" observed the key not holding its
 * expected value at some instant of its interval, and changed nothing. */
static void cas_mismatch_is_an_observation(void **state)
{
    (void)state;
    /* The key is absent all along, so a mismatch on null is impossible. */
    const char *impossible =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[null,\"1\"],\"time\":0}\n"
        "{\"process\":0,\"type\":\"fail\",\"f\":\"cas\",\"key\":\"x\","
        "\"error\":\"mismatch\",\"time\":5}\n";
    assert_int_equal(verdict_of(impossible), NOT);
    /* A concurrent put explains it, and the cas did not write "1". */
    const char *explained =
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"2\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[null,\"1\"],\"time\":1}\n"
        "{\"process\":0,\"type\":\"fail\",\"f\":\"cas\",\"key\":\"x\","
        "\"error\":\"mismatch\",\"time\":5}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"2\",\"time\":6}\n"
        "{\"process\":2,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":2,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"2\",\"time\":11}\n";
    assert_int_equal(verdict_of(explained), LIN);
    /* A fail without "mismatch" says nothing at all. */
    const char *other_error =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[null,\"1\"],\"time\":0}\n"
        "{\"process\":0,\"type\":\"fail\",\"f\":\"cas\",\"key\":\"x\","
        "\"error\":\"timeout\",\"time\":5}\n";
    assert_int_equal(verdict_of(other_error), LIN);
}

/* A cas succeeds only when the key holds its expected value; expected null
 * means absent. */
static void cas_ok_needs_the_expected_value(void **state)
{
    (void)state;
    const char *on_absent =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[null,\"1\"],\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[null,\"1\"],\"time\":5}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":6}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":7}\n";
    assert_int_equal(verdict_of(on_absent), LIN);
    const char *wrong =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[\"0\",\"1\"],\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"cas\",\"key\":\"x\","
        "\"time\":5}\n";
    assert_int_equal(verdict_of(wrong), NOT);
}

/* An info cas may have succeeded, or not. */
static void info_cas_may_or_may_not_have_applied(void **state)
{
    (void)state;
    const char *applied =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[null,\"1\"],\"time\":0}\n"
        "{\"process\":0,\"type\":\"info\",\"f\":\"cas\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":6}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":7}\n";
    assert_int_equal(verdict_of(applied), LIN);
    /* With the key holding "0" it cannot have written "1". */
    const char *cannot =
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"0\",\"time\":0}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"0\",\"time\":1}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[null,\"1\"],\"time\":2}\n"
        "{\"process\":0,\"type\":\"info\",\"f\":\"cas\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":6}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":7}\n";
    assert_int_equal(verdict_of(cannot), NOT);
}

/* A get that ended info or fail constrains nothing. */
static void info_and_fail_gets_constrain_nothing(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":0}\n"
        "{\"process\":0,\"type\":\"info\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"nonsense\",\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":0}\n"
        "{\"process\":1,\"type\":\"fail\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"nonsense\",\"time\":5}\n";
    assert_int_equal(verdict_of(h), LIN);
}

/* delete makes the key absent: a later get reads null. */
static void delete_then_get_reads_null(void **state)
{
    (void)state;
#define PUT_DELETE_GET                                                         \
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","          \
    "\"value\":\"1\",\"time\":0}\n"                                            \
    "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\",\"time\":5}\n" \
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"delete\",\"key\":\"x\","       \
    "\"time\":10}\n"                                                           \
    "{\"process\":0,\"type\":\"ok\",\"f\":\"delete\",\"key\":\"x\","           \
    "\"time\":15}\n"                                                           \
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","          \
    "\"time\":20}\n"
    assert_int_equal(verdict_of(PUT_DELETE_GET
                                "{\"process\":1,\"type\":\"ok\",\"f\":\"get\","
                                "\"key\":\"x\",\"value\":null,\"time\":25}\n"),
                     LIN);
    assert_int_equal(verdict_of(PUT_DELETE_GET
                                "{\"process\":1,\"type\":\"ok\",\"f\":\"get\","
                                "\"key\":\"x\",\"value\":\"1\",\"time\":25}\n"),
                     NOT);
#undef PUT_DELETE_GET
}

/* append concatenates, in the order the appends took effect; onto an
 * absent key it stores the value itself. */
static void append_concatenates_in_order(void **state)
{
    (void)state;
    const char *first =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","
        "\"value\":\"a\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\","
        "\"value\":\"a\",\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":6}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"a\",\"time\":7}\n";
    assert_int_equal(verdict_of(first), LIN);
#define APPEND_A_BC                                                           \
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","      \
    "\"value\":\"a\",\"time\":0}\n"                                           \
    "{\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\",\"time\":" \
    "5}\n"                                                                    \
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","      \
    "\"value\":\"bc\",\"time\":10}\n"                                         \
    "{\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\","          \
    "\"time\":15}\n"                                                          \
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","         \
    "\"time\":20}\n"
    assert_int_equal(
        verdict_of(APPEND_A_BC
                   "{\"process\":1,\"type\":\"ok\",\"f\":\"get\","
                   "\"key\":\"x\",\"value\":\"abc\",\"time\":25}\n"),
        LIN);
    assert_int_equal(
        verdict_of(APPEND_A_BC
                   "{\"process\":1,\"type\":\"ok\",\"f\":\"get\","
                   "\"key\":\"x\",\"value\":\"bca\",\"time\":25}\n"),
        NOT);
#undef APPEND_A_BC
}

/* Appending "" onto an absent key stores "": the key is present, and a
 * read of null after it is not linearizable (unless absent reads empty). */
static void append_of_empty_makes_the_key_present(void **state)
{
    (void)state;
#define APPEND_EMPTY                                                          \
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","      \
    "\"value\":\"\",\"time\":0}\n"                                            \
    "{\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\",\"time\":" \
    "5}\n"                                                                    \
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","         \
    "\"time\":10}\n"
    const char *reads_empty = APPEND_EMPTY
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"\",\"time\":15}\n";
    const char *reads_null = APPEND_EMPTY
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":null,\"time\":15}\n";
#undef APPEND_EMPTY
    assert_int_equal(verdict_of(reads_empty), LIN);
    assert_int_equal(verdict_of(reads_null), NOT);
    assert_int_equal(verdict_of_empty(reads_empty), LIN);
    assert_int_equal(verdict_of_empty(reads_null), LIN);
}

/* Values compare as strings: appends that build the same bytes in other
 * pieces are equal. */
static void appended_values_compare_as_strings(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","
        "\"value\":\"ab\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","
        "\"value\":\"c\",\"time\":6}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\","
        "\"time\":7}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
        "\"value\":[\"abc\",\"z\"],\"time\":8}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"cas\",\"key\":\"x\","
        "\"time\":9}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"z\",\"time\":11}\n";
    assert_int_equal(verdict_of(h), LIN);
}

/* With --absent-reads-empty a key never written reads as "". */
static void absent_reads_empty_when_asked(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"\",\"time\":5}\n";
    assert_int_equal(verdict_of(h), NOT);
    assert_int_equal(verdict_of_empty(h), LIN);
}

/* Without time fields the order of the lines is the order in time. */
static void line_order_is_time_without_time_fields(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\"}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\"}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\"}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":null}\n";
    assert_int_equal(verdict_of(h), NOT);
}

/* Lines need not be sorted by time: time fields decide. */
static void time_fields_order_events_across_processes(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":20}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":30}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":10}\n";
    assert_int_equal(verdict_of(h), LIN);
}

/* Keys are independent: a failure is reported on the key that fails. */
static void keys_are_checked_apart(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"a\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"a\","
        "\"time\":5}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"b\","
        "\"time\":6}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"b\","
        "\"value\":\"1\",\"time\":7}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"a\","
        "\"time\":8}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"a\","
        "\"value\":\"1\",\"time\":9}\n";
    struct checked c = check_text(h, CHECKER_FORMAT_JSONL, NULL);
    assert_int_equal(c.parse_rv, 0);
    assert_int_equal(c.check_rv, 0);
    assert_int_equal(c.r->verdict, NOT);
    assert_true(c.r->has_key);
    assert_string_equal(c.r->key, "b");
    assert_int_equal(c.r->partitions, 2);
    assert_int_equal(c.r->unplaced_len, 1);
    assert_int_equal(c.r->unplaced[0], 1); /* the get of b */
    assert_true(c.r->state_absent);
    checked_free(&c);
}

/* The prefix reported for a failure is a valid linearization whose next
 * op is refused. */
static void failure_reports_prefix_and_unplaced_ops(void **state)
{
    (void)state;
    const char *h =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":0}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":5}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\","
        "\"value\":\"2\",\"time\":6}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"x\","
        "\"time\":10}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
        "\"time\":11}\n"
        "{\"process\":1,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
        "\"value\":\"1\",\"time\":12}\n";
    struct checked c = check_text(h, CHECKER_FORMAT_JSONL, NULL);
    assert_int_equal(c.r->verdict, NOT);
    assert_int_equal(c.r->prefix_len, 2);
    assert_int_equal(c.r->prefix[0], 0);
    assert_int_equal(c.r->prefix[1], 1);
    assert_false(c.r->state_absent);
    assert_string_equal(c.r->state, "2");
    assert_int_equal(c.r->states_from, 0);
    assert_memory_equal(c.r->states[0].ptr, "1", 1);
    assert_memory_equal(c.r->states[1].ptr, "2", 1);
    assert_int_equal(c.r->unplaced_len, 1);
    assert_int_equal(c.r->unplaced[0], 2);
    checked_free(&c);
}

/* The register model refuses append and delete, and a second key. */
static void register_model_has_one_key_and_three_ops(void **state)
{
    (void)state;
    struct checker_options o;
    checker_options_init(&o);
    o.model = CHECKER_MODEL_REGISTER;
    o.model_set = true;
    const char *append =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"append\","
        "\"value\":\"a\"}\n";
    struct checked c = check_text(append, CHECKER_FORMAT_AUTO, &o);
    assert_int_equal(c.check_rv, COMMON_EINVAL);
    assert_non_null(strstr(checker_history_error(c.h), "t:1: append"));
    checked_free(&c);
    const char *two_keys =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"a\","
        "\"value\":\"1\"}\n"
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"b\","
        "\"value\":\"1\"}\n";
    c = check_text(two_keys, CHECKER_FORMAT_AUTO, &o);
    assert_int_equal(c.check_rv, COMMON_EINVAL);
    assert_non_null(strstr(checker_history_error(c.h), "t:2: "));
    checked_free(&c);
    const char *fine =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\","
        "\"value\":\"1\"}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"write\"}\n"
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
        "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":\"1\"}\n";
    c = check_text(fine, CHECKER_FORMAT_AUTO, &o);
    assert_int_equal(c.check_rv, 0);
    assert_int_equal(c.r->verdict, LIN);
    assert_false(c.r->has_key);
    checked_free(&c);
}

/* The three formats are told apart from their first lines. */
static void formats_are_detected(void **state)
{
    (void)state;
    struct checked c = check_text(
        "{:process 0, :type :invoke, :f :put, :key \"x\", :value 3}\n"
        "{:process 0, :type :ok, :f :put, :key \"x\", :value 3}\n"
        "{:process :nemesis, :type :info, :f :start, :value nil}\n"
        "{:process 0, :type :invoke, :f :get, :key \"x\", :value nil}\n"
        "{:process 0, :type :ok, :f :get, :key \"x\", :value \"3\"}\n",
        CHECKER_FORMAT_AUTO, NULL);
    assert_int_equal(c.parse_rv, 0);
    assert_int_equal(checker_history_format(c.h), CHECKER_FORMAT_EDN);
    assert_int_equal(c.r->verdict, LIN); /* 3 became "3" */
    checked_free(&c);
    c = check_text(
        "some log noise\n"
        "INFO  jepsen.util - 0\t:invoke\t:write\t4\n"
        "INFO  jepsen.util - 0\t:ok\t:write\t4\n"
        "INFO  jepsen.util - 1\t:invoke\t:cas\t[4 1]\n"
        "INFO  jepsen.util - 1\t:fail\t:cas\t[4 1]\n",
        CHECKER_FORMAT_AUTO, NULL);
    assert_int_equal(c.parse_rv, 0);
    assert_int_equal(checker_history_format(c.h), CHECKER_FORMAT_JEPSEN_LOG);
    /* :fail :cas [4 1] is a mismatch, but the register held 4. */
    assert_int_equal(c.r->verdict, NOT);
    checked_free(&c);
}

/* An empty history (or one of blank lines) is linearizable. */
static void empty_history_is_linearizable(void **state)
{
    (void)state;
    assert_int_equal(verdict_of(""), LIN);
    struct checked c = check_text("\n  \n\t\n", CHECKER_FORMAT_AUTO, NULL);
    assert_int_equal(c.parse_rv, 0);
    assert_int_equal(c.r->verdict, LIN);
    assert_int_equal(c.r->ops, 0);
    checked_free(&c);
}

/* Histories can be built in memory event by event. */
static void history_is_built_event_by_event(void **state)
{
    (void)state;
    struct checker_history *h = checker_history_new();
    struct checker_event ev;
    memset(&ev, 0, sizeof ev);
    ev.process = 7;
    ev.type = CHECKER_INVOKE;
    ev.f = CHECKER_PUT;
    ev.has_key = true;
    ev.key = (struct checker_str){"k", 1};
    ev.value_count = 1;
    ev.value[0] = (struct checker_str){"v", 1};
    assert_int_equal(checker_history_add(h, &ev), 0);
    ev.type = CHECKER_OK;
    assert_int_equal(checker_history_add(h, &ev), 0);
    ev.type = CHECKER_INVOKE;
    ev.f = CHECKER_GET;
    ev.value_count = 0;
    assert_int_equal(checker_history_add(h, &ev), 0);
    ev.type = CHECKER_OK;
    ev.value_count = 1;
    ev.value[0] = (struct checker_str){"w", 1};
    assert_int_equal(checker_history_add(h, &ev), 0);
    assert_int_equal(checker_history_len(h), 2);
    struct checker_op op;
    assert_int_equal(checker_history_op(h, 1, &op), 0);
    assert_int_equal(op.process, 7);
    assert_int_equal(op.f, CHECKER_GET);
    assert_true(op.completed);
    assert_memory_equal(op.value[0].ptr, "w", 1);
    struct checker_result *r;
    assert_int_equal(checker_check(h, NULL, &r), 0);
    assert_int_equal(r->verdict, NOT);
    checker_result_free(r);
    checker_history_free(h);
}

/* Twelve concurrent appends and a read of none of their orders: a search
 * that has to try them all. A delete that never completes makes the key
 * more than appends and gets, so that the search cannot cut the orders
 * short by the read's value (search.c, "Appends"). */
static void hard_history(char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size,
                                 "{\"process\":98,\"type\":\"invoke\",\"f\":"
                                 "\"delete\",\"key\":\"x\",\"time\":0}\n");
    for (int p = 0; p < 12; p++) {
        at += (size_t)snprintf(buf + at, size - at,
                               "{\"process\":%d,\"type\":\"invoke\",\"f\":"
                               "\"append\",\"key\":\"x\",\"value\":\"%c\","
                               "\"time\":0}\n",
                               p, 'a' + p);
    }
    for (int p = 0; p < 12; p++) {
        at += (size_t)snprintf(buf + at, size - at,
                               "{\"process\":%d,\"type\":\"ok\",\"f\":"
                               "\"append\",\"key\":\"x\",\"time\":10}\n",
                               p);
    }
    snprintf(buf + at, size - at,
             "{\"process\":99,\"type\":\"invoke\",\"f\":\"get\",\"key\":"
             "\"x\",\"time\":20}\n"
             "{\"process\":99,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
             "\"value\":\"nope\",\"time\":30}\n");
}

/* A search that cannot finish within the time budget says unknown. (The
 * history takes about 12! model states, out of reach of any machine in
 * 0.2 s; how soon after the deadline the verdict comes is a figure of
 * checker-bench, docs/benchmarks.md, not a test's: it depends on the
 * machine and its load.) */
static void timeout_gives_unknown(void **state)
{
    (void)state;
    char buf[8192];
    hard_history(buf, sizeof buf);
    struct checker_options o;
    checker_options_init(&o);
    o.timeout_s = 0.2;
    struct checked c = check_text(buf, CHECKER_FORMAT_JSONL, &o);
    assert_int_equal(c.check_rv, 0);
    assert_int_equal(c.r->verdict, CHECKER_UNKNOWN);
    assert_non_null(strstr(c.r->unknown_why, "time"));
    assert_null(c.r->position);
    checked_free(&c);
}

/* A step budget ends the search with unknown after the same number of
 * model steps on any machine, with one thread or two; a failing key that
 * is found within the budget still makes the verdict. */
static void step_budget_gives_unknown(void **state)
{
    (void)state;
    char buf[8192];
    hard_history(buf, sizeof buf);
    uint64_t steps = 0;
    for (unsigned threads = 1; threads <= 2; threads++) {
        struct checker_options o;
        checker_options_init(&o);
        o.threads = threads;
        o.max_steps = 200000;
        struct checked c = check_text(buf, CHECKER_FORMAT_JSONL, &o);
        assert_int_equal(c.check_rv, 0);
        assert_int_equal(c.r->verdict, CHECKER_UNKNOWN);
        assert_string_equal(c.r->unknown_why, "the step budget ran out");
        assert_true(c.r->steps >= 200000 && c.r->steps < 210000);
        if (threads == 1) {
            steps = c.r->steps;
        }
        assert_int_equal(c.r->steps, steps);
        checked_free(&c);
    }
    /* Another key that fails early decides, budget or not. */
    size_t len = strlen(buf);
    snprintf(buf + len, sizeof buf - len,
             "{\"process\":100,\"type\":\"invoke\",\"f\":\"get\","
             "\"key\":\"y\",\"time\":40}\n"
             "{\"process\":100,\"type\":\"ok\",\"f\":\"get\",\"key\":"
             "\"y\",\"value\":\"never\",\"time\":50}\n");
    struct checker_options o;
    checker_options_init(&o);
    o.max_steps = 200000;
    struct checked c = check_text(buf, CHECKER_FORMAT_JSONL, &o);
    assert_int_equal(c.check_rv, 0);
    assert_int_equal(c.r->verdict, CHECKER_NOT_LINEARIZABLE);
    checked_free(&c);
}

/* A search that outgrows its memory budget says unknown too, instead of
 * taking the machine's memory. */
static void memory_budget_gives_unknown(void **state)
{
    (void)state;
    char buf[8192];
    hard_history(buf, sizeof buf);
    struct checker_options o;
    checker_options_init(&o);
    o.threads = 1;
    o.memory_bytes = (size_t)4 << 20;
    struct checked c = check_text(buf, CHECKER_FORMAT_JSONL, &o);
    assert_int_equal(c.check_rv, 0);
    assert_int_equal(c.r->verdict, CHECKER_UNKNOWN);
    assert_non_null(strstr(c.r->unknown_why, "memory"));
    checked_free(&c);
}

/* Twelve concurrent appends, eight appends of unknown outcome that never
 * took effect, and a read of the twelve in reverse order: on a key of
 * appends and gets the read's value leaves one order (search.c,
 * "Appends"), so the search decides within a few thousand model steps
 * what takes an order-by-order search millions. */
static void appends_are_ordered_by_what_reads_saw(void **state)
{
    (void)state;
    char buf[8192];
    size_t at = 0;
    for (int p = 0; p < 20; p++) {
        at += (size_t)snprintf(buf + at, sizeof buf - at,
                               "{\"process\":%d,\"type\":\"invoke\",\"f\":"
                               "\"append\",\"key\":\"x\",\"value\":\"%c\","
                               "\"time\":0}\n",
                               p, 'a' + p);
    }
    for (int p = 0; p < 20; p++) {
        at += (size_t)snprintf(buf + at, sizeof buf - at,
                               "{\"process\":%d,\"type\":\"%s\",\"f\":"
                               "\"append\",\"key\":\"x\",\"time\":10}\n",
                               p, p < 12 ? "ok" : "info");
    }
    snprintf(buf + at, sizeof buf - at,
             "{\"process\":99,\"type\":\"invoke\",\"f\":\"get\",\"key\":"
             "\"x\",\"time\":20}\n"
             "{\"process\":99,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
             "\"value\":\"lkjihgfedcba\",\"time\":30}\n");
    struct checker_options o;
    checker_options_init(&o);
    o.threads = 1;
    o.max_steps = 5000;
    struct checked c = check_text(buf, CHECKER_FORMAT_JSONL, &o);
    assert_int_equal(c.check_rv, 0);
    assert_int_equal(c.r->verdict, LIN);
    assert_true(c.r->steps < 5000);
    checked_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(touching_intervals_are_concurrent),
        cmocka_unit_test(info_write_may_have_taken_effect),
        cmocka_unit_test(info_write_may_not_have_taken_effect),
        cmocka_unit_test(info_write_cannot_take_effect_before_its_invoke),
        cmocka_unit_test(pending_invoke_counts_as_info),
        cmocka_unit_test(fail_has_no_effect),
        cmocka_unit_test(cas_mismatch_is_an_observation),
        cmocka_unit_test(cas_ok_needs_the_expected_value),
        cmocka_unit_test(info_cas_may_or_may_not_have_applied),
        cmocka_unit_test(info_and_fail_gets_constrain_nothing),
        cmocka_unit_test(delete_then_get_reads_null),
        cmocka_unit_test(append_concatenates_in_order),
        cmocka_unit_test(append_of_empty_makes_the_key_present),
        cmocka_unit_test(appended_values_compare_as_strings),
        cmocka_unit_test(absent_reads_empty_when_asked),
        cmocka_unit_test(line_order_is_time_without_time_fields),
        cmocka_unit_test(time_fields_order_events_across_processes),
        cmocka_unit_test(keys_are_checked_apart),
        cmocka_unit_test(failure_reports_prefix_and_unplaced_ops),
        cmocka_unit_test(register_model_has_one_key_and_three_ops),
        cmocka_unit_test(formats_are_detected),
        cmocka_unit_test(empty_history_is_linearizable),
        cmocka_unit_test(history_is_built_event_by_event),
        cmocka_unit_test(timeout_gives_unknown),
        cmocka_unit_test(step_budget_gives_unknown),
        cmocka_unit_test(memory_budget_gives_unknown),
        cmocka_unit_test(appends_are_ordered_by_what_reads_saw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
