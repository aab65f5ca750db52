/*
 * The Prometheus text exposition format (version 0.0.4): HELP and TYPE
 * lines, samples with escaped label values, and histograms as cumulative
 * _bucket samples with an le label plus _sum and _count.
 *
 * The page is built in one growing buffer with a ceiling: a scrape costs
 * a bounded amount of memory whatever the server holds, and a page that
 * would not fit fails whole rather than ending in the middle of a line
 * (Prometheus would take a cut page as the last values).
 *
 * Numbers: integers are written exactly (a counter of 2^63 would lose
 * digits as a double); other values in the shortest decimal form that
 * strtod() reads back as the same double, so le="0.001" rather than
 * le="0.0010000000000000000208".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/metrics.h"

void cmd_prom_init(struct cmd_prom *p, size_t max_bytes)
{
    memset(p, 0, sizeof *p);
    p->max = max_bytes;
}

void cmd_prom_fini(struct cmd_prom *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

/* Room for @n more bytes and the NUL. */
static bool reserve(struct cmd_prom *p, size_t n)
{
    if (p->failed) {
        return false;
    }
    if (n > p->max || p->len + n + 1 > p->max) {
        p->failed = true;
        return false;
    }
    if (p->len + n + 1 <= p->cap) {
        return true;
    }
    size_t cap = p->cap > 0 ? p->cap : 4096;
    while (cap < p->len + n + 1) {
        cap *= 2;
    }
    if (cap > p->max) {
        cap = p->max;
    }
    char *b = realloc(p->buf, cap);
    if (b == NULL) {
        p->failed = true;
        return false;
    }
    p->buf = b;
    p->cap = cap;
    return true;
}

static void put(struct cmd_prom *p, const char *s, size_t n)
{
    if (reserve(p, n)) {
        memcpy(p->buf + p->len, s, n);
        p->len += n;
        p->buf[p->len] = '\0';
    }
}

static void puts_(struct cmd_prom *p, const char *s)
{
    put(p, s, strlen(s));
}

/* @s with the characters of @special escaped: '\n' as "\n", the others
 * with a backslash before them. */
static void put_escaped(struct cmd_prom *p, const char *s, const char *special)
{
    for (const char *c = s; *c != '\0'; c++) {
        if (*c == '\n') {
            put(p, "\\n", 2);
        } else if (strchr(special, *c) != NULL) {
            char e[2] = {'\\', *c};
            put(p, e, 2);
        } else {
            put(p, c, 1);
        }
    }
}

static const char *type_name(enum cmd_prom_type t)
{
    switch (t) {
        case CMD_PROM_COUNTER:
            return "counter";
        case CMD_PROM_GAUGE:
            return "gauge";
        case CMD_PROM_HISTOGRAM:
            return "histogram";
    }
    return "untyped";
}

void cmd_prom_family(struct cmd_prom *p,
                     const char *name,
                     enum cmd_prom_type type,
                     const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    put_escaped(p, help, "\\");
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type_name(type));
    puts_(p, "\n");
}

/* The shortest "%.*g" that reads back as @v. */
static void format_double(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            return;
        }
    }
}

/* name{a="x",b="y",extra="v"} (the extra label: histograms' le). */
static void put_series(struct cmd_prom *p,
                       const char *name,
                       const char *suffix,
                       const struct cmd_prom_label *labels,
                       size_t n,
                       const struct cmd_prom_label *extra)
{
    puts_(p, name);
    puts_(p, suffix);
    if (n == 0 && extra == NULL) {
        return;
    }
    puts_(p, "{");
    for (size_t k = 0; k < n + (extra != NULL); k++) {
        const struct cmd_prom_label *l = k < n ? &labels[k] : extra;
        if (k > 0) {
            puts_(p, ",");
        }
        puts_(p, l->name);
        puts_(p, "=\"");
        put_escaped(p, l->value, "\\\"");
        puts_(p, "\"");
    }
    puts_(p, "}");
}

static void put_line_end(struct cmd_prom *p, const char *value)
{
    puts_(p, " ");
    puts_(p, value);
    puts_(p, "\n");
}

/* Big enough for any double "%.17g" writes and any uint64_t. */
#define NUM_MAX 40

static void format_uint(uint64_t v, char *buf, size_t len)
{
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* One sample line with its value already formatted. */
static void put_sample(struct cmd_prom *p,
                       const char *name,
                       const struct cmd_prom_label *labels,
                       size_t n,
                       const char *num)
{
    put_series(p, name, "", labels, n, NULL);
    put_line_end(p, num);
}

void cmd_prom_value(struct cmd_prom *p,
                    const char *name,
                    const struct cmd_prom_label *labels,
                    size_t n,
                    double value)
{
    char num[NUM_MAX];
    format_double(value, num, sizeof num);
    put_sample(p, name, labels, n, num);
}

void cmd_prom_uint(struct cmd_prom *p,
                   const char *name,
                   const struct cmd_prom_label *labels,
                   size_t n,
                   uint64_t value)
{
    char num[NUM_MAX];
    format_uint(value, num, sizeof num);
    put_sample(p, name, labels, n, num);
}

void cmd_histogram_init_exponential(struct cmd_histogram *h,
                                    double start,
                                    double factor,
                                    size_t n)
{
    memset(h, 0, sizeof *h);
    if (n > CMD_HISTOGRAM_BOUNDS_MAX) {
        n = CMD_HISTOGRAM_BOUNDS_MAX;
    }
    double b = start;
    for (size_t k = 0; k < n; k++) {
        h->bounds[k] = b;
        b *= factor;
    }
    h->n_bounds = n;
}

void cmd_histogram_observe(struct cmd_histogram *h, double value)
{
    size_t k = 0;
    while (k < h->n_bounds && value > h->bounds[k]) {
        k++;
    }
    h->counts[k]++;
    h->count++;
    h->sum += value;
}

void cmd_prom_histogram(struct cmd_prom *p,
                        const char *name,
                        const struct cmd_prom_label *labels,
                        size_t n,
                        const struct cmd_histogram *h)
{
    uint64_t cumulative = 0;
    char le[NUM_MAX];
    char num[NUM_MAX];
    for (size_t k = 0; k <= h->n_bounds; k++) {
        cumulative += h->counts[k];
        if (k < h->n_bounds) {
            format_double(h->bounds[k], le, sizeof le);
        } else {
            snprintf(le, sizeof le, "+Inf");
        }
        struct cmd_prom_label l = {"le", le};
        put_series(p, name, "_bucket", labels, n, &l);
        format_uint(cumulative, num, sizeof num);
        put_line_end(p, num);
    }
    format_double(h->sum, num, sizeof num);
    put_series(p, name, "_sum", labels, n, NULL);
    put_line_end(p, num);
    format_uint(h->count, num, sizeof num);
    put_series(p, name, "_count", labels, n, NULL);
    put_line_end(p, num);
}
