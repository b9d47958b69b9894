/* The leader epoch cache and its leader-epoch-checkpoint file: for each leader
 * epoch, the first offset written in it. Followers use it to find where their log
 * diverges from the leader's (OffsetForLeaderEpoch). Entries increase in both
 * epoch and start offset.
 *
 * File: "0\n<count>\n<epoch> <startOffset>\n..." written atomically on change.
 * Epoch changes are rare (one per leader election), so the blocking write is not
 * on the path of ordinary appends; and recovery re-derives the epochs of every
 * batch it scans, so a checkpoint that is behind heals on the next load.
 *
 * The exception is a log whose file on disk was never made durable (a new
 * partition's first epoch): every entry then describes data above the recovery
 * point, which recovery re-derives, so the file is written without fsync and
 * synced with that data by the log's next sync (as Kafka does since 3.7 for all
 * writes). Ten thousand new partitions would otherwise block the shard on
 * twenty thousand fsyncs at their first appends. Such a file torn by a crash
 * (empty or zeros) loads as an empty cache.
 *
 * Durable rewrites go through the log's syncer (the shard's ring) when it
 * has one and are not waited for: the append or the flush that changed the
 * epochs goes on. One that fails leaves the cache dirty, so the next flush
 * writes it again; until then the older file stays, which recovery corrects
 * as above. */
#ifndef SK_LOG_EPOCH_CACHE_H
#define SK_LOG_EPOCH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_EPOCH_CHECKPOINT "leader-epoch-checkpoint"

struct sk_epoch_entry {
    int32_t epoch;
    int64_t start;
};

struct sk_epoch_cache {
    const char *dir;
    struct sk_epoch_entry *e;
    size_t n, cap;
    int dirty;       /* changed since the file was last written */
    bool durable;    /* the file on disk was fsynced: replace it durably only */
    bool unsynced;   /* written without fsync; the log's next sync takes it */
    bool syncing;    /* in a log sync that has not completed */
    const struct sk_syncer *syncer;  /* for durable rewrites; NULL: blocking */
    struct sk_atomic_writer *writer; /* made on the first durable rewrite */
};

/* Reads the checkpoint (a missing file is an empty cache). */
struct sk_syncer;
int sk_epoch_load(struct sk_epoch_cache *c, const char *dir, const struct sk_syncer *syncer);
void sk_epoch_free(struct sk_epoch_cache *c);
/* Writes the file: lazily (no fsync) while no durable file exists, else with
 * the full atomic write. */
int sk_epoch_write(struct sk_epoch_cache *c);
/* A log sync that included the file (taken while unsynced) completed. */
void sk_epoch_synced(struct sk_epoch_cache *c);
/* Records that epoch starts at start, dropping entries it contradicts. */
int sk_epoch_assign(struct sk_epoch_cache *c, int32_t epoch, int64_t start);
/* Drops entries starting at or after end (truncation). */
void sk_epoch_truncate_from_end(struct sk_epoch_cache *c, int64_t end);
/* Drops entries wholly below start; the one covering start now starts there. */
void sk_epoch_truncate_from_start(struct sk_epoch_cache *c, int64_t start);
int32_t sk_epoch_latest(const struct sk_epoch_cache *c);
/* Epoch of the batch holding offset, -1 if unknown. */
int32_t sk_epoch_for_offset(const struct sk_epoch_cache *c, int64_t offset);
void sk_epoch_end_offset(const struct sk_epoch_cache *c, int32_t epoch, int64_t leo,
                         int32_t *out_epoch, int64_t *out_end);

#endif
