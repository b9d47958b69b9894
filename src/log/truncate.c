/* Truncation for replication: a follower whose log diverged from the leader's
 * drops its tail (truncate_to) or everything (truncate_fully). */
#include <errno.h>
#include <unistd.h>
#include <time.h>

#include "plog-int.h"
#include "scan.h"

/* Where in seg the data at or after offset starts: *pos, and the log end offset
 * once it is cut there. A batch holding offset goes whole. */
static int truncate_point(const struct sk_segment *seg, int64_t offset, uint32_t *pos,
                          int64_t *next)
{
    const struct sk_bad_range *bad = sk_segment_bad_at(seg, offset);
    struct sk_scan s;
    struct sk_scan_item it;
    int found, r;

    if (bad) {
        *pos = bad->pos;
        *next = bad->first < offset ? bad->first : offset;
        return 0;
    }
    bool own;
    int fd = sk_segment_borrow_fd(seg, &own);
    if (fd < 0)
        return fd;
    r = sk_scan_find(seg, fd, &s, offset, &it, &found);
    if (own)
        close(fd);
    if (r < 0)
        return r;
    *pos = found ? it.pos : seg->size;
    *next = found && it.h.base < offset ? it.h.base : offset;
    if (!found && seg->next_offset < offset)
        *next = seg->next_offset;
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int truncate_done(struct sk_plog *p)
{
    int64_t leo = sk_plog_log_end_offset(p);

    if (p->recovery_point > leo)
        p->recovery_point = leo;
    sk_epoch_truncate_from_end(&p->epochs, leo);
    return p->epochs.dirty ? sk_epoch_write(&p->epochs) : 0;
}

int sk_plog_truncate_to(struct sk_plog *p, int64_t offset)
{
    uint32_t pos;
    int64_t next;
    int r;

    if (offset >= sk_plog_log_end_offset(p))
        return 0;
    if (offset < p->log_start)
        return sk_plog_truncate_fully(p, offset, wall_ms());
    ssize_t i = sk_plog_find_segment(p, offset);
    bool was_active = (size_t)i + 1 == p->nsegs;
    if ((r = truncate_point(p->segs[i], offset, &pos, &next)) < 0)
        return r;
    if ((r = sk_plog_drop_back(p, (size_t)i + 1)) < 0)
        return r;
    if (!was_active && (r = sk_segment_unseal(p->segs[i], p->cfg.segment_index_bytes)) < 0)
        return r;
    if ((r = sk_segment_truncate(p->segs[i], pos, next)) < 0)
        return r;
    return truncate_done(p);
}

/* Reuses the segment based at offset if there is one: its name is taken. */
static int truncate_fully_reuse(struct sk_plog *p, size_t j, int64_t offset)
{
    int r;

    if ((r = sk_plog_drop_back(p, j + 1)) < 0)
        return r;
    if ((r = sk_segment_truncate(p->segs[j], 0, offset)) < 0 ||
        (r = sk_segment_unseal(p->segs[j], p->cfg.segment_index_bytes)) < 0)
        return r;
    return sk_plog_drop_front(p, j);
}

int sk_plog_truncate_fully(struct sk_plog *p, int64_t offset, int64_t now_ms)
{
    struct sk_segment *seg;
    int r;

    if (offset < 0)
        return -ERANGE;
    ssize_t j = sk_plog_find_segment(p, offset);
    if (j >= 0 && p->segs[j]->base == offset) {
        r = truncate_fully_reuse(p, (size_t)j, offset);
    } else {
        /* create first so that a failure leaves the old log in place */
        if ((r = sk_segment_create(p->dir, offset, p->cfg.segment_index_bytes, now_ms, &seg)) < 0)
            return r;
        r = sk_plog_drop_back(p, 0);
        p->segs[p->nsegs++] = seg; /* capacity >= 1 since the log had a segment */
        p->dir_dirty = true;
    }
    p->log_start = offset;
    p->recovery_point = offset;
    p->epochs.n = 0;
    p->epochs.dirty = 1;
    int r2 = truncate_done(p);
    return r < 0 ? r : r2;
}
