/* Helpers for the storage tests (helpers.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

void th_entries_make(struct th_entries *b,
                     raft_index first,
                     size_t n,
                     raft_term term,
                     size_t len,
                     uint64_t salt)
{
    b->n = n;
    b->e = calloc(n > 0 ? n : 1, sizeof *b->e);
    assert_non_null(b->e);
    for (size_t k = 0; k < n; k++) {
        struct raft_entry *e = &b->e[k];
        e->index = first + k;
        e->term = term;
        e->type = (e->index % 7 == 3) ? RAFT_ENTRY_NOOP : RAFT_ENTRY_COMMAND;
        e->data.len = len;
        e->data.base = NULL;
        if (len > 0) {
            uint8_t *d = malloc(len);
            assert_non_null(d);
            uint64_t x = common_mix64(e->index * 1000003u + term + salt);
            for (size_t j = 0; j < len; j++) {
                if (j % 8 == 0) {
                    x = common_mix64(x);
                }
                d[j] = (uint8_t)(x >> (8 * (j % 8)));
            }
            e->data.base = d;
        }
    }
}

void th_entries_free(struct th_entries *b)
{
    for (size_t k = 0; k < b->n; k++) {
        free(b->e[k].data.base);
    }
    free(b->e);
    b->e = NULL;
    b->n = 0;
}

void th_model_init(struct th_model *m)
{
    memset(m, 0, sizeof *m);
}

static void drop_entries(struct th_model *m, size_t from_pos)
{
    for (size_t k = from_pos; k < m->n; k++) {
        free(m->entries[k].data);
    }
    if (from_pos < m->n) {
        m->n = from_pos;
    }
}

void th_model_free(struct th_model *m)
{
    drop_entries(m, 0);
    free(m->entries);
    free(m->snap_data);
    th_model_init(m);
}

static uint8_t *dup_bytes(const void *p, size_t len)
{
    uint8_t *d = malloc(len > 0 ? len : 1);
    assert_non_null(d);
    if (len > 0) {
        memcpy(d, p, len);
    }
    return d;
}

void th_model_copy(struct th_model *to, const struct th_model *from)
{
    *to = *from;
    to->snap_data =
        from->snap_data ? dup_bytes(from->snap_data, from->snap_len) : NULL;
    to->cap = from->n;
    to->entries = calloc(from->n > 0 ? from->n : 1, sizeof *to->entries);
    assert_non_null(to->entries);
    for (size_t k = 0; k < from->n; k++) {
        to->entries[k] = from->entries[k];
        to->entries[k].data =
            dup_bytes(from->entries[k].data, from->entries[k].len);
    }
}

static raft_index base(const struct th_model *m)
{
    return m->has_snapshot ? m->snap.index : 0;
}

raft_index th_model_last(const struct th_model *m)
{
    return base(m) + m->n;
}

raft_term th_model_term_at(const struct th_model *m, raft_index index)
{
    if (m->has_snapshot && index == m->snap.index) {
        return m->snap.term;
    }
    if (index <= base(m) || index > th_model_last(m)) {
        return 0;
    }
    return m->entries[index - base(m) - 1].term;
}

void th_model_write(struct th_model *m, const struct storage_batch *b)
{
    const struct raft_hard_state *hs = b->hard_state;
    if (hs == NULL && b->truncate_from == 0 && b->n_entries == 0) {
        return;
    }
    if (hs != NULL && b->truncate_from == 0 && b->n_entries == 0 &&
        hs->term == m->hs.term && hs->vote == m->hs.vote) {
        m->hs_held = *hs;
        m->has_held = true;
        return;
    }
    if (hs == NULL && m->has_held) {
        hs = &m->hs_held;
    }
    if (hs != NULL) {
        m->hs = *hs;
    }
    m->has_held = false;
    if (b->truncate_from != 0 && b->truncate_from <= th_model_last(m)) {
        assert_true(b->truncate_from > base(m));
        drop_entries(m, (size_t)(b->truncate_from - base(m) - 1));
    }
    for (size_t k = 0; k < b->n_entries; k++) {
        const struct raft_entry *e = &b->entries[k];
        assert_int_equal(e->index, th_model_last(m) + 1);
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 64;
            m->entries = realloc(m->entries, m->cap * sizeof *m->entries);
            assert_non_null(m->entries);
        }
        struct th_model_entry *me = &m->entries[m->n++];
        me->term = e->term;
        me->type = e->type;
        me->len = e->data.len;
        me->data = dup_bytes(e->data.base, e->data.len);
    }
}

void th_model_reopened(struct th_model *m)
{
    m->has_held = false;
}

void th_model_snapshot(struct th_model *m,
                       const struct storage_snapshot_meta *meta,
                       const void *data,
                       size_t len)
{
    bool held = th_model_term_at(m, meta->index) == meta->term &&
                meta->index <= th_model_last(m) &&
                (meta->index > base(m) || m->has_snapshot);
    if (held) {
        size_t drop = (size_t)(meta->index - base(m));
        for (size_t k = 0; k < drop; k++) {
            free(m->entries[k].data);
        }
        if (drop > 0) {
            memmove(m->entries, m->entries + drop,
                    (m->n - drop) * sizeof *m->entries);
            m->n -= drop;
        }
    } else {
        drop_entries(m, 0);
    }
    free(m->snap_data);
    m->snap_data = dup_bytes(data, len);
    m->snap_len = len;
    m->snap = *meta;
    m->has_snapshot = true;
}

static bool fail_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail_why(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return false;
}

bool th_model_matches(const struct th_model *m,
                      const struct storage_state *st,
                      char *why,
                      size_t why_len)
{
    const struct raft_hard_state *a = &m->hs;
    const struct raft_hard_state *b = &st->hard_state;
    if (a->term != b->term || a->vote != b->vote || a->commit != b->commit) {
        return fail_why(
            why, why_len, "hard state %llu/%llu/%llu, expected %llu/%llu/%llu",
            (unsigned long long)b->term, (unsigned long long)b->vote,
            (unsigned long long)b->commit, (unsigned long long)a->term,
            (unsigned long long)a->vote, (unsigned long long)a->commit);
    }
    if (m->has_snapshot != st->has_snapshot) {
        return fail_why(why, why_len, "has_snapshot %d, expected %d",
                        st->has_snapshot, m->has_snapshot);
    }
    if (m->has_snapshot) {
        if (st->snapshot.index != m->snap.index ||
            st->snapshot.term != m->snap.term ||
            st->snapshot_index != m->snap.index ||
            st->snapshot_term != m->snap.term) {
            return fail_why(why, why_len,
                            "snapshot %llu/%llu, expected %llu/%llu",
                            (unsigned long long)st->snapshot.index,
                            (unsigned long long)st->snapshot.term,
                            (unsigned long long)m->snap.index,
                            (unsigned long long)m->snap.term);
        }
        if (st->snapshot.conf.count != m->snap.conf.count ||
            memcmp(st->snapshot.conf.servers, m->snap.conf.servers,
                   m->snap.conf.count * sizeof m->snap.conf.servers[0]) != 0) {
            return fail_why(why, why_len, "snapshot configuration differs");
        }
        if (st->snapshot_len != m->snap_len ||
            (m->snap_len > 0 &&
             memcmp(st->snapshot_data, m->snap_data, m->snap_len) != 0)) {
            return fail_why(why, why_len,
                            "snapshot data (%zu bytes) differs from the "
                            "%zu bytes saved",
                            st->snapshot_len, m->snap_len);
        }
    } else if (st->snapshot_index != 0 || st->snapshot_len != 0) {
        return fail_why(why, why_len, "snapshot fields set without one");
    }
    if (st->n_entries != m->n) {
        return fail_why(why, why_len, "%zu entries, expected %zu (%llu..)",
                        st->n_entries, m->n, (unsigned long long)(base(m) + 1));
    }
    for (size_t k = 0; k < m->n; k++) {
        const struct raft_entry *e = &st->entries[k];
        const struct th_model_entry *me = &m->entries[k];
        raft_index index = base(m) + 1 + k;
        if (e->index != index || e->term != me->term || e->type != me->type ||
            e->data.len != me->len ||
            (me->len > 0 && memcmp(e->data.base, me->data, me->len) != 0)) {
            return fail_why(why, why_len,
                            "entry %llu: got index %llu term %llu len %zu, "
                            "expected term %llu len %zu (or data differs)",
                            (unsigned long long)index,
                            (unsigned long long)e->index,
                            (unsigned long long)e->term, e->data.len,
                            (unsigned long long)me->term, me->len);
        }
    }
    return true;
}

void th_write(struct storage *s,
              struct th_model *m,
              const struct storage_batch *b)
{
    int rv = storage_write(s, b);
    if (rv != 0) {
        fail_msg("storage_write: %s: %s", common_strerror(rv),
                 storage_error(s));
    }
    th_model_write(m, b);
}

void th_write_batches(struct storage *s,
                      struct th_model *m,
                      int batches,
                      size_t n,
                      raft_term term,
                      size_t len)
{
    for (int k = 0; k < batches; k++) {
        raft_index first = th_model_last(m) + 1;
        struct raft_hard_state hs = {term, 1, first - 1};
        struct th_entries e;
        th_entries_make(&e, first, n, term, len, 0);
        struct storage_batch b = {&hs, 0, e.e, e.n};
        th_write(s, m, &b);
        th_entries_free(&e);
    }
}

void th_load_expect(struct storage *s,
                    const struct th_model *m,
                    struct storage_state *st)
{
    int rv = storage_load(s, st);
    if (rv != 0) {
        fail_msg("storage_load: %s: %s", common_strerror(rv), storage_error(s));
    }
    char why[256];
    if (!th_model_matches(m, st, why, sizeof why)) {
        fail_msg("loaded state differs: %s", why);
    }
}

void th_read_file(struct storage_fs *fs,
                  const char *name,
                  uint8_t **buf,
                  size_t *len)
{
    struct storage_file *f;
    assert_int_equal(fs->vt->open(fs, name, false, &f), 0);
    uint64_t size;
    assert_int_equal(fs->vt->size(fs, f, &size), 0);
    *buf = malloc((size_t)size + 1);
    assert_non_null(*buf);
    size_t got;
    assert_int_equal(fs->vt->read(fs, f, 0, *buf, (size_t)size, &got), 0);
    assert_int_equal(got, size);
    *len = (size_t)size;
    assert_int_equal(fs->vt->close(fs, f), 0);
}

void th_write_file(struct storage_fs *fs,
                   const char *name,
                   const uint8_t *buf,
                   size_t len)
{
    struct storage_file *f;
    assert_int_equal(fs->vt->open(fs, name, true, &f), 0);
    assert_int_equal(fs->vt->truncate(fs, f, 0), 0);
    if (len > 0) {
        assert_int_equal(fs->vt->append(fs, f, buf, len), 0);
    }
    assert_int_equal(fs->vt->sync(fs, f), 0);
    assert_int_equal(fs->vt->close(fs, f), 0);
    assert_int_equal(fs->vt->sync_dir(fs), 0);
}

struct list_ctx
{
    const char *suffix;
    char (*names)[64];
    size_t max;
    size_t n;
};

static int list_cb(void *data, const char *name)
{
    struct list_ctx *c = data;
    size_t nl = strlen(name);
    size_t sl = strlen(c->suffix);
    if (nl >= sl && strcmp(name + nl - sl, c->suffix) == 0 && c->n < c->max &&
        nl < 64) {
        memcpy(c->names[c->n++], name, nl + 1);
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

size_t th_list(struct storage_fs *fs,
               const char *suffix,
               char (*names)[64],
               size_t max)
{
    struct list_ctx c = {suffix, names, max, 0};
    assert_int_equal(fs->vt->list(fs, list_cb, &c), 0);
    qsort(names, c.n, sizeof names[0], by_name);
    return c.n;
}

struct storage *th_wal(struct storage_fs *fs, uint64_t segment_bytes)
{
    struct storage_wal_options o;
    storage_wal_options_default(&o);
    if (segment_bytes > 0) {
        o.segment_bytes = segment_bytes;
    }
    struct storage *s = NULL;
    assert_int_equal(storage_wal_new(fs, &o, &s), 0);
    return s;
}

struct raft_configuration th_conf(unsigned n)
{
    struct raft_configuration c;
    raft_id ids[RAFT_MAX_SERVERS];
    for (unsigned k = 0; k < n; k++) {
        ids[k] = k + 1;
    }
    assert_int_equal(raft_configuration_voters(&c, ids, n), 0);
    return c;
}

bool th_contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}
