/*
 * storage_fs_fault: a disk with faults, as a file layer over another one.
 *
 * Every call goes to the inner file system; three faults are laid over it,
 * each deterministic given the calls made (and the seed, for latencies):
 *
 *   - full: the disk takes full_bytes bytes of appends in all, over its
 *     whole life; the append that would go beyond writes what still fits
 *     (a short write) and fails with COMMON_ENOSPACE, and so does every
 *     later one.
 *   - fsync EIO: once sync_fail_after syncs have succeeded, or from
 *     sync_fail_at_ns on the clock, every sync (of a file or of the
 *     directory) fails with COMMON_EIO without reaching the inner file
 *     system, so nothing becomes durable.
 *   - slow fsync: before each sync, the delay hook is handed a latency
 *     drawn uniformly from [sync_ns_min, sync_ns_max] with the wrapper's
 *     own seeded PRNG: threads sleep in it, sim mode makes the node busy
 *     for that much virtual time. The sync itself then happens at once.
 *
 * Injected faults are counted (storage_fs_fault_stats) so that a harness
 * can report them. A fault leaves the inner file system as a real one
 * would be: a short write's bytes are there, unsynced; a failed sync made
 * nothing durable. Files are the inner layer's own handles.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

struct fault_fs
{
    struct storage_fs *inner; /* borrowed */
    struct storage_fs_faults cfg;
    pthread_mutex_t lock; /* guards what follows */
    struct common_prng prng;
    uint64_t appended; /* bytes appended so far */
    uint64_t syncs_ok; /* syncs that succeeded */
    bool broken;       /* a sync failed: every later one fails too */
    struct storage_fs_fault_stats stats;
};

static const struct storage_fs_vtable fault_vtable;

static struct fault_fs *fault_of(struct storage_fs *fs)
{
    assert(fs != NULL && fs->vt == &fault_vtable && fs->impl != NULL);
    return fs->impl;
}

/* The inner layer's result, with its message copied to @fs. */
static int pass(struct storage_fs *fs, int rv)
{
    if (rv != 0) {
        memcpy(fs->error, fault_of(fs)->inner->error, sizeof fs->error);
    }
    return rv;
}

static int injected(struct storage_fs *fs,
                    int code,
                    struct storage_file *f,
                    const char *op)
{
    char what[96];
    snprintf(what, sizeof what, "%s (injected)", common_strerror(code));
    return fs_error(fs, code, f != NULL ? f->name : NULL, op, what);
}

static int fault_open(struct storage_fs *fs,
                      const char *path,
                      bool create,
                      struct storage_file **out)
{
    struct storage_fs *in = fault_of(fs)->inner;
    return pass(fs, in->vt->open(in, path, create, out));
}

static int fault_close(struct storage_fs *fs, struct storage_file *f)
{
    struct storage_fs *in = fault_of(fs)->inner;
    return pass(fs, in->vt->close(in, f));
}

static int fault_size(struct storage_fs *fs,
                      struct storage_file *f,
                      uint64_t *size)
{
    struct storage_fs *in = fault_of(fs)->inner;
    return pass(fs, in->vt->size(in, f, size));
}

static int fault_read(struct storage_fs *fs,
                      struct storage_file *f,
                      uint64_t offset,
                      void *buf,
                      size_t len,
                      size_t *got)
{
    struct storage_fs *in = fault_of(fs)->inner;
    return pass(fs, in->vt->read(in, f, offset, buf, len, got));
}

static int fault_append(struct storage_fs *fs,
                        struct storage_file *f,
                        const void *buf,
                        size_t len)
{
    struct fault_fs *x = fault_of(fs);
    pthread_mutex_lock(&x->lock);
    size_t fits = len;
    if (x->cfg.full) {
        uint64_t room = x->cfg.full_bytes > x->appended
                            ? x->cfg.full_bytes - x->appended
                            : 0;
        fits = room < len ? (size_t)room : len;
    }
    x->appended += fits;
    if (fits < len) {
        x->stats.enospc++;
    }
    pthread_mutex_unlock(&x->lock);
    int rv =
        fits > 0 ? pass(fs, x->inner->vt->append(x->inner, f, buf, fits)) : 0;
    if (rv == 0 && fits < len) {
        rv = injected(fs, COMMON_ENOSPACE, f, "append");
    }
    return rv;
}

static int fault_truncate(struct storage_fs *fs,
                          struct storage_file *f,
                          uint64_t size)
{
    struct storage_fs *in = fault_of(fs)->inner;
    return pass(fs, in->vt->truncate(in, f, size));
}

/* The fault a sync meets, before it reaches the inner layer: 0 to go on,
 * or COMMON_EIO (counted). A slow disk first takes its time. */
static int sync_fault(struct fault_fs *x)
{
    const struct storage_fs_faults *c = &x->cfg;
    uint64_t latency = 0;
    pthread_mutex_lock(&x->lock);
    bool fail = x->broken ||
                (c->sync_fail_after_set && x->syncs_ok >= c->sync_fail_after) ||
                (c->sync_fail_at_set && c->clock != NULL &&
                 c->clock(c->data) >= c->sync_fail_at_ns);
    if (fail) {
        x->broken = true;
        x->stats.sync_eio++;
    } else if (c->sync_ns_max > 0) {
        latency =
            c->sync_ns_min +
            common_prng_below(&x->prng, c->sync_ns_max - c->sync_ns_min + 1);
        x->stats.slow_syncs++;
        x->stats.slow_ns += latency;
    }
    pthread_mutex_unlock(&x->lock);
    if (latency > 0 && c->delay != NULL) {
        c->delay(c->data, latency); /* outside the lock: it may sleep */
    }
    return fail ? COMMON_EIO : 0;
}

static void sync_done(struct fault_fs *x, int rv)
{
    if (rv == 0) {
        pthread_mutex_lock(&x->lock);
        x->syncs_ok++;
        pthread_mutex_unlock(&x->lock);
    }
}

static int fault_sync(struct storage_fs *fs, struct storage_file *f)
{
    struct fault_fs *x = fault_of(fs);
    int rv = sync_fault(x);
    if (rv != 0) {
        return injected(fs, rv, f, "sync");
    }
    rv = pass(fs, x->inner->vt->sync(x->inner, f));
    sync_done(x, rv);
    return rv;
}

static int fault_rename(struct storage_fs *fs, const char *from, const char *to)
{
    struct storage_fs *in = fault_of(fs)->inner;
    return pass(fs, in->vt->rename(in, from, to));
}

static int fault_unlink(struct storage_fs *fs, const char *path)
{
    struct storage_fs *in = fault_of(fs)->inner;
    return pass(fs, in->vt->unlink(in, path));
}

static int fault_sync_dir(struct storage_fs *fs)
{
    struct fault_fs *x = fault_of(fs);
    int rv = sync_fault(x);
    if (rv != 0) {
        return injected(fs, rv, NULL, "sync of the directory");
    }
    rv = pass(fs, x->inner->vt->sync_dir(x->inner));
    sync_done(x, rv);
    return rv;
}

static int fault_list(struct storage_fs *fs,
                      int (*fn)(void *data, const char *name),
                      void *data)
{
    struct storage_fs *in = fault_of(fs)->inner;
    return pass(fs, in->vt->list(in, fn, data));
}

static void fault_destroy(struct storage_fs *fs)
{
    struct fault_fs *x = fault_of(fs);
    pthread_mutex_destroy(&x->lock);
    free(x);
    free(fs);
}

static const struct storage_fs_vtable fault_vtable = {
    .open = fault_open,
    .close = fault_close,
    .size = fault_size,
    .read = fault_read,
    .append = fault_append,
    .truncate = fault_truncate,
    .sync = fault_sync,
    .rename = fault_rename,
    .unlink = fault_unlink,
    .sync_dir = fault_sync_dir,
    .list = fault_list,
    .destroy = fault_destroy,
};

int storage_fs_fault_new(struct storage_fs *inner,
                         const struct storage_fs_faults *cfg,
                         struct storage_fs **out)
{
    assert(out != NULL);
    *out = NULL;
    if (inner == NULL || cfg == NULL || cfg->sync_ns_min > cfg->sync_ns_max ||
        (cfg->sync_fail_at_set && cfg->clock == NULL)) {
        return COMMON_EINVAL;
    }
    struct storage_fs *fs = calloc(1, sizeof *fs);
    struct fault_fs *x = calloc(1, sizeof *x);
    if (fs == NULL || x == NULL || pthread_mutex_init(&x->lock, NULL) != 0) {
        free(fs);
        free(x);
        return COMMON_ENOMEM;
    }
    x->inner = inner;
    x->cfg = *cfg;
    common_prng_seed(&x->prng, cfg->seed);
    fs->vt = &fault_vtable;
    fs->impl = x;
    fs->root = inner->root;
    *out = fs;
    return 0;
}

void storage_fs_fault_stats(struct storage_fs *fs,
                            struct storage_fs_fault_stats *out)
{
    memset(out, 0, sizeof *out);
    if (fs == NULL || fs->vt != &fault_vtable) {
        return;
    }
    struct fault_fs *x = fault_of(fs);
    pthread_mutex_lock(&x->lock);
    *out = x->stats;
    pthread_mutex_unlock(&x->lock);
}
