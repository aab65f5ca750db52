/*
 * The connection gate of raftkv-server: caps on the TCP connections the
 * process holds - in total, per source address, and on how fast one
 * address may open them - and a reserve of file descriptors that client
 * connections never take, so that the write-ahead log never fails with
 * EMFILE because of them.
 *
 * Why it sits where it does. The gRPC C core (Debian's 1.51) accepts every
 * connection its listener is offered and has no argument capping them;
 * worse, when accept4() fails with EMFILE its listener stops for good
 * (grpc/grpc#20418, #31080): a server at its descriptor limit never
 * accepts again, even after descriptors are freed. So the gate takes the
 * place of accept4() itself in this program (an executable's definition of
 * a libc function comes before libc's for the shared libraries it loads:
 * ELF symbol interposition) and calls the real one, found with
 * dlsym(RTLD_NEXT) (a sanitizer's interceptor when there is one, else
 * libc's). A connection over a cap is closed at once, before gRPC sees it
 * - no TLS handshake, no memory - and the gate keeps asking for the next
 * one until the backlog is empty, so gRPC sees only connections it may
 * keep. No error that gRPC takes as fatal to its listener reaches it:
 * at EMFILE the gate frees a spare descriptor, accepts and closes the
 * waiting connections and takes the spare back, then says EAGAIN; a
 * connection that failed on its own (ECONNABORTED, EPROTO) is skipped.
 *
 * The cluster's own hosts (the members' addresses in --cluster) have no
 * cap or rate of their own and may go past the total cap into a reserve of
 * their own, so that a flood from elsewhere never keeps a peer from
 * reconnecting (they still need TLS to be heard).
 *
 * Counting closes. gRPC closes connections on its own threads; rather than
 * intercept every close() in the process, the gate remembers each admitted
 * connection as (descriptor, device, inode): a socket's inode is unique
 * while it is open, so fstat() tells whether the descriptor still holds
 * that socket. Counts are upper bounds between sweeps; a sweep runs when a
 * cap is reached (at most every SWEEP_MIN_NS) and when the server asks
 * (once a second), so a cap refuses only what is really over it.
 *
 * Thread safety: one mutex; accept4() may run on any of gRPC's threads.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>
#include <netinet/in.h>

#include "cmd/cmd.h"

/* On-demand sweeps at most this often while a cap is reached. */
#define SWEEP_MIN_NS 10000000ull
/* Source addresses remembered for their rate, beyond those holding
 * connections. */
#define ADDRESSES_EXTRA 1024u

/* glibc declares accept4() only with _GNU_SOURCE, and then with a
 * transparent union for its address: this file takes the plain POSIX
 * view, declares the function itself, and names glibc's RTLD_NEXT. */
#ifndef RTLD_NEXT
#define RTLD_NEXT ((void *)-1L)
#endif
#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC O_CLOEXEC
#endif
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

struct address
{
    uint8_t key[17]; /* family byte + 4 or 16 address bytes; [0] 0: free */
    bool member;     /* a cluster member's host: see cmd_gate_options */
    unsigned open;   /* admitted connections from it, not yet swept */
    double tokens;   /* its rate bucket */
    uint64_t refilled_ns;
};

struct conn
{
    int fd; /* -1: free slot */
    dev_t dev;
    ino_t ino;
    uint32_t address; /* index in addresses */
};

static struct
{
    pthread_mutex_t lock;
    bool on;
    struct cmd_gate_options o;
    unsigned cap; /* effective total cap */
    /* The members' hosts, as address keys. */
    uint8_t (*members)[17];
    size_t n_members;
    /* Admitted connections: slots, free ones chained through fd = -1. */
    struct conn *conns;
    unsigned slots; /* cap + member_reserve */
    unsigned open;  /* admitted, not yet swept away */
    /* Source addresses: open addressing, linear probing. */
    struct address *addresses;
    uint32_t n_addresses; /* capacity, a power of two */
    uint32_t used_addresses;
    uint64_t swept_ns;
    int spare; /* a descriptor kept to refuse connections at EMFILE */
    struct cmd_gate_stats stats;
} gate = {.lock = PTHREAD_MUTEX_INITIALIZER, .spare = -1};

static accept4_fn real_accept4;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void find_real(void)
{
    real_accept4 = (accept4_fn)(uintptr_t)dlsym(RTLD_NEXT, "accept4");
}

static uint64_t now_ns(void)
{
    return common_now_ns();
}

/* The key of @ss: family, then the address bytes. */
static bool address_key(const struct sockaddr_storage *ss, uint8_t key[17])
{
    memset(key, 0, 17);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        key[0] = 4;
        memcpy(key + 1, &in->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        /* An IPv4 client on a dual-stack socket counts as itself. */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                           0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(in6->sin6_addr.s6_addr, mapped, 12) == 0) {
            key[0] = 4;
            memcpy(key + 1, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, in6->sin6_addr.s6_addr, 16);
        }
        return true;
    }
    return false; /* unix sockets and the like: not counted per address */
}

static uint32_t address_hash(const uint8_t key[17])
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int k = 0; k < 17; k++) {
        h = (h ^ key[k]) * 0x100000001b3ull;
    }
    return (uint32_t)(common_mix64(h));
}

/* The slot of @key, or of the free slot where it would go. */
static uint32_t address_slot(const uint8_t key[17])
{
    uint32_t mask = gate.n_addresses - 1;
    uint32_t i = address_hash(key) & mask;
    while (gate.addresses[i].key[0] != 0 &&
           memcmp(gate.addresses[i].key, key, 17) != 0) {
        i = (i + 1) & mask;
    }
    return i;
}

/* Forgets every address that holds no connection (their rate buckets
 * start full again), rebuilding the table. */
static void addresses_compact(void)
{
    uint32_t n = gate.n_addresses;
    struct address *old = malloc(n * sizeof *old);
    if (old == NULL) {
        return;
    }
    memcpy(old, gate.addresses, n * sizeof *old);
    memset(gate.addresses, 0, n * sizeof *old);
    gate.used_addresses = 0;
    uint32_t *moved = calloc(n, sizeof *moved);
    for (uint32_t k = 0; k < n; k++) {
        if (old[k].key[0] == 0 || old[k].open == 0) {
            continue;
        }
        uint32_t i = address_slot(old[k].key);
        gate.addresses[i] = old[k];
        gate.used_addresses++;
        if (moved != NULL) {
            moved[k] = i + 1;
        }
    }
    /* Connections point at addresses by index: follow the move. */
    for (unsigned c = 0; c < gate.slots && moved != NULL; c++) {
        if (gate.conns[c].fd >= 0) {
            gate.conns[c].address = moved[gate.conns[c].address] - 1;
        }
    }
    free(moved);
    free(old);
}

/* Forgets connections whose descriptor no longer holds their socket. */
static void sweep(uint64_t now)
{
    gate.swept_ns = now;
    for (unsigned k = 0; k < gate.slots; k++) {
        struct conn *c = &gate.conns[k];
        if (c->fd < 0) {
            continue;
        }
        struct stat st;
        if (fstat(c->fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
            st.st_dev == c->dev && st.st_ino == c->ino) {
            continue;
        }
        struct address *a = &gate.addresses[c->address];
        if (a->open > 0) {
            a->open--;
        }
        c->fd = -1;
        gate.open--;
    }
}

/* Refills @a's bucket and takes a token; false when empty. */
static bool take_token(struct address *a, uint64_t now)
{
    double burst = 2.0 * gate.o.rate_per_address;
    if (now > a->refilled_ns) {
        a->tokens += (double)(now - a->refilled_ns) * 1e-9 *
                     (double)gate.o.rate_per_address;
        if (a->tokens > burst) {
            a->tokens = burst;
        }
    }
    a->refilled_ns = now;
    if (a->tokens < 1.0) {
        return false;
    }
    a->tokens -= 1.0;
    return true;
}

static bool is_member(const uint8_t key[17])
{
    for (size_t k = 0; k < gate.n_members; k++) {
        if (memcmp(gate.members[k], key, 17) == 0) {
            return true;
        }
    }
    return false;
}

/* Decides about the connection on @fd from @ss; records it when admitted.
 * Lock held. */
static bool admit(int fd, const struct sockaddr_storage *ss)
{
    uint8_t key[17];
    if (!address_key(ss, key)) {
        gate.stats.accepted++;
        return true;
    }
    uint64_t now = now_ns();
    uint32_t i = address_slot(key);
    if (gate.addresses[i].key[0] == 0) {
        if (gate.used_addresses + 1 > gate.n_addresses / 2) {
            addresses_compact();
            i = address_slot(key);
        }
        if (gate.used_addresses + 1 > gate.n_addresses / 2) {
            gate.stats.refused_total++;
            return false; /* cannot happen while caps hold; be safe */
        }
        memcpy(gate.addresses[i].key, key, 17);
        gate.addresses[i].open = 0;
        gate.addresses[i].refilled_ns = 0;
        gate.used_addresses++;
    }
    struct address *a = &gate.addresses[i];
    if (a->refilled_ns == 0) {
        a->member = is_member(key);
        a->tokens = 2.0 * gate.o.rate_per_address;
        a->refilled_ns = now;
    }
    if (!a->member && !take_token(a, now)) {
        gate.stats.refused_rate++;
        return false;
    }
    /* Members' hosts may go past the total cap, into their reserve, and
     * have no cap of their own: a flood from elsewhere never keeps a peer
     * from connecting. */
    unsigned cap = a->member ? gate.cap + gate.o.member_reserve : gate.cap;
    bool over =
        gate.open >= cap || (!a->member && a->open >= gate.o.max_per_address);
    if (over && now - gate.swept_ns >= SWEEP_MIN_NS) {
        sweep(now);
    }
    if (gate.open >= cap) {
        gate.stats.refused_total++;
        return false;
    }
    if (!a->member && a->open >= gate.o.max_per_address) {
        gate.stats.refused_address++;
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return false;
    }
    unsigned slot = 0;
    while (gate.conns[slot].fd >= 0) {
        slot++; /* a free one exists: open < cap */
    }
    gate.conns[slot] = (struct conn){
        .fd = fd, .dev = st.st_dev, .ino = st.st_ino, .address = i};
    gate.open++;
    a->open++;
    gate.stats.accepted++;
    return true;
}

/* At EMFILE: refuses the waiting connections with the spare descriptor.
 * Lock held. */
static void refuse_at_limit(int listen_fd)
{
    while (gate.spare >= 0) {
        close(gate.spare);
        gate.spare = -1;
        int c = real_accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) {
            close(c);
            gate.stats.refused_descriptors++;
        }
        gate.spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (c < 0) {
            return;
        }
    }
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    pthread_once(&real_once, find_real);
    if (real_accept4 == NULL) {
        errno = ENOSYS;
        return -1;
    }
    pthread_mutex_lock(&gate.lock);
    bool on = gate.on;
    pthread_mutex_unlock(&gate.lock);
    if (!on) {
        return real_accept4(fd, addr, len, flags);
    }
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        memset(&ss, 0, sizeof ss);
        int c = real_accept4(fd, (struct sockaddr *)&ss, &sl, flags);
        if (c < 0) {
            switch (errno) {
                case EAGAIN:
                case EINTR:
                case EBADF: /* the listener is closing */
                case EINVAL:
                case ENOTSOCK:
                    return -1;
                case EMFILE:
                case ENFILE:
                    pthread_mutex_lock(&gate.lock);
                    refuse_at_limit(fd);
                    pthread_mutex_unlock(&gate.lock);
                    errno = EAGAIN;
                    return -1;
                case ENOBUFS:
                case ENOMEM:
                    errno = EAGAIN;
                    return -1;
                default:
                    /* ECONNABORTED, EPROTO, network errors: that one
                     * connection failed (accept(2) says to retry). gRPC
                     * 1.51 treats any of these as fatal to its listener,
                     * so none of them reaches it. */
                    continue;
            }
        }
        pthread_mutex_lock(&gate.lock);
        bool ok = admit(c, &ss);
        pthread_mutex_unlock(&gate.lock);
        if (ok) {
            if (addr != NULL && len != NULL) {
                socklen_t n = *len < sl ? *len : sl;
                memcpy(addr, &ss, n);
                *len = sl;
            }
            return c;
        }
        /* Closed before gRPC knows of it: a reset for the caller. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c);
    }
}

void cmd_gate_options_default(struct cmd_gate_options *o)
{
    o->max_connections = 1024;
    o->max_per_address = 256;
    o->rate_per_address = 200;
    o->reserve_descriptors = 128;
    o->member_reserve = 64;
    o->member_hosts = NULL;
    o->n_member_hosts = 0;
}

/* The address keys of @host (a name or an address), added to the
 * members. */
static void add_member_host(const char *host)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0) {
        return; /* not resolvable now: it gets no reserve */
    }
    for (struct addrinfo *p = ai; p != NULL; p = p->ai_next) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, p->ai_addr, p->ai_addrlen);
        uint8_t key[17];
        if (!address_key(&ss, key) || is_member(key)) {
            continue;
        }
        uint8_t(*m)[17] =
            realloc(gate.members, (gate.n_members + 1) * sizeof *m);
        if (m == NULL) {
            break;
        }
        gate.members = m;
        memcpy(gate.members[gate.n_members++], key, 17);
    }
    freeaddrinfo(ai);
}

int cmd_gate_start(const struct cmd_gate_options *o, char *why, size_t why_len)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(why, why_len, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {.rlim_cur = rl.rlim_max,
                                .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            rl = raised;
        }
    }
    uint64_t limit = rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : rl.rlim_cur;
    if (limit < (uint64_t)o->reserve_descriptors + o->member_reserve + 16) {
        snprintf(why, why_len,
                 "the descriptor limit (%llu) leaves no room for connections "
                 "beside the %u kept for storage and peers: raise it "
                 "(ulimit -n)",
                 (unsigned long long)limit,
                 o->reserve_descriptors + o->member_reserve);
        return -1;
    }
    uint64_t room = limit - o->reserve_descriptors - o->member_reserve;
    unsigned cap =
        o->max_connections < room ? o->max_connections : (unsigned)room;
    uint32_t n = 64;
    while (n < 2u * (cap + ADDRESSES_EXTRA)) {
        n *= 2;
    }
    unsigned slots = cap + o->member_reserve;
    struct conn *conns = malloc(slots * sizeof *conns);
    struct address *addresses = calloc(n, sizeof *addresses);
    int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (conns == NULL || addresses == NULL || spare < 0) {
        free(conns);
        free(addresses);
        if (spare >= 0) {
            close(spare);
        }
        snprintf(why, why_len, "out of memory for the connection gate");
        return -1;
    }
    for (unsigned k = 0; k < slots; k++) {
        conns[k].fd = -1;
    }
    pthread_mutex_lock(&gate.lock);
    gate.o = *o;
    gate.o.max_connections = cap;
    gate.o.member_hosts = NULL;
    gate.cap = cap;
    gate.slots = slots;
    for (size_t k = 0; k < o->n_member_hosts; k++) {
        add_member_host(o->member_hosts[k]);
    }
    gate.conns = conns;
    gate.addresses = addresses;
    gate.n_addresses = n;
    gate.spare = spare;
    gate.on = true;
    pthread_mutex_unlock(&gate.lock);
    return (int)cap;
}

void cmd_gate_sweep(void)
{
    pthread_mutex_lock(&gate.lock);
    if (gate.on) {
        sweep(now_ns());
    }
    pthread_mutex_unlock(&gate.lock);
}

void cmd_gate_stats(struct cmd_gate_stats *s)
{
    pthread_mutex_lock(&gate.lock);
    *s = gate.stats;
    s->open = gate.open;
    s->cap = gate.cap;
    pthread_mutex_unlock(&gate.lock);
}

void cmd_gate_stop(void)
{
    pthread_mutex_lock(&gate.lock);
    gate.on = false;
    free(gate.conns);
    free(gate.addresses);
    free(gate.members);
    gate.conns = NULL;
    gate.addresses = NULL;
    gate.members = NULL;
    gate.n_members = 0;
    if (gate.spare >= 0) {
        close(gate.spare);
        gate.spare = -1;
    }
    pthread_mutex_unlock(&gate.lock);
}
