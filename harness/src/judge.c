/*
 * The judge (see judge.h). Failures are collected, in the order found, up
 * to MAX_FAILURES, and all of them go on the result line, so that one run
 * says everything that went wrong with it.
 *
 * The checker sees the workload's events through workload_event_checker,
 * the one conversion, which history.jsonl goes through too: the history
 * the checker judged is the history written. The judge keeps the checker's
 * history and result for the run report (report.h), written after the
 * summary.
 */
#include "judge.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker/checker.h"

#define MAX_FAILURES 16
#define GRACE_NS     (50 * COMMON_NS_PER_MS) /* messages already on the wire */
#define WHAT_MAX     128

/* What one window of no_leader or term_unchanged saw. */
struct window_watch
{
    uint64_t from; /* ns, the run's clock */
    uint64_t to;
    bool reached; /* a step of the run fell inside it */
    bool broken;  /* the first breach: */
    uint64_t broken_at;
    raft_id node;         /* the leader, or the node whose term moved */
    raft_term term;       /* the leader's term, or the node's new term */
    raft_term first_term; /* term_unchanged: the node's term before */
    /* term_unchanged: each node's term when first seen live in it. */
    bool seen[SCENARIO_MAX_NODES + 1];
    raft_term base[SCENARIO_MAX_NODES + 1];
};

/* A fault that ended (progress_within_ms). */
struct fault_end
{
    uint64_t at;
    char what[WHAT_MAX];
};

struct judge
{
    const struct scenario *s;
    const struct harness_options *o;

    /* Windows (expect.no_leader, expect.term_unchanged). */
    struct window_watch no_leader[SCENARIO_MAX_WINDOWS];
    struct window_watch terms[SCENARIO_MAX_WINDOWS];
    /* Faults that ended, in time order. */
    struct fault_end *ends;
    size_t n_ends;
    size_t cap_ends;
    bool ends_oom;

    /* Leadership. */
    bool leaderless;
    uint64_t leaderless_since;
    uint64_t max_leaderless;
    bool heal_pending;
    uint64_t heal_at;
    uint64_t worst_heal_to_leader;
    uint64_t worst_heal_at;
    bool heal_never_led; /* a heal that no leader followed before the end */

    /* The checker's history and verdict. */
    struct checker_history *h;
    struct checker_result *cres;
    bool unknown;
    uint64_t ok_ops;

    char failures[MAX_FAILURES][320];
    unsigned n_failures;

    /* For the summary: disk faults (NULL: none), session expiries. */
    const struct cluster_disk_report *disks;
    uint64_t expired;

    /* For the JSON summary (harness_options.json), from judge_check. */
    struct
    {
        uint64_t ok[KV_OP_MAX + 1], mismatch[KV_OP_MAX + 1];
        uint64_t fail[KV_OP_MAX + 1], info[KV_OP_MAX + 1];
        double p50_ms, p99_ms, max_ms, run_s;
        uint64_t terms_with_leader, highest_term, committed, applied;
        uint64_t messages;
        const char *verdict;
        double check_s;
    } sum;
};

static uint64_t s_to_ns(double s)
{
    return (uint64_t)(s * 1e9);
}

static void windows_init(struct window_watch *w,
                         const struct scenario_window *sw,
                         unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        w[k].from = s_to_ns(sw[k].from_s);
        w[k].to = s_to_ns(sw[k].to_s);
    }
}

struct judge *judge_new(const struct scenario *s,
                        const struct harness_options *o)
{
    struct judge *j = calloc(1, sizeof *j);
    if (j != NULL) {
        j->s = s;
        j->o = o;
        windows_init(j->no_leader, s->expect.no_leader, s->expect.n_no_leader);
        windows_init(j->terms, s->expect.term_unchanged,
                     s->expect.n_term_unchanged);
    }
    return j;
}

void judge_free(struct judge *j)
{
    if (j == NULL) {
        return;
    }
    checker_result_free(j->cres);
    checker_history_free(j->h);
    free(j->ends);
    free(j);
}

static void vfail(struct judge *j, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vfail(struct judge *j, const char *fmt, va_list ap)
{
    if (j->n_failures >= MAX_FAILURES) {
        return;
    }
    vsnprintf(j->failures[j->n_failures++], sizeof j->failures[0], fmt, ap);
}

void judge_fail(struct judge *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(j, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Watching the leader                                                       */
/* ------------------------------------------------------------------------ */

static void watch_leader(struct judge *j, raft_id leader, uint64_t now)
{
    if (leader == 0) {
        if (!j->leaderless) {
            j->leaderless = true;
            j->leaderless_since = now;
        }
        if (now - j->leaderless_since > j->max_leaderless) {
            j->max_leaderless = now - j->leaderless_since;
        }
        return;
    }
    j->leaderless = false;
    if (j->heal_pending && now >= j->heal_at) {
        uint64_t d = now - j->heal_at;
        if (d > j->worst_heal_to_leader) {
            j->worst_heal_to_leader = d;
            j->worst_heal_at = j->heal_at;
        }
        j->heal_pending = false;
    }
}

/* no_leader: the first leader seen inside each window. */
static void watch_no_leader(struct judge *j,
                            struct cluster *cl,
                            raft_id leader,
                            uint64_t now)
{
    for (unsigned k = 0; k < j->s->expect.n_no_leader; k++) {
        struct window_watch *w = &j->no_leader[k];
        if (now < w->from || now > w->to) {
            continue;
        }
        w->reached = true;
        if (leader != 0 && !w->broken) {
            struct cluster_node_status st;
            cluster_status(cl, leader, &st);
            w->broken = true;
            w->broken_at = now;
            w->node = leader;
            w->term = st.term;
        }
    }
}

/* term_unchanged: each live node's term against the one it had when
 * first seen live inside the window. */
static void watch_terms(struct judge *j, struct cluster *cl, uint64_t now)
{
    struct cluster_node_status st[SCENARIO_MAX_NODES + 1];
    bool read = false;
    unsigned nodes = j->s->nodes;
    for (unsigned k = 0; k < j->s->expect.n_term_unchanged; k++) {
        struct window_watch *w = &j->terms[k];
        if (now < w->from || now > w->to) {
            continue;
        }
        if (!read) {
            for (raft_id id = 1; id <= nodes; id++) {
                cluster_status(cl, id, &st[id]);
            }
            read = true;
        }
        w->reached = true;
        for (raft_id id = 1; id <= nodes && !w->broken; id++) {
            if (!st[id].up || st[id].paused || st[id].failed) {
                continue; /* not live: the harness's rule */
            }
            if (!w->seen[id]) {
                w->seen[id] = true;
                w->base[id] = st[id].term;
            } else if (st[id].term != w->base[id]) {
                w->broken = true;
                w->broken_at = now;
                w->node = id;
                w->first_term = w->base[id];
                w->term = st[id].term;
            }
        }
    }
}

void judge_watch(struct judge *j, struct cluster *cl, uint64_t now)
{
    raft_id leader = cluster_leader(cl);
    watch_leader(j, leader, now);
    watch_no_leader(j, cl, leader, now);
    watch_terms(j, cl, now);
}

void judge_fault_ended(struct judge *j, uint64_t now, const char *what)
{
    if (j->n_ends == j->cap_ends) {
        size_t cap = j->cap_ends != 0 ? 2 * j->cap_ends : 64;
        struct fault_end *e = realloc(j->ends, cap * sizeof *e);
        if (e == NULL) {
            j->ends_oom = true;
            return;
        }
        j->ends = e;
        j->cap_ends = cap;
    }
    struct fault_end *e = &j->ends[j->n_ends++];
    e->at = now;
    snprintf(e->what, sizeof e->what, "%s", what);
}

void judge_healed(struct judge *j, uint64_t now)
{
    /* A heal while an earlier one still waits for its leader does not
     * restart the count: the first leader after both answers the earlier
     * one, whose wait is the longer (issue 12). */
    if (j->heal_pending) {
        return;
    }
    j->heal_pending = true;
    j->heal_at = now;
}

void judge_run_over(struct judge *j)
{
    if (j->heal_pending) {
        j->heal_never_led = true;
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

/* The partition or isolation that had @op's node on its minority side
 * from (a grace period before) @invoked, when @op was invoked, until @op
 * was answered; NULL if none did. */
static const struct nemesis_interval *cut_off_during(
    const struct judge_evidence *e,
    const struct workload_event *op,
    uint64_t invoked)
{
    for (size_t i = 0; i < e->n_intervals; i++) {
        const struct nemesis_interval *iv = &e->intervals[i];
        if (iv->minority[op->node] && invoked >= iv->start + GRACE_NS &&
            op->time_ns <= iv->end) {
            return iv;
        }
    }
    return NULL;
}

/* Ops answered ok by a node cut off from a quorum, while cut off. */
static void check_minority(struct judge *j, const struct judge_evidence *e)
{
    unsigned clients = j->s->clients.count;
    uint64_t *invoked = calloc(clients, sizeof *invoked);
    if (invoked == NULL) {
        judge_fail(j, "out of memory checking minority acknowledgements");
        return;
    }
    uint64_t bad = 0;
    char first[200] = "";
    for (size_t k = 0; k < e->n_events; k++) {
        const struct workload_event *op = &e->events[k];
        unsigned c = (unsigned)(op->process % clients);
        if (op->type == KV_EVENT_INVOKE) {
            invoked[c] = op->time_ns;
            continue;
        }
        if (op->type != KV_EVENT_OK || op->node == 0 ||
            op->node > SCENARIO_MAX_NODES) {
            continue;
        }
        const struct nemesis_interval *iv = cut_off_during(e, op, invoked[c]);
        if (iv != NULL && bad++ == 0) {
            snprintf(first, sizeof first,
                     "%s %s by process %llu answered ok by node %llu at "
                     "%.3f s during '%s'",
                     kv_op_name((int)op->op), op->key,
                     (unsigned long long)op->process,
                     (unsigned long long)op->node, (double)op->time_ns / 1e9,
                     iv->what);
        }
    }
    free(invoked);
    if (bad > 0) {
        judge_fail(j,
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
    uint64_t by[KV_OP_MAX + 1][5];    /* [op][event type] */
    uint64_t mismatch[KV_OP_MAX + 1]; /* fails that were cas mismatches */
    uint64_t *lat;                    /* ok latencies, ns */
    size_t n_lat;
};

/* Counts the events by op and type and, when @latencies (only the full
 * summary prints them), gathers the ok ops' latencies in order. */
static void tally_ops(const struct judge *j,
                      const struct workload_event *ev,
                      size_t n,
                      bool latencies,
                      struct tally *t)
{
    unsigned clients = j->s->clients.count;
    uint64_t *invoked = NULL;
    if (latencies) {
        invoked = calloc(clients, sizeof *invoked);
        t->lat = calloc(n / 2 + 1, sizeof *t->lat);
    }
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
        if (e->type == KV_EVENT_FAIL && e->error != NULL &&
            strcmp(e->error, "mismatch") == 0) {
            t->mismatch[e->op]++;
        }
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

/* The summary's lines for disk faults and session expiry, when the
 * scenario has them. */
static void print_disks_and_sessions(FILE *f, const struct judge *j)
{
    const struct scenario *s = j->s;
    const char *head = "  disk faults ";
    for (unsigned k = 0; j->disks != NULL && k < s->nodes; k++) {
        const struct scenario_disk *d = &s->node[k].disk;
        const struct cluster_disk_report *r = &j->disks[k];
        if (d->line == 0) {
            continue;
        }
        fprintf(f, "%s node %u:", head, k + 1);
        head = "              ";
        if (d->full) {
            fprintf(f, " appends failed on a full disk (ENOSPC) x%llu;",
                    (unsigned long long)r->injected.enospc);
        }
        if (d->fsync_eio_after_set || d->fsync_eio_at_set) {
            fprintf(f, " syncs failed (EIO) x%llu;",
                    (unsigned long long)r->injected.sync_eio);
        }
        if (d->fsync_ms_max > 0) {
            fprintf(f, " slow syncs x%llu (%.3f s in all);",
                    (unsigned long long)r->injected.slow_syncs,
                    (double)r->injected.slow_ns / 1e9);
        }
        fprintf(f, " stopped serving x%llu\n", (unsigned long long)r->stops);
    }
    if (s->clients.session_ttl_set && s->clients.session_ttl == 0) {
        fprintf(f,
                "  sessions     never expire; %llu ops refused "
                "session-expired\n",
                (unsigned long long)j->expired);
    } else if (s->clients.session_ttl_set) {
        fprintf(f,
                "  sessions     ttl %llu entries; %llu ops refused "
                "session-expired\n",
                (unsigned long long)s->clients.session_ttl,
                (unsigned long long)j->expired);
    }
}

/* How soon an ok operation followed each fault that ended. */
struct progress
{
    bool oom;
    /* The longest wait (none: no ok operation came after it). */
    size_t worst;
    uint64_t worst_wait;
    bool worst_none;
    /* Against progress_within_ms: the misses, and the first of them. */
    size_t misses;
    size_t first_miss;
    uint64_t first_next; /* when the next ok came, unless none */
    bool first_none;
};

static void measure_progress(const struct judge *j,
                             const struct judge_evidence *e,
                             struct progress *p)
{
    memset(p, 0, sizeof *p);
    if (j->n_ends == 0) {
        return;
    }
    uint64_t *ok = malloc((e->n_events + 1) * sizeof *ok);
    if (ok == NULL) {
        p->oom = true;
        return;
    }
    size_t n_ok = 0;
    for (size_t k = 0; k < e->n_events; k++) {
        if (e->events[k].type == KV_EVENT_OK) {
            ok[n_ok++] = e->events[k].time_ns;
        }
    }
    /* Recorded in time order as a rule, so usually sorted already. */
    bool sorted = true;
    for (size_t k = 1; k < n_ok && sorted; k++) {
        sorted = ok[k - 1] <= ok[k];
    }
    if (!sorted) {
        qsort(ok, n_ok, sizeof *ok, cmp_u64);
    }
    uint64_t limit =
        (uint64_t)j->s->expect.progress_within_ms * COMMON_NS_PER_MS;
    for (size_t k = 0; k < j->n_ends; k++) {
        uint64_t at = j->ends[k].at;
        size_t lo = 0;
        size_t hi = n_ok;
        while (lo < hi) { /* the first ok at or after @at */
            size_t mid = lo + (hi - lo) / 2;
            if (ok[mid] < at) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        bool none = lo == n_ok;
        uint64_t wait = none ? UINT64_MAX : ok[lo] - at;
        if (k == 0 || wait > p->worst_wait) {
            p->worst = k;
            p->worst_wait = wait;
            p->worst_none = none;
        }
        if (limit > 0 && wait > limit && p->misses++ == 0) {
            p->first_miss = k;
            p->first_none = none;
            p->first_next = none ? 0 : ok[lo];
        }
    }
    free(ok);
}

/* The largest snapshot, and the most log entries a node held after a
 * compaction and at the end, over every node (node 0: none). */
struct log_peaks
{
    uint64_t taken;
    raft_id snap_node;
    uint64_t snap_bytes;
    raft_index snap_index;
    raft_id compacted_node;
    uint64_t compacted_entries;
    raft_index compacted_index;
    raft_id end_node;
    uint64_t end_entries;
};

static void measure_logs(const struct judge *j,
                         const struct judge_evidence *e,
                         struct log_peaks *p)
{
    memset(p, 0, sizeof *p);
    for (raft_id id = 1; e->logs != NULL && id <= j->s->nodes; id++) {
        const struct cluster_log_stats *l = &e->logs[id];
        p->taken += l->snapshots_taken;
        if (l->snapshot_bytes_max_index != 0 &&
            (p->snap_node == 0 || l->snapshot_bytes_max > p->snap_bytes)) {
            p->snap_node = id;
            p->snap_bytes = l->snapshot_bytes_max;
            p->snap_index = l->snapshot_bytes_max_index;
        }
        if (l->compacted_entries_max_index != 0 &&
            (p->compacted_node == 0 ||
             l->compacted_entries_max > p->compacted_entries)) {
            p->compacted_node = id;
            p->compacted_entries = l->compacted_entries_max;
            p->compacted_index = l->compacted_entries_max_index;
        }
        if (l->up && (p->end_node == 0 || l->entries > p->end_entries)) {
            p->end_node = id;
            p->end_entries = l->entries;
        }
    }
}

/* "no leader    in 1..2 s: none seen; in 5..6 s: node 3 led at 5.2 s". */
static void print_windows(FILE *f,
                          const char *label,
                          const struct window_watch *w,
                          const struct scenario_window *sw,
                          unsigned n,
                          bool terms)
{
    if (n == 0) {
        return;
    }
    fprintf(f, "  %-12s", label);
    for (unsigned k = 0; k < n; k++) {
        fprintf(f, "%s in %g..%g s: ", k ? ";" : "", sw[k].from_s, sw[k].to_s);
        if (!w[k].reached) {
            fprintf(f, "not reached");
        } else if (!w[k].broken) {
            fprintf(f, terms ? "unchanged" : "none seen");
        } else if (terms) {
            fprintf(f, "node %llu went from term %llu to %llu at %.3f s",
                    (unsigned long long)w[k].node,
                    (unsigned long long)w[k].first_term,
                    (unsigned long long)w[k].term,
                    (double)w[k].broken_at / 1e9);
        } else {
            fprintf(f, "node %llu led term %llu at %.3f s",
                    (unsigned long long)w[k].node,
                    (unsigned long long)w[k].term,
                    (double)w[k].broken_at / 1e9);
        }
    }
    fprintf(f, "\n");
}

/* The summary's lines on snapshots, logs, faults that ended and
 * windows. */
static void print_expectation_figures(FILE *f,
                                      const struct judge *j,
                                      const struct judge_evidence *e,
                                      const struct progress *p,
                                      const struct log_peaks *lp)
{
    const struct scenario_expect *ex = &j->s->expect;
    fprintf(f, "  snapshots    %llu installed by InstallSnapshot",
            (unsigned long long)e->snapshots_installed);
    if (lp->snap_node != 0) {
        fprintf(f, ", %llu taken; largest %llu bytes (node %llu, index %llu)",
                (unsigned long long)lp->taken,
                (unsigned long long)lp->snap_bytes,
                (unsigned long long)lp->snap_node,
                (unsigned long long)lp->snap_index);
    }
    fprintf(f, "\n");
    if (lp->compacted_node != 0 || lp->end_node != 0) {
        fprintf(f, "  log          ");
        if (lp->compacted_node != 0) {
            fprintf(f,
                    "at most %llu entries in memory after a compaction "
                    "(node %llu, index %llu); ",
                    (unsigned long long)lp->compacted_entries,
                    (unsigned long long)lp->compacted_node,
                    (unsigned long long)lp->compacted_index);
        }
        if (lp->end_node != 0) {
            fprintf(f, "at the end at most %llu (node %llu)",
                    (unsigned long long)lp->end_entries,
                    (unsigned long long)lp->end_node);
        } else {
            fprintf(f, "no node up at the end");
        }
        fprintf(f, "\n");
    }
    if (j->n_ends > 0 && !p->oom) {
        const struct fault_end *w = &j->ends[p->worst];
        fprintf(f,
                "  progress     %zu %s ended; the longest wait for an ok op "
                "after one: ",
                j->n_ends, j->n_ends == 1 ? "fault" : "faults");
        if (p->worst_none) {
            fprintf(f, "none came");
        } else {
            fprintf(f, "%.0f ms", (double)p->worst_wait / 1e6);
        }
        fprintf(f, " (after '%s' at %.3f s)\n", w->what, (double)w->at / 1e9);
    }
    print_windows(f, "no leader", j->no_leader, ex->no_leader, ex->n_no_leader,
                  false);
    print_windows(f, "terms", j->terms, ex->term_unchanged,
                  ex->n_term_unchanged, true);
}

static void print_summary(FILE *f,
                          const struct judge *j,
                          const struct judge_evidence *e,
                          const struct tally *t,
                          const struct monitor_stats *ms,
                          const struct progress *p,
                          const struct log_peaks *lp,
                          const char *verdict,
                          double check_s)
{
    const struct scenario *s = j->s;
    double run_s = e->run_s;
    fprintf(f, "\nscenario %s: %u nodes, %u clients, seed %llu, %.1f s\n",
            s->name, s->nodes, s->clients.count, (unsigned long long)s->seed,
            s->duration_s);
    /* A cas that found another value is an answer, not an error: it has
     * its own column, and "fail" counts the operations refused. */
    fprintf(f, "  %-8s %9s %9s %9s %9s %9s\n", "op", "ok", "mismatch", "fail",
            "info", "total");
    uint64_t tot[5] = {0};
    uint64_t tot_mm = 0;
    for (int op = 1; op <= KV_OP_MAX; op++) {
        uint64_t ok = t->by[op][KV_EVENT_OK];
        uint64_t mm = t->mismatch[op];
        uint64_t fl = t->by[op][KV_EVENT_FAIL] - mm;
        uint64_t in = t->by[op][KV_EVENT_INFO];
        tot[KV_EVENT_OK] += ok;
        tot[KV_EVENT_FAIL] += fl;
        tot[KV_EVENT_INFO] += in;
        tot_mm += mm;
        fprintf(f, "  %-8s %9llu %9llu %9llu %9llu %9llu\n", kv_op_name(op),
                (unsigned long long)ok, (unsigned long long)mm,
                (unsigned long long)fl, (unsigned long long)in,
                (unsigned long long)(ok + mm + fl + in));
    }
    fprintf(f, "  %-8s %9llu %9llu %9llu %9llu %9llu\n", "all",
            (unsigned long long)tot[KV_EVENT_OK], (unsigned long long)tot_mm,
            (unsigned long long)tot[KV_EVENT_FAIL],
            (unsigned long long)tot[KV_EVENT_INFO],
            (unsigned long long)(tot[1] + tot_mm + tot[2] + tot[3] + tot[4]));
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
            (double)j->max_leaderless / 1e6);
    fprintf(f, "  committed    %llu entries (applied %llu times in all)\n",
            (unsigned long long)ms->committed, (unsigned long long)ms->applied);
    print_expectation_figures(f, j, e, p, lp);
    print_disks_and_sessions(f, j);
    fprintf(f, "  checker      %s in %.3f s\n", verdict, check_s);
}

/* The summary's line on crash_after faults, for scenarios that arm them:
 * how many fired (the run hit the window it aims at), of each kind. */
static void print_crash_after(FILE *f, const struct judge_evidence *e)
{
    if (!e->crash_after_used) {
        return;
    }
    fprintf(f,
            "  crash_after  %llu fired (%llu after a vote, %llu after an "
            "ack)\n",
            (unsigned long long)(e->crash_after_votes + e->crash_after_acks),
            (unsigned long long)e->crash_after_votes,
            (unsigned long long)e->crash_after_acks);
}

/* The linearizability checker's verdict on the whole history. Sets
 * *@verdict and *@check_s for the summary. */
static void check_history(struct judge *j,
                          const struct judge_evidence *e,
                          const char **verdict,
                          double *check_s)
{
    j->h = checker_history_new();
    if (j->h == NULL || build_history(e->events, e->n_events, j->h) != 0) {
        judge_fail(
            j, "checker: cannot build the history: %s",
            j->h != NULL ? checker_history_error(j->h) : "out of memory");
        return;
    }
    checker_history_set_name(j->h, "history.jsonl");
    struct checker_options co;
    checker_options_init(&co);
    co.model = CHECKER_MODEL_KV;
    co.model_set = true;
    co.timeout_s = j->o->check_timeout_s;
    if (checker_check(j->h, &co, &j->cres) != 0) {
        judge_fail(j, "checker: %s", checker_history_error(j->h));
        return;
    }
    *verdict = checker_verdict_name(j->cres->verdict);
    *check_s = j->cres->elapsed_s;
    if (j->cres->verdict == CHECKER_NOT_LINEARIZABLE) {
        judge_fail(j,
                   "linearizability: the history is not "
                   "linearizable (see the checker report)");
    } else if (j->cres->verdict == CHECKER_UNKNOWN) {
        j->unknown = true;
    }
}

/* expect.no_leader and expect.term_unchanged: the first breach of each
 * window. */
static void check_windows(struct judge *j)
{
    const struct scenario_expect *ex = &j->s->expect;
    for (unsigned k = 0; k < ex->n_no_leader; k++) {
        const struct window_watch *w = &j->no_leader[k];
        if (w->broken) {
            judge_fail(j,
                       "no_leader: node %llu led term %llu at %.3f s, inside "
                       "the window %g..%g s",
                       (unsigned long long)w->node, (unsigned long long)w->term,
                       (double)w->broken_at / 1e9, ex->no_leader[k].from_s,
                       ex->no_leader[k].to_s);
        }
    }
    for (unsigned k = 0; k < ex->n_term_unchanged; k++) {
        const struct window_watch *w = &j->terms[k];
        if (w->broken) {
            judge_fail(
                j,
                "term_unchanged: node %llu's term went from %llu to "
                "%llu at %.3f s, inside the window %g..%g s",
                (unsigned long long)w->node, (unsigned long long)w->first_term,
                (unsigned long long)w->term, (double)w->broken_at / 1e9,
                ex->term_unchanged[k].from_s, ex->term_unchanged[k].to_s);
        }
    }
}

/* expect.progress_within_ms. */
static void check_progress(struct judge *j, const struct progress *p)
{
    unsigned limit = j->s->expect.progress_within_ms;
    if (limit == 0) {
        return;
    }
    if (j->ends_oom || p->oom) {
        judge_fail(j, "progress_within_ms: out of memory checking it");
        return;
    }
    if (p->misses == 0) {
        return;
    }
    const struct fault_end *m = &j->ends[p->first_miss];
    char next[64];
    if (p->first_none) {
        snprintf(next, sizeof next, "none after it");
    } else {
        snprintf(next, sizeof next, "the next at %.3f s",
                 (double)p->first_next / 1e9);
    }
    judge_fail(j,
               "progress_within_ms: %zu of %zu faults that ended were not "
               "followed by an ok operation within %u ms; first: '%s' at "
               "%.3f s (%s)",
               p->misses, j->n_ends, limit, m->what, (double)m->at / 1e9, next);
}

/* expect.max_snapshot_bytes and expect.max_log_entries. */
static void check_logs(struct judge *j, const struct log_peaks *lp)
{
    const struct scenario_expect *ex = &j->s->expect;
    if (ex->max_snapshot_bytes > 0 && lp->snap_node != 0 &&
        lp->snap_bytes > ex->max_snapshot_bytes) {
        judge_fail(j,
                   "max_snapshot_bytes: node %llu's snapshot at index %llu is "
                   "%llu bytes (limit %llu)",
                   (unsigned long long)lp->snap_node,
                   (unsigned long long)lp->snap_index,
                   (unsigned long long)lp->snap_bytes,
                   (unsigned long long)ex->max_snapshot_bytes);
    }
    if (ex->max_log_entries == 0) {
        return;
    }
    if (lp->compacted_node != 0 &&
        lp->compacted_entries > ex->max_log_entries) {
        judge_fail(j,
                   "max_log_entries: node %llu held %llu log entries in "
                   "memory right after compacting to index %llu (limit %llu)",
                   (unsigned long long)lp->compacted_node,
                   (unsigned long long)lp->compacted_entries,
                   (unsigned long long)lp->compacted_index,
                   (unsigned long long)ex->max_log_entries);
    }
    if (lp->end_node != 0 && lp->end_entries > ex->max_log_entries) {
        judge_fail(j,
                   "max_log_entries: node %llu held %llu log entries in "
                   "memory at the end of the run (limit %llu)",
                   (unsigned long long)lp->end_node,
                   (unsigned long long)lp->end_entries,
                   (unsigned long long)ex->max_log_entries);
    }
}

/* The scenario's expectations (expect:). */
static void check_expectations(struct judge *j,
                               const struct judge_evidence *e,
                               const struct progress *p,
                               const struct log_peaks *lp)
{
    const struct scenario_expect *ex = &j->s->expect;
    if (j->ok_ops < ex->min_ok) {
        judge_fail(j, "min_ok: %llu ops succeeded, expected at least %llu",
                   (unsigned long long)j->ok_ops,
                   (unsigned long long)ex->min_ok);
    }
    if (ex->leader_within_ms_after_heal > 0) {
        uint64_t limit = ex->leader_within_ms_after_heal * COMMON_NS_PER_MS;
        if (j->heal_never_led) {
            judge_fail(j,
                       "leader_within_ms_after_heal: no leader after the heal "
                       "at %.3f s before the run ended",
                       (double)j->heal_at / 1e9);
        } else if (j->worst_heal_to_leader > limit) {
            judge_fail(j,
                       "leader_within_ms_after_heal: %.0f ms without a leader "
                       "after the heal at %.3f s (limit %u ms)",
                       (double)j->worst_heal_to_leader / 1e6,
                       (double)j->worst_heal_at / 1e9,
                       ex->leader_within_ms_after_heal);
        }
    }
    if (ex->max_leaderless_ms > 0 &&
        j->max_leaderless > ex->max_leaderless_ms * COMMON_NS_PER_MS) {
        judge_fail(j, "max_leaderless_ms: %.0f ms without a leader (limit %u)",
                   (double)j->max_leaderless / 1e6, ex->max_leaderless_ms);
    }
    if (ex->no_ok_on_minority) {
        check_minority(j, e);
    }
    if (e->snapshots_installed < ex->min_snapshot_installs) {
        judge_fail(j,
                   "min_snapshot_installs: %llu snapshots installed by "
                   "InstallSnapshot, expected at least %u",
                   (unsigned long long)e->snapshots_installed,
                   ex->min_snapshot_installs);
    }
    check_windows(j);
    check_progress(j, p);
    check_logs(j, lp);
}

/* Disk faults: a node whose disk failed sent nothing after it in the
 * same life (docs/scenarios.md, per_node disk), and stopped. Also counts
 * the session expiries for the summary. */
static void check_disks_and_sessions(struct judge *j,
                                     const struct judge_evidence *e)
{
    for (size_t k = 0; k < e->n_events; k++) {
        const char *err = e->events[k].error;
        if (err != NULL && strcmp(err, "session-expired") == 0) {
            j->expired++;
        }
    }
    j->disks = e->disks;
    for (unsigned k = 0; e->disks != NULL && k < j->s->nodes; k++) {
        const struct cluster_disk_report *r = &e->disks[k];
        if (r->sent_after > 0 || r->acked_after > 0) {
            judge_fail(j,
                       "disk: node %u sent %llu Raft messages and %llu "
                       "answers after its disk failed",
                       k + 1, (unsigned long long)r->sent_after,
                       (unsigned long long)r->acked_after);
        }
        if (r->injected.enospc + r->injected.sync_eio > 0 && r->stops == 0) {
            judge_fail(j, "disk: node %u's disk failed but it never stopped",
                       k + 1);
        }
    }
}

void judge_check(struct judge *j, const struct judge_evidence *e)
{
    struct monitor_stats ms;
    monitor_stats(e->monitor, &ms);
    if (!monitor_ok(e->monitor)) {
        char v[512];
        monitor_violation(e->monitor, v, sizeof v);
        judge_fail(j, "safety: %s", v);
    }
    if (e->history_incomplete) {
        judge_fail(j, "the history is incomplete: out of memory recording it");
    }
    const char *verdict = "not run";
    double check_s = 0;
    check_history(j, e, &verdict, &check_s);

    struct tally t;
    memset(&t, 0, sizeof t);
    tally_ops(j, e->events, e->n_events, !j->o->quiet || j->o->json, &t);
    for (int op = 1; op <= KV_OP_MAX; op++) {
        j->ok_ops += t.by[op][KV_EVENT_OK];
        j->sum.ok[op] = t.by[op][KV_EVENT_OK];
        j->sum.mismatch[op] = t.mismatch[op];
        j->sum.fail[op] = t.by[op][KV_EVENT_FAIL] - t.mismatch[op];
        j->sum.info[op] = t.by[op][KV_EVENT_INFO];
    }
    j->sum.p50_ms = pct_ms(&t, 0.50);
    j->sum.p99_ms = pct_ms(&t, 0.99);
    j->sum.max_ms = pct_ms(&t, 1.0);
    j->sum.run_s = e->run_s;
    j->sum.terms_with_leader = ms.terms_with_leader;
    j->sum.highest_term = ms.highest_term;
    j->sum.committed = ms.committed;
    j->sum.messages = e->messages;
    j->sum.applied = ms.applied;
    j->sum.verdict = verdict;
    j->sum.check_s = check_s;
    struct progress p;
    struct log_peaks lp;
    measure_progress(j, e, &p);
    measure_logs(j, e, &lp);
    check_expectations(j, e, &p, &lp);
    check_disks_and_sessions(j, e);

    if (!j->o->quiet) {
        print_summary(stdout, j, e, &t, &ms, &p, &lp, verdict, check_s);
        print_crash_after(stdout, e);
        if (e->membership_used) {
            fprintf(stdout, "  membership   %llu changes done, %llu given up\n",
                    (unsigned long long)e->membership_done,
                    (unsigned long long)e->membership_given_up);
        }
        if (j->cres != NULL && j->cres->verdict == CHECKER_NOT_LINEARIZABLE) {
            checker_result_write_text(stdout, j->h, j->cres);
        }
    }
    free(t.lat);
}

unsigned judge_failures(const struct judge *j, const char **out, unsigned max)
{
    unsigned n = j->n_failures < max ? j->n_failures : max;
    for (unsigned k = 0; k < n; k++) {
        out[k] = j->failures[k];
    }
    return n;
}

const struct checker_history *judge_history(const struct judge *j)
{
    return j->cres != NULL ? j->h : NULL;
}

const struct checker_result *judge_checker_result(const struct judge *j)
{
    return j->cres;
}

int judge_exit_code(const struct judge *j)
{
    return j->n_failures > 0 ? COMMON_EXIT_FAILED
           : j->unknown      ? COMMON_EXIT_UNKNOWN
                             : COMMON_EXIT_OK;
}

/* The summary as one JSON object on one line (docs/scenarios.md), built
 * in memory and printed whole. */
static void print_json(const struct judge *j, int rc)
{
    const struct scenario *s = j->s;
    struct common_vec v;
    common_vec_init(&v);
    int e = common_vec_appendf(&v, "{\"scenario\":");
    e = e ? e : common_vec_append_json(&v, s->name);
    e = e ? e
          : common_vec_appendf(
                &v,
                ",\"mode\":\"%s\",\"seed\":%llu,\"nodes\":%u,\"clients\":%u,"
                "\"duration_s\":%.3f,\"result\":\"%s\",\"failures\":[",
                j->o->sim ? "sim" : "threads", (unsigned long long)s->seed,
                s->nodes, s->clients.count, s->duration_s,
                rc == COMMON_EXIT_OK       ? "pass"
                : rc == COMMON_EXIT_FAILED ? "fail"
                                           : "unknown");
    for (unsigned k = 0; e == 0 && k < j->n_failures; k++) {
        e = k > 0 ? common_vec_appendf(&v, ",") : 0;
        e = e ? e : common_vec_append_json(&v, j->failures[k]);
    }
    e = e ? e : common_vec_appendf(&v, "],\"ops\":{");
    uint64_t all[4] = {0};
    for (int op = 1; e == 0 && op <= KV_OP_MAX; op++) {
        uint64_t c[4] = {j->sum.ok[op], j->sum.mismatch[op], j->sum.fail[op],
                         j->sum.info[op]};
        e = common_vec_appendf(
            &v,
            "\"%s\":{\"ok\":%llu,\"mismatch\":%llu,\"fail\":%llu,"
            "\"info\":%llu},",
            kv_op_name(op), (unsigned long long)c[0], (unsigned long long)c[1],
            (unsigned long long)c[2], (unsigned long long)c[3]);
        for (int k = 0; k < 4; k++) {
            all[k] += c[k];
        }
    }
    e = e ? e
          : common_vec_appendf(
                &v,
                "\"all\":{\"ok\":%llu,\"mismatch\":%llu,\"fail\":%llu,"
                "\"info\":%llu}},\"ok_per_s\":%.1f,\"latency_ms\":{"
                "\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
                "\"terms_with_leader\":%llu,\"highest_term\":%llu,"
                "\"longest_leaderless_ms\":%.0f,\"committed\":%llu,"
                "\"applied\":%llu,\"messages\":%llu,\"checker\":{\"verdict\":",
                (unsigned long long)all[0], (unsigned long long)all[1],
                (unsigned long long)all[2], (unsigned long long)all[3],
                j->sum.run_s > 0 ? (double)all[0] / j->sum.run_s : 0.0,
                j->sum.p50_ms, j->sum.p99_ms, j->sum.max_ms,
                (unsigned long long)j->sum.terms_with_leader,
                (unsigned long long)j->sum.highest_term,
                (double)j->max_leaderless / 1e6,
                (unsigned long long)j->sum.committed,
                (unsigned long long)j->sum.applied,
                (unsigned long long)j->sum.messages);
    e = e ? e
          : common_vec_append_json(
                &v, j->sum.verdict != NULL ? j->sum.verdict : "not run");
    e = e ? e : common_vec_appendf(&v, ",\"seconds\":%.3f}}\n", j->sum.check_s);
    if (e == 0) {
        fwrite(v.data, 1, v.len, stdout);
    } else {
        printf("{\"error\":\"out of memory\"}\n");
    }
    common_vec_fini(&v);
}

/* Prints @fmt as (part of) the result line, and copies it to the
 * caller's result_out when there is one. */
static void result_part(struct judge *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void result_part(struct judge *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    char *out = j->o->result_out;
    if (out != NULL) {
        size_t at = strlen(out);
        va_start(ap, fmt);
        vsnprintf(out + at, HARNESS_RESULT_MAX - at, fmt, ap);
        va_end(ap);
    }
}

int judge_result(struct judge *j)
{
    const struct scenario *s = j->s;
    if (j->o->result_out != NULL) {
        j->o->result_out[0] = '\0';
    }
    int rc = COMMON_EXIT_OK;
    if (j->n_failures > 0) {
        result_part(j, "FAIL %s:", s->name);
        for (unsigned k = 0; k < j->n_failures; k++) {
            result_part(j, "%s %s", k ? ";" : "", j->failures[k]);
        }
        rc = COMMON_EXIT_FAILED;
    } else if (j->unknown) {
        result_part(
            j, "UNKNOWN %s: the checker ran out of its %.0f s budget (%s)",
            s->name, j->o->check_timeout_s,
            j->cres->unknown_why != NULL ? j->cres->unknown_why : "timeout");
        rc = COMMON_EXIT_UNKNOWN;
    } else {
        result_part(j,
                    "PASS %s: %llu ok ops, linearizable, safety held, "
                    "expectations met",
                    s->name, (unsigned long long)j->ok_ops);
    }
    printf("\n");
    if (j->o->json) {
        print_json(j, rc);
    }
    return rc;
}
