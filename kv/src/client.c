/*
 * The client: one logical client as an event-driven object, after Jepsen's
 * model of clients and processes.
 *
 * Each operation is recorded as an invoke, then exactly one completion:
 *   ok    the cluster answered (get: the value read, or absent);
 *   fail  it definitely had no effect: a cas whose precondition did not
 *         hold ("mismatch"), or every attempt was refused by a node that
 *         did not propose it (not leader) and the operation ran out of time
 *         ("unavailable");
 *   info  the outcome is unknown: some attempt may have been proposed and
 *         no answer came in time ("timeout").
 * After an info the client continues as a new process id (index + k *
 * clients), with a new session, because its old request may still take
 * effect at any later time.
 *
 * Retries: a request goes to the node believed to lead. A not-leader
 * answer with a hint goes to the hinted node at once; without a hint (an
 * election is running) the client waits a little and tries the next node.
 * An attempt unanswered within attempt_timeout_ns is resent to the next
 * node. Every retry carries the same (session, seq), so the state machine
 * applies the operation at most once.
 *
 * Sessions: before its first write a client registers a session (a
 * KV_OP_REGISTER command through the log, retried like an operation
 * until some leader answers it); the answer names the session (the
 * registration's log index), and only then is the write sent. The state
 * machine refuses a write of a session it does not hold, and never hands
 * out a session id twice, so a write applied, then forgotten with its
 * session, is never applied again by a late retry (Raft dissertation
 * §6.3). Reads need no session.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"

struct kv_client
{
    struct kv_client_config cfg;
    struct common_prng prng;
    uint64_t process;
    uint64_t session; /* 0: none yet (registered before the first write) */
    uint64_t seq;
    uint32_t attempt;
    uint32_t first_attempt; /* the current operation's first attempt */
    bool registering;       /* the attempts out are a session's registration */

    bool busy;
    enum kv_op op;
    struct common_vec key;
    struct common_vec value;
    struct common_vec expected;
    bool expected_absent;

    uint64_t op_deadline;
    uint64_t attempt_deadline; /* UINT64_MAX: no attempt outstanding */
    uint64_t retry_at;         /* UINT64_MAX: no retry scheduled */
    raft_id target;
    raft_id leader_guess;
    bool maybe_applied;
};

int kv_client_new(const struct kv_client_config *cfg, struct kv_client **out)
{
    if (cfg->nodes == 0 || cfg->clients == 0 || cfg->index >= cfg->clients ||
        cfg->env.send == NULL || cfg->env.record == NULL) {
        return COMMON_EINVAL;
    }
    struct kv_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return COMMON_ENOMEM;
    }
    c->cfg = *cfg;
    common_prng_seed(&c->prng, cfg->seed ^ common_mix64(cfg->index + 1));
    c->process = cfg->index;
    c->leader_guess = (raft_id)common_prng_range(&c->prng, 1, cfg->nodes);
    c->attempt_deadline = UINT64_MAX;
    c->retry_at = UINT64_MAX;
    *out = c;
    return 0;
}

void kv_client_free(struct kv_client *c)
{
    if (c == NULL) {
        return;
    }
    common_vec_fini(&c->key);
    common_vec_fini(&c->value);
    common_vec_fini(&c->expected);
    free(c);
}

static struct common_buf buf(const struct common_vec *v)
{
    struct common_buf b = {.base = v->data, .len = v->len};
    return b;
}

static void record(struct kv_client *c,
                   enum kv_event_type type,
                   const struct kv_response *r,
                   const char *error,
                   uint64_t now)
{
    struct kv_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.process = c->process;
    ev.op = c->op;
    ev.key = buf(&c->key);
    ev.time_ns = now;
    ev.error = error;
    if (type == KV_EVENT_INVOKE) {
        ev.value = buf(&c->value);
        ev.expected = buf(&c->expected);
        ev.expected_absent = c->expected_absent;
    } else if (r != NULL) {
        ev.node = r->node;
        if (c->op == KV_OP_GET) {
            ev.found = r->found;
            ev.value = r->value;
        }
    }
    c->cfg.env.record(c->cfg.env.data, &ev);
}

static raft_id next_node(struct kv_client *c, raft_id after)
{
    return after % c->cfg.nodes + 1;
}

static void send_attempt(struct kv_client *c, raft_id to, uint64_t now)
{
    c->attempt++;
    c->target = to;
    c->attempt_deadline = now + c->cfg.attempt_timeout_ns;
    c->retry_at = UINT64_MAX;
    struct kv_request req;
    memset(&req, 0, sizeof req);
    req.token = kv_client_token(c);
    if (c->registering) {
        req.op = KV_OP_REGISTER; /* no session, seq 0, no key */
        c->cfg.env.send(c->cfg.env.data, to, &req);
        return;
    }
    req.client_id = c->session;
    req.seq = c->seq;
    req.op = c->op;
    req.key = buf(&c->key);
    req.value = buf(&c->value);
    req.expected = buf(&c->expected);
    req.expected_absent = c->expected_absent;
    c->cfg.env.send(c->cfg.env.data, to, &req);
}

static int copy_buf(struct common_vec *v, struct common_buf b)
{
    v->len = 0;
    return common_vec_append(v, b.base, b.len);
}

int kv_client_start(struct kv_client *c,
                    const struct kv_op_spec *op,
                    uint64_t now_ns)
{
    if (c->busy || op->op < 1 || op->op > KV_OP_MAX) {
        return COMMON_EINVAL;
    }
    int rv = copy_buf(&c->key, op->key);
    if (rv == 0) {
        rv = copy_buf(&c->value, op->value);
    }
    if (rv == 0) {
        rv = copy_buf(&c->expected, op->expected);
    }
    if (rv != 0) {
        return rv;
    }
    c->op = op->op;
    c->expected_absent = op->expected_absent;
    c->seq++;
    c->busy = true;
    c->maybe_applied = false;
    c->registering = c->op != KV_OP_GET && c->session == 0;
    c->op_deadline = now_ns + c->cfg.op_timeout_ns;
    c->first_attempt = c->attempt + 1;
    record(c, KV_EVENT_INVOKE, NULL, NULL, now_ns);
    send_attempt(c, c->leader_guess, now_ns);
    return 0;
}

/* Jepsen: a process whose operation may still take effect is retired; the
 * client carries on as a fresh process, with a fresh session. */
static void new_process(struct kv_client *c)
{
    c->process += c->cfg.clients;
    c->session = 0;
    c->seq = 0;
}

static void finish(struct kv_client *c)
{
    c->busy = false;
    c->registering = false;
    c->attempt_deadline = UINT64_MAX;
    c->retry_at = UINT64_MAX;
}

/* Waits a little before trying again (no leader known). */
static void schedule_retry(struct kv_client *c, raft_id to, uint64_t now)
{
    uint64_t backoff = c->cfg.attempt_timeout_ns / 8;
    if (backoff < 1000000) {
        backoff = 1000000; /* 1 ms */
    }
    c->target = to;
    c->attempt_deadline = UINT64_MAX;
    c->retry_at = now + backoff;
}

void kv_client_on_response(struct kv_client *c,
                           const struct kv_response *r,
                           uint64_t now_ns)
{
    if (!c->busy || r->client_id != (c->registering ? 0 : c->session) ||
        r->seq != (c->registering ? 0 : c->seq)) {
        return; /* an answer for an earlier operation */
    }
    /* Session and sequence number alone do not tell operations apart: a
     * get carries no session, and a new process starts its sequence
     * numbers again, so a late answer to an earlier process's get can
     * match both. Only an attempt of this operation answers it. */
    uint32_t att = (uint32_t)r->token;
    if ((r->token >> 32) != c->cfg.index || att < c->first_attempt ||
        att > c->attempt) {
        return;
    }
    if (c->registering && r->status == KV_OK) {
        /* The new session is r->index; the operation goes out. Any
         * registration's answer will do, a late one of an earlier attempt
         * too: each opened a session of its own that nobody else uses. */
        if (r->index == 0) {
            return; /* not an answer a node gives */
        }
        c->session = r->index;
        c->registering = false;
        c->leader_guess = r->node;
        send_attempt(c, r->node, now_ns);
        return;
    }
    /* A registration's refusals are handled like the operation's, and
     * nothing the history sees can have taken effect before the session
     * is open (maybe_applied stays false). */
    bool final =
        !c->registering && (r->status == KV_OK || r->status == KV_NOT_FOUND ||
                            r->status == KV_MISMATCH);
    if (!final && r->token != kv_client_token(c)) {
        return; /* a refusal of an attempt already superseded */
    }
    switch (r->status) {
        case KV_OK:
        case KV_NOT_FOUND:
            c->leader_guess = r->node;
            record(c, KV_EVENT_OK, r, NULL, now_ns);
            finish(c);
            return;
        case KV_MISMATCH:
            c->leader_guess = r->node;
            record(c, KV_EVENT_FAIL, r, "mismatch", now_ns);
            finish(c);
            return;
        case KV_INVALID:
            record(c, c->maybe_applied ? KV_EVENT_INFO : KV_EVENT_FAIL, r,
                   "invalid", now_ns);
            finish(c);
            return;
        case KV_NOT_LEADER:
            if (r->leader != 0 && r->leader != r->node) {
                c->leader_guess = r->leader;
                send_attempt(c, r->leader, now_ns);
            } else {
                schedule_retry(c, next_node(c, r->node), now_ns);
            }
            return;
        case KV_EXPIRED:
            /* The session is gone: this attempt was refused, but an
             * earlier one may have been applied before it expired. */
            record(c, c->maybe_applied ? KV_EVENT_INFO : KV_EVENT_FAIL, r,
                   "session-expired", now_ns);
            new_process(c);
            finish(c);
            return;
        case KV_RETRY:
        case KV_UNAVAILABLE:
        default:
            /* It may have been proposed: from now on the outcome is
             * unknown until someone answers for it. */
            c->maybe_applied = c->maybe_applied || !c->registering;
            schedule_retry(c,
                           r->leader != 0 && r->leader != r->node
                               ? r->leader
                               : next_node(c, r->node),
                           now_ns);
            return;
    }
}

void kv_client_tick(struct kv_client *c, uint64_t now_ns)
{
    if (!c->busy) {
        return;
    }
    if (now_ns >= c->op_deadline) {
        /* Still registering: the operation itself was never sent. */
        bool outstanding = c->attempt_deadline != UINT64_MAX && !c->registering;
        if (c->maybe_applied || outstanding) {
            record(c, KV_EVENT_INFO, NULL, "timeout", now_ns);
            new_process(c);
        } else {
            record(c, KV_EVENT_FAIL, NULL, "unavailable", now_ns);
        }
        finish(c);
        return;
    }
    if (now_ns >= c->attempt_deadline) {
        /* No answer: the request or its answer was lost, or the node is
         * down or cut off. It may have been proposed there. */
        c->maybe_applied = !c->registering;
        c->leader_guess = next_node(c, c->target);
        send_attempt(c, c->leader_guess, now_ns);
        return;
    }
    if (now_ns >= c->retry_at) {
        send_attempt(c, c->target, now_ns);
    }
}

uint64_t kv_client_deadline(const struct kv_client *c)
{
    if (!c->busy) {
        return UINT64_MAX;
    }
    uint64_t d = c->op_deadline;
    if (c->attempt_deadline < d) {
        d = c->attempt_deadline;
    }
    if (c->retry_at < d) {
        d = c->retry_at;
    }
    return d;
}

bool kv_client_busy(const struct kv_client *c)
{
    return c->busy;
}

uint64_t kv_client_process(const struct kv_client *c)
{
    return c->process;
}

uint64_t kv_client_token(const struct kv_client *c)
{
    return ((uint64_t)c->cfg.index << 32) | c->attempt;
}
