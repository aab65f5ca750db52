/*
 * ReadIndex (Ongaro's dissertation §6.4): linearizable reads without
 * writing to the log.
 *
 * 1. The leader must have committed an entry of its own term (the no-op of
 *    §8 does it), so that its commit index is at least that of any earlier
 *    leader. Reads that arrive before then wait in the queue with round 0.
 * 2. It records its commit index as the read's index.
 * 3. It starts a heartbeat round; a read is confirmed once a quorum of
 *    voters (itself included) has answered a round at least as recent as
 *    the read's. Rounds are numbered and echoed back, so one round confirms
 *    every read registered before it. One round is in flight at a time:
 *    reads that arrive meanwhile wait for the next one, which starts when
 *    the current one is confirmed or with the next periodic heartbeat,
 *    whichever comes first - under load, many reads share a round.
 * 4. The caller answers once its state machine has applied the index.
 *
 * A leader that steps down fails every queued read (index 0).
 */
#include <stdlib.h>

#include "raft_internal.h"

int read_push_ready(struct raft *r, uint64_t context, raft_index index)
{
    /* A read is answered at the commit index it saw, or failed (0). */
    assert(index <= r->commit);
    if (common_grow(&r->reads_ready, &r->reads_ready_cap,
                    r->reads_ready_len + 1, sizeof *r->reads_ready, 16) != 0) {
        return COMMON_ENOMEM;
    }
    r->reads_ready[r->reads_ready_len++] =
        (struct raft_read){.context = context, .index = index};
    return 0;
}

static bool committed_in_term(const struct raft *r)
{
    assert(r->role == RAFT_LEADER);
    return log_term(&r->log, r->commit) == r->term;
}

static unsigned acked(const struct raft *r, uint64_t round)
{
    /* A read's round is at most the next one (assign_round). */
    assert(round <= r->read_round + 1);
    unsigned n = 0;
    for (uint32_t k = 0; k < r->n_progress; k++) {
        const struct progress *p = &r->progress[k];
        if (p->voter && (p->is_self || p->read_acked >= round)) {
            n++;
        }
    }
    return n;
}

/* Moves confirmed reads from the head of the queue to the ready list. */
void read_release_confirmed(struct raft *r)
{
    assert(r->role == RAFT_LEADER);
    size_t done = 0;
    while (done < r->reads_len) {
        struct read_request *q = &r->reads[done];
        if (q->round == 0 || acked(r, q->round) < raft_quorum(r)) {
            break;
        }
        if (read_push_ready(r, q->context, q->index) != 0) {
            break; /* try again at the next acknowledgement */
        }
        done++;
    }
    if (done > 0) {
        for (size_t k = done; k < r->reads_len; k++) {
            r->reads[k - done] = r->reads[k];
        }
        r->reads_len -= done;
    }
}

static void assign_round(struct raft *r, struct read_request *q)
{
    assert(q->round == 0 && r->role == RAFT_LEADER);
    q->index = r->commit;
    q->round = r->read_round + 1;
    r->read_round_pending = true;
}

static int read_index(struct raft *r, uint64_t context)
{
    if (r->role != RAFT_LEADER) {
        return COMMON_ENOTLEADER;
    }
    if (r->read_round >= RAFT_INDEX_MAX) {
        /* Its round would be RAFT_INDEX_MAX + 1, which followers drop. */
        return COMMON_ERANGE;
    }
    if (common_grow(&r->reads, &r->reads_cap, r->reads_len + 1,
                    sizeof *r->reads, 16) != 0) {
        return COMMON_ENOMEM;
    }
    assert(r->reads_len < r->reads_cap);
    struct read_request *q = &r->reads[r->reads_len++];
    q->context = context;
    q->index = 0;
    q->round = 0;
    if (committed_in_term(r)) {
        assign_round(r, q);
        if (raft_quorum(r) == 1) {
            read_round_start(r);
        }
        read_release_confirmed(r);
    }
    return 0;
}

int raft_read_index(struct raft *r, uint64_t context)
{
    assert(!r->update_out);
    int rv = read_index(r, context);
    RAFT_CHECK_INVARIANTS(r);
    return rv;
}

void read_round_start(struct raft *r)
{
    /* A round is pending only for reads raft_read_index() admitted while
     * read_round < RAFT_INDEX_MAX, and they all share the next round. */
    assert(r->read_round < RAFT_INDEX_MAX);
    r->read_round_pending = false;
    r->read_round++;
}

void read_on_commit_in_term(struct raft *r)
{
    /* The first commit of an entry of the leader's term (§8, Figure 8). */
    assert(r->role == RAFT_LEADER && log_term(&r->log, r->commit) == r->term);
    for (size_t k = 0; k < r->reads_len; k++) {
        if (r->reads[k].round == 0) {
            assign_round(r, &r->reads[k]);
        }
    }
    if (r->reads_len > 0 && raft_quorum(r) == 1) {
        read_round_start(r);
        read_release_confirmed(r);
    }
}

bool read_round_idle(const struct raft *r)
{
    assert(r->role == RAFT_LEADER);
    return r->read_round == 0 || acked(r, r->read_round) >= raft_quorum(r);
}

void read_fail_all(struct raft *r)
{
    /* A leader stepping down (become_follower): no new rounds from here. */
    assert(r->role == RAFT_FOLLOWER && r->reads_len <= r->reads_cap);
    for (size_t k = 0; k < r->reads_len; k++) {
        /* Without memory to report it, the read is simply not reported:
         * the caller's own timeout then fails it. */
        (void)read_push_ready(r, r->reads[k].context, 0);
    }
    r->reads_len = 0;
    r->read_round_pending = false;
}
