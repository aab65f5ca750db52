/*
 * The on-disk formats of the write-ahead log, as pure functions over
 * bytes: record framing, the payload of each record type, and the snapshot
 * file. Nothing here does I/O, so every format can be round-tripped and fed
 * bad bytes in tests. docs/storage.md describes the same formats byte by
 * byte; the two must agree.
 *
 * Every integer is little endian and fixed size. Decoders never trust a
 * length: each one is checked against the bytes actually present before it
 * is used, and a decoder says what is wrong (a static string) and where
 * (a byte offset relative to what it was given).
 */
#ifndef STORAGE_FORMAT_H
#define STORAGE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "raft/raft.h"
#include "storage/storage.h"

/* ------------------------------------------------------------------------ */
/* Little-endian integers                                                    */
/* ------------------------------------------------------------------------ */

void fmt_put_u32(uint8_t *p, uint32_t v);
void fmt_put_u64(uint8_t *p, uint64_t v);
uint32_t fmt_get_u32(const uint8_t *p);
uint64_t fmt_get_u64(const uint8_t *p);

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

/* Record header: u32 payload length, u32 CRC32C of the payload, u8 type,
 * three zero bytes, u32 CRC32C of the twelve bytes before it. */
#define WAL_RECORD_HEADER 16
/* No payload is larger; a header that says otherwise is damaged. Entries
 * are packed WAL_ENTRIES_TARGET bytes to a record, so only a single huge
 * entry comes near this. */
#define WAL_RECORD_MAX     ((uint32_t)64 << 20)
#define WAL_ENTRIES_TARGET ((size_t)1 << 20)

enum wal_record_type {
    WAL_SEGMENT = 1,    /* first record of every segment */
    WAL_HARD_STATE = 2, /* term, vote, commit */
    WAL_TRUNCATE = 3,   /* drop entries >= index */
    WAL_ENTRIES = 4,    /* one or more consecutive entries */
    WAL_SNAPSHOT = 5,   /* a snapshot now covers the log up to index */
    WAL_COMMIT = 6,     /* ends a batch: the records before it take effect */
    WAL_SEAL = 7,       /* ends a segment: the next one exists */
};
#define WAL_RECORD_TYPE_MAX 7

/* "segment", "hard state", ... or "unknown". */
const char *wal_record_type_name(unsigned type);

/* What parsing one record at an offset found. */
enum wal_parse {
    WAL_PARSE_OK = 0,
    WAL_PARSE_SHORT_HEADER,  /* fewer than 16 bytes left */
    WAL_PARSE_BAD_HEADER,    /* header CRC, zero bytes, type or length */
    WAL_PARSE_SHORT_PAYLOAD, /* the payload runs past the end */
    WAL_PARSE_BAD_PAYLOAD,   /* payload CRC mismatch */
};

struct wal_record
{
    unsigned type;
    const uint8_t *payload; /* points into the parsed buffer */
    uint32_t len;
    size_t size; /* header + payload: the offset of the next record */
};

/* Parses the record at the start of @buf (@len bytes available). On
 * anything but WAL_PARSE_OK, *why says what is wrong; when the header
 * checks (WAL_PARSE_SHORT_PAYLOAD, WAL_PARSE_BAD_PAYLOAD) @out still says
 * what it claims. */
enum wal_parse wal_record_parse(const uint8_t *buf,
                                size_t len,
                                struct wal_record *out,
                                const char **why);

/* Appends a whole record (header and @len bytes of @payload) to @v. */
int wal_record_append(struct common_vec *v,
                      unsigned type,
                      const void *payload,
                      size_t len);

/* Writes a whole record at @dst (room for WAL_RECORD_HEADER + @len). */
void wal_record_write(uint8_t *dst,
                      unsigned type,
                      const void *payload,
                      uint32_t len);

/* Reserves a header at the end of @v; the caller appends the payload, then
 * wal_record_finish() fills the header in. For payloads built in place. */
int wal_record_start(struct common_vec *v, size_t *at);
void wal_record_finish(struct common_vec *v, size_t at, unsigned type);

/* ------------------------------------------------------------------------ */
/* Payloads                                                                  */
/* ------------------------------------------------------------------------ */

#define WAL_SEGMENT_MAGIC 0x4c574b52u /* "RKWL" */
#define WAL_VERSION       1u

struct wal_segment_header
{
    uint64_t seq;           /* position of the segment in the log, from 1 */
    raft_index first_index; /* index the next entry had when it began */
    struct raft_hard_state hard_state; /* in force when it began */
};
#define WAL_SEGMENT_PAYLOAD 48

struct wal_snapshot_mark
{
    raft_index index;
    raft_term term;
    bool replaced; /* the log did not hold index/term: every entry dropped */
};
#define WAL_SNAPSHOT_PAYLOAD 20

/* Payload encoders write exactly the sizes above into @p. */
void wal_encode_segment(uint8_t *p, const struct wal_segment_header *h);
void wal_encode_hard_state(uint8_t *p, const struct raft_hard_state *hs);
void wal_encode_truncate(uint8_t *p, raft_index from);
void wal_encode_snapshot_mark(uint8_t *p, const struct wal_snapshot_mark *m);
void wal_encode_commit(uint8_t *p, uint32_t records);
void wal_encode_seal(uint8_t *p, uint64_t next_seq);
#define WAL_HARD_STATE_PAYLOAD 24
#define WAL_TRUNCATE_PAYLOAD   8
#define WAL_COMMIT_PAYLOAD     4
#define WAL_SEAL_PAYLOAD       8

/* Payload decoders: 0, or COMMON_ECORRUPT with *why set. */
int wal_decode_segment(const uint8_t *p,
                       size_t len,
                       struct wal_segment_header *h,
                       const char **why);
int wal_decode_hard_state(const uint8_t *p,
                          size_t len,
                          struct raft_hard_state *hs,
                          const char **why);
int wal_decode_truncate(const uint8_t *p,
                        size_t len,
                        raft_index *from,
                        const char **why);
int wal_decode_snapshot_mark(const uint8_t *p,
                             size_t len,
                             struct wal_snapshot_mark *m,
                             const char **why);
int wal_decode_commit(const uint8_t *p,
                      size_t len,
                      uint32_t *records,
                      const char **why);
int wal_decode_seal(const uint8_t *p,
                    size_t len,
                    uint64_t *next_seq,
                    const char **why);

/* Entries payload: u64 first index, u32 count, then per entry u64 term,
 * u8 type, u32 data length, data. Indexes are consecutive. */
#define WAL_ENTRIES_HEAD 12
#define WAL_ENTRY_HEAD   13
/* Bytes an entry takes inside an entries payload. */
size_t wal_entry_size(const struct raft_entry *e);
/* Appends the payload for @n entries (consecutive indexes, n >= 1). */
int wal_encode_entries(struct common_vec *v,
                       const struct raft_entry *entries,
                       size_t n);
/* Checks an entries payload and reads its first index and count. */
int wal_entries_scan(const uint8_t *p,
                     size_t len,
                     raft_index *first,
                     uint32_t *count,
                     const char **why);
/* Fills @out (room for the count wal_entries_scan() found) with the
 * entries, whose data points into @p. Only after a successful scan. */
void wal_entries_decode(const uint8_t *p, size_t len, struct raft_entry *out);

/* True for the entry types the log may hold. */
bool wal_entry_type_valid(unsigned type);

/* ------------------------------------------------------------------------ */
/* Snapshot files                                                            */
/* ------------------------------------------------------------------------ */

#define SNAP_MAGIC    0x4e534b52u /* "RKSN" */
#define SNAP_VERSION  1u
#define SNAP_HEADER   44 /* fixed part, through the header CRC */
#define SNAP_TRAILER  4  /* CRC32C of everything before it */
#define SNAP_REPLACED 1  /* flags bit: the snapshot replaced the whole log */

/* Encodes the head of a snapshot file (fixed header and configuration)
 * into @v; the data and then snap_trailer() follow. COMMON_EINVAL for a
 * configuration that would not decode again. */
int snap_encode_head(struct common_vec *v,
                     const struct storage_snapshot_meta *meta,
                     uint32_t flags,
                     uint64_t data_len);
/* The trailer: CRC32C over head and data (crc = common_crc32c running
 * value over both). */
void snap_encode_trailer(uint8_t *p, uint32_t crc);

struct snap_decoded
{
    struct storage_snapshot_meta meta;
    uint32_t flags;
    const uint8_t *data; /* points into the buffer */
    uint64_t data_len;
};

/* Decodes and checks a whole snapshot file. COMMON_ECORRUPT with *why and
 * *offset (where in the file the problem is) on bad bytes. */
int snap_decode(const uint8_t *buf,
                size_t len,
                struct snap_decoded *out,
                uint64_t *offset,
                const char **why);

#endif /* STORAGE_FORMAT_H */
