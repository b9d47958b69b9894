/* A group's committed offsets: a hash table keyed by topic and partition. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "skein/group_offsets.h"
#include "skein/fnv.h"

static uint64_t key_hash(kp_str topic, int32_t partition)
{
    uint64_t h = sk_fnv1a(SK_FNV1A_INIT, topic.ptr, (size_t)topic.len);
    return (h ^ (uint32_t)partition) * 1099511628211ULL;
}

struct sk_offset_entry *sk_offsets_get(const struct sk_offset_table *t, kp_str topic,
                                       int32_t partition)
{
    if (!t->nbuckets || topic.len < 0)
        return NULL;
    for (struct sk_offset_entry *e = t->buckets[key_hash(topic, partition) % t->nbuckets]; e;
         e = e->next)
        if (e->partition == partition && kp_str_eq(topic, e->topic))
            return e;
    return NULL;
}

static int grow(struct sk_offset_table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 16;
    struct sk_offset_entry **b = calloc(n, sizeof *b);
    if (!b)
        return t->nbuckets ? 0 : -ENOMEM; /* a full table still works */
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct sk_offset_entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t k = key_hash(e->topic, e->partition) % n;
            e->next = b[k];
            b[k] = e;
        }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

int sk_offsets_put(struct sk_offset_table *t, kp_str topic, int32_t partition, int64_t offset,
                   int32_t leader_epoch, kp_str metadata, int64_t commit_ts, int64_t expire_ts)
{
    kp_str md;
    if (sk_wire_str_dup(&md, metadata.len >= 0 ? metadata : kp_str_c("")) < 0)
        return -ENOMEM;
    struct sk_offset_entry *e = sk_offsets_get(t, topic, partition);
    if (!e) {
        if (t->n >= t->nbuckets && grow(t) < 0) {
            sk_wire_str_free(&md);
            return -ENOMEM;
        }
        e = calloc(1, sizeof *e);
        if (!e || sk_wire_str_dup(&e->topic, topic) < 0) {
            free(e);
            sk_wire_str_free(&md);
            return -ENOMEM;
        }
        e->partition = partition;
        size_t k = key_hash(topic, partition) % t->nbuckets;
        e->next = t->buckets[k];
        t->buckets[k] = e;
        t->n++;
    }
    sk_wire_str_free(&e->metadata);
    e->metadata = md;
    e->offset = offset;
    e->leader_epoch = leader_epoch;
    e->commit_ts = commit_ts;
    e->expire_ts = expire_ts;
    return 0;
}

void sk_offsets_del(struct sk_offset_table *t, kp_str topic, int32_t partition)
{
    if (!t->nbuckets)
        return;
    struct sk_offset_entry **pp = &t->buckets[key_hash(topic, partition) % t->nbuckets];
    for (; *pp; pp = &(*pp)->next) {
        struct sk_offset_entry *e = *pp;
        if (e->partition == partition && kp_str_eq(topic, e->topic)) {
            *pp = e->next;
            sk_wire_str_free(&e->topic);
            sk_wire_str_free(&e->metadata);
            free(e);
            t->n--;
            return;
        }
    }
}

void sk_offsets_free(struct sk_offset_table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct sk_offset_entry *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            sk_wire_str_free(&e->topic);
            sk_wire_str_free(&e->metadata);
            free(e);
        }
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

static int by_topic_partition(const void *a, const void *b)
{
    const struct sk_offset_entry *x = *(struct sk_offset_entry *const *)a;
    const struct sk_offset_entry *y = *(struct sk_offset_entry *const *)b;
    int c = sk_wire_str_cmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

struct sk_offset_entry **sk_offsets_sorted(const struct sk_offset_table *t, size_t *n)
{
    *n = 0;
    if (!t->n)
        return NULL;
    struct sk_offset_entry **v = malloc(t->n * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct sk_offset_entry *e = t->buckets[i]; e; e = e->next)
            v[(*n)++] = e;
    qsort(v, *n, sizeof *v, by_topic_partition);
    return v;
}
