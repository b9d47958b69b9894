/* Replacing a small file so that a crash leaves either the old or the new one:
 * write <name>.tmp, fsync it, rename over <name>, fsync the directory so the
 * rename itself is durable. Kafka's checkpoint files are written this way.
 * These block the caller (start-up, shutdown, tools); the shard writes through
 * skein/atomic_writer.h, whose steps sk_atomic_write runs on the blocking
 * syncer. */
#ifndef SK_LOG_ATOMIC_FILE_H
#define SK_LOG_ATOMIC_FILE_H

#include <stddef.h>

/* sk_atomic_write (skein/atomic_writer.h) is the durable form. The one
 * without either fsync: a crash may leave the old file, the new one, or
 * an empty one; for files the caller syncs later with the data they describe. */
int sk_atomic_write_lazy(const char *dir, const char *name, const void *data, size_t len);
/* fsync of a directory, so entries created or renamed in it survive a crash. */
int sk_fsync_dir(const char *dir);

#endif
