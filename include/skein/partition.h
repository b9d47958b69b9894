/* Partitions this broker hosts, as leader or follower: their logs, high watermarks, durability and
 * the requests waiting on them.
 *
 * Durability model (DESIGN.md: "durable by default"): an append goes to the
 * page cache at once and, as in Kafka with a single replica, moves the high
 * watermark to the log end: consumers see it and acks=1 is answered. In the
 * default mode the partition also joins the shard's group commit: once per
 * loop iteration every partition with unflushed data gets one io_uring
 * fdatasync; when it completes the recovery point moves and acks=all
 * producers waiting below it are answered. So nothing acknowledged to an
 * acks=all producer is ever lost. A topic with flush.messages or flush.ms
 * set (or the log.flush.* broker defaults) is in relaxed mode, as in Kafka:
 * acks=all is answered after the append, and the log is flushed when the
 * settings say so. */
#ifndef SKEIN_PARTITION_H
#define SKEIN_PARTITION_H

#include <stdbool.h>
#include <stdint.h>

#include "kp_rt.h"
#include "skein/broker.h"
#include "skein/checkpoints.h"
#include "skein/config.h"
#include "skein/net-t.h"

struct sk_plog;
struct sk_partition;
struct sk_producer_state;
struct sk_sync_op;
struct sk_waiter;

/* Called when everything below `offset` is durable (err 0), or with a Kafka
 * error code if the data cannot be made durable. */
typedef void (*sk_durable_fn)(void *arg, int16_t err);

/* A fetch watching a partition's high watermark (sk_partition_watch_hw). The
 * watcher owns the memory; the list is circular so that unwatching needs no
 * list head and is safe from inside a wake-up. */
struct sk_hw_waiter {
    struct sk_hw_waiter *prev, *next;
    void (*fn)(void *arg, struct sk_partition *p);
    void *arg;
};

/* Every replica of a partition hosts its log; one leads (src/replica/). */
enum sk_replica_role { SK_REPLICA_LEADER, SK_REPLICA_FOLLOWER };

/* Another replica as the leader sees it (Kafka's Replica state): what its
 * fetches said it holds. */
struct sk_follower {
    int32_t id;
    int64_t log_end;      /* -1 until its first fetch */
    int64_t caught_up_ms; /* last fetch that reached the leader's end; -1 never */
    /* Kafka's lastFetchLeaderLogEndOffset and lastFetchTimeMs: a fetch that
     * reaches where the leader ended at the previous fetch shows the follower
     * was caught up then, so a steady stream of appends never makes a
     * keeping-up follower look behind. */
    int64_t last_fetch_leader_end;
    int64_t last_fetch_ms;
    /* The broker epoch its last fetch named (KIP-903's ReplicaState
     * ReplicaEpoch; -1 from a fetch without one): the registration whose log
     * the fetch state describes. */
    int64_t broker_epoch;
};

/* How the durability pipeline reaches the reactor: fdatasyncs, the deferred
 * group commit and the fd-exhaustion retry timer. A shard with none set
 * (b->replica_io NULL) uses its own reactor and its syncfs thread; tests
 * substitute one that completes syncs in any order, fails them, and fires
 * timers at will. syncfs (may be NULL: never used) syncs the log dir's
 * whole file system, cb(arg, 0 or -errno) once done. */
struct sk_replica_io {
    int (*fsync)(void *ctx, int fd, sk_fsync_fn cb, void *arg);
    int (*defer)(void *ctx, sk_defer_fn cb, void *arg);
    sk_timer_id (*timer_add)(void *ctx, uint64_t ms, sk_timer_fn cb, void *arg);
    void (*timer_cancel)(void *ctx, sk_timer_id id);
    void *ctx;
    int (*syncfs)(void *ctx, sk_fsync_fn cb, void *arg);
};

/* Not a Kafka error code: the partition belongs to another shard of this
 * node; the request goes to sk_partition_owner_shard() instead. */
#define SK_PARTITION_OTHER_SHARD INT16_MIN

struct sk_partition {
    char *topic;
    int32_t topic_hash; /* Java's String.hashCode of topic: which replica fetcher serves it */
    kp_uuid topic_id;
    int32_t id;
    int32_t leader_epoch;
    struct sk_plog *log;
    struct sk_topic_config cfg;
    bool relaxed;            /* flush.* set: no fsync before acks/visibility */
    int64_t high_watermark;  /* consumers read below this */
    bool flush_queued;       /* in the shard's group commit list */
    bool flush_in_flight;    /* a sync runs, or waits for fds (sync_retry) */
    struct sk_sync_op *syncs, *syncs_tail; /* in flight, oldest first */
    int nsyncs;
    sk_timer_id sync_retry;  /* a sync waiting for fds to free up */
    struct sk_waiter *waiters; /* durable-offset waiters, ordered by offset */
    struct sk_waiter *waiters_tail;
    struct sk_producer_state *producers; /* idempotence state, owned by txn/ */
    struct sk_atomic_writer *snapshots;  /* producer snapshots in flight (txn/) */
    struct sk_broker *broker;
    struct sk_partition *next_dirty;
    enum sk_replica_role role;
    /* The image's in-sync set and the other replicas (isr.c). */
    int32_t *isr;
    int32_t nisr;
    struct sk_follower *followers;
    int32_t nfollowers;
    int32_t partition_epoch;    /* of the ISR above (image or AlterPartition answer) */
    bool recovering;            /* KIP-704: led after an unclean election, not yet marked */
    int64_t epoch_start_offset; /* log end when this leadership began */
    /* An ISR change sent to the controller and not yet answered (Kafka's
     * PendingExpandIsr / PendingShrinkIsr): the high watermark counts the
     * union of both sets meanwhile (KIP-497's maximal ISR). */
    int32_t *pending_isr;
    int32_t npending;
    bool isr_pending;
    uint32_t isr_gen;           /* bumped whenever a pending change is dropped */
    struct sk_hw_waiter hw_waiters; /* fetches parked on this partition */
    int slot;                       /* in broker->parts */
    bool marked;                    /* a full reconciliation found it in the image */
    bool unhosted;                  /* to close once its sync ends */
    /* The topic's throttled-replicas lists name this replica (skein/repl_quota.h). */
    bool throttle_leader, throttle_follower;
    /* Follower: the leader's last high watermark was within this log
     * (Kafka's PartitionFetchState.isReplicaInSync); a follower catching
     * up is the one a throttle holds back. */
    bool fetch_in_sync;
    struct sk_partition *hnext_name, *hnext_id; /* hash chains (src/replica/table.c) */
};

/* Opens logs for every partition of this shard the image says this node
 * is a replica of (leader or follower), applies topic configs, and closes (and deletes the data of)
 * partitions whose topic was removed: O(partitions) with hash lookups. Called
 * for a shard's first image and by the retry of logs that did not open; later
 * images come as topic deltas (sk_broker_image_changed). On its shard's
 * running loop a pass opens logs for SK_OPEN_SLICE_MS at most (lifecycle.c):
 * -EAGAIN says some were left for a later turn, -EIO that some failed. */
int sk_partitions_sync(struct sk_broker *b);
/* Around the topics of one image change: the offset checkpoint files are
 * read once for all the partitions it opens, not once per topic (a node
 * restarted with thousands hosted would otherwise parse them thousands of
 * times on its shard thread, O(hosted^2)). */
void sk_replicas_change_begin(struct sk_broker *b);
void sk_replicas_change_end(struct sk_broker *b);
/* One topic changed (created: old NULL; deleted: new NULL; partitions added,
 * configs or leaders changed): costs O(the topic's partitions), whatever the
 * node hosts. The image must already be the new one. */
int sk_replicas_topic_changed(struct sk_broker *b, const struct sk_topic_meta *old,
                              const struct sk_topic_meta *new);
/* Broker-level configs changed: every partition's topic config is derived
 * again (the topic overrides stay). */
int sk_replicas_broker_config_changed(struct sk_broker *b);
/* Same, for the retries, which report counts only, not a line per partition
 * that stays offline: SK_SYNC_QUIET the whole pass, SK_SYNC_OPEN_MISSING only
 * the logs not open yet (those a turn left for later, and failed ones). */
enum sk_sync_mode { SK_SYNC_ALL, SK_SYNC_QUIET, SK_SYNC_OPEN_MISSING };
int sk_partitions_sync_ex(struct sk_broker *b, enum sk_sync_mode mode);
/* True if this node leads partition index of t and its log is among those
 * a later turn opens (the turn's time for opens ran out). */
bool sk_partition_opening(struct sk_broker *b, const struct sk_topic_meta *t, int32_t index);
/* True if this node leads partition index of t but its log is not open (it
 * could not be opened, or is beyond the node's budget), or a failed sync took
 * it offline. */
bool sk_partition_offline(struct sk_broker *b, const struct sk_topic_meta *t, int32_t index);
void sk_partitions_close_all(struct sk_broker *b);
/* Hands this shard's lines of the recovery-point or log-start-offset
 * checkpoint to the node's writer (skein/checkpoints.h); done (may be NULL)
 * runs here once the file holding them is durable. 0, or -errno (done does
 * not run). */
int sk_partitions_checkpoint(struct sk_broker *b, enum sk_checkpoint_kind kind,
                             sk_checkpoint_done_fn done, void *arg);

/* O(1): this shard's open partition, or NULL (also for one another shard
 * owns). */
struct sk_partition *sk_partition_get(struct sk_broker *b, kp_str topic, int32_t id);
struct sk_partition *sk_partition_get_by_id(struct sk_broker *b, const kp_uuid *topic_id,
                                            int32_t id);
/* The shard of this node that owns (topic, index), and whether it is b's. */
int sk_partition_owner_shard(const struct sk_broker *b, kp_str topic, int32_t index);
bool sk_partition_is_mine(const struct sk_broker *b, kp_str topic, int32_t index);

/* A failed sync took the partition's log offline (sk_plog_sync_failed): it
 * takes no appends, serves no reads and acknowledges nothing until restart. */
bool sk_partition_sync_failed(const struct sk_partition *p);
/* A client's view: UNKNOWN_TOPIC_OR_PARTITION for what the image lacks,
 * NOT_LEADER_OR_FOLLOWER for what this node does not lead, KAFKA_STORAGE_ERROR
 * for an offline partition, and with client_write INVALID_TOPIC_EXCEPTION for
 * internal topics. SK_PARTITION_OTHER_SHARD when another shard of this node
 * owns it. */
struct sk_partition *sk_partition_lookup(struct sk_broker *b, kp_str topic, int32_t index,
                                         bool client_write, int16_t *err);
/* A client's current_leader_epoch against ours (KIP-320): -1 skips the check;
 * older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH. */
int16_t sk_partition_check_epoch(const struct sk_partition *p, int32_t current_leader_epoch);

/* Appends validated batches (base offsets not yet assigned: the partition
 * assigns them, rewriting each batch header in place) and returns the first
 * offset in *base. Marks the partition for the group commit. Returns a Kafka
 * error code. */
int16_t sk_partition_append(struct sk_partition *p, uint8_t *batches, size_t len, int64_t *base,
                            int64_t *log_append_time);

/* Calls cb once everything below `offset` is durable (at once in relaxed
 * mode) and, with other in-sync replicas, below the high watermark: the
 * error is then NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
 * min.insync.replicas meanwhile, as Kafka answers acks=all. */
void sk_partition_when_durable(struct sk_partition *p, int64_t offset, sk_durable_fn cb,
                               void *arg);

/* acks=all refused before the append (NOT_ENOUGH_REPLICAS) when the ISR is
 * smaller than the topic's min.insync.replicas; any other acks passes. */
int16_t sk_partition_check_min_isr(const struct sk_partition *p, int16_t acks);

/* KIP-392: the in-sync follower in the consumer's rack (rack: bytes, not a
 * C string) that a leader points a Fetch v11+ at, the longest log first;
 * -1 to read here (not led here, no rack, the leader in that rack, or no
 * follower there that holds fetch_offset). */
struct sk_meta_image;
int32_t sk_partition_read_replica(const struct sk_partition *p, const struct sk_meta_image *img,
                                  const uint8_t *rack, size_t rack_len, int64_t fetch_offset);

/* Whether replica_id is one of p's replicas other than this node. */
bool sk_partition_is_follower(const struct sk_partition *p, int32_t replica_id);
/* Whether replica_id is in the partition's ISR (the image's). */
bool sk_partition_in_isr(const struct sk_partition *p, int32_t replica_id);

/* A follower's fetch as the leader hears it: who, the broker epoch the
 * fetch names (-1: none), the epoch the leader's image registers for that
 * broker while unfenced (-1: fenced or unknown), and where it fetches. */
struct sk_follower_fetch {
    int32_t replica_id;
    int64_t broker_epoch;
    int64_t registered_epoch;
    int64_t fetch_offset;
};

/* The leader hears a follower's fetch: its log end is recorded and the
 * high watermark moves if the ISR now allows (waking fetches and acks=all
 * producers). NOT_LEADER_OR_FOLLOWER when p is not led here, replica_id is
 * not one of its followers, or the fetch comes from an older registration
 * of that broker than the image holds (Kafka's stale fetch state: the
 * process that held that log is gone). */
int16_t sk_partition_follower_fetched(struct sk_partition *p, const struct sk_follower_fetch *ff,
                                      int64_t now_ms);

/* Whether the controller could take broker id into an ISR (KIP-841:
 * registered, unfenced, not shutting down; KIP-903: fetch_epoch, the epoch
 * its fetches named, is the registration the image holds, or -1), as the
 * leader's image says. */
typedef bool (*sk_replica_eligible_fn)(void *arg, int32_t id, int64_t fetch_epoch);
/* The ISR the leader of p wants now, as Kafka's Partition decides it: the
 * ISR without the followers that have not reached the leader's log end for
 * lag_ms (replica.lag.time.max.ms), or, when none has fallen behind, with
 * the eligible followers not in it that reached the high watermark and the
 * start of this leadership. Written to out (room for every replica);
 * returns its size, 0 when no change is wanted or one is pending. */
int32_t sk_replica_isr_proposal(struct sk_partition *p, int64_t now_ms, int64_t lag_ms,
                                sk_replica_eligible_fn eligible, void *arg, int32_t *out);
/* isr becomes p's pending change: the high watermark counts the union of
 * it and the committed ISR until an answer or a newer image. */
void sk_replica_isr_propose(struct sk_partition *p, const int32_t *isr, int32_t n);
/* The controller committed isr at partition_epoch: p takes it (unless its
 * leader epoch moved or its ISR is newer already), its high watermark and
 * acks=all producers follow. The pending change is dropped either way.
 * 0, or -1 out of memory. */
int sk_replica_isr_committed(struct sk_partition *p, int32_t leader_epoch,
                             int32_t partition_epoch, const int32_t *isr, int32_t n);
/* A follower's append of its leader's batches as they are: each whole,
 * with its CRC, continuing the log's offsets; nothing is assigned. The
 * producer state and the epoch cache follow; the data joins the group
 * commit. A Kafka error code. */
int16_t sk_partition_append_replica(struct sk_partition *p, const uint8_t *buf, size_t len);
/* Drops everything at and past offset (a follower whose log diverged);
 * producer state is rebuilt, the high watermark capped at the new end. */
int16_t sk_partition_truncate(struct sk_partition *p, int64_t offset);
/* Drops the whole log and starts it empty at offset (a follower whose
 * leader no longer holds what it lacks). */
int16_t sk_partition_truncate_fully(struct sk_partition *p, int64_t offset);

/* The shard's replica fetchers (src/replica/fetcher.c), started with its
 * state and stopped before its partitions close. 0 or -ENOMEM. */
int sk_replica_fetchers_start(struct sk_broker *b);
void sk_replica_fetchers_stop(struct sk_broker *b);

/* The shard's AlterPartition sender (src/replica/alter_partition.c): checks
 * its led partitions' ISR every replica.lag.time.max.ms / 2 and sends the
 * changes to the active controller. Only in a multi-voter quorum. 0 or
 * -ENOMEM. */
int sk_replica_isr_sender_start(struct sk_broker *b);
void sk_replica_isr_sender_stop(struct sk_broker *b);
/* Retention may delete the segments wholly below this offset: the high
 * watermark, or lower where a running fdatasync still holds segment fds. */
int64_t sk_partition_retention_limit(const struct sk_partition *p);

/* Starts an fdatasync of the partition's unflushed data (relaxed topics
 * whose flush.ms or flush.messages is due). */
void sk_partition_flush_async(struct sk_partition *p);

/* Periodic retention, flushes and checkpoints on the broker's shard. */
int sk_maintenance_start(struct sk_broker *b);
void sk_maintenance_stop(struct sk_broker *b);
/* Their state without the timers, for driving a task by hand (tests). */
int sk_maintenance_init(struct sk_broker *b);
/* The checkpoint task: this shard's lines of both offset checkpoints handed
 * to the node's writer, not waited for; a failure is logged and the next
 * period retries. */
void sk_maintenance_checkpoint(struct sk_broker *b);
/* Compaction of cleanup.policy=compact partitions (log.cleaner.enable). */
int sk_log_cleaner_start(struct sk_broker *b);
void sk_log_cleaner_stop(struct sk_broker *b);

/* w->fn(w->arg, p) runs each time p's high watermark moves, until
 * sk_partition_unwatch_hw(w) (which is a no-op if the partition went away
 * meanwhile). A wake-up may unwatch any watcher, itself included. */
void sk_partition_watch_hw(struct sk_partition *p, struct sk_hw_waiter *w,
                           void (*fn)(void *arg, struct sk_partition *p), void *arg);
void sk_partition_unwatch_hw(struct sk_hw_waiter *w);

/* Milliseconds of wall time, as Kafka timestamps are. */
int64_t sk_wall_ms(void);

#endif
