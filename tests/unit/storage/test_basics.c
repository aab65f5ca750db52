/*
 * storage_basics: the storage contract, run against every storage - the
 * perfect in-memory one, the WAL over the in-memory file system (reopened
 * after a torn crash, which must lose nothing acknowledged), and the WAL
 * over real files in a temporary directory. Writes, truncations and
 * snapshots are mirrored into a model; after every reopen the storage
 * must load exactly what the model holds. Tests that only make sense for
 * the WAL (segment files, its checks on input) skip the memory storage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

enum kind {
    KIND_MEM,
    KIND_WAL_MEM,
    KIND_WAL_POSIX,
};

struct fixture
{
    enum kind kind;
    struct storage_fs *fs;
    struct storage *s;
    char dir[64];
    uint64_t segment_bytes;
    struct th_model m;
    uint64_t crashes;
};

static int setup(void **state, enum kind kind)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->kind = kind;
    fx->segment_bytes = 4096;
    th_model_init(&fx->m);
    switch (kind) {
        case KIND_MEM:
            assert_int_equal(storage_mem_new(&fx->s), 0);
            break;
        case KIND_WAL_MEM:
            assert_int_equal(storage_fs_mem_new(11, &fx->fs), 0);
            fx->s = th_wal(fx->fs, fx->segment_bytes);
            break;
        case KIND_WAL_POSIX:
            snprintf(fx->dir, sizeof fx->dir, "/tmp/raftkv-wal-XXXXXX");
            assert_non_null(mkdtemp(fx->dir));
            assert_int_equal(storage_fs_posix_new(fx->dir, &fx->fs), 0);
            fx->s = th_wal(fx->fs, fx->segment_bytes);
            break;
    }
    *state = fx;
    return 0;
}

static int setup_mem(void **state)
{
    return setup(state, KIND_MEM);
}

static int setup_wal_mem(void **state)
{
    return setup(state, KIND_WAL_MEM);
}

static int setup_wal_posix(void **state)
{
    return setup(state, KIND_WAL_POSIX);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    storage_free(fx->s);
    if (fx->kind == KIND_WAL_POSIX) {
        char names[256][64];
        size_t n = th_list(fx->fs, "", names, 256);
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(fx->fs->vt->unlink(fx->fs, names[k]), 0);
        }
        assert_int_equal(rmdir(fx->dir), 0);
    }
    storage_fs_free(fx->fs);
    th_model_free(&fx->m);
    free(fx);
    return 0;
}

/* Throws the storage away and opens a new one over the same disk: for the
 * WAL over memory, after a crash that tears whatever was unsynced. */
static void reopen(struct fixture *fx)
{
    if (fx->kind == KIND_MEM) {
        return;
    }
    th_model_reopened(&fx->m);
    storage_free(fx->s);
    if (fx->kind == KIND_WAL_MEM) {
        storage_fs_mem_crash(fx->fs, (fx->crashes++ & 1) == 0);
    }
    fx->s = th_wal(fx->fs, fx->segment_bytes);
}

static void write_entries(struct fixture *fx,
                          raft_index first,
                          size_t n,
                          raft_term term,
                          size_t len,
                          raft_index truncate_from,
                          const struct raft_hard_state *hs)
{
    struct th_entries b;
    th_entries_make(&b, first, n, term, len, first);
    struct storage_batch batch = {hs, truncate_from, b.e, n};
    th_write(fx->s, &fx->m, &batch);
    th_entries_free(&b);
}

static void save_snapshot(struct fixture *fx,
                          raft_index index,
                          raft_term term,
                          size_t len)
{
    struct storage_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = index;
    meta.term = term;
    meta.conf = th_conf(3);
    uint8_t *data = malloc(len + 1);
    assert_non_null(data);
    for (size_t k = 0; k < len; k++) {
        data[k] = (uint8_t)(k * 13 + index);
    }
    int rv = storage_save_snapshot(fx->s, &meta, data, len);
    if (rv != 0) {
        fail_msg("save_snapshot: %s", storage_error(fx->s));
    }
    th_model_snapshot(&fx->m, &meta, data, len);
    free(data);
}

static void expect_model(struct fixture *fx)
{
    struct storage_state st;
    th_load_expect(fx->s, &fx->m, &st);
}

static size_t count_files(struct fixture *fx, const char *suffix)
{
    char names[256][64];
    return th_list(fx->fs, suffix, names, 256);
}

/* A storage that was never written loads empty, with nothing to report. */
static void basics_fresh_storage_is_empty(void **state)
{
    struct fixture *fx = *state;
    struct storage_state st;
    assert_int_equal(storage_load(fx->s, &st), 0);
    assert_int_equal(st.hard_state.term, 0);
    assert_int_equal(st.hard_state.vote, 0);
    assert_int_equal(st.hard_state.commit, 0);
    assert_false(st.has_snapshot);
    assert_int_equal(st.n_entries, 0);
    assert_string_equal(st.recovery_note, "");
    reopen(fx);
    expect_model(fx);
}

/* Entries and hard states written in batches come back after a reopen,
 * and loading twice gives the same state. */
static void basics_entries_and_hard_state_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct raft_hard_state hs = {1, 2, 0};
    write_entries(fx, 1, 1, 1, 10, 0, &hs);
    write_entries(fx, 2, 30, 1, 64, 0, NULL);
    hs.term = 2;
    hs.vote = 3;
    hs.commit = 20;
    write_entries(fx, 32, 5, 2, 0, 0, &hs);
    struct storage_batch only_hs = {&hs, 0, NULL, 0};
    hs.commit = 36;
    th_write(fx->s, &fx->m, &only_hs);
    expect_model(fx);
    expect_model(fx);
    reopen(fx);
    expect_model(fx);
    /* Writing goes on where the log ended. */
    write_entries(fx, 37, 3, 2, 100, 0, NULL);
    reopen(fx);
    expect_model(fx);
}

/* A truncation drops the suffix, with or without new entries after it,
 * and the new suffix is what loads. */
static void basics_truncation_replaces_suffix(void **state)
{
    struct fixture *fx = *state;
    struct raft_hard_state hs = {2, 1, 5};
    write_entries(fx, 1, 20, 1, 32, 0, &hs);
    write_entries(fx, 15, 4, 2, 16, 15, NULL);
    expect_model(fx);
    reopen(fx);
    expect_model(fx);
    struct storage_batch cut = {NULL, 10, NULL, 0};
    th_write(fx->s, &fx->m, &cut);
    reopen(fx);
    expect_model(fx);
    /* Truncating beyond the end changes nothing. */
    write_entries(fx, 10, 2, 3, 8, 50, NULL);
    reopen(fx);
    expect_model(fx);
}

/* A snapshot whose index and term the log holds drops exactly the
 * entries it covers; its data and configuration load back. */
static void basics_snapshot_drops_covered_entries(void **state)
{
    struct fixture *fx = *state;
    struct raft_hard_state hs = {3, 1, 30};
    write_entries(fx, 1, 50, 3, 40, 0, &hs);
    save_snapshot(fx, 30, 3, 1000);
    expect_model(fx);
    reopen(fx);
    expect_model(fx);
    write_entries(fx, 51, 10, 3, 40, 0, NULL);
    save_snapshot(fx, 55, 3, 10);
    reopen(fx);
    expect_model(fx);
    /* Snapshot at its own index again (the log "holds" it). */
    save_snapshot(fx, 55, 3, 0);
    write_entries(fx, 61, 1, 3, 40, 0, NULL);
    reopen(fx);
    expect_model(fx);
}

/* A snapshot the log disagrees with (other term at its index, or beyond
 * the log's end) replaces the whole log. */
static void basics_snapshot_replaces_disagreeing_log(void **state)
{
    struct fixture *fx = *state;
    struct raft_hard_state hs = {4, 0, 10};
    write_entries(fx, 1, 50, 2, 20, 0, &hs);
    save_snapshot(fx, 40, 4, 100); /* the log has term 2 at 40 */
    assert_int_equal(fx->m.n, 0);
    expect_model(fx);
    reopen(fx);
    expect_model(fx);
    write_entries(fx, 41, 5, 4, 20, 0, NULL);
    save_snapshot(fx, 100, 4, 50); /* beyond the log */
    reopen(fx);
    expect_model(fx);
    write_entries(fx, 101, 3, 4, 20, 0, NULL);
    reopen(fx);
    expect_model(fx);
}

/* Many batches roll through many segments; everything reloads, and
 * snapshots delete the segments they wholly cover. */
static void basics_segments_roll_and_are_dropped(void **state)
{
    struct fixture *fx = *state;
    struct raft_hard_state hs = {1, 1, 0};
    raft_index next = 1;
    for (int k = 0; k < 60; k++) {
        hs.commit = next - 1;
        write_entries(fx, next, 3, 1, 100, 0, &hs);
        next += 3;
    }
    reopen(fx);
    expect_model(fx);
    if (fx->kind == KIND_MEM) {
        return;
    }
    size_t before = count_files(fx, ".log");
    assert_true(before > 5);
    save_snapshot(fx, next - 10, 1, 64);
    size_t after = count_files(fx, ".log");
    assert_true(after < before);
    assert_true(after <= 2);
    assert_int_equal(count_files(fx, ".snap"), 1);
    reopen(fx);
    expect_model(fx);
    /* A newer snapshot replaces the older file. */
    write_entries(fx, next, 2, 1, 100, 0, NULL);
    save_snapshot(fx, next + 1, 1, 64);
    char names[4][64];
    assert_int_equal(th_list(fx->fs, ".snap", names, 4), 1);
    char want[64];
    snprintf(want, sizeof want, "snapshot-%016llx.snap",
             (unsigned long long)(next + 1));
    assert_string_equal(names[0], want);
    reopen(fx);
    expect_model(fx);
}

/* A batch larger than a record and a segment is written whole into a
 * segment of its own and loads back. */
static void basics_large_batch(void **state)
{
    struct fixture *fx = *state;
    struct raft_hard_state hs = {1, 1, 0};
    write_entries(fx, 1, 3, 1, 10, 0, &hs);
    write_entries(fx, 4, 600, 1, 3000, 0, NULL); /* ~1.8 MB */
    write_entries(fx, 604, 1, 1, 10, 0, NULL);
    reopen(fx);
    expect_model(fx);
}

/* The WAL refuses batches that do not continue the log, name unknown
 * entry types, or commit beyond the log - and keeps working after. */
static void basics_rejects_bad_batches(void **state)
{
    struct fixture *fx = *state;
    if (fx->kind == KIND_MEM) {
        skip();
    }
    write_entries(fx, 1, 5, 1, 8, 0, NULL);
    struct th_entries b;
    th_entries_make(&b, 7, 2, 1, 8, 0);
    struct storage_batch gap = {NULL, 0, b.e, 2};
    assert_int_equal(storage_write(fx->s, &gap), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "entry 7 written after 5"));
    b.e[0].index = 6;
    struct storage_batch not_consecutive = {NULL, 0, b.e, 2};
    assert_int_equal(storage_write(fx->s, &not_consecutive), COMMON_EINVAL);
    b.e[1].index = 7;
    b.e[1].type = (enum raft_entry_type)9;
    assert_int_equal(storage_write(fx->s, &not_consecutive), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "unknown type"));
    b.e[1].type = RAFT_ENTRY_COMMAND;
    struct raft_hard_state hs = {1, 0, 8};
    struct storage_batch beyond = {&hs, 0, b.e, 2};
    assert_int_equal(storage_write(fx->s, &beyond), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "commits index 8"));
    hs.commit = 7;
    th_write(fx->s, &fx->m, &beyond);
    th_entries_free(&b);

    save_snapshot(fx, 6, 1, 4);
    struct storage_batch into_snapshot = {NULL, 5, NULL, 0};
    assert_int_equal(storage_write(fx->s, &into_snapshot), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "snapshot at 6"));
    struct storage_snapshot_meta old = {5, 1, th_conf(1)};
    assert_int_equal(storage_save_snapshot(fx->s, &old, "x", 1), COMMON_EINVAL);
    struct storage_snapshot_meta badconf = {7, 1, th_conf(1)};
    badconf.conf.servers[0].id = 0;
    assert_int_equal(storage_save_snapshot(fx->s, &badconf, "x", 1),
                     COMMON_EINVAL);
    struct storage_snapshot_meta replaces_committed = {6, 9, th_conf(1)};
    assert_int_equal(storage_save_snapshot(fx->s, &replaces_committed, "x", 1),
                     COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "committed up to 7"));
    struct th_entries big;
    th_entries_make(&big, 8, 1, 1, 0, 0);
    big.e[0].data.len = (size_t)1 << 30;
    struct storage_batch too_big = {NULL, 0, big.e, 1};
    assert_int_equal(storage_write(fx->s, &too_big), COMMON_ETOOBIG);
    big.e[0].data.len = 0;
    th_entries_free(&big);
    reopen(fx);
    expect_model(fx);
}

/* The WAL refuses to write a term or index above the bounds of raft.h
 * (2^62), which recovery would refuse to start on: a hard state's term or
 * commit, an entry's index or term, a truncation, a snapshot's index or
 * term. Values at the bounds are written and load again. */
static void basics_rejects_values_beyond_bounds(void **state)
{
    struct fixture *fx = *state;
    if (fx->kind == KIND_MEM) {
        skip();
    }
    struct raft_hard_state hs = {RAFT_TERM_MAX + 1, 0, 0};
    struct storage_batch b = {&hs, 0, NULL, 0};
    assert_int_equal(storage_write(fx->s, &b), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s),
                            "hard state of term 4611686018427387905"));
    hs = (struct raft_hard_state){1, 0, UINT64_MAX};
    assert_int_equal(storage_write(fx->s, &b), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "beyond the bound 2^62"));

    struct th_entries e;
    th_entries_make(&e, 1, 2, UINT64_MAX, 8, 0);
    struct storage_batch entries = {NULL, 0, e.e, e.n};
    assert_int_equal(storage_write(fx->s, &entries), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s),
                            "entry 1 of term 18446744073709551615"));
    th_entries_free(&e);
    th_entries_make(&e, RAFT_INDEX_MAX + 1, 1, 1, 8, 0);
    entries.entries = e.e;
    entries.n_entries = e.n;
    assert_int_equal(storage_write(fx->s, &entries), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "entry 4611686018427387905"));
    th_entries_free(&e);
    struct storage_batch trunc = {NULL, UINT64_MAX, NULL, 0};
    assert_int_equal(storage_write(fx->s, &trunc), COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "truncating from"));

    hs = (struct raft_hard_state){RAFT_TERM_MAX, 2, 0};
    write_entries(fx, 1, 3, RAFT_TERM_MAX, 8, 0, &hs);
    struct storage_snapshot_meta meta = {RAFT_INDEX_MAX + 1, 1, th_conf(3)};
    assert_int_equal(storage_save_snapshot(fx->s, &meta, "x", 1),
                     COMMON_EINVAL);
    assert_true(th_contains(storage_error(fx->s), "snapshot at"));
    meta = (struct storage_snapshot_meta){2, UINT64_MAX, th_conf(3)};
    assert_int_equal(storage_save_snapshot(fx->s, &meta, "x", 1),
                     COMMON_EINVAL);
    save_snapshot(fx, 2, RAFT_TERM_MAX, 4);
    reopen(fx);
    expect_model(fx);
}

/* Entries handed out by load stay readable until the next call, and a
 * snapshot-only storage (no entries after it) loads. */
static void basics_snapshot_without_entries(void **state)
{
    struct fixture *fx = *state;
    struct raft_hard_state hs = {5, 0, 0};
    write_entries(fx, 1, 1, 5, 4, 0, &hs);
    save_snapshot(fx, 1, 5, 3);
    reopen(fx);
    struct storage_state st;
    th_load_expect(fx->s, &fx->m, &st);
    assert_int_equal(st.n_entries, 0);
    assert_int_equal(st.snapshot_len, 3);
    write_entries(fx, 2, 4, 5, 4, 0, NULL);
    reopen(fx);
    th_load_expect(fx->s, &fx->m, &st);
    assert_int_equal(st.entries[3].index, 5);
}

/* A snapshot's configuration keeps its members' client addresses through
 * a reopen; the caller's table may be gone once the save returned. */
static void basics_snapshot_keeps_addresses(void **state)
{
    struct fixture *fx = *state;
    struct raft_hard_state hs = {1, 1, 5};
    write_entries(fx, 1, 5, 1, 8, 0, &hs);
    struct storage_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = 5;
    meta.term = 1;
    meta.conf = th_conf(3);
    uint8_t *table = malloc(RAFT_ADDRESSES_MAX);
    assert_non_null(table);
    const char *addrs[] = {"127.0.0.1:7001", NULL, "node-3:7003"};
    assert_int_equal(raft_configuration_set_addresses(&meta.conf, addrs, table,
                                                      RAFT_ADDRESSES_MAX),
                     0);
    assert_int_equal(storage_save_snapshot(fx->s, &meta, "data", 4), 0);
    memset(table, 'x', RAFT_ADDRESSES_MAX);
    free(table);
    for (int round = 0; round < 2; round++) {
        struct storage_state st;
        assert_int_equal(storage_load(fx->s, &st), 0);
        assert_true(st.has_snapshot);
        assert_int_equal(st.snapshot.conf.count, 3);
        const char *a = NULL;
        size_t n = raft_configuration_address(&st.snapshot.conf, 2, &a);
        assert_int_equal(n, 11);
        assert_memory_equal(a, "node-3:7003", n);
        assert_int_equal(raft_configuration_address(&st.snapshot.conf, 1, &a),
                         0);
        reopen(fx);
    }
}

#define FOR_EACH_KIND(test)                                             \
    cmocka_unit_test_setup_teardown(test, setup_mem, teardown),         \
        cmocka_unit_test_setup_teardown(test, setup_wal_mem, teardown), \
        cmocka_unit_test_setup_teardown(test, setup_wal_posix, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FOR_EACH_KIND(basics_fresh_storage_is_empty),
        FOR_EACH_KIND(basics_entries_and_hard_state_round_trip),
        FOR_EACH_KIND(basics_truncation_replaces_suffix),
        FOR_EACH_KIND(basics_snapshot_drops_covered_entries),
        FOR_EACH_KIND(basics_snapshot_replaces_disagreeing_log),
        FOR_EACH_KIND(basics_segments_roll_and_are_dropped),
        FOR_EACH_KIND(basics_large_batch),
        FOR_EACH_KIND(basics_rejects_bad_batches),
        FOR_EACH_KIND(basics_rejects_values_beyond_bounds),
        FOR_EACH_KIND(basics_snapshot_without_entries),
        FOR_EACH_KIND(basics_snapshot_keeps_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
