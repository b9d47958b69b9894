/* Down-conversion of stored magic-2 batches to legacy message sets (magic 0
 * for Fetch v0-v1, magic 1 for Fetch v2-v3), as Kafka's RecordsUtil.downConvert
 * and LazyDownConversionRecords do for consumers older than 0.11.
 *
 * Each record becomes one legacy message: magic 1 keeps its timestamp (and
 * the LogAppendTime attribute), magic 0 has none, headers are dropped. A
 * compressed batch becomes one wrapper message compressed with the same
 * codec, whose offset is its last inner offset (inner offsets relative to the
 * first for magic 1, absolute for magic 0). Control batches are skipped: old
 * consumers have no notion of transaction markers. */
#ifndef SKEIN_RECORD_DOWNCONVERT_H
#define SKEIN_RECORD_DOWNCONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "skein/buf.h"

struct sk_downconvert_opts {
    int8_t magic;         /* 0 or 1 */
    int64_t first_offset; /* the fetch offset: earlier records of uncompressed batches are left out */
    size_t size_cap;      /* bytes the answer may take (the unconverted size, as Kafka sends) */
};

/* Converts the whole batches at data (len bytes; a trailing partial batch is
 * ignored) and appends the message set to out. The first batch that converts
 * to something is always kept whole so that a consumer makes progress; after
 * it, messages that would pass size_cap are left out (Kafka sends them cut at
 * the cap, which clients discard as a partial message). Conversion stops
 * before a zstd batch, which magic 0/1 cannot carry, or a corrupt one. scratch
 * holds decompressed records meanwhile. Returns 0, or a Kafka error code if
 * the first convertible batch is zstd (UNSUPPORTED_COMPRESSION_TYPE), corrupt
 * (CORRUPT_MESSAGE), or out of memory (UNKNOWN_SERVER_ERROR); out is then
 * unchanged. */
int sk_downconvert(const uint8_t *data, size_t len, const struct sk_downconvert_opts *o,
                   struct sk_buf *out, struct sk_buf *scratch);

#endif
