/*
 * The timeline (see timeline.h). Each node and the network keep an array
 * of segments whose last one is open (its end is the latest sample); a
 * sample that differs from the open segment closes it and opens the next.
 */
#include "timeline.h"

#include <stdlib.h>
#include <string.h>

struct track
{
    size_t n;
    bool open; /* the last segment is still open */
};

struct timeline
{
    unsigned nodes;
    struct timeline_node_seg *node[SCENARIO_MAX_NODES + 1];
    struct track node_track[SCENARIO_MAX_NODES + 1];
    struct timeline_net_seg *net;
    struct track net_track;
    bool violated;
    uint64_t violated_at;
    bool cut;
    uint64_t cut_at;
    uint64_t end;
};

struct timeline *timeline_new(unsigned nodes)
{
    if (nodes > SCENARIO_MAX_NODES) {
        return NULL;
    }
    struct timeline *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    t->nodes = nodes;
    bool ok = (t->net = calloc(TIMELINE_MAX_SEGS, sizeof *t->net)) != NULL;
    for (unsigned id = 1; ok && id <= nodes; id++) {
        t->node[id] = calloc(TIMELINE_MAX_SEGS, sizeof *t->node[id]);
        ok = t->node[id] != NULL;
    }
    if (!ok) {
        timeline_free(t);
        return NULL;
    }
    return t;
}

void timeline_free(struct timeline *t)
{
    if (t == NULL) {
        return;
    }
    for (unsigned id = 1; id <= t->nodes; id++) {
        free(t->node[id]);
    }
    free(t->net);
    free(t);
}

/* Whether a new segment fits; when not, the timeline is cut at @now. */
static bool room(struct timeline *t, const struct track *k, uint64_t now)
{
    if (k->n < TIMELINE_MAX_SEGS) {
        return true;
    }
    if (!t->cut) {
        t->cut = true;
        t->cut_at = now;
    }
    return false;
}

static void record_node(struct timeline *t,
                        unsigned id,
                        uint64_t now,
                        const struct timeline_sample *s)
{
    struct track *k = &t->node_track[id];
    struct timeline_node_seg *segs = t->node[id];
    if (k->open) {
        struct timeline_node_seg *last = &segs[k->n - 1];
        last->to = now;
        if (last->state == s->node[id].state &&
            last->role == s->node[id].role && last->term == s->node[id].term) {
            return;
        }
        k->open = false;
    }
    if (!room(t, k, now)) {
        return;
    }
    segs[k->n++] = (struct timeline_node_seg){
        .from = now,
        .to = now,
        .state = s->node[id].state,
        .role = s->node[id].role,
        .term = s->node[id].term,
    };
    k->open = true;
}

static void record_net(struct timeline *t,
                       uint64_t now,
                       const struct timeline_sample *s)
{
    struct track *k = &t->net_track;
    const char *what = s->what != NULL && s->net_kinds != 0 ? s->what : "";
    if (k->open) {
        struct timeline_net_seg *last = &t->net[k->n - 1];
        last->to = now;
        if (last->kinds == s->net_kinds &&
            memcmp(last->cut, s->cut, sizeof last->cut) == 0 &&
            strncmp(last->what, what, sizeof last->what - 1) == 0) {
            return;
        }
        k->open = false;
    }
    if (!room(t, k, now)) {
        return;
    }
    struct timeline_net_seg *g = &t->net[k->n++];
    memset(g, 0, sizeof *g);
    g->from = now;
    g->to = now;
    g->kinds = s->net_kinds;
    memcpy(g->cut, s->cut, sizeof g->cut);
    size_t n = strlen(what);
    if (n >= sizeof g->what) {
        n = sizeof g->what - 1;
    }
    memcpy(g->what, what, n);
    k->open = true;
}

void timeline_record(struct timeline *t,
                     uint64_t now,
                     const struct timeline_sample *s)
{
    if (t == NULL || now < t->end) {
        return;
    }
    t->end = now;
    for (unsigned id = 1; id <= t->nodes; id++) {
        record_node(t, id, now, s);
    }
    record_net(t, now, s);
    if (s->violated && !t->violated) {
        t->violated = true;
        t->violated_at = now;
    }
}

void timeline_close(struct timeline *t, uint64_t now)
{
    if (t == NULL || now < t->end) {
        return;
    }
    t->end = now;
    for (unsigned id = 1; id <= t->nodes; id++) {
        struct track *k = &t->node_track[id];
        if (k->open) {
            t->node[id][k->n - 1].to = now;
            k->open = false;
        }
    }
    if (t->net_track.open) {
        t->net[t->net_track.n - 1].to = now;
        t->net_track.open = false;
    }
}

unsigned timeline_nodes(const struct timeline *t)
{
    return t->nodes;
}

const struct timeline_node_seg *timeline_node(const struct timeline *t,
                                              unsigned id,
                                              size_t *count)
{
    if (id < 1 || id > t->nodes) {
        *count = 0;
        return NULL;
    }
    *count = t->node_track[id].n;
    return t->node[id];
}

const struct timeline_net_seg *timeline_net(const struct timeline *t,
                                            size_t *count)
{
    *count = t->net_track.n;
    return t->net;
}

bool timeline_violation_at(const struct timeline *t, uint64_t *at)
{
    *at = t->violated_at;
    return t->violated;
}

bool timeline_cut_at(const struct timeline *t, uint64_t *at)
{
    *at = t->cut_at;
    return t->cut;
}

uint64_t timeline_end(const struct timeline *t)
{
    return t->end;
}
