/* Parsing records of a v2 batch (DefaultRecord framing):
 *   length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint | key | valueLength varint | value |
 *   headerCount varint | (keyLength varint | key | valueLength varint | value)*
 * The body must be exactly `length` bytes, as Kafka's DefaultRecord.readFrom
 * demands. */
#include <errno.h>

#include "skein/codec.h"
#include "skein/errors.h"
#include "skein/record.h"
#include "wire.h"

/* A length-prefixed field; a negative length is null (Kafka reads any negative
 * key or value length as null). */
static bool bytes_read(const uint8_t **pp, const uint8_t *end, const uint8_t **out, int32_t *len)
{
    if (!sk_varint_read(pp, end, len))
        return false;
    if (*len < 0) {
        *len = -1;
        *out = NULL;
        return true;
    }
    if ((size_t)*len > (size_t)(end - *pp))
        return false;
    *out = *pp;
    *pp += *len;
    return true;
}

static bool headers_skip(const uint8_t **pp, const uint8_t *end, int32_t count)
{
    struct sk_header_iter hi = {*pp, end, count};
    struct sk_header h;
    int rc;
    while ((rc = sk_header_iter_next(&hi, &h)) == 1)
        ;
    *pp = hi.p;
    return rc == 0;
}

bool sk_record_parse(const uint8_t **pp, const uint8_t *end, struct sk_record *r)
{
    const uint8_t *p = *pp;
    int32_t len;
    if (!sk_varint_read(&p, end, &len) || len < 0 || (size_t)len > (size_t)(end - p))
        return false;
    const uint8_t *rend = p + len;
    if (p >= rend)
        return false;
    r->attributes = (int8_t)*p++;
    int32_t od;
    if (!sk_varlong_read(&p, rend, &r->timestamp) || !sk_varint_read(&p, rend, &od))
        return false;
    r->offset_delta = od;
    r->offset = od;
    if (!bytes_read(&p, rend, &r->key, &r->key_len) || !bytes_read(&p, rend, &r->value, &r->value_len))
        return false;
    if (!sk_varint_read(&p, rend, &r->header_count) || r->header_count < 0)
        return false;
    r->headers = p;
    if (!headers_skip(&p, rend, r->header_count) || p != rend)
        return false;
    r->headers_len = (size_t)(p - r->headers);
    *pp = rend;
    return true;
}

int sk_header_iter_next(struct sk_header_iter *hi, struct sk_header *h)
{
    if (hi->left <= 0)
        return 0;
    int32_t kl;
    if (!sk_varint_read(&hi->p, hi->end, &kl) || kl < 0 || (size_t)kl > (size_t)(hi->end - hi->p))
        return -1;
    h->key = hi->p;
    h->key_len = kl;
    hi->p += kl;
    if (!bytes_read(&hi->p, hi->end, &h->value, &h->value_len))
        return -1;
    hi->left--;
    return 1;
}

static int decompress_status(int rc)
{
    if (rc == -EFBIG)
        return SK_ERR_MESSAGE_TOO_LARGE;
    if (rc == -ENOMEM)
        return SK_ERR_UNKNOWN_SERVER_ERROR;
    if (rc == -ENOTSUP)
        return SK_ERR_UNSUPPORTED_COMPRESSION_TYPE;
    return SK_ERR_INVALID_RECORD;
}

int sk_record_iter_init(struct sk_record_iter *it, const uint8_t *batch, size_t len,
                        struct sk_buf *scratch)
{
    if (sk_batch_header_read(batch, len, &it->h) < 0)
        return SK_ERR_CORRUPT_MESSAGE;
    it->index = 0;
    it->p = batch + SK_BATCH_HEADER_SIZE;
    it->end = batch + sk_batch_size(&it->h);
    enum sk_compression c = sk_batch_compression(&it->h);
    if (c == SK_COMPRESSION_NONE)
        return 0;
    if (c > SK_COMPRESSION_ZSTD)
        return SK_ERR_UNSUPPORTED_COMPRESSION_TYPE;
    size_t start = scratch->len;
    int rc = sk_decompress(c, it->p, (size_t)(it->end - it->p), scratch);
    if (rc < 0)
        return decompress_status(rc);
    it->p = scratch->data + start;
    it->end = scratch->data + scratch->len;
    return 0;
}

int sk_record_iter_next(struct sk_record_iter *it, struct sk_record *r)
{
    if (it->index >= it->h.record_count)
        return it->p == it->end ? 0 : -1; /* bytes left over: count too small */
    if (!sk_record_parse(&it->p, it->end, r))
        return -1;
    it->index++;
    /* Unsigned sums: hostile deltas must wrap, not be undefined behaviour. */
    r->offset = (int64_t)((uint64_t)it->h.base_offset + (uint64_t)(int64_t)r->offset_delta);
    if (it->h.attributes & SK_BATCH_TIMESTAMP_TYPE)
        r->timestamp = it->h.max_timestamp;
    else
        r->timestamp = (int64_t)((uint64_t)it->h.base_timestamp + (uint64_t)r->timestamp);
    return 1;
}
