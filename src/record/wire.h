/* Big-endian and zig-zag varint helpers shared by the record code (private to
 * src/record/). Readers take a cursor and an end so a hostile length can never
 * walk past the buffer; they return false instead of reading a partial field. */
#ifndef SK_RECORD_WIRE_H
#define SK_RECORD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t sk_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t sk_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t sk_rd64(const uint8_t *p) { return (uint64_t)sk_rd32(p) << 32 | sk_rd32(p + 4); }

static inline void sk_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sk_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void sk_wr64(uint8_t *p, uint64_t v) { sk_wr32(p, (uint32_t)(v >> 32)); sk_wr32(p + 4, (uint32_t)v); }

/* Unsigned LEB128 of at most max_bytes bytes (5 for int32, 10 for int64), as
 * Kafka's ByteUtils: a longer encoding is an error, not silently truncated. */
static inline bool sk_uvarint_read(const uint8_t **pp, const uint8_t *end, int max_bytes, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (p >= end)
            return false;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return true;
        }
    }
    return false;
}

static inline bool sk_varint_read(const uint8_t **pp, const uint8_t *end, int32_t *out)
{
    uint64_t u;
    if (!sk_uvarint_read(pp, end, 5, &u) || u > UINT32_MAX)
        return false;
    uint32_t z = (uint32_t)u;
    *out = (int32_t)((z >> 1) ^ (~(z & 1) + 1));
    return true;
}

static inline bool sk_varlong_read(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    uint64_t z;
    if (!sk_uvarint_read(pp, end, 10, &z))
        return false;
    *out = (int64_t)((z >> 1) ^ (~(z & 1) + 1));
    return true;
}

/* Writes the zig-zag varint of v at p (room for 10 bytes); returns bytes written. */
static inline size_t sk_varlong_write(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

static inline size_t sk_varlong_size(int64_t v)
{
    uint8_t tmp[10];
    return sk_varlong_write(tmp, v);
}

#endif
