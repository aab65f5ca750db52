/*
 * kv_node: the node runtime, driven by hand in one thread - three nodes,
 * a queue standing in for the network, replies captured.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv/kv.h"
#include "storage/storage.h"
#include "transport/transport.h"

#define N    3 /* the cluster; node 4 (NMAX) joins in membership tests */
#define NMAX 4
#define QMAX 100000

struct net;

struct endpoint
{
    struct transport t;
    struct net *net;
};

struct reply
{
    struct kv_response r;
    char value[64];
};

/* What the nodes' disks are: a perfect in-memory disk, the write-ahead
 * log over the in-memory crash disk, or the write-ahead log over real
 * files in a temporary directory; and, as a control, the write-ahead log
 * over a crash disk whose sync lies (struct lying_fs). */
enum disk_kind {
    DISK_MEM,
    DISK_WAL_MEM,
    DISK_WAL_FILES,
    DISK_WAL_LYING,
};

static enum disk_kind disk_kind; /* for the next net_new() */

struct net
{
    struct kv_node *nodes[NMAX + 1];
    struct storage *disks[NMAX + 1];
    enum disk_kind kind;
    struct storage_fs *fs[NMAX + 1];    /* the WAL kinds' file systems */
    struct storage_fs *lying[NMAX + 1]; /* DISK_WAL_LYING: over fs[id] */
    char dirs[NMAX + 1][64];            /* DISK_WAL_FILES' directories */
    struct endpoint eps[NMAX + 1];
    struct transport_msg *q[QMAX];
    size_t q_len;
    bool cut[NMAX + 1][NMAX + 1];
    struct reply replies[256];
    uint64_t sessions[16]; /* by the tests' client number: the session id */
    size_t n_replies;
    char failed_why[320];
};

static int q_send(struct transport *t, const struct raft_message *m)
{
    struct endpoint *ep = t->impl;
    struct net *net = ep->net;
    if (net->cut[m->from][m->to] || net->q_len == QMAX) {
        return 0;
    }
    net->q[net->q_len++] = transport_msg_clone(m);
    return 0;
}

static const struct transport_vtable q_vtable = {.send = q_send};

static void on_reply(void *data, const struct kv_response *r)
{
    struct net *net = data;
    if (net->n_replies == 256) {
        return;
    }
    struct reply *rep = &net->replies[net->n_replies++];
    rep->r = *r;
    size_t len = r->value.len < 63 ? r->value.len : 63;
    if (len > 0) {
        memcpy(rep->value, r->value.base, len);
    }
    rep->value[len] = '\0';
    rep->r.value.base = rep->value;
}

static void on_failed(void *data, struct kv_node *node, const char *why)
{
    (void)node;
    struct net *net = data;
    snprintf(net->failed_why, sizeof net->failed_why, "%s", why);
}

static uint64_t snapshot_every; /* kv_node_config.snapshot_entries */
static uint64_t session_ttl;    /* kv_node_config.session_ttl */

/* env.sent for nodes booted while halt_on_vote is set: halts the node
 * right after an update that granted a vote. */
static bool halt_on_vote;

static bool on_sent(void *data,
                    struct kv_node *node,
                    const struct raft_update *u)
{
    (void)data;
    (void)node;
    for (size_t k = 0; k < u->n_messages; k++) {
        if (u->messages[k].type == RAFT_MSG_VOTE_RESP &&
            u->messages[k].vote_resp.granted) {
            return true;
        }
    }
    return false;
}

static void boot(struct net *net, raft_id id)
{
    struct kv_node_config c;
    memset(&c, 0, sizeof c);
    raft_options_default(&c.raft);
    c.raft.id = id;
    c.raft.seed = id * 17;
    raft_id ids[N] = {1, 2, 3};
    raft_configuration_voters(&c.conf, ids, N);
    c.snapshot_entries = snapshot_every;
    c.snapshot_trailing = 2;
    c.session_ttl = session_ttl;
    c.storage = net->disks[id];
    c.transport = &net->eps[id].t;
    c.env.data = net;
    c.env.reply = on_reply;
    c.env.failed = on_failed;
    c.env.sent = halt_on_vote ? on_sent : NULL;
    assert_int_equal(kv_node_new(&c, &net->nodes[id]), 0);
}

/* A crash disk that lies about syncing, like a write cache that
 * acknowledges fsync without flushing: every call goes to the crash disk
 * under it, but sync and sync_dir succeed and make nothing durable, so a
 * crash loses everything written to it. */
struct lying_fs
{
    struct storage_fs fs;
    struct storage_fs *under; /* borrowed */
};

static struct storage_fs *under(struct storage_fs *fs)
{
    return ((struct lying_fs *)fs->impl)->under;
}

/* @rv, with the crash disk's message when it failed. */
static int lie_rv(struct storage_fs *fs, int rv)
{
    if (rv != 0) {
        snprintf(fs->error, sizeof fs->error, "%s", under(fs)->error);
    }
    return rv;
}

static int lie_open(struct storage_fs *fs,
                    const char *path,
                    bool create,
                    struct storage_file **out)
{
    return lie_rv(fs, under(fs)->vt->open(under(fs), path, create, out));
}

static int lie_close(struct storage_fs *fs, struct storage_file *f)
{
    return lie_rv(fs, under(fs)->vt->close(under(fs), f));
}

static int lie_size(struct storage_fs *fs,
                    struct storage_file *f,
                    uint64_t *size)
{
    return lie_rv(fs, under(fs)->vt->size(under(fs), f, size));
}

static int lie_read(struct storage_fs *fs,
                    struct storage_file *f,
                    uint64_t offset,
                    void *buf,
                    size_t len,
                    size_t *got)
{
    return lie_rv(fs, under(fs)->vt->read(under(fs), f, offset, buf, len, got));
}

static int lie_append(struct storage_fs *fs,
                      struct storage_file *f,
                      const void *buf,
                      size_t len)
{
    return lie_rv(fs, under(fs)->vt->append(under(fs), f, buf, len));
}

static int lie_truncate(struct storage_fs *fs,
                        struct storage_file *f,
                        uint64_t size)
{
    return lie_rv(fs, under(fs)->vt->truncate(under(fs), f, size));
}

static int lie_sync(struct storage_fs *fs, struct storage_file *f)
{
    (void)fs;
    (void)f;
    return 0; /* the lie */
}

static int lie_rename(struct storage_fs *fs, const char *from, const char *to)
{
    return lie_rv(fs, under(fs)->vt->rename(under(fs), from, to));
}

static int lie_unlink(struct storage_fs *fs, const char *path)
{
    return lie_rv(fs, under(fs)->vt->unlink(under(fs), path));
}

static int lie_sync_dir(struct storage_fs *fs)
{
    (void)fs;
    return 0; /* the lie */
}

static int lie_list(struct storage_fs *fs,
                    int (*fn)(void *data, const char *name),
                    void *data)
{
    return lie_rv(fs, under(fs)->vt->list(under(fs), fn, data));
}

static void lie_destroy(struct storage_fs *fs)
{
    free(fs->impl);
}

static const struct storage_fs_vtable lying_vtable = {
    .open = lie_open,
    .close = lie_close,
    .size = lie_size,
    .read = lie_read,
    .append = lie_append,
    .truncate = lie_truncate,
    .sync = lie_sync,
    .rename = lie_rename,
    .unlink = lie_unlink,
    .sync_dir = lie_sync_dir,
    .list = lie_list,
    .destroy = lie_destroy,
};

static struct storage_fs *lying_fs_new(struct storage_fs *below)
{
    struct lying_fs *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->fs.vt = &lying_vtable;
    l->fs.impl = l;
    l->fs.root = below->root;
    l->under = below;
    return &l->fs;
}

/* Opens node @id's storage over what its disk holds. */
static void disk_open(struct net *net, raft_id id)
{
    if (net->kind == DISK_MEM) {
        assert_int_equal(storage_mem_new(&net->disks[id]), 0);
        return;
    }
    if (net->fs[id] == NULL &&
        (net->kind == DISK_WAL_MEM || net->kind == DISK_WAL_LYING)) {
        assert_int_equal(storage_fs_mem_new(id, &net->fs[id]), 0);
        if (net->kind == DISK_WAL_LYING) {
            net->lying[id] = lying_fs_new(net->fs[id]);
        }
    } else if (net->fs[id] == NULL) {
        snprintf(net->dirs[id], sizeof net->dirs[id], "/tmp/kv_node.XXXXXX");
        assert_non_null(mkdtemp(net->dirs[id]));
        assert_int_equal(storage_fs_posix_new(net->dirs[id], &net->fs[id]), 0);
    }
    struct storage_wal_options o;
    storage_wal_options_default(&o);
    struct storage_fs *fs =
        net->lying[id] != NULL ? net->lying[id] : net->fs[id];
    assert_int_equal(storage_wal_new(fs, &o, &net->disks[id]), 0);
}

/* Node @id stops and boots again from its disk. A clean stop when not
 * @power_cut: with the write-ahead log the storage is closed and opened
 * again, and the new one recovers from the files. With @power_cut, the
 * in-memory crash disk also loses everything not synced (real files keep
 * what the operating system has; the perfect disk keeps everything). */
static void reboot(struct net *net, raft_id id, bool power_cut)
{
    kv_node_free(net->nodes[id]);
    net->nodes[id] = NULL;
    if (net->kind != DISK_MEM) {
        storage_free(net->disks[id]);
        if (power_cut) {
            storage_fs_mem_crash(net->fs[id], false);
        }
        disk_open(net, id);
    }
    boot(net, id);
}

static void restart(struct net *net, raft_id id)
{
    reboot(net, id, false);
}

static struct net *net_new(void)
{
    struct net *net = calloc(1, sizeof *net);
    net->kind = disk_kind;
    for (raft_id id = 1; id <= NMAX; id++) {
        net->eps[id].t.vt = &q_vtable;
        net->eps[id].t.impl = &net->eps[id];
        net->eps[id].net = net;
    }
    for (raft_id id = 1; id <= N; id++) {
        disk_open(net, id);
        boot(net, id);
    }
    return net;
}

static int remove_one(const char *path,
                      const struct stat *sb,
                      int flag,
                      struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void net_free(struct net *net)
{
    for (raft_id id = 1; id <= NMAX; id++) {
        kv_node_free(net->nodes[id]);
        storage_free(net->disks[id]);
        if (net->lying[id] != NULL) {
            storage_fs_free(net->lying[id]);
        }
        if (net->fs[id] != NULL) {
            storage_fs_free(net->fs[id]);
        }
        if (net->dirs[id][0] != '\0') {
            assert_int_equal(
                nftw(net->dirs[id], remove_one, 8, FTW_DEPTH | FTW_PHYS), 0);
        }
    }
    for (size_t k = 0; k < net->q_len; k++) {
        free(net->q[k]);
    }
    free(net);
}

/* Delivers everything queued (and what that causes) in FIFO order. */
static void settle(struct net *net)
{
    for (int guard = 0; guard < 100000 && net->q_len > 0; guard++) {
        struct transport_msg *m = net->q[0];
        memmove(net->q, net->q + 1, (net->q_len - 1) * sizeof *net->q);
        net->q_len--;
        struct kv_node *dst = net->nodes[m->m.to];
        if (dst != NULL && !net->cut[m->m.from][m->m.to]) {
            kv_node_receive(dst, &m->m);
            kv_node_flush(dst);
        }
        free(m);
    }
}

static void tick_all(struct net *net, int rounds)
{
    for (int k = 0; k < rounds; k++) {
        for (raft_id id = 1; id <= NMAX; id++) {
            if (net->nodes[id] != NULL) {
                kv_node_tick(net->nodes[id]);
                kv_node_flush(net->nodes[id]);
            }
        }
        settle(net);
    }
}

static raft_id leader(struct net *net)
{
    for (raft_id id = 1; id <= NMAX; id++) {
        if (net->nodes[id] != NULL &&
            raft_role(kv_node_raft(net->nodes[id])) == RAFT_LEADER) {
            return id;
        }
    }
    return 0;
}

static raft_id elect(struct net *net)
{
    for (int k = 0; k < 100 && leader(net) == 0; k++) {
        tick_all(net, 1);
    }
    raft_id l = leader(net);
    assert_int_not_equal(l, 0);
    tick_all(net, 2); /* commit the no-op everywhere */
    return l;
}

static const struct reply *send_request(struct net *net,
                                        raft_id to,
                                        const struct kv_request *req)
{
    size_t before = net->n_replies;
    kv_node_request(net->nodes[to], req);
    kv_node_flush(net->nodes[to]);
    for (int k = 0; k < 20 && net->n_replies == before; k++) {
        settle(net);
        tick_all(net, 1);
    }
    assert_true(net->n_replies > before);
    return &net->replies[net->n_replies - 1];
}

/* Sends one request to node @to and runs the cluster until it answers.
 * @client numbers the tests' clients (0: none); as kv_client does, a
 * client's first write registers its session (KV_OP_REGISTER), whose id
 * the answer gives, and its writes carry that id. */
static const struct reply *request(struct net *net,
                                   raft_id to,
                                   uint64_t client,
                                   uint64_t seq,
                                   enum kv_op op,
                                   const char *key,
                                   const char *value,
                                   const char *expected)
{
    assert_true(client < 16);
    if (client != 0 && net->sessions[client] == 0 && op != KV_OP_GET) {
        struct kv_request reg = {.token = 1000, .op = KV_OP_REGISTER};
        const struct reply *r = send_request(net, to, &reg);
        if (r->r.status == KV_NOT_LEADER) {
            return r; /* the write would be refused alike */
        }
        assert_int_equal(r->r.status, KV_OK);
        assert_true(r->r.index > 0);
        net->sessions[client] = r->r.index;
    }
    struct kv_request req = {
        .token = seq,
        .client_id = net->sessions[client],
        .seq = seq,
        .op = op,
        .key = {(void *)key, strlen(key)},
        .value = {(void *)value, value ? strlen(value) : 0},
        .expected = {(void *)expected, expected ? strlen(expected) : 0},
        .expected_absent = expected == NULL,
    };
    return send_request(net, to, &req);
}

/* Node 4 joins a running cluster: booted outside the configuration (with
 * the cluster's, which does not list it), added as a learner through the
 * leader, it gets the state by InstallSnapshot (the log was compacted);
 * promoted, it counts in the quorum; leadership is then handed to it,
 * writes meanwhile are answered KV_NOT_LEADER (not proposed), and it
 * serves. */
static void node_membership_join_promote_transfer(void **state)
{
    (void)state;
    snapshot_every = 5;
    struct net *net = net_new();
    raft_id l = elect(net);
    for (uint64_t k = 1; k <= 20; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%llu", (unsigned long long)k);
        assert_int_equal(
            request(net, l, 1, k, KV_OP_PUT, key, "v", NULL)->r.status, KV_OK);
    }
    disk_open(net, 4);
    boot(net, 4);
    struct kv_node *lead = net->nodes[l];
    struct raft_configuration c = *raft_config(kv_node_raft(lead));
    c.servers[c.count++] = (struct raft_server){.id = 4, .role = RAFT_LEARNER};
    assert_int_equal(kv_node_propose_conf(lead, &c, NULL), 0);
    kv_node_flush(lead);
    tick_all(net, 10);
    const struct raft *r4 = kv_node_raft(net->nodes[4]);
    assert_int_equal(raft_config(r4)->count, 4);
    struct kv_node_stats st;
    kv_node_stats(net->nodes[4], &st);
    assert_true(st.snapshots_installed > 0);
    assert_int_equal(kv_sm_digest(kv_node_sm(net->nodes[4])),
                     kv_sm_digest(kv_node_sm(lead)));
    c.servers[c.count - 1].role = RAFT_VOTER;
    assert_int_equal(kv_node_propose_conf(lead, &c, NULL), 0);
    kv_node_flush(lead);
    tick_all(net, 5);
    assert_int_equal(raft_configuration_voter_count(raft_config(r4)), 4);

    assert_int_equal(kv_node_transfer_leader(lead, 4), 0);
    size_t before = net->n_replies;
    struct kv_request req = {.token = 99,
                             .client_id = 2,
                             .seq = 1,
                             .op = KV_OP_PUT,
                             .key = {(void *)"x", 1},
                             .value = {(void *)"y", 1}};
    kv_node_request(lead, &req);
    assert_int_equal(net->n_replies, before + 1);
    assert_int_equal(net->replies[before].r.status, KV_NOT_LEADER);
    kv_node_flush(lead);
    tick_all(net, 5);
    assert_int_equal(leader(net), 4);
    assert_int_equal(request(net, 4, 2, 1, KV_OP_PUT, "x", "y", NULL)->r.status,
                     KV_OK);
    tick_all(net, 3);
    for (raft_id id = 1; id <= NMAX; id++) {
        assert_int_equal(kv_sm_digest(kv_node_sm(net->nodes[id])),
                         kv_sm_digest(kv_node_sm(net->nodes[4])));
    }
    net_free(net);
    snapshot_every = 0;
}

/* A write through the leader is acknowledged once committed, and a read
 * (ReadIndex) on the leader sees it; every replica applies it. */
static void node_write_then_read(void **state)
{
    (void)state;
    struct net *net = net_new();
    raft_id l = elect(net);
    const struct reply *r = request(net, l, 1, 1, KV_OP_PUT, "x", "v1", NULL);
    assert_int_equal(r->r.status, KV_OK);
    assert_int_equal(r->r.node, l);
    r = request(net, l, 1, 2, KV_OP_GET, "x", NULL, NULL);
    assert_int_equal(r->r.status, KV_OK);
    assert_true(r->r.found);
    assert_string_equal(r->value, "v1");
    r = request(net, l, 1, 3, KV_OP_GET, "nope", NULL, NULL);
    assert_int_equal(r->r.status, KV_NOT_FOUND);
    assert_false(r->r.found);
    tick_all(net, 3);
    for (raft_id id = 1; id <= N; id++) {
        struct common_buf v;
        assert_true(kv_sm_get(kv_node_sm(net->nodes[id]), "x", 1, &v));
        assert_memory_equal(v.base, "v1", 2);
    }
    net_free(net);
}

/* Client 1 writes once, then client 2 writes past the first session
 * sweep (index 1024); client 1's next write gets @want. */
static void write_after_idle(uint64_t ttl, enum kv_status want)
{
    session_ttl = ttl;
    struct net *net = net_new();
    raft_id l = elect(net);
    const struct reply *r = request(net, l, 1, 1, KV_OP_PUT, "a", "1", NULL);
    assert_int_equal(r->r.status, KV_OK);
    for (uint64_t seq = 1; seq <= 1030; seq++) {
        net->n_replies = 0; /* room for the next: only the last is read */
        r = request(net, l, 2, seq, KV_OP_PUT, "b", "2", NULL);
        assert_int_equal(r->r.status, KV_OK);
    }
    r = request(net, l, 1, 2, KV_OP_PUT, "a", "3", NULL);
    assert_int_equal(r->r.status, want);
    net_free(net);
    session_ttl = 0;
}

/* kv_node_config.session_ttl reaches the state machine: with a TTL of 10
 * entries a session idle past a sweep is forgotten and its next write is
 * refused KV_EXPIRED; with the default (0: KV_SESSION_TTL_DEFAULT) and
 * with UINT64_MAX (never) it is kept. */
static void node_session_ttl_expires_idle_sessions(void **state)
{
    (void)state;
    write_after_idle(10, KV_EXPIRED);
    write_after_idle(0, KV_OK);
    write_after_idle(UINT64_MAX, KV_OK);
}

/* A follower refuses with not-leader and names the leader. */
static void node_follower_redirects(void **state)
{
    (void)state;
    struct net *net = net_new();
    raft_id l = elect(net);
    raft_id f = l % N + 1;
    const struct reply *r = request(net, f, 1, 1, KV_OP_PUT, "x", "v", NULL);
    assert_int_equal(r->r.status, KV_NOT_LEADER);
    assert_int_equal(r->r.leader, l);
    r = request(net, f, 1, 1, KV_OP_GET, "x", NULL, NULL);
    assert_int_equal(r->r.status, KV_NOT_LEADER);
    net_free(net);
}

/* The same request sent twice (a retry) is applied once. */
static void node_retry_applies_once(void **state)
{
    (void)state;
    struct net *net = net_new();
    raft_id l = elect(net);
    request(net, l, 5, 1, KV_OP_APPEND, "log", "a", NULL);
    const struct reply *r =
        request(net, l, 5, 1, KV_OP_APPEND, "log", "a", NULL);
    assert_int_equal(r->r.status, KV_OK);
    r = request(net, l, 5, 2, KV_OP_GET, "log", NULL, NULL);
    assert_string_equal(r->value, "a");
    net_free(net);
}

/* A leader cut off after proposing answers "retry" when it steps down (the
 * outcome is unknown to it); the client's retry at the new leader is
 * applied exactly once even though the first proposal may commit too. */
static void node_lost_leadership_answers_retry(void **state)
{
    (void)state;
    struct net *net = net_new();
    raft_id l = elect(net);
    request(net, l, 9, 1, KV_OP_GET, "k", NULL, NULL);
    request(net, l, 9, 1, KV_OP_DELETE, "absent", NULL, NULL); /* opens */
    struct kv_request req = {.token = 1,
                             .client_id = net->sessions[9],
                             .seq = 2,
                             .op = KV_OP_APPEND,
                             .key = {"k", 1},
                             .value = {"z", 1}};
    /* Cut the leader off, then propose: the proposal cannot commit. */
    for (raft_id id = 1; id <= N; id++) {
        net->cut[l][id] = net->cut[id][l] = id != l;
    }
    size_t before = net->n_replies;
    kv_node_request(net->nodes[l], &req);
    kv_node_flush(net->nodes[l]);
    tick_all(net, 60); /* CheckQuorum deposes it; the others elect */
    assert_true(net->n_replies > before);
    assert_int_equal(net->replies[net->n_replies - 1].r.status, KV_RETRY);
    raft_id l2 = leader(net);
    assert_int_not_equal(l2, 0);
    assert_int_not_equal(l2, l);
    memset(net->cut, 0, sizeof net->cut);
    const struct reply *r =
        request(net, l2, 9, 2, KV_OP_APPEND, "k", "z", NULL);
    assert_int_equal(r->r.status, KV_OK);
    tick_all(net, 5);
    r = request(net, leader(net), 9, 3, KV_OP_GET, "k", NULL, NULL);
    assert_string_equal(r->value, "z");
    net_free(net);
}

/* cas and delete report their outcome. */
static void node_cas_and_delete_outcomes(void **state)
{
    (void)state;
    struct net *net = net_new();
    raft_id l = elect(net);
    const struct reply *r = request(net, l, 1, 1, KV_OP_CAS, "c", "1", NULL);
    assert_int_equal(r->r.status, KV_OK);
    r = request(net, l, 1, 2, KV_OP_CAS, "c", "2", "0");
    assert_int_equal(r->r.status, KV_MISMATCH);
    r = request(net, l, 1, 3, KV_OP_CAS, "c", "2", "1");
    assert_int_equal(r->r.status, KV_OK);
    r = request(net, l, 1, 4, KV_OP_DELETE, "c", NULL, NULL);
    assert_int_equal(r->r.status, KV_OK);
    r = request(net, l, 1, 5, KV_OP_DELETE, "c", NULL, NULL);
    assert_int_equal(r->r.status, KV_NOT_FOUND);
    net_free(net);
}

/* A storage that refuses writes stops the node: it says why, answers
 * unavailable, and acknowledges nothing more. */
struct failing
{
    struct storage *inner;
    int writes_left;
};

static int fail_load(struct storage *s, struct storage_state *out)
{
    struct failing *f = s->impl;
    return storage_load(f->inner, out);
}

static int fail_write(struct storage *s, const struct storage_batch *b)
{
    struct failing *f = s->impl;
    if (f->writes_left-- <= 0) {
        snprintf(s->error, sizeof s->error, "disk full (injected)");
        return COMMON_ENOSPACE;
    }
    return storage_write(f->inner, b);
}

static void fail_destroy(struct storage *s)
{
    struct failing *f = s->impl;
    storage_free(f->inner);
    free(f);
    free(s);
}

static const struct storage_vtable failing_vtable = {.load = fail_load,
                                                     .write = fail_write,
                                                     .destroy = fail_destroy};

static void node_storage_failure_stops_node(void **state)
{
    (void)state;
    struct net *net = net_new();
    raft_id l = elect(net);
    raft_id f = l % N + 1;
    /* Swap follower f's disk for one that fails on its next write. */
    kv_node_free(net->nodes[f]);
    struct storage *s = calloc(1, sizeof *s);
    struct failing *fl = calloc(1, sizeof *fl);
    fl->inner = net->disks[f];
    fl->writes_left = 0;
    s->vt = &failing_vtable;
    s->impl = fl;
    net->disks[f] = s;
    boot(net, f);
    const struct reply *r = request(net, l, 1, 1, KV_OP_PUT, "x", "1", NULL);
    assert_int_equal(r->r.status, KV_OK); /* the other follower acks */
    assert_true(kv_node_failed(net->nodes[f]));
    assert_non_null(strstr(net->failed_why, "disk full"));
    r = request(net, f, 1, 2, KV_OP_GET, "x", NULL, NULL);
    assert_int_equal(r->r.status, KV_UNAVAILABLE);
    net_free(net);
}

/* With compaction on, a follower cut off while the others write catches up
 * by InstallSnapshot when it returns, and a node restarted from its disk
 * rebuilds its state from its stored snapshot plus the log after it. */
static void node_snapshot_catch_up_and_restart(void **state)
{
    (void)state;
    snapshot_every = 10;
    struct net *net = net_new();
    raft_id l = elect(net);
    raft_id f = l % N + 1;
    for (raft_id id = 1; id <= N; id++) {
        net->cut[f][id] = net->cut[id][f] = id != f;
    }
    char key[16];
    char val[16];
    for (int k = 0; k < 50; k++) {
        snprintf(key, sizeof key, "k%d", k);
        snprintf(val, sizeof val, "v%d", k);
        const struct reply *r =
            request(net, l, 3, (uint64_t)k + 1, KV_OP_PUT, key, val, NULL);
        assert_int_equal(r->r.status, KV_OK);
    }
    struct kv_node_stats st;
    kv_node_stats(net->nodes[l], &st);
    assert_true(st.snapshots_taken >= 4);
    assert_true(raft_first_index(kv_node_raft(net->nodes[l])) > 2);
    memset(net->cut, 0, sizeof net->cut);
    tick_all(net, 30);
    kv_node_stats(net->nodes[f], &st);
    assert_true(st.snapshots_installed >= 1);
    for (raft_id id = 1; id <= N; id++) {
        const struct kv_sm *sm = kv_node_sm(net->nodes[id]);
        assert_int_equal(kv_sm_keys(sm), 50);
        assert_int_equal(kv_sm_digest(sm),
                         kv_sm_digest(kv_node_sm(net->nodes[l])));
    }
    /* Restart the follower: snapshot + log from its disk. */
    uint64_t digest = kv_sm_digest(kv_node_sm(net->nodes[f]));
    restart(net, f);
    assert_int_equal(kv_sm_digest(kv_node_sm(net->nodes[f])) != 0, true);
    tick_all(net, 5);
    assert_int_equal(kv_sm_digest(kv_node_sm(net->nodes[f])), digest);
    /* And the service goes on. */
    l = leader(net);
    const struct reply *r =
        request(net, l, 3, 51, KV_OP_GET, "k49", NULL, NULL);
    assert_string_equal(r->value, "v49");
    net_free(net);
    snapshot_every = 0;
}

/* The node measures what compaction leaves, at the moment it takes or
 * installs a snapshot: the largest snapshot and its index, and the most
 * entries held in memory right after compacting (the trailing entries
 * kept, plus any not yet applied). Before any snapshot both are 0. */
static void node_stats_measure_snapshots_and_compacted_logs(void **state)
{
    (void)state;
    snapshot_every = 10;
    struct net *net = net_new();
    raft_id l = elect(net);
    raft_id f = l % N + 1;
    struct kv_node_stats st;
    kv_node_stats(net->nodes[l], &st);
    assert_true(st.snapshot_bytes_max == 0 && st.snapshot_bytes_max_index == 0);
    assert_true(st.compacted_entries_max == 0 &&
                st.compacted_entries_max_index == 0);
    for (raft_id id = 1; id <= N; id++) {
        net->cut[f][id] = net->cut[id][f] = id != f;
    }
    char key[16];
    for (int k = 0; k < 50; k++) {
        snprintf(key, sizeof key, "k%d", k);
        const struct reply *r =
            request(net, l, 3, (uint64_t)k + 1, KV_OP_PUT, key, "v", NULL);
        assert_int_equal(r->r.status, KV_OK);
    }
    kv_node_stats(net->nodes[l], &st);
    assert_true(st.snapshots_taken >= 4);
    /* 50 keys make the later snapshots the larger. */
    assert_true(st.snapshot_bytes_max > 50);
    assert_true(st.snapshot_bytes_max_index > 10);
    assert_true(st.snapshot_bytes_max_index <= st.snapshot_index);
    /* snapshot_trailing is 2; one request at a time leaves little
     * unapplied. */
    assert_true(st.compacted_entries_max >= 2);
    assert_true(st.compacted_entries_max <= 4);
    assert_true(st.compacted_entries_max_index >= 10);
    memset(net->cut, 0, sizeof net->cut);
    tick_all(net, 30);
    kv_node_stats(net->nodes[f], &st);
    assert_true(st.snapshots_installed >= 1);
    assert_true(st.snapshot_bytes_max > 50);
    assert_true(st.compacted_entries_max_index >= 10);
    net_free(net);
    snapshot_every = 0;
}

/* A snapshot threshold of 2^64 - 1 entries means never, also on nodes
 * that booted from a snapshot: the last snapshot's index plus the
 * threshold used to wrap around 2^64, and the node took a snapshot after
 * every entry. */
static void node_huge_snapshot_threshold_does_not_wrap(void **state)
{
    (void)state;
    snapshot_every = 10;
    struct net *net = net_new();
    raft_id l = elect(net);
    for (uint64_t k = 1; k <= 15; k++) {
        assert_int_equal(
            request(net, l, 3, k, KV_OP_PUT, "k", "v", NULL)->r.status, KV_OK);
    }
    tick_all(net, 3);
    snapshot_every = UINT64_MAX;
    for (raft_id id = 1; id <= N; id++) {
        kv_node_free(net->nodes[id]);
        boot(net, id);
        struct kv_node_stats st;
        kv_node_stats(net->nodes[id], &st);
        assert_true(st.snapshot_index > 0);
    }
    l = elect(net);
    for (uint64_t k = 16; k <= 20; k++) {
        assert_int_equal(
            request(net, l, 3, k, KV_OP_PUT, "k", "w", NULL)->r.status, KV_OK);
    }
    tick_all(net, 3);
    for (raft_id id = 1; id <= N; id++) {
        struct kv_node_stats st;
        kv_node_stats(net->nodes[id], &st);
        assert_int_equal(st.snapshots_taken, 0);
    }
    net_free(net);
    snapshot_every = 0;
}

/* A restart replays only the log after the latest snapshot, on every kind
 * of disk: the node restores the snapshot, then applies the committed
 * entries after it, never the entries the snapshot covers. */
static void restart_replays_only_after_snapshot(enum disk_kind kind)
{
    disk_kind = kind;
    snapshot_every = 10;
    struct net *net = net_new();
    raft_id l = elect(net);
    raft_id f = l % N + 1;
    char key[16];
    for (int k = 0; k < 45; k++) {
        snprintf(key, sizeof key, "k%d", k);
        const struct reply *r =
            request(net, l, 4, (uint64_t)k + 1, KV_OP_PUT, key, "v", NULL);
        assert_int_equal(r->r.status, KV_OK);
    }
    tick_all(net, 3);
    struct kv_node_stats st;
    kv_node_stats(net->nodes[f], &st);
    raft_index snap = st.snapshot_index;
    raft_index commit = raft_commit_index(kv_node_raft(net->nodes[f]));
    assert_true(snap >= 30);
    assert_true(st.applied >= 45);
    uint64_t digest = kv_sm_digest(kv_node_sm(net->nodes[f]));

    restart(net, f);
    kv_node_flush(net->nodes[f]); /* applies what the disk says committed */
    kv_node_stats(net->nodes[f], &st);
    assert_int_equal(st.snapshot_index, snap);
    assert_true(st.applied <= commit - snap); /* none of the first snap */
    assert_true(raft_applied_index(kv_node_raft(net->nodes[f])) >= snap);
    tick_all(net, 5);
    assert_int_equal(kv_sm_digest(kv_node_sm(net->nodes[f])), digest);
    assert_int_equal(kv_sm_keys(kv_node_sm(net->nodes[f])), 45);
    net_free(net);
    snapshot_every = 0;
    disk_kind = DISK_MEM;
}

static void node_restart_from_snapshot_mem(void **state)
{
    (void)state;
    restart_replays_only_after_snapshot(DISK_MEM);
}

static void node_restart_from_snapshot_wal_crash_disk(void **state)
{
    (void)state;
    restart_replays_only_after_snapshot(DISK_WAL_MEM);
}

static void node_restart_from_snapshot_wal_files(void **state)
{
    (void)state;
    restart_replays_only_after_snapshot(DISK_WAL_FILES);
}

/* Candidate @candidate asks @voter for its vote in @term, with a log as
 * up to date as the voter's; whether the voter grants it (its answer is
 * the one message it sends). */
static bool vote_granted(struct net *net,
                         raft_id voter,
                         raft_id candidate,
                         raft_term term)
{
    const struct raft *r = kv_node_raft(net->nodes[voter]);
    struct raft_message m = {
        .type = RAFT_MSG_VOTE,
        .from = candidate,
        .to = voter,
        .term = term,
        .vote = {.last_index = raft_last_index(r),
                 .last_term = raft_last_term(r)},
    };
    assert_int_equal(net->q_len, 0);
    kv_node_receive(net->nodes[voter], &m);
    kv_node_flush(net->nodes[voter]);
    assert_int_equal(net->q_len, 1);
    const struct raft_message *resp = &net->q[0]->m;
    assert_int_equal(resp->type, RAFT_MSG_VOTE_RESP);
    assert_int_equal(resp->to, candidate);
    assert_false(resp->vote_resp.pre_vote);
    bool granted = resp->vote_resp.granted;
    free(net->q[0]);
    net->q_len = 0;
    return granted;
}

/* A vote granted before a power cut binds the voter after it (Figure 2:
 * currentTerm and votedFor are "updated on stable storage before
 * responding to RPCs"): the voter grants candidate 1 in term 7, loses
 * power and boots from its disk, then refuses candidate 2 of term 7 and
 * grants candidate 1 again. On a disk whose sync lies, the vote is lost
 * with the power, and the voter, @lying, grants candidate 2 as well -
 * two votes in one term, what lets two leaders win it. */
static void vote_survives_power_cut(enum disk_kind kind, bool lying)
{
    disk_kind = kind;
    struct net *net = net_new();
    const raft_id voter = 3;
    const raft_term term = 7;
    assert_true(vote_granted(net, voter, 1, term));
    reboot(net, voter, true);
    kv_node_flush(net->nodes[voter]);
    const struct raft *r = kv_node_raft(net->nodes[voter]);
    if (lying) {
        assert_int_equal(raft_current_term(r), 0);
        assert_true(vote_granted(net, voter, 2, term));
    } else {
        assert_int_equal(raft_current_term(r), term);
        assert_false(vote_granted(net, voter, 2, term));
        assert_true(vote_granted(net, voter, 1, term));
        /* And a later term frees the vote, as it should. */
        assert_true(vote_granted(net, voter, 2, term + 1));
    }
    net_free(net);
    disk_kind = DISK_MEM;
}

static void node_vote_survives_power_cut_mem(void **state)
{
    (void)state;
    vote_survives_power_cut(DISK_MEM, false);
}

static void node_vote_survives_power_cut_wal_crash_disk(void **state)
{
    (void)state;
    vote_survives_power_cut(DISK_WAL_MEM, false);
}

static void node_vote_survives_power_cut_wal_files(void **state)
{
    (void)state;
    vote_survives_power_cut(DISK_WAL_FILES, false);
}

/* The control: the same steps on a disk that does not make the vote
 * durable grant two candidates in one term, so the checks above would
 * catch a node that answered before its vote was synced. */
static void node_vote_lost_on_disk_that_lies_about_sync(void **state)
{
    (void)state;
    vote_survives_power_cut(DISK_WAL_LYING, true);
}

/* env.sent halts a node right after an update's messages left: the vote
 * it granted was sent (and persisted first), and from then on the node
 * does nothing - no tick, message or request moves it, no client gets an
 * answer - until it is freed; booted again from its disk it still holds
 * the vote. */
static void node_sent_hook_halts_right_after_the_vote(void **state)
{
    (void)state;
    disk_kind = DISK_WAL_MEM;
    struct net *net = net_new();
    const raft_id voter = 2;
    kv_node_free(net->nodes[voter]);
    halt_on_vote = true;
    boot(net, voter);
    halt_on_vote = false;
    assert_false(kv_node_halted(net->nodes[voter]));
    assert_true(vote_granted(net, voter, 1, 4));
    struct kv_node *halted = net->nodes[voter];
    assert_true(kv_node_halted(halted));
    for (int k = 0; k < 50; k++) {
        kv_node_tick(halted);
        kv_node_flush(halted);
    }
    struct raft_message m = {
        .type = RAFT_MSG_VOTE, .from = 3, .to = voter, .term = 9};
    kv_node_receive(halted, &m);
    kv_node_flush(halted);
    struct kv_request req = {.token = 1,
                             .client_id = 1,
                             .seq = 1,
                             .op = KV_OP_GET,
                             .key = {(void *)"x", 1}};
    kv_node_request(halted, &req);
    kv_node_flush(halted);
    assert_int_equal(net->q_len, 0);
    assert_int_equal(net->n_replies, 0);
    assert_int_equal(raft_current_term(kv_node_raft(halted)), 4);
    reboot(net, voter, true);
    assert_false(kv_node_halted(net->nodes[voter]));
    assert_false(vote_granted(net, voter, 3, 4));
    assert_true(vote_granted(net, voter, 1, 4));
    net_free(net);
    disk_kind = DISK_MEM;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(node_write_then_read),
        cmocka_unit_test(node_membership_join_promote_transfer),
        cmocka_unit_test(node_follower_redirects),
        cmocka_unit_test(node_session_ttl_expires_idle_sessions),
        cmocka_unit_test(node_retry_applies_once),
        cmocka_unit_test(node_lost_leadership_answers_retry),
        cmocka_unit_test(node_cas_and_delete_outcomes),
        cmocka_unit_test(node_storage_failure_stops_node),
        cmocka_unit_test(node_snapshot_catch_up_and_restart),
        cmocka_unit_test(node_stats_measure_snapshots_and_compacted_logs),
        cmocka_unit_test(node_huge_snapshot_threshold_does_not_wrap),
        cmocka_unit_test(node_restart_from_snapshot_mem),
        cmocka_unit_test(node_restart_from_snapshot_wal_crash_disk),
        cmocka_unit_test(node_restart_from_snapshot_wal_files),
        cmocka_unit_test(node_vote_survives_power_cut_mem),
        cmocka_unit_test(node_vote_survives_power_cut_wal_crash_disk),
        cmocka_unit_test(node_vote_survives_power_cut_wal_files),
        cmocka_unit_test(node_vote_lost_on_disk_that_lies_about_sync),
        cmocka_unit_test(node_sent_hook_halts_right_after_the_vote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
