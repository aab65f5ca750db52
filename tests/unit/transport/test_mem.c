/* transport_mem: the in-process network and its faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/transport.h"

static uint64_t fake_now;

static uint64_t clock_fn(void *data)
{
    (void)data;
    return fake_now;
}

struct sink
{
    size_t n;
    uint64_t min_at;
    uint64_t max_at;
    uint64_t last_seq;
    bool out_of_order;
};

static void collect(void *data, struct transport_msg *m)
{
    struct sink *s = data;
    if (s->n == 0 || m->deliver_at_ns < s->min_at) {
        s->min_at = m->deliver_at_ns;
    }
    if (m->deliver_at_ns > s->max_at) {
        s->max_at = m->deliver_at_ns;
    }
    s->n++;
    free(m);
}

static struct raft_message hb(raft_id from, raft_id to)
{
    struct raft_message m = {
        .type = RAFT_MSG_HEARTBEAT, .from = from, .to = to, .term = 1};
    return m;
}

static struct transport_mem *net3(struct sink *sinks)
{
    struct transport_mem *net;
    assert_int_equal(transport_mem_new(3, 1, clock_fn, NULL, &net), 0);
    for (raft_id id = 1; id <= 3; id++) {
        memset(&sinks[id], 0, sizeof sinks[id]);
        transport_mem_attach(net, id, collect, &sinks[id]);
    }
    return net;
}

static void send_n(struct transport_mem *net, raft_id from, raft_id to, int n)
{
    struct transport *t = transport_mem_endpoint(net, from);
    for (int k = 0; k < n; k++) {
        struct raft_message m = hb(from, to);
        assert_int_equal(transport_send(t, &m), 0);
    }
}

/* Cuts are one-way, heal restores them, and a detached (crashed) node
 * receives nothing. */
static void mem_cuts_and_detach(void **state)
{
    (void)state;
    struct sink s[4];
    struct transport_mem *net = net3(s);
    transport_mem_cut(net, 1, 2, true);
    send_n(net, 1, 2, 5);
    send_n(net, 2, 1, 5);
    assert_int_equal(s[2].n, 0);
    assert_int_equal(s[1].n, 5);
    assert_true(transport_mem_is_cut(net, 1, 2));
    assert_false(transport_mem_is_cut(net, 2, 1));
    assert_int_equal(transport_mem_cut_into(net, 2), 1u << 0);
    assert_int_equal(transport_mem_cut_into(net, 1), 0);
    assert_int_equal(transport_mem_cut_into(net, 9), UINT32_MAX);
    /* Link faults leave the cut in place. */
    struct transport_link_faults f = {.delay_ns_min = 1000};
    transport_mem_set_faults(net, 0, 0, &f);
    assert_true(transport_mem_is_cut(net, 1, 2));
    transport_mem_heal(net);
    send_n(net, 1, 2, 5);
    assert_int_equal(s[2].n, 5);
    transport_mem_attach(net, 3, NULL, NULL);
    send_n(net, 1, 3, 5);
    assert_int_equal(s[3].n, 0);
    struct transport_mem_stats st;
    transport_mem_stats(net, &st);
    assert_int_equal(st.dropped_cut, 5);
    assert_int_equal(st.dropped_detached, 5);
    /* Sending as another node, or to a node outside the net, is refused. */
    struct raft_message m = hb(2, 1);
    assert_int_equal(transport_send(transport_mem_endpoint(net, 1), &m),
                     COMMON_EINVAL);
    m = hb(1, 9);
    assert_int_equal(transport_send(transport_mem_endpoint(net, 1), &m),
                     COMMON_EINVAL);
    transport_mem_free(net);
}

/* Loss drops about the configured share; duplication doubles about its
 * share; delays stamp delivery times inside the range. */
static void mem_loss_duplication_delay(void **state)
{
    (void)state;
    struct sink s[4];
    struct transport_mem *net = net3(s);
    struct transport_link_faults f = {.loss = 0.3};
    transport_mem_set_faults(net, 1, 2, &f);
    send_n(net, 1, 2, 10000);
    assert_true(s[2].n > 6500 && s[2].n < 7500);
    f = (struct transport_link_faults){.duplicate = 0.2};
    transport_mem_set_faults(net, 1, 3, &f);
    send_n(net, 1, 3, 10000);
    assert_true(s[3].n > 11500 && s[3].n < 12500);
    fake_now = 1000000;
    f = (struct transport_link_faults){.delay_ns_min = 5000,
                                       .delay_ns_max = 9000};
    transport_mem_set_faults(net, 2, 1, &f);
    send_n(net, 2, 1, 1000);
    assert_true(s[1].min_at >= fake_now + 5000);
    assert_true(s[1].max_at <= fake_now + 9000);
    assert_true(s[1].max_at - s[1].min_at > 3000);
    transport_mem_free(net);
}

struct hold_sink
{
    size_t n;
    size_t held; /* stamped at or beyond the hold's minimum */
    size_t bad;  /* stamped outside both the flow and the hold ranges */
};

static void collect_hold(void *data, struct transport_msg *m)
{
    struct hold_sink *s = data;
    uint64_t d = m->deliver_at_ns - fake_now;
    s->n++;
    if (d >= 1000000000 && d <= 5000000000) {
        s->held++;
    } else if (d > 2000) {
        s->bad++;
    }
    free(m);
}

/* A long hold delays about its fraction of a link's messages by seconds,
 * within its range, while the rest keep the link's own delay; links
 * without a hold hold nothing. */
static void mem_hold_delays_a_fraction_by_seconds(void **state)
{
    (void)state;
    struct transport_mem *net;
    assert_int_equal(transport_mem_new(3, 7, clock_fn, NULL, &net), 0);
    struct hold_sink s[4] = {{0}};
    for (raft_id id = 1; id <= 3; id++) {
        transport_mem_attach(net, id, collect_hold, &s[id]);
    }
    fake_now = 5000;
    struct transport_link_faults f = {.delay_ns_min = 1000,
                                      .delay_ns_max = 2000,
                                      .hold = 0.05,
                                      .hold_ns_min = 1000000000,
                                      .hold_ns_max = 4000000000};
    transport_mem_set_faults(net, 1, 2, &f);
    send_n(net, 1, 2, 10000);
    send_n(net, 1, 3, 1000);
    assert_int_equal(s[2].n, 10000);
    assert_true(s[2].held > 400 && s[2].held < 600);
    assert_int_equal(s[2].bad, 0);
    assert_int_equal(s[3].n, 1000);
    assert_int_equal(s[3].held, 0);
    struct transport_mem_stats st;
    transport_mem_stats(net, &st);
    assert_int_equal(st.held, s[2].held);
    transport_mem_free(net);
}

/* A clone is deep: its entries and their data survive the original. */
static void mem_clone_is_deep(void **state)
{
    (void)state;
    char data[2][8] = {"alpha", "beta"};
    struct raft_entry es[2] = {
        {.term = 1,
         .index = 5,
         .type = RAFT_ENTRY_COMMAND,
         .data = {data[0], 5}},
        {.term = 1, .index = 6, .type = RAFT_ENTRY_NOOP, .data = {NULL, 0}},
    };
    struct raft_message m = {
        .type = RAFT_MSG_APPEND,
        .from = 1,
        .to = 2,
        .term = 1,
        .append = {
            .prev_index = 4, .prev_term = 1, .entries = es, .n_entries = 2}};
    struct transport_msg *c = transport_msg_clone(&m);
    assert_non_null(c);
    memset(data, 0, sizeof data);
    memset(es, 0, sizeof es);
    assert_int_equal(c->m.append.n_entries, 2);
    assert_int_equal(c->m.append.entries[0].index, 5);
    assert_memory_equal(c->m.append.entries[0].data.base, "alpha", 5);
    assert_null(c->m.append.entries[1].data.base);
    free(c);
}

/* The fault table as a policy for another carrier (the harness over
 * gRPC): route decides each message's fate as a send would - cut, loss,
 * duplication, delays - stamps the copies and counts them. */
static void mem_route_applies_the_links_faults(void **state)
{
    (void)state;
    struct sink sinks[4];
    struct transport_mem *net = net3(sinks);
    fake_now = 1000;
    struct raft_message m = hb(1, 2);
    struct transport_msg *out[2];
    transport_mem_cut(net, 1, 2, true);
    assert_int_equal(transport_mem_route(net, transport_msg_clone(&m), out), 0);
    assert_null(out[0]);
    transport_mem_cut(net, 1, 2, false);
    struct transport_link_faults f = {.loss = 1.0};
    transport_mem_set_faults(net, 1, 2, &f);
    assert_int_equal(transport_mem_route(net, transport_msg_clone(&m), out), 0);
    f = (struct transport_link_faults){
        .duplicate = 1.0, .delay_ns_min = 500, .delay_ns_max = 900};
    transport_mem_set_faults(net, 1, 2, &f);
    assert_int_equal(transport_mem_route(net, transport_msg_clone(&m), out), 2);
    for (int k = 0; k < 2; k++) {
        assert_non_null(out[k]);
        assert_true(out[k]->deliver_at_ns >= 1500 &&
                    out[k]->deliver_at_ns <= 1900);
        assert_int_equal(out[k]->m.heartbeat.context, m.heartbeat.context);
    }
    assert_true(out[0]->seq != out[1]->seq);
    free(out[0]);
    free(out[1]);
    transport_mem_heal(net);
    assert_int_equal(transport_mem_route(net, transport_msg_clone(&m), out), 1);
    assert_int_equal(out[0]->deliver_at_ns, 1000);
    free(out[0]);
    /* Unknown nodes: dropped, never an out-of-bounds link. */
    m.from = 9;
    assert_int_equal(transport_mem_route(net, transport_msg_clone(&m), out), 0);
    struct transport_mem_stats st;
    transport_mem_stats(net, &st);
    assert_int_equal(st.sent, 4);
    assert_int_equal(st.dropped_cut, 1);
    assert_int_equal(st.dropped_loss, 1);
    assert_int_equal(st.duplicated, 1);
    assert_int_equal(st.delivered, 3);
    /* Nothing went through the receivers: route only decides. */
    assert_int_equal(sinks[2].n, 0);
    transport_mem_free(net);
}

/* A batched network holds sends until the endpoint's flush, then gives
 * each receiver its share in one call; a full outbox flushes itself, a
 * detached receiver gets nothing and cuts still drop. */
struct batches
{
    size_t calls;
    size_t msgs;
};

static void collect_batch(void *data, struct transport_msg **msgs, size_t n)
{
    struct batches *b = data;
    b->calls++;
    b->msgs += n;
    for (size_t k = 0; k < n; k++) {
        free(msgs[k]);
    }
}

static void mem_batched_hands_over_per_flush(void **state)
{
    (void)state;
    struct transport_mem *net;
    assert_int_equal(transport_mem_new(3, 1, clock_fn, NULL, &net), 0);
    transport_mem_set_batched(net);
    struct batches b[4];
    memset(b, 0, sizeof b);
    for (raft_id id = 1; id <= 3; id++) {
        transport_mem_attach_batch(net, id, collect_batch, &b[id]);
    }
    struct transport *t = transport_mem_endpoint(net, 1);
    send_n(net, 1, 2, 5);
    send_n(net, 1, 3, 3);
    assert_int_equal(b[2].msgs + b[3].msgs, 0); /* nothing before the flush */
    assert_int_equal(transport_flush(t), 0);
    assert_int_equal(b[2].calls, 1);
    assert_int_equal(b[2].msgs, 5);
    assert_int_equal(b[3].calls, 1);
    assert_int_equal(b[3].msgs, 3);
    assert_int_equal(transport_flush(t), 0); /* empty: no call */
    assert_int_equal(b[2].calls, 1);
    /* The outbox is bounded: the send that fills it flushes it. */
    send_n(net, 1, 2, TRANSPORT_MEM_OUTBOX_MAX);
    assert_int_equal(b[2].calls, 2);
    assert_int_equal(b[2].msgs, 5 + TRANSPORT_MEM_OUTBOX_MAX);
    /* Cut and detached receivers drop at the flush. */
    transport_mem_cut(net, 1, 2, true);
    transport_mem_attach_batch(net, 3, NULL, NULL);
    send_n(net, 1, 2, 4);
    send_n(net, 1, 3, 4);
    assert_int_equal(transport_flush(t), 0);
    assert_int_equal(b[2].msgs, 5 + TRANSPORT_MEM_OUTBOX_MAX);
    assert_int_equal(b[3].msgs, 3);
    struct transport_mem_stats st;
    transport_mem_stats(net, &st);
    assert_int_equal(st.sent, 5 + 3 + TRANSPORT_MEM_OUTBOX_MAX + 8);
    assert_int_equal(st.dropped_cut, 4);
    assert_int_equal(st.dropped_detached, 4);
    /* Sends still waiting when the network is freed are freed with it. */
    transport_mem_cut(net, 1, 2, false);
    send_n(net, 1, 2, 2);
    transport_mem_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mem_cuts_and_detach),
        cmocka_unit_test(mem_loss_duplication_delay),
        cmocka_unit_test(mem_hold_delays_a_fraction_by_seconds),
        cmocka_unit_test(mem_clone_is_deep),
        cmocka_unit_test(mem_route_applies_the_links_faults),
        cmocka_unit_test(mem_batched_hands_over_per_flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
