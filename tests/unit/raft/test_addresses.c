/*
 * raft_addresses: members' client addresses as part of the configuration.
 * Without addresses a configuration encodes exactly as before they existed
 * ("RCF1"); with some it carries them ("RCF2"), through configuration
 * entries, compaction, restarts and snapshots sent to followers. The
 * decoder takes bytes from peers and disks: every malformed table is
 * refused, and no prefix or single damaged byte of a valid encoding
 * crashes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testnet.h"

static struct raft_configuration voters(unsigned n)
{
    raft_id ids[RAFT_MAX_SERVERS];
    for (unsigned k = 0; k < n; k++) {
        ids[k] = k + 1;
    }
    struct raft_configuration c;
    assert_int_equal(raft_configuration_voters(&c, ids, n), 0);
    return c;
}

/* Server @k's address as a string ("" for none). */
static const char *address_of(const struct raft_configuration *c, uint32_t k)
{
    static char out[RAFT_ADDRESS_MAX + 1];
    const char *a = NULL;
    size_t n = raft_configuration_address(c, k, &a);
    assert_true(n <= RAFT_ADDRESS_MAX);
    memcpy(out, a, n);
    out[n] = '\0';
    return out;
}

/* A configuration without addresses encodes as it always did: magic
 * "RCF1", count, then 9 bytes per server, nothing more. */
static void addresses_none_keeps_the_original_encoding(void **state)
{
    (void)state;
    struct raft_configuration c = voters(3);
    assert_null(c.addresses);
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t n = raft_configuration_encode(&c, buf, sizeof buf);
    assert_int_equal(n, 8 + 3 * 9);
    assert_memory_equal(buf, "RCF1", 4);
    /* A table of empty entries is no table. */
    uint8_t table[RAFT_ADDRESSES_MAX];
    const char *none[] = {NULL, "", NULL};
    assert_int_equal(
        raft_configuration_set_addresses(&c, none, table, sizeof table), 0);
    assert_null(c.addresses);
    assert_int_equal(raft_configuration_encode(&c, buf, sizeof buf), n);
    static const uint8_t empty3[] = {0, 0, 0};
    c.addresses = empty3;
    c.addresses_len = sizeof empty3;
    assert_true(raft_configuration_valid(&c));
    assert_int_equal(raft_configuration_encode(&c, buf, sizeof buf), n);
    assert_memory_equal(buf, "RCF1", 4);
}

/* Addresses round-trip, a server may have none, and a decoded
 * configuration reads them from the bytes it was decoded from. */
static void addresses_round_trip(void **state)
{
    (void)state;
    struct raft_configuration c = voters(3);
    c.servers[2].role = RAFT_LEARNER;
    uint8_t table[RAFT_ADDRESSES_MAX];
    const char *addrs[] = {"127.0.0.1:7001", NULL, "[::1]:7003"};
    assert_int_equal(
        raft_configuration_set_addresses(&c, addrs, table, sizeof table), 0);
    assert_true(raft_configuration_valid(&c));
    assert_string_equal(address_of(&c, 0), "127.0.0.1:7001");
    assert_string_equal(address_of(&c, 1), "");
    assert_string_equal(address_of(&c, 2), "[::1]:7003");
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t n = raft_configuration_encode(&c, buf, sizeof buf);
    assert_int_equal(n, 8 + 3 * 9 + 3 + 14 + 10);
    assert_memory_equal(buf, "RCF2", 4);
    assert_int_equal(raft_configuration_encode(&c, buf, n - 1), n);
    struct raft_configuration d;
    assert_int_equal(raft_configuration_decode(&d, buf, n), 0);
    assert_int_equal(d.count, 3);
    assert_int_equal(d.servers[2].role, RAFT_LEARNER);
    assert_ptr_equal(d.addresses, buf + 8 + 27);
    assert_string_equal(address_of(&d, 0), "127.0.0.1:7001");
    assert_string_equal(address_of(&d, 1), "");
    assert_string_equal(address_of(&d, 2), "[::1]:7003");
    /* A copy has a table of its own. */
    uint8_t own[RAFT_ADDRESSES_MAX];
    struct raft_configuration e;
    assert_int_equal(raft_configuration_copy(&e, &d, own, sizeof own), 0);
    memset(buf, 0, sizeof buf);
    assert_string_equal(address_of(&e, 2), "[::1]:7003");
    assert_int_equal(raft_configuration_copy(&e, &d, own, 3), COMMON_ERANGE);
    /* The largest table fits the bounds. */
    struct raft_configuration big = voters(RAFT_MAX_SERVERS);
    char longest[RAFT_ADDRESS_MAX + 1];
    memset(longest, 'a', RAFT_ADDRESS_MAX);
    longest[RAFT_ADDRESS_MAX] = '\0';
    const char *all[RAFT_MAX_SERVERS];
    for (int k = 0; k < RAFT_MAX_SERVERS; k++) {
        all[k] = longest;
    }
    assert_int_equal(
        raft_configuration_set_addresses(&big, all, table, sizeof table), 0);
    assert_int_equal(big.addresses_len, RAFT_ADDRESSES_MAX);
    assert_int_equal(raft_configuration_encode(&big, buf, sizeof buf),
                     RAFT_CONF_ENCODED_MAX);
    assert_int_equal(raft_configuration_decode(&d, buf, RAFT_CONF_ENCODED_MAX),
                     0);
}

/* Addresses that are too long or hold bytes other than printable ASCII
 * are refused, and a buffer too small is reported; the configuration is
 * left as it was. */
static void addresses_set_refuses_bad_addresses(void **state)
{
    (void)state;
    struct raft_configuration c = voters(2);
    uint8_t table[RAFT_ADDRESSES_MAX];
    char longer[RAFT_ADDRESS_MAX + 2];
    memset(longer, 'a', RAFT_ADDRESS_MAX + 1);
    longer[RAFT_ADDRESS_MAX + 1] = '\0';
    const char *too_long[] = {"a:1", longer};
    const char *space[] = {"a b:1", NULL};
    const char *control[] = {"a\n:1", NULL};
    const char *high[] = {"\xc3\xa9:1", NULL};
    const char *del[] = {"a\x7f", NULL};
    const char *const *bad[] = {too_long, space, control, high, del};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(
            raft_configuration_set_addresses(&c, bad[k], table, sizeof table),
            COMMON_EINVAL);
        assert_null(c.addresses);
    }
    const char *ok[] = {"host:1", "other:2"};
    assert_int_equal(raft_configuration_set_addresses(&c, ok, table, 8),
                     COMMON_ERANGE);
    assert_null(c.addresses);
}

/* Malformed address tables are refused by the decoder: a length past the
 * end, entries missing, bytes left over, a byte not allowed, "RCF2" with
 * no address, "RCF1" with a table after it. */
static void addresses_decode_refuses_malformed_tables(void **state)
{
    (void)state;
    struct raft_configuration c = voters(2);
    uint8_t buf[RAFT_CONF_ENCODED_MAX + 16];
    size_t fixed = raft_configuration_encode(&c, buf, sizeof buf);
    assert_int_equal(fixed, 8 + 2 * 9);
    buf[0] = 'R', buf[1] = 'C', buf[2] = 'F', buf[3] = '2';
    struct
    {
        const char *what;
        const uint8_t *table;
        size_t len;
    } cases[] = {
        {"no table", (const uint8_t *)"", 0},
        {"one entry for two servers", (const uint8_t *)"\3a:1", 4},
        {"length past the end", (const uint8_t *)"\3a:1\5b:2", 8},
        {"bytes left over", (const uint8_t *)"\3a:1\3b:2x", 9},
        {"a space", (const uint8_t *)"\3a 1\3b:2", 8},
        {"a NUL", (const uint8_t *)"\3a\0001\3b:2", 8},
        {"a high byte", (const uint8_t *)"\3a\3751\3b:2", 8},
        {"no address at all", (const uint8_t *)"\0\0", 2},
        {"a length only", (const uint8_t *)"\3a:1\377", 5},
    };
    struct raft_configuration d;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(buf + fixed, cases[k].table, cases[k].len);
        if (raft_configuration_decode(&d, buf, fixed + cases[k].len) !=
            COMMON_ECORRUPT) {
            fail_msg("accepted: %s", cases[k].what);
        }
    }
    /* The same table is fine, and "RCF1" refuses it. */
    memcpy(buf + fixed, "\3a:1\3b:2", 8);
    assert_int_equal(raft_configuration_decode(&d, buf, fixed + 8), 0);
    assert_string_equal(address_of(&d, 1), "b:2");
    buf[3] = '1';
    assert_int_equal(raft_configuration_decode(&d, buf, fixed + 8),
                     COMMON_ECORRUPT);
    /* A table beyond the bound, even well formed. */
    buf[3] = '2';
    assert_int_equal(raft_configuration_decode(&d, buf, sizeof buf),
                     COMMON_ECORRUPT);
    assert_int_equal(raft_configuration_decode(&d, NULL, 0), COMMON_ECORRUPT);
    /* By hand, the struct's own check. */
    c.addresses = (const uint8_t *)"\3a:1\5b:2";
    c.addresses_len = 8;
    assert_false(raft_configuration_valid(&c));
    c.addresses = NULL;
    assert_false(raft_configuration_valid(&c));
}

/* Every prefix of a valid encoding, and every single damaged byte, either
 * decodes to a valid configuration or is refused: never a read out of
 * bounds (the sanitizer builds run this). */
static void addresses_decode_survives_every_truncation_and_flip(void **state)
{
    (void)state;
    struct raft_configuration c = voters(4);
    uint8_t table[RAFT_ADDRESSES_MAX];
    const char *addrs[] = {"n1:1", "", "node-three:7003", "x"};
    assert_int_equal(
        raft_configuration_set_addresses(&c, addrs, table, sizeof table), 0);
    uint8_t enc[RAFT_CONF_ENCODED_MAX];
    size_t n = raft_configuration_encode(&c, enc, sizeof enc);
    struct raft_configuration d;
    for (size_t len = 0; len < n; len++) {
        /* An exact-size copy, so that a read past it is caught. */
        uint8_t *copy = malloc(len > 0 ? len : 1);
        assert_non_null(copy);
        memcpy(copy, enc, len);
        assert_int_equal(raft_configuration_decode(&d, copy, len),
                         COMMON_ECORRUPT);
        free(copy);
    }
    for (size_t at = 0; at < n; at++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            uint8_t *copy = malloc(n);
            assert_non_null(copy);
            memcpy(copy, enc, n);
            copy[at] ^= (uint8_t)(1u << bit);
            if (raft_configuration_decode(&d, copy, n) == 0) {
                assert_true(raft_configuration_valid(&d));
                for (uint32_t k = 0; k < d.count; k++) {
                    (void)address_of(&d, k);
                }
            }
            free(copy);
        }
    }
}

static raft_id leader_of(struct testnet *tn)
{
    raft_id l = tn_elect(tn, 200);
    assert_true(l != 0);
    tn_rounds(tn, 5);
    return tn_leader(tn);
}

/* A change that adds a server with its address puts the addresses in
 * force on every member; they outlive the proposer's buffer, a restart
 * (from the log), compaction (the snapshot) and a snapshot sent to a
 * member that had fallen behind. */
static void addresses_travel_through_entries_and_snapshots(void **state)
{
    (void)state;
    struct raft_options o;
    raft_options_default(&o);
    struct raft_configuration boot = voters(3);
    uint8_t boot_table[RAFT_ADDRESSES_MAX];
    const char *boot_addrs[] = {"h1:1", "h2:2", "h3:3"};
    assert_int_equal(raft_configuration_set_addresses(
                         &boot, boot_addrs, boot_table, sizeof boot_table),
                     0);
    struct testnet *tn = tn_new_conf(4, &boot, &o, 11);
    assert_non_null(tn);
    memset(boot_table, 0, sizeof boot_table); /* copied by the net */
    raft_id l = leader_of(tn);
    struct raft_configuration next = *raft_config(tn_node(tn, l)->r);
    assert_string_equal(address_of(&next, 2), "h3:3");
    next.servers[3].id = 4;
    next.servers[3].role = RAFT_LEARNER;
    next.count = 4;
    uint8_t table[RAFT_ADDRESSES_MAX];
    const char *addrs[] = {"h1:1", "h2:2", "h3:3", "h4:4"};
    assert_int_equal(
        raft_configuration_set_addresses(&next, addrs, table, sizeof table), 0);
    assert_int_equal(raft_propose_conf(tn_node(tn, l)->r, &next, NULL), 0);
    memset(table, 'z', sizeof table);
    tn_process(tn, l);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(tn_propose(tn, l, "w", 1), 0);
        tn_rounds(tn, 3);
    }
    tn_rounds(tn, 10);
    for (raft_id id = 1; id <= 4; id++) {
        const struct raft_configuration *c = raft_config(tn_node(tn, id)->r);
        assert_int_equal(c->count, 4);
        assert_string_equal(address_of(c, 3), "h4:4");
        assert_string_equal(address_of(c, 0), "h1:1");
    }
    /* Node 4 is cut off while the others compact past the change. */
    raft_id other = l == 1 ? 2 : 1;
    tn_isolate(tn, 4);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(tn_propose(tn, l, "w", 1), 0);
        tn_rounds(tn, 3);
    }
    tn_snapshot(tn, l, 0);
    tn_snapshot(tn, other, 0);
    assert_string_equal(address_of(&tn_node(tn, other)->disk.snap_conf, 3),
                        "h4:4");
    /* Restarted from its snapshot, the configuration keeps its table. */
    tn_crash(tn, other);
    tn_restart(tn, other);
    assert_string_equal(address_of(raft_config(tn_node(tn, other)->r), 3),
                        "h4:4");
    /* Node 4 loses its state and gets the snapshot. */
    tn_crash(tn, 4);
    struct tn_disk *d4 = &tn_node(tn, 4)->disk;
    for (size_t k = 0; k < d4->len; k++) {
        free(d4->entries[k].data.base);
    }
    free(d4->entries);
    memset(d4, 0, sizeof *d4);
    tn_heal(tn);
    tn_restart(tn, 4);
    tn_rounds(tn, 40);
    l = tn_leader(tn);
    assert_true(l != 0);
    assert_true(tn->snapshots_installed > 0);
    const struct raft_configuration *c4 = raft_config(tn_node(tn, 4)->r);
    assert_int_equal(c4->count, 4);
    assert_string_equal(address_of(c4, 1), "h2:2");
    assert_string_equal(address_of(c4, 3), "h4:4");
    assert_string_equal(address_of(&tn_node(tn, 4)->disk.snap_conf, 3), "h4:4");
    assert_true(tn_safe(tn));
    tn_free(tn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses_none_keeps_the_original_encoding),
        cmocka_unit_test(addresses_round_trip),
        cmocka_unit_test(addresses_set_refuses_bad_addresses),
        cmocka_unit_test(addresses_decode_refuses_malformed_tables),
        cmocka_unit_test(addresses_decode_survives_every_truncation_and_flip),
        cmocka_unit_test(addresses_travel_through_entries_and_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
