"""Bounded inputs: no single request (or flood of them) takes the node down.

usage: bounds_test.py [path/to/skein]

Each step starts its own broker (some with small limits so the test stays
short) and checks Kafka's answer at the bound, that the node still serves a
real client afterwards, and where memory is the point, that its RSS stayed
within a bound:

- metadata-autocreate: one Metadata request (kafka-python's encoding, v4,
  allow_auto_topic_creation) naming 100,000 new topics creates none of them
  (Kafka's controller refuses a 200,000-record operation), answers each
  LEADER_NOT_AVAILABLE, and a request naming three creates those three.
- init-producer-id: 50,000 InitProducerId requests, then 2,000 idempotent
  producers writing to one partition with skein.max.producers.per.partition=500:
  the partition keeps at most 500 (DescribeProducers), and with
  producer.id.expiration.ms=3000 they are all gone a few seconds later.
- fetch-sessions: with max.incremental.fetch.session.cache.slots=20, 60 full
  fetches open 20 sessions; the rest are answered without one.
- join-10mb: a JoinGroup (kafka-python's encoding) carrying 10 MB of protocol
  metadata is accepted, as in Kafka, but the group cannot be stored in
  __consumer_offsets (max.message.bytes): SyncGroup gets UNKNOWN_SERVER_ERROR.
- per-ip: with max.connections.per.ip=3 the fourth connection from
  127.0.0.1 is closed at once, and a real client gets in once they close.
- per-ip-dynamic: set through AlterConfigs (for broker 1), the limit
  applies to the next connections.
- group-max-size: with group.max.size=2 a third librdkafka consumer is told
  GROUP_MAX_SIZE_REACHED while the two members stay.

Exits non-zero naming what was expected and what came back."""
import io
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker, default_skein  # noqa: E402
from skeinlib import wire  # noqa: E402

from confluent_kafka import Consumer, KafkaError, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402
from kafka.protocol.api import RequestHeader  # noqa: E402
from kafka.protocol.commit import GroupCoordinatorRequest  # noqa: E402
from kafka.protocol.group import JoinGroupRequest, SyncGroupRequest  # noqa: E402
from kafka.protocol.metadata import MetadataRequest  # noqa: E402
from kafka.protocol.produce import ProduceRequest  # noqa: E402
from kafka.record.default_records import DefaultRecordBatchBuilder  # noqa: E402

LEADER_NOT_AVAILABLE = 5
COORDINATOR_NOT_AVAILABLE = 15
UNKNOWN_SERVER_ERROR = -1
GROUP_MAX_SIZE_REACHED = 81


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def wait_until(cond, what, timeout=60, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise Failure("timed out after %ds waiting for %s" % (timeout, what))


def sanitized(broker):
    """An AddressSanitizer build keeps freed memory in quarantine (256 MB by
    default), so its RSS says nothing about what the broker holds."""
    with open("/proc/%d/maps" % broker.proc.pid) as f:
        return "libasan" in f.read()


def rss_bound(broker, before, kib, what):
    grew = rss_kb(broker) - before
    if not sanitized(broker):
        expect(grew < kib, "%s grew RSS by %d KiB (bound %d)" % (what, grew, kib))
    return grew


def rss_kb(broker):
    with open("/proc/%d/status" % broker.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def kp_call(conn, req, corr, timeout=60):
    """Sends req as kafka-python encodes it; returns the decoded response."""
    # kafka-python's encode is a weak method: the header must outlive the call.
    hdr = RequestHeader(req, correlation_id=corr, client_id="bounds")
    data = hdr.encode() + req.encode()
    conn.send(struct.pack(">i", len(data)) + data)
    got, body = conn.recv_frame(timeout)
    expect(got == corr, "correlation %d, expected %d" % (got, corr))
    return req.RESPONSE_TYPE.decode(io.BytesIO(body))


def create_topic(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    fs = admin.create_topics([NewTopic(topic, 1, 1)], operation_timeout=30)
    try:
        fs[topic].result(60)
    except Exception as e:  # noqa: BLE001 (an existing topic is fine)
        expect("TOPIC_ALREADY_EXISTS" in str(e), "creating %s: %s" % (topic, e))
    del admin


def produces(broker, topic):
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                  "message.timeout.ms": 60000})
    errs = []
    p.produce(topic, b"still here", on_delivery=lambda e, m: errs.append(e) if e else None)
    left = p.flush(60)
    del p
    expect(left == 0 and not errs, "the node serves a producer: %s left, %s" % (left, errs))


def serves(broker, topic="alive"):
    """A real client can still create a topic and write to it."""
    create_topic(broker, topic)
    produces(broker, topic)


def finish(b):
    """Stops the broker: it must exit 0 after SIGTERM, with no sanitizer report."""
    rc = b.stop()
    report = b.sanitizer_report()
    b.cleanup()
    expect(report is None, "sanitizer report:\n%s" % report)
    expect(rc == 0, "the broker exited with %s after SIGTERM" % rc)


def topic_names(broker):
    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=60)
    return set(md.topics)


def metadata_autocreate(skein):
    b = Broker(skein).start()
    try:
        before = rss_kb(b)
        names = ["auto-%06d" % i for i in range(100000)]
        c = wire.Conn(b.port, timeout=120)
        t0 = time.monotonic()
        resp = kp_call(c, MetadataRequest[4](names, True), 1, timeout=120)
        took = time.monotonic() - t0
        errors = {t[0] for t in resp.topics}
        expect(len(resp.topics) == 100000, "100,000 topics answered, got %d" % len(resp.topics))
        expect(errors == {LEADER_NOT_AVAILABLE},
               "every new name answered LEADER_NOT_AVAILABLE, got %s" % sorted(errors))
        expect(not any(n.startswith("auto-") for n in topic_names(b)),
               "no topic of the refused operation was created")
        wait_until(lambda: "Unable to perform excessively large batch operation."
                   in b.stderr_text(), "the refusal to be logged with Kafka's message", timeout=30)
        resp = kp_call(c, MetadataRequest[4](["small-a", "small-b", "small-a", "small-c"], True), 2)
        got = {t[1]: t[0] for t in resp.topics}
        expect(got == {"small-a": 0, "small-b": 0, "small-c": 0},
               "three new names are created and described: %s" % got)
        c.close()
        serves(b)
        grew = rss_bound(b, before, 200 * 1024, "100,000 auto-created names")
        print("     100,000 names answered in %.1fs, RSS +%d KiB" % (took, grew))
    except BaseException:
        b.cleanup()
        raise
    finish(b)


def init_producer_id(conn, corr):
    return wire.frame(wire.header(22, 0, corr) + wire.string(None) + struct.pack(">i", 60000))


def init_flood(conn, n):
    """n InitProducerId v0, pipelined in windows; returns the producer ids."""
    pids, corr, window = [], 0, 200
    while corr < n:
        k = min(window, n - corr)
        conn.send(b"".join(init_producer_id(conn, corr + i) for i in range(k)))
        for i in range(k):
            got, body = conn.recv_frame(60)
            _, err, pid, epoch = struct.unpack(">ihqh", body[:16])
            expect(got == corr + i and err == 0, "InitProducerId %d: error %d" % (got, err))
            pids.append(pid)
        corr += k
    return pids


def idempotent_batch(pid, seq):
    bld = DefaultRecordBatchBuilder(2, 0, False, pid, 0, seq, 1 << 20)
    bld.append(0, int(time.time() * 1000), None, b"v", [])
    return bytes(bld.build())


def describe_producers(conn, corr, topic):
    body = wire.uvarint(2) + wire.compact_string(topic) + wire.uvarint(2)
    body += struct.pack(">i", 0) + wire.uvarint(0) + wire.uvarint(0)
    conn.send(wire.frame(wire.header(61, 0, corr, flexible=True) + body))
    got, resp = conn.recv_frame(30)
    r = wire.Reader(resp)
    r.tags()
    r.i32()
    topics = r.carray(lambda: (r.cstring(), r.carray(
        lambda: (r.i32(), r.i16(), r.cstring(), r.carray(
            lambda: (r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64(), r.tags())),
            r.tags()))[:4], r.tags()))
    part = topics[0][1][0]
    expect(part[1] == 0, "DescribeProducers error %d" % part[1])
    return len(part[3] or [])


def producer_flood(skein):
    b = Broker(skein, ["skein.max.producers.per.partition=500",
                       "producer.id.expiration.ms=3000",
                       "producer.id.expiration.check.interval.ms=500"]).start()
    try:
        serves(b, "pids")
        before = rss_kb(b)
        c = wire.Conn(b.port, timeout=60)
        pids = init_flood(c, 50000)
        expect(len(set(pids)) == 50000, "50,000 distinct producer ids")
        grew = rss_bound(b, before, 64 * 1024, "50,000 InitProducerId")
        corr = 100000
        for pid in pids[:2000]:
            req = ProduceRequest[3](None, -1, 30000, [("pids", [(0, idempotent_batch(pid, 0))])])
            resp = kp_call(c, req, corr)
            corr += 1
            err = resp.topics[0][1][0][1]
            expect(err == 0, "idempotent produce from %d: error %d" % (pid, err))
        kept = describe_producers(c, corr, "pids")
        expect(0 < kept <= 500, "the partition keeps at most 500 producers, has %d" % kept)
        wait_until(lambda: describe_producers(c, corr + 1, "pids") == 0,
                   "producer.id.expiration.ms to drop every idle producer", timeout=60)
        c.close()
        serves(b, "pids")
        print("     50,000 ids RSS +%d KiB; 2,000 producers kept %d" % (grew, kept))
    except BaseException:
        b.cleanup()
        raise
    finish(b)


def fetch_full(conn, corr, topic):
    """A full Fetch v7 (epoch 0) asking for a session; returns (error, session id)."""
    body = struct.pack(">iiiibii", -1, 0, 1, 1 << 20, 0, 0, 0)
    body += struct.pack(">i", 1) + wire.string(topic) + struct.pack(">i", 1)
    body += struct.pack(">iqqi", 0, 0, -1, 1 << 20) + struct.pack(">i", 0)
    conn.send(wire.frame(wire.header(1, 7, corr) + body))
    got, resp = conn.recv_frame(30)
    _, err, sid = struct.unpack(">ihi", resp[:10])
    return err, sid


def fetch_sessions(skein):
    b = Broker(skein, ["max.incremental.fetch.session.cache.slots=20"]).start()
    try:
        serves(b, "sessions")
        c = wire.Conn(b.port)
        got = [fetch_full(c, i, "sessions") for i in range(60)]
        expect(all(e == 0 for e, _ in got), "every full fetch answered: %s" % got)
        sids = [s for _, s in got if s != 0]
        expect(len(sids) == 20 and len(set(sids)) == 20,
               "20 sessions opened, the other 40 answered without one: %d" % len(sids))
        c.close()
        serves(b, "sessions")
    except BaseException:
        b.cleanup()
        raise
    finish(b)


def join_10mb(skein):
    b = Broker(skein, ["group.initial.rebalance.delay.ms=0"]).start()
    try:
        serves(b)
        before = rss_kb(b)
        c = wire.Conn(b.port, timeout=60)
        meta = bytes(10 * 1024 * 1024)
        join = JoinGroupRequest[2]("big-group", 30000, 30000, "", "consumer", [("range", meta)])
        corr = [0]

        def coordinator():
            corr[0] += 1
            return kp_call(c, GroupCoordinatorRequest[0]("big-group"), corr[0]).error_code == 0
        # The first request for a coordinator creates __consumer_offsets.
        wait_until(coordinator, "the group coordinator", timeout=60, step=0.2)
        resp = kp_call(c, join, 1000)
        expect(resp.error_code == 0, "the 10 MB JoinGroup is accepted as in Kafka: %d"
               % resp.error_code)
        sync = SyncGroupRequest[1]("big-group", resp.generation_id, resp.member_id,
                                   [(resp.member_id, b"assignment")])
        s = kp_call(c, sync, 1001)
        expect(s.error_code == UNKNOWN_SERVER_ERROR,
               "a group too large for __consumer_offsets fails SyncGroup with "
               "UNKNOWN_SERVER_ERROR, got %d" % s.error_code)
        c.close()
        serves(b)
        rss_bound(b, before, 128 * 1024, "a 10 MB JoinGroup")
    except BaseException:
        b.cleanup()
        raise
    finish(b)


def closed_at_once(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(wire.api_versions_request(0, 1))
        return s.recv(64) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def per_ip(skein):
    b = Broker(skein, ["max.connections.per.ip=3"]).start()
    try:
        held = [wire.Conn(b.port) for _ in range(3)]
        for i, c in enumerate(held):
            c.send(wire.api_versions_request(0, i))
            expect(c.recv_frame()[0] == i, "connection %d is served" % i)
        expect(closed_at_once(b.port), "the fourth connection from 127.0.0.1 is closed")
        wait_until(lambda: "address already has the configured maximum of 3 connections"
                   in b.stderr_text(), "the refusal to be logged", timeout=30)
        # librdkafka opens a bootstrap and a broker connection: room for both.
        for c in held:
            c.close()
        produces(b, "per-ip")
    except BaseException:
        b.cleanup()
        raise
    finish(b)


def over_limit_closed(port, limit):
    """limit connections are served and one more is closed at once."""
    held = []
    try:
        for i in range(limit):
            c = wire.Conn(port)
            held.append(c)
            c.send(wire.api_versions_request(0, i))
            c.recv_frame()
        return closed_at_once(port)
    except (OSError, wire.Closed):
        return False
    finally:
        for c in held:
            c.close()


def per_ip_dynamic(skein):
    """max.connections.per.ip is a cluster-wide dynamic setting in Kafka."""
    b = Broker(skein).start()
    try:
        expect(not closed_at_once(b.port), "no limit by default")
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        res = ConfigResource(ConfigResource.Type.BROKER, "1",
                             set_config={"max.connections.per.ip": "2"})
        admin.alter_configs([res])[res].result(60)
        del admin
        # The admin client's own connections close asynchronously.
        wait_until(lambda: over_limit_closed(b.port, 2),
                   "the dynamic max.connections.per.ip=2 to close a third connection",
                   timeout=60, step=0.5)
    except BaseException:
        b.cleanup()
        raise
    finish(b)


def group_max_size(skein):
    b = Broker(skein, ["group.max.size=2", "group.initial.rebalance.delay.ms=0"]).start()
    try:
        serves(b, "members")
        errors = []
        conf = {"bootstrap.servers": b.bootstrap, "group.id": "capped",
                "session.timeout.ms": 10000, "auto.offset.reset": "earliest",
                "error_cb": lambda e: errors.append(e)}
        consumers = []
        try:
            for i in range(3):
                c = Consumer(dict(conf))
                c.subscribe(["members"])
                consumers.append(c)

            def saw_max_size():
                for c in consumers:
                    m = c.poll(0.2)
                    if m is not None and m.error() and \
                            m.error().code() == KafkaError.GROUP_MAX_SIZE_REACHED:
                        return True
                return any(e.code() == KafkaError.GROUP_MAX_SIZE_REACHED for e in errors)
            wait_until(saw_max_size, "a third member to get GROUP_MAX_SIZE_REACHED", timeout=90)
        finally:
            for c in consumers:
                c.close()
    except BaseException:
        b.cleanup()
        raise
    finish(b)


def main():
    skein = sys.argv[1] if len(sys.argv) > 1 else default_skein()
    steps = [("metadata-autocreate", metadata_autocreate), ("init-producer-id", producer_flood),
             ("fetch-sessions", fetch_sessions), ("join-10mb", join_10mb), ("per-ip", per_ip),
             ("per-ip-dynamic", per_ip_dynamic),
             ("group-max-size", group_max_size)]
    only = set(sys.argv[2:])
    failed = 0
    for name, step in steps:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        try:
            step(skein)
            print("ok   %-20s %.2fs" % (name, time.monotonic() - t0))
        except (Failure, OSError, wire.Closed) as e:
            print("FAIL %-20s %s: %s" % (name, type(e).__name__, e))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
