/*
 * The safety monitor (see monitor.h). All state sits behind one mutex,
 * skipped when the monitor is single-threaded (the sim driver's); the
 * work per update is O(entries in it), plus O(committed entries) once per
 * new leader for Leader Completeness.
 */
#include "monitor/monitor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/common.h"
#include "common/lock.h"

struct lm_slot
{
    raft_index index; /* 0: empty */
    raft_term term;
    uint64_t chain;
};

struct committed
{
    raft_term term; /* 0: unknown */
    uint64_t hash;
    /* A term no earlier than the one in which the entry was committed: the
     * current term of the first node seen applying it (the committing
     * leader applies before anyone can learn of the commit from it). */
    raft_term commit_term;
};

/* A node's persisted log as hashes: chain[k] covers every entry up to
 * index first + k, base the entries up to first - 1 (a snapshot's). */
struct node_view
{
    uint64_t *chain;
    raft_index first; /* index of chain[0] */
    uint64_t base;
    size_t len;
    size_t cap;
    raft_index applied;
    /* Indexes of the latest configuration entries in its log, oldest
     * first (the last few: the check needs only the latest). */
    raft_index confs[8];
    unsigned n_confs;
};

struct monitor
{
    struct common_lock lock;
    struct node_view nodes[MONITOR_MAX_NODES];
    raft_id *leader_of_term;
    size_t leader_cap;
    struct committed *committed;
    size_t committed_cap;
    raft_index committed_len;
    struct lm_slot *lm;
    size_t lm_cap;
    size_t lm_len;
    char violation[512];
    struct monitor_stats stats;
};

static void violation(struct monitor *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(struct monitor *m, const char *fmt, ...)
{
    if (m->violation[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->violation, sizeof m->violation, fmt, ap);
    va_end(ap);
}

/* Growth helpers: on failure the monitor stops checking rather than
 * crashing the run it watches, and says so. */
static bool grow(struct monitor *m,
                 void **p,
                 size_t *cap,
                 size_t need,
                 size_t elem)
{
    if (need <= *cap) {
        return true;
    }
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) {
            /* A table indexed by a term or index that large (only a
             * forged one comes near) cannot be held. */
            violation(m, "monitor: out of memory, checks stopped");
            return false;
        }
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (q == NULL) {
        violation(m, "monitor: out of memory, checks stopped");
        return false;
    }
    memset((char *)q + *cap * elem, 0, (c - *cap) * elem);
    *p = q;
    *cap = c;
    return true;
}

static uint64_t entry_hash(const struct raft_entry *e)
{
    uint64_t h = e->data.len > 0 ? XXH3_64bits(e->data.base, e->data.len) : 0;
    return common_mix64(h ^ (e->term * 0x100000001b3ull + (uint64_t)e->type));
}

void monitor_set_single_threaded(struct monitor *m)
{
    common_lock_switch_off(&m->lock);
}

struct monitor *monitor_new(void)
{
    struct monitor *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    if (common_lock_init(&m->lock) != 0) {
        free(m);
        return NULL;
    }
    for (size_t k = 0; k < MONITOR_MAX_NODES; k++) {
        m->nodes[k].first = 1;
    }
    return m;
}

void monitor_free(struct monitor *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t k = 0; k < MONITOR_MAX_NODES; k++) {
        free(m->nodes[k].chain);
    }
    free(m->leader_of_term);
    free(m->committed);
    free(m->lm);
    common_lock_fini(&m->lock);
    free(m);
}

static size_t lm_home(raft_index index, raft_term term, size_t cap)
{
    return (size_t)common_mix64(index * 31 + term) & (cap - 1);
}

/* Log Matching: the first node to persist (index, term) fixes the hash of
 * the prefix up to it; every later one must agree. */
static void lm_check(struct monitor *m,
                     raft_id id,
                     raft_index index,
                     raft_term term,
                     uint64_t chain)
{
    if (m->lm_len * 2 >= m->lm_cap) {
        size_t cap = m->lm_cap ? m->lm_cap * 2 : 1024;
        struct lm_slot *tab = calloc(cap, sizeof *tab);
        if (tab == NULL) {
            violation(m, "monitor: out of memory, checks stopped");
            return;
        }
        for (size_t k = 0; k < m->lm_cap; k++) {
            if (m->lm[k].index == 0) {
                continue;
            }
            size_t j = lm_home(m->lm[k].index, m->lm[k].term, cap);
            while (tab[j].index != 0) {
                j = (j + 1) & (cap - 1);
            }
            tab[j] = m->lm[k];
        }
        free(m->lm);
        m->lm = tab;
        m->lm_cap = cap;
    }
    size_t k = lm_home(index, term, m->lm_cap);
    while (m->lm[k].index != 0) {
        if (m->lm[k].index == index && m->lm[k].term == term) {
            if (m->lm[k].chain != chain) {
                violation(m,
                          "Log Matching: node %llu persisted index %llu term "
                          "%llu after a prefix that differs from another "
                          "node's",
                          (unsigned long long)id, (unsigned long long)index,
                          (unsigned long long)term);
            }
            return;
        }
        k = (k + 1) & (m->lm_cap - 1);
    }
    m->lm[k] = (struct lm_slot){index, term, chain};
    m->lm_len++;
}

static void view_truncate(struct node_view *v, raft_index from)
{
    while (v->n_confs > 0 && v->confs[v->n_confs - 1] >= from) {
        v->n_confs--;
    }
    if (from <= v->first) {
        v->len = 0;
    } else if (from - v->first < v->len) {
        v->len = (size_t)(from - v->first);
    }
}

/* The chain value recorded for (index, term), if any node persisted it. */
static bool lm_find(const struct monitor *m,
                    raft_index index,
                    raft_term term,
                    uint64_t *chain)
{
    if (m->lm_cap == 0) {
        return false;
    }
    size_t k = lm_home(index, term, m->lm_cap);
    while (m->lm[k].index != 0) {
        if (m->lm[k].index == index && m->lm[k].term == term) {
            *chain = m->lm[k].chain;
            return true;
        }
        k = (k + 1) & (m->lm_cap - 1);
    }
    return false;
}

/* The view now starts after a snapshot at (index, term). */
static void view_rebase(struct monitor *m,
                        raft_id id,
                        struct node_view *v,
                        raft_index index,
                        raft_term term)
{
    uint64_t base = 0;
    if (index > 0 && !lm_find(m, index, term, &base)) {
        violation(m,
                  "node %llu holds a snapshot at index %llu term %llu that "
                  "no node ever persisted",
                  (unsigned long long)id, (unsigned long long)index,
                  (unsigned long long)term);
    }
    if (index >= v->first && index - v->first < v->len &&
        v->chain[index - v->first] == base) {
        /* The log agrees with the snapshot: keep what follows it. */
        size_t drop = (size_t)(index - v->first) + 1;
        memmove(v->chain, v->chain + drop, (v->len - drop) * sizeof *v->chain);
        v->len -= drop;
    } else {
        v->len = 0;
        while (v->n_confs > 0 && v->confs[v->n_confs - 1] > index) {
            v->n_confs--;
        }
    }
    v->first = index + 1;
    v->base = base;
}

static void view_append(struct monitor *m,
                        raft_id id,
                        struct node_view *v,
                        const struct raft_entry *e)
{
    if (e->index != v->first + v->len) {
        violation(m, "node %llu persisted index %llu after index %llu",
                  (unsigned long long)id, (unsigned long long)e->index,
                  (unsigned long long)(v->first + v->len - 1));
        return;
    }
    if (!grow(m, (void **)&v->chain, &v->cap, v->len + 1, sizeof *v->chain)) {
        return;
    }
    uint64_t prev = v->len == 0 ? v->base : v->chain[v->len - 1];
    v->chain[v->len] = common_mix64(prev ^ entry_hash(e));
    if (e->type == RAFT_ENTRY_CONFIG) {
        if (v->n_confs == sizeof v->confs / sizeof v->confs[0]) {
            memmove(v->confs, v->confs + 1,
                    (v->n_confs - 1) * sizeof v->confs[0]);
            v->n_confs--;
        }
        v->confs[v->n_confs++] = e->index;
    }
    lm_check(m, id, e->index, e->term, v->chain[v->len]);
    v->len++;
}

static void check_applied(struct monitor *m,
                          raft_id id,
                          raft_term term,
                          struct node_view *v,
                          const struct raft_entry *e)
{
    if (e->index != v->applied + 1) {
        violation(m, "node %llu applied index %llu after index %llu",
                  (unsigned long long)id, (unsigned long long)e->index,
                  (unsigned long long)v->applied);
    }
    v->applied = e->index;
    m->stats.applied++;
    if (!grow(m, (void **)&m->committed, &m->committed_cap,
              (size_t)e->index + 1, sizeof *m->committed)) {
        return;
    }
    struct committed *c = &m->committed[e->index];
    uint64_t h = entry_hash(e);
    if (c->term == 0) {
        c->term = e->term;
        c->hash = h;
        c->commit_term = term;
        if (e->index > m->committed_len) {
            m->committed_len = e->index;
        }
        return;
    }
    if (c->term != e->term || c->hash != h) {
        violation(m,
                  "State Machine Safety: node %llu applied index %llu of term "
                  "%llu, but an entry of term %llu was applied there before",
                  (unsigned long long)id, (unsigned long long)e->index,
                  (unsigned long long)e->term, (unsigned long long)c->term);
    }
}

static void check_leader(struct monitor *m,
                         raft_id id,
                         const struct raft *r,
                         raft_term term)
{
    if (!grow(m, (void **)&m->leader_of_term, &m->leader_cap, (size_t)term + 1,
              sizeof *m->leader_of_term)) {
        return;
    }
    raft_id *l = &m->leader_of_term[term];
    if (*l == id) {
        return;
    }
    if (*l != 0) {
        violation(m, "Election Safety: nodes %llu and %llu both lead term %llu",
                  (unsigned long long)*l, (unsigned long long)id,
                  (unsigned long long)term);
        return;
    }
    *l = id;
    m->stats.terms_with_leader++;
    /* Leader Completeness (Figure 3): "If a log entry is committed in a
     * given term, then that entry will be present in the logs of the
     * leaders for all higher-numbered terms." A leader of an older term
     * can be seen late (its last vote delayed); it owes nothing to commits
     * of its own or later terms. */
    for (raft_index i = m->committed_len > 0 ? raft_first_index(r) : 1;
         i <= m->committed_len; i++) {
        const struct committed *c = &m->committed[i];
        if (c->term == 0 || c->commit_term >= term) {
            continue;
        }
        const struct raft_entry *e = raft_entry_at(r, i);
        if (e == NULL || e->term != c->term || entry_hash(e) != c->hash) {
            violation(m,
                      "Leader Completeness: node %llu leads term %llu without "
                      "index %llu (term %llu), committed in term %llu",
                      (unsigned long long)id, (unsigned long long)term,
                      (unsigned long long)i, (unsigned long long)c->term,
                      (unsigned long long)c->commit_term);
            return;
        }
    }
}

/* One membership change at a time (dissertation §4.1): a leader appends a
 * configuration entry of its term only when the configuration entry before
 * it in its log is committed. */
static void check_one_change(struct monitor *m,
                             raft_id id,
                             const struct node_view *v,
                             const struct raft_update *u)
{
    raft_index prev = v->n_confs > 0 ? v->confs[v->n_confs - 1] : 0;
    for (size_t k = 0; k < u->n_entries; k++) {
        const struct raft_entry *e = &u->entries[k];
        if (e->type != RAFT_ENTRY_CONFIG || e->term != u->hard_state.term) {
            continue;
        }
        if (prev > u->hard_state.commit) {
            violation(m,
                      "One change at a time: leader %llu of term %llu "
                      "appended a configuration entry at index %llu while "
                      "the one at index %llu was uncommitted (commit %llu)",
                      (unsigned long long)id,
                      (unsigned long long)u->hard_state.term,
                      (unsigned long long)e->index, (unsigned long long)prev,
                      (unsigned long long)u->hard_state.commit);
            return;
        }
        prev = e->index;
    }
}

/* Is @value above @max? Then that is a violation of the bounds. */
static bool beyond(struct monitor *m,
                   raft_id id,
                   const char *what,
                   uint64_t value,
                   uint64_t max)
{
    if (value <= max) {
        return false;
    }
    violation(m, "Bounds: node %llu %s %llu, beyond the bound 2^62",
              (unsigned long long)id, what, (unsigned long long)value);
    return true;
}

/* The bounds of raft.h: the core drops any term or index above them from
 * its peers and never produces one, so no node persists, installs or sends
 * one. */
static void check_bounds(struct monitor *m,
                         raft_id id,
                         const struct raft_update *u)
{
    if (beyond(m, id, "persisted term", u->hard_state.term, RAFT_TERM_MAX) ||
        beyond(m, id, "persisted commit index", u->hard_state.commit,
               RAFT_INDEX_MAX)) {
        return;
    }
    if (u->snapshot != NULL && (beyond(m, id, "installed a snapshot at index",
                                       u->snapshot->index, RAFT_INDEX_MAX) ||
                                beyond(m, id, "installed a snapshot of term",
                                       u->snapshot->term, RAFT_TERM_MAX))) {
        return;
    }
    for (size_t k = 0; k < u->n_entries; k++) {
        const struct raft_entry *e = &u->entries[k];
        if (beyond(m, id, "persisted an entry at index", e->index,
                   RAFT_INDEX_MAX) ||
            beyond(m, id, "persisted an entry of term", e->term,
                   RAFT_TERM_MAX)) {
            return;
        }
    }
    for (size_t k = 0; k < u->n_messages; k++) {
        if (beyond(m, id, "sent a message of term", u->messages[k].term,
                   RAFT_TERM_MAX)) {
            return;
        }
    }
}

void monitor_observe(struct monitor *m,
                     raft_id id,
                     const struct raft *r,
                     const struct raft_update *u)
{
    if (id < 1 || id > MONITOR_MAX_NODES) {
        return;
    }
    common_lock_take(&m->lock);
    check_bounds(m, id, u);
    struct node_view *v = &m->nodes[id - 1];
    if (u->snapshot != NULL) {
        const struct raft_snapshot *sn = u->snapshot;
        view_rebase(m, id, v, sn->index, sn->term);
        /* A snapshot holds applied state only: some node applied its
         * last entry (a node that joins empty, or comes back wiped, gets
         * all it has this way). */
        raft_term applied_term =
            sn->index < m->committed_cap ? m->committed[sn->index].term : 0;
        if (applied_term == 0) {
            violation(m,
                      "State Machine Safety: node %llu installed a snapshot "
                      "at index %llu of term %llu, which no node has applied",
                      (unsigned long long)id, (unsigned long long)sn->index,
                      (unsigned long long)sn->term);
        } else if (applied_term != sn->term) {
            violation(m,
                      "State Machine Safety: node %llu installed a snapshot "
                      "at index %llu of term %llu, but an entry of term %llu "
                      "was applied there",
                      (unsigned long long)id, (unsigned long long)sn->index,
                      (unsigned long long)sn->term,
                      (unsigned long long)applied_term);
        }
        if (v->applied < sn->index) {
            v->applied = sn->index;
        }
    }
    if (u->truncate_from != 0) {
        if (u->role == RAFT_LEADER) {
            /* Leader Append-Only (Figure 3): "a leader never overwrites or
             * deletes entries in its log". */
            violation(m,
                      "Leader Append-Only: leader %llu of term %llu deleted "
                      "its entries from index %llu",
                      (unsigned long long)id,
                      (unsigned long long)u->hard_state.term,
                      (unsigned long long)u->truncate_from);
        }
        view_truncate(v, u->truncate_from);
    }
    if (u->role == RAFT_LEADER) {
        check_one_change(m, id, v, u);
    }
    for (size_t k = 0; k < u->n_entries; k++) {
        view_append(m, id, v, &u->entries[k]);
    }
    if (u->hard_state.term > m->stats.highest_term) {
        m->stats.highest_term = u->hard_state.term;
    }
    if (u->role == RAFT_LEADER) {
        check_leader(m, id, r, u->hard_state.term);
    }
    for (size_t k = 0; k < u->n_committed; k++) {
        check_applied(m, id, u->hard_state.term, v, &u->committed[k]);
    }
    m->stats.committed = m->committed_len;
    common_lock_release(&m->lock);
}

void monitor_boot(struct monitor *m,
                  raft_id id,
                  raft_index snapshot_index,
                  raft_term snapshot_term,
                  const struct raft_entry *e,
                  size_t n)
{
    if (id < 1 || id > MONITOR_MAX_NODES) {
        return;
    }
    common_lock_take(&m->lock);
    struct node_view *v = &m->nodes[id - 1];
    v->len = 0;
    v->first = 1;
    v->base = 0;
    v->n_confs = 0;
    if (snapshot_index > 0) {
        view_rebase(m, id, v, snapshot_index, snapshot_term);
    }
    v->applied = snapshot_index;
    for (size_t k = 0; k < n; k++) {
        view_append(m, id, v, &e[k]);
    }
    common_lock_release(&m->lock);
}

bool monitor_ok(struct monitor *m)
{
    common_lock_take(&m->lock);
    bool ok = m->violation[0] == '\0';
    common_lock_release(&m->lock);
    return ok;
}

void monitor_violation(struct monitor *m, char *buf, size_t size)
{
    common_lock_take(&m->lock);
    snprintf(buf, size, "%s", m->violation);
    common_lock_release(&m->lock);
}

void monitor_stats(struct monitor *m, struct monitor_stats *s)
{
    common_lock_take(&m->lock);
    *s = m->stats;
    common_lock_release(&m->lock);
}
