/* common: the timed heap under both harness drivers. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"

/* The test links with ld's --wrap=realloc, which sends the heap's calls
 * here; the __wrap_/__real_ names are ld's convention, not ours. */
void *__real_realloc(void *p, size_t size);
void *__wrap_realloc(void *p, size_t size);

static bool fail_realloc;

void *__wrap_realloc(void *p, size_t size)
{
    return fail_realloc ? NULL : __real_realloc(p, size);
}

/* An item as the drivers keep them: the key, then a payload. */
struct item
{
    struct common_timed key;
    uint64_t payload;
};

static struct item item_of(uint64_t at, uint64_t seq)
{
    struct item it = {.key = {.at = at, .seq = seq}, .payload = at ^ seq};
    return it;
}

static void push(struct common_heap *h, uint64_t at, uint64_t seq)
{
    struct item it = item_of(at, seq);
    assert_int_equal(common_heap_push(h, &it), 0);
}

/* Pops everything into @out (room for @n); returns how many came out. */
static size_t drain(struct common_heap *h, struct item *out, size_t n)
{
    size_t k = 0;
    while (common_heap_len(h) > 0 && k < n) {
        common_heap_pop(h, &out[k++]);
    }
    return k;
}

/* Runs @fn in a child process and says whether the child was killed by
 * SIGABRT (what a failed assert does). */
static bool aborts(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The default action (cmocka catches SIGABRT to report a failed
         * test, and would carry on with the next test in the child), and
         * no core file. */
        signal(SIGABRT, SIG_DFL);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* Items come out by time, and by sequence number among equal times,
 * whatever order they went in, with their payloads. */
static void heap_pops_by_time_then_sequence(void **state)
{
    (void)state;
    enum {
        N = 5000
    };
    struct common_heap h;
    common_heap_init(&h, sizeof(struct item));
    struct common_prng p;
    common_prng_seed(&p, 11);
    for (uint64_t seq = 0; seq < N; seq++) {
        /* Few distinct times, so that ties are common. */
        push(&h, common_prng_below(&p, 50), seq);
    }
    assert_int_equal(common_heap_len(&h), N);
    static struct item out[N];
    assert_int_equal(drain(&h, out, N), N);
    for (size_t k = 0; k < N; k++) {
        assert_int_equal(out[k].payload, out[k].key.at ^ out[k].key.seq);
        if (k > 0) {
            assert_true(common_timed_before(&out[k - 1].key, &out[k].key));
        }
    }
    assert_null(common_heap_top(&h));
    common_heap_fini(&h);
}

/* The order items come out in depends only on their keys: the same keys
 * pushed in two different orders, and interleaved with pops, come out the
 * same (the determinism sim mode depends on). */
static void heap_order_depends_only_on_keys(void **state)
{
    (void)state;
    enum {
        N = 2000
    };
    static struct item keys[N];
    struct common_prng p;
    common_prng_seed(&p, 5);
    for (uint64_t k = 0; k < N; k++) {
        keys[k] = item_of(common_prng_below(&p, 100), k);
    }
    struct common_heap a;
    struct common_heap b;
    common_heap_init(&a, sizeof(struct item));
    common_heap_init(&b, sizeof(struct item));
    for (size_t k = 0; k < N; k++) {
        assert_int_equal(common_heap_push(&a, &keys[k]), 0);
        assert_int_equal(common_heap_push(&b, &keys[N - 1 - k]), 0);
    }
    static struct item out_a[N];
    static struct item out_b[N];
    assert_int_equal(drain(&a, out_a, N), N);
    assert_int_equal(drain(&b, out_b, N), N);
    assert_memory_equal(out_a, out_b, sizeof out_a);
    /* Pops between pushes: whatever is due first leaves first. */
    push(&a, 10, 1);
    push(&a, 5, 2);
    struct item it;
    common_heap_pop(&a, &it);
    assert_int_equal(it.key.at, 5);
    push(&a, 7, 3);
    push(&a, 10, 0);
    const uint64_t want[][2] = {{7, 3}, {10, 0}, {10, 1}};
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(common_heap_top(&a)->at, want[k][0]);
        common_heap_pop(&a, &it);
        assert_int_equal(it.key.at, want[k][0]);
        assert_int_equal(it.key.seq, want[k][1]);
    }
    common_heap_fini(&a);
    common_heap_fini(&b);
}

/* common_heap_at visits every item once; clear empties the heap and keeps
 * it usable. */
static void heap_visits_and_clears(void **state)
{
    (void)state;
    struct common_heap h;
    common_heap_init(&h, sizeof(struct item));
    uint64_t sum = 0;
    for (uint64_t k = 1; k <= 300; k++) {
        push(&h, 1000 - k, k);
        sum += k;
    }
    uint64_t seen = 0;
    for (size_t k = 0; k < common_heap_len(&h); k++) {
        seen += ((struct item *)common_heap_at(&h, k))->key.seq;
    }
    assert_int_equal(seen, sum);
    common_heap_clear(&h);
    assert_int_equal(common_heap_len(&h), 0);
    assert_null(common_heap_top(&h));
    push(&h, 3, 1);
    assert_int_equal(common_heap_top(&h)->at, 3);
    common_heap_fini(&h);
    assert_int_equal(common_heap_len(&h), 0);
}

/* A push that cannot grow the heap fails with COMMON_ENOMEM and leaves the
 * heap as it was. */
static void heap_push_fails_cleanly_without_memory(void **state)
{
    (void)state;
    struct common_heap h;
    common_heap_init(&h, sizeof(struct item));
    fail_realloc = true;
    struct item it = item_of(1, 1);
    assert_int_equal(common_heap_push(&h, &it), COMMON_ENOMEM);
    fail_realloc = false;
    assert_int_equal(common_heap_len(&h), 0);
    /* Full at its first capacity, then refused the next growth. */
    uint64_t seq = 0;
    while (h.len < h.cap || h.cap == 0) {
        push(&h, 100 - seq % 100, seq);
        seq++;
    }
    fail_realloc = true;
    it = item_of(0, seq);
    assert_int_equal(common_heap_push(&h, &it), COMMON_ENOMEM);
    fail_realloc = false;
    assert_int_equal(common_heap_len(&h), seq);
    static struct item out[1024];
    assert_int_equal(drain(&h, out, 1024), seq);
    for (size_t k = 1; k < seq; k++) {
        assert_true(common_timed_before(&out[k - 1].key, &out[k].key));
    }
    common_heap_fini(&h);
}

static void pop_empty(void)
{
    struct common_heap h;
    common_heap_init(&h, sizeof(struct item));
    struct item it;
    common_heap_pop(&h, &it);
}

static void pop_duplicate_key(void)
{
    struct common_heap h;
    common_heap_init(&h, sizeof(struct item));
    struct item it = item_of(4, 9);
    if (common_heap_push(&h, &it) == 0 && common_heap_push(&h, &it) == 0) {
        common_heap_pop(&h, &it);
    }
    common_heap_fini(&h);
}

/* Popping an empty heap is an underflow: it asserts. */
static void heap_pop_of_empty_heap_asserts(void **state)
{
    (void)state;
    assert_true(aborts(pop_empty));
}

/* Two items with the same key would come out in an order set by the
 * heap's shape, not by the keys: the pop asserts. */
static void heap_pop_asserts_unique_keys(void **state)
{
    (void)state;
    assert_true(aborts(pop_duplicate_key));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heap_pops_by_time_then_sequence),
        cmocka_unit_test(heap_order_depends_only_on_keys),
        cmocka_unit_test(heap_visits_and_clears),
        cmocka_unit_test(heap_push_fails_cleanly_without_memory),
        cmocka_unit_test(heap_pop_of_empty_heap_asserts),
        cmocka_unit_test(heap_pop_asserts_unique_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
