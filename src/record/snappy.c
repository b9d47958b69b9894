/* snappy codec in snappy-java's framing (the "xerial" stream Kafka's Java client
 * writes): an 8-byte magic, two int32 versions, then blocks of
 * [int32 compressed length][raw snappy]. librdkafka and some other clients send a
 * single raw snappy block instead; snappy-java reads both, so do we. */
#include <errno.h>
#include <string.h>

#include <snappy-c.h>

#include "skein/codec.h"
#include "wire.h"

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER_SIZE 16
/* snappy-java's default block size; its readers accept any. */
#define XERIAL_BLOCK_SIZE (32 * 1024)

static int snappy_block(const uint8_t *in, size_t len, struct sk_buf *out)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK)
        return -EBADMSG;
    int rc = sk_buf_reserve(out, n);
    if (rc < 0)
        return rc;
    if (snappy_uncompress((const char *)in, len, (char *)out->data + out->len, &n) != SNAPPY_OK)
        return -EBADMSG;
    out->len += n;
    return 0;
}

static int xerial_blocks(const uint8_t *p, const uint8_t *end, struct sk_buf *out)
{
    while (p < end) {
        if (end - p < 4)
            return -EBADMSG;
        uint32_t n = sk_rd32(p);
        p += 4;
        if (n > (size_t)(end - p))
            return -EBADMSG;
        int rc = snappy_block(p, n, out);
        if (rc < 0)
            return rc;
        p += n;
    }
    return 0;
}

int sk_snappy_decompress(const uint8_t *in, size_t len, struct sk_buf *out)
{
    size_t start = out->len;
    int rc;
    if (len >= XERIAL_HEADER_SIZE && memcmp(in, xerial_magic, sizeof xerial_magic) == 0)
        rc = xerial_blocks(in + XERIAL_HEADER_SIZE, in + len, out);
    else
        rc = snappy_block(in, len, out);
    if (rc < 0)
        out->len = start;
    return rc;
}

int sk_snappy_compress_raw(const uint8_t *in, size_t len, struct sk_buf *out)
{
    size_t n = snappy_max_compressed_length(len);
    int rc = sk_buf_reserve(out, n);
    if (rc < 0)
        return rc;
    if (snappy_compress((const char *)in, len, (char *)out->data + out->len, &n) != SNAPPY_OK)
        return -EIO;
    out->len += n;
    return 0;
}

int sk_snappy_compress(const uint8_t *in, size_t len, struct sk_buf *out)
{
    size_t start = out->len;
    uint8_t hdr[XERIAL_HEADER_SIZE];
    memcpy(hdr, xerial_magic, sizeof xerial_magic);
    sk_wr32(hdr + 8, 1);  /* version */
    sk_wr32(hdr + 12, 1); /* minimum compatible version */
    int rc = sk_buf_append(out, hdr, sizeof hdr);
    for (size_t off = 0; rc == 0 && off < len; off += XERIAL_BLOCK_SIZE) {
        size_t n = len - off < XERIAL_BLOCK_SIZE ? len - off : XERIAL_BLOCK_SIZE;
        size_t at = out->len;
        rc = sk_buf_append(out, "\0\0\0\0", 4);
        if (rc == 0)
            rc = sk_snappy_compress_raw(in + off, n, out);
        if (rc == 0)
            sk_wr32(out->data + at, (uint32_t)(out->len - at - 4));
    }
    if (rc < 0)
        out->len = start;
    return rc;
}
