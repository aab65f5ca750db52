/*
 * Membership actions and the membership nemesis (see membership.h).
 *
 * An action's life:
 *
 *   queued --(its turn: attempt)--> done         goal committed at the leader
 *             |        ^       \--> given up     a refusal that cannot pass,
 *             v        |                         or MEMBERSHIP_ATTEMPTS spent
 *           retry in MEMBERSHIP_RETRY_MS         no leader, leader busy, a
 *                                                change in flight, proposed
 *
 * Goals, read from the leader's configuration once its entry has
 * committed: add-node, the node listed (then a promote is queued first in
 * line unless the timeline promotes it); promote, the node a voter;
 * remove-node, the node gone (then it is retired: powered off, disk
 * wiped); transfer-leader, the node is the leader.
 */
#include "membership.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* Salt of the membership draws ("memb"). */
#define MEMBERSHIP_SALT 0x6d656d62ull

struct action
{
    enum scenario_fault_kind kind; /* ADD_NODE .. TRANSFER_LEADER */
    struct scenario_target target;
    raft_id id; /* resolved target, 0 until then */
    bool auto_promote;
    bool started; /* the first attempt was made */
    unsigned attempts;
    uint64_t next_at;
};

struct membership
{
    struct membership_config cfg;
    const struct scenario *s;
    struct cluster *cl;
    struct common_prng prng;
    struct action queue[MEMBERSHIP_QUEUE]; /* a ring */
    unsigned head;
    unsigned len;
    uint64_t nemesis_next; /* when the membership nemesis acts next */
    uint64_t done;
    uint64_t given_up;
};

static const char *kind_name(enum scenario_fault_kind kind)
{
    switch (kind) {
        case SCENARIO_FAULT_ADD_NODE:
            return "add-node";
        case SCENARIO_FAULT_PROMOTE:
            return "promote";
        case SCENARIO_FAULT_REMOVE_NODE:
            return "remove-node";
        default:
            return "transfer-leader";
    }
}

int membership_new(const struct membership_config *cfg, struct membership **out)
{
    struct membership *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return COMMON_ENOMEM;
    }
    m->cfg = *cfg;
    m->s = cfg->scenario;
    m->cl = cfg->cluster;
    common_prng_seed(&m->prng, m->s->seed ^ MEMBERSHIP_SALT);
    m->nemesis_next = (uint64_t)(m->s->nemesis.start_s * 1e9);
    *out = m;
    return 0;
}

void membership_free(struct membership *m)
{
    free(m);
}

/* Queues @a at the back, or at the front (@first: a promote that follows
 * its add before anything else). False when the queue is full. */
static bool enqueue(struct membership *m, const struct action *a, bool first)
{
    if (m->len == MEMBERSHIP_QUEUE) {
        return false;
    }
    if (first) {
        m->head = (m->head + MEMBERSHIP_QUEUE - 1) % MEMBERSHIP_QUEUE;
        m->queue[m->head] = *a;
    } else {
        m->queue[(m->head + m->len) % MEMBERSHIP_QUEUE] = *a;
    }
    m->len++;
    return true;
}

static void dequeue(struct membership *m)
{
    m->head = (m->head + 1) % MEMBERSHIP_QUEUE;
    m->len--;
}

void membership_submit(struct membership *m, const struct scenario_fault *f)
{
    struct action a = {
        .kind = f->kind,
        .target = f->target,
        .id = f->target.kind == SCENARIO_TARGET_NODE ? f->target.id : 0,
        .auto_promote = f->auto_promote};
    if (!enqueue(m, &a, false)) {
        char desc[128];
        scenario_fault_describe(f, desc, sizeof desc);
        cluster_event(m->cl,
                      "membership: %s dropped: %d actions already queued", desc,
                      MEMBERSHIP_QUEUE);
    }
}

/* ------------------------------------------------------------------------ */
/* Configurations                                                            */
/* ------------------------------------------------------------------------ */

static enum raft_server_role role_in(const struct raft_configuration *conf,
                                     raft_id id)
{
    int k = raft_configuration_find(conf, id);
    return k < 0 ? 0 : conf->servers[k].role;
}

/* One server of @conf with @role (0: any) other than @not, drawn; 0 when
 * there is none. */
static raft_id draw_server(struct membership *m,
                           const struct raft_configuration *conf,
                           enum raft_server_role role,
                           raft_id not )
{
    raft_id pool[RAFT_MAX_SERVERS];
    unsigned n = 0;
    for (uint32_t k = 0; k < conf->count && k < RAFT_MAX_SERVERS; k++) {
        const struct raft_server *sv = &conf->servers[k];
        if (sv->id != not &&(role == 0 || sv->role == role)) {
            pool[n++] = sv->id;
        }
    }
    /* Ids in ascending order, so that the draw does not depend on the
     * order of the configuration's servers. */
    for (unsigned i = 1; i < n; i++) {
        for (unsigned j = i; j > 0 && pool[j - 1] > pool[j]; j--) {
            raft_id t = pool[j];
            pool[j] = pool[j - 1];
            pool[j - 1] = t;
        }
    }
    return n == 0 ? 0 : pool[common_prng_below(&m->prng, n)];
}

/* ------------------------------------------------------------------------ */
/* One attempt                                                               */
/* ------------------------------------------------------------------------ */

enum outcome {
    OUTCOME_RETRY = 0,
    OUTCOME_DONE = 1,
    OUTCOME_GIVE_UP = 2,
};

/* Resolves a selector of @a against the leader @l and its configuration;
 * false when nothing fits. */
static bool resolve(struct membership *m,
                    struct action *a,
                    raft_id l,
                    const struct raft_configuration *conf)
{
    if (a->id != 0) {
        return true;
    }
    switch (a->target.kind) {
        case SCENARIO_TARGET_LEADER:
            a->id = l;
            break;
        case SCENARIO_TARGET_FOLLOWER:
            a->id = draw_server(m, conf, RAFT_VOTER, l);
            break;
        default: /* RANDOM */
            a->id = draw_server(
                m, conf,
                a->kind == SCENARIO_FAULT_TRANSFER_LEADER ? RAFT_VOTER : 0, 0);
            break;
    }
    return a->id != 0;
}

/* Whether @a's goal holds in @conf (committed) with @l leading. */
static bool reached(const struct action *a,
                    raft_id l,
                    const struct raft_configuration *conf)
{
    enum raft_server_role r = role_in(conf, a->id);
    switch (a->kind) {
        case SCENARIO_FAULT_ADD_NODE:
            return r != 0;
        case SCENARIO_FAULT_PROMOTE:
            return r == RAFT_VOTER;
        case SCENARIO_FAULT_REMOVE_NODE:
            return r == 0;
        default:
            return l == a->id;
    }
}

/* Why @a cannot be asked of the leader with @conf in force (NULL: it
 * can): only a learner is promoted, and leadership goes to a voter. */
static const char *refusal(const struct action *a,
                           const struct raft_configuration *conf)
{
    enum raft_server_role r = role_in(conf, a->id);
    if (a->kind == SCENARIO_FAULT_PROMOTE && r != RAFT_LEARNER) {
        return "not a learner";
    }
    if (a->kind == SCENARIO_FAULT_TRANSFER_LEADER && r != RAFT_VOTER) {
        return "not a voter";
    }
    return NULL;
}

static enum cluster_control_op op_of(enum scenario_fault_kind kind)
{
    switch (kind) {
        case SCENARIO_FAULT_ADD_NODE:
            return CLUSTER_ADD_LEARNER;
        case SCENARIO_FAULT_PROMOTE:
            return CLUSTER_PROMOTE;
        case SCENARIO_FAULT_REMOVE_NODE:
            return CLUSTER_REMOVE;
        default:
            return CLUSTER_TRANSFER;
    }
}

static const char *control_outcome(int rv)
{
    switch (rv) {
        case COMMON_EBUSY:
            return "busy (a change or a transfer in flight)";
        case COMMON_ERANGE:
            return "refused: the learner is too far behind";
        case COMMON_ENOTLEADER:
            return "refused: no longer the leader";
        case COMMON_EUNAVAILABLE:
            return "unavailable (down, paused or stopped)";
        default:
            return common_strerror(rv);
    }
}

/* What follows a goal reached: the promotion after an add, the retirement
 * after a removal. */
static void finish(struct membership *m, const struct action *a, raft_id l)
{
    const char *what = kind_name(a->kind);
    m->done++;
    switch (a->kind) {
        case SCENARIO_FAULT_ADD_NODE:
            cluster_event(
                m->cl, "membership: %s %llu done: a learner (leader %llu)",
                what, (unsigned long long)a->id, (unsigned long long)l);
            if (a->auto_promote) {
                struct action p = {
                    .kind = SCENARIO_FAULT_PROMOTE,
                    .target = {SCENARIO_TARGET_NODE, (unsigned)a->id},
                    .id = a->id};
                enqueue(m, &p, true);
            }
            break;
        case SCENARIO_FAULT_PROMOTE:
            cluster_event(
                m->cl, "membership: %s %llu done: a voter (leader %llu)", what,
                (unsigned long long)a->id, (unsigned long long)l);
            break;
        case SCENARIO_FAULT_REMOVE_NODE:
            cluster_event(
                m->cl, "membership: %s %llu done: removed (leader %llu)", what,
                (unsigned long long)a->id, (unsigned long long)l);
            if (cluster_present(m->cl, a->id)) {
                cluster_retire(m->cl, a->id);
            }
            break;
        default:
            cluster_event(m->cl, "membership: %s %llu done: it leads", what,
                          (unsigned long long)a->id);
            break;
    }
}

static enum outcome attempt(struct membership *m, struct action *a)
{
    const char *what = kind_name(a->kind);
    unsigned n = ++a->attempts;
    raft_id l = cluster_leader(m->cl);
    if (l == 0) {
        if (a->id != 0) {
            cluster_event(m->cl, "membership: %s %llu attempt %u: no leader",
                          what, (unsigned long long)a->id, n);
        } else {
            cluster_event(m->cl, "membership: %s attempt %u: no leader", what,
                          n);
        }
        return OUTCOME_RETRY;
    }
    struct cluster_node_status st;
    cluster_status(m->cl, l, &st);
    if (!resolve(m, a, l, &st.conf)) {
        cluster_event(m->cl, "membership: %s given up: no node fits", what);
        return OUTCOME_GIVE_UP;
    }
    unsigned long long id = a->id;
    bool committed = st.commit >= st.conf_index;
    bool goal = reached(a, l, &st.conf);
    if (goal && (committed || a->kind == SCENARIO_FAULT_TRANSFER_LEADER)) {
        finish(m, a, l);
        return OUTCOME_DONE;
    }
    if (!committed) {
        /* Its own entry, or another change: either way one at a time. */
        cluster_event(m->cl,
                      "membership: %s %llu attempt %u: leader %llu has a "
                      "change in flight (%s at index %llu)",
                      what, id, n, (unsigned long long)l,
                      goal ? "this one" : "another",
                      (unsigned long long)st.conf_index);
        return OUTCOME_RETRY;
    }
    const char *no = refusal(a, &st.conf);
    if (no != NULL) {
        cluster_event(m->cl, "membership: %s %llu given up: node %llu is %s",
                      what, id, id, no);
        return OUTCOME_GIVE_UP;
    }
    if (a->kind == SCENARIO_FAULT_ADD_NODE && !cluster_present(m->cl, a->id)) {
        /* It boots empty with the configuration it is to join. */
        int rv = cluster_join(m->cl, a->id, &st.conf);
        if (rv != 0) {
            cluster_event(m->cl,
                          "membership: %s %llu attempt %u: cannot boot: %s",
                          what, id, n, common_strerror(rv));
            return OUTCOME_RETRY;
        }
    }
    raft_index index = 0;
    int rv = cluster_control(m->cl, l, op_of(a->kind), a->id, &index);
    if (rv == 0 && a->kind == SCENARIO_FAULT_TRANSFER_LEADER) {
        cluster_event(m->cl,
                      "membership: %s %llu attempt %u: leader %llu hands over",
                      what, id, n, (unsigned long long)l);
    } else if (rv == 0) {
        cluster_event(
            m->cl,
            "membership: %s %llu attempt %u: leader %llu appended it at "
            "index %llu",
            what, id, n, (unsigned long long)l, (unsigned long long)index);
    } else {
        cluster_event(m->cl, "membership: %s %llu attempt %u: leader %llu %s",
                      what, id, n, (unsigned long long)l, control_outcome(rv));
        if (rv == COMMON_EINVAL) {
            return OUTCOME_GIVE_UP;
        }
    }
    return OUTCOME_RETRY;
}

static void work_queue(struct membership *m, uint64_t now)
{
    /* Bounded: each pass either waits or removes an action. */
    for (unsigned pass = 0; pass < MEMBERSHIP_QUEUE && m->len > 0; pass++) {
        struct action *a = &m->queue[m->head];
        if (a->started && now < a->next_at) {
            return;
        }
        a->started = true;
        enum outcome o = attempt(m, a);
        if (o == OUTCOME_RETRY && a->attempts >= MEMBERSHIP_ATTEMPTS) {
            cluster_event(
                m->cl, "membership: %s %llu given up after %u attempts",
                kind_name(a->kind), (unsigned long long)a->id, a->attempts);
            o = OUTCOME_GIVE_UP;
        }
        if (o == OUTCOME_RETRY) {
            a->next_at = now + MEMBERSHIP_RETRY_MS * COMMON_NS_PER_MS;
            return;
        }
        if (o == OUTCOME_GIVE_UP) {
            m->given_up++;
        }
        /* finish() may have queued a promote in front of this action. */
        if (&m->queue[m->head] != a) {
            struct action next = m->queue[m->head];
            dequeue(m);
            dequeue(m);
            enqueue(m, &next, true);
        } else {
            dequeue(m);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The membership nemesis                                                    */
/* ------------------------------------------------------------------------ */

/* One random change that keeps the voters within [voters_min,
 * voters_max]: a learner left over is promoted; otherwise grow (add a
 * node outside), shrink (remove a voter, the leader included) or hand
 * leadership to another voter, drawn among those that fit. */
static void nemesis_act(struct membership *m)
{
    const struct scenario_nemesis *nm = &m->s->nemesis;
    raft_id l = cluster_leader(m->cl);
    if (l == 0) {
        cluster_event(m->cl, "membership nemesis: no leader, nothing changes");
        return;
    }
    struct cluster_node_status st;
    cluster_status(m->cl, l, &st);
    unsigned voters = raft_configuration_voter_count(&st.conf);
    struct action a = {.target = {SCENARIO_TARGET_NODE, 0}};
    raft_id learner = draw_server(m, &st.conf, RAFT_LEARNER, 0);
    if (learner != 0) {
        a.kind = SCENARIO_FAULT_PROMOTE;
        a.id = learner;
    } else {
        raft_id outside[SCENARIO_MAX_NODES];
        unsigned n_out = 0;
        for (raft_id id = 1; id <= m->s->nodes; id++) {
            if (role_in(&st.conf, id) == 0) {
                outside[n_out++] = id;
            }
        }
        enum scenario_fault_kind kinds[3];
        unsigned n_kinds = 0;
        if (voters < nm->voters_max && n_out > 0) {
            kinds[n_kinds++] = SCENARIO_FAULT_ADD_NODE;
        }
        if (voters > nm->voters_min) {
            kinds[n_kinds++] = SCENARIO_FAULT_REMOVE_NODE;
        }
        if (voters >= 2) {
            kinds[n_kinds++] = SCENARIO_FAULT_TRANSFER_LEADER;
        }
        if (n_kinds == 0) {
            return;
        }
        a.kind = kinds[common_prng_below(&m->prng, n_kinds)];
        switch (a.kind) {
            case SCENARIO_FAULT_ADD_NODE:
                a.id = outside[common_prng_below(&m->prng, n_out)];
                a.auto_promote = true;
                break;
            case SCENARIO_FAULT_REMOVE_NODE:
                a.id = draw_server(m, &st.conf, RAFT_VOTER, 0);
                break;
            default:
                a.id = draw_server(m, &st.conf, RAFT_VOTER, l);
                break;
        }
    }
    a.target.id = (unsigned)a.id;
    cluster_event(m->cl, "membership nemesis: %s %llu (%u voters, leader %llu)",
                  kind_name(a.kind), (unsigned long long)a.id, voters,
                  (unsigned long long)l);
    enqueue(m, &a, false);
}

void membership_step(struct membership *m, uint64_t now)
{
    const struct scenario_nemesis *nm = &m->s->nemesis;
    if (nm->membership && now >= m->nemesis_next) {
        m->nemesis_next = now + (uint64_t)(nm->membership_interval_s * 1e9);
        if (m->len == 0) {
            nemesis_act(m);
        }
    }
    if (m->len > 0) {
        work_queue(m, now);
    }
}

void membership_stop(struct membership *m)
{
    while (m->len > 0) {
        struct action *a = &m->queue[m->head];
        cluster_event(m->cl,
                      "membership: %s %llu dropped at the end of the run",
                      kind_name(a->kind), (unsigned long long)a->id);
        dequeue(m);
    }
}

void membership_counts(const struct membership *m,
                       uint64_t *done,
                       uint64_t *given_up)
{
    *done = m->done;
    *given_up = m->given_up;
}
