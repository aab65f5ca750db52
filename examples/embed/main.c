/*
 * embed: three raft-kv nodes in one process, on the installed library.
 *
 * The nodes talk through the library's in-memory network and keep their
 * Raft state in in-memory storage; one loop drives them (ticks, messages,
 * flushes), which is all a kv_node needs: it never reads the clock, sleeps
 * or starts a thread. The program writes a key through whichever node
 * leads, reads it back linearizably (ReadIndex) and prints what happened.
 *
 * Build it against an installed raft-kv (docs/embedding.md):
 *   cmake -S examples/embed -B build-embed -DCMAKE_PREFIX_PATH=PREFIX
 *   cmake --build build-embed && build-embed/embed
 * or with pkg-config:
 *   cc main.c $(pkg-config --cflags --libs raftkv) -o embed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kv/kv.h>
#include <storage/storage.h>
#include <transport/transport.h>

#define NODES     3
#define MAX_ROUND 10000 /* ticks before giving up */

struct inbox
{
    struct transport_msg **msgs;
    size_t len, cap;
};

struct cluster
{
    struct transport_mem *net;
    struct storage *disks[NODES + 1];
    struct kv_node *nodes[NODES + 1];
    struct inbox inboxes[NODES + 1];
    /* The last answer a request got (value copied out). */
    bool answered;
    struct kv_response resp;
    char value[64];
};

static uint64_t clock_zero(void *data)
{
    (void)data;
    return 0; /* no link delays here: every message is due at once */
}

/* The network hands over each message sent to node @data's id. */
static void deliver(void *data, struct transport_msg *msg)
{
    struct inbox *in = data;
    if (in->len == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 64;
        struct transport_msg **m = realloc(in->msgs, cap * sizeof *m);
        if (m == NULL) {
            free(msg); /* lost, as on a network: Raft sends it again */
            return;
        }
        in->msgs = m;
        in->cap = cap;
    }
    in->msgs[in->len++] = msg;
}

static void on_reply(void *data, const struct kv_response *r)
{
    struct cluster *c = data;
    c->answered = true;
    c->resp = *r;
    size_t len =
        r->value.len < sizeof c->value - 1 ? r->value.len : sizeof c->value - 1;
    if (len > 0) {
        memcpy(c->value, r->value.base, len);
    }
    c->value[len] = '\0';
    c->resp.value.base = c->value;
    c->resp.value.len = len;
}

static int boot(struct cluster *c)
{
    if (transport_mem_new(NODES, 42, clock_zero, NULL, &c->net) != 0) {
        return -1;
    }
    raft_id ids[NODES] = {1, 2, 3};
    for (raft_id id = 1; id <= NODES; id++) {
        struct kv_node_config cfg;
        memset(&cfg, 0, sizeof cfg);
        raft_options_default(&cfg.raft);
        cfg.raft.id = id;
        cfg.raft.seed = 1000 + id;
        if (raft_configuration_voters(&cfg.conf, ids, NODES) != 0 ||
            storage_mem_new(&c->disks[id]) != 0) {
            return -1;
        }
        cfg.storage = c->disks[id];
        cfg.transport = transport_mem_endpoint(c->net, id);
        cfg.env.data = c;
        cfg.env.reply = on_reply;
        int rv = kv_node_new(&cfg, &c->nodes[id]);
        if (rv != 0) {
            fprintf(stderr, "embed: node %u: %s\n", (unsigned)id,
                    common_strerror(rv));
            return -1;
        }
        transport_mem_attach(c->net, id, deliver, &c->inboxes[id]);
    }
    return 0;
}

static void shutdown_cluster(struct cluster *c)
{
    for (raft_id id = 1; id <= NODES; id++) {
        if (c->net != NULL) {
            transport_mem_attach(c->net, id, NULL, NULL);
        }
        kv_node_free(c->nodes[id]);
        storage_free(c->disks[id]);
        for (size_t k = 0; k < c->inboxes[id].len; k++) {
            free(c->inboxes[id].msgs[k]);
        }
        free(c->inboxes[id].msgs);
    }
    transport_mem_free(c->net);
}

/* Delivers every message in flight, and what they cause, until the
 * network is quiet. */
static void settle(struct cluster *c)
{
    bool busy = true;
    while (busy) {
        busy = false;
        for (raft_id id = 1; id <= NODES; id++) {
            struct inbox *in = &c->inboxes[id];
            if (in->len == 0) {
                continue;
            }
            busy = true;
            /* Take the batch: receiving may queue more for this node. */
            struct inbox batch = *in;
            memset(in, 0, sizeof *in);
            for (size_t k = 0; k < batch.len; k++) {
                kv_node_receive(c->nodes[id], &batch.msgs[k]->m);
                free(batch.msgs[k]);
            }
            free(batch.msgs);
            kv_node_flush(c->nodes[id]);
        }
    }
}

static void tick(struct cluster *c)
{
    for (raft_id id = 1; id <= NODES; id++) {
        kv_node_tick(c->nodes[id]);
        kv_node_flush(c->nodes[id]);
    }
    settle(c);
}

/* Sends @req to the node believed to lead, following not-leader hints,
 * until it is answered with something other than NOT_LEADER or RETRY. */
static int call(struct cluster *c, struct kv_request *req, raft_id *leader)
{
    for (int round = 0; round < MAX_ROUND; round++) {
        c->answered = false;
        kv_node_request(c->nodes[*leader], req);
        kv_node_flush(c->nodes[*leader]);
        settle(c);
        while (!c->answered && round < MAX_ROUND) {
            tick(c);
            round++;
        }
        if (!c->answered) {
            break;
        }
        if (c->resp.status != KV_NOT_LEADER && c->resp.status != KV_RETRY) {
            return 0;
        }
        /* Not here: go where the hint points, or wait a tick and try the
         * next node. */
        if (c->resp.leader != 0) {
            *leader = c->resp.leader;
        } else {
            tick(c);
            *leader = *leader % NODES + 1;
        }
    }
    fprintf(stderr, "embed: no answer within %d ticks\n", MAX_ROUND);
    return -1;
}

static struct common_buf text(const char *s)
{
    struct common_buf b = {.base = (void *)s, .len = strlen(s)};
    return b;
}

int main(void)
{
    struct cluster c;
    memset(&c, 0, sizeof c);
    if (boot(&c) != 0) {
        fprintf(stderr, "embed: cannot start the nodes\n");
        shutdown_cluster(&c);
        return 1;
    }

    raft_id leader = 1;
    /* A client's session is registered through the log before its first
     * write (the answer's index is its id); then each write has the next
     * seq in it, and is applied exactly once. */
    struct kv_request reg = {.token = 3, .op = KV_OP_REGISTER};
    struct kv_request put = {.token = 1,
                             .seq = 1,
                             .op = KV_OP_PUT,
                             .key = text("greeting"),
                             .value = text("hello, raft")};
    struct kv_request get = {
        .token = 2, .op = KV_OP_GET, .key = text("greeting")};
    int rv = call(&c, &reg, &leader);
    if (rv == 0 && c.resp.status != KV_OK) {
        fprintf(stderr, "embed: the session was not registered: %s\n",
                kv_status_name(c.resp.status));
        rv = -1;
    }
    if (rv == 0) {
        put.client_id = c.resp.index;
        rv = call(&c, &put, &leader);
    }
    if (rv == 0) {
        printf("put greeting: %s at index %llu (node %u leads)\n",
               kv_status_name(c.resp.status), (unsigned long long)c.resp.index,
               (unsigned)c.resp.node);
        rv = call(&c, &get, &leader);
    }
    bool ok = rv == 0 && c.resp.status == KV_OK && c.resp.found &&
              strcmp(c.value, "hello, raft") == 0;
    if (rv == 0) {
        printf("get greeting: %s \"%s\" from node %u\n",
               kv_status_name(c.resp.status), c.value, (unsigned)c.resp.node);
    }
    /* A heartbeat carries the commit index to the followers; then every
     * replica has applied the write and their state machines agree. */
    tick(&c);
    uint64_t digest = kv_sm_digest(kv_node_sm(c.nodes[1]));
    for (raft_id id = 2; ok && id <= NODES; id++) {
        if (kv_sm_digest(kv_node_sm(c.nodes[id])) != digest) {
            fprintf(stderr, "embed: node %u differs from node 1\n",
                    (unsigned)id);
            ok = false;
        }
    }
    if (ok) {
        printf("3 replicas agree (digest %016llx)\n",
               (unsigned long long)digest);
    }
    shutdown_cluster(&c);
    return ok ? 0 : 1;
}
