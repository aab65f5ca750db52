/*
 * storage_fs: the two file layers. The in-memory one must keep exactly
 * what was made durable across a crash (file contents by sync, names by
 * sync_dir), tear only the last unsynced append, and fail the calls it is
 * told to; the POSIX one must do the same operations on real files and
 * name the path and the errno text when something fails.
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

static struct storage_file *open_file(struct storage_fs *fs,
                                      const char *name,
                                      bool create)
{
    struct storage_file *f = NULL;
    assert_int_equal(fs->vt->open(fs, name, create, &f), 0);
    return f;
}

static void append(struct storage_fs *fs, struct storage_file *f, const char *s)
{
    assert_int_equal(fs->vt->append(fs, f, s, strlen(s)), 0);
}

/* The whole file as a string (or "<missing>"). */
static const char *contents(struct storage_fs *fs, const char *name)
{
    static char buf[512];
    struct storage_file *f;
    if (fs->vt->open(fs, name, false, &f) != 0) {
        return "<missing>";
    }
    size_t got;
    assert_int_equal(fs->vt->read(fs, f, 0, buf, sizeof buf - 1, &got), 0);
    buf[got] = '\0';
    fs->vt->close(fs, f);
    return buf;
}

static struct storage_fs *mem_fs(uint64_t seed)
{
    struct storage_fs *fs = NULL;
    assert_int_equal(storage_fs_mem_new(seed, &fs), 0);
    return fs;
}

/* Synced contents survive a crash; appends after the last sync do not. */
static void fs_mem_crash_drops_unsynced_data(void **state)
{
    (void)state;
    struct storage_fs *fs = mem_fs(1);
    struct storage_file *f = open_file(fs, "a", true);
    append(fs, f, "durable");
    assert_int_equal(fs->vt->sync(fs, f), 0);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
    append(fs, f, "-lost");
    assert_string_equal(contents(fs, "a"), "durable-lost");
    storage_fs_mem_crash(fs, false);
    assert_string_equal(contents(fs, "a"), "durable");
    /* The handle from before the crash is dead; close still works. */
    uint64_t size;
    assert_int_equal(fs->vt->size(fs, f, &size), COMMON_EIO);
    assert_true(th_contains(fs->error, "before a crash"));
    assert_int_equal(fs->vt->append(fs, f, "x", 1), COMMON_EIO);
    fs->vt->close(fs, f);
    storage_fs_free(fs);
}

/* A file that never held a byte syncs, and survives a crash empty, also
 * after a truncation to zero. Its inode has no buffer at all: inode_sync
 * once did NULL + 0 on it (undefined; clang's UBSan reports it, GCC's does
 * not, so the fuzz build with clang is where this test bites). */
static void fs_mem_sync_of_never_written_file(void **state)
{
    (void)state;
    struct storage_fs *fs = mem_fs(7);
    struct storage_file *f = open_file(fs, "empty", true);
    assert_int_equal(fs->vt->sync(fs, f), 0);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
    storage_fs_mem_crash(fs, true);
    fs->vt->close(fs, f);
    assert_string_equal(contents(fs, "empty"), "");

    f = open_file(fs, "empty", false);
    assert_int_equal(fs->vt->truncate(fs, f, 0), 0);
    assert_int_equal(fs->vt->sync(fs, f), 0);
    storage_fs_mem_crash(fs, false);
    fs->vt->close(fs, f);
    assert_string_equal(contents(fs, "empty"), "");
    uint64_t size = 99;
    f = open_file(fs, "empty", false);
    assert_int_equal(fs->vt->size(fs, f, &size), 0);
    assert_int_equal(size, 0);
    fs->vt->close(fs, f);
    storage_fs_free(fs);
}

/* A file created, renamed or unlinked without a directory sync is back as
 * it was after a crash; after sync_dir the change holds. */
static void fs_mem_crash_undoes_unsynced_names(void **state)
{
    (void)state;
    struct storage_fs *fs = mem_fs(2);
    struct storage_file *f = open_file(fs, "old", true);
    append(fs, f, "x");
    assert_int_equal(fs->vt->sync(fs, f), 0);
    fs->vt->close(fs, f);
    assert_int_equal(fs->vt->sync_dir(fs), 0);

    /* Creation: contents synced, name not. */
    f = open_file(fs, "new", true);
    append(fs, f, "y");
    assert_int_equal(fs->vt->sync(fs, f), 0);
    fs->vt->close(fs, f);
    assert_int_equal(fs->vt->rename(fs, "old", "renamed"), 0);
    assert_string_equal(contents(fs, "old"), "<missing>");
    storage_fs_mem_crash(fs, false);
    assert_string_equal(contents(fs, "new"), "<missing>");
    assert_string_equal(contents(fs, "renamed"), "<missing>");
    assert_string_equal(contents(fs, "old"), "x");

    assert_int_equal(fs->vt->unlink(fs, "old"), 0);
    assert_string_equal(contents(fs, "old"), "<missing>");
    storage_fs_mem_crash(fs, true);
    assert_string_equal(contents(fs, "old"), "x");

    /* Made durable, each change holds. */
    assert_int_equal(fs->vt->rename(fs, "old", "renamed"), 0);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
    storage_fs_mem_crash(fs, false);
    assert_string_equal(contents(fs, "renamed"), "x");
    assert_int_equal(fs->vt->unlink(fs, "renamed"), 0);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
    storage_fs_mem_crash(fs, false);
    assert_string_equal(contents(fs, "renamed"), "<missing>");
    storage_fs_free(fs);
}

/* A rename over an existing file replaces it; the crash brings the old
 * target back when the directory was not synced. */
static void fs_mem_rename_replaces_target(void **state)
{
    (void)state;
    struct storage_fs *fs = mem_fs(3);
    struct storage_file *f = open_file(fs, "t", true);
    append(fs, f, "target");
    fs->vt->sync(fs, f);
    fs->vt->close(fs, f);
    f = open_file(fs, "s", true);
    append(fs, f, "source");
    fs->vt->sync(fs, f);
    fs->vt->close(fs, f);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
    assert_int_equal(fs->vt->rename(fs, "s", "t"), 0);
    assert_string_equal(contents(fs, "t"), "source");
    assert_string_equal(contents(fs, "s"), "<missing>");
    storage_fs_mem_crash(fs, false);
    assert_string_equal(contents(fs, "t"), "target");
    assert_string_equal(contents(fs, "s"), "source");
    assert_int_equal(fs->vt->rename(fs, "missing", "t"), COMMON_ENOTFOUND);
    assert_true(th_contains(fs->error, "mem/missing: rename"));
    storage_fs_free(fs);
}

/* A torn crash keeps the earlier unsynced appends and a prefix of the
 * last one; over many seeds every prefix length shows up, including none
 * and all of it. */
static void fs_mem_tear_keeps_prefix_of_last_append(void **state)
{
    (void)state;
    bool seen[6] = {false};
    for (uint64_t seed = 0; seed < 200; seed++) {
        struct storage_fs *fs = mem_fs(seed);
        struct storage_file *f = open_file(fs, "a", true);
        append(fs, f, "synced|");
        fs->vt->sync(fs, f);
        fs->vt->sync_dir(fs);
        append(fs, f, "first|");
        append(fs, f, "last!");
        fs->vt->close(fs, f);
        storage_fs_mem_crash(fs, true);
        const char *c = contents(fs, "a");
        size_t len = strlen(c);
        assert_true(len >= strlen("synced|first|"));
        assert_true(len <= strlen("synced|first|last!"));
        assert_memory_equal(c, "synced|first|last!", len);
        seen[len - strlen("synced|first|")] = true;
        /* What survived is durable: a second crash keeps it. */
        char copy[64];
        snprintf(copy, sizeof copy, "%s", c);
        storage_fs_mem_crash(fs, true);
        assert_string_equal(contents(fs, "a"), copy);
        storage_fs_free(fs);
    }
    for (size_t k = 0; k < 6; k++) {
        assert_true(seen[k]);
    }
}

/* Truncation below the synced size is undone by a crash, torn or not. */
static void fs_mem_crash_undoes_unsynced_truncate(void **state)
{
    (void)state;
    struct storage_fs *fs = mem_fs(4);
    struct storage_file *f = open_file(fs, "a", true);
    append(fs, f, "0123456789");
    fs->vt->sync(fs, f);
    fs->vt->sync_dir(fs);
    assert_int_equal(fs->vt->truncate(fs, f, 4), 0);
    append(fs, f, "xy");
    assert_string_equal(contents(fs, "a"), "0123xy");
    fs->vt->close(fs, f);
    storage_fs_mem_crash(fs, true);
    assert_string_equal(contents(fs, "a"), "0123456789");
    /* Truncation synced holds; growing pads with zeros. */
    f = open_file(fs, "a", false);
    assert_int_equal(fs->vt->truncate(fs, f, 3), 0);
    assert_int_equal(fs->vt->sync(fs, f), 0);
    assert_int_equal(fs->vt->truncate(fs, f, 5), 0);
    uint8_t buf[8];
    size_t got;
    assert_int_equal(fs->vt->read(fs, f, 0, buf, sizeof buf, &got), 0);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "012\0\0", 5);
    fs->vt->close(fs, f);
    storage_fs_mem_crash(fs, false);
    assert_string_equal(contents(fs, "a"), "012");
    storage_fs_free(fs);
}

/* The n-th next append fails with the given error after writing at most
 * a prefix; the message names the file; later appends work again. */
static void fs_mem_append_failure_injected(void **state)
{
    (void)state;
    struct storage_fs *fs = mem_fs(5);
    struct storage_file *f = open_file(fs, "log", true);
    storage_fs_mem_fail(fs, STORAGE_FS_APPEND, 2, COMMON_ENOSPACE);
    append(fs, f, "a");
    append(fs, f, "b");
    assert_int_equal(fs->vt->append(fs, f, "cdefgh", 6), COMMON_ENOSPACE);
    assert_true(th_contains(fs->error, "mem/log: append: no space left"));
    const char *c = contents(fs, "log");
    assert_true(strlen(c) >= 2 && strlen(c) < 8);
    assert_memory_equal(c, "abcdefgh", strlen(c));
    size_t before = strlen(c);
    append(fs, f, "i");
    assert_int_equal(strlen(contents(fs, "log")), before + 1);
    /* -1 disarms. */
    storage_fs_mem_fail(fs, STORAGE_FS_APPEND, 0, COMMON_EIO);
    storage_fs_mem_fail(fs, STORAGE_FS_APPEND, -1, COMMON_EIO);
    append(fs, f, "j");
    fs->vt->close(fs, f);
    storage_fs_free(fs);
}

/* A failing sync or sync_dir makes nothing durable. */
static void fs_mem_sync_failure_keeps_data_unsynced(void **state)
{
    (void)state;
    struct storage_fs *fs = mem_fs(6);
    struct storage_file *f = open_file(fs, "log", true);
    append(fs, f, "abc");
    storage_fs_mem_fail(fs, STORAGE_FS_SYNC, 0, COMMON_EIO);
    assert_int_equal(fs->vt->sync(fs, f), COMMON_EIO);
    assert_true(th_contains(fs->error, "mem/log: sync: input/output error"));
    storage_fs_mem_fail(fs, STORAGE_FS_SYNC_DIR, 0, COMMON_EIO);
    assert_int_equal(fs->vt->sync_dir(fs), COMMON_EIO);
    assert_true(th_contains(fs->error, "mem: sync of the directory"));
    fs->vt->close(fs, f);
    storage_fs_mem_crash(fs, false);
    assert_string_equal(contents(fs, "log"), "<missing>");
    /* Both work again afterwards. */
    f = open_file(fs, "log", true);
    append(fs, f, "abc");
    assert_int_equal(fs->vt->sync(fs, f), 0);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
    fs->vt->close(fs, f);
    storage_fs_mem_crash(fs, false);
    assert_string_equal(contents(fs, "log"), "abc");
    storage_fs_free(fs);
}

/* Crash and failure calls on a file system that is not in memory, or
 * with an unknown kind, do nothing. */
static void fs_mem_controls_ignore_other_layers(void **state)
{
    (void)state;
    char dir[] = "/tmp/raftkv-fs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct storage_fs *fs = NULL;
    assert_int_equal(storage_fs_posix_new(dir, &fs), 0);
    storage_fs_mem_crash(fs, true);
    storage_fs_mem_fail(fs, STORAGE_FS_APPEND, 0, COMMON_EIO);
    struct storage_fs *m = mem_fs(7);
    storage_fs_mem_fail(m, (enum storage_fs_op)9, 0, COMMON_EIO);
    storage_fs_free(m);
    storage_fs_free(fs);
    storage_fs_free(NULL);
    assert_int_equal(rmdir(dir), 0);
}

/* The POSIX layer does every operation on real files in a directory. */
static void fs_posix_operations(void **state)
{
    (void)state;
    char dir[] = "/tmp/raftkv-fs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[64];
    snprintf(sub, sizeof sub, "%s/a/b/", dir);
    struct storage_fs *fs = NULL;
    assert_int_equal(storage_fs_posix_new(sub, &fs), 0); /* mkdir -p */
    struct storage_file *f = open_file(fs, "x.log", true);
    append(fs, f, "hello ");
    append(fs, f, "world");
    assert_int_equal(fs->vt->sync(fs, f), 0);
    uint64_t size;
    assert_int_equal(fs->vt->size(fs, f, &size), 0);
    assert_int_equal(size, 11);
    char buf[16];
    size_t got;
    assert_int_equal(fs->vt->read(fs, f, 6, buf, sizeof buf, &got), 0);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(fs->vt->truncate(fs, f, 5), 0);
    append(fs, f, "!"); /* appends go to the new end */
    assert_string_equal(contents(fs, "x.log"), "hello!");
    assert_int_equal(fs->vt->close(fs, f), 0);
    assert_int_equal(fs->vt->rename(fs, "x.log", "y.log"), 0);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
    char names[4][64];
    assert_int_equal(th_list(fs, ".log", names, 4), 1);
    assert_string_equal(names[0], "y.log");
    assert_int_equal(fs->vt->unlink(fs, "y.log"), 0);
    assert_int_equal(th_list(fs, "", names, 4), 0);

    /* Failures name the path and the errno text. */
    assert_int_equal(fs->vt->open(fs, "nope", false, &f), COMMON_ENOTFOUND);
    char want[128];
    snprintf(want, sizeof want, "%s/a/b/nope: open: No such file", dir);
    assert_true(th_contains(fs->error, want));
    assert_int_equal(fs->vt->unlink(fs, "nope"), COMMON_ENOTFOUND);
    assert_int_equal(fs->vt->rename(fs, "nope", "x"), COMMON_ENOTFOUND);
    assert_true(th_contains(fs->error, "nope: rename"));
    storage_fs_free(fs);

    /* A directory that cannot be made: the message says where and why. */
    char file[80];
    snprintf(file, sizeof file, "%s/a/plain", dir);
    struct storage_fs *tmp = NULL;
    assert_int_equal(storage_fs_posix_new(file, &tmp), 0);
    storage_fs_free(tmp);
    assert_int_equal(rmdir(file), 0);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    char inside[96];
    snprintf(inside, sizeof inside, "%s/d", file);
    char why[256] = "";
    assert_int_not_equal(storage_fs_posix_open(inside, why, sizeof why, &tmp),
                         0);
    assert_null(tmp);
    assert_true(th_contains(why, "mkdir: Not a directory"));
    assert_int_equal(storage_fs_posix_open("", why, sizeof why, &tmp),
                     COMMON_EINVAL);

    assert_int_equal(unlink(file), 0);
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    assert_int_equal(rmdir(sub), 0);
    snprintf(sub, sizeof sub, "%s/a", dir);
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fs_mem_crash_drops_unsynced_data),
        cmocka_unit_test(fs_mem_sync_of_never_written_file),
        cmocka_unit_test(fs_mem_crash_undoes_unsynced_names),
        cmocka_unit_test(fs_mem_rename_replaces_target),
        cmocka_unit_test(fs_mem_tear_keeps_prefix_of_last_append),
        cmocka_unit_test(fs_mem_crash_undoes_unsynced_truncate),
        cmocka_unit_test(fs_mem_append_failure_injected),
        cmocka_unit_test(fs_mem_sync_failure_keeps_data_unsynced),
        cmocka_unit_test(fs_mem_controls_ignore_other_layers),
        cmocka_unit_test(fs_posix_operations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
