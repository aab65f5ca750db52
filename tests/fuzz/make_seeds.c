/*
 * fuzz-seeds: writes the seed corpora that the project's own encoders
 * make, one file per seed, into OUT/<target>/ (the folders must exist):
 *
 *   history     JSON Lines histories from checker_generate
 *   wal         WAL directories written by storage_wal over fs_mem (one
 *               segment, several sealed segments, a snapshot, a torn
 *               tail, a leftover snapshot-*.snap.tmp), in wal_input.h's form
 *   grpc_codec  batches packed by transport_grpc_batch_new, one of every
 *               message type and one of them all
 *   raft_step   op sequences in raft_input.h's language: an election won,
 *               a follower's AppendEntries, a snapshot install, a vote
 *   kv_sm       commands by kv_command_encode, a snapshot by kv_sm_snapshot
 *
 * Usage: fuzz-seeds OUT. The seeds are deterministic; tests/fuzz/corpus
 * holds their output, with hand-written histories and scenario files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker/checker.h"
#include "fuzz.h"
#include "grpc_codec.h"
#include "kv/kv.h"
#include "storage/storage.h"
#include "wal_input.h"

static const char *out_dir;

static void save(const char *target,
                 const char *name,
                 const void *data,
                 size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/seed-%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz-seeds: cannot write %s\n", path);
        exit(1);
    }
}

/* ------------------------------------------------------------------------ */
/* History                                                                   */
/* ------------------------------------------------------------------------ */

static void history_seed(const char *name, struct checker_gen_options *o)
{
    struct checker_gen *g;
    FUZZ_CHECK(checker_generate(o, &g) == 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    FUZZ_NONNULL(f);
    for (size_t k = 0; k < g->events_len; k++) {
        checker_event_write_jsonl(f, &g->events[k]);
    }
    fclose(f);
    save("history", name, text, len);
    free(text);
    checker_gen_free(g);
}

static void history_seeds(void)
{
    struct checker_gen_options o;
    checker_gen_options_init(&o);
    o.ops = 12;
    o.keys = 2;
    o.processes = 3;
    o.info_rate = 0.2;
    o.fail_rate = 0.2;
    history_seed("kv.jsonl", &o);
    o.keys = 0;
    o.kv_ops = false;
    o.with_time = false;
    o.seed = 2;
    history_seed("register.jsonl", &o);
    checker_gen_options_init(&o);
    o.ops = 60;
    o.seed = 3;
    history_seed("kv-60.jsonl", &o);
}

/* ------------------------------------------------------------------------ */
/* WAL                                                                       */
/* ------------------------------------------------------------------------ */

struct dump
{
    struct storage_fs *fs;
    FILE *out;
    size_t cut; /* bytes to leave off the last segment (a torn write) */
    char last_segment[WAL_INPUT_NAME_MAX];
};

static int dump_file(void *data, const char *name)
{
    struct dump *d = data;
    uint8_t kind;
    uint8_t a;
    FUZZ_CHECK(wal_input_kind(name, &kind, &a));
    struct storage_file *f;
    FUZZ_CHECK(d->fs->vt->open(d->fs, name, false, &f) == 0);
    uint64_t size;
    FUZZ_CHECK(d->fs->vt->size(d->fs, f, &size) == 0);
    FUZZ_CHECK(size <= 0xffff);
    uint8_t buf[0x10000];
    size_t got;
    FUZZ_CHECK(d->fs->vt->read(d->fs, f, 0, buf, (size_t)size, &got) == 0);
    d->fs->vt->close(d->fs, f);
    if (strcmp(name, d->last_segment) == 0 && d->cut < got) {
        got -= d->cut;
    }
    uint8_t head[4] = {kind, a, (uint8_t)(got & 0xff), (uint8_t)(got >> 8)};
    fwrite(head, 1, sizeof head, d->out);
    fwrite(buf, 1, got, d->out);
    return 0;
}

static int find_last_segment(void *data, const char *name)
{
    struct dump *d = data;
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, ".log") == 0 &&
        strcmp(name, d->last_segment) > 0) {
        snprintf(d->last_segment, sizeof d->last_segment, "%s", name);
    }
    return 0;
}

static void wal_save(const char *name, struct storage_fs *fs, size_t cut)
{
    struct dump d = {.fs = fs, .cut = cut};
    char *text = NULL;
    size_t len = 0;
    d.out = open_memstream(&text, &len);
    FUZZ_NONNULL(d.out);
    fputc(1, d.out); /* checksums recomputed: they are right already */
    FUZZ_CHECK(fs->vt->list(fs, find_last_segment, &d) == 0);
    FUZZ_CHECK(fs->vt->list(fs, dump_file, &d) == 0);
    fclose(d.out);
    save("wal", name, text, len);
    free(text);
}

/* Writes @n entries of term @term after @last, one batch each. */
static raft_index wal_write(struct storage *s,
                            raft_index last,
                            raft_term term,
                            size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char data[32];
        int len = snprintf(data, sizeof data, "entry %llu",
                           (unsigned long long)(last + 1));
        struct raft_hard_state hs = {.term = term, .vote = 1, .commit = last};
        struct raft_entry e = {
            .term = term,
            .index = last + 1,
            .type = k % 5 == 4 ? RAFT_ENTRY_NOOP : RAFT_ENTRY_COMMAND,
            .data = {data, (size_t)len},
        };
        struct storage_batch b = {
            .hard_state = &hs, .entries = &e, .n_entries = 1};
        FUZZ_CHECK(storage_write(s, &b) == 0);
        last++;
    }
    return last;
}

static struct storage *wal_open(struct storage_fs *fs, uint64_t segment_bytes)
{
    struct storage_wal_options o;
    storage_wal_options_default(&o);
    if (segment_bytes > 0) {
        o.segment_bytes = segment_bytes;
    }
    struct storage *s;
    FUZZ_CHECK(storage_wal_new(fs, &o, &s) == 0);
    struct storage_state st;
    FUZZ_CHECK(storage_load(s, &st) == 0);
    return s;
}

static void wal_seeds(void)
{
    struct storage_fs *fs;
    FUZZ_CHECK(storage_fs_mem_new(1, &fs) == 0);
    struct storage *s = wal_open(fs, 0);
    raft_index last = wal_write(s, 0, 1, 4);
    last = wal_write(s, last, 2, 2);
    wal_save("one-segment", fs, 0);
    wal_save("torn-tail", fs, 7);
    storage_free(s);
    storage_fs_free(fs);

    FUZZ_CHECK(storage_fs_mem_new(2, &fs) == 0);
    s = wal_open(fs, 160);
    last = wal_write(s, 0, 1, 6);
    last = wal_write(s, last, 3, 3);
    wal_save("sealed-segments", fs, 0);

    struct storage_snapshot_meta meta = {.index = 5, .term = 1};
    const raft_id ids[] = {1, 2, 3};
    FUZZ_CHECK(raft_configuration_voters(&meta.conf, ids, 3) == 0);
    static const char snap[] = "a snapshot of the state machine";
    FUZZ_CHECK(storage_save_snapshot(s, &meta, snap, sizeof snap - 1) == 0);
    last = wal_write(s, last, 3, 2);
    wal_save("snapshot", fs, 0);

    /* A snapshot file left unfinished by a crash. */
    struct storage_file *f;
    FUZZ_CHECK(
        fs->vt->open(fs, "snapshot-0000000000000009.snap.tmp", true, &f) == 0);
    FUZZ_CHECK(fs->vt->append(fs, f, snap, 10) == 0);
    fs->vt->close(fs, f);
    wal_save("snapshot-tmp", fs, 0);
    storage_free(s);
    storage_fs_free(fs);
}

/* ------------------------------------------------------------------------ */
/* gRPC codec                                                                */
/* ------------------------------------------------------------------------ */

static void grpc_save(const char *name,
                      const struct raft_message *const *msgs,
                      size_t n)
{
    struct transport_grpc_batch *b;
    FUZZ_CHECK(transport_grpc_batch_new(msgs, n, &b) == 0);
    size_t len = transport_grpc_batch_size(b);
    uint8_t *buf = malloc(len + 1);
    FUZZ_NONNULL(buf);
    buf[0] = 1; /* received by node 2 */
    transport_grpc_batch_pack(b, buf + 1);
    save("grpc_codec", name, buf, len + 1);
    free(buf);
    transport_grpc_batch_free(b);
}

static void grpc_seeds(void)
{
    static const char cmd[] = "put x 1";
    struct raft_entry entries[3] = {
        {.term = 2, .index = 5, .type = RAFT_ENTRY_NOOP},
        {.term = 2,
         .index = 6,
         .type = RAFT_ENTRY_COMMAND,
         .data = {(void *)cmd, sizeof cmd - 1}},
        {.term = 2, .index = 7, .type = RAFT_ENTRY_CONFIG},
    };
    struct raft_configuration conf;
    const raft_id ids[] = {1, 2, 3};
    FUZZ_CHECK(raft_configuration_voters(&conf, ids, 3) == 0);
    uint8_t conf_buf[512];
    size_t conf_len =
        raft_configuration_encode(&conf, conf_buf, sizeof conf_buf);
    entries[2].data.base = conf_buf;
    entries[2].data.len = conf_len;
    static const char snap[] = "snapshot bytes";

    struct raft_message m[9];
    memset(m, 0, sizeof m);
    for (int k = 0; k < 9; k++) {
        m[k].type = (enum raft_msg_type)(k + 1);
        m[k].from = 1;
        m[k].to = 2;
        m[k].term = 2;
    }
    m[0].vote =
        (struct raft_vote){.last_index = 4, .last_term = 1, .pre_vote = true};
    m[1].vote_resp = (struct raft_vote_resp){.granted = true};
    m[2].append = (struct raft_append){.prev_index = 4,
                                       .prev_term = 1,
                                       .commit = 4,
                                       .entries = entries,
                                       .n_entries = 3};
    m[3].append_resp = (struct raft_append_resp){
        .success = false, .index = 9, .hint_index = 3, .hint_term = 1};
    m[4].heartbeat = (struct raft_heartbeat){.commit = 7, .context = 42};
    m[5].heartbeat_resp = (struct raft_heartbeat_resp){.context = 42};
    m[6].snapshot = (struct raft_snapshot_chunk){.index = 7,
                                                 .term = 2,
                                                 .conf = conf_buf,
                                                 .conf_len = conf_len,
                                                 .offset = 0,
                                                 .total = sizeof snap - 1,
                                                 .data = snap,
                                                 .len = sizeof snap - 1,
                                                 .done = true};
    m[7].snapshot_resp =
        (struct raft_snapshot_resp){.index = 7, .term = 2, .next_offset = 8};
    const struct raft_message *all[9];
    for (int k = 0; k < 9; k++) {
        all[k] = &m[k];
        char name[32];
        snprintf(name, sizeof name, "%s", raft_msg_type_name(k + 1));
        grpc_save(name, &all[k], 1);
    }
    grpc_save("all", all, 9);
    grpc_save("empty", all, 0);
}

/* ------------------------------------------------------------------------ */
/* Raft core                                                                 */
/* ------------------------------------------------------------------------ */

static void raft_seeds(void)
{
    /* campaign; pre-vote and vote granted by node 2; propose "abc"; node 2
     * acknowledges; ticks; a read; node 3 acknowledges; compact. */
    static const uint8_t leader[] = {0x0c, 0x0e, 0x0e, 0x3a, 'a',  'b', 'c',
                                     0x0f, 0x21, 0x0b, 0x31, 0x1f, 0x0d};
    save("raft_step", "leader", leader, sizeof leader);
    /* AppendEntries from node 2 in term 2: a command and a no-op after
     * index 0, commit 1; then a heartbeat with commit 2. */
    static const uint8_t follower[] = {0x04, 3,  2,   0,   194, 2,   192, 192,
                                       193,  13, 194, 'x', '=', '1', 2,   194,
                                       0x05, 5,  2,   0,   194, 0,   194, 7};
    save("raft_step", "follower", follower, sizeof follower);
    /* A one-chunk snapshot at index 5, term 2, from leader 2. */
    static const uint8_t snapshot[] = {0x06, 7, 2, 0, 194, 1,   197, 194, 0,
                                       0,    4, 0, 4, 'd', 'a', 't', 'a'};
    save("raft_step", "snapshot", snapshot, sizeof snapshot);
    /* Node 3 asks for a vote in term 3; the election timeout passes. */
    static const uint8_t vote[] = {0x07, 1, 3, 0, 195, 0, 195, 194, 0xf0, 0xf0};
    save("raft_step", "vote", vote, sizeof vote);
}

/* ------------------------------------------------------------------------ */
/* State machine                                                             */
/* ------------------------------------------------------------------------ */

static void kv_append_command(FILE *f, const struct kv_request *req)
{
    uint8_t *buf;
    size_t len;
    FUZZ_CHECK(kv_command_encode(req, &buf, &len) == 0);
    FUZZ_CHECK(len <= 255);
    uint8_t n = (uint8_t)len;
    fwrite(&n, 1, 1, f);
    fwrite(buf, 1, len, f);
    free(buf);
}

static struct common_buf cbuf(const char *s)
{
    return (struct common_buf){(void *)s, strlen(s)};
}

static void kv_commands(FILE *f)
{
    /* fuzz_kv_sm applies a registration and a put at log indexes 1 and 2
     * first (mode byte 0), so the three registrations here land at 3, 4
     * and 5 and open the sessions of those ids. */
    struct kv_request reqs[] = {
        {.op = KV_OP_REGISTER},
        {.op = KV_OP_REGISTER},
        {.op = KV_OP_REGISTER},
        {.client_id = 3,
         .seq = 1,
         .op = KV_OP_PUT,
         .key = cbuf("x"),
         .value = cbuf("1")},
        {.client_id = 3,
         .seq = 2,
         .op = KV_OP_APPEND,
         .key = cbuf("x"),
         .value = cbuf("2")},
        {.client_id = 4,
         .seq = 1,
         .op = KV_OP_CAS,
         .key = cbuf("x"),
         .value = cbuf("3"),
         .expected = cbuf("12")},
        {.client_id = 4,
         .seq = 2,
         .op = KV_OP_CAS,
         .key = cbuf("y"),
         .value = cbuf("4"),
         .expected_absent = true},
        {.op = KV_OP_GET, .key = cbuf("x")},
        {.client_id = 5, .seq = 1, .op = KV_OP_DELETE, .key = cbuf("y")},
    };
    for (size_t k = 0; k < sizeof reqs / sizeof reqs[0]; k++) {
        kv_append_command(f, &reqs[k]);
    }
}

static void kv_seeds(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    FUZZ_NONNULL(f);
    uint8_t mode = 0;
    fwrite(&mode, 1, 1, f);
    kv_commands(f);
    fclose(f);
    save("kv_sm", "commands", text, len);
    free(text);

    /* A snapshot of a few keys and sessions, then the commands again. */
    struct kv_sm *sm;
    FUZZ_CHECK(kv_sm_new(&sm) == 0);
    for (uint64_t k = 1; k <= 4; k++) {
        char key[8];
        snprintf(key, sizeof key, "k%llu", (unsigned long long)k);
        struct kv_command open = {.op = KV_OP_REGISTER}; /* session 2k-1 */
        struct kv_command cmd = {.client_id = 2 * k - 1,
                                 .seq = 1,
                                 .op = KV_OP_PUT,
                                 .key = cbuf(key),
                                 .value = cbuf("v")};
        struct kv_result res;
        FUZZ_CHECK(kv_sm_apply(sm, &open, 2 * k - 1, &res) == 0);
        FUZZ_CHECK(kv_sm_apply(sm, &cmd, 2 * k, &res) == 0);
    }
    uint8_t *snap;
    size_t snap_len;
    FUZZ_CHECK(kv_sm_snapshot(sm, &snap, &snap_len) == 0);
    FUZZ_CHECK(snap_len <= 0xffff);
    text = NULL;
    f = open_memstream(&text, &len);
    FUZZ_NONNULL(f);
    uint8_t head[3] = {1 | 2 | 64, (uint8_t)(snap_len & 0xff),
                       (uint8_t)(snap_len >> 8)};
    fwrite(head, 1, sizeof head, f);
    fwrite(snap, 1, snap_len, f);
    kv_commands(f);
    fclose(f);
    save("kv_sm", "snapshot", text, len);
    free(text);
    free(snap);
    kv_sm_free(sm);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-seeds OUT\n");
        return 2;
    }
    out_dir = argv[1];
    history_seeds();
    wal_seeds();
    grpc_seeds();
    raft_seeds();
    kv_seeds();
    return 0;
}
