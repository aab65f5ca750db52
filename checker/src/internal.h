/*
 * checker internals shared by the sources of libchecker.a; nothing here is
 * seen by other modules.
 *
 * Data flow: parsers (parse_*.c) turn lines into struct checker_event and
 * hand them to history.c, which validates them and keeps one struct hop per
 * operation, every string interned once in a strtab (id 0 is null/absent).
 * check.c splits the ops per key and runs search.c on each key, on worker
 * threads; model_kv.c turns a key's ops into integer steps, so that a model
 * state is a string id and a step is a few integer compares.
 */
#ifndef CHECKER_INTERNAL_H
#define CHECKER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checker/checker.h"

/* The smallest capacity the checker's arrays grow to (common_grow). */
#define ARRAY_MIN_CAP 16

struct mem_budget;

/* A zeroed array of @n elements of @size bytes, on huge pages when it is
 * large (bigmem.c); free() releases it. NULL when out of memory, or when
 * @b's deadline passed while a large one was being zeroed (b->timed_out
 * set; @b may be NULL). */
void *big_calloc(size_t n, size_t size, struct mem_budget *b);
/* common_grow for arrays that may grow large: past 2 MiB on huge pages,
 * and moved by the kernel (mremap through realloc) instead of copied. The
 * new part is not zeroed. */
int big_reserve(void *pp, size_t *cap, size_t need, size_t elem);

/* ------------------------------------------------------------------------ */
/* String interning (strtab.c)                                               */
/* ------------------------------------------------------------------------ */

/*
 * Byte strings interned to dense ids. Id 0 stands for null (no string);
 * real strings get ids first_id, first_id + 1, ... A table with first_id > 1
 * continues another one (model_kv.c keeps the strings that appends create
 * above the history's). Lookups never write, so several threads may look
 * up in a table that nobody changes.
 */
struct strtab
{
    char *bytes;
    size_t bytes_len;
    size_t bytes_cap;
    struct strtab_ent *ents; /* index id - first_id */
    size_t count;
    size_t ents_cap;
    uint32_t *slots; /* open addressing, 0 = empty, else id */
    size_t slots_cap;
    uint32_t first_id;
};

struct strtab_ent
{
    size_t off;
    size_t len;
    uint64_t hash;
};

void strtab_init(struct strtab *t, uint32_t first_id);
void strtab_fini(struct strtab *t);
uint64_t strtab_hash(const void *p, size_t len);
/* Interns @len bytes at @p; *@id gets its id. 0 or COMMON_ENOMEM (also
 * when ids run out). */
int strtab_intern(struct strtab *t, const void *p, size_t len, uint32_t *id);
/* The id of the string with hash @hash, or 0 when it is not interned. */
uint32_t strtab_find(const struct strtab *t,
                     const void *p,
                     size_t len,
                     uint64_t hash);
/* True when @id belongs to @t (0 does not). */
bool strtab_has(const struct strtab *t, uint32_t id);
struct checker_str strtab_get(const struct strtab *t, uint32_t id);

/* ------------------------------------------------------------------------ */
/* Histories (history.c)                                                     */
/* ------------------------------------------------------------------------ */

/* One operation: an invoke and its completion. */
struct hop
{
    int64_t process;
    int64_t call_time;
    int64_t ret_time;
    uint64_t call_line;
    uint64_t ret_line;
    uint32_t key;    /* string id; 0: the register key */
    uint32_t v[2];   /* string ids: put/append value, cas [expected, new], the
                        value a get read */
    uint8_t f;       /* enum checker_f */
    uint8_t outcome; /* CHECKER_OK, _FAIL, _INFO, or _INVOKE: pending */
    uint8_t value_count; /* as in struct checker_op */
    bool mismatch;
};

struct proc_slot
{
    int64_t process;
    int64_t last_time;
    size_t open_op; /* SIZE_MAX: none */
    bool used;
};

enum time_mode {
    TIME_UNSET = 0,
    TIME_GIVEN,
    TIME_LINE_ORDER
};

struct checker_history
{
    char *name;
    char err[1024];
    enum checker_format format;
    struct strtab strings;
    struct hop *ops;
    size_t ops_len;
    size_t ops_cap;
    struct proc_slot *procs; /* open addressing by process id */
    size_t procs_len;
    size_t procs_cap;
    enum time_mode time_mode;
    uint64_t events; /* events added: the clock when time is line order */
};

/* Formats the message "name:line: what" into h->err. */
void history_errorf(struct checker_history *h,
                    uint64_t line,
                    const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));
/* The name used in messages ("<stdin>" for "-"). */
const char *history_name(const struct checker_history *h);
/* The history format's words: "get", "put", "delete", "cas", "append";
 * "invoke", "ok", "fail", "info". */
const char *history_f_word(enum checker_f f);
const char *history_type_word(enum checker_type t);

/* ------------------------------------------------------------------------ */
/* Parsers (parse.c and parse_*.c)                                           */
/* ------------------------------------------------------------------------ */

/* One line, without its end-of-line bytes. */
struct line
{
    const char *p;
    size_t len;
    uint64_t no; /* 1-based */
};

/*
 * Each parser turns one non-blank line into an event. Returns 1 with *ev
 * filled (strings may point into the line or into @scratch), 0 for a line
 * to skip (log noise, a nemesis op), or COMMON_EPARSE with a message in
 * @msg (without the file:line: prefix).
 */
struct parse_scratch
{
    char *buf; /* for strings that are not verbatim in the line */
    size_t cap;
    size_t len;
};

int parse_jsonl_line(const struct line *l,
                     struct checker_event *ev,
                     struct parse_scratch *s,
                     char *msg,
                     size_t msg_size);
/* The two ways of parse_jsonl_line: the strict fast scanner (1 when it
 * read the line, 0 when it leaves it to jansson; the event's strings then
 * point into the line) and jansson itself. */
int parse_jsonl_fast(const struct line *l, struct checker_event *ev);
int parse_jsonl_jansson(const struct line *l,
                        struct checker_event *ev,
                        struct parse_scratch *s,
                        char *msg,
                        size_t msg_size);
int parse_edn_line(const struct line *l,
                   struct checker_event *ev,
                   struct parse_scratch *s,
                   char *msg,
                   size_t msg_size);
int parse_jepsen_line(const struct line *l,
                      struct checker_event *ev,
                      struct parse_scratch *s,
                      char *msg,
                      size_t msg_size);

/* Copies @len bytes into @s and returns where they are (NULL: no memory).
 * Earlier results stay valid while @s lives. */
const char *scratch_put(struct parse_scratch *s, const char *p, size_t len);

/* Formats a parse error into @msg; returns COMMON_EPARSE. */
int parse_failf(char *msg, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps an f word ("get", "read", "write", ...) of @len bytes. */
bool parse_f_word(const char *p, size_t len, enum checker_f *out);
/* Maps a type word ("invoke", "ok", "fail", "info"). */
bool parse_type_word(const char *p, size_t len, enum checker_type *out);
/* Writes the canonical decimal form of an integer literal (sign, digits;
 * leading zeros dropped, "-0" is "0") into @s. NULL: no memory. */
const char *parse_int_text(struct parse_scratch *s,
                           const char *p,
                           size_t len,
                           size_t *out_len);

/* ------------------------------------------------------------------------ */
/* Model (model_kv.c)                                                        */
/* ------------------------------------------------------------------------ */

/* An op as the search sees it: an integer step on a key's state. */
enum pop_kind {
    POP_GET,          /* ok if state == a */
    POP_PUT,          /* state := a */
    POP_DELETE,       /* state := absent */
    POP_CAS,          /* ok if state == a; state := b */
    POP_CAS_MISMATCH, /* ok if state != a (an observation) */
    POP_CAS_MAYBE,    /* info cas: state := (state == a) ? b : state */
    POP_APPEND,       /* state := state ++ a */
};

struct pop
{
    uint8_t kind;
    bool has_ret; /* false: info, may take effect any time after call */
    uint32_t a;
    uint32_t b;
    int64_t call;
    int64_t ret;
    size_t hop; /* index in the history */
};

/*
 * A key's state ids are the history's string ids (0: absent) plus, above
 * them, the strings that appends make during the search. Those are kept as
 * nodes "parent ++ value" with their length and a rolling hash; a node
 * whose bytes equal a history string of the key takes that string's id, so
 * a state compares with the values ops read or expect as an integer.
 */
struct model
{
    const struct strtab *strings;
    uint32_t first_made; /* ids from here on are made nodes */
    uint32_t empty_id;   /* id of "" when absent reads empty, else 0 */
    bool absent_reads_empty;
    struct made_node *made;
    size_t made_len;
    size_t made_cap;
    struct model_slot *index; /* (len, hash) -> the key's history strings */
    size_t index_len;
    size_t index_cap;
    struct id_hash *hashes; /* the key's history strings: id -> hash */
    size_t hashes_len;
    size_t hashes_cap;
    struct append_memo *cache; /* (state, value) -> state for appends */
    size_t cache_len;
    size_t cache_cap;
    char *scratch; /* a state written out, for reports */
    size_t scratch_cap;
    struct mem_budget *budget; /* NULL: no limit */
    int error; /* COMMON_ENOMEM once an append could not be made */
};

void model_init(struct model *m,
                const struct strtab *strings,
                bool absent_reads_empty);
void model_fini(struct model *m);
/* Makes the history strings that @n ops use known by content, so that an
 * append producing one of them yields its id. 0 or COMMON_ENOMEM. */
int model_prepare(struct model *m, const struct pop *ops, size_t n);
/* The id the model uses for history string @id ("" is absent when
 * absent reads empty). */
uint32_t model_norm(const struct model *m, uint32_t id);
/* Turns history op @o into a search op; returns false for ops that
 * constrain nothing and are dropped (info/fail gets, fails other than a cas
 * mismatch). */
bool model_pop(const struct model *m,
               const struct hop *o,
               size_t index,
               struct pop *out);
/* The id of @state's value with @value appended (model_kv.c); false when
 * out of memory, with m->error set. */
bool model_append(struct model *m,
                  uint32_t state,
                  uint32_t value,
                  uint32_t *out);

/* The state after @op from @state, or false when the model refuses @op.
 * Inline: it is the search's inner step. */
static inline bool model_step(struct model *m,
                              const struct pop *op,
                              uint32_t state,
                              uint32_t *next)
{
    switch ((enum pop_kind)op->kind) {
        case POP_GET:
            *next = state;
            return state == op->a;
        case POP_PUT:
            *next = op->a;
            return true;
        case POP_DELETE:
            *next = 0;
            return true;
        case POP_CAS:
            *next = op->b;
            return state == op->a;
        case POP_CAS_MISMATCH:
            *next = state;
            return state != op->a;
        case POP_CAS_MAYBE:
            *next = state == op->a ? op->b : state;
            return true;
        case POP_APPEND:
            return model_append(m, state, op->a, next);
    }
    return false;
}

/* True for ops that never change the state (see search.c). */
bool model_read_only(const struct pop *op);
/* For a key whose ops are all gets and appends (search.c, "Appends"):
 * given that @state is a prefix of the history string @target (0:
 * absent), whether @state ++ @value (a history string) still is. */
bool model_append_keeps_prefix(const struct model *m,
                               uint32_t state,
                               uint32_t value,
                               uint32_t target);
/* Whether history string @a is a prefix of history string @b, absent (0)
 * being a prefix of every value and only absent a prefix of absent. */
bool model_prefix_of(const struct model *m, uint32_t a, uint32_t b);
/* Bytes held by the strings appends made and their caches. */
size_t model_bytes(const struct model *m);
/* The string a state stands for (ptr NULL: absent); valid until the next
 * call. NULL ptr with m->error set when out of memory. */
struct checker_str model_state_str(struct model *m, uint32_t state);

/* ------------------------------------------------------------------------ */
/* Memo (memo.c)                                                             */
/* ------------------------------------------------------------------------ */

/*
 * The set of configurations explored: (linearized ops, state). The set of
 * linearized ops is a bitset over a key's ops in call order; it is stored
 * exactly, as the run of words between the first word that is not all ones
 * and the last non-zero word (the words before are all ones, those after
 * all zeros), so a long history with a narrow window of concurrency costs a
 * few words per entry.
 */
/* One key's search memory, shared by its memo and its model: each asks
 * before a table grows whether the new table, with everything both hold
 * now (the old table included, alive until the copy is done), fits. */
struct mem_budget
{
    size_t limit; /* 0: none */
    size_t memo;  /* memo_bytes, as of the memo's last growth */
    size_t model; /* model_bytes, as of the model's last growth */
    /* The search's deadline (common_now_ns; 0: none), which a table's
     * rehash looks at as it goes: the rehash of a table of gigabytes takes
     * seconds, longer than a time budget may be overrun. */
    uint64_t deadline_ns;
    bool timed_out; /* a growth stopped at the deadline */
    /* Every key's memo and model together (check.c): a key that pauses
     * keeps its tables while others run, so each key's share alone does
     * not bound the process. NULL: no such limit. */
    atomic_size_t *all;
    size_t all_limit;
    size_t counted; /* what this key's memo + model add to *all */
};

/* After memo or model changed: *all learns this key's new total. */
static inline void mem_budget_sync(struct mem_budget *b)
{
    if (b == NULL || b->all == NULL) {
        return;
    }
    size_t held = b->memo + b->model;
    if (held >= b->counted) {
        atomic_fetch_add_explicit(b->all, held - b->counted,
                                  memory_order_relaxed);
    } else {
        atomic_fetch_sub_explicit(b->all, b->counted - held,
                                  memory_order_relaxed);
    }
    b->counted = held;
}

/* Slots a rehash moves between two looks at the clock. */
#define MEM_BUDGET_REHASH_SLICE ((size_t)1 << 18)

/* In a rehash, at every MEM_BUDGET_REHASH_SLICE-th slot @k: has the
 * deadline passed? Then the growth gives up (the table stays as it was)
 * and the search stops as timed out. */
static inline bool mem_budget_late(struct mem_budget *b, size_t k)
{
    if (b == NULL || b->deadline_ns == 0 ||
        (k & (MEM_BUDGET_REHASH_SLICE - 1)) != 0 || k == 0) {
        return false;
    }
    if (common_now_ns() >= b->deadline_ns) {
        b->timed_out = true;
        return true;
    }
    return false;
}

/* Would allocating @bytes more pass @b's limit? */
static inline bool mem_budget_over(const struct mem_budget *b, size_t bytes)
{
    if (b == NULL || b->limit == 0) {
        return false;
    }
    size_t held = b->memo + b->model;
    if (held > b->limit || bytes > b->limit - held) {
        return true;
    }
    if (b->all != NULL) {
        size_t all = atomic_load_explicit(b->all, memory_order_relaxed);
        return all > b->all_limit || bytes > b->all_limit - all;
    }
    return false;
}

/* One generation of the memo: open addressing over records in an arena. */
struct memo_table
{
    struct memo_slot *slots;
    size_t cap; /* power of two */
    size_t len;
    uint64_t *arena;
    size_t arena_len;
    size_t arena_cap;
};

/* The configurations entered, in two generations: when the budget stops
 * the current one from growing and the search has gone deeper since the
 * last time, the older generation is forgotten and the current one becomes
 * the older (memo.c). */
struct memo
{
    struct memo_table cur;
    struct memo_table old;
    struct mem_budget *budget; /* NULL: no limit */
    /* Whether forgetting is allowed (search_start: no other key holds
     * memory while this one runs); false: the budget ends the search. */
    bool may_forget;
    size_t depth;       /* the search's deepest prefix, set by the search */
    size_t rotated_at;  /* depth when a generation was last forgotten */
    uint64_t forgotten; /* generations forgotten */
};

void memo_init(struct memo *m);
void memo_fini(struct memo *m);
/* Adds (bits[lo..hi), state) with hash @hash unless present. Returns 1 when
 * added, 0 when it was there, COMMON_ENOMEM when a growth would take the
 * memo past its limit and forgetting a generation is not allowed (the
 * search has not gone deeper since the last time). Words below lo are all
 * ones, words from hi on all zeros. */
int memo_add(struct memo *m,
             uint64_t hash,
             uint32_t state,
             const uint64_t *bits,
             size_t lo,
             size_t hi);
/* Bytes held. */
size_t memo_bytes(const struct memo *m);

/* ------------------------------------------------------------------------ */
/* Search (search.c)                                                         */
/* ------------------------------------------------------------------------ */

enum search_status {
    SEARCH_LINEARIZABLE = 0,
    SEARCH_NOT_LINEARIZABLE,
    SEARCH_PAUSED, /* the step budget ran out: resume later */
    SEARCH_TIMEOUT,
    SEARCH_ABORTED, /* a key that wins the report failed */
    SEARCH_NOMEM,
    SEARCH_OUT_OF_STEPS, /* the key took checker_options.max_steps */
};

struct search_limits
{
    uint64_t deadline_ns;      /* 0: none */
    size_t memory_bytes;       /* for this key's memo and model; 0: none */
    atomic_size_t *memory_all; /* every key's together (NULL: none) */
    size_t memory_all_bytes;
    uint64_t steps;            /* model steps allowed in this call */
    atomic_size_t *min_failed; /* stop when *min_failed < self */
    size_t self;
};

/* The list of call and return entries and the other arrays of a search. */
struct search_work
{
    int32_t *next; /* circular list, 0 is the head */
    int32_t *prev;
    uint32_t *ent_op;
    int32_t *ent_match; /* call: its return entry (0: none); return: -1 */
    struct search_timed *rets;
    uint64_t *zob;
    struct search_frame *stack;
    uint8_t *twin; /* an op like it (same kind and values) may return first */
    size_t ents;
    /* Appends only: the unplaced gets in the order of their returns, a
     * list over op index + 1 (0 is the head), cut and restored like the
     * entries. */
    int32_t *gnext;
    int32_t *gprev;
};

/* The bitset of linearized ops with the bounds memo_add wants: words below
 * lo are all ones, words from hi on all zeros. */
struct search_bits
{
    uint64_t *w;
    size_t words;
    size_t lo;
    size_t hi;
};

/* The search of one key; it can stop when its step budget is spent and go
 * on later, on any thread. */
struct search
{
    struct memo memo;
    struct model *m;
    struct mem_budget budget; /* the memo's and the model's */
    const struct pop *ops;
    size_t n;
    void *buf;
    struct search_work w;
    struct search_bits bits;
    uint32_t *best; /* longest prefix so far (op indices) */
    size_t best_len;
    size_t synced; /* best[0..synced) equals the stack's ops */
    size_t depth;
    size_t remaining; /* ops with a return not yet placed */
    uint32_t state;
    uint64_t hz; /* Zobrist hash of the bitset */
    uint64_t steps;
    int32_t e;       /* the entry the scan is at */
    bool reads_done; /* this level's pass over read-only ops is over */
    bool appends;    /* every op is a get or an append (search.c) */
};

struct search_out
{
    enum search_status status;
    uint64_t steps;
    uint32_t *order; /* linearization (or longest prefix), indices in ops */
    size_t order_len;
    uint32_t state;     /* the state after order */
    uint32_t *states;   /* for a failure: the state after each op of order */
    uint32_t *unplaced; /* for a failure: ops refused after order */
    size_t unplaced_len;
};

/* Prepares the search of @n ops (@ops sorted by call time, both borrowed
 * until search_fini). 0 or COMMON_ENOMEM. */
int search_start(struct search *s,
                 struct model *m,
                 const struct pop *ops,
                 size_t n);
/* Searches on within @lim; SEARCH_PAUSED when lim->steps ran out. */
enum search_status search_resume(struct search *s,
                                 const struct search_limits *lim);
/* The outcome after search_resume returned @status; @out's arrays are
 * malloc'd (free them). */
void search_finish(struct search *s,
                   enum search_status status,
                   struct search_out *out);
void search_fini(struct search *s);

/* ------------------------------------------------------------------------ */
/* Reports                                                                   */
/* ------------------------------------------------------------------------ */

/* @s quoted for a person ("null" for absent; control bytes escaped; long
 * values keep their head and tail). */
void report_quote(struct checker_str s, char *buf, size_t size);
/* "put \"1\"", "get -> null (info)", ... */
void report_describe_op(const struct checker_op *o, char *buf, size_t size);
/* The value after prefix op @k of @r, when the result kept it. */
const struct checker_str *report_state_after(const struct checker_result *r,
                                             size_t k);
/* Why op @i could not be placed after the prefix of @r. */
void report_refusal(const struct checker_history *h,
                    const struct checker_result *r,
                    size_t i,
                    char *buf,
                    size_t size);
/* Writes @s as a JSON string (null when absent); bytes that are not UTF-8
 * become U+FFFD. */
void report_json_string(FILE *f, struct checker_str s);
/* Writes op @i of @h as a JSON object (see docs/checker.md), with a field
 * "state_after" when @after is not NULL. */
void report_json_op(FILE *f,
                    const struct checker_history *h,
                    size_t i,
                    const struct checker_str *after);

#endif /* CHECKER_INTERNAL_H */
