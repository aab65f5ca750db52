/*
 * storage_invariants: the WAL's invariants and its encode/decode pair
 * checks are really checked. Each death test builds a WAL over the
 * in-memory file system (several segments, a snapshot, entries of two
 * terms), then in a child process (fork, tests/support/death.c) breaks
 * one fact through the WAL's private state (wal.h) and runs the check: the
 * child must die of SIGABRT, with that fact's assertion on stderr.
 *
 * storage_write() and storage_save_snapshot() run wal_invariants() only
 * in builds with RAFTKV_INVARIANTS (this test then sees
 * STORAGE_INVARIANTS): there a broken WAL must die in them, in other
 * builds it must live on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "death.h"
#include "helpers.h"
#include "wal.h"

struct fixture
{
    struct storage_fs *fs;
    struct storage *s;
    struct th_model m;
};

static struct fixture fx;

static struct wal *wal_of(struct storage *s)
{
    return s->impl;
}

/* Entries 1-24 of term 1 in segments of about 256 bytes, a snapshot at
 * 10, then entries 25-30 of term 2. */
static int setup(void **state)
{
    (void)state;
    assert_int_equal(storage_fs_mem_new(1, &fx.fs), 0);
    struct storage_wal_options o;
    storage_wal_options_default(&o);
    o.segment_bytes = 256;
    assert_int_equal(storage_wal_new(fx.fs, &o, &fx.s), 0);
    th_model_init(&fx.m);
    th_write_batches(fx.s, &fx.m, 6, 4, 1, 8);
    struct storage_snapshot_meta meta = {.index = 10, .term = 1};
    const raft_id ids[] = {1, 2, 3};
    assert_int_equal(raft_configuration_voters(&meta.conf, ids, 3), 0);
    assert_int_equal(storage_save_snapshot(fx.s, &meta, "snap", 4), 0);
    th_model_snapshot(&fx.m, &meta, "snap", 4);
    th_write_batches(fx.s, &fx.m, 2, 3, 2, 8);
    const struct wal *w = wal_of(fx.s);
    assert_true(w->n_segs >= 2 && w->n_runs == 2 && w->has_snapshot);
    wal_invariants(w);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    storage_free(fx.s);
    storage_fs_free(fx.fs);
    th_model_free(&fx.m);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Broken facts, and what children do                                       */
/* ------------------------------------------------------------------------ */

static void check(void *arg)
{
    wal_invariants(wal_of(arg));
}

/* Breaking one fact each, through the WAL's private state. */
static void commit_past_last(struct wal *w)
{
    w->hs.commit = w->last + 1;
}

static void base_off_snapshot(struct wal *w)
{
    w->base++;
}

static void segment_sequence_gap(struct wal *w)
{
    w->segs[w->n_segs - 1].seq++;
}

static void runs_out_of_order(struct wal *w)
{
    w->runs[1].first = w->runs[0].first;
}

static void runs_after_a_gap(struct wal *w)
{
    w->runs[0].first++;
}

static void model_ahead_of_file(struct wal *w)
{
    w->cur_size++;
}

/* A batch whose encoding is compared with another batch: entry 31 of
 * term 2 encoded, entry 31 of term 3 expected. */
static void batch_decodes_to_another(void *arg)
{
    struct wal *w = wal_of(arg);
    struct th_entries e;
    th_entries_make(&e, 31, 1, 2, 8, 0);
    struct storage_batch b = {.entries = e.e, .n_entries = 1};
    assert_int_equal(storage_write(arg, &b), 0);
    e.e[0].term = 3;
    wal_check_batch_encoding(w, &b, 1);
}

/* A segment header record compared with another header. */
static void header_decodes_to_another(void *arg)
{
    (void)arg;
    struct wal_segment_header h = {.seq = 7, .first_index = 40};
    uint8_t payload[WAL_SEGMENT_PAYLOAD];
    wal_encode_segment(payload, &h);
    uint8_t record[WAL_SEGMENT_RECORD];
    wal_record_write(record, WAL_SEGMENT, payload, sizeof payload);
    h.first_index = 41;
    wal_check_header_encoding(record, &h);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

/* A healthy WAL passes, in a child as in the parent. */
static void invariants_hold_on_a_healthy_wal(void **state)
{
    (void)state;
    char err[256];
    assert_false(death_run(check, fx.s, err, sizeof err));
}

/* One broken fact: how it is broken, and the text of the assertion that
 * must name it. */
struct death_case
{
    const char *name;
    void (*corrupt)(struct wal *w);
    const char *expect;
};

static struct death_case deaths[] = {
    /* A hard state committing past the log's end is caught. */
    {"invariants_catch_commit_past_the_log", commit_past_last,
     "w->hs.commit <= w->last"},
    /* A base that is not the snapshot's index is caught. */
    {"invariants_catch_base_off_the_snapshot", base_off_snapshot,
     "w->base == w->snap_index"},
    /* A gap in the segments' sequence numbers is caught. */
    {"invariants_catch_a_segment_gap", segment_sequence_gap,
     "seg->seq == w->segs[k - 1].seq + 1"},
    /* Term runs whose first indexes do not go up are caught. */
    {"invariants_catch_runs_out_of_order", runs_out_of_order,
     "run->first > w->runs[k - 1].first"},
    /* Term runs that do not start right after the snapshot are caught. */
    {"invariants_catch_runs_after_a_gap", runs_after_a_gap,
     "run->first == w->base + 1"},
    /* A model that says more was written than the segment holds is
     * caught. */
    {"invariants_catch_the_model_ahead_of_the_file", model_ahead_of_file,
     "size == w->cur_size"},
};

/* The child: breaks the fact of the case @arg, then checks. */
static void corrupt_and_check(void *arg)
{
    const struct death_case *c = arg;
    struct wal *w = wal_of(fx.s);
    c->corrupt(w);
    wal_invariants(w);
}

static void invariant_is_caught(void **state)
{
    struct death_case *c = *state;
    death_expect(corrupt_and_check, c, c->expect);
}

/* An encoded batch that does not decode to its batch is caught. */
static void pair_check_catches_a_batch_decoding_to_another(void **state)
{
    (void)state;
    death_expect(batch_decodes_to_another, fx.s, "out[j].term == want->term");
}

/* A segment header that does not decode to its header is caught. */
static void pair_check_catches_a_header_decoding_to_another(void **state)
{
    (void)state;
    death_expect(header_decodes_to_another, fx.s,
                 "got.first_index == h->first_index");
}

/* The break below survives both calls: the current segment is never
 * dropped, and a new one follows its (wrong) sequence number. */
static void write_after_break(void *arg)
{
    struct wal *w = wal_of(arg);
    w->segs[w->n_segs - 1].seq++;
    struct raft_hard_state hs = {2, 1, 12};
    struct storage_batch b = {.hard_state = &hs};
    storage_write(arg, &b);
}

static void snapshot_after_break(void *arg)
{
    struct wal *w = wal_of(arg);
    w->segs[w->n_segs - 1].seq++;
    struct storage_snapshot_meta meta = {.index = 12, .term = 1};
    storage_save_snapshot(arg, &meta, "snap", 4);
}

/* storage_write() and storage_save_snapshot() check the invariants when
 * built with RAFTKV_INVARIANTS, and never otherwise: a WAL with a gap in
 * its segments' sequence dies in them, or lives on. */
static void calls_check_invariants_when_built_to(void **state)
{
    (void)state;
#ifdef STORAGE_INVARIANTS
    const bool checked = true;
#else
    const bool checked = false;
#endif
    void (*calls[])(void *) = {write_after_break, snapshot_after_break};
    for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++) {
        char err[4096];
        bool aborted = death_run(calls[k], fx.s, err, sizeof err);
        if (aborted != checked ||
            (checked &&
             strstr(err, "seg->seq == w->segs[k - 1].seq + 1") == NULL)) {
            fail_msg("call %zu: %s (STORAGE_INVARIANTS %s): %s", k,
                     aborted ? "aborted" : "did not abort",
                     checked ? "on" : "off", err);
        }
    }
}

#define N_DEATHS (sizeof deaths / sizeof deaths[0])

int main(void)
{
    struct CMUnitTest tests[N_DEATHS + 4] = {
        cmocka_unit_test_setup_teardown(invariants_hold_on_a_healthy_wal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            pair_check_catches_a_batch_decoding_to_another, setup, teardown),
        cmocka_unit_test_setup_teardown(
            pair_check_catches_a_header_decoding_to_another, setup, teardown),
        cmocka_unit_test_setup_teardown(calls_check_invariants_when_built_to,
                                        setup, teardown),
    };
    for (size_t k = 0; k < N_DEATHS; k++) {
        tests[4 + k] = (struct CMUnitTest){.name = deaths[k].name,
                                           .test_func = invariant_is_caught,
                                           .setup_func = setup,
                                           .teardown_func = teardown,
                                           .initial_state = &deaths[k]};
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
