/*
 * storage_fs in memory, with the crash semantics of a careful reading of
 * POSIX: what a crash keeps is exactly what was made durable.
 *
 *   - A file's contents (an inode) have two versions: the live bytes every
 *     read sees, and the durable bytes as of its last sync. While only
 *     appends happened since the last sync the durable bytes are a prefix
 *     of the live ones, and the inode keeps only their length: a sync
 *     moves that length, and a log that only grows costs no copy. Only a
 *     truncation into the durable bytes copies them aside first.
 *   - The directory has two versions too: the live name -> inode table
 *     and the durable one as of the last sync_dir. Creations, renames and
 *     unlinks change the live table only; sync_dir copies it.
 *   - storage_fs_mem_crash() puts the durable directory back and every
 *     inode it names back to its durable bytes. With @tear, a file whose
 *     unsynced changes are only appends keeps its appended bytes up to a
 *     random point inside the LAST unsynced append (the disk wrote them in
 *     order and stopped part way), which is the torn write a real crash
 *     leaves. What survived a crash is on the disk: it counts as durable.
 *     Handles opened before a crash are dead: every call on them but close
 *     fails with COMMON_EIO.
 *
 * Failure injection counts calls per kind (append, sync, sync_dir); the
 * chosen one fails with the given error. A failing append first writes a
 * random prefix of its bytes (possibly none), as a short write before
 * ENOSPC would; a failing sync or sync_dir makes nothing durable.
 *
 * Randomness (tears, failed-append prefixes) comes from one seeded PRNG,
 * so a test run is reproducible from its seed. One mutex guards the whole
 * file system, so a harness may crash it from another thread than the one
 * that writes; a file system made single-threaded (the sim driver's) takes
 * no lock.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lock.h"
#include "fs.h"

struct mem_inode
{
    struct common_vec data; /* live contents */
    size_t durable_len;     /* length of the contents as of the last sync */
    /* Since the last sync, only appends: the first durable_len bytes of
     * data are the durable contents. */
    bool appends_only;
    /* The durable contents when !appends_only (empty otherwise). */
    struct common_vec durable;
    /* Where the last unsynced append began (when appends_only). */
    size_t last_append;
    unsigned refs; /* live and durable names, open handles */
};

struct mem_name
{
    char *name;
    struct mem_inode *inode;
};

struct mem_dir
{
    struct mem_name *names;
    size_t len;
    size_t cap;
};

#define MEM_FAIL_KINDS 4 /* indexed by enum storage_fs_op */

struct mem_fs
{
    struct common_lock lock; /* guards everything below */
    struct mem_dir live;
    struct mem_dir durable;
    struct common_prng prng;
    uint64_t generation;                /* bumped by each crash */
    int fail_countdown[MEM_FAIL_KINDS]; /* -1: off */
    int fail_error[MEM_FAIL_KINDS];
};

/* An inode is referenced, and while only appends happened since the last
 * sync (so that its live bytes start with its durable ones) the last
 * append began between the durable end and the live end: what a crash
 * (and its tear) and a sync rely on. Lengths only: comparing the bytes
 * would cost a copy of the file per call. */
static bool inode_ok(const struct mem_inode *ino)
{
    assert(ino != NULL);
    return ino->refs > 0 &&
           (ino->appends_only ? (ino->durable.len == 0 &&
                                 ino->durable_len <= ino->last_append &&
                                 ino->last_append <= ino->data.len)
                              : ino->durable.len == ino->durable_len);
}

static struct mem_fs *mem_of(struct storage_fs *fs)
{
    assert(fs != NULL && fs->impl != NULL);
    return fs->impl;
}

static void inode_unref(struct mem_inode *ino)
{
    assert(ino == NULL || ino->refs > 0);
    if (ino != NULL && --ino->refs == 0) {
        common_vec_fini(&ino->data);
        common_vec_fini(&ino->durable);
        free(ino);
    }
}

static struct mem_name *dir_find(struct mem_dir *d, const char *name)
{
    assert(d->len <= d->cap && name != NULL);
    for (size_t k = 0; k < d->len; k++) {
        if (strcmp(d->names[k].name, name) == 0) {
            return &d->names[k];
        }
    }
    return NULL;
}

/* Adds @name -> @ino (which gains a reference). */
static int dir_add(struct mem_dir *d, const char *name, struct mem_inode *ino)
{
    if (common_grow(&d->names, &d->cap, d->len + 1, sizeof *d->names,
                    STORAGE_MIN_CAP) != 0) {
        return COMMON_ENOMEM;
    }
    char *copy = fs_strdup(name);
    if (copy == NULL) {
        return COMMON_ENOMEM;
    }
    d->names[d->len].name = copy;
    d->names[d->len].inode = ino;
    d->len++;
    ino->refs++;
    assert(d->len <= d->cap);
    return 0;
}

static void dir_remove(struct mem_dir *d, struct mem_name *n)
{
    assert(n >= d->names && n < d->names + d->len);
    free(n->name);
    inode_unref(n->inode);
    *n = d->names[--d->len];
}

static void dir_clear(struct mem_dir *d)
{
    assert(d->len <= d->cap);
    while (d->len > 0) {
        dir_remove(d, &d->names[d->len - 1]);
    }
}

/* Makes @to a copy of @from (same inodes). On failure @to is unchanged. */
static int dir_copy(struct mem_dir *to, const struct mem_dir *from)
{
    struct mem_dir copy = {NULL, 0, 0};
    for (size_t k = 0; k < from->len; k++) {
        int rv = dir_add(&copy, from->names[k].name, from->names[k].inode);
        if (rv != 0) {
            dir_clear(&copy);
            free(copy.names);
            return rv;
        }
    }
    dir_clear(to);
    free(to->names);
    *to = copy;
    assert(to->len == from->len);
    return 0;
}

/* Consumes one call of kind @op; true when this one must fail. */
static bool should_fail(struct mem_fs *m, enum storage_fs_op op)
{
    assert((int)op >= 1 && (int)op < MEM_FAIL_KINDS);
    int *n = &m->fail_countdown[op];
    if (*n < 0) {
        return false;
    }
    if (*n == 0) {
        *n = -1;
        return true;
    }
    (*n)--;
    return false;
}

static int injected(struct storage_fs *fs,
                    int code,
                    const char *name,
                    const char *op)
{
    /* storage_fs_mem_fail() stored an error code (COMMON_EIO for 0). */
    assert(code != 0 && op != NULL);
    char what[96];
    snprintf(what, sizeof what, "%s (injected)", common_strerror(code));
    return fs_error(fs, code, name, op, what);
}

/* A handle from before the last crash refers to a world that is gone. */
static int check_handle(struct storage_fs *fs,
                        struct storage_file *f,
                        const char *op)
{
    assert(f != NULL && f->inode != NULL && inode_ok(f->inode));
    if (f->generation != mem_of(fs)->generation) {
        return fs_error(fs, COMMON_EIO, f->name, op,
                        "file handle opened before a crash");
    }
    return 0;
}

static int mem_open(struct storage_fs *fs,
                    const char *path,
                    bool create,
                    struct storage_file **out)
{
    struct mem_fs *m = mem_of(fs);
    int rv = 0;
    common_lock_take(&m->lock);
    struct storage_file *f = calloc(1, sizeof *f);
    char *name = fs_strdup(path);
    if (f == NULL || name == NULL) {
        rv = fs_error(fs, COMMON_ENOMEM, path, "open", "out of memory");
        goto err;
    }
    struct mem_name *n = dir_find(&m->live, path);
    if (n == NULL) {
        if (!create) {
            rv = fs_error(fs, COMMON_ENOTFOUND, path, "open", "no such file");
            goto err;
        }
        struct mem_inode *ino = calloc(1, sizeof *ino);
        if (ino == NULL) {
            rv = fs_error(fs, COMMON_ENOMEM, path, "open", "out of memory");
            goto err;
        }
        ino->appends_only = true;
        if (dir_add(&m->live, path, ino) != 0) {
            free(ino);
            rv = fs_error(fs, COMMON_ENOMEM, path, "open", "out of memory");
            goto err;
        }
        n = &m->live.names[m->live.len - 1];
    }
    f->name = name;
    f->inode = n->inode;
    f->inode->refs++;
    f->generation = m->generation;
    /* Held by its name and by this handle. */
    assert(f->inode->refs >= 2);
    *out = f;
    common_lock_release(&m->lock);
    return 0;

err:
    free(name);
    free(f);
    common_lock_release(&m->lock);
    return rv;
}

static int mem_close(struct storage_fs *fs, struct storage_file *f)
{
    assert(f != NULL);
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    inode_unref(f->inode);
    common_lock_release(&m->lock);
    free(f->name);
    free(f);
    return 0;
}

static int mem_size(struct storage_fs *fs,
                    struct storage_file *f,
                    uint64_t *size)
{
    assert(size != NULL);
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    int rv = check_handle(fs, f, "size");
    if (rv == 0) {
        *size = f->inode->data.len;
    }
    common_lock_release(&m->lock);
    return rv;
}

static int mem_read(struct storage_fs *fs,
                    struct storage_file *f,
                    uint64_t offset,
                    void *buf,
                    size_t len,
                    size_t *got)
{
    assert(got != NULL && (buf != NULL || len == 0));
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    int rv = check_handle(fs, f, "read");
    if (rv == 0) {
        const struct common_vec *d = &f->inode->data;
        size_t n = 0;
        if (offset < d->len) {
            n = d->len - (size_t)offset;
            n = n < len ? n : len;
            memcpy(buf, d->data + offset, n);
        }
        /* Never past the end of the file. */
        assert(n == 0 || offset + n <= d->len);
        *got = n;
    }
    common_lock_release(&m->lock);
    return rv;
}

static int grow(struct storage_fs *fs,
                struct storage_file *f,
                const void *buf,
                size_t len)
{
    struct mem_inode *ino = f->inode;
    assert(buf != NULL || len == 0);
    if (common_vec_append(&ino->data, buf, len) != 0) {
        return fs_error(fs, COMMON_ENOSPACE, f->name, "append",
                        "out of memory");
    }
    return 0;
}

static int mem_append(struct storage_fs *fs,
                      struct storage_file *f,
                      const void *buf,
                      size_t len)
{
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    int rv = check_handle(fs, f, "append");
    if (rv != 0) {
        goto out;
    }
    struct mem_inode *ino = f->inode;
    size_t start = ino->data.len;
    if (should_fail(m, STORAGE_FS_APPEND)) {
        size_t part = (size_t)common_prng_below(&m->prng, (uint64_t)len);
        rv = grow(fs, f, buf, part);
        if (rv == 0) {
            rv = injected(fs, m->fail_error[STORAGE_FS_APPEND], f->name,
                          "append");
        }
    } else {
        rv = grow(fs, f, buf, len);
    }
    if (ino->data.len > start) {
        ino->last_append = start;
    }
    assert(inode_ok(ino));
out:
    common_lock_release(&m->lock);
    return rv;
}

static int mem_truncate(struct storage_fs *fs,
                        struct storage_file *f,
                        uint64_t size)
{
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    int rv = check_handle(fs, f, "truncate");
    if (rv != 0) {
        goto out;
    }
    struct mem_inode *ino = f->inode;
    size_t old = ino->data.len;
    if (size > old) {
        size_t extra = (size_t)(size - old);
        if (common_vec_reserve(&ino->data, extra) != 0) {
            rv = fs_error(fs, COMMON_ENOSPACE, f->name, "truncate",
                          "out of memory");
            goto out;
        }
        memset(ino->data.data + old, 0, extra);
        ino->data.len += extra;
        ino->last_append = old; /* zeros appended */
    } else {
        if (ino->appends_only && size < ino->durable_len) {
            /* The cut reaches into the durable bytes: keep them aside. */
            if (common_vec_append(&ino->durable, ino->data.data,
                                  ino->durable_len) != 0) {
                rv = fs_error(fs, COMMON_ENOSPACE, f->name, "truncate",
                              "out of memory");
                goto out;
            }
            ino->appends_only = false;
        }
        ino->data.len = (size_t)size;
        if (ino->appends_only && ino->last_append > ino->data.len) {
            ino->last_append = ino->data.len;
        }
    }
    assert(inode_ok(ino));
out:
    common_lock_release(&m->lock);
    return rv;
}

/* Makes an inode's live bytes its durable bytes. */
static void inode_sync(struct mem_inode *ino)
{
    common_vec_fini(&ino->durable);
    ino->durable_len = ino->data.len;
    ino->appends_only = true;
    ino->last_append = ino->data.len;
    assert(inode_ok(ino));
}

static int mem_sync(struct storage_fs *fs, struct storage_file *f)
{
    assert(f != NULL && f->inode != NULL);
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    int rv = check_handle(fs, f, "sync");
    if (rv == 0 && should_fail(m, STORAGE_FS_SYNC)) {
        rv = injected(fs, m->fail_error[STORAGE_FS_SYNC], f->name, "sync");
    }
    if (rv == 0) {
        inode_sync(f->inode);
    }
    common_lock_release(&m->lock);
    return rv;
}

static int mem_rename(struct storage_fs *fs, const char *from, const char *to)
{
    assert(from != NULL && to != NULL);
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    int rv = 0;
    struct mem_name *src = dir_find(&m->live, from);
    if (src == NULL) {
        rv = fs_error(fs, COMMON_ENOTFOUND, from, "rename", "no such file");
        goto out;
    }
    if (strcmp(from, to) == 0) {
        goto out;
    }
    char *copy = fs_strdup(to);
    if (copy == NULL) {
        rv = fs_error(fs, COMMON_ENOMEM, from, "rename", "out of memory");
        goto out;
    }
    struct mem_name *dst = dir_find(&m->live, to);
    if (dst != NULL) {
        dir_remove(&m->live, dst);
        src = dir_find(&m->live, from); /* the table moved under it */
    }
    free(src->name);
    src->name = copy;
out:
    common_lock_release(&m->lock);
    return rv;
}

static int mem_unlink(struct storage_fs *fs, const char *path)
{
    assert(path != NULL);
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    int rv = 0;
    struct mem_name *n = dir_find(&m->live, path);
    if (n == NULL) {
        rv = fs_error(fs, COMMON_ENOTFOUND, path, "unlink", "no such file");
    } else {
        dir_remove(&m->live, n);
    }
    common_lock_release(&m->lock);
    return rv;
}

static int mem_sync_dir(struct storage_fs *fs)
{
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    int rv = 0;
    if (should_fail(m, STORAGE_FS_SYNC_DIR)) {
        rv = injected(fs, m->fail_error[STORAGE_FS_SYNC_DIR], NULL,
                      "sync of the directory");
    } else if (dir_copy(&m->durable, &m->live) != 0) {
        rv = fs_error(fs, COMMON_ENOSPACE, NULL, "sync of the directory",
                      "out of memory");
    }
    assert(rv != 0 || m->durable.len == m->live.len);
    common_lock_release(&m->lock);
    return rv;
}

static int mem_list(struct storage_fs *fs,
                    int (*fn)(void *data, const char *name),
                    void *data)
{
    assert(fn != NULL);
    struct mem_fs *m = mem_of(fs);
    /* Copy the names out, so that @fn may call back into the fs. */
    common_lock_take(&m->lock);
    size_t n = m->live.len;
    char **names = calloc(n > 0 ? n : 1, sizeof *names);
    bool ok = names != NULL;
    for (size_t k = 0; ok && k < n; k++) {
        names[k] = fs_strdup(m->live.names[k].name);
        ok = names[k] != NULL;
    }
    common_lock_release(&m->lock);
    int rv =
        ok ? 0 : fs_error(fs, COMMON_ENOMEM, NULL, "list", "out of memory");
    for (size_t k = 0; rv == 0 && k < n; k++) {
        rv = fn(data, names[k]);
    }
    for (size_t k = 0; names != NULL && k < n; k++) {
        free(names[k]);
    }
    free(names);
    return rv;
}

static void mem_destroy(struct storage_fs *fs)
{
    struct mem_fs *m = mem_of(fs);
    dir_clear(&m->live);
    dir_clear(&m->durable);
    assert(m->live.len == 0 && m->durable.len == 0);
    free(m->live.names);
    free(m->durable.names);
    common_lock_fini(&m->lock);
    free(m);
    free(fs);
}

static const struct storage_fs_vtable mem_vtable = {
    .open = mem_open,
    .close = mem_close,
    .size = mem_size,
    .read = mem_read,
    .append = mem_append,
    .truncate = mem_truncate,
    .sync = mem_sync,
    .rename = mem_rename,
    .unlink = mem_unlink,
    .sync_dir = mem_sync_dir,
    .list = mem_list,
    .destroy = mem_destroy,
};

int storage_fs_mem_new(uint64_t seed, struct storage_fs **out)
{
    assert(out != NULL);
    *out = NULL;
    struct storage_fs *fs = calloc(1, sizeof *fs);
    struct mem_fs *m = calloc(1, sizeof *m);
    if (fs == NULL || m == NULL) {
        free(fs);
        free(m);
        return COMMON_ENOMEM;
    }
    if (common_lock_init(&m->lock) != 0) {
        free(fs);
        free(m);
        return COMMON_ENOMEM;
    }
    common_prng_seed(&m->prng, seed);
    for (int k = 0; k < MEM_FAIL_KINDS; k++) {
        m->fail_countdown[k] = -1;
    }
    fs->vt = &mem_vtable;
    fs->impl = m;
    fs->root = "mem";
    *out = fs;
    return 0;
}

/* Puts an inode back to what a crash leaves of it. */
static void inode_crash(struct mem_fs *m, struct mem_inode *ino, bool tear)
{
    if (ino->appends_only) {
        /* The live bytes start with the durable ones: cutting is enough. */
        size_t keep = ino->durable_len;
        if (tear && ino->data.len > keep) {
            size_t last = ino->last_append;
            keep = last + (size_t)common_prng_below(
                              &m->prng, (uint64_t)(ino->data.len - last) + 1);
        }
        ino->data.len = keep;
    } else {
        common_vec_fini(&ino->data);
        ino->data = ino->durable;
        common_vec_init(&ino->durable);
    }
    /* Whatever survived is on the disk now. */
    inode_sync(ino);
    assert(ino->appends_only && ino->data.len == ino->durable_len);
}

void storage_fs_mem_set_single_threaded(struct storage_fs *fs)
{
    if (fs != NULL && fs->vt == &mem_vtable) {
        common_lock_switch_off(&mem_of(fs)->lock);
    }
}

void storage_fs_mem_crash(struct storage_fs *fs, bool tear)
{
    if (fs == NULL || fs->vt != &mem_vtable) {
        return;
    }
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    m->generation++;
    for (size_t k = 0; k < m->durable.len; k++) {
        inode_crash(m, m->durable.names[k].inode, tear);
    }
    /* Out of memory a name may go missing here; nothing else can fail. */
    dir_clear(&m->live);
    for (size_t k = 0; k < m->durable.len; k++) {
        (void)dir_add(&m->live, m->durable.names[k].name,
                      m->durable.names[k].inode);
    }
    assert(m->live.len <= m->durable.len);
    common_lock_release(&m->lock);
}

void storage_fs_mem_fail(struct storage_fs *fs,
                         enum storage_fs_op op,
                         int n,
                         int error)
{
    /* One countdown per kind of call; the error is one of ours (negative)
     * or 0 for COMMON_EIO: injected() hands it to fs_error(). */
    _Static_assert(MEM_FAIL_KINDS == STORAGE_FS_SYNC_DIR + 1,
                   "a countdown for every kind of call");
    assert(error <= 0);
    if (fs == NULL || fs->vt != &mem_vtable || (int)op < 1 ||
        (int)op >= MEM_FAIL_KINDS) {
        return;
    }
    struct mem_fs *m = mem_of(fs);
    common_lock_take(&m->lock);
    m->fail_countdown[op] = n < 0 ? -1 : n;
    m->fail_error[op] = error != 0 ? error : COMMON_EIO;
    common_lock_release(&m->lock);
}
