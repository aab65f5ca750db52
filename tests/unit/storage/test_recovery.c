/*
 * storage_recovery: what load does with what a crash or a bad disk leaves.
 *
 * A torn final batch - the last segment cut at every byte offset of its
 * last batch, or its last record's bytes damaged with nothing valid after
 * them - is cut off and reported, and exactly the batches written in full
 * load. Damage anywhere else (a flipped bit in a middle record, a missing
 * segment, a segment or entries out of order, a damaged snapshot, a
 * snapshot record without its file) refuses to start with COMMON_ECORRUPT
 * and a message naming the file and the byte offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "format.h"
#include "helpers.h"
#include "wal.h"

#define BATCHES 6

/* A log written batch by batch, with what was acknowledged after each. */
struct built
{
    struct storage_fs *fs;
    struct th_model after[BATCHES + 1]; /* after[k]: k batches written */
    char last_seg[BATCHES + 1][64];     /* last segment after k batches */
    size_t end[BATCHES + 1];            /* its size after k batches */
};

static size_t file_size(struct storage_fs *fs, const char *name)
{
    uint8_t *buf;
    size_t len;
    th_read_file(fs, name, &buf, &len);
    free(buf);
    return len;
}

static void last_segment(struct storage_fs *fs, char *out)
{
    char names[64][64];
    size_t n = th_list(fs, ".log", names, 64);
    assert_true(n > 0);
    snprintf(out, 64, "%s", names[n - 1]);
}

/* Batch k: a new hard state, k + 2 entries; batch 3 also truncates. The
 * last batch opens a new segment when @roll_last. */
static void build(struct built *b, bool roll_last)
{
    assert_int_equal(storage_fs_mem_new(5, &b->fs), 0);
    /* Segments big enough for all but (optionally) the last batch. */
    struct storage *s = th_wal(b->fs, roll_last ? 1500 : 1 << 20);
    struct th_model m;
    th_model_init(&m);
    th_model_copy(&b->after[0], &m);
    for (int k = 1; k <= BATCHES; k++) {
        raft_index last = th_model_last(&m);
        raft_index trunc = k == 3 ? last - 1 : 0;
        raft_index first = trunc ? trunc : last + 1;
        struct raft_hard_state hs = {(raft_term)k, 1, first - 1};
        struct th_entries e;
        th_entries_make(&e, first, (size_t)k + 2, (raft_term)k,
                        k == BATCHES && roll_last ? 400 : 20, 0);
        struct storage_batch batch = {&hs, trunc, e.e, e.n};
        th_write(s, &m, &batch);
        th_entries_free(&e);
        th_model_copy(&b->after[k], &m);
        last_segment(b->fs, b->last_seg[k]);
        b->end[k] = file_size(b->fs, b->last_seg[k]);
    }
    th_model_free(&m);
    storage_free(s);
}

static void built_free(struct built *b)
{
    for (int k = 0; k <= BATCHES; k++) {
        th_model_free(&b->after[k]);
    }
    storage_fs_free(b->fs);
}

/* Copies every file of @src into a new in-memory fs, the one named
 * @name cut to @len bytes (or all of them for SIZE_MAX). */
static struct storage_fs *copy_cut(struct storage_fs *src,
                                   const char *name,
                                   size_t len)
{
    struct storage_fs *dst;
    assert_int_equal(storage_fs_mem_new(9, &dst), 0);
    char names[64][64];
    size_t n = th_list(src, "", names, 64);
    for (size_t k = 0; k < n; k++) {
        uint8_t *buf;
        size_t size;
        th_read_file(src, names[k], &buf, &size);
        if (name != NULL && strcmp(names[k], name) == 0 && len < size) {
            size = len;
        }
        th_write_file(dst, names[k], buf, size);
        free(buf);
    }
    return dst;
}

/* Loads a WAL over @fs expecting COMMON_ECORRUPT with a message that
 * contains each of the given strings. */
static void expect_refused(struct storage_fs *fs, const char *a, const char *b)
{
    struct storage *s = th_wal(fs, 0);
    struct storage_state st;
    int rv = storage_load(s, &st);
    if (rv != COMMON_ECORRUPT || !th_contains(storage_error(s), a) ||
        (b != NULL && !th_contains(storage_error(s), b))) {
        fail_msg("load: %s (%s), expected corruption naming '%s' and '%s'",
                 common_strerror(rv), storage_error(s), a, b ? b : "");
    }
    /* A write refuses too: it would have to recover first. */
    struct raft_hard_state hs = {99, 0, 0};
    struct storage_batch batch = {&hs, 0, NULL, 0};
    assert_int_equal(storage_write(s, &batch), COMMON_ECORRUPT);
    storage_free(s);
}

/* Loads a WAL over @fs, expects @m and returns the note. */
static void expect_loads(struct storage_fs *fs,
                         const struct th_model *m,
                         char *note,
                         size_t note_len)
{
    struct storage *s = th_wal(fs, 1500);
    struct storage_state st;
    th_load_expect(s, m, &st);
    snprintf(note, note_len, "%s", st.recovery_note);
    storage_free(s);
}

/* The final batch cut at every offset: the batches before it load, the
 * cut is reported naming the segment, and the file is cut back to the
 * end of the last whole batch, after which writing goes on. */
static void check_every_cut(bool roll_last)
{
    struct built b;
    build(&b, roll_last);
    const char *seg = b.last_seg[BATCHES];
    size_t start = strcmp(b.last_seg[BATCHES - 1], seg) == 0
                       ? b.end[BATCHES - 1]
                       : WAL_SEGMENT_RECORD;
    assert_int_equal(roll_last, start == WAL_SEGMENT_RECORD);
    size_t end = b.end[BATCHES];
    for (size_t cut = start; cut < end; cut++) {
        struct storage_fs *fs = copy_cut(b.fs, seg, cut);
        char note[256];
        expect_loads(fs, &b.after[BATCHES - 1], note, sizeof note);
        if (cut == start) {
            assert_string_equal(note, "");
        } else if (!th_contains(note, seg)) {
            fail_msg("cut at %zu: note '%s' does not name %s", cut, note, seg);
        }
        assert_int_equal(file_size(fs, seg), start);
        /* The repaired log takes the last batch again. */
        struct storage *s = th_wal(fs, 1500);
        struct th_model m;
        th_model_copy(&m, &b.after[BATCHES - 1]);
        struct storage_state st;
        th_load_expect(s, &m, &st);
        struct th_entries e;
        th_entries_make(&e, th_model_last(&m) + 1, 2, BATCHES, 7, 1);
        struct storage_batch batch = {NULL, 0, e.e, e.n};
        th_write(s, &m, &batch);
        th_entries_free(&e);
        storage_free(s);
        char note2[256];
        expect_loads(fs, &m, note2, sizeof note2);
        assert_string_equal(note2, "");
        th_model_free(&m);
        storage_fs_free(fs);
    }
    built_free(&b);
}

/* The last batch of the last segment cut at every byte offset. */
static void recovery_cuts_torn_batch_at_every_offset(void **state)
{
    (void)state;
    check_every_cut(false);
}

/* The same when the torn batch is the first of a new segment. */
static void recovery_cuts_torn_first_batch_of_segment(void **state)
{
    (void)state;
    check_every_cut(true);
}

/* A crash while starting a segment: the seal of the one before it cut at
 * every offset, the new one holding its header or less. The new segment
 * is removed, the torn seal cut, and every batch loads. With the seal
 * whole, the new segment's header must be whole too. */
static void recovery_handles_crash_while_starting_segment(void **state)
{
    (void)state;
    struct built b;
    build(&b, true);
    const char *old = b.last_seg[BATCHES - 1];
    const char *seg = b.last_seg[BATCHES];
    size_t sealed = file_size(b.fs, old);
    size_t unsealed = b.end[BATCHES - 1];
    assert_int_equal(sealed, unsealed + WAL_RECORD_HEADER + WAL_SEAL_PAYLOAD);
    for (size_t cut_old = unsealed; cut_old <= sealed; cut_old++) {
        for (size_t cut_new = 0; cut_new <= WAL_SEGMENT_RECORD; cut_new++) {
            struct storage_fs *fs = copy_cut(b.fs, seg, cut_new);
            uint8_t *buf;
            size_t len;
            th_read_file(fs, old, &buf, &len);
            th_write_file(fs, old, buf, cut_old);
            free(buf);
            if (cut_old < sealed) {
                char note[256];
                expect_loads(fs, &b.after[BATCHES - 1], note, sizeof note);
                assert_true(th_contains(note, seg));
                char names[64][64];
                size_t n = th_list(fs, ".log", names, 64);
                assert_string_equal(names[n - 1], old);
                assert_int_equal(file_size(fs, old), unsealed);
            } else if (cut_new < WAL_SEGMENT_RECORD) {
                expect_refused(fs, seg, "(segment header)");
            } else {
                char note[256];
                expect_loads(fs, &b.after[BATCHES - 1], note, sizeof note);
                assert_string_equal(note, "");
            }
            storage_fs_free(fs);
        }
    }
    built_free(&b);
}

/* Finds the offsets of the records in a segment (at most @max). */
static size_t record_offsets(const uint8_t *buf,
                             size_t len,
                             size_t *at,
                             size_t max)
{
    size_t n = 0;
    size_t off = 0;
    while (off < len && n < max) {
        struct wal_record rec;
        const char *why;
        assert_int_equal(wal_record_parse(buf + off, len - off, &rec, &why),
                         WAL_PARSE_OK);
        at[n++] = off;
        off += rec.size;
    }
    return n;
}

/* The last segment of a built log, and where its records begin. */
struct last_seg
{
    const char *name;
    uint8_t *buf;
    size_t len;
    size_t at[64];
    size_t n;
};

static void read_last(struct built *b, struct last_seg *ls)
{
    ls->name = b->last_seg[BATCHES];
    th_read_file(b->fs, ls->name, &ls->buf, &ls->len);
    ls->n = record_offsets(ls->buf, ls->len, ls->at, 64);
}

/* Copies @src with one byte of @name changed by @x at @offset. */
static struct storage_fs *copy_flip(struct storage_fs *src,
                                    const char *name,
                                    size_t offset,
                                    uint8_t x)
{
    struct storage_fs *fs = copy_cut(src, NULL, SIZE_MAX);
    uint8_t *buf;
    size_t len;
    th_read_file(fs, name, &buf, &len);
    assert_true(offset < len);
    buf[offset] ^= x;
    th_write_file(fs, name, buf, len);
    free(buf);
    return fs;
}

/* Any damage to the final record (a flipped bit in any byte, nothing
 * valid after it) drops its batch and reports it; zeros after the last
 * whole batch (preallocated or zero-filled blocks) are cut too. */
static void recovery_cuts_damaged_final_record(void **state)
{
    (void)state;
    struct built b;
    build(&b, false);
    struct last_seg ls;
    read_last(&b, &ls);
    const char *seg = ls.name;
    uint8_t *buf = ls.buf;
    size_t len = ls.len;
    for (size_t off = ls.at[ls.n - 1]; off < len; off++) {
        struct storage_fs *fs = copy_flip(b.fs, seg, off, 0x10);
        char note[256];
        expect_loads(fs, &b.after[BATCHES - 1], note, sizeof note);
        assert_true(th_contains(note, "CRC mismatch"));
        storage_fs_free(fs);
    }
    /* 4 KiB of zeros after the last batch: every batch is there. */
    struct storage_fs *fs = copy_cut(b.fs, NULL, SIZE_MAX);
    uint8_t *padded = calloc(len + 4096, 1);
    assert_non_null(padded);
    memcpy(padded, buf, len);
    th_write_file(fs, seg, padded, len + 4096);
    char note[256];
    expect_loads(fs, &b.after[BATCHES], note, sizeof note);
    char want[256];
    snprintf(want, sizeof want, "dropped 4096 bytes from offset %zu", len);
    assert_true(th_contains(note, want));
    free(padded);
    storage_fs_free(fs);
    free(buf);
    built_free(&b);
}

/* A flipped bit anywhere in a record with valid records after it refuses
 * to start, naming the segment and the record's offset. */
static void recovery_refuses_flipped_bit_in_middle_record(void **state)
{
    (void)state;
    struct built b;
    build(&b, false);
    struct last_seg ls;
    read_last(&b, &ls);
    assert_true(ls.n > 8);
    /* Every byte of a record in the middle. */
    size_t r = ls.n / 2;
    for (size_t off = ls.at[r]; off < ls.at[r + 1]; off++) {
        struct storage_fs *fs = copy_flip(b.fs, ls.name, off, 0x01);
        char want[256];
        snprintf(want, sizeof want, "mem/%s: offset %zu: ", ls.name, ls.at[r]);
        expect_refused(fs, want, "a valid record follows");
        storage_fs_free(fs);
    }
    free(ls.buf);
    built_free(&b);
}

/* Damage at the very end of a segment that is not the last is not a
 * torn write: refused; so is a segment that lost its seal and ends
 * cleanly at a batch, with another after it. */
static void recovery_refuses_damage_in_earlier_segment(void **state)
{
    (void)state;
    struct built b;
    build(&b, true);
    const char *seg = b.last_seg[BATCHES - 1];
    size_t len = file_size(b.fs, seg);
    struct storage_fs *fs = copy_flip(b.fs, seg, len - 1, 0x80);
    expect_refused(fs, seg, "not the last");
    storage_fs_free(fs);
    fs = copy_cut(b.fs, seg, len - 3);
    expect_refused(fs, seg, "short record payload");
    storage_fs_free(fs);
    fs = copy_cut(b.fs, seg, b.end[BATCHES - 1]);
    expect_refused(fs, seg, "without a seal record");
    storage_fs_free(fs);
    built_free(&b);
}

/* Many segments; hard states commit everything written before. */
static struct storage_fs *many_segments(struct th_model *m, size_t *n_segs)
{
    struct storage_fs *fs;
    assert_int_equal(storage_fs_mem_new(3, &fs), 0);
    struct storage *s = th_wal(fs, 600);
    th_model_init(m);
    th_write_batches(s, m, 12, 4, 1, 50);
    storage_free(s);
    char names[64][64];
    *n_segs = th_list(fs, ".log", names, 64);
    assert_true(*n_segs >= 4);
    return fs;
}

/* A missing segment - in the middle, the first, or the last - refuses to
 * start, naming where the gap shows; so does a snapshot whose segments
 * are all gone. */
static void recovery_refuses_missing_segment(void **state)
{
    (void)state;
    struct th_model m;
    size_t n;
    struct storage_fs *src = many_segments(&m, &n);
    char names[64][64];
    th_list(src, ".log", names, 64);

    struct storage_fs *fs = copy_cut(src, NULL, SIZE_MAX);
    assert_int_equal(fs->vt->unlink(fs, names[1]), 0);
    expect_refused(fs, names[2], "offset 0: the segment before it");
    storage_fs_free(fs);

    fs = copy_cut(src, NULL, SIZE_MAX);
    assert_int_equal(fs->vt->unlink(fs, names[0]), 0);
    expect_refused(fs, names[1], "are missing");
    storage_fs_free(fs);

    /* The last one (and with it, the newest hard state). */
    fs = copy_cut(src, NULL, SIZE_MAX);
    assert_int_equal(fs->vt->unlink(fs, names[n - 1]), 0);
    expect_refused(fs, names[n - 2], "is missing");
    storage_fs_free(fs);

    /* Renamed to another first index: the header disagrees. */
    fs = copy_cut(src, NULL, SIZE_MAX);
    uint64_t seq;
    raft_index first;
    assert_true(wal_parse_segment_name(names[2], &seq, &first));
    char renamed[WAL_NAME_MAX];
    wal_segment_name(renamed, seq, first + 1);
    assert_int_equal(fs->vt->rename(fs, names[2], renamed), 0);
    expect_refused(fs, renamed, "unlike the file name");
    storage_fs_free(fs);

    /* The untouched copy loads. */
    char note[256];
    expect_loads(src, &m, note, sizeof note);
    th_model_free(&m);
    storage_fs_free(src);
}

/* Builds a segment file by hand: a header, then batches given as
 * (type, payload) records with commits added by the caller. */
struct craft
{
    struct common_vec v;
    uint32_t in_batch;
};

static void craft_begin(struct craft *c, uint64_t seq, raft_index first)
{
    common_vec_init(&c->v);
    c->in_batch = 0;
    struct wal_segment_header h = {seq, first, {1, 0, 0}};
    uint8_t p[WAL_SEGMENT_PAYLOAD];
    wal_encode_segment(p, &h);
    assert_int_equal(wal_record_append(&c->v, WAL_SEGMENT, p, sizeof p), 0);
}

/* Entries first .. first + n - 1 of @term; returns the record's offset. */
static size_t craft_entries_of(struct craft *c,
                               raft_index first,
                               size_t n,
                               raft_term term)
{
    struct th_entries e;
    th_entries_make(&e, first, n, term, 5, 0);
    size_t at;
    assert_int_equal(wal_record_start(&c->v, &at), 0);
    assert_int_equal(wal_encode_entries(&c->v, e.e, n), 0);
    wal_record_finish(&c->v, at, WAL_ENTRIES);
    th_entries_free(&e);
    c->in_batch++;
    return at;
}

static size_t craft_entries(struct craft *c, raft_index first, size_t n)
{
    return craft_entries_of(c, first, n, 1);
}

/* A record of @type with @len bytes of @payload; returns its offset. */
static size_t craft_record(struct craft *c,
                           unsigned type,
                           const void *payload,
                           size_t len)
{
    size_t at = c->v.len;
    assert_int_equal(wal_record_append(&c->v, type, payload, len), 0);
    c->in_batch++;
    return at;
}

static size_t craft_commit(struct craft *c, uint32_t count)
{
    size_t at = c->v.len;
    uint8_t p[WAL_COMMIT_PAYLOAD];
    wal_encode_commit(p, count);
    assert_int_equal(wal_record_append(&c->v, WAL_COMMIT, p, sizeof p), 0);
    c->in_batch = 0;
    return at;
}

static struct storage_fs *craft_fs(struct craft *c,
                                   uint64_t seq,
                                   raft_index first)
{
    struct storage_fs *fs;
    assert_int_equal(storage_fs_mem_new(1, &fs), 0);
    char name[WAL_NAME_MAX];
    wal_segment_name(name, seq, first);
    th_write_file(fs, name, c->v.data, c->v.len);
    common_vec_fini(&c->v);
    return fs;
}

/* Entries that skip an index, a commit record that miscounts its batch,
 * a segment header in the middle, and a segment that does not begin where
 * the log ended are refused at their offsets - even in the last batch. */
static void recovery_refuses_inconsistent_records(void **state)
{
    (void)state;
    struct craft c;
    char want[256];

    craft_begin(&c, 1, 1);
    craft_entries(&c, 1, 3);
    craft_commit(&c, 1);
    size_t at = craft_entries(&c, 5, 2);
    craft_commit(&c, 1);
    struct storage_fs *fs = craft_fs(&c, 1, 1);
    snprintf(want, sizeof want, "offset %zu: entries from index 5", at);
    expect_refused(fs, want, "out of order");
    storage_fs_free(fs);

    craft_begin(&c, 1, 1);
    craft_entries(&c, 1, 3);
    at = craft_commit(&c, 2);
    fs = craft_fs(&c, 1, 1);
    snprintf(want, sizeof want, "offset %zu: the commit record counts 2", at);
    expect_refused(fs, want, "batch has 1");
    storage_fs_free(fs);

    craft_begin(&c, 1, 1);
    at = c.v.len;
    struct wal_segment_header h = {1, 1, {1, 0, 0}};
    uint8_t p[WAL_SEGMENT_PAYLOAD];
    wal_encode_segment(p, &h);
    assert_int_equal(wal_record_append(&c.v, WAL_SEGMENT, p, sizeof p), 0);
    fs = craft_fs(&c, 1, 1);
    snprintf(want, sizeof want, "offset %zu: a segment header", at);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    /* Two segments; the second claims to begin at 50. */
    craft_begin(&c, 1, 1);
    craft_entries(&c, 1, 10);
    craft_commit(&c, 1);
    uint8_t sp[WAL_SEAL_PAYLOAD];
    wal_encode_seal(sp, 2);
    assert_int_equal(wal_record_append(&c.v, WAL_SEAL, sp, sizeof sp), 0);
    fs = craft_fs(&c, 1, 1);
    craft_begin(&c, 2, 50);
    craft_entries(&c, 50, 1);
    craft_commit(&c, 1);
    char name[WAL_NAME_MAX];
    wal_segment_name(name, 2, 50);
    th_write_file(fs, name, c.v.data, c.v.len);
    common_vec_fini(&c.v);
    expect_refused(fs, name,
                   "begins at index 50 but the log before it "
                   "ends at 10");
    storage_fs_free(fs);

    /* A first record that is not a segment header. */
    common_vec_init(&c.v);
    uint8_t cp[WAL_COMMIT_PAYLOAD];
    wal_encode_commit(cp, 0);
    assert_int_equal(wal_record_append(&c.v, WAL_COMMIT, cp, sizeof cp), 0);
    fs = craft_fs(&c, 1, 1);
    expect_refused(fs, "offset 0: the first record is a commit record", NULL);
    storage_fs_free(fs);
}

/* Writes a log with a snapshot; returns the snapshot file's name. */
static struct storage_fs *with_snapshot(struct th_model *m, char *snap_name)
{
    struct storage_fs *fs;
    assert_int_equal(storage_fs_mem_new(4, &fs), 0);
    struct storage *s = th_wal(fs, 0);
    th_model_init(m);
    struct raft_hard_state hs = {2, 1, 20};
    struct th_entries e;
    th_entries_make(&e, 1, 30, 2, 16, 0);
    struct storage_batch batch = {&hs, 0, e.e, e.n};
    th_write(s, m, &batch);
    th_entries_free(&e);
    struct storage_snapshot_meta meta = {10, 2, th_conf(3)};
    const char data[] = "first snapshot";
    assert_int_equal(storage_save_snapshot(s, &meta, data, sizeof data), 0);
    th_model_snapshot(m, &meta, data, sizeof data);
    meta.index = 20;
    const char data2[] = "second snapshot, the one that counts";
    assert_int_equal(storage_save_snapshot(s, &meta, data2, sizeof data2), 0);
    th_model_snapshot(m, &meta, data2, sizeof data2);
    storage_free(s);
    wal_snapshot_name(snap_name, 20);
    return fs;
}

/* A snapshot file with a bad CRC, a damaged header or a short length
 * refuses to start naming the file and offset - and does not fall back to
 * an older snapshot file lying next to it. */
static void recovery_refuses_damaged_snapshot(void **state)
{
    (void)state;
    struct th_model m;
    char snap[WAL_NAME_MAX];
    struct storage_fs *src = with_snapshot(&m, snap);
    uint8_t *buf;
    size_t len;
    th_read_file(src, snap, &buf, &len);
    char want[256];

    struct storage_fs *fs = copy_flip(src, snap, len - 10, 0x04);
    /* An older, intact snapshot is there to fall back to: not taken. */
    char older[WAL_NAME_MAX];
    wal_snapshot_name(older, 5);
    th_write_file(fs, older, buf, len);
    snprintf(want, sizeof want, "mem/%s: offset %zu: snapshot CRC mismatch",
             snap, len - SNAP_TRAILER);
    expect_refused(fs, want, "refusing to start");
    storage_fs_free(fs);

    fs = copy_flip(src, snap, 20, 0x01);
    snprintf(want, sizeof want, "mem/%s: offset 40: snapshot header CRC", snap);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    fs = copy_cut(src, snap, len - 1);
    snprintf(want, sizeof want, "mem/%s: offset %zu: file ends", snap, len - 1);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    fs = copy_cut(src, snap, 0);
    snprintf(want, sizeof want, "mem/%s: offset 0: file ends inside", snap);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    /* Every segment gone: the hard state with them. */
    fs = copy_cut(src, NULL, SIZE_MAX);
    char names[8][64];
    size_t n = th_list(fs, ".log", names, 8);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(fs->vt->unlink(fs, names[k]), 0);
    }
    expect_refused(fs, snap, "segments are missing");
    storage_fs_free(fs);

    /* The log records the snapshot; its file is gone. */
    fs = copy_cut(src, NULL, SIZE_MAX);
    assert_int_equal(fs->vt->unlink(fs, snap), 0);
    expect_refused(fs, "records a snapshot at index 10", "no snapshot file");
    storage_fs_free(fs);

    char note[256];
    expect_loads(src, &m, note, sizeof note);
    free(buf);
    th_model_free(&m);
    storage_fs_free(src);
}

/* A segment holding entries 1..3 of term @term, a batch with a hard
 * state of @hs_term, vote 2, commit @commit, and a truncation from
 * @truncate (none for 0); *at is the hard state record's offset. */
static struct storage_fs *craft_bounded(raft_term term,
                                        raft_term hs_term,
                                        raft_index commit,
                                        raft_index truncate,
                                        size_t *at)
{
    struct craft c;
    craft_begin(&c, 1, 1);
    craft_entries_of(&c, 1, 3, term);
    craft_commit(&c, 1);
    uint8_t p[WAL_HARD_STATE_PAYLOAD];
    struct raft_hard_state hs = {hs_term, 2, commit};
    wal_encode_hard_state(p, &hs);
    *at = craft_record(&c, WAL_HARD_STATE, p, sizeof p);
    if (truncate != 0) {
        uint8_t tp[WAL_TRUNCATE_PAYLOAD];
        wal_encode_truncate(tp, truncate);
        craft_record(&c, WAL_TRUNCATE, tp, sizeof tp);
    }
    craft_commit(&c, c.in_batch);
    return craft_fs(&c, 1, 1);
}

/* A stored term or index above the bounds of raft.h (2^62) refuses to
 * start, naming the file, the record's offset and the value: the hard
 * state's term (what one forged heartbeat of term 2^64-1 once left on
 * every node) and commit, entries' terms, a truncation; terms at the bound
 * load. */
static void recovery_refuses_hard_state_and_entries_beyond_bounds(void **state)
{
    (void)state;
    char want[256];
    size_t at;
    struct storage_fs *fs = craft_bounded(1, UINT64_MAX, 3, 0, &at);
    snprintf(want, sizeof want,
             "mem/0000000000000001-0000000000000001.log: offset %zu: the hard "
             "state's term 18446744073709551615 is beyond the bound 2^62",
             at);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    fs = craft_bounded(1, 1, RAFT_INDEX_MAX + 1, 0, &at);
    snprintf(want, sizeof want,
             "offset %zu: the hard state's commit index 4611686018427387905 "
             "is beyond the bound 2^62",
             at);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    fs = craft_bounded(RAFT_TERM_MAX + 1, RAFT_TERM_MAX + 1, 3, 0, &at);
    expect_refused(fs, "offset 64: entry 1's term 4611686018427387905",
                   "beyond the bound 2^62");
    storage_fs_free(fs);

    fs = craft_bounded(1, 1, 0, UINT64_MAX, &at);
    expect_refused(fs, "a truncation's index 18446744073709551615",
                   "beyond the bound 2^62");
    storage_fs_free(fs);

    /* At the bound: loads. */
    fs = craft_bounded(RAFT_TERM_MAX, RAFT_TERM_MAX, 3, 0, &at);
    struct storage *s = th_wal(fs, 0);
    struct storage_state st;
    assert_int_equal(storage_load(s, &st), 0);
    assert_true(st.hard_state.term == RAFT_TERM_MAX);
    assert_int_equal(st.n_entries, 3);
    assert_true(st.entries[2].term == RAFT_TERM_MAX);
    storage_free(s);
    storage_fs_free(fs);

    /* On real files, the message names the real path. */
    char dir[] = "/tmp/raftkv-bounds-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct storage_fs *posix;
    assert_int_equal(storage_fs_posix_new(dir, &posix), 0);
    fs = craft_bounded(1, UINT64_MAX, 3, 0, &at);
    uint8_t *buf;
    size_t len;
    th_read_file(fs, "0000000000000001-0000000000000001.log", &buf, &len);
    th_write_file(posix, "0000000000000001-0000000000000001.log", buf, len);
    snprintf(want, sizeof want,
             "%s/0000000000000001-0000000000000001.log: offset %zu: the hard "
             "state's term 18446744073709551615 is beyond the bound 2^62",
             dir, at);
    expect_refused(posix, want, NULL);
    assert_int_equal(
        posix->vt->unlink(posix, "0000000000000001-0000000000000001.log"), 0);
    storage_fs_free(posix);
    assert_int_equal(rmdir(dir), 0);
    free(buf);
    storage_fs_free(fs);
}

/* A segment header whose hard state or first index is beyond the bounds,
 * entries that run past RAFT_INDEX_MAX, and a snapshot record beyond them
 * refuse to start at their offsets. */
static void recovery_refuses_segment_and_marks_beyond_bounds(void **state)
{
    (void)state;
    struct craft c;
    /* The header's hard state. */
    common_vec_init(&c.v);
    c.in_batch = 0;
    struct wal_segment_header h = {1, 1, {UINT64_MAX, 0, 0}};
    uint8_t p[WAL_SEGMENT_PAYLOAD];
    wal_encode_segment(p, &h);
    craft_record(&c, WAL_SEGMENT, p, sizeof p);
    struct storage_fs *fs = craft_fs(&c, 1, 1);
    expect_refused(fs,
                   "offset 0: the hard state's term 18446744073709551615 is "
                   "beyond the bound 2^62",
                   NULL);
    storage_fs_free(fs);

    /* A first index two past the last index there can be. */
    craft_begin(&c, 1, RAFT_INDEX_MAX + 2);
    fs = craft_fs(&c, 1, RAFT_INDEX_MAX + 2);
    expect_refused(fs,
                   "offset 0: the segment's first index 4611686018427387906 "
                   "is beyond the bound 2^62 + 1",
                   NULL);
    storage_fs_free(fs);

    /* Entries RAFT_INDEX_MAX - 1 .. RAFT_INDEX_MAX + 1. */
    craft_begin(&c, 1, RAFT_INDEX_MAX - 1);
    size_t at = craft_entries(&c, RAFT_INDEX_MAX - 1, 3);
    craft_commit(&c, 1);
    fs = craft_fs(&c, 1, RAFT_INDEX_MAX - 1);
    char want[256];
    snprintf(want, sizeof want,
             "offset %zu: the entries' last index 4611686018427387905 is "
             "beyond the bound 2^62",
             at);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    /* Snapshot records: an index, then a term beyond. */
    for (int k = 0; k < 2; k++) {
        craft_begin(&c, 1, 1);
        craft_entries(&c, 1, 3);
        craft_commit(&c, 1);
        uint8_t mp[WAL_SNAPSHOT_PAYLOAD];
        struct wal_snapshot_mark m = {k == 0 ? UINT64_MAX : 2,
                                      k == 0 ? 1 : UINT64_MAX, false};
        wal_encode_snapshot_mark(mp, &m);
        at = craft_record(&c, WAL_SNAPSHOT, mp, sizeof mp);
        craft_commit(&c, 1);
        fs = craft_fs(&c, 1, 1);
        snprintf(want, sizeof want, "offset %zu: the snapshot's %s", at,
                 k == 0 ? "index 18446744073709551615"
                        : "term 18446744073709551615");
        expect_refused(fs, want, "beyond the bound 2^62");
        storage_fs_free(fs);
    }
}

/* Replaces snapshot file @name in @fs with a valid one of @index and
 * @term. */
static void write_snapshot_file(struct storage_fs *fs,
                                const char *name,
                                raft_index index,
                                raft_term term)
{
    struct storage_snapshot_meta meta = {index, term, th_conf(3)};
    struct common_vec v;
    common_vec_init(&v);
    assert_int_equal(snap_encode_head(&v, &meta, 0, 4), 0);
    assert_int_equal(common_vec_append(&v, "data", 4), 0);
    uint8_t t[SNAP_TRAILER];
    snap_encode_trailer(t, common_crc32c(0, v.data, v.len));
    assert_int_equal(common_vec_append(&v, t, sizeof t), 0);
    th_write_file(fs, name, v.data, v.len);
    common_vec_fini(&v);
}

/* A snapshot file whose index or term is beyond the bounds refuses to
 * start, naming the file and the field's offset (16 for the index, 24 for
 * the term). */
static void recovery_refuses_snapshot_file_beyond_bounds(void **state)
{
    (void)state;
    struct th_model m;
    char snap[WAL_NAME_MAX];
    struct storage_fs *src = with_snapshot(&m, snap);
    char want[256];

    struct storage_fs *fs = copy_cut(src, NULL, SIZE_MAX);
    write_snapshot_file(fs, snap, 20, UINT64_MAX);
    snprintf(want, sizeof want,
             "mem/%s: offset 24: the snapshot's term 18446744073709551615 is "
             "beyond the bound 2^62",
             snap);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    fs = copy_cut(src, NULL, SIZE_MAX);
    char big[WAL_NAME_MAX];
    wal_snapshot_name(big, RAFT_INDEX_MAX + 1);
    write_snapshot_file(fs, big, RAFT_INDEX_MAX + 1, 2);
    snprintf(want, sizeof want,
             "mem/%s: offset 16: the snapshot's index 4611686018427387905 is "
             "beyond the bound 2^62",
             big);
    expect_refused(fs, want, NULL);
    storage_fs_free(fs);

    th_model_free(&m);
    storage_fs_free(src);
}

/* A snapshot left half written (a .tmp file) is removed and reported. */
static void recovery_removes_unfinished_snapshot(void **state)
{
    (void)state;
    struct th_model m;
    char snap[WAL_NAME_MAX];
    struct storage_fs *fs = with_snapshot(&m, snap);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "snapshot-%016llx.snap.tmp", 30ull);
    th_write_file(fs, tmp, (const uint8_t *)"half", 4);
    th_write_file(fs, "unrelated.txt", (const uint8_t *)"keep", 4);
    char note[256];
    expect_loads(fs, &m, note, sizeof note);
    assert_true(th_contains(note, "removed an unfinished snapshot"));
    assert_true(th_contains(note, tmp));
    char names[8][64];
    assert_int_equal(th_list(fs, ".tmp", names, 8), 0);
    assert_int_equal(th_list(fs, ".txt", names, 8), 1);
    th_model_free(&m);
    storage_fs_free(fs);
}

/* A crash after the snapshot file is durable but before the log records
 * it: recovery does what the snapshot did to the log (drop the entries it
 * covers, or replace the log), with or without a torn record after. */
static void recovery_applies_snapshot_logged_too_late(void **state)
{
    (void)state;
    for (int replaced = 0; replaced <= 1; replaced++) {
        for (int tear = 0; tear <= 1; tear++) {
            struct storage_fs *fs;
            assert_int_equal(storage_fs_mem_new((uint64_t)tear, &fs), 0);
            struct storage *s = th_wal(fs, 0);
            struct th_model m;
            th_model_init(&m);
            struct raft_hard_state hs = {3, 1, 10};
            struct th_entries e;
            th_entries_make(&e, 1, 30, 2, 16, 0);
            struct storage_batch batch = {&hs, 0, e.e, e.n};
            th_write(s, &m, &batch);
            th_entries_free(&e);
            struct storage_snapshot_meta meta = {20, replaced ? 3 : 2,
                                                 th_conf(3)};
            /* head, data, trailer of the snapshot file; then the mark. */
            storage_fs_mem_fail(fs, STORAGE_FS_APPEND, 3, COMMON_EIO);
            assert_int_equal(storage_save_snapshot(s, &meta, "snap", 4),
                             COMMON_EIO);
            assert_true(th_contains(storage_error(s), ".log: append"));
            th_model_snapshot(&m, &meta, "snap", 4);
            storage_free(s);
            storage_fs_mem_crash(fs, tear == 1);
            char note[256];
            expect_loads(fs, &m, note, sizeof note);
            assert_true(th_contains(note, "logged the snapshot at index 20"));
            /* And writing goes on from there. */
            s = th_wal(fs, 0);
            struct storage_state st;
            th_load_expect(s, &m, &st);
            th_entries_make(&e, th_model_last(&m) + 1, 2, 3, 16, 0);
            struct storage_batch more = {NULL, 0, e.e, e.n};
            th_write(s, &m, &more);
            th_entries_free(&e);
            storage_free(s);
            expect_loads(fs, &m, note, sizeof note);
            th_model_free(&m);
            storage_fs_free(fs);
        }
    }
}

/* The torn-tail loop on real files: every cut of the final batch. */
static void recovery_posix_cuts_torn_batch_at_every_offset(void **state)
{
    (void)state;
    struct built b;
    build(&b, false);
    const char *seg = b.last_seg[BATCHES];
    uint8_t *buf;
    size_t len;
    th_read_file(b.fs, seg, &buf, &len);
    char dir[] = "/tmp/raftkv-recovery-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct storage_fs *fs;
    assert_int_equal(storage_fs_posix_new(dir, &fs), 0);
    for (size_t cut = b.end[BATCHES - 1]; cut < len; cut++) {
        th_write_file(fs, seg, buf, cut);
        char note[256];
        expect_loads(fs, &b.after[BATCHES - 1], note, sizeof note);
        if (cut > b.end[BATCHES - 1]) {
            char want[256];
            snprintf(want, sizeof want, "end of %s/%s", dir, seg);
            assert_true(th_contains(note, want));
        }
        assert_int_equal(file_size(fs, seg), b.end[BATCHES - 1]);
    }
    th_write_file(fs, seg, buf, len);
    char note[256];
    expect_loads(fs, &b.after[BATCHES], note, sizeof note);
    assert_string_equal(note, "");
    assert_int_equal(fs->vt->unlink(fs, seg), 0);
    storage_fs_free(fs);
    assert_int_equal(rmdir(dir), 0);
    free(buf);
    built_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recovery_cuts_torn_batch_at_every_offset),
        cmocka_unit_test(recovery_cuts_torn_first_batch_of_segment),
        cmocka_unit_test(recovery_handles_crash_while_starting_segment),
        cmocka_unit_test(recovery_cuts_damaged_final_record),
        cmocka_unit_test(recovery_refuses_flipped_bit_in_middle_record),
        cmocka_unit_test(recovery_refuses_damage_in_earlier_segment),
        cmocka_unit_test(recovery_refuses_missing_segment),
        cmocka_unit_test(recovery_refuses_inconsistent_records),
        cmocka_unit_test(recovery_refuses_damaged_snapshot),
        cmocka_unit_test(recovery_removes_unfinished_snapshot),
        cmocka_unit_test(recovery_applies_snapshot_logged_too_late),
        cmocka_unit_test(recovery_posix_cuts_torn_batch_at_every_offset),
        cmocka_unit_test(recovery_refuses_hard_state_and_entries_beyond_bounds),
        cmocka_unit_test(recovery_refuses_segment_and_marks_beyond_bounds),
        cmocka_unit_test(recovery_refuses_snapshot_file_beyond_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
