"""Fetch v0-v3: consumers older than 0.11 read what a modern producer wrote.

usage: downconvert_test.py [path/to/skein]

librdkafka (confluent-kafka) produces records with keys, null keys, empty
values, headers and timestamps, uncompressed and with gzip, snappy and lz4.
Old-protocol consumers then read them back through down-conversion:
kafka-python with api_version (0, 10, 0) (Fetch v2, message format 1),
(0, 9) (Fetch v1, format 0) and (0, 8, 2) (Fetch v0), and sarama at V0_10_0_0 (Fetch v2) and at its
default version (V0_8_2_0 in Debian's 1.22: Fetch v0, format 0), and
librdkafka without ApiVersions (broker.version.fallback 0.9.0: Fetch v1;
0.8.2: Fetch v0). librdkafka at 0.9.0 also produces format-0 LZ4 (Kafka 0.8's
frame header checksum), which must be accepted and read back. Keys, values
and offsets must match, timestamps too where format 1 carries them, headers
must be gone. With a fetch size below one stored batch (Fetch v2's hard
limit) Kafka's overflow stub must make sarama grow its fetch size and read
everything, and kafka-python raise RecordTooLargeError.
A topic with message.downconversion.enable=false answers
UNSUPPORTED_VERSION to Fetch v2 and still serves Fetch v4+; a zstd batch
answers UNSUPPORTED_COMPRESSION_TYPE, and so does a topic with
compression.type=zstd to any fetch before v10. Exits non-zero naming what was expected
and what came back."""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker, default_skein  # noqa: E402
from skeinlib.sarama import build_sarama  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
import kafka  # noqa: E402
from kafka.consumer.fetcher import RecordTooLargeError  # noqa: E402
from kafka.protocol.fetch import FetchRequest  # noqa: E402

N = 3000
BASE_TS = 1_700_000_000_000
CODECS = ["none", "gzip", "snappy", "lz4"]


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def topic(codec):
    return "dc-" + codec


def record(i):
    key = None if i % 7 == 0 else b"key-%d" % i
    value = b"" if i % 11 == 0 else (b"value-%d-" % i) * (1 + i % 17)
    headers = [("h", b"%d" % i), ("empty", b"")] if i % 3 == 0 else []
    return key, value, headers, BASE_TS + i


def create_topics(bootstrap):
    a = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(topic(c), 1, 1) for c in CODECS + ["zstd"]]
    new.append(NewTopic("dc-disabled", 1, 1, config={"message.downconversion.enable": "false"}))
    new.append(NewTopic("dc-zstd-topic", 1, 1, config={"compression.type": "zstd"}))
    for t, f in a.create_topics(new).items():
        f.result(30)


def produce(bootstrap, t, codec, n):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                  "batch.num.messages": 200, "compression.type": codec})
    errors = []
    for i in range(n):
        key, value, headers, ts = record(i)
        p.produce(t, value=value, key=key, headers=headers, timestamp=ts, partition=0,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        if i % 500 == 0:
            p.poll(0)
    left = p.flush(30)
    expect(left == 0 and not errors, "%s: all %d produced (left %d, errors %s)"
           % (t, n, left, errors[:3]))


def check(client, t, got, with_ts):
    """got: (offset, key, value, header count, timestamp) in read order."""
    expect(len(got) == N, "%s %s: read %d of %d records" % (client, t, len(got), N))
    for i, (offset, key, value, nheaders, ts) in enumerate(got):
        wk, wv, _, wts = record(i)
        expect(offset == i, "%s %s: offset %d at position %d" % (client, t, offset, i))
        expect(key == wk, "%s %s: offset %d key %r, expected %r" % (client, t, i, key, wk))
        expect((value or b"") == wv, "%s %s: offset %d value %r, expected %r"
               % (client, t, i, (value or b"")[:40], wv[:40]))
        expect(nheaders == 0, "%s %s: offset %d has %d headers" % (client, t, i, nheaders))
        if with_ts:
            expect(ts == wts, "%s %s: offset %d timestamp %s, expected %d" % (client, t, i, ts, wts))
        else:
            expect(ts in (None, -1), "%s %s: offset %d timestamp %s with format 0"
                   % (client, t, i, ts))


def kafka_python_read(bootstrap, t, api_version):
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, api_version=api_version,
                            enable_auto_commit=False, consumer_timeout_ms=10000,
                            max_partition_fetch_bytes=64 * 1024)
    tp = kafka.TopicPartition(t, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    for m in c:
        got.append((m.offset, m.key, m.value, len(m.headers or []), m.timestamp))
        if len(got) == N:
            break
    c.close()
    return got


def fetch_versions_sent(api_version):
    """The Fetch version kafka-python uses at api_version (to name it in the report)."""
    return {(0, 10, 0): 2, (0, 9): 1, (0, 8, 2): 0}[api_version]


def has_xxhash():
    try:
        import xxhash  # noqa: F401
        return True
    except ImportError:
        return False


def check_kafka_python(bootstrap):
    for api_version, with_ts in (((0, 10, 0), True), ((0, 9), False), ((0, 8, 2), False)):
        for codec in CODECS:
            t = topic(codec)
            if codec == "lz4" and api_version < (0, 10) and not has_xxhash():
                # kafka-python reads format-0 LZ4 (Kafka 0.8's header checksum) with
                # the xxhash module only; Debian's python3-kafka does not pull it in.
                print("skip kafka-python Fetch v%d %s: python3-xxhash not installed"
                      % (fetch_versions_sent(api_version), t))
                continue
            got = kafka_python_read(bootstrap, t, api_version)
            check("kafka-python Fetch v%d" % fetch_versions_sent(api_version), t, got, with_ts)


def check_too_large(bootstrap):
    """Fetch v2 with a fetch size below one stored batch: as with Kafka,
    kafka-python is told the message is larger than its fetch size."""
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, api_version=(0, 10, 0),
                            enable_auto_commit=False, consumer_timeout_ms=5000,
                            max_partition_fetch_bytes=512)
    tp = kafka.TopicPartition(topic("none"), 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    try:
        got = [m.offset for m in c]
        raise Failure("kafka-python fetch 512 B: read %d records, expected RecordTooLargeError"
                      % len(got))
    except RecordTooLargeError:
        pass
    finally:
        c.close()


def librdkafka_read(bootstrap, t, fallback):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "api.version.request": False, "broker.version.fallback": fallback,
                  "max.partition.fetch.bytes": 64 * 1024})
    c.assign([TopicPartition(t, 0, 0)])
    got, deadline = [], time.time() + 60
    while len(got) < N and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        expect(not m.error(), "librdkafka %s %s: %s" % (fallback, t, m.error()))
        ts_type, ts = m.timestamp()
        got.append((m.offset(), m.key(), m.value(), len(m.headers() or []),
                    ts if ts_type != confluent_kafka.TIMESTAMP_NOT_AVAILABLE else None))
    c.close()
    return got


def check_librdkafka(bootstrap):
    """librdkafka without ApiVersions: Fetch v1 at 0.9.0, v0 at 0.8.2 (at 0.10.0
    and later it asks for ApiVersions anyway and fetches at v4+)."""
    for fallback, with_ts in (("0.9.0", False), ("0.8.2", False)):
        for codec in CODECS:
            got = librdkafka_read(bootstrap, topic(codec), fallback)
            check("librdkafka fallback " + fallback, topic(codec), got, with_ts)


def check_old_produce(bootstrap):
    """Produce v1 (format 0) from librdkafka at 0.9.0, LZ4 frames with Kafka 0.8's
    header checksum included, read back by a current consumer and an old one."""
    t = "dc-old-lz4"
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": "lz4", "linger.ms": 20,
                  "api.version.request": False, "broker.version.fallback": "0.9.0"})
    errors = []
    for i in range(N):
        key, value, _, _ = record(i)
        p.produce(t, value=value, key=key, partition=0,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    expect(p.flush(30) == 0 and not errors, "%s: produce v1 lz4 errors %s" % (t, errors[:3]))
    for fallback in (None, "0.9.0"):
        if fallback:
            got = librdkafka_read(bootstrap, t, fallback)
        else:
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                          "enable.auto.commit": False})
            c.assign([TopicPartition(t, 0, 0)])
            got, deadline = [], time.time() + 60
            while len(got) < N and time.time() < deadline:
                m = c.poll(1.0)
                if m is not None and not m.error():
                    got.append((m.offset(), m.key(), m.value(), 0, None))
            c.close()
        check("librdkafka %s" % (fallback or "current"), t, got, False)


def check_sarama(bootstrap, tmp):
    sarama = build_sarama(tmp)
    if sarama is None:
        print("skip sarama: go or Debian's sarama not installed")
        return
    import subprocess
    # The last run fetches 1 KiB at a time, less than one stored batch: at
    # Fetch v2 nothing fits, the overflow stub tells sarama to grow its fetch.
    for version, with_ts, fetch in (("0.10.0.0", True, 64 * 1024), ("default", False, 64 * 1024),
                                    ("0.10.0.0", True, 1024)):
        codecs = CODECS
        if version == "default":
            # Format-0 LZ4 carries Kafka 0.8's frame header checksum, which Kafka
            # still writes and sarama's LZ4 reader rejects (against Kafka too);
            # sarama itself requires V0_10_0_0 for LZ4.
            codecs = [c for c in CODECS if c != "lz4"]
            print("skip sarama default %s: sarama cannot read format-0 LZ4" % topic("lz4"))
        if fetch < 64 * 1024:
            codecs = ["none"]
        out = os.path.join(tmp, "sarama-%s-%d.jsonl" % (version, fetch))
        r = subprocess.run([sarama, "dc-consume", "-bootstrap", bootstrap,
                            "-topics", ",".join(topic(c) for c in codecs), "-out", out,
                            "-version", version, "-count", str(N), "-fetch", str(fetch)],
                           capture_output=True, timeout=300)
        lines = r.stdout.decode().splitlines()
        result = [l for l in lines if l.startswith("RESULT ")]
        expect(result and json.loads(result[-1][7:])["status"] == "pass",
               "sarama %s fetch %d: %s"
               % (version, fetch, result[-1] if result else r.stderr.decode()[-800:]))
        by_topic = {}
        with open(out) as f:
            for line in f:
                t, offset, k, v, nh, ts = json.loads(line)
                by_topic.setdefault(t, []).append(
                    (offset, bytes.fromhex(k) if k is not None else None,
                     bytes.fromhex(v) if v is not None else None, nh, ts))
        for codec in codecs:
            got = by_topic.get(topic(codec), [])
            if not with_ts:
                # sarama reports a format-0 message's missing timestamp as the zero time.
                got = [g[:4] + (None,) for g in got]
            check("sarama %s fetch %d" % (version, fetch), topic(codec), got, with_ts)


def raw_fetch_error(bootstrap, t, version):
    """Partition error of one FetchRequest at version, sent with kafka-python's client."""
    from kafka.client_async import KafkaClient
    client = KafkaClient(bootstrap_servers=bootstrap, api_version=(0, 10, 0))
    try:
        node = None
        deadline = time.time() + 10
        while node is None and time.time() < deadline:
            client.poll(timeout_ms=100)
            node = client.least_loaded_node()
        while not client.ready(node) and time.time() < deadline:
            client.poll(timeout_ms=100)
        limit = [1 << 20] if version >= 3 else []
        isolation = [0] if version >= 4 else []
        req = FetchRequest[version](*([-1, 500, 1] + limit + isolation + [[(t, [(0, 0, 1 << 20)])]]))
        fut = client.send(node, req)
        client.poll(future=fut, timeout_ms=10000)
        expect(fut.succeeded(), "raw Fetch v%d on %s: %s" % (version, t, fut.exception))
        part = fut.value.topics[0][1][0]
        if os.environ.get("DC_DEBUG"):
            print("raw Fetch v%d %s: %r" % (version, t, part))
        return part[1]
    finally:
        client.close()


def check_refusals(bootstrap):
    produce(bootstrap, "dc-disabled", "lz4", 10)
    # librdkafka sends a batch uncompressed when the codec does not shrink it:
    # one long lingering batch of repetitive values makes sure it is zstd.
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": "zstd", "linger.ms": 200})
    for i in range(10):
        p.produce(topic("zstd"), value=b"zstd " * 200, partition=0)
    expect(p.flush(30) == 0, "%s: produced" % topic("zstd"))
    err = raw_fetch_error(bootstrap, "dc-disabled", 2)
    expect(err == 35, "dc-disabled: Fetch v2 error %d, expected 35 (UNSUPPORTED_VERSION)" % err)
    err = raw_fetch_error(bootstrap, topic("zstd"), 2)
    expect(err == 76, "dc-zstd: Fetch v2 error %d, expected 76 (UNSUPPORTED_COMPRESSION_TYPE)"
           % err)
    # Kafka refuses a zstd topic to every fetch before v10 (zstd arrived in v10).
    produce(bootstrap, "dc-zstd-topic", "none", 10)
    for v in (2, 4):
        err = raw_fetch_error(bootstrap, "dc-zstd-topic", v)
        expect(err == 76, "dc-zstd-topic: Fetch v%d error %d, expected 76" % (v, err))
    # A current consumer still reads the topic where down-conversion is off.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("dc-disabled", 0, 0)])
    n, deadline = 0, time.time() + 30
    while n < 10 and time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            n += 1
    c.close()
    expect(n == 10, "dc-disabled: confluent-kafka read %d of 10 records" % n)


def main():
    skein = sys.argv[1] if len(sys.argv) > 1 else default_skein()
    broker = Broker(skein)
    broker.start()
    tmp = tempfile.mkdtemp(prefix="skein-dc-")
    try:
        steps = [("create-topics", lambda: create_topics(broker.bootstrap))]
        steps += [("produce-" + c, lambda c=c: produce(broker.bootstrap, topic(c), c, N))
                  for c in CODECS]
        steps += [("kafka-python", lambda: check_kafka_python(broker.bootstrap)),
                  ("too-large", lambda: check_too_large(broker.bootstrap)),
                  ("librdkafka", lambda: check_librdkafka(broker.bootstrap)),
                  ("sarama", lambda: check_sarama(broker.bootstrap, tmp)),
                  ("old-produce", lambda: check_old_produce(broker.bootstrap)),
                  ("refusals", lambda: check_refusals(broker.bootstrap))]
        for name, step in steps:
            t0 = time.monotonic()
            step()
            print("ok   %-18s %.2fs" % (name, time.monotonic() - t0))
    except Failure as e:
        print("FAIL %s\n--- broker stderr (tail) ---\n%s" % (e, broker.tail(40)))
        return 1
    finally:
        rc = broker.stop()
        report = broker.sanitizer_report()
        broker.cleanup()
    if report:
        print("FAIL sanitizer report:\n%s" % report)
        return 1
    if rc not in (0, None):
        print("FAIL broker exited with %s" % rc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
