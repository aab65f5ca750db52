/*
 * raftkv-cli: one request to a raft-kv cluster.
 *
 *   raftkv-cli --endpoints HOST:PORT[,...]
 *              (--tls-ca FILE [--tls-cert FILE --tls-key FILE] | --insecure)
 *              [--timeout SECONDS] COMMAND
 *     put KEY VALUE | get KEY | delete KEY | cas KEY EXPECTED NEW |
 *     cas --absent KEY NEW | append KEY VALUE | status
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
 * Output: get prints the value alone and a newline; writes print OK;
 * status prints one line per endpoint and the leader. Exit codes: 0 ok,
 * 1 key not found (get, delete) or cas mismatch, 2 bad usage or a request
 * the cluster refuses as invalid, 3 unavailable or timed out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "transport/transport.h"

#define PROGRAM "raftkv-cli"
#define SYNOPSIS                                                             \
    "usage: raftkv-cli --endpoints HOST:PORT[,HOST:PORT...]\n"               \
    "         (--tls-ca FILE [--tls-cert FILE --tls-key FILE] | --insecure)" \
    " [--timeout SECONDS] COMMAND\n"
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
            "  status                 every endpoint's role, term, indexes "
            "and leader\n"
            "\n"
            "  --endpoints LIST       nodes to ask first (followers redirect "
            "to the leader)\n"
            "  --timeout SECONDS      give up after this long (default 5)\n"
            "%s"
            "  --                     what follows is not an option (values "
            "starting with -)\n"
            "\n"
            "Exit codes: 0 ok, 1 key not found or cas mismatch, 2 bad usage "
            "or invalid\n"
            "request, 3 unavailable or timed out.\n",
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

/* Sends @req as @method until an answer that settles it (ok, not found,
 * mismatch) or @deadline (ms). Returns 0 with @out filled, or an exit code
 * after printing why. */
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
        if (cl == NULL ||
            transport_grpc_client_call(cl, cmd_method_paths[method], buf, len,
                                       (unsigned)attempt, &res) != 0) {
            fprintf(stderr, "raftkv-cli: out of memory\n");
            break;
        }
        bool settled = false;
        bool retry_same = false;
        if (res.status != TRANSPORT_GRPC_OK) {
            snprintf(last, sizeof last, "%s: %s%s%s", target,
                     transport_grpc_status_name(res.status),
                     res.message[0] != '\0' ? ": " : "", res.message);
            if (fatal_status(res.status, len)) {
                fprintf(stderr, "raftkv-cli: the request was refused: %s\n",
                        last);
                rc = COMMON_EXIT_USAGE;
                free(res.data);
                break;
            }
        } else if (cmd_response_decode(method, res.data, res.len, out) != 0) {
            snprintf(last, sizeof last, "%s: the answer is not raftkv's",
                     target);
        } else {
            switch (out->code) {
                case KV_OK:
                case KV_NOT_FOUND:
                case KV_MISMATCH:
                    settled = true;
                    break;
                case KV_NOT_LEADER:
                    snprintf(last, sizeof last, "%s: %s", target, out->message);
                    if (out->leader_address[0] != '\0' &&
                        strcmp(out->leader_address, target) != 0 && hops < 3) {
                        snprintf(target, sizeof target, "%s",
                                 out->leader_address);
                        hint = true;
                    }
                    break;
                case KV_RETRY:
                    snprintf(last, sizeof last, "%s: %s", target, out->message);
                    retry_same = true;
                    break;
                case KV_INVALID:
                    fprintf(stderr,
                            "raftkv-cli: the request was refused: %s: %s\n",
                            target, out->message);
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
                    snprintf(
                        last, sizeof last, "%s: %s", target,
                        out->message[0] != '\0' ? out->message : "unavailable");
                    break;
            }
            if (!settled) {
                free(out->value);
                out->value = NULL;
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
    free(buf);
    if (rc == COMMON_EXIT_UNKNOWN && !expired) {
        fprintf(stderr, "raftkv-cli: no answer within %.1f s; last: %s\n",
                (double)c->timeout_ms / 1000.0, last);
        if (handshake_failed(last)) {
            fprintf(stderr, "raftkv-cli: %s\n", handshake_hint(c));
        }
    }
    return rc;
}

static int status(struct cli *c)
{
    printf("%-4s %-22s %-13s %6s %8s %8s %8s %6s %6s %-16s\n", "ID", "ENDPOINT",
           "ROLE", "TERM", "COMMIT", "APPLIED", "LAST", "LEADER", "KEYS",
           "DIGEST");
    raft_id leader = 0;
    raft_term leader_term = 0;
    char leader_address[CMD_ADDRESS_MAX] = "";
    size_t answered = 0;
    uint64_t attempt = c->timeout_ms < ATTEMPT_MS ? c->timeout_ms : ATTEMPT_MS;
    for (size_t k = 0; k < c->n_endpoints; k++) {
        const char *ep = c->endpoints[k];
        struct transport_grpc_client *cl = client_for(c, ep);
        struct transport_grpc_result res;
        struct cmd_status st;
        if (cl == NULL ||
            transport_grpc_client_call(cl, cmd_method_paths[CMD_STATUS], NULL,
                                       0, (unsigned)attempt, &res) != 0) {
            fprintf(stderr, "raftkv-cli: out of memory\n");
            return COMMON_EXIT_UNKNOWN;
        }
        if (res.status != TRANSPORT_GRPC_OK) {
            printf("%-4s %-22s unreachable (%s%s%s)\n", "-", ep,
                   transport_grpc_status_name(res.status),
                   res.message[0] != '\0' ? ": " : "", res.message);
        } else if (cmd_status_decode(res.data, res.len, &st) != 0) {
            printf("%-4s %-22s not a raftkv node\n", "-", ep);
        } else {
            answered++;
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
            if (st.leader_id != 0 && st.term >= leader_term) {
                leader = st.leader_id;
                leader_term = st.term;
                snprintf(leader_address, sizeof leader_address, "%s",
                         st.leader_address);
            }
        }
        free(res.data);
    }
    if (leader != 0) {
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

int main(int argc, char **argv)
{
    static struct cli c;
    c.timeout_ms = 5000;
    const char *endpoints = NULL;
    bool absent = false;
    const char *args[8];
    size_t n_args = 0;
    bool options_done = false;
    struct cmd_tls_flags tls_flags = {0};
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        int took = options_done ? 0 : cmd_tls_flag(PROGRAM, a, v, &tls_flags);
        if (took < 0) {
            cmd_usage_short(PROGRAM, SYNOPSIS);
            return COMMON_EXIT_USAGE;
        } else if (took > 0) {
            k += took - 1;
            continue;
        }
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
        } else if (!options_done &&
                   (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            usage(stdout);
            return COMMON_EXIT_OK;
        } else if (!options_done && strcmp(a, "--endpoints") == 0) {
            if (v == NULL) {
                fprintf(stderr, "raftkv-cli: --endpoints needs a list\n");
                cmd_usage_short(PROGRAM, SYNOPSIS);
                return COMMON_EXIT_USAGE;
            }
            endpoints = v;
            k++;
        } else if (!options_done && strcmp(a, "--timeout") == 0) {
            if (cmd_parse_seconds_ms(v, 3600, &c.timeout_ms) != 0) {
                fprintf(stderr,
                        "raftkv-cli: --timeout needs seconds (> 0, at most "
                        "3600)\n");
                cmd_usage_short(PROGRAM, SYNOPSIS);
                return COMMON_EXIT_USAGE;
            }
            k++;
        } else if (!options_done && strcmp(a, "--absent") == 0) {
            absent = true;
        } else if (!options_done && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "raftkv-cli: unknown option %s\n", a);
            cmd_usage_short(PROGRAM, SYNOPSIS);
            return COMMON_EXIT_USAGE;
        } else if (n_args < sizeof args / sizeof args[0]) {
            args[n_args++] = a;
        } else {
            fprintf(stderr, "raftkv-cli: too many arguments\n");
            cmd_usage_short(PROGRAM, SYNOPSIS);
            return COMMON_EXIT_USAGE;
        }
    }
    if (endpoints == NULL || n_args == 0) {
        fprintf(
            stderr, "raftkv-cli: %s\n",
            endpoints == NULL ? "--endpoints is required" : "no command given");
        cmd_usage_short(PROGRAM, SYNOPSIS);
        return COMMON_EXIT_USAGE;
    }
    if (parse_endpoints(&c, endpoints) != 0) {
        fprintf(stderr, "raftkv-cli: --endpoints takes up to %d HOST:PORT\n",
                ENDPOINTS_MAX);
        return COMMON_EXIT_USAGE;
    }
    const char *cmd = args[0];
    struct kv_request req;
    memset(&req, 0, sizeof req);
    enum cmd_method method;
    size_t want;
    if (strcmp(cmd, "put") == 0) {
        method = CMD_PUT;
        want = 3;
    } else if (strcmp(cmd, "get") == 0) {
        method = CMD_GET;
        want = 2;
    } else if (strcmp(cmd, "delete") == 0) {
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
    } else {
        fprintf(stderr, "raftkv-cli: unknown command '%s'\n", cmd);
        cmd_usage_short(PROGRAM, SYNOPSIS);
        return COMMON_EXIT_USAGE;
    }
    if (n_args != want || (absent && method != CMD_CAS)) {
        fprintf(stderr, "raftkv-cli: wrong arguments for %s\n", cmd);
        cmd_usage_short(PROGRAM, SYNOPSIS);
        return COMMON_EXIT_USAGE;
    }
    if (cmd_tls_load(PROGRAM, &tls_flags, 0, NULL, &c.tls, &c.secure) != 0) {
        return COMMON_EXIT_USAGE;
    }
    int rc;
    if (method == CMD_STATUS) {
        rc = status(&c);
        cli_fini(&c);
        return rc;
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
    rc = COMMON_EXIT_OK;
    if (r.code == KV_NOT_FOUND) {
        fprintf(stderr, "raftkv-cli: key not found\n");
        rc = COMMON_EXIT_FAILED;
    } else if (r.code == KV_MISMATCH) {
        fprintf(stderr,
                "raftkv-cli: cas failed: the key does not hold the expected "
                "value\n");
        rc = COMMON_EXIT_FAILED;
    } else if (method == CMD_GET) {
        if (r.value_len > 0) {
            fwrite(r.value, 1, r.value_len, stdout);
        }
        fputc('\n', stdout);
    } else {
        puts("OK");
    }
    free(r.value);
    if (fflush(stdout) != 0) {
        return COMMON_EXIT_UNKNOWN;
    }
    return rc;
}
