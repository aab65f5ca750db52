/*
 * cmd_metrics: the Prometheus text format of raftkv-server's /metrics
 * (cmd/metrics.c: escaping, numbers, histogram buckets, the page's
 * ceiling), the server's page and readiness rule (cmd/server_metrics.c),
 * and the disk timing layers (cmd/disk_timing.c) over a real write-ahead
 * log on the in-memory file system.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/metrics.h"
#include "server_metrics.h"

/* Renders one sample of @value with the label value @label. */
static void one_sample(struct cmd_prom *p, const char *label, double value)
{
    struct cmd_prom_label l = {"key", label};
    cmd_prom_value(p, "m", &l, 1, value);
}

/* Label values escape backslash, double quote and line feed, and nothing
 * else (UTF-8 passes through). */
static void label_values_are_escaped(void **state)
{
    (void)state;
    struct cmd_prom p;
    cmd_prom_init(&p, 4096);
    one_sample(&p, "a\\b\"c\nd\xc3\xa9", 1);
    assert_false(p.failed);
    assert_string_equal(p.buf, "m{key=\"a\\\\b\\\"c\\nd\xc3\xa9\"} 1\n");
    cmd_prom_fini(&p);
}

/* HELP escapes backslash and line feed; a double quote stays as it is. */
static void help_is_escaped(void **state)
{
    (void)state;
    struct cmd_prom p;
    cmd_prom_init(&p, 4096);
    cmd_prom_family(&p, "x_total", CMD_PROM_COUNTER, "a \"b\" c\\d\ne");
    assert_string_equal(p.buf,
                        "# HELP x_total a \"b\" c\\\\d\\ne\n"
                        "# TYPE x_total counter\n");
    cmd_prom_fini(&p);
}

/* Numbers come out in the shortest form that reads back exactly; the
 * special values as the format spells them; integers exactly. */
static void numbers_are_shortest_and_exact(void **state)
{
    (void)state;
    struct cmd_prom p;
    cmd_prom_init(&p, 4096);
    cmd_prom_value(&p, "a", NULL, 0, 0.1);
    cmd_prom_value(&p, "b", NULL, 0, 0.0001);
    cmd_prom_value(&p, "c", NULL, 0, 1.0 / 0.0);
    cmd_prom_value(&p, "d", NULL, 0, -1.0 / 0.0);
    cmd_prom_value(&p, "e", NULL, 0, 0.0 / 0.0);
    cmd_prom_uint(&p, "f", NULL, 0, UINT64_MAX);
    cmd_prom_value(&p, "g", NULL, 0, 1.0 / 3.0);
    assert_string_equal(p.buf,
                        "a 0.1\nb 0.0001\nc +Inf\nd -Inf\ne NaN\n"
                        "f 18446744073709551615\n"
                        "g 0.3333333333333333\n");
    cmd_prom_fini(&p);
}

/* Buckets are cumulative, an observation on a bound falls in that bound's
 * bucket (le: less or equal), +Inf equals the count, and the labels of
 * the series come before le. */
static void histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    struct cmd_histogram h;
    cmd_histogram_init_exponential(&h, 0.001, 2, 3); /* 0.001 .002 .004 */
    cmd_histogram_observe(&h, 0.0005);
    cmd_histogram_observe(&h, 0.001);
    cmd_histogram_observe(&h, 0.003);
    cmd_histogram_observe(&h, 100);
    struct cmd_prom p;
    cmd_prom_init(&p, 4096);
    struct cmd_prom_label l = {"to", "2"};
    cmd_prom_histogram(&p, "rtt_seconds", &l, 1, &h);
    assert_string_equal(p.buf,
                        "rtt_seconds_bucket{to=\"2\",le=\"0.001\"} 2\n"
                        "rtt_seconds_bucket{to=\"2\",le=\"0.002\"} 2\n"
                        "rtt_seconds_bucket{to=\"2\",le=\"0.004\"} 3\n"
                        "rtt_seconds_bucket{to=\"2\",le=\"+Inf\"} 4\n"
                        "rtt_seconds_sum{to=\"2\"} 100.0045\n"
                        "rtt_seconds_count{to=\"2\"} 4\n");
    cmd_prom_fini(&p);
}

/* A page that would pass its ceiling fails whole: no cut line. */
static void page_over_its_ceiling_fails(void **state)
{
    (void)state;
    struct cmd_prom p;
    cmd_prom_init(&p, 64);
    cmd_prom_family(&p, "short", CMD_PROM_GAUGE, "fits");
    assert_false(p.failed);
    for (int k = 0; k < 10; k++) {
        cmd_prom_uint(&p, "a_rather_long_metric_name", NULL, 0, 1);
    }
    assert_true(p.failed);
    cmd_prom_fini(&p);
}

/* The server's page names every family once, with HELP and TYPE before
 * its samples, and carries the values it was given. */
static void server_page_has_families_and_values(void **state)
{
    (void)state;
    static struct server_stats s;
    server_stats_init(&s, 3);
    s.leader = 3;
    s.role = RAFT_LEADER;
    s.term = 7;
    s.commit = 42;
    s.applied = 42;
    s.commit_at_start = 40;
    server_stats_reply(&s, CMD_PUT, SERVER_CODE_RETRY, 0);
    server_stats_reply(&s, CMD_GET, SERVER_GRPC_DEADLINE_EXCEEDED, 0);
    server_stats_peer_rtt(&s, 2, 300000); /* 0.3 ms */
    struct cmd_prom p;
    cmd_prom_init(&p, SERVER_METRICS_PAGE_MAX);
    server_metrics_render(&s, &p);
    assert_false(p.failed);
    const char *want[] = {
        "# TYPE raftkv_server_has_leader gauge\nraftkv_server_has_leader 1\n",
        "\nraftkv_server_term 7\n",
        "\nraftkv_server_proposals_committed_total 2\n",
        "\nraftkv_server_proposals_failed_total 1\n",
        "raftkv_server_requests_total{method=\"Put\",code=\"CODE_RETRY\"} 1\n",
        "raftkv_server_requests_total{method=\"Get\",code=\"DEADLINE_"
        "EXCEEDED\"} 1\n",
        "raftkv_network_peer_round_trip_time_seconds_bucket{to=\"2\","
        "le=\"0.0004\"} 1\n",
        "# TYPE raftkv_disk_wal_fsync_duration_seconds histogram\n",
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        if (strstr(p.buf, want[k]) == NULL) {
            fail_msg("missing from the page: %s", want[k]);
        }
    }
    /* Every TYPE line names a family not seen before. */
    const char *c = p.buf;
    int types = 0;
    while ((c = strstr(c, "# TYPE ")) != NULL) {
        c += 7;
        char name[128];
        size_t n = strcspn(c, " ");
        snprintf(name, sizeof name, "# TYPE %.*s ", (int)n, c);
        assert_ptr_equal(strstr(p.buf, name), c - 7);
        types++;
    }
    assert_true(types > 30);
    cmd_prom_fini(&p);
}

/* /readyz: not before the first publication, not without a leader, not
 * with committed entries unapplied, not when the node thread stopped
 * publishing; ready otherwise. */
static void readiness_rule(void **state)
{
    (void)state;
    static struct server_stats s;
    char why[256];
    server_stats_init(&s, 1);
    uint64_t now = 10 * SERVER_METRICS_STALE_NS;
    assert_false(server_metrics_ready(&s, now, why, sizeof why));
    assert_non_null(strstr(why, "not started"));
    s.published_ns = now;
    assert_false(server_metrics_ready(&s, now, why, sizeof why));
    assert_non_null(strstr(why, "no leader"));
    s.leader = 2;
    s.commit = 5;
    s.applied = 4;
    assert_false(server_metrics_ready(&s, now, why, sizeof why));
    assert_non_null(strstr(why, "applied 4 of 5"));
    s.applied = 5;
    assert_true(server_metrics_ready(&s, now, why, sizeof why));
    assert_true(server_metrics_ready(&s, now + SERVER_METRICS_STALE_NS, why,
                                     sizeof why));
    assert_false(server_metrics_ready(&s, now + SERVER_METRICS_STALE_NS + 1,
                                      why, sizeof why));
    assert_non_null(strstr(why, "has not reported"));
}

/* The timing layers over a real WAL: each batch's fsync lands in the WAL
 * histogram, a snapshot save in its own and none of its syncs in the
 * WAL's; what the WAL stores reads back through the layers. */
static void disk_timing_counts_fsyncs_and_snapshots(void **state)
{
    (void)state;
    struct cmd_histogram wal_h;
    struct cmd_histogram snap_h;
    cmd_histogram_init_exponential(&wal_h, 0.001, 2, 14);
    cmd_histogram_init_exponential(&snap_h, 0.001, 2, 14);
    struct storage_fs *mem = NULL;
    assert_int_equal(storage_fs_mem_new(1, &mem), 0);
    struct storage_fs *fs = NULL;
    assert_int_equal(disk_timing_fs_new(mem, &wal_h, &fs), 0);
    struct storage_wal_options o;
    storage_wal_options_default(&o);
    struct storage *wal = NULL;
    assert_int_equal(storage_wal_new(fs, &o, &wal), 0);
    struct storage *s = NULL;
    assert_int_equal(disk_timing_storage_new(wal, fs, &snap_h, &s), 0);
    struct storage_state st;
    assert_int_equal(storage_load(s, &st), 0);
    uint64_t loaded = wal_h.count;

    struct raft_hard_state hs = {.term = 1, .vote = 1, .commit = 0};
    struct raft_entry e[2] = {
        {1, 1, RAFT_ENTRY_COMMAND, {(void *)"a", 1}},
        {1, 2, RAFT_ENTRY_COMMAND, {(void *)"b", 1}},
    };
    struct storage_batch b = {&hs, 0, e, 2};
    assert_int_equal(storage_write(s, &b), 0);
    assert_true(wal_h.count > loaded);
    uint64_t written = wal_h.count;

    struct storage_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = 2;
    meta.term = 1;
    raft_id ids[1] = {1};
    assert_int_equal(raft_configuration_voters(&meta.conf, ids, 1), 0);
    /* A hard state that only moves the commit index is held for the next
     * batch (storage.h): no fsync to count. */
    hs.commit = 2;
    struct storage_batch commit = {&hs, 0, NULL, 0};
    assert_int_equal(storage_write(s, &commit), 0);
    assert_int_equal(wal_h.count, written);
    assert_int_equal(storage_save_snapshot(s, &meta, "state", 5), 0);
    assert_int_equal(snap_h.count, 1);
    assert_int_equal(wal_h.count, written);

    /* A refused snapshot (older than the one held) says why through the
     * layer and is not timed. */
    meta.index = 1;
    assert_int_not_equal(storage_save_snapshot(s, &meta, "x", 1), 0);
    assert_true(storage_error(s)[0] != '\0');
    assert_int_equal(snap_h.count, 1);
    storage_free(s);

    /* Everything reads back through a fresh WAL on the same disk. */
    struct storage *again = NULL;
    assert_int_equal(storage_wal_new(mem, &o, &again), 0);
    assert_int_equal(storage_load(again, &st), 0);
    assert_int_equal(st.snapshot_index, 2);
    assert_int_equal(st.hard_state.commit, 0); /* the held one never went */
    storage_free(again);
    storage_fs_free(fs); /* frees mem with it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(help_is_escaped),
        cmocka_unit_test(numbers_are_shortest_and_exact),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(page_over_its_ceiling_fails),
        cmocka_unit_test(server_page_has_families_and_values),
        cmocka_unit_test(readiness_rule),
        cmocka_unit_test(disk_timing_counts_fsyncs_and_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
