#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "skein/atomic_writer.h"

#include "atomic_file.h"

int sk_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The lazy form: no sync at all, so nothing to wait for. */
int sk_atomic_write_lazy(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[4096], path[4096];

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int r = write_all(fd, data, len);
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

static void store_result(void *arg, int err)
{
    *(int *)arg = err;
}

/* The asynchronous write on the blocking syncer, which completes it before
 * returning: one implementation of the steps and their order. */
int sk_atomic_write(const char *dir, const char *name, const void *data, size_t len)
{
    struct sk_atomic_writer *w = sk_atomic_writer_new(NULL, dir);
    int result = -EINPROGRESS;

    if (!w)
        return -ENOMEM;
    int r = sk_atomic_writer_write(w, name, data, len, store_result, &result);
    sk_atomic_writer_free(w);
    return r < 0 ? r : result;
}
