/* The servers of a test cluster seen from outside (see servers.h). */
#include "servers.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procs.h"

bool servers_init(struct servers *s,
                  int n,
                  char *spec,
                  size_t spec_len,
                  char *endpoints,
                  size_t endpoints_len)
{
    memset(s->ports, 0, sizeof s->ports);
    memset(s->pids, 0, sizeof s->pids);
    memset(s->gone, 0, sizeof s->gone);
    s->n = n;
    size_t a = 0;
    size_t b = 0;
    for (int k = 0; k < n && k < SERVERS_MAX; k++) {
        s->ports[k] = procs_free_port();
        if (s->ports[k] == 0 || a >= spec_len || b >= endpoints_len) {
            return false;
        }
        a += (size_t)snprintf(spec + a, spec_len - a, "%s%d=127.0.0.1:%u",
                              k > 0 ? "," : "", k + 1, s->ports[k]);
        b += (size_t)snprintf(endpoints + b, endpoints_len - b,
                              "%s127.0.0.1:%u", k > 0 ? "," : "", s->ports[k]);
    }
    return n <= SERVERS_MAX && a < spec_len && b < endpoints_len;
}

void servers_address(const struct servers *s, int k, char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%u", s->ports[k]);
}

bool servers_status(const struct servers *s, int k, struct cmd_status *st)
{
    char address[64];
    servers_address(s, k, address, sizeof address);
    struct transport_grpc_client *c = NULL;
    if (transport_grpc_client_new(address, s->tls, &c) != 0) {
        return false;
    }
    struct transport_grpc_result res;
    int rv = transport_grpc_client_call(c, cmd_method_paths[CMD_STATUS], NULL,
                                        0, 2000, &res);
    transport_grpc_client_free(c);
    bool ok = rv == 0 && res.status == TRANSPORT_GRPC_OK &&
              cmd_status_decode(res.data, res.len, st) == 0;
    free(res.data);
    return ok;
}

int servers_leader(const struct servers *s, unsigned wait_ms, raft_term *term)
{
    uint64_t until = procs_now_ns() + (uint64_t)wait_ms * 1000000ull;
    for (;;) {
        int leader = -1;
        raft_term best = 0;
        for (int k = 0; k < s->n; k++) {
            struct cmd_status st;
            if (s->pids[k] > 0 && servers_status(s, k, &st) &&
                strcmp(st.role, "leader") == 0 && st.term >= best) {
                leader = k;
                best = st.term;
            }
        }
        if (leader >= 0 || procs_now_ns() > until) {
            if (term != NULL) {
                *term = best;
            }
            return leader;
        }
        procs_sleep_ms(50);
    }
}

bool servers_converged(const struct servers *s,
                       unsigned wait_ms,
                       struct cmd_status *agreed)
{
    uint64_t until = procs_now_ns() + (uint64_t)wait_ms * 1000000ull;
    int same = 0;
    struct cmd_status st[SERVERS_MAX];
    while (procs_now_ns() < until) {
        bool all = true;
        int first = -1; /* the first running node: the others match it */
        for (int k = 0; k < s->n && all; k++) {
            if (s->gone[k]) {
                continue;
            }
            first = first < 0 ? k : first;
            all = servers_status(s, k, &st[k]) &&
                  st[k].applied == st[k].commit &&
                  st[k].applied == st[first].applied &&
                  st[k].digest == st[first].digest && st[k].applied > 0;
        }
        all = all && first >= 0;
        same = all ? same + 1 : 0;
        if (same == 2) {
            if (agreed != NULL) {
                *agreed = st[first];
            }
            return true;
        }
        procs_sleep_ms(200);
    }
    for (int k = 0; k < s->n; k++) {
        if (s->gone[k]) {
            continue;
        }
        if (!servers_status(s, k, &st[k])) {
            printf("node %d does not answer\n", k + 1);
            continue;
        }
        printf(
            "node %d: %s, term %llu, commit %llu, applied %llu, digest "
            "%016llx, %llu keys\n",
            k + 1, st[k].role, (unsigned long long)st[k].term,
            (unsigned long long)st[k].commit, (unsigned long long)st[k].applied,
            (unsigned long long)st[k].digest, (unsigned long long)st[k].keys);
    }
    return false;
}

void servers_kill(struct servers *s)
{
    for (int k = 0; k < s->n; k++) {
        if (s->pids[k] > 0) {
            procs_stop(s->pids[k], SIGKILL, 5000);
            s->pids[k] = 0;
        }
    }
}
