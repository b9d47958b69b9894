/* Compression codecs of Kafka record batches, in Kafka's framings:
 *   gzip   - RFC 1952 gzip members (what java.util.zip.GZIPOutputStream writes)
 *   snappy - snappy-java's "xerial" stream: 0x82 SNAPPY 0, version, compatible
 *            version, then [int32 length][raw snappy block]...; raw snappy without
 *            the header is accepted on input, as Kafka's consumers do
 *   lz4    - the LZ4 frame format
 *   zstd   - zstd frames (content size may be absent)
 * All functions append to out and fail rather than grow out past out->limit. */
#ifndef SKEIN_CODEC_H
#define SKEIN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "skein/buf.h"
#include "skein/record.h"

/* Returns 0; -EFBIG if the output would pass out->limit; -EBADMSG if the input is
 * corrupt or truncated; -ENOTSUP for an unknown codec; -ENOMEM. On error out->len
 * is restored to its value on entry. */
int sk_decompress(enum sk_compression c, const uint8_t *in, size_t len, struct sk_buf *out);

/* level: SK_COMPRESSION_LEVEL_DEFAULT or a codec level (ignored by snappy). */
int sk_compress(enum sk_compression c, int level, const uint8_t *in, size_t len, struct sk_buf *out);

/* Per codec; same contracts as above. */
int sk_gzip_decompress(const uint8_t *in, size_t len, struct sk_buf *out);
int sk_gzip_compress(int level, const uint8_t *in, size_t len, struct sk_buf *out);
int sk_snappy_decompress(const uint8_t *in, size_t len, struct sk_buf *out);
int sk_snappy_compress(const uint8_t *in, size_t len, struct sk_buf *out); /* xerial framing */
int sk_snappy_compress_raw(const uint8_t *in, size_t len, struct sk_buf *out);
int sk_lz4_decompress(const uint8_t *in, size_t len, struct sk_buf *out);
int sk_lz4_compress(int level, const uint8_t *in, size_t len, struct sk_buf *out);
/* LZ4 as Kafka writes it in magic-0 messages: the frame header checksum
 * covers the magic number too (Kafka 0.8's bug, kept for its readers). */
int sk_lz4_compress_kafka08(const uint8_t *in, size_t len, struct sk_buf *out);
/* Reads magic-0 LZ4 as Kafka does: either header checksum is accepted. */
int sk_lz4_decompress_kafka08(const uint8_t *in, size_t len, struct sk_buf *out);
/* The frame header checksum byte of a descriptor (tests). */
uint8_t sk_lz4_header_checksum(const uint8_t *descriptor, size_t len);
int sk_zstd_decompress(const uint8_t *in, size_t len, struct sk_buf *out);
int sk_zstd_compress(int level, const uint8_t *in, size_t len, struct sk_buf *out);

const char *sk_compression_name(enum sk_compression c);

#endif
