/* A follower's side of its log (Kafka's Partition.appendRecordsToFollowerOrFutureReplica
 * and truncateTo): the leader's batches written as they are, and the log cut
 * back where it diverged from the leader's. */
#include <string.h>

#include "replica_int.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/plog.h"
#include "skein/producer_state.h"
#include "skein/record.h"

/* Every batch whole, magic 2 and with the CRC it carries: the leader's
 * bytes go to disk untouched, so they are checked, not rewritten. */
static int16_t check_batches(const uint8_t *buf, size_t len)
{
    while (len > 0) {
        struct sk_batch_header h;
        if (sk_batch_header_read(buf, len, &h) < 0 || !sk_batch_crc_ok(buf, &h))
            return SK_ERR_CORRUPT_MESSAGE;
        buf += sk_batch_size(&h);
        len -= sk_batch_size(&h);
    }
    return SK_ERR_NONE;
}

/* The producer state follows the log, so a follower made leader still
 * catches an idempotent producer's duplicates. */
static void record_producers(struct sk_partition *p, const uint8_t *buf, size_t len, int64_t now)
{
    while (len > 0) {
        struct sk_batch_header h;
        if (sk_batch_header_read(buf, len, &h) < 0)
            return;
        sk_producer_update(p, &h, now);
        buf += sk_batch_size(&h);
        len -= sk_batch_size(&h);
    }
}

int16_t sk_partition_append_replica(struct sk_partition *p, const uint8_t *buf, size_t len)
{
    if (p->role != SK_REPLICA_FOLLOWER)
        return SK_ERR_NOT_LEADER_OR_FOLLOWER;
    if (sk_partition_sync_failed(p))
        return SK_ERR_KAFKA_STORAGE_ERROR;
    int16_t err = check_batches(buf, len);
    if (err != SK_ERR_NONE)
        return err;
    int64_t now = sk_wall_ms();
    struct sk_plog_append_info info;
    /* sk_plog_append refuses a first offset other than the log end and any
     * gap or overlap between batches: offsets are the leader's. */
    int rc = sk_plog_append(p->log, buf, len, now, &info);
    if (rc < 0)
        return sk_plog_err_to_kafka(rc);
    record_producers(p, buf, len, now);
    if (info.rolled && sk_producer_snapshot_async(p, &p->broker->syncer) < 0)
        sk_warn("%s-%d: cannot write a producer state snapshot", p->topic, p->id);
    if (!p->relaxed)
        sk_replica_mark_dirty(p);
    else if (sk_plog_flush_due(p->log, now) && !p->flush_in_flight)
        sk_partition_flush_async(p);
    return SK_ERR_NONE;
}

/* Kafka's AbstractFetcherThread.getOffsetTruncationState for a
 * DivergingEpoch answer: the leader's end of the largest epoch both logs
 * hold, capped by where that epoch ends here; an epoch the leader does not
 * know (-1) leaves nothing shared beyond the high watermark. */
int64_t sk_replica_truncation_offset(const struct sk_partition *p, int32_t leader_epoch,
                                     int64_t leader_end)
{
    int64_t end = sk_plog_log_end_offset(p->log);
    if (leader_epoch < 0 || leader_end < 0)
        return p->high_watermark < end ? p->high_watermark : end;
    int32_t epoch;
    int64_t ours;
    sk_plog_epoch_end_offset(p->log, leader_epoch, &epoch, &ours);
    int64_t to = leader_end;
    if (epoch >= 0 && ours >= 0 && ours < to)
        to = ours;
    return to < end ? to : end;
}

int16_t sk_partition_truncate_fully(struct sk_partition *p, int64_t offset)
{
    int rc = sk_plog_truncate_fully(p->log, offset, sk_wall_ms());
    if (rc < 0)
        return sk_plog_err_to_kafka(rc);
    sk_producer_state_free(p);
    sk_producer_state_load(p);
    p->high_watermark = offset;
    return SK_ERR_NONE;
}

int16_t sk_partition_truncate(struct sk_partition *p, int64_t offset)
{
    if (offset >= sk_plog_log_end_offset(p->log))
        return SK_ERR_NONE;
    if (offset < p->high_watermark)
        sk_warn("%s-%d: truncating to %lld, below the high watermark %lld", p->topic, p->id,
                (long long)offset, (long long)p->high_watermark);
    int rc = sk_plog_truncate_to(p->log, offset);
    if (rc < 0)
        return sk_plog_err_to_kafka(rc);
    /* What the cut batches told of their producers is rebuilt from the log. */
    sk_producer_state_free(p);
    sk_producer_state_load(p);
    int64_t end = sk_plog_log_end_offset(p->log);
    if (p->high_watermark > end)
        p->high_watermark = end;
    return SK_ERR_NONE;
}
