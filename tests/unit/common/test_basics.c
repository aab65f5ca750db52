/* common: error table, byte vector, CRC32C, PRNG, array growth, number
 * parsing and the log helper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"

/* Every code in the table has a message and a name; unknown codes do not. */
static void error_table_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(common_strerror(0), "success");
    assert_string_equal(common_strerror(COMMON_ENOMEM), "out of memory");
    assert_string_equal(common_error_name(COMMON_ECORRUPT), "COMMON_ECORRUPT");
    assert_string_equal(common_strerror(-9999), "unknown error");
    assert_string_equal(common_error_name(-9999), "UNKNOWN");
}

/* CRC32C matches the published check value and is incremental. */
static void crc32c_matches_check_value(void **state)
{
    (void)state;
    const char *s = "123456789";
    assert_int_equal(common_crc32c(0, s, 9), 0xE3069283u);
    uint32_t part = common_crc32c(0, s, 4);
    assert_int_equal(common_crc32c(part, s + 4, 5), 0xE3069283u);
    /* 32 zero bytes: RFC 3720 B.4 test vector. */
    uint8_t zeros[32] = {0};
    assert_int_equal(common_crc32c(0, zeros, sizeof zeros), 0x8A9136AAu);
}

/* The plain bit-at-a-time CRC32C, as the reference for the fast paths. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t k = 0; k < len; k++) {
        c ^= p[k];
        for (int b = 0; b < 8; b++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
    }
    return ~c;
}

/* CRC32C agrees with the bitwise definition at every length, alignment and
 * split (the table and the processor's instruction alike, whichever this
 * machine takes). */
static void crc32c_agrees_with_bitwise_at_every_length(void **state)
{
    (void)state;
    uint8_t buf[160];
    for (size_t k = 0; k < sizeof buf; k++) {
        buf[k] = (uint8_t)(k * 37u + 11u);
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len + off <= sizeof buf; len++) {
            uint32_t want = crc32c_bitwise(buf + off, len);
            assert_int_equal(common_crc32c(0, buf + off, len), want);
            size_t half = len / 3;
            uint32_t part = common_crc32c(0, buf + off, half);
            assert_int_equal(common_crc32c(part, buf + off + half, len - half),
                             want);
        }
    }
}

/* The vector grows, keeps a NUL after its bytes and formats. */
/* JSON strings: quotes, backslashes and control bytes escaped, the rest
 * (UTF-8 included) as it is. */
static void vec_appends_json_strings(void **state)
{
    (void)state;
    struct common_vec v;
    common_vec_init(&v);
    assert_int_equal(common_vec_append_json(&v, "a\"b\\c\n\x01\x7f\xc3\xa9"),
                     0);
    assert_string_equal((const char *)v.data,
                        "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9\"");
    v.len = 0;
    assert_int_equal(common_vec_append_json(&v, ""), 0);
    assert_string_equal((const char *)v.data, "\"\"");
    common_vec_fini(&v);
}

static void vec_appends_and_formats(void **state)
{
    (void)state;
    struct common_vec v;
    common_vec_init(&v);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(common_vec_append(&v, "ab", 2), 0);
    }
    assert_int_equal(v.len, 2000);
    assert_int_equal(v.data[v.len], 0);
    assert_int_equal(common_vec_appendf(&v, "-%d-", 42), 0);
    assert_memory_equal(v.data + 2000, "-42-", 5);
    common_vec_fini(&v);
    assert_null(v.data);
}

/* The same seed gives the same sequence; bounds are respected. */
static void prng_is_seeded_and_bounded(void **state)
{
    (void)state;
    struct common_prng a;
    struct common_prng b;
    common_prng_seed(&a, 7);
    common_prng_seed(&b, 7);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(common_prng_next(&a), common_prng_next(&b));
    }
    common_prng_seed(&b, 8);
    assert_int_not_equal(common_prng_next(&a), common_prng_next(&b));
    int seen[5] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t x = common_prng_range(&a, 3, 7);
        assert_true(x >= 3 && x <= 7);
        seen[x - 3]++;
    }
    for (int i = 0; i < 5; i++) {
        assert_true(seen[i] > 1500);
    }
    assert_int_equal(common_prng_below(&a, 0), 0);
    assert_false(common_prng_chance(&a, 0.0));
    assert_true(common_prng_chance(&a, 1.0));
}

static void grow_doubles_and_refuses_overflow(void **state)
{
    (void)state;
    uint32_t *items = NULL;
    size_t cap = 0;
    assert_int_equal(common_grow(&items, &cap, 1, sizeof *items, 8), 0);
    assert_int_equal(cap, 8);
    items[7] = 7;
    assert_int_equal(common_grow(&items, &cap, 8, sizeof *items, 8), 0);
    assert_int_equal(cap, 8); /* already room: nothing moves */
    assert_int_equal(common_grow(&items, &cap, 9, sizeof *items, 8), 0);
    assert_int_equal(cap, 16);
    assert_int_equal(items[7], 7);
    assert_int_equal(common_grow(&items, &cap, 100, sizeof *items, 8), 0);
    assert_int_equal(cap, 128);
    /* Bytes beyond size_t: refused, the array as it was. */
    uint32_t *before = items;
    assert_int_equal(common_grow(&items, &cap, SIZE_MAX / 2, sizeof *items, 8),
                     COMMON_ENOMEM);
    assert_ptr_equal(items, before);
    assert_int_equal(cap, 128);
    assert_int_equal(common_grow(&items, &cap, SIZE_MAX, 2, 8), COMMON_ENOMEM);
    assert_int_equal(cap, 128);
    free(items);
}

static void parse_u64_takes_whole_decimals_only(void **state)
{
    (void)state;
    uint64_t v = 42;
    assert_int_equal(common_parse_u64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(
        common_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    const char *bad[] = {NULL, "",     " 1",  "+1",  "-1",
                         "1 ", "0x10", "1e3", "1.0", "12a"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        v = 42;
        assert_int_equal(common_parse_u64(bad[k], 0, UINT64_MAX, &v),
                         COMMON_EPARSE);
        assert_int_equal(v, 42);
    }
    assert_int_equal(
        common_parse_u64("18446744073709551616", 0, UINT64_MAX, &v),
        COMMON_ERANGE);
    assert_int_equal(common_parse_u64("11", 0, 10, &v), COMMON_ERANGE);
    assert_int_equal(common_parse_u64("4", 5, 10, &v), COMMON_ERANGE);
    assert_int_equal(v, 42);
}

static void parse_double_takes_plain_decimals_only(void **state)
{
    (void)state;
    double v = -1;
    assert_int_equal(common_parse_double("2.5", 0, 10, &v), 0);
    assert_true(v == 2.5);
    assert_int_equal(common_parse_double(".5", 0, 10, &v), 0);
    assert_true(v == 0.5);
    assert_int_equal(common_parse_double("5.", 0, 10, &v), 0);
    assert_int_equal(common_parse_double("1e-3", 0, 10, &v), 0);
    assert_true(v == 1e-3);
    assert_int_equal(common_parse_double("2E+1", 0, 100, &v), 0);
    assert_true(v == 20);
    const char *bad[] = {NULL, "",    ".",    "-1",  "+1",
                         " 1", "1 ",  "inf",  "nan", "0x1p3",
                         "1e", "1e+", "1..2", "e5",  "1.5x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        v = -1;
        assert_int_equal(common_parse_double(bad[k], 0, 1e300, &v),
                         COMMON_EPARSE);
        assert_true(v == -1);
    }
    assert_int_equal(common_parse_double("1e400", 0, 1e308, &v), COMMON_ERANGE);
    assert_int_equal(common_parse_double("10.5", 0, 10, &v), COMMON_ERANGE);
    assert_true(v == -1);
}

struct log_seen
{
    int calls;
    enum common_log_level level;
    char line[COMMON_LOG_LINE_MAX + 8];
};

static void log_capture(void *data,
                        enum common_log_level level,
                        const char *msg)
{
    struct log_seen *seen = data;
    seen->calls++;
    seen->level = level;
    snprintf(seen->line, sizeof seen->line, "%s", msg);
}

static void logf_formats_one_bounded_line(void **state)
{
    (void)state;
    struct log_seen seen = {0};
    common_logf(log_capture, &seen, COMMON_LOG_WARN, "node %d: %s", 3, "up");
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.level, COMMON_LOG_WARN);
    assert_string_equal(seen.line, "node 3: up");
    char big[2 * COMMON_LOG_LINE_MAX];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    common_logf(log_capture, &seen, COMMON_LOG_INFO, "%s", big);
    assert_int_equal(strlen(seen.line), COMMON_LOG_LINE_MAX - 1);
    common_logf(NULL, &seen, COMMON_LOG_INFO, "nobody listens");
    assert_int_equal(seen.calls, 2);
    assert_string_equal(common_log_level_name(COMMON_LOG_DEBUG), "debug");
    assert_string_equal(common_log_level_name(COMMON_LOG_ERROR), "error");
    assert_string_equal(common_log_level_name(0), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_table_names_every_code),
        cmocka_unit_test(crc32c_matches_check_value),
        cmocka_unit_test(crc32c_agrees_with_bitwise_at_every_length),
        cmocka_unit_test(vec_appends_and_formats),
        cmocka_unit_test(prng_is_seeded_and_bounded),
        cmocka_unit_test(grow_doubles_and_refuses_overflow),
        cmocka_unit_test(parse_u64_takes_whole_decimals_only),
        cmocka_unit_test(parse_double_takes_plain_decimals_only),
        cmocka_unit_test(logf_formats_one_bounded_line),
        cmocka_unit_test(vec_appends_json_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
