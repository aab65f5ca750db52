/*
 * raftkv-bench --op append: a history generator for the checker. --inflight
 * clients append unique short tokens ("C.N;": client, counter) to --keys
 * keys and read the keys back (--get-percent of the ops), and every op goes
 * to --history in the history format (docs/history.md), written by the
 * checker's own writer: invoke before the first attempt, then ok, fail or
 * info. The values grow with every append, as in a Jepsen append test.
 *
 * Each client opens a session (RegisterClient) and numbers its appends. An
 * attempt whose outcome is unknown - it timed out, its connection died, the
 * node answered RETRY or UNAVAILABLE - ends its op as info: the op may take
 * effect later, or never. With --retry-unknown the op is sent again with
 * the same (client_id, seq) instead, which the session makes take effect at
 * most once (so the history also tests that: a token applied twice is not
 * linearizable), and an answer to any attempt is the op's answer. An op
 * still unanswered --op-timeout-ms after its invoke is given up: info when
 * an attempt may have been proposed, fail when every attempt was refused by
 * a node that did not propose it (NOT_LEADER). After an info the client
 * goes on as a new process (id + clients), as the harness's client does,
 * since the old op may still take effect.
 *
 * A node that does not lead names the leader in its answer: the next
 * attempt goes there at once; with no leader known (an election), to the
 * next endpoint after a pause. One thread, one completion queue, one channel
 * per endpoint; the loop wakes every few milliseconds to start the attempts
 * whose pause is over. SIGTERM or SIGINT ends the run early the way
 * --seconds does: no new op starts, those out end as usual, and the
 * history is complete (a test stops the load on progress, not on time).
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "checker/checker.h"
#include "common/common.h"
#include "proto/kv.pb-c.h"

/* The pause before an attempt at another node when no leader is known,
 * and the loop's longest sleep. */
#define PAUSE_MS 50
#define WAKE_MS  5

enum phase {
    PHASE_IDLE,     /* no op: the next one starts when the loop comes by */
    PHASE_REGISTER, /* opening the session (not in the history) */
    PHASE_OP,       /* an op is invoked and has no completion yet */
};

struct client
{
    struct call call; /* first: the completion's tag is the client */
    bool out;         /* call is out */
    enum phase phase;
    bool get; /* the op is a get (else an append) */
    int64_t process;
    uint64_t client_id; /* 0: no session yet */
    uint64_t seq;
    unsigned key;
    unsigned counter; /* tokens made */
    char token[32];
    int endpoint;     /* where the next attempt goes */
    uint64_t op_ns;   /* the op's invoke */
    uint64_t next_ns; /* no attempt before */
    bool maybe;       /* an attempt may have been proposed */
};

struct endpoint
{
    grpc_channel *ch;
    void *append;
    void *get;
    void *reg;
};

struct history
{
    const struct opts *o;
    FILE *out;
    grpc_completion_queue *cq;
    struct endpoint ep[MAX_ENDPOINTS];
    struct client *c;
    struct common_prng prng;
    uint64_t t0;
    uint64_t events;
    uint64_t ok;
    uint64_t fail;
    uint64_t info;
    uint64_t invalid;
    bool write_failed;
};

/* Set by SIGTERM or SIGINT: stop as at the end of --seconds. */
static volatile sig_atomic_t stop_asked;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_asked = 1;
}

static void key_name(unsigned k, char *buf, size_t size)
{
    snprintf(buf, size, "k%u", k);
}

/* Writes one event of @c's op: @value is a get's answer (ptr NULL: absent),
 * @error a completion's reason (NULL: none). */
static void emit(struct history *h,
                 const struct client *c,
                 enum checker_type type,
                 struct checker_str value,
                 const char *error)
{
    char key[16];
    key_name(c->key, key, sizeof key);
    struct checker_event ev;
    memset(&ev, 0, sizeof ev);
    ev.process = c->process;
    ev.type = type;
    ev.f = c->get ? CHECKER_GET : CHECKER_APPEND;
    ev.has_key = true;
    ev.key.ptr = key;
    ev.key.len = strlen(key);
    if (!c->get) {
        ev.value_count = 1;
        ev.value[0].ptr = c->token;
        ev.value[0].len = strlen(c->token);
    } else if (type == CHECKER_OK) {
        ev.value_count = 1;
        ev.value[0] = value;
    }
    if (error != NULL) {
        ev.error.ptr = error;
        ev.error.len = strlen(error);
    }
    ev.has_time = true;
    ev.time = (int64_t)(common_now_ns() - h->t0);
    if (checker_event_write_jsonl(h->out, &ev) != 0) {
        h->write_failed = true;
    }
    h->events++;
}

/* Ends @c's op with @type; after an info the client is a new process. */
static void complete(struct history *h,
                     struct client *c,
                     enum checker_type type,
                     struct checker_str value,
                     const char *error)
{
    emit(h, c, type, value, error);
    if (type == CHECKER_OK) {
        h->ok++;
    } else if (type == CHECKER_FAIL) {
        h->fail++;
    } else {
        h->info++;
        c->process += h->o->inflight;
    }
    c->phase = PHASE_IDLE;
}

/* Gives up on @c's op. */
static void give_up(struct history *h, struct client *c)
{
    struct checker_str none = {NULL, 0};
    if (c->maybe) {
        complete(h, c, CHECKER_INFO, none, "timeout");
    } else {
        complete(h, c, CHECKER_FAIL, none, "unavailable");
    }
}

/* Starts @c's next op (or its registration first). */
static void begin(struct history *h, struct client *c, uint64_t now)
{
    const struct opts *o = h->o;
    c->get = common_prng_below(&h->prng, 100) < o->get_percent;
    if (!c->get && c->client_id == 0) {
        c->phase = PHASE_REGISTER;
        return;
    }
    c->key = (unsigned)common_prng_below(&h->prng, o->keys);
    if (!c->get) {
        c->seq++;
        snprintf(c->token, sizeof c->token, "%u.%u;", (unsigned)(c - h->c),
                 c->counter++);
    }
    c->phase = PHASE_OP;
    c->op_ns = now; /* next_ns stays: a pause after the last op holds */
    c->maybe = false;
    struct checker_str none = {NULL, 0};
    emit(h, c, CHECKER_INVOKE, none, NULL);
}

/* Sends @c's next attempt (of its op or its registration). */
static void attempt(struct history *h, struct client *c, uint64_t now)
{
    const struct opts *o = h->o;
    struct endpoint *ep = &h->ep[c->endpoint];
    char key[16];
    key_name(c->key, key, sizeof key);
    Raftkv__RequestHeader hdr = RAFTKV__REQUEST_HEADER__INIT;
    hdr.client_id = c->client_id;
    hdr.seq = c->seq;
    uint8_t buf[256];
    size_t n;
    void *method;
    int deadline_ms = o->deadline_ms;
    if (c->phase == PHASE_REGISTER) {
        Raftkv__RegisterClientRequest m = RAFTKV__REGISTER_CLIENT_REQUEST__INIT;
        n = raftkv__register_client_request__pack(&m, buf);
        method = ep->reg;
    } else {
        uint64_t left_ms =
            ((c->op_ns + (uint64_t)o->op_timeout_ms * 1000000u) - now) /
            1000000u;
        if (left_ms + 1 < (uint64_t)deadline_ms) {
            deadline_ms = (int)left_ms + 1;
        }
        ProtobufCBinaryData k = {.len = strlen(key), .data = (uint8_t *)key};
        if (c->get) {
            Raftkv__GetRequest m = RAFTKV__GET_REQUEST__INIT;
            m.key = k;
            n = raftkv__get_request__pack(&m, buf);
            method = ep->get;
        } else {
            Raftkv__AppendRequest m = RAFTKV__APPEND_REQUEST__INIT;
            m.header = &hdr;
            m.key = k;
            m.value.len = strlen(c->token);
            m.value.data = (uint8_t *)c->token;
            n = raftkv__append_request__pack(&m, buf);
            method = ep->append;
        }
    }
    memset(&c->call, 0, sizeof c->call);
    bench_call_start(&c->call, ep->ch, h->cq, method, bench_buffer_of(buf, n),
                     deadline_ms);
    c->out = true;
}

/* After an answer that was not the op's: where the next attempt goes. */
static void redirect(struct history *h,
                     struct client *c,
                     const Raftkv__ResponseHeader *hdr,
                     uint64_t now)
{
    const struct opts *o = h->o;
    if (hdr != NULL && hdr->leader_address != NULL) {
        for (int k = 0; k < o->n_endpoints; k++) {
            if (k != c->endpoint &&
                strcmp(hdr->leader_address, o->endpoints[k]) == 0) {
                c->endpoint = k;
                c->next_ns = now;
                return;
            }
        }
    }
    c->endpoint = (c->endpoint + 1) % o->n_endpoints;
    c->next_ns = now + (uint64_t)PAUSE_MS * 1000000u;
}

/* An answer to an op's attempt, decoded: the header, and a get's value. */
struct answer
{
    Raftkv__ResponseHeader *hdr;
    bool found;
    ProtobufCBinaryData value;
    void *msg;        /* to free */
    enum phase phase; /* what msg is: the phase and op of the attempt */
    bool get;
};

static void answer_free(struct answer *a)
{
    if (a->msg == NULL) {
        return;
    }
    if (a->phase == PHASE_REGISTER) {
        raftkv__register_client_response__free_unpacked(a->msg, NULL);
    } else if (a->get) {
        raftkv__get_response__free_unpacked(a->msg, NULL);
    } else {
        raftkv__append_response__free_unpacked(a->msg, NULL);
    }
}

/* Decodes the answer of @c's call; false when there is none (the call
 * failed, or the bytes are not the message). */
static bool answer_of(struct client *c, struct answer *a, uint64_t *client_id)
{
    memset(a, 0, sizeof *a);
    a->phase = c->phase;
    a->get = c->get;
    if (c->call.status != GRPC_STATUS_OK) {
        return false;
    }
    size_t len = 0;
    uint8_t *bytes = bench_flatten(c->call.recv, &len);
    if (bytes == NULL) {
        return false;
    }
    if (c->phase == PHASE_REGISTER) {
        Raftkv__RegisterClientResponse *r =
            raftkv__register_client_response__unpack(NULL, len, bytes);
        a->msg = r;
        a->hdr = r != NULL ? r->header : NULL;
        *client_id = r != NULL ? r->client_id : 0;
    } else if (c->get) {
        Raftkv__GetResponse *r = raftkv__get_response__unpack(NULL, len, bytes);
        a->msg = r;
        a->hdr = r != NULL ? r->header : NULL;
        if (r != NULL) {
            a->found = r->found;
            a->value = r->value;
        }
    } else {
        Raftkv__AppendResponse *r =
            raftkv__append_response__unpack(NULL, len, bytes);
        a->msg = r;
        a->hdr = r != NULL ? r->header : NULL;
    }
    free(bytes);
    if (a->hdr == NULL) {
        answer_free(a);
        a->msg = NULL;
        return false;
    }
    return true;
}

/* @c's attempt ended. */
static void on_answer(struct history *h, struct client *c, uint64_t now)
{
    c->out = false;
    struct answer a;
    uint64_t client_id = 0;
    bool answered = answer_of(c, &a, &client_id);
    bench_call_finish(&c->call);
    if (c->phase == PHASE_REGISTER) {
        if (answered && a.hdr->code == RAFTKV__CODE__CODE_OK &&
            client_id != 0) {
            c->client_id = client_id;
            c->seq = 0;
            c->phase = PHASE_IDLE;
        } else {
            redirect(h, c, answered ? a.hdr : NULL, now);
        }
        answer_free(&a);
        return;
    }
    struct checker_str none = {NULL, 0};
    Raftkv__Code code = answered ? a.hdr->code : RAFTKV__CODE__CODE_RETRY;
    switch (code) {
        case RAFTKV__CODE__CODE_OK:
        case RAFTKV__CODE__CODE_NOT_FOUND: {
            if (!c->get && code != RAFTKV__CODE__CODE_OK) {
                h->invalid++; /* an append never answers that */
                complete(h, c, CHECKER_INFO, none, "not-found");
                break;
            }
            struct checker_str v = none;
            if (c->get && a.found) {
                v.ptr = a.value.len > 0 ? (const char *)a.value.data : "";
                v.len = a.value.len;
            }
            complete(h, c, CHECKER_OK, v, NULL);
            break;
        }
        case RAFTKV__CODE__CODE_NOT_LEADER:
            redirect(h, c, a.hdr, now);
            break;
        case RAFTKV__CODE__CODE_SESSION_EXPIRED:
            c->client_id = 0;
            if (c->maybe) {
                complete(h, c, CHECKER_INFO, none, "session-expired");
            } else {
                complete(h, c, CHECKER_FAIL, none, "session-expired");
            }
            break;
        case RAFTKV__CODE__CODE_INVALID:
            h->invalid++;
            complete(h, c, CHECKER_FAIL, none, "invalid");
            break;
        default:
            /* No answer (deadline, dead connection), RETRY, UNAVAILABLE:
             * the attempt may have been proposed. */
            c->maybe = true;
            if (!h->o->retry_unknown) {
                complete(h, c, CHECKER_INFO, none,
                         answered ? "retry" : "timeout");
            }
            redirect(h, c, answered ? a.hdr : NULL, now);
            break;
    }
    answer_free(&a);
    if (c->phase == PHASE_OP &&
        now >= c->op_ns + (uint64_t)h->o->op_timeout_ms * 1000000u) {
        give_up(h, c);
    }
}

static int setup(struct history *h, const struct opts *o)
{
    memset(h, 0, sizeof *h);
    h->o = o;
    h->out = fopen(o->history, "w");
    if (h->out == NULL) {
        fprintf(stderr, "raftkv-bench: cannot write %s\n", o->history);
        return -1;
    }
    /* Whole lines reach the file as they are written, so that a reader
     * can follow the run's progress. */
    setvbuf(h->out, NULL, _IOLBF, 1 << 16);
    h->c = calloc((size_t)o->inflight, sizeof *h->c);
    if (h->c == NULL) {
        return -1;
    }
    h->cq = grpc_completion_queue_create_for_next(NULL);
    for (int k = 0; k < o->n_endpoints; k++) {
        struct endpoint *ep = &h->ep[k];
        ep->ch = bench_channel_to(o->endpoints[k]);
        ep->append =
            grpc_channel_register_call(ep->ch, "/raftkv.KV/Append", NULL, NULL);
        ep->get =
            grpc_channel_register_call(ep->ch, "/raftkv.KV/Get", NULL, NULL);
        ep->reg = grpc_channel_register_call(
            ep->ch, "/raftkv.KV/RegisterClient", NULL, NULL);
    }
    common_prng_seed(&h->prng, o->seed);
    for (int k = 0; k < o->inflight; k++) {
        h->c[k].process = k;
        h->c[k].endpoint = k % o->n_endpoints;
    }
    return 0;
}

static void teardown(struct history *h)
{
    for (int k = 0; k < h->o->n_endpoints; k++) {
        if (h->ep[k].ch != NULL) {
            grpc_channel_destroy(h->ep[k].ch);
        }
    }
    if (h->cq != NULL) {
        grpc_completion_queue_shutdown(h->cq);
        while (grpc_completion_queue_next(
                   h->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(h->cq);
    }
    free(h->c);
    if (h->out != NULL && fclose(h->out) != 0) {
        h->write_failed = true;
    }
}

int bench_history_run(const struct opts *o)
{
    struct history h;
    if (setup(&h, o) != 0) {
        teardown(&h);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    h.t0 = common_now_ns();
    uint64_t end = h.t0 + (uint64_t)(o->seconds * 1e9);
    for (;;) {
        uint64_t now = common_now_ns();
        bool stopping = now >= end || stop_asked;
        bool busy = false;
        for (int k = 0; k < o->inflight; k++) {
            struct client *c = &h.c[k];
            if (c->out) {
                busy = true;
                continue;
            }
            if (c->phase == PHASE_OP &&
                now >= c->op_ns + (uint64_t)o->op_timeout_ms * 1000000u) {
                give_up(&h, c);
            }
            if (c->phase == PHASE_REGISTER && stopping) {
                c->phase = PHASE_IDLE;
            }
            if (c->phase == PHASE_IDLE && !stopping) {
                begin(&h, c, now);
            }
            if (c->phase != PHASE_IDLE) {
                busy = true;
                if (now >= c->next_ns) {
                    attempt(&h, c, now);
                }
            }
        }
        if (!busy) {
            break;
        }
        gpr_timespec wake =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(WAKE_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(h.cq, wake, NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            on_answer(&h, (struct client *)ev.tag, common_now_ns());
        }
    }
    double secs = (double)(common_now_ns() - h.t0) / 1e9;
    teardown(&h);
    printf(
        "append history: %llu ops (%llu ok, %llu fail, %llu info), %llu "
        "events in %.1f s to %s\n",
        (unsigned long long)(h.ok + h.fail + h.info), (unsigned long long)h.ok,
        (unsigned long long)h.fail, (unsigned long long)h.info,
        (unsigned long long)h.events, secs, o->history);
    if (h.write_failed) {
        fprintf(stderr, "raftkv-bench: writing %s failed\n", o->history);
        return 2;
    }
    if (h.invalid > 0) {
        fprintf(stderr, "raftkv-bench: %llu ops refused as invalid\n",
                (unsigned long long)h.invalid);
        return 1;
    }
    return h.ok > 0 ? 0 : 1;
}
