/*
 * A data directory's identity: which cluster and which node it belongs to
 * (DIR/IDENTITY, docs/operations.md). Written once, when a node first
 * starts on an empty directory; read and checked at every later start, so
 * that a directory started with another node's --id, or with a cluster
 * map that disagrees with the one it was made with, refuses to start
 * instead of serving from state that is not its own.
 *
 * The file is text, one "key: value" per line:
 *
 *   raftkv-identity: 1
 *   cluster: 9c3f0e5b7a1d2c44
 *   node: 3
 *   member: 1=10.0.0.1:7001
 *   member: 2=10.0.0.2:7001
 *   member: 3=10.0.0.3:7001
 *
 * It is written to IDENTITY.tmp, synced, renamed into place and the
 * directory synced, so a crash leaves either no file or the whole file.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"

#define IDENTITY_VERSION 1

/* FNV-1a, 64 bits: stable across machines and versions, which is all a
 * cluster id made from the bootstrap map needs. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The members in id order (the map may list them in any order). */
static void sorted(const struct cmd_cluster *c, const struct cmd_member **out)
{
    for (size_t k = 0; k < c->n; k++) {
        size_t j = k;
        while (j > 0 && out[j - 1]->id > c->members[k].id) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = &c->members[k];
    }
}

uint64_t cmd_cluster_id(const struct cmd_cluster *c, const char *token)
{
    assert(c->n <= RAFT_MAX_SERVERS);
    const struct cmd_member *m[RAFT_MAX_SERVERS];
    sorted(c, m);
    uint64_t h = fnv1a(0xcbf29ce484222325ull, token);
    for (size_t k = 0; k < c->n; k++) {
        char id[32];
        snprintf(id, sizeof id, "\n%llu=", (unsigned long long)m[k]->id);
        h = fnv1a(fnv1a(h, id), m[k]->address);
    }
    return h != 0 ? h : 1;
}

bool cmd_cluster_equal(const struct cmd_cluster *a, const struct cmd_cluster *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t k = 0; k < a->n; k++) {
        const char *addr = cmd_cluster_address(b, a->members[k].id);
        if (addr == NULL || strcmp(addr, a->members[k].address) != 0) {
            return false;
        }
    }
    return true;
}

void cmd_cluster_format(const struct cmd_cluster *c, char *buf, size_t len)
{
    assert(c->n <= RAFT_MAX_SERVERS && len > 0);
    const struct cmd_member *m[RAFT_MAX_SERVERS];
    sorted(c, m);
    buf[0] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < c->n && used < len; k++) {
        int n = snprintf(buf + used, len - used, "%s%llu=%s", k ? "," : "",
                         (unsigned long long)m[k]->id, m[k]->address);
        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
}

static void identity_path(const char *dir,
                          const char *name,
                          char *buf,
                          size_t len)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* One "key: value" line of @path (line @line) into @out. */
static int read_line(const char *path,
                     unsigned line,
                     char *text,
                     struct cmd_identity *out,
                     unsigned *seen,
                     char *why,
                     size_t why_len)
{
    char *colon = strstr(text, ": ");
    if (colon == NULL) {
        snprintf(why, why_len, "%s:%u: expected 'key: value', got '%s'", path,
                 line, text);
        return COMMON_EPARSE;
    }
    *colon = '\0';
    const char *key = text;
    const char *value = colon + 2;
    uint64_t v = 0;
    if (strcmp(key, "raftkv-identity") == 0) {
        if (common_parse_u64(value, IDENTITY_VERSION, IDENTITY_VERSION, &v) !=
            0) {
            snprintf(why, why_len,
                     "%s:%u: version '%s' is not one this server reads (%d)",
                     path, line, value, IDENTITY_VERSION);
            return COMMON_EPARSE;
        }
        *seen |= 1u;
    } else if (strcmp(key, "cluster") == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long id = strtoull(value, &end, 16);
        if (strlen(value) != 16 || *end != '\0' || errno != 0 || id == 0) {
            snprintf(why, why_len,
                     "%s:%u: cluster '%s' is not 16 hexadecimal digits", path,
                     line, value);
            return COMMON_EPARSE;
        }
        out->cluster_id = id;
        *seen |= 2u;
    } else if (strcmp(key, "node") == 0) {
        if (common_parse_u64(value, 1, UINT64_MAX, &v) != 0) {
            snprintf(why, why_len, "%s:%u: node '%s' is not a node id", path,
                     line, value);
            return COMMON_EPARSE;
        }
        out->node_id = v;
        *seen |= 4u;
    } else if (strcmp(key, "member") == 0) {
        struct cmd_cluster one;
        char bad[256];
        if (cmd_cluster_parse(value, &one, bad, sizeof bad) != 0 ||
            one.n != 1) {
            snprintf(why, why_len, "%s:%u: member '%s': %s", path, line, value,
                     one.n != 1 ? "one ID=HOST:PORT per line" : bad);
            return COMMON_EPARSE;
        }
        if (cmd_cluster_address(&out->members, one.members[0].id) != NULL ||
            out->members.n == RAFT_MAX_SERVERS) {
            snprintf(why, why_len, "%s:%u: member %llu: %s", path, line,
                     (unsigned long long)one.members[0].id,
                     out->members.n == RAFT_MAX_SERVERS ? "too many members"
                                                        : "listed twice");
            return COMMON_EPARSE;
        }
        out->members.members[out->members.n++] = one.members[0];
        *seen |= 8u;
    } else {
        snprintf(why, why_len, "%s:%u: unknown key '%s'", path, line, key);
        return COMMON_EPARSE;
    }
    return 0;
}

int cmd_identity_read(const char *dir,
                      struct cmd_identity *out,
                      bool *found,
                      char *why,
                      size_t why_len)
{
    memset(out, 0, sizeof *out);
    *found = false;
    char path[4096];
    identity_path(dir, "IDENTITY", path, sizeof path);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return COMMON_EIO;
    }
    *found = true;
    char text[CMD_ADDRESS_MAX + 64];
    unsigned line = 0;
    unsigned seen = 0;
    int rv = 0;
    while (rv == 0 && fgets(text, sizeof text, f) != NULL) {
        line++;
        size_t n = strlen(text);
        if (n == 0 || text[n - 1] != '\n') {
            snprintf(why, why_len, "%s:%u: line too long or unterminated", path,
                     line);
            rv = COMMON_EPARSE;
            break;
        }
        text[n - 1] = '\0';
        rv = read_line(path, line, text, out, &seen, why, why_len);
    }
    if (rv == 0 && ferror(f)) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        rv = COMMON_EIO;
    }
    fclose(f);
    if (rv == 0 && seen != 15u) {
        snprintf(why, why_len,
                 "%s: incomplete (needs raftkv-identity, cluster, node and at "
                 "least one member)",
                 path);
        rv = COMMON_EPARSE;
    }
    if (rv == 0 && cmd_cluster_address(&out->members, out->node_id) == NULL) {
        snprintf(why, why_len, "%s: node %llu is not among its members", path,
                 (unsigned long long)out->node_id);
        rv = COMMON_EPARSE;
    }
    return rv;
}

/* fsync of the directory @dir, so that a rename in it is durable. */
static int sync_dir(const char *dir, char *why, size_t why_len)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(why, why_len, "%s: %s", dir, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return COMMON_EIO;
    }
    close(fd);
    return 0;
}

int cmd_identity_write(const char *dir,
                       const struct cmd_identity *id,
                       char *why,
                       size_t why_len)
{
    assert(id->cluster_id != 0 && id->node_id != 0 && id->members.n > 0);
    char tmp[4096];
    char path[4096];
    identity_path(dir, "IDENTITY.tmp", tmp, sizeof tmp);
    identity_path(dir, "IDENTITY", path, sizeof path);
    FILE *f = fopen(tmp, "we");
    if (f == NULL) {
        snprintf(why, why_len, "%s: %s", tmp, strerror(errno));
        return COMMON_EIO;
    }
    const struct cmd_member *m[RAFT_MAX_SERVERS];
    sorted(&id->members, m);
    fprintf(f, "raftkv-identity: %d\ncluster: %016llx\nnode: %llu\n",
            IDENTITY_VERSION, (unsigned long long)id->cluster_id,
            (unsigned long long)id->node_id);
    for (size_t k = 0; k < id->members.n; k++) {
        fprintf(f, "member: %llu=%s\n", (unsigned long long)m[k]->id,
                m[k]->address);
    }
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(why, why_len, "%s: %s", ok ? path : tmp,
                 strerror(ok ? errno : err));
        unlink(tmp);
        return COMMON_EIO;
    }
    return sync_dir(dir, why, why_len);
}

int cmd_identity_adopt(const char *dir,
                       raft_id node,
                       const struct cmd_cluster *cluster,
                       const char *token,
                       struct cmd_identity *out,
                       bool *created,
                       char *why,
                       size_t why_len)
{
    bool found = false;
    *created = false;
    int rv = cmd_identity_read(dir, out, &found, why, why_len);
    if (rv != 0) {
        return rv;
    }
    char path[4096];
    identity_path(dir, "IDENTITY", path, sizeof path);
    if (!found) {
        memset(out, 0, sizeof *out);
        out->cluster_id = cmd_cluster_id(cluster, token);
        out->node_id = node;
        out->members = *cluster;
        rv = cmd_identity_write(dir, out, why, why_len);
        *created = rv == 0;
        return rv;
    }
    if (out->node_id != node) {
        snprintf(why, why_len,
                 "%s records node %llu of cluster %016llx, but --id says "
                 "%llu: this directory belongs to node %llu",
                 path, (unsigned long long)out->node_id,
                 (unsigned long long)out->cluster_id, (unsigned long long)node,
                 (unsigned long long)out->node_id);
        return COMMON_EINVAL;
    }
    if (!cmd_cluster_equal(&out->members, cluster)) {
        char have[1024];
        char given[1024];
        cmd_cluster_format(&out->members, have, sizeof have);
        cmd_cluster_format(cluster, given, sizeof given);
        snprintf(why, why_len,
                 "%s records cluster %016llx as %s, but --cluster gives %s: "
                 "start the node with the cluster it was made with",
                 path, (unsigned long long)out->cluster_id, have, given);
        return COMMON_EINVAL;
    }
    return 0;
}
