/*
 * A server call's life, from the moment a posted request fires to its
 * release: its states (the diagram in grpc_endpoint.h), its answer, the
 * owner's reply to an application call, the orphans of a shutdown, and
 * the cancellation of answers nobody reads.
 *
 * The idea: a call is released when the last of those holding it lets
 * go, and its state says who they are. gRPC holds it while its answer is
 * on its way (until call_answer_done); the owner holds an application
 * call from on_call until transport_grpc_reply. Both hold it only when
 * transport_grpc_stop answered it while its owner still had it: an answer
 * started after the server's shutdown would never reach its caller, so
 * stop answers first and the call waits, an orphan, for whichever of the
 * two comes last. Every change of state is made under the lock and
 * asserted against the diagram.
 *
 * An application call admitted by the limits counts against them until
 * its answer ends, with the bytes of that answer as unread: a caller that
 * does not read keeps them in the server (HTTP/2 flow control), so they
 * count until delivered, and an answer not delivered within
 * answer_timeout_ms is cancelled.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>

#include "grpc_endpoint.h"
#include "grpc_internal.h"
#include "transport/transport.h"

/* How often answers that take too long are looked for. */
#define ANSWER_SWEEP_NS 250000000ull

/* The arrows of the diagram, as sets of the states each state may go
 * to. */
#define TO(s) (1u << (s))
static const unsigned call_transitions[CALL_STATES] = {
    [CALL_NEW] = TO(CALL_WAITING) | TO(CALL_ANSWERING),
    [CALL_WAITING] = TO(CALL_ANSWERING) | TO(CALL_ORPHAN_ANSWERING),
    [CALL_ANSWERING] = TO(CALL_FREED),
    [CALL_ORPHAN_ANSWERING] =
        TO(CALL_ORPHAN_REPLIED) | TO(CALL_ORPHAN_ANSWERED),
    [CALL_ORPHAN_REPLIED] = TO(CALL_FREED),
    [CALL_ORPHAN_ANSWERED] = TO(CALL_FREED),
    [CALL_FREED] = 0,
};
#undef TO

bool call_transition_legal(enum call_state from, enum call_state to)
{
    return from < CALL_STATES && to < CALL_STATES &&
           (call_transitions[from] & (1u << to)) != 0;
}

const char *call_state_name(enum call_state s)
{
    static const char *const names[CALL_STATES] = {
        [CALL_NEW] = "NEW",
        [CALL_WAITING] = "WAITING",
        [CALL_ANSWERING] = "ANSWERING",
        [CALL_ORPHAN_ANSWERING] = "ORPHAN_ANSWERING",
        [CALL_ORPHAN_REPLIED] = "ORPHAN_REPLIED",
        [CALL_ORPHAN_ANSWERED] = "ORPHAN_ANSWERED",
        [CALL_FREED] = "FREED",
    };
    return s < CALL_STATES ? names[s] : "?";
}

/* Moves @c to @to, one of the diagram's arrows. Lock held (or, in
 * transport_grpc_free, no other thread left). */
static void call_move(struct transport_grpc_call *c, enum call_state to)
{
    assert(call_transition_legal(c->state, to));
    c->state = to;
}

struct transport_grpc_call *call_new(struct transport_grpc *g,
                                     struct request *r)
{
    struct transport_grpc_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->tag.kind = TAG_ANSWER;
    c->g = g;
    c->call = r->call;
    c->kind = r->kind;
    c->md = r->md;
    if (r->kind == REQUEST_GENERIC) {
        c->details = r->details;
    }
    c->status_details = grpc_empty_slice();
    c->state = CALL_NEW;
    return c;
}

static void list_unlink(struct transport_grpc_call **head,
                        struct transport_grpc_call *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        assert(*head == c);
        *head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

static void list_push(struct transport_grpc_call **head,
                      struct transport_grpc_call *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head != NULL) {
        (*head)->prev = c;
    }
    *head = c;
}

static bool timed(const struct transport_grpc *g,
                  const struct transport_grpc_call *c)
{
    return c->timed_prev != NULL || g->timed == c;
}

static void timed_push(struct transport_grpc *g, struct transport_grpc_call *c)
{
    c->timed_prev = NULL;
    c->timed_next = g->timed;
    if (g->timed != NULL) {
        g->timed->timed_prev = c;
    }
    g->timed = c;
}

static void timed_unlink(struct transport_grpc *g,
                         struct transport_grpc_call *c)
{
    if (c->timed_prev != NULL) {
        c->timed_prev->timed_next = c->timed_next;
    } else {
        g->timed = c->timed_next;
    }
    if (c->timed_next != NULL) {
        c->timed_next->timed_prev = c->timed_prev;
    }
    c->timed_prev = c->timed_next = NULL;
}

void call_wait(struct transport_grpc *g,
               struct transport_grpc_call *c,
               struct limits_source *source)
{
    call_move(c, CALL_WAITING);
    c->source = source;
    list_push(&g->waiting, c);
}

/* Frees @c, FREED; no list holds it. */
static void call_release(struct transport_grpc_call *c)
{
    assert(c->state == CALL_FREED);
    if (c->resp != NULL) {
        grpc_byte_buffer_destroy(c->resp);
    }
    grpc_slice_unref(c->status_details);
    grpc_metadata_array_destroy(&c->md);
    if (c->kind == REQUEST_GENERIC) {
        grpc_call_details_destroy(&c->details);
    }
    grpc_call_unref(c->call);
    free(c);
}

/* The answer of @c ended, completed or never started: an application
 * call no longer counts against the limits, and gRPC lets go of the call.
 * Returns whether to release @c now: not while its owner still holds it.
 * Lock held. */
static bool call_answer_end(struct transport_grpc *g,
                            struct transport_grpc_call *c)
{
    if (c->source != NULL) {
        if (timed(g, c)) {
            timed_unlink(g, c);
        }
        limits_call_end(&g->limits, c->source, c->unread);
        c->source = NULL;
        c->unread = 0;
    }
    switch (c->state) {
        case CALL_ANSWERING:
            call_move(c, CALL_FREED);
            return true;
        case CALL_ORPHAN_ANSWERING:
            call_move(c, CALL_ORPHAN_ANSWERED);
            return false;
        case CALL_ORPHAN_REPLIED:
            list_unlink(&g->orphans, c);
            call_move(c, CALL_FREED);
            return true;
        default:
            assert(0 && "an answer ended that was not on its way");
            return false;
    }
}

void call_answer(struct transport_grpc_call *c,
                 int status,
                 const char *message,
                 const void *resp,
                 size_t len)
{
    struct transport_grpc *g = c->g;
    c->status_details =
        grpc_slice_from_copied_string(message != NULL ? message : "");
    /* A unary call that succeeds carries a message, even an empty one. */
    if (status == GRPC_STATUS_OK) {
        c->resp = transport_grpc_buffer(resp != NULL ? resp : "", len);
    }
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->resp != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->resp;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)status;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    pthread_mutex_lock(&g->lock);
    if (c->state == CALL_NEW) {
        call_move(c, CALL_ANSWERING);
    }
    /* Else call_reply or calls_orphan_waiting moved it already. */
    assert(c->state == CALL_ANSWERING || c->state == CALL_ORPHAN_ANSWERING ||
           c->state == CALL_ORPHAN_REPLIED);
    grpc_call_error err = grpc_call_start_batch(c->call, ops, n, c, NULL);
    if (err == GRPC_CALL_OK) {
        g->outstanding++;
        if (c->source != NULL) {
            /* Until the caller has read it: a caller that never reads
             * holds at most its address's share (call_reply). */
            c->unread = c->resp != NULL ? len : 0;
            limits_answer_started(&g->limits, c->source, c->unread);
            c->answer_started_ns = common_now_ns();
            timed_push(g, c);
        }
    }
    bool release = err != GRPC_CALL_OK && call_answer_end(g, c);
    pthread_mutex_unlock(&g->lock);
    if (err != GRPC_CALL_OK) {
        grpc_call_cancel(c->call, NULL);
    }
    if (release) {
        call_release(c);
    }
}

void call_answer_done(struct transport_grpc *g, struct transport_grpc_call *c)
{
    pthread_mutex_lock(&g->lock);
    g->outstanding--;
    bool release = call_answer_end(g, c);
    pthread_mutex_unlock(&g->lock);
    if (release) {
        call_release(c);
    }
}

void call_reply(struct transport_grpc_call *c,
                int status,
                const char *message,
                const void *resp,
                size_t len,
                bool no_room)
{
    struct transport_grpc *g = c->g;
    pthread_mutex_lock(&g->lock);
    /* Too late for an orphan: its caller was told the node is shutting
     * down. */
    if (c->state == CALL_ORPHAN_ANSWERING) {
        call_move(c, CALL_ORPHAN_REPLIED);
        pthread_mutex_unlock(&g->lock);
        return;
    }
    if (c->state == CALL_ORPHAN_ANSWERED) {
        list_unlink(&g->orphans, c);
        call_move(c, CALL_FREED);
        pthread_mutex_unlock(&g->lock);
        call_release(c);
        return;
    }
    assert(c->state == CALL_WAITING); /* replied to once */
    list_unlink(&g->waiting, c);
    call_move(c, CALL_ANSWERING);
    /* A large answer must fit in what its caller's address may leave
     * unread; else the caller gets RESOURCE_EXHAUSTED instead. Only large
     * ones: the answer to a write is small, so a write that took effect is
     * never reported as refused. */
    if (no_room || (status == GRPC_STATUS_OK &&
                    !limits_answer_fits(&g->limits, c->source, len))) {
        g->stats.calls_refused++;
        status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        message = "too many answers not yet read; read them, then retry";
        resp = NULL;
        len = 0;
    }
    pthread_mutex_unlock(&g->lock);
    call_answer(c, status, message, resp, len);
}

void transport_grpc_reply(struct transport_grpc_call *c,
                          int status,
                          const char *message,
                          const void *resp,
                          size_t len)
{
    call_reply(c, status, message, resp, len, false);
}

bool transport_grpc_reply_room(struct transport_grpc_call *c, size_t len)
{
    struct transport_grpc *g = c->g;
    pthread_mutex_lock(&g->lock);
    assert(c->state == CALL_WAITING || c->state == CALL_ORPHAN_ANSWERING ||
           c->state == CALL_ORPHAN_ANSWERED); /* its owner holds it */
    /* An orphan's reply goes nowhere: there is room. */
    bool fits = c->state != CALL_WAITING ||
                limits_answer_fits(&g->limits, c->source, len);
    pthread_mutex_unlock(&g->lock);
    if (!fits) {
        call_reply(c, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL, NULL, 0, true);
    }
    return fits;
}

void calls_orphan_waiting(struct transport_grpc *g)
{
    /* Taken off the waiting list at once, so that no reply unlinks them
     * from it; each joins the orphans just before its answer starts, so
     * that an answer that ends finds it there. */
    pthread_mutex_lock(&g->lock);
    assert(g->stopping);
    struct transport_grpc_call *list = NULL;
    while (g->waiting != NULL) {
        struct transport_grpc_call *c = g->waiting;
        list_unlink(&g->waiting, c);
        call_move(c, CALL_ORPHAN_ANSWERING);
        list_push(&list, c);
    }
    pthread_mutex_unlock(&g->lock);
    while (list != NULL) {
        struct transport_grpc_call *c = list;
        list_unlink(&list, c);
        pthread_mutex_lock(&g->lock);
        list_push(&g->orphans, c);
        pthread_mutex_unlock(&g->lock);
        call_answer(c, GRPC_STATUS_UNAVAILABLE, "the node is shutting down",
                    NULL, 0);
    }
}

void calls_cancel_slow(struct transport_grpc *g)
{
    uint64_t now = common_now_ns();
    if (now - g->answers_swept_ns < ANSWER_SWEEP_NS) {
        return;
    }
    g->answers_swept_ns = now;
    uint64_t limit = (uint64_t)g->o.answer_timeout_ms * 1000000ull;
    pthread_mutex_lock(&g->lock);
    struct transport_grpc_call *next;
    for (struct transport_grpc_call *c = g->timed; c != NULL; c = next) {
        next = c->timed_next;
        if (now - c->answer_started_ns > limit) {
            /* Once: its batch then completes, and its bytes stop counting
             * then. */
            timed_unlink(g, c);
            g->stats.answers_cancelled++;
            grpc_call_cancel(c->call, NULL);
        }
    }
    pthread_mutex_unlock(&g->lock);
}

void calls_free_orphans(struct transport_grpc *g)
{
    assert(g->waiting == NULL);
    while (g->orphans != NULL) {
        struct transport_grpc_call *c = g->orphans;
        list_unlink(&g->orphans, c);
        call_move(c, CALL_FREED);
        call_release(c);
    }
}
