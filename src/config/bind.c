/* Turns the layered text values into the typed fields of struct sk_config.
 * Values were validated when they entered a layer, so the parsers here
 * cannot fail; what can fail is a rule spanning several keys. */
#include "internal.h"
#include "skein/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { I16, I32, I64, BOOL };

struct binding {
    const char *name;
    size_t off;
    enum kind kind;
};

#define B(n, field, k) {n, offsetof(struct sk_config, field), k}

static const struct binding bindings[] = {
    B("skein.num.shards", num_shards, I32),
    B("socket.request.max.bytes", net.socket_request_max_bytes, I32),
    B("socket.send.buffer.bytes", net.socket_send_buffer_bytes, I32),
    B("socket.receive.buffer.bytes", net.socket_receive_buffer_bytes, I32),
    B("socket.listen.backlog.size", net.socket_listen_backlog, I32),
    B("max.connections", net.max_connections, I32),
    B("max.connections.per.ip", net.max_connections_per_ip, I32),
    B("connections.max.idle.ms", net.connections_max_idle_ms, I64),
    B("queued.max.requests", net.queued_max_requests, I32),
    B("queued.max.request.bytes", net.queued_max_request_bytes, I64),
    B("skein.max.partitions.per.shard", admission.max_partitions_per_shard, I32),
    B("skein.metadata.log.truncate.unloadable", admission.metadata_truncate_unloadable, BOOL),
    B("num.partitions", log.num_partitions, I32),
    B("default.replication.factor", log.default_replication_factor, I32),
    B("auto.create.topics.enable", log.auto_create_topics, BOOL),
    B("delete.topic.enable", log.delete_topic_enable, BOOL),
    B("message.max.bytes", log.message_max_bytes, I32),
    B("replica.fetch.max.bytes", log.replica_fetch_max_bytes, I32),
    B("fetch.max.bytes", log.fetch_max_bytes, I32),
    B("log.retention.check.interval.ms", log.retention_check_interval_ms, I64),
    B("log.flush.scheduler.interval.ms", log.flush_scheduler_interval_ms, I64),
    B("log.flush.offset.checkpoint.interval.ms", log.flush_offset_checkpoint_interval_ms, I32),
    B("replica.high.watermark.checkpoint.interval.ms",
      log.replica_high_watermark_checkpoint_interval_ms, I64),
    B("log.cleaner.enable", log.cleaner_enable, BOOL),
    B("log.cleaner.threads", log.cleaner_threads, I32),
    B("log.cleaner.backoff.ms", log.cleaner_backoff_ms, I64),
    B("log.cleaner.dedupe.buffer.size", log.cleaner_dedupe_buffer_size, I64),
    B("replica.lag.time.max.ms", log.replica_lag_time_max_ms, I64),
    B("replica.fetch.min.bytes", log.replica_fetch_min_bytes, I32),
    B("replica.fetch.response.max.bytes", log.replica_fetch_response_max_bytes, I32),
    B("replica.fetch.wait.max.ms", log.replica_fetch_wait_max_ms, I32),
    B("replica.fetch.backoff.ms", log.replica_fetch_backoff_ms, I32),
    B("num.replica.fetchers", log.num_replica_fetchers, I32),
    B("offsets.topic.num.partitions", offsets.num_partitions, I32),
    B("offsets.topic.replication.factor", offsets.replication_factor, I16),
    B("offsets.topic.segment.bytes", offsets.segment_bytes, I32),
    B("offsets.retention.check.interval.ms", offsets.retention_check_interval_ms, I64),
    B("offset.metadata.max.bytes", offsets.metadata_max_bytes, I32),
    B("offsets.commit.timeout.ms", offsets.commit_timeout_ms, I32),
    B("offsets.load.buffer.size", offsets.load_buffer_size, I32),
    B("group.initial.rebalance.delay.ms", group.initial_rebalance_delay_ms, I32),
    B("group.min.session.timeout.ms", group.min_session_timeout_ms, I32),
    B("group.max.session.timeout.ms", group.max_session_timeout_ms, I32),
    B("group.max.size", group.max_size, I32),
    B("quota.window.num", quota.window_num, I32),
    B("quota.window.size.seconds", quota.window_size_seconds, I32),
    B("leader.replication.throttled.rate", replication_quota.leader_rate, I64),
    B("follower.replication.throttled.rate", replication_quota.follower_rate, I64),
    B("replication.quota.window.num", replication_quota.window_num, I32),
    B("replication.quota.window.size.seconds", replication_quota.window_size_seconds, I32),
    B("transaction.state.log.num.partitions", txn.log_num_partitions, I32),
    B("transaction.state.log.replication.factor", txn.log_replication_factor, I16),
    B("transaction.state.log.min.isr", txn.log_min_isr, I32),
    B("transaction.state.log.segment.bytes", txn.log_segment_bytes, I32),
    B("transactional.id.expiration.ms", txn.transactional_id_expiration_ms, I32),
    B("transaction.max.timeout.ms", txn.max_timeout_ms, I32),
    B("producer.id.expiration.ms", txn.producer_id_expiration_ms, I32),
    B("producer.id.expiration.check.interval.ms", txn.producer_id_expiration_check_ms, I32),
    B("skein.max.producers.per.partition", txn.max_producers_per_partition, I32),
    B("transaction.partition.verification.enable", txn.partition_verification, BOOL),
    B("metadata.log.segment.bytes", metadata.log_segment_bytes, I32),
    B("metadata.log.segment.ms", metadata.log_segment_ms, I64),
    B("metadata.max.retention.bytes", metadata.max_retention_bytes, I64),
    B("metadata.max.retention.ms", metadata.max_retention_ms, I64),
};

static const char *value_of(const struct sk_config *cfg, const char *name)
{
    enum sk_config_source src;
    return sk_config_broker_value(cfg, sk_broker_config_find(name), &src);
}

static bool is_set(const struct sk_config *cfg, const char *name)
{
    enum sk_config_source src;
    return sk_config_layer_value(cfg, name, &src) != NULL;
}

static void bind_scalars(struct sk_config *cfg)
{
    for (size_t i = 0; i < sizeof bindings / sizeof bindings[0]; i++) {
        const char *v = value_of(cfg, bindings[i].name);
        void *p = (char *)cfg + bindings[i].off;
        switch (bindings[i].kind) {
        case I16: sk_config_parse_short(v, p); break;
        case I32: sk_config_parse_int(v, p); break;
        case I64: sk_config_parse_long(v, p); break;
        case BOOL: sk_config_parse_bool(v, p); break;
        }
    }
    int32_t minutes = 0;
    sk_config_parse_int(value_of(cfg, "offsets.retention.minutes"), &minutes);
    cfg->offsets.retention_ms = (int64_t)minutes * 60000;
    int level = sk_log_level_parse(value_of(cfg, "skein.log.level"));
    cfg->log_level = level < 0 ? SK_LOG_INFO : (enum sk_log_level)level;
}

/* node.id and broker.id name the same thing; Kafka insists they agree. */
static int bind_identity(struct sk_config *cfg, char *err, size_t errlen)
{
    int32_t node = -1, broker = -1;
    sk_config_parse_int(value_of(cfg, "node.id"), &node);
    sk_config_parse_int(value_of(cfg, "broker.id"), &broker);
    if (is_set(cfg, "node.id") && is_set(cfg, "broker.id") && node != broker) {
        snprintf(err, errlen, "You must set `node.id` to the same value as `broker.id` "
                 "(node.id=%d, broker.id=%d)", (int)node, (int)broker);
        return SK_ERR_INVALID_CONFIG;
    }
    cfg->node_id = is_set(cfg, "node.id") ? node : broker;
    struct sk_config_items it;
    const char *s;
    size_t n;
    cfg->process_roles = 0;
    sk_config_items_init(&it, value_of(cfg, "process.roles"));
    while (sk_config_items_next(&it, &s, &n))
        cfg->process_roles |= n == 6 && memcmp(s, "broker", 6) == 0 ? SK_ROLE_BROKER
                                                                    : SK_ROLE_CONTROLLER;
    return SK_ERR_NONE;
}

static int dup_or_null(char **dst, const char *v)
{
    *dst = NULL;
    if (!v)
        return 0;
    struct sk_config_items it;
    sk_config_items_init(&it, v);
    size_t n = it.p ? (size_t)(it.end - it.p) : 0;
    *dst = n ? strndup(it.p, n) : NULL;
    return n && !*dst ? -ENOMEM : 0;
}

static int bind_dirs(struct sk_config *cfg)
{
    const char *dirs = value_of(cfg, "log.dirs");
    if (!dirs)
        dirs = value_of(cfg, "log.dir");
    struct sk_config_items it;
    const char *s;
    size_t n, count = 0;
    sk_config_items_init(&it, dirs);
    while (sk_config_items_next(&it, &s, &n))
        count++;
    cfg->log_dirs = calloc(count ? count : 1, sizeof *cfg->log_dirs);
    if (!cfg->log_dirs)
        return -ENOMEM;
    sk_config_items_init(&it, dirs);
    while (sk_config_items_next(&it, &s, &n)) {
        if (!(cfg->log_dirs[cfg->n_log_dirs] = strndup(s, n)))
            return -ENOMEM;
        cfg->n_log_dirs++;
    }
    return dup_or_null(&cfg->metadata_log_dir, value_of(cfg, "metadata.log.dir"));
}

static int bind_strings(struct sk_config *cfg)
{
    int rc = bind_dirs(cfg);
    if (rc == 0 && !cfg->metadata_log_dir && cfg->n_log_dirs &&
        !(cfg->metadata_log_dir = strdup(cfg->log_dirs[0])))
        rc = -ENOMEM;
    if (rc == 0)
        rc = dup_or_null(&cfg->cluster_id, value_of(cfg, "skein.cluster.id"));
    if (rc == 0)
        rc = dup_or_null(&cfg->rack, value_of(cfg, "broker.rack"));
    const char *sel = value_of(cfg, "replica.selector.class");
    cfg->rack_aware_reads =
        sel && strcmp(sel, "org.apache.kafka.common.replica.RackAwareReplicaSelector") == 0;
    return rc;
}

static void first_item(const char *list, char *out, size_t outlen)
{
    struct sk_config_items it;
    const char *s;
    size_t n;
    out[0] = '\0';
    sk_config_items_init(&it, list ? list : "");
    if (sk_config_items_next(&it, &s, &n) && n < outlen) {
        for (size_t i = 0; i < n; i++)
            out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
        out[n] = '\0';
    }
}

static int listener_error(char *err, size_t errlen, const char *key, const char *value,
                          const char *why)
{
    snprintf(err, errlen, "Invalid value %s for configuration %s: %s", value, key, why);
    return SK_ERR_INVALID_CONFIG;
}

/* Without advertised.listeners, clients are told the listeners that are not
 * the controller's (Kafka's effective advertised listeners). */
static void default_advertised(struct sk_config *cfg)
{
    cfg->n_advertised = 0;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (!sk_config_is_controller_listener(cfg, cfg->listeners[i].name))
            cfg->advertised[cfg->n_advertised++] = cfg->listeners[i];
}

static int bind_listeners(struct sk_config *cfg, char *err, size_t errlen)
{
    char why[256];
    const char *map = value_of(cfg, "listener.security.protocol.map");
    const char *ls = value_of(cfg, "listeners");
    int n = sk_listeners_parse(ls, cfg->listeners, SK_CONFIG_MAX_LISTENERS, why, sizeof why);
    if (n < 0 || sk_listeners_resolve_protocols(cfg->listeners, (size_t)n, map, why, sizeof why))
        return listener_error(err, errlen, "listeners", ls, why);
    cfg->n_listeners = (size_t)n;
    first_item(value_of(cfg, "controller.listener.names"), cfg->controller_listener,
               sizeof cfg->controller_listener);
    const char *adv = value_of(cfg, "advertised.listeners");
    if (!adv) {
        default_advertised(cfg);
    } else {
        n = sk_listeners_parse(adv, cfg->advertised, SK_CONFIG_MAX_LISTENERS, why, sizeof why);
        if (n < 0 || sk_listeners_resolve_protocols(cfg->advertised, (size_t)n, map, why, sizeof why))
            return listener_error(err, errlen, "advertised.listeners", adv, why);
        cfg->n_advertised = (size_t)n;
    }
    const char *ibl = value_of(cfg, "inter.broker.listener.name");
    first_item(ibl ? ibl : value_of(cfg, "security.inter.broker.protocol"),
               cfg->inter_broker_listener, sizeof cfg->inter_broker_listener);
    const char *voters = value_of(cfg, "controller.quorum.voters");
    n = sk_voters_parse(voters, cfg->voters, SK_CONFIG_MAX_VOTERS, why, sizeof why);
    if (n < 0)
        return listener_error(err, errlen, "controller.quorum.voters", voters, why);
    cfg->n_voters = (size_t)n;
    return SK_ERR_NONE;
}

void sk_config_free_typed(struct sk_config *cfg)
{
    for (size_t i = 0; i < cfg->n_log_dirs; i++)
        free(cfg->log_dirs[i]);
    free(cfg->log_dirs);
    free(cfg->metadata_log_dir);
    free(cfg->cluster_id);
    free(cfg->rack);
    free(cfg->net.ip_overrides);
    cfg->net.ip_overrides = NULL;
    cfg->net.n_ip_overrides = 0;
    cfg->log_dirs = NULL;
    cfg->n_log_dirs = 0;
    cfg->metadata_log_dir = cfg->cluster_id = cfg->rack = NULL;
}

int sk_config_resolve(struct sk_config *cfg, char *err, size_t errlen)
{
    cfg->log_dirs = NULL;
    cfg->n_log_dirs = 0;
    cfg->metadata_log_dir = cfg->cluster_id = cfg->rack = NULL;
    cfg->net.ip_overrides = NULL;
    cfg->net.n_ip_overrides = 0;
    bind_scalars(cfg);
    int rc = bind_identity(cfg, err, errlen);
    if (rc == SK_ERR_NONE)
        rc = bind_listeners(cfg, err, errlen);
    if (rc == SK_ERR_NONE && (rc = bind_strings(cfg)) == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    if (rc == SK_ERR_NONE)
        rc = sk_config_bind_ip_overrides(cfg, value_of(cfg, "max.connections.per.ip.overrides"),
                                         err, errlen);
    if (rc == SK_ERR_NONE)
        rc = sk_topic_config_resolve(cfg, NULL, 0, &cfg->topic_defaults, err, errlen);
    if (rc == SK_ERR_NONE)
        rc = sk_config_check_cross(cfg, err, errlen);
    if (rc != SK_ERR_NONE)
        sk_config_free_typed(cfg);
    return rc;
}
