/*
 * Commands as they travel through the Raft log: Raftkv__Command of
 * proto/kv.proto, packed with protobuf-c. Decoding validates everything a
 * replica relies on, so a corrupt entry is refused the same way on every
 * node.
 *
 * Every replica decodes every committed entry, so decoding is on the
 * hottest path of a simulated cluster (five nodes apply 100,000 entries
 * per simulated 20 s). It is done here by hand, on the protobuf wire
 * format (https://protobuf.dev/programming-guides/encoding/), without
 * allocating: the key and values point into the entry's bytes. It takes
 * what protobuf-c's unpack takes and refuses what it refuses - fields in
 * any order, the last of a repeated field winning, unknown fields
 * skipped, a known field with the wrong wire type, a truncated varint or
 * a length past the end refused - which a test checks against protobuf-c
 * on valid and mangled commands alike.
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

/* The wire types of the protobuf encoding. */
enum {
    WIRE_VARINT = 0,
    WIRE_I64 = 1,
    WIRE_LEN = 2,
    WIRE_I32 = 5,
};

/* The varint at @p (at most @max bytes, and at most 10): its length in
 * bytes, 0 when it does not end in time. *@out gets its low 64 bits. */
static size_t get_varint(const uint8_t *p, size_t max, uint64_t *out)
{
    if (max > 10) {
        max = 10;
    }
    uint64_t v = 0;
    for (size_t k = 0; k < max; k++) {
        v |= (uint64_t)(p[k] & 0x7f) << (7 * k);
        if ((p[k] & 0x80) == 0) {
            *out = v;
            return k + 1;
        }
    }
    return 0;
}

/* A field's tag: at most 5 bytes, and never field number 0 in its first
 * byte (protobuf-c's rules). Its length, or 0 when malformed. */
static size_t get_tag(const uint8_t *p, size_t max, uint32_t *field, int *wire)
{
    if ((p[0] & 0xf8) == 0) {
        return 0;
    }
    uint64_t v;
    size_t n = get_varint(p, max < 5 ? max : 5, &v);
    if (n == 0) {
        return 0;
    }
    *wire = (int)(v & 7);
    *field = (uint32_t)(v >> 3);
    return n;
}

/* Reads the fields of @len bytes at @p into @cmd and *@op_number: 0, or
 * COMMON_ECORRUPT with @cmd partly filled. */
static int decode_fields(const uint8_t *p,
                         size_t len,
                         struct kv_command *cmd,
                         int32_t *op_number)
{
    size_t at = 0;
    while (at < len) {
        uint32_t field;
        int wire;
        size_t n = get_tag(p + at, len - at, &field, &wire);
        if (n == 0) {
            return COMMON_ECORRUPT;
        }
        at += n;
        uint64_t v = 0;
        const uint8_t *bytes = NULL;
        size_t bytes_len = 0;
        switch (wire) {
            case WIRE_VARINT:
                n = get_varint(p + at, len - at, &v);
                break;
            case WIRE_I64:
                n = len - at >= 8 ? 8 : 0;
                break;
            case WIRE_I32:
                n = len - at >= 4 ? 4 : 0;
                break;
            case WIRE_LEN: {
                /* A length of at most 5 bytes that fits in an int. */
                uint64_t l;
                size_t h = get_varint(p + at, len - at < 5 ? len - at : 5, &l);
                if (h == 0 || l > INT32_MAX || l > len - at - h) {
                    return COMMON_ECORRUPT;
                }
                bytes = p + at + h;
                bytes_len = (size_t)l;
                n = h + bytes_len;
                break;
            }
            default:
                return COMMON_ECORRUPT; /* groups and unknown types */
        }
        if (n == 0) {
            return COMMON_ECORRUPT;
        }
        /* protobuf-c reads a bool from a field of any wire type: true when
         * any byte after the tag has a bit set in its low seven. */
        bool any_bit = false;
        for (size_t k = 0; k < n && field == 7; k++) {
            any_bit |= (p[at + k] & 0x7f) != 0;
        }
        at += n;
        bool want_varint = field >= 1 && field <= 3;
        bool want_len = field >= 4 && field <= 6;
        if ((want_varint && wire != WIRE_VARINT) ||
            (want_len && wire != WIRE_LEN)) {
            return COMMON_ECORRUPT;
        }
        struct common_buf *texts[] = {&cmd->key, &cmd->value, &cmd->expected};
        if (field == 1) {
            cmd->client_id = v;
        } else if (field == 2) {
            cmd->seq = v;
        } else if (field == 3) {
            *op_number = (int32_t)(uint32_t)v; /* an enum is an int32 */
        } else if (want_len) {
            /* Read-only in fact: the command's users never write to it. */
            texts[field - 4]->base =
                bytes_len > 0 ? (void *)(uintptr_t)bytes : NULL;
            texts[field - 4]->len = bytes_len;
        } else if (field == 7) {
            cmd->expected_absent = any_bit;
        } /* other fields are unknown: skipped */
    }
    return 0;
}

int kv_command_decode(const void *data, size_t len, struct kv_command *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    int32_t op_number = 0;
    int op = 0;
    if (decode_fields(data, len, cmd, &op_number) == 0) {
        op = op_from_proto((Raftkv__Op)op_number);
    }
    if (op == 0) {
        memset(cmd, 0, sizeof *cmd);
        return COMMON_ECORRUPT;
    }
    cmd->op = (enum kv_op)op;
    return 0;
}

void kv_command_free(struct kv_command *cmd)
{
    (void)cmd; /* nothing is allocated */
}
