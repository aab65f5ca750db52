/* kv_client: routing, retries, timeouts and the history it records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kv/kv.h"

#define MS 1000000ull

struct env
{
    raft_id sent_to[1024];
    struct kv_request sent[1024];
    size_t n_sent;
    enum kv_event_type types[1024];
    uint64_t processes[1024];
    const char *errors[1024];
    size_t n_events;
};

static void on_send(void *data, raft_id to, const struct kv_request *req)
{
    struct env *e = data;
    e->sent_to[e->n_sent] = to;
    e->sent[e->n_sent++] = *req;
}

static void on_record(void *data, const struct kv_event *ev)
{
    struct env *e = data;
    e->types[e->n_events] = ev->type;
    e->processes[e->n_events] = ev->process;
    e->errors[e->n_events++] = ev->error;
}

static struct kv_client *client(struct env *e)
{
    memset(e, 0, sizeof *e);
    struct kv_client_config cfg = {
        .index = 2,
        .clients = 4,
        .nodes = 3,
        .op_timeout_ns = 1000 * MS,
        .attempt_timeout_ns = 100 * MS,
        .seed = 1,
        .env = {.data = e, .send = on_send, .record = on_record},
    };
    struct kv_client *c;
    assert_int_equal(kv_client_new(&cfg, &c), 0);
    return c;
}

static uint64_t next_session = 100; /* the ids start() hands out */

/* Starts @op. A write of a client without a session first sends a
 * registration: it is answered KV_OK at once by the node it went to, with
 * a new session id, and dropped from the list of sends, so that the tests
 * below see the operation's attempts only (client_registers_* and
 * client_registration_* look at registration). */
static void start(struct kv_client *c,
                  struct env *e,
                  enum kv_op op,
                  uint64_t now)
{
    struct kv_op_spec spec = {.op = op, .key = {"k", 1}, .value = {"v", 1}};
    size_t before = e->n_sent;
    assert_int_equal(kv_client_start(c, &spec, now), 0);
    assert_int_equal(e->n_sent, before + 1);
    if (e->sent[before].op != KV_OP_REGISTER) {
        return;
    }
    assert_int_equal(e->sent[before].seq, 0);
    assert_int_equal(e->sent[before].client_id, 0);
    struct kv_response r = {.token = e->sent[before].token,
                            .status = KV_OK,
                            .node = e->sent_to[before],
                            .index = ++next_session};
    kv_client_on_response(c, &r, now);
    assert_int_equal(e->n_sent, before + 2);
    assert_int_equal(e->sent_to[before + 1], e->sent_to[before]);
    assert_int_equal(e->sent[before + 1].client_id, next_session);
    e->sent[before] = e->sent[before + 1];
    e->n_sent = before + 1;
}

static struct kv_response answer(const struct env *e,
                                 enum kv_status st,
                                 raft_id node,
                                 raft_id leader)
{
    const struct kv_request *q = &e->sent[e->n_sent - 1];
    struct kv_response r = {.token = q->token,
                            .client_id = q->client_id,
                            .seq = q->seq,
                            .status = st,
                            .node = node,
                            .leader = leader};
    return r;
}

/* An answered op records invoke then ok, from process = client index. */
static void client_records_invoke_then_ok(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    start(c, &e, KV_OP_PUT, 0);
    assert_int_equal(e.n_sent, 1);
    assert_int_equal(e.sent[0].seq, 1);
    struct kv_response r = answer(&e, KV_OK, e.sent_to[0], 0);
    kv_client_on_response(c, &r, 5 * MS);
    assert_false(kv_client_busy(c));
    assert_int_equal(e.n_events, 2);
    assert_int_equal(e.types[0], KV_EVENT_INVOKE);
    assert_int_equal(e.types[1], KV_EVENT_OK);
    assert_int_equal(e.processes[1], 2);
    kv_client_on_response(c, &r, 6 * MS); /* a duplicate answer: ignored */
    assert_int_equal(e.n_events, 2);
    kv_client_free(c);
}

/* A not-leader answer with a hint goes straight to the hinted node, with
 * the same session and sequence number. */
static void client_follows_leader_hint(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    start(c, &e, KV_OP_PUT, 0);
    raft_id first = e.sent_to[0];
    raft_id hint = first % 3 + 1;
    struct kv_response r = answer(&e, KV_NOT_LEADER, first, hint);
    kv_client_on_response(c, &r, 1 * MS);
    assert_int_equal(e.n_sent, 2);
    assert_int_equal(e.sent_to[1], hint);
    assert_int_equal(e.sent[1].seq, e.sent[0].seq);
    assert_int_equal(e.sent[1].client_id, e.sent[0].client_id);
    kv_client_free(c);
}

/* Without a leader anywhere every attempt is refused; when the op runs
 * out of time it definitely had no effect: fail "unavailable", and the
 * process id stays. */
static void client_refused_everywhere_fails(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    start(c, &e, KV_OP_APPEND, 0);
    uint64_t now = 0;
    while (kv_client_busy(c) && now < 2000 * MS) {
        if (e.n_sent > 0) {
            struct kv_response r =
                answer(&e, KV_NOT_LEADER, e.sent_to[e.n_sent - 1], 0);
            kv_client_on_response(c, &r, now);
        }
        now = kv_client_deadline(c);
        kv_client_tick(c, now);
    }
    assert_true(e.n_sent > 3);
    assert_int_equal(e.types[e.n_events - 1], KV_EVENT_FAIL);
    assert_string_equal(e.errors[e.n_events - 1], "unavailable");
    assert_int_equal(kv_client_process(c), 2);
    kv_client_free(c);
}

/* An attempt that gets no answer may have been proposed: the client tries
 * the next node, and if the op times out it is info ("timeout") and the
 * client continues as a new process with a new session. */
static void client_silence_is_info_and_new_process(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    start(c, &e, KV_OP_PUT, 0);
    uint64_t session = e.sent[0].client_id;
    kv_client_tick(c, 100 * MS);
    assert_int_equal(e.n_sent, 2);
    assert_int_not_equal(e.sent_to[1], e.sent_to[0]);
    kv_client_tick(c, 1000 * MS);
    assert_false(kv_client_busy(c));
    assert_int_equal(e.types[e.n_events - 1], KV_EVENT_INFO);
    assert_int_equal(kv_client_process(c), 2 + 4);
    start(c, &e, KV_OP_PUT, 1001 * MS);
    assert_int_not_equal(e.sent[e.n_sent - 1].client_id, session);
    assert_int_equal(e.sent[e.n_sent - 1].seq, 1);
    kv_client_free(c);
}

/* A get carries no session, and a new process numbers its operations
 * from 1 again: a late answer to an earlier process's get matches the
 * session (none) and the sequence number of a later get. It must not
 * answer it (it did: a get of one key returned another key's value). */
static void client_late_answer_of_earlier_get_is_ignored(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    start(c, &e, KV_OP_GET, 0); /* process 2: session 0, seq 1 */
    struct kv_request old = e.sent[e.n_sent - 1];
    assert_int_equal(old.client_id, 0);
    assert_int_equal(old.seq, 1);
    kv_client_tick(c, 1000 * MS); /* no answer: info, a new process */
    assert_false(kv_client_busy(c));
    assert_int_equal(e.types[e.n_events - 1], KV_EVENT_INFO);
    assert_int_equal(kv_client_process(c), 2 + 4);
    start(c, &e, KV_OP_GET, 2002 * MS); /* process 6: session 0, seq 1 */
    assert_int_equal(e.sent[e.n_sent - 1].client_id, 0);
    assert_int_equal(e.sent[e.n_sent - 1].seq, 1);
    size_t events = e.n_events;
    struct kv_response late = {.token = old.token,
                               .client_id = 0,
                               .seq = 1,
                               .status = KV_OK,
                               .found = true,
                               .value = {"other", 5},
                               .node = 1};
    kv_client_on_response(c, &late, 2003 * MS);
    assert_true(kv_client_busy(c));
    assert_int_equal(e.n_events, events);
    /* Its own answer does. */
    struct kv_response r = answer(&e, KV_OK, e.sent_to[e.n_sent - 1], 0);
    kv_client_on_response(c, &r, 2004 * MS);
    assert_false(kv_client_busy(c));
    assert_int_equal(e.types[e.n_events - 1], KV_EVENT_OK);
    assert_int_equal(e.processes[e.n_events - 1], 6);
    kv_client_free(c);
}

/* A cas whose precondition fails is a fail with error "mismatch". */
static void client_cas_mismatch_is_fail(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    start(c, &e, KV_OP_CAS, 0);
    struct kv_response r = answer(&e, KV_MISMATCH, e.sent_to[0], 0);
    kv_client_on_response(c, &r, MS);
    assert_int_equal(e.types[1], KV_EVENT_FAIL);
    assert_string_equal(e.errors[1], "mismatch");
    kv_client_free(c);
}

/* "retry" (leadership lost after proposing) makes the outcome unknown: a
 * later timeout is info even if every later attempt is refused. */
static void client_retry_then_refusals_is_info(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    start(c, &e, KV_OP_PUT, 0);
    struct kv_response r = answer(&e, KV_RETRY, e.sent_to[0], 0);
    kv_client_on_response(c, &r, MS);
    uint64_t now = MS;
    while (kv_client_busy(c) && now < 2000 * MS) {
        now = kv_client_deadline(c);
        kv_client_tick(c, now);
        if (kv_client_busy(c) && e.n_sent > 1) {
            r = answer(&e, KV_NOT_LEADER, e.sent_to[e.n_sent - 1], 0);
            kv_client_on_response(c, &r, now);
        }
    }
    assert_int_equal(e.types[e.n_events - 1], KV_EVENT_INFO);
    kv_client_free(c);
}

/* A session is registered before its first write, and only then: the
 * registration (seq 0) goes out first, the write (seq 1) follows its
 * answer, a second write and reads go straight out. */
static void client_registers_before_first_write(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    struct kv_op_spec get = {.op = KV_OP_GET, .key = {"k", 1}};
    assert_int_equal(kv_client_start(c, &get, 0), 0);
    assert_int_equal(e.sent[0].op, KV_OP_GET); /* reads need no session */
    struct kv_response r = answer(&e, KV_NOT_FOUND, e.sent_to[0], 0);
    kv_client_on_response(c, &r, MS);
    struct kv_op_spec put = {.op = KV_OP_PUT, .key = {"k", 1}};
    assert_int_equal(kv_client_start(c, &put, 2 * MS), 0);
    assert_int_equal(e.n_sent, 2);
    assert_int_equal(e.sent[1].op, KV_OP_REGISTER);
    assert_int_equal(e.sent[1].seq, 0);
    /* A refusal sends the registration on, not the write. */
    r = answer(&e, KV_NOT_LEADER, e.sent_to[1], e.sent_to[1] % 3 + 1);
    kv_client_on_response(c, &r, 3 * MS);
    assert_int_equal(e.n_sent, 3);
    assert_int_equal(e.sent[2].op, KV_OP_REGISTER);
    assert_int_equal(e.sent_to[2], e.sent_to[1] % 3 + 1);
    assert_int_equal(e.sent[2].client_id, 0); /* the cluster names it */
    r = answer(&e, KV_OK, e.sent_to[2], 0);
    r.index = 77; /* the new session's id */
    kv_client_on_response(c, &r, 4 * MS);
    assert_int_equal(e.n_sent, 4);
    assert_int_equal(e.sent[3].op, KV_OP_PUT);
    assert_int_equal(e.sent[3].client_id, 77);
    assert_int_equal(e.sent[3].seq, 2); /* the get took seq 1 */
    r = answer(&e, KV_OK, e.sent_to[3], 0);
    kv_client_on_response(c, &r, 5 * MS);
    assert_int_equal(kv_client_start(c, &put, 6 * MS), 0);
    assert_int_equal(e.sent[4].op, KV_OP_PUT);
    assert_int_equal(e.sent[4].client_id, 77);
    assert_int_equal(e.sent[4].seq, 3);
    r = answer(&e, KV_OK, e.sent_to[4], 0);
    kv_client_on_response(c, &r, 7 * MS);
    assert_int_equal(e.n_events, 6); /* invoke and ok, three times */
    kv_client_free(c);
}

/* A write that runs out of time while its registration goes unanswered
 * was never sent: fail "unavailable", same process; the next write
 * registers again. A write refused session-expired moves to a new
 * process, whose first write registers a new session. */
static void client_registration_timeout_and_expiry(void **state)
{
    (void)state;
    struct env e;
    struct kv_client *c = client(&e);
    struct kv_op_spec put = {.op = KV_OP_PUT, .key = {"k", 1}};
    assert_int_equal(kv_client_start(c, &put, 0), 0);
    uint64_t now = 0;
    while (kv_client_busy(c)) {
        now = kv_client_deadline(c);
        kv_client_tick(c, now);
    }
    for (size_t k = 0; k < e.n_sent; k++) {
        assert_int_equal(e.sent[k].op, KV_OP_REGISTER);
    }
    assert_true(e.n_sent > 3);
    assert_int_equal(e.types[1], KV_EVENT_FAIL);
    assert_string_equal(e.errors[1], "unavailable");
    assert_int_equal(kv_client_process(c), 2);
    start(c, &e, KV_OP_PUT, now + MS); /* registers, then sends */
    uint64_t session = e.sent[e.n_sent - 1].client_id;
    assert_int_equal(session, next_session);
    struct kv_response r = answer(&e, KV_EXPIRED, e.sent_to[e.n_sent - 1], 0);
    kv_client_on_response(c, &r, now + 2 * MS);
    assert_int_equal(e.types[e.n_events - 1], KV_EVENT_FAIL);
    assert_string_equal(e.errors[e.n_events - 1], "session-expired");
    assert_int_equal(kv_client_process(c), 2 + 4);
    start(c, &e, KV_OP_PUT, now + 3 * MS); /* registers again */
    assert_int_not_equal(e.sent[e.n_sent - 1].client_id, session);
    kv_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_records_invoke_then_ok),
        cmocka_unit_test(client_follows_leader_hint),
        cmocka_unit_test(client_refused_everywhere_fails),
        cmocka_unit_test(client_silence_is_info_and_new_process),
        cmocka_unit_test(client_late_answer_of_earlier_get_is_ignored),
        cmocka_unit_test(client_cas_mismatch_is_fail),
        cmocka_unit_test(client_retry_then_refusals_is_info),
        cmocka_unit_test(client_registers_before_first_write),
        cmocka_unit_test(client_registration_timeout_and_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
