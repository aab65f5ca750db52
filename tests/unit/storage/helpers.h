/*
 * Helpers for the storage tests: a model of what a storage must hold (the
 * acknowledged writes and snapshots, applied with the contract's rules),
 * deterministic entry data, and raw access to files under a storage_fs so
 * that tests can tear, flip and delete bytes the way disks do.
 */
#ifndef STORAGE_TEST_HELPERS_H
#define STORAGE_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

/* ------------------------------------------------------------------------ */
/* Entries                                                                   */
/* ------------------------------------------------------------------------ */

/* A batch of entries whose data the helper owns. */
struct th_entries
{
    struct raft_entry *e;
    size_t n;
};

/* @n entries from @first with @term, each @len bytes of data derived from
 * (index, term, salt): the same arguments give the same bytes. */
void th_entries_make(struct th_entries *b,
                     raft_index first,
                     size_t n,
                     raft_term term,
                     size_t len,
                     uint64_t salt);
void th_entries_free(struct th_entries *b);

/* ------------------------------------------------------------------------ */
/* The model                                                                 */
/* ------------------------------------------------------------------------ */

struct th_model_entry
{
    raft_term term;
    enum raft_entry_type type;
    uint8_t *data;
    size_t len;
};

struct th_model
{
    struct raft_hard_state hs; /* as a load must return it */
    /* A hard state that only moved the commit index, held by the storage
     * until its next write that is not of that kind (storage.h). */
    struct raft_hard_state hs_held;
    bool has_held;
    bool has_snapshot;
    struct storage_snapshot_meta snap;
    uint8_t *snap_data;
    size_t snap_len;
    struct th_model_entry *entries; /* from snap.index + 1 */
    size_t n;
    size_t cap;
};

void th_model_init(struct th_model *m);
void th_model_free(struct th_model *m);
void th_model_copy(struct th_model *to, const struct th_model *from);
raft_index th_model_last(const struct th_model *m);
raft_term th_model_term_at(const struct th_model *m, raft_index index);
/* The contract's rules: hard state (one that only moves the commit index
 * is held until the next write), truncation, entries. */
void th_model_write(struct th_model *m, const struct storage_batch *b);
/* The storage was thrown away and opened again: what it held is gone. */
void th_model_reopened(struct th_model *m);
void th_model_snapshot(struct th_model *m,
                       const struct storage_snapshot_meta *meta,
                       const void *data,
                       size_t len);
/* Does @st hold exactly what @m holds? If not, says what differs. */
bool th_model_matches(const struct th_model *m,
                      const struct storage_state *st,
                      char *why,
                      size_t why_len);
/* Writes @b to both the storage (asserting success) and the model. */
void th_write(struct storage *s,
              struct th_model *m,
              const struct storage_batch *b);
/* Writes @batches batches of @n entries (@len bytes, term @term), each
 * with a hard state {term, 1, the index before the batch}. */
void th_write_batches(struct storage *s,
                      struct th_model *m,
                      int batches,
                      size_t n,
                      raft_term term,
                      size_t len);
/* Loads @s and asserts it matches @m; returns the state. */
void th_load_expect(struct storage *s,
                    const struct th_model *m,
                    struct storage_state *st);

/* ------------------------------------------------------------------------ */
/* Raw files                                                                 */
/* ------------------------------------------------------------------------ */

/* Reads a whole file (asserting success); *buf is malloc'ed. */
void th_read_file(struct storage_fs *fs,
                  const char *name,
                  uint8_t **buf,
                  size_t *len);
/* Replaces a file's contents durably. */
void th_write_file(struct storage_fs *fs,
                   const char *name,
                   const uint8_t *buf,
                   size_t len);
/* Names in the root ending in @suffix, sorted; returns how many (at most
 * @max, each up to 63 characters). */
size_t th_list(struct storage_fs *fs,
               const char *suffix,
               char (*names)[64],
               size_t max);
/* A WAL over @fs with segments of @segment_bytes (0: the default). */
struct storage *th_wal(struct storage_fs *fs, uint64_t segment_bytes);
/* A configuration of voters 1..n. */
struct raft_configuration th_conf(unsigned n);
/* Does @haystack contain @needle? */
bool th_contains(const char *haystack, const char *needle);

#endif /* STORAGE_TEST_HELPERS_H */
