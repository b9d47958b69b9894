/* FNV-1a over bytes: the hash of the in-memory tables keyed by wire bytes
 * (topic names, topic ids, partitions, group ids, addresses), 64-bit, and
 * the 32-bit one that places partitions on shards (node.c). Never written
 * anywhere. */
#ifndef SKEIN_FNV_H
#define SKEIN_FNV_H

#include <stddef.h>
#include <stdint.h>

#define SK_FNV1A_INIT 1469598103934665603ull

static inline uint64_t sk_fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

#define SK_FNV1A32_INIT 2166136261u

static inline uint32_t sk_fnv1a32(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

/* Folds a 64-bit hash to 32 bits, high half into low. */
static inline uint32_t sk_fnv1a_fold(uint64_t h)
{
    return (uint32_t)(h ^ (h >> 32));
}

#endif
