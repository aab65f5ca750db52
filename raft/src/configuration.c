/*
 * Cluster configurations as data: construction, validation, lookup, and a
 * small self-describing binary encoding so that configuration entries and
 * snapshots can carry them.
 *
 * Encoding (little endian): u32 magic "RCF1", u32 count, then per server
 * u64 id and u8 role. Everything is checked on decode.
 */
#include <assert.h>
#include <string.h>

#include "raft/raft.h"

#define CONF_MAGIC 0x31464352u /* "RCF1" */

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
    return voters > 0;
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
    size_t need = 8 + (size_t)conf->count * 9;
    if (buf == NULL || cap < need) {
        return need;
    }
    put_u32(buf, CONF_MAGIC);
    put_u32(buf + 4, conf->count);
    uint8_t *p = buf + 8;
    for (uint32_t i = 0; i < conf->count; i++) {
        put_u64(p, conf->servers[i].id);
        p[8] = (uint8_t)conf->servers[i].role;
        p += 9;
    }
    assert((size_t)(p - buf) == need);
    return need;
}

int raft_configuration_decode(struct raft_configuration *conf,
                              const uint8_t *buf,
                              size_t len)
{
    if (len < 8 || get_u32(buf) != CONF_MAGIC) {
        return COMMON_ECORRUPT;
    }
    uint32_t count = get_u32(buf + 4);
    if (count == 0 || count > RAFT_MAX_SERVERS ||
        len != 8 + (size_t)count * 9) {
        return COMMON_ECORRUPT;
    }
    struct raft_configuration c;
    memset(&c, 0, sizeof c);
    c.count = count;
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
