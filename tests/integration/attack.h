/*
 * Attack helpers for the adversarial suite (tests/integration/
 * test_adversarial.c) and for benchmarks that measure a node under attack:
 * what someone who can reach a node's port can do from the outside
 * (docs/security.md, threat model).
 *
 *   - forge a Raft MessageBatch (any messages, any from, any term);
 *   - call the peer service with chosen credentials (none, a client's, a
 *     node's, another CA's) from a chosen source address;
 *   - open TCP connections from a chosen source address: a flood of
 *     connections opened and closed at once, or connections held idle;
 *   - gRPC clients that start calls and never read their answers, with
 *     HTTP/2 flow control kept shut (slow readers).
 *
 * Source addresses: every 127.x.y.z address is this machine's, so a test
 * can play an attacker on 127.0.0.2 against a node on 127.0.0.1 and tell
 * its connections from the legitimate ones. Raw sockets bind to the
 * source before connecting; gRPC channels, which offer no such option in
 * the C core, go through a relay (attack_relay) that accepts on
 * 127.0.0.1 and connects to the target from the source address, copying
 * bytes both ways through small buffers (so a client that reads nothing
 * still stalls the server).
 *
 * Everything here is blocking and meant for one test thread, except the
 * relay and the slow reader, which run a thread of their own.
 */
#ifndef TESTS_INTEGRATION_ATTACK_H
#define TESTS_INTEGRATION_ATTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "transport/transport.h"

/* ------------------------------------------------------------------------ */
/* Credentials and forged batches                                            */
/* ------------------------------------------------------------------------ */

/* Reads PEM files into @out as they are, with none of the checks of
 * transport_grpc_tls_load (an attacker's certificate need not chain to the
 * CA it is shown to). @cert_file and @key_file may both be NULL (no
 * certificate). COMMON_EIO when a file cannot be read, COMMON_ENOMEM.
 * Release with transport_grpc_tls_fini. */
int attack_tls_read(const char *ca_file,
                    const char *cert_file,
                    const char *key_file,
                    struct transport_grpc_tls *out);

/* The cluster id the batches below carry (0 until set): the victim's, so
 * that what refuses a forgery is the check under test, or another, to
 * test the cluster check itself. */
void attack_set_cluster(uint64_t id);

/* Packs @n messages (borrowed) as a raftkv.raft.MessageBatch into a new
 * buffer (free() it). COMMON_EINVAL for a message the codec cannot
 * encode, COMMON_ENOMEM. */
int attack_batch_pack(const struct raft_message *const *msgs,
                      size_t n,
                      uint8_t **out,
                      size_t *len);

/* Calls the peer service of the node at @target ("IP:PORT") with the
 * batch of @n forged messages, presenting @tls (NULL: plaintext), from
 * @source_ip (NULL: whatever the system picks), and waits at most
 * @timeout_ms. Returns 0 with the call's outcome in @res (its data freed
 * already), or COMMON_ENOMEM / COMMON_EINVAL / COMMON_EIO when the call
 * could not be made at all. */
int attack_peer_send(const char *target,
                     const char *source_ip,
                     const struct transport_grpc_tls *tls,
                     const struct raft_message *const *msgs,
                     size_t n,
                     unsigned timeout_ms,
                     struct transport_grpc_result *res);

/* ------------------------------------------------------------------------ */
/* A relay that gives gRPC connections a source address                      */
/* ------------------------------------------------------------------------ */

struct attack_relay;

/* Listens on 127.0.0.1 (a free port) and, for each connection it
 * accepts, connects to @target ("IPv4:PORT") from @source_ip and copies
 * bytes both ways until either side closes. At most 256 connections at a
 * time (more are closed at once). COMMON_EINVAL for a bad address,
 * COMMON_EIO when a socket cannot be made, COMMON_ENOMEM. */
int attack_relay_new(const char *target,
                     const char *source_ip,
                     struct attack_relay **out);
/* "127.0.0.1:PORT": dial this instead of the target. */
const char *attack_relay_address(const struct attack_relay *r);
/* Stops the relay and closes every connection; NULL harmless. */
void attack_relay_free(struct attack_relay *r);

/* ------------------------------------------------------------------------ */
/* Raw TCP connections from a source address                                 */
/* ------------------------------------------------------------------------ */

/* Opens @count TCP connections from @source_ip to @target_ip:@port at
 * once (non-blocking connects, then one wait of at most @timeout_ms for
 * all of them). Each @fds[k] is a connected socket, or -1 for a
 * connection that failed, did not complete in time, or was already reset
 * by the server when the wait saw it complete. Returns how many are
 * connected. */
unsigned attack_tcp_open(const char *source_ip,
                         const char *target_ip,
                         unsigned port,
                         unsigned count,
                         unsigned timeout_ms,
                         int *fds);

/* Closes the @count sockets in @fds that are not -1 at once, with a reset
 * (SO_LINGER 0: no TIME_WAIT left on this side), and sets them to -1. */
void attack_tcp_close(int *fds, unsigned count);

struct attack_flood_result
{
    unsigned attempted;
    unsigned connected; /* connects that completed (one the server had
                           already reset when checked counts as not) */
    uint64_t elapsed_ns;
};

/* Opens and closes @count connections from @source_ip to @target_ip:@port
 * as fast as it can, @burst at a time (each burst waits at most
 * @timeout_ms for its connects), closing each with a reset. */
void attack_tcp_flood(const char *source_ip,
                      const char *target_ip,
                      unsigned port,
                      unsigned count,
                      unsigned burst,
                      unsigned timeout_ms,
                      struct attack_flood_result *res);

/* ------------------------------------------------------------------------ */
/* Slow readers                                                              */
/* ------------------------------------------------------------------------ */

struct attack_slow_reader;

/* A gRPC channel of its own (its own connection) to @address, with @tls
 * (borrowed for the call; NULL: plaintext), BDP probing off and the
 * HTTP/2 read-ahead of @lookahead_bytes, so that a call whose answer is
 * not read holds the server's window shut. A thread of its own drives
 * the connection. COMMON_ENOMEM. */
int attack_slow_reader_new(const char *address,
                           const struct transport_grpc_tls *tls,
                           unsigned lookahead_bytes,
                           struct attack_slow_reader **out);

/* Starts @calls calls of @method with the request @req (@len bytes,
 * copied) that send the request and never read the answer; each stays
 * open until its deadline (@deadline_ms from now) or
 * attack_slow_reader_free. Returns how many were started (at most 4096
 * in a reader's life). */
unsigned attack_slow_reader_start(struct attack_slow_reader *r,
                                  const char *method,
                                  const void *req,
                                  size_t len,
                                  unsigned calls,
                                  unsigned deadline_ms);

/* Cancels every call, closes the channel and stops the thread; NULL
 * harmless. */
void attack_slow_reader_free(struct attack_slow_reader *r);

#endif /* TESTS_INTEGRATION_ATTACK_H */
