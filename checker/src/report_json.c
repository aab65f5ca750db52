/*
 * The report for machines: one JSON object on one line.
 *
 *   {"verdict":"not-linearizable","ops":4,"keys":1,"keys_decided":1,
 *    "steps":9,"elapsed_s":0.0001,"key":"x","prefix":[op...],
 *    "state":"1","unplaced":[op + "why"...]}
 *
 * Written by hand rather than through a JSON library because history values
 * are arbitrary bytes: every string is checked for UTF-8 and bytes that are
 * not are written as U+FFFD, so the output is always valid JSON.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Length of the valid UTF-8 sequence at @p (at most @len bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t len)
{
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n > len) {
        return 0;
    }
    unsigned cp = c & (0x7Fu >> n);
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

void report_json_string(FILE *f, struct checker_str s)
{
    if (s.ptr == NULL) {
        fputs("null", f);
        return;
    }
    const unsigned char *p = (const unsigned char *)s.ptr;
    fputc('"', f);
    for (size_t k = 0; k < s.len;) {
        unsigned c = p[k];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            k++;
        } else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
            /* <, > and & too, so the text can sit inside an HTML
             * <script> element. */
            fprintf(f, "\\u%04x", c);
            k++;
        } else if (c < 0x80) {
            fputc((int)c, f);
            k++;
        } else {
            size_t n = utf8_len(p + k, s.len - k);
            if (n == 0) {
                fputs("\\ufffd", f);
                k++;
            } else {
                fwrite(p + k, 1, n, f);
                k += n;
            }
        }
    }
    fputc('"', f);
}

static const char *outcome_word(const struct checker_op *o)
{
    if (!o->completed) {
        return "pending";
    }
    return history_type_word(o->outcome);
}

void report_json_op(FILE *f,
                    const struct checker_history *h,
                    size_t i,
                    const struct checker_str *after)
{
    struct checker_op o;
    checker_history_op(h, i, &o);
    fprintf(f,
            "{\"index\":%zu,\"process\":%" PRId64 ",\"f\":\"%s\",\"key\":", i,
            o.process, history_f_word(o.f));
    report_json_string(f, o.key);
    fputs(",\"value\":", f);
    if (o.value_count == 2) {
        fputc('[', f);
        report_json_string(f, o.value[0]);
        fputc(',', f);
        report_json_string(f, o.value[1]);
        fputc(']', f);
    } else if (o.value_count == 1) {
        report_json_string(f, o.value[0]);
    } else {
        fputs("null", f);
    }
    fprintf(f,
            ",\"outcome\":\"%s\",\"mismatch\":%s,\"call_time\":%" PRId64
            ",\"call_line\":%" PRIu64,
            outcome_word(&o), o.mismatch ? "true" : "false", o.call_time,
            o.call_line);
    if (o.completed) {
        fprintf(f, ",\"return_time\":%" PRId64 ",\"return_line\":%" PRIu64,
                o.return_time, o.return_line);
    } else {
        fputs(",\"return_time\":null,\"return_line\":null", f);
    }
    if (after != NULL) {
        fputs(",\"state_after\":", f);
        report_json_string(f, *after);
    }
    fputc('}', f);
}

int checker_result_write_json(FILE *f,
                              const struct checker_history *h,
                              const struct checker_result *r)
{
    fprintf(f,
            "{\"verdict\":\"%s\",\"ops\":%zu,\"keys\":%zu,\"keys_decided\":%zu,"
            "\"steps\":%" PRIu64 ",\"elapsed_s\":%.6f",
            checker_verdict_name(r->verdict), r->ops, r->partitions,
            r->partitions_done, r->steps, r->elapsed_s);
    if (r->verdict == CHECKER_UNKNOWN) {
        fputs(",\"why\":", f);
        struct checker_str why = {r->unknown_why, strlen(r->unknown_why)};
        report_json_string(f, why);
    }
    if (r->verdict == CHECKER_NOT_LINEARIZABLE) {
        struct checker_str key = {r->has_key ? r->key : NULL, r->key_len};
        struct checker_str state = {r->state_absent ? NULL : r->state,
                                    r->state_len};
        fputs(",\"key\":", f);
        report_json_string(f, key);
        fputs(",\"prefix\":[", f);
        for (size_t k = 0; k < r->prefix_len; k++) {
            if (k > 0) {
                fputc(',', f);
            }
            report_json_op(f, h, r->prefix[k], report_state_after(r, k));
        }
        fputs("],\"state\":", f);
        report_json_string(f, state);
        fputs(",\"unplaced\":[", f);
        for (size_t k = 0; k < r->unplaced_len; k++) {
            char why[600];
            report_refusal(h, r, r->unplaced[k], why, sizeof why);
            struct checker_str w = {why, strlen(why)};
            if (k > 0) {
                fputc(',', f);
            }
            fputs("{\"op\":", f);
            report_json_op(f, h, r->unplaced[k], NULL);
            fputs(",\"why\":", f);
            report_json_string(f, w);
            fputc('}', f);
        }
        fputc(']', f);
    }
    fputs("}\n", f);
    return ferror(f) ? COMMON_EIO : 0;
}

void checker_json_string_write(FILE *f, const char *s, size_t len)
{
    report_json_string(f, (struct checker_str){.ptr = s, .len = len});
}

void checker_op_describe(const struct checker_history *h,
                         size_t i,
                         char *buf,
                         size_t size)
{
    struct checker_op o;
    if (checker_history_op(h, i, &o) != 0) {
        snprintf(buf, size, "?");
        return;
    }
    report_describe_op(&o, buf, size);
}
