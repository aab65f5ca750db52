/*
 * What raftkv-bench's two parts share: the options, one unary call on the
 * completion queue, and the channel set-up. raftkv_bench.c measures
 * throughput; history.c (--op append) records a history for the checker.
 */
#ifndef BENCH_KVBENCH_BENCH_H
#define BENCH_KVBENCH_BENCH_H

#include <grpc/grpc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_ENDPOINTS 16
#define MAX_INFLIGHT  1024

enum target {
    TARGET_RAFTKV,
    TARGET_ETCD
};
enum op {
    OP_PUT,
    OP_GET,
    OP_LOAD,
    OP_APPEND /* history.c */
};

struct opts
{
    enum target target;
    enum op op;
    char *endpoints[MAX_ENDPOINTS];
    int n_endpoints;
    int inflight;
    double seconds;
    double warmup;
    unsigned keys;
    size_t value_size;
    int deadline_ms;
    bool via_follower; /* --via follower */
    /* --op append */
    const char *history;  /* the file the history goes to */
    unsigned get_percent; /* share of gets among the ops */
    int op_timeout_ms;    /* an op without an answer by then is info */
    bool retry_unknown;   /* resend an op whose attempt's outcome is unknown */
    uint64_t seed;
};

/* One call out: its batch's buffers and results. */
struct call
{
    grpc_call *call;
    grpc_byte_buffer *send;
    grpc_byte_buffer *recv;
    grpc_metadata_array md_initial;
    grpc_metadata_array md_trailing;
    grpc_status_code status;
    grpc_slice details;
    uint64_t start_ns;
    int preload_key; /* >= 0: a preload put of this key */
};

/* A byte buffer holding a copy of @len bytes at @data. */
grpc_byte_buffer *bench_buffer_of(void *data, size_t len);
/* The whole received message, flattened (free()); NULL when none. */
uint8_t *bench_flatten(grpc_byte_buffer *b, size_t *len);
/* Starts the unary call @method on @ch with the message @send (taken),
 * answered on @cq with the tag @c, within @deadline_ms. Exits the program
 * when gRPC refuses to start it (a bug, not a network condition). */
void bench_call_start(struct call *c,
                      grpc_channel *ch,
                      grpc_completion_queue *cq,
                      void *method,
                      grpc_byte_buffer *send,
                      int deadline_ms);
/* Releases what a completed call holds. */
void bench_call_finish(struct call *c);
/* A channel to @endpoint with the program's credentials. */
grpc_channel *bench_channel_to(const char *endpoint);

/* --op append: records the history (history.c); the exit code. */
int bench_history_run(const struct opts *o);

#endif /* BENCH_KVBENCH_BENCH_H */
