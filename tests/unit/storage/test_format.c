/*
 * storage_format: the byte formats of the write-ahead log and of snapshot
 * files - every record type and the snapshot file round-trip, and every
 * kind of bad bytes is refused with a reason (never a crash).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"
#include "helpers.h"
#include "wal.h"

/* Parses the one record in @v and checks its type and payload. */
static void expect_record(const struct common_vec *v,
                          unsigned type,
                          const void *payload,
                          size_t len)
{
    struct wal_record rec;
    const char *why = NULL;
    assert_int_equal(wal_record_parse(v->data, v->len, &rec, &why),
                     WAL_PARSE_OK);
    assert_int_equal(rec.type, type);
    assert_int_equal(rec.len, len);
    assert_int_equal(rec.size, v->len);
    if (len > 0) {
        assert_memory_equal(rec.payload, payload, len);
    }
}

/* Every record type encodes and decodes back to the same values. */
static void format_records_round_trip(void **state)
{
    (void)state;
    struct common_vec v;
    common_vec_init(&v);
    const char *why = NULL;

    struct wal_segment_header h = {7, 1234, {9, 3, 1200}};
    uint8_t sp[WAL_SEGMENT_PAYLOAD];
    wal_encode_segment(sp, &h);
    assert_int_equal(wal_record_append(&v, WAL_SEGMENT, sp, sizeof sp), 0);
    expect_record(&v, WAL_SEGMENT, sp, sizeof sp);
    struct wal_segment_header h2;
    assert_int_equal(wal_decode_segment(sp, sizeof sp, &h2, &why), 0);
    assert_int_equal(h2.seq, 7);
    assert_int_equal(h2.first_index, 1234);
    assert_int_equal(h2.hard_state.term, 9);
    assert_int_equal(h2.hard_state.vote, 3);
    assert_int_equal(h2.hard_state.commit, 1200);

    v.len = 0;
    struct raft_hard_state hs = {UINT64_MAX, 5, UINT64_MAX - 1};
    uint8_t hp[WAL_HARD_STATE_PAYLOAD];
    wal_encode_hard_state(hp, &hs);
    assert_int_equal(wal_record_append(&v, WAL_HARD_STATE, hp, sizeof hp), 0);
    expect_record(&v, WAL_HARD_STATE, hp, sizeof hp);
    struct raft_hard_state hs2;
    assert_int_equal(wal_decode_hard_state(hp, sizeof hp, &hs2, &why), 0);
    assert_int_equal(hs2.term, UINT64_MAX);
    assert_int_equal(hs2.vote, 5);
    assert_int_equal(hs2.commit, UINT64_MAX - 1);

    uint8_t tp[WAL_TRUNCATE_PAYLOAD];
    wal_encode_truncate(tp, 77);
    raft_index from;
    assert_int_equal(wal_decode_truncate(tp, sizeof tp, &from, &why), 0);
    assert_int_equal(from, 77);

    for (int replaced = 0; replaced <= 1; replaced++) {
        struct wal_snapshot_mark m = {100, 4, replaced == 1};
        uint8_t mp[WAL_SNAPSHOT_PAYLOAD];
        wal_encode_snapshot_mark(mp, &m);
        struct wal_snapshot_mark m2;
        assert_int_equal(wal_decode_snapshot_mark(mp, sizeof mp, &m2, &why), 0);
        assert_int_equal(m2.index, 100);
        assert_int_equal(m2.term, 4);
        assert_int_equal(m2.replaced, replaced == 1);
    }

    uint8_t cp[WAL_COMMIT_PAYLOAD];
    wal_encode_commit(cp, 3);
    uint32_t count;
    assert_int_equal(wal_decode_commit(cp, sizeof cp, &count, &why), 0);
    assert_int_equal(count, 3);

    /* An empty payload frames too. */
    v.len = 0;
    assert_int_equal(wal_record_append(&v, WAL_COMMIT, NULL, 0), 0);
    expect_record(&v, WAL_COMMIT, NULL, 0);
    common_vec_fini(&v);
}

/* Entries keep index, term, type and data through an entries record,
 * including empty data and many entries in one record. */
static void format_entries_round_trip(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 64, 4096};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t n = 1; n <= 33; n += 16) {
            struct th_entries b;
            th_entries_make(&b, 1000, n, 6, sizes[s], s);
            b.e[0].type = RAFT_ENTRY_CONFIG;
            struct common_vec v;
            common_vec_init(&v);
            assert_int_equal(wal_encode_entries(&v, b.e, n), 0);
            size_t expect = WAL_ENTRIES_HEAD;
            for (size_t k = 0; k < n; k++) {
                expect += wal_entry_size(&b.e[k]);
            }
            assert_int_equal(v.len, expect);
            raft_index first;
            uint32_t count;
            const char *why = NULL;
            assert_int_equal(
                wal_entries_scan(v.data, v.len, &first, &count, &why), 0);
            assert_int_equal(first, 1000);
            assert_int_equal(count, n);
            struct raft_entry *out = calloc(n, sizeof *out);
            assert_non_null(out);
            wal_entries_decode(v.data, v.len, out);
            for (size_t k = 0; k < n; k++) {
                assert_int_equal(out[k].index, 1000 + k);
                assert_int_equal(out[k].term, 6);
                assert_int_equal(out[k].type, b.e[k].type);
                assert_int_equal(out[k].data.len, sizes[s]);
                if (sizes[s] > 0) {
                    assert_memory_equal(out[k].data.base, b.e[k].data.base,
                                        sizes[s]);
                } else {
                    assert_null(out[k].data.base);
                }
            }
            free(out);
            common_vec_fini(&v);
            th_entries_free(&b);
        }
    }
}

/* Cutting an entries payload anywhere, or appending a byte, is refused. */
static void format_entries_refuse_bad_bytes(void **state)
{
    (void)state;
    struct th_entries b;
    th_entries_make(&b, 5, 3, 2, 10, 0);
    struct common_vec v;
    common_vec_init(&v);
    assert_int_equal(wal_encode_entries(&v, b.e, 3), 0);
    raft_index first;
    uint32_t count;
    const char *why = NULL;
    for (size_t cut = 0; cut < v.len; cut++) {
        why = NULL;
        assert_int_equal(wal_entries_scan(v.data, cut, &first, &count, &why),
                         COMMON_ECORRUPT);
        assert_non_null(why);
    }
    uint8_t zero = 0;
    assert_int_equal(common_vec_append(&v, &zero, 1), 0);
    assert_int_equal(wal_entries_scan(v.data, v.len, &first, &count, &why),
                     COMMON_ECORRUPT);
    assert_true(th_contains(why, "after its last entry"));
    v.len--;

    /* Unknown entry type, zero count, first index 0, index overflow. */
    uint8_t saved = v.data[WAL_ENTRIES_HEAD + 8];
    v.data[WAL_ENTRIES_HEAD + 8] = 99;
    assert_int_equal(wal_entries_scan(v.data, v.len, &first, &count, &why),
                     COMMON_ECORRUPT);
    assert_true(th_contains(why, "unknown entry type"));
    v.data[WAL_ENTRIES_HEAD + 8] = saved;
    fmt_put_u32(v.data + 8, 0);
    assert_int_equal(wal_entries_scan(v.data, v.len, &first, &count, &why),
                     COMMON_ECORRUPT);
    fmt_put_u32(v.data + 8, 3);
    fmt_put_u64(v.data, UINT64_MAX - 1);
    assert_int_equal(wal_entries_scan(v.data, v.len, &first, &count, &why),
                     COMMON_ECORRUPT);
    assert_true(th_contains(why, "overflow"));
    fmt_put_u64(v.data, 0);
    assert_int_equal(wal_entries_scan(v.data, v.len, &first, &count, &why),
                     COMMON_ECORRUPT);
    /* A data length that runs past the payload. */
    fmt_put_u64(v.data, 5);
    fmt_put_u32(v.data + WAL_ENTRIES_HEAD + 9, 0xffffffffu);
    assert_int_equal(wal_entries_scan(v.data, v.len, &first, &count, &why),
                     COMMON_ECORRUPT);
    assert_true(th_contains(why, "inside an entry's data"));
    common_vec_fini(&v);
    th_entries_free(&b);
}

/* Payloads of the wrong length or with impossible values are refused. */
static void format_payloads_refuse_bad_values(void **state)
{
    (void)state;
    uint8_t p[64];
    memset(p, 0, sizeof p);
    const char *why = NULL;
    struct wal_segment_header h;
    struct raft_hard_state hs;
    raft_index from;
    struct wal_snapshot_mark m;
    uint32_t count;
    assert_int_equal(wal_decode_segment(p, WAL_SEGMENT_PAYLOAD - 1, &h, &why),
                     COMMON_ECORRUPT);
    assert_int_equal(wal_decode_segment(p, WAL_SEGMENT_PAYLOAD, &h, &why),
                     COMMON_ECORRUPT);
    assert_true(th_contains(why, "magic"));
    struct wal_segment_header good = {1, 1, {0, 0, 0}};
    wal_encode_segment(p, &good);
    fmt_put_u32(p + 4, 2);
    assert_int_equal(wal_decode_segment(p, WAL_SEGMENT_PAYLOAD, &h, &why),
                     COMMON_ECORRUPT);
    assert_true(th_contains(why, "version"));
    fmt_put_u32(p + 4, WAL_VERSION);
    fmt_put_u64(p + 8, 0);
    assert_int_equal(wal_decode_segment(p, WAL_SEGMENT_PAYLOAD, &h, &why),
                     COMMON_ECORRUPT);
    assert_int_equal(
        wal_decode_hard_state(p, WAL_HARD_STATE_PAYLOAD + 1, &hs, &why),
        COMMON_ECORRUPT);
    memset(p, 0, sizeof p);
    assert_int_equal(wal_decode_truncate(p, WAL_TRUNCATE_PAYLOAD, &from, &why),
                     COMMON_ECORRUPT);
    assert_int_equal(wal_decode_truncate(p, 4, &from, &why), COMMON_ECORRUPT);
    assert_int_equal(
        wal_decode_snapshot_mark(p, WAL_SNAPSHOT_PAYLOAD, &m, &why),
        COMMON_ECORRUPT);
    fmt_put_u64(p, 10);
    fmt_put_u32(p + 16, 6);
    assert_int_equal(
        wal_decode_snapshot_mark(p, WAL_SNAPSHOT_PAYLOAD, &m, &why),
        COMMON_ECORRUPT);
    assert_true(th_contains(why, "flags"));
    assert_int_equal(wal_decode_commit(p, 3, &count, &why), COMMON_ECORRUPT);
}

/* A record header refuses short input, a header CRC mismatch, reserved
 * bytes, unknown types and absurd lengths; the payload CRC catches any
 * payload change; a valid header still says what it claims. */
static void format_record_parse_refuses_damage(void **state)
{
    (void)state;
    struct common_vec v;
    common_vec_init(&v);
    uint8_t payload[40];
    for (size_t k = 0; k < sizeof payload; k++) {
        payload[k] = (uint8_t)k;
    }
    assert_int_equal(
        wal_record_append(&v, WAL_HARD_STATE, payload, sizeof payload), 0);
    struct wal_record rec;
    const char *why = NULL;
    for (size_t cut = 0; cut < WAL_RECORD_HEADER; cut++) {
        assert_int_equal(wal_record_parse(v.data, cut, &rec, &why),
                         WAL_PARSE_SHORT_HEADER);
    }
    for (size_t cut = WAL_RECORD_HEADER; cut < v.len; cut++) {
        assert_int_equal(wal_record_parse(v.data, cut, &rec, &why),
                         WAL_PARSE_SHORT_PAYLOAD);
        assert_int_equal(rec.size, v.len);
    }
    /* Every single bit flip is caught by one CRC or the other. */
    for (size_t byte = 0; byte < v.len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            v.data[byte] ^= (uint8_t)(1u << bit);
            enum wal_parse st = wal_record_parse(v.data, v.len, &rec, &why);
            assert_int_not_equal(st, WAL_PARSE_OK);
            if (byte < WAL_RECORD_HEADER) {
                assert_int_equal(st, WAL_PARSE_BAD_HEADER);
            } else {
                assert_int_equal(st, WAL_PARSE_BAD_PAYLOAD);
            }
            v.data[byte] ^= (uint8_t)(1u << bit);
        }
    }
    /* Headers that check but say impossible things. */
    uint8_t h[WAL_RECORD_HEADER + 8];
    memset(h, 0, sizeof h);
    h[8] = 99; /* type */
    fmt_put_u32(h + 12, common_crc32c(0, h, 12));
    assert_int_equal(wal_record_parse(h, sizeof h, &rec, &why),
                     WAL_PARSE_BAD_HEADER);
    assert_true(th_contains(why, "type"));
    h[8] = WAL_COMMIT;
    h[10] = 1; /* reserved */
    fmt_put_u32(h + 12, common_crc32c(0, h, 12));
    assert_int_equal(wal_record_parse(h, sizeof h, &rec, &why),
                     WAL_PARSE_BAD_HEADER);
    h[10] = 0;
    fmt_put_u32(h, WAL_RECORD_MAX + 1);
    fmt_put_u32(h + 12, common_crc32c(0, h, 12));
    assert_int_equal(wal_record_parse(h, sizeof h, &rec, &why),
                     WAL_PARSE_BAD_HEADER);
    assert_true(th_contains(why, "limit"));
    common_vec_fini(&v);
}

/* Builds a snapshot file in @v. */
static void make_snapshot(struct common_vec *v,
                          const struct storage_snapshot_meta *meta,
                          uint32_t flags,
                          const uint8_t *data,
                          size_t len)
{
    common_vec_init(v);
    assert_int_equal(snap_encode_head(v, meta, flags, len), 0);
    uint32_t crc = common_crc32c(0, v->data, v->len);
    crc = common_crc32c(crc, data, len);
    assert_int_equal(common_vec_append(v, data, len), 0);
    uint8_t t[SNAP_TRAILER];
    snap_encode_trailer(t, crc);
    assert_int_equal(common_vec_append(v, t, sizeof t), 0);
}

/* A snapshot file keeps index, term, flags, configuration (or none) and
 * data. */
static void format_snapshot_round_trip(void **state)
{
    (void)state;
    uint8_t data[300];
    for (size_t k = 0; k < sizeof data; k++) {
        data[k] = (uint8_t)(k * 7);
    }
    for (unsigned voters = 0; voters <= 5; voters += 5) {
        for (size_t len = 0; len <= sizeof data; len += sizeof data) {
            struct storage_snapshot_meta meta;
            memset(&meta, 0, sizeof meta);
            meta.index = 500;
            meta.term = 8;
            if (voters > 0) {
                meta.conf = th_conf(voters);
                meta.conf.servers[4].role = RAFT_LEARNER;
            }
            struct common_vec v;
            make_snapshot(&v, &meta, SNAP_REPLACED, data, len);
            struct snap_decoded d;
            uint64_t off = 0;
            const char *why = NULL;
            assert_int_equal(snap_decode(v.data, v.len, &d, &off, &why), 0);
            assert_int_equal(d.meta.index, 500);
            assert_int_equal(d.meta.term, 8);
            assert_int_equal(d.flags, SNAP_REPLACED);
            assert_int_equal(d.meta.conf.count, voters);
            if (voters > 0) {
                assert_int_equal(d.meta.conf.servers[4].role, RAFT_LEARNER);
                assert_int_equal(d.meta.conf.servers[2].id, 3);
            }
            assert_int_equal(d.data_len, len);
            if (len > 0) {
                assert_memory_equal(d.data, data, len);
            }
            common_vec_fini(&v);
        }
    }
    /* A configuration that would not decode again is not written. */
    struct storage_snapshot_meta bad;
    memset(&bad, 0, sizeof bad);
    bad.index = 1;
    bad.conf.count = 2; /* ids 0: invalid */
    struct common_vec v;
    common_vec_init(&v);
    assert_int_equal(snap_encode_head(&v, &bad, 0, 0), COMMON_EINVAL);
    common_vec_fini(&v);
}

/* Every cut of a snapshot file and every bit flip in it is refused with
 * an offset inside the file. */
static void format_snapshot_refuses_every_damage(void **state)
{
    (void)state;
    uint8_t data[64];
    memset(data, 0x5a, sizeof data);
    struct storage_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = 42;
    meta.term = 3;
    meta.conf = th_conf(3);
    struct common_vec v;
    make_snapshot(&v, &meta, 0, data, sizeof data);
    struct snap_decoded d;
    uint64_t off;
    const char *why;
    for (size_t cut = 0; cut < v.len; cut++) {
        off = UINT64_MAX;
        why = NULL;
        assert_int_equal(snap_decode(v.data, cut, &d, &off, &why),
                         COMMON_ECORRUPT);
        assert_non_null(why);
        assert_true(off <= cut);
    }
    for (size_t byte = 0; byte < v.len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            v.data[byte] ^= (uint8_t)(1u << bit);
            off = UINT64_MAX;
            assert_int_equal(snap_decode(v.data, v.len, &d, &off, &why),
                             COMMON_ECORRUPT);
            assert_true(off < v.len);
            v.data[byte] ^= (uint8_t)(1u << bit);
        }
    }
    /* A flip in the data is reported at the CRC that covers it. */
    v.data[SNAP_HEADER + 60] ^= 1;
    assert_int_equal(snap_decode(v.data, v.len, &d, &off, &why),
                     COMMON_ECORRUPT);
    assert_int_equal(off, v.len - SNAP_TRAILER);
    assert_true(th_contains(why, "CRC"));
    common_vec_fini(&v);
}

/* Random bytes never crash a decoder, and never pass as a record. */
static void format_random_bytes_are_refused(void **state)
{
    (void)state;
    struct common_prng p;
    common_prng_seed(&p, 99);
    uint8_t buf[256];
    for (int trial = 0; trial < 20000; trial++) {
        size_t len = (size_t)common_prng_below(&p, sizeof buf + 1);
        for (size_t k = 0; k < len; k++) {
            buf[k] = (uint8_t)common_prng_next(&p);
        }
        struct wal_record rec;
        const char *why;
        assert_int_not_equal(wal_record_parse(buf, len, &rec, &why),
                             WAL_PARSE_OK);
        struct snap_decoded d;
        uint64_t off;
        assert_int_equal(snap_decode(buf, len, &d, &off, &why),
                         COMMON_ECORRUPT);
        raft_index first;
        uint32_t count;
        (void)wal_entries_scan(buf, len, &first, &count, &why);
    }
}

/* File names sort by sequence number and parse back; near misses are not
 * taken for ours. */
static void format_names_round_trip(void **state)
{
    (void)state;
    char name[WAL_NAME_MAX];
    uint64_t seq;
    raft_index first;
    wal_segment_name(name, 0x1a, 0xffffffffffull);
    assert_string_equal(name, "000000000000001a-000000ffffffffff.log");
    assert_true(wal_parse_segment_name(name, &seq, &first));
    assert_int_equal(seq, 0x1a);
    assert_int_equal(first, 0xffffffffffull);
    assert_false(wal_parse_segment_name("000000000000001A-0000000000000001.log",
                                        &seq, &first));
    assert_false(wal_parse_segment_name("000000000000001a-0000000000000001.lo",
                                        &seq, &first));
    assert_false(wal_parse_segment_name("000000000000001a_0000000000000001.log",
                                        &seq, &first));
    raft_index index;
    wal_snapshot_name(name, 300);
    assert_string_equal(name, "snapshot-000000000000012c.snap");
    assert_true(wal_parse_snapshot_name(name, &index));
    assert_int_equal(index, 300);
    assert_false(wal_is_snapshot_tmp(name));
    assert_true(wal_is_snapshot_tmp("snapshot-000000000000012c.snap.tmp"));
    assert_false(
        wal_parse_snapshot_name("snapshot-000000000000012c.snap.tmp", &index));
    assert_false(wal_parse_snapshot_name("snapshot-12c.snap", &index));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_records_round_trip),
        cmocka_unit_test(format_entries_round_trip),
        cmocka_unit_test(format_entries_refuse_bad_bytes),
        cmocka_unit_test(format_payloads_refuse_bad_values),
        cmocka_unit_test(format_record_parse_refuses_damage),
        cmocka_unit_test(format_snapshot_round_trip),
        cmocka_unit_test(format_snapshot_refuses_every_damage),
        cmocka_unit_test(format_random_bytes_are_refused),
        cmocka_unit_test(format_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
