/*
 * Small helpers of the gRPC transport, shared by the endpoint, the
 * blocking client and TLS (grpc_internal.h): status names, deadlines,
 * channel arguments, copying messages in and out of gRPC's byte buffers,
 * messages for the caller, and gRPC's start-up.
 *
 * The idea: what talks to gRPC in the same way in several places is
 * written once here, so that each of those files reads in the words of
 * its own concern (a peer's batch, a server call, a handshake).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "grpc_internal.h"
#include "transport/transport.h"

const char *transport_grpc_status_name(int status)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (status < 0 || (size_t)status >= sizeof names / sizeof names[0]) {
        return "UNKNOWN";
    }
    return names[status];
}

gpr_timespec transport_grpc_deadline(unsigned ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis((int64_t)ms, GPR_TIMESPAN));
}

grpc_arg transport_grpc_int_arg(const char *key, int value)
{
    grpc_arg a;
    memset(&a, 0, sizeof a);
    a.type = GRPC_ARG_INTEGER;
    a.key = (char *)(uintptr_t)key;
    a.value.integer = value;
    return a;
}

int transport_grpc_clamp_int(size_t v)
{
    return v > (size_t)INT32_MAX ? INT32_MAX : (int)v;
}

int transport_grpc_read_payload(grpc_byte_buffer *bb,
                                uint8_t **out,
                                size_t *len)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        return COMMON_ECORRUPT;
    }
    grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    size_t n = GRPC_SLICE_LENGTH(s);
    uint8_t *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        grpc_slice_unref(s);
        return COMMON_ENOMEM;
    }
    if (n > 0) {
        memcpy(p, GRPC_SLICE_START_PTR(s), n);
    }
    grpc_slice_unref(s);
    *out = p;
    *len = n;
    return 0;
}

void transport_grpc_unary_ops(grpc_op ops[6],
                              grpc_byte_buffer *req,
                              grpc_metadata_array *initial_md,
                              grpc_byte_buffer **resp,
                              grpc_metadata_array *trailing_md,
                              grpc_status_code *status,
                              grpc_slice *details)
{
    memset(ops, 0, 6 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = trailing_md;
    ops[5].data.recv_status_on_client.status = status;
    ops[5].data.recv_status_on_client.status_details = details;
}

grpc_byte_buffer *transport_grpc_buffer(const void *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

void transport_grpc_why(char *why, size_t why_len, const char *fmt, ...)
{
    if (why == NULL || why_len == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static void quiet_log(gpr_log_func_args *args)
{
    (void)args;
}

static void install_log(void)
{
    /* gRPC's own log lines (multi-line error trees on stderr) repeat what
     * our errors already say in one line. GRPC_VERBOSITY or GRPC_TRACE in
     * the environment brings them back for debugging. */
    if (getenv("GRPC_VERBOSITY") == NULL && getenv("GRPC_TRACE") == NULL) {
        gpr_set_log_function(quiet_log);
    }
}

void transport_grpc_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_log);
    grpc_init();
}
