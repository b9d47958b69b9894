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

#include "skein/buf.h"

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

/* Any level below the codecs' ranges: use each codec's default (as Kafka does). */
#define SK_COMPRESSION_LEVEL_DEFAULT (-1000)

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

#define SK_NO_TIMESTAMP (-1LL)
#define SK_NO_PRODUCER_ID (-1LL)

/* CRC-32C (Castagnoli), hardware-accelerated where the CPU has it. Chainable:
 * pass 0 first, then the previous result. */
uint32_t sk_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t sk_crc32c_sw(uint32_t crc, const void *buf, size_t len); /* table only */
uint32_t sk_crc32c_hw(uint32_t crc, const void *buf, size_t len); /* sw if no SSE4.2 */
bool sk_crc32c_hw_available(void);

/* True if the stored CRC matches bytes 21..end of the batch. */
bool sk_batch_crc_ok(const uint8_t *p, const struct sk_batch_header *h);

/* In-place header rewrites; the *_and_crc variant recomputes the CRC. */
void sk_batch_set_base_offset(uint8_t *p, int64_t base_offset);
void sk_batch_set_leader_epoch(uint8_t *p, int32_t epoch);
void sk_batch_set_log_append_time(uint8_t *p, int64_t ts_ms); /* updates CRC */
/* CreateTime max timestamp (clears the LogAppendTime bit); updates the CRC. */
void sk_batch_set_max_timestamp(uint8_t *p, int64_t ts_ms);
/* Recomputes and stores the CRC of the batch at p (batch_length read from p). */
void sk_batch_update_crc(uint8_t *p);

static inline enum sk_compression sk_batch_compression(const struct sk_batch_header *h)
{
    return (enum sk_compression)(h->attributes & SK_BATCH_COMPRESSION_MASK);
}

/* ---- Records inside a batch --------------------------------------------- */

/* One record header; value_len -1 is a null value. */
struct sk_header {
    const uint8_t *key;
    int32_t key_len;
    const uint8_t *value;
    int32_t value_len;
};

/* One record as slices into the batch (or into the decompression buffer). A
 * length of -1 is a null key or value. Headers stay encoded: walk them with
 * sk_header_iter. */
struct sk_record {
    int64_t offset;     /* base offset + offset delta */
    int64_t timestamp;  /* base timestamp + delta, or the batch max for LogAppendTime */
    int32_t offset_delta;
    int8_t attributes;
    const uint8_t *key;
    int32_t key_len;
    const uint8_t *value;
    int32_t value_len;
    int32_t header_count;
    const uint8_t *headers; /* header_count encoded headers */
    size_t headers_len;
};

struct sk_record_iter {
    struct sk_batch_header h;
    const uint8_t *p, *end;
    int32_t index;
};

/* Starts iterating the batch at batch (len bytes). A compressed batch is first
 * decompressed into scratch (appended; scratch->limit caps it), which must then
 * outlive the iteration. Checks the header and the length, not the CRC.
 * Returns 0 or a Kafka error code: CORRUPT_MESSAGE (bad framing),
 * UNSUPPORTED_COMPRESSION_TYPE, MESSAGE_TOO_LARGE (decompressed past the limit),
 * INVALID_RECORD (decompression failed). */
int sk_record_iter_init(struct sk_record_iter *it, const uint8_t *batch, size_t len,
                        struct sk_buf *scratch);

/* Next record: 1 and *r filled, 0 after the last one, or -1 if the records do
 * not parse or do not match the declared count exactly (Kafka: INVALID_RECORD). */
int sk_record_iter_next(struct sk_record_iter *it, struct sk_record *r);

struct sk_header_iter {
    const uint8_t *p, *end;
    int32_t left;
};

static inline void sk_header_iter_init(struct sk_header_iter *hi, const struct sk_record *r)
{
    hi->p = r->headers;
    hi->end = r->headers + r->headers_len;
    hi->left = r->header_count;
}

/* 1 and *h filled, 0 at the end, -1 if malformed. */
int sk_header_iter_next(struct sk_header_iter *hi, struct sk_header *h);

/* Parses one encoded record (length varint included) at *pp, advancing it.
 * Returns false if it is malformed or runs past end. Offsets/timestamps are
 * left as deltas (offset = delta, timestamp = delta). */
bool sk_record_parse(const uint8_t **pp, const uint8_t *end, struct sk_record *r);

/* ---- Building batches ---------------------------------------------------- */

struct sk_batch_spec {
    int64_t base_offset;
    int32_t partition_leader_epoch;
    enum sk_compression compression;
    int compression_level;   /* SK_COMPRESSION_LEVEL_DEFAULT for the codec's default */
    int16_t flags;           /* SK_BATCH_TRANSACTIONAL | SK_BATCH_CONTROL | SK_BATCH_TIMESTAMP_TYPE */
    int64_t log_append_time; /* max timestamp when SK_BATCH_TIMESTAMP_TYPE is set */
    int64_t producer_id;     /* SK_NO_PRODUCER_ID, epoch -1, sequence -1 when none */
    int16_t producer_epoch;
    int32_t base_sequence;
};

/* Spec for a plain broker-internal batch: no producer, no compression. */
struct sk_batch_spec sk_batch_spec_default(void);

struct sk_record_in {
    int64_t timestamp;
    const void *key;
    int32_t key_len; /* -1: null */
    const void *value;
    int32_t value_len; /* -1: null */
    const struct sk_header *headers;
    int32_t header_count;
};

struct sk_batch_builder {
    struct sk_batch_spec spec;
    struct sk_buf records; /* encoded records, uncompressed */
    int32_t count;
    int64_t base_timestamp;
    int64_t max_timestamp;
};

void sk_batch_builder_init(struct sk_batch_builder *b, const struct sk_batch_spec *spec);
/* Appends one record with the next offset delta. 0, -ENOMEM, -EINVAL (bad length). */
int sk_batch_builder_add(struct sk_batch_builder *b, const struct sk_record_in *r);
/* Appends an already encoded record (from sk_record_parse's span), rewriting
 * its offset delta to the next one and its timestamp delta against this batch. */
int sk_batch_builder_add_record(struct sk_batch_builder *b, const struct sk_record *r);
/* Appends the finished batch (header, compressed records, CRC) to out.
 * 0, -EINVAL (no records), -ENOMEM, -EFBIG (out->limit). */
int sk_batch_builder_finish(struct sk_batch_builder *b, struct sk_buf *out);
void sk_batch_builder_free(struct sk_batch_builder *b);

/* One-shot: builds a batch of n records into out. */
int sk_batch_build(struct sk_buf *out, const struct sk_batch_spec *spec,
                   const struct sk_record_in *recs, size_t n);

/* Re-encodes the records of a (valid) batch with codec `to`, keeping the header
 * fields, offsets and timestamps; appends the new batch to out. scratch holds the
 * decompressed records (scratch->limit caps it). 0 or a Kafka error code as
 * sk_record_iter_init, or -ENOMEM/-EFBIG from out. */
int sk_batch_recompress(const uint8_t *batch, size_t len, enum sk_compression to, int level,
                        struct sk_buf *out, struct sk_buf *scratch);

#endif
