/*
 * cmd_cluster_api: the membership service raftkv.Cluster as plain C -
 * its requests and MembersResponse to and from bytes (every hostile
 * form refused), the member list of a node, and the configuration each
 * change asks for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/cmd.h"

static char why[256];

static struct cmd_cluster_request request(enum cmd_method m,
                                          raft_id id,
                                          const char *address,
                                          bool learner)
{
    struct cmd_cluster_request r;
    memset(&r, 0, sizeof r);
    r.method = m;
    r.id = id;
    snprintf(r.address, sizeof r.address, "%s", address);
    r.learner = learner;
    return r;
}

/* Every Cluster request survives encoding and decoding. */
static void cluster_requests_round_trip(void **state)
{
    (void)state;
    for (int m = CMD_CLUSTER_FIRST; m < CMD_METHODS; m++) {
        struct cmd_cluster_request r = request(
            (enum cmd_method)m, m == CMD_MEMBER_LIST ? 0 : 7,
            m == CMD_MEMBER_ADD ? "127.0.0.1:7007" : "", m == CMD_MEMBER_ADD);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(cmd_cluster_request_encode(&r, &buf, &len), 0);
        struct cmd_cluster_request got;
        assert_int_equal(cmd_cluster_request_decode((enum cmd_method)m, buf,
                                                    len, &got, why, sizeof why),
                         0);
        assert_int_equal(got.method, m);
        assert_int_equal(got.id, r.id);
        assert_string_equal(got.address, r.address);
        assert_int_equal(got.learner, r.learner);
        free(buf);
    }
    struct cmd_cluster_request kv = request(CMD_PUT, 1, "", false);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cmd_cluster_request_encode(&kv, &buf, &len),
                     COMMON_EINVAL);
}

/* Requests with an id of 0, a new member without a usable address, bytes
 * that are no such request, or a KV method are refused with a reason. */
static void cluster_bad_requests_are_refused(void **state)
{
    (void)state;
    char longest[RAFT_ADDRESS_MAX + 8];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memcpy(longest + RAFT_ADDRESS_MAX, ":7001", 5);
    struct
    {
        struct cmd_cluster_request r;
        const char *says;
    } cases[] = {
        {request(CMD_MEMBER_PROMOTE, 0, "", false), "id of 0"},
        {request(CMD_MEMBER_REMOVE, 0, "", false), "id of 0"},
        {request(CMD_TRANSFER_LEADER, 0, "", false), "id of 0"},
        {request(CMD_MEMBER_ADD, 0, "h:1", false), "id of 0"},
        {request(CMD_MEMBER_ADD, 4, "", false), "needs its address"},
        {request(CMD_MEMBER_ADD, 4, "nohost", false), "not HOST:PORT"},
        {request(CMD_MEMBER_ADD, 4, "h:0", false), "not HOST:PORT"},
        {request(CMD_MEMBER_ADD, 4, "h p:1", false), "not HOST:PORT"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(cmd_cluster_request_encode(&cases[k].r, &buf, &len),
                         0);
        struct cmd_cluster_request got;
        assert_int_equal(cmd_cluster_request_decode(cases[k].r.method, buf, len,
                                                    &got, why, sizeof why),
                         COMMON_EPARSE);
        if (strstr(why, cases[k].says) == NULL) {
            fail_msg("case %zu: '%s' does not say '%s'", k, why, cases[k].says);
        }
        free(buf);
    }
    /* An address too long for the configuration, sent by hand: field 1
     * (id 4) and field 2 (the address, a two-byte length). */
    size_t alen = strlen(longest);
    uint8_t raw[512];
    size_t n = 0;
    raw[n++] = 0x08;
    raw[n++] = 4;
    raw[n++] = 0x12;
    raw[n++] = (uint8_t)(0x80 | (alen & 0x7f));
    raw[n++] = (uint8_t)(alen >> 7);
    memcpy(raw + n, longest, alen);
    n += alen;
    struct cmd_cluster_request got;
    assert_int_equal(cmd_cluster_request_decode(CMD_MEMBER_ADD, raw, n, &got,
                                                why, sizeof why),
                     COMMON_EPARSE);
    assert_non_null(strstr(why, "longer than 255"));
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    for (int m = CMD_CLUSTER_FIRST; m < CMD_METHODS; m++) {
        assert_int_equal(
            cmd_cluster_request_decode((enum cmd_method)m, junk, sizeof junk,
                                       &got, why, sizeof why),
            COMMON_EPARSE);
    }
    assert_int_equal(
        cmd_cluster_request_decode(CMD_GET, NULL, 0, &got, why, sizeof why),
        COMMON_EPARSE);
}

/* A MembersResponse round-trips; one with too many members, a member id
 * of 0, an address too long or an unknown code is refused. */
static void cluster_members_response_round_trips_and_refuses(void **state)
{
    (void)state;
    struct cmd_members m;
    memset(&m, 0, sizeof m);
    m.code = KV_NOT_LEADER;
    m.leader_id = 2;
    snprintf(m.leader_address, sizeof m.leader_address, "h2:2");
    m.term = 9;
    snprintf(m.message, sizeof m.message, "not the leader");
    m.n = 2;
    m.members[0] = (struct cmd_member_info){.id = 1, .learner = true};
    snprintf(m.members[0].address, sizeof m.members[0].address, "h1:1");
    m.members[1] = (struct cmd_member_info){.id = 2, .leader = true};
    snprintf(m.members[1].address, sizeof m.members[1].address, "h2:2");
    m.config_index = 12;
    m.config_committed = true;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cmd_members_encode(&m, &buf, &len), 0);
    struct cmd_members got;
    assert_int_equal(cmd_members_decode(buf, len, &got), 0);
    assert_int_equal(got.code, KV_NOT_LEADER);
    assert_int_equal(got.leader_id, 2);
    assert_string_equal(got.leader_address, "h2:2");
    assert_int_equal(got.n, 2);
    assert_true(got.members[0].learner);
    assert_true(got.members[1].leader);
    assert_string_equal(got.members[1].address, "h2:2");
    assert_int_equal(got.config_index, 12);
    assert_true(got.config_committed);
    free(buf);

    /* 33 members of id 1: field 2, length 2, field 1 = 1. */
    uint8_t raw[1024];
    size_t n = 0;
    for (int k = 0; k < RAFT_MAX_SERVERS + 1; k++) {
        raw[n++] = 0x12;
        raw[n++] = 2;
        raw[n++] = 0x08;
        raw[n++] = 1;
    }
    assert_int_equal(cmd_members_decode(raw, n, &got), COMMON_EPARSE);
    assert_int_equal(cmd_members_decode(raw, 4, &got), 0);
    /* A member without an id. */
    static const uint8_t no_id[] = {0x12, 0x00};
    assert_int_equal(cmd_members_decode(no_id, sizeof no_id, &got),
                     COMMON_EPARSE);
    /* A member whose address is 256 bytes. */
    n = 0;
    raw[n++] = 0x12;
    raw[n++] = 0x85; /* 261 */
    raw[n++] = 0x02;
    raw[n++] = 0x08;
    raw[n++] = 1;
    raw[n++] = 0x12;
    raw[n++] = 0x80; /* 256 */
    raw[n++] = 0x02;
    memset(raw + n, 'a', 256);
    n += 256;
    assert_int_equal(cmd_members_decode(raw, n, &got), COMMON_EPARSE);
    /* A header with an unknown code (field 1, header: field 1 = 42). */
    static const uint8_t code[] = {0x0a, 0x02, 0x08, 42};
    assert_int_equal(cmd_members_decode(code, sizeof code, &got),
                     COMMON_EPARSE);
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(cmd_members_decode(junk, sizeof junk, &got),
                     COMMON_EPARSE);
}

static struct raft_configuration three(uint8_t *table)
{
    raft_id ids[] = {1, 2, 3};
    struct raft_configuration c;
    assert_int_equal(raft_configuration_voters(&c, ids, 3), 0);
    const char *addrs[] = {"h1:1", NULL, "h3:3"};
    assert_int_equal(
        raft_configuration_set_addresses(&c, addrs, table, RAFT_ADDRESSES_MAX),
        0);
    return c;
}

static const char *address_of(const struct raft_configuration *c, raft_id id)
{
    static char out[RAFT_ADDRESS_MAX + 1];
    int k = raft_configuration_find(c, id);
    assert_true(k >= 0);
    const char *a = NULL;
    size_t n = raft_configuration_address(c, (uint32_t)k, &a);
    memcpy(out, a, n);
    out[n] = '\0';
    return out;
}

/* Each change asks for the configuration one server away, every member
 * keeping its address (from the configuration, else the --cluster map);
 * changes that make no sense are refused with the gRPC status to answer. */
static void cluster_changes_build_the_next_configuration(void **state)
{
    (void)state;
    uint8_t t0[RAFT_ADDRESSES_MAX];
    uint8_t t1[RAFT_ADDRESSES_MAX];
    struct raft_configuration cur = three(t0);
    struct cmd_cluster fallback;
    assert_int_equal(
        cmd_cluster_parse("2=h2:2,3=old3:3", &fallback, why, sizeof why), 0);
    struct raft_configuration next;
    struct cmd_cluster_request add = request(CMD_MEMBER_ADD, 4, "h4:4", true);
    assert_int_equal(
        cmd_members_change(&cur, &add, &fallback, &next, t1, why, sizeof why),
        0);
    assert_int_equal(next.count, 4);
    assert_int_equal(next.servers[3].role, RAFT_LEARNER);
    assert_string_equal(address_of(&next, 4), "h4:4");
    assert_string_equal(address_of(&next, 2), "h2:2"); /* from the map */
    assert_string_equal(address_of(&next, 3), "h3:3"); /* its own wins */
    struct raft_configuration four = next;
    uint8_t t2[RAFT_ADDRESSES_MAX];
    struct cmd_cluster_request promote =
        request(CMD_MEMBER_PROMOTE, 4, "", false);
    assert_int_equal(
        cmd_members_change(&four, &promote, NULL, &next, t2, why, sizeof why),
        0);
    assert_int_equal(next.servers[3].role, RAFT_VOTER);
    struct cmd_cluster_request remove =
        request(CMD_MEMBER_REMOVE, 1, "", false);
    assert_int_equal(
        cmd_members_change(&four, &remove, NULL, &next, t2, why, sizeof why),
        0);
    assert_int_equal(next.count, 3);
    assert_int_equal(raft_configuration_find(&next, 1), -1);
    assert_string_equal(address_of(&next, 4), "h4:4");

    struct
    {
        struct cmd_cluster_request r;
        int status;
    } refused[] = {
        {request(CMD_MEMBER_ADD, 2, "h:1", false),
         TRANSPORT_GRPC_ALREADY_EXISTS},
        {request(CMD_MEMBER_PROMOTE, 9, "", false), TRANSPORT_GRPC_NOT_FOUND},
        {request(CMD_MEMBER_REMOVE, 9, "", false), TRANSPORT_GRPC_NOT_FOUND},
        {request(CMD_MEMBER_PROMOTE, 2, "", false),
         TRANSPORT_GRPC_FAILED_PRECONDITION},
    };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        assert_int_equal(cmd_members_change(&cur, &refused[k].r, NULL, &next,
                                            t2, why, sizeof why),
                         refused[k].status);
        assert_true(strlen(why) > 0);
    }
    raft_id one[] = {1};
    struct raft_configuration single;
    assert_int_equal(raft_configuration_voters(&single, one, 1), 0);
    assert_int_equal(
        cmd_members_change(&single, &remove, NULL, &next, t2, why, sizeof why),
        TRANSPORT_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(why, "only voter"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cluster_requests_round_trip),
        cmocka_unit_test(cluster_bad_requests_are_refused),
        cmocka_unit_test(cluster_members_response_round_trips_and_refuses),
        cmocka_unit_test(cluster_changes_build_the_next_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
