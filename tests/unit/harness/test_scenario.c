/*
 * harness_scenario: the scenario loader (harness/include/harness/harness.h).
 *
 * A full scenario loads with every field as written, omitted fields take
 * their defaults, each class of bad input gets a message at the exact
 * file:line:column, out-of-memory fails cleanly at every allocation, every
 * shipped scenarios/NAME.yaml loads, and a seeded fuzz run (random bytes and
 * mutations of valid scenarios) never crashes and never accepts a scenario
 * that breaks the documented invariants.
 *
 * The fuzz run prints the seed of a failing or crashing trial; run
 * `SCENARIO_FUZZ_SEED=N tests/harness_scenario` to replay that one trial,
 * and SCENARIO_FUZZ_TRIALS=N (with or without a first seed) for a longer
 * campaign.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "harness/harness.h"

#ifndef SCENARIOS_DIR
#error "SCENARIOS_DIR must name the scenarios/ folder"
#endif

/* ------------------------------------------------------------------------ */
/* Failing allocations                                                       */
/* ------------------------------------------------------------------------ */

/* The test links with ld's --wrap=malloc,calloc,realloc, which sends every
 * call made from the statically linked objects (the loader, common/) here;
 * the __wrap_/__real_ names are ld's convention, not ours. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

/* Allocation number alloc_fail_at (0-based, counted from when it was set)
 * fails; -1 fails none. */
static long alloc_fail_at = -1;
static long alloc_count;

static bool alloc_should_fail(void)
{
    return alloc_fail_at >= 0 && alloc_count++ == alloc_fail_at;
}

void *__wrap_malloc(size_t size)
{
    return alloc_should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return alloc_should_fail() ? NULL : __real_realloc(p, size);
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* The smallest valid scenario: four lines, so what a test appends starts at
 * line 5. */
#define BASE                \
    "nodes: 3\n"            \
    "duration_s: 10\n"      \
    "clients: {count: 2}\n" \
    "expect: {min_ok: 1}\n"

/* Every field, every fault kind. Line numbers matter: tests check them. */
static const char full_text[] =
    "# A scenario with every field.\n"                            /* 1 */
    "name: full-test\n"                                           /* 2 */
    "description: |\n"                                            /* 3 */
    "  Every field given.\n"                                      /* 4 */
    "nodes: 5\n"                                                  /* 5 */
    "seed: 18446744073709551615\n"                                /* 6 */
    "duration_s: 20.5\n"                                          /* 7 */
    "transport: grpc\n"                                           /* 8 */
    "timing:\n"                                                   /* 9 */
    "  tick_ms: 20\n"                                             /* 10 */
    "  election_ticks: 15\n"                                      /* 11 */
    "  heartbeat_ticks: 3\n"                                      /* 12 */
    "  pre_vote: false\n"                                         /* 13 */
    "  check_quorum: false\n"                                     /* 14 */
    "clients:\n"                                                  /* 15 */
    "  count: 16\n"                                               /* 16 */
    "  keys: 20\n"                                                /* 17 */
    "  value_size: 32\n"                                          /* 18 */
    "  timeout_ms: 2000\n"                                        /* 19 */
    "  think_ms: 5\n"                                             /* 20 */
    "  mix: {get: 40, put: 30, cas: 10, append: 15, delete: 5}\n" /* 21 */
    "faults:\n"                                                   /* 22 */
    "  - at: 2\n"                                                 /* 23 */
    "    partition: [[1, 2, 4], [3], [5]]\n"                      /* 24 */
    "  - at: 6\n"                                                 /* 25 */
    "    heal: true\n"                                            /* 26 */
    "  - at: 7\n"                                                 /* 27 */
    "    isolate: leader\n"                                       /* 28 */
    "  - {at: 9, crash: 3}\n"                                     /* 29 */
    "  - {at: 10, restart: 3}\n"                                  /* 30 */
    "  - {at: 11, pause: random}\n"                               /* 31 */
    "  - {at: 12, resume: all}\n"                                 /* 32 */
    "  - at: 13\n"                                                /* 33 */
    "    link: {from: 1, to: 2, loss: 0.3, duplicate: 0.1, "
    "reorder: 0.2, delay_ms: [5, 20]}\n"           /* 34 */
    "  - at: 13\n"                                 /* 35 */
    "    link: {to: 4, delay_ms: 7}\n"             /* 36 */
    "  - at: 14.5\n"                               /* 37 */
    "    cut: {from: 1, to: 2, both_ways: true}\n" /* 38 */
    "  - {at: 15, cut: {from: 5, to: 4}}\n"        /* 39 */
    "  - {at: 16, link: {}}\n"                     /* 40 */
    "nemesis:\n"                                   /* 41 */
    "  interval_s: 2\n"                            /* 42 */
    "  fault_s: 1.5\n"                             /* 43 */
    "  start_s: 0.5\n"                             /* 44 */
    "  faults: [partition, isolate-leader, crash, pause, loss, "
    "delay, one-way]\n"                     /* 45 */
    "  loss: 0.1\n"                         /* 46 */
    "  delay_ms: [10, 40]\n"                /* 47 */
    "expect:\n"                             /* 48 */
    "  min_ok: 300\n"                       /* 49 */
    "  leader_within_ms_after_heal: 5000\n" /* 50 */
    "  no_ok_on_minority: true\n"           /* 51 */
    "  max_leaderless_ms: 8000\n"           /* 52 */
    "  min_snapshot_installs: 2\n"          /* 53 */
    "  no_leader: {from_s: 0.5, to_s: 1}\n" /* 54 */
    "  term_unchanged:\n"                   /* 55 */
    "    - {from_s: 3, to_s: 4}\n"          /* 56 */
    "    - {from_s: 18, to_s: 20.5}\n"      /* 57 */
    "  progress_within_ms: 7000\n"          /* 58 */
    "  max_snapshot_bytes: 65536\n"         /* 59 */
    "  max_log_entries: 1100\n";            /* 60 */

static int parse_named(const char *name,
                       const char *text,
                       struct scenario *s,
                       char *err)
{
    return scenario_parse(name, text, strlen(text), s, err, SCENARIO_ERROR_MAX);
}

/* Parses @text as "t.yaml", which must succeed; the caller finis @s. */
static void parse_ok(const char *text, struct scenario *s)
{
    char err[SCENARIO_ERROR_MAX];
    int rc = parse_named("t.yaml", text, s, err);
    if (rc != 0) {
        fail_msg("unexpected error %d: %s", rc, err);
    }
}

static bool is_zeroed(const struct scenario *s)
{
    static const struct scenario zero;
    return memcmp(s, &zero, sizeof zero) == 0;
}

/* Parses @text as "t.yaml", which must fail with @code, a message that
 * starts with @where ("t.yaml:5:8: ") and holds @part, and a zeroed @s. */
static void check_error(const char *text,
                        int code,
                        const char *where,
                        const char *part)
{
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    int rc = parse_named("t.yaml", text, &s, err);
    if (rc != code || strncmp(err, where, strlen(where)) != 0 ||
        strstr(err, part) == NULL) {
        fail_msg("for input:\n%s\nwanted %d \"%s...%s\", got %d \"%s\"", text,
                 code, where, part, rc, err);
    }
    assert_true(is_zeroed(&s));
}

/* ------------------------------------------------------------------------ */
/* What loads                                                                */
/* ------------------------------------------------------------------------ */

/* Asserts that @s has @want's name, path, nodes, seed, duration, transport,
 * timing and clients. */
static void assert_settings(const struct scenario *s,
                            const struct scenario *want)
{
    assert_string_equal(s->name, want->name);
    assert_string_equal(s->path, want->path);
    assert_int_equal(s->nodes, want->nodes);
    assert_true(s->seed == want->seed);
    assert_true(s->duration_s == want->duration_s);
    assert_int_equal(s->transport_grpc, want->transport_grpc);
    assert_int_equal(s->timing.tick_ms, want->timing.tick_ms);
    assert_int_equal(s->timing.election_ticks, want->timing.election_ticks);
    assert_int_equal(s->timing.heartbeat_ticks, want->timing.heartbeat_ticks);
    assert_int_equal(s->timing.pre_vote, want->timing.pre_vote);
    assert_int_equal(s->timing.check_quorum, want->timing.check_quorum);
    assert_int_equal(s->clients.count, want->clients.count);
    assert_int_equal(s->clients.keys, want->clients.keys);
    assert_int_equal(s->clients.value_size, want->clients.value_size);
    assert_int_equal(s->clients.timeout_ms, want->clients.timeout_ms);
    assert_int_equal(s->clients.think_ms, want->clients.think_ms);
    assert_int_equal(s->clients.mix.get, want->clients.mix.get);
    assert_int_equal(s->clients.mix.put, want->clients.mix.put);
    assert_int_equal(s->clients.mix.del, want->clients.mix.del);
    assert_int_equal(s->clients.mix.cas, want->clients.mix.cas);
    assert_int_equal(s->clients.mix.append, want->clients.mix.append);
}

/* A scenario with every field loads with each value as written. */
static void full_scenario_loads_every_field(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(full_text, &s);

    assert_string_equal(s.description, "Every field given.\n");
    assert_settings(&s, &(struct scenario){
                            .name = "full-test",
                            .path = "t.yaml",
                            .nodes = 5,
                            .seed = UINT64_MAX,
                            .duration_s = 20.5,
                            .transport_grpc = true,
                            .timing = {.tick_ms = 20,
                                       .election_ticks = 15,
                                       .heartbeat_ticks = 3,
                                       .pre_vote = false,
                                       .check_quorum = false},
                            .clients = {.count = 16,
                                        .keys = 20,
                                        .value_size = 32,
                                        .timeout_ms = 2000,
                                        .think_ms = 5,
                                        .mix = {.get = 40,
                                                .put = 30,
                                                .cas = 10,
                                                .append = 15,
                                                .del = 5}},
                        });

    assert_int_equal(s.n_faults, 12);
    const struct scenario_fault *f = s.faults;
    assert_true(f[0].at_s == 2);
    assert_int_equal(f[0].kind, SCENARIO_FAULT_PARTITION);
    assert_int_equal(f[0].line, 23);
    assert_int_equal(f[0].column, 5);
    assert_int_equal(f[0].n_groups, 3);
    const unsigned groups[SCENARIO_MAX_NODES] = {0,
                                                 0,
                                                 1,
                                                 0,
                                                 2,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE,
                                                 SCENARIO_GROUP_NONE};
    assert_memory_equal(f[0].group, groups, sizeof groups);

    assert_int_equal(f[1].kind, SCENARIO_FAULT_HEAL);
    assert_true(f[1].at_s == 6);
    assert_int_equal(f[2].kind, SCENARIO_FAULT_ISOLATE);
    assert_int_equal(f[2].target.kind, SCENARIO_TARGET_LEADER);
    assert_int_equal(f[3].kind, SCENARIO_FAULT_CRASH);
    assert_int_equal(f[3].target.kind, SCENARIO_TARGET_NODE);
    assert_int_equal(f[3].target.id, 3);
    assert_int_equal(f[3].line, 29);
    assert_int_equal(f[3].column, 5);
    assert_int_equal(f[4].kind, SCENARIO_FAULT_RESTART);
    assert_int_equal(f[4].target.id, 3);
    assert_int_equal(f[5].kind, SCENARIO_FAULT_PAUSE);
    assert_int_equal(f[5].target.kind, SCENARIO_TARGET_RANDOM);
    assert_int_equal(f[6].kind, SCENARIO_FAULT_RESUME);
    assert_int_equal(f[6].target.kind, SCENARIO_TARGET_ALL);

    assert_int_equal(f[7].kind, SCENARIO_FAULT_LINK);
    assert_int_equal(f[7].from, 1);
    assert_int_equal(f[7].to, 2);
    assert_true(f[7].link.loss == 0.3);
    assert_true(f[7].link.duplicate == 0.1);
    assert_true(f[7].link.reorder == 0.2);
    assert_int_equal(f[7].link.delay_ms_min, 5);
    assert_int_equal(f[7].link.delay_ms_max, 20);
    assert_int_equal(f[8].kind, SCENARIO_FAULT_LINK);
    assert_true(f[8].at_s == 13);
    assert_int_equal(f[8].from, 0);
    assert_int_equal(f[8].to, 4);
    assert_true(f[8].link.loss == 0);
    assert_int_equal(f[8].link.delay_ms_min, 7);
    assert_int_equal(f[8].link.delay_ms_max, 7);

    assert_int_equal(f[9].kind, SCENARIO_FAULT_CUT);
    assert_true(f[9].at_s == 14.5);
    assert_int_equal(f[9].from, 1);
    assert_int_equal(f[9].to, 2);
    assert_true(f[9].both_ways);
    assert_int_equal(f[10].kind, SCENARIO_FAULT_CUT);
    assert_int_equal(f[10].from, 5);
    assert_int_equal(f[10].to, 4);
    assert_false(f[10].both_ways);
    assert_int_equal(f[11].kind, SCENARIO_FAULT_LINK);
    assert_int_equal(f[11].from, 0);
    assert_int_equal(f[11].to, 0);
    assert_int_equal(f[11].link.delay_ms_max, 0);

    assert_true(s.nemesis.enabled);
    assert_true(s.nemesis.interval_s == 2);
    assert_true(s.nemesis.fault_s == 1.5);
    assert_true(s.nemesis.start_s == 0.5);
    assert_int_equal(s.nemesis.faults,
                     SCENARIO_NEMESIS_PARTITION |
                         SCENARIO_NEMESIS_ISOLATE_LEADER |
                         SCENARIO_NEMESIS_CRASH | SCENARIO_NEMESIS_PAUSE |
                         SCENARIO_NEMESIS_LOSS | SCENARIO_NEMESIS_DELAY |
                         SCENARIO_NEMESIS_ONE_WAY);
    assert_true(s.nemesis.loss == 0.1);
    assert_int_equal(s.nemesis.delay_ms_min, 10);
    assert_int_equal(s.nemesis.delay_ms_max, 40);

    assert_true(s.expect.min_ok == 300);
    assert_int_equal(s.expect.leader_within_ms_after_heal, 5000);
    assert_true(s.expect.no_ok_on_minority);
    assert_int_equal(s.expect.max_leaderless_ms, 8000);
    assert_int_equal(s.expect.min_snapshot_installs, 2);
    assert_int_equal(s.expect.n_no_leader, 1);
    assert_true(s.expect.no_leader[0].from_s == 0.5);
    assert_true(s.expect.no_leader[0].to_s == 1);
    assert_int_equal(s.expect.n_term_unchanged, 2);
    assert_true(s.expect.term_unchanged[0].from_s == 3);
    assert_true(s.expect.term_unchanged[0].to_s == 4);
    assert_true(s.expect.term_unchanged[1].from_s == 18);
    assert_true(s.expect.term_unchanged[1].to_s == 20.5);
    assert_int_equal(s.expect.progress_within_ms, 7000);
    assert_true(s.expect.max_snapshot_bytes == 65536);
    assert_true(s.expect.max_log_entries == 1100);

    scenario_fini(&s);
    assert_true(is_zeroed(&s));
    scenario_fini(&s); /* harmless twice */
}

/* Omitted optional fields take the documented defaults. */
static void omitted_fields_take_defaults(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(BASE, &s);
    assert_null(s.description);
    assert_settings(&s, &(struct scenario){
                            .name = "t",
                            .path = "t.yaml",
                            .nodes = 3,
                            .seed = 1,
                            .duration_s = 10,
                            .transport_grpc = false,
                            .timing = {.tick_ms = 10,
                                       .election_ticks = 10,
                                       .heartbeat_ticks = 2,
                                       .pre_vote = true,
                                       .check_quorum = true},
                            .clients = {.count = 2,
                                        .keys = 10,
                                        .value_size = 8,
                                        .timeout_ms = 1000,
                                        .think_ms = 0,
                                        .mix = {.get = 50,
                                                .put = 30,
                                                .cas = 10,
                                                .append = 5,
                                                .del = 5}},
                        });
    assert_null(s.faults);
    assert_int_equal(s.n_faults, 0);
    assert_false(s.nemesis.enabled);
    assert_true(s.expect.min_ok == 1);
    assert_int_equal(s.expect.leader_within_ms_after_heal, 0);
    assert_false(s.expect.no_ok_on_minority);
    assert_int_equal(s.expect.max_leaderless_ms, 0);
    assert_int_equal(s.expect.min_snapshot_installs, 0);
    assert_int_equal(s.expect.n_no_leader, 0);
    assert_int_equal(s.expect.n_term_unchanged, 0);
    assert_int_equal(s.expect.progress_within_ms, 0);
    assert_true(s.expect.max_snapshot_bytes == 0);
    assert_true(s.expect.max_log_entries == 0);
    scenario_fini(&s);

    /* Nemesis defaults: fault_s half the interval, start 1 s, loss 0.2,
     * delays 5..50 ms; an empty fault list is no faults. */
    parse_ok(BASE "nemesis: {interval_s: 3, faults: [loss]}\nfaults: []\n", &s);
    assert_true(s.nemesis.enabled);
    assert_true(s.nemesis.interval_s == 3);
    assert_true(s.nemesis.fault_s == 1.5);
    assert_true(s.nemesis.start_s == 1);
    assert_int_equal(s.nemesis.faults, SCENARIO_NEMESIS_LOSS);
    assert_true(s.nemesis.loss == 0.2);
    assert_int_equal(s.nemesis.delay_ms_min, 5);
    assert_int_equal(s.nemesis.delay_ms_max, 50);
    assert_int_equal(s.n_faults, 0);
    scenario_fini(&s);
}

/* A mix that is given leaves the operations it omits at weight 0. */
static void mix_omitted_operations_weigh_zero(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(
        "nodes: 1\nduration_s: 1\nexpect: {min_ok: 0}\n"
        "clients: {count: 1, mix: {put: 1}}\n",
        &s);
    assert_int_equal(s.clients.mix.put, 1);
    assert_int_equal(s.clients.mix.get, 0);
    assert_int_equal(s.clients.mix.cas, 0);
    assert_int_equal(s.clients.mix.append, 0);
    assert_int_equal(s.clients.mix.del, 0);
    scenario_fini(&s);
}

/* The default name is the file name without its folder and extension. */
static void name_defaults_to_file_name(void **state)
{
    (void)state;
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    static const struct
    {
        const char *path;
        const char *name;
    } cases[] = {
        {"scenarios/partition.yaml", "partition"},
        {"/a/b/leader-crash.yml", "leader-crash"},
        {"plain", "plain"},
        {"dir/.yaml", "scenario"},
        {"x.yaml.txt", "x.yaml.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(parse_named(cases[i].path, BASE, &s, err), 0);
        assert_string_equal(s.name, cases[i].name);
        assert_string_equal(s.path, cases[i].path);
        scenario_fini(&s);
    }
}

/* Node targets accept an id or a word (quoted too); restart and resume,
 * which pick among nodes that are down, take random and all. */
static void targets_accept_ids_and_words(void **state)
{
    (void)state;
    struct scenario s;
    char buf[64];
    parse_ok(BASE
             "faults:\n"
             "  - {at: 0, crash: 1}\n"
             "  - {at: 0, pause: \"leader\"}\n"
             "  - {at: 0, isolate: 'follower'}\n"
             "  - {at: 1, crash: all}\n"
             "  - {at: 2, restart: random}\n"
             "  - {at: 3, restart: all}\n"
             "  - {at: 9.999, resume: 2}\n",
             &s);
    assert_int_equal(s.n_faults, 7);
    assert_int_equal(s.faults[0].target.kind, SCENARIO_TARGET_NODE);
    assert_int_equal(s.faults[0].target.id, 1);
    assert_int_equal(s.faults[1].target.kind, SCENARIO_TARGET_LEADER);
    assert_int_equal(s.faults[2].target.kind, SCENARIO_TARGET_FOLLOWER);
    assert_int_equal(s.faults[3].target.kind, SCENARIO_TARGET_ALL);
    assert_int_equal(s.faults[4].target.kind, SCENARIO_TARGET_RANDOM);
    assert_int_equal(s.faults[5].target.kind, SCENARIO_TARGET_ALL);
    assert_int_equal(s.faults[6].target.kind, SCENARIO_TARGET_NODE);
    assert_int_equal(s.faults[6].target.id, 2);
    scenario_fault_describe(&s.faults[5], buf, sizeof buf);
    assert_string_equal(buf, "restart all");
    scenario_fini(&s);
}

/* Numbers take integer, fraction and exponent forms. */
static void numbers_take_decimal_forms(void **state)
{
    (void)state;
    struct scenario s;
    static const struct
    {
        const char *text;
        double value;
    } cases[] = {
        {"7", 7},         {"0.25", 0.25}, {".5", 0.5},
        {"5.", 5},        {"+2", 2},      {"1e2", 100},
        {"2.5E-1", 0.25}, {"3600", 3600}, {"0.001", 0.001},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "nodes: 1\nclients: {count: 1}\nexpect: {min_ok: 0}\n"
                 "duration_s: %s\n",
                 cases[i].text);
        parse_ok(text, &s);
        assert_true(s.duration_s == cases[i].value);
        scenario_fini(&s);
    }
}

/* Each fault kind has a short description, cut to fit small buffers. */
static void fault_describe_names_each_kind(void **state)
{
    (void)state;
    struct scenario s;
    char buf[128];
    static const char *const want[] = {
        "partition {1,2,4} {3} {5}",
        "heal",
        "isolate leader",
        "crash 3",
        "restart 3",
        "pause random",
        "resume all",
        "link 1->2 loss 0.3 duplicate 0.1 reorder 0.2 delay 5-20 ms",
        "link *->4 delay 7 ms",
        "cut 1<->2",
        "cut 5->4",
        "link *->* clear",
    };
    parse_ok(full_text, &s);
    assert_int_equal(s.n_faults, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < s.n_faults; i++) {
        scenario_fault_describe(&s.faults[i], buf, sizeof buf);
        assert_string_equal(buf, want[i]);
        for (size_t size = 1; size < strlen(want[i]) + 1; size++) {
            memset(buf, 'x', sizeof buf);
            scenario_fault_describe(&s.faults[i], buf, size);
            assert_int_equal(strlen(buf), size - 1);
            assert_memory_equal(buf, want[i], size - 1);
        }
    }
    scenario_fault_describe(&s.faults[0], NULL, 0);
    struct scenario_fault bogus = {.kind = (enum scenario_fault_kind)99};
    scenario_fault_describe(&bogus, buf, sizeof buf);
    assert_string_equal(buf, "unknown fault");
    scenario_fini(&s);
}

/* A forge fault loads its receiver, sender, message type, term and index,
 * with the documented defaults (a heartbeat of term 2^64 - 1 and index 0,
 * from a node drawn when it fires), and describes itself. */
static void forge_fault_loads_with_defaults(void **state)
{
    (void)state;
    struct scenario s;
    char buf[128];
    parse_ok(BASE
             "faults:\n"
             "  - {at: 1, forge: {to: follower}}\n"
             "  - at: 2\n"
             "    forge: {to: 2, from: 3, type: pre-vote, term: 7,\n"
             "            index: 4611686018427387905}\n"
             "  - {at: 3, forge: {to: random, type: heartbeat-resp}}\n",
             &s);
    assert_int_equal(s.n_faults, 3);
    const struct scenario_fault *f = &s.faults[0];
    assert_int_equal(f->kind, SCENARIO_FAULT_FORGE);
    assert_int_equal(f->target.kind, SCENARIO_TARGET_FOLLOWER);
    assert_int_equal(f->from, 0);
    assert_int_equal(f->forge_type, SCENARIO_FORGE_HEARTBEAT);
    assert_true(f->forge_term == UINT64_MAX);
    assert_true(f->forge_index == 0);
    scenario_fault_describe(f, buf, sizeof buf);
    assert_string_equal(
        buf, "forge heartbeat term 18446744073709551615 index 0 *->follower");
    f = &s.faults[1];
    assert_int_equal(f->target.kind, SCENARIO_TARGET_NODE);
    assert_int_equal(f->target.id, 2);
    assert_int_equal(f->from, 3);
    assert_int_equal(f->forge_type, SCENARIO_FORGE_PRE_VOTE);
    assert_true(f->forge_term == 7);
    assert_true(f->forge_index == (UINT64_C(1) << 62) + 1);
    scenario_fault_describe(f, buf, sizeof buf);
    assert_string_equal(buf,
                        "forge pre-vote term 7 index 4611686018427387905 3->2");
    assert_int_equal(s.faults[2].forge_type, SCENARIO_FORGE_HEARTBEAT_RESP);
    scenario_fini(&s);
}

/* no_leader and term_unchanged take one window or a list of them, each
 * {from_s, to_s} inside the run; progress_within_ms, max_snapshot_bytes
 * and max_log_entries take integers in their ranges. */
static void windowed_and_bound_expectations_load(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(
        "nodes: 3\nduration_s: 10\nclients: {count: 2}\n"
        "expect:\n"
        "  min_ok: 1\n"
        "  no_leader: [{from_s: 0, to_s: 0.25}, {to_s: 10, from_s: 9}]\n"
        "  term_unchanged: {from_s: 1e0, to_s: 2}\n"
        "  progress_within_ms: 3600000\n"
        "  max_snapshot_bytes: 1099511627776\n"
        "  max_log_entries: 1000000000\n",
        &s);
    assert_int_equal(s.expect.n_no_leader, 2);
    assert_true(s.expect.no_leader[0].from_s == 0);
    assert_true(s.expect.no_leader[0].to_s == 0.25);
    assert_true(s.expect.no_leader[1].from_s == 9);
    assert_true(s.expect.no_leader[1].to_s == 10);
    assert_int_equal(s.expect.n_term_unchanged, 1);
    assert_true(s.expect.term_unchanged[0].from_s == 1);
    assert_true(s.expect.term_unchanged[0].to_s == 2);
    assert_int_equal(s.expect.progress_within_ms, 3600000);
    assert_true(s.expect.max_snapshot_bytes == (UINT64_C(1) << 40));
    assert_true(s.expect.max_log_entries == 1000000000);
    scenario_fini(&s);

    /* SCENARIO_MAX_WINDOWS windows load; one more is refused at it. */
    struct common_vec v;
    common_vec_init(&v);
    assert_int_equal(common_vec_appendf(&v, "%s",
                                        "nodes: 3\nduration_s: 10\n"
                                        "clients: {count: 2}\n"
                                        "expect:\n  min_ok: 1\n"
                                        "  no_leader:\n"),
                     0);
    for (int i = 0; i < SCENARIO_MAX_WINDOWS; i++) {
        assert_int_equal(
            common_vec_appendf(&v, "    - {from_s: %d, to_s: %d.5}\n", i % 9,
                               i % 9),
            0);
    }
    parse_ok((const char *)v.data, &s);
    assert_int_equal(s.expect.n_no_leader, SCENARIO_MAX_WINDOWS);
    scenario_fini(&s);
    assert_int_equal(common_vec_appendf(&v, "    - {from_s: 1, to_s: 2}\n"), 0);
    check_error((const char *)v.data, COMMON_EINVAL,
                "t.yaml:39:7: ", "expect.no_leader: more than 32 windows");
    common_vec_fini(&v);
}

/* Each bad window and bound is refused at the value at fault. */
static void windowed_and_bound_expectation_errors(void **state)
{
    (void)state;
#define EXPECT_AT "nodes: 3\nduration_s: 10\nclients: {count: 2}\n"
    check_error(EXPECT_AT
                "expect: {min_ok: 1, no_leader: {from_s: 3, "
                "to_s: 2}}\n",
                COMMON_EINVAL, "t.yaml:4:50: ",
                "expect.no_leader.to_s: 2 is out of range: must be > 3 and "
                "<= 10");
    check_error(EXPECT_AT
                "expect: {min_ok: 1, no_leader: {from_s: 1, "
                "to_s: 10.5}}\n",
                COMMON_EINVAL, "t.yaml:4:50: ",
                "expect.no_leader.to_s: 10.5 is out of range: must be > 1 "
                "and <= 10");
    check_error(EXPECT_AT
                "expect: {min_ok: 1, no_leader: {from_s: 10, "
                "to_s: 11}}\n",
                COMMON_EINVAL, "t.yaml:4:41: ",
                "expect.no_leader.from_s: 10 is out of range: must be >= 0 "
                "and < 10");
    check_error(EXPECT_AT
                "expect: {min_ok: 1, no_leader: {from_s: -1, "
                "to_s: 1}}\n",
                COMMON_EINVAL,
                "t.yaml:4:41: ", "expect.no_leader.from_s: -1 is out of range");
    check_error(EXPECT_AT "expect: {min_ok: 1, no_leader: {from_s: 1}}\n",
                COMMON_EINVAL, "t.yaml:4:32: ",
                "missing required field 'expect.no_leader.to_s'");
    check_error(EXPECT_AT
                "expect: {min_ok: 1, no_leader: {from: 1, to_s: "
                "2}}\n",
                COMMON_EINVAL, "t.yaml:4:33: ",
                "unknown field 'from' in expect.no_leader (expected from_s "
                "or to_s)");
    check_error(EXPECT_AT "expect: {min_ok: 1, term_unchanged: []}\n",
                COMMON_EINVAL, "t.yaml:4:37: ",
                "expect.term_unchanged: empty; give at least one window");
    check_error(EXPECT_AT "expect: {min_ok: 1, term_unchanged: 5}\n",
                COMMON_EINVAL, "t.yaml:4:37: ",
                "expect.term_unchanged: expected a window {from_s: S, to_s: "
                "S} or a list of them, got '5'");
    check_error(EXPECT_AT
                "expect:\n  min_ok: 1\n  term_unchanged:\n"
                "    - {from_s: 1, to_s: 2}\n    - [3, 4]\n",
                COMMON_EINVAL, "t.yaml:8:7: ",
                "expect.term_unchanged[1]: expected a window {from_s: S, "
                "to_s: S}, got a sequence");
    check_error(EXPECT_AT
                "expect:\n  min_ok: 1\n  term_unchanged:\n"
                "    - {from_s: 1, to_s: 2}\n"
                "    - {from_s: 4, to_s: 4}\n",
                COMMON_EINVAL, "t.yaml:8:25: ",
                "expect.term_unchanged[1].to_s: 4 is out of range: must be > "
                "4 and <= 10");
    check_error(EXPECT_AT
                "expect: {min_ok: 1, progress_within_ms: "
                "3600001}\n",
                COMMON_EINVAL, "t.yaml:4:41: ",
                "expect.progress_within_ms: 3600001 is out of range "
                "0..3600000");
    check_error(EXPECT_AT "expect: {min_ok: 1, progress_within_ms: 1.5}\n",
                COMMON_EINVAL, "t.yaml:4:41: ",
                "expect.progress_within_ms: expected an integer in "
                "0..3600000, got '1.5'");
    check_error(EXPECT_AT
                "expect: {min_ok: 1, max_snapshot_bytes: "
                "1099511627777}\n",
                COMMON_EINVAL, "t.yaml:4:41: ",
                "expect.max_snapshot_bytes: 1099511627777 is out of range "
                "0..1099511627776");
    check_error(EXPECT_AT "expect: {min_ok: 1, max_snapshot_bytes: \"9\"}\n",
                COMMON_EINVAL, "t.yaml:4:41: ",
                "expect.max_snapshot_bytes: expected an integer");
    check_error(EXPECT_AT "expect: {min_ok: 1, max_log_entries: -5}\n",
                COMMON_EINVAL, "t.yaml:4:38: ",
                "expect.max_log_entries: -5 is out of range 0..1000000000");
#undef EXPECT_AT
}

/* leader, follower and followers load as members of partition groups
 * and as the ends of cuts and links, and are described by name. */
static void selectors_load_in_partitions_cuts_and_links(void **state)
{
    (void)state;
    struct scenario s;
    char buf[128];
    parse_ok(
        "nodes: 5\nduration_s: 10\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\n"
        "faults:\n"
        "  - {at: 1, partition: [[leader, follower], [followers]]}\n"
        "  - {at: 2, partition: [[3, leader], [followers, 1]]}\n"
        "  - {at: 3, partition: [[leader, 1], [follower, 2, 3]]}\n"
        "  - {at: 4, cut: {from: leader, to: followers, both_ways: "
        "true}}\n"
        "  - {at: 5, cut: {from: 2, to: follower}}\n"
        "  - {at: 6, link: {from: followers, to: leader, loss: 0.5}}\n"
        "  - {at: 7, link: {to: leader, delay_ms: 5}}\n"
        "  - {at: 8, partition: [[1, 2, 3], [4, 5]]}\n",
        &s);
    assert_int_equal(s.n_faults, 8);
    const struct scenario_fault *f = &s.faults[0];
    assert_int_equal(f->n_groups, 2);
    assert_true(f->pick[0].leader);
    assert_int_equal(f->pick[0].follower, 1);
    assert_false(f->pick[0].followers);
    assert_true(f->pick[1].followers);
    assert_false(f->pick[1].leader);
    for (unsigned k = 0; k < SCENARIO_MAX_NODES; k++) {
        assert_int_equal(f->group[k], SCENARIO_GROUP_NONE);
    }
    f = &s.faults[1];
    assert_int_equal(f->group[2], 0);
    assert_int_equal(f->group[0], 1);
    assert_int_equal(f->group[1], SCENARIO_GROUP_NONE);
    f = &s.faults[3];
    assert_int_equal(f->from_kind, SCENARIO_TARGET_LEADER);
    assert_int_equal(f->to_kind, SCENARIO_TARGET_FOLLOWERS);
    assert_int_equal(f->from, 0);
    assert_int_equal(f->to, 0);
    assert_true(f->both_ways);
    f = &s.faults[4];
    assert_int_equal(f->from_kind, 0);
    assert_int_equal(f->from, 2);
    assert_int_equal(f->to_kind, SCENARIO_TARGET_FOLLOWER);
    f = &s.faults[7];
    for (unsigned g = 0; g < f->n_groups; g++) {
        assert_false(f->pick[g].leader || f->pick[g].followers ||
                     f->pick[g].follower > 0);
    }
    static const char *const want[] = {
        "partition {leader,follower} {followers}",
        "partition {3,leader} {1,followers}",
        "partition {1,leader} {2,3,follower}",
        "cut leader<->followers",
        "cut 2->follower",
        "link followers->leader loss 0.5",
        "link *->leader delay 5 ms",
        "partition {1,2,3} {4,5}",
    };
    for (size_t i = 0; i < s.n_faults; i++) {
        scenario_fault_describe(&s.faults[i], buf, sizeof buf);
        assert_string_equal(buf, want[i]);
    }
    scenario_fini(&s);
}

/* Selectors that can never place every node once, name one node at both
 * ends, or do not apply, are refused where they are written. */
static void selector_errors_are_refused(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 1, partition: [[leader, leader], [1]]}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "faults[0].partition: 'leader' is in two places (first at "
                "line 5, column 31)");
    check_error(BASE
                "faults: [{at: 1, partition: [[leader, followers], "
                "[followers]]}]\n",
                COMMON_EINVAL, "t.yaml:5:52: ",
                "faults[0].partition: 'followers' is in two places");
    check_error(BASE "faults: [{at: 1, partition: [[followers], [1]]}]\n",
                COMMON_EINVAL, "t.yaml:5:31: ",
                "faults[0].partition: 'followers' (every node but the leader "
                "and those placed elsewhere) needs 'leader' in the partition "
                "too");
    check_error(BASE "faults: [{at: 1, partition: [[leader], [1]]}]\n",
                COMMON_EINVAL, "t.yaml:5:29: ",
                "faults[0].partition: places 2 of the 3 nodes; name them all, "
                "or put followers in a group for the rest");
    check_error(BASE "faults: [{at: 1, partition: [[leader, random], [1]]}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "faults[0].partition[0][1]: 'random' does not apply to "
                "partition; expected a node id (1..3), leader, follower or "
                "followers");
    check_error(BASE "faults: [{at: 1, partition: [[leader, 1, 2], [3]]}]\n",
                COMMON_EINVAL, "t.yaml:5:47: ",
                "faults[0].partition: names more than the 3 nodes there are");
    check_error(BASE
                "faults: [{at: 1, partition: [[leader, follower], "
                "[follower, followers]]}]\n",
                COMMON_EINVAL, "t.yaml:5:61: ",
                "faults[0].partition: 'followers' would never take a node: "
                "the rest of the partition places all 3");
    check_error(BASE
                "faults: [{at: 1, partition: [[leader], [1], [2], "
                "[followers]]}]\n",
                COMMON_EINVAL, "t.yaml:5:50: ",
                "faults[0].partition: more groups than the 3 nodes; every "
                "group needs a node");
    check_error(BASE "faults: [{at: 1, partition: [[leader, x], [1]]}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "faults[0].partition[0][1]: expected a node id (1..3), "
                "leader, follower or followers, got 'x'");
    check_error(BASE "faults: [{at: 1, cut: {from: leader, to: leader}}]\n",
                COMMON_EINVAL, "t.yaml:5:42: ",
                "faults[0].cut: from and to are both the leader; a cut link "
                "joins two different nodes");
    check_error(BASE "faults: [{at: 1, link: {from: leader, to: leader}}]\n",
                COMMON_EINVAL, "t.yaml:5:43: ",
                "faults[0].link: from and to are both the leader");
    check_error(BASE "faults: [{at: 1, link: {from: all}}]\n", COMMON_EINVAL,
                "t.yaml:5:31: ",
                "faults[0].link.from: 'all' does not apply to link; expected "
                "a node id (1..3), leader, follower or followers");
    check_error(
        BASE "faults: [{at: 1, cut: {from: random, to: 1}}]\n", COMMON_EINVAL,
        "t.yaml:5:30: ", "faults[0].cut.from: 'random' does not apply to cut");
    check_error(BASE "faults: [{at: 1, isolate: followers}]\n", COMMON_EINVAL,
                "t.yaml:5:27: ",
                "faults[0].isolate: 'followers' does not apply to isolate; "
                "expected a node id (1..3), leader, follower or random");
}

/* A link's long hold loads its fraction and range, is described with
 * them, and needs both; its fraction is a probability and its range an
 * ordered delay. */
static void link_hold_loads_and_refuses_bad_holds(void **state)
{
    (void)state;
    struct scenario s;
    char buf[128];
    parse_ok(BASE
             "faults:\n"
             "  - at: 1\n"
             "    link: {from: 1, hold: {fraction: 0.05, ms: [1000, "
             "5000]}}\n"
             "  - {at: 2, link: {delay_ms: 3, hold: {fraction: 1, ms: "
             "700}}}\n",
             &s);
    const struct scenario_fault *f = &s.faults[0];
    assert_true(f->link.hold_fraction == 0.05);
    assert_int_equal(f->link.hold_ms_min, 1000);
    assert_int_equal(f->link.hold_ms_max, 5000);
    scenario_fault_describe(f, buf, sizeof buf);
    assert_string_equal(buf, "link 1->* hold 0.05 1000-5000 ms");
    f = &s.faults[1];
    assert_int_equal(f->link.hold_ms_min, 700);
    assert_int_equal(f->link.hold_ms_max, 700);
    scenario_fault_describe(f, buf, sizeof buf);
    assert_string_equal(buf, "link *->* delay 3 ms hold 1 700-700 ms");
    scenario_fini(&s);
    check_error(BASE "faults: [{at: 1, link: {hold: {fraction: 0.1}}}]\n",
                COMMON_EINVAL, "t.yaml:5:31: ",
                "missing required field 'faults[0].link.hold.ms'");
    check_error(BASE "faults: [{at: 1, link: {hold: {ms: 5}}}]\n",
                COMMON_EINVAL, "t.yaml:5:31: ",
                "missing required field 'faults[0].link.hold.fraction'");
    check_error(BASE "faults: [{at: 1, link: {hold: {fraction: 2, ms: 5}}}]\n",
                COMMON_EINVAL, "t.yaml:5:42: ",
                "faults[0].link.hold.fraction: 2 is out of range");
    check_error(BASE
                "faults: [{at: 1, link: {hold: {fraction: 0.5, ms: "
                "[9, 1]}}}]\n",
                COMMON_EINVAL, "t.yaml:5:51: ",
                "faults[0].link.hold.ms: min 9 is greater than max 1");
    check_error(BASE
                "faults: [{at: 1, link: {hold: {fraction: 0.5, ms: "
                "60001}}}]\n",
                COMMON_EINVAL, "t.yaml:5:51: ",
                "faults[0].link.hold.ms: 60001 is out of range 0..60000");
    check_error(BASE "faults: [{at: 1, link: {hold: 0.5}}]\n", COMMON_EINVAL,
                "t.yaml:5:31: ", "faults[0].link.hold");
}

/* crash_after_vote and crash_after_ack take the targets crash takes (a
 * node id, leader, follower, random, all) and describe themselves; a bad
 * target, a node out of range or a second fault in the item is refused at
 * its line and column. */
static void crash_after_faults_load_and_refuse_bad_targets(void **state)
{
    (void)state;
    struct scenario s;
    char buf[64];
    parse_ok(BASE
             "faults:\n"
             "  - {at: 1, crash_after_vote: 2}\n"
             "  - {at: 1, crash_after_ack: follower}\n"
             "  - {at: 2, crash_after_vote: all}\n"
             "  - {at: 3, crash_after_ack: leader}\n"
             "  - {at: 4, crash_after_vote: random}\n",
             &s);
    assert_int_equal(s.n_faults, 5);
    assert_int_equal(s.faults[0].kind, SCENARIO_FAULT_CRASH_AFTER_VOTE);
    assert_int_equal(s.faults[0].target.kind, SCENARIO_TARGET_NODE);
    assert_int_equal(s.faults[0].target.id, 2);
    assert_int_equal(s.faults[1].kind, SCENARIO_FAULT_CRASH_AFTER_ACK);
    assert_int_equal(s.faults[1].target.kind, SCENARIO_TARGET_FOLLOWER);
    assert_int_equal(s.faults[2].target.kind, SCENARIO_TARGET_ALL);
    assert_int_equal(s.faults[3].target.kind, SCENARIO_TARGET_LEADER);
    assert_int_equal(s.faults[4].target.kind, SCENARIO_TARGET_RANDOM);
    scenario_fault_describe(&s.faults[0], buf, sizeof buf);
    assert_string_equal(buf, "crash_after_vote 2");
    scenario_fault_describe(&s.faults[1], buf, sizeof buf);
    assert_string_equal(buf, "crash_after_ack follower");
    scenario_fini(&s);

    check_error(
        BASE "faults: [{at: 1, crash_after_vote: 4}]\n", COMMON_EINVAL,
        "t.yaml:5:36: ", "faults[0].crash_after_vote: 4 is out of range 1..3");
    check_error(BASE "faults:\n  - {at: 1, crash_after_ack: vote}\n",
                COMMON_EINVAL, "t.yaml:6:30: ",
                "faults[0].crash_after_ack: expected a node id (1..3), "
                "leader, follower, random or all, got 'vote'");
    check_error(BASE "faults: [{at: 1, crash_after_ack: 2.5}]\n", COMMON_EINVAL,
                "t.yaml:5:35: ",
                "faults[0].crash_after_ack: expected an integer in 1..3, got "
                "'2.5'");
    check_error(BASE "faults: [{at: 1, crash_after_vote: 1, crash: 1}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "faults[0]: one fault per item, but both 'crash_after_vote' "
                "and 'crash' are given");
    check_error(BASE "faults: [{at: 10, crash_after_ack: 1}]\n", COMMON_EINVAL,
                "t.yaml:5:15: ",
                "faults[0].at: fault at 10 s is not before the end of the run");
}

/* members sets the initial voters; add-node, promote, remove-node and
 * transfer-leader load with their targets; an add-node is promoted by
 * the harness unless a later promote of the node does it; the membership
 * nemesis takes its interval and voter range, with defaults. */
static void membership_actions_load(void **state)
{
    (void)state;
    struct scenario s;
    char buf[64];
    parse_ok(
        "nodes: 5\nmembers: 3\nduration_s: 10\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\n"
        "faults:\n"
        "  - {at: 1, add-node: 4}\n"
        "  - {at: 2, add-node: 5}\n"
        "  - {at: 3, promote: 5}\n"
        "  - {at: 4, transfer-leader: 5}\n"
        "  - {at: 5, remove-node: 1}\n"
        "  - {at: 6, remove-node: leader}\n"
        "  - {at: 7, transfer-leader: follower}\n"
        "  - {at: 8, remove-node: random}\n"
        "  - {at: 9, transfer-leader: random}\n",
        &s);
    assert_int_equal(s.members, 3);
    assert_int_equal(s.n_faults, 9);
    assert_int_equal(s.faults[0].kind, SCENARIO_FAULT_ADD_NODE);
    assert_true(s.faults[0].auto_promote);
    assert_int_equal(s.faults[1].kind, SCENARIO_FAULT_ADD_NODE);
    assert_false(s.faults[1].auto_promote);
    assert_int_equal(s.faults[2].kind, SCENARIO_FAULT_PROMOTE);
    assert_int_equal(s.faults[2].target.id, 5);
    assert_int_equal(s.faults[3].kind, SCENARIO_FAULT_TRANSFER_LEADER);
    assert_int_equal(s.faults[4].kind, SCENARIO_FAULT_REMOVE_NODE);
    assert_int_equal(s.faults[5].target.kind, SCENARIO_TARGET_LEADER);
    assert_int_equal(s.faults[6].target.kind, SCENARIO_TARGET_FOLLOWER);
    assert_int_equal(s.faults[7].target.kind, SCENARIO_TARGET_RANDOM);
    assert_int_equal(s.faults[8].target.kind, SCENARIO_TARGET_RANDOM);
    assert_false(s.nemesis.membership);
    scenario_fault_describe(&s.faults[0], buf, sizeof buf);
    assert_string_equal(buf, "add-node 4");
    scenario_fault_describe(&s.faults[5], buf, sizeof buf);
    assert_string_equal(buf, "remove-node leader");
    scenario_fini(&s);

    parse_ok(BASE
             "nemesis: {interval_s: 2, faults: [crash], membership: "
             "true}\n",
             &s);
    assert_int_equal(s.members, 3);
    assert_true(s.nemesis.membership);
    assert_true(s.nemesis.membership_interval_s == 2.0);
    assert_int_equal(s.nemesis.voters_min, 3);
    assert_int_equal(s.nemesis.voters_max, 3);
    scenario_fini(&s);
    parse_ok(
        "nodes: 9\nmembers: 4\nduration_s: 10\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\n"
        "nemesis: {interval_s: 2, faults: [crash], membership: true,\n"
        "          membership_interval_s: 0.5, voters: [2, 9]}\n"
        "faults: [{at: 1, add-node: 2}]\n",
        &s);
    assert_true(s.nemesis.membership_interval_s == 0.5);
    assert_int_equal(s.nemesis.voters_min, 2);
    assert_int_equal(s.nemesis.voters_max, 9);
    /* With the membership nemesis, whether node 2 is a member is the
     * run's to say: the add is not refused. */
    assert_int_equal(s.faults[0].kind, SCENARIO_FAULT_ADD_NODE);
    scenario_fini(&s);
}

/* Membership actions that cannot be are refused at the value's line and
 * column: a node the cluster does not have, a word that does not apply,
 * adding a member, promoting what is not a learner, removing or handing
 * leadership to a node outside; and bad members and nemesis settings. */
static void membership_actions_refuse_bad_values(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 1, add-node: 7}]\n", COMMON_EINVAL,
                "t.yaml:5:28: ", "faults[0].add-node: 7 is out of range 1..3");
    check_error(
        BASE "faults: [{at: 1, transfer-leader: 0}]\n", COMMON_EINVAL,
        "t.yaml:5:35: ", "faults[0].transfer-leader: 0 is out of range 1..3");
    check_error(BASE "faults: [{at: 1, promote: leader}]\n", COMMON_EINVAL,
                "t.yaml:5:27: ",
                "faults[0].promote: 'leader' does not apply to promote; "
                "expected a node id (1..3)");
    check_error(BASE "faults: [{at: 1, remove-node: follower}]\n",
                COMMON_EINVAL, "t.yaml:5:31: ",
                "faults[0].remove-node: 'follower' does not apply to "
                "remove-node; expected a node id (1..3), leader or random");
    check_error(BASE "faults: [{at: 1, transfer-leader: leader}]\n",
                COMMON_EINVAL, "t.yaml:5:35: ",
                "'leader' does not apply to transfer-leader; expected a node "
                "id (1..3), follower or random");
    check_error(BASE "faults: [{at: 1, add-node: 2}]\n", COMMON_EINVAL,
                "t.yaml:5:28: ",
                "faults[0].add-node: node 2 is already a member at 1 s");
    check_error(BASE "faults: [{at: 1, promote: 2}]\n", COMMON_EINVAL,
                "t.yaml:5:27: ",
                "faults[0].promote: node 2 is not a learner (add it with "
                "add-node first) at 1 s");
    check_error(
        "nodes: 4\nmembers: 3\nduration_s: 10\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\n"
        "faults:\n"
        "  - {at: 1, remove-node: 2}\n"
        "  - {at: 2, remove-node: 2}\n",
        COMMON_EINVAL, "t.yaml:8:26: ",
        "faults[1].remove-node: node 2 is not a member at 2 s");
    check_error(
        "nodes: 4\nmembers: 3\nduration_s: 10\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\n"
        "faults: [{at: 1, transfer-leader: 4}]\n",
        COMMON_EINVAL, "t.yaml:6:35: ",
        "faults[0].transfer-leader: node 4 is not a member at 1 s");
    check_error(
        "nodes: 3\nmembers: 4\nduration_s: 10\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\n",
        COMMON_EINVAL, "t.yaml:2:10: ", "members: 4 is out of range 1..3");
    check_error(BASE
                "nemesis: {interval_s: 1, faults: [crash], voters: [1, "
                "3]}\n",
                COMMON_EINVAL, "t.yaml:5:43: ",
                "nemesis.voters: applies to the membership nemesis only; set "
                "membership: true");
    check_error(BASE
                "nemesis: {interval_s: 1, faults: [crash], membership: "
                "true, voters: [2, 5]}\n",
                COMMON_EINVAL,
                "t.yaml:5:", "nemesis.voters[1]: 5 is out of range 2..3");
    check_error(
        "nodes: 7\nmembers: 2\nduration_s: 10\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\n"
        "nemesis: {interval_s: 1, faults: [crash], membership: true}\n",
        COMMON_EINVAL, "t.yaml:6:10: ",
        "nemesis.voters: the 2 initial members are outside [3, 7]");
}

/* nemesis.concurrent is 1 unless given (with or without a nemesis), takes
 * 1..SCENARIO_MAX_CONCURRENT, leaves fault_s's bound at interval_s, and a
 * bad value is refused at its line and column. */
static void nemesis_concurrent_loads_and_refuses_bad_values(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(BASE, &s);
    assert_int_equal(s.nemesis.concurrent, 1);
    scenario_fini(&s);
    parse_ok(BASE "nemesis: {interval_s: 2, faults: [crash]}\n", &s);
    assert_int_equal(s.nemesis.concurrent, 1);
    assert_true(s.nemesis.fault_s == 1);
    scenario_fini(&s);
    parse_ok(BASE
             "nemesis:\n"
             "  interval_s: 1.5\n"
             "  fault_s: 1.5\n"
             "  concurrent: 3\n"
             "  faults: [partition, crash, loss]\n",
             &s);
    assert_int_equal(s.nemesis.concurrent, 3);
    assert_true(s.nemesis.fault_s == 1.5);
    assert_true(s.nemesis.interval_s == 1.5);
    scenario_fini(&s);
    parse_ok(BASE "nemesis: {interval_s: 1, concurrent: 8, faults: [pause]}\n",
             &s);
    assert_int_equal(s.nemesis.concurrent, SCENARIO_MAX_CONCURRENT);
    assert_true(s.nemesis.fault_s == 0.5);
    scenario_fini(&s);

    check_error(BASE
                "nemesis: {interval_s: 1, concurrent: 0, faults: [crash]}"
                "\n",
                COMMON_EINVAL,
                "t.yaml:5:38: ", "nemesis.concurrent: 0 is out of range 1..8");
    check_error(BASE
                "nemesis:\n  interval_s: 1\n  concurrent: 9\n"
                "  faults: [crash]\n",
                COMMON_EINVAL,
                "t.yaml:7:15: ", "nemesis.concurrent: 9 is out of range 1..8");
    check_error(BASE
                "nemesis: {interval_s: 1, concurrent: two, faults: "
                "[crash]}\n",
                COMMON_EINVAL, "t.yaml:5:38: ",
                "nemesis.concurrent: expected an integer in 1..8, got 'two'");
    check_error(BASE
                "nemesis: {interval_s: 1, concurrent: 1.5, faults: "
                "[crash]}\n",
                COMMON_EINVAL, "t.yaml:5:38: ",
                "nemesis.concurrent: expected an integer in 1..8, got '1.5'");
    check_error(BASE
                "nemesis: {interval_s: 1, concurrent: \"2\", faults: "
                "[crash]}\n",
                COMMON_EINVAL, "t.yaml:5:38: ",
                "nemesis.concurrent: expected an integer in 1..8, got the "
                "string '2'");
    /* Every burst heals before the next: fault_s stays <= interval_s. */
    check_error(BASE
                "nemesis: {interval_s: 1, fault_s: 1.5, concurrent: 2, "
                "faults: [crash]}\n",
                COMMON_EINVAL, "t.yaml:5:35: ",
                "nemesis.fault_s: 1.5 is out of range: must be > 0 and <= 1");
}

/* --swarm redraws a scenario's own nemesis, and adds one to a scenario
 * without, unless it expects a calm cluster (bounded leaderless time, a
 * no_leader or term_unchanged window): those it leaves as written. */
#define CALM_BASE           \
    "nodes: 3\n"            \
    "duration_s: 10\n"      \
    "clients: {count: 2}\n" \
    "expect:\n"             \
    "  min_ok: 1\n"
static void swarm_keeps_calm_scenarios(void **state)
{
    (void)state;
    static const struct
    {
        const char *expect; /* appended under BASE's expect */
        const char *calm;   /* what harness_swarm_calm names, or NULL */
    } cases[] = {
        {"", NULL},
        {"  max_leaderless_ms: 3000\n", "max_leaderless_ms"},
        {"  no_leader: {from_s: 1, to_s: 2}\n", "no_leader"},
        {"  term_unchanged: {from_s: 1, to_s: 2}\n", "term_unchanged"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", CALM_BASE, cases[i].expect);
        struct scenario s;
        parse_ok(text, &s);
        const char *calm = harness_swarm_calm(&s);
        if (cases[i].calm == NULL) {
            assert_null(calm);
        } else {
            assert_non_null(calm);
            assert_string_equal(calm, cases[i].calm);
        }
        harness_swarm(&s, 7);
        assert_true(s.nemesis.enabled == (cases[i].calm == NULL));
        scenario_fini(&s);
    }
    /* A nemesis of its own is redrawn whatever the expectations say. */
    struct scenario s;
    parse_ok(CALM_BASE
             "  max_leaderless_ms: 3000\n"
             "nemesis: {interval_s: 2, faults: [crash]}\n",
             &s);
    assert_null(harness_swarm_calm(&s));
    harness_swarm(&s, 7);
    assert_true(s.nemesis.enabled);
    assert_true(s.nemesis.interval_s != 2); /* drawn from 0.5..3 */
    scenario_fini(&s);
}

/* per_node gives nodes a clock rate and timing of their own; the nodes
 * it leaves out, and the fields an item leaves out, keep the scenario's
 * (0). Each node at most once, its clock rate in 0.1..10, and its
 * heartbeat below its own election timeout. */
static void per_node_timing_loads_and_refuses_bad_items(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(BASE
             "per_node:\n"
             "  - {node: 3, clock_rate: 1.5}\n"
             "  - {node: 1, election_ticks: 30, heartbeat_ticks: 29}\n",
             &s);
    assert_true(s.node[2].clock_rate == 1.5);
    assert_int_equal(s.node[2].election_ticks, 0);
    assert_int_equal(s.node[0].election_ticks, 30);
    assert_int_equal(s.node[0].heartbeat_ticks, 29);
    assert_true(s.node[0].clock_rate == 0);
    assert_true(s.node[1].clock_rate == 0);
    scenario_fini(&s);
    check_error(BASE "per_node: [{node: 2}, {node: 2}]\n", COMMON_EINVAL,
                "t.yaml:5:30: ",
                "per_node[1].node: node 2 is given twice (first at line 5, "
                "column 19)");
    check_error(BASE "per_node: [{clock_rate: 2}]\n", COMMON_EINVAL,
                "t.yaml:5:12: ", "missing required field 'per_node[0].node'");
    check_error(BASE "per_node: [{node: 4}]\n", COMMON_EINVAL,
                "t.yaml:5:19: ", "per_node[0].node: 4 is out of range 1..3");
    check_error(
        BASE "per_node: [{node: 1, clock_rate: 10.5}]\n", COMMON_EINVAL,
        "t.yaml:5:34: ", "per_node[0].clock_rate: 10.5 is out of range");
    check_error(BASE "per_node: [{node: 1, clock_rate: 0}]\n", COMMON_EINVAL,
                "t.yaml:5:34: ", "per_node[0].clock_rate: 0 is out of range");
    check_error(BASE "per_node: [{node: 1, election_ticks: 2}]\n",
                COMMON_EINVAL, "t.yaml:5:38: ",
                "per_node[0].election_ticks: 2 is not above heartbeat_ticks "
                "(2 from timing)");
    check_error(BASE "per_node: [{node: 1, heartbeat_ticks: 10}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "per_node[0].heartbeat_ticks: 10 is out of range 1..9");
    check_error(BASE "per_node: {node: 1}\n", COMMON_EINVAL,
                "t.yaml:5:11: ", "per_node: expected a sequence");
    check_error(BASE "per_node: [{node: 1, tick_ms: 3}]\n", COMMON_EINVAL,
                "t.yaml:5:22: ", "unknown field 'tick_ms' in per_node[0]");
}

/* per_node[].disk gives a node's disk faults: full after N bytes, fsync
 * EIO after N syncs or from a time, slow fsync by a latency range; the
 * nodes left out have a sound disk (zeroes). */
static void per_node_disk_faults_load(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(BASE
             "per_node:\n"
             "  - node: 1\n"
             "    disk: {full_after_bytes: 1500000}\n"
             "  - node: 2\n"
             "    disk: {fsync_eio_after: 0, fsync_eio_at_s: 6.5}\n"
             "  - {node: 3, clock_rate: 2, disk: {fsync_ms: [2, 8]}}\n",
             &s);
    const struct scenario_disk *d = &s.node[0].disk;
    assert_true(d->full && d->full_after_bytes == 1500000);
    assert_false(d->fsync_eio_after_set || d->fsync_eio_at_set);
    assert_int_equal(d->fsync_ms_max, 0);
    assert_int_equal(d->line, 7);
    assert_int_equal(d->column, 11);
    d = &s.node[1].disk;
    assert_false(d->full);
    assert_true(d->fsync_eio_after_set && d->fsync_eio_after == 0);
    assert_true(d->fsync_eio_at_set && d->fsync_eio_at_s == 6.5);
    d = &s.node[2].disk;
    assert_int_equal(d->fsync_ms_min, 2);
    assert_int_equal(d->fsync_ms_max, 8);
    assert_true(s.node[2].clock_rate == 2);
    scenario_fini(&s);
    parse_ok(BASE
             "per_node: [{node: 2, disk: {fsync_ms: 3}}]\n"
             "storage: {kind: files}\n",
             &s);
    assert_int_equal(s.node[1].disk.fsync_ms_min, 3);
    assert_int_equal(s.node[1].disk.fsync_ms_max, 3);
    assert_int_equal(s.node[0].disk.line, 0);
    scenario_fini(&s);
}

/* Bad disk faults are refused at the value at fault: an empty disk, an
 * unknown fault, numbers out of range, an EIO time at or after the end,
 * a slow disk of 0 ms, and any disk fault on a memory disk. */
static void per_node_disk_faults_refuse_bad_values(void **state)
{
    (void)state;
    check_error(BASE "per_node: [{node: 1, disk: {}}]\n", COMMON_EINVAL,
                "t.yaml:5:28: ",
                "per_node[0].disk: no fault given (expected full_after_bytes, "
                "fsync_eio_after, fsync_eio_at_s or fsync_ms)");
    check_error(BASE "per_node: [{node: 1, disk: {full: 3}}]\n", COMMON_EINVAL,
                "t.yaml:5:29: ", "unknown field 'full' in per_node[0].disk");
    check_error(BASE "per_node: [{node: 1, disk: {full_after_bytes: -1}}]\n",
                COMMON_EINVAL, "t.yaml:5:47: ",
                "per_node[0].disk.full_after_bytes: -1 is out of range "
                "0..1099511627776");
    check_error(BASE "per_node: [{node: 1, disk: {fsync_eio_after: 1.5}}]\n",
                COMMON_EINVAL,
                "t.yaml:5:46: ", "per_node[0].disk.fsync_eio_after");
    check_error(BASE "per_node: [{node: 1, disk: {fsync_eio_at_s: 10}}]\n",
                COMMON_EINVAL, "t.yaml:5:45: ",
                "per_node[0].disk.fsync_eio_at_s: 10 is out of range");
    check_error(BASE "per_node: [{node: 1, disk: {fsync_ms: [9, 2]}}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "per_node[0].disk.fsync_ms: min 9 is greater than max 2");
    check_error(BASE "per_node: [{node: 1, disk: {fsync_ms: 0}}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "per_node[0].disk.fsync_ms: a slow disk takes more than 0 ms");
    check_error(BASE "per_node: [{node: 1, disk: {fsync_ms: 60001}}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "per_node[0].disk.fsync_ms: 60001 is out of range 0..60000");
    check_error(BASE
                "per_node: [{node: 3, disk: {fsync_eio_after: 5}}]\n"
                "storage: {kind: memory}\n",
                COMMON_EINVAL, "t.yaml:5:28: ",
                "per_node: node 3 has disk faults, which need storage.kind "
                "crash-disk or files (memory is a perfect disk)");
}

/* clients.session_ttl sets the state machine's session lifetime in log
 * entries (0: never expire); not given, the kv default applies. */
static void session_ttl_loads_and_refuses_bad_values(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(BASE, &s);
    assert_false(s.clients.session_ttl_set);
    scenario_fini(&s);
    parse_ok(
        "nodes: 3\nduration_s: 10\nexpect: {min_ok: 1}\n"
        "clients: {count: 2, session_ttl: 16}\n",
        &s);
    assert_true(s.clients.session_ttl_set);
    assert_true(s.clients.session_ttl == 16);
    scenario_fini(&s);
    parse_ok(
        "nodes: 3\nduration_s: 10\nexpect: {min_ok: 1}\n"
        "clients: {count: 2, session_ttl: 0}\n",
        &s);
    assert_true(s.clients.session_ttl_set && s.clients.session_ttl == 0);
    scenario_fini(&s);
    check_error(
        "nodes: 3\nduration_s: 10\nexpect: {min_ok: 1}\n"
        "clients: {count: 2, session_ttl: 1000000000001}\n",
        COMMON_EINVAL, "t.yaml:4:34: ",
        "clients.session_ttl: 1000000000001 is out of range "
        "0..1000000000000");
    check_error(
        "nodes: 3\nduration_s: 10\nexpect: {min_ok: 1}\n"
        "clients: {count: 2, session_ttl: \"5\"}\n",
        COMMON_EINVAL, "t.yaml:4:34: ",
        "clients.session_ttl: expected an integer in "
        "0..1000000000000, got the string '5'");
}

/* A forge fault needs a receiver that is up (not `all`), a sender other
 * than the receiver, a known message type, a term and index in
 * 0..2^64-1, and a cluster of at least two nodes. */
static void forge_fault_errors_are_refused(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 1, forge: {type: vote}}]\n", COMMON_EINVAL,
                "t.yaml:5:25: ", "missing required field 'faults[0].forge.to'");
    check_error(
        BASE "faults: [{at: 1, forge: {to: 2, from: 2}}]\n", COMMON_EINVAL,
        "t.yaml:5:39: ", "faults[0].forge: from and to are both node 2");
    check_error(
        BASE "faults: [{at: 1, forge: {to: 1, from: 4}}]\n", COMMON_EINVAL,
        "t.yaml:5:39: ", "faults[0].forge.from: 4 is out of range 1..3");
    check_error(BASE "faults: [{at: 1, forge: {to: all}}]\n", COMMON_EINVAL,
                "t.yaml:5:30: ",
                "faults[0].forge.to: 'all' does not apply to forge; expected "
                "a node id (1..3), leader, follower or random");
    check_error(BASE "faults: [{at: 1, forge: {to: 1, type: snapshot}}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "faults[0].forge.type: expected heartbeat, append, vote, "
                "pre-vote, append-resp or heartbeat-resp, got 'snapshot'");
    check_error(BASE "faults: [{at: 1, forge: {to: 1, term: -1}}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "faults[0].forge.term: -1 is out of range "
                "0..18446744073709551615");
    check_error(BASE "faults: [{at: 1, forge: {to: 1, index: 1.5}}]\n",
                COMMON_EINVAL, "t.yaml:5:40: ",
                "faults[0].forge.index: expected an integer in "
                "0..18446744073709551615, got '1.5'");
    check_error(BASE "faults: [{at: 1, forge: {to: 1, frm: 2}}]\n",
                COMMON_EINVAL, "t.yaml:5:33: ",
                "unknown field 'frm' in faults[0].forge (expected to, from, "
                "type, term or index)");
    check_error(
        "nodes: 1\nduration_s: 10\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\n"
        "faults: [{at: 1, forge: {to: 1}}]\n",
        COMMON_EINVAL,
        "t.yaml:5:25: ", "faults[0].forge: needs at least 2 nodes");
}

/* ------------------------------------------------------------------------ */
/* Errors, one test per class                                                */
/* ------------------------------------------------------------------------ */

/* No document, or an empty one, is an empty scenario. */
static void empty_input_is_an_empty_scenario(void **state)
{
    (void)state;
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    check_error("", COMMON_EINVAL, "t.yaml:1:1: ", "empty scenario");
    check_error("# only a comment\n\n", COMMON_EINVAL,
                "t.yaml:1:1: ", "empty scenario");
    check_error("---\n", COMMON_EINVAL, "t.yaml:2:1: ", "empty scenario");
    assert_int_equal(scenario_parse("t.yaml", NULL, 0, &s, err, sizeof err),
                     COMMON_EINVAL);
    assert_string_equal(err, "t.yaml:1:1: empty scenario");
}

/* A document that is not a mapping is refused at its start. */
static void non_mapping_document_is_refused(void **state)
{
    (void)state;
    check_error("- nodes: 3\n", COMMON_EINVAL,
                "t.yaml:1:1: ", "a scenario is a mapping of fields");
    check_error("\n  hello\n", COMMON_EINVAL, "t.yaml:2:3: ", "got 'hello'");
}

/* A missing required field is named at its parent mapping. */
static void missing_required_field_points_at_parent(void **state)
{
    (void)state;
    check_error("# x\nduration_s: 1\nclients: {count: 1}\nexpect: {min_ok: 1}",
                COMMON_EINVAL,
                "t.yaml:2:1: ", "missing required field 'nodes'");
    check_error("nodes: 1\nclients: {count: 1}\nexpect: {min_ok: 1}",
                COMMON_EINVAL,
                "t.yaml:1:1: ", "missing required field 'duration_s'");
    check_error("nodes: 1\nduration_s: 1\nexpect: {min_ok: 1}", COMMON_EINVAL,
                "t.yaml:1:1: ", "missing required field 'clients'");
    check_error("nodes: 1\nduration_s: 1\nclients: {count: 1}", COMMON_EINVAL,
                "t.yaml:1:1: ", "missing required field 'expect'");
    check_error(
        "nodes: 1\nduration_s: 1\nexpect: {min_ok: 1}\n"
        "clients:\n  keys: 3\n",
        COMMON_EINVAL,
        "t.yaml:5:3: ", "missing required field 'clients.count'");
    check_error(
        "nodes: 1\nduration_s: 1\nclients: {count: 1}\n"
        "expect: {no_ok_on_minority: true}\n",
        COMMON_EINVAL,
        "t.yaml:4:9: ", "missing required field 'expect.min_ok'");
    check_error(BASE "nemesis:\n  faults: [crash]\n", COMMON_EINVAL,
                "t.yaml:6:3: ", "missing required field 'nemesis.interval_s'");
    check_error(BASE "nemesis: {interval_s: 1}\n", COMMON_EINVAL,
                "t.yaml:5:10: ", "missing required field 'nemesis.faults'");
    check_error(BASE "faults:\n  - crash: 1\n", COMMON_EINVAL,
                "t.yaml:6:5: ", "missing required field 'faults[0].at'");
    check_error(BASE "faults:\n  - {at: 1, cut: {to: 2}}\n", COMMON_EINVAL,
                "t.yaml:6:18: ", "missing required field 'faults[0].cut.from'");
    check_error(BASE "faults:\n  - {at: 1, cut: {from: 2}}\n", COMMON_EINVAL,
                "t.yaml:6:18: ", "missing required field 'faults[0].cut.to'");
}

/* Text that is not YAML gets libyaml's problem and position. */
static void unparsable_yaml_reports_problem_and_position(void **state)
{
    (void)state;
    check_error(BASE "faults: [1, 2\n", COMMON_EPARSE,
                "t.yaml:6:1: ", "did not find expected ',' or ']'");
    check_error("nodes: 3\n  duration_s: 10\n", COMMON_EPARSE,
                "t.yaml:2:13: ", "mapping values are not allowed");
    check_error("nodes: 3\n\tduration_s: 10\n", COMMON_EPARSE, "t.yaml:2:1: ",
                "found a tab character that violates indentation (while "
                "scanning a plain scalar at line 1, column 8)");
    check_error("nodes: \"3\n", COMMON_EPARSE,
                "t.yaml:2:1: ", "found unexpected end of stream");
    /* Bad UTF-8 and control characters: the reader's byte offset becomes a
     * line and column. */
    check_error("nodes: 3\nname: a\xff\n", COMMON_EPARSE,
                "t.yaml:2:8: ", "invalid leading UTF-8 octet");
    check_error("nodes: 3\nname: \xc3\xa9\x01\n", COMMON_EPARSE,
                "t.yaml:2:8: ", "control characters are not allowed");
    /* A NUL byte inside the given length is input, not an end. */
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    assert_int_equal(
        scenario_parse("t.yaml", "nodes: 3\0\n", 10, &s, err, sizeof err),
        COMMON_EPARSE);
    assert_non_null(strstr(err, "t.yaml:1:9: control characters"));
}

/* The storage section and timing.latency_us load, with their defaults
 * and their errors. */
static void storage_and_latency_fields(void **state)
{
    (void)state;
    struct scenario s;
    parse_ok(BASE, &s);
    assert_int_equal(s.storage.kind, SCENARIO_STORAGE_CRASH_DISK);
    assert_int_equal(s.storage.snapshot_entries, 1000);
    assert_int_equal(s.storage.snapshot_trailing, 100);
    assert_int_equal(s.storage.snapshot_bytes, 0);
    assert_false(s.storage.torn_writes);
    assert_false(s.timing.latency_set);
    scenario_fini(&s);
    parse_ok(BASE
             "storage: {kind: crash-disk, torn_writes: true, "
             "snapshot_entries: 0, snapshot_bytes: 65536, "
             "snapshot_trailing: 5}\n"
             "timing: {latency_us: [1000, 5000]}\n",
             &s);
    assert_int_equal(s.storage.kind, SCENARIO_STORAGE_CRASH_DISK);
    assert_true(s.storage.torn_writes);
    assert_int_equal(s.storage.snapshot_entries, 0);
    assert_int_equal(s.storage.snapshot_bytes, 65536);
    assert_int_equal(s.storage.snapshot_trailing, 5);
    assert_true(s.timing.latency_set);
    assert_int_equal(s.timing.latency_us_min, 1000);
    assert_int_equal(s.timing.latency_us_max, 5000);
    scenario_fini(&s);
    check_error(BASE "storage: {kind: tape}\n", COMMON_EINVAL,
                "t.yaml:5:", "storage.kind");
    check_error(BASE "storage: {kind: memory, torn_writes: true}\n",
                COMMON_EINVAL, "t.yaml:5:", "needs kind: crash-disk");
    check_error(BASE "timing: {latency_us: [9, 3]}\n", COMMON_EINVAL,
                "t.yaml:5:", "min 9 is greater than max 3");
    check_error(BASE "timing: {latency_us: [1, 2, 3]}\n", COMMON_EINVAL,
                "t.yaml:5:", "expected a delay in us");
}

/* An unknown field is named, with the fields allowed there. */
static void unknown_field_is_named_with_allowed_ones(void **state)
{
    (void)state;
    check_error(
        BASE "node: 3\n", COMMON_EINVAL, "t.yaml:5:1: ",
        "unknown field 'node' (expected name, description, nodes, "
        "members, seed, duration_s, transport, timing, clients, faults, "
        "nemesis, expect, storage or per_node)");
    check_error(BASE "timing:\n  tick: 10\n", COMMON_EINVAL, "t.yaml:6:3: ",
                "unknown field 'tick' in timing (expected tick_ms, "
                "election_ticks, heartbeat_ticks, pre_vote, check_quorum or "
                "latency_us)");
    check_error(BASE "faults: [{at: 1, crush: 2}]\n", COMMON_EINVAL,
                "t.yaml:5:18: ",
                "unknown field 'crush' in faults[0] (expected at, partition, "
                "heal, isolate, crash, restart, pause, resume, link, cut, "
                "forge, crash_after_vote, crash_after_ack, add-node, promote, "
                "remove-node or transfer-leader)");
    check_error(BASE "faults: [{at: 1, link: {lose: 0.1}}]\n", COMMON_EINVAL,
                "t.yaml:5:25: ", "unknown field 'lose' in faults[0].link");
    check_error(BASE "expect: {min_ok: 1}\n", COMMON_EINVAL,
                "t.yaml:5:1: ", "duplicate field 'expect'");
    check_error(BASE "[a]: 1\n", COMMON_EINVAL, "t.yaml:5:1: ",
                "a field name must be a string, got a sequence");
    check_error(BASE "nemesis: {interval_s: 1, faults: [crash, quake]}\n",
                COMMON_EINVAL, "t.yaml:5:42: ",
                "nemesis.faults[1]: expected partition, isolate-leader, crash, "
                "pause, loss, delay or one-way, got 'quake'");
    check_error(BASE "transport: tcp\n", COMMON_EINVAL,
                "t.yaml:5:12: ", "transport: expected mem or grpc, got 'tcp'");
}

/* A value of the wrong type names what was expected and what was found. */
static void wrong_type_is_refused(void **state)
{
    (void)state;
    check_error(BASE "seed: abc\n", COMMON_EINVAL, "t.yaml:5:7: ",
                "seed: expected an integer in 0..18446744073709551615, got "
                "'abc'");
    check_error(BASE "seed: 12abc\n", COMMON_EINVAL,
                "t.yaml:5:7: ", "got '12abc'");
    check_error(BASE "seed: 2.5\n", COMMON_EINVAL, "t.yaml:5:7: ",
                "expected an integer in 0..18446744073709551615, got '2.5'");
    check_error(BASE "seed: 1e3\n", COMMON_EINVAL, "t.yaml:5:7: ", "got '1e3'");
    check_error(BASE "seed: 0x10\n", COMMON_EINVAL,
                "t.yaml:5:7: ", "got '0x10'");
    check_error(BASE "seed: 1_000\n", COMMON_EINVAL,
                "t.yaml:5:7: ", "got '1_000'");
    check_error(BASE "seed: 010\n", COMMON_EINVAL, "t.yaml:5:7: ",
                "expected a decimal integer without leading zeros, got '010'");
    check_error(BASE "seed: \"5\"\n", COMMON_EINVAL,
                "t.yaml:5:7: ", "got the string '5'");
    check_error(BASE "seed:\n", COMMON_EINVAL, "t.yaml:5:6: ", "got nothing");
    check_error(BASE "seed: [1]\n", COMMON_EINVAL,
                "t.yaml:5:7: ", "got a sequence");
    check_error(
        BASE "timing: {pre_vote: yes}\n", COMMON_EINVAL,
        "t.yaml:5:20: ", "timing.pre_vote: expected true or false, got 'yes'");
    check_error(BASE "timing: {check_quorum: True}\n", COMMON_EINVAL,
                "t.yaml:5:24: ", "expected true or false, got 'True'");
    check_error(BASE "timing: {pre_vote: \"true\"}\n", COMMON_EINVAL,
                "t.yaml:5:20: ", "got the string 'true'");
    check_error(BASE "timing: 10\n", COMMON_EINVAL,
                "t.yaml:5:9: ", "timing: expected a mapping, got '10'");
    check_error(BASE "faults: {at: 1}\n", COMMON_EINVAL, "t.yaml:5:9: ",
                "faults: expected a sequence of faults, got a mapping");
    check_error(BASE "faults: [crash]\n", COMMON_EINVAL, "t.yaml:5:10: ",
                "faults[0]: expected a mapping like {at: 2, crash: leader}, "
                "got 'crash'");
    check_error(BASE "faults: [{at: soon, crash: 1}]\n", COMMON_EINVAL,
                "t.yaml:5:15: ", "faults[0].at: expected a number, got 'soon'");
    check_error(BASE "faults: [{at: .inf, crash: 1}]\n", COMMON_EINVAL,
                "t.yaml:5:15: ", "expected a number, got '.inf'");
    check_error(BASE "faults: [{at: 1, crash: boss}]\n", COMMON_EINVAL,
                "t.yaml:5:25: ",
                "faults[0].crash: expected a node id (1..3), leader, "
                "follower, random or all, got 'boss'");
    check_error(BASE "faults: [{at: 1, restart: leader}]\n", COMMON_EINVAL,
                "t.yaml:5:27: ",
                "faults[0].restart: 'leader' does not apply to restart; "
                "expected a node id (1..3), random or all");
    check_error(BASE "faults: [{at: 1, resume: follower}]\n", COMMON_EINVAL,
                "t.yaml:5:26: ", "'follower' does not apply to resume");
    check_error(BASE "faults: [{at: 1, isolate: all}]\n", COMMON_EINVAL,
                "t.yaml:5:27: ",
                "faults[0].isolate: 'all' does not apply to isolate; expected "
                "a node id (1..3), leader, follower or random");
    check_error(BASE "faults: [{at: 1, partition: 1}]\n", COMMON_EINVAL,
                "t.yaml:5:29: ", "expected groups of node ids");
    check_error(BASE "faults: [{at: 1, partition: [1, 2]}]\n", COMMON_EINVAL,
                "t.yaml:5:30: ",
                "faults[0].partition[0]: expected a group of node ids");
    check_error(BASE "faults: [{at: 1, link: {delay_ms: [1, 2, 3]}}]\n",
                COMMON_EINVAL, "t.yaml:5:35: ",
                "expected a delay in ms or a range [min, max], got a sequence "
                "of 3");
    check_error(BASE "faults: [{at: 1, heal: false}]\n", COMMON_EINVAL,
                "t.yaml:5:24: ", "faults[0].heal: must be true");
    check_error(BASE "name: \"\"\n", COMMON_EINVAL,
                "t.yaml:5:7: ", "name: empty");
    check_error(BASE "name: \"a\\tb\"\n", COMMON_EINVAL,
                "t.yaml:5:7: ", "name: contains a control character (\\x09)");
    check_error(BASE "description: \"a\\0b\"\n", COMMON_EINVAL,
                "t.yaml:5:14: ", "description: contains a NUL character");
}

/* Numbers out of range are refused with the range they must be in. */
static void out_of_range_numbers_say_the_range(void **state)
{
    (void)state;
    check_error(
        "nodes: 16\nduration_s: 1\nclients: {count: 1}\n"
        "expect: {min_ok: 1}\n",
        COMMON_EINVAL, "t.yaml:1:8: ", "nodes: 16 is out of range 1..15");
    check_error(
        "nodes: 0\nduration_s: 1\nclients: {count: 1}\n"
        "expect: {min_ok: 1}\n",
        COMMON_EINVAL, "t.yaml:1:8: ", "nodes: 0 is out of range 1..15");
    check_error(
        "nodes: -3\nduration_s: 1\nclients: {count: 1}\n"
        "expect: {min_ok: 1}\n",
        COMMON_EINVAL, "t.yaml:1:8: ", "nodes: -3 is out of range 1..15");
    check_error(
        "nodes: 1\nduration_s: 0\nclients: {count: 1}\n"
        "expect: {min_ok: 1}\n",
        COMMON_EINVAL, "t.yaml:2:13: ",
        "duration_s: 0 is out of range: must be > 0 and <= 3600");
    check_error(
        "nodes: 1\nduration_s: 3600.5\nclients: {count: 1}\n"
        "expect: {min_ok: 1}\n",
        COMMON_EINVAL, "t.yaml:2:13: ", "3600.5 is out of range");
    check_error(
        "nodes: 1\nduration_s: 1e999\nclients: {count: 1}\n"
        "expect: {min_ok: 1}\n",
        COMMON_EINVAL, "t.yaml:2:13: ", "1e999 is out of range");
    check_error(BASE "seed: 18446744073709551616\n", COMMON_EINVAL,
                "t.yaml:5:7: ",
                "seed: 18446744073709551616 is out of range "
                "0..18446744073709551615");
    check_error(BASE "seed: -1\n", COMMON_EINVAL,
                "t.yaml:5:7: ", "seed: -1 is out of range");
    check_error(BASE "timing: {tick_ms: 0}\n", COMMON_EINVAL,
                "t.yaml:5:19: ", "timing.tick_ms: 0 is out of range 1..1000");
    check_error(BASE "timing: {election_ticks: 1001}\n", COMMON_EINVAL,
                "t.yaml:5:26: ", "1001 is out of range 2..1000");
    check_error(
        BASE "timing: {election_ticks: 5, heartbeat_ticks: 5}\n", COMMON_EINVAL,
        "t.yaml:5:46: ", "timing.heartbeat_ticks: 5 is out of range 1..4");
    check_error(BASE "timing: {election_ticks: 2}\n", COMMON_EINVAL,
                "t.yaml:5:26: ",
                "timing.election_ticks: 2 is not above heartbeat_ticks");
    check_error(
        "nodes: 1\nduration_s: 1\nclients: {count: 1025}\n"
        "expect: {min_ok: 1}\n",
        COMMON_EINVAL,
        "t.yaml:3:18: ", "clients.count: 1025 is out of range 1..1024");
    check_error(BASE "clients: {count: 1, keys: 0}\n", COMMON_EINVAL,
                "t.yaml:5:1: ", "duplicate field 'clients'");
    check_error(
        "nodes: 1\nduration_s: 1\nexpect: {min_ok: 1}\n"
        "clients: {count: 1, value_size: 65537}\n",
        COMMON_EINVAL,
        "t.yaml:4:33: ", "clients.value_size: 65537 is out of range 1..65536");
    check_error(
        "nodes: 1\nduration_s: 1\nexpect: {min_ok: 1}\n"
        "clients: {count: 1, think_ms: 60001}\n",
        COMMON_EINVAL, "t.yaml:4:31: ", "0..60000");
    check_error(
        "nodes: 1\nduration_s: 1\nexpect: {min_ok: 1}\n"
        "clients: {count: 1, mix: {get: 1000001}}\n",
        COMMON_EINVAL,
        "t.yaml:4:32: ", "clients.mix.get: 1000001 is out of range 0..1000000");
    check_error(
        "nodes: 1\nduration_s: 1\nexpect: {min_ok: 1}\n"
        "clients: {count: 1, mix: {get: 0, put: 0}}\n",
        COMMON_EINVAL, "t.yaml:4:26: ", "clients.mix: every weight is 0");
    check_error(
        "nodes: 1\nduration_s: 1\nclients: {count: 1}\n"
        "expect: {min_ok: 1, max_leaderless_ms: 3600001}\n",
        COMMON_EINVAL, "t.yaml:4:40: ",
        "expect.max_leaderless_ms: 3600001 is out of range "
        "0..3600000");
    check_error(
        BASE "faults: [{at: -1, crash: 1}]\n", COMMON_EINVAL,
        "t.yaml:5:15: ", "faults[0].at: -1 is out of range: must be >= 0");
    check_error(BASE "nemesis: {interval_s: 0, faults: [crash]}\n",
                COMMON_EINVAL, "t.yaml:5:23: ",
                "nemesis.interval_s: 0 is out of range: must be > 0 and <= "
                "3600");
    check_error(BASE "nemesis: {interval_s: 2, fault_s: 3, faults: [crash]}\n",
                COMMON_EINVAL, "t.yaml:5:35: ",
                "nemesis.fault_s: 3 is out of range: must be > 0 and <= 2");
    check_error(BASE "nemesis: {interval_s: 2, start_s: 10, faults: [crash]}\n",
                COMMON_EINVAL, "t.yaml:5:35: ",
                "nemesis.start_s: 10 is out of range: must be >= 0 and < 10");
    check_error(
        "nodes: 3\nduration_s: 0.5\nclients: {count: 2}\n"
        "expect: {min_ok: 1}\nnemesis: {interval_s: 0.2, faults: "
        "[crash]}\n",
        COMMON_EINVAL, "t.yaml:5:10: ",
        "nemesis.start_s: 1 s by default, which is not before the end");
    check_error(BASE "faults: [{at: 1, link: {delay_ms: 60001}}]\n",
                COMMON_EINVAL, "t.yaml:5:35: ",
                "faults[0].link.delay_ms: 60001 is out of range 0..60000");
}

/* Node ids outside 1..nodes are refused wherever a node is named. */
static void node_ids_outside_the_cluster_are_refused(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 1, crash: 4}]\n", COMMON_EINVAL,
                "t.yaml:5:25: ", "faults[0].crash: 4 is out of range 1..3");
    check_error(BASE "faults: [{at: 1, isolate: 0}]\n", COMMON_EINVAL,
                "t.yaml:5:27: ", "faults[0].isolate: 0 is out of range 1..3");
    check_error(BASE "faults: [{at: 1, link: {from: 0}}]\n", COMMON_EINVAL,
                "t.yaml:5:31: ", "faults[0].link.from: 0 is out of range");
    check_error(BASE "faults: [{at: 1, cut: {from: 1, to: 9}}]\n",
                COMMON_EINVAL,
                "t.yaml:5:37: ", "faults[0].cut.to: 9 is out of range 1..3");
    check_error(
        BASE "faults: [{at: 1, partition: [[1, 2], [3, 4]]}]\n", COMMON_EINVAL,
        "t.yaml:5:42: ", "faults[0].partition[1][1]: 4 is out of range 1..3");
    check_error(BASE "faults: [{at: 1, cut: {from: 2, to: 2}}]\n",
                COMMON_EINVAL,
                "t.yaml:5:37: ", "faults[0].cut: from and to are both node 2");
    check_error(BASE "faults: [{at: 1, link: {to: 3, from: 3}}]\n",
                COMMON_EINVAL,
                "t.yaml:5:29: ", "faults[0].link: from and to are both node 3");
    /* A one-node cluster has nothing to cut apart. */
    check_error(
        "nodes: 1\nduration_s: 5\nclients: {count: 1}\n"
        "expect: {min_ok: 1}\n"
        "nemesis: {interval_s: 1, faults: [crash, one-way]}\n",
        COMMON_EINVAL,
        "t.yaml:5:42: ", "nemesis.faults[1]: 'one-way' needs at least 2 nodes");
}

/* Faults must be in time order; equal times are fine. */
static void faults_out_of_time_order_are_refused(void **state)
{
    (void)state;
    struct scenario s;
    check_error(BASE
                "faults:\n  - {at: 5, crash: 1}\n  - {at: 3, restart: 1}\n",
                COMMON_EINVAL, "t.yaml:7:10: ",
                "faults[1].at: fault at 3 s comes after one at 5 s (line 6)");
    parse_ok(BASE "faults:\n  - {at: 5, crash: 1}\n  - {at: 5, crash: 2}\n",
             &s);
    assert_int_equal(s.n_faults, 2);
    scenario_fini(&s);
}

/* A fault at or after the end of the run is refused. */
static void fault_at_or_after_the_end_is_refused(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 10, crash: 1}]\n", COMMON_EINVAL,
                "t.yaml:5:15: ",
                "faults[0].at: fault at 10 s is not before the end of the run "
                "(duration_s is 10)");
    check_error(BASE "faults: [{at: 25.5, heal: true}]\n", COMMON_EINVAL,
                "t.yaml:5:15: ", "fault at 25.5 s is not before the end");
}

/* A key given twice in one mapping is refused at the second one. */
static void duplicate_keys_are_refused(void **state)
{
    (void)state;
    check_error(
        "nodes: 3\nduration_s: 10\nnodes: 4\n", COMMON_EINVAL,
        "t.yaml:3:1: ", "duplicate field 'nodes' (first at line 1, column 1)");
    check_error(BASE "timing:\n  tick_ms: 10\n  tick_ms: 20\n", COMMON_EINVAL,
                "t.yaml:7:3: ",
                "duplicate field 'tick_ms' in timing (first at line 6, "
                "column 3)");
    check_error(BASE "faults: [{at: 1, at: 2, crash: 1}]\n", COMMON_EINVAL,
                "t.yaml:5:18: ", "duplicate field 'at' in faults[0]");
    check_error(BASE
                "nemesis: {interval_s: 1, faults: [crash, pause, crash]}\n",
                COMMON_EINVAL,
                "t.yaml:5:49: ", "nemesis.faults[2]: 'crash' is listed twice");
}

/* A fault item holds exactly one fault besides its time. */
static void fault_item_needs_exactly_one_fault(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 1, crash: 1, restart: 2}]\n", COMMON_EINVAL,
                "t.yaml:5:28: ",
                "faults[0]: one fault per item, but both 'crash' and "
                "'restart' are given");
    check_error(BASE "faults: [{restart: 2, at: 1, crash: 1}]\n", COMMON_EINVAL,
                "t.yaml:5:30: ", "both 'restart' and 'crash' are given");
    check_error(BASE "faults:\n  - at: 1\n", COMMON_EINVAL, "t.yaml:6:5: ",
                "faults[0]: no fault given (expected one of partition, heal, "
                "isolate, crash, restart, pause, resume, link, cut, forge, "
                "crash_after_vote, crash_after_ack, add-node, promote, "
                "remove-node or transfer-leader)");
}

/* A partition names every node exactly once, in two groups or more. */
static void partition_must_cover_every_node_once(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 1, partition: [[1, 2], [2, 3]]}]\n",
                COMMON_EINVAL, "t.yaml:5:39: ",
                "faults[0].partition: node 2 is in two groups (first at line "
                "5, column 34)");
    check_error(BASE "faults: [{at: 1, partition: [[1], [2]]}]\n",
                COMMON_EINVAL,
                "t.yaml:5:29: ", "faults[0].partition: node 3 is in no group");
    check_error(
        BASE "faults: [{at: 1, partition: [[1, 2, 3]]}]\n", COMMON_EINVAL,
        "t.yaml:5:29: ", "faults[0].partition: needs at least 2 groups, got 1");
    check_error(BASE "faults: [{at: 1, partition: [[1, 2], [], [3]]}]\n",
                COMMON_EINVAL,
                "t.yaml:5:38: ", "faults[0].partition[1]: empty group");
    check_error(BASE "faults: [{at: 1, partition: [[1, leader], [2, 3]]}]\n",
                COMMON_EINVAL, "t.yaml:5:47: ",
                "faults[0].partition: names more than the 3 nodes there are");
    check_error(BASE "faults: [{at: 1, partition: [[1, \"2\"], [3]]}]\n",
                COMMON_EINVAL, "t.yaml:5:34: ",
                "faults[0].partition[0][1]: expected a node id (1..3), "
                "leader, follower or followers, got the string '2'");
}

/* A delay range with min above max is refused. */
static void delay_min_above_max_is_refused(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 1, link: {delay_ms: [20, 5]}}]\n",
                COMMON_EINVAL, "t.yaml:5:35: ",
                "faults[0].link.delay_ms: min 20 is greater than max 5");
    check_error(BASE
                "nemesis: {interval_s: 1, faults: [delay], delay_ms: "
                "[50, 5]}\n",
                COMMON_EINVAL, "t.yaml:5:53: ",
                "nemesis.delay_ms: min 50 is greater than max 5");
    check_error(BASE "faults: [{at: 1, link: {delay_ms: [-1, 5]}}]\n",
                COMMON_EINVAL, "t.yaml:5:36: ",
                "faults[0].link.delay_ms[0]: -1 is out of range 0..60000");
}

/* Probabilities must lie in [0, 1]. */
static void probabilities_outside_unit_interval_are_refused(void **state)
{
    (void)state;
    check_error(BASE "faults: [{at: 1, link: {loss: 1.5}}]\n", COMMON_EINVAL,
                "t.yaml:5:31: ",
                "faults[0].link.loss: 1.5 is out of range: must be >= 0 and "
                "<= 1");
    check_error(
        BASE "faults: [{at: 1, link: {duplicate: -0.1}}]\n", COMMON_EINVAL,
        "t.yaml:5:36: ", "faults[0].link.duplicate: -0.1 is out of range");
    check_error(BASE "faults: [{at: 1, link: {reorder: 2}}]\n", COMMON_EINVAL,
                "t.yaml:5:34: ", "faults[0].link.reorder: 2 is out of range");
    check_error(BASE "nemesis: {interval_s: 1, faults: [loss], loss: 1.01}\n",
                COMMON_EINVAL,
                "t.yaml:5:48: ", "nemesis.loss: 1.01 is out of range");
}

/* Anchors, aliases and tags are refused where they are written. */
static void anchors_aliases_and_tags_are_refused(void **state)
{
    (void)state;
    check_error(BASE "timing: &t {tick_ms: 10}\n", COMMON_EINVAL,
                "t.yaml:5:9: ", "anchors (&t) are not supported");
    check_error(BASE
                "faults:\n  - {at: 1, link: &l {loss: 0.1}}\n"
                "  - {at: 2, link: *l}\n",
                COMMON_EINVAL,
                "t.yaml:6:19: ", "anchors (&l) are not supported");
    check_error("a: *x\n", COMMON_EINVAL,
                "t.yaml:1:4: ", "aliases (*x) are not supported");
    check_error(BASE "seed: !!int 5\n", COMMON_EINVAL, "t.yaml:5:7: ",
                "tags (tag:yaml.org,2002:int) are not supported");
    check_error(BASE "timing: !custom {}\n", COMMON_EINVAL,
                "t.yaml:5:9: ", "tags (!custom) are not supported");
}

/* A stream with a second document is refused at its start. */
static void second_document_is_refused(void **state)
{
    (void)state;
    check_error(BASE "---\nnodes: 5\n", COMMON_EINVAL,
                "t.yaml:5:1: ", "a second YAML document");
}

/* Nesting deeper than the reader's bound is refused, not recursed into. */
static void deep_nesting_is_refused(void **state)
{
    (void)state;
    char text[4096];
    size_t n = 0;
    n += (size_t)snprintf(text, sizeof text, BASE "x: ");
    for (int i = 0; i < 1000; i++) {
        text[n++] = '[';
    }
    text[n] = '\0';
    check_error(text, COMMON_EINVAL, "t.yaml:5:", "nested deeper than");
}

/* Input beyond SCENARIO_MAX_BYTES is refused before it is parsed. */
static void oversized_input_is_refused(void **state)
{
    (void)state;
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    size_t len = SCENARIO_MAX_BYTES + 1;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, '#', len);
    assert_int_equal(scenario_parse("big.yaml", text, len, &s, err, sizeof err),
                     COMMON_EINVAL);
    assert_non_null(strstr(err, "big.yaml:1:1: 1048577 bytes is too large"));
    assert_true(is_zeroed(&s));
    /* Exactly at the cap, the content decides. */
    assert_int_equal(
        scenario_parse("big.yaml", text, len - 1, &s, err, sizeof err),
        COMMON_EINVAL);
    assert_string_equal(err, "big.yaml:1:1: empty scenario");
    free(text);
}

/* More than SCENARIO_MAX_FAULTS faults are refused at the first extra. */
static void too_many_faults_are_refused(void **state)
{
    (void)state;
    struct common_vec v;
    struct scenario s;
    common_vec_init(&v);
    assert_int_equal(common_vec_appendf(&v, "%s", BASE "faults:\n"), 0);
    for (int i = 0; i < SCENARIO_MAX_FAULTS; i++) {
        assert_int_equal(common_vec_appendf(&v, "  - {at: 1, crash: 1}\n"), 0);
    }
    parse_ok((const char *)v.data, &s);
    assert_int_equal(s.n_faults, SCENARIO_MAX_FAULTS);
    scenario_fini(&s);
    assert_int_equal(common_vec_appendf(&v, "  - {at: 1, crash: 2}\n"), 0);
    check_error((const char *)v.data, COMMON_EINVAL,
                "t.yaml:1030:5: ", "faults: more than 1024 faults");
    common_vec_fini(&v);
}

/* Long or odd scalars are quoted short and escaped in messages. */
static void messages_quote_scalars_short_and_escaped(void **state)
{
    (void)state;
    check_error(BASE
                "transport: "
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz\n",
                COMMON_EINVAL, "t.yaml:5:12: ",
                "got 'abcdefghijklmnopqrstuvwxyzabcdefghijklmn...'");
    check_error(BASE "transport: \"a\\nb'c\\\\\"\n", COMMON_EINVAL,
                "t.yaml:5:12: ", "got the string 'a\\nb\\'c\\\\'");
    /* Cut on a character boundary: 39 ASCII bytes, then a 2-byte one. */
    check_error(BASE
                "transport: "
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9zz\n",
                COMMON_EINVAL, "t.yaml:5:12: ",
                "got 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9...'");
    check_error(BASE
                "name: "
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxx\n",
                COMMON_EINVAL, "t.yaml:5:7: ", "name: longer than 127 bytes");
}

/* A small error buffer gets a cut, terminated message; none is fine. */
static void small_or_missing_error_buffer_is_safe(void **state)
{
    (void)state;
    struct scenario s;
    char err[12];
    memset(err, 'x', sizeof err);
    assert_int_equal(
        scenario_parse("t.yaml", BASE "seed: x\n", strlen(BASE "seed: x\n"), &s,
                       err, sizeof err),
        COMMON_EINVAL);
    assert_string_equal(err, "t.yaml:5:7:");
    assert_int_equal(scenario_parse("t.yaml", "[", 1, &s, NULL, 0),
                     COMMON_EPARSE);
    assert_int_equal(scenario_parse("t.yaml", "", 0, &s, err, 0),
                     COMMON_EINVAL);
    assert_int_equal(scenario_load("/nonexistent/x.yaml", &s, NULL, 0),
                     COMMON_EIO);
    char path[600];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    assert_int_equal(scenario_parse(path, BASE, strlen(BASE), &s, NULL, 0),
                     COMMON_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/* A file that cannot be opened is named with the system's reason. */
static void load_reports_a_missing_file(void **state)
{
    (void)state;
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    assert_int_equal(
        scenario_load("/nonexistent/missing.yaml", &s, err, sizeof err),
        COMMON_EIO);
    assert_string_equal(err,
                        "/nonexistent/missing.yaml: cannot open: No such "
                        "file or directory");
    assert_true(is_zeroed(&s));
    assert_int_equal(scenario_load("/", &s, err, sizeof err), COMMON_EIO);
    assert_string_equal(err, "/: cannot read: Is a directory");
}

/* Writes @len bytes of @text to a new temporary file named in @path. */
static void write_temp(char *path, size_t size, const char *text, size_t len)
{
    snprintf(path, size, "/tmp/harness_scenario_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A file loads like the same text parsed, and is capped in size too. */
static void load_reads_files_and_caps_their_size(void **state)
{
    (void)state;
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    char path[64];

    write_temp(path, sizeof path, full_text, strlen(full_text));
    assert_int_equal(scenario_load(path, &s, err, sizeof err), 0);
    assert_string_equal(s.path, path);
    assert_string_equal(s.name, "full-test");
    assert_int_equal(s.n_faults, 12);
    scenario_fini(&s);
    unlink(path);

    write_temp(path, sizeof path, "nodes: [\n", 9);
    assert_int_equal(scenario_load(path, &s, err, sizeof err), COMMON_EPARSE);
    assert_int_equal(strncmp(err, path, strlen(path)), 0);
    assert_non_null(strstr(err, ":2:1: "));
    unlink(path);

    size_t len = 3 * SCENARIO_MAX_BYTES;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '\n', len);
    write_temp(path, sizeof path, big, len);
    free(big);
    assert_int_equal(scenario_load(path, &s, err, sizeof err), COMMON_EINVAL);
    assert_non_null(strstr(err, ":1:1: 1048577 bytes is too large"));
    unlink(path);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every shipped scenarios/NAME.yaml loads, and the expected ones are there. */
static void shipped_scenarios_all_load(void **state)
{
    (void)state;
    static const char *const expected[] = {
        "backup.yaml",          "flaky-network.yaml", "leader-crash-5.yaml",
        "leader-crash.yaml",    "nemesis-mixed.yaml", "partition-7.yaml",
        "partition-churn.yaml", "partition.yaml",     "re-election.yaml",
        "snapshot-size.yaml",
    };
    char *names[256];
    size_t n = 0;
    DIR *dir = opendir(SCENARIOS_DIR);
    assert_non_null(dir);
    for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir)) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) {
            assert_true(n < sizeof names / sizeof names[0]);
            names[n] = malloc(len + 1);
            assert_non_null(names[n]);
            memcpy(names[n], e->d_name, len + 1);
            n++;
        }
    }
    closedir(dir);
    qsort(names, n, sizeof names[0], compare_names);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const char *key = expected[i];
        if (bsearch(&key, names, n, sizeof names[0], compare_names) == NULL) {
            fail_msg("scenarios/%s is missing", expected[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        char err[SCENARIO_ERROR_MAX];
        struct scenario s;
        snprintf(path, sizeof path, "%s/%s", SCENARIOS_DIR, names[i]);
        if (scenario_load(path, &s, err, sizeof err) != 0) {
            fail_msg("%s", err);
        }
        /* Realistic runs: short, with a workload and a floor of successes. */
        assert_true(s.duration_s > 0 && s.duration_s <= 30);
        assert_true(s.expect.min_ok > 0);
        assert_true(s.n_faults > 0 || s.nemesis.enabled);
        assert_non_null(s.description);
        scenario_fini(&s);
        free(names[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* Out of memory                                                             */
/* ------------------------------------------------------------------------ */

/* Failing each allocation in turn fails the load cleanly (no leak, no
 * crash, "out of memory"), until there are no allocations left to fail. */
static void out_of_memory_fails_cleanly_at_every_allocation(void **state)
{
    (void)state;
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    char path[64];
    long k;

    write_temp(path, sizeof path, full_text, strlen(full_text));
    for (int use_file = 0; use_file < 2; use_file++) {
        for (k = 0; k < 100000; k++) {
            alloc_count = 0;
            alloc_fail_at = k;
            int rc = use_file ? scenario_load(path, &s, err, sizeof err)
                              : parse_named("t.yaml", full_text, &s, err);
            bool failed = alloc_count > k;
            alloc_fail_at = -1;
            if (!failed) {
                assert_int_equal(rc, 0);
                assert_int_equal(s.n_faults, 12);
                scenario_fini(&s);
                break;
            }
            if (rc != COMMON_ENOMEM || strstr(err, "out of memory") == NULL) {
                fail_msg("allocation %ld failed: got %d \"%s\"", k, rc, err);
            }
            assert_true(is_zeroed(&s));
        }
        /* Every node and scalar allocates: there were many to fail. */
        assert_true(k > 100);
    }
    unlink(path);
}

/* ------------------------------------------------------------------------ */
/* Fuzzing                                                                   */
/* ------------------------------------------------------------------------ */

#define FUZZ_TRIALS 60000

static uint64_t fuzz_first_seed = 1;
static uint64_t fuzz_trials = FUZZ_TRIALS;
static volatile uint64_t fuzz_current_seed;

/* On a crash (ASan aborts), name the trial's seed, then let the signal go
 * on to its default action. Only async-signal-safe calls here. */
static void fuzz_on_signal(int sig)
{
    char buf[96] =
        "harness_scenario: fuzz trial crashed; replay with "
        "SCENARIO_FUZZ_SEED=";
    char digits[24];
    size_t n = 0;
    uint64_t v = fuzz_current_seed;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    size_t len = strlen(buf);
    while (n > 0 && len + 2 < sizeof buf) {
        buf[len++] = digits[--n];
    }
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Tokens that steer mutations into YAML's and the format's corners. */
static const char *const fuzz_tokens[] = {
    "\n",
    " ",
    "  ",
    ":",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "!!",
    "? ",
    "---\n",
    "...\n",
    "|\n  ",
    "0",
    "-1",
    "1.5",
    "1e999",
    "99999999999999999999",
    "true",
    "~",
    "null",
    "at",
    "nodes",
    "leader",
    "partition",
    "heal: true",
    "\t",
    "\\",
    "\0",
    "\xff",
    "\xc3\xa9",
    "link: {loss: 0.5}",
    "forge: {to: 1}",
    "crash: 1",
    "followers",
    "[[leader, follower], [followers]]",
    "cut: {from: leader, to: followers}",
    "no_leader: {from_s: 1, to_s: 2}",
    "term_unchanged: [{from_s: 0, to_s: 9}]",
    "progress_within_ms: 500",
    "max_log_entries: 5",
    "[[1, 2], [3]]",
    "delay_ms: [5, 1]",
    "%YAML 1.1\n",
};

static void fuzz_append_random(struct common_prng *p,
                               struct common_vec *v,
                               size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b;
        if (common_prng_chance(p, 0.5)) {
            static const char yamlish[] = "abcnod:-[]{},#&*!|>'\"\n 0123-.e";
            b = (uint8_t)yamlish[common_prng_below(p, sizeof yamlish - 1)];
        } else {
            b = (uint8_t)common_prng_below(p, 256);
        }
        assert_int_equal(common_vec_append(v, &b, 1), 0);
    }
}

/* Values that keep YAML well formed but probe the format's checks. */
static const char *const fuzz_values[] = {
    "0",
    "1",
    "2",
    "3",
    "5",
    "15",
    "16",
    "-1",
    "0.5",
    "1.5",
    "2.5",
    "1e3",
    ".5",
    "abc",
    "true",
    "false",
    "leader",
    "follower",
    "random",
    "all",
    "followers",
    "[leader, followers]",
    "{from_s: 1, to_s: 3}",
    "[{from_s: 2, to_s: 1}]",
    "[1, 2]",
    "[[1], [2, 3]]",
    "{}",
    "\"x\"",
    "",
    "99999999999999999999",
    "[5, 1]",
    "[partition]",
    "crash",
    "[]",
    "{at: 1, heal: true}",
    "~",
    "3600",
};

/* The end of the scalar value that starts at @at: the next newline, comma
 * or closing bracket. */
static size_t fuzz_value_end(const struct common_vec *v, size_t at)
{
    while (at < v->len && strchr("\n,]}", v->data[at]) == NULL) {
        at++;
    }
    return at;
}

/* Applies one random edit to @v: replace a byte, insert bytes, delete or
 * duplicate a run, insert a token, or (most often, as it keeps the YAML
 * well formed) replace the value after a ": " or a line. */
static void fuzz_mutate(struct common_prng *p, struct common_vec *v)
{
    size_t at = v->len == 0 ? 0 : (size_t)common_prng_below(p, v->len + 1);
    struct common_vec out;
    common_vec_init(&out);
    uint64_t kind = common_prng_below(p, 9);
    if (kind >= 5 && kind <= 7) {
        /* Move to just past the next ": ", if any. */
        while (at + 1 < v->len &&
               !(v->data[at] == ':' && v->data[at + 1] == ' ')) {
            at++;
        }
        if (at + 1 < v->len) {
            at += 2;
        } else {
            kind = 4;
        }
    } else if (kind == 8) {
        while (at > 0 && v->data[at - 1] != '\n') {
            at--;
        }
    }
    assert_int_equal(common_vec_append(&out, v->data, at), 0);
    switch (kind) {
        case 0: /* replace one byte */
            fuzz_append_random(p, &out, 1);
            if (at < v->len) {
                at++;
            }
            break;
        case 1: /* insert random bytes */
            fuzz_append_random(p, &out, (size_t)common_prng_range(p, 1, 4));
            break;
        case 2: /* delete a run */
            at += (size_t)common_prng_below(p, 16);
            if (at > v->len) {
                at = v->len;
            }
            break;
        case 3: { /* duplicate a run */
            size_t n = (size_t)common_prng_below(p, 64);
            if (n > v->len - at) {
                n = v->len - at;
            }
            assert_int_equal(common_vec_append(&out, v->data + at, n), 0);
            break;
        }
        case 4: { /* insert a token ("\0" is one NUL byte) */
            size_t t = (size_t)common_prng_below(
                p, sizeof fuzz_tokens / sizeof fuzz_tokens[0]);
            size_t n = strlen(fuzz_tokens[t]);
            assert_int_equal(
                common_vec_append(&out, fuzz_tokens[t], n == 0 ? 1 : n), 0);
            break;
        }
        case 8: { /* delete or duplicate a line */
            size_t end = at;
            while (end < v->len && v->data[end] != '\n') {
                end++;
            }
            end += end < v->len ? 1 : 0;
            if (common_prng_chance(p, 0.5)) {
                assert_int_equal(
                    common_vec_append(&out, v->data + at, end - at), 0);
            } else {
                at = end;
            }
            break;
        }
        default: { /* replace a value */
            size_t t = (size_t)common_prng_below(
                p, sizeof fuzz_values / sizeof fuzz_values[0]);
            assert_int_equal(
                common_vec_append(&out, fuzz_values[t], strlen(fuzz_values[t])),
                0);
            at = fuzz_value_end(v, at);
            break;
        }
    }
    assert_int_equal(common_vec_append(&out, v->data + at, v->len - at), 0);
    common_vec_fini(v);
    *v = out;
}

/* An end of a link or cut: an id (or 0), or a selector and no id. */
static bool fuzz_end_valid(enum scenario_target_kind kind, unsigned id)
{
    return kind == 0 || ((kind == SCENARIO_TARGET_LEADER ||
                          kind == SCENARIO_TARGET_FOLLOWER ||
                          kind == SCENARIO_TARGET_FOLLOWERS) &&
                         id == 0);
}

/* Windows of a run of @duration_s: 0 <= from < to <= duration_s. */
static bool fuzz_windows_valid(const struct scenario_window *w,
                               unsigned n,
                               double duration_s)
{
    if (n > SCENARIO_MAX_WINDOWS) {
        return false;
    }
    for (unsigned k = 0; k < n; k++) {
        if (!(w[k].from_s >= 0 && w[k].from_s < w[k].to_s &&
              w[k].to_s <= duration_s)) {
            return false;
        }
    }
    return true;
}

/* Why an accepted scenario breaks the documented invariants, or NULL. */
static const char *fuzz_invalid(const struct scenario *s)
{
    if (s->nodes < 1 || s->nodes > SCENARIO_MAX_NODES) {
        return "nodes out of range";
    }
    if (!(s->duration_s > 0 && s->duration_s <= 3600)) {
        return "duration_s out of range";
    }
    if (memchr(s->name, '\0', sizeof s->name) == NULL || s->name[0] == '\0') {
        return "bad name";
    }
    if (s->timing.tick_ms < 1 || s->timing.tick_ms > 1000 ||
        s->timing.election_ticks < 2 || s->timing.election_ticks > 1000 ||
        s->timing.heartbeat_ticks < 1 ||
        s->timing.heartbeat_ticks >= s->timing.election_ticks) {
        return "timing out of range";
    }
    if (s->clients.count < 1 || s->clients.count > 1024 ||
        s->clients.keys < 1 || s->clients.keys > 1000000 ||
        s->clients.value_size < 1 || s->clients.value_size > 65536 ||
        s->clients.timeout_ms < 1 || s->clients.timeout_ms > 600000 ||
        s->clients.think_ms > 60000) {
        return "clients out of range";
    }
    const struct scenario_mix *m = &s->clients.mix;
    if ((uint64_t)m->get + m->put + m->cas + m->append + m->del == 0) {
        return "mix all zero";
    }
    if (s->n_faults > SCENARIO_MAX_FAULTS ||
        (s->n_faults > 0) != (s->faults != NULL)) {
        return "fault count";
    }
    for (size_t i = 0; i < s->n_faults; i++) {
        const struct scenario_fault *f = &s->faults[i];
        if (!(f->at_s >= 0 && f->at_s < s->duration_s) ||
            (i > 0 && f->at_s < f[-1].at_s) || f->line == 0) {
            return "fault time";
        }
        char buf[256];
        scenario_fault_describe(f, buf, sizeof buf);
        scenario_fault_describe(f, buf, 5);
        switch (f->kind) {
            case SCENARIO_FAULT_PARTITION: {
                /* Members by group: ids, then selectors. */
                unsigned size[SCENARIO_MAX_NODES] = {0};
                unsigned members = 0;
                unsigned leaders = 0;
                unsigned rests = 0;
                if (f->n_groups < 2 || f->n_groups > s->nodes) {
                    return "partition group count";
                }
                for (unsigned g = 0; g < f->n_groups; g++) {
                    leaders += f->pick[g].leader;
                    rests += f->pick[g].followers;
                    members += f->pick[g].leader + f->pick[g].follower;
                    size[g] += f->pick[g].leader + f->pick[g].followers +
                               f->pick[g].follower;
                }
                for (unsigned g = f->n_groups; g < SCENARIO_MAX_NODES; g++) {
                    if (f->pick[g].leader || f->pick[g].followers ||
                        f->pick[g].follower != 0) {
                        return "partition selector beyond groups";
                    }
                }
                for (unsigned k = 0; k < SCENARIO_MAX_NODES; k++) {
                    if (k >= s->nodes || f->group[k] == SCENARIO_GROUP_NONE) {
                        if (k >= s->nodes &&
                            f->group[k] != SCENARIO_GROUP_NONE) {
                            return "partition beyond nodes";
                        }
                    } else if (f->group[k] >= f->n_groups) {
                        return "partition group";
                    } else {
                        size[f->group[k]]++;
                        members++;
                    }
                }
                for (unsigned g = 0; g < f->n_groups; g++) {
                    if (size[g] == 0) {
                        return "empty partition group";
                    }
                }
                if (leaders > 1 || rests > 1 || (rests == 1 && leaders == 0) ||
                    members > s->nodes || (rests == 0 && members != s->nodes) ||
                    (rests == 1 && members == s->nodes)) {
                    return "partition selectors";
                }
                break;
            }
            case SCENARIO_FAULT_ISOLATE:
            case SCENARIO_FAULT_CRASH:
            case SCENARIO_FAULT_RESTART:
            case SCENARIO_FAULT_PAUSE:
            case SCENARIO_FAULT_RESUME:
            case SCENARIO_FAULT_CRASH_AFTER_VOTE:
            case SCENARIO_FAULT_CRASH_AFTER_ACK: {
                const struct scenario_target *t = &f->target;
                bool down = f->kind == SCENARIO_FAULT_RESTART ||
                            f->kind == SCENARIO_FAULT_RESUME;
                if (t->kind == SCENARIO_TARGET_NODE
                        ? (t->id < 1 || t->id > s->nodes)
                        : (t->kind == SCENARIO_TARGET_ALL
                               ? f->kind == SCENARIO_FAULT_ISOLATE
                           : t->kind == SCENARIO_TARGET_RANDOM
                               ? false
                               : (down ||
                                  (t->kind != SCENARIO_TARGET_LEADER &&
                                   t->kind != SCENARIO_TARGET_FOLLOWER)))) {
                    return "target";
                }
                break;
            }
            case SCENARIO_FAULT_LINK:
                if (f->from > s->nodes || f->to > s->nodes ||
                    !fuzz_end_valid(f->from_kind, f->from) ||
                    !fuzz_end_valid(f->to_kind, f->to) ||
                    (f->from_kind == SCENARIO_TARGET_LEADER &&
                     f->to_kind == SCENARIO_TARGET_LEADER) ||
                    (f->from_kind == 0 && f->to_kind == 0 && f->from != 0 &&
                     f->from == f->to) ||
                    !(f->link.loss >= 0 && f->link.loss <= 1) ||
                    !(f->link.duplicate >= 0 && f->link.duplicate <= 1) ||
                    !(f->link.reorder >= 0 && f->link.reorder <= 1) ||
                    f->link.delay_ms_min > f->link.delay_ms_max) {
                    return "link";
                }
                break;
            case SCENARIO_FAULT_CUT:
                if (f->from > s->nodes || f->to > s->nodes ||
                    !fuzz_end_valid(f->from_kind, f->from) ||
                    !fuzz_end_valid(f->to_kind, f->to) ||
                    (f->from_kind == 0 && f->from == 0) ||
                    (f->to_kind == 0 && f->to == 0) ||
                    (f->from_kind == SCENARIO_TARGET_LEADER &&
                     f->to_kind == SCENARIO_TARGET_LEADER) ||
                    (f->from_kind == 0 && f->to_kind == 0 &&
                     f->from == f->to)) {
                    return "cut";
                }
                break;
            case SCENARIO_FAULT_FORGE: {
                const struct scenario_target *t = &f->target;
                if (s->nodes < 2 || f->from > s->nodes ||
                    (unsigned)f->forge_type > SCENARIO_FORGE_HEARTBEAT_RESP ||
                    (t->kind == SCENARIO_TARGET_NODE
                         ? t->id < 1 || t->id > s->nodes || t->id == f->from
                         : t->kind == SCENARIO_TARGET_ALL)) {
                    return "forge";
                }
                break;
            }
            case SCENARIO_FAULT_HEAL:
                break;
            default:
                return "fault kind";
        }
    }
    const struct scenario_nemesis *n = &s->nemesis;
    if (n->enabled &&
        (!(n->interval_s > 0) || !(n->fault_s > 0) ||
         n->fault_s > n->interval_s || n->concurrent < 1 ||
         n->concurrent > SCENARIO_MAX_CONCURRENT || !(n->start_s >= 0) ||
         !(n->start_s < s->duration_s) || n->faults == 0 ||
         (n->faults & ~0x7Fu) != 0 || !(n->loss >= 0 && n->loss <= 1) ||
         n->delay_ms_min > n->delay_ms_max)) {
        return "nemesis";
    }
    const struct scenario_expect *e = &s->expect;
    if (!fuzz_windows_valid(e->no_leader, e->n_no_leader, s->duration_s) ||
        !fuzz_windows_valid(e->term_unchanged, e->n_term_unchanged,
                            s->duration_s) ||
        e->progress_within_ms > 3600000 ||
        e->max_snapshot_bytes > (UINT64_C(1) << 40) ||
        e->max_log_entries > 1000000000) {
        return "expect";
    }
    return NULL;
}

/* Runs the trial of @seed: parse one generated input, then check the
 * outcome. Returns why it failed, or NULL. */
static const char *fuzz_trial(uint64_t seed, int *rc_out)
{
    static const char *const valid[] = {
        full_text,
        BASE,
        BASE
        "faults:\n  - {at: 1, partition: [[1], [2, 3]]}\n"
        "  - at: 2\n    heal: true\n",
        BASE "nemesis:\n  interval_s: 1\n  faults: [partition, delay]\n",
        BASE
        "faults:\n  - {at: 1, partition: [[leader, follower], [followers]]}\n"
        "  - {at: 2, cut: {from: leader, to: followers, both_ways: true}}\n"
        "  - {at: 3, link: {from: 1, to: follower, loss: 0.5}}\n",
        "nodes: 5\nduration_s: 10\nclients: {count: 2}\n"
        "expect:\n  min_ok: 1\n  no_leader: {from_s: 1, to_s: 2}\n"
        "  term_unchanged: [{from_s: 3, to_s: 4}, {from_s: 5, to_s: 6}]\n"
        "  progress_within_ms: 900\n  max_snapshot_bytes: 4096\n"
        "  max_log_entries: 100\n",
        BASE
        "faults:\n  - {at: 1, crash_after_vote: all}\n"
        "  - {at: 2, crash_after_ack: 2}\n"
        "nemesis: {interval_s: 1, concurrent: 2, faults: [crash, loss]}\n",
    };
    static char err[SCENARIO_ERROR_MAX];
    struct common_prng p;
    struct common_vec v;
    struct scenario s;
    const char *why = NULL;

    common_prng_seed(&p, seed);
    common_vec_init(&v);
    uint64_t mode = common_prng_below(&p, 8);
    if (mode == 0) {
        fuzz_append_random(&p, &v, (size_t)common_prng_below(&p, 200));
    } else {
        const char *base =
            valid[common_prng_below(&p, sizeof valid / sizeof valid[0])];
        assert_int_equal(common_vec_append(&v, base, strlen(base)), 0);
        uint64_t edits = common_prng_range(&p, 1, mode < 6 ? 3 : 12);
        for (uint64_t i = 0; i < edits; i++) {
            fuzz_mutate(&p, &v);
        }
    }
    memset(err, 'x', sizeof err);
    int rc = scenario_parse("fuzz.yaml", (const char *)v.data, v.len, &s, err,
                            sizeof err);
    *rc_out = rc;
    if (rc == 0) {
        why = fuzz_invalid(&s);
        scenario_fini(&s);
    } else {
        unsigned line = 0;
        unsigned column = 0;
        char colon = 0;
        if (rc != COMMON_EINVAL && rc != COMMON_EPARSE) {
            why = "unexpected error code";
        } else if (memchr(err, '\0', sizeof err) == NULL) {
            why = "message not terminated";
        } else if (sscanf(err, "fuzz.yaml:%u:%u%c", &line, &column, &colon) !=
                       3 ||
                   line == 0 || column == 0 || colon != ':') {
            why = "message without line and column";
        } else if (!is_zeroed(&s)) {
            why = "scenario not zeroed after an error";
        }
    }
    if (why != NULL) {
        fprintf(stderr, "input (%zu bytes): ", v.len);
        fwrite(v.data, 1, v.len, stderr);
        fprintf(stderr, "\nmessage: %.*s\n", (int)sizeof err, err);
    }
    common_vec_fini(&v);
    return why;
}

/* Random and mutated inputs never crash the loader; every error carries a
 * position, and every accepted scenario keeps the documented invariants. */
static void fuzz_never_crashes_and_accepts_only_valid(void **state)
{
    (void)state;
    uint64_t accepted = 0;
    uint64_t not_yaml = 0;
    signal(SIGABRT, fuzz_on_signal);
    signal(SIGBUS, fuzz_on_signal);
    for (uint64_t i = 0; i < fuzz_trials; i++) {
        uint64_t seed = fuzz_first_seed + i;
        int rc = 0;
        fuzz_current_seed = seed;
        const char *why = fuzz_trial(seed, &rc);
        if (why != NULL) {
            fail_msg(
                "fuzz trial failed (%s); replay with "
                "SCENARIO_FUZZ_SEED=%llu",
                why, (unsigned long long)seed);
        }
        accepted += rc == 0 ? 1 : 0;
        not_yaml += rc == COMMON_EPARSE ? 1 : 0;
    }
    signal(SIGABRT, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    fprintf(stderr,
            "harness_scenario: %llu fuzz trials from seed %llu: %llu "
            "accepted, %llu not YAML, %llu not a valid scenario\n",
            (unsigned long long)fuzz_trials,
            (unsigned long long)fuzz_first_seed, (unsigned long long)accepted,
            (unsigned long long)not_yaml,
            (unsigned long long)(fuzz_trials - accepted - not_yaml));
    /* The mutations must reach past the parser into the format's checks
     * and out the other side, or the run proves little. */
    if (fuzz_trials == FUZZ_TRIALS) {
        assert_true(accepted > fuzz_trials / 100);
    }
}

int main(void)
{
    const char *seed = getenv("SCENARIO_FUZZ_SEED");
    const char *trials = getenv("SCENARIO_FUZZ_TRIALS");
    if (seed != NULL) {
        fuzz_first_seed = strtoull(seed, NULL, 10);
        fuzz_trials = 1;
    }
    if (trials != NULL) {
        fuzz_trials = strtoull(trials, NULL, 10);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_scenario_loads_every_field),
        cmocka_unit_test(omitted_fields_take_defaults),
        cmocka_unit_test(mix_omitted_operations_weigh_zero),
        cmocka_unit_test(name_defaults_to_file_name),
        cmocka_unit_test(targets_accept_ids_and_words),
        cmocka_unit_test(numbers_take_decimal_forms),
        cmocka_unit_test(fault_describe_names_each_kind),
        cmocka_unit_test(forge_fault_loads_with_defaults),
        cmocka_unit_test(forge_fault_errors_are_refused),
        cmocka_unit_test(windowed_and_bound_expectations_load),
        cmocka_unit_test(windowed_and_bound_expectation_errors),
        cmocka_unit_test(selectors_load_in_partitions_cuts_and_links),
        cmocka_unit_test(selector_errors_are_refused),
        cmocka_unit_test(link_hold_loads_and_refuses_bad_holds),
        cmocka_unit_test(per_node_timing_loads_and_refuses_bad_items),
        cmocka_unit_test(per_node_disk_faults_load),
        cmocka_unit_test(per_node_disk_faults_refuse_bad_values),
        cmocka_unit_test(session_ttl_loads_and_refuses_bad_values),
        cmocka_unit_test(empty_input_is_an_empty_scenario),
        cmocka_unit_test(non_mapping_document_is_refused),
        cmocka_unit_test(missing_required_field_points_at_parent),
        cmocka_unit_test(unparsable_yaml_reports_problem_and_position),
        cmocka_unit_test(unknown_field_is_named_with_allowed_ones),
        cmocka_unit_test(storage_and_latency_fields),
        cmocka_unit_test(wrong_type_is_refused),
        cmocka_unit_test(out_of_range_numbers_say_the_range),
        cmocka_unit_test(node_ids_outside_the_cluster_are_refused),
        cmocka_unit_test(faults_out_of_time_order_are_refused),
        cmocka_unit_test(fault_at_or_after_the_end_is_refused),
        cmocka_unit_test(duplicate_keys_are_refused),
        cmocka_unit_test(fault_item_needs_exactly_one_fault),
        cmocka_unit_test(partition_must_cover_every_node_once),
        cmocka_unit_test(delay_min_above_max_is_refused),
        cmocka_unit_test(probabilities_outside_unit_interval_are_refused),
        cmocka_unit_test(anchors_aliases_and_tags_are_refused),
        cmocka_unit_test(second_document_is_refused),
        cmocka_unit_test(deep_nesting_is_refused),
        cmocka_unit_test(oversized_input_is_refused),
        cmocka_unit_test(too_many_faults_are_refused),
        cmocka_unit_test(messages_quote_scalars_short_and_escaped),
        cmocka_unit_test(small_or_missing_error_buffer_is_safe),
        cmocka_unit_test(load_reports_a_missing_file),
        cmocka_unit_test(load_reads_files_and_caps_their_size),
        cmocka_unit_test(shipped_scenarios_all_load),
        cmocka_unit_test(out_of_memory_fails_cleanly_at_every_allocation),
        cmocka_unit_test(fuzz_never_crashes_and_accepts_only_valid),
        cmocka_unit_test(crash_after_faults_load_and_refuse_bad_targets),
        cmocka_unit_test(membership_actions_load),
        cmocka_unit_test(membership_actions_refuse_bad_values),
        cmocka_unit_test(nemesis_concurrent_loads_and_refuses_bad_values),
        cmocka_unit_test(swarm_keeps_calm_scenarios),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
