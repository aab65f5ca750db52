/*
 * Commands as they travel through the Raft log: Raftkv__Command of
 * proto/kv.proto, packed and unpacked with protobuf-c. Decoding validates
 * everything a replica relies on, so a corrupt entry is refused the same way
 * on every node.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "proto/kv.pb-c.h"

const char *kv_op_name(int op)
{
    switch (op) {
        case KV_OP_GET:
            return "get";
        case KV_OP_PUT:
            return "put";
        case KV_OP_DELETE:
            return "delete";
        case KV_OP_CAS:
            return "cas";
        case KV_OP_APPEND:
            return "append";
        case KV_OP_REGISTER:
            return "register";
        default:
            return "?";
    }
}

const char *kv_status_name(int status)
{
    switch (status) {
        case KV_OK:
            return "ok";
        case KV_NOT_FOUND:
            return "not-found";
        case KV_MISMATCH:
            return "mismatch";
        case KV_NOT_LEADER:
            return "not-leader";
        case KV_RETRY:
            return "retry";
        case KV_INVALID:
            return "invalid";
        case KV_UNAVAILABLE:
            return "unavailable";
        case KV_EXPIRED:
            return "session-expired";
        default:
            return "?";
    }
}

/* enum kv_op and proto/kv.proto's Op number the operations differently
 * (GET is first here, PUT there): translate explicitly, so that the log
 * holds kv.proto's values and any reader of it sees what was meant. */
static Raftkv__Op op_to_proto(enum kv_op op)
{
    switch (op) {
        case KV_OP_GET:
            return RAFTKV__OP__OP_GET;
        case KV_OP_PUT:
            return RAFTKV__OP__OP_PUT;
        case KV_OP_DELETE:
            return RAFTKV__OP__OP_DELETE;
        case KV_OP_CAS:
            return RAFTKV__OP__OP_CAS;
        case KV_OP_APPEND:
            return RAFTKV__OP__OP_APPEND;
        case KV_OP_REGISTER:
            return RAFTKV__OP__OP_REGISTER;
        default:
            return RAFTKV__OP__OP_UNSPECIFIED;
    }
}

static int op_from_proto(Raftkv__Op op)
{
    switch (op) {
        case RAFTKV__OP__OP_GET:
            return KV_OP_GET;
        case RAFTKV__OP__OP_PUT:
            return KV_OP_PUT;
        case RAFTKV__OP__OP_DELETE:
            return KV_OP_DELETE;
        case RAFTKV__OP__OP_CAS:
            return KV_OP_CAS;
        case RAFTKV__OP__OP_APPEND:
            return KV_OP_APPEND;
        case RAFTKV__OP__OP_REGISTER:
            return KV_OP_REGISTER;
        default:
            return 0;
    }
}

static ProtobufCBinaryData bin(struct common_buf b)
{
    ProtobufCBinaryData d = {.len = b.len, .data = b.base};
    return d;
}

int kv_command_encode(const struct kv_request *req, uint8_t **out, size_t *len)
{
    if ((req->op < 1 || req->op > KV_OP_MAX) && req->op != KV_OP_REGISTER) {
        return COMMON_EINVAL;
    }
    Raftkv__Command c = RAFTKV__COMMAND__INIT;
    c.client_id = req->client_id;
    c.seq = req->seq;
    c.op = op_to_proto(req->op);
    c.key = bin(req->key);
    c.value = bin(req->value);
    c.expected = bin(req->expected);
    c.expected_absent = req->expected_absent;
    size_t n = raftkv__command__get_packed_size(&c);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
        return COMMON_ENOMEM;
    }
    raftkv__command__pack(&c, buf);
    *out = buf;
    *len = n;
    return 0;
}

static struct common_buf buf_of(ProtobufCBinaryData d)
{
    struct common_buf b = {.base = d.data, .len = d.len};
    return b;
}

int kv_command_decode(const void *data, size_t len, struct kv_command *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    Raftkv__Command *c = raftkv__command__unpack(NULL, len, data);
    if (c == NULL) {
        return COMMON_ECORRUPT;
    }
    int op = op_from_proto(c->op);
    if (op == 0) {
        raftkv__command__free_unpacked(c, NULL);
        return COMMON_ECORRUPT;
    }
    cmd->client_id = c->client_id;
    cmd->seq = c->seq;
    cmd->op = (enum kv_op)op;
    cmd->key = buf_of(c->key);
    cmd->value = buf_of(c->value);
    cmd->expected = buf_of(c->expected);
    cmd->expected_absent = c->expected_absent;
    cmd->decoded = c;
    return 0;
}

void kv_command_free(struct kv_command *cmd)
{
    if (cmd->decoded != NULL) {
        raftkv__command__free_unpacked(cmd->decoded, NULL);
        cmd->decoded = NULL;
    }
}
