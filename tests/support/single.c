/* single: see single.h. */
#include "single.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what)
{
    fprintf(stderr, "single: %s\n", what);
    abort();
}

struct raft *single_new(const struct single_opts *o)
{
    struct raft_options opts;
    raft_options_default(&opts);
    opts.id = o->id ? o->id : 1;
    opts.pre_vote = o->pre_vote;
    opts.check_quorum = o->check_quorum;
    if (o->election_ticks) {
        opts.election_ticks = o->election_ticks;
    }
    if (o->max_inflight) {
        opts.max_inflight = o->max_inflight;
    }
    if (o->max_entries_per_msg) {
        opts.max_entries_per_msg = o->max_entries_per_msg;
    }
    if (o->max_bytes_per_msg) {
        opts.max_bytes_per_msg = o->max_bytes_per_msg;
    }
    opts.seed = o->seed;
    raft_id ids[RAFT_MAX_SERVERS];
    for (unsigned k = 0; k < o->voters; k++) {
        ids[k] = k + 1;
    }
    struct raft_boot b;
    memset(&b, 0, sizeof b);
    if (raft_configuration_voters(&b.conf, ids, o->voters) != 0) {
        die("bad configuration");
    }
    b.hard_state.term = o->term;
    b.hard_state.vote = o->vote;
    b.hard_state.commit = o->commit;
    static char data[SINGLE_MAX][16];
    struct raft_entry *entries = calloc(o->n_terms + 1, sizeof *entries);
    for (size_t k = 0; k < o->n_terms; k++) {
        int len = snprintf(data[k % SINGLE_MAX], sizeof data[0], "i%zu", k + 1);
        entries[k] = (struct raft_entry){
            .term = o->terms[k],
            .index = k + 1,
            .type = RAFT_ENTRY_COMMAND,
            .data = {data[k % SINGLE_MAX], (size_t)len},
        };
    }
    b.entries = entries;
    b.n_entries = o->n_terms;
    struct raft *r = NULL;
    if (raft_new(&opts, &b, &r) != 0) {
        die("raft_new failed");
    }
    free(entries);
    return r;
}

void single_drain(struct raft *r, struct captured *c)
{
    memset(c, 0, sizeof *c);
    struct raft_update u;
    while (raft_update_get(r, &u)) {
        /* A correct core runs out of updates: each takes something out
         * (raft_update_done). One that always has one would hang the test;
         * it fails it instead. */
        if (c->updates == SINGLE_MAX_UPDATES) {
            die("error: the raft core handed out more than 1000 updates in "
                "a row; raft_update_get must return false when nothing "
                "changed");
        }
        c->updates++;
        if (u.hard_state_changed) {
            c->hs_changed = true;
            c->hs = u.hard_state;
        }
        if (u.role_changed) {
            c->role_changed = true;
        }
        c->role = u.role;
        if (u.truncate_from != 0 &&
            (c->truncate_from == 0 || u.truncate_from < c->truncate_from)) {
            c->truncate_from = u.truncate_from;
        }
        for (size_t k = 0; k < u.n_entries && c->n_persisted < SINGLE_MAX;
             k++) {
            c->persisted[c->n_persisted] = u.entries[k].index;
            c->persisted_terms[c->n_persisted++] = u.entries[k].term;
        }
        for (size_t k = 0; k < u.n_messages && c->n_msgs < SINGLE_MAX; k++) {
            c->msgs[c->n_msgs] = u.messages[k];
            if (u.messages[k].type == RAFT_MSG_APPEND) {
                c->msg_entries[c->n_msgs] = u.messages[k].append.n_entries;
                c->msgs[c->n_msgs].append.entries = NULL;
            }
            c->n_msgs++;
        }
        for (size_t k = 0; k < u.n_committed && c->n_committed < SINGLE_MAX;
             k++) {
            c->committed[c->n_committed++] = u.committed[k].index;
        }
        for (size_t k = 0; k < u.n_reads && c->n_reads < SINGLE_MAX; k++) {
            c->reads[c->n_reads++] = u.reads[k];
        }
        raft_update_done(r, &u);
    }
}

int single_step(struct raft *r,
                const struct raft_message *m,
                struct captured *c)
{
    int rv = raft_step(r, m);
    single_drain(r, c);
    return rv;
}

void single_ticks(struct raft *r, unsigned count, struct captured *c)
{
    for (unsigned k = 0; k < count; k++) {
        raft_tick(r);
    }
    single_drain(r, c);
}

void single_make_leader(struct raft *r, struct captured *c)
{
    raft_campaign(r);
    single_drain(r, c);
    unsigned voters = raft_configuration_voter_count(raft_config(r));
    for (int round = 0; round < 2 && raft_role(r) != RAFT_LEADER; round++) {
        bool pre = raft_role(r) == RAFT_PRE_CANDIDATE;
        for (raft_id id = 1; id <= voters && raft_role(r) != RAFT_LEADER;
             id++) {
            if (id == raft_self(r)) {
                continue;
            }
            struct raft_message m = {
                .type = RAFT_MSG_VOTE_RESP,
                .from = id,
                .to = raft_self(r),
                .term = raft_current_term(r) + (pre ? 1 : 0),
                .vote_resp = {.granted = true, .pre_vote = pre},
            };
            raft_step(r, &m);
            single_drain(r, c);
        }
    }
    if (raft_role(r) != RAFT_LEADER) {
        die("could not make a leader");
    }
}

const struct raft_message *single_find(const struct captured *c,
                                       int type,
                                       raft_id to)
{
    for (size_t k = 0; k < c->n_msgs; k++) {
        if ((int)c->msgs[k].type == type && c->msgs[k].to == to) {
            return &c->msgs[k];
        }
    }
    return NULL;
}

struct raft_message single_append(raft_id from,
                                  raft_id to,
                                  raft_term term,
                                  raft_index prev_index,
                                  raft_term prev_term,
                                  const raft_term *terms,
                                  size_t n,
                                  raft_index commit)
{
    static struct raft_entry entries[SINGLE_MAX];
    static char data[SINGLE_MAX][24];
    if (n > SINGLE_MAX) {
        die("too many entries");
    }
    for (size_t k = 0; k < n; k++) {
        raft_index i = prev_index + 1 + k;
        int len =
            snprintf(data[k], sizeof data[k], "m%llu", (unsigned long long)i);
        entries[k] = (struct raft_entry){
            .term = terms[k],
            .index = i,
            .type = RAFT_ENTRY_COMMAND,
            .data = {data[k], (size_t)len},
        };
    }
    struct raft_message m = {
        .type = RAFT_MSG_APPEND,
        .from = from,
        .to = to,
        .term = term,
        .append = {.prev_index = prev_index,
                   .prev_term = prev_term,
                   .commit = commit,
                   .entries = n > 0 ? entries : NULL,
                   .n_entries = n},
    };
    return m;
}
