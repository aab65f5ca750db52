/*
 * The sim scheduler (see sched.h): a binary min-heap of events keyed on
 * (time, sequence). The sequence number breaks ties in the order events
 * were scheduled, which is itself deterministic, so no two runs of the same
 * seed can order events differently.
 */
#include "sched.h"

#include <stdlib.h>

#include "common/common.h"

struct event
{
    uint64_t at;
    uint64_t seq;
    sched_fn fn;
    void *data;
    uint64_t arg;
    void *owned;
};

struct sched
{
    struct event *heap;
    size_t len;
    size_t cap;
    uint64_t now;
    uint64_t seq;
    uint64_t executed;
};

struct sched *sched_new(void)
{
    return calloc(1, sizeof(struct sched));
}

void sched_free(struct sched *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t k = 0; k < s->len; k++) {
        free(s->heap[k].owned);
    }
    free(s->heap);
    free(s);
}

uint64_t sched_now(const struct sched *s)
{
    return s->now;
}

static bool before(const struct event *a, const struct event *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

int sched_at(struct sched *s,
             uint64_t at,
             sched_fn fn,
             void *data,
             uint64_t arg,
             void *owned)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct event *h = realloc(s->heap, cap * sizeof *h);
        if (h == NULL) {
            return COMMON_ENOMEM;
        }
        s->heap = h;
        s->cap = cap;
    }
    struct event e = {.at = at < s->now ? s->now : at,
                      .seq = s->seq++,
                      .fn = fn,
                      .data = data,
                      .arg = arg,
                      .owned = owned};
    size_t k = s->len++;
    while (k > 0) {
        size_t parent = (k - 1) / 2;
        if (!before(&e, &s->heap[parent])) {
            break;
        }
        s->heap[k] = s->heap[parent];
        k = parent;
    }
    s->heap[k] = e;
    return 0;
}

static struct event pop(struct sched *s)
{
    struct event top = s->heap[0];
    struct event last = s->heap[--s->len];
    size_t k = 0;
    for (;;) {
        size_t l = 2 * k + 1;
        size_t r = l + 1;
        size_t m = k;
        const struct event *best = &last;
        if (l < s->len && before(&s->heap[l], best)) {
            m = l;
            best = &s->heap[l];
        }
        if (r < s->len && before(&s->heap[r], best)) {
            m = r;
        }
        if (m == k) {
            break;
        }
        s->heap[k] = s->heap[m];
        k = m;
    }
    if (s->len > 0) {
        s->heap[k] = last;
    }
    return top;
}

uint64_t sched_run_until(struct sched *s, uint64_t until)
{
    uint64_t n = 0;
    while (s->len > 0 && s->heap[0].at <= until) {
        struct event e = pop(s);
        s->now = e.at;
        e.fn(e.data, e.arg, e.owned, e.at);
        n++;
    }
    if (until > s->now) {
        s->now = until;
    }
    s->executed += n;
    return n;
}

size_t sched_pending(const struct sched *s)
{
    return s->len;
}

uint64_t sched_executed(const struct sched *s)
{
    return s->executed;
}
