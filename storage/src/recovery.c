/*
 * Recovery: rebuilds what a WAL holds from its directory, and refuses to
 * start on anything it cannot explain by a crash.
 *
 *  1. List the directory: segments "SEQ-FIRST.log", snapshots
 *     "snapshot-INDEX.snap", unfinished snapshots "*.snap.tmp" (removed).
 *  2. Read the newest snapshot. Any damage (bad magic, a header or data
 *     CRC mismatch, a short file) refuses to start with "PATH: offset N:
 *     ..." - falling back to an older snapshot, or to none, would silently
 *     forget everything the damaged one covered.
 *  3. Replay the segments in sequence order. Sequence numbers must be
 *     consecutive, each segment must begin where the log before it ended,
 *     and every segment but the last must end in a seal record (the last
 *     must not: a sealed last segment lost its successor). Records are
 *     staged until their batch's commit record, then applied: hard state,
 *     truncate, entries (which must continue the log exactly), snapshot
 *     marks.
 *  4. A damaged record is a torn write only if it is in the last segment
 *     and nothing valid follows it: a crash leaves a prefix of the last
 *     write, never a hole with good data after it. Then the unfinished
 *     batch it belongs to is cut off (the file truncated and synced) and
 *     the cut reported in recovery_note. A crash while starting a segment
 *     leaves the one before unsealed (its seal maybe torn) and the new one
 *     holding only its header: the new one is removed, the seal's remains
 *     cut. The same damage anywhere else, a missing segment, entries out
 *     of order, a batch that its commit record does not count, a term or
 *     index above the bounds of raft.h (2^62): refuse to start, naming the
 *     file and offset.
 *  5. Apply the snapshot: entries it covers go, and if the crash came
 *     between writing the snapshot file and logging its mark, do what the
 *     file says it did to the log - and log the mark, so that the next
 *     replay agrees. The entries left must continue the snapshot with no
 *     gap, and the hard state must not commit beyond the log.
 *  6. Sync the last two segments and the directory, so that nothing
 *     recovery relied on is less durable than it looks (after a failed
 *     fdatasync the bytes may be in the page cache only), and rebuild the
 *     model for writing.
 *
 * Entries handed out point into the segment buffers, which stay allocated
 * until the storage's next call.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal.h"

struct listing
{
    struct wal_segment *segs;
    size_t n_segs;
    size_t cap_segs;
    bool has_snap;
    raft_index snap_index;
    char (*tmps)[WAL_NAME_MAX];
    size_t n_tmps;
    size_t cap_tmps;
};

struct staged
{
    struct wal_record rec;
    uint64_t offset;
};

struct replay
{
    struct wal *w;
    /* The log: entries[start..len) hold indexes first .. next-1; before
     * the first segment's entries nothing is known (covered by a snapshot
     * or dropped). */
    struct raft_entry *entries;
    size_t start;
    size_t len;
    size_t cap;
    raft_index next;
    bool started;

    struct raft_hard_state hs;
    const char *hs_file; /* where it was read, for messages */
    uint64_t hs_offset;

    bool mark_seen; /* the last snapshot mark replayed */
    struct wal_snapshot_mark mark;
    /* The snapshot file's mark never reached the log: recovery writes it. */
    bool mark_missing;
    struct wal_snapshot_mark missing;

    /* The snapshot file loaded. */
    bool has_snap;
    char snap_name[WAL_NAME_MAX];
    struct snap_decoded snap;

    struct staged *staged; /* the current batch, until its commit */
    size_t n_staged;
    size_t cap_staged;

    char note[256];
};

/* What replaying found to repair. */
struct repair
{
    /* Remove the last segment: its header was torn, or it holds only its
     * header and the segment before it was never sealed (a crash while
     * starting it). */
    bool remove_last;
    bool cut; /* an unfinished batch at the end of segment cut_seg */
    size_t cut_seg;
    uint64_t cut_at;
};

static void add_note(struct replay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_note(struct replay *r, const char *fmt, ...)
{
    size_t used = strlen(r->note);
    assert(fmt != NULL && used < sizeof r->note);
    if (used > 0 && used + 2 < sizeof r->note) {
        memcpy(r->note + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note + used, sizeof r->note - used, fmt, ap);
    va_end(ap);
}

/* Refuses to start: "ROOT/NAME: offset OFF: what". */
static int corrupt(struct replay *r,
                   const char *name,
                   uint64_t offset,
                   const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static int corrupt(struct replay *r,
                   const char *name,
                   uint64_t offset,
                   const char *fmt,
                   ...)
{
    assert(r->w != NULL && fmt != NULL);
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return wal_errorf(r->w, COMMON_ECORRUPT, name, "offset %llu: %s",
                      (unsigned long long)offset, what);
}

/* Refuses to start on a stored term or index above its bound (raft.h:
 * RAFT_TERM_MAX, RAFT_INDEX_MAX, both 2^62; a segment may begin one past
 * the last index, @max + 1 there). No correct node writes one: it is
 * damage or a forged value, and a node booted from it would count terms or
 * indexes past 2^64. */
static int check_bound(struct replay *r,
                       const char *name,
                       uint64_t offset,
                       const char *what,
                       uint64_t value,
                       uint64_t max)
{
    /* Both bounds are 2^62 (the messages say so); a segment's first index
     * may be one past. */
    _Static_assert(RAFT_TERM_MAX == RAFT_INDEX_MAX, "one bound, 2^62");
    assert(max == RAFT_INDEX_MAX || max == RAFT_INDEX_MAX + 1);
    if (value <= max) {
        return 0;
    }
    return corrupt(r, name, offset,
                   "%s %llu is beyond the bound 2^62%s; no correct node "
                   "writes it",
                   what, (unsigned long long)value,
                   max > RAFT_INDEX_MAX ? " + 1" : "");
}

static int check_hard_state(struct replay *r,
                            const char *name,
                            uint64_t offset,
                            const struct raft_hard_state *hs)
{
    assert(hs != NULL);
    int rv = check_bound(r, name, offset, "the hard state's term", hs->term,
                         RAFT_TERM_MAX);
    if (rv == 0) {
        rv = check_bound(r, name, offset, "the hard state's commit index",
                         hs->commit, RAFT_INDEX_MAX);
    }
    return rv;
}

/* ------------------------------------------------------------------------ */
/* Listing the directory                                                     */
/* ------------------------------------------------------------------------ */

static int list_one(void *data, const char *name)
{
    struct listing *l = data;
    assert(l != NULL && name != NULL);
    uint64_t seq;
    raft_index index;
    if (wal_parse_segment_name(name, &seq, &index)) {
        if (common_grow(&l->segs, &l->cap_segs, l->n_segs + 1, sizeof *l->segs,
                        STORAGE_MIN_CAP) != 0) {
            return COMMON_ENOMEM;
        }
        struct wal_segment *s = &l->segs[l->n_segs++];
        s->seq = seq;
        s->first_index = index;
        snprintf(s->name, sizeof s->name, "%s", name);
    } else if (wal_parse_snapshot_name(name, &index)) {
        if (!l->has_snap || index > l->snap_index) {
            l->has_snap = true;
            l->snap_index = index;
        }
    } else if (wal_is_snapshot_tmp(name)) {
        if (common_grow(&l->tmps, &l->cap_tmps, l->n_tmps + 1, sizeof *l->tmps,
                        STORAGE_MIN_CAP) != 0) {
            return COMMON_ENOMEM;
        }
        snprintf(l->tmps[l->n_tmps++], WAL_NAME_MAX, "%s", name);
    }
    /* Anything else is not ours: left alone. */
    return 0;
}

static int by_seq(const void *a, const void *b)
{
    const struct wal_segment *x = a;
    const struct wal_segment *y = b;
    assert(x != NULL && y != NULL);
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ------------------------------------------------------------------------ */
/* The log being rebuilt                                                     */
/* ------------------------------------------------------------------------ */

/* The log being rebuilt holds first_held() .. next - 1, one entry per
 * index, in entries[start .. len) (checked at its ends). */
static bool replay_log_ok(const struct replay *r)
{
    assert(r != NULL && r->w != NULL);
    if (r->start > r->len || r->len > r->cap) {
        return false;
    }
    if (r->start == r->len) {
        return true;
    }
    raft_index first = r->entries[r->start].index;
    raft_index last = r->entries[r->len - 1].index;
    return last - first == r->len - 1 - r->start && last + 1 == r->next;
}

static raft_index first_held(const struct replay *r)
{
    assert(r->start <= r->len);
    return r->start < r->len ? r->entries[r->start].index : r->next;
}

static void log_clear(struct replay *r, raft_index next)
{
    /* After a snapshot mark or a truncation, neither of which is 0. */
    assert(next >= 1);
    r->start = 0;
    r->len = 0;
    r->next = next;
}

/* Drops entries >= @from. */
static void log_drop_from(struct replay *r, raft_index from)
{
    if (from >= r->next) {
        return;
    }
    if (from <= first_held(r)) {
        log_clear(r, from);
        return;
    }
    r->len = r->start + (size_t)(from - r->entries[r->start].index);
    r->next = from;
    assert(replay_log_ok(r));
}

/* Drops entries <= @index. */
static void log_drop_through(struct replay *r, raft_index index)
{
    if (r->start == r->len || index < r->entries[r->start].index) {
        return;
    }
    if (index >= r->next - 1) {
        r->start = r->len;
    } else {
        r->start += (size_t)(index - r->entries[r->start].index + 1);
    }
    /* Keep the array from filling up with dropped entries. */
    if (r->start > 1024 && r->start > r->len / 2) {
        memmove(r->entries, r->entries + r->start,
                (r->len - r->start) * sizeof *r->entries);
        r->len -= r->start;
        r->start = 0;
    }
    assert(replay_log_ok(r));
}

/* Applies what a snapshot at @m did to the log. @name and @offset say
 * where the mark was read, for messages. */
static int apply_mark(struct replay *r,
                      const struct wal_snapshot_mark *m,
                      const char *name,
                      uint64_t offset)
{
    /* wal_decode_snapshot_mark() refuses index 0, finish() makes none. */
    assert(m->index >= 1);
    if (m->replaced) {
        log_clear(r, m->index + 1);
        return 0;
    }
    if (m->index >= r->next) {
        return corrupt(r, name, offset,
                       "the snapshot at index %llu kept the log after it, "
                       "but the log ends at %llu",
                       (unsigned long long)m->index,
                       (unsigned long long)(r->next - 1));
    }
    if (m->index >= first_held(r)) {
        raft_term t = r->entries[r->start + (m->index - first_held(r))].term;
        if (t != m->term) {
            return corrupt(r, name, offset,
                           "the snapshot at index %llu has term %llu but "
                           "the log holds term %llu there",
                           (unsigned long long)m->index,
                           (unsigned long long)m->term, (unsigned long long)t);
        }
    }
    log_drop_through(r, m->index);
    return 0;
}

static int append_entries(struct replay *r,
                          const struct wal_segment *seg,
                          const struct wal_record *rec,
                          uint64_t offset)
{
    raft_index first;
    uint32_t count;
    const char *why;
    if (wal_entries_scan(rec->payload, rec->len, &first, &count, &why) != 0) {
        return corrupt(r, seg->name, offset, "%s", why);
    }
    if (first != r->next) {
        return corrupt(r, seg->name, offset,
                       "entries from index %llu where index %llu was due "
                       "(entries out of order)",
                       (unsigned long long)first, (unsigned long long)r->next);
    }
    int rv = check_bound(r, seg->name, offset, "the entries' last index",
                         first + count - 1, RAFT_INDEX_MAX);
    if (rv != 0) {
        return rv;
    }
    if (common_grow(&r->entries, &r->cap, r->len + count, sizeof *r->entries,
                    STORAGE_MIN_CAP) != 0) {
        return wal_errorf(r->w, COMMON_ENOMEM, seg->name,
                          "no memory for %zu entries", r->len + count);
    }
    wal_entries_decode(rec->payload, rec->len, r->entries + r->len);
    for (uint32_t k = 0; k < count; k++) {
        const struct raft_entry *e = &r->entries[r->len + k];
        char what[64];
        snprintf(what, sizeof what, "entry %llu's term",
                 (unsigned long long)e->index);
        rv = check_bound(r, seg->name, offset, what, e->term, RAFT_TERM_MAX);
        if (rv != 0) {
            return rv;
        }
    }
    r->len += count;
    r->next += count;
    assert(replay_log_ok(r));
    return 0;
}

static int apply_record(struct replay *r,
                        const struct wal_segment *seg,
                        const struct staged *st)
{
    const struct wal_record *rec = &st->rec;
    const char *why = NULL;
    /* replay_segment() stages every record but segment headers (an
     * error), seals and commits. */
    assert(rec->type != WAL_SEGMENT && rec->type != WAL_SEAL &&
           rec->type != WAL_COMMIT);
    switch (rec->type) {
        case WAL_HARD_STATE:
            if (wal_decode_hard_state(rec->payload, rec->len, &r->hs, &why) !=
                0) {
                return corrupt(r, seg->name, st->offset, "%s", why);
            }
            if (check_hard_state(r, seg->name, st->offset, &r->hs) != 0) {
                return COMMON_ECORRUPT;
            }
            r->hs_file = seg->name;
            r->hs_offset = st->offset;
            return 0;
        case WAL_TRUNCATE: {
            raft_index from;
            if (wal_decode_truncate(rec->payload, rec->len, &from, &why) != 0) {
                return corrupt(r, seg->name, st->offset, "%s", why);
            }
            if (check_bound(r, seg->name, st->offset, "a truncation's index",
                            from, RAFT_INDEX_MAX) != 0) {
                return COMMON_ECORRUPT;
            }
            if (r->mark_seen && from <= r->mark.index) {
                return corrupt(r, seg->name, st->offset,
                               "truncates from index %llu, inside the "
                               "snapshot at %llu",
                               (unsigned long long)from,
                               (unsigned long long)r->mark.index);
            }
            log_drop_from(r, from);
            return 0;
        }
        case WAL_ENTRIES:
            return append_entries(r, seg, rec, st->offset);
        case WAL_SNAPSHOT: {
            struct wal_snapshot_mark m;
            if (wal_decode_snapshot_mark(rec->payload, rec->len, &m, &why) !=
                0) {
                return corrupt(r, seg->name, st->offset, "%s", why);
            }
            if (check_bound(r, seg->name, st->offset, "the snapshot's index",
                            m.index, RAFT_INDEX_MAX) != 0 ||
                check_bound(r, seg->name, st->offset, "the snapshot's term",
                            m.term, RAFT_TERM_MAX) != 0) {
                return COMMON_ECORRUPT;
            }
            if (!r->has_snap || m.index > r->snap.meta.index) {
                return corrupt(
                    r, seg->name, st->offset,
                    "records a snapshot at index %llu, but no "
                    "snapshot file holds it (newest: %llu)",
                    (unsigned long long)m.index,
                    (unsigned long long)(r->has_snap ? r->snap.meta.index : 0));
            }
            if (r->mark_seen && m.index < r->mark.index) {
                return corrupt(r, seg->name, st->offset,
                               "snapshot at index %llu after one at %llu",
                               (unsigned long long)m.index,
                               (unsigned long long)r->mark.index);
            }
            int rv = apply_mark(r, &m, seg->name, st->offset);
            if (rv != 0) {
                return rv;
            }
            r->mark_seen = true;
            r->mark = m;
            return 0;
        }
        default:
            return corrupt(r, seg->name, st->offset,
                           "a %s record inside a batch",
                           wal_record_type_name(rec->type));
    }
}

static int stage(struct replay *r,
                 const struct wal_record *rec,
                 uint64_t offset)
{
    if (common_grow(&r->staged, &r->cap_staged, r->n_staged + 1,
                    sizeof *r->staged, STORAGE_MIN_CAP) != 0) {
        return wal_errorf(r->w, COMMON_ENOMEM, NULL,
                          "no memory to replay a batch");
    }
    assert(r->n_staged < r->cap_staged);
    r->staged[r->n_staged].rec = *rec;
    r->staged[r->n_staged].offset = offset;
    r->n_staged++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Segments                                                                  */
/* ------------------------------------------------------------------------ */

/* Is there a record header that checks anywhere in buf[from, size)? One
 * is proof that something was written after the damage, so the damage is
 * not a torn tail. */
static bool valid_after(const uint8_t *buf,
                        size_t size,
                        size_t from,
                        size_t *at)
{
    assert(buf != NULL && from <= size + 1);
    for (size_t p = from; p + WAL_RECORD_HEADER <= size; p++) {
        struct wal_record rec;
        const char *why;
        enum wal_parse st = wal_record_parse(buf + p, size - p, &rec, &why);
        if (st == WAL_PARSE_OK || st == WAL_PARSE_SHORT_PAYLOAD ||
            st == WAL_PARSE_BAD_PAYLOAD) {
            *at = p;
            return true;
        }
    }
    return false;
}

/* A damaged record at @off in a batch that began at @batch. */
static int damaged(struct replay *r,
                   const struct wal_segment *seg,
                   size_t seg_index,
                   const uint8_t *buf,
                   size_t size,
                   size_t off,
                   size_t batch,
                   enum wal_parse st,
                   const struct wal_record *rec,
                   const char *why,
                   bool tail_ok,
                   struct repair *fix)
{
    /* A record that failed to parse, in the batch that began at @batch. */
    assert(st != WAL_PARSE_OK && batch <= off && off < size);
    if (!tail_ok) {
        return corrupt(r, seg->name, off,
                       "%s in a segment that is not the last", why);
    }
    /* When the header checks, what follows the record is what counts;
     * its own (damaged) payload proves nothing. */
    size_t from = off + 1;
    if (st == WAL_PARSE_BAD_PAYLOAD) {
        from = off + rec->size;
    } else if (st == WAL_PARSE_SHORT_PAYLOAD) {
        from = size;
    }
    size_t at;
    if (valid_after(buf, size, from, &at)) {
        return corrupt(r, seg->name, off,
                       "%s, and a valid record follows at offset %zu", why, at);
    }
    fix->cut = true;
    fix->cut_seg = seg_index;
    fix->cut_at = batch;
    add_note(r,
             "cut a torn write at the end of %s/%s: offset %zu: %s; "
             "dropped %zu bytes from offset %zu",
             r->w->fs->root, seg->name, off, why, size - batch, batch);
    return 0;
}

/* How a segment may end, by its place in the log. */
struct seg_place
{
    size_t index;
    /* It may end in a torn write: it is the last segment, or the one
     * before a last segment that holds only its header. */
    bool tail_ok;
    /* Its header may be torn: it is the last segment and no segment
     * before it is sealed (so it was being created when the crash came). */
    bool header_ok;
};

/* Replays one segment; *sealed says whether it ends in a seal record. */
static int replay_segment(struct replay *r,
                          const struct wal_segment *seg,
                          const uint8_t *buf,
                          size_t size,
                          const struct seg_place *place,
                          struct repair *fix,
                          bool *sealed)
{
    assert(buf != NULL && place != NULL && fix != NULL);
    *sealed = false;
    struct wal_record rec;
    const char *why = NULL;
    enum wal_parse st = wal_record_parse(buf, size, &rec, &why);
    if (st != WAL_PARSE_OK) {
        size_t at;
        size_t from = st == WAL_PARSE_BAD_PAYLOAD ? rec.size : 1;
        if (!place->header_ok) {
            return corrupt(r, seg->name, 0, "%s (segment header)", why);
        }
        if (st != WAL_PARSE_SHORT_PAYLOAD &&
            valid_after(buf, size, from, &at)) {
            return corrupt(r, seg->name, 0,
                           "%s (segment header), and a valid record follows "
                           "at offset %zu",
                           why, at);
        }
        fix->remove_last = true;
        add_note(r, "removed %s/%s: its header was torn (%zu bytes: %s)",
                 r->w->fs->root, seg->name, size, why);
        return 0;
    }
    if (rec.type != WAL_SEGMENT) {
        return corrupt(r, seg->name, 0,
                       "the first record is a %s record, not a segment "
                       "header",
                       wal_record_type_name(rec.type));
    }
    struct wal_segment_header h;
    if (wal_decode_segment(rec.payload, rec.len, &h, &why) != 0) {
        return corrupt(r, seg->name, 0, "%s", why);
    }
    if (check_bound(r, seg->name, 0, "the segment's first index", h.first_index,
                    RAFT_INDEX_MAX + 1) != 0 ||
        check_hard_state(r, seg->name, 0, &h.hard_state) != 0) {
        return COMMON_ECORRUPT;
    }
    if (h.seq != seg->seq || h.first_index != seg->first_index) {
        return corrupt(r, seg->name, 0,
                       "the header says sequence %llu, first index %llu, "
                       "unlike the file name",
                       (unsigned long long)h.seq,
                       (unsigned long long)h.first_index);
    }
    if (!r->started) {
        r->started = true;
        r->next = h.first_index;
    } else if (h.first_index != r->next) {
        return corrupt(r, seg->name, 0,
                       "the segment begins at index %llu but the log "
                       "before it ends at %llu",
                       (unsigned long long)h.first_index,
                       (unsigned long long)(r->next - 1));
    }
    r->hs = h.hard_state;
    r->hs_file = seg->name;
    r->hs_offset = 0;

    size_t off = rec.size;
    size_t batch = off;
    r->n_staged = 0;
    while (off < size) {
        st = wal_record_parse(buf + off, size - off, &rec, &why);
        if (st != WAL_PARSE_OK) {
            return damaged(r, seg, place->index, buf, size, off, batch, st,
                           &rec, why, place->tail_ok, fix);
        }
        if (rec.type == WAL_SEGMENT) {
            return corrupt(r, seg->name, off,
                           "a segment header in the middle of a segment");
        }
        if (rec.type == WAL_SEAL) {
            uint64_t next_seq;
            if (wal_decode_seal(rec.payload, rec.len, &next_seq, &why) != 0) {
                return corrupt(r, seg->name, off, "%s", why);
            }
            if (r->n_staged > 0) {
                return corrupt(r, seg->name, off,
                               "a seal record inside a batch");
            }
            if (next_seq != seg->seq + 1) {
                return corrupt(r, seg->name, off,
                               "the seal names segment %llu as next",
                               (unsigned long long)next_seq);
            }
            if (off + rec.size != size) {
                return corrupt(r, seg->name, off + rec.size,
                               "bytes after the seal record");
            }
            *sealed = true;
            return 0;
        }
        if (rec.type != WAL_COMMIT) {
            int rv = stage(r, &rec, off);
            if (rv != 0) {
                return rv;
            }
            off += rec.size;
            continue;
        }
        uint32_t count;
        if (wal_decode_commit(rec.payload, rec.len, &count, &why) != 0) {
            return corrupt(r, seg->name, off, "%s", why);
        }
        if (count != r->n_staged) {
            return corrupt(r, seg->name, off,
                           "the commit record counts %u records but its "
                           "batch has %zu",
                           count, r->n_staged);
        }
        for (size_t k = 0; k < r->n_staged; k++) {
            int rv = apply_record(r, seg, &r->staged[k]);
            if (rv != 0) {
                return rv;
            }
        }
        r->n_staged = 0;
        off += rec.size;
        batch = off;
    }
    if (r->n_staged > 0) {
        if (!place->tail_ok) {
            return corrupt(r, seg->name, batch,
                           "a batch without a commit record ends a segment "
                           "that is not the last");
        }
        fix->cut = true;
        fix->cut_seg = place->index;
        fix->cut_at = batch;
        add_note(r,
                 "cut an unfinished batch at the end of %s/%s: offset %zu: "
                 "no commit record; dropped %zu bytes",
                 r->w->fs->root, seg->name, batch, size - batch);
    }
    return 0;
}

/* Step 3: every segment in order. Only the last may end unsealed, except
 * that a crash while starting a segment leaves the one before it unsealed
 * (maybe with a torn seal) and the new one holding only its header: that
 * new one is removed. A sealed last segment means its successor is gone. */
static int replay_all(struct replay *r,
                      struct listing *l,
                      uint8_t **bufs,
                      const size_t *sizes,
                      struct repair *fix)
{
    assert(l->n_segs == 0 || (bufs != NULL && sizes != NULL));
    size_t n = l->n_segs;
    bool any_sealed = false;
    for (size_t k = 0; k < n; k++) {
        const struct wal_segment *seg = &l->segs[k];
        bool next_bare = k + 2 == n && sizes[k + 1] <= WAL_SEGMENT_RECORD;
        struct seg_place place = {k, k + 1 == n || next_bare,
                                  k + 1 == n && !any_sealed};
        bool sealed;
        int rv =
            replay_segment(r, seg, bufs[k], sizes[k], &place, fix, &sealed);
        if (rv != 0) {
            return rv;
        }
        any_sealed = any_sealed || sealed;
        if (sealed && k + 1 == n) {
            return corrupt(r, seg->name,
                           sizes[k] - WAL_RECORD_HEADER - WAL_SEAL_PAYLOAD,
                           "the segment is sealed, but the segment after it "
                           "(%016llx-...) is missing",
                           (unsigned long long)(seg->seq + 1));
        }
        if (!sealed && k + 1 < n) {
            if (!next_bare) {
                return corrupt(r, seg->name, sizes[k],
                               "the segment ends without a seal record, "
                               "but another follows it (was it cut "
                               "short?)");
            }
            fix->remove_last = true;
            add_note(r,
                     "removed %s/%s: a segment begun when the one before "
                     "it was not yet sealed",
                     r->w->fs->root, l->segs[n - 1].name);
            return 0;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Putting it together                                                       */
/* ------------------------------------------------------------------------ */

/* Step 5: the snapshot, then the checks on what is left. */
static int finish(struct replay *r, const struct listing *l)
{
    raft_index s = r->has_snap ? r->snap.meta.index : 0;
    if (r->has_snap && !r->started) {
        /* A segment is made durable before any snapshot file is written. */
        return corrupt(r, r->snap_name, 0,
                       "a snapshot with no segment file beside it (the "
                       "segments are missing)");
    }
    if (r->has_snap && !(r->mark_seen && r->mark.index == s &&
                         r->mark.term == r->snap.meta.term)) {
        /* Crashed after the snapshot file, before its mark: do now what
         * the mark would have done. */
        struct wal_snapshot_mark m = {s, r->snap.meta.term,
                                      (r->snap.flags & SNAP_REPLACED) != 0};
        int rv = apply_mark(r, &m, r->snap_name, 8);
        if (rv != 0) {
            return rv;
        }
        r->mark_missing = true;
        r->missing = m;
    }
    if (!r->started) {
        r->next = s + 1;
    }
    log_drop_through(r, s);
    raft_index first = first_held(r);
    if (first > s + 1) {
        return corrupt(
            r, l->segs[0].name, 0,
            "the log begins at index %llu but %s: entries "
            "%llu..%llu are missing",
            (unsigned long long)first,
            r->has_snap ? "the snapshot ends before" : "there is no snapshot",
            (unsigned long long)(s + 1), (unsigned long long)(first - 1));
    }
    if (r->next < s + 1) {
        r->next = s + 1;
    }
    raft_index last = r->next - 1;
    if (r->hs.commit > last) {
        return corrupt(r, r->hs_file, r->hs_offset,
                       "the hard state commits index %llu but the log "
                       "ends at %llu (is a segment missing?)",
                       (unsigned long long)r->hs.commit,
                       (unsigned long long)last);
    }
    /* What is handed out continues the snapshot with no gap. */
    assert(replay_log_ok(r) && first_held(r) == s + 1);
    return 0;
}

/* Step 6: the model for writing, from the replayed log. */
static int rebuild_model(struct wal *w, struct replay *r)
{
    w->hs = r->hs;
    /* A hard state this storage holds back (commit only, wal.c) stays in
     * force: loading again does not forget it. */
    w->has_held = w->has_held && w->hs_held.term == r->hs.term &&
                  w->hs_held.vote == r->hs.vote && w->hs_held.commit < r->next;
    w->has_snapshot = r->has_snap;
    w->snap_index = r->has_snap ? r->snap.meta.index : 0;
    w->snap_term = r->has_snap ? r->snap.meta.term : 0;
    w->base = w->snap_index;
    w->base_term = w->snap_term;
    w->last = r->next - 1;
    w->n_runs = 0;
    for (size_t k = r->start; k < r->len; k++) {
        if (wal_runs_append(w, r->entries[k].index, r->entries[k].term) != 0) {
            return wal_errorf(w, COMMON_ENOMEM, NULL,
                              "no memory for the log's terms");
        }
    }
    assert(w->base <= w->last && w->hs.commit <= w->last);
    return 0;
}

/* Appends the mark a crash kept out of the log, so that replaying the
 * log from now on does what this recovery did. */
static int log_missing_mark(struct wal *w, const struct wal_snapshot_mark *m)
{
    struct common_vec v;
    common_vec_init(&v);
    uint8_t p[WAL_SNAPSHOT_PAYLOAD];
    wal_encode_snapshot_mark(p, m);
    uint8_t c[WAL_COMMIT_PAYLOAD];
    wal_encode_commit(c, 1);
    int rv = wal_record_append(&v, WAL_SNAPSHOT, p, sizeof p);
    if (rv == 0) {
        rv = wal_record_append(&v, WAL_COMMIT, c, sizeof c);
    }
    if (rv != 0) {
        common_vec_fini(&v);
        return wal_errorf(w, rv, NULL, "no memory to log a snapshot");
    }
    assert(w->cur != NULL);
    WAL_CHECK(wal_check_mark_encoding(v.data, v.len, m));
    struct storage_fs *fs = w->fs;
    rv = fs->vt->append(fs, w->cur, v.data, v.len);
    if (rv == 0) {
        rv = fs->vt->sync(fs, w->cur);
    }
    if (rv == 0) {
        w->cur_size += v.len;
    }
    common_vec_fini(&v);
    return rv != 0 ? wal_fail(w, rv) : 0;
}

/* Step 6: make the repairs and what is handed out durable; open the last
 * segment for appending. */
static int repair_and_open(struct wal *w,
                           struct listing *l,
                           const struct repair *fix,
                           const struct replay *r)
{
    struct storage_fs *fs = w->fs;
    int rv = 0;
    for (size_t k = 0; k < l->n_tmps && rv == 0; k++) {
        rv = fs->vt->unlink(fs, l->tmps[k]);
    }
    if (rv == 0 && fix->remove_last) {
        rv = fs->vt->unlink(fs, l->segs[l->n_segs - 1].name);
        l->n_segs--;
    }
    if (rv == 0 && l->n_segs > 1) {
        /* Its seal may be in the file but not on the disk (its fdatasync
         * failed): recovery relied on it, so it must be durable. Older
         * segments were sealed and synced before a later one held data. */
        struct storage_file *f;
        rv = fs->vt->open(fs, l->segs[l->n_segs - 2].name, false, &f);
        if (rv == 0) {
            rv = fs->vt->sync(fs, f);
            fs->vt->close(fs, f);
        }
    }
    if (rv == 0 && l->n_segs > 0) {
        rv = fs->vt->open(fs, l->segs[l->n_segs - 1].name, false, &w->cur);
        /* Only ever the (new) last segment has a torn tail. */
        assert(!fix->cut || fix->cut_seg + 1 == l->n_segs);
        if (rv == 0 && fix->cut) {
            rv = fs->vt->truncate(fs, w->cur, fix->cut_at);
        }
        if (rv == 0) {
            rv = fs->vt->size(fs, w->cur, &w->cur_size);
        }
        if (rv == 0) {
            rv = fs->vt->sync(fs, w->cur);
        }
    }
    if (rv == 0) {
        rv = fs->vt->sync_dir(fs);
    }
    if (rv != 0) {
        return wal_fail(w, rv);
    }
    if (r->mark_missing) {
        /* finish() refuses a snapshot without segments: there is one. */
        assert(w->cur != NULL);
        rv = log_missing_mark(w, &r->missing);
        if (rv != 0) {
            return rv;
        }
    }
    /* The listing's segments become the WAL's. */
    free(w->segs);
    w->segs = l->segs;
    w->n_segs = l->n_segs;
    w->cap_segs = l->cap_segs;
    l->segs = NULL;
    return 0;
}

static void reset(struct wal *w)
{
    assert(w->cur == NULL || w->fs != NULL);
    if (w->cur != NULL) {
        w->fs->vt->close(w->fs, w->cur);
        w->cur = NULL;
    }
    w->cur_size = 0;
    w->n_segs = 0;
    w->n_runs = 0;
    w->loaded = false;
}

int wal_recover(struct wal *w, struct storage_state *out)
{
    struct storage_fs *fs = w->fs;
    memset(out, 0, sizeof *out);
    reset(w);
    wal_loaded_free(w);

    struct listing l;
    memset(&l, 0, sizeof l);
    struct replay r;
    memset(&r, 0, sizeof r);
    r.w = w;
    struct repair fix = {false, false, 0, 0};

    int rv = fs->vt->list(fs, list_one, &l);
    if (rv != 0) {
        if (rv == COMMON_ENOMEM) {
            rv = wal_errorf(w, rv, NULL, "no memory to list the directory");
        } else {
            storage_msgf(w->s->error, sizeof w->s->error, "%s", fs->error);
        }
        goto err;
    }
    if (l.n_segs > 1) {
        qsort(l.segs, l.n_segs, sizeof *l.segs, by_seq);
    }

    if (l.has_snap) {
        wal_snapshot_name(r.snap_name, l.snap_index);
        rv = wal_snapshot_read(w, r.snap_name, &w->out.snapshot, &r.snap);
        if (rv != 0) {
            goto err;
        }
        if (r.snap.meta.index != l.snap_index) {
            rv = corrupt(&r, r.snap_name, 16,
                         "the snapshot says index %llu, unlike its name",
                         (unsigned long long)r.snap.meta.index);
            goto err;
        }
        /* The index and term fields, at offsets 16 and 24. */
        rv = check_bound(&r, r.snap_name, 16, "the snapshot's index",
                         r.snap.meta.index, RAFT_INDEX_MAX);
        if (rv == 0) {
            rv = check_bound(&r, r.snap_name, 24, "the snapshot's term",
                             r.snap.meta.term, RAFT_TERM_MAX);
        }
        if (rv != 0) {
            goto err;
        }
        r.has_snap = true;
    }

    size_t *sizes = calloc(l.n_segs > 0 ? l.n_segs : 1, sizeof *sizes);
    w->out.bufs = calloc(l.n_segs > 0 ? l.n_segs : 1, sizeof *w->out.bufs);
    if (sizes == NULL || w->out.bufs == NULL) {
        free(sizes);
        rv = wal_errorf(w, COMMON_ENOMEM, NULL, "no memory to replay");
        goto err;
    }
    for (size_t k = 0; k < l.n_segs; k++) {
        const struct wal_segment *seg = &l.segs[k];
        if (k > 0 && seg->seq != l.segs[k - 1].seq + 1) {
            rv = corrupt(&r, seg->name, 0,
                         seg->seq == l.segs[k - 1].seq
                             ? "two segments have this sequence number"
                             : "the segment before it in sequence is "
                               "missing");
            break;
        }
        rv = wal_read_file(w, seg->name, &w->out.bufs[k], &sizes[k]);
        if (rv != 0) {
            break;
        }
        w->out.n_bufs = k + 1;
    }
    if (rv == 0) {
        rv = replay_all(&r, &l, w->out.bufs, sizes, &fix);
    }
    free(sizes);
    if (rv != 0) {
        goto err;
    }
    rv = finish(&r, &l);
    if (rv == 0) {
        rv = rebuild_model(w, &r);
    }
    if (rv != 0) {
        goto err;
    }
    for (size_t k = 0; k < l.n_tmps; k++) {
        add_note(&r, "removed an unfinished snapshot %s/%s", fs->root,
                 l.tmps[k]);
    }
    if (r.mark_missing) {
        add_note(&r,
                 "logged the snapshot at index %llu that a crash kept out "
                 "of the log",
                 (unsigned long long)r.missing.index);
    }
    rv = repair_and_open(w, &l, &fix, &r);
    if (rv != 0) {
        goto err;
    }

    w->loaded = true;
    out->hard_state = r.hs;
    out->has_snapshot = r.has_snap;
    if (r.has_snap) {
        out->snapshot = r.snap.meta;
        out->snapshot_data = r.snap.data;
        out->snapshot_len = (size_t)r.snap.data_len;
        out->snapshot_index = r.snap.meta.index;
        out->snapshot_term = r.snap.meta.term;
    }
    w->out.entries = r.entries;
    out->entries = r.start < r.len ? r.entries + r.start : NULL;
    out->n_entries = r.len - r.start;
    /* The entries continue the snapshot, and the commit index is among
     * them (finish()). */
    assert(out->n_entries == 0 ||
           out->entries[0].index == out->snapshot_index + 1);
    assert(out->hard_state.commit <= out->snapshot_index + out->n_entries);
    storage_msgf(out->recovery_note, sizeof out->recovery_note, "%s", r.note);
    free(r.staged);
    free(l.segs);
    free(l.tmps);
    return 0;

err:
    free(r.entries);
    free(r.staged);
    free(l.segs);
    free(l.tmps);
    wal_loaded_free(w);
    reset(w);
    return rv;
}
