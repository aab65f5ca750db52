/*
 * Our JSON Lines history format (DESIGN.md, "History format"): one JSON
 * object per line with process, type, f, key, value, error and time.
 *
 * jansson parses the line; this file maps fields to an event and says
 * precisely what is wrong with a field. Values must be JSON strings (or null,
 * or a pair for a cas); fields we do not know are ignored, so recorders may
 * add their own.
 *
 * A benchmark showed jansson to be the bottleneck on large histories (a
 * 100,000-op history spent 97% of its time parsing), so the common shape of
 * a line, a flat object of our seven fields with plain ASCII strings and
 * integers, first goes through a small strict scanner. It accepts only what
 * jansson would accept and read the same way, and hands anything else
 * (escapes, non-ASCII bytes, other fields, floats, nesting, errors of any
 * kind) to jansson, so messages and corner cases stay jansson's
 * (parse_jsonl_fast.c; checker_fuzz compares the two on mutated lines).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"

/* Copies a JSON string's bytes into the scratch space. */
static bool take_string(json_t *j,
                        struct parse_scratch *s,
                        struct checker_str *out)
{
    out->len = json_string_length(j);
    out->ptr = scratch_put(s, json_string_value(j), out->len);
    return out->ptr != NULL;
}

/* A value: a string or null. */
static bool take_value(json_t *j,
                       struct parse_scratch *s,
                       struct checker_str *out)
{
    if (json_is_null(j)) {
        out->ptr = NULL;
        out->len = 0;
        return true;
    }
    return json_is_string(j) && take_string(j, s, out);
}

static int take_values(json_t *v,
                       struct checker_event *ev,
                       struct parse_scratch *s,
                       char *msg,
                       size_t size)
{
    if (json_is_array(v)) {
        if (json_array_size(v) != 2) {
            snprintf(msg, size,
                     "a value array must be a pair [expected, new], not %zu "
                     "values",
                     json_array_size(v));
            return COMMON_EPARSE;
        }
        if (!take_value(json_array_get(v, 0), s, &ev->value[0]) ||
            !take_value(json_array_get(v, 1), s, &ev->value[1])) {
            return parse_failf(msg, size, "%s",
                               "the values of a pair must be "
                               "strings or null");
        }
        ev->value_count = 2;
        return 0;
    }
    if (!take_value(v, s, &ev->value[0])) {
        return parse_failf(
            msg, size, "%s",
            "\"value\" must be a string, null or a pair (values are "
            "JSON strings)");
    }
    ev->value_count = 1;
    return 0;
}

static int take_fields(json_t *o,
                       struct checker_event *ev,
                       struct parse_scratch *s,
                       char *msg,
                       size_t size)
{
    json_t *process = json_object_get(o, "process");
    if (!json_is_integer(process)) {
        return parse_failf(msg, size, "%s",
                           process == NULL ? "missing \"process\""
                                           : "\"process\" must be an integer");
    }
    ev->process = (int64_t)json_integer_value(process);

    json_t *type = json_object_get(o, "type");
    if (!json_is_string(type)) {
        return parse_failf(
            msg, size, "%s",
            type == NULL ? "missing \"type\"" : "\"type\" must be a string");
    }
    if (!parse_type_word(json_string_value(type), json_string_length(type),
                         &ev->type)) {
        return parse_failf(msg, size,
                           "unknown type \"%.40s\" (invoke, ok, fail or info)",
                           json_string_value(type));
    }

    json_t *f = json_object_get(o, "f");
    if (!json_is_string(f)) {
        return parse_failf(
            msg, size, "%s",
            f == NULL ? "missing \"f\"" : "\"f\" must be a string");
    }
    if (!parse_f_word(json_string_value(f), json_string_length(f), &ev->f)) {
        return parse_failf(
            msg, size,
            "unknown f \"%.40s\" (get, put, delete, cas, append, "
            "read, write)",
            json_string_value(f));
    }

    json_t *key = json_object_get(o, "key");
    if (key != NULL && !json_is_null(key)) {
        if (!json_is_string(key)) {
            return parse_failf(msg, size, "%s", "\"key\" must be a string");
        }
        if (!take_string(key, s, &ev->key)) {
            return parse_failf(msg, size, "%s", "out of memory");
        }
        ev->has_key = true;
    }

    json_t *value = json_object_get(o, "value");
    if (value != NULL) {
        int rv = take_values(value, ev, s, msg, size);
        if (rv != 0) {
            return rv;
        }
    }

    json_t *error = json_object_get(o, "error");
    ev->mismatch = json_is_string(error) &&
                   strcmp(json_string_value(error), "mismatch") == 0;

    json_t *time = json_object_get(o, "time");
    if (time != NULL && !json_is_null(time)) {
        if (!json_is_integer(time)) {
            return parse_failf(msg, size, "%s",
                               "\"time\" must be an integer (nanoseconds)");
        }
        ev->has_time = true;
        ev->time = (int64_t)json_integer_value(time);
    }
    return 1;
}

int parse_jsonl_line(const struct line *l,
                     struct checker_event *ev,
                     struct parse_scratch *s,
                     char *msg,
                     size_t msg_size)
{
    if (parse_jsonl_fast(l, ev) == 1) {
        return 1;
    }
    memset(ev, 0, sizeof *ev);
    return parse_jsonl_jansson(l, ev, s, msg, msg_size);
}

int parse_jsonl_jansson(const struct line *l,
                        struct checker_event *ev,
                        struct parse_scratch *s,
                        char *msg,
                        size_t msg_size)
{
    json_error_t err;
    json_t *o = json_loadb(l->p, l->len, JSON_REJECT_DUPLICATES, &err);
    if (o == NULL) {
        snprintf(msg, msg_size, "not JSON: %s (column %d)", err.text,
                 err.column);
        return COMMON_EPARSE;
    }
    int rv;
    if (!json_is_object(o)) {
        rv = parse_failf(msg, msg_size, "%s", "a line must be a JSON object");
    } else {
        rv = take_fields(o, ev, s, msg, msg_size);
    }
    json_decref(o);
    return rv;
}
