/*
 * The wire form of Raft messages for the gRPC transport: struct
 * raft_message <-> raftkv.raft.MessageBatch (proto/raft.proto), with
 * protobuf-c. Internal to libtransport_grpc.a (and its tests).
 */
#ifndef TRANSPORT_GRPC_CODEC_H
#define TRANSPORT_GRPC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "transport/transport.h"

/* Most messages one batch may carry (either way). */
#define TRANSPORT_GRPC_BATCH_MESSAGES_MAX 16384

/* A batch being encoded: the protobuf-c structures of @n messages, which
 * point into the messages themselves (borrowed until
 * transport_grpc_batch_free). */
struct transport_grpc_batch;

/* Builds the wire form of @n messages. COMMON_EINVAL for an unknown
 * message type or entry type, COMMON_ENOMEM. */
int transport_grpc_batch_new(const struct raft_message *const *msgs,
                             size_t n,
                             struct transport_grpc_batch **out);
/* Size of the packed batch in bytes. */
size_t transport_grpc_batch_size(const struct transport_grpc_batch *b);
/* Packs the batch into @buf (transport_grpc_batch_size bytes). */
void transport_grpc_batch_pack(const struct transport_grpc_batch *b,
                               uint8_t *buf);
void transport_grpc_batch_free(struct transport_grpc_batch *b);
/* Stamps the batch with the sender's cluster id (0 when none). */
void transport_grpc_batch_set_cluster(struct transport_grpc_batch *b,
                                      uint64_t cluster);

/* Bytes a message will take in a batch, roughly (never much less). */
size_t transport_grpc_msg_estimate(const struct raft_message *m);

/* Decodes and checks a packed MessageBatch received by node @self of
 * cluster @cluster: the batch must carry @cluster, and every message must
 * decode, have a body, come from another node, be addressed to @self, and
 * carry well-formed entries or snapshot chunk. On success *@out is a
 * malloc'd array of *@n messages (each a transport_msg_clone allocation:
 * the caller frees each, then the array); *@out is NULL when the batch is
 * empty. COMMON_ECORRUPT with the reason in @why (@why_len bytes) for a
 * malformed batch, COMMON_EMISMATCH for one of another cluster,
 * COMMON_ENOMEM. */
int transport_grpc_batch_decode(const uint8_t *buf,
                                size_t len,
                                raft_id self,
                                uint64_t cluster,
                                struct transport_msg ***out,
                                size_t *n,
                                char *why,
                                size_t why_len);

#endif /* TRANSPORT_GRPC_CODEC_H */
