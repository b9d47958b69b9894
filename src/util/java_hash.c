/* Kafka's placement hashes (skein/java_hash.h). */
#include <stdint.h>

#include "skein/java_hash.h"

/* Java hashes UTF-16 code units; group ids arrive as UTF-8, so decode first
 * (a code point above U+FFFF counts as its two surrogates). Malformed bytes
 * count as U+FFFD, as Java's decoder replaces them. */
static uint32_t utf8_next(const uint8_t **pp, const uint8_t *end)
{
    const uint8_t *p = *pp;
    uint32_t c = *p++;
    int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (c >= 0x80 && c < 0xc0) {
        *pp = p;
        return 0xfffd;
    }
    if (extra)
        c &= 0x3fu >> extra;
    for (int i = 0; i < extra; i++) {
        if (p >= end || (*p & 0xc0) != 0x80) {
            *pp = p;
            return 0xfffd;
        }
        c = c << 6 | (*p++ & 0x3f);
    }
    *pp = p;
    return c;
}

int32_t sk_java_string_hash(kp_str s)
{
    uint32_t h = 0;
    const uint8_t *p = (const uint8_t *)s.ptr, *end = p + (s.len > 0 ? s.len : 0);
    while (p < end) {
        uint32_t c = utf8_next(&p, end);
        if (c >= 0x10000) {
            c -= 0x10000;
            h = 31 * h + (0xd800 + (c >> 10));
            c = 0xdc00 + (c & 0x3ff);
        }
        h = 31 * h + c;
    }
    return (int32_t)h;
}

int32_t sk_group_partition_for(kp_str group_id, int32_t n)
{
    int32_t h = sk_java_string_hash(group_id);
    /* Kafka's Utils.abs: Integer.MIN_VALUE maps to 0, not to itself. */
    int32_t a = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
    return n > 0 ? a % n : 0;
}
