/* The framing fields of a stored batch, read without touching its body.
 *
 * Reading a fetch range or searching for an offset only needs to know where each
 * batch starts and ends and which offsets and timestamps it covers; parsing needs
 * the whole batch in memory (sk_batch_header_read), which would mean reading every
 * byte of the log to walk it. So the log reads these few fixed-position fields
 * itself, at the positions record.h documents, and leaves validation (CRC,
 * attributes, records) to the record part. */
#ifndef SK_LOG_BATCH_PEEK_H
#define SK_LOG_BATCH_PEEK_H

#include <stdbool.h>
#include <stdint.h>

#include "skein/record.h"

struct sk_peek {
    int64_t base;       /* first offset */
    int64_t last;       /* base + lastOffsetDelta */
    int64_t max_ts;     /* maxTimestamp */
    uint32_t size;      /* whole batch, log overhead included */
    int32_t epoch;      /* partitionLeaderEpoch */
};

/* Reads the framing of the batch at p (at least SK_BATCH_HEADER_SIZE bytes). False
 * if the fields cannot belong to a magic-2 batch of at most room bytes. */
bool sk_peek_read(const uint8_t *p, uint64_t room, struct sk_peek *out);

#endif
