/* Helpers shared by the checker tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "helpers.h"

struct checked check_text(const char *text,
                          enum checker_format format,
                          const struct checker_options *opts)
{
    struct checked c = {NULL, NULL, 0, 0};
    struct checker_options defaults;
    if (opts == NULL) {
        checker_options_init(&defaults);
        defaults.threads = 1;
        opts = &defaults;
    }
    c.h = checker_history_new();
    assert_non_null(c.h);
    c.parse_rv = checker_history_parse(c.h, "t", text, strlen(text), format);
    if (c.parse_rv == 0) {
        c.check_rv = checker_check(c.h, opts, &c.r);
    }
    return c;
}

void checked_free(struct checked *c)
{
    checker_result_free(c->r);
    checker_history_free(c->h);
    c->r = NULL;
    c->h = NULL;
}

static enum checker_verdict verdict_with(const char *text, bool empty)
{
    struct checker_options o;
    checker_options_init(&o);
    o.threads = 1;
    o.absent_reads_empty = empty;
    struct checked c = check_text(text, CHECKER_FORMAT_JSONL, &o);
    if (c.parse_rv != 0 || c.check_rv != 0) {
        print_error("unexpected error: %s\n", checker_history_error(c.h));
        fail();
    }
    enum checker_verdict v = c.r->verdict;
    checked_free(&c);
    return v;
}

enum checker_verdict verdict_of(const char *text)
{
    return verdict_with(text, false);
}

enum checker_verdict verdict_of_empty(const char *text)
{
    return verdict_with(text, true);
}

const char *porcupine_dir(void)
{
    static char path[4096];
    const char *root = getenv("RAFTKV_TESTDATA");
    if (root == NULL) {
        return NULL;
    }
    snprintf(path, sizeof path, "%s/porcupine", root);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return NULL;
    }
    return path;
}

uint64_t seed_from_env(const char *name, uint64_t fallback)
{
    const char *s = getenv(name);
    if (s == NULL || *s == 0) {
        return fallback;
    }
    return strtoull(s, NULL, 0);
}
