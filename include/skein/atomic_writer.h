/* Small files replaced atomically and durably without blocking the caller:
 *   write <name>.tmp -> fdatasync (through a syncer) -> rename over <name>
 *   -> fsync of the directory (through the syncer) -> done(err).
 * A crash leaves the old file or the new one. The rename waits for the data
 * sync, so a file by its final name is never one whose bytes may be lost; the
 * directory sync makes the rename itself survive.
 *
 * A writer serves one series of files in one directory (a checkpoint, or a
 * partition's producer snapshots): one write in flight at a time; a request
 * made meanwhile waits, and a newer one supersedes it (its done gets the
 * result of the write that replaced it). Writes thus land in request order
 * and a burst costs at most two. A failed sync leaves the old file in place:
 * the temporary file is removed, never renamed, since after a failed fsync the
 * page cache proves nothing about the disk. */
#ifndef SK_ATOMIC_WRITER_H
#define SK_ATOMIC_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "skein/sync_stats.h"
#include "skein/syncer.h"

/* err is 0 or -errno. */
typedef void (*sk_atomic_done_fn)(void *arg, int err);

struct sk_atomic_writer;

/* The syncer must outlive the writer; NULL means the blocking one. */
struct sk_atomic_writer *sk_atomic_writer_new(const struct sk_syncer *syncer, const char *dir);
/* What its file syncs count as in skein/sync_stats.h (default: checkpoint). */
void sk_atomic_writer_count_as(struct sk_atomic_writer *w, enum sk_sync_kind kind);
/* Replaces <dir>/<name> with a copy of data[0..len). 0: done will run
 * (perhaps before this returns); -errno: nothing was started, done never runs. */
int sk_atomic_writer_write(struct sk_atomic_writer *w, const char *name, const void *data,
                           size_t len, sk_atomic_done_fn done, void *arg);
/* True while a write is in flight or waiting. */
bool sk_atomic_writer_busy(const struct sk_atomic_writer *w);
/* Frees w. A write in flight still completes (its file may yet be renamed
 * into place) but without calling back, and then frees itself; a waiting
 * write is dropped without calling back. */
void sk_atomic_writer_free(struct sk_atomic_writer *w);

/* The same steps on the calling thread, done on return (start-up, tools):
 * 0 or -errno. */
int sk_atomic_write(const char *dir, const char *name, const void *data, size_t len);

#endif
