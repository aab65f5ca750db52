/*
 * The client service raftkv.KV as plain C (see cmd.h): protobuf-c
 * messages of proto/kv.proto to struct kv_request and from struct
 * kv_response, for the server; the other way round for the CLI.
 *
 * Every request type carries the same RequestHeader and key, and every
 * response the same ResponseHeader, so each direction is one function with
 * a switch on the method rather than five copies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "pb.h"
#include "proto/kv.pb-c.h"

const char *const cmd_method_paths[CMD_METHODS] = {
    "/raftkv.KV/Put",
    "/raftkv.KV/Get",
    "/raftkv.KV/Delete",
    "/raftkv.KV/CompareAndSwap",
    "/raftkv.KV/Append",
    "/raftkv.KV/RegisterClient",
    "/raftkv.KV/Status",
    "/raftkv.Cluster/MemberList",
    "/raftkv.Cluster/MemberAdd",
    "/raftkv.Cluster/MemberPromote",
    "/raftkv.Cluster/MemberRemove",
    "/raftkv.Cluster/TransferLeader",
};

static const ProtobufCMessageDescriptor *const request_types[CMD_METHODS] = {
    &raftkv__put_request__descriptor,
    &raftkv__get_request__descriptor,
    &raftkv__delete_request__descriptor,
    &raftkv__compare_and_swap_request__descriptor,
    &raftkv__append_request__descriptor,
    &raftkv__register_client_request__descriptor,
    &raftkv__status_request__descriptor,
};

static const ProtobufCMessageDescriptor *const response_types[CMD_METHODS] = {
    &raftkv__put_response__descriptor,
    &raftkv__get_response__descriptor,
    &raftkv__delete_response__descriptor,
    &raftkv__compare_and_swap_response__descriptor,
    &raftkv__append_response__descriptor,
    &raftkv__register_client_response__descriptor,
    &raftkv__status_response__descriptor,
};

static struct common_buf buf_of(ProtobufCBinaryData d)
{
    struct common_buf b = {.base = d.data, .len = d.len};
    return b;
}

static ProtobufCBinaryData bin(struct common_buf b)
{
    ProtobufCBinaryData d = {.len = b.len, .data = b.base};
    return d;
}

char *cmd_pb_str(const char *s)
{
    return (char *)(uintptr_t)(s != NULL ? s : "");
}

static char *str(const char *s)
{
    return cmd_pb_str(s);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

int cmd_pb_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        return COMMON_ENOMEM;
    }
    protobuf_c_message_pack(m, buf);
    *out = buf;
    *len = n;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Server side                                                               */
/* ------------------------------------------------------------------------ */

static int bad(char *why, size_t why_len, const char *msg)
{
    snprintf(why, why_len, "%s", msg);
    return COMMON_EPARSE;
}

int cmd_request_decode(enum cmd_method method,
                       const void *buf,
                       size_t len,
                       struct cmd_request *out,
                       char *why,
                       size_t why_len)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)method >= CMD_STATUS) {
        return bad(why, why_len, "not a key-value request");
    }
    ProtobufCMessage *m =
        protobuf_c_message_unpack(request_types[method], NULL, len, buf);
    if (m == NULL) {
        snprintf(why, why_len, "%zu bytes that are not a raftkv.%s", len,
                 request_types[method]->short_name);
        return COMMON_EPARSE;
    }
    struct kv_request *r = &out->req;
    const Raftkv__RequestHeader *h = NULL;
    switch (method) {
        case CMD_PUT: {
            const Raftkv__PutRequest *p = (const Raftkv__PutRequest *)m;
            h = p->header;
            r->op = KV_OP_PUT;
            r->key = buf_of(p->key);
            r->value = buf_of(p->value);
            break;
        }
        case CMD_GET: {
            const Raftkv__GetRequest *p = (const Raftkv__GetRequest *)m;
            h = p->header;
            r->op = KV_OP_GET;
            r->key = buf_of(p->key);
            break;
        }
        case CMD_DELETE: {
            const Raftkv__DeleteRequest *p = (const Raftkv__DeleteRequest *)m;
            h = p->header;
            r->op = KV_OP_DELETE;
            r->key = buf_of(p->key);
            break;
        }
        case CMD_CAS: {
            const Raftkv__CompareAndSwapRequest *p =
                (const Raftkv__CompareAndSwapRequest *)m;
            h = p->header;
            r->op = KV_OP_CAS;
            r->key = buf_of(p->key);
            r->expected = buf_of(p->expected);
            r->expected_absent = p->expected_absent;
            r->value = buf_of(p->value);
            if (p->expected_absent && p->expected.len > 0) {
                protobuf_c_message_free_unpacked(m, NULL);
                return bad(why, why_len,
                           "expected and expected_absent both set");
            }
            break;
        }
        case CMD_APPEND: {
            const Raftkv__AppendRequest *p = (const Raftkv__AppendRequest *)m;
            h = p->header;
            r->op = KV_OP_APPEND;
            r->key = buf_of(p->key);
            r->value = buf_of(p->value);
            break;
        }
        case CMD_REGISTER:
            h = ((const Raftkv__RegisterClientRequest *)m)->header;
            r->op = KV_OP_REGISTER;
            break;
        default: /* CMD_STATUS, raftkv.Cluster: refused above */
            break;
    }
    if (h != NULL) {
        r->client_id = h->client_id;
        r->seq = h->seq;
    }
    const char *wrong = NULL;
    if (method == CMD_REGISTER && (r->client_id != 0 || r->seq != 0)) {
        wrong =
            "a registration has no client_id and no seq: the cluster "
            "chooses the session's id";
    } else if (method != CMD_REGISTER && r->client_id != 0 && r->seq == 0) {
        wrong = "a request with a client_id needs a seq of 1 or more";
    }
    if (wrong != NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        return bad(why, why_len, wrong);
    }
    out->decoded = m;
    return 0;
}

void cmd_request_free(struct cmd_request *r)
{
    if (r->decoded != NULL) {
        protobuf_c_message_free_unpacked(r->decoded, NULL);
        r->decoded = NULL;
    }
}

int cmd_response_encode(enum cmd_method method,
                        const struct kv_response *r,
                        const struct cmd_reply_info *info,
                        uint8_t **out,
                        size_t *len)
{
    Raftkv__ResponseHeader h = RAFTKV__RESPONSE_HEADER__INIT;
    h.code = (Raftkv__Code)r->status;
    h.leader_id = r->leader;
    h.leader_address = str(r->leader != 0 ? info->leader_address : NULL);
    h.term = info->term;
    h.index = r->index;
    h.message = str(info->message);
    union
    {
        Raftkv__PutResponse put;
        Raftkv__GetResponse get;
        Raftkv__DeleteResponse del;
        Raftkv__CompareAndSwapResponse cas;
        Raftkv__AppendResponse append;
        Raftkv__RegisterClientResponse reg;
    } u;
    switch (method) {
        case CMD_PUT:
            raftkv__put_response__init(&u.put);
            u.put.header = &h;
            break;
        case CMD_GET:
            raftkv__get_response__init(&u.get);
            u.get.header = &h;
            u.get.found = r->status == KV_OK && r->found;
            if (u.get.found) {
                u.get.value = bin(r->value);
            }
            break;
        case CMD_DELETE:
            raftkv__delete_response__init(&u.del);
            u.del.header = &h;
            u.del.found = r->status == KV_OK;
            break;
        case CMD_CAS:
            raftkv__compare_and_swap_response__init(&u.cas);
            u.cas.header = &h;
            break;
        case CMD_APPEND:
            raftkv__append_response__init(&u.append);
            u.append.header = &h;
            break;
        case CMD_REGISTER:
            raftkv__register_client_response__init(&u.reg);
            u.reg.header = &h;
            u.reg.client_id = r->status == KV_OK ? r->index : 0;
            break;
        default:
            return COMMON_EINVAL;
    }
    return cmd_pb_pack((const ProtobufCMessage *)&u, out, len);
}

int cmd_status_encode(const struct cmd_status *s, uint8_t **out, size_t *len)
{
    Raftkv__StatusResponse m = RAFTKV__STATUS_RESPONSE__INIT;
    m.id = s->id;
    m.role = str(s->role);
    m.term = s->term;
    m.leader_id = s->leader_id;
    m.leader_address = str(s->leader_address);
    m.commit_index = s->commit;
    m.applied_index = s->applied;
    m.last_index = s->last;
    m.state_digest = s->digest;
    m.keys = s->keys;
    m.snapshot_index = s->snapshot_index;
    m.follower_lost_entries = s->follower_lost_entries;
    return cmd_pb_pack(&m.base, out, len);
}

bool cmd_status_request_valid(const void *buf, size_t len)
{
    Raftkv__StatusRequest *m = raftkv__status_request__unpack(NULL, len, buf);
    if (m == NULL) {
        return false;
    }
    raftkv__status_request__free_unpacked(m, NULL);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Client side                                                               */
/* ------------------------------------------------------------------------ */

int cmd_request_encode(enum cmd_method method,
                       const struct kv_request *req,
                       uint8_t **out,
                       size_t *len)
{
    Raftkv__RequestHeader h = RAFTKV__REQUEST_HEADER__INIT;
    h.client_id = req->client_id;
    h.seq = req->seq;
    union
    {
        Raftkv__PutRequest put;
        Raftkv__GetRequest get;
        Raftkv__DeleteRequest del;
        Raftkv__CompareAndSwapRequest cas;
        Raftkv__AppendRequest append;
        Raftkv__RegisterClientRequest reg;
    } u;
    switch (method) {
        case CMD_PUT:
            raftkv__put_request__init(&u.put);
            u.put.header = &h;
            u.put.key = bin(req->key);
            u.put.value = bin(req->value);
            break;
        case CMD_GET:
            raftkv__get_request__init(&u.get);
            u.get.header = &h;
            u.get.key = bin(req->key);
            break;
        case CMD_DELETE:
            raftkv__delete_request__init(&u.del);
            u.del.header = &h;
            u.del.key = bin(req->key);
            break;
        case CMD_CAS:
            raftkv__compare_and_swap_request__init(&u.cas);
            u.cas.header = &h;
            u.cas.key = bin(req->key);
            u.cas.expected = bin(req->expected);
            u.cas.expected_absent = req->expected_absent;
            u.cas.value = bin(req->value);
            break;
        case CMD_APPEND:
            raftkv__append_request__init(&u.append);
            u.append.header = &h;
            u.append.key = bin(req->key);
            u.append.value = bin(req->value);
            break;
        case CMD_REGISTER:
            raftkv__register_client_request__init(&u.reg);
            u.reg.header = &h;
            break;
        default:
            return COMMON_EINVAL;
    }
    return cmd_pb_pack((const ProtobufCMessage *)&u, out, len);
}

int cmd_response_decode(enum cmd_method method,
                        const void *buf,
                        size_t len,
                        struct cmd_response *out)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)method >= CMD_STATUS) {
        return COMMON_EINVAL;
    }
    ProtobufCMessage *m =
        protobuf_c_message_unpack(response_types[method], NULL, len, buf);
    if (m == NULL) {
        return COMMON_EPARSE;
    }
    /* Every response starts with its header (field 1). */
    const Raftkv__ResponseHeader *h = NULL;
    int rv = 0;
    switch (method) {
        case CMD_PUT:
            h = ((const Raftkv__PutResponse *)m)->header;
            break;
        case CMD_GET: {
            const Raftkv__GetResponse *g = (const Raftkv__GetResponse *)m;
            h = g->header;
            out->found = g->found;
            if (g->found) {
                out->value = malloc(g->value.len > 0 ? g->value.len : 1);
                if (out->value == NULL) {
                    rv = COMMON_ENOMEM;
                    break;
                }
                if (g->value.len > 0) {
                    memcpy(out->value, g->value.data, g->value.len);
                }
                out->value_len = g->value.len;
            }
            break;
        }
        case CMD_DELETE:
            h = ((const Raftkv__DeleteResponse *)m)->header;
            out->found = ((const Raftkv__DeleteResponse *)m)->found;
            break;
        case CMD_CAS:
            h = ((const Raftkv__CompareAndSwapResponse *)m)->header;
            break;
        case CMD_APPEND:
            h = ((const Raftkv__AppendResponse *)m)->header;
            break;
        case CMD_REGISTER:
            h = ((const Raftkv__RegisterClientResponse *)m)->header;
            out->client_id =
                ((const Raftkv__RegisterClientResponse *)m)->client_id;
            break;
        default: /* CMD_STATUS, raftkv.Cluster: refused above */
            break;
    }
    /* proto3: an absent header reads as the default one (CODE_OK). */
    Raftkv__ResponseHeader empty = RAFTKV__RESPONSE_HEADER__INIT;
    if (h == NULL) {
        h = &empty;
    }
    if (rv == 0 && ((int)h->code < KV_OK || (int)h->code > KV_EXPIRED)) {
        rv = COMMON_EPARSE;
    }
    if (rv == 0) {
        out->code = (enum kv_status)h->code;
        out->leader_id = h->leader_id;
        copy_str(out->leader_address, sizeof out->leader_address,
                 h->leader_address);
        out->term = h->term;
        out->index = h->index;
        copy_str(out->message, sizeof out->message, h->message);
    } else {
        free(out->value);
        out->value = NULL;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rv;
}

int cmd_status_decode(const void *buf, size_t len, struct cmd_status *out)
{
    memset(out, 0, sizeof *out);
    Raftkv__StatusResponse *m = raftkv__status_response__unpack(NULL, len, buf);
    if (m == NULL) {
        return COMMON_EPARSE;
    }
    out->id = m->id;
    copy_str(out->role, sizeof out->role, m->role);
    out->term = m->term;
    out->leader_id = m->leader_id;
    copy_str(out->leader_address, sizeof out->leader_address,
             m->leader_address);
    out->commit = m->commit_index;
    out->applied = m->applied_index;
    out->last = m->last_index;
    out->digest = m->state_digest;
    out->keys = m->keys;
    out->snapshot_index = m->snapshot_index;
    out->follower_lost_entries = m->follower_lost_entries;
    raftkv__status_response__free_unpacked(m, NULL);
    return 0;
}
