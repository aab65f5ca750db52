/*
 * Jepsen histories as EDN op maps, one per line:
 *
 *     {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
 *
 * A small reader for the part of EDN (https://github.com/edn-format/edn)
 * such lines use: maps, vectors, lists, sets, strings, keywords, symbols,
 * integers, nil and booleans; commas are whitespace. Values of fields we do
 * not use (:index, :node, ...) are read and skipped, however nested (up to
 * a depth bound). Integers become canonical decimal strings, because values
 * compare as strings. Ops of a non-integer process (Jepsen's :nemesis) are
 * not client ops and are skipped.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Nesting deeper than this is refused rather than followed. */
static const int MAX_DEPTH = 64;

enum edn_kind {
    EDN_NIL,
    EDN_BOOL,
    EDN_INT,
    EDN_STRING,
    EDN_KEYWORD,
    EDN_SYMBOL,
    EDN_VECTOR,
    EDN_OTHER, /* a float, a map, a list, a set, a character, a tag */
};

/* A scalar: its text (a keyword without its colon, a string decoded). */
struct edn_atom
{
    enum edn_kind kind;
    const char *p;
    size_t len;
};

struct edn_val
{
    struct edn_atom atom;
    size_t count;            /* items of a vector */
    struct edn_atom item[2]; /* its first two items */
};

struct edn
{
    const char *p;
    size_t len;
    size_t i;
    struct parse_scratch *s;
    char *msg;
    size_t msg_size;
};

static bool is_delim(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' ||
           c == '\v' || c == '\f' || c == '{' || c == '}' || c == '[' ||
           c == ']' || c == '(' || c == ')' || c == '"' || c == ';';
}

static void skip_ws(struct edn *e)
{
    while (e->i < e->len) {
        char c = e->p[e->i];
        if (c == ';') {
            e->i = e->len; /* a comment runs to the end of the line */
        } else if (c == ' ' || c == '\t' || c == '\r' || c == ',' ||
                   c == '\v' || c == '\f' || c == '\n') {
            e->i++;
        } else {
            return;
        }
    }
}

static int edn_fail(struct edn *e, const char *what)
{
    return parse_failf(e->msg, e->msg_size, "%s (column %zu)", what, e->i + 1);
}

static size_t token_end(const struct edn *e, size_t i)
{
    while (i < e->len && !is_delim(e->p[i])) {
        i++;
    }
    return i;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Appends code point @cp as UTF-8 (surrogates are kept as they are). */
static bool put_utf8(struct parse_scratch *s, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    }
    return scratch_put(s, b, n) != NULL;
}

/* A string literal; e->i is at its opening quote. Escapes never make the
 * text longer than the literal, so the scratch space always holds it. */
static int read_string(struct edn *e, struct edn_atom *out)
{
    e->i++;
    const char *start = e->s->buf + e->s->len;
    size_t begin = e->s->len;
    while (e->i < e->len) {
        char c = e->p[e->i++];
        if (c == '"') {
            out->kind = EDN_STRING;
            out->p = start;
            out->len = e->s->len - begin;
            return 0;
        }
        if (c != '\\') {
            if (scratch_put(e->s, &c, 1) == NULL) {
                return edn_fail(e, "out of memory");
            }
            continue;
        }
        if (e->i >= e->len) {
            break;
        }
        char x = e->p[e->i++];
        const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
        const char *hit = NULL;
        for (size_t k = 0; map[k] != 0; k += 2) {
            if (map[k] == x) {
                hit = &map[k + 1];
            }
        }
        if (hit != NULL) {
            if (scratch_put(e->s, hit, 1) == NULL) {
                return edn_fail(e, "out of memory");
            }
            continue;
        }
        if (x != 'u' || e->len - e->i < 4) {
            return edn_fail(e, "bad escape in a string");
        }
        unsigned cp = 0;
        for (int k = 0; k < 4; k++) {
            int v = hex_value(e->p[e->i + (size_t)k]);
            if (v < 0) {
                return edn_fail(e, "bad \\u escape in a string");
            }
            cp = cp * 16 + (unsigned)v;
        }
        e->i += 4;
        if (!put_utf8(e->s, cp)) {
            return edn_fail(e, "out of memory");
        }
    }
    return edn_fail(e, "unterminated string");
}

static bool all_digits(const char *p, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t k = 0; k < len; k++) {
        if (p[k] < '0' || p[k] > '9') {
            return false;
        }
    }
    return true;
}

/* A token that is not a string nor a collection. */
static int read_token(struct edn *e, struct edn_atom *out)
{
    size_t start = e->i;
    size_t end = token_end(e, start);
    const char *p = e->p + start;
    size_t len = end - start;
    e->i = end;
    if (len == 0) {
        return edn_fail(e, "unexpected character");
    }
    if (p[0] == ':') {
        if (len == 1) {
            return edn_fail(e, "empty keyword");
        }
        out->kind = EDN_KEYWORD;
        out->p = p + 1;
        out->len = len - 1;
        return 0;
    }
    size_t sign = (p[0] == '-' || p[0] == '+') ? 1 : 0;
    if (sign < len && p[sign] >= '0' && p[sign] <= '9') {
        size_t digits = len;
        if (p[len - 1] == 'N') {
            digits--; /* EDN's arbitrary precision suffix */
        }
        if (!all_digits(p + sign, digits - sign)) {
            out->kind = EDN_OTHER; /* a float or a ratio */
            out->p = p;
            out->len = len;
            return 0;
        }
        out->kind = EDN_INT;
        out->p = parse_int_text(e->s, p, digits, &out->len);
        return out->p != NULL ? 0 : edn_fail(e, "out of memory");
    }
    out->p = p;
    out->len = len;
    if (len == 3 && memcmp(p, "nil", 3) == 0) {
        out->kind = EDN_NIL;
    } else if ((len == 4 && memcmp(p, "true", 4) == 0) ||
               (len == 5 && memcmp(p, "false", 5) == 0)) {
        out->kind = EDN_BOOL;
    } else if (p[0] == '\\') {
        out->kind = EDN_OTHER; /* a character literal */
    } else {
        out->kind = EDN_SYMBOL;
    }
    return 0;
}

static int read_value(struct edn *e, int depth, struct edn_val *out);

/* The items of a collection up to @close; e->i is past its opener. */
static int read_items(struct edn *e, int depth, char close, struct edn_val *out)
{
    out->count = 0;
    for (;;) {
        skip_ws(e);
        if (e->i >= e->len) {
            return edn_fail(e, "unterminated collection");
        }
        if (e->p[e->i] == close) {
            e->i++;
            return 0;
        }
        struct edn_val item;
        int rv = read_value(e, depth + 1, &item);
        if (rv != 0) {
            return rv;
        }
        if (out->count < 2) {
            out->item[out->count] = item.atom;
        }
        out->count++;
    }
}

static int read_value(struct edn *e, int depth, struct edn_val *out)
{
    if (depth > MAX_DEPTH) {
        return edn_fail(e, "nested too deeply");
    }
    memset(out, 0, sizeof *out);
    skip_ws(e);
    if (e->i >= e->len) {
        return edn_fail(e, "a value is missing");
    }
    char c = e->p[e->i];
    switch (c) {
        case '"':
            return read_string(e, &out->atom);
        case '[':
            e->i++;
            out->atom.kind = EDN_VECTOR;
            return read_items(e, depth, ']', out);
        case '(':
            e->i++;
            out->atom.kind = EDN_OTHER;
            return read_items(e, depth, ')', out);
        case '{':
            e->i++;
            out->atom.kind = EDN_OTHER;
            return read_items(e, depth, '}', out);
        case '#':
            e->i++;
            if (e->i < e->len && e->p[e->i] == '{') {
                e->i++;
                out->atom.kind = EDN_OTHER;
                return read_items(e, depth, '}', out);
            }
            if (e->i < e->len && e->p[e->i] == '_') {
                e->i++;
                struct edn_val dropped;
                int rv = read_value(e, depth + 1, &dropped);
                return rv != 0 ? rv : read_value(e, depth + 1, out);
            }
            /* A tagged element: #tag value. */
            e->i = token_end(e, e->i);
            int rv = read_value(e, depth + 1, out);
            out->atom.kind = EDN_OTHER;
            return rv;
        case ']':
        case ')':
        case '}':
            return edn_fail(e, "unbalanced bracket");
        default:
            return read_token(e, &out->atom);
    }
}

static bool atom_is_text(const struct edn_atom *a)
{
    return a->kind == EDN_STRING || a->kind == EDN_INT;
}

static bool atom_is(const struct edn_atom *a, const char *word)
{
    return strlen(word) == a->len && memcmp(a->p, word, a->len) == 0;
}

/* The canonical decimal text of an integer into an int64. */
static bool to_int64(const struct edn_atom *a, int64_t *out)
{
    bool neg = a->len > 0 && a->p[0] == '-';
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (size_t k = neg ? 1 : 0; k < a->len; k++) {
        uint64_t d = (uint64_t)(a->p[k] - '0');
        if (v > (limit - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static int set_value(struct edn *e,
                     const struct edn_val *v,
                     struct checker_event *ev)
{
    const struct edn_atom *a = &v->atom;
    if (a->kind == EDN_NIL || atom_is_text(a)) {
        ev->value_count = 1;
        ev->value[0].ptr = a->kind == EDN_NIL ? NULL : a->p;
        ev->value[0].len = a->kind == EDN_NIL ? 0 : a->len;
        return 0;
    }
    if (a->kind == EDN_KEYWORD) {
        ev->value_count = 0; /* :timed-out and the like: no value */
        return 0;
    }
    if (a->kind == EDN_VECTOR && v->count == 2) {
        for (int k = 0; k < 2; k++) {
            const struct edn_atom *x = &v->item[k];
            if (x->kind != EDN_NIL && !atom_is_text(x)) {
                return edn_fail(e,
                                "the items of a :value pair must be "
                                "strings, integers or nil");
            }
            ev->value[k].ptr = x->kind == EDN_NIL ? NULL : x->p;
            ev->value[k].len = x->kind == EDN_NIL ? 0 : x->len;
        }
        ev->value_count = 2;
        return 0;
    }
    if (a->kind == EDN_VECTOR) {
        return parse_failf(e->msg, e->msg_size,
                           "a :value vector must be a pair [expected new], "
                           "not %zu values",
                           v->count);
    }
    return edn_fail(e, ":value must be a string, an integer, nil or a pair");
}

/* The fields of an op map that matter, as read. */
enum edn_field {
    F_PROCESS,
    F_TYPE,
    F_F,
    F_KEY,
    F_VALUE,
    F_TIME,
    F_ERROR,
    F_N
};

static int field_index(const struct edn_atom *k)
{
    static const char *const names[F_N] = {"process", "type", "f",    "key",
                                           "value",   "time", "error"};
    for (int i = 0; i < F_N; i++) {
        if (atom_is(k, names[i])) {
            return i;
        }
    }
    return -1;
}

static int word_fail(struct edn *e,
                     const char *what,
                     const struct edn_atom *a,
                     const char *choices)
{
    return parse_failf(e->msg, e->msg_size, "unknown %s %s%.*s (%s)", what,
                       a->kind == EDN_KEYWORD ? ":" : "",
                       (int)(a->len > 40 ? 40 : a->len), a->p, choices);
}

/* Turns the fields of a client op into an event. */
static int set_fields(struct edn *e,
                      const struct edn_val *v,
                      const bool *has,
                      struct checker_event *ev)
{
    static const char *const missing[] = {":process", ":type", ":f"};
    for (int i = F_PROCESS; i <= F_F; i++) {
        if (!has[i]) {
            return parse_failf(e->msg, e->msg_size, "missing %s", missing[i]);
        }
    }
    const struct edn_atom *a = &v[F_PROCESS].atom;
    if (a->kind != EDN_INT || !to_int64(a, &ev->process)) {
        return edn_fail(e, ":process must be an integer");
    }
    a = &v[F_TYPE].atom;
    if (a->kind != EDN_KEYWORD || !parse_type_word(a->p, a->len, &ev->type)) {
        return word_fail(e, ":type", a, ":invoke, :ok, :fail or :info");
    }
    a = &v[F_F].atom;
    if (a->kind != EDN_KEYWORD || !parse_f_word(a->p, a->len, &ev->f)) {
        return word_fail(e, ":f", a,
                         ":get, :put, :delete, :cas, :append, :read, :write");
    }
    a = &v[F_KEY].atom;
    if (has[F_KEY] && atom_is_text(a)) {
        ev->has_key = true;
        ev->key.ptr = a->p;
        ev->key.len = a->len;
    } else if (has[F_KEY] && a->kind != EDN_NIL) {
        return edn_fail(e, ":key must be a string or an integer");
    }
    if (has[F_VALUE]) {
        int rv = set_value(e, &v[F_VALUE], ev);
        if (rv != 0) {
            return rv;
        }
    }
    a = &v[F_TIME].atom;
    if (has[F_TIME]) {
        if (a->kind != EDN_INT || !to_int64(a, &ev->time)) {
            return edn_fail(e, ":time must be an integer (nanoseconds)");
        }
        ev->has_time = true;
    }
    a = &v[F_ERROR].atom;
    ev->mismatch = has[F_ERROR] &&
                   (a->kind == EDN_KEYWORD || a->kind == EDN_STRING) &&
                   atom_is(a, "mismatch");
    return 1;
}

int parse_edn_line(const struct line *l,
                   struct checker_event *ev,
                   struct parse_scratch *s,
                   char *msg,
                   size_t msg_size)
{
    struct edn e = {l->p, l->len, 0, s, msg, msg_size};
    skip_ws(&e);
    if (e.i >= e.len || e.p[e.i] != '{') {
        return edn_fail(&e, "expected an EDN map {:process ...}");
    }
    e.i++;
    struct edn_val fields[F_N];
    bool has[F_N] = {false};
    for (;;) {
        skip_ws(&e);
        if (e.i >= e.len) {
            return edn_fail(&e, "unterminated map");
        }
        if (e.p[e.i] == '}') {
            e.i++;
            break;
        }
        struct edn_val k;
        struct edn_val v;
        int rv = read_value(&e, 1, &k);
        if (rv == 0) {
            skip_ws(&e);
            if (e.i < e.len && e.p[e.i] == '}') {
                return edn_fail(&e, "a map key has no value");
            }
            rv = read_value(&e, 1, &v);
        }
        if (rv != 0) {
            return rv;
        }
        int field = k.atom.kind == EDN_KEYWORD ? field_index(&k.atom) : -1;
        if (field >= 0) {
            fields[field] = v;
            has[field] = true;
        }
    }
    skip_ws(&e);
    if (e.i < e.len) {
        return edn_fail(&e, "unexpected text after the map");
    }
    if (has[F_PROCESS] && fields[F_PROCESS].atom.kind == EDN_KEYWORD) {
        return 0; /* :nemesis and other non-client processes */
    }
    return set_fields(&e, fields, has, ev);
}
