/*
 * Cluster configurations as data: construction, validation, lookup, and a
 * small self-describing binary encoding so that configuration entries and
 * snapshots can carry them.
 *
 * Encoding (little endian): u32 magic "RCF1", u32 count, then per server
 * u64 id and u8 role. When any server has a client address the magic is
 * "RCF2" and the address table follows as it is held in memory: per
 * server, in order, a u8 length and that many bytes of printable ASCII.
 * A configuration without addresses keeps the "RCF1" bytes it always had,
 * so logs, snapshots and simulated runs from before addresses existed read
 * and replay the same. Everything is checked on decode, and only one
 * encoding decodes for each configuration (an "RCF2" whose addresses are
 * all empty is refused).
 *
 * The address table lives out of line (struct raft_configuration says
 * why): decoding points it into the bytes decoded, and whoever keeps a
 * configuration longer than those bytes copies it (raft_configuration_copy).
 */
#include <assert.h>
#include <string.h>

#include "raft/raft.h"

#define CONF_MAGIC  0x31464352u /* "RCF1" */
#define CONF_MAGIC2 0x32464352u /* "RCF2": with addresses */

/* A byte an address may hold: printable ASCII without the space. */
static bool address_byte_ok(uint8_t b)
{
    return b > 0x20 && b < 0x7f;
}

/* Checks an address table for @count servers: one entry each, lengths
 * within the table, every byte allowed. Sets *any when some server has an
 * address. */
static bool addresses_valid(const uint8_t *t,
                            size_t len,
                            uint32_t count,
                            bool *any)
{
    *any = false;
    if (len > RAFT_ADDRESSES_MAX || (len > 0 && t == NULL)) {
        return false;
    }
    size_t at = 0;
    for (uint32_t k = 0; k < count; k++) {
        if (at >= len) {
            return false;
        }
        size_t n = t[at++];
        if (n > len - at) {
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (!address_byte_ok(t[at + i])) {
                return false;
            }
        }
        *any = *any || n > 0;
        at += n;
    }
    return at == len;
}

int raft_configuration_voters(struct raft_configuration *conf,
                              const raft_id *ids,
                              size_t count)
{
    assert(conf != NULL);
    if (count == 0 || count > RAFT_MAX_SERVERS) {
        return COMMON_EINVAL;
    }
    assert(ids != NULL);
    memset(conf, 0, sizeof *conf);
    conf->addresses = NULL;
    for (size_t i = 0; i < count; i++) {
        conf->servers[i].id = ids[i];
        conf->servers[i].role = RAFT_VOTER;
    }
    conf->count = (uint32_t)count;
    return raft_configuration_valid(conf) ? 0 : COMMON_EINVAL;
}

bool raft_configuration_valid(const struct raft_configuration *conf)
{
    assert(conf != NULL);
    if (conf->count == 0 || conf->count > RAFT_MAX_SERVERS) {
        return false;
    }
    unsigned voters = 0;
    for (uint32_t i = 0; i < conf->count; i++) {
        const struct raft_server *s = &conf->servers[i];
        if (s->id == 0) {
            return false;
        }
        if (s->role != RAFT_VOTER && s->role != RAFT_LEARNER) {
            return false;
        }
        voters += s->role == RAFT_VOTER;
        for (uint32_t j = 0; j < i; j++) {
            if (conf->servers[j].id == s->id) {
                return false;
            }
        }
    }
    bool any = false;
    return voters > 0 &&
           (conf->addresses == NULL
                ? conf->addresses_len == 0
                : addresses_valid(conf->addresses, conf->addresses_len,
                                  conf->count, &any));
}

size_t raft_configuration_address(const struct raft_configuration *conf,
                                  uint32_t k,
                                  const char **addr)
{
    assert(conf != NULL && addr != NULL && k < conf->count);
    *addr = "";
    if (conf->addresses == NULL) {
        return 0;
    }
    /* The table was checked when it was made (decode, set_addresses). */
    const uint8_t *t = conf->addresses;
    size_t at = 0;
    for (uint32_t i = 0; i < k; i++) {
        at += 1 + (size_t)t[at];
        assert(at < conf->addresses_len);
    }
    size_t n = t[at];
    assert(at + 1 + n <= conf->addresses_len);
    *addr = (const char *)t + at + 1;
    return n;
}

int raft_configuration_set_addresses(struct raft_configuration *conf,
                                     const char *const *addresses,
                                     uint8_t *buf,
                                     size_t cap)
{
    assert(conf != NULL && addresses != NULL && buf != NULL);
    assert(conf->count <= RAFT_MAX_SERVERS && buf != conf->addresses);
    size_t at = 0;
    bool any = false;
    for (uint32_t k = 0; k < conf->count; k++) {
        const char *a = addresses[k] != NULL ? addresses[k] : "";
        size_t n = strlen(a);
        if (n > RAFT_ADDRESS_MAX) {
            return COMMON_EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            if (!address_byte_ok((uint8_t)a[i])) {
                return COMMON_EINVAL;
            }
        }
        if (1 + n > cap - at) {
            return COMMON_ERANGE;
        }
        buf[at] = (uint8_t)n;
        memcpy(buf + at + 1, a, n);
        at += 1 + n;
        any = any || n > 0;
    }
    conf->addresses = any ? buf : NULL;
    conf->addresses_len = any ? (uint32_t)at : 0;
    return 0;
}

int raft_configuration_copy(struct raft_configuration *dst,
                            const struct raft_configuration *src,
                            uint8_t *buf,
                            size_t cap)
{
    assert(dst != NULL && src != NULL);
    if (src->addresses_len > cap) {
        return COMMON_ERANGE;
    }
    if (src->addresses_len > 0) {
        memmove(buf, src->addresses, src->addresses_len);
    }
    const uint8_t *table = src->addresses != NULL ? buf : NULL;
    uint32_t table_len = src->addresses_len;
    if (dst != src) {
        memcpy(dst, src, sizeof *dst);
    }
    dst->addresses = table;
    dst->addresses_len = table_len;
    return 0;
}

int raft_configuration_find(const struct raft_configuration *conf, raft_id id)
{
    assert(conf != NULL);
    if (id == 0) {
        return -1;
    }
    for (uint32_t i = 0; i < conf->count && i < RAFT_MAX_SERVERS; i++) {
        if (conf->servers[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

unsigned raft_configuration_voter_count(const struct raft_configuration *conf)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < conf->count && i < RAFT_MAX_SERVERS; i++) {
        n += conf->servers[i].role == RAFT_VOTER;
    }
    assert(n <= RAFT_MAX_SERVERS);
    return n;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    assert(p != NULL);
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    assert(p != NULL);
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    assert(p != NULL);
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v |= (uint32_t)p[i] << (8 * i);
    }
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    assert(p != NULL);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

size_t raft_configuration_encode(const struct raft_configuration *conf,
                                 uint8_t *buf,
                                 size_t cap)
{
    /* A count above the bound would read past conf->servers. */
    assert(conf->count <= RAFT_MAX_SERVERS);
    size_t table = conf->addresses != NULL ? conf->addresses_len : 0;
    assert(table <= RAFT_ADDRESSES_MAX);
    if (table > 0) {
        /* A table of empty entries encodes as no table: one encoding per
         * configuration. */
        bool any = false;
        bool ok = addresses_valid(conf->addresses, table, conf->count, &any);
        assert(ok);
        (void)ok;
        table = any ? table : 0;
    }
    size_t need = 8 + (size_t)conf->count * 9 + table;
    if (buf == NULL || cap < need) {
        return need;
    }
    put_u32(buf, table > 0 ? CONF_MAGIC2 : CONF_MAGIC);
    put_u32(buf + 4, conf->count);
    uint8_t *p = buf + 8;
    for (uint32_t i = 0; i < conf->count; i++) {
        put_u64(p, conf->servers[i].id);
        p[8] = (uint8_t)conf->servers[i].role;
        p += 9;
    }
    if (table > 0) {
        memcpy(p, conf->addresses, table);
        p += table;
    }
    assert((size_t)(p - buf) == need);
    return need;
}

int raft_configuration_decode(struct raft_configuration *conf,
                              const uint8_t *buf,
                              size_t len)
{
    if (len < 8 || buf == NULL) {
        return COMMON_ECORRUPT;
    }
    uint32_t magic = get_u32(buf);
    if (magic != CONF_MAGIC && magic != CONF_MAGIC2) {
        return COMMON_ECORRUPT;
    }
    uint32_t count = get_u32(buf + 4);
    if (count == 0 || count > RAFT_MAX_SERVERS || len < 8 + (size_t)count * 9) {
        return COMMON_ECORRUPT;
    }
    size_t fixed = 8 + (size_t)count * 9;
    struct raft_configuration c;
    memset(&c, 0, sizeof c);
    c.count = count;
    c.addresses = NULL;
    if (magic == CONF_MAGIC) {
        if (len != fixed) {
            return COMMON_ECORRUPT;
        }
    } else {
        /* Only a table with some address is encoded as "RCF2". */
        bool any = false;
        if (!addresses_valid(buf + fixed, len - fixed, count, &any) || !any) {
            return COMMON_ECORRUPT;
        }
        c.addresses = buf + fixed;
        c.addresses_len = (uint32_t)(len - fixed);
    }
    const uint8_t *p = buf + 8;
    for (uint32_t i = 0; i < count; i++) {
        c.servers[i].id = get_u64(p);
        c.servers[i].role = (enum raft_server_role)p[8];
        p += 9;
    }
    if (!raft_configuration_valid(&c)) {
        return COMMON_ECORRUPT;
    }
    /* What decodes takes exactly the bytes its encoding would. */
    assert(raft_configuration_encode(&c, NULL, 0) == len);
    *conf = c;
    return 0;
}
