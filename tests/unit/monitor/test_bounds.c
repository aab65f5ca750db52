/*
 * monitor_bounds: the safety monitor's check of the bounds of raft.h - no
 * node persists, installs or sends a term or index above RAFT_TERM_MAX or
 * RAFT_INDEX_MAX - and of one membership change at a time, fed hand-made
 * updates. (Its checks of the Raft paper's Figure 3 are exercised by the
 * raft tests over testnet and every scenario.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "monitor/monitor.h"

/* Observes @u from node 1 of a fresh monitor; returns whether it held,
 * with the violation in @why. No core is passed: the monitor reads one
 * only for a leader whose term its table holds. */
static bool observe_one(const struct raft_update *u, char *why, size_t size)
{
    struct monitor *m = monitor_new();
    assert_non_null(m);
    monitor_observe(m, 1, NULL, u);
    bool ok = monitor_ok(m);
    monitor_violation(m, why, size);
    monitor_free(m);
    return ok;
}

/* A follower's update holding terms and indexes exactly at the bounds is
 * fine: a hard state, an entry, a snapshot and a message. */
static void monitor_accepts_values_at_bounds(void **state)
{
    (void)state;
    char why[512];
    struct raft_entry e = {
        .term = RAFT_TERM_MAX, .index = 1, .type = RAFT_ENTRY_NOOP};
    struct raft_message msg = {.type = RAFT_MSG_HEARTBEAT_RESP,
                               .from = 1,
                               .to = 2,
                               .term = RAFT_TERM_MAX};
    struct raft_update u = {
        .hard_state = {.term = RAFT_TERM_MAX, .commit = 1},
        .role = RAFT_FOLLOWER,
        .entries = &e,
        .n_entries = 1,
        .messages = &msg,
        .n_messages = 1,
    };
    assert_true(observe_one(&u, why, sizeof why));
    assert_string_equal(why, "");
}

/* Each place a term or index can leave a node above the bound is a
 * violation naming the node and the value: the hard state's term and
 * commit, an entry's index and term, a snapshot's index and term, and a
 * message's term. */
static void monitor_flags_values_beyond_bounds(void **state)
{
    (void)state;
    char why[512];
    const uint64_t v = UINT64_MAX;
    struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP};
    struct raft_snapshot sn = {.index = 1, .term = 1};
    struct raft_message msg = {
        .type = RAFT_MSG_HEARTBEAT_RESP, .from = 1, .to = 2, .term = 1};
    const struct raft_update base = {
        .hard_state = {.term = 1, .commit = 0},
        .role = RAFT_FOLLOWER,
    };
    struct raft_update u = base;
    u.hard_state.term = RAFT_TERM_MAX + 1;
    assert_false(observe_one(&u, why, sizeof why));
    assert_non_null(
        strstr(why, "Bounds: node 1 persisted term 4611686018427387905"));

    u = base;
    u.hard_state.commit = v;
    assert_false(observe_one(&u, why, sizeof why));
    assert_non_null(strstr(why, "persisted commit index 18446744073709551615"));

    u = base;
    e.term = v;
    u.entries = &e;
    u.n_entries = 1;
    assert_false(observe_one(&u, why, sizeof why));
    assert_non_null(strstr(why, "persisted an entry of term"));
    e.term = 1;
    e.index = RAFT_INDEX_MAX + 1;
    assert_false(observe_one(&u, why, sizeof why));
    assert_non_null(strstr(why, "persisted an entry at index"));

    u = base;
    sn.index = v;
    u.snapshot = &sn;
    assert_false(observe_one(&u, why, sizeof why));
    assert_non_null(strstr(why, "installed a snapshot at index"));
    sn.index = 1;
    sn.term = v;
    assert_false(observe_one(&u, why, sizeof why));
    assert_non_null(strstr(why, "installed a snapshot of term"));

    u = base;
    msg.term = v;
    u.messages = &msg;
    u.n_messages = 1;
    assert_false(observe_one(&u, why, sizeof why));
    assert_non_null(strstr(why, "sent a message of term 18446744073709551615"));
}

/* A leader of term RAFT_TERM_MAX is within the bounds but beyond what the
 * monitor's per-term table can hold: it says its checks stopped, rather
 * than letting the table's size overflow (and writing out of bounds). */
static void monitor_leader_of_last_term_stops_checks_cleanly(void **state)
{
    (void)state;
    char why[512];
    struct raft_update u = {
        .hard_state = {.term = RAFT_TERM_MAX},
        .role = RAFT_LEADER,
    };
    assert_false(observe_one(&u, why, sizeof why));
    assert_string_equal(why, "monitor: out of memory, checks stopped");
}

/* One membership change at a time: a leader that appends a configuration
 * entry while the one before it in its log is uncommitted is a violation;
 * once that one is committed, or a follower persisting them, is not. */
static void monitor_flags_a_second_uncommitted_change(void **state)
{
    (void)state;
    static uint8_t conf[] = {1};
    struct raft_entry first = {.term = 1,
                               .index = 1,
                               .type = RAFT_ENTRY_CONFIG,
                               .data = {conf, sizeof conf}};
    struct raft_entry second = first;
    second.index = 2;
    for (int committed = 0; committed < 3; committed++) {
        struct monitor *m = monitor_new();
        assert_non_null(m);
        struct raft_update u = {
            .hard_state = {.term = 1, .commit = 0},
            .role = committed == 2 ? RAFT_FOLLOWER : RAFT_LEADER,
            .entries = &first,
            .n_entries = 1,
        };
        monitor_observe(m, 1, NULL, &u);
        assert_true(monitor_ok(m));
        u.hard_state.commit = committed == 1 ? 1 : 0;
        u.entries = &second;
        monitor_observe(m, 1, NULL, &u);
        char why[512];
        monitor_violation(m, why, sizeof why);
        if (committed == 0) {
            assert_false(monitor_ok(m));
            assert_string_equal(
                why,
                "One change at a time: leader 1 of term 1 appended a "
                "configuration entry at index 2 while the one at index 1 was "
                "uncommitted (commit 0)");
        } else {
            assert_string_equal(why, "");
        }
        monitor_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(monitor_accepts_values_at_bounds),
        cmocka_unit_test(monitor_flags_values_beyond_bounds),
        cmocka_unit_test(monitor_leader_of_last_term_stops_checks_cleanly),
        cmocka_unit_test(monitor_flags_a_second_uncommitted_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
