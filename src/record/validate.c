/* Produce-path validation of v2 record batches, following Kafka 3.9:
 *  1. framing of every batch (UnifiedLog.analyzeAndValidateRecords and
 *     ByteBufferLogInputStream): lengths, magic, base offset 0 from clients,
 *     max.message.bytes, CRC-32C;
 *  2. the request-version rules of ProduceRequest.validateRecords;
 *  3. LogValidator.validateBatch: offset range vs count, no control batches
 *     from clients, a producer id needs a sequence;
 *  4. every record (compressed ones decompressed): framing and exact count,
 *     offset deltas 0..n-1, keys on compacted topics, timestamps;
 *  5. the in-place header rewrite of max timestamp / LogAppendTime.
 * Kafka trims a trailing partial batch silently; we reject it, since no client
 * sends one in a produce and accepting less than was sent hides bugs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "skein/errors.h"
#include "skein/record_legacy.h"
#include "skein/record_validate.h"
#include "wire.h"

#define V2_MIN_BATCH_LENGTH (SK_BATCH_HEADER_SIZE - SK_BATCH_LOG_OVERHEAD)

struct vstate {
    const struct sk_validate_opts *o;
    struct sk_produce_summary *s;
    int32_t record_base; /* index in the whole set of the batch's first record */
    size_t batch_errors;
    bool timestamp_error;
};

struct sk_validate_opts sk_validate_opts_default(int64_t now_ms)
{
    return (struct sk_validate_opts){
        .now_ms = now_ms,
        .timestamp_before_max_ms = INT64_MAX,
        .timestamp_after_max_ms = INT64_MAX,
        .max_message_bytes = 1048588,
        .from_client = true,
        .produce_version = -1,
    };
}

__attribute__((format(printf, 3, 4))) static int16_t fail(struct sk_produce_summary *s, int16_t code,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error_message, sizeof s->error_message, fmt, ap);
    va_end(ap);
    return code;
}

__attribute__((format(printf, 4, 5))) static void record_error(struct vstate *v, int32_t index, bool timestamp,
                                                              const char *fmt, ...)
{
    v->batch_errors++;
    v->s->record_errors++;
    v->timestamp_error |= timestamp;
    if (!v->o->errors || v->s->error_count >= v->o->errors_cap)
        return;
    struct sk_record_error *e = &v->o->errors[v->s->error_count++];
    e->batch_index = index;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- 1. framing ---------------------------------------------------------- */

static int16_t frame_check(const uint8_t *p, size_t rem, const struct sk_validate_opts *o,
                           struct sk_produce_summary *s, size_t *size)
{
    if (rem < SK_BATCH_LOG_OVERHEAD + 5)
        return fail(s, SK_ERR_CORRUPT_MESSAGE, "Truncated record batch: %zu bytes left", rem);
    int32_t blen = (int32_t)sk_rd32(p + 8);
    if (p[16] != 2)
        return (int8_t)p[16] < 0 || p[16] > 2
                   ? fail(s, SK_ERR_CORRUPT_MESSAGE, "Invalid magic found in record: %d", (int8_t)p[16])
                   : fail(s, SK_ERR_INVALID_RECORD, "Batch magic %d is not the same as the first batch's magic byte 2",
                          p[16]);
    if (blen < V2_MIN_BATCH_LENGTH)
        return fail(s, SK_ERR_CORRUPT_MESSAGE, "Record size %d is less than the minimum record overhead (%d)",
                    blen, V2_MIN_BATCH_LENGTH);
    if ((size_t)blen > rem - SK_BATCH_LOG_OVERHEAD)
        return fail(s, SK_ERR_CORRUPT_MESSAGE, "Truncated record batch: %d bytes announced, %zu present",
                    blen, rem - SK_BATCH_LOG_OVERHEAD);
    *size = (size_t)blen + SK_BATCH_LOG_OVERHEAD;
    if (o->from_client && sk_rd64(p) != 0)
        return fail(s, SK_ERR_INVALID_RECORD, "The baseOffset of the record batch should be 0, but it is %lld",
                    (long long)(int64_t)sk_rd64(p));
    if (*size > (size_t)o->max_message_bytes)
        return fail(s, SK_ERR_MESSAGE_TOO_LARGE,
                    "The record batch size is %zu bytes which exceeds the maximum configured value of %d",
                    *size, o->max_message_bytes);
    return SK_ERR_NONE;
}

static int16_t frames_check(const uint8_t *p, size_t len, const struct sk_validate_opts *o,
                            struct sk_produce_summary *s)
{
    for (size_t off = 0, size = 0; off < len; off += size) {
        int16_t err = frame_check(p + off, len - off, o, s, &size);
        if (err)
            return err;
        struct sk_batch_header h;
        sk_batch_header_read(p + off, size, &h);
        if (!sk_batch_crc_ok(p + off, &h))
            return fail(s, SK_ERR_CORRUPT_MESSAGE, "Record is corrupt (stored crc = %u)", h.crc);
        s->batches++;
    }
    return SK_ERR_NONE;
}

/* ---- 2./3. request and batch rules ---------------------------------------- */

static int16_t request_check(const struct sk_batch_header *h, const struct sk_validate_opts *o,
                             struct sk_produce_summary *s)
{
    if (o->produce_version >= 3 && s->batches != 1)
        return fail(s, SK_ERR_INVALID_RECORD,
                    "Produce requests with version 3 and above must contain exactly one record batch");
    if (s->batches > 1 && !o->allow_multiple_batches)
        return fail(s, SK_ERR_INVALID_RECORD, "Compressed outer record has more than one batch");
    if (sk_batch_compression(h) > SK_COMPRESSION_ZSTD)
        return fail(s, SK_ERR_UNSUPPORTED_COMPRESSION_TYPE, "Unknown compression type id %d",
                    sk_batch_compression(h));
    if (o->produce_version >= 0 && o->produce_version < 7 && sk_batch_compression(h) == SK_COMPRESSION_ZSTD)
        return fail(s, SK_ERR_UNSUPPORTED_COMPRESSION_TYPE,
                    "Produce requests with version %d are not allowed to use ZStandard compression",
                    o->produce_version);
    return SK_ERR_NONE;
}

static int16_t batch_check(const struct sk_batch_header *h, const struct sk_validate_opts *o,
                           struct sk_produce_summary *s)
{
    if (!o->from_client)
        return SK_ERR_NONE;
    int64_t from_offsets = (int64_t)h->last_offset_delta + 1;
    if (from_offsets <= 0)
        return fail(s, SK_ERR_INVALID_RECORD, "Batch has an invalid offset range: [%lld, %lld]",
                    (long long)h->base_offset, (long long)h->base_offset + h->last_offset_delta);
    if (h->record_count <= 0)
        return fail(s, SK_ERR_INVALID_RECORD, "Invalid reported count for record batch: %d", h->record_count);
    if (from_offsets != h->record_count)
        return fail(s, SK_ERR_INVALID_RECORD, "Inconsistent batch offset range [0, %d] and count of records %d",
                    h->last_offset_delta, h->record_count);
    if (h->attributes & SK_BATCH_CONTROL)
        return fail(s, SK_ERR_INVALID_RECORD, "Clients are not allowed to write control records");
    if (h->producer_id >= 0 && h->base_sequence < 0)
        return fail(s, SK_ERR_INVALID_RECORD, "Invalid sequence number %d in record batch with producerId %lld",
                    h->base_sequence, (long long)h->producer_id);
    return SK_ERR_NONE;
}

/* ---- 4. records ------------------------------------------------------------ */

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static bool timestamp_in_range(const struct sk_validate_opts *o, int64_t ts)
{
    int64_t diff;
    if (__builtin_sub_overflow(o->now_ms, ts, &diff))
        return false; /* farther than any configurable bound */
    if (diff >= 0)
        return diff <= o->timestamp_before_max_ms;
    return diff != INT64_MIN && -diff <= o->timestamp_after_max_ms;
}

static void record_check(struct vstate *v, const struct sk_batch_header *h, const struct sk_record *r,
                         int32_t index)
{
    const struct sk_validate_opts *o = v->o;
    if (r->offset_delta != index)
        record_error(v, index, false, "Record %d has offset delta %d, expected %d", index, r->offset_delta, index);
    if (o->compacted && r->key_len < 0)
        record_error(v, index, false, "Compacted topic cannot accept message without key");
    if (!o->log_append_time && r->timestamp != SK_NO_TIMESTAMP && !timestamp_in_range(o, r->timestamp))
        record_error(v, index, true,
                     "Timestamp %lld of message with offset %d is out of range. "
                     "The timestamp should be within [%lld, %lld]",
                     (long long)r->timestamp, r->offset_delta, (long long)sat_add(o->now_ms, -o->timestamp_before_max_ms),
                     (long long)sat_add(o->now_ms, o->timestamp_after_max_ms));
    else if (h->attributes & SK_BATCH_TIMESTAMP_TYPE)
        record_error(v, index, true,
                     "Invalid timestamp type in message %d. Producer should not set timestamp type to LogAppendTime.",
                     index);
}

static int16_t iter_status(struct sk_produce_summary *s, int rc)
{
    if (rc == SK_ERR_MESSAGE_TOO_LARGE)
        return fail(s, SK_ERR_MESSAGE_TOO_LARGE, "Decompressed records exceed the configured limit");
    if (rc == SK_ERR_INVALID_RECORD)
        return fail(s, SK_ERR_INVALID_RECORD, "Failed to decompress the record batch");
    return fail(s, (int16_t)rc, "Cannot read the record batch");
}

static int16_t records_check(struct vstate *v, const uint8_t *p, size_t size, int64_t *max_ts,
                             int32_t *max_index)
{
    struct sk_record_iter it;
    struct sk_buf *scratch = v->o->scratch;
    size_t scratch_start = scratch ? scratch->len : 0;
    struct sk_buf none = {0};
    int rc = sk_record_iter_init(&it, p, size, scratch ? scratch : &none);
    if (rc)
        return iter_status(v->s, rc);
    struct sk_record r;
    int32_t i = 0;
    while ((rc = sk_record_iter_next(&it, &r)) == 1) {
        record_check(v, &it.h, &r, i);
        if (r.timestamp > *max_ts) {
            *max_ts = r.timestamp;
            *max_index = v->record_base + i;
        }
        i++;
    }
    if (scratch)
        scratch->len = scratch_start;
    sk_buf_free(&none);
    if (rc < 0)
        return fail(v->s, SK_ERR_INVALID_RECORD, "Record %d of the batch is malformed or the declared count %d is wrong",
                    i, it.h.record_count);
    return SK_ERR_NONE;
}

static int16_t batch_errors_status(struct vstate *v)
{
    if (v->timestamp_error)
        return fail(v->s, SK_ERR_INVALID_TIMESTAMP, "One or more records have been rejected due to invalid timestamp");
    return fail(v->s, SK_ERR_INVALID_RECORD, "One or more records have been rejected due to %zu record errors",
                v->batch_errors);
}

/* ---- summary and rewrite ---------------------------------------------------- */

static void summary_add(struct sk_produce_summary *s, const struct sk_batch_header *h, bool first)
{
    if (first) {
        s->first_producer_id = h->producer_id;
        s->first_producer_epoch = h->producer_epoch;
        s->first_sequence = h->base_sequence;
    }
    s->last_producer_id = h->producer_id;
    s->last_producer_epoch = h->producer_epoch;
    /* Sequences wrap at INT32_MAX back to 0, as DefaultRecordBatch.incrementSequence. */
    int64_t last = (int64_t)h->base_sequence + h->last_offset_delta;
    s->last_sequence = h->base_sequence < 0 ? -1 : (int32_t)(last > INT32_MAX ? last - INT32_MAX - 1 : last);
    s->transactional |= (h->attributes & SK_BATCH_TRANSACTIONAL) != 0;
    if (sk_batch_compression(h) != SK_COMPRESSION_NONE && !s->compressed) {
        s->compressed = true;
        s->compression = sk_batch_compression(h);
    }
}

static void header_rewrite(uint8_t *p, struct vstate *v, int64_t max_ts, int32_t max_index, int32_t count)
{
    struct sk_produce_summary *s = v->s;
    if (v->o->log_append_time) {
        sk_batch_set_log_append_time(p, v->o->now_ms);
        s->max_timestamp = v->o->now_ms;
        s->max_timestamp_delta = v->record_base + count - 1;
        return;
    }
    sk_batch_set_max_timestamp(p, max_ts);
    if (max_ts > s->max_timestamp || s->max_timestamp_delta < 0) {
        s->max_timestamp = max_ts;
        s->max_timestamp_delta = max_index;
    }
}

static int16_t batch_validate(struct vstate *v, uint8_t *p, size_t size)
{
    struct sk_batch_header h;
    sk_batch_header_read(p, size, &h);
    summary_add(v->s, &h, v->record_base == 0);
    int16_t err = batch_check(&h, v->o, v->s);
    if (err)
        return err;
    int64_t max_ts = SK_NO_TIMESTAMP;
    int32_t max_index = v->record_base;
    v->batch_errors = 0;
    v->timestamp_error = false;
    err = records_check(v, p, size, &max_ts, &max_index);
    if (err)
        return err;
    if (v->batch_errors)
        return batch_errors_status(v);
    header_rewrite(p, v, max_ts, max_index, h.record_count);
    v->record_base += h.record_count;
    v->s->records = v->record_base;
    return SK_ERR_NONE;
}

int16_t sk_records_validate(uint8_t *records, size_t len, const struct sk_validate_opts *o,
                            struct sk_produce_summary *s)
{
    memset(s, 0, sizeof *s);
    s->magic = 2;
    s->max_timestamp = SK_NO_TIMESTAMP;
    s->max_timestamp_delta = -1;
    if (len == 0)
        return fail(s, SK_ERR_INVALID_RECORD, "Record batch has no batches at all");
    if (len > SK_BATCH_LOG_OVERHEAD + 4 && records[16] < 2)
        return sk_legacy_validate(records, len, o, s);
    int16_t err = frames_check(records, len, o, s);
    struct sk_batch_header h;
    if (!err && sk_batch_header_read(records, len, &h) == 0)
        err = request_check(&h, o, s);
    struct vstate v = {.o = o, .s = s};
    for (size_t off = 0; !err && off < len; off += sk_batch_size(&h)) {
        sk_batch_header_read(records + off, len - off, &h);
        err = batch_validate(&v, records + off, sk_batch_size(&h));
    }
    return err;
}
