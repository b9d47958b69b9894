/* The offset index: sparse map from offset to the file position of a batch at or
 * before it. Entries are strictly increasing in both offset and position. */
#include <errno.h>

#include "be.h"
#include "index.h"

int64_t sk_oidx_offset(const struct sk_index *ix, uint32_t i)
{
    return ix->base + (int32_t)sk_be32(sk_index_at(ix, i));
}

uint32_t sk_oidx_pos(const struct sk_index *ix, uint32_t i)
{
    return sk_be32(sk_index_at(ix, i) + 4);
}

bool sk_oidx_full(const struct sk_index *ix)
{
    return ix->entries >= ix->max_entries;
}

int sk_oidx_append(struct sk_index *ix, int64_t offset, uint32_t pos)
{
    uint8_t e[SK_OIDX_ENTRY];

    if (sk_oidx_full(ix))
        return 0; /* the segment rolls before this matters; the index is sparse */
    if (ix->entries > 0 && offset <= sk_oidx_offset(ix, ix->entries - 1))
        return -EINVAL;
    if (offset - ix->base < 0 || offset - ix->base > INT32_MAX)
        return -EOVERFLOW;
    sk_put_be32(e, (uint32_t)(offset - ix->base));
    sk_put_be32(e + 4, pos);
    return sk_index_append(ix, e);
}

/* Index of the largest entry whose offset is <= target, or -1. */
static int64_t oidx_floor(const struct sk_index *ix, int64_t target)
{
    int64_t lo = 0, hi = (int64_t)ix->entries - 1, found = -1;

    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (sk_oidx_offset(ix, (uint32_t)mid) <= target) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

void sk_oidx_lookup(const struct sk_index *ix, int64_t target, int64_t *offset, uint32_t *pos)
{
    int64_t i = oidx_floor(ix, target);

    *offset = i < 0 ? ix->base : sk_oidx_offset(ix, (uint32_t)i);
    *pos = i < 0 ? 0 : sk_oidx_pos(ix, (uint32_t)i);
}

void sk_oidx_load(struct sk_index *ix)
{
    uint32_t n = 0;

    while (n < ix->max_entries) {
        const uint8_t *e = sk_index_file_at(ix, n);
        int32_t rel = (int32_t)sk_be32(e);
        if (rel < 0)
            break;
        if (n > 0 && (rel <= (int32_t)sk_be32(e - SK_OIDX_ENTRY) ||
                      sk_be32(e + 4) <= sk_be32(e - SK_OIDX_ENTRY + 4)))
            break;
        n++;
    }
    sk_index_loaded(ix, n);
}

int sk_oidx_truncate_to(struct sk_index *ix, int64_t offset)
{
    int64_t i = oidx_floor(ix, offset);

    /* keep entries strictly below offset */
    if (i >= 0 && sk_oidx_offset(ix, (uint32_t)i) == offset)
        i--;
    return sk_index_truncate(ix, (uint32_t)(i + 1));
}
