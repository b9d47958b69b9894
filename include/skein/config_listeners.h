/* Listener, security-protocol-map and quorum-voter strings as Kafka writes
 * them: "PLAINTEXT://host:9092", "CONTROLLER:PLAINTEXT", "1@host:9093". */
#ifndef SKEIN_CONFIG_LISTENERS_H
#define SKEIN_CONFIG_LISTENERS_H

#include <stddef.h>
#include <stdint.h>

#define SK_CONFIG_MAX_LISTENERS 16
#define SK_CONFIG_MAX_VOTERS 16
#define SK_CONFIG_NAME_MAX 64   /* listener names, with the NUL */
#define SK_CONFIG_HOST_MAX 256  /* host names and IP literals, with the NUL */

/* Values are Kafka's SecurityProtocol ids. */
enum sk_security_protocol {
    SK_SECURITY_PLAINTEXT = 0,
    SK_SECURITY_SSL = 1,
    SK_SECURITY_SASL_PLAINTEXT = 2,
    SK_SECURITY_SASL_SSL = 3,
};

struct sk_listener {
    char name[SK_CONFIG_NAME_MAX]; /* upper-cased, as Kafka normalises it */
    char host[SK_CONFIG_HOST_MAX]; /* "" means every interface; IPv6 without brackets */
    uint16_t port;                 /* 0: pick a free port (tests) */
    enum sk_security_protocol protocol;
};

struct sk_voter {
    int32_t id;
    char host[SK_CONFIG_HOST_MAX];
    uint16_t port;
};

/* Parses a listener list into out[max]. Protocols are left PLAINTEXT; see
 * sk_listeners_resolve_protocols. Returns the count, or -EINVAL with err
 * naming the bad entry (also for duplicate names or too many entries). */
int sk_listeners_parse(const char *value, struct sk_listener *out, size_t max,
                       char *err, size_t errlen);

/* Looks each listener's name up in a listener.security.protocol.map value.
 * Returns 0, or -EINVAL naming a listener missing from the map. */
int sk_listeners_resolve_protocols(struct sk_listener *ls, size_t n, const char *map,
                                   char *err, size_t errlen);

/* Checks a protocol map. Returns 0 or -EINVAL with err set. */
int sk_protocol_map_check(const char *map, char *err, size_t errlen);
/* Looks a listener name up (case-insensitively); -1 if absent. */
int sk_protocol_map_lookup(const char *map, const char *listener_name);
/* Kafka's protocol names ("SASL_SSL"); -1 / NULL if unknown. */
int sk_security_protocol_parse(const char *name, size_t len);
const char *sk_security_protocol_name(enum sk_security_protocol p);

/* Parses "id@host:port,...". Returns the count or -EINVAL with err set. */
int sk_voters_parse(const char *value, struct sk_voter *out, size_t max,
                    char *err, size_t errlen);

#endif
