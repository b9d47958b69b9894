/* Replacing a small file so that a crash leaves either the old or the new one:
 * write <name>.tmp, fsync it, rename over <name>, fsync the directory so the
 * rename itself is durable. Kafka's checkpoint files are written this way. */
#ifndef SK_LOG_ATOMIC_FILE_H
#define SK_LOG_ATOMIC_FILE_H

#include <stddef.h>

int sk_atomic_write(const char *dir, const char *name, const void *data, size_t len);
/* fsync of a directory, so entries created or renamed in it survive a crash. */
int sk_fsync_dir(const char *dir);

#endif
