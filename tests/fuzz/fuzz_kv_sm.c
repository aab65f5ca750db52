/*
 * fuzz_kv_sm: the state machine of kv/ - its command decoder and apply,
 * and snapshot restore - on raw bytes, as a corrupt log entry or snapshot
 * would present them.
 *
 * Input: a mode byte; when its bit 0 is set, a u16 length and that many
 * bytes to restore as a snapshot; then log entries, each a u8 length and
 * that many bytes of command. Bit 1 of the mode sets a short session TTL,
 * the mode's top bits where the log indexes start (sessions are swept at
 * multiples of 1024). Properties:
 *   - a snapshot that does not restore is COMMON_ECORRUPT and leaves the
 *     content as it was; one that does re-encodes to the same content;
 *   - an entry that does not decode is COMMON_ECORRUPT; one that does
 *     re-encodes (kv_command_encode) to the same command, applies, and
 *     applying it again is answered as a duplicate without change;
 *   - at the end, the content survives a snapshot and restore.
 */
#include <string.h>

#include "fuzz.h"
#include "kv/kv.h"

static bool same_buf(struct common_buf a, struct common_buf b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/* The content of @sm survives snapshot and restore. */
static void check_snapshot(const struct kv_sm *sm)
{
    uint8_t *snap;
    size_t len;
    FUZZ_CHECK(kv_sm_snapshot(sm, &snap, &len) == 0);
    struct kv_sm *copy;
    FUZZ_CHECK(kv_sm_new(&copy) == 0);
    FUZZ_CHECK(kv_sm_restore(copy, snap, len) == 0);
    FUZZ_CHECK(kv_sm_digest(copy) == kv_sm_digest(sm));
    FUZZ_CHECK(kv_sm_keys(copy) == kv_sm_keys(sm));
    FUZZ_CHECK(kv_sm_sessions(copy) == kv_sm_sessions(sm));
    kv_sm_free(copy);
    free(snap);
}

static void check_reencode(const struct kv_command *cmd)
{
    struct kv_request req = {
        .client_id = cmd->client_id,
        .seq = cmd->seq,
        .op = cmd->op,
        .key = cmd->key,
        .value = cmd->value,
        .expected = cmd->expected,
        .expected_absent = cmd->expected_absent,
    };
    uint8_t *buf;
    size_t len;
    FUZZ_CHECK(kv_command_encode(&req, &buf, &len) == 0);
    struct kv_command again;
    FUZZ_CHECK(kv_command_decode(buf, len, &again) == 0);
    FUZZ_CHECK(again.client_id == cmd->client_id && again.seq == cmd->seq &&
               again.op == cmd->op &&
               again.expected_absent == cmd->expected_absent);
    FUZZ_CHECK(same_buf(again.key, cmd->key));
    FUZZ_CHECK(same_buf(again.value, cmd->value));
    FUZZ_CHECK(same_buf(again.expected, cmd->expected));
    kv_command_free(&again);
    free(buf);
}

static void apply(struct kv_sm *sm,
                  const struct kv_command *cmd,
                  uint64_t *index,
                  bool short_ttl)
{
    struct kv_result res;
    FUZZ_CHECK(kv_sm_apply(sm, cmd, (*index)++, &res) == 0);
    FUZZ_CHECK(res.status == KV_OK || res.status == KV_NOT_FOUND ||
               res.status == KV_MISMATCH || res.status == KV_RETRY ||
               res.status == KV_EXPIRED ||
               (res.status == KV_INVALID && cmd->op == KV_OP_REGISTER));
    FUZZ_CHECK(!res.found || res.status == KV_OK);
    bool tracked = cmd->client_id != 0 && cmd->op != KV_OP_GET &&
                   cmd->op != KV_OP_REGISTER;
    if (!tracked || short_ttl || res.status == KV_EXPIRED ||
        res.status == KV_RETRY || res.status == KV_INVALID) {
        return;
    }
    /* The same request again (a client's retry): remembered. */
    enum kv_status status = res.status;
    bool found = res.found;
    uint64_t digest = kv_sm_digest(sm);
    FUZZ_CHECK(kv_sm_apply(sm, cmd, (*index)++, &res) == 0);
    FUZZ_CHECK(res.duplicate);
    FUZZ_CHECK(res.status == status && res.found == found);
    FUZZ_CHECK(kv_sm_digest(sm) == digest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in);
    bool short_ttl = (mode & 2) != 0;
    uint64_t index = 1 + (uint64_t)(mode >> 2) * 64;
    struct kv_sm *sm;
    FUZZ_CHECK(kv_sm_new(&sm) == 0);
    if (short_ttl) {
        kv_sm_set_session_ttl(sm, 3);
    }

    /* Some content first, so that a refused restore has something to
     * keep. */
    static const char k[] = "k";
    static const char v[] = "v";
    struct kv_command open = {.op = KV_OP_REGISTER};
    struct kv_command seed = {
        .client_id = index, /* the session the registration opens */
        .seq = 1,
        .op = KV_OP_PUT,
        .key = {(void *)k, 1},
        .value = {(void *)v, 1},
    };
    struct kv_result res;
    FUZZ_CHECK(kv_sm_apply(sm, &open, index++, &res) == 0);
    FUZZ_CHECK(kv_sm_apply(sm, &seed, index++, &res) == 0);
    FUZZ_CHECK(res.status == KV_OK);

    if (mode & 1) {
        size_t len;
        const uint8_t *snap = fuzz_bytes(&in, fuzz_u16(&in), &len);
        uint64_t digest = kv_sm_digest(sm);
        size_t keys = kv_sm_keys(sm);
        size_t sessions = kv_sm_sessions(sm);
        int rv = kv_sm_restore(sm, len > 0 ? snap : NULL, len);
        if (rv != 0) {
            FUZZ_CHECK(rv == COMMON_ECORRUPT);
            FUZZ_CHECK(kv_sm_digest(sm) == digest);
            FUZZ_CHECK(kv_sm_keys(sm) == keys);
            FUZZ_CHECK(kv_sm_sessions(sm) == sessions);
        } else {
            check_snapshot(sm);
        }
    }

    while (fuzz_more(&in)) {
        size_t len;
        const uint8_t *bytes = fuzz_bytes(&in, fuzz_u8(&in), &len);
        struct kv_command cmd;
        int rv = kv_command_decode(len > 0 ? bytes : NULL, len, &cmd);
        if (rv != 0) {
            FUZZ_CHECK(rv == COMMON_ECORRUPT);
            continue;
        }
        FUZZ_CHECK((cmd.op >= KV_OP_GET && cmd.op <= KV_OP_MAX) ||
                   cmd.op == KV_OP_REGISTER);
        check_reencode(&cmd);
        apply(sm, &cmd, &index, short_ttl);
        kv_command_free(&cmd);
    }
    check_snapshot(sm);
    kv_sm_free(sm);
    return 0;
}
