/* LZ4 frame codec. Output frames use independent 64 KB blocks and no content
 * checksum: the shape Kafka's KafkaLZ4BlockOutputStream writes, which every
 * client's reader accepts. */
#include <errno.h>
#include <string.h>

#include <lz4frame.h>

#include "skein/codec.h"

/* Feeds in to the decoder; *hint is what it expects next (0: frame done). */
static int lz4_feed(LZ4F_dctx *d, const uint8_t *in, size_t len, struct sk_buf *out, size_t *hint)
{
    while (len > 0) {
        long room = sk_buf_grow_some(out, len * 4);
        if (room < 0)
            return (int)room;
        size_t dst = (size_t)room, src = len;
        *hint = LZ4F_decompress(d, out->data + out->len, &dst, in, &src, NULL);
        if (LZ4F_isError(*hint))
            return -EBADMSG;
        out->len += dst;
        in += src;
        len -= src;
        if (src == 0 && dst == 0)
            return -EBADMSG; /* no progress: cannot happen with valid input */
    }
    return 0;
}

/* The last call may still hold decoded bytes; drain them. */
static int lz4_drain(LZ4F_dctx *d, struct sk_buf *out, size_t hint)
{
    while (hint != 0) {
        long room = sk_buf_grow_some(out, 65536);
        if (room < 0)
            return (int)room;
        size_t dst = (size_t)room, src = 0;
        hint = LZ4F_decompress(d, out->data + out->len, &dst, NULL, &src, NULL);
        if (LZ4F_isError(hint))
            return -EBADMSG;
        out->len += dst;
        if (dst == 0 && hint != 0)
            return -EBADMSG; /* frame truncated */
    }
    return 0;
}

static int lz4_loop(LZ4F_dctx *d, const uint8_t *in, size_t len, struct sk_buf *out)
{
    size_t hint = 1;
    int rc = lz4_feed(d, in, len, out, &hint);
    return rc < 0 ? rc : lz4_drain(d, out, hint);
}

/* Length of the frame descriptor through its checksum byte, or 0. */
static size_t descriptor_len(const uint8_t *in, size_t len)
{
    if (len < 7)
        return 0;
    size_t n = 7 + (in[4] & 0x08 ? 8 : 0) + (in[4] & 0x01 ? 4 : 0);
    return n <= len ? n : 0;
}

/* Magic-0 LZ4 as Kafka reads it: the header checksum is not checked, so both
 * Kafka 0.8's (over the magic number too) and the standard one pass. The
 * descriptor goes in with its checksum put right, then the rest as is. */
static int lz4_loop_kafka08(LZ4F_dctx *d, const uint8_t *in, size_t len, struct sk_buf *out)
{
    uint8_t head[19];
    size_t n = descriptor_len(in, len);
    if (n == 0)
        return -EBADMSG;
    memcpy(head, in, n);
    head[n - 1] = sk_lz4_header_checksum(head + 4, n - 5);
    size_t hint = 1;
    int rc = lz4_feed(d, head, n, out, &hint);
    if (rc == 0)
        rc = lz4_feed(d, in + n, len - n, out, &hint);
    return rc < 0 ? rc : lz4_drain(d, out, hint);
}

static int lz4_decompress_with(int (*loop)(LZ4F_dctx *, const uint8_t *, size_t, struct sk_buf *),
                               const uint8_t *in, size_t len, struct sk_buf *out)
{
    LZ4F_dctx *d;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
        return -ENOMEM;
    size_t start = out->len;
    int rc = len ? loop(d, in, len, out) : -EBADMSG;
    LZ4F_freeDecompressionContext(d);
    if (rc < 0)
        out->len = start;
    return rc;
}

int sk_lz4_decompress_kafka08(const uint8_t *in, size_t len, struct sk_buf *out)
{
    return lz4_decompress_with(lz4_loop_kafka08, in, len, out);
}

int sk_lz4_decompress(const uint8_t *in, size_t len, struct sk_buf *out)
{
    return lz4_decompress_with(lz4_loop, in, len, out);
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

/* xxHash32 (seed 0) of fewer than 16 bytes: all a frame descriptor needs. */
static uint32_t rotl32(uint32_t x, int r)
{
    return x << r | x >> (32 - r);
}

static uint32_t xxh32_short(const uint8_t *p, size_t len)
{
    const uint32_t p1 = 2654435761u, p2 = 2246822519u, p3 = 3266489917u, p4 = 668265263u,
                   p5 = 374761393u;
    uint32_t h = p5 + (uint32_t)len;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t w = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                     (uint32_t)p[i + 3] << 24;
        h = rotl32(h + w * p3, 17) * p4;
    }
    for (; i < len; i++)
        h = rotl32(h + p[i] * p5, 11) * p1;
    h ^= h >> 15;
    h *= p2;
    h ^= h >> 13;
    h *= p3;
    return h ^ h >> 16;
}

int sk_lz4_compress_kafka08(const uint8_t *in, size_t len, struct sk_buf *out)
{
    size_t start = out->len;
    int rc = sk_lz4_compress(SK_COMPRESSION_LEVEL_DEFAULT, in, len, out);
    if (rc < 0)
        return rc;
    /* No content size is written, so the descriptor is FLG BD and HC is byte
     * 6. Kafka 0.8 hashed the magic number too; magic-0 readers check that. */
    uint8_t *f = out->data + start;
    if (out->len - start < 7 || (f[4] & 0x08))
        return -EIO;
    f[6] = (uint8_t)(xxh32_short(f, 6) >> 8);
    return 0;
}

uint8_t sk_lz4_header_checksum(const uint8_t *descriptor, size_t len)
{
    return (uint8_t)(xxh32_short(descriptor, len) >> 8);
}
