/* What the quorum's transport (raftnet.c) and the CONTROLLER listener's
 * handlers (raft_serve.c) share. */
#ifndef SKEIN_RAFTNET_INT_H
#define SKEIN_RAFTNET_INT_H

#include "skein/api.h"
#include "skein/quorum.h"
#include "skein/raft.h"
#include "skein/raftnet.h"
#include "skein/timer.h"

struct sk_kclient;

struct sk_raftnet_peer {
    struct sk_raftnet *rn;
    int32_t id;
    struct sk_kclient *kc;
    /* The latest request the core sent while the connection was not ready
     * (a restart, a reconnect): sent once it is. Dropping it would leave
     * the core waiting out controller.quorum.request.timeout.ms, as long as
     * the fetch timeout, so a restarted follower stood for election before
     * its first fetch ever reached the leader and unseated it. Raft
     * requests supersede one another, so only the latest is kept. */
    struct sk_raft_msg pending;
    bool has_pending;
};

/* One per voter's or observer's held fetch, and one for the request being
 * delivered: past it a fetch is refused (REQUEST_TIMED_OUT) and retried. */
#define SK_RAFTNET_MAX_PARKED (SK_RAFT_MAX_VOTERS + SK_RAFT_MAX_OBSERVERS + 1)

struct sk_raftnet_parked {
    struct sk_request *req; /* NULL: a free slot */
    uint32_t corr;
};

struct sk_raftnet {
    struct sk_broker *b;
    struct sk_quorum *q;
    struct sk_raft_config cfg;
    uint64_t rng;
    struct sk_raftnet_peer peers[SK_RAFT_MAX_VOTERS];
    int n_peers;
    /* Requests the core has not answered yet: the one being delivered, and
     * the fetches the leader holds (one per voter or observer at most). */
    struct sk_raftnet_parked parked[SK_RAFTNET_MAX_PARKED];
    /* Runs while fetches are held: a stop waits for every request read,
     * and the stop is asked from a signal handler, which cannot post. */
    sk_timer_id stop_watch;
    uint32_t next_corr;
    bool closing;
    /* A graceful stop's resignation: EndQuorumEpoch requests unanswered,
     * and what runs once they are answered or the wait is over. */
    int ending;
    void (*resigned)(void *arg);
    void *resigned_arg;
    sk_timer_id resign_timer;
};

/* The core's response m: answers the parked request it belongs to. */
void sk_raftnet_answer(struct sk_raftnet *rn, const struct sk_raft_msg *m);
/* At close: the held requests get NOT_LEADER_OR_FOLLOWER, as a leader that
 * stops answers them. */
void sk_raftnet_unpark_all(struct sk_raftnet *rn);

#endif
