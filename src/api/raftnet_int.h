/* What the quorum's transport (raftnet.c) and the CONTROLLER listener's
 * handlers (raft_serve.c) share. */
#ifndef SKEIN_RAFTNET_INT_H
#define SKEIN_RAFTNET_INT_H

#include "skein/api.h"
#include "skein/config_listeners.h"
#include "skein/quorum.h"
#include "skein/raft.h"
#include "skein/raftnet.h"
#include "skein/timer.h"

struct sk_kclient;

struct sk_raftnet_peer {
    struct sk_raftnet *rn;
    int32_t id; /* a node id, or SK_RAFT_BOOTSTRAP_ID(i) */
    /* The address connected to: a voter's may change with the set. */
    char host[SK_CONFIG_HOST_MAX];
    uint16_t port;
    struct sk_kclient *kc; /* NULL: a free slot */
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

/* Where a node listens, as a Fetch answer's NodeEndpoints named it: how an
 * observer formatted without a voter set reaches the leader it learns of. */
struct sk_raftnet_addr {
    int32_t id;
    char host[SK_CONFIG_HOST_MAX];
    uint16_t port;
};

/* Connections to the voters, bootstrap servers and learned leaders. */
#define SK_RAFTNET_MAX_PEERS (2 * SK_RAFT_MAX_VOTERS + SK_RAFT_MAX_BOOTSTRAP)
#define SK_RAFTNET_MAX_LEARNED 16

struct sk_raftnet {
    struct sk_broker *b;
    struct sk_quorum *q;
    struct sk_raft_config cfg;
    uint64_t rng;
    struct sk_raftnet_peer peers[SK_RAFTNET_MAX_PEERS];
    int n_peers;
    /* controller.quorum.bootstrap.servers, in order (KIP-853). */
    struct sk_raftnet_addr bootstrap[SK_RAFT_MAX_BOOTSTRAP];
    int n_bootstrap;
    struct sk_raftnet_addr learned[SK_RAFTNET_MAX_LEARNED];
    int n_learned;
    /* AddRaftVoter and RemoveRaftVoter waiting for their commit
     * (raft_voters_serve.c), checked every few milliseconds. */
    struct sk_raftnet_change *changes;
    sk_timer_id change_timer;
    /* raftnet_update.c: this voter's UpdateRaftVoter to its leader. */
    sk_timer_id update_timer;
    bool update_in_flight;
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

/* raftnet_peers.c: the connection to node id (a voter of the current set,
 * a static voter, a bootstrap server or a leader learned of), made or
 * moved to its current address; NULL when its address is not known. */
struct sk_raftnet_peer *sk_raftnet_peer_for(struct sk_raftnet *rn, int32_t id);
/* Where node id listens, in the order peer_for looks: false if unknown. */
bool sk_raftnet_address(const struct sk_raftnet *rn, int32_t id, struct sk_raftnet_addr *out);
/* A node's address as a response named it. */
void sk_raftnet_learn(struct sk_raftnet *rn, int32_t id, const char *host, size_t host_len,
                      int32_t port);
/* controller.quorum.bootstrap.servers into rn->bootstrap. 0, or -EINVAL
 * with err set. */
int sk_raftnet_parse_bootstrap(struct sk_raftnet *rn, const char *list, char *err,
                               size_t errlen);
void sk_raftnet_close_peers(struct sk_raftnet *rn);
/* raftnet.c: a peer's connection is ready: its pending request goes. */
void sk_raftnet_peer_ready(void *arg, struct sk_kclient *kc);
/* raft_voters_serve.c: at close, the voter changes waiting get
 * NOT_LEADER_OR_FOLLOWER. */
struct sk_raftnet_change;
void sk_raftnet_changes_close(struct sk_raftnet *rn);
/* raftnet_update.c: a KIP-853 voter checks now and then that the set holds
 * its own endpoints, and asks the leader to update them if not. */
void sk_raftnet_update_start(struct sk_raftnet *rn);
void sk_raftnet_update_stop(struct sk_raftnet *rn);

/* The core's response m: answers the parked request it belongs to. */
void sk_raftnet_answer(struct sk_raftnet *rn, const struct sk_raft_msg *m);
/* At close: the held requests get NOT_LEADER_OR_FOLLOWER, as a leader that
 * stops answers them. */
void sk_raftnet_unpark_all(struct sk_raftnet *rn);

#endif
