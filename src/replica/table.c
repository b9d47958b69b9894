/* The shard's partitions: an array to walk them all, and two chained hash
 * tables to find one in O(1), by (topic name, index) as v0-12 requests name
 * them and by (topic id, index) as v13+ requests and the image do. Names are
 * bytes with a length: a lookup never relies on a terminating zero. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica_int.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/fnv.h"
#include "skein/node.h"
#include "skein/plog.h"

#define SK_TABLE_MIN_BUCKETS 64

static size_t name_bucket(const struct sk_broker *b, const char *name, size_t len, int32_t id)
{
    uint64_t h = sk_fnv1a(SK_FNV1A_INIT, name, len);
    return (size_t)(sk_fnv1a(h, &id, sizeof id) % b->nbuckets);
}

static size_t id_bucket(const struct sk_broker *b, const uint8_t *topic_id, int32_t id)
{
    uint64_t h = sk_fnv1a(SK_FNV1A_INIT, topic_id, 16);
    return (size_t)(sk_fnv1a(h, &id, sizeof id) % b->nbuckets);
}

static void link_partition(struct sk_broker *b, struct sk_partition *p)
{
    size_t k = name_bucket(b, p->topic, strlen(p->topic), p->id);
    p->hnext_name = b->by_name[k];
    b->by_name[k] = p;
    k = id_bucket(b, p->topic_id.b, p->id);
    p->hnext_id = b->by_id[k];
    b->by_id[k] = p;
}

/* Doubling keeps chains short on average; a failed grow leaves longer
 * chains, which are still correct. */
static int rehash(struct sk_broker *b, size_t n)
{
    struct sk_partition **by_name = calloc(n, sizeof *by_name);
    struct sk_partition **by_id = calloc(n, sizeof *by_id);
    if (!by_name || !by_id) {
        free(by_name);
        free(by_id);
        return -ENOMEM;
    }
    free(b->by_name);
    free(b->by_id);
    b->by_name = by_name;
    b->by_id = by_id;
    b->nbuckets = n;
    for (int i = 0; i < b->nparts; i++)
        link_partition(b, b->parts[i]);
    return 0;
}

static int grow_array(struct sk_broker *b)
{
    if (b->nparts < b->parts_cap)
        return 0;
    int cap = b->parts_cap ? b->parts_cap * 2 : SK_TABLE_MIN_BUCKETS;
    struct sk_partition **np = realloc(b->parts, sizeof *np * (size_t)cap);
    if (!np)
        return -ENOMEM;
    b->parts = np;
    b->parts_cap = cap;
    return 0;
}

int sk_replica_table_add(struct sk_broker *b, struct sk_partition *p)
{
    if (grow_array(b) < 0)
        return -ENOMEM;
    if (!b->nbuckets && rehash(b, SK_TABLE_MIN_BUCKETS) < 0)
        return -ENOMEM;
    if ((size_t)b->nparts >= b->nbuckets)
        rehash(b, b->nbuckets * 2);
    p->slot = b->nparts;
    b->parts[b->nparts++] = p;
    link_partition(b, p);
    return 0;
}

static void unlink_chain(struct sk_partition **pp, struct sk_partition *p, bool by_name)
{
    while (*pp && *pp != p)
        pp = by_name ? &(*pp)->hnext_name : &(*pp)->hnext_id;
    if (*pp)
        *pp = by_name ? p->hnext_name : p->hnext_id;
}

void sk_replica_table_remove(struct sk_broker *b, struct sk_partition *p)
{
    unlink_chain(&b->by_name[name_bucket(b, p->topic, strlen(p->topic), p->id)], p, true);
    unlink_chain(&b->by_id[id_bucket(b, p->topic_id.b, p->id)], p, false);
    struct sk_partition *last = b->parts[--b->nparts];
    b->parts[p->slot] = last;
    last->slot = p->slot;
    p->hnext_name = p->hnext_id = NULL;
}

void sk_replica_table_free(struct sk_broker *b)
{
    free(b->parts);
    free(b->by_name);
    free(b->by_id);
    b->parts = b->by_name = b->by_id = NULL;
    b->nparts = b->parts_cap = 0;
    b->nbuckets = 0;
}

struct sk_partition *sk_partition_get(struct sk_broker *b, kp_str topic, int32_t id)
{
    if (!b->nbuckets || topic.len < 0)
        return NULL;
    size_t len = (size_t)topic.len;
    for (struct sk_partition *p = b->by_name[name_bucket(b, topic.ptr, len, id)]; p;
         p = p->hnext_name)
        if (p->id == id && strlen(p->topic) == len && memcmp(p->topic, topic.ptr, len) == 0)
            return p;
    return NULL;
}

struct sk_partition *sk_partition_get_by_id(struct sk_broker *b, const kp_uuid *topic_id,
                                            int32_t id)
{
    if (!b->nbuckets)
        return NULL;
    for (struct sk_partition *p = b->by_id[id_bucket(b, topic_id->b, id)]; p; p = p->hnext_id)
        if (p->id == id && memcmp(p->topic_id.b, topic_id->b, 16) == 0)
            return p;
    return NULL;
}

/* ---- ownership and a client's view ----------------------------------------------- */

int sk_partition_owner_shard(const struct sk_broker *b, kp_str topic, int32_t index)
{
    return sk_shard_of_partition(b->node, topic, index);
}

bool sk_partition_is_mine(const struct sk_broker *b, kp_str topic, int32_t index)
{
    return sk_partition_owner_shard(b, topic, index) == b->index;
}

struct sk_partition *sk_partition_lookup(struct sk_broker *b, kp_str topic, int32_t index,
                                         bool client_write, int16_t *err)
{
    const struct sk_topic_meta *t =
        sk_meta_topic(b->image, topic.ptr, (size_t)(topic.len < 0 ? 0 : topic.len));
    if (!t || index < 0 || index >= t->npartitions) {
        *err = SK_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    /* Kafka's ReplicaManager: clients never append to internal topics. */
    if (client_write && sk_topic_is_internal(t->name)) {
        *err = SK_ERR_INVALID_TOPIC_EXCEPTION;
        return NULL;
    }
    bool led = t->partitions[index].leader == b->node->node_id;
    if (led && !sk_partition_is_mine(b, topic, index)) {
        *err = SK_PARTITION_OTHER_SHARD;
        return NULL;
    }
    struct sk_partition *p = sk_partition_get(b, topic, index);
    /* A follower serves no client, whatever its log's state. */
    if (p && p->role != SK_REPLICA_LEADER) {
        *err = SK_ERR_NOT_LEADER_OR_FOLLOWER;
        return NULL;
    }
    /* Led here but its log did not open, or offline after a failed sync: as
     * from a Kafka broker whose log dir is offline. One a later turn opens
     * (lifecycle.c) is a leader not ready yet. */
    if ((!p && led) || (p && sk_partition_sync_failed(p))) {
        *err = !p && b->open_deferred ? SK_ERR_NOT_LEADER_OR_FOLLOWER : SK_ERR_KAFKA_STORAGE_ERROR;
        return NULL;
    }
    *err = p ? SK_ERR_NONE : SK_ERR_NOT_LEADER_OR_FOLLOWER;
    return p;
}

bool sk_partition_sync_failed(const struct sk_partition *p)
{
    return sk_plog_sync_error(p->log) != 0;
}

bool sk_partition_opening(struct sk_broker *b, const struct sk_topic_meta *t, int32_t index)
{
    if (!b->open_deferred || index < 0 || index >= t->npartitions ||
        t->partitions[index].leader != b->node->node_id ||
        !sk_partition_is_mine(b, kp_str_c(t->name), index))
        return false;
    return !sk_partition_get_by_id(b, &t->id, index);
}

bool sk_partition_offline(struct sk_broker *b, const struct sk_topic_meta *t, int32_t index)
{
    if (b->offline_failed + b->offline_over_budget + b->offline_sync_failed == 0 || index < 0 ||
        index >= t->npartitions || t->partitions[index].leader != b->node->node_id)
        return false;
    /* Another shard's partition: that shard knows, this one cannot say. */
    if (!sk_partition_is_mine(b, kp_str_c(t->name), index))
        return false;
    const struct sk_partition *p = sk_partition_get_by_id(b, &t->id, index);
    return !p || sk_partition_sync_failed(p);
}
