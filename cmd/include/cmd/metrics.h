/*
 * cmd/metrics: the Prometheus text exposition format (version 0.0.4) as
 * raftkv-server's /metrics writes it, and the fixed-bucket histograms it
 * renders. Pure formatting: no threads, no sockets, no clock; the server
 * fills the values (docs/metrics.md lists them).
 *
 * A page is written family by family: cmd_prom_family() writes the HELP
 * and TYPE lines, then cmd_prom_value() / cmd_prom_histogram() write its
 * samples. Label values are escaped as the format asks (backslash, double
 * quote and line feed); HELP text escapes backslash and line feed.
 */
#ifndef CMD_METRICS_H
#define CMD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A page being written: a heap buffer that grows up to @max bytes. Past
 * it (or when memory runs out) the page is marked failed and writes are
 * ignored: the caller answers an error rather than a truncated page. */
struct cmd_prom
{
    char *buf; /* owned; NUL-terminated while not failed */
    size_t len;
    size_t cap;
    size_t max;
    bool failed;
};

void cmd_prom_init(struct cmd_prom *p, size_t max_bytes);
void cmd_prom_fini(struct cmd_prom *p);

/* A label of a sample (both strings borrowed for the call). @name must
 * match [a-zA-Z_][a-zA-Z0-9_]*; @value is any text, escaped here. */
struct cmd_prom_label
{
    const char *name;
    const char *value;
};

enum cmd_prom_type {
    CMD_PROM_COUNTER,
    CMD_PROM_GAUGE,
    CMD_PROM_HISTOGRAM,
};

/* "# HELP name help" and "# TYPE name type". */
void cmd_prom_family(struct cmd_prom *p,
                     const char *name,
                     enum cmd_prom_type type,
                     const char *help);

/* One sample "name{labels} value" (@n labels; 0: no braces). The value is
 * written in the shortest form that reads back as the same double, with
 * +Inf, -Inf and NaN as the format spells them. */
void cmd_prom_value(struct cmd_prom *p,
                    const char *name,
                    const struct cmd_prom_label *labels,
                    size_t n,
                    double value);
/* The same for an integer (counters, indexes): exact to 2^64-1. */
void cmd_prom_uint(struct cmd_prom *p,
                   const char *name,
                   const struct cmd_prom_label *labels,
                   size_t n,
                   uint64_t value);

/* A histogram with fixed upper bounds (seconds, increasing). */
#define CMD_HISTOGRAM_BOUNDS_MAX 20

struct cmd_histogram
{
    size_t n_bounds;
    double bounds[CMD_HISTOGRAM_BOUNDS_MAX];
    /* counts[k]: observations <= bounds[k] and > bounds[k - 1] (not
     * cumulative); counts[n_bounds]: above the last bound. */
    uint64_t counts[CMD_HISTOGRAM_BOUNDS_MAX + 1];
    uint64_t count;
    double sum;
};

/* Bounds @start, @start * @factor, ... (@n of them, at most
 * CMD_HISTOGRAM_BOUNDS_MAX; @start > 0, @factor > 1), counts zero. */
void cmd_histogram_init_exponential(struct cmd_histogram *h,
                                    double start,
                                    double factor,
                                    size_t n);
void cmd_histogram_observe(struct cmd_histogram *h, double value);

/* The samples of one histogram: name_bucket{labels,le="..."} (cumulative,
 * ending with le="+Inf" equal to the count), name_sum and name_count. */
void cmd_prom_histogram(struct cmd_prom *p,
                        const char *name,
                        const struct cmd_prom_label *labels,
                        size_t n,
                        const struct cmd_histogram *h);

#endif /* CMD_METRICS_H */
