/*
 * The timed heap (see common.h): an array-backed binary min-heap of
 * fixed-size items, sifted with a hole (one copy per level, not a swap) and
 * grown by doubling. Items are copied in and out whole, so a heap holds its
 * items by value and needs no allocation per item.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

bool common_timed_before(const struct common_timed *a,
                         const struct common_timed *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static unsigned char *slot(const struct common_heap *h, size_t k)
{
    return h->items + k * h->item_size;
}

static const struct common_timed *key(const struct common_heap *h, size_t k)
{
    return (const struct common_timed *)(const void *)slot(h, k);
}

void common_heap_init(struct common_heap *h, size_t item_size)
{
    assert(item_size >= sizeof(struct common_timed));
    h->items = NULL;
    h->item_size = item_size;
    h->len = 0;
    h->cap = 0;
}

void common_heap_fini(struct common_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = 0;
    h->cap = 0;
}

static int grow(struct common_heap *h)
{
    size_t cap = h->cap ? h->cap * 2 : 256;
    if (cap < h->cap || cap > SIZE_MAX / h->item_size) {
        return COMMON_ENOMEM;
    }
    unsigned char *items = realloc(h->items, cap * h->item_size);
    if (items == NULL) {
        return COMMON_ENOMEM;
    }
    h->items = items;
    h->cap = cap;
    return 0;
}

int common_heap_push(struct common_heap *h, const void *item)
{
    if (h->len == h->cap) {
        int rv = grow(h);
        if (rv != 0) {
            return rv;
        }
    }
    assert(h->len < h->cap);
    const struct common_timed *k_item = item;
    size_t k = h->len++;
    while (k > 0) {
        size_t parent = (k - 1) / 2;
        if (!common_timed_before(k_item, key(h, parent))) {
            break;
        }
        memcpy(slot(h, k), slot(h, parent), h->item_size);
        k = parent;
    }
    memcpy(slot(h, k), item, h->item_size);
    return 0;
}

const struct common_timed *common_heap_top(const struct common_heap *h)
{
    return h->len > 0 ? key(h, 0) : NULL;
}

void common_heap_pop(struct common_heap *h, void *out)
{
    assert(h->len > 0); /* underflow */
    memcpy(out, slot(h, 0), h->item_size);
    size_t len = --h->len;
    if (len == 0) {
        return;
    }
    /* The last item, still in its slot past the end, sinks from the root;
     * the sift writes only slots below len. */
    const struct common_timed *last = key(h, len);
    size_t k = 0;
    for (;;) {
        size_t m = 2 * k + 1;
        if (m >= len) {
            break;
        }
        if (m + 1 < len && common_timed_before(key(h, m + 1), key(h, m))) {
            m++;
        }
        if (!common_timed_before(key(h, m), last)) {
            break;
        }
        memcpy(slot(h, k), slot(h, m), h->item_size);
        k = m;
    }
    memcpy(slot(h, k), last, h->item_size);
    /* Keys are unique: what comes next comes strictly after what left. */
    assert(common_timed_before(out, key(h, 0)));
}

size_t common_heap_len(const struct common_heap *h)
{
    return h->len;
}

void *common_heap_at(struct common_heap *h, size_t k)
{
    assert(k < h->len);
    return slot(h, k);
}

void common_heap_clear(struct common_heap *h)
{
    h->len = 0;
}
