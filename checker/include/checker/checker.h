/*
 * checker: a linearizability checker for key-value histories.
 *
 * A history is a sequence of events (an invoke, then its completion: ok,
 * fail or info) from client processes, in the format and with the semantics
 * of ../shared/DESIGN.md ("History format"). The checker decides whether the
 * operations can be put in one sequential order that respects real time (an
 * op that completed before another was invoked comes first) and the model
 * (a map of keys to string values, or a single register).
 *
 * The search is Wing & Gong's (1993) with Lowe's memoisation (2017): a
 * depth-first walk over the ops ordered by invocation, caching every
 * (set of linearized ops, model state) already explored. The history is
 * split per key first (locality, Herlihy & Wing 1990; P-compositionality,
 * Horn & Kroening 2015) and the keys are checked in parallel.
 *
 * Use:
 *
 *     struct checker_history *h = checker_history_new();
 *     checker_history_add(h, &event);        -- one call per event, or
 *     checker_history_read_file(h, path, CHECKER_FORMAT_AUTO);
 *     struct checker_options o;
 *     checker_options_init(&o);
 *     struct checker_result *r;
 *     checker_check(h, &o, &r);              -- r->verdict
 *     checker_result_write_text(stdout, h, r);
 *     checker_result_free(r);
 *     checker_history_free(h);
 *
 * Errors: functions return 0 or a negative code from common/common.h. Input
 * problems (a malformed line, a completion without an invoke, ...) return
 * COMMON_EPARSE or COMMON_EINVAL and leave a message "file:line: what" in
 * checker_history_error(). Bad bytes never crash the checker.
 *
 * Threads: a history is used by one thread at a time; checker_check() starts
 * its own worker threads and joins them before it returns.
 */
#ifndef CHECKER_CHECKER_H
#define CHECKER_CHECKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"

/* ------------------------------------------------------------------------ */
/* Events and histories                                                      */
/* ------------------------------------------------------------------------ */

enum checker_type {
    CHECKER_INVOKE = 0,
    CHECKER_OK = 1,   /* completed; took effect */
    CHECKER_FAIL = 2, /* definitely did not take effect */
    CHECKER_INFO = 3, /* outcome unknown (also: no completion by the end) */
};

enum checker_f {
    CHECKER_GET = 0, /* "get" or "read" */
    CHECKER_PUT = 1, /* "put" or "write" */
    CHECKER_DELETE = 2,
    CHECKER_CAS = 3,
    CHECKER_APPEND = 4,
};

/* A string value; ptr == NULL stands for JSON null / EDN nil (absent). */
struct checker_str
{
    const char *ptr;
    size_t len;
};

/*
 * One line of a history. Strings are borrowed for the duration of
 * checker_history_add() (they are copied).
 *
 * value_count says what the line's value field held: 0 no field, 1 a single
 * value (value[0], possibly null), 2 a pair [value[0], value[1]] (a cas's
 * expected and new values). The meaning follows DESIGN.md: the invoke of a
 * put or append carries the value written, the ok of a get the value read.
 */
struct checker_event
{
    int64_t process;
    enum checker_type type;
    enum checker_f f;
    bool has_key; /* false: the single key of a register */
    struct checker_str key;
    int value_count;
    struct checker_str value[2];
    bool mismatch; /* on a fail: the error was "mismatch" */
    bool has_time; /* false: the order of the events is their time */
    int64_t time;
    uint64_t line; /* source line for messages; 0: the event's ordinal */
    /* Written by checker_event_write_jsonl, not read back: the error of a
     * fail ("error"; ptr NULL: "mismatch" when mismatch is set, else none)
     * and the server that answered ("node"; 0: none). The checker needs
     * neither. */
    struct checker_str error;
    uint64_t node;
};

struct checker_history;

/* A new empty history (NULL when out of memory). Messages name it
 * "<memory>" until checker_history_set_name(). */
struct checker_history *checker_history_new(void);
/* Frees @h and all it holds; NULL is harmless. */
void checker_history_free(struct checker_history *h);

/* The name used in messages ("file" in "file:line: what"); copied. */
int checker_history_set_name(struct checker_history *h, const char *name);

/*
 * Appends one event. Checks it against the events before it: a completion
 * needs an outstanding invoke from the same process, with the same f and
 * key; a process has one op outstanding at a time; time never goes
 * backwards within a process; the time field is present on every event or
 * on none; a cas carries [expected, new] with new a string; put and append
 * carry a string. Returns 0, COMMON_EINVAL (message in
 * checker_history_error(); @h unchanged) or COMMON_ENOMEM.
 */
int checker_history_add(struct checker_history *h,
                        const struct checker_event *ev);

enum checker_format {
    CHECKER_FORMAT_AUTO = 0,
    CHECKER_FORMAT_JSONL = 1,      /* DESIGN.md's JSON Lines */
    CHECKER_FORMAT_EDN = 2,        /* Jepsen op maps, one per line */
    CHECKER_FORMAT_JEPSEN_LOG = 3, /* "INFO jepsen.util - 3 :invoke ..." */
};

/* Parses @len bytes at @data (borrowed) in @format and adds every event to
 * @h; @name (copied) names the input in messages ("-" is shown as
 * "<stdin>"). Stops at the first bad line: COMMON_EPARSE or COMMON_EINVAL
 * with "name:line: what" in checker_history_error(). */
int checker_history_parse(struct checker_history *h,
                          const char *name,
                          const char *data,
                          size_t len,
                          enum checker_format format);

/* Reads the file at @path ("-" for stdin) and parses it as above. A file
 * that cannot be read gives COMMON_EIO with a message. */
int checker_history_read_file(struct checker_history *h,
                              const char *path,
                              enum checker_format format);

/*
 * Writes @ev as one line of DESIGN.md's JSON Lines history, with its
 * newline: process, type, f, key (when has_key), value (by value_count),
 * error, node, time (when has_time), in that order. This is the one writer
 * of the format: the harness's history.jsonl, generated histories and the
 * tests all go through it. Strings are escaped as in every JSON the
 * checker writes (control characters, <, > and & as \u escapes, bad UTF-8
 * as U+FFFD). 0, or COMMON_EIO when @f reports an error.
 */
int checker_event_write_jsonl(FILE *f, const struct checker_event *ev);

/* The format a parse detected or was told (AUTO before any parse). */
enum checker_format checker_history_format(const struct checker_history *h);

/* The last error message ("" when none); valid until the next call on @h. */
const char *checker_history_error(const struct checker_history *h);

/* Format names as on the command line ("jsonl", ...); parse returns
 * COMMON_EINVAL for an unknown name. */
const char *checker_format_name(enum checker_format format);
int checker_format_parse(const char *name, enum checker_format *out);

/* One operation of a history: an invoke and its completion, if any. */
struct checker_op
{
    int64_t process;
    enum checker_f f;
    enum checker_type outcome; /* OK, FAIL or INFO (INFO when pending) */
    bool mismatch;             /* a fail whose error was "mismatch" */
    bool completed;            /* false: no completion by the end */
    bool has_key;
    struct checker_str key;
    int value_count; /* as in struct checker_event; for a get, the value
                        read (1 when the get completed ok) */
    struct checker_str value[2];
    int64_t call_time;
    int64_t return_time; /* when completed */
    uint64_t call_line;
    uint64_t return_line; /* 0 when not completed */
};

/* Number of operations (invokes) added so far. */
size_t checker_history_len(const struct checker_history *h);
/* Operation @i (0 <= i < len), in the order of their invokes. The strings
 * in @out stay valid while @h lives and is not changed. */
int checker_history_op(const struct checker_history *h,
                       size_t i,
                       struct checker_op *out);

/* ------------------------------------------------------------------------ */
/* Checking                                                                  */
/* ------------------------------------------------------------------------ */

enum checker_model {
    CHECKER_MODEL_KV = 0,       /* get/put/delete/cas/append per key */
    CHECKER_MODEL_REGISTER = 1, /* one key: get/put/cas */
};

const char *checker_model_name(enum checker_model model);
int checker_model_parse(const char *name, enum checker_model *out);

struct checker_options
{
    enum checker_model model;
    bool model_set;          /* false: register for jepsen-log, else kv */
    bool absent_reads_empty; /* "" and absent are the same value */
    double timeout_s;        /* <= 0: no time budget */
    /* Model steps each key may take; 0: no limit. Past it the verdict is
     * unknown (unless a key fails first): a budget that, unlike the time
     * budget, gives the same verdict on any machine and at any load. */
    uint64_t max_steps;
    unsigned threads; /* 0: the number of online cores */
    /* Search memory, all keys; 0: the smaller of 4 GiB and a quarter of
     * the physical memory. Past it the verdict is unknown. */
    size_t memory_bytes;
};

/* Defaults: kv (or register for a jepsen-log history), no time or step
 * budget, one thread per core, the smaller of 4 GiB and a quarter of the
 * physical memory for the search. A search that needs more memory ends
 * with the verdict unknown. */
void checker_options_init(struct checker_options *o);

/* Verdicts carry the exit codes of lincheck. */
enum checker_verdict {
    CHECKER_LINEARIZABLE = 0,
    CHECKER_NOT_LINEARIZABLE = 1,
    CHECKER_UNKNOWN = 3,
};

const char *checker_verdict_name(enum checker_verdict v);

/*
 * What a check found. For a history that is not linearizable it names the
 * key (partition) that failed, the longest linearizable prefix the search
 * found for that key (op indices, in linearization order), the value the
 * key holds after it, and the ops that could not be placed after it (each
 * is refused by the model in that state). Owned by the caller:
 * checker_result_free().
 */
struct checker_result
{
    enum checker_verdict verdict;
    double elapsed_s;
    uint64_t steps;          /* model steps taken, all keys */
    size_t ops;              /* ops in the history */
    size_t partitions;       /* keys */
    size_t partitions_done;  /* keys whose verdict is known */
    const char *unknown_why; /* for CHECKER_UNKNOWN: a static string */
    /* For CHECKER_NOT_LINEARIZABLE: */
    bool has_key; /* false: the register key (no key field) */
    char *key;
    size_t key_len;
    size_t *prefix;
    size_t prefix_len;
    bool state_absent; /* after the prefix the key is absent, or holds: */
    char *state;
    size_t state_len;
    size_t *unplaced;
    size_t unplaced_len;
    /* The value the key holds after each of the last prefix ops: after
     * prefix[k] it is states[k - states_from], for states_from <= k <
     * prefix_len (ptr NULL: absent). The bytes belong to the result. */
    struct checker_str *states;
    size_t states_from;
    char *states_bytes;
    /* For every op: its 1-based position in the linearization found for its
     * key (or in the failing key's prefix); 0 when not placed. NULL when the
     * verdict is unknown. */
    uint32_t *position;
};

/*
 * Checks @h with @opts (NULL: defaults). On 0, *@out holds the result. An op
 * the model does not support (append or delete on a register, a second key
 * of a register) gives COMMON_EINVAL with "name:line: what" in
 * checker_history_error(@h), which is why @h is not const.
 */
int checker_check(struct checker_history *h,
                  const struct checker_options *opts,
                  struct checker_result **out);

void checker_result_free(struct checker_result *r);

/* The human-readable report: one verdict line, then for a failure the key,
 * the prefix and the ops that could not be placed. */
int checker_result_write_text(FILE *f,
                              const struct checker_history *h,
                              const struct checker_result *r);
/* The same as one JSON object on one line (see docs/checker.md). */
int checker_result_write_json(FILE *f,
                              const struct checker_history *h,
                              const struct checker_result *r);
/* A self-contained HTML page (no network) drawing each process as a lane
 * of operation bars over time, the failing part marked. */
int checker_report_html_write(FILE *f,
                              const struct checker_history *h,
                              const struct checker_result *r);
/* The same, into the file at @path (created or truncated); COMMON_EIO when
 * it cannot be written. */
int checker_report_html_save(const char *path,
                             const struct checker_history *h,
                             const struct checker_result *r);

/* Pieces of the reports for other reports (the harness's run report):
 * @len bytes at @s as a JSON string ("null" when @s is NULL), escaped as
 * every JSON the checker writes (fit to sit inside an HTML <script>
 * element; bytes that are not UTF-8 as U+FFFD); the same as HTML text
 * (&, <, >, " and ' escaped; also fit for a quoted attribute); and
 * operation @i of @h in words ("put \"1\"", "get -> null (info)", ...),
 * cut to @size. */
void checker_json_string_write(FILE *f, const char *s, size_t len);
void checker_html_text_write(FILE *f, const char *s, size_t len);
void checker_op_describe(const struct checker_history *h,
                         size_t i,
                         char *buf,
                         size_t size);

/* ------------------------------------------------------------------------ */
/* Random histories                                                          */
/* ------------------------------------------------------------------------ */

/*
 * Generates a history that is linearizable by construction: processes run
 * ops one at a time on random keys, each op takes effect at a random
 * instant inside its interval against a sequential map, and its completion
 * reports what that map answered. Some ops fail (no effect), some end info
 * (took effect or not, at random); cas ops that find another value end
 * fail with "mismatch". Used by tests, the benchmark and `checker-bench
 * --generate`.
 */
struct checker_gen_options
{
    uint64_t seed;
    size_t ops;
    size_t keys;      /* 0: register ops without a key field */
    size_t processes; /* >= 1 */
    size_t values;    /* distinct values written per key (>= 1) */
    double info_rate; /* share of ops that end info */
    double fail_rate; /* share of ops that end fail (no effect) */
    bool kv_ops;      /* also delete and append (else get/put/cas only) */
    bool appends;     /* gets and appends only (kv_ops is then ignored) */
    bool with_time;   /* time fields (else line order is time) */
};

void checker_gen_options_init(struct checker_gen_options *o);

/* The events, time-ordered; strings point into the same allocation.
 * Free with checker_gen_free(). */
struct checker_gen
{
    struct checker_event *events;
    size_t events_len;
};

int checker_generate(const struct checker_gen_options *o,
                     struct checker_gen **out);
void checker_gen_free(struct checker_gen *g);

#endif /* CHECKER_CHECKER_H */
