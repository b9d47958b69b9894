/* The file underneath both indexes: preallocation, trimming, the read-only map. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"

static void index_unmap(struct sk_index *ix)
{
    if (ix->map)
        munmap((void *)ix->map, ix->map_len);
    ix->map = NULL;
    ix->map_len = 0;
}

/* Maps the whole file. Called after every length change: touching a mapping past
 * the end of its file is a SIGBUS, so the view must never be longer than the file. */
static int index_map(struct sk_index *ix, size_t len)
{
    index_unmap(ix);
    ix->max_entries = (uint32_t)(len / ix->esize);
    if (len == 0)
        return 0;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, ix->fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    ix->map = m;
    ix->map_len = len;
    return 0;
}

int sk_index_open(struct sk_index *ix, const char *path, uint32_t esize, int64_t base,
                  bool truncate)
{
    struct stat st;
    int flags = O_RDWR | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0);

    memset(ix, 0, sizeof(*ix));
    ix->esize = esize;
    ix->base = base;
    ix->fd = open(path, flags, 0644);
    if (ix->fd < 0)
        return -errno;
    if (fstat(ix->fd, &st) < 0 || index_map(ix, (size_t)st.st_size) < 0) {
        int err = -errno;
        close(ix->fd);
        ix->fd = -1;
        return err;
    }
    return 0;
}

void sk_index_close(struct sk_index *ix)
{
    index_unmap(ix);
    if (ix->fd >= 0)
        close(ix->fd);
    ix->fd = -1;
}

int sk_index_resize(struct sk_index *ix, uint64_t bytes)
{
    uint64_t n = bytes / ix->esize;

    if (n < ix->entries)
        n = ix->entries;
    if (n > UINT32_MAX / ix->esize)
        n = UINT32_MAX / ix->esize;
    size_t len = (size_t)n * ix->esize;
    if (len == ix->map_len && ix->max_entries == n)
        return 0;
    index_unmap(ix);
    if (ftruncate(ix->fd, (off_t)len) < 0)
        return -errno;
    return index_map(ix, len);
}

int sk_index_trim(struct sk_index *ix)
{
    return sk_index_resize(ix, (uint64_t)ix->entries * ix->esize);
}

int sk_index_truncate(struct sk_index *ix, uint32_t n)
{
    static const uint8_t zero[4096];

    if (n >= ix->entries)
        return 0;
    uint64_t at = (uint64_t)n * ix->esize;
    uint64_t end = (uint64_t)ix->entries * ix->esize;
    ix->entries = n;
    while (at < end) {
        size_t chunk = end - at < sizeof(zero) ? (size_t)(end - at) : sizeof(zero);
        ssize_t w = pwrite(ix->fd, zero, chunk, (off_t)at);
        if (w < 0)
            return -errno;
        at += (uint64_t)w;
    }
    return 0;
}

int sk_index_append(struct sk_index *ix, const uint8_t *entry)
{
    if (ix->entries >= ix->max_entries)
        return -ENOSPC;
    ssize_t w = pwrite(ix->fd, entry, ix->esize, (off_t)ix->entries * ix->esize);
    if (w < 0)
        return -errno;
    if ((uint32_t)w != ix->esize)
        return -EIO;
    ix->entries++;
    return 0;
}
