/* The node's KRaft metadata quorum: the Raft core (skein/quorum.h) on the
 * controller's shard, over __cluster_metadata-0 (skein/meta_raftlog.h) and
 * its quorum-state file (skein/quorum_state.h), with the controller's
 * commits going through it (skein/submit.h). */
#ifndef SKEIN_META_QUORUM_H
#define SKEIN_META_QUORUM_H

#include <stddef.h>
#include <stdint.h>

struct sk_broker;
struct sk_quorum;
struct sk_raft_config;
struct sk_raft_qstate;
struct sk_config;
struct sk_node;

/* Prepares the quorum on b, the controller's shard, once the metadata log
 * is open and replayed: reads the quorum-state file now (a damaged one
 * refuses start-up: -EBADMSG with err set) and opens __cluster_metadata-0
 * as the core's log. A sole voter starts its core on the shard's first
 * pass, after the blocking start-up writes and before any request, and is
 * elected with its LeaderChange durable at once. A node of a larger quorum
 * gets its core from its transport (skein/raftnet.h), which binds this
 * storage (sk_meta_quorum_bind) and hands the core back
 * (sk_meta_quorum_attach); applied_end is where its replayed image's log
 * ends (-1 for a sole voter). 0 or -errno. */
int sk_meta_quorum_open(struct sk_broker *b, const struct sk_config *cfg, int64_t applied_end,
                        char *err, size_t errlen);
/* A larger quorum's storage: fills rc's log and store with the metadata log
 * and quorum-state file, *restored with what the file held. 0 or -EINVAL
 * (not opened for a larger quorum). */
int sk_meta_quorum_bind(struct sk_node *n, struct sk_raft_config *rc,
                        const struct sk_raft_qstate **restored);
/* From now on the controller commits through q, which stays the caller's;
 * the leader commits the start-up records (sk_startup_records) once active. */
void sk_meta_quorum_attach(struct sk_node *n, struct sk_quorum *q);
/* Stops a sole voter's core, while the shard still runs its timers, and
 * closes the log: after the transport's sk_raftnet_close. */
void sk_meta_quorum_close(struct sk_node *n);

#endif
