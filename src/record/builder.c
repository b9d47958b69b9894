/* Building magic-2 batches: the broker's own records (metadata log,
 * __consumer_offsets, control markers), legacy up-conversion and recompression. */
#include <errno.h>
#include <string.h>

#include "skein/codec.h"
#include "skein/record.h"
#include "wire.h"

struct sk_batch_spec sk_batch_spec_default(void)
{
    return (struct sk_batch_spec){
        .base_offset = 0,
        .partition_leader_epoch = -1,
        .compression = SK_COMPRESSION_NONE,
        .compression_level = SK_COMPRESSION_LEVEL_DEFAULT,
        .producer_id = SK_NO_PRODUCER_ID,
        .producer_epoch = -1,
        .base_sequence = -1,
    };
}

void sk_batch_builder_init(struct sk_batch_builder *b, const struct sk_batch_spec *spec)
{
    memset(b, 0, sizeof *b);
    b->spec = *spec;
    b->base_timestamp = SK_NO_TIMESTAMP;
    b->max_timestamp = SK_NO_TIMESTAMP;
}

void sk_batch_builder_free(struct sk_batch_builder *b)
{
    sk_buf_free(&b->records);
}

static size_t bytes_size(int32_t len)
{
    return sk_varlong_size(len < 0 ? -1 : len) + (len > 0 ? (size_t)len : 0);
}

static void bytes_put(uint8_t **pp, const void *data, int32_t len)
{
    *pp += sk_varlong_write(*pp, len < 0 ? -1 : len);
    if (len > 0) {
        memcpy(*pp, data, (size_t)len);
        *pp += len;
    }
}

/* Timestamps: the first record fixes the base, deltas are relative to it. */
static int64_t timestamp_delta(struct sk_batch_builder *b, int64_t ts)
{
    if (b->count == 0)
        b->base_timestamp = ts;
    if (ts > b->max_timestamp)
        b->max_timestamp = ts;
    return (int64_t)((uint64_t)ts - (uint64_t)b->base_timestamp);
}

/* Encodes one record body around already-encoded headers. */
static int record_put(struct sk_batch_builder *b, int64_t ts, const void *key, int32_t key_len,
                      const void *value, int32_t value_len, int32_t header_count,
                      const uint8_t *headers, size_t headers_len)
{
    int64_t td = timestamp_delta(b, ts);
    size_t body = 1 + sk_varlong_size(td) + sk_varlong_size(b->count) + bytes_size(key_len) +
                  bytes_size(value_len) + sk_varlong_size(header_count) + headers_len;
    if (body > INT32_MAX)
        return -EINVAL;
    int rc = sk_buf_reserve(&b->records, body + 10);
    if (rc < 0)
        return rc;
    uint8_t *p = b->records.data + b->records.len;
    p += sk_varlong_write(p, (int64_t)body);
    *p++ = 0; /* record attributes: unused */
    p += sk_varlong_write(p, td);
    p += sk_varlong_write(p, b->count);
    bytes_put(&p, key, key_len);
    bytes_put(&p, value, value_len);
    p += sk_varlong_write(p, header_count);
    if (headers_len)
        memcpy(p, headers, headers_len);
    p += headers_len;
    b->records.len = (size_t)(p - b->records.data);
    b->count++;
    return 0;
}

static int headers_encode(struct sk_buf *out, const struct sk_header *h, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        if (h[i].key_len < 0)
            return -EINVAL;
        int rc = sk_buf_reserve(out, bytes_size(h[i].key_len) + bytes_size(h[i].value_len));
        if (rc < 0)
            return rc;
        uint8_t *p = out->data + out->len;
        bytes_put(&p, h[i].key, h[i].key_len);
        bytes_put(&p, h[i].value, h[i].value_len);
        out->len = (size_t)(p - out->data);
    }
    return 0;
}

int sk_batch_builder_add(struct sk_batch_builder *b, const struct sk_record_in *r)
{
    if (r->header_count < 0 || (r->header_count > 0 && !r->headers))
        return -EINVAL;
    struct sk_buf hdrs = {0};
    int rc = headers_encode(&hdrs, r->headers, r->header_count);
    if (rc == 0)
        rc = record_put(b, r->timestamp, r->key, r->key_len, r->value, r->value_len, r->header_count,
                        hdrs.data, hdrs.len);
    sk_buf_free(&hdrs);
    return rc;
}

int sk_batch_builder_add_record(struct sk_batch_builder *b, const struct sk_record *r)
{
    return record_put(b, r->timestamp, r->key, r->key_len, r->value, r->value_len, r->header_count,
                      r->headers, r->headers_len);
}

static void header_put(uint8_t *p, const struct sk_batch_builder *b, size_t records_len)
{
    const struct sk_batch_spec *s = &b->spec;
    bool log_append = s->flags & SK_BATCH_TIMESTAMP_TYPE;
    int16_t attr = (int16_t)((s->flags & (SK_BATCH_TIMESTAMP_TYPE | SK_BATCH_TRANSACTIONAL | SK_BATCH_CONTROL)) |
                             (s->compression & SK_BATCH_COMPRESSION_MASK));
    sk_wr64(p, (uint64_t)s->base_offset);
    sk_wr32(p + 8, (uint32_t)(SK_BATCH_HEADER_SIZE - SK_BATCH_LOG_OVERHEAD + records_len));
    sk_wr32(p + 12, (uint32_t)s->partition_leader_epoch);
    p[16] = 2;
    sk_wr16(p + 21, (uint16_t)attr);
    sk_wr32(p + 23, (uint32_t)(b->count - 1));
    sk_wr64(p + 27, (uint64_t)b->base_timestamp);
    sk_wr64(p + 35, (uint64_t)(log_append ? s->log_append_time : b->max_timestamp));
    sk_wr64(p + 43, (uint64_t)s->producer_id);
    sk_wr16(p + 51, (uint16_t)s->producer_epoch);
    sk_wr32(p + 53, (uint32_t)s->base_sequence);
    sk_wr32(p + 57, (uint32_t)b->count);
}

int sk_batch_builder_finish(struct sk_batch_builder *b, struct sk_buf *out)
{
    if (b->count == 0)
        return -EINVAL; /* Kafka never writes (or accepts) an empty batch */
    size_t start = out->len;
    int rc = sk_buf_reserve(out, SK_BATCH_HEADER_SIZE);
    if (rc < 0)
        return rc;
    out->len += SK_BATCH_HEADER_SIZE;
    rc = sk_compress(b->spec.compression, b->spec.compression_level, b->records.data, b->records.len, out);
    size_t records_len = out->len - start - SK_BATCH_HEADER_SIZE;
    if (rc == 0 && records_len > (size_t)INT32_MAX - SK_BATCH_HEADER_SIZE)
        rc = -EFBIG;
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    header_put(out->data + start, b, records_len);
    sk_batch_update_crc(out->data + start);
    return 0;
}

int sk_batch_build(struct sk_buf *out, const struct sk_batch_spec *spec,
                   const struct sk_record_in *recs, size_t n)
{
    struct sk_batch_builder b;
    sk_batch_builder_init(&b, spec);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = sk_batch_builder_add(&b, &recs[i]);
    if (rc == 0)
        rc = sk_batch_builder_finish(&b, out);
    sk_batch_builder_free(&b);
    return rc;
}
