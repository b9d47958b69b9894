#!/usr/bin/python3
"""Bulk round trip: 100,000 records per codec (none, gzip, snappy, lz4,
zstd), keyed and unkeyed, with headers and timestamps, plus one 1 MiB record
on a topic whose max.message.bytes is raised, produced by librdkafka
(confluent-kafka-python) and by kafka-python and consumed back by the other
client: every key, value, header, timestamp and offset must match.

usage: bulk_test.py SKEIN_BIN [RECORDS_PER_CODEC]"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer  # noqa: E402
from kafka import TopicPartition as KTP  # noqa: E402

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
BIG = 1 << 20


def record(i):
    key = None if i % 3 == 0 else b"key-%d" % i
    value = b"value-%d-" % i + bytes((i * 7 + j) % 251 for j in range(i % 64))
    headers = [("seq", b"%d" % i), ("parity", b"odd" if i % 2 else b"even")]
    return key, value, headers, 1700000000000 + i


def produce_one(p, topic, **kw):
    while True:
        try:
            p.produce(topic, **kw)
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            p.poll(0.1)


def produce_librdkafka(bootstrap, topic, codec, n, big):
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "acks": "all",
                  "linger.ms": 5, "message.max.bytes": 2 * BIG, "enable.idempotence": True})
    for i in range(n):
        k, v, h, ts = record(i)
        produce_one(p, topic, key=k, value=v, headers=h, timestamp=ts)
    if big:
        produce_one(p, topic, key=b"big", value=b"B" * BIG, timestamp=1700000000000 + n)
    assert p.flush(120) == 0, "librdkafka: undelivered records"


def produce_kafka_python(bootstrap, topic, codec, n, big):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                      compression_type=None if codec == "none" else codec,
                      max_request_size=2 * BIG, batch_size=256 * 1024)
    for i in range(n):
        k, v, h, ts = record(i)
        p.send(topic, key=k, value=v, headers=h, timestamp_ms=ts)
    if big:
        p.send(topic, key=b"big", value=b"B" * BIG, timestamp_ms=1700000000000 + n)
    p.flush(120)
    p.close()


def consume_librdkafka(bootstrap, topic, total):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bulk-" + topic,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "fetch.message.max.bytes": 2 * BIG})
    c.assign([TopicPartition(topic, 0, 0)])
    out, deadline = [], time.monotonic() + 180
    while len(out) < total and time.monotonic() < deadline:
        for m in c.consume(10000, 1):
            assert not m.error(), m.error()
            out.append((m.offset(), m.key(), m.value(), list(m.headers() or []),
                        m.timestamp()[1]))
    c.close()
    return out


def consume_kafka_python(bootstrap, topic, total):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      max_partition_fetch_bytes=2 * BIG, fetch_max_bytes=4 * BIG)
    tp = KTP(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    out, deadline = [], time.monotonic() + 180
    while len(out) < total and time.monotonic() < deadline:
        for msgs in c.poll(1000, max_records=10000).values():
            for m in msgs:
                out.append((m.offset, m.key, m.value, list(m.headers), m.timestamp))
    c.close()
    return out


def check(topic, got, n, big):
    total = n + (1 if big else 0)
    assert len(got) == total, "%s: read %d of %d records" % (topic, len(got), total)
    for i, (off, k, v, h, ts) in enumerate(got[:n]):
        ek, ev, eh, ets = record(i)
        if (off, k, v, [(a, bytes(b)) for a, b in h], ts) != (i, ek, ev, eh, ets):
            raise AssertionError("%s: record %d differs: got %r" % (topic, i, (off, k, v[:20], h, ts)))
    if big:
        off, k, v, _, _ = got[n]
        assert (off, k, len(v)) == (n, b"big", BIG), "%s: the 1 MiB record differs" % topic


def main():
    skein = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    b = Broker(skein, overrides=["num.partitions=1"])
    b.start()
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        producers = [("librdkafka", produce_librdkafka, "kafka-python", consume_kafka_python),
                     ("kafka-python", produce_kafka_python, "librdkafka", consume_librdkafka)]
        for pname, produce, cname, consume in producers:
            for codec in CODECS:
                topic = "bulk-%s-%s" % (pname, codec)
                # kafka-python 2.0.2 caps zstd output at 1 MiB, so the big one rides lz4.
                big = codec == "lz4"
                cfg = {"max.message.bytes": str(2 * BIG)} if big else {}
                admin.create_topics([NewTopic(topic, 1, 1, config=cfg)])[topic].result(10)
                t0 = time.monotonic()
                produce(b.bootstrap, topic, codec, n, big)
                t1 = time.monotonic()
                got = consume(b.bootstrap, topic, n + (1 if big else 0))
                t2 = time.monotonic()
                check(topic, got, n, big)
                print("%-13s -> %-13s %-6s %d records%s: produce %.1fs, consume %.1fs: identical"
                      % (pname, cname, codec, n, " + 1 MiB" if big else "", t1 - t0, t2 - t1),
                      flush=True)
        # Over the topic's limit: refused cleanly, the connection keeps working.
        p = Producer({"bootstrap.servers": b.bootstrap, "message.max.bytes": 4 * BIG,
                      "compression.type": "none"})
        errs = []
        p.produce("bulk-librdkafka-none", value=b"X" * (2 * BIG),
                  on_delivery=lambda e, m: errs.append(e))
        p.flush(30)
        assert errs and errs[0] is not None and errs[0].name() == "MSG_SIZE_TOO_LARGE", errs
        print("a 2 MiB record on a 1 MiB topic: %s" % errs[0].name())
    finally:
        rc = b.stop()
        b.cleanup()
    assert rc == 0, "broker exited %s" % rc


if __name__ == "__main__":
    main()
