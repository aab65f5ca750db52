/*
 * The limits of a node's application service (grpc_limits.h): a table of
 * the callers' source addresses, each with what it holds - calls waiting
 * for their answers, bytes of answers not yet read - beside the node's
 * totals.
 *
 * The idea: a caller that floods calls, or stops reading its answers,
 * runs into its own address's share long before the node's, so that the
 * others are still served; and since HTTP/2 flow control keeps an unread
 * answer in the server, bytes unread are what the memory cap must count.
 * An address is kept only while it holds something: the table's size is
 * bounded by the calls waiting, not by the addresses ever seen.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_limits.h"

void limits_init(struct limits *l, const struct transport_grpc_options *o)
{
    memset(l, 0, sizeof *l);
    l->calls_max = o->calls_max;
    l->calls_per_address_max = o->calls_per_address_max;
    l->unread_bytes_max = o->unread_bytes_max;
    l->unread_bytes_per_address_max = o->unread_bytes_per_address_max;
}

void limits_fini(struct limits *l)
{
    for (size_t k = 0; k < LIMITS_BUCKETS; k++) {
        while (l->buckets[k] != NULL) {
            struct limits_source *next = l->buckets[k]->next;
            free(l->buckets[k]);
            l->buckets[k] = next;
        }
    }
}

void limits_source_address(const char *peer, char *out, size_t len)
{
    const char *p = peer != NULL ? peer : "unknown";
    const char *colon = strrchr(p, ':');
    size_t n = colon != NULL && colon != p ? (size_t)(colon - p) : strlen(p);
    if (n >= len) {
        n = len - 1;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

/* FNV-1a. */
static uint32_t address_hash(const char *address)
{
    uint32_t h = 2166136261u;
    for (const char *p = address; *p != '\0'; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    return h;
}

static struct limits_source **bucket(struct limits *l, uint32_t hash)
{
    return &l->buckets[hash % LIMITS_BUCKETS];
}

static struct limits_source *lookup(const struct limits *l,
                                    const char *address,
                                    uint32_t hash)
{
    for (struct limits_source *s = l->buckets[hash % LIMITS_BUCKETS]; s != NULL;
         s = s->next) {
        if (s->hash == hash && strcmp(s->address, address) == 0) {
            return s;
        }
    }
    return NULL;
}

/* The source of @address, made when missing (NULL without memory).
 * @address fits in LIMITS_ADDRESS_MAX. */
static struct limits_source *source_get(struct limits *l, const char *address)
{
    uint32_t h = address_hash(address);
    struct limits_source *s = lookup(l, address, h);
    if (s != NULL) {
        return s;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    snprintf(s->address, sizeof s->address, "%s", address);
    s->hash = h;
    s->next = *bucket(l, h);
    *bucket(l, h) = s;
    return s;
}

/* Frees @s once it holds nothing. */
static void source_release(struct limits *l, struct limits_source *s)
{
    if (s->calls > 0 || s->unread > 0) {
        return;
    }
    struct limits_source **p = bucket(l, s->hash);
    while (*p != s) {
        assert(*p != NULL); /* @s is in its bucket */
        p = &(*p)->next;
    }
    *p = s->next;
    free(s);
}

const char *limits_admit(struct limits *l,
                         const char *address,
                         struct limits_source **out)
{
    /* Cut as the table keeps it, so that a long address finds itself. */
    char key[LIMITS_ADDRESS_MAX];
    snprintf(key, sizeof key, "%s", address);
    struct limits_source *s = source_get(l, key);
    const char *full = NULL;
    if (s == NULL) {
        return "out of memory";
    } else if (l->calls >= l->calls_max) {
        full = "too many calls waiting for an answer; retry later";
    } else if (s->calls >= l->calls_per_address_max) {
        full =
            "too many calls from your address waiting for an answer; "
            "retry later";
    } else if (s->unread >= l->unread_bytes_per_address_max ||
               l->unread >= l->unread_bytes_max) {
        full = "too many answers not yet read; read them, then retry";
    }
    if (full != NULL) {
        source_release(l, s);
        return full;
    }
    l->calls++;
    s->calls++;
    *out = s;
    return NULL;
}

bool limits_answer_fits(const struct limits *l,
                        const struct limits_source *s,
                        size_t len)
{
    return len <= LIMITS_ANSWER_SMALL_BYTES || s == NULL ||
           (s->unread + len <= l->unread_bytes_per_address_max &&
            l->unread + len <= l->unread_bytes_max);
}

void limits_answer_started(struct limits *l,
                           struct limits_source *s,
                           size_t bytes)
{
    assert(s->calls > 0); /* an admitted call's */
    l->unread += bytes;
    s->unread += bytes;
}

void limits_call_end(struct limits *l, struct limits_source *s, size_t unread)
{
    assert(l->calls > 0 && s->calls > 0);
    assert(l->unread >= unread && s->unread >= unread);
    l->calls--;
    l->unread -= unread;
    s->calls--;
    s->unread -= unread;
    source_release(l, s);
}

const struct limits_source *limits_find(const struct limits *l,
                                        const char *address)
{
    return lookup(l, address, address_hash(address));
}
