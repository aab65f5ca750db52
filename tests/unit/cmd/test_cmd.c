/*
 * cmd_api: what raftkv-server and raftkv-cli share - the cluster map and
 * flag parsers, and raftkv.KV's messages to and from kv_request and
 * kv_response, and a data directory's IDENTITY file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/cmd.h"

static char why[256];

/* A good cluster map parses in order; every malformed one is refused with
 * a reason. */
static void cluster_map_parses_and_refuses(void **state)
{
    (void)state;
    struct cmd_cluster c;
    assert_int_equal(cmd_cluster_parse("1=127.0.0.1:7001,2=node2:7002,"
                                       "9=[::1]:7003",
                                       &c, why, sizeof why),
                     0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.members[2].id, 9);
    assert_string_equal(cmd_cluster_address(&c, 2), "node2:7002");
    assert_string_equal(cmd_cluster_address(&c, 9), "[::1]:7003");
    assert_null(cmd_cluster_address(&c, 3));
    const char *bad[] = {"",          "1",       "1=",     "=h:1",
                         "0=h:1",     "x=h:1",   "1=h",    "1=h:0",
                         "1=h:65536", "1=h:1,",  ",1=h:1", "1=h:1,1=g:2",
                         "1=a:b:1",   "1=h p:1", "-1=h:1", "1=h:1x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        why[0] = '\0';
        if (cmd_cluster_parse(bad[k], &c, why, sizeof why) != COMMON_EPARSE) {
            fail_msg("'%s' was accepted", bad[k]);
        }
        assert_true(why[0] != '\0');
    }
    char many[1024] = "";
    for (int k = 1; k <= RAFT_MAX_SERVERS + 1; k++) {
        char item[32];
        snprintf(item, sizeof item, "%s%d=h:%d", k > 1 ? "," : "", k, k);
        strcat(many, item);
    }
    assert_int_equal(cmd_cluster_parse(many, &c, why, sizeof why),
                     COMMON_EPARSE);
    assert_non_null(strstr(why, "more than"));
}

/* Numbers and durations take the whole string, in range; a number out of
 * range is told apart from one that is not a number. */
static void numbers_and_durations_parse_strictly(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(common_parse_u64("42", 1, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(common_parse_u64("0", 1, 100, &v), COMMON_ERANGE);
    assert_int_equal(common_parse_u64("101", 1, 100, &v), COMMON_ERANGE);
    assert_int_equal(common_parse_u64("-1", 0, 100, &v), COMMON_EPARSE);
    assert_int_equal(common_parse_u64("4x", 0, 100, &v), COMMON_EPARSE);
    assert_int_equal(common_parse_u64("", 0, 100, &v), COMMON_EPARSE);
    assert_int_equal(common_parse_u64(NULL, 0, 100, &v), COMMON_EPARSE);
    assert_int_equal(
        common_parse_u64("99999999999999999999", 0, UINT64_MAX, &v),
        COMMON_ERANGE);
    assert_int_equal(cmd_parse_seconds_ms("0.5", 10, &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(cmd_parse_seconds_ms("0", 10, &v), COMMON_EPARSE);
    assert_int_equal(cmd_parse_seconds_ms("11", 10, &v), COMMON_EPARSE);
    assert_int_equal(cmd_parse_seconds_ms("nan", 10, &v), COMMON_EPARSE);
    assert_int_equal(cmd_parse_seconds_ms("1s", 10, &v), COMMON_EPARSE);
    assert_true(cmd_address_valid("0.0.0.0:0", true));
    assert_false(cmd_address_valid("0.0.0.0:0", false));
    assert_false(cmd_address_valid(":7001", false));
}

static struct common_buf text(const char *s)
{
    struct common_buf b = {.base = (void *)(uintptr_t)s, .len = strlen(s)};
    return b;
}

/* Every request the CLI encodes, the server decodes to the same
 * kv_request (a registration without session and seq, the others in
 * session 77 with seq 3). */
static void requests_round_trip(void **state)
{
    (void)state;
    for (int m = CMD_PUT; m < CMD_STATUS; m++) {
        struct kv_request req;
        memset(&req, 0, sizeof req);
        req.client_id = m == CMD_REGISTER ? 0 : 77;
        req.seq = m == CMD_REGISTER ? 0 : 3;
        req.key = text("key");
        req.value = text("value");
        req.expected = text(m == CMD_CAS ? "old" : "");
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(
            cmd_request_encode((enum cmd_method)m, &req, &buf, &len), 0);
        struct cmd_request got;
        assert_int_equal(cmd_request_decode((enum cmd_method)m, buf, len, &got,
                                            why, sizeof why),
                         0);
        static const enum kv_op ops[] = {KV_OP_PUT,    KV_OP_GET,
                                         KV_OP_DELETE, KV_OP_CAS,
                                         KV_OP_APPEND, KV_OP_REGISTER};
        assert_int_equal(got.req.op, ops[m]);
        if (m == CMD_REGISTER) {
            assert_int_equal(got.req.client_id, 0);
            assert_int_equal(got.req.seq, 0);
            assert_int_equal(got.req.key.len, 0); /* it has no key */
            cmd_request_free(&got);
            free(buf);
            continue;
        }
        assert_int_equal(got.req.client_id, 77);
        assert_int_equal(got.req.seq, 3);
        assert_int_equal(got.req.key.len, 3);
        assert_memory_equal(got.req.key.base, "key", 3);
        if (m == CMD_PUT || m == CMD_APPEND || m == CMD_CAS) {
            assert_int_equal(got.req.value.len, 5);
        }
        if (m == CMD_CAS) {
            assert_memory_equal(got.req.expected.base, "old", 3);
        }
        cmd_request_free(&got);
        free(buf);
    }
}

/* Bytes that are not the request, or fields that contradict each other,
 * are refused with a reason. */
static void bad_requests_are_refused(void **state)
{
    (void)state;
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    struct cmd_request got;
    assert_int_equal(
        cmd_request_decode(CMD_PUT, junk, sizeof junk, &got, why, sizeof why),
        COMMON_EPARSE);
    assert_non_null(strstr(why, "PutRequest"));
    struct kv_request req;
    memset(&req, 0, sizeof req);
    req.client_id = 5; /* and seq 0 */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cmd_request_encode(CMD_PUT, &req, &buf, &len), 0);
    assert_int_equal(
        cmd_request_decode(CMD_PUT, buf, len, &got, why, sizeof why),
        COMMON_EPARSE);
    free(buf);
    req.seq = 1;
    req.expected = text("x");
    req.expected_absent = true;
    assert_int_equal(cmd_request_encode(CMD_CAS, &req, &buf, &len), 0);
    assert_int_equal(
        cmd_request_decode(CMD_CAS, buf, len, &got, why, sizeof why),
        COMMON_EPARSE);
    assert_non_null(strstr(why, "expected_absent"));
    free(buf);
    /* A registration names neither a session nor a seq: the cluster
     * chooses the session's id. */
    memset(&req, 0, sizeof req);
    req.client_id = 5;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(cmd_request_encode(CMD_REGISTER, &req, &buf, &len), 0);
        assert_int_equal(
            cmd_request_decode(CMD_REGISTER, buf, len, &got, why, sizeof why),
            COMMON_EPARSE);
        assert_non_null(strstr(why, "registration"));
        free(buf);
        req.client_id = 0;
        req.seq = 1;
    }
    assert_int_equal(
        cmd_request_decode(CMD_STATUS, NULL, 0, &got, why, sizeof why),
        COMMON_EPARSE);
    assert_true(cmd_status_request_valid(NULL, 0));
    assert_false(cmd_status_request_valid(junk, sizeof junk));
}

/* Every answer the server encodes, the CLI decodes: code, leader hint,
 * term, index, message and a get's value. */
static void responses_round_trip(void **state)
{
    (void)state;
    struct kv_response r;
    memset(&r, 0, sizeof r);
    r.status = KV_NOT_LEADER;
    r.leader = 2;
    r.index = 0;
    struct cmd_reply_info info = {
        .term = 9, .leader_address = "h2:7002", .message = "go there"};
    uint8_t *buf = NULL;
    size_t len = 0;
    struct cmd_response got;
    for (int m = CMD_PUT; m < CMD_STATUS; m++) {
        assert_int_equal(
            cmd_response_encode((enum cmd_method)m, &r, &info, &buf, &len), 0);
        assert_int_equal(
            cmd_response_decode((enum cmd_method)m, buf, len, &got), 0);
        assert_int_equal(got.code, KV_NOT_LEADER);
        assert_int_equal(got.leader_id, 2);
        assert_string_equal(got.leader_address, "h2:7002");
        assert_int_equal(got.term, 9);
        assert_string_equal(got.message, "go there");
        free(got.value);
        free(buf);
    }
    r.status = KV_OK;
    r.found = true;
    r.value = text("v\0x");
    r.value.len = 3;
    r.index = 44;
    info.message = NULL;
    assert_int_equal(cmd_response_encode(CMD_GET, &r, &info, &buf, &len), 0);
    assert_int_equal(cmd_response_decode(CMD_GET, buf, len, &got), 0);
    assert_int_equal(got.code, KV_OK);
    assert_true(got.found);
    assert_int_equal(got.value_len, 3);
    assert_memory_equal(got.value, "v\0x", 3);
    assert_int_equal(got.index, 44);
    assert_string_equal(got.message, "");
    free(got.value);
    free(buf);
    /* A registration's answer names the new session: its log index. */
    assert_int_equal(cmd_response_encode(CMD_REGISTER, &r, &info, &buf, &len),
                     0);
    assert_int_equal(cmd_response_decode(CMD_REGISTER, buf, len, &got), 0);
    assert_int_equal(got.code, KV_OK);
    assert_int_equal(got.client_id, 44);
    free(buf);
    /* Junk, and a code outside the known ones, are not answers. */
    static const uint8_t junk[] = {0x0a, 0x02, 0x08, 0x63};
    assert_int_equal(cmd_response_decode(CMD_PUT, junk, sizeof junk, &got),
                     COMMON_EPARSE);
    assert_int_equal(cmd_response_decode(CMD_PUT, "\xff", 1, &got),
                     COMMON_EPARSE);
    /* An empty response is proto3's default: CODE_OK. */
    assert_int_equal(cmd_response_decode(CMD_PUT, NULL, 0, &got), 0);
    assert_int_equal(got.code, KV_OK);
}

/* Status survives the wire field by field. */
static void status_round_trips(void **state)
{
    (void)state;
    struct cmd_status s = {.id = 3,
                           .term = 7,
                           .leader_id = 1,
                           .commit = 100,
                           .applied = 99,
                           .last = 101,
                           .digest = 0xdeadbeefcafef00dull,
                           .keys = 12,
                           .snapshot_index = 50,
                           .follower_lost_entries = 3};
    strcpy(s.role, "follower");
    strcpy(s.leader_address, "h1:7001");
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cmd_status_encode(&s, &buf, &len), 0);
    struct cmd_status got;
    assert_int_equal(cmd_status_decode(buf, len, &got), 0);
    assert_memory_equal(&got, &s, sizeof s);
    free(buf);
    assert_int_equal(cmd_status_decode("\xff", 1, &got), COMMON_EPARSE);
}

/* A temporary directory for one identity test; removed by rm_dir. */
static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/raftkv-identity-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void rm_dir(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/IDENTITY", dir);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

static void write_text(const char *dir, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/IDENTITY", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The cluster id depends on the map and the token, not on the order the
 * map lists its members in. */
static void cluster_id_is_order_free(void **state)
{
    (void)state;
    struct cmd_cluster a;
    struct cmd_cluster b;
    struct cmd_cluster c;
    assert_int_equal(
        cmd_cluster_parse("1=h:1,2=h:2,3=h:3", &a, why, sizeof why), 0);
    assert_int_equal(
        cmd_cluster_parse("3=h:3,1=h:1,2=h:2", &b, why, sizeof why), 0);
    assert_int_equal(
        cmd_cluster_parse("1=h:1,2=h:2,3=h:4", &c, why, sizeof why), 0);
    assert_true(cmd_cluster_equal(&a, &b));
    assert_false(cmd_cluster_equal(&a, &c));
    assert_int_equal(cmd_cluster_id(&a, "raftkv"),
                     cmd_cluster_id(&b, "raftkv"));
    assert_int_not_equal(cmd_cluster_id(&a, "raftkv"),
                         cmd_cluster_id(&c, "raftkv"));
    assert_int_not_equal(cmd_cluster_id(&a, "raftkv"),
                         cmd_cluster_id(&a, "other"));
    char text[128];
    cmd_cluster_format(&b, text, sizeof text);
    assert_string_equal(text, "1=h:1,2=h:2,3=h:3");
}

/* The first start records the identity; later starts with the same --id
 * and --cluster adopt it; another --id or another map is refused with the
 * file, what it records and what was given. */
static void identity_is_recorded_and_enforced(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof dir);
    struct cmd_cluster map;
    assert_int_equal(
        cmd_cluster_parse("2=h:2,1=h:1,3=h:3", &map, why, sizeof why), 0);
    struct cmd_identity id;
    bool created = false;
    assert_int_equal(cmd_identity_adopt(dir, 3, &map, "raftkv", &id, &created,
                                        why, sizeof why),
                     0);
    assert_true(created);
    assert_int_equal(id.node_id, 3);
    assert_int_equal(id.cluster_id, cmd_cluster_id(&map, "raftkv"));

    struct cmd_identity again;
    bool found = false;
    assert_int_equal(cmd_identity_read(dir, &again, &found, why, sizeof why),
                     0);
    assert_true(found);
    assert_int_equal(again.cluster_id, id.cluster_id);
    assert_int_equal(again.node_id, 3);
    assert_true(cmd_cluster_equal(&again.members, &map));

    /* The same start again, even with another token: adopted as it is. */
    assert_int_equal(cmd_identity_adopt(dir, 3, &map, "other", &again, &created,
                                        why, sizeof why),
                     0);
    assert_false(created);
    assert_int_equal(again.cluster_id, id.cluster_id);

    /* Another node's --id. */
    assert_int_equal(cmd_identity_adopt(dir, 2, &map, "raftkv", &again,
                                        &created, why, sizeof why),
                     COMMON_EINVAL);
    assert_non_null(strstr(why, "/IDENTITY records node 3"));
    assert_non_null(strstr(why, "--id says 2"));

    /* A map that lists only this node (the split brain of a lone
     * restart), and one with a moved address. */
    const char *wrong[] = {"3=h:3", "1=h:1,2=h:2,3=h:9"};
    for (size_t k = 0; k < 2; k++) {
        struct cmd_cluster other;
        assert_int_equal(cmd_cluster_parse(wrong[k], &other, why, sizeof why),
                         0);
        assert_int_equal(cmd_identity_adopt(dir, 3, &other, "raftkv", &again,
                                            &created, why, sizeof why),
                         COMMON_EINVAL);
        assert_non_null(strstr(why, "as 1=h:1,2=h:2,3=h:3"));
        assert_non_null(strstr(why, wrong[k]));
    }
    rm_dir(dir);
}

/* A damaged IDENTITY is refused with the line that is wrong; a missing
 * one is reported as not found. */
static void damaged_identity_names_the_line(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof dir);
    struct cmd_identity id;
    bool found = true;
    assert_int_equal(cmd_identity_read(dir, &id, &found, why, sizeof why), 0);
    assert_false(found);
    const struct
    {
        const char *text;
        const char *says;
    } bad[] = {
        {"raftkv-identity: 1\ncluster: 00000000000000zz\n", ":2: cluster"},
        {"raftkv-identity: 2\n", ":1: version '2'"},
        {"raftkv-identity: 1\nnode 3\n", ":2: expected 'key: value'"},
        {"raftkv-identity: 1\ncolour: blue\n", ":2: unknown key 'colour'"},
        {"raftkv-identity: 1\nmember: 1=h:1\nmember: 1=h:2\n",
         ":3: member 1: listed twice"},
        {"raftkv-identity: 1\nmember: 1=h\n", ":2: member '1=h'"},
        {"raftkv-identity: 1\nnode: 0\n", ":2: node '0'"},
        {"raftkv-identity: 1\ncluster: 0123456789abcdef\nnode: 3\n",
         "incomplete"},
        {"raftkv-identity: 1\ncluster: 0123456789abcdef\nnode: 3\nmember: "
         "1=h:1\n",
         "node 3 is not among its members"},
        {"raftkv-identity: 1\ncluster: 0123456789abcdef\nnode: 1\nmember: "
         "1=h:1",
         ":4: line too long or unterminated"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_text(dir, bad[k].text);
        why[0] = '\0';
        assert_int_equal(cmd_identity_read(dir, &id, &found, why, sizeof why),
                         COMMON_EPARSE);
        assert_true(found);
        if (strstr(why, bad[k].says) == NULL) {
            fail_msg("case %zu: '%s' does not say '%s'", k, why, bad[k].says);
        }
        assert_non_null(strstr(why, "/IDENTITY"));
    }
    rm_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cluster_map_parses_and_refuses),
        cmocka_unit_test(numbers_and_durations_parse_strictly),
        cmocka_unit_test(requests_round_trip),
        cmocka_unit_test(bad_requests_are_refused),
        cmocka_unit_test(responses_round_trip),
        cmocka_unit_test(status_round_trips),
        cmocka_unit_test(cluster_id_is_order_free),
        cmocka_unit_test(identity_is_recorded_and_enforced),
        cmocka_unit_test(damaged_identity_names_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
