/* The file underneath both indexes: preallocation, trimming, the shared map,
 * the buffer of entries not yet written (index.h), and the fd that is open
 * only while something needs it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"

/* Disk blocks are reserved this far at a time: one open and one fallocate per
 * 8,192 offset index entries (~32 MiB of log at the default interval). */
#define INDEX_RESERVE_CHUNK (64u << 10)

/* Buffered entries are written once they fill a page's worth: one open, pwrite
 * and close per 512 offset index entries, and no more memory per partition
 * than the page of the mapping they would otherwise have dirtied. */
#define INDEX_PEND_BYTES 4096u

static void index_unmap(struct sk_index *ix)
{
    if (ix->map)
        munmap(ix->map, ix->map_len);
    ix->map = NULL;
    ix->map_len = 0;
}

/* Maps the whole file. Called after every length change: touching a mapping past
 * the end of its file is a SIGBUS, so the view must never be longer than the file. */
static int index_map(struct sk_index *ix, int fd, size_t len)
{
    index_unmap(ix);
    ix->max_entries = (uint32_t)(len / ix->esize);
    if (ix->reserved > len)
        ix->reserved = len;
    if (len == 0)
        return 0;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return -errno;
    /* Entries are appended a page at a time and looked up by binary search:
     * read-around would fill and zero a window of the mostly empty file on
     * every first touch of a page, which costs more than the appends. */
    (void)madvise(m, len, MADV_RANDOM);
    ix->map = m;
    ix->map_len = len;
    return 0;
}

/* The held fd, or a fresh one the caller closes (*tmp set). */
static int index_fd(const struct sk_index *ix, bool *tmp)
{
    *tmp = ix->fd < 0;
    if (!*tmp)
        return ix->fd;
    int fd = open(ix->path, O_RDWR | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static void index_fd_done(int fd, bool tmp)
{
    if (tmp)
        close(fd);
}

static int index_init(struct sk_index *ix, const char *path, uint32_t esize, int64_t base)
{
    memset(ix, 0, sizeof(*ix));
    ix->fd = -1;
    ix->esize = esize;
    ix->base = base;
    ix->path = strdup(path);
    return ix->path ? 0 : -ENOMEM;
}

/* Opens with flags, sets the length to len if len >= 0, maps it, closes. */
static int index_setup(struct sk_index *ix, int flags, int64_t len)
{
    struct stat st;
    int fd = open(ix->path, O_RDWR | O_CREAT | O_CLOEXEC | flags, 0644);
    int r = 0;

    if (fd < 0)
        return -errno;
    if (len >= 0 && ftruncate(fd, (off_t)len) < 0)
        r = -errno;
    else if (len < 0 && fstat(fd, &st) < 0)
        r = -errno;
    if (r == 0)
        r = index_map(ix, fd, len >= 0 ? (size_t)len : (size_t)st.st_size);
    close(fd);
    return r;
}

/* Room for max(bytes / esize, entries) entries, capped so offsets stay uint32. */
static size_t index_len_for(const struct sk_index *ix, uint64_t bytes)
{
    uint64_t n = bytes / ix->esize;

    if (n < ix->entries)
        n = ix->entries;
    if (n > UINT32_MAX / ix->esize)
        n = UINT32_MAX / ix->esize;
    return (size_t)n * ix->esize;
}

int sk_index_open(struct sk_index *ix, const char *path, uint32_t esize, int64_t base)
{
    int r = index_init(ix, path, esize, base);

    if (r == 0 && (r = index_setup(ix, 0, -1)) < 0)
        sk_index_close(ix);
    return r;
}

int sk_index_create(struct sk_index *ix, const char *path, uint32_t esize, int64_t base,
                    uint64_t bytes)
{
    int r = index_init(ix, path, esize, base);

    if (r == 0 && (r = index_setup(ix, O_TRUNC, (int64_t)index_len_for(ix, bytes))) < 0)
        sk_index_close(ix);
    return r;
}

/* Buffered entries are dropped, not written: a closed index may belong to a
 * file that was deleted and whose name a new segment took meanwhile. A clean
 * close trims first (sk_segment_close), which writes them. */
void sk_index_close(struct sk_index *ix)
{
    free(ix->pend);
    ix->pend = NULL;
    ix->pend_cap = 0;
    ix->flushed = ix->entries = 0;
    index_unmap(ix);
    sk_index_drop_fd(ix);
    free(ix->path);
    ix->path = NULL;
}

int sk_index_hold_fd(struct sk_index *ix)
{
    bool tmp;
    int fd = index_fd(ix, &tmp);

    if (fd < 0)
        return fd;
    ix->fd = fd;
    return 0;
}

void sk_index_drop_fd(struct sk_index *ix)
{
    if (ix->fd >= 0)
        close(ix->fd);
    ix->fd = -1;
}

int sk_index_resize(struct sk_index *ix, uint64_t bytes)
{
    size_t len = index_len_for(ix, bytes);
    bool tmp;
    int fd, r = 0;

    if (len == ix->map_len && ix->max_entries == len / ix->esize)
        return 0;
    if ((fd = index_fd(ix, &tmp)) < 0)
        return fd;
    index_unmap(ix);
    if (ftruncate(fd, (off_t)len) < 0)
        r = -errno;
    if (r == 0)
        r = index_map(ix, fd, len);
    index_fd_done(fd, tmp);
    return r;
}

int sk_index_trim(struct sk_index *ix)
{
    int r = sk_index_flush(ix);
    if (r < 0)
        return r;
    /* a trimmed index is a rolled segment's: it takes no more appends */
    free(ix->pend);
    ix->pend = NULL;
    ix->pend_cap = 0;
    return sk_index_resize(ix, (uint64_t)ix->entries * ix->esize);
}

int sk_index_truncate(struct sk_index *ix, uint32_t n)
{
    if (n >= ix->entries)
        return 0;
    if (n < ix->flushed) {
        /* those bytes held entries, so their blocks exist: no SIGBUS here */
        memset(ix->map + (size_t)n * ix->esize, 0, (size_t)(ix->flushed - n) * ix->esize);
        ix->flushed = n;
    }
    ix->entries = n;
    return 0;
}

void sk_index_forget(struct sk_index *ix, uint32_t n)
{
    if (n >= ix->entries)
        return;
    ix->entries = n;
    if (ix->flushed > n)
        ix->flushed = n;
}

void sk_index_loaded(struct sk_index *ix, uint32_t n)
{
    ix->entries = ix->flushed = n;
}

int sk_pwrite_all(int fd, const uint8_t *buf, size_t len, off_t at)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, buf, len, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        buf += w;
        len -= (size_t)w;
        at += w;
    }
    return 0;
}

int sk_index_flush(struct sk_index *ix)
{
    if (ix->entries == ix->flushed)
        return 0;
    bool tmp;
    int fd = index_fd(ix, &tmp);
    if (fd < 0)
        return fd;
    int r = sk_pwrite_all(fd, ix->pend, (size_t)(ix->entries - ix->flushed) * ix->esize,
                       (off_t)ix->flushed * ix->esize);
    index_fd_done(fd, tmp);
    if (r == 0)
        ix->flushed = ix->entries;
    return r;
}

/* Room in the buffer for one more entry, grown by doubling up to a page. */
static int pend_reserve(struct sk_index *ix)
{
    uint32_t need = ix->entries - ix->flushed + 1;
    if (need <= ix->pend_cap)
        return 0;
    uint32_t cap = ix->pend_cap ? ix->pend_cap * 2 : 4;
    uint32_t max = INDEX_PEND_BYTES / ix->esize;
    if (cap > max)
        cap = max > need ? max : need;
    uint8_t *p = realloc(ix->pend, (size_t)cap * ix->esize);
    if (!p)
        return -ENOMEM;
    ix->pend = p;
    ix->pend_cap = cap;
    return 0;
}

/* Gives [reserved, end) disk blocks, a chunk ahead. Filesystems without
 * fallocate get zeros written past the entries instead, which allocates just the
 * same. */
static int index_reserve(struct sk_index *ix, size_t end)
{
    static const uint8_t zero[4096];
    size_t used = (size_t)ix->entries * ix->esize;
    size_t to = end + INDEX_RESERVE_CHUNK < ix->map_len ? end + INDEX_RESERVE_CHUNK : ix->map_len;
    bool tmp;
    int fd = index_fd(ix, &tmp), r = 0;

    if (fd < 0)
        return fd;
    if (fallocate(fd, 0, (off_t)ix->reserved, (off_t)(to - ix->reserved)) < 0) {
        r = errno == EOPNOTSUPP ? 0 : -errno;
        for (size_t at = used > ix->reserved ? used : ix->reserved; r == 0 && at < to;) {
            size_t chunk = to - at < sizeof(zero) ? to - at : sizeof(zero);
            ssize_t w = pwrite(fd, zero, chunk, (off_t)at);
            if (w < 0)
                r = -errno;
            else
                at += (size_t)w;
        }
    }
    index_fd_done(fd, tmp);
    if (r == 0)
        ix->reserved = to;
    return r;
}

int sk_index_append(struct sk_index *ix, const uint8_t *entry)
{
    size_t at = (size_t)ix->entries * ix->esize;
    int r;

    if (ix->entries >= ix->max_entries)
        return -ENOSPC;
    if (at + ix->esize > ix->reserved && (r = index_reserve(ix, at + ix->esize)) < 0)
        return r;
    if ((r = pend_reserve(ix)) < 0)
        return r;
    memcpy(ix->pend + (size_t)(ix->entries - ix->flushed) * ix->esize, entry, ix->esize);
    ix->entries++;
    if ((ix->entries - ix->flushed) * ix->esize >= INDEX_PEND_BYTES)
        return sk_index_flush(ix);
    return 0;
}
