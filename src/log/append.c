/* Appending batches: check that they continue the log, roll if the active segment
 * is done, write them in one pwrite, then account them in the segment and its
 * indexes. All or nothing: on any failure the segment is put back as it was. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "skein/record.h"

#include "plog-int.h"

struct append_plan {
    int64_t first, last;
    int64_t max_ts, max_ts_offset;
    uint32_t batches;
};

static int append_check_one(const struct sk_plog *p, const uint8_t *b, size_t room,
                            int64_t expected, bool first, struct sk_peek *h)
{
    struct sk_batch_header bh;

    if (sk_batch_header_read(b, room, &bh) < 0 || !sk_peek_read(b, room, h))
        return -EINVAL;
    /* The first batch must start exactly at the end; later ones only after the
     * previous one, since a compacted leader's batches can leave offset gaps. */
    if (first ? h->base != expected : h->base < expected)
        return -EILSEQ;
    if ((int64_t)h->size > p->cfg.segment_bytes)
        return -EMSGSIZE;
    return 0;
}

static int append_plan(const struct sk_plog *p, const uint8_t *buf, size_t len,
                       struct append_plan *a)
{
    int64_t expected = sk_plog_log_end_offset(p);
    size_t pos = 0;
    struct sk_peek h;

    memset(a, 0, sizeof(*a));
    a->max_ts = -1;
    if (len > INT32_MAX)
        return -EMSGSIZE;
    while (pos < len) {
        int r = append_check_one(p, buf + pos, len - pos, expected, a->batches == 0, &h);
        if (r < 0)
            return r;
        if (a->batches++ == 0)
            a->first = h.base;
        if (h.max_ts > a->max_ts) {
            a->max_ts = h.max_ts;
            a->max_ts_offset = h.last;
        }
        a->last = h.last;
        expected = h.last + 1;
        pos += h.size;
    }
    return a->batches ? 0 : -EINVAL;
}

/* Kafka's roll conditions: size, age (by the batches' own timestamps when they
 * have them), a full index, or a relative offset that would not fit in int32. */
static bool should_roll(const struct sk_plog *p, const struct sk_segment *seg, size_t len,
                        const struct append_plan *a, int64_t now_ms)
{
    int64_t waited = seg->first_ts >= 0 ? a->max_ts - seg->first_ts : now_ms - seg->created_ms;

    if (seg->size == 0)
        return false;
    return (int64_t)seg->size > p->cfg.segment_bytes - (int64_t)len ||
           (int64_t)seg->size > (int64_t)INT32_MAX - (int64_t)len ||
           waited > p->cfg.segment_ms || sk_oidx_full(&seg->oidx) || sk_tidx_full(&seg->tidx) ||
           a->last - seg->base > INT32_MAX;
}

/* Puts the segment back as before a failed append. A short write may have left
 * bytes past size; they are cut so that a crash cannot make them look appended.
 * Index entries past the restored counts are stale but unreachable, and a load
 * that meets them fails the index sanity check and rebuilds. */
static int append_undo(struct sk_segment *seg, const struct sk_segment *saved, int err)
{
    struct sk_index o = seg->oidx, t = seg->tidx;

    sk_index_forget(&o, saved->oidx.entries);
    sk_index_forget(&t, saved->tidx.entries);
    *seg = *saved;
    seg->oidx = o;
    seg->tidx = t;
    (void)ftruncate(seg->fd, seg->size); /* err below says what went wrong */
    return err;
}

static int append_write(struct sk_plog *p, struct sk_segment *seg, const uint8_t *buf, size_t len)
{
    struct sk_segment saved = *seg;
    size_t pos = 0;
    struct sk_peek h;
    int r;

    if ((r = sk_pwrite_all(seg->fd, buf, len, (off_t)seg->size)) < 0)
        return append_undo(seg, &saved, r);
    while (pos < len) {
        (void)sk_peek_read(buf + pos, len - pos, &h); /* checked by append_plan */
        if ((r = sk_segment_account(seg, &h, seg->size, p->cfg.index_interval_bytes)) < 0)
            return append_undo(seg, &saved, r);
        pos += h.size;
    }
    return 0;
}

/* New leader epochs start at the first batch that carries them. A failed
 * checkpoint write stays dirty and is retried by the next flush. */
static void append_epochs(struct sk_plog *p, const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    struct sk_peek h;

    while (pos < len) {
        (void)sk_peek_read(buf + pos, len - pos, &h);
        if (h.epoch > sk_epoch_latest(&p->epochs))
            (void)sk_epoch_assign(&p->epochs, h.epoch, h.base);
        pos += h.size;
    }
    if (p->epochs.dirty)
        (void)sk_epoch_write(&p->epochs);
}

int sk_plog_append(struct sk_plog *p, const uint8_t *buf, size_t len, int64_t now_ms,
                   struct sk_plog_append_info *info)
{
    struct append_plan a;
    bool rolled = false;
    int r;

    if (p->sync_err)
        return p->sync_err; /* offline: see sk_plog_sync_failed */
    if ((r = append_plan(p, buf, len, &a)) < 0)
        return r;
    if (should_roll(p, sk_plog_active(p), len, &a, now_ms)) {
        if ((r = sk_plog_roll_at(p, a.first, now_ms)) < 0)
            return r;
        rolled = true;
    }
    struct sk_segment *seg = sk_plog_active(p);
    if (a.last - seg->base > INT32_MAX || (uint64_t)seg->size + len > INT32_MAX)
        return -EMSGSIZE;
    if ((r = append_write(p, seg, buf, len)) < 0)
        return r;
    append_epochs(p, buf, len);
    if (info)
        *info = (struct sk_plog_append_info){a.first, a.last, a.max_ts,
                                             a.max_ts < 0 ? -1 : a.max_ts_offset, a.batches, rolled};
    return 0;
}
