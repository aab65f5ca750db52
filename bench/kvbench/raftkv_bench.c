/*
 * raftkv-bench: a gRPC load generator that keeps N requests in flight
 * against a key-value cluster and reports operations per second and the
 * p50/p99 latency. It drives raftkv (raftkv.KV/Put and Get, proto/kv.proto)
 * or etcd (etcdserverpb.KV/Put and Range with serializable = false, i.e.
 * linearizable reads; bench/kvbench/etcd_kv.proto), so that both can be
 * measured the same way on the same machine.
 *
 *   raftkv-bench --target raftkv|etcd --endpoints HOST:PORT[,...]
 *                --op put|get|load [--inflight N] [--seconds S] [--warmup S]
 *                [--keys K] [--value-size B] [--deadline-ms MS]
 *                [--via leader|follower]
 *                (--tls-ca FILE [--tls-cert FILE --tls-key FILE] | --insecure)
 *   raftkv-bench --target raftkv --endpoints ... --op append --history FILE
 *                [--inflight N] [--seconds S] [--keys K] [--get-percent P]
 *                [--deadline-ms MS] [--op-timeout-ms MS] [--seed N]
 *                [--retry-unknown] ...
 *
 * It finds the leader first (raftkv: Status; etcd: Maintenance.Status) and
 * sends everything to it, so neither system pays for forwarding; with
 * --via follower it sends everything to the endpoint after the leader's
 * in the list instead, to measure a follower's forwarding (raftkv-server
 * --proxy, docs/api.md). For get,
 * every key is written once before the measurement; load only writes
 * every key once (--keys of them, --value-size bytes each) and reports how
 * long that took, for the memory benchmark (bench/kvbench/memory.sh). One
 * thread, one completion queue; each completion starts the next request
 * at once.
 *
 * append is not a throughput measurement but a history generator for the
 * checker (bench/kvbench/kill9.sh): see history.c.
 */
#include <assert.h>
#include <getopt.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "bench/kvbench/etcd_kv.pb-c.h"
#include "common/common.h"
#include "proto/kv.pb-c.h"
#include "transport/transport.h"

/* A preload or load looks for the leader again after a failed put, and
 * gives up after this many looks. */
#define PRELOAD_RELOCATIONS_MAX 100

struct bench
{
    struct opts o;
    grpc_completion_queue *cq;
    grpc_channel *channel;
    void *put_method;
    void *get_method;
    struct common_prng prng;
    char *value;
    struct call calls[MAX_INFLIGHT];
    uint64_t *lat;
    size_t n_lat;
    size_t cap_lat;
    uint64_t ok;
    uint64_t errors;
    uint64_t measure_from;
    uint64_t measure_to;
    unsigned relocations; /* leader changes a preload met */
    char first_error[256];
};

static void usage(void)
{
    fprintf(stderr,
            "usage: raftkv-bench --target raftkv|etcd --endpoints "
            "HOST:PORT[,...] --op put|get|load\n"
            "                    [--inflight N] [--seconds S] [--warmup S] "
            "[--keys K]\n"
            "                    [--value-size B] [--deadline-ms MS] "
            "[--via leader|follower]\n"
            "                    (--tls-ca FILE [--tls-cert FILE --tls-key "
            "FILE] | --insecure)\n"
            "       raftkv-bench --target raftkv --endpoints HOST:PORT[,...] "
            "--op append\n"
            "                    --history FILE [--inflight N] [--seconds S] "
            "[--keys K]\n"
            "                    [--get-percent P] [--deadline-ms MS] "
            "[--op-timeout-ms MS]\n"
            "                    [--seed N] [--retry-unknown] (TLS flags | "
            "--insecure)\n");
}

grpc_byte_buffer *bench_buffer_of(void *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *b = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return b;
}

uint8_t *bench_flatten(grpc_byte_buffer *b, size_t *len)
{
    if (b == NULL) {
        return NULL;
    }
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, b)) {
        return NULL;
    }
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(s);
    uint8_t *out = malloc(*len > 0 ? *len : 1);
    if (out != NULL && *len > 0) {
        memcpy(out, GRPC_SLICE_START_PTR(s), *len);
    }
    grpc_slice_unref(s);
    return out;
}

static void key_of(unsigned k, char *buf, size_t size)
{
    snprintf(buf, size, "bench-%08u", k);
}

static grpc_byte_buffer *build_request(struct bench *b,
                                       enum op op,
                                       unsigned key)
{
    char kbuf[32];
    key_of(key, kbuf, sizeof kbuf);
    ProtobufCBinaryData k = {.len = strlen(kbuf), .data = (uint8_t *)kbuf};
    ProtobufCBinaryData v = {.len = b->o.value_size,
                             .data = (uint8_t *)b->value};
    uint8_t buf[65536 + 128];
    size_t n = 0;
    if (b->o.target == TARGET_RAFTKV) {
        if (op == OP_PUT) {
            Raftkv__PutRequest m = RAFTKV__PUT_REQUEST__INIT;
            m.key = k;
            m.value = v;
            n = raftkv__put_request__pack(&m, buf);
        } else {
            Raftkv__GetRequest m = RAFTKV__GET_REQUEST__INIT;
            m.key = k;
            n = raftkv__get_request__pack(&m, buf);
        }
    } else {
        if (op == OP_PUT) {
            Etcdserverpb__PutRequest m = ETCDSERVERPB__PUT_REQUEST__INIT;
            m.key = k;
            m.value = v;
            n = etcdserverpb__put_request__pack(&m, buf);
        } else {
            Etcdserverpb__RangeRequest m = ETCDSERVERPB__RANGE_REQUEST__INIT;
            m.key = k;
            m.serializable = false; /* linearizable */
            n = etcdserverpb__range_request__pack(&m, buf);
        }
    }
    return bench_buffer_of(buf, n);
}

/* Checks a completed call's answer: the transport status and, for raftkv,
 * the response code. */
static bool answer_ok(struct bench *b, struct call *c, enum op op)
{
    if (c->status != GRPC_STATUS_OK) {
        if (b->first_error[0] == '\0') {
            char *d = grpc_slice_to_c_string(c->details);
            snprintf(b->first_error, sizeof b->first_error,
                     "gRPC status %d: %s", (int)c->status, d);
            gpr_free(d);
        }
        return false;
    }
    if (b->o.target == TARGET_ETCD) {
        return c->recv != NULL;
    }
    size_t len = 0;
    uint8_t *bytes = bench_flatten(c->recv, &len);
    if (bytes == NULL) {
        return false;
    }
    Raftkv__ResponseHeader *h = NULL;
    bool ok = false;
    if (op == OP_PUT) {
        Raftkv__PutResponse *r = raftkv__put_response__unpack(NULL, len, bytes);
        h = r != NULL ? r->header : NULL;
        ok = h != NULL && h->code == RAFTKV__CODE__CODE_OK;
        if (!ok && h != NULL && b->first_error[0] == '\0') {
            snprintf(b->first_error, sizeof b->first_error,
                     "raftkv code %d: %s", (int)h->code, h->message);
        }
        if (r != NULL) {
            raftkv__put_response__free_unpacked(r, NULL);
        }
    } else {
        Raftkv__GetResponse *r = raftkv__get_response__unpack(NULL, len, bytes);
        h = r != NULL ? r->header : NULL;
        ok = h != NULL && (h->code == RAFTKV__CODE__CODE_OK ||
                           h->code == RAFTKV__CODE__CODE_NOT_FOUND);
        if (!ok && h != NULL && b->first_error[0] == '\0') {
            snprintf(b->first_error, sizeof b->first_error,
                     "raftkv code %d: %s", (int)h->code, h->message);
        }
        if (r != NULL) {
            raftkv__get_response__free_unpacked(r, NULL);
        }
    }
    free(bytes);
    return ok;
}

void bench_call_start(struct call *c,
                      grpc_channel *ch,
                      grpc_completion_queue *cq,
                      void *method,
                      grpc_byte_buffer *send,
                      int deadline_ms)
{
    c->send = send;
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
    c->call = grpc_channel_create_registered_call(
        ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, deadline, NULL);
    grpc_metadata_array_init(&c->md_initial);
    grpc_metadata_array_init(&c->md_trailing);
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->md_initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->md_trailing;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    c->start_ns = common_now_ns();
    grpc_call_error err = grpc_call_start_batch(c->call, ops, 6, c, NULL);
    if (err != GRPC_CALL_OK) {
        fprintf(stderr, "raftkv-bench: cannot start a call (%d)\n", (int)err);
        exit(1);
    }
}

static void start(struct bench *b,
                  struct call *c,
                  enum op op,
                  unsigned key,
                  int preload_key)
{
    memset(c, 0, sizeof *c);
    c->preload_key = preload_key;
    bench_call_start(c, b->channel, b->cq,
                     op == OP_PUT ? b->put_method : b->get_method,
                     build_request(b, op, key), b->o.deadline_ms);
}

void bench_call_finish(struct call *c)
{
    grpc_metadata_array_destroy(&c->md_initial);
    grpc_metadata_array_destroy(&c->md_trailing);
    grpc_slice_unref(c->details);
    grpc_byte_buffer_destroy(c->send);
    if (c->recv != NULL) {
        grpc_byte_buffer_destroy(c->recv);
    }
    grpc_call_unref(c->call);
}

static void record(struct bench *b, uint64_t lat)
{
    if (b->n_lat == b->cap_lat) {
        size_t cap = b->cap_lat ? b->cap_lat * 2 : 65536;
        uint64_t *l = realloc(b->lat, cap * sizeof *l);
        if (l == NULL) {
            return;
        }
        b->lat = l;
        b->cap_lat = cap;
    }
    b->lat[b->n_lat++] = lat;
}

/* One synchronous unary call (leader discovery); the answer flattened. */
static uint8_t *unary(grpc_channel *ch,
                      const char *method,
                      void *req,
                      size_t req_len,
                      size_t *len)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(
        gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(2000, GPR_TIMESPAN));
    grpc_slice m = grpc_slice_from_static_string(method);
    grpc_call *call = grpc_channel_create_call(
        ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline, NULL);
    struct call c;
    memset(&c, 0, sizeof c);
    c.send = bench_buffer_of(req, req_len);
    grpc_metadata_array_init(&c.md_initial);
    grpc_metadata_array_init(&c.md_trailing);
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c.send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c.md_initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c.recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c.md_trailing;
    ops[5].data.recv_status_on_client.status = &c.status;
    ops[5].data.recv_status_on_client.status_details = &c.details;
    uint8_t *out = NULL;
    if (grpc_call_start_batch(call, ops, 6, &c, NULL) == GRPC_CALL_OK) {
        grpc_completion_queue_pluck(cq, &c, deadline, NULL);
        if (c.status == GRPC_STATUS_OK) {
            out = bench_flatten(c.recv, len);
        }
    }
    c.call = call;
    bench_call_finish(&c);
    grpc_slice_unref(m);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(
               cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return out;
}

/* The channel credentials every connection uses: TLS with the files
 * given, or plaintext with --insecure. */
static struct transport_grpc_tls tls;
static bool secure;

static grpc_channel_credentials *credentials(void)
{
    if (!secure) {
        return grpc_insecure_credentials_create();
    }
    grpc_ssl_pem_key_cert_pair pair = {.private_key = tls.key_pem,
                                       .cert_chain = tls.cert_pem};
    return grpc_ssl_credentials_create(
        tls.ca_pem, tls.cert_pem != NULL ? &pair : NULL, NULL, NULL);
}

grpc_channel *bench_channel_to(const char *endpoint)
{
    grpc_channel_credentials *cr = credentials();
    /* A server killed and restarted (kill9.sh) is dialled again within a
     * second, not after gRPC's default of up to two minutes. */
    grpc_arg args[3];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = 64 * 1024 * 1024;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[1].value.integer = 100;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[2].value.integer = 1000;
    grpc_channel_args ca = {.num_args = 3, .args = args};
    grpc_channel *ch = grpc_channel_create(endpoint, cr, &ca);
    grpc_channel_credentials_release(cr);
    return ch;
}

/* The endpoint that leads, or -1. */
static int find_leader(struct bench *b)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        for (int k = 0; k < b->o.n_endpoints; k++) {
            grpc_channel *ch = bench_channel_to(b->o.endpoints[k]);
            size_t len = 0;
            uint8_t *resp = NULL;
            bool leads = false;
            if (b->o.target == TARGET_RAFTKV) {
                Raftkv__StatusRequest q = RAFTKV__STATUS_REQUEST__INIT;
                uint8_t buf[16];
                size_t n = raftkv__status_request__pack(&q, buf);
                resp = unary(ch, "/raftkv.KV/Status", buf, n, &len);
                Raftkv__StatusResponse *r =
                    resp ? raftkv__status_response__unpack(NULL, len, resp)
                         : NULL;
                leads = r != NULL && r->role != NULL &&
                        strcmp(r->role, "leader") == 0;
                if (r != NULL) {
                    raftkv__status_response__free_unpacked(r, NULL);
                }
            } else {
                Etcdserverpb__StatusRequest q =
                    ETCDSERVERPB__STATUS_REQUEST__INIT;
                uint8_t buf[16];
                size_t n = etcdserverpb__status_request__pack(&q, buf);
                resp =
                    unary(ch, "/etcdserverpb.Maintenance/Status", buf, n, &len);
                Etcdserverpb__StatusResponse *r =
                    resp
                        ? etcdserverpb__status_response__unpack(NULL, len, resp)
                        : NULL;
                leads = r != NULL && r->header != NULL && r->leader != 0 &&
                        r->leader == r->header->member_id;
                if (r != NULL) {
                    etcdserverpb__status_response__free_unpacked(r, NULL);
                }
            }
            free(resp);
            grpc_channel_destroy(ch);
            if (leads) {
                return k;
            }
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 200000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->target = TARGET_RAFTKV;
    o->op = OP_PUT;
    o->inflight = 16;
    o->seconds = 5;
    o->warmup = 1;
    o->keys = 1000;
    o->value_size = 64;
    o->deadline_ms = 5000;
    o->get_percent = 30;
    o->op_timeout_ms = 0; /* append: 3 attempts' worth unless given */
    o->seed = 1;
    bool have_target = false;
    bool have_op = false;
    struct transport_grpc_tls_files files = {0};
    bool insecure = false;
    static const struct option opts[] = {
        {"insecure", no_argument, NULL, 0},
        {"tls-ca", required_argument, NULL, 0},
        {"tls-cert", required_argument, NULL, 0},
        {"tls-key", required_argument, NULL, 0},
        {"target", required_argument, NULL, 0},
        {"op", required_argument, NULL, 0},
        {"endpoints", required_argument, NULL, 0},
        {"inflight", required_argument, NULL, 0},
        {"seconds", required_argument, NULL, 0},
        {"warmup", required_argument, NULL, 0},
        {"keys", required_argument, NULL, 0},
        {"value-size", required_argument, NULL, 0},
        {"deadline-ms", required_argument, NULL, 0},
        {"via", required_argument, NULL, 0},
        {"history", required_argument, NULL, 0},
        {"get-percent", required_argument, NULL, 0},
        {"op-timeout-ms", required_argument, NULL, 0},
        {"seed", required_argument, NULL, 0},
        {"retry-unknown", no_argument, NULL, 0},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    int idx = 0;
    while ((ch = getopt_long(argc, argv, ":", opts, &idx)) != -1) {
        if (ch != 0) {
            return -1; /* unknown, or no value */
        }
        char a[32];
        snprintf(a, sizeof a, "--%s", opts[idx].name);
        char *v = optarg;
        if (strcmp(a, "--insecure") == 0) {
            insecure = true;
        } else if (strcmp(a, "--tls-ca") == 0) {
            files.ca_file = v;
        } else if (strcmp(a, "--tls-cert") == 0) {
            files.cert_file = v;
        } else if (strcmp(a, "--tls-key") == 0) {
            files.key_file = v;
        } else if (strcmp(a, "--target") == 0) {
            if (strcmp(v, "raftkv") == 0) {
                o->target = TARGET_RAFTKV;
            } else if (strcmp(v, "etcd") == 0) {
                o->target = TARGET_ETCD;
            } else {
                return -1;
            }
            have_target = true;
        } else if (strcmp(a, "--op") == 0) {
            if (strcmp(v, "put") == 0) {
                o->op = OP_PUT;
            } else if (strcmp(v, "get") == 0) {
                o->op = OP_GET;
            } else if (strcmp(v, "load") == 0) {
                o->op = OP_LOAD;
            } else if (strcmp(v, "append") == 0) {
                o->op = OP_APPEND;
            } else {
                return -1;
            }
            have_op = true;
        } else if (strcmp(a, "--endpoints") == 0) {
            for (char *save = NULL, *t = strtok_r(v, ",", &save);
                 t != NULL && o->n_endpoints < MAX_ENDPOINTS;
                 t = strtok_r(NULL, ",", &save)) {
                o->endpoints[o->n_endpoints++] = t;
            }
        } else if (strcmp(a, "--inflight") == 0) {
            o->inflight = atoi(v);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = atof(v);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = atof(v);
        } else if (strcmp(a, "--keys") == 0) {
            o->keys = (unsigned)atoi(v);
        } else if (strcmp(a, "--value-size") == 0) {
            o->value_size = (size_t)atoi(v);
        } else if (strcmp(a, "--deadline-ms") == 0) {
            o->deadline_ms = atoi(v);
        } else if (strcmp(a, "--via") == 0) {
            if (strcmp(v, "follower") == 0) {
                o->via_follower = true;
            } else if (strcmp(v, "leader") != 0) {
                return -1;
            }
        } else if (strcmp(a, "--history") == 0) {
            o->history = v;
        } else if (strcmp(a, "--get-percent") == 0) {
            int pct = atoi(v);
            if (pct < 0 || pct > 100) {
                return -1;
            }
            o->get_percent = (unsigned)pct;
        } else if (strcmp(a, "--op-timeout-ms") == 0) {
            o->op_timeout_ms = atoi(v);
        } else if (strcmp(a, "--retry-unknown") == 0) {
            o->retry_unknown = true;
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = strtoull(v, NULL, 10);
        } else {
            return -1;
        }
    }
    if (optind < argc) {
        return -1;
    }
    if (!have_target || !have_op || o->n_endpoints == 0 || o->inflight < 1 ||
        o->inflight > MAX_INFLIGHT || !(o->seconds > 0) || o->warmup < 0 ||
        o->keys < 1 || o->value_size > 65536 || o->deadline_ms < 1 ||
        o->op_timeout_ms < 0 || (o->via_follower && o->n_endpoints < 2)) {
        return -1;
    }
    if ((o->op == OP_APPEND) != (o->history != NULL) ||
        (o->op == OP_APPEND && o->target != TARGET_RAFTKV)) {
        fprintf(stderr,
                "raftkv-bench: --op append goes with --history FILE, "
                "and with --target raftkv only\n");
        return -1;
    }
    if (o->op_timeout_ms == 0) {
        o->op_timeout_ms = 3 * o->deadline_ms;
    }
    bool any_tls = files.ca_file != NULL || files.cert_file != NULL ||
                   files.key_file != NULL;
    if (insecure == any_tls) {
        fprintf(stderr,
                "raftkv-bench: give --tls-ca FILE (with --tls-cert "
                "and --tls-key for a client certificate), or "
                "--insecure, not both\n");
        return -1;
    }
    if (any_tls) {
        char why[512];
        if (transport_grpc_tls_load(&files, &tls, why, sizeof why) != 0) {
            fprintf(stderr, "raftkv-bench: TLS: %s\n", why);
            return -1;
        }
        secure = true;
    }
    return 0;
}

/* Finds the leader and points the channel and the methods at it (with
 * --via follower: at the endpoint after it); that endpoint's index, or -1
 * when none leads. */
static int connect_leader(struct bench *b)
{
    int leader = find_leader(b);
    if (leader < 0) {
        return -1;
    }
    if (b->o.via_follower) {
        leader = (leader + 1) % b->o.n_endpoints;
    }
    if (b->channel != NULL) {
        grpc_channel_destroy(b->channel);
    }
    b->channel = bench_channel_to(b->o.endpoints[leader]);
    const char *put = b->o.target == TARGET_RAFTKV ? "/raftkv.KV/Put"
                                                   : "/etcdserverpb.KV/Put";
    const char *get = b->o.target == TARGET_RAFTKV ? "/raftkv.KV/Get"
                                                   : "/etcdserverpb.KV/Range";
    b->put_method = grpc_channel_register_call(b->channel, put, NULL, NULL);
    b->get_method = grpc_channel_register_call(b->channel, get, NULL, NULL);
    return leader;
}

/* Writes every key once (for get, and for load), N at a time. A failed put
 * stops new ones; once the calls out have ended, the leader is looked for
 * again and the failed keys go first (a leader change answers "retry" or
 * "not leader"). False after PRELOAD_RELOCATIONS_MAX looks, or when no
 * leader is found. */
static bool preload(struct bench *b, int *leader)
{
    unsigned next = 0;
    int retry[MAX_INFLIGHT];
    int n_retry = 0;
    int relocations = 0;
    for (;;) {
        int open = 0;
        for (int k = 0; k < b->o.inflight && (n_retry > 0 || next < b->o.keys);
             k++) {
            int key = n_retry > 0 ? retry[--n_retry] : (int)next++;
            start(b, &b->calls[k], OP_PUT, (unsigned)key, key);
            open++;
        }
        bool failed = false;
        while (open > 0) {
            grpc_event ev = grpc_completion_queue_next(
                b->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type != GRPC_OP_COMPLETE) {
                continue;
            }
            struct call *c = ev.tag;
            bool ok = answer_ok(b, c, OP_PUT);
            int key = c->preload_key;
            bench_call_finish(c);
            open--;
            if (!ok) {
                b->errors++;
                assert(n_retry < MAX_INFLIGHT);
                retry[n_retry++] = key;
                failed = true;
            } else if (!failed && (n_retry > 0 || next < b->o.keys)) {
                int k2 = n_retry > 0 ? retry[--n_retry] : (int)next++;
                start(b, c, OP_PUT, (unsigned)k2, k2);
                open++;
            }
        }
        if (!failed) {
            break; /* every key written */
        }
        if (++relocations > PRELOAD_RELOCATIONS_MAX) {
            fprintf(stderr,
                    "raftkv-bench: puts kept failing while loading (%d "
                    "looks for the leader); first: %s\n",
                    PRELOAD_RELOCATIONS_MAX, b->first_error);
            return false;
        }
        *leader = connect_leader(b);
        if (*leader < 0) {
            fprintf(stderr, "raftkv-bench: no leader found while loading\n");
            return false;
        }
    }
    b->relocations = (unsigned)relocations;
    b->errors = 0;
    return true;
}

int main(int argc, char **argv)
{
    struct bench b;
    memset(&b, 0, sizeof b);
    if (parse_args(argc, argv, &b.o) != 0) {
        usage();
        return 2;
    }
    common_prng_seed(&b.prng, 1);
    b.value = malloc(b.o.value_size + 1);
    memset(b.value, 'v', b.o.value_size);
    grpc_init();
    if (b.o.op == OP_APPEND) {
        int hrc = bench_history_run(&b.o);
        free(b.value);
        transport_grpc_tls_fini(&tls);
        grpc_shutdown();
        return hrc;
    }
    int leader = connect_leader(&b);
    if (leader < 0) {
        fprintf(stderr, "raftkv-bench: no leader found among the endpoints\n");
        grpc_shutdown();
        return 3;
    }
    b.cq = grpc_completion_queue_create_for_next(NULL);
    int rc = 0;
    if (b.o.op == OP_LOAD) {
        uint64_t t0 = common_now_ns();
        if (preload(&b, &leader)) {
            double secs = (double)(common_now_ns() - t0) / 1e9;
            printf(
                "%s load: %u keys of %zu bytes in %.1f s, %.0f puts/s "
                "(%s %s, %u leader changes met)\n",
                b.o.target == TARGET_RAFTKV ? "raftkv" : "etcd", b.o.keys,
                b.o.value_size, secs, (double)b.o.keys / secs,
                b.o.via_follower ? "via follower" : "leader",
                b.o.endpoints[leader], b.relocations);
        } else {
            rc = 1;
        }
        goto out;
    }
    if (b.o.op == OP_GET && !preload(&b, &leader)) {
        rc = 1;
        goto out;
    }
    uint64_t t0 = common_now_ns();
    b.measure_from = t0 + (uint64_t)(b.o.warmup * 1e9);
    b.measure_to = b.measure_from + (uint64_t)(b.o.seconds * 1e9);
    for (int k = 0; k < b.o.inflight; k++) {
        start(&b, &b.calls[k], b.o.op,
              (unsigned)common_prng_below(&b.prng, b.o.keys), -1);
    }
    int open = b.o.inflight;
    while (open > 0) {
        grpc_event ev = grpc_completion_queue_next(
            b.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type != GRPC_OP_COMPLETE) {
            continue;
        }
        struct call *c = ev.tag;
        uint64_t now = common_now_ns();
        bool ok = answer_ok(&b, c, b.o.op);
        if (c->start_ns >= b.measure_from && now <= b.measure_to) {
            if (ok) {
                b.ok++;
                record(&b, now - c->start_ns);
            } else {
                b.errors++;
            }
        }
        bench_call_finish(c);
        open--;
        if (now < b.measure_to) {
            start(&b, c, b.o.op, (unsigned)common_prng_below(&b.prng, b.o.keys),
                  -1);
            open++;
        }
    }
    qsort(b.lat, b.n_lat, sizeof *b.lat, cmp_u64);
    double secs = b.o.seconds;
    double p50 = b.n_lat ? (double)b.lat[b.n_lat / 2] / 1e6 : 0;
    double p99 =
        b.n_lat ? (double)b.lat[(size_t)((double)b.n_lat * 0.99)] / 1e6 : 0;
    double sum = 0;
    for (size_t k = 0; k < b.n_lat; k++) {
        sum += (double)b.lat[k];
    }
    double mean = b.n_lat ? sum / (double)b.n_lat / 1e6 : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(
        "%s %s inflight %d: %.0f ops/s  p50 %.3f ms  p99 %.3f ms  "
        "mean %.3f ms  errors %llu  (%s %s, client peak RSS %.1f MiB)\n",
        b.o.target == TARGET_RAFTKV ? "raftkv" : "etcd",
        b.o.op == OP_PUT ? "put" : "get", b.o.inflight, (double)b.ok / secs,
        p50, p99, mean, (unsigned long long)b.errors,
        b.o.via_follower ? "via follower" : "leader", b.o.endpoints[leader],
        (double)ru.ru_maxrss / 1024.0);
    if (b.errors > 0 && b.first_error[0] != '\0') {
        printf("  first error: %s\n", b.first_error);
    }
    rc = b.ok > 0 ? 0 : 1;
out:
    grpc_channel_destroy(b.channel);
    grpc_completion_queue_shutdown(b.cq);
    while (grpc_completion_queue_next(b.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                      NULL)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(b.cq);
    free(b.lat);
    free(b.value);
    transport_grpc_tls_fini(&tls);
    grpc_shutdown();
    return rc;
}
