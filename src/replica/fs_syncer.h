/* A thread that runs syncfs(2) on the log dir's file system for the shard's
 * group commit: io_uring has no syncfs, and the shard thread must not block.
 * Requests queued while one syncfs runs share the next one. Completions go
 * back to the shard through `post` (sk_shard_post in the broker); those a
 * stopping shard refuses are delivered by sk_fs_syncer_stop.
 *
 * A syncfs costs about as much for one small file as for many (a device
 * cache flush, a walk of the dirty inodes), and with thousands of partitions
 * requests come with one or two each: so while fewer than SK_FS_GATHER_PARTS
 * partitions are queued, the thread waits up to SK_FS_GATHER_MS for more
 * before it starts the syncfs. Requests with that many go at once; the shard
 * sends lone partitions here only under sustained load (durability.c). */
#ifndef SKEIN_REPLICA_FS_SYNCER_H
#define SKEIN_REPLICA_FS_SYNCER_H

#include "skein/net.h"

struct sk_fs_syncer;

/* Thread-safe: runs fn(arg) on the owner's thread; 0, or -errno when it
 * will not (the owner stops). */
typedef int (*sk_fs_post_fn)(void *ctx, sk_defer_fn fn, void *arg);

/* Opens dir (whose file system is synced) and starts the thread: NULL with
 * *err set (-errno) if either fails. Open it before anything it is to cover
 * is written: syncfs reports the writeback errors that happened since its
 * file was opened (or that no syncfs has seen yet). */
struct sk_fs_syncer *sk_fs_syncer_start(const char *dir, sk_fs_post_fn post, void *post_ctx,
                                        int *err);
/* On the owner's thread: done(arg, 0 or -errno) once a syncfs that started
 * after this call ends; parts: how many partitions the request covers. 0, or
 * -ENOMEM / -ESHUTDOWN (done will not run). */
#define SK_FS_GATHER_PARTS 4
#define SK_FS_GATHER_MS 4
int sk_fs_syncer_submit(struct sk_fs_syncer *s, unsigned parts, sk_fsync_fn done, void *arg);
/* On the owner's thread, once nothing it posts runs any more: finishes the
 * queued syncs, delivers every completion not yet delivered, and frees s. */
void sk_fs_syncer_stop(struct sk_fs_syncer *s);
/* How many syncfs calls the thread made (tests, benchmarks). */
unsigned long sk_fs_syncer_calls(struct sk_fs_syncer *s);

#endif
