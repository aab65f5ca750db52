/*
 * storage_random: seeded randomized trials of the WAL over the in-memory
 * file system with crashes.
 *
 * Each trial draws a segment size, then runs a few hundred operations:
 * batches (hard states, truncations, entries of random sizes), snapshots
 * (ones the log holds and ones that replace it), crashes (torn or not)
 * followed by recovery, reopenings, and operations with a failure
 * injected into one of their file calls (append, fdatasync, directory
 * fsync), after which the storage must be failed and recovery - with or
 * without a crash first - must give back the state from before the
 * operation or the state after it, whole. A model of what was
 * acknowledged is compared after every recovery: every acknowledged entry
 * and hard state must be there, nothing else may appear, and load must
 * never refuse to start.
 *
 * Usage: storage_random [SEED] [TRIALS]. Without arguments it runs 600
 * trials from seed 1; a failing trial prints its seed, and passing that
 * seed back alone reruns exactly that trial.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

static uint64_t first_seed = 1;
static uint64_t trials = 600;

/* Totals over all trials, printed so that a run shows it did real work. */
static struct
{
    uint64_t batches;
    uint64_t entries;
    uint64_t truncations;
    uint64_t snapshots;
    uint64_t replacing_snapshots;
    uint64_t crashes;
    uint64_t torn_crashes;
    uint64_t failures;
    uint64_t failed_ops_recovered_after; /* failed, yet recovered whole */
    uint64_t notes;
} totals;

struct trial
{
    uint64_t seed;
    struct common_prng p;
    struct storage_fs *fs;
    struct storage *s;
    uint64_t segment_bytes;
    struct th_model acked;
    raft_term term;
    char why[512];
};

static bool fail_trial(struct trial *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool fail_trial(struct trial *t, const char *fmt, ...)
{
    if (t->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->why, sizeof t->why, fmt, ap);
        va_end(ap);
    }
    return false;
}

static uint64_t below(struct trial *t, uint64_t n)
{
    return common_prng_below(&t->p, n);
}

static bool chance(struct trial *t, double p)
{
    return common_prng_chance(&t->p, p);
}

static raft_index base_of(const struct th_model *m)
{
    return m->has_snapshot ? m->snap.index : 0;
}

/* An operation: a batch or a snapshot, with what it is made of. */
struct op
{
    bool is_snapshot;
    struct raft_hard_state hs;
    struct storage_batch batch;
    struct th_entries entries;
    struct storage_snapshot_meta meta;
    uint8_t data[600];
    size_t data_len;
};

/* A batch as a Raft node might write: term changes come with hard
 * states, truncations only above the commit index and are followed by
 * entries of a newer term, commit never passes the batch's last entry. */
static void draw_batch(struct trial *t, struct op *op)
{
    const struct th_model *m = &t->acked;
    raft_index last = th_model_last(m);
    raft_index floor = base_of(m) > m->hs.commit ? base_of(m) : m->hs.commit;
    memset(op, 0, sizeof *op);
    op->hs = m->hs;
    raft_index first = last + 1;
    if (last > floor && chance(t, 0.15)) {
        op->batch.truncate_from = floor + 1 + below(t, last - floor);
        first = op->batch.truncate_from;
        t->term++;
        totals.truncations++;
    } else if (chance(t, 0.05)) {
        t->term++;
    }
    size_t n = (size_t)below(t, 25);
    if (n == 0 && op->batch.truncate_from == 0 && chance(t, 0.5)) {
        n = 1;
    }
    size_t len =
        chance(t, 0.05) ? 2000 + (size_t)below(t, 3000) : (size_t)below(t, 200);
    th_entries_make(&op->entries, first, n, t->term, len, below(t, 1000));
    op->batch.entries = op->entries.e;
    op->batch.n_entries = n;
    raft_index new_last = n > 0 ? first + n - 1 : first - 1;
    if (op->hs.term != t->term || chance(t, 0.5)) {
        op->hs.term = t->term;
        op->hs.vote = below(t, 6);
        if (new_last > op->hs.commit) {
            op->hs.commit += below(t, new_last - op->hs.commit + 1);
        }
        op->batch.hard_state = &op->hs;
    }
}

/* A snapshot: mostly of a prefix of the log the log holds, sometimes one
 * the log does not hold (another term, or beyond its end) which replaces
 * it. Never behind the snapshot held, never replacing committed entries. */
static bool draw_snapshot(struct trial *t, struct op *op)
{
    const struct th_model *m = &t->acked;
    raft_index last = th_model_last(m);
    raft_index base = base_of(m);
    memset(op, 0, sizeof *op);
    op->is_snapshot = true;
    op->meta.conf = th_conf(1 + (unsigned)below(t, 5));
    op->data_len = (size_t)below(t, sizeof op->data + 1);
    for (size_t k = 0; k < op->data_len; k++) {
        op->data[k] = (uint8_t)common_prng_next(&t->p);
    }
    if (chance(t, 0.8)) {
        raft_index lo = base > 0 ? base : 1;
        if (last < lo || (base > 0 && !m->has_snapshot)) {
            return false;
        }
        op->meta.index = lo + below(t, last - lo + 1);
        op->meta.term = th_model_term_at(m, op->meta.index);
        return op->meta.term != 0;
    }
    raft_index lo = base > m->hs.commit ? base : m->hs.commit;
    if (lo == 0) {
        lo = 1;
    }
    op->meta.index = lo + below(t, last + 20 - lo + 1);
    t->term++;
    op->meta.term = t->term;
    totals.replacing_snapshots++;
    return true;
}

static int run_op(struct trial *t, struct op *op)
{
    if (op->is_snapshot) {
        return storage_save_snapshot(t->s, &op->meta, op->data, op->data_len);
    }
    return storage_write(t->s, &op->batch);
}

static void apply_op(struct th_model *m, const struct op *op)
{
    if (op->is_snapshot) {
        th_model_snapshot(m, &op->meta, op->data, op->data_len);
    } else {
        th_model_write(m, &op->batch);
    }
}

static void op_free(struct op *op)
{
    th_entries_free(&op->entries);
}

/* Opens a new WAL over the fs and loads it: the state must be @a or (if
 * not NULL) @b; *which says which one (0 or 1). A hard state the old WAL
 * held (commit only, not yet written) is gone with it, in both. */
static bool reopen_expect(struct trial *t,
                          struct th_model *a,
                          struct th_model *b,
                          int *which,
                          bool clean)
{
    th_model_reopened(a);
    if (b != NULL) {
        th_model_reopened(b);
    }
    storage_free(t->s);
    struct storage_wal_options o;
    storage_wal_options_default(&o);
    o.segment_bytes = t->segment_bytes;
    t->s = NULL;
    if (storage_wal_new(t->fs, &o, &t->s) != 0) {
        return fail_trial(t, "storage_wal_new failed");
    }
    struct storage_state st;
    int rv = storage_load(t->s, &st);
    if (rv != 0) {
        return fail_trial(t, "recovery refused: %s: %s", common_strerror(rv),
                          storage_error(t->s));
    }
    if (st.recovery_note[0] != '\0') {
        totals.notes++;
        if (clean) {
            return fail_trial(t, "recovery after clean operations says: %s",
                              st.recovery_note);
        }
    }
    char why_a[256];
    char why_b[256] = "";
    if (th_model_matches(a, &st, why_a, sizeof why_a)) {
        *which = 0;
        return true;
    }
    if (b != NULL && th_model_matches(b, &st, why_b, sizeof why_b)) {
        *which = 1;
        return true;
    }
    return fail_trial(t,
                      "recovered state is neither before (%s) nor after "
                      "(%s) the last operation",
                      why_a, why_b);
}

/* An operation with a failure injected into one of its file calls. */
static bool failing_op(struct trial *t, struct op *op)
{
    static const enum storage_fs_op kinds[] = {
        STORAGE_FS_APPEND, STORAGE_FS_SYNC, STORAGE_FS_SYNC_DIR};
    enum storage_fs_op kind = kinds[below(t, 3)];
    int error = chance(t, 0.5) ? COMMON_EIO : COMMON_ENOSPACE;
    storage_fs_mem_fail(t->fs, kind, (int)below(t, 5), error);
    int rv = run_op(t, op);
    storage_fs_mem_fail(t->fs, kind, -1, 0);
    struct th_model after;
    th_model_copy(&after, &t->acked);
    apply_op(&after, op);
    if (rv == 0) {
        th_model_free(&t->acked);
        t->acked = after;
        return true;
    }
    totals.failures++;
    if (rv != error) {
        th_model_free(&after);
        return fail_trial(t, "injected %s, got %s: %s", common_strerror(error),
                          common_strerror(rv), storage_error(t->s));
    }
    struct storage_batch nothing = {&t->acked.hs, 0, NULL, 0};
    if (storage_write(t->s, &nothing) != COMMON_EIO ||
        strncmp(storage_error(t->s), "storage failed earlier: mem", 27) != 0) {
        th_model_free(&after);
        return fail_trial(t, "the storage went on after a failure: %s",
                          storage_error(t->s));
    }
    if (chance(t, 0.7)) {
        bool tear = chance(t, 0.5);
        totals.crashes++;
        totals.torn_crashes += tear;
        storage_fs_mem_crash(t->fs, tear);
    }
    int which = 0;
    bool ok = reopen_expect(t, &t->acked, &after, &which, false);
    if (ok && which == 1) {
        totals.failed_ops_recovered_after++;
        th_model_free(&t->acked);
        t->acked = after;
    } else {
        th_model_free(&after);
    }
    return ok;
}

static bool run_trial(uint64_t seed, char *why, size_t why_len)
{
    struct trial t;
    memset(&t, 0, sizeof t);
    t.seed = seed;
    common_prng_seed(&t.p, seed);
    static const uint64_t sizes[] = {200, 700, 3000, 20000, 1 << 20};
    t.segment_bytes = sizes[below(&t, 5)];
    th_model_init(&t.acked);
    t.term = 1;
    bool ok = storage_fs_mem_new(seed, &t.fs) == 0;
    struct storage_wal_options o;
    storage_wal_options_default(&o);
    o.segment_bytes = t.segment_bytes;
    ok = ok && storage_wal_new(t.fs, &o, &t.s) == 0;
    unsigned steps = 100 + (unsigned)below(&t, 200);
    for (unsigned k = 0; ok && k < steps; k++) {
        uint64_t dice = below(&t, 100);
        struct op op;
        if (dice < 60) {
            draw_batch(&t, &op);
            totals.batches++;
            totals.entries += op.batch.n_entries;
        } else if (dice < 70) {
            if (!draw_snapshot(&t, &op)) {
                continue;
            }
            totals.snapshots++;
        } else if (dice < 82) {
            /* Both kinds of operation can fail. */
            if (dice < 78 || !draw_snapshot(&t, &op)) {
                draw_batch(&t, &op);
            }
            ok = failing_op(&t, &op);
            op_free(&op);
            continue;
        } else {
            int which;
            if (dice < 94) {
                bool tear = chance(&t, 0.5);
                totals.crashes++;
                totals.torn_crashes += tear;
                storage_fs_mem_crash(t.fs, tear);
            }
            ok = reopen_expect(&t, &t.acked, NULL, &which, true);
            continue;
        }
        int rv = run_op(&t, &op);
        if (rv != 0) {
            ok = fail_trial(&t, "step %u: %s failed: %s: %s", k,
                            op.is_snapshot ? "snapshot" : "write",
                            common_strerror(rv), storage_error(t.s));
        } else {
            apply_op(&t.acked, &op);
        }
        op_free(&op);
        /* Now and then, the live storage's view too. */
        if (ok && chance(&t, 0.1)) {
            struct storage_state st;
            char w[256];
            if (storage_load(t.s, &st) != 0) {
                ok = fail_trial(&t, "load: %s", storage_error(t.s));
            } else if (!th_model_matches(&t.acked, &st, w, sizeof w)) {
                ok = fail_trial(&t, "live load differs: %s", w);
            }
        }
    }
    if (ok) {
        int which;
        storage_fs_mem_crash(t.fs, true);
        ok = reopen_expect(&t, &t.acked, NULL, &which, true);
    }
    snprintf(why, why_len, "%s", t.why);
    storage_free(t.s);
    storage_fs_free(t.fs);
    th_model_free(&t.acked);
    return ok;
}

/* A crash (a failed assertion, a bad pointer) must still name the seed
 * that reproduces it: the line is written before each trial, and the
 * handler only writes it out and lets the signal go on to cmocka. */
static char crash_line[96];
static size_t crash_line_len;
static struct sigaction previous[32];

static void on_fatal_signal(int sig)
{
    ssize_t w = write(STDERR_FILENO, crash_line, crash_line_len);
    (void)w;
    sigaction(sig, &previous[sig], NULL);
    raise(sig);
}

static void catch_fatal_signals(void)
{
    const int sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        sigaction(sigs[k], &sa, &previous[sigs[k]]);
    }
}

/* Hundreds of seeded trials: after every crash, failure and reopening,
 * recovery succeeds and holds exactly what was acknowledged (or, for a
 * failed operation, all of it or none of it). */
static void random_trials_recover_what_was_acknowledged(void **state)
{
    (void)state;
    catch_fatal_signals();
    uint64_t failed = 0;
    for (uint64_t k = 0; k < trials; k++) {
        uint64_t seed = first_seed + k;
        int n = snprintf(crash_line, sizeof crash_line,
                         "storage_random: crashed in trial with seed %llu\n",
                         (unsigned long long)seed);
        crash_line_len = n > 0 ? (size_t)n : 0;
        char why[512] = "";
        if (!run_trial(seed, why, sizeof why)) {
            fprintf(stderr,
                    "storage_random: trial failed, seed %llu: %s\n"
                    "  rerun: storage_random %llu\n",
                    (unsigned long long)seed, why, (unsigned long long)seed);
            if (++failed >= 5) {
                break;
            }
        }
    }
    printf(
        "storage_random: %llu trials from seed %llu, %llu failed\n"
        "  batches %llu (entries %llu, truncations %llu), snapshots %llu "
        "(replacing %llu);\n"
        "  crashes %llu (torn %llu), injected failures %llu (recovered "
        "whole after %llu), recovery notes %llu\n",
        (unsigned long long)trials, (unsigned long long)first_seed,
        (unsigned long long)failed, (unsigned long long)totals.batches,
        (unsigned long long)totals.entries,
        (unsigned long long)totals.truncations,
        (unsigned long long)totals.snapshots,
        (unsigned long long)totals.replacing_snapshots,
        (unsigned long long)totals.crashes,
        (unsigned long long)totals.torn_crashes,
        (unsigned long long)totals.failures,
        (unsigned long long)totals.failed_ops_recovered_after,
        (unsigned long long)totals.notes);
    assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        first_seed = strtoull(argv[1], NULL, 10);
        trials = 1;
    }
    if (argc > 2) {
        trials = strtoull(argv[2], NULL, 10);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_trials_recover_what_was_acknowledged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
