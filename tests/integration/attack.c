/*
 * Attack helpers (see attack.h): forged peer batches, the peer service
 * called with any credentials from any source address, raw TCP floods and
 * idle connections, and gRPC slow readers.
 *
 * The gRPC pieces use the transport's internal helpers (grpc_internal.h:
 * channel credentials, integer channel arguments, deadlines) and its
 * codec (grpc_codec.h), so that a forged batch is byte for byte what a
 * node would send.
 */
#include "attack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "grpc_codec.h"
#include "grpc_internal.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Credentials and forged batches                                            */
/* ------------------------------------------------------------------------ */

/* @path whole, NUL-terminated, into a new buffer; NULL when unreadable. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096;
    size_t len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        len += fread(buf + len, 1, cap - 1 - len, f);
        if (len < cap - 1) {
            break;
        }
        char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf != NULL && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
    }
    return buf;
}

int attack_tls_read(const char *ca_file,
                    const char *cert_file,
                    const char *key_file,
                    struct transport_grpc_tls *out)
{
    memset(out, 0, sizeof *out);
    out->ca_pem = read_file(ca_file);
    if (cert_file != NULL) {
        out->cert_pem = read_file(cert_file);
        out->key_pem = read_file(key_file);
    }
    if (out->ca_pem == NULL || (cert_file != NULL && (out->cert_pem == NULL ||
                                                      out->key_pem == NULL))) {
        transport_grpc_tls_fini(out);
        memset(out, 0, sizeof *out);
        return COMMON_EIO;
    }
    out->clients_need_cert = true;
    return 0;
}

static uint64_t attack_cluster;

void attack_set_cluster(uint64_t id)
{
    attack_cluster = id;
}

int attack_batch_pack(const struct raft_message *const *msgs,
                      size_t n,
                      uint8_t **out,
                      size_t *len)
{
    struct transport_grpc_batch *b = NULL;
    int rv = transport_grpc_batch_new(msgs, n, &b);
    if (rv != 0) {
        return rv;
    }
    transport_grpc_batch_set_cluster(b, attack_cluster);
    *len = transport_grpc_batch_size(b);
    *out = malloc(*len > 0 ? *len : 1);
    if (*out == NULL) {
        transport_grpc_batch_free(b);
        return COMMON_ENOMEM;
    }
    transport_grpc_batch_pack(b, *out);
    transport_grpc_batch_free(b);
    return 0;
}

int attack_peer_send(const char *target,
                     const char *source_ip,
                     const struct transport_grpc_tls *tls,
                     const struct raft_message *const *msgs,
                     size_t n,
                     unsigned timeout_ms,
                     struct transport_grpc_result *res)
{
    memset(res, 0, sizeof *res);
    uint8_t *batch = NULL;
    size_t len = 0;
    int rv = attack_batch_pack(msgs, n, &batch, &len);
    if (rv != 0) {
        return rv;
    }
    struct attack_relay *relay = NULL;
    const char *address = target;
    if (source_ip != NULL) {
        rv = attack_relay_new(target, source_ip, &relay);
        address = relay != NULL ? attack_relay_address(relay) : NULL;
    }
    struct transport_grpc_client *c = NULL;
    if (rv == 0) {
        rv = transport_grpc_client_new(address, tls, &c);
    }
    if (rv == 0) {
        rv = transport_grpc_client_call(c, TRANSPORT_GRPC_RAFT_METHOD, batch,
                                        len, timeout_ms, res);
        free(res->data);
        res->data = NULL;
        res->len = 0;
    }
    transport_grpc_client_free(c);
    attack_relay_free(relay);
    free(batch);
    return rv;
}

/* ------------------------------------------------------------------------ */
/* Sockets                                                                   */
/* ------------------------------------------------------------------------ */

static int parse_ipv4(const char *ip, unsigned port, struct sockaddr_in *a)
{
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : COMMON_EINVAL;
}

/* "IP:PORT" into @a. */
static int parse_target(const char *target, struct sockaddr_in *a)
{
    char ip[64];
    const char *colon = strrchr(target, ':');
    if (colon == NULL || (size_t)(colon - target) >= sizeof ip) {
        return COMMON_EINVAL;
    }
    memcpy(ip, target, (size_t)(colon - target));
    ip[colon - target] = '\0';
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535) {
        return COMMON_EINVAL;
    }
    return parse_ipv4(ip, (unsigned)port, a);
}

static void set_nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A non-blocking socket bound to @source (port 0) and connecting to
 * @target; -1 when it cannot even start. */
static int connect_from(const struct sockaddr_in *source,
                        const struct sockaddr_in *target)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    set_nonblocking(fd);
    if (bind(fd, (const struct sockaddr *)source, sizeof *source) != 0 ||
        (connect(fd, (const struct sockaddr *)target, sizeof *target) != 0 &&
         errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool connected(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

unsigned attack_tcp_open(const char *source_ip,
                         const char *target_ip,
                         unsigned port,
                         unsigned count,
                         unsigned timeout_ms,
                         int *fds)
{
    struct sockaddr_in source;
    struct sockaddr_in target;
    for (unsigned k = 0; k < count; k++) {
        fds[k] = -1;
    }
    if (count == 0 || parse_ipv4(source_ip, 0, &source) != 0 ||
        parse_ipv4(target_ip, port, &target) != 0) {
        return 0;
    }
    struct pollfd *p = calloc(count, sizeof *p);
    unsigned *which = calloc(count, sizeof *which);
    bool *done = calloc(count, sizeof *done);
    if (p == NULL || which == NULL || done == NULL) {
        free(p);
        free(which);
        free(done);
        return 0;
    }
    for (unsigned k = 0; k < count; k++) {
        fds[k] = connect_from(&source, &target);
    }
    /* Wait for the connects still in progress, up to the deadline. */
    uint64_t until = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        nfds_t n = 0;
        for (unsigned k = 0; k < count; k++) {
            if (fds[k] >= 0 && !done[k]) {
                p[n] = (struct pollfd){.fd = fds[k], .events = POLLOUT};
                which[n++] = k;
            }
        }
        uint64_t now = now_ns();
        if (n == 0 || now >= until) {
            break;
        }
        int wait = (int)((until - now) / 1000000ull) + 1;
        if (poll(p, n, wait) < 0 && errno != EINTR) {
            break;
        }
        for (nfds_t i = 0; i < n; i++) {
            unsigned k = which[i];
            if (p[i].revents == 0) {
                continue;
            }
            if (connected(fds[k])) {
                done[k] = true;
            } else {
                close(fds[k]);
                fds[k] = -1;
            }
        }
    }
    /* Whatever did not complete in time does not count. */
    unsigned ok = 0;
    for (unsigned k = 0; k < count; k++) {
        if (done[k]) {
            ok++;
        } else if (fds[k] >= 0) {
            close(fds[k]);
            fds[k] = -1;
        }
    }
    free(p);
    free(which);
    free(done);
    return ok;
}

void attack_tcp_close(int *fds, unsigned count)
{
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    for (unsigned k = 0; k < count; k++) {
        if (fds[k] >= 0) {
            setsockopt(fds[k], SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
            close(fds[k]);
            fds[k] = -1;
        }
    }
}

void attack_tcp_flood(const char *source_ip,
                      const char *target_ip,
                      unsigned port,
                      unsigned count,
                      unsigned burst,
                      unsigned timeout_ms,
                      struct attack_flood_result *res)
{
    memset(res, 0, sizeof *res);
    burst = burst > 0 ? burst : 1;
    int *fds = calloc(burst, sizeof *fds);
    if (fds == NULL) {
        return;
    }
    uint64_t t0 = now_ns();
    while (res->attempted < count) {
        unsigned n =
            count - res->attempted < burst ? count - res->attempted : burst;
        res->connected +=
            attack_tcp_open(source_ip, target_ip, port, n, timeout_ms, fds);
        res->attempted += n;
        attack_tcp_close(fds, n);
    }
    res->elapsed_ns = now_ns() - t0;
    free(fds);
}

/* ------------------------------------------------------------------------ */
/* Relay                                                                     */
/* ------------------------------------------------------------------------ */

#define RELAY_PAIRS     256
#define RELAY_BUF_BYTES 16384

/* Bytes read from one side, waiting to be written to the other. */
struct relay_half
{
    uint8_t buf[RELAY_BUF_BYTES];
    size_t off;
    size_t len;
};

struct relay_pair
{
    int in;  /* accepted from the client, or -1 when the slot is free */
    int out; /* to the target, from the source address */
    bool connecting;
    struct relay_half up;   /* in -> out */
    struct relay_half down; /* out -> in */
};

struct attack_relay
{
    int listen_fd;
    int wake[2];
    pthread_t thread;
    bool started;
    struct sockaddr_in target;
    struct sockaddr_in source;
    char address[32];
    struct relay_pair pairs[RELAY_PAIRS];
};

static void pair_close(struct relay_pair *p)
{
    if (p->in >= 0) {
        close(p->in);
    }
    if (p->out >= 0) {
        close(p->out);
    }
    p->in = -1;
    p->out = -1;
    p->connecting = false;
    p->up.off = p->up.len = 0;
    p->down.off = p->down.len = 0;
}

/* Reads what @from has into @h while there is room; false at the end of
 * the stream or on an error. */
static bool half_fill(int from, struct relay_half *h)
{
    if (h->off == h->len) {
        h->off = h->len = 0;
    }
    if (h->len == sizeof h->buf) {
        return true;
    }
    ssize_t n = read(from, h->buf + h->len, sizeof h->buf - h->len);
    if (n > 0) {
        h->len += (size_t)n;
        return true;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* Writes what @h holds to @to; false on an error. */
static bool half_drain(int to, struct relay_half *h)
{
    if (h->off == h->len) {
        return true;
    }
    ssize_t n = send(to, h->buf + h->off, h->len - h->off, MSG_NOSIGNAL);
    if (n > 0) {
        h->off += (size_t)n;
        return true;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

static void relay_accept(struct attack_relay *r)
{
    int fd = accept(r->listen_fd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    set_nonblocking(fd);
    for (size_t k = 0; k < RELAY_PAIRS; k++) {
        struct relay_pair *p = &r->pairs[k];
        if (p->in < 0) {
            p->in = fd;
            p->out = connect_from(&r->source, &r->target);
            p->connecting = true;
            if (p->out < 0) {
                pair_close(p);
            }
            return;
        }
    }
    close(fd);
}

/* Moves what can move on pair @p after poll said @in_ev and @out_ev. */
static void relay_pair_step(struct relay_pair *p, short in_ev, short out_ev)
{
    if (p->connecting) {
        if (out_ev == 0) {
            return;
        }
        if (!connected(p->out)) {
            pair_close(p);
            return;
        }
        p->connecting = false;
    }
    bool ok = true;
    if (in_ev & (POLLIN | POLLHUP | POLLERR)) {
        ok = half_fill(p->in, &p->up);
    }
    if (ok && (out_ev & (POLLIN | POLLHUP | POLLERR))) {
        ok = half_fill(p->out, &p->down);
    }
    if (ok) {
        ok = half_drain(p->out, &p->up) && half_drain(p->in, &p->down);
    }
    if (!ok) {
        pair_close(p);
    }
}

static short half_events(const struct relay_half *read_into,
                         const struct relay_half *write_from)
{
    short ev = 0;
    if (read_into->len < sizeof read_into->buf || read_into->off > 0) {
        ev |= POLLIN;
    }
    if (write_from->off < write_from->len) {
        ev |= POLLOUT;
    }
    return ev;
}

static void *relay_main(void *arg)
{
    struct attack_relay *r = arg;
    static const size_t n_fds = 2 + 2 * RELAY_PAIRS;
    struct pollfd *p = calloc(n_fds, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    for (;;) {
        p[0] = (struct pollfd){.fd = r->wake[0], .events = POLLIN};
        p[1] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
        for (size_t k = 0; k < RELAY_PAIRS; k++) {
            struct relay_pair *q = &r->pairs[k];
            struct pollfd *in = &p[2 + 2 * k];
            struct pollfd *out = &p[3 + 2 * k];
            *in = (struct pollfd){.fd = -1};
            *out = (struct pollfd){.fd = -1};
            if (q->in < 0) {
                continue;
            }
            out->fd = q->out;
            if (q->connecting) {
                out->events = POLLOUT;
                continue;
            }
            in->fd = q->in;
            in->events = half_events(&q->up, &q->down);
            out->events = half_events(&q->down, &q->up);
        }
        if (poll(p, n_fds, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (p[0].revents != 0) {
            break;
        }
        if (p[1].revents & POLLIN) {
            relay_accept(r);
        }
        for (size_t k = 0; k < RELAY_PAIRS; k++) {
            short in_ev = p[2 + 2 * k].revents;
            short out_ev = p[3 + 2 * k].revents;
            if (r->pairs[k].in >= 0 && (in_ev != 0 || out_ev != 0)) {
                relay_pair_step(&r->pairs[k], in_ev, out_ev);
            }
        }
    }
    free(p);
    return NULL;
}

int attack_relay_new(const char *target,
                     const char *source_ip,
                     struct attack_relay **out)
{
    *out = NULL;
    struct attack_relay *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return COMMON_ENOMEM;
    }
    r->listen_fd = -1;
    r->wake[0] = r->wake[1] = -1;
    for (size_t k = 0; k < RELAY_PAIRS; k++) {
        r->pairs[k].in = r->pairs[k].out = -1;
    }
    if (parse_target(target, &r->target) != 0 ||
        parse_ipv4(source_ip, 0, &r->source) != 0) {
        attack_relay_free(r);
        return COMMON_EINVAL;
    }
    struct sockaddr_in a;
    parse_ipv4("127.0.0.1", 0, &a);
    socklen_t alen = sizeof a;
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->listen_fd < 0 || pipe(r->wake) != 0 ||
        bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(r->listen_fd, 64) != 0 ||
        getsockname(r->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        attack_relay_free(r);
        return COMMON_EIO;
    }
    set_nonblocking(r->listen_fd);
    snprintf(r->address, sizeof r->address, "127.0.0.1:%u",
             (unsigned)ntohs(a.sin_port));
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        attack_relay_free(r);
        return COMMON_ENOMEM;
    }
    r->started = true;
    *out = r;
    return 0;
}

const char *attack_relay_address(const struct attack_relay *r)
{
    return r->address;
}

void attack_relay_free(struct attack_relay *r)
{
    if (r == NULL) {
        return;
    }
    if (r->started) {
        ssize_t n = write(r->wake[1], "x", 1);
        (void)n;
        pthread_join(r->thread, NULL);
    }
    for (size_t k = 0; k < RELAY_PAIRS; k++) {
        pair_close(&r->pairs[k]);
    }
    if (r->listen_fd >= 0) {
        close(r->listen_fd);
    }
    for (int k = 0; k < 2; k++) {
        if (r->wake[k] >= 0) {
            close(r->wake[k]);
        }
    }
    free(r);
}

/* ------------------------------------------------------------------------ */
/* Slow readers                                                              */
/* ------------------------------------------------------------------------ */

#define SLOW_CALLS_MAX 4096

struct attack_slow_reader
{
    grpc_channel *channel;
    grpc_completion_queue *cq;
    pthread_t thread;
    bool started;
    /* Only the thread that starts calls and frees the reader touches
     * these; gRPC's threads see them through the calls only. */
    grpc_call *calls[SLOW_CALLS_MAX];
    grpc_byte_buffer *requests[SLOW_CALLS_MAX];
    unsigned n;
};

/* Drives the channel (a connection moves only while someone waits in its
 * queue) and drops the completions of the sends. */
static void *slow_reader_main(void *arg)
{
    struct attack_slow_reader *r = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            r->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            return NULL;
        }
    }
}

int attack_slow_reader_new(const char *address,
                           const struct transport_grpc_tls *tls,
                           unsigned lookahead_bytes,
                           struct attack_slow_reader **out)
{
    *out = NULL;
    struct attack_slow_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return COMMON_ENOMEM;
    }
    transport_grpc_init();
    grpc_arg args[6];
    size_t n = 0;
    args[n++] = transport_grpc_int_arg(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
                                       (int)lookahead_bytes);
    /* A connection of its own, not one shared with the other readers. */
    args[n++] = transport_grpc_int_arg(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_ENABLE_RETRIES, 0);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, -1);
    grpc_channel_args ca = {.num_args = n, .args = args};
    grpc_channel_credentials *creds = transport_grpc_channel_creds(tls);
    r->channel = grpc_channel_create(address, creds, &ca);
    grpc_channel_credentials_release(creds);
    r->cq = grpc_completion_queue_create_for_next(NULL);
    if (r->channel == NULL || r->cq == NULL ||
        pthread_create(&r->thread, NULL, slow_reader_main, r) != 0) {
        attack_slow_reader_free(r);
        return COMMON_ENOMEM;
    }
    r->started = true;
    *out = r;
    return 0;
}

unsigned attack_slow_reader_start(struct attack_slow_reader *r,
                                  const char *method,
                                  const void *req,
                                  size_t len,
                                  unsigned calls,
                                  unsigned deadline_ms)
{
    unsigned started = 0;
    grpc_slice path = grpc_slice_from_copied_string(method);
    while (started < calls && r->n < SLOW_CALLS_MAX) {
        grpc_call *call = grpc_channel_create_call(
            r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq, path, NULL,
            transport_grpc_deadline(deadline_ms), NULL);
        if (call == NULL) {
            break;
        }
        grpc_byte_buffer *bb = transport_grpc_buffer(req, len);
        grpc_op ops[3];
        memset(ops, 0, sizeof ops);
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = bb;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        /* No receive: the answer stays unread, the window stays shut. */
        if (bb == NULL ||
            grpc_call_start_batch(call, ops, 3, call, NULL) != GRPC_CALL_OK) {
            grpc_call_unref(call);
            if (bb != NULL) {
                grpc_byte_buffer_destroy(bb);
            }
            break;
        }
        r->calls[r->n] = call;
        r->requests[r->n] = bb;
        r->n++;
        started++;
    }
    grpc_slice_unref(path);
    return started;
}

void attack_slow_reader_free(struct attack_slow_reader *r)
{
    if (r == NULL) {
        return;
    }
    for (unsigned k = 0; k < r->n; k++) {
        grpc_call_cancel(r->calls[k], NULL);
        grpc_call_unref(r->calls[k]);
    }
    if (r->channel != NULL) {
        grpc_channel_destroy(r->channel);
    }
    if (r->cq != NULL) {
        grpc_completion_queue_shutdown(r->cq);
        if (r->started) {
            pthread_join(r->thread, NULL);
        } else {
            while (grpc_completion_queue_next(
                       r->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
                       .type != GRPC_QUEUE_SHUTDOWN) {
            }
        }
        grpc_completion_queue_destroy(r->cq);
    }
    for (unsigned k = 0; k < r->n; k++) {
        grpc_byte_buffer_destroy(r->requests[k]);
    }
    free(r);
    grpc_shutdown();
}
