/* zstd codec. Streaming decompression, because producers (zstd-jni's stream,
 * librdkafka) may omit the content size from the frame header; the output limit
 * is enforced as we go, not trusted from the header. */
#include <errno.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "skein/codec.h"

static int zstd_loop(ZSTD_DCtx *d, const uint8_t *in, size_t len, struct sk_buf *out)
{
    ZSTD_inBuffer ib = {in, len, 0};
    size_t pending = 1;
    while (ib.pos < ib.size || pending != 0) {
        long room = sk_buf_grow_some(out, len * 4);
        if (room < 0)
            return (int)room;
        ZSTD_outBuffer ob = {out->data + out->len, (size_t)room, 0};
        size_t before = ib.pos;
        pending = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(pending))
            return ZSTD_getErrorCode(pending) == ZSTD_error_memory_allocation ? -ENOMEM : -EBADMSG;
        out->len += ob.pos;
        if (ib.pos == before && ob.pos == 0)
            return -EBADMSG; /* input ended mid-frame */
    }
    return 0;
}

int sk_zstd_decompress(const uint8_t *in, size_t len, struct sk_buf *out)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d)
        return -ENOMEM;
    size_t start = out->len;
    int rc = len ? zstd_loop(d, in, len, out) : -EBADMSG;
    ZSTD_freeDCtx(d);
    if (rc < 0)
        out->len = start;
    return rc;
}

int sk_zstd_compress(int level, const uint8_t *in, size_t len, struct sk_buf *out)
{
    if (level == SK_COMPRESSION_LEVEL_DEFAULT)
        level = ZSTD_CLEVEL_DEFAULT;
    size_t bound = ZSTD_compressBound(len);
    int rc = sk_buf_reserve(out, bound);
    if (rc < 0)
        return rc;
    size_t n = ZSTD_compress(out->data + out->len, bound, in, len, level);
    if (ZSTD_isError(n))
        return -EIO;
    out->len += n;
    return 0;
}
