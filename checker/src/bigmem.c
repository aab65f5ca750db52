/*
 * Large zeroed tables (the memo, the model's caches) on transparent huge
 * pages where the system offers them. A search touches its tables at
 * random; with 4 KiB pages a table of a few MiB costs a TLB miss (and,
 * under virtualisation, a two-level page walk) on nearly every probe, and
 * a page fault for every 4 KiB as it grows. Backing it with 2 MiB pages
 * removes most of both. madvise(MADV_HUGEPAGE) is a Linux extension, hence
 * _DEFAULT_SOURCE here; elsewhere this is plain calloc.
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* Below this, plain calloc. */
static const size_t HUGE_MIN = (size_t)2 << 20;
static const size_t HUGE_ALIGN = (size_t)2 << 20;

void *big_calloc(size_t n, size_t size, struct mem_budget *b)
{
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    size_t bytes = n * size;
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_MIN) {
        void *p = NULL;
        if (posix_memalign(&p, HUGE_ALIGN, bytes) != 0) {
            return NULL;
        }
        madvise(p, bytes, MADV_HUGEPAGE);
        /* Zeroed a slice at a time: a table of gigabytes takes a good
         * part of a second, and the search's deadline may pass meanwhile
         * (mem_budget_late counts slots; one slice is its slice of 16-byte
         * slots). */
        size_t slice = MEM_BUDGET_REHASH_SLICE * 16;
        for (size_t off = 0; off < bytes; off += slice) {
            if (mem_budget_late(b, off / 16)) {
                free(p);
                return NULL;
            }
            memset((char *)p + off, 0,
                   bytes - off < slice ? bytes - off : slice);
        }
        return p;
    }
#else
    (void)b;
#endif
    return calloc(n, size);
}

int big_reserve(void *pp, size_t *cap, size_t need, size_t elem)
{
    size_t n;
    if (need <= *cap) {
        return 0;
    }
    if (common_grown_cap(*cap, need, elem, ARRAY_MIN_CAP, &n) != 0) {
        return COMMON_ENOMEM;
    }
    if (n * elem < HUGE_MIN) {
        return common_grow(pp, cap, need, elem, ARRAY_MIN_CAP);
    }
    void *old;
    memcpy(&old, pp, sizeof old);
    /* glibc serves a block this large from its own mapping and grows it
     * with mremap: the pages move, no byte is copied. */
    void *p = realloc(old, n * elem);
    if (p == NULL) {
        return COMMON_ENOMEM;
    }
#ifdef MADV_HUGEPAGE
    uintptr_t lo = ((uintptr_t)p + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
    uintptr_t hi = (uintptr_t)p + n * elem;
    if (hi > lo) {
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
#endif
    memcpy(pp, &p, sizeof p);
    *cap = n;
    return 0;
}
