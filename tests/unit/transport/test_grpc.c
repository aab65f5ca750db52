/*
 * transport_grpc: endpoints on loopback exchanging Raft batches, the
 * application-call path, and every error a caller can meet: malformed and
 * oversized messages, unknown methods, too many waiting calls, a port in
 * use, a peer that goes away and comes back, shutdown with calls waiting;
 * and with TLS: certificate files checked at load time, peers proving
 * their node ids, impostors, clients and strangers refused.
 *
 * Each endpoint gets a polling thread, as in the harness; the test's
 * thread sends, flushes, replies and calls in, as other threads do there.
 * Ports are ephemeral (":0"), so parallel tests never collide.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "grpc_codec.h"
#include "grpc_endpoint.h"
#include "transport/transport.h"

#define GOT_MAX  8192
#define HELD_MAX 16

struct node
{
    struct transport_grpc *g;
    pthread_t thread;
    bool running;
    char address[64];
    pthread_mutex_t lock;
    /* Guarded by lock: */
    struct transport_msg *got[GOT_MAX];
    size_t n_got;
    char log[8192];
    struct transport_grpc_call *held[HELD_MAX];
    size_t n_held;
};

static const char *const app_methods[] = {"/test.Echo/Now", "/test.Echo/Later"};

static uint64_t now_ms(void)
{
    return common_now_ns() / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void on_deliver(void *data, struct transport_msg *m)
{
    struct node *n = data;
    pthread_mutex_lock(&n->lock);
    if (n->n_got < GOT_MAX) {
        n->got[n->n_got++] = m;
        m = NULL;
    }
    pthread_mutex_unlock(&n->lock);
    free(m);
}

/* Keeps every line with its level: "warn: peer 2 at ... unreachable". */
static void on_log(void *data, enum common_log_level level, const char *msg)
{
    struct node *n = data;
    pthread_mutex_lock(&n->lock);
    size_t len = strlen(n->log);
    snprintf(n->log + len, sizeof n->log - len, "%s: %s\n",
             common_log_level_name((int)level), msg);
    pthread_mutex_unlock(&n->lock);
}

/* "Now" echoes the request at once, prefixed with "echo:" (or, for a call
 * another endpoint forwarded, "forwarded:"); "Later" waits in held[] for
 * the test to answer. */
static void on_call(void *data,
                    struct transport_grpc_call *call,
                    unsigned method,
                    const void *req,
                    size_t len)
{
    struct node *n = data;
    if (method == 0) {
        char buf[256];
        int k =
            snprintf(buf, sizeof buf, "%s:%.*s",
                     transport_grpc_call_proxied(call) ? "forwarded" : "echo",
                     (int)len, (const char *)req);
        transport_grpc_reply(call, TRANSPORT_GRPC_OK, NULL, buf, (size_t)k);
        return;
    }
    pthread_mutex_lock(&n->lock);
    if (n->n_held < HELD_MAX) {
        n->held[n->n_held++] = call;
        call = NULL;
    }
    pthread_mutex_unlock(&n->lock);
    if (call != NULL) {
        transport_grpc_reply(call, TRANSPORT_GRPC_INTERNAL, "test full", NULL,
                             0);
    }
}

static void *poller(void *arg)
{
    struct node *n = arg;
    while (transport_grpc_poll(n->g, 50) != TRANSPORT_GRPC_STOPPED) {
    }
    return NULL;
}

static void node_options(struct node *n,
                         raft_id id,
                         struct transport_grpc_options *o)
{
    transport_grpc_options_default(o);
    o->id = id;
    o->listen = "127.0.0.1:0";
    o->deliver = on_deliver;
    o->deliver_data = n;
    o->log = on_log;
    o->log_data = n;
    o->methods = app_methods;
    o->n_methods = 2;
    o->on_call = on_call;
    o->call_data = n;
}

/* Starts @n's endpoint; nothing polls it yet. */
static void node_open(struct node *n, const struct transport_grpc_options *o)
{
    memset(n, 0, sizeof *n);
    pthread_mutex_init(&n->lock, NULL);
    char why[256];
    int rv = transport_grpc_new(o, why, sizeof why, &n->g);
    if (rv != 0) {
        fail_msg("transport_grpc_new: %s", why);
    }
    snprintf(n->address, sizeof n->address, "127.0.0.1:%u",
             transport_grpc_port(n->g));
}

static void node_start(struct node *n, const struct transport_grpc_options *o)
{
    node_open(n, o);
    assert_int_equal(pthread_create(&n->thread, NULL, poller, n), 0);
    n->running = true;
}

static void node_start_id(struct node *n, raft_id id)
{
    struct transport_grpc_options o;
    node_options(n, id, &o);
    node_start(n, &o);
}

/* Frees @n's endpoint (stopped, and no thread polls it) and the rest. */
static void node_close(struct node *n)
{
    transport_grpc_free(n->g);
    n->running = false;
    for (size_t k = 0; k < n->n_got; k++) {
        free(n->got[k]);
    }
    pthread_mutex_destroy(&n->lock);
}

static void node_stop(struct node *n)
{
    if (!n->running) {
        return;
    }
    transport_grpc_stop(n->g);
    pthread_join(n->thread, NULL);
    node_close(n);
}

static size_t got_count(struct node *n)
{
    pthread_mutex_lock(&n->lock);
    size_t c = n->n_got;
    pthread_mutex_unlock(&n->lock);
    return c;
}

static bool log_has(struct node *n, const char *what)
{
    pthread_mutex_lock(&n->lock);
    bool has = strstr(n->log, what) != NULL;
    pthread_mutex_unlock(&n->lock);
    return has;
}

/* Waits up to @ms for node @n to have received @count messages. */
static bool wait_got(struct node *n, size_t count, unsigned ms)
{
    uint64_t until = now_ms() + ms;
    while (got_count(n) < count) {
        if (now_ms() > until) {
            return false;
        }
        sleep_ms(2);
    }
    return true;
}

static struct raft_message heartbeat(raft_id from, raft_id to, uint64_t ctx)
{
    struct raft_message m = {
        .type = RAFT_MSG_HEARTBEAT, .from = from, .to = to, .term = 1};
    m.heartbeat.context = ctx;
    m.heartbeat.commit = ctx / 2;
    return m;
}

/* One blocking call through a fresh client. */
static void call(const char *address,
                 const char *method,
                 const void *req,
                 size_t len,
                 struct transport_grpc_result *res)
{
    struct transport_grpc_client *c = NULL;
    assert_int_equal(transport_grpc_client_new(address, NULL, &c), 0);
    assert_int_equal(transport_grpc_client_call(c, method, req, len, 5000, res),
                     0);
    transport_grpc_client_free(c);
}

/* ------------------------------------------------------------------------ */

/* Messages sent between two endpoints arrive complete and in order, both
 * ways, and go out as one call per flush rather than one per message. */
static void grpc_endpoints_exchange_batched_messages(void **state)
{
    (void)state;
    struct node a;
    struct node b;
    node_start_id(&a, 1);
    node_start_id(&b, 2);
    assert_int_equal(transport_grpc_set_peer(a.g, 2, b.address), 0);
    assert_int_equal(transport_grpc_set_peer(b.g, 1, a.address), 0);
    struct transport *ta = transport_grpc_transport(a.g);
    struct transport *tb = transport_grpc_transport(b.g);
    static char payload[100];
    memset(payload, 'p', sizeof payload);
    for (unsigned flush = 0; flush < 20; flush++) {
        for (unsigned k = 0; k < 100; k++) {
            uint64_t ctx = flush * 100 + k;
            struct raft_message m = heartbeat(1, 2, ctx);
            struct raft_entry e = {.term = 1,
                                   .index = ctx + 1,
                                   .type = RAFT_ENTRY_COMMAND,
                                   .data = {payload, ctx % 100}};
            if (k % 10 == 0) {
                m.type = RAFT_MSG_APPEND;
                m.append = (struct raft_append){.prev_index = ctx,
                                                .prev_term = ctx > 0,
                                                .commit = ctx,
                                                .entries = &e,
                                                .n_entries = 1};
            }
            assert_int_equal(transport_send(ta, &m), 0);
            struct raft_message back = heartbeat(2, 1, ctx);
            back.type = RAFT_MSG_HEARTBEAT_RESP;
            back.heartbeat_resp.context = ctx;
            assert_int_equal(transport_send(tb, &back), 0);
        }
        assert_int_equal(transport_flush(ta), 0);
        assert_int_equal(transport_flush(tb), 0);
    }
    assert_true(wait_got(&b, 2000, 10000));
    assert_true(wait_got(&a, 2000, 10000));
    pthread_mutex_lock(&b.lock);
    for (size_t k = 0; k < 2000; k++) {
        const struct raft_message *m = &b.got[k]->m;
        assert_int_equal(m->from, 1);
        assert_int_equal(m->to, 2);
        if (k % 10 == 0) {
            assert_int_equal(m->type, RAFT_MSG_APPEND);
            assert_int_equal(m->append.prev_index, k);
            assert_int_equal(m->append.n_entries, 1);
            assert_int_equal(m->append.entries[0].data.len, k % 100);
        } else {
            assert_int_equal(m->type, RAFT_MSG_HEARTBEAT);
            assert_int_equal(m->heartbeat.context, k);
        }
    }
    pthread_mutex_unlock(&b.lock);
    pthread_mutex_lock(&a.lock);
    for (size_t k = 0; k < 2000; k++) {
        assert_int_equal(a.got[k]->m.type, RAFT_MSG_HEARTBEAT_RESP);
        assert_int_equal(a.got[k]->m.heartbeat_resp.context, k);
    }
    pthread_mutex_unlock(&a.lock);
    struct transport_grpc_stats sa;
    struct transport_grpc_stats sb;
    transport_grpc_stats(a.g, &sa);
    transport_grpc_stats(b.g, &sb);
    assert_int_equal(sa.sent, 2000);
    assert_int_equal(sa.dropped, 0);
    assert_true(sa.batches_sent >= 1 && sa.batches_sent <= 20);
    assert_int_equal(sa.batches_failed, 0);
    assert_int_equal(sb.received, 2000);
    assert_int_equal(sb.batches_received, sa.batches_sent);
    node_stop(&a);
    node_stop(&b);
}

/* A queue larger than one batch may carry goes out in several calls, none
 * above the size limit, and every message arrives. */
static void grpc_large_queues_split_into_several_batches(void **state)
{
    (void)state;
    struct node a;
    struct node b;
    struct transport_grpc_options o;
    node_options(&a, 1, &o);
    o.batch_bytes_max = 64 * 1024;
    node_start(&a, &o);
    node_start_id(&b, 2);
    assert_int_equal(transport_grpc_set_peer(a.g, 2, b.address), 0);
    static char data[10000];
    memset(data, 'd', sizeof data);
    for (unsigned k = 0; k < 100; k++) {
        struct raft_entry e = {.term = 1,
                               .index = k + 1,
                               .type = RAFT_ENTRY_COMMAND,
                               .data = {data, sizeof data}};
        struct raft_message m = {.type = RAFT_MSG_APPEND,
                                 .from = 1,
                                 .to = 2,
                                 .term = 1,
                                 .append = {.prev_index = k,
                                            .prev_term = k > 0,
                                            .entries = &e,
                                            .n_entries = 1}};
        assert_int_equal(transport_send(transport_grpc_transport(a.g), &m), 0);
    }
    transport_flush(transport_grpc_transport(a.g));
    assert_true(wait_got(&b, 100, 10000));
    struct transport_grpc_stats s;
    transport_grpc_stats(a.g, &s);
    assert_true(s.batches_sent >= 16);
    assert_int_equal(s.dropped, 0);
    pthread_mutex_lock(&b.lock);
    for (size_t k = 0; k < 100; k++) {
        assert_int_equal(b.got[k]->m.append.prev_index, k);
    }
    pthread_mutex_unlock(&b.lock);
    node_stop(&a);
    node_stop(&b);
}

/* Bytes that are not a valid batch for this node are answered
 * INVALID_ARGUMENT with the reason, nothing is delivered, and the endpoint
 * goes on serving. */
static void grpc_malformed_batches_get_invalid_argument(void **state)
{
    (void)state;
    struct node b;
    node_start_id(&b, 2);
    struct transport_grpc_result res;
    static const uint8_t garbage[] = {0xff, 0xfe, 0xfd, 0x07, 0x00};
    call(b.address, TRANSPORT_GRPC_RAFT_METHOD, garbage, sizeof garbage, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_INVALID_ARGUMENT);
    assert_non_null(strstr(res.message, "not a raftkv.raft.MessageBatch"));
    free(res.data);

    /* Well formed, but for node 3. */
    struct raft_message m = heartbeat(1, 3, 5);
    const struct raft_message *p = &m;
    struct transport_grpc_batch *batch = NULL;
    assert_int_equal(transport_grpc_batch_new(&p, 1, &batch), 0);
    size_t len = transport_grpc_batch_size(batch);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    transport_grpc_batch_pack(batch, buf);
    transport_grpc_batch_free(batch);
    call(b.address, TRANSPORT_GRPC_RAFT_METHOD, buf, len, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_INVALID_ARGUMENT);
    assert_non_null(strstr(res.message, "for node 3, not node 2"));
    free(res.data);
    free(buf);

    /* A good one still works, and its answer is an empty SendAck. */
    m = heartbeat(1, 2, 5);
    assert_int_equal(transport_grpc_batch_new(&p, 1, &batch), 0);
    len = transport_grpc_batch_size(batch);
    buf = malloc(len);
    assert_non_null(buf);
    transport_grpc_batch_pack(batch, buf);
    transport_grpc_batch_free(batch);
    call(b.address, TRANSPORT_GRPC_RAFT_METHOD, buf, len, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_OK);
    assert_int_equal(res.len, 0);
    free(res.data);
    free(buf);
    assert_true(wait_got(&b, 1, 2000));
    assert_int_equal(got_count(&b), 1);
    struct transport_grpc_stats s;
    transport_grpc_stats(b.g, &s);
    assert_int_equal(s.batches_rejected, 2);
    assert_true(log_has(&b, "refused a Raft batch (INVALID_ARGUMENT)"));
    node_stop(&b);
}

/* Endpoints of different clusters: every batch from the other cluster is
 * refused FAILED_PRECONDITION, naming both ids, and nothing of it is
 * delivered; one of the same cluster gets through. */
static void grpc_batches_of_another_cluster_are_refused(void **state)
{
    (void)state;
    struct node a;
    struct node b;
    struct node c;
    struct transport_grpc_options o;
    node_options(&a, 1, &o);
    o.cluster_id = 0xaa;
    node_start(&a, &o);
    node_options(&b, 2, &o);
    o.cluster_id = 0xbb;
    node_start(&b, &o);
    node_options(&c, 3, &o);
    o.cluster_id = 0xbb;
    node_start(&c, &o);
    assert_int_equal(transport_grpc_set_peer(a.g, 2, b.address), 0);
    assert_int_equal(transport_grpc_set_peer(c.g, 2, b.address), 0);
    struct raft_message m = heartbeat(1, 2, 7);
    assert_int_equal(transport_send(transport_grpc_transport(a.g), &m), 0);
    transport_flush(transport_grpc_transport(a.g));
    uint64_t until = now_ms() + 5000;
    struct transport_grpc_stats s;
    do {
        sleep_ms(5);
        transport_grpc_stats(b.g, &s);
    } while (s.batches_foreign == 0 && now_ms() < until);
    assert_int_equal(s.batches_foreign, 1);
    assert_int_equal(s.batches_rejected + s.batches_denied, 0);
    assert_true(log_has(&b, "refused a Raft batch (FAILED_PRECONDITION)"));
    assert_true(log_has(&b,
                        "a batch of cluster 00000000000000aa, but this "
                        "node is in cluster 00000000000000bb"));
    m = heartbeat(3, 2, 8);
    assert_int_equal(transport_send(transport_grpc_transport(c.g), &m), 0);
    transport_flush(transport_grpc_transport(c.g));
    assert_true(wait_got(&b, 1, 5000));
    assert_int_equal(got_count(&b), 1);
    assert_int_equal(b.got[0]->m.from, 3);
    node_stop(&a);
    node_stop(&b);
    node_stop(&c);
}

/* A message above the size limit is refused RESOURCE_EXHAUSTED on either
 * service, and the endpoint goes on serving. */
static void grpc_oversized_messages_get_resource_exhausted(void **state)
{
    (void)state;
    struct node b;
    struct transport_grpc_options o;
    node_options(&b, 2, &o);
    o.message_bytes_max = 1 << 20;
    node_start(&b, &o);
    size_t len = 2u << 20;
    uint8_t *big = calloc(1, len);
    assert_non_null(big);
    struct transport_grpc_result res;
    call(b.address, TRANSPORT_GRPC_RAFT_METHOD, big, len, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_RESOURCE_EXHAUSTED);
    free(res.data);
    call(b.address, "/test.Echo/Now", big, len, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_RESOURCE_EXHAUSTED);
    free(res.data);
    free(big);
    call(b.address, "/test.Echo/Now", "hi", 2, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_OK);
    assert_int_equal(res.len, 7);
    assert_memory_equal(res.data, "echo:hi", 7);
    free(res.data);
    node_stop(&b);
}

/* A method nobody registered is answered UNIMPLEMENTED at once, naming it
 * (not left to hang until its deadline). */
static void grpc_unknown_methods_get_unimplemented(void **state)
{
    (void)state;
    struct node b;
    struct transport_grpc_options o;
    node_options(&b, 2, &o);
    o.n_methods = 0; /* no application service */
    node_start(&b, &o);
    struct transport_grpc_result res;
    uint64_t t0 = now_ms();
    call(b.address, "/raftkv.Nope/Foo", "x", 1, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_UNIMPLEMENTED);
    assert_non_null(strstr(res.message, "/raftkv.Nope/Foo"));
    free(res.data);
    call(b.address, "/test.Echo/Now", "x", 1, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_UNIMPLEMENTED);
    free(res.data);
    assert_true(now_ms() - t0 < 2000);
    node_stop(&b);
}

struct caller
{
    const char *address;
    const char *method;
    const char *req;
    struct transport_grpc_result res;
    pthread_t thread;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    struct transport_grpc_client *cl = NULL;
    if (transport_grpc_client_new(c->address, NULL, &cl) != 0) {
        c->res.status = -1;
        return NULL;
    }
    if (transport_grpc_client_call(cl, c->method, c->req, strlen(c->req), 5000,
                                   &c->res) != 0) {
        c->res.status = -1;
    }
    transport_grpc_client_free(cl);
    return NULL;
}

static void caller_start(struct caller *c, const char *address, const char *req)
{
    memset(c, 0, sizeof *c);
    c->address = address;
    c->method = "/test.Echo/Later";
    c->req = req;
    assert_int_equal(pthread_create(&c->thread, NULL, caller_main, c), 0);
}

static size_t held_count(struct node *n)
{
    pthread_mutex_lock(&n->lock);
    size_t c = n->n_held;
    pthread_mutex_unlock(&n->lock);
    return c;
}

static struct transport_grpc_call *held_take(struct node *n)
{
    pthread_mutex_lock(&n->lock);
    struct transport_grpc_call *c = n->n_held > 0 ? n->held[--n->n_held] : NULL;
    pthread_mutex_unlock(&n->lock);
    return c;
}

static void wait_held(struct node *n, size_t count)
{
    uint64_t until = now_ms() + 5000;
    while (held_count(n) < count) {
        assert_true(now_ms() < until);
        sleep_ms(2);
    }
}

/* An application call waits until its owner answers - from another thread,
 * with a response or an error status and message - and the caller gets
 * exactly that. */
static void grpc_application_calls_wait_for_the_owner(void **state)
{
    (void)state;
    struct node b;
    node_start_id(&b, 2);
    struct caller c1;
    caller_start(&c1, b.address, "one");
    wait_held(&b, 1);
    sleep_ms(50); /* still waiting: nobody answered */
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_OK, NULL, "later", 5);
    pthread_join(c1.thread, NULL);
    assert_int_equal(c1.res.status, TRANSPORT_GRPC_OK);
    assert_int_equal(c1.res.len, 5);
    assert_memory_equal(c1.res.data, "later", 5);
    free(c1.res.data);

    struct caller c2;
    caller_start(&c2, b.address, "two");
    wait_held(&b, 1);
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_NOT_FOUND,
                         "nothing here", NULL, 0);
    pthread_join(c2.thread, NULL);
    assert_int_equal(c2.res.status, TRANSPORT_GRPC_NOT_FOUND);
    assert_string_equal(c2.res.message, "nothing here");
    assert_null(c2.res.data);
    struct transport_grpc_stats s;
    transport_grpc_stats(b.g, &s);
    assert_int_equal(s.calls, 2);
    node_stop(&b);
}

/* What transport_grpc_forward hands back (polling thread). */
struct forward_answer
{
    int calls;
    int status;
    char data[64];
};

static void on_forward(void *data, const struct transport_grpc_result *res)
{
    struct forward_answer *f = data;
    f->calls++;
    f->status = res->status;
    snprintf(f->data, sizeof f->data, "%.*s", (int)res->len,
             res->data != NULL ? (const char *)res->data : "");
}

/* A forwarded call reaches the peer's application service marked as
 * forwarded, and its answer comes back on the polling thread; an unknown
 * peer or method is refused at once, a stopped endpoint forwards nothing,
 * and freeing the endpoint ends a forward in flight (CANCELLED). */
static void grpc_forwarded_calls_are_marked_and_answered(void **state)
{
    (void)state;
    struct node b;
    node_start_id(&b, 2);
    struct node a;
    struct transport_grpc_options o;
    node_options(&a, 1, &o);
    node_open(&a, &o);
    assert_int_equal(transport_grpc_set_peer(a.g, 2, b.address), 0);

    struct forward_answer f = {0};
    assert_int_equal(
        transport_grpc_forward(a.g, 2, 0, "hi", 2, 30000, on_forward, &f), 0);
    for (int k = 0; k < 500 && f.calls == 0; k++) {
        transport_grpc_poll(a.g, 10);
    }
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.status, TRANSPORT_GRPC_OK);
    assert_string_equal(f.data, "forwarded:hi");
    struct transport_grpc_stats s;
    transport_grpc_stats(a.g, &s);
    assert_int_equal(s.forwarded, 1);
    /* A plain call is not marked. */
    struct transport_grpc_result res;
    call(b.address, app_methods[0], "hi", 2, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_OK);
    assert_memory_equal(res.data, "echo:hi", 7);
    free(res.data);

    struct forward_answer never = {0};
    assert_int_equal(
        transport_grpc_forward(a.g, 3, 0, "x", 1, 5000, on_forward, &never),
        COMMON_EINVAL);
    assert_int_equal(
        transport_grpc_forward(a.g, 2, 2, "x", 1, 5000, on_forward, &never),
        COMMON_EINVAL);

    /* "Later" waits at b; a stops and is freed meanwhile. */
    struct forward_answer held = {0};
    assert_int_equal(
        transport_grpc_forward(a.g, 2, 1, "wait", 4, 30000, on_forward, &held),
        0);
    for (int k = 0; k < 500 && held_count(&b) == 0; k++) {
        transport_grpc_poll(a.g, 10);
    }
    assert_int_equal(held_count(&b), 1);
    transport_grpc_stop(a.g);
    assert_int_equal(
        transport_grpc_forward(a.g, 2, 0, "x", 1, 5000, on_forward, &never),
        COMMON_ESHUTDOWN);
    node_close(&a);
    assert_int_equal(held.calls, 1);
    assert_int_equal(held.status, TRANSPORT_GRPC_CANCELLED);
    assert_int_equal(never.calls, 0);
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_OK, NULL, "late", 4);
    node_stop(&b);
}

/* Calls "Now" until it is served, refused RESOURCE_EXHAUSTED meanwhile
 * (the slot an answer frees comes back when the answer completes). */
static void call_until_served(const char *address)
{
    uint64_t until = now_ms() + 5000;
    for (;;) {
        struct transport_grpc_result res;
        call(address, "/test.Echo/Now", "x", 1, &res);
        free(res.data);
        if (res.status == TRANSPORT_GRPC_OK) {
            return;
        }
        assert_int_equal(res.status, TRANSPORT_GRPC_RESOURCE_EXHAUSTED);
        assert_true(now_ms() < until);
        sleep_ms(5);
    }
}

/* Beyond calls_max waiting calls, a new one is refused at once with
 * RESOURCE_EXHAUSTED; once an answer goes out there is room again. */
static void grpc_too_many_waiting_calls_get_resource_exhausted(void **state)
{
    (void)state;
    struct node b;
    struct transport_grpc_options o;
    node_options(&b, 2, &o);
    o.calls_max = 1;
    node_start(&b, &o);
    struct caller c1;
    caller_start(&c1, b.address, "one");
    wait_held(&b, 1);
    struct transport_grpc_result res;
    call(b.address, "/test.Echo/Now", "x", 1, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_RESOURCE_EXHAUSTED);
    free(res.data);
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_OK, NULL, "ok", 2);
    pthread_join(c1.thread, NULL);
    assert_int_equal(c1.res.status, TRANSPORT_GRPC_OK);
    free(c1.res.data);
    /* The answer's completion frees the slot; allow it a moment. */
    call_until_served(b.address);
    node_stop(&b);
}

/* A caller that sends "/test.Echo/Later" calls and never reads their
 * answers: HTTP/2 flow control stops an answer larger than its window in
 * the server (BDP probing off, a tiny lookahead). */
struct slow_reader
{
    grpc_completion_queue *cq;
    grpc_channel *channel;
    grpc_call *calls[8];
    grpc_byte_buffer *sent[8];
    size_t n;
};

/* A plaintext channel to @address with @args (NULL: none). */
static grpc_channel *plain_channel(const char *address,
                                   const grpc_channel_args *args)
{
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(address, cr, args);
    grpc_channel_credentials_release(cr);
    return ch;
}

/* Shuts @cq down, drains it and destroys it. */
static void cq_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (
        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
            .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

static void slow_reader_start(struct slow_reader *r, const char *address)
{
    memset(r, 0, sizeof *r);
    grpc_init();
    grpc_arg args[3];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)(uintptr_t)GRPC_ARG_HTTP2_BDP_PROBE;
    args[0].value.integer = 0;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)(uintptr_t)GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES;
    args[1].value.integer = 1024;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)(uintptr_t)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[2].value.integer = 1;
    grpc_channel_args ca = {.num_args = 3, .args = args};
    r->channel = plain_channel(address, &ca);
    r->cq = grpc_completion_queue_create_for_next(NULL);
}

/* Starts one call: sends its request, reads nothing. */
static void slow_reader_call(struct slow_reader *r)
{
    assert_true(r->n < 8);
    grpc_slice method = grpc_slice_from_static_string("/test.Echo/Later");
    grpc_call *call = grpc_channel_create_call(
        r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq, method, NULL,
        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_slice body = grpc_slice_from_static_string("slow");
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&body, 1);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    assert_int_equal(grpc_call_start_batch(call, ops, 3, NULL, NULL),
                     GRPC_CALL_OK);
    r->calls[r->n] = call;
    r->sent[r->n++] = bb;
}

static void slow_reader_stop(struct slow_reader *r)
{
    for (size_t k = 0; k < r->n; k++) {
        grpc_call_cancel(r->calls[k], NULL);
        grpc_call_unref(r->calls[k]);
    }
    grpc_channel_destroy(r->channel);
    cq_destroy(r->cq);
    for (size_t k = 0; k < r->n; k++) {
        grpc_byte_buffer_destroy(r->sent[k]);
    }
    grpc_shutdown();
}

/* One address may hold only calls_per_address_max calls waiting: the next
 * is refused at once, naming the reason, and served again once one of its
 * calls is answered. */
static void grpc_calls_per_address_are_capped(void **state)
{
    (void)state;
    struct node b;
    struct transport_grpc_options o;
    node_options(&b, 2, &o);
    o.calls_per_address_max = 2;
    node_start(&b, &o);
    struct caller c1;
    struct caller c2;
    caller_start(&c1, b.address, "one");
    caller_start(&c2, b.address, "two");
    wait_held(&b, 2);
    struct transport_grpc_result res;
    call(b.address, "/test.Echo/Now", "x", 1, &res);
    assert_int_equal(res.status, TRANSPORT_GRPC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(res.message, "from your address"));
    free(res.data);
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_OK, NULL, "ok", 2);
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_OK, NULL, "ok", 2);
    pthread_join(c1.thread, NULL);
    pthread_join(c2.thread, NULL);
    free(c1.res.data);
    free(c2.res.data);
    call_until_served(b.address);
    struct transport_grpc_stats st;
    transport_grpc_stats(b.g, &st);
    assert_true(st.calls_refused >= 1);
    node_stop(&b);
}

/* A caller that does not read its answers holds at most its address's
 * share of unread bytes: a large answer beyond it is replaced by
 * RESOURCE_EXHAUSTED, a small one still goes out, and an answer left
 * unread past answer_timeout_ms is cancelled, which frees its share. */
static void grpc_unread_answers_are_bounded(void **state)
{
    (void)state;
    struct node b;
    struct transport_grpc_options o;
    node_options(&b, 2, &o);
    o.unread_bytes_per_address_max = 256 * 1024;
    o.answer_timeout_ms = 1500;
    node_start(&b, &o);
    static char big[200 * 1024];
    memset(big, 'b', sizeof big);
    struct slow_reader r;
    slow_reader_start(&r, b.address);
    slow_reader_call(&r);
    slow_reader_call(&r);
    slow_reader_call(&r);
    slow_reader_call(&r);
    wait_held(&b, 4);
    /* The first large answer is stuck in flow control... */
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_OK, NULL, big,
                         sizeof big);
    /* ...so the second would pass the share: refused. */
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_OK, NULL, big,
                         sizeof big);
    struct transport_grpc_stats st;
    transport_grpc_stats(b.g, &st);
    assert_int_equal(st.calls_refused, 1);
    /* The owner can ask before building an answer: no room, and the call
     * is answered (refused) for it; room for a small one. */
    struct transport_grpc_call *asked = held_take(&b);
    assert_false(transport_grpc_reply_room(asked, sizeof big));
    transport_grpc_stats(b.g, &st);
    assert_int_equal(st.calls_refused, 2);
    struct transport_grpc_call *small = held_take(&b);
    assert_true(transport_grpc_reply_room(small, 2));
    transport_grpc_reply(small, TRANSPORT_GRPC_OK, NULL, "ok", 2);
    /* A small answer is never refused for room. */
    /* The stuck answer is cancelled after the timeout; then a large answer
     * fits again. */
    uint64_t until = now_ms() + 20000;
    do {
        assert_true(now_ms() < until);
        sleep_ms(20);
        transport_grpc_stats(b.g, &st);
    } while (st.answers_cancelled == 0);
    assert_int_equal(st.answers_cancelled, 1);
    slow_reader_call(&r);
    wait_held(&b, 1);
    transport_grpc_reply(held_take(&b), TRANSPORT_GRPC_OK, NULL, big,
                         sizeof big);
    transport_grpc_stats(b.g, &st);
    assert_int_equal(st.calls_refused, 2);
    slow_reader_stop(&r);
    node_stop(&b);
}

/* Stopping with calls still waiting answers them UNAVAILABLE; an owner
 * that replies after that does no harm, and one that never replies leaks
 * nothing. */
static void grpc_shutdown_answers_waiting_calls_unavailable(void **state)
{
    (void)state;
    struct node b;
    node_start_id(&b, 2);
    struct caller c1;
    struct caller c2;
    caller_start(&c1, b.address, "one");
    caller_start(&c2, b.address, "two");
    wait_held(&b, 2);
    struct transport_grpc_call *late = held_take(&b);
    held_take(&b); /* never answered by the owner */
    transport_grpc_stop(b.g);
    pthread_join(c1.thread, NULL);
    pthread_join(c2.thread, NULL);
    assert_int_equal(c1.res.status, TRANSPORT_GRPC_UNAVAILABLE);
    assert_int_equal(c2.res.status, TRANSPORT_GRPC_UNAVAILABLE);
    assert_non_null(strstr(c1.res.message, "shutting down"));
    transport_grpc_reply(late, TRANSPORT_GRPC_OK, NULL, "late", 4);
    node_stop(&b);
}

/* Polls @n (which no thread polls) until it holds @count calls. */
static void poll_until_held(struct node *n, size_t count)
{
    uint64_t until = now_ms() + 5000;
    while (held_count(n) < count) {
        assert_true(now_ms() < until);
        assert_int_equal(transport_grpc_poll(n->g, 10), 0);
    }
}

/* A call transport_grpc_stop answered while its owner held it is freed by
 * whichever lets go last, its answer or its owner: an owner that replies
 * first (after asking for room, which an orphan always has) lets go at
 * once, and the call goes when its answer completes; one that replies
 * after the answer completed frees it then. The test polls the endpoint
 * itself, so that it knows which comes first. */
static void grpc_stopped_calls_wait_for_answer_and_owner(void **state)
{
    (void)state;
    struct node b;
    struct transport_grpc_options o;
    node_options(&b, 2, &o);
    node_open(&b, &o);
    struct caller c1;
    struct caller c2;
    caller_start(&c1, b.address, "one");
    caller_start(&c2, b.address, "two");
    poll_until_held(&b, 2);
    struct transport_grpc_call *early = held_take(&b);
    struct transport_grpc_call *late = held_take(&b);
    assert_int_equal(early->state, CALL_WAITING);
    transport_grpc_stop(b.g);
    assert_int_equal(early->state, CALL_ORPHAN_ANSWERING);
    assert_int_equal(late->state, CALL_ORPHAN_ANSWERING);
    assert_true(transport_grpc_reply_room(early, 1u << 30));
    transport_grpc_reply(early, TRANSPORT_GRPC_OK, NULL, "early", 5);
    assert_int_equal(early->state, CALL_ORPHAN_REPLIED);
    pthread_join(c1.thread, NULL);
    pthread_join(c2.thread, NULL);
    assert_int_equal(c1.res.status, TRANSPORT_GRPC_UNAVAILABLE);
    assert_int_equal(c2.res.status, TRANSPORT_GRPC_UNAVAILABLE);
    /* The answers complete (early goes) and the server shuts down. gRPC
     * does not promise which of the two the queue gives first: late's
     * answer has most likely completed (late waits for its owner alone),
     * else transport_grpc_free finds it. */
    uint64_t until = now_ms() + 5000;
    while (transport_grpc_poll(b.g, 10) != TRANSPORT_GRPC_STOPPED) {
        assert_true(now_ms() < until);
    }
    print_message("late was %s when its owner replied\n",
                  call_state_name(late->state));
    assert_true(late->state == CALL_ORPHAN_ANSWERED ||
                late->state == CALL_ORPHAN_ANSWERING);
    transport_grpc_reply(late, TRANSPORT_GRPC_OK, NULL, "late", 4);
    node_close(&b);
}

/* Calls @method on @address sending no message at all (a caller that
 * half-closes at once); returns the status, the message in @details. */
static int call_without_message(const char *address,
                                const char *method,
                                char *details,
                                size_t details_len)
{
    grpc_init();
    grpc_channel *ch = plain_channel(address, NULL);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice path = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(
        ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, path, NULL,
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis(5000, GPR_TIMESPAN)),
        NULL);
    grpc_slice_unref(path);
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_byte_buffer *resp = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice msg = grpc_empty_slice();
    grpc_op ops[5];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[2].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[3].op = GRPC_OP_RECV_MESSAGE;
    ops[3].data.recv_message.recv_message = &resp;
    ops[4].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[4].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[4].data.recv_status_on_client.status = &status;
    ops[4].data.recv_status_on_client.status_details = &msg;
    assert_int_equal(grpc_call_start_batch(call, ops, 5, call, NULL),
                     GRPC_CALL_OK);
    grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    char *text = grpc_slice_to_c_string(msg);
    snprintf(details, details_len, "%s", text);
    gpr_free(text);
    if (resp != NULL) {
        grpc_byte_buffer_destroy(resp);
    }
    grpc_slice_unref(msg);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    grpc_channel_destroy(ch);
    cq_destroy(cq);
    grpc_shutdown();
    return (int)status;
}

/* A call that carries no message is answered INVALID_ARGUMENT on either
 * service, and an application call answered so no longer counts against
 * the calls waiting: the next one is served. */
static void grpc_calls_without_a_message_get_invalid_argument(void **state)
{
    (void)state;
    struct node b;
    struct transport_grpc_options o;
    node_options(&b, 2, &o);
    o.calls_max = 1;
    node_start(&b, &o);
    char details[256];
    assert_int_equal(call_without_message(b.address, "/test.Echo/Later",
                                          details, sizeof details),
                     TRANSPORT_GRPC_INVALID_ARGUMENT);
    assert_string_equal(details, "no message in the call");
    assert_int_equal(held_count(&b), 0); /* never reached the owner */
    assert_int_equal(call_without_message(b.address, TRANSPORT_GRPC_RAFT_METHOD,
                                          details, sizeof details),
                     TRANSPORT_GRPC_INVALID_ARGUMENT);
    assert_string_equal(details, "no message in the call");
    call_until_served(b.address);
    struct transport_grpc_stats st;
    transport_grpc_stats(b.g, &st);
    assert_int_equal(st.calls_refused, 0);
    node_stop(&b);
}

/* A second endpoint on a port in use is refused with the address and the
 * system's reason; so are addresses that cannot be resolved. */
static void grpc_port_in_use_is_refused_clearly(void **state)
{
    (void)state;
    struct node a;
    node_start_id(&a, 1);
    struct transport_grpc_options o;
    transport_grpc_options_default(&o);
    o.id = 2;
    o.listen = a.address;
    struct transport_grpc *g = NULL;
    char why[256];
    assert_int_equal(transport_grpc_new(&o, why, sizeof why, &g),
                     COMMON_EUNAVAILABLE);
    assert_null(g);
    assert_non_null(strstr(why, a.address));
    assert_non_null(strstr(why, "Address already in use"));
    o.listen = "no-such-host.invalid:7001";
    assert_int_equal(transport_grpc_new(&o, why, sizeof why, &g),
                     COMMON_EUNAVAILABLE);
    assert_non_null(strstr(why, "no-such-host.invalid:7001"));
    o.listen = "";
    assert_int_equal(transport_grpc_new(&o, why, sizeof why, &g),
                     COMMON_EINVAL);
    o.listen = "127.0.0.1:0";
    o.id = 0;
    assert_int_equal(transport_grpc_new(&o, why, sizeof why, &g),
                     COMMON_EINVAL);
    node_stop(&a);
}

/* Sending checks its message and its peer, and a peer's queue is bounded:
 * beyond it messages are dropped (Raft retries), never queued forever. */
static void grpc_send_checks_peers_and_bounds_queues(void **state)
{
    (void)state;
    struct node a;
    struct transport_grpc_options o;
    node_options(&a, 1, &o);
    o.peer_queue_max = 4;
    node_start(&a, &o);
    struct transport *t = transport_grpc_transport(a.g);
    struct raft_message m = heartbeat(1, 2, 1);
    assert_int_equal(transport_send(t, &m), COMMON_EINVAL); /* no peer 2 */
    assert_int_equal(transport_grpc_set_peer(a.g, 0, "127.0.0.1:1"),
                     COMMON_EINVAL);
    assert_int_equal(transport_grpc_set_peer(a.g, 1, "127.0.0.1:1"),
                     COMMON_EINVAL);
    assert_int_equal(transport_grpc_set_peer(a.g, 2, ""), COMMON_EINVAL);
    /* Port 1 on loopback: nothing listens there. */
    assert_int_equal(transport_grpc_set_peer(a.g, 2, "127.0.0.1:1"), 0);
    struct raft_message wrong = heartbeat(3, 2, 1);
    assert_int_equal(transport_send(t, &wrong), COMMON_EINVAL);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(transport_send(t, &m), 0);
    }
    assert_int_equal(transport_send(t, &m), COMMON_EBUSY);
    struct transport_grpc_stats s;
    transport_grpc_stats(a.g, &s);
    assert_int_equal(s.dropped, 2); /* no peer, then full */
    node_stop(&a);
}

/* A peer that is down loses what is sent to it (logged once, not per
 * call); once it listens again the messages flow within about a second -
 * the reconnect backoff is short. */
static void grpc_peer_back_from_the_dead_receives_again(void **state)
{
    (void)state;
    /* Learn a free port, then free it. */
    struct node b;
    node_start_id(&b, 2);
    char address[64];
    snprintf(address, sizeof address, "%s", b.address);
    node_stop(&b);

    struct node a;
    node_start_id(&a, 1);
    assert_int_equal(transport_grpc_set_peer(a.g, 2, address), 0);
    struct transport *t = transport_grpc_transport(a.g);
    uint64_t ctx = 0;
    for (int k = 0; k < 15; k++) {
        struct raft_message m = heartbeat(1, 2, ++ctx);
        transport_send(t, &m);
        transport_flush(t);
        sleep_ms(20);
    }
    struct transport_grpc_stats s;
    transport_grpc_stats(a.g, &s);
    assert_true(s.batches_failed > 0);
    assert_true(log_has(&a, "warn: peer 2 at "));
    assert_true(log_has(&a, "unreachable"));
    /* One line for the whole outage. */
    pthread_mutex_lock(&a.lock);
    const char *first = strstr(a.log, "unreachable");
    assert_null(strstr(first + 1, "unreachable"));
    pthread_mutex_unlock(&a.lock);

    struct transport_grpc_options o;
    node_options(&b, 2, &o);
    o.listen = address;
    node_start(&b, &o);
    uint64_t t0 = now_ms();
    while (got_count(&b) == 0) {
        assert_true(now_ms() - t0 < 5000);
        struct raft_message m = heartbeat(1, 2, ++ctx);
        transport_send(t, &m);
        transport_flush(t);
        sleep_ms(10);
    }
    uint64_t took = now_ms() - t0;
    print_message("peer reachable again after %llu ms\n",
                  (unsigned long long)took);
    assert_true(took < 3000);
    uint64_t until = now_ms() + 2000;
    while (!log_has(&a, "info: peer 2 at")) {
        assert_true(now_ms() < until);
        sleep_ms(5);
    }
    node_stop(&a);
    node_stop(&b);
}

struct long_poll
{
    struct transport_grpc *g;
    int rc;
};

static void *long_poller(void *arg)
{
    struct long_poll *lp = arg;
    lp->rc = transport_grpc_poll(lp->g, 60000);
    return NULL;
}

/* Stopping wakes a thread waiting in poll with a long timeout at once. */
static void grpc_stop_wakes_the_polling_thread(void **state)
{
    (void)state;
    struct transport_grpc_options o;
    transport_grpc_options_default(&o);
    o.id = 1;
    o.listen = "127.0.0.1:0";
    struct long_poll lp = {.rc = -1};
    char why[128];
    assert_int_equal(transport_grpc_new(&o, why, sizeof why, &lp.g), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, long_poller, &lp), 0);
    sleep_ms(50);
    uint64_t t0 = now_ms();
    transport_grpc_stop(lp.g);
    transport_grpc_stop(lp.g); /* idempotent */
    pthread_join(th, NULL);
    assert_true(now_ms() - t0 < 2000);
    assert_int_equal(lp.rc, TRANSPORT_GRPC_STOPPED);
    assert_int_equal(transport_grpc_poll(lp.g, 10), TRANSPORT_GRPC_STOPPED);
    transport_grpc_free(lp.g);
    transport_grpc_free(NULL);
}

/* Status names are gRPC's. */
static void grpc_status_names(void **state)
{
    (void)state;
    assert_string_equal(transport_grpc_status_name(0), "OK");
    assert_string_equal(transport_grpc_status_name(3), "INVALID_ARGUMENT");
    assert_string_equal(transport_grpc_status_name(8), "RESOURCE_EXHAUSTED");
    assert_string_equal(transport_grpc_status_name(12), "UNIMPLEMENTED");
    assert_string_equal(transport_grpc_status_name(14), "UNAVAILABLE");
    assert_string_equal(transport_grpc_status_name(99), "UNKNOWN");
    assert_string_equal(transport_grpc_status_name(-1), "UNKNOWN");
}

/* ------------------------------------------------------------------------ */
/* TLS                                                                       */
/* ------------------------------------------------------------------------ */

/* Certificates made once by scripts/gen-certs.sh (nodes 1-4 and a client)
 * and tests/support/bad-certs.sh, in a temporary directory. */
static char certs[512];

static void cert_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", certs, name);
}

/* Loads the files named @cert and @key (NULL: none) for @node (0: a
 * client); returns the loader's code, its message in @why. */
static int tls_try(const char *ca,
                   const char *cert,
                   const char *key,
                   raft_id node,
                   struct transport_grpc_tls *t,
                   char *why,
                   size_t why_len)
{
    char ca_path[600];
    char cert_path_[600];
    char key_path[600];
    cert_path(ca_path, sizeof ca_path, ca);
    cert_path(cert_path_, sizeof cert_path_, cert != NULL ? cert : "");
    cert_path(key_path, sizeof key_path, key != NULL ? key : "");
    struct transport_grpc_tls_files f = {
        .ca_file = ca_path,
        .cert_file = cert != NULL ? cert_path_ : NULL,
        .key_file = key != NULL ? key_path : NULL,
        .node = node,
        .host = node != 0 ? "127.0.0.1" : NULL,
    };
    return transport_grpc_tls_load(&f, t, why, why_len);
}

static void tls_node(raft_id id, struct transport_grpc_tls *t)
{
    char cert[64];
    char key[64];
    snprintf(cert, sizeof cert, "node-%llu.crt", (unsigned long long)id);
    snprintf(key, sizeof key, "node-%llu.key", (unsigned long long)id);
    char why[512];
    if (tls_try("ca.crt", cert, key, id, t, why, sizeof why) != 0) {
        fail_msg("loading node %llu's certificate: %s", (unsigned long long)id,
                 why);
    }
}

/* Expects loading to fail with a message holding @file and @what. */
static void tls_refused(const char *ca,
                        const char *cert,
                        const char *key,
                        raft_id node,
                        const char *file,
                        const char *what)
{
    struct transport_grpc_tls t;
    char why[512] = "";
    assert_int_not_equal(tls_try(ca, cert, key, node, &t, why, sizeof why), 0);
    print_message("refused: %s\n", why);
    assert_non_null(strstr(why, file));
    assert_non_null(strstr(why, what));
    assert_null(t.ca_pem);
    assert_null(t.key_pem);
}

/* Every certificate problem an operator can make is refused at load time,
 * naming the file and what is wrong with it. */
static void grpc_tls_load_names_the_bad_file(void **state)
{
    (void)state;
    struct transport_grpc_tls t;
    char why[512];
    assert_int_equal(
        tls_try("ca.crt", "node-1.crt", "node-1.key", 1, &t, why, sizeof why),
        0);
    assert_non_null(strstr(t.cert_pem, "BEGIN CERTIFICATE"));
    transport_grpc_tls_fini(&t);
    assert_int_equal(
        tls_try("ca.crt", "client.crt", "client.key", 0, &t, why, sizeof why),
        0);
    transport_grpc_tls_fini(&t);
    assert_int_equal(tls_try("ca.crt", NULL, NULL, 0, &t, why, sizeof why), 0);
    assert_null(t.cert_pem);
    transport_grpc_tls_fini(&t);

    tls_refused("ca.crt", "missing.crt", "node-1.key", 1, "missing.crt",
                "No such file");
    tls_refused("notpem.crt", "node-1.crt", "node-1.key", 1, "notpem.crt",
                "no PEM certificate");
    tls_refused("ca.crt", "notpem.crt", "node-1.key", 1, "notpem.crt",
                "no PEM certificate");
    tls_refused("ca.crt", "node-1.crt", "node-1.crt", 1, "node-1.crt",
                "no PEM private key");
    tls_refused("ca.crt", "node-1.crt", "node-2.key", 1, "node-2.key",
                "is not the key of the certificate in");
    tls_refused("ca.crt", "expired.crt", "expired.key", 1, "expired.crt",
                "expired on Jan  2 00:00:00 2020");
    tls_refused("ca.crt", "other/node-1.crt", "other/node-1.key", 1,
                "other/node-1.crt", "not signed by the CA in");
    tls_refused("other/ca.crt", "node-1.crt", "node-1.key", 1, "node-1.crt",
                "other/ca.crt");
    tls_refused("ca.crt", "nosan.crt", "nosan.key", 1, "nosan.crt",
                "names no raft-kv node");
    tls_refused("ca.crt", "twonodes.crt", "twonodes.key", 1, "twonodes.crt",
                "more than one raft-kv node");
    tls_refused("ca.crt", "node-2.crt", "node-2.key", 1, "node-2.crt",
                "is the certificate of node 2, not 1");
    tls_refused("ca.crt", "serveronly.crt", "serveronly.key", 1,
                "serveronly.crt", "client use");
    tls_refused("ca.crt", "serveronly.crt", "serveronly.key", 0,
                "serveronly.crt", "client use");
    tls_refused("ca.crt", "client.crt", "client.key", 1, "client.crt",
                "names no raft-kv node");
    /* A node certificate that does not name the address peers dial. */
    struct transport_grpc_tls_files f;
    char ca[600];
    char cert[600];
    char key[600];
    cert_path(ca, sizeof ca, "ca.crt");
    cert_path(cert, sizeof cert, "node-1.crt");
    cert_path(key, sizeof key, "node-1.key");
    f = (struct transport_grpc_tls_files){.ca_file = ca,
                                          .cert_file = cert,
                                          .key_file = key,
                                          .node = 1,
                                          .host = "10.1.2.3"};
    assert_int_equal(transport_grpc_tls_load(&f, &t, why, sizeof why),
                     COMMON_EINVAL);
    assert_non_null(strstr(why, "does not name 10.1.2.3"));
    f.host = "localhost";
    assert_int_equal(transport_grpc_tls_load(&f, &t, why, sizeof why), 0);
    transport_grpc_tls_fini(&t);
    f.host = "node9.example";
    assert_int_equal(transport_grpc_tls_load(&f, &t, why, sizeof why),
                     COMMON_EINVAL);
}

/* Node URIs: decimal ids without leading zeros, nothing else. */
static void grpc_tls_node_uris_parse_strictly(void **state)
{
    (void)state;
    raft_id id = 0;
    const char *ok = "raftkv://node/42";
    assert_true(transport_grpc_node_uri_parse(ok, strlen(ok), &id));
    assert_int_equal(id, 42);
    const char *max = "raftkv://node/18446744073709551615";
    assert_true(transport_grpc_node_uri_parse(max, strlen(max), &id));
    assert_true(id == UINT64_MAX);
    const char *bad[] = {
        "raftkv://node/",
        "raftkv://node/0",
        "raftkv://node/07",
        "raftkv://node/1x",
        "raftkv://node/-1",
        "raftkv://client",
        "raftkv://node/18446744073709551616",
        "RAFTKV://node/1",
        "raftkv://nodes/1",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_false(
            transport_grpc_node_uri_parse(bad[k], strlen(bad[k]), &id));
    }
    /* Only the given length counts. */
    assert_false(transport_grpc_node_uri_parse(ok, 14, &id));
    assert_true(transport_grpc_node_uri_parse(ok, 15, &id));
    assert_int_equal(id, 4);
}

static void tls_node_start(struct node *n,
                           raft_id id,
                           struct transport_grpc_tls *t,
                           bool clients_need_cert)
{
    tls_node(id, t);
    t->clients_need_cert = clients_need_cert;
    struct transport_grpc_options o;
    node_options(n, id, &o);
    o.tls = t;
    node_start(n, &o);
}

/* A packed batch of one heartbeat from @from to @to. */
static uint8_t *heartbeat_batch(raft_id from, raft_id to, size_t *len)
{
    struct raft_message m = heartbeat(from, to, 9);
    const struct raft_message *p = &m;
    struct transport_grpc_batch *batch = NULL;
    assert_int_equal(transport_grpc_batch_new(&p, 1, &batch), 0);
    *len = transport_grpc_batch_size(batch);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    transport_grpc_batch_pack(batch, buf);
    transport_grpc_batch_free(batch);
    return buf;
}

/* One Raft batch from @from to node 2 at @address, presenting @tls (NULL:
 * plaintext). Returns the status. */
static int send_as(const char *address,
                   const struct transport_grpc_tls *tls,
                   raft_id from,
                   char *msg,
                   size_t msg_len)
{
    size_t len = 0;
    uint8_t *buf = heartbeat_batch(from, 2, &len);
    struct transport_grpc_client *c = NULL;
    assert_int_equal(transport_grpc_client_new(address, tls, &c), 0);
    struct transport_grpc_result res;
    assert_int_equal(transport_grpc_client_call(c, TRANSPORT_GRPC_RAFT_METHOD,
                                                buf, len, 5000, &res),
                     0);
    transport_grpc_client_free(c);
    free(buf);
    free(res.data);
    if (msg != NULL) {
        snprintf(msg, msg_len, "%s", res.message);
    }
    return res.status;
}

/* With TLS two peers exchange messages both ways (mutual TLS, each
 * proving its node id). */
static void grpc_tls_peers_exchange_messages(void **state)
{
    (void)state;
    struct transport_grpc_tls ta;
    struct transport_grpc_tls tb;
    struct node a;
    struct node b;
    tls_node_start(&a, 1, &ta, true);
    tls_node_start(&b, 2, &tb, true);
    assert_int_equal(transport_grpc_set_peer(a.g, 2, b.address), 0);
    assert_int_equal(transport_grpc_set_peer(b.g, 1, a.address), 0);
    for (uint64_t k = 1; k <= 20; k++) {
        struct raft_message m = heartbeat(1, 2, k);
        assert_int_equal(transport_send(transport_grpc_transport(a.g), &m), 0);
        m = heartbeat(2, 1, k);
        assert_int_equal(transport_send(transport_grpc_transport(b.g), &m), 0);
    }
    transport_flush(transport_grpc_transport(a.g));
    transport_flush(transport_grpc_transport(b.g));
    assert_true(wait_got(&b, 20, 10000));
    assert_true(wait_got(&a, 20, 10000));
    struct transport_grpc_stats s;
    transport_grpc_stats(b.g, &s);
    assert_int_equal(s.batches_denied, 0);
    node_stop(&a);
    node_stop(&b);
    transport_grpc_tls_fini(&ta);
    transport_grpc_tls_fini(&tb);
}

/* The peer service takes batches only from a member proving it is the
 * sender: an impostor with another member's certificate, a client, a node
 * of no concern, a plaintext caller and a certificate from another CA are
 * all refused and nothing of theirs is delivered; the refusals are counted
 * and logged at most once a second. */
static void grpc_tls_peer_service_refuses_impostors(void **state)
{
    (void)state;
    struct transport_grpc_tls tb;
    struct node b;
    tls_node_start(&b, 2, &tb, true);
    assert_int_equal(transport_grpc_set_peer(b.g, 1, "127.0.0.1:1"), 0);
    assert_int_equal(transport_grpc_set_peer(b.g, 3, "127.0.0.1:1"), 0);
    struct transport_grpc_tls n1;
    struct transport_grpc_tls n3;
    struct transport_grpc_tls n4;
    struct transport_grpc_tls client;
    struct transport_grpc_tls other;
    char why[512];
    tls_node(1, &n1);
    tls_node(3, &n3);
    tls_node(4, &n4);
    assert_int_equal(
        tls_try("ca.crt", "client.crt", "client.key", 0, &client, why, 512), 0);
    assert_int_equal(tls_try("other/ca.crt", "other/node-1.crt",
                             "other/node-1.key", 1, &other, why, 512),
                     0);
    char msg[256];
    uint64_t t0 = now_ms();
    /* Node 3's certificate, claiming to be node 1. */
    assert_int_equal(send_as(b.address, &n3, 1, msg, sizeof msg),
                     TRANSPORT_GRPC_PERMISSION_DENIED);
    assert_non_null(strstr(msg, "claims to be from node 1"));
    /* A client's certificate. */
    assert_int_equal(send_as(b.address, &client, 1, msg, sizeof msg),
                     TRANSPORT_GRPC_PERMISSION_DENIED);
    assert_non_null(strstr(msg, "no node certificate"));
    /* Node 4: signed by the CA, but not one of node 2's peers. */
    assert_int_equal(send_as(b.address, &n4, 4, msg, sizeof msg),
                     TRANSPORT_GRPC_PERMISSION_DENIED);
    assert_non_null(strstr(msg, "not a member"));
    /* No TLS at all, and another CA's node 1: no connection. */
    assert_int_equal(send_as(b.address, NULL, 1, NULL, 0),
                     TRANSPORT_GRPC_UNAVAILABLE);
    assert_int_equal(send_as(b.address, &other, 1, NULL, 0),
                     TRANSPORT_GRPC_UNAVAILABLE);
    /* Many more forgeries: counted, not each logged. */
    for (int k = 0; k < 30; k++) {
        assert_int_equal(send_as(b.address, &n3, 1, NULL, 0),
                         TRANSPORT_GRPC_PERMISSION_DENIED);
    }
    uint64_t seconds = (now_ms() - t0) / 1000 + 1;
    assert_int_equal(got_count(&b), 0);
    /* The real node 1 gets through. */
    assert_int_equal(send_as(b.address, &n1, 1, NULL, 0), TRANSPORT_GRPC_OK);
    assert_true(wait_got(&b, 1, 5000));
    struct transport_grpc_stats s;
    transport_grpc_stats(b.g, &s);
    assert_int_equal(s.batches_denied, 33);
    assert_int_equal(s.received, 1);
    pthread_mutex_lock(&b.lock);
    unsigned lines = 0;
    for (const char *p = b.log;
         (p = strstr(p, "warn: refused a Raft batch")) != NULL; p++) {
        lines++;
    }
    pthread_mutex_unlock(&b.lock);
    print_message("%u log lines for 33 refusals in about %llu s\n", lines,
                  (unsigned long long)seconds);
    assert_true(lines >= 1 && lines <= seconds + 1);
    node_stop(&b);
    transport_grpc_tls_fini(&tb);
    transport_grpc_tls_fini(&n1);
    transport_grpc_tls_fini(&n3);
    transport_grpc_tls_fini(&n4);
    transport_grpc_tls_fini(&client);
    transport_grpc_tls_fini(&other);
}

/* Clients without a certificate: refused at the handshake by default;
 * when allowed, they get the application service, never the peer
 * service. */
static void grpc_tls_clients_without_certificates(void **state)
{
    (void)state;
    struct transport_grpc_tls anonymous;
    char why[512];
    assert_int_equal(tls_try("ca.crt", NULL, NULL, 0, &anonymous, why, 512), 0);
    for (int allow = 0; allow < 2; allow++) {
        struct transport_grpc_tls tb;
        struct node b;
        tls_node_start(&b, 2, &tb, allow == 0);
        assert_int_equal(transport_grpc_set_peer(b.g, 1, "127.0.0.1:1"), 0);
        struct transport_grpc_client *c = NULL;
        assert_int_equal(transport_grpc_client_new(b.address, &anonymous, &c),
                         0);
        struct transport_grpc_result res;
        assert_int_equal(
            transport_grpc_client_call(c, "/test.Echo/Now", "x", 1, 5000, &res),
            0);
        transport_grpc_client_free(c);
        free(res.data);
        if (allow == 0) {
            assert_int_equal(res.status, TRANSPORT_GRPC_UNAVAILABLE);
        } else {
            assert_int_equal(res.status, TRANSPORT_GRPC_OK);
            assert_int_equal(send_as(b.address, &anonymous, 1, NULL, 0),
                             TRANSPORT_GRPC_PERMISSION_DENIED);
        }
        assert_int_equal(got_count(&b), 0);
        node_stop(&b);
        transport_grpc_tls_fini(&tb);
    }
    transport_grpc_tls_fini(&anonymous);
}

static int tls_setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(certs, sizeof certs, "%s/raftkv-tls-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(certs) == NULL) {
        return -1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' 1 2 3 4 >/dev/null && '%s' '%s' '%s' >/dev/null",
             GEN_CERTS, certs, BAD_CERTS, certs, GEN_CERTS);
    return system(cmd) == 0 ? 0 : -1;
}

static int tls_teardown(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grpc_endpoints_exchange_batched_messages),
        cmocka_unit_test(grpc_large_queues_split_into_several_batches),
        cmocka_unit_test(grpc_batches_of_another_cluster_are_refused),
        cmocka_unit_test(grpc_malformed_batches_get_invalid_argument),
        cmocka_unit_test(grpc_oversized_messages_get_resource_exhausted),
        cmocka_unit_test(grpc_unknown_methods_get_unimplemented),
        cmocka_unit_test(grpc_application_calls_wait_for_the_owner),
        cmocka_unit_test(grpc_forwarded_calls_are_marked_and_answered),
        cmocka_unit_test(grpc_too_many_waiting_calls_get_resource_exhausted),
        cmocka_unit_test(grpc_calls_per_address_are_capped),
        cmocka_unit_test(grpc_unread_answers_are_bounded),
        cmocka_unit_test(grpc_shutdown_answers_waiting_calls_unavailable),
        cmocka_unit_test(grpc_stopped_calls_wait_for_answer_and_owner),
        cmocka_unit_test(grpc_calls_without_a_message_get_invalid_argument),
        cmocka_unit_test(grpc_port_in_use_is_refused_clearly),
        cmocka_unit_test(grpc_send_checks_peers_and_bounds_queues),
        cmocka_unit_test(grpc_peer_back_from_the_dead_receives_again),
        cmocka_unit_test(grpc_stop_wakes_the_polling_thread),
        cmocka_unit_test(grpc_status_names),
    };
    const struct CMUnitTest tls_tests[] = {
        cmocka_unit_test(grpc_tls_load_names_the_bad_file),
        cmocka_unit_test(grpc_tls_node_uris_parse_strictly),
        cmocka_unit_test(grpc_tls_peers_exchange_messages),
        cmocka_unit_test(grpc_tls_peer_service_refuses_impostors),
        cmocka_unit_test(grpc_tls_clients_without_certificates),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + cmocka_run_group_tests_name("tls", tls_tests, tls_setup,
                                                tls_teardown);
}
