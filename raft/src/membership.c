/*
 * Membership: single-server configuration changes (Ongaro's dissertation
 * §4.1), learners, and where the configuration in force comes from.
 *
 * The configuration in force is the latest one in the log, committed or
 * not ("a server always uses the latest configuration in its log"); with
 * none in the log, the one at the log's start (boot state or snapshot),
 * base_conf. It changes when a configuration entry is appended (the leader
 * in raft_propose_conf, a follower from AppendEntries or its boot state),
 * when one is truncated away (the one before it is in force again), when a
 * snapshot is installed. Compaction moves base_conf to the configuration
 * at the compaction point.
 *
 * A leader accepts a change only when
 *   - it differs from the configuration in force by one server: added (as
 *     a voter or a learner), removed, or its role changed. Any two
 *     majorities of two such configurations overlap, so no joint consensus
 *     is needed; replacing a server is two changes;
 *   - no configuration entry is uncommitted: one change at a time;
 *   - the leader has committed an entry of its own term. Without this, a
 *     leader of a new term could append a change while a change by an
 *     earlier leader sits uncommitted in some logs, and two configurations
 *     each one server away from the committed one but two apart from each
 *     other could elect two leaders in one term (Ongaro, raft-dev, "bug in
 *     single-server membership changes", 2015). The no-op each leader
 *     appends at the start of its term (convert.c) makes the wait short;
 *   - a learner it promotes to voter holds the log to within promote_lag
 *     entries of the leader's last index (etcd's server refuses to promote
 *     a learner that is not ready): a far-behind voter would count in the
 *     quorum without being able to acknowledge anything new for a while.
 *
 * The progress records follow the configuration in force, one per server
 * in its order; a node outside it keeps its own record after them, as a
 * non-voter (a leader that removed itself goes on replicating until the
 * change commits, without counting itself in majorities, §4.2.2). Once
 * such a change is committed, the leader steps down.
 */
#include <string.h>

#include "raft_internal.h"

/* Slot @k gets a fresh record for @id. */
static void slot_reset(struct raft *r, uint32_t k, raft_id id, bool voter)
{
    assert(k <= RAFT_MAX_SERVERS);
    struct progress *p = &r->progress[k];
    memset(p, 0, sizeof *p);
    p->id = id;
    p->voter = voter;
    p->is_self = id == r->id;
    p->inflight = r->inflight_mem + (size_t)k * r->opts.max_inflight;
    progress_reset(p, log_last_index(&r->log));
}

/* Rebuilds the records for r->conf. With @keep, a server that stays keeps
 * its record; one that moves to another slot restarts its pipeline after
 * its match (its in-flight ring belongs to the slot). */
static void progress_follow(struct raft *r, bool keep)
{
    struct progress old[RAFT_MAX_SERVERS + 1];
    uint32_t n_old = keep ? r->n_progress : 0;
    assert(n_old <= RAFT_MAX_SERVERS + 1);
    memcpy(old, r->progress, n_old * sizeof *old);
    uint32_t n = 0;
    bool self_in = false;
    for (uint32_t k = 0; k <= r->conf.count; k++) {
        raft_id id;
        bool voter;
        if (k < r->conf.count) {
            id = r->conf.servers[k].id;
            voter = r->conf.servers[k].role == RAFT_VOTER;
            self_in = self_in || id == r->id;
        } else if (!self_in) {
            id = r->id;
            voter = false;
        } else {
            break;
        }
        uint32_t j = 0;
        while (j < n_old && old[j].id != id) {
            j++;
        }
        if (j == n_old) {
            slot_reset(r, n, id, voter);
        } else {
            struct progress *p = &r->progress[n];
            *p = old[j];
            p->voter = voter;
            if (j != n) {
                p->inflight =
                    r->inflight_mem + (size_t)n * r->opts.max_inflight;
                if (p->state == PROGRESS_REPLICATE) {
                    progress_become_replicate(p);
                }
            }
        }
        n++;
    }
    r->n_progress = n;
    r->quorum = raft_configuration_voter_count(&r->conf) / 2 + 1;
    assert(n == r->conf.count + (self_in ? 0 : 1));
}

/* Copies @conf, with its address table, into @to, whose table is @table.
 * Both tables hold RAFT_ADDRESSES_MAX bytes, so the copy always fits. */
static void conf_keep(struct raft_configuration *to,
                      uint8_t *table,
                      const struct raft_configuration *conf)
{
    int rv = raft_configuration_copy(to, conf, table, RAFT_ADDRESSES_MAX);
    assert(rv == 0);
    (void)rv;
}

void membership_reset(struct raft *r, const struct raft_configuration *conf)
{
    /* From a checked boot state or a decoded snapshot. */
    assert(raft_configuration_valid(conf));
    conf_keep(&r->base_conf, r->base_addresses, conf);
    conf_keep(&r->conf, r->conf_addresses, conf);
    r->conf_index = 0;
    progress_follow(r, false);
}

static void set_conf(struct raft *r,
                     const struct raft_configuration *conf,
                     raft_index index)
{
    assert(raft_configuration_valid(conf));
    conf_keep(&r->conf, r->conf_addresses, conf);
    r->conf_index = index;
    progress_follow(r, true);
}

bool membership_entry_valid(const struct raft_entry *e)
{
    struct raft_configuration c;
    return e->type != RAFT_ENTRY_CONFIG ||
           raft_configuration_decode(&c, e->data.base, e->data.len) == 0;
}

/* The latest configuration entry at or below @index in the log, decoded
 * into @out; its index, or 0 when the log holds none there. */
static raft_index latest_at(const struct raft *r,
                            raft_index index,
                            struct raft_configuration *out)
{
    raft_index first = log_first_index(&r->log);
    for (raft_index i = index; i >= first && i > r->log.snapshot_index; i--) {
        const struct raft_entry *e = log_get(&r->log, i);
        if (e->type == RAFT_ENTRY_CONFIG) {
            int rv = raft_configuration_decode(out, e->data.base, e->data.len);
            /* Entries are checked before they enter the log. */
            assert(rv == 0);
            (void)rv;
            return i;
        }
    }
    return 0;
}

void membership_recompute(struct raft *r)
{
    struct raft_configuration c;
    raft_index at = latest_at(r, log_last_index(&r->log), &c);
    if (at != 0) {
        if (at != r->conf_index) {
            set_conf(r, &c, at);
        }
    } else if (r->conf_index != 0) {
        set_conf(r, &r->base_conf, 0);
    }
}

void membership_truncated(struct raft *r, raft_index from)
{
    if (r->conf_index >= from) {
        raft_logf(r, COMMON_LOG_INFO,
                  "configuration entry at %llu truncated away",
                  (unsigned long long)r->conf_index);
        membership_recompute(r);
    }
}

int membership_appended(struct raft *r, const struct raft_entry *e)
{
    if (e->type != RAFT_ENTRY_CONFIG) {
        return 0;
    }
    struct raft_configuration c;
    if (raft_configuration_decode(&c, e->data.base, e->data.len) != 0) {
        return COMMON_EINVAL;
    }
    set_conf(r, &c, e->index);
    return 0;
}

void membership_compacting(struct raft *r, raft_index index)
{
    struct raft_configuration c;
    if (latest_at(r, index, &c) != 0) {
        /* Its table is in the entry, about to be freed. */
        conf_keep(&r->base_conf, r->base_addresses, &c);
    }
}

static bool voter_of(const struct raft_configuration *c, raft_id id)
{
    int k = raft_configuration_find(c, id);
    return k >= 0 && c->servers[k].role == RAFT_VOTER;
}

bool membership_self_voter(const struct raft *r)
{
    return voter_of(&r->conf, r->id);
}

bool membership_may_campaign(const struct raft *r)
{
    /* A learner campaigns too, although it never counts in a majority: a
     * leader may have replicated entries of a later term to learners only
     * before it failed, and a voter's log may hold an uncommitted change
     * (from an earlier term, doomed) that needs the learner's vote, which
     * the learner refuses, its log being ahead. Then the learner holds the
     * only log that can win. It counts the votes of its configuration's
     * voters; elected, it commits an entry of its term, which brings the
     * voters up to date, and steps down (membership_committed). */
    if (raft_configuration_find(&r->conf, r->id) >= 0) {
        return true;
    }
    if (r->conf_index <= r->commit) {
        return false;
    }
    /* A leader that removed or demoted itself and lost leadership before
     * the change committed may hold the only log up to date: the others
     * would refuse each other their votes and it would not ask for any.
     * It campaigns with the votes of the new configuration's voters,
     * which any majority of the old one overlaps (one server apart), so
     * Election Safety holds; elected, it commits the change and steps
     * down. */
    struct raft_configuration before;
    if (latest_at(r, r->conf_index - 1, &before) == 0) {
        before = r->base_conf;
    }
    return voter_of(&before, r->id);
}

void membership_committed(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->conf_index > r->commit ||
        membership_self_voter(r)) {
        return;
    }
    raft_logf(r, COMMON_LOG_INFO,
              "committed at %llu with a configuration (from %llu) that does "
              "not list this node as a voter: stepping down",
              (unsigned long long)r->commit, (unsigned long long)r->conf_index);
    r->stats.step_downs_removed++;
    become_follower(r, r->term, 0);
}

/* Does @next differ from @cur by exactly one server? Sets *id to it and
 * *promoted when a learner becomes a voter. */
static bool one_change(const struct raft_configuration *cur,
                       const struct raft_configuration *next,
                       raft_id *id,
                       bool *promoted)
{
    unsigned changes = 0;
    *promoted = false;
    for (uint32_t k = 0; k < next->count; k++) {
        const struct raft_server *s = &next->servers[k];
        int j = raft_configuration_find(cur, s->id);
        if (j < 0 || cur->servers[j].role != s->role) {
            changes++;
            *id = s->id;
            *promoted = j >= 0 && s->role == RAFT_VOTER;
        }
    }
    for (uint32_t k = 0; k < cur->count; k++) {
        if (raft_configuration_find(next, cur->servers[k].id) < 0) {
            changes++;
            *id = cur->servers[k].id;
        }
    }
    return changes == 1;
}

static int propose_conf(struct raft *r,
                        const struct raft_configuration *next,
                        raft_index *index)
{
    if (r->role != RAFT_LEADER) {
        return COMMON_ENOTLEADER;
    }
    if (!raft_configuration_valid(next)) {
        return COMMON_EINVAL;
    }
    raft_id id = 0;
    bool promoted = false;
    if (!one_change(&r->conf, next, &id, &promoted)) {
        return COMMON_EINVAL;
    }
    bool in_term = log_term(&r->log, r->commit) == r->term;
#ifdef RAFT_PLANTED_BUG_EARLY_CONF
    /* Test-only build (raft_membership_planted): the 2015 rule is gone. */
    in_term = true;
#endif
    if (r->conf_index > r->commit || !in_term || r->transfer_to != 0) {
        return COMMON_EBUSY;
    }
    raft_index last = log_last_index(&r->log);
    if (promoted) {
        const struct progress *p = raft_progress_of(r, id);
        unsigned lag = r->opts.promote_lag != 0 ? r->opts.promote_lag
                                                : r->opts.max_entries_per_msg;
        if (p == NULL || p->match + lag < last) {
            return COMMON_ERANGE;
        }
    }
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t len = raft_configuration_encode(next, buf, sizeof buf);
    assert(len <= sizeof buf);
    int rv = log_append_copy(&r->log, r->term, RAFT_ENTRY_CONFIG, buf, len);
    if (rv != 0) {
        return rv;
    }
    last++;
    assert(log_last_index(&r->log) == last);
    raft_logf(r, COMMON_LOG_INFO, "configuration change at %llu: server %llu",
              (unsigned long long)last, (unsigned long long)id);
    set_conf(r, next, last);
    /* Its own record: the entry counts once durable (raft_update_done). */
    struct progress *self = raft_progress_of(r, r->id);
    assert(self != NULL);
    self->next = last + 1;
    if (index != NULL) {
        *index = last;
    }
    return 0;
}

int raft_propose_conf(struct raft *r,
                      const struct raft_configuration *next,
                      raft_index *index)
{
    assert(!r->update_out && next != NULL);
    int rv = propose_conf(r, next, index);
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

raft_index raft_config_index(const struct raft *r)
{
    assert(r->conf_index <= log_last_index(&r->log));
    return r->conf_index;
}

int raft_config_at(const struct raft *r,
                   raft_index index,
                   struct raft_configuration *out)
{
    if (index < r->log.snapshot_index || index > log_last_index(&r->log)) {
        return COMMON_ERANGE;
    }
    if (latest_at(r, index, out) == 0) {
        *out = r->base_conf;
    }
    return 0;
}
