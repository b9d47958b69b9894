/* The metadata log's snapshot files as the Raft core reads and takes them
 * (KIP-630): <end>-<epoch>.checkpoint in the log's directory, and the
 * <end>-<epoch>.checkpoint.part a follower writes while it fetches one, as
 * Kafka's FileRawSnapshotWriter does. */
#ifndef SKEIN_META_RAFTLOG_SNAPSHOT_H
#define SKEIN_META_RAFTLOG_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "skein/raft-t.h"

/* The partial snapshot being written; fd -1 when none. */
struct sk_snap_part {
    int fd;
    struct sk_raft_snapshot_id id;
    int64_t len;
};

/* The newest checkpoint in dir; -ENOENT when there is none. */
int sk_snap_file_latest(const char *dir, struct sk_raft_snapshot_id *id);
/* Up to max bytes of checkpoint id from pos; *size is the file's. -ENOENT
 * when dir has no checkpoint of exactly that id. */
int sk_snap_file_read(const char *dir, const struct sk_raft_snapshot_id *id, int64_t pos,
                      uint8_t *buf, size_t max, size_t *n, int64_t *size);
/* Writes a chunk at pos of id's .part; pos 0 starts it afresh, any other pos
 * must be where the part ends (-EINVAL). */
int sk_snap_part_write(const char *dir, struct sk_snap_part *part,
                       const struct sk_raft_snapshot_id *id, int64_t pos, const uint8_t *data,
                       size_t len);
/* Checks the whole part (every batch whole with a good CRC, control batches
 * first and last, every record applies) and, when good, makes it durable and
 * renames it to its .checkpoint, the directory synced. A bad part is deleted
 * and -EBADMSG returned, so that it is fetched again. */
int sk_snap_part_install(const char *dir, struct sk_snap_part *part,
                         const struct sk_raft_snapshot_id *id);
/* Closes and deletes an unfinished part. */
void sk_snap_part_drop(const char *dir, struct sk_snap_part *part);

#endif
