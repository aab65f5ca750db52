/*
 * monitor_bounds: the safety monitor's check of the bounds of raft.h - no
 * node persists, installs or sends a term or index above RAFT_TERM_MAX or
 * RAFT_INDEX_MAX - of one membership change at a time, and of Log
 * Matching and State Machine Safety across a join by snapshot, fed
 * hand-made updates. (Its checks of the Raft paper's Figure 3 are exercised by
 * the raft tests over testnet and every scenario.)
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

/* Entry @index of term 1 whose payload is @tag. */
static struct raft_entry entry_of(raft_index index, uint8_t *tag)
{
    return (struct raft_entry){.term = 1,
                               .index = index,
                               .type = RAFT_ENTRY_COMMAND,
                               .data = {tag, 1}};
}

/* A node that joins empty (or comes back wiped, booting from nothing)
 * catches up by a snapshot of what the others applied and goes on from
 * there: fine. A snapshot at an index nobody applied, one that no node
 * persisted, and an entry after the snapshot that differs from the
 * others' are violations (State Machine Safety, Log Matching). */
static void monitor_checks_a_join_by_snapshot(void **state)
{
    (void)state;
    static uint8_t tags[] = {'a', 'b', 'c', 'd', 'e', 'x'};
    for (int variant = 0; variant < 4; variant++) {
        struct monitor *m = monitor_new();
        assert_non_null(m);
        /* Node 1 persists 1..5 and applies 1..4. */
        struct raft_entry log[5];
        for (raft_index i = 1; i <= 5; i++) {
            log[i - 1] = entry_of(i, &tags[i - 1]);
        }
        struct raft_update u = {
            .hard_state = {.term = 1, .commit = 4},
            .role = RAFT_FOLLOWER,
            .entries = log,
            .n_entries = 5,
            .committed = log,
            .n_committed = 4,
        };
        monitor_observe(m, 1, NULL, &u);
        assert_true(monitor_ok(m));
        /* Node 4 boots empty, twice (the second time wiped), and
         * installs a snapshot each time. */
        struct raft_snapshot snap = {.index = 3, .term = 1};
        if (variant == 1) {
            snap.index = 5; /* persisted, never applied */
        } else if (variant == 2) {
            snap.term = 2; /* nobody persisted (3, 2) */
        }
        struct raft_update join = {.hard_state = {.term = 1, .commit = 3},
                                   .role = RAFT_FOLLOWER,
                                   .snapshot = &snap};
        for (int life = 0; life < 2; life++) {
            monitor_boot(m, 4, 0, 0, NULL, 0);
            monitor_observe(m, 4, NULL, &join);
        }
        /* Then it persists and applies index 4: node 1's, or another. */
        struct raft_entry next = entry_of(4, &tags[variant == 3 ? 5 : 3]);
        struct raft_update more = {.hard_state = {.term = 1, .commit = 4},
                                   .role = RAFT_FOLLOWER,
                                   .entries = &next,
                                   .n_entries = 1,
                                   .committed = &next,
                                   .n_committed = 1};
        if (variant != 1 && variant != 2) {
            monitor_observe(m, 4, NULL, &more);
        }
        char why[512];
        monitor_violation(m, why, sizeof why);
        static const char *const want[] = {
            "",
            "State Machine Safety: node 4 installed a snapshot at index 5 of "
            "term 1, which no node has applied",
            "node 4 holds a snapshot at index 3 term 2 that no node ever "
            "persisted",
            "Log Matching: node 4 persisted index 4 term 1 after a prefix "
            "that differs from another node's",
        };
        assert_string_equal(why, want[variant]);
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
        cmocka_unit_test(monitor_checks_a_join_by_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
