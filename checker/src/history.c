/*
 * Histories: events in, operations out.
 *
 * Every parser and every in-memory caller goes through checker_history_add,
 * so the rules that make a sequence of events a history are checked in one
 * place: a completion matches the one outstanding invoke of its process (same
 * f, same key), a process never has two ops outstanding, its clock never
 * goes backwards, and the values an op needs are there. An event that breaks
 * a rule is refused with "name:line: what" and leaves the history as it was.
 *
 * Each op keeps its strings as ids of one interning table, so the checker
 * later compares values and groups keys with integer compares.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const size_t NO_OP = SIZE_MAX;

struct checker_history *checker_history_new(void)
{
    struct checker_history *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return NULL;
    }
    strtab_init(&h->strings, 1);
    return h;
}

void checker_history_free(struct checker_history *h)
{
    if (h == NULL) {
        return;
    }
    free(h->name);
    strtab_fini(&h->strings);
    free(h->ops);
    free(h->procs);
    free(h);
}

int checker_history_set_name(struct checker_history *h, const char *name)
{
    size_t len = strlen(name);
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return COMMON_ENOMEM;
    }
    memcpy(copy, name, len + 1);
    free(h->name);
    h->name = copy;
    return 0;
}

const char *history_name(const struct checker_history *h)
{
    if (h->name == NULL) {
        return "<memory>";
    }
    if (strcmp(h->name, "-") == 0) {
        return "<stdin>";
    }
    return h->name;
}

void history_errorf(struct checker_history *h,
                    uint64_t line,
                    const char *fmt,
                    ...)
{
    int n = snprintf(h->err, sizeof h->err, "%s:%" PRIu64 ": ", history_name(h),
                     line);
    if (n < 0 || (size_t)n >= sizeof h->err) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->err + n, sizeof h->err - (size_t)n, fmt, ap);
    va_end(ap);
}

const char *checker_history_error(const struct checker_history *h)
{
    return h->err;
}

enum checker_format checker_history_format(const struct checker_history *h)
{
    return h->format;
}

size_t checker_history_len(const struct checker_history *h)
{
    return h->ops_len;
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */
/* ------------------------------------------------------------------------ */

static size_t proc_index(const struct proc_slot *slots,
                         size_t cap,
                         int64_t process)
{
    size_t mask = cap - 1;
    size_t i = (size_t)common_mix64((uint64_t)process) & mask;
    while (slots[i].used && slots[i].process != process) {
        i = (i + 1) & mask;
    }
    return i;
}

/* The slot of @process, created if new; NULL when out of memory. */
static struct proc_slot *proc_get(struct checker_history *h, int64_t process)
{
    if ((h->procs_len + 1) * 2 > h->procs_cap) {
        size_t cap = h->procs_cap ? h->procs_cap * 2 : 64;
        struct proc_slot *slots = calloc(cap, sizeof *slots);
        if (slots == NULL) {
            return NULL;
        }
        for (size_t k = 0; k < h->procs_cap; k++) {
            if (h->procs[k].used) {
                slots[proc_index(slots, cap, h->procs[k].process)] =
                    h->procs[k];
            }
        }
        free(h->procs);
        h->procs = slots;
        h->procs_cap = cap;
    }
    struct proc_slot *s =
        &h->procs[proc_index(h->procs, h->procs_cap, process)];
    if (!s->used) {
        s->used = true;
        s->process = process;
        s->open_op = NO_OP;
        s->last_time = INT64_MIN;
        h->procs_len++;
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* Adding events                                                             */
/* ------------------------------------------------------------------------ */

const char *history_f_word(enum checker_f f)
{
    static const char *const words[] = {"get", "put", "delete", "cas",
                                        "append"};
    return words[f];
}

const char *history_type_word(enum checker_type t)
{
    static const char *const words[] = {"invoke", "ok", "fail", "info"};
    return words[t];
}

static int intern(struct checker_history *h, struct checker_str s, uint32_t *id)
{
    if (s.ptr == NULL) {
        *id = 0;
        return 0;
    }
    return strtab_intern(&h->strings, s.ptr, s.len, id);
}

/* Checks that an invoke carries the values its f needs. */
static int check_invoke_values(struct checker_history *h,
                               const struct checker_event *ev,
                               uint64_t line)
{
    switch (ev->f) {
        case CHECKER_PUT:
        case CHECKER_APPEND:
            if (ev->value_count != 1 || ev->value[0].ptr == NULL) {
                history_errorf(h, line, "%s needs a string value",
                               history_f_word(ev->f));
                return COMMON_EINVAL;
            }
            return 0;
        case CHECKER_CAS:
            if (ev->value_count != 2) {
                history_errorf(h, line, "cas needs two values [expected, new]");
                return COMMON_EINVAL;
            }
            if (ev->value[1].ptr == NULL) {
                history_errorf(h, line, "cas needs a string as its new value");
                return COMMON_EINVAL;
            }
            return 0;
        case CHECKER_GET:
        case CHECKER_DELETE:
            return 0;
    }
    return 0;
}

static int add_invoke(struct checker_history *h,
                      const struct checker_event *ev,
                      struct proc_slot *slot,
                      int64_t t,
                      uint64_t line)
{
    if (slot->open_op != NO_OP) {
        history_errorf(h, line,
                       "process %" PRId64
                       " invokes again while its op from line %" PRIu64
                       " is outstanding",
                       ev->process, h->ops[slot->open_op].call_line);
        return COMMON_EINVAL;
    }
    int rv = check_invoke_values(h, ev, line);
    if (rv != 0) {
        return rv;
    }
    struct hop o;
    memset(&o, 0, sizeof o);
    o.process = ev->process;
    o.call_time = t;
    o.call_line = line;
    o.f = (uint8_t)ev->f;
    o.outcome = CHECKER_INVOKE;
    if ((ev->has_key && intern(h, ev->key, &o.key) != 0) ||
        common_grow(&h->ops, &h->ops_cap, h->ops_len + 1, sizeof *h->ops,
                    ARRAY_MIN_CAP) != 0) {
        return COMMON_ENOMEM;
    }
    if (ev->has_key && o.key == 0) {
        history_errorf(h, line, "the key must be a string");
        return COMMON_EINVAL;
    }
    if (ev->f == CHECKER_PUT || ev->f == CHECKER_APPEND) {
        o.value_count = 1;
        rv = intern(h, ev->value[0], &o.v[0]);
    } else if (ev->f == CHECKER_CAS) {
        o.value_count = 2;
        rv = intern(h, ev->value[0], &o.v[0]);
        if (rv == 0) {
            rv = intern(h, ev->value[1], &o.v[1]);
        }
    }
    if (rv != 0) {
        return rv;
    }
    h->ops[h->ops_len] = o;
    slot->open_op = h->ops_len;
    h->ops_len++;
    return 0;
}

static int add_completion(struct checker_history *h,
                          const struct checker_event *ev,
                          struct proc_slot *slot,
                          int64_t t,
                          uint64_t line)
{
    if (slot->open_op == NO_OP) {
        history_errorf(h, line,
                       "process %" PRId64 " completes an op it has not invoked",
                       ev->process);
        return COMMON_EINVAL;
    }
    struct hop *o = &h->ops[slot->open_op];
    if ((enum checker_f)o->f != ev->f) {
        history_errorf(h, line,
                       "the completion's f is %s but process %" PRId64
                       " invoked %s at line %" PRIu64,
                       history_f_word(ev->f), ev->process, history_f_word(o->f),
                       o->call_line);
        return COMMON_EINVAL;
    }
    if (ev->has_key) {
        uint64_t hash = strtab_hash(ev->key.ptr, ev->key.len);
        uint32_t id =
            ev->key.ptr == NULL
                ? 0
                : strtab_find(&h->strings, ev->key.ptr, ev->key.len, hash);
        if (id == 0 || id != o->key) {
            history_errorf(h, line,
                           "the completion's key differs from the invoke's "
                           "at line %" PRIu64,
                           o->call_line);
            return COMMON_EINVAL;
        }
    }
    uint32_t read = 0;
    if (o->f == CHECKER_GET && ev->type == CHECKER_OK) {
        if (ev->value_count != 1) {
            history_errorf(h, line,
                           "an ok get needs the value read (a string or "
                           "null)");
            return COMMON_EINVAL;
        }
        if (intern(h, ev->value[0], &read) != 0) {
            return COMMON_ENOMEM;
        }
        o->v[0] = read;
        o->value_count = 1;
    }
    o->outcome = (uint8_t)ev->type;
    o->mismatch =
        ev->type == CHECKER_FAIL && ev->mismatch && o->f == CHECKER_CAS;
    o->ret_time = t;
    o->ret_line = line;
    slot->open_op = NO_OP;
    return 0;
}

int checker_history_add(struct checker_history *h,
                        const struct checker_event *ev)
{
    uint64_t line = ev->line != 0 ? ev->line : h->events + 1;
    h->err[0] = 0;
    if ((unsigned)ev->type > CHECKER_INFO || (unsigned)ev->f > CHECKER_APPEND) {
        history_errorf(h, line, "unknown type or f");
        return COMMON_EINVAL;
    }
    if (ev->value_count < 0 || ev->value_count > 2) {
        history_errorf(h, line, "value_count must be 0, 1 or 2");
        return COMMON_EINVAL;
    }
    enum time_mode mode = ev->has_time ? TIME_GIVEN : TIME_LINE_ORDER;
    if (h->time_mode != TIME_UNSET && h->time_mode != mode) {
        history_errorf(h, line,
                       ev->has_time ? "this event has a time but earlier "
                                      "ones do not"
                                    : "this event has no time but earlier "
                                      "ones do");
        return COMMON_EINVAL;
    }
    if (h->events == UINT64_MAX - 1 || h->events >= (uint64_t)INT64_MAX) {
        history_errorf(h, line, "too many events");
        return COMMON_EINVAL;
    }
    int64_t t = ev->has_time ? ev->time : (int64_t)(h->events + 1);
    struct proc_slot *slot = proc_get(h, ev->process);
    if (slot == NULL) {
        return COMMON_ENOMEM;
    }
    if (t < slot->last_time) {
        history_errorf(h, line,
                       "time goes backwards for process %" PRId64 ": %" PRId64
                       " after %" PRId64,
                       ev->process, t, slot->last_time);
        return COMMON_EINVAL;
    }
    int rv = ev->type == CHECKER_INVOKE ? add_invoke(h, ev, slot, t, line)
                                        : add_completion(h, ev, slot, t, line);
    if (rv != 0) {
        if (rv == COMMON_ENOMEM && h->err[0] == 0) {
            history_errorf(h, line, "out of memory");
        }
        return rv;
    }
    slot->last_time = t;
    h->time_mode = mode;
    h->events++;
    return 0;
}

int checker_history_op(const struct checker_history *h,
                       size_t i,
                       struct checker_op *out)
{
    if (i >= h->ops_len) {
        return COMMON_ERANGE;
    }
    const struct hop *o = &h->ops[i];
    memset(out, 0, sizeof *out);
    out->process = o->process;
    out->f = (enum checker_f)o->f;
    out->completed = o->outcome != CHECKER_INVOKE;
    out->outcome =
        out->completed ? (enum checker_type)o->outcome : CHECKER_INFO;
    out->mismatch = o->mismatch;
    out->has_key = o->key != 0;
    out->key = strtab_get(&h->strings, o->key);
    out->value_count = o->value_count;
    out->value[0] = strtab_get(&h->strings, o->v[0]);
    out->value[1] = strtab_get(&h->strings, o->v[1]);
    out->call_time = o->call_time;
    out->return_time = o->ret_time;
    out->call_line = o->call_line;
    out->return_line = o->ret_line;
    return 0;
}
