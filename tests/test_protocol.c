/* Round trips and hostile input over every generated message and version. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "gen/kp_all.h"

#define SEEDS 24

struct rt_result {
    int pairs;
    int failures;
};

/* Fills m at version v, encodes, decodes, re-encodes; returns a description
 * of the first mismatch or NULL. */
static const char *round_trip(const kp_msg_info *mi, int16_t v, uint64_t seed)
{
    static char why[256];
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_rng g = {seed * 0x9E3779B97F4A7C15ULL + 1};
    void *m = kp_arena_alloc(&a, mi->struct_size);
    void *back = kp_arena_alloc(&a, mi->struct_size);
    mi->rand(m, v, &g, &a, 0);
    size_t n = mi->size(m, v);
    uint8_t *buf = kp_arena_alloc(&a, n + 1), *buf2 = kp_arena_alloc(&a, n + 1);
    kp_writer w;
    kp_writer_init(&w, buf, n);
    const char *res = NULL;
    int rc = mi->encode(m, &w, v);
    if (rc != 0 || (size_t)(w.p - buf) != n) {
        snprintf(why, sizeof why, "encode rc=%d wrote %zu, size() said %zu", rc,
                 (size_t)(w.p - buf), n);
        res = why;
        goto out;
    }
    kp_reader r;
    kp_reader_init(&r, buf, n, &a);
    rc = mi->decode(back, &r, v);
    if (rc != 0 || r.p != r.end) {
        snprintf(why, sizeof why, "decode rc=%d, %zu bytes left", rc, kp_left(&r));
        res = why;
        goto out;
    }
    if (mi->size(back, v) != n) {
        snprintf(why, sizeof why, "size after decode %zu != %zu", mi->size(back, v), n);
        res = why;
        goto out;
    }
    kp_writer_init(&w, buf2, n);
    rc = mi->encode(back, &w, v);
    if (rc != 0 || memcmp(buf, buf2, n) != 0) {
        snprintf(why, sizeof why, "re-encode rc=%d differs", rc);
        res = why;
    }
out:
    kp_arena_free(&a);
    return res;
}

Test(protocol, every_message_every_version_round_trips)
{
    int pairs = 0, messages = 0;
    for (int i = 0; i < kp_message_count; i++) {
        const kp_msg_info *mi = &kp_messages[i];
        messages++;
        for (int16_t v = mi->min_version; v <= mi->max_version; v++) {
            pairs++;
            for (uint64_t s = 0; s < SEEDS; s++) {
                const char *why = round_trip(mi, v, s + (uint64_t)i * 1000 + (uint64_t)v * 77);
                cr_assert_null(why, "%s v%d seed %llu: %s", mi->name, v,
                               (unsigned long long)s, why);
            }
        }
    }
    cr_assert_eq(messages, 236, "expected 236 generated messages, got %d", messages);
    cr_log_info("round-tripped %d messages, %d (message, version) pairs, %d seeds each",
                messages, pairs, SEEDS);
}

/* Every strict prefix of a valid encoding must fail to decode, cleanly. */
Test(protocol, truncated_encodings_fail_cleanly)
{
    for (int i = 0; i < kp_message_count; i++) {
        const kp_msg_info *mi = &kp_messages[i];
        for (int16_t v = mi->min_version; v <= mi->max_version; v++) {
            kp_arena a;
            kp_arena_init(&a, 0);
            kp_rng g = {(uint64_t)i * 31 + (uint64_t)v + 7};
            void *m = kp_arena_alloc(&a, mi->struct_size);
            mi->rand(m, v, &g, &a, 0);
            size_t n = mi->size(m, v);
            uint8_t *buf = malloc(n + 1);
            kp_writer w;
            kp_writer_init(&w, buf, n);
            cr_assert_eq(mi->encode(m, &w, v), 0);
            for (size_t cut = 0; cut < n; cut++) {
                /* A fresh heap copy of exactly `cut` bytes lets ASan catch any
                 * read past the end. */
                uint8_t *part = malloc(cut ? cut : 1);
                memcpy(part, buf, cut);
                kp_arena b;
                kp_arena_init(&b, 1 << 20);
                kp_reader r;
                kp_reader_init(&r, part, cut, &b);
                void *back = kp_arena_alloc(&b, mi->struct_size);
                int rc = mi->decode(back, &r, v);
                cr_assert_lt(rc, 0, "%s v%d decoded from %zu of %zu bytes", mi->name, v, cut, n);
                kp_arena_free(&b);
                free(part);
            }
            free(buf);
            kp_arena_free(&a);
        }
    }
}

Test(protocol, random_bytes_never_crash)
{
    kp_rng g = {12345};
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < kp_message_count; i++) {
            const kp_msg_info *mi = &kp_messages[i];
            size_t n = kp_rng_next(&g) % 200;
            uint8_t *buf = malloc(n ? n : 1);
            for (size_t k = 0; k < n; k++)
                buf[k] = (uint8_t)kp_rng_next(&g);
            for (int16_t v = mi->min_version; v <= mi->max_version; v++) {
                kp_arena a;
                kp_arena_init(&a, 1 << 20);
                kp_reader r;
                kp_reader_init(&r, buf, n, &a);
                void *m = kp_arena_alloc(&a, mi->struct_size);
                (void)mi->decode(m, &r, v);
                kp_arena_free(&a);
            }
            free(buf);
        }
    }
}

/* A count of 2^31-1 elements in a 10-byte frame is refused before allocating. */
Test(protocol, huge_counts_refused_before_allocation)
{
    const kp_api_info *api = kp_api_get(3); /* Metadata */
    cr_assert_not_null(api);
    uint8_t frame[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
    kp_arena a;
    kp_arena_init(&a, 1 << 16);
    kp_reader r;
    kp_reader_init(&r, frame, sizeof frame, &a);
    void *m = kp_arena_alloc(&a, api->request.struct_size);
    cr_assert_eq(api->request.decode(m, &r, 4), KP_E_SHORT);
    cr_assert_lt(a.used, 4096u, "decoder allocated %zu bytes", a.used);
    /* Negative lengths other than -1 are invalid. */
    uint8_t neg[] = {0xff, 0xff, 0xff, 0xfe};
    kp_reader_init(&r, neg, sizeof neg, &a);
    cr_assert_eq(api->request.decode(m, &r, 4), KP_E_INVALID);
    kp_arena_free(&a);
}

Test(protocol, version_gated_field_refused_unless_ignorable)
{
    /* MetadataRequest.AllowAutoTopicCreation exists from v4 and is not
     * ignorable: false at v3 cannot be expressed. */
    kp_metadata_request m;
    kp_metadata_request_init(&m);
    uint8_t buf[64];
    kp_writer w;
    kp_writer_init(&w, buf, sizeof buf);
    m.allow_auto_topic_creation = false;
    cr_assert_eq(kp_metadata_request_encode(&m, &w, 3), KP_E_VERSION);
    m.allow_auto_topic_creation = true;
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_metadata_request_encode(&m, &w, 3), 0);
    /* ThrottleTimeMs in ApiVersionsResponse is ignorable: dropped at v0. */
    kp_api_versions_response resp;
    kp_api_versions_response_init(&resp);
    resp.throttle_time_ms = 100;
    kp_writer_init(&w, buf, sizeof buf);
    cr_assert_eq(kp_api_versions_response_encode(&resp, &w, 0), 0);
    cr_assert_eq(w.p - buf, 2 + 4);
}

Test(protocol, api_table_covers_every_request)
{
    int apis = 0;
    for (size_t i = 0; kp_api_at(i); i++) {
        const kp_api_info *api = kp_api_at(i);
        cr_assert_eq(kp_api_get(api->key), api);
        cr_assert_leq(api->max_stable_version, api->max_version);
        apis++;
    }
    cr_assert_eq(apis, 88, "api count %d", apis);
    cr_assert_eq(kp_api_get(0)->max_version, 11);
    cr_assert_eq(kp_api_get(18)->flexible_min, 3);
    cr_assert_eq(kp_response_header_version(kp_api_get(18), 3), 0);
    cr_assert_eq(kp_request_header_version(kp_api_get(18), 3), 2);
    cr_assert_eq(kp_request_header_version(kp_api_get(7), 0), 0);
    cr_assert_not_null(kp_metadata_record_get(2)); /* TopicRecord */
    cr_assert_null(kp_api_get(200));
}
