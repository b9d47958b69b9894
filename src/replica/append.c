/* The leader's append: offsets and the leader epoch assigned to the batches,
 * the log written, the producer state updated, then the high watermark rule
 * and the durability pipeline told. */
#include <string.h>
#include <time.h>

#include "replica_int.h"
#include "skein/errors.h"
#include "skein/logging.h"
#include "skein/plog.h"
#include "skein/producer_state.h"
#include "skein/record.h"

int64_t sk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Walks the batches of an append; with base >= 0 it assigns offsets and the
 * leader epoch, otherwise it records them in the producer state. */
static void for_batches(struct sk_partition *p, uint8_t *buf, size_t len, int64_t base,
                        int64_t now)
{
    int64_t next = base;
    while (len >= SK_BATCH_HEADER_SIZE) {
        struct sk_batch_header h;
        if (sk_batch_header_read(buf, len, &h) < 0)
            return;
        if (base >= 0) {
            sk_batch_set_base_offset(buf, next);
            sk_batch_set_leader_epoch(buf, p->leader_epoch);
            next += h.last_offset_delta + 1;
        } else {
            sk_producer_update(p, &h, now);
        }
        buf += sk_batch_size(&h);
        len -= sk_batch_size(&h);
    }
}

int16_t sk_partition_append(struct sk_partition *p, uint8_t *batches, size_t len, int64_t *base,
                            int64_t *log_append_time)
{
    int64_t now = sk_wall_ms();
    *base = sk_plog_next_offset(p->log);
    for_batches(p, batches, len, *base, now);
    struct sk_plog_append_info info;
    int rc = sk_plog_append(p->log, batches, len, now, &info);
    if (rc < 0) {
        sk_warn("append to %s-%d failed: %s", p->topic, p->id, strerror(-rc));
        return sk_plog_err_to_kafka(rc);
    }
    for_batches(p, batches, len, -1, now);
    /* A snapshot per segment bounds the scan that rebuilds producer state
     * after a crash to the active segment, as in Kafka. */
    if (info.rolled && sk_producer_snapshot_async(p, &p->broker->syncer) < 0)
        sk_warn("%s-%d: cannot write a producer state snapshot", p->topic, p->id);
    if (log_append_time)
        *log_append_time = p->cfg.timestamp_type == SK_TIMESTAMP_LOG_APPEND_TIME ? now : -1;
    sk_replica_log_grew(p);
    if (!p->relaxed) {
        sk_replica_mark_dirty(p);
        return SK_ERR_NONE;
    }
    sk_replica_complete_waiters(p);
    if (sk_plog_flush_due(p->log, now) && !p->flush_in_flight)
        sk_partition_flush_async(p);
    return SK_ERR_NONE;
}

int16_t sk_partition_check_epoch(const struct sk_partition *p, int32_t current_leader_epoch)
{
    if (current_leader_epoch < 0 || current_leader_epoch == p->leader_epoch)
        return SK_ERR_NONE;
    return current_leader_epoch < p->leader_epoch ? SK_ERR_FENCED_LEADER_EPOCH
                                                  : SK_ERR_UNKNOWN_LEADER_EPOCH;
}
