/*
 * What the callers of a node's application service may hold of it:
 * calls waiting for their answers, and bytes of answers started and not
 * yet read, in all and per source address (transport.h,
 * transport_grpc_options; docs/security.md, Limits). Internal to
 * libtransport_grpc.a. Plain C without gRPC: the endpoint feeds it
 * addresses and sizes, and its tests use it alone.
 *
 * Not thread-safe: the endpoint's lock guards a struct limits and every
 * source in it (grpc_endpoint.h).
 */
#ifndef TRANSPORT_GRPC_LIMITS_H
#define TRANSPORT_GRPC_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/transport.h"

/* Buckets of the table of source addresses. */
#define LIMITS_BUCKETS 1024
/* Longest source address kept ("ipv6:[....]"); longer ones are cut. */
#define LIMITS_ADDRESS_MAX 64
/* Answers up to this size are never refused for want of room: those of
 * writes are all below it. */
#define LIMITS_ANSWER_SMALL_BYTES 4096

/* A source address with application calls: what it holds of the limits.
 * Made by the first call from it, freed when it holds nothing. */
struct limits_source
{
    struct limits_source *next; /* in its bucket */
    char address[LIMITS_ADDRESS_MAX];
    uint32_t hash;
    size_t calls;  /* application calls until their answers complete */
    size_t unread; /* bytes of their answers started and not delivered */
};

struct limits
{
    /* The caps, from the options. */
    size_t calls_max;
    size_t calls_per_address_max;
    size_t unread_bytes_max;
    size_t unread_bytes_per_address_max;
    /* What all sources hold together. */
    size_t calls;
    size_t unread;
    struct limits_source *buckets[LIMITS_BUCKETS];
};

/* Empty limits with @o's caps (calls_max, calls_per_address_max,
 * unread_bytes_max, unread_bytes_per_address_max). */
void limits_init(struct limits *l, const struct transport_grpc_options *o);
/* Frees every source; what they held is forgotten. */
void limits_fini(struct limits *l);

/* The source address of a caller from gRPC's name for its peer
 * ("ipv4:127.0.0.1:52110" -> "ipv4:127.0.0.1"): @peer without its last
 * ":PORT", cut to @len - 1 bytes; "unknown" for NULL. */
void limits_source_address(const char *peer, char *out, size_t len);

/* Admits a call from @address: when neither the node nor the address is
 * full, counts the call against both, sets *@out to the address's source
 * and returns NULL. Otherwise counts nothing and returns why, as the
 * message for the caller (no memory for the source, too many calls
 * waiting in all or from the address, too many answers unread). */
const char *limits_admit(struct limits *l,
                         const char *address,
                         struct limits_source **out);
/* Is there room for an answer of @len bytes to a call of @s (admitted; NULL:
 * not counted)? Small answers always fit. */
bool limits_answer_fits(const struct limits *l,
                        const struct limits_source *s,
                        size_t len);
/* An answer of @bytes to a call of @s started: unread until it completes. */
void limits_answer_started(struct limits *l,
                           struct limits_source *s,
                           size_t bytes);
/* A call of @s ended, with @unread bytes of its answer counted since
 * limits_answer_started (0 when none): it no longer counts, and @s is
 * freed once it holds nothing. */
void limits_call_end(struct limits *l, struct limits_source *s, size_t unread);

/* The source of @address, or NULL when it holds nothing. */
const struct limits_source *limits_find(const struct limits *l,
                                        const char *address);

#endif /* TRANSPORT_GRPC_LIMITS_H */
