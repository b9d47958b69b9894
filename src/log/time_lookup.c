/* ListOffsets: from a timestamp (or one of the special ones) to an offset. */
#include <errno.h>

#include "plog-int.h"
#include "scan.h"

/* First batch in seg at or after the time index's hint whose max timestamp is
 * >= ts and which still has offsets at or above the log start. */
static bool time_scan(const struct sk_plog *p, const struct sk_segment *seg, int64_t ts,
                      struct sk_plog_time_result *out)
{
    int64_t from = sk_tidx_lookup(&seg->tidx, ts), ioff;
    uint32_t pos;
    struct sk_scan s;
    struct sk_scan_item it;
    int k;

    if (from < p->log_start)
        from = p->log_start;
    sk_oidx_lookup(&seg->oidx, from, &ioff, &pos);
    sk_scan_init(&s, seg, pos, seg->size);
    while ((k = sk_scan_next(&s, &it)) > 0) {
        if (k != SK_SCAN_BATCH || it.h.max_ts < ts || it.h.last < p->log_start)
            continue;
        out->offset = it.h.base < p->log_start ? p->log_start : it.h.base;
        out->timestamp = it.h.max_ts;
        return true;
    }
    return false;
}

static void time_max(const struct sk_plog *p, struct sk_plog_time_result *out)
{
    const struct sk_segment *best = NULL;

    for (size_t i = 0; i < p->nsegs; i++)
        if (p->segs[i]->max_ts >= 0 && (!best || p->segs[i]->max_ts > best->max_ts))
            best = p->segs[i];
    if (best) {
        out->offset = best->max_ts_offset;
        out->timestamp = best->max_ts;
    }
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
