"""Fetch, ListOffsets and DeleteRecords against real clients.

usage: fetch_test.py [path/to/skein]

10,000 records produced with keys, values, headers and timestamps come back
identical (offsets included) through confluent-kafka (librdkafka), kafka-python
and kcat; a waiting consumer gets a later record within milliseconds rather
than at fetch.wait.max.ms; offsets for a timestamp and seeking work; and
DeleteRecords moves the log start offset. Exits non-zero naming what was
expected and what came back."""
import os
import shutil
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker, default_skein  # noqa: E402
from skeinlib import wire  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
import kafka  # noqa: E402

N = 10000
TOPIC = "fetch-roundtrip"
BASE_TS = 1_700_000_000_000


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def record(i):
    key = None if i % 97 == 0 else b"key-%d" % i
    value = b"" if i % 89 == 0 else (b"value-%d-" % i) * (1 + i % 13)
    headers = [("h", b"%d" % i), ("empty", b"")] if i % 3 == 0 else []
    return key, value, headers, BASE_TS + i


def produce_all(bootstrap):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "batch.num.messages": 500, "compression.type": "lz4"})
    errors = []
    for i in range(N):
        key, value, headers, ts = record(i)
        p.produce(TOPIC, value=value, key=key, headers=headers, timestamp=ts, partition=0,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(30)
    expect(left == 0 and not errors, "all %d produced (left %d, errors %s)" % (N, left, errors[:3]))


def check_record(client, i, offset, key, value, headers, ts):
    wk, wv, wh, wts = record(i)
    expect(offset == i, "%s: offset %d, expected %d" % (client, offset, i))
    expect(key == wk, "%s: offset %d key %r, expected %r" % (client, i, key, wk))
    expect(value == wv, "%s: offset %d value %r, expected %r" % (client, i, value[:40], wv[:40]))
    expect(list(headers) == wh, "%s: offset %d headers %r, expected %r" % (client, i, headers, wh))
    expect(ts == wts, "%s: offset %d timestamp %d, expected %d" % (client, i, ts, wts))


def confluent_consumer(bootstrap, **extra):
    conf = {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
            "enable.partition.eof": True}
    conf.update(extra)
    return Consumer(conf)


def consume_confluent(bootstrap):
    c = confluent_consumer(bootstrap, **{"fetch.max.bytes": 64 * 1024, "message.max.bytes": 64 * 1024,
                                         "max.partition.fetch.bytes": 16 * 1024})
    c.assign([TopicPartition(TOPIC, 0, confluent_kafka.OFFSET_BEGINNING)])
    n = 0
    deadline = time.time() + 60
    while n < N and time.time() < deadline:
        m = c.poll(1.0)
        if m is None or (m.error() and m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF):
            continue
        expect(not m.error(), "confluent-kafka: fetch error %s" % m.error())
        check_record("confluent-kafka", n, m.offset(), m.key(), m.value(),
                     [(k, v) for k, v in (m.headers() or [])], m.timestamp()[1])
        n += 1
    c.close()
    expect(n == N, "confluent-kafka read %d of %d records" % (n, N))


def consume_kafka_python(bootstrap):
    c = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                            enable_auto_commit=False, consumer_timeout_ms=10000,
                            max_partition_fetch_bytes=32 * 1024)
    tp = kafka.TopicPartition(TOPIC, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    n = 0
    for m in c:
        check_record("kafka-python", n, m.offset, m.key, m.value or b"",
                     [(k, v or b"") for k, v in m.headers], m.timestamp)
        n += 1
        if n == N:
            break
    c.close()
    expect(n == N, "kafka-python read %d of %d records" % (n, N))


def kcat(bootstrap, args, stdin=None):
    r = subprocess.run(["kcat", "-b", bootstrap] + args, input=stdin, capture_output=True,
                       timeout=120)
    expect(r.returncode == 0, "kcat %s: exit %d: %s" % (args, r.returncode, r.stderr[-500:]))
    return r.stdout


def check_kcat(bootstrap):
    out = kcat(bootstrap, ["-C", "-t", TOPIC, "-o", "beginning", "-e", "-q",
                           "-f", "%o|%T|%S\n"])
    lines = out.decode().splitlines()
    expect(len(lines) == N, "kcat -C read %d of %d records" % (len(lines), N))
    for i, line in enumerate(lines):
        off, ts, size = (int(x) for x in line.split("|"))
        _, value, _, wts = record(i)
        expect((off, ts, size) == (i, wts, len(value)),
               "kcat: record %d is %s, expected %d|%d|%d" % (i, line, i, wts, len(value)))
    lines_in = b"".join(b"line-%d\n" % i for i in range(100))
    kcat(bootstrap, ["-P", "-t", "kcat-topic"], stdin=lines_in)
    out = kcat(bootstrap, ["-C", "-t", "kcat-topic", "-o", "beginning", "-e", "-q"])
    expect(out == lines_in, "kcat -P then -C gave %r..., expected %r..." % (out[:60], lines_in[:60]))


def check_long_poll(bootstrap):
    """A consumer parked on an empty partition gets a new record at once."""
    topic = "long-poll"
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    p.produce(topic, b"first", partition=0)
    p.flush(10)
    c = confluent_consumer(bootstrap, **{"fetch.wait.max.ms": 5000, "fetch.min.bytes": 1})
    c.assign([TopicPartition(topic, 0, 1)])
    got = {}

    def reader():
        deadline = time.time() + 20
        while time.time() < deadline:
            m = c.poll(0.05)
            if m is not None and not m.error():
                got["at"] = time.monotonic()
                got["value"] = m.value()
                got["offset"] = m.offset()
                return
        got["timeout"] = True

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(1.5)  # the consumer's fetch is parked on the broker by now
    sent = time.monotonic()
    p.produce(topic, b"later", partition=0)
    p.flush(10)
    t.join()
    c.close()
    expect(got.get("value") == b"later", "long poll: got %r, expected b'later'" % (got,))
    latency_ms = (got["at"] - sent) * 1000
    print("long poll: record arrived %.1f ms after produce (fetch.wait.max.ms 5000)" % latency_ms)
    expect(latency_ms < 500, "long poll: record arrived after %.0f ms, expected well under "
           "fetch.wait.max.ms" % latency_ms)


def check_offsets_for_times(bootstrap):
    c = confluent_consumer(bootstrap)
    for i in (0, 1, 4321, N - 1):
        r = c.offsets_for_times([TopicPartition(TOPIC, 0, BASE_TS + i)], timeout=10)
        expect(r[0].error is None and r[0].offset == i,
               "offsets_for_times(%d): offset %d error %s, expected %d" %
               (BASE_TS + i, r[0].offset, r[0].error, i))
    r = c.offsets_for_times([TopicPartition(TOPIC, 0, BASE_TS + N + 5)], timeout=10)
    expect(r[0].offset in (-1, N), "offsets_for_times past the end: %d" % r[0].offset)
    lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    expect((lo, hi) == (0, N), "watermarks (%d, %d), expected (0, %d)" % (lo, hi, N))
    # Seek to the offset found for a timestamp and read from there.
    c.assign([TopicPartition(TOPIC, 0, 7777)])
    m = None
    deadline = time.time() + 10
    while time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            break
    expect(m is not None and m.offset() == 7777 and m.value() == record(7777)[1],
           "seek to 7777 read %s" % (m and m.offset()))
    c.close()

    kc = kafka.KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    tp = kafka.TopicPartition(TOPIC, 0)
    found = kc.offsets_for_times({tp: BASE_TS + 2500})[tp]
    expect(found is not None and found.offset == 2500 and found.timestamp == BASE_TS + 2500,
           "kafka-python offsets_for_times: %s" % (found,))
    expect(kc.beginning_offsets([tp])[tp] == 0 and kc.end_offsets([tp])[tp] == N,
           "kafka-python beginning/end offsets")
    kc.close()


def delete_records(port, topic, partition, offset):
    """DeleteRecords v1 by hand: no installed client has it."""
    body = (struct.pack(">i", 1) + wire.string(topic) + struct.pack(">i", 1) +
            struct.pack(">iq", partition, offset) + struct.pack(">i", 10000))
    c = wire.Conn(port)
    try:
        c.send(wire.frame(wire.header(21, 1, 99) + body))
        corr, resp = c.recv_frame()
    finally:
        c.close()
    r = wire.Reader(resp)
    r.take(4)  # throttle
    expect(struct.unpack(">i", r.take(4))[0] == 1, "DeleteRecords: one topic back")
    r.take(struct.unpack(">h", r.take(2))[0])
    expect(struct.unpack(">i", r.take(4))[0] == 1, "DeleteRecords: one partition back")
    part, low, err = struct.unpack(">iqh", r.take(14))
    return low, err


def check_delete_records(broker):
    low, err = delete_records(broker.port, TOPIC, 0, 3000)
    expect((low, err) == (3000, 0), "DeleteRecords(3000): low %d error %d" % (low, err))
    low, err = delete_records(broker.port, TOPIC, 0, N + 1)
    expect(err == 1, "DeleteRecords beyond the high watermark: error %d, expected 1" % err)
    c = confluent_consumer(broker.bootstrap)
    lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    expect((lo, hi) == (3000, N), "after DeleteRecords watermarks (%d, %d)" % (lo, hi))
    c.assign([TopicPartition(TOPIC, 0, confluent_kafka.OFFSET_BEGINNING)])
    m = None
    deadline = time.time() + 10
    while time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            break
    expect(m is not None and m.offset() == 3000, "first record after DeleteRecords: %s"
           % (m and m.offset()))
    c.close()
    low, err = delete_records(broker.port, TOPIC, 0, -1)
    expect((low, err) == (N, 0), "DeleteRecords(-1 = high watermark): low %d error %d" % (low, err))


def leader_epoch_end(port, version, parts):
    """OffsetForLeaderEpoch by hand (v2 or flexible v4): parts [(topic, partition,
    current_leader_epoch, leader_epoch)] -> [(error, leader_epoch, end_offset)]."""
    flex = version >= 4
    arr = (lambda n: wire.uvarint(n + 1)) if flex else (lambda n: struct.pack(">i", n))
    st = wire.compact_string if flex else wire.string
    tag = wire.uvarint(0) if flex else b""
    body = (struct.pack(">i", -1) if version >= 3 else b"") + arr(len(parts))
    for t, p, cur, ep in parts:
        body += st(t) + arr(1) + struct.pack(">iii", p, cur, ep) + tag + tag
    body += tag
    c = wire.Conn(port)
    try:
        c.send(wire.frame(wire.header(23, version, 7, flexible=flex) + body))
        corr, resp = c.recv_frame()
    finally:
        c.close()
    r = wire.Reader(resp)
    if flex:
        r.uvarint()  # response header tags
    r.take(4)  # throttle
    out = []
    for _ in range((r.uvarint() - 1) if flex else struct.unpack(">i", r.take(4))[0]):
        if flex:
            r.take(r.uvarint() - 1)
        else:
            r.take(struct.unpack(">h", r.take(2))[0])
        for _ in range((r.uvarint() - 1) if flex else struct.unpack(">i", r.take(4))[0]):
            err, _p, ep, end = struct.unpack(">hiiq", r.take(18))
            out.append((err, ep, end))
            if flex:
                r.uvarint()
        if flex:
            r.uvarint()
    return out


def check_leader_epochs(port):
    for v in (2, 4):
        got = leader_epoch_end(port, v, [(TOPIC, 0, -1, 0), (TOPIC, 0, -1, 7),
                                         (TOPIC, 0, 5, 0), ("no-such-topic", 0, -1, 0)])
        expect(got == [(0, 0, N), (0, -1, -1), (75, -1, -1), (3, -1, -1)],
               "OffsetForLeaderEpoch v%d: epoch 0 ends at the log end, a future epoch is "
               "unknown, a newer current epoch is UNKNOWN_LEADER_EPOCH, a missing topic "
               "UNKNOWN_TOPIC_OR_PARTITION: %r" % (v, got))


def fetch_v7(conn, corr, session_id, epoch, parts, forgotten=(), max_wait=0):
    """One Fetch v7 by hand (sessions are KIP-227; the installed clients send
    none). parts: [(topic, partition, offset)]. Returns (error, session, {(t, p): (err, hw, nbytes)})."""
    body = struct.pack(">iiiibii", -1, max_wait, 1, 1 << 20, 0, session_id, epoch)
    body += struct.pack(">i", len(parts))
    for t, p, off in parts:
        body += wire.string(t) + struct.pack(">i", 1) + struct.pack(">iqqi", p, off, -1, 1 << 20)
    body += struct.pack(">i", len(forgotten))
    for t, p in forgotten:
        body += wire.string(t) + struct.pack(">ii", 1, p)
    conn.send(wire.frame(wire.header(1, 7, corr) + body))
    got_corr, resp = conn.recv_frame()
    expect(got_corr == corr, "Fetch v7: correlation %d, expected %d" % (got_corr, corr))
    r = wire.Reader(resp)
    _, err, sid, nt = struct.unpack(">ihii", r.take(14))
    out = {}
    for _ in range(nt):
        name = r.take(struct.unpack(">h", r.take(2))[0]).decode()
        for _ in range(struct.unpack(">i", r.take(4))[0]):
            p, perr, hw, lso, lstart, naborted = struct.unpack(">ihqqqi", r.take(34))
            r.take(16 * max(naborted, 0))
            n = struct.unpack(">i", r.take(4))[0]
            r.take(max(n, 0))
            out[(name, p)] = (perr, hw, n)
    return err, sid, out


def check_sessions(port):
    c = wire.Conn(port)
    try:
        parts = [(TOPIC, 0, N), ("kcat-topic", 0, 0)]
        err, sid, out = fetch_v7(c, 1, 0, 0, parts)
        expect(err == 0 and sid > 0, "full fetch: error %d session %d" % (err, sid))
        expect(len(out) == 2 and out[("kcat-topic", 0)][2] > 0, "full fetch answers every partition")
        # Nothing changed and no new offsets: an incremental fetch answers nothing.
        err, sid2, out = fetch_v7(c, 2, sid, 1, [("kcat-topic", 0, 100)], max_wait=10)
        expect((err, sid2, out) == (0, sid, {}), "incremental without news: %s %s %s" % (err, sid2, out))
        # A moved fetch offset is news only if it brings data; forgetting shrinks the session.
        err, _, out = fetch_v7(c, 3, sid, 2, [], forgotten=[("kcat-topic", 0)], max_wait=10)
        expect(err == 0 and out == {}, "forgetting a partition: %s %s" % (err, out))
        err, _, _ = fetch_v7(c, 4, sid, 2, [])
        expect(err == 71, "a repeated epoch gives INVALID_FETCH_SESSION_EPOCH, got %d" % err)
        err, _, _ = fetch_v7(c, 5, sid + 1, 1, [])
        expect(err == 70, "an unknown session gives FETCH_SESSION_ID_NOT_FOUND, got %d" % err)
        err, sid3, out = fetch_v7(c, 6, sid, -1, parts)
        expect(err == 0 and sid3 == 0 and len(out) == 2, "FINAL epoch closes the session: %s %s" % (err, sid3))
        err, _, _ = fetch_v7(c, 7, sid, 3, [])
        expect(err == 70, "the closed session is gone, got %d" % err)
    finally:
        c.close()


def throughput(bootstrap):
    """Rough consumer throughput over the 10,000-record topic (librdkafka)."""
    c = confluent_consumer(bootstrap)
    c.assign([TopicPartition(TOPIC, 0, confluent_kafka.OFFSET_BEGINNING)])
    n = size = 0
    t0 = time.monotonic()
    while n < N:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        n += 1
        size += len(m.value())
    dt = time.monotonic() - t0
    c.close()
    print("fetch: %d records, %.1f MB in %.3f s with confluent-kafka" % (n, size / 1e6, dt))


def main():
    skein = sys.argv[1] if len(sys.argv) > 1 else default_skein()
    broker = Broker(skein)
    broker.start()
    try:
        steps = [("produce", lambda: produce_all(broker.bootstrap)),
                 ("confluent-kafka", lambda: consume_confluent(broker.bootstrap)),
                 ("kafka-python", lambda: consume_kafka_python(broker.bootstrap)),
                 ("throughput", lambda: throughput(broker.bootstrap)),
                 ("offsets-for-times", lambda: check_offsets_for_times(broker.bootstrap)),
                 ("long-poll", lambda: check_long_poll(broker.bootstrap))]
        if shutil.which("kcat"):
            steps.append(("kcat", lambda: check_kcat(broker.bootstrap)))
            steps.append(("sessions", lambda: check_sessions(broker.port)))
        steps.append(("leader-epochs", lambda: check_leader_epochs(broker.port)))
        steps.append(("delete-records", lambda: check_delete_records(broker)))
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
