/*
 * The in-memory Raft log: entries snapshot_index+1 .. last in a ring buffer
 * that grows by doubling. Appending at the end and dropping a prefix
 * (compaction) or a suffix (conflict truncation, Figure 2 AppendEntries
 * receiver step 3) are O(1) per entry.
 *
 * The log owns each entry's data. Anything released is parked in a trash
 * list and freed only after the caller has finished with the current update
 * (raft_update_done), since the update's arrays and messages point into it.
 */
#include <stdlib.h>
#include <string.h>

#include "raft_internal.h"

#define LOG_INITIAL_CAP 64

int log_init(struct raft_log *l, raft_index snapshot_index, raft_term term)
{
    /* raft_new() checked the boot state against the bounds. */
    assert(snapshot_index <= RAFT_INDEX_MAX && term <= RAFT_TERM_MAX);
    memset(l, 0, sizeof *l);
    l->ring = calloc(LOG_INITIAL_CAP, sizeof *l->ring);
    if (l->ring == NULL) {
        return COMMON_ENOMEM;
    }
    l->cap = LOG_INITIAL_CAP;
    l->snapshot_index = snapshot_index;
    l->snapshot_term = term;
    l->stable = snapshot_index;
    return 0;
}

static struct raft_entry *slot(const struct raft_log *l, size_t k)
{
    assert(k < l->cap);
    return &l->ring[(l->head + k) & (l->cap - 1)];
}

void log_fini(struct raft_log *l)
{
    assert(l->count <= l->cap && l->trash_len <= l->trash_cap);
    for (size_t k = 0; k < l->count; k++) {
        free(slot(l, k)->data.base);
    }
    log_empty_trash(l);
    free(l->trash);
    free(l->ring);
    memset(l, 0, sizeof *l);
}

raft_index log_first_index(const struct raft_log *l)
{
    assert(l->snapshot_index <= RAFT_INDEX_MAX);
    return l->snapshot_index + 1;
}

raft_term log_last_term(const struct raft_log *l)
{
    raft_term t = log_term(l, log_last_index(l));
    /* Every entry has a term; only an empty log may end at term 0. */
    assert(l->count == 0 || t > 0);
    return t;
}

static int grow(struct raft_log *l)
{
    if (l->cap > SIZE_MAX / 2 / sizeof *l->ring) {
        return COMMON_ENOMEM;
    }
    size_t cap = l->cap * 2;
    struct raft_entry *ring = malloc(cap * sizeof *ring);
    if (ring == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t k = 0; k < l->count; k++) {
        ring[k] = *slot(l, k);
    }
    free(l->ring);
    l->ring = ring;
    l->cap = cap;
    l->head = 0;
    /* slot() masks with cap - 1. */
    assert((cap & (cap - 1)) == 0 && l->count < cap);
    return 0;
}

static int trash_push(struct raft_log *l, void *p)
{
    if (p == NULL) {
        return 0;
    }
    if (common_grow(&l->trash, &l->trash_cap, l->trash_len + 1,
                    sizeof *l->trash, 64) != 0) {
        return COMMON_ENOMEM;
    }
    assert(l->trash_len < l->trash_cap);
    l->trash[l->trash_len++] = p;
    return 0;
}

static void release(struct raft_log *l, struct raft_entry *e)
{
    /* log_append_copy() gave every entry with data a buffer of its own. */
    assert(e->data.len == 0 || e->data.base != NULL);
    /* If the trash cannot grow, leaking is safer than freeing memory an
     * outstanding update may still point to. */
    (void)trash_push(l, e->data.base);
    e->data.base = NULL;
    e->data.len = 0;
}

void log_empty_trash(struct raft_log *l)
{
    assert(l->trash_len <= l->trash_cap);
    for (size_t k = 0; k < l->trash_len; k++) {
        free(l->trash[k]);
    }
    l->trash_len = 0;
}

int log_append_copy(struct raft_log *l,
                    raft_term term,
                    enum raft_entry_type type,
                    const void *data,
                    size_t len)
{
    if (log_last_index(l) >= RAFT_INDEX_MAX) {
        return COMMON_ERANGE;
    }
    /* Terms never go down along a log (the binary searches below rely on
     * it): a leader appends its own term, which no entry passes, and a
     * follower copies entries that raft_step() checked and that continue
     * an entry of the same term as their first one's predecessor. */
    assert(term >= 1 && term <= RAFT_TERM_MAX);
    assert(term >= log_last_term(l));
    assert(len == 0 || data != NULL);
    if (l->count == l->cap) {
        int rv = grow(l);
        if (rv != 0) {
            return rv;
        }
    }
    void *copy = NULL;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            return COMMON_ENOMEM;
        }
        memcpy(copy, data, len);
    }
    struct raft_entry *e = slot(l, l->count);
    e->term = term;
    e->index = log_last_index(l) + 1;
    e->type = type;
    e->data.base = copy;
    e->data.len = len;
    l->count++;
    return 0;
}

void log_truncate(struct raft_log *l, raft_index i)
{
    assert(i > l->snapshot_index);
    raft_index last = log_last_index(l);
    if (i > last) {
        return;
    }
    for (raft_index k = i; k <= last; k++) {
        release(l, slot(l, (size_t)(k - l->snapshot_index - 1)));
    }
    l->count = (size_t)(i - l->snapshot_index - 1);
    if (i <= l->stable) {
        l->stable = i - 1;
        if (l->truncated_from == 0 || i < l->truncated_from) {
            l->truncated_from = i;
        }
    }
}

void log_compact(struct raft_log *l, raft_index i, raft_term term_at_i)
{
    assert(i <= log_last_index(l));
    while (l->snapshot_index < i) {
        release(l, slot(l, 0));
        l->head = (l->head + 1) & (l->cap - 1);
        l->count--;
        l->snapshot_index++;
    }
    l->snapshot_term = term_at_i;
    if (l->stable < i) {
        l->stable = i;
    }
}

/* Terms never decrease along a log (a leader appends only entries of its own
 * term, and followers copy the leader), so both lookups are binary searches:
 * a follower that answers a stale probe, or a leader skipping a whole term
 * of a follower's log, costs O(log n) and not a scan of the log. */

/* Smallest index in [lo, hi] whose term is >= @t; hi + 1 if none. */
static raft_index first_with_term_at_least(const struct raft_log *l,
                                           raft_index lo,
                                           raft_index hi,
                                           raft_term t)
{
    assert(lo >= 1 && lo <= hi + 1);
    raft_index end = hi + 1;
    while (lo < end) {
        raft_index mid = lo + (end - lo) / 2;
        if (log_term(l, mid) >= t) {
            end = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

void log_reset(struct raft_log *l, raft_index i, raft_term term)
{
    /* A snapshot raft_step() checked: index and term within the bounds,
     * the term not 0. */
    assert(i <= RAFT_INDEX_MAX && term >= 1 && term <= RAFT_TERM_MAX);
    for (size_t k = 0; k < l->count; k++) {
        release(l, slot(l, k));
    }
    l->count = 0;
    l->head = 0;
    l->snapshot_index = i;
    l->snapshot_term = term;
    l->stable = i;
    l->truncated_from = 0;
}

raft_index log_term_first_index(const struct raft_log *l, raft_index i)
{
    assert(i >= l->snapshot_index && i <= log_last_index(l));
    if (i <= l->snapshot_index + 1) {
        return i;
    }
    return first_with_term_at_least(l, l->snapshot_index + 1, i,
                                    log_term(l, i));
}

raft_index log_term_last_index(const struct raft_log *l, raft_term term)
{
    /* No entry holds a term above the bound, and `term + 1` below stays
     * far from wrapping. */
    if (term == 0 || term > RAFT_TERM_MAX) {
        return 0;
    }
    raft_index last = log_last_index(l);
    /* The first index whose term exceeds @term, minus one. */
    raft_index past =
        first_with_term_at_least(l, l->snapshot_index + 1, last, term + 1);
    raft_index i = past - 1;
    assert(i <= last);
    if (i >= l->snapshot_index && i > 0 && log_term(l, i) == term) {
        return i;
    }
    return 0;
}
