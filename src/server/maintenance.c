/* Periodic partition work, as Kafka's LogManager schedules it: retention
 * (log.retention.check.interval.ms), time-based flushes of relaxed topics
 * (log.flush.scheduler.interval.ms, flush.ms) and the offset checkpoints
 * (log.flush.offset.checkpoint.interval.ms), and the expiry of idle
 * producers' state (producer.id.expiration.check.interval.ms).
 *
 * The checkpoints are node-wide files (skein/checkpoints.h): each shard
 * hands its lines to the node's writer and never waits. A failed write is
 * only logged: the files are recovery hints (a start with an older recovery
 * point recovers more of the log, nothing is lost), and the next period
 * writes the then current offsets anew. A shard with no partitions still
 * sends its (empty) lines, so those of partitions it no longer has go. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "skein/logging.h"
#include "skein/net.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "skein/producer_state.h"
#include "skein/timer.h"

struct sk_maint_task {
    struct sk_broker *b;
    int64_t interval_ms;
    void (*run)(struct sk_broker *b);
};

enum { NTASKS = 5 };

struct sk_maintenance {
    struct sk_maint_task tasks[NTASKS];
};

static void retention(struct sk_broker *b)
{
    int64_t now = sk_wall_ms();
    /* file.delete.delay.ms is a duration, as Kafka's scheduler runs it: on
     * the wall clock a jump back would keep deleted segments on disk for
     * as long as the jump, and a jump forward would remove them at once. */
    int64_t mono = (int64_t)sk_shard_now_ms(b->shard);
    for (int i = 0; i < b->nparts; i++) {
        struct sk_partition *p = b->parts[i];
        /* Under steady acks=all load some fdatasync is nearly always in
         * flight, so the segments it holds are spared, not the partition. */
        int n = sk_plog_retention(p->log, now, sk_partition_retention_limit(p));
        if (n > 0)
            sk_info("%s-%d: retention deleted %d segment(s), log start offset now %lld",
                    p->topic, p->id, n, (long long)sk_plog_log_start_offset(p->log));
        sk_plog_purge_deleted(p->log, mono);
    }
}

static void flush_due(struct sk_broker *b)
{
    int64_t now = sk_wall_ms();
    for (int i = 0; i < b->nparts; i++) {
        struct sk_partition *p = b->parts[i];
        if (p->relaxed && !p->flush_in_flight && sk_plog_flush_due(p->log, now))
            sk_partition_flush_async(p);
    }
}

static void checkpoint(struct sk_broker *b, enum sk_checkpoint_kind k, int64_t every_ms)
{
    int rc = sk_partitions_checkpoint(b, k, NULL, NULL);
    if (rc < 0)
        sk_warn("cannot hand over this shard's offset checkpoint: %s; retried in %lld ms",
                strerror(-rc), (long long)every_ms);
}

void sk_maintenance_checkpoint(struct sk_broker *b)
{
    int64_t every = b->cfg->log.flush_offset_checkpoint_interval_ms;
    checkpoint(b, SK_CHECKPOINT_RECOVERY_POINT, every);
    checkpoint(b, SK_CHECKPOINT_LOG_START, every);
}

/* Kafka checkpoints high watermarks on a clock of their own, more often:
 * they bound what a restarted replica serves before its leader speaks. */
static void checkpoint_high_watermarks(struct sk_broker *b)
{
    checkpoint(b, SK_CHECKPOINT_HIGH_WATERMARK,
               b->cfg->log.replica_high_watermark_checkpoint_interval_ms);
}

static void expire_producers(struct sk_broker *b)
{
    int64_t now = sk_wall_ms();
    for (int i = 0; i < b->nparts; i++)
        sk_producer_expire(b->parts[i], now, b->cfg->txn.producer_id_expiration_ms);
}

static void tick(void *arg)
{
    struct sk_maint_task *t = arg;
    t->run(t->b);
    sk_timer_add(t->b->shard, (uint64_t)t->interval_ms, tick, t);
}

/* Kafka's "never" for the flush scheduler is Long.MAX_VALUE; a relaxed topic
 * with flush.ms still needs someone to look, so check at least every second. */
#define SK_FLUSH_CHECK_MAX_MS 1000

int sk_maintenance_init(struct sk_broker *b)
{
    struct sk_maintenance *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    b->maintenance = m;
    return 0;
}

int sk_maintenance_start(struct sk_broker *b)
{
    if (sk_maintenance_init(b) < 0)
        return -1;
    struct sk_maint_task *tasks = ((struct sk_maintenance *)b->maintenance)->tasks;
    int64_t flush_every = b->cfg->log.flush_scheduler_interval_ms;
    if (flush_every <= 0 || flush_every > SK_FLUSH_CHECK_MAX_MS)
        flush_every = SK_FLUSH_CHECK_MAX_MS;
    tasks[0] = (struct sk_maint_task){b, b->cfg->log.retention_check_interval_ms, retention};
    tasks[1] = (struct sk_maint_task){b, flush_every, flush_due};
    tasks[2] = (struct sk_maint_task){b, b->cfg->log.flush_offset_checkpoint_interval_ms,
                                      sk_maintenance_checkpoint};
    tasks[3] = (struct sk_maint_task){b, b->cfg->txn.producer_id_expiration_check_ms,
                                      expire_producers};
    int64_t hw_every = b->cfg->log.replica_high_watermark_checkpoint_interval_ms;
    tasks[4] = (struct sk_maint_task){b, hw_every > 0 ? hw_every : 5000, checkpoint_high_watermarks};
    for (int i = 0; i < NTASKS; i++)
        if (!sk_timer_add(b->shard, (uint64_t)tasks[i].interval_ms, tick, &tasks[i]))
            return -1;
    return 0;
}

void sk_maintenance_stop(struct sk_broker *b)
{
    free(b->maintenance);
    b->maintenance = NULL;
}
