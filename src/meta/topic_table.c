/* Linear probing with backward-shift deletion: no tombstones, so a table
 * that sees many creates and deletes never degrades, and lookups stay one
 * probe sequence long. */
#include "topic_table.h"
#include "skein/fnv.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: the same cheap, well-spread hash the node uses for shard ownership. */
static uint64_t hash_bytes(const void *p, size_t len)
{
    return sk_fnv1a(SK_FNV1A_INIT, p, len);
}

static uint64_t hash_of(const struct sk_topic_table *t, const struct sk_topic_meta *topic)
{
    return t->by_id ? hash_bytes(topic->id.b, 16)
                    : hash_bytes(topic->name, (size_t)topic->name_len);
}

static bool same_key(const struct sk_topic_table *t, const struct sk_topic_meta *a,
                     const struct sk_topic_meta *b)
{
    if (t->by_id)
        return memcmp(a->id.b, b->id.b, 16) == 0;
    return a->name_len == b->name_len && memcmp(a->name, b->name, (size_t)a->name_len) == 0;
}

void sk_topic_table_init(struct sk_topic_table *t, bool by_id)
{
    memset(t, 0, sizeof *t);
    t->by_id = by_id;
}

void sk_topic_table_free(struct sk_topic_table *t)
{
    free(t->slots);
    sk_topic_table_init(t, t->by_id);
}

void sk_topic_table_copy(struct sk_topic_table *dst, const struct sk_topic_table *src)
{
    *dst = *src;
    if (!src->cap)
        return;
    dst->slots = malloc(sizeof *dst->slots * src->cap);
    if (!dst->slots)
        abort(); /* as the image's other allocations: it cannot be half-built */
    memcpy(dst->slots, src->slots, sizeof *dst->slots * src->cap);
}

static void insert_slot(struct sk_topic_table *t, struct sk_topic_meta *topic)
{
    uint32_t mask = t->cap - 1;
    uint32_t i = (uint32_t)hash_of(t, topic) & mask;
    while (t->slots[i])
        i = (i + 1) & mask;
    t->slots[i] = topic;
}

/* Kept at most half full, so probe sequences stay short. */
static void grow(struct sk_topic_table *t)
{
    uint32_t ncap = t->cap ? t->cap * 2 : 16;
    struct sk_topic_meta **old = t->slots;
    uint32_t ocap = t->cap;
    t->slots = calloc(ncap, sizeof *t->slots);
    if (!t->slots)
        abort();
    t->cap = ncap;
    for (uint32_t i = 0; i < ocap; i++)
        if (old[i])
            insert_slot(t, old[i]);
    free(old);
}

void sk_topic_table_put(struct sk_topic_table *t, struct sk_topic_meta *topic)
{
    if ((t->n + 1) * 2 > t->cap)
        grow(t);
    insert_slot(t, topic);
    t->n++;
}

static int64_t find_slot(const struct sk_topic_table *t, const struct sk_topic_meta *key)
{
    if (!t->cap)
        return -1;
    uint32_t mask = t->cap - 1;
    for (uint32_t i = (uint32_t)hash_of(t, key) & mask; t->slots[i]; i = (i + 1) & mask)
        if (same_key(t, t->slots[i], key))
            return i;
    return -1;
}

void sk_topic_table_del(struct sk_topic_table *t, const struct sk_topic_meta *topic)
{
    int64_t found = find_slot(t, topic);
    if (found < 0)
        return;
    uint32_t mask = t->cap - 1, hole = (uint32_t)found;
    t->slots[hole] = NULL;
    t->n--;
    /* Pull later entries of the run back over the hole when their home slot
     * is not between the hole and where they sit, or a lookup would stop at
     * the hole before reaching them. */
    for (uint32_t j = (hole + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)hash_of(t, t->slots[j]) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->slots[hole] = t->slots[j];
            t->slots[j] = NULL;
            hole = j;
        }
    }
}

void sk_topic_table_replace(struct sk_topic_table *t, const struct sk_topic_meta *old,
                            struct sk_topic_meta *repl)
{
    int64_t i = find_slot(t, old);
    if (i >= 0)
        t->slots[i] = repl;
}

struct sk_topic_meta *sk_topic_table_by_name(const struct sk_topic_table *t, const char *name,
                                             size_t len)
{
    struct sk_topic_meta key = {.name = (char *)name, .name_len = (int32_t)len};
    int64_t i = find_slot(t, &key);
    return i < 0 ? NULL : t->slots[i];
}

struct sk_topic_meta *sk_topic_table_by_id(const struct sk_topic_table *t, const kp_uuid *id)
{
    struct sk_topic_meta key = {.id = *id};
    int64_t i = find_slot(t, &key);
    return i < 0 ? NULL : t->slots[i];
}
