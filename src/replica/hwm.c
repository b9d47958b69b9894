/* The high watermark: the offset below which consumers read and ListOffsets
 * answers. Kafka's rule is the minimum log end of the in-sync replicas, and
 * it never goes back; with one replica, the leader alone, that is its own
 * log end. Skein moves it at the append, not at the fdatasync, in both
 * durability modes: consumers and ListOffsets see what acks=1 producers were
 * told is written, as in Kafka. acks=all waits for the durable offset and
 * the high watermark both (waiters.c). */
#include "replica_int.h"
#include "skein/plog.h"

int64_t sk_replica_durable_offset(const struct sk_partition *p)
{
    return p->relaxed ? sk_plog_log_end_offset(p->log) : sk_plog_recovery_point(p->log);
}

int64_t sk_replica_ack_offset(const struct sk_partition *p)
{
    int64_t durable = sk_replica_durable_offset(p);
    return durable < p->high_watermark ? durable : p->high_watermark;
}

void sk_replica_update_hw(struct sk_partition *p)
{
    /* A follower takes its high watermark from its leader's answers. An
     * ISR smaller than min.insync.replicas commits nothing more (Kafka's
     * maybeIncrementLeaderHW since 3.7): records on fewer replicas than that
     * are not shown to consumers as written, acks=1 ones included. */
    if (p->role != SK_REPLICA_LEADER || p->nisr < sk_replica_min_isr(p))
        return;
    int64_t hw = sk_replica_isr_end(p);
    if (hw <= p->high_watermark)
        return;
    p->high_watermark = hw;
    sk_replica_complete_waiters(p);
    sk_replica_wake_hw_waiters(p);
}

/* Kafka completes delayed follower fetches on each append: with followers
 * the high watermark waits for their next fetch, and the fetch parked here
 * must get the new records now rather than at its max wait. */
void sk_replica_log_grew(struct sk_partition *p)
{
    int64_t before = p->high_watermark;
    sk_replica_update_hw(p);
    if (p->high_watermark == before && p->nfollowers > 0)
        sk_replica_wake_hw_waiters(p);
}

/* Syncs start at the segment holding the recovery point of their start, and
 * the oldest running one started lowest (the point only moves up). */
int64_t sk_partition_retention_limit(const struct sk_partition *p)
{
    int64_t oldest_sync = sk_replica_oldest_sync_start(p);
    if (oldest_sync >= 0 && oldest_sync < p->high_watermark)
        return oldest_sync;
    return p->high_watermark;
}
