/* __cluster_metadata-0 as the Raft core's log (struct sk_raft_log_ops): the
 * metadata log's files (skein/metalog.h) hold the quorum's batches, each a
 * Kafka record batch whose PartitionLeaderEpoch is the Raft epoch that
 * appended it, as KRaft writes them.
 *
 * A batch's data, in and out, is one whole v2 record batch: the leader's
 * controller encodes it (sk_metalog_encode) and this log stamps its base
 * offset and epoch; a follower appends the bytes a Raft fetch brought. The
 * one exception is the leader's own LeaderChange batch, which the core
 * appends with no data: it is encoded here as Kafka's LeaderChangeMessage
 * control record.
 *
 * Leader epochs come from the log's leader-epoch-checkpoint (src/log/), kept
 * as Kafka keeps it for __cluster_metadata-0 and re-derived by recovery for
 * what lies above the recovery point, so start-up does not scan the log.
 *
 * Flushes go through a syncer (the shard's io_uring); their completions are
 * reported to the owner, which passes them on to sk_quorum_flushed (or
 * sk_raft_flushed). With the blocking syncer a flush is done on return. */
#ifndef SKEIN_META_RAFTLOG_H
#define SKEIN_META_RAFTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "skein/raft-t.h"

struct sk_metalog;
struct sk_syncer;
struct sk_buf;
struct sk_meta_raftlog;

/* A flush started with token is durable up to end (err 0), or failed: then
 * the log has gone offline as after any failed fdatasync (fsyncgate), and
 * the next append fails. */
typedef void (*sk_meta_raftlog_flushed_fn)(void *arg, uint64_t token, int64_t end, int err);

struct sk_meta_raftlog_config {
    int32_t node_id;                  /* the LeaderChange's leader */
    int32_t voters[SK_RAFT_MAX_VOTERS];
    int32_t n_voters;
    const struct sk_syncer *syncer;   /* NULL: the blocking one */
    sk_meta_raftlog_flushed_fn flushed;
    void *arg;
};

/* ml stays the caller's and must outlive the log. 0 or -ENOMEM. */
int sk_meta_raftlog_new(struct sk_metalog *ml, const struct sk_meta_raftlog_config *cfg,
                        struct sk_meta_raftlog **out);
/* Flushes in flight complete without reporting. */
void sk_meta_raftlog_free(struct sk_meta_raftlog *l);
/* Later flushes go through syncer (the shard's, once its ring runs). */
void sk_meta_raftlog_set_syncer(struct sk_meta_raftlog *l, const struct sk_syncer *syncer);
/* Fills cfg->log and cfg->log_ctx. */
void sk_meta_raftlog_bind(struct sk_meta_raftlog *l, struct sk_raft_config *cfg);

/* Kafka's LeaderChangeMessage (version 0) as the one control record of a
 * batch at base in epoch: leader, the voters, and those that granted. */
int sk_leader_change_encode(int64_t base, int32_t epoch, int64_t now_ms, int32_t leader,
                            const int32_t *voters, int32_t n_voters, const int32_t *granting,
                            int32_t n_granting, struct sk_buf *out);
/* Reads the leader back from such a batch; -EBADMSG if it is not one. */
int sk_leader_change_decode(const uint8_t *batch, size_t len, int32_t *leader,
                            int32_t *n_voters);

#endif
