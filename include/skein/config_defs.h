/* The catalogue of configuration keys Skein knows: Kafka's broker and topic
 * config names with their types, defaults, valid values, importance, update
 * mode and documentation, plus the checks that turn a bad value into
 * INVALID_CONFIG with Kafka's wording. */
#ifndef SKEIN_CONFIG_DEFS_H
#define SKEIN_CONFIG_DEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values are DescribeConfigs' ConfigType codes, so handlers can send them. */
enum sk_config_type {
    SK_CONFIG_UNKNOWN = 0, /* a key Kafka does not define */
    SK_CONFIG_BOOLEAN = 1,
    SK_CONFIG_STRING = 2,
    SK_CONFIG_INT = 3,
    SK_CONFIG_SHORT = 4,
    SK_CONFIG_LONG = 5,
    SK_CONFIG_DOUBLE = 6,
    SK_CONFIG_LIST = 7,
    SK_CONFIG_CLASS = 8,
    SK_CONFIG_PASSWORD = 9,
};

enum sk_config_importance { SK_CONFIG_HIGH, SK_CONFIG_MEDIUM, SK_CONFIG_LOW };

/* Kafka's "Dynamic Update Mode" column; topic keys are always per-topic. */
enum sk_config_update_mode {
    SK_CONFIG_READ_ONLY,
    SK_CONFIG_PER_BROKER,
    SK_CONFIG_CLUSTER_WIDE,
    SK_CONFIG_PER_TOPIC,
};

/* How a value is checked beyond its type. */
enum sk_config_check {
    SK_CHECK_NONE,
    SK_CHECK_RANGE,      /* number within [min, max] (either bound optional) */
    SK_CHECK_ONE_OF,     /* string equal to one of choices */
    SK_CHECK_ONE_OF_CI,  /* same, ignoring case */
    SK_CHECK_LIST_OF,    /* every list item one of choices */
    SK_CHECK_LISTENERS,  /* NAME://host:port list */
    SK_CHECK_PROTOCOL_MAP, /* NAME:PROTOCOL list */
    SK_CHECK_VOTERS,     /* id@host:port list */
    SK_CHECK_NO_DUPLICATES, /* non-empty list items, none repeated */
    SK_CHECK_THROTTLED_REPLICAS, /* "*" or partition:broker pairs */
    SK_CHECK_NON_EMPTY,  /* Kafka's NonEmptyString */
    SK_CHECK_GZIP_LEVEL, /* 1 to 9, or -1 */
};

/* A broker key a topic key falls back to, and the factor turning its unit
 * into the topic key's (log.retention.hours -> retention.ms is 3600000). */
struct sk_config_synonym {
    const char *name;
    int64_t factor;
};

#define SK_CONFIG_MAX_SYNONYMS 3

/* Key is known to Kafka and accepted, but Skein does not act on it. */
#define SK_CONFIG_F_IGNORED 0x1u
/* Deprecated in Kafka 3.9; still honoured where it makes sense. */
#define SK_CONFIG_F_DEPRECATED 0x2u
/* Not a KafkaConfig key but one DynamicConfig.Broker adds (the replication
 * throttles): settable only through AlterConfigs, unknown to server.properties,
 * described only when set, and then read-only as Kafka shows it. */
#define SK_CONFIG_F_DYNAMIC_ONLY 0x4u

struct sk_config_def {
    const char *name;
    enum sk_config_type type;
    const char *default_value; /* NULL: no default (Kafka's null) */
    enum sk_config_check check;
    bool has_min, has_max;
    int64_t min, max;
    const char *const *choices; /* NULL-terminated, for ONE_OF/LIST_OF */
    enum sk_config_importance importance;
    enum sk_config_update_mode update_mode;
    unsigned flags;
    /* Topic keys only: broker keys supplying the default, in precedence order. */
    struct sk_config_synonym synonyms[SK_CONFIG_MAX_SYNONYMS];
    const char *doc;
};

/* Kafka treats a key of unknown type as sensitive, to be safe. */
static inline bool sk_config_def_sensitive(const struct sk_config_def *def)
{
    return def->type == SK_CONFIG_PASSWORD || def->type == SK_CONFIG_UNKNOWN;
}

const struct sk_config_def *sk_broker_config_defs(size_t *n);
const struct sk_config_def *sk_topic_config_defs(size_t *n);
/* NULL if the name is unknown. */
const struct sk_config_def *sk_broker_config_find(const char *name);
const struct sk_config_def *sk_topic_config_find(const char *name);

/* Kafka's names for the enums above ("INT", "HIGH", "cluster-wide"). */
const char *sk_config_type_name(enum sk_config_type type);
const char *sk_config_importance_name(enum sk_config_importance importance);
const char *sk_config_update_mode_name(enum sk_config_update_mode mode);

/* Checks value (NULL meaning "no value") against def. Returns SK_ERR_NONE, or
 * SK_ERR_INVALID_CONFIG with err set to Kafka's wording, e.g.
 * "Invalid value -5 for configuration retention.ms: Value must be at least -1". */
int sk_config_def_validate(const struct sk_config_def *def, const char *value,
                           char *err, size_t errlen);
/* Same, looking the name up first; an unknown name is INVALID_CONFIG too. */
int sk_broker_config_validate(const char *name, const char *value, char *err, size_t errlen);
int sk_topic_config_validate(const char *name, const char *value, char *err, size_t errlen);

/* Typed readers for already-validated text (Kafka trims before parsing).
 * Each returns 0, or -EINVAL if the text is not of that type. */
int sk_config_parse_bool(const char *s, bool *out);
int sk_config_parse_long(const char *s, int64_t *out);
int sk_config_parse_int(const char *s, int32_t *out);
int sk_config_parse_short(const char *s, int16_t *out);
int sk_config_parse_double(const char *s, double *out);

/* Iterates a comma-separated list the way Kafka splits it: items trimmed,
 * a blank string is an empty list, "a,,b" has an empty middle item. */
struct sk_config_items {
    const char *p;
    const char *end;
};
void sk_config_items_init(struct sk_config_items *it, const char *list);
bool sk_config_items_next(struct sk_config_items *it, const char **item, size_t *len);

#endif
