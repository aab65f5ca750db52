/*
 * The sim driver (see cluster_driver.h): no thread at all. Every tick,
 * message delivery and client request is an event of the deterministic
 * scheduler, run on the caller's thread in virtual time.
 *
 * Events carry the incarnation (gen) of the node they are for, so those of
 * an earlier life - the node crashed since - are dropped when they come
 * up. Pausing a node parks its events, in order, until it resumes; a crash
 * drops them. Ticks form a chain, each scheduling the next; resume and
 * restart start a new chain and the old one ends at its next link.
 */
#include <assert.h>
#include <stdlib.h>

#include "cluster_driver.h"

/* An event parked while its node is paused. */
struct parked
{
    struct parked *next;
    bool is_msg;
    void *ptr; /* struct transport_msg or struct client_request */
};

static void sim_tick(void *data, uint64_t arg, void *owned, uint64_t now);
static void sim_msg(void *data, uint64_t arg, void *owned, uint64_t now);
static void sim_req(void *data, uint64_t arg, void *owned, uint64_t now);

/* Appends to @s's parked events (a FIFO: resume runs them in order). */
static void park(struct slot *s, bool is_msg, void *ptr)
{
    assert(s->paused);
    assert((s->parked_head == NULL) == (s->parked_tail == NULL));
    struct parked *p = malloc(sizeof *p);
    if (p == NULL) {
        free(ptr); /* lost, as a message to a stalled process may be */
        return;
    }
    p->next = NULL;
    p->is_msg = is_msg;
    p->ptr = ptr;
    if (s->parked_tail != NULL) {
        s->parked_tail->next = p;
    } else {
        s->parked_head = p;
    }
    s->parked_tail = p;
}

static void sim_discard(struct slot *s)
{
    while (s->parked_head != NULL) {
        struct parked *p = s->parked_head;
        s->parked_head = p->next;
        free(p->ptr);
        free(p);
    }
    s->parked_tail = NULL;
}

/* The event's node: NULL when the event belongs to an earlier incarnation
 * (the node crashed since) or the node is down. */
static struct slot *live(struct slot *s, uint64_t gen)
{
    return s->up && s->gen == gen && s->node != NULL ? s : NULL;
}

/* Flushes @s's node and publishes its status; false when the node halted
 * on its crash_after trigger, which powers it off now (its events of this
 * incarnation go stale). */
static bool flush(struct slot *s)
{
    kv_node_flush(s->node);
    if (kv_node_halted(s->node)) {
        s->crash_pending = false;
        cluster_power_off(s->c, s);
        return false;
    }
    cluster_publish(s);
    cluster_disk_settle(s);
    return true;
}

static void run_msg(struct slot *s, struct transport_msg *m)
{
    /* A partition also stops what was already on the wire. */
    if (!transport_mem_is_cut(s->c->net, m->m.from, s->id)) {
        kv_node_receive(s->node, &m->m);
        flush(s);
    }
    free(m);
}

static void run_req(struct slot *s, struct client_request *r)
{
    kv_node_request(s->node, &r->req);
    flush(s);
    free(r);
}

/* A message (@is_msg) or request for incarnation @gen of @s arrives: it
 * runs, waits while the node is paused, or is dropped. */
static void arrive(struct slot *s, uint64_t gen, bool is_msg, void *ptr)
{
    uint64_t until;
    if (live(s, gen) == NULL) {
        free(ptr);
    } else if (cluster_disk_busy(s, cluster_now(s->c), &until)) {
        /* Its thread is still in a slow sync: the event waits. */
        if (sched_at(s->c->cfg.sched, until, is_msg ? sim_msg : sim_req, s, gen,
                     ptr) != 0) {
            free(ptr);
        }
    } else if (s->paused) {
        park(s, is_msg, ptr);
    } else if (is_msg) {
        run_msg(s, ptr);
    } else {
        run_req(s, ptr);
    }
}

static void sim_msg(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)now;
    arrive(data, arg, true, owned);
}

static void sim_req(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)now;
    arrive(data, arg, false, owned);
}

static void sim_tick(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)owned;
    struct slot *s = data;
    if (arg != s->tick_chain || live(s, s->gen) == NULL || s->paused) {
        return; /* resume and restart start a new chain */
    }
    uint64_t until;
    if (cluster_disk_busy(s, now, &until)) {
        sched_at(s->c->cfg.sched, until, sim_tick, s, arg, NULL);
        return; /* the tick comes late: its thread is in a slow sync */
    }
    kv_node_tick(s->node);
    if (!flush(s)) {
        return;
    }
    sched_at(s->c->cfg.sched, now + cluster_node_tick_ns(s->c, s->id), sim_tick,
             s, s->tick_chain, NULL);
}

/* The in-memory network's receiver: the message's delivery time is its
 * event's time. */
static void sim_deliver(void *data, struct transport_msg *msg)
{
    struct slot *s = data;
    if (sched_at(s->c->cfg.sched, msg->deliver_at_ns, sim_msg, s, s->gen,
                 msg) != 0) {
        free(msg);
    }
}

/* The client network's receiver: the request arrives at r->at. In sim
 * mode the client network hands over one request at a time. */
static void sim_request(void *data, struct client_request *r)
{
    struct slot *s = data;
    assert(r->next == NULL);
    if (!s->up ||
        sched_at(s->c->cfg.sched, r->at, sim_req, s, s->gen, r) != 0) {
        free(r);
    }
}

static int sim_start(struct slot *s)
{
    struct cluster *c = s->c;
    /* Each node ticks at its own phase within the tick interval. */
    uint64_t phase = sched_below(c->cfg.sched, cluster_tick_ns(c)) + 1;
    cluster_publish(s);
    s->tick_chain++;
    return sched_at(c->cfg.sched, cluster_now(c) + phase, sim_tick, s,
                    s->tick_chain, NULL);
}

static void sim_stop(struct slot *s)
{
    (void)s; /* no thread: its pending events go stale with its gen */
}

static void sim_crash_strikes(void *data,
                              uint64_t arg,
                              void *owned,
                              uint64_t now)
{
    (void)owned;
    (void)now;
    struct slot *s = data;
    if (s->crash_pending && s->gen == arg) {
        s->crash_pending = false;
        cluster_power_off(s->c, s);
    }
}

/* Strikes during the next write: its sync fails, so it is not durable
 * (and, with torn_writes, may be cut short); the node goes down at a time
 * drawn within two ticks. */
static int sim_crash(struct slot *s)
{
    struct cluster *c = s->c;
    storage_fs_mem_fail(s->fs, STORAGE_FS_SYNC, 0, COMMON_EIO);
    s->crash_pending = true;
    uint64_t delay = 1 + sched_below(c->cfg.sched, 2 * cluster_tick_ns(c));
    return sched_at(c->cfg.sched, cluster_now(c) + delay, sim_crash_strikes, s,
                    s->gen, NULL);
}

/* Resumes a paused node: its parked events run now, in order, and its
 * ticks start again. */
static void sim_resume(struct slot *s)
{
    assert(!s->paused); /* else arrive() would park them again */
    struct parked *p = s->parked_head;
    s->parked_head = s->parked_tail = NULL;
    uint64_t gen = s->gen;
    while (p != NULL) {
        struct parked *next = p->next;
        /* Not paused: it runs, unless a crash_after trip ended this
         * incarnation on the way (then it is dropped). */
        arrive(s, gen, p->is_msg, p->ptr);
        free(p);
        p = next;
    }
    if (live(s, gen) == NULL) {
        return;
    }
    s->tick_chain++;
    sched_at(s->c->cfg.sched,
             cluster_now(s->c) + cluster_node_tick_ns(s->c, s->id), sim_tick, s,
             s->tick_chain, NULL);
}

/* A membership change or transfer runs between events, as one of its own:
 * not while the node is paused or in a slow sync. */
static int sim_control(struct slot *s, struct cluster_ctl *ctl)
{
    uint64_t until;
    if (live(s, s->gen) == NULL || s->paused ||
        cluster_disk_busy(s, cluster_now(s->c), &until)) {
        return COMMON_EUNAVAILABLE;
    }
    cluster_control_apply(s, ctl);
    flush(s);
    return 0;
}

const struct cluster_driver cluster_sim_driver = {
    .start = sim_start,
    .stop = sim_stop,
    .discard = sim_discard,
    .deliver = sim_deliver,
    .deliver_batch = NULL, /* one message at a time, each an event */
    .request = sim_request,
    .crash = sim_crash,
    .resume = sim_resume,
    .control = sim_control,
};
