/*
 * storage_mem: a perfect disk in memory. Writes are durable the moment they
 * return and nothing is ever lost or torn; what a node never wrote does not
 * exist here. Entry data is copied in. Like storage_wal, it holds a hard
 * state that only moves the commit index until the next write (storage.h),
 * so that a node restarted from it sees what it would see on a real disk.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

struct mem_disk
{
    struct raft_hard_state hs;
    /* A hard state that only moved the commit index, written with the next
     * batch (storage.h), as storage_wal does. */
    struct raft_hard_state hs_held;
    bool has_held;
    bool has_snapshot;
    struct storage_snapshot_meta snap;
    uint8_t snap_addresses[RAFT_ADDRESSES_MAX]; /* snap.conf's table */
    void *snap_data;
    size_t snap_len;
    struct raft_entry *entries; /* data owned */
    size_t len;
    size_t cap;
    uint64_t writes;
};

static int mem_load(struct storage *s, struct storage_state *out)
{
    struct mem_disk *d = s->impl;
    assert(out != NULL && d->len <= d->cap);
    memset(out, 0, sizeof *out);
    out->hard_state = d->hs;
    out->has_snapshot = d->has_snapshot;
    if (d->has_snapshot) {
        out->snapshot = d->snap;
        out->snapshot_data = d->snap_data;
        out->snapshot_len = d->snap_len;
        out->snapshot_index = d->snap.index;
        out->snapshot_term = d->snap.term;
    }
    out->entries = d->entries;
    out->n_entries = d->len;
    return 0;
}

static void drop_from(struct mem_disk *d, raft_index from)
{
    while (d->len > 0 && d->entries[d->len - 1].index >= from) {
        free(d->entries[d->len - 1].data.base);
        d->len--;
    }
    assert(d->len == 0 || d->entries[d->len - 1].index < from);
}

static int mem_write(struct storage *s, const struct storage_batch *given)
{
    struct mem_disk *d = s->impl;
    const struct raft_hard_state *hs = given->hard_state;
    if (storage_batch_commit_only(given, &d->hs)) {
        d->hs_held = *hs;
        d->has_held = true;
        d->writes++;
        return 0;
    }
    struct storage_batch with_held = *given;
    if (hs == NULL && d->has_held &&
        (given->truncate_from != 0 || given->n_entries > 0)) {
        with_held.hard_state = &d->hs_held;
    }
    const struct storage_batch *b = &with_held;
    if (b->n_entries > 0) {
        raft_index first = b->entries[0].index;
        raft_index expect =
            d->len == 0 ? d->snap.index + 1 : d->entries[d->len - 1].index + 1;
        if (b->truncate_from != 0 && b->truncate_from <= expect) {
            expect = b->truncate_from;
        }
        if (first != expect) {
            snprintf(s->error, sizeof s->error,
                     "memory disk: entry %llu written after %llu",
                     (unsigned long long)first,
                     (unsigned long long)(expect - 1));
            return COMMON_EINVAL;
        }
        if (common_grow(&d->entries, &d->cap, d->len + b->n_entries,
                        sizeof *d->entries, 256) != 0) {
            snprintf(s->error, sizeof s->error, "memory disk: full");
            return COMMON_ENOSPACE;
        }
    }
    /* Copy the data first so that a failure leaves the disk unchanged. */
    void **copies = NULL;
    if (b->n_entries > 0) {
        copies = calloc(b->n_entries, sizeof *copies);
        if (copies == NULL) {
            snprintf(s->error, sizeof s->error, "memory disk: full");
            return COMMON_ENOSPACE;
        }
        for (size_t k = 0; k < b->n_entries; k++) {
            size_t len = b->entries[k].data.len;
            if (len == 0) {
                continue;
            }
            copies[k] = malloc(len);
            if (copies[k] == NULL) {
                for (size_t j = 0; j < k; j++) {
                    free(copies[j]);
                }
                free(copies);
                snprintf(s->error, sizeof s->error, "memory disk: full");
                return COMMON_ENOSPACE;
            }
            memcpy(copies[k], b->entries[k].data.base, len);
        }
    }
    if (b->hard_state != NULL) {
        d->hs = *b->hard_state;
        d->has_held = false;
    }
    if (b->truncate_from != 0) {
        drop_from(d, b->truncate_from);
    }
    for (size_t k = 0; k < b->n_entries; k++) {
        struct raft_entry *e = &d->entries[d->len++];
        *e = b->entries[k];
        e->data.base = copies[k];
    }
    free(copies);
    assert(d->len <= d->cap);
    d->writes++;
    return 0;
}

static int mem_save_snapshot(struct storage *s,
                             const struct storage_snapshot_meta *meta,
                             const void *data,
                             size_t len)
{
    struct mem_disk *d = s->impl;
    assert(meta != NULL && (len == 0 || data != NULL));
    if (meta->conf.addresses_len > sizeof d->snap_addresses) {
        snprintf(s->error, sizeof s->error,
                 "memory disk: configuration address table too large");
        return COMMON_EINVAL;
    }
    void *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        snprintf(s->error, sizeof s->error, "memory disk: full");
        return COMMON_ENOSPACE;
    }
    if (len > 0) {
        memcpy(copy, data, len);
    }
    bool had_snapshot = d->has_snapshot;
    struct storage_snapshot_meta prev = d->snap;
    free(d->snap_data);
    d->snap_data = copy;
    d->snap_len = len;
    d->snap = *meta;
    /* The caller's address table is borrowed for the call; checked above. */
    int rv =
        raft_configuration_copy(&d->snap.conf, &meta->conf, d->snap_addresses,
                                sizeof d->snap_addresses);
    assert(rv == 0);
    (void)rv;
    d->has_snapshot = true;
    /* Keep the entries after the snapshot only if the log agrees with it
     * at its index (an entry there, or the previous snapshot itself, of
     * the same term); otherwise the snapshot replaces the whole log. */
    size_t keep_from = d->len;
    bool agrees = false;
    if (had_snapshot && prev.index == meta->index && prev.term == meta->term) {
        agrees = true;
        keep_from = 0;
    }
    for (size_t k = 0; k < d->len && !agrees; k++) {
        if (d->entries[k].index == meta->index) {
            agrees = d->entries[k].term == meta->term;
            keep_from = k + 1;
            break;
        }
    }
    if (!agrees) {
        keep_from = d->len;
    }
    for (size_t k = 0; k < keep_from; k++) {
        free(d->entries[k].data.base);
    }
    if (keep_from > 0) {
        memmove(d->entries, d->entries + keep_from,
                (d->len - keep_from) * sizeof *d->entries);
        d->len -= keep_from;
    }
    assert(d->has_snapshot && d->len <= d->cap);
    d->writes++;
    return 0;
}

static void mem_destroy(struct storage *s)
{
    struct mem_disk *d = s->impl;
    drop_from(d, 0);
    assert(d->len == 0);
    free(d->snap_data);
    free(d->entries);
    free(d);
    free(s);
}

static const struct storage_vtable mem_vtable = {
    .load = mem_load,
    .write = mem_write,
    .save_snapshot = mem_save_snapshot,
    .destroy = mem_destroy,
};

int storage_mem_new(struct storage **out)
{
    assert(out != NULL);
    struct storage *s = calloc(1, sizeof *s);
    struct mem_disk *d = calloc(1, sizeof *d);
    if (s == NULL || d == NULL) {
        free(s);
        free(d);
        return COMMON_ENOMEM;
    }
    s->vt = &mem_vtable;
    s->impl = d;
    *out = s;
    return 0;
}

uint64_t storage_mem_writes(const struct storage *s)
{
    assert(s != NULL && s->impl != NULL);
    return ((const struct mem_disk *)s->impl)->writes;
}
