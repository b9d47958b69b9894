/* Snapshots of the metadata image (see src/meta/snapshot.c). */
#ifndef SKEIN_META_SNAPSHOT_H
#define SKEIN_META_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/atomic_writer.h"
#include "skein/meta.h"

/* Writes the image as <end>-<epoch>.checkpoint in w's directory, end = last
 * offset + 1, through w (a blocking one if its syncer is): done(arg, err)
 * once it is durable or failed. 0, or -errno when nothing was started. */
int sk_meta_snapshot_write_async(struct sk_atomic_writer *w, const struct sk_meta_image *img,
                                 int32_t epoch, int64_t now_ms,
                                 sk_atomic_done_fn done, void *arg);
struct sk_voter_set;
/* The same, opening with KIP-853's KRaftVersion and Voters records after
 * the header when voters is not NULL. */
int sk_meta_snapshot_write_voters_async(struct sk_atomic_writer *w,
                                        const struct sk_meta_image *img,
                                        const struct sk_voter_set *voters, int32_t epoch,
                                        int64_t now_ms, sk_atomic_done_fn done, void *arg);
/* End offset of the newest snapshot at or below max_end, -1 if none. */
int64_t sk_meta_snapshot_latest(const char *dir, int64_t max_end);
/* The same, with the epoch its name carries in *epoch (may be NULL). */
int64_t sk_meta_snapshot_latest_id(const char *dir, int64_t max_end, int32_t *epoch);
/* The path of the snapshot ending at end, whatever its epoch; -ENOENT. */
int sk_meta_snapshot_path(const char *dir, int64_t end, char *path, size_t len);
struct sk_buf;
/* Appends the bytes of the snapshot ending at end to out: 0, -ENOENT when
 * there is none, -errno or -EIO when it cannot be read. */
int sk_meta_snapshot_read(const char *dir, int64_t end, struct sk_buf *out);
/* Applies the snapshot ending at end to a fresh image. */
int sk_meta_snapshot_load(const char *dir, int64_t end, struct sk_meta_image *img);
struct sk_plog;
/* Deletes the oldest snapshots and the log below the next one as Kafka's
 * metadata log does (src/meta/snapshot_clean.c): while the log and the
 * snapshots exceed max_bytes or the oldest is older than max_ms (-1: no
 * limit), never the newest. How many went, or -errno. */
int sk_meta_snapshot_clean(struct sk_plog *plog, int64_t max_bytes, int64_t max_ms,
                           int64_t now_ms);
/* Removes snapshots older than keep_end. */
void sk_meta_snapshot_prune(const char *dir, int64_t keep_end);

/* Applies every metadata record in a buffer of batches; control batches
 * (snapshot header and footer) carry no metadata and are skipped. */
int sk_meta_apply_batches(struct sk_meta_image *img, const uint8_t *p, size_t len,
                          bool skip_control);

#endif
