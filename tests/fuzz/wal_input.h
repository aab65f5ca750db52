/*
 * The input format of fuzz_wal, shared with the seed generator: a WAL
 * directory as a list of files,
 *
 *     repeat { kind: u8, a: u8, len: u16 little-endian, len bytes }
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

#endif /* RAFTKV_FUZZ_WAL_INPUT_H */
