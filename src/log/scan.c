#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "scan.h"

void sk_scan_init(struct sk_scan *s, const struct sk_segment *seg, int fd, uint32_t pos,
                  uint32_t end)
{
    s->seg = seg;
    s->fd = fd;
    s->pos = pos;
    s->end = end;
    s->buf_at = 0;
    s->buf_len = 0;
}

/* Makes [pos, pos + need) available in the buffer, reading from pos if not. */
static int scan_fill(struct sk_scan *s, uint32_t need)
{
    if (s->pos >= s->buf_at && (uint64_t)s->pos + need <= s->buf_at + s->buf_len)
        return 0;
    uint32_t want = s->end - s->pos < SK_SCAN_BUF ? s->end - s->pos : SK_SCAN_BUF;
    ssize_t n = pread(s->fd, s->buf, want, s->pos);
    if (n < 0)
        return -errno;
    s->buf_at = s->pos;
    s->buf_len = (uint32_t)n;
    return (uint32_t)n < need ? -EBADMSG : 0;
}

static const struct sk_bad_range *scan_bad_at_pos(const struct sk_segment *seg, uint32_t pos)
{
    for (uint32_t i = 0; i < seg->nbad; i++)
        if (seg->bad[i].pos == pos)
            return &seg->bad[i];
    return NULL;
}

int sk_scan_next(struct sk_scan *s, struct sk_scan_item *it)
{
    int r;

    if (s->pos >= s->end)
        return SK_SCAN_END;
    it->pos = s->pos;
    it->bad = scan_bad_at_pos(s->seg, s->pos);
    if (it->bad) {
        s->pos += it->bad->len;
        return SK_SCAN_BAD;
    }
    if (s->end - s->pos < SK_BATCH_HEADER_SIZE)
        return -EBADMSG;
    if ((r = scan_fill(s, SK_BATCH_HEADER_SIZE)) < 0)
        return r;
    if (!sk_peek_read(s->buf + (s->pos - s->buf_at), s->end - s->pos, &it->h))
        return -EBADMSG;
    s->pos += it->h.size;
    return SK_SCAN_BATCH;
}

int sk_scan_find(const struct sk_segment *seg, int fd, struct sk_scan *s, int64_t offset,
                 struct sk_scan_item *it, int *found)
{
    int64_t ioff;
    uint32_t ipos;
    int k;

    *found = 0;
    if (sk_segment_bad_at(seg, offset))
        return -EBADMSG;
    sk_oidx_lookup(&seg->oidx, offset, &ioff, &ipos);
    sk_scan_init(s, seg, fd, ipos, seg->size);
    while ((k = sk_scan_next(s, it)) > 0) {
        if (k == SK_SCAN_BAD) {
            if (offset <= it->bad->last)
                return -EBADMSG;
            continue;
        }
        if (it->h.last >= offset) {
            *found = 1;
            return 0;
        }
    }
    return k;
}
