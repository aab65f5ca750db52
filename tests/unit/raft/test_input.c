/*
 * raft_input: malformed and unexpected input is handled per the protocol
 * or dropped with a reason; never an assertion failure or a crash.
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

static struct raft *follower(void)
{
    const raft_term log[] = {1, 1, 2};
    struct single_opts o = {
        .id = 2, .voters = 3, .terms = log, .n_terms = 3, .term = 2};
    return single_new(&o);
}

/* Options of node 1 and the boot state of a new node of {1, 2, 3}. */
static void fresh_boot(struct raft_options *o, struct raft_boot *b)
{
    raft_options_default(o);
    o->id = 1;
    const raft_id ids[] = {1, 2, 3};
    memset(b, 0, sizeof *b);
    assert_int_equal(raft_configuration_voters(&b->conf, ids, 3), 0);
}

static void expect_drop(struct raft *r,
                        const struct raft_message *m,
                        const char *reason_part)
{
    raft_term term = raft_current_term(r);
    raft_index last = raft_last_index(r);
    assert_int_equal(single_step(r, m, &cap), COMMON_EDROPPED);
    assert_non_null(raft_last_drop_reason(r));
    assert_non_null(strstr(raft_last_drop_reason(r), reason_part));
    assert_int_equal(cap.n_msgs, 0);
    assert_int_equal(raft_current_term(r), term);
    assert_int_equal(raft_last_index(r), last);
}

/* An unknown message type is dropped, naming why. */
static void input_unknown_type_dropped(void **state)
{
    (void)state;
    struct raft *r = follower();
    struct raft_message m = {
        .type = (enum raft_msg_type)99, .from = 1, .to = 2, .term = 9};
    expect_drop(r, &m, "unknown message type");
    m.type = (enum raft_msg_type)0;
    expect_drop(r, &m, "unknown message type");
    raft_free(r);
}

/* Indexes beyond RAFT_INDEX_MAX are refused: a snapshot there, an append
 * whose entries would pass it, a boot state that does. Found by
 * fuzz_raft_step: a snapshot of index UINT64_MAX made the log's first
 * index wrap to 0, and the node, once leader, put its no-op at index 0. */
static void input_index_beyond_max_refused(void **state)
{
    (void)state;
    struct raft *r = follower();
    uint8_t conf[512];
    size_t conf_len =
        raft_configuration_encode(raft_config(r), conf, sizeof conf);
    struct raft_message m = {
        .type = RAFT_MSG_SNAPSHOT,
        .from = 1,
        .to = 2,
        .term = 2,
        .snapshot = {.index = UINT64_MAX,
                     .term = 1,
                     .conf = conf,
                     .conf_len = conf_len,
                     .done = true},
    };
    expect_drop(r, &m, "snapshot index or term beyond the bounds");
    m.snapshot.index = RAFT_INDEX_MAX + 1;
    expect_drop(r, &m, "snapshot index or term beyond the bounds");

    const raft_term add[] = {2, 2};
    m = single_append(1, 2, 2, RAFT_INDEX_MAX - 1, 2, add, 2, 0);
    expect_drop(r, &m, "beyond RAFT_INDEX_MAX");
    /* Up to RAFT_INDEX_MAX itself the message is well formed: it is
     * answered (its previous index lies beyond the log). */
    m = single_append(1, 2, 2, RAFT_INDEX_MAX - 2, 2, add, 2, 0);
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_int_equal(cap.n_msgs, 1);
    assert_false(cap.msgs[0].append_resp.success);
    assert_int_equal(raft_last_index(r), 3);
    raft_free(r);

    struct raft_options o;
    struct raft_boot b;
    fresh_boot(&o, &b);
    b.hard_state.term = 1;
    b.snapshot_term = 1;
    b.snapshot_index = RAFT_INDEX_MAX + 1;
    b.applied = b.snapshot_index;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    struct raft_entry e = {
        .term = 1, .index = RAFT_INDEX_MAX + 1, .type = RAFT_ENTRY_NOOP};
    b.snapshot_index = RAFT_INDEX_MAX;
    b.applied = b.snapshot_index;
    b.entries = &e;
    b.n_entries = 1;
    assert_int_equal(raft_new(&o, &b, &r), COMMON_EINVAL);
    b.n_entries = 0;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    assert_int_equal(raft_last_index(r), RAFT_INDEX_MAX);
    raft_free(r);
}

/* An answer from a node outside the configuration, a message addressed to
 * another node, and one claiming to come from the receiver or from node 0
 * are dropped, even with a higher term. (Requests are taken from any node:
 * test_membership.c.) */
static void input_unknown_or_misaddressed_node_dropped(void **state)
{
    (void)state;
    struct raft *r = follower();
    struct raft_message m = {
        .type = RAFT_MSG_VOTE_RESP,
        .from = 7,
        .to = 2,
        .term = 50,
        .vote_resp = {.granted = true},
    };
    expect_drop(r, &m, "outside the configuration");
    m = (struct raft_message){
        .type = RAFT_MSG_APPEND_RESP,
        .from = 7,
        .to = 2,
        .term = 50,
        .append_resp = {.success = true, .index = 1},
    };
    expect_drop(r, &m, "outside the configuration");
    m = single_append(1, 3, 50, 3, 2, NULL, 0, 0);
    expect_drop(r, &m, "another node");
    m = single_append(2, 2, 50, 3, 2, NULL, 0, 0);
    expect_drop(r, &m, "itself");
    m = single_append(0, 2, 50, 3, 2, NULL, 0, 0);
    expect_drop(r, &m, "node 0");
    raft_free(r);
}

/* AppendEntries whose entries are not consecutive, have impossible terms
 * (above the message's term, decreasing, zero), an unknown type, or data
 * missing are dropped whole. */
static void input_malformed_append_dropped(void **state)
{
    (void)state;
    struct raft *r = follower();
    const raft_term add[] = {2, 2};
    struct raft_message m = single_append(1, 2, 2, 3, 2, add, 2, 0);
    struct raft_entry *es = (struct raft_entry *)m.append.entries;
    es[1].index = 9;
    expect_drop(r, &m, "not consecutive");

    m = single_append(1, 2, 2, 3, 2, add, 2, 0);
    es = (struct raft_entry *)m.append.entries;
    es[1].term = 3; /* beyond the leader's own term */
    expect_drop(r, &m, "impossible term");

    const raft_term down[] = {2, 1};
    m = single_append(1, 2, 2, 3, 2, down, 2, 0);
    expect_drop(r, &m, "impossible term");

    m = single_append(1, 2, 2, 3, 2, add, 2, 0);
    es = (struct raft_entry *)m.append.entries;
    es[0].type = (enum raft_entry_type)42;
    expect_drop(r, &m, "unknown type");

    m = single_append(1, 2, 2, 3, 2, add, 2, 0);
    es = (struct raft_entry *)m.append.entries;
    es[0].data.base = NULL;
    expect_drop(r, &m, "data missing");

    m = single_append(1, 2, 2, 3, 2, NULL, 0, 0);
    m.append.n_entries = 3; /* entries pointer missing */
    expect_drop(r, &m, "entries missing");

    m = single_append(1, 2, 2, UINT64_MAX, 2, add, 2, 0);
    expect_drop(r, &m, "overflow");

    m = single_append(1, 2, 0, 3, 2, NULL, 0, 0);
    expect_drop(r, &m, "term 0");
    raft_free(r);
}

/* An AppendEntries whose prev index lies far beyond the log is answered
 * with a rejection and a hint, not an error. */
static void input_index_beyond_log_rejected_with_hint(void **state)
{
    (void)state;
    struct raft *r = follower();
    const raft_term add[] = {2};
    struct raft_message m =
        single_append(1, 2, 2, 1000000, 2, add, 1, 999999999);
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_int_equal(cap.n_msgs, 1);
    assert_false(cap.msgs[0].append_resp.success);
    assert_int_equal(cap.msgs[0].append_resp.hint_index, 4);
    assert_int_equal(raft_commit_index(r), 0);
    raft_free(r);
}

/* A leader drops an acknowledgement for an index it never had. */
static void input_ack_beyond_leader_log_dropped(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    struct raft_message m = {.type = RAFT_MSG_APPEND_RESP,
                             .from = 2,
                             .to = 1,
                             .term = raft_current_term(r),
                             .append_resp = {.success = true, .index = 5000}};
    expect_drop(r, &m, "beyond the log");
    assert_int_equal(raft_commit_index(r), 0);
    raft_index match = 1;
    raft_progress(r, 2, &match, NULL);
    assert_int_equal(match, 0);
    raft_free(r);
}

/* A term from the future is news, not an error: the node adopts it and
 * follows the sender of an AppendEntries (Figure 2, all servers). */
static void input_future_term_adopted(void **state)
{
    (void)state;
    struct raft *r = follower();
    struct raft_message m = single_append(3, 2, 1000, 3, 2, NULL, 0, 3);
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_int_equal(raft_current_term(r), 1000);
    assert_int_equal(raft_leader(r), 3);
    assert_true(cap.hs_changed);
    assert_int_equal(cap.hs.term, 1000);
    raft_free(r);
}

/* Responses nobody asked for (votes to a follower, acks to a follower,
 * heartbeat answers to a follower) are dropped. */
static void input_unexpected_responses_dropped(void **state)
{
    (void)state;
    struct raft *r = follower();
    struct raft_message m = {.type = RAFT_MSG_VOTE_RESP,
                             .from = 1,
                             .to = 2,
                             .term = 2,
                             .vote_resp = {.granted = true}};
    expect_drop(r, &m, "not for a current election");
    m.type = RAFT_MSG_APPEND_RESP;
    m.append_resp = (struct raft_append_resp){.success = true, .index = 1};
    expect_drop(r, &m, "not leader");
    m.type = RAFT_MSG_HEARTBEAT_RESP;
    expect_drop(r, &m, "not leader");
    m.term = 1;
    expect_drop(r, &m, "older term");
    raft_free(r);
}

/* Invalid options and boot states are refused with COMMON_EINVAL. */
static void input_invalid_options_and_boot_refused(void **state)
{
    (void)state;
    struct raft_options o;
    struct raft_boot b;
    fresh_boot(&o, &b);
    struct raft *r = NULL;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    raft_free(r);

    struct raft_options bad = o;
    bad.heartbeat_ticks = bad.election_ticks;
    assert_int_equal(raft_new(&bad, &b, &r), COMMON_EINVAL);
    bad = o;
    bad.id = 0;
    assert_int_equal(raft_new(&bad, &b, &r), COMMON_EINVAL);
    bad = o;
    bad.max_inflight = 0;
    assert_int_equal(raft_new(&bad, &b, &r), COMMON_EINVAL);

    struct raft_entry es[2] = {
        {.term = 1, .index = 1, .type = RAFT_ENTRY_COMMAND},
        {.term = 1, .index = 3, .type = RAFT_ENTRY_COMMAND},
    };
    struct raft_boot bb = b;
    bb.hard_state.term = 1;
    bb.entries = es;
    bb.n_entries = 2;
    assert_int_equal(raft_new(&o, &bb, &r), COMMON_EINVAL); /* gap */
    es[1].index = 2;
    bb.hard_state.commit = 3;
    assert_int_equal(raft_new(&o, &bb, &r), COMMON_EINVAL); /* commit */
    bb.hard_state.commit = 2;
    bb.hard_state.term = 0;
    assert_int_equal(raft_new(&o, &bb, &r), COMMON_EINVAL); /* term */
    bb.hard_state.term = 1;
    bb.conf.servers[1].id = 1;
    assert_int_equal(raft_new(&o, &bb, &r), COMMON_EINVAL); /* dup id */
    assert_int_equal(raft_new(NULL, &b, &r), COMMON_EINVAL);
}

/* Proposals: only on the leader, and not larger than a message. */
static void input_proposal_errors(void **state)
{
    (void)state;
    struct raft *r = follower();
    assert_int_equal(raft_propose(r, "x", 1, NULL, NULL), COMMON_ENOTLEADER);
    raft_free(r);
    struct single_opts o = {.id = 1, .voters = 1, .term = 1};
    r = single_new(&o);
    single_make_leader(r, &cap);
    static char big[2 * 1024 * 1024];
    assert_int_equal(raft_propose(r, big, sizeof big, NULL, NULL),
                     COMMON_ETOOBIG);
    assert_int_equal(raft_propose(r, NULL, 5, NULL, NULL), COMMON_EINVAL);
    raft_index i = 0;
    raft_term t = 0;
    assert_int_equal(raft_propose(r, NULL, 0, &i, &t), 0);
    assert_int_equal(i, 2);
    assert_int_equal(t, raft_current_term(r));
    raft_free(r);
}

/* Random garbage thrown at a running cluster - every field random, sent
 * between every pair - never crashes a node or breaks safety. */
static void input_random_garbage_never_crashes(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    struct testnet *tn = tn_new(3, &o, 77);
    struct common_prng p;
    common_prng_seed(&p, 77);
    struct raft_entry es[8];
    uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int k = 0; k < 20000; k++) {
        struct raft_message m;
        memset(&m, 0, sizeof m);
        m.type = (enum raft_msg_type)common_prng_below(&p, 8);
        m.from = common_prng_below(&p, 5);
        m.to = common_prng_range(&p, 1, 3);
        m.term = common_prng_below(&p, 6);
        uint64_t small = common_prng_below(&p, 12);
        switch (m.type) {
            case RAFT_MSG_APPEND: {
                size_t n = (size_t)common_prng_below(&p, 8);
                raft_term t = common_prng_below(&p, 4);
                for (size_t j = 0; j < n; j++) {
                    t += common_prng_below(&p, 2);
                    es[j] = (struct raft_entry){
                        .term = t,
                        .index = small + 1 + j,
                        .type =
                            (enum raft_entry_type)common_prng_range(&p, 1, 3),
                        .data = {bytes, (size_t)common_prng_below(&p, 8)},
                    };
                }
                m.append =
                    (struct raft_append){.prev_index = small,
                                         .prev_term = common_prng_below(&p, 4),
                                         .commit = common_prng_below(&p, 20),
                                         .entries = n ? es : NULL,
                                         .n_entries = n};
                break;
            }
            case RAFT_MSG_APPEND_RESP:
                m.append_resp = (struct raft_append_resp){
                    .success = common_prng_chance(&p, 0.5),
                    .index = small,
                    .hint_index = common_prng_below(&p, 12),
                    .hint_term = common_prng_below(&p, 5)};
                break;
            case RAFT_MSG_VOTE:
                m.vote =
                    (struct raft_vote){.last_index = small,
                                       .last_term = common_prng_below(&p, 5),
                                       .pre_vote = common_prng_chance(&p, 0.5)};
                break;
            case RAFT_MSG_VOTE_RESP:
                m.vote_resp = (struct raft_vote_resp){
                    .granted = common_prng_chance(&p, 0.5),
                    .pre_vote = common_prng_chance(&p, 0.5)};
                break;
            case RAFT_MSG_HEARTBEAT:
                m.heartbeat = (struct raft_heartbeat){
                    .commit = common_prng_below(&p, 20), .context = small};
                break;
            case RAFT_MSG_HEARTBEAT_RESP:
                m.heartbeat_resp.context = small;
                break;
            default:
                break;
        }
        struct tn_node *nd = tn_node(tn, m.to);
        raft_step(nd->r, &m);
        tn_process(tn, m.to);
        if (k % 7 == 0) {
            tn_round(tn);
        }
    }
    /* Forged messages can break Raft's assumptions (a forged leader of a
     * term); what must hold is that nothing crashed and every node still
     * answers and keeps a well-formed log. */
    for (raft_id id = 1; id <= 3; id++) {
        struct raft *r = tn_node(tn, id)->r;
        assert_non_null(r);
        assert_true(raft_commit_index(r) <= raft_last_index(r));
        for (raft_index i = raft_first_index(r) + 1; i <= raft_last_index(r);
             i++) {
            assert_true(raft_term_at(r, i - 1) <= raft_term_at(r, i));
        }
    }
    tn_free(tn);
}

/* Drops @m for a term or index beyond the bounds: nothing sent, nothing
 * persisted, term, vote, log and commit unchanged. */
static void expect_bound_drop(struct raft *r,
                              const struct raft_message *m,
                              const char *reason_part)
{
    raft_id vote = raft_voted_for(r);
    raft_index commit = raft_commit_index(r);
    enum raft_role role = raft_role(r);
    expect_drop(r, m, reason_part);
    assert_false(cap.hs_changed);
    assert_int_equal(cap.n_persisted, 0);
    assert_int_equal(raft_voted_for(r), vote);
    assert_int_equal(raft_commit_index(r), commit);
    assert_int_equal(raft_role(r), role);
}

/* Values just above a bound and the largest 64-bit value. */
static const uint64_t beyond[] = {RAFT_TERM_MAX + 1, UINT64_MAX};

/* Every message type with a term above RAFT_TERM_MAX is dropped, never
 * adopted: the follower's term stays and nothing is persisted (a heartbeat
 * of term 2^64-1 once made every later election run in term 0). */
static void input_term_beyond_bound_dropped(void **state)
{
    (void)state;
    struct raft *r = follower();
    const raft_term add[] = {2};
    for (size_t b = 0; b < 2; b++) {
        struct raft_message ms[] = {
            {.type = RAFT_MSG_HEARTBEAT, .heartbeat = {.commit = 1}},
            {.type = RAFT_MSG_HEARTBEAT_RESP},
            {.type = RAFT_MSG_VOTE, .vote = {.last_index = 3, .last_term = 2}},
            {.type = RAFT_MSG_VOTE,
             .vote = {.last_index = 3, .last_term = 2, .pre_vote = true}},
            {.type = RAFT_MSG_VOTE_RESP, .vote_resp = {.granted = true}},
            {.type = RAFT_MSG_VOTE_RESP,
             .vote_resp = {.granted = true, .pre_vote = true}},
            {.type = RAFT_MSG_APPEND_RESP, .append_resp = {.index = 3}},
            {.type = RAFT_MSG_SNAPSHOT_RESP,
             .snapshot_resp = {.index = 3, .term = 2}},
            single_append(1, 2, 0, 3, 2, add, 1, 3),
        };
        for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
            ms[k].from = 1;
            ms[k].to = 2;
            ms[k].term = beyond[b];
            expect_bound_drop(r, &ms[k], "term beyond RAFT_TERM_MAX");
        }
        /* A chunk's own term is at most its message's: both too high. */
        uint8_t conf[8 + 9 * 3];
        struct raft_configuration c = *raft_config(r);
        size_t conf_len = raft_configuration_encode(&c, conf, sizeof conf);
        struct raft_message snap = {.type = RAFT_MSG_SNAPSHOT,
                                    .from = 1,
                                    .to = 2,
                                    .term = beyond[b],
                                    .snapshot = {.index = 10,
                                                 .term = beyond[b],
                                                 .conf = conf,
                                                 .conf_len = conf_len,
                                                 .done = true}};
        expect_bound_drop(r, &snap, "term beyond RAFT_TERM_MAX");
    }
    assert_int_equal(raft_current_term(r), 2);
    raft_free(r);
}

/* Each index or term field a follower receives above its bound drops the
 * whole message, though its term is valid: vote last index and term,
 * append previous index and term, commit, entry index and term, heartbeat
 * commit and read round, snapshot index and term. */
static void input_follower_fields_beyond_bound_dropped(void **state)
{
    (void)state;
    struct raft *r = follower();
    const raft_term add[] = {2};
    const raft_term high[] = {RAFT_TERM_MAX + 1};
    uint8_t conf[8 + 9 * 3];
    struct raft_configuration c = *raft_config(r);
    size_t conf_len = raft_configuration_encode(&c, conf, sizeof conf);
    for (size_t b = 0; b < 2; b++) {
        uint64_t v = beyond[b];
        struct raft_message m = {
            .type = RAFT_MSG_VOTE,
            .from = 1,
            .to = 2,
            .term = 3,
            .vote = {.last_index = v, .last_term = 2},
        };
        expect_bound_drop(r, &m, "vote last index beyond RAFT_INDEX_MAX");
        m.vote = (struct raft_vote){.last_index = 3, .last_term = v};
        expect_bound_drop(r, &m, "vote last term beyond RAFT_TERM_MAX");
        m.vote.pre_vote = true;
        expect_bound_drop(r, &m, "vote last term beyond RAFT_TERM_MAX");

        m = single_append(1, 2, 3, v - 1, 2, add, 1, 0);
        expect_bound_drop(r, &m, "append index beyond RAFT_INDEX_MAX");
        m = single_append(1, 2, 3, v, 2, NULL, 0, 0);
        expect_bound_drop(r, &m, "append index beyond RAFT_INDEX_MAX");
        m = single_append(1, 2, 3, 3, v, NULL, 0, 0);
        expect_bound_drop(r, &m, "append previous term beyond RAFT_TERM_MAX");
        m = single_append(1, 2, 3, 3, 2, add, 1, v);
        expect_bound_drop(r, &m, "append commit beyond RAFT_INDEX_MAX");

        m = (struct raft_message){.type = RAFT_MSG_HEARTBEAT,
                                  .from = 1,
                                  .to = 2,
                                  .term = 3,
                                  .heartbeat = {.commit = v}};
        expect_bound_drop(r, &m, "heartbeat commit beyond RAFT_INDEX_MAX");
        m.heartbeat = (struct raft_heartbeat){.commit = 1, .context = v};
        expect_bound_drop(r, &m, "heartbeat read round beyond RAFT_INDEX_MAX");

        m = (struct raft_message){.type = RAFT_MSG_SNAPSHOT,
                                  .from = 1,
                                  .to = 2,
                                  .term = 3,
                                  .snapshot = {.index = v,
                                               .term = 3,
                                               .conf = conf,
                                               .conf_len = conf_len,
                                               .done = true}};
        expect_bound_drop(r, &m, "snapshot index or term beyond the bounds");
    }
    /* An entry's term above the bound, in a message whose own term is at
     * the bound; and an entry whose index claims to be beyond it. */
    struct raft_message m =
        single_append(1, 2, RAFT_TERM_MAX, 3, 2, high, 1, 0);
    expect_bound_drop(r, &m, "append entry index or term beyond the bounds");
    m = single_append(1, 2, 3, 3, 2, add, 1, 0);
    ((struct raft_entry *)m.append.entries)[0].index = UINT64_MAX;
    expect_bound_drop(r, &m, "append entry index or term beyond the bounds");
    assert_int_equal(raft_current_term(r), 2);
    assert_int_equal(raft_last_index(r), 3);
    raft_free(r);
}

/* Each index or term field a leader receives above its bound drops the
 * message: acknowledgement index, rejection hints, heartbeat read round,
 * snapshot response index and term. The leader keeps leading its term. */
static void input_leader_fields_beyond_bound_dropped(void **state)
{
    (void)state;
    struct single_opts o = {.id = 1, .voters = 3, .term = 1};
    struct raft *r = single_new(&o);
    single_make_leader(r, &cap);
    raft_term term = raft_current_term(r);
    for (size_t b = 0; b < 2; b++) {
        uint64_t v = beyond[b];
        struct raft_message m = {.type = RAFT_MSG_APPEND_RESP,
                                 .from = 2,
                                 .to = 1,
                                 .term = term,
                                 .append_resp = {.success = true, .index = v}};
        expect_bound_drop(r, &m, "append response index beyond RAFT_INDEX_MAX");
        m.append_resp = (struct raft_append_resp){.index = 1, .hint_index = v};
        expect_bound_drop(r, &m, "append response index beyond RAFT_INDEX_MAX");
        m.append_resp = (struct raft_append_resp){.index = 1, .hint_term = v};
        expect_bound_drop(r, &m,
                          "append response hint term beyond RAFT_TERM_MAX");
        m = (struct raft_message){.type = RAFT_MSG_HEARTBEAT_RESP,
                                  .from = 2,
                                  .to = 1,
                                  .term = term,
                                  .heartbeat_resp = {.context = v}};
        expect_bound_drop(
            r, &m, "heartbeat response read round beyond RAFT_INDEX_MAX");
        m = (struct raft_message){.type = RAFT_MSG_SNAPSHOT_RESP,
                                  .from = 2,
                                  .to = 1,
                                  .term = term,
                                  .snapshot_resp = {.index = v, .term = 1}};
        expect_bound_drop(r, &m,
                          "snapshot response index or term beyond the bounds");
        m.snapshot_resp = (struct raft_snapshot_resp){.index = 1, .term = v};
        expect_bound_drop(r, &m,
                          "snapshot response index or term beyond the bounds");
    }
    assert_int_equal(raft_role(r), RAFT_LEADER);
    assert_int_equal(raft_current_term(r), term);
    raft_free(r);
}

/* Values exactly at the bounds are valid: a heartbeat of term RAFT_TERM_MAX
 * is adopted with a commit of RAFT_INDEX_MAX (held to the log's end), an
 * AppendEntries whose previous index is RAFT_INDEX_MAX is answered with a
 * hint, and a vote for a log ending at both bounds is granted. */
static void input_values_at_bounds_accepted(void **state)
{
    (void)state;
    struct raft *r = follower();
    struct raft_message m = {
        .type = RAFT_MSG_HEARTBEAT,
        .from = 1,
        .to = 2,
        .term = RAFT_TERM_MAX,
        .heartbeat = {.commit = RAFT_INDEX_MAX, .context = RAFT_INDEX_MAX}};
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_true(raft_current_term(r) == RAFT_TERM_MAX);
    assert_true(cap.hs_changed);
    assert_true(cap.hs.term == RAFT_TERM_MAX);
    assert_int_equal(raft_commit_index(r), 3);
    assert_true(cap.msgs[0].heartbeat_resp.context == RAFT_INDEX_MAX);

    m = single_append(1, 2, RAFT_TERM_MAX, RAFT_INDEX_MAX, RAFT_TERM_MAX, NULL,
                      0, RAFT_INDEX_MAX);
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_false(cap.msgs[0].append_resp.success);
    assert_true(cap.msgs[0].append_resp.index == RAFT_INDEX_MAX);
    assert_int_equal(cap.msgs[0].append_resp.hint_index, 4);
    raft_free(r);

    r = follower();
    m = (struct raft_message){
        .type = RAFT_MSG_VOTE,
        .from = 3,
        .to = 2,
        .term = RAFT_TERM_MAX,
        .vote = {.last_index = RAFT_INDEX_MAX, .last_term = RAFT_TERM_MAX}};
    assert_int_equal(single_step(r, &m, &cap), 0);
    assert_true(cap.msgs[0].vote_resp.granted);
    assert_true(cap.hs.term == RAFT_TERM_MAX);
    assert_int_equal(cap.hs.vote, 3);
    raft_free(r);
}

/* A leader whose log ends at RAFT_INDEX_MAX refuses proposals with
 * COMMON_ERANGE and appends nothing; a leader elected on such a log leads
 * without a no-op. */
static void input_proposal_beyond_index_bound_refused(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    o.id = 1;
    raft_id ids[] = {1};
    struct raft_boot b;
    memset(&b, 0, sizeof b);
    assert_int_equal(raft_configuration_voters(&b.conf, ids, 1), 0);
    b.hard_state =
        (struct raft_hard_state){.term = 7, .commit = RAFT_INDEX_MAX - 2};
    b.snapshot_index = RAFT_INDEX_MAX - 2;
    b.snapshot_term = 7;
    b.applied = RAFT_INDEX_MAX - 2;
    struct raft *r = NULL;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    assert_int_equal(raft_campaign(r), 0);
    single_drain(r, &cap);
    assert_int_equal(raft_role(r), RAFT_LEADER);
    assert_true(raft_last_index(r) == RAFT_INDEX_MAX - 1); /* the no-op */
    raft_index i = 0;
    assert_int_equal(raft_propose(r, "x", 1, &i, NULL), 0);
    assert_true(i == RAFT_INDEX_MAX);
    assert_int_equal(raft_propose(r, "y", 1, &i, NULL), COMMON_ERANGE);
    single_drain(r, &cap);
    assert_true(raft_last_index(r) == RAFT_INDEX_MAX);
    assert_true(raft_commit_index(r) == RAFT_INDEX_MAX);
    raft_free(r);

    b.snapshot_index = RAFT_INDEX_MAX;
    b.hard_state.commit = RAFT_INDEX_MAX;
    b.applied = RAFT_INDEX_MAX;
    assert_int_equal(raft_new(&o, &b, &r), 0);
    assert_int_equal(raft_campaign(r), 0);
    single_drain(r, &cap);
    assert_int_equal(raft_role(r), RAFT_LEADER);
    assert_true(raft_last_index(r) == RAFT_INDEX_MAX);
    assert_int_equal(cap.n_persisted, 0);
    assert_int_equal(raft_propose(r, "z", 1, NULL, NULL), COMMON_ERANGE);
    raft_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(input_unknown_type_dropped),
        cmocka_unit_test(input_index_beyond_max_refused),
        cmocka_unit_test(input_unknown_or_misaddressed_node_dropped),
        cmocka_unit_test(input_malformed_append_dropped),
        cmocka_unit_test(input_index_beyond_log_rejected_with_hint),
        cmocka_unit_test(input_ack_beyond_leader_log_dropped),
        cmocka_unit_test(input_future_term_adopted),
        cmocka_unit_test(input_unexpected_responses_dropped),
        cmocka_unit_test(input_invalid_options_and_boot_refused),
        cmocka_unit_test(input_proposal_errors),
        cmocka_unit_test(input_random_garbage_never_crashes),
        cmocka_unit_test(input_term_beyond_bound_dropped),
        cmocka_unit_test(input_follower_fields_beyond_bound_dropped),
        cmocka_unit_test(input_leader_fields_beyond_bound_dropped),
        cmocka_unit_test(input_values_at_bounds_accepted),
        cmocka_unit_test(input_proposal_beyond_index_bound_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
