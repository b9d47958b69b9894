/* RecordBatch v2 header: reading it and the in-place rewrites the broker owns. */
#include <errno.h>

#include "skein/record.h"
#include "wire.h"

#define OFF_BATCH_LENGTH 8
#define OFF_LEADER_EPOCH 12
#define OFF_MAGIC 16
#define OFF_CRC 17
#define OFF_ATTRIBUTES 21
#define OFF_MAX_TIMESTAMP 35

int sk_batch_header_read(const uint8_t *p, size_t len, struct sk_batch_header *h)
{
    /* Magic sits at the same offset in every message format, so check it before
     * demanding a full v2 header: a legacy message can be shorter than that. */
    if (len < OFF_MAGIC + 1)
        return -EMSGSIZE;
    h->base_offset = (int64_t)sk_rd64(p);
    h->batch_length = (int32_t)sk_rd32(p + OFF_BATCH_LENGTH);
    h->magic = (int8_t)p[OFF_MAGIC];
    if (h->magic != 2)
        return -EBADMSG;
    if (len < SK_BATCH_HEADER_SIZE || h->batch_length < SK_BATCH_HEADER_SIZE - SK_BATCH_LOG_OVERHEAD ||
        (size_t)h->batch_length > len - SK_BATCH_LOG_OVERHEAD)
        return -EMSGSIZE;
    h->partition_leader_epoch = (int32_t)sk_rd32(p + OFF_LEADER_EPOCH);
    h->crc = sk_rd32(p + OFF_CRC);
    h->attributes = (int16_t)sk_rd16(p + OFF_ATTRIBUTES);
    h->last_offset_delta = (int32_t)sk_rd32(p + 23);
    h->base_timestamp = (int64_t)sk_rd64(p + 27);
    h->max_timestamp = (int64_t)sk_rd64(p + OFF_MAX_TIMESTAMP);
    h->producer_id = (int64_t)sk_rd64(p + 43);
    h->producer_epoch = (int16_t)sk_rd16(p + 51);
    h->base_sequence = (int32_t)sk_rd32(p + 53);
    h->record_count = (int32_t)sk_rd32(p + 57);
    return 0;
}

static uint32_t batch_crc(const uint8_t *p, int32_t batch_length)
{
    return sk_crc32c(0, p + OFF_ATTRIBUTES, (size_t)batch_length + SK_BATCH_LOG_OVERHEAD - OFF_ATTRIBUTES);
}

bool sk_batch_crc_ok(const uint8_t *p, const struct sk_batch_header *h)
{
    return batch_crc(p, h->batch_length) == h->crc;
}

void sk_batch_update_crc(uint8_t *p)
{
    sk_wr32(p + OFF_CRC, batch_crc(p, (int32_t)sk_rd32(p + OFF_BATCH_LENGTH)));
}

/* baseOffset and partitionLeaderEpoch lie before the CRC'd range, which is why
 * the log can assign them without touching the checksum. */
void sk_batch_set_base_offset(uint8_t *p, int64_t base_offset)
{
    sk_wr64(p, (uint64_t)base_offset);
}

void sk_batch_set_leader_epoch(uint8_t *p, int32_t epoch)
{
    sk_wr32(p + OFF_LEADER_EPOCH, (uint32_t)epoch);
}

static void set_max_timestamp(uint8_t *p, int64_t ts_ms, bool log_append)
{
    uint16_t attr = sk_rd16(p + OFF_ATTRIBUTES);
    uint16_t want = log_append ? (attr | SK_BATCH_TIMESTAMP_TYPE) : (attr & ~SK_BATCH_TIMESTAMP_TYPE);
    /* Skipping the CRC pass when nothing changes is what keeps the common
     * CreateTime append free of a second checksum over the whole batch. */
    if (want == attr && (int64_t)sk_rd64(p + OFF_MAX_TIMESTAMP) == ts_ms)
        return;
    sk_wr16(p + OFF_ATTRIBUTES, want);
    sk_wr64(p + OFF_MAX_TIMESTAMP, (uint64_t)ts_ms);
    sk_batch_update_crc(p);
}

void sk_batch_set_log_append_time(uint8_t *p, int64_t ts_ms)
{
    set_max_timestamp(p, ts_ms, true);
}

void sk_batch_set_max_timestamp(uint8_t *p, int64_t ts_ms)
{
    set_max_timestamp(p, ts_ms, false);
}
