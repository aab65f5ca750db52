/*
 * The deterministic scheduler of sim mode: a virtual clock, a queue of
 * events ordered by (time, sequence number), and the run's timing
 * randomness. Everything in a sim run - node ticks, message deliveries,
 * client requests and replies, client timers - is an event here, executed
 * one at a time on one thread, so the same seed gives the same order of
 * events, run after run.
 *
 * The timing randomness (each node's tick phase, when a power cut strikes,
 * how long a client hop takes) is one seeded stream shared by the cluster
 * and the client network: who draws next is itself decided by the order of
 * events, so one stream keeps every draw in a fixed place.
 */
#ifndef HARNESS_SCHED_H
#define HARNESS_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sched;

/* Runs an event: @now is its time (the virtual clock already shows it).
 * @owned is the event's payload, which the function now owns. */
typedef void (*sched_fn)(void *data, uint64_t arg, void *owned, uint64_t now);

/* A scheduler at time 0 whose timing randomness comes from @seed (the
 * run's seed). NULL when out of memory. */
struct sched *sched_new(uint64_t seed);
/* Frees the queue; events not yet run are dropped (their @free_fn, if any,
 * is called with their pointer). */
void sched_free(struct sched *s);

/* Virtual nanoseconds since the start. */
uint64_t sched_now(const struct sched *s);

/* Schedules @fn(@data, @arg, @owned) at @at (not before now). @owned
 * passes to the scheduler: to @fn when the event runs, to free() if it is
 * dropped by sched_free. COMMON_ENOMEM on failure (@owned not taken). */
int sched_at(struct sched *s,
             uint64_t at,
             sched_fn fn,
             void *data,
             uint64_t arg,
             void *owned);

/* Runs events in order while their time is <= @until, then sets the clock
 * to @until. Returns the number of events run. */
uint64_t sched_run_until(struct sched *s, uint64_t until);

/* A draw from the timing randomness: uniform in [0, @bound). */
uint64_t sched_below(struct sched *s, uint64_t bound);

/* Events run since the start. */
uint64_t sched_executed(const struct sched *s);

#endif /* HARNESS_SCHED_H */
