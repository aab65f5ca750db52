/*
 * fuzz_wal: recovery of the write-ahead log (storage/) from a directory
 * whose files come from the fuzzer (wal_input.h has the format), on the
 * in-memory file system.
 *
 * Properties: storage_load either loads a state that keeps the WAL's
 * promises (entries contiguous after the snapshot, commit within the log)
 * or refuses with an error code and a message; never a crash, a leak or
 * undefined behaviour. A load that succeeded leaves a directory that a
 * fresh WAL loads to the same state (recovery's repairs are durable and
 * its snapshot marks agree with the next replay), and that takes one
 * more entry and gives it back on the next load.
 */
#include <string.h>

#include "fuzz.h"
#include "storage/storage.h"
#include "wal_input.h"

static void put_file(struct storage_fs *fs,
                     uint8_t kind,
                     const char *name,
                     const uint8_t *data,
                     size_t len,
                     bool fix_crcs)
{
    struct storage_file *f;
    FUZZ_CHECK(fs->vt->open(fs, name, true, &f) == 0);
    if (len > 0) {
        uint8_t *copy = malloc(len);
        FUZZ_NONNULL(copy);
        memcpy(copy, data, len);
        if (fix_crcs) {
            wal_input_fix_crcs(kind, copy, len);
        }
        FUZZ_CHECK(fs->vt->append(fs, f, copy, len) == 0);
        free(copy);
    }
    FUZZ_CHECK(fs->vt->sync(fs, f) == 0);
    FUZZ_CHECK(fs->vt->close(fs, f) == 0);
}

static void check_state(const struct storage_state *st)
{
    FUZZ_CHECK(st->has_snapshot || st->snapshot_index == 0);
    FUZZ_CHECK(st->snapshot_index == st->snapshot.index);
    FUZZ_CHECK(st->snapshot_term == st->snapshot.term);
    FUZZ_CHECK(st->n_entries == 0 || st->entries != NULL);
    /* The WAL promises the indexes; the terms are the core's to judge
     * (raft_new refuses a log whose terms go down or pass the hard
     * state's), so a CRC-valid file may hand out any. */
    for (size_t k = 0; k < st->n_entries; k++) {
        const struct raft_entry *e = &st->entries[k];
        FUZZ_CHECK(e->index == st->snapshot_index + 1 + k);
        FUZZ_CHECK(e->data.len == 0 || e->data.base != NULL);
    }
    FUZZ_CHECK(st->hard_state.commit <= st->snapshot_index + st->n_entries);
    FUZZ_CHECK(memchr(st->recovery_note, '\0', sizeof st->recovery_note));
}

static bool same_bytes(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static void check_same(const struct storage_state *a,
                       const struct storage_state *b)
{
    FUZZ_CHECK(a->hard_state.term == b->hard_state.term);
    FUZZ_CHECK(a->hard_state.vote == b->hard_state.vote);
    FUZZ_CHECK(a->hard_state.commit == b->hard_state.commit);
    FUZZ_CHECK(a->has_snapshot == b->has_snapshot);
    FUZZ_CHECK(a->snapshot_index == b->snapshot_index);
    FUZZ_CHECK(a->snapshot_term == b->snapshot_term);
    FUZZ_CHECK(a->snapshot.conf.count == b->snapshot.conf.count);
    FUZZ_CHECK(same_bytes(a->snapshot_data, a->snapshot_len, b->snapshot_data,
                          b->snapshot_len));
    FUZZ_CHECK(a->n_entries == b->n_entries);
    for (size_t k = 0; k < a->n_entries; k++) {
        const struct raft_entry *x = &a->entries[k];
        const struct raft_entry *y = &b->entries[k];
        FUZZ_CHECK(x->index == y->index && x->term == y->term &&
                   x->type == y->type);
        FUZZ_CHECK(
            same_bytes(x->data.base, x->data.len, y->data.base, y->data.len));
    }
}

/* Appends one entry after the loaded log and loads it back. */
static void check_append(struct storage_fs *fs, const struct storage_state *st)
{
    raft_term term = st->hard_state.term;
    if (st->snapshot_term > term) {
        term = st->snapshot_term;
    }
    if (st->n_entries > 0 && st->entries[st->n_entries - 1].term > term) {
        term = st->entries[st->n_entries - 1].term;
    }
    struct raft_hard_state hs = st->hard_state;
    hs.term = term;
    static const char cmd[] = "fuzz";
    struct raft_entry e = {
        .term = term,
        .index = st->snapshot_index + st->n_entries + 1,
        .type = RAFT_ENTRY_COMMAND,
        .data = {(void *)cmd, sizeof cmd - 1},
    };
    struct storage_batch b = {.hard_state = &hs, .entries = &e, .n_entries = 1};
    struct storage *w;
    struct storage_state got;
    FUZZ_CHECK(storage_wal_new(fs, NULL, &w) == 0);
    FUZZ_CHECK(storage_load(w, &got) == 0);
    int rv = storage_write(w, &b);
    if (rv != 0) {
        fprintf(stderr, "write after load: %s\n", storage_error(w));
        abort();
    }
    storage_free(w);

    FUZZ_CHECK(storage_wal_new(fs, NULL, &w) == 0);
    rv = storage_load(w, &got);
    if (rv != 0) {
        fprintf(stderr, "load after write: %s\n", storage_error(w));
        abort();
    }
    FUZZ_CHECK(got.n_entries == st->n_entries + 1);
    const struct raft_entry *last = &got.entries[got.n_entries - 1];
    FUZZ_CHECK(last->index == e.index && last->term == e.term);
    FUZZ_CHECK(
        same_bytes(last->data.base, last->data.len, cmd, sizeof cmd - 1));
    storage_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct storage_fs *fs;
    FUZZ_CHECK(storage_fs_mem_new(1, &fs) == 0);
    struct fuzz_in in = {data, size};
    bool fix_crcs = (fuzz_u8(&in) & 1) != 0;
    while (fuzz_more(&in)) {
        uint8_t kind = fuzz_u8(&in);
        uint8_t a = fuzz_u8(&in);
        size_t len;
        const uint8_t *bytes = fuzz_bytes(&in, fuzz_u16(&in), &len);
        char name[WAL_INPUT_NAME_MAX];
        wal_input_name(kind, a, name);
        put_file(fs, kind, name, bytes, len, fix_crcs);
    }
    FUZZ_CHECK(fs->vt->sync_dir(fs) == 0);

    struct storage *first;
    FUZZ_CHECK(storage_wal_new(fs, NULL, &first) == 0);
    struct storage_state st;
    int rv = storage_load(first, &st);
    if (rv != 0) {
        FUZZ_CHECK(rv < 0);
        FUZZ_CHECK(storage_error(first)[0] != '\0');
        storage_free(first);
        storage_fs_free(fs);
        return 0;
    }
    check_state(&st);

    /* A second load by a fresh WAL: nothing left to repair, same state. */
    struct storage *again;
    FUZZ_CHECK(storage_wal_new(fs, NULL, &again) == 0);
    struct storage_state st2;
    rv = storage_load(again, &st2);
    if (rv != 0) {
        fprintf(stderr, "second load: %s\n", storage_error(again));
        abort();
    }
    check_same(&st, &st2);
    FUZZ_CHECK(st2.recovery_note[0] == '\0');
    storage_free(again);

    check_append(fs, &st);
    storage_free(first);
    storage_fs_free(fs);
    return 0;
}
