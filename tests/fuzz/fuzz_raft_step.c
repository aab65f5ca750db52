/*
 * fuzz_raft_step: the Raft core (raft/) as node 1 of the voters {1, 2, 3},
 * driven by a sequence of ticks, received messages and client calls that
 * the input spells (raft_input.h), with every update drained as a node
 * runtime would: persist, send, apply, raft_update_done.
 *
 * A model of what the node persisted and applied checks, after every
 * update, what the public API lets one see of the core's invariants:
 *   - the term never decreases; within a term the vote, once given, never
 *     changes, and the node leads only a term it voted for itself in
 *     (Election Safety, its own part: the peers here may lie);
 *   - the commit index never decreases and never passes the log, and a
 *     truncation never reaches a committed entry (Leader Completeness and
 *     State Machine Safety, locally);
 *   - entries to persist continue the persisted log (after a truncation
 *     or a snapshot), with terms that never decrease nor pass the term;
 *   - committed entries come in order, each exactly once, are the ones
 *     persisted at those indexes, and stop at the commit index;
 *   - messages come from this node to a peer; a leader's carry the term
 *     it led;
 *   - reads confirmed never pass the commit index;
 *   - after raft_update_done, the core's last index and term and applied
 *     index are the model's.
 */
#include <string.h>

#include "fuzz.h"
#include "raft/raft.h"
#include "raft_input.h"

struct model
{
    struct raft_hard_state hs;
    raft_term led_term; /* the last term this node led */
    /* The persisted log: terms[k] is the term of index base + 1 + k. */
    raft_index base;
    raft_term base_term;
    raft_term *terms;
    size_t len;
    size_t cap;
    raft_index applied;
    bool saw_config; /* a configuration entry was ever persisted */
};

static raft_index model_last(const struct model *md)
{
    return md->base + md->len;
}

static raft_term model_term(const struct model *md, raft_index i)
{
    if (i == md->base) {
        return md->base_term;
    }
    FUZZ_CHECK(i > md->base && i <= model_last(md));
    return md->terms[i - md->base - 1];
}

static void check_update(struct raft *r,
                         struct model *md,
                         const struct raft_update *u)
{
    /* Hard state. A truncation may not reach what was committed before
     * this update; the update itself may then commit the new entries. */
    raft_index committed_before = md->hs.commit;
    const struct raft_hard_state *hs = &u->hard_state;
    if (u->hard_state_changed) {
        FUZZ_CHECK(hs->term >= md->hs.term);
        if (hs->term == md->hs.term && md->hs.vote != 0) {
            FUZZ_CHECK(hs->vote == md->hs.vote);
        }
        FUZZ_CHECK(hs->commit >= md->hs.commit);
        md->hs = *hs;
    }
    if (u->role == RAFT_LEADER) {
        /* Peers here may lie (two "leaders" of one term), so only the
         * node's own part of Election Safety is checked: it leads a term
         * only with its own vote, and says so. */
        FUZZ_CHECK(u->leader == raft_self(r));
        FUZZ_CHECK(md->hs.vote == raft_self(r));
        md->led_term = md->hs.term;
    }

    /* A snapshot covers the log up to its index: the entries after it
     * stay if the log holds its index with its term (Figure 13, step 6),
     * else it replaces the whole log - what storage_save_snapshot does. */
    if (u->snapshot != NULL) {
        const struct raft_snapshot *snap = u->snapshot;
        FUZZ_CHECK(snap->index > md->applied);
        FUZZ_CHECK(raft_configuration_valid(&snap->conf));
        if (snap->index > md->base && snap->index <= model_last(md) &&
            model_term(md, snap->index) == snap->term) {
            size_t drop = (size_t)(snap->index - md->base);
            memmove(md->terms, md->terms + drop,
                    (md->len - drop) * sizeof *md->terms);
            md->len -= drop;
        } else {
            md->len = 0;
        }
        md->base = snap->index;
        md->base_term = snap->term;
        md->applied = snap->index;
    }

    /* Entries to persist. */
    if (u->truncate_from != 0) {
        FUZZ_CHECK(u->truncate_from > committed_before);
        FUZZ_CHECK(u->truncate_from > md->base);
        FUZZ_CHECK(u->truncate_from <= model_last(md) + 1);
        md->len = (size_t)(u->truncate_from - 1 - md->base);
    }
    for (size_t k = 0; k < u->n_entries; k++) {
        const struct raft_entry *e = &u->entries[k];
        FUZZ_CHECK(e->index == model_last(md) + 1);
        FUZZ_CHECK(e->term >= model_term(md, model_last(md)));
        FUZZ_CHECK(e->term <= md->hs.term);
        FUZZ_CHECK(e->type >= RAFT_ENTRY_COMMAND &&
                   e->type <= RAFT_ENTRY_CONFIG);
        if (md->len == md->cap) {
            md->cap = md->cap > 0 ? 2 * md->cap : 64;
            md->terms = realloc(md->terms, md->cap * sizeof *md->terms);
            FUZZ_NONNULL(md->terms);
        }
        md->terms[md->len++] = e->term;
        md->saw_config |= e->type == RAFT_ENTRY_CONFIG;
    }
    FUZZ_CHECK(md->hs.commit <= model_last(md));

    /* Messages. */
    FUZZ_CHECK(u->n_messages_early <= u->n_messages);
    for (size_t k = 0; k < u->n_messages; k++) {
        const struct raft_message *m = &u->messages[k];
        FUZZ_CHECK(m->from == raft_self(r));
        /* Configuration entries from the input may add any peer. */
        FUZZ_CHECK(m->to != 0 && m->to != raft_self(r));
        FUZZ_CHECK(m->type >= RAFT_MSG_VOTE && m->type <= RAFT_MSG_TYPE_MAX);
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
            m->type == RAFT_MSG_SNAPSHOT) {
            /* Heartbeats of an earlier tick may leave with the update in
             * which a leader stepped down: still of the term it led. */
            FUZZ_CHECK(m->term == md->led_term && m->term == md->hs.term);
        }
        if (m->type == RAFT_MSG_APPEND) {
            FUZZ_CHECK(m->append.commit <= md->hs.commit);
            for (size_t i = 0; i < m->append.n_entries; i++) {
                const struct raft_entry *e = &m->append.entries[i];
                FUZZ_CHECK(e->index == m->append.prev_index + 1 + i);
                FUZZ_CHECK(e->term <= m->term);
            }
        }
    }

    /* Committed entries: what was persisted, in order, once. */
    for (size_t k = 0; k < u->n_committed; k++) {
        const struct raft_entry *e = &u->committed[k];
        FUZZ_CHECK(e->index == md->applied + 1);
        FUZZ_CHECK(e->index <= md->hs.commit);
        FUZZ_CHECK(e->term == model_term(md, e->index));
        md->applied = e->index;
    }

    for (size_t k = 0; k < u->n_reads; k++) {
        FUZZ_CHECK(u->reads[k].index <= md->hs.commit);
    }
}

static void drain(struct raft *r, struct model *md)
{
    struct raft_update u;
    for (int rounds = 0; raft_update_get(r, &u); rounds++) {
        FUZZ_CHECK(rounds < 1000);
        check_update(r, md, &u);
        raft_update_done(r, &u);
        FUZZ_CHECK(raft_last_index(r) == model_last(md));
        FUZZ_CHECK(raft_last_term(r) == model_term(md, model_last(md)));
        FUZZ_CHECK(raft_applied_index(r) == md->applied);
    }
    FUZZ_CHECK(raft_current_term(r) == md->hs.term);
    FUZZ_CHECK(raft_voted_for(r) == md->hs.vote);
    FUZZ_CHECK(raft_commit_index(r) == md->hs.commit);
    FUZZ_CHECK(raft_commit_index(r) <= raft_last_index(r));
    FUZZ_CHECK(raft_first_index(r) <= raft_last_index(r) + 1);
}

/* The core's snapshot of what was applied, then compaction up to it. */
static void compact(struct raft *r, const struct model *md)
{
    static const char data[] = "fuzz snapshot";
    raft_index index = raft_applied_index(r);
    if (md->saw_config || index == 0 || index <= md->base) {
        return;
    }
    struct raft_snapshot s = {
        .index = index,
        .term = raft_term_at(r, index),
        .conf = *raft_config(r),
        .data = data,
        .len = sizeof data - 1,
    };
    if (raft_snapshot_set(r, &s) == 0) {
        FUZZ_CHECK(raft_compact(r, index) == 0);
        FUZZ_CHECK(raft_first_index(r) == index + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct raft_options o;
    raft_options_default(&o);
    o.id = 1;
    o.seed = 7;
    o.max_entries_per_msg = 4;
    o.max_inflight = 4;
    struct raft_boot b;
    memset(&b, 0, sizeof b);
    const raft_id ids[] = {1, 2, 3};
    FUZZ_CHECK(raft_configuration_voters(&b.conf, ids, 3) == 0);
    struct raft *r;
    FUZZ_CHECK(raft_new(&o, &b, &r) == 0);

    struct model md;
    memset(&md, 0, sizeof md);

    struct fuzz_in in = {data, size};
    struct raft_input_msg msg;
    uint64_t context = 0;
    while (fuzz_more(&in)) {
        struct raft_input_op op;
        raft_input_read(&in, r, &op, &msg);
        int rv;
        switch (op.kind) {
            case RAFT_INPUT_TICK:
                for (unsigned k = 0; k < op.count; k++) {
                    FUZZ_CHECK(raft_tick(r) == 0);
                }
                break;
            case RAFT_INPUT_STEP:
                rv = raft_step(r, &msg.m);
                FUZZ_CHECK(rv == 0 || rv == COMMON_EDROPPED);
                FUZZ_CHECK(rv == 0 || raft_last_drop_reason(r) != NULL);
                break;
            case RAFT_INPUT_PROPOSE: {
                raft_index index = 0;
                raft_term term = 0;
                rv = raft_propose(r, op.data, op.len, &index, &term);
                FUZZ_CHECK(rv == 0 || rv == COMMON_ENOTLEADER);
                FUZZ_CHECK(rv != 0 || (index == raft_last_index(r) &&
                                       term == raft_current_term(r)));
                break;
            }
            case RAFT_INPUT_READ:
                rv = raft_read_index(r, ++context);
                FUZZ_CHECK(rv == 0 || rv == COMMON_ENOTLEADER);
                break;
            case RAFT_INPUT_CAMPAIGN:
                /* A leader refuses; so does a node outside the voters
                 * (a snapshot or configuration may leave it out). */
                rv = raft_campaign(r);
                FUZZ_CHECK(
                    rv == 0 ||
                    (rv == COMMON_EINVAL && raft_role(r) == RAFT_LEADER) ||
                    (rv == COMMON_EDROPPED &&
                     raft_last_drop_reason(r) != NULL));
                break;
            case RAFT_INPUT_COMPACT:
                compact(r, &md);
                break;
        }
        drain(r, &md);
    }
    free(md.terms);
    raft_free(r);
    return 0;
}
