/* The asynchronous commit: a controller change is appended to the metadata
 * log at once and committed when its fdatasync (on the controller shard's
 * ring) completes, so no shard waits in fsync for it.
 *
 * The node's image is the controller's working state: every batch appended,
 * committed or not, so the next change is checked against the changes still
 * in flight. The last committed image is kept beside it to roll back to. */
#ifndef SKEIN_SUBMIT_H
#define SKEIN_SUBMIT_H

#include <stddef.h>
#include <stdint.h>

#include "skein/broker.h"
#include "skein/metalog.h"

/* err is a Kafka error code, msg NULL or its message (valid for the call). */
typedef void (*sk_ctl_done_fn)(void *arg, int16_t err, const char *msg);

/* On the controller's shard (b): appends recs as one batch to the working
 * state and the log and starts its sync through b->syncer. done runs on b
 * once the batch is committed (published, and b applied it), in submission
 * order whatever order the syncs complete in, or with KAFKA_STORAGE_ERROR
 * when it, or a batch before it, could not be written or synced; it may run
 * before sk_ctl_submit returns (a refused batch, a blocking syncer). An
 * empty batch writes nothing and waits its turn: a requester whose change
 * is already in flight (a topic another request is auto-creating) answers
 * once that change has committed. */
void sk_ctl_submit(struct sk_broker *b, const struct sk_meta_rec *recs, int n,
                   sk_ctl_done_fn done, void *arg);

/* The Raft quorum the controller commits through: the driver (skein/quorum.h)
 * on the node, the bare core in unit tests. append is sk_quorum_append. */
struct sk_raft;
struct sk_ctl_quorum {
    int (*append)(void *ctx, const uint8_t *data, size_t len, int32_t count, int64_t *offset);
    const struct sk_raft *(*raft)(const void *ctx);
    void *ctx;
};

/* From now on ctl's batches go through q: appended on the leader and
 * committed in order as the quorum's high watermark passes their end; off
 * the leader, changes answer NOT_CONTROLLER and the batches the quorum
 * committed are applied from the log and published, as a standby
 * controller does. applied_end is where the image's log ends (what
 * sk_metalog_open_upto replayed); published says whether the shards hold
 * that image (a sole voter's) or are waiting for this node to catch up
 * with the quorum (sk_publish_first's empty image). Without a quorum, batches commit on the
 * metadata log's own syncs (the path tools and start-up writes take). */
void sk_ctl_set_quorum(struct sk_broker *ctl, const struct sk_ctl_quorum *q, int64_t applied_end,
                       bool published);

/* The quorum's on_change, on ctl's shard: commits what the high watermark
 * passed, replays what other leaders wrote, and on a lost leadership fails
 * the batches in flight with NOT_CONTROLLER and rolls the image back to the
 * committed one (the new leader decides what stays in the log). A leader
 * takes changes once it has applied everything up to its own epoch's start,
 * as Kafka's controller claims leadership only then. */
void sk_ctl_quorum_changed(struct sk_broker *ctl);

/* A flush of the quorum's log failed (err): the log is offline, as after
 * any failed fdatasync, so the batches in flight fail with
 * KAFKA_STORAGE_ERROR, are cut from the log and rolled back, and no change
 * is taken until a restart. */
void sk_ctl_quorum_failed(struct sk_broker *ctl, int err);

/* Whether n's controller is the quorum's active one: leader, with
 * everything up to its epoch's start applied. */
bool sk_ctl_quorum_active(const struct sk_node *n);

/* Whether n's controller decides changes: the active one of its quorum, or
 * a controller bound to no quorum (tools, unit tests). */
bool sk_ctl_decides(const struct sk_node *n);

/* The quorum's leader as the controller last heard it, -1 if none or no
 * quorum; any shard. */
int32_t sk_ctl_quorum_leader(const struct sk_node *n);

/* Batches submitted and not yet committed or failed. */
int sk_ctl_in_flight(const struct sk_node *n);

/* At stop, once the controller shard's reactor has closed every
 * connection: what is still in flight will not commit in this process (a
 * larger quorum may have lost its majority as the other nodes stopped), so
 * each batch fails with NOT_CONTROLLER and its done runs, letting the
 * requests parked on it go (Kafka's controller fails its pending events at
 * close). */
void sk_ctl_submit_abandon(struct sk_node *n);
/* Frees the submit state at shutdown, once the shard's reactor is gone;
 * batches still in flight are dropped without their done. */
void sk_ctl_submit_close(struct sk_node *n);

#endif
