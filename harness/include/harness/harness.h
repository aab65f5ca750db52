/*
 * harness: runs a scenario against an in-process cluster and judges it.
 * This is the module's face, what the `harness` program, the tests and the
 * benchmarks build on; everything else (the cluster and its drivers, the
 * client network, the workload, the nemesis, the judge, the scheduler)
 * stays inside harness/src.
 *
 *   scenario_load / scenario_parse   a YAML file into struct scenario
 *   harness_swarm                    optionally, redraw its random nemesis
 *   harness_run                      build, run and judge it: an exit code
 *   scenario_fini                    release it
 *
 * Scenarios: a YAML file describing a cluster run - size, timing, client
 * workload, a fault timeline and/or a random nemesis, and expectations -
 * loaded into plain structs. The format is documented field by field in
 * docs/scenarios.md.
 *
 * Loading never crashes on bad input: every problem is reported as
 * "FILE:LINE:COLUMN: what is wrong" (libyaml's marks, 1-based) in the error
 * buffer, and the load fails with COMMON_EPARSE (unparsable YAML) or
 * COMMON_EINVAL (well-formed YAML that is not a valid scenario, or more
 * than SCENARIO_MAX_BYTES of it). scenario_load also fails with COMMON_EIO
 * ("PATH: cannot open: ..."), and either with COMMON_ENOMEM.
 */
#ifndef HARNESS_HARNESS_H
#define HARNESS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCENARIO_MAX_NODES   15
#define SCENARIO_MAX_FAULTS  1024
#define SCENARIO_MAX_WINDOWS 32 /* per windowed expectation */
/* The most random nemesis faults in force at once (nemesis.concurrent). */
#define SCENARIO_MAX_CONCURRENT 8
#define SCENARIO_ERROR_MAX      512
#define SCENARIO_MAX_BYTES      (1024 * 1024) /* larger input is refused */
/* scenario_fault.group[k] for the ids above the scenario's nodes. */
#define SCENARIO_GROUP_NONE 0xFFFFFFFFu

/* A node reference in a fault: a fixed id, or resolved when the fault
 * fires. isolate takes NODE, LEADER, FOLLOWER, RANDOM; crash, pause and
 * crash_after_vote/ack take those and ALL; restart and resume take NODE,
 * RANDOM and ALL, which then draw from (or take all of) the nodes that are
 * down (crashed, resp. paused) - a node that is down is no one's leader or
 * follower. The ends of cuts and links, and the members of partition
 * groups, take NODE, LEADER, FOLLOWER and FOLLOWERS. Of the membership
 * actions, add-node and promote take NODE, remove-node NODE, LEADER and
 * RANDOM (a server of the leader's configuration), transfer-leader NODE,
 * FOLLOWER and RANDOM (voters of the leader's configuration). */
enum scenario_target_kind {
    SCENARIO_TARGET_NODE = 1,      /* "3" */
    SCENARIO_TARGET_LEADER = 2,    /* "leader": the current leader */
    SCENARIO_TARGET_RANDOM = 3,    /* "random": any node, drawn from the seed */
    SCENARIO_TARGET_FOLLOWER = 4,  /* "follower": any non-leader */
    SCENARIO_TARGET_ALL = 5,       /* "all": every node (see above) */
    SCENARIO_TARGET_FOLLOWERS = 6, /* "followers": every node up but the
                                      leader (a set; see docs/scenarios.md) */
};

struct scenario_target
{
    enum scenario_target_kind kind;
    unsigned id; /* for SCENARIO_TARGET_NODE: 1..nodes */
};

/* Per-link fault settings. Probabilities are in [0, 1]; delays in ms with
 * delay_ms_min <= delay_ms_max. */
struct scenario_link_faults
{
    double loss;
    double duplicate;
    double reorder; /* probability of an extra random delay (reordering) */
    unsigned delay_ms_min;
    unsigned delay_ms_max;
    /* Long holds: this fraction of the messages is held an extra
     * [hold_ms_min, hold_ms_max] ms while the rest flow (0: none). */
    double hold_fraction;
    unsigned hold_ms_min;
    unsigned hold_ms_max;
};

enum scenario_fault_kind {
    SCENARIO_FAULT_PARTITION = 1, /* groups: every link between groups cut */
    SCENARIO_FAULT_ISOLATE = 2,   /* target cut off from everyone */
    SCENARIO_FAULT_HEAL = 3,      /* all cuts removed, link faults cleared */
    SCENARIO_FAULT_CRASH = 4,     /* target loses what it has not persisted */
    SCENARIO_FAULT_RESTART = 5,   /* target boots from its disk */
    SCENARIO_FAULT_PAUSE = 6,     /* target stops ticking and receiving */
    SCENARIO_FAULT_RESUME = 7,
    SCENARIO_FAULT_LINK = 8,   /* link faults on chosen links or all */
    SCENARIO_FAULT_CUT = 9,    /* one-way (or two-way) cut of one link */
    SCENARIO_FAULT_FORGE = 10, /* a forged Raft message to the target */
    /* Arms the target: it crashes right after its next granted vote (resp.
     * acknowledgement of entries) has been persisted and sent. */
    SCENARIO_FAULT_CRASH_AFTER_VOTE = 11,
    SCENARIO_FAULT_CRASH_AFTER_ACK = 12,
    /* Membership actions (docs/scenarios.md, "Membership"): sent to the
     * leader, retried while there is none or it is busy. */
    SCENARIO_FAULT_ADD_NODE = 13,        /* target joins as a learner */
    SCENARIO_FAULT_PROMOTE = 14,         /* learner target becomes a voter */
    SCENARIO_FAULT_REMOVE_NODE = 15,     /* target leaves; its disk wiped */
    SCENARIO_FAULT_TRANSFER_LEADER = 16, /* leadership to target */
};

/* The Raft message a forge fault sends (docs/scenarios.md). */
enum scenario_forge_type {
    SCENARIO_FORGE_HEARTBEAT = 0,
    SCENARIO_FORGE_APPEND = 1,
    SCENARIO_FORGE_VOTE = 2,
    SCENARIO_FORGE_PRE_VOTE = 3,
    SCENARIO_FORGE_APPEND_RESP = 4,
    SCENARIO_FORGE_HEARTBEAT_RESP = 5,
};

struct scenario_fault
{
    double at_s; /* seconds from the start; non-decreasing along the list */
    enum scenario_fault_kind kind;
    unsigned line; /* where it was written, for messages */
    unsigned column;
    /* PARTITION: group[k] is the group (0-based) of node k+1 when the
     * partition names it by id. Without selectors every node appears in
     * exactly one group. With them, the nodes it does not name are
     * SCENARIO_GROUP_NONE until it fires, and pick[g] says which
     * selectors group g holds: the leader, `follower` nodes drawn from
     * the seed, and every node placed nowhere else (followers). Entries
     * past the last node (and all of them in other kinds of fault) are
     * SCENARIO_GROUP_NONE. n_groups <= nodes. */
    unsigned n_groups;
    unsigned group[SCENARIO_MAX_NODES];
    struct
    {
        bool leader;
        bool followers;
        unsigned follower; /* how many */
    } pick[SCENARIO_MAX_NODES];
    /* ISOLATE, CRASH, RESTART, PAUSE, RESUME, CRASH_AFTER_*; FORGE: the
     * receiver. */
    struct scenario_target target;
    /* LINK, CUT: from/to 0 means "every node" on that end. FORGE: from is
     * the sender the message claims (0: a node other than the receiver,
     * drawn from the seed when the fault fires). */
    unsigned from;
    unsigned to;
    /* LINK, CUT: 0 when from (to) is as above; else the selector that end
     * names (SCENARIO_TARGET_LEADER, _FOLLOWER or _FOLLOWERS), resolved
     * when the fault fires, and from (to) is 0. */
    enum scenario_target_kind from_kind;
    enum scenario_target_kind to_kind;
    bool both_ways; /* CUT: also cut to -> from */
    struct scenario_link_faults link;
    /* FORGE: the message's type, its term (default 2^64 - 1) and the value
     * of every index field it carries (default 0). */
    enum scenario_forge_type forge_type;
    uint64_t forge_term;
    uint64_t forge_index;
    /* ADD_NODE: the harness promotes the node once the core allows it
     * (false when a later promote of the timeline does it). */
    bool auto_promote;
};

enum scenario_nemesis_fault {
    SCENARIO_NEMESIS_PARTITION = 1 << 0, /* random majority/minority */
    SCENARIO_NEMESIS_ISOLATE_LEADER = 1 << 1,
    SCENARIO_NEMESIS_CRASH = 1 << 2, /* crash a random node */
    SCENARIO_NEMESIS_PAUSE = 1 << 3,
    SCENARIO_NEMESIS_LOSS = 1 << 4,    /* lossy links everywhere */
    SCENARIO_NEMESIS_DELAY = 1 << 5,   /* slow links everywhere */
    SCENARIO_NEMESIS_ONE_WAY = 1 << 6, /* a random one-way cut */
};

struct scenario_nemesis
{
    bool enabled;
    double start_s;    /* first fault (default 1) */
    double interval_s; /* a new fault every interval (required) */
    double fault_s;    /* each fault lasts this long, then heals; <= interval */
    unsigned faults;   /* OR of enum scenario_nemesis_fault; non-zero */
    /* Faults started together every interval (1..SCENARIO_MAX_CONCURRENT,
     * default 1); above 1, each holds for its own time in [fault_s / 2,
     * fault_s]. */
    unsigned concurrent;
    double loss;                         /* for LOSS (default 0.2) */
    unsigned delay_ms_min, delay_ms_max; /* for DELAY (default 5..50) */
    /* The membership nemesis: every membership_interval_s (default
     * interval_s) from start_s, a random change - add a node as a learner
     * (then promote it), remove a voter, or hand leadership on - keeping
     * between voters_min and voters_max voters (default 3..7, within
     * nodes). */
    bool membership;
    double membership_interval_s;
    unsigned voters_min;
    unsigned voters_max;
};

struct scenario_mix
{
    /* Relative weights; at least one non-zero. */
    unsigned get;
    unsigned put;
    unsigned del;
    unsigned cas;
    unsigned append;
};

/* A span of a run, in seconds from its start. */
struct scenario_window
{
    double from_s; /* >= 0 */
    double to_s;   /* > from_s, <= duration_s */
};

struct scenario_expect
{
    uint64_t min_ok; /* required: a floor of successful ops */
    /* 0 = not checked. A leader must exist within this many ms after every
     * heal (and after every nemesis fault ends). */
    unsigned leader_within_ms_after_heal;
    /* No op is acknowledged by a node on the minority side of a
     * partition (or by an isolated node) while the fault holds. */
    bool no_ok_on_minority;
    /* 0 = not checked: the longest span with no leader, in ms. */
    unsigned max_leaderless_ms;
    /* 0 = not checked: at least this many snapshots installed by
     * InstallSnapshot over the run (a node that fell behind the compacted
     * log caught up that way). */
    unsigned min_snapshot_installs;
    /* No leader (by the harness's rule, docs/scenarios.md) at any step of
     * the run loop within any of these windows. */
    struct scenario_window no_leader[SCENARIO_MAX_WINDOWS];
    unsigned n_no_leader;
    /* No live node's term changes within any of these windows. */
    struct scenario_window term_unchanged[SCENARIO_MAX_WINDOWS];
    unsigned n_term_unchanged;
    /* 0 = not checked: after every fault that ends (a heal, a restart, a
     * resume, a link cleared, a nemesis fault healed), an operation
     * completes ok within this many ms. */
    unsigned progress_within_ms;
    /* 0 = not checked: every snapshot taken or installed is at most this
     * many bytes. */
    uint64_t max_snapshot_bytes;
    /* 0 = not checked: no node holds more than this many log entries in
     * memory right after a compaction, nor at the end of the run. */
    uint64_t max_log_entries;
};

enum scenario_storage_kind {
    SCENARIO_STORAGE_MEMORY = 0,     /* a perfect disk in memory */
    SCENARIO_STORAGE_CRASH_DISK = 1, /* the WAL over an in-memory disk that
                                        loses unsynced writes on a crash */
    SCENARIO_STORAGE_FILES = 2,      /* the WAL over real files */
};

struct scenario_storage
{
    enum scenario_storage_kind kind; /* default crash-disk */
    bool torn_writes; /* crash-disk: a crash may tear the last write */
    /* Log compaction: snapshot after this many entries (default 1000) or
     * bytes of entries (default 0: no byte threshold) since the last one;
     * 0 turns a threshold off. Keep the last snapshot_trailing entries
     * (default 100). */
    uint64_t snapshot_entries;
    uint64_t snapshot_bytes;
    uint64_t snapshot_trailing;
};

/* One node's disk faults (`per_node[].disk`, docs/scenarios.md); zeroed:
 * a sound disk. Needs a disk with files (crash-disk or files). */
struct scenario_disk
{
    bool full;                 /* full_after_bytes given */
    uint64_t full_after_bytes; /* appends beyond this fail with ENOSPC */
    bool fsync_eio_after_set;
    uint64_t fsync_eio_after; /* syncs that succeed before every one fails */
    bool fsync_eio_at_set;
    double fsync_eio_at_s; /* from this time on every sync fails */
    /* Slow fsync: each sync takes [min, max] ms (max 0: not slow). */
    unsigned fsync_ms_min;
    unsigned fsync_ms_max;
    unsigned line; /* where the disk mapping was written, for messages */
    unsigned column;
};

/* One node's own settings (`per_node`); 0 in a field means the
 * scenario-wide value. */
struct scenario_node
{
    double clock_rate;        /* ticks per tick_ms: 1.5 runs fast; 0.1..10 */
    unsigned election_ticks;  /* 2..1000 */
    unsigned heartbeat_ticks; /* 1..its election_ticks - 1 */
    struct scenario_disk disk;
};

struct scenario
{
    char name[128];
    char path[512];
    char *description; /* owned; NULL when not given */
    unsigned nodes;    /* required, 1..SCENARIO_MAX_NODES */
    /* The initial voters, nodes 1..members (default nodes); the others
     * start outside the cluster, not running, until added. */
    unsigned members;
    uint64_t seed;       /* default 1 */
    double duration_s;   /* required, > 0 */
    bool transport_grpc; /* "transport: grpc"; default mem */

    struct
    {
        unsigned tick_ms;         /* default 10 */
        unsigned election_ticks;  /* default 10 */
        unsigned heartbeat_ticks; /* default 2; < election_ticks */
        bool pre_vote;            /* default true */
        bool check_quorum;        /* default true */
        /* The network's own latency on every link, in microseconds,
         * uniform in [min, max], on top of any link fault (a heal keeps
         * it). Default: 0 with threads (the machine adds its own), 100 to
         * 500 in sim mode. */
        bool latency_set;
        unsigned latency_us_min;
        unsigned latency_us_max;
    } timing;

    struct
    {
        unsigned count;      /* required, 1..1024 */
        unsigned keys;       /* default 10 */
        unsigned value_size; /* default 8, 1..65536 */
        unsigned timeout_ms; /* default 1000: an op still unanswered is info */
        unsigned think_ms;   /* default 0: pause between a client's ops */
        struct scenario_mix mix; /* default get 50 put 30 cas 10 append 5
                                    delete 5 */
        /* The state machine forgets a session idle for this many log
         * entries (0: never); when not set, the kv default. */
        bool session_ttl_set;
        uint64_t session_ttl;
    } clients;

    struct scenario_fault *faults; /* owned */
    size_t n_faults;
    struct scenario_nemesis nemesis;
    struct scenario_expect expect;
    struct scenario_storage storage;
    /* per_node: node[k] for node k + 1; zeroed when not given. */
    struct scenario_node node[SCENARIO_MAX_NODES];
};

/* Loads @path into @s (which the caller later releases with
 * scenario_fini). On failure @err holds "PATH:LINE:COLUMN: message" and
 * @s needs no cleanup. @path (at most 511 bytes) and @err are borrowed;
 * @err may be NULL or @err_size 0 when no message is wanted. */
int scenario_load(const char *path,
                  struct scenario *s,
                  char *err,
                  size_t err_size);
/* The same from @len bytes at @text (borrowed; need not be NUL-terminated;
 * NULL when @len is 0). @name is used in messages and s->path as the path,
 * and gives the default s->name like a path does. */
int scenario_parse(const char *name,
                   const char *text,
                   size_t len,
                   struct scenario *s,
                   char *err,
                   size_t err_size);
/* Frees what @s owns and zeroes it; harmless on a zeroed scenario. */
void scenario_fini(struct scenario *s);

/* Short human description of a fault ("partition {1,2,3} {4,5}",
 * "crash leader", "link 1->* loss 0.3 delay 5-20 ms", "cut 1<->2",
 * "forge heartbeat term 18446744073709551615 index 0 *->leader"), cut to
 * fit @size (always NUL-terminated when @size > 0). */
void scenario_fault_describe(const struct scenario_fault *f,
                             char *buf,
                             size_t size);

/* ------------------------------------------------------------------------ */
/* Runs                                                                      */
/* ------------------------------------------------------------------------ */

/* Exit codes are common/common.h's enum common_exit (DESIGN.md): the
 * harness returns COMMON_EXIT_OK when every run passed, COMMON_EXIT_FAILED
 * when one failed a check, COMMON_EXIT_USAGE for a bad scenario or flag and
 * COMMON_EXIT_UNKNOWN when a budget ran out. */

struct harness_options
{
    const char *out_dir;    /* NULL: write no files */
    double check_timeout_s; /* the checker's time budget */
    bool live;              /* one-line live status on stderr */
    bool quiet;             /* no summary table, only the result line */
    /* Sim mode: one thread, virtual time, a seeded scheduler; the same
     * scenario and seed give byte-identical history and event log. */
    bool sim;
    /* After the result line, the summary as one JSON object on one line
     * (docs/scenarios.md, "JSON summary"): the last line of stdout. */
    bool json;
    /* When not NULL: the result line (PASS, FAIL or UNKNOWN ..., without
     * its newline) is also copied here, cut to HARNESS_RESULT_MAX bytes
     * with its terminating zero. */
    char *result_out;
    /* The command that reproduces the run, shown in the run report
     * (report.html); NULL: none. */
    const char *reproduce;
};

#define HARNESS_RESULT_MAX 2048

/* Swarm testing: redraws @s's nemesis from @seed - which faults, how
 * often and how long, how lossy and slow the links get - so that many
 * seeds explore many different worlds. The fault timeline and the
 * expectations stay as written. A scenario without a nemesis of its own
 * gets one, unless harness_swarm_calm() names an expectation of it that
 * holds only in a calm cluster: then @s is left as it is. */
void harness_swarm(struct scenario *s, uint64_t seed);

/* The expectation of @s ("max_leaderless_ms", "no_leader" or
 * "term_unchanged") that a random nemesis added by harness_swarm() would
 * break by design, not by a bug; NULL when there is none or @s has a
 * nemesis of its own (whose expectations were written for one). */
const char *harness_swarm_calm(const struct scenario *s);

/* Runs @s (seed and duration already final; borrowed for the call): builds
 * the cluster it describes, runs the client workload, the fault timeline
 * and the random nemesis, then judges the run - linearizability of the
 * whole history, Raft's safety properties as monitored during the run, and
 * the scenario's expectations - prints a summary (unless quiet) and the
 * result line on stdout, and writes history.jsonl, events.log and
 * report.html into out_dir when one is given. Returns an exit code. */
int harness_run(const struct scenario *s, const struct harness_options *o);

#endif /* HARNESS_HARNESS_H */
