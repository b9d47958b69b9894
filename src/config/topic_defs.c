/* Topic keys (Kafka 3.9's LogConfig) and, for each, the broker keys that
 * supply its default, in Kafka's order of precedence: a topic without its own
 * retention.ms takes log.retention.ms, else log.retention.minutes, else
 * log.retention.hours, converted to milliseconds. */
#include "def_macros.h"

#include <string.h>

#define SYN1(a) .synonyms = {{(a), 1}}
#define HOURS 3600000LL
#define MINUTES 60000LL

#define T(n, t, def, ...) D(n, t, def, MEDIUM, PER_TOPIC, __VA_ARGS__)

static const struct sk_config_def defs[] = {
    T("cleanup.policy", LIST, "delete", LIST_OF(sk_config_cleanup_choices),
      SYN1("log.cleanup.policy"),
      .doc = "delete removes segments past retention.ms/retention.bytes; compact keeps the "
             "latest record per key; both may be given."),
    T("compression.type", STRING, "producer", ONE_OF(sk_config_compression_choices),
      SYN1("compression.type"),
      .doc = "Codec batches are stored with: uncompressed, gzip, snappy, lz4, zstd, or "
             "producer to keep what the producer sent."),
    T("compression.gzip.level", INT, "-1", .check = SK_CHECK_GZIP_LEVEL,
      SYN1("compression.gzip.level"),
      .doc = "gzip level (1-9, or -1 for the default) when compression.type is gzip."),
    T("compression.lz4.level", INT, "9", BETWEEN(1, 17), SYN1("compression.lz4.level"),
      .doc = "lz4 level when compression.type is lz4."),
    T("compression.zstd.level", INT, "3", BETWEEN(-131072, 22), SYN1("compression.zstd.level"),
      .doc = "zstd level when compression.type is zstd."),
    T("delete.retention.ms", LONG, "86400000", AT_LEAST(0),
      SYN1("log.cleaner.delete.retention.ms"),
      .doc = "How long tombstones stay readable in a compacted topic, so consumers can see deletes."),
    T("file.delete.delay.ms", LONG, "60000", AT_LEAST(0), SYN1("log.segment.delete.delay.ms"),
      .doc = "Wait before a deleted segment's files are removed."),
    T("flush.messages", LONG, LONG_MAX_S, AT_LEAST(1), SYN1("log.flush.interval.messages"),
      .doc = "Force an fsync after this many messages. Durability normally comes from "
             "replication (and, in Skein, from acks=all waiting for the disk)."),
    T("flush.ms", LONG, LONG_MAX_S, AT_LEAST(0),
      .synonyms = {{"log.flush.interval.ms", 1}, {"log.flush.scheduler.interval.ms", 1}},
      .doc = "Force an fsync when the oldest unflushed message is this old."),
    T("follower.replication.throttled.replicas", LIST, "",
      .check = SK_CHECK_THROTTLED_REPLICAS,
      .doc = "Replicas (partition:broker pairs, or *) whose follower fetches are throttled."),
    T("index.interval.bytes", INT, "4096", AT_LEAST(0), SYN1("log.index.interval.bytes"),
      .doc = "Bytes of log between offset index entries."),
    T("leader.replication.throttled.replicas", LIST, "",
      .check = SK_CHECK_THROTTLED_REPLICAS,
      .doc = "Replicas (partition:broker pairs, or *) whose reads by followers are throttled "
             "on the leader."),
    T("local.retention.bytes", LONG, "-2", AT_LEAST(-2), SYN1("log.local.retention.bytes"),
      .doc = "Local size limit when tiered storage is on; -2 means retention.bytes."),
    T("local.retention.ms", LONG, "-2", AT_LEAST(-2), SYN1("log.local.retention.ms"),
      .doc = "Local retention time when tiered storage is on; -2 means retention.ms."),
    T("max.compaction.lag.ms", LONG, LONG_MAX_S, AT_LEAST(1),
      SYN1("log.cleaner.max.compaction.lag.ms"),
      .doc = "Oldest a message may get before its segment must be compacted."),
    T("max.message.bytes", INT, "1048588", AT_LEAST(0), SYN1("message.max.bytes"),
      .doc = "Largest record batch (after compression) the topic accepts; larger gives "
             "MESSAGE_TOO_LARGE."),
    T("message.downconversion.enable", BOOLEAN, "true",
      SYN1("log.message.downconversion.enable"),
      .doc = "Whether fetches from old clients may be served by converting batches to older "
             "formats; when false they get UNSUPPORTED_VERSION."),
    T("message.format.version", STRING, "3.0-IV1", DEPRECATED_IGNORED,
      SYN1("log.message.format.version"),
      .doc = "Deprecated: ignored from inter-broker protocol 3.0 on."),
    T("message.timestamp.after.max.ms", LONG, LONG_MAX_S, AT_LEAST(0),
      SYN1("log.message.timestamp.after.max.ms"),
      .doc = "With CreateTime, how far ahead of the broker's clock a timestamp may be; "
             "later gives INVALID_TIMESTAMP."),
    T("message.timestamp.before.max.ms", LONG, LONG_MAX_S, AT_LEAST(0),
      SYN1("log.message.timestamp.before.max.ms"),
      .doc = "With CreateTime, how far behind the broker's clock a timestamp may be; "
             "earlier gives INVALID_TIMESTAMP."),
    T("message.timestamp.difference.max.ms", LONG, LONG_MAX_S, AT_LEAST(0), DEPRECATED,
      SYN1("log.message.timestamp.difference.max.ms"),
      .doc = "Deprecated: both limits above at once, used where they are left at their default."),
    T("message.timestamp.type", STRING, "CreateTime", ONE_OF(sk_config_timestamp_choices),
      SYN1("log.message.timestamp.type"),
      .doc = "CreateTime keeps producer timestamps; LogAppendTime overwrites them with the "
             "broker's clock."),
    T("min.cleanable.dirty.ratio", DOUBLE, "0.5", BETWEEN(0, 1),
      SYN1("log.cleaner.min.cleanable.ratio"),
      .doc = "Share of the log not yet compacted before the cleaner compacts it."),
    T("min.compaction.lag.ms", LONG, "0", AT_LEAST(0), SYN1("log.cleaner.min.compaction.lag.ms"),
      .doc = "Youngest a message may be and still be compacted away."),
    T("min.insync.replicas", INT, "1", AT_LEAST(1), SYN1("min.insync.replicas"),
      .doc = "In-sync replicas needed for acks=all writes to succeed."),
    T("preallocate", BOOLEAN, "false", SYN1("log.preallocate"),
      .doc = "Preallocate new segment files."),
    T("remote.storage.enable", BOOLEAN, "false",
      .doc = "Tier old segments to remote storage. Skein has no tiered storage: only false "
             "is useful."),
    T("remote.log.copy.disable", BOOLEAN, "false",
      .doc = "Stop copying segments to remote storage while keeping remote reads."),
    T("remote.log.delete.on.disable", BOOLEAN, "false",
      .doc = "Delete remote data when tiered storage is turned off for the topic."),
    T("retention.bytes", LONG, "-1", SYN1("log.retention.bytes"),
      .doc = "Size a partition may reach before old segments are deleted; -1 for no limit."),
    T("retention.ms", LONG, "604800000", AT_LEAST(-1),
      .synonyms = {{"log.retention.ms", 1}, {"log.retention.minutes", MINUTES},
                   {"log.retention.hours", HOURS}},
      .doc = "Age after which segments are deleted (delete policy); -1 keeps them forever."),
    T("segment.bytes", INT, "1073741824", AT_LEAST(14), SYN1("log.segment.bytes"),
      .doc = "Largest segment file before a new one is rolled."),
    T("segment.index.bytes", INT, "10485760", AT_LEAST(4), SYN1("log.index.size.max.bytes"),
      .doc = "Size of each segment's offset index file."),
    T("segment.jitter.ms", LONG, "0", AT_LEAST(0),
      .synonyms = {{"log.roll.jitter.ms", 1}, {"log.roll.jitter.hours", HOURS}},
      .doc = "Largest random amount taken off segment.ms so segments do not roll together."),
    T("segment.ms", LONG, "604800000", AT_LEAST(1),
      .synonyms = {{"log.roll.ms", 1}, {"log.roll.hours", HOURS}},
      .doc = "Age after which the active segment is rolled even if not full, so retention "
             "and compaction can act on it."),
    T("unclean.leader.election.enable", BOOLEAN, "false",
      SYN1("unclean.leader.election.enable"),
      .doc = "Allow an out-of-sync replica to become leader as a last resort, losing data."),
};

const struct sk_config_def *sk_topic_config_defs(size_t *n)
{
    *n = sizeof defs / sizeof defs[0];
    return defs;
}

const struct sk_config_def *sk_topic_config_find(const char *name)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}
