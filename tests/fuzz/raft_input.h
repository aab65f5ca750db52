/*
 * The input language of fuzz_raft_step: each op is one byte, low nibble
 * the kind and high nibble a parameter, then the bytes its kind reads.
 *
 *   0-3   tick 1 + param times
 *   4-9   step a message spelled by the next bytes (below)
 *   10    propose param bytes of data (from the input)
 *   11    start a read (ReadIndex)
 *   12    campaign
 *   13    take a snapshot at the applied index and compact the log
 *   14    step a granting vote response (pre-vote or not, whichever the
 *         node waits for) from node 2 + param % 2
 *   15    step a successful AppendEntries response for the node's last
 *         index from node 2 + param % 2
 *
 * A message: type (u8 % 10: 0 and 9 are unknown types), from (u8 % 5:
 * 0 none, 1 the node itself, 4 outside the configuration), to (u8: below
 * 192 the node, else u8 % 5), term, then the body of its type. Terms and
 * indexes take one byte each: below 192 they are near the node's own
 * (current term - 1 .. + 2, last index - 4 .. + 3), 255 is UINT64_MAX,
 * else an absolute value 0..62. Configurations (configuration entries and
 * snapshot chunks) are a valid encoding of one of five configurations,
 * the same with client addresses made of input bytes (as encoded, or with
 * one byte overwritten), or raw bytes from the input.
 */
#ifndef RAFTKV_FUZZ_RAFT_INPUT_H
#define RAFTKV_FUZZ_RAFT_INPUT_H

#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "raft/raft.h"

enum raft_input_kind {
    RAFT_INPUT_TICK,
    RAFT_INPUT_STEP,
    RAFT_INPUT_PROPOSE,
    RAFT_INPUT_READ,
    RAFT_INPUT_CAMPAIGN,
    RAFT_INPUT_COMPACT,
};

/* Most entries in one AppendEntries, and configurations one message
 * carries (its entries and a snapshot chunk's). */
enum {
    RAFT_INPUT_ENTRIES_MAX = 4,
    RAFT_INPUT_CONF_BYTES = 512
};

struct raft_input_op
{
    enum raft_input_kind kind;
    unsigned count;      /* TICK */
    const uint8_t *data; /* PROPOSE: borrowed from the input */
    size_t len;
};

/* A message and what it points to (entries, encoded configurations). */
struct raft_input_msg
{
    struct raft_message m;
    struct raft_entry entries[RAFT_INPUT_ENTRIES_MAX];
    uint8_t conf[RAFT_INPUT_ENTRIES_MAX + 1][RAFT_INPUT_CONF_BYTES];
};

/* One byte: 255 is UINT64_MAX, 192..254 the absolute values 0..62, and
 * below 192 a value near @base, from @base - @below to @base - @below +
 * @span - 1 (not below 0). */
static inline uint64_t raft_input_near(struct fuzz_in *in,
                                       uint64_t base,
                                       unsigned below,
                                       unsigned span)
{
    uint8_t b = fuzz_u8(in);
    if (b == 255) {
        return UINT64_MAX;
    }
    if (b >= 192) {
        return (uint64_t)(b - 192);
    }
    uint64_t v = base + (b % span);
    return v >= below ? v - below : 0;
}

static inline raft_term raft_input_term(struct fuzz_in *in, struct raft *r)
{
    return raft_input_near(in, raft_current_term(r), 1, 4);
}

static inline raft_index raft_input_index(struct fuzz_in *in, struct raft *r)
{
    return raft_input_near(in, raft_last_index(r), 4, 8);
}

/* A configuration: encoded into @buf, or raw input bytes. */
static inline void raft_input_conf(struct fuzz_in *in,
                                   uint8_t *buf,
                                   const uint8_t **out,
                                   size_t *len)
{
    static const raft_id sets[5][4] = {
        {1, 2, 3}, {1, 2}, {1, 2, 3, 4}, {2, 3}, {1},
    };
    static const size_t sizes[5] = {3, 2, 4, 2, 1};
    uint8_t b = fuzz_u8(in);
    if (b < 5 * 40) {
        unsigned k = b % 5;
        struct raft_configuration conf;
        FUZZ_CHECK(raft_configuration_voters(&conf, sets[k], sizes[k]) == 0);
        if (b >= 5 * 20 && conf.count > 1) {
            conf.servers[conf.count - 1].role = RAFT_LEARNER;
        }
        *len = raft_configuration_encode(&conf, buf, RAFT_INPUT_CONF_BYTES);
        FUZZ_CHECK(*len <= RAFT_INPUT_CONF_BYTES);
        *out = buf;
    } else if (b < 230) {
        /* With client addresses made of input bytes ("RCF2"); below 210
         * as encoded, else with one byte of the whole then overwritten. */
        struct raft_configuration conf;
        FUZZ_CHECK(
            raft_configuration_voters(&conf, sets[b % 5], sizes[b % 5]) == 0);
        char addrs[4][16];
        const char *list[4];
        for (uint32_t k = 0; k < conf.count; k++) {
            size_t n = fuzz_u8(in) % sizeof addrs[k];
            for (size_t i = 0; i < n; i++) {
                addrs[k][i] = (char)(0x21 + fuzz_u8(in) % 94);
            }
            addrs[k][n] = '\0';
            list[k] = addrs[k];
        }
        uint8_t table[4 * 16];
        FUZZ_CHECK(raft_configuration_set_addresses(&conf, list, table,
                                                    sizeof table) == 0);
        *len = raft_configuration_encode(&conf, buf, RAFT_INPUT_CONF_BYTES);
        FUZZ_CHECK(*len <= RAFT_INPUT_CONF_BYTES);
        if (b >= 210) {
            uint8_t at = fuzz_u8(in);
            buf[at % *len] = fuzz_u8(in);
        }
        *out = buf;
    } else {
        *out = fuzz_bytes(in, fuzz_u8(in) % 64, len);
    }
}

static inline void raft_input_message(struct fuzz_in *in,
                                      struct raft *r,
                                      struct raft_input_msg *msg)
{
    struct raft_message *m = &msg->m;
    memset(m, 0, sizeof *m);
    m->type = (enum raft_msg_type)(fuzz_u8(in) % 10);
    m->from = fuzz_u8(in) % 5;
    uint8_t to = fuzz_u8(in);
    m->to = to < 192 ? raft_self(r) : to % 5;
    m->term = raft_input_term(in, r);
    uint8_t flags = fuzz_u8(in);
    switch (m->type) {
        case RAFT_MSG_VOTE:
            m->vote.last_index = raft_input_index(in, r);
            m->vote.last_term = raft_input_term(in, r);
            m->vote.pre_vote = flags & 1;
            break;
        case RAFT_MSG_VOTE_RESP:
            m->vote_resp.granted = flags & 1;
            m->vote_resp.pre_vote = (flags >> 1) & 1;
            break;
        case RAFT_MSG_APPEND: {
            struct raft_append *a = &m->append;
            a->prev_index = raft_input_index(in, r);
            a->prev_term = raft_input_term(in, r);
            a->commit = raft_input_index(in, r);
            a->n_entries = flags % (RAFT_INPUT_ENTRIES_MAX + 1);
            a->entries = msg->entries;
            for (size_t k = 0; k < a->n_entries; k++) {
                struct raft_entry *e = &msg->entries[k];
                uint8_t eb = fuzz_u8(in);
                e->index = a->prev_index + 1 + k + (eb >> 7);
                e->term = raft_input_term(in, r);
                e->type = (enum raft_entry_type)(eb % 4);
                const uint8_t *data;
                size_t len;
                if (e->type == RAFT_ENTRY_CONFIG) {
                    raft_input_conf(in, msg->conf[k], &data, &len);
                } else {
                    data = fuzz_bytes(in, (eb >> 2) % 8, &len);
                }
                e->data.base = (void *)(uintptr_t)data;
                e->data.len = len;
            }
            break;
        }
        case RAFT_MSG_APPEND_RESP:
            m->append_resp.success = flags & 1;
            m->append_resp.index = raft_input_index(in, r);
            m->append_resp.hint_index = raft_input_index(in, r);
            m->append_resp.hint_term = raft_input_term(in, r);
            break;
        case RAFT_MSG_HEARTBEAT:
            m->heartbeat.commit = raft_input_index(in, r);
            m->heartbeat.context = fuzz_u8(in);
            m->heartbeat.match = raft_input_index(in, r);
            break;
        case RAFT_MSG_HEARTBEAT_RESP:
            m->heartbeat_resp.context = fuzz_u8(in);
            m->heartbeat_resp.log_end = raft_input_index(in, r);
            break;
        case RAFT_MSG_SNAPSHOT: {
            struct raft_snapshot_chunk *c = &m->snapshot;
            c->index = raft_input_index(in, r);
            c->term = raft_input_term(in, r);
            raft_input_conf(in, msg->conf[RAFT_INPUT_ENTRIES_MAX], &c->conf,
                            &c->conf_len);
            c->offset = (uint64_t)fuzz_u8(in) * 4;
            c->total = fuzz_u16(in);
            c->data = fuzz_bytes(in, fuzz_u8(in) % 32, &c->len);
            c->done = flags & 1;
            break;
        }
        case RAFT_MSG_SNAPSHOT_RESP:
            m->snapshot_resp.index = raft_input_index(in, r);
            m->snapshot_resp.term = raft_input_term(in, r);
            m->snapshot_resp.next_offset = (uint64_t)fuzz_u8(in) * 4;
            break;
        default: /* an unknown type: the header only */
            break;
    }
}

/* Reads the next op; a STEP's message goes to @msg. */
static inline void raft_input_read(struct fuzz_in *in,
                                   struct raft *r,
                                   struct raft_input_op *op,
                                   struct raft_input_msg *msg)
{
    uint8_t b = fuzz_u8(in);
    unsigned param = b >> 4;
    memset(op, 0, sizeof *op);
    switch (b % 16) {
        case 0:
        case 1:
        case 2:
        case 3:
            op->kind = RAFT_INPUT_TICK;
            op->count = 1 + param;
            break;
        case 10:
            op->kind = RAFT_INPUT_PROPOSE;
            op->data = fuzz_bytes(in, param, &op->len);
            break;
        case 11:
            op->kind = RAFT_INPUT_READ;
            break;
        case 12:
            op->kind = RAFT_INPUT_CAMPAIGN;
            break;
        case 13:
            op->kind = RAFT_INPUT_COMPACT;
            break;
        case 14: {
            bool pre = raft_role(r) == RAFT_PRE_CANDIDATE;
            op->kind = RAFT_INPUT_STEP;
            memset(&msg->m, 0, sizeof msg->m);
            msg->m.type = RAFT_MSG_VOTE_RESP;
            msg->m.from = 2 + param % 2;
            msg->m.to = raft_self(r);
            msg->m.term = raft_current_term(r) + (pre ? 1 : 0);
            msg->m.vote_resp.granted = true;
            msg->m.vote_resp.pre_vote = pre;
            break;
        }
        case 15:
            op->kind = RAFT_INPUT_STEP;
            memset(&msg->m, 0, sizeof msg->m);
            msg->m.type = RAFT_MSG_APPEND_RESP;
            msg->m.from = 2 + param % 2;
            msg->m.to = raft_self(r);
            msg->m.term = raft_current_term(r);
            msg->m.append_resp.success = true;
            msg->m.append_resp.index = raft_last_index(r);
            break;
        default:
            op->kind = RAFT_INPUT_STEP;
            raft_input_message(in, r, msg);
            break;
    }
}

#endif /* RAFTKV_FUZZ_RAFT_INPUT_H */
