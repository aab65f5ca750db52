/*
 * checker: no bytes crash the parsers or the checker. Random bytes, and
 * valid histories of each format with bytes flipped, cut, doubled or
 * spliced, go through checker_history_parse in their own format and in
 * auto-detection; whatever parses is checked under a small time budget.
 * Run under AddressSanitizer and UBSan, this is where a stray read shows.
 *
 * The seed is CHECKER_FUZZ_SEED (default 1), the number of rounds
 * CHECKER_FUZZ_COUNT (default 20000); a failure prints the seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "internal.h" /* the two JSON Lines parsers, compared */
#include "same_event.h"

static const char *const seeds[] = {
    "{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"x\","
    "\"value\":[null,\"1\"],\"time\":1}\n"
    "{\"process\":0,\"type\":\"fail\",\"f\":\"cas\",\"key\":\"x\","
    "\"error\":\"mismatch\",\"time\":5}\n"
    "{\"process\":1,\"type\":\"invoke\",\"f\":\"append\",\"key\":\"x\","
    "\"value\":\"a\\u00e9\",\"time\":2}\n"
    "{\"process\":1,\"type\":\"ok\",\"f\":\"append\",\"key\":\"x\","
    "\"time\":3}\n"
    "{\"process\":2,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"x\","
    "\"time\":4}\n"
    "{\"process\":2,\"type\":\"ok\",\"f\":\"get\",\"key\":\"x\","
    "\"value\":\"a\\u00e9\",\"time\":9}\n",
    "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 y\"}\n"
    "{:process 1, :type :invoke, :f :get, :key 0, :value nil, :index 3}\n"
    "{:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 y\"}\n"
    "{:process 1, :type :ok, :f :get, :key \"0\", :value \"x 0 y\"}\n"
    "{:process :nemesis, :type :info, :f :start, :value #{[:a \"b\"] "
    "(1 2.5)}}\n"
    "{:process 2, :type :invoke, :f :cas, :key \"1\", :value [nil 3]}\n"
    "{:process 2, :type :fail, :f :cas, :key \"1\", :error :mismatch}\n",
    "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
    "INFO  jepsen.util - 2\t:invoke\t:write\t4\n"
    "INFO  jepsen.util - 0\t:ok\t:read\tnil\n"
    "INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n"
    "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]\n"
    "INFO  jepsen.util - 3\t:fail\t:cas\t[1 4]\n"
    "INFO  jepsen.util - 5\t:invoke\t:read\tnil\n"
    "INFO  jepsen.util - 5\t:fail\t:read\t:timed-out\n",
};

static void try_bytes(const char *data, size_t len, enum checker_format f)
{
    struct checker_history *h = checker_history_new();
    assert_non_null(h);
    int rv = checker_history_parse(h, "fuzz", data, len, f);
    if (rv != 0) {
        assert_true(rv == COMMON_EPARSE || rv == COMMON_EINVAL);
        assert_int_equal(strncmp(checker_history_error(h), "fuzz:", 5), 0);
    } else {
        struct checker_options o;
        checker_options_init(&o);
        o.threads = 1;
        o.max_steps = 100000; /* a bound in steps, not seconds */
        struct checker_result *r = NULL;
        rv = checker_check(h, &o, &r);
        assert_true(rv == 0 || rv == COMMON_EINVAL);
        if (rv == 0) {
            FILE *sink = fopen("/dev/null", "w");
            assert_non_null(sink);
            checker_result_write_text(sink, h, r);
            checker_result_write_json(sink, h, r);
            checker_report_html_write(sink, h, r);
            fclose(sink);
        }
        checker_result_free(r);
    }
    checker_history_free(h);
}

static void mutate(char *buf, size_t *len, size_t cap, struct common_prng *rng)
{
    size_t n = *len;
    switch (common_prng_below(rng, 5)) {
        case 0: /* flip a byte */
            if (n > 0) {
                buf[common_prng_below(rng, n)] =
                    (char)common_prng_below(rng, 256);
            }
            break;
        case 1: /* cut */
            *len = (size_t)common_prng_below(rng, n + 1);
            break;
        case 2: { /* delete a run */
            size_t at = (size_t)common_prng_below(rng, n + 1);
            size_t k = (size_t)common_prng_below(rng, n - at + 1);
            memmove(buf + at, buf + at + k, n - at - k);
            *len = n - k;
            break;
        }
        case 3: { /* double a run */
            size_t at = (size_t)common_prng_below(rng, n + 1);
            size_t k = (size_t)common_prng_below(rng, 40);
            if (at + k > n) {
                k = n - at;
            }
            if (n + k <= cap) {
                memmove(buf + at + k, buf + at, n - at);
                *len = n + k;
            }
            break;
        }
        default: { /* splice in a special byte */
            static const char special[] = "{}[]\":,\\ \n\t\0#_:-9";
            if (n < cap && n > 0) {
                size_t at = (size_t)common_prng_below(rng, n);
                buf[at] = special[common_prng_below(rng, sizeof special - 1)];
            }
            break;
        }
    }
}

/* Random bytes and mutated histories never crash anything, and every
 * refusal is a parse or input error with a "file:" message. */
static void parsers_survive_any_bytes(void **state)
{
    (void)state;
    uint64_t seed = seed_from_env("CHECKER_FUZZ_SEED", 1);
    uint64_t count = seed_from_env("CHECKER_FUZZ_COUNT", 20000);
    struct common_prng rng;
    common_prng_seed(&rng, seed);
    print_message("seed %llu (CHECKER_FUZZ_SEED), %llu rounds\n",
                  (unsigned long long)seed, (unsigned long long)count);
    enum {
        CAP = 4096
    };
    char *buf = malloc(CAP);
    assert_non_null(buf);
    for (uint64_t i = 0; i < count; i++) {
        size_t len;
        int which = (int)(i % 4);
        if (which == 3) {
            len = (size_t)common_prng_below(&rng, 300);
            for (size_t k = 0; k < len; k++) {
                buf[k] = (char)common_prng_below(&rng, 256);
            }
        } else {
            len = strlen(seeds[which]);
            memcpy(buf, seeds[which], len);
            int rounds = (int)common_prng_range(&rng, 1, 4);
            for (int k = 0; k < rounds; k++) {
                mutate(buf, &len, CAP, &rng);
            }
        }
        enum checker_format f =
            (enum checker_format)(which == 3 ? 0 : which + 1);
        try_bytes(buf, len, f);
        try_bytes(buf, len, CHECKER_FORMAT_AUTO);
    }
    free(buf);
}

/* Whatever line the fast JSON Lines scanner accepts, jansson accepts too
 * and reads as the same event; lines with every field the harness writes
 * (the answering node included) take the fast path. */
static void fast_jsonl_scanner_agrees_with_jansson(void **state)
{
    (void)state;
    uint64_t seed = seed_from_env("CHECKER_FUZZ_SEED", 1);
    struct common_prng rng;
    common_prng_seed(&rng, seed);
    struct checker_gen_options o;
    checker_gen_options_init(&o);
    o.ops = 300;
    o.info_rate = 0.1;
    o.fail_rate = 0.1;
    struct checker_gen *g;
    assert_int_equal(checker_generate(&o, &g), 0);
    struct parse_scratch scratch = {NULL, 0, 0};
    char line[512];
    unsigned fast = 0;
    for (int round = 0; round < 20000; round++) {
        FILE *f = fmemopen(line, sizeof line, "w");
        struct checker_event ev =
            g->events[common_prng_below(&rng, g->events_len)];
        ev.node = common_prng_below(&rng, 4); /* 0: no "node" written */
        checker_event_write_jsonl(f, &ev);
        long n = ftell(f);
        fclose(f);
        size_t len = (size_t)n - 1; /* without its newline */
        int rounds = (int)common_prng_below(&rng, 3);
        for (int k = 0; k < rounds; k++) {
            mutate(line, &len, sizeof line, &rng);
        }
        struct line l = {line, len, 1};
        struct checker_event a;
        struct checker_event b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        if (parse_jsonl_fast(&l, &a) != 1) {
            continue;
        }
        fast++;
        scratch.len = 0;
        if (scratch.cap < len + 64) {
            scratch.buf = realloc(scratch.buf, len + 64);
            assert_non_null(scratch.buf);
            scratch.cap = len + 64;
        }
        char msg[256];
        int rv = parse_jsonl_jansson(&l, &b, &scratch, msg, sizeof msg);
        if (rv != 1 || !same_event(&a, &b)) {
            print_error("seed %llu: fast and jansson differ on: %.*s (%s)\n",
                        (unsigned long long)seed, (int)len, line,
                        rv == 1 ? "other event" : msg);
            fail();
        }
    }
    print_message("%u of 20000 lines took the fast path\n", fast);
    assert_true(fast > 5000);
    static const char harness_line[] =
        "{\"process\":4,\"type\":\"ok\",\"f\":\"append\",\"key\":\"k1\","
        "\"value\":\"4.17\",\"node\":2,\"time\":1250000}";
    struct line hl = {harness_line, sizeof harness_line - 1, 1};
    struct checker_event e;
    memset(&e, 0, sizeof e);
    assert_int_equal(parse_jsonl_fast(&hl, &e), 1);
    assert_int_equal(e.time, 1250000);
    free(scratch.buf);
    checker_gen_free(g);
}

/* The seeds themselves parse in their own format. */
static void fuzz_seeds_are_valid(void **state)
{
    (void)state;
    for (int k = 0; k < 3; k++) {
        struct checked c =
            check_text(seeds[k], (enum checker_format)(k + 1), NULL);
        if (c.parse_rv != 0) {
            print_error("%s\n", checker_history_error(c.h));
        }
        assert_int_equal(c.parse_rv, 0);
        assert_int_equal(c.check_rv, 0);
        checked_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fuzz_seeds_are_valid),
        cmocka_unit_test(parsers_survive_any_bytes),
        cmocka_unit_test(fast_jsonl_scanner_agrees_with_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
