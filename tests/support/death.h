/*
 * death: death tests by fork. The child runs a function that is expected
 * to fail an assertion (SIGABRT); the parent reads what the child wrote to
 * stderr and checks that it names the assertion. Shared by the invariant
 * tests of raft/ and storage/.
 */
#ifndef DEATH_H
#define DEATH_H

#include <stdbool.h>
#include <stddef.h>

/* Runs @fn(@arg) in a child process. Returns true when the child died of
 * SIGABRT; what it wrote to stderr is in @err (cut to fit, NUL-ended). A
 * child that returns from @fn exits 0 at once (no cmocka, no leak check). */
bool death_run(void (*fn)(void *arg), void *arg, char *err, size_t err_len);

/* Fails the current cmocka test unless @fn(@arg) dies of SIGABRT with
 * @expect in what it wrote to stderr. */
void death_expect(void (*fn)(void *arg), void *arg, const char *expect);

#endif /* DEATH_H */
