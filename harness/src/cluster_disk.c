/*
 * Disk faults of the cluster's nodes (docs/scenarios.md, per_node disk):
 * a node whose disk has faults writes through storage_fs_fault over its
 * file system (full after N bytes, fsync EIO after N syncs or from a
 * time, slow fsync), and sends through a guard that checks its reaction.
 *
 * The reaction the node owes (docs/storage.md, "Failure policy"): the
 * first failed write or sync fails its storage, the kv_node stops serving
 * (env.failed, the path on which raftkv-server exits), and nothing leaves
 * it from then on - no vote, no acknowledgement, no answer to a client -
 * since none of it would be durable. The guard counts every Raft message
 * and every final client answer (ok, not found, mismatch) the node sends
 * in a life after its disk failed; the judge fails the run on any.
 *
 * Slow syncs: with threads the sync sleeps for its latency, the node's
 * thread blocked in it. In sim mode nothing may sleep: a sync's latency
 * is added to the current event's delay, and what the node sends after
 * it - the votes and acknowledgements the sync made durable, the answers
 * - leaves that much later (an event of its own, dropped if the node
 * crashed meanwhile); then the disk stays busy, and the node's next
 * events (messages, requests, ticks) wait until it is free. Messages the
 * node sent before the sync (a leader's early AppendEntries) go at once.
 *
 * Nothing here runs for a node without disk faults: its transport is the
 * network's own, and no event is added or moved.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_driver.h"

static bool has_faults(const struct storage_fs_faults *f)
{
    return f->full || f->sync_fail_after_set || f->sync_fail_at_set ||
           f->sync_ns_max > 0;
}

static uint64_t disk_clock(void *data)
{
    struct slot *s = data;
    return cluster_now(s->c);
}

/* A slow sync: the node's thread blocks (threads), or what follows is
 * held back in virtual time (sim). */
static void disk_delay(void *data, uint64_t ns)
{
    struct slot *s = data;
    if (s->c->cfg.sched != NULL) {
        s->disk_faults.out_delay_ns += ns;
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(ns / COMMON_NS_PER_S),
                          .tv_nsec = (long)(ns % COMMON_NS_PER_S)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int cluster_disk_open(struct cluster *c, struct slot *s)
{
    struct storage_fs_faults f = c->cfg.disk_faults[s->id - 1];
    if (s->disk_faults.fs != NULL || s->fs == NULL || !has_faults(&f)) {
        return 0;
    }
    f.clock = disk_clock;
    f.delay = disk_delay;
    f.data = s;
    /* Salt "disk": its latencies draw from a stream of their own. */
    f.seed = common_mix64(c->cfg.seed ^ 0x6469736bull) + s->id;
    return storage_fs_fault_new(s->fs, &f, &s->disk_faults.fs);
}

struct storage_fs *cluster_disk_fs(struct slot *s)
{
    return s->disk_faults.fs != NULL ? s->disk_faults.fs : s->fs;
}

static uint64_t failures(struct slot *s)
{
    struct storage_fs_fault_stats st;
    storage_fs_fault_stats(s->disk_faults.fs, &st);
    return st.enospc + st.sync_eio;
}

/* Whether the node's disk failed in its current life. */
static bool failed_this_life(struct slot *s)
{
    return failures(s) > s->disk_faults.failures_at_boot;
}

bool cluster_disk_failed(struct slot *s)
{
    return s->disk_faults.fs != NULL && failed_this_life(s);
}

/* A message held behind a slow sync (sim). */
static void send_later(void *data, uint64_t gen, void *owned, uint64_t now)
{
    (void)now;
    struct slot *s = data;
    struct transport_msg *m = owned;
    if (s->up && s->gen == gen) {
        transport_send(s->disk_faults.inner, &m->m);
    }
    free(m);
}

static int guard_send(struct transport *t, const struct raft_message *m)
{
    struct slot *s = t->impl;
    struct cluster_disk_slot *d = &s->disk_faults;
    if (failed_this_life(s)) {
        cluster_slot_lock(s);
        d->sent_after++;
        cluster_slot_unlock(s);
    }
    if (d->out_delay_ns == 0) {
        return transport_send(d->inner, m);
    }
    struct transport_msg *c = transport_msg_clone(m);
    if (c == NULL) {
        return COMMON_ENOMEM; /* lost: Raft retries */
    }
    struct sched *sched = s->c->cfg.sched;
    int rv = sched_at(sched, sched_now(sched) + d->out_delay_ns, send_later, s,
                      s->gen, c);
    if (rv != 0) {
        free(c);
    }
    return rv;
}

static int guard_flush(struct transport *t)
{
    struct slot *s = t->impl;
    return transport_flush(s->disk_faults.inner);
}

static const struct transport_vtable guard_vtable = {
    .send = guard_send,
    .flush = guard_flush,
    .destroy = NULL, /* the slot's */
};

struct transport *cluster_disk_boot(struct slot *s, struct transport *t)
{
    struct cluster_disk_slot *d = &s->disk_faults;
    if (d->fs == NULL) {
        return t;
    }
    d->failures_at_boot = failures(s);
    d->out_delay_ns = 0;
    d->busy_until = 0;
    d->inner = t;
    d->guard.vt = &guard_vtable;
    d->guard.impl = s;
    return &d->guard;
}

void cluster_disk_settle(struct slot *s)
{
    struct cluster_disk_slot *d = &s->disk_faults;
    if (d->out_delay_ns > 0) {
        d->busy_until = cluster_now(s->c) + d->out_delay_ns;
        d->out_delay_ns = 0;
    }
}

bool cluster_disk_busy(const struct slot *s, uint64_t now, uint64_t *until)
{
    *until = s->disk_faults.busy_until;
    return now < *until;
}

/* An answer held behind a slow sync (sim), with its value. */
struct held_reply
{
    struct kv_response resp;
    uint8_t value[];
};

static void reply_later(void *data, uint64_t gen, void *owned, uint64_t now)
{
    (void)now;
    struct slot *s = data;
    struct held_reply *h = owned;
    if (s->up && s->gen == gen) {
        h->resp.value.base = h->value;
        client_net_reply(s->c->clients, &h->resp);
    }
    free(h);
}

bool cluster_disk_reply(struct slot *s, const struct kv_response *resp)
{
    struct cluster_disk_slot *d = &s->disk_faults;
    if (d->fs == NULL) {
        return false;
    }
    bool final = resp->status == KV_OK || resp->status == KV_NOT_FOUND ||
                 resp->status == KV_MISMATCH;
    if (final && failed_this_life(s)) {
        cluster_slot_lock(s);
        d->acked_after++;
        cluster_slot_unlock(s);
    }
    if (d->out_delay_ns == 0) {
        return false;
    }
    struct held_reply *h = malloc(sizeof *h + resp->value.len);
    if (h == NULL) {
        return true; /* lost: the client's attempt times out */
    }
    h->resp = *resp;
    if (resp->value.len > 0) {
        memcpy(h->value, resp->value.base, resp->value.len);
    }
    struct sched *sched = s->c->cfg.sched;
    if (sched_at(sched, sched_now(sched) + d->out_delay_ns, reply_later, s,
                 s->gen, h) != 0) {
        free(h);
    }
    return true;
}

void cluster_disk_stopped(struct slot *s)
{
    /* A power cut fails the node's sync too (cluster_crash): only a stop
     * on an injected failure counts. */
    if (cluster_disk_failed(s)) {
        cluster_slot_lock(s);
        s->disk_faults.stops++;
        cluster_slot_unlock(s);
    }
}

void cluster_disk_free(struct slot *s)
{
    storage_fs_free(s->disk_faults.fs);
    s->disk_faults.fs = NULL;
}

void cluster_disk_report(struct cluster *c,
                         raft_id id,
                         struct cluster_disk_report *r)
{
    memset(r, 0, sizeof *r);
    if (id < 1 || id > c->cfg.nodes) {
        return;
    }
    struct slot *s = &c->slots[id - 1];
    storage_fs_fault_stats(s->disk_faults.fs, &r->injected);
    cluster_slot_lock(s);
    r->stops = s->disk_faults.stops;
    r->sent_after = s->disk_faults.sent_after;
    r->acked_after = s->disk_faults.acked_after;
    cluster_slot_unlock(s);
}
