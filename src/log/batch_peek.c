#include "batch_peek.h"
#include "be.h"

bool sk_peek_read(const uint8_t *p, uint64_t room, struct sk_peek *out)
{
    int32_t len = (int32_t)sk_be32(p + 8);
    int32_t delta = (int32_t)sk_be32(p + 23);

    /* A length shorter than the fixed header is how zero-filled or torn space
     * looks; a length past room is a batch that never finished being written. */
    if (len < SK_BATCH_HEADER_SIZE - SK_BATCH_LOG_OVERHEAD)
        return false;
    if ((uint64_t)len + SK_BATCH_LOG_OVERHEAD > room)
        return false;
    if (p[16] != 2 || delta < 0)
        return false;
    out->base = (int64_t)sk_be64(p);
    if (out->base < 0 || out->base > INT64_MAX - delta)
        return false;
    out->last = out->base + delta;
    out->max_ts = (int64_t)sk_be64(p + 35);
    out->size = (uint32_t)len + SK_BATCH_LOG_OVERHEAD;
    out->epoch = (int32_t)sk_be32(p + 12);
    return true;
}
