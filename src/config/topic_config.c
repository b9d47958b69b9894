/* A topic's effective configuration: its own overrides, then the broker's
 * synonym keys (whatever layer set them), then Kafka's defaults. */
#include "internal.h"
#include "skein/errors.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char *override_of(const struct sk_config_entry *ov, size_t n, const char *name)
{
    for (size_t i = n; i-- > 0;) /* later entries win, as in a properties file */
        if (strcmp(ov[i].name, name) == 0)
            return ov[i].value;
    return NULL;
}

/* log.retention.* below zero all mean "forever" to Kafka, whatever the unit. */
static const char *convert(const struct sk_config_def *def, const struct sk_config_synonym *syn,
                           const char *v, char buf[24])
{
    bool retention = strcmp(def->name, "retention.ms") == 0;
    int64_t x;
    if ((syn->factor == 1 && !retention) || sk_config_parse_long(v, &x) < 0)
        return v;
    x = retention && x < 0 ? -1 : x * syn->factor;
    snprintf(buf, 24, "%" PRId64, x);
    return buf;
}

const char *sk_topic_value(const struct sk_config *cfg,
                           const struct sk_config_entry *overrides, size_t n_overrides,
                           const struct sk_config_def *def, enum sk_config_source *src,
                           char buf[24])
{
    const char *v = override_of(overrides, n_overrides, def->name);
    if (v) {
        *src = SK_CONFIG_SOURCE_TOPIC;
        return v;
    }
    for (int k = 0; k < SK_CONFIG_MAX_SYNONYMS && def->synonyms[k].name; k++) {
        const struct sk_config_def *bdef = sk_broker_config_find(def->synonyms[k].name);
        if (bdef && (v = sk_config_broker_value(cfg, bdef, src)))
            return convert(def, &def->synonyms[k], v, buf);
    }
    *src = SK_CONFIG_SOURCE_DEFAULT;
    return def->default_value;
}

enum kind { I32, I64, BOOL, DBL };

struct binding {
    const char *name;
    size_t off;
    enum kind kind;
};

#define B(n, field, k) {n, offsetof(struct sk_topic_config, field), k}

static const struct binding bindings[] = {
    B("retention.ms", retention_ms, I64),
    B("retention.bytes", retention_bytes, I64),
    B("local.retention.ms", local_retention_ms, I64),
    B("local.retention.bytes", local_retention_bytes, I64),
    B("segment.bytes", segment_bytes, I32),
    B("segment.ms", segment_ms, I64),
    B("segment.jitter.ms", segment_jitter_ms, I64),
    B("segment.index.bytes", segment_index_bytes, I32),
    B("index.interval.bytes", index_interval_bytes, I32),
    B("flush.messages", flush_messages, I64),
    B("flush.ms", flush_ms, I64),
    B("max.message.bytes", max_message_bytes, I32),
    B("compression.gzip.level", gzip_level, I32),
    B("compression.lz4.level", lz4_level, I32),
    B("compression.zstd.level", zstd_level, I32),
    B("message.timestamp.before.max.ms", timestamp_before_max_ms, I64),
    B("message.timestamp.after.max.ms", timestamp_after_max_ms, I64),
    B("delete.retention.ms", delete_retention_ms, I64),
    B("min.compaction.lag.ms", min_compaction_lag_ms, I64),
    B("max.compaction.lag.ms", max_compaction_lag_ms, I64),
    B("file.delete.delay.ms", file_delete_delay_ms, I64),
    B("min.cleanable.dirty.ratio", min_cleanable_dirty_ratio, DBL),
    B("min.insync.replicas", min_insync_replicas, I32),
    B("unclean.leader.election.enable", unclean_leader_election, BOOL),
    B("preallocate", preallocate, BOOL),
    B("message.downconversion.enable", message_downconversion, BOOL),
    B("remote.storage.enable", remote_storage, BOOL),
};

/* Values were validated on the way in, so parsing cannot fail here. */
static void store(void *base, const struct binding *b, const char *v)
{
    char *p = (char *)base + b->off;
    switch (b->kind) {
    case I32: sk_config_parse_int(v, (int32_t *)(void *)p); break;
    case I64: sk_config_parse_long(v, (int64_t *)(void *)p); break;
    case BOOL: sk_config_parse_bool(v, (bool *)(void *)p); break;
    case DBL: sk_config_parse_double(v, (double *)(void *)p); break;
    }
}

/* Config text is compared trimmed, as Kafka trims before using it. */
static bool text_is(const char *v, const char *word)
{
    struct sk_config_items it;
    sk_config_items_init(&it, v);
    size_t n = it.p ? (size_t)(it.end - it.p) : 0;
    return n == strlen(word) && strncmp(it.p, word, n) == 0;
}

static enum sk_topic_compression compression_of(const char *v)
{
    static const char *const names[] = {"uncompressed", "gzip", "snappy", "lz4", "zstd"};
    for (int i = 0; i < 5; i++)
        if (text_is(v, names[i]))
            return (enum sk_topic_compression)i;
    return SK_TOPIC_COMPRESSION_PRODUCER;
}

static void cleanup_of(const char *v, struct sk_topic_config *out)
{
    struct sk_config_items it;
    const char *s;
    size_t n;
    out->cleanup_delete = out->cleanup_compact = false;
    sk_config_items_init(&it, v);
    while (sk_config_items_next(&it, &s, &n)) {
        out->cleanup_delete |= n == 6 && strncmp(s, "delete", 6) == 0;
        out->cleanup_compact |= n == 7 && strncmp(s, "compact", 7) == 0;
    }
}

static int check_overrides(const struct sk_config_entry *ov, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sk_topic_config_validate(ov[i].name, ov[i].value, err, errlen);
        if (rc != SK_ERR_NONE)
            return rc;
    }
    return SK_ERR_NONE;
}

/* The deprecated difference limit still applies in a direction whose own
 * limit is left at "no limit", as Kafka 3.6+ does. */
static void fold_timestamp_difference(const struct sk_config *cfg,
                                      const struct sk_config_entry *ov, size_t n,
                                      struct sk_topic_config *out)
{
    const struct sk_config_def *def = sk_topic_config_find("message.timestamp.difference.max.ms");
    enum sk_config_source src;
    char buf[24];
    int64_t diff = INT64_MAX;
    sk_config_parse_long(sk_topic_value(cfg, ov, n, def, &src, buf), &diff);
    if (out->timestamp_before_max_ms == INT64_MAX)
        out->timestamp_before_max_ms = diff;
    if (out->timestamp_after_max_ms == INT64_MAX)
        out->timestamp_after_max_ms = diff;
}

int sk_topic_config_resolve(const struct sk_config *cfg,
                            const struct sk_config_entry *overrides, size_t n_overrides,
                            struct sk_topic_config *out, char *err, size_t errlen)
{
    int rc = check_overrides(overrides, n_overrides, err, errlen);
    if (rc != SK_ERR_NONE)
        return rc;
    enum sk_config_source src;
    char buf[24];
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof bindings / sizeof bindings[0]; i++) {
        const struct sk_config_def *def = sk_topic_config_find(bindings[i].name);
        store(out, &bindings[i], sk_topic_value(cfg, overrides, n_overrides, def, &src, buf));
    }
#define TOPIC_VALUE(name) \
    sk_topic_value(cfg, overrides, n_overrides, sk_topic_config_find(name), &src, buf)
    out->compression = compression_of(TOPIC_VALUE("compression.type"));
    cleanup_of(TOPIC_VALUE("cleanup.policy"), out);
    out->timestamp_type = text_is(TOPIC_VALUE("message.timestamp.type"), "LogAppendTime")
                              ? SK_TIMESTAMP_LOG_APPEND_TIME : SK_TIMESTAMP_CREATE_TIME;
#undef TOPIC_VALUE
    fold_timestamp_difference(cfg, overrides, n_overrides, out);
    if (out->min_compaction_lag_ms > out->max_compaction_lag_ms) {
        snprintf(err, errlen, "conflict topic config setting min.compaction.lag.ms (%" PRId64
                 ") > max.compaction.lag.ms (%" PRId64 ")",
                 out->min_compaction_lag_ms, out->max_compaction_lag_ms);
        return SK_ERR_INVALID_CONFIG;
    }
    return SK_ERR_NONE;
}
