/*
 * The input format of fuzz_wal, shared with the seed generator: a WAL
 * directory as a flags byte and a list of files,
 *
 *     flags: u8, repeat { kind: u8, a: u8, len: u16 little-endian, bytes }
 *
 * Flags bit 0: recompute the checksums of every file (each record's header
 * and payload CRCs in segments, the header and trailer CRCs of snapshots)
 * after its bytes are in place, so that a mutation reaches the checks
 * behind the CRCs instead of stopping at them. With the bit clear the
 * bytes are written as they are.
 *
 * kind % 4 picks the file's name: 0 the segment "SEQ-FIRST.log" with SEQ =
 * kind / 4 and FIRST = a, 1 the snapshot "snapshot-A.snap", 2 an
 * unfinished "snapshot-A.snap.tmp", 3 a stray file "stray-A". A file named
 * twice gets both contents, one after the other. The last file's bytes
 * stop where the input does.
 */
#ifndef RAFTKV_FUZZ_WAL_INPUT_H
#define RAFTKV_FUZZ_WAL_INPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

enum {
    WAL_INPUT_NAME_MAX = 64
};

static inline void wal_input_name(uint8_t kind,
                                  uint8_t a,
                                  char name[WAL_INPUT_NAME_MAX])
{
    switch (kind % 4) {
        case 0:
            snprintf(name, WAL_INPUT_NAME_MAX, "%016x-%016x.log", kind / 4,
                     (unsigned)a);
            break;
        case 1:
            snprintf(name, WAL_INPUT_NAME_MAX, "snapshot-%016x.snap",
                     (unsigned)a);
            break;
        case 2:
            snprintf(name, WAL_INPUT_NAME_MAX, "snapshot-%016x.snap.tmp",
                     (unsigned)a);
            break;
        default:
            snprintf(name, WAL_INPUT_NAME_MAX, "stray-%u", (unsigned)a);
            break;
    }
}

/* The (kind, a) that wal_input_name maps to @name; false when none does
 * (a number too large for the format). */
static inline bool wal_input_kind(const char *name, uint8_t *kind, uint8_t *a)
{
    for (unsigned k = 0; k < 256; k++) {
        for (unsigned v = 0; v < 256; v++) {
            char got[WAL_INPUT_NAME_MAX];
            wal_input_name((uint8_t)k, (uint8_t)v, got);
            if (strcmp(got, name) == 0) {
                *kind = (uint8_t)k;
                *a = (uint8_t)v;
                return true;
            }
        }
    }
    return false;
}

static inline void wal_input_put_u32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) {
        p[k] = (uint8_t)(v >> (8 * k));
    }
}

static inline uint32_t wal_input_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Recomputes the checksums of a file of kind @kind in place, as
 * docs/storage.md lays them out: a segment is a run of records (u32
 * payload length, u32 payload CRC, u8 type, 3 zero bytes, u32 CRC of the
 * 12 bytes before), a snapshot has a header CRC at byte 40 and a CRC of
 * everything before it in its last 4 bytes. */
static inline void wal_input_fix_crcs(uint8_t kind, uint8_t *buf, size_t len)
{
    if (kind % 4 == 0) {
        size_t at = 0;
        while (len - at >= 16) {
            uint8_t *h = buf + at;
            size_t plen = wal_input_get_u32(h);
            if (plen <= len - at - 16) {
                wal_input_put_u32(h + 4, common_crc32c(0, h + 16, plen));
            }
            wal_input_put_u32(h + 12, common_crc32c(0, h, 12));
            if (plen > len - at - 16) {
                break;
            }
            at += 16 + plen;
        }
    } else if (kind % 4 == 1 || kind % 4 == 2) {
        if (len >= 44) {
            wal_input_put_u32(buf + 40, common_crc32c(0, buf, 40));
        }
        if (len >= 48) {
            wal_input_put_u32(buf + len - 4, common_crc32c(0, buf, len - 4));
        }
    }
}

#endif /* RAFTKV_FUZZ_WAL_INPUT_H */
