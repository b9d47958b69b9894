#!/usr/bin/python3
"""Log compaction with real clients.

A topic with cleanup.policy=compact, small segments and
min.cleanable.dirty.ratio=0.01 gets many updates to a few keys from librdkafka
(confluent-kafka) and kafka-python, then tombstones for some keys. Once the
cleaner has run, a fresh consumer reads exactly the latest value of each key
(the tombstoned keys as tombstones, then, after delete.retention.ms, not at
all), in increasing offsets. One consumer group commits 20,000 times: the
__consumer_offsets partition it writes to shrinks instead of growing. After a
SIGKILL the broker comes back with the same committed offset and the same
compacted contents.

usage: compaction_test.py SKEIN_BIN"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

TOPIC = "compacted"
KEYS = 20
DELETED = 5
DELETE_RETENTION_MS = 3000
COMMITS = 20000


def log_bytes(data_dir, part_dir):
    d = os.path.join(data_dir, "logs", part_dir)
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".log"))


def produce_updates(bootstrap):
    """Returns the latest value per key (None for a tombstone)."""
    latest = {}
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": "lz4"})
    for i in range(3000):
        k, v = b"key-%d" % (i % KEYS), b"rdkafka-%d-" % i + b"x" * 100
        p.produce(TOPIC, key=k, value=v)
        latest[k] = v
        if i % 500 == 0:
            p.poll(0)
    assert p.flush(20) == 0
    kp = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", linger_ms=5)
    for i in range(2000):
        k, v = b"key-%d" % (i % KEYS), b"kafka-python-%d-" % i + b"y" * 80
        kp.send(TOPIC, key=k, value=v)
        latest[k] = v
    kp.flush(20)
    kp.close()
    for i in range(DELETED):
        p.produce(TOPIC, key=b"key-%d" % i, value=None)
        latest[b"key-%d" % i] = None
    assert p.flush(20) == 0
    return latest


def roll_active(bootstrap):
    """segment.ms rolls only on append: wait it out, then append a marker."""
    time.sleep(1.2)
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(TOPIC, key=b"zz-marker", value=b"m")
    assert p.flush(10) == 0


def read_all(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-%f" % time.time(),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    c.assign([TopicPartition(TOPIC, 0, lo)])
    out, last = [], -1
    deadline = time.monotonic() + 30
    while last < hi - 1 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        assert m.offset() > last, "offsets went backwards: %d after %d" % (m.offset(), last)
        last = m.offset()
        out.append((m.key(), m.value(), m.offset()))
    c.close()
    assert last == hi - 1, "read up to %d of %d" % (last, hi)
    return out


def wait_for(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError("timed out waiting for " + what)


def check_latest(bootstrap, latest, tombstones_gone):
    recs = [r for r in read_all(bootstrap) if r[0] != b"zz-marker"]
    seen = {}
    for k, v, off in recs:
        seen.setdefault(k, []).append(v)
    want = {k: v for k, v in latest.items() if not (tombstones_gone and v is None)}
    if set(seen) != set(want):
        return False
    for k, vs in seen.items():
        if vs != [want[k]]:
            return False
    return True


def commit_many(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "committer",
                  "enable.auto.commit": False})
    for i in range(1, COMMITS):
        c.commit(offsets=[TopicPartition(TOPIC, 0, i)], asynchronous=True)
        if i % 1000 == 0:
            c.poll(0)
    c.commit(offsets=[TopicPartition(TOPIC, 0, COMMITS)], asynchronous=False)
    c.close()


def committed(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "committer"})
    tp = c.committed([TopicPartition(TOPIC, 0)], timeout=15)[0]
    c.close()
    return tp.offset


def offsets_log_ends(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    ends = {p: c.get_watermark_offsets(TopicPartition("__consumer_offsets", p), timeout=10)[1]
            for p in range(2)}
    c.close()
    return ends


def main():
    b = Broker(sys.argv[1], overrides=["log.cleaner.backoff.ms=200",
                                       "offsets.topic.num.partitions=2",
                                       "offsets.topic.segment.bytes=65536"])
    b.start()
    try:
        a = AdminClient({"bootstrap.servers": b.bootstrap})
        a.create_topics([NewTopic(TOPIC, 1, 1, config={
            "cleanup.policy": "compact", "segment.bytes": "16384", "segment.ms": "1000",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": str(DELETE_RETENTION_MS)})])[TOPIC].result(10)
        latest = produce_updates(b.bootstrap)
        roll_active(b.bootstrap)
        wait_for("the cleaner to leave one value per key",
                 lambda: check_latest(b.bootstrap, latest, tombstones_gone=False), 30)
        print("compacted topic: %d bytes of log for %d keys after 5,000 updates"
              % (log_bytes(b.data_dir, TOPIC + "-0"), KEYS))
        # Tombstones go after delete.retention.ms past the clean that kept them.
        wait_for("tombstones to be removed",
                 lambda: check_latest(b.bootstrap, latest, tombstones_gone=True),
                 DELETE_RETENTION_MS / 1000 + 30)

        t0 = time.monotonic()
        commit_many(b.bootstrap)
        print("%d commits in %.1f s" % (COMMITS, time.monotonic() - t0))
        ends = offsets_log_ends(b.bootstrap)
        busy = max(ends, key=ends.get)
        assert ends[busy] >= COMMITS, ends
        # 20k commit records of ~100 bytes were written; cleaned, what is left is
        # the active 64 KiB segment and little more
        part_dir = "__consumer_offsets-%d" % busy
        wait_for("__consumer_offsets to shrink",
                 lambda: log_bytes(b.data_dir, part_dir) < 3 * 65536, 60)
        print("%s: %d records written, %d bytes of log left"
              % (part_dir, ends[busy], log_bytes(b.data_dir, part_dir)))
        got = committed(b.bootstrap)
        assert got == COMMITS, "committed %r" % got
        assert os.path.exists(os.path.join(b.data_dir, "logs", "cleaner-offset-checkpoint"))

        b.kill()
        b.start()
        assert committed(b.bootstrap) == COMMITS, "committed offset after SIGKILL"
        assert check_latest(b.bootstrap, latest, tombstones_gone=True), "contents after SIGKILL"
        rc = b.stop()
        assert rc == 0, "exit status %s after SIGTERM" % rc
        report = b.sanitizer_report()
        assert not report, report
        print("compaction: OK")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
