/* KIP-853's initial controllers, as `kafka-storage format
 * --initial-controllers` takes them: id@host:port:directoryId[,...]. */
#ifndef SKEIN_DYNAMIC_VOTERS_H
#define SKEIN_DYNAMIC_VOTERS_H

#include <stddef.h>
#include <stdint.h>

#define SK_DYNAMIC_VOTERS_MAX 64
#define SK_DYNAMIC_VOTER_HOST_MAX 256

struct sk_dynamic_voter {
    int32_t id;
    char host[SK_DYNAMIC_VOTER_HOST_MAX]; /* IPv6 without its brackets */
    uint16_t port;
    uint8_t dir_id[16];
};

struct sk_dynamic_voters {
    struct sk_dynamic_voter v[SK_DYNAMIC_VOTERS_MAX];
    size_t n;
};

/* Parses s[0..len) as Kafka's DynamicVoters.parse does. 0, or -EINVAL with
 * Kafka's explanation in err. */
int sk_dynamic_voters_parse(const char *s, size_t len, struct sk_dynamic_voters *out, char *err,
                            size_t errlen);

/* The voter with node id id, or NULL. */
const struct sk_dynamic_voter *sk_dynamic_voters_find(const struct sk_dynamic_voters *vs,
                                                      int32_t id);

#endif
