/*
 * A blocking unary gRPC client: one channel, one call at a time, the
 * calling thread waiting in the completion queue (which is also what
 * drives the channel's connection - see notes/grpc-c-core.md). For the
 * CLI and the tests; nodes talk to each other through the endpoint
 * (grpc.c, grpc_peer.c).
 *
 * The reconnect backoff is short (50 ms first, at most 500 ms): a client
 * that found a node down retries it within a fraction of a second of its
 * return, instead of gRPC's default of one second growing to two minutes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "grpc_internal.h"
#include "transport/transport.h"

struct transport_grpc_client
{
    grpc_completion_queue *cq;
    grpc_channel *channel;
};

int transport_grpc_client_new(const char *address,
                              const struct transport_grpc_tls *tls,
                              struct transport_grpc_client **out)
{
    if (address == NULL || address[0] == '\0') {
        return COMMON_EINVAL;
    }
    struct transport_grpc_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return COMMON_ENOMEM;
    }
    transport_grpc_init();
    grpc_arg args[6];
    size_t n = 0;
    args[n++] =
        transport_grpc_int_arg(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    /* Responses are small, requests are bounded by the server: no limit on
     * sending here, so that an oversized request reaches the server and
     * gets its RESOURCE_EXHAUSTED. */
    args[n++] = transport_grpc_int_arg(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, -1);
    args[n++] = transport_grpc_int_arg(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
    /* The caller decides about retries (with its session, exactly once). */
    args[n++] = transport_grpc_int_arg(GRPC_ARG_ENABLE_RETRIES, 0);
    grpc_channel_args ca = {.num_args = n, .args = args};
    grpc_channel_credentials *creds = transport_grpc_channel_creds(tls);
    c->channel = grpc_channel_create(address, creds, &ca);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    if (c->channel == NULL || c->cq == NULL) {
        transport_grpc_client_free(c);
        return COMMON_ENOMEM;
    }
    *out = c;
    return 0;
}

void transport_grpc_client_free(struct transport_grpc_client *c)
{
    if (c == NULL) {
        return;
    }
    if (c->channel != NULL) {
        grpc_channel_destroy(c->channel);
    }
    if (c->cq != NULL) {
        grpc_completion_queue_shutdown(c->cq);
        while (grpc_completion_queue_next(
                   c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(c->cq);
    }
    free(c);
    grpc_shutdown();
}

int transport_grpc_client_call(struct transport_grpc_client *c,
                               const char *method,
                               const void *req,
                               size_t len,
                               unsigned timeout_ms,
                               struct transport_grpc_result *res)
{
    memset(res, 0, sizeof *res);
    grpc_slice path = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(
        c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, path, NULL,
        transport_grpc_deadline(timeout_ms), NULL);
    grpc_slice_unref(path);
    if (call == NULL) {
        return COMMON_ENOMEM;
    }
    grpc_byte_buffer *send = transport_grpc_buffer(req != NULL ? req : "", len);
    grpc_byte_buffer *recv = NULL;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    transport_grpc_unary_ops(ops, send, &initial_md, &recv, &trailing_md,
                             &status, &details);
    int rv = 0;
    if (grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK) {
        rv = COMMON_ENOMEM;
    } else {
        /* The call's deadline bounds the wait; the queue holds nothing
         * else. */
        grpc_event ev = grpc_completion_queue_next(
            c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        (void)ev;
        res->status = (int)status;
        char *msg = grpc_slice_to_c_string(details);
        snprintf(res->message, sizeof res->message, "%s", msg);
        gpr_free(msg);
        if (status == GRPC_STATUS_OK && recv != NULL) {
            rv = transport_grpc_read_payload(recv, &res->data, &res->len);
            if (rv == COMMON_ECORRUPT) {
                res->status = TRANSPORT_GRPC_INTERNAL;
                snprintf(res->message, sizeof res->message,
                         "the response cannot be read");
                rv = 0;
            }
        } else if (status == GRPC_STATUS_OK) {
            res->status = TRANSPORT_GRPC_INTERNAL;
            snprintf(res->message, sizeof res->message,
                     "the server answered OK without a message");
        }
    }
    if (recv != NULL) {
        grpc_byte_buffer_destroy(recv);
    }
    grpc_byte_buffer_destroy(send);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    return rv;
}
