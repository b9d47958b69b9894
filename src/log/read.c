/* Reading: from an offset to a byte range of whole batches in one segment file,
 * which the fetch path can hand to sendfile/splice without copying. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "plog-int.h"
#include "scan.h"

struct read_limits {
    uint32_t max_bytes;
    int64_t max_offset;
    bool min_one;
};

/* Extends the slice from the batch in it over the following batches while they
 * fit and stay below max_offset; stops before a bad range. */
static void read_extend(struct sk_scan *s, const struct sk_scan_item *first,
                        const struct read_limits *lim, struct sk_plog_slice *out)
{
    struct sk_scan_item it;

    out->pos = first->pos;
    out->first_offset = first->h.base;
    if (first->h.last >= lim->max_offset)
        return;
    if (first->h.size > lim->max_bytes && !lim->min_one)
        return;
    out->len = first->h.size;
    out->next_offset = first->h.last + 1;
    while (sk_scan_next(s, &it) == SK_SCAN_BATCH && it.h.last < lim->max_offset &&
           (uint64_t)out->len + it.h.size <= lim->max_bytes) {
        out->len += it.h.size;
        out->next_offset = it.h.last + 1;
    }
}

int sk_plog_read(struct sk_plog *p, int64_t offset, uint32_t max_bytes, int64_t max_offset,
                 bool min_one, struct sk_plog_slice *out)
{
    const struct read_limits lim = {max_bytes, max_offset, min_one};
    struct sk_scan s;
    struct sk_scan_item it;
    int found, r;

    *out = (struct sk_plog_slice){.fd = -1, .first_offset = offset, .next_offset = offset};
    if (offset < p->log_start || offset > sk_plog_log_end_offset(p))
        return -ERANGE;
    ssize_t i = sk_plog_find_segment(p, offset);
    for (i = i < 0 ? 0 : i; (size_t)i < p->nsegs; i++) {
        bool own;
        int fd = sk_segment_borrow_fd(p->segs[i], &own);
        if (fd < 0)
            return fd;
        if ((r = sk_scan_find(p->segs[i], fd, &s, offset, &it, &found)) == 0 && found)
            read_extend(&s, &it, &lim, out);
        if (r < 0 || !found || out->len == 0) {
            if (own)
                close(fd);
            if (r < 0 || found)
                return r;
            continue; /* offset lies past this segment's last batch */
        }
        /* the slice outlives this call, and the segment may close its fd */
        out->fd = own ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
        return out->fd < 0 ? -errno : 0;
    }
    return 0; /* offset == log end offset */
}

void sk_plog_slice_release(struct sk_plog_slice *sl)
{
    if (sl->fd >= 0)
        close(sl->fd);
    sl->fd = -1;
}

int sk_plog_read_copy(struct sk_plog *p, int64_t offset, uint32_t max_bytes, int64_t max_offset,
                      uint8_t *buf, size_t cap, size_t *len)
{
    struct sk_plog_slice sl;
    int r = sk_plog_read(p, offset, max_bytes, max_offset, true, &sl);

    *len = 0;
    if (r == 0 && sl.len > cap)
        r = -ENOBUFS;
    for (size_t done = 0; r == 0 && done < sl.len;) {
        ssize_t n = pread(sl.fd, buf + done, sl.len - done, (off_t)(sl.pos + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO;
        else
            done += (size_t)n;
    }
    sk_plog_slice_release(&sl);
    if (r == 0)
        *len = sl.len;
    return r;
}
