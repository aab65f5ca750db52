/*
 * wal-bench: the write-ahead log on the real file system.
 *
 *   wal-bench [--dir DIR] [--runs R] [--seconds S] [--log-mib N]
 *             [--keys N] [--quick]
 *
 * In a fresh directory under DIR (default /tmp), removed at the end, it
 * measures:
 *   1. the raw fdatasync rate of the disk: a loop of 64-byte write +
 *      fdatasync on one file - the ceiling for one durable write at a time;
 *   2. WAL append throughput with group commit: entries of 64 B and 4 KiB,
 *      1, 16 and 256 entries per storage_write() (one fdatasync each),
 *      each run for S seconds into an empty log: entries/s, MB/s of entry
 *      data, and writes/s next to a raw fdatasync run of S/2 seconds taken
 *      just before it (the disk is shared; its speed drifts);
 *   3. recovery of a log of N MiB (1024: 1 GiB of 1 KiB entries in 64 MiB
 *      segments) - storage_load() in a child process, with the page cache
 *      warm and after dropping the files from it (posix_fadvise) - time,
 *      read throughput and the child's peak RSS;
 *   4. a snapshot of N keys (1,000,000: 16-byte keys, 32-byte values, as
 *      a length-prefixed byte payload): the save (file, fsync, rename,
 *      directory fsync) and its recovery, with peak RSS.
 * Every figure is the median of R runs (5). --quick: R = 1, S = 0.5,
 * 64 MiB log, 100,000 keys - a smoke run for CI.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "storage/storage.h"

struct config
{
    const char *parent;
    int runs;
    double seconds;
    uint64_t log_mib;
    uint64_t keys;
};

static char root[512]; /* the benchmark's own directory */

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "wal-bench: %s: %s\n", what, detail);
    exit(1);
}

static double now_s(void)
{
    return (double)common_now_ns() / 1e9;
}

/* Peak RSS of this process, in MiB. */
static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Removes every file in @dir, then @dir. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *de;
    char path[1024];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_dir(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

static void cleanup(void)
{
    if (root[0] != '\0') {
        remove_dir(root);
        root[0] = '\0';
    }
}

static struct storage *open_wal(const char *dir, struct storage_fs **fs)
{
    char why[256];
    int rv = storage_fs_posix_open(dir, why, sizeof why, fs);
    if (rv != 0) {
        die("open", why);
    }
    struct storage *s;
    rv = storage_wal_new(*fs, NULL, &s);
    if (rv != 0) {
        die("storage_wal_new", common_strerror(rv));
    }
    return s;
}

static void check(struct storage *s, int rv, const char *what)
{
    if (rv != 0) {
        die(what, storage_error(s));
    }
}

/* 1. write + fdatasync of 64 bytes, as fast as the disk allows, for
 * @seconds. */
static double fdatasync_rate(double seconds)
{
    char path[600];
    snprintf(path, sizeof path, "%s/fdatasync.dat", root);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) {
        die(path, strerror(errno));
    }
    char buf[64];
    memset(buf, 'x', sizeof buf);
    uint64_t n = 0;
    double start = now_s();
    double elapsed;
    do {
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf ||
            fdatasync(fd) != 0) {
            die(path, strerror(errno));
        }
        n++;
        elapsed = now_s() - start;
    } while (elapsed < seconds);
    close(fd);
    unlink(path);
    return (double)n / elapsed;
}

struct append_result
{
    double entries_per_s;
    double writes_per_s;
};

/* 2. storage_write() of @batch entries of @size bytes for c->seconds. */
static struct append_result append_run(const struct config *c,
                                       size_t size,
                                       size_t batch,
                                       int run)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/append-%zu-%zu-%d", root, size, batch, run);
    struct storage_fs *fs;
    struct storage *s = open_wal(dir, &fs);
    struct storage_state st;
    check(s, storage_load(s, &st), "load");
    struct raft_entry *e = calloc(batch, sizeof *e);
    uint8_t *data = malloc(size);
    if (e == NULL || data == NULL) {
        die("append", "out of memory");
    }
    for (size_t k = 0; k < size; k++) {
        data[k] = (uint8_t)(k * 31);
    }
    for (size_t k = 0; k < batch; k++) {
        e[k].term = 1;
        e[k].type = RAFT_ENTRY_COMMAND;
        e[k].data.base = data;
        e[k].data.len = size;
    }
    raft_index next = 1;
    uint64_t writes = 0;
    double start = now_s();
    double elapsed;
    do {
        for (size_t k = 0; k < batch; k++) {
            e[k].index = next + k;
        }
        struct storage_batch b = {NULL, 0, e, batch};
        check(s, storage_write(s, &b), "write");
        next += batch;
        writes++;
        elapsed = now_s() - start;
    } while (elapsed < c->seconds);
    storage_free(s);
    storage_fs_free(fs);
    remove_dir(dir);
    free(e);
    free(data);
    struct append_result r = {(double)(next - 1) / elapsed,
                              (double)writes / elapsed};
    return r;
}

/* Calls @fn with a read-only descriptor of each file in @dir. */
static void for_each_file(const char *dir,
                          void (*fn)(int fd, void *data),
                          void *data)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        die(dir, strerror(errno));
    }
    struct dirent *de;
    char path[1024];
    while ((de = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            continue;
        }
        fn(fd, data);
        close(fd);
    }
    closedir(d);
}

static void drop_file(int fd, void *data)
{
    (void)data;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Drops a directory's files from the page cache (they are clean: synced). */
static void drop_cache(const char *dir)
{
    for_each_file(dir, drop_file, NULL);
}

struct recovery_result
{
    double seconds;
    double rss_mib; /* the child's peak RSS */
    double rss_start_mib;
    uint64_t entries;
    uint64_t snapshot_bytes;
    uint64_t bytes_read; /* the plain read baseline */
};

typedef void (*measure_fn)(const char *dir, struct recovery_result *r);

/* Recovery proper: storage_load() of @dir. */
static void measure_load(const char *dir, struct recovery_result *r)
{
    struct storage_fs *fs;
    struct storage *s = open_wal(dir, &fs);
    struct storage_state st;
    double start = now_s();
    check(s, storage_load(s, &st), "load");
    r->seconds = now_s() - start;
    r->entries = st.n_entries;
    r->snapshot_bytes = st.snapshot_len;
}

static void read_file(int fd, void *data)
{
    static uint8_t buf[1 << 20];
    struct recovery_result *r = data;
    ssize_t n;
    off_t off = 0;
    while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
        off += n;
        r->bytes_read += (uint64_t)n;
    }
}

/* Baseline: reading every file of @dir once, 1 MiB at a time into one
 * buffer - what the disk and the kernel's copy cost alone. */
static void measure_read(const char *dir, struct recovery_result *r)
{
    double start = now_s();
    for_each_file(dir, read_file, r);
    r->seconds = now_s() - start;
}

/* Baseline: touching as many fresh bytes as the log holds - what holding
 * the whole log in memory costs, however it gets there. */
static uint64_t touch_bytes;

static void measure_touch(const char *dir, struct recovery_result *r)
{
    (void)dir;
    double start = now_s();
    uint8_t *p = malloc(touch_bytes);
    if (p == NULL) {
        die("touch", "out of memory");
    }
    memset(p, 1, touch_bytes);
    r->seconds = now_s() - start;
    r->entries = p[touch_bytes - 1];
    free(p);
}

/* 3, 4. A measurement of @dir in a child process, so that its peak RSS is
 * its own. */
static struct recovery_result in_child(measure_fn fn,
                                       const char *dir,
                                       bool cold)
{
    if (cold) {
        drop_cache(dir);
    }
    int fds[2];
    if (pipe(fds) != 0) {
        die("pipe", strerror(errno));
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        die("fork", strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        struct recovery_result r;
        memset(&r, 0, sizeof r);
        r.rss_start_mib = peak_rss_mib();
        fn(dir, &r);
        r.rss_mib = peak_rss_mib();
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    struct recovery_result r;
    ssize_t got = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof r || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        die("recovery", "the child failed");
    }
    return r;
}

static void report_recovery(const char *what,
                            struct recovery_result *runs,
                            int n,
                            double bytes)
{
    double t[64];
    double rss[64];
    for (int k = 0; k < n; k++) {
        t[k] = runs[k].seconds;
        rss[k] = runs[k].rss_mib;
    }
    double mt = median(t, n);
    printf(
        "  %-28s %8.3f s  %8.1f MB/s  peak RSS %7.1f MiB (%.1f at "
        "start)\n",
        what, mt, bytes / mt / 1e6, median(rss, n), runs[0].rss_start_mib);
}

/* 3. A log of c->log_mib MiB of 1 KiB entries, 256 to a write. */
static void log_recovery(const struct config *c)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/log", root);
    struct storage_fs *fs;
    struct storage *s = open_wal(dir, &fs);
    struct storage_state st;
    check(s, storage_load(s, &st), "load");
    const size_t size = 1024;
    const size_t batch = 256;
    uint64_t total = c->log_mib << 20;
    uint64_t n_entries = total / size;
    struct raft_entry *e = calloc(batch, sizeof *e);
    uint8_t *data = malloc(size);
    if (e == NULL || data == NULL) {
        die("log", "out of memory");
    }
    memset(data, 0x6b, size);
    raft_index next = 1;
    double start = now_s();
    while (next <= n_entries) {
        size_t n = batch;
        if (next + n - 1 > n_entries) {
            n = (size_t)(n_entries - next + 1);
        }
        for (size_t k = 0; k < n; k++) {
            e[k].index = next + k;
            e[k].term = 1;
            e[k].type = RAFT_ENTRY_COMMAND;
            e[k].data.base = data;
            e[k].data.len = size;
        }
        struct raft_hard_state hs = {1, 1, next - 1};
        struct storage_batch b = {&hs, 0, e, n};
        check(s, storage_write(s, &b), "write");
        next += n;
    }
    double wrote = now_s() - start;
    storage_free(s);
    storage_fs_free(fs);
    free(e);
    free(data);
    printf(
        "\nRecovery of a %llu MiB log (%llu entries of 1 KiB, 64 MiB "
        "segments; written in %.1f s, %.0f MB/s, 256 entries a write):\n",
        (unsigned long long)c->log_mib, (unsigned long long)n_entries, wrote,
        (double)total / wrote / 1e6);
    struct recovery_result warm[64];
    struct recovery_result cold[64];
    for (int k = 0; k < c->runs; k++) {
        cold[k] = in_child(measure_load, dir, true);
        warm[k] = in_child(measure_load, dir, false);
        if (warm[k].entries != n_entries || cold[k].entries != n_entries) {
            die("recovery", "wrong number of entries");
        }
    }
    report_recovery("page cache dropped", cold, c->runs, (double)total);
    report_recovery("page cache warm", warm, c->runs, (double)total);
    /* What the same bytes cost without the WAL, in the same run. */
    struct recovery_result read_cold[64];
    struct recovery_result read_warm[64];
    struct recovery_result touch[64];
    touch_bytes = total;
    for (int k = 0; k < c->runs; k++) {
        read_cold[k] = in_child(measure_read, dir, true);
        read_warm[k] = in_child(measure_read, dir, false);
        touch[k] = in_child(measure_touch, dir, false);
    }
    printf("  baselines without the WAL, same files and sizes:\n");
    report_recovery("plain read, cache dropped", read_cold, c->runs,
                    (double)read_cold[0].bytes_read);
    report_recovery("plain read, cache warm", read_warm, c->runs,
                    (double)read_warm[0].bytes_read);
    report_recovery("touch as much fresh memory", touch, c->runs,
                    (double)total);
    remove_dir(dir);
}

/* 4. A snapshot of c->keys keys: u32 key length, key, u32 value length,
 * value, for 16-byte keys and 32-byte values. */
static void snapshot_recovery(const struct config *c)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/snapshot", root);
    size_t per_key = 4 + 16 + 4 + 32;
    size_t len = per_key * (size_t)c->keys;
    uint8_t *payload = malloc(len);
    if (payload == NULL) {
        die("snapshot", "out of memory");
    }
    uint8_t *p = payload;
    for (uint64_t k = 0; k < c->keys; k++) {
        p[0] = 16;
        p[1] = p[2] = p[3] = 0;
        memcpy(p + 4, "key-", 4);
        uint64_t digits = k;
        for (int j = 15; j >= 4; j--) {
            p[4 + j] = (uint8_t)('0' + digits % 10);
            digits /= 10;
        }
        p[24] = 32;
        p[25] = p[26] = p[27] = 0;
        uint64_t x = common_mix64(k);
        for (int j = 0; j < 32; j++) {
            p[28 + j] = (uint8_t)(x >> (8 * (j % 8)));
        }
        p += per_key;
    }
    double save[64];
    for (int k = 0; k < c->runs; k++) {
        struct storage_fs *fs;
        struct storage *s = open_wal(dir, &fs);
        struct storage_state st;
        check(s, storage_load(s, &st), "load");
        struct storage_snapshot_meta meta;
        memset(&meta, 0, sizeof meta);
        meta.index = 1000 + (raft_index)k;
        meta.term = 1;
        raft_id ids[3] = {1, 2, 3};
        raft_configuration_voters(&meta.conf, ids, 3);
        double start = now_s();
        check(s, storage_save_snapshot(s, &meta, payload, len), "snapshot");
        save[k] = now_s() - start;
        storage_free(s);
        storage_fs_free(fs);
    }
    free(payload);
    double ms = median(save, c->runs);
    printf(
        "\nSnapshot of %llu keys (16-byte keys, 32-byte values: %.1f MB "
        "payload):\n",
        (unsigned long long)c->keys, (double)len / 1e6);
    printf("  %-28s %8.3f s  %8.1f MB/s\n", "save (write, fsync, rename)", ms,
           (double)len / ms / 1e6);
    struct recovery_result warm[64];
    struct recovery_result cold[64];
    for (int k = 0; k < c->runs; k++) {
        cold[k] = in_child(measure_load, dir, true);
        warm[k] = in_child(measure_load, dir, false);
        if (warm[k].snapshot_bytes != len) {
            die("recovery", "wrong snapshot size");
        }
    }
    report_recovery("load, page cache dropped", cold, c->runs, (double)len);
    report_recovery("load, page cache warm", warm, c->runs, (double)len);
    remove_dir(dir);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: wal-bench [--dir DIR] [--runs R] [--seconds S] "
            "[--log-mib N] [--keys N] [--quick]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct config c = {"/tmp", 5, 2.0, 1024, 1000000};
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},
        {"dir", required_argument, NULL, 'd'},
        {"runs", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"log-mib", required_argument, NULL, 'l'},
        {"keys", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
            case 'q':
                c.runs = 1;
                c.seconds = 0.5;
                c.log_mib = 64;
                c.keys = 100000;
                break;
            case 'd':
                c.parent = optarg;
                break;
            case 'r':
                c.runs = atoi(optarg);
                break;
            case 's':
                c.seconds = atof(optarg);
                break;
            case 'l':
                c.log_mib = strtoull(optarg, NULL, 10);
                break;
            case 'k':
                c.keys = strtoull(optarg, NULL, 10);
                break;
            default:
                usage();
        }
    }
    if (optind < argc) {
        usage();
    }
    if (c.runs < 1 || c.runs > 64 || c.seconds <= 0 || c.log_mib == 0 ||
        c.keys == 0) {
        usage();
    }
    snprintf(root, sizeof root, "%s/wal-bench-XXXXXX", c.parent);
    if (mkdtemp(root) == NULL) {
        int err = errno;
        root[0] = '\0';
        die(c.parent, strerror(err));
    }
    atexit(cleanup);
    printf("wal-bench in %s: median of %d runs, %.1f s per append run\n", root,
           c.runs, c.seconds);

    double rates[64];
    for (int k = 0; k < c.runs; k++) {
        rates[k] = fdatasync_rate(c.seconds);
    }
    double sync_rate = median(rates, c.runs);
    printf(
        "\nRaw fdatasync rate (64-byte write + fdatasync): %.0f/s "
        "(%.3f ms each)\n",
        sync_rate, 1000.0 / sync_rate);

    /* The disk is shared and its speed drifts: each run is paired with a
     * raw fdatasync measurement taken just before it, and the ratio is the
     * median of the per-run ratios. */
    printf(
        "\nWAL append with group commit (one fdatasync per write), each "
        "run next to\na raw fdatasync run of half its length:\n");
    printf("  %6s %6s %12s %10s %10s %12s %8s\n", "entry", "batch", "entries/s",
           "MB/s", "writes/s", "fdatasync/s", "ratio");
    const size_t sizes[] = {64, 4096};
    const size_t batches[] = {1, 16, 256};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < 3; j++) {
            double eps[64];
            double wps[64];
            double raw[64];
            double ratio[64];
            for (int k = 0; k < c.runs; k++) {
                raw[k] = fdatasync_rate(c.seconds / 2);
                struct append_result r =
                    append_run(&c, sizes[i], batches[j], k);
                eps[k] = r.entries_per_s;
                wps[k] = r.writes_per_s;
                ratio[k] = r.writes_per_s / raw[k];
            }
            double e = median(eps, c.runs);
            printf("  %6zu %6zu %12.0f %10.2f %10.0f %12.0f %7.2fx\n", sizes[i],
                   batches[j], e, e * (double)sizes[i] / 1e6,
                   median(wps, c.runs), median(raw, c.runs),
                   median(ratio, c.runs));
        }
    }
    fflush(stdout);

    snapshot_recovery(&c);
    log_recovery(&c);
    printf("\nPeak RSS of the parent: %.1f MiB\n", peak_rss_mib());
    cleanup();
    return 0;
}
