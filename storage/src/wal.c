/*
 * storage_wal: the write path of the write-ahead log and snapshot saving.
 *
 * A write turns one Raft update into records - hard state, truncate,
 * entries (packed about 1 MiB to a record) - closed by a commit record
 * that counts them, appends them with one call and makes them durable
 * with one fdatasync: group commit, one sync per batch however many
 * entries it holds. Recovery applies a batch only once it has read its
 * commit record, so a batch is all or nothing even when a crash tears it.
 *
 * A batch that only moves the commit index (same term and vote, no
 * entries, no truncation) is not written at all: its hard state goes to
 * the disk with the next batch that is.
 * The commit index is volatile state in Raft (Figure 2 of the paper: lost
 * in a crash, learnt again from the leader), so a leader does not wait for
 * a second fdatasync per write before it applies and answers; etcd's raft
 * makes the same call (its MustSync is false for a hard state whose term
 * and vote did not change). Not writing it, rather than writing it
 * without a sync, keeps every append followed by its fdatasync, so a
 * crash can only tear the last write. A commit index loaded below the
 * snapshot's index is raised to it by the core at boot (raft_new).
 *
 * A batch that would take the current segment past segment_bytes opens a
 * new one first (never inside a batch). The new segment's first record is
 * a header carrying its sequence number, the index its first entry will
 * have, and the hard state in force, so that older segments can later be
 * deleted without losing the hard state. It is made durable (fdatasync,
 * directory fsync) before the old segment gets its last record, a seal
 * naming its successor: so a sealed segment always has a successor on the
 * disk, and recovery can tell a missing or cut-short segment from a crash.
 *
 * save_snapshot writes the snapshot file atomically (snapshot.c), appends
 * a snapshot record saying what the snapshot did to the log (dropped the
 * entries it covers, or replaced the log when the log did not hold its
 * index and term), then deletes the segments it wholly covers and older
 * snapshot files.
 *
 * Any failing file operation fails the storage: the error is returned
 * with the file layer's message naming the file, and every later write or
 * save_snapshot returns COMMON_EIO "storage failed earlier: ...". Nothing
 * carries on as if data were safe after the disk said it might not be.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal.h"

/* ------------------------------------------------------------------------ */
/* Names, messages, reading files                                            */
/* ------------------------------------------------------------------------ */

#define WAL_READ_CHUNK ((size_t)1 << 20)

void wal_segment_name(char *buf, uint64_t seq, raft_index first)
{
    int n = snprintf(buf, WAL_NAME_MAX, "%016llx-%016llx.log",
                     (unsigned long long)seq, (unsigned long long)first);
    /* The length wal_parse_segment_name() expects. */
    assert(n == 37);
}

void wal_snapshot_name(char *buf, raft_index index)
{
    int n = snprintf(buf, WAL_NAME_MAX, "snapshot-%016llx.snap",
                     (unsigned long long)index);
    /* The length wal_parse_snapshot_name() expects; ".tmp" still fits. */
    assert(n == 30 && n + 4 < WAL_NAME_MAX);
}

/* Reads exactly 16 lowercase hex digits. */
static bool parse_hex16(const char *p, uint64_t *v)
{
    /* Callers checked the length first: 16 characters are there. */
    assert(p != NULL && v != NULL);
    uint64_t x = 0;
    for (int k = 0; k < 16; k++) {
        char c = p[k];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a') + 10;
        } else {
            return false;
        }
        x = x << 4 | d;
    }
    *v = x;
    return true;
}

bool wal_parse_segment_name(const char *name, uint64_t *seq, raft_index *first)
{
    assert(name != NULL);
    return strlen(name) == 37 && parse_hex16(name, seq) && name[16] == '-' &&
           parse_hex16(name + 17, first) && strcmp(name + 33, ".log") == 0;
}

bool wal_parse_snapshot_name(const char *name, raft_index *index)
{
    assert(name != NULL);
    return strlen(name) == 30 && strncmp(name, "snapshot-", 9) == 0 &&
           parse_hex16(name + 9, index) && strcmp(name + 25, ".snap") == 0;
}

bool wal_is_snapshot_tmp(const char *name)
{
    assert(name != NULL);
    raft_index index;
    return strlen(name) == 34 && strncmp(name, "snapshot-", 9) == 0 &&
           parse_hex16(name + 9, &index) && strcmp(name + 25, ".snap.tmp") == 0;
}

int wal_errorf(struct wal *w, int code, const char *name, const char *fmt, ...)
{
    /* An error: the caller returns what this returns. */
    assert(code < 0 && fmt != NULL);
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (name != NULL) {
        storage_msgf(w->s->error, sizeof w->s->error, "%s/%s: %s", w->fs->root,
                     name, what);
    } else {
        storage_msgf(w->s->error, sizeof w->s->error, "%s: %s", w->fs->root,
                     what);
    }
    return code;
}

int wal_fail(struct wal *w, int rv)
{
    assert(rv < 0);
    storage_msgf(w->s->error, sizeof w->s->error, "%s", w->fs->error);
    if (!w->failed) {
        w->failed = true;
        storage_msgf(w->failure, sizeof w->failure, "%s", w->fs->error);
    }
    return rv;
}

int wal_read_file(struct wal *w, const char *name, uint8_t **buf, size_t *len)
{
    struct storage_fs *fs = w->fs;
    struct storage_file *f;
    int rv = fs->vt->open(fs, name, false, &f);
    if (rv != 0) {
        goto err;
    }
    uint64_t size;
    rv = fs->vt->size(fs, f, &size);
    if (rv != 0) {
        goto err_close;
    }
    if (size > SIZE_MAX - 1) {
        rv = wal_errorf(w, COMMON_ETOOBIG, name, "file of %llu bytes",
                        (unsigned long long)size);
        goto err_close_msg;
    }
    uint8_t *data = malloc((size_t)size + 1);
    if (data == NULL) {
        rv = wal_errorf(w, COMMON_ENOMEM, name,
                        "no memory to read its %llu bytes",
                        (unsigned long long)size);
        goto err_close_msg;
    }
    /* Through a small buffer that stays in the cache: on virtual machines
     * where faulting in fresh pages under the kernel's copy is slow this
     * reads a segment about a quarter faster (docs/storage.md), and the
     * extra copy costs little elsewhere. */
    size_t chunk_len = size < WAL_READ_CHUNK ? (size_t)size : WAL_READ_CHUNK;
    uint8_t *chunk = malloc(chunk_len + 1);
    if (chunk == NULL) {
        free(data);
        rv = wal_errorf(w, COMMON_ENOMEM, name, "no memory to read it");
        goto err_close_msg;
    }
    size_t got = 0;
    while (rv == 0 && got < size) {
        size_t want = (size_t)size - got;
        want = want < chunk_len ? want : chunk_len;
        size_t n = 0;
        rv = fs->vt->read(fs, f, got, chunk, want, &n);
        memcpy(data + got, chunk, n);
        got += n;
        if (n < want) {
            break;
        }
    }
    free(chunk);
    if (rv == 0 && got != size) {
        free(data);
        rv = wal_errorf(w, COMMON_EIO, name,
                        "read %zu bytes of %llu: the file shrank", got,
                        (unsigned long long)size);
        goto err_close_msg;
    }
    if (rv != 0) {
        free(data);
        goto err_close;
    }
    fs->vt->close(fs, f);
    assert(got == size);
    *buf = data;
    *len = (size_t)size;
    return 0;

err_close:
    fs->vt->close(fs, f);
err:
    storage_msgf(w->s->error, sizeof w->s->error, "%s", fs->error);
    return rv;
err_close_msg:
    fs->vt->close(fs, f);
    return rv;
}

/* ------------------------------------------------------------------------ */
/* The term model                                                            */
/* ------------------------------------------------------------------------ */

static int runs_reserve(struct wal *w, size_t extra)
{
    int rv = common_grow(&w->runs, &w->cap_runs, w->n_runs + extra,
                         sizeof *w->runs, STORAGE_MIN_CAP);
    assert(rv != 0 || w->cap_runs >= w->n_runs + extra);
    return rv;
}

int wal_runs_append(struct wal *w, raft_index index, raft_term term)
{
    /* Entries come in index order (check_batch, recovery's replay). */
    assert(w->n_runs == 0 || w->runs[w->n_runs - 1].first < index);
    if (w->n_runs > 0 && w->runs[w->n_runs - 1].term == term) {
        return 0;
    }
    int rv = runs_reserve(w, 1);
    if (rv != 0) {
        return rv;
    }
    w->runs[w->n_runs].first = index;
    w->runs[w->n_runs].term = term;
    w->n_runs++;
    return 0;
}

void wal_runs_truncate(struct wal *w, raft_index from)
{
    while (w->n_runs > 0 && w->runs[w->n_runs - 1].first >= from) {
        w->n_runs--;
    }
    assert(w->n_runs == 0 || w->runs[w->n_runs - 1].first < from);
}

void wal_runs_drop_through(struct wal *w, raft_index index)
{
    size_t k = 0;
    /* Runs that end at or before @index go; the one straddling it now
     * starts after it. */
    while (k < w->n_runs) {
        raft_index end = k + 1 < w->n_runs ? w->runs[k + 1].first - 1 : w->last;
        if (end > index) {
            break;
        }
        k++;
    }
    if (k > 0) {
        memmove(w->runs, w->runs + k, (w->n_runs - k) * sizeof *w->runs);
        w->n_runs -= k;
    }
    if (w->n_runs > 0 && w->runs[0].first <= index) {
        w->runs[0].first = index + 1;
    }
    assert(w->n_runs == 0 || w->runs[0].first == index + 1);
}

raft_term wal_term_at(const struct wal *w, raft_index index)
{
    if (index == w->base) {
        return w->base_term;
    }
    if (index < w->base || index > w->last || w->n_runs == 0) {
        return 0;
    }
    size_t lo = 0;
    size_t hi = w->n_runs; /* the answer is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->runs[mid].first <= index) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    /* The first run starts at base + 1, so some run holds @index. */
    assert(w->runs[lo].first <= index);
    return w->runs[lo].term;
}

/* ------------------------------------------------------------------------ */
/* Appending batches                                                         */
/* ------------------------------------------------------------------------ */

/* Starts the next segment, in an order that keeps "a sealed segment has a
 * successor" true at every instant:
 *   1. create it holding only its header, fdatasync it, fsync the
 *      directory - it now exists for good;
 *   2. append a seal record naming it to the current segment, fdatasync.
 * A crash between the two leaves an unsealed segment followed by one that
 * holds only its header: recovery removes the latter. */
static int start_segment(struct wal *w)
{
    assert((w->cur == NULL) == (w->n_segs == 0));
    struct storage_fs *fs = w->fs;
    if (common_grow(&w->segs, &w->cap_segs, w->n_segs + 1, sizeof *w->segs,
                    STORAGE_MIN_CAP) != 0) {
        return wal_errorf(w, COMMON_ENOMEM, NULL,
                          "no memory for a new segment");
    }
    struct wal_segment seg;
    seg.seq = w->n_segs > 0 ? w->segs[w->n_segs - 1].seq + 1 : 1;
    seg.first_index = w->last + 1;
    wal_segment_name(seg.name, seg.seq, seg.first_index);
    struct wal_segment_header h = {
        .seq = seg.seq,
        .first_index = seg.first_index,
        .hard_state = w->hs,
    };
    uint8_t payload[WAL_SEGMENT_PAYLOAD];
    wal_encode_segment(payload, &h);
    uint8_t head[WAL_SEGMENT_RECORD];
    wal_record_write(head, WAL_SEGMENT, payload, sizeof payload);
    WAL_CHECK(wal_check_header_encoding(head, &h));

    struct storage_file *f;
    int rv = fs->vt->open(fs, seg.name, true, &f);
    if (rv != 0) {
        return wal_fail(w, rv);
    }
    /* A file of that name can only be the remains of a failed attempt. */
    rv = fs->vt->truncate(fs, f, 0);
    if (rv == 0) {
        rv = fs->vt->append(fs, f, head, sizeof head);
    }
    if (rv == 0) {
        rv = fs->vt->sync(fs, f);
    }
    if (rv == 0) {
        rv = fs->vt->sync_dir(fs);
    }
    if (rv == 0 && w->cur != NULL) {
        uint8_t seal[WAL_RECORD_HEADER + WAL_SEAL_PAYLOAD];
        uint8_t sp[WAL_SEAL_PAYLOAD];
        wal_encode_seal(sp, seg.seq);
        wal_record_write(seal, WAL_SEAL, sp, sizeof sp);
        WAL_CHECK(wal_check_seal_encoding(seal, seg.seq));
        rv = fs->vt->append(fs, w->cur, seal, sizeof seal);
        if (rv == 0) {
            rv = fs->vt->sync(fs, w->cur);
        }
    }
    if (rv != 0) {
        wal_fail(w, rv);
        fs->vt->close(fs, f);
        return rv;
    }
    if (w->cur != NULL) {
        fs->vt->close(fs, w->cur);
    }
    w->cur = f;
    w->cur_size = sizeof head;
    w->segs[w->n_segs++] = seg;
    return 0;
}

/* Makes the batch in w->buf durable with one append and one fdatasync: in
 * the current segment, or in a new one when it would grow the current one
 * past segment_bytes. */
static int append_batch(struct wal *w)
{
    /* A batch always ends in its commit record. */
    assert(w->buf.len >= WAL_RECORD_HEADER + WAL_COMMIT_PAYLOAD);
    struct storage_fs *fs = w->fs;
    bool full = w->cur_size > WAL_SEGMENT_RECORD &&
                w->cur_size + w->buf.len > w->opts.segment_bytes;
    if (w->cur == NULL || full) {
        int rv = start_segment(w);
        if (rv != 0) {
            return rv;
        }
    }
    int rv = fs->vt->append(fs, w->cur, w->buf.data, w->buf.len);
    if (rv == 0) {
        rv = fs->vt->sync(fs, w->cur);
    }
    if (rv != 0) {
        return wal_fail(w, rv);
    }
    w->cur_size += w->buf.len;
    return 0;
}

/* Appends a commit record counting the @records before it. */
static int batch_commit(struct wal *w, uint32_t records)
{
    /* wal_write() returns before an empty batch. */
    assert(records >= 1);
    uint8_t p[WAL_COMMIT_PAYLOAD];
    wal_encode_commit(p, records);
    return wal_record_append(&w->buf, WAL_COMMIT, p, sizeof p);
}

/* ------------------------------------------------------------------------ */
/* The storage vtable                                                        */
/* ------------------------------------------------------------------------ */

/* Every call starts here: it ends the life of what the last load handed
 * out, refuses to go on after a failure, and recovers on first use. */
static int begin_call(struct wal *w)
{
    wal_loaded_free(w);
    if (w->failed) {
        storage_msgf(w->s->error, sizeof w->s->error,
                     "storage failed earlier: %s", w->failure);
        return COMMON_EIO;
    }
    if (!w->loaded) {
        struct storage_state st;
        int rv = wal_recover(w, &st);
        wal_loaded_free(w);
        if (rv != 0) {
            return rv;
        }
    }
    assert(w->loaded && !w->failed);
    return 0;
}

static int wal_load(struct storage *s, struct storage_state *out)
{
    struct wal *w = s->impl;
    assert(out != NULL);
    wal_loaded_free(w);
    if (w->failed) {
        storage_msgf(s->error, sizeof s->error, "storage failed earlier: %s",
                     w->failure);
        return COMMON_EIO;
    }
    int rv = wal_recover(w, out);
    WAL_CHECK(wal_invariants(w));
    return rv;
}

/* The largest entry data that fits one record. */
#define WAL_ENTRY_MAX (WAL_RECORD_MAX - WAL_ENTRIES_HEAD - WAL_ENTRY_HEAD)

/* Checks a batch against the log; *new_last is the last index after it,
 * *term_changes how many term runs it may add. */
static int check_batch(struct wal *w,
                       const struct storage_batch *b,
                       raft_index *new_last,
                       size_t *term_changes)
{
    if (b->n_entries > 0 && b->entries == NULL) {
        return wal_errorf(w, COMMON_EINVAL, NULL, "entries missing");
    }
    *term_changes = 0;
    for (size_t k = 0; k < b->n_entries; k++) {
        const struct raft_entry *e = &b->entries[k];
        if (e->index != b->entries[0].index + k) {
            return wal_errorf(w, COMMON_EINVAL, NULL,
                              "entry %llu follows %llu in one batch",
                              (unsigned long long)e->index,
                              (unsigned long long)b->entries[0].index + k - 1);
        }
        if (!wal_entry_type_valid(e->type)) {
            return wal_errorf(w, COMMON_EINVAL, NULL,
                              "entry %llu has unknown type %d",
                              (unsigned long long)e->index, (int)e->type);
        }
        if (e->data.len > WAL_ENTRY_MAX) {
            return wal_errorf(w, COMMON_ETOOBIG, NULL,
                              "entry %llu holds %zu bytes (at most %u)",
                              (unsigned long long)e->index, e->data.len,
                              (unsigned)WAL_ENTRY_MAX);
        }
        if (e->data.len > 0 && e->data.base == NULL) {
            return wal_errorf(w, COMMON_EINVAL, NULL, "entry %llu has no data",
                              (unsigned long long)e->index);
        }
        if (e->index > RAFT_INDEX_MAX || e->term > RAFT_TERM_MAX) {
            /* Recovery would refuse to start on it. */
            return wal_errorf(w, COMMON_EINVAL, NULL,
                              "entry %llu of term %llu is beyond the bound "
                              "2^62",
                              (unsigned long long)e->index,
                              (unsigned long long)e->term);
        }
        if (k == 0 || e->term != b->entries[k - 1].term) {
            (*term_changes)++;
        }
    }
    if (b->hard_state != NULL && (b->hard_state->term > RAFT_TERM_MAX ||
                                  b->hard_state->commit > RAFT_INDEX_MAX)) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "hard state of term %llu, commit %llu is beyond "
                          "the bound 2^62",
                          (unsigned long long)b->hard_state->term,
                          (unsigned long long)b->hard_state->commit);
    }
    raft_index from = b->truncate_from;
    if (from > RAFT_INDEX_MAX) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "truncating from %llu, beyond the bound 2^62",
                          (unsigned long long)from);
    }
    if (from != 0 && from <= w->base) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "truncating from %llu would drop entries the "
                          "snapshot at %llu covers",
                          (unsigned long long)from,
                          (unsigned long long)w->base);
    }
    raft_index expect = w->last + 1;
    if (from != 0 && from < expect) {
        expect = from;
    }
    if (b->n_entries > 0 && b->entries[0].index != expect) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "entry %llu written after %llu",
                          (unsigned long long)b->entries[0].index,
                          (unsigned long long)(expect - 1));
    }
    *new_last =
        b->n_entries > 0 ? b->entries[b->n_entries - 1].index : expect - 1;
    /* Continues the log after the snapshot, within the bound. */
    assert(*new_last >= w->base && *new_last <= RAFT_INDEX_MAX);
    raft_index commit = b->hard_state ? b->hard_state->commit : w->hs.commit;
    if (commit > *new_last) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "hard state commits index %llu beyond the log's "
                          "last index %llu",
                          (unsigned long long)commit,
                          (unsigned long long)*new_last);
    }
    return 0;
}

/* Encodes a batch's records into w->buf; *records counts them. */
static int encode_batch(struct wal *w,
                        const struct storage_batch *b,
                        uint32_t *records)
{
    uint32_t n = 0;
    int rv = 0;
    w->buf.len = 0;
    if (b->hard_state != NULL) {
        uint8_t p[WAL_HARD_STATE_PAYLOAD];
        wal_encode_hard_state(p, b->hard_state);
        rv = wal_record_append(&w->buf, WAL_HARD_STATE, p, sizeof p);
        n++;
    }
    if (rv == 0 && b->truncate_from != 0) {
        uint8_t p[WAL_TRUNCATE_PAYLOAD];
        wal_encode_truncate(p, b->truncate_from);
        rv = wal_record_append(&w->buf, WAL_TRUNCATE, p, sizeof p);
        n++;
    }
    size_t k = 0;
    while (rv == 0 && k < b->n_entries) {
        /* As many entries as fit about WAL_ENTRIES_TARGET bytes, at least
         * one. */
        size_t j = k;
        size_t size = WAL_ENTRIES_HEAD;
        do {
            size += wal_entry_size(&b->entries[j]);
            j++;
        } while (j < b->n_entries &&
                 size + wal_entry_size(&b->entries[j]) <= WAL_ENTRIES_TARGET);
        size_t at;
        rv = wal_record_start(&w->buf, &at);
        if (rv == 0) {
            rv = wal_encode_entries(&w->buf, b->entries + k, j - k);
        }
        if (rv == 0) {
            wal_record_finish(&w->buf, at, WAL_ENTRIES);
        }
        n++;
        k = j;
    }
    /* Every entry went into a record, unless memory ran out. */
    assert(rv != 0 || k == b->n_entries);
    if (rv == 0) {
        rv = batch_commit(w, n);
    }
    if (rv != 0) {
        return wal_errorf(w, rv, NULL, "no memory to encode a batch");
    }
    WAL_CHECK(wal_check_batch_encoding(w, b, n));
    *records = n;
    return 0;
}

static int write_batch(struct wal *w, const struct storage_batch *given)
{
    int rv = begin_call(w);
    if (rv != 0) {
        return rv;
    }
    if (given->hard_state == NULL && given->truncate_from == 0 &&
        given->n_entries == 0) {
        return 0;
    }
    /* A hard state held back goes with this batch, unless it has its own. */
    struct storage_batch with_held = *given;
    if (with_held.hard_state == NULL && w->has_held) {
        with_held.hard_state = &w->hs_held;
    }
    const struct storage_batch *b = &with_held;
    raft_index new_last = 0;
    size_t term_changes = 0;
    rv = check_batch(w, b, &new_last, &term_changes);
    if (rv != 0) {
        return rv;
    }
    if (storage_batch_commit_only(given, &w->hs)) {
        /* Only the commit index moved: held until the next batch (the head
         * comment). */
        w->hs_held = *given->hard_state;
        w->has_held = true;
        return 0;
    }
    /* Room for the model's update, so that nothing can fail after the
     * batch is durable. */
    if (runs_reserve(w, term_changes) != 0) {
        return wal_errorf(w, COMMON_ENOMEM, NULL, "no memory for the log");
    }
    uint32_t records;
    rv = encode_batch(w, b, &records);
    if (rv != 0) {
        return rv;
    }
    rv = append_batch(w);
    if (rv != 0) {
        return rv;
    }
    if (b->hard_state != NULL) {
        w->hs = *b->hard_state;
    }
    w->has_held = false;
    if (b->truncate_from != 0 && b->truncate_from <= w->last) {
        wal_runs_truncate(w, b->truncate_from);
        w->last = b->truncate_from - 1;
    }
    for (size_t k = 0; k < b->n_entries; k++) {
        /* Cannot fail: reserved above. */
        (void)wal_runs_append(w, b->entries[k].index, b->entries[k].term);
    }
    w->last = new_last;
    assert(w->hs.commit <= w->last);
    return 0;
}

static int wal_write(struct storage *s, const struct storage_batch *b)
{
    struct wal *w = s->impl;
    assert(b != NULL);
    int rv = write_batch(w, b);
    WAL_CHECK(wal_invariants(w));
    return rv;
}

/* Does the log hold @index with @term? */
static bool log_holds(const struct wal *w, raft_index index, raft_term term)
{
    assert(w->loaded);
    if (index == w->base) {
        return w->has_snapshot && w->base_term == term;
    }
    return index > w->base && index <= w->last && wal_term_at(w, index) == term;
}

struct stale_snapshots
{
    struct wal *w;
    raft_index keep;
    int rv;
    bool removed;
};

static int remove_stale_snapshot(void *data, const char *name)
{
    struct stale_snapshots *st = data;
    /* The snapshot just saved, which stays. */
    assert(st->keep >= 1);
    raft_index index;
    if (!wal_parse_snapshot_name(name, &index) || index >= st->keep) {
        return 0;
    }
    struct storage_fs *fs = st->w->fs;
    int rv = fs->vt->unlink(fs, name);
    if (rv != 0) {
        return rv;
    }
    st->removed = true;
    return 0;
}

/* Deletes the segments the snapshot at @index wholly covers (a prefix:
 * each one whose successor begins at or before index + 1) and older
 * snapshot files, then syncs the directory. */
static int drop_covered(struct wal *w, raft_index index)
{
    struct storage_fs *fs = w->fs;
    size_t k = 0;
    bool removed = false;
    int rv = 0;
    while (k + 1 < w->n_segs && w->segs[k + 1].first_index - 1 <= index) {
        rv = fs->vt->unlink(fs, w->segs[k].name);
        if (rv != 0) {
            break;
        }
        removed = true;
        k++;
    }
    if (k > 0) {
        memmove(w->segs, w->segs + k, (w->n_segs - k) * sizeof *w->segs);
        w->n_segs -= k;
    }
    /* Never the current segment. */
    assert(w->n_segs >= 1);
    if (rv != 0) {
        return wal_fail(w, rv);
    }
    struct stale_snapshots st = {w, index, 0, false};
    rv = fs->vt->list(fs, remove_stale_snapshot, &st);
    if (rv != 0) {
        return wal_fail(w, rv);
    }
    if (removed || st.removed) {
        rv = fs->vt->sync_dir(fs);
        if (rv != 0) {
            return wal_fail(w, rv);
        }
    }
    return 0;
}

static int save_snapshot(struct wal *w,
                         const struct storage_snapshot_meta *meta,
                         const void *data,
                         size_t len)
{
    int rv = begin_call(w);
    if (rv != 0) {
        return rv;
    }
    if (meta == NULL || (len > 0 && data == NULL) || meta->index == 0) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "snapshot without metadata, data or index");
    }
    if (meta->index > RAFT_INDEX_MAX || meta->term > RAFT_TERM_MAX) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "snapshot at %llu of term %llu is beyond the bound "
                          "2^62",
                          (unsigned long long)meta->index,
                          (unsigned long long)meta->term);
    }
    if (w->has_snapshot && meta->index < w->snap_index) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "snapshot at %llu is older than the one held "
                          "(%llu)",
                          (unsigned long long)meta->index,
                          (unsigned long long)w->snap_index);
    }
    if (meta->conf.count > 0 && !raft_configuration_valid(&meta->conf)) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "snapshot with an invalid configuration");
    }
    bool held = log_holds(w, meta->index, meta->term);
    raft_index commit = w->has_held ? w->hs_held.commit : w->hs.commit;
    if (!held && commit > meta->index) {
        return wal_errorf(w, COMMON_EINVAL, NULL,
                          "snapshot at %llu (term %llu) replaces a log "
                          "committed up to %llu",
                          (unsigned long long)meta->index,
                          (unsigned long long)meta->term,
                          (unsigned long long)commit);
    }
    struct wal_snapshot_mark mark = {meta->index, meta->term, !held};
    uint8_t p[WAL_SNAPSHOT_PAYLOAD];
    wal_encode_snapshot_mark(p, &mark);
    w->buf.len = 0;
    rv = wal_record_append(&w->buf, WAL_SNAPSHOT, p, sizeof p);
    if (rv == 0) {
        rv = batch_commit(w, 1);
    }
    if (rv != 0) {
        return wal_errorf(w, rv, NULL, "no memory to encode a batch");
    }
    WAL_CHECK(wal_check_mark_encoding(w->buf.data, w->buf.len, &mark));

    /* A segment exists before any snapshot file does, so that a snapshot
     * with no segment beside it can only mean segments went missing. */
    if (w->cur == NULL) {
        rv = start_segment(w);
        if (rv != 0) {
            return rv;
        }
    }
    rv = wal_snapshot_write(w, meta, held ? 0 : SNAP_REPLACED, data, len);
    if (rv != 0) {
        return rv;
    }
    rv = append_batch(w);
    if (rv != 0) {
        return rv;
    }
    if (held) {
        wal_runs_drop_through(w, meta->index);
    } else {
        w->n_runs = 0;
        w->last = meta->index;
    }
    w->has_snapshot = true;
    w->snap_index = meta->index;
    w->snap_term = meta->term;
    w->base = meta->index;
    w->base_term = meta->term;
    assert(w->base <= w->last && w->hs.commit <= w->last);
    return drop_covered(w, meta->index);
}

static int wal_save_snapshot(struct storage *s,
                             const struct storage_snapshot_meta *meta,
                             const void *data,
                             size_t len)
{
    struct wal *w = s->impl;
    assert(w->s == s);
    int rv = save_snapshot(w, meta, data, len);
    WAL_CHECK(wal_invariants(w));
    return rv;
}

void wal_loaded_free(struct wal *w)
{
    assert(w->out.n_bufs == 0 || w->out.bufs != NULL);
    for (size_t k = 0; k < w->out.n_bufs; k++) {
        free(w->out.bufs[k]);
    }
    free(w->out.bufs);
    free(w->out.entries);
    free(w->out.snapshot);
    memset(&w->out, 0, sizeof w->out);
}

static void wal_destroy(struct storage *s)
{
    struct wal *w = s->impl;
    assert(w->s == s);
    wal_loaded_free(w);
    if (w->cur != NULL) {
        w->fs->vt->close(w->fs, w->cur);
    }
    common_vec_fini(&w->buf);
    free(w->runs);
    free(w->segs);
    free(w);
    free(s);
}

static const struct storage_vtable wal_vtable = {
    .load = wal_load,
    .write = wal_write,
    .save_snapshot = wal_save_snapshot,
    .destroy = wal_destroy,
};

void storage_wal_options_default(struct storage_wal_options *o)
{
    assert(o != NULL);
    memset(o, 0, sizeof *o);
    o->segment_bytes = (uint64_t)64 << 20;
}

int storage_wal_new(struct storage_fs *fs,
                    const struct storage_wal_options *opts,
                    struct storage **out)
{
    assert(out != NULL);
    *out = NULL;
    if (fs == NULL || (opts != NULL && opts->segment_bytes == 0)) {
        return COMMON_EINVAL;
    }
    struct storage *s = calloc(1, sizeof *s);
    struct wal *w = calloc(1, sizeof *w);
    if (s == NULL || w == NULL) {
        free(s);
        free(w);
        return COMMON_ENOMEM;
    }
    if (opts != NULL) {
        w->opts = *opts;
    } else {
        storage_wal_options_default(&w->opts);
    }
    w->s = s;
    w->fs = fs;
    common_vec_init(&w->buf);
    s->vt = &wal_vtable;
    s->impl = w;
    *out = s;
    return 0;
}
