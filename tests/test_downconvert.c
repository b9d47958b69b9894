/* Down-conversion for Fetch v0-v3: every message format and codec gives the
 * legacy messages Kafka's RecordsUtil.downConvert gives (offsets, keys,
 * values, timestamps, attributes, CRCs), headers and control batches vanish,
 * zstd is refused, and the size rule keeps the first batch whole and trims
 * the rest at message boundaries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <lz4frame.h>
#include <zlib.h>

#include "skein/codec.h"
#include "skein/errors.h"
#include "skein/record.h"
#include "skein/record_downconvert.h"
#include "skein/record_legacy.h"

#define TS 1700000000000LL
#define NREC 20

static const enum sk_compression legacy_codecs[] = {SK_COMPRESSION_NONE, SK_COMPRESSION_GZIP,
                                                    SK_COMPRESSION_SNAPPY, SK_COMPRESSION_LZ4};

static char keys[NREC][16], values[NREC][64];
static const struct sk_header hdrs[2] = {{(const uint8_t *)"h", 1, (const uint8_t *)"x", 1},
                                         {(const uint8_t *)"e", 1, NULL, -1}};

/* Record i: null key every 5th, null value every 7th, headers on even ones. */
static struct sk_record_in rec(int i)
{
    snprintf(keys[i], sizeof keys[i], "k%d", i);
    snprintf(values[i], sizeof values[i], "value-%d-abcdefghijabcdefghij", i);
    return (struct sk_record_in){
        .timestamp = TS + 10 * i,
        .key = i % 5 == 1 ? NULL : keys[i],
        .key_len = i % 5 == 1 ? -1 : (int32_t)strlen(keys[i]),
        .value = i % 7 == 2 ? NULL : values[i],
        .value_len = i % 7 == 2 ? -1 : (int32_t)strlen(values[i]),
        .headers = i % 2 ? NULL : hdrs,
        .header_count = i % 2 ? 0 : 2,
    };
}

/* Appends a batch of records first..first+n-1 at base_offset. */
static void batch(struct sk_buf *out, int64_t base_offset, enum sk_compression c, int16_t flags,
                  int first, int n)
{
    struct sk_record_in recs[NREC];
    for (int i = 0; i < n; i++)
        recs[i] = rec(first + i);
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.base_offset = base_offset;
    spec.compression = c;
    spec.flags = flags;
    spec.log_append_time = TS + 5000;
    cr_assert_eq(sk_batch_build(out, &spec, recs, (size_t)n), 0);
}

static void control_batch(struct sk_buf *out, int64_t base_offset)
{
    static const uint8_t key[4] = {0, 0, 0, 1}; /* COMMIT */
    static const uint8_t value[6] = {0, 0, 0, 0, 0, 0};
    struct sk_record_in r = {.timestamp = TS, .key = key, .key_len = 4, .value = value,
                             .value_len = 6};
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.base_offset = base_offset;
    spec.flags = SK_BATCH_CONTROL | SK_BATCH_TRANSACTIONAL;
    spec.producer_id = 7;
    spec.producer_epoch = 0;
    cr_assert_eq(sk_batch_build(out, &spec, &r, 1), 0);
}

/* ---- a small legacy reader, independent of src/record/legacy.c ---------------- */

struct msg {
    int64_t offset;
    int8_t magic, attributes;
    int64_t timestamp;
    const uint8_t *key, *value;
    int32_t key_len, value_len;
    size_t size; /* whole entry */
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static const uint8_t *field(const uint8_t *q, const uint8_t **out, int32_t *len)
{
    *len = (int32_t)be32(q);
    *out = *len < 0 ? NULL : q + 4;
    return q + 4 + (*len > 0 ? *len : 0);
}

/* Parses the entry at p (exactly, CRC checked). */
static struct msg parse(const uint8_t *p, size_t rem)
{
    cr_assert_geq(rem, 26u);
    struct msg m = {.offset = be64(p), .magic = (int8_t)p[16], .attributes = (int8_t)p[17],
                    .timestamp = -1};
    int32_t size = (int32_t)be32(p + 8);
    m.size = 12 + (size_t)size;
    cr_assert_leq(m.size, rem, "message runs past the set");
    cr_assert_eq(be32(p + 12), (uint32_t)crc32(0, p + 16, (uInt)(size - 4)), "bad CRC");
    const uint8_t *q = p + 18;
    if (m.magic == 1) {
        m.timestamp = be64(q);
        q += 8;
    }
    q = field(q, &m.key, &m.key_len);
    q = field(q, &m.value, &m.value_len);
    cr_assert_eq(q, p + m.size, "fields do not fill the message");
    return m;
}

static void expect_record(const struct msg *m, int i, int8_t magic, int64_t ts, int8_t attrs)
{
    struct sk_record_in r = rec(i);
    cr_assert_eq(m->magic, magic);
    cr_assert_eq(m->attributes, attrs, "record %d attributes %d", i, m->attributes);
    cr_assert_eq(m->timestamp, magic ? ts : -1, "record %d timestamp", i);
    cr_assert_eq(m->key_len, r.key_len, "record %d key", i);
    cr_assert_eq(m->value_len, r.value_len, "record %d value", i);
    if (r.key_len > 0)
        cr_assert_eq(memcmp(m->key, r.key, (size_t)r.key_len), 0);
    if (r.value_len > 0)
        cr_assert_eq(memcmp(m->value, r.value, (size_t)r.value_len), 0);
}

/* A wrapper's value, decompressed. Magic-0 LZ4 carries Kafka 0.8's header
 * checksum: it must be that one, and is put right to decode with liblz4. */
static void unwrap(const struct msg *w, struct sk_buf *inner)
{
    enum sk_compression c = (enum sk_compression)(w->attributes & 7);
    uint8_t copy[65536];
    cr_assert_lt((size_t)w->value_len, sizeof copy);
    memcpy(copy, w->value, (size_t)w->value_len);
    if (c == SK_COMPRESSION_LZ4 && w->magic == 0) {
        cr_assert_eq(copy[6], sk_lz4_header_checksum(copy, 6), "not Kafka 0.8's checksum");
        copy[6] = sk_lz4_header_checksum(copy + 4, 2);
    }
    inner->len = 0;
    cr_assert_eq(sk_decompress(c, copy, (size_t)w->value_len, inner), 0);
}

static int convert(const struct sk_buf *in, int8_t magic, int64_t first, size_t cap,
                   struct sk_buf *out)
{
    struct sk_downconvert_opts o = {magic, first, cap};
    struct sk_buf scratch = {0};
    int rc = sk_downconvert(in->data, in->len, &o, out, &scratch);
    sk_buf_free(&scratch);
    return rc;
}

/* ---- every format and codec ---------------------------------------------------- */

static void check_plain(const struct sk_buf *out, int8_t magic, int64_t base, int n, bool lat)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        struct msg m = parse(out->data + off, out->len - off);
        cr_assert_eq(m.offset, base + i);
        int8_t attrs = magic && lat ? SK_LEGACY_ATTR_TIMESTAMP_TYPE : 0;
        expect_record(&m, i, magic, lat ? TS + 5000 : TS + 10 * i, attrs);
        off += m.size;
    }
    cr_assert_eq(off, out->len);
}

static void check_wrapped(const struct sk_buf *out, int8_t magic, enum sk_compression c,
                          int64_t base, int n, bool lat)
{
    struct msg w = parse(out->data, out->len);
    cr_assert_eq(w.size, out->len, "one wrapper message");
    cr_assert_eq(w.offset, base + n - 1, "the wrapper has the last inner offset");
    int8_t tbit = magic && lat ? SK_LEGACY_ATTR_TIMESTAMP_TYPE : 0;
    cr_assert_eq(w.attributes, (int8_t)(c | tbit));
    cr_assert_eq(w.key_len, -1);
    cr_assert_eq(w.timestamp, magic ? (lat ? TS + 5000 : TS + 10 * (n - 1)) : -1);
    struct sk_buf inner = {0};
    unwrap(&w, &inner);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        struct msg m = parse(inner.data + off, inner.len - off);
        cr_assert_eq(m.offset, magic ? i : base + i, "inner offsets relative for magic 1 only");
        expect_record(&m, i, magic, lat ? TS + 5000 : TS + 10 * i, tbit);
        off += m.size;
    }
    cr_assert_eq(off, inner.len);
    sk_buf_free(&inner);
}

static void roundtrip(int8_t magic, enum sk_compression c, bool lat)
{
    struct sk_buf in = {0}, out = {0};
    batch(&in, 100, c, lat ? SK_BATCH_TIMESTAMP_TYPE : 0, 0, NREC);
    cr_assert_eq(convert(&in, magic, 100, 1 << 20, &out), 0);
    if (c == SK_COMPRESSION_NONE)
        check_plain(&out, magic, 100, NREC, lat);
    else
        check_wrapped(&out, magic, c, 100, NREC, lat);
    sk_buf_free(&in);
    sk_buf_free(&out);
}

Test(downconvert, every_magic_and_codec)
{
    for (int8_t magic = 0; magic <= 1; magic++)
        for (size_t i = 0; i < sizeof legacy_codecs / sizeof legacy_codecs[0]; i++)
            for (int lat = 0; lat <= 1; lat++)
                roundtrip(magic, legacy_codecs[i], lat);
}

Test(downconvert, headers_dropped_message_sizes_exact)
{
    /* Each entry is exactly overhead + key + value: nothing of the headers. */
    struct sk_buf in = {0}, out = {0};
    batch(&in, 0, SK_COMPRESSION_NONE, 0, 0, 1); /* record 0 has two headers */
    cr_assert_eq(convert(&in, 1, 0, 1 << 20, &out), 0);
    struct sk_record_in r = rec(0);
    cr_assert_eq(out.len, 12 + 22 + (size_t)r.key_len + (size_t)r.value_len);
    sk_buf_free(&out);
    cr_assert_eq(convert(&in, 0, 0, 1 << 20, &out), 0);
    cr_assert_eq(out.len, 12 + 14 + (size_t)r.key_len + (size_t)r.value_len);
    sk_buf_free(&in);
    sk_buf_free(&out);
}

Test(downconvert, control_batches_skipped)
{
    struct sk_buf in = {0}, out = {0};
    batch(&in, 0, SK_COMPRESSION_NONE, SK_BATCH_TRANSACTIONAL, 0, 3);
    control_batch(&in, 3);
    batch(&in, 4, SK_COMPRESSION_GZIP, 0, 0, 2);
    cr_assert_eq(convert(&in, 1, 0, 1 << 20, &out), 0);
    size_t off = 0;
    int64_t offsets[4];
    int n = 0;
    while (off < out.len) {
        struct msg m = parse(out.data + off, out.len - off);
        offsets[n++] = m.offset;
        off += m.size;
    }
    cr_assert_eq(n, 4, "three records and one wrapper, no marker");
    cr_assert_eq(offsets[2], 2);
    cr_assert_eq(offsets[3], 5, "the wrapper after the marker ends at offset 5");
    sk_buf_free(&out);
    /* Only a marker: nothing, and no error. */
    struct sk_buf only = {0};
    control_batch(&only, 3);
    cr_assert_eq(convert(&only, 0, 0, 1 << 20, &out), 0);
    cr_assert_eq(out.len, 0u);
    sk_buf_free(&only);
    sk_buf_free(&in);
    sk_buf_free(&out);
}

Test(downconvert, fetch_offset_inside_a_batch)
{
    struct sk_buf in = {0}, out = {0};
    batch(&in, 10, SK_COMPRESSION_NONE, 0, 0, 5);
    cr_assert_eq(convert(&in, 1, 13, 1 << 20, &out), 0);
    struct msg m = parse(out.data, out.len);
    cr_assert_eq(m.offset, 13, "uncompressed records before the fetch offset are left out");
    cr_assert_eq(parse(out.data + m.size, out.len - m.size).size + m.size, out.len);
    out.len = 0;
    struct sk_buf z = {0};
    batch(&z, 10, SK_COMPRESSION_SNAPPY, 0, 0, 5);
    cr_assert_eq(convert(&z, 1, 13, 1 << 20, &out), 0);
    check_wrapped(&out, 1, SK_COMPRESSION_SNAPPY, 10, 5, false); /* a wrapper stays whole */
    sk_buf_free(&z);
    sk_buf_free(&in);
    sk_buf_free(&out);
}

Test(downconvert, zstd_refused_or_ends_the_answer)
{
    struct sk_buf in = {0}, out = {0};
    batch(&in, 0, SK_COMPRESSION_ZSTD, 0, 0, 3);
    cr_assert_eq(convert(&in, 1, 0, 1 << 20, &out), SK_ERR_UNSUPPORTED_COMPRESSION_TYPE);
    cr_assert_eq(out.len, 0u);
    sk_buf_free(&in);
    batch(&in, 0, SK_COMPRESSION_LZ4, 0, 0, 3);
    batch(&in, 3, SK_COMPRESSION_ZSTD, 0, 0, 3);
    batch(&in, 6, SK_COMPRESSION_NONE, 0, 0, 3);
    cr_assert_eq(convert(&in, 1, 0, 1 << 20, &out), 0);
    check_wrapped(&out, 1, SK_COMPRESSION_LZ4, 0, 3, false);
    sk_buf_free(&in);
    sk_buf_free(&out);
}

Test(downconvert, first_batch_whole_rest_trimmed)
{
    struct sk_buf in = {0}, out = {0};
    batch(&in, 0, SK_COMPRESSION_NONE, 0, 0, 10);
    size_t first = in.len;
    batch(&in, 10, SK_COMPRESSION_NONE, 0, 10, 10);
    /* A cap below the first batch's converted size still gives all of it. */
    cr_assert_eq(convert(&in, 1, 0, 10, &out), 0);
    check_plain(&out, 1, 0, 10, false);
    out.len = 0;
    /* The stored size as cap: format 1 is larger, so the second batch is cut
     * after its last whole message that fits. */
    cr_assert_eq(convert(&in, 1, 0, in.len, &out), 0);
    cr_assert_leq(out.len, in.len);
    size_t off = 0;
    int n = 0;
    while (off < out.len) {
        struct msg m = parse(out.data + off, out.len - off);
        cr_assert_eq(m.offset, n++);
        off += m.size;
    }
    cr_assert_gt(n, 10);
    cr_assert_lt(n, 20);
    cr_assert_gt(out.len + 60, in.len, "trimmed to whole messages only: less than one left out");
    out.len = 0;
    /* A partial batch at the end (a read cut short) is not converted. */
    cr_assert_eq(convert(&(struct sk_buf){in.data, first + 30, 0, 0}, 0, 0, 1 << 20, &out), 0);
    check_plain(&out, 0, 0, 10, false);
    sk_buf_free(&in);
    sk_buf_free(&out);
}

Test(downconvert, wrapper_past_the_cap_left_out)
{
    struct sk_buf in = {0}, out = {0};
    batch(&in, 0, SK_COMPRESSION_GZIP, 0, 0, 5);
    batch(&in, 5, SK_COMPRESSION_GZIP, 0, 5, 5);
    cr_assert_eq(convert(&in, 1, 0, 1, &out), 0);
    check_wrapped(&out, 1, SK_COMPRESSION_GZIP, 0, 5, false);
    sk_buf_free(&in);
    sk_buf_free(&out);
}

Test(downconvert, appends_after_existing_bytes)
{
    struct sk_buf in = {0}, out = {0};
    batch(&in, 0, SK_COMPRESSION_NONE, 0, 0, 2);
    cr_assert_eq(sk_buf_append(&out, "xyz", 3), 0);
    cr_assert_eq(convert(&in, 0, 0, 1 << 20, &out), 0);
    cr_assert_eq(memcmp(out.data, "xyz", 3), 0);
    cr_assert_eq(parse(out.data + 3, out.len - 3).offset, 0);
    sk_buf_free(&in);
    sk_buf_free(&out);
}

Test(downconvert, lz4_kafka08_checksum)
{
    /* Kafka 0.8 hashed magic + FLG + BD; the frame is otherwise standard. */
    static const uint8_t data[] = "some bytes some bytes some bytes";
    struct sk_buf z = {0}, plain = {0};
    cr_assert_eq(sk_lz4_compress_kafka08(data, sizeof data, &z), 0);
    cr_assert_eq(z.data[6], sk_lz4_header_checksum(z.data, 6));
    cr_assert_neq(sk_decompress(SK_COMPRESSION_LZ4, z.data, z.len, &plain), 0);
    /* Kafka reads magic-0 LZ4 without checking the header checksum. */
    cr_assert_eq(sk_lz4_decompress_kafka08(z.data, z.len, &plain), 0);
    cr_assert_eq(plain.len, sizeof data);
    cr_assert_eq(memcmp(plain.data, data, sizeof data), 0);
    plain.len = 0;
    z.data[6] = sk_lz4_header_checksum(z.data + 4, 2);
    cr_assert_eq(sk_decompress(SK_COMPRESSION_LZ4, z.data, z.len, &plain), 0);
    cr_assert_eq(plain.len, sizeof data);
    plain.len = 0;
    cr_assert_eq(sk_lz4_decompress_kafka08(z.data, z.len, &plain), 0);
    cr_assert_eq(plain.len, sizeof data);
    plain.len = 0;
    cr_assert_neq(sk_lz4_decompress_kafka08(z.data, 5, &plain), 0);
    cr_assert_eq(plain.len, 0u);
    sk_buf_free(&z);
    sk_buf_free(&plain);
}

Test(downconvert, lz4_header_checksum_matches_liblz4)
{
    /* With the content size in it the descriptor is 10 bytes: liblz4's own
     * checksum checks the word-at-a-time part of the hash too. */
    static const uint8_t data[] = "some bytes some bytes some bytes some bytes";
    LZ4F_preferences_t prefs = {0};
    prefs.frameInfo.contentSize = sizeof data;
    uint8_t z[256];
    size_t n = LZ4F_compressFrame(z, sizeof z, data, sizeof data, &prefs);
    cr_assert(!LZ4F_isError(n));
    cr_assert(z[4] & 0x08, "content size flag");
    cr_assert_eq(z[14], sk_lz4_header_checksum(z + 4, 10));
    /* Kafka 0.8's variant of the same frame is read as Kafka reads magic 0. */
    z[14] = sk_lz4_header_checksum(z, 14);
    struct sk_buf plain = {0};
    cr_assert_eq(sk_lz4_decompress_kafka08(z, n, &plain), 0);
    cr_assert_eq(plain.len, sizeof data);
    cr_assert_eq(memcmp(plain.data, data, sizeof data), 0);
    sk_buf_free(&plain);
}
