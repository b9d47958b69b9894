/* The cluster metadata image: brokers, topics, partitions, configs and
 * features, built only by applying __cluster_metadata records in log order.
 *
 * Invariant: the image is a pure function of the records applied to it. No
 * other code path changes it, so replaying the log (or a snapshot plus the
 * log after it) rebuilds exactly the state the node had. */
#ifndef SKEIN_META_H
#define SKEIN_META_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kp_rt.h"

/* Record types of __cluster_metadata (the metadata specs' apiKey). */
enum sk_meta_type {
    SK_META_REGISTER_BROKER = 0,
    SK_META_UNREGISTER_BROKER = 1,
    SK_META_TOPIC = 2,
    SK_META_PARTITION = 3,
    SK_META_CONFIG = 4,
    SK_META_PARTITION_CHANGE = 5,
    SK_META_FENCE_BROKER = 7,
    SK_META_UNFENCE_BROKER = 8,
    SK_META_REMOVE_TOPIC = 9,
    SK_META_FEATURE_LEVEL = 12,
    SK_META_CLIENT_QUOTA = 14,
    SK_META_PRODUCER_IDS = 15,
    SK_META_BROKER_REGISTRATION_CHANGE = 17,
    SK_META_NO_OP = 20,
    SK_META_REGISTER_CONTROLLER = 27,
};

/* ConfigRecord resource types (Kafka's ConfigResource.Type). */
enum sk_config_resource {
    SK_RESOURCE_TOPIC = 2,
    SK_RESOURCE_BROKER = 4,
    SK_RESOURCE_BROKER_LOGGER = 8,
};

/* Key and value keep their bytes and lengths as the records carry them (a
 * value may hold a zero byte, see sk_config_from_wire); each is also
 * NUL-terminated, so code that parses a value as text sees it up to its
 * first zero byte. */
struct sk_kv {
    char *key;
    char *value;
    int32_t key_len, value_len;
};

struct sk_kvlist {
    struct sk_kv *v;
    int n, cap;
};

/* One broker's dynamic configs: the ConfigRecords of resource BROKER "id". */
struct sk_broker_configs {
    int32_t id;
    struct sk_kvlist kv;
};

struct sk_partition_meta {
    int32_t id;
    int32_t leader;
    int32_t leader_epoch;
    int32_t partition_epoch;
    int32_t *replicas;
    int32_t nreplicas;
    int32_t *isr;
    int32_t nisr;
    /* A reassignment in progress (KIP-455): replicas holds the target ones
     * first, then those being removed; adding are target replicas not yet
     * in sync, removing the ones to drop once they are. Both empty (NULL,
     * 0) otherwise. */
    int32_t *adding, *removing;
    int32_t nadding, nremoving;
    /* KIP-704: SK_LEADER_RECOVERING after an unclean election until the
     * leader tells the controller it recovered (AlterPartition). */
    int8_t leader_recovery_state;
};

#define SK_LEADER_RECOVERED 0
#define SK_LEADER_RECOVERING 1

/* A topic may be shared by several images (copy-on-write): refs counts
 * them, atomically since images are released on any shard. A shared topic
 * is never changed; an image that must change it changes its own copy. */
struct sk_topic_meta {
    char *name;
    int32_t name_len;
    atomic_int refs;
    kp_uuid id;
    struct sk_partition_meta *partitions;
    int32_t npartitions;
    struct sk_kvlist configs; /* topic-level overrides */
};

struct sk_endpoint_meta {
    char *listener;
    char *host;
    uint16_t port;
    int16_t security_protocol;
};

struct sk_broker_meta {
    int32_t id;
    int64_t epoch;
    kp_uuid incarnation;
    char *rack; /* NULL if none */
    bool fenced;
    bool in_controlled_shutdown;
    struct sk_endpoint_meta *endpoints;
    int nendpoints;
};

struct sk_feature_level {
    char *name;
    int16_t level;
};

/* A client-quota entity has at most one part per type: user, client-id, ip. */
#define SK_QUOTA_MAX_PARTS 3

/* One part of an entity: its type and name, null for the default entity.
 * Names are any bytes (a principal "CN=a,OU=b", a client id with a zero
 * byte), so parts are kept apart, never joined into one string. */
struct sk_quota_part {
    kp_str type, name; /* owned wire strings (skein/wire_str.h) in the image */
};

struct sk_quota_entry {
    struct sk_quota_part parts[SK_QUOTA_MAX_PARTS]; /* in record order */
    int nparts;
    struct sk_kvlist values; /* key -> decimal text */
};

/* True if q's entity is made of exactly these parts, in any order. */
bool sk_quota_entry_is(const struct sk_quota_entry *q, const struct sk_quota_part *parts, int n);

/* Topics by name or by id (src/meta/topic_table.c). */
struct sk_topic_table {
    struct sk_topic_meta **slots;
    uint32_t cap, n;
    bool by_id;
};

struct sk_meta_image {
    struct sk_topic_meta **topics; /* ordered by creation; NULL holes never kept */
    int ntopics, topics_cap;
    struct sk_topic_table by_name, by_id;
    struct sk_broker_meta *brokers;
    int nbrokers;
    /* KIP-919's controller registrations: id, incarnation and endpoints
     * (no epoch, rack or fencing: a controller has none). */
    struct sk_broker_meta *controllers;
    int ncontrollers;
    struct sk_feature_level *features;
    int nfeatures;
    struct sk_broker_configs *broker_configs; /* each broker's dynamic configs, by id */
    int nbroker_configs;
    struct sk_kvlist cluster_configs; /* dynamic cluster-wide defaults */
    uint64_t configs_version;         /* moves with every broker ConfigRecord applied */
    struct sk_quota_entry *quotas;
    int nquotas;
    int64_t next_producer_id; /* first id not yet handed out */
    int64_t last_offset;      /* offset of the last record applied, -1 if none */
    atomic_int refs;          /* holders of an image from sk_meta_image_clone */
};

void sk_meta_image_init(struct sk_meta_image *img);
void sk_meta_image_free(struct sk_meta_image *img);

/* A new image (one reference) equal to img that shares img's topics: only
 * the lists of pointers are copied, and applying records to either image
 * copies just the topics they change. The small parts (brokers, configs,
 * features, quotas) are copied. */
struct sk_meta_image *sk_meta_image_clone(const struct sk_meta_image *img);
/* Makes the embedded image dst (refs 0) equal to src, sharing src's topics:
 * the controller's rollback of its working state to the committed image. */
void sk_meta_image_reset_to(struct sk_meta_image *dst, const struct sk_meta_image *src);
/* Another holder of a cloned image; any thread. */
struct sk_meta_image *sk_meta_image_ref(struct sk_meta_image *img);
/* Drops a holder; the last one frees the image (and the topics no other
 * image shares). NULL is ignored. */
void sk_meta_image_release(struct sk_meta_image *img);

/* A topic that differs between two images: was NULL if it was created, now
 * NULL if it was deleted, both set if it changed (partitions, configs). */
typedef void (*sk_topic_change_fn)(void *arg, const struct sk_topic_meta *was,
                                   const struct sk_topic_meta *now);
/* Calls fn for every topic that differs between old and cur, cur's topics
 * in order first, then the deleted ones. Only for images related by
 * sk_meta_image_clone: a topic counts as changed when it is not the same
 * object in both. */
void sk_meta_topics_diff(const struct sk_meta_image *old, const struct sk_meta_image *cur,
                         sk_topic_change_fn fn, void *arg);

/* Applies one decoded record (the generated struct for its type). Returns 0, or
 * -EINVAL if the record contradicts the image (e.g. a partition of an unknown
 * topic), which means the log is damaged. */
int sk_meta_apply(struct sk_meta_image *img, int16_t type, const void *record);

const struct sk_topic_meta *sk_meta_topic(const struct sk_meta_image *img, const char *name,
                                          size_t len);
const struct sk_topic_meta *sk_meta_topic_by_id(const struct sk_meta_image *img,
                                                const kp_uuid *id);
const struct sk_broker_meta *sk_meta_broker(const struct sk_meta_image *img, int32_t id);
/* A controller's registration (KIP-919), NULL if it has none. */
const struct sk_broker_meta *sk_meta_controller(const struct sk_meta_image *img, int32_t id);
/* Whether broker id is in the partition's replica list. */
bool sk_partition_meta_has_replica(const struct sk_partition_meta *pm, int32_t id);
/* The broker's endpoint on the named listener, NULL if it has none. */
const struct sk_endpoint_meta *sk_meta_endpoint(const struct sk_broker_meta *b,
                                                const char *listener);
int16_t sk_meta_feature(const struct sk_meta_image *img, const char *name);
const char *sk_kvlist_get(const struct sk_kvlist *l, const char *key);
/* The value's bytes; null if the key is not set. */
kp_str sk_kvlist_bytes(const struct sk_kvlist *l, const char *key);
/* Broker id's dynamic configs in img (an empty list if it has none). */
const struct sk_kvlist *sk_meta_broker_configs(const struct sk_meta_image *img, int32_t id);

/* The record framing of __cluster_metadata values (Kafka's MetadataRecordSerde):
 * uvarint frame version (1), uvarint record type, uvarint record version, then
 * the record. */
size_t sk_meta_record_size(int16_t type, int16_t version, const void *record);
int sk_meta_record_encode(uint8_t *buf, size_t len, int16_t type, int16_t version,
                          const void *record);
/* Decodes into arena memory; *record is the generated struct for *type. */
int sk_meta_record_decode(const uint8_t *buf, size_t len, kp_arena *a, int16_t *type,
                          int16_t *version, void **record);

#endif
