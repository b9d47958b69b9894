/* LZ4 frame codec. Output frames use independent 64 KB blocks and no content
 * checksum: the shape Kafka's KafkaLZ4BlockOutputStream writes, which every
 * client's reader accepts. */
#include <errno.h>

#include <lz4frame.h>

#include "skein/codec.h"

static int lz4_loop(LZ4F_dctx *d, const uint8_t *in, size_t len, struct sk_buf *out)
{
    size_t hint = 1;
    while (len > 0) {
        long room = sk_buf_grow_some(out, len * 4);
        if (room < 0)
            return (int)room;
        size_t dst = (size_t)room, src = len;
        hint = LZ4F_decompress(d, out->data + out->len, &dst, in, &src, NULL);
        if (LZ4F_isError(hint))
            return -EBADMSG;
        out->len += dst;
        in += src;
        len -= src;
        if (src == 0 && dst == 0)
            return -EBADMSG; /* no progress: cannot happen with valid input */
    }
    /* The last call may still hold decoded bytes; drain them. */
    while (hint != 0) {
        long room = sk_buf_grow_some(out, 65536);
        if (room < 0)
            return (int)room;
        size_t dst = (size_t)room, src = 0;
        hint = LZ4F_decompress(d, out->data + out->len, &dst, in, &src, NULL);
        if (LZ4F_isError(hint))
            return -EBADMSG;
        out->len += dst;
        if (dst == 0 && hint != 0)
            return -EBADMSG; /* frame truncated */
    }
    return 0;
}

int sk_lz4_decompress(const uint8_t *in, size_t len, struct sk_buf *out)
{
    LZ4F_dctx *d;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
        return -ENOMEM;
    size_t start = out->len;
    int rc = len ? lz4_loop(d, in, len, out) : -EBADMSG;
    LZ4F_freeDecompressionContext(d);
    if (rc < 0)
        out->len = start;
    return rc;
}

int sk_lz4_compress(int level, const uint8_t *in, size_t len, struct sk_buf *out)
{
    LZ4F_preferences_t prefs = {0};
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.compressionLevel = level == SK_COMPRESSION_LEVEL_DEFAULT ? 0 : level;
    size_t bound = LZ4F_compressFrameBound(len, &prefs);
    int rc = sk_buf_reserve(out, bound);
    if (rc < 0)
        return rc;
    size_t n = LZ4F_compressFrame(out->data + out->len, bound, in, len, &prefs);
    if (LZ4F_isError(n))
        return -EIO;
    out->len += n;
    return 0;
}
