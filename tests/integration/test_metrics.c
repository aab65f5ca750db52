/*
 * metrics_*: raftkv-server's --metrics-addr endpoint as its users see it,
 * on three real servers (--insecure: the endpoint is the subject here,
 * not TLS) on loopback ports. One program, three CTest tests picked by
 * the first argument (a cmocka test filter):
 *   - metrics_endpoint (endpoint_*): promtool check metrics passes on
 *     a live scrape of each node with no lint problem, every node says
 *     has_leader 1, /healthz and /readyz answer 200, other paths 404,
 *     other methods 405, HEAD has no body; a node cut off from its
 *     peers turns not ready (503); a busy or bad --metrics-addr stops a
 *     server at start (exit 3, exit 2).
 *   - metrics_prometheus: a real Prometheus server scrapes the three
 *     nodes every second; its query API reports raftkv_server_has_leader
 *     1 for all three.
 *   - metrics_dashboard: every query of every panel of the Grafana
 *     dashboard (docker/grafana/dashboards/raftkv.json) names only
 *     metrics a live server exports, and a planted unknown name is
 *     caught; docker/compose.yaml publishes every port on 127.0.0.1
 *     only, and its nodes, Prometheus and Grafana agree on addresses.
 * Every wait is a bounded number of polls, not a time budget.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <jansson.h>

#include "procs.h"
#include "servers.h"

#define NODES    3
#define BODY_MAX (2u << 20)
/* Polls (each a request and a pause of POLL_MS). */
#define POLL_MS          250
#define READY_POLLS      120
#define PROMETHEUS_POLLS 240

struct cluster
{
    char dir[512];
    char spec[512];
    char endpoints[512];
    unsigned metrics_ports[NODES];
    struct servers sv;
};

static struct cluster cl;

/* ------------------------------------------------------------------------ */
/* A small HTTP/1.0 client                                                   */
/* ------------------------------------------------------------------------ */

struct http_reply
{
    int status; /* 0: no answer */
    char *head; /* status line and headers */
    char *body; /* NUL-terminated */
    size_t body_len;
};

static void http_reply_free(struct http_reply *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* @method @path on 127.0.0.1:@port; the whole answer (the server closes
 * the connection after it: HTTP/1.0). */
static struct http_reply http(unsigned port,
                              const char *method,
                              const char *path)
{
    struct http_reply r = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return r;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return r;
    }
    char *buf = malloc(BODY_MAX + 1);
    assert_non_null(buf);
    size_t len = 0;
    for (;;) {
        ssize_t got = recv(fd, buf + len, BODY_MAX - len, 0);
        if (got <= 0) {
            break;
        }
        len += (size_t)got;
        assert_true(len < BODY_MAX);
    }
    close(fd);
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (end == NULL || sscanf(buf, "HTTP/1.%*d %d", &r.status) != 1) {
        free(buf);
        r.status = 0;
        return r;
    }
    r.head = strndup(buf, (size_t)(end - buf));
    r.body_len = len - (size_t)(end + 4 - buf);
    r.body = malloc(r.body_len + 1);
    assert_non_null(r.body);
    memcpy(r.body, end + 4, r.body_len);
    r.body[r.body_len] = '\0';
    free(buf);
    return r;
}

/* The status of @path on node @k's metrics port. */
static int status_of(int k, const char *method, const char *path)
{
    struct http_reply r = http(cl.metrics_ports[k], method, path);
    int status = r.status;
    http_reply_free(&r);
    return status;
}

/* Polls @path of node @k until it answers @want, at most @polls times. */
static bool poll_status(int k, const char *path, int want, int polls)
{
    for (int i = 0; i < polls; i++) {
        if (status_of(k, "GET", path) == want) {
            return true;
        }
        procs_sleep_ms(POLL_MS);
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* The cluster                                                               */
/* ------------------------------------------------------------------------ */

static void node_start(int k)
{
    char id[16];
    char data[600];
    char log[600];
    char metrics[64];
    snprintf(id, sizeof id, "%d", k + 1);
    snprintf(data, sizeof data, "%s/node%d", cl.dir, k + 1);
    snprintf(log, sizeof log, "%s/node%d.log", cl.dir, k + 1);
    snprintf(metrics, sizeof metrics, "127.0.0.1:%u", cl.metrics_ports[k]);
    char *argv[] = {SERVER_BIN,       "--id",       id,   "--cluster",
                    cl.spec,          "--data-dir", data, "--insecure",
                    "--metrics-addr", metrics,      NULL};
    cl.sv.pids[k] = procs_spawn(argv, log);
    assert_true(cl.sv.pids[k] > 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&cl, 0, sizeof cl);
    procs_tempdir("metrics", cl.dir, sizeof cl.dir);
    assert_true(cl.dir[0] != '\0');
    assert_true(servers_init(&cl.sv, NODES, cl.spec, sizeof cl.spec,
                             cl.endpoints, sizeof cl.endpoints));
    for (int k = 0; k < NODES; k++) {
        cl.metrics_ports[k] = procs_free_port();
        assert_true(cl.metrics_ports[k] != 0);
    }
    for (int k = 0; k < NODES; k++) {
        node_start(k);
    }
    assert_true(servers_leader(&cl.sv, 20000, NULL) >= 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    servers_kill(&cl.sv);
    procs_rmtree(cl.dir);
    return 0;
}

/* A scrape of node @k's /metrics (the body; free() it). */
static char *scrape(int k)
{
    struct http_reply r = http(cl.metrics_ports[k], "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/plain; version=0.0.4"));
    char *body = r.body;
    r.body = NULL;
    http_reply_free(&r);
    return body;
}

/* Writes @text to @path. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* ------------------------------------------------------------------------ */
/* metrics_endpoint                                                          */
/* ------------------------------------------------------------------------ */

/* promtool's linter takes every node's live page without a complaint. */
static void endpoint_promtool_accepts_live_scrapes(void **state)
{
    (void)state;
    for (int k = 0; k < NODES; k++) {
        /* Every node learns the leader within a bounded number of polls,
         * then its page says so. */
        assert_true(poll_status(k, "/readyz", 200, READY_POLLS));
        char *page = scrape(k);
        assert_non_null(strstr(page, "\nraftkv_server_has_leader 1\n"));
        assert_non_null(strstr(page,
                               "# TYPE raftkv_disk_wal_fsync_duration_"
                               "seconds histogram\n"));
        char path[700];
        snprintf(path, sizeof path, "%s/scrape-%d.txt", cl.dir, k + 1);
        write_file(path, page);
        free(page);
        char cmd[1600];
        snprintf(cmd, sizeof cmd, "exec %s check metrics < %s", PROMTOOL_BIN,
                 path);
        char out[8192];
        char err[8192];
        char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        int rc = procs_run(argv, out, sizeof out, err, sizeof err);
        if (rc != 0 || out[0] != '\0' || err[0] != '\0') {
            fail_msg("promtool check metrics on node %d: exit %d\n%s%s", k + 1,
                     rc, out, err);
        }
    }
}

/* The health paths answer, everything else is refused with the right
 * status, and HEAD carries headers only. */
static void endpoint_paths_and_methods(void **state)
{
    (void)state;
    assert_int_equal(status_of(0, "GET", "/healthz"), 200);
    assert_true(poll_status(0, "/readyz", 200, READY_POLLS));
    assert_int_equal(status_of(0, "GET", "/"), 404);
    assert_int_equal(status_of(0, "GET", "/metrics/x"), 404);
    assert_int_equal(status_of(0, "GET", "/../etc/passwd"), 404);
    assert_int_equal(status_of(0, "POST", "/metrics"), 405);
    assert_int_equal(status_of(0, "DELETE", "/healthz"), 405);
    struct http_reply r = http(cl.metrics_ports[0], "PUT", "/readyz");
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: GET, HEAD"));
    http_reply_free(&r);
    r = http(cl.metrics_ports[0], "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    http_reply_free(&r);
    /* Not HTTP at all: the connection is closed, the server lives on. */
    r = http(cl.metrics_ports[0], "\x01\x02", "nothing");
    http_reply_free(&r);
    assert_int_equal(status_of(0, "GET", "/healthz"), 200);
}

/* A node whose peers are gone loses its leader and says not ready, while
 * /healthz still says the process is up. */
static void endpoint_isolated_node_is_not_ready(void **state)
{
    (void)state;
    for (int k = 1; k < NODES; k++) {
        assert_true(procs_stop(cl.sv.pids[k], SIGKILL, 5000) >= 0);
        cl.sv.pids[k] = 0;
    }
    assert_true(poll_status(0, "/readyz", 503, READY_POLLS));
    assert_int_equal(status_of(0, "GET", "/healthz"), 200);
    char *page = scrape(0);
    assert_non_null(strstr(page, "\nraftkv_server_has_leader 0\n"));
    free(page);
    /* Back: ready again once a leader is elected. */
    for (int k = 1; k < NODES; k++) {
        node_start(k);
    }
    assert_true(poll_status(0, "/readyz", 200, READY_POLLS));
}

/* A metrics address already in use stops a server at start with exit 3,
 * one that is not HOST:PORT or does not resolve with exit 2; each says
 * why, naming the address. */
static void endpoint_bad_addresses_refused(void **state)
{
    (void)state;
    char data[600];
    snprintf(data, sizeof data, "%s/refused", cl.dir);
    char busy[64];
    snprintf(busy, sizeof busy, "127.0.0.1:%u", cl.metrics_ports[0]);
    const struct
    {
        const char *addr;
        int exit_code;
        const char *says;
    } cases[] = {
        {busy, 3, "Address already in use"},
        {"nonsense", 2, "is not HOST:PORT"},
        {"no-such-host.invalid:9100", 2, "cannot resolve"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *argv[] = {SERVER_BIN,
                        "--id",
                        "1",
                        "--cluster",
                        cl.spec,
                        "--data-dir",
                        data,
                        "--insecure",
                        "--metrics-addr",
                        (char *)cases[k].addr,
                        NULL};
        char err[4096];
        int rc = procs_run(argv, NULL, 0, err, sizeof err);
        if (rc != cases[k].exit_code || strstr(err, cases[k].says) == NULL) {
            fail_msg("--metrics-addr %s: exit %d (want %d), said: %s",
                     cases[k].addr, rc, cases[k].exit_code, err);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* metrics_prometheus                                                        */
/* ------------------------------------------------------------------------ */

/* How many of the query's series say 1 (-1: not an answer). */
static int series_at_one(const char *body)
{
    json_error_t jerr;
    json_t *root = json_loads(body, 0, &jerr);
    if (root == NULL) {
        return -1;
    }
    int ones = 0;
    json_t *result = json_object_get(json_object_get(root, "data"), "result");
    size_t i;
    json_t *series;
    json_array_foreach(result, i, series)
    {
        json_t *value = json_array_get(json_object_get(series, "value"), 1);
        if (json_is_string(value) &&
            strcmp(json_string_value(value), "1") == 0) {
            ones++;
        }
    }
    json_decref(root);
    return ones;
}

/* Prometheus scrapes the three nodes and reports a leader known by all. */
static void prometheus_scrapes_three_nodes(void **state)
{
    (void)state;
    char config[700];
    char tsdb[700];
    char log[700];
    snprintf(config, sizeof config, "%s/prometheus.yml", cl.dir);
    snprintf(tsdb, sizeof tsdb, "%s/tsdb", cl.dir);
    snprintf(log, sizeof log, "%s/prometheus.log", cl.dir);
    char yml[1024];
    snprintf(yml, sizeof yml,
             "global:\n"
             "  scrape_interval: 1s\n"
             "  scrape_timeout: 1s\n"
             "scrape_configs:\n"
             "  - job_name: raftkv\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:%u', '127.0.0.1:%u', "
             "'127.0.0.1:%u']\n",
             cl.metrics_ports[0], cl.metrics_ports[1], cl.metrics_ports[2]);
    write_file(config, yml);
    unsigned port = procs_free_port();
    char config_flag[800];
    char tsdb_flag[800];
    char listen_flag[64];
    snprintf(config_flag, sizeof config_flag, "--config.file=%s", config);
    snprintf(tsdb_flag, sizeof tsdb_flag, "--storage.tsdb.path=%s", tsdb);
    snprintf(listen_flag, sizeof listen_flag,
             "--web.listen-address=127.0.0.1:%u", port);
    char *argv[] = {PROMETHEUS_BIN, config_flag, tsdb_flag, listen_flag, NULL};
    pid_t pid = procs_spawn(argv, log);
    assert_true(pid > 0);
    int ones = -1;
    int polls = 0;
    for (; polls < PROMETHEUS_POLLS && ones != NODES; polls++) {
        procs_sleep_ms(POLL_MS);
        struct http_reply r =
            http(port, "GET", "/api/v1/query?query=raftkv_server_has_leader");
        ones = r.status == 200 ? series_at_one(r.body) : -1;
        http_reply_free(&r);
    }
    int rc = procs_stop(pid, SIGTERM, 10000);
    if (ones != NODES) {
        fail_msg(
            "after %d polls Prometheus reports has_leader 1 for %d of "
            "%d nodes (its log: %s)",
            polls, ones, NODES, log);
    }
    printf(
        "Prometheus reported has_leader 1 for all %d nodes after %d "
        "polls\n",
        NODES, polls);
    assert_int_equal(rc, 0);
}

/* ------------------------------------------------------------------------ */
/* metrics_dashboard                                                         */
/* ------------------------------------------------------------------------ */

/* The names of the samples on a page, as one string " a b c ". */
static char *sample_names(const char *page)
{
    size_t cap = strlen(page) + 2;
    char *names = calloc(1, cap);
    assert_non_null(names);
    names[0] = ' ';
    for (const char *line = page; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (len > 0 && line[0] != '#') {
            size_t n = strcspn(line, "{ ");
            char name[256];
            snprintf(name, sizeof name, " %.*s ", (int)n, line);
            if (strstr(names, name) == NULL) {
                strcat(names, name + 1);
            }
        }
        line += len + (eol != NULL);
    }
    return names;
}

/* Checks every raftkv_* identifier of @expr against @names; the first
 * unknown one goes into @bad. */
static bool expr_known(const char *expr,
                       const char *names,
                       char *bad,
                       size_t bad_len)
{
    int found = 0;
    for (const char *c = expr; (c = strstr(c, "raftkv_")) != NULL;) {
        bool starts =
            c == expr ||
            !(c[-1] == '_' || (c[-1] >= 'a' && c[-1] <= 'z') ||
              (c[-1] >= 'A' && c[-1] <= 'Z') || (c[-1] >= '0' && c[-1] <= '9'));
        size_t n = strspn(c,
                          "abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
        if (starts) {
            char name[256];
            snprintf(name, sizeof name, " %.*s ", (int)n, c);
            if (strstr(names, name) == NULL) {
                snprintf(bad, bad_len, "%.*s", (int)n, c);
                return false;
            }
            found++;
        }
        c += n;
    }
    if (found == 0) {
        snprintf(bad, bad_len, "(no raftkv metric in \"%s\")", expr);
        return false;
    }
    return true;
}

/* Every panel (rows' nested ones included) has queries, and each names
 * only known metrics; the count of queries in @n_exprs. False with the
 * panel's title and the name in @why. */
static bool panels_known(json_t *panels,
                         const char *names,
                         int *n_exprs,
                         char *why,
                         size_t why_len)
{
    size_t i;
    json_t *panel;
    json_array_foreach(panels, i, panel)
    {
        const char *title = json_string_value(json_object_get(panel, "title"));
        const char *type = json_string_value(json_object_get(panel, "type"));
        if (type != NULL && strcmp(type, "row") == 0) {
            json_t *inner = json_object_get(panel, "panels");
            if (inner != NULL &&
                !panels_known(inner, names, n_exprs, why, why_len)) {
                return false;
            }
            continue;
        }
        json_t *targets = json_object_get(panel, "targets");
        if (json_array_size(targets) == 0) {
            snprintf(why, why_len, "panel \"%s\" has no query",
                     title != NULL ? title : "?");
            return false;
        }
        size_t j;
        json_t *target;
        json_array_foreach(targets, j, target)
        {
            const char *expr =
                json_string_value(json_object_get(target, "expr"));
            char bad[300];
            if (expr == NULL || !expr_known(expr, names, bad, sizeof bad)) {
                snprintf(why, why_len, "panel \"%s\": %s",
                         title != NULL ? title : "?",
                         expr == NULL ? "a target without expr" : bad);
                return false;
            }
            (*n_exprs)++;
        }
    }
    return true;
}

/* Each query of @panels (rows' nested ones included) as a recording rule
 * for promtool, numbered from *@n. */
static void write_rules(FILE *f, json_t *panels, int *n)
{
    size_t i;
    json_t *panel;
    json_array_foreach(panels, i, panel)
    {
        write_rules(f, json_object_get(panel, "panels"), n);
        size_t j;
        json_t *target;
        json_array_foreach(json_object_get(panel, "targets"), j, target)
        {
            const char *expr =
                json_string_value(json_object_get(target, "expr"));
            fprintf(f, "      - record: dashboard:query_%d\n        expr: \"",
                    ++*n);
            for (const char *c = expr != NULL ? expr : ""; *c != '\0'; c++) {
                fprintf(f, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
            }
            fprintf(f, "\"\n");
        }
    }
}

/* promtool check rules on the queries of @panels: 0 when PromQL parses
 * every one. */
static int promtool_check_queries(json_t *panels, const char *tag)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s-rules.yml", cl.dir, tag);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "groups:\n  - name: dashboard\n    rules:\n");
    int n = 0;
    write_rules(f, panels, &n);
    assert_int_equal(fclose(f), 0);
    char out[8192];
    char err[8192];
    char *argv[] = {PROMTOOL_BIN, "check", "rules", path, NULL};
    int rc = procs_run(argv, out, sizeof out, err, sizeof err);
    if (rc != 0) {
        printf("promtool check rules %s: exit %d\n%s%s\n", path, rc, out, err);
    }
    return rc;
}

static void dashboard_names_exported_metrics(void **state)
{
    (void)state;
    assert_true(poll_status(0, "/readyz", 200, READY_POLLS));
    char *page = scrape(0);
    char *names = sample_names(page);
    free(page);
    json_error_t jerr;
    json_t *dash = json_load_file(DASHBOARD_JSON, 0, &jerr);
    if (dash == NULL) {
        fail_msg("%s:%d:%d: %s", DASHBOARD_JSON, jerr.line, jerr.column,
                 jerr.text);
    }
    json_t *panels = json_object_get(dash, "panels");
    assert_true(json_array_size(panels) > 0);
    int n_exprs = 0;
    char why[512];
    if (!panels_known(panels, names, &n_exprs, why, sizeof why)) {
        fail_msg("%s: %s", DASHBOARD_JSON, why);
    }
    printf("%d dashboard queries name only exported metrics\n", n_exprs);
    assert_true(n_exprs >= 8);
    /* And each parses as PromQL; a broken one would not. */
    assert_int_equal(promtool_check_queries(panels, "dashboard"), 0);
    json_t *broken = json_pack("[{s:[{s:s}]}]", "targets", "expr",
                               "rate(raftkv_server_term[1m]");
    assert_non_null(broken);
    assert_int_not_equal(promtool_check_queries(broken, "broken"), 0);
    json_decref(broken);

    /* The check catches a name the server does not export. */
    json_t *planted = json_pack("[{s:s, s:s, s:[{s:s}]}]", "title", "planted",
                                "type", "timeseries", "targets", "expr",
                                "rate(raftkv_server_no_such_metric_total[1m])");
    assert_non_null(planted);
    int dummy = 0;
    assert_false(panels_known(planted, names, &dummy, why, sizeof why));
    assert_non_null(strstr(why, "raftkv_server_no_such_metric_total"));
    json_decref(planted);
    json_decref(dash);
    free(names);
}

/* The whole of @path (free() it). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    assert_true(n < (1 << 16) - 1);
    fclose(f);
    return text;
}

/* Every published port of docker/compose.yaml is on the host's loopback
 * (README: "published on 127.0.0.1"), and the nodes, Prometheus and
 * Grafana agree on where the metrics and the data source are. */
static void dashboard_compose_binds_loopback(void **state)
{
    (void)state;
    char *compose = read_text(COMPOSE_YAML);
    int published = 0;
    for (const char *c = compose; (c = strstr(c, "ports:")) != NULL;) {
        const char *eol = strchr(c, '\n');
        for (const char *q = strchr(c, '"'); q != NULL && q < eol;
             q = strchr(q, '"')) {
            const char *close = strchr(q + 1, '"');
            assert_non_null(close);
            if (strncmp(q + 1, "127.0.0.1:", 10) != 0) {
                fail_msg("%s: port %.*s is not bound to 127.0.0.1",
                         COMPOSE_YAML, (int)(close - q - 1), q + 1);
            }
            published++;
            q = close + 1;
        }
        c = eol;
    }
    assert_int_equal(published, 5); /* three nodes, Prometheus, Grafana */
    const char *metrics_flag = "\"--metrics-addr\", \"0.0.0.0:9100\"";
    int nodes = 0;
    for (const char *c = compose; (c = strstr(c, metrics_flag)) != NULL; c++) {
        nodes++;
    }
    assert_int_equal(nodes, 3);
    free(compose);
    char *prom = read_text(PROMETHEUS_YML);
    assert_non_null(strstr(prom,
                           "\"node1:9100\", \"node2:9100\", "
                           "\"node3:9100\""));
    free(prom);
    char *source = read_text(DATASOURCE_YAML);
    assert_non_null(strstr(source, "uid: raftkv-prometheus\n"));
    free(source);
    json_error_t jerr;
    json_t *dash = json_load_file(DASHBOARD_JSON, 0, &jerr);
    assert_non_null(dash);
    size_t i;
    json_t *panel;
    json_array_foreach(json_object_get(dash, "panels"), i, panel)
    {
        const char *uid = json_string_value(
            json_object_get(json_object_get(panel, "datasource"), "uid"));
        assert_non_null(uid);
        assert_string_equal(uid, "raftkv-prometheus");
    }
    json_decref(dash);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(endpoint_promtool_accepts_live_scrapes),
        cmocka_unit_test(endpoint_paths_and_methods),
        cmocka_unit_test(endpoint_isolated_node_is_not_ready),
        cmocka_unit_test(endpoint_bad_addresses_refused),
        cmocka_unit_test(prometheus_scrapes_three_nodes),
        cmocka_unit_test(dashboard_names_exported_metrics),
        cmocka_unit_test(dashboard_compose_binds_loopback),
    };
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
