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
#include "kp_frame.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define FAIL(...)                                                                  \
    do {                                                                           \
        fprintf(stderr, "fuzz_request: " __VA_ARGS__);                             \
        fputc('\n', stderr);                                                       \
        abort();                                                                   \
    } while (0)

/* Decodes header then body from buf; returns 0 or a kp_err. */
static int decode_frame(const kp_api_info *api, int16_t ver, const uint8_t *buf, size_t len,
                        kp_arena *a, kp_request_frame *d)
{
    return kp_request_frame_decode(d, api, ver, buf, len, a);
}

static uint8_t *encode_frame(const kp_api_info *api, int16_t ver, int16_t hver,
                             const kp_request_frame *d, kp_arena *a, size_t *len)
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

/* What follows a well-formed body is ignored (librdkafka sends spare bytes
 * after some bodies), and a body cut short never decodes. Both are checked on
 * the broker's own encoding of every input that decodes, with junk taken from
 * the input itself so that libFuzzer steers it. */
static void check_trailing_and_truncated(const kp_api_info *api, int16_t ver, int16_t hver,
                                         const uint8_t *enc, size_t n, const uint8_t *junk,
                                         size_t njunk)
{
    size_t extra = njunk % 8 + 1;
    uint8_t *longer = malloc(n + extra);
    memcpy(longer, enc, n);
    for (size_t i = 0; i < extra; i++)
        longer[n + i] = njunk ? junk[i % njunk] : 0;
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_request_frame d;
    if (decode_frame(api, ver, longer, n + extra, &a, &d) < 0)
        FAIL("%s v%d: %zu bytes after a good body are refused", api->name, ver, extra);
    if (d.used != n)
        FAIL("%s v%d: with %zu spare bytes the body took %zu, not %zu", api->name, ver, extra,
             d.used, n);
    size_t n2;
    uint8_t *enc2 = encode_frame(api, ver, hver, &d, &a, &n2);
    if (!enc2 || n2 != n || memcmp(enc, enc2, n) != 0)
        FAIL("%s v%d: spare bytes changed what was decoded", api->name, ver);
    kp_arena_free(&a);

    /* Prefixes one byte short, then halved down to nothing: exact-size copies
     * so that ASan sees any overread. */
    for (size_t len = n - 1;; len = len / 2) {
        uint8_t *shorter = malloc(len ? len : 1);
        memcpy(shorter, enc, len);
        kp_arena_init(&a, 0);
        if (decode_frame(api, ver, shorter, len, &a, &d) == 0)
            FAIL("%s v%d: a body cut from %zu to %zu bytes decodes", api->name, ver, n, len);
        kp_arena_free(&a);
        free(shorter);
        if (len == 0)
            break;
    }
    free(longer);
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
    kp_request_frame d;
    if (decode_frame(api, ver, data, size, &a, &d) < 0) {
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
    if (n1 > d.used)
        FAIL("%s v%d: re-encoding is %zu bytes, input used %zu", api->name, ver, n1, d.used);

    /* A copy of exactly n1 bytes so that ASan sees any read past its end. */
    uint8_t *copy = malloc(n1 ? n1 : 1);
    memcpy(copy, enc1, n1);
    kp_arena b;
    kp_arena_init(&b, 0);
    kp_request_frame d2;
    int rc = decode_frame(api, ver, copy, n1, &b, &d2);
    if (rc < 0)
        FAIL("%s v%d: own encoding does not decode: %s", api->name, ver, kp_strerror(rc));
    if (d2.used != n1)
        FAIL("%s v%d: own encoding decoded %zu of %zu bytes", api->name, ver, d2.used, n1);
    size_t n2;
    uint8_t *enc2 = encode_frame(api, ver, hver, &d2, &b, &n2);
    if (!enc2 || n2 != n1)
        FAIL("%s v%d: second encoding is %zu bytes, first %zu", api->name, ver, n2, n1);
    if (memcmp(enc1, enc2, n1) != 0)
        FAIL("%s v%d: second encoding differs from the first", api->name, ver);
    check_trailing_and_truncated(api, ver, hver, enc1, n1, data + d.used, size - d.used);

    free(copy);
    kp_arena_free(&b);
    kp_arena_free(&a);
    return 0;
}

/* Besides libFuzzer's own mutations, one in four runs grows or shrinks the
 * frame at its end, where spare and missing bytes live. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    if (seed % 4 != 0 || size < 4)
        return LLVMFuzzerMutate(data, size, max_size);
    size_t k = (seed >> 2) % 16 + 1;
    if ((seed >> 6) & 1)
        return size - (k < size - 4 ? k : size - 4);
    size_t grown = size + k <= max_size ? size + k : max_size;
    for (size_t i = size; i < grown; i++)
        data[i] = (uint8_t)(seed >> (i % 24));
    return grown;
}
