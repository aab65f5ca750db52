/*
 * What the protobuf-c halves of libcmd share (kvapi.c, clusterapi.c):
 * packing a message into a new buffer, and handing a const string to a
 * generated struct. Private to cmd/.
 */
#ifndef CMD_PB_H
#define CMD_PB_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Packs @m into a new buffer (free() it). COMMON_ENOMEM. */
int cmd_pb_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len);

/* protobuf-c's string fields are not const, but packing only reads them:
 * @s as such a field ("" for NULL). */
char *cmd_pb_str(const char *s);

#endif /* CMD_PB_H */
