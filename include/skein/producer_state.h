/* Idempotent producers: per partition, each producer id's epoch and the
 * sequence ranges of its last five batches, so a retried batch is answered
 * with its original offset and a gap is refused.
 *
 * State survives restarts as Kafka does it: a snapshot file
 * <20-digit offset>.snapshot beside the segments (written when a segment
 * rolls and at clean shutdown), plus a scan of the batches after it. */
#ifndef SKEIN_PRODUCER_STATE_H
#define SKEIN_PRODUCER_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "skein/record.h"

struct sk_partition;

#define SK_PRODUCER_BATCHES_KEPT 5
/* skein.max.producers.per.partition's default, used without a broker. */
#define SK_PRODUCERS_PER_PARTITION_DEFAULT 10000

/* Checks a batch against the producer's state. Returns SK_ERR_NONE to append,
 * SK_ERR_DUPLICATE_SEQUENCE_NUMBER with *dup_base set when the batch was
 * already appended (answer success with that offset, as Kafka does), or
 * INVALID_PRODUCER_EPOCH / OUT_OF_ORDER_SEQUENCE_NUMBER. */
int16_t sk_producer_check(struct sk_partition *p, const struct sk_batch_header *h,
                          int64_t *dup_base);
/* Records an appended batch (its header carries the assigned base offset). */
void sk_producer_update(struct sk_partition *p, const struct sk_batch_header *h, int64_t now_ms);

void sk_producer_state_load(struct sk_partition *p);
/* Writes and syncs a snapshot of the producers at the log end offset. */
int sk_producer_state_snapshot(struct sk_partition *p);
/* The same without waiting: the snapshot is written and synced through
 * syncer (NULL: blocking) in the background; a failure is logged. */
struct sk_syncer;
int sk_producer_snapshot_async(struct sk_partition *p, const struct sk_syncer *syncer);
/* The same in two steps, for many partitions at once: the file is written to
 * <name>.tmp (synced if sync), its fd left open in sw for the caller to sync,
 * then commit renames it into place. fd is -1 when there was nothing to write. */
struct sk_snapshot_write {
    int fd;
    char path[4400], tmp[4420];
};
int sk_producer_snapshot_write(struct sk_partition *p, struct sk_snapshot_write *sw, bool sync);
int sk_producer_snapshot_commit(struct sk_snapshot_write *sw);
void sk_producer_state_free(struct sk_partition *p);
/* Kafka's removeExpiredProducers: drops producers whose last batch's
 * timestamp is expiration_ms or more before now_ms. Returns how many. */
int sk_producer_expire(struct sk_partition *p, int64_t now_ms, int64_t expiration_ms);
/* Number of producers with state on the partition (DescribeProducers). */
int sk_producer_count(const struct sk_partition *p);

struct sk_producer_info {
    int64_t producer_id;
    int16_t epoch;
    int32_t last_sequence;
    int64_t last_timestamp;
    int64_t last_offset;
};
/* i-th producer; 0 or -1 past the end. */
int sk_producer_at(const struct sk_partition *p, int i, struct sk_producer_info *out);

#endif
