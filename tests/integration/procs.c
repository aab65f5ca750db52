/* Process helpers for the integration tests (see procs.h). */
#include "procs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t procs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void procs_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Pipes are made and children forked under one lock, so no child of
 * another thread inherits a pipe before it is close-on-exec. */
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;

/* In the child, before exec: die with the parent, and use the fds. */
static void child_setup(pid_t parent, int out_fd, int err_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(127); /* the parent is already gone */
    }
    /* The test blocks no signals of its own, but be sure. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    dup2(out_fd >= 0 ? out_fd : null_fd, 1);
    dup2(err_fd >= 0 ? err_fd : null_fd, 2);
}

pid_t procs_spawn(char *const argv[], const char *log_path)
{
    int fd = -1;
    if (log_path != NULL) {
        fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    pthread_mutex_lock(&fork_lock);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        child_setup(parent, fd, fd);
        execv(argv[0], argv);
        _exit(127);
    }
    pthread_mutex_unlock(&fork_lock);
    if (fd >= 0) {
        close(fd);
    }
    return pid;
}

int procs_run(char *const argv[],
              char *out,
              size_t out_size,
              char *err,
              size_t err_size)
{
    int po[2];
    int pe[2];
    pthread_mutex_lock(&fork_lock);
    if (pipe(po) != 0) {
        pthread_mutex_unlock(&fork_lock);
        return -1;
    }
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        pthread_mutex_unlock(&fork_lock);
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        fcntl(po[k], F_SETFD, FD_CLOEXEC);
        fcntl(pe[k], F_SETFD, FD_CLOEXEC);
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        child_setup(parent, po[1], pe[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    pthread_mutex_unlock(&fork_lock);
    close(po[1]);
    close(pe[1]);
    char *bufs[2] = {out, err};
    size_t caps[2] = {out_size, err_size};
    size_t lens[2] = {0, 0};
    struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN},
                            {.fd = pe[0], .events = POLLIN}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (int k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || fds[k].revents == 0) {
                continue;
            }
            char tmp[4096];
            ssize_t n = read(fds[k].fd, tmp, sizeof tmp);
            if (n <= 0) {
                close(fds[k].fd);
                fds[k].fd = -1;
                open_fds--;
                continue;
            }
            if (bufs[k] != NULL && caps[k] > 0) {
                size_t room = caps[k] - 1 - lens[k];
                size_t take = (size_t)n < room ? (size_t)n : room;
                memcpy(bufs[k] + lens[k], tmp, take);
                lens[k] += take;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        if (fds[k].fd >= 0) {
            close(fds[k].fd);
        }
        if (bufs[k] != NULL && caps[k] > 0) {
            bufs[k][lens[k]] = '\0';
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int procs_stop(pid_t pid, int sig, unsigned wait_ms)
{
    if (pid <= 0) {
        return -1;
    }
    if (sig != 0) {
        kill(pid, sig);
    }
    uint64_t until = procs_now_ns() + (uint64_t)wait_ms * 1000000ull;
    for (;;) {
        int status = 0;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) {
            if (WIFEXITED(status)) {
                return WEXITSTATUS(status);
            }
            return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
        }
        if (got < 0 || procs_now_ns() > until) {
            return -1;
        }
        procs_sleep_ms(5);
    }
}

unsigned procs_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

void procs_tempdir(const char *tag, char *path, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, size, "%s/raftkv-%s-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp", tag);
    if (mkdtemp(path) == NULL) {
        path[0] = '\0';
    }
}

void procs_rmtree(const char *path)
{
    if (path == NULL || path[0] == '\0') {
        return;
    }
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode)) {
                procs_rmtree(child);
            } else {
                unlink(child);
            }
        }
        closedir(d);
    }
    rmdir(path);
}
