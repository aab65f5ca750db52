/*
 * testnet: see testnet.h. Messages are deep-copied into one allocation
 * each when a node sends them (the core's update memory is released right
 * after), and delivered by raft_step when the test or a round says so.
 */
#include "testnet.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void violation(struct testnet *tn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(struct testnet *tn, const char *fmt, ...)
{
    if (tn->violation[0] != '\0') {
        return; /* keep the first */
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tn->violation, sizeof tn->violation, fmt, ap);
    va_end(ap);
}

bool tn_safe(const struct testnet *tn)
{
    return tn->violation[0] == '\0' && monitor_ok(tn->mon);
}

const char *tn_violation(struct testnet *tn)
{
    if (tn->violation[0] == '\0') {
        monitor_violation(tn->mon, tn->violation, sizeof tn->violation);
    }
    return tn->violation;
}

static uint64_t entry_hash(const struct raft_entry *e)
{
    uint64_t h = common_mix64(e->term * 0x100000001b3ull + (uint64_t)e->type);
    const uint8_t *p = e->data.base;
    for (size_t k = 0; k < e->data.len; k++) {
        h = (h ^ p[k]) * 0x100000001b3ull;
    }
    return common_mix64(h ^ e->data.len);
}

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (q == NULL) {
        fprintf(stderr, "testnet: out of memory\n");
        abort();
    }
    return q;
}

/* ------------------------------------------------------------------------ */
/* Disk                                                                      */
/* ------------------------------------------------------------------------ */

static void disk_truncate(struct tn_disk *d, raft_index from)
{
    while (d->len > 0 && d->entries[d->len - 1].index >= from) {
        free(d->entries[d->len - 1].data.base);
        d->len--;
    }
}

static void disk_append(struct testnet *tn,
                        struct tn_node *node,
                        const struct raft_entry *e)
{
    struct tn_disk *d = &node->disk;
    raft_index expect =
        d->len == 0 ? d->snap_index + 1 : d->entries[d->len - 1].index + 1;
    if (e->index != expect) {
        violation(tn, "node %llu persisted index %llu after %llu",
                  (unsigned long long)node->id, (unsigned long long)e->index,
                  (unsigned long long)(expect - 1));
    }
    if (d->len == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->entries = xrealloc(d->entries, d->cap * sizeof *d->entries);
    }
    struct raft_entry *c = &d->entries[d->len];
    *c = *e;
    c->data.base = NULL;
    if (e->data.len > 0) {
        c->data.base = xrealloc(NULL, e->data.len);
        memcpy(c->data.base, e->data.base, e->data.len);
    }
    d->len++;
}

/* Drops entries up to @index, or every entry when the disk does not hold
 * (index, term): the snapshot then replaces the log. */
static void disk_compact(struct tn_disk *d, raft_index index, raft_term term)
{
    size_t drop = d->len;
    for (size_t k = 0; k < d->len; k++) {
        if (d->entries[k].index == index && d->entries[k].term == term) {
            drop = k + 1;
            break;
        }
    }
    for (size_t k = 0; k < drop; k++) {
        free(d->entries[k].data.base);
    }
    if (drop > 0) {
        memmove(d->entries, d->entries + drop,
                (d->len - drop) * sizeof *d->entries);
        d->len -= drop;
    }
}

static void snap_fill(uint8_t *data, uint64_t digest, raft_index index)
{
    memcpy(data, &digest, 8);
    memcpy(data + 8, &index, 8);
    uint64_t x = digest;
    for (size_t k = 16; k < TN_SNAP_LEN; k++) {
        x = common_mix64(x);
        data[k] = (uint8_t)x;
    }
}

/* Every replica's state machine must reach the same digest at an index. */
static void digest_check(struct testnet *tn,
                         struct tn_node *node,
                         raft_index index,
                         uint64_t digest)
{
    if (index >= tn->digest_cap) {
        size_t cap = tn->digest_cap ? tn->digest_cap : 1024;
        while (cap <= index) {
            cap *= 2;
        }
        tn->digest_at = xrealloc(tn->digest_at, cap * sizeof *tn->digest_at);
        memset(tn->digest_at + tn->digest_cap, 0,
               (cap - tn->digest_cap) * sizeof *tn->digest_at);
        tn->digest_cap = cap;
    }
    if (tn->digest_at[index] == 0) {
        tn->digest_at[index] = digest;
    } else if (tn->digest_at[index] != digest) {
        violation(tn,
                  "State Machine Safety: node %llu's state at index %llu "
                  "differs from another replica's",
                  (unsigned long long)node->id, (unsigned long long)index);
    }
}

static void register_snapshot(struct tn_node *node)
{
    if (!node->disk.has_snap || node->r == NULL) {
        return;
    }
    struct raft_snapshot sn = {.index = node->disk.snap_index,
                               .term = node->disk.snap_term,
                               .conf = node->disk.snap_conf,
                               .data = node->disk.snap_data,
                               .len = TN_SNAP_LEN};
    raft_snapshot_set(node->r, &sn);
}

static void disk_free(struct tn_disk *d)
{
    disk_truncate(d, 0);
    free(d->entries);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------------ */
/* Network                                                                   */
/* ------------------------------------------------------------------------ */

static bool link_up(const struct testnet *tn, raft_id from, raft_id to)
{
    if (from < 1 || from > tn->n || to < 1 || to > tn->n) {
        return false;
    }
    return !tn->cut[from - 1][to - 1];
}

static void enqueue(struct testnet *tn, struct tn_msg *c)
{
    if (tn->queue_len == tn->queue_cap) {
        tn->queue_cap = tn->queue_cap ? tn->queue_cap * 2 : 256;
        tn->queue = xrealloc(tn->queue, tn->queue_cap * sizeof *tn->queue);
    }
    tn->queue[tn->queue_len++] = c;
}

static void net_send(struct testnet *tn, const struct raft_message *m)
{
    if (!link_up(tn, m->from, m->to) ||
        common_prng_chance(&tn->prng, tn->loss)) {
        tn->dropped++;
        return;
    }
    int copies = common_prng_chance(&tn->prng, tn->duplicate) ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        struct tn_msg *c = transport_msg_clone(m);
        if (c == NULL) {
            abort();
        }
        if (tn->filter != NULL && !tn->filter(tn->filter_data, &c->m)) {
            free(c);
            tn->dropped++;
            continue;
        }
        c->deliver_at_ns =
            tn->round + common_prng_range(&tn->prng, 0, tn->delay_max);
        enqueue(tn, c);
    }
}

void tn_clear_queue(struct testnet *tn)
{
    for (size_t k = 0; k < tn->queue_len; k++) {
        free(tn->queue[k]);
    }
    tn->queue_len = 0;
}

bool tn_deliver_one(struct testnet *tn)
{
    size_t pick = SIZE_MAX;
    size_t deliverable = 0;
    for (size_t k = 0; k < tn->queue_len; k++) {
        const struct tn_msg *c = tn->queue[k];
        if (c->deliver_at_ns > tn->round) {
            continue;
        }
        const struct tn_node *dst = tn_node(tn, c->m.to);
        if (dst != NULL && dst->paused && dst->r != NULL) {
            continue; /* waits until the node resumes */
        }
        deliverable++;
        if (!tn->reorder) {
            pick = k;
            break;
        }
        /* Reservoir sampling: a uniform pick in one pass. */
        if (common_prng_below(&tn->prng, deliverable) == 0) {
            pick = k;
        }
    }
    if (pick == SIZE_MAX) {
        return false;
    }
    struct tn_msg *c = tn->queue[pick];
    memmove(&tn->queue[pick], &tn->queue[pick + 1],
            (tn->queue_len - pick - 1) * sizeof *tn->queue);
    tn->queue_len--;
    struct tn_node *dst = tn_node(tn, c->m.to);
    if (dst != NULL && dst->r != NULL && link_up(tn, c->m.from, c->m.to)) {
        raft_step(dst->r, &c->m);
        tn->delivered++;
        if (c->m.type == RAFT_MSG_APPEND_RESP && !c->m.append_resp.success) {
            tn->append_rejects++;
        }
        tn_process(tn, dst->id);
    } else {
        tn->dropped++;
    }
    free(c);
    return true;
}

size_t tn_deliver_all(struct testnet *tn, size_t max)
{
    size_t n = 0;
    while (n < max && tn_deliver_one(tn)) {
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Nodes                                                                     */
/* ------------------------------------------------------------------------ */

struct tn_node *tn_node(struct testnet *tn, raft_id id)
{
    if (id < 1 || id > tn->n) {
        return NULL;
    }
    return &tn->nodes[id - 1];
}

void tn_process(struct testnet *tn, raft_id id)
{
    struct tn_node *node = tn_node(tn, id);
    struct raft_update u;
    /* Bounded: each update either makes progress or ends the loop. */
    for (int guard = 0;
         guard < 1000 && node->r != NULL && raft_update_get(node->r, &u);
         guard++) {
        /* 0. A leader's AppendEntries may leave before its disk write;
         * sometimes the node crashes right then, its write lost. */
        for (size_t k = 0; k < u.n_messages_early; k++) {
            net_send(tn, &u.messages[k]);
        }
        if (u.n_messages_early > 0 && u.n_entries > 0 &&
            common_prng_chance(&tn->prng, tn->crash_mid_write)) {
            tn->crashes_mid_write++;
            tn_crash(tn, id);
            return;
        }
        /* 1. Persist: snapshot, hard state, truncation, entries. */
        if (u.snapshot != NULL) {
            const struct raft_snapshot *sn = u.snapshot;
            if (sn->len != TN_SNAP_LEN) {
                violation(tn, "node %llu received a snapshot of %zu bytes",
                          (unsigned long long)id, sn->len);
            } else {
                memcpy(node->disk.snap_data, sn->data, TN_SNAP_LEN);
                node->disk.has_snap = true;
                node->disk.snap_index = sn->index;
                int crv = raft_configuration_copy(
                    &node->disk.snap_conf, &sn->conf, node->disk.snap_addresses,
                    sizeof node->disk.snap_addresses);
                assert(crv == 0);
                (void)crv;
                node->disk.snap_term = sn->term;
                disk_compact(&node->disk, sn->index, sn->term);
            }
        }
        if (u.hard_state_changed) {
            if (u.hard_state.term < node->disk.hs.term) {
                violation(tn, "node %llu persisted a lower term",
                          (unsigned long long)id);
            }
            node->disk.hs = u.hard_state;
        }
        if (u.truncate_from != 0) {
            disk_truncate(&node->disk, u.truncate_from);
        }
        for (size_t k = 0; k < u.n_entries; k++) {
            disk_append(tn, node, &u.entries[k]);
        }
        monitor_observe(tn->mon, id, node->r, &u);
        /* 2. Send the rest. */
        for (size_t k = u.n_messages_early; k < u.n_messages; k++) {
            net_send(tn, &u.messages[k]);
        }
        /* 3. Apply: the snapshot, then the entries after it. */
        bool installed = false;
        if (u.snapshot != NULL && u.snapshot->len == TN_SNAP_LEN) {
            uint64_t digest;
            raft_index index;
            memcpy(&digest, u.snapshot->data, 8);
            memcpy(&index, (const uint8_t *)u.snapshot->data + 8, 8);
            if (index != u.snapshot->index) {
                violation(tn,
                          "node %llu got a snapshot for index %llu "
                          "labelled %llu",
                          (unsigned long long)id, (unsigned long long)index,
                          (unsigned long long)u.snapshot->index);
            }
            digest_check(tn, node, u.snapshot->index, digest);
            node->digest = digest;
            node->applied = u.snapshot->index;
            tn->snapshots_installed++;
            installed = true;
        }
        for (size_t k = 0; k < u.n_committed; k++) {
            const struct raft_entry *e = &u.committed[k];
            node->digest = common_mix64(node->digest ^ entry_hash(e));
            digest_check(tn, node, e->index, node->digest);
            node->applied = e->index;
            node->applied_count++;
        }
        for (size_t k = 0; k < u.n_reads; k++) {
            if (u.reads[k].index == 0) {
                node->reads_failed++;
            } else {
                node->reads_ok++;
            }
        }
        raft_update_done(node->r, &u);
        if (installed) {
            register_snapshot(node);
        }
    }
}

static struct raft_configuration all_voters(unsigned n)
{
    raft_id ids[TN_MAX_NODES];
    for (unsigned k = 0; k < n; k++) {
        ids[k] = k + 1;
    }
    struct raft_configuration conf;
    raft_configuration_voters(&conf, ids, n);
    return conf;
}

static void boot_node(struct testnet *tn, struct tn_node *node)
{
    struct raft_options o = tn->opts;
    o.id = node->id;
    o.seed = common_mix64(tn->seed + node->id * 7919 + tn->round);
    struct raft_boot b;
    memset(&b, 0, sizeof b);
    b.hard_state = node->disk.hs;
    b.conf = node->disk.has_snap ? node->disk.snap_conf : tn->boot_conf;
    b.entries = node->disk.entries;
    b.n_entries = node->disk.len;
    if (node->disk.has_snap) {
        b.snapshot_index = node->disk.snap_index;
        b.snapshot_term = node->disk.snap_term;
        b.applied = node->disk.snap_index;
    }
    int rv = raft_new(&o, &b, &node->r);
    if (rv != 0) {
        violation(tn, "node %llu failed to boot from its disk: %s",
                  (unsigned long long)node->id, common_strerror(rv));
        node->r = NULL;
        return;
    }
    /* The state machine is rebuilt from the snapshot and the log. */
    node->applied = node->disk.has_snap ? node->disk.snap_index : 0;
    node->digest = 0;
    if (node->disk.has_snap) {
        memcpy(&node->digest, node->disk.snap_data, 8);
    }
    monitor_boot(tn->mon, node->id, node->disk.snap_index, node->disk.snap_term,
                 node->disk.entries, node->disk.len);
    register_snapshot(node);
}

void tn_snapshot(struct testnet *tn, raft_id id, unsigned keep)
{
    struct tn_node *node = tn_node(tn, id);
    if (node == NULL || node->r == NULL || node->applied == 0 ||
        node->applied <= node->disk.snap_index) {
        return;
    }
    raft_index index = node->applied;
    raft_term term = raft_term_at(node->r, index);
    if (term == 0) {
        return;
    }
    snap_fill(node->disk.snap_data, node->digest, index);
    node->disk.has_snap = true;
    node->disk.snap_index = index;
    struct raft_configuration at;
    int rv = raft_config_at(node->r, index, &at);
    assert(rv == 0);
    rv = raft_configuration_copy(&node->disk.snap_conf, &at,
                                 node->disk.snap_addresses,
                                 sizeof node->disk.snap_addresses);
    assert(rv == 0);
    (void)rv;
    node->disk.snap_term = term;
    disk_compact(&node->disk, index, term);
    register_snapshot(node);
    if (index > keep) {
        raft_compact(node->r, index - keep);
    }
    tn->snapshots_taken++;
}

struct testnet *tn_new(unsigned n,
                       const struct raft_options *opts,
                       uint64_t seed)
{
    if (n == 0 || n > TN_MAX_NODES) {
        return NULL;
    }
    struct raft_configuration all = all_voters(n);
    return tn_new_conf(n, &all, opts, seed);
}

struct testnet *tn_new_conf(unsigned n,
                            const struct raft_configuration *conf,
                            const struct raft_options *opts,
                            uint64_t seed)
{
    if (n == 0 || n > TN_MAX_NODES) {
        return NULL;
    }
    struct testnet *tn = calloc(1, sizeof *tn);
    if (tn == NULL) {
        return NULL;
    }
    tn->mon = monitor_new();
    if (tn->mon == NULL) {
        free(tn);
        return NULL;
    }
    tn->n = n;
    if (raft_configuration_copy(&tn->boot_conf, conf, tn->boot_addresses,
                                sizeof tn->boot_addresses) != 0) {
        monitor_free(tn->mon);
        free(tn);
        return NULL;
    }
    tn->opts = *opts;
    tn->seed = seed;
    common_prng_seed(&tn->prng, seed);
    for (unsigned k = 0; k < n; k++) {
        tn->nodes[k].id = k + 1;
        boot_node(tn, &tn->nodes[k]);
    }
    return tn;
}

void tn_free(struct testnet *tn)
{
    if (tn == NULL) {
        return;
    }
    for (unsigned k = 0; k < tn->n; k++) {
        raft_free(tn->nodes[k].r);
        disk_free(&tn->nodes[k].disk);
    }
    tn_clear_queue(tn);
    free(tn->queue);
    free(tn->digest_at);
    monitor_free(tn->mon);
    free(tn);
}

void tn_tick(struct testnet *tn, raft_id id)
{
    struct tn_node *node = tn_node(tn, id);
    if (node == NULL || node->r == NULL || node->paused) {
        return;
    }
    raft_tick(node->r);
    tn_process(tn, id);
}

void tn_round(struct testnet *tn)
{
    raft_id order[TN_MAX_NODES];
    for (unsigned k = 0; k < tn->n; k++) {
        order[k] = k + 1;
    }
    for (unsigned k = tn->n; k > 1; k--) {
        unsigned j = (unsigned)common_prng_below(&tn->prng, k);
        raft_id t = order[k - 1];
        order[k - 1] = order[j];
        order[j] = t;
    }
    for (unsigned k = 0; k < tn->n; k++) {
        tn_tick(tn, order[k]);
    }
    tn_deliver_all(tn, 1000000);
    tn->round++;
}

void tn_rounds(struct testnet *tn, unsigned count)
{
    for (unsigned k = 0; k < count; k++) {
        tn_round(tn);
    }
}

void tn_cut(struct testnet *tn, raft_id from, raft_id to, bool cut)
{
    if (from >= 1 && from <= tn->n && to >= 1 && to <= tn->n) {
        tn->cut[from - 1][to - 1] = cut;
    }
}

void tn_isolate(struct testnet *tn, raft_id id)
{
    for (raft_id k = 1; k <= tn->n; k++) {
        if (k != id) {
            tn_cut(tn, id, k, true);
            tn_cut(tn, k, id, true);
        }
    }
}

void tn_partition(struct testnet *tn, const raft_id *group, size_t len)
{
    bool in[TN_MAX_NODES] = {false};
    for (size_t k = 0; k < len; k++) {
        if (group[k] >= 1 && group[k] <= tn->n) {
            in[group[k] - 1] = true;
        }
    }
    for (unsigned i = 0; i < tn->n; i++) {
        for (unsigned j = 0; j < tn->n; j++) {
            tn->cut[i][j] = in[i] != in[j];
        }
    }
}

void tn_heal(struct testnet *tn)
{
    memset(tn->cut, 0, sizeof tn->cut);
}

void tn_crash(struct testnet *tn, raft_id id)
{
    struct tn_node *node = tn_node(tn, id);
    if (node == NULL || node->r == NULL) {
        return;
    }
    raft_free(node->r);
    node->r = NULL;
    node->paused = false;
}

void tn_restart(struct testnet *tn, raft_id id)
{
    struct tn_node *node = tn_node(tn, id);
    if (node == NULL || node->r != NULL) {
        return;
    }
    boot_node(tn, node);
    tn_process(tn, id);
}

void tn_lose_tail(struct testnet *tn, raft_id id, size_t n)
{
    struct tn_node *node = tn_node(tn, id);
    assert(node != NULL && node->r == NULL && n <= node->disk.len);
    struct tn_disk *d = &node->disk;
    raft_index from =
        d->len == n ? d->snap_index + 1 : d->entries[d->len - n].index;
    disk_truncate(d, from);
    if (d->hs.commit >= from) {
        d->hs.commit = from - 1;
    }
}

void tn_boot_log(struct testnet *tn,
                 raft_id id,
                 const raft_term *terms,
                 size_t n,
                 raft_term term,
                 raft_id vote)
{
    struct tn_node *node = tn_node(tn, id);
    tn_crash(tn, id);
    disk_truncate(&node->disk, 0);
    node->disk.has_snap = false;
    node->disk.snap_index = 0;
    node->disk.snap_term = 0;
    memset(&node->disk.hs, 0, sizeof node->disk.hs);
    node->disk.hs.term = term;
    node->disk.hs.vote = vote;
    for (size_t k = 0; k < n; k++) {
        char data[32];
        int len = snprintf(data, sizeof data, "t%llu-i%zu",
                           (unsigned long long)terms[k], k + 1);
        struct raft_entry e = {
            .term = terms[k],
            .index = k + 1,
            .type = RAFT_ENTRY_COMMAND,
            .data = {data, (size_t)len},
        };
        disk_append(tn, node, &e);
    }
    boot_node(tn, node);
}

int tn_propose(struct testnet *tn, raft_id id, const void *data, size_t len)
{
    struct tn_node *node = tn_node(tn, id);
    if (node == NULL || node->r == NULL) {
        return COMMON_EUNAVAILABLE;
    }
    int rv = raft_propose(node->r, data, len, NULL, NULL);
    tn_process(tn, id);
    return rv;
}

raft_id tn_leader(struct testnet *tn)
{
    raft_id best = 0;
    raft_term best_term = 0;
    for (unsigned k = 0; k < tn->n; k++) {
        const struct tn_node *node = &tn->nodes[k];
        if (node->r != NULL && raft_role(node->r) == RAFT_LEADER &&
            raft_current_term(node->r) >= best_term) {
            best = node->id;
            best_term = raft_current_term(node->r);
        }
    }
    return best;
}

raft_id tn_elect(struct testnet *tn, unsigned max)
{
    for (unsigned k = 0; k < max; k++) {
        raft_id l = tn_leader(tn);
        if (l != 0) {
            return l;
        }
        tn_round(tn);
    }
    return tn_leader(tn);
}

void tn_campaign(struct testnet *tn, raft_id id)
{
    struct tn_node *node = tn_node(tn, id);
    if (node == NULL || node->r == NULL) {
        return;
    }
    raft_campaign(node->r);
    tn_process(tn, id);
    tn_deliver_all(tn, 1000000);
}
