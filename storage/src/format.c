/*
 * Byte formats of the write-ahead log and of snapshot files (format.h has
 * the contract, docs/storage.md the tables).
 *
 * A record carries two CRCs: one over its 12-byte header and one over its
 * payload. The header CRC is what lets recovery tell a torn tail from a
 * damaged record in the middle: a record whose length field was flipped
 * fails its own header check instead of sending the parser off into the
 * next records, and scanning forward for "any valid record after this
 * point" costs one small CRC per byte offset rather than one per possible
 * payload.
 */
#include <assert.h>
#include <string.h>

#include "format.h"

void fmt_put_u32(uint8_t *p, uint32_t v)
{
    assert(p != NULL);
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

void fmt_put_u64(uint8_t *p, uint64_t v)
{
    assert(p != NULL);
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

uint32_t fmt_get_u32(const uint8_t *p)
{
    assert(p != NULL);
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v |= (uint32_t)p[i] << (8 * i);
    }
    return v;
}

uint64_t fmt_get_u64(const uint8_t *p)
{
    assert(p != NULL);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

const char *wal_record_type_name(unsigned type)
{
    _Static_assert(WAL_RECORD_TYPE_MAX == WAL_SEAL,
                   "every record type has a name below");
    switch (type) {
        case WAL_SEGMENT:
            return "segment";
        case WAL_HARD_STATE:
            return "hard state";
        case WAL_TRUNCATE:
            return "truncate";
        case WAL_ENTRIES:
            return "entries";
        case WAL_SNAPSHOT:
            return "snapshot";
        case WAL_COMMIT:
            return "commit";
        case WAL_SEAL:
            return "seal";
        default:
            return "unknown";
    }
}

static void fill_header(uint8_t *h,
                        unsigned type,
                        const uint8_t *payload,
                        uint32_t len)
{
    /* Only records that wal_record_parse() accepts are ever written: a
     * known type, a length within the limit, the payload right after the
     * header. */
    assert(type >= 1 && type <= WAL_RECORD_TYPE_MAX);
    assert(len <= WAL_RECORD_MAX && payload == h + WAL_RECORD_HEADER);
    fmt_put_u32(h, len);
    fmt_put_u32(h + 4, common_crc32c(0, payload, len));
    h[8] = (uint8_t)type;
    h[9] = 0;
    h[10] = 0;
    h[11] = 0;
    fmt_put_u32(h + 12, common_crc32c(0, h, 12));
#ifdef STORAGE_INVARIANTS
    /* The pair: what was framed parses back, CRCs and all. */
    struct wal_record rec;
    const char *why = NULL;
    assert(wal_record_parse(h, WAL_RECORD_HEADER + (size_t)len, &rec, &why) ==
           WAL_PARSE_OK);
    assert(rec.type == type && rec.len == len && rec.payload == payload);
#endif
}

enum wal_parse wal_record_parse(const uint8_t *buf,
                                size_t len,
                                struct wal_record *out,
                                const char **why)
{
    if (len < WAL_RECORD_HEADER) {
        *why = "short record header";
        return WAL_PARSE_SHORT_HEADER;
    }
    if (fmt_get_u32(buf + 12) != common_crc32c(0, buf, 12)) {
        *why = "record header CRC mismatch";
        return WAL_PARSE_BAD_HEADER;
    }
    uint32_t plen = fmt_get_u32(buf);
    unsigned type = buf[8];
    if (buf[9] != 0 || buf[10] != 0 || buf[11] != 0) {
        *why = "record header has non-zero reserved bytes";
        return WAL_PARSE_BAD_HEADER;
    }
    if (type == 0 || type > WAL_RECORD_TYPE_MAX) {
        *why = "unknown record type";
        return WAL_PARSE_BAD_HEADER;
    }
    if (plen > WAL_RECORD_MAX) {
        *why = "record length beyond the limit";
        return WAL_PARSE_BAD_HEADER;
    }
    /* The header checks: say what it claims even if the payload fails. */
    out->type = type;
    out->payload = buf + WAL_RECORD_HEADER;
    out->len = plen;
    out->size = WAL_RECORD_HEADER + (size_t)plen;
    if (len - WAL_RECORD_HEADER < plen) {
        *why = "short record payload";
        return WAL_PARSE_SHORT_PAYLOAD;
    }
    if (fmt_get_u32(buf + 4) != common_crc32c(0, out->payload, plen)) {
        *why = "record payload CRC mismatch";
        return WAL_PARSE_BAD_PAYLOAD;
    }
    /* The record ends where its header says, within the buffer. */
    assert(out->size == WAL_RECORD_HEADER + (size_t)out->len &&
           out->size <= len);
    return WAL_PARSE_OK;
}

void wal_record_write(uint8_t *dst,
                      unsigned type,
                      const void *payload,
                      uint32_t len)
{
    assert(dst != NULL && (len == 0 || payload != NULL));
    if (len > 0) {
        memmove(dst + WAL_RECORD_HEADER, payload, len);
    }
    fill_header(dst, type, dst + WAL_RECORD_HEADER, len);
}

int wal_record_start(struct common_vec *v, size_t *at)
{
    assert(v != NULL && at != NULL && v->len <= v->cap);
    int rv = common_vec_reserve(v, WAL_RECORD_HEADER);
    if (rv != 0) {
        return rv;
    }
    *at = v->len;
    memset(v->data + v->len, 0, WAL_RECORD_HEADER);
    v->len += WAL_RECORD_HEADER;
    /* common_vec_reserve() made room for the header. */
    assert(v->len <= v->cap);
    return 0;
}

void wal_record_finish(struct common_vec *v, size_t at, unsigned type)
{
    /* A header wal_record_start() reserved, and a payload that fits a
     * record (fill_header checks the limit). */
    assert(at + WAL_RECORD_HEADER <= v->len);
    size_t plen = v->len - at - WAL_RECORD_HEADER;
    assert(plen <= WAL_RECORD_MAX);
    fill_header(v->data + at, type, v->data + at + WAL_RECORD_HEADER,
                (uint32_t)plen);
}

int wal_record_append(struct common_vec *v,
                      unsigned type,
                      const void *payload,
                      size_t len)
{
    assert(v != NULL && (len == 0 || payload != NULL));
    size_t at;
    int rv = wal_record_start(v, &at);
    if (rv != 0) {
        return rv;
    }
    rv = common_vec_append(v, payload, len);
    if (rv != 0) {
        v->len = at;
        return rv;
    }
    wal_record_finish(v, at, type);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Payloads                                                                  */
/* ------------------------------------------------------------------------ */

void wal_encode_segment(uint8_t *p, const struct wal_segment_header *h)
{
    assert(p != NULL && h != NULL);
    fmt_put_u32(p, WAL_SEGMENT_MAGIC);
    fmt_put_u32(p + 4, WAL_VERSION);
    fmt_put_u64(p + 8, h->seq);
    fmt_put_u64(p + 16, h->first_index);
    wal_encode_hard_state(p + 24, &h->hard_state);
}

void wal_encode_hard_state(uint8_t *p, const struct raft_hard_state *hs)
{
    assert(p != NULL && hs != NULL);
    fmt_put_u64(p, hs->term);
    fmt_put_u64(p + 8, hs->vote);
    fmt_put_u64(p + 16, hs->commit);
}

void wal_encode_truncate(uint8_t *p, raft_index from)
{
    assert(p != NULL);
    fmt_put_u64(p, from);
}

void wal_encode_snapshot_mark(uint8_t *p, const struct wal_snapshot_mark *m)
{
    assert(p != NULL && m != NULL);
    fmt_put_u64(p, m->index);
    fmt_put_u64(p + 8, m->term);
    fmt_put_u32(p + 16, m->replaced ? SNAP_REPLACED : 0);
}

void wal_encode_commit(uint8_t *p, uint32_t records)
{
    assert(p != NULL);
    fmt_put_u32(p, records);
}

void wal_encode_seal(uint8_t *p, uint64_t next_seq)
{
    assert(p != NULL);
    fmt_put_u64(p, next_seq);
}

static int check_len(size_t len, size_t want, const char **why, const char *msg)
{
    assert(why != NULL && msg != NULL);
    if (len != want) {
        *why = msg;
        return COMMON_ECORRUPT;
    }
    return 0;
}

int wal_decode_segment(const uint8_t *p,
                       size_t len,
                       struct wal_segment_header *h,
                       const char **why)
{
    if (check_len(len, WAL_SEGMENT_PAYLOAD, why,
                  "segment header has the wrong length") != 0) {
        return COMMON_ECORRUPT;
    }
    if (fmt_get_u32(p) != WAL_SEGMENT_MAGIC) {
        *why = "segment header has a bad magic number";
        return COMMON_ECORRUPT;
    }
    if (fmt_get_u32(p + 4) != WAL_VERSION) {
        *why = "segment header has an unknown version";
        return COMMON_ECORRUPT;
    }
    h->seq = fmt_get_u64(p + 8);
    h->first_index = fmt_get_u64(p + 16);
    if (h->seq == 0 || h->first_index == 0) {
        *why = "segment header has a zero sequence number or first index";
        return COMMON_ECORRUPT;
    }
    int rv = wal_decode_hard_state(p + 24, WAL_HARD_STATE_PAYLOAD,
                                   &h->hard_state, why);
    /* The pair: what decodes encodes back to the same bytes. */
    uint8_t back[WAL_SEGMENT_PAYLOAD];
    wal_encode_segment(back, h);
    assert(rv != 0 || memcmp(back, p, sizeof back) == 0);
    return rv;
}

int wal_decode_hard_state(const uint8_t *p,
                          size_t len,
                          struct raft_hard_state *hs,
                          const char **why)
{
    if (check_len(len, WAL_HARD_STATE_PAYLOAD, why,
                  "hard state record has the wrong length") != 0) {
        return COMMON_ECORRUPT;
    }
    hs->term = fmt_get_u64(p);
    hs->vote = fmt_get_u64(p + 8);
    hs->commit = fmt_get_u64(p + 16);
    uint8_t back[WAL_HARD_STATE_PAYLOAD];
    wal_encode_hard_state(back, hs);
    assert(memcmp(back, p, sizeof back) == 0);
    return 0;
}

int wal_decode_truncate(const uint8_t *p,
                        size_t len,
                        raft_index *from,
                        const char **why)
{
    if (check_len(len, WAL_TRUNCATE_PAYLOAD, why,
                  "truncate record has the wrong length") != 0) {
        return COMMON_ECORRUPT;
    }
    *from = fmt_get_u64(p);
    if (*from == 0) {
        *why = "truncate record drops from index 0";
        return COMMON_ECORRUPT;
    }
    uint8_t back[WAL_TRUNCATE_PAYLOAD];
    wal_encode_truncate(back, *from);
    assert(memcmp(back, p, sizeof back) == 0);
    return 0;
}

int wal_decode_snapshot_mark(const uint8_t *p,
                             size_t len,
                             struct wal_snapshot_mark *m,
                             const char **why)
{
    if (check_len(len, WAL_SNAPSHOT_PAYLOAD, why,
                  "snapshot record has the wrong length") != 0) {
        return COMMON_ECORRUPT;
    }
    m->index = fmt_get_u64(p);
    m->term = fmt_get_u64(p + 8);
    uint32_t flags = fmt_get_u32(p + 16);
    if (m->index == 0 || (flags & ~(uint32_t)SNAP_REPLACED) != 0) {
        *why = "snapshot record has index 0 or unknown flags";
        return COMMON_ECORRUPT;
    }
    m->replaced = (flags & SNAP_REPLACED) != 0;
    uint8_t back[WAL_SNAPSHOT_PAYLOAD];
    wal_encode_snapshot_mark(back, m);
    assert(memcmp(back, p, sizeof back) == 0);
    return 0;
}

int wal_decode_commit(const uint8_t *p,
                      size_t len,
                      uint32_t *records,
                      const char **why)
{
    if (check_len(len, WAL_COMMIT_PAYLOAD, why,
                  "commit record has the wrong length") != 0) {
        return COMMON_ECORRUPT;
    }
    *records = fmt_get_u32(p);
    uint8_t back[WAL_COMMIT_PAYLOAD];
    wal_encode_commit(back, *records);
    assert(memcmp(back, p, sizeof back) == 0);
    return 0;
}

int wal_decode_seal(const uint8_t *p,
                    size_t len,
                    uint64_t *next_seq,
                    const char **why)
{
    if (check_len(len, WAL_SEAL_PAYLOAD, why,
                  "seal record has the wrong length") != 0) {
        return COMMON_ECORRUPT;
    }
    *next_seq = fmt_get_u64(p);
    uint8_t back[WAL_SEAL_PAYLOAD];
    wal_encode_seal(back, *next_seq);
    assert(memcmp(back, p, sizeof back) == 0);
    return 0;
}

bool wal_entry_type_valid(unsigned type)
{
    /* An entries record gives the type one byte. */
    _Static_assert(RAFT_ENTRY_CONFIG <= UINT8_MAX, "an entry type is a byte");
    return type == RAFT_ENTRY_COMMAND || type == RAFT_ENTRY_NOOP ||
           type == RAFT_ENTRY_CONFIG;
}

size_t wal_entry_size(const struct raft_entry *e)
{
    assert(e->data.len <= SIZE_MAX - WAL_ENTRY_HEAD);
    return WAL_ENTRY_HEAD + e->data.len;
}

int wal_encode_entries(struct common_vec *v,
                       const struct raft_entry *entries,
                       size_t n)
{
    /* The calling contract (check_batch() holds the WAL to it): at least
     * one entry, consecutive indexes from 1 on, known types, data that
     * fits a u32 length. */
    assert(n >= 1 && n <= UINT32_MAX && entries[0].index >= 1);
    size_t need = WAL_ENTRIES_HEAD;
    for (size_t k = 0; k < n; k++) {
        const struct raft_entry *e = &entries[k];
        assert(e->index == entries[0].index + k);
        assert(wal_entry_type_valid(e->type) && e->data.len <= UINT32_MAX);
        need += wal_entry_size(e);
    }
    int rv = common_vec_reserve(v, need);
    if (rv != 0) {
        return rv;
    }
    uint8_t *p = v->data + v->len;
    fmt_put_u64(p, entries[0].index);
    fmt_put_u32(p + 8, (uint32_t)n);
    p += WAL_ENTRIES_HEAD;
    for (size_t k = 0; k < n; k++) {
        const struct raft_entry *e = &entries[k];
        fmt_put_u64(p, e->term);
        p[8] = (uint8_t)e->type;
        fmt_put_u32(p + 9, (uint32_t)e->data.len);
        p += WAL_ENTRY_HEAD;
        if (e->data.len > 0) {
            memcpy(p, e->data.base, e->data.len);
            p += e->data.len;
        }
    }
    /* Exactly the bytes counted, as wal_entries_scan() will count them. */
    assert(p == v->data + v->len + need);
    v->len += need;
    return 0;
}

int wal_entries_scan(const uint8_t *p,
                     size_t len,
                     raft_index *first,
                     uint32_t *count,
                     const char **why)
{
    if (len < WAL_ENTRIES_HEAD) {
        *why = "entries record too short for its header";
        return COMMON_ECORRUPT;
    }
    *first = fmt_get_u64(p);
    *count = fmt_get_u32(p + 8);
    if (*first == 0 || *count == 0) {
        *why = "entries record has first index 0 or no entries";
        return COMMON_ECORRUPT;
    }
    if (*first > UINT64_MAX - *count) {
        *why = "entries record indexes overflow";
        return COMMON_ECORRUPT;
    }
    size_t off = WAL_ENTRIES_HEAD;
    for (uint32_t k = 0; k < *count; k++) {
        if (len - off < WAL_ENTRY_HEAD) {
            *why = "entries record ends inside an entry header";
            return COMMON_ECORRUPT;
        }
        if (!wal_entry_type_valid(p[off + 8])) {
            *why = "entries record holds an unknown entry type";
            return COMMON_ECORRUPT;
        }
        uint32_t dlen = fmt_get_u32(p + off + 9);
        off += WAL_ENTRY_HEAD;
        if (len - off < dlen) {
            *why = "entries record ends inside an entry's data";
            return COMMON_ECORRUPT;
        }
        off += dlen;
    }
    if (off != len) {
        *why = "entries record has bytes after its last entry";
        return COMMON_ECORRUPT;
    }
    assert(*count >= 1 && *first <= UINT64_MAX - *count);
    return 0;
}

void wal_entries_decode(const uint8_t *p, size_t len, struct raft_entry *out)
{
    assert(p != NULL && out != NULL && len >= WAL_ENTRIES_HEAD);
    raft_index index = fmt_get_u64(p);
    uint32_t count = fmt_get_u32(p + 8);
    const uint8_t *q = p + WAL_ENTRIES_HEAD;
    for (uint32_t k = 0; k < count; k++) {
        struct raft_entry *e = &out[k];
        e->index = index + k;
        e->term = fmt_get_u64(q);
        e->type = (enum raft_entry_type)q[8];
        e->data.len = fmt_get_u32(q + 9);
        q += WAL_ENTRY_HEAD;
        e->data.base = e->data.len > 0 ? (void *)q : NULL;
        q += e->data.len;
    }
    /* The pair with wal_entries_scan(): decoding takes exactly the bytes
     * the scan checked. */
    assert(q == p + len);
}

/* ------------------------------------------------------------------------ */
/* Snapshot files                                                            */
/* ------------------------------------------------------------------------ */

int snap_encode_head(struct common_vec *v,
                     const struct storage_snapshot_meta *meta,
                     uint32_t flags,
                     uint64_t data_len)
{
    /* An empty configuration (count 0) is stored as no bytes at all:
     * raft_configuration_decode() would refuse its encoding. */
    size_t conf_len = 0;
    if (meta->conf.count > 0) {
        if (!raft_configuration_valid(&meta->conf)) {
            return COMMON_EINVAL;
        }
        conf_len = raft_configuration_encode(&meta->conf, NULL, 0);
    }
    int rv = common_vec_reserve(v, SNAP_HEADER + conf_len);
    if (rv != 0) {
        return rv;
    }
    uint8_t *p = v->data + v->len;
    fmt_put_u32(p, SNAP_MAGIC);
    fmt_put_u32(p + 4, SNAP_VERSION);
    fmt_put_u32(p + 8, flags);
    fmt_put_u32(p + 12, (uint32_t)conf_len);
    fmt_put_u64(p + 16, meta->index);
    fmt_put_u64(p + 24, meta->term);
    fmt_put_u64(p + 32, data_len);
    fmt_put_u32(p + 40, common_crc32c(0, p, 40));
    if (conf_len > 0) {
        size_t n =
            raft_configuration_encode(&meta->conf, p + SNAP_HEADER, conf_len);
        assert(n == conf_len);
    }
    v->len += SNAP_HEADER + conf_len;
    assert(v->len <= v->cap);
    return 0;
}

void snap_encode_trailer(uint8_t *p, uint32_t crc)
{
    assert(p != NULL);
    fmt_put_u32(p, crc);
}

static int snap_bad(uint64_t *offset,
                    uint64_t at,
                    const char **why,
                    const char *msg)
{
    assert(offset != NULL && why != NULL && msg != NULL);
    *offset = at;
    *why = msg;
    return COMMON_ECORRUPT;
}

int snap_decode(const uint8_t *buf,
                size_t len,
                struct snap_decoded *out,
                uint64_t *offset,
                const char **why)
{
    if (len < SNAP_HEADER) {
        return snap_bad(offset, len, why,
                        "file ends inside the snapshot header");
    }
    if (fmt_get_u32(buf) != SNAP_MAGIC) {
        return snap_bad(offset, 0, why, "not a snapshot file (bad magic)");
    }
    if (fmt_get_u32(buf + 40) != common_crc32c(0, buf, 40)) {
        return snap_bad(offset, 40, why, "snapshot header CRC mismatch");
    }
    if (fmt_get_u32(buf + 4) != SNAP_VERSION) {
        return snap_bad(offset, 4, why, "unknown snapshot version");
    }
    uint32_t flags = fmt_get_u32(buf + 8);
    if ((flags & ~(uint32_t)SNAP_REPLACED) != 0) {
        return snap_bad(offset, 8, why, "unknown snapshot flags");
    }
    uint32_t conf_len = fmt_get_u32(buf + 12);
    uint64_t index = fmt_get_u64(buf + 16);
    uint64_t term = fmt_get_u64(buf + 24);
    uint64_t data_len = fmt_get_u64(buf + 32);
    if (index == 0) {
        return snap_bad(offset, 16, why, "snapshot index is 0");
    }
    uint64_t body = (uint64_t)len - SNAP_HEADER;
    if (conf_len > body) {
        return snap_bad(offset, len, why,
                        "file ends inside the snapshot configuration");
    }
    body -= conf_len;
    if (data_len > body) {
        return snap_bad(offset, len, why, "file ends inside the snapshot data");
    }
    body -= data_len;
    if (body < SNAP_TRAILER) {
        return snap_bad(offset, len, why, "file ends before the snapshot CRC");
    }
    if (body > SNAP_TRAILER) {
        return snap_bad(offset, len - (body - SNAP_TRAILER), why,
                        "bytes after the snapshot CRC");
    }
    size_t crc_at = len - SNAP_TRAILER;
    if (fmt_get_u32(buf + crc_at) != common_crc32c(0, buf, crc_at)) {
        return snap_bad(offset, crc_at, why,
                        "snapshot CRC mismatch (data or configuration "
                        "damaged)");
    }
    memset(out, 0, sizeof *out);
    if (conf_len > 0 &&
        raft_configuration_decode(&out->meta.conf, buf + SNAP_HEADER,
                                  conf_len) != 0) {
        return snap_bad(offset, SNAP_HEADER, why,
                        "snapshot configuration does not decode");
    }
    out->meta.index = index;
    out->meta.term = term;
    out->flags = flags;
    out->data = buf + SNAP_HEADER + conf_len;
    out->data_len = data_len;
    /* Header, configuration, data and CRC make up the whole file. */
    assert(SNAP_HEADER + (uint64_t)conf_len + data_len + SNAP_TRAILER == len);
    return 0;
}
