/*
 * raftkv-server --join: the joining server's side of raftkv.Cluster.
 *
 * Before its node starts, the server asks the cluster for its members
 * (MemberList: the configuration, its addresses and the cluster's id) and
 * to add it as a learner (MemberAdd); both go through join_call, which
 * finds the leader as raftkv-cli does (endpoints in turn, redirects
 * followed) and retries what time may change - an unreachable node, an
 * election, another change in progress - within a budget.
 *
 * Once the node runs, the leader sends it the log, or a snapshot then the
 * log when it has compacted what the learner needs. The node thread says
 * when the learner holds what the leader has committed (join_caught_up);
 * the promoter thread then asks MemberPromote. The leader applies the
 * core's rule (docs/raft.md: a learner is promoted only within
 * promote_lag entries of the leader's last index) and refuses while the
 * learner is behind; the promoter waits and asks again. It runs apart from
 * the node thread because each call blocks until the change commits, and
 * the node must go on receiving the log meanwhile.
 */
#include "join.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "transport/transport.h"

/* One attempt's deadline; the pause between rounds grows to PAUSE_MAX. */
#define ATTEMPT_MS 2000
#define PAUSE_MS   25
#define PAUSE_MAX  400
/* Promotion: asks at most this many times, PROMOTE_WAIT_MS apart. */
#define PROMOTE_TRIES   600
#define PROMOTE_WAIT_MS 200

int join_parse_endpoints(struct join *j,
                         const char *list,
                         char *why,
                         size_t why_len)
{
    j->n_endpoints = 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (j->n_endpoints == RAFT_MAX_SERVERS || n >= CMD_ADDRESS_MAX) {
            snprintf(why, why_len, "at most %d endpoints HOST:PORT",
                     RAFT_MAX_SERVERS);
            return -1;
        }
        char *ep = j->endpoints[j->n_endpoints];
        memcpy(ep, p, n);
        ep[n] = '\0';
        if (!cmd_address_valid(ep, false)) {
            snprintf(why, why_len, "'%s' is not HOST:PORT", ep);
            return -1;
        }
        j->n_endpoints++;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Is @status a refusal that no retry changes? */
static bool final_status(int status)
{
    return status == TRANSPORT_GRPC_INVALID_ARGUMENT ||
           status == TRANSPORT_GRPC_NOT_FOUND ||
           status == TRANSPORT_GRPC_ALREADY_EXISTS ||
           status == TRANSPORT_GRPC_FAILED_PRECONDITION ||
           status == TRANSPORT_GRPC_PERMISSION_DENIED;
}

int join_call(struct join *j,
              const struct cmd_cluster_request *rq,
              struct cmd_members *out,
              char *why,
              size_t why_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmd_cluster_request_encode(rq, &buf, &len) != 0) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    uint64_t deadline = common_now_ns() / 1000000u + j->timeout_ms;
    char target[CMD_ADDRESS_MAX];
    bool hint = false;
    unsigned hops = 0;
    size_t next = 0;
    uint64_t pause = PAUSE_MS;
    int rv = -1;
    snprintf(why, why_len, "no node answered");
    /* Bounded by the deadline: each round takes an attempt or a pause. */
    for (;;) {
        uint64_t now = common_now_ns() / 1000000u;
        if (now >= deadline) {
            break;
        }
        if (!hint) {
            snprintf(target, sizeof target, "%s", j->endpoints[next]);
            next = (next + 1) % j->n_endpoints;
        }
        hint = false;
        uint64_t attempt =
            deadline - now < ATTEMPT_MS ? deadline - now : ATTEMPT_MS;
        struct transport_grpc_client *c = NULL;
        struct transport_grpc_result res;
        memset(&res, 0, sizeof res);
        if (transport_grpc_client_new(target, j->tls, &c) != 0 ||
            transport_grpc_client_call(c, cmd_method_paths[rq->method], buf,
                                       len, (unsigned)attempt, &res) != 0) {
            transport_grpc_client_free(c);
            snprintf(why, why_len, "out of memory");
            break;
        }
        transport_grpc_client_free(c);
        if (res.status != TRANSPORT_GRPC_OK) {
            snprintf(why, why_len, "%s: %s: %s", target,
                     transport_grpc_status_name(res.status), res.message);
            if (final_status(res.status)) {
                rv = res.status;
                free(res.data);
                break;
            }
        } else if (cmd_members_decode(res.data, res.len, out) != 0) {
            snprintf(why, why_len, "%s: the answer is not raftkv's", target);
        } else if (out->code == KV_OK) {
            rv = 0;
            free(res.data);
            break;
        } else {
            snprintf(why, why_len, "%s: %s", target, out->message);
            if (out->code == KV_NOT_LEADER && out->leader_address[0] != '\0' &&
                strcmp(out->leader_address, target) != 0 && hops < 3) {
                snprintf(target, sizeof target, "%s", out->leader_address);
                hint = true;
            }
        }
        free(res.data);
        if (hint) {
            hops++;
            continue;
        }
        hops = 0;
        uint64_t left = deadline - now;
        sleep_ms(pause < left ? pause : left);
        pause = pause * 2 > PAUSE_MAX ? PAUSE_MAX : pause * 2;
    }
    free(buf);
    return rv;
}

/* Waits @pause_ms, then until the node says it caught up; false when the
 * server stops meanwhile. */
static bool wait_caught_up(struct join *j, uint64_t pause_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(pause_ms / 1000);
    until.tv_nsec += (long)(pause_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&j->lock);
    while (!j->stop &&
           pthread_cond_timedwait(&j->cond, &j->lock, &until) == 0) {
    }
    j->caught_up = false; /* only what the node says after the pause */
    while (!j->stop && !j->caught_up) {
        pthread_cond_wait(&j->cond, &j->lock);
    }
    bool go = !j->stop;
    pthread_mutex_unlock(&j->lock);
    return go;
}

/* Is node @id a voter in @m? */
static bool voter_in(const struct cmd_members *m, raft_id id)
{
    for (size_t k = 0; k < m->n; k++) {
        if (m->members[k].id == id) {
            return !m->members[k].learner;
        }
    }
    return false;
}

static void *promoter(void *arg)
{
    struct join *j = arg;
    struct cmd_cluster_request rq = {.method = CMD_MEMBER_PROMOTE, .id = j->id};
    char why[512];
    unsigned tries = 0;
    while (tries < PROMOTE_TRIES) {
        if (!wait_caught_up(j, tries == 0 ? 0 : PROMOTE_WAIT_MS)) {
            return NULL;
        }
        tries++;
        struct cmd_members m;
        int rv = join_call(j, &rq, &m, why, sizeof why);
        if (rv == TRANSPORT_GRPC_FAILED_PRECONDITION) {
            /* Behind, or a voter already (a promotion whose answer was
             * lost): the member list says which. */
            struct cmd_cluster_request list = {.method = CMD_MEMBER_LIST};
            if (join_call(j, &list, &m, why, sizeof why) == 0 &&
                voter_in(&m, j->id)) {
                rv = 0;
            }
        }
        if (rv == 0) {
            common_logf(j->log, j->log_data, COMMON_LOG_INFO,
                        "promoted to voter (after %u request(s))", tries);
            pthread_mutex_lock(&j->lock);
            j->promoted = true;
            pthread_mutex_unlock(&j->lock);
            return NULL;
        }
        if (rv > 0 && rv != TRANSPORT_GRPC_FAILED_PRECONDITION) {
            common_logf(j->log, j->log_data, COMMON_LOG_ERROR,
                        "promotion refused: %s; promote it with raftkv-cli "
                        "member promote %llu",
                        why, (unsigned long long)j->id);
            return NULL;
        }
        common_logf(j->log, j->log_data, COMMON_LOG_DEBUG,
                    "not promoted yet: %s", why);
    }
    common_logf(j->log, j->log_data, COMMON_LOG_ERROR,
                "promotion given up after %u requests (last: %s); promote it "
                "with raftkv-cli member promote %llu",
                tries, why, (unsigned long long)j->id);
    return NULL;
}

int join_promoter_start(struct join *j)
{
    if (pthread_mutex_init(&j->lock, NULL) != 0) {
        return COMMON_ENOMEM;
    }
    if (pthread_cond_init(&j->cond, NULL) != 0) {
        pthread_mutex_destroy(&j->lock);
        return COMMON_ENOMEM;
    }
    j->caught_up = false;
    j->stop = false;
    j->promoted = false;
    if (pthread_create(&j->thread, NULL, promoter, j) != 0) {
        pthread_cond_destroy(&j->cond);
        pthread_mutex_destroy(&j->lock);
        return COMMON_ENOMEM;
    }
    j->started = true;
    return 0;
}

void join_caught_up(struct join *j)
{
    if (!j->started) {
        return;
    }
    pthread_mutex_lock(&j->lock);
    if (!j->caught_up) {
        j->caught_up = true;
        pthread_cond_signal(&j->cond);
    }
    pthread_mutex_unlock(&j->lock);
}

bool join_promoted(struct join *j)
{
    if (!j->started) {
        return false;
    }
    pthread_mutex_lock(&j->lock);
    bool p = j->promoted;
    pthread_mutex_unlock(&j->lock);
    return p;
}

void join_stop(struct join *j)
{
    if (!j->started) {
        return;
    }
    pthread_mutex_lock(&j->lock);
    j->stop = true;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
    pthread_join(j->thread, NULL);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    j->started = false;
}
