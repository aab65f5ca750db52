/* death: see death.h. */
#include "death.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

bool death_run(void (*fn)(void *arg), void *arg, char *err, size_t err_len)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGABRT, SIG_DFL);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    /* Read to the end, so that the child never blocks on a full pipe;
     * what does not fit @err is read and dropped. */
    size_t got = 0;
    char sink[256];
    for (;;) {
        bool room = got < err_len - 1;
        ssize_t n = read(fds[0], room ? err + got : sink,
                         room ? err_len - 1 - got : sizeof sink);
        if (n <= 0) {
            break;
        }
        got += room ? (size_t)n : 0;
    }
    err[got] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

void death_expect(void (*fn)(void *arg), void *arg, const char *expect)
{
    char err[4096];
    bool aborted = death_run(fn, arg, err, sizeof err);
    if (!aborted || strstr(err, expect) == NULL) {
        fail_msg("expected an abort naming \"%s\"; the child %s, saying: %s",
                 expect, aborted ? "aborted" : "did not abort", err);
    }
}
