/* The Envelope's framing (skein/envelope.h): a client's request survives the
 * wrap and the Envelope's own encoding byte for byte, its header is read at
 * the header version its api and version call for, nesting and bad headers
 * are refused, and an embedded response gives back its correlation id and
 * body. */
#include <criterion/criterion.h>
#include <string.h>

#include "gen/kp_all.h"
#include "kp_tables.h"
#include "skein/envelope.h"
#include "skein/errors.h"

#define CREATE_TOPICS 19

/* A CreateTopics request of one topic as a client frames it (no size). */
static size_t client_frame(uint8_t *buf, size_t cap, int16_t version, int32_t corr)
{
    kp_request_header h;
    kp_request_header_init(&h);
    h.request_api_key = CREATE_TOPICS;
    h.request_api_version = version;
    h.correlation_id = corr;
    h.client_id = kp_str_c("adminclient-1");
    kp_create_topics_request_creatable_topic t;
    kp_create_topics_request_creatable_topic_init(&t);
    t.name = kp_str_c("forwarded");
    t.num_partitions = 3;
    t.replication_factor = 1;
    kp_create_topics_request q;
    kp_create_topics_request_init(&q);
    q.topics = (kp_create_topics_request_creatable_topic_arr){1, &t};
    q.timeout_ms = 15000;
    int16_t hv = kp_request_header_version(kp_api_get(CREATE_TOPICS), version);
    kp_writer w;
    kp_writer_init(&w, buf, cap);
    cr_assert_eq(kp_request_header_encode(&h, &w, hv), 0);
    cr_assert_eq(kp_create_topics_request_encode(&q, &w, version), 0);
    return (size_t)(w.p - buf);
}

static void round_trip(int16_t version)
{
    uint8_t frame[256];
    size_t n = client_frame(frame, sizeof frame, version, 4711);
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_bytes principal;
    cr_assert_eq(sk_envelope_principal(&a, kp_str_c("User"), kp_str_c("ANONYMOUS"), &principal), 0);
    const uint8_t addr[4] = {127, 0, 0, 1};
    kp_envelope_request env;
    sk_envelope_wrap(&env, (kp_bytes){frame, (int32_t)n}, principal, (kp_bytes){addr, 4});
    uint8_t wire[512];
    kp_writer w;
    kp_writer_init(&w, wire, sizeof wire);
    cr_assert_eq(kp_envelope_request_encode(&env, &w, 0), 0);
    kp_reader r;
    kp_reader_init(&r, wire, (size_t)(w.p - wire), &a);
    kp_envelope_request got;
    cr_assert_eq(kp_envelope_request_decode(&got, &r, 0), 0);
    cr_assert_eq(got.request_data.len, (int32_t)n);
    cr_assert_eq(memcmp(got.request_data.ptr, frame, n), 0, "the client's bytes as they came");
    cr_assert_eq(got.client_host_address.len, 4);

    struct sk_envelope_inner in;
    cr_assert_eq(sk_envelope_open_request(got.request_data, &a, &in), SK_ERR_NONE);
    cr_assert_eq(in.api_key, CREATE_TOPICS);
    cr_assert_eq(in.version, version);
    cr_assert_eq(in.correlation_id, 4711);
    cr_assert(kp_str_eq_c(in.client_id, "adminclient-1"));
    kp_reader br;
    kp_reader_init(&br, in.body.ptr, (size_t)in.body.len, &a);
    kp_create_topics_request q;
    cr_assert_eq(kp_create_topics_request_decode(&q, &br, version), 0,
                 "the body starts where the header ends");
    cr_assert_eq(kp_left(&br), 0);
    cr_assert_eq(q.topics.n, 1);
    cr_assert(kp_str_eq_c(q.topics.v[0].name, "forwarded"));
    cr_assert_eq(q.topics.v[0].num_partitions, 3);
    kp_arena_free(&a);
}

Test(envelope, flexible_request_round_trip)
{
    round_trip(7);
}

Test(envelope, non_flexible_request_round_trip)
{
    round_trip(4);
}

Test(envelope, principal_as_kafka_serializes_it)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_bytes p;
    cr_assert_eq(sk_envelope_principal(&a, kp_str_c("User"), kp_str_c("ANONYMOUS"), &p), 0);
    /* version 0, compact "User", compact "ANONYMOUS", false, no tags */
    const uint8_t want[] = {0, 0, 5, 'U', 's', 'e', 'r', 10, 'A', 'N', 'O', 'N', 'Y', 'M',
                            'O', 'U', 'S', 0, 0};
    cr_assert_eq(p.len, (int32_t)sizeof want);
    cr_assert_eq(memcmp(p.ptr, want, sizeof want), 0);
    kp_arena_free(&a);
}

Test(envelope, bad_embedded_requests_are_refused)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    struct sk_envelope_inner in;
    const uint8_t short_hdr[] = {0, 19};
    cr_assert_eq(sk_envelope_open_request((kp_bytes){short_hdr, 2}, &a, &in),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_eq(sk_envelope_open_request(KP_BYTES_NULL, &a, &in), SK_ERR_INVALID_REQUEST);
    uint8_t frame[256];
    size_t n = client_frame(frame, sizeof frame, 7, 1);
    frame[0] = 0;
    frame[1] = SK_API_ENVELOPE;
    cr_assert_eq(sk_envelope_open_request((kp_bytes){frame, (int32_t)n}, &a, &in),
                 SK_ERR_INVALID_REQUEST, "an Envelope inside an Envelope");
    n = client_frame(frame, sizeof frame, 7, 1);
    cr_assert_eq(sk_envelope_open_request((kp_bytes){frame, 12}, &a, &in),
                 SK_ERR_INVALID_REQUEST, "a client id cut short");
    frame[0] = 0x7f;
    cr_assert_eq(sk_envelope_open_request((kp_bytes){frame, (int32_t)n}, &a, &in),
                 SK_ERR_INVALID_REQUEST, "an unknown api");
    kp_arena_free(&a);
}

static void response_split(int16_t key, int16_t version, bool tagged)
{
    uint8_t data[16] = {0, 0, 0x12, 0x34};
    size_t n = 4;
    if (tagged)
        data[n++] = 0; /* no tagged fields */
    memcpy(data + n, "body", 4);
    n += 4;
    kp_arena a;
    kp_arena_init(&a, 0);
    int32_t corr = 0;
    kp_bytes body;
    cr_assert_eq(sk_envelope_open_response((kp_bytes){data, (int32_t)n}, key, version, &a, &corr,
                                           &body),
                 SK_ERR_NONE);
    cr_assert_eq(corr, 0x1234);
    cr_assert_eq(body.len, 4, "key %d v%d: body of %d bytes", key, version, body.len);
    cr_assert_eq(memcmp(body.ptr, "body", 4), 0);
    kp_arena_free(&a);
}

Test(envelope, embedded_response_split_at_its_header)
{
    response_split(CREATE_TOPICS, 7, true);
    response_split(CREATE_TOPICS, 4, false);
    response_split(18, 3, false); /* ApiVersions answers with header v0 */
    kp_arena a;
    kp_arena_init(&a, 0);
    int32_t corr;
    kp_bytes body;
    const uint8_t cut[] = {0, 0};
    cr_assert_eq(sk_envelope_open_response((kp_bytes){cut, 2}, CREATE_TOPICS, 7, &a, &corr, &body),
                 SK_ERR_UNKNOWN_SERVER_ERROR);
    kp_arena_free(&a);
}
