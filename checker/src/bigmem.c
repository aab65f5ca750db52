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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* Below this, plain calloc. */
static const size_t HUGE_MIN = (size_t)2 << 20;
static const size_t HUGE_ALIGN = (size_t)2 << 20;

void *big_calloc(size_t n, size_t size)
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
        memset(p, 0, bytes);
        return p;
    }
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
    void *p = big_calloc(n, elem);
    if (p == NULL) {
        return COMMON_ENOMEM;
    }
    if (old != NULL) {
        memcpy(p, old, *cap * elem);
        free(old);
    }
    memcpy(pp, &p, sizeof p);
    *cap = n;
    return 0;
}
