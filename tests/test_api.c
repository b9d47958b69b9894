/* Controller logic behind the admin APIs, on a broker with a real metadata
 * log in a temporary folder (no network). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/kp_all.h"
#include "skein/broker.h"
#include "skein/checkpoints.h"
#include "skein/config.h"
#include "skein/controller.h"
#include "skein/errors.h"
#include "skein/metalog.h"
#include "skein/partition.h"
#include "skein/plog.h"
#include "skein/producer_state.h"
#include "skein/publisher.h"
#include "skein/record.h"
#include "skein/submit.h"

#include "deferred_syncer.h"

static char dir[64];
static struct sk_config cfg;
static struct sk_node bnode;
static struct sk_broker b;
static struct sk_broker *shard_list[1] = {&b};
static char msg[512];

/* What the server subscribes a shard with: partitions follow the image. */
static int follow_image(struct sk_broker *shard, const struct sk_meta_image *old)
{
    (void)old;
    return sk_broker_metadata_changed(shard);
}

static void open_broker(void)
{
    char logdirs[128];
    snprintf(logdirs, sizeof logdirs, "log.dirs=%s", dir);
    const char *ov[] = {logdirs};
    char err[256];
    cr_assert_eq(sk_config_load(&cfg, NULL, ov, 1, err, sizeof err), 0, "%s", err);
    memset(&b, 0, sizeof b);
    memset(&bnode, 0, sizeof bnode);
    b.node = &bnode;
    b.image = &bnode.image;
    bnode.cfg = &cfg;
    b.cfg = &cfg;
    bnode.node_id = cfg.node_id;
    bnode.subscriber = follow_image;
    /* One shard, as a node runs by default: it writes the checkpoints. */
    bnode.shards = shard_list;
    bnode.nshards = 1;
    sk_meta_image_init(b.image);
    cr_assert_eq(sk_metalog_open(dir, b.image, sk_wall_ms(), &bnode.metalog), 0);
    cr_assert_geq(sk_controller_apply_dynamic_configs(&b), 0);
    kp_register_broker_record r;
    kp_register_broker_record_init(&r);
    r.broker_id = bnode.node_id;
    r.fenced = false;
    struct sk_meta_rec rec = {SK_META_REGISTER_BROKER, 0, &r};
    cr_assert_eq(sk_metalog_append(bnode.metalog, b.image, &rec, 1, sk_wall_ms()), 0);
    cr_assert_eq(sk_checkpoints_open(&bnode), 0);
}

static void close_broker(void)
{
    sk_partitions_close_all(&b);
    cr_assert_eq(sk_checkpoints_write_final(&bnode), 0);
    sk_checkpoints_close(&bnode);
    free(b.parts);
    b.parts = NULL;
    b.nparts = 0;
    sk_ctl_submit_close(&bnode);
    sk_metalog_close(bnode.metalog);
    sk_publish_close(&b);
    sk_publish_node_close(&bnode);
    sk_meta_image_free(&bnode.image);
    sk_config_free(&cfg);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/skein-api-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    open_broker();
}

static void teardown(void)
{
    close_broker();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static int16_t create(const char *name, int32_t parts, int16_t rf, const char *k, const char *v)
{
    kp_str kn = kp_str_c(k), kv = kp_str_c(v);
    struct sk_topic_spec s = {.name = kp_str_c(name), .partitions = parts,
                              .replication_factor = rf, .config_names = &kn,
                              .config_values = &kv, .nconfigs = k ? 1 : 0};
    return sk_topic_create(&b, &s, false, msg, sizeof msg);
}

TestSuite(admin, .init = setup, .fini = teardown);

Test(admin, create_validates_before_writing)
{
    cr_assert_eq(create("t", 3, 1, "retention.ms", "1000"), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(create("t", 1, 1, NULL, NULL), SK_ERR_TOPIC_ALREADY_EXISTS);
    cr_assert_eq(create("u", 1, 2, NULL, NULL), SK_ERR_INVALID_REPLICATION_FACTOR);
    cr_assert_eq(create("u", 0, 1, NULL, NULL), SK_ERR_INVALID_PARTITIONS);
    cr_assert_eq(create("u", 1, 1, "retention.ms", "-5"), SK_ERR_INVALID_CONFIG);
    cr_assert(strstr(msg, "Value must be at least -1"), "%s", msg);
    cr_assert_eq(create("u", 1, 1, "nope", "1"), SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(msg, "Unknown topic config name: nope");
    cr_assert_eq(create("a.b", 1, 1, NULL, NULL), SK_ERR_NONE);
    cr_assert_eq(create("a_b", 1, 1, NULL, NULL), SK_ERR_INVALID_TOPIC_EXCEPTION);
    cr_assert_eq(b.image->ntopics, 2);
    cr_assert_str_eq(sk_kvlist_get(&b.image->topics[0]->configs, "retention.ms"), "1000");
}

Test(admin, manual_assignments_are_checked)
{
    int32_t one = bnode.node_id, two[] = {bnode.node_id, bnode.node_id}, other = 99;
    struct sk_replica_assignment a[] = {{0, {1, &one}}, {1, {1, &one}}};
    struct sk_topic_spec s = {.name = kp_str_c("m"), .partitions = -1, .replication_factor = -1,
                              .assignments = a, .nassignments = 2};
    struct sk_topic_created out;
    cr_assert_eq(sk_topic_create_ex(&b, &s, false, &out, msg, sizeof msg), SK_ERR_NONE, "%s", msg);
    cr_assert_eq(out.partitions, 2);
    a[1] = (struct sk_replica_assignment){1, {2, two}};
    s.name = kp_str_c("m2");
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_INVALID_REPLICA_ASSIGNMENT);
    a[1] = (struct sk_replica_assignment){1, {1, &other}};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_INVALID_REPLICA_ASSIGNMENT);
    cr_assert(strstr(msg, "broker 99"), "%s", msg);
    a[1] = (struct sk_replica_assignment){0, {1, &one}};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_INVALID_REPLICA_ASSIGNMENT);
    a[1] = (struct sk_replica_assignment){5, {1, &one}};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_INVALID_REPLICA_ASSIGNMENT);
    s.partitions = 2;
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_INVALID_REQUEST);
}

Test(admin, partitions_grow_only)
{
    cr_assert_eq(create("p", 2, 1, NULL, NULL), SK_ERR_NONE);
    cr_assert_eq(sk_partitions_add(&b, kp_str_c("p"), 2, NULL, -1, false, msg, sizeof msg),
                 SK_ERR_INVALID_PARTITIONS);
    cr_assert_eq(sk_partitions_add(&b, kp_str_c("p"), 1, NULL, -1, false, msg, sizeof msg),
                 SK_ERR_INVALID_PARTITIONS);
    cr_assert_eq(sk_partitions_add(&b, kp_str_c("p"), 4, NULL, -1, true, msg, sizeof msg),
                 SK_ERR_NONE);
    cr_assert_eq(b.image->topics[0]->npartitions, 2, "validate_only changed nothing");
    cr_assert_eq(sk_partitions_add(&b, kp_str_c("p"), 4, NULL, -1, false, msg, sizeof msg),
                 SK_ERR_NONE, "%s", msg);
    cr_assert_eq(b.image->topics[0]->npartitions, 4);
    cr_assert_eq(sk_partitions_add(&b, kp_str_c("zz"), 4, NULL, -1, false, msg, sizeof msg),
                 SK_ERR_UNKNOWN_TOPIC_OR_PARTITION);
}

Test(admin, delete_removes_topic_and_configs)
{
    cr_assert_eq(create("d", 1, 1, "retention.ms", "5"), SK_ERR_NONE);
    kp_uuid id = b.image->topics[0]->id;
    cr_assert_eq(sk_topics_delete(&b, &id, 1, msg, sizeof msg), SK_ERR_NONE);
    cr_assert_eq(b.image->ntopics, 0);
    cr_assert_eq(create("d", 1, 1, NULL, NULL), SK_ERR_NONE);
    cr_assert_eq(b.image->topics[0]->configs.n, 0);
}

/* Read anew after every change: a commit publishes a new image, and the one
 * read before it keeps the configs it was published with. */
static const struct sk_kvlist *first_topic_configs(void)
{
    return &b.image->topics[0]->configs;
}

static int16_t alter(int8_t type, const char *res, const char *k, int8_t op, const char *v,
                     bool replace, bool validate_only)
{
    struct sk_config_op o = {kp_str_c(k), op, kp_str_c(v)};
    return sk_configs_alter(&b, type, kp_str_c(res), &o, 1, replace, validate_only, false, msg,
                            sizeof msg);
}

Test(admin, topic_config_operations)
{
    cr_assert_eq(create("c", 1, 1, "cleanup.policy", "compact"), SK_ERR_NONE);
    cr_assert_eq(alter(2, "c", "cleanup.policy", SK_CONFIG_OP_APPEND, "delete", false, false), 0);
    cr_assert_str_eq(sk_kvlist_get(first_topic_configs(), "cleanup.policy"), "compact,delete");
    cr_assert_eq(alter(2, "c", "cleanup.policy", SK_CONFIG_OP_SUBTRACT, "compact", false, false), 0);
    cr_assert_str_eq(sk_kvlist_get(first_topic_configs(), "cleanup.policy"), "delete");
    cr_assert_eq(alter(2, "c", "retention.ms", SK_CONFIG_OP_APPEND, "1", false, false),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_eq(alter(2, "c", "retention.ms", SK_CONFIG_OP_SET, "-5", false, false),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_eq(alter(2, "c", "retention.ms", SK_CONFIG_OP_SET, "7", false, true), 0);
    cr_assert_null(sk_kvlist_get(first_topic_configs(), "retention.ms"), "validate_only wrote nothing");
    cr_assert_eq(alter(2, "c", "retention.ms", 7, "7", false, false), SK_ERR_INVALID_REQUEST);
    cr_assert_eq(alter(2, "c", "retention.ms", SK_CONFIG_OP_SET, NULL, false, false),
                 SK_ERR_INVALID_REQUEST);
    /* AlterConfigs replaces the whole set. */
    cr_assert_eq(alter(2, "c", "retention.ms", SK_CONFIG_OP_SET, "9", true, false), 0);
    cr_assert_str_eq(sk_kvlist_get(first_topic_configs(), "retention.ms"), "9");
    cr_assert_null(sk_kvlist_get(first_topic_configs(), "cleanup.policy"));
    cr_assert_eq(alter(2, "nope", "retention.ms", SK_CONFIG_OP_SET, "9", false, false),
                 SK_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    cr_assert_eq(alter(2, "", "retention.ms", SK_CONFIG_OP_SET, "9", false, false),
                 SK_ERR_INVALID_REQUEST);
}

Test(admin, broker_configs_apply_live_and_after_restart)
{
    cr_assert_eq(alter(4, "", "log.retention.ms", SK_CONFIG_OP_SET, "1234", false, false), 0,
                 "%s", msg);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 1234);
    cr_assert_eq(alter(4, "1", "log.retention.ms", SK_CONFIG_OP_SET, "999", false, true), 0);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 1234, "validate_only left cfg alone");
    cr_assert_eq(alter(4, "2", "log.retention.ms", SK_CONFIG_OP_SET, "1", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_str_eq(msg, "Unexpected broker id, expected 1, but received 2");
    cr_assert_eq(alter(4, "x", "log.retention.ms", SK_CONFIG_OP_SET, "1", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_eq(alter(4, "1", "log.dirs", SK_CONFIG_OP_SET, "/x", false, false),
                 SK_ERR_INVALID_REQUEST);
    close_broker();
    open_broker();
    cr_assert_eq(cfg.topic_defaults.retention_ms, 1234, "re-applied from the metadata log");
}

/* Kafka 3.9's answers for broker keys (ConfigAdminManager before the
 * controller): every Kafka key is known, unknown names are stored, and the
 * refusals are INVALID_REQUEST in Kafka's words. */
Test(admin, broker_configs_follow_kafka_rules)
{
    const char *k = "sasl.kerberos.min.time.before.relogin";
    cr_assert_eq(alter(4, "1", k, SK_CONFIG_OP_SET, "30000", false, false), 0, "%s", msg);
    cr_assert_str_eq(sk_kvlist_get(sk_meta_broker_configs(b.image, b.node->node_id), k), "30000");
    cr_assert_eq(alter(4, "", k, SK_CONFIG_OP_SET, "30000", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_str_eq(msg, "Cannot update these configs at default cluster level, broker id must "
                          "be specified: Set(sasl.kerberos.min.time.before.relogin)");
    cr_assert_eq(alter(4, "1", "broker.id", SK_CONFIG_OP_SET, "5", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_str_eq(msg, "Cannot update these configs dynamically: Set(broker.id)");
    cr_assert_eq(alter(4, "1", "log.cleaner.threads", SK_CONFIG_OP_SET, "-1", false, false),
                 SK_ERR_INVALID_REQUEST, "a bad value is INVALID_REQUEST too (KAFKA-13609)");
    cr_assert_str_eq(msg, "Invalid value -1 for configuration log.cleaner.threads: "
                          "Value must be at least 0");
    cr_assert_eq(alter(4, "", "acme.plugin.mode", SK_CONFIG_OP_SET, "fast", false, false), 0,
                 "%s", msg);
    cr_assert_eq(alter(4, "", "log.cleaner.threads", SK_CONFIG_OP_APPEND, "1", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_str_eq(msg, "Config value append is not allowed for config key: log.cleaner.threads");
    cr_assert_eq(alter(4, "", "metric.reporters", SK_CONFIG_OP_APPEND, "a.B", false, false), 0,
                 "%s", msg);
    cr_assert_str_eq(sk_kvlist_get(&b.image->cluster_configs, "metric.reporters"), "a.B");

    /* One refused key leaves the whole request unapplied. */
    struct sk_config_op two[] = {{kp_str_c("message.max.bytes"), SK_CONFIG_OP_SET,
                                  kp_str_c("2000000")},
                                 {kp_str_c("listeners"), SK_CONFIG_OP_SET,
                                  kp_str_c("PLAINTEXT://:1")}};
    cr_assert_eq(sk_configs_alter(&b, 4, kp_str_c(""), two, 2, false, false, false, msg, sizeof msg),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_null(sk_kvlist_get(&b.image->cluster_configs, "message.max.bytes"));

    close_broker();
    open_broker();
    cr_assert_str_eq(sk_kvlist_get(sk_meta_broker_configs(b.image, b.node->node_id), k), "30000");
    cr_assert_str_eq(sk_config_list_get(&cfg.dynamic_broker, k), "30000",
                     "re-applied from the metadata log");
    cr_assert_str_eq(sk_config_list_get(&cfg.dynamic_default, "acme.plugin.mode"), "fast");
}

/* Kafka's log cleaner and thread pools judge a change against their running
 * size (BrokerReconfigurable.validateReconfiguration). */
Test(admin, thread_counts_change_at_most_twofold)
{
    cr_assert_eq(alter(4, "1", "log.cleaner.threads", SK_CONFIG_OP_SET, "3", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_str_eq(msg, "Invalid value org.apache.kafka.common.config.ConfigException: Log "
                          "cleaner threads cannot be increased to more than double the current "
                          "value 1 for configuration Invalid dynamic configuration");
    cr_assert_null(sk_config_list_get(&cfg.dynamic_broker, "log.cleaner.threads"),
                   "a refused change is undone");
    cr_assert_eq(alter(4, "1", "log.cleaner.threads", SK_CONFIG_OP_SET, "0", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert(strstr(msg, "Log cleaner threads should be at least 1"), "%s", msg);
    cr_assert_eq(alter(4, "1", "log.cleaner.threads", SK_CONFIG_OP_SET, "2", false, false), 0,
                 "%s", msg);
    cr_assert_eq(alter(4, "", "num.io.threads", SK_CONFIG_OP_SET, "17", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_str_eq(msg, "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic "
                          "thread count update validation failed for num.io.threads=17, value "
                          "should not be greater than double the current value 8 for "
                          "configuration Invalid dynamic configuration");
    cr_assert_eq(alter(4, "", "num.io.threads", SK_CONFIG_OP_SET, "3", false, false),
                 SK_ERR_INVALID_REQUEST);
    cr_assert(strstr(msg, "value should be at least half the current value 8"), "%s", msg);
    cr_assert_eq(alter(4, "", "num.io.threads", SK_CONFIG_OP_SET, "16", false, false), 0,
                 "%s", msg);
    cr_assert_str_eq(sk_config_list_get(&cfg.dynamic_default, "num.io.threads"), "16");
}

Test(admin, quotas_and_features)
{
    struct sk_quota_entity e = {kp_str_c("user"), kp_str_c("alice")};
    struct sk_quota_op op = {kp_str_c("producer_byte_rate"), 1024, false};
    cr_assert_eq(sk_quotas_alter(&b, &e, 1, &op, 1, false, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(b.image->nquotas, 1);
    struct sk_quota_part alice = {kp_str_c("user"), kp_str_c("alice")};
    cr_assert(sk_quota_entry_is(&b.image->quotas[0], &alice, 1));
    op.key = kp_str_c("connection_creation_rate");
    cr_assert_eq(sk_quotas_alter(&b, &e, 1, &op, 1, false, msg, sizeof msg), SK_ERR_INVALID_REQUEST);
    e.type = kp_str_c("bogus");
    cr_assert_eq(sk_quotas_alter(&b, &e, 1, &op, 1, false, msg, sizeof msg), SK_ERR_INVALID_REQUEST);

    kp_str mv = kp_str_c("metadata.version");
    cr_assert_eq(sk_feature_update(&b, mv, SK_METADATA_VERSION_MAX + 1, 1, false, msg, sizeof msg),
                 SK_ERR_INVALID_UPDATE_VERSION);
    cr_assert_eq(sk_feature_update(&b, mv, SK_METADATA_VERSION_MAX, 1, false, msg, sizeof msg),
                 SK_ERR_NONE);
    cr_assert_eq(sk_feature_update(&b, mv, 10, 1, false, msg, sizeof msg),
                 SK_ERR_INVALID_UPDATE_VERSION);
    cr_assert_eq(sk_feature_update(&b, mv, 10, 2, false, msg, sizeof msg),
                 SK_ERR_INVALID_UPDATE_VERSION);
    cr_assert(strstr(msg, "Refusing"), "%s", msg);

    /* Level 0 of Kafka 3.9's other features is what this build implements. */
    kp_str gv = kp_str_c("group.version");
    cr_assert_eq(sk_feature_update(&b, gv, 0, 1, false, msg, sizeof msg), SK_ERR_NONE);
    cr_assert_eq(sk_feature_update(&b, gv, 1, 1, false, msg, sizeof msg),
                 SK_ERR_INVALID_UPDATE_VERSION);
    cr_assert(strstr(msg, "only supports versions 0-0"), "%s", msg);
    cr_assert_eq(sk_feature_update(&b, kp_str_c("bogus.version"), 1, 1, false, msg, sizeof msg),
                 SK_ERR_INVALID_UPDATE_VERSION);
    cr_assert(strstr(msg, "does not support the given feature"), "%s", msg);
    size_t n;
    const struct sk_feature_range *f = sk_features_supported(&n);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(f[0].name, "metadata.version");
    cr_assert_eq(f[0].max, SK_METADATA_VERSION_MAX);
}

/* ---- config names and values with zero bytes (Kafka's reading of them) ---- */

#define WS(lit) ((kp_str){(lit), (int32_t)sizeof(lit) - 1})

static int16_t alter_ws(int8_t type, kp_str res, kp_str k, kp_str v)
{
    struct sk_config_op o = {k, SK_CONFIG_OP_SET, v};
    return sk_configs_alter(&b, type, res, &o, 1, false, false, false, msg, sizeof msg);
}

Test(admin, config_zero_bytes_are_not_cut)
{
    cr_assert_eq(create("z", 1, 1, NULL, NULL), SK_ERR_NONE);
    /* A known name plus a zero byte is an unknown name. */
    cr_assert_eq(alter_ws(2, kp_str_c("z"), WS("retention.ms\0x"), kp_str_c("1000")),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(msg, "Unknown topic config name: retention.ms\\x00x");
    cr_assert_null(sk_kvlist_get(first_topic_configs(), "retention.ms"));
    /* A zero byte inside a number makes it no number. */
    cr_assert_eq(alter_ws(2, kp_str_c("z"), kp_str_c("retention.ms"), WS("1000\0 7")),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(msg, "Invalid value 1000\\x00 7 for configuration retention.ms: Not a "
                          "number of type LONG");
    cr_assert_null(sk_kvlist_get(first_topic_configs(), "retention.ms"));
    /* Java's trim takes zero bytes off the ends: the number is what is kept. */
    cr_assert_eq(alter_ws(2, kp_str_c("z"), kp_str_c("retention.ms"), WS("\0 1000\0")), 0, "%s",
                 msg);
    cr_assert_str_eq(sk_kvlist_get(first_topic_configs(), "retention.ms"), "1000");
    cr_assert_eq(alter_ws(2, kp_str_c("z"), kp_str_c("cleanup.policy"), WS("compact\0")), 0);
    cr_assert_eq(alter_ws(2, kp_str_c("z"), kp_str_c("compression.type"), WS("gz\0ip")),
                 SK_ERR_INVALID_CONFIG);
    /* Not broker 1. */
    cr_assert_eq(alter_ws(4, WS("1\0x"), kp_str_c("log.retention.ms"), kp_str_c("5")),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_str_eq(msg, "Node id must be an integer, but it is: 1\\x00x");
    /* CreateTopics reads them the same way. */
    kp_str kn = WS("retention.ms\0x"), kv = kp_str_c("5");
    struct sk_topic_spec s = {.name = kp_str_c("z2"), .partitions = 1, .replication_factor = 1,
                              .config_names = &kn, .config_values = &kv, .nconfigs = 1};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), SK_ERR_INVALID_CONFIG);
    cr_assert_eq(b.image->ntopics, 1, "nothing created");
}

Test(admin, throttled_list_keeps_its_zero_byte)
{
    kp_str value = WS("0:1,\0" "2:3");
    cr_assert_eq(create("y", 1, 1, NULL, NULL), SK_ERR_NONE);
    cr_assert_eq(alter_ws(2, kp_str_c("y"), kp_str_c("follower.replication.throttled.replicas"),
                          value), 0, "%s", msg);
    cr_assert(kp_str_eq(sk_kvlist_bytes(first_topic_configs(), "follower.replication.throttled.replicas"), value));
    /* Items are trimmed for the check only; one that a trim does not make valid is refused. */
    cr_assert_eq(alter_ws(2, kp_str_c("y"), kp_str_c("leader.replication.throttled.replicas"),
                          WS("0:1,2\0:3")), SK_ERR_INVALID_CONFIG);
    cr_assert_eq(alter_ws(2, kp_str_c("y"), kp_str_c("leader.replication.throttled.replicas"),
                          WS("0:1 , \0*")), SK_ERR_INVALID_CONFIG);
    /* Split on \s*,\s* and joined with ",", as Kafka shows a list. */
    cr_assert_eq(alter_ws(2, kp_str_c("y"), kp_str_c("leader.replication.throttled.replicas"),
                          WS(" 0:1 ,\t\0" "2:3 \0")), 0, "%s", msg);
    cr_assert(kp_str_eq(sk_kvlist_bytes(first_topic_configs(), "leader.replication.throttled.replicas"),
                        WS("0:1,\0" "2:3")));
    /* A broker key Kafka does not define is stored as sent: one with a zero
     * byte in its name or value cannot be, so it is refused rather than
     * stored as something else. */
    cr_assert_eq(alter_ws(4, kp_str_c("1"), WS("my.plugin\0key"), kp_str_c("x")),
                 SK_ERR_INVALID_REQUEST);
    cr_assert(strstr(msg, "my.plugin\\x00key"), "%s", msg);
    cr_assert_eq(alter_ws(4, kp_str_c("1"), kp_str_c("my.plugin.key"), WS("x\0")),
                 SK_ERR_INVALID_REQUEST);
    cr_assert_null(sk_kvlist_get(sk_meta_broker_configs(b.image, b.node->node_id), "my.plugin.key"));
    cr_assert_eq(alter_ws(4, kp_str_c("1"), kp_str_c("my.plugin.key"), kp_str_c("x")), 0, "%s",
                 msg);
    /* Free-form text cannot hold one: refused rather than cut. */
    cr_assert_eq(alter_ws(4, kp_str_c("1"), kp_str_c("ssl.keystore.location"), WS("/a\0b")),
                 SK_ERR_INVALID_REQUEST);
    cr_assert(strstr(msg, "zero byte"), "%s", msg);

    /* The ConfigRecord carries the bytes: a replay of the metadata log keeps them. */
    close_broker();
    open_broker();
    cr_assert(kp_str_eq(sk_kvlist_bytes(first_topic_configs(), "follower.replication.throttled.replicas"), value));
}

/* What an auto-creation's done said (the blocking syncer: before the return). */
static int16_t created_err = -1;

static void created(void *arg, int16_t err, const char *m)
{
    (void)arg;
    (void)m;
    created_err = err;
}

/* Metadata auto-creation is one controller operation: past Kafka's 10,000
 * records it writes nothing, below it every topic lands in one batch. */
Test(admin, auto_create_is_one_bounded_operation)
{
    enum { N = 5001 }; /* 2 records each with num.partitions=1 */
    static kp_str names[N];
    static char text[N][16];
    static int16_t errs[N];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "auto-%d", i);
        names[i] = kp_str_c(text[i]);
    }
    int64_t end = sk_metalog_end_offset(bnode.metalog);
    cr_assert_eq(sk_topics_auto_create(&b, names, N, errs, msg, sizeof msg, created, NULL),
                 SK_ERR_POLICY_VIOLATION);
    cr_assert_eq(created_err, -1, "a refusal of the whole is returned, not done");
    cr_assert_str_eq(msg, "Unable to perform excessively large batch operation.");
    cr_assert_eq(errs[0], SK_ERR_POLICY_VIOLATION);
    cr_assert_eq(b.image->ntopics, 0);
    cr_assert_eq(sk_metalog_end_offset(bnode.metalog), end, "nothing was written");
    cr_assert_eq(create("x.y", 1, 1, NULL, NULL), SK_ERR_NONE);
    kp_str some[] = {kp_str_c("a"), kp_str_c("b"), kp_str_c("x_y")};
    cr_assert_eq(sk_topics_auto_create(&b, some, 3, errs, msg, sizeof msg, created, NULL),
                 SK_ERR_NONE, "%s", msg);
    cr_assert_eq(created_err, SK_ERR_NONE, "committed");
    cr_assert_eq(errs[0], SK_ERR_NONE);
    cr_assert_eq(errs[1], SK_ERR_NONE);
    cr_assert_eq(errs[2], SK_ERR_INVALID_TOPIC_EXCEPTION, "collides with x.y");
    cr_assert_eq(b.image->ntopics, 3);
    cr_assert_eq(sk_metalog_end_offset(bnode.metalog), end + 2 + 4,
                 "x.y's two records, then a's and b's four");
}

/* ---- producer snapshots off the append path ---------------------------------- */

static struct deferred_syncer ds;

/* Small segments roll every few batches; flush.messages makes the topic
 * relaxed, so appends need no reactor for their group commit. */
static struct sk_partition *rolling_partition(const char *name)
{
    kp_str k[] = {kp_str_c("segment.bytes"), kp_str_c("flush.messages")};
    kp_str v[] = {kp_str_c("1024"), kp_str_c("1000000")};
    struct sk_topic_spec s = {.name = kp_str_c(name), .partitions = 1, .replication_factor = 1,
                              .config_names = k, .config_values = v, .nconfigs = 2};
    cr_assert_eq(sk_topic_create(&b, &s, false, msg, sizeof msg), 0, "%s", msg);
    struct sk_partition *p = sk_partition_get(&b, kp_str_c(name), 0);
    cr_assert_not_null(p);
    return p;
}

static struct sk_buf idempotent_batch(int64_t pid, int32_t seq)
{
    struct sk_batch_spec spec = sk_batch_spec_default();
    spec.producer_id = pid;
    spec.producer_epoch = 0;
    spec.base_sequence = seq;
    char value[300];
    memset(value, 'v', sizeof value);
    struct sk_record_in r = {.timestamp = sk_wall_ms(), .key = "k", .key_len = 1,
                             .value = value, .value_len = sizeof value};
    struct sk_buf out = {0};
    cr_assert_eq(sk_batch_build(&out, &spec, &r, 1), 0);
    return out;
}

static int64_t append_seq(struct sk_partition *p, int64_t pid, int32_t seq)
{
    struct sk_buf out = idempotent_batch(pid, seq);
    int64_t base = -1;
    cr_assert_eq(sk_partition_append(p, out.data, out.len, &base, NULL), SK_ERR_NONE);
    sk_buf_free(&out);
    return base;
}

/* Appends until a roll asks for a snapshot sync; returns the next sequence. */
static int32_t append_until_snapshot(struct sk_partition *p, int64_t pid, int64_t *snap_at)
{
    for (int32_t seq = 0; seq < 100; seq++) {
        append_seq(p, pid, seq);
        if (ds_pending(&ds) > 0) {
            *snap_at = sk_plog_log_end_offset(p->log);
            return seq + 1;
        }
    }
    cr_assert_fail("no producer snapshot went to the syncer in 100 rolling appends");
    return -1;
}

static bool snapshot_file(const char *d, const char *topic, int64_t off, const char *suffix)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s-0/%020lld.snapshot%s", d, topic, (long long)off, suffix);
    return access(path, F_OK) == 0;
}

Test(producer_snapshot, roll_returns_before_the_snapshot_is_synced, .init = setup,
     .fini = teardown)
{
    ds_init(&ds);
    b.syncer = ds.syncer;
    struct sk_partition *p = rolling_partition("snap");
    int64_t at = -1;
    int32_t next = append_until_snapshot(p, 7, &at);
    cr_assert_not(snapshot_file(dir, "snap", at, ""), "snapshot in place before its data sync");
    cr_assert(snapshot_file(dir, "snap", at, ".tmp"));
    append_seq(p, 7, next); /* appends go on while it is in flight */
    ds_complete_all(&ds, 0);
    cr_assert(snapshot_file(dir, "snap", at, ""), "snapshot not renamed once synced");
    cr_assert_not(snapshot_file(dir, "snap", at, ".tmp"));
}

Test(producer_snapshot, failed_sync_leaves_no_snapshot, .init = setup, .fini = teardown)
{
    ds_init(&ds);
    b.syncer = ds.syncer;
    struct sk_partition *p = rolling_partition("snapfail");
    int64_t at = -1;
    append_until_snapshot(p, 7, &at);
    ds_complete_all(&ds, -EIO);
    cr_assert_not(snapshot_file(dir, "snapfail", at, ""), "an unsynced snapshot took its name");
    cr_assert_not(snapshot_file(dir, "snapfail", at, ".tmp"));
}

/* kill -9 while the snapshot's sync is in flight: the files are what they are
 * at that moment (a copy of the directory), the snapshot is only a temp
 * file, and the restarted partition must still know every producer's last
 * batches, rebuilt from the log after the newest snapshot that made it. */
Test(producer_snapshot, crash_with_snapshot_in_flight_recovers_from_the_log, .init = setup,
     .fini = teardown)
{
    ds_init(&ds);
    b.syncer = ds.syncer;
    struct sk_partition *p = rolling_partition("crash");
    int64_t at = -1;
    int32_t next = append_until_snapshot(p, 7, &at);
    int64_t last_base = append_seq(p, 7, next);
    char copy[sizeof dir], cmd[200];
    cr_assert_lt(snprintf(copy, sizeof copy, "%.50s-crash", dir), (int)sizeof copy);
    snprintf(cmd, sizeof cmd, "cp -a %s %s", dir, copy);
    cr_assert_eq(system(cmd), 0);
    cr_assert_not(snapshot_file(copy, "crash", at, ""));
    cr_assert(snapshot_file(copy, "crash", at, ".tmp"));
    ds_complete_all(&ds, 0);
    close_broker();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    memcpy(dir, copy, sizeof dir);
    open_broker();
    cr_assert_eq(sk_partitions_sync(&b), 0);
    p = sk_partition_get(&b, kp_str_c("crash"), 0);
    cr_assert_not_null(p);
    struct sk_buf again = idempotent_batch(7, next);
    struct sk_batch_header h;
    cr_assert_eq(sk_batch_header_read(again.data, again.len, &h), 0);
    int64_t dup = -1;
    cr_assert_eq(sk_producer_check(p, &h, &dup), SK_ERR_DUPLICATE_SEQUENCE_NUMBER,
                 "the retried last batch is not recognised after the crash");
    cr_assert_eq(dup, last_base);
    sk_buf_free(&again);
    struct sk_buf fresh = idempotent_batch(7, next + 1);
    cr_assert_eq(sk_batch_header_read(fresh.data, fresh.len, &h), 0);
    cr_assert_eq(sk_producer_check(p, &h, &dup), SK_ERR_NONE);
    sk_buf_free(&fresh);
}

/* ---- periodic checkpoints through the syncer --------------------------------- */

Test(checkpoint, failed_sync_is_retried_next_period, .init = setup, .fini = teardown)
{
    ds_init(&ds);
    b.syncer = ds.syncer;
    struct sk_partition *p = rolling_partition("cp");
    append_seq(p, 7, 0);
    cr_assert_eq(sk_plog_flush(p->log, sk_wall_ms()), 0);
    cr_assert_eq(sk_maintenance_init(&b), 0);
    sk_maintenance_checkpoint(&b);
    cr_assert_eq(ds_pending(&ds), 2, "checkpoint data syncs not handed to the syncer (%d)", ds_pending(&ds));
    ds_complete_all(&ds, -EIO);
    struct sk_offset_checkpoint_entry *e;
    size_t n;
    cr_assert_eq(sk_offset_checkpoint_read(dir, SK_RECOVERY_POINT_CHECKPOINT, &e, &n), 0);
    cr_assert_eq(n, 0, "a checkpoint whose sync failed was put in place");
    free(e);
    sk_maintenance_checkpoint(&b); /* the next period */
    cr_assert_gt(ds_pending(&ds), 0, "nothing written in the period after the failure");
    ds_complete_all(&ds, 0);
    cr_assert_eq(sk_offset_checkpoint_read(dir, SK_RECOVERY_POINT_CHECKPOINT, &e, &n), 0);
    cr_assert_eq(sk_offset_checkpoint_find(e, n, "cp", 0), sk_plog_recovery_point(p->log));
    cr_assert_gt(sk_plog_recovery_point(p->log), 0);
    free(e);
    cr_assert_eq(sk_offset_checkpoint_read(dir, SK_LOG_START_OFFSET_CHECKPOINT, &e, &n), 0);
    cr_assert_eq(sk_offset_checkpoint_find(e, n, "cp", 0), 0);
    free(e);
    sk_maintenance_stop(&b);
}
