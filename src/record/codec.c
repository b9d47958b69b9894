/* Codec dispatch by the batch attribute's compression id. */
#include <errno.h>

#include "skein/codec.h"

int sk_decompress(enum sk_compression c, const uint8_t *in, size_t len, struct sk_buf *out)
{
    switch (c) {
    case SK_COMPRESSION_NONE:
        return sk_buf_append(out, in, len);
    case SK_COMPRESSION_GZIP:
        return sk_gzip_decompress(in, len, out);
    case SK_COMPRESSION_SNAPPY:
        return sk_snappy_decompress(in, len, out);
    case SK_COMPRESSION_LZ4:
        return sk_lz4_decompress(in, len, out);
    case SK_COMPRESSION_ZSTD:
        return sk_zstd_decompress(in, len, out);
    }
    return -ENOTSUP;
}

int sk_compress(enum sk_compression c, int level, const uint8_t *in, size_t len, struct sk_buf *out)
{
    switch (c) {
    case SK_COMPRESSION_NONE:
        return sk_buf_append(out, in, len);
    case SK_COMPRESSION_GZIP:
        return sk_gzip_compress(level, in, len, out);
    case SK_COMPRESSION_SNAPPY:
        return sk_snappy_compress(in, len, out);
    case SK_COMPRESSION_LZ4:
        return sk_lz4_compress(level, in, len, out);
    case SK_COMPRESSION_ZSTD:
        return sk_zstd_compress(level, in, len, out);
    }
    return -ENOTSUP;
}

const char *sk_compression_name(enum sk_compression c)
{
    static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    return (unsigned)c < 5 ? names[c] : "unknown";
}
