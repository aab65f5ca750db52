/*
 * fuzz_scenario: the scenario loader of harness/ (libyaml, then the
 * scenario reader) on arbitrary text, through scenario_parse, the buffer
 * entry point under scenario_load.
 *
 * The corpus holds plain scenario files. Properties: the loader either
 * loads a scenario that keeps the documented bounds (nodes, faults in
 * time order, groups, probabilities, delays) or refuses with
 * COMMON_EPARSE or COMMON_EINVAL and a "fuzz.yaml:LINE:COLUMN: what"
 * message; scenario_fault_describe fits any fault in any buffer.
 */
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "fuzz.h"
#include "harness/harness.h"

static const char NAME[] = "fuzz.yaml";

/* "fuzz.yaml:LINE:COLUMN: what", LINE and COLUMN 1-based decimals. */
static bool located(const char *err)
{
    size_t n = strlen(NAME);
    if (strncmp(err, NAME, n) != 0 || err[n] != ':') {
        return false;
    }
    const char *p = err + n + 1;
    for (int part = 0; part < 2; part++) {
        if (*p < '1' || *p > '9') {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        if (*p != ':') {
            return false;
        }
        p++;
    }
    return *p == ' ' && p[1] != '\0';
}

static bool probability(double p)
{
    return p >= 0.0 && p <= 1.0;
}

static void check_fault(const struct scenario *s,
                        const struct scenario_fault *f)
{
    FUZZ_CHECK(f->kind >= SCENARIO_FAULT_PARTITION &&
               f->kind <= SCENARIO_FAULT_FORGE);
    FUZZ_CHECK(f->at_s >= 0.0);
    if (f->kind == SCENARIO_FAULT_PARTITION) {
        bool selectors = false;
        FUZZ_CHECK(f->n_groups >= 2 && f->n_groups <= s->nodes);
        for (unsigned g = 0; g < f->n_groups; g++) {
            selectors = selectors || f->pick[g].leader ||
                        f->pick[g].followers || f->pick[g].follower > 0;
        }
        /* Nodes the partition does not name by id are placed by its
         * selectors when it fires. */
        for (unsigned k = 0; k < SCENARIO_MAX_NODES; k++) {
            if (k < s->nodes && !selectors) {
                FUZZ_CHECK(f->group[k] < f->n_groups);
            } else if (k < s->nodes) {
                FUZZ_CHECK(f->group[k] < f->n_groups ||
                           f->group[k] == SCENARIO_GROUP_NONE);
            } else {
                FUZZ_CHECK(f->group[k] == SCENARIO_GROUP_NONE);
            }
        }
    }
    if (f->target.kind == SCENARIO_TARGET_NODE) {
        FUZZ_CHECK(f->target.id >= 1 && f->target.id <= s->nodes);
    }
    if (f->kind == SCENARIO_FAULT_LINK || f->kind == SCENARIO_FAULT_CUT) {
        FUZZ_CHECK(f->from <= s->nodes && f->to <= s->nodes);
        /* A selector at an end leaves its id 0. */
        FUZZ_CHECK(f->from_kind == 0 || f->from == 0);
        FUZZ_CHECK(f->to_kind == 0 || f->to == 0);
    }
    FUZZ_CHECK(probability(f->link.loss) && probability(f->link.duplicate) &&
               probability(f->link.reorder));
    FUZZ_CHECK(f->link.delay_ms_min <= f->link.delay_ms_max);
    char buf[256];
    scenario_fault_describe(f, buf, sizeof buf);
    FUZZ_CHECK(strlen(buf) < sizeof buf);
    char tiny[3];
    scenario_fault_describe(f, tiny, sizeof tiny);
    FUZZ_CHECK(strlen(tiny) < sizeof tiny);
}

static void check_scenario(const struct scenario *s)
{
    FUZZ_CHECK(s->nodes >= 1 && s->nodes <= SCENARIO_MAX_NODES);
    FUZZ_CHECK(s->duration_s > 0.0);
    FUZZ_CHECK(s->clients.count >= 1 && s->clients.count <= 1024);
    FUZZ_CHECK(s->clients.value_size >= 1 && s->clients.value_size <= 65536);
    FUZZ_CHECK(s->timing.heartbeat_ticks < s->timing.election_ticks);
    FUZZ_CHECK(!s->timing.latency_set ||
               s->timing.latency_us_min <= s->timing.latency_us_max);
    const struct scenario_mix *m = &s->clients.mix;
    FUZZ_CHECK(m->get + m->put + m->del + m->cas + m->append > 0);
    FUZZ_CHECK(s->n_faults <= SCENARIO_MAX_FAULTS);
    FUZZ_CHECK(s->n_faults == 0 || s->faults != NULL);
    for (size_t k = 0; k < s->n_faults; k++) {
        check_fault(s, &s->faults[k]);
        FUZZ_CHECK(k == 0 || s->faults[k - 1].at_s <= s->faults[k].at_s);
    }
    if (s->nemesis.enabled) {
        FUZZ_CHECK(s->nemesis.faults != 0);
        FUZZ_CHECK(s->nemesis.interval_s > 0.0);
        FUZZ_CHECK(s->nemesis.fault_s <= s->nemesis.interval_s);
        FUZZ_CHECK(probability(s->nemesis.loss));
        FUZZ_CHECK(s->nemesis.delay_ms_min <= s->nemesis.delay_ms_max);
    }
    FUZZ_CHECK(memchr(s->name, '\0', sizeof s->name) != NULL);
    const struct scenario_expect *e = &s->expect;
    FUZZ_CHECK(e->n_no_leader <= SCENARIO_MAX_WINDOWS &&
               e->n_term_unchanged <= SCENARIO_MAX_WINDOWS);
    for (unsigned k = 0; k < e->n_no_leader; k++) {
        FUZZ_CHECK(e->no_leader[k].from_s >= 0 &&
                   e->no_leader[k].from_s < e->no_leader[k].to_s &&
                   e->no_leader[k].to_s <= s->duration_s);
    }
    for (unsigned k = 0; k < e->n_term_unchanged; k++) {
        FUZZ_CHECK(e->term_unchanged[k].from_s >= 0 &&
                   e->term_unchanged[k].from_s < e->term_unchanged[k].to_s &&
                   e->term_unchanged[k].to_s <= s->duration_s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scenario s;
    char err[SCENARIO_ERROR_MAX];
    int rv = scenario_parse(NAME, size > 0 ? (const char *)data : NULL, size,
                            &s, err, sizeof err);
    if (rv == 0) {
        check_scenario(&s);
        scenario_fini(&s);
    } else {
        FUZZ_CHECK(rv == COMMON_EPARSE || rv == COMMON_EINVAL);
        if (!located(err)) {
            fprintf(stderr, "message without file:line:column: %s\n", err);
            abort();
        }
    }
    /* No message wanted: the same verdict, and no write. */
    struct scenario quiet;
    FUZZ_CHECK(scenario_parse(NAME, size > 0 ? (const char *)data : NULL, size,
                              &quiet, NULL, 0) == rv);
    scenario_fini(&quiet);
    return 0;
}
