/* Exact bytes for messages whose encoding a round trip cannot vouch for: a
 * codec that is consistently wrong (a compact length without the +1, a tag
 * written as int8, ClientId made compact in header v2) still round-trips.
 * Every expected byte here is computed by hand from the Kafka protocol guide
 * and KIP-482 (flexible versions, tagged fields), not from our encoder. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "gen/kp_all.h"

static char *hex(const uint8_t *p, size_t n)
{
    char *s = malloc(n * 3 + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 3 * i, 4, "%02x ", p[i]);
    s[n * 3] = 0;
    return s;
}

static void expect_bytes(const char *what, const uint8_t *got, size_t got_n, const uint8_t *want,
                         size_t want_n)
{
    if (got_n == want_n && memcmp(got, want, want_n) == 0)
        return;
    char *g = hex(got, got_n), *w = hex(want, want_n);
    cr_assert_fail("%s:\n  got  (%zu) %s\n  want (%zu) %s", what, got_n, g, want_n, w);
}

/* Encodes m at version v and compares with want; size() must agree too. */
static void check_encode(const char *what, kp_size_fn size, kp_encode_fn encode, const void *m,
                         int16_t v, const uint8_t *want, size_t want_n)
{
    size_t n = size(m, v);
    uint8_t *buf = malloc(n + 1);
    kp_writer w;
    kp_writer_init(&w, buf, n);
    int rc = encode(m, &w, v);
    cr_assert_eq(rc, 0, "%s: encode failed: %s", what, kp_strerror(rc));
    cr_assert_eq((size_t)(w.p - buf), n, "%s: wrote %zu, size() said %zu", what,
                 (size_t)(w.p - buf), n);
    expect_bytes(what, buf, n, want, want_n);
    free(buf);
}

/* Decodes want into out, requiring every byte consumed. */
static void check_decode(const char *what, kp_decode_fn decode, void *out, int16_t v,
                         const uint8_t *want, size_t want_n, kp_arena *a)
{
    kp_reader r;
    kp_reader_init(&r, want, want_n, a);
    int rc = decode(out, &r, v);
    cr_assert_eq(rc, 0, "%s: decode failed: %s", what, kp_strerror(rc));
    cr_assert_eq(kp_left(&r), 0, "%s: %zu bytes left after decode", what, kp_left(&r));
}

#define ENC(prefix, m, v, ...)                                                          \
    do {                                                                                \
        const uint8_t want_[] = {__VA_ARGS__};                                          \
        check_encode(#prefix " v" #v, (kp_size_fn)prefix##_size,                        \
                     (kp_encode_fn)prefix##_encode, (m), (v), want_, sizeof want_);     \
    } while (0)

#define DEC(prefix, out, v, a, ...)                                                     \
    do {                                                                                \
        static const uint8_t want_[] = {__VA_ARGS__};                                   \
        check_decode(#prefix " v" #v, (kp_decode_fn)prefix##_decode, (out), (v), want_, \
                     sizeof want_, (a));                                                \
    } while (0)

/* Decoding must fail with rc on exactly these bytes. */
static int decode_rc(kp_decode_fn decode, void *out, int16_t v, const uint8_t *p, size_t n)
{
    kp_arena a;
    kp_arena_init(&a, 1 << 20);
    kp_reader r;
    kp_reader_init(&r, p, n, &a);
    int rc = decode(out, &r, v);
    kp_arena_free(&a);
    return rc;
}

/* ---- primitives ------------------------------------------------------------ */

static void uvarint_is(uint32_t v, const uint8_t *want, size_t n)
{
    uint8_t buf[8];
    kp_writer w;
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_write_uvarint(&w, v), 0);
    cr_assert_eq(kp_uvarint_size(v), n, "uvarint size of %u", v);
    expect_bytes("uvarint", buf, (size_t)(w.p - buf), want, n);
    kp_reader r;
    uint32_t back;
    kp_reader_init(&r, want, n, NULL);
    cr_assert_eq(kp_read_uvarint(&r, &back), 0);
    cr_assert_eq(back, v);
}

static void varint_is(int32_t v, const uint8_t *want, size_t n)
{
    uint8_t buf[8];
    kp_writer w;
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_write_varint(&w, v), 0);
    cr_assert_eq(kp_varint_size(v), n, "varint size of %d", v);
    expect_bytes("varint", buf, (size_t)(w.p - buf), want, n);
    kp_reader r;
    int32_t back;
    kp_reader_init(&r, want, n, NULL);
    cr_assert_eq(kp_read_varint(&r, &back), 0);
    cr_assert_eq(back, v);
}

static void varlong_is(int64_t v, const uint8_t *want, size_t n)
{
    uint8_t buf[16];
    kp_writer w;
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_write_varlong(&w, v), 0);
    cr_assert_eq(kp_varlong_size(v), n, "varlong size of %lld", (long long)v);
    expect_bytes("varlong", buf, (size_t)(w.p - buf), want, n);
    kp_reader r;
    int64_t back;
    kp_reader_init(&r, want, n, NULL);
    cr_assert_eq(kp_read_varlong(&r, &back), 0);
    cr_assert_eq(back, v);
}

#define UVARINT(v, ...) do { const uint8_t b_[] = {__VA_ARGS__}; uvarint_is((v), b_, sizeof b_); } while (0)
#define VARINT(v, ...) do { const uint8_t b_[] = {__VA_ARGS__}; varint_is((v), b_, sizeof b_); } while (0)
#define VARLONG(v, ...) do { const uint8_t b_[] = {__VA_ARGS__}; varlong_is((v), b_, sizeof b_); } while (0)

Test(protocol_wire, unsigned_varint_edges)
{
    UVARINT(0, 0x00);
    UVARINT(1, 0x01);
    UVARINT(127, 0x7f);
    UVARINT(128, 0x80, 0x01);
    UVARINT(300, 0xac, 0x02);
    UVARINT(16383, 0xff, 0x7f);
    UVARINT(16384, 0x80, 0x80, 0x01);
    UVARINT(INT32_MAX, 0xff, 0xff, 0xff, 0xff, 0x07);
    UVARINT(UINT32_MAX, 0xff, 0xff, 0xff, 0xff, 0x0f);
    /* Bits beyond 32 and a sixth byte are refused, not wrapped. */
    static const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0x10};
    static const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t cut[] = {0x80, 0x80};
    kp_reader r;
    uint32_t v;
    kp_reader_init(&r, over, sizeof over, NULL);
    cr_assert_eq(kp_read_uvarint(&r, &v), KP_E_INVALID);
    kp_reader_init(&r, six, sizeof six, NULL);
    cr_assert_eq(kp_read_uvarint(&r, &v), KP_E_INVALID);
    kp_reader_init(&r, cut, sizeof cut, NULL);
    cr_assert_eq(kp_read_uvarint(&r, &v), KP_E_SHORT);
}

Test(protocol_wire, zigzag_varint_and_varlong_edges)
{
    /* Zigzag: 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ... */
    VARINT(0, 0x00);
    VARINT(-1, 0x01);
    VARINT(1, 0x02);
    VARINT(-2, 0x03);
    VARINT(63, 0x7e);
    VARINT(-64, 0x7f);
    VARINT(64, 0x80, 0x01);
    VARINT(-65, 0x81, 0x01);
    VARINT(INT32_MAX, 0xfe, 0xff, 0xff, 0xff, 0x0f);
    VARINT(INT32_MIN, 0xff, 0xff, 0xff, 0xff, 0x0f);

    VARLONG(0, 0x00);
    VARLONG(-1, 0x01);
    VARLONG(1, 0x02);
    VARLONG(127, 0xfe, 0x01);
    VARLONG(128, 0x80, 0x02);
    VARLONG(INT32_MAX, 0xfe, 0xff, 0xff, 0xff, 0x0f);
    VARLONG((int64_t)INT32_MAX + 1, 0x80, 0x80, 0x80, 0x80, 0x10);
    VARLONG(INT32_MIN, 0xff, 0xff, 0xff, 0xff, 0x0f);
    VARLONG(INT64_MAX, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    VARLONG(INT64_MIN, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
}

Test(protocol_wire, compact_string_length_is_len_plus_one)
{
    /* 127 bytes: len+1 = 128 needs two varint bytes. */
    char s[127];
    memset(s, 'x', sizeof s);
    uint8_t buf[256];
    kp_writer w;
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_write_str(&w, (kp_str){s, 127}, true, false), 0);
    cr_assert_eq(w.p - buf, 129);
    cr_assert_eq(buf[0], 0x80);
    cr_assert_eq(buf[1], 0x01);
    cr_assert_eq(kp_str_size((kp_str){s, 127}, true), 129u);
    /* Compact null is 0, compact empty is 1; the classic forms are -1 and 0. */
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_write_str(&w, KP_STR_NULL, true, true), 0);
    cr_assert_eq(kp_write_str(&w, kp_str_c(""), true, false), 0);
    cr_assert_eq(kp_write_str(&w, KP_STR_NULL, false, true), 0);
    cr_assert_eq(kp_write_str(&w, kp_str_c(""), false, false), 0);
    cr_assert_eq(kp_write_bytes(&w, KP_BYTES_NULL, false, true), 0);
    cr_assert_eq(kp_write_bytes(&w, KP_BYTES_NULL, true, true), 0);
    const uint8_t want[] = {0x00, 0x01, 0xff, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00};
    expect_bytes("null and empty strings", buf, (size_t)(w.p - buf), want, sizeof want);
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_write_str(&w, KP_STR_NULL, true, false), KP_E_NULL);
}

/* ---- headers ----------------------------------------------------------------- */

Test(protocol_wire, request_header_client_id_stays_int16_in_v2)
{
    kp_request_header h;
    kp_request_header_init(&h);
    h.request_api_key = 18;
    h.request_api_version = 3;
    h.correlation_id = 0x01020304;
    h.client_id = kp_str_c("cli");
    /* v2 is flexible, but ClientId has "flexibleVersions": "none": an int16
     * length, then the (empty) tag buffer. */
    ENC(kp_request_header, &h, 2,
        0x00, 0x12, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04, 0x00, 0x03, 'c', 'l', 'i', 0x00);
    ENC(kp_request_header, &h, 1,
        0x00, 0x12, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04, 0x00, 0x03, 'c', 'l', 'i');
    h.client_id = KP_STR_NULL;
    ENC(kp_request_header, &h, 2, 0x00, 0x12, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0x00);
    /* v0 (ControlledShutdown v0 only) has no ClientId at all. */
    ENC(kp_request_header, &h, 0, 0x00, 0x12, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04);

    /* An unknown tag in the header's buffer is skipped. */
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_request_header back;
    DEC(kp_request_header, &back, 2, &a,
        0x00, 0x12, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04, 0x00, 0x01, 'x',
        0x01, 0x05, 0x02, 0xaa, 0xbb);
    cr_assert(kp_str_eq_c(back.client_id, "x"));
    cr_assert_eq(back.correlation_id, 0x01020304);
    kp_arena_free(&a);
}

Test(protocol_wire, response_header_v1_has_tag_buffer)
{
    kp_response_header h;
    kp_response_header_init(&h);
    h.correlation_id = 7;
    ENC(kp_response_header, &h, 0, 0x00, 0x00, 0x00, 0x07);
    ENC(kp_response_header, &h, 1, 0x00, 0x00, 0x00, 0x07, 0x00);
}

/* ---- ApiVersions ---------------------------------------------------------------- */

Test(protocol_wire, api_versions_request_v3_compact_strings)
{
    kp_api_versions_request m;
    kp_api_versions_request_init(&m);
    m.client_software_name = kp_str_c("skein");
    m.client_software_version = kp_str_c("0.1.0");
    ENC(kp_api_versions_request, &m, 3,
        0x06, 's', 'k', 'e', 'i', 'n', 0x06, '0', '.', '1', '.', '0', 0x00);
    /* The fields are ignorable: dropped, not refused, before v3. */
    uint8_t buf[1];
    kp_writer w;
    kp_writer_init(&w, buf, 0);
    cr_assert_eq(kp_api_versions_request_size(&m, 2), 0u);
    cr_assert_eq(kp_api_versions_request_encode(&m, &w, 2), 0);
}

Test(protocol_wire, api_versions_response_v3_tagged_features)
{
    kp_api_versions_response m;
    kp_api_versions_response_init(&m);
    /* FinalizedFeaturesEpoch defaults to -1 and so is not sent. */
    ENC(kp_api_versions_response, &m, 3, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00);

    kp_api_versions_response_api_version key = {.api_key = 18, .min_version = 0, .max_version = 4};
    m.api_keys.n = 1;
    m.api_keys.v = &key;
    ENC(kp_api_versions_response, &m, 0,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04);

    kp_api_versions_response_supported_feature_key sf;
    kp_api_versions_response_supported_feature_key_init(&sf);
    sf.name = kp_str_c("f");
    sf.min_version = 1;
    sf.max_version = 2;
    kp_api_versions_response_finalized_feature_key ff;
    kp_api_versions_response_finalized_feature_key_init(&ff);
    ff.name = kp_str_c("f");
    ff.max_version_level = 2;
    ff.min_version_level = 1;
    m.supported_features.n = 1;
    m.supported_features.v = &sf;
    m.finalized_features_epoch = 7;
    m.finalized_features.n = 1;
    m.finalized_features.v = &ff;
    ENC(kp_api_versions_response, &m, 3,
        0x00, 0x00,                                     /* ErrorCode */
        0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, /* ApiKeys, 1 element + its tags */
        0x00, 0x00, 0x00, 0x00,                         /* ThrottleTimeMs */
        0x03,                                           /* three tagged fields, by tag */
        0x00, 0x08, 0x02, 0x01 + 1, 'f', 0x00, 0x01, 0x00, 0x02, 0x00, /* SupportedFeatures */
        0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,   /* FinalizedFeaturesEpoch */
        0x02, 0x08, 0x02, 0x02, 'f', 0x00, 0x02, 0x00, 0x01, 0x00);   /* FinalizedFeatures */

    m.supported_features.n = 0;
    m.finalized_features.n = 0;
    m.zk_migration_ready = true;
    ENC(kp_api_versions_response, &m, 3,
        0x00, 0x00, 0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x02,
        0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
        0x03, 0x01, 0x01);

    /* Tags may arrive in any order; both land. */
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_api_versions_response back;
    DEC(kp_api_versions_response, &back, 3, &a,
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x02,
        0x03, 0x01, 0x01,
        0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00);
    cr_assert_eq(back.finalized_features_epoch, 256);
    cr_assert(back.zk_migration_ready);
    kp_arena_free(&a);

    /* A known tag whose size disagrees with its value is refused. */
    static const uint8_t bad[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                                  0x01, 0x01, 0x09, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    cr_assert_eq(decode_rc((kp_decode_fn)kp_api_versions_response_decode, &back, 3, bad,
                           sizeof bad),
                 KP_E_INVALID);
}

/* ---- Metadata ----------------------------------------------------------------- */

Test(protocol_wire, metadata_request_null_vs_empty_topics)
{
    kp_metadata_request m;
    kp_metadata_request_init(&m);
    /* v0: an empty array asks for every topic; null does not exist yet. */
    ENC(kp_metadata_request, &m, 0, 0x00, 0x00, 0x00, 0x00);
    m.topics.n = -1;
    uint8_t buf[16];
    kp_writer w;
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_metadata_request_encode(&m, &w, 0), KP_E_NULL);
    /* v1+: null (-1) asks for every topic, empty for none. */
    ENC(kp_metadata_request, &m, 1, 0xff, 0xff, 0xff, 0xff);
    ENC(kp_metadata_request, &m, 4, 0xff, 0xff, 0xff, 0xff, 0x01);
    /* v9 is flexible: compact null is 0; then AllowAutoTopicCreation,
     * IncludeClusterAuthorizedOperations (v8-10), IncludeTopicAuthorizedOperations. */
    ENC(kp_metadata_request, &m, 9, 0x00, 0x01, 0x00, 0x00, 0x00);
    ENC(kp_metadata_request, &m, 11, 0x00, 0x01, 0x00, 0x00);

    kp_metadata_request_metadata_request_topic t;
    kp_metadata_request_metadata_request_topic_init(&t);
    t.name = kp_str_c("a");
    m.topics.n = 1;
    m.topics.v = &t;
    ENC(kp_metadata_request, &m, 1, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 'a');
    ENC(kp_metadata_request, &m, 9, 0x02, 0x02, 'a', 0x00, 0x01, 0x00, 0x00, 0x00);
    /* v10: TopicId first; Name nullable from v10. */
    t.name = KP_STR_NULL;
    ENC(kp_metadata_request, &m, 10,
        0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00);

    kp_arena a;
    kp_arena_init(&a, 0);
    kp_metadata_request back;
    DEC(kp_metadata_request, &back, 1, &a, 0xff, 0xff, 0xff, 0xff);
    cr_assert_eq(back.topics.n, -1);
    DEC(kp_metadata_request, &back, 0, &a, 0x00, 0x00, 0x00, 0x00);
    cr_assert_eq(back.topics.n, 0);
    kp_arena_free(&a);
    static const uint8_t null_v0[] = {0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(decode_rc((kp_decode_fn)kp_metadata_request_decode, &back, 0, null_v0,
                           sizeof null_v0),
                 KP_E_INVALID);
}

/* ---- Fetch ------------------------------------------------------------------- */

static void fetch_v12_one_partition(kp_fetch_response *m, kp_fetch_response_fetchable_topic_response *t,
                                    kp_fetch_response_partition_data *p)
{
    kp_fetch_response_init(m);
    kp_fetch_response_fetchable_topic_response_init(t);
    kp_fetch_response_partition_data_init(p);
    t->topic = kp_str_c("t");
    t->partitions.n = 1;
    t->partitions.v = p;
    m->responses.n = 1;
    m->responses.v = t;
    p->partition_index = 1;
    p->high_watermark = 100;
    p->last_stable_offset = 100;
    p->log_start_offset = 0;
    p->aborted_transactions.n = -1;
    p->preferred_read_replica = -1;
    p->records = KP_BYTES_NULL;
}

#define FETCH_V12_PREFIX                                                     \
    0x00, 0x00, 0x00, 0x00,             /* ThrottleTimeMs */                 \
        0x00, 0x00,                     /* ErrorCode */                      \
        0x00, 0x00, 0x00, 0x00,         /* SessionId */                      \
        0x02, 0x02, 't',                /* Responses[1], Topic "t" */        \
        0x02,                           /* Partitions[1] */                  \
        0x00, 0x00, 0x00, 0x01,         /* PartitionIndex */                 \
        0x00, 0x00,                     /* ErrorCode */                      \
        0, 0, 0, 0, 0, 0, 0, 100,       /* HighWatermark */                  \
        0, 0, 0, 0, 0, 0, 0, 100,       /* LastStableOffset */               \
        0, 0, 0, 0, 0, 0, 0, 0,         /* LogStartOffset */                 \
        0x00,                           /* AbortedTransactions: null */      \
        0xff, 0xff, 0xff, 0xff,         /* PreferredReadReplica */           \
        0x00                            /* Records: null */

Test(protocol_wire, fetch_response_v12_partition_tagged_fields)
{
    kp_fetch_response m;
    kp_fetch_response_fetchable_topic_response t;
    kp_fetch_response_partition_data p;
    fetch_v12_one_partition(&m, &t, &p);
    /* All three tagged structs at their defaults (-1s): none sent. */
    ENC(kp_fetch_response, &m, 12, FETCH_V12_PREFIX, 0x00, 0x00, 0x00);

    p.diverging_epoch.epoch = 5;
    p.diverging_epoch.end_offset = 90;
    p.current_leader.leader_id = 2;
    p.current_leader.leader_epoch = 6;
    ENC(kp_fetch_response, &m, 12, FETCH_V12_PREFIX,
        0x02,                                                   /* two tags */
        0x00, 0x0d, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 90, 0x00, /* DivergingEpoch: 4+8+tags */
        0x01, 0x09, 0, 0, 0, 2, 0, 0, 0, 6, 0x00,              /* CurrentLeader: 4+4+tags */
        0x00,                                                   /* topic tags */
        0x00);                                                  /* response tags */

    /* A struct equal to its default is omitted even if written field by
     * field; one differing field sends all of it. */
    kp_fetch_response_epoch_end_offset_init(&p.diverging_epoch);
    kp_fetch_response_leader_id_and_epoch_init(&p.current_leader);
    p.snapshot_id.epoch = 3;
    ENC(kp_fetch_response, &m, 12, FETCH_V12_PREFIX,
        0x01,
        0x02, 0x0d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3, 0x00,
        0x00, 0x00);

    kp_arena a;
    kp_arena_init(&a, 0);
    kp_fetch_response back;
    DEC(kp_fetch_response, &back, 12, &a, FETCH_V12_PREFIX,
        0x02,
        0x01, 0x09, 0, 0, 0, 2, 0, 0, 0, 6, 0x00,
        0x07, 0x02, 0xca, 0xfe, /* an unknown tag, skipped */
        0x00, 0x00);
    const kp_fetch_response_partition_data *bp = &back.responses.v[0].partitions.v[0];
    cr_assert_eq(bp->current_leader.leader_id, 2);
    cr_assert_eq(bp->current_leader.leader_epoch, 6);
    cr_assert_eq(bp->diverging_epoch.epoch, -1, "absent tag keeps the default");
    cr_assert_eq(bp->snapshot_id.end_offset, -1);
    cr_assert_eq(bp->aborted_transactions.n, -1);
    cr_assert_eq(bp->records.len, -1);
    kp_arena_free(&a);

    /* v11 is not flexible: the tagged fields cannot be carried. */
    fetch_v12_one_partition(&m, &t, &p);
    ENC(kp_fetch_response, &m, 11,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't',
        0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
}

/* ---- nullable structs ---------------------------------------------------------- */

Test(protocol_wire, nullable_struct_int8_marker)
{
    /* ConsumerGroupHeartbeatResponse.Assignment: -1 for null, 1 then the
     * struct otherwise. */
    kp_consumer_group_heartbeat_response m;
    kp_consumer_group_heartbeat_response_init(&m);
    m.member_id = kp_str_c("m");
    m.member_epoch = 5;
    m.heartbeat_interval_ms = 3000;
#define CGH_PREFIX 0, 0, 0, 0, 0, 0, 0x00, 0x02, 'm', 0, 0, 0, 5, 0x00, 0x00, 0x0b, 0xb8
    ENC(kp_consumer_group_heartbeat_response, &m, 0, CGH_PREFIX, 0xff, 0x00);

    kp_consumer_group_heartbeat_response_topic_partitions tp;
    kp_consumer_group_heartbeat_response_topic_partitions_init(&tp);
    for (int i = 0; i < 16; i++)
        tp.topic_id.b[i] = (uint8_t)(i + 1);
    int32_t parts[2] = {0, 1};
    tp.partitions = (kp_arr_i32){2, parts};
    kp_consumer_group_heartbeat_response_assignment as;
    kp_consumer_group_heartbeat_response_assignment_init(&as);
    as.topic_partitions.n = 1;
    as.topic_partitions.v = &tp;
    m.assignment = &as;
    ENC(kp_consumer_group_heartbeat_response, &m, 0, CGH_PREFIX,
        0x01,                                     /* present */
        0x02,                                     /* TopicPartitions[1] */
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        0x03, 0, 0, 0, 0, 0, 0, 0, 1,             /* Partitions [0, 1] */
        0x00,                                     /* TopicPartitions tags */
        0x00,                                     /* Assignment tags */
        0x00);

    /* Any negative marker reads as null, like Kafka's readByte() < 0. */
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_consumer_group_heartbeat_response back;
    DEC(kp_consumer_group_heartbeat_response, &back, 0, &a, CGH_PREFIX, 0x80, 0x00);
    cr_assert_null(back.assignment);
    DEC(kp_consumer_group_heartbeat_response, &back, 0, &a, CGH_PREFIX, 0x01, 0x01, 0x00, 0x00);
    cr_assert_not_null(back.assignment);
    cr_assert_eq(back.assignment->topic_partitions.n, 0);
    kp_arena_free(&a);
#undef CGH_PREFIX

    /* DescribeTopicPartitionsRequest.Cursor, the request-side one. */
    kp_describe_topic_partitions_request r;
    kp_describe_topic_partitions_request_init(&r);
    ENC(kp_describe_topic_partitions_request, &r, 0, 0x01, 0x00, 0x00, 0x07, 0xd0, 0xff, 0x00);
    kp_describe_topic_partitions_request_cursor c;
    kp_describe_topic_partitions_request_cursor_init(&c);
    c.topic_name = kp_str_c("t");
    c.partition_index = 3;
    r.cursor = &c;
    ENC(kp_describe_topic_partitions_request, &r, 0,
        0x01, 0x00, 0x00, 0x07, 0xd0, 0x01, 0x02, 't', 0, 0, 0, 3, 0x00, 0x00);
}

Test(protocol_wire, tagged_nullable_struct_uvarint_marker)
{
    /* ConsumerGroupMemberMetadataValue.ClassicMemberMetadata is tagged: inside
     * the tag Kafka marks it with an unsigned varint, 0 for null, and counts
     * the marker in the tag's size. */
    kp_consumer_group_member_metadata_value m;
    kp_consumer_group_member_metadata_value_init(&m);
    m.instance_id = KP_STR_NULL;
    m.rack_id = KP_STR_NULL;
    m.subscribed_topic_regex = KP_STR_NULL;
    m.server_assignor = KP_STR_NULL;
#define CGM_PREFIX 0x00, 0x00, 0x01, 0x01, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00
    ENC(kp_consumer_group_member_metadata_value, &m, 0, CGM_PREFIX, 0x00);
    kp_consumer_group_member_metadata_value_classic_member_metadata cm;
    kp_consumer_group_member_metadata_value_classic_member_metadata_init(&cm);
    cm.session_timeout_ms = 45000;
    m.classic_member_metadata = &cm;
    ENC(kp_consumer_group_member_metadata_value, &m, 0, CGM_PREFIX,
        0x01, 0x00, 0x07, 0x01, 0x00, 0x00, 0xaf, 0xc8, 0x01, 0x00);

    kp_arena a;
    kp_arena_init(&a, 0);
    kp_consumer_group_member_metadata_value back;
    DEC(kp_consumer_group_member_metadata_value, &back, 0, &a, CGM_PREFIX,
        0x01, 0x00, 0x07, 0x01, 0x00, 0x00, 0xaf, 0xc8, 0x01, 0x00);
    cr_assert_not_null(back.classic_member_metadata);
    cr_assert_eq(back.classic_member_metadata->session_timeout_ms, 45000);
    /* An explicit null in the tag, as Kafka writes it for a member that does
     * not use the classic protocol. */
    DEC(kp_consumer_group_member_metadata_value, &back, 0, &a, CGM_PREFIX, 0x01, 0x00, 0x01, 0x00);
    cr_assert_null(back.classic_member_metadata);
    kp_arena_free(&a);
#undef CGM_PREFIX
}
