/* common: error table, byte vector, CRC32C and PRNG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/* The vector grows, keeps a NUL after its bytes and formats. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_table_names_every_code),
        cmocka_unit_test(crc32c_matches_check_value),
        cmocka_unit_test(vec_appends_and_formats),
        cmocka_unit_test(prng_is_seeded_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
