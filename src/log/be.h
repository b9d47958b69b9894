/* Big-endian field access: every integer in Kafka's files is big-endian. */
#ifndef SK_LOG_BE_H
#define SK_LOG_BE_H

#include <stdint.h>

static inline uint32_t sk_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t sk_be64(const uint8_t *p)
{
    return (uint64_t)sk_be32(p) << 32 | sk_be32(p + 4);
}

static inline void sk_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void sk_put_be64(uint8_t *p, uint64_t v)
{
    sk_put_be32(p, (uint32_t)(v >> 32));
    sk_put_be32(p + 4, (uint32_t)v);
}

#endif
