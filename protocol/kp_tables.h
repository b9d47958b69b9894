/* Lookup tables over the generated protocol code: every message, requests and
 * responses by api key, metadata records by type. Written by hand; the tables
 * themselves are generated (gen/kp_tables.c). */
#ifndef KP_TABLES_H
#define KP_TABLES_H

#include "kp_rt.h"

#define KP_API_KEY_MAX 127

enum kp_listener {
    KP_LISTENER_ZK_BROKER = 1,
    KP_LISTENER_BROKER = 2,
    KP_LISTENER_CONTROLLER = 4,
};

typedef void (*kp_init_fn)(void *m);
typedef int (*kp_decode_fn)(void *m, kp_reader *r, int16_t version);
typedef int (*kp_encode_fn)(const void *m, kp_writer *w, int16_t version);
typedef size_t (*kp_size_fn)(const void *m, int16_t version);
typedef void (*kp_rand_fn)(void *m, int16_t version, kp_rng *g, kp_arena *a, int depth);

typedef struct kp_msg_info {
    const char *name;
    const char *spec; /* the JSON file it was generated from */
    int16_t min_version, max_version;
    size_t struct_size;
    kp_init_fn init;
    kp_decode_fn decode;
    kp_encode_fn encode;
    kp_size_fn size;
    /* Defined in gen/kp_rand.c and referenced weakly: NULL unless the binary
     * links kp_rand whole (link_whole: proto_rand_lib), as the tests do. */
    kp_rand_fn rand;
} kp_msg_info;

typedef struct kp_api_info {
    int16_t key;
    const char *name;
    int16_t min_version, max_version;
    int16_t max_stable_version; /* below max when the latest is unstable upstream */
    int16_t flexible_min;       /* first flexible version, -1 if none */
    int listeners;              /* enum kp_listener bits */
    kp_msg_info request, response;
} kp_api_info;

extern const kp_msg_info kp_messages[];
extern const int kp_message_count;

const kp_api_info *kp_api_get(int16_t key);
const kp_api_info *kp_api_at(size_t i); /* iteration, NULL past the end */
const kp_msg_info *kp_metadata_record_get(int16_t type);

static inline bool kp_api_flexible(const kp_api_info *api, int16_t version)
{
    return api->flexible_min >= 0 && version >= api->flexible_min;
}

/* Request header v2 is the flexible one, v1 otherwise; ControlledShutdown v0
 * is the one request that still uses header v0. */
static inline int16_t kp_request_header_version(const kp_api_info *api, int16_t version)
{
    if (api->key == 7 && version == 0)
        return 0;
    return kp_api_flexible(api, version) ? 2 : 1;
}

/* Response header v1 carries tagged fields; ApiVersions always answers with v0
 * so that a client that does not yet know the broker's versions can read it. */
static inline int16_t kp_response_header_version(const kp_api_info *api, int16_t version)
{
    if (api->key == 18)
        return 0;
    return kp_api_flexible(api, version) ? 1 : 0;
}

#endif
