"""Admin APIs against a real Skein broker, through kafka-python's
KafkaAdminClient, confluent-kafka's AdminClient and hand-encoded
IncrementalAlterConfigs requests (neither client version here has it).

usage: admin_test.py path/to/skein"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from skeinlib.broker import Broker  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.checks import check, run  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource as CRes,  # noqa: E402
                                   NewPartitions as CNewPartitions, NewTopic as CNewTopic)
from kafka.admin import (KafkaAdminClient, ConfigResource, ConfigResourceType,  # noqa: E402
                         NewPartitions, NewTopic)

INVALID_CONFIG = 40
INVALID_REQUEST = 42
UNKNOWN_TOPIC = 3


# ---- hand-encoded IncrementalAlterConfigs v0 ---------------------------------

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def incremental(port, rtype, rname, ops, validate_only=False):
    """ops: [(name, op, value)]. Returns [(error_code, message)] per resource."""
    body = struct.pack(">i", 1) + struct.pack(">b", rtype) + wire.string(rname)
    body += struct.pack(">i", len(ops))
    for name, op, value in ops:
        body += wire.string(name) + struct.pack(">b", op) + wire.string(value)
    body += struct.pack(">?", validate_only)
    c = wire.Conn(port)
    try:
        c.send(wire.frame(wire.header(44, 0, 9) + body))
        _, resp = c.recv_frame()
    finally:
        c.close()
    r = wire.Reader(resp)
    r.i32()
    out = []
    for _ in range(r.i32()):
        err = r.i16()
        n = r.i16()
        msg = None if n < 0 else r.take(n).decode()
        r.i8()
        r.take(r.i16())
        out.append((err, msg))
    return out


# ---- helpers -------------------------------------------------------------------

def c_describe(admin, topic):
    fs = admin.describe_configs([CRes("topic", topic)])
    return list(fs.values())[0].result(10)


def c_error(future):
    try:
        future.result(10)
        return None
    except confluent_kafka.KafkaException as e:
        return e.args[0]


def k_describe(kadmin, topic, keys=None):
    res = kadmin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                      dict.fromkeys(keys) if keys else None)])
    r = res[0].resources[0]
    # (error_code, error_message, resource_type, resource_name, config_entries)
    return r[0], {e[0]: e for e in r[4]}


def partitions_of(kadmin, topic):
    md = kadmin.describe_topics([topic])
    return len(md[0]["partitions"])


# ---- scenarios -----------------------------------------------------------------

def create_and_describe(admin, kadmin):
    fs = admin.create_topics([CNewTopic("cfg-topic", 3, 1,
                                        config={"retention.ms": "3600000",
                                                "cleanup.policy": "compact"})])
    check(c_error(fs["cfg-topic"]) is None, "confluent create_topics with configs")
    entries = c_describe(admin, "cfg-topic")
    check(entries["retention.ms"].value == "3600000", "retention.ms described as set")
    check(entries["retention.ms"].source == confluent_kafka.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
          "retention.ms source is DYNAMIC_TOPIC_CONFIG")
    check(entries["segment.bytes"].source == confluent_kafka.admin.ConfigSource.DEFAULT_CONFIG.value
          or entries["segment.bytes"].source == confluent_kafka.admin.ConfigSource.STATIC_BROKER_CONFIG.value,
          "segment.bytes comes from the defaults")
    check(entries["cleanup.policy"].value == "compact", "cleanup.policy described as set")
    err, kentries = k_describe(kadmin, "cfg-topic", ["retention.ms", "max.message.bytes"])
    check(err == 0 and set(kentries) == {"retention.ms", "max.message.bytes"},
          "kafka-python describe_configs with keys returns just those keys")
    check(kentries["retention.ms"][1] == "3600000", "kafka-python sees retention.ms")


def alter_both_ways(admin, kadmin, port):
    # kafka-python alter_configs replaces the whole override set.
    kadmin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "cfg-topic",
                                         configs={"retention.ms": "7200000"})])
    entries = c_describe(admin, "cfg-topic")
    check(entries["retention.ms"].value == "7200000", "alter_configs set retention.ms")
    check(entries["cleanup.policy"].value == "delete",
          "alter_configs removed cleanup.policy (not in the new set)")
    fs = admin.alter_configs([CRes("topic", "cfg-topic",
                                   set_config={"retention.ms": "1000", "segment.ms": "60000"})])
    check(c_error(list(fs.values())[0]) is None, "confluent alter_configs")
    entries = c_describe(admin, "cfg-topic")
    check(entries["retention.ms"].value == "1000" and entries["segment.ms"].value == "60000",
          "confluent alter_configs values visible")
    res = incremental(port, 2, "cfg-topic", [("retention.ms", SET, "5000"),
                                             ("segment.ms", DELETE, None),
                                             ("cleanup.policy", APPEND, "compact")])
    check(res == [(0, None)], "incremental SET/DELETE/APPEND: %r" % res)
    entries = c_describe(admin, "cfg-topic")
    check(entries["retention.ms"].value == "5000", "incremental SET applied")
    check(entries["segment.ms"].source != confluent_kafka.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
          "incremental DELETE back to the default")
    check(entries["cleanup.policy"].value == "delete,compact", "incremental APPEND to a list: %s"
          % entries["cleanup.policy"].value)
    res = incremental(port, 2, "cfg-topic", [("cleanup.policy", SUBTRACT, "delete")])
    check(res == [(0, None)] and c_describe(admin, "cfg-topic")["cleanup.policy"].value == "compact",
          "incremental SUBTRACT")
    res = incremental(port, 2, "cfg-topic", [("retention.ms", APPEND, "1")])
    check(res[0][0] == INVALID_CONFIG and "not LIST" in res[0][1], "APPEND to a non-list: %r" % res)
    res = incremental(port, 2, "cfg-topic", [("retention.ms", 9, "1")])
    check(res[0][0] == INVALID_REQUEST, "unknown operation is INVALID_REQUEST: %r" % res)
    res = incremental(port, 2, "cfg-topic", [("retention.ms", SET, "1"),
                                             ("cleanup.policy", DELETE, None)], validate_only=True)
    check(res == [(0, None)] and c_describe(admin, "cfg-topic")["retention.ms"].value == "5000",
          "validate_only changes nothing")
    # Back to defaults.
    res = incremental(port, 2, "cfg-topic", [("retention.ms", DELETE, None),
                                             ("cleanup.policy", DELETE, None)])
    entries = c_describe(admin, "cfg-topic")
    check(res == [(0, None)] and entries["retention.ms"].value == "604800000" and
          entries["retention.ms"].source != confluent_kafka.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
          "deleted configs are back to their defaults")


def bad_input(admin, port):
    before = c_describe(admin, "cfg-topic")
    cases = [({"no.such.config": "1"}, "Unknown topic config name: no.such.config"),
             ({"retention.ms": "abc"}, "Invalid value abc for configuration retention.ms"),
             ({"retention.ms": "-5"}, "Invalid value -5 for configuration retention.ms: "
                                      "Value must be at least -1")]
    for cfg, msg in cases:
        fs = admin.alter_configs([CRes("topic", "cfg-topic", set_config=cfg)])
        e = c_error(list(fs.values())[0])
        check(e is not None and e.code() == INVALID_CONFIG and msg in e.str(),
              "alter_configs %r -> INVALID_CONFIG '%s' (got %r)" % (cfg, msg, e))
        res = incremental(port, 2, "cfg-topic", [(k, SET, v) for k, v in cfg.items()])
        check(res[0][0] == INVALID_CONFIG and msg in (res[0][1] or ""),
              "incremental %r -> INVALID_CONFIG (got %r)" % (cfg, res))
        fs = admin.create_topics([CNewTopic("bad-topic", 1, 1, config=cfg)])
        e = c_error(fs["bad-topic"])
        check(e is not None and e.code() == INVALID_CONFIG and msg in e.str(),
              "create_topics %r -> INVALID_CONFIG (got %r)" % (cfg, e))
    after = c_describe(admin, "cfg-topic")
    check({k: v.value for k, v in before.items()} == {k: v.value for k, v in after.items()},
          "rejected changes left the configs alone")
    md = admin.list_topics(timeout=10)
    check("bad-topic" not in md.topics, "rejected topics were not created")
    fs = admin.alter_configs([CRes("topic", "no-such-topic", set_config={"retention.ms": "1"})])
    e = c_error(list(fs.values())[0])
    check(e is not None and e.code() == UNKNOWN_TOPIC, "alter on a missing topic: %r" % e)
    fs = admin.describe_configs([CRes("topic", "no-such-topic")])
    e = c_error(list(fs.values())[0])
    check(e is not None and e.code() == UNKNOWN_TOPIC, "describe a missing topic: %r" % e)
    fs = admin.create_topics([CNewTopic("rf-topic", 1, 3)])
    e = c_error(fs["rf-topic"])
    check(e is not None and e.code() == 38, "replication factor 3 on one broker: %r" % e)
    fs = admin.create_topics([CNewTopic("cfg-topic", 1, 1)])
    e = c_error(fs["cfg-topic"])
    check(e is not None and e.code() == 36, "existing topic: %r" % e)


def broker_configs(admin, port):
    res = incremental(port, 4, "", [("log.retention.ms", SET, "86400000")])
    check(res == [(0, None)], "cluster-default broker config set: %r" % res)
    fs = admin.describe_configs([CRes("broker", "1")])
    entries = list(fs.values())[0].result(10)
    e = entries["log.retention.ms"]
    check(e.value == "86400000" and
          e.source == confluent_kafka.admin.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value,
          "broker describe shows the dynamic default")
    check(c_describe(admin, "cfg-topic")["retention.ms"].value == "86400000",
          "topic without override follows the new broker default")
    res = incremental(port, 4, "1", [("log.dirs", SET, "/tmp/x")])
    check(res[0][0] == INVALID_REQUEST, "read-only broker config refused: %r" % res)
    res = incremental(port, 4, "7", [("log.retention.ms", SET, "1")])
    check(res[0][0] == INVALID_REQUEST, "other broker id refused: %r" % res)


def partitions_and_delete(admin, kadmin):
    kadmin.create_partitions({"cfg-topic": NewPartitions(5)})
    check(partitions_of(kadmin, "cfg-topic") == 5, "kafka-python create_partitions to 5")
    fs = admin.create_partitions([CNewPartitions("cfg-topic", 7)])
    check(c_error(fs["cfg-topic"]) is None and partitions_of(kadmin, "cfg-topic") == 7,
          "confluent create_partitions to 7")
    fs = admin.create_partitions([CNewPartitions("cfg-topic", 2)])
    e = c_error(fs["cfg-topic"])
    check(e is not None and e.code() == 37, "shrinking is INVALID_PARTITIONS: %r" % e)
    fs = admin.delete_topics(["cfg-topic"])
    check(c_error(fs["cfg-topic"]) is None, "delete_topics")
    fs = admin.delete_topics(["cfg-topic"])
    e = c_error(fs["cfg-topic"])
    check(e is not None and e.code() == UNKNOWN_TOPIC, "deleting again: %r" % e)
    resp = kadmin.create_topics([NewTopic("kp-topic", 2, 1, topic_configs={"retention.ms": "123"})])
    check(all(t[1] == 0 for t in resp.topic_errors), "kafka-python create_topics: %r" % (resp,))
    resp = kadmin.delete_topics(["kp-topic"])
    check(all(t[1] == 0 for t in resp.topic_error_codes), "kafka-python delete_topics")


def every_connection_sees_a_change(port, rounds=20, conns=8):
    """A topic answered as created is in the next Metadata answer of every
    connection, whichever shard serves it (connections are spread over the
    shards): each shard takes what the controller's shard published before
    it handles a request that arrived after it, as one Kafka broker's
    metadata cache serves all its connections."""
    cs = [wire.Conn(port) for _ in range(conns)]
    try:
        for i in range(rounds):
            name = "seen-%d" % i
            err, msg = wire.create_topic(port, name, partitions=2)
            check(err == 0, "create %s: %s %s" % (name, err, msg))
            for c in cs:
                c.send(wire.metadata_request(9, i, [name]))
            for n, c in enumerate(cs):
                corr, body = c.recv_frame()
                t = wire.decode_metadata(body, 9)["topics"][0]
                got = (t["error"], len(t["partitions"]))
                check(corr == i and got == (0, 2),
                      "connection %d's Metadata right after %s was created: %r" % (n, name, got))
    finally:
        for c in cs:
            c.close()


def acls_without_authorizer(kadmin):
    """No authorizer: Kafka answers the ACL APIs with SECURITY_DISABLED (kafka-python;
    confluent-kafka-python 1.7 has no ACL calls)."""
    from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             ResourcePattern, ResourcePatternFilter, ResourceType)
    from kafka.errors import SecurityDisabledError
    acl = ACL(principal="User:alice", host="*", operation=ACLOperation.READ,
              permission_type=ACLPermissionType.ALLOW,
              resource_pattern=ResourcePattern(ResourceType.TOPIC, "acl-t"))
    f = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                  permission_type=ACLPermissionType.ANY,
                  resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, "acl-t",
                                                             ACLResourcePatternType.LITERAL))
    for what, call in (("describe_acls", lambda: kadmin.describe_acls(f)),
                       ("create_acls", lambda: kadmin.create_acls([acl])),
                       ("delete_acls", lambda: kadmin.delete_acls([f]))):
        try:
            got = call()
        except SecurityDisabledError as e:
            got = e
        text = repr(got)
        check("SecurityDisabled" in text or "No Authorizer" in text,
              "kafka-python %s without an authorizer: %s" % (what, text[:160]))


def restart_keeps_configs(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    fs = admin.create_topics([CNewTopic("keep-topic", 1, 1, config={"retention.ms": "4242"})])
    check(c_error(fs["keep-topic"]) is None, "create keep-topic")
    check(broker.stop() == 0, "broker stops cleanly")
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    check(c_describe(admin, "keep-topic")["retention.ms"].value == "4242",
          "topic config survives a restart")
    fs = admin.describe_configs([CRes("broker", "1")])
    e = list(fs.values())[0].result(10)["log.retention.ms"]
    check(e.value == "86400000", "dynamic broker config survives a restart")


def min_insync(admin, bootstrap):
    """min.insync.replicas above the replication factor counts every replica
    and no more (Kafka's effectiveMinIsr, since 3.7): on a topic of one
    replica with min.insync.replicas=2 acks=all and acks=1 are written.
    NOT_ENOUGH_REPLICAS under a real ISR shrink is isr_test.py's."""
    fs = admin.create_topics([CNewTopic("min-isr", 1, 1, config={"min.insync.replicas": "2"})])
    check(c_error(fs["min-isr"]) is None, "min-isr created")
    got = {}

    def produce(acks):
        p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": acks, "retries": 0,
                                      "message.timeout.ms": 20000})
        p.produce("min-isr", b"v", on_delivery=lambda err, msg: got.__setitem__(acks, err))
        p.flush(30)
        return got.get(acks, "no delivery report")

    e = produce("all")
    check(e is None, "acks=all with min.insync.replicas 2 on one replica: %r" % e)
    check(produce("1") is None, "acks=1 needs no ISR")


def scenario(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    kadmin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    create_and_describe(admin, kadmin)
    alter_both_ways(admin, kadmin, broker.port)
    bad_input(admin, broker.port)
    min_insync(admin, broker.bootstrap)
    broker_configs(admin, broker.port)
    partitions_and_delete(admin, kadmin)
    every_connection_sees_a_change(broker.port)
    acls_without_authorizer(kadmin)
    kadmin.close()
    restart_keeps_configs(broker)


def main():
    skein = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "src", "skein")
    run(Broker(os.path.abspath(skein)), [scenario])


if __name__ == "__main__":
    main()
