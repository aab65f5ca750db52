/*
 * Helpers shared by the gRPC endpoint (grpc.c) and the blocking client
 * (grpc_client.c). Internal to libtransport_grpc.a; the only files that
 * include gRPC's headers are these.
 */
#ifndef TRANSPORT_GRPC_INTERNAL_H
#define TRANSPORT_GRPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

/* grpc_init(), with gRPC's own log silenced the first time (unless
 * GRPC_VERBOSITY or GRPC_TRACE is set): our errors say it in one line. */
void transport_grpc_init(void);
/* @ms milliseconds from now on the monotonic clock. */
gpr_timespec transport_grpc_deadline(unsigned ms);
/* An integer channel argument; @key is a static string. */
grpc_arg transport_grpc_int_arg(const char *key, int value);
/* Copies a received message out of @bb (not freed) into a new buffer.
 * COMMON_ECORRUPT when it cannot be read (bad compression), COMMON_ENOMEM. */
int transport_grpc_read_payload(grpc_byte_buffer *bb,
                                uint8_t **out,
                                size_t *len);
/* A byte buffer holding a copy of @len bytes at @data. */
grpc_byte_buffer *transport_grpc_buffer(const void *data, size_t len);

#endif /* TRANSPORT_GRPC_INTERNAL_H */
