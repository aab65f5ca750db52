/*
 * The judge (see judge.h). Failures are collected, in the order found, up
 * to MAX_FAILURES, and all of them go on the result line, so that one run
 * says everything that went wrong with it.
 *
 * The checker sees the workload's events through workload_event_checker,
 * the one conversion, which history.jsonl goes through too: the history
 * the checker judged is the history written. The judge keeps the checker's
 * history and result for the HTML report, which comes after the summary.
 */
#include "judge.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker/checker.h"

#define MAX_FAILURES 16
#define GRACE_NS     (50 * COMMON_NS_PER_MS) /* messages already on the wire */

struct judge
{
    const struct scenario *s;
    const struct harness_options *o;

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
};

struct judge *judge_new(const struct scenario *s,
                        const struct harness_options *o)
{
    struct judge *j = calloc(1, sizeof *j);
    if (j != NULL) {
        j->s = s;
        j->o = o;
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

void judge_watch_leader(struct judge *j, raft_id leader, uint64_t now)
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
    uint64_t by[KV_OP_MAX + 1][5]; /* [op][event type] */
    uint64_t *lat;                 /* ok latencies, ns */
    size_t n_lat;
};

static void tally_ops(const struct judge *j,
                      const struct workload_event *ev,
                      size_t n,
                      struct tally *t)
{
    unsigned clients = j->s->clients.count;
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
                          const struct judge *j,
                          const struct tally *t,
                          const struct monitor_stats *ms,
                          uint64_t installs,
                          const char *verdict,
                          double check_s,
                          double run_s)
{
    const struct scenario *s = j->s;
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
            (double)j->max_leaderless / 1e6);
    fprintf(f, "  committed    %llu entries (applied %llu times in all)\n",
            (unsigned long long)ms->committed, (unsigned long long)ms->applied);
    fprintf(f, "  snapshots    %llu installed by InstallSnapshot\n",
            (unsigned long long)installs);
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

/* The scenario's expectations (expect:). */
static void check_expectations(struct judge *j, const struct judge_evidence *e)
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
    tally_ops(j, e->events, e->n_events, &t);
    for (int op = 1; op <= KV_OP_MAX; op++) {
        j->ok_ops += t.by[op][KV_EVENT_OK];
    }
    check_expectations(j, e);

    if (!j->o->quiet) {
        print_summary(stdout, j, &t, &ms, e->snapshots_installed, verdict,
                      check_s, e->run_s);
        print_crash_after(stdout, e);
        if (j->cres != NULL && j->cres->verdict == CHECKER_NOT_LINEARIZABLE) {
            checker_result_write_text(stdout, j->h, j->cres);
        }
    }
    free(t.lat);
}

void judge_save_report(struct judge *j, const char *path)
{
    if (j->cres != NULL && checker_report_html_save(path, j->h, j->cres) != 0) {
        judge_fail(j, "cannot write %s", path);
    }
}

int judge_result(struct judge *j)
{
    const struct scenario *s = j->s;
    if (j->n_failures > 0) {
        printf("FAIL %s:", s->name);
        for (unsigned k = 0; k < j->n_failures; k++) {
            printf("%s %s", k ? ";" : "", j->failures[k]);
        }
        printf("\n");
        return COMMON_EXIT_FAILED;
    }
    if (j->unknown) {
        printf("UNKNOWN %s: the checker ran out of its %.0f s budget (%s)\n",
               s->name, j->o->check_timeout_s,
               j->cres->unknown_why != NULL ? j->cres->unknown_why : "timeout");
        return COMMON_EXIT_UNKNOWN;
    }
    printf(
        "PASS %s: %llu ok ops, linearizable, safety held, "
        "expectations met\n",
        s->name, (unsigned long long)j->ok_ops);
    return COMMON_EXIT_OK;
}
