/* gzip codec (zlib). Java's GZIPInputStream reads concatenated members, so we do
 * too; the output is one member, as GZIPOutputStream writes. */
#include <errno.h>
#include <limits.h>
#include <zlib.h>

#include "skein/codec.h"

static int gzip_inflate_loop(z_stream *z, struct sk_buf *out)
{
    for (;;) {
        long room = sk_buf_grow_some(out, (size_t)z->avail_in * 4);
        if (room < 0)
            return (int)room;
        if (room > UINT_MAX)
            room = UINT_MAX;
        z->next_out = out->data + out->len;
        z->avail_out = (uInt)room;
        int rc = inflate(z, Z_NO_FLUSH);
        out->len += (size_t)room - z->avail_out;
        if (rc == Z_STREAM_END) {
            if (z->avail_in == 0)
                return 0;
            /* Another member follows. */
            if (inflateReset(z) != Z_OK)
                return -EBADMSG;
            continue;
        }
        if (rc == Z_BUF_ERROR && z->avail_out != 0)
            return -EBADMSG; /* input ended inside a member */
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return rc == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
    }
}

int sk_gzip_decompress(const uint8_t *in, size_t len, struct sk_buf *out)
{
    if (len > UINT_MAX)
        return -EFBIG;
    z_stream z = {0};
    /* 16 + MAX_WBITS: gzip framing only, as Kafka writes and expects. */
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    size_t start = out->len;
    int rc = len ? gzip_inflate_loop(&z, out) : -EBADMSG;
    inflateEnd(&z);
    if (rc < 0)
        out->len = start;
    return rc;
}

int sk_gzip_compress(int level, const uint8_t *in, size_t len, struct sk_buf *out)
{
    if (len > UINT_MAX)
        return -EFBIG;
    if (level < Z_DEFAULT_COMPRESSION || level > Z_BEST_COMPRESSION)
        level = Z_DEFAULT_COMPRESSION;
    z_stream z = {0};
    if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t bound = deflateBound(&z, (uLong)len);
    int rc = sk_buf_reserve(out, bound);
    if (rc == 0) {
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)len;
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)bound;
        rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : -EIO;
        if (rc == 0)
            out->len += bound - z.avail_out;
    }
    deflateEnd(&z);
    return rc;
}
