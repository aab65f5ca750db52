/*
 * A mutex that can be switched off for good: the objects that threads
 * mode shares between node threads (the in-memory network, the crash
 * disks, the safety monitor) take theirs on every call, while sim mode,
 * where one thread runs everything, switches it off before any other
 * thread could see the object, and the uncontended lock costs nothing.
 * Apart from common.h so that the Raft core never includes pthread.h.
 */
#ifndef COMMON_LOCK_H
#define COMMON_LOCK_H

#include <pthread.h>
#include <stdbool.h>

#include "common/common.h"

struct common_lock
{
    pthread_mutex_t mutex;
    bool off; /* common_lock_switch_off was called */
};

/* 0 or COMMON_ENOMEM. */
static inline int common_lock_init(struct common_lock *l)
{
    l->off = false;
    return pthread_mutex_init(&l->mutex, NULL) == 0 ? 0 : COMMON_ENOMEM;
}

static inline void common_lock_fini(struct common_lock *l)
{
    pthread_mutex_destroy(&l->mutex);
}

static inline void common_lock_take(struct common_lock *l)
{
    if (!l->off) {
        pthread_mutex_lock(&l->mutex);
    }
}

static inline void common_lock_release(struct common_lock *l)
{
    if (!l->off) {
        pthread_mutex_unlock(&l->mutex);
    }
}

/* From now on take and release do nothing: only for an object that one
 * thread alone will ever use, called before any other thread sees it. */
static inline void common_lock_switch_off(struct common_lock *l)
{
    l->off = true;
}

#endif /* COMMON_LOCK_H */
