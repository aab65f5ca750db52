/* Vtable dispatch and message copies shared by every transport. */
#include <stdlib.h>
#include <string.h>

#include "transport/transport.h"

int transport_send(struct transport *t, const struct raft_message *m)
{
    return t->vt->send(t, m);
}

int transport_flush(struct transport *t)
{
    return t->vt->flush != NULL ? t->vt->flush(t) : 0;
}

void transport_free(struct transport *t)
{
    if (t != NULL && t->vt->destroy != NULL) {
        t->vt->destroy(t);
    }
}

struct transport_msg *transport_msg_clone(const struct raft_message *m)
{
    /* Everything the message points to follows it in the same block: an
     * AppendEntries' entries and their data, or a snapshot chunk's
     * configuration and data. */
    size_t n = m->type == RAFT_MSG_APPEND ? m->append.n_entries : 0;
    size_t bytes = sizeof(struct transport_msg);
    if (n > (SIZE_MAX - bytes) / sizeof(struct raft_entry)) {
        return NULL;
    }
    bytes += n * sizeof(struct raft_entry);
    for (size_t k = 0; k < n; k++) {
        size_t len = m->append.entries[k].data.len;
        if (len > SIZE_MAX - bytes) {
            return NULL;
        }
        bytes += len;
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        if (m->snapshot.len > SIZE_MAX - bytes - m->snapshot.conf_len) {
            return NULL;
        }
        bytes += m->snapshot.conf_len + m->snapshot.len;
    }
    struct transport_msg *c = malloc(bytes);
    if (c == NULL) {
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->m = *m;
    if (m->type == RAFT_MSG_APPEND) {
        struct raft_entry *es = (struct raft_entry *)(c + 1);
        uint8_t *data = (uint8_t *)(es + n);
        for (size_t k = 0; k < n; k++) {
            es[k] = m->append.entries[k];
            if (es[k].data.len > 0) {
                memcpy(data, es[k].data.base, es[k].data.len);
                es[k].data.base = data;
                data += es[k].data.len;
            } else {
                es[k].data.base = NULL;
            }
        }
        c->m.append.entries = n > 0 ? es : NULL;
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        uint8_t *p = (uint8_t *)(c + 1);
        if (m->snapshot.conf_len > 0) {
            memcpy(p, m->snapshot.conf, m->snapshot.conf_len);
        }
        c->m.snapshot.conf = m->snapshot.conf_len > 0 ? p : NULL;
        p += m->snapshot.conf_len;
        if (m->snapshot.len > 0) {
            memcpy(p, m->snapshot.data, m->snapshot.len);
        }
        c->m.snapshot.data = m->snapshot.len > 0 ? p : NULL;
    }
    return c;
}
