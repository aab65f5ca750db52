/*
 * storage_fault: the disk with faults (storage_fs_fault_new) over the
 * crash file system. A full disk fails the append that goes beyond its
 * bytes after writing what fits; a broken disk fails every sync from the
 * n-th on or from a time on, making nothing durable; a slow disk hands
 * each sync's latency, drawn from its range and seed, to the delay hook.
 * The WAL over such a disk fails on the first fault, and a WAL reopened
 * over the same files recovers exactly what was acknowledged. The WAL
 * syncs every batch but one that only moves the commit index.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

/* A fault file system over a new crash file system. */
static struct storage_fs *faulty(const struct storage_fs_faults *cfg,
                                 struct storage_fs **inner)
{
    assert_int_equal(storage_fs_mem_new(7, inner), 0);
    struct storage_fs *fs = NULL;
    assert_int_equal(storage_fs_fault_new(*inner, cfg, &fs), 0);
    return fs;
}

static struct storage_file *open_file(struct storage_fs *fs, const char *name)
{
    struct storage_file *f = NULL;
    assert_int_equal(fs->vt->open(fs, name, true, &f), 0);
    return f;
}

static uint64_t file_size(struct storage_fs *fs, struct storage_file *f)
{
    uint64_t size = 0;
    assert_int_equal(fs->vt->size(fs, f, &size), 0);
    return size;
}

/* A full disk: the append that goes beyond full_bytes writes what fits and
 * fails with ENOSPACE naming the file, and so does every later append. */
static void fault_full_disk_fails_append_beyond_its_bytes(void **state)
{
    (void)state;
    struct storage_fs_faults cfg = {.full = true, .full_bytes = 100};
    struct storage_fs *inner;
    struct storage_fs *fs = faulty(&cfg, &inner);
    struct storage_file *f = open_file(fs, "a");
    char buf[64];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(fs->vt->append(fs, f, buf, 60), 0);
    assert_int_equal(fs->vt->append(fs, f, buf, 60), COMMON_ENOSPACE);
    assert_string_equal(fs->error, "mem/a: append: no space left (injected)");
    assert_int_equal(file_size(fs, f), 100);
    assert_int_equal(fs->vt->append(fs, f, buf, 1), COMMON_ENOSPACE);
    assert_int_equal(file_size(fs, f), 100);
    assert_int_equal(fs->vt->sync(fs, f), 0);
    struct storage_fs_fault_stats st;
    storage_fs_fault_stats(fs, &st);
    assert_int_equal(st.enospc, 2);
    assert_int_equal(st.sync_eio, 0);
    assert_int_equal(fs->vt->close(fs, f), 0);
    storage_fs_free(fs);
    storage_fs_free(inner);
}

/* A broken disk after n syncs: the first n succeed, then every sync of a
 * file or of the directory fails with EIO, and what the failed sync was
 * to make durable is lost in a crash. */
static void fault_sync_fails_after_n_syncs(void **state)
{
    (void)state;
    struct storage_fs_faults cfg = {.sync_fail_after_set = true,
                                    .sync_fail_after = 2};
    struct storage_fs *inner;
    struct storage_fs *fs = faulty(&cfg, &inner);
    struct storage_file *f = open_file(fs, "a");
    assert_int_equal(fs->vt->append(fs, f, "12345", 5), 0);
    assert_int_equal(fs->vt->sync(fs, f), 0);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
    assert_int_equal(fs->vt->append(fs, f, "678", 3), 0);
    assert_int_equal(fs->vt->sync(fs, f), COMMON_EIO);
    assert_string_equal(fs->error,
                        "mem/a: sync: input/output error (injected)");
    assert_int_equal(fs->vt->sync_dir(fs), COMMON_EIO);
    assert_int_equal(fs->vt->sync(fs, f), COMMON_EIO);
    struct storage_fs_fault_stats st;
    storage_fs_fault_stats(fs, &st);
    assert_int_equal(st.sync_eio, 3);
    assert_int_equal(fs->vt->close(fs, f), 0);
    storage_fs_mem_crash(inner, false);
    f = open_file(fs, "a");
    assert_int_equal(file_size(fs, f), 5);
    assert_int_equal(fs->vt->close(fs, f), 0);
    storage_fs_free(fs);
    storage_fs_free(inner);
}

static uint64_t test_clock(void *data)
{
    return *(const uint64_t *)data;
}

/* A broken disk from a time on: syncs succeed before it and fail at and
 * after it, even once the clock would say otherwise. */
static void fault_sync_fails_from_a_time(void **state)
{
    (void)state;
    uint64_t now = 0;
    struct storage_fs_faults cfg = {.sync_fail_at_set = true,
                                    .sync_fail_at_ns = 1000,
                                    .clock = test_clock,
                                    .data = &now};
    struct storage_fs *inner;
    struct storage_fs *fs = faulty(&cfg, &inner);
    struct storage_file *f = open_file(fs, "a");
    now = 999;
    assert_int_equal(fs->vt->sync(fs, f), 0);
    now = 1000;
    assert_int_equal(fs->vt->sync(fs, f), COMMON_EIO);
    now = 0;
    assert_int_equal(fs->vt->sync(fs, f), COMMON_EIO);
    assert_int_equal(fs->vt->close(fs, f), 0);
    storage_fs_free(fs);
    storage_fs_free(inner);
}

struct delays
{
    uint64_t ns[64];
    size_t n;
};

static void record_delay(void *data, uint64_t ns)
{
    struct delays *d = data;
    assert_true(d->n < 64);
    d->ns[d->n++] = ns;
}

/* Runs 40 syncs on a slow disk of @seed, recording their latencies. */
static void slow_syncs(uint64_t seed, struct delays *d)
{
    memset(d, 0, sizeof *d);
    struct storage_fs_faults cfg = {.sync_ns_min = 2000,
                                    .sync_ns_max = 9000,
                                    .seed = seed,
                                    .delay = record_delay,
                                    .data = d};
    struct storage_fs *inner;
    struct storage_fs *fs = faulty(&cfg, &inner);
    struct storage_file *f = open_file(fs, "a");
    uint64_t sum = 0;
    for (int k = 0; k < 40; k++) {
        assert_int_equal(k % 2 ? fs->vt->sync(fs, f) : fs->vt->sync_dir(fs), 0);
        assert_int_equal(d->n, (size_t)k + 1);
        assert_in_range(d->ns[k], 2000, 9000);
        sum += d->ns[k];
    }
    struct storage_fs_fault_stats st;
    storage_fs_fault_stats(fs, &st);
    assert_int_equal(st.slow_syncs, 40);
    assert_int_equal(st.slow_ns, sum);
    assert_int_equal(fs->vt->close(fs, f), 0);
    storage_fs_free(fs);
    storage_fs_free(inner);
}

/* A slow disk: every sync's latency is in the range, drawn from the seed
 * alone (the same seed, the same latencies), and they add up in stats. */
static void fault_slow_sync_latencies_come_from_range_and_seed(void **state)
{
    (void)state;
    struct delays a;
    struct delays b;
    struct delays c;
    slow_syncs(1, &a);
    slow_syncs(1, &b);
    slow_syncs(2, &c);
    assert_memory_equal(a.ns, b.ns, sizeof a.ns);
    assert_memory_not_equal(a.ns, c.ns, sizeof a.ns);
}

/* The WAL over a disk that fills: the write that meets the full disk
 * fails naming the segment, the storage is failed, and after a crash a
 * WAL over the same files holds exactly the acknowledged batches. */
static void fault_wal_on_full_disk_keeps_what_it_acknowledged(void **state)
{
    (void)state;
    struct storage_fs_faults cfg = {.full = true, .full_bytes = 3000};
    struct storage_fs *inner;
    struct storage_fs *fs = faulty(&cfg, &inner);
    struct storage *s = th_wal(fs, 0);
    struct th_model m;
    th_model_init(&m);
    int rv = 0;
    int written = 0;
    while (rv == 0 && written < 100) {
        struct raft_hard_state hs = {2, 1, th_model_last(&m)};
        struct th_entries e;
        th_entries_make(&e, th_model_last(&m) + 1, 3, 2, 50, 0);
        struct storage_batch b = {&hs, 0, e.e, e.n};
        rv = storage_write(s, &b);
        if (rv == 0) {
            th_model_write(&m, &b);
            written++;
        }
        th_entries_free(&e);
    }
    assert_int_equal(rv, COMMON_ENOSPACE);
    assert_true(written > 2);
    assert_true(th_contains(storage_error(s), ".log: append: no space left"));
    struct storage_state st;
    assert_int_equal(storage_load(s, &st), COMMON_EIO);
    storage_free(s);
    storage_fs_mem_crash(inner, true);
    s = th_wal(inner, 0);
    th_load_expect(s, &m, &st);
    storage_free(s);
    th_model_free(&m);
    storage_fs_free(fs);
    storage_fs_free(inner);
}

/* The WAL over a disk whose syncs fail: the write is not acknowledged,
 * the storage is failed, and a crash keeps only what came before. */
static void fault_wal_on_broken_sync_keeps_what_it_acknowledged(void **state)
{
    (void)state;
    struct storage_fs_faults cfg = {.sync_fail_after_set = true,
                                    .sync_fail_after = 6};
    struct storage_fs *inner;
    struct storage_fs *fs = faulty(&cfg, &inner);
    struct storage *s = th_wal(fs, 0);
    struct th_model m;
    th_model_init(&m);
    int rv = 0;
    for (int k = 0; k < 20 && rv == 0; k++) {
        struct raft_hard_state hs = {3, 2, th_model_last(&m)};
        struct th_entries e;
        th_entries_make(&e, th_model_last(&m) + 1, 2, 3, 30, 0);
        struct storage_batch b = {&hs, 0, e.e, e.n};
        rv = storage_write(s, &b);
        if (rv == 0) {
            th_model_write(&m, &b);
        }
        th_entries_free(&e);
    }
    assert_int_equal(rv, COMMON_EIO);
    assert_true(th_contains(storage_error(s), "sync"));
    assert_true(th_contains(storage_error(s), "(injected)"));
    storage_free(s);
    storage_fs_mem_crash(inner, false);
    s = th_wal(inner, 0);
    struct storage_state st;
    th_load_expect(s, &m, &st);
    storage_free(s);
    struct storage_fs_fault_stats fst;
    storage_fs_fault_stats(fs, &fst);
    assert_int_equal(fst.sync_eio, 1);
    th_model_free(&m);
    storage_fs_free(fs);
    storage_fs_free(inner);
}

/* The syncs a disk has seen: a slow disk of 1 ns delays every one. */
static uint64_t syncs(struct storage_fs *fs)
{
    struct storage_fs_fault_stats st;
    storage_fs_fault_stats(fs, &st);
    return st.slow_syncs;
}

/* A hard state that only moves the commit index costs no fdatasync: the
 * WAL holds it, a load still returns the last one written, the next batch
 * writes it with its own sync, and a crash before that loses it (the
 * commit index is volatile in Raft). A hard state that changes the term
 * or the vote is written and synced at once. */
static void fault_wal_holds_a_commit_only_hard_state(void **state)
{
    (void)state;
    struct storage_fs_faults cfg = {.sync_ns_min = 1, .sync_ns_max = 1};
    struct storage_fs *inner;
    struct storage_fs *fs = faulty(&cfg, &inner);
    struct storage *s = th_wal(fs, 0);
    struct th_model m;
    th_model_init(&m);
    struct storage_state st;
    struct raft_hard_state hs = {4, 2, 0};
    struct th_entries e;
    th_entries_make(&e, 1, 10, 4, 20, 0);
    struct storage_batch b = {&hs, 0, e.e, e.n};
    th_write(s, &m, &b);
    th_entries_free(&e);
    assert_true(syncs(fs) >= 1);

    /* (A load syncs what recovery relied on: count around writes only.) */
    struct raft_hard_state moved = {4, 2, 7};
    struct storage_batch commit_only = {&moved, 0, NULL, 0};
    uint64_t before = syncs(fs);
    th_write(s, &m, &commit_only);
    assert_int_equal(syncs(fs), before);
    th_load_expect(s, &m, &st);
    assert_int_equal(st.hard_state.commit, 0);

    /* The next batch carries it. */
    th_entries_make(&e, 11, 2, 4, 20, 0);
    struct storage_batch more = {NULL, 0, e.e, e.n};
    before = syncs(fs);
    th_write(s, &m, &more);
    th_entries_free(&e);
    assert_int_equal(syncs(fs), before + 1);
    th_load_expect(s, &m, &st);
    assert_int_equal(st.hard_state.commit, 7);

    /* Held, then a crash: the commit index written before comes back. */
    moved.commit = 12;
    th_write(s, &m, &commit_only);
    storage_free(s);
    storage_fs_mem_crash(inner, true);
    th_model_reopened(&m);
    s = th_wal(fs, 0);
    th_load_expect(s, &m, &st);
    assert_int_equal(st.hard_state.commit, 7);

    /* A vote is synced at once. */
    uint64_t before_vote = syncs(fs);
    struct raft_hard_state voted = {5, 3, 7};
    struct storage_batch vote = {&voted, 0, NULL, 0};
    th_write(s, &m, &vote);
    assert_true(syncs(fs) > before_vote);
    storage_free(s);
    storage_fs_mem_crash(inner, true);
    th_model_reopened(&m);
    s = th_wal(fs, 0);
    th_load_expect(s, &m, &st);
    assert_int_equal(st.hard_state.term, 5);
    assert_int_equal(st.hard_state.vote, 3);
    storage_free(s);
    th_model_free(&m);
    storage_fs_free(fs);
    storage_fs_free(inner);
}

/* Settings that cannot work are refused. */
static void fault_refuses_bad_settings(void **state)
{
    (void)state;
    struct storage_fs *inner;
    assert_int_equal(storage_fs_mem_new(1, &inner), 0);
    struct storage_fs *fs = NULL;
    struct storage_fs_faults range = {.sync_ns_min = 5, .sync_ns_max = 4};
    assert_int_equal(storage_fs_fault_new(inner, &range, &fs), COMMON_EINVAL);
    struct storage_fs_faults no_clock = {.sync_fail_at_set = true};
    assert_int_equal(storage_fs_fault_new(inner, &no_clock, &fs),
                     COMMON_EINVAL);
    assert_null(fs);
    struct storage_fs_fault_stats st;
    storage_fs_fault_stats(inner, &st);
    assert_int_equal(st.enospc + st.sync_eio + st.slow_syncs, 0);
    storage_fs_free(inner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fault_full_disk_fails_append_beyond_its_bytes),
        cmocka_unit_test(fault_sync_fails_after_n_syncs),
        cmocka_unit_test(fault_sync_fails_from_a_time),
        cmocka_unit_test(fault_slow_sync_latencies_come_from_range_and_seed),
        cmocka_unit_test(fault_wal_on_full_disk_keeps_what_it_acknowledged),
        cmocka_unit_test(fault_wal_on_broken_sync_keeps_what_it_acknowledged),
        cmocka_unit_test(fault_wal_holds_a_commit_only_hard_state),
        cmocka_unit_test(fault_refuses_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
