/*
 * raft_read_index: linearizable reads by ReadIndex (dissertation §6.4).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "single.h"
#include "testnet.h"

static struct captured cap;

static void ack(struct raft *r, raft_id from, raft_index index)
{
    struct raft_message m = {
        .type = RAFT_MSG_APPEND_RESP,
        .from = from,
        .to = raft_self(r),
        .term = raft_current_term(r),
        .append_resp = {.success = true, .index = index},
    };
    single_step(r, &m, &cap);
}

static void hb_ack(struct raft *r, raft_id from, uint64_t context)
{
    struct raft_message m = {
        .type = RAFT_MSG_HEARTBEAT_RESP,
        .from = from,
        .to = raft_self(r),
        .term = raft_current_term(r),
        .heartbeat_resp = {.context = context},
    };
    single_step(r, &m, &cap);
}

/* Only a leader serves reads. */
static void read_index_refused_by_follower(void **state)
{
    (void)state;
    struct single_opts o = {.id = 2, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    assert_int_equal(raft_read_index(r, 1), COMMON_ENOTLEADER);
    raft_free(r);
}

/* A read waits until the leader has committed an entry of its term, then
 * until a quorum answers a heartbeat round sent after the read; it is
 * then released with the commit index. */
static void read_index_waits_for_commit_and_quorum_round(void **state)
{
    (void)state;
    const raft_term log[] = {1, 1};
    struct single_opts o = {.id = 1,
                            .voters = 3,
                            .terms = log,
                            .n_terms = 2,
                            .term = 1,
                            .commit = 2};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    assert_int_equal(raft_read_index(r, 42), 0);
    single_drain(r, &cap);
    assert_int_equal(cap.n_reads, 0);
    /* No heartbeat round yet: the no-op is not committed. */
    assert_null(single_find(&cap, RAFT_MSG_HEARTBEAT, 2));
    ack(r, 2, 3); /* commits the no-op at 3 */
    assert_int_equal(raft_commit_index(r), 3);
    const struct raft_message *hb = single_find(&cap, RAFT_MSG_HEARTBEAT, 2);
    assert_non_null(hb);
    uint64_t round = hb->heartbeat.context;
    assert_true(round > 0);
    assert_int_equal(cap.n_reads, 0);
    hb_ack(r, 3, round - 1); /* an older round does not confirm it */
    assert_int_equal(cap.n_reads, 0);
    hb_ack(r, 3, round);
    assert_int_equal(cap.n_reads, 1);
    assert_int_equal(cap.reads[0].context, 42);
    assert_int_equal(cap.reads[0].index, 3);
    raft_free(r);
}

/* One heartbeat round confirms every read registered before it, in
 * order. */
static void read_index_round_confirms_batch(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    ack(r, 2, raft_last_index(r));
    for (uint64_t k = 1; k <= 5; k++) {
        assert_int_equal(raft_read_index(r, k), 0);
    }
    single_drain(r, &cap);
    const struct raft_message *hb = single_find(&cap, RAFT_MSG_HEARTBEAT, 3);
    assert_non_null(hb);
    hb_ack(r, 3, hb->heartbeat.context);
    assert_int_equal(cap.n_reads, 5);
    for (uint64_t k = 0; k < 5; k++) {
        assert_int_equal(cap.reads[k].context, k + 1);
    }
    raft_free(r);
}

/* A leader that steps down fails its pending reads (index 0). */
static void read_index_failed_on_step_down(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    ack(r, 2, raft_last_index(r));
    raft_read_index(r, 7);
    single_drain(r, &cap);
    struct raft_message m = {.type = RAFT_MSG_HEARTBEAT_RESP,
                             .from = 2,
                             .to = 1,
                             .term = raft_current_term(r) + 1};
    single_step(r, &m, &cap);
    assert_int_equal(raft_role(r), RAFT_FOLLOWER);
    assert_int_equal(cap.n_reads, 1);
    assert_int_equal(cap.reads[0].context, 7);
    assert_int_equal(cap.reads[0].index, 0);
    raft_free(r);
}

/* A single-node cluster confirms reads at once. */
static void read_index_single_node_immediate(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 1, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    assert_int_equal(raft_read_index(r, 9), 0);
    single_drain(r, &cap);
    assert_int_equal(cap.n_reads, 1);
    assert_int_equal(cap.reads[0].index, raft_commit_index(r));
    raft_free(r);
}

/* A single voter's read asked for before its term's no-op is durable is
 * confirmed by the commit of that no-op, and reported by the next update
 * (not lost when the update that made the no-op durable is done). */
static void read_index_single_node_before_first_commit(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 1, .term = 1};
    struct raft *r = single_new(&o);
    raft_campaign(r);
    assert_int_equal(raft_role(r), RAFT_LEADER);
    assert_int_equal(raft_read_index(r, 9), 0);
    single_drain(r, &cap);
    assert_int_equal(cap.n_reads, 1);
    assert_int_equal(cap.reads[0].context, 9);
    assert_int_equal(cap.reads[0].index, raft_commit_index(r));
    assert_true(raft_commit_index(r) > 0);
    raft_free(r);
}

/* A leader cut off from the majority never confirms a read, while the new
 * leader on the majority side does within a few rounds. */
static void read_index_isolated_leader_never_confirms(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.check_quorum = false; /* keep the stale leader a leader */
    struct testnet *tn = tn_new(5, &o, 21);
    raft_id l = tn_elect(tn, 200);
    assert_int_not_equal(l, 0);
    tn_rounds(tn, 3);
    tn_isolate(tn, l);
    struct tn_node *old = tn_node(tn, l);
    assert_int_equal(raft_read_index(old->r, 1), 0);
    tn_process(tn, l);
    raft_id fresh = 0;
    for (int k = 0; k < 200; k++) {
        tn_round(tn);
        assert_int_equal(raft_role(old->r), RAFT_LEADER);
        for (raft_id id = 1; id <= 5 && fresh == 0; id++) {
            struct raft *r = tn_node(tn, id)->r;
            if (id != l && raft_role(r) == RAFT_LEADER) {
                fresh = id;
            }
        }
    }
    assert_int_equal(old->reads_ok, 0);
    assert_int_not_equal(fresh, 0);
    struct tn_node *nf = tn_node(tn, fresh);
    assert_int_equal(raft_read_index(nf->r, 2), 0);
    tn_process(tn, fresh);
    tn_rounds(tn, 3);
    assert_int_equal(nf->reads_ok, 1);
    tn_free(tn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_index_refused_by_follower),
        cmocka_unit_test(read_index_waits_for_commit_and_quorum_round),
        cmocka_unit_test(read_index_round_confirms_batch),
        cmocka_unit_test(read_index_failed_on_step_down),
        cmocka_unit_test(read_index_single_node_immediate),
        cmocka_unit_test(read_index_single_node_before_first_commit),
        cmocka_unit_test(read_index_isolated_leader_never_confirms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
