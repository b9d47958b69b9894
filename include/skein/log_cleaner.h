/* Log compaction, as Kafka's log cleaner does it, for one partition log at a time.
 *
 * A clean covers the log from its start up to `end`, the first offset that may
 * not be cleaned yet: the active segment's base, or the base of the first
 * segment holding a record younger than min.compaction.lag.ms. The part from the
 * cleaner checkpoint (`first dirty`) to end is the dirty section; a map from
 * each of its keys to the last offset of that key is built over it, then every
 * segment below end is rewritten without the records the map says were
 * superseded. Offsets never change; batches keep their base and last offsets,
 * producer fields and codec.
 *
 * The work is cut into steps of a byte budget so that a shard can interleave it
 * with requests: sk_clean_step reads at most about `budget` bytes and returns.
 * Between steps the log may be appended to; if segments below end disappear
 * (retention, DeleteRecords, truncation) the next step fails with -ESTALE and
 * the job must be aborted.
 *
 * Replacement is crash-safe as in Kafka: the rewritten group of segments is
 * written as <base>.log.cleaned (+ indexes), fsynced, renamed to .swap, the old
 * segments deleted, and the .swap renamed to the final names. Loading a log
 * completes a swap it finds (sk_plog_complete_swaps) and drops .cleaned files. */
#ifndef SKEIN_LOG_CLEANER_H
#define SKEIN_LOG_CLEANER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sk_plog;

/* The per-log-dir file of first dirty offsets, Kafka's offset checkpoint format. */
#define SK_CLEANER_OFFSET_CHECKPOINT "cleaner-offset-checkpoint"

/* What a clean of the log would cover now. */
struct sk_clean_range {
    int64_t first_dirty;  /* checkpoint clamped into [log start, end] */
    int64_t end;          /* first uncleanable offset (a segment base) */
    uint64_t clean_bytes; /* segments below first_dirty */
    uint64_t dirty_bytes; /* segments from first_dirty to end */
    int64_t dirty_since;  /* first timestamp of the first dirty segment, -1 if none */
};

void sk_plog_clean_range(const struct sk_plog *plog, int64_t checkpoint, int64_t now_ms,
                         int64_t min_lag_ms, struct sk_clean_range *out);

/* Producer state the cleaner must not lose: the last batch of each producer is
 * kept (emptied if need be) so its epoch and sequence survive. */
struct sk_clean_producer {
    int64_t producer_id;
    int64_t last_offset;
};

struct sk_syncer;

struct sk_clean_opts {
    int64_t now_ms;
    int64_t min_lag_ms;          /* min.compaction.lag.ms */
    int64_t delete_retention_ms; /* delete.retention.ms */
    size_t map_bytes;            /* log.cleaner.dedupe.buffer.size */
    const struct sk_clean_producer *producers;
    size_t nproducers;
    const struct sk_syncer *syncer; /* the swap's syncs (the shard's); NULL: blocking */
};

struct sk_clean_stats {
    uint64_t bytes_read;
    uint64_t bytes_written;
    uint64_t records_kept;
    uint64_t records_dropped;
    uint32_t segments_in;
    uint32_t segments_out;
    int64_t end;                 /* the new checkpoint once done */
    int64_t max_delete_horizon;  /* latest tombstone horizon set or kept, -1 none */
};

struct sk_clean_job;

/* Starts a clean of [log start, range end) with the map over the dirty section.
 * *out is NULL (and 0 returned) when there is nothing to clean. */
int sk_clean_begin(struct sk_plog *plog, int64_t checkpoint, const struct sk_clean_opts *o,
                   struct sk_clean_job **out);
/* Does about budget bytes of work. 1: more to do; 0: done (stats final);
 * -ESTALE: the log changed under the job; -ENOSPC: the map cannot hold the keys
 * of one segment; other -errno: I/O or damaged data. On error, abort the job. */
int sk_clean_step(struct sk_clean_job *job, uint64_t budget);
const struct sk_clean_stats *sk_clean_stats(const struct sk_clean_job *job);
/* Frees the job, removing its unfinished .cleaned files. The log stays usable:
 * groups already swapped stay swapped. */
void sk_clean_free(struct sk_clean_job *job);

/* Whether `plog` is the log the job works on (for a caller that may have closed it). */
bool sk_clean_job_is_for(const struct sk_clean_job *job, const struct sk_plog *plog);

/* Completes or discards interrupted swaps in a partition directory before its
 * segments are listed; *fixed counts the files renamed or removed. */
int sk_plog_complete_swaps(const char *dir, uint32_t *fixed);

#endif
