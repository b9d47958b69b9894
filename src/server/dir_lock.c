/* Ownership of a data directory: the `.lock` file Kafka takes in every log
 * directory and the metadata directory.
 *
 * Two processes writing one partition log or one metadata log would each
 * believe they own the log end and corrupt it, so a directory another process
 * holds stops start-up. The lock is an open-file-description lock: it belongs
 * to the descriptor kept for the broker's lifetime, so closing some other
 * descriptor of the same file (as classic POSIX record locks would) cannot
 * drop it, and it conflicts with the record lock a Kafka JVM takes through
 * FileChannel.tryLock, so Skein and Kafka exclude each other too. The kernel
 * releases it when the process dies, kill -9 included: no stale lock files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "skein/server.h"

int sk_dir_lock(const char *dir, int *fd_out, char *err, size_t errlen)
{
    char file[4096];
    int rc = sk_storage_mkdirs(dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create log directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    if (snprintf(file, sizeof file, "%s/.lock", dir) >= (int)sizeof file)
        return -ENAMETOOLONG;
    int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", file, strerror(-rc));
        return rc;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        rc = -errno;
        close(fd);
        if (rc == -EAGAIN || rc == -EACCES)
            snprintf(err, errlen, "Failed to acquire lock on file .lock in %s. A Kafka "
                     "instance in another process or thread is using this directory.", dir);
        else
            snprintf(err, errlen, "cannot lock %s: %s", file, strerror(-rc));
        return rc == -EACCES ? -EAGAIN : rc;
    }
    *fd_out = fd;
    return 0;
}
