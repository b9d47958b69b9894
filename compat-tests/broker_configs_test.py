#!/usr/bin/python3
"""Broker configs as Kafka 3.9 treats them, against a real Skein broker, through
@platformatic/kafka's admin client (IncrementalAlterConfigs, DescribeConfigs),
confluent-kafka's AdminClient (AlterConfigs, DescribeConfigs) and kafka-python's
KafkaAdminClient (AlterConfigs):

  - a Kafka key Skein does not act on (sasl.kerberos.min.time.before.relogin) is
    accepted on the broker and described back, and refused at the cluster default
    because Kafka makes it per-broker;
  - a dynamic key (message.max.bytes) set on the broker applies at once: a producer's
    larger record is refused;
  - read-only keys (broker.id, log.dirs) are refused with Kafka's INVALID_REQUEST and
    message, a bad value with Kafka's validator message (INVALID_REQUEST too, as
    Kafka's ConfigAdminManager answers: KAFKA-13609), a log.cleaner.threads step
    Kafka's log cleaner refuses with its message, a step it takes is stored;
  - a name Kafka does not define is stored, as Kafka does for a broker resource, and
    described as sensitive;
  - after a restart the stored values are still there.

usage: broker_configs_test.py SKEIN"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import confluent_kafka  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource as CRes  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient  # noqa: E402

from skeinlib.broker import Broker  # noqa: E402
from skeinlib.checks import check, run  # noqa: E402

INVALID_REQUEST = 42
KERBEROS = "sasl.kerberos.min.time.before.relogin"
SET, DELETE = 0, 1


def platformatic(b, *args):
    out = subprocess.run(["node", os.path.join(HERE, "js", "broker_configs.mjs"), args[0],
                          b.bootstrap, *args[1:]], capture_output=True, timeout=60)
    lines = out.stdout.decode().strip().splitlines()
    if not lines:
        raise AssertionError("broker_configs.mjs %s: %s" % (args, out.stderr.decode()[-2000:]))
    return json.loads(lines[-1])


def refusal(answer):
    """(error code, message) of a refused single-resource request, or None."""
    rs = answer.get("responses") or []
    return (rs[0]["errorCode"], rs[0]["errorMessage"]) if rs else None


def legacy_alter(b, broker, configs):
    """(error code, message) of kafka-python's AlterConfigs on a broker resource
    (@platformatic/kafka cannot name the cluster default)."""
    kadmin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=10000)
    try:
        r = kadmin.alter_configs([ConfigResource(ConfigResourceType.BROKER, broker,
                                                 configs=configs)])
        return tuple(r.resources[0][:2])
    finally:
        kadmin.close()


def describe(b, broker):
    """{name: entry} of DescribeConfigs on a broker resource, from confluent-kafka."""
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    fs = admin.describe_configs([CRes("broker", broker)])
    return list(fs.values())[0].result(10)


def accepted_and_described(b):
    check(platformatic(b, "alter", "1", KERBEROS, str(SET), "30000") == {"ok": True},
          "IncrementalAlterConfigs sets %s on broker 1" % KERBEROS)
    e = describe(b, "1").get(KERBEROS)
    check(e is not None and e.value == "30000" and not e.is_read_only and
          e.source == confluent_kafka.admin.ConfigSource.DYNAMIC_BROKER_CONFIG.value,
          "confluent-kafka describes it back: %r" % ((e and (e.value, e.source, e.is_read_only)),))
    d = platformatic(b, "describe", "1")
    entry = [c for r in d for c in r["configs"] if c["name"] == KERBEROS]
    check(len(entry) == 1 and entry[0]["value"] == "30000",
          "@platformatic/kafka describes it back: %r" % entry)
    got = legacy_alter(b, "", {KERBEROS: "30000"})
    check(got == (INVALID_REQUEST, "Cannot update these configs at default cluster level, broker "
                                   "id must be specified: Set(%s)" % KERBEROS),
          "refused at the cluster default, as Kafka refuses per-broker keys: %r" % (got,))


def dynamic_key_applies(b):
    check(platformatic(b, "alter", "1", "message.max.bytes", str(SET), "2000") == {"ok": True},
          "message.max.bytes=2000 on broker 1")
    p = Producer({"bootstrap.servers": b.bootstrap, "message.max.bytes": 1000000})
    errors = []
    p.produce("cfg-big", b"x" * 4000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    p.produce("cfg-big", b"y" * 100, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    codes = sorted(str(e.code()) if e else "ok" for e in errors)
    check(len(errors) == 2 and errors[0] is not None and
          errors[0].code() == confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE and errors[1] is None,
          "a 4000-byte record is refused at once, a small one stored: %s" % codes)
    check(platformatic(b, "alter", "1", "message.max.bytes", str(DELETE)) == {"ok": True},
          "message.max.bytes override removed")


def refusals(b):
    got = refusal(platformatic(b, "alter", "1", "broker.id", str(SET), "7"))
    check(got == (INVALID_REQUEST, "Cannot update these configs dynamically: Set(broker.id)"),
          "read-only broker.id refused (IncrementalAlterConfigs): %r" % (got,))
    got = legacy_alter(b, "1", {"log.dirs": "/elsewhere"})
    check(got == (INVALID_REQUEST, "Cannot update these configs dynamically: Set(log.dirs)"),
          "read-only log.dirs refused (kafka-python AlterConfigs): %r" % (got,))
    got = refusal(platformatic(b, "alter", "1", "log.cleaner.threads", str(SET), "-1"))
    check(got == (INVALID_REQUEST, "Invalid value -1 for configuration log.cleaner.threads: "
                                   "Value must be at least 0"),
          "bad value refused with Kafka's validator message: %r" % (got,))
    got = refusal(platformatic(b, "alter", "1", "log.cleaner.threads", str(SET), "4"))
    check(got == (INVALID_REQUEST, "Invalid value org.apache.kafka.common.config.ConfigException: "
                                   "Log cleaner threads cannot be increased to more than double "
                                   "the current value 1 for configuration Invalid dynamic "
                                   "configuration"),
          "a cleaner thread count Kafka's log cleaner would refuse as a change: %r" % (got,))
    check(platformatic(b, "alter", "1", "log.cleaner.threads", str(SET), "2") == {"ok": True},
          "log.cleaner.threads=2, within Kafka's twofold step")
    e = describe(b, "1").get("log.cleaner.threads")
    check(e is not None and e.value == "2", "log.cleaner.threads described back: %r" %
          ((e and e.value),))
    got = refusal(platformatic(b, "alter", "1", KERBEROS, str(SET), "soon"))
    check(got is not None and got[0] == INVALID_REQUEST and "Not a number of type LONG" in got[1],
          "bad value of a key Skein does not act on refused too: %r" % (got,))
    e = describe(b, "1").get(KERBEROS)
    check(e is not None and e.value == "30000", "refused changes left the stored value alone")


def unknown_name(b):
    got = legacy_alter(b, "", {"acme.plugin.mode": "fast"})
    check(got == (0, None), "a name Kafka does not define is stored, as Kafka does: %r" % (got,))
    e = describe(b, "1").get("acme.plugin.mode")
    check(e is not None and e.is_sensitive and e.value is None and e.is_read_only,
          "and described as sensitive and read-only: %r" %
          ((e and (e.value, e.is_sensitive, e.is_read_only)),))


def restart_keeps(b):
    check(b.stop() == 0, "broker stops cleanly")
    b.start()
    entries = describe(b, "1")
    e = entries.get(KERBEROS)
    check(e is not None and e.value == "30000", "%s survives a restart" % KERBEROS)
    check("acme.plugin.mode" in entries, "the unknown name survives a restart")
    e = entries.get("message.max.bytes")
    check(e is not None and e.value == "1048588", "the removed override stays removed")


def main():
    skein = sys.argv[1] if len(sys.argv) > 1 else None
    run(Broker(os.path.abspath(skein)),
        [accepted_and_described, dynamic_key_applies, refusals, unknown_name, restart_keeps])


if __name__ == "__main__":
    main()
