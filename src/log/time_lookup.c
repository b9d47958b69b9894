/* ListOffsets: from a timestamp (or one of the special ones) to an offset.
 *
 * The time index and the batch headers narrow the search to one batch; the
 * answer is then the first record in it at or after the timestamp, as Kafka
 * gives, so a consumer seeking by time does not see older records first. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "skein/buf.h"
#include "skein/record.h"

#include "plog-int.h"
#include "scan.h"

/* Cap on decompressed batch size while looking inside it. */
#define TIME_SCRATCH_LIMIT (64u << 20)

/* First record of the batch at pos with timestamp >= ts and offset >= min;
 * falls back to the batch's first offset if its records cannot be walked. */
static void time_in_batch(int fd, const struct sk_scan_item *it, int64_t ts, int64_t min,
                          struct sk_plog_time_result *out)
{
    uint8_t *b = malloc(it->h.size);
    struct sk_buf scratch = {.limit = TIME_SCRATCH_LIMIT};
    struct sk_record_iter ri;
    struct sk_record r;

    out->offset = it->h.base < min ? min : it->h.base;
    out->timestamp = it->h.max_ts;
    if (b && pread(fd, b, it->h.size, it->pos) == (ssize_t)it->h.size &&
        sk_record_iter_init(&ri, b, it->h.size, &scratch) == 0) {
        while (sk_record_iter_next(&ri, &r) == 1) {
            if (r.timestamp >= ts && r.offset >= min) {
                out->offset = r.offset;
                out->timestamp = r.timestamp;
                break;
            }
        }
    }
    sk_buf_free(&scratch);
    free(b);
}

/* First batch in seg at or after the time index's hint whose max timestamp is
 * >= ts and which still has offsets at or above the log start. */
static bool time_scan(const struct sk_plog *p, const struct sk_segment *seg, int64_t ts,
                      struct sk_plog_time_result *out)
{
    int64_t from = sk_tidx_lookup(&seg->tidx, ts), ioff;
    uint32_t pos;
    struct sk_scan s;
    struct sk_scan_item it;
    bool own, hit = false;
    int k, fd = sk_segment_borrow_fd(seg, &own);

    if (fd < 0)
        return false;
    if (from < p->log_start)
        from = p->log_start;
    sk_oidx_lookup(&seg->oidx, from, &ioff, &pos);
    sk_scan_init(&s, seg, fd, pos, seg->size);
    while (!hit && (k = sk_scan_next(&s, &it)) > 0) {
        if (k != SK_SCAN_BATCH || it.h.max_ts < ts || it.h.last < p->log_start)
            continue;
        time_in_batch(fd, &it, ts, p->log_start, out);
        hit = true;
    }
    if (own)
        close(fd);
    return hit;
}

/* The record carrying the largest timestamp of the whole log. */
static void time_max(const struct sk_plog *p, struct sk_plog_time_result *out)
{
    const struct sk_segment *best = NULL;
    struct sk_scan s;
    struct sk_scan_item it;
    bool own;
    int found, fd;

    for (size_t i = 0; i < p->nsegs; i++)
        if (p->segs[i]->max_ts >= 0 && (!best || p->segs[i]->max_ts > best->max_ts))
            best = p->segs[i];
    if (!best)
        return;
    out->offset = best->max_ts_offset;
    out->timestamp = best->max_ts;
    if ((fd = sk_segment_borrow_fd(best, &own)) < 0)
        return;
    if (sk_scan_find(best, fd, &s, best->max_ts_offset, &it, &found) == 0 && found)
        time_in_batch(fd, &it, best->max_ts, p->log_start, out);
    if (own)
        close(fd);
}

int sk_plog_offset_for_time(struct sk_plog *p, int64_t ts, struct sk_plog_time_result *out)
{
    *out = (struct sk_plog_time_result){-1, -1, -1};
    if (ts == SK_PLOG_EARLIEST_TIMESTAMP) {
        out->offset = p->log_start;
    } else if (ts == SK_PLOG_LATEST_TIMESTAMP) {
        out->offset = sk_plog_log_end_offset(p);
        out->leader_epoch = sk_epoch_latest(&p->epochs);
        return 0;
    } else if (ts == SK_PLOG_MAX_TIMESTAMP) {
        time_max(p, out);
    } else if (ts >= 0) {
        for (size_t i = 0; i < p->nsegs; i++)
            if (p->segs[i]->max_ts >= ts && time_scan(p, p->segs[i], ts, out))
                break;
    } else {
        return -EINVAL;
    }
    if (out->offset >= 0)
        out->leader_epoch = sk_epoch_for_offset(&p->epochs, out->offset);
    return 0;
}
