/*
 * harness_report: the run report's generator (harness/src/report.h) and
 * the timeline it draws from (harness/src/timeline.h).
 *
 * The report of a made-up failing run is parsed back: the verdict is in
 * the page as HTML, every hostile string (the scenario's name, keys and
 * values with markup, quotes and bytes that are not UTF-8, failure texts)
 * is escaped where it lands, the page has exactly its own four <script>
 * elements, and the data the page's script reads (a JSON object) holds
 * the timeline's segments, the failing window with its operations (each
 * with the node that answered it and its mark), the checker's failing key
 * and the events.log lines of the window. A report of 200,000 operations
 * stays within the bounds report.h promises, and the timeline stops at
 * TIMELINE_MAX_SEGS segments and says where.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/common.h"
#include "report.h"
#include "timeline.h"

#define MS COMMON_NS_PER_MS

/* The hostile strings. */
static const char NAME[] = "<b>\"x\"&'y'</b></script>";
static const char KEY[] = "</script><script>alert(1)</script>";
static const char VALUE[] = "<img src=x onerror=alert(2)>";
static const char BAD_UTF8[] = "k\xff\xfe";

static char *report_of(const struct report_input *in, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(report_write(f, in), 0);
    assert_int_equal(fclose(f), 0);
    *len = n;
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL;
         p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* The JSON object of the #data element. */
static json_t *data_of(const char *page)
{
    const char *open = strstr(page, "id=\"data\">");
    assert_non_null(open);
    open += strlen("id=\"data\">");
    const char *close = strstr(open, "</script>");
    assert_non_null(close);
    json_error_t err;
    json_t *j = json_loadb(open, (size_t)(close - open), 0, &err);
    if (j == NULL) {
        fail_msg("the data is not JSON: %s at %d", err.text, err.position);
    }
    return j;
}

static void add(struct checker_history *h,
                int64_t process,
                enum checker_type type,
                enum checker_f f,
                const char *key,
                const char *value,
                int64_t time_ms,
                uint64_t node)
{
    struct checker_event ev;
    memset(&ev, 0, sizeof ev);
    ev.process = process;
    ev.type = type;
    ev.f = f;
    ev.has_key = true;
    ev.key = (struct checker_str){key, strlen(key)};
    if (value != NULL) {
        ev.value_count = 1;
        ev.value[0] = (struct checker_str){value, strlen(value)};
    } else if (type == CHECKER_OK && f == CHECKER_GET) {
        ev.value_count = 1; /* read: absent */
    }
    ev.has_time = true;
    ev.time = time_ms * (int64_t)MS;
    ev.node = node;
    assert_int_equal(checker_history_add(h, &ev), 0);
}

static void scenario_init(struct scenario *s, const char *name)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->nodes = 3;
    s->seed = 42;
    s->duration_s = 1;
    s->clients.count = 2;
}

/* A sample: node 1 leads term @term, the others follow; node 3 is down
 * when @down; a partition cuts 3 off when @cut. */
static void sample(struct timeline *t,
                   uint64_t now,
                   raft_term term,
                   bool down,
                   bool cut,
                   bool violated)
{
    struct timeline_sample s;
    memset(&s, 0, sizeof s);
    for (unsigned id = 1; id <= 3; id++) {
        s.node[id].state = TIMELINE_UP;
        s.node[id].role = id == 1 ? RAFT_LEADER : RAFT_FOLLOWER;
        s.node[id].term = term;
    }
    if (down) {
        s.node[3].state = TIMELINE_DOWN;
    }
    if (cut) {
        s.net_kinds = TIMELINE_NET_PARTITION;
        s.cut[3] = (1u << 1) | (1u << 2);
        s.cut[1] = 1u << 3;
        s.cut[2] = 1u << 3;
        s.what = "partition <3> & co";
    }
    s.violated = violated;
    timeline_record(t, now, &s);
}

/* A failing run: a partition from 200 to 400 ms, node 3 down from 500 to
 * 600 ms, the monitor's violation at 700 ms; a history whose get of KEY
 * at 300 ms reads a value never written. */
static void hostile_report(void **state)
{
    (void)state;
    struct scenario s;
    scenario_init(&s, NAME);
    struct timeline *tl = timeline_new(3);
    assert_non_null(tl);
    for (uint64_t t = 0; t <= 1000 * MS; t += 2 * MS) {
        bool cut = t >= 200 * MS && t < 400 * MS;
        bool down = t >= 500 * MS && t < 600 * MS;
        sample(tl, t, t < 450 * MS ? 1 : 2, down, cut, t >= 700 * MS);
    }
    timeline_close(tl, 1000 * MS);

    struct checker_history *h = checker_history_new();
    assert_non_null(h);
    add(h, 0, CHECKER_INVOKE, CHECKER_PUT, KEY, VALUE, 100, 0);
    add(h, 0, CHECKER_OK, CHECKER_PUT, KEY, NULL, 110, 1);
    add(h, 1, CHECKER_INVOKE, CHECKER_GET, KEY, NULL, 300, 0);
    add(h, 1, CHECKER_OK, CHECKER_GET, KEY, "never written", 310, 2);
    add(h, 0, CHECKER_INVOKE, CHECKER_PUT, BAD_UTF8, "v", 320, 0);
    add(h, 0, CHECKER_OK, CHECKER_PUT, BAD_UTF8, NULL, 330, 1);
    struct checker_options o;
    checker_options_init(&o);
    o.threads = 1;
    struct checker_result *r = NULL;
    assert_int_equal(checker_check(h, &o, &r), 0);
    assert_int_equal(r->verdict, CHECKER_NOT_LINEARIZABLE);

    static const uint32_t nodes[3] = {1, 2, 1};
    const char *log =
        "     0.000  run: scenario x\n"
        "     0.305  node 2 says </script><b>hi</b>\n"
        "     0.900  far away\n";
    struct report_input in = {
        .s = &s,
        .sim = true,
        .reproduce = "harness <x>.yaml --seed 42",
        .exit_code = COMMON_EXIT_FAILED,
        .failures = {"safety: Election Safety: nodes 1 and 2 both lead term 2",
                     "linearizability: the history is not linearizable",
                     "min_ok: 3 ops <succeeded>"},
        .n_failures = 3,
        .h = h,
        .cres = r,
        .op_node = nodes,
        .tl = tl,
        .log = log,
        .log_len = strlen(log),
        .run_s = 1.0,
    };
    size_t len = 0;
    char *page = report_of(&in, &len);
    assert_int_equal(strlen(page), len);

    /* The verdict, as HTML, the hostile strings escaped. */
    assert_non_null(strstr(page,
                           "<span id=\"verdict-word\">FAIL</span> "
                           "&lt;b&gt;&quot;x&quot;&amp;&#39;y&#39;"
                           "&lt;/b&gt;&lt;/script&gt;</h1>"));
    assert_non_null(strstr(page, "class=\"verdict fail\""));
    assert_non_null(strstr(page,
                           "<li><b>safety invariant</b>: Election "
                           "Safety: nodes 1 and 2 both lead term 2"));
    assert_non_null(strstr(page, "<li><b>linearizability</b>: the history"));
    assert_non_null(strstr(page,
                           "<li><b>expectation</b>: min_ok: 3 ops "
                           "&lt;succeeded&gt;</li>"));
    assert_non_null(strstr(page,
                           "<code id=\"reproduce\">harness "
                           "&lt;x&gt;.yaml --seed 42</code>"));
    /* Only the page's own four script elements, whatever the strings. */
    assert_int_equal(count(page, "<script"), 4);
    assert_int_equal(count(page, "</script>"), 4);
    assert_null(strstr(page, "<b>\"x\""));
    assert_null(strstr(page, "<img"));
    /* Chart.js is embedded, its license header with it. */
    assert_non_null(strstr(page, "Chart.js v"));
    assert_non_null(strstr(page, "Released under the MIT License"));

    json_t *d = data_of(page);
    assert_string_equal(json_string_value(json_object_get(d, "scenario")),
                        NAME);
    assert_string_equal(json_string_value(json_object_get(d, "verdict")),
                        "FAIL");
    assert_string_equal(json_string_value(json_object_get(d, "mode")), "sim");
    assert_int_equal(json_integer_value(json_object_get(d, "seed")), 42);
    json_t *fl = json_object_get(d, "failures");
    assert_int_equal(json_array_size(fl), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(fl, 0), "kind")),
        "safety invariant");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(fl, 2), "kind")),
        "expectation");

    /* One row per node; node 3: up t1, up t2, down, up t2. */
    json_t *roles = json_object_get(d, "roles");
    assert_int_equal(json_array_size(roles), 3);
    json_t *n3 = json_array_get(roles, 2);
    assert_int_equal(json_array_size(n3), 4);
    json_t *seg = json_array_get(n3, 2);
    assert_true(json_real_value(json_array_get(seg, 0)) == 500.0);
    assert_true(json_real_value(json_array_get(seg, 1)) == 600.0);
    assert_int_equal(json_integer_value(json_array_get(seg, 2)), TIMELINE_DOWN);
    json_t *n1 = json_array_get(roles, 0);
    assert_int_equal(json_array_size(n1), 2);
    assert_int_equal(
        json_integer_value(json_array_get(json_array_get(n1, 1), 3)),
        RAFT_LEADER);
    assert_int_equal(
        json_integer_value(json_array_get(json_array_get(n1, 1), 4)), 2);
    /* The partition band, with the nemesis's words. */
    json_t *net = json_object_get(d, "net");
    assert_int_equal(json_array_size(net), 1);
    json_t *band = json_array_get(net, 0);
    assert_true(json_real_value(json_array_get(band, 0)) == 200.0);
    assert_true(json_real_value(json_array_get(band, 1)) == 400.0);
    assert_int_equal(json_integer_value(json_array_get(band, 2)),
                     TIMELINE_NET_PARTITION);
    assert_string_equal(json_string_value(json_array_get(band, 3)),
                        "partition <3> & co");

    /* The failing window holds the get that could not be placed, marked,
     * with the node that answered it and the key as it was. */
    json_t *win = json_object_get(d, "window");
    assert_true(json_is_object(win));
    double from = json_real_value(json_object_get(win, "from"));
    double to = json_real_value(json_object_get(win, "to"));
    assert_true(from <= 300.0 && to >= 310.0);
    json_t *ops = json_object_get(d, "ops");
    bool found = false;
    size_t k;
    json_t *op;
    json_array_foreach(ops, k, op)
    {
        if (json_integer_value(json_array_get(op, 6)) == 2) {
            found = true;
            assert_int_equal(json_integer_value(json_array_get(op, 1)), 1);
            assert_int_equal(json_integer_value(json_array_get(op, 5)), 2);
            assert_string_equal(json_string_value(json_array_get(op, 8)), KEY);
        }
        if (json_integer_value(json_array_get(op, 5)) == 1 &&
            strncmp(json_string_value(json_array_get(op, 8)), "k", 1) == 0) {
            /* Bytes that are not UTF-8 arrive as U+FFFD. */
            assert_string_equal(json_string_value(json_array_get(op, 8)),
                                "k\xef\xbf\xbd\xef\xbf\xbd");
        }
    }
    assert_true(found);
    json_t *lin = json_object_get(d, "lin");
    assert_string_equal(json_string_value(json_object_get(lin, "key")), KEY);
    assert_int_equal(json_array_size(json_object_get(lin, "unplaced")), 1);
    /* The violation, when the monitor found it. */
    json_t *v = json_object_get(d, "violation");
    assert_string_equal(json_string_value(json_object_get(v, "text")),
                        "Election Safety: nodes 1 and 2 both lead term 2");
    assert_true(json_real_value(json_object_get(v, "at")) == 700.0);
    /* events.log: the line inside the window only. */
    json_t *lines = json_object_get(d, "log");
    assert_int_equal(json_array_size(lines), 1);
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(lines, 0), 1)),
        "node 2 says </script><b>hi</b>");
    json_decref(d);
    free(page);
    checker_result_free(r);
    checker_history_free(h);
    timeline_free(tl);
}

/* A passing run: PASS, no window, no failures. */
static void passing_report(void **state)
{
    (void)state;
    struct scenario s;
    scenario_init(&s, "calm");
    struct checker_history *h = checker_history_new();
    add(h, 0, CHECKER_INVOKE, CHECKER_PUT, "a", "1", 10, 0);
    add(h, 0, CHECKER_OK, CHECKER_PUT, "a", NULL, 20, 3);
    struct checker_result *r = NULL;
    assert_int_equal(checker_check(h, NULL, &r), 0);
    struct report_input in = {
        .s = &s, .exit_code = COMMON_EXIT_OK, .h = h, .cres = r, .run_s = 0.5};
    size_t len = 0;
    char *page = report_of(&in, &len);
    assert_non_null(strstr(page, "<span id=\"verdict-word\">PASS</span> calm"));
    assert_non_null(strstr(page, "class=\"verdict pass\""));
    json_t *d = data_of(page);
    assert_true(json_is_null(json_object_get(d, "window")));
    assert_true(json_is_null(json_object_get(d, "violation")));
    assert_int_equal(json_array_size(json_object_get(d, "failures")), 0);
    assert_int_equal(json_array_size(json_object_get(d, "roles")), 3);
    json_decref(d);
    free(page);
    checker_result_free(r);
    checker_history_free(h);
}

static void failure_kinds(void **state)
{
    (void)state;
    assert_string_equal(report_failure_kind("safety: x"), "safety invariant");
    assert_string_equal(report_failure_kind("linearizability: x"),
                        "linearizability");
    assert_string_equal(report_failure_kind("checker: x"), "linearizability");
    assert_string_equal(report_failure_kind("no_leader: x"), "expectation");
}

/* Many operations, many clients, a failing window of many operations:
 * the report stays within its bounds. */
static void bounded_report(void **state)
{
    (void)state;
    struct scenario s;
    scenario_init(&s, "big");
    s.clients.count = 200;
    struct checker_gen_options g;
    checker_gen_options_init(&g);
    g.seed = 7;
    g.ops = 200000;
    g.keys = 50;
    g.processes = 200;
    g.with_time = true;
    g.fail_rate = 0.05;
    g.info_rate = 0.05;
    struct checker_gen *gen = NULL;
    assert_int_equal(checker_generate(&g, &gen), 0);
    struct checker_history *h = checker_history_new();
    int64_t last = 0;
    for (size_t k = 0; k < gen->events_len; k++) {
        gen->events[k].time *= 100000; /* the generator's units: 0.1 ms */
        assert_int_equal(checker_history_add(h, &gen->events[k]), 0);
        if (gen->events[k].time > last) {
            last = gen->events[k].time;
        }
    }
    size_t n_ops = checker_history_len(h);
    uint32_t *nodes = calloc(n_ops, sizeof *nodes);
    assert_non_null(nodes);
    struct timeline *tl = timeline_new(3);
    /* A violation at the start: its window holds some 2,000 ops. */
    sample(tl, 0, 1, false, false, true);
    timeline_close(tl, (uint64_t)last);
    struct report_input in = {.s = &s,
                              .exit_code = COMMON_EXIT_FAILED,
                              .failures = {"safety: x"},
                              .n_failures = 1,
                              .h = h,
                              .op_node = nodes,
                              .tl = tl,
                              .run_s = (double)last / 1e9};
    size_t len = 0;
    char *page = report_of(&in, &len);
    json_t *d = data_of(page);
    json_t *lat = json_object_get(d, "lat");
    size_t points = 0;
    const char *key;
    json_t *arr;
    json_object_foreach(lat, key, arr)
    {
        points += json_array_size(arr) / 2;
    }
    assert_true(points > REPORT_MAX_POINTS / 2);
    assert_true(points <= REPORT_MAX_POINTS);
    /* The rare outcomes are not crowded out by the ok ones: of the
     * completed fail and info ops, one in ceil(all / REPORT_MAX_RARE). */
    size_t all_rare = 0;
    for (size_t i = 0; i < n_ops; i++) {
        struct checker_op o;
        checker_history_op(h, i, &o);
        all_rare += o.completed && (o.outcome == CHECKER_INFO ||
                                    (o.outcome == CHECKER_FAIL && !o.mismatch));
    }
    size_t every = (all_rare + REPORT_MAX_RARE - 1) / REPORT_MAX_RARE;
    assert_true(every >= 2);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(d, "lat_every"), "fail")),
                     every);
    size_t rare = (json_array_size(json_object_get(lat, "fail")) +
                   json_array_size(json_object_get(lat, "info"))) /
                  2;
    assert_true(rare >= all_rare / every && rare <= REPORT_MAX_RARE);
    assert_int_equal(json_array_size(json_object_get(d, "lanes")),
                     REPORT_MAX_LANES);
    assert_int_equal(json_array_size(json_object_get(d, "ops")),
                     REPORT_MAX_OPS);
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(d, "thr"), "ok")),
        REPORT_BUCKETS);
    /* 200,000 operations, under 1.5 MB of page (Chart.js included). */
    assert_true(len < 1500 * 1000);
    json_decref(d);
    free(page);
    free(nodes);
    timeline_free(tl);
    checker_history_free(h);
    checker_gen_free(gen);
}

/* Everything at its bound and every string at its worst escaping (control
 * bytes, six bytes of JSON each): still under 5 MB. */
static void worst_case_report(void **state)
{
    (void)state;
    struct scenario s;
    scenario_init(&s, "");
    memset(s.name, '<', sizeof s.name - 1);
    s.nodes = SCENARIO_MAX_NODES;
    s.clients.count = 1024;
    static char junk[4000];
    memset(junk, 1, sizeof junk - 1);
    struct checker_history *h = checker_history_new();
    for (int64_t p = 0; p < 3000; p++) {
        int64_t t = p % 50;
        add(h, p, CHECKER_INVOKE, CHECKER_PUT, junk, junk, t, 0);
        add(h, p, CHECKER_OK, CHECKER_PUT, junk, NULL, t + 1, 1);
    }
    struct timeline *tl = timeline_new(SCENARIO_MAX_NODES);
    for (unsigned k = 0; k < 3 * TIMELINE_MAX_SEGS; k++) {
        struct timeline_sample ts;
        memset(&ts, 0, sizeof ts);
        for (unsigned id = 1; id <= SCENARIO_MAX_NODES; id++) {
            ts.node[id].state = TIMELINE_UP;
            ts.node[id].role = RAFT_CANDIDATE;
            ts.node[id].term = UINT32_MAX - k;
        }
        ts.net_kinds = 7;
        ts.cut[1] = (uint16_t)k;
        ts.what = junk;
        ts.violated = k * 20 >= 50000;
        timeline_record(tl, (uint64_t)k * 20 * 1000, &ts);
    }
    timeline_close(tl, 60 * MS);
    struct common_vec log;
    common_vec_init(&log);
    for (int k = 0; k < 2000; k++) {
        assert_int_equal(common_vec_appendf(&log, "%10.3f  %s\n", 0.05, junk),
                         0);
    }
    struct report_input in = {.s = &s,
                              .exit_code = COMMON_EXIT_FAILED,
                              .h = h,
                              .tl = tl,
                              .log = (char *)log.data,
                              .log_len = log.len,
                              .run_s = 0.06,
                              .reproduce = junk};
    for (unsigned k = 0; k < REPORT_MAX_FAILURES; k++) {
        in.failures[k] = junk + sizeof junk - 320;
    }
    in.n_failures = REPORT_MAX_FAILURES;
    size_t len = 0;
    char *page = report_of(&in, &len);
    json_t *d = data_of(page);
    assert_int_equal(json_array_size(json_object_get(d, "ops")),
                     REPORT_MAX_OPS);
    assert_int_equal(json_array_size(json_object_get(d, "log")),
                     REPORT_MAX_LOG);
    assert_int_equal(
        json_array_size(json_array_get(json_object_get(d, "roles"), 0)),
        TIMELINE_MAX_SEGS);
    assert_int_equal(json_array_size(json_object_get(d, "lanes")),
                     REPORT_MAX_LANES);
    print_message("the worst case: %zu bytes\n", len);
    assert_true(len < 5 * 1000 * 1000);
    json_decref(d);
    free(page);
    common_vec_fini(&log);
    timeline_free(tl);
    checker_history_free(h);
}

/* The timeline keeps TIMELINE_MAX_SEGS segments, then says from when it
 * holds no more. */
static void bounded_timeline(void **state)
{
    (void)state;
    struct timeline *tl = timeline_new(3);
    assert_non_null(tl);
    uint64_t t = 0;
    for (raft_term term = 1; term <= 3 * TIMELINE_MAX_SEGS; term++) {
        sample(tl, t, term, false, term % 2 == 0, false);
        t += MS;
    }
    timeline_close(tl, t);
    size_t n = 0;
    const struct timeline_node_seg *g = timeline_node(tl, 1, &n);
    assert_int_equal(n, TIMELINE_MAX_SEGS);
    assert_int_equal(g[0].term, 1);
    assert_int_equal(g[n - 1].term, TIMELINE_MAX_SEGS);
    timeline_net(tl, &n);
    assert_int_equal(n, TIMELINE_MAX_SEGS);
    uint64_t cut = 0;
    assert_true(timeline_cut_at(tl, &cut));
    assert_int_equal(cut, TIMELINE_MAX_SEGS * MS);
    uint64_t at = 0;
    assert_false(timeline_violation_at(tl, &at));
    /* Samples that go back in time are ignored. */
    timeline_record(tl, 0, &(struct timeline_sample){0});
    assert_int_equal(timeline_end(tl), t);
    timeline_free(tl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hostile_report),    cmocka_unit_test(passing_report),
        cmocka_unit_test(failure_kinds),     cmocka_unit_test(bounded_report),
        cmocka_unit_test(worst_case_report), cmocka_unit_test(bounded_timeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
