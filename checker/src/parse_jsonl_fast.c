/*
 * The fast path of the JSON Lines parser: a strict scanner for the common
 * shape of a line, a flat object of the fields the project writes
 * (process, type, f, key, value, error, node, time; node, the server that
 * answered, is read and dropped as jansson's path drops it) with printable
 * ASCII strings without escapes,
 * JSON integers of at most 18 digits, null, and a [a, b] pair.
 *
 * It accepts a subset of what jansson accepts and reads it the same way;
 * on anything else (another field, a repeated field, an escape, a byte that
 * is not printable ASCII, a float, nesting, a missing field, a wrong type,
 * trailing text) it answers 0 and jansson parses the line, so error
 * messages and corner cases stay jansson's. It exists because jansson was
 * 97% of the time of checking a generated 100,000-op history.
 */
#include <string.h>

#include "internal.h"

struct scan
{
    const char *p;
    size_t len;
    size_t i;
};

static void scan_ws(struct scan *c)
{
    while (c->i < c->len && (c->p[c->i] == ' ' || c->p[c->i] == '\t' ||
                             c->p[c->i] == '\n' || c->p[c->i] == '\r')) {
        c->i++;
    }
}

/* Whether any of the 8 bytes of @x is a control byte, DEL or above, a
 * quote or a backslash: the bytes a plain string stops at. The classic
 * SWAR tests ("determine if a word has a byte less than n", and a zero
 * byte after XOR with the quote and backslash), which never miss such a
 * byte (they may flag a clean word after one, which only sends it to the
 * byte loop). */
static inline bool word_stops(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull;
    const uint64_t highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"');
    uint64_t b = x ^ (ones * '\\');
    uint64_t low = (x - ones * 0x20) & ~x;          /* a byte < 0x20 */
    uint64_t high = (x + ones * (0x80 - 0x7f)) | x; /* a byte >= 0x7f */
    uint64_t quote = (q - ones) & ~q;               /* a '"' */
    uint64_t slash = (b - ones) & ~b;               /* a '\\' */
    return ((low | high | quote | slash) & highs) != 0;
}

/* A string of printable ASCII without escapes; its bytes stay in the
 * line. */
static bool scan_string(struct scan *c, struct checker_str *out)
{
    if (c->i >= c->len || c->p[c->i] != '"') {
        return false;
    }
    size_t start = ++c->i;
    /* Long values (the appends of a Jepsen append test) go 8 bytes at a
     * time; the word with the closing quote goes through the loop below. */
    while (c->len - c->i >= 8) {
        uint64_t x;
        memcpy(&x, c->p + c->i, 8);
        if (word_stops(x)) {
            break;
        }
        c->i += 8;
    }
    while (c->i < c->len) {
        unsigned char ch = (unsigned char)c->p[c->i];
        if (ch == '"') {
            out->ptr = c->p + start;
            out->len = c->i - start;
            c->i++;
            return true;
        }
        if (ch < 0x20 || ch >= 0x7f || ch == '\\') {
            return false;
        }
        c->i++;
    }
    return false;
}

/* An integer of at most 18 digits in JSON's syntax (no leading zeros), not
 * followed by a fraction or an exponent. */
static bool scan_int(struct scan *c, int64_t *out)
{
    bool neg = c->i < c->len && c->p[c->i] == '-';
    size_t start = c->i + (neg ? 1 : 0);
    size_t at = start;
    int64_t v = 0;
    while (at < c->len && c->p[at] >= '0' && c->p[at] <= '9') {
        if (at - start == 18) {
            return false;
        }
        v = v * 10 + (c->p[at] - '0');
        at++;
    }
    size_t digits = at - start;
    if (digits == 0 || (digits > 1 && c->p[start] == '0') ||
        (at < c->len &&
         (c->p[at] == '.' || c->p[at] == 'e' || c->p[at] == 'E'))) {
        return false;
    }
    c->i = at;
    *out = neg ? -v : v;
    return true;
}

static bool scan_word(struct scan *c, const char *w)
{
    size_t n = strlen(w);
    if (c->len - c->i < n || memcmp(c->p + c->i, w, n) != 0) {
        return false;
    }
    c->i += n;
    return true;
}

/* A string or null. */
static bool scan_value(struct scan *c, struct checker_str *out)
{
    if (scan_word(c, "null")) {
        out->ptr = NULL;
        out->len = 0;
        return true;
    }
    return scan_string(c, out);
}

/* A value, or a pair of them. */
static bool scan_values(struct scan *c, struct checker_event *ev)
{
    if (c->i >= c->len || c->p[c->i] != '[') {
        ev->value_count = 1;
        return scan_value(c, &ev->value[0]);
    }
    c->i++;
    for (int k = 0; k < 2; k++) {
        scan_ws(c);
        if (!scan_value(c, &ev->value[k])) {
            return false;
        }
        scan_ws(c);
        if (c->i >= c->len || c->p[c->i] != (k == 0 ? ',' : ']')) {
            return false;
        }
        c->i++;
    }
    ev->value_count = 2;
    return true;
}

enum {
    K_PROCESS,
    K_TYPE,
    K_F,
    K_KEY,
    K_VALUE,
    K_ERROR,
    K_TIME,
    K_NODE,
    K_N
};

static int field_of(struct checker_str k)
{
    static const char *const names[K_N] = {"process", "type",  "f",    "key",
                                           "value",   "error", "time", "node"};
    for (int i = 0; i < K_N; i++) {
        if (strlen(names[i]) == k.len && memcmp(names[i], k.ptr, k.len) == 0) {
            return i;
        }
    }
    return -1;
}

static bool scan_field(struct scan *c, int field, struct checker_event *ev)
{
    struct checker_str s;
    switch (field) {
        case K_PROCESS:
            return scan_int(c, &ev->process);
        case K_TYPE:
            return scan_string(c, &s) &&
                   parse_type_word(s.ptr, s.len, &ev->type);
        case K_F:
            return scan_string(c, &s) && parse_f_word(s.ptr, s.len, &ev->f);
        case K_KEY:
            if (!scan_value(c, &ev->key)) {
                return false;
            }
            ev->has_key = ev->key.ptr != NULL;
            return true;
        case K_VALUE:
            return scan_values(c, ev);
        case K_ERROR:
            if (!scan_string(c, &s)) {
                return false;
            }
            ev->mismatch = s.len == 8 && memcmp(s.ptr, "mismatch", 8) == 0;
            return true;
        case K_TIME:
            if (scan_word(c, "null")) {
                return true;
            }
            ev->has_time = true;
            return scan_int(c, &ev->time);
        case K_NODE: {
            int64_t node;
            return scan_int(c, &node) && node >= 0;
        }
    }
    return false;
}

int parse_jsonl_fast(const struct line *l, struct checker_event *ev)
{
    struct scan c = {l->p, l->len, 0};
    unsigned seen = 0;
    scan_ws(&c);
    if (c.i >= c.len || c.p[c.i] != '{') {
        return 0;
    }
    c.i++;
    for (;;) {
        struct checker_str key;
        scan_ws(&c);
        if (!scan_string(&c, &key)) {
            return 0;
        }
        int field = field_of(key);
        if (field < 0 || (seen & (1u << field)) != 0) {
            return 0;
        }
        seen |= 1u << field;
        scan_ws(&c);
        if (c.i >= c.len || c.p[c.i] != ':') {
            return 0;
        }
        c.i++;
        scan_ws(&c);
        if (!scan_field(&c, field, ev)) {
            return 0;
        }
        scan_ws(&c);
        if (c.i < c.len && c.p[c.i] == ',') {
            c.i++;
            continue;
        }
        if (c.i < c.len && c.p[c.i] == '}') {
            c.i++;
            break;
        }
        return 0;
    }
    scan_ws(&c);
    unsigned needed = (1u << K_PROCESS) | (1u << K_TYPE) | (1u << K_F);
    return c.i == c.len && (seen & needed) == needed ? 1 : 0;
}
