/* The broker: what every API handler sees of the node it runs on. */
#ifndef SKEIN_BROKER_H
#define SKEIN_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "skein/meta.h"

struct sk_shard;
struct sk_metalog;
struct sk_config;

/* metadata.version levels this broker implements (Kafka 3.9's MetadataVersion). */
#define SK_METADATA_VERSION_MIN 1
#define SK_METADATA_VERSION_MAX 21 /* 3.9-IV0 */

struct sk_broker {
    const struct sk_config *cfg;
    int32_t node_id;
    char cluster_id[32];
    /* The listener clients reach us on, and what Metadata advertises for it. */
    char listener_name[64];
    char advertised_host[256];
    uint16_t advertised_port;
    struct sk_meta_image image;
    struct sk_metalog *metalog;
    struct sk_shard *shard; /* shard 0; more shards are a setting later */
};

#endif
