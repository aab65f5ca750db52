/*
 * storage_failure: what happens when the disk says no. A failing append,
 * fdatasync or directory fsync - in a plain write, in a write that starts
 * a segment, in a snapshot - is returned with a message naming the file;
 * from then on the storage refuses every write, snapshot and load with
 * COMMON_EIO "storage failed earlier: ...". Reopening recovers exactly
 * what was acknowledged, plus at most the failed operation in full, and
 * never a corrupt log, whether or not a crash (torn or not) came first.
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

/* Writes a few acknowledged batches. */
static void prefix(struct storage *s, struct th_model *m, int batches)
{
    th_write_batches(s, m, batches, 5, 2, 40);
}

/* The storage refuses everything after a failure, saying why. */
static void expect_failed(struct storage *s, const char *first_error)
{
    char want[320];
    snprintf(want, sizeof want, "storage failed earlier: %s", first_error);
    struct raft_hard_state hs = {9, 9, 0};
    struct storage_batch b = {&hs, 0, NULL, 0};
    assert_int_equal(storage_write(s, &b), COMMON_EIO);
    assert_string_equal(storage_error(s), want);
    struct storage_snapshot_meta meta = {1, 1, th_conf(1)};
    assert_int_equal(storage_save_snapshot(s, &meta, "x", 1), COMMON_EIO);
    assert_string_equal(storage_error(s), want);
    struct storage_state st;
    assert_int_equal(storage_load(s, &st), COMMON_EIO);
}

/* Reopens @fs and checks that it holds @before or @after (NULL: only
 * @before). */
static void expect_one_of(struct storage_fs *fs,
                          const struct th_model *before,
                          const struct th_model *after,
                          const char *what)
{
    struct storage *s = th_wal(fs, 2000);
    struct storage_state st;
    int rv = storage_load(s, &st);
    if (rv != 0) {
        fail_msg("%s: load: %s", what, storage_error(s));
    }
    char why1[256];
    char why2[256] = "";
    if (!th_model_matches(before, &st, why1, sizeof why1) &&
        (after == NULL || !th_model_matches(after, &st, why2, sizeof why2))) {
        fail_msg("%s: neither before (%s) nor after (%s)", what, why1, why2);
    }
    storage_free(s);
}

/* A failing append: the error names the segment, the storage is failed,
 * and reopening (after no crash, a crash, or a torn crash) gives exactly
 * the acknowledged batches, reporting a torn tail when the append left
 * part of its bytes. */
static void failure_append_fails_storage(void **state)
{
    (void)state;
    bool saw_note = false;
    bool saw_clean = false;
    for (uint64_t seed = 0; seed < 24; seed++) {
        struct storage_fs *fs;
        assert_int_equal(storage_fs_mem_new(seed, &fs), 0);
        struct storage *s = th_wal(fs, 0);
        struct th_model m;
        th_model_init(&m);
        prefix(s, &m, 3);
        storage_fs_mem_fail(fs, STORAGE_FS_APPEND, 0, COMMON_ENOSPACE);
        struct th_entries e;
        th_entries_make(&e, th_model_last(&m) + 1, 40, 2, 40, 0);
        struct storage_batch b = {NULL, 0, e.e, e.n};
        assert_int_equal(storage_write(s, &b), COMMON_ENOSPACE);
        const char *msg = storage_error(s);
        assert_true(th_contains(msg,
                                "mem/0000000000000001-0000000000000001"
                                ".log: append: no space left"));
        char first[256];
        snprintf(first, sizeof first, "%s", msg);
        expect_failed(s, first);
        th_entries_free(&e);
        storage_free(s);

        int crash = (int)(seed % 3); /* none, clean, torn */
        if (crash > 0) {
            storage_fs_mem_crash(fs, crash == 2);
        }
        s = th_wal(fs, 0);
        struct storage_state st;
        th_load_expect(s, &m, &st);
        if (st.recovery_note[0] != '\0') {
            assert_true(th_contains(st.recovery_note, "torn write"));
            saw_note = true;
        } else {
            saw_clean = true;
        }
        storage_free(s);
        th_model_free(&m);
        storage_fs_free(fs);
    }
    assert_true(saw_note);
    assert_true(saw_clean);
}

/* A failing fdatasync: the batch is not acknowledged and the storage is
 * failed. The bytes may still be in the file: reopening without a crash
 * may find them (and makes them durable before handing them out), after
 * a crash they are gone - never anything in between. */
static void failure_sync_fails_storage(void **state)
{
    (void)state;
    for (int crash = 0; crash <= 2; crash++) {
        struct storage_fs *fs;
        assert_int_equal(storage_fs_mem_new((uint64_t)crash, &fs), 0);
        struct storage *s = th_wal(fs, 0);
        struct th_model before;
        th_model_init(&before);
        prefix(s, &before, 2);
        struct th_model after;
        th_model_copy(&after, &before);
        storage_fs_mem_fail(fs, STORAGE_FS_SYNC, 0, COMMON_EIO);
        struct raft_hard_state hs = {3, 2, 10};
        struct th_entries e;
        th_entries_make(&e, th_model_last(&before) + 1, 3, 3, 40, 0);
        struct storage_batch b = {&hs, 0, e.e, e.n};
        assert_int_equal(storage_write(s, &b), COMMON_EIO);
        th_model_write(&after, &b);
        assert_true(th_contains(storage_error(s), ".log: sync: "));
        char first[256];
        snprintf(first, sizeof first, "%s", storage_error(s));
        expect_failed(s, first);
        th_entries_free(&e);
        storage_free(s);
        if (crash > 0) {
            storage_fs_mem_crash(fs, crash == 2);
            expect_one_of(fs, &before, crash == 2 ? &after : NULL,
                          "sync failure, crash");
        } else {
            expect_one_of(fs, &after, NULL, "sync failure, no crash");
            /* What load handed out was made durable. */
            storage_fs_mem_crash(fs, false);
            expect_one_of(fs, &after, NULL, "sync failure, load, crash");
        }
        th_model_free(&before);
        th_model_free(&after);
        storage_fs_free(fs);
    }
}

/* Fails the @n-th call of @op during @action; returns the error (0 if the
 * action did fewer calls than that). */
typedef int (*action_fn)(struct storage *s, struct th_model *after);

static int rolling_write(struct storage *s, struct th_model *after)
{
    struct raft_hard_state hs = {4, 1, th_model_last(after)};
    struct th_entries e;
    th_entries_make(&e, th_model_last(after) + 1, 30, 4, 60, 7);
    struct storage_batch b = {&hs, 0, e.e, e.n};
    int rv = storage_write(s, &b);
    th_model_write(after, &b);
    th_entries_free(&e);
    return rv;
}

static int snapshot(struct storage *s,
                    struct th_model *after,
                    raft_index index,
                    raft_term term,
                    const char *data)
{
    struct storage_snapshot_meta meta = {index, term, th_conf(3)};
    int rv = storage_save_snapshot(s, &meta, data, strlen(data));
    th_model_snapshot(after, &meta, data, strlen(data));
    return rv;
}

static int snapshot_held(struct storage *s, struct th_model *after)
{
    return snapshot(s, after, th_model_last(after) - 3, 2, "held snapshot");
}

static int snapshot_replacing(struct storage *s, struct th_model *after)
{
    return snapshot(s, after, th_model_last(after) + 50, 5, "replacing");
}

/* Fails every file operation of every kind in turn during @act, crashing
 * (clean and torn) afterwards: each time the action reports the error,
 * the storage is failed, and what recovers is the state before or after
 * the action, whole. */
static void fail_each_operation(action_fn act,
                                const char *what,
                                const int calls[3])
{
    static const enum storage_fs_op ops[] = {STORAGE_FS_APPEND, STORAGE_FS_SYNC,
                                             STORAGE_FS_SYNC_DIR};
    for (size_t o = 0; o < 3; o++) {
        bool beyond = false;
        for (int n = 0; !beyond; n++) {
            for (int tear = 0; tear <= 1; tear++) {
                struct storage_fs *fs;
                assert_int_equal(
                    storage_fs_mem_new((uint64_t)(n * 2 + tear), &fs), 0);
                /* Small segments: the action starts a new one. */
                struct storage *s = th_wal(fs, 2000);
                struct th_model before;
                th_model_init(&before);
                prefix(s, &before, 6);
                struct th_model after;
                th_model_copy(&after, &before);
                storage_fs_mem_fail(fs, ops[o], n, COMMON_EIO);
                int rv = act(s, &after);
                storage_fs_mem_fail(fs, ops[o], -1, 0);
                if (rv == 0) {
                    beyond = true; /* the action made fewer calls */
                } else {
                    assert_int_equal(rv, COMMON_EIO);
                    assert_true(th_contains(storage_error(s), "mem"));
                    char first[256];
                    snprintf(first, sizeof first, "%s", storage_error(s));
                    expect_failed(s, first);
                }
                storage_free(s);
                storage_fs_mem_crash(fs, tear == 1);
                char label[96];
                snprintf(label, sizeof label, "%s, op %d, call %d, tear %d",
                         what, (int)ops[o], n, tear);
                expect_one_of(fs, &before, &after, label);
                if (rv == 0) {
                    expect_one_of(fs, &after, NULL, label);
                }
                th_model_free(&before);
                th_model_free(&after);
                storage_fs_free(fs);
            }
            if (beyond) {
                /* Calls 0 .. n-1 failed the action: exactly as many as it
                 * makes of this kind. */
                assert_int_equal(n, calls[o]);
            }
        }
    }
}

/* Every call of a write that starts a segment, failed in turn. */
static void failure_each_call_of_rolling_write(void **state)
{
    (void)state;
    /* Appends: new header, seal, batch; syncs likewise; the directory
     * once, for the new segment. */
    static const int calls[3] = {3, 3, 1};
    fail_each_operation(rolling_write, "rolling write", calls);
}

/* Every call of a snapshot the log holds, failed in turn. */
static void failure_each_call_of_snapshot(void **state)
{
    (void)state;
    /* Appends: file head, data, trailer, log mark; syncs: file, mark;
     * the directory: rename, deletions. */
    static const int calls[3] = {4, 2, 2};
    fail_each_operation(snapshot_held, "snapshot", calls);
}

/* Every call of a snapshot that replaces the log, failed in turn. */
static void failure_each_call_of_replacing_snapshot(void **state)
{
    (void)state;
    static const int calls[3] = {4, 2, 2};
    fail_each_operation(snapshot_replacing, "replacing snapshot", calls);
}

/* On real files, a failure names the path and the errno text: here the
 * next segment's name is a link to /dev/full, which cannot be truncated
 * (and would take no bytes). */
static void failure_posix_names_path_and_errno(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0) {
        skip();
    }
    char dir[] = "/tmp/raftkv-failure-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct storage_fs *fs;
    assert_int_equal(storage_fs_posix_new(dir, &fs), 0);
    char link[128];
    snprintf(link, sizeof link, "%s/0000000000000001-0000000000000001.log",
             dir);
    assert_int_equal(symlink("/dev/full", link), 0);
    struct storage *s = th_wal(fs, 0);
    struct raft_hard_state hs = {1, 1, 0};
    struct storage_batch b = {&hs, 0, NULL, 0};
    struct storage_state st;
    /* Recovery sees an empty "segment": a torn header, removed. */
    assert_int_equal(storage_load(s, &st), 0);
    assert_true(th_contains(st.recovery_note, "header was torn"));
    assert_int_equal(symlink("/dev/full", link), 0);
    int rv = storage_write(s, &b);
    assert_int_not_equal(rv, 0);
    char want[256];
    snprintf(want, sizeof want, "%s: ftruncate: Invalid argument", link);
    if (!th_contains(storage_error(s), want)) {
        fail_msg("error '%s' does not say '%s'", storage_error(s), want);
    }
    storage_free(s);
    assert_int_equal(unlink(link), 0);
    storage_fs_free(fs);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failure_append_fails_storage),
        cmocka_unit_test(failure_sync_fails_storage),
        cmocka_unit_test(failure_each_call_of_rolling_write),
        cmocka_unit_test(failure_each_call_of_snapshot),
        cmocka_unit_test(failure_each_call_of_replacing_snapshot),
        cmocka_unit_test(failure_posix_names_path_and_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
