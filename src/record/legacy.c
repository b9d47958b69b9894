/* Legacy message sets (magic 0/1): validation as Kafka's LogValidator does for
 * them, and conversion to one magic-2 batch. Kafka accepts either any number of
 * uncompressed messages, or exactly one compressed wrapper whose value is an
 * inner message set; we walk both shapes with one visitor so that validation
 * and conversion cannot disagree. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "skein/codec.h"
#include "skein/errors.h"
#include "skein/record_legacy.h"
#include "wire.h"

#define V0_OVERHEAD 14 /* crc, magic, attributes, key length, value length */
#define V1_OVERHEAD 22 /* + timestamp */

struct lmsg {
    int64_t offset;
    int32_t size; /* bytes after the size field */
    uint32_t crc;
    int8_t magic;
    int8_t attributes;
    int64_t timestamp; /* -1 for magic 0 */
    const uint8_t *key, *value;
    int32_t key_len, value_len;
};

typedef int (*lvisit)(void *ctx, const struct lmsg *m);

struct lwalk {
    const struct sk_validate_opts *o;
    struct sk_produce_summary *s;
    lvisit visit;
    void *ctx;
    int32_t index;
    bool timestamp_error;
};

__attribute__((format(printf, 3, 4))) static int16_t lfail(struct sk_produce_summary *s, int16_t code,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error_message, sizeof s->error_message, fmt, ap);
    va_end(ap);
    return code;
}

__attribute__((format(printf, 3, 4))) static void lrecord_error(struct lwalk *w, bool timestamp,
                                                               const char *fmt, ...)
{
    w->s->record_errors++;
    w->timestamp_error |= timestamp;
    if (!w->o->errors || w->s->error_count >= w->o->errors_cap)
        return;
    struct sk_record_error *e = &w->o->errors[w->s->error_count++];
    e->batch_index = w->index;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- one message ------------------------------------------------------------ */

static bool lbytes(const uint8_t **pp, const uint8_t *end, const uint8_t **out, int32_t *len)
{
    if (end - *pp < 4)
        return false;
    *len = (int32_t)sk_rd32(*pp);
    *pp += 4;
    if (*len == -1) {
        *out = NULL;
        return true;
    }
    if (*len < 0 || *len > end - *pp)
        return false;
    *out = *pp;
    *pp += *len;
    return true;
}

/* Parses the entry at p; fills m. 0 or CORRUPT_MESSAGE (framing, CRC). */
static int16_t lmsg_parse(const uint8_t *p, size_t rem, struct lmsg *m, struct sk_produce_summary *s)
{
    if (rem < SK_BATCH_LOG_OVERHEAD + V0_OVERHEAD)
        return lfail(s, SK_ERR_CORRUPT_MESSAGE, "Truncated message: %zu bytes left", rem);
    m->offset = (int64_t)sk_rd64(p);
    m->size = (int32_t)sk_rd32(p + 8);
    m->crc = sk_rd32(p + 12);
    m->magic = (int8_t)p[16];
    m->attributes = (int8_t)p[17];
    if (m->magic < 0 || m->magic > 1)
        return lfail(s, SK_ERR_CORRUPT_MESSAGE, "Invalid magic found in record: %d", m->magic);
    if (m->size < (m->magic ? V1_OVERHEAD : V0_OVERHEAD) || (size_t)m->size > rem - SK_BATCH_LOG_OVERHEAD)
        return lfail(s, SK_ERR_CORRUPT_MESSAGE, "Message size %d is invalid or truncated", m->size);
    const uint8_t *q = p + 18, *end = p + SK_BATCH_LOG_OVERHEAD + m->size;
    m->timestamp = SK_NO_TIMESTAMP;
    if (m->magic == 1) {
        m->timestamp = (int64_t)sk_rd64(q);
        q += 8;
    }
    if (!lbytes(&q, end, &m->key, &m->key_len) || !lbytes(&q, end, &m->value, &m->value_len) || q != end)
        return lfail(s, SK_ERR_CORRUPT_MESSAGE, "Message fields do not match its size %d", m->size);
    uint32_t crc = (uint32_t)crc32(0, p + 16, (uInt)(m->size - 4));
    if (crc != m->crc)
        return lfail(s, SK_ERR_CORRUPT_MESSAGE, "Record is corrupt (stored crc = %u, computed crc = %u)", m->crc, crc);
    return SK_ERR_NONE;
}

/* ---- per-record rules --------------------------------------------------------- */

static bool in_range(const struct sk_validate_opts *o, int64_t ts)
{
    int64_t diff;
    if (__builtin_sub_overflow(o->now_ms, ts, &diff))
        return false;
    return diff >= 0 ? diff <= o->timestamp_before_max_ms
                     : diff != INT64_MIN && -diff <= o->timestamp_after_max_ms;
}

static int lrecord(struct lwalk *w, const struct lmsg *m, int8_t outer_magic, bool inner)
{
    const struct sk_validate_opts *o = w->o;
    if (inner && m->magic != outer_magic)
        lrecord_error(w, false, "Record's magic %d does not match outer magic %d", m->magic, outer_magic);
    else if (inner && (m->attributes & SK_BATCH_COMPRESSION_MASK))
        lrecord_error(w, false, "Compressed outer record should not have an inner record with a compression attribute set");
    else if (o->compacted && m->key_len < 0)
        lrecord_error(w, false, "Compacted topic cannot accept message without key");
    else if (!o->log_append_time && m->magic == 1 && m->timestamp != SK_NO_TIMESTAMP && !in_range(o, m->timestamp))
        lrecord_error(w, true, "Timestamp %lld of message with offset %d is out of range", (long long)m->timestamp,
                      w->index);
    else if (m->magic == 1 && (m->attributes & SK_LEGACY_ATTR_TIMESTAMP_TYPE))
        lrecord_error(w, true, "Producer should not set timestamp type to LogAppendTime.");
    w->index++;
    if (m->timestamp > w->s->max_timestamp) {
        w->s->max_timestamp = m->timestamp;
        w->s->max_timestamp_delta = w->index - 1;
    }
    return w->visit && w->s->record_errors == 0 ? w->visit(w->ctx, m) : 0;
}

/* ---- walking -------------------------------------------------------------------- */

static int16_t visit_status(struct lwalk *w, int rc)
{
    if (rc == -EFBIG)
        return lfail(w->s, SK_ERR_MESSAGE_TOO_LARGE, "Converted batch exceeds the configured limit");
    return lfail(w->s, SK_ERR_UNKNOWN_SERVER_ERROR, "Out of memory converting a legacy message set");
}

static int16_t inner_walk(struct lwalk *w, const struct lmsg *wrapper, const uint8_t *p, size_t len)
{
    if (len == 0)
        return lfail(w->s, SK_ERR_INVALID_RECORD, "Found invalid compressed record set with no inner records");
    for (size_t off = 0; off < len;) {
        struct lmsg m;
        int16_t err = lmsg_parse(p + off, len - off, &m, w->s);
        if (err)
            return err;
        if (wrapper->magic == 1 && (wrapper->attributes & SK_LEGACY_ATTR_TIMESTAMP_TYPE))
            m.timestamp = wrapper->timestamp; /* LogAppendTime wrappers stamp their records */
        int rc = lrecord(w, &m, wrapper->magic, true);
        if (rc < 0)
            return visit_status(w, rc);
        off += SK_BATCH_LOG_OVERHEAD + (size_t)m.size;
    }
    return SK_ERR_NONE;
}

static int16_t wrapper_walk(struct lwalk *w, const struct lmsg *m)
{
    enum sk_compression c = (enum sk_compression)(m->attributes & SK_BATCH_COMPRESSION_MASK);
    if (c > SK_COMPRESSION_LZ4)
        return lfail(w->s, SK_ERR_UNSUPPORTED_COMPRESSION_TYPE,
                     "Compression type %d is not supported by message format %d", c, m->magic);
    w->s->compressed = true;
    w->s->compression = c;
    struct sk_buf none = {0}, *scratch = w->o->scratch ? w->o->scratch : &none;
    size_t start = scratch->len;
    int rc = -EBADMSG;
    if (m->value_len > 0 && c == SK_COMPRESSION_LZ4 && m->magic == 0)
        rc = sk_lz4_decompress_kafka08(m->value, (size_t)m->value_len, scratch);
    else if (m->value_len > 0)
        rc = sk_decompress(c, m->value, (size_t)m->value_len, scratch);
    int16_t err;
    if (rc == -EFBIG)
        err = lfail(w->s, SK_ERR_MESSAGE_TOO_LARGE, "Decompressed records exceed the configured limit");
    else if (rc < 0)
        err = lfail(w->s, SK_ERR_INVALID_RECORD, "Failed to decompress the wrapper message");
    else
        err = inner_walk(w, m, scratch->data + start, scratch->len - start);
    scratch->len = start;
    sk_buf_free(&none);
    return err;
}

static int16_t shallow_scan(struct lwalk *w, const uint8_t *p, size_t len, bool *compressed)
{
    int8_t first_magic = (int8_t)p[16];
    *compressed = false;
    for (size_t off = 0; off < len;) {
        struct lmsg m;
        int16_t err = lmsg_parse(p + off, len - off, &m, w->s);
        if (err)
            return err;
        if (m.magic != first_magic)
            return lfail(w->s, SK_ERR_INVALID_RECORD, "Batch magic %d is not the same as the first batch's magic byte %d",
                         m.magic, first_magic);
        size_t size = SK_BATCH_LOG_OVERHEAD + (size_t)m.size;
        if (size > (size_t)w->o->max_message_bytes)
            return lfail(w->s, SK_ERR_MESSAGE_TOO_LARGE,
                         "The message size is %zu bytes which exceeds the maximum configured value of %d", size,
                         w->o->max_message_bytes);
        *compressed |= (m.attributes & SK_BATCH_COMPRESSION_MASK) != 0;
        w->s->batches++;
        off += size;
    }
    if (*compressed && w->s->batches > 1)
        return lfail(w->s, SK_ERR_INVALID_RECORD, "Compressed outer record has more than one batch");
    if (w->o->produce_version >= 3)
        return lfail(w->s, SK_ERR_INVALID_RECORD, "Produce requests with version 3 and above must use magic 2");
    return SK_ERR_NONE;
}

static int16_t lwalk_run(struct lwalk *w, const uint8_t *p, size_t len)
{
    struct sk_produce_summary *s = w->s;
    memset(s, 0, sizeof *s);
    s->magic = (int8_t)p[16];
    s->max_timestamp = SK_NO_TIMESTAMP;
    s->max_timestamp_delta = -1;
    s->first_producer_id = s->last_producer_id = SK_NO_PRODUCER_ID;
    s->first_producer_epoch = s->last_producer_epoch = -1;
    s->first_sequence = s->last_sequence = -1;
    bool compressed;
    int16_t err = shallow_scan(w, p, len, &compressed);
    for (size_t off = 0; !err && off < len;) {
        struct lmsg m;
        lmsg_parse(p + off, len - off, &m, s);
        if (compressed)
            err = wrapper_walk(w, &m);
        else {
            int rc = lrecord(w, &m, m.magic, false);
            err = rc < 0 ? visit_status(w, rc) : 0;
        }
        off += SK_BATCH_LOG_OVERHEAD + (size_t)m.size;
    }
    s->records = w->index;
    if (!err && s->record_errors)
        err = w->timestamp_error
                  ? lfail(s, SK_ERR_INVALID_TIMESTAMP, "One or more records have been rejected due to invalid timestamp")
                  : lfail(s, SK_ERR_INVALID_RECORD, "One or more records have been rejected due to %zu record errors",
                          s->record_errors);
    if (!err && w->o->log_append_time) {
        s->max_timestamp = w->o->now_ms;
        s->max_timestamp_delta = s->records - 1;
    }
    return err;
}

int16_t sk_legacy_validate(const uint8_t *p, size_t len, const struct sk_validate_opts *o,
                           struct sk_produce_summary *s)
{
    if (len < 17)
        return lfail(s, SK_ERR_CORRUPT_MESSAGE, "Truncated message: %zu bytes", len);
    struct lwalk w = {.o = o, .s = s};
    return lwalk_run(&w, p, len);
}

/* ---- conversion --------------------------------------------------------------------- */

static int convert_visit(void *ctx, const struct lmsg *m)
{
    struct sk_record_in r = {
        .timestamp = m->timestamp,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->value,
        .value_len = m->value_len,
    };
    return sk_batch_builder_add(ctx, &r);
}

int16_t sk_legacy_convert(const uint8_t *p, size_t len, const struct sk_validate_opts *o,
                          enum sk_compression to, struct sk_buf *out, struct sk_produce_summary *s)
{
    if (len < 17)
        return lfail(s, SK_ERR_CORRUPT_MESSAGE, "Truncated message: %zu bytes", len);
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.compression = to;
    if (o->log_append_time) {
        spec.flags |= SK_BATCH_TIMESTAMP_TYPE;
        spec.log_append_time = o->now_ms;
    }
    struct sk_batch_builder b;
    sk_batch_builder_init(&b, &spec);
    struct lwalk w = {.o = o, .s = s, .visit = convert_visit, .ctx = &b};
    int16_t err = lwalk_run(&w, p, len);
    if (!err) {
        int rc = sk_batch_builder_finish(&b, out);
        if (rc == -ENOTSUP)
            err = lfail(s, SK_ERR_UNSUPPORTED_COMPRESSION_TYPE, "Unknown target compression %d", to);
        else if (rc < 0)
            err = visit_status(&w, rc);
    }
    sk_batch_builder_free(&b);
    return err;
}

/* ---- writing ------------------------------------------------------------------------ */

int sk_legacy_message_append(struct sk_buf *out, int8_t magic, int64_t offset, int8_t attributes,
                             int64_t timestamp, const void *key, int32_t key_len,
                             const void *value, int32_t value_len)
{
    if (magic < 0 || magic > 1 || key_len < -1 || value_len < -1)
        return -EINVAL;
    size_t size = (magic ? V1_OVERHEAD : V0_OVERHEAD) + (size_t)(key_len > 0 ? key_len : 0) +
                  (size_t)(value_len > 0 ? value_len : 0);
    int rc = sk_buf_reserve(out, SK_BATCH_LOG_OVERHEAD + size);
    if (rc < 0)
        return rc;
    uint8_t *p = out->data + out->len, *q = p + 16;
    sk_wr64(p, (uint64_t)offset);
    sk_wr32(p + 8, (uint32_t)size);
    *q++ = (uint8_t)magic;
    *q++ = (uint8_t)attributes;
    if (magic) {
        sk_wr64(q, (uint64_t)timestamp);
        q += 8;
    }
    sk_wr32(q, (uint32_t)key_len);
    q += 4;
    if (key_len > 0)
        memcpy(q, key, (size_t)key_len), q += key_len;
    sk_wr32(q, (uint32_t)value_len);
    q += 4;
    if (value_len > 0)
        memcpy(q, value, (size_t)value_len), q += value_len;
    sk_wr32(p + 12, (uint32_t)crc32(0, p + 16, (uInt)(size - 4)));
    out->len += SK_BATCH_LOG_OVERHEAD + size;
    return 0;
}
