/* Writes the fuzzer's seed corpus: one valid request frame body (header +
 * body, no size prefix) per chosen api at its oldest and newest version,
 * filled with the round-trip tests' random values. The output is committed
 * (tests/fuzz/corpus/); rerun only when the set of apis should change.
 *
 * Usage: gen_corpus OUT_DIR */
#include <stdio.h>
#include <stdlib.h>

#include "gen/kp_all.h"

/* The apis a client speaks first or most; the fuzzer reaches the others by
 * mutating the api key, and starts from a well-formed frame for these. */
static const int16_t apis[] = {
    0,  /* Produce */
    1,  /* Fetch */
    2,  /* ListOffsets */
    3,  /* Metadata */
    8,  /* OffsetCommit */
    9,  /* OffsetFetch */
    10, /* FindCoordinator */
    11, /* JoinGroup */
    12, /* Heartbeat */
    14, /* SyncGroup */
    17, /* SaslHandshake */
    18, /* ApiVersions */
    19, /* CreateTopics */
    22, /* InitProducerId */
    24, /* AddPartitionsToTxn */
    32, /* DescribeConfigs */
    36, /* SaslAuthenticate */
    47, /* OffsetDelete */
    68, /* ConsumerGroupHeartbeat */
    75, /* DescribeTopicPartitions */
};

static int write_one(const char *dir, const kp_api_info *api, int16_t ver, uint64_t seed)
{
    kp_arena a;
    kp_arena_init(&a, 0);
    kp_rng g = {seed};
    int16_t hver = kp_request_header_version(api, ver);
    kp_request_header h;
    kp_request_header_init(&h);
    h.request_api_key = api->key;
    h.request_api_version = ver;
    h.correlation_id = (int32_t)seed;
    if (hver >= 1)
        h.client_id = kp_str_c("skein-seed");
    void *body = kp_arena_alloc(&a, api->request.struct_size);
    api->request.rand(body, ver, &g, &a, 0);
    size_t hs = kp_request_header_size(&h, hver), bs = api->request.size(body, ver);
    uint8_t *buf = kp_arena_alloc(&a, hs + bs);
    kp_writer w;
    kp_writer_init(&w, buf, hs + bs);
    int rc = kp_request_header_encode(&h, &w, hver);
    if (rc == 0)
        rc = api->request.encode(body, &w, ver);
    if (rc == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s_v%d", dir, api->name, ver);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, hs + bs, f) != hs + bs || fclose(f) != 0) {
            perror(path);
            rc = -1;
        }
    } else {
        fprintf(stderr, "%s v%d: %s\n", api->name, ver, kp_strerror(rc));
    }
    kp_arena_free(&a);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    int failed = 0;
    for (size_t i = 0; i < sizeof apis / sizeof apis[0]; i++) {
        const kp_api_info *api = kp_api_get(apis[i]);
        if (!api)
            continue;
        failed |= write_one(argv[1], api, api->min_version, 1000 + i) != 0;
        if (api->max_version != api->min_version)
            failed |= write_one(argv[1], api, api->max_version, 2000 + i) != 0;
    }
    return failed;
}
