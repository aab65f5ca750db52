/*
 * raftkv-cli: one request to a raft-kv cluster.
 *
 *   raftkv-cli [--endpoints HOST:PORT[,...]]
 *              (--tls-ca FILE [--tls-cert FILE --tls-key FILE] | --insecure)
 *              [--timeout SECONDS] [-w table|json] COMMAND
 *     put KEY VALUE | get KEY | delete KEY (or del) | cas KEY EXPECTED NEW |
 *     cas --absent KEY NEW | append KEY VALUE | status | endpoint health |
 *     member list | member add ID ADDRESS [--learner] | member promote ID |
 *     member remove ID | transfer-leader ID
 *
 * Options are read by getopt_long: before or after the command, as
 * "--timeout 3" or "--timeout=3"; "--" ends them. Without --endpoints the
 * list comes from RAFTKV_ENDPOINTS (etcdctl's ETCDCTL_ENDPOINTS habit).
 *
 * Finding the leader: the request goes to the first endpoint; a follower
 * answers not-leader with the leader's address, which the next attempt
 * uses. While no leader is known (an election), the CLI tries the
 * endpoints in turn with a short growing pause, until --timeout.
 *
 * Exactly once: a write is made in a session of its own - registered
 * through the log first (RegisterClient, which answers the session's id),
 * then sequence number 1 - and every retry of the request reuses them, so a
 * write that took effect on an attempt whose answer was lost is not
 * applied again (the state machine remembers the session's last answer
 * and gives it back). Should the session be forgotten before an answer
 * comes (it idled past the cluster's session lifetime), the outcome is
 * unknown and the CLI says so (exit 3).
 *
 * Output (-w table, the default): get prints the value alone and a
 * newline; writes print OK; status prints one row per endpoint and the
 * leader; endpoint health one line per endpoint; member commands the
 * configuration (after the change), one row per member; transfer-leader
 * who leads. Member commands (raftkv.Cluster) follow redirects as writes
 * do, wait while another change is in progress (ABORTED), and exit 1 when
 * the leader refuses the change (an unknown or existing id, a learner
 * still behind: the message says which). -w json prints one JSON
 * object instead, keys and values in base64 as etcdctl does (they are
 * bytes). Exit codes: 0 ok, 1 key not found (get, delete), cas mismatch
 * or a membership change refused,
 * 2 bad usage or a request the cluster refuses as invalid, 3 unavailable
 * or timed out (for endpoint health: some endpoint is unhealthy).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "transport/transport.h"

#define PROGRAM "raftkv-cli"
#define SYNOPSIS                                                             \
    "usage: raftkv-cli [--endpoints HOST:PORT[,HOST:PORT...]]\n"             \
    "         (--tls-ca FILE [--tls-cert FILE --tls-key FILE] | --insecure)" \
    " [--timeout SECONDS]\n"                                                 \
    "         [-w table|json] COMMAND\n"
#define ENDPOINTS_MAX 32
#define CLIENTS_MAX   64
/* One attempt waits at most this long (a commit under load, an election
 * in progress on the other side); the whole request at most --timeout. */
#define ATTEMPT_MS 2000

struct client_slot
{
    char address[CMD_ADDRESS_MAX];
    struct transport_grpc_client *client;
};

struct cli
{
    char endpoints[ENDPOINTS_MAX][CMD_ADDRESS_MAX];
    size_t n_endpoints;
    uint64_t timeout_ms;
    struct client_slot clients[CLIENTS_MAX];
    size_t n_clients;
    struct transport_grpc_tls tls; /* empty with --insecure */
    bool secure;
    bool json; /* -w json */
};

static void usage(FILE *f)
{
    fprintf(f,
            "%s\n"
            "commands:\n"
            "  put KEY VALUE          set KEY to VALUE\n"
            "  get KEY                print KEY's value (a linearizable "
            "read)\n"
            "  delete KEY             remove KEY\n"
            "  cas KEY EXPECTED NEW   set KEY to NEW if it holds EXPECTED\n"
            "  cas --absent KEY NEW   set KEY to NEW if it is absent\n"
            "  append KEY VALUE       append VALUE to KEY's value\n"
            "  del KEY                the same as delete\n"
            "  status                 every endpoint's role, term, indexes "
            "and leader\n"
            "  endpoint health        is every endpoint up and does it know "
            "a leader?\n"
            "  member list            the members: id, address, voter or "
            "learner, leader\n"
            "  member add ID ADDRESS [--learner]\n"
            "                         add node ID, listening at ADDRESS, as a "
            "voter\n"
            "                         (or a learner, to promote once caught "
            "up)\n"
            "  member promote ID      make learner ID a voter\n"
            "  member remove ID       remove node ID (the leader too)\n"
            "  transfer-leader ID     hand leadership to voter ID\n"
            "\n"
            "  --endpoints LIST       nodes to ask first (followers redirect "
            "to the leader);\n"
            "                         default: $RAFTKV_ENDPOINTS\n"
            "  --timeout SECONDS      give up after this long (default 5)\n"
            "  -w, --write-out table|json\n"
            "                         output format (default table; json: "
            "one object,\n"
            "                         keys and values in base64)\n"
            "%s"
            "  --                     what follows is not an option (values "
            "starting with -)\n"
            "\n"
            "Options go before or after the command, as --opt VALUE or "
            "--opt=VALUE.\n"
            "Exit codes: 0 ok, 1 key not found, cas mismatch or membership "
            "change\n"
            "refused, 2 bad usage or invalid "
            "request, 3 unavailable, timed out or (endpoint health) an "
            "endpoint unhealthy.\n",
            SYNOPSIS, cmd_tls_usage);
}

static uint64_t now_ms(void)
{
    return common_now_ns() / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct transport_grpc_client *client_for(struct cli *c,
                                                const char *address)
{
    for (size_t k = 0; k < c->n_clients; k++) {
        if (strcmp(c->clients[k].address, address) == 0) {
            return c->clients[k].client;
        }
    }
    if (c->n_clients == CLIENTS_MAX) {
        return NULL;
    }
    struct client_slot *s = &c->clients[c->n_clients];
    if (transport_grpc_client_new(address, c->secure ? &c->tls : NULL,
                                  &s->client) != 0) {
        return NULL;
    }
    snprintf(s->address, sizeof s->address, "%s", address);
    c->n_clients++;
    return s->client;
}

static void cli_fini(struct cli *c)
{
    for (size_t k = 0; k < c->n_clients; k++) {
        transport_grpc_client_free(c->clients[k].client);
    }
    transport_grpc_tls_fini(&c->tls);
}

/* An answer that no retry can change: the request is malformed, or too
 * large for the cluster. RESOURCE_EXHAUSTED for a request of a size the
 * cluster takes means a node's limits are reached for now (too many calls
 * waiting, answers unread): that is retried until the timeout. */
static bool fatal_status(int status, size_t request_len)
{
    return status == TRANSPORT_GRPC_INVALID_ARGUMENT ||
           (status == TRANSPORT_GRPC_RESOURCE_EXHAUSTED &&
            request_len > CMD_REQUEST_BYTES_MAX);
}

/* Did the connection fail past TCP, in the TLS or HTTP/2 handshake? (gRPC
 * says so in its own words, none of them stable.) */
static bool handshake_failed(const char *last)
{
    return strstr(last, "UNAVAILABLE") != NULL &&
           (strstr(last, "andshake") != NULL || strstr(last, "SSL") != NULL ||
            strstr(last, "Ssl") != NULL ||
            strstr(last, "Socket closed") != NULL);
}

/* What to check when a node could be reached but no handshake succeeded. */
static const char *handshake_hint(const struct cli *c)
{
    if (!c->secure) {
        return "the node answered but the connection failed: is the "
               "cluster running with TLS? Then give --tls-ca (and --tls-cert "
               "with --tls-key) instead of --insecure";
    }
    if (c->tls.cert_pem == NULL) {
        return "the TLS handshake failed: the servers may require a client "
               "certificate (--tls-cert and --tls-key), or run without TLS "
               "(--insecure), or their certificates may not be signed by "
               "--tls-ca or not name the address dialled";
    }
    return "the TLS handshake failed: check that the servers' certificates "
           "are signed by --tls-ca and name the addresses dialled, that "
           "they trust the CA of --tls-cert, and that they run with TLS";
}

/* What the retry loop needs of an answer, whatever the service. */
struct answer_head
{
    enum kv_status code;
    const char *message;
    const char *leader_address;
};

/* One call to make until an answer settles it. */
struct call_spec
{
    enum cmd_method method;
    const uint8_t *buf;
    size_t len;
    /* Decodes an OK answer into @out and points @h into it; nonzero for
     * bytes that are not the answer. */
    int (*decode)(void *out,
                  enum cmd_method method,
                  const void *buf,
                  size_t len,
                  struct answer_head *h);
    /* Frees what a decoded answer that did not settle holds (may be
     * NULL). */
    void (*discard)(void *out);
    void *out;
    /* raftkv.Cluster: NOT_FOUND, ALREADY_EXISTS and FAILED_PRECONDITION
     * are final (exit 1), ABORTED (a change in progress) retried. */
    bool cluster;
};

static int kv_decode(void *out,
                     enum cmd_method method,
                     const void *buf,
                     size_t len,
                     struct answer_head *h)
{
    struct cmd_response *r = out;
    int rv = cmd_response_decode(method, buf, len, r);
    h->code = r->code;
    h->message = r->message;
    h->leader_address = r->leader_address;
    return rv;
}

static void kv_discard(void *out)
{
    struct cmd_response *r = out;
    free(r->value);
    r->value = NULL;
}

static int members_decode(void *out,
                          enum cmd_method method,
                          const void *buf,
                          size_t len,
                          struct answer_head *h)
{
    (void)method;
    struct cmd_members *m = out;
    int rv = cmd_members_decode(buf, len, m);
    h->code = m->code;
    h->message = m->message;
    h->leader_address = m->leader_address;
    return rv;
}

/* Is @status a Cluster refusal that no retry changes? */
static bool cluster_final(int status)
{
    return status == TRANSPORT_GRPC_NOT_FOUND ||
           status == TRANSPORT_GRPC_ALREADY_EXISTS ||
           status == TRANSPORT_GRPC_FAILED_PRECONDITION;
}

/* Makes the call of @spec until an answer that settles it (ok, not found,
 * mismatch) or @deadline (ms). Returns 0 with spec->out filled, or an exit
 * code after printing why. */
static int call_until(struct cli *c,
                      const struct call_spec *spec,
                      uint64_t deadline)
{
    char target[CMD_ADDRESS_MAX];
    char last[1024] = "no node answered";
    bool hint = false;    /* target is a leader some node named */
    unsigned hops = 0;    /* redirects followed in a row */
    size_t next = 0;      /* endpoint to try when there is no hint */
    size_t misses = 0;    /* attempts since the last pause */
    uint64_t pause = 25;  /* grows to 400 ms while nothing works */
    bool expired = false; /* the session was forgotten: outcome unknown */
    int rc = COMMON_EXIT_UNKNOWN;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline) {
            break;
        }
        if (!hint) {
            snprintf(target, sizeof target, "%s", c->endpoints[next]);
            next = (next + 1) % c->n_endpoints;
        }
        hint = false;
        uint64_t attempt =
            deadline - now < ATTEMPT_MS ? deadline - now : ATTEMPT_MS;
        struct transport_grpc_client *cl = client_for(c, target);
        struct transport_grpc_result res;
        memset(&res, 0, sizeof res);
        if (cl == NULL || transport_grpc_client_call(
                              cl, cmd_method_paths[spec->method], spec->buf,
                              spec->len, (unsigned)attempt, &res) != 0) {
            fprintf(stderr, "raftkv-cli: out of memory\n");
            break;
        }
        bool settled = false;
        bool retry_same = false;
        struct answer_head h;
        memset(&h, 0, sizeof h);
        if (res.status != TRANSPORT_GRPC_OK) {
            snprintf(last, sizeof last, "%s: %s%s%s", target,
                     transport_grpc_status_name(res.status),
                     res.message[0] != '\0' ? ": " : "", res.message);
            if (fatal_status(res.status, spec->len)) {
                fprintf(stderr, "raftkv-cli: the request was refused: %s\n",
                        last);
                rc = COMMON_EXIT_USAGE;
                free(res.data);
                break;
            }
            if (spec->cluster && cluster_final(res.status)) {
                fprintf(stderr, "raftkv-cli: refused: %s\n", last);
                rc = COMMON_EXIT_FAILED;
                free(res.data);
                break;
            }
            retry_same = spec->cluster && res.status == TRANSPORT_GRPC_ABORTED;
        } else if (spec->decode(spec->out, spec->method, res.data, res.len,
                                &h) != 0) {
            snprintf(last, sizeof last, "%s: the answer is not raftkv's",
                     target);
        } else {
            switch (h.code) {
                case KV_OK:
                case KV_NOT_FOUND:
                case KV_MISMATCH:
                    settled = true;
                    break;
                case KV_NOT_LEADER:
                    snprintf(last, sizeof last, "%s: %s", target, h.message);
                    if (h.leader_address[0] != '\0' &&
                        strcmp(h.leader_address, target) != 0 && hops < 3) {
                        snprintf(target, sizeof target, "%s", h.leader_address);
                        hint = true;
                    }
                    break;
                case KV_RETRY:
                    snprintf(last, sizeof last, "%s: %s", target, h.message);
                    retry_same = true;
                    break;
                case KV_INVALID:
                    fprintf(stderr,
                            "raftkv-cli: the request was refused: %s: %s\n",
                            target, h.message);
                    rc = COMMON_EXIT_USAGE;
                    break;
                case KV_EXPIRED:
                    fprintf(stderr,
                            "raftkv-cli: %s: the session expired before the "
                            "answer came; the write may or may not have "
                            "taken effect\n",
                            target);
                    expired = true;
                    break;
                default:
                    snprintf(last, sizeof last, "%s: %s", target,
                             h.message[0] != '\0' ? h.message : "unavailable");
                    break;
            }
            if (!settled && spec->discard != NULL) {
                spec->discard(spec->out);
            }
        }
        free(res.data);
        if (settled) {
            rc = 0;
            break;
        }
        if (rc == COMMON_EXIT_USAGE || expired) {
            break;
        }
        if (hint) {
            hops++;
            continue; /* straight to the leader */
        }
        hops = 0;
        if (retry_same) {
            hint = true; /* the same node: it leads, the outcome is open */
        }
        /* A pause once every endpoint had its chance (or on a retry). */
        if (++misses >= c->n_endpoints || retry_same) {
            misses = 0;
            uint64_t left = deadline > now_ms() ? deadline - now_ms() : 0;
            sleep_ms(pause < left ? pause : left);
            pause = pause * 2 > 400 ? 400 : pause * 2;
        }
    }
    if (rc == COMMON_EXIT_UNKNOWN && !expired) {
        fprintf(stderr, "raftkv-cli: no answer within %.1f s; last: %s\n",
                (double)c->timeout_ms / 1000.0, last);
        if (handshake_failed(last)) {
            fprintf(stderr, "raftkv-cli: %s\n", handshake_hint(c));
        }
    }
    return rc;
}

/* Sends @req as @method (raftkv.KV) until an answer settles it. */
static int request(struct cli *c,
                   enum cmd_method method,
                   const struct kv_request *req,
                   struct cmd_response *out,
                   uint64_t deadline)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmd_request_encode(method, req, &buf, &len) != 0) {
        fprintf(stderr, "raftkv-cli: out of memory\n");
        return COMMON_EXIT_UNKNOWN;
    }
    struct call_spec spec = {.method = method,
                             .buf = buf,
                             .len = len,
                             .decode = kv_decode,
                             .discard = kv_discard,
                             .out = out};
    int rc = call_until(c, &spec, deadline);
    free(buf);
    return rc;
}

/* Sends @rq (raftkv.Cluster) until an answer settles it. */
static int cluster_request(struct cli *c,
                           const struct cmd_cluster_request *rq,
                           struct cmd_members *out,
                           uint64_t deadline)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmd_cluster_request_encode(rq, &buf, &len) != 0) {
        fprintf(stderr, "raftkv-cli: out of memory\n");
        return COMMON_EXIT_UNKNOWN;
    }
    struct call_spec spec = {.method = rq->method,
                             .buf = buf,
                             .len = len,
                             .decode = members_decode,
                             .out = out,
                             .cluster = true};
    int rc = call_until(c, &spec, deadline);
    free(buf);
    return rc;
}

/* @n bytes at @p as a JSON string of their base64 (RFC 4648). */
static void put_base64(const uint8_t *p, size_t n)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    putchar('"');
    for (size_t k = 0; k < n; k += 3) {
        uint32_t v = (uint32_t)p[k] << 16;
        if (k + 1 < n) {
            v |= (uint32_t)p[k + 1] << 8;
        }
        if (k + 2 < n) {
            v |= p[k + 2];
        }
        putchar(abc[(v >> 18) & 63]);
        putchar(abc[(v >> 12) & 63]);
        putchar(k + 1 < n ? abc[(v >> 6) & 63] : '=');
        putchar(k + 2 < n ? abc[v & 63] : '=');
    }
    putchar('"');
}

/* @s as a JSON string (messages and names: escaped, never cut). */
static void put_json_string(const char *s)
{
    struct common_vec v;
    common_vec_init(&v);
    if (common_vec_append_json(&v, s) == 0) {
        fwrite(v.data, 1, v.len, stdout);
    } else {
        fputs("\"\"", stdout); /* out of memory: an empty string */
    }
    common_vec_fini(&v);
}

/* One endpoint's Status: 0 with @st filled, or -1 with @why set (a short
 * reason: the gRPC status name, or that the answer is not raftkv's) and
 * @detail (gRPC's message, possibly long). */
static int ask_status(struct cli *c,
                      const char *ep,
                      struct cmd_status *st,
                      char *why,
                      size_t why_len,
                      char *detail,
                      size_t detail_len,
                      double *took_ms)
{
    uint64_t attempt = c->timeout_ms < ATTEMPT_MS ? c->timeout_ms : ATTEMPT_MS;
    struct transport_grpc_client *cl = client_for(c, ep);
    struct transport_grpc_result res;
    memset(&res, 0, sizeof res);
    uint64_t t0 = common_now_ns();
    if (cl == NULL ||
        transport_grpc_client_call(cl, cmd_method_paths[CMD_STATUS], NULL, 0,
                                   (unsigned)attempt, &res) != 0) {
        snprintf(why, why_len, "out of memory");
        detail[0] = '\0';
        return -1;
    }
    *took_ms = (double)(common_now_ns() - t0) / 1e6;
    int rv = 0;
    detail[0] = '\0';
    if (res.status != TRANSPORT_GRPC_OK) {
        snprintf(why, why_len, "%s", transport_grpc_status_name(res.status));
        snprintf(detail, detail_len, "%s", res.message);
        rv = -1;
    } else if (cmd_status_decode(res.data, res.len, st) != 0) {
        snprintf(why, why_len, "not a raftkv node");
        rv = -1;
    }
    free(res.data);
    return rv;
}

static void status_json_row(const char *ep,
                            const struct cmd_status *st,
                            const char *why,
                            const char *detail)
{
    printf("{\"endpoint\":");
    put_json_string(ep);
    if (why != NULL) {
        printf(",\"error\":");
        put_json_string(why);
        printf(",\"detail\":");
        put_json_string(detail);
        putchar('}');
        return;
    }
    printf(",\"id\":%llu,\"role\":", (unsigned long long)st->id);
    put_json_string(st->role);
    printf(
        ",\"term\":%llu,\"commit\":%llu,\"applied\":%llu,"
        "\"last\":%llu,\"leader\":%llu,\"keys\":%llu,"
        "\"digest\":\"%016llx\",\"snapshot_index\":%llu,"
        "\"follower_lost_entries\":%llu}",
        (unsigned long long)st->term, (unsigned long long)st->commit,
        (unsigned long long)st->applied, (unsigned long long)st->last,
        (unsigned long long)st->leader_id, (unsigned long long)st->keys,
        (unsigned long long)st->digest, (unsigned long long)st->snapshot_index,
        (unsigned long long)st->follower_lost_entries);
}

/* status: one row per endpoint (an unreachable one in one compact row,
 * gRPC's long message on stderr), then the leader. */
static int status(struct cli *c)
{
    if (c->json) {
        printf("{\"endpoints\":[");
    } else {
        printf("%-4s %-22s %-13s %6s %8s %8s %8s %6s %6s %s\n", "ID",
               "ENDPOINT", "ROLE", "TERM", "COMMIT", "APPLIED", "LAST",
               "LEADER", "KEYS", "DIGEST");
    }
    raft_id leader = 0;
    raft_term leader_term = 0;
    char leader_address[CMD_ADDRESS_MAX] = "";
    size_t answered = 0;
    for (size_t k = 0; k < c->n_endpoints; k++) {
        const char *ep = c->endpoints[k];
        struct cmd_status st;
        char why[64];
        char detail[512];
        double took;
        bool ok = ask_status(c, ep, &st, why, sizeof why, detail, sizeof detail,
                             &took) == 0;
        if (c->json) {
            printf(k > 0 ? "," : "");
            status_json_row(ep, &st, ok ? NULL : why, detail);
        } else if (!ok) {
            printf("%-4s %-22s %-13s %6s %8s %8s %8s %6s %6s %s\n", "-", ep,
                   "unreachable", "-", "-", "-", "-", "-", "-", why);
            if (detail[0] != '\0') {
                fprintf(stderr, "raftkv-cli: %s: %s: %s\n", ep, why, detail);
            }
        } else {
            printf(
                "%-4llu %-22s %-13s %6llu %8llu %8llu %8llu %6llu %6llu "
                "%016llx\n",
                (unsigned long long)st.id, ep, st.role,
                (unsigned long long)st.term, (unsigned long long)st.commit,
                (unsigned long long)st.applied, (unsigned long long)st.last,
                (unsigned long long)st.leader_id, (unsigned long long)st.keys,
                (unsigned long long)st.digest);
            if (st.follower_lost_entries > 0) {
                printf(
                    "     %llu time(s) a follower had lost entries it "
                    "acknowledged (see this node's log)\n",
                    (unsigned long long)st.follower_lost_entries);
            }
        }
        if (ok) {
            answered++;
            if (st.leader_id != 0 && st.term >= leader_term) {
                leader = st.leader_id;
                leader_term = st.term;
                snprintf(leader_address, sizeof leader_address, "%s",
                         st.leader_address);
            }
        }
    }
    if (c->json) {
        printf("],\"leader\":");
        if (leader != 0) {
            printf("{\"id\":%llu,\"address\":", (unsigned long long)leader);
            put_json_string(leader_address);
            printf(",\"term\":%llu}", (unsigned long long)leader_term);
        } else {
            printf("null");
        }
        printf("}\n");
    } else if (leader != 0) {
        printf("leader: node %llu (%s), term %llu\n",
               (unsigned long long)leader,
               leader_address[0] != '\0' ? leader_address : "address unknown",
               (unsigned long long)leader_term);
    } else {
        printf("leader: none known\n");
    }
    if (answered == 0) {
        fprintf(stderr, "raftkv-cli: no endpoint answered\n");
        return COMMON_EXIT_UNKNOWN;
    }
    return COMMON_EXIT_OK;
}

/* endpoint health: an endpoint is healthy when it answers Status and knows
 * a leader (etcdctl's endpoint health asks for a quorum read; a node that
 * knows a leader of its term has heard from a quorum's leader). Exit 0
 * only when every endpoint is healthy. */
static int health(struct cli *c)
{
    size_t healthy = 0;
    if (c->json) {
        putchar('[');
    }
    for (size_t k = 0; k < c->n_endpoints; k++) {
        const char *ep = c->endpoints[k];
        struct cmd_status st;
        char why[64];
        char detail[512];
        double took = 0;
        bool ok = ask_status(c, ep, &st, why, sizeof why, detail, sizeof detail,
                             &took) == 0;
        if (ok && st.leader_id == 0) {
            ok = false;
            snprintf(why, sizeof why, "no leader known");
        }
        healthy += ok;
        if (c->json) {
            printf("%s{\"endpoint\":", k > 0 ? "," : "");
            put_json_string(ep);
            printf(",\"health\":%s,\"took_ms\":%.3f", ok ? "true" : "false",
                   took);
            if (!ok) {
                printf(",\"error\":");
                put_json_string(why);
            }
            putchar('}');
        } else if (ok) {
            printf("%s is healthy: node %llu, %s, term %llu, took %.1f ms\n",
                   ep, (unsigned long long)st.id, st.role,
                   (unsigned long long)st.term, took);
        } else {
            printf("%s is unhealthy: %s\n", ep, why);
            if (detail[0] != '\0') {
                fprintf(stderr, "raftkv-cli: %s: %s: %s\n", ep, why, detail);
            }
        }
    }
    if (c->json) {
        printf("]\n");
    }
    return healthy == c->n_endpoints ? COMMON_EXIT_OK : COMMON_EXIT_UNKNOWN;
}

static int parse_endpoints(struct cli *c, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (c->n_endpoints == ENDPOINTS_MAX || n >= CMD_ADDRESS_MAX) {
            return -1;
        }
        char *ep = c->endpoints[c->n_endpoints];
        memcpy(ep, p, n);
        ep[n] = '\0';
        if (!cmd_address_valid(ep, false)) {
            fprintf(stderr, "raftkv-cli: '%s' is not HOST:PORT\n", ep);
            return -1;
        }
        c->n_endpoints++;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

static struct common_buf text(const char *s)
{
    struct common_buf b = {.base = (void *)(uintptr_t)s, .len = strlen(s)};
    return b;
}

enum {
    OPT_ENDPOINTS = 256,
    OPT_TIMEOUT,
    OPT_ABSENT,
    OPT_INSECURE,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_CA,
    OPT_LEARNER,
};

static const struct option long_options[] = {
    {"endpoints", required_argument, NULL, OPT_ENDPOINTS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"absent", no_argument, NULL, OPT_ABSENT},
    {"write-out", required_argument, NULL, 'w'},
    {"help", no_argument, NULL, 'h'},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"learner", no_argument, NULL, OPT_LEARNER},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Says what is wrong, then the usage line: exit 2. */
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "raftkv-cli: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cmd_usage_short(PROGRAM, SYNOPSIS);
    return COMMON_EXIT_USAGE;
}

/* The answer to a key-value command, as -w asks. */
static int print_answer(const struct cli *c,
                        const char *cmd,
                        enum cmd_method method,
                        const struct kv_request *req,
                        const struct cmd_response *r)
{
    const char *result = r->code == KV_NOT_FOUND  ? "not-found"
                         : r->code == KV_MISMATCH ? "mismatch"
                                                  : "ok";
    int rc = r->code == KV_OK ? COMMON_EXIT_OK : COMMON_EXIT_FAILED;
    if (c->json) {
        printf("{\"command\":\"%s\",\"key\":", cmd);
        put_base64(req->key.base, req->key.len);
        printf(",\"result\":\"%s\",\"index\":%llu", result,
               (unsigned long long)r->index);
        if (method == CMD_GET && r->code == KV_OK) {
            printf(",\"value\":");
            put_base64(r->value, r->value_len);
        }
        printf("}\n");
    } else if (r->code == KV_NOT_FOUND) {
        fprintf(stderr, "raftkv-cli: key not found\n");
    } else if (r->code == KV_MISMATCH) {
        fprintf(stderr,
                "raftkv-cli: cas failed: the key does not hold the expected "
                "value\n");
    } else if (method == CMD_GET) {
        if (r->value_len > 0) {
            fwrite(r->value, 1, r->value_len, stdout);
        }
        fputc('\n', stdout);
    } else {
        puts("OK");
    }
    return rc;
}

/* A member id from the command line: 1 to 2^64-1. */
static int member_id(const char *cmd, const char *v, raft_id *id)
{
    uint64_t u = 0;
    if (common_parse_u64(v, 1, UINT64_MAX, &u) != 0) {
        return usage_error("%s: '%s' is not a member id (1 or more)", cmd, v);
    }
    *id = u;
    return 0;
}

/* member list | member add ID ADDRESS [--learner] | member promote ID |
 * member remove ID | transfer-leader ID, into @rq; an exit code after
 * printing what is wrong. */
static int member_args(char **args,
                       size_t n,
                       bool learner,
                       struct cmd_cluster_request *rq)
{
    memset(rq, 0, sizeof *rq);
    if (strcmp(args[0], "transfer-leader") == 0) {
        if (n != 2 || learner) {
            return usage_error("usage: transfer-leader ID");
        }
        rq->method = CMD_TRANSFER_LEADER;
        return member_id("transfer-leader", args[1], &rq->id);
    }
    const char *sub = n >= 2 ? args[1] : "";
    if (learner && strcmp(sub, "add") != 0) {
        return usage_error("--learner is for member add");
    }
    if (strcmp(sub, "list") == 0 && n == 2) {
        rq->method = CMD_MEMBER_LIST;
        return 0;
    }
    if (strcmp(sub, "add") == 0 && n == 4) {
        rq->method = CMD_MEMBER_ADD;
        rq->learner = learner;
        size_t len = strlen(args[3]);
        if (len > RAFT_ADDRESS_MAX || !cmd_address_valid(args[3], false)) {
            return usage_error("member add: '%.300s' is not HOST:PORT",
                               args[3]);
        }
        memcpy(rq->address, args[3], len + 1);
        return member_id("member add", args[2], &rq->id);
    }
    if ((strcmp(sub, "promote") == 0 || strcmp(sub, "remove") == 0) && n == 3) {
        rq->method = strcmp(sub, "promote") == 0 ? CMD_MEMBER_PROMOTE
                                                 : CMD_MEMBER_REMOVE;
        return member_id(args[1], args[2], &rq->id);
    }
    return usage_error(
        "usage: member list | member add ID ADDRESS [--learner] | member "
        "promote ID | member remove ID");
}

/* The configuration an answer carries: a table (one row per member) or
 * one JSON object. */
static void print_members(const struct cli *c,
                          const struct cmd_cluster_request *rq,
                          const struct cmd_members *m)
{
    if (c->json) {
        printf("{\"members\":[");
        for (size_t k = 0; k < m->n; k++) {
            const struct cmd_member_info *x = &m->members[k];
            printf("%s{\"id\":%llu,\"address\":", k > 0 ? "," : "",
                   (unsigned long long)x->id);
            put_json_string(x->address);
            printf(",\"role\":\"%s\",\"leader\":%s}",
                   x->learner ? "learner" : "voter",
                   x->leader ? "true" : "false");
        }
        printf(
            "],\"leader\":%llu,\"term\":%llu,\"config_index\":%llu,"
            "\"config_committed\":%s}\n",
            (unsigned long long)m->leader_id, (unsigned long long)m->term,
            (unsigned long long)m->config_index,
            m->config_committed ? "true" : "false");
        return;
    }
    if (rq->method == CMD_TRANSFER_LEADER) {
        printf("OK: node %llu leads\n", (unsigned long long)rq->id);
        return;
    }
    printf("%-6s %-28s %-8s %s\n", "ID", "ADDRESS", "ROLE", "LEADER");
    for (size_t k = 0; k < m->n; k++) {
        const struct cmd_member_info *x = &m->members[k];
        const char *role = x->learner ? "learner" : "voter";
        const char *at = x->address[0] != '\0' ? x->address : "-";
        if (x->leader) {
            printf("%-6llu %-28s %-8s *\n", (unsigned long long)x->id, at,
                   role);
        } else {
            printf("%-6llu %-28s %s\n", (unsigned long long)x->id, at, role);
        }
    }
}

int main(int argc, char **argv)
{
    static struct cli c;
    c.timeout_ms = 5000;
    const char *endpoints = NULL;
    bool absent = false;
    bool learner = false;
    struct cmd_tls_flags tls_flags = {0};
    opterr = 0; /* the messages below say more */
    int ch;
    while ((ch = getopt_long(argc, argv, ":w:h", long_options, NULL)) != -1) {
        const char *flag = NULL;
        switch (ch) {
            case 'h':
                usage(stdout);
                return COMMON_EXIT_OK;
            case 'w':
                if (strcmp(optarg, "json") != 0 &&
                    strcmp(optarg, "table") != 0) {
                    return usage_error("-w takes table or json, not '%s'",
                                       optarg);
                }
                c.json = strcmp(optarg, "json") == 0;
                break;
            case OPT_ENDPOINTS:
                endpoints = optarg;
                break;
            case OPT_TIMEOUT:
                if (cmd_parse_seconds_ms(optarg, 3600, &c.timeout_ms) != 0) {
                    return usage_error(
                        "--timeout needs seconds (> 0, at most "
                        "3600), not '%s'",
                        optarg);
                }
                break;
            case OPT_ABSENT:
                absent = true;
                break;
            case OPT_LEARNER:
                learner = true;
                break;
            case OPT_INSECURE:
                flag = "--insecure";
                break;
            case OPT_TLS_CERT:
                flag = "--tls-cert";
                break;
            case OPT_TLS_KEY:
                flag = "--tls-key";
                break;
            case OPT_TLS_CA:
                flag = "--tls-ca";
                break;
            case ':':
                return usage_error("%s needs a value", argv[optind - 1]);
            default:
                return usage_error("unknown option %s", argv[optind - 1]);
        }
        if (flag != NULL &&
            cmd_tls_flag(PROGRAM, flag, optarg != NULL ? optarg : "",
                         &tls_flags) < 0) {
            cmd_usage_short(PROGRAM, SYNOPSIS);
            return COMMON_EXIT_USAGE;
        }
    }
    char **args = argv + optind;
    size_t n_args = (size_t)(argc - optind);
    if (endpoints == NULL) {
        endpoints = getenv("RAFTKV_ENDPOINTS");
    }
    if (endpoints == NULL || n_args == 0) {
        return usage_error("%s", endpoints == NULL
                                     ? "--endpoints (or RAFTKV_ENDPOINTS) is "
                                       "required"
                                     : "no command given");
    }
    if (parse_endpoints(&c, endpoints) != 0) {
        fprintf(stderr, "raftkv-cli: --endpoints takes up to %d HOST:PORT\n",
                ENDPOINTS_MAX);
        return COMMON_EXIT_USAGE;
    }
    const char *cmd = args[0];
    if (strcmp(cmd, "member") == 0 || strcmp(cmd, "transfer-leader") == 0) {
        struct cmd_cluster_request rq;
        int rc = member_args(args, n_args, learner, &rq);
        if (rc != 0) {
            return rc;
        }
        if (absent) {
            return usage_error("--absent is for cas");
        }
        if (cmd_tls_load(PROGRAM, &tls_flags, 0, NULL, &c.tls, &c.secure) !=
            0) {
            return COMMON_EXIT_USAGE;
        }
        struct cmd_members m;
        rc = cluster_request(&c, &rq, &m, now_ms() + c.timeout_ms);
        cli_fini(&c);
        if (rc == 0) {
            print_members(&c, &rq, &m);
        }
        return fflush(stdout) == 0 ? rc : COMMON_EXIT_UNKNOWN;
    }
    if (learner) {
        return usage_error("--learner is for member add");
    }
    struct kv_request req;
    memset(&req, 0, sizeof req);
    enum cmd_method method;
    size_t want;
    bool health_cmd = false;
    if (strcmp(cmd, "put") == 0) {
        method = CMD_PUT;
        want = 3;
    } else if (strcmp(cmd, "get") == 0) {
        method = CMD_GET;
        want = 2;
    } else if (strcmp(cmd, "delete") == 0 || strcmp(cmd, "del") == 0) {
        cmd = "delete";
        method = CMD_DELETE;
        want = 2;
    } else if (strcmp(cmd, "cas") == 0) {
        method = CMD_CAS;
        want = absent ? 3 : 4;
    } else if (strcmp(cmd, "append") == 0) {
        method = CMD_APPEND;
        want = 3;
    } else if (strcmp(cmd, "status") == 0) {
        method = CMD_STATUS;
        want = 1;
    } else if (strcmp(cmd, "endpoint") == 0 && n_args == 2 &&
               strcmp(args[1], "health") == 0) {
        method = CMD_STATUS;
        want = 2;
        health_cmd = true;
    } else {
        return usage_error("unknown command '%s'", args[0]);
    }
    if (n_args != want || (absent && method != CMD_CAS)) {
        return usage_error("wrong arguments for %s", cmd);
    }
    if (cmd_tls_load(PROGRAM, &tls_flags, 0, NULL, &c.tls, &c.secure) != 0) {
        return COMMON_EXIT_USAGE;
    }
    int rc;
    if (method == CMD_STATUS) {
        rc = health_cmd ? health(&c) : status(&c);
        cli_fini(&c);
        return fflush(stdout) == 0 ? rc : COMMON_EXIT_UNKNOWN;
    }
    req.seq = 1; /* a write's session comes from its registration below */
    req.key = text(args[1]);
    if (method == CMD_PUT || method == CMD_APPEND) {
        req.value = text(args[2]);
    } else if (method == CMD_CAS && absent) {
        req.expected_absent = true;
        req.value = text(args[2]);
    } else if (method == CMD_CAS) {
        req.expected = text(args[2]);
        req.value = text(args[3]);
    }
    struct cmd_response r;
    memset(&r, 0, sizeof r);
    uint64_t deadline = now_ms() + c.timeout_ms;
    rc = 0;
    if (method != CMD_GET) {
        struct kv_request reg = {.op = KV_OP_REGISTER};
        rc = request(&c, CMD_REGISTER, &reg, &r, deadline);
        if (rc == 0 && r.client_id == 0) {
            fprintf(stderr, "raftkv-cli: the cluster opened no session\n");
            rc = COMMON_EXIT_UNKNOWN;
        }
        req.client_id = r.client_id;
        memset(&r, 0, sizeof r);
    }
    if (rc == 0) {
        rc = request(&c, method, &req, &r, deadline);
    }
    cli_fini(&c);
    if (rc != 0) {
        return rc;
    }
    rc = print_answer(&c, cmd, method, &req, &r);
    free(r.value);
    if (fflush(stdout) != 0) {
        return COMMON_EXIT_UNKNOWN;
    }
    return rc;
}
