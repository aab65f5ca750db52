/*
 * The workload driver (see workload.h). One thread runs every client: it
 * sleeps until a response arrives or the next client deadline, feeds
 * responses to their clients, fires timeouts, and starts the next
 * operation of every idle client. Responses come from node threads through
 * the client network, whose receiver queues them in the driver's inbox.
 */
#include "workload.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct known
{
    bool present;
    struct common_vec value;
};

struct workload
{
    struct workload_config cfg;
    struct kv_client **clients;
    uint64_t *next_start; /* per client: earliest time to start an op */
    struct known *known;  /* per key: the last value this driver saw */
    struct common_prng prng;
    uint64_t counter;
    unsigned mix_total;

    pthread_t thread;
    bool thread_running;
    pthread_mutex_t lock; /* guards the inbox and the flags below */
    pthread_cond_t cond;
    struct client_reply *inbox_head;
    struct client_reply *inbox_tail;
    bool draining;
    bool waiting;  /* the driver thread sleeps on cond for replies */
    bool attached; /* to the client network */

    /* Driver thread only: */
    size_t *open_invoke;  /* per client: its open invoke's event index */
    uint64_t wake_at;     /* sim: time of the pending wake-up */
    uint64_t wake_gen;    /* sim: only the latest wake-up event counts */
    unsigned final_key;   /* the next key to read at the end */
    unsigned final_keys;  /* keys read at the end (0: none) */
    uint64_t *invoked_at; /* per client: time of its open invoke */
    uint64_t *lat;
    size_t n_lat;
    size_t cap_lat;
    struct workload_event *events;
    size_t n_events;
    struct str_block *strings; /* the events' strings */
    size_t cap_events;
    bool oom;

    atomic_bool done;
    atomic_uint_fast64_t invoked;
    atomic_uint_fast64_t ok;
    atomic_uint_fast64_t fail;
    atomic_uint_fast64_t info;
};

/* Salt of the workload's randomness ("work"). */
#define WORKLOAD_SALT 0x776f726bull

/* History strings live in large blocks freed all at once: a run records
 * hundreds of thousands of them. */
#define STR_BLOCK (1u << 20)

struct str_block
{
    struct str_block *next;
    size_t used;
    size_t cap;
    char data[];
};

static char *dup_str(struct workload *w, const void *p, size_t len)
{
    struct str_block *b = w->strings;
    if (b == NULL || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > STR_BLOCK ? len + 1 : STR_BLOCK;
        b = malloc(sizeof *b + cap);
        if (b == NULL) {
            return NULL;
        }
        b->next = w->strings;
        b->used = 0;
        b->cap = cap;
        w->strings = b;
    }
    char *s = b->data + b->used;
    if (len > 0) {
        memcpy(s, p, len);
    }
    s[len] = '\0';
    b->used += len + 1;
    return s;
}

/* Client env: record a history event (driver thread). */
static void count(struct workload *w, enum kv_event_type type)
{
    switch (type) {
        case KV_EVENT_INVOKE:
            atomic_fetch_add(&w->invoked, 1);
            break;
        case KV_EVENT_OK:
            atomic_fetch_add(&w->ok, 1);
            break;
        case KV_EVENT_FAIL:
            atomic_fetch_add(&w->fail, 1);
            break;
        case KV_EVENT_INFO:
            atomic_fetch_add(&w->info, 1);
            break;
    }
}

/* Benchmarks: latencies of ok ops only. */
static void record_latency(struct workload *w, const struct kv_event *ev)
{
    unsigned idx = (unsigned)(ev->process % w->cfg.clients);
    if (ev->type == KV_EVENT_INVOKE) {
        w->invoked_at[idx] = ev->time_ns;
        return;
    }
    if (ev->type != KV_EVENT_OK) {
        return;
    }
    if (w->n_lat == w->cap_lat) {
        size_t cap = w->cap_lat ? w->cap_lat * 2 : 65536;
        uint64_t *l = realloc(w->lat, cap * sizeof *l);
        if (l == NULL) {
            w->oom = true;
            return;
        }
        w->lat = l;
        w->cap_lat = cap;
    }
    w->lat[w->n_lat++] = ev->time_ns - w->invoked_at[idx];
}

static void on_record(void *data, const struct kv_event *ev)
{
    struct workload *w = data;
    count(w, ev->type);
    if (w->cfg.latencies_only) {
        record_latency(w, ev);
        return;
    }
    if (w->n_events == w->cap_events) {
        size_t cap = w->cap_events ? w->cap_events * 2 : 4096;
        struct workload_event *e = realloc(w->events, cap * sizeof *e);
        if (e == NULL) {
            w->oom = true;
            return;
        }
        w->events = e;
        w->cap_events = cap;
    }
    struct workload_event *e = &w->events[w->n_events];
    memset(e, 0, sizeof *e);
    e->type = ev->type;
    e->op = ev->op;
    e->found = ev->found;
    e->expected_absent = ev->expected_absent;
    e->process = ev->process;
    e->time_ns = ev->time_ns;
    e->node = ev->node;
    e->error = ev->error;
    e->key = dup_str(w, ev->key.base, ev->key.len);
    bool has_value =
        ev->type == KV_EVENT_INVOKE
            ? ev->op == KV_OP_PUT || ev->op == KV_OP_APPEND ||
                  ev->op == KV_OP_CAS
            : ev->type == KV_EVENT_OK && ev->op == KV_OP_GET && ev->found;
    if (has_value) {
        e->value = dup_str(w, ev->value.base, ev->value.len);
        e->value_len = ev->value.len;
    }
    if (ev->type == KV_EVENT_INVOKE && ev->op == KV_OP_CAS &&
        !ev->expected_absent) {
        e->expected = dup_str(w, ev->expected.base, ev->expected.len);
        e->expected_len = ev->expected.len;
    }
    if (e->key == NULL || (has_value && e->value == NULL)) {
        w->oom = true;
    }
    w->n_events++;
}

/* Client env: send a request to a node (driver thread), through the
 * client network, which knows where each client lives. */
static void on_send(void *data, raft_id to, const struct kv_request *req)
{
    struct workload *w = data;
    client_net_request(cluster_clients(w->cfg.cluster), to, req);
}

static void sim_reply(void *data, uint64_t arg, void *owned, uint64_t now);

/* The client network's receiver (under its lock): sim mode schedules the
 * reply's arrival; threads queue it in the driver's inbox. */
static void receive_reply(void *data, struct client_reply *m)
{
    struct workload *w = data;
    if (w->cfg.sched != NULL) {
        assert(m->next == NULL); /* sim mode: one at a time */
        if (sched_at(w->cfg.sched, m->at, sim_reply, w, 0, m) != 0) {
            free(m);
        }
        return;
    }
    /* A batch of at most CLIENT_NET_BATCH_MAX replies. */
    struct client_reply *tail = m;
    while (tail->next != NULL) {
        tail = tail->next;
    }
    pthread_mutex_lock(&w->lock);
    assert((w->inbox_head == NULL) == (w->inbox_tail == NULL));
    if (w->inbox_tail != NULL) {
        w->inbox_tail->next = m;
    } else {
        w->inbox_head = m;
    }
    w->inbox_tail = tail;
    if (w->waiting) {
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

int workload_new(const struct workload_config *cfg, struct workload **out)
{
    if (cfg->clients == 0 || cfg->keys == 0 || cfg->cluster == NULL) {
        return COMMON_EINVAL;
    }
    struct workload *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return COMMON_ENOMEM;
    }
    w->cfg = *cfg;
    common_prng_seed(&w->prng, cfg->seed ^ WORKLOAD_SALT);
    for (int k = 1; k <= KV_OP_MAX; k++) {
        w->mix_total += cfg->mix[k];
    }
    if (w->mix_total == 0) {
        free(w);
        return COMMON_EINVAL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    w->clients = calloc(cfg->clients, sizeof *w->clients);
    w->next_start = calloc(cfg->clients, sizeof *w->next_start);
    w->known = calloc(cfg->keys, sizeof *w->known);
    w->invoked_at = calloc(cfg->clients, sizeof *w->invoked_at);
    w->open_invoke = calloc(cfg->clients, sizeof *w->open_invoke);
    w->wake_at = UINT64_MAX;
    /* Benchmarks keep no history: no final reads for them. */
    w->final_keys = cfg->latencies_only ? 0 : cfg->keys;
    if (w->clients == NULL || w->next_start == NULL || w->known == NULL ||
        w->invoked_at == NULL || w->open_invoke == NULL) {
        workload_free(w);
        return COMMON_ENOMEM;
    }
    for (unsigned k = 0; k < cfg->clients; k++) {
        struct kv_client_config cc = {
            .index = k,
            .clients = cfg->clients,
            .nodes = cfg->nodes,
            .op_timeout_ns = cfg->op_timeout_ns,
            .attempt_timeout_ns = cfg->attempt_timeout_ns,
            .seed = cfg->seed,
            .env = {.data = w, .send = on_send, .record = on_record},
        };
        int rv = kv_client_new(&cc, &w->clients[k]);
        if (rv != 0) {
            workload_free(w);
            return rv;
        }
    }
    client_net_attach_clients(cluster_clients(cfg->cluster), receive_reply, w);
    w->attached = true;
    *out = w;
    return 0;
}

void workload_free(struct workload *w)
{
    if (w == NULL) {
        return;
    }
    for (unsigned k = 0; w->clients != NULL && k < w->cfg.clients; k++) {
        kv_client_free(w->clients[k]);
    }
    free(w->clients);
    free(w->next_start);
    for (unsigned k = 0; w->known != NULL && k < w->cfg.keys; k++) {
        common_vec_fini(&w->known[k].value);
    }
    free(w->known);
    free(w->invoked_at);
    free(w->open_invoke);
    free(w->lat);
    while (w->inbox_head != NULL) {
        struct client_reply *m = w->inbox_head;
        w->inbox_head = m->next;
        free(m);
    }
    while (w->strings != NULL) {
        struct str_block *b = w->strings;
        w->strings = b->next;
        free(b);
    }
    free(w->events);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}

static enum kv_op pick_op(struct workload *w)
{
    uint64_t x = common_prng_below(&w->prng, w->mix_total);
    for (int k = 1; k <= KV_OP_MAX; k++) {
        if (x < w->cfg.mix[k]) {
            return (enum kv_op)k;
        }
        x -= w->cfg.mix[k];
    }
    return KV_OP_GET;
}

/* Writes @x in decimal at @dst (at most 20 digits, no terminator) and
 * returns the digit count: what "%llu" prints, without the cost of a
 * printf for every op. */
static size_t put_decimal(char *dst, uint64_t x)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x != 0);
    for (size_t k = 0; k < n; k++) {
        dst[k] = tmp[n - 1 - k];
    }
    return n;
}

/* Starts client @idx's next op: drawn from the mix on a random key, or,
 * when @final_key is not UINT_MAX, a get of that key. */
static void start_op(struct workload *w,
                     unsigned idx,
                     uint64_t now,
                     unsigned final_key)
{
    struct kv_client *c = w->clients[idx];
    unsigned key = final_key != UINT_MAX
                       ? final_key
                       : (unsigned)common_prng_below(&w->prng, w->cfg.keys);
    char kbuf[24];
    kbuf[0] = 'k';
    size_t klen = 1 + put_decimal(kbuf + 1, key);
    char val[65536 + 80];
    size_t len = put_decimal(val, kv_client_process(c));
    val[len++] = '.';
    len += put_decimal(val + len, ++w->counter);
    while (len < w->cfg.value_size && len < sizeof val) {
        val[len++] = '.';
    }
    struct kv_op_spec op;
    memset(&op, 0, sizeof op);
    op.op = final_key != UINT_MAX ? KV_OP_GET : pick_op(w);
    op.key = (struct common_buf){kbuf, klen};
    if (op.op == KV_OP_PUT || op.op == KV_OP_APPEND || op.op == KV_OP_CAS) {
        op.value = (struct common_buf){val, len};
    }
    if (op.op == KV_OP_CAS) {
        struct known *kn = &w->known[key];
        op.expected_absent = !kn->present;
        op.expected = (struct common_buf){kn->value.data, kn->value.len};
    }
    kv_client_start(c, &op, now);
}

/* Remembers what a completed op says about its key, for later cas. */
static void learn(struct workload *w,
                  const struct workload_event *inv,
                  const struct kv_response *r)
{
    unsigned key = (unsigned)strtoul(inv->key + 1, NULL, 10);
    if (key >= w->cfg.keys) {
        return;
    }
    struct known *kn = &w->known[key];
    switch (inv->op) {
        case KV_OP_GET:
            kn->present = r->found;
            kn->value.len = 0;
            if (r->found) {
                common_vec_append(&kn->value, r->value.base, r->value.len);
            }
            break;
        case KV_OP_PUT:
        case KV_OP_CAS:
            if (r->status == KV_OK) {
                kn->present = true;
                kn->value.len = 0;
                common_vec_append(&kn->value, inv->value, inv->value_len);
            }
            break;
        case KV_OP_DELETE:
            kn->present = false;
            kn->value.len = 0;
            break;
        default:
            break;
    }
}

/* Feeds one reply to its client (frees it). */
static void handle_reply(struct workload *w,
                         struct client_reply *m,
                         uint64_t now)
{
    unsigned idx = (unsigned)(m->resp.token >> 32);
    if (idx < w->cfg.clients) {
        struct kv_client *c = w->clients[idx];
        bool was_busy = kv_client_busy(c);
        kv_client_on_response(c, &m->resp, now);
        if (was_busy && !kv_client_busy(c) &&
            w->open_invoke[idx] < w->n_events) {
            learn(w, &w->events[w->open_invoke[idx]], &m->resp);
        }
    }
    free(m);
}

/* Fires due client timers and starts the next op of every idle client
 * whose think time is over. Sets *@wake to when this must run again;
 * returns whether any client still has an op open. */
static bool poll_clients(struct workload *w,
                         uint64_t now,
                         bool draining,
                         uint64_t *wake)
{
    bool busy = false;
    uint64_t next = UINT64_MAX;
    for (unsigned k = 0; k < w->cfg.clients; k++) {
        struct kv_client *c = w->clients[k];
        if (kv_client_busy(c) && kv_client_deadline(c) <= now) {
            kv_client_tick(c, now);
        }
        if (!kv_client_busy(c)) {
            if (w->next_start[k] == UINT64_MAX) {
                w->next_start[k] = now + w->cfg.think_ns;
            }
            if (!draining && now >= w->next_start[k]) {
                w->open_invoke[k] = w->n_events;
                start_op(w, k, now, UINT_MAX);
                w->next_start[k] = UINT64_MAX;
            } else if (draining && w->final_key < w->final_keys) {
                /* Final reads: once the run is over and the faults healed,
                 * every key is read once more, so that a lost
                 * acknowledged write cannot hide behind the end. */
                w->open_invoke[k] = w->n_events;
                start_op(w, k, now, w->final_key++);
            }
        }
        uint64_t d = kv_client_deadline(c);
        if (!kv_client_busy(c) && !draining) {
            d = w->next_start[k];
        }
        if (d < next) {
            next = d;
        }
        busy |= kv_client_busy(c);
    }
    *wake = next;
    return busy;
}

static void *driver_main(void *arg)
{
    struct workload *w = arg;
    struct cluster *cl = w->cfg.cluster;
    uint64_t wake = 0;
    for (;;) {
        uint64_t now = cluster_now(cl);
        pthread_mutex_lock(&w->lock);
        if (w->inbox_head == NULL && wake > now && !w->draining) {
            uint64_t wait = wake - now;
            if (wait > 10000000ull) {
                wait = 10000000ull; /* look at least every 10 ms */
            }
            struct timespec ts;
            uint64_t mono = common_now_ns() + wait;
            ts.tv_sec = (time_t)(mono / COMMON_NS_PER_S);
            ts.tv_nsec = (long)(mono % COMMON_NS_PER_S);
            w->waiting = true;
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
            w->waiting = false;
        }
        struct client_reply *batch = w->inbox_head;
        w->inbox_head = w->inbox_tail = NULL;
        bool draining = w->draining;
        pthread_mutex_unlock(&w->lock);

        now = cluster_now(cl);
        while (batch != NULL) {
            struct client_reply *m = batch;
            batch = m->next;
            handle_reply(w, m, now);
        }
        bool busy = poll_clients(w, now, draining, &wake);
        /* The requests of this round, one hand-over per node. */
        client_net_flush_requests(cluster_clients(cl));
        if (draining && !busy) {
            break;
        }
        if (draining && wake > now + 10000000ull) {
            wake = now + 10000000ull;
        }
    }
    atomic_store(&w->done, true);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Sim mode: the same driver, as events of the scheduler                     */
/* ------------------------------------------------------------------------ */

static void sim_wake(void *data, uint64_t arg, void *owned, uint64_t now);

/* Runs the clients' timers now and arranges the next wake-up. */
static void sim_poll(struct workload *w, uint64_t now)
{
    uint64_t wake;
    bool busy = poll_clients(w, now, w->draining, &wake);
    if (w->draining && !busy) {
        atomic_store(&w->done, true);
        return;
    }
    if (wake != UINT64_MAX && wake < w->wake_at) {
        w->wake_at = wake;
        w->wake_gen++;
        sched_at(w->cfg.sched, wake, sim_wake, w, w->wake_gen, NULL);
    }
}

static void sim_wake(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)owned;
    struct workload *w = data;
    if (arg != w->wake_gen) {
        return; /* superseded by an earlier wake-up */
    }
    w->wake_at = UINT64_MAX;
    sim_poll(w, now);
}

static void sim_reply(void *data, uint64_t arg, void *owned, uint64_t now)
{
    (void)arg;
    struct workload *w = data;
    handle_reply(w, owned, now);
    sim_poll(w, now);
}

int workload_start(struct workload *w)
{
    if (w->cfg.sched != NULL) {
        sim_poll(w, cluster_now(w->cfg.cluster));
        return 0;
    }
    if (pthread_create(&w->thread, NULL, driver_main, w) != 0) {
        return COMMON_ENOMEM;
    }
    w->thread_running = true;
    return 0;
}

void workload_drain(struct workload *w)
{
    pthread_mutex_lock(&w->lock);
    w->draining = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->cfg.sched != NULL && !atomic_load(&w->done)) {
        sim_poll(w, cluster_now(w->cfg.cluster));
    }
}

void workload_join(struct workload *w)
{
    if (w->thread_running) {
        pthread_join(w->thread, NULL);
        w->thread_running = false;
    }
    if (w->attached) {
        client_net_attach_clients(cluster_clients(w->cfg.cluster), NULL, NULL);
        w->attached = false;
    }
}

bool workload_done(struct workload *w)
{
    return atomic_load(&w->done);
}

bool workload_oom(const struct workload *w)
{
    return w->oom;
}

void workload_counts(struct workload *w, struct workload_counts *c)
{
    c->invoked = atomic_load(&w->invoked);
    c->ok = atomic_load(&w->ok);
    c->fail = atomic_load(&w->fail);
    c->info = atomic_load(&w->info);
}

const uint64_t *workload_latencies(const struct workload *w, size_t *n)
{
    *n = w->n_lat;
    return w->lat;
}

const struct workload_event *workload_events(const struct workload *w,
                                             size_t *n)
{
    *n = w->n_events;
    return w->events;
}

static enum checker_f checker_f_of(enum kv_op op)
{
    switch (op) {
        case KV_OP_GET:
            return CHECKER_GET;
        case KV_OP_PUT:
            return CHECKER_PUT;
        case KV_OP_DELETE:
            return CHECKER_DELETE;
        case KV_OP_CAS:
            return CHECKER_CAS;
        default:
            return CHECKER_APPEND;
    }
}

static enum checker_type checker_type_of(enum kv_event_type type)
{
    switch (type) {
        case KV_EVENT_INVOKE:
            return CHECKER_INVOKE;
        case KV_EVENT_OK:
            return CHECKER_OK;
        case KV_EVENT_FAIL:
            return CHECKER_FAIL;
        default:
            return CHECKER_INFO;
    }
}

static struct checker_str str_of(const char *p, size_t len)
{
    struct checker_str s = {p, len};
    return s;
}

void workload_event_checker(const struct workload_event *e,
                            uint64_t line,
                            struct checker_event *out)
{
    memset(out, 0, sizeof *out);
    out->process = (int64_t)e->process;
    out->type = checker_type_of(e->type);
    out->f = checker_f_of(e->op);
    out->has_key = true;
    out->key = str_of(e->key, strlen(e->key));
    if (e->type == KV_EVENT_INVOKE && e->op == KV_OP_CAS) {
        out->value_count = 2;
        if (!e->expected_absent) {
            out->value[0] = str_of(e->expected, e->expected_len);
        }
        out->value[1] = str_of(e->value, e->value_len);
    } else if (e->type == KV_EVENT_INVOKE && e->value != NULL) {
        out->value_count = 1;
        out->value[0] = str_of(e->value, e->value_len);
    } else if (e->type == KV_EVENT_OK && e->op == KV_OP_GET) {
        out->value_count = 1;
        if (e->found) {
            out->value[0] = str_of(e->value, e->value_len);
        }
    }
    if (e->type == KV_EVENT_FAIL && e->error != NULL) {
        out->error = str_of(e->error, strlen(e->error));
        out->mismatch = strcmp(e->error, "mismatch") == 0;
    }
    out->node = e->node;
    out->has_time = true;
    out->time = (int64_t)e->time_ns;
    out->line = line;
}

int workload_write_jsonl(const struct workload *w, FILE *f)
{
    for (size_t k = 0; k < w->n_events; k++) {
        struct checker_event ce;
        workload_event_checker(&w->events[k], k + 1, &ce);
        int rv = checker_event_write_jsonl(f, &ce);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}
