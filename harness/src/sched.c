/*
 * The sim scheduler (see sched.h): events in common/'s timed heap, keyed on
 * (time, sequence). The sequence number breaks ties in the order events
 * were scheduled, which is itself deterministic, so no two runs of the same
 * seed can order events differently.
 */
#include "sched.h"

#include <assert.h>
#include <stdlib.h>

#include "common/common.h"

struct event
{
    struct common_timed key; /* first: the heap orders events by it */
    sched_fn fn;
    void *data;
    uint64_t arg;
    void *owned;
};

/* Salt of the timing randomness: "clus", from when the cluster held it,
 * kept so that a seed still gives the runs it gave. */
#define TIMING_SALT 0x636c7573ull

struct sched
{
    struct common_heap events; /* struct event */
    struct common_prng timing;
    uint64_t now;
    uint64_t seq;
    uint64_t executed;
};

struct sched *sched_new(uint64_t seed)
{
    struct sched *s = calloc(1, sizeof(struct sched));
    if (s != NULL) {
        common_heap_init(&s->events, sizeof(struct event));
        common_prng_seed(&s->timing, seed ^ TIMING_SALT);
    }
    return s;
}

uint64_t sched_below(struct sched *s, uint64_t bound)
{
    return common_prng_below(&s->timing, bound);
}

void sched_free(struct sched *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t k = 0; k < common_heap_len(&s->events); k++) {
        free(((struct event *)common_heap_at(&s->events, k))->owned);
    }
    common_heap_fini(&s->events);
    free(s);
}

uint64_t sched_now(const struct sched *s)
{
    return s->now;
}

int sched_at(struct sched *s,
             uint64_t at,
             sched_fn fn,
             void *data,
             uint64_t arg,
             void *owned)
{
    assert(fn != NULL);
    struct event e = {.key = {.at = at < s->now ? s->now : at, .seq = s->seq},
                      .fn = fn,
                      .data = data,
                      .arg = arg,
                      .owned = owned};
    int rv = common_heap_push(&s->events, &e);
    if (rv == 0) {
        s->seq++;
    }
    return rv;
}

uint64_t sched_run_until(struct sched *s, uint64_t until)
{
    uint64_t n = 0;
    const struct common_timed *next;
    while ((next = common_heap_top(&s->events)) != NULL && next->at <= until) {
        struct event e;
        common_heap_pop(&s->events, &e);
        /* Virtual time never runs backwards: sched_at schedules nothing
         * before now. */
        assert(e.key.at >= s->now);
        s->now = e.key.at;
        e.fn(e.data, e.arg, e.owned, e.key.at);
        n++;
    }
    if (until > s->now) {
        s->now = until;
    }
    s->executed += n;
    return n;
}

uint64_t sched_executed(const struct sched *s)
{
    return s->executed;
}
