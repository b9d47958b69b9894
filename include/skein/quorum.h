/* The Raft core at work on one shard (src/raft/driver.c): the node's
 * KRaft quorum member. It ticks the core (skein/raft.h) on the shard's
 * timers, hands every message the core sends to a transport (the CONTROLLER
 * listener and the outbound connections to the other voters), and tells its
 * owner, the controller, when what the core decided has changed: a new high
 * watermark, role, epoch or leader.
 *
 * The core's log and quorum-state store are given in the raft config: the
 * __cluster_metadata log on disk in a node, an in-memory log in tests. A log
 * whose flush completes later reports it with sk_quorum_flushed, not with
 * sk_raft_flushed, so that what the completion unblocks is sent at once.
 *
 * Everything runs on the shard's thread. With a single voter there is no
 * transport: the core sends nothing and commits on its own flushes. */
#ifndef SKEIN_QUORUM_H
#define SKEIN_QUORUM_H

#include <stddef.h>
#include <stdint.h>

#include "skein/raft.h"

struct sk_quorum;
struct sk_shard;

struct sk_quorum_transport {
    /* Sends m, which is a request to voter m->dst or the response to a
     * request delivered with sk_quorum_deliver (same corr, dst = its src).
     * The transport owns m and gives it back with sk_raft_msg_release once
     * it no longer needs its batches. A request that cannot be sent is
     * dropped: the core times it out and retries as it would a lost one. */
    void (*send)(void *arg, struct sk_raft_msg *m);
    void *arg;
};

struct sk_quorum_listener {
    /* Runs after any event that moved the high watermark or changed the
     * role, epoch or leader (read them from sk_quorum_raft). Never runs
     * inside a call its owner made, so it may append. */
    void (*on_change)(void *arg, struct sk_quorum *q);
    void *arg;
};

/* Starts the core on shard s with cfg (copied) and what the store held.
 * 0, or -ENOMEM / -EINVAL (no valid node id). A node id outside the voters
 * makes an observer. */
int sk_quorum_new(struct sk_shard *s, const struct sk_raft_config *cfg,
                  const struct sk_raft_qstate *restored, struct sk_quorum **out);
/* Stops timers and frees the core; messages not yet sent are released. */
void sk_quorum_free(struct sk_quorum *q);

void sk_quorum_set_transport(struct sk_quorum *q, const struct sk_quorum_transport *t);
void sk_quorum_set_listener(struct sk_quorum *q, const struct sk_quorum_listener *l);

/* An inbound request or response addressed to this node; its batches are
 * only borrowed. Returns the core's error code (skein/raft.h). */
int sk_quorum_deliver(struct sk_quorum *q, const struct sk_raft_msg *m);
/* On the leader: appends one batch of count records; *offset = its base. */
int sk_quorum_append(struct sk_quorum *q, const uint8_t *data, size_t len, int32_t count,
                     int64_t *offset);
/* The log's asynchronous flush with this token is durable up to end. */
int sk_quorum_flushed(struct sk_quorum *q, uint64_t token, int64_t end);
/* Graceful shutdown: a leader resigns (EndQuorumEpoch) before it stops. */
int sk_quorum_resign(struct sk_quorum *q);
/* sk_raft_release_fetches, and what it answers goes out. */
int sk_quorum_release_fetches(struct sk_quorum *q);

/* KIP-853 voter changes on the leader (skein/raft.h: sk_raft_add_voter and
 * the others), with what they send going out at once. */
int sk_quorum_add_voter(struct sk_quorum *q, const struct sk_raft_voter *v, int64_t *offset);
int sk_quorum_check_add_voter(struct sk_quorum *q, const struct sk_raft_voter *v);
int sk_quorum_remove_voter(struct sk_quorum *q, int32_t id, const uint8_t *directory_id,
                           int64_t *offset);
int sk_quorum_update_voter(struct sk_quorum *q, const struct sk_raft_voter *v, int64_t *offset);

/* For reads: role, epoch, leader, high watermark, DescribeQuorum's view. */
const struct sk_raft *sk_quorum_raft(const struct sk_quorum *q);

#endif
