/* RecordBatch (magic 2) as stored on disk and sent on the wire.
 *
 * A batch is kept exactly as the producer sent it; the broker only rewrites the
 * header fields it owns (base offset, and for LogAppendTime the max timestamp and
 * the attribute bit, then the CRC). Everything here works in place on a byte range.
 *
 * Layout (big-endian):
 *   0 baseOffset int64 | 8 batchLength int32 | 12 partitionLeaderEpoch int32 |
 *  16 magic int8 | 17 crc uint32 (CRC-32C of bytes 21..end) | 21 attributes int16 |
 *  23 lastOffsetDelta int32 | 27 baseTimestamp int64 | 35 maxTimestamp int64 |
 *  43 producerId int64 | 51 producerEpoch int16 | 53 baseSequence int32 |
 *  57 recordCount int32 | 61 records...
 */
#ifndef SKEIN_RECORD_H
#define SKEIN_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_BATCH_HEADER_SIZE 61
#define SK_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */

/* attributes */
#define SK_BATCH_COMPRESSION_MASK 0x07
#define SK_BATCH_TIMESTAMP_TYPE 0x08 /* set: LogAppendTime */
#define SK_BATCH_TRANSACTIONAL 0x10
#define SK_BATCH_CONTROL 0x20
#define SK_BATCH_DELETE_HORIZON 0x40

enum sk_compression {
    SK_COMPRESSION_NONE = 0,
    SK_COMPRESSION_GZIP = 1,
    SK_COMPRESSION_SNAPPY = 2,
    SK_COMPRESSION_LZ4 = 3,
    SK_COMPRESSION_ZSTD = 4,
};

struct sk_batch_header {
    int64_t base_offset;
    int32_t batch_length; /* bytes after the batchLength field */
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

/* Reads the header of the batch at p (len bytes available). Returns 0, or
 * -EMSGSIZE if len is shorter than the header or the batch it announces,
 * -EBADMSG if the magic is not 2. Does not check the CRC. */
int sk_batch_header_read(const uint8_t *p, size_t len, struct sk_batch_header *h);

/* Total on-wire size of the batch starting at p: batch_length + 12. */
static inline size_t sk_batch_size(const struct sk_batch_header *h)
{
    return (size_t)h->batch_length + SK_BATCH_LOG_OVERHEAD;
}

/* CRC-32C (Castagnoli), hardware-accelerated where the CPU has it. */
uint32_t sk_crc32c(uint32_t crc, const void *buf, size_t len);

/* True if the stored CRC matches bytes 21..end of the batch. */
bool sk_batch_crc_ok(const uint8_t *p, const struct sk_batch_header *h);

/* In-place header rewrites; the *_and_crc variant recomputes the CRC. */
void sk_batch_set_base_offset(uint8_t *p, int64_t base_offset);
void sk_batch_set_leader_epoch(uint8_t *p, int32_t epoch);
void sk_batch_set_log_append_time(uint8_t *p, int64_t ts_ms); /* updates CRC */

#endif
