/* The partition log: one topic-partition's batches on disk, in Kafka's layout.
 *
 *   <log.dir>/<topic>-<partition>/
 *       00000000000000000000.log        batches exactly as on the wire
 *       00000000000000000000.index      8-byte entries: int32 relOffset, int32 position
 *       00000000000000000000.timeindex  12-byte entries: int64 timestamp, int32 relOffset
 *       leader-epoch-checkpoint         "0\n<n>\n<epoch> <startOffset>\n..."
 *       partition.metadata              "version: 0\ntopic_id: <base64 uuid>"
 *   <log.dir>/recovery-point-offset-checkpoint, log-start-offset-checkpoint
 *       "0\n<n>\n<topic> <partition> <offset>\n..."  (written by the owner of all
 *       partitions of the dir through sk_offset_checkpoint_write)
 *
 * A plog belongs to one shard and is never shared between threads. The caller
 * assigns offsets (sk_plog_next_offset) and writes them into the batches; the log
 * only checks that they continue where it ends. Appends go to the page cache;
 * durability is a separate step the caller drives (see "Durability" below) so that
 * one fdatasync can cover many appends.
 *
 * Errors are negative errno values; sk_plog_err_to_kafka maps them to the Kafka
 * error code a response should carry. The ones with a meaning of their own:
 *   -ERANGE    offset outside [log start, log end]         OFFSET_OUT_OF_RANGE
 *   -EBADMSG   the range read is damaged on disk            CORRUPT_MESSAGE
 *   -EINVAL    malformed batches handed to append           CORRUPT_MESSAGE
 *   -EILSEQ    batch offsets do not continue the log        UNKNOWN_SERVER_ERROR
 *   -EMSGSIZE  a batch larger than segment.bytes            MESSAGE_TOO_LARGE
 *   anything else (EIO, ENOSPC, EROFS, ...)                 KAFKA_STORAGE_ERROR
 */
#ifndef SKEIN_PLOG_H
#define SKEIN_PLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The topic-level settings the log obeys, with Kafka's names and units. A value
 * < 0 for retention_* means unlimited, as in Kafka. Can be changed on a live log
 * (sk_plog_set_config); index sizes apply from the next segment on. */
struct sk_plog_config {
    int64_t segment_bytes;        /* segment.bytes, default 1 GiB */
    int64_t segment_ms;           /* segment.ms, default 7 days */
    int64_t index_interval_bytes; /* index.interval.bytes, default 4096 */
    int64_t segment_index_bytes;  /* segment.index.bytes, default 10 MiB */
    int64_t retention_ms;         /* retention.ms, default 7 days; -1 unlimited */
    int64_t retention_bytes;      /* retention.bytes, default -1 */
    int64_t flush_messages;       /* flush.messages, default INT64_MAX */
    int64_t flush_ms;             /* flush.ms, default INT64_MAX */
    int64_t file_delete_delay_ms; /* file.delete.delay.ms */
};

/* Kafka's defaults. */
void sk_plog_config_default(struct sk_plog_config *cfg);

struct sk_syncer;

struct sk_plog_open_opts {
    const char *log_dir;      /* must exist */
    const char *topic;
    int32_t partition;
    const uint8_t *topic_id;  /* 16 bytes or NULL; written to partition.metadata */
    int64_t recovery_point;   /* from recovery-point-offset-checkpoint, -1 if absent */
    int64_t log_start_offset; /* from log-start-offset-checkpoint, -1 if absent */
    int64_t now_ms;           /* wall clock, for segment.ms of a fresh segment */
    const struct sk_syncer *syncer; /* durable checkpoint rewrites; NULL: blocking */
};

/* What loading found, so the caller can log it. */
struct sk_plog_open_report {
    uint64_t truncated_bytes;  /* torn tail cut from the last segment */
    uint32_t segments_loaded;
    uint32_t segments_recovered; /* scanned batch by batch (beyond recovery point) */
    uint32_t indexes_rebuilt;
    uint32_t corrupt_ranges;   /* damaged ranges kept but refused on read */
    uint32_t stray_files_removed; /* *.deleted, *.cleaned, *.swap, orphan indexes */
};

struct sk_plog;

/* Creates <log_dir>/<topic>-<partition>/ or loads it, recovering what lies beyond
 * the recovery point. report may be NULL. On error *out is untouched. */
int sk_plog_open(const struct sk_plog_open_opts *opts, const struct sk_plog_config *cfg,
                 struct sk_plog **out, struct sk_plog_open_report *report);
/* Trims the active segment's indexes and closes every fd. Does not flush. */
void sk_plog_close(struct sk_plog *plog);
void sk_plog_set_config(struct sk_plog *plog, const struct sk_plog_config *cfg);

const char *sk_plog_dir(const struct sk_plog *plog);
const char *sk_plog_topic(const struct sk_plog *plog);
int32_t sk_plog_partition(const struct sk_plog *plog);
/* False if neither the caller nor partition.metadata supplied a topic id. */
bool sk_plog_topic_id(const struct sk_plog *plog, uint8_t id[16]);

int64_t sk_plog_log_start_offset(const struct sk_plog *plog);
int64_t sk_plog_log_end_offset(const struct sk_plog *plog);
/* The offset the next appended batch must carry (= log end offset). */
int64_t sk_plog_next_offset(const struct sk_plog *plog);
/* Everything below this offset is on stable storage. */
int64_t sk_plog_recovery_point(const struct sk_plog *plog);
uint64_t sk_plog_size_bytes(const struct sk_plog *plog);
size_t sk_plog_segment_count(const struct sk_plog *plog);

/* ---- append ---------------------------------------------------------------- */

struct sk_plog_append_info {
    int64_t first_offset;
    int64_t last_offset;
    int64_t max_timestamp;        /* -1 if no batch carried one */
    int64_t offset_of_max_timestamp;
    uint32_t batches;
    bool rolled;                  /* a new segment was started for this append */
};

/* Appends buf (one or more complete magic-2 batches, CRC already checked by the
 * caller) at the end of the log. The first batch's base offset must equal the log
 * end offset and each next batch must start after the previous one ended. Either
 * everything is appended or nothing is: on error the log is as before. now_ms
 * drives segment.ms when batches carry no timestamp. info may be NULL. */
int sk_plog_append(struct sk_plog *plog, const uint8_t *buf, size_t len, int64_t now_ms,
                   struct sk_plog_append_info *info);

/* Starts a new segment at the log end offset now (no-op if the active one is empty). */
int sk_plog_roll(struct sk_plog *plog, int64_t now_ms);

/* ---- read ------------------------------------------------------------------ */

/* A byte range of one segment file made of whole batches, for sendfile/splice.
 * The slice owns its fd (when len > 0): it stays valid whatever happens to the
 * log, even if the segment is deleted, until sk_plog_slice_release; a splice in
 * flight keeps it until it completes. Older segments' files are closed at rest,
 * so this is the only way to read them. */
struct sk_plog_slice {
    int fd;
    uint64_t pos;
    uint32_t len;            /* 0: nothing to send (offset == end, or limits) */
    int64_t first_offset;    /* base offset of the first batch (may be < requested) */
    int64_t next_offset;     /* offset after the last batch in the slice */
};

/* Whole batches starting with the one that contains offset, at most max_bytes in
 * all, stopping before any batch that reaches max_offset (pass the high watermark
 * or last stable offset; INT64_MAX for no limit). If the first batch alone exceeds
 * max_bytes it is returned whole when min_one is set (KIP-74), else len is 0. Data
 * comes from one segment only, as in Kafka; fetch again from next_offset for more. */
int sk_plog_read(struct sk_plog *plog, int64_t offset, uint32_t max_bytes, int64_t max_offset,
                 bool min_one, struct sk_plog_slice *out);

/* Closes the slice's fd (if any); safe to call twice. */
void sk_plog_slice_release(struct sk_plog_slice *slice);

/* Same, copied into buf (cap bytes); *len gets the number of bytes copied. */
int sk_plog_read_copy(struct sk_plog *plog, int64_t offset, uint32_t max_bytes,
                      int64_t max_offset, uint8_t *buf, size_t cap, size_t *len);

/* ListOffsets special timestamps. */
#define SK_PLOG_LATEST_TIMESTAMP (-1)
#define SK_PLOG_EARLIEST_TIMESTAMP (-2)
#define SK_PLOG_MAX_TIMESTAMP (-3)

struct sk_plog_time_result {
    int64_t offset;          /* -1: no such offset */
    int64_t timestamp;       /* -1 unless a real timestamp was matched */
    int32_t leader_epoch;    /* epoch of that offset, -1 unknown */
};

/* ListOffsets: for ts >= 0 the first record (at or above the log start) whose
 * timestamp is >= ts; -1 log end offset, -2 log start offset, -3 the record
 * carrying the largest timestamp. offset -1 if there is none. */
int sk_plog_offset_for_time(struct sk_plog *plog, int64_t ts,
                            struct sk_plog_time_result *out);

/* ---- durability ------------------------------------------------------------ */

#define SK_PLOG_SYNC_MAX 16

/* The files to fdatasync so that everything below `upto` is durable. Submit them
 * (io_uring IORING_OP_FSYNC with IORING_FSYNC_DATASYNC), and when all completed
 * call sk_plog_mark_flushed(plog, upto). If more files were needed than fit,
 * upto stops short and another round is needed. The fds belong to the log and
 * stay open until sk_plog_mark_flushed (or a call that removes segments): the
 * files of older segments are opened for the sync and closed once durable. */
struct sk_plog_sync {
    int64_t upto;
    int nfds;
    int fds[SK_PLOG_SYNC_MAX];
    unsigned char kinds[SK_PLOG_SYNC_MAX]; /* enum sk_sync_kind of each fd */
};

/* Fills sync; returns the number of fds (0: nothing to flush), or -errno if a
 * file could not be opened: -EAGAIN (too many syncs hold files right now),
 * -EMFILE or -ENFILE mean try again shortly. */
int sk_plog_sync_fds(struct sk_plog *plog, struct sk_plog_sync *sync);
/* Moves the recovery point to min(upto, log end offset) if beyond it. */
/* (also writes a leader-epoch-checkpoint left dirty by a failed write) */
int sk_plog_mark_flushed(struct sk_plog *plog, int64_t upto, int64_t now_ms);
/* Blocking fdatasync of all unflushed data; for shutdown and tests. */
int sk_plog_flush(struct sk_plog *plog, int64_t now_ms);
/* Records that a sync of the log's files failed with err (-errno): from then on
 * appends, sk_plog_sync_fds and sk_plog_mark_flushed return the error and the
 * recovery point stays where it was, until the log is closed and recovered by
 * a new process ("fsyncgate": a retried fsync can succeed on pages the kernel
 * already dropped). */
void sk_plog_sync_failed(struct sk_plog *plog, int err);
/* The error sk_plog_sync_failed recorded, or 0. */
int sk_plog_sync_error(const struct sk_plog *plog);
/* sk_plog_flush for many logs, with every file's sync (and those of the
 * caller's extra fds) in flight at once: shutdown costs a few journal commits,
 * not one per partition. */
int sk_plog_flush_many(struct sk_plog **logs, size_t n, const int *extra, size_t nextra,
                       int64_t now_ms);
/* fdatasync (data_only) or fsync of n files, all in flight together; returns
 * the first error. */
int sk_sync_many(const int *fds, size_t n, bool data_only);
/* flush.messages / flush.ms say a flush is due. */
bool sk_plog_flush_due(const struct sk_plog *plog, int64_t now_ms);

/* ---- retention, deletion, truncation ---------------------------------------- */

/* Deletes whole segments that are older than retention.ms (by their largest
 * timestamp), beyond retention.bytes, or below the log start offset; only those
 * wholly below high_watermark. Returns the number deleted or -errno. */
int sk_plog_retention(struct sk_plog *plog, int64_t now_ms, int64_t high_watermark);
/* DeleteRecords: moves the log start offset to offset (<= log end offset) and drops
 * the segments wholly below it. Reads below it give -ERANGE. */
int sk_plog_delete_records(struct sk_plog *plog, int64_t offset);
/* Removes files renamed *.deleted whose file.delete.delay.ms has passed;
 * now_ms is a monotonic clock (sk_clock_ms), never the wall clock. */
int sk_plog_purge_deleted(struct sk_plog *plog, int64_t now_ms);
/* Drops every batch at or beyond offset (the batch containing it goes whole), for
 * replication. No-op if offset >= log end offset. */
int sk_plog_truncate_to(struct sk_plog *plog, int64_t offset);
/* Drops everything and restarts the log empty at offset (follower far behind). */
int sk_plog_truncate_fully(struct sk_plog *plog, int64_t offset, int64_t now_ms);

/* ---- leader epochs ---------------------------------------------------------- */

/* Latest epoch seen in appended batches, -1 if none. */
int32_t sk_plog_latest_epoch(const struct sk_plog *plog);
/* OffsetForLeaderEpoch: the largest epoch <= epoch and the offset where the epoch
 * after it starts (or the log end offset). -1/-1 if unknown. */
void sk_plog_epoch_end_offset(const struct sk_plog *plog, int32_t epoch,
                              int32_t *out_epoch, int64_t *out_end_offset);

/* ---- per-log-dir checkpoint files ------------------------------------------ */

struct sk_offset_checkpoint_entry {
    char topic[256];
    int32_t partition;
    int64_t offset;
};

#define SK_RECOVERY_POINT_CHECKPOINT "recovery-point-offset-checkpoint"
#define SK_LOG_START_OFFSET_CHECKPOINT "log-start-offset-checkpoint"
#define SK_REPLICATION_OFFSET_CHECKPOINT "replication-offset-checkpoint"

/* Writes <dir>/<name> atomically (temp file, fsync, rename, fsync dir). */
int sk_offset_checkpoint_write(const char *dir, const char *name,
                               const struct sk_offset_checkpoint_entry *e, size_t n);
/* The same through a writer (skein/atomic_writer.h) in w's directory: returns
 * at once, done(arg, err) once the file is durable or the write failed (the old
 * file then stays). 0, or -errno when nothing was started. */
struct sk_atomic_writer;
int sk_offset_checkpoint_write_async(struct sk_atomic_writer *w, const char *name,
                                     const struct sk_offset_checkpoint_entry *e, size_t n,
                                     void (*done)(void *arg, int err), void *arg);
/* Reads it into a malloc'd array (free it); a missing file gives 0 entries. */
int sk_offset_checkpoint_read(const char *dir, const char *name,
                              struct sk_offset_checkpoint_entry **out, size_t *n);
/* Looks up topic/partition in entries; -1 if absent. */
int64_t sk_offset_checkpoint_find(const struct sk_offset_checkpoint_entry *e, size_t n,
                                  const char *topic, int32_t partition);

/* The Kafka error code for an error returned by this API. */
int16_t sk_plog_err_to_kafka(int err);

#endif
