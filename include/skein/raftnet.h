/* The KRaft quorum of a node on the network (src/api/raftnet.c): the quorum
 * driver (skein/quorum.h) on the controller's shard 0, the CONTROLLER
 * listener it is served on, and one Kafka client connection to each other
 * voter of controller.quorum.voters. Only a node whose quorum has more than
 * one voter has one; a one-voter node commits as it always did. */
#ifndef SKEIN_RAFTNET_H
#define SKEIN_RAFTNET_H

#include <stdbool.h>
#include <stddef.h>

struct sk_broker;
struct sk_config;
struct sk_request;
struct sk_raftnet;

/* The tag of the CONTROLLER listener's connections (sk_conn_tag). */
#define SK_LISTENER_CONTROLLER 1

struct sk_node;
struct sk_voter;
/* Where controller id takes requests, on shard 0: under KIP-853 from the
 * voter set in use (it changes at run time) or what a leader told; else
 * from controller.quorum.voters. False when unknown. */
bool sk_raftnet_controller(struct sk_node *n, int32_t id, struct sk_voter *out);

/* On shard 0 before it runs: builds the Raft config from cfg (node.id, the
 * voters, the cluster id of meta.properties, controller.quorum.*), starts
 * the quorum, listens on the controller listener and connects to the other
 * voters. 0, or a negative errno with err set. */
int sk_raftnet_start(struct sk_broker *b, char *err, size_t errlen);
/* On shard 0, on a graceful stop: a leader resigns (EndQuorumEpoch to the
 * others, as Kafka's raft client does on shutdown), so that the next leader
 * is elected at once rather than after the fetch timeout; then(arg) runs
 * once the others answered or a second passed, at once on a non-leader. */
void sk_raftnet_resign(struct sk_broker *b, void (*then)(void *arg), void *arg);
/* On shard 0, once its loop has ended: closes the connections, frees the
 * quorum. */
void sk_raftnet_close(struct sk_broker *b);

/* Handlers of the CONTROLLER listener (and DescribeQuorum on a combined
 * node's client listener), on shard 0. */
void sk_api_raft(struct sk_request *req);
void sk_api_describe_quorum(struct sk_request *req);
/* KIP-853's voter changes: on the CONTROLLER listener, and forwarded by a
 * broker (AddRaftVoter, RemoveRaftVoter) as Kafka 3.9's brokers do. */
void sk_api_add_raft_voter(struct sk_request *req);
void sk_api_remove_raft_voter(struct sk_request *req);
void sk_api_update_raft_voter(struct sk_request *req);

#endif
