/*
 * storage: where a node's Raft state lives between crashes - the hard state
 * (term, vote, commit) and the log entries its core asked to persist.
 *
 * A storage is an object behind a small vtable, so the node runtime never
 * knows which one it has:
 *   - storage_mem: a perfect disk in memory. Everything written is kept,
 *     and it outlives the node that writes to it, so the harness can crash
 *     a node (throw away everything else) and restart it from here.
 *   - (durability issue) a write-ahead log on files, and an in-memory disk
 *     with crash semantics (unsynced writes lost, last write torn).
 *
 * storage_write() returns only once the batch is durable: the node acts on
 * the data (votes, acknowledgements, commits) only after that.
 *
 * Errors: 0 or a negative COMMON_E* code; storage_error() then says what and
 * where (file, offset) in a human-readable message.
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

/* What a storage holds, as loaded at boot. */
struct storage_state
{
    struct raft_hard_state hard_state;
    raft_index snapshot_index; /* 0: no snapshot; entries start after it */
    raft_term snapshot_term;
    const struct raft_entry *entries; /* owned by the storage; valid until
                                         its next call */
    size_t n_entries;
};

struct storage;

struct storage_vtable
{
    int (*load)(struct storage *s, struct storage_state *out);
    int (*write)(struct storage *s, const struct storage_batch *b);
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
const char *storage_error(const struct storage *s);
/* storage_free(NULL) is harmless. */
void storage_free(struct storage *s);

/* A perfect in-memory disk. */
int storage_mem_new(struct storage **out);
/* Writes done so far, and entries stored (for tests and status). */
uint64_t storage_mem_writes(const struct storage *s);

#endif /* STORAGE_STORAGE_H */
