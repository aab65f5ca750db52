/*
 * single: drive one Raft core by hand. Build it from a log of terms, feed it
 * hand-made messages, and capture what its updates ask for (messages,
 * persistence, commits, reads) in plain arrays the test can inspect after
 * raft_update_done().
 */
#ifndef SINGLE_H
#define SINGLE_H

#include <stdbool.h>
#include <stddef.h>

#include "raft/raft.h"

#define SINGLE_MAX 512
/* single_drain fails the test past this many updates in a row. */
#define SINGLE_MAX_UPDATES 1000

struct captured
{
    struct raft_message msgs[SINGLE_MAX]; /* entries pointers cleared */
    size_t n_msgs;
    size_t msg_entries[SINGLE_MAX]; /* n_entries of each APPEND */
    bool hs_changed;
    struct raft_hard_state hs;
    raft_index truncate_from;         /* lowest seen, 0 if none */
    raft_index persisted[SINGLE_MAX]; /* indexes persisted, in order */
    raft_term persisted_terms[SINGLE_MAX];
    size_t n_persisted;
    raft_index committed[SINGLE_MAX];
    size_t n_committed;
    struct raft_read reads[SINGLE_MAX];
    size_t n_reads;
    bool role_changed;
    enum raft_role role;
    unsigned updates;
};

struct single_opts
{
    raft_id id;
    unsigned voters;        /* cluster of ids 1..voters */
    const raft_term *terms; /* log terms for indexes 1.. */
    size_t n_terms;
    raft_term term;
    raft_id vote;
    raft_index commit;
    bool pre_vote;
    bool check_quorum;
    unsigned election_ticks;      /* 0: 10 */
    unsigned max_inflight;        /* 0: default */
    unsigned max_entries_per_msg; /* 0: default */
    size_t max_bytes_per_msg;     /* 0: default */
    uint64_t seed;
};

/* A core booted from the options (entry data "i<index>"); asserts on
 * failure (test set-up only). */
struct raft *single_new(const struct single_opts *o);
/* Drains every pending update into @c (cleared first). */
void single_drain(struct raft *r, struct captured *c);
/* Steps a message and drains; returns raft_step's result. */
int single_step(struct raft *r,
                const struct raft_message *m,
                struct captured *c);
/* Ticks until the node leaves FOLLOWER or PRE_CANDIDATE is reached, at
 * most @max ticks; drains into @c. */
void single_ticks(struct raft *r, unsigned count, struct captured *c);
/* Makes node @r (id 1 of @voters) leader of term+1 by feeding it granted
 * votes, then drains. */
void single_make_leader(struct raft *r, struct captured *c);
/* The first captured message of @type to @to, or NULL. */
const struct raft_message *single_find(const struct captured *c,
                                       int type,
                                       raft_id to);
/* An AppendEntries from @from in @term with entries of the given terms
 * starting at prev_index + 1 (data "m<index>"); entries live in a static
 * buffer reused by the next call. */
struct raft_message single_append(raft_id from,
                                  raft_id to,
                                  raft_term term,
                                  raft_index prev_index,
                                  raft_term prev_term,
                                  const raft_term *terms,
                                  size_t n,
                                  raft_index commit);

#endif /* SINGLE_H */
