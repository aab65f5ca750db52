/* Helpers shared by the checker tests: parse and check a history held in a
 * string, find the shared test data, read a seed from the environment. */
#ifndef CHECKER_TEST_HELPERS_H
#define CHECKER_TEST_HELPERS_H

#include <stdbool.h>
#include <stdint.h>

#include "checker/checker.h"

/* A parsed and checked history; free with checked_free(). */
struct checked
{
    struct checker_history *h;
    struct checker_result *r;
    int parse_rv;
    int check_rv;
};

/* Parses @text as @format under the name "t" and, when that works, checks
 * it with @opts (NULL: defaults, one thread). */
struct checked check_text(const char *text,
                          enum checker_format format,
                          const struct checker_options *opts);
void checked_free(struct checked *c);

/* The verdict of @text (JSON Lines, default options); fails the test when
 * it cannot be parsed or checked. */
enum checker_verdict verdict_of(const char *text);
/* The same with absent reads empty. */
enum checker_verdict verdict_of_empty(const char *text);

/* $RAFTKV_TESTDATA/porcupine, or NULL when missing (the test skips). */
const char *porcupine_dir(void);

/* The seed from environment variable @name, or @fallback. */
uint64_t seed_from_env(const char *name, uint64_t fallback);

#endif
