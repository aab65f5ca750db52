/*
 * The nemesis (see nemesis.h): the scenario's fault timeline, the random
 * nemesis, and the record of the faults in force.
 *
 * The functions that put a fault in force also write it down: cut_groups
 * (partitions, isolations), set_link_faults, crash_node, pause_node, and
 * put_in_force's restart and resume; heal_network and revive_all undo
 * both. One-link cuts and forged messages leave no record (a heal ends
 * the cuts). The timeline's faults name their targets ("leader",
 * "random", "all"; in partitions, cuts and links also "follower" and
 * "followers") and the random nemesis draws its own; both resolve them
 * against the record, never against the cluster's view of its nodes,
 * which lags behind a crash that has not struck yet. Only the leader is
 * the cluster's to say (cluster_leader).
 *
 * The random nemesis holds one fault at a time (single_step) unless the
 * scenario's nemesis.concurrent is N > 1 (composite_step): then every
 * interval it starts N faults at once, each held for its own time drawn
 * in [fault_s / 2, fault_s], and as each ends only what it did is undone
 * - the network's cuts become the common refinement of the splits still
 * in force plus their one-way cuts, the links get the loss and delay
 * still in force, its node comes back. The last one to end heals
 * everything, as a single fault does, and only that heal tells the judge
 * a leader is due: while another fault holds, it may rightly keep the
 * cluster without one (a partition and an isolated leader together can
 * leave no majority anywhere). Since fault_s <= interval_s, every burst
 * has healed before the next begins.
 *
 * crash_after faults arm a node in the cluster, which crashes it on its
 * own when the vote or acknowledgement comes; reap_tripped writes those
 * crashes down at the next step, so that restart finds them.
 *
 * Determinism: every draw comes from the nemesis's PRNG, in the order the
 * faults fire, so the same seed fires the same faults at the same nodes.
 * Changing the order of the draws here changes the history of every sim
 * run whose faults draw from the seed.
 */
#include "nemesis.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "membership.h"

/* Salt of the nemesis's randomness ("neme"). */
#define NEMESIS_SALT 0x6e656d65ull
/* Salt of the swarm's draws ("swarm"). */
#define SWARM_SALT 0x737761726dull

/* The random nemesis's kinds of fault (enum scenario_nemesis_fault). */
#define RANDOM_KINDS 7

/* One fault of the random nemesis, drawn before it is put in force. */
struct random_fault
{
    unsigned kind; /* enum scenario_nemesis_fault */
    raft_id node;  /* CRASH, PAUSE: the node; ONE_WAY: the sending end */
    raft_id to;    /* ONE_WAY: the receiving end */
    /* PARTITION, ISOLATE_LEADER: group[k] of node k + 1, 0 or 1 (the side
     * cut off). */
    unsigned group[SCENARIO_MAX_NODES];
    uint64_t heal_at; /* concurrent > 1: when it ends (its own time) */
    char desc[128];
};

struct nemesis
{
    struct nemesis_config cfg;
    const struct scenario *s;
    struct cluster *cl;
    struct common_prng prng;
    unsigned nodes;
    size_t next_fault; /* the timeline's next fault */

    /* Faults in force. */
    bool crashed[SCENARIO_MAX_NODES + 1];
    bool paused[SCENARIO_MAX_NODES + 1];
    bool split; /* a partition or isolation holds (since cur.start) */
    bool link_faults;
    struct nemesis_interval cur;
    struct nemesis_interval *intervals;
    size_t n_intervals;
    char faults_desc[160];

    /* The random nemesis. */
    uint64_t random_next;    /* when it next draws a fault */
    uint64_t random_heal_at; /* 0: none of its faults in force */
    char random_desc[128];   /* ... the one in force */
    /* With concurrent > 1: its faults in force, in the order they began
     * (all in the same step, one burst). */
    struct random_fault active[SCENARIO_MAX_CONCURRENT];
    unsigned n_active;

    /* crash_after faults were armed: nodes may go down on their own. */
    bool armed;

    /* Membership actions and the membership nemesis. */
    struct membership *members;
};

static uint64_t s_to_ns(double s)
{
    return (uint64_t)(s * 1e9);
}

static void logf_nemesis(struct nemesis *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_nemesis(struct nemesis *n, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    n->cfg.log(n->cfg.log_data, cluster_now(n->cl), buf);
}

/* The fault shown on the status line while faults hold. */
static void set_desc(struct nemesis *n, const char *desc)
{
    snprintf(n->faults_desc, sizeof n->faults_desc, "%s", desc);
}

int nemesis_new(const struct nemesis_config *cfg, struct nemesis **out)
{
    assert(cfg->scenario->nodes <= SCENARIO_MAX_NODES);
    struct nemesis *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return COMMON_ENOMEM;
    }
    n->cfg = *cfg;
    n->s = cfg->scenario;
    n->cl = cfg->cluster;
    n->nodes = n->s->nodes;
    common_prng_seed(&n->prng, n->s->seed ^ NEMESIS_SALT);
    set_desc(n, "none");
    n->random_next = s_to_ns(n->s->nemesis.start_s);
    struct membership_config mc = {.scenario = n->s, .cluster = n->cl};
    if (membership_new(&mc, &n->members) != 0) {
        free(n);
        return COMMON_ENOMEM;
    }
    *out = n;
    return 0;
}

void nemesis_free(struct nemesis *n)
{
    if (n == NULL) {
        return;
    }
    membership_free(n->members);
    free(n->intervals);
    free(n);
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                   */
/* ------------------------------------------------------------------------ */

/* Whether node @id may take a fault of @kind aimed at "random" or "all":
 * a node that is down for restart and resume, one that is up and running
 * for every other fault. */
static bool fits(const struct nemesis *n,
                 raft_id id,
                 enum scenario_fault_kind kind)
{
    if (!cluster_present(n->cl, id)) {
        return false; /* outside the cluster: not running, no faults */
    }
    switch (kind) {
        case SCENARIO_FAULT_RESTART:
            return n->crashed[id];
        case SCENARIO_FAULT_RESUME:
            return n->paused[id];
        default:
            return !n->crashed[id] && !n->paused[id];
    }
}

/* Sets of nodes, by id: bit k for node k. */
static uint32_t node_bit(raft_id id)
{
    assert(id >= 1 && id <= SCENARIO_MAX_NODES);
    return 1u << id;
}

static uint32_t every_node(const struct nemesis *n)
{
    return ((1u << n->nodes) - 1) << 1;
}

/* The nodes up and running by the record: neither crashed nor paused. */
static uint32_t up_nodes(const struct nemesis *n)
{
    uint32_t set = 0;
    for (raft_id id = 1; id <= n->nodes; id++) {
        if (fits(n, id, SCENARIO_FAULT_CRASH)) {
            set |= node_bit(id);
        }
    }
    return set;
}

/* @set when it holds exactly one node, else 0. */
static uint32_t single(uint32_t set)
{
    return set != 0 && (set & (set - 1)) == 0 ? set : 0;
}

/* One node of @set drawn from the seed; 0 when @set is empty. */
static raft_id draw(struct nemesis *n, uint32_t set)
{
    unsigned count = 0;
    for (raft_id id = 1; id <= n->nodes; id++) {
        count += (set & node_bit(id)) != 0;
    }
    if (count == 0) {
        return 0;
    }
    uint64_t k = common_prng_below(&n->prng, count);
    for (raft_id id = 1; id <= n->nodes; id++) {
        if ((set & node_bit(id)) != 0 && k-- == 0) {
            return id;
        }
    }
    return 0;
}

/* "1,2,4" into @buf. */
static const char *set_text(const struct nemesis *n,
                            uint32_t set,
                            char *buf,
                            size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (raft_id id = 1; id <= n->nodes && len + 1 < size; id++) {
        if ((set & node_bit(id)) != 0) {
            int k = snprintf(buf + len, size - len, "%s%llu", len ? "," : "",
                             (unsigned long long)id);
            len = k < 0 ? len : len + (size_t)k;
        }
    }
    return buf;
}

/* Resolves a target to a node id, or 0 when nobody fits. */
static raft_id resolve(struct nemesis *n,
                       const struct scenario_target *t,
                       enum scenario_fault_kind kind)
{
    if (t->kind == SCENARIO_TARGET_NODE) {
        return t->id;
    }
    raft_id leader = cluster_leader(n->cl);
    if (t->kind == SCENARIO_TARGET_LEADER) {
        return leader;
    }
    uint32_t pool = 0;
    for (raft_id id = 1; id <= n->nodes; id++) {
        if (fits(n, id, kind) &&
            !(t->kind == SCENARIO_TARGET_FOLLOWER && id == leader)) {
            pool |= node_bit(id);
        }
    }
    return draw(n, pool);
}

/* Resolves a partition's selectors into @group (by node) while @leader
 * leads: the leader, the `follower`s drawn from the nodes up that are
 * neither the leader nor placed yet (group by group, in order), and
 * `followers`, every node left (those that are down too: each node needs
 * a side). False when no node fits: the leader already placed by id, too
 * few followers up, or a group left empty. */
static bool resolve_partition(struct nemesis *n,
                              const struct scenario_fault *f,
                              raft_id leader,
                              unsigned *group)
{
    unsigned rest = SCENARIO_GROUP_NONE;
    memcpy(group, f->group, sizeof f->group);
    for (unsigned g = 0; g < f->n_groups; g++) {
        if (f->pick[g].leader) {
            if (group[leader - 1] != SCENARIO_GROUP_NONE) {
                return false;
            }
            group[leader - 1] = g;
        }
        if (f->pick[g].followers) {
            rest = g;
        }
    }
    for (unsigned g = 0; g < f->n_groups; g++) {
        for (unsigned c = 0; c < f->pick[g].follower; c++) {
            uint32_t pool = up_nodes(n) & ~node_bit(leader);
            for (raft_id id = 1; id <= n->nodes; id++) {
                if (group[id - 1] != SCENARIO_GROUP_NONE) {
                    pool &= ~node_bit(id);
                }
            }
            raft_id id = draw(n, pool);
            if (id == 0) {
                return false;
            }
            group[id - 1] = g;
        }
    }
    unsigned size[SCENARIO_MAX_NODES] = {0};
    for (raft_id id = 1; id <= n->nodes; id++) {
        if (group[id - 1] == SCENARIO_GROUP_NONE) {
            group[id - 1] = rest;
        }
        if (group[id - 1] == SCENARIO_GROUP_NONE) {
            return false;
        }
        size[group[id - 1]]++;
    }
    for (unsigned g = 0; g < f->n_groups; g++) {
        if (size[g] == 0) {
            return false;
        }
    }
    return true;
}

/* The nodes one end of a link or cut names now (@leader leads): the
 * leader; every node up but the leader (followers); one of those drawn,
 * not in @avoid (follower); or, for no selector, node @id, or every node
 * when @id is 0. */
static uint32_t resolve_end(struct nemesis *n,
                            enum scenario_target_kind kind,
                            unsigned id,
                            raft_id leader,
                            uint32_t avoid)
{
    switch (kind) {
        case SCENARIO_TARGET_LEADER:
            return node_bit(leader);
        case SCENARIO_TARGET_FOLLOWERS:
            return up_nodes(n) & ~node_bit(leader);
        case SCENARIO_TARGET_FOLLOWER: {
            raft_id d = draw(n, up_nodes(n) & ~node_bit(leader) & ~avoid);
            return d != 0 ? node_bit(d) : 0;
        }
        default:
            return id == 0 ? every_node(n) : node_bit((raft_id)id);
    }
}

/* Resolves the ends of a link or cut with a selector into sets while
 * @leader leads; a `follower` at one end is drawn apart from the node at
 * the other. False when no node fits: an end empty, or only one node at
 * both ends. */
static bool resolve_ends(struct nemesis *n,
                         const struct scenario_fault *f,
                         raft_id leader,
                         uint32_t *from,
                         uint32_t *to)
{
    bool draw_to = f->to_kind == SCENARIO_TARGET_FOLLOWER;
    uint32_t fixed_to =
        draw_to ? 0 : resolve_end(n, f->to_kind, f->to, leader, 0);
    *from = resolve_end(n, f->from_kind, f->from, leader, single(fixed_to));
    *to = draw_to ? resolve_end(n, f->to_kind, f->to, leader, single(*from))
                  : fixed_to;
    return *from != 0 && *to != 0 && !(single(*from) && *from == *to);
}

/* ------------------------------------------------------------------------ */
/* The network                                                               */
/* ------------------------------------------------------------------------ */

static void close_interval(struct nemesis *n, uint64_t now)
{
    if (!n->split) {
        return;
    }
    n->split = false;
    n->cur.end = now;
    struct nemesis_interval *iv =
        realloc(n->intervals, (n->n_intervals + 1) * sizeof *iv);
    if (iv != NULL) {
        n->intervals = iv;
        n->intervals[n->n_intervals++] = n->cur;
    }
}

static void open_interval(struct nemesis *n,
                          uint64_t now,
                          const bool *minority,
                          const char *what)
{
    close_interval(n, now);
    memset(&n->cur, 0, sizeof n->cur);
    n->cur.start = now;
    memcpy(n->cur.minority, minority, sizeof n->cur.minority);
    snprintf(n->cur.what, sizeof n->cur.what, "%s", what);
    n->split = true;
}

/* Every cut and link fault goes; the judge hears of it. */
static void heal_network(struct nemesis *n, uint64_t now)
{
    transport_mem_heal(cluster_net(n->cl));
    close_interval(n, now);
    n->link_faults = false;
    n->cfg.healed(n->cfg.healed_data, now);
}

/* Whether group @g (group[k] for node k + 1) holds a majority of @voters
 * (bit k for node k). */
static bool holds_majority(const struct nemesis *n,
                           const unsigned *group,
                           unsigned g,
                           uint32_t voters)
{
    unsigned size = 0;
    unsigned all = 0;
    for (unsigned k = 0; k < n->nodes; k++) {
        if ((voters & node_bit(k + 1)) != 0) {
            all++;
            size += group[k] == g;
        }
    }
    return size > all / 2;
}

/* Cuts every link between different groups (group[k] for node k+1) and
 * opens an interval whose minority is every group of at most half the
 * nodes. */
static void cut_groups(struct nemesis *n,
                       const unsigned *group,
                       unsigned n_groups,
                       const char *what)
{
    struct transport_mem *net = cluster_net(n->cl);
    uint64_t now = cluster_now(n->cl);
    transport_mem_cut(net, 0, 0, false);
    for (raft_id i = 1; i <= n->nodes; i++) {
        for (raft_id j = 1; j <= n->nodes; j++) {
            if (i != j && group[i - 1] != group[j - 1]) {
                transport_mem_cut(net, i, j, true);
            }
        }
    }
    /* A side is the minority when it holds no majority of the voters,
     * neither of the latest configuration at the leader nor of the last
     * one seen committed (while a change is in flight, either may count;
     * without membership changes both are every node). */
    bool minority[SCENARIO_MAX_NODES + 1] = {false};
    uint32_t latest = cluster_voters(n->cl, false);
    uint32_t committed = cluster_voters(n->cl, true);
    for (unsigned g = 0; g < n_groups; g++) {
        if (holds_majority(n, group, g, latest) ||
            holds_majority(n, group, g, committed)) {
            continue;
        }
        for (unsigned k = 0; k < n->nodes; k++) {
            if (group[k] == g) {
                minority[k + 1] = true;
            }
        }
    }
    open_interval(n, now, minority, what);
}

static void isolate(struct nemesis *n, raft_id id, const char *what)
{
    assert(id >= 1 && id <= n->nodes);
    unsigned group[SCENARIO_MAX_NODES];
    for (unsigned k = 0; k < n->nodes; k++) {
        group[k] = k + 1 == id ? 1 : 0;
    }
    cut_groups(n, group, 2, what);
}

/* Link faults from @from to @to (0: every node). */
static void set_link_faults(struct nemesis *n,
                            raft_id from,
                            raft_id to,
                            const struct transport_link_faults *lf)
{
    transport_mem_set_faults(cluster_net(n->cl), from, to, lf);
    n->link_faults = true;
}

/* Sends the forged message of @f to node @to through the in-memory
 * network, as node @from would send it: cuts and link faults apply, and it
 * arrives like any message from @from (docs/scenarios.md, forge). */
static void forge(struct nemesis *n,
                  const struct scenario_fault *f,
                  raft_id from,
                  raft_id to)
{
    uint64_t t = f->forge_term;
    uint64_t i = f->forge_index;
    struct raft_message m = {.from = from, .to = to, .term = t};
    switch (f->forge_type) {
        case SCENARIO_FORGE_HEARTBEAT:
            m.type = RAFT_MSG_HEARTBEAT;
            m.heartbeat.commit = i;
            m.heartbeat.context = i;
            break;
        case SCENARIO_FORGE_APPEND:
            m.type = RAFT_MSG_APPEND;
            m.append.prev_index = i;
            m.append.prev_term = i > 0 ? t : 0;
            m.append.commit = i;
            break;
        case SCENARIO_FORGE_VOTE:
        case SCENARIO_FORGE_PRE_VOTE:
            m.type = RAFT_MSG_VOTE;
            m.vote.last_index = i;
            m.vote.last_term = i > 0 ? t : 0;
            m.vote.pre_vote = f->forge_type == SCENARIO_FORGE_PRE_VOTE;
            break;
        case SCENARIO_FORGE_APPEND_RESP:
            m.type = RAFT_MSG_APPEND_RESP;
            m.append_resp.success = true;
            m.append_resp.index = i;
            break;
        case SCENARIO_FORGE_HEARTBEAT_RESP:
            m.type = RAFT_MSG_HEARTBEAT_RESP;
            m.heartbeat_resp.context = i;
            break;
    }
    transport_send(transport_mem_endpoint(cluster_net(n->cl), from), &m);
}

/* ------------------------------------------------------------------------ */
/* Nodes                                                                     */
/* ------------------------------------------------------------------------ */

static void crash_node(struct nemesis *n, raft_id id)
{
    cluster_crash(n->cl, id);
    n->crashed[id] = true;
    n->paused[id] = false;
}

static void pause_node(struct nemesis *n, raft_id id)
{
    cluster_pause(n->cl, id);
    n->paused[id] = true;
}

/* Arms node @id to crash right after its next vote or acknowledgement
 * (the fault's @kind); the cluster strikes when it comes, and
 * reap_tripped writes the crash down. */
static void arm_crash_after(struct nemesis *n,
                            enum scenario_fault_kind kind,
                            raft_id id)
{
    cluster_arm_crash_after(n->cl, id,
                            kind == SCENARIO_FAULT_CRASH_AFTER_VOTE
                                ? CLUSTER_CRASH_AFTER_VOTE
                                : CLUSTER_CRASH_AFTER_ACK);
    n->armed = true;
}

/* The nodes that went down on a crash_after trigger since the last look
 * are crashed, as if crash_node had taken them (restart brings them
 * back). */
static void reap_tripped(struct nemesis *n)
{
    if (!n->armed) {
        return;
    }
    for (raft_id id = 1; id <= n->nodes; id++) {
        if (cluster_reap_tripped(n->cl, id)) {
            n->crashed[id] = true;
            n->paused[id] = false;
        }
    }
}

/* Brings back every node the nemesis took down, whether or not it comes
 * back: the record says no fault holds. */
static void revive_all(struct nemesis *n)
{
    for (raft_id id = 1; id <= n->nodes; id++) {
        if (n->paused[id]) {
            cluster_resume(n->cl, id);
            n->paused[id] = false;
        }
        if (n->crashed[id]) {
            cluster_restart(n->cl, id);
            n->crashed[id] = false;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The timeline                                                              */
/* ------------------------------------------------------------------------ */

static bool apply_fault(struct nemesis *n, const struct scenario_fault *f);

static bool is_node_fault(enum scenario_fault_kind kind)
{
    return kind == SCENARIO_FAULT_CRASH || kind == SCENARIO_FAULT_PAUSE ||
           kind == SCENARIO_FAULT_RESTART || kind == SCENARIO_FAULT_RESUME ||
           kind == SCENARIO_FAULT_CRASH_AFTER_VOTE ||
           kind == SCENARIO_FAULT_CRASH_AFTER_ACK;
}

static bool has_target(enum scenario_fault_kind kind)
{
    return is_node_fault(kind) || kind == SCENARIO_FAULT_ISOLATE ||
           kind == SCENARIO_FAULT_FORGE;
}

/* A node fault aimed at "all": every node that fits, one after the other,
 * each as a fault of its own. True when one did. */
static bool apply_to_all(struct nemesis *n,
                         const struct scenario_fault *f,
                         const char *desc)
{
    struct scenario_fault one = *f;
    one.target.kind = SCENARIO_TARGET_NODE;
    bool any = false;
    logf_nemesis(n, "fault: %s", desc);
    for (raft_id k = 1; k <= n->nodes; k++) {
        if (fits(n, k, f->kind)) {
            one.target.id = (unsigned)k;
            any = apply_fault(n, &one) || any;
        }
    }
    return any;
}

/* A forge fault at node @to, from its sender or one drawn from the seed.
 * False when skipped. */
static bool apply_forge(struct nemesis *n,
                        const struct scenario_fault *f,
                        raft_id to,
                        const char *desc)
{
    raft_id sender = f->from;
    if (sender == 0) {
        /* Any node but the receiver (the loader wants 2 nodes). */
        sender = common_prng_range(&n->prng, 1, n->nodes - 1);
        sender += sender >= to ? 1 : 0;
    }
    if (sender == to) {
        logf_nemesis(n, "fault skipped (no node fits): %s", desc);
        return false;
    }
    forge(n, f, sender, to);
    logf_nemesis(n, "fault: %s (node %llu, from %llu)", desc,
                 (unsigned long long)to, (unsigned long long)sender);
    return true;
}

/* A link fault's settings, as the network takes them. */
static struct transport_link_faults link_faults_of(
    const struct scenario_fault *f)
{
    return (struct transport_link_faults){
        .loss = f->link.loss,
        .duplicate = f->link.duplicate,
        .reorder = f->link.reorder,
        .delay_ns_min = f->link.delay_ms_min * COMMON_NS_PER_MS,
        .delay_ns_max = f->link.delay_ms_max * COMMON_NS_PER_MS,
        .hold = f->link.hold_fraction,
        .hold_ns_min = f->link.hold_ms_min * COMMON_NS_PER_MS,
        .hold_ns_max = f->link.hold_ms_max * COMMON_NS_PER_MS,
    };
}

/* Puts @f in force at node @id (0 for faults without a target). */
static void put_in_force(struct nemesis *n,
                         const struct scenario_fault *f,
                         raft_id id,
                         const char *desc)
{
    struct transport_mem *net = cluster_net(n->cl);
    switch (f->kind) {
        case SCENARIO_FAULT_PARTITION:
            cut_groups(n, f->group, f->n_groups, desc);
            break;
        case SCENARIO_FAULT_ISOLATE:
            isolate(n, id, desc);
            break;
        case SCENARIO_FAULT_HEAL:
            heal_network(n, cluster_now(n->cl));
            break;
        case SCENARIO_FAULT_CRASH:
            crash_node(n, id);
            break;
        case SCENARIO_FAULT_RESTART:
            if (cluster_restart(n->cl, id) == 0) {
                n->crashed[id] = false;
            }
            break;
        case SCENARIO_FAULT_PAUSE:
            pause_node(n, id);
            break;
        case SCENARIO_FAULT_RESUME:
            cluster_resume(n->cl, id);
            n->paused[id] = false;
            break;
        case SCENARIO_FAULT_LINK: {
            struct transport_link_faults lf = link_faults_of(f);
            set_link_faults(n, f->from, f->to, &lf);
            break;
        }
        case SCENARIO_FAULT_CUT:
            transport_mem_cut(net, f->from, f->to, true);
            if (f->both_ways) {
                transport_mem_cut(net, f->to, f->from, true);
            }
            break;
        case SCENARIO_FAULT_CRASH_AFTER_VOTE:
        case SCENARIO_FAULT_CRASH_AFTER_ACK:
            arm_crash_after(n, f->kind, id);
            break;
        case SCENARIO_FAULT_FORGE:
            assert(0 && "forge faults go through apply_forge");
            break;
        case SCENARIO_FAULT_ADD_NODE:
        case SCENARIO_FAULT_PROMOTE:
        case SCENARIO_FAULT_REMOVE_NODE:
        case SCENARIO_FAULT_TRANSFER_LEADER:
            assert(0 && "membership actions go through membership_submit");
            break;
    }
}

/* Whether a partition, cut or link names a node by a selector (leader,
 * follower, followers). */
static bool has_selectors(const struct scenario_fault *f)
{
    if (f->kind == SCENARIO_FAULT_PARTITION) {
        for (unsigned g = 0; g < f->n_groups && g < SCENARIO_MAX_NODES; g++) {
            if (f->pick[g].leader || f->pick[g].followers ||
                f->pick[g].follower > 0) {
                return true;
            }
        }
        return false;
    }
    return (f->kind == SCENARIO_FAULT_LINK || f->kind == SCENARIO_FAULT_CUT) &&
           (f->from_kind != 0 || f->to_kind != 0);
}

/* A partition with selectors, resolved now (@leader leads) and put in
 * force; false when skipped. */
static bool apply_selected_partition(struct nemesis *n,
                                     const struct scenario_fault *f,
                                     raft_id leader,
                                     const char *desc)
{
    unsigned group[SCENARIO_MAX_NODES];
    if (!resolve_partition(n, f, leader, group)) {
        logf_nemesis(n, "fault skipped (no node fits): %s", desc);
        return false;
    }
    char what[256];
    int len = snprintf(what, sizeof what, "%s (leader %llu:", desc,
                       (unsigned long long)leader);
    for (unsigned g = 0;
         g < f->n_groups && len > 0 && (size_t)len < sizeof what; g++) {
        uint32_t set = 0;
        char ids[48];
        for (raft_id id = 1; id <= n->nodes; id++) {
            set |= group[id - 1] == g ? node_bit(id) : 0;
        }
        len += snprintf(what + len, sizeof what - (size_t)len, " {%s}",
                        set_text(n, set, ids, sizeof ids));
    }
    if (len > 0 && (size_t)len < sizeof what) {
        snprintf(what + len, sizeof what - (size_t)len, ")");
    }
    cut_groups(n, group, f->n_groups, what);
    logf_nemesis(n, "fault: %s", what);
    set_desc(n, desc);
    return true;
}

/* A cut or link with selectors, resolved now (@leader leads) and put in
 * force on every link from a node at one end to another at the other;
 * false when skipped. */
static bool apply_selected_links(struct nemesis *n,
                                 const struct scenario_fault *f,
                                 raft_id leader,
                                 const char *desc)
{
    uint32_t from = 0;
    uint32_t to = 0;
    if (!resolve_ends(n, f, leader, &from, &to)) {
        logf_nemesis(n, "fault skipped (no node fits): %s", desc);
        return false;
    }
    struct transport_mem *net = cluster_net(n->cl);
    struct transport_link_faults lf = link_faults_of(f);
    for (raft_id a = 1; a <= n->nodes; a++) {
        for (raft_id b = 1; b <= n->nodes; b++) {
            if (a == b || (from & node_bit(a)) == 0 ||
                (to & node_bit(b)) == 0) {
                continue;
            }
            if (f->kind == SCENARIO_FAULT_LINK) {
                set_link_faults(n, a, b, &lf);
                continue;
            }
            transport_mem_cut(net, a, b, true);
            if (f->both_ways) {
                transport_mem_cut(net, b, a, true);
            }
        }
    }
    char a[48];
    char b[48];
    logf_nemesis(n, "fault: %s (leader %llu: from %s, to %s)", desc,
                 (unsigned long long)leader, set_text(n, from, a, sizeof a),
                 set_text(n, to, b, sizeof b));
    set_desc(n, desc);
    return true;
}

/* One fault of the timeline: its target resolved, put in force, logged.
 * False when it was skipped (no node fits). */
static bool apply_fault(struct nemesis *n, const struct scenario_fault *f)
{
    char desc[128];
    scenario_fault_describe(f, desc, sizeof desc);
    if (f->target.kind == SCENARIO_TARGET_ALL && is_node_fault(f->kind)) {
        return apply_to_all(n, f, desc);
    }
    if (has_selectors(f)) {
        /* Selectors name nodes by the leader: none, no fault. */
        raft_id leader = cluster_leader(n->cl);
        if (leader == 0) {
            logf_nemesis(n, "fault skipped (no node fits): %s", desc);
            return false;
        }
        return f->kind == SCENARIO_FAULT_PARTITION
                   ? apply_selected_partition(n, f, leader, desc)
                   : apply_selected_links(n, f, leader, desc);
    }
    raft_id id = 0;
    if (has_target(f->kind)) {
        id = resolve(n, &f->target, f->kind);
        if (id == 0) {
            logf_nemesis(n, "fault skipped (no node fits): %s", desc);
            return false;
        }
        assert(id <= n->nodes);
    }
    if (f->kind == SCENARIO_FAULT_FORGE) {
        return apply_forge(n, f, id, desc);
    }
    put_in_force(n, f, id, desc);
    if (id != 0) {
        logf_nemesis(n, "fault: %s (node %llu)", desc, (unsigned long long)id);
    } else {
        logf_nemesis(n, "fault: %s", desc);
    }
    set_desc(n, desc);
    return true;
}

/* Whether @f, once in force, ends a fault: a heal, a restart, a resume,
 * or a link fault that clears its links' settings. */
static bool ends_a_fault(const struct scenario_fault *f)
{
    const struct scenario_link_faults *l = &f->link;
    switch (f->kind) {
        case SCENARIO_FAULT_HEAL:
        case SCENARIO_FAULT_RESTART:
        case SCENARIO_FAULT_RESUME:
            return true;
        case SCENARIO_FAULT_LINK:
            return !(l->loss > 0) && !(l->duplicate > 0) && !(l->reorder > 0) &&
                   l->delay_ms_max == 0 && !(l->hold_fraction > 0);
        default:
            return false;
    }
}

static void fault_ended(struct nemesis *n, const char *what)
{
    if (n->cfg.ended != NULL) {
        n->cfg.ended(n->cfg.ended_data, cluster_now(n->cl), what);
    }
}

static bool is_membership(enum scenario_fault_kind kind)
{
    return kind == SCENARIO_FAULT_ADD_NODE || kind == SCENARIO_FAULT_PROMOTE ||
           kind == SCENARIO_FAULT_REMOVE_NODE ||
           kind == SCENARIO_FAULT_TRANSFER_LEADER;
}

static void fire_timeline(struct nemesis *n, uint64_t now)
{
    const struct scenario *s = n->s;
    while (n->next_fault < s->n_faults &&
           s_to_ns(s->faults[n->next_fault].at_s) <= now) {
        const struct scenario_fault *f = &s->faults[n->next_fault++];
        if (is_membership(f->kind)) {
            char desc[128];
            scenario_fault_describe(f, desc, sizeof desc);
            logf_nemesis(n, "membership: %s", desc);
            membership_submit(n->members, f);
            continue;
        }
        if (apply_fault(n, f) && ends_a_fault(f)) {
            char desc[128];
            scenario_fault_describe(f, desc, sizeof desc);
            fault_ended(n, desc);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The random nemesis: its faults drawn, then put in force                   */
/* ------------------------------------------------------------------------ */

/* A random minority (1 to (nodes - 1) / 2 nodes) cut from the rest. */
static bool draw_partition(struct nemesis *n, struct random_fault *rf)
{
    unsigned order[SCENARIO_MAX_NODES];
    for (unsigned k = 0; k < n->nodes; k++) {
        order[k] = k;
    }
    for (unsigned k = n->nodes; k > 1; k--) {
        unsigned j = (unsigned)common_prng_below(&n->prng, k);
        unsigned t = order[k - 1];
        order[k - 1] = order[j];
        order[j] = t;
    }
    unsigned small = n->nodes < 3 ? 1
                                  : (unsigned)common_prng_range(
                                        &n->prng, 1, (n->nodes - 1) / 2);
    size_t size = sizeof rf->desc;
    int len = snprintf(rf->desc, size, "partition {");
    for (unsigned k = 0; k < small; k++) {
        rf->group[order[k]] = 1;
        len += snprintf(rf->desc + len, size - (size_t)len, "%s%u",
                        k ? "," : "", order[k] + 1);
    }
    snprintf(rf->desc + len, size - (size_t)len, "} from the rest");
    return true;
}

static bool draw_isolate_leader(struct nemesis *n, struct random_fault *rf)
{
    raft_id l = cluster_leader(n->cl);
    if (l == 0) {
        return false;
    }
    snprintf(rf->desc, sizeof rf->desc, "isolate leader %llu",
             (unsigned long long)l);
    rf->group[l - 1] = 1;
    return true;
}

/* A random node that is up and running, to crash or pause. */
static bool draw_node_down(struct nemesis *n, struct random_fault *rf)
{
    struct scenario_target t = {.kind = SCENARIO_TARGET_RANDOM};
    rf->node = resolve(n, &t, SCENARIO_FAULT_CRASH);
    if (rf->node == 0) {
        return false;
    }
    snprintf(rf->desc, sizeof rf->desc, "%s node %llu",
             rf->kind == SCENARIO_NEMESIS_CRASH ? "crash" : "pause",
             (unsigned long long)rf->node);
    return true;
}

/* One link cut one way, between two different random nodes. */
static bool draw_one_way(struct nemesis *n, struct random_fault *rf)
{
    if (n->nodes < 2) {
        return false;
    }
    raft_id a = (raft_id)common_prng_range(&n->prng, 1, n->nodes);
    raft_id b = (raft_id)common_prng_range(&n->prng, 1, n->nodes - 1);
    if (b >= a) {
        b++;
    }
    rf->node = a;
    rf->to = b;
    snprintf(rf->desc, sizeof rf->desc, "cut %llu -> %llu",
             (unsigned long long)a, (unsigned long long)b);
    return true;
}

/* Draws a fault of @kind into @rf (zeroed first); false when none fits
 * now (no leader, no node up). */
static bool draw_fault(struct nemesis *n,
                       unsigned kind,
                       struct random_fault *rf)
{
    const struct scenario_nemesis *nm = &n->s->nemesis;
    memset(rf, 0, sizeof *rf);
    rf->kind = kind;
    switch (kind) {
        case SCENARIO_NEMESIS_PARTITION:
            return draw_partition(n, rf);
        case SCENARIO_NEMESIS_ISOLATE_LEADER:
            return draw_isolate_leader(n, rf);
        case SCENARIO_NEMESIS_CRASH:
        case SCENARIO_NEMESIS_PAUSE:
            return draw_node_down(n, rf);
        case SCENARIO_NEMESIS_LOSS:
            snprintf(rf->desc, sizeof rf->desc, "loss %.0f%% on every link",
                     nm->loss * 100);
            return true;
        case SCENARIO_NEMESIS_DELAY:
            snprintf(rf->desc, sizeof rf->desc, "delay %u-%u ms on every link",
                     nm->delay_ms_min, nm->delay_ms_max);
            return true;
        case SCENARIO_NEMESIS_ONE_WAY:
            return draw_one_way(n, rf);
        default:
            return false;
    }
}

/* The link faults of a loss (@loss) and a delay (@delay) fault, either or
 * both. */
static struct transport_link_faults random_link_faults(const struct nemesis *n,
                                                       bool loss,
                                                       bool delay)
{
    const struct scenario_nemesis *nm = &n->s->nemesis;
    struct transport_link_faults lf = {.loss = loss ? nm->loss : 0};
    if (delay) {
        lf.delay_ns_min = nm->delay_ms_min * COMMON_NS_PER_MS;
        lf.delay_ns_max = nm->delay_ms_max * COMMON_NS_PER_MS;
        lf.reorder = 0.1;
    }
    return lf;
}

/* Puts @rf in force on its own: a split replaces the cuts in force, as a
 * timeline partition does; a one-way cut adds to them; link faults replace
 * those of every link. */
static void put_random(struct nemesis *n, const struct random_fault *rf)
{
    struct transport_link_faults lf;
    switch (rf->kind) {
        case SCENARIO_NEMESIS_PARTITION:
        case SCENARIO_NEMESIS_ISOLATE_LEADER:
            cut_groups(n, rf->group, 2, rf->desc);
            break;
        case SCENARIO_NEMESIS_CRASH:
            crash_node(n, rf->node);
            break;
        case SCENARIO_NEMESIS_PAUSE:
            pause_node(n, rf->node);
            break;
        case SCENARIO_NEMESIS_LOSS:
        case SCENARIO_NEMESIS_DELAY:
            lf = random_link_faults(n, rf->kind == SCENARIO_NEMESIS_LOSS,
                                    rf->kind == SCENARIO_NEMESIS_DELAY);
            set_link_faults(n, 0, 0, &lf);
            break;
        case SCENARIO_NEMESIS_ONE_WAY:
            transport_mem_cut(cluster_net(n->cl), rf->node, rf->to, true);
            break;
        default:
            break;
    }
}

/* One of the scenario's kinds of fault, drawn; 0 when it allows none. */
static unsigned draw_kind(struct nemesis *n)
{
    unsigned kinds[RANDOM_KINDS];
    unsigned n_kinds = 0;
    for (unsigned bit = 0; bit < RANDOM_KINDS; bit++) {
        if (n->s->nemesis.faults & (1u << bit)) {
            kinds[n_kinds++] = 1u << bit;
        }
    }
    return n_kinds == 0 ? 0 : kinds[common_prng_below(&n->prng, n_kinds)];
}

/* Everything healed: the network (the judge hears of it) and every node
 * brought back. */
static void random_heal(struct nemesis *n, uint64_t now)
{
    n->random_heal_at = 0;
    n->n_active = 0;
    heal_network(n, now);
    revive_all(n);
    set_desc(n, "none");
    char what[160];
    snprintf(what, sizeof what, "nemesis heal of '%s'", n->random_desc);
    fault_ended(n, what);
}

/* ------------------------------------------------------------------------ */
/* One fault at a time (concurrent: 1), healed after fault_s                 */
/* ------------------------------------------------------------------------ */

static void single_step(struct nemesis *n, uint64_t now)
{
    const struct scenario_nemesis *nm = &n->s->nemesis;
    if (n->random_heal_at != 0 && now >= n->random_heal_at) {
        random_heal(n, now);
        logf_nemesis(n, "nemesis: heal");
    }
    if (now < n->random_next) {
        return;
    }
    n->random_next += s_to_ns(nm->interval_s);
    if (n->random_heal_at != 0) {
        return; /* the previous fault still holds */
    }
    unsigned kind = draw_kind(n);
    struct random_fault rf;
    if (kind == 0 || !draw_fault(n, kind, &rf)) {
        return;
    }
    put_random(n, &rf);
    n->random_heal_at = now + s_to_ns(nm->fault_s);
    logf_nemesis(n, "nemesis: %s", rf.desc);
    set_desc(n, rf.desc);
}

/* ------------------------------------------------------------------------ */
/* Composite faults (concurrent: N > 1), each healed on its own schedule    */
/* ------------------------------------------------------------------------ */

static bool is_split(unsigned kind)
{
    return kind == SCENARIO_NEMESIS_PARTITION ||
           kind == SCENARIO_NEMESIS_ISOLATE_LEADER;
}

/* The common refinement of the splits in force into @group (group[k] for
 * node k + 1): two nodes share a group when no split parts them, so its
 * cuts are exactly the union of theirs. Returns the number of groups (1:
 * no split). */
static unsigned refine_splits(const struct nemesis *n, unsigned *group)
{
    unsigned n_groups = 0;
    for (unsigned k = 0; k < n->nodes; k++) {
        group[k] = n_groups;
        for (unsigned j = 0; j < k && group[k] == n_groups; j++) {
            bool joined = true;
            for (unsigned a = 0; a < n->n_active && joined; a++) {
                const struct random_fault *rf = &n->active[a];
                joined = !is_split(rf->kind) || rf->group[k] == rf->group[j];
            }
            if (joined) {
                group[k] = group[j];
            }
        }
        n_groups += group[k] == n_groups;
    }
    return n_groups;
}

/* "@sep"-joined descriptions of the faults in force for which @want says
 * yes (NULL: all), into @buf. */
static void join_active(const struct nemesis *n,
                        bool (*want)(unsigned kind),
                        char *buf,
                        size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned a = 0; a < n->n_active && len + 1 < size; a++) {
        if (want == NULL || want(n->active[a].kind)) {
            int k = snprintf(buf + len, size - len, "%s%s",
                             len > 0 ? " + " : "", n->active[a].desc);
            len = k < 0 ? len : len + (size_t)k;
        }
    }
}

/* The network's cuts become those of the faults in force: the refined
 * splits (which open the interval no_ok_on_minority judges by, or close
 * it when no split is left) and the one-way cuts. */
static void recut(struct nemesis *n, uint64_t now)
{
    struct transport_mem *net = cluster_net(n->cl);
    unsigned group[SCENARIO_MAX_NODES];
    unsigned n_groups = refine_splits(n, group);
    if (n_groups >= 2) {
        char what[sizeof n->cur.what];
        join_active(n, is_split, what, sizeof what);
        cut_groups(n, group, n_groups, what);
    } else {
        transport_mem_cut(net, 0, 0, false);
        close_interval(n, now);
    }
    for (unsigned a = 0; a < n->n_active; a++) {
        const struct random_fault *rf = &n->active[a];
        if (rf->kind == SCENARIO_NEMESIS_ONE_WAY) {
            transport_mem_cut(net, rf->node, rf->to, true);
        }
    }
}

/* Whether a fault in force still cuts @from -> @to. */
static bool still_cut(const struct nemesis *n, raft_id from, raft_id to)
{
    for (unsigned a = 0; a < n->n_active; a++) {
        const struct random_fault *rf = &n->active[a];
        if (is_split(rf->kind) ? rf->group[from - 1] != rf->group[to - 1]
                               : rf->kind == SCENARIO_NEMESIS_ONE_WAY &&
                                     rf->node == from && rf->to == to) {
            return true;
        }
    }
    return false;
}

/* Every link's faults become those of the loss and delay faults in force
 * (none: cleared). */
static void relink(struct nemesis *n)
{
    bool loss = false;
    bool delay = false;
    for (unsigned a = 0; a < n->n_active; a++) {
        loss |= n->active[a].kind == SCENARIO_NEMESIS_LOSS;
        delay |= n->active[a].kind == SCENARIO_NEMESIS_DELAY;
    }
    struct transport_link_faults lf = random_link_faults(n, loss, delay);
    if (loss || delay) {
        set_link_faults(n, 0, 0, &lf);
    } else {
        transport_mem_set_faults(cluster_net(n->cl), 0, 0, &lf);
        n->link_faults = false;
    }
}

/* Ends active[@a], while other faults still hold: only what it did is
 * undone. */
static void end_one(struct nemesis *n, unsigned a, uint64_t now)
{
    struct random_fault rf = n->active[a];
    memmove(&n->active[a], &n->active[a + 1],
            (n->n_active - a - 1) * sizeof n->active[0]);
    n->n_active--;
    if (is_split(rf.kind)) {
        recut(n, now);
    } else if (rf.kind == SCENARIO_NEMESIS_ONE_WAY) {
        if (!still_cut(n, rf.node, rf.to)) {
            transport_mem_cut(cluster_net(n->cl), rf.node, rf.to, false);
        }
    } else if (rf.kind == SCENARIO_NEMESIS_LOSS ||
               rf.kind == SCENARIO_NEMESIS_DELAY) {
        relink(n);
    } else if (rf.kind == SCENARIO_NEMESIS_CRASH && n->crashed[rf.node]) {
        if (cluster_restart(n->cl, rf.node) == 0) {
            n->crashed[rf.node] = false;
        }
    } else if (rf.kind == SCENARIO_NEMESIS_PAUSE && n->paused[rf.node]) {
        cluster_resume(n->cl, rf.node);
        n->paused[rf.node] = false;
    }
    logf_nemesis(n, "nemesis: heal %s (%u in force)", rf.desc, n->n_active);
    char desc[sizeof n->faults_desc];
    join_active(n, NULL, desc, sizeof desc);
    set_desc(n, desc);
    snprintf(n->random_desc, sizeof n->random_desc, "%s", desc);
}

static void composite_step(struct nemesis *n, uint64_t now)
{
    const struct scenario_nemesis *nm = &n->s->nemesis;
    char desc[sizeof n->faults_desc];
    /* Each pass ends one fault, so this ends within n_active passes. */
    while (n->n_active > 0) {
        unsigned due = 0;
        for (unsigned a = 1; a < n->n_active; a++) {
            due = n->active[a].heal_at < n->active[due].heal_at ? a : due;
        }
        if (now < n->active[due].heal_at) {
            break;
        }
        if (n->n_active == 1) {
            /* The last one: everything heals, as one fault would. */
            snprintf(desc, sizeof desc, "%s", n->active[0].desc);
            random_heal(n, now);
            logf_nemesis(n, "nemesis: heal %s (0 in force)", desc);
        } else {
            end_one(n, due, now);
        }
    }
    if (now < n->random_next) {
        return;
    }
    n->random_next += s_to_ns(nm->interval_s);
    /* A burst: up to concurrent faults, each held for its own time. */
    uint64_t hold = s_to_ns(nm->fault_s);
    for (unsigned k = n->n_active; k < nm->concurrent; k++) {
        unsigned kind = draw_kind(n);
        struct random_fault *rf = &n->active[n->n_active];
        if (kind == 0 || !draw_fault(n, kind, rf)) {
            continue;
        }
        rf->heal_at = now + hold - common_prng_below(&n->prng, hold / 2 + 1);
        n->n_active++;
        if (is_split(kind)) {
            recut(n, now);
        } else if (kind == SCENARIO_NEMESIS_LOSS ||
                   kind == SCENARIO_NEMESIS_DELAY) {
            relink(n);
        } else {
            put_random(n, rf);
        }
        logf_nemesis(n, "nemesis: %s until %.3f s (%u in force)", rf->desc,
                     (double)rf->heal_at / 1e9, n->n_active);
    }
    join_active(n, NULL, desc, sizeof desc);
    set_desc(n, desc);
}

static void random_step(struct nemesis *n, uint64_t now)
{
    const struct scenario_nemesis *nm = &n->s->nemesis;
    if (!nm->enabled) {
        return;
    }
    if (nm->concurrent > 1) {
        composite_step(n, now);
    } else {
        single_step(n, now);
    }
}

/* ------------------------------------------------------------------------ */
/* The run loop's calls                                                      */
/* ------------------------------------------------------------------------ */

/* Nodes that left the cluster keep no fault: one that comes back joins
 * afresh. */
static void forget_outside(struct nemesis *n)
{
    for (raft_id id = 1; id <= n->nodes; id++) {
        if (!cluster_present(n->cl, id)) {
            n->crashed[id] = false;
            n->paused[id] = false;
        }
    }
}

void nemesis_step(struct nemesis *n, uint64_t now)
{
    reap_tripped(n);
    fire_timeline(n, now);
    random_step(n, now);
    membership_step(n->members, now);
    forget_outside(n);
}

void nemesis_heal_all(struct nemesis *n, uint64_t now)
{
    /* Arms that did not fire are dropped: nothing crashes after this. */
    for (raft_id id = 1; n->armed && id <= n->nodes; id++) {
        cluster_arm_crash_after(n->cl, id, CLUSTER_CRASH_AFTER_NONE);
    }
    reap_tripped(n);
    membership_stop(n->members);
    heal_network(n, now);
    n->random_heal_at = 0;
    n->n_active = 0;
    revive_all(n);
}

void nemesis_membership_counts(const struct nemesis *n,
                               uint64_t *done,
                               uint64_t *given_up)
{
    membership_counts(n->members, done, given_up);
}

const char *nemesis_faults(const struct nemesis *n)
{
    return n->split || n->link_faults || n->random_heal_at != 0 ||
                   n->n_active > 0
               ? n->faults_desc
               : "none";
}

bool nemesis_link_faults(const struct nemesis *n)
{
    return n->link_faults;
}

const struct nemesis_interval *nemesis_intervals(const struct nemesis *n,
                                                 size_t *count)
{
    assert(!n->split); /* after nemesis_heal_all, every interval is closed */
    *count = n->n_intervals;
    return n->intervals;
}

/* ------------------------------------------------------------------------ */
/* Swarm testing                                                             */
/* ------------------------------------------------------------------------ */

const char *harness_swarm_calm(const struct scenario *s)
{
    if (s->nemesis.enabled) {
        return NULL; /* its expectations were written for a nemesis */
    }
    if (s->expect.max_leaderless_ms != 0) {
        return "max_leaderless_ms";
    }
    if (s->expect.n_no_leader != 0) {
        return "no_leader";
    }
    if (s->expect.n_term_unchanged != 0) {
        return "term_unchanged";
    }
    return NULL;
}

void harness_swarm(struct scenario *s, uint64_t seed)
{
    if (harness_swarm_calm(s) != NULL) {
        return;
    }
    struct common_prng p;
    common_prng_seed(&p, seed ^ SWARM_SALT);
    struct scenario_nemesis *nm = &s->nemesis;
    const unsigned all[RANDOM_KINDS] = {
        SCENARIO_NEMESIS_PARTITION, SCENARIO_NEMESIS_ISOLATE_LEADER,
        SCENARIO_NEMESIS_CRASH,     SCENARIO_NEMESIS_PAUSE,
        SCENARIO_NEMESIS_LOSS,      SCENARIO_NEMESIS_DELAY,
        SCENARIO_NEMESIS_ONE_WAY,
    };
    /* Each fault kind is in or out with probability 1/2; at least one. */
    unsigned mask = 0;
    while (mask == 0) {
        for (size_t k = 0; k < RANDOM_KINDS; k++) {
            if (common_prng_chance(&p, 0.5)) {
                mask |= all[k];
            }
        }
    }
    nm->enabled = true;
    nm->faults = mask;
    nm->interval_s = 0.5 + common_prng_double(&p) * 2.5;
    nm->fault_s = nm->interval_s * (0.2 + common_prng_double(&p) * 0.6);
    nm->start_s = common_prng_double(&p) * nm->interval_s;
    if (nm->start_s >= s->duration_s) {
        nm->start_s = 0;
    }
    nm->loss = common_prng_double(&p) * 0.3;
    nm->delay_ms_min = (unsigned)common_prng_below(&p, 5);
    nm->delay_ms_max = nm->delay_ms_min + (unsigned)common_prng_below(&p, 40);
}
