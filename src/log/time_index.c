/* The time index: for growing timestamps, the offset from which a reader finds
 * batches at least that recent. Each entry holds the largest timestamp seen so far
 * in the segment and the last offset of the batch that carried it, so timestamps
 * are strictly increasing and offsets never decrease. */
#include <errno.h>

#include "be.h"
#include "index.h"

int64_t sk_tidx_ts(const struct sk_index *ix, uint32_t i)
{
    return (int64_t)sk_be64(sk_index_at(ix, i));
}

int64_t sk_tidx_offset(const struct sk_index *ix, uint32_t i)
{
    return ix->base + (int32_t)sk_be32(sk_index_at(ix, i) + 8);
}

bool sk_tidx_full(const struct sk_index *ix)
{
    return ix->entries + 1 >= ix->max_entries;
}

int sk_tidx_maybe_append(struct sk_index *ix, int64_t ts, int64_t offset, bool skip_full_check)
{
    uint8_t e[SK_TIDX_ENTRY];
    int64_t last_ts = -1, last_off = ix->base;

    if (ix->entries > 0) {
        last_ts = sk_tidx_ts(ix, ix->entries - 1);
        last_off = sk_tidx_offset(ix, ix->entries - 1);
    }
    if (ts <= last_ts)
        return 0;
    if (offset < last_off)
        return -EINVAL;
    if (!skip_full_check && sk_tidx_full(ix))
        return 0;
    if (ix->entries >= ix->max_entries) {
        int r = sk_index_resize(ix, (uint64_t)(ix->entries + 1) * SK_TIDX_ENTRY);
        if (r < 0)
            return r;
    }
    if (offset - ix->base > INT32_MAX)
        return -EOVERFLOW;
    sk_put_be64(e, (uint64_t)ts);
    sk_put_be32(e + 8, (uint32_t)(offset - ix->base));
    return sk_index_append(ix, e);
}

/* Index of the largest entry whose timestamp is <= ts, or -1. */
static int64_t tidx_floor(const struct sk_index *ix, int64_t ts)
{
    int64_t lo = 0, hi = (int64_t)ix->entries - 1, found = -1;

    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (sk_tidx_ts(ix, (uint32_t)mid) <= ts) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

int64_t sk_tidx_lookup(const struct sk_index *ix, int64_t ts)
{
    int64_t i = tidx_floor(ix, ts);

    return i < 0 ? ix->base : sk_tidx_offset(ix, (uint32_t)i);
}

void sk_tidx_load(struct sk_index *ix)
{
    uint32_t n = 0;

    while (n < ix->max_entries) {
        const uint8_t *e = sk_index_file_at(ix, n);
        int64_t ts = (int64_t)sk_be64(e);
        int32_t rel = (int32_t)sk_be32(e + 8);
        if (ts < 0 || rel < 0)
            break;
        if (n > 0 && (ts <= (int64_t)sk_be64(e - SK_TIDX_ENTRY) ||
                      rel < (int32_t)sk_be32(e - SK_TIDX_ENTRY + 8)))
            break;
        n++;
    }
    sk_index_loaded(ix, n);
}

int sk_tidx_truncate_to(struct sk_index *ix, int64_t offset)
{
    uint32_t n = ix->entries;

    while (n > 0 && sk_tidx_offset(ix, n - 1) >= offset)
        n--;
    return sk_index_truncate(ix, n);
}
