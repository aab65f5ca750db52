/*
 * solo: the Raft core alone, on the installed libraft.
 *
 * A one-voter cluster: the core is pure (no I/O, no clock, no threads), so
 * the program is the whole driver. It ticks the core, takes each update
 * (what to persist, send and apply) and reports it done, until the node
 * has elected itself and committed an entry it proposed.
 */
#include <stdio.h>
#include <string.h>

#include <raft/raft.h>

#define MAX_TICKS 1000

/* Takes every pending update; a real driver persists u.hard_state and
 * u.entries, sends u.messages and applies u.committed before saying done. */
static size_t drain(struct raft *r)
{
    size_t committed = 0;
    struct raft_update u;
    while (raft_update_get(r, &u)) {
        committed += u.n_committed;
        raft_update_done(r, &u);
    }
    return committed;
}

int main(void)
{
    struct raft_options opts;
    raft_options_default(&opts);
    opts.id = 1;
    opts.seed = 7;

    struct raft_boot boot;
    memset(&boot, 0, sizeof boot);
    raft_id ids[] = {1};
    if (raft_configuration_voters(&boot.conf, ids, 1) != 0) {
        return 1;
    }
    struct raft *r;
    int rv = raft_new(&opts, &boot, &r);
    if (rv != 0) {
        fprintf(stderr, "solo: raft_new: %s\n", common_strerror(rv));
        return 1;
    }
    int ticks = 0;
    while (raft_role(r) != RAFT_LEADER && ticks < MAX_TICKS) {
        raft_tick(r);
        drain(r);
        ticks++;
    }
    if (raft_role(r) != RAFT_LEADER) {
        fprintf(stderr, "solo: no leader after %d ticks\n", ticks);
        raft_free(r);
        return 1;
    }
    printf("node 1 leads after %d ticks\n", ticks);

    const char payload[] = "x=1";
    raft_index index = 0;
    rv = raft_propose(r, payload, sizeof payload - 1, &index, NULL);
    size_t committed = rv == 0 ? drain(r) : 0;
    printf("proposed at index %llu (%s); committed: %zu\n",
           (unsigned long long)index, common_strerror(rv), committed);
    raft_free(r);
    return rv == 0 && committed > 0 ? 0 : 1;
}
