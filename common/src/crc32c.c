/*
 * CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), computed
 * with the slicing-by-8 table method: eight 256-entry tables let the loop
 * consume eight bytes per iteration. The tables are built once at first use;
 * building them twice from two threads writes the same values, and the
 * "ready" flag is an atomic with release/acquire order.
 *
 * On x86-64 built by GCC or Clang, when the processor has SSE4.2 (checked
 * once, at the same first use), its crc32 instruction computes the same
 * CRC (it implements this very polynomial) eight bytes per instruction
 * instead of eight table lookups: the write-ahead log frames every record
 * with two CRCs, so this is on the path of every write.
 */
#include <stdatomic.h>
#include <string.h>

#include "common/common.h"

static uint32_t crc_table[8][256];
static atomic_int crc_ready;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC_HW 1
static atomic_bool crc_hw_ok; /* set before crc_ready */

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc,
                                                         const uint8_t *p,
                                                         size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len-- > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    }
    return c32;
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = crc_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[t][i] = c;
        }
    }
#ifdef CRC_HW
    __builtin_cpu_init();
    atomic_store_explicit(&crc_hw_ok, __builtin_cpu_supports("sse4.2") != 0,
                          memory_order_relaxed);
#endif
    atomic_store_explicit(&crc_ready, 1, memory_order_release);
}

uint32_t common_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (!atomic_load_explicit(&crc_ready, memory_order_acquire)) {
        crc_init();
    }
    const uint8_t *p = data;
    crc = ~crc;
#ifdef CRC_HW
    if (atomic_load_explicit(&crc_hw_ok, memory_order_relaxed)) {
        return ~crc_hw(crc, p, len);
    }
#endif
    while (len >= 8) {
        uint32_t lo;
        uint32_t hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len-- > 0) {
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}
