/*
 * scenario: the YAML scenario format (docs/scenarios.md) read into struct
 * scenario.
 *
 * The text is parsed into a tree that keeps every node's position
 * (yaml_tree.c), then read field by field against the format. Fields that
 * depend on others are read after what they depend on, whatever order the
 * file writes them in: node ids need `nodes`, fault times `duration_s`,
 * heartbeat_ticks `election_ticks`. The first problem ends the load. Its
 * message names the field by its path in the file ("faults[2].link.loss")
 * and points at the node at fault: the value for a bad value, the key for
 * an unknown, duplicate or extra key, the enclosing mapping for a missing
 * field.
 *
 * Every collection the format allows is bounded before it is walked: the
 * fault list by SCENARIO_MAX_FAULTS, a partition by its nodes (no node may
 * repeat), the nemesis list by its seven names (none may repeat), mappings
 * by their known keys (an unknown or repeated one stops the reading).
 */
#include "harness/harness.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "yaml_tree.h"

#define DURATION_S_MAX  3600.0
#define INTERVAL_S_MAX  3600.0
#define DELAY_MS_MAX    60000u
#define EXPECT_MS_MAX   3600000u
#define MIX_WEIGHT_MAX  1000000u
#define SESSION_TTL_MAX 1000000000000ull /* log entries */
#define DISK_BYTES_MAX  (1ull << 40)
#define DISK_SYNCS_MAX  1000000000ull
/* Room for a field's path in messages, such as "faults[1023].link.loss". */
#define WHAT_MAX 96

/* The membership along the timeline, as far as the loader can tell:
 * what each node is at the fault being read (only while `known`: a
 * selector or the membership nemesis makes it a matter of the run), and
 * the add-node a later promote of the node takes over from. */
enum member_state {
    MEMBER_OUTSIDE = 0,
    MEMBER_LEARNER = 1, /* added by add-node, not yet promoted */
    MEMBER_VOTER = 2,
};

struct member_track
{
    bool known;
    enum member_state state[SCENARIO_MAX_NODES + 1];
    size_t added_at[SCENARIO_MAX_NODES + 1]; /* index + 1; 0: none */
};

struct loader
{
    struct harness_yreader r;
    struct scenario *s;
    struct member_track *mt;
};

/* "PREFIX.KEY" into @buf. */
static const char *field_path(char *buf,
                              size_t size,
                              const char *prefix,
                              const char *key)
{
    /* WHAT_MAX holds the longest path the format has; were one cut, only a
     * message would be shorter. */
    size_t a = strlen(prefix);
    size_t b = strlen(key);
    if (a > size - 1) {
        a = size - 1;
    }
    memcpy(buf, prefix, a);
    if (a + 1 < size) {
        buf[a++] = '.';
    }
    if (b > size - 1 - a) {
        b = size - 1 - a;
    }
    memcpy(buf + a, key, b);
    buf[a + b] = '\0';
    return buf;
}

static int read_unsigned(const struct loader *ld,
                         const struct harness_ynode *node,
                         const char *what,
                         unsigned min,
                         unsigned max,
                         unsigned *out)
{
    uint64_t v = 0;
    int rc = harness_yaml_uint(&ld->r, node, what, min, max, &v);
    if (rc == 0) {
        *out = (unsigned)v;
    }
    return rc;
}

/* An optional unsigned field of @prefix: left alone when absent. */
static int read_unsigned_field(const struct loader *ld,
                               const struct harness_yfield *f,
                               const char *prefix,
                               unsigned min,
                               unsigned max,
                               unsigned *out)
{
    char what[WHAT_MAX];
    if (f->value == NULL) {
        return 0;
    }
    return read_unsigned(ld, f->value,
                         field_path(what, sizeof what, prefix, f->key), min,
                         max, out);
}

static int read_bool_field(const struct loader *ld,
                           const struct harness_yfield *f,
                           const char *prefix,
                           bool *out)
{
    char what[WHAT_MAX];
    if (f->value == NULL) {
        return 0;
    }
    return harness_yaml_bool(
        &ld->r, f->value, field_path(what, sizeof what, prefix, f->key), out);
}

/* A probability in [0, 1]. */
static int read_probability_field(const struct loader *ld,
                                  const struct harness_yfield *f,
                                  const char *prefix,
                                  double *out)
{
    char what[WHAT_MAX];
    if (f->value == NULL) {
        return 0;
    }
    return harness_yaml_number(&ld->r, f->value,
                               field_path(what, sizeof what, prefix, f->key),
                               0.0, false, 1.0, false, out);
}

static int read_node_id(const struct loader *ld,
                        const struct harness_ynode *node,
                        const char *what,
                        unsigned *id)
{
    return read_unsigned(ld, node, what, 1, ld->s->nodes, id);
}

/* A delay in ms: one number (a fixed delay) or [min, max]. */
static int read_delay_unit(const struct loader *ld,
                           const struct harness_ynode *node,
                           const char *what,
                           const char *unit,
                           unsigned *min,
                           unsigned *max)
{
    char got[200];
    char item[WHAT_MAX + 8];
    int rc;

    if (node->kind == HARNESS_YSCALAR) {
        rc = read_unsigned(ld, node, what, 0, DELAY_MS_MAX, min);
        *max = *min;
        return rc;
    }
    if (node->kind != HARNESS_YSEQUENCE || node->n_items != 2) {
        if (node->kind == HARNESS_YSEQUENCE) {
            snprintf(got, sizeof got, "a sequence of %zu", node->n_items);
        } else {
            harness_yaml_describe(node, got, sizeof got);
        }
        return harness_yaml_error(&ld->r, node,
                                  "%s: expected a delay in %s or a range "
                                  "[min, max], got %s",
                                  what, unit, got);
    }
    snprintf(item, sizeof item, "%s[0]", what);
    rc = read_unsigned(ld, node->items[0], item, 0, DELAY_MS_MAX, min);
    if (rc != 0) {
        return rc;
    }
    snprintf(item, sizeof item, "%s[1]", what);
    rc = read_unsigned(ld, node->items[1], item, 0, DELAY_MS_MAX, max);
    if (rc != 0) {
        return rc;
    }
    if (*min > *max) {
        return harness_yaml_error(&ld->r, node,
                                  "%s: min %u is greater than max %u", what,
                                  *min, *max);
    }
    return 0;
}

static int read_delay(const struct loader *ld,
                      const struct harness_ynode *node,
                      const char *what,
                      unsigned *min,
                      unsigned *max)
{
    return read_delay_unit(ld, node, what, "ms", min, max);
}

/* ------------------------------------------------------------------------ */
/* timing, clients                                                           */
/* ------------------------------------------------------------------------ */

static int read_timing(const struct loader *ld, const struct harness_ynode *map)
{
    enum {
        T_TICK,
        T_ELECTION,
        T_HEARTBEAT,
        T_PRE_VOTE,
        T_CHECK_QUORUM,
        T_LATENCY,
        T_N
    };
    struct harness_yfield f[T_N] = {
        [T_TICK] = {.key = "tick_ms"},
        [T_ELECTION] = {.key = "election_ticks"},
        [T_HEARTBEAT] = {.key = "heartbeat_ticks"},
        [T_PRE_VOTE] = {.key = "pre_vote"},
        [T_CHECK_QUORUM] = {.key = "check_quorum"},
        [T_LATENCY] = {.key = "latency_us"},
    };
    struct scenario *s = ld->s;
    int rc = harness_yaml_fields(&ld->r, map, "timing", f, T_N);
    if (rc == 0) {
        rc = read_unsigned_field(ld, &f[T_TICK], "timing", 1, 1000,
                                 &s->timing.tick_ms);
    }
    if (rc == 0) {
        rc = read_unsigned_field(ld, &f[T_ELECTION], "timing", 2, 1000,
                                 &s->timing.election_ticks);
    }
    if (rc == 0 && f[T_HEARTBEAT].value == NULL &&
        s->timing.heartbeat_ticks >= s->timing.election_ticks) {
        return harness_yaml_error(&ld->r, f[T_ELECTION].value,
                                  "timing.election_ticks: %u is not above "
                                  "heartbeat_ticks (%u by default)",
                                  s->timing.election_ticks,
                                  s->timing.heartbeat_ticks);
    }
    if (rc == 0) {
        /* A leader must be heard from before followers time out. */
        rc = read_unsigned_field(ld, &f[T_HEARTBEAT], "timing", 1,
                                 s->timing.election_ticks - 1,
                                 &s->timing.heartbeat_ticks);
    }
    if (rc == 0) {
        rc = read_bool_field(ld, &f[T_PRE_VOTE], "timing", &s->timing.pre_vote);
    }
    if (rc == 0) {
        rc = read_bool_field(ld, &f[T_CHECK_QUORUM], "timing",
                             &s->timing.check_quorum);
    }
    if (rc == 0 && f[T_LATENCY].value != NULL) {
        rc = read_delay_unit(ld, f[T_LATENCY].value, "timing.latency_us", "us",
                             &s->timing.latency_us_min,
                             &s->timing.latency_us_max);
        s->timing.latency_set = rc == 0;
    }
    return rc;
}

static int read_mix(const struct loader *ld, const struct harness_ynode *map)
{
    enum {
        M_GET,
        M_PUT,
        M_CAS,
        M_APPEND,
        M_DELETE,
        M_N
    };
    struct harness_yfield f[M_N] = {
        [M_GET] = {.key = "get"},       [M_PUT] = {.key = "put"},
        [M_CAS] = {.key = "cas"},       [M_APPEND] = {.key = "append"},
        [M_DELETE] = {.key = "delete"},
    };
    struct scenario_mix *mix = &ld->s->clients.mix;
    unsigned *weights[M_N] = {
        [M_GET] = &mix->get,       [M_PUT] = &mix->put,    [M_CAS] = &mix->cas,
        [M_APPEND] = &mix->append, [M_DELETE] = &mix->del,
    };
    uint64_t total = 0;
    int rc = harness_yaml_fields(&ld->r, map, "clients.mix", f, M_N);
    for (size_t i = 0; rc == 0 && i < M_N; i++) {
        /* Given a mix, what it leaves out is not done at all. */
        *weights[i] = 0;
        rc = read_unsigned_field(ld, &f[i], "clients.mix", 0, MIX_WEIGHT_MAX,
                                 weights[i]);
        total += *weights[i];
    }
    if (rc == 0 && total == 0) {
        return harness_yaml_error(&ld->r, map,
                                  "clients.mix: every weight is 0; give at "
                                  "least one operation a weight above 0");
    }
    return rc;
}

/* clients.session_ttl: log entries a session may stay idle (0: never
 * expire). */
static int read_session_ttl(const struct loader *ld,
                            const struct harness_ynode *node)
{
    struct scenario *s = ld->s;
    s->clients.session_ttl_set = true;
    return harness_yaml_uint(&ld->r, node, "clients.session_ttl", 0,
                             SESSION_TTL_MAX, &s->clients.session_ttl);
}

static int read_clients(const struct loader *ld,
                        const struct harness_ynode *map)
{
    enum {
        C_COUNT,
        C_KEYS,
        C_VALUE_SIZE,
        C_TIMEOUT,
        C_THINK,
        C_MIX,
        C_SESSION_TTL,
        C_N
    };
    struct harness_yfield f[C_N] = {
        [C_COUNT] = {.key = "count"},
        [C_KEYS] = {.key = "keys"},
        [C_VALUE_SIZE] = {.key = "value_size"},
        [C_TIMEOUT] = {.key = "timeout_ms"},
        [C_THINK] = {.key = "think_ms"},
        [C_MIX] = {.key = "mix"},
        [C_SESSION_TTL] = {.key = "session_ttl"},
    };
    struct scenario *s = ld->s;
    int rc = harness_yaml_fields(&ld->r, map, "clients", f, C_N);
    if (rc == 0 && f[C_COUNT].value == NULL) {
        return harness_yaml_missing(&ld->r, map, "clients", "count");
    }
    const struct
    {
        size_t field;
        unsigned min;
        unsigned max;
        unsigned *out;
    } ranges[] = {
        {C_COUNT, 1, 1024, &s->clients.count},
        {C_KEYS, 1, 1000000, &s->clients.keys},
        {C_VALUE_SIZE, 1, 65536, &s->clients.value_size},
        {C_TIMEOUT, 1, 600000, &s->clients.timeout_ms},
        {C_THINK, 0, 60000, &s->clients.think_ms},
    };
    for (size_t i = 0; rc == 0 && i < sizeof ranges / sizeof ranges[0]; i++) {
        rc = read_unsigned_field(ld, &f[ranges[i].field], "clients",
                                 ranges[i].min, ranges[i].max, ranges[i].out);
    }
    if (rc == 0 && f[C_MIX].value != NULL) {
        rc = read_mix(ld, f[C_MIX].value);
    }
    if (rc == 0 && f[C_SESSION_TTL].value != NULL) {
        rc = read_session_ttl(ld, f[C_SESSION_TTL].value);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* faults                                                                    */
/* ------------------------------------------------------------------------ */

/* Bit sets of enum scenario_target_kind: the words each fault takes. */
#define TARGET_BIT(kind) (1u << (kind))
#define TARGETS_UP                          \
    (TARGET_BIT(SCENARIO_TARGET_LEADER) |   \
     TARGET_BIT(SCENARIO_TARGET_FOLLOWER) | \
     TARGET_BIT(SCENARIO_TARGET_RANDOM))
#define TARGETS_DOWN \
    (TARGET_BIT(SCENARIO_TARGET_RANDOM) | TARGET_BIT(SCENARIO_TARGET_ALL))
/* The selectors of partition groups and of the ends of cuts and links. */
#define TARGETS_PICK                        \
    (TARGET_BIT(SCENARIO_TARGET_LEADER) |   \
     TARGET_BIT(SCENARIO_TARGET_FOLLOWER) | \
     TARGET_BIT(SCENARIO_TARGET_FOLLOWERS))

/* A node id, or one of the words in @allowed (leader, follower, random,
 * all, followers). @fault names the fault in messages. */
static int read_target(const struct loader *ld,
                       const struct harness_ynode *node,
                       const char *what,
                       const char *fault,
                       unsigned allowed,
                       struct scenario_target *t)
{
    static const char *const names[] = {"leader", "follower", "random", "all",
                                        "followers"};
    static const enum scenario_target_kind kinds[] = {
        SCENARIO_TARGET_LEADER,    SCENARIO_TARGET_FOLLOWER,
        SCENARIO_TARGET_RANDOM,    SCENARIO_TARGET_ALL,
        SCENARIO_TARGET_FOLLOWERS,
    };
    enum {
        N_WORDS = sizeof names / sizeof names[0]
    };
    const char *words[N_WORDS];
    size_t n_words = 0;
    char list[64] = "";
    char got[200];

    for (size_t i = 0; i < N_WORDS; i++) {
        if ((allowed & TARGET_BIT(kinds[i])) != 0) {
            words[n_words++] = names[i];
        }
    }
    for (size_t i = 0; i < n_words; i++) {
        size_t o = strlen(list);
        snprintf(list + o, sizeof list - o, "%s%s",
                 i + 1 == n_words ? " or " : ", ", words[i]);
    }
    for (size_t i = 0; i < N_WORDS; i++) {
        if (!harness_yaml_is(node, names[i])) {
            continue;
        }
        if ((allowed & TARGET_BIT(kinds[i])) == 0) {
            return harness_yaml_error(&ld->r, node,
                                      "%s: '%s' does not apply to %s; "
                                      "expected a node id (1..%u)%s",
                                      what, names[i], fault, ld->s->nodes,
                                      list);
        }
        t->kind = kinds[i];
        t->id = 0;
        return 0;
    }
    if (node->kind == HARNESS_YSCALAR && node->plain && node->len > 0 &&
        node->text[0] != '\0' && strchr("+-0123456789", node->text[0])) {
        t->kind = SCENARIO_TARGET_NODE;
        return read_node_id(ld, node, what, &t->id);
    }
    harness_yaml_describe(node, got, sizeof got);
    return harness_yaml_error(&ld->r, node,
                              "%s: expected a node id (1..%u)%s, got %s", what,
                              ld->s->nodes, list, got);
}

/* Where a partition's members were written, to name the first of two. */
struct partition_seen
{
    const struct harness_ynode *node[SCENARIO_MAX_NODES]; /* by id */
    const struct harness_ynode *leader;
    const struct harness_ynode *followers;
    unsigned members; /* nodes named by id, leader or follower */
};

/* Member @m of group @g: a node id, leader, follower or followers. */
static int read_partition_member(const struct loader *ld,
                                 const struct harness_ynode *member,
                                 const char *item,
                                 const char *what,
                                 unsigned g,
                                 struct partition_seen *seen,
                                 struct scenario_fault *fault)
{
    struct scenario_target t = {0};
    int rc = read_target(ld, member, item, "partition", TARGETS_PICK, &t);
    if (rc != 0) {
        return rc;
    }
    const struct harness_ynode **first = NULL;
    switch (t.kind) {
        case SCENARIO_TARGET_LEADER:
            first = &seen->leader;
            fault->pick[g].leader = true;
            break;
        case SCENARIO_TARGET_FOLLOWERS:
            first = &seen->followers;
            fault->pick[g].followers = true;
            break;
        case SCENARIO_TARGET_FOLLOWER:
            fault->pick[g].follower++;
            break;
        default:
            first = &seen->node[t.id - 1];
            fault->group[t.id - 1] = g;
            break;
    }
    if (first != NULL && *first != NULL) {
        if (t.kind == SCENARIO_TARGET_NODE) {
            return harness_yaml_error(&ld->r, member,
                                      "%s: node %u is in two groups "
                                      "(first at line %u, column %u)",
                                      what, t.id, (*first)->line,
                                      (*first)->column);
        }
        return harness_yaml_error(&ld->r, member,
                                  "%s: '%s' is in two places (first at line "
                                  "%u, column %u)",
                                  what, member->text, (*first)->line,
                                  (*first)->column);
    }
    if (first != NULL) {
        *first = member;
    }
    seen->members += t.kind != SCENARIO_TARGET_FOLLOWERS;
    return 0;
}

/* Groups of node ids and selectors (leader, follower, followers), which
 * must place every node exactly once: by id alone, or with followers
 * taking every node the others leave, or with as many members as
 * nodes. */
static int read_partition(const struct loader *ld,
                          const struct harness_ynode *node,
                          const char *what,
                          struct scenario_fault *fault)
{
    struct partition_seen seen;
    char got[200];
    char item[WHAT_MAX + 48];
    unsigned nodes = ld->s->nodes;

    memset(&seen, 0, sizeof seen);
    if (node->kind != HARNESS_YSEQUENCE) {
        harness_yaml_describe(node, got, sizeof got);
        return harness_yaml_error(&ld->r, node,
                                  "%s: expected groups of node ids, like "
                                  "[[1, 2, 3], [4, 5]], got %s",
                                  what, got);
    }
    if (node->n_items < 2) {
        return harness_yaml_error(&ld->r, node,
                                  "%s: needs at least 2 groups, got %zu", what,
                                  node->n_items);
    }
    /* Every group needs a node of its own: at most nodes groups. */
    for (size_t g = 0; g < node->n_items; g++) {
        const struct harness_ynode *group = node->items[g];
        if (group->kind != HARNESS_YSEQUENCE) {
            harness_yaml_describe(group, got, sizeof got);
            return harness_yaml_error(&ld->r, group,
                                      "%s[%zu]: expected a group of node "
                                      "ids, like [1, 2], got %s",
                                      what, g, got);
        }
        if (group->n_items == 0) {
            return harness_yaml_error(&ld->r, group, "%s[%zu]: empty group",
                                      what, g);
        }
        if (g >= nodes) {
            return harness_yaml_error(&ld->r, group,
                                      "%s: more groups than the %u nodes; "
                                      "every group needs a node",
                                      what, nodes);
        }
        /* A member repeats only as follower, and each one takes a node:
         * the loop ends within nodes + 2 members. */
        for (size_t m = 0; m < group->n_items; m++) {
            snprintf(item, sizeof item, "%s[%zu][%zu]", what, g, m);
            int rc = read_partition_member(ld, group->items[m], item, what,
                                           (unsigned)g, &seen, fault);
            if (rc != 0) {
                return rc;
            }
            if (seen.members > nodes) {
                return harness_yaml_error(&ld->r, group->items[m],
                                          "%s: names more than the %u "
                                          "nodes there are",
                                          what, nodes);
            }
        }
    }
    fault->n_groups = (unsigned)node->n_items;
    if (seen.followers != NULL && seen.leader == NULL) {
        return harness_yaml_error(&ld->r, seen.followers,
                                  "%s: 'followers' (every node but the leader "
                                  "and those placed elsewhere) needs "
                                  "'leader' in the partition too",
                                  what);
    }
    if (seen.followers != NULL && seen.members == nodes) {
        return harness_yaml_error(&ld->r, seen.followers,
                                  "%s: 'followers' would never take a node: "
                                  "the rest of the partition places all %u",
                                  what, nodes);
    }
    if (seen.followers != NULL || seen.members == nodes) {
        return 0;
    }
    bool selectors = seen.leader != NULL;
    for (unsigned g = 0; g < fault->n_groups; g++) {
        selectors = selectors || fault->pick[g].follower > 0;
    }
    for (unsigned k = 0; k < nodes && !selectors; k++) {
        if (seen.node[k] == NULL) {
            return harness_yaml_error(&ld->r, node,
                                      "%s: node %u is in no group; each of "
                                      "nodes 1..%u must be in exactly one",
                                      what, k + 1, nodes);
        }
    }
    return harness_yaml_error(&ld->r, node,
                              "%s: places %u of the %u nodes; name them all, "
                              "or put followers in a group for the rest",
                              what, seen.members, nodes);
}

/* hold: {fraction, ms}: both required. */
static int read_hold(const struct loader *ld,
                     const struct harness_ynode *map,
                     const char *what,
                     struct scenario_link_faults *l)
{
    enum {
        H_FRACTION,
        H_MS,
        H_N
    };
    struct harness_yfield f[H_N] = {
        [H_FRACTION] = {.key = "fraction"},
        [H_MS] = {.key = "ms"},
    };
    char field[WHAT_MAX];
    int rc = harness_yaml_fields(&ld->r, map, what, f, H_N);
    for (size_t i = 0; rc == 0 && i < H_N; i++) {
        if (f[i].value == NULL) {
            return harness_yaml_missing(&ld->r, map, what, f[i].key);
        }
    }
    if (rc == 0) {
        rc =
            read_probability_field(ld, &f[H_FRACTION], what, &l->hold_fraction);
    }
    if (rc == 0) {
        rc = read_delay(ld, f[H_MS].value,
                        field_path(field, sizeof field, what, "ms"),
                        &l->hold_ms_min, &l->hold_ms_max);
    }
    return rc;
}

/* One end of a link or a cut: a node id into *@id, or a selector
 * (leader, follower, followers) into *@kind. */
static int read_end(const struct loader *ld,
                    const struct harness_ynode *node,
                    const char *what,
                    const char *fault,
                    unsigned *id,
                    enum scenario_target_kind *kind)
{
    struct scenario_target t = {0};
    int rc = read_target(ld, node, what, fault, TARGETS_PICK, &t);
    if (rc == 0 && t.kind == SCENARIO_TARGET_NODE) {
        *id = t.id;
    } else if (rc == 0) {
        *kind = t.kind;
    }
    return rc;
}

/* The ends of a link or cut name the same node for sure: the same id, or
 * both the leader. */
static bool same_end(const struct scenario_fault *fault)
{
    if (fault->from_kind == 0 && fault->to_kind == 0) {
        return fault->from != 0 && fault->from == fault->to;
    }
    return fault->from_kind == SCENARIO_TARGET_LEADER &&
           fault->to_kind == SCENARIO_TARGET_LEADER;
}

/* "node 3" or "the leader", the end same_end() found twice. */
static const char *same_end_name(const struct scenario_fault *fault,
                                 char *buf,
                                 size_t size)
{
    if (fault->from_kind == SCENARIO_TARGET_LEADER) {
        return "the leader";
    }
    snprintf(buf, size, "node %u", fault->from);
    return buf;
}

static int read_link(const struct loader *ld,
                     const struct harness_ynode *map,
                     const char *what,
                     struct scenario_fault *fault)
{
    enum {
        L_FROM,
        L_TO,
        L_LOSS,
        L_DUPLICATE,
        L_REORDER,
        L_DELAY,
        L_HOLD,
        L_N
    };
    struct harness_yfield f[L_N] = {
        [L_FROM] = {.key = "from"},       [L_TO] = {.key = "to"},
        [L_LOSS] = {.key = "loss"},       [L_DUPLICATE] = {.key = "duplicate"},
        [L_REORDER] = {.key = "reorder"}, [L_DELAY] = {.key = "delay_ms"},
        [L_HOLD] = {.key = "hold"},
    };
    char field[WHAT_MAX];
    char name[32];
    int rc = harness_yaml_fields(&ld->r, map, what, f, L_N);
    if (rc == 0 && f[L_FROM].value != NULL) {
        rc = read_end(ld, f[L_FROM].value,
                      field_path(field, sizeof field, what, "from"), "link",
                      &fault->from, &fault->from_kind);
    }
    if (rc == 0 && f[L_TO].value != NULL) {
        rc = read_end(ld, f[L_TO].value,
                      field_path(field, sizeof field, what, "to"), "link",
                      &fault->to, &fault->to_kind);
    }
    if (rc == 0 && same_end(fault)) {
        return harness_yaml_error(&ld->r, f[L_TO].value,
                                  "%s: from and to are both %s; a link "
                                  "joins two different nodes",
                                  what,
                                  same_end_name(fault, name, sizeof name));
    }
    if (rc == 0) {
        rc = read_probability_field(ld, &f[L_LOSS], what, &fault->link.loss);
    }
    if (rc == 0) {
        rc = read_probability_field(ld, &f[L_DUPLICATE], what,
                                    &fault->link.duplicate);
    }
    if (rc == 0) {
        rc = read_probability_field(ld, &f[L_REORDER], what,
                                    &fault->link.reorder);
    }
    if (rc == 0 && f[L_DELAY].value != NULL) {
        rc = read_delay(ld, f[L_DELAY].value,
                        field_path(field, sizeof field, what, "delay_ms"),
                        &fault->link.delay_ms_min, &fault->link.delay_ms_max);
    }
    if (rc == 0 && f[L_HOLD].value != NULL) {
        rc = read_hold(ld, f[L_HOLD].value,
                       field_path(field, sizeof field, what, "hold"),
                       &fault->link);
    }
    return rc;
}

static int read_cut(const struct loader *ld,
                    const struct harness_ynode *map,
                    const char *what,
                    struct scenario_fault *fault)
{
    enum {
        X_FROM,
        X_TO,
        X_BOTH_WAYS,
        X_N
    };
    struct harness_yfield f[X_N] = {
        [X_FROM] = {.key = "from"},
        [X_TO] = {.key = "to"},
        [X_BOTH_WAYS] = {.key = "both_ways"},
    };
    char field[WHAT_MAX];
    char name[32];
    int rc = harness_yaml_fields(&ld->r, map, what, f, X_N);
    if (rc == 0 && f[X_FROM].value == NULL) {
        return harness_yaml_missing(&ld->r, map, what, "from");
    }
    if (rc == 0 && f[X_TO].value == NULL) {
        return harness_yaml_missing(&ld->r, map, what, "to");
    }
    if (rc == 0) {
        rc = read_end(ld, f[X_FROM].value,
                      field_path(field, sizeof field, what, "from"), "cut",
                      &fault->from, &fault->from_kind);
    }
    if (rc == 0) {
        rc = read_end(ld, f[X_TO].value,
                      field_path(field, sizeof field, what, "to"), "cut",
                      &fault->to, &fault->to_kind);
    }
    if (rc == 0 && same_end(fault)) {
        return harness_yaml_error(&ld->r, f[X_TO].value,
                                  "%s: from and to are both %s; a cut "
                                  "link joins two different nodes",
                                  what,
                                  same_end_name(fault, name, sizeof name));
    }
    if (rc == 0) {
        rc = read_bool_field(ld, &f[X_BOTH_WAYS], what, &fault->both_ways);
    }
    return rc;
}

/* Names of enum scenario_forge_type, in its order. */
static const char *const forge_types[] = {
    "heartbeat", "append", "vote", "pre-vote", "append-resp", "heartbeat-resp",
};

static int read_forge(const struct loader *ld,
                      const struct harness_ynode *map,
                      const char *what,
                      struct scenario_fault *fault)
{
    enum {
        F_TO,
        F_FROM,
        F_TYPE,
        F_TERM,
        F_INDEX,
        F_N
    };
    struct harness_yfield f[F_N] = {
        [F_TO] = {.key = "to"},       [F_FROM] = {.key = "from"},
        [F_TYPE] = {.key = "type"},   [F_TERM] = {.key = "term"},
        [F_INDEX] = {.key = "index"},
    };
    char field[WHAT_MAX];
    fault->forge_type = SCENARIO_FORGE_HEARTBEAT;
    fault->forge_term = UINT64_MAX;
    fault->forge_index = 0;
    int rc = harness_yaml_fields(&ld->r, map, what, f, F_N);
    if (rc == 0 && ld->s->nodes < 2) {
        return harness_yaml_error(&ld->r, map,
                                  "%s: needs at least 2 nodes (one to "
                                  "receive, one to claim to send)",
                                  what);
    }
    if (rc == 0 && f[F_TO].value == NULL) {
        return harness_yaml_missing(&ld->r, map, what, "to");
    }
    if (rc == 0) {
        rc = read_target(ld, f[F_TO].value,
                         field_path(field, sizeof field, what, "to"), "forge",
                         TARGETS_UP, &fault->target);
    }
    if (rc == 0 && f[F_FROM].value != NULL) {
        rc = read_node_id(ld, f[F_FROM].value,
                          field_path(field, sizeof field, what, "from"),
                          &fault->from);
    }
    if (rc == 0 && fault->target.kind == SCENARIO_TARGET_NODE &&
        fault->from == fault->target.id) {
        return harness_yaml_error(&ld->r, f[F_FROM].value,
                                  "%s: from and to are both node %u; a "
                                  "forged message claims to come from "
                                  "another node",
                                  what, fault->from);
    }
    if (rc == 0 && f[F_TYPE].value != NULL) {
        size_t type = 0;
        rc = harness_yaml_choice(
            &ld->r, f[F_TYPE].value,
            field_path(field, sizeof field, what, "type"), forge_types,
            sizeof forge_types / sizeof forge_types[0], &type);
        fault->forge_type = (enum scenario_forge_type)type;
    }
    if (rc == 0 && f[F_TERM].value != NULL) {
        rc = harness_yaml_uint(&ld->r, f[F_TERM].value,
                               field_path(field, sizeof field, what, "term"), 0,
                               UINT64_MAX, &fault->forge_term);
    }
    if (rc == 0 && f[F_INDEX].value != NULL) {
        rc = harness_yaml_uint(&ld->r, f[F_INDEX].value,
                               field_path(field, sizeof field, what, "index"),
                               0, UINT64_MAX, &fault->forge_index);
    }
    return rc;
}

/* A membership action's target: a node id for add-node and promote;
 * also leader or random for remove-node, follower or random for
 * transfer-leader. Where the loader knows the membership (no selector
 * before, no membership nemesis) it refuses what cannot be: adding a
 * member, promoting what is not a learner, removing or handing leadership
 * to a node outside. */
static int read_membership(const struct loader *ld,
                           const struct harness_ynode *node,
                           const char *what,
                           const char *key,
                           size_t index,
                           struct scenario_fault *fault)
{
    unsigned allowed = 0;
    if (fault->kind == SCENARIO_FAULT_REMOVE_NODE) {
        allowed = TARGET_BIT(SCENARIO_TARGET_LEADER) |
                  TARGET_BIT(SCENARIO_TARGET_RANDOM);
    } else if (fault->kind == SCENARIO_FAULT_TRANSFER_LEADER) {
        allowed = TARGET_BIT(SCENARIO_TARGET_FOLLOWER) |
                  TARGET_BIT(SCENARIO_TARGET_RANDOM);
    }
    int rc = read_target(ld, node, what, key, allowed, &fault->target);
    if (rc != 0) {
        return rc;
    }
    struct member_track *mt = ld->mt;
    unsigned id = fault->target.id;
    if (fault->target.kind != SCENARIO_TARGET_NODE) {
        mt->known = false; /* which node goes is the run's to say */
        return 0;
    }
    enum member_state st = mt->state[id];
    const char *problem = NULL;
    switch (fault->kind) {
        case SCENARIO_FAULT_ADD_NODE:
            fault->auto_promote = true;
            mt->added_at[id] = index + 1;
            problem = st != MEMBER_OUTSIDE ? "is already a member" : NULL;
            st = MEMBER_LEARNER;
            break;
        case SCENARIO_FAULT_PROMOTE:
            if (mt->added_at[id] != 0) {
                /* This promote, not the harness, promotes that add. */
                ld->s->faults[mt->added_at[id] - 1].auto_promote = false;
                mt->added_at[id] = 0;
            }
            problem = st != MEMBER_LEARNER
                          ? "is not a learner (add it with add-node first)"
                          : NULL;
            st = MEMBER_VOTER;
            break;
        case SCENARIO_FAULT_REMOVE_NODE:
            mt->added_at[id] = 0;
            problem = st == MEMBER_OUTSIDE ? "is not a member" : NULL;
            st = MEMBER_OUTSIDE;
            break;
        default:
            problem = st == MEMBER_OUTSIDE ? "is not a member" : NULL;
            break;
    }
    if (problem != NULL && mt->known) {
        return harness_yaml_error(&ld->r, node, "%s: node %u %s at %g s", what,
                                  id, problem, fault->at_s);
    }
    mt->state[id] = st;
    return 0;
}

/* The keys of a fault item: `at` and one fault. */
enum {
    K_AT,
    K_PARTITION,
    K_HEAL,
    K_ISOLATE,
    K_CRASH,
    K_RESTART,
    K_PAUSE,
    K_RESUME,
    K_LINK,
    K_CUT,
    K_FORGE,
    K_CRASH_AFTER_VOTE,
    K_CRASH_AFTER_ACK,
    K_ADD_NODE,
    K_PROMOTE,
    K_REMOVE_NODE,
    K_TRANSFER_LEADER,
    K_N
};

static const enum scenario_fault_kind fault_kinds[K_N] = {
    [K_PARTITION] = SCENARIO_FAULT_PARTITION,
    [K_HEAL] = SCENARIO_FAULT_HEAL,
    [K_ISOLATE] = SCENARIO_FAULT_ISOLATE,
    [K_CRASH] = SCENARIO_FAULT_CRASH,
    [K_RESTART] = SCENARIO_FAULT_RESTART,
    [K_PAUSE] = SCENARIO_FAULT_PAUSE,
    [K_RESUME] = SCENARIO_FAULT_RESUME,
    [K_LINK] = SCENARIO_FAULT_LINK,
    [K_CUT] = SCENARIO_FAULT_CUT,
    [K_FORGE] = SCENARIO_FAULT_FORGE,
    [K_CRASH_AFTER_VOTE] = SCENARIO_FAULT_CRASH_AFTER_VOTE,
    [K_CRASH_AFTER_ACK] = SCENARIO_FAULT_CRASH_AFTER_ACK,
    [K_ADD_NODE] = SCENARIO_FAULT_ADD_NODE,
    [K_PROMOTE] = SCENARIO_FAULT_PROMOTE,
    [K_REMOVE_NODE] = SCENARIO_FAULT_REMOVE_NODE,
    [K_TRANSFER_LEADER] = SCENARIO_FAULT_TRANSFER_LEADER,
};

static bool written_before(const struct harness_ynode *a,
                           const struct harness_ynode *b)
{
    return a->line < b->line || (a->line == b->line && a->column < b->column);
}

/* Reads faults[@index] from @item; @prev is the fault before it (NULL for
 * the first) and @prev_at the node its time was read from. */
static int read_fault(const struct loader *ld,
                      const struct harness_ynode *item,
                      size_t index,
                      const struct scenario_fault *prev,
                      const struct harness_ynode **prev_at,
                      struct scenario_fault *fault)
{
    struct harness_yfield f[K_N] = {
        [K_AT] = {.key = "at"},
        [K_PARTITION] = {.key = "partition"},
        [K_HEAL] = {.key = "heal"},
        [K_ISOLATE] = {.key = "isolate"},
        [K_CRASH] = {.key = "crash"},
        [K_RESTART] = {.key = "restart"},
        [K_PAUSE] = {.key = "pause"},
        [K_RESUME] = {.key = "resume"},
        [K_LINK] = {.key = "link"},
        [K_CUT] = {.key = "cut"},
        [K_FORGE] = {.key = "forge"},
        [K_CRASH_AFTER_VOTE] = {.key = "crash_after_vote"},
        [K_CRASH_AFTER_ACK] = {.key = "crash_after_ack"},
        [K_ADD_NODE] = {.key = "add-node"},
        [K_PROMOTE] = {.key = "promote"},
        [K_REMOVE_NODE] = {.key = "remove-node"},
        [K_TRANSFER_LEADER] = {.key = "transfer-leader"},
    };
    char what[WHAT_MAX];
    char field[WHAT_MAX];
    char got[200];
    size_t k = 0;
    int rc;

    snprintf(what, sizeof what, "faults[%zu]", index);
    if (item->kind != HARNESS_YMAPPING) {
        harness_yaml_describe(item, got, sizeof got);
        return harness_yaml_error(&ld->r, item,
                                  "%s: expected a mapping like {at: 2, "
                                  "crash: leader}, got %s",
                                  what, got);
    }
    rc = harness_yaml_fields(&ld->r, item, what, f, K_N);
    if (rc != 0) {
        return rc;
    }
    for (size_t j = K_AT + 1; j < K_N; j++) {
        if (f[j].value == NULL) {
            continue;
        }
        if (k != 0) {
            /* Point at whichever of the two comes second. */
            const struct harness_yfield *later =
                written_before(f[k].key_node, f[j].key_node) ? &f[j] : &f[k];
            const struct harness_yfield *earlier =
                later == &f[j] ? &f[k] : &f[j];
            return harness_yaml_error(&ld->r, later->key_node,
                                      "%s: one fault per item, but both "
                                      "'%s' and '%s' are given",
                                      what, earlier->key, later->key);
        }
        k = j;
    }
    if (f[K_AT].value == NULL) {
        return harness_yaml_missing(&ld->r, item, what, "at");
    }
    if (k == 0) {
        return harness_yaml_error(&ld->r, item,
                                  "%s: no fault given (expected one of "
                                  "partition, heal, isolate, crash, restart, "
                                  "pause, resume, link, cut, forge, "
                                  "crash_after_vote, crash_after_ack, "
                                  "add-node, promote, remove-node or "
                                  "transfer-leader)",
                                  what);
    }

    field_path(field, sizeof field, what, "at");
    rc = harness_yaml_number(&ld->r, f[K_AT].value, field, 0.0, false, INFINITY,
                             true, &fault->at_s);
    if (rc != 0) {
        return rc;
    }
    if (!(fault->at_s < ld->s->duration_s)) {
        return harness_yaml_error(&ld->r, f[K_AT].value,
                                  "%s: fault at %.40s s is not before the "
                                  "end of the run (duration_s is %g)",
                                  field, f[K_AT].value->text,
                                  ld->s->duration_s);
    }
    if (prev != NULL && fault->at_s < prev->at_s) {
        return harness_yaml_error(&ld->r, f[K_AT].value,
                                  "%s: fault at %.40s s comes after one at "
                                  "%.40s s (line %u); faults go in time order",
                                  field, f[K_AT].value->text, (*prev_at)->text,
                                  prev->line);
    }
    *prev_at = f[K_AT].value;

    fault->kind = fault_kinds[k];
    fault->line = item->line;
    fault->column = item->column;
    field_path(field, sizeof field, what, f[k].key);
    switch (fault->kind) {
        case SCENARIO_FAULT_PARTITION:
            return read_partition(ld, f[k].value, field, fault);
        case SCENARIO_FAULT_HEAL: {
            bool heal = false;
            rc = harness_yaml_bool(&ld->r, f[k].value, field, &heal);
            if (rc == 0 && !heal) {
                return harness_yaml_error(&ld->r, f[k].value,
                                          "%s: must be true (leave the "
                                          "fault out instead)",
                                          field);
            }
            return rc;
        }
        case SCENARIO_FAULT_ISOLATE:
            /* Isolating every node would be no cluster at all. */
            return read_target(ld, f[k].value, field, f[k].key, TARGETS_UP,
                               &fault->target);
        case SCENARIO_FAULT_CRASH:
        case SCENARIO_FAULT_PAUSE:
        case SCENARIO_FAULT_CRASH_AFTER_VOTE:
        case SCENARIO_FAULT_CRASH_AFTER_ACK:
            return read_target(ld, f[k].value, field, f[k].key,
                               TARGETS_UP | TARGET_BIT(SCENARIO_TARGET_ALL),
                               &fault->target);
        case SCENARIO_FAULT_RESTART:
        case SCENARIO_FAULT_RESUME:
            /* These pick among nodes that are down: no leader there. */
            return read_target(ld, f[k].value, field, f[k].key, TARGETS_DOWN,
                               &fault->target);
        case SCENARIO_FAULT_LINK:
            return read_link(ld, f[k].value, field, fault);
        case SCENARIO_FAULT_CUT:
            return read_cut(ld, f[k].value, field, fault);
        case SCENARIO_FAULT_FORGE:
            return read_forge(ld, f[k].value, field, fault);
        case SCENARIO_FAULT_ADD_NODE:
        case SCENARIO_FAULT_PROMOTE:
        case SCENARIO_FAULT_REMOVE_NODE:
        case SCENARIO_FAULT_TRANSFER_LEADER:
            return read_membership(ld, f[k].value, field, f[k].key, index,
                                   fault);
    }
    return 0;
}

static int read_faults(const struct loader *ld,
                       const struct harness_ynode *node)
{
    struct scenario *s = ld->s;
    const struct harness_ynode *prev_at = NULL;
    char got[200];

    if (node->kind != HARNESS_YSEQUENCE) {
        harness_yaml_describe(node, got, sizeof got);
        return harness_yaml_error(&ld->r, node,
                                  "faults: expected a sequence of faults, "
                                  "got %s",
                                  got);
    }
    if (node->n_items > SCENARIO_MAX_FAULTS) {
        return harness_yaml_error(&ld->r, node->items[SCENARIO_MAX_FAULTS],
                                  "faults: more than %d faults",
                                  SCENARIO_MAX_FAULTS);
    }
    if (node->n_items == 0) {
        return 0;
    }
    s->faults = calloc(node->n_items, sizeof *s->faults);
    if (s->faults == NULL) {
        return harness_yaml_out_of_memory(&ld->r);
    }
    for (size_t i = 0; i < node->n_items; i++) {
        struct scenario_fault *fault = &s->faults[i];
        for (size_t k = 0; k < SCENARIO_MAX_NODES; k++) {
            fault->group[k] = SCENARIO_GROUP_NONE;
        }
        /* Counted first: scenario_fini frees the array on failure. */
        s->n_faults = i + 1;
        int rc = read_fault(ld, node->items[i], i, i > 0 ? fault - 1 : NULL,
                            &prev_at, fault);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* nemesis, expect                                                           */
/* ------------------------------------------------------------------------ */

static int read_nemesis_faults(const struct loader *ld,
                               const struct harness_ynode *node)
{
    static const char *const names[] = {
        "partition", "isolate-leader", "crash",   "pause",
        "loss",      "delay",          "one-way",
    };
    static const unsigned bits[] = {
        SCENARIO_NEMESIS_PARTITION, SCENARIO_NEMESIS_ISOLATE_LEADER,
        SCENARIO_NEMESIS_CRASH,     SCENARIO_NEMESIS_PAUSE,
        SCENARIO_NEMESIS_LOSS,      SCENARIO_NEMESIS_DELAY,
        SCENARIO_NEMESIS_ONE_WAY,
    };
    /* Those that need two sides to cut apart. */
    static const unsigned need_two = SCENARIO_NEMESIS_PARTITION |
                                     SCENARIO_NEMESIS_ISOLATE_LEADER |
                                     SCENARIO_NEMESIS_ONE_WAY;
    struct scenario_nemesis *n = &ld->s->nemesis;
    char got[200];
    char what[WHAT_MAX];

    if (node->kind != HARNESS_YSEQUENCE) {
        harness_yaml_describe(node, got, sizeof got);
        return harness_yaml_error(&ld->r, node,
                                  "nemesis.faults: expected a list of fault "
                                  "names, like [partition, crash], got %s",
                                  got);
    }
    if (node->n_items == 0) {
        return harness_yaml_error(&ld->r, node,
                                  "nemesis.faults: empty; name at least one "
                                  "fault");
    }
    /* No name may repeat, so this ends within eight items. */
    for (size_t i = 0; i < node->n_items; i++) {
        size_t k = 0;
        snprintf(what, sizeof what, "nemesis.faults[%zu]", i);
        int rc = harness_yaml_choice(&ld->r, node->items[i], what, names,
                                     sizeof names / sizeof names[0], &k);
        if (rc != 0) {
            return rc;
        }
        if ((n->faults & bits[k]) != 0) {
            return harness_yaml_error(&ld->r, node->items[i],
                                      "%s: '%s' is listed twice", what,
                                      names[k]);
        }
        if ((bits[k] & need_two) != 0 && ld->s->nodes < 2) {
            return harness_yaml_error(&ld->r, node->items[i],
                                      "%s: '%s' needs at least 2 nodes", what,
                                      names[k]);
        }
        n->faults |= bits[k];
    }
    return 0;
}

/* nemesis.concurrent (default 1): how many faults each of its bursts
 * starts. */
static int read_nemesis_concurrent(const struct loader *ld,
                                   const struct harness_yfield *f,
                                   struct scenario_nemesis *n)
{
    return read_unsigned_field(ld, f, "nemesis", 1, SCENARIO_MAX_CONCURRENT,
                               &n->concurrent);
}

/* nemesis.membership, membership_interval_s and voters: [min, max]
 * (3..7 by default, cut to the nodes there are). */
static int read_nemesis_membership(const struct loader *ld,
                                   const struct harness_ynode *map,
                                   const struct harness_yfield *on,
                                   const struct harness_yfield *interval,
                                   const struct harness_yfield *voters)
{
    struct scenario *s = ld->s;
    struct scenario_nemesis *n = &s->nemesis;
    int rc = read_bool_field(ld, on, "nemesis", &n->membership);
    if (rc != 0) {
        return rc;
    }
    const struct harness_yfield *given =
        interval->value != NULL ? interval : voters;
    if (!n->membership) {
        if (given->value != NULL) {
            return harness_yaml_error(&ld->r, given->key_node,
                                      "nemesis.%s: applies to the membership "
                                      "nemesis only; set membership: true",
                                      given->key);
        }
        return 0;
    }
    n->membership_interval_s = n->interval_s;
    if (interval->value != NULL) {
        rc = harness_yaml_number(
            &ld->r, interval->value, "nemesis.membership_interval_s", 0.0, true,
            INTERVAL_S_MAX, false, &n->membership_interval_s);
        if (rc != 0) {
            return rc;
        }
    }
    n->voters_min = s->nodes < 3 ? s->nodes : 3;
    n->voters_max = s->nodes < 7 ? s->nodes : 7;
    if (voters->value != NULL) {
        const struct harness_ynode *v = voters->value;
        if (v->kind != HARNESS_YSEQUENCE || v->n_items != 2) {
            char got[200];
            harness_yaml_describe(v, got, sizeof got);
            return harness_yaml_error(&ld->r, v,
                                      "nemesis.voters: expected [min, max], "
                                      "got %s",
                                      got);
        }
        rc = read_unsigned(ld, v->items[0], "nemesis.voters[0]", 1, s->nodes,
                           &n->voters_min);
        if (rc == 0) {
            rc = read_unsigned(ld, v->items[1], "nemesis.voters[1]",
                               n->voters_min, s->nodes, &n->voters_max);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (s->members < n->voters_min || s->members > n->voters_max) {
        return harness_yaml_error(&ld->r, map,
                                  "nemesis.voters: the %u initial members are "
                                  "outside [%u, %u]",
                                  s->members, n->voters_min, n->voters_max);
    }
    return 0;
}

static int read_nemesis(const struct loader *ld,
                        const struct harness_ynode *map)
{
    enum {
        N_START,
        N_INTERVAL,
        N_FAULT,
        N_FAULTS,
        N_LOSS,
        N_DELAY,
        N_CONCURRENT,
        N_MEMBERSHIP,
        N_MEMBERSHIP_INTERVAL,
        N_VOTERS,
        N_N
    };
    struct harness_yfield f[N_N] = {
        [N_START] = {.key = "start_s"},
        [N_INTERVAL] = {.key = "interval_s"},
        [N_FAULT] = {.key = "fault_s"},
        [N_FAULTS] = {.key = "faults"},
        [N_LOSS] = {.key = "loss"},
        [N_DELAY] = {.key = "delay_ms"},
        [N_CONCURRENT] = {.key = "concurrent"},
        [N_MEMBERSHIP] = {.key = "membership"},
        [N_MEMBERSHIP_INTERVAL] = {.key = "membership_interval_s"},
        [N_VOTERS] = {.key = "voters"},
    };
    struct scenario *s = ld->s;
    struct scenario_nemesis *n = &s->nemesis;
    int rc = harness_yaml_fields(&ld->r, map, "nemesis", f, N_N);
    if (rc != 0) {
        return rc;
    }
    if (f[N_INTERVAL].value == NULL) {
        return harness_yaml_missing(&ld->r, map, "nemesis", "interval_s");
    }
    if (f[N_FAULTS].value == NULL) {
        return harness_yaml_missing(&ld->r, map, "nemesis", "faults");
    }
    n->enabled = true;
    rc = harness_yaml_number(&ld->r, f[N_INTERVAL].value, "nemesis.interval_s",
                             0.0, true, INTERVAL_S_MAX, false, &n->interval_s);
    if (rc != 0) {
        return rc;
    }
    rc = read_nemesis_concurrent(ld, &f[N_CONCURRENT], n);
    if (rc != 0) {
        return rc;
    }
    n->fault_s = n->interval_s / 2;
    if (f[N_FAULT].value != NULL) {
        /* A fault heals before the next one starts. */
        rc = harness_yaml_number(&ld->r, f[N_FAULT].value, "nemesis.fault_s",
                                 0.0, true, n->interval_s, false, &n->fault_s);
        if (rc != 0) {
            return rc;
        }
    }
    if (f[N_START].value != NULL) {
        rc = harness_yaml_number(&ld->r, f[N_START].value, "nemesis.start_s",
                                 0.0, false, s->duration_s, true, &n->start_s);
        if (rc != 0) {
            return rc;
        }
    } else if (!(n->start_s < s->duration_s)) {
        return harness_yaml_error(&ld->r, map,
                                  "nemesis.start_s: %g s by default, which is "
                                  "not before the end of the run (duration_s "
                                  "is %g); set start_s",
                                  n->start_s, s->duration_s);
    }
    rc = read_nemesis_faults(ld, f[N_FAULTS].value);
    if (rc == 0) {
        rc = read_probability_field(ld, &f[N_LOSS], "nemesis", &n->loss);
    }
    if (rc == 0 && f[N_DELAY].value != NULL) {
        rc = read_delay(ld, f[N_DELAY].value, "nemesis.delay_ms",
                        &n->delay_ms_min, &n->delay_ms_max);
    }
    if (rc == 0) {
        rc = read_nemesis_membership(ld, map, &f[N_MEMBERSHIP],
                                     &f[N_MEMBERSHIP_INTERVAL], &f[N_VOTERS]);
    }
    return rc;
}

static int read_storage(const struct loader *ld,
                        const struct harness_ynode *map)
{
    enum {
        S_KIND,
        S_TORN,
        S_ENTRIES,
        S_BYTES,
        S_TRAILING,
        S_N
    };
    struct harness_yfield f[S_N] = {
        [S_KIND] = {.key = "kind"},
        [S_TORN] = {.key = "torn_writes"},
        [S_ENTRIES] = {.key = "snapshot_entries"},
        [S_BYTES] = {.key = "snapshot_bytes"},
        [S_TRAILING] = {.key = "snapshot_trailing"},
    };
    static const char *const kinds[] = {"memory", "crash-disk", "files"};
    struct scenario *s = ld->s;
    int rc = harness_yaml_fields(&ld->r, map, "storage", f, S_N);
    if (rc == 0 && f[S_KIND].value != NULL) {
        size_t kind = 0;
        rc = harness_yaml_choice(&ld->r, f[S_KIND].value, "storage.kind", kinds,
                                 3, &kind);
        s->storage.kind = (enum scenario_storage_kind)kind;
    }
    if (rc == 0) {
        rc =
            read_bool_field(ld, &f[S_TORN], "storage", &s->storage.torn_writes);
    }
    if (rc == 0 && s->storage.torn_writes &&
        s->storage.kind != SCENARIO_STORAGE_CRASH_DISK) {
        return harness_yaml_error(&ld->r, f[S_TORN].value,
                                  "storage.torn_writes needs kind: "
                                  "crash-disk");
    }
    if (rc == 0 && f[S_ENTRIES].value != NULL) {
        rc = harness_yaml_uint(&ld->r, f[S_ENTRIES].value,
                               "storage.snapshot_entries", 0, 1000000000,
                               &s->storage.snapshot_entries);
    }
    if (rc == 0 && f[S_BYTES].value != NULL) {
        rc = harness_yaml_uint(&ld->r, f[S_BYTES].value,
                               "storage.snapshot_bytes", 0, 1ull << 40,
                               &s->storage.snapshot_bytes);
    }
    if (rc == 0 && f[S_TRAILING].value != NULL) {
        rc = harness_yaml_uint(&ld->r, f[S_TRAILING].value,
                               "storage.snapshot_trailing", 0, 1000000000,
                               &s->storage.snapshot_trailing);
    }
    return rc;
}

/* A window {from_s, to_s} of the run: 0 <= from_s < to_s <= duration_s. */
static int read_window(const struct loader *ld,
                       const struct harness_ynode *map,
                       const char *what,
                       struct scenario_window *w)
{
    enum {
        W_FROM,
        W_TO,
        W_N
    };
    struct harness_yfield f[W_N] = {
        [W_FROM] = {.key = "from_s"},
        [W_TO] = {.key = "to_s"},
    };
    char field[WHAT_MAX];
    double duration = ld->s->duration_s;
    int rc = harness_yaml_fields(&ld->r, map, what, f, W_N);
    for (size_t i = 0; rc == 0 && i < W_N; i++) {
        if (f[i].value == NULL) {
            return harness_yaml_missing(&ld->r, map, what, f[i].key);
        }
    }
    if (rc == 0) {
        rc =
            harness_yaml_number(&ld->r, f[W_FROM].value,
                                field_path(field, sizeof field, what, "from_s"),
                                0.0, false, duration, true, &w->from_s);
    }
    if (rc == 0) {
        rc = harness_yaml_number(&ld->r, f[W_TO].value,
                                 field_path(field, sizeof field, what, "to_s"),
                                 w->from_s, true, duration, false, &w->to_s);
    }
    return rc;
}

/* One window, or a list of 1..SCENARIO_MAX_WINDOWS of them. */
static int read_windows(const struct loader *ld,
                        const struct harness_ynode *node,
                        const char *what,
                        struct scenario_window *w,
                        unsigned *n)
{
    char got[200];
    char item[WHAT_MAX];
    if (node->kind == HARNESS_YMAPPING) {
        *n = 1;
        return read_window(ld, node, what, w);
    }
    if (node->kind != HARNESS_YSEQUENCE) {
        harness_yaml_describe(node, got, sizeof got);
        return harness_yaml_error(&ld->r, node,
                                  "%s: expected a window {from_s: S, to_s: S} "
                                  "or a list of them, got %s",
                                  what, got);
    }
    if (node->n_items == 0) {
        return harness_yaml_error(&ld->r, node,
                                  "%s: empty; give at least one window "
                                  "{from_s: S, to_s: S}",
                                  what);
    }
    if (node->n_items > SCENARIO_MAX_WINDOWS) {
        return harness_yaml_error(&ld->r, node->items[SCENARIO_MAX_WINDOWS],
                                  "%s: more than %d windows", what,
                                  SCENARIO_MAX_WINDOWS);
    }
    for (size_t i = 0; i < node->n_items; i++) {
        const struct harness_ynode *win = node->items[i];
        snprintf(item, sizeof item, "%s[%zu]", what, i);
        if (win->kind != HARNESS_YMAPPING) {
            harness_yaml_describe(win, got, sizeof got);
            return harness_yaml_error(&ld->r, win,
                                      "%s: expected a window {from_s: S, "
                                      "to_s: S}, got %s",
                                      item, got);
        }
        int rc = read_window(ld, win, item, &w[i]);
        if (rc != 0) {
            return rc;
        }
        *n = (unsigned)i + 1;
    }
    return 0;
}

static int read_expect(const struct loader *ld, const struct harness_ynode *map)
{
    enum {
        E_MIN_OK,
        E_LEADER_WITHIN,
        E_NO_OK_MINORITY,
        E_LEADERLESS,
        E_SNAPSHOTS,
        E_NO_LEADER,
        E_TERM_UNCHANGED,
        E_PROGRESS,
        E_SNAPSHOT_BYTES,
        E_LOG_ENTRIES,
        E_N
    };
    struct harness_yfield f[E_N] = {
        [E_MIN_OK] = {.key = "min_ok"},
        [E_LEADER_WITHIN] = {.key = "leader_within_ms_after_heal"},
        [E_NO_OK_MINORITY] = {.key = "no_ok_on_minority"},
        [E_LEADERLESS] = {.key = "max_leaderless_ms"},
        [E_SNAPSHOTS] = {.key = "min_snapshot_installs"},
        [E_NO_LEADER] = {.key = "no_leader"},
        [E_TERM_UNCHANGED] = {.key = "term_unchanged"},
        [E_PROGRESS] = {.key = "progress_within_ms"},
        [E_SNAPSHOT_BYTES] = {.key = "max_snapshot_bytes"},
        [E_LOG_ENTRIES] = {.key = "max_log_entries"},
    };
    struct scenario_expect *e = &ld->s->expect;
    int rc = harness_yaml_fields(&ld->r, map, "expect", f, E_N);
    if (rc == 0 && f[E_MIN_OK].value == NULL) {
        return harness_yaml_missing(&ld->r, map, "expect", "min_ok");
    }
    if (rc == 0) {
        rc = harness_yaml_uint(&ld->r, f[E_MIN_OK].value, "expect.min_ok", 0,
                               UINT64_MAX, &e->min_ok);
    }
    if (rc == 0) {
        rc =
            read_unsigned_field(ld, &f[E_LEADER_WITHIN], "expect", 0,
                                EXPECT_MS_MAX, &e->leader_within_ms_after_heal);
    }
    if (rc == 0) {
        rc = read_bool_field(ld, &f[E_NO_OK_MINORITY], "expect",
                             &e->no_ok_on_minority);
    }
    if (rc == 0) {
        rc = read_unsigned_field(ld, &f[E_LEADERLESS], "expect", 0,
                                 EXPECT_MS_MAX, &e->max_leaderless_ms);
    }
    if (rc == 0) {
        rc = read_unsigned_field(ld, &f[E_SNAPSHOTS], "expect", 0, 1000000,
                                 &e->min_snapshot_installs);
    }
    if (rc == 0 && f[E_NO_LEADER].value != NULL) {
        rc = read_windows(ld, f[E_NO_LEADER].value, "expect.no_leader",
                          e->no_leader, &e->n_no_leader);
    }
    if (rc == 0 && f[E_TERM_UNCHANGED].value != NULL) {
        rc =
            read_windows(ld, f[E_TERM_UNCHANGED].value, "expect.term_unchanged",
                         e->term_unchanged, &e->n_term_unchanged);
    }
    if (rc == 0) {
        rc = read_unsigned_field(ld, &f[E_PROGRESS], "expect", 0, EXPECT_MS_MAX,
                                 &e->progress_within_ms);
    }
    if (rc == 0 && f[E_SNAPSHOT_BYTES].value != NULL) {
        rc = harness_yaml_uint(&ld->r, f[E_SNAPSHOT_BYTES].value,
                               "expect.max_snapshot_bytes", 0, 1ull << 40,
                               &e->max_snapshot_bytes);
    }
    if (rc == 0 && f[E_LOG_ENTRIES].value != NULL) {
        rc = harness_yaml_uint(&ld->r, f[E_LOG_ENTRIES].value,
                               "expect.max_log_entries", 0, 1000000000,
                               &e->max_log_entries);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The top level                                                             */
/* ------------------------------------------------------------------------ */

/* The file name without its folder and .yaml (or .yml) extension, cut on a
 * UTF-8 character boundary to fit. */
static void default_name(const char *path, char *name, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t n = strlen(base);
    if (n >= 5 && strcmp(base + n - 5, ".yaml") == 0) {
        n -= 5;
    } else if (n >= 4 && strcmp(base + n - 4, ".yml") == 0) {
        n -= 4;
    }
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)base[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    if (n == 0) {
        snprintf(name, size, "scenario");
        return;
    }
    memcpy(name, base, n);
    name[n] = '\0';
}

static void set_defaults(struct scenario *s, const char *path)
{
    default_name(path, s->name, sizeof s->name);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->seed = 1;
    s->storage.kind = SCENARIO_STORAGE_CRASH_DISK;
    s->storage.snapshot_entries = 1000;
    s->storage.snapshot_trailing = 100;
    s->timing.tick_ms = 10;
    s->timing.election_ticks = 10;
    s->timing.heartbeat_ticks = 2;
    s->timing.pre_vote = true;
    s->timing.check_quorum = true;
    s->clients.keys = 10;
    s->clients.value_size = 8;
    s->clients.timeout_ms = 1000;
    s->clients.think_ms = 0;
    s->clients.mix = (struct scenario_mix){
        .get = 50, .put = 30, .cas = 10, .append = 5, .del = 5};
    s->nemesis.start_s = 1;
    s->nemesis.concurrent = 1;
    s->nemesis.loss = 0.2;
    s->nemesis.delay_ms_min = 5;
    s->nemesis.delay_ms_max = 50;
}

static int read_name_and_description(const struct loader *ld,
                                     const struct harness_yfield *name,
                                     const struct harness_yfield *description)
{
    struct scenario *s = ld->s;
    const char *text = NULL;
    int rc;
    if (name->value != NULL) {
        rc = harness_yaml_string(&ld->r, name->value, "name",
                                 sizeof s->name - 1, true, &text);
        if (rc != 0) {
            return rc;
        }
        if (text[0] == '\0') {
            return harness_yaml_error(&ld->r, name->value,
                                      "name: empty; leave it out to use the "
                                      "file name");
        }
        snprintf(s->name, sizeof s->name, "%s", text);
    }
    if (description->value != NULL) {
        rc = harness_yaml_string(&ld->r, description->value, "description",
                                 SCENARIO_MAX_BYTES, false, &text);
        if (rc != 0) {
            return rc;
        }
        size_t len = strlen(text);
        s->description = malloc(len + 1);
        if (s->description == NULL) {
            return harness_yaml_out_of_memory(&ld->r);
        }
        memcpy(s->description, text, len + 1);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* per_node                                                                  */
/* ------------------------------------------------------------------------ */

/* per_node[].disk: {full_after_bytes, fsync_eio_after, fsync_eio_at_s,
 * fsync_ms}, at least one of them. */
static int read_node_disk(const struct loader *ld,
                          const struct harness_ynode *map,
                          const char *what,
                          struct scenario_disk *d)
{
    enum {
        D_FULL,
        D_EIO_AFTER,
        D_EIO_AT,
        D_FSYNC_MS,
        D_N
    };
    struct harness_yfield f[D_N] = {
        [D_FULL] = {.key = "full_after_bytes"},
        [D_EIO_AFTER] = {.key = "fsync_eio_after"},
        [D_EIO_AT] = {.key = "fsync_eio_at_s"},
        [D_FSYNC_MS] = {.key = "fsync_ms"},
    };
    char field[WHAT_MAX];
    int rc = harness_yaml_fields(&ld->r, map, what, f, D_N);
    if (rc != 0) {
        return rc;
    }
    if (f[D_FULL].value == NULL && f[D_EIO_AFTER].value == NULL &&
        f[D_EIO_AT].value == NULL && f[D_FSYNC_MS].value == NULL) {
        return harness_yaml_error(&ld->r, map,
                                  "%s: no fault given (expected "
                                  "full_after_bytes, fsync_eio_after, "
                                  "fsync_eio_at_s or fsync_ms)",
                                  what);
    }
    d->line = map->line;
    d->column = map->column;
    d->full = f[D_FULL].value != NULL;
    if (d->full) {
        rc = harness_yaml_uint(
            &ld->r, f[D_FULL].value,
            field_path(field, sizeof field, what, "full_after_bytes"), 0,
            DISK_BYTES_MAX, &d->full_after_bytes);
    }
    d->fsync_eio_after_set = f[D_EIO_AFTER].value != NULL;
    if (rc == 0 && d->fsync_eio_after_set) {
        rc = harness_yaml_uint(
            &ld->r, f[D_EIO_AFTER].value,
            field_path(field, sizeof field, what, "fsync_eio_after"), 0,
            DISK_SYNCS_MAX, &d->fsync_eio_after);
    }
    d->fsync_eio_at_set = f[D_EIO_AT].value != NULL;
    if (rc == 0 && d->fsync_eio_at_set) {
        rc = harness_yaml_number(
            &ld->r, f[D_EIO_AT].value,
            field_path(field, sizeof field, what, "fsync_eio_at_s"), 0.0, false,
            ld->s->duration_s, true, &d->fsync_eio_at_s);
    }
    if (rc == 0 && f[D_FSYNC_MS].value != NULL) {
        field_path(field, sizeof field, what, "fsync_ms");
        rc = read_delay(ld, f[D_FSYNC_MS].value, field, &d->fsync_ms_min,
                        &d->fsync_ms_max);
        if (rc == 0 && d->fsync_ms_max == 0) {
            return harness_yaml_error(&ld->r, f[D_FSYNC_MS].value,
                                      "%s: a slow disk takes more than 0 "
                                      "ms",
                                      field);
        }
    }
    return rc;
}

/* Disk faults need files: a memory disk has none. Checked once storage
 * is read, at the disk mapping of the first node that has faults. */
static int check_node_disks(const struct loader *ld)
{
    const struct scenario *s = ld->s;
    if (s->storage.kind != SCENARIO_STORAGE_MEMORY) {
        return 0;
    }
    for (unsigned k = 0; k < s->nodes; k++) {
        const struct scenario_disk *d = &s->node[k].disk;
        if (d->line != 0) {
            struct harness_ynode at = {.line = d->line, .column = d->column};
            return harness_yaml_error(&ld->r, &at,
                                      "per_node: node %u has disk faults, "
                                      "which need storage.kind crash-disk "
                                      "or files (memory is a perfect disk)",
                                      k + 1);
        }
    }
    return 0;
}

/* One item of per_node: {node, clock_rate, election_ticks,
 * heartbeat_ticks, disk}; @seen holds the items read so far by node. */
static int read_node_item(const struct loader *ld,
                          const struct harness_ynode *map,
                          const char *what,
                          const struct harness_ynode **seen)
{
    enum {
        P_NODE,
        P_CLOCK_RATE,
        P_ELECTION,
        P_HEARTBEAT,
        P_DISK,
        P_N
    };
    struct harness_yfield f[P_N] = {
        [P_NODE] = {.key = "node"},
        [P_CLOCK_RATE] = {.key = "clock_rate"},
        [P_ELECTION] = {.key = "election_ticks"},
        [P_HEARTBEAT] = {.key = "heartbeat_ticks"},
        [P_DISK] = {.key = "disk"},
    };
    char field[WHAT_MAX];
    unsigned id = 0;
    int rc = harness_yaml_fields(&ld->r, map, what, f, P_N);
    if (rc == 0 && f[P_NODE].value == NULL) {
        return harness_yaml_missing(&ld->r, map, what, "node");
    }
    if (rc == 0) {
        rc = read_node_id(ld, f[P_NODE].value,
                          field_path(field, sizeof field, what, "node"), &id);
    }
    if (rc != 0) {
        return rc;
    }
    if (seen[id - 1] != NULL) {
        return harness_yaml_error(&ld->r, f[P_NODE].value,
                                  "%s: node %u is given twice (first at "
                                  "line %u, column %u)",
                                  field, id, seen[id - 1]->line,
                                  seen[id - 1]->column);
    }
    seen[id - 1] = f[P_NODE].value;
    struct scenario_node *n = &ld->s->node[id - 1];
    if (f[P_CLOCK_RATE].value != NULL) {
        rc = harness_yaml_number(
            &ld->r, f[P_CLOCK_RATE].value,
            field_path(field, sizeof field, what, "clock_rate"), 0.1, false,
            10.0, false, &n->clock_rate);
    }
    if (rc == 0) {
        rc = read_unsigned_field(ld, &f[P_ELECTION], what, 2, 1000,
                                 &n->election_ticks);
    }
    unsigned election = n->election_ticks != 0 ? n->election_ticks
                                               : ld->s->timing.election_ticks;
    unsigned heartbeat = ld->s->timing.heartbeat_ticks;
    if (rc == 0 && f[P_HEARTBEAT].value == NULL && heartbeat >= election) {
        return harness_yaml_error(
            &ld->r, f[P_ELECTION].value,
            "%s: %u is not above heartbeat_ticks (%u "
            "from timing)",
            field_path(field, sizeof field, what, "election_ticks"), election,
            heartbeat);
    }
    if (rc == 0) {
        /* A leader must be heard from before followers time out. */
        rc = read_unsigned_field(ld, &f[P_HEARTBEAT], what, 1, election - 1,
                                 &n->heartbeat_ticks);
    }
    if (rc == 0 && f[P_DISK].value != NULL) {
        rc = read_node_disk(ld, f[P_DISK].value,
                            field_path(field, sizeof field, what, "disk"),
                            &n->disk);
    }
    return rc;
}

static int read_per_node(const struct loader *ld,
                         const struct harness_ynode *node)
{
    const struct harness_ynode *seen[SCENARIO_MAX_NODES] = {NULL};
    char got[200];
    char item[WHAT_MAX];

    if (node->kind != HARNESS_YSEQUENCE) {
        harness_yaml_describe(node, got, sizeof got);
        return harness_yaml_error(&ld->r, node,
                                  "per_node: expected a sequence of "
                                  "{node: ID, ...}, got %s",
                                  got);
    }
    /* Each item names a different node, so there are at most nodes. */
    for (size_t i = 0; i < node->n_items; i++) {
        snprintf(item, sizeof item, "per_node[%zu]", i);
        int rc = read_node_item(ld, node->items[i], item, seen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Whether the nemesis mapping @map (may be NULL) turns the membership
 * nemesis on; read properly later, this only tells the timeline's checks
 * that the membership is the run's to say. */
static bool membership_nemesis(const struct harness_ynode *map)
{
    if (map == NULL || map->kind != HARNESS_YMAPPING) {
        return false;
    }
    for (size_t k = 0; k + 1 < map->n_items; k += 2) {
        if (harness_yaml_is(map->items[k], "membership")) {
            return !harness_yaml_is(map->items[k + 1], "false");
        }
    }
    return false;
}

static int read_scenario(const struct loader *ld,
                         const struct harness_ynode *root)
{
    enum {
        R_NAME,
        R_DESCRIPTION,
        R_NODES,
        R_MEMBERS,
        R_SEED,
        R_DURATION,
        R_TRANSPORT,
        R_TIMING,
        R_CLIENTS,
        R_FAULTS,
        R_NEMESIS,
        R_EXPECT,
        R_STORAGE,
        R_PER_NODE,
        R_N
    };
    struct harness_yfield f[R_N] = {
        [R_NAME] = {.key = "name"},
        [R_DESCRIPTION] = {.key = "description"},
        [R_NODES] = {.key = "nodes"},
        [R_MEMBERS] = {.key = "members"},
        [R_SEED] = {.key = "seed"},
        [R_DURATION] = {.key = "duration_s"},
        [R_TRANSPORT] = {.key = "transport"},
        [R_TIMING] = {.key = "timing"},
        [R_CLIENTS] = {.key = "clients"},
        [R_FAULTS] = {.key = "faults"},
        [R_NEMESIS] = {.key = "nemesis"},
        [R_EXPECT] = {.key = "expect"},
        [R_STORAGE] = {.key = "storage"},
        [R_PER_NODE] = {.key = "per_node"},
    };
    static const char *const transports[] = {"mem", "grpc"};
    struct scenario *s = ld->s;
    char got[200];
    size_t transport = 0;
    int rc;

    if (root == NULL ||
        (root->kind == HARNESS_YSCALAR && root->plain && root->len == 0)) {
        return harness_yaml_error(&ld->r, root, "empty scenario");
    }
    if (root->kind != HARNESS_YMAPPING) {
        harness_yaml_describe(root, got, sizeof got);
        return harness_yaml_error(&ld->r, root,
                                  "a scenario is a mapping of fields (nodes, "
                                  "duration_s, clients, expect, ...), got %s",
                                  got);
    }
    rc = harness_yaml_fields(&ld->r, root, NULL, f, R_N);
    if (rc != 0) {
        return rc;
    }
    static const size_t required[] = {R_NODES, R_DURATION, R_CLIENTS, R_EXPECT};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (f[required[i]].value == NULL) {
            return harness_yaml_missing(&ld->r, root, NULL, f[required[i]].key);
        }
    }
    rc = read_unsigned(ld, f[R_NODES].value, "nodes", 1, SCENARIO_MAX_NODES,
                       &s->nodes);
    s->members = s->nodes;
    if (rc == 0 && f[R_MEMBERS].value != NULL) {
        rc = read_unsigned(ld, f[R_MEMBERS].value, "members", 1, s->nodes,
                           &s->members);
    }
    if (rc == 0) {
        /* The timeline's membership as the loader can tell it. */
        ld->mt->known = !membership_nemesis(f[R_NEMESIS].value);
        for (unsigned id = 1; id <= s->members; id++) {
            ld->mt->state[id] = MEMBER_VOTER;
        }
    }
    if (rc == 0) {
        rc = harness_yaml_number(&ld->r, f[R_DURATION].value, "duration_s", 0.0,
                                 true, DURATION_S_MAX, false, &s->duration_s);
    }
    if (rc == 0 && f[R_SEED].value != NULL) {
        rc = harness_yaml_uint(&ld->r, f[R_SEED].value, "seed", 0, UINT64_MAX,
                               &s->seed);
    }
    if (rc == 0) {
        rc = read_name_and_description(ld, &f[R_NAME], &f[R_DESCRIPTION]);
    }
    if (rc == 0 && f[R_TRANSPORT].value != NULL) {
        rc = harness_yaml_choice(&ld->r, f[R_TRANSPORT].value, "transport",
                                 transports, 2, &transport);
        s->transport_grpc = transport == 1;
    }
    if (rc == 0 && f[R_TIMING].value != NULL) {
        rc = read_timing(ld, f[R_TIMING].value);
    }
    if (rc == 0 && f[R_PER_NODE].value != NULL) {
        rc = read_per_node(ld, f[R_PER_NODE].value);
    }
    if (rc == 0) {
        rc = read_clients(ld, f[R_CLIENTS].value);
    }
    if (rc == 0 && f[R_FAULTS].value != NULL) {
        rc = read_faults(ld, f[R_FAULTS].value);
    }
    if (rc == 0 && f[R_NEMESIS].value != NULL) {
        rc = read_nemesis(ld, f[R_NEMESIS].value);
    }
    if (rc == 0 && f[R_STORAGE].value != NULL) {
        rc = read_storage(ld, f[R_STORAGE].value);
    }
    if (rc == 0) {
        rc = check_node_disks(ld);
    }
    if (rc == 0) {
        rc = read_expect(ld, f[R_EXPECT].value);
    }
    return rc;
}

int scenario_parse(const char *name,
                   const char *text,
                   size_t len,
                   struct scenario *s,
                   char *err,
                   size_t err_size)
{
    struct member_track mt;
    memset(&mt, 0, sizeof mt);
    struct loader ld = {
        .r = {.path = name != NULL ? name : "(scenario)",
              .err = err,
              .err_size = err_size},
        .s = s,
        .mt = &mt,
    };
    struct harness_ynode *root = NULL;
    int rc;

    memset(s, 0, sizeof *s);
    if (err != NULL && err_size > 0) {
        err[0] = '\0';
    } else {
        /* The readers write messages only where there is room. */
        ld.r.err = NULL;
        ld.r.err_size = 0;
    }
    if (strlen(ld.r.path) >= sizeof s->path) {
        if (ld.r.err != NULL) {
            snprintf(err, err_size, "%s: path longer than %zu bytes", ld.r.path,
                     sizeof s->path - 1);
        }
        return COMMON_EINVAL;
    }
    if (len > SCENARIO_MAX_BYTES) {
        return harness_yaml_error(&ld.r, NULL,
                                  "%zu bytes is too large for a scenario "
                                  "(at most %d)",
                                  len, SCENARIO_MAX_BYTES);
    }
    set_defaults(s, ld.r.path);
    rc = harness_yaml_load(&ld.r, text, len, &root);
    if (rc == 0) {
        rc = read_scenario(&ld, root);
        harness_yaml_free(root);
    }
    if (rc != 0) {
        scenario_fini(s);
    }
    return rc;
}

int scenario_load(const char *path,
                  struct scenario *s,
                  char *err,
                  size_t err_size)
{
    struct common_vec text;
    char reason[128];
    int rc;

    memset(s, 0, sizeof *s);
    common_vec_init(&text);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (strerror_r(errno, reason, sizeof reason) != 0) {
            snprintf(reason, sizeof reason, "error %d", errno);
        }
        if (err != NULL && err_size > 0) {
            snprintf(err, err_size, "%s: cannot open: %s", path, reason);
        }
        return COMMON_EIO;
    }
    /* Read one byte past the cap so that scenario_parse sees the excess. */
    while (text.len <= SCENARIO_MAX_BYTES) {
        rc = common_vec_reserve(&text, 64 * 1024);
        if (rc != 0) {
            if (err != NULL && err_size > 0) {
                snprintf(err, err_size, "%s: out of memory", path);
            }
            goto err_text;
        }
        size_t want = SCENARIO_MAX_BYTES + 1 - text.len;
        if (want > text.cap - text.len) {
            want = text.cap - text.len;
        }
        size_t got = fread(text.data + text.len, 1, want, f);
        text.len += got;
        if (got < want) {
            break;
        }
    }
    if (ferror(f)) {
        if (strerror_r(errno, reason, sizeof reason) != 0) {
            snprintf(reason, sizeof reason, "error %d", errno);
        }
        if (err != NULL && err_size > 0) {
            snprintf(err, err_size, "%s: cannot read: %s", path, reason);
        }
        rc = COMMON_EIO;
        goto err_text;
    }
    fclose(f);
    f = NULL;
    rc = scenario_parse(path, (const char *)text.data, text.len, s, err,
                        err_size);
    common_vec_fini(&text);
    return rc;

err_text:
    common_vec_fini(&text);
    fclose(f);
    return rc;
}

void scenario_fini(struct scenario *s)
{
    free(s->faults);
    free(s->description);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------ */
/* Describing faults                                                         */
/* ------------------------------------------------------------------------ */

struct out
{
    char *buf;
    size_t size;
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o,
                                                             const char *fmt,
                                                             ...)
{
    va_list ap;
    if (o->len + 1 >= o->size) {
        return;
    }
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (k < 0) {
        return;
    }
    o->len += (size_t)k;
    if (o->len >= o->size) {
        o->len = o->size - 1;
    }
}

static void out_target(struct out *o, const struct scenario_target *t)
{
    switch (t->kind) {
        case SCENARIO_TARGET_NODE:
            out_printf(o, "%u", t->id);
            return;
        case SCENARIO_TARGET_LEADER:
            out_printf(o, "leader");
            return;
        case SCENARIO_TARGET_FOLLOWER:
            out_printf(o, "follower");
            return;
        case SCENARIO_TARGET_RANDOM:
            out_printf(o, "random");
            return;
        case SCENARIO_TARGET_ALL:
            out_printf(o, "all");
            return;
        case SCENARIO_TARGET_FOLLOWERS:
            out_printf(o, "followers");
            return;
    }
    out_printf(o, "?");
}

/* A link's or cut's end: a selector, a node id, or * (every node). */
static void out_end_of(struct out *o,
                       enum scenario_target_kind kind,
                       unsigned id)
{
    if (kind != 0) {
        out_target(o, &(struct scenario_target){.kind = kind});
    } else if (id == 0) {
        out_printf(o, "*");
    } else {
        out_printf(o, "%u", id);
    }
}

static void out_end(struct out *o, unsigned id)
{
    out_end_of(o, 0, id);
}

static void out_link(struct out *o, const struct scenario_fault *f)
{
    const struct scenario_link_faults *l = &f->link;
    out_printf(o, "link ");
    out_end_of(o, f->from_kind, f->from);
    out_printf(o, "->");
    out_end_of(o, f->to_kind, f->to);
    if (l->loss > 0) {
        out_printf(o, " loss %g", l->loss);
    }
    if (l->duplicate > 0) {
        out_printf(o, " duplicate %g", l->duplicate);
    }
    if (l->reorder > 0) {
        out_printf(o, " reorder %g", l->reorder);
    }
    if (l->delay_ms_max > 0 && l->delay_ms_min == l->delay_ms_max) {
        out_printf(o, " delay %u ms", l->delay_ms_max);
    } else if (l->delay_ms_max > 0) {
        out_printf(o, " delay %u-%u ms", l->delay_ms_min, l->delay_ms_max);
    }
    if (l->hold_fraction > 0) {
        out_printf(o, " hold %g %u-%u ms", l->hold_fraction, l->hold_ms_min,
                   l->hold_ms_max);
    }
    if (!(l->loss > 0) && !(l->duplicate > 0) && !(l->reorder > 0) &&
        l->delay_ms_max == 0 && !(l->hold_fraction > 0)) {
        out_printf(o, " clear");
    }
}

void scenario_fault_describe(const struct scenario_fault *f,
                             char *buf,
                             size_t size)
{
    static const char *const names[] = {
        [SCENARIO_FAULT_PARTITION] = "partition",
        [SCENARIO_FAULT_ISOLATE] = "isolate",
        [SCENARIO_FAULT_HEAL] = "heal",
        [SCENARIO_FAULT_CRASH] = "crash",
        [SCENARIO_FAULT_RESTART] = "restart",
        [SCENARIO_FAULT_PAUSE] = "pause",
        [SCENARIO_FAULT_RESUME] = "resume",
        [SCENARIO_FAULT_LINK] = "link",
        [SCENARIO_FAULT_CUT] = "cut",
        [SCENARIO_FAULT_FORGE] = "forge",
        [SCENARIO_FAULT_CRASH_AFTER_VOTE] = "crash_after_vote",
        [SCENARIO_FAULT_CRASH_AFTER_ACK] = "crash_after_ack",
        [SCENARIO_FAULT_ADD_NODE] = "add-node",
        [SCENARIO_FAULT_PROMOTE] = "promote",
        [SCENARIO_FAULT_REMOVE_NODE] = "remove-node",
        [SCENARIO_FAULT_TRANSFER_LEADER] = "transfer-leader",
    };
    struct out o = {.buf = buf, .size = size, .len = 0};
    if (buf == NULL || size == 0) {
        return;
    }
    buf[0] = '\0';
    switch (f->kind) {
        case SCENARIO_FAULT_PARTITION:
            out_printf(&o, "partition");
            for (unsigned g = 0; g < f->n_groups && g < SCENARIO_MAX_NODES;
                 g++) {
                const char *sep = " {";
                for (unsigned k = 0; k < SCENARIO_MAX_NODES; k++) {
                    if (f->group[k] == g) {
                        out_printf(&o, "%s%u", sep, k + 1);
                        sep = ",";
                    }
                }
                if (f->pick[g].leader) {
                    out_printf(&o, "%sleader", sep);
                    sep = ",";
                }
                for (unsigned k = 0; k < f->pick[g].follower; k++) {
                    out_printf(&o, "%sfollower", sep);
                    sep = ",";
                }
                if (f->pick[g].followers) {
                    out_printf(&o, "%sfollowers", sep);
                    sep = ",";
                }
                out_printf(&o, "%s}", sep[0] == ' ' ? " {" : "");
            }
            return;
        case SCENARIO_FAULT_HEAL:
            out_printf(&o, "heal");
            return;
        case SCENARIO_FAULT_ISOLATE:
        case SCENARIO_FAULT_CRASH:
        case SCENARIO_FAULT_RESTART:
        case SCENARIO_FAULT_PAUSE:
        case SCENARIO_FAULT_RESUME:
        case SCENARIO_FAULT_CRASH_AFTER_VOTE:
        case SCENARIO_FAULT_CRASH_AFTER_ACK:
        case SCENARIO_FAULT_ADD_NODE:
        case SCENARIO_FAULT_PROMOTE:
        case SCENARIO_FAULT_REMOVE_NODE:
        case SCENARIO_FAULT_TRANSFER_LEADER:
            out_printf(&o, "%s ", names[f->kind]);
            out_target(&o, &f->target);
            return;
        case SCENARIO_FAULT_LINK:
            out_link(&o, f);
            return;
        case SCENARIO_FAULT_CUT:
            out_printf(&o, "cut ");
            out_end_of(&o, f->from_kind, f->from);
            out_printf(&o, "%s", f->both_ways ? "<->" : "->");
            out_end_of(&o, f->to_kind, f->to);
            return;
        case SCENARIO_FAULT_FORGE:
            out_printf(&o, "forge %s term %llu index %llu ",
                       (unsigned)f->forge_type <
                               sizeof forge_types / sizeof forge_types[0]
                           ? forge_types[f->forge_type]
                           : "?",
                       (unsigned long long)f->forge_term,
                       (unsigned long long)f->forge_index);
            out_end(&o, f->from);
            out_printf(&o, "->");
            out_target(&o, &f->target);
            return;
    }
    out_printf(&o, "unknown fault");
}
