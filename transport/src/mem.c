/*
 * The in-memory transport: a network of up to TRANSPORT_MEM_MAX_NODES
 * nodes inside one process. Each send deep-copies the message, rolls the
 * link's dice (cut, loss, duplication, delay, reordering, long holds) and
 * hands the copy to the receiver's deliver callback, stamped with the time
 * before which it must not be processed; the receiver's inbox honours the
 * stamp, which is how delays and reordering happen without a timer thread here.
 *
 * Locking: one mutex guards the link table, the receivers, the PRNG and
 * the counters, and is held while calling a deliver callback, so that a
 * node detached by a crash can never be delivered to afterwards. Lock
 * order: network lock, then the receiver's inbox lock inside its callback.
 * Callers must not hold their own inbox lock while sending. A network
 * made single-threaded (the sim driver's: one thread makes every call)
 * takes no lock at all; an uncontended lock still cost a few percent of
 * a simulation.
 *
 * A batched network (threads) instead keeps each send in its endpoint's
 * outbox and does the work at flush: one network lock per flush, and one
 * receiver call per receiver, so a node thread takes its inbox lock and
 * is woken once per batch rather than once per message.
 */
#include <stdlib.h>
#include <string.h>

#include "common/lock.h"
#include "transport/transport.h"

struct endpoint
{
    struct transport t;
    struct transport_mem *net;
    raft_id id;
    /* Batched: sends waiting for the flush (the sending thread's). */
    struct transport_msg *outbox[TRANSPORT_MEM_OUTBOX_MAX];
    size_t outbox_len;
};

struct receiver
{
    transport_deliver_fn fn;
    transport_deliver_batch_fn batch;
    void *data;
};

struct transport_mem
{
    struct common_lock lock;
    unsigned n;
    bool batched; /* set before any other call */
    transport_clock_fn clock;
    void *clock_data;
    /* Guarded by lock: */
    struct transport_link_faults links[TRANSPORT_MEM_MAX_NODES]
                                      [TRANSPORT_MEM_MAX_NODES];
    struct receiver rx[TRANSPORT_MEM_MAX_NODES];
    struct common_prng prng;
    uint64_t base_min;
    uint64_t base_max;
    uint64_t seq;
    struct transport_mem_stats stats;
    /* Immutable after creation: */
    struct endpoint ep[TRANSPORT_MEM_MAX_NODES];
};

static bool valid_id(const struct transport_mem *net, raft_id id)
{
    return id >= 1 && id <= net->n;
}

static uint64_t pick_delay(struct transport_mem *net,
                           const struct transport_link_faults *f)
{
    uint64_t d =
        common_prng_range(&net->prng, f->delay_ns_min, f->delay_ns_max);
    if (net->base_max > 0) {
        d += common_prng_range(&net->prng, net->base_min, net->base_max);
    }
    if (f->reorder > 0 && common_prng_chance(&net->prng, f->reorder)) {
        /* An extra delay of up to twice the link's maximum (at least a
         * millisecond) lets later messages overtake this one. */
        uint64_t span = 2 * f->delay_ns_max + 1000000;
        d += common_prng_below(&net->prng, span);
    }
    /* Drawn last, and only when asked for, so that links without holds
     * draw exactly what they drew before holds existed. */
    if (f->hold > 0 && common_prng_chance(&net->prng, f->hold)) {
        net->stats.held++;
        d += common_prng_range(&net->prng, f->hold_ns_min, f->hold_ns_max);
    }
    return d;
}

/* Rolls the dice of link @f for one message, under the lock: how many
 * copies reach the receiver (0, 1 or 2). The order of the draws is part of
 * sim mode's determinism: keep it. */
static int roll(struct transport_mem *net,
                const struct transport_link_faults *f,
                bool attached)
{
    if (f->cut) {
        net->stats.dropped_cut++;
        return 0;
    }
    if (f->loss > 0 && common_prng_chance(&net->prng, f->loss)) {
        net->stats.dropped_loss++;
        return 0;
    }
    if (!attached) {
        net->stats.dropped_detached++;
        return 0;
    }
    if (f->duplicate > 0 && common_prng_chance(&net->prng, f->duplicate)) {
        return 2;
    }
    return 1;
}

/* Stamps a copy that goes on, under the lock. */
static void stamp(struct transport_mem *net,
                  const struct transport_link_faults *f,
                  struct transport_msg *c,
                  uint64_t now)
{
    net->stats.delivered++;
    c->deliver_at_ns = now + pick_delay(net, f);
    c->seq = ++net->seq;
}

/* Hands @n messages to receiver @rx (under the lock). */
static void hand_over(struct receiver rx, struct transport_msg **msgs, size_t n)
{
    if (n == 0) {
        return;
    }
    if (rx.batch != NULL) {
        rx.batch(rx.data, msgs, n);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        rx.fn(rx.data, msgs[k]);
    }
}

static int mem_send(struct transport *t, const struct raft_message *m)
{
    struct endpoint *ep = t->impl;
    struct transport_mem *net = ep->net;
    if (!valid_id(net, m->to) || m->from != ep->id) {
        return COMMON_EINVAL;
    }
    struct transport_msg *c = transport_msg_clone(m);
    if (c == NULL) {
        return COMMON_ENOMEM;
    }
    if (net->batched) {
        ep->outbox[ep->outbox_len++] = c;
        return ep->outbox_len == TRANSPORT_MEM_OUTBOX_MAX ? transport_flush(t)
                                                          : 0;
    }
    uint64_t now = net->clock(net->clock_data);
    common_lock_take(&net->lock);
    net->stats.sent++;
    const struct transport_link_faults *f = &net->links[m->from - 1][m->to - 1];
    struct receiver rx = net->rx[m->to - 1];
    int copies = roll(net, f, rx.fn != NULL || rx.batch != NULL);
    if (copies == 2) {
        struct transport_msg *d = transport_msg_clone(m);
        if (d != NULL) {
            net->stats.duplicated++;
            stamp(net, f, d, now);
            hand_over(rx, &d, 1);
        }
    }
    if (copies > 0) {
        stamp(net, f, c, now);
        hand_over(rx, &c, 1);
        c = NULL;
    }
    common_lock_release(&net->lock);
    free(c);
    return 0;
}

unsigned transport_mem_route(struct transport_mem *net,
                             struct transport_msg *msg,
                             struct transport_msg *out[2])
{
    out[0] = out[1] = NULL;
    if (!valid_id(net, msg->m.from) || !valid_id(net, msg->m.to)) {
        free(msg);
        return 0;
    }
    uint64_t now = net->clock(net->clock_data);
    common_lock_take(&net->lock);
    net->stats.sent++;
    const struct transport_link_faults *f =
        &net->links[msg->m.from - 1][msg->m.to - 1];
    unsigned n = (unsigned)roll(net, f, true);
    if (n == 2) {
        /* The duplicate first, as mem_send delivers it. */
        out[1] = transport_msg_clone(&msg->m);
        if (out[1] != NULL) {
            net->stats.duplicated++;
            stamp(net, f, out[1], now);
        } else {
            n = 1;
        }
    }
    if (n > 0) {
        stamp(net, f, msg, now);
        out[0] = msg;
        msg = NULL;
    }
    common_lock_release(&net->lock);
    free(msg);
    return n;
}

/* Batched: the endpoint's waiting sends go out, each receiver's in one
 * call. */
static int mem_flush(struct transport *t)
{
    struct endpoint *ep = t->impl;
    struct transport_mem *net = ep->net;
    if (ep->outbox_len == 0) {
        return 0;
    }
    /* A receiver's share: each message, and perhaps its duplicate. */
    struct transport_msg *share[2 * TRANSPORT_MEM_OUTBOX_MAX];
    uint64_t now = net->clock(net->clock_data);
    common_lock_take(&net->lock);
    for (raft_id to = 1; to <= net->n; to++) {
        const struct transport_link_faults *f = &net->links[ep->id - 1][to - 1];
        struct receiver rx = net->rx[to - 1];
        bool attached = rx.fn != NULL || rx.batch != NULL;
        size_t n = 0;
        for (size_t k = 0; k < ep->outbox_len; k++) {
            struct transport_msg *c = ep->outbox[k];
            if (c == NULL || c->m.to != to) {
                continue;
            }
            ep->outbox[k] = NULL;
            net->stats.sent++;
            int copies = roll(net, f, attached);
            if (copies == 2) {
                struct transport_msg *d = transport_msg_clone(&c->m);
                if (d != NULL) {
                    net->stats.duplicated++;
                    stamp(net, f, d, now);
                    share[n++] = d;
                }
            }
            if (copies > 0) {
                stamp(net, f, c, now);
                share[n++] = c;
            } else {
                free(c);
            }
        }
        hand_over(rx, share, n);
    }
    common_lock_release(&net->lock);
    ep->outbox_len = 0;
    return 0;
}

static const struct transport_vtable mem_vtable = {
    .send = mem_send,
    .flush = mem_flush, /* batched only: otherwise nothing ever waits */
    .destroy = NULL,    /* endpoints belong to the network */
};

int transport_mem_new(unsigned nodes,
                      uint64_t seed,
                      transport_clock_fn clock,
                      void *clock_data,
                      struct transport_mem **out)
{
    if (nodes == 0 || nodes > TRANSPORT_MEM_MAX_NODES || clock == NULL) {
        return COMMON_EINVAL;
    }
    struct transport_mem *net = calloc(1, sizeof *net);
    if (net == NULL) {
        return COMMON_ENOMEM;
    }
    if (common_lock_init(&net->lock) != 0) {
        free(net);
        return COMMON_ENOMEM;
    }
    net->n = nodes;
    net->clock = clock;
    net->clock_data = clock_data;
    common_prng_seed(&net->prng, seed);
    for (unsigned k = 0; k < nodes; k++) {
        net->ep[k].t.vt = &mem_vtable;
        net->ep[k].t.impl = &net->ep[k];
        net->ep[k].net = net;
        net->ep[k].id = k + 1;
    }
    *out = net;
    return 0;
}

void transport_mem_set_single_threaded(struct transport_mem *net)
{
    common_lock_switch_off(&net->lock);
}

void transport_mem_set_batched(struct transport_mem *net)
{
    net->batched = true;
}

void transport_mem_free(struct transport_mem *net)
{
    if (net == NULL) {
        return;
    }
    for (unsigned k = 0; k < net->n; k++) {
        for (size_t j = 0; j < net->ep[k].outbox_len; j++) {
            free(net->ep[k].outbox[j]);
        }
    }
    common_lock_fini(&net->lock);
    free(net);
}

/* Sets node @id's receiver: one of @fn and @batch, or neither. */
static void set_receiver(struct transport_mem *net,
                         raft_id id,
                         struct receiver rx)
{
    if (!valid_id(net, id)) {
        return;
    }
    if (rx.fn == NULL && rx.batch == NULL) {
        rx.data = NULL;
    }
    common_lock_take(&net->lock);
    net->rx[id - 1] = rx;
    common_lock_release(&net->lock);
}

void transport_mem_attach(struct transport_mem *net,
                          raft_id id,
                          transport_deliver_fn deliver,
                          void *data)
{
    set_receiver(net, id, (struct receiver){.fn = deliver, .data = data});
}

void transport_mem_attach_batch(struct transport_mem *net,
                                raft_id id,
                                transport_deliver_batch_fn deliver,
                                void *data)
{
    set_receiver(net, id, (struct receiver){.batch = deliver, .data = data});
}

struct transport *transport_mem_endpoint(struct transport_mem *net, raft_id id)
{
    return valid_id(net, id) ? &net->ep[id - 1].t : NULL;
}

/* Calls @fn on every link from -> to (0 = all) under the lock. */
static void each_link(struct transport_mem *net,
                      raft_id from,
                      raft_id to,
                      void (*fn)(struct transport_link_faults *, const void *),
                      const void *arg)
{
    common_lock_take(&net->lock);
    for (raft_id i = 1; i <= net->n; i++) {
        if (from != 0 && i != from) {
            continue;
        }
        for (raft_id j = 1; j <= net->n; j++) {
            if ((to != 0 && j != to) || i == j) {
                continue;
            }
            fn(&net->links[i - 1][j - 1], arg);
        }
    }
    common_lock_release(&net->lock);
}

static void set_faults(struct transport_link_faults *l, const void *arg)
{
    bool cut = l->cut;
    *l = *(const struct transport_link_faults *)arg;
    l->cut = cut;
}

static void clear_link(struct transport_link_faults *l, const void *arg)
{
    (void)arg;
    memset(l, 0, sizeof *l);
}

static void set_cut(struct transport_link_faults *l, const void *arg)
{
    l->cut = *(const bool *)arg;
}

void transport_mem_set_faults(struct transport_mem *net,
                              raft_id from,
                              raft_id to,
                              const struct transport_link_faults *f)
{
    struct transport_link_faults clean = *f;
    if (clean.delay_ns_max < clean.delay_ns_min) {
        clean.delay_ns_max = clean.delay_ns_min;
    }
    if (clean.hold_ns_max < clean.hold_ns_min) {
        clean.hold_ns_max = clean.hold_ns_min;
    }
    each_link(net, from, to, set_faults, &clean);
}

void transport_mem_cut(struct transport_mem *net,
                       raft_id from,
                       raft_id to,
                       bool cut)
{
    each_link(net, from, to, set_cut, &cut);
}

bool transport_mem_is_cut(struct transport_mem *net, raft_id from, raft_id to)
{
    if (!valid_id(net, from) || !valid_id(net, to)) {
        return true;
    }
    common_lock_take(&net->lock);
    bool cut = net->links[from - 1][to - 1].cut;
    common_lock_release(&net->lock);
    return cut;
}

uint32_t transport_mem_cut_into(struct transport_mem *net, raft_id to)
{
    _Static_assert(TRANSPORT_MEM_MAX_NODES <= 32, "a cut mask holds 32 links");
    if (!valid_id(net, to)) {
        return UINT32_MAX;
    }
    uint32_t mask = 0;
    common_lock_take(&net->lock);
    for (raft_id from = 1; from <= net->n; from++) {
        if (net->links[from - 1][to - 1].cut) {
            mask |= UINT32_C(1) << (from - 1);
        }
    }
    common_lock_release(&net->lock);
    return mask;
}

void transport_mem_heal(struct transport_mem *net)
{
    each_link(net, 0, 0, clear_link, NULL);
}

void transport_mem_set_base_delay(struct transport_mem *net,
                                  uint64_t min_ns,
                                  uint64_t max_ns)
{
    common_lock_take(&net->lock);
    net->base_min = min_ns;
    net->base_max = max_ns < min_ns ? min_ns : max_ns;
    common_lock_release(&net->lock);
}

void transport_mem_stats(struct transport_mem *net,
                         struct transport_mem_stats *s)
{
    common_lock_take(&net->lock);
    *s = net->stats;
    common_lock_release(&net->lock);
}
