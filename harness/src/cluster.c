/*
 * The cluster's node slots and their lifecycle (see cluster.h and
 * cluster_driver.h): booting a node from its disk, the node's environment
 * (replies into the client network, updates to the monitor, events to the
 * log), crash, restart, pause and resume, and the published status.
 * Driving the nodes is the drivers' (cluster_threads.c, cluster_sim.c).
 *
 * A node's life:
 *
 *            cluster_start / cluster_restart (node_boot)
 *   down --------------------------------------------------> up
 *    ^                                                       |  ^
 *    |     cluster_crash (cluster_power_off; on a crash      |  |
 * cluster_resume
 *    +------ disk, when its next write strikes)  <-----------+  |
 *    |                                                       v  |
 *    +-------------------------------------------------- paused-+
 *
 * Lifecycle calls (crash, restart, pause, resume, free) come from one
 * controlling thread.
 */
#include "cluster_driver.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage.h"

/* Salt of the in-memory network's randomness ("net"). */
#define NET_SALT 0x6e6574ull

uint64_t cluster_now(const struct cluster *c)
{
    if (c->cfg.sched != NULL) {
        return sched_now(c->cfg.sched);
    }
    return common_now_ns() - c->start_ns;
}

uint64_t cluster_tick_ns(const struct cluster *c)
{
    return (uint64_t)c->cfg.tick_ms * COMMON_NS_PER_MS;
}

uint64_t cluster_node_tick_ns(const struct cluster *c, raft_id id)
{
    uint64_t tick_ns = cluster_tick_ns(c);
    double rate = c->cfg.node_timing[id - 1].clock_rate;
    if (rate <= 0 || rate == 1.0) {
        return tick_ns; /* exactly the cluster's: no rounding */
    }
    double ns = (double)tick_ns / rate;
    return ns < 1 ? 1 : (uint64_t)ns;
}

static uint64_t net_clock(void *data)
{
    return cluster_now(data);
}

void cluster_slot_lock(struct slot *s)
{
    if (s->c->cfg.sched == NULL) {
        pthread_mutex_lock(&s->lock);
    }
}

void cluster_slot_unlock(struct slot *s)
{
    if (s->c->cfg.sched == NULL) {
        pthread_mutex_unlock(&s->lock);
    }
}

void cluster_event(struct cluster *c, const char *fmt, ...)
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
/* The node's environment                                                    */
/* ------------------------------------------------------------------------ */

static void node_reply(void *data, const struct kv_response *resp)
{
    struct slot *s = data;
    if (!cluster_disk_reply(s, resp)) {
        client_net_reply(s->c->clients, resp);
    }
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
            cluster_event(c, "node %llu became leader of term %llu",
                          (unsigned long long)s->id,
                          (unsigned long long)u->hard_state.term);
        } else if (u->role == RAFT_CANDIDATE) {
            cluster_event(c, "node %llu campaigns in term %llu",
                          (unsigned long long)s->id,
                          (unsigned long long)u->hard_state.term);
        } else if (u->role == RAFT_FOLLOWER && u->leader == 0 &&
                   s->status.role == RAFT_LEADER) {
            cluster_event(c, "node %llu stepped down in term %llu",
                          (unsigned long long)s->id,
                          (unsigned long long)u->hard_state.term);
        }
    }
}

static void node_failed(void *data, struct kv_node *node, const char *why)
{
    (void)node;
    struct slot *s = data;
    cluster_event(s->c, "node %llu stopped serving: %s",
                  (unsigned long long)s->id, why);
    cluster_disk_stopped(s);
}

/* The message of @u that trips an arm of kind @what, or NULL: a granted
 * vote, or a successful AppendEntries response sent with entries this
 * update persisted. Only the messages sent after persisting count. */
static const struct raft_message *trip_message(enum cluster_crash_after what,
                                               const struct raft_update *u)
{
    if (what == CLUSTER_CRASH_AFTER_ACK && u->n_entries == 0) {
        return NULL;
    }
    for (size_t k = u->n_messages_early; k < u->n_messages; k++) {
        const struct raft_message *m = &u->messages[k];
        if (what == CLUSTER_CRASH_AFTER_VOTE && m->type == RAFT_MSG_VOTE_RESP &&
            m->vote_resp.granted && !m->vote_resp.pre_vote) {
            return m;
        }
        if (what == CLUSTER_CRASH_AFTER_ACK &&
            m->type == RAFT_MSG_APPEND_RESP && m->append_resp.success) {
            return m;
        }
    }
    return NULL;
}

/* env.sent: an armed node whose update trips its arm halts right there
 * (kv_node_halted); its driver powers it off (sim at once, threads through
 * cluster_reap_tripped). */
static bool node_sent(void *data,
                      struct kv_node *node,
                      const struct raft_update *u)
{
    (void)node;
    struct slot *s = data;
    cluster_slot_lock(s);
    enum cluster_crash_after what = s->crash_after;
    cluster_slot_unlock(s);
    const struct raft_message *m =
        what != CLUSTER_CRASH_AFTER_NONE ? trip_message(what, u) : NULL;
    if (m == NULL) {
        return false;
    }
    cluster_slot_lock(s);
    s->crash_after = CLUSTER_CRASH_AFTER_NONE;
    s->tripped = true;
    s->tripped_gen = s->gen;
    s->crash_after_fired[what]++;
    cluster_slot_unlock(s);
    if (what == CLUSTER_CRASH_AFTER_VOTE) {
        cluster_event(s->c,
                      "node %llu loses power right after granting its vote "
                      "to node %llu in term %llu",
                      (unsigned long long)s->id, (unsigned long long)m->to,
                      (unsigned long long)m->term);
    } else {
        cluster_event(s->c,
                      "node %llu loses power right after acknowledging "
                      "entries up to %llu to node %llu in term %llu",
                      (unsigned long long)s->id,
                      (unsigned long long)m->append_resp.index,
                      (unsigned long long)m->to, (unsigned long long)m->term);
    }
    return true;
}

/* Copies @src into @dst when they differ: a node's configuration changes
 * rarely and is published after every event, so the common case is a
 * comparison of the servers in use instead of a copy of the whole array. */
static void publish_conf(struct raft_configuration *dst,
                         const struct raft_configuration *src)
{
    assert(src->count <= RAFT_MAX_SERVERS);
    if (dst->count != src->count ||
        memcmp(dst->servers, src->servers,
               src->count * sizeof src->servers[0]) != 0) {
        *dst = *src;
        /* The address table lives in the node's core, which the readers
         * of the status do not own; the harness's nodes have no
         * addresses anyway. */
        dst->addresses = NULL;
        dst->addresses_len = 0;
    }
}

void cluster_publish(struct slot *s)
{
    const struct raft *r = kv_node_raft(s->node);
    struct kv_node_stats ks;
    kv_node_stats(s->node, &ks);
    /* Written in place (every field): this runs after every event. */
    cluster_slot_lock(s);
    struct cluster_node_status *st = &s->status;
    st->up = true;
    st->paused = s->paused;
    st->failed = kv_node_failed(s->node);
    st->role = raft_role(r);
    st->term = raft_current_term(r);
    st->leader = raft_leader(r);
    st->commit = raft_commit_index(r);
    st->applied = raft_applied_index(r);
    st->first = raft_first_index(r);
    st->last = raft_last_index(r);
    st->snapshots_installed = ks.snapshots_installed;
    st->snapshots_taken = ks.snapshots_taken;
    st->snapshot_bytes_max = ks.snapshot_bytes_max;
    st->snapshot_bytes_max_index = ks.snapshot_bytes_max_index;
    st->compacted_entries_max = ks.compacted_entries_max;
    st->compacted_entries_max_index = ks.compacted_entries_max_index;
    publish_conf(&st->conf, raft_config(r));
    st->conf_index = raft_config_index(r);
    cluster_slot_unlock(s);
}

/* ------------------------------------------------------------------------ */
/* Boot and power-off                                                        */
/* ------------------------------------------------------------------------ */

/* Attaches @s to both networks (or detaches it, @on false). */
static void attach(struct cluster *c, struct slot *s, bool on)
{
    if (c->driver->deliver_batch != NULL) {
        transport_mem_attach_batch(
            c->net, s->id, on ? c->driver->deliver_batch : NULL, on ? s : NULL);
    } else {
        transport_mem_attach(c->net, s->id, on ? c->driver->deliver : NULL,
                             on ? s : NULL);
    }
    client_net_attach_node(c->clients, s->id, on ? c->driver->request : NULL,
                           on ? s : NULL);
}

static int node_boot(struct cluster *c, struct slot *s)
{
    struct kv_node_config nc;
    memset(&nc, 0, sizeof nc);
    raft_options_default(&nc.raft);
    nc.raft.id = s->id;
    const struct cluster_node_timing *nt = &c->cfg.node_timing[s->id - 1];
    nc.raft.election_ticks =
        nt->election_ticks != 0 ? nt->election_ticks : c->cfg.election_ticks;
    nc.raft.heartbeat_ticks =
        nt->heartbeat_ticks != 0 ? nt->heartbeat_ticks : c->cfg.heartbeat_ticks;
    nc.raft.pre_vote = c->cfg.pre_vote;
    nc.raft.check_quorum = c->cfg.check_quorum;
    nc.raft.seed =
        common_mix64(c->cfg.seed * 1000003ull + s->id + cluster_now(c));
    nc.conf = s->boot_conf;
    int rv;
    nc.snapshot_entries = c->cfg.snapshot_entries;
    nc.snapshot_bytes = c->cfg.snapshot_bytes;
    nc.snapshot_trailing = c->cfg.snapshot_trailing;
    nc.storage = s->disk;
    nc.session_ttl = c->cfg.session_ttl;
    s->transport = cluster_disk_boot(
        s, s->grpc != NULL ? transport_grpc_transport(s->grpc)
                           : transport_mem_endpoint(c->net, s->id));
    nc.transport = s->transport;
    nc.env.data = s;
    nc.env.reply = node_reply;
    nc.env.observe = node_observe;
    nc.env.failed = node_failed;
    nc.env.sent = c->cfg.crash_after ? node_sent : NULL;
    struct storage_state st;
    rv = storage_load(s->disk, &st);
    if (rv != 0) {
        cluster_event(c, "node %llu refuses to start: %s",
                      (unsigned long long)s->id, storage_error(s->disk));
        cluster_disk_stopped(s);
        return rv;
    }
    if (st.recovery_note[0] != '\0') {
        cluster_event(c, "node %llu recovery: %s", (unsigned long long)s->id,
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
    cluster_slot_lock(s);
    s->up = true;
    s->stop = false;
    s->paused = false;
    s->gen++;
    cluster_slot_unlock(s);
    attach(c, s, true);
    rv = c->driver->start(s);
    if (rv != 0) {
        attach(c, s, false);
        cluster_slot_lock(s);
        s->up = false;
        cluster_slot_unlock(s);
        kv_node_free(s->node);
        s->node = NULL;
        return rv;
    }
    s->running = true;
    cluster_disk_settle(s); /* recovery's slow syncs */
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
            if (rv == 0 && c->cfg.sched != NULL) {
                storage_fs_mem_set_single_threaded(s->fs);
            }
        } else {
            /* A wiped disk is a new directory: node-<id>.<generation>. */
            char dir[1024];
            char gen[16] = "";
            if (s->disk_gen > 0) {
                snprintf(gen, sizeof gen, ".%u", s->disk_gen);
            }
            snprintf(dir, sizeof dir, "%s/node-%llu%s",
                     c->cfg.data_dir != NULL ? c->cfg.data_dir : ".",
                     (unsigned long long)s->id, gen);
            rv = storage_fs_posix_new(dir, &s->fs);
        }
        if (rv != 0) {
            return rv;
        }
    }
    rv = cluster_disk_open(c, s);
    if (rv != 0) {
        return rv;
    }
    struct storage_wal_options wo;
    storage_wal_options_default(&wo);
    return storage_wal_new(cluster_disk_fs(s), &wo, &s->disk);
}

/* @st's snapshot figures folded into @acc, what earlier incarnations
 * came to. */
static void fold_log_stats(struct cluster_log_stats *acc,
                           const struct cluster_node_status *st)
{
    acc->snapshots_taken += st->snapshots_taken;
    if (st->snapshot_bytes_max_index != 0 &&
        (acc->snapshot_bytes_max_index == 0 ||
         st->snapshot_bytes_max > acc->snapshot_bytes_max)) {
        acc->snapshot_bytes_max = st->snapshot_bytes_max;
        acc->snapshot_bytes_max_index = st->snapshot_bytes_max_index;
    }
    if (st->compacted_entries_max_index != 0 &&
        (acc->compacted_entries_max_index == 0 ||
         st->compacted_entries_max > acc->compacted_entries_max)) {
        acc->compacted_entries_max = st->compacted_entries_max;
        acc->compacted_entries_max_index = st->compacted_entries_max_index;
    }
}

/* The node stops being driven and is freed; what waits for it is lost. */
static void stop_node(struct cluster *c, struct slot *s)
{
    if (!s->running) {
        return;
    }
    attach(c, s, false);
    c->driver->stop(s);
    s->running = false;
    cluster_slot_lock(s);
    c->driver->discard(s);
    s->up = false;
    s->paused = false;
    s->arm_crash = false;
    s->installs_before += s->status.snapshots_installed;
    fold_log_stats(&s->log_before, &s->status);
    memset(&s->status, 0, sizeof s->status);
    cluster_slot_unlock(s);
    kv_node_free(s->node);
    s->node = NULL;
}

/* The machine loses power: the node is gone, and so is whatever its disk
 * had not made durable. The storage object goes with the node; the file
 * system (crash disks, files) stays for the restart. */
void cluster_power_off(struct cluster *c, struct slot *s)
{
    stop_node(c, s);
    if (c->cfg.disk != CLUSTER_DISK_MEMORY) {
        storage_free(s->disk);
        s->disk = NULL;
        if (c->cfg.disk == CLUSTER_DISK_CRASH) {
            storage_fs_mem_fail(s->fs, STORAGE_FS_SYNC, -1, 0);
            storage_fs_mem_crash(s->fs, c->cfg.torn_writes);
        }
    }
    cluster_event(c, "node %llu crashed", (unsigned long long)s->id);
}

/* ------------------------------------------------------------------------ */
/* The cluster                                                               */
/* ------------------------------------------------------------------------ */

int cluster_new(const struct cluster_config *cfg, struct cluster **out)
{
    unsigned members = cfg->members != 0 ? cfg->members : cfg->nodes;
    if (cfg->nodes == 0 || cfg->nodes > CLUSTER_MAX_NODES ||
        members > cfg->nodes || cfg->tick_ms == 0 ||
        (cfg->grpc && cfg->sched != NULL)) {
        return COMMON_EINVAL;
    }
    raft_id ids[CLUSTER_MAX_NODES];
    for (unsigned k = 0; k < members; k++) {
        ids[k] = k + 1;
    }
    struct cluster *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return COMMON_ENOMEM;
    }
    c->cfg = *cfg;
    c->cfg.members = members;
    c->voters = ((1u << members) - 1) << 1;
    c->voters_committed = c->voters;
    c->driver =
        cfg->sched != NULL ? &cluster_sim_driver : &cluster_threads_driver;
    c->start_ns = common_now_ns();
    int rv = transport_mem_new(cfg->nodes, cfg->seed ^ NET_SALT, net_clock, c,
                               &c->net);
    if (rv != 0) {
        free(c);
        return rv;
    }
    if (cfg->sched != NULL) {
        transport_mem_set_single_threaded(c->net);
    } else if (c->driver->deliver_batch != NULL) {
        transport_mem_set_batched(c->net);
    }
    struct client_net_config cc = {
        .nodes = cfg->nodes, .net = c->net, .sched = cfg->sched};
    rv = client_net_new(&cc, &c->clients);
    if (rv != 0) {
        transport_mem_free(c->net);
        free(c);
        return rv;
    }
    if (cfg->latency_set) {
        transport_mem_set_base_delay(c->net, cfg->latency_ns_min,
                                     cfg->latency_ns_max);
    } else if (cfg->sched != NULL) {
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
        s->present = k < members;
        raft_configuration_voters(&s->boot_conf, ids, members);
        common_heap_init(&s->inbox, sizeof(struct inbox_msg));
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, &attr);
        pthread_cond_init(&s->ctl_cond, &attr);
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
        rv = cluster_grpc_start(c);
        if (rv != 0) {
            cluster_free(c);
            return rv;
        }
    }
    *out = c;
    return 0;
}

int cluster_start(struct cluster *c)
{
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        if (!c->slots[k].present) {
            continue; /* outside until it joins */
        }
        int rv = node_boot(c, &c->slots[k]);
        /* A node whose disk fails at once stays down; the rest go on. */
        if (rv != 0 && !cluster_disk_failed(&c->slots[k])) {
            return rv;
        }
    }
    return 0;
}

void cluster_free(struct cluster *c)
{
    if (c == NULL) {
        return;
    }
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        stop_node(c, &c->slots[k]);
    }
    cluster_grpc_stop(c);
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        struct slot *s = &c->slots[k];
        storage_free(s->disk);
        cluster_disk_free(s);
        storage_fs_free(s->fs);
        common_heap_fini(&s->inbox);
        free(s->reqs);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        pthread_cond_destroy(&s->ctl_cond);
    }
    client_net_free(c->clients);
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
    if (!s->running || s->crash_pending) {
        return 0;
    }
    if (c->cfg.disk != CLUSTER_DISK_CRASH) {
        cluster_power_off(c, s);
        return 0;
    }
    return c->driver->crash(s);
}

int cluster_restart(struct cluster *c, raft_id id)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL) {
        return COMMON_EINVAL;
    }
    if (s->crash_pending) {
        s->crash_pending = false;
        cluster_power_off(c, s); /* the crash it was about to have: now */
    }
    if (s->running || !s->present) {
        return 0; /* up already, or outside the cluster */
    }
    int rv = 0;
    if (s->disk == NULL) {
        rv = open_disk(c, s);
        if (rv != 0) {
            cluster_event(c, "node %llu cannot open its disk: %s",
                          (unsigned long long)id, common_strerror(rv));
            return rv;
        }
    }
    rv = node_boot(c, s);
    if (rv == 0) {
        cluster_event(c, "node %llu restarted", (unsigned long long)id);
    }
    return rv;
}

static int set_paused(struct cluster *c, raft_id id, bool paused)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL) {
        return COMMON_EINVAL;
    }
    cluster_slot_lock(s);
    bool change = s->up && s->paused != paused;
    if (change) {
        s->paused = paused;
        s->status.paused = paused;
        pthread_cond_signal(&s->cond);
    }
    cluster_slot_unlock(s);
    if (change) {
        cluster_event(c, "node %llu %s", (unsigned long long)id,
                      paused ? "paused" : "resumed");
        if (!paused && c->driver->resume != NULL) {
            c->driver->resume(s);
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

int cluster_arm_crash_after(struct cluster *c,
                            raft_id id,
                            enum cluster_crash_after what)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL || !c->cfg.crash_after) {
        return COMMON_EINVAL;
    }
    cluster_slot_lock(s);
    s->crash_after = what;
    cluster_slot_unlock(s);
    return 0;
}

bool cluster_reap_tripped(struct cluster *c, raft_id id)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL) {
        return false;
    }
    cluster_slot_lock(s);
    bool tripped = s->tripped;
    bool halted = tripped && s->running && s->tripped_gen == s->gen;
    s->tripped = false;
    cluster_slot_unlock(s);
    if (halted) {
        /* Threads: the node halted and waits for its power-off. */
        s->crash_pending = false;
        cluster_power_off(c, s);
    }
    return tripped;
}

uint64_t cluster_crash_after_fired(struct cluster *c,
                                   enum cluster_crash_after what)
{
    uint64_t n = 0;
    for (unsigned k = 0; k < c->cfg.nodes; k++) {
        struct slot *s = &c->slots[k];
        cluster_slot_lock(s);
        n += s->crash_after_fired[what];
        cluster_slot_unlock(s);
    }
    return n;
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
    cluster_slot_lock(s);
    *st = s->status;
    st->up = s->up;
    st->paused = s->paused;
    cluster_slot_unlock(s);
}

/* The leader rule (docs/scenarios.md, "Who is the leader"). A node is
 * live when it is up, running (not paused) and serving (not failed); a
 * node reaches another when both are live and the network cuts neither
 * direction between them (loss and delay do not count: they slow a link,
 * the Raft core retries). Among the live nodes in the leader role that
 * reach a quorum of the cluster (themselves included), the leader is the
 * one of the highest term. Nodes cut off from it, whatever their term,
 * neither hide it nor lead: a candidate of term 55 that cannot win a vote
 * does not depose the leader of term 1 that still has its quorum (issue
 * 12's ring). */
static bool live(const struct cluster_node_status *st)
{
    return st->up && !st->paused && !st->failed;
}

/* The voters of @conf as a set of ids (bit k for node k). */
static uint32_t voter_set(const struct raft_configuration *conf)
{
    uint32_t set = 0;
    for (uint32_t k = 0; k < conf->count && k < RAFT_MAX_SERVERS; k++) {
        raft_id id = conf->servers[k].id;
        if (conf->servers[k].role == RAFT_VOTER && id >= 1 &&
            id <= CLUSTER_MAX_NODES) {
            set |= 1u << id;
        }
    }
    return set;
}

raft_id cluster_leader(struct cluster *c)
{
    unsigned n = c->cfg.nodes;
    assert(n <= CLUSTER_MAX_NODES);
    struct cluster_node_status st[CLUSTER_MAX_NODES + 1];
    for (raft_id id = 1; id <= n; id++) {
        cluster_status(c, id, &st[id]);
    }
    raft_id best = 0;
    uint32_t best_voters = 0;
    bool best_committed = false;
    for (raft_id id = 1; id <= n; id++) {
        if (!live(&st[id]) || st[id].role != RAFT_LEADER ||
            (best != 0 && st[id].term <= st[best].term)) {
            continue;
        }
        /* The quorum is of the voters of its own configuration (the
         * latest in its log, in force on append); a leader that has
         * removed itself is no one's leader by this rule. */
        uint32_t voters = voter_set(&st[id].conf);
        if ((voters & (1u << id)) == 0) {
            continue;
        }
        unsigned count = 0;
        unsigned reached = 0;
        for (raft_id peer = 1; peer <= CLUSTER_MAX_NODES; peer++) {
            if ((voters & (1u << peer)) == 0) {
                continue;
            }
            count++;
            if (peer == id || (peer <= n && live(&st[peer]) &&
                               !transport_mem_is_cut(c->net, id, peer) &&
                               !transport_mem_is_cut(c->net, peer, id))) {
                reached++;
            }
        }
        if (reached >= count / 2 + 1) {
            best = id;
            best_voters = voters;
            best_committed = st[id].commit >= st[id].conf_index;
        }
    }
    if (best != 0) {
        c->voters = best_voters;
        if (best_committed) {
            c->voters_committed = best_voters;
        }
    }
    return best;
}

uint32_t cluster_voters(struct cluster *c, bool committed)
{
    return committed ? c->voters_committed : c->voters;
}

bool cluster_present(struct cluster *c, raft_id id)
{
    struct slot *s = slot_of(c, id);
    return s != NULL && s->present;
}

/* A new, empty disk for @s (what was on the old one is gone). */
static int wipe_disk(struct cluster *c, struct slot *s)
{
    storage_free(s->disk);
    s->disk = NULL;
    cluster_disk_free(s);
    storage_fs_free(s->fs);
    s->fs = NULL;
    s->disk_gen++;
    return open_disk(c, s);
}

int cluster_join(struct cluster *c,
                 raft_id id,
                 const struct raft_configuration *conf)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL || s->present || s->running) {
        return COMMON_EINVAL;
    }
    int rv = wipe_disk(c, s);
    if (rv != 0) {
        cluster_event(c, "node %llu cannot open its disk: %s",
                      (unsigned long long)id, common_strerror(rv));
        return rv;
    }
    s->boot_conf = *conf;
    s->present = true;
    rv = node_boot(c, s);
    if (rv != 0) {
        s->present = false;
        return rv;
    }
    cluster_event(c, "node %llu joins with an empty disk",
                  (unsigned long long)id);
    return 0;
}

int cluster_retire(struct cluster *c, raft_id id)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL || !s->present) {
        return COMMON_EINVAL;
    }
    s->crash_pending = false;
    stop_node(c, s);
    s->present = false;
    cluster_event(c, "node %llu left the cluster (its disk is wiped)",
                  (unsigned long long)id);
    return wipe_disk(c, s);
}

void cluster_control_apply(struct slot *s, struct cluster_ctl *ctl)
{
    ctl->index = 0;
    if (ctl->op == CLUSTER_TRANSFER) {
        ctl->rv = kv_node_transfer_leader(s->node, ctl->target);
        return;
    }
    struct raft_configuration next = *raft_config(kv_node_raft(s->node));
    int at = raft_configuration_find(&next, ctl->target);
    switch (ctl->op) {
        case CLUSTER_ADD_LEARNER:
            if (at >= 0 || next.count >= RAFT_MAX_SERVERS) {
                ctl->rv = COMMON_EINVAL;
                return;
            }
            next.servers[next.count++] =
                (struct raft_server){.id = ctl->target, .role = RAFT_LEARNER};
            break;
        case CLUSTER_PROMOTE:
            if (at < 0 || next.servers[at].role != RAFT_LEARNER) {
                ctl->rv = COMMON_EINVAL;
                return;
            }
            next.servers[at].role = RAFT_VOTER;
            break;
        default: /* CLUSTER_REMOVE */
            if (at < 0) {
                ctl->rv = COMMON_EINVAL;
                return;
            }
            next.servers[at] = next.servers[--next.count];
            break;
    }
    ctl->rv = kv_node_propose_conf(s->node, &next, &ctl->index);
}

int cluster_control(struct cluster *c,
                    raft_id id,
                    enum cluster_control_op op,
                    raft_id target,
                    raft_index *index)
{
    struct slot *s = slot_of(c, id);
    if (s == NULL || !s->running || s->crash_pending) {
        return COMMON_EUNAVAILABLE;
    }
    struct cluster_ctl ctl = {.op = op, .target = target};
    int rv = c->driver->control(s, &ctl);
    if (rv != 0) {
        return rv;
    }
    if (index != NULL) {
        *index = ctl.index;
    }
    return ctl.rv;
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
        cluster_slot_lock(s);
        n += s->installs_before + s->status.snapshots_installed;
        cluster_slot_unlock(s);
    }
    return n;
}

void cluster_log_stats(struct cluster *c,
                       raft_id id,
                       struct cluster_log_stats *out)
{
    struct slot *s = slot_of(c, id);
    memset(out, 0, sizeof *out);
    if (s == NULL) {
        return;
    }
    cluster_slot_lock(s);
    *out = s->log_before;
    out->up = false;
    out->entries = 0;
    fold_log_stats(out, &s->status);
    if (s->up) {
        out->up = true;
        /* first is 0 until the node first publishes, and 1 or more
         * after. */
        out->entries = s->status.first != 0 && s->status.last >= s->status.first
                           ? s->status.last - s->status.first + 1
                           : 0;
    }
    cluster_slot_unlock(s);
}

struct transport_mem *cluster_net(struct cluster *c)
{
    return c->net;
}

struct client_net *cluster_clients(struct cluster *c)
{
    return c->clients;
}
