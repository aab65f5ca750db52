/*
 * The write-ahead log's own invariants, and the encode/decode pair checks
 * of its write path: what a batch, a segment header, a seal, a snapshot
 * mark or a snapshot file was encoded to decodes to exactly what it was
 * made from. Builds with the CMake option RAFTKV_INVARIANTS (which define
 * STORAGE_INVARIANTS) run them through WAL_CHECK() after every call and
 * every encoding; other builds compile the calls to nothing. The cheap
 * halves of the pairs (a record's lengths and CRCs, a decoded payload
 * encoding back to its bytes, an entries record decoding exactly the bytes
 * its scan checked) are asserted where they happen, in every build.
 *
 * wal_invariants() reads the model and, once, the size of the current
 * segment; the pair checks decode what was just encoded, which doubles the
 * CPU cost of a write (and copies a snapshot once).
 */
#include <stdlib.h>
#include <string.h>

#include "wal.h"

/* The term runs describe base + 1 .. last: they start right after the
 * snapshot, their first indexes go up, and neighbours differ in term
 * (wal_runs_append merges equal ones). */
static void check_runs(const struct wal *w)
{
    assert(w->n_runs <= w->cap_runs);
    assert((w->n_runs == 0) == (w->last == w->base));
    for (size_t k = 0; k < w->n_runs; k++) {
        const struct wal_term_run *run = &w->runs[k];
        assert(k > 0 || run->first == w->base + 1);
        assert(k == 0 || (run->first > w->runs[k - 1].first &&
                          run->term != w->runs[k - 1].term));
        assert(run->first <= w->last);
    }
}

/* Segment files in sequence with no gap, named for their header; the
 * first one holds the log from base + 1 on (recovery refuses anything
 * else; drop_covered only drops segments the snapshot covers). */
static void check_segments(const struct wal *w)
{
    assert(w->n_segs <= w->cap_segs);
    assert((w->n_segs > 0) == (w->cur != NULL));
    for (size_t k = 0; k < w->n_segs; k++) {
        const struct wal_segment *seg = &w->segs[k];
        assert(k == 0 || seg->seq == w->segs[k - 1].seq + 1);
        assert(seg->seq >= 1 && seg->first_index >= 1 &&
               seg->first_index <= RAFT_INDEX_MAX + 1);
        uint64_t seq = 0;
        raft_index first = 0;
        assert(wal_parse_segment_name(seg->name, &seq, &first));
        assert(seq == seg->seq && first == seg->first_index);
    }
    assert(w->n_segs == 0 || w->segs[0].first_index <= w->base + 1);
}

void wal_invariants(const struct wal *w)
{
    assert(w != NULL && w->s != NULL && w->fs != NULL);
    assert(w->buf.len <= w->buf.cap);
    if (!w->loaded) {
        /* Nothing is open before recovery, or after a failed one. */
        assert(w->cur == NULL && w->n_segs == 0 && w->n_runs == 0);
        return;
    }
    /* The model: bounded, the snapshot its base, the commit index within
     * the log. */
    assert(w->hs.term <= RAFT_TERM_MAX && w->hs.commit <= RAFT_INDEX_MAX);
    assert(w->last <= RAFT_INDEX_MAX);
    assert(w->has_snapshot ? w->snap_index >= 1
                           : w->snap_index == 0 && w->snap_term == 0);
    assert(w->base == w->snap_index && w->base_term == w->snap_term);
    assert(w->base <= w->last && w->hs.commit <= w->last);
    /* A hard state held back differs only in its commit index. */
    assert(!w->has_held ||
           (w->hs_held.term == w->hs.term && w->hs_held.vote == w->hs.vote &&
            w->hs_held.commit <= w->last));
    check_runs(w);
    check_segments(w);
    if (w->cur == NULL || w->failed) {
        return;
    }
    /* What the model says was written is what the current segment
     * holds: the durable state is never ahead of the file. A handle from
     * before a crash of the in-memory file system fails the size call,
     * and then there is nothing to compare. */
    assert(w->cur_size >= WAL_SEGMENT_RECORD);
    uint64_t size = 0;
    if (w->fs->vt->size(w->fs, w->cur, &size) == 0) {
        assert(size == w->cur_size);
    }
}

/* The record at @p (within @end) decodes as a record of @type; returns
 * its payload and length. */
static struct wal_record next_record(const uint8_t *p,
                                     const uint8_t *end,
                                     unsigned type)
{
    struct wal_record rec;
    const char *why = NULL;
    assert(p < end);
    assert(wal_record_parse(p, (size_t)(end - p), &rec, &why) == WAL_PARSE_OK);
    assert(rec.type == type);
    return rec;
}

/* The entries of one entries record are @b's from *@k on. */
static void check_entries(const struct wal_record *rec,
                          const struct storage_batch *b,
                          size_t *k)
{
    raft_index first = 0;
    uint32_t count = 0;
    const char *why = NULL;
    assert(wal_entries_scan(rec->payload, rec->len, &first, &count, &why) == 0);
    assert(*k < b->n_entries && count <= b->n_entries - *k);
    assert(first == b->entries[*k].index);
    struct raft_entry *out = malloc(count * sizeof *out);
    if (out == NULL) {
        return; /* a debug check without memory checks less */
    }
    wal_entries_decode(rec->payload, rec->len, out);
    for (uint32_t j = 0; j < count; j++) {
        const struct raft_entry *want = &b->entries[*k + j];
        assert(out[j].index == want->index && out[j].term == want->term);
        assert(out[j].type == want->type);
        assert(out[j].data.len == want->data.len);
        assert(want->data.len == 0 ||
               memcmp(out[j].data.base, want->data.base, want->data.len) == 0);
    }
    free(out);
    *k += count;
}

void wal_check_batch_encoding(const struct wal *w,
                              const struct storage_batch *b,
                              uint32_t records)
{
    const uint8_t *p = w->buf.data;
    const uint8_t *end = p + w->buf.len;
    const char *why = NULL;
    uint32_t seen = 0;
    if (b->hard_state != NULL) {
        struct wal_record rec = next_record(p, end, WAL_HARD_STATE);
        struct raft_hard_state hs;
        assert(wal_decode_hard_state(rec.payload, rec.len, &hs, &why) == 0);
        assert(hs.term == b->hard_state->term &&
               hs.vote == b->hard_state->vote &&
               hs.commit == b->hard_state->commit);
        p += rec.size;
        seen++;
    }
    if (b->truncate_from != 0) {
        struct wal_record rec = next_record(p, end, WAL_TRUNCATE);
        raft_index from = 0;
        assert(wal_decode_truncate(rec.payload, rec.len, &from, &why) == 0);
        assert(from == b->truncate_from);
        p += rec.size;
        seen++;
    }
    size_t k = 0;
    while (k < b->n_entries) {
        struct wal_record rec = next_record(p, end, WAL_ENTRIES);
        check_entries(&rec, b, &k);
        p += rec.size;
        seen++;
    }
    struct wal_record rec = next_record(p, end, WAL_COMMIT);
    uint32_t count = 0;
    assert(wal_decode_commit(rec.payload, rec.len, &count, &why) == 0);
    assert(count == seen && seen == records);
    assert(p + rec.size == end);
}

void wal_check_header_encoding(const uint8_t *record,
                               const struct wal_segment_header *h)
{
    struct wal_record rec =
        next_record(record, record + WAL_SEGMENT_RECORD, WAL_SEGMENT);
    struct wal_segment_header got;
    const char *why = NULL;
    assert(wal_decode_segment(rec.payload, rec.len, &got, &why) == 0);
    assert(got.seq == h->seq && got.first_index == h->first_index);
    assert(got.hard_state.term == h->hard_state.term &&
           got.hard_state.vote == h->hard_state.vote &&
           got.hard_state.commit == h->hard_state.commit);
}

void wal_check_seal_encoding(const uint8_t *record, uint64_t next_seq)
{
    struct wal_record rec = next_record(
        record, record + WAL_RECORD_HEADER + WAL_SEAL_PAYLOAD, WAL_SEAL);
    uint64_t got = 0;
    const char *why = NULL;
    assert(wal_decode_seal(rec.payload, rec.len, &got, &why) == 0);
    assert(got == next_seq);
}

void wal_check_mark_encoding(const uint8_t *records,
                             size_t len,
                             const struct wal_snapshot_mark *m)
{
    const uint8_t *end = records + len;
    struct wal_record rec = next_record(records, end, WAL_SNAPSHOT);
    struct wal_snapshot_mark got;
    const char *why = NULL;
    assert(wal_decode_snapshot_mark(rec.payload, rec.len, &got, &why) == 0);
    assert(got.index == m->index && got.term == m->term &&
           got.replaced == m->replaced);
    rec = next_record(records + rec.size, end, WAL_COMMIT);
    uint32_t count = 0;
    assert(wal_decode_commit(rec.payload, rec.len, &count, &why) == 0);
    assert(count == 1 && rec.payload + rec.len == end);
}

void wal_check_snapshot_encoding(const struct common_vec *head,
                                 const struct storage_snapshot_meta *meta,
                                 uint32_t flags,
                                 const void *data,
                                 size_t len,
                                 const uint8_t *trailer)
{
    size_t size = head->len + len + SNAP_TRAILER;
    uint8_t *file = malloc(size);
    if (file == NULL) {
        return; /* a debug check without memory checks less */
    }
    memcpy(file, head->data, head->len);
    if (len > 0) {
        memcpy(file + head->len, data, len);
    }
    memcpy(file + head->len + len, trailer, SNAP_TRAILER);
    struct snap_decoded d;
    uint64_t offset = 0;
    const char *why = NULL;
    assert(snap_decode(file, size, &d, &offset, &why) == 0);
    assert(d.meta.index == meta->index && d.meta.term == meta->term);
    assert(d.flags == flags && d.data_len == len);
    assert(d.meta.conf.count == meta->conf.count);
    for (uint32_t k = 0; k < meta->conf.count; k++) {
        assert(d.meta.conf.servers[k].id == meta->conf.servers[k].id &&
               d.meta.conf.servers[k].role == meta->conf.servers[k].role);
    }
    assert(len == 0 || memcmp(d.data, data, len) == 0);
    free(file);
}
