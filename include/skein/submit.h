/* The asynchronous commit: a controller change is appended to the metadata
 * log at once and committed when its fdatasync (on the controller shard's
 * ring) completes, so no shard waits in fsync for it.
 *
 * The node's image is the controller's working state: every batch appended,
 * committed or not, so the next change is checked against the changes still
 * in flight. The last committed image is kept beside it to roll back to. */
#ifndef SKEIN_SUBMIT_H
#define SKEIN_SUBMIT_H

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

/* Batches submitted and not yet committed or failed. */
int sk_ctl_in_flight(const struct sk_node *n);

/* Frees the submit state at shutdown, once the shard's reactor is gone;
 * batches still in flight are dropped without their done. */
void sk_ctl_submit_close(struct sk_node *n);

#endif
