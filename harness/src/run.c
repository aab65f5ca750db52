/*
 * One harness run (see run.h).
 *
 * Threads: every node runs in its own thread (cluster.c), the clients in
 * one driver thread (workload.c), and this file's code in the calling
 * thread: it fires the fault timeline and the nemesis at their times,
 * polls who leads (for the leaderless windows and the leader-after-heal
 * expectation), draws the live status line, and when the duration is over
 * stops the workload, heals everything so open operations can finish,
 * stops the cluster and judges the run.
 */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checker/checker.h"
#include "cluster.h"
#include "monitor/monitor.h"
#include "sched.h"
#include "workload.h"

#define MAX_FAILURES 16
#define GRACE_NS     50000000ull /* 50 ms: messages already on the wire */

struct interval
{
    uint64_t start;
    uint64_t end;
    bool minority[SCENARIO_MAX_NODES + 1];
    char what[96];
};

struct run
{
    const struct scenario *s;
    const struct harness_options *o;
    struct cluster *cl;
    struct workload *wl;
    struct monitor *mon;
    struct sched *sched; /* sim mode, else NULL */
    char data_dir[1024]; /* files: where the nodes keep them */
    bool data_dir_temp;  /* ... a temporary directory to remove */
    struct common_prng prng;
    unsigned n;

    pthread_mutex_t log_lock;
    struct common_vec log; /* the event log, guarded by log_lock */

    /* Faults in force (this thread only). */
    bool crashed[SCENARIO_MAX_NODES + 1];
    bool paused[SCENARIO_MAX_NODES + 1];
    bool split; /* a partition or isolation holds */
    bool link_faults;
    struct interval cur;
    struct interval *intervals;
    size_t n_intervals;
    char faults_desc[160];

    /* Nemesis. */
    uint64_t nem_next;
    uint64_t nem_heal_at; /* 0: no nemesis fault in force */

    /* Leadership. */
    bool leaderless;
    uint64_t leaderless_since;
    uint64_t max_leaderless;
    bool heal_pending;
    uint64_t heal_at;
    uint64_t worst_heal_to_leader;
    uint64_t worst_heal_at;
    bool heal_never_led; /* a heal that no leader followed before the end */

    char failures[MAX_FAILURES][320];
    unsigned n_failures;
};

static void failure(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void failure(struct run *r, const char *fmt, ...)
{
    if (r->n_failures >= MAX_FAILURES) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->failures[r->n_failures++], sizeof r->failures[0], fmt, ap);
    va_end(ap);
}

static void log_line(struct run *r, uint64_t now, const char *text)
{
    pthread_mutex_lock(&r->log_lock);
    common_vec_appendf(&r->log, "%10.3f  %s\n", (double)now / 1e9, text);
    pthread_mutex_unlock(&r->log_lock);
}

static void on_cluster_event(void *data, uint64_t now, const char *text)
{
    log_line(data, now, text);
}

static void logf_run(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_run(struct run *r, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_line(r, cluster_now(r->cl), buf);
}

/* ------------------------------------------------------------------------ */
/* Faults                                                                    */
/* ------------------------------------------------------------------------ */

static bool is_up(struct run *r, raft_id id)
{
    return !r->crashed[id];
}

/* Resolves a target to a node id, or 0 when nobody fits. */
static raft_id resolve(struct run *r,
                       const struct scenario_target *t,
                       enum scenario_fault_kind kind)
{
    if (t->kind == SCENARIO_TARGET_NODE) {
        return t->id;
    }
    raft_id leader = cluster_leader(r->cl);
    if (t->kind == SCENARIO_TARGET_LEADER) {
        return leader;
    }
    raft_id pool[SCENARIO_MAX_NODES];
    unsigned n = 0;
    for (raft_id id = 1; id <= r->n; id++) {
        bool fits;
        switch (kind) {
            case SCENARIO_FAULT_RESTART:
                fits = r->crashed[id];
                break;
            case SCENARIO_FAULT_RESUME:
                fits = r->paused[id];
                break;
            default:
                fits = is_up(r, id) && !r->paused[id];
                break;
        }
        if (t->kind == SCENARIO_TARGET_FOLLOWER && id == leader) {
            fits = false;
        }
        if (fits) {
            pool[n++] = id;
        }
    }
    return n == 0 ? 0 : pool[common_prng_below(&r->prng, n)];
}

static void close_interval(struct run *r, uint64_t now)
{
    if (!r->split) {
        return;
    }
    r->split = false;
    r->cur.end = now;
    struct interval *iv =
        realloc(r->intervals, (r->n_intervals + 1) * sizeof *iv);
    if (iv != NULL) {
        r->intervals = iv;
        r->intervals[r->n_intervals++] = r->cur;
    }
}

static void open_interval(struct run *r,
                          uint64_t now,
                          const bool *minority,
                          const char *what)
{
    close_interval(r, now);
    memset(&r->cur, 0, sizeof r->cur);
    r->cur.start = now;
    memcpy(r->cur.minority, minority, sizeof r->cur.minority);
    snprintf(r->cur.what, sizeof r->cur.what, "%s", what);
    r->split = true;
}

static void mark_heal(struct run *r, uint64_t now)
{
    r->heal_pending = true;
    r->heal_at = now;
}

static void heal_network(struct run *r, uint64_t now)
{
    transport_mem_heal(cluster_net(r->cl));
    close_interval(r, now);
    r->link_faults = false;
    mark_heal(r, now);
}

/* Cuts every link between different groups (group[k] for node k+1). */
static void apply_groups(struct run *r,
                         const unsigned *group,
                         unsigned n_groups,
                         const char *what)
{
    struct transport_mem *net = cluster_net(r->cl);
    uint64_t now = cluster_now(r->cl);
    transport_mem_cut(net, 0, 0, false);
    for (raft_id i = 1; i <= r->n; i++) {
        for (raft_id j = 1; j <= r->n; j++) {
            if (i != j && group[i - 1] != group[j - 1]) {
                transport_mem_cut(net, i, j, true);
            }
        }
    }
    bool minority[SCENARIO_MAX_NODES + 1] = {false};
    for (unsigned g = 0; g < n_groups; g++) {
        unsigned size = 0;
        for (unsigned k = 0; k < r->n; k++) {
            size += group[k] == g;
        }
        if (size <= r->n / 2) {
            for (unsigned k = 0; k < r->n; k++) {
                if (group[k] == g) {
                    minority[k + 1] = true;
                }
            }
        }
    }
    open_interval(r, now, minority, what);
}

static void isolate(struct run *r, raft_id id, const char *what)
{
    unsigned group[SCENARIO_MAX_NODES];
    for (unsigned k = 0; k < r->n; k++) {
        group[k] = k + 1 == id ? 1 : 0;
    }
    apply_groups(r, group, 2, what);
}

static uint64_t ms_to_ns(unsigned ms)
{
    return (uint64_t)ms * 1000000ull;
}

/* Sends the forged message of @f to node @to through the in-memory
 * network, as node @from would send it: cuts and link faults apply, and it
 * arrives like any message from @from (docs/scenarios.md, forge). */
static void forge(struct run *r,
                  const struct scenario_fault *f,
                  raft_id from,
                  raft_id to)
{
    uint64_t t = f->forge_term;
    uint64_t i = f->forge_index;
    struct raft_message m = {.from = from, .to = to, .term = t};
    switch (f->forge_type) {
        case SCENARIO_FORGE_HEARTBEAT:
            m.type = RAFT_MSG_HEARTBEAT;
            m.heartbeat.commit = i;
            m.heartbeat.context = i;
            break;
        case SCENARIO_FORGE_APPEND:
            m.type = RAFT_MSG_APPEND;
            m.append.prev_index = i;
            m.append.prev_term = i > 0 ? t : 0;
            m.append.commit = i;
            break;
        case SCENARIO_FORGE_VOTE:
        case SCENARIO_FORGE_PRE_VOTE:
            m.type = RAFT_MSG_VOTE;
            m.vote.last_index = i;
            m.vote.last_term = i > 0 ? t : 0;
            m.vote.pre_vote = f->forge_type == SCENARIO_FORGE_PRE_VOTE;
            break;
        case SCENARIO_FORGE_APPEND_RESP:
            m.type = RAFT_MSG_APPEND_RESP;
            m.append_resp.success = true;
            m.append_resp.index = i;
            break;
        case SCENARIO_FORGE_HEARTBEAT_RESP:
            m.type = RAFT_MSG_HEARTBEAT_RESP;
            m.heartbeat_resp.context = i;
            break;
    }
    transport_send(transport_mem_endpoint(cluster_net(r->cl), from), &m);
}

static void apply_fault(struct run *r, const struct scenario_fault *f);

static void apply_fault(struct run *r, const struct scenario_fault *f)
{
    char desc[128];
    scenario_fault_describe(f, desc, sizeof desc);
    uint64_t now = cluster_now(r->cl);
    struct transport_mem *net = cluster_net(r->cl);
    raft_id id = 0;
    raft_id sender = 0; /* FORGE */
    if (f->target.kind == SCENARIO_TARGET_ALL &&
        (f->kind == SCENARIO_FAULT_CRASH || f->kind == SCENARIO_FAULT_PAUSE ||
         f->kind == SCENARIO_FAULT_RESTART ||
         f->kind == SCENARIO_FAULT_RESUME)) {
        /* Every node that fits, one after the other. */
        struct scenario_fault one = *f;
        one.target.kind = SCENARIO_TARGET_NODE;
        logf_run(r, "fault: %s", desc);
        for (raft_id k = 1; k <= r->n; k++) {
            bool fits = f->kind == SCENARIO_FAULT_RESTART ? r->crashed[k]
                        : f->kind == SCENARIO_FAULT_RESUME
                            ? r->paused[k]
                            : !r->crashed[k] && !r->paused[k];
            if (fits) {
                one.target.id = (unsigned)k;
                apply_fault(r, &one);
            }
        }
        return;
    }
    switch (f->kind) {
        case SCENARIO_FAULT_ISOLATE:
        case SCENARIO_FAULT_CRASH:
        case SCENARIO_FAULT_RESTART:
        case SCENARIO_FAULT_PAUSE:
        case SCENARIO_FAULT_RESUME:
        case SCENARIO_FAULT_FORGE:
            id = resolve(r, &f->target, f->kind);
            if (id == 0) {
                logf_run(r, "fault skipped (no node fits): %s", desc);
                return;
            }
            break;
        default:
            break;
    }
    switch (f->kind) {
        case SCENARIO_FAULT_PARTITION:
            apply_groups(r, f->group, f->n_groups, desc);
            break;
        case SCENARIO_FAULT_ISOLATE:
            isolate(r, id, desc);
            break;
        case SCENARIO_FAULT_HEAL:
            heal_network(r, now);
            break;
        case SCENARIO_FAULT_CRASH:
            cluster_crash(r->cl, id);
            r->crashed[id] = true;
            r->paused[id] = false;
            break;
        case SCENARIO_FAULT_RESTART:
            if (cluster_restart(r->cl, id) == 0) {
                r->crashed[id] = false;
            }
            break;
        case SCENARIO_FAULT_PAUSE:
            cluster_pause(r->cl, id);
            r->paused[id] = true;
            break;
        case SCENARIO_FAULT_RESUME:
            cluster_resume(r->cl, id);
            r->paused[id] = false;
            break;
        case SCENARIO_FAULT_LINK: {
            struct transport_link_faults lf = {
                .loss = f->link.loss,
                .duplicate = f->link.duplicate,
                .reorder = f->link.reorder,
                .delay_ns_min = ms_to_ns(f->link.delay_ms_min),
                .delay_ns_max = ms_to_ns(f->link.delay_ms_max),
            };
            transport_mem_set_faults(net, f->from, f->to, &lf);
            r->link_faults = true;
            break;
        }
        case SCENARIO_FAULT_CUT:
            transport_mem_cut(net, f->from, f->to, true);
            if (f->both_ways) {
                transport_mem_cut(net, f->to, f->from, true);
            }
            break;
        case SCENARIO_FAULT_FORGE:
            sender = f->from;
            if (sender == 0) {
                /* Any node but the receiver (the loader wants 2 nodes). */
                sender = common_prng_range(&r->prng, 1, r->n - 1);
                sender += sender >= id ? 1 : 0;
            }
            if (sender == id) {
                logf_run(r, "fault skipped (no node fits): %s", desc);
                return;
            }
            forge(r, f, sender, id);
            logf_run(r, "fault: %s (node %llu, from %llu)", desc,
                     (unsigned long long)id, (unsigned long long)sender);
            return;
    }
    if (id != 0) {
        logf_run(r, "fault: %s (node %llu)", desc, (unsigned long long)id);
    } else {
        logf_run(r, "fault: %s", desc);
    }
    snprintf(r->faults_desc, sizeof r->faults_desc, "%s", desc);
}

/* The random nemesis: one fault at a time, healed after fault_s. */
static void nemesis_step(struct run *r, uint64_t now)
{
    const struct scenario_nemesis *nm = &r->s->nemesis;
    if (!nm->enabled) {
        return;
    }
    if (r->nem_heal_at != 0 && now >= r->nem_heal_at) {
        r->nem_heal_at = 0;
        heal_network(r, now);
        for (raft_id id = 1; id <= r->n; id++) {
            if (r->paused[id]) {
                cluster_resume(r->cl, id);
                r->paused[id] = false;
            }
            if (r->crashed[id]) {
                cluster_restart(r->cl, id);
                r->crashed[id] = false;
            }
        }
        logf_run(r, "nemesis: heal");
        snprintf(r->faults_desc, sizeof r->faults_desc, "none");
    }
    if (now < r->nem_next) {
        return;
    }
    r->nem_next += (uint64_t)(nm->interval_s * 1e9);
    if (r->nem_heal_at != 0) {
        return; /* the previous fault still holds */
    }
    unsigned kinds[8];
    unsigned n_kinds = 0;
    for (unsigned bit = 0; bit < 7; bit++) {
        if (nm->faults & (1u << bit)) {
            kinds[n_kinds++] = 1u << bit;
        }
    }
    if (n_kinds == 0) {
        return;
    }
    unsigned kind = kinds[common_prng_below(&r->prng, n_kinds)];
    struct transport_mem *net = cluster_net(r->cl);
    char desc[128] = "";
    switch (kind) {
        case SCENARIO_NEMESIS_PARTITION: {
            unsigned order[SCENARIO_MAX_NODES];
            for (unsigned k = 0; k < r->n; k++) {
                order[k] = k;
            }
            for (unsigned k = r->n; k > 1; k--) {
                unsigned j = (unsigned)common_prng_below(&r->prng, k);
                unsigned t = order[k - 1];
                order[k - 1] = order[j];
                order[j] = t;
            }
            unsigned small = r->n < 3 ? 1
                                      : (unsigned)common_prng_range(
                                            &r->prng, 1, (r->n - 1) / 2);
            unsigned group[SCENARIO_MAX_NODES] = {0};
            int len = snprintf(desc, sizeof desc, "partition {");
            for (unsigned k = 0; k < small; k++) {
                group[order[k]] = 1;
                len += snprintf(desc + len, sizeof desc - (size_t)len, "%s%u",
                                k ? "," : "", order[k] + 1);
            }
            snprintf(desc + len, sizeof desc - (size_t)len, "} from the rest");
            apply_groups(r, group, 2, desc);
            break;
        }
        case SCENARIO_NEMESIS_ISOLATE_LEADER: {
            raft_id l = cluster_leader(r->cl);
            if (l == 0) {
                return;
            }
            snprintf(desc, sizeof desc, "isolate leader %llu",
                     (unsigned long long)l);
            isolate(r, l, desc);
            break;
        }
        case SCENARIO_NEMESIS_CRASH:
        case SCENARIO_NEMESIS_PAUSE: {
            struct scenario_target t = {.kind = SCENARIO_TARGET_RANDOM};
            raft_id id = resolve(r, &t, SCENARIO_FAULT_CRASH);
            if (id == 0) {
                return;
            }
            if (kind == SCENARIO_NEMESIS_CRASH) {
                cluster_crash(r->cl, id);
                r->crashed[id] = true;
                snprintf(desc, sizeof desc, "crash node %llu",
                         (unsigned long long)id);
            } else {
                cluster_pause(r->cl, id);
                r->paused[id] = true;
                snprintf(desc, sizeof desc, "pause node %llu",
                         (unsigned long long)id);
            }
            break;
        }
        case SCENARIO_NEMESIS_LOSS: {
            struct transport_link_faults lf = {.loss = nm->loss};
            transport_mem_set_faults(net, 0, 0, &lf);
            r->link_faults = true;
            snprintf(desc, sizeof desc, "loss %.0f%% on every link",
                     nm->loss * 100);
            break;
        }
        case SCENARIO_NEMESIS_DELAY: {
            struct transport_link_faults lf = {
                .delay_ns_min = ms_to_ns(nm->delay_ms_min),
                .delay_ns_max = ms_to_ns(nm->delay_ms_max),
                .reorder = 0.1,
            };
            transport_mem_set_faults(net, 0, 0, &lf);
            r->link_faults = true;
            snprintf(desc, sizeof desc, "delay %u-%u ms on every link",
                     nm->delay_ms_min, nm->delay_ms_max);
            break;
        }
        case SCENARIO_NEMESIS_ONE_WAY: {
            raft_id a = (raft_id)common_prng_range(&r->prng, 1, r->n);
            raft_id b = (raft_id)common_prng_range(&r->prng, 1, r->n - 1);
            if (b >= a) {
                b++;
            }
            if (r->n < 2) {
                return;
            }
            transport_mem_cut(net, a, b, true);
            snprintf(desc, sizeof desc, "cut %llu -> %llu",
                     (unsigned long long)a, (unsigned long long)b);
            break;
        }
        default:
            return;
    }
    r->nem_heal_at = now + (uint64_t)(nm->fault_s * 1e9);
    logf_run(r, "nemesis: %s", desc);
    snprintf(r->faults_desc, sizeof r->faults_desc, "%s", desc);
}

/* ------------------------------------------------------------------------ */
/* Watching the leader                                                       */
/* ------------------------------------------------------------------------ */

static void poll_leader(struct run *r, uint64_t now)
{
    raft_id l = cluster_leader(r->cl);
    if (l == 0) {
        if (!r->leaderless) {
            r->leaderless = true;
            r->leaderless_since = now;
        }
        if (now - r->leaderless_since > r->max_leaderless) {
            r->max_leaderless = now - r->leaderless_since;
        }
        return;
    }
    r->leaderless = false;
    if (r->heal_pending && now >= r->heal_at) {
        uint64_t d = now - r->heal_at;
        if (d > r->worst_heal_to_leader) {
            r->worst_heal_to_leader = d;
            r->worst_heal_at = r->heal_at;
        }
        r->heal_pending = false;
    }
}

static void status_line(struct run *r, uint64_t now)
{
    struct workload_counts c;
    workload_counts(r->wl, &c);
    raft_id l = cluster_leader(r->cl);
    struct cluster_node_status st;
    cluster_status(r->cl, l != 0 ? l : 1, &st);
    char leader[32];
    if (l != 0) {
        snprintf(leader, sizeof leader, "%llu", (unsigned long long)l);
    } else {
        snprintf(leader, sizeof leader, "none");
    }
    fprintf(
        stderr,
        "\r[%6.1fs] leader %s term %llu | ok %llu fail %llu info %llu | "
        "faults: %s\033[K",
        (double)now / 1e9, leader, (unsigned long long)st.term,
        (unsigned long long)c.ok, (unsigned long long)c.fail,
        (unsigned long long)c.info,
        r->split || r->link_faults || r->nem_heal_at ? r->faults_desc : "none");
    fflush(stderr);
}

/* Lets the cluster run for @ms: real time with threads, virtual time in
 * sim mode (every event up to then runs now). */
static void advance(struct run *r, unsigned ms)
{
    if (r->sched != NULL) {
        sched_run_until(r->sched, sched_now(r->sched) + ms * 1000000ull);
        return;
    }
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------------ */
/* Judging                                                                   */
/* ------------------------------------------------------------------------ */

static int build_history(const struct workload_event *ev,
                         size_t n,
                         struct checker_history *h)
{
    for (size_t k = 0; k < n; k++) {
        struct checker_event ce;
        workload_event_checker(&ev[k], k + 1, &ce);
        int rv = checker_history_add(h, &ce);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

/* Ops answered ok by a node cut off from a quorum, while cut off. */
static void check_minority(struct run *r,
                           const struct workload_event *ev,
                           size_t n)
{
    unsigned clients = r->s->clients.count;
    uint64_t *invoked = calloc(clients, sizeof *invoked);
    if (invoked == NULL) {
        failure(r, "out of memory checking minority acknowledgements");
        return;
    }
    uint64_t bad = 0;
    char first[200] = "";
    for (size_t k = 0; k < n; k++) {
        const struct workload_event *e = &ev[k];
        unsigned c = (unsigned)(e->process % clients);
        if (e->type == KV_EVENT_INVOKE) {
            invoked[c] = e->time_ns;
            continue;
        }
        if (e->type != KV_EVENT_OK || e->node == 0 ||
            e->node > SCENARIO_MAX_NODES) {
            continue;
        }
        for (size_t i = 0; i < r->n_intervals; i++) {
            const struct interval *iv = &r->intervals[i];
            if (iv->minority[e->node] && invoked[c] >= iv->start + GRACE_NS &&
                e->time_ns <= iv->end) {
                if (bad++ == 0) {
                    snprintf(first, sizeof first,
                             "%s %s by process %llu answered ok by node %llu "
                             "at %.3f s during '%s'",
                             kv_op_name((int)e->op), e->key,
                             (unsigned long long)e->process,
                             (unsigned long long)e->node,
                             (double)e->time_ns / 1e9, iv->what);
                }
                break;
            }
        }
    }
    free(invoked);
    if (bad > 0) {
        failure(r,
                "no_ok_on_minority: %llu ops acknowledged on the minority "
                "side; first: %s",
                (unsigned long long)bad, first);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct tally
{
    uint64_t by[KV_OP_MAX + 1][5]; /* [op][event type] */
    uint64_t *lat;                 /* ok latencies, ns */
    size_t n_lat;
};

static void tally_ops(const struct run *r,
                      const struct workload_event *ev,
                      size_t n,
                      struct tally *t)
{
    unsigned clients = r->s->clients.count;
    uint64_t *invoked = calloc(clients, sizeof *invoked);
    t->lat = calloc(n / 2 + 1, sizeof *t->lat);
    for (size_t k = 0; k < n; k++) {
        const struct workload_event *e = &ev[k];
        unsigned c = (unsigned)(e->process % clients);
        if (e->type == KV_EVENT_INVOKE) {
            if (invoked != NULL) {
                invoked[c] = e->time_ns;
            }
            continue;
        }
        t->by[e->op][e->type]++;
        if (e->type == KV_EVENT_OK && invoked != NULL && t->lat != NULL) {
            t->lat[t->n_lat++] = e->time_ns - invoked[c];
        }
    }
    free(invoked);
    if (t->lat != NULL) {
        qsort(t->lat, t->n_lat, sizeof *t->lat, cmp_u64);
    }
}

static double pct_ms(const struct tally *t, double p)
{
    if (t->n_lat == 0) {
        return 0;
    }
    size_t k = (size_t)(p * (double)(t->n_lat - 1) + 0.5);
    return (double)t->lat[k] / 1e6;
}

static void print_summary(FILE *f,
                          struct run *r,
                          const struct tally *t,
                          const struct monitor_stats *ms,
                          uint64_t installs,
                          const char *verdict,
                          double check_s,
                          double run_s)
{
    const struct scenario *s = r->s;
    fprintf(f, "\nscenario %s: %u nodes, %u clients, seed %llu, %.1f s\n",
            s->name, s->nodes, s->clients.count, (unsigned long long)s->seed,
            s->duration_s);
    fprintf(f, "  %-8s %9s %9s %9s %9s\n", "op", "ok", "fail", "info", "total");
    uint64_t tot[5] = {0};
    for (int op = 1; op <= KV_OP_MAX; op++) {
        uint64_t ok = t->by[op][KV_EVENT_OK];
        uint64_t fl = t->by[op][KV_EVENT_FAIL];
        uint64_t in = t->by[op][KV_EVENT_INFO];
        tot[KV_EVENT_OK] += ok;
        tot[KV_EVENT_FAIL] += fl;
        tot[KV_EVENT_INFO] += in;
        fprintf(f, "  %-8s %9llu %9llu %9llu %9llu\n", kv_op_name(op),
                (unsigned long long)ok, (unsigned long long)fl,
                (unsigned long long)in, (unsigned long long)(ok + fl + in));
    }
    fprintf(f, "  %-8s %9llu %9llu %9llu %9llu\n", "all",
            (unsigned long long)tot[KV_EVENT_OK],
            (unsigned long long)tot[KV_EVENT_FAIL],
            (unsigned long long)tot[KV_EVENT_INFO],
            (unsigned long long)(tot[1] + tot[2] + tot[3] + tot[4]));
    fprintf(f, "  throughput   %.0f ok ops/s\n",
            run_s > 0 ? (double)tot[KV_EVENT_OK] / run_s : 0.0);
    fprintf(f,
            "  latency      p50 %.2f ms  p99 %.2f ms  max %.2f ms (ok ops)\n",
            pct_ms(t, 0.50), pct_ms(t, 0.99), pct_ms(t, 1.0));
    fprintf(f,
            "  elections    %llu terms with a leader (highest term %llu); "
            "longest without a leader %.0f ms\n",
            (unsigned long long)ms->terms_with_leader,
            (unsigned long long)ms->highest_term,
            (double)r->max_leaderless / 1e6);
    fprintf(f, "  committed    %llu entries (applied %llu times in all)\n",
            (unsigned long long)ms->committed, (unsigned long long)ms->applied);
    fprintf(f, "  snapshots    %llu installed by InstallSnapshot\n",
            (unsigned long long)installs);
    fprintf(f, "  checker      %s in %.3f s\n", verdict, check_s);
}

/* rm -r: the nodes' files of a run that keeps none. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            char sub[1300];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
                remove_tree(sub);
            } else {
                unlink(sub);
            }
        }
        closedir(d);
    }
    rmdir(path);
}

static int make_dir(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

static FILE *open_out(const char *dir,
                      const char *name,
                      char *path,
                      size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "harness: cannot write %s: %s\n", path,
                strerror(errno));
    }
    return f;
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */
/* ------------------------------------------------------------------------ */

void harness_swarm(struct scenario *s, uint64_t seed)
{
    struct common_prng p;
    common_prng_seed(&p, seed ^ 0x737761726dull);
    struct scenario_nemesis *nm = &s->nemesis;
    const unsigned all[] = {
        SCENARIO_NEMESIS_PARTITION, SCENARIO_NEMESIS_ISOLATE_LEADER,
        SCENARIO_NEMESIS_CRASH,     SCENARIO_NEMESIS_PAUSE,
        SCENARIO_NEMESIS_LOSS,      SCENARIO_NEMESIS_DELAY,
        SCENARIO_NEMESIS_ONE_WAY,
    };
    /* Each fault kind is in or out with probability 1/2; at least one. */
    unsigned mask = 0;
    while (mask == 0) {
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
            if (common_prng_chance(&p, 0.5)) {
                mask |= all[k];
            }
        }
    }
    nm->enabled = true;
    nm->faults = mask;
    nm->interval_s = 0.5 + common_prng_double(&p) * 2.5;
    nm->fault_s = nm->interval_s * (0.2 + common_prng_double(&p) * 0.6);
    nm->start_s = common_prng_double(&p) * nm->interval_s;
    if (nm->start_s >= s->duration_s) {
        nm->start_s = 0;
    }
    nm->loss = common_prng_double(&p) * 0.3;
    nm->delay_ms_min = (unsigned)common_prng_below(&p, 5);
    nm->delay_ms_max = nm->delay_ms_min + (unsigned)common_prng_below(&p, 40);
}

int harness_run(const struct scenario *s, const struct harness_options *o)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.o = o;
    r.n = s->nodes;
    common_prng_seed(&r.prng, s->seed ^ 0x6e656d65ull);
    pthread_mutex_init(&r.log_lock, NULL);
    snprintf(r.faults_desc, sizeof r.faults_desc, "none");
    int exit_code = HARNESS_EXIT_FAILED;

    if (o->out_dir != NULL && make_dir(o->out_dir) != 0) {
        fprintf(stderr, "harness: cannot create %s: %s\n", o->out_dir,
                strerror(errno));
        pthread_mutex_destroy(&r.log_lock);
        return HARNESS_EXIT_USAGE;
    }

    if (s->storage.kind == SCENARIO_STORAGE_FILES) {
        if (o->out_dir != NULL) {
            snprintf(r.data_dir, sizeof r.data_dir, "%s/data", o->out_dir);
        } else {
            const char *tmp = getenv("TMPDIR");
            snprintf(r.data_dir, sizeof r.data_dir, "%s/raftkv-harness-XXXXXX",
                     tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
            if (mkdtemp(r.data_dir) == NULL) {
                fprintf(stderr, "harness: cannot create %s: %s\n", r.data_dir,
                        strerror(errno));
                pthread_mutex_destroy(&r.log_lock);
                return HARNESS_EXIT_USAGE;
            }
            r.data_dir_temp = true;
        }
    }
    r.mon = monitor_new();
    if (o->sim) {
        r.sched = sched_new(s->seed);
        if (r.sched == NULL) {
            fprintf(stderr, "harness: out of memory\n");
            goto out;
        }
    }
    struct cluster_config cc = {
        .nodes = s->nodes,
        .tick_ms = s->timing.tick_ms,
        .election_ticks = s->timing.election_ticks,
        .heartbeat_ticks = s->timing.heartbeat_ticks,
        .pre_vote = s->timing.pre_vote,
        .check_quorum = s->timing.check_quorum,
        .seed = s->seed,
        .monitor = r.mon,
        .event = on_cluster_event,
        .event_data = &r,
        .sched = r.sched,
        .grpc = s->transport_grpc,
        .disk = (enum cluster_disk)s->storage.kind,
        .torn_writes = s->storage.torn_writes,
        .data_dir = r.data_dir,
        .snapshot_entries = s->storage.snapshot_entries,
        .snapshot_bytes = s->storage.snapshot_bytes,
        .snapshot_trailing = s->storage.snapshot_trailing,
        .latency_set = s->timing.latency_set,
        .latency_ns_min = (uint64_t)s->timing.latency_us_min * 1000,
        .latency_ns_max = (uint64_t)s->timing.latency_us_max * 1000,
    };
    struct workload *wl_slot = NULL;
    int rv = r.mon == NULL ? COMMON_ENOMEM : cluster_new(&cc, &r.cl);
    if (rv != 0) {
        fprintf(stderr, "harness: cannot build the cluster: %s\n",
                common_strerror(rv));
        goto out;
    }
    uint64_t election_ns =
        ms_to_ns(s->timing.tick_ms * s->timing.election_ticks);
    struct workload_config wc = {
        .clients = s->clients.count,
        .nodes = s->nodes,
        .keys = s->clients.keys,
        .value_size = s->clients.value_size,
        .op_timeout_ns = ms_to_ns(s->clients.timeout_ms),
        .attempt_timeout_ns = 2 * election_ns,
        .think_ns = ms_to_ns(s->clients.think_ms),
        .seed = s->seed,
        .cluster = r.cl,
        .sched = r.sched,
    };
    if (wc.attempt_timeout_ns > wc.op_timeout_ns) {
        wc.attempt_timeout_ns = wc.op_timeout_ns;
    }
    wc.mix[KV_OP_GET] = s->clients.mix.get;
    wc.mix[KV_OP_PUT] = s->clients.mix.put;
    wc.mix[KV_OP_DELETE] = s->clients.mix.del;
    wc.mix[KV_OP_CAS] = s->clients.mix.cas;
    wc.mix[KV_OP_APPEND] = s->clients.mix.append;
    rv = workload_new(&wc, &wl_slot);
    if (rv != 0) {
        fprintf(stderr, "harness: cannot build the workload: %s\n",
                common_strerror(rv));
        goto out;
    }
    r.wl = wl_slot;
    rv = cluster_start(r.cl);
    if (rv == 0) {
        rv = workload_start(r.wl);
    }
    if (rv != 0) {
        fprintf(stderr, "harness: cannot start: %s\n", common_strerror(rv));
        goto out;
    }
    logf_run(&r, "run: scenario %s, %u nodes, seed %llu%s", s->name, s->nodes,
             (unsigned long long)s->seed,
             s->transport_grpc ? ", Raft over gRPC" : "");

    uint64_t end = (uint64_t)(s->duration_s * 1e9);
    r.nem_next = (uint64_t)(s->nemesis.start_s * 1e9);
    size_t next_fault = 0;
    uint64_t next_status = 0;
    uint64_t now;
    while ((now = cluster_now(r.cl)) < end) {
        while (next_fault < s->n_faults &&
               (uint64_t)(s->faults[next_fault].at_s * 1e9) <= now) {
            apply_fault(&r, &s->faults[next_fault++]);
        }
        nemesis_step(&r, now);
        poll_leader(&r, now);
        if (o->live && now >= next_status) {
            status_line(&r, now);
            next_status = now + 250000000ull;
        }
        advance(&r, 2);
    }

    /* The end: no new ops; heal everything so open ones can finish. */
    workload_drain(r.wl);
    heal_network(&r, now);
    r.nem_heal_at = 0;
    for (raft_id id = 1; id <= r.n; id++) {
        if (r.paused[id]) {
            cluster_resume(r.cl, id);
            r.paused[id] = false;
        }
        if (r.crashed[id]) {
            cluster_restart(r.cl, id);
            r.crashed[id] = false;
        }
    }
    logf_run(&r, "run: duration over, healed, waiting for open operations");
    while (!workload_done(r.wl)) {
        now = cluster_now(r.cl);
        poll_leader(&r, now);
        if (o->live && now >= next_status) {
            status_line(&r, now);
            next_status = now + 250000000ull;
        }
        advance(&r, 2);
    }
    workload_join(r.wl);
    now = cluster_now(r.cl);
    poll_leader(&r, now);
    if (r.heal_pending) {
        r.heal_never_led = true;
    }
    double run_s = (double)now / 1e9;
    uint64_t installs = cluster_snapshots_installed(r.cl);
    if (o->live) {
        fprintf(stderr, "\r\033[K");
    }
    cluster_free(r.cl);
    r.cl = NULL;
    log_line(&r, now, "run: cluster stopped");
    if (r.sched != NULL && getenv("HARNESS_DEBUG_EVENTS")) {
        fprintf(stderr, "events %llu\n",
                (unsigned long long)sched_executed(r.sched));
    }

    /* Judge. */
    size_t n_ev = 0;
    const struct workload_event *ev = workload_events(r.wl, &n_ev);
    struct monitor_stats ms;
    monitor_stats(r.mon, &ms);
    if (!monitor_ok(r.mon)) {
        char v[512];
        monitor_violation(r.mon, v, sizeof v);
        failure(&r, "safety: %s", v);
    }
    if (workload_oom(r.wl)) {
        failure(&r, "the history is incomplete: out of memory recording it");
    }

    struct checker_history *h = checker_history_new();
    struct checker_result *cres = NULL;
    const char *verdict = "not run";
    bool unknown = false;
    double check_s = 0;
    if (h == NULL || build_history(ev, n_ev, h) != 0) {
        failure(&r, "checker: cannot build the history: %s",
                h != NULL ? checker_history_error(h) : "out of memory");
    } else {
        checker_history_set_name(h, "history.jsonl");
        struct checker_options co;
        checker_options_init(&co);
        co.model = CHECKER_MODEL_KV;
        co.model_set = true;
        co.timeout_s = o->check_timeout_s;
        rv = checker_check(h, &co, &cres);
        if (rv != 0) {
            failure(&r, "checker: %s", checker_history_error(h));
        } else {
            verdict = checker_verdict_name(cres->verdict);
            check_s = cres->elapsed_s;
            if (cres->verdict == CHECKER_NOT_LINEARIZABLE) {
                failure(&r,
                        "linearizability: the history is not "
                        "linearizable (see the checker report)");
            } else if (cres->verdict == CHECKER_UNKNOWN) {
                unknown = true;
            }
        }
    }

    struct tally t;
    memset(&t, 0, sizeof t);
    tally_ops(&r, ev, n_ev, &t);
    uint64_t ok_ops = 0;
    for (int op = 1; op <= KV_OP_MAX; op++) {
        ok_ops += t.by[op][KV_EVENT_OK];
    }
    const struct scenario_expect *ex = &s->expect;
    if (ok_ops < ex->min_ok) {
        failure(&r, "min_ok: %llu ops succeeded, expected at least %llu",
                (unsigned long long)ok_ops, (unsigned long long)ex->min_ok);
    }
    if (ex->leader_within_ms_after_heal > 0) {
        uint64_t limit = ms_to_ns(ex->leader_within_ms_after_heal);
        if (r.heal_never_led) {
            failure(&r,
                    "leader_within_ms_after_heal: no leader after the heal at "
                    "%.3f s before the run ended",
                    (double)r.heal_at / 1e9);
        } else if (r.worst_heal_to_leader > limit) {
            failure(&r,
                    "leader_within_ms_after_heal: %.0f ms without a leader "
                    "after the heal at %.3f s (limit %u ms)",
                    (double)r.worst_heal_to_leader / 1e6,
                    (double)r.worst_heal_at / 1e9,
                    ex->leader_within_ms_after_heal);
        }
    }
    if (ex->max_leaderless_ms > 0 &&
        r.max_leaderless > ms_to_ns(ex->max_leaderless_ms)) {
        failure(&r, "max_leaderless_ms: %.0f ms without a leader (limit %u)",
                (double)r.max_leaderless / 1e6, ex->max_leaderless_ms);
    }
    if (ex->no_ok_on_minority) {
        check_minority(&r, ev, n_ev);
    }
    if (installs < ex->min_snapshot_installs) {
        failure(&r,
                "min_snapshot_installs: %llu snapshots installed by "
                "InstallSnapshot, expected at least %u",
                (unsigned long long)installs, ex->min_snapshot_installs);
    }

    if (!o->quiet) {
        print_summary(stdout, &r, &t, &ms, installs, verdict, check_s, run_s);
        if (cres != NULL && cres->verdict == CHECKER_NOT_LINEARIZABLE) {
            checker_result_write_text(stdout, h, cres);
        }
    }

    if (o->out_dir != NULL) {
        char path[1200];
        FILE *f = open_out(o->out_dir, "history.jsonl", path, sizeof path);
        if (f == NULL || workload_write_jsonl(r.wl, f) != 0) {
            failure(&r, "cannot write %s", path);
        }
        if (f != NULL) {
            fclose(f);
        }
        f = open_out(o->out_dir, "events.log", path, sizeof path);
        if (f != NULL) {
            pthread_mutex_lock(&r.log_lock);
            fwrite(r.log.data, 1, r.log.len, f);
            pthread_mutex_unlock(&r.log_lock);
            fclose(f);
        } else {
            failure(&r, "cannot write %s", path);
        }
        if (cres != NULL) {
            snprintf(path, sizeof path, "%s/report.html", o->out_dir);
            if (checker_report_html_save(path, h, cres) != 0) {
                failure(&r, "cannot write %s", path);
            }
        }
    }

    if (r.n_failures > 0) {
        printf("FAIL %s:", s->name);
        for (unsigned k = 0; k < r.n_failures; k++) {
            printf("%s %s", k ? ";" : "", r.failures[k]);
        }
        printf("\n");
        exit_code = HARNESS_EXIT_FAILED;
    } else if (unknown) {
        printf("UNKNOWN %s: the checker ran out of its %.0f s budget (%s)\n",
               s->name, o->check_timeout_s,
               cres->unknown_why != NULL ? cres->unknown_why : "timeout");
        exit_code = HARNESS_EXIT_UNKNOWN;
    } else {
        printf(
            "PASS %s: %llu ok ops, linearizable, safety held, "
            "expectations met\n",
            s->name, (unsigned long long)ok_ops);
        exit_code = HARNESS_EXIT_OK;
    }
    free(t.lat);
    checker_result_free(cres);
    checker_history_free(h);

out:
    if (r.wl != NULL) {
        workload_drain(r.wl);
        workload_join(r.wl);
    }
    cluster_free(r.cl);
    workload_free(r.wl);
    monitor_free(r.mon);
    sched_free(r.sched);
    if (r.data_dir_temp) {
        remove_tree(r.data_dir);
    }
    free(r.intervals);
    common_vec_fini(&r.log);
    pthread_mutex_destroy(&r.log_lock);
    return exit_code;
}
