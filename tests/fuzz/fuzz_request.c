/* libFuzzer target: the input is a request frame body, the 4-byte size
 * already stripped, exactly as the network layer hands it to the decoder.
 *
 * Beyond "no crash, no read past the end, no leak" (ASan/UBSan), a decoded
 * request must survive the broker's own encoder: size() must match what
 * encode() writes, and the encoding must decode again to a message of the same
 * size and the same bytes. Decoding may normalise (unknown tags dropped,
 * tagged fields at their default omitted, non-canonical varints shortened),
 * which is why the comparison starts from the first re-encoding, not from the
 * input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gen/kp_all.h"

#define FAIL(...)                                                                  \
    do {                                                                           \
        fprintf(stderr, "fuzz_request: " __VA_ARGS__);                             \
        fputc('\n', stderr);                                                       \
        abort();                                                                   \
    } while (0)

struct decoded {
    kp_request_header hdr;
    void *body;
};

/* Decodes header then body from buf; returns 0 or a kp_err. */
static int decode_frame(const kp_api_info *api, int16_t ver, int16_t hver, const uint8_t *buf,
                        size_t len, kp_arena *a, struct decoded *d, size_t *consumed)
{
    kp_reader r;
    kp_reader_init(&r, buf, len, a);
    int rc = kp_request_header_decode(&d->hdr, &r, hver);
    if (rc < 0)
        return rc;
    d->body = kp_arena_alloc(a, api->request.struct_size);
    if (!d->body)
        return KP_E_NOMEM;
    rc = api->request.decode(d->body, &r, ver);
    *consumed = (size_t)(r.p - buf);
    return rc;
}

static uint8_t *encode_frame(const kp_api_info *api, int16_t ver, int16_t hver,
                             const struct decoded *d, kp_arena *a, size_t *len)
{
    size_t hs = kp_request_header_size(&d->hdr, hver);
    size_t bs = api->request.size(d->body, ver);
    uint8_t *buf = kp_arena_alloc(a, hs + bs);
    if (!buf)
        return NULL;
    kp_writer w;
    kp_writer_init(&w, buf, hs + bs);
    int rc = kp_request_header_encode(&d->hdr, &w, hver);
    if (rc < 0)
        FAIL("%s v%d: header encode failed: %s", api->name, ver, kp_strerror(rc));
    if ((size_t)(w.p - buf) != hs)
        FAIL("%s v%d: header wrote %zu, size() said %zu", api->name, ver,
             (size_t)(w.p - buf), hs);
    rc = api->request.encode(d->body, &w, ver);
    if (rc < 0)
        FAIL("%s v%d: body encode failed: %s", api->name, ver, kp_strerror(rc));
    if (w.p != w.end)
        FAIL("%s v%d: body wrote %zu, size() said %zu", api->name, ver,
             (size_t)(w.p - buf) - hs, bs);
    *len = hs + bs;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    int16_t key = (int16_t)kp_be16(data), ver = (int16_t)kp_be16(data + 2);
    const kp_api_info *api = kp_api_get(key);
    if (!api || ver < api->min_version || ver > api->max_version)
        return 0;
    int16_t hver = kp_request_header_version(api, ver);

    /* The decoder's promise is an allocation bounded by a small multiple of
     * the frame; a limit well above it only turns a broken promise into a
     * KP_E_NOMEM the broker would answer, so it is not treated as a finding. */
    kp_arena a;
    kp_arena_init(&a, 64 * size + 65536);
    struct decoded d;
    size_t used;
    if (decode_frame(api, ver, hver, data, size, &a, &d, &used) < 0) {
        kp_arena_free(&a);
        return 0;
    }

    size_t n1;
    uint8_t *enc1 = encode_frame(api, ver, hver, &d, &a, &n1);
    if (!enc1) {
        kp_arena_free(&a);
        return 0;
    }
    /* The re-encoding is never larger than what was read: normalising only
     * drops or shortens. */
    if (n1 > used)
        FAIL("%s v%d: re-encoding is %zu bytes, input used %zu", api->name, ver, n1, used);

    /* A copy of exactly n1 bytes so that ASan sees any read past its end. */
    uint8_t *copy = malloc(n1 ? n1 : 1);
    memcpy(copy, enc1, n1);
    kp_arena b;
    kp_arena_init(&b, 0);
    struct decoded d2;
    size_t used2;
    int rc = decode_frame(api, ver, hver, copy, n1, &b, &d2, &used2);
    if (rc < 0)
        FAIL("%s v%d: own encoding does not decode: %s", api->name, ver, kp_strerror(rc));
    if (used2 != n1)
        FAIL("%s v%d: own encoding decoded %zu of %zu bytes", api->name, ver, used2, n1);
    size_t n2;
    uint8_t *enc2 = encode_frame(api, ver, hver, &d2, &b, &n2);
    if (!enc2 || n2 != n1)
        FAIL("%s v%d: second encoding is %zu bytes, first %zu", api->name, ver, n2, n1);
    if (memcmp(enc1, enc2, n1) != 0)
        FAIL("%s v%d: second encoding differs from the first", api->name, ver);

    free(copy);
    kp_arena_free(&b);
    kp_arena_free(&a);
    return 0;
}
