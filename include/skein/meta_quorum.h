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
 * open and replayed: reads the quorum-state file now (a damaged one refuses
 * start-up: -EBADMSG with err set) and starts the core on the shard's first
 * pass, after the blocking start-up writes and before any request. A sole
 * voter is then elected and its LeaderChange made durable at once, so the
 * controller takes changes from the first request on. A node of a larger
 * quorum stays on the log's own syncs for now: it needs the CONTROLLER
 * transport. 0 or -errno. */
int sk_meta_quorum_open(struct sk_broker *b, const struct sk_config *cfg, char *err,
                        size_t errlen);
/* Stops the core, while the shard still runs its timers. */
void sk_meta_quorum_close(struct sk_node *n);

#endif
