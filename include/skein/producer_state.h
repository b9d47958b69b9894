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

/* Checks a batch against the producer's state. Returns SK_ERR_NONE to append,
 * SK_ERR_DUPLICATE_SEQUENCE_NUMBER with *dup_base set when the batch was
 * already appended (answer success with that offset, as Kafka does), or
 * INVALID_PRODUCER_EPOCH / OUT_OF_ORDER_SEQUENCE_NUMBER. */
int16_t sk_producer_check(struct sk_partition *p, const struct sk_batch_header *h,
                          int64_t *dup_base);
/* Records an appended batch (its header carries the assigned base offset). */
void sk_producer_update(struct sk_partition *p, const struct sk_batch_header *h, int64_t now_ms);

void sk_producer_state_load(struct sk_partition *p);
int sk_producer_state_snapshot(struct sk_partition *p);
/* Same; without sync the file is not fdatasynced (the caller syncs the file
 * system once for many: a snapshot lost to a crash is rebuilt from the log). */
int sk_producer_state_snapshot_ex(struct sk_partition *p, bool sync);
void sk_producer_state_free(struct sk_partition *p);
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
