/*
 * The membership service raftkv.Cluster as plain C (see cmd.h): its
 * requests and its one answer (MembersResponse) to and from protobuf-c,
 * the member list of a node's configuration, and the configuration a
 * change asks for.
 *
 * The server and the CLI meet here, and so do bytes from anyone who
 * reaches the port: decoding checks every id, address and count before
 * anything uses it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "pb.h"
#include "proto/kv.pb-c.h"

static int bad(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return COMMON_EPARSE;
}

static const ProtobufCMessageDescriptor *request_type(enum cmd_method method)
{
    switch (method) {
        case CMD_MEMBER_LIST:
            return &raftkv__member_list_request__descriptor;
        case CMD_MEMBER_ADD:
            return &raftkv__member_add_request__descriptor;
        case CMD_MEMBER_PROMOTE:
            return &raftkv__member_promote_request__descriptor;
        case CMD_MEMBER_REMOVE:
            return &raftkv__member_remove_request__descriptor;
        case CMD_TRANSFER_LEADER:
            return &raftkv__transfer_leader_request__descriptor;
        default:
            return NULL;
    }
}

int cmd_cluster_request_decode(enum cmd_method method,
                               const void *buf,
                               size_t len,
                               struct cmd_cluster_request *out,
                               char *why,
                               size_t why_len)
{
    memset(out, 0, sizeof *out);
    const ProtobufCMessageDescriptor *d = request_type(method);
    if (d == NULL) {
        return bad(why, why_len, "%s", "not a raftkv.Cluster request");
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, buf);
    if (m == NULL) {
        return bad(why, why_len, "bytes that are not a raftkv.%s",
                   d->short_name);
    }
    out->method = method;
    const char *address = NULL;
    switch (method) {
        case CMD_MEMBER_ADD: {
            const Raftkv__MemberAddRequest *a =
                (const Raftkv__MemberAddRequest *)m;
            out->id = a->id;
            out->learner = a->learner;
            address = a->address;
            break;
        }
        case CMD_MEMBER_PROMOTE:
            out->id = ((const Raftkv__MemberPromoteRequest *)m)->id;
            break;
        case CMD_MEMBER_REMOVE:
            out->id = ((const Raftkv__MemberRemoveRequest *)m)->id;
            break;
        case CMD_TRANSFER_LEADER:
            out->id = ((const Raftkv__TransferLeaderRequest *)m)->id;
            break;
        default:
            break;
    }
    int rv = 0;
    if (method != CMD_MEMBER_LIST && out->id == 0) {
        rv = bad(why, why_len, "%s", "a member id of 0 (ids start at 1)");
    } else if (method == CMD_MEMBER_ADD) {
        size_t n = address != NULL ? strlen(address) : 0;
        if (n == 0) {
            rv = bad(why, why_len, "%s",
                     "a new member needs its address (HOST:PORT)");
        } else if (n > RAFT_ADDRESS_MAX) {
            rv = bad(why, why_len, "%s", "an address longer than 255 bytes");
        } else if (!cmd_address_valid(address, false)) {
            rv =
                bad(why, why_len, "address '%.100s' is not HOST:PORT", address);
        } else {
            memcpy(out->address, address, n + 1);
        }
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rv;
}

int cmd_cluster_request_encode(const struct cmd_cluster_request *r,
                               uint8_t **out,
                               size_t *len)
{
    union
    {
        Raftkv__MemberListRequest list;
        Raftkv__MemberAddRequest add;
        Raftkv__MemberPromoteRequest promote;
        Raftkv__MemberRemoveRequest remove;
        Raftkv__TransferLeaderRequest transfer;
    } u;
    switch (r->method) {
        case CMD_MEMBER_LIST:
            raftkv__member_list_request__init(&u.list);
            break;
        case CMD_MEMBER_ADD:
            raftkv__member_add_request__init(&u.add);
            u.add.id = r->id;
            u.add.address = cmd_pb_str(r->address);
            u.add.learner = r->learner;
            break;
        case CMD_MEMBER_PROMOTE:
            raftkv__member_promote_request__init(&u.promote);
            u.promote.id = r->id;
            break;
        case CMD_MEMBER_REMOVE:
            raftkv__member_remove_request__init(&u.remove);
            u.remove.id = r->id;
            break;
        case CMD_TRANSFER_LEADER:
            raftkv__transfer_leader_request__init(&u.transfer);
            u.transfer.id = r->id;
            break;
        default:
            return COMMON_EINVAL;
    }
    return cmd_pb_pack((const ProtobufCMessage *)&u, out, len);
}

/* ------------------------------------------------------------------------ */
/* Members of a configuration                                                */
/* ------------------------------------------------------------------------ */

/* Server @k's address in @c, else @fallback's for its id, into @buf. */
static const char *address_at(const struct raft_configuration *c,
                              uint32_t k,
                              const struct cmd_cluster *fallback,
                              char *buf,
                              size_t len)
{
    const char *a = NULL;
    size_t n = raft_configuration_address(c, k, &a);
    if (n > 0) {
        snprintf(buf, len, "%.*s", (int)n, a);
        return buf;
    }
    const char *f = fallback != NULL
                        ? cmd_cluster_address(fallback, c->servers[k].id)
                        : NULL;
    if (f != NULL) {
        snprintf(buf, len, "%s", f);
        return buf;
    }
    return NULL;
}

const char *cmd_member_address(const struct raft *r,
                               const struct cmd_cluster *fallback,
                               raft_id id,
                               char *buf,
                               size_t len)
{
    const struct raft_configuration *c = raft_config(r);
    int k = raft_configuration_find(c, id);
    if (k >= 0) {
        return address_at(c, (uint32_t)k, fallback, buf, len);
    }
    /* A node outside the configuration (removed, or not yet added). */
    const char *f = fallback != NULL ? cmd_cluster_address(fallback, id) : NULL;
    if (f != NULL) {
        snprintf(buf, len, "%s", f);
        return buf;
    }
    return NULL;
}

void cmd_members_of(const struct raft *r,
                    const struct cmd_cluster *fallback,
                    struct cmd_members *out)
{
    memset(out, 0, sizeof *out);
    const struct raft_configuration *c = raft_config(r);
    raft_id leader = raft_leader(r);
    for (uint32_t k = 0; k < c->count && k < RAFT_MAX_SERVERS; k++) {
        struct cmd_member_info *m = &out->members[out->n++];
        m->id = c->servers[k].id;
        m->learner = c->servers[k].role == RAFT_LEARNER;
        m->leader = m->id == leader;
        address_at(c, k, fallback, m->address, sizeof m->address);
    }
    out->code = KV_OK;
    out->leader_id = raft_leader(r);
    const char *la =
        cmd_member_address(r, fallback, out->leader_id, out->leader_address,
                           sizeof out->leader_address);
    if (la == NULL) {
        out->leader_address[0] = '\0';
    }
    out->term = raft_current_term(r);
    out->config_index = raft_config_index(r);
    out->config_committed = out->config_index <= raft_commit_index(r);
}

int cmd_members_change(const struct raft_configuration *cur,
                       const struct cmd_cluster_request *req,
                       const struct cmd_cluster *fallback,
                       struct raft_configuration *next,
                       uint8_t *table,
                       char *why,
                       size_t why_len)
{
    int k = raft_configuration_find(cur, req->id);
    unsigned long long id = (unsigned long long)req->id;
    if (req->method == CMD_MEMBER_ADD && k >= 0) {
        snprintf(why, why_len, "node %llu is already a member (a %s)", id,
                 cur->servers[k].role == RAFT_VOTER ? "voter" : "learner");
        return TRANSPORT_GRPC_ALREADY_EXISTS;
    }
    if (req->method != CMD_MEMBER_ADD && k < 0) {
        snprintf(why, why_len, "node %llu is not a member", id);
        return TRANSPORT_GRPC_NOT_FOUND;
    }
    if (req->method == CMD_MEMBER_ADD && cur->count >= RAFT_MAX_SERVERS) {
        snprintf(why, why_len, "the configuration holds %d members already",
                 RAFT_MAX_SERVERS);
        return TRANSPORT_GRPC_FAILED_PRECONDITION;
    }
    if (req->method == CMD_MEMBER_PROMOTE &&
        cur->servers[k].role == RAFT_VOTER) {
        snprintf(why, why_len, "node %llu is a voter already", id);
        return TRANSPORT_GRPC_FAILED_PRECONDITION;
    }
    if (req->method == CMD_MEMBER_REMOVE &&
        cur->servers[k].role == RAFT_VOTER &&
        raft_configuration_voter_count(cur) == 1) {
        snprintf(why, why_len,
                 "node %llu is the only voter: the cluster cannot lose it", id);
        return TRANSPORT_GRPC_FAILED_PRECONDITION;
    }
    /* Every member keeps (or is given) its address. */
    char addrs[RAFT_MAX_SERVERS + 1][CMD_ADDRESS_MAX];
    const char *list[RAFT_MAX_SERVERS + 1];
    struct raft_configuration c;
    memset(&c, 0, sizeof c);
    for (uint32_t j = 0; j < cur->count; j++) {
        if (req->method == CMD_MEMBER_REMOVE && (int)j == k) {
            continue;
        }
        c.servers[c.count] = cur->servers[j];
        if (req->method == CMD_MEMBER_PROMOTE && (int)j == k) {
            c.servers[c.count].role = RAFT_VOTER;
        }
        list[c.count] =
            address_at(cur, j, fallback, addrs[c.count], sizeof addrs[0]);
        c.count++;
    }
    if (req->method == CMD_MEMBER_ADD) {
        c.servers[c.count].id = req->id;
        c.servers[c.count].role = req->learner ? RAFT_LEARNER : RAFT_VOTER;
        list[c.count] = req->address;
        c.count++;
    }
    int rv =
        raft_configuration_set_addresses(&c, list, table, RAFT_ADDRESSES_MAX);
    if (rv != 0) {
        snprintf(why, why_len, "a member's address cannot be recorded");
        return TRANSPORT_GRPC_INVALID_ARGUMENT;
    }
    *next = c;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* MembersResponse                                                           */
/* ------------------------------------------------------------------------ */

int cmd_members_encode(const struct cmd_members *m, uint8_t **out, size_t *len)
{
    Raftkv__ResponseHeader h = RAFTKV__RESPONSE_HEADER__INIT;
    h.code = (Raftkv__Code)m->code;
    h.leader_id = m->leader_id;
    h.leader_address = cmd_pb_str(m->leader_address);
    h.term = m->term;
    h.message = cmd_pb_str(m->message);
    Raftkv__Member members[RAFT_MAX_SERVERS];
    Raftkv__Member *ptrs[RAFT_MAX_SERVERS];
    size_t n = m->n < RAFT_MAX_SERVERS ? m->n : RAFT_MAX_SERVERS;
    for (size_t k = 0; k < n; k++) {
        raftkv__member__init(&members[k]);
        members[k].id = m->members[k].id;
        members[k].address = cmd_pb_str(m->members[k].address);
        members[k].learner = m->members[k].learner;
        members[k].leader = m->members[k].leader;
        ptrs[k] = &members[k];
    }
    Raftkv__MembersResponse r = RAFTKV__MEMBERS_RESPONSE__INIT;
    r.header = &h;
    r.n_members = n;
    r.members = ptrs;
    r.config_index = m->config_index;
    r.config_committed = m->config_committed;
    r.cluster_id = m->cluster_id;
    return cmd_pb_pack((const ProtobufCMessage *)&r, out, len);
}

/* Copies a string field of at most @cap - 1 bytes; false when longer. */
static bool copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n >= cap) {
        return false;
    }
    memcpy(dst, src != NULL ? src : "", n + 1);
    return true;
}

int cmd_members_decode(const void *buf, size_t len, struct cmd_members *out)
{
    memset(out, 0, sizeof *out);
    Raftkv__MembersResponse *m =
        raftkv__members_response__unpack(NULL, len, buf);
    if (m == NULL) {
        return COMMON_EPARSE;
    }
    int rv = 0;
    Raftkv__ResponseHeader empty = RAFTKV__RESPONSE_HEADER__INIT;
    const Raftkv__ResponseHeader *h = m->header != NULL ? m->header : &empty;
    if ((int)h->code < KV_OK || (int)h->code > KV_EXPIRED ||
        m->n_members > RAFT_MAX_SERVERS ||
        !copy_field(out->leader_address, RAFT_ADDRESS_MAX + 1,
                    h->leader_address)) {
        rv = COMMON_EPARSE;
    }
    for (size_t k = 0; rv == 0 && k < m->n_members; k++) {
        const Raftkv__Member *x = m->members[k];
        struct cmd_member_info *y = &out->members[k];
        if (x->id == 0 ||
            !copy_field(y->address, RAFT_ADDRESS_MAX + 1, x->address)) {
            rv = COMMON_EPARSE;
            break;
        }
        y->id = x->id;
        y->learner = x->learner;
        y->leader = x->leader;
        out->n++;
    }
    if (rv == 0) {
        out->code = (enum kv_status)h->code;
        out->leader_id = h->leader_id;
        out->term = h->term;
        snprintf(out->message, sizeof out->message, "%s",
                 h->message != NULL ? h->message : "");
        out->config_index = m->config_index;
        out->config_committed = m->config_committed;
        out->cluster_id = m->cluster_id;
    }
    raftkv__members_response__free_unpacked(m, NULL);
    return rv;
}
