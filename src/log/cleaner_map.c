/* The cleaner's offset map: open addressing with linear probing over 128-bit key
 * hashes. It starts small and doubles up to the memory budget, so cleaning a
 * log of a few keys does not allocate log.cleaner.dedupe.buffer.size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleaner_int.h"

#define MAP_MIN_CAP 1024
/* Linear probing degrades fast beyond this fill. */
#define MAP_FILL_NUM 4
#define MAP_FILL_DEN 5

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Two unrelated 64-bit hashes: FNV-1a, and a word-wise multiply-mix. */
static void key_hash(const uint8_t *k, size_t n, uint64_t *h1, uint64_t *h2)
{
    uint64_t a = 0xcbf29ce484222325ULL, b = 0x9e3779b97f4a7c15ULL ^ n;
    size_t i = 0;

    for (size_t j = 0; j < n; j++)
        a = (a ^ k[j]) * 0x100000001b3ULL;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        b = mix64(b ^ w) * 0xff51afd7ed558ccdULL;
    }
    uint64_t tail = 0;
    if (n > i)
        memcpy(&tail, k + i, n - i);
    b = mix64(b ^ tail ^ ((uint64_t)(n - i) << 56));
    *h1 = mix64(a) | 1; /* never the free-slot marker */
    *h2 = b;
}

void sk_clean_map_init(struct sk_clean_map *m, size_t max_bytes)
{
    memset(m, 0, sizeof(*m));
    size_t cap = MAP_MIN_CAP;
    while (cap * 2 * sizeof(struct sk_clean_map_entry) <= max_bytes)
        cap *= 2;
    m->max_cap = cap;
}

void sk_clean_map_free(struct sk_clean_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->used = 0;
}

static struct sk_clean_map_entry *map_find(const struct sk_clean_map *m, uint64_t h1, uint64_t h2)
{
    size_t i = (size_t)h2 & (m->cap - 1);

    for (;;) {
        struct sk_clean_map_entry *e = &m->slots[i];
        if ((e->h1 == h1 && e->h2 == h2) || e->h1 == 0)
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

static int map_grow(struct sk_clean_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : MAP_MIN_CAP;
    struct sk_clean_map old = *m;

    if (cap > m->max_cap)
        return -ENOSPC;
    if (!(m->slots = calloc(cap, sizeof(*m->slots)))) {
        m->slots = old.slots;
        return -ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].h1)
            *map_find(m, old.slots[i].h1, old.slots[i].h2) = old.slots[i];
    free(old.slots);
    return 0;
}

int sk_clean_map_put(struct sk_clean_map *m, const uint8_t *key, size_t len, int64_t offset)
{
    uint64_t h1, h2;
    int r;

    key_hash(key, len, &h1, &h2);
    if ((m->used + 1) * MAP_FILL_DEN > m->cap * MAP_FILL_NUM && (r = map_grow(m)) < 0) {
        /* full: an existing key can still move forward */
        if (!m->cap || map_find(m, h1, h2)->h1 == 0)
            return r;
    }
    struct sk_clean_map_entry *e = map_find(m, h1, h2);
    if (e->h1 == 0) {
        e->h1 = h1;
        e->h2 = h2;
        m->used++;
    }
    e->offset = offset;
    return 0;
}

int64_t sk_clean_map_get(const struct sk_clean_map *m, const uint8_t *key, size_t len)
{
    uint64_t h1, h2;

    if (!m->cap)
        return -1;
    key_hash(key, len, &h1, &h2);
    const struct sk_clean_map_entry *e = map_find(m, h1, h2);
    return e->h1 ? e->offset : -1;
}
