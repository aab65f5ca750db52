/*
 * The history format's writer (see checker.h): the inverse of
 * parse_jsonl.c, so that the checker owns the format both ways.
 */
#include <stdio.h>

#include "internal.h"

int checker_event_write_jsonl(FILE *f, const struct checker_event *ev)
{
    fprintf(f, "{\"process\":%lld,\"type\":\"%s\",\"f\":\"%s\"",
            (long long)ev->process, history_type_word(ev->type),
            history_f_word(ev->f));
    if (ev->has_key) {
        fputs(",\"key\":", f);
        report_json_string(f, ev->key);
    }
    if (ev->value_count == 1) {
        fputs(",\"value\":", f);
        report_json_string(f, ev->value[0]);
    } else if (ev->value_count == 2) {
        fputs(",\"value\":[", f);
        report_json_string(f, ev->value[0]);
        fputc(',', f);
        report_json_string(f, ev->value[1]);
        fputc(']', f);
    }
    if (ev->error.ptr != NULL) {
        fputs(",\"error\":", f);
        report_json_string(f, ev->error);
    } else if (ev->mismatch) {
        fputs(",\"error\":\"mismatch\"", f);
    }
    if (ev->node != 0) {
        fprintf(f, ",\"node\":%llu", (unsigned long long)ev->node);
    }
    if (ev->has_time) {
        fprintf(f, ",\"time\":%lld", (long long)ev->time);
    }
    fputs("}\n", f);
    return ferror(f) ? COMMON_EIO : 0;
}
