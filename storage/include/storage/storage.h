/*
 * storage: where a node's Raft state lives between crashes - the hard state
 * (term, vote, commit), the log entries its core asked to persist, and the
 * latest snapshot of its state machine.
 *
 * A storage is an object behind a small vtable, so the node runtime never
 * knows which one it has:
 *   - storage_mem: a perfect disk in memory. Everything written is kept,
 *     and it outlives the node that writes to it, so the harness can crash
 *     a node (throw away everything else) and restart it from here.
 *   - storage_wal: a write-ahead log in segment files plus snapshot files
 *     (docs/storage.md has the formats byte by byte), over a file layer
 *     (struct storage_fs) that is either the real file system or an
 *     in-memory one with crash semantics (unsynced writes lost on crash,
 *     optionally the last unsynced write torn).
 *
 * storage_write() and storage_save_snapshot() return only once what they
 * were given is durable: the node acts on it (votes, acknowledgements,
 * commits) only after that. One exception: a hard state that only moves
 * the commit index (volatile in Raft) is held and written with the next
 * write that is not of that kind, so it costs no fdatasync of its own;
 * after a crash the commit index loaded may be lower than the last one
 * given (the core raises it to the snapshot's index at boot). A failing
 * write or sync is reported, and the storage refuses every later write:
 * the node must stop acknowledging.
 *
 * Errors: 0 or a negative COMMON_E* code; storage_error() then says what and
 * where (file, byte offset) in a human-readable message.
 */
#ifndef STORAGE_STORAGE_H
#define STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "raft/raft.h"

/* What one Raft update asks to persist, applied in this order: hard state,
 * truncation, entries. */
struct storage_batch
{
    const struct raft_hard_state *hard_state; /* NULL: unchanged */
    raft_index truncate_from;                 /* 0: none */
    const struct raft_entry *entries;         /* borrowed for the call */
    size_t n_entries;
};

/* Does @b only move the commit index of the hard state @written (the
 * last one written)? Such a batch is held for the next write (above). */
static inline bool storage_batch_commit_only(
    const struct storage_batch *b,
    const struct raft_hard_state *written)
{
    return b->hard_state != NULL && b->truncate_from == 0 &&
           b->n_entries == 0 && b->hard_state->term == written->term &&
           b->hard_state->vote == written->vote;
}

/* A snapshot's metadata: it covers the log up to and including index. */
struct storage_snapshot_meta
{
    raft_index index;
    raft_term term;
    struct raft_configuration conf;
};

/* What a storage holds, as loaded at boot. */
struct storage_state
{
    struct raft_hard_state hard_state;
    /* The latest snapshot, if any (has_snapshot false: index 0, no data). */
    bool has_snapshot;
    /* Its configuration's address table lives as long as snapshot_data. */
    struct storage_snapshot_meta snapshot;
    const void *snapshot_data; /* owned by the storage; valid until its next
                                  call */
    size_t snapshot_len;
    raft_index snapshot_index; /* == snapshot.index, 0 without snapshot */
    raft_term snapshot_term;
    /* Entries after the snapshot, contiguous from snapshot_index + 1. */
    const struct raft_entry *entries; /* owned by the storage; valid until
                                         its next call */
    size_t n_entries;
    /* What recovery had to do (e.g. "cut a torn record at the end of
     * 0000000000000001.log at offset 8192"), "" when nothing. */
    char recovery_note[256];
};

struct storage;

struct storage_vtable
{
    int (*load)(struct storage *s, struct storage_state *out);
    int (*write)(struct storage *s, const struct storage_batch *b);
    /* Stores a snapshot durably, then drops log entries <= meta->index
     * (and, if the log does not hold meta->index with meta->term, every
     * entry: the snapshot replaces the log). */
    int (*save_snapshot)(struct storage *s,
                         const struct storage_snapshot_meta *meta,
                         const void *data,
                         size_t len);
    void (*destroy)(struct storage *s);
};

struct storage
{
    const struct storage_vtable *vt;
    void *impl;
    char error[256];
};

int storage_load(struct storage *s, struct storage_state *out);
int storage_write(struct storage *s, const struct storage_batch *b);
int storage_save_snapshot(struct storage *s,
                          const struct storage_snapshot_meta *meta,
                          const void *data,
                          size_t len);
const char *storage_error(const struct storage *s);
/* storage_free(NULL) is harmless. */
void storage_free(struct storage *s);

/* ------------------------------------------------------------------------ */
/* A perfect in-memory disk                                                  */
/* ------------------------------------------------------------------------ */

int storage_mem_new(struct storage **out);
/* Writes done so far (for tests and status). */
uint64_t storage_mem_writes(const struct storage *s);

/* ------------------------------------------------------------------------ */
/* The file layer                                                            */
/* ------------------------------------------------------------------------ */

/* Files as the write-ahead log sees them. Every call returns 0 or a
 * negative COMMON_E* code (COMMON_EIO, COMMON_ENOSPACE, COMMON_ENOTFOUND)
 * and fills fs->error with the path and what failed. Paths are relative to
 * the file system's root directory. */
struct storage_fs;
struct storage_file; /* an open file */

struct storage_fs_vtable
{
    /* Opens for reading and appending; creates when @create. */
    int (*open)(struct storage_fs *fs,
                const char *path,
                bool create,
                struct storage_file **out);
    int (*close)(struct storage_fs *fs, struct storage_file *f);
    int (*size)(struct storage_fs *fs, struct storage_file *f, uint64_t *size);
    int (*read)(struct storage_fs *fs,
                struct storage_file *f,
                uint64_t offset,
                void *buf,
                size_t len,
                size_t *got);
    int (*append)(struct storage_fs *fs,
                  struct storage_file *f,
                  const void *buf,
                  size_t len);
    int (*truncate)(struct storage_fs *fs,
                    struct storage_file *f,
                    uint64_t size);
    int (*sync)(struct storage_fs *fs, struct storage_file *f); /* data */
    int (*rename)(struct storage_fs *fs, const char *from, const char *to);
    int (*unlink)(struct storage_fs *fs, const char *path);
    int (*sync_dir)(struct storage_fs *fs);
    /* Calls @fn for each file name in the root directory. */
    int (*list)(struct storage_fs *fs,
                int (*fn)(void *data, const char *name),
                void *data);
    void (*destroy)(struct storage_fs *fs);
};

struct storage_fs
{
    const struct storage_fs_vtable *vt;
    void *impl;
    char error[256];
    /* Shown before file names in messages (the directory, or "mem");
     * owned by the file system. */
    const char *root;
};

/* The real file system under directory @dir (created with its parents if
 * missing; @dir is copied). */
int storage_fs_posix_new(const char *dir, struct storage_fs **out);
/* The same, and on failure a message naming the path and the errno text
 * in @why (@why_len bytes, may be 0), since there is no fs to hold it. */
int storage_fs_posix_open(const char *dir,
                          char *why,
                          size_t why_len,
                          struct storage_fs **out);

/* An in-memory file system with crash semantics: data is durable only
 * once synced (file contents by sync, creations, renames and unlinks by
 * sync_dir). storage_fs_mem_crash() drops everything unsynced; with
 * @tear it keeps a random prefix of the last unsynced append of each file
 * instead of dropping it (a torn write): the file keeps its unsynced
 * appends up to a random point inside the last one (anywhere from none of
 * it to all of it), as when a disk writes in order and stops part way.
 * A file whose unsynced changes include a truncation goes back to its
 * synced contents. What survives a crash counts as synced; handles opened
 * before it fail with COMMON_EIO (close still works). Survives across WAL
 * instances: the harness keeps one per node. Safe to call from several
 * threads (one lock). Randomness comes from @seed only. */
int storage_fs_mem_new(uint64_t seed, struct storage_fs **out);
/* Promises that from now on one thread makes every call on @fs and its
 * files (the sim driver): it then takes no lock. No-op on a file system
 * that is not in memory. */
void storage_fs_mem_set_single_threaded(struct storage_fs *fs);
/* No-op on a file system that is not in memory. */
void storage_fs_mem_crash(struct storage_fs *fs, bool tear);

/* Failure injection for tests: the @n-th next call of the given kind (0 =
 * the next one) fails with @error (0: COMMON_EIO); -1 disables. A failing
 * append first writes a random prefix of its bytes (possibly none); a
 * failing sync or sync_dir makes nothing durable. No-op on a file system
 * that is not in memory. */
enum storage_fs_op {
    STORAGE_FS_APPEND = 1,
    STORAGE_FS_SYNC = 2,
    STORAGE_FS_SYNC_DIR = 3, /* nothing in the directory becomes durable */
};
void storage_fs_mem_fail(struct storage_fs *fs,
                         enum storage_fs_op op,
                         int n,
                         int error);

/* A disk with faults (storage_fs_fault_new); zeroed: none. */
struct storage_fs_faults
{
    /* Full: the disk takes full_bytes bytes of appends in all; the append
     * that would go beyond writes what still fits and fails with
     * COMMON_ENOSPACE, and so does every later one. */
    bool full;
    uint64_t full_bytes;
    /* fsync EIO: once sync_fail_after syncs (of files or the directory)
     * have succeeded, and/or from sync_fail_at_ns on @clock, every sync
     * fails with COMMON_EIO and makes nothing durable. */
    bool sync_fail_after_set;
    uint64_t sync_fail_after;
    bool sync_fail_at_set;
    uint64_t sync_fail_at_ns;
    /* Slow fsync: every sync first takes a latency uniform in
     * [sync_ns_min, sync_ns_max], handed to @delay (sync_ns_max 0: none). */
    uint64_t sync_ns_min;
    uint64_t sync_ns_max;
    uint64_t seed;                          /* the latencies' PRNG */
    uint64_t (*clock)(void *data);          /* needed for sync_fail_at_ns */
    void (*delay)(void *data, uint64_t ns); /* may be NULL; may sleep */
    void *data;
};

/* Faults injected so far. */
struct storage_fs_fault_stats
{
    uint64_t enospc;     /* appends failed: disk full */
    uint64_t sync_eio;   /* syncs failed with EIO */
    uint64_t slow_syncs; /* syncs delayed */
    uint64_t slow_ns;    /* their latencies in all */
};

/* A file system that passes every call to @inner (borrowed; must outlive
 * it) and lays @cfg's faults over it (copied). Its messages name @inner's
 * root; injected errors say "(injected)". Safe from several threads as
 * long as @inner is. COMMON_EINVAL for a bad @cfg. */
int storage_fs_fault_new(struct storage_fs *inner,
                         const struct storage_fs_faults *cfg,
                         struct storage_fs **out);
/* Zeroes for a file system that is not one of storage_fs_fault_new. */
void storage_fs_fault_stats(struct storage_fs *fs,
                            struct storage_fs_fault_stats *out);

void storage_fs_free(struct storage_fs *fs);

/* ------------------------------------------------------------------------ */
/* The write-ahead log                                                       */
/* ------------------------------------------------------------------------ */

struct storage_wal_options
{
    uint64_t segment_bytes; /* start a new segment beyond this (64 MiB) */
};

void storage_wal_options_default(struct storage_wal_options *o);

/* A write-ahead log over @fs (borrowed; must outlive the storage). Opening
 * does not read anything: storage_load() recovers (and so does the first
 * write or snapshot, if no load came first). docs/storage.md has the
 * formats and the rules; in short:
 *   - storage_write() appends the batch's records and calls fdatasync once;
 *     storage_save_snapshot() writes the snapshot file atomically (temporary
 *     file, fsync, rename, directory fsync), logs it, then deletes the
 *     segments and older snapshot files it covers.
 *   - storage_load() cuts a torn write at the end of the last segment and
 *     says so in recovery_note; any other damage - a bad record with valid
 *     ones after it, a missing or cut-short segment, entries out of order,
 *     a damaged snapshot file, a term or index above RAFT_TERM_MAX or
 *     RAFT_INDEX_MAX - returns COMMON_ECORRUPT with "PATH: offset N: what"
 *     in storage_error(): it refuses to start.
 *   - A batch that does not continue the log, truncates into the snapshot,
 *     commits beyond the log, holds a term or index above the bounds, or a
 *     snapshot older than the one held or beyond the bounds: COMMON_EINVAL
 *     (COMMON_ETOOBIG for an entry over 64 MiB), nothing written, the
 *     storage goes on.
 *   - Any failing file operation returns its error naming the file, and
 *     the storage is failed: every later call returns COMMON_EIO "storage
 *     failed earlier: ...". Recovery by a new instance then finds the
 *     state from before the failed call or after it, never half of it. */
int storage_wal_new(struct storage_fs *fs,
                    const struct storage_wal_options *opts,
                    struct storage **out);

#endif /* STORAGE_STORAGE_H */
