/*
 * storage_fs over the real file system: one directory, files opened
 * relative to a descriptor of it (openat, renameat, unlinkat), so that the
 * directory itself can be fsync'ed to make creations, renames and unlinks
 * durable. Appends go through O_APPEND writes, data reaches the disk with
 * fdatasync(), reads are pread() loops.
 *
 * Every failure names the full path, the operation and the errno text;
 * ENOSPC and EDQUOT become COMMON_ENOSPACE, ENOENT COMMON_ENOTFOUND, and
 * anything else COMMON_EIO.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

struct posix_fs
{
    int dirfd;
    char *root;
};

int fs_error(struct storage_fs *fs,
             int code,
             const char *name,
             const char *op,
             const char *what)
{
    /* An error code, with what failed: the caller returns it. */
    assert(code < 0 && op != NULL && what != NULL);
    if (name != NULL) {
        storage_msgf(fs->error, sizeof fs->error, "%s/%s: %s: %s", fs->root,
                     name, op, what);
    } else {
        storage_msgf(fs->error, sizeof fs->error, "%s: %s: %s", fs->root, op,
                     what);
    }
    return code;
}

char *fs_strdup(const char *name)
{
    assert(name != NULL);
    size_t len = strlen(name);
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, name, len + 1);
    }
    return copy;
}

static int errno_code(int err)
{
    /* Called after a failure, which set errno. */
    assert(err > 0);
    switch (err) {
        case ENOSPC:
        case EDQUOT:
            return COMMON_ENOSPACE;
        case ENOENT:
            return COMMON_ENOTFOUND;
        case ENOMEM:
            return COMMON_ENOMEM;
        default:
            return COMMON_EIO;
    }
}

/* Fills fs->error from errno @err. */
static int sys_error(struct storage_fs *fs,
                     const char *name,
                     const char *op,
                     int err)
{
    assert(err > 0 && op != NULL);
    char text[128];
    if (strerror_r(err, text, sizeof text) != 0) {
        snprintf(text, sizeof text, "errno %d", err);
    }
    return fs_error(fs, errno_code(err), name, op, text);
}

static int posix_open(struct storage_fs *fs,
                      const char *path,
                      bool create,
                      struct storage_file **out)
{
    struct posix_fs *p = fs->impl;
    assert(p->dirfd >= 0 && path != NULL && out != NULL);
    struct storage_file *f = calloc(1, sizeof *f);
    char *name = fs_strdup(path);
    if (f == NULL || name == NULL) {
        free(f);
        free(name);
        return fs_error(fs, COMMON_ENOMEM, path, "open", "out of memory");
    }
    int flags = O_RDWR | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd;
    do {
        fd = openat(p->dirfd, path, flags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int rv = sys_error(fs, path, "open", errno);
        free(name);
        free(f);
        return rv;
    }
    f->fd = fd;
    f->name = name;
    *out = f;
    return 0;
}

static int posix_close(struct storage_fs *fs, struct storage_file *f)
{
    assert(f != NULL && f->fd >= 0);
    int rv = 0;
    if (close(f->fd) != 0 && errno != EINTR) {
        rv = sys_error(fs, f->name, "close", errno);
    }
    free(f->name);
    free(f);
    return rv;
}

static int posix_size(struct storage_fs *fs,
                      struct storage_file *f,
                      uint64_t *size)
{
    assert(f->fd >= 0 && size != NULL);
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        return sys_error(fs, f->name, "fstat", errno);
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

static int posix_read(struct storage_fs *fs,
                      struct storage_file *f,
                      uint64_t offset,
                      void *buf,
                      size_t len,
                      size_t *got)
{
    assert(f->fd >= 0 && got != NULL && (buf != NULL || len == 0));
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done;
        if (chunk > ((size_t)1 << 30)) {
            chunk = (size_t)1 << 30;
        }
        ssize_t n =
            pread(f->fd, (uint8_t *)buf + done, chunk, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return sys_error(fs, f->name, "read", errno);
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

static int posix_append(struct storage_fs *fs,
                        struct storage_file *f,
                        const void *buf,
                        size_t len)
{
    assert(f->fd >= 0 && (buf != NULL || len == 0));
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done;
        if (chunk > ((size_t)1 << 30)) {
            chunk = (size_t)1 << 30;
        }
        ssize_t n = write(f->fd, (const uint8_t *)buf + done, chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return sys_error(fs, f->name, "write", errno);
        }
        if (n == 0) {
            return fs_error(fs, COMMON_EIO, f->name, "write", "no progress");
        }
        done += (size_t)n;
    }
    return 0;
}

static int posix_truncate(struct storage_fs *fs,
                          struct storage_file *f,
                          uint64_t size)
{
    assert(f->fd >= 0);
    int rc;
    do {
        rc = ftruncate(f->fd, (off_t)size);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        return sys_error(fs, f->name, "ftruncate", errno);
    }
    return 0;
}

static int posix_sync(struct storage_fs *fs, struct storage_file *f)
{
    assert(f->fd >= 0);
    /* No retry on EINTR or anything else: after a failed fdatasync the
     * kernel may have dropped the dirty pages, and a second call can
     * report success for data that never reached the disk. */
    if (fdatasync(f->fd) != 0) {
        return sys_error(fs, f->name, "fdatasync", errno);
    }
    return 0;
}

static int posix_rename(struct storage_fs *fs, const char *from, const char *to)
{
    struct posix_fs *p = fs->impl;
    assert(p->dirfd >= 0 && from != NULL && to != NULL);
    if (renameat(p->dirfd, from, p->dirfd, to) != 0) {
        return sys_error(fs, from, "rename", errno);
    }
    return 0;
}

static int posix_unlink(struct storage_fs *fs, const char *path)
{
    struct posix_fs *p = fs->impl;
    assert(p->dirfd >= 0 && path != NULL);
    if (unlinkat(p->dirfd, path, 0) != 0) {
        return sys_error(fs, path, "unlink", errno);
    }
    return 0;
}

static int posix_sync_dir(struct storage_fs *fs)
{
    struct posix_fs *p = fs->impl;
    assert(p->dirfd >= 0);
    if (fsync(p->dirfd) != 0) {
        return sys_error(fs, NULL, "fsync of the directory", errno);
    }
    return 0;
}

static int posix_list(struct storage_fs *fs,
                      int (*fn)(void *data, const char *name),
                      void *data)
{
    assert(fn != NULL);
    DIR *d = opendir(fs->root);
    if (d == NULL) {
        return sys_error(fs, NULL, "opendir", errno);
    }
    int rv = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0) {
                rv = sys_error(fs, NULL, "readdir", errno);
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        rv = fn(data, de->d_name);
        if (rv != 0) {
            break;
        }
    }
    closedir(d);
    return rv;
}

static void posix_destroy(struct storage_fs *fs)
{
    struct posix_fs *p = fs->impl;
    assert(p->dirfd >= 0 && p->root == fs->root);
    close(p->dirfd);
    free(p->root);
    free(p);
    free(fs);
}

static const struct storage_fs_vtable posix_vtable = {
    .open = posix_open,
    .close = posix_close,
    .size = posix_size,
    .read = posix_read,
    .append = posix_append,
    .truncate = posix_truncate,
    .sync = posix_sync,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .sync_dir = posix_sync_dir,
    .list = posix_list,
    .destroy = posix_destroy,
};

/* mkdir -p: creates @dir and its missing parents (mode 0755). */
static int make_dirs(char *dir, char *why, size_t why_len)
{
    /* storage_fs_posix_open() refused an empty name. */
    assert(dir != NULL && dir[0] != '\0');
    size_t len = strlen(dir);
    for (size_t k = 1; k <= len; k++) {
        if (dir[k] != '/' && dir[k] != '\0') {
            continue;
        }
        char saved = dir[k];
        dir[k] = '\0';
        int rc = mkdir(dir, 0755);
        int err = errno;
        struct stat st;
        /* An existing directory is fine, whatever mkdir said about it
         * (EACCES on a parent we may not write to, for one). */
        if (rc != 0 && err != EEXIST &&
            !(stat(dir, &st) == 0 && S_ISDIR(st.st_mode))) {
            char text[128];
            if (strerror_r(err, text, sizeof text) != 0) {
                snprintf(text, sizeof text, "errno %d", err);
            }
            snprintf(why, why_len, "%s: mkdir: %s", dir, text);
            dir[k] = saved;
            return errno_code(err);
        }
        dir[k] = saved;
    }
    return 0;
}

int storage_fs_posix_open(const char *dir,
                          char *why,
                          size_t why_len,
                          struct storage_fs **out)
{
    assert(out != NULL);
    *out = NULL;
    if (dir == NULL || dir[0] == '\0') {
        if (why != NULL && why_len > 0) {
            snprintf(why, why_len, "no directory given");
        }
        return COMMON_EINVAL;
    }
    int rv = COMMON_ENOMEM;
    struct storage_fs *fs = calloc(1, sizeof *fs);
    struct posix_fs *p = calloc(1, sizeof *p);
    char *root = fs_strdup(dir);
    if (fs == NULL || p == NULL || root == NULL) {
        if (why != NULL && why_len > 0) {
            snprintf(why, why_len, "%s: out of memory", dir);
        }
        goto err;
    }
    /* Trailing slashes would show twice in messages. */
    for (size_t n = strlen(root); n > 1 && root[n - 1] == '/'; n--) {
        root[n - 1] = '\0';
    }
    fs->vt = &posix_vtable;
    fs->impl = p;
    fs->root = root;
    p->root = root;
    rv = make_dirs(root, fs->error, sizeof fs->error);
    if (rv != 0) {
        goto err_why;
    }
    p->dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd < 0) {
        rv = sys_error(fs, NULL, "open directory", errno);
        goto err_why;
    }
    *out = fs;
    return 0;

err_why:
    if (why != NULL && why_len > 0) {
        snprintf(why, why_len, "%s", fs->error);
    }
err:
    free(root);
    free(p);
    free(fs);
    return rv;
}

int storage_fs_posix_new(const char *dir, struct storage_fs **out)
{
    assert(out != NULL);
    return storage_fs_posix_open(dir, NULL, 0, out);
}
