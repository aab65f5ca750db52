/*
 * Jepsen's etcd test logs, as porcupine's test data has them:
 *
 *     INFO  jepsen.util - 3	:invoke	:cas	[1 4]
 *
 * After "jepsen.util -" come the process, the type, the f and the value,
 * separated by a tab or by runs of spaces. The register has no key; values
 * are integers (made decimal strings) or nil. `:fail :cas [A B]` is a cas
 * that ran and found the register not holding A (a mismatch); `:info ...
 * :timed-out` an op whose outcome is unknown; `:fail :read :timed-out` a read
 * that returned nothing. A line that is not "jepsen.util - <integer>
 * :<type>" is log noise and is skipped; one that is, but is malformed after
 * that, is an error.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct tok
{
    const char *p;
    size_t len;
};

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The next field from @i: a run of non-blanks. */
static struct tok next_tok(const struct line *l, size_t *i)
{
    while (*i < l->len && blank(l->p[*i])) {
        (*i)++;
    }
    struct tok t = {l->p + *i, 0};
    while (*i < l->len && !blank(l->p[*i])) {
        (*i)++;
        t.len++;
    }
    return t;
}

static bool is_int(const char *p, size_t len)
{
    size_t k = (len > 0 && p[0] == '-') ? 1 : 0;
    if (k == len) {
        return false;
    }
    for (; k < len; k++) {
        if (p[k] < '0' || p[k] > '9') {
            return false;
        }
    }
    return true;
}

/* One item of a value: an integer or nil. */
static bool read_item(struct parse_scratch *s,
                      const char *p,
                      size_t len,
                      struct checker_str *out)
{
    if (len == 3 && memcmp(p, "nil", 3) == 0) {
        out->ptr = NULL;
        out->len = 0;
        return true;
    }
    if (!is_int(p, len)) {
        return false;
    }
    out->ptr = parse_int_text(s, p, len, &out->len);
    return out->ptr != NULL;
}

/* The value: nil, an integer, [A B], or a keyword (no value). */
static int read_value(const char *p,
                      size_t len,
                      struct checker_event *ev,
                      struct parse_scratch *s,
                      char *msg,
                      size_t msg_size)
{
    while (len > 0 && blank(p[len - 1])) {
        len--;
    }
    if (len > 0 && p[0] == ':') {
        ev->value_count = 0;
        return 0;
    }
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        struct line inner = {p + 1, len - 2, 0};
        size_t i = 0;
        struct tok a = next_tok(&inner, &i);
        struct tok b = next_tok(&inner, &i);
        struct tok rest = next_tok(&inner, &i);
        if (rest.len == 0 && read_item(s, a.p, a.len, &ev->value[0]) &&
            read_item(s, b.p, b.len, &ev->value[1])) {
            ev->value_count = 2;
            return 0;
        }
        return parse_failf(msg, msg_size,
                           "a value pair must be [A B] with integers or nil");
    }
    if (read_item(s, p, len, &ev->value[0])) {
        ev->value_count = 1;
        return 0;
    }
    return parse_failf(msg, msg_size,
                       "cannot read the value \"%.*s\" (an integer, nil, "
                       "[A B] or a keyword)",
                       (int)(len > 40 ? 40 : len), p);
}

int parse_jepsen_line(const struct line *l,
                      struct checker_event *ev,
                      struct parse_scratch *s,
                      char *msg,
                      size_t msg_size)
{
    static const char marker[] = "jepsen.util";
    size_t n = sizeof marker - 1;
    size_t i = 0;
    while (i + n <= l->len && memcmp(l->p + i, marker, n) != 0) {
        i++;
    }
    if (i + n > l->len) {
        return 0;
    }
    i += n;
    struct tok dash = next_tok(l, &i);
    struct tok process = next_tok(l, &i);
    struct tok type = next_tok(l, &i);
    if (dash.len != 1 || dash.p[0] != '-' || !is_int(process.p, process.len) ||
        type.len < 2 || type.p[0] != ':' ||
        !parse_type_word(type.p + 1, type.len - 1, &ev->type)) {
        return 0;
    }
    int64_t pid = 0;
    for (size_t k = process.p[0] == '-' ? 1 : 0; k < process.len; k++) {
        int64_t d = process.p[k] - '0';
        if (pid > (INT64_MAX - d) / 10) {
            return parse_failf(msg, msg_size, "the process id is too large");
        }
        pid = pid * 10 + d;
    }
    ev->process = process.p[0] == '-' ? -pid : pid;
    struct tok f = next_tok(l, &i);
    if (f.len < 2 || f.p[0] != ':' ||
        !parse_f_word(f.p + 1, f.len - 1, &ev->f)) {
        return parse_failf(msg, msg_size,
                           "unknown f \"%.*s\" (:read, :write or :cas)",
                           (int)(f.len > 40 ? 40 : f.len), f.p);
    }
    while (i < l->len && blank(l->p[i])) {
        i++;
    }
    int rv = read_value(l->p + i, l->len - i, ev, s, msg, msg_size);
    if (rv != 0) {
        return rv;
    }
    ev->mismatch = ev->type == CHECKER_FAIL && ev->f == CHECKER_CAS &&
                   ev->value_count == 2;
    return 1;
}
