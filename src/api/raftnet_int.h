/* What the quorum's transport (raftnet.c) and the CONTROLLER listener's
 * handlers (raft_serve.c) share. */
#ifndef SKEIN_RAFTNET_INT_H
#define SKEIN_RAFTNET_INT_H

#include "skein/api.h"
#include "skein/quorum.h"
#include "skein/raft.h"
#include "skein/raftnet.h"

struct sk_kclient;

struct sk_raftnet_peer {
    int32_t id;
    struct sk_kclient *kc;
};

struct sk_raftnet {
    struct sk_broker *b;
    struct sk_quorum *q;
    struct sk_raft_config cfg;
    struct sk_raft_memlog *log;
    struct sk_raft_memstore store;
    uint64_t rng;
    struct sk_raftnet_peer peers[SK_RAFT_MAX_VOTERS];
    int n_peers;
    /* The request being delivered to the core, which answers it before
     * sk_quorum_deliver returns (the leader does not long-poll yet). */
    struct sk_request *parked;
    uint32_t parked_corr;
    uint32_t next_corr;
    bool closing;
};

/* The core's response m: answers the parked request it belongs to. */
void sk_raftnet_answer(struct sk_raftnet *rn, const struct sk_raft_msg *m);

#endif
