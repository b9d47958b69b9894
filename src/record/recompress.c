/* Re-encoding a batch with another codec, for a topic whose compression.type
 * differs from the producer's. The records are copied byte for byte (their
 * offset and timestamp deltas are relative to header fields that do not change),
 * so only the records section is transcoded. */
#include <errno.h>
#include <string.h>

#include "skein/codec.h"
#include "skein/errors.h"
#include "skein/record.h"
#include "wire.h"

static int io_status(int rc)
{
    if (rc == -ENOTSUP)
        return SK_ERR_UNSUPPORTED_COMPRESSION_TYPE;
    return rc == -EFBIG ? SK_ERR_MESSAGE_TOO_LARGE : SK_ERR_UNKNOWN_SERVER_ERROR;
}

int sk_batch_recompress(const uint8_t *batch, size_t len, enum sk_compression to, int level,
                        struct sk_buf *out, struct sk_buf *scratch)
{
    struct sk_record_iter it;
    size_t scratch_start = scratch->len;
    int rc = sk_record_iter_init(&it, batch, len, scratch);
    if (rc != 0)
        return rc;
    size_t start = out->len;
    rc = sk_buf_append(out, batch, SK_BATCH_HEADER_SIZE);
    if (rc == 0)
        rc = sk_compress(to, level, it.p, (size_t)(it.end - it.p), out);
    scratch->len = scratch_start;
    if (rc < 0) {
        out->len = start;
        return io_status(rc);
    }
    size_t records_len = out->len - start - SK_BATCH_HEADER_SIZE;
    if (records_len > (size_t)INT32_MAX - SK_BATCH_HEADER_SIZE) {
        out->len = start;
        return SK_ERR_MESSAGE_TOO_LARGE;
    }
    uint8_t *h = out->data + start;
    sk_wr32(h + 8, (uint32_t)(SK_BATCH_HEADER_SIZE - SK_BATCH_LOG_OVERHEAD + records_len));
    uint16_t attr = sk_rd16(h + 21);
    sk_wr16(h + 21, (uint16_t)((attr & ~SK_BATCH_COMPRESSION_MASK) | to));
    sk_batch_update_crc(h);
    return 0;
}
