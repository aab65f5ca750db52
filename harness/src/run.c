/*
 * One harness run (harness_run in harness.h): the run loop.
 *
 * It builds what the scenario describes - the safety monitor, in sim mode
 * the scheduler, the cluster, the workload, the judge and the nemesis -
 * and then drives the run on the calling thread:
 *
 *   prepare    folders, build, start the cluster and the workload
 *   play       every 2 ms (real or virtual) until the duration is over:
 *              the nemesis fires what is due, the judge sees who leads,
 *              the live status line is redrawn
 *   wind_down  no new operations; the nemesis heals everything so that
 *              open ones can finish; the workload and the cluster stop
 *   conclude   the judge weighs the evidence; history.jsonl, events.log
 *              and report.html are written; the result line is printed
 *
 * The run loop owns the event log (events.log), where the cluster, the
 * nemesis and the loop itself write their lines, and the timeline
 * (timeline.h), which it samples at every step for the run report
 * (report.h).
 *
 * Threads: with the threaded driver every node runs in its own thread and
 * the clients in one driver thread; in sim mode everything runs here,
 * inside advance(). The event log is the one thing written from several
 * threads (node events), under its own lock.
 */
#include "harness/harness.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "judge.h"
#include "monitor/monitor.h"
#include "nemesis.h"
#include "report.h"
#include "sched.h"
#include "timeline.h"
#include "workload.h"

/* The run loop's step, and how often the status line is redrawn. */
#define STEP_MS   2
#define STATUS_NS (250 * COMMON_NS_PER_MS)

struct run
{
    const struct scenario *s;
    const struct harness_options *o;
    struct monitor *mon;
    struct sched *sched; /* sim mode, else NULL */
    struct cluster *cl;
    struct workload *wl;
    struct nemesis *nem;
    struct judge *judge;
    struct timeline *tl;          /* NULL without an output folder */
    char data_dir[1024];          /* files: where the nodes keep them */
    bool data_dir_temp;           /* ... a temporary directory to remove */
    uint64_t next_status;         /* when the status line is next drawn */
    uint64_t snapshots_installed; /* over the run, read as it stops */
    uint64_t messages;            /* Raft messages sent, read as it stops */
    /* Disk faults, read as the cluster stops (disks_set: some node has). */
    bool disks_set;
    struct cluster_disk_report disks[SCENARIO_MAX_NODES];
    /* By node id: snapshots and logs, read as the cluster stops. */
    struct cluster_log_stats logs[SCENARIO_MAX_NODES + 1];
    uint64_t crash_after_fired[CLUSTER_CRASH_AFTER_KINDS]; /* likewise */

    pthread_mutex_t log_lock;
    struct common_vec log; /* the event log, guarded by log_lock */
};

/* ------------------------------------------------------------------------ */
/* The event log                                                             */
/* ------------------------------------------------------------------------ */

static void log_line(void *data, uint64_t now, const char *text)
{
    struct run *r = data;
    pthread_mutex_lock(&r->log_lock);
    common_vec_appendf(&r->log, "%10.3f  %s\n", (double)now / 1e9, text);
    pthread_mutex_unlock(&r->log_lock);
}

static void on_healed(void *data, uint64_t now)
{
    judge_healed(data, now);
}

static void on_fault_ended(void *data, uint64_t now, const char *what)
{
    judge_fault_ended(data, now, what);
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */
/* ------------------------------------------------------------------------ */

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
    fprintf(stderr,
            "\r[%6.1fs] leader %s term %llu | ok %llu fail %llu info %llu | "
            "faults: %s\033[K",
            (double)now / 1e9, leader, (unsigned long long)st.term,
            (unsigned long long)c.ok, (unsigned long long)c.fail,
            (unsigned long long)c.info, nemesis_faults(r->nem));
    fflush(stderr);
}

/* Lets the cluster run for one step: real time with threads, virtual time
 * in sim mode (every event up to then runs now). */
static void advance(struct run *r)
{
    if (r->sched != NULL) {
        sched_run_until(r->sched,
                        sched_now(r->sched) + STEP_MS * COMMON_NS_PER_MS);
        return;
    }
    struct timespec ts = {.tv_sec = 0,
                          .tv_nsec = (long)(STEP_MS * COMMON_NS_PER_MS)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The timeline's sample at @now: every node's state, role and term, the
 * network's cuts and link faults, the monitor's verdict so far. Only
 * reads. */
static void sample_timeline(struct run *r, uint64_t now)
{
    struct timeline_sample ts;
    memset(&ts, 0, sizeof ts);
    unsigned n = r->s->nodes;
    for (raft_id id = 1; id <= n; id++) {
        struct cluster_node_status st;
        cluster_status(r->cl, id, &st);
        ts.node[id].state = !cluster_present(r->cl, id) ? TIMELINE_OUTSIDE
                            : !st.up                    ? TIMELINE_DOWN
                            : st.failed                 ? TIMELINE_FAILED
                            : st.paused                 ? TIMELINE_PAUSED
                                                        : TIMELINE_UP;
        ts.node[id].role = st.role;
        ts.node[id].term = st.term;
    }
    struct transport_mem *net = cluster_net(r->cl);
    for (raft_id i = 1; i <= n; i++) {
        for (raft_id j = 1; j <= n; j++) {
            if (i != j && transport_mem_is_cut(net, i, j)) {
                ts.cut[i] |= (uint16_t)(1u << j);
            }
        }
    }
    for (raft_id i = 1; i <= n; i++) {
        for (raft_id j = 1; j <= n; j++) {
            bool there = ((unsigned)ts.cut[i] >> j) & 1u;
            bool back = ((unsigned)ts.cut[j] >> i) & 1u;
            if (there && back) {
                ts.net_kinds |= TIMELINE_NET_PARTITION;
            } else if (there) {
                ts.net_kinds |= TIMELINE_NET_ONE_WAY;
            }
        }
    }
    if (nemesis_link_faults(r->nem)) {
        ts.net_kinds |= TIMELINE_NET_LINKS;
    }
    ts.what = nemesis_faults(r->nem);
    ts.violated = !monitor_ok(r->mon);
    timeline_record(r->tl, now, &ts);
}

/* What every step does besides faults: the judge watches the cluster,
 * the timeline is sampled, the status line is redrawn, time moves on. */
static void watch_and_advance(struct run *r, uint64_t now)
{
    judge_watch(r->judge, r->cl, now);
    if (r->tl != NULL) {
        sample_timeline(r, now);
    }
    if (r->o->live && now >= r->next_status) {
        status_line(r, now);
        r->next_status = now + STATUS_NS;
    }
    advance(r);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

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

/* The node that answered each operation of the checker's history (its
 * i-th invoke), from the workload's events; NULL when out of memory. */
static uint32_t *answering_nodes(struct run *r, size_t n_ops)
{
    size_t n_events = 0;
    const struct workload_event *ev = workload_events(r->wl, &n_events);
    unsigned clients = r->s->clients.count > 0 ? r->s->clients.count : 1;
    uint32_t *node = calloc(n_ops + 1, sizeof *node);
    size_t *open = calloc(clients, sizeof *open); /* op index + 1 */
    if (node == NULL || open == NULL) {
        free(node);
        free(open);
        return NULL;
    }
    size_t op = 0;
    for (size_t k = 0; k < n_events; k++) {
        unsigned c = (unsigned)(ev[k].process % clients);
        if (ev[k].type == KV_EVENT_INVOKE) {
            open[c] = ++op;
        } else if (open[c] != 0 && open[c] <= n_ops) {
            node[open[c] - 1] = (uint32_t)ev[k].node;
            open[c] = 0;
        }
    }
    free(open);
    return node;
}

/* report.html: the run report. 0 or an error code. */
static int write_report(struct run *r, const char *path)
{
    struct report_input in = {
        .s = r->s,
        .sim = r->o->sim,
        .reproduce = r->o->reproduce,
        .exit_code = judge_exit_code(r->judge),
        .h = judge_history(r->judge),
        .cres = judge_checker_result(r->judge),
        .tl = r->tl,
        .run_s = (double)timeline_end(r->tl) / 1e9,
    };
    in.n_failures = judge_failures(r->judge, in.failures, REPORT_MAX_FAILURES);
    uint32_t *nodes = NULL;
    if (in.h != NULL) {
        nodes = answering_nodes(r, checker_history_len(in.h));
        in.op_node = nodes;
    }
    pthread_mutex_lock(&r->log_lock);
    in.log = (const char *)r->log.data;
    in.log_len = r->log.len;
    int rv = report_save(path, &in);
    pthread_mutex_unlock(&r->log_lock);
    free(nodes);
    return rv;
}

/* history.jsonl, events.log and report.html into the output folder; a file
 * that cannot be written fails the run. */
static void write_files(struct run *r)
{
    const char *dir = r->o->out_dir;
    char path[1200];
    FILE *f = open_out(dir, "history.jsonl", path, sizeof path);
    if (f == NULL || workload_write_jsonl(r->wl, f) != 0) {
        judge_fail(r->judge, "cannot write %s", path);
    }
    if (f != NULL) {
        fclose(f);
    }
    f = open_out(dir, "events.log", path, sizeof path);
    if (f != NULL) {
        pthread_mutex_lock(&r->log_lock);
        fwrite(r->log.data, 1, r->log.len, f);
        pthread_mutex_unlock(&r->log_lock);
        fclose(f);
    } else {
        judge_fail(r->judge, "cannot write %s", path);
    }
    snprintf(path, sizeof path, "%s/report.html", dir);
    if (write_report(r, path) != 0) {
        judge_fail(r->judge, "cannot write %s", path);
    }
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */
/* ------------------------------------------------------------------------ */

/* Where the nodes keep their files, when they keep files: the output
 * folder, or a temporary one. */
static int make_data_dir(struct run *r)
{
    if (r->s->storage.kind != SCENARIO_STORAGE_FILES) {
        return 0;
    }
    if (r->o->out_dir != NULL) {
        /* Every run starts from empty disks: a node must not boot from
         * what an earlier run left in the same folder. */
        snprintf(r->data_dir, sizeof r->data_dir, "%s/data", r->o->out_dir);
        remove_tree(r->data_dir);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(r->data_dir, sizeof r->data_dir, "%s/raftkv-harness-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(r->data_dir) == NULL) {
        fprintf(stderr, "harness: cannot create %s: %s\n", r->data_dir,
                strerror(errno));
        return -1;
    }
    r->data_dir_temp = true;
    return 0;
}

/* per_node disk faults and the session TTL, into the cluster's terms. */
static void disk_and_session_config(const struct scenario *s,
                                    struct cluster_config *cc)
{
    for (unsigned k = 0; k < s->nodes; k++) {
        const struct scenario_disk *d = &s->node[k].disk;
        cc->disk_faults[k] = (struct storage_fs_faults){
            .full = d->full,
            .full_bytes = d->full_after_bytes,
            .sync_fail_after_set = d->fsync_eio_after_set,
            .sync_fail_after = d->fsync_eio_after,
            .sync_fail_at_set = d->fsync_eio_at_set,
            .sync_fail_at_ns = (uint64_t)(d->fsync_eio_at_s * 1e9),
            .sync_ns_min = (uint64_t)d->fsync_ms_min * COMMON_NS_PER_MS,
            .sync_ns_max = (uint64_t)d->fsync_ms_max * COMMON_NS_PER_MS,
        };
    }
    if (s->clients.session_ttl_set) {
        cc->session_ttl =
            s->clients.session_ttl != 0 ? s->clients.session_ttl : UINT64_MAX;
    }
}

/* What the disk faults did, before the cluster goes. */
static void collect_disks(struct run *r)
{
    for (unsigned k = 0; k < r->s->nodes; k++) {
        if (r->s->node[k].disk.line != 0) {
            r->disks_set = true;
        }
        cluster_disk_report(r->cl, k + 1, &r->disks[k]);
    }
}

/* Whether @s arms crash_after triggers (the nodes' updates are looked at
 * for them only then). */
static bool uses_crash_after(const struct scenario *s)
{
    for (size_t k = 0; k < s->n_faults; k++) {
        if (s->faults[k].kind == SCENARIO_FAULT_CRASH_AFTER_VOTE ||
            s->faults[k].kind == SCENARIO_FAULT_CRASH_AFTER_ACK) {
            return true;
        }
    }
    return false;
}

static int build_cluster(struct run *r)
{
    const struct scenario *s = r->s;
    struct cluster_config cc = {
        .nodes = s->nodes,
        .tick_ms = s->timing.tick_ms,
        .election_ticks = s->timing.election_ticks,
        .heartbeat_ticks = s->timing.heartbeat_ticks,
        .pre_vote = s->timing.pre_vote,
        .check_quorum = s->timing.check_quorum,
        .seed = s->seed,
        .monitor = r->mon,
        .event = log_line,
        .event_data = r,
        .sched = r->sched,
        .grpc = s->transport_grpc,
        .disk = (enum cluster_disk)s->storage.kind,
        .torn_writes = s->storage.torn_writes,
        .data_dir = r->data_dir,
        .snapshot_entries = s->storage.snapshot_entries,
        .snapshot_bytes = s->storage.snapshot_bytes,
        .snapshot_trailing = s->storage.snapshot_trailing,
        .latency_set = s->timing.latency_set,
        .latency_ns_min = (uint64_t)s->timing.latency_us_min * 1000,
        .latency_ns_max = (uint64_t)s->timing.latency_us_max * 1000,
        .crash_after = uses_crash_after(s),
        .members = s->members,
    };
    for (unsigned k = 0; k < s->nodes; k++) {
        cc.node_timing[k] = (struct cluster_node_timing){
            .clock_rate = s->node[k].clock_rate,
            .election_ticks = s->node[k].election_ticks,
            .heartbeat_ticks = s->node[k].heartbeat_ticks,
        };
    }
    disk_and_session_config(s, &cc);
    int rv = cluster_new(&cc, &r->cl);
    if (rv != 0) {
        fprintf(stderr, "harness: cannot build the cluster: %s\n",
                common_strerror(rv));
    }
    return rv;
}

static int build_workload(struct run *r)
{
    const struct scenario *s = r->s;
    uint64_t election_ns =
        (uint64_t)(s->timing.tick_ms * s->timing.election_ticks) *
        COMMON_NS_PER_MS;
    struct workload_config wc = {
        .clients = s->clients.count,
        .nodes = s->nodes,
        .keys = s->clients.keys,
        .value_size = s->clients.value_size,
        .op_timeout_ns = s->clients.timeout_ms * COMMON_NS_PER_MS,
        .attempt_timeout_ns = 2 * election_ns,
        .think_ns = s->clients.think_ms * COMMON_NS_PER_MS,
        .seed = s->seed,
        .cluster = r->cl,
        .sched = r->sched,
    };
    if (wc.attempt_timeout_ns > wc.op_timeout_ns) {
        wc.attempt_timeout_ns = wc.op_timeout_ns;
    }
    wc.mix[KV_OP_GET] = s->clients.mix.get;
    wc.mix[KV_OP_PUT] = s->clients.mix.put;
    wc.mix[KV_OP_DELETE] = s->clients.mix.del;
    wc.mix[KV_OP_CAS] = s->clients.mix.cas;
    wc.mix[KV_OP_APPEND] = s->clients.mix.append;
    int rv = workload_new(&wc, &r->wl);
    if (rv != 0) {
        fprintf(stderr, "harness: cannot build the workload: %s\n",
                common_strerror(rv));
    }
    return rv;
}

/* The judge, and the nemesis, which tells it of every heal. */
static int build_nemesis(struct run *r)
{
    r->judge = judge_new(r->s, r->o);
    struct nemesis_config nc = {
        .scenario = r->s,
        .cluster = r->cl,
        .log = log_line,
        .log_data = r,
        .healed = on_healed,
        .healed_data = r->judge,
        .ended = on_fault_ended,
        .ended_data = r->judge,
    };
    int rv = r->judge == NULL ? COMMON_ENOMEM : nemesis_new(&nc, &r->nem);
    if (rv != 0) {
        fprintf(stderr, "harness: out of memory\n");
    }
    return rv;
}

/* Builds the monitor, (sim mode) the scheduler, the cluster, the workload,
 * the judge and the nemesis. */
static int build(struct run *r)
{
    r->mon = monitor_new();
    if (r->o->sim) {
        r->sched = sched_new(r->s->seed);
        if (r->mon != NULL) {
            monitor_set_single_threaded(r->mon); /* all on this thread */
        }
    }
    if (r->mon == NULL || (r->o->sim && r->sched == NULL)) {
        fprintf(stderr, "harness: out of memory\n");
        return COMMON_ENOMEM;
    }
    if (r->o->out_dir != NULL) {
        r->tl = timeline_new(r->s->nodes);
        if (r->tl == NULL) {
            fprintf(stderr, "harness: out of memory\n");
            return COMMON_ENOMEM;
        }
    }
    int rv = build_cluster(r);
    if (rv == 0) {
        rv = build_workload(r);
    }
    if (rv == 0) {
        rv = build_nemesis(r);
    }
    return rv;
}

/* Creates the output folder and the nodes' data folder, builds everything
 * and starts the cluster and the workload. COMMON_EXIT_OK, or the exit
 * code of the failure (after a message on stderr). */
static int prepare(struct run *r)
{
    const struct scenario *s = r->s;
    if (r->o->out_dir != NULL && make_dir(r->o->out_dir) != 0) {
        fprintf(stderr, "harness: cannot create %s: %s\n", r->o->out_dir,
                strerror(errno));
        return COMMON_EXIT_USAGE;
    }
    if (make_data_dir(r) != 0) {
        return COMMON_EXIT_USAGE;
    }
    if (build(r) != 0) {
        return COMMON_EXIT_FAILED;
    }
    int rv = cluster_start(r->cl);
    if (rv == 0) {
        rv = workload_start(r->wl);
    }
    if (rv != 0) {
        fprintf(stderr, "harness: cannot start: %s\n", common_strerror(rv));
        return COMMON_EXIT_FAILED;
    }
    char line[256];
    snprintf(line, sizeof line, "run: scenario %s, %u nodes, seed %llu%s",
             s->name, s->nodes, (unsigned long long)s->seed,
             s->transport_grpc ? ", Raft over gRPC" : "");
    log_line(r, cluster_now(r->cl), line);
    return COMMON_EXIT_OK;
}

/* The scenario's duration: faults fire, clients run. Returns the time it
 * ended. */
static uint64_t play(struct run *r)
{
    uint64_t end = (uint64_t)(r->s->duration_s * 1e9);
    uint64_t now;
    while ((now = cluster_now(r->cl)) < end) {
        nemesis_step(r->nem, now);
        watch_and_advance(r, now);
    }
    return now;
}

/* After the duration: no new operations; every fault healed so that open
 * ones can finish; then the workload and the cluster stop. Returns the
 * time the run ended. */
static uint64_t wind_down(struct run *r, uint64_t now)
{
    workload_drain(r->wl);
    nemesis_heal_all(r->nem, now);
    log_line(r, cluster_now(r->cl),
             "run: duration over, healed, waiting for open operations");
    while (!workload_done(r->wl)) {
        watch_and_advance(r, cluster_now(r->cl));
    }
    workload_join(r->wl);
    now = cluster_now(r->cl);
    judge_watch(r->judge, r->cl, now);
    if (r->tl != NULL) {
        sample_timeline(r, now);
        timeline_close(r->tl, now);
    }
    judge_run_over(r->judge);
    r->snapshots_installed = cluster_snapshots_installed(r->cl);
    struct transport_mem_stats net;
    transport_mem_stats(cluster_net(r->cl), &net);
    r->messages = net.sent;
    collect_disks(r);
    for (raft_id id = 1; id <= r->s->nodes; id++) {
        cluster_log_stats(r->cl, id, &r->logs[id]);
    }
    for (int k = 0; k < CLUSTER_CRASH_AFTER_KINDS; k++) {
        r->crash_after_fired[k] =
            cluster_crash_after_fired(r->cl, (enum cluster_crash_after)k);
    }
    if (r->o->live) {
        fprintf(stderr, "\r\033[K");
    }
    cluster_free(r->cl);
    r->cl = NULL;
    log_line(r, now, "run: cluster stopped");
    if (r->sched != NULL && getenv("HARNESS_DEBUG_EVENTS")) {
        fprintf(stderr, "events %llu\n",
                (unsigned long long)sched_executed(r->sched));
    }
    return now;
}

/* Whether @s changes its membership: nodes outside at first, an action
 * of the timeline, or the membership nemesis. */
static bool uses_membership(const struct scenario *s)
{
    if (s->members < s->nodes || s->nemesis.membership) {
        return true;
    }
    for (size_t k = 0; k < s->n_faults; k++) {
        /* The membership actions close enum scenario_fault_kind. */
        if (s->faults[k].kind >= SCENARIO_FAULT_ADD_NODE) {
            return true;
        }
    }
    return false;
}

/* The judge weighs what the run left behind; the files are written; the
 * result line says the verdict. Returns the exit code. */
static int conclude(struct run *r, uint64_t end)
{
    struct judge_evidence ev = {
        .monitor = r->mon,
        .history_incomplete = workload_oom(r->wl),
        .snapshots_installed = r->snapshots_installed,
        .messages = r->messages,
        .logs = r->logs,
        .crash_after_used = uses_crash_after(r->s),
        .crash_after_votes = r->crash_after_fired[CLUSTER_CRASH_AFTER_VOTE],
        .crash_after_acks = r->crash_after_fired[CLUSTER_CRASH_AFTER_ACK],
        .run_s = (double)end / 1e9,
        .disks = r->disks_set ? r->disks : NULL,
        .membership_used = uses_membership(r->s),
    };
    nemesis_membership_counts(r->nem, &ev.membership_done,
                              &ev.membership_given_up);
    ev.events = workload_events(r->wl, &ev.n_events);
    ev.intervals = nemesis_intervals(r->nem, &ev.n_intervals);
    judge_check(r->judge, &ev);
    if (r->o->out_dir != NULL) {
        write_files(r);
    }
    return judge_result(r->judge);
}

/* Frees whatever was built, stopping what still runs (after a failed
 * start). */
static void teardown(struct run *r)
{
    if (r->wl != NULL) {
        workload_drain(r->wl);
        workload_join(r->wl);
    }
    cluster_free(r->cl);
    workload_free(r->wl);
    nemesis_free(r->nem);
    judge_free(r->judge);
    timeline_free(r->tl);
    monitor_free(r->mon);
    sched_free(r->sched);
    if (r->data_dir_temp) {
        remove_tree(r->data_dir);
    }
    common_vec_fini(&r->log);
    pthread_mutex_destroy(&r->log_lock);
}

int harness_run(const struct scenario *s, const struct harness_options *o)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.o = o;
    pthread_mutex_init(&r.log_lock, NULL);
    int exit_code = prepare(&r);
    if (exit_code == COMMON_EXIT_OK) {
        uint64_t end = wind_down(&r, play(&r));
        exit_code = conclude(&r, end);
    }
    teardown(&r);
    return exit_code;
}
