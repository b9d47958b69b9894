/* The broker's configuration: server.properties plus --override arguments
 * plus dynamic (runtime) settings, resolved into typed fields, and the
 * per-topic configuration derived from it. There is no global instance: the
 * broker owns one struct sk_config and hands it (or copies of its fields) to
 * the parts that need them. Not thread-safe; whoever owns it applies changes
 * and tells the shards. */
#ifndef SKEIN_CONFIG_H
#define SKEIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skein/config_defs.h"
#include "skein/config_listeners.h"
#include "skein/config_properties.h"
#include "skein/logging.h"

/* Values are DescribeConfigs' ConfigSource codes. */
enum sk_config_source {
    SK_CONFIG_SOURCE_UNKNOWN = 0,
    SK_CONFIG_SOURCE_TOPIC = 1,
    SK_CONFIG_SOURCE_DYNAMIC_BROKER = 2,
    SK_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3,
    SK_CONFIG_SOURCE_STATIC_BROKER = 4,
    SK_CONFIG_SOURCE_DEFAULT = 5,
};

/* Non-negative values are RecordBatch codec ids (enum sk_compression). */
enum sk_topic_compression {
    SK_TOPIC_COMPRESSION_PRODUCER = -1,
    SK_TOPIC_COMPRESSION_UNCOMPRESSED = 0,
    SK_TOPIC_COMPRESSION_GZIP = 1,
    SK_TOPIC_COMPRESSION_SNAPPY = 2,
    SK_TOPIC_COMPRESSION_LZ4 = 3,
    SK_TOPIC_COMPRESSION_ZSTD = 4,
};

/* Values match the RecordBatch timestamp-type attribute bit. */
enum sk_timestamp_type {
    SK_TIMESTAMP_CREATE_TIME = 0,
    SK_TIMESTAMP_LOG_APPEND_TIME = 1,
};

/* A topic's effective log settings (Kafka's LogConfig). */
struct sk_topic_config {
    int64_t retention_ms;          /* -1: forever */
    int64_t retention_bytes;       /* -1: no limit */
    int64_t local_retention_ms;    /* -2: same as retention_ms */
    int64_t local_retention_bytes; /* -2: same as retention_bytes */
    int32_t segment_bytes;
    int64_t segment_ms;
    int64_t segment_jitter_ms;
    int32_t segment_index_bytes;
    int32_t index_interval_bytes;
    int64_t flush_messages;
    int64_t flush_ms;
    int32_t max_message_bytes;
    bool cleanup_delete;
    bool cleanup_compact;
    enum sk_topic_compression compression;
    int32_t gzip_level, lz4_level, zstd_level;
    enum sk_timestamp_type timestamp_type;
    /* Already folded with the deprecated message.timestamp.difference.max.ms. */
    int64_t timestamp_before_max_ms;
    int64_t timestamp_after_max_ms;
    int64_t delete_retention_ms;
    int64_t min_compaction_lag_ms;
    int64_t max_compaction_lag_ms;
    int64_t file_delete_delay_ms;
    double min_cleanable_dirty_ratio;
    int32_t min_insync_replicas;
    bool unclean_leader_election;
    bool preallocate;
    bool message_downconversion;
    bool remote_storage;
};

/* A max.connections.per.ip.overrides entry, its host resolved to an
 * address in IPv6 form (IPv4 as ::ffff:a.b.c.d). */
struct sk_config_ip_limit {
    uint8_t addr[16];
    int32_t max;
};

#define SK_ROLE_BROKER 0x1u
#define SK_ROLE_CONTROLLER 0x2u

struct sk_config {
    /* Layers, lowest precedence first after the built-in defaults. */
    struct sk_config_list static_props;    /* file + overrides */
    struct sk_config_list dynamic_default; /* cluster-wide dynamic */
    struct sk_config_list dynamic_broker;  /* this broker's dynamic */

    /* Load-time warnings (unknown keys ...), for the caller to log. */
    char **warnings;
    size_t n_warnings;

    int32_t node_id;
    unsigned process_roles; /* SK_ROLE_* */
    char *cluster_id;       /* NULL: generate when formatting */
    char *rack;             /* NULL: none */
    bool rack_aware_reads;  /* replica.selector.class is RackAwareReplicaSelector */
    int32_t num_shards;     /* 0: one per CPU */
    enum sk_log_level log_level;

    struct sk_listener listeners[SK_CONFIG_MAX_LISTENERS];
    size_t n_listeners;
    struct sk_listener advertised[SK_CONFIG_MAX_LISTENERS];
    size_t n_advertised;
    char controller_listener[SK_CONFIG_NAME_MAX];  /* first of controller.listener.names */
    char inter_broker_listener[SK_CONFIG_NAME_MAX];
    struct sk_voter voters[SK_CONFIG_MAX_VOTERS];
    size_t n_voters;
    /* A node of a KIP-853 quorum (controller.quorum.bootstrap.servers
     * without controller.quorum.voters): its voters are the log's, and
     * voters above only the set its metadata log held at start-up. */
    bool dynamic_quorum;

    char **log_dirs;
    size_t n_log_dirs;
    char *metadata_log_dir;

    struct {
        int32_t socket_request_max_bytes;
        int32_t socket_send_buffer_bytes;    /* -1: OS default */
        int32_t socket_receive_buffer_bytes; /* -1: OS default */
        int32_t socket_listen_backlog;
        int32_t max_connections;
        int32_t max_connections_per_ip;
        struct sk_config_ip_limit *ip_overrides; /* max.connections.per.ip.overrides */
        size_t n_ip_overrides;
        int64_t connections_max_idle_ms;
        int32_t queued_max_requests;
        int64_t queued_max_request_bytes; /* <= 0: no limit */
    } net;

    struct {
        int32_t num_partitions;
        int32_t default_replication_factor;
        bool auto_create_topics;
        bool delete_topic_enable;
        int32_t message_max_bytes;
        int32_t replica_fetch_max_bytes;
        int32_t fetch_max_bytes;
        int64_t retention_check_interval_ms;
        int64_t flush_scheduler_interval_ms;
        int32_t flush_offset_checkpoint_interval_ms;
        int64_t replica_high_watermark_checkpoint_interval_ms;
        bool cleaner_enable;
        int32_t cleaner_threads;
        int64_t cleaner_backoff_ms;
        int64_t cleaner_dedupe_buffer_size;
        int64_t replica_lag_time_max_ms;
        /* The follower's replica fetcher (src/replica/fetcher.c). */
        int32_t replica_fetch_min_bytes;
        int32_t replica_fetch_response_max_bytes;
        int32_t replica_fetch_wait_max_ms;
        int32_t replica_fetch_backoff_ms;
        int32_t num_replica_fetchers;
    } log;

    struct {
        int32_t num_partitions;
        int16_t replication_factor;
        int32_t segment_bytes;
        int64_t retention_ms; /* offsets.retention.minutes in ms */
        int64_t retention_check_interval_ms;
        int32_t metadata_max_bytes;
        int32_t commit_timeout_ms;
        int32_t load_buffer_size;
    } offsets;

    struct {
        int32_t initial_rebalance_delay_ms;
        int32_t min_session_timeout_ms;
        int32_t max_session_timeout_ms;
        int32_t max_size;
    } group;

    struct {
        int32_t window_num;          /* quota.window.num */
        int32_t window_size_seconds; /* quota.window.size.seconds */
    } quota;

    struct {
        int64_t leader_rate;         /* leader.replication.throttled.rate */
        int64_t follower_rate;       /* follower.replication.throttled.rate */
        int32_t window_num;          /* replication.quota.window.num */
        int32_t window_size_seconds; /* replication.quota.window.size.seconds */
    } replication_quota;

    struct {
        int32_t log_num_partitions;
        int16_t log_replication_factor;
        int32_t log_min_isr;
        int32_t log_segment_bytes;
        int32_t transactional_id_expiration_ms;
        int32_t max_timeout_ms;
        int32_t producer_id_expiration_ms;
        int32_t producer_id_expiration_check_ms;
        int32_t max_producers_per_partition;
        bool partition_verification;
    } txn;

    struct {
        int32_t log_segment_bytes;
        int64_t log_segment_ms;
        int64_t max_retention_bytes;
        int64_t max_retention_ms;
    } metadata;

    struct {
        int32_t max_partitions_per_shard;  /* -1: derived from fds and memory */
        bool metadata_truncate_unloadable; /* way out of an unloadable metadata log */
    } admission;

    /* What a topic without overrides gets. */
    struct sk_topic_config topic_defaults;
};

/* Loads the configuration: path's properties (or, when path is NULL, the
 * built-in single-node default: node 1 as broker and controller on
 * localhost:9092/9093, data in ./data), then overrides ("key=value", later
 * wins). Unknown keys become warnings; a bad value fails with err naming the
 * key and value. Returns SK_ERR_NONE, SK_ERR_INVALID_CONFIG, or a negative
 * errno (unreadable file, -ENOMEM). On failure cfg holds nothing to free. */
int sk_config_load(struct sk_config *cfg, const char *path_or_null,
                   const char *const *overrides, int n_overrides,
                   char *err, size_t errlen);
void sk_config_free(struct sk_config *cfg);

/* The built-in default, as properties text. */
const char *sk_config_default_properties(void);

/* One key as DescribeConfigs reports it. value is NULL when the key has no
 * value (Kafka's null) or is sensitive; pointers live until the next change
 * to cfg. */
struct sk_config_value {
    const struct sk_config_def *def;
    const char *name;
    const char *value;
    enum sk_config_source source;
    bool read_only;
    bool sensitive;
    char buf[24]; /* value may point here (unit-converted synonyms): do not copy */
};

/* Effective value of a broker key. Returns 0, or -ENOENT for unknown keys. */
int sk_config_describe_broker(const struct sk_config *cfg, const char *name,
                              struct sk_config_value *out);
/* Effective value of a topic key given the topic's overrides. 0 or -ENOENT. */
int sk_config_describe_topic(const struct sk_config *cfg,
                             const struct sk_config_entry *overrides, size_t n_overrides,
                             const char *name, struct sk_config_value *out);
/* Synonyms in precedence order (DescribeConfigs include_synonyms): every
 * layer that sets the key or, for topic keys, one of its broker synonyms,
 * ending with the default. Writes up to max entries, returns how many exist. */
size_t sk_config_broker_synonyms(const struct sk_config *cfg, const char *name,
                                 struct sk_config_value *out, size_t max);
size_t sk_config_topic_synonyms(const struct sk_config *cfg,
                                const struct sk_config_entry *overrides, size_t n_overrides,
                                const char *name, struct sk_config_value *out, size_t max);

/* A topic's effective config: overrides on top of the broker's values for
 * the synonyms, on top of Kafka's defaults. Unknown names and bad values are
 * SK_ERR_INVALID_CONFIG with err set (as CreateTopics/AlterConfigs answer). */
int sk_topic_config_resolve(const struct sk_config *cfg,
                            const struct sk_config_entry *overrides, size_t n_overrides,
                            struct sk_topic_config *out, char *err, size_t errlen);

enum sk_config_scope {
    SK_CONFIG_SCOPE_BROKER,  /* this broker only (resource name = node id) */
    SK_CONFIG_SCOPE_DEFAULT, /* cluster-wide default (empty resource name) */
};

/* Kafka's DynamicBrokerConfig.validateConfigs over the keys one request
 * sets (values[i] NULL: removed, not checked): read-only keys, then SSL key
 * store keys without a listener prefix, then bad values, then (at the
 * cluster default) per-broker keys are SK_ERR_INVALID_CONFIG with err in
 * Kafka's words ("Cannot update these configs dynamically: Set(a, b)").
 * Names Kafka does not define pass: a broker resource may hold them. */
int sk_config_check_dynamic_keys(enum sk_config_scope scope, const char *const *names,
                                 const char *const *values, size_t n, char *err, size_t errlen);
/* Sets (value non-NULL) or removes (value NULL) a dynamic broker setting and
 * re-resolves the typed fields. What sk_config_check_dynamic_keys refuses,
 * and values breaking a rule across keys, are SK_ERR_INVALID_CONFIG with err
 * set and cfg unchanged; unknown names are stored. Returns SK_ERR_NONE or
 * -ENOMEM. */
int sk_config_set_dynamic(struct sk_config *cfg, enum sk_config_scope scope,
                          const char *name, const char *value, char *err, size_t errlen);
/* Only checks what sk_config_set_dynamic would (for validate_only requests). */
int sk_config_check_dynamic(const struct sk_config *cfg, enum sk_config_scope scope,
                            const char *name, const char *value, char *err, size_t errlen);

/* The running values Kafka's reconfigurable components (log cleaner, thread
 * pools) judge a change against, copied so they outlive the change. */
#define SK_CONFIG_SNAP_KEYS 12
#define SK_CONFIG_SNAP_LEN 64
struct sk_config_snapshot {
    char v[SK_CONFIG_SNAP_KEYS][SK_CONFIG_SNAP_LEN];
};
void sk_config_snapshot(const struct sk_config *cfg, struct sk_config_snapshot *s);
/* Kafka's validateReconfiguration of those components between the values in
 * before and cfg now: a thread count more than halved or doubled in one
 * step, or a log cleaner left without threads, is SK_ERR_INVALID_CONFIG with
 * Kafka's wrapped message. */
int sk_config_check_reconfigure(const struct sk_config_snapshot *before,
                                const struct sk_config *after, char *err, size_t errlen);

/* Listener lookups by (upper-case) name; NULL if absent. */
const struct sk_listener *sk_config_listener(const struct sk_config *cfg, const char *name);
const struct sk_listener *sk_config_advertised(const struct sk_config *cfg, const char *name);
bool sk_config_is_controller_listener(const struct sk_config *cfg, const char *name);

/* Whether the node's metadata quorum runs on the wire: every quorum but that
 * of a combined node (broker and controller) that is its static quorum's
 * only voter, which commits locally and serves no one else's Raft. A
 * controller-only sole voter serves its brokers, a broker follows its
 * controllers, and a KIP-853 quorum may grow at any time. */
bool sk_config_quorum_on_wire(const struct sk_config *cfg);

#endif
