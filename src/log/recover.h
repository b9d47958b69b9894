/* Recovery of one segment: every batch is read whole and checked (framing, magic,
 * CRC-32C, offsets that keep increasing), and the indexes are rebuilt from what
 * passes. What fails is handled by where it is:
 *   - in the last segment, the first bad batch and everything after it are a torn
 *     tail of writes that never completed: the file is cut there;
 *   - in an older segment, later segments hold data that was acknowledged, so
 *     nothing is cut: the damaged bytes become a bad range that reads refuse. */
#ifndef SK_LOG_RECOVER_H
#define SK_LOG_RECOVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "epoch_cache.h"
#include "segment.h"

struct sk_recover_ctx {
    uint8_t **scratch;        /* grown to the largest batch */
    size_t *scratch_cap;
    int64_t interval;         /* index.interval.bytes */
    int64_t index_bytes;      /* segment.index.bytes while rebuilding */
    bool last;
    int64_t next_base;        /* base of the following segment; unused if last */
    struct sk_epoch_cache *epochs;
    uint64_t truncated;       /* out: bytes cut */
    uint32_t bad;             /* out: bad ranges recorded */
};

int sk_segment_recover(struct sk_segment *seg, struct sk_recover_ctx *ctx);

#endif
