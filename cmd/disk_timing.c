/*
 * The disk's timing for raftkv-server's metrics: a file system that
 * passes every call to the real one and times its syncs, and a storage
 * that passes every call to the write-ahead log and times snapshot saves.
 *
 * Why two layers: the WAL's fsync is a file-system call (storage_write
 * appends, then syncs the segment once per batch), while saving a
 * snapshot is a storage call made of several syncs (temporary file,
 * directory) that should not count as WAL fsyncs. The storage layer marks
 * the file system "saving a snapshot" for the duration of the save, and
 * the file system then leaves those syncs out of the WAL histogram. Both
 * run on the node thread only, like the WAL itself; the seams are the
 * storage_fs and storage vtables, so the WAL never knows.
 */
#include <stdlib.h>
#include <string.h>

#include "server_metrics.h"

struct timing_fs
{
    struct storage_fs *inner;
    struct cmd_histogram *wal_fsync;
    bool in_snapshot;
};

static struct storage_fs *inner_of(struct storage_fs *fs)
{
    return ((struct timing_fs *)fs->impl)->inner;
}

/* Keeps the inner file system's message for the WAL, which reads ours. */
static int pass(struct storage_fs *fs, int rv)
{
    if (rv != 0) {
        memcpy(fs->error, inner_of(fs)->error, sizeof fs->error);
    }
    return rv;
}

static int t_open(struct storage_fs *fs,
                  const char *path,
                  bool create,
                  struct storage_file **out)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->open(in, path, create, out));
}

static int t_close(struct storage_fs *fs, struct storage_file *f)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->close(in, f));
}

static int t_size(struct storage_fs *fs, struct storage_file *f, uint64_t *size)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->size(in, f, size));
}

static int t_read(struct storage_fs *fs,
                  struct storage_file *f,
                  uint64_t offset,
                  void *buf,
                  size_t len,
                  size_t *got)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->read(in, f, offset, buf, len, got));
}

static int t_append(struct storage_fs *fs,
                    struct storage_file *f,
                    const void *buf,
                    size_t len)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->append(in, f, buf, len));
}

static int t_truncate(struct storage_fs *fs,
                      struct storage_file *f,
                      uint64_t size)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->truncate(in, f, size));
}

static int t_sync(struct storage_fs *fs, struct storage_file *f)
{
    struct timing_fs *t = fs->impl;
    uint64_t start = common_now_ns();
    int rv = t->inner->vt->sync(t->inner, f);
    if (rv == 0 && !t->in_snapshot) {
        cmd_histogram_observe(t->wal_fsync,
                              (double)(common_now_ns() - start) / 1e9);
    }
    return pass(fs, rv);
}

static int t_rename(struct storage_fs *fs, const char *from, const char *to)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->rename(in, from, to));
}

static int t_unlink(struct storage_fs *fs, const char *path)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->unlink(in, path));
}

static int t_sync_dir(struct storage_fs *fs)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->sync_dir(in));
}

static int t_list(struct storage_fs *fs,
                  int (*fn)(void *data, const char *name),
                  void *data)
{
    struct storage_fs *in = inner_of(fs);
    return pass(fs, in->vt->list(in, fn, data));
}

static void t_destroy(struct storage_fs *fs)
{
    struct timing_fs *t = fs->impl;
    storage_fs_free(t->inner);
    free(t);
    free(fs);
}

static const struct storage_fs_vtable timing_fs_vt = {
    .open = t_open,
    .close = t_close,
    .size = t_size,
    .read = t_read,
    .append = t_append,
    .truncate = t_truncate,
    .sync = t_sync,
    .rename = t_rename,
    .unlink = t_unlink,
    .sync_dir = t_sync_dir,
    .list = t_list,
    .destroy = t_destroy,
};

int disk_timing_fs_new(struct storage_fs *inner,
                       struct cmd_histogram *wal_fsync,
                       struct storage_fs **out)
{
    struct storage_fs *fs = calloc(1, sizeof *fs);
    struct timing_fs *t = calloc(1, sizeof *t);
    if (fs == NULL || t == NULL) {
        free(fs);
        free(t);
        return COMMON_ENOMEM;
    }
    t->inner = inner;
    t->wal_fsync = wal_fsync;
    fs->vt = &timing_fs_vt;
    fs->impl = t;
    fs->root = inner->root;
    *out = fs;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The storage                                                               */
/* ------------------------------------------------------------------------ */

struct timing_storage
{
    struct storage *inner;
    struct timing_fs *fs;
    struct cmd_histogram *snapshot_save;
};

static int pass_storage(struct storage *s, int rv)
{
    if (rv != 0) {
        struct timing_storage *t = s->impl;
        memcpy(s->error, t->inner->error, sizeof s->error);
    }
    return rv;
}

static int ts_load(struct storage *s, struct storage_state *out)
{
    struct timing_storage *t = s->impl;
    return pass_storage(s, storage_load(t->inner, out));
}

static int ts_write(struct storage *s, const struct storage_batch *b)
{
    struct timing_storage *t = s->impl;
    return pass_storage(s, storage_write(t->inner, b));
}

static int ts_save_snapshot(struct storage *s,
                            const struct storage_snapshot_meta *meta,
                            const void *data,
                            size_t len)
{
    struct timing_storage *t = s->impl;
    uint64_t start = common_now_ns();
    t->fs->in_snapshot = true;
    int rv = storage_save_snapshot(t->inner, meta, data, len);
    t->fs->in_snapshot = false;
    if (rv == 0) {
        cmd_histogram_observe(t->snapshot_save,
                              (double)(common_now_ns() - start) / 1e9);
    }
    return pass_storage(s, rv);
}

static void ts_destroy(struct storage *s)
{
    struct timing_storage *t = s->impl;
    storage_free(t->inner);
    free(t);
    free(s);
}

static const struct storage_vtable timing_storage_vt = {
    .load = ts_load,
    .write = ts_write,
    .save_snapshot = ts_save_snapshot,
    .destroy = ts_destroy,
};

int disk_timing_storage_new(struct storage *inner_storage,
                            struct storage_fs *timing_fs,
                            struct cmd_histogram *snapshot_save,
                            struct storage **out)
{
    struct storage *s = calloc(1, sizeof *s);
    struct timing_storage *t = calloc(1, sizeof *t);
    if (s == NULL || t == NULL) {
        free(s);
        free(t);
        return COMMON_ENOMEM;
    }
    t->inner = inner_storage;
    t->fs = timing_fs->impl;
    t->snapshot_save = snapshot_save;
    s->vt = &timing_storage_vt;
    s->impl = t;
    *out = s;
    return 0;
}
