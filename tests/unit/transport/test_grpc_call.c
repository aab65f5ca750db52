/*
 * transport_grpc_call_states: the states of a server call and the arrows
 * between them (the diagram in transport/src/grpc_endpoint.h), which
 * call_move() asserts on every change. The endpoint tests (test_grpc.c)
 * drive calls along the arrows; these pin the table itself down: exactly
 * the diagram's arrows, and every call can end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "grpc_endpoint.h"

struct arrow
{
    enum call_state from;
    enum call_state to;
};

/* The diagram, arrow by arrow. */
static const struct arrow diagram[] = {
    {CALL_NEW, CALL_WAITING},
    {CALL_NEW, CALL_ANSWERING},
    {CALL_WAITING, CALL_ANSWERING},
    {CALL_WAITING, CALL_ORPHAN_ANSWERING},
    {CALL_ANSWERING, CALL_FREED},
    {CALL_ORPHAN_ANSWERING, CALL_ORPHAN_REPLIED},
    {CALL_ORPHAN_ANSWERING, CALL_ORPHAN_ANSWERED},
    {CALL_ORPHAN_REPLIED, CALL_FREED},
    {CALL_ORPHAN_ANSWERED, CALL_FREED},
};

static bool in_diagram(enum call_state from, enum call_state to)
{
    for (size_t k = 0; k < sizeof diagram / sizeof diagram[0]; k++) {
        if (diagram[k].from == from && diagram[k].to == to) {
            return true;
        }
    }
    return false;
}

/* The legal changes are exactly the diagram's arrows: none more (a call
 * answered twice, freed while its owner holds it, or taken back from its
 * answer), none fewer. */
static void call_transitions_are_the_diagram(void **state)
{
    (void)state;
    for (int from = 0; from < CALL_STATES; from++) {
        for (int to = 0; to < CALL_STATES; to++) {
            bool want = in_diagram((enum call_state)from, (enum call_state)to);
            if (call_transition_legal((enum call_state)from,
                                      (enum call_state)to) != want) {
                fail_msg("%s -> %s: %s, the diagram says %s",
                         call_state_name((enum call_state)from),
                         call_state_name((enum call_state)to),
                         want ? "refused" : "allowed",
                         want ? "allowed" : "refused");
            }
        }
    }
    /* Out of range: never legal. */
    assert_false(call_transition_legal(CALL_STATES, CALL_FREED));
    assert_false(call_transition_legal(CALL_NEW, CALL_STATES));
}

/* Adds to @set every state linked to one in it by the arrows: those they
 * lead to (@forward), or those that lead to them. */
static void close_over(bool set[CALL_STATES], bool forward)
{
    for (int round = 0; round < CALL_STATES; round++) {
        for (int from = 0; from < CALL_STATES; from++) {
            for (int to = 0; to < CALL_STATES; to++) {
                int have = forward ? from : to;
                int add = forward ? to : from;
                if (set[have] && call_transition_legal((enum call_state)from,
                                                       (enum call_state)to)) {
                    set[add] = true;
                }
            }
        }
    }
}

/* Every state is reached from NEW, FREED is reached from every state and
 * nothing leaves it: no call is stranded, none comes back. */
static void call_states_all_lead_to_freed(void **state)
{
    (void)state;
    bool reached[CALL_STATES] = {false};
    reached[CALL_NEW] = true;
    close_over(reached, true);
    bool ends[CALL_STATES] = {false};
    ends[CALL_FREED] = true;
    close_over(ends, false);
    for (int s = 0; s < CALL_STATES; s++) {
        const char *name = call_state_name((enum call_state)s);
        if (!reached[s]) {
            fail_msg("%s is not reached from NEW", name);
        }
        if (!ends[s]) {
            fail_msg("%s never leads to FREED", name);
        }
        assert_false(call_transition_legal(CALL_FREED, (enum call_state)s));
        assert_false(
            call_transition_legal((enum call_state)s, (enum call_state)s));
    }
}

/* Each state has a name of its own, for assertions and logs. */
static void call_states_have_names(void **state)
{
    (void)state;
    assert_string_equal(call_state_name(CALL_NEW), "NEW");
    assert_string_equal(call_state_name(CALL_ORPHAN_ANSWERED),
                        "ORPHAN_ANSWERED");
    assert_string_equal(call_state_name(CALL_FREED), "FREED");
    assert_string_equal(call_state_name(CALL_STATES), "?");
    for (int a = 0; a < CALL_STATES; a++) {
        for (int b = a + 1; b < CALL_STATES; b++) {
            assert_string_not_equal(call_state_name((enum call_state)a),
                                    call_state_name((enum call_state)b));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(call_transitions_are_the_diagram),
        cmocka_unit_test(call_states_all_lead_to_freed),
        cmocka_unit_test(call_states_have_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
