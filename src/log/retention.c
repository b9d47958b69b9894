/* Retention and DeleteRecords: the log start offset moves forward and whole
 * segments below it go. Only segments wholly below the high watermark are
 * deleted, so nothing a follower or consumer may still need below it vanishes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plog-int.h"

/* Kafka's three rules in one pass from the oldest segment: too old by its largest
 * timestamp, beyond retention.bytes, or wholly below the log start offset. */
static size_t retention_count(const struct sk_plog *p, int64_t now_ms, int64_t hw)
{
    int64_t leo = sk_plog_log_end_offset(p);
    int64_t excess = p->cfg.retention_bytes >= 0
                         ? (int64_t)sk_plog_size_bytes(p) - p->cfg.retention_bytes : -1;
    size_t n = 0;

    for (; n < p->nsegs; n++) {
        const struct sk_segment *seg = p->segs[n];
        bool last = n + 1 == p->nsegs;
        int64_t next_base = last ? leo : p->segs[n + 1]->base;
        if (next_base > hw || (last && seg->size == 0))
            break;
        bool by_start = !last && next_base <= p->log_start;
        bool by_time = p->cfg.retention_ms >= 0 &&
                       now_ms - sk_segment_largest_ts(seg) > p->cfg.retention_ms;
        bool by_size = excess >= (int64_t)seg->size;
        if (!by_start && !by_time && !by_size)
            break;
        excess -= seg->size;
    }
    return n;
}

/* Deletes segs[0..n): the log restarts at the first segment left. */
static int retention_drop(struct sk_plog *p, size_t n, int64_t now_ms)
{
    int r;

    /* never leave the log without a segment: roll first, as Kafka does */
    if (n == p->nsegs && (r = sk_plog_roll(p, now_ms)) < 0)
        return r;
    int64_t start = p->segs[n]->base;
    if ((r = sk_plog_drop_front(p, n)) < 0)
        return r;
    return sk_plog_set_log_start(p, start);
}

int sk_plog_retention(struct sk_plog *p, int64_t now_ms, int64_t hw)
{
    size_t n = retention_count(p, now_ms, hw);
    int r;

    if (n == 0)
        return 0;
    if ((r = retention_drop(p, n, now_ms)) < 0)
        return r;
    return (int)n;
}

int sk_plog_delete_records(struct sk_plog *p, int64_t offset)
{
    size_t n = 0;
    int r;

    if (offset > sk_plog_log_end_offset(p) || offset < 0)
        return -ERANGE;
    if (offset <= p->log_start)
        return 0;
    if ((r = sk_plog_set_log_start(p, offset)) < 0)
        return r;
    /* the active segment stays even if wholly below: appends continue in it */
    while (n + 1 < p->nsegs && p->segs[n + 1]->base <= offset)
        n++;
    return n ? sk_plog_drop_front(p, n) : 0;
}

int sk_plog_purge_deleted(struct sk_plog *p, int64_t now_ms)
{
    size_t keep = 0;
    int err = 0;

    for (size_t i = 0; i < p->npending; i++) {
        struct sk_pending_delete *d = &p->pending[i];
        if (d->due_ms == INT64_MIN)
            d->due_ms = now_ms + p->cfg.file_delete_delay_ms;
        if (now_ms < d->due_ms) {
            p->pending[keep++] = *d;
            continue;
        }
        if (unlink(d->path) < 0 && errno != ENOENT && !err)
            err = -errno;
        free(d->path);
    }
    p->npending = keep;
    return err;
}
