/*
 * Helpers for the integration tests that run raftkv-server and raftkv-cli
 * as processes: spawning them (each dies with the test process, even when
 * CTest kills the test on its timeout), running a program and capturing
 * its output, free loopback ports, and temporary directories removed
 * whatever happens.
 */
#ifndef TESTS_INTEGRATION_PROCS_H
#define TESTS_INTEGRATION_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Starts @argv[0] with @argv, its stdout and stderr appended to @log_path
 * (NULL: /dev/null). The child gets SIGKILL if this process dies. */
pid_t procs_spawn(char *const argv[], const char *log_path);

/* Runs @argv to completion, capturing stdout into @out and stderr into
 * @err (each NUL-terminated, cut to its size; either may be NULL). Returns
 * the exit code, or -1 when it did not exit normally. */
int procs_run(char *const argv[],
              char *out,
              size_t out_size,
              char *err,
              size_t err_size);

/* Sends @sig and waits (up to @wait_ms) for the process; returns its exit
 * code, 128 + signal when killed, or -1 when it is still running. */
int procs_stop(pid_t pid, int sig, unsigned wait_ms);

/* A loopback TCP port that was free a moment ago. */
unsigned procs_free_port(void);

/* A new directory under $TMPDIR or /tmp named after @tag; removed with
 * everything in it by procs_rmtree. */
void procs_tempdir(const char *tag, char *path, size_t size);
void procs_rmtree(const char *path);

uint64_t procs_now_ns(void);
void procs_sleep_ms(unsigned ms);

#endif /* TESTS_INTEGRATION_PROCS_H */
