/*
 * Flag values shared by raftkv-server and raftkv-cli: the cluster map,
 * HOST:PORT addresses, numbers and durations. Every parser takes the
 * whole string or refuses it, with a reason a user can act on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"

void cmd_usage_short(const char *program, const char *synopsis)
{
    fprintf(stderr, "%sTry '%s --help' for more.\n", synopsis, program);
}

int cmd_parse_seconds_ms(const char *s, double max, uint64_t *out_ms)
{
    double v = 0;
    if (common_parse_double(s, 0, max, &v) != 0 || !(v > 0)) {
        return COMMON_EPARSE;
    }
    uint64_t ms = (uint64_t)(v * 1000.0 + 0.5);
    *out_ms = ms > 0 ? ms : 1;
    return 0;
}

bool cmd_address_valid(const char *address, bool port0_ok)
{
    if (address == NULL) {
        return false;
    }
    size_t len = strlen(address);
    const char *colon = strrchr(address, ':');
    if (len == 0 || len >= CMD_ADDRESS_MAX || colon == NULL ||
        colon == address) {
        return false;
    }
    /* The host: a name or IPv4 address without ':' or an [IPv6] one. */
    size_t host_len = (size_t)(colon - address);
    if (address[0] == '[') {
        if (host_len < 3 || address[host_len - 1] != ']') {
            return false;
        }
    } else if (memchr(address, ':', host_len) != NULL) {
        return false;
    }
    for (size_t k = 0; k < host_len; k++) {
        unsigned char ch = (unsigned char)address[k];
        if (ch <= ' ' || ch == ',' || ch == '=' || ch == '/' || ch >= 0x7f) {
            return false;
        }
    }
    uint64_t port;
    return common_parse_u64(colon + 1, port0_ok ? 0 : 1, 65535, &port) == 0;
}

int cmd_cluster_parse(const char *spec,
                      struct cmd_cluster *out,
                      char *why,
                      size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (spec == NULL || *spec == '\0') {
        snprintf(why, why_len, "the cluster is empty");
        return COMMON_EPARSE;
    }
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char item[CMD_ADDRESS_MAX + 32];
        if (n == 0 || n >= sizeof item) {
            snprintf(why, why_len, "'%.*s' is not ID=HOST:PORT", (int)n, p);
            return COMMON_EPARSE;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(why, why_len, "'%s' is not ID=HOST:PORT", item);
            return COMMON_EPARSE;
        }
        *eq = '\0';
        uint64_t id;
        if (common_parse_u64(item, 1, UINT64_MAX, &id) != 0) {
            snprintf(why, why_len, "'%s' is not a node id (1 or more)", item);
            return COMMON_EPARSE;
        }
        if (!cmd_address_valid(eq + 1, false)) {
            snprintf(why, why_len,
                     "node %llu: '%s' is not HOST:PORT (port 1-65535)",
                     (unsigned long long)id, eq + 1);
            return COMMON_EPARSE;
        }
        if (cmd_cluster_address(out, id) != NULL) {
            snprintf(why, why_len, "node %llu appears twice",
                     (unsigned long long)id);
            return COMMON_EPARSE;
        }
        if (out->n == RAFT_MAX_SERVERS) {
            snprintf(why, why_len, "more than %d nodes", RAFT_MAX_SERVERS);
            return COMMON_EPARSE;
        }
        struct cmd_member *m = &out->members[out->n++];
        m->id = id;
        snprintf(m->address, sizeof m->address, "%s", eq + 1);
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return 0;
}

const char *cmd_cluster_address(const struct cmd_cluster *c, raft_id id)
{
    for (size_t k = 0; k < c->n; k++) {
        if (c->members[k].id == id) {
            return c->members[k].address;
        }
    }
    return NULL;
}
