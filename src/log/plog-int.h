/* The partition log's state, shared by the files of src/log/ and no one else.
 *
 * Invariants:
 *   - segs[0..nsegs) are sorted by base offset; segs[nsegs-1] is the active
 *     segment (the only one appended to, the only one with preallocated indexes);
 *     there is always at least one segment;
 *   - segs[i]->next_offset <= segs[i+1]->base;
 *   - segs[0]->base <= log_start <= log end offset (the active segment's next_offset);
 *   - recovery_point <= log end offset; data below it has been fdatasync'ed. */
#ifndef SK_LOG_PLOG_INT_H
#define SK_LOG_PLOG_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "skein/plog.h"

#include "epoch_cache.h"
#include "segment.h"

struct sk_pending_delete {
    char *path;
    int64_t due_ms;
};

struct sk_plog {
    char *dir;
    char *topic;
    int32_t partition;
    uint8_t topic_id[16];
    bool has_topic_id;
    struct sk_plog_config cfg;

    struct sk_segment **segs;
    size_t nsegs, segs_cap;

    int64_t log_start;
    int64_t recovery_point;
    int64_t last_flush_ms;
    /* What the next sync must make durable besides data, and the fds opened
     * for it (held until sk_plog_mark_flushed, -1 otherwise). A new partition
     * is made durable by its first sync, not on the shard while it is created. */
    bool dir_dirty;           /* segment files created since the last dir fsync */
    bool parent_dirty;        /* this directory created in the log dir */
    bool meta_dirty;          /* partition.metadata written, not yet synced */
    int dir_fd, parent_fd, meta_fd, epoch_fd;
    char *log_dir;
    /* The first failed sync (-errno), 0 while none failed. Once set the log is
     * offline: its dirty pages may be gone while reads still see them, and a
     * later fdatasync of the same file reports success, so nothing past the
     * recovery point may ever be called durable by this process again. */
    int sync_err;

    struct sk_epoch_cache epochs;
    struct sk_pending_delete *pending;
    size_t npending;

    uint8_t *scratch;         /* recovery's batch buffer */
    size_t scratch_cap;
};

static inline struct sk_segment *sk_plog_active(const struct sk_plog *p)
{
    return p->segs[p->nsegs - 1];
}

/* Index of the segment holding offset (the last with base <= offset), or -1. */
ssize_t sk_plog_find_segment(const struct sk_plog *p, int64_t offset);
/* Inserts a segment at the end. */
int sk_plog_push_segment(struct sk_plog *p, struct sk_segment *seg);
/* Removes segs[0..n) from the list, deleting their files. */
int sk_plog_drop_front(struct sk_plog *p, size_t n);
/* Removes segs[i..) from the list, deleting their files. */
int sk_plog_drop_back(struct sk_plog *p, size_t from);
/* Makes a new empty active segment at base, sealing the current one. */
int sk_plog_roll_at(struct sk_plog *p, int64_t base, int64_t now_ms);
/* Closes the fds sk_plog_sync_fds opened for directories and partition.metadata. */
void sk_plog_close_sync_fds(struct sk_plog *p);
/* Loads the segments found in the directory (plog_load.c). */
int sk_plog_load(struct sk_plog *p, const struct sk_plog_open_opts *o,
                 struct sk_plog_open_report *rep);
/* Moves the log start offset (never backwards), trims the epoch cache and writes
 * its checkpoint if it changed. */
int sk_plog_set_log_start(struct sk_plog *p, int64_t offset);

/* partition.metadata. A torn file (empty, a crash before its first sync) reads
 * as not found. */
int sk_partition_meta_read(const char *dir, uint8_t id[16], bool *found);
/* Written without fsync: the caller syncs the file and its directory. */
int sk_partition_meta_write(const char *dir, const uint8_t id[16]);
#define SK_PARTITION_META_FILE "partition.metadata"

#endif
