/*
 * The write-ahead log's private state, shared by wal.c (the write path and
 * snapshots), recovery.c (load), snapshot.c (snapshot files) and
 * invariants.c (what all of them rely on, checked).
 *
 * The WAL keeps a small model of what is durable - the hard state, the
 * snapshot, the log's index range and the term of every entry as runs -
 * so that writes and snapshots can be checked and decided without reading
 * the disk. recovery.c builds the model; every successful write updates
 * it after the data is durable.
 */
#ifndef STORAGE_WAL_H
#define STORAGE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <assert.h>

#include "format.h"
#include "fs.h"

/* "%016llx-%016llx.log" and "snapshot-%016llx.snap.tmp" fit. */
#define WAL_NAME_MAX 48

struct wal_segment
{
    uint64_t seq;
    raft_index first_index;
    char name[WAL_NAME_MAX];
};

/* Entries from @first up to the next run (or the last index) have @term. */
struct wal_term_run
{
    raft_index first;
    raft_term term;
};

/* What the last load handed out: freed at the storage's next call. */
struct wal_loaded
{
    uint8_t **bufs; /* segment file contents; entries point into them */
    size_t n_bufs;
    struct raft_entry *entries;
    uint8_t *snapshot; /* the snapshot file's contents */
};

struct wal
{
    struct storage *s;
    struct storage_fs *fs;
    struct storage_wal_options opts;
    bool loaded; /* the model below reflects the disk */
    bool failed; /* a write failed: refuse everything (s->error says) */
    char failure[256];

    struct raft_hard_state hs; /* as written (what a load returns) */
    /* A later hard state that only moves the commit index, not written
     * until the next batch is (wal.c). */
    struct raft_hard_state hs_held;
    bool has_held;
    bool has_snapshot;
    raft_index snap_index;
    raft_term snap_term;
    /* The log holds entries base+1 .. last; base is the snapshot index
     * (0 without one) and base_term its term. */
    raft_index base;
    raft_term base_term;
    raft_index last;
    struct wal_term_run *runs;
    size_t n_runs;
    size_t cap_runs;

    /* Segment files in order; the last one is open for appending. */
    struct wal_segment *segs;
    size_t n_segs;
    size_t cap_segs;
    struct storage_file *cur;
    uint64_t cur_size;

    struct common_vec buf; /* a batch's records */

    struct wal_loaded out;
};

#define WAL_SEGMENT_RECORD (WAL_RECORD_HEADER + WAL_SEGMENT_PAYLOAD)

/* Names: "SEQ-FIRST.log" (16 hex digits each) and "snapshot-INDEX.snap". */
void wal_segment_name(char *buf, uint64_t seq, raft_index first);
bool wal_parse_segment_name(const char *name, uint64_t *seq, raft_index *first);
void wal_snapshot_name(char *buf, raft_index index);
bool wal_parse_snapshot_name(const char *name, raft_index *index);
/* "snapshot-INDEX.snap.tmp": a snapshot that was being written. */
bool wal_is_snapshot_tmp(const char *name);

/* Sets s->error to "ROOT/NAME: FMT..." (or "ROOT: FMT..." without a name)
 * and returns @code. */
int wal_errorf(struct wal *w, int code, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A file layer call failed with @rv: the storage is failed from now on,
 * with the file layer's message. Returns @rv. */
int wal_fail(struct wal *w, int rv);

/* Reads a whole file into a fresh buffer (*buf owned by the caller). */
int wal_read_file(struct wal *w, const char *name, uint8_t **buf, size_t *len);

/* Term runs. */
int wal_runs_append(struct wal *w, raft_index index, raft_term term);
void wal_runs_truncate(struct wal *w, raft_index from);
void wal_runs_drop_through(struct wal *w, raft_index index);
/* Term of the entry at @index (base+1 .. last), or of base itself. */
raft_term wal_term_at(const struct wal *w, raft_index index);

/* Load (recovery.c): rebuilds the model from the disk. */
int wal_recover(struct wal *w, struct storage_state *out);
void wal_loaded_free(struct wal *w);

/* Snapshot files (snapshot.c). */
int wal_snapshot_write(struct wal *w,
                       const struct storage_snapshot_meta *meta,
                       uint32_t flags,
                       const void *data,
                       size_t len);
/* Reads and checks snapshot file @name: COMMON_ECORRUPT names the file
 * and the byte offset. *buf (owned by the caller) holds what out points
 * into. */
int wal_snapshot_read(struct wal *w,
                      const char *name,
                      uint8_t **buf,
                      struct snap_decoded *out);

/* Invariants (invariants.c): the WAL's own, after every call, and the
 * encode/decode pairs of its write path, after every encoding. WAL_CHECK()
 * runs them in builds with RAFTKV_INVARIANTS, which define
 * STORAGE_INVARIANTS, and compiles to nothing in others; tests may call
 * them directly. */
#ifdef STORAGE_INVARIANTS
#define WAL_CHECK(call) (call)
#else
#define WAL_CHECK(call) ((void)0)
#endif

/* The model and the files agree: the model bounded and consistent (the
 * snapshot its base, the commit within the log, term runs ordered), the
 * segments in sequence and named for their headers, the first holding
 * base + 1, and the current one exactly as long as the model says. */
void wal_invariants(const struct wal *w);
/* w->buf decodes to @b: hard state, truncation, entries (index, term,
 * type, data), then a commit counting @records. */
void wal_check_batch_encoding(const struct wal *w,
                              const struct storage_batch *b,
                              uint32_t records);
/* A segment header record (WAL_SEGMENT_RECORD bytes at @record) decodes
 * to @h; a seal record to @next_seq; a snapshot mark and its commit (@len
 * bytes) to @m. */
void wal_check_header_encoding(const uint8_t *record,
                               const struct wal_segment_header *h);
void wal_check_seal_encoding(const uint8_t *record, uint64_t next_seq);
void wal_check_mark_encoding(const uint8_t *records,
                             size_t len,
                             const struct wal_snapshot_mark *m);
/* The snapshot file made of @head, @data and @trailer decodes to @meta,
 * @flags and @data. */
void wal_check_snapshot_encoding(const struct common_vec *head,
                                 const struct storage_snapshot_meta *meta,
                                 uint32_t flags,
                                 const void *data,
                                 size_t len,
                                 const uint8_t *trailer);

#endif /* STORAGE_WAL_H */
