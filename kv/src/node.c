/*
 * The node runtime: a Raft core, a storage, a transport and the state
 * machine, composed as an event-driven object.
 *
 * Life of a write on the leader: kv_node_request() encodes the command and
 * proposes it, remembering (index, term) -> who asked. kv_node_flush()
 * drains the core's updates: it persists (storage_write returns once the
 * batch is durable), lets the observer look, sends the messages, applies
 * newly committed entries to the state machine, and answers the request
 * whose entry was applied at its index in its term. If the node loses
 * leadership first, the request is answered KV_RETRY: it may or may not
 * commit, and the client retries with the same sequence number, which the
 * session table turns into exactly-once.
 *
 * Reads use ReadIndex: the request is queued with a read context; when the
 * core confirms leadership for that context at some commit index, the read
 * waits until the state machine has applied that index and is answered
 * from the map. Reads confirmed before a step-down are still served (they
 * were linearizable at their confirmation); unconfirmed ones are answered
 * KV_RETRY.
 *
 * A storage failure stops the node: nothing more is acknowledged, every
 * waiting request is answered KV_UNAVAILABLE, and env.failed says why.
 * env.sent may halt the node right after an update's messages left (the
 * harness's crash_after faults): it then does nothing more at all, as a
 * machine that lost power, until it is freed.
 *
 * Snapshots: every snapshot_entries applied entries the node encodes its
 * state machine (kv_sm_snapshot), stores it (storage_save_snapshot), hands
 * it to the Raft core (which borrows the bytes to send to followers that
 * fell behind the compacted log) and compacts the core's log. A snapshot
 * received from the leader is stored before anything else in its update
 * and loaded into the state machine before the entries after it apply.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "storage/storage.h"
#include "transport/transport.h"

struct pending_write
{
    raft_index index;
    raft_term term;
    uint64_t token;
    uint64_t client_id;
    uint64_t seq;
};

struct pending_read
{
    uint64_t context;
    raft_index index; /* 0 until confirmed */
    bool confirmed;
    uint64_t token;
    uint64_t client_id;
    uint64_t seq;
    uint8_t *key;
    size_t key_len;
};

/* A FIFO of fixed-size records in a growable ring. */
struct fifo
{
    void *data;
    size_t size; /* record size */
    size_t cap;
    size_t head;
    size_t len;
};

struct kv_node
{
    raft_id id;
    struct raft *raft;
    struct kv_sm *sm;
    struct storage *storage;
    struct transport *transport;
    struct kv_node_env env;
    struct fifo writes; /* struct pending_write, by index */
    struct fifo reads;  /* struct pending_read, by context */
    uint64_t next_read_context;
    bool was_leader;
    bool failed;
    bool halted; /* env.sent said stop: as if powered off */
    struct raft_hard_state written_hs; /* the last one storage_write took */
    uint64_t snapshot_entries;
    uint64_t snapshot_bytes;
    uint64_t snapshot_trailing;
    uint64_t bytes_since_snapshot;
    uint8_t *snap_buf; /* the latest snapshot; the core borrows it */
    size_t snap_len;
    struct kv_node_stats stats;
};

static void *fifo_at(const struct fifo *f, size_t k)
{
    assert(k < f->len);
    return (char *)f->data + ((f->head + k) % f->cap) * f->size;
}

static int fifo_push(struct fifo *f, const void *rec)
{
    if (f->len == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        char *d = malloc(cap * f->size);
        if (d == NULL) {
            return COMMON_ENOMEM;
        }
        for (size_t k = 0; k < f->len; k++) {
            memcpy(d + k * f->size, fifo_at(f, k), f->size);
        }
        free(f->data);
        f->data = d;
        f->cap = cap;
        f->head = 0;
    }
    assert(f->len < f->cap);
    memcpy((char *)f->data + ((f->head + f->len) % f->cap) * f->size, rec,
           f->size);
    f->len++;
    return 0;
}

static void fifo_pop(struct fifo *f)
{
    assert(f->len > 0); /* underflow */
    assert(f->head < f->cap);
    f->head = (f->head + 1) % f->cap;
    f->len--;
}

static void reply(struct kv_node *n,
                  uint64_t token,
                  uint64_t client_id,
                  uint64_t seq,
                  enum kv_status status,
                  const struct kv_result *res,
                  raft_index index)
{
    struct kv_response r;
    memset(&r, 0, sizeof r);
    r.token = token;
    r.client_id = client_id;
    r.seq = seq;
    r.status = status;
    r.node = n->id;
    r.index = index;
    r.leader = n->raft != NULL ? raft_leader(n->raft) : 0;
    if (res != NULL) {
        r.found = res->found;
        r.value = res->value;
    }
    switch (status) {
        case KV_OK:
        case KV_NOT_FOUND:
        case KV_MISMATCH:
            n->stats.replies_ok++;
            break;
        case KV_NOT_LEADER:
            n->stats.replies_not_leader++;
            break;
        default:
            n->stats.replies_retry++;
            break;
    }
    n->env.reply(n->env.data, &r);
}

/* Answers every waiting write (and unconfirmed read) with @status. */
static void fail_waiting(struct kv_node *n,
                         enum kv_status status,
                         bool include_confirmed_reads)
{
    while (n->writes.len > 0) {
        struct pending_write *w = fifo_at(&n->writes, 0);
        reply(n, w->token, w->client_id, w->seq, status, NULL, 0);
        fifo_pop(&n->writes);
    }
    /* One pass over the reads in order: each is answered, or (a confirmed
     * read that stays valid) rotated to the back, which keeps the order. */
    size_t len = n->reads.len;
    for (size_t k = 0; k < len; k++) {
        struct pending_read r = *(struct pending_read *)fifo_at(&n->reads, 0);
        fifo_pop(&n->reads);
        if (r.confirmed && !include_confirmed_reads) {
            fifo_push(&n->reads, &r); /* cannot fail: room was just made */
            continue;
        }
        reply(n, r.token, r.client_id, r.seq, status, NULL, 0);
        free(r.key);
    }
}

static void node_fail(struct kv_node *n, const char *why)
{
    if (n->failed) {
        return;
    }
    n->failed = true;
    fail_waiting(n, KV_UNAVAILABLE, true);
    if (n->env.failed != NULL) {
        n->env.failed(n->env.data, n, why);
    }
}

int kv_node_new(const struct kv_node_config *cfg, struct kv_node **out)
{
    if (cfg->storage == NULL || cfg->transport == NULL ||
        cfg->env.reply == NULL) {
        return COMMON_EINVAL;
    }
    struct kv_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return COMMON_ENOMEM;
    }
    n->id = cfg->raft.id;
    n->storage = cfg->storage;
    n->transport = cfg->transport;
    n->env = cfg->env;
    n->writes.size = sizeof(struct pending_write);
    n->reads.size = sizeof(struct pending_read);
    int rv = kv_sm_new(&n->sm);
    if (rv != 0) {
        goto err;
    }
    if (cfg->session_ttl != 0) {
        kv_sm_set_session_ttl(n->sm, cfg->session_ttl);
    }
    n->snapshot_entries = cfg->snapshot_entries;
    n->snapshot_bytes = cfg->snapshot_bytes;
    n->snapshot_trailing = cfg->snapshot_trailing;
    struct storage_state st;
    rv = storage_load(n->storage, &st);
    if (rv != 0) {
        goto err_sm;
    }
    struct raft_boot boot;
    memset(&boot, 0, sizeof boot);
    boot.hard_state = st.hard_state;
    n->written_hs = st.hard_state;
    boot.conf = cfg->conf;
    if (st.has_snapshot) {
        /* The state machine starts from the snapshot (copied: the
         * storage's memory lasts only until its next call). */
        n->snap_buf = malloc(st.snapshot_len > 0 ? st.snapshot_len : 1);
        if (n->snap_buf == NULL) {
            rv = COMMON_ENOMEM;
            goto err_sm;
        }
        if (st.snapshot_len > 0) {
            memcpy(n->snap_buf, st.snapshot_data, st.snapshot_len);
        }
        n->snap_len = st.snapshot_len;
        rv = kv_sm_restore(n->sm, n->snap_buf, n->snap_len);
        if (rv != 0) {
            goto err_snap;
        }
        boot.snapshot_index = st.snapshot.index;
        boot.snapshot_term = st.snapshot.term;
        boot.conf = st.snapshot.conf;
        n->stats.snapshot_index = st.snapshot.index;
    }
    boot.entries = st.entries;
    boot.n_entries = st.n_entries;
    boot.applied = boot.snapshot_index; /* the log is replayed after it */
    rv = raft_new(&cfg->raft, &boot, &n->raft);
    if (rv != 0) {
        goto err_snap;
    }
    if (st.has_snapshot) {
        struct raft_snapshot sn = {.index = st.snapshot.index,
                                   .term = st.snapshot.term,
                                   .conf = st.snapshot.conf,
                                   .data = n->snap_buf,
                                   .len = n->snap_len};
        rv = raft_snapshot_set(n->raft, &sn);
        if (rv != 0) {
            raft_free(n->raft);
            goto err_snap;
        }
    }
    *out = n;
    return 0;

err_snap:
    free(n->snap_buf);
err_sm:
    kv_sm_free(n->sm);
err:
    free(n);
    return rv;
}

void kv_node_free(struct kv_node *n)
{
    if (n == NULL) {
        return;
    }
    while (n->reads.len > 0) {
        struct pending_read *r = fifo_at(&n->reads, 0);
        free(r->key);
        fifo_pop(&n->reads);
    }
    free(n->reads.data);
    free(n->writes.data);
    raft_free(n->raft);
    free(n->snap_buf);
    kv_sm_free(n->sm);
    free(n);
}

void kv_node_tick(struct kv_node *n)
{
    if (!n->failed && !n->halted) {
        raft_tick(n->raft);
    }
}

void kv_node_receive(struct kv_node *n, const struct raft_message *m)
{
    if (!n->failed && !n->halted) {
        raft_step(n->raft, m);
    }
}

static void request_read(struct kv_node *n, const struct kv_request *req)
{
    struct pending_read r;
    memset(&r, 0, sizeof r);
    r.context = ++n->next_read_context;
    r.token = req->token;
    r.client_id = req->client_id;
    r.seq = req->seq;
    r.key_len = req->key.len;
    r.key = malloc(req->key.len > 0 ? req->key.len : 1);
    if (r.key == NULL) {
        reply(n, req->token, req->client_id, req->seq, KV_UNAVAILABLE, NULL, 0);
        return;
    }
    if (req->key.len > 0) {
        memcpy(r.key, req->key.base, req->key.len);
    }
    /* Reads wait in the order of their contexts, which serve_reads and the
     * rotation in fail_waiting keep. */
    assert(n->reads.len == 0 ||
           ((const struct pending_read *)fifo_at(&n->reads, n->reads.len - 1))
                   ->context < r.context);
    int rv = raft_read_index(n->raft, r.context);
    if (rv == 0) {
        rv = fifo_push(&n->reads, &r);
    }
    if (rv != 0) {
        free(r.key);
        reply(n, req->token, req->client_id, req->seq,
              rv == COMMON_ENOTLEADER ? KV_NOT_LEADER : KV_UNAVAILABLE, NULL,
              0);
        return;
    }
    n->stats.reads++;
}

void kv_node_request(struct kv_node *n, const struct kv_request *req)
{
    if (n->halted) {
        return; /* no power: the client times out */
    }
    n->stats.requests++;
    if (n->failed) {
        reply(n, req->token, req->client_id, req->seq, KV_UNAVAILABLE, NULL, 0);
        return;
    }
    bool op_ok = req->op == KV_OP_REGISTER
                     ? req->client_id == 0 && req->seq == 0
                     : req->op >= 1 && req->op <= KV_OP_MAX &&
                           (req->client_id == 0 || req->seq != 0);
    if (!op_ok) {
        reply(n, req->token, req->client_id, req->seq, KV_INVALID, NULL, 0);
        return;
    }
    if (raft_role(n->raft) != RAFT_LEADER) {
        reply(n, req->token, req->client_id, req->seq, KV_NOT_LEADER, NULL, 0);
        return;
    }
    if (req->op == KV_OP_GET) {
        request_read(n, req);
        return;
    }
    uint8_t *cmd = NULL;
    size_t len = 0;
    int rv = kv_command_encode(req, &cmd, &len);
    struct pending_write w = {
        .token = req->token, .client_id = req->client_id, .seq = req->seq};
    if (rv == 0) {
        rv = raft_propose(n->raft, cmd, len, &w.index, &w.term);
        free(cmd);
    }
    if (rv == 0) {
        rv = fifo_push(&n->writes, &w);
        if (rv != 0) {
            /* Proposed but untracked: the outcome is unknown to us. */
            reply(n, req->token, req->client_id, req->seq, KV_RETRY, NULL, 0);
            return;
        }
        n->stats.proposals++;
        return;
    }
    /* COMMON_EBUSY: a leadership transfer is under way (not proposed). */
    reply(n, req->token, req->client_id, req->seq,
          rv == COMMON_ENOTLEADER || rv == COMMON_EBUSY ? KV_NOT_LEADER
          : rv == COMMON_ETOOBIG                        ? KV_INVALID
                                                        : KV_UNAVAILABLE,
          NULL, 0);
}

int kv_node_propose_conf(struct kv_node *n,
                         const struct raft_configuration *next,
                         raft_index *index)
{
    if (n->halted || n->failed) {
        return COMMON_EUNAVAILABLE;
    }
    return raft_propose_conf(n->raft, next, index);
}

int kv_node_transfer_leader(struct kv_node *n, raft_id id)
{
    if (n->halted || n->failed) {
        return COMMON_EUNAVAILABLE;
    }
    return raft_transfer_leadership(n->raft, id);
}

static void apply_entry(struct kv_node *n, const struct raft_entry *e)
{
    struct kv_result res;
    memset(&res, 0, sizeof res);
    enum kv_status status = KV_RETRY;
    bool have_result = false;
    if (e->type == RAFT_ENTRY_COMMAND) {
        struct kv_command cmd;
        if (kv_command_decode(e->data.base, e->data.len, &cmd) == 0) {
            int rv = kv_sm_apply(n->sm, &cmd, e->index, &res);
            kv_command_free(&cmd);
            if (rv != 0) {
                node_fail(n, "state machine out of memory");
                return;
            }
            status = res.status;
            have_result = true;
        } else {
            /* Every replica refuses the same bytes the same way. */
            status = KV_INVALID;
        }
    }
    n->stats.applied++;
    n->bytes_since_snapshot += e->data.len;
    /* Answer whoever waits on this index; anything waiting on an earlier
     * index was overwritten (leadership changed in between). */
    while (n->writes.len > 0) {
        struct pending_write *w = fifo_at(&n->writes, 0);
        if (w->index > e->index) {
            break;
        }
        if (w->index == e->index && w->term == e->term && have_result) {
            reply(n, w->token, w->client_id, w->seq, status, &res, e->index);
        } else if (w->index == e->index && w->term == e->term) {
            reply(n, w->token, w->client_id, w->seq, status, NULL, e->index);
        } else {
            reply(n, w->token, w->client_id, w->seq, KV_RETRY, NULL, 0);
        }
        fifo_pop(&n->writes);
    }
}

/* Marks reads confirmed (or failed) by the core. */
static void confirm_reads(struct kv_node *n, const struct raft_update *u)
{
    for (size_t k = 0; k < u->n_reads; k++) {
        const struct raft_read *rr = &u->reads[k];
        for (size_t j = 0; j < n->reads.len; j++) {
            struct pending_read *r = fifo_at(&n->reads, j);
            if (r->context != rr->context) {
                continue;
            }
            r->confirmed = true;
            r->index = rr->index;
            break;
        }
    }
}

/* Serves confirmed reads in order once applied up to their index; fails
 * reads whose confirmation failed. */
static void serve_reads(struct kv_node *n)
{
    raft_index applied = raft_applied_index(n->raft);
    while (n->reads.len > 0) {
        struct pending_read *r = fifo_at(&n->reads, 0);
        if (!r->confirmed) {
            break;
        }
        if (r->index == 0) {
            reply(n, r->token, r->client_id, r->seq, KV_RETRY, NULL, 0);
        } else if (r->index <= applied) {
            struct kv_result res;
            memset(&res, 0, sizeof res);
            res.found = kv_sm_get(n->sm, r->key, r->key_len, &res.value);
            res.status = res.found ? KV_OK : KV_NOT_FOUND;
            reply(n, r->token, r->client_id, r->seq, res.status, &res,
                  r->index);
        } else {
            break;
        }
        free(r->key);
        fifo_pop(&n->reads);
    }
}

/* Replaces the snapshot the core borrows with @buf (owned from now on). */
static int register_snapshot(struct kv_node *n,
                             raft_index index,
                             raft_term term,
                             const struct raft_configuration *conf,
                             uint8_t *buf,
                             size_t len)
{
    struct raft_snapshot sn = {
        .index = index, .term = term, .conf = *conf, .data = buf, .len = len};
    int rv = raft_snapshot_set(n->raft, &sn);
    if (rv != 0) {
        free(buf);
        return rv;
    }
    free(n->snap_buf);
    n->snap_buf = buf;
    n->snap_len = len;
    n->stats.snapshot_index = index;
    return 0;
}

/* A snapshot of @len bytes at @index was just taken or installed and the
 * log compacted behind it: the figures that bound what a node keeps
 * (kv_node_stats), measured here, where they are exact. */
static void note_compaction(struct kv_node *n, raft_index index, size_t len)
{
    if (len > n->stats.snapshot_bytes_max ||
        n->stats.snapshot_bytes_max_index == 0) {
        n->stats.snapshot_bytes_max = len;
        n->stats.snapshot_bytes_max_index = index;
    }
    raft_index first = raft_first_index(n->raft);
    raft_index last = raft_last_index(n->raft);
    uint64_t held = last >= first ? last - first + 1 : 0;
    if (held > n->stats.compacted_entries_max ||
        n->stats.compacted_entries_max_index == 0) {
        n->stats.compacted_entries_max = held;
        n->stats.compacted_entries_max_index = index;
    }
}

/* Takes a snapshot when enough has been applied since the last one. */
static void maybe_snapshot(struct kv_node *n)
{
    raft_index applied = raft_applied_index(n->raft);
    /* The latest snapshot was taken or installed at an applied index, and
     * applied never goes back. Counting from it, rather than adding the
     * threshold to it, cannot wrap around 2^64 for a huge threshold. */
    assert(applied >= n->stats.snapshot_index);
    bool by_entries = n->snapshot_entries > 0 &&
                      applied - n->stats.snapshot_index >= n->snapshot_entries;
    bool by_bytes =
        n->snapshot_bytes > 0 && n->bytes_since_snapshot >= n->snapshot_bytes;
    if (!by_entries && !by_bytes) {
        return;
    }
    raft_term term = raft_term_at(n->raft, applied);
    if (term == 0) {
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (kv_sm_snapshot(n->sm, &buf, &len) != 0) {
        return; /* no memory now: try again after the next entries */
    }
    struct storage_snapshot_meta meta = {.index = applied, .term = term};
    /* The configuration at the snapshot's index, not the latest one: an
     * uncommitted change after it must not outlive a truncation. */
    int rv = raft_config_at(n->raft, applied, &meta.conf);
    assert(rv == 0);
    rv = storage_save_snapshot(n->storage, &meta, buf, len);
    if (rv != 0) {
        free(buf);
        char why[320];
        snprintf(why, sizeof why, "storage: %s", storage_error(n->storage));
        node_fail(n, why);
        return;
    }
    if (register_snapshot(n, applied, term, &meta.conf, buf, len) != 0) {
        return;
    }
    n->stats.snapshots_taken++;
    n->bytes_since_snapshot = 0;
    if (applied > n->snapshot_trailing) {
        raft_compact(n->raft, applied - n->snapshot_trailing);
    }
    note_compaction(n, applied, len);
}

/* An update with nothing to persist, send, apply or report: a correct core
 * says there is no update instead (raft.h). A core that hands one out
 * again and again (a lab core that reports its hard state as changed when
 * it is not) would keep this loop, and the disk, growing for ever. */
static bool update_empty(const struct kv_node *n, const struct raft_update *u)
{
    const struct raft_hard_state *hs = &u->hard_state;
    bool hs_new = u->hard_state_changed && (hs->term != n->written_hs.term ||
                                            hs->vote != n->written_hs.vote ||
                                            hs->commit != n->written_hs.commit);
    return !hs_new && !u->role_changed && u->truncate_from == 0 &&
           u->n_entries == 0 && u->n_messages == 0 && u->n_committed == 0 &&
           u->snapshot == NULL && u->n_reads == 0;
}

void kv_node_flush(struct kv_node *n)
{
    struct raft_update u;
    while (!n->failed && !n->halted && raft_update_get(n->raft, &u)) {
        if (update_empty(n, &u)) {
            raft_update_done(n->raft, &u);
            node_fail(n,
                      "raft core: an update with nothing new in it (its "
                      "hard state is the one already persisted): "
                      "raft_update_get must return false when there is "
                      "nothing to do");
            return;
        }
        uint8_t *installed = NULL;
        if (u.snapshot != NULL) {
            /* Persist the leader's snapshot before anything that follows
             * it in this update, and keep a copy for the core to lend. */
            struct storage_snapshot_meta meta = {.index = u.snapshot->index,
                                                 .term = u.snapshot->term,
                                                 .conf = u.snapshot->conf};
            int rv = storage_save_snapshot(n->storage, &meta, u.snapshot->data,
                                           u.snapshot->len);
            installed = malloc(u.snapshot->len > 0 ? u.snapshot->len : 1);
            if (rv != 0 || installed == NULL) {
                free(installed);
                char why[320];
                snprintf(why, sizeof why, "storage: %s",
                         rv != 0 ? storage_error(n->storage)
                                 : "out of memory for a snapshot");
                node_fail(n, why);
                return;
            }
            if (u.snapshot->len > 0) {
                memcpy(installed, u.snapshot->data, u.snapshot->len);
            }
        }
        /* A leader's AppendEntries leave before its own disk write, which
         * then runs while followers write theirs (the core counts the
         * leader's copy only once raft_update_done says it is durable). */
        for (size_t k = 0; k < u.n_messages_early; k++) {
            transport_send(n->transport, &u.messages[k]);
        }
        if (u.n_messages_early > 0) {
            transport_flush(n->transport);
        }
        struct storage_batch b = {
            .hard_state = u.hard_state_changed ? &u.hard_state : NULL,
            .truncate_from = u.truncate_from,
            .entries = u.entries,
            .n_entries = u.n_entries,
        };
        if (b.hard_state != NULL || b.truncate_from != 0 || b.n_entries > 0) {
            int rv = storage_write(n->storage, &b);
            if (b.hard_state != NULL) {
                n->written_hs = *b.hard_state;
            }
            if (rv != 0) {
                char why[320];
                snprintf(why, sizeof why, "storage: %s",
                         storage_error(n->storage));
                node_fail(n, why);
                return; /* no vote or acknowledgement leaves the node */
            }
        }
        if (n->env.observe != NULL) {
            n->env.observe(n->env.data, n, &u);
        }
        for (size_t k = u.n_messages_early; k < u.n_messages; k++) {
            transport_send(n->transport, &u.messages[k]);
        }
        if (n->env.sent != NULL && n->env.sent(n->env.data, n, &u)) {
            /* The power goes right after the votes and acknowledgements
             * left: nothing more of this update happens, nor of any. */
            n->halted = true;
            free(installed);
            return;
        }
        struct raft_snapshot installed_meta;
        /* Its configuration's address table lives in the core's memory
         * until raft_update_done: a copy for register_snapshot after it. */
        uint8_t installed_addresses[RAFT_ADDRESSES_MAX];
        if (installed != NULL) {
            installed_meta = *u.snapshot;
            int crv = raft_configuration_copy(
                &installed_meta.conf, &u.snapshot->conf, installed_addresses,
                sizeof installed_addresses);
            assert(crv == 0);
            (void)crv;
            if (kv_sm_restore(n->sm, installed, u.snapshot->len) != 0) {
                free(installed);
                node_fail(n, "the leader's snapshot does not decode");
                return;
            }
            n->stats.snapshots_installed++;
        }
        for (size_t k = 0; k < u.n_committed && !n->failed; k++) {
            apply_entry(n, &u.committed[k]);
        }
        if (n->failed) {
            /* Entries after the failed one were not applied: the core must
             * not count them as applied, nor a snapshot be taken there. */
            free(installed);
            return;
        }
        bool leader = u.role == RAFT_LEADER;
        confirm_reads(n, &u);
        raft_update_done(n->raft, &u);
        if (installed != NULL &&
            register_snapshot(n, installed_meta.index, installed_meta.term,
                              &installed_meta.conf, installed,
                              installed_meta.len) == 0) {
            note_compaction(n, installed_meta.index, installed_meta.len);
        }
        maybe_snapshot(n);
        if (n->was_leader && !leader) {
            fail_waiting(n, KV_RETRY, false);
        }
        n->was_leader = leader;
        serve_reads(n);
    }
}

raft_id kv_node_id(const struct kv_node *n)
{
    return n->id;
}

const struct raft *kv_node_raft(const struct kv_node *n)
{
    return n->raft;
}

const struct kv_sm *kv_node_sm(const struct kv_node *n)
{
    return n->sm;
}

bool kv_node_failed(const struct kv_node *n)
{
    return n->failed;
}

bool kv_node_halted(const struct kv_node *n)
{
    return n->halted;
}

void kv_node_stats(const struct kv_node *n, struct kv_node_stats *s)
{
    *s = n->stats;
    s->writes_waiting = n->writes.len;
    s->reads_waiting = n->reads.len;
}
