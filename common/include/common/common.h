/*
 * common: what every raft-kv module shares and nothing else depends on.
 *
 * - One error space: 0 is success, failures are negative codes generated from
 *   the X-macro table below, which also generates common_strerror().
 * - A plain byte buffer value type.
 * - CRC32C (Castagnoli), table driven, for log records and snapshots.
 * - A small seeded PRNG (xoshiro256**, seeded through splitmix64), so that
 *   every source of randomness is an explicit, per-instance object.
 * - A monotonic clock in nanoseconds, for drivers (never for raft/ or kv/).
 * - A timed heap: the (time, sequence) priority queue that drivers order
 *   their events and messages by.
 * - The exit codes every program uses, strict parsing of numbers given as
 *   text, overflow-checked growth of arrays and one log callback type.
 */
#ifndef COMMON_COMMON_H
#define COMMON_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* X(NAME, value, message). Values are stable: they may be logged or sent. */
#define COMMON_ERRORS(X)                                   \
    X(COMMON_ENOMEM, -1, "out of memory")                  \
    X(COMMON_EINVAL, -2, "invalid argument")               \
    X(COMMON_ENOTLEADER, -3, "not the leader")             \
    X(COMMON_ESHUTDOWN, -4, "shutting down")               \
    X(COMMON_EIO, -5, "input/output error")                \
    X(COMMON_ECORRUPT, -6, "data is corrupt")              \
    X(COMMON_ENOTFOUND, -7, "not found")                   \
    X(COMMON_EPARSE, -8, "parse error")                    \
    X(COMMON_ETIMEDOUT, -9, "timed out")                   \
    X(COMMON_EUNAVAILABLE, -10, "unavailable")             \
    X(COMMON_EBUSY, -11, "busy")                           \
    X(COMMON_ERANGE, -12, "out of range")                  \
    X(COMMON_ETOOBIG, -13, "too big")                      \
    X(COMMON_ENOSPACE, -14, "no space left")               \
    X(COMMON_EDROPPED, -15, "dropped")                     \
    X(COMMON_ESTALE, -16, "stale")                         \
    X(COMMON_EMISMATCH, -17, "precondition does not hold") \
    X(COMMON_EUNSUPPORTED, -18, "not supported")

enum common_error {
#define COMMON_ERROR_ENUM(name, value, msg) name = (value),
    COMMON_ERRORS(COMMON_ERROR_ENUM)
#undef COMMON_ERROR_ENUM
};

/* A static, human-readable message for a code from the table (or 0). */
const char *common_strerror(int code);

/* The symbolic name of a code ("COMMON_ENOMEM"), or "UNKNOWN". */
const char *common_error_name(int code);

/* ------------------------------------------------------------------------ */
/* Exit codes (DESIGN.md): the same in every program                         */
/* ------------------------------------------------------------------------ */

enum common_exit {
    COMMON_EXIT_OK = 0,     /* success; every expectation held */
    COMMON_EXIT_FAILED = 1, /* a check failed: not linearizable, an
                               expectation missed, a key not found */
    COMMON_EXIT_USAGE = 2,  /* bad usage or bad input (the message says
                               where) */
    COMMON_EXIT_UNKNOWN = 3 /* unknown or unavailable: a time budget ran
                               out, the cluster could not be reached */
};

/* ------------------------------------------------------------------------ */
/* Buffers                                                                   */
/* ------------------------------------------------------------------------ */

/* A borrowed or owned span of bytes; who owns it is said where it is used. */
struct common_buf
{
    void *base;
    size_t len;
};

/* A growable byte vector. Zero-initialise, or common_vec_init(). */
struct common_vec
{
    uint8_t *data;
    size_t len;
    size_t cap;
};

void common_vec_init(struct common_vec *v);
void common_vec_fini(struct common_vec *v);
/* Ensures room for @extra more bytes. 0 or COMMON_ENOMEM. */
int common_vec_reserve(struct common_vec *v, size_t extra);
/* Appends @len bytes from @src (copied). 0 or COMMON_ENOMEM. */
int common_vec_append(struct common_vec *v, const void *src, size_t len);
/* Appends a printf-style formatted string (no terminating NUL kept in len,
 * but data[len] is always NUL after a successful call). */
int common_vec_appendf(struct common_vec *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends @s as a JSON string: quoted, with '"' and '\\' escaped and control
 * bytes (and DEL) as \u00XX; other bytes as they are. data[len] is NUL
 * after a successful call. 0 or COMMON_ENOMEM. */
int common_vec_append_json(struct common_vec *v, const char *s);

/* Makes room for at least @need items of @size bytes in the array *@items
 * (a T ** passed as void *) of capacity *@cap items, doubling the capacity,
 * and starting from @min_cap items. On failure - no memory, or a byte count
 * that would overflow size_t - returns COMMON_ENOMEM and leaves *@items and
 * *@cap as they were; 0 otherwise. */
int common_grow(void *items,
                size_t *cap,
                size_t need,
                size_t size,
                size_t min_cap);
/* The capacity common_grow would choose, in *@out, for an allocator of its
 * own (huge pages, say): 0, or COMMON_ENOMEM when @need items of @size
 * bytes overflow size_t. */
int common_grown_cap(size_t cap,
                     size_t need,
                     size_t size,
                     size_t min_cap,
                     size_t *out);

/* ------------------------------------------------------------------------ */
/* Numbers given as text                                                     */
/* ------------------------------------------------------------------------ */

/* Strict: the whole string is the number, in decimal, with no sign, space
 * or prefix. 0, COMMON_EPARSE when it is not such a number (NULL, empty,
 * trailing characters) or COMMON_ERANGE when it lies outside [@min, @max]
 * (or outside uint64_t); *@out is set only on success. */
int common_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* The same for a decimal fraction: digits, at most one '.', an optional
 * exponent (e or E, an optional sign, digits); at least one digit before
 * the exponent. No sign, "inf", "nan" or hexadecimal. */
int common_parse_double(const char *s, double min, double max, double *out);

/* ------------------------------------------------------------------------ */
/* Logging                                                                   */
/* ------------------------------------------------------------------------ */

enum common_log_level {
    COMMON_LOG_DEBUG = 1,
    COMMON_LOG_INFO = 2,
    COMMON_LOG_WARN = 3,
    COMMON_LOG_ERROR = 4,
};

/* "debug", "info", "warn", "error" or "?". */
const char *common_log_level_name(int level);

/* How a module says something: one line, without its newline, borrowed for
 * the call. Modules never print; their owner decides where lines go. */
typedef void (*common_log_fn)(void *data,
                              enum common_log_level level,
                              const char *msg);

/* The longest line common_logf hands over, with its NUL; longer ones are
 * cut. */
#define COMMON_LOG_LINE_MAX 512

/* Formats one line and hands it to @fn (nothing when @fn is NULL). The
 * second takes the arguments as a va_list, for functions that wrap it. */
void common_logf(common_log_fn fn,
                 void *data,
                 enum common_log_level level,
                 const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
void common_vlogf(common_log_fn fn,
                  void *data,
                  enum common_log_level level,
                  const char *fmt,
                  va_list ap) __attribute__((format(printf, 4, 0)));

/* ------------------------------------------------------------------------ */
/* CRC32C                                                                    */
/* ------------------------------------------------------------------------ */

/* CRC32C of @len bytes at @data continuing from @crc (start with 0). */
uint32_t common_crc32c(uint32_t crc, const void *data, size_t len);

/* ------------------------------------------------------------------------ */
/* PRNG                                                                      */
/* ------------------------------------------------------------------------ */

/* xoshiro256** (Blackman and Vigna). Not for cryptography. */
struct common_prng
{
    uint64_t s[4];
};

/* Seeds the state from @seed via splitmix64; any seed (even 0) is fine. */
void common_prng_seed(struct common_prng *p, uint64_t seed);
uint64_t common_prng_next(struct common_prng *p);
/* Uniform in [0, bound) without modulo bias; bound 0 returns 0. */
uint64_t common_prng_below(struct common_prng *p, uint64_t bound);
/* Uniform in [lo, hi] (inclusive); lo > hi returns lo. */
uint64_t common_prng_range(struct common_prng *p, uint64_t lo, uint64_t hi);
/* Uniform double in [0, 1). */
double common_prng_double(struct common_prng *p);
/* True with probability @p01 (clamped to [0, 1]). */
bool common_prng_chance(struct common_prng *p, double p01);

/* splitmix64 step: a good 64-bit mixer for hashing and seeding. */
uint64_t common_mix64(uint64_t x);

/* ------------------------------------------------------------------------ */
/* Clock (drivers only: raft/ and kv/ never read the clock)                  */
/* ------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t common_now_ns(void);

/* Nanoseconds in a millisecond, in a second. */
#define COMMON_NS_PER_MS 1000000ull
#define COMMON_NS_PER_S  1000000000ull

/* ------------------------------------------------------------------------ */
/* Timed heap                                                                */
/* ------------------------------------------------------------------------ */

/*
 * A binary min-heap of fixed-size items ordered by (time, sequence number),
 * the queue under both of the harness's drivers (the sim scheduler's events,
 * a node thread's inbox). Every item begins with a struct common_timed.
 *
 * Determinism rests on the keys being unique within a heap: then the order
 * in which items come out depends on nothing but their keys, never on the
 * order of pushes or on the heap's shape. A pop asserts it (the item it
 * takes comes strictly before the next one), and asserts that the heap was
 * not empty.
 */
struct common_timed
{
    uint64_t at;  /* time, ns */
    uint64_t seq; /* breaks ties in time; unique within a heap */
};

/* True when @a comes before @b: earlier, or as early with a lower seq. */
bool common_timed_before(const struct common_timed *a,
                         const struct common_timed *b);

/* Fields are the heap's own; use the functions. */
struct common_heap
{
    unsigned char *items;
    size_t item_size;
    size_t len;
    size_t cap;
};

/* An empty heap of items of @item_size bytes, each starting with a struct
 * common_timed (so @item_size >= sizeof(struct common_timed); asserted). */
void common_heap_init(struct common_heap *h, size_t item_size);
/* Frees the heap's memory (not what the items point to) and empties it. */
void common_heap_fini(struct common_heap *h);
/* Copies the item at @item in. 0, or COMMON_ENOMEM with the heap as it
 * was. */
int common_heap_push(struct common_heap *h, const void *item);
/* The first item (borrowed until the next push or pop), NULL when empty. */
const struct common_timed *common_heap_top(const struct common_heap *h);
/* Copies the first item to @out (@item_size bytes) and removes it. The heap
 * must not be empty. */
void common_heap_pop(struct common_heap *h, void *out);
size_t common_heap_len(const struct common_heap *h);
/* Item @k (0 <= k < len) in the heap's own order, for visiting every item
 * (to free what they own, say) before common_heap_clear(). */
void *common_heap_at(struct common_heap *h, size_t k);
/* Removes every item; keeps the memory for reuse. */
void common_heap_clear(struct common_heap *h);

#endif /* COMMON_COMMON_H */
