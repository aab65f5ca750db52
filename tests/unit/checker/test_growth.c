/*
 * checker: a table that grows gives up at the search's deadline instead of
 * finishing a rehash of gigabytes first, and the memo forgets its older
 * generation at its memory budget only when the search has gone deeper
 * (white-box, checker/src). No test depends on the machine's speed: a
 * deadline of 1 ns since boot has passed before any test starts, and 0
 * means none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

/* Large enough to be zeroed in several slices. */
#define BIG_SLOTS (4 * MEM_BUDGET_REHASH_SLICE)

static void big_calloc_stops_at_the_deadline(void **state)
{
    (void)state;
    struct mem_budget b;
    memset(&b, 0, sizeof b);
    b.deadline_ns = 1;
    assert_null(big_calloc(BIG_SLOTS, 16, &b));
    assert_true(b.timed_out);

    /* Without a deadline (or a budget) the same array is made, zeroed. */
    b.deadline_ns = 0;
    b.timed_out = false;
    unsigned char *p = big_calloc(BIG_SLOTS, 16, &b);
    assert_non_null(p);
    assert_false(b.timed_out);
    for (size_t k = 0; k < (size_t)BIG_SLOTS * 16; k += 4093) {
        assert_int_equal(p[k], 0);
    }
    free(p);
    p = big_calloc(BIG_SLOTS, 16, NULL);
    assert_non_null(p);
    free(p);
}

static int add(struct memo *m, uint64_t k)
{
    uint64_t bits = k;
    return memo_add(m, common_mix64(k), (uint32_t)(k & 7), &bits, 0, 1);
}

static void memo_growth_stops_at_the_deadline(void **state)
{
    (void)state;
    struct mem_budget b;
    memset(&b, 0, sizeof b);
    struct memo m;
    memo_init(&m);
    m.budget = &b;
    /* Fill the memo up to the point where the next add doubles a table of
     * more than one rehash slice. */
    uint64_t n = 0;
    while (m.cur.cap <= MEM_BUDGET_REHASH_SLICE ||
           (m.cur.len + 1) * 2 <= m.cur.cap) {
        assert_int_equal(add(&m, n++), 1);
    }
    size_t cap = m.cur.cap;
    size_t len = m.cur.len;
    b.deadline_ns = 1;
    assert_int_equal(add(&m, n), COMMON_ENOMEM);
    assert_true(b.timed_out);
    /* The memo is as it was: the same table, nothing added. */
    assert_int_equal(m.cur.cap, cap);
    assert_int_equal(m.cur.len, len);
    /* Without the deadline the growth goes through, and everything added
     * before is still found. */
    b.deadline_ns = 0;
    b.timed_out = false;
    assert_int_equal(add(&m, n), 1);
    assert_true(m.cur.cap > cap);
    for (uint64_t k = 0; k <= n; k += 97) {
        assert_int_equal(add(&m, k), 0);
    }
    memo_fini(&m);
}

/* Past its budget the memo forgets its older generation, but only when
 * the search went deeper since the last time; what it still holds is
 * found in either generation. */
static void memo_forgets_a_generation_only_after_progress(void **state)
{
    (void)state;
    struct mem_budget b;
    memset(&b, 0, sizeof b);
    b.limit = 256 * 1024;
    struct memo m;
    memo_init(&m);
    m.budget = &b;
    m.may_forget = true;
    /* No progress: the budget ends the memo's growth. */
    uint64_t n = 0;
    int rv;
    while ((rv = add(&m, n)) == 1) {
        n++;
    }
    assert_int_equal(rv, COMMON_ENOMEM);
    assert_int_equal(m.forgotten, 0);
    /* A configuration it holds is still known: that needs no room. */
    assert_int_equal(add(&m, 0), 0);
    assert_int_equal(add(&m, n - 1), 0);
    uint64_t first = n;
    assert_true(memo_bytes(&m) <= b.limit);
    /* The search went deeper: the current generation becomes the older
     * one, and its configurations are still known. */
    m.depth = 1;
    assert_int_equal(add(&m, n), 1);
    assert_int_equal(m.forgotten, 1);
    assert_int_equal(add(&m, 0), 0);         /* copied back */
    assert_int_equal(add(&m, first - 1), 0); /* copied back */
    /* Fill the new generation until it cannot grow: no more progress. */
    while ((rv = add(&m, ++n)) == 1) {
    }
    assert_int_equal(rv, COMMON_ENOMEM);
    assert_int_equal(m.forgotten, 1);
    assert_true(memo_bytes(&m) <= b.limit);
    /* Deeper again: the first generation is gone, except what was copied
     * out of it. */
    m.depth = 2;
    assert_int_equal(add(&m, n), 1);
    assert_int_equal(m.forgotten, 2);
    assert_int_equal(add(&m, 0), 0);
    assert_int_equal(add(&m, 1), 1); /* forgotten: new again */
    assert_true(memo_bytes(&m) <= b.limit);
    memo_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(big_calloc_stops_at_the_deadline),
        cmocka_unit_test(memo_growth_stops_at_the_deadline),
        cmocka_unit_test(memo_forgets_a_generation_only_after_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
