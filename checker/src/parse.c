/*
 * Reading histories: the file, its lines, the format, and the words every
 * format shares.
 *
 * The input is read whole and cut into lines ("\n", an optional "\r" before
 * it); blank lines are skipped in every format. The format is detected from
 * the first non-blank line: `{"` is our JSON Lines, `{:` a Jepsen EDN map,
 * and a line holding "jepsen.util" (within the first lines, which may be log
 * noise) a Jepsen log. Each line goes to its format's parser, which fills a
 * struct checker_event, and then to checker_history_add, which judges it
 * against the events before it. The first bad line stops the parse with
 * "name:line: what".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Lines looked at for "jepsen.util" before auto-detection gives up. */
static const size_t DETECT_LINES = 1000;

const char *checker_format_name(enum checker_format format)
{
    switch (format) {
        case CHECKER_FORMAT_AUTO:
            return "auto";
        case CHECKER_FORMAT_JSONL:
            return "jsonl";
        case CHECKER_FORMAT_EDN:
            return "edn";
        case CHECKER_FORMAT_JEPSEN_LOG:
            return "jepsen-log";
    }
    return "?";
}

int checker_format_parse(const char *name, enum checker_format *out)
{
    for (int f = CHECKER_FORMAT_AUTO; f <= CHECKER_FORMAT_JEPSEN_LOG; f++) {
        if (strcmp(name, checker_format_name((enum checker_format)f)) == 0) {
            *out = (enum checker_format)f;
            return 0;
        }
    }
    return COMMON_EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Shared words                                                              */
/* ------------------------------------------------------------------------ */

static bool word_is(const char *p, size_t len, const char *w)
{
    return strlen(w) == len && memcmp(p, w, len) == 0;
}

bool parse_f_word(const char *p, size_t len, enum checker_f *out)
{
    static const struct
    {
        const char *word;
        enum checker_f f;
    } words[] = {
        {"get", CHECKER_GET},       {"read", CHECKER_GET},
        {"put", CHECKER_PUT},       {"write", CHECKER_PUT},
        {"delete", CHECKER_DELETE}, {"cas", CHECKER_CAS},
        {"append", CHECKER_APPEND},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (word_is(p, len, words[i].word)) {
            *out = words[i].f;
            return true;
        }
    }
    return false;
}

int parse_failf(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return COMMON_EPARSE;
}

bool parse_type_word(const char *p, size_t len, enum checker_type *out)
{
    for (int i = CHECKER_INVOKE; i <= CHECKER_INFO; i++) {
        if (word_is(p, len, history_type_word((enum checker_type)i))) {
            *out = (enum checker_type)i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Scratch space                                                             */
/* ------------------------------------------------------------------------ */

/* Makes room for @need bytes; strings put afterwards never move, because a
 * line's strings never take more bytes than the line itself. */
static int scratch_prepare(struct parse_scratch *s, size_t need)
{
    s->len = 0;
    if (need <= s->cap) {
        return 0;
    }
    char *buf = realloc(s->buf, need);
    if (buf == NULL) {
        return COMMON_ENOMEM;
    }
    s->buf = buf;
    s->cap = need;
    return 0;
}

const char *scratch_put(struct parse_scratch *s, const char *p, size_t len)
{
    if (len > s->cap - s->len) {
        return NULL;
    }
    char *at = s->buf + s->len;
    if (len > 0) {
        memcpy(at, p, len);
    }
    s->len += len;
    return at;
}

const char *parse_int_text(struct parse_scratch *s,
                           const char *p,
                           size_t len,
                           size_t *out_len)
{
    bool neg = false;
    if (len > 0 && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        p++;
        len--;
    }
    while (len > 1 && p[0] == '0') {
        p++;
        len--;
    }
    if (len == 1 && p[0] == '0') {
        neg = false;
    }
    const char *at = scratch_put(s, "-", neg ? 1 : 0);
    if (at == NULL || scratch_put(s, p, len) == NULL) {
        return NULL;
    }
    *out_len = len + (neg ? 1 : 0);
    return at;
}

/* ------------------------------------------------------------------------ */
/* Lines and formats                                                         */
/* ------------------------------------------------------------------------ */

struct cursor
{
    const char *data;
    size_t len;
    size_t pos;
    uint64_t no;
};

/* The next line; false at the end. */
static bool next_line(struct cursor *c, struct line *l)
{
    if (c->pos >= c->len) {
        return false;
    }
    const char *start = c->data + c->pos;
    const char *nl = memchr(start, '\n', c->len - c->pos);
    size_t n = nl != NULL ? (size_t)(nl - start) : c->len - c->pos;
    c->pos += n + (nl != NULL ? 1 : 0);
    c->no++;
    if (n > 0 && start[n - 1] == '\r') {
        n--;
    }
    l->p = start;
    l->len = n;
    l->no = c->no;
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static size_t skip_space(const struct line *l, size_t i)
{
    while (i < l->len && is_space(l->p[i])) {
        i++;
    }
    return i;
}

static bool mentions_jepsen(const struct line *l)
{
    static const char needle[] = "jepsen.util";
    size_t n = sizeof needle - 1;
    for (size_t i = 0; i + n <= l->len; i++) {
        if (l->p[i] == 'j' && memcmp(l->p + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Detects the format; AUTO with no error for an input of blank lines. */
static int detect(struct checker_history *h,
                  const char *data,
                  size_t len,
                  enum checker_format *out)
{
    struct cursor c = {data, len, 0, 0};
    struct line l;
    struct line first = {NULL, 0, 0};
    size_t seen = 0;
    *out = CHECKER_FORMAT_AUTO;
    while (seen < DETECT_LINES && next_line(&c, &l)) {
        size_t i = skip_space(&l, 0);
        if (i == l.len) {
            continue;
        }
        if (first.p == NULL) {
            first = l;
            if (l.p[i] == '{') {
                size_t j = skip_space(&l, i + 1);
                if (j < l.len && (l.p[j] == '"' || l.p[j] == '}')) {
                    *out = CHECKER_FORMAT_JSONL;
                    return 0;
                }
                if (j < l.len && l.p[j] == ':') {
                    *out = CHECKER_FORMAT_EDN;
                    return 0;
                }
            }
        }
        if (mentions_jepsen(&l)) {
            *out = CHECKER_FORMAT_JEPSEN_LOG;
            return 0;
        }
        seen++;
    }
    if (first.p == NULL) {
        return 0;
    }
    history_errorf(h, first.no,
                   "cannot tell the format of this line (JSON Lines, "
                   "Jepsen EDN or a Jepsen log); use --format");
    return COMMON_EPARSE;
}

int checker_history_parse(struct checker_history *h,
                          const char *name,
                          const char *data,
                          size_t len,
                          enum checker_format format)
{
    int rv = checker_history_set_name(h, name);
    if (rv != 0) {
        return rv;
    }
    h->err[0] = 0;
    if (format == CHECKER_FORMAT_AUTO) {
        rv = detect(h, data, len, &format);
        if (rv != 0 || format == CHECKER_FORMAT_AUTO) {
            return rv;
        }
    }
    int (*parse_line)(const struct line *, struct checker_event *,
                      struct parse_scratch *, char *, size_t);
    switch (format) {
        case CHECKER_FORMAT_JSONL:
            parse_line = parse_jsonl_line;
            break;
        case CHECKER_FORMAT_EDN:
            parse_line = parse_edn_line;
            break;
        case CHECKER_FORMAT_JEPSEN_LOG:
            parse_line = parse_jepsen_line;
            break;
        default:
            history_errorf(h, 0, "unknown format");
            return COMMON_EINVAL;
    }
    h->format = format;
    struct parse_scratch scratch = {NULL, 0, 0};
    struct cursor c = {data, len, 0, 0};
    struct line l;
    char msg[512];
    while (next_line(&c, &l)) {
        if (skip_space(&l, 0) == l.len) {
            continue;
        }
        /* Room for every string of the line, plus a margin for short
         * literals such as "0". */
        rv = scratch_prepare(&scratch, l.len + 64);
        if (rv != 0) {
            history_errorf(h, l.no, "out of memory");
            break;
        }
        struct checker_event ev;
        memset(&ev, 0, sizeof ev);
        msg[0] = 0;
        rv = parse_line(&l, &ev, &scratch, msg, sizeof msg);
        if (rv < 0) {
            history_errorf(h, l.no, "%s", msg);
            break;
        }
        if (rv == 0) {
            continue;
        }
        ev.line = l.no;
        rv = checker_history_add(h, &ev);
        if (rv != 0) {
            break;
        }
    }
    free(scratch.buf);
    return rv < 0 ? rv : 0;
}

/* Reads all of @f into a malloc'd buffer. */
static int slurp(FILE *f, char **out, size_t *out_len)
{
    size_t cap = 1 << 16;
    size_t len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return COMMON_ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            if (cap > SIZE_MAX / 2) {
                free(buf);
                return COMMON_ENOMEM;
            }
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                return COMMON_ENOMEM;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        free(buf);
        return COMMON_EIO;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int checker_history_read_file(struct checker_history *h,
                              const char *path,
                              enum checker_format format)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        int rv = checker_history_set_name(h, path);
        if (rv != 0) {
            return rv;
        }
        snprintf(h->err, sizeof h->err, "%s: %s", path, strerror(e));
        return COMMON_EIO;
    }
    char *data = NULL;
    size_t len = 0;
    int rv = slurp(f, &data, &len);
    int e = errno;
    if (!is_stdin) {
        fclose(f);
    }
    if (rv != 0) {
        snprintf(h->err, sizeof h->err, "%s: %s", is_stdin ? "<stdin>" : path,
                 rv == COMMON_EIO ? strerror(e) : "out of memory");
        return rv;
    }
    rv = checker_history_parse(h, path, data, len, format);
    free(data);
    return rv;
}
