/*
 * fuzz_history: the history parsers of checker/ (JSON Lines, EDN, the
 * Jepsen log, and auto-detection) on arbitrary bytes.
 *
 * The input is a history file as lincheck would read it, so the corpus
 * holds plain history files. Each input is parsed four times: detected,
 * and as each format. Properties:
 *   - a refusal is COMMON_EPARSE or COMMON_EINVAL with a "fuzz:" message;
 *   - a detected format, told explicitly, gives the same ops;
 *   - every op read back is well formed;
 *   - a small history that parsed is checked and reported without harm;
 *   - whatever line the fast JSON Lines scanner accepts, jansson reads as
 *     the same event (the two parsers behind parse_jsonl_line).
 */
#include <stdio.h>
#include <string.h>

#include "checker/checker.h"
#include "fuzz.h"
#include "internal.h" /* the two JSON Lines parsers, compared */
#include "same_event.h"

/* Histories up to this many ops are also checked: the search stays fast. */
enum {
    CHECK_OPS_MAX = 10
};

static void check_ops(const struct checker_history *h)
{
    size_t n = checker_history_len(h);
    for (size_t i = 0; i < n; i++) {
        struct checker_op op;
        FUZZ_CHECK(checker_history_op(h, i, &op) == 0);
        FUZZ_CHECK(op.f >= CHECKER_GET && op.f <= CHECKER_APPEND);
        FUZZ_CHECK(op.outcome == CHECKER_OK || op.outcome == CHECKER_FAIL ||
                   op.outcome == CHECKER_INFO);
        FUZZ_CHECK(op.value_count >= 0 && op.value_count <= 2);
        FUZZ_CHECK(!op.has_key || op.key.ptr != NULL);
        FUZZ_CHECK(!op.completed || op.return_time >= op.call_time);
        FUZZ_CHECK(op.call_line > 0);
        FUZZ_CHECK(op.completed == (op.return_line != 0));
        FUZZ_CHECK(!op.completed || op.return_line > op.call_line);
    }
}

static bool same_op(const struct checker_op *a, const struct checker_op *b)
{
    bool same = a->process == b->process && a->f == b->f &&
                a->outcome == b->outcome && a->mismatch == b->mismatch &&
                a->completed == b->completed && a->has_key == b->has_key &&
                a->value_count == b->value_count &&
                a->call_time == b->call_time &&
                (!a->completed || a->return_time == b->return_time) &&
                (!a->has_key || same_str(a->key, b->key));
    for (int k = 0; same && k < a->value_count; k++) {
        same = same_str(a->value[k], b->value[k]);
    }
    return same;
}

static void check_small(struct checker_history *h)
{
    if (checker_history_len(h) > CHECK_OPS_MAX) {
        return;
    }
    struct checker_options o;
    checker_options_init(&o);
    o.threads = 1;
    o.memory_bytes = 64u << 20;
    struct checker_result *r = NULL;
    int rv = checker_check(h, &o, &r);
    FUZZ_CHECK(rv == 0 || rv == COMMON_EINVAL);
    if (rv != 0) {
        FUZZ_CHECK(strncmp(checker_history_error(h), "fuzz:", 5) == 0);
        return;
    }
    FUZZ_CHECK(r->verdict == CHECKER_LINEARIZABLE ||
               r->verdict == CHECKER_NOT_LINEARIZABLE);
    FILE *sink = fopen("/dev/null", "w");
    FUZZ_NONNULL(sink);
    FUZZ_CHECK(checker_result_write_text(sink, h, r) == 0);
    FUZZ_CHECK(checker_result_write_json(sink, h, r) == 0);
    FUZZ_CHECK(checker_report_html_write(sink, h, r) == 0);
    fclose(sink);
    checker_result_free(r);
}

/* Parses @text as @format; returns the history (parsed or not). */
static struct checker_history *parse(const char *text,
                                     size_t len,
                                     enum checker_format format,
                                     int *rv)
{
    struct checker_history *h = checker_history_new();
    FUZZ_NONNULL(h);
    *rv = checker_history_parse(h, "fuzz", text, len, format);
    if (*rv != 0) {
        FUZZ_CHECK(*rv == COMMON_EPARSE || *rv == COMMON_EINVAL);
        FUZZ_CHECK(strncmp(checker_history_error(h), "fuzz:", 5) == 0);
    } else {
        check_ops(h);
        if (format != CHECKER_FORMAT_AUTO) {
            FUZZ_CHECK(checker_history_format(h) == format);
        }
    }
    return h;
}

static void check_same_ops(const struct checker_history *a,
                           const struct checker_history *b)
{
    FUZZ_CHECK(checker_history_len(a) == checker_history_len(b));
    for (size_t i = 0; i < checker_history_len(a); i++) {
        struct checker_op x;
        struct checker_op y;
        FUZZ_CHECK(checker_history_op(a, i, &x) == 0);
        FUZZ_CHECK(checker_history_op(b, i, &y) == 0);
        FUZZ_CHECK(same_op(&x, &y));
    }
}

/* The fast scanner and jansson agree on every line the scanner takes. */
static void compare_jsonl_parsers(const char *text, size_t len)
{
    struct parse_scratch scratch = {NULL, 0, 0};
    uint64_t no = 1;
    size_t at = 0;
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        struct line l = {text + at, end - at, no++};
        struct checker_event a;
        memset(&a, 0, sizeof a);
        if (parse_jsonl_fast(&l, &a) == 1) {
            if (scratch.cap < l.len + 64) {
                free(scratch.buf);
                scratch.cap = l.len + 64;
                scratch.buf = malloc(scratch.cap);
                FUZZ_NONNULL(scratch.buf);
            }
            scratch.len = 0;
            struct checker_event b;
            memset(&b, 0, sizeof b);
            char msg[256];
            int rv = parse_jsonl_jansson(&l, &b, &scratch, msg, sizeof msg);
            if (rv != 1 || !same_event(&a, &b)) {
                fprintf(stderr, "fast and jansson differ on line %llu: %s\n",
                        (unsigned long long)l.no,
                        rv == 1 ? "another event" : msg);
                abort();
            }
        }
        at = end + 1;
    }
    free(scratch.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    int rv;
    struct checker_history *detected =
        parse(text, size, CHECKER_FORMAT_AUTO, &rv);
    enum checker_format format = checker_history_format(detected);
    for (int f = CHECKER_FORMAT_JSONL; f <= CHECKER_FORMAT_JEPSEN_LOG; f++) {
        int told_rv;
        struct checker_history *told =
            parse(text, size, (enum checker_format)f, &told_rv);
        if (rv == 0 && (enum checker_format)f == format) {
            FUZZ_CHECK(told_rv == 0);
            check_same_ops(detected, told);
        }
        checker_history_free(told);
    }
    if (rv == 0) {
        check_small(detected);
    }
    checker_history_free(detected);
    compare_jsonl_parsers(text, size);
    return 0;
}
