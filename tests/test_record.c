/* Unit tests of src/record/: CRC-32C, codecs, batch build/validate/iterate,
 * recompression and legacy message sets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skein/codec.h"
#include "skein/errors.h"
#include "skein/record.h"
#include "skein/record_legacy.h"
#include "skein/record_validate.h"

#define NOW 1700000000000LL
#define NREC 100

static const enum sk_compression codecs[] = {SK_COMPRESSION_NONE, SK_COMPRESSION_GZIP, SK_COMPRESSION_SNAPPY,
                                             SK_COMPRESSION_LZ4, SK_COMPRESSION_ZSTD};

/* ---- helpers ----------------------------------------------------------------- */

static char keys[NREC][16], values[NREC][64];
static struct sk_header hdrs[2] = {{(const uint8_t *)"h1", 2, (const uint8_t *)"v1", 2},
                                   {(const uint8_t *)"h2", 2, NULL, -1}};

/* Record i: key "k<i>" (null for i % 7 == 3), value "value-<i>..." (null for
 * i % 11 == 5), headers on even records, timestamp NOW - 1000 + i. */
static struct sk_record_in make_record(int i, int64_t ts)
{
    snprintf(keys[i], sizeof keys[i], "k%d", i);
    snprintf(values[i], sizeof values[i], "value-%d-%s", i, "abcdefghijabcdefghijabcdefghij");
    struct sk_record_in r = {.timestamp = ts};
    r.key = i % 7 == 3 ? NULL : keys[i];
    r.key_len = i % 7 == 3 ? -1 : (int32_t)strlen(keys[i]);
    r.value = i % 11 == 5 ? NULL : values[i];
    r.value_len = i % 11 == 5 ? -1 : (int32_t)strlen(values[i]);
    r.headers = i % 2 ? NULL : hdrs;
    r.header_count = i % 2 ? 0 : 2;
    return r;
}

static void build(struct sk_buf *out, enum sk_compression c, int n, const struct sk_batch_spec *spec_in)
{
    struct sk_record_in recs[NREC];
    for (int i = 0; i < n; i++)
        recs[i] = make_record(i, NOW - 1000 + i);
    struct sk_batch_spec spec = spec_in ? *spec_in : sk_batch_spec_default();
    spec.compression = c;
    cr_assert_eq(sk_batch_build(out, &spec, recs, (size_t)n), 0);
}

static void check_records(const uint8_t *batch, size_t len, int n, int64_t base_offset)
{
    struct sk_buf scratch = {.limit = 1 << 20};
    struct sk_record_iter it;
    cr_assert_eq(sk_record_iter_init(&it, batch, len, &scratch), 0);
    struct sk_record r;
    int i = 0;
    while (sk_record_iter_next(&it, &r) == 1) {
        struct sk_record_in want = make_record(i, NOW - 1000 + i);
        cr_assert_eq(r.offset, base_offset + i, "offset %lld, expected %lld", (long long)r.offset,
                     (long long)(base_offset + i));
        cr_assert_eq(r.timestamp, want.timestamp);
        cr_assert_eq(r.key_len, want.key_len, "record %d key_len %d expected %d", i, r.key_len, want.key_len);
        if (want.key_len > 0)
            cr_assert_eq(memcmp(r.key, want.key, (size_t)want.key_len), 0);
        cr_assert_eq(r.value_len, want.value_len);
        if (want.value_len > 0)
            cr_assert_eq(memcmp(r.value, want.value, (size_t)want.value_len), 0);
        cr_assert_eq(r.header_count, want.header_count);
        struct sk_header_iter hi;
        struct sk_header h;
        sk_header_iter_init(&hi, &r);
        for (int k = 0; k < want.header_count; k++) {
            cr_assert_eq(sk_header_iter_next(&hi, &h), 1);
            cr_assert_eq(h.key_len, 2);
            cr_assert_eq(memcmp(h.key, hdrs[k].key, 2), 0);
            cr_assert_eq(h.value_len, hdrs[k].value_len);
        }
        cr_assert_eq(sk_header_iter_next(&hi, &h), 0);
        i++;
    }
    cr_assert_eq(i, n, "iterated %d records, expected %d", i, n);
    cr_assert_eq(sk_record_iter_next(&it, &r), 0);
    sk_buf_free(&scratch);
}

static struct sk_buf scratch;
static struct sk_record_error errs[8];

static struct sk_validate_opts opts(void)
{
    struct sk_validate_opts o = sk_validate_opts_default(NOW);
    scratch.limit = 16 << 20;
    o.scratch = &scratch;
    o.errors = errs;
    o.errors_cap = 8;
    return o;
}

static void fini(void)
{
    sk_buf_free(&scratch);
}

/* Rewrites header fields of an uncompressed test batch, then fixes the CRC so
 * only the field under test is wrong. */
static void patch32(struct sk_buf *b, size_t at, uint32_t v)
{
    b->data[at] = (uint8_t)(v >> 24);
    b->data[at + 1] = (uint8_t)(v >> 16);
    b->data[at + 2] = (uint8_t)(v >> 8);
    b->data[at + 3] = (uint8_t)v;
    sk_batch_update_crc(b->data);
}

/* ---- CRC-32C ------------------------------------------------------------------ */

Test(crc32c, known_vectors)
{
    cr_assert_eq(sk_crc32c(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(sk_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    cr_assert_eq(sk_crc32c(0, "", 0), 0u);
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    cr_assert_eq(sk_crc32c(0, zeros, 32), 0x8A9136AAu);
    cr_assert_eq(sk_crc32c(0, ones, 32), 0x62A8AB43u);
    /* Chained calls equal one call. */
    cr_assert_eq(sk_crc32c(sk_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

Test(crc32c, hw_equals_sw)
{
    if (!sk_crc32c_hw_available())
        cr_log_warn("no SSE4.2: hw path is the table path");
    srand(42);
    uint8_t buf[4096 + 16];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rand();
    for (int t = 0; t < 500; t++) {
        size_t off = (size_t)rand() % 16, len = (size_t)rand() % 4096;
        uint32_t seed = (uint32_t)rand();
        cr_assert_eq(sk_crc32c_hw(seed, buf + off, len), sk_crc32c_sw(seed, buf + off, len),
                     "off %zu len %zu", off, len);
    }
}

/* Long inputs take the three-stream paths (blocks of 8 KiB and 256 B) whose
 * partial CRCs are joined by table shifts. */
Test(crc32c, hw_equals_sw_long)
{
    srand(7);
    size_t cap = 200000;
    uint8_t *buf = malloc(cap + 16);
    for (size_t i = 0; i < cap + 16; i++)
        buf[i] = (uint8_t)rand();
    size_t lens[] = {767, 768, 769, 1536, 24575, 24576, 24577, 49152 + 768 + 9, cap};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t off = 0; off < 16; off += 5) {
            uint32_t seed = (uint32_t)rand();
            cr_assert_eq(sk_crc32c_hw(seed, buf + off, lens[i]), sk_crc32c_sw(seed, buf + off, lens[i]),
                         "off %zu len %zu", off, lens[i]);
        }
    for (int t = 0; t < 50; t++) {
        size_t off = (size_t)rand() % 16, len = (size_t)rand() % cap;
        cr_assert_eq(sk_crc32c_hw(0, buf + off, len), sk_crc32c_sw(0, buf + off, len),
                     "off %zu len %zu", off, len);
    }
    free(buf);
}

/* ---- codecs ----------------------------------------------------------------------- */

Test(codec, round_trip_all, .fini = fini)
{
    size_t n = 300000;
    uint8_t *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)("kafka record batch "[i % 19] + (i / 1000) % 3);
    for (size_t c = 1; c < 5; c++) {
        struct sk_buf z = {0}, out = {.limit = n};
        cr_assert_eq(sk_compress(codecs[c], SK_COMPRESSION_LEVEL_DEFAULT, in, n, &z), 0);
        cr_assert_lt(z.len, n / 4, "%s did not compress", sk_compression_name(codecs[c]));
        cr_assert_eq(sk_decompress(codecs[c], z.data, z.len, &out), 0, "%s", sk_compression_name(codecs[c]));
        cr_assert_eq(out.len, n);
        cr_assert_eq(memcmp(out.data, in, n), 0);
        /* Truncated input is an error, and leaves out as it was. */
        out.len = 0;
        int rc = sk_decompress(codecs[c], z.data, z.len / 2, &out);
        cr_assert_eq(rc, -EBADMSG, "%s truncated: %d", sk_compression_name(codecs[c]), rc);
        cr_assert_eq(out.len, 0);
        sk_buf_free(&z);
        sk_buf_free(&out);
    }
    free(in);
}

Test(codec, decompression_bomb_capped)
{
    size_t n = 32 << 20; /* 32 MB of zeros: a few KB compressed */
    uint8_t *in = calloc(1, n);
    for (size_t c = 1; c < 5; c++) {
        struct sk_buf z = {0}, out = {.limit = 1 << 20};
        cr_assert_eq(sk_compress(codecs[c], SK_COMPRESSION_LEVEL_DEFAULT, in, n, &z), 0);
        int rc = sk_decompress(codecs[c], z.data, z.len, &out);
        cr_assert_eq(rc, -EFBIG, "%s: %d", sk_compression_name(codecs[c]), rc);
        cr_assert_leq(out.cap, (size_t)1 << 20, "%s allocated %zu", sk_compression_name(codecs[c]), out.cap);
        sk_buf_free(&z);
        sk_buf_free(&out);
    }
    free(in);
}

Test(codec, snappy_xerial_and_raw)
{
    size_t n = 100000; /* > one 32 KB xerial block */
    uint8_t *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)(i * 7 % 251);
    struct sk_buf x = {0}, raw = {0}, out = {0};
    cr_assert_eq(sk_snappy_compress(in, n, &x), 0);
    static const uint8_t magic[] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    cr_assert_eq(memcmp(x.data, magic, sizeof magic), 0, "xerial header");
    cr_assert_eq(sk_snappy_decompress(x.data, x.len, &out), 0);
    cr_assert_eq(out.len, n);
    cr_assert_eq(memcmp(out.data, in, n), 0);
    out.len = 0;
    cr_assert_eq(sk_snappy_compress_raw(in, n, &raw), 0);
    cr_assert_neq(memcmp(raw.data, magic, 8), 0);
    cr_assert_eq(sk_snappy_decompress(raw.data, raw.len, &out), 0);
    cr_assert_eq(out.len, n);
    cr_assert_eq(memcmp(out.data, in, n), 0);
    /* A block length running past the end is corrupt. */
    x.data[16] = 0x7f;
    out.len = 0;
    cr_assert_eq(sk_snappy_decompress(x.data, x.len, &out), -EBADMSG);
    sk_buf_free(&x);
    sk_buf_free(&raw);
    sk_buf_free(&out);
    free(in);
}

/* ---- batches: build -> validate -> iterate ------------------------------------------ */

Test(batch, round_trip_every_codec, .fini = fini)
{
    for (size_t c = 0; c < 5; c++) {
        struct sk_buf b = {0};
        build(&b, codecs[c], NREC, NULL);
        struct sk_batch_header h;
        cr_assert_eq(sk_batch_header_read(b.data, b.len, &h), 0);
        cr_assert_eq(sk_batch_size(&h), b.len);
        cr_assert(sk_batch_crc_ok(b.data, &h));
        cr_assert_eq(h.record_count, NREC);
        cr_assert_eq(h.last_offset_delta, NREC - 1);
        cr_assert_eq(sk_batch_compression(&h), codecs[c]);

        struct sk_validate_opts o = opts();
        struct sk_produce_summary s;
        int16_t err = sk_records_validate(b.data, b.len, &o, &s);
        cr_assert_eq(err, 0, "%s: %d %s", sk_compression_name(codecs[c]), err, s.error_message);
        cr_assert_eq(s.batches, 1);
        cr_assert_eq(s.records, NREC);
        cr_assert_eq(s.compressed, c != 0);
        cr_assert_eq(s.compression, codecs[c]);
        cr_assert_eq(s.max_timestamp, NOW - 1000 + NREC - 1);
        cr_assert_eq(s.max_timestamp_delta, NREC - 1);
        cr_assert_eq(s.first_producer_id, -1);

        sk_batch_set_base_offset(b.data, 5000);
        sk_batch_set_leader_epoch(b.data, 7);
        cr_assert_eq(sk_batch_header_read(b.data, b.len, &h), 0);
        cr_assert_eq(h.base_offset, 5000);
        cr_assert_eq(h.partition_leader_epoch, 7);
        cr_assert(sk_batch_crc_ok(b.data, &h), "offset and epoch are outside the CRC");
        check_records(b.data, b.len, NREC, 5000);
        sk_buf_free(&b);
    }
}

Test(batch, producer_fields_in_summary, .fini = fini)
{
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.producer_id = 42;
    spec.producer_epoch = 3;
    spec.base_sequence = INT32_MAX - 1;
    spec.flags = SK_BATCH_TRANSACTIONAL;
    struct sk_buf b = {0};
    build(&b, SK_COMPRESSION_LZ4, 5, &spec);
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    cr_assert_eq(sk_records_validate(b.data, b.len, &o, &s), 0, "%s", s.error_message);
    cr_assert_eq(s.first_producer_id, 42);
    cr_assert_eq(s.first_producer_epoch, 3);
    cr_assert_eq(s.first_sequence, INT32_MAX - 1);
    cr_assert_eq(s.last_sequence, 2, "sequence wraps past INT32_MAX: %d", s.last_sequence);
    cr_assert(s.transactional);
    sk_buf_free(&b);
}

Test(batch, log_append_time_rewrite, .fini = fini)
{
    for (size_t c = 0; c < 5; c += 4) {
        struct sk_buf b = {0};
        build(&b, codecs[c], 10, NULL);
        struct sk_validate_opts o = opts();
        o.log_append_time = true;
        struct sk_produce_summary s;
        cr_assert_eq(sk_records_validate(b.data, b.len, &o, &s), 0, "%s", s.error_message);
        struct sk_batch_header h;
        sk_batch_header_read(b.data, b.len, &h);
        cr_assert(h.attributes & SK_BATCH_TIMESTAMP_TYPE);
        cr_assert_eq(h.max_timestamp, NOW);
        cr_assert(sk_batch_crc_ok(b.data, &h), "CRC recomputed");
        cr_assert_eq(s.max_timestamp, NOW);
        cr_assert_eq(s.max_timestamp_delta, 9);
        struct sk_record_iter it;
        struct sk_record r;
        cr_assert_eq(sk_record_iter_init(&it, b.data, b.len, &scratch), 0);
        cr_assert_eq(sk_record_iter_next(&it, &r), 1);
        cr_assert_eq(r.timestamp, NOW);
        /* A client sending LogAppendTime itself is refused. */
        o.log_append_time = false;
        cr_assert_eq(sk_records_validate(b.data, b.len, &o, &s), SK_ERR_INVALID_TIMESTAMP);
        sk_buf_free(&b);
    }
}

Test(batch, create_time_max_timestamp_fixed, .fini = fini)
{
    struct sk_buf b = {0};
    build(&b, SK_COMPRESSION_NONE, 10, NULL);
    sk_batch_set_max_timestamp(b.data, 1); /* a producer lying about maxTimestamp */
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    cr_assert_eq(sk_records_validate(b.data, b.len, &o, &s), 0, "%s", s.error_message);
    struct sk_batch_header h;
    sk_batch_header_read(b.data, b.len, &h);
    cr_assert_eq(h.max_timestamp, NOW - 1000 + 9);
    cr_assert(sk_batch_crc_ok(b.data, &h));
    sk_buf_free(&b);
}

/* ---- batches: rejections ------------------------------------------------------------- */

static int16_t validate_buf(struct sk_buf *b, struct sk_validate_opts *o, struct sk_produce_summary *s)
{
    return sk_records_validate(b->data, b->len, o, s);
}

Test(reject, corrupted_crc, .fini = fini)
{
    for (size_t c = 0; c < 5; c++) {
        struct sk_buf b = {0};
        build(&b, codecs[c], 10, NULL);
        b.data[b.len - 3] ^= 0x40;
        struct sk_validate_opts o = opts();
        struct sk_produce_summary s;
        cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_CORRUPT_MESSAGE, "%s", sk_compression_name(codecs[c]));
        sk_buf_free(&b);
    }
}

Test(reject, truncated_and_trailing_partial, .fini = fini)
{
    struct sk_buf b = {0};
    build(&b, SK_COMPRESSION_NONE, 10, NULL);
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    size_t full = b.len;
    for (size_t cut = 1; cut < full; cut += 13) {
        b.len = cut;
        cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_CORRUPT_MESSAGE, "cut at %zu", cut);
    }
    b.len = full;
    /* Whole batch followed by a partial one. */
    o.allow_multiple_batches = true;
    sk_buf_append(&b, b.data, 30);
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_CORRUPT_MESSAGE);
    b.len = 0;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD, "empty records");
    sk_buf_free(&b);
}

Test(reject, wrong_record_count, .fini = fini)
{
    struct sk_buf b = {0};
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    /* count and lastOffsetDelta agree with each other but not with the records */
    build(&b, SK_COMPRESSION_NONE, 10, NULL);
    patch32(&b, 57, 11);
    patch32(&b, 23, 10);
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD, "%s", s.error_message);
    patch32(&b, 57, 9);
    patch32(&b, 23, 8);
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD, "records left over");
    /* count disagrees with lastOffsetDelta */
    patch32(&b, 57, 10);
    patch32(&b, 23, 8);
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD);
    patch32(&b, 23, 9);
    cr_assert_eq(validate_buf(&b, &o, &s), 0, "restored: %s", s.error_message);
    sk_buf_free(&b);
    /* compressed batch, count too high */
    b = (struct sk_buf){0};
    build(&b, SK_COMPRESSION_ZSTD, 10, NULL);
    patch32(&b, 57, 12);
    patch32(&b, 23, 11);
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD);
    sk_buf_free(&b);
}

Test(reject, bad_offset_deltas, .fini = fini)
{
    struct sk_buf b = {0};
    build(&b, SK_COMPRESSION_NONE, 10, NULL);
    /* Record 0 starts at 61: length varint (1 byte, short record), attributes,
     * timestampDelta 0 (1 byte), offsetDelta 0 (zig-zag 0). Make it 3 (zz 6). */
    cr_assert_eq(b.data[61 + 3], 0);
    b.data[61 + 3] = 6;
    sk_batch_update_crc(b.data);
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD);
    cr_assert_eq(s.error_count, 1);
    cr_assert_eq(errs[0].batch_index, 0);
    cr_assert(strstr(errs[0].message, "offset delta"), "%s", errs[0].message);
    sk_buf_free(&b);
}

Test(reject, too_large, .fini = fini)
{
    struct sk_buf b = {0};
    build(&b, SK_COMPRESSION_NONE, NREC, NULL);
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    o.max_message_bytes = (int32_t)b.len - 1;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_MESSAGE_TOO_LARGE);
    o.max_message_bytes = (int32_t)b.len;
    cr_assert_eq(validate_buf(&b, &o, &s), 0);
    sk_buf_free(&b);
}

Test(reject, compressed_bomb_in_batch, .fini = fini)
{
    static uint8_t big[4 << 20];
    struct sk_record_in r = {.timestamp = NOW, .key_len = -1, .value = big, .value_len = sizeof big};
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.compression = SK_COMPRESSION_GZIP;
    struct sk_buf b = {0};
    cr_assert_eq(sk_batch_build(&b, &spec, &r, 1), 0);
    cr_assert_lt(b.len, 64 * 1024);
    struct sk_validate_opts o = opts();
    scratch.limit = 1 << 20;
    o.scratch = &scratch;
    struct sk_produce_summary s;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_MESSAGE_TOO_LARGE, "%s", s.error_message);
    cr_assert_leq(scratch.cap, (size_t)1 << 20);
    sk_buf_free(&b);
}

Test(reject, timestamps_out_of_range, .fini = fini)
{
    struct sk_buf b = {0};
    build(&b, SK_COMPRESSION_SNAPPY, 10, NULL); /* timestamps NOW-1000 .. NOW-991 */
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    o.timestamp_before_max_ms = 995; /* records 0..4 are too old */
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_TIMESTAMP);
    cr_assert_eq(s.record_errors, 5);
    cr_assert_eq(errs[0].batch_index, 0);
    cr_assert_eq(errs[4].batch_index, 4);
    cr_assert(strstr(errs[0].message, "out of range"), "%s", errs[0].message);
    o = opts();
    o.now_ms = NOW - 2000; /* records are 1 s in the future */
    o.timestamp_after_max_ms = 500;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_TIMESTAMP);
    o.timestamp_after_max_ms = 1500;
    cr_assert_eq(validate_buf(&b, &o, &s), 0, "%s", s.error_message);
    /* extreme values do not overflow */
    o = opts();
    o.now_ms = INT64_MAX;
    o.timestamp_before_max_ms = 10;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_TIMESTAMP);
    sk_buf_free(&b);
}

Test(reject, control_and_compacted_and_sequence, .fini = fini)
{
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.flags = SK_BATCH_CONTROL;
    struct sk_buf b = {0};
    build(&b, SK_COMPRESSION_NONE, 3, &spec);
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD);
    o.from_client = false;
    cr_assert_eq(validate_buf(&b, &o, &s), 0, "the broker itself may write control batches");
    sk_buf_free(&b);

    o = opts();
    o.compacted = true;
    b = (struct sk_buf){0};
    build(&b, SK_COMPRESSION_NONE, 5, NULL); /* record 3 has a null key */
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD);
    cr_assert_eq(s.error_count, 1);
    cr_assert_eq(errs[0].batch_index, 3);
    sk_buf_free(&b);

    o = opts();
    spec = sk_batch_spec_default();
    spec.producer_id = 9;
    spec.producer_epoch = 0;
    spec.base_sequence = -1;
    b = (struct sk_buf){0};
    build(&b, SK_COMPRESSION_NONE, 2, &spec);
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD, "producer id without sequence");
    sk_buf_free(&b);
}

Test(reject, request_rules, .fini = fini)
{
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    struct sk_buf b = {0};
    build(&b, SK_COMPRESSION_NONE, 3, NULL);
    build(&b, SK_COMPRESSION_NONE, 3, NULL);
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD, "two v2 batches");
    o.allow_multiple_batches = true;
    cr_assert_eq(validate_buf(&b, &o, &s), 0, "%s", s.error_message);
    cr_assert_eq(s.batches, 2);
    cr_assert_eq(s.records, 6);
    sk_buf_free(&b);

    b = (struct sk_buf){0};
    build(&b, SK_COMPRESSION_ZSTD, 3, NULL);
    o = opts();
    o.produce_version = 6;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_UNSUPPORTED_COMPRESSION_TYPE);
    o.produce_version = 7;
    cr_assert_eq(validate_buf(&b, &o, &s), 0);
    b.data[22] = (uint8_t)((b.data[22] & ~7) | 6);
    sk_batch_update_crc(b.data);
    o.produce_version = -1;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_UNSUPPORTED_COMPRESSION_TYPE, "codec id 6");
    sk_buf_free(&b);

    b = (struct sk_buf){0};
    build(&b, SK_COMPRESSION_NONE, 3, NULL);
    sk_batch_set_base_offset(b.data, 5);
    o = opts();
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_INVALID_RECORD, "client base offset must be 0");
    b.data[16] = 3;
    cr_assert_eq(validate_buf(&b, &o, &s), SK_ERR_CORRUPT_MESSAGE, "magic 3");
    sk_buf_free(&b);
}

/* ---- recompression ---------------------------------------------------------------- */

Test(recompress, every_pair_keeps_records, .fini = fini)
{
    for (size_t from = 0; from < 5; from++) {
        for (size_t to = 0; to < 5; to++) {
            struct sk_batch_spec spec = sk_batch_spec_default();
            spec.producer_id = 77;
            spec.producer_epoch = 1;
            spec.base_sequence = 10;
            struct sk_buf b = {0}, out = {0};
            build(&b, codecs[from], NREC, &spec);
            scratch.limit = 1 << 20;
            cr_assert_eq(sk_batch_recompress(b.data, b.len, codecs[to], SK_COMPRESSION_LEVEL_DEFAULT, &out, &scratch), 0);
            struct sk_batch_header h;
            cr_assert_eq(sk_batch_header_read(out.data, out.len, &h), 0);
            cr_assert_eq(sk_batch_size(&h), out.len);
            cr_assert(sk_batch_crc_ok(out.data, &h));
            cr_assert_eq(sk_batch_compression(&h), codecs[to]);
            cr_assert_eq(h.producer_id, 77);
            cr_assert_eq(h.base_sequence, 10);
            struct sk_validate_opts o = opts();
            struct sk_produce_summary s;
            cr_assert_eq(sk_records_validate(out.data, out.len, &o, &s), 0, "%s", s.error_message);
            check_records(out.data, out.len, NREC, 0);
            sk_buf_free(&b);
            sk_buf_free(&out);
        }
    }
}

/* ---- legacy message sets ----------------------------------------------------------- */

/* Writes records 0..n-1 as legacy messages; magic 1 gets the test timestamps. */
static void legacy_set(struct sk_buf *out, int8_t magic, int n, bool relative)
{
    for (int i = 0; i < n; i++) {
        struct sk_record_in r = make_record(i, NOW - 1000 + i);
        cr_assert_eq(sk_legacy_message_append(out, magic, relative ? i : 1000 + i, 0, r.timestamp, r.key, r.key_len,
                                              r.value, r.value_len), 0);
    }
}

static void legacy_wrapped(struct sk_buf *out, int8_t magic, enum sk_compression c, int n)
{
    struct sk_buf inner = {0}, z = {0};
    legacy_set(&inner, magic, n, magic == 1);
    cr_assert_eq(sk_compress(c, SK_COMPRESSION_LEVEL_DEFAULT, inner.data, inner.len, &z), 0);
    cr_assert_eq(sk_legacy_message_append(out, magic, n - 1, (int8_t)c, NOW - 1000 + n - 1, NULL, -1, z.data,
                                          (int32_t)z.len), 0);
    sk_buf_free(&inner);
    sk_buf_free(&z);
}

/* Legacy records carry no headers; compare everything else. */
static void check_converted(const struct sk_buf *b, int n, int8_t magic)
{
    struct sk_buf sc = {.limit = 1 << 20};
    struct sk_record_iter it;
    struct sk_record r;
    cr_assert_eq(sk_record_iter_init(&it, b->data, b->len, &sc), 0);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(sk_record_iter_next(&it, &r), 1, "record %d", i);
        struct sk_record_in want = make_record(i, magic ? NOW - 1000 + i : SK_NO_TIMESTAMP);
        cr_assert_eq(r.offset, i);
        cr_assert_eq(r.timestamp, want.timestamp, "record %d ts %lld", i, (long long)r.timestamp);
        cr_assert_eq(r.key_len, want.key_len);
        if (want.key_len > 0)
            cr_assert_eq(memcmp(r.key, want.key, (size_t)want.key_len), 0);
        cr_assert_eq(r.value_len, want.value_len);
        if (want.value_len > 0)
            cr_assert_eq(memcmp(r.value, want.value, (size_t)want.value_len), 0);
        cr_assert_eq(r.header_count, 0);
    }
    cr_assert_eq(sk_record_iter_next(&it, &r), 0);
    sk_buf_free(&sc);
}

Test(legacy, uncompressed_v0_v1_converted, .fini = fini)
{
    for (int8_t magic = 0; magic <= 1; magic++) {
        for (size_t to = 0; to < 5; to++) {
            struct sk_buf set = {0}, out = {0};
            legacy_set(&set, magic, 20, false);
            struct sk_validate_opts o = opts();
            struct sk_produce_summary s;
            cr_assert_eq(sk_records_validate(set.data, set.len, &o, &s), 0, "%s", s.error_message);
            cr_assert_eq(s.magic, magic);
            cr_assert_eq(s.records, 20);
            cr_assert_eq(s.batches, 20);
            cr_assert_eq(sk_legacy_convert(set.data, set.len, &o, codecs[to], &out, &s), 0, "%s", s.error_message);
            struct sk_batch_header h;
            cr_assert_eq(sk_batch_header_read(out.data, out.len, &h), 0);
            cr_assert_eq(sk_batch_compression(&h), codecs[to]);
            cr_assert_eq(sk_records_validate(out.data, out.len, &o, &s), 0, "%s", s.error_message);
            check_converted(&out, 20, magic);
            sk_buf_free(&set);
            sk_buf_free(&out);
        }
    }
}

Test(legacy, compressed_wrappers_converted, .fini = fini)
{
    for (int8_t magic = 0; magic <= 1; magic++) {
        for (size_t c = 1; c < 4; c++) {
            if (magic == 0 && codecs[c] == SK_COMPRESSION_LZ4)
                continue; /* magic 0 lz4 used a broken frame checksum: not supported */
            struct sk_buf set = {0}, out = {0};
            legacy_wrapped(&set, magic, codecs[c], 30);
            struct sk_validate_opts o = opts();
            struct sk_produce_summary s;
            cr_assert_eq(sk_records_validate(set.data, set.len, &o, &s), 0, "%s", s.error_message);
            cr_assert(s.compressed);
            cr_assert_eq(s.compression, codecs[c]);
            cr_assert_eq(s.records, 30);
            cr_assert_eq(sk_legacy_convert(set.data, set.len, &o, codecs[c], &out, &s), 0, "%s", s.error_message);
            check_converted(&out, 30, magic);
            sk_buf_free(&set);
            sk_buf_free(&out);
        }
    }
}

Test(legacy, rejections, .fini = fini)
{
    struct sk_validate_opts o = opts();
    struct sk_produce_summary s;
    struct sk_buf set = {0};
    legacy_set(&set, 1, 5, false);
    set.data[set.len - 1] ^= 1;
    cr_assert_eq(sk_records_validate(set.data, set.len, &o, &s), SK_ERR_CORRUPT_MESSAGE, "CRC-32");
    set.data[set.len - 1] ^= 1;
    set.len -= 3;
    cr_assert_eq(sk_records_validate(set.data, set.len, &o, &s), SK_ERR_CORRUPT_MESSAGE, "truncated");
    set.len += 3;
    o.produce_version = 3;
    cr_assert_eq(sk_records_validate(set.data, set.len, &o, &s), SK_ERR_INVALID_RECORD, "v3 needs magic 2");
    o = opts();
    o.timestamp_before_max_ms = 10;
    cr_assert_eq(sk_records_validate(set.data, set.len, &o, &s), SK_ERR_INVALID_TIMESTAMP);
    sk_buf_free(&set);

    /* two compressed wrappers in one set */
    set = (struct sk_buf){0};
    legacy_wrapped(&set, 1, SK_COMPRESSION_GZIP, 3);
    legacy_wrapped(&set, 1, SK_COMPRESSION_GZIP, 3);
    o = opts();
    cr_assert_eq(sk_records_validate(set.data, set.len, &o, &s), SK_ERR_INVALID_RECORD);
    sk_buf_free(&set);

    /* mixed magic */
    set = (struct sk_buf){0};
    legacy_set(&set, 0, 2, false);
    legacy_set(&set, 1, 2, false);
    cr_assert_eq(sk_records_validate(set.data, set.len, &o, &s), SK_ERR_INVALID_RECORD);
    sk_buf_free(&set);
}

/* ---- hostile bytes -------------------------------------------------------------------- */

/* Random byte flips with the CRC fixed up, so the deep record parser (and the
 * decompressors) see the damage: any error code is fine, a crash is not. */
Test(hostile, mutated_batches_never_crash, .fini = fini)
{
    srand(7);
    for (size_t c = 0; c < 5; c++) {
        struct sk_buf b = {0};
        build(&b, codecs[c], 20, NULL);
        uint8_t *orig = malloc(b.len);
        memcpy(orig, b.data, b.len);
        for (int t = 0; t < 400; t++) {
            memcpy(b.data, orig, b.len);
            for (int k = 0; k < 1 + t % 4; k++)
                b.data[21 + (size_t)rand() % (b.len - 21)] ^= (uint8_t)(1 + rand() % 255);
            sk_batch_update_crc(b.data);
            struct sk_validate_opts o = opts();
            scratch.limit = 1 << 20;
            struct sk_produce_summary s;
            (void)sk_records_validate(b.data, b.len, &o, &s);
            struct sk_record_iter it;
            struct sk_record r;
            scratch.len = 0;
            if (sk_record_iter_init(&it, b.data, b.len, &scratch) == 0)
                while (sk_record_iter_next(&it, &r) == 1)
                    ;
        }
        free(orig);
        sk_buf_free(&b);
    }
}
