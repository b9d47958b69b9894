/* Magic-2 batches to magic 0/1 message sets for Fetch v0-v3 (Kafka's
 * RecordsUtil.downConvert with LazyDownConversionRecords' size rule). The
 * result is built in memory: unlike v4+ fetches it cannot be spliced from the
 * segment file. */
#include <errno.h>

#include "skein/codec.h"
#include "skein/errors.h"
#include "skein/record.h"
#include "skein/record_downconvert.h"
#include "skein/record_legacy.h"

enum { DC_NEXT, DC_STOP };

struct dc {
    const struct sk_downconvert_opts *o;
    struct sk_buf *out, *scratch;
    struct sk_buf inner, packed; /* a compressed batch's message set, before and after */
    size_t start, cap;           /* out->len on entry; the bound on out->len once kept */
    bool kept;                   /* the first convertible batch is in */
    int16_t err;
};

static int fail(struct dc *d, int16_t err)
{
    d->err = err;
    return DC_STOP;
}

static int8_t message_attributes(const struct dc *d, const struct sk_batch_header *h)
{
    bool lat = h->attributes & SK_BATCH_TIMESTAMP_TYPE;
    return d->o->magic >= 1 && lat ? SK_LEGACY_ATTR_TIMESTAMP_TYPE : 0;
}

/* After the first kept batch, a message that passes the cap ends the answer. */
static bool over_cap(const struct dc *d)
{
    return d->kept && d->out->len > d->cap;
}

static int append(struct sk_buf *to, const struct dc *d, int64_t offset, int8_t attrs,
                  const struct sk_record *r)
{
    return sk_legacy_message_append(to, d->o->magic, offset, attrs, r->timestamp, r->key,
                                    r->key_len, r->value, r->value_len);
}

/* Uncompressed: one message per record, records before the fetch offset left
 * out (Kafka keeps them only where a wrapper must stay whole). */
static int plain_batch(struct dc *d, struct sk_record_iter *it)
{
    int8_t attrs = message_attributes(d, &it->h);
    struct sk_record r;
    int rc;
    while ((rc = sk_record_iter_next(it, &r)) == 1) {
        if (r.offset < d->o->first_offset)
            continue;
        size_t before = d->out->len;
        if (append(d->out, d, r.offset, attrs, &r) < 0)
            return fail(d, SK_ERR_UNKNOWN_SERVER_ERROR);
        if (over_cap(d)) {
            d->out->len = before;
            return DC_STOP;
        }
    }
    return rc < 0 ? fail(d, SK_ERR_CORRUPT_MESSAGE) : DC_NEXT;
}

static int pack(struct dc *d, enum sk_compression c)
{
    d->packed.len = 0;
    /* Kafka writes magic-0 LZ4 with 0.8's frame header checksum. */
    if (c == SK_COMPRESSION_LZ4 && d->o->magic == 0)
        return sk_lz4_compress_kafka08(d->inner.data, d->inner.len, &d->packed);
    return sk_compress(c, SK_COMPRESSION_LEVEL_DEFAULT, d->inner.data, d->inner.len, &d->packed);
}

/* Compressed: the records as an inner message set in one wrapper message with
 * the batch's codec, so the consumer still receives compressed data. */
static int wrapped_batch(struct dc *d, struct sk_record_iter *it)
{
    int8_t attrs = message_attributes(d, &it->h);
    int64_t first = -1, last = -1, max_ts = SK_NO_TIMESTAMP;
    struct sk_record r;
    int rc;
    d->inner.len = 0;
    while ((rc = sk_record_iter_next(it, &r)) == 1) {
        if (first < 0)
            first = r.offset;
        int64_t inner_offset = d->o->magic >= 1 ? r.offset - first : r.offset;
        if (append(&d->inner, d, inner_offset, attrs, &r) < 0)
            return fail(d, SK_ERR_UNKNOWN_SERVER_ERROR);
        last = r.offset;
        max_ts = r.timestamp > max_ts ? r.timestamp : max_ts;
    }
    if (rc < 0)
        return fail(d, SK_ERR_CORRUPT_MESSAGE);
    if (first < 0)
        return DC_NEXT;
    enum sk_compression c = sk_batch_compression(&it->h);
    if (pack(d, c) < 0 || d->packed.len > INT32_MAX)
        return fail(d, SK_ERR_UNKNOWN_SERVER_ERROR);
    struct sk_record w = {.timestamp = max_ts, .key_len = -1, .value = d->packed.data,
                          .value_len = (int32_t)d->packed.len};
    size_t before = d->out->len;
    if (append(d->out, d, last, (int8_t)(attrs | c), &w) < 0)
        return fail(d, SK_ERR_UNKNOWN_SERVER_ERROR);
    if (over_cap(d)) {
        d->out->len = before;
        return DC_STOP;
    }
    return DC_NEXT;
}

static int convert_batch(struct dc *d, const uint8_t *batch, const struct sk_batch_header *h)
{
    if (h->attributes & SK_BATCH_CONTROL)
        return DC_NEXT;
    enum sk_compression c = sk_batch_compression(h);
    /* No legacy codec id for zstd: Kafka refuses it, or ends the answer before it. */
    if (c == SK_COMPRESSION_ZSTD)
        return d->kept ? DC_STOP : fail(d, SK_ERR_UNSUPPORTED_COMPRESSION_TYPE);
    size_t scratch_start = d->scratch->len;
    struct sk_record_iter it;
    int rc = sk_record_iter_init(&it, batch, sk_batch_size(h), d->scratch);
    if (rc != 0)
        rc = fail(d, rc == SK_ERR_UNSUPPORTED_COMPRESSION_TYPE ? (int16_t)rc : SK_ERR_CORRUPT_MESSAGE);
    else
        rc = c == SK_COMPRESSION_NONE ? plain_batch(d, &it) : wrapped_batch(d, &it);
    d->scratch->len = scratch_start;
    return rc;
}

/* The first batch that gives messages sets the cap to at least its size:
 * Kafka's LazyDownConversionRecords.sizeInBytes. */
static void keep_first(struct dc *d)
{
    size_t got = d->out->len - d->start;
    if (d->kept || got == 0)
        return;
    d->kept = true;
    if (got > d->o->size_cap)
        d->cap = d->out->len;
}

int sk_downconvert(const uint8_t *data, size_t len, const struct sk_downconvert_opts *o,
                   struct sk_buf *out, struct sk_buf *scratch)
{
    struct dc d = {.o = o, .out = out, .scratch = scratch, .start = out->len,
                   .cap = out->len + o->size_cap};
    if (o->magic < 0 || o->magic > 1)
        return SK_ERR_UNSUPPORTED_VERSION;
    for (size_t off = 0; off < len;) {
        struct sk_batch_header h;
        if (sk_batch_header_read(data + off, len - off, &h) < 0)
            break; /* a partial batch at the end, as any fetch may carry */
        size_t batch_start = out->len;
        int rc = convert_batch(&d, data + off, &h);
        if (d.err)
            out->len = batch_start;
        if (rc == DC_STOP)
            break;
        keep_first(&d);
        off += sk_batch_size(&h);
    }
    sk_buf_free(&d.inner);
    sk_buf_free(&d.packed);
    if (d.err && !d.kept) {
        out->len = d.start;
        return d.err;
    }
    return 0;
}
