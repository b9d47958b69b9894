/* Unit tests of src/config/: properties syntax, the key catalogue,
 * validation messages, load precedence, listeners, topic resolution,
 * DescribeConfigs values and dynamic settings. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skein/config.h"
#include "skein/errors.h"

static char err[512];

static struct sk_config_list parse(const char *text)
{
    struct sk_config_list l;
    sk_config_list_init(&l);
    int rc = sk_properties_parse(text, strlen(text), &l, err, sizeof err);
    cr_assert_eq(rc, 0, "parse failed: %s", err);
    return l;
}

static void expect(const struct sk_config_list *l, const char *k, const char *v)
{
    const char *got = sk_config_list_get(l, k);
    cr_assert_not_null(got, "key '%s' missing", k);
    cr_assert_str_eq(got, v, "key '%s': expected '%s', got '%s'", k, v, got);
}

/* Writes text to a fresh temporary file and returns its path (static). */
static const char *temp_file(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/skein-config-test-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void load_ok(struct sk_config *cfg, const char *const *ov, int n)
{
    int rc = sk_config_load(cfg, NULL, ov, n, err, sizeof err);
    cr_assert_eq(rc, SK_ERR_NONE, "load failed (%d): %s", rc, err);
}

static void load_fails_with(const char *const *ov, int n, const char *needle)
{
    struct sk_config cfg;
    int rc = sk_config_load(&cfg, NULL, ov, n, err, sizeof err);
    cr_assert_eq(rc, SK_ERR_INVALID_CONFIG, "expected INVALID_CONFIG, got %d", rc);
    cr_assert(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
}

/* ---- properties syntax ---- */

Test(properties, separators_and_comments)
{
    struct sk_config_list l = parse("# comment\n! also comment\n\n"
                                    "a=1\nb: 2\nc 3\n  d = 4\ne\t=\t5\nf\n"
                                    "g=x=y\nh:=z\n");
    expect(&l, "a", "1");
    expect(&l, "b", "2");
    expect(&l, "c", "3");
    expect(&l, "d", "4");
    expect(&l, "e", "5");
    expect(&l, "f", "");
    expect(&l, "g", "x=y");
    expect(&l, "h", "=z");
    cr_assert_eq(l.n, 8);
    sk_config_list_free(&l);
}

Test(properties, continuation_lines)
{
    struct sk_config_list l = parse("list=a,\\\n     b,\\\n\tc\nafter=1\n"
                                    "even=x\\\\\nnext=2\n");
    expect(&l, "list", "a,b,c");
    expect(&l, "after", "1");
    expect(&l, "even", "x\\");
    expect(&l, "next", "2");
    sk_config_list_free(&l);
}

Test(properties, comment_does_not_continue)
{
    struct sk_config_list l = parse("# not continued \\\nkey=v\n");
    expect(&l, "key", "v");
    cr_assert_eq(l.n, 1);
    sk_config_list_free(&l);
}

Test(properties, escapes)
{
    struct sk_config_list l = parse("t=a\\tb\nn=a\\nb\nu=\\u0041\\u00e9\nk\\=ey=v\n"
                                    "sp\\ ace=1\nother=\\q\nemoji=\\uD83D\\uDE00\n");
    expect(&l, "t", "a\tb");
    expect(&l, "n", "a\nb");
    expect(&l, "u", "A\xc3\xa9");
    expect(&l, "k=ey", "v");
    expect(&l, "sp ace", "1");
    expect(&l, "other", "q");
    expect(&l, "emoji", "\xf0\x9f\x98\x80");
    sk_config_list_free(&l);
}

Test(properties, crlf_and_cr_line_ends)
{
    struct sk_config_list l = parse("a=1\r\nb=2\rc=3");
    expect(&l, "a", "1");
    expect(&l, "b", "2");
    expect(&l, "c", "3");
    sk_config_list_free(&l);
}

Test(properties, later_duplicate_wins_and_trailing_space_kept)
{
    struct sk_config_list l = parse("a=1\na=2  \n");
    expect(&l, "a", "2  ");
    cr_assert_eq(l.n, 1);
    sk_config_list_free(&l);
}

Test(properties, malformed_unicode_escape)
{
    struct sk_config_list l;
    sk_config_list_init(&l);
    int rc = sk_properties_parse("a=\\u12G4\n", 9, &l, err, sizeof err);
    cr_assert_eq(rc, -EINVAL);
    cr_assert(strstr(err, "\\uxxxx"), "%s", err);
    sk_config_list_free(&l);
}

Test(properties, overrides_in_order)
{
    struct sk_config_list l = parse("a=1\n");
    const char *ov[] = {"a=2", " b = x=y ", "a=3"};
    cr_assert_eq(sk_properties_apply_overrides(&l, ov, 3, err, sizeof err), 0);
    expect(&l, "a", "3");
    expect(&l, "b", "x=y");
    const char *bad[] = {"novalue"};
    cr_assert_eq(sk_properties_apply_overrides(&l, bad, 1, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "novalue"), "%s", err);
    sk_config_list_free(&l);
}

/* ---- catalogue and validation ---- */

Test(catalogue, every_topic_synonym_is_a_broker_key)
{
    size_t n;
    const struct sk_config_def *defs = sk_topic_config_defs(&n);
    cr_assert_geq(n, 35);
    for (size_t i = 0; i < n; i++) {
        cr_assert_not_null(defs[i].doc, "%s has no doc", defs[i].name);
        for (int k = 0; k < SK_CONFIG_MAX_SYNONYMS && defs[i].synonyms[k].name; k++)
            cr_assert_not_null(sk_broker_config_find(defs[i].synonyms[k].name),
                               "synonym %s of %s is not a broker key",
                               defs[i].synonyms[k].name, defs[i].name);
        char e[256];
        cr_assert_eq(sk_config_def_validate(&defs[i], defs[i].default_value, e, sizeof e),
                     SK_ERR_NONE, "default of %s invalid: %s", defs[i].name, e);
    }
}

Test(catalogue, broker_defaults_are_valid_and_unique)
{
    size_t n;
    const struct sk_config_def *defs = sk_broker_config_defs(&n);
    cr_assert_geq(n, 150);
    for (size_t i = 0; i < n; i++) {
        char e[256];
        cr_assert_not_null(defs[i].doc, "%s has no doc", defs[i].name);
        cr_assert_eq(sk_config_def_validate(&defs[i], defs[i].default_value, e, sizeof e),
                     SK_ERR_NONE, "default of %s invalid: %s", defs[i].name, e);
        cr_assert_eq(sk_broker_config_find(defs[i].name), &defs[i], "%s listed twice",
                     defs[i].name);
    }
}

/* Lookups are a binary search: the table must stay sorted. */
Test(catalogue, broker_keys_sorted_by_name)
{
    size_t n;
    const struct sk_config_def *defs = sk_broker_config_defs(&n);
    for (size_t i = 1; i < n; i++)
        cr_assert_lt(strcmp(defs[i - 1].name, defs[i].name), 0, "%s listed before %s",
                     defs[i - 1].name, defs[i].name);
}

/* Keys of Kafka 3.9's KafkaConfig beyond what Skein acts on, with Kafka's
 * type, default, importance and update mode. */
Test(catalogue, kafka_39_broker_keys)
{
    size_t n;
    sk_broker_config_defs(&n);
    cr_assert_geq(n, 320);
    const struct {
        const char *name;
        enum sk_config_type type;
        const char *def;
        enum sk_config_update_mode mode;
    } want[] = {
        {"sasl.kerberos.min.time.before.relogin", SK_CONFIG_LONG, "60000", SK_CONFIG_PER_BROKER},
        {"sasl.login.refresh.buffer.seconds", SK_CONFIG_SHORT, "300", SK_CONFIG_PER_BROKER},
        {"principal.builder.class", SK_CONFIG_CLASS,
         "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder",
         SK_CONFIG_PER_BROKER},
        {"remote.log.storage.system.enable", SK_CONFIG_BOOLEAN, "false", SK_CONFIG_READ_ONLY},
        {"remote.log.manager.copy.max.bytes.per.second", SK_CONFIG_LONG, "9223372036854775807",
         SK_CONFIG_CLUSTER_WIDE},
        {"group.share.max.size", SK_CONFIG_SHORT, "200", SK_CONFIG_READ_ONLY},
        {"zookeeper.ssl.protocol", SK_CONFIG_STRING, "TLSv1.2", SK_CONFIG_READ_ONLY},
        {"eligible.leader.replicas.enable", SK_CONFIG_BOOLEAN, "false", SK_CONFIG_READ_ONLY},
        {"log.dirs", SK_CONFIG_STRING, NULL, SK_CONFIG_READ_ONLY},
        {"log.roll.hours", SK_CONFIG_INT, "168", SK_CONFIG_READ_ONLY},
        {"log.roll.ms", SK_CONFIG_LONG, NULL, SK_CONFIG_CLUSTER_WIDE},
        {"password.encoder.secret", SK_CONFIG_PASSWORD, NULL, SK_CONFIG_READ_ONLY},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct sk_config_def *d = sk_broker_config_find(want[i].name);
        cr_assert_not_null(d, "%s unknown", want[i].name);
        cr_assert_eq(d->type, want[i].type, "%s type", want[i].name);
        cr_assert_eq(d->update_mode, want[i].mode, "%s mode", want[i].name);
        if (want[i].def)
            cr_assert_str_eq(d->default_value, want[i].def, "%s default", want[i].name);
        else
            cr_assert_null(d->default_value, "%s default", want[i].name);
    }
    cr_assert_null(sk_broker_config_find("sasl.kerberos.min.time.before"));
}

Test(catalogue, kafka_39_validators)
{
    char e[256];
    cr_assert_eq(sk_broker_config_validate("compression.gzip.level", "0", e, sizeof e),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(e, "Invalid value 0 for configuration compression.gzip.level: "
                        "Value must be between 1 and 9, or -1");
    cr_assert_eq(sk_broker_config_validate("compression.gzip.level", "-1", e, sizeof e), 0);
    cr_assert_eq(sk_topic_config_validate("compression.gzip.level", "10", e, sizeof e),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_eq(sk_broker_config_validate("remote.log.storage.manager.impl.prefix", "", e,
                                           sizeof e), SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(e, "Invalid value  for configuration remote.log.storage.manager.impl.prefix: "
                        "String must be non-empty");
    cr_assert_eq(sk_broker_config_validate("group.share.delivery.count.limit", "11", e, sizeof e),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(e, "Invalid value 11 for configuration group.share.delivery.count.limit: "
                        "Value must be no more than 10");
    cr_assert_eq(sk_broker_config_validate("sasl.kerberos.ticket.renew.jitter", "x", e, sizeof e),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_eq(sk_broker_config_validate("group.coordinator.rebalance.protocols",
                                           "classic,share", e, sizeof e), 0, "%s", e);
}

Test(catalogue, kafka_metadata_of_some_keys)
{
    const struct sk_config_def *d = sk_broker_config_find("log.retention.hours");
    cr_assert_str_eq(d->default_value, "168");
    cr_assert_eq(d->type, SK_CONFIG_INT);
    /* Only log.retention.ms is in Kafka's DynamicLogConfig. */
    cr_assert_eq(d->update_mode, SK_CONFIG_READ_ONLY);
    d = sk_broker_config_find("listeners");
    cr_assert_eq(d->update_mode, SK_CONFIG_PER_BROKER);
    d = sk_broker_config_find("num.io.threads");
    cr_assert(d->flags & SK_CONFIG_F_IGNORED);
    d = sk_broker_config_find("ssl.keystore.password");
    cr_assert(sk_config_def_sensitive(d));
    d = sk_broker_config_find("message.max.bytes");
    cr_assert_str_eq(d->default_value, "1048588");
    d = sk_topic_config_find("retention.ms");
    cr_assert_str_eq(d->synonyms[2].name, "log.retention.hours");
    cr_assert_eq(d->synonyms[2].factor, 3600000);
    cr_assert_str_eq(sk_topic_config_find("max.message.bytes")->synonyms[0].name,
                     "message.max.bytes");
    cr_assert_null(sk_broker_config_find("no.such.key"));
    cr_assert_str_eq(sk_config_update_mode_name(SK_CONFIG_CLUSTER_WIDE), "cluster-wide");
}

static void rejects(const char *name, const char *value, const char *message)
{
    int rc = sk_topic_config_validate(name, value, err, sizeof err);
    cr_assert_eq(rc, SK_ERR_INVALID_CONFIG, "%s=%s accepted", name, value);
    cr_assert_str_eq(err, message);
}

static void accepts(const char *name, const char *value)
{
    int rc = sk_topic_config_validate(name, value, err, sizeof err);
    cr_assert_eq(rc, SK_ERR_NONE, "%s=%s rejected: %s", name, value, err);
}

Test(validate, ranges_and_types)
{
    rejects("retention.ms", "-5",
            "Invalid value -5 for configuration retention.ms: Value must be at least -1");
    accepts("retention.ms", "-1");
    accepts("retention.ms", " 9223372036854775807 ");
    rejects("retention.ms", "9223372036854775808",
            "Invalid value 9223372036854775808 for configuration retention.ms: "
            "Not a number of type LONG");
    rejects("segment.bytes", "2147483648",
            "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT");
    rejects("segment.bytes", "13",
            "Invalid value 13 for configuration segment.bytes: Value must be at least 14");
    rejects("min.cleanable.dirty.ratio", "1.5",
            "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: "
            "Value must be no more than 1");
    accepts("min.cleanable.dirty.ratio", "0.25");
    rejects("preallocate", "yes",
            "Invalid value yes for configuration preallocate: "
            "Expected value to be either true or false");
    accepts("preallocate", "TRUE");
    rejects("segment.ms", "0x10",
            "Invalid value 0x10 for configuration segment.ms: Not a number of type LONG");
}

Test(validate, enums_and_lists)
{
    accepts("compression.type", "zstd");
    rejects("compression.type", "brotli",
            "Invalid value brotli for configuration compression.type: String must be one of: "
            "uncompressed, zstd, lz4, snappy, gzip, producer");
    accepts("cleanup.policy", "compact, delete");
    accepts("cleanup.policy", "compact");
    rejects("cleanup.policy", "compact,shred",
            "Invalid value shred for configuration cleanup.policy: "
            "String must be one of: compact, delete");
    accepts("message.timestamp.type", "LogAppendTime");
    rejects("message.timestamp.type", "logappendtime",
            "Invalid value logappendtime for configuration message.timestamp.type: "
            "String must be one of: CreateTime, LogAppendTime");
    accepts("leader.replication.throttled.replicas", "0:1,1:2");
    accepts("leader.replication.throttled.replicas", "*");
    cr_assert_eq(sk_topic_config_validate("leader.replication.throttled.replicas", "0-1",
                                          err, sizeof err), SK_ERR_INVALID_CONFIG);
    cr_assert_eq(sk_topic_config_validate("no.such.config", "1", err, sizeof err),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(err, "Unknown topic config name: no.such.config");
    cr_assert_eq(sk_broker_config_validate("skein.log.level", "debug", err, sizeof err),
                 SK_ERR_NONE);
    cr_assert_eq(sk_broker_config_validate("process.roles", "broker,voter", err, sizeof err),
                 SK_ERR_INVALID_CONFIG);
}

/* ---- listeners ---- */

Test(listeners, parse_forms)
{
    struct sk_listener ls[SK_CONFIG_MAX_LISTENERS];
    int n = sk_listeners_parse("plaintext://:9092, SSL://[::1]:9093,CONTROLLER://ctl.example:0",
                               ls, SK_CONFIG_MAX_LISTENERS, err, sizeof err);
    cr_assert_eq(n, 3, "%s", err);
    cr_assert_str_eq(ls[0].name, "PLAINTEXT");
    cr_assert_str_eq(ls[0].host, "");
    cr_assert_eq(ls[0].port, 9092);
    cr_assert_str_eq(ls[1].name, "SSL");
    cr_assert_str_eq(ls[1].host, "::1");
    cr_assert_eq(ls[1].port, 9093);
    cr_assert_str_eq(ls[2].host, "ctl.example");
    cr_assert_eq(ls[2].port, 0);
    cr_assert_eq(sk_listeners_resolve_protocols(ls, 3, "PLAINTEXT:PLAINTEXT,SSL:SSL,"
                                                "CONTROLLER:SASL_SSL", err, sizeof err), 0);
    cr_assert_eq(ls[2].protocol, SK_SECURITY_SASL_SSL);
}

Test(listeners, bad_forms)
{
    struct sk_listener ls[SK_CONFIG_MAX_LISTENERS];
    const char *bad[] = {"PLAINTEXT://host", "PLAINTEXT://host:70000", "://host:1",
                         "PLAINTEXT:/host:1", "PLAINTEXT://host:1,plaintext://other:2",
                         "PLAINTEXT://ho st:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sk_listeners_parse(bad[i], ls, SK_CONFIG_MAX_LISTENERS, err, sizeof err),
                     -EINVAL, "accepted %s", bad[i]);
}

Test(listeners, voters)
{
    struct sk_voter v[SK_CONFIG_MAX_VOTERS];
    int n = sk_voters_parse("1@a:9093,2@[fe80::1]:9094", v, SK_CONFIG_MAX_VOTERS, err, sizeof err);
    cr_assert_eq(n, 2, "%s", err);
    cr_assert_eq(v[1].id, 2);
    cr_assert_str_eq(v[1].host, "fe80::1");
    cr_assert_eq(v[1].port, 9094);
    cr_assert_eq(sk_voters_parse("1@a:1,1@b:2", v, SK_CONFIG_MAX_VOTERS, err, sizeof err), -EINVAL);
    cr_assert_eq(sk_voters_parse("x@a:1", v, SK_CONFIG_MAX_VOTERS, err, sizeof err), -EINVAL);
}

/* ---- loading ---- */

Test(load, embedded_default)
{
    struct sk_config cfg;
    load_ok(&cfg, NULL, 0);
    cr_assert_eq(cfg.node_id, 1);
    cr_assert_eq(cfg.process_roles, SK_ROLE_BROKER | SK_ROLE_CONTROLLER);
    cr_assert_eq(cfg.n_listeners, 2);
    cr_assert_str_eq(cfg.listeners[0].name, "PLAINTEXT");
    cr_assert_str_eq(cfg.listeners[0].host, "localhost");
    cr_assert_eq(cfg.listeners[0].port, 9092);
    cr_assert_eq(cfg.listeners[1].port, 9093);
    cr_assert_eq(cfg.n_advertised, 1);
    cr_assert_str_eq(cfg.advertised[0].host, "localhost");
    cr_assert_eq(cfg.advertised[0].port, 9092);
    cr_assert_str_eq(cfg.controller_listener, "CONTROLLER");
    cr_assert_str_eq(cfg.inter_broker_listener, "PLAINTEXT");
    cr_assert_eq(cfg.n_voters, 1);
    cr_assert_eq(cfg.voters[0].id, 1);
    cr_assert_eq(cfg.n_log_dirs, 1);
    cr_assert_str_eq(cfg.log_dirs[0], "./data");
    cr_assert_str_eq(cfg.metadata_log_dir, "./data");
    cr_assert_eq(cfg.offsets.replication_factor, 1);
    cr_assert_eq(cfg.offsets.num_partitions, 50);
    cr_assert_eq(cfg.offsets.retention_ms, 7LL * 24 * 3600 * 1000);
    cr_assert_eq(cfg.txn.log_replication_factor, 1);
    cr_assert_eq(cfg.txn.log_min_isr, 1);
    cr_assert_eq(cfg.txn.max_timeout_ms, 900000);
    cr_assert_eq(cfg.net.socket_request_max_bytes, 104857600);
    cr_assert_eq(cfg.log.message_max_bytes, 1048588);
    cr_assert_eq(cfg.group.max_session_timeout_ms, 1800000);
    cr_assert_eq(cfg.log.auto_create_topics, true);
    cr_assert_eq(cfg.log_level, SK_LOG_INFO);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 604800000LL);
    cr_assert_eq(cfg.topic_defaults.segment_bytes, 1073741824);
    cr_assert_eq(cfg.topic_defaults.flush_messages, INT64_MAX);
    cr_assert_eq(cfg.topic_defaults.compression, SK_TOPIC_COMPRESSION_PRODUCER);
    cr_assert(cfg.topic_defaults.cleanup_delete);
    cr_assert(!cfg.topic_defaults.cleanup_compact);
    cr_assert_eq(cfg.n_warnings, 0);
    sk_config_free(&cfg);
}

/* Kafka's advertised.listeners defaults to listeners minus the controller's:
 * overriding only listeners must not leave clients pointed at 9092. */
Test(load, advertised_defaults_to_listeners)
{
    const char *ov[] = {"listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"};
    struct sk_config cfg;
    load_ok(&cfg, ov, 1);
    cr_assert_eq(cfg.n_advertised, 1);
    cr_assert_str_eq(cfg.advertised[0].name, "PLAINTEXT");
    cr_assert_str_eq(cfg.advertised[0].host, "127.0.0.1");
    cr_assert_eq(cfg.advertised[0].port, 19092);
    sk_config_free(&cfg);

    const char *ov2[] = {"listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
                         "advertised.listeners=PLAINTEXT://broker1.example.com:29092"};
    load_ok(&cfg, ov2, 2);
    cr_assert_str_eq(cfg.advertised[0].host, "broker1.example.com");
    cr_assert_eq(cfg.advertised[0].port, 29092);
    sk_config_free(&cfg);
}

Test(load, retention_precedence_ms_minutes_hours)
{
    struct sk_config cfg;
    const char *hours[] = {"log.retention.hours=2"};
    load_ok(&cfg, hours, 1);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 2 * 3600000LL);
    sk_config_free(&cfg);

    const char *minutes[] = {"log.retention.hours=2", "log.retention.minutes=3"};
    load_ok(&cfg, minutes, 2);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 3 * 60000LL);
    sk_config_free(&cfg);

    const char *ms[] = {"log.retention.ms=1234", "log.retention.hours=2",
                        "log.retention.minutes=3"};
    load_ok(&cfg, ms, 3);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 1234);
    sk_config_free(&cfg);

    const char *forever[] = {"log.retention.hours=-1"};
    load_ok(&cfg, forever, 1);
    cr_assert_eq(cfg.topic_defaults.retention_ms, -1);
    sk_config_free(&cfg);

    const char *roll[] = {"log.roll.hours=1", "log.flush.interval.ms=500"};
    load_ok(&cfg, roll, 2);
    cr_assert_eq(cfg.topic_defaults.segment_ms, 3600000LL);
    cr_assert_eq(cfg.topic_defaults.flush_ms, 500);
    sk_config_free(&cfg);
}

Test(load, file_then_overrides_later_wins)
{
    const char *path = temp_file(
        "process.roles=broker,controller\nnode.id=3\n"
        "controller.quorum.voters=3@127.0.0.1:0\n"
        "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:19093\n"
        "controller.listener.names=CONTROLLER\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        "log.dirs=/tmp/a, /tmp/b\nnum.partitions=4\nmystery.key=1\nretention.ms=5\n"
        "listener.name.plaintext.sasl.enabled.mechanisms=PLAIN\n");
    const char *ov[] = {"num.partitions=6", "num.partitions=8"};
    struct sk_config cfg;
    int rc = sk_config_load(&cfg, path, ov, 2, err, sizeof err);
    unlink(path);
    cr_assert_eq(rc, SK_ERR_NONE, "%s", err);
    cr_assert_eq(cfg.node_id, 3);
    cr_assert_eq(cfg.log.num_partitions, 8);
    cr_assert_eq(cfg.n_log_dirs, 2);
    cr_assert_str_eq(cfg.log_dirs[1], "/tmp/b");
    cr_assert_eq(cfg.listeners[0].port, 0);
    cr_assert_eq(cfg.n_advertised, 1, "controller listener must not be advertised");
    cr_assert_str_eq(cfg.advertised[0].name, "PLAINTEXT");
    cr_assert_eq(cfg.n_warnings, 2);
    cr_assert(strstr(cfg.warnings[0], "'mystery.key'"), "%s", cfg.warnings[0]);
    cr_assert(strstr(cfg.warnings[1], "'log.retention.ms'"), "%s", cfg.warnings[1]);
    struct sk_config_value v;
    cr_assert_eq(sk_config_describe_broker(&cfg, "num.partitions", &v), 0);
    cr_assert_str_eq(v.value, "8");
    cr_assert_eq(v.source, SK_CONFIG_SOURCE_STATIC_BROKER);
    cr_assert(v.read_only);
    sk_config_free(&cfg);
}

Test(load, missing_file)
{
    struct sk_config cfg;
    int rc = sk_config_load(&cfg, "/nonexistent/skein.properties", NULL, 0, err, sizeof err);
    cr_assert_eq(rc, -ENOENT);
    cr_assert(strstr(err, "/nonexistent/skein.properties"), "%s", err);
}

Test(load, bad_values_name_the_key)
{
    const char *a[] = {"num.partitions=zero"};
    load_fails_with(a, 1, "Invalid value zero for configuration num.partitions");
    const char *b[] = {"num.partitions=0"};
    load_fails_with(b, 1, "num.partitions: Value must be at least 1");
    const char *c[] = {"listeners=PLAINTEXT://localhost"};
    load_fails_with(c, 1, "configuration listeners: Unable to parse PLAINTEXT://localhost");
    const char *d[] = {"compression.type=lzma"};
    load_fails_with(d, 1, "Invalid value lzma for configuration compression.type");
    const char *e[] = {"log.message.timestamp.type=Now"};
    load_fails_with(e, 1, "log.message.timestamp.type");
    const char *f[] = {"listeners=PLAINTEXT://:9092,CONTROLLER://:9093,INTERNAL://:9094"};
    load_fails_with(f, 1, "No security protocol defined for listener");
}

/* server.properties written for Kafka 3.9 loads without warnings, and a bad
 * value of any of its keys stops start-up naming the key. */
Test(load, kafka_39_keys)
{
    struct sk_config cfg;
    const char *ov[] = {"sasl.kerberos.min.time.before.relogin=120000",
                        "remote.log.storage.system.enable=false",
                        "group.share.max.groups=20", "zookeeper.ssl.client.enable=false",
                        "delegation.token.max.lifetime.ms=1000",
                        "listener.name.internal.ssl.keystore.location=/k"};
    load_ok(&cfg, ov, 6);
    cr_assert_eq(cfg.n_warnings, 0, "%s", cfg.n_warnings ? cfg.warnings[0] : "");
    sk_config_free(&cfg);
    const char *bad[] = {"sasl.kerberos.min.time.before.relogin=often"};
    load_fails_with(bad, 1, "sasl.kerberos.min.time.before.relogin");
    const char *range[] = {"group.share.max.groups=0"};
    load_fails_with(range, 1, "Invalid value 0 for configuration group.share.max.groups");
}

Test(load, cross_key_rules)
{
    const char *a[] = {"node.id=2"};
    load_fails_with(a, 1, "node id 2 must be included in the set of voters");
    const char *b[] = {"broker.id=5"};
    load_fails_with(b, 1, "`node.id` to the same value as `broker.id`");
    const char *c[] = {"advertised.listeners=PLAINTEXT://0.0.0.0:9092"};
    load_fails_with(c, 1, "0.0.0.0");
    const char *d[] = {"listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9092"};
    load_fails_with(d, 1, "different port");
    const char *e[] = {"process.roles="};
    load_fails_with(e, 1, "process.roles must be set");
    const char *f[] = {"inter.broker.listener.name=INTERNAL"};
    load_fails_with(f, 1, "inter.broker.listener.name must be a listener name");
    const char *g[] = {"log.cleaner.min.compaction.lag.ms=10", "log.cleaner.max.compaction.lag.ms=5"};
    load_fails_with(g, 2, "min.compaction.lag.ms (10) > max.compaction.lag.ms (5)");
}

Test(load, broker_only_node)
{
    const char *ov[] = {"process.roles=broker", "node.id=4",
                        "listeners=PLAINTEXT://:0", "advertised.listeners=PLAINTEXT://h:0"};
    struct sk_config cfg;
    load_ok(&cfg, ov, 4);
    cr_assert_eq(cfg.process_roles, SK_ROLE_BROKER);
    cr_assert_eq(cfg.n_listeners, 1);
    sk_config_free(&cfg);
    /* A voter without the controller role would serve no CONTROLLER
     * listener: refused as Kafka refuses it. */
    const char *voter[] = {"process.roles=broker", "node.id=2", "listeners=PLAINTEXT://:0",
                           "controller.quorum.voters=1@h:9093,2@h:9093,3@h:9093"};
    load_fails_with(voter, 4,
                    "If process.roles contains just the 'broker' role, the node id 2 must not be "
                    "included in the set of voters controller.quorum.voters=Set(1, 2, 3)");
}

/* ---- topics ---- */

Test(topic, overrides_on_top_of_broker_defaults)
{
    struct sk_config cfg;
    const char *ov[] = {"log.retention.hours=48", "message.max.bytes=2000000",
                        "compression.type=lz4", "log.cleanup.policy=compact"};
    load_ok(&cfg, ov, 4);
    struct sk_config_entry topic[] = {
        {"retention.ms", "1000"},
        {"cleanup.policy", "compact,delete"},
        {"message.timestamp.type", "LogAppendTime"},
        {"segment.bytes", "1048576"},
        {"min.insync.replicas", "2"},
        {"message.timestamp.difference.max.ms", "60000"},
        {"message.timestamp.after.max.ms", "5000"},
    };
    struct sk_topic_config tc;
    cr_assert_eq(sk_topic_config_resolve(&cfg, topic, 7, &tc, err, sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert_eq(tc.retention_ms, 1000);
    cr_assert(tc.cleanup_delete && tc.cleanup_compact);
    cr_assert_eq(tc.timestamp_type, SK_TIMESTAMP_LOG_APPEND_TIME);
    cr_assert_eq(tc.segment_bytes, 1048576);
    cr_assert_eq(tc.min_insync_replicas, 2);
    cr_assert_eq(tc.max_message_bytes, 2000000);
    cr_assert_eq(tc.compression, SK_TOPIC_COMPRESSION_LZ4);
    cr_assert_eq(tc.timestamp_before_max_ms, 60000, "difference applies where before is unset");
    cr_assert_eq(tc.timestamp_after_max_ms, 5000);

    cr_assert_eq(sk_topic_config_resolve(&cfg, NULL, 0, &tc, err, sizeof err), SK_ERR_NONE);
    cr_assert_eq(tc.retention_ms, 48 * 3600000LL);
    cr_assert(!tc.cleanup_delete && tc.cleanup_compact);

    struct sk_config_entry bad[] = {{"retention.ms", "-7"}};
    cr_assert_eq(sk_topic_config_resolve(&cfg, bad, 1, &tc, err, sizeof err), SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(err, "Invalid value -7 for configuration retention.ms: Value must be at least -1");
    struct sk_config_entry lag[] = {{"min.compaction.lag.ms", "100"}, {"max.compaction.lag.ms", "50"}};
    cr_assert_eq(sk_topic_config_resolve(&cfg, lag, 2, &tc, err, sizeof err), SK_ERR_INVALID_CONFIG);
    sk_config_free(&cfg);
}

Test(topic, describe_sources_and_synonyms)
{
    struct sk_config cfg;
    const char *ov[] = {"log.retention.hours=24"};
    load_ok(&cfg, ov, 1);
    struct sk_config_value v;
    cr_assert_eq(sk_config_describe_topic(&cfg, NULL, 0, "retention.ms", &v), 0);
    cr_assert_str_eq(v.value, "86400000");
    cr_assert_eq(v.source, SK_CONFIG_SOURCE_STATIC_BROKER);
    cr_assert_eq(sk_config_describe_topic(&cfg, NULL, 0, "segment.bytes", &v), 0);
    cr_assert_str_eq(v.value, "1073741824");
    cr_assert_eq(v.source, SK_CONFIG_SOURCE_DEFAULT);

    struct sk_config_entry topic[] = {{"retention.ms", "5"}};
    cr_assert_eq(sk_config_describe_topic(&cfg, topic, 1, "retention.ms", &v), 0);
    cr_assert_str_eq(v.value, "5");
    cr_assert_eq(v.source, SK_CONFIG_SOURCE_TOPIC);

    struct sk_config_value syn[8];
    size_t n = sk_config_topic_synonyms(&cfg, topic, 1, "retention.ms", syn, 8);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(syn[0].name, "retention.ms");
    cr_assert_eq(syn[0].source, SK_CONFIG_SOURCE_TOPIC);
    cr_assert_str_eq(syn[1].name, "log.retention.hours");
    cr_assert_str_eq(syn[1].value, "24");
    cr_assert_eq(syn[1].source, SK_CONFIG_SOURCE_STATIC_BROKER);
    cr_assert_str_eq(syn[2].name, "log.retention.hours");
    cr_assert_str_eq(syn[2].value, "168");
    cr_assert_eq(syn[2].source, SK_CONFIG_SOURCE_DEFAULT);
    cr_assert_eq(sk_config_describe_topic(&cfg, NULL, 0, "bogus", &v), -ENOENT);
    sk_config_free(&cfg);
}

/* ---- dynamic ---- */

Test(dynamic, layers_and_rules)
{
    struct sk_config cfg;
    load_ok(&cfg, NULL, 0);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT, "log.retention.ms", "600000",
                                       err, sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 600000);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, "log.retention.ms", "700000",
                                       err, sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 700000);
    struct sk_config_value v;
    sk_config_describe_broker(&cfg, "log.retention.ms", &v);
    cr_assert_eq(v.source, SK_CONFIG_SOURCE_DYNAMIC_BROKER);
    cr_assert_str_eq(v.value, "700000");
    struct sk_config_value syn[8];
    cr_assert_eq(sk_config_broker_synonyms(&cfg, "log.retention.ms", syn, 8), 3);
    cr_assert_eq(syn[1].source, SK_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER);
    cr_assert_str_eq(syn[2].name, "log.retention.hours");

    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, "log.retention.ms", NULL,
                                       err, sizeof err), SK_ERR_NONE);
    cr_assert_eq(cfg.topic_defaults.retention_ms, 600000);

    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, "num.partitions", "3",
                                       err, sizeof err), SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(err, "Cannot update these configs dynamically: Set(num.partitions)");
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT, "listeners",
                                       "PLAINTEXT://:1", err, sizeof err), SK_ERR_INVALID_CONFIG);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, "message.max.bytes", "-1",
                                       err, sizeof err), SK_ERR_INVALID_CONFIG);
    cr_assert(strstr(err, "message.max.bytes"), "%s", err);
    /* A change breaking a cross-key rule leaves the config as it was. */
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, "advertised.listeners",
                                       "PLAINTEXT://0.0.0.0:9092", err, sizeof err),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(cfg.advertised[0].host, "localhost");
    cr_assert_eq(sk_config_check_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT, "skein.log.level",
                                         "DEBUG", err, sizeof err), SK_ERR_NONE);
    cr_assert_eq(cfg.log_level, SK_LOG_INFO, "check must not apply");
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT, "skein.log.level",
                                       "debug", err, sizeof err), SK_ERR_NONE);
    cr_assert_eq(cfg.log_level, SK_LOG_DEBUG);
    sk_config_describe_broker(&cfg, "ssl.keystore.password", &v);
    cr_assert(v.sensitive);
    cr_assert_null(v.value);
    sk_config_free(&cfg);
}

/* Kafka 3.9's DynamicBrokerConfig rules for keys Skein does not act on. */
Test(dynamic, kafka_rules_for_every_key)
{
    struct sk_config cfg;
    load_ok(&cfg, NULL, 0);
    const char *k = "sasl.kerberos.min.time.before.relogin";
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, k, "30000", err, sizeof err),
                 SK_ERR_NONE, "%s", err);
    struct sk_config_value v;
    cr_assert_eq(sk_config_describe_broker(&cfg, k, &v), 0);
    cr_assert_str_eq(v.value, "30000");
    cr_assert_eq(v.source, SK_CONFIG_SOURCE_DYNAMIC_BROKER);
    cr_assert(!v.read_only);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT, k, "30000", err, sizeof err),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(err, "Cannot update these configs at default cluster level, broker id must "
                          "be specified: Set(sasl.kerberos.min.time.before.relogin)");
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, k, "soon", err, sizeof err),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(err, "Invalid value soon for configuration "
                          "sasl.kerberos.min.time.before.relogin: Not a number of type LONG");

    /* Every offending key of the request is named, read-only ones first. */
    const char *names[] = {"log.cleaner.threads", "broker.id", "log.dirs", "message.max.bytes"};
    const char *values[] = {"2", "7", "/x", "-1"};
    cr_assert_eq(sk_config_check_dynamic_keys(SK_CONFIG_SCOPE_BROKER, names, values, 4, err,
                                              sizeof err), SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(err, "Cannot update these configs dynamically: Set(broker.id, log.dirs)");
    cr_assert_eq(sk_config_check_dynamic_keys(SK_CONFIG_SCOPE_BROKER, names, values + 0, 1, err,
                                              sizeof err), SK_ERR_NONE, "%s", err);
    const char *removed[] = {NULL, NULL, NULL, "5"};
    cr_assert_eq(sk_config_check_dynamic_keys(SK_CONFIG_SCOPE_BROKER, names, removed, 4, err,
                                              sizeof err), SK_ERR_NONE, "removals are not checked");

    /* Key stores change only per listener, and those only per broker. */
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, "ssl.keystore.location",
                                       "/k", err, sizeof err), SK_ERR_INVALID_CONFIG);
    cr_assert_str_eq(err, "These security configs can be dynamically updated only per-listener "
                          "using the listener prefix: Set(ssl.keystore.location)");
    const char *lk = "listener.name.internal.ssl.keystore.location";
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER, lk, "/k", err, sizeof err),
                 SK_ERR_NONE, "%s", err);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT, lk, "/k", err, sizeof err),
                 SK_ERR_INVALID_CONFIG);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER,
                                       "listener.name.internal.ssl.keystore.password", "s", err,
                                       sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert_eq(sk_config_describe_broker(&cfg, "listener.name.internal.ssl.keystore.password",
                                           &v), 0);
    cr_assert(v.sensitive && !v.read_only, "described with its base key's type and mode");
    cr_assert_null(v.value);
    cr_assert_eq(sk_config_describe_broker(&cfg, lk, &v), 0);
    cr_assert_str_eq(v.value, "/k");
    struct sk_config_value syn[4];
    cr_assert_eq(sk_config_broker_synonyms(&cfg, lk, syn, 4), 1);
    cr_assert_str_eq(syn[0].value, "/k");
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT,
                                       "listener.name.internal.max.connections", "10", err,
                                       sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT,
                                       "listener.name.internal.max.connections", "x", err,
                                       sizeof err), SK_ERR_INVALID_CONFIG);
    sk_config_free(&cfg);
}

/* Kafka stores a name it does not define on a broker resource (a plugin's
 * setting) and describes it as sensitive and read-only, of unknown type. */
Test(dynamic, unknown_names_are_stored_and_described)
{
    struct sk_config cfg;
    load_ok(&cfg, NULL, 0);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT, "acme.plugin.mode", "fast",
                                       err, sizeof err), SK_ERR_NONE, "%s", err);
    struct sk_config_value v;
    cr_assert_eq(sk_config_describe_broker(&cfg, "acme.plugin.mode", &v), 0);
    cr_assert_null(v.value);
    cr_assert(v.sensitive && v.read_only);
    cr_assert_eq(v.def->type, SK_CONFIG_UNKNOWN);
    cr_assert_eq(v.source, SK_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER);
    struct sk_config_value syn[4];
    cr_assert_eq(sk_config_broker_synonyms(&cfg, "acme.plugin.mode", syn, 4), 1);
    cr_assert_null(syn[0].value);
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT, "acme.plugin.mode", NULL,
                                       err, sizeof err), SK_ERR_NONE);
    cr_assert_eq(sk_config_describe_broker(&cfg, "acme.plugin.mode", &v), -ENOENT);
    cr_assert_eq(sk_config_broker_synonyms(&cfg, "acme.plugin.mode", syn, 4), 0);

    /* The replication throttles exist only as dynamic keys. */
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_DEFAULT,
                                       "leader.replication.throttled.rate", "1000", err,
                                       sizeof err), SK_ERR_NONE, "%s", err);
    cr_assert_eq(sk_config_describe_broker(&cfg, "leader.replication.throttled.rate", &v), 0);
    cr_assert(v.read_only, "Kafka shows the throttles read-only");
    cr_assert_eq(sk_config_set_dynamic(&cfg, SK_CONFIG_SCOPE_BROKER,
                                       "leader.replication.throttled.rate", "-1", err,
                                       sizeof err), SK_ERR_INVALID_CONFIG);
    sk_config_free(&cfg);

    const char *ov[] = {"follower.replication.throttled.rate=5", "zookeeper.set.acl=true"};
    load_ok(&cfg, ov, 2);
    cr_assert_eq(cfg.n_warnings, 1);
    cr_assert(strstr(cfg.warnings[0], "follower.replication.throttled.rate"), "%s",
              cfg.warnings[0]);
    sk_config_free(&cfg);
}

/* The shipped sample must load cleanly (meson runs tests from the build
 * folder's tests/ directory; the source root is two levels up). */
Test(load, shipped_sample)
{
    const char *paths[] = {"../../deploy/server.properties", "../deploy/server.properties",
                           "deploy/server.properties"};
    const char *path = NULL;
    for (size_t i = 0; i < 3 && !path; i++)
        if (access(paths[i], R_OK) == 0)
            path = paths[i];
    cr_assert_not_null(path, "deploy/server.properties not found");
    struct sk_config cfg;
    int rc = sk_config_load(&cfg, path, NULL, 0, err, sizeof err);
    cr_assert_eq(rc, SK_ERR_NONE, "%s", err);
    cr_assert_eq(cfg.n_warnings, 0);
    cr_assert_str_eq(cfg.listeners[0].host, "");
    cr_assert_eq(cfg.topic_defaults.retention_ms, 604800000LL);
    sk_config_free(&cfg);
}

/* KafkaConfig's socket-server rules and the per-IP overrides, resolved. */
Test(checks, connection_and_queue_limits)
{
    const char *zero[] = {"max.connections.per.ip=0"};
    load_fails_with(zero, 1, "can be set to zero only if max.connections.per.ip.overrides");
    const char *bad_host[] = {"max.connections.per.ip.overrides=no_such_host.invalid:3"};
    load_fails_with(bad_host, 1, "contains invalid addresses");
    const char *bad_count[] = {"max.connections.per.ip.overrides=127.0.0.1:x"};
    load_fails_with(bad_count, 1, "max.connections.per.ip.overrides");
    const char *small[] = {"queued.max.request.bytes=1000"};
    load_fails_with(small, 1, "queued.max.request.bytes must be larger or equal to "
                              "socket.request.max.bytes");
    struct sk_config cfg;
    const char *ok[] = {"max.connections.per.ip=0",
                        "max.connections.per.ip.overrides=127.0.0.2:5, ::1:7",
                        "queued.max.request.bytes=104857600"};
    load_ok(&cfg, ok, 3);
    cr_assert_eq(cfg.net.n_ip_overrides, 2);
    const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2};
    const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    cr_assert_arr_eq(cfg.net.ip_overrides[0].addr, v4, 16);
    cr_assert_eq(cfg.net.ip_overrides[0].max, 5);
    cr_assert_arr_eq(cfg.net.ip_overrides[1].addr, v6, 16);
    cr_assert_eq(cfg.net.ip_overrides[1].max, 7);
    cr_assert_eq(cfg.net.queued_max_request_bytes, 104857600);
    sk_config_free(&cfg);
}
