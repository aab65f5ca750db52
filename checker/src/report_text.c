/*
 * The report for people: one verdict line, and for a history that is not
 * linearizable the failing key, the end of the longest linearizable prefix
 * the search found for it, the value the key holds after that prefix, and
 * the ops that could not be placed next, each with the reason the model
 * gives. Values are quoted with their control bytes escaped, and long ones
 * (appends grow) keep their head and tail.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Prefix ops shown; the ones before are counted, not listed. */
enum {
    PREFIX_SHOWN = 20
};
/* Values longer than this show their first and last QUOTE_SIDE bytes. */
enum {
    QUOTE_MAX = 64,
    QUOTE_SIDE = 28
};

static size_t put_bytes(char *buf,
                        size_t size,
                        size_t at,
                        const char *p,
                        size_t len)
{
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)p[k];
        char esc[8];
        size_t n;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            n = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        if (at + n >= size) {
            break;
        }
        memcpy(buf + at, esc, n);
        at += n;
    }
    return at;
}

void report_quote(struct checker_str s, char *buf, size_t size)
{
    if (s.ptr == NULL) {
        snprintf(buf, size, "null");
        return;
    }
    size_t at = 0;
    buf[at++] = '"';
    if (s.len <= QUOTE_MAX) {
        at = put_bytes(buf, size, at, s.ptr, s.len);
    } else {
        at = put_bytes(buf, size, at, s.ptr, QUOTE_SIDE);
        at = put_bytes(buf, size, at, "...", 3);
        at = put_bytes(buf, size, at, s.ptr + s.len - QUOTE_SIDE, QUOTE_SIDE);
    }
    if (at + 2 < size) {
        buf[at++] = '"';
    }
    buf[at] = 0;
    if (s.len > QUOTE_MAX) {
        snprintf(buf + at, size - at, " (%zu bytes)", s.len);
    }
}

void report_describe_op(const struct checker_op *o, char *buf, size_t size)
{
    char a[160];
    char b[160];
    report_quote(o->value[0], a, sizeof a);
    report_quote(o->value[1], b, sizeof b);
    const char *tail = !o->completed                ? " (no completion)"
                       : o->outcome == CHECKER_INFO ? " (info)"
                       : o->mismatch                ? " (mismatch)"
                       : o->outcome == CHECKER_FAIL ? " (fail)"
                                                    : "";
    switch (o->f) {
        case CHECKER_GET:
            if (o->value_count == 1) {
                snprintf(buf, size, "get -> %s%s", a, tail);
            } else {
                snprintf(buf, size, "get%s", tail);
            }
            return;
        case CHECKER_CAS:
            snprintf(buf, size, "cas %s -> %s%s", a, b, tail);
            return;
        case CHECKER_DELETE:
            snprintf(buf, size, "delete%s", tail);
            return;
        case CHECKER_PUT:
        case CHECKER_APPEND:
            snprintf(buf, size, "%s %s%s", history_f_word(o->f), a, tail);
            return;
    }
}

/* "line 3-5" or "line 3-" for an op with no completion. */
static void describe_lines(const struct checker_op *o, char *buf, size_t size)
{
    if (o->completed) {
        snprintf(buf, size, "lines %" PRIu64 "-%" PRIu64, o->call_line,
                 o->return_line);
    } else {
        snprintf(buf, size, "line %" PRIu64 "-", o->call_line);
    }
}

/* On a key of appends and gets, the read the search had to reach next
 * after the prefix of @r (search.c, "Appends"): the ok get of op @o's key
 * that is not placed, other than @skip, with the earliest return (then
 * call, then index, as the search orders them). SIZE_MAX when none. */
static size_t next_read(const struct checker_history *h,
                        const struct checker_result *r,
                        const struct checker_op *o,
                        size_t skip,
                        struct checker_op *out)
{
    size_t best = SIZE_MAX;
    size_t n = checker_history_len(h);
    for (size_t k = 0; k < n && r->position != NULL; k++) {
        struct checker_op x;
        if (k == skip || r->position[k] != 0 ||
            checker_history_op(h, k, &x) != 0 || x.f != CHECKER_GET ||
            x.outcome != CHECKER_OK || !x.completed ||
            x.has_key != o->has_key || x.key.len != o->key.len ||
            (x.key.len > 0 && memcmp(x.key.ptr, o->key.ptr, x.key.len) != 0)) {
            continue;
        }
        if (best == SIZE_MAX || x.return_time < out->return_time ||
            (x.return_time == out->return_time &&
             x.call_time < out->call_time)) {
            best = k;
            *out = x;
        }
    }
    return best;
}

/* "read by process P [lines A-B]" for the next read after the prefix. */
static void describe_next_read(const struct checker_history *h,
                               const struct checker_result *r,
                               const struct checker_op *o,
                               size_t skip,
                               char *buf,
                               size_t size)
{
    struct checker_op g;
    memset(&g, 0, sizeof g);
    if (next_read(h, r, o, skip, &g) == SIZE_MAX) {
        snprintf(buf, size, "a later read");
        return;
    }
    char value[160];
    char lines[64];
    report_quote(g.value[0], value, sizeof value);
    describe_lines(&g, lines, sizeof lines);
    snprintf(buf, size, "%s, read by process %" PRId64 " [%s]", value,
             g.process, lines);
}

void report_refusal(const struct checker_history *h,
                    const struct checker_result *r,
                    size_t i,
                    char *buf,
                    size_t size)
{
    struct checker_op o;
    struct checker_str state = {r->state_absent ? NULL : r->state,
                                r->state_len};
    char holds[200];
    char want[160];
    char read[300];
    if (r->state_absent) {
        snprintf(holds, sizeof holds, "the key is absent");
    } else {
        char q[160];
        report_quote(state, q, sizeof q);
        snprintf(holds, sizeof holds, "the key holds %s", q);
    }
    checker_history_op(h, i, &o);
    report_quote(o.value[0], want, sizeof want);
    bool reads_state = o.f == CHECKER_GET && o.value[0].ptr != NULL &&
                       state.ptr != NULL && o.value[0].len == state.len &&
                       memcmp(o.value[0].ptr, state.ptr, state.len) == 0;
    if (reads_state) {
        /* Refused only on a key of appends and gets, when the next read
         * does not start with what this one read. */
        describe_next_read(h, r, &o, i, read, sizeof read);
        snprintf(buf, size,
                 "it read %s, which the key holds, but appends cannot take "
                 "the key from there to %s",
                 want, read);
    } else if (o.f == CHECKER_GET) {
        snprintf(buf, size, "it read %s but %s", want, holds);
    } else if (o.f == CHECKER_CAS && o.mismatch) {
        snprintf(buf, size, "it saw the key not hold %s, but %s, as expected",
                 want, holds);
    } else if (o.f == CHECKER_CAS) {
        snprintf(buf, size, "it expected %s but %s", want, holds);
    } else if (o.f == CHECKER_APPEND) {
        /* Refused only on a key of appends and gets, when the value it
         * makes does not start the next read's. */
        describe_next_read(h, r, &o, SIZE_MAX, read, sizeof read);
        snprintf(buf, size, "%s, and with %s appended it cannot become %s",
                 holds, want, read);
    } else {
        snprintf(buf, size, "%s", holds);
    }
}

/* One op on a line, after @lead, and then @tail. */
static void write_op(FILE *f,
                     const struct checker_history *h,
                     size_t i,
                     const char *lead,
                     const char *tail)
{
    struct checker_op o;
    char what[400];
    char lines[64];
    checker_history_op(h, i, &o);
    report_describe_op(&o, what, sizeof what);
    describe_lines(&o, lines, sizeof lines);
    fprintf(f, "%sprocess %" PRId64 " %s [%s]%s\n", lead, o.process, what,
            lines, tail);
}

const struct checker_str *report_state_after(const struct checker_result *r,
                                             size_t k)
{
    if (r->states == NULL || k < r->states_from || k >= r->prefix_len) {
        return NULL;
    }
    return &r->states[k - r->states_from];
}

int checker_result_write_text(FILE *f,
                              const struct checker_history *h,
                              const struct checker_result *r)
{
    char stats[160];
    snprintf(stats, sizeof stats,
             "%zu ops, %zu keys, %" PRIu64 " model steps, %.3f s", r->ops,
             r->partitions, r->steps, r->elapsed_s);
    if (r->verdict == CHECKER_LINEARIZABLE) {
        fprintf(f, "linearizable (%s)\n", stats);
    } else if (r->verdict == CHECKER_UNKNOWN) {
        fprintf(f, "unknown: %s, %zu of %zu keys decided (%s)\n",
                r->unknown_why, r->partitions_done, r->partitions, stats);
    } else {
        char key[160];
        struct checker_str k = {r->key, r->key_len};
        report_quote(k, key, sizeof key);
        fprintf(f,
                "not linearizable: key %s: %zu ops placed, then %zu could "
                "not be (%s)\n",
                r->has_key ? key : "(the register)", r->prefix_len,
                r->unplaced_len, stats);
        fprintf(f, "longest linearizable prefix found (%zu ops):\n",
                r->prefix_len);
        size_t from = 0;
        if (r->prefix_len > PREFIX_SHOWN) {
            from = r->prefix_len - PREFIX_SHOWN;
            fprintf(f, "  ... %zu ops before these\n", from);
        }
        for (size_t k2 = from; k2 < r->prefix_len; k2++) {
            char lead[32];
            snprintf(lead, sizeof lead, "  %5zu. ", k2 + 1);
            char tail[200] = "";
            const struct checker_str *after = report_state_after(r, k2);
            if (after != NULL) {
                char q[160];
                report_quote(*after, q, sizeof q);
                snprintf(tail, sizeof tail, "  => %s",
                         after->ptr == NULL ? "absent" : q);
            }
            write_op(f, h, r->prefix[k2], lead, tail);
        }
        char state[200];
        struct checker_str s = {r->state, r->state_len};
        report_quote(s, state, sizeof state);
        fprintf(f, "then the key %s%s; these ops could not be placed:\n",
                r->state_absent ? "is absent" : "holds ",
                r->state_absent ? "" : state);
        for (size_t k2 = 0; k2 < r->unplaced_len; k2++) {
            char why[600];
            write_op(f, h, r->unplaced[k2], "  - ", "");
            report_refusal(h, r, r->unplaced[k2], why, sizeof why);
            fprintf(f, "      %s\n", why);
        }
    }
    return ferror(f) ? COMMON_EIO : 0;
}
