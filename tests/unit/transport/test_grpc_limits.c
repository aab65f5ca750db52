/*
 * transport_grpc_limits: what callers of the application service may hold
 * (transport/src/grpc_limits.c) - calls waiting and answers unread, per
 * source address and in all - and the table of source addresses behind
 * it. The endpoint tests (test_grpc.c) see these caps from the outside;
 * these pin the accounting down one call at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grpc_limits.h"
#include "transport/transport.h"

/* Limits with the endpoint's defaults but for the caps given. */
static void limits_with(struct limits *l,
                        size_t calls_max,
                        size_t calls_per_address_max,
                        size_t unread_bytes_max,
                        size_t unread_bytes_per_address_max)
{
    struct transport_grpc_options o;
    transport_grpc_options_default(&o);
    o.calls_max = calls_max;
    o.calls_per_address_max = calls_per_address_max;
    o.unread_bytes_max = unread_bytes_max;
    o.unread_bytes_per_address_max = unread_bytes_per_address_max;
    limits_init(l, &o);
}

/* Admits a call from @address, which must be let in. */
static struct limits_source *admit(struct limits *l, const char *address)
{
    struct limits_source *s = NULL;
    const char *why = limits_admit(l, address, &s);
    if (why != NULL) {
        fail_msg("%s refused: %s", address, why);
    }
    assert_non_null(s);
    return s;
}

/* Admits a call from @address, which must be refused for @reason. */
static void refused(struct limits *l, const char *address, const char *reason)
{
    struct limits_source *s = NULL;
    const char *why = limits_admit(l, address, &s);
    assert_non_null(why);
    assert_non_null(strstr(why, reason));
    assert_null(s);
}

/* The source address is gRPC's peer name without its port, whatever the
 * family, and is cut to the room given. */
static void limits_source_address_drops_the_port(void **state)
{
    (void)state;
    char a[LIMITS_ADDRESS_MAX];
    limits_source_address("ipv4:127.0.0.1:52110", a, sizeof a);
    assert_string_equal(a, "ipv4:127.0.0.1");
    limits_source_address("ipv6:[::1]:7001", a, sizeof a);
    assert_string_equal(a, "ipv6:[::1]");
    limits_source_address("ipv6:%5B::ffff:127.0.0.1%5D:9", a, sizeof a);
    assert_string_equal(a, "ipv6:%5B::ffff:127.0.0.1%5D");
    limits_source_address(NULL, a, sizeof a);
    assert_string_equal(a, "unknown");
    limits_source_address("noport", a, sizeof a);
    assert_string_equal(a, "noport");
    limits_source_address(":7001", a, sizeof a);
    assert_string_equal(a, ":7001");
    char small[8];
    limits_source_address("ipv4:10.0.0.1:1", small, sizeof small);
    assert_string_equal(small, "ipv4:10");
}

/* A call is admitted while its address is under calls_per_address_max
 * and the node under calls_max; each refusal names its reason, and a call
 * that ends makes room again. */
static void limits_calls_are_capped_per_address_and_in_all(void **state)
{
    (void)state;
    struct limits l;
    limits_with(&l, 3, 2, 1u << 20, 1u << 20);
    struct limits_source *a = admit(&l, "ipv4:10.0.0.1");
    assert_ptr_equal(admit(&l, "ipv4:10.0.0.1"), a);
    refused(&l, "ipv4:10.0.0.1", "from your address");
    struct limits_source *b = admit(&l, "ipv4:10.0.0.2");
    assert_int_equal(l.calls, 3);
    assert_int_equal(a->calls, 2);
    assert_int_equal(b->calls, 1);
    refused(&l, "ipv4:10.0.0.3", "too many calls waiting");
    refused(&l, "ipv4:10.0.0.2", "too many calls waiting");
    assert_int_equal(l.calls, 3);
    limits_call_end(&l, a, 0);
    assert_int_equal(l.calls, 2);
    assert_int_equal(a->calls, 1);
    admit(&l, "ipv4:10.0.0.3");
    limits_fini(&l);
}

/* An address is kept only while it holds a call or unread bytes: the
 * table is bounded by what is held, not by the addresses ever seen. */
static void limits_sources_last_while_they_hold_something(void **state)
{
    (void)state;
    struct limits l;
    limits_with(&l, 1, 1, 1u << 20, 1u << 20);
    assert_null(limits_find(&l, "ipv4:10.0.0.1"));
    struct limits_source *a = admit(&l, "ipv4:10.0.0.1");
    assert_ptr_equal(limits_find(&l, "ipv4:10.0.0.1"), a);
    /* Refused: the node is full. Nothing is kept for the address. */
    refused(&l, "ipv4:10.0.0.2", "too many calls waiting");
    assert_null(limits_find(&l, "ipv4:10.0.0.2"));
    limits_answer_started(&l, a, 100);
    limits_call_end(&l, a, 100);
    assert_null(limits_find(&l, "ipv4:10.0.0.1"));
    assert_int_equal(l.calls, 0);
    assert_int_equal(l.unread, 0);
    limits_fini(&l);
}

/* Unread bytes are capped per address and in all: a large answer fits
 * only within both, a small one always does, and an address over its
 * share gets no new call until its answers are read. */
static void limits_unread_answers_are_capped(void **state)
{
    (void)state;
    struct limits l;
    limits_with(&l, 100, 100, 15000, 10000);
    struct limits_source *a = admit(&l, "ipv4:10.0.0.1");
    struct limits_source *a2 = admit(&l, "ipv4:10.0.0.1");
    struct limits_source *b = admit(&l, "ipv4:10.0.0.2");
    assert_ptr_equal(a, a2);
    assert_true(limits_answer_fits(&l, a, 10000));
    assert_false(limits_answer_fits(&l, a, 10001));
    limits_answer_started(&l, a, 8000);
    assert_int_equal(a->unread, 8000);
    assert_int_equal(l.unread, 8000);
    /* Over a's share, not over b's; b's next would pass the total. */
    assert_false(limits_answer_fits(&l, a, 5000));
    assert_true(limits_answer_fits(&l, b, 5000));
    assert_true(limits_answer_fits(&l, b, 7000));
    assert_false(limits_answer_fits(&l, b, 7001));
    /* Small answers, and calls that do not count, always fit. */
    assert_true(limits_answer_fits(&l, a, LIMITS_ANSWER_SMALL_BYTES));
    assert_false(limits_answer_fits(&l, a, LIMITS_ANSWER_SMALL_BYTES + 1));
    assert_true(limits_answer_fits(&l, NULL, 1u << 30));
    /* a reaches its share: no new call from it; others still come in. */
    limits_answer_started(&l, a, 2000);
    refused(&l, "ipv4:10.0.0.1", "not yet read");
    struct limits_source *c = admit(&l, "ipv4:10.0.0.3");
    /* ...until the node's total is reached: then nobody. */
    limits_answer_started(&l, b, 5000);
    assert_int_equal(l.unread, 15000);
    refused(&l, "ipv4:10.0.0.4", "not yet read");
    assert_null(limits_find(&l, "ipv4:10.0.0.4"));
    /* The answers are read: room again. */
    limits_call_end(&l, a, 8000);
    limits_call_end(&l, a, 2000);
    limits_call_end(&l, b, 5000);
    limits_call_end(&l, c, 0);
    assert_int_equal(l.calls, 0);
    assert_int_equal(l.unread, 0);
    admit(&l, "ipv4:10.0.0.1");
    limits_fini(&l);
}

/* An address longer than the table keeps is cut, and finds its own
 * source again: its calls add up instead of making a source each. */
static void limits_long_addresses_are_cut_and_found(void **state)
{
    (void)state;
    struct limits l;
    limits_with(&l, 100, 2, 1u << 20, 1u << 20);
    char lng[200];
    memset(lng, 'x', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    struct limits_source *s = admit(&l, lng);
    assert_ptr_equal(admit(&l, lng), s);
    refused(&l, lng, "from your address");
    char kept[LIMITS_ADDRESS_MAX];
    snprintf(kept, sizeof kept, "%s", s->address);
    assert_int_equal(strlen(kept), LIMITS_ADDRESS_MAX - 1);
    assert_memory_equal(kept, lng, LIMITS_ADDRESS_MAX - 1);
    assert_ptr_equal(limits_find(&l, kept), s);
    limits_call_end(&l, s, 0);
    limits_call_end(&l, s, 0);
    assert_null(limits_find(&l, kept));
    limits_fini(&l);
}

/* More addresses than buckets: each finds its own source, ends in any
 * order, and the table is empty at the end. limits_fini frees what is
 * still held. */
static void limits_many_addresses_share_the_buckets(void **state)
{
    (void)state;
    enum {
        N = 3 * LIMITS_BUCKETS
    };
    struct limits l;
    limits_with(&l, N, 1, 1u << 30, 1u << 20);
    static struct limits_source *src[N];
    char address[LIMITS_ADDRESS_MAX];
    for (size_t k = 0; k < N; k++) {
        snprintf(address, sizeof address, "ipv4:10.%zu.%zu.%zu", k >> 16,
                 (k >> 8) & 255, k & 255);
        src[k] = admit(&l, address);
        limits_answer_started(&l, src[k], k);
    }
    assert_int_equal(l.calls, N);
    for (size_t k = 0; k < N; k++) {
        assert_ptr_equal(limits_find(&l, src[k]->address), src[k]);
        assert_int_equal(src[k]->calls, 1);
        assert_int_equal(src[k]->unread, k);
    }
    /* Every other one ends, from the last to the first. */
    for (size_t k = N; k-- > 0;) {
        if (k % 2 == 0) {
            snprintf(address, sizeof address, "%s", src[k]->address);
            limits_call_end(&l, src[k], k);
            assert_null(limits_find(&l, address));
        }
    }
    for (size_t k = 1; k < N; k += 2) {
        assert_ptr_equal(limits_find(&l, src[k]->address), src[k]);
    }
    assert_int_equal(l.calls, N / 2);
    limits_fini(&l); /* the odd ones: freed here */
    for (size_t k = 0; k < LIMITS_BUCKETS; k++) {
        assert_null(l.buckets[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits_source_address_drops_the_port),
        cmocka_unit_test(limits_calls_are_capped_per_address_and_in_all),
        cmocka_unit_test(limits_sources_last_while_they_hold_something),
        cmocka_unit_test(limits_unread_answers_are_capped),
        cmocka_unit_test(limits_long_addresses_are_cut_and_found),
        cmocka_unit_test(limits_many_addresses_share_the_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
