/*
 * checker_check: split the history per key and search each key, in
 * parallel.
 *
 * Linearizability is local (Herlihy & Wing 1990): a history is linearizable
 * iff the sub-history of every object is, and Horn & Kroening (2015,
 * "Faster linearizability checking via P-compositionality") turn that into
 * the practice of checking partitions separately. Here a key is an object.
 * Partitions are numbered in the order their keys first appear; workers
 * (the calling thread plus up to threads-1 pthreads) take them largest
 * first, which keeps the cores busy until the end.
 *
 * Keys are searched in rounds of growing step budgets (run_rounds), and a
 * key that fails stops the keys numbered after it: see run_rounds for why
 * that finds easy failures first and still reports the same key whatever
 * the number of threads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

void checker_options_init(struct checker_options *o)
{
    memset(o, 0, sizeof *o);
    o->model = CHECKER_MODEL_KV;
}

const char *checker_model_name(enum checker_model model)
{
    return model == CHECKER_MODEL_REGISTER ? "register" : "kv";
}

int checker_model_parse(const char *name, enum checker_model *out)
{
    if (strcmp(name, "kv") == 0) {
        *out = CHECKER_MODEL_KV;
    } else if (strcmp(name, "register") == 0) {
        *out = CHECKER_MODEL_REGISTER;
    } else {
        return COMMON_EINVAL;
    }
    return 0;
}

const char *checker_verdict_name(enum checker_verdict v)
{
    switch (v) {
        case CHECKER_LINEARIZABLE:
            return "linearizable";
        case CHECKER_NOT_LINEARIZABLE:
            return "not-linearizable";
        case CHECKER_UNKNOWN:
            return "unknown";
    }
    return "?";
}

/* What the search of one key left for the result. */
struct part_result
{
    enum search_status status;
    uint64_t steps;
    uint32_t *order; /* history op indices */
    size_t order_len;
    uint32_t *unplaced;
    size_t unplaced_len;
    bool state_absent;
    char *state;
    size_t state_len;
    struct checker_str *states; /* after the last prefix ops */
    size_t states_from;
    char *states_bytes;
};

/* A key whose search has started: it lives until the key is decided. */
struct part_ctx
{
    struct model model;
    struct search search;
    struct pop *pops;
};

/*
 * What the workers of one check share. Read-only during a round: h,
 * absent_reads_empty, parts, part_start, part_ops, queue, queue_len, budget,
 * deadline_ns. results[p] and ctx[p] belong to the worker that took part p
 * from the queue in this round; rounds are separated by joining the
 * threads. next and min_failed are atomics.
 */
struct job
{
    const struct checker_history *h;
    bool absent_reads_empty;
    size_t parts;
    const size_t *part_start; /* ops of part p: part_ops[start[p]..[p+1]) */
    const uint32_t *part_ops;
    struct part_result *results;
    struct part_ctx **ctx; /* per part; NULL before its start and after */
    const size_t *queue;   /* the parts of this round, in order */
    size_t queue_len;
    uint64_t budget; /* model steps per part in this round */
    atomic_size_t next;
    atomic_size_t min_failed;
    uint64_t deadline_ns;
    uint64_t max_steps;  /* per key; 0: none */
    size_t memory_bytes; /* per key */
    /* At most one key per worker: no key holds memory paused while
     * another grows, so a key's memo may forget its older generation
     * instead of ending at its share (memo.c). */
    bool memo_may_forget;
    /* Every key's memo and model together, and their limit: the whole
     * --memory (keys that pause keep theirs). */
    atomic_size_t memory_all;
    size_t memory_all_bytes;
};

static void lower_min_failed(atomic_size_t *min_failed, size_t p)
{
    size_t cur = atomic_load_explicit(min_failed, memory_order_relaxed);
    while (p < cur && !atomic_compare_exchange_weak_explicit(
                          min_failed, &cur, p, memory_order_relaxed,
                          memory_order_relaxed)) {
    }
}

static int by_call(const void *a, const void *b)
{
    const struct pop *x = a;
    const struct pop *y = b;
    if (x->call != y->call) {
        return x->call < y->call ? -1 : 1;
    }
    return x->hop < y->hop ? -1 : x->hop > y->hop;
}

static void ctx_free(struct part_ctx *c)
{
    if (c == NULL) {
        return;
    }
    search_fini(&c->search);
    model_fini(&c->model);
    free(c->pops);
    free(c);
}

/* Sets up the search of part @p: its ops as the model sees them, sorted
 * by call time. NULL when out of memory. */
static struct part_ctx *ctx_new(struct job *job, size_t p)
{
    size_t n = job->part_start[p + 1] - job->part_start[p];
    struct part_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    model_init(&c->model, &job->h->strings, job->absent_reads_empty);
    c->pops = malloc((n + 1) * sizeof *c->pops);
    if (c->pops == NULL) {
        ctx_free(c);
        return NULL;
    }
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t i = job->part_ops[job->part_start[p] + k];
        if (model_pop(&c->model, &job->h->ops[i], i, &c->pops[kept])) {
            kept++;
        }
    }
    qsort(c->pops, kept, sizeof *c->pops, by_call);
    if (model_prepare(&c->model, c->pops, kept) != 0 ||
        search_start(&c->search, &c->model, c->pops, kept) != 0) {
        ctx_free(c);
        return NULL;
    }
    c->search.memo.may_forget = job->memo_may_forget;
    return c;
}

/* Prefix ops whose following state a failure report keeps. */
enum {
    STATES_KEPT = 20
};

/* Keeps the values the key holds after the last prefix ops. */
static int keep_states(struct part_ctx *c,
                       const struct search_out *out,
                       struct part_result *r)
{
    size_t from =
        out->order_len > STATES_KEPT ? out->order_len - STATES_KEPT : 0;
    size_t n = out->order_len - from;
    size_t bytes = 1;
    for (size_t k = from; k < out->order_len; k++) {
        bytes += model_state_str(&c->model, out->states[k]).len;
    }
    r->states = calloc(n + 1, sizeof *r->states);
    r->states_bytes = malloc(bytes);
    if (r->states == NULL || r->states_bytes == NULL || c->model.error) {
        return COMMON_ENOMEM;
    }
    size_t at = 0;
    for (size_t k = from; k < out->order_len; k++) {
        struct checker_str s = model_state_str(&c->model, out->states[k]);
        if (c->model.error) {
            return COMMON_ENOMEM;
        }
        if (s.ptr != NULL) {
            if (s.len > 0) {
                memcpy(r->states_bytes + at, s.ptr, s.len);
            }
            r->states[k - from].ptr = r->states_bytes + at;
            r->states[k - from].len = s.len;
            at += s.len;
        }
    }
    r->states_from = from;
    return 0;
}

/* Keeps from @out what the result needs, in history op indices. */
static void keep(struct part_ctx *c,
                 struct search_out *out,
                 struct part_result *r)
{
    r->status = out->status;
    r->steps = out->steps;
    r->order = out->order;
    r->order_len = out->order_len;
    r->unplaced = out->unplaced;
    r->unplaced_len = out->unplaced_len;
    for (size_t k = 0; k < r->order_len; k++) {
        r->order[k] = (uint32_t)c->pops[r->order[k]].hop;
    }
    for (size_t k = 0; k < r->unplaced_len; k++) {
        r->unplaced[k] = (uint32_t)c->pops[r->unplaced[k]].hop;
    }
    if (out->status != SEARCH_NOT_LINEARIZABLE) {
        free(out->states);
        return;
    }
    int rv = keep_states(c, out, r);
    free(out->states);
    if (rv != 0) {
        r->status = SEARCH_NOMEM;
        return;
    }
    struct checker_str s = model_state_str(&c->model, out->state);
    r->state_absent = s.ptr == NULL;
    r->state = malloc(s.len + 1);
    if (r->state == NULL) {
        r->status = SEARCH_NOMEM;
        return;
    }
    if (s.len > 0) {
        memcpy(r->state, s.ptr, s.len);
    }
    r->state[s.len] = 0;
    r->state_len = s.len;
}

/* Runs part @p for this round's budget. */
static void check_part(struct job *job, size_t p)
{
    struct part_result *r = &job->results[p];
    if (job->ctx[p] == NULL) {
        job->ctx[p] = ctx_new(job, p);
        if (job->ctx[p] == NULL) {
            r->status = SEARCH_NOMEM;
            return;
        }
    }
    struct part_ctx *c = job->ctx[p];
    uint64_t allow = job->budget;
    if (job->max_steps != 0) {
        uint64_t left = job->max_steps > c->search.steps
                            ? job->max_steps - c->search.steps
                            : 0;
        allow = left < allow ? left : allow;
    }
    struct search_limits lim = {.deadline_ns = job->deadline_ns,
                                .memory_bytes = job->memory_bytes,
                                .memory_all = &job->memory_all,
                                .memory_all_bytes = job->memory_all_bytes,
                                .steps = allow,
                                .min_failed = &job->min_failed,
                                .self = p};
    enum search_status st =
        allow == 0 ? SEARCH_PAUSED : search_resume(&c->search, &lim);
    if (st == SEARCH_PAUSED && job->max_steps != 0 &&
        c->search.steps >= job->max_steps) {
        st = SEARCH_OUT_OF_STEPS; /* this key is done: undecided */
    }
    r->steps = c->search.steps;
    r->status = st;
    if (st == SEARCH_PAUSED) {
        return;
    }
    struct search_out out;
    search_finish(&c->search, st, &out);
    keep(c, &out, r);
    ctx_free(c);
    job->ctx[p] = NULL;
    if (r->status == SEARCH_NOT_LINEARIZABLE) {
        lower_min_failed(&job->min_failed, p);
    }
}

static void *work(void *arg)
{
    struct job *job = arg;
    for (;;) {
        size_t k =
            atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (k >= job->queue_len) {
            break;
        }
        size_t p = job->queue[k];
        if (atomic_load_explicit(&job->min_failed, memory_order_relaxed) < p) {
            job->results[p].status = SEARCH_ABORTED;
            continue;
        }
        check_part(job, p);
    }
    return NULL;
}

/* Model steps each undecided key may take in the first round. */
static const uint64_t FIRST_BUDGET = 50000;

/* Half of the physical memory, or 0 when the system does not say. */
/* The smaller of 4 GiB and a quarter of the physical memory: a search
 * that cannot finish should not take the machine with it. */
static size_t default_memory(void)
{
    const size_t most = (size_t)4 << 30;
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) {
        return most;
    }
    size_t quarter = (size_t)pages / 4 * (size_t)page;
    return quarter < most ? quarter : most;
}

static unsigned online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 1024 ? 1024 : (unsigned)n);
}

/* Refuses ops the register model does not have. */
static int check_register(struct checker_history *h)
{
    for (size_t i = 0; i < h->ops_len; i++) {
        const struct hop *o = &h->ops[i];
        if (o->f == CHECKER_APPEND || o->f == CHECKER_DELETE) {
            history_errorf(h, o->call_line,
                           "%s is not an operation of the register model "
                           "(get, put, cas); use --model kv",
                           o->f == CHECKER_APPEND ? "append" : "delete");
            return COMMON_EINVAL;
        }
        if (o->key != h->ops[0].key) {
            history_errorf(h, o->call_line,
                           "the register model has one key, but this op's "
                           "key differs from the one at line %llu; use "
                           "--model kv",
                           (unsigned long long)h->ops[0].call_line);
            return COMMON_EINVAL;
        }
    }
    return 0;
}

static int by_size_desc(const void *a, const void *b)
{
    const size_t *x = a;
    const size_t *y = b;
    /* x[1], y[1] are sizes; ties in part order. */
    if (x[1] != y[1]) {
        return x[1] > y[1] ? -1 : 1;
    }
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Groups the ops per key: parts numbered by first appearance. */
static int partition(const struct checker_history *h,
                     struct job *job,
                     size_t **start_out,
                     uint32_t **ops_out,
                     size_t **by_size_out)
{
    size_t ids = h->strings.count + 2;
    uint32_t *part_of = malloc(ids * sizeof *part_of);
    size_t *count = calloc(h->ops_len + 2, sizeof *count);
    uint32_t *ops = malloc((h->ops_len + 1) * sizeof *ops);
    size_t *pairs = NULL;
    size_t parts = 0;
    int rv = COMMON_ENOMEM;
    if (part_of == NULL || count == NULL || ops == NULL) {
        goto out_free;
    }
    memset(part_of, 0xff, ids * sizeof *part_of);
    for (size_t i = 0; i < h->ops_len; i++) {
        uint32_t key = h->ops[i].key;
        if (part_of[key] == UINT32_MAX) {
            part_of[key] = (uint32_t)parts++;
        }
        count[part_of[key] + 1]++;
    }
    for (size_t p = 0; p < parts; p++) {
        count[p + 1] += count[p];
    }
    size_t *fill = malloc((parts + 1) * sizeof *fill);
    pairs = malloc((parts + 1) * 2 * sizeof *pairs);
    if (fill == NULL || pairs == NULL) {
        free(fill);
        goto out_free;
    }
    memcpy(fill, count, (parts + 1) * sizeof *fill);
    for (size_t i = 0; i < h->ops_len; i++) {
        ops[fill[part_of[h->ops[i].key]]++] = (uint32_t)i;
    }
    free(fill);
    for (size_t p = 0; p < parts; p++) {
        pairs[2 * p] = p;
        pairs[2 * p + 1] = count[p + 1] - count[p];
    }
    qsort(pairs, parts, 2 * sizeof *pairs, by_size_desc);
    for (size_t p = 0; p < parts; p++) {
        pairs[p] = pairs[2 * p];
    }
    job->parts = parts;
    *start_out = count;
    *ops_out = ops;
    *by_size_out = pairs;
    free(part_of);
    return 0;

out_free:
    free(part_of);
    free(count);
    free(ops);
    free(pairs);
    return rv;
}

/* One round: the calling thread and threads-1 others work through the
 * queue. */
static void run_round(struct job *job, unsigned threads)
{
    pthread_t extra[64];
    bool started[64] = {false};
    if (threads > job->queue_len) {
        threads = job->queue_len > 0 ? (unsigned)job->queue_len : 1;
    }
    if (threads > 64) {
        threads = 64;
    }
    atomic_store_explicit(&job->next, 0, memory_order_relaxed);
    for (unsigned t = 1; t < threads; t++) {
        started[t] = pthread_create(&extra[t], NULL, work, job) == 0;
    }
    work(job);
    for (unsigned t = 1; t < threads; t++) {
        if (started[t]) {
            pthread_join(extra[t], NULL);
        }
    }
}

/*
 * Rounds: every undecided key gets a budget of model steps, eight times the
 * last round's. A key that runs out pauses (its search keeps its place) and
 * goes on in the next round, unless a key failed in this one. So an easy
 * failure is found before a hard key eats the time budget, no step is
 * taken twice, and the key reported is the lowest-numbered key that fails
 * within the first round that has a failure: the same with any number of
 * threads.
 */
static void run_rounds(struct job *job, size_t *queue, unsigned threads)
{
    job->budget = FIRST_BUDGET;
    job->queue = queue;
    for (;;) {
        run_round(job, threads);
        if (atomic_load_explicit(&job->min_failed, memory_order_relaxed) !=
            SIZE_MAX) {
            return;
        }
        size_t paused = 0;
        for (size_t k = 0; k < job->queue_len; k++) {
            enum search_status st = job->results[queue[k]].status;
            if (st == SEARCH_TIMEOUT) {
                return;
            }
            if (st == SEARCH_PAUSED) {
                queue[paused++] = queue[k];
            }
        }
        if (paused == 0) {
            return;
        }
        job->queue_len = paused;
        job->budget =
            job->budget > UINT64_MAX / 8 ? UINT64_MAX : job->budget * 8;
    }
}

/* Fills @r from the per-key results. */
static int assemble(const struct checker_history *h,
                    struct job *job,
                    struct checker_result *r)
{
    size_t failed =
        atomic_load_explicit(&job->min_failed, memory_order_relaxed);
    bool nomem = false;
    bool timeout = false;
    bool out_of_steps = false;
    for (size_t p = 0; p < job->parts; p++) {
        struct part_result *pr = &job->results[p];
        r->steps += pr->steps;
        nomem |= pr->status == SEARCH_NOMEM;
        timeout |= pr->status == SEARCH_TIMEOUT;
        out_of_steps |= pr->status == SEARCH_OUT_OF_STEPS;
        r->partitions_done += pr->status == SEARCH_LINEARIZABLE ||
                              pr->status == SEARCH_NOT_LINEARIZABLE;
    }
    if (failed != SIZE_MAX) {
        r->verdict = CHECKER_NOT_LINEARIZABLE;
    } else if (nomem || timeout || out_of_steps) {
        r->verdict = CHECKER_UNKNOWN;
        r->unknown_why = timeout        ? "the time budget ran out"
                         : out_of_steps ? "the step budget ran out"
                                        : "the search ran out of memory";
        return 0;
    } else {
        r->verdict = CHECKER_LINEARIZABLE;
    }
    r->position = calloc(h->ops_len + 1, sizeof *r->position);
    if (r->position == NULL) {
        return COMMON_ENOMEM;
    }
    for (size_t p = 0; p < job->parts; p++) {
        struct part_result *pr = &job->results[p];
        if (pr->status == SEARCH_LINEARIZABLE || p == failed) {
            for (size_t k = 0; k < pr->order_len; k++) {
                r->position[pr->order[k]] = (uint32_t)(k + 1);
            }
        }
    }
    if (failed == SIZE_MAX) {
        return 0;
    }
    struct part_result *pr = &job->results[failed];
    const struct hop *first = &h->ops[job->part_ops[job->part_start[failed]]];
    struct checker_str key = strtab_get(&h->strings, first->key);
    r->has_key = key.ptr != NULL;
    r->key = malloc(key.len + 1);
    r->prefix = malloc((pr->order_len + 1) * sizeof *r->prefix);
    r->unplaced = malloc((pr->unplaced_len + 1) * sizeof *r->unplaced);
    if (r->key == NULL || r->prefix == NULL || r->unplaced == NULL) {
        return COMMON_ENOMEM;
    }
    if (key.len > 0) {
        memcpy(r->key, key.ptr, key.len);
    }
    r->key[key.len] = 0;
    r->key_len = key.len;
    for (size_t k = 0; k < pr->order_len; k++) {
        r->prefix[k] = pr->order[k];
    }
    r->prefix_len = pr->order_len;
    for (size_t k = 0; k < pr->unplaced_len; k++) {
        r->unplaced[k] = pr->unplaced[k];
    }
    r->unplaced_len = pr->unplaced_len;
    r->state_absent = pr->state_absent;
    r->state = pr->state;
    r->state_len = pr->state_len;
    pr->state = NULL;
    r->states = pr->states;
    r->states_from = pr->states_from;
    r->states_bytes = pr->states_bytes;
    pr->states = NULL;
    pr->states_bytes = NULL;
    return 0;
}

int checker_check(struct checker_history *h,
                  const struct checker_options *opts,
                  struct checker_result **out)
{
    uint64_t start_ns = common_now_ns();
    struct checker_options defaults;
    if (opts == NULL) {
        checker_options_init(&defaults);
        opts = &defaults;
    }
    *out = NULL;
    h->err[0] = 0;
    enum checker_model model = opts->model;
    if (!opts->model_set && h->format == CHECKER_FORMAT_JEPSEN_LOG) {
        model = CHECKER_MODEL_REGISTER;
    }
    if (model == CHECKER_MODEL_REGISTER) {
        int rv = check_register(h);
        if (rv != 0) {
            return rv;
        }
    }
    struct checker_result *r = calloc(1, sizeof *r);
    struct job job;
    memset(&job, 0, sizeof job);
    size_t *start = NULL;
    uint32_t *ops = NULL;
    size_t *queue = NULL;
    unsigned threads = opts->threads ? opts->threads : online_cores();
    int rv = COMMON_ENOMEM;
    if (r == NULL || partition(h, &job, &start, &ops, &queue) != 0) {
        goto out_free;
    }
    job.h = h;
    job.absent_reads_empty = opts->absent_reads_empty;
    job.part_start = start;
    job.part_ops = ops;
    job.queue_len = job.parts;
    job.results = calloc(job.parts + 1, sizeof *job.results);
    job.ctx = calloc(job.parts + 1, sizeof *job.ctx);
    if (job.results == NULL || job.ctx == NULL) {
        goto out_free;
    }
    atomic_init(&job.next, 0);
    atomic_init(&job.min_failed, SIZE_MAX);
    if (opts->timeout_s > 0) {
        double ns = opts->timeout_s * 1e9;
        job.deadline_ns =
            start_ns + (ns > 1e18 ? (uint64_t)1e18 : (uint64_t)ns);
    }
    job.max_steps = opts->max_steps;
    /* Keys that pause keep their memory while others run, so the split is
     * approximate: each running key gets its worker's share. Fewer keys
     * than threads run on as many workers as there are keys. */
    size_t memory = opts->memory_bytes ? opts->memory_bytes : default_memory();
    size_t workers = threads > 0 ? threads : 1;
    if (job.parts > 0 && job.parts < workers) {
        workers = job.parts;
    }
    job.memory_bytes = memory / workers;
    job.memo_may_forget = job.parts <= workers;
    atomic_init(&job.memory_all, 0);
    job.memory_all_bytes = memory;
    run_rounds(&job, queue, threads);
    r->ops = h->ops_len;
    r->partitions = job.parts;
    rv = assemble(h, &job, r);
    r->elapsed_s = (double)(common_now_ns() - start_ns) / 1e9;

out_free:
    for (size_t p = 0; p < job.parts; p++) {
        if (job.ctx != NULL) {
            ctx_free(job.ctx[p]);
        }
        if (job.results != NULL) {
            free(job.results[p].order);
            free(job.results[p].unplaced);
            free(job.results[p].state);
            free(job.results[p].states);
            free(job.results[p].states_bytes);
        }
    }
    free(job.results);
    free(job.ctx);
    free(start);
    free(ops);
    free(queue);
    if (rv != 0) {
        checker_result_free(r);
        return rv;
    }
    *out = r;
    return 0;
}

void checker_result_free(struct checker_result *r)
{
    if (r == NULL) {
        return;
    }
    free(r->key);
    free(r->prefix);
    free(r->state);
    free(r->unplaced);
    free(r->position);
    free(r->states);
    free(r->states_bytes);
    free(r);
}
