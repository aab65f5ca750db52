/*
 * Equality of parsed history events and strings, for the tests that
 * compare two parsers (test_fuzz.c and the libFuzzer target
 * tests/fuzz/fuzz_history.c). Header-only: the fuzz target links no
 * cmocka, so it cannot take helpers.c.
 */
#ifndef CHECKER_TEST_SAME_EVENT_H
#define CHECKER_TEST_SAME_EVENT_H

#include <stdbool.h>
#include <string.h>

#include "checker/checker.h"

/* Both absent (NULL), or the same bytes. */
static inline bool same_str(struct checker_str a, struct checker_str b)
{
    if (a.ptr == NULL || b.ptr == NULL) {
        return a.ptr == b.ptr;
    }
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* The same event, but for its line number. */
static inline bool same_event(const struct checker_event *a,
                              const struct checker_event *b)
{
    bool same = a->process == b->process && a->type == b->type &&
                a->f == b->f && a->has_key == b->has_key &&
                a->value_count == b->value_count &&
                a->mismatch == b->mismatch && a->has_time == b->has_time &&
                (!a->has_time || a->time == b->time) &&
                (!a->has_key || same_str(a->key, b->key));
    for (int k = 0; same && k < a->value_count; k++) {
        same = same_str(a->value[k], b->value[k]);
    }
    return same;
}

#endif /* CHECKER_TEST_SAME_EVENT_H */
