/*
 * raft_random: seeded randomized trials over testnet.
 *
 * Each trial draws a cluster size, timing, flow-control limits, and a fault
 * mix (loss, duplication, delay, reordering), then alternates chaos phases
 * (random partitions including one-way cuts, crashes and restarts,
 * proposals at whoever leads, events interleaved one at a time) with
 * stable phases (a random majority cleanly connected, no faults), in which
 * the cluster must make progress: a leader in the majority commits a fresh
 * proposal and every member of the majority applies it within a bounded
 * number of ticks. The safety monitor of testnet checks Election Safety,
 * Log Matching, Leader Completeness and State Machine Safety after every
 * update of every node, and that no node persists or sends a term or index
 * above RAFT_TERM_MAX or RAFT_INDEX_MAX.
 *
 * Now and then, in both kinds of phase, a node also receives a forged
 * message from a peer: any type, with its term or one of its index or term
 * fields above the bound. It must be dropped for that reason, changing
 * nothing. The forgeries draw from a PRNG of their own, and a dropped one
 * leaves the node as it was, so each seed's trial is otherwise the same as
 * without them.
 *
 * In half the trials the leader also proposes single-server membership
 * changes now and then (add a node as a learner or a voter, promote,
 * demote, remove - itself too) and leadership transfers during chaos
 * phases, drawn from a PRNG of their own. A stable phase's group then grows
 * until it holds a majority of the voters of every configuration its members
 * hold, and progress is asked of the members of the leader's configuration.
 *
 * Usage: raft_random [SEED] [TRIALS]. Without arguments it runs 10,000
 * trials from seed 1; a failing trial prints its seed, and passing that
 * seed back alone reruns exactly that trial.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "testnet.h"

static uint64_t first_seed = 1;
static volatile uint64_t current_seed;
static uint64_t trials = 10000;

/* Totals over all trials, printed so that a run shows it did real work. */
static struct
{
    uint64_t delivered;
    uint64_t dropped;
    uint64_t applied;
    uint64_t leader_terms;
    uint64_t chaos_commits; /* entries committed during chaos phases */
    uint64_t crashes;
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    uint64_t crashes_mid_write;
    uint64_t forged;
    uint64_t conf_proposed; /* membership changes the leader accepted */
    uint64_t conf_refused;  /* ... refused (one at a time, lag, ...) */
    uint64_t transfers;     /* leadership transfers started */
} totals;

struct trial
{
    struct testnet *tn;
    struct common_prng prng;
    struct common_prng forge_prng; /* forged messages only */
    struct common_prng conf_prng;  /* membership changes only */
    bool membership;               /* this trial changes membership */
    uint64_t seed;
    unsigned proposals;
    double loss;
    double duplicate;
    unsigned delay_max;
    raft_index chaos_commit;
    char why[512];
};

static void fail_trial(struct trial *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_trial(struct trial *t, const char *fmt, ...)
{
    if (t->why[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->why, sizeof t->why, fmt, ap);
    va_end(ap);
}

static void propose_somewhere(struct trial *t)
{
    for (raft_id id = 1; id <= t->tn->n; id++) {
        struct tn_node *nd = tn_node(t->tn, id);
        if (nd->r != NULL && raft_role(nd->r) == RAFT_LEADER) {
            char buf[48];
            int len = snprintf(buf, sizeof buf, "s%llu-p%u",
                               (unsigned long long)t->seed, t->proposals++);
            tn_propose(t->tn, id, buf, (size_t)len);
        }
    }
}

/* Random groups: each node joins one of 1-3 sides; sometimes a few extra
 * one-way cuts on top. */
static void random_partition(struct trial *t)
{
    struct testnet *tn = t->tn;
    tn_heal(tn);
    unsigned sides = (unsigned)common_prng_range(&t->prng, 1, 3);
    unsigned side[TN_MAX_NODES];
    for (unsigned k = 0; k < tn->n; k++) {
        side[k] = (unsigned)common_prng_below(&t->prng, sides);
    }
    for (unsigned i = 0; i < tn->n; i++) {
        for (unsigned j = 0; j < tn->n; j++) {
            tn->cut[i][j] = side[i] != side[j];
        }
    }
    unsigned oneway = (unsigned)common_prng_below(&t->prng, 3);
    for (unsigned k = 0; k < oneway; k++) {
        raft_id a = common_prng_range(&t->prng, 1, tn->n);
        raft_id b = common_prng_range(&t->prng, 1, tn->n);
        tn_cut(tn, a, b, true);
    }
}

/* A value above RAFT_TERM_MAX and RAFT_INDEX_MAX (both 2^62). */
static uint64_t forged_value(struct common_prng *p)
{
    switch (common_prng_below(p, 3)) {
        case 0:
            return RAFT_TERM_MAX + 1 + common_prng_below(p, 1000);
        case 1:
            return UINT64_MAX - common_prng_below(p, 1000);
        default:
            return common_prng_range(p, RAFT_TERM_MAX + 1, UINT64_MAX);
    }
}

/* A message of a random type from a random peer of @r (node @to), well
 * formed but for its term or one of its index or term fields, which is
 * above the bound. Entries and the configuration live in @es and @conf. */
static struct raft_message forge_message(struct common_prng *p,
                                         struct testnet *tn,
                                         raft_id to,
                                         const struct raft *r,
                                         struct raft_entry *es,
                                         uint8_t *conf,
                                         size_t conf_cap)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = (enum raft_msg_type)common_prng_range(p, 1, RAFT_MSG_TYPE_MAX);
    m.to = to;
    m.from = common_prng_range(p, 1, tn->n - 1);
    if (m.from >= to) {
        m.from++;
    }
    /* A valid term, often news to the receiver: adopting it would show. */
    m.term = raft_current_term(r) + common_prng_below(p, 3);
    if (m.term == 0) {
        m.term = 1;
    }
    uint64_t v = forged_value(p);
    /* Field 0 is the message's term; the others are the type's fields. */
    unsigned field = 0;
    switch (m.type) {
        case RAFT_MSG_VOTE:
            field = (unsigned)common_prng_below(p, 3);
            m.vote.pre_vote = common_prng_chance(p, 0.5);
            m.vote.last_index = field == 1 ? v : raft_last_index(r);
            m.vote.last_term = field == 2 ? v : raft_last_term(r);
            break;
        case RAFT_MSG_VOTE_RESP:
            m.vote_resp.granted = common_prng_chance(p, 0.5);
            m.vote_resp.pre_vote = common_prng_chance(p, 0.5);
            break;
        case RAFT_MSG_APPEND:
            field = (unsigned)common_prng_below(p, 6);
            m.append.prev_index = field == 1 ? v : 0;
            m.append.prev_term = field == 2 ? v : 0;
            m.append.commit = field == 3 ? v : 0;
            if (field == 4 || field == 5) {
                /* An entry of a forged term, or one past RAFT_INDEX_MAX. */
                es[0] = (struct raft_entry){.term = field == 4 ? v : m.term,
                                            .index = 1,
                                            .type = RAFT_ENTRY_NOOP};
                if (field == 5) {
                    m.append.prev_index = RAFT_INDEX_MAX;
                    m.append.prev_term = m.term;
                    es[0].index = RAFT_INDEX_MAX + 1;
                }
                m.append.entries = es;
                m.append.n_entries = 1;
            }
            break;
        case RAFT_MSG_APPEND_RESP:
            field = (unsigned)common_prng_below(p, 4);
            m.append_resp.success = common_prng_chance(p, 0.5);
            m.append_resp.index = field == 1 ? v : 0;
            m.append_resp.hint_index = field == 2 ? v : 0;
            m.append_resp.hint_term = field == 3 ? v : 0;
            break;
        case RAFT_MSG_HEARTBEAT:
            field = (unsigned)common_prng_below(p, 3);
            m.heartbeat.commit = field == 1 ? v : 0;
            m.heartbeat.context = field == 2 ? v : 0;
            break;
        case RAFT_MSG_HEARTBEAT_RESP:
            field = (unsigned)common_prng_below(p, 2);
            m.heartbeat_resp.context = field == 1 ? v : 0;
            break;
        case RAFT_MSG_SNAPSHOT:
            field = (unsigned)common_prng_below(p, 3);
            m.snapshot.index = field == 1 ? v : 1;
            m.snapshot.term = field == 2 ? v : 1;
            m.snapshot.conf = conf;
            m.snapshot.conf_len =
                raft_configuration_encode(raft_config(r), conf, conf_cap);
            m.snapshot.done = true;
            break;
        case RAFT_MSG_SNAPSHOT_RESP:
            field = (unsigned)common_prng_below(p, 3);
            m.snapshot_resp.index = field == 1 ? v : 0;
            m.snapshot_resp.term = field == 2 ? v : 0;
            break;
        case RAFT_MSG_TIMEOUT_NOW:
            break; /* only its term can be forged */
    }
    if (field == 0) {
        m.term = v;
        if (m.type == RAFT_MSG_SNAPSHOT) {
            m.snapshot.term = v; /* a chunk's term is at most its message's */
        }
    }
    return m;
}

/* Now and then (from the forgery PRNG), a forged message to a live node:
 * it must be dropped for a term or index beyond the bounds, leaving term,
 * vote, commit and log as they were. */
static void maybe_forge(struct trial *t, double chance)
{
    struct common_prng *p = &t->forge_prng;
    if (!common_prng_chance(p, chance)) {
        return;
    }
    struct testnet *tn = t->tn;
    raft_id to = common_prng_range(p, 1, tn->n);
    struct tn_node *nd = tn_node(tn, to);
    if (nd->r == NULL || nd->paused) {
        return;
    }
    struct raft_entry es[1];
    uint8_t conf[8 + 9 * RAFT_MAX_SERVERS];
    struct raft_message m =
        forge_message(p, tn, to, nd->r, es, conf, sizeof conf);
    if (raft_configuration_find(raft_config(nd->r), m.from) < 0) {
        /* Not a member (membership changed): dropped for that first. */
        return;
    }
    raft_term term = raft_current_term(nd->r);
    raft_id vote = raft_voted_for(nd->r);
    raft_index commit = raft_commit_index(nd->r);
    raft_index last = raft_last_index(nd->r);
    int rv = raft_step(nd->r, &m);
    const char *why = raft_last_drop_reason(nd->r);
    totals.forged++;
    if (rv != COMMON_EDROPPED || why == NULL || strstr(why, "beyond") == NULL ||
        raft_current_term(nd->r) != term || raft_voted_for(nd->r) != vote ||
        raft_commit_index(nd->r) != commit || raft_last_index(nd->r) != last) {
        fail_trial(t,
                   "a forged %s of term %llu to node %llu was not dropped for "
                   "its bounds (%d, %s)",
                   raft_msg_type_name((int)m.type), (unsigned long long)m.term,
                   (unsigned long long)to, rv, why != NULL ? why : "no reason");
    }
    tn_process(tn, to);
}

/* A random single-server change at whoever leads. */
static void maybe_change(struct trial *t, double chance)
{
    struct common_prng *p = &t->conf_prng;
    if (!t->membership || !common_prng_chance(p, chance)) {
        return;
    }
    struct testnet *tn = t->tn;
    raft_id l = tn_leader(tn);
    if (l == 0) {
        return;
    }
    struct raft *r = tn_node(tn, l)->r;
    struct raft_configuration c = *raft_config(r);
    raft_id id = common_prng_range(p, 1, tn->n);
    if (common_prng_chance(p, 0.25)) {
        if (raft_transfer_leadership(r, id) == 0) {
            totals.transfers++;
        }
        tn_process(tn, l);
        return;
    }
    int k = raft_configuration_find(&c, id);
    bool flip = common_prng_chance(p, 0.5);
    if (k < 0) {
        c.servers[c.count].id = id;
        c.servers[c.count].role = flip ? RAFT_VOTER : RAFT_LEARNER;
        c.count++;
    } else if (flip) {
        c.servers[k].role =
            c.servers[k].role == RAFT_VOTER ? RAFT_LEARNER : RAFT_VOTER;
    } else {
        c.servers[k] = c.servers[c.count - 1];
        c.count--;
    }
    if (!raft_configuration_valid(&c)) {
        return; /* the last voter stays */
    }
    if (raft_propose_conf(r, &c, NULL) == 0) {
        totals.conf_proposed++;
    } else {
        totals.conf_refused++;
    }
    tn_process(tn, l);
}

static void chaos_event(struct trial *t)
{
    struct testnet *tn = t->tn;
    maybe_forge(t, 0.02);
    maybe_change(t, 0.01);
    uint64_t x = common_prng_below(&t->prng, 100);
    raft_id id = common_prng_range(&t->prng, 1, tn->n);
    if (x < 6) {
        random_partition(t);
    } else if (x < 8) {
        tn_heal(tn);
    } else if (x < 10) {
        if (tn_node(tn, id)->r != NULL) {
            totals.crashes++;
        }
        tn_crash(tn, id);
    } else if (x < 14) {
        tn_restart(tn, id);
    } else if (x < 16) {
        /* Snapshot and compact, keeping a few entries or none, so that
         * lagging followers need InstallSnapshot. */
        tn_snapshot(tn, id, (unsigned)common_prng_below(&t->prng, 4));
    } else if (x < 30) {
        propose_somewhere(t);
    } else if (x < 55) {
        tn_tick(tn, id);
    } else {
        tn_deliver_one(tn);
    }
}

/* Does @group hold a majority of the voters of each configuration one of
 * its members holds? Any of them may lead with its own. */
static bool group_covers(struct testnet *tn, const raft_id *group, size_t m)
{
    for (size_t k = 0; k < m; k++) {
        struct raft *r = tn_node(tn, group[k])->r;
        if (r == NULL) {
            return false;
        }
        const struct raft_configuration *c = raft_config(r);
        unsigned in = 0;
        for (size_t j = 0; j < m; j++) {
            int at = raft_configuration_find(c, group[j]);
            in += at >= 0 && c->servers[at].role == RAFT_VOTER;
        }
        if (in < raft_configuration_voter_count(c) / 2 + 1) {
            return false;
        }
    }
    return true;
}

/* Stable phase: a random majority (grown to a majority of every
 * configuration its members hold), cleanly connected, no faults. Returns
 * false (with the reason in t->why) if it makes no progress in time. */
static bool stable_phase(struct trial *t)
{
    struct testnet *tn = t->tn;
    raft_id group[TN_MAX_NODES];
    size_t m = 0;
    unsigned quorum = tn->n / 2 + 1;
    size_t size = (size_t)common_prng_range(&t->prng, quorum, tn->n);
    raft_id order[TN_MAX_NODES];
    for (unsigned k = 0; k < tn->n; k++) {
        order[k] = k + 1;
    }
    for (unsigned k = tn->n; k > 1; k--) {
        unsigned j = (unsigned)common_prng_below(&t->prng, k);
        raft_id tmp = order[k - 1];
        order[k - 1] = order[j];
        order[j] = tmp;
    }
    for (m = 0; m < size; m++) {
        group[m] = order[m];
        tn_restart(tn, group[m]);
    }
    while (m < tn->n && !group_covers(tn, group, m)) {
        group[m] = order[m];
        tn_restart(tn, group[m]);
        m++;
    }
    tn_partition(tn, group, m);
    tn->loss = 0;
    tn->duplicate = 0;
    tn->delay_max = 0;
    tn->crash_mid_write = 0;

    /* Bound: a stale leader outside the group is irrelevant; inside it
     * CheckQuorum, leases and randomized timeouts settle within a few
     * election timeouts. 60 timeouts leaves room for repeated split votes
     * without hiding a livelock. */
    unsigned bound = 60 * tn->opts.election_ticks;
    raft_id leader = 0;
    char marker[48];
    int marker_len = 0;
    raft_index marker_index = 0;
    for (unsigned round = 0; round < bound; round++) {
        maybe_forge(t, 0.1);
        tn_round(tn);
        if (!tn_safe(tn) || t->why[0] != '\0') {
            return false;
        }
        raft_id l = 0;
        for (size_t k = 0; k < m; k++) {
            struct raft *r = tn_node(tn, group[k])->r;
            if (raft_role(r) == RAFT_LEADER) {
                l = group[k];
            }
        }
        if (l == 0) {
            continue;
        }
        if (l != leader) {
            leader = l;
            marker_len = snprintf(marker, sizeof marker, "stable-%llu-%u",
                                  (unsigned long long)t->seed, round);
            struct raft *r = tn_node(tn, l)->r;
            int rv = raft_propose(r, marker, (size_t)marker_len, &marker_index,
                                  NULL);
            if (rv == COMMON_EBUSY) {
                /* A leadership transfer from the chaos phase is under
                 * way: it ends within an election timeout. */
                leader = 0;
                continue;
            }
            if (rv != 0) {
                fail_trial(t, "leader %llu refused a proposal",
                           (unsigned long long)l);
                return false;
            }
            tn_process(tn, l);
        }
        bool all = true;
        const struct raft_configuration *lc = raft_config(tn_node(tn, l)->r);
        for (size_t k = 0; k < m; k++) {
            struct tn_node *nd = tn_node(tn, group[k]);
            /* Only members get the leader's log. */
            if (raft_configuration_find(lc, group[k]) >= 0 &&
                nd->applied < marker_index) {
                all = false;
            }
        }
        if (all) {
            const struct raft_entry *e =
                raft_entry_at(tn_node(tn, l)->r, marker_index);
            if (e == NULL || e->data.len != (size_t)marker_len ||
                memcmp(e->data.base, marker, (size_t)marker_len) != 0) {
                fail_trial(t, "the stable-phase proposal was replaced");
                return false;
            }
            return true;
        }
    }
    if (getenv("RAFT_RANDOM_DEBUG") != NULL) {
        for (raft_id id = 1; id <= tn->n; id++) {
            struct raft *r = tn_node(tn, id)->r;
            if (r == NULL) {
                fprintf(stderr, "  node %llu: down\n", (unsigned long long)id);
                continue;
            }
            fprintf(stderr,
                    "  node %llu: %s term %llu vote %llu leader %llu last "
                    "%llu/%llu commit %llu applied %llu\n",
                    (unsigned long long)id, raft_role_name((int)raft_role(r)),
                    (unsigned long long)raft_current_term(r),
                    (unsigned long long)raft_voted_for(r),
                    (unsigned long long)raft_leader(r),
                    (unsigned long long)raft_last_index(r),
                    (unsigned long long)raft_last_term(r),
                    (unsigned long long)raft_commit_index(r),
                    (unsigned long long)tn_node(tn, id)->applied);
            const struct raft_configuration *c = raft_config(r);
            fprintf(stderr, "    configuration (entry %llu):",
                    (unsigned long long)raft_config_index(r));
            for (uint32_t k = 0; k < c->count; k++) {
                fprintf(stderr, " %s%llu",
                        c->servers[k].role == RAFT_VOTER ? "" : "l",
                        (unsigned long long)c->servers[k].id);
            }
            fprintf(stderr, "\n");
        }
    }
    fail_trial(t,
               "no progress within %u rounds with a connected majority of "
               "%zu (leader %llu)",
               bound, m, (unsigned long long)leader);
    return false;
}

static bool run_trial(uint64_t seed, char *why, size_t why_len)
{
    struct trial t;
    memset(&t, 0, sizeof t);
    t.seed = seed;
    common_prng_seed(&t.prng, seed);
    common_prng_seed(&t.forge_prng, seed ^ 0x666f726765ull);
    common_prng_seed(&t.conf_prng, seed ^ 0x636f6e66ull);
    t.membership = common_prng_chance(&t.conf_prng, 0.5);
    static const unsigned sizes[] = {3, 3, 3, 5, 5, 7};
    unsigned n = sizes[common_prng_below(&t.prng, 6)];

    struct raft_options o;
    raft_options_default(&o);
    /* Short timeouts make many terms and leader changes per trial, which is
     * where the interesting histories (Figure 8 among them) come from. */
    o.election_ticks = (unsigned)common_prng_range(&t.prng, 2, 6);
    o.heartbeat_ticks =
        (unsigned)common_prng_range(&t.prng, 1, o.election_ticks / 2);
    o.max_inflight = (unsigned)common_prng_range(&t.prng, 1, 8);
    o.max_entries_per_msg = (unsigned)common_prng_range(&t.prng, 1, 6);
    /* Snapshots are 200 bytes: this sends them in 1 to 4 chunks. */
    o.max_bytes_per_msg = (size_t)common_prng_range(&t.prng, 64, 256);
    o.pre_vote = common_prng_chance(&t.prng, 0.8);
    o.check_quorum = common_prng_chance(&t.prng, 0.8);
    t.tn = tn_new(n, &o, seed);
    if (t.tn == NULL) {
        snprintf(why, why_len, "no memory");
        return false;
    }
    t.loss = common_prng_chance(&t.prng, 0.5)
                 ? common_prng_double(&t.prng) * 0.3
                 : 0;
    t.duplicate = common_prng_chance(&t.prng, 0.3)
                      ? common_prng_double(&t.prng) * 0.1
                      : 0;
    t.delay_max = (unsigned)common_prng_below(&t.prng, 4);
    bool reorder = common_prng_chance(&t.prng, 0.5);
    /* Leaders crash between sending AppendEntries and finishing their own
     * disk write now and then. */
    double mid_write = common_prng_chance(&t.prng, 0.5) ? 0.02 : 0;

    bool ok = true;
    unsigned phases = 4;
    for (unsigned phase = 0; phase < phases && ok; phase++) {
        t.tn->loss = t.loss;
        t.tn->duplicate = t.duplicate;
        t.tn->delay_max = t.delay_max;
        t.tn->reorder = reorder;
        t.tn->crash_mid_write = mid_write;
        unsigned events = (unsigned)common_prng_range(&t.prng, 600, 1800);
        for (unsigned e = 0; e < events; e++) {
            chaos_event(&t);
            if ((e & 15) == 15) {
                t.tn->round++; /* the clock for message delays */
            }
        }
        if (!tn_safe(t.tn) || t.why[0] != '\0') {
            ok = false;
            break;
        }
        for (raft_id id = 1; id <= n; id++) {
            struct tn_node *nd = tn_node(t.tn, id);
            if (nd->r != NULL && raft_commit_index(nd->r) > t.chaos_commit) {
                t.chaos_commit = raft_commit_index(nd->r);
            }
        }
        ok = stable_phase(&t);
    }
    for (raft_id id = 1; id <= n; id++) {
        struct raft *r = tn_node(t.tn, id)->r;
        if (r != NULL && raft_current_term(r) > RAFT_TERM_MAX) {
            fail_trial(&t, "node %llu reached term %llu, beyond the bound",
                       (unsigned long long)id,
                       (unsigned long long)raft_current_term(r));
            ok = false;
        }
    }
    if (!tn_safe(t.tn)) {
        snprintf(why, why_len, "%s", tn_violation(t.tn));
        ok = false;
    } else if (!ok) {
        snprintf(why, why_len, "%s", t.why);
    }
    totals.delivered += t.tn->delivered;
    totals.snapshots_taken += t.tn->snapshots_taken;
    totals.crashes_mid_write += t.tn->crashes_mid_write;
    totals.snapshots_installed += t.tn->snapshots_installed;
    totals.dropped += t.tn->dropped;
    totals.chaos_commits += t.chaos_commit;
    for (raft_id id = 1; id <= n; id++) {
        totals.applied += tn_node(t.tn, id)->applied_count;
    }
    struct monitor_stats ms;
    monitor_stats(t.tn->mon, &ms);
    totals.leader_terms += ms.terms_with_leader;
    tn_free(t.tn);
    return ok;
}

/* A crash (a failed assertion inside the core, a bad pointer) must still
 * name the seed that reproduces it: print it, then let the signal go on to
 * cmocka's handler. */
static struct sigaction previous[32];

static void on_fatal_signal(int sig)
{
    char buf[80] = "raft_random: crashed in trial with seed ";
    size_t n = strlen(buf);
    char digits[24];
    size_t d = 0;
    uint64_t v = current_seed;
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && d < sizeof digits);
    while (d > 0 && n < sizeof buf - 2) {
        buf[n++] = digits[--d];
    }
    buf[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w;
    sigaction(sig, &previous[sig], NULL);
    raise(sig);
}

static void catch_fatal_signals(void)
{
    const int sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[k], &sa, &previous[sigs[k]]);
    }
}

/* Thousands of seeded trials: never two leaders in a term, committed
 * entries never lost or changed, progress whenever a quorum is connected. */
static void random_trials_keep_safety_and_progress(void **state)
{
    (void)state;
    catch_fatal_signals();
    uint64_t failed = 0;
    for (uint64_t k = 0; k < trials; k++) {
        uint64_t seed = first_seed + k;
        current_seed = seed;
        char why[512] = "";
        if (!run_trial(seed, why, sizeof why)) {
            fprintf(stderr,
                    "raft_random: trial failed, seed %llu: %s\n"
                    "  rerun: raft_random %llu\n",
                    (unsigned long long)seed, why, (unsigned long long)seed);
            if (++failed >= 5) {
                break;
            }
        }
    }
    printf(
        "raft_random: %llu trials from seed %llu, %llu failed\n"
        "  messages delivered %llu, dropped %llu; entries applied %llu;\n"
        "  terms with a leader %llu; highest commit after chaos "
        "phases, summed %llu; crashes %llu\n"
        "  snapshots taken %llu, installed by InstallSnapshot %llu; leaders "
        "crashed mid-write %llu\n"
        "  forged messages beyond the bounds dropped %llu\n"
        "  membership changes proposed %llu, refused %llu; leadership "
        "transfers started %llu\n",
        (unsigned long long)trials, (unsigned long long)first_seed,
        (unsigned long long)failed, (unsigned long long)totals.delivered,
        (unsigned long long)totals.dropped, (unsigned long long)totals.applied,
        (unsigned long long)totals.leader_terms,
        (unsigned long long)totals.chaos_commits,
        (unsigned long long)totals.crashes,
        (unsigned long long)totals.snapshots_taken,
        (unsigned long long)totals.snapshots_installed,
        (unsigned long long)totals.crashes_mid_write,
        (unsigned long long)totals.forged,
        (unsigned long long)totals.conf_proposed,
        (unsigned long long)totals.conf_refused,
        (unsigned long long)totals.transfers);
    assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        first_seed = strtoull(argv[1], NULL, 10);
        trials = 1;
    }
    if (argc > 2) {
        trials = strtoull(argv[2], NULL, 10);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_trials_keep_safety_and_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
