/* What the files of src/replica/ share and nothing outside them sees. */
#ifndef SKEIN_REPLICA_INT_H
#define SKEIN_REPLICA_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "skein/partition.h"

/* table.c: the shard's partitions by (name, index) and by (id, index). */
int sk_replica_table_add(struct sk_broker *b, struct sk_partition *p);
void sk_replica_table_remove(struct sk_broker *b, struct sk_partition *p);
void sk_replica_table_free(struct sk_broker *b);

/* waiters.c: acks=all producers waiting for the durable offset. */
void sk_replica_complete_waiters(struct sk_partition *p);
void sk_replica_fail_waiters(struct sk_partition *p, int16_t err);
/* Whether a producer waits past `offset` (a second sync would help it). */
bool sk_replica_waiting_past(const struct sk_partition *p, int64_t offset);
/* The high watermark rose: every fetch watching p is called. */
void sk_replica_wake_hw_waiters(struct sk_partition *p);
/* The partition goes away: fetches stop watching it. */
void sk_replica_detach_hw_waiters(struct sk_partition *p);

/* hwm.c: applies the high watermark rule after the log or the durable offset
 * moved, waking the fetches watching the partition if it rose. */
void sk_replica_update_hw(struct sk_partition *p);
/* The leader appended: the rule above, and parked fetches (followers'
 * among them) woken even if the high watermark stayed. */
void sk_replica_log_grew(struct sk_partition *p);
/* What survives a crash: acks=all waits for it. */
int64_t sk_replica_durable_offset(const struct sk_partition *p);

/* isr.c: the in-sync set and followers from the image's partition (self
 * left out); known follower log ends kept. -1 out of memory. */
struct sk_partition_meta;
int sk_replica_set_replicas(struct sk_partition *p, const struct sk_partition_meta *pm,
                            int32_t self);
void sk_replica_clear_replicas(struct sk_partition *p);
/* A follower made leader knows nothing of the others until they fetch. */
void sk_replica_forget_followers(struct sk_partition *p);
bool sk_replica_in_isr(const struct sk_partition *p, int32_t id);
/* The least log end over the ISR, the leader's own included; -1 while an
 * in-sync follower has not fetched yet. */
int64_t sk_replica_isr_end(const struct sk_partition *p);
/* min.insync.replicas as it applies to p: at most its replica count. */
int32_t sk_replica_min_isr(const struct sk_partition *p);
/* What a waiting acks=all hears once the ISR has its records. */
int16_t sk_replica_after_append_error(const struct sk_partition *p);
/* Below this acks=all is answered: durable here and, with followers, below
 * the high watermark. */
int64_t sk_replica_ack_offset(const struct sk_partition *p);

/* isr.c: the maximal ISR (committed plus a pending change) and its size. */
bool sk_replica_in_maximal_isr(const struct sk_partition *p, int32_t id);
int32_t sk_replica_maximal_isr_size(const struct sk_partition *p);
/* Forgets a pending ISR change (its answer, if one comes, is ignored). */
void sk_replica_isr_drop_pending(struct sk_partition *p);

/* alter_partition.c: looks at p's ISR now (after a fetch of a follower out
 * of it) and sends the change it wants, if any. */
void sk_replica_isr_check(struct sk_partition *p, int64_t now_ms);

/* follower.c: where a follower cuts its log after a DivergingEpoch answer
 * (the leader's largest shared epoch and its end there). */
int64_t sk_replica_truncation_offset(const struct sk_partition *p, int32_t leader_epoch,
                                     int64_t leader_end);

/* lifecycle.c: a partition left without a host while its sync ran is closed
 * (or deleted) once the sync ends. p may be freed. */
void sk_replica_close_if_unhosted(struct sk_partition *p);
/* durability.c: takes p out of the shard's group commit list. */
void sk_replica_unmark_dirty(struct sk_partition *p);

/* durability.c: queues the partition for the shard's next group commit. */
void sk_replica_mark_dirty(struct sk_partition *p);
/* Counts a failed sync once and takes the partition offline; recorded: the
 * log already knows (a blocking flush records its own failure). */
void sk_replica_note_sync_failed(struct sk_partition *p, int err, bool recorded);

/* durability.c: the reactor's calls, or b->replica_io's. */
int sk_replica_io_fsync(struct sk_broker *b, int fd, sk_fsync_fn cb, void *arg);
int sk_replica_io_defer(struct sk_broker *b, sk_defer_fn cb, void *arg);
sk_timer_id sk_replica_io_timer_add(struct sk_broker *b, uint64_t ms, sk_timer_fn cb, void *arg);
void sk_replica_io_timer_cancel(struct sk_broker *b, sk_timer_id id);

/* durability.c: from this many partitions wanting a sync in one group
 * commit on, one syncfs of the log dir's file system replaces their
 * fdatasyncs: N fdatasyncs cost N syscalls, N io-wq wake-ups and N journal
 * commits (without a journal, N inode writes and N device cache flushes),
 * one syncfs one of each. Below it the per-file syncs stay, unless the
 * shard is in the syncfs regime (group_commit): syncfs also writes back
 * whatever else on the file system is dirty, which one partition's sync
 * need not wait for when the load is light. syncfs has the kernel's flusher
 * threads write the pages, so part of the saving in the broker's CPU is
 * spent there (bench/results/2026-12-04-b61912b-scale.md). */
#define SK_SYNCFS_MIN_PARTITIONS 4

/* durability.c: the shard's syncfs thread, started before its first
 * partition opens and stopped (its syncs completed) before they close. */
void sk_replica_fs_syncer_open(struct sk_broker *b);
void sk_replica_fs_syncer_close(struct sk_broker *b);

/* Where the oldest running sync started, or -1: its segments' fds are held. */
int64_t sk_replica_oldest_sync_start(const struct sk_partition *p);

#endif
