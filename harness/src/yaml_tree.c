/*
 * yaml_tree: libyaml's event parser feeding a small tree whose nodes keep
 * their positions, and strict typed readers over it (see yaml_tree.h).
 *
 * Why events and not libyaml's document loader: the loader resolves aliases
 * into shared nodes (cyclic ones even, "&a [*a]"), forgets tags and whether
 * a scalar was quoted, and puts no bound on nesting. Building the tree here
 * lets us refuse anchors, aliases and tags where they are written, bound
 * the nesting (so freeing the tree may recurse), and read numbers and
 * booleans from plain scalars only: a quoted "5" is a string, as YAML says.
 *
 * Positions: libyaml's marks are 0-based and count characters; messages
 * are 1-based. Reader errors (bad UTF-8, control characters) carry a byte
 * offset instead of a mark, which is turned into a line and column here.
 */
#include "yaml_tree.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/common.h"

/* How much of a scalar a message quotes. */
#define EXCERPT_MAX 40

static unsigned to_unsigned(size_t x)
{
    return x > UINT_MAX ? UINT_MAX : (unsigned)x;
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

__attribute__((format(printf, 5, 0))) static void vmessage(
    const struct harness_yreader *r,
    unsigned line,
    unsigned column,
    bool with_position,
    const char *fmt,
    va_list ap)
{
    if (r->err == NULL || r->err_size == 0) {
        return;
    }
    int k = with_position ? snprintf(r->err, r->err_size, "%s:%u:%u: ", r->path,
                                     line, column)
                          : snprintf(r->err, r->err_size, "%s: ", r->path);
    if (k < 0) {
        r->err[0] = '\0';
        return;
    }
    if ((size_t)k >= r->err_size) {
        return;
    }
    vsnprintf(r->err + k, r->err_size - (size_t)k, fmt, ap);
}

__attribute__((format(printf, 4, 5))) static int error_at(
    const struct harness_yreader *r,
    unsigned line,
    unsigned column,
    const char *fmt,
    ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(r, line, column, true, fmt, ap);
    va_end(ap);
    return COMMON_EINVAL;
}

int harness_yaml_error(const struct harness_yreader *r,
                       const struct harness_ynode *node,
                       const char *fmt,
                       ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(r, node != NULL ? node->line : 1, node != NULL ? node->column : 1,
             true, fmt, ap);
    va_end(ap);
    return COMMON_EINVAL;
}

int harness_yaml_out_of_memory(const struct harness_yreader *r)
{
    if (r->err != NULL && r->err_size > 0) {
        snprintf(r->err, r->err_size, "%s: out of memory", r->path);
    }
    return COMMON_ENOMEM;
}

/* Up to EXCERPT_MAX bytes of a scalar, whole UTF-8 characters only, with
 * control characters, quotes and backslashes escaped; "..." when cut. */
static void excerpt(const struct harness_ynode *node, char *buf, size_t size)
{
    size_t o = 0;
    size_t i = 0;
    if (size == 0) {
        return;
    }
    while (i < node->len && i < EXCERPT_MAX) {
        unsigned char c = (unsigned char)node->text[i];
        char tmp[8];
        size_t n;
        size_t step = 1;
        if (c == '\n') {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\n");
        } else if (c == '\t') {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", c);
        } else if (c == '\'' || c == '\\') {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\%c", c);
        } else {
            step = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (step > node->len - i) {
                step = node->len - i;
            }
            memcpy(tmp, node->text + i, step);
            n = step;
        }
        /* Keep room for "..." and the NUL. */
        if (o + n + 4 > size) {
            break;
        }
        memcpy(buf + o, tmp, n);
        o += n;
        i += step;
    }
    if (i < node->len && o + 4 <= size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

void harness_yaml_describe(const struct harness_ynode *node,
                           char *buf,
                           size_t size)
{
    char text[4 * EXCERPT_MAX + 8];
    if (size == 0) {
        return;
    }
    if (node == NULL) {
        snprintf(buf, size, "nothing");
        return;
    }
    switch (node->kind) {
        case HARNESS_YSEQUENCE:
            snprintf(buf, size, "a sequence");
            return;
        case HARNESS_YMAPPING:
            snprintf(buf, size, "a mapping");
            return;
        case HARNESS_YSCALAR:
            break;
    }
    if (node->plain && node->len == 0) {
        snprintf(buf, size, "nothing");
        return;
    }
    excerpt(node, text, sizeof text);
    snprintf(buf, size, "%s'%s'", node->plain ? "" : "the string ", text);
}

bool harness_yaml_is(const struct harness_ynode *node, const char *s)
{
    size_t n = strlen(s);
    return node != NULL && node->kind == HARNESS_YSCALAR && node->len == n &&
           memcmp(node->text, s, n) == 0;
}

/* ------------------------------------------------------------------------ */
/* The tree                                                                  */
/* ------------------------------------------------------------------------ */

void harness_yaml_free(struct harness_ynode *node)
{
    if (node == NULL) {
        return;
    }
    /* Depth is bounded by HARNESS_YAML_DEPTH_MAX, so recursion is too. */
    for (size_t i = 0; i < node->n_items; i++) {
        harness_yaml_free(node->items[i]);
    }
    free(node->items);
    free(node->text);
    free(node);
}

struct builder
{
    const struct harness_yreader *r;
    struct harness_ynode *root;
    struct harness_ynode *open[HARNESS_YAML_DEPTH_MAX];
    size_t depth;
    unsigned documents;
    bool done;
};

static struct harness_ynode *node_new(enum harness_ynode_kind kind,
                                      yaml_mark_t mark)
{
    struct harness_ynode *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return NULL;
    }
    n->kind = kind;
    n->line = to_unsigned(mark.line) + (mark.line < UINT_MAX ? 1 : 0);
    n->column = to_unsigned(mark.column) + (mark.column < UINT_MAX ? 1 : 0);
    return n;
}

static int node_append(struct harness_ynode *parent, struct harness_ynode *n)
{
    if (common_grow(&parent->items, &parent->cap_items, parent->n_items + 1,
                    sizeof *parent->items, 4) != 0) {
        return COMMON_ENOMEM;
    }
    parent->items[parent->n_items++] = n;
    return 0;
}

/* Hangs @n under the innermost open collection (or makes it the root);
 * on failure frees it. */
static int builder_attach(struct builder *b, struct harness_ynode *n)
{
    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    if (node_append(b->open[b->depth - 1], n) != 0) {
        harness_yaml_free(n);
        return harness_yaml_out_of_memory(b->r);
    }
    return 0;
}

/* Refuses what this reader does not support on a node event. */
static int refuse_anchor_or_tag(const struct builder *b,
                                const yaml_mark_t *mark,
                                const yaml_char_t *anchor,
                                const yaml_char_t *tag)
{
    unsigned line = to_unsigned(mark->line) + 1;
    unsigned column = to_unsigned(mark->column) + 1;
    if (anchor != NULL) {
        return error_at(b->r, line, column,
                        "anchors (&%.40s) are not supported; write the "
                        "value out",
                        (const char *)anchor);
    }
    if (tag != NULL) {
        return error_at(b->r, line, column,
                        "tags (%.40s) are not supported; write the value "
                        "plain",
                        (const char *)tag);
    }
    return 0;
}

static int builder_scalar(struct builder *b, const yaml_event_t *e)
{
    int rc = refuse_anchor_or_tag(b, &e->start_mark, e->data.scalar.anchor,
                                  e->data.scalar.tag);
    if (rc != 0) {
        return rc;
    }
    struct harness_ynode *n = node_new(HARNESS_YSCALAR, e->start_mark);
    if (n == NULL) {
        return harness_yaml_out_of_memory(b->r);
    }
    n->len = e->data.scalar.length;
    n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->text = malloc(n->len + 1);
    if (n->text == NULL) {
        harness_yaml_free(n);
        return harness_yaml_out_of_memory(b->r);
    }
    if (n->len > 0) {
        memcpy(n->text, e->data.scalar.value, n->len);
    }
    n->text[n->len] = '\0';
    return builder_attach(b, n);
}

static int builder_open(struct builder *b,
                        const yaml_event_t *e,
                        enum harness_ynode_kind kind,
                        const yaml_char_t *anchor,
                        const yaml_char_t *tag)
{
    int rc = refuse_anchor_or_tag(b, &e->start_mark, anchor, tag);
    if (rc != 0) {
        return rc;
    }
    if (b->depth == HARNESS_YAML_DEPTH_MAX) {
        return error_at(b->r, to_unsigned(e->start_mark.line) + 1,
                        to_unsigned(e->start_mark.column) + 1,
                        "nested deeper than %d levels", HARNESS_YAML_DEPTH_MAX);
    }
    struct harness_ynode *n = node_new(kind, e->start_mark);
    if (n == NULL) {
        return harness_yaml_out_of_memory(b->r);
    }
    rc = builder_attach(b, n);
    if (rc != 0) {
        return rc;
    }
    b->open[b->depth++] = n;
    return 0;
}

static int builder_event(struct builder *b, const yaml_event_t *e)
{
    switch (e->type) {
        case YAML_DOCUMENT_START_EVENT:
            if (b->documents++ > 0) {
                return error_at(b->r, to_unsigned(e->start_mark.line) + 1,
                                to_unsigned(e->start_mark.column) + 1,
                                "a second YAML document; a file holds one");
            }
            return 0;
        case YAML_ALIAS_EVENT:
            return error_at(b->r, to_unsigned(e->start_mark.line) + 1,
                            to_unsigned(e->start_mark.column) + 1,
                            "aliases (*%.40s) are not supported; write the "
                            "value out",
                            (const char *)e->data.alias.anchor);
        case YAML_SCALAR_EVENT:
            return builder_scalar(b, e);
        case YAML_SEQUENCE_START_EVENT:
            return builder_open(b, e, HARNESS_YSEQUENCE,
                                e->data.sequence_start.anchor,
                                e->data.sequence_start.tag);
        case YAML_MAPPING_START_EVENT:
            return builder_open(b, e, HARNESS_YMAPPING,
                                e->data.mapping_start.anchor,
                                e->data.mapping_start.tag);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            /* libyaml pairs every end with a start. */
            if (b->depth > 0) {
                b->depth--;
            }
            return 0;
        case YAML_STREAM_END_EVENT:
            b->done = true;
            return 0;
        case YAML_NO_EVENT:
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            return 0;
    }
    return 0;
}

/* Line and column (1-based, in characters) of byte @offset of @text. */
static void offset_position(const char *text,
                            size_t len,
                            size_t offset,
                            unsigned *line,
                            unsigned *column)
{
    size_t l = 1;
    size_t c = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = to_unsigned(l);
    *column = to_unsigned(c);
}

static int parser_error(const struct harness_yreader *r,
                        const yaml_parser_t *p,
                        const char *text,
                        size_t len)
{
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    unsigned line;
    unsigned column;

    if (p->error == YAML_MEMORY_ERROR) {
        return harness_yaml_out_of_memory(r);
    }
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        offset_position(text, len, p->problem_offset, &line, &column);
        if (p->problem_value != -1) {
            error_at(r, line, column, "%s (#%X)", problem,
                     (unsigned)p->problem_value);
        } else {
            error_at(r, line, column, "%s", problem);
        }
        return COMMON_EPARSE;
    }
    line = to_unsigned(p->problem_mark.line) + 1;
    column = to_unsigned(p->problem_mark.column) + 1;
    if (p->context != NULL) {
        error_at(r, line, column, "%s (%s at line %u, column %u)", problem,
                 p->context, to_unsigned(p->context_mark.line) + 1,
                 to_unsigned(p->context_mark.column) + 1);
    } else {
        error_at(r, line, column, "%s", problem);
    }
    return COMMON_EPARSE;
}

int harness_yaml_load(const struct harness_yreader *r,
                      const char *text,
                      size_t len,
                      struct harness_ynode **root)
{
    yaml_parser_t parser;
    struct builder b = {.r = r};
    int rc = 0;

    *root = NULL;
    if (text == NULL) {
        text = "";
        len = 0;
    }
    if (!yaml_parser_initialize(&parser)) {
        return harness_yaml_out_of_memory(r);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!b.done) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            rc = parser_error(r, &parser, text, len);
            goto err_tree;
        }
        rc = builder_event(&b, &event);
        yaml_event_delete(&event);
        if (rc != 0) {
            goto err_tree;
        }
    }
    yaml_parser_delete(&parser);
    *root = b.root;
    return 0;

err_tree:
    harness_yaml_free(b.root);
    yaml_parser_delete(&parser);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Typed readers                                                             */
/* ------------------------------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

enum int_syntax {
    INT_OK,
    INT_NOT,          /* not an integer at all */
    INT_LEADING_ZERO, /* 007: octal in YAML 1.1, refused */
    INT_OVERFLOW,     /* more than 64 bits of magnitude */
};

static enum int_syntax parse_int(const char *s,
                                 size_t len,
                                 bool *negative,
                                 uint64_t *magnitude)
{
    size_t i = 0;
    *negative = false;
    *magnitude = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        *negative = s[i] == '-';
        i++;
    }
    size_t first = i;
    if (i == len) {
        return INT_NOT;
    }
    for (; i < len; i++) {
        if (!is_digit(s[i])) {
            return INT_NOT;
        }
    }
    if (s[first] == '0' && len - first > 1) {
        return INT_LEADING_ZERO;
    }
    for (i = first; i < len; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (*magnitude > (UINT64_MAX - d) / 10) {
            return INT_OVERFLOW;
        }
        *magnitude = *magnitude * 10 + d;
    }
    return INT_OK;
}

/* Decimal number syntax: [+-] digits [. digits] [e [+-] digits], where one
 * side of the point may be empty, and no leading zeros before the point. */
static bool number_syntax(const char *s, size_t len)
{
    size_t i = 0;
    size_t int_digits = 0;
    size_t frac_digits = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        i++;
    }
    size_t first = i;
    for (; i < len && is_digit(s[i]); i++) {
        int_digits++;
    }
    if (int_digits > 1 && s[first] == '0') {
        return false;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit(s[i]); i++) {
            frac_digits++;
        }
    }
    if (int_digits + frac_digits == 0) {
        return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        for (; i < len && is_digit(s[i]); i++) {
            exp_digits++;
        }
        if (exp_digits == 0) {
            return false;
        }
    }
    return i == len;
}

int harness_yaml_uint(const struct harness_yreader *r,
                      const struct harness_ynode *node,
                      const char *what,
                      uint64_t min,
                      uint64_t max,
                      uint64_t *out)
{
    char got[4 * EXCERPT_MAX + 32];
    bool negative = false;
    uint64_t v = 0;
    enum int_syntax syntax = INT_NOT;

    if (node != NULL && node->kind == HARNESS_YSCALAR && node->plain) {
        syntax = parse_int(node->text, node->len, &negative, &v);
    }
    switch (syntax) {
        case INT_NOT:
            harness_yaml_describe(node, got, sizeof got);
            return harness_yaml_error(r, node,
                                      "%s: expected an integer in "
                                      "%llu..%llu, got %s",
                                      what, (unsigned long long)min,
                                      (unsigned long long)max, got);
        case INT_LEADING_ZERO:
            harness_yaml_describe(node, got, sizeof got);
            return harness_yaml_error(r, node,
                                      "%s: expected a decimal integer "
                                      "without leading zeros, got %s",
                                      what, got);
        case INT_OVERFLOW:
            break;
        case INT_OK:
            if ((!negative || v == 0) && v >= min && v <= max) {
                *out = v;
                return 0;
            }
            break;
    }
    excerpt(node, got, sizeof got);
    return harness_yaml_error(r, node, "%s: %s is out of range %llu..%llu",
                              what, got, (unsigned long long)min,
                              (unsigned long long)max);
}

int harness_yaml_number(const struct harness_yreader *r,
                        const struct harness_ynode *node,
                        const char *what,
                        double lo,
                        bool lo_open,
                        double hi,
                        bool hi_open,
                        double *out)
{
    char got[4 * EXCERPT_MAX + 32];
    char range[96];

    if (node == NULL || node->kind != HARNESS_YSCALAR || !node->plain ||
        !number_syntax(node->text, node->len)) {
        harness_yaml_describe(node, got, sizeof got);
        return harness_yaml_error(r, node, "%s: expected a number, got %s",
                                  what, got);
    }
    /* The syntax check leaves strtod nothing to choose: no hex, inf, nan. */
    double v = strtod(node->text, NULL);
    bool below = lo_open ? !(v > lo) : !(v >= lo);
    bool above = hi_open ? !(v < hi) : !(v <= hi);
    if (isfinite(v) && !below && !above) {
        *out = v;
        return 0;
    }
    if (isinf(hi)) {
        snprintf(range, sizeof range, "must be %s %g",
                 lo_open ? ">" : ">=", lo);
    } else {
        snprintf(range, sizeof range, "must be %s %g and %s %g",
                 lo_open ? ">" : ">=", lo, hi_open ? "<" : "<=", hi);
    }
    excerpt(node, got, sizeof got);
    return harness_yaml_error(r, node, "%s: %s is out of range: %s", what, got,
                              range);
}

int harness_yaml_bool(const struct harness_yreader *r,
                      const struct harness_ynode *node,
                      const char *what,
                      bool *out)
{
    char got[4 * EXCERPT_MAX + 32];
    if (node != NULL && node->plain && harness_yaml_is(node, "true")) {
        *out = true;
        return 0;
    }
    if (node != NULL && node->plain && harness_yaml_is(node, "false")) {
        *out = false;
        return 0;
    }
    harness_yaml_describe(node, got, sizeof got);
    return harness_yaml_error(r, node, "%s: expected true or false, got %s",
                              what, got);
}

int harness_yaml_string(const struct harness_yreader *r,
                        const struct harness_ynode *node,
                        const char *what,
                        size_t max_len,
                        bool single_line,
                        const char **text)
{
    char got[4 * EXCERPT_MAX + 32];
    if (node == NULL || node->kind != HARNESS_YSCALAR ||
        (node->plain && node->len == 0)) {
        harness_yaml_describe(node, got, sizeof got);
        return harness_yaml_error(r, node, "%s: expected a string, got %s",
                                  what, got);
    }
    if (node->len > max_len) {
        return harness_yaml_error(r, node, "%s: longer than %zu bytes", what,
                                  max_len);
    }
    for (size_t i = 0; i < node->len; i++) {
        unsigned char c = (unsigned char)node->text[i];
        if (c == 0) {
            return harness_yaml_error(r, node, "%s: contains a NUL character",
                                      what);
        }
        if (single_line && (c < 0x20 || c == 0x7f)) {
            return harness_yaml_error(
                r, node, "%s: contains a control character (\\x%02x)", what, c);
        }
    }
    *text = node->text;
    return 0;
}

/* "a, b or c" into @buf. */
static void list_choices(const char *const *choices,
                         size_t n,
                         const char *last_sep,
                         char *buf,
                         size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < size; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == n ? last_sep : ", ");
        int k = snprintf(buf + o, size - o, "%s%s", sep, choices[i]);
        if (k < 0) {
            break;
        }
        o += (size_t)k;
    }
}

int harness_yaml_choice(const struct harness_yreader *r,
                        const struct harness_ynode *node,
                        const char *what,
                        const char *const *choices,
                        size_t n_choices,
                        size_t *index)
{
    char got[4 * EXCERPT_MAX + 32];
    char list[256];
    for (size_t i = 0; i < n_choices; i++) {
        if (harness_yaml_is(node, choices[i])) {
            *index = i;
            return 0;
        }
    }
    harness_yaml_describe(node, got, sizeof got);
    list_choices(choices, n_choices, " or ", list, sizeof list);
    return harness_yaml_error(r, node, "%s: expected %s, got %s", what, list,
                              got);
}

int harness_yaml_missing(const struct harness_yreader *r,
                         const struct harness_ynode *map,
                         const char *what,
                         const char *key)
{
    return harness_yaml_error(r, map, "missing required field '%s%s%s'",
                              what != NULL ? what : "", what != NULL ? "." : "",
                              key);
}

int harness_yaml_fields(const struct harness_yreader *r,
                        const struct harness_ynode *map,
                        const char *what,
                        struct harness_yfield *fields,
                        size_t n_fields)
{
    char got[4 * EXCERPT_MAX + 32];
    const char *in = what != NULL ? " in " : "";
    const char *where = what != NULL ? what : "";

    for (size_t j = 0; j < n_fields; j++) {
        fields[j].key_node = NULL;
        fields[j].value = NULL;
    }
    if (map == NULL || map->kind != HARNESS_YMAPPING) {
        harness_yaml_describe(map, got, sizeof got);
        return harness_yaml_error(r, map, "%s%sexpected a mapping, got %s",
                                  where, what != NULL ? ": " : "", got);
    }
    for (size_t i = 0; i + 1 < map->n_items; i += 2) {
        const struct harness_ynode *key = map->items[i];
        size_t j = 0;
        if (key->kind != HARNESS_YSCALAR) {
            harness_yaml_describe(key, got, sizeof got);
            return harness_yaml_error(r, key,
                                      "a field name must be a string, got "
                                      "%s%s%s",
                                      got, in, where);
        }
        while (j < n_fields && !harness_yaml_is(key, fields[j].key)) {
            j++;
        }
        if (j == n_fields) {
            const char *names[32];
            char list[384];
            size_t n = n_fields < 32 ? n_fields : 32;
            for (size_t k = 0; k < n; k++) {
                names[k] = fields[k].key;
            }
            list_choices(names, n, " or ", list, sizeof list);
            harness_yaml_describe(key, got, sizeof got);
            return harness_yaml_error(r, key,
                                      "unknown field %s%s%s (expected %s)", got,
                                      in, where, list);
        }
        if (fields[j].key_node != NULL) {
            return harness_yaml_error(
                r, key,
                "duplicate field '%s'%s%s (first at line %u, column %u)",
                fields[j].key, in, where, fields[j].key_node->line,
                fields[j].key_node->column);
        }
        fields[j].key_node = key;
        fields[j].value = map->items[i + 1];
    }
    return 0;
}
