/*
 * The run report (see report.h). The page is three parts: the verdict,
 * written here as HTML (it reads without any script); the run's data as
 * one JSON object in a <script type="application/json"> element; and the
 * scripts that draw it - Chart.js and report.js, both embedded in the
 * program at build time (harness/CMakeLists.txt, cmake/embed_file.cmake).
 *
 * The data, times in ms on the run's clock (docs/report.md):
 *
 *   scenario, mode, seed, nodes, clients, run_ms, verdict, failures
 *   [{kind, text}], reproduce, check {verdict, check_s}, cut_ms
 *   roles[node-1]  [[from, to, state, role, term], ...]
 *   net            [[from, to, kinds, what], ...]      (faults only)
 *   bucket_ms, thr {ok, fail, info, mismatch}[REPORT_BUCKETS]
 *                  (by completion)
 *   lanes          [{name, b: [[bucket, ops, fail or info], ...]}]
 *   lat            {ok, fail, info, mismatch: [t, latency, ...]},
 *                  lat_every {ok, fail, info, mismatch}: one point in n
 *   window         {from, to, why} or null
 *   ops            [[lane, process, call, ret, outcome, node, mark,
 *                    what, key], ...]   (inside the window)
 *   lin            {key, prefix_len, state, unplaced: [what...]} or null
 *   violation      {text, at} or null
 *   log            [[t, text], ...]     (events.log in the window)
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* Generated at build time from Chart.js and report.js/report.css. */
extern const unsigned char report_chartjs[];
extern const size_t report_chartjs_len;
extern const unsigned char report_js[];
extern const size_t report_js_len;
extern const unsigned char report_css[];
extern const size_t report_css_len;

/* Outcomes as the page codes them: a cas that found another value
 * (fail "mismatch") is an answer, kept apart from the fails that are
 * errors. */
#define OUT_OK       0
#define OUT_FAIL     1
#define OUT_INFO     2
#define OUT_MISMATCH 3
#define OUTCOMES     4

static const char *const outcome_names[OUTCOMES] = {"ok", "fail", "info",
                                                    "mismatch"};

/* Marks of an operation in the window. */
#define MARK_NONE     0
#define MARK_PREFIX   1 /* in the checker's longest prefix */
#define MARK_UNPLACED 2 /* could not be placed after it */

const char *report_failure_kind(const char *failure)
{
    if (strncmp(failure, "safety:", 7) == 0) {
        return "safety invariant";
    }
    if (strncmp(failure, "linearizability:", 16) == 0 ||
        strncmp(failure, "checker:", 8) == 0) {
        return "linearizability";
    }
    return "expectation";
}

/* ------------------------------------------------------------------------ */
/* Escaping                                                                  */
/* ------------------------------------------------------------------------ */

/* @s as HTML text (also fit for a quoted attribute). */
static void html_text(FILE *f, const char *s)
{
    checker_html_text_write(f, s, strlen(s));
}

/* @len bytes at @s as a JSON string, cut to REPORT_TEXT_MAX bytes. */
static void json_bytes(FILE *f, const char *s, size_t len)
{
    checker_json_string_write(f, s,
                              len > REPORT_TEXT_MAX ? REPORT_TEXT_MAX : len);
}

static void json_str(FILE *f, const char *s)
{
    json_bytes(f, s, strlen(s));
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* ------------------------------------------------------------------------ */
/* The verdict                                                               */
/* ------------------------------------------------------------------------ */

static const char *verdict_word(int exit_code)
{
    return exit_code == COMMON_EXIT_OK       ? "PASS"
           : exit_code == COMMON_EXIT_FAILED ? "FAIL"
                                             : "UNKNOWN";
}

static void write_verdict(FILE *f, const struct report_input *in)
{
    const struct scenario *s = in->s;
    const char *word = verdict_word(in->exit_code);
    fprintf(f, "<section id=\"verdict\" class=\"verdict %s\">\n<h1>",
            in->exit_code == COMMON_EXIT_OK       ? "pass"
            : in->exit_code == COMMON_EXIT_FAILED ? "fail"
                                                  : "unknown");
    fprintf(f, "<span id=\"verdict-word\">%s</span> ", word);
    html_text(f, s->name);
    fprintf(f,
            "</h1>\n<p class=\"meta\">mode %s, seed %llu, %u nodes, "
            "%u clients, %.1f s",
            in->sim ? "sim" : "threads", (unsigned long long)s->seed, s->nodes,
            s->clients.count, in->run_s);
    if (in->cres != NULL) {
        fprintf(f, ", checker: %s", checker_verdict_name(in->cres->verdict));
    }
    fprintf(f, "</p>\n<ul id=\"failures\">\n");
    for (unsigned k = 0; k < in->n_failures; k++) {
        const char *text = in->failures[k];
        const char *kind = report_failure_kind(text);
        fprintf(f, "<li><b>%s</b>: ", kind);
        /* "safety: ..." under "safety invariant" says it twice. */
        const char *colon = strchr(text, ':');
        if (colon != NULL && colon[1] == ' ' &&
            strncmp(kind, text, (size_t)(colon - text)) == 0) {
            text = colon + 2;
        }
        html_text(f, text);
        fprintf(f, "</li>\n");
    }
    if (in->n_failures == 0 && in->exit_code == COMMON_EXIT_OK) {
        fprintf(f, "<li>linearizable, safety held, expectations met</li>\n");
    } else if (in->n_failures == 0) {
        fprintf(f,
                "<li>the checker ran out of its budget: verdict "
                "unknown</li>\n");
    }
    fprintf(f, "</ul>\n");
    if (in->reproduce != NULL) {
        fprintf(f, "<p>Reproduce: <code id=\"reproduce\">");
        html_text(f, in->reproduce);
        fprintf(f, "</code></p>\n");
    }
    fprintf(f, "</section>\n");
}

/* ------------------------------------------------------------------------ */
/* The data                                                                  */
/* ------------------------------------------------------------------------ */

/* What the data sections share. */
struct ctx
{
    FILE *f;
    const struct report_input *in;
    uint64_t run_ns;
    uint64_t bucket_ns;
    unsigned lanes;
    unsigned clients;
    size_t n_ops;
    uint8_t *mark; /* by op; NULL: no marks */
    bool window;
    uint64_t win_from;
    uint64_t win_to;
    char why[160];
};

static unsigned bucket_of(const struct ctx *c, uint64_t t)
{
    uint64_t b = t / c->bucket_ns;
    return b >= REPORT_BUCKETS ? REPORT_BUCKETS - 1 : (unsigned)b;
}

static unsigned lane_of(const struct ctx *c, int64_t process)
{
    unsigned client = (unsigned)((uint64_t)process % c->clients);
    return (unsigned)((uint64_t)client * c->lanes / c->clients);
}

static int outcome_of(const struct checker_op *o)
{
    if (!o->completed || o->outcome == CHECKER_INFO) {
        return OUT_INFO;
    }
    if (o->outcome == CHECKER_FAIL) {
        return o->mismatch ? OUT_MISMATCH : OUT_FAIL;
    }
    return OUT_OK;
}

/* When @o ended: its return, or the end of the run when it never did. */
static uint64_t end_of(const struct ctx *c, const struct checker_op *o)
{
    return o->completed ? (uint64_t)o->return_time : c->run_ns;
}

static void write_meta(struct ctx *c)
{
    FILE *f = c->f;
    const struct report_input *in = c->in;
    fprintf(f, "{\"scenario\":");
    json_str(f, in->s->name);
    fprintf(f,
            ",\"mode\":\"%s\",\"seed\":%llu,\"nodes\":%u,\"clients\":%u,"
            "\"run_ms\":%.1f,\"verdict\":\"%s\",\"failures\":[",
            in->sim ? "sim" : "threads", (unsigned long long)in->s->seed,
            in->s->nodes, in->s->clients.count, ms(c->run_ns),
            verdict_word(in->exit_code));
    for (unsigned k = 0; k < in->n_failures; k++) {
        fprintf(f, "%s{\"kind\":\"%s\",\"text\":", k ? "," : "",
                report_failure_kind(in->failures[k]));
        json_str(f, in->failures[k]);
        fprintf(f, "}");
    }
    fprintf(f, "],\"reproduce\":");
    if (in->reproduce != NULL) {
        json_str(f, in->reproduce);
    } else {
        fprintf(f, "null");
    }
    fprintf(f, ",\"check\":");
    if (in->cres != NULL) {
        fprintf(f, "{\"verdict\":\"%s\",\"check_s\":%.3f}",
                checker_verdict_name(in->cres->verdict), in->cres->elapsed_s);
    } else {
        fprintf(f, "null");
    }
    uint64_t cut = 0;
    if (in->tl != NULL && timeline_cut_at(in->tl, &cut)) {
        fprintf(f, ",\"cut_ms\":%.1f", ms(cut));
    } else {
        fprintf(f, ",\"cut_ms\":null");
    }
}

static void write_timeline(struct ctx *c)
{
    FILE *f = c->f;
    const struct timeline *tl = c->in->tl;
    fprintf(f, ",\"roles\":[");
    for (unsigned id = 1; id <= c->in->s->nodes; id++) {
        size_t n = 0;
        const struct timeline_node_seg *g =
            tl != NULL ? timeline_node(tl, id, &n) : NULL;
        fprintf(f, "%s[", id > 1 ? "," : "");
        for (size_t k = 0; k < n; k++) {
            fprintf(f, "%s[%.1f,%.1f,%d,%d,%llu]", k ? "," : "", ms(g[k].from),
                    ms(g[k].to), (int)g[k].state, (int)g[k].role,
                    (unsigned long long)g[k].term);
        }
        fprintf(f, "]");
    }
    fprintf(f, "],\"net\":[");
    size_t n = 0;
    const struct timeline_net_seg *g = tl != NULL ? timeline_net(tl, &n) : NULL;
    bool first = true;
    for (size_t k = 0; k < n; k++) {
        if (g[k].kinds == 0) {
            continue;
        }
        fprintf(f, "%s[%.1f,%.1f,%u,", first ? "" : ",", ms(g[k].from),
                ms(g[k].to), g[k].kinds);
        json_str(f, g[k].what);
        fprintf(f, "]");
        first = false;
    }
    fprintf(f, "]");
}

/* Throughput, lanes and latency points: one pass over the operations
 * each. */
static int write_counts(struct ctx *c)
{
    FILE *f = c->f;
    const struct checker_history *h = c->in->h;
    uint32_t thr[OUTCOMES][REPORT_BUCKETS];
    memset(thr, 0, sizeof thr);
    /* lane counts: [lane][bucket] all ops and those not ok. */
    uint32_t *all = calloc((size_t)c->lanes * REPORT_BUCKETS, sizeof *all);
    uint32_t *bad = calloc((size_t)c->lanes * REPORT_BUCKETS, sizeof *bad);
    if (all == NULL || bad == NULL) {
        free(all);
        free(bad);
        return COMMON_ENOMEM;
    }
    for (size_t i = 0; h != NULL && i < c->n_ops; i++) {
        struct checker_op o;
        checker_history_op(h, i, &o);
        int out = outcome_of(&o);
        uint64_t end = end_of(c, &o);
        thr[out][bucket_of(c, end)]++;
        size_t at = (size_t)lane_of(c, o.process) * REPORT_BUCKETS +
                    bucket_of(c, (uint64_t)o.call_time);
        all[at]++;
        bad[at] += out == OUT_FAIL || out == OUT_INFO;
    }
    fprintf(f, ",\"bucket_ms\":%.3f,\"thr\":{", ms(c->bucket_ns));
    for (int k = 0; k < OUTCOMES; k++) {
        fprintf(f, "%s\"%s\":[", k ? "," : "", outcome_names[k]);
        for (unsigned b = 0; b < REPORT_BUCKETS; b++) {
            fprintf(f, "%s%u", b ? "," : "", thr[k][b]);
        }
        fprintf(f, "]");
    }
    fprintf(f, "},\"lanes\":[");
    for (unsigned l = 0; l < c->lanes; l++) {
        unsigned lo =
            (unsigned)(((uint64_t)l * c->clients + c->lanes - 1) / c->lanes);
        unsigned hi =
            (unsigned)((((uint64_t)l + 1) * c->clients + c->lanes - 1) /
                       c->lanes) -
            1;
        if (lo == hi) {
            fprintf(f, "%s{\"name\":\"client %u\",\"b\":[", l ? "," : "", lo);
        } else {
            fprintf(f, "%s{\"name\":\"clients %u-%u\",\"b\":[", l ? "," : "",
                    lo, hi);
        }
        bool first = true;
        for (unsigned b = 0; b < REPORT_BUCKETS; b++) {
            size_t at = (size_t)l * REPORT_BUCKETS + b;
            if (all[at] != 0) {
                fprintf(f, "%s[%u,%u,%u]", first ? "" : ",", b, all[at],
                        bad[at]);
                first = false;
            }
        }
        fprintf(f, "]}");
    }
    fprintf(f, "]");
    free(all);
    free(bad);
    return 0;
}

/* Every how many of @n items to keep at most @room of them. */
static size_t stride(size_t n, size_t room)
{
    return n > room ? (n + room - 1) / room : 1;
}

/* Latency points: every completed operation when they are few; else the
 * fail and info ones up to REPORT_MAX_RARE (every j-th), the mismatches
 * up to REPORT_MAX_MISMATCH (every m-th) and every k-th ok one, k such
 * that all stay within REPORT_MAX_POINTS. */
static void write_latency(struct ctx *c)
{
    FILE *f = c->f;
    const struct checker_history *h = c->in->h;
    size_t completed[OUTCOMES] = {0};
    for (size_t i = 0; h != NULL && i < c->n_ops; i++) {
        struct checker_op o;
        checker_history_op(h, i, &o);
        if (o.completed) {
            completed[outcome_of(&o)]++;
        }
    }
    size_t every[OUTCOMES];
    every[OUT_FAIL] =
        stride(completed[OUT_FAIL] + completed[OUT_INFO], REPORT_MAX_RARE);
    every[OUT_INFO] = every[OUT_FAIL];
    every[OUT_MISMATCH] = stride(completed[OUT_MISMATCH], REPORT_MAX_MISMATCH);
    size_t kept = 0;
    for (int k = OUT_FAIL; k < OUTCOMES; k++) {
        kept += (completed[k] + every[k] - 1) / every[k];
    }
    every[OUT_OK] = stride(completed[OUT_OK], REPORT_MAX_POINTS - kept);
    fprintf(f, ",\"lat_every\":{");
    for (int k = 0; k < OUTCOMES; k++) {
        fprintf(f, "%s\"%s\":%zu", k ? "," : "", outcome_names[k], every[k]);
    }
    fprintf(f, "},\"lat\":{");
    for (int k = 0; k < OUTCOMES; k++) {
        fprintf(f, "%s\"%s\":[", k ? "," : "", outcome_names[k]);
        size_t seen = 0;
        bool first = true;
        for (size_t i = 0; h != NULL && i < c->n_ops; i++) {
            struct checker_op o;
            checker_history_op(h, i, &o);
            if (!o.completed || outcome_of(&o) != k) {
                continue;
            }
            if (seen++ % every[k] != 0) {
                continue;
            }
            fprintf(f, "%s%.1f,%.2f", first ? "" : ",",
                    ms((uint64_t)o.return_time),
                    ms((uint64_t)(o.return_time - o.call_time)));
            first = false;
        }
        fprintf(f, "]");
    }
    fprintf(f, "}");
}

/* The interesting window: around the operations the checker could not
 * place (and the end of its prefix), or around the moment the monitor
 * found a violation. */
static void find_window(struct ctx *c)
{
    const struct report_input *in = c->in;
    const struct checker_result *r = in->cres;
    if (r != NULL && r->verdict == CHECKER_NOT_LINEARIZABLE &&
        c->mark != NULL) {
        uint64_t lo = UINT64_MAX;
        uint64_t hi = 0;
        size_t tail = r->prefix_len > 10 ? r->prefix_len - 10 : 0;
        for (size_t k = 0; k < r->prefix_len; k++) {
            if (r->prefix[k] < c->n_ops) {
                c->mark[r->prefix[k]] = MARK_PREFIX;
            }
        }
        for (size_t k = 0; k < r->unplaced_len + r->prefix_len - tail; k++) {
            size_t i = k < r->unplaced_len
                           ? r->unplaced[k]
                           : r->prefix[tail + k - r->unplaced_len];
            if (i >= c->n_ops) {
                continue;
            }
            if (k < r->unplaced_len) {
                c->mark[i] = MARK_UNPLACED;
            }
            struct checker_op o;
            checker_history_op(in->h, i, &o);
            if ((uint64_t)o.call_time < lo) {
                lo = (uint64_t)o.call_time;
            }
            if (end_of(c, &o) > hi) {
                hi = end_of(c, &o);
            }
        }
        if (lo <= hi) {
            c->window = true;
            c->win_from = lo;
            c->win_to = hi;
            snprintf(c->why, sizeof c->why,
                     "the checker's longest prefix ends here and the "
                     "operations it could not place");
        }
    }
    uint64_t at = 0;
    if (!c->window && in->tl != NULL && timeline_violation_at(in->tl, &at)) {
        c->window = true;
        c->win_from = at;
        c->win_to = at;
        snprintf(c->why, sizeof c->why,
                 "the safety monitor found the violation here");
    }
    if (c->window) {
        /* Some context either side: a tenth of the window, at least
         * 50 ms before and 20 ms after. */
        uint64_t pad = (c->win_to - c->win_from) / 10;
        uint64_t before =
            pad > 50 * COMMON_NS_PER_MS ? pad : 50 * COMMON_NS_PER_MS;
        uint64_t after =
            pad > 20 * COMMON_NS_PER_MS ? pad : 20 * COMMON_NS_PER_MS;
        c->win_from = c->win_from > before ? c->win_from - before : 0;
        c->win_to += after;
    }
}

/* Operation @i (@o) of the window: [lane, process, call, end, outcome,
 * node, mark, what, key]. */
static void write_op(struct ctx *c,
                     size_t i,
                     const struct checker_op *o,
                     uint8_t mark,
                     bool comma)
{
    FILE *f = c->f;
    const struct report_input *in = c->in;
    char what[REPORT_WHAT_MAX];
    checker_op_describe(in->h, i, what, sizeof what);
    fprintf(f, "%s[%u,%lld,%.1f,%.1f,%d,%u,%u,", comma ? "," : "",
            lane_of(c, o->process), (long long)o->process,
            ms((uint64_t)o->call_time), ms(end_of(c, o)), outcome_of(o),
            in->op_node != NULL ? in->op_node[i] : 0u, mark);
    json_str(f, what);
    fprintf(f, ",");
    if (o->has_key) {
        checker_json_string_write(
            f, o->key.ptr,
            o->key.len > REPORT_KEY_MAX ? REPORT_KEY_MAX : o->key.len);
    } else {
        fprintf(f, "null");
    }
    fprintf(f, "]");
}

static void write_window(struct ctx *c)
{
    FILE *f = c->f;
    const struct report_input *in = c->in;
    if (!c->window) {
        fprintf(f, ",\"window\":null,\"ops\":[]");
        return;
    }
    fprintf(f,
            ",\"window\":{\"from\":%.1f,\"to\":%.1f,\"why\":", ms(c->win_from),
            ms(c->win_to));
    json_str(f, c->why);
    fprintf(f, "},\"ops\":[");
    /* The marked operations first, then the others while there is room. */
    size_t shown = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; in->h != NULL && i < c->n_ops; i++) {
            struct checker_op o;
            checker_history_op(in->h, i, &o);
            uint8_t mark = c->mark != NULL ? c->mark[i] : MARK_NONE;
            if ((mark != MARK_NONE) != (pass == 0) ||
                end_of(c, &o) < c->win_from ||
                (uint64_t)o.call_time > c->win_to) {
                continue;
            }
            if (shown == REPORT_MAX_OPS) {
                break;
            }
            write_op(c, i, &o, mark, shown++ > 0);
        }
    }
    fprintf(f, "]");
}

static void write_lin(struct ctx *c)
{
    FILE *f = c->f;
    const struct checker_result *r = c->in->cres;
    if (r == NULL || r->verdict != CHECKER_NOT_LINEARIZABLE) {
        fprintf(f, ",\"lin\":null");
        return;
    }
    fprintf(f, ",\"lin\":{\"key\":");
    if (r->has_key) {
        json_bytes(f, r->key, r->key_len);
    } else {
        fprintf(f, "null");
    }
    fprintf(f, ",\"prefix_len\":%zu,\"state\":", r->prefix_len);
    if (r->state_absent) {
        fprintf(f, "null");
    } else {
        json_bytes(f, r->state, r->state_len);
    }
    fprintf(f, ",\"unplaced\":[");
    for (size_t k = 0; k < r->unplaced_len && k < REPORT_MAX_UNPLACED; k++) {
        char what[REPORT_WHAT_MAX];
        checker_op_describe(c->in->h, r->unplaced[k], what, sizeof what);
        fprintf(f, "%s", k ? "," : "");
        json_str(f, what);
    }
    fprintf(f, "]}");
}

static void write_violation(struct ctx *c)
{
    FILE *f = c->f;
    const struct report_input *in = c->in;
    const char *text = NULL;
    for (unsigned k = 0; k < in->n_failures && text == NULL; k++) {
        if (strncmp(in->failures[k], "safety: ", 8) == 0) {
            text = in->failures[k] + 8;
        }
    }
    uint64_t at = 0;
    if (text == NULL) {
        fprintf(f, ",\"violation\":null");
        return;
    }
    fprintf(f, ",\"violation\":{\"text\":");
    json_str(f, text);
    if (in->tl != NULL && timeline_violation_at(in->tl, &at)) {
        fprintf(f, ",\"at\":%.1f}", ms(at));
    } else {
        fprintf(f, ",\"at\":null}");
    }
}

/* The lines of events.log ("%10.3f  text", seconds) inside the window. */
static void write_log(struct ctx *c)
{
    FILE *f = c->f;
    const char *p = c->in->log;
    const char *end = p != NULL ? p + c->in->log_len : NULL;
    fprintf(f, ",\"log\":[");
    size_t shown = 0;
    while (c->window && p != NULL && p < end && shown < REPORT_MAX_LOG) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        char stamp[32];
        size_t n = (size_t)(line_end - p);
        memcpy(stamp, p, n < sizeof stamp - 1 ? n : sizeof stamp - 1);
        stamp[n < sizeof stamp - 1 ? n : sizeof stamp - 1] = '\0';
        char *rest = NULL;
        double t = strtod(stamp, &rest);
        uint64_t t_ns = t > 0 ? (uint64_t)(t * 1e9) : 0;
        if (rest != stamp && t_ns + COMMON_NS_PER_MS >= c->win_from &&
            t_ns <= c->win_to) {
            const char *text = p + (rest - stamp);
            while (text < line_end && *text == ' ') {
                text++;
            }
            fprintf(f, "%s[%.1f,", shown ? "," : "", t * 1e3);
            json_bytes(f, text, (size_t)(line_end - text));
            fprintf(f, "]");
            shown++;
        }
        p = line_end + 1;
    }
    fprintf(f, "]}");
}

static int write_data(FILE *f, const struct report_input *in)
{
    struct ctx c = {.f = f, .in = in};
    c.run_ns = (uint64_t)(in->run_s * 1e9);
    if (in->tl != NULL && timeline_end(in->tl) > c.run_ns) {
        c.run_ns = timeline_end(in->tl);
    }
    c.bucket_ns = c.run_ns / REPORT_BUCKETS + 1;
    c.clients = in->s->clients.count > 0 ? in->s->clients.count : 1;
    c.lanes = c.clients < REPORT_MAX_LANES ? c.clients : REPORT_MAX_LANES;
    c.n_ops = in->h != NULL ? checker_history_len(in->h) : 0;
    if (c.n_ops > 0) {
        c.mark = calloc(c.n_ops, 1);
        if (c.mark == NULL) {
            return COMMON_ENOMEM;
        }
    }
    find_window(&c);
    write_meta(&c);
    write_timeline(&c);
    int rv = write_counts(&c);
    if (rv == 0) {
        write_latency(&c);
        write_window(&c);
        write_lin(&c);
        write_violation(&c);
        write_log(&c);
    }
    free(c.mark);
    return rv;
}

/* ------------------------------------------------------------------------ */
/* The page                                                                  */
/* ------------------------------------------------------------------------ */

int report_write(FILE *f, const struct report_input *in)
{
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
            "<meta charset=\"utf-8\">\n<title>");
    html_text(f, verdict_word(in->exit_code));
    fprintf(f, " ");
    html_text(f, in->s->name);
    fprintf(f, " - run report</title>\n<style>\n");
    fwrite(report_css, 1, report_css_len, f);
    /* Errors of the page's scripts, and console.error, land in #errors
     * (the browser test reads it): those before it exists when it does. */
    fprintf(f,
            "</style>\n<script>\n(function () {\n"
            "  var seen = [];\n"
            "  function note(text) {\n"
            "    seen.push(String(text));\n"
            "    var p = document.getElementById('errors');\n"
            "    if (p) { p.textContent = seen.join('\\n'); }\n"
            "  }\n"
            "  window.addEventListener('error', function (e) {\n"
            "    note(e.message);\n"
            "  });\n"
            "  var error = console.error;\n"
            "  console.error = function () {\n"
            "    note(Array.prototype.join.call(arguments, ' '));\n"
            "    error.apply(console, arguments);\n"
            "  };\n"
            "  document.addEventListener('DOMContentLoaded', function () {\n"
            "    if (seen.length) { note('(end of errors)'); }\n"
            "  });\n"
            "})();\n</script>\n</head>\n<body>\n");
    write_verdict(f, in);
    fprintf(f,
            "<section><h2>Cluster timeline</h2>\n"
            "<p class=\"legend\" id=\"timeline-legend\"></p>\n"
            "<div id=\"timeline\"></div></section>\n"
            "<section id=\"failing\"></section>\n"
            "<section><h2>History</h2>\n"
            "<p class=\"legend\" id=\"lanes-legend\"></p>\n"
            "<div id=\"lanes\"></div></section>\n"
            "<section><h2>Latency</h2>\n"
            "<div class=\"chart\"><canvas id=\"latency\"></canvas></div>"
            "</section>\n"
            "<section><h2>Throughput</h2>\n"
            "<div class=\"chart\"><canvas id=\"throughput\"></canvas></div>"
            "</section>\n"
            "<section id=\"events\"></section>\n"
            "<pre id=\"errors\"></pre>\n"
            "<script>\n");
    fwrite(report_chartjs, 1, report_chartjs_len, f);
    fprintf(f,
            "\n</script>\n<script type=\"application/json\" "
            "id=\"data\">\n");
    int rv = write_data(f, in);
    fprintf(f, "\n</script>\n<script>\n");
    fwrite(report_js, 1, report_js_len, f);
    fprintf(f, "\n</script>\n</body>\n</html>\n");
    if (rv == 0 && ferror(f)) {
        rv = COMMON_EIO;
    }
    return rv;
}

int report_save(const char *path, const struct report_input *in)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return COMMON_EIO;
    }
    int rv = report_write(f, in);
    if (fclose(f) != 0 && rv == 0) {
        rv = COMMON_EIO;
    }
    return rv;
}
