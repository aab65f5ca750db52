/*
 * Helpers shared by every file of the gRPC transport: the endpoint
 * (grpc.c and the files of grpc_endpoint.h), the blocking client
 * (grpc_client.c) and TLS (grpc_tls.c). They live in grpc_util.c, but for
 * the credentials and the caller's identity, which live in grpc_tls.c.
 * Internal to libtransport_grpc.a; the only files that include gRPC's
 * headers are these.
 */
#ifndef TRANSPORT_GRPC_INTERNAL_H
#define TRANSPORT_GRPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "raft/raft.h"
#include "transport/transport.h"

/* grpc_init(), with gRPC's own log silenced the first time (unless
 * GRPC_VERBOSITY or GRPC_TRACE is set): our errors say it in one line. */
void transport_grpc_init(void);
/* @ms milliseconds from now on the monotonic clock. */
gpr_timespec transport_grpc_deadline(unsigned ms);
/* An integer channel argument; @key is a static string. */
grpc_arg transport_grpc_int_arg(const char *key, int value);
/* @v as a channel argument's int: INT32_MAX when larger. */
int transport_grpc_clamp_int(size_t v);
/* Copies a received message out of @bb (not freed) into a new buffer.
 * COMMON_ECORRUPT when it cannot be read (bad compression), COMMON_ENOMEM. */
int transport_grpc_read_payload(grpc_byte_buffer *bb,
                                uint8_t **out,
                                size_t *len);
/* Fills @ops with the six ops of a unary call from a client: send @req,
 * close, receive the initial metadata into @initial_md, the response into
 * *@resp (NULL when none), the trailing metadata, *@status and its
 * *@details. Each pointer is borrowed until the batch completes. */
void transport_grpc_unary_ops(grpc_op ops[6],
                              grpc_byte_buffer *req,
                              grpc_metadata_array *initial_md,
                              grpc_byte_buffer **resp,
                              grpc_metadata_array *trailing_md,
                              grpc_status_code *status,
                              grpc_slice *details);
/* A byte buffer holding a copy of @len bytes at @data. */
grpc_byte_buffer *transport_grpc_buffer(const void *data, size_t len);

/* Writes a message into @why (@why_len bytes; nothing when NULL or 0). */
void transport_grpc_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Channel credentials: TLS with @tls's CA (and its certificate, when it
 * has one), or plaintext for NULL. Release with
 * grpc_channel_credentials_release. */
grpc_channel_credentials *transport_grpc_channel_creds(
    const struct transport_grpc_tls *tls);

/* The node that called: the id in the URI SAN raftkv://node/N of the
 * certificate the caller of @call presented and TLS verified, or 0 (no
 * certificate, a client's certificate, a plaintext call, or a certificate
 * naming more than one node). */
raft_id transport_grpc_call_node(grpc_call *call);

#endif /* TRANSPORT_GRPC_INTERNAL_H */
