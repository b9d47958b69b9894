/* The node's KRaft metadata quorum: the Raft core (skein/quorum.h) on the
 * controller's shard, over __cluster_metadata-0 (skein/meta_raftlog.h) and
 * its quorum-state file (skein/quorum_state.h), with the controller's
 * commits going through it (skein/submit.h). */
#ifndef SKEIN_META_QUORUM_H
#define SKEIN_META_QUORUM_H

#include <stddef.h>

struct sk_broker;
struct sk_config;
struct sk_node;

/* Starts the quorum on b, the controller's shard, once the metadata log is
 * open and replayed. A sole voter is elected and its LeaderChange made
 * durable before this returns, so the controller takes changes from the
 * first request on. A node of a larger quorum is left on the log's own
 * syncs for now: it needs the CONTROLLER transport. 0, or -errno with err
 * set (a damaged quorum-state file refuses start-up). */
int sk_meta_quorum_open(struct sk_broker *b, const struct sk_config *cfg, char *err,
                        size_t errlen);
/* Stops the core, while the shard still runs its timers. */
void sk_meta_quorum_close(struct sk_node *n);

#endif
