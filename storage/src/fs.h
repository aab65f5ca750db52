/*
 * What the two file layers (fs_posix.c, fs_mem.c) and the WAL share: the
 * one definition of an open file, the helpers that fill fs->error, and
 * small helpers for messages and arrays.
 */
#ifndef STORAGE_FS_H
#define STORAGE_FS_H

#include <stdarg.h>
#include <stdint.h>

#include "storage/storage.h"

/* An open file of either layer; each layer uses its own fields. */
struct storage_file
{
    char *name;              /* relative to the root, for messages */
    int fd;                  /* posix: the descriptor */
    struct mem_inode *inode; /* mem: the file's contents */
    uint64_t generation;     /* mem: the crash epoch it was opened in */
};

/* Formats "ROOT/NAME: OP: WHAT" into fs->error and returns @code. */
int fs_error(struct storage_fs *fs,
             int code,
             const char *name,
             const char *op,
             const char *what);

/* The smallest capacity storage's arrays grow to (common_grow). */
#define STORAGE_MIN_CAP 8

/* vsnprintf into @dst: messages are cut to fit, which is expected. */
void storage_msgf(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A copy of @name with room for nothing else; NULL when out of memory. */
char *fs_strdup(const char *name);

#endif /* STORAGE_FS_H */
