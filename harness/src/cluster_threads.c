/*
 * The threaded driver (see cluster_driver.h): one thread per node, the
 * real clock.
 *
 * Each node thread waits on its inbox - a timed heap of Raft messages
 * ordered by delivery time, and a queue of client requests - with a
 * timeout for its next tick; it then feeds what is due to its kv_node and
 * flushes, and publishes the node's status. Pause keeps the node but stops
 * its ticks and its processing, and things queue up until it resumes.
 *
 * Work arrives in batches: the in-memory network is batched (a flush
 * hands over all its messages for this node at once) and so is the client
 * network, and a receiver signals the node thread only when it sleeps
 * waiting for work (slot.waiting), since a busy thread looks at its inbox
 * again before it sleeps. A wake-up is a futex call and, on a loaded
 * machine, a context switch: per message, they were most of the CPU.
 *
 * Over gRPC (cluster_config.grpc), each node also gets a gRPC endpoint on
 * 127.0.0.1 (an ephemeral port) with a thread polling it, and Raft
 * messages travel through gRPC instead of the in-memory network. The
 * network's fault table still decides each message's fate: the receiving
 * side asks it (transport_mem_route) before the message enters the inbox,
 * whose delivery times honour the delays. Each polling thread delivers
 * into its node's inbox (slot lock, after the network's lock in
 * transport_mem_route, never inside the endpoint's own lock); node threads
 * send and flush through the endpoint, which is thread-safe. Client
 * requests stay in-process.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_driver.h"

#define BATCH_MAX 1024

/* ------------------------------------------------------------------------ */
/* The inbox                                                                 */
/* ------------------------------------------------------------------------ */

/* Under the slot's lock. */
static bool inbox_push(struct slot *s, struct transport_msg *m)
{
    struct inbox_msg im = {.key = {.at = m->deliver_at_ns, .seq = m->seq},
                           .msg = m};
    return common_heap_push(&s->inbox, &im) == 0;
}

/* The message due first, if it is due at @now (under the slot's lock). */
static struct transport_msg *inbox_pop_due(struct slot *s, uint64_t now)
{
    const struct common_timed *top = common_heap_top(&s->inbox);
    if (top == NULL || top->at > now) {
        return NULL;
    }
    struct inbox_msg im;
    common_heap_pop(&s->inbox, &im);
    return im.msg;
}

static void threads_discard(struct slot *s)
{
    for (size_t k = 0; k < common_heap_len(&s->inbox); k++) {
        free(((struct inbox_msg *)common_heap_at(&s->inbox, k))->msg);
    }
    common_heap_clear(&s->inbox);
    for (size_t k = 0; k < s->reqs_len; k++) {
        free(s->reqs[k]);
    }
    s->reqs_len = 0;
}

/* Queues client request @r at the back of @s's requests (under the
 * slot's lock); false when there is no room for it. */
static bool reqs_push(struct slot *s, struct client_request *r)
{
    assert(s->reqs_len <= s->reqs_cap);
    if (common_grow(&s->reqs, &s->reqs_cap, s->reqs_len + 1, sizeof *s->reqs,
                    64) != 0) {
        return false;
    }
    s->reqs[s->reqs_len++] = r;
    return true;
}

/* Takes up to @max requests from the front of @s's requests into @out,
 * oldest first (under the slot's lock). Returns how many. */
static size_t reqs_take(struct slot *s, struct client_request **out, size_t max)
{
    assert(s->reqs_len <= s->reqs_cap);
    size_t n = s->reqs_len < max ? s->reqs_len : max;
    if (n == 0) {
        return 0;
    }
    memcpy(out, s->reqs, n * sizeof *out);
    memmove(s->reqs, s->reqs + n, (s->reqs_len - n) * sizeof *s->reqs);
    s->reqs_len -= n;
    return n;
}

/* Wakes @s's node thread if it sleeps waiting for work (under the slot's
 * lock): a thread that is busy looks at its inbox before it sleeps again,
 * so the signal - a futex call, most often a context switch on a loaded
 * machine - would only cost. */
static void wake_node(struct slot *s)
{
    if (s->waiting) {
        pthread_cond_signal(&s->cond);
    }
}

/* The in-memory network's receiver, under its lock. */
static void threads_deliver(void *data, struct transport_msg *msg)
{
    struct slot *s = data;
    pthread_mutex_lock(&s->lock);
    if (!s->up || !inbox_push(s, msg)) {
        free(msg);
    } else {
        wake_node(s);
    }
    pthread_mutex_unlock(&s->lock);
}

/* The batched in-memory network's receiver, under its lock: a flush's
 * messages for this node, queued under one lock with one wake-up. */
static void threads_deliver_batch(void *data,
                                  struct transport_msg **msgs,
                                  size_t n)
{
    struct slot *s = data;
    bool queued = false;
    pthread_mutex_lock(&s->lock);
    for (size_t k = 0; k < n; k++) {
        if (!s->up || !inbox_push(s, msgs[k])) {
            free(msgs[k]);
        } else {
            queued = true;
        }
    }
    if (queued) {
        wake_node(s);
    }
    pthread_mutex_unlock(&s->lock);
}

/* The client network's receiver, under its lock: a batch of requests,
 * queued under one lock with one wake-up. */
static void threads_request(void *data, struct client_request *batch)
{
    struct slot *s = data;
    bool queued = false;
    pthread_mutex_lock(&s->lock);
    while (batch != NULL && s->up) {
        struct client_request *r = batch;
        batch = r->next;
        if (!reqs_push(s, r)) {
            free(r); /* lost, like a dropped packet: the client times out */
        }
        queued = true;
    }
    if (queued) {
        wake_node(s);
    }
    pthread_mutex_unlock(&s->lock);
    while (batch != NULL) { /* the node went down: lost */
        struct client_request *r = batch;
        batch = r->next;
        free(r);
    }
}

/* ------------------------------------------------------------------------ */
/* Node threads                                                              */
/* ------------------------------------------------------------------------ */

static void abs_deadline(const struct cluster *c,
                         uint64_t at_ns,
                         struct timespec *ts)
{
    uint64_t mono = c->start_ns + at_ns;
    ts->tv_sec = (time_t)(mono / COMMON_NS_PER_S);
    ts->tv_nsec = (long)(mono % COMMON_NS_PER_S);
}

/* The node halted on its crash_after trigger: it does nothing more while
 * it waits for the controlling thread to power it off
 * (cluster_reap_tripped), which ends this thread; a control handed to it
 * meanwhile is answered unavailable. */
static void wait_for_power_off(struct slot *s)
{
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        if (s->ctl != NULL) {
            /* A control handed over meanwhile: the node does nothing. */
            s->ctl->rv = COMMON_EUNAVAILABLE;
            s->ctl = NULL;
            s->ctl_done = true;
            pthread_cond_signal(&s->ctl_cond);
        }
        pthread_cond_wait(&s->cond, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
}

static void *node_main(void *arg)
{
    struct slot *s = arg;
    struct cluster *c = s->c;
    uint64_t tick_ns = cluster_node_tick_ns(c, s->id);
    uint64_t next_tick = cluster_now(c) + tick_ns;
    struct transport_msg *msgs[BATCH_MAX];
    struct client_request *reqs[BATCH_MAX];
    cluster_publish(s);
    for (;;) {
        size_t n_msgs = 0;
        size_t n_reqs = 0;
        uint64_t now;
        pthread_mutex_lock(&s->lock);
        for (;;) {
            if (s->stop) {
                pthread_mutex_unlock(&s->lock);
                return NULL;
            }
            now = cluster_now(c);
            if (s->paused) {
                pthread_cond_wait(&s->cond, &s->lock);
                next_tick = cluster_now(c) + tick_ns;
                continue;
            }
            const struct common_timed *first = common_heap_top(&s->inbox);
            bool msg_due = first != NULL && first->at <= now;
            if (msg_due || s->reqs_len > 0 || now >= next_tick ||
                s->ctl != NULL) {
                break;
            }
            uint64_t wake = next_tick;
            if (first != NULL && first->at < wake) {
                wake = first->at;
            }
            struct timespec ts;
            abs_deadline(c, wake, &ts);
            s->waiting = true;
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
            s->waiting = false;
        }
        while (n_msgs < BATCH_MAX &&
               (msgs[n_msgs] = inbox_pop_due(s, now)) != NULL) {
            n_msgs++;
        }
        n_reqs = reqs_take(s, reqs, BATCH_MAX);
        bool arm = s->arm_crash;
        s->arm_crash = false;
        struct cluster_ctl *ctl = s->ctl;
        s->ctl = NULL;
        pthread_mutex_unlock(&s->lock);
        if (arm) {
            /* The power cut: this thread's next sync never happens. */
            storage_fs_mem_fail(s->fs, STORAGE_FS_SYNC, 0, COMMON_EIO);
        }

        /* A partition also stops what was already on the wire (the cuts
         * read once per batch: one network lock, not one per message). */
        uint32_t cut = n_msgs > 0 ? transport_mem_cut_into(c->net, s->id) : 0;
        for (size_t k = 0; k < n_msgs; k++) {
            raft_id from = msgs[k]->m.from;
            if (from >= 1 && from <= c->cfg.nodes &&
                (cut & (UINT32_C(1) << (from - 1))) == 0) {
                kv_node_receive(s->node, &msgs[k]->m);
            }
            free(msgs[k]);
        }
        for (size_t k = 0; k < n_reqs; k++) {
            kv_node_request(s->node, &reqs[k]->req);
            free(reqs[k]);
        }
        /* Catch up at most a few ticks after a stall (a loaded machine),
         * rather than firing a burst of timeouts. */
        for (int k = 0; k < 3 && now >= next_tick; k++) {
            kv_node_tick(s->node);
            next_tick += tick_ns;
        }
        if (now >= next_tick) {
            next_tick = now + tick_ns;
        }
        if (ctl != NULL) {
            cluster_control_apply(s, ctl);
        }
        kv_node_flush(s->node);
        transport_flush(s->transport);
        client_net_flush_replies(c->clients, s->id);
        if (ctl != NULL) {
            pthread_mutex_lock(&s->lock);
            s->ctl_done = true;
            pthread_cond_signal(&s->ctl_cond);
            pthread_mutex_unlock(&s->lock);
        }
        if (kv_node_halted(s->node)) {
            wait_for_power_off(s);
            return NULL;
        }
        cluster_publish(s);
    }
}

static int threads_start(struct slot *s)
{
    if (pthread_create(&s->thread, NULL, node_main, s) != 0) {
        return COMMON_ENOMEM;
    }
    return 0;
}

static void threads_stop(struct slot *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
}

static int threads_crash(struct slot *s)
{
    struct cluster *c = s->c;
    pthread_mutex_lock(&s->lock);
    s->arm_crash = true;
    pthread_mutex_unlock(&s->lock);
    /* Give it a couple of ticks to write (under load it writes all the
     * time); an idle node simply stops. */
    uint64_t until = cluster_now(c) + 2 * cluster_tick_ns(c);
    for (;;) {
        struct cluster_node_status st;
        cluster_status(c, s->id, &st);
        if (st.failed || cluster_now(c) >= until) {
            break;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&ts, NULL);
    }
    cluster_power_off(c, s);
    return 0;
}

/* Hands @ctl to the node thread and waits until it has run there. The
 * controlling thread alone pauses and stops nodes, so the node cannot go
 * away while it waits. */
static int threads_control(struct slot *s, struct cluster_ctl *ctl)
{
    pthread_mutex_lock(&s->lock);
    if (!s->up || s->paused || s->stop || s->ctl != NULL) {
        pthread_mutex_unlock(&s->lock);
        return COMMON_EUNAVAILABLE;
    }
    s->ctl = ctl;
    s->ctl_done = false;
    pthread_cond_signal(&s->cond);
    while (!s->ctl_done) {
        pthread_cond_wait(&s->ctl_cond, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

const struct cluster_driver cluster_threads_driver = {
    .start = threads_start,
    .stop = threads_stop,
    .discard = threads_discard,
    .deliver = threads_deliver,
    .deliver_batch = threads_deliver_batch,
    .request = threads_request,
    .crash = threads_crash,
    .resume = NULL, /* the node thread wakes on the signal */
    .control = threads_control,
};

/* ------------------------------------------------------------------------ */
/* gRPC                                                                      */
/* ------------------------------------------------------------------------ */

/* gRPC endpoint callback, on its polling thread: the network's fault table
 * decides what becomes of the message (lost, delayed, duplicated), then
 * it waits in the inbox like one sent through the network. */
static void grpc_deliver(void *data, struct transport_msg *msg)
{
    struct slot *s = data;
    struct transport_msg *copies[2];
    unsigned n = transport_mem_route(s->c->net, msg, copies);
    pthread_mutex_lock(&s->lock);
    for (unsigned k = 0; k < n; k++) {
        if (!s->up || !inbox_push(s, copies[k])) {
            free(copies[k]);
        }
    }
    if (n > 0) {
        wake_node(s);
    }
    pthread_mutex_unlock(&s->lock);
}

static void grpc_log(void *data, enum common_log_level level, const char *msg)
{
    (void)level; /* the run's events log has no levels */
    struct slot *s = data;
    cluster_event(s->c, "node %llu: %s", (unsigned long long)s->id, msg);
}

static void *grpc_main(void *arg)
{
    struct slot *s = arg;
    while (transport_grpc_poll(s->grpc, 100) != TRANSPORT_GRPC_STOPPED) {
    }
    return NULL;
}

int cluster_grpc_start(struct cluster *c)
{
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        struct slot *s = &c->slots[k];
        struct transport_grpc_options o;
        transport_grpc_options_default(&o);
        o.id = s->id;
        o.listen = "127.0.0.1:0";
        o.deliver = grpc_deliver;
        o.deliver_data = s;
        o.log = grpc_log;
        o.log_data = s;
        char why[256];
        int rv = transport_grpc_new(&o, why, sizeof why, &s->grpc);
        if (rv != 0) {
            cluster_event(c, "node %llu: no gRPC endpoint: %s",
                          (unsigned long long)s->id, why);
            return rv;
        }
    }
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        for (unsigned j = 0; j < c->cfg.nodes; j++) {
            char address[64];
            snprintf(address, sizeof address, "127.0.0.1:%u",
                     transport_grpc_port(c->slots[j].grpc));
            if (j != k && transport_grpc_set_peer(c->slots[k].grpc, j + 1,
                                                  address) != 0) {
                return COMMON_ENOMEM;
            }
        }
    }
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        struct slot *s = &c->slots[k];
        if (pthread_create(&s->grpc_thread, NULL, grpc_main, s) != 0) {
            return COMMON_ENOMEM;
        }
        s->grpc_polling = true;
    }
    return 0;
}

void cluster_grpc_stop(struct cluster *c)
{
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        struct slot *s = &c->slots[k];
        if (s->grpc_polling) {
            transport_grpc_stop(s->grpc);
            pthread_join(s->grpc_thread, NULL);
            s->grpc_polling = false;
        }
        transport_grpc_free(s->grpc);
        s->grpc = NULL;
    }
}
