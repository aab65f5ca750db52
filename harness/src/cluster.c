/*
 * The threaded cluster (see cluster.h).
 *
 * Locking: each node slot has one mutex guarding its inbox, its lifecycle
 * flags and its published status. The node thread never holds it while
 * running the kv_node (which sends through the transport and replies to
 * clients), so the lock orders are: transport lock -> slot lock (delivery)
 * and client-driver code -> slot lock (requests); nothing takes a slot lock
 * and then another lock. Lifecycle calls (crash, restart, pause, resume,
 * free) come from one controlling thread.
 *
 * Over gRPC, each endpoint's polling thread delivers into its node's inbox
 * (slot lock, after the network's lock in transport_mem_route, never
 * inside the endpoint's own lock); node threads send and flush through
 * the endpoint, which is thread-safe.
 */
#include "cluster.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 1024

struct inbox_req
{
    struct kv_request req; /* buffers point into data[] */
    uint8_t data[];
};

/* A Raft message in a node's inbox, keyed on its delivery time and the
 * network's sequence number (unique per message). */
struct inbox_msg
{
    struct common_timed key;
    struct transport_msg *msg;
};

/* Sim mode: an event parked while its node is paused. */
struct parked
{
    struct parked *next;
    bool is_msg;
    void *ptr; /* struct transport_msg or struct inbox_req */
};

struct slot
{
    struct cluster *c;
    raft_id id;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* Guarded by lock: */
    bool up;
    bool paused;
    bool stop;
    struct common_heap inbox; /* struct inbox_msg, by (deliver_at_ns, seq) */
    struct inbox_req **reqs;
    size_t reqs_len;
    size_t reqs_cap;
    struct cluster_node_status status;
    /* Owned by the controlling thread (and the node thread while up): */
    pthread_t thread;
    bool thread_running;
    struct kv_node *node;
    struct storage *disk;
    struct storage_fs *fs;       /* crash disks and files: survives crashes */
    struct transport *transport; /* what the node sends through */
    /* Over gRPC: the node's endpoint and its polling thread (they outlive
     * the node's crashes, like its address would). */
    struct transport_grpc *grpc;
    pthread_t grpc_thread;
    bool grpc_polling;
    bool arm_crash;           /* guarded by lock: fail the next sync */
    bool crash_pending;       /* sim: a crash event is scheduled */
    uint64_t installs_before; /* snapshots installed by earlier lives */
    /* Sim mode: incarnation (events of an earlier one are stale), the
     * current tick chain (a resume starts a new one, so a pause and resume
     * within one tick leave one chain, not two), and the events parked
     * while paused, oldest first. */
    uint64_t gen;
    uint64_t tick_chain;
    struct parked *parked_head;
    struct parked *parked_tail;
};

struct cluster
{
    struct cluster_config cfg;
    uint64_t start_ns; /* CLOCK_MONOTONIC at creation */
    struct transport_mem *net;
    struct common_prng prng; /* sim mode: latencies, tick phases */
    struct slot slots[CLUSTER_MAX_NODES];
};

uint64_t cluster_now(const struct cluster *c)
{
    if (c->cfg.sched != NULL) {
        return sched_now(c->cfg.sched);
    }
    return common_now_ns() - c->start_ns;
}

uint64_t cluster_client_latency(struct cluster *c)
{
    /* 20 to 80 microseconds, like a local network hop. */
    return 20000 + common_prng_below(&c->prng, 60001);
}

static bool sim(const struct cluster *c)
{
    return c->cfg.sched != NULL;
}

static uint64_t net_clock(void *data)
{
    return cluster_now(data);
}

static void event(struct cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void event(struct cluster *c, const char *fmt, ...)
{
    if (c->cfg.event == NULL) {
        return;
    }
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->cfg.event(c->cfg.event_data, cluster_now(c), buf);
}

/* ------------------------------------------------------------------------ */
/* Inbox                                                                     */
/* ------------------------------------------------------------------------ */

static bool heap_push(struct slot *s, struct transport_msg *m)
{
    struct inbox_msg im = {.key = {.at = m->deliver_at_ns, .seq = m->seq},
                           .msg = m};
    return common_heap_push(&s->inbox, &im) == 0;
}

/* The message due first, if it is due at @now. */
static struct transport_msg *heap_pop_due(struct slot *s, uint64_t now)
{
    const struct common_timed *top = common_heap_top(&s->inbox);
    if (top == NULL || top->at > now) {
        return NULL;
    }
    struct inbox_msg im;
    common_heap_pop(&s->inbox, &im);
    return im.msg;
}

static void inbox_clear(struct slot *s)
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

static void sim_msg(void *data, uint64_t arg, void *owned, uint64_t now);

/* Transport callback, under the transport's lock. */
static void deliver(void *data, struct transport_msg *msg)
{
    struct slot *s = data;
    if (sim(s->c)) {
        if (sched_at(s->c->cfg.sched, msg->deliver_at_ns, sim_msg, s, s->gen,
                     msg) != 0) {
            free(msg);
        }
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (!s->up || !heap_push(s, msg)) {
        free(msg);
    } else {
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

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
        if (!s->up || !heap_push(s, copies[k])) {
            free(copies[k]);
        }
    }
    if (n > 0) {
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

static void sim_req(void *data, uint64_t arg, void *owned, uint64_t now);

void cluster_request(struct cluster *c,
                     raft_id id,
                     const struct kv_request *req)
{
    if (id < 1 || id > c->cfg.nodes) {
        return;
    }
    struct slot *s = &c->slots[id - 1];
    size_t n = req->key.len + req->value.len + req->expected.len;
    struct inbox_req *r = malloc(sizeof *r + n);
    if (r == NULL) {
        return; /* lost, like a dropped packet: the client times out */
    }
    r->req = *req;
    uint8_t *p = r->data;
    struct common_buf *bufs[3] = {&r->req.key, &r->req.value, &r->req.expected};
    for (int k = 0; k < 3; k++) {
        if (bufs[k]->len > 0) {
            memcpy(p, bufs[k]->base, bufs[k]->len);
        }
        bufs[k]->base = p;
        p += bufs[k]->len;
    }
    if (sim(c)) {
        if (!s->up ||
            sched_at(c->cfg.sched, cluster_now(c) + cluster_client_latency(c),
                     sim_req, s, s->gen, r) != 0) {
            free(r);
        }
        return;
    }
    pthread_mutex_lock(&s->lock);
    bool queued = false;
    if (s->up) {
        if (s->reqs_len == s->reqs_cap) {
            size_t cap = s->reqs_cap ? s->reqs_cap * 2 : 64;
            struct inbox_req **q = realloc(s->reqs, cap * sizeof *q);
            if (q != NULL) {
                s->reqs = q;
                s->reqs_cap = cap;
            }
        }
        if (s->reqs_len < s->reqs_cap) {
            s->reqs[s->reqs_len++] = r;
            queued = true;
            pthread_cond_signal(&s->cond);
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!queued) {
        free(r);
    }
}

/* ------------------------------------------------------------------------ */
/* Node threads                                                              */
/* ------------------------------------------------------------------------ */

static void node_reply(void *data, const struct kv_response *resp)
{
    struct slot *s = data;
    s->c->cfg.reply(s->c->cfg.reply_data, resp);
}

static void node_observe(void *data,
                         struct kv_node *node,
                         const struct raft_update *u)
{
    struct slot *s = data;
    struct cluster *c = s->c;
    if (c->cfg.monitor != NULL) {
        monitor_observe(c->cfg.monitor, s->id, kv_node_raft(node), u);
    }
    if (u->role_changed) {
        if (u->role == RAFT_LEADER) {
            event(c, "node %llu became leader of term %llu",
                  (unsigned long long)s->id,
                  (unsigned long long)u->hard_state.term);
        } else if (u->role == RAFT_CANDIDATE) {
            event(c, "node %llu campaigns in term %llu",
                  (unsigned long long)s->id,
                  (unsigned long long)u->hard_state.term);
        } else if (u->role == RAFT_FOLLOWER && u->leader == 0 &&
                   s->status.role == RAFT_LEADER) {
            event(c, "node %llu stepped down in term %llu",
                  (unsigned long long)s->id,
                  (unsigned long long)u->hard_state.term);
        }
    }
}

static void node_failed(void *data, struct kv_node *node, const char *why)
{
    (void)node;
    struct slot *s = data;
    event(s->c, "node %llu stopped serving: %s", (unsigned long long)s->id,
          why);
}

static void publish(struct slot *s)
{
    const struct raft *r = kv_node_raft(s->node);
    struct cluster_node_status st;
    memset(&st, 0, sizeof st);
    st.up = true;
    st.failed = kv_node_failed(s->node);
    st.role = raft_role(r);
    st.term = raft_current_term(r);
    st.leader = raft_leader(r);
    st.commit = raft_commit_index(r);
    st.applied = raft_applied_index(r);
    st.last = raft_last_index(r);
    struct kv_node_stats ks;
    kv_node_stats(s->node, &ks);
    st.snapshots_installed = ks.snapshots_installed;
    st.snapshots_taken = ks.snapshots_taken;
    pthread_mutex_lock(&s->lock);
    st.paused = s->paused;
    s->status = st;
    pthread_mutex_unlock(&s->lock);
}

static void abs_deadline(const struct cluster *c,
                         uint64_t at_ns,
                         struct timespec *ts)
{
    uint64_t mono = c->start_ns + at_ns;
    ts->tv_sec = (time_t)(mono / 1000000000ull);
    ts->tv_nsec = (long)(mono % 1000000000ull);
}

static void *node_main(void *arg)
{
    struct slot *s = arg;
    struct cluster *c = s->c;
    uint64_t tick_ns = (uint64_t)c->cfg.tick_ms * 1000000ull;
    uint64_t next_tick = cluster_now(c) + tick_ns;
    struct transport_msg *msgs[BATCH_MAX];
    struct inbox_req *reqs[BATCH_MAX];
    publish(s);
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
            if (msg_due || s->reqs_len > 0 || now >= next_tick) {
                break;
            }
            uint64_t wake = next_tick;
            if (first != NULL && first->at < wake) {
                wake = first->at;
            }
            struct timespec ts;
            abs_deadline(c, wake, &ts);
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
        while (n_msgs < BATCH_MAX &&
               (msgs[n_msgs] = heap_pop_due(s, now)) != NULL) {
            n_msgs++;
        }
        while (n_reqs < BATCH_MAX && n_reqs < s->reqs_len) {
            reqs[n_reqs] = s->reqs[n_reqs];
            n_reqs++;
        }
        if (n_reqs > 0) {
            memmove(s->reqs, s->reqs + n_reqs,
                    (s->reqs_len - n_reqs) * sizeof *s->reqs);
            s->reqs_len -= n_reqs;
        }
        bool arm = s->arm_crash;
        s->arm_crash = false;
        pthread_mutex_unlock(&s->lock);
        if (arm) {
            /* The power cut: this thread's next sync never happens. */
            storage_fs_mem_fail(s->fs, STORAGE_FS_SYNC, 0, COMMON_EIO);
        }

        for (size_t k = 0; k < n_msgs; k++) {
            /* A partition also stops what was already on the wire. */
            if (!transport_mem_is_cut(c->net, msgs[k]->m.from, s->id)) {
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
        kv_node_flush(s->node);
        transport_flush(s->transport);
        publish(s);
    }
}

/* ------------------------------------------------------------------------ */
/* Sim mode                                                                  */
/* ------------------------------------------------------------------------ */

static void sim_tick(void *data, uint64_t arg, void *owned, uint64_t now);

static void park(struct slot *s, bool is_msg, void *ptr)
{
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

static void drop_parked(struct slot *s)
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

static void run_msg(struct slot *s, struct transport_msg *m)
{
    /* A partition also stops what was already on the wire. */
    if (!transport_mem_is_cut(s->c->net, m->m.from, s->id)) {
        kv_node_receive(s->node, &m->m);
        kv_node_flush(s->node);
        publish(s);
    }
    free(m);
}

static void run_req(struct slot *s, struct inbox_req *r)
{
    kv_node_request(s->node, &r->req);
    kv_node_flush(s->node);
    publish(s);
    free(r);
}

static void sim_msg(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)now;
    struct slot *s = data;
    if (live(s, arg) == NULL) {
        free(owned);
    } else if (s->paused) {
        park(s, true, owned);
    } else {
        run_msg(s, owned);
    }
}

static void sim_req(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)now;
    struct slot *s = data;
    if (live(s, arg) == NULL) {
        free(owned);
    } else if (s->paused) {
        park(s, false, owned);
    } else {
        run_req(s, owned);
    }
}

static void sim_tick(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)owned;
    struct slot *s = data;
    if (arg != s->tick_chain || live(s, s->gen) == NULL || s->paused) {
        return; /* resume and restart start a new chain */
    }
    kv_node_tick(s->node);
    kv_node_flush(s->node);
    publish(s);
    uint64_t tick_ns = (uint64_t)s->c->cfg.tick_ms * 1000000ull;
    sched_at(s->c->cfg.sched, now + tick_ns, sim_tick, s, s->tick_chain, NULL);
}

/* Resumes a paused node: its parked events run now, in order, and its
 * ticks start again. */
static void sim_resume(struct slot *s)
{
    struct parked *p = s->parked_head;
    s->parked_head = s->parked_tail = NULL;
    while (p != NULL) {
        struct parked *next = p->next;
        if (live(s, s->gen) == NULL) {
            free(p->ptr);
        } else if (p->is_msg) {
            run_msg(s, p->ptr);
        } else {
            run_req(s, p->ptr);
        }
        free(p);
        p = next;
    }
    uint64_t tick_ns = (uint64_t)s->c->cfg.tick_ms * 1000000ull;
    s->tick_chain++;
    sched_at(s->c->cfg.sched, cluster_now(s->c) + tick_ns, sim_tick, s,
             s->tick_chain, NULL);
}

static int node_boot(struct cluster *c, struct slot *s)
{
    struct kv_node_config nc;
    memset(&nc, 0, sizeof nc);
    raft_options_default(&nc.raft);
    nc.raft.id = s->id;
    nc.raft.election_ticks = c->cfg.election_ticks;
    nc.raft.heartbeat_ticks = c->cfg.heartbeat_ticks;
    nc.raft.pre_vote = c->cfg.pre_vote;
    nc.raft.check_quorum = c->cfg.check_quorum;
    nc.raft.seed =
        common_mix64(c->cfg.seed * 1000003ull + s->id + cluster_now(c));
    raft_id ids[CLUSTER_MAX_NODES];
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        ids[k] = k + 1;
    }
    int rv = raft_configuration_voters(&nc.conf, ids, c->cfg.nodes);
    if (rv != 0) {
        return rv;
    }
    nc.snapshot_entries = c->cfg.snapshot_entries;
    nc.snapshot_bytes = c->cfg.snapshot_bytes;
    nc.snapshot_trailing = c->cfg.snapshot_trailing;
    nc.storage = s->disk;
    s->transport = s->grpc != NULL ? transport_grpc_transport(s->grpc)
                                   : transport_mem_endpoint(c->net, s->id);
    nc.transport = s->transport;
    nc.env.data = s;
    nc.env.reply = node_reply;
    nc.env.observe = node_observe;
    nc.env.failed = node_failed;
    struct storage_state st;
    rv = storage_load(s->disk, &st);
    if (rv != 0) {
        event(c, "node %llu refuses to start: %s", (unsigned long long)s->id,
              storage_error(s->disk));
        return rv;
    }
    if (st.recovery_note[0] != '\0') {
        event(c, "node %llu recovery: %s", (unsigned long long)s->id,
              st.recovery_note);
    }
    if (c->cfg.monitor != NULL) {
        monitor_boot(c->cfg.monitor, s->id, st.snapshot_index, st.snapshot_term,
                     st.entries, st.n_entries);
    }
    rv = kv_node_new(&nc, &s->node);
    if (rv != 0) {
        return rv;
    }
    pthread_mutex_lock(&s->lock);
    s->up = true;
    s->stop = false;
    s->paused = false;
    s->gen++;
    pthread_mutex_unlock(&s->lock);
    transport_mem_attach(c->net, s->id, deliver, s);
    if (sim(c)) {
        /* Each node ticks at its own phase within the tick interval. */
        uint64_t tick_ns = (uint64_t)c->cfg.tick_ms * 1000000ull;
        uint64_t phase = common_prng_below(&c->prng, tick_ns) + 1;
        s->thread_running = true; /* "running": there is no thread */
        publish(s);
        s->tick_chain++;
        return sched_at(c->cfg.sched, cluster_now(c) + phase, sim_tick, s,
                        s->tick_chain, NULL);
    }
    if (pthread_create(&s->thread, NULL, node_main, s) != 0) {
        transport_mem_attach(c->net, s->id, NULL, NULL);
        pthread_mutex_lock(&s->lock);
        s->up = false;
        pthread_mutex_unlock(&s->lock);
        kv_node_free(s->node);
        s->node = NULL;
        return COMMON_ENOMEM;
    }
    s->thread_running = true;
    return 0;
}

/* Opens the node's storage over its file system (or a perfect disk). */
static int open_disk(struct cluster *c, struct slot *s)
{
    if (c->cfg.disk == CLUSTER_DISK_MEMORY) {
        return storage_mem_new(&s->disk);
    }
    int rv = 0;
    if (s->fs == NULL) {
        if (c->cfg.disk == CLUSTER_DISK_CRASH) {
            rv = storage_fs_mem_new(common_mix64(c->cfg.seed + s->id), &s->fs);
        } else {
            char dir[1024];
            snprintf(dir, sizeof dir, "%s/node-%llu",
                     c->cfg.data_dir != NULL ? c->cfg.data_dir : ".",
                     (unsigned long long)s->id);
            rv = storage_fs_posix_new(dir, &s->fs);
        }
        if (rv != 0) {
            return rv;
        }
    }
    struct storage_wal_options wo;
    storage_wal_options_default(&wo);
    return storage_wal_new(s->fs, &wo, &s->disk);
}

static void grpc_log(void *data, const char *msg)
{
    struct slot *s = data;
    event(s->c, "node %llu: %s", (unsigned long long)s->id, msg);
}

static void *grpc_main(void *arg)
{
    struct slot *s = arg;
    while (transport_grpc_poll(s->grpc, 100) != TRANSPORT_GRPC_STOPPED) {
    }
    return NULL;
}

/* Gives every node a gRPC endpoint on loopback and tells each where the
 * others are. */
static int grpc_start(struct cluster *c)
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
            event(c, "node %llu: no gRPC endpoint: %s",
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

int cluster_new(const struct cluster_config *cfg, struct cluster **out)
{
    if (cfg->nodes == 0 || cfg->nodes > CLUSTER_MAX_NODES ||
        cfg->reply == NULL || cfg->tick_ms == 0 ||
        (cfg->grpc && cfg->sched != NULL)) {
        return COMMON_EINVAL;
    }
    struct cluster *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return COMMON_ENOMEM;
    }
    c->cfg = *cfg;
    c->start_ns = common_now_ns();
    common_prng_seed(&c->prng, cfg->seed ^ 0x636c7573ull);
    int rv = transport_mem_new(cfg->nodes, cfg->seed ^ 0x6e6574ull, net_clock,
                               c, &c->net);
    if (rv != 0) {
        free(c);
        return rv;
    }
    if (cfg->latency_set) {
        transport_mem_set_base_delay(c->net, cfg->latency_ns_min,
                                     cfg->latency_ns_max);
    } else if (sim(c)) {
        /* Threads get their network latency from the machine; virtual time
         * has none, so give the links a LAN's: 0.1 to 0.5 ms. */
        transport_mem_set_base_delay(c->net, 100000, 500000);
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    for (unsigned k = 0; k < cfg->nodes; k++) {
        struct slot *s = &c->slots[k];
        s->c = c;
        s->id = k + 1;
        common_heap_init(&s->inbox, sizeof(struct inbox_msg));
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, &attr);
        rv = open_disk(c, s);
        if (rv != 0) {
            pthread_condattr_destroy(&attr);
            c->cfg.nodes = k + 1;
            cluster_free(c);
            return rv;
        }
    }
    pthread_condattr_destroy(&attr);
    if (cfg->grpc) {
        rv = grpc_start(c);
        if (rv != 0) {
            cluster_free(c);
            return rv;
        }
    }
    *out = c;
    return 0;
}

void cluster_set_reply_data(struct cluster *c, void *data)
{
    c->cfg.reply_data = data;
}

int cluster_start(struct cluster *c)
{
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        int rv = node_boot(c, &c->slots[k]);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static void stop_thread(struct cluster *c, struct slot *s)
{
    if (!s->thread_running) {
        return;
    }
    transport_mem_attach(c->net, s->id, NULL, NULL);
    if (!sim(c)) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    s->thread_running = false;
    drop_parked(s); /* pending sim events of this incarnation go stale */
    pthread_mutex_lock(&s->lock);
    s->up = false;
    s->paused = false;
    s->arm_crash = false;
    inbox_clear(s);
    s->installs_before += s->status.snapshots_installed;
    memset(&s->status, 0, sizeof s->status);
    pthread_mutex_unlock(&s->lock);
    kv_node_free(s->node);
    s->node = NULL;
}

/* The machine loses power: the node is gone, and so is whatever its disk
 * had not made durable. The storage object goes with the node; the file
 * system (crash disks, files) stays for the restart. */
static void power_off(struct cluster *c, struct slot *s)
{
    stop_thread(c, s);
    if (c->cfg.disk != CLUSTER_DISK_MEMORY) {
        storage_free(s->disk);
        s->disk = NULL;
        if (c->cfg.disk == CLUSTER_DISK_CRASH) {
            storage_fs_mem_fail(s->fs, STORAGE_FS_SYNC, -1, 0);
            storage_fs_mem_crash(s->fs, c->cfg.torn_writes);
        }
    }
    event(c, "node %llu crashed", (unsigned long long)s->id);
}

static void sim_crash(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)owned;
    (void)now;
    struct slot *s = data;
    if (s->crash_pending && s->gen == arg) {
        s->crash_pending = false;
        power_off(s->c, s);
    }
}

void cluster_free(struct cluster *c)
{
    if (c == NULL) {
        return;
    }
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        stop_thread(c, &c->slots[k]);
    }
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        struct slot *s = &c->slots[k];
        if (s->grpc_polling) {
            transport_grpc_stop(s->grpc);
            pthread_join(s->grpc_thread, NULL);
        }
        transport_grpc_free(s->grpc);
    }
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        struct slot *s = &c->slots[k];
        storage_free(s->disk);
        storage_fs_free(s->fs);
        common_heap_fini(&s->inbox);
        free(s->reqs);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
    }
    transport_mem_free(c->net);
    free(c);
}

static struct slot *slot_of(struct cluster *c, raft_id id)
{
    return id >= 1 && id <= c->cfg.nodes ? &c->slots[id - 1] : NULL;
}

int cluster_crash(struct cluster *c, raft_id id)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL) {
        return COMMON_EINVAL;
    }
    if (!s->thread_running || s->crash_pending) {
        return 0;
    }
    if (c->cfg.disk != CLUSTER_DISK_CRASH) {
        power_off(c, s);
        return 0;
    }
    /* Strike during the next write: its sync fails, so it is not durable
     * (and, with torn_writes, may be cut short). */
    uint64_t tick_ns = (uint64_t)c->cfg.tick_ms * 1000000ull;
    if (sim(c)) {
        storage_fs_mem_fail(s->fs, STORAGE_FS_SYNC, 0, COMMON_EIO);
        s->crash_pending = true;
        return sched_at(
            c->cfg.sched,
            cluster_now(c) + 1 + common_prng_below(&c->prng, 2 * tick_ns),
            sim_crash, s, s->gen, NULL);
    }
    pthread_mutex_lock(&s->lock);
    s->arm_crash = true;
    pthread_mutex_unlock(&s->lock);
    /* Give it a couple of ticks to write (under load it writes all the
     * time); an idle node simply stops. */
    uint64_t until = cluster_now(c) + 2 * tick_ns;
    for (;;) {
        struct cluster_node_status st;
        cluster_status(c, id, &st);
        if (st.failed || cluster_now(c) >= until) {
            break;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&ts, NULL);
    }
    power_off(c, s);
    return 0;
}

int cluster_restart(struct cluster *c, raft_id id)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL) {
        return COMMON_EINVAL;
    }
    if (s->crash_pending) {
        s->crash_pending = false;
        power_off(c, s); /* the crash it was about to have happens now */
    }
    if (s->thread_running) {
        return 0;
    }
    int rv = 0;
    if (s->disk == NULL) {
        rv = open_disk(c, s);
        if (rv != 0) {
            event(c, "node %llu cannot open its disk: %s",
                  (unsigned long long)id, common_strerror(rv));
            return rv;
        }
    }
    rv = node_boot(c, s);
    if (rv == 0) {
        event(c, "node %llu restarted", (unsigned long long)id);
    }
    return rv;
}

static int set_paused(struct cluster *c, raft_id id, bool paused)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL) {
        return COMMON_EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    bool change = s->up && s->paused != paused;
    if (change) {
        s->paused = paused;
        s->status.paused = paused;
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    if (change) {
        event(c, "node %llu %s", (unsigned long long)id,
              paused ? "paused" : "resumed");
        if (sim(c) && !paused) {
            sim_resume(s);
        }
    }
    return 0;
}

int cluster_pause(struct cluster *c, raft_id id)
{
    return set_paused(c, id, true);
}

int cluster_resume(struct cluster *c, raft_id id)
{
    return set_paused(c, id, false);
}

void cluster_status(struct cluster *c,
                    raft_id id,
                    struct cluster_node_status *st)
{
    struct slot *s = slot_of(c, id);
    memset(st, 0, sizeof *st);
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    *st = s->status;
    st->up = s->up;
    st->paused = s->paused;
    pthread_mutex_unlock(&s->lock);
}

raft_id cluster_leader(struct cluster *c)
{
    raft_id best = 0;
    raft_term best_term = 0;
    raft_term max_term = 0;
    for (raft_id id = 1; id <= c->cfg.nodes; id++) {
        struct cluster_node_status st;
        cluster_status(c, id, &st);
        if (!st.up || st.paused) {
            continue;
        }
        if (st.term > max_term) {
            max_term = st.term;
        }
        if (st.role == RAFT_LEADER && st.term >= best_term) {
            best = id;
            best_term = st.term;
        }
    }
    /* A deposed leader that has not heard of the new term yet does not
     * count. */
    return best_term == max_term ? best : 0;
}

unsigned cluster_size(const struct cluster *c)
{
    return c->cfg.nodes;
}

uint64_t cluster_snapshots_installed(struct cluster *c)
{
    uint64_t n = 0;
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        struct slot *s = &c->slots[k];
        pthread_mutex_lock(&s->lock);
        n += s->installs_before + s->status.snapshots_installed;
        pthread_mutex_unlock(&s->lock);
    }
    return n;
}

struct transport_mem *cluster_net(struct cluster *c)
{
    return c->net;
}
