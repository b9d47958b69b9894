#!/usr/bin/python3
"""Broker registration, heartbeats and fencing on the active controller of a
three-node KRaft quorum (combined nodes, each formatted with one cluster id,
on free loopback ports), driven with hand-encoded BrokerRegistration v4 and
BrokerHeartbeat v1 on the CONTROLLER listeners, as a Kafka 3.9 broker sends
them:

- each node registers itself with the active controller and heartbeats, so
  Metadata on every node lists all three brokers and names the active
  controller as controller id; a topic of 6 partitions created there has
  leaders on all three;
- a standby controller answers NOT_CONTROLLER;
- a foreign cluster id gets INCONSISTENT_CLUSTER_ID;
- a registration gets an epoch and starts fenced (Metadata does not list it);
- another incarnation of the same id while its session lives gets
  DUPLICATE_BROKER_REGISTRATION;
- a heartbeat with another epoch gets STALE_BROKER_EPOCH;
- a heartbeat caught up to the registration unfences it (Metadata lists it
  with its endpoint and rack);
- once its heartbeats stop for broker.session.timeout.ms it is fenced
  (Metadata drops it), and a new heartbeat brings it back;
- FindCoordinator on any node names the leader of the group's
  __consumer_offsets partition;
- librdkafka produces 1,000 records to it and a consumer group reads them
  all back across the three brokers;
- kill -9 of a node: after its session its partitions have no leader and
  Metadata drops it; restarted, it registers again and leads them again;
- kill -9 of the active controller: the new one takes the brokers' sessions
  from the image, so no surviving broker registers again and none drops out
  of Metadata or loses its partitions' leadership (polled at 10 Hz), while
  the killed node's broker, which never reaches the new controller, is
  fenced a session after it took over.

usage: broker_registration_test.py SKEIN_BIN"""
import functools
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import cluster, request, settled, TIMEOUT, Controller  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

SESSION_MS = 3000
NONE, STALE_EPOCH, NOT_CONTROLLER, DUPLICATE, CLUSTER = 0, 77, 41, 101, 104
FAKE_ID, FAKE_PORT = 7, 19997


class Node(Controller):
    """A combined node with a short broker session, so fencing is quick."""

    def argv(self):
        return super().argv() + ["--override", "broker.session.timeout.ms=%d" % SESSION_MS]


def register(port, cluster, incarnation, broker_id=FAKE_ID):
    """BrokerRegistration v4: (error, broker epoch)."""
    listener = (wire.compact_string("PLAINTEXT") + wire.compact_string("127.0.0.1")
                + struct.pack(">Hh", FAKE_PORT, 0) + wire.uvarint(0))
    feature = (wire.compact_string("metadata.version") + struct.pack(">hh", 1, 21)
               + wire.uvarint(0))
    body = (struct.pack(">i", broker_id) + wire.compact_string(cluster)
            + bytes([incarnation] * 16)
            + wire.uvarint(2) + listener + wire.uvarint(2) + feature
            + wire.compact_string("rack-r") + b"\x00"  # IsMigratingZkBroker
            + wire.uvarint(2) + bytes([0x5a] * 16)    # LogDirs
            + struct.pack(">q", -1) + wire.uvarint(0))
    r = request(port, 62, 4, body, corr=9)
    r.i32()
    return r.i16(), r.i64()


def heartbeat(port, epoch, offset, broker_id=FAKE_ID):
    """BrokerHeartbeat v1: (error, caught up, fenced, shut down)."""
    body = struct.pack(">iqq??", broker_id, epoch, offset, False, False) + wire.uvarint(0)
    r = request(port, 63, 1, body, corr=9)
    r.i32()
    return r.i16(), bool(r.i8()), bool(r.i8()), bool(r.i8())


def listed(node):
    """The brokers node's Metadata lists; none while it refuses clients (a
    restarted node listens only once its metadata has caught up)."""
    try:
        md = wire.metadata(node.port, topics=[], version=12, timeout=TIMEOUT)
    except ConnectionRefusedError:
        return {}
    return {b["node_id"]: b for b in md["brokers"]}


def spread_leaders(node):
    md = wire.metadata(node.port, topics=["spread"], version=12, timeout=TIMEOUT)
    return {p["partition"]: p["leader"] for p in md["topics"][0]["partitions"]}


def high_watermarks(node, parts):
    """librdkafka's view of the partitions' high watermarks (through any
    node's Metadata to their leaders), or None while one has no leader."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    c = Consumer({"bootstrap.servers": "127.0.0.1:%d" % node.port, "group.id": "hw"})
    try:
        return [c.get_watermark_offsets(TopicPartition("spread", p), timeout=10)[1]
                for p in parts]
    except KafkaException:
        return None
    finally:
        c.close()


def check_kill(leader, victim):
    """kill -9 of a broker: once its session lapses the active controller
    fences it, Metadata drops it and its partitions have no leader; started
    again, it registers anew, is unfenced and leads them again."""
    led = sorted(p for p, b in spread_leaders(leader).items() if b == victim.node_id)
    assert led, "broker %d leads no partition of spread" % victim.node_id
    before = high_watermarks(leader, led)
    victim.kill()
    killed = time.monotonic()

    def fenced():
        lead = spread_leaders(leader)
        return victim.node_id not in listed(leader) and all(lead[p] == -1 for p in led)
    assert wait_for(fenced, TIMEOUT, step=0.05), \
        "broker %d not fenced after kill -9: %r" % (victim.node_id, spread_leaders(leader))
    took = (time.monotonic() - killed) * 1000
    victim.start(timeout=TIMEOUT)

    def back():
        lead = spread_leaders(leader)
        return victim.node_id in listed(leader) and all(lead[p] == victim.node_id for p in led)
    assert wait_for(back, TIMEOUT), \
        "broker %d not back after restart: %r" % (victim.node_id, spread_leaders(leader))
    after = wait_for(lambda: high_watermarks(leader, led) == before and before, TIMEOUT)
    assert after, "data of %r: %r before kill -9, %r after" % (
        led, before, high_watermarks(leader, led))
    print("kill -9 of broker %d: fenced %.0f ms later, its partitions %r without leader; "
          "restarted, it registered again and leads them with their records %r"
          % (victim.node_id, took, led, before))


REGISTERED = "registered with epoch"


def registrations(node):
    """How many times this run of the node's broker registered."""
    return node.stderr_text().count(REGISTERED)


class Watch(threading.Thread):
    """Metadata of each survivor polled at 10 Hz: every time one of them
    does not list a survivor's broker, or shows a partition of spread it led
    without a leader."""

    def __init__(self, survivors, led):
        super().__init__(daemon=True)
        self.survivors, self.led = survivors, led
        self.stop = threading.Event()
        self.gaps, self.polls = [], 0

    def run(self):
        ids = {n.node_id for n in self.survivors}
        while not self.stop.wait(0.1):
            for n in self.survivors:
                try:
                    md = wire.metadata(n.port, topics=["spread"], version=12, timeout=5)
                except (OSError, wire.Closed, wire.DecodeError):
                    continue  # busy, not a fencing
                self.polls += 1
                brokers = {b["node_id"] for b in md["brokers"]}
                lead = {p["partition"]: p["leader"] for p in md["topics"][0]["partitions"]}
                if not ids <= brokers:
                    self.gaps.append("node %d lists %r" % (n.node_id, sorted(brokers)))
                lost = [p for p in self.led if lead.get(p) == -1]
                if lost:
                    self.gaps.append("node %d: partitions %r without leader" % (n.node_id, lost))


def check_failover(nodes, leader):
    """kill -9 of the active controller: the new one keeps every broker's
    epoch from the image, so no survivor registers again or is fenced on
    the way; the dead node's broker is fenced a session after the new
    controller took over, since it never heartbeats to it."""
    survivors = [n for n in nodes if n is not leader]
    ids = {n.node_id for n in nodes}

    def steady():
        # Every node has seen the last restart through: all three listed,
        # every partition of spread led.
        return all(ids <= set(listed(n)) and -1 not in spread_leaders(n).values()
                   for n in nodes)
    assert wait_for(steady, TIMEOUT), "not steady before the failover"
    lead = spread_leaders(survivors[0])
    led = sorted(p for p, b in lead.items() if b in {n.node_id for n in survivors})
    before = {n.node_id: registrations(n) for n in survivors}
    watch = Watch(survivors, led)
    watch.start()
    try:
        leader.kill()
        killed = time.monotonic()
        v = wait_for(lambda: settled(survivors), TIMEOUT)
        assert v, "no new leader among %r" % [n.node_id for n in survivors]
        gone = wait_for(lambda: all(leader.node_id not in listed(n) for n in survivors),
                        TIMEOUT, step=0.05)
        took = (time.monotonic() - killed) * 1000
        # A few heartbeats more: a survivor told its epoch is stale would
        # register again within one interval.
        settle_until = time.monotonic() + 3
        while time.monotonic() < settle_until and not watch.gaps:
            watch.stop.wait(0.1)
    finally:
        watch.stop.set()
        watch.join(10)
    after = {n.node_id: registrations(n) for n in survivors}
    assert after == before, "survivors registered again after the failover: %r, were %r\n%s" % (
        after, before, "\n".join(n.tail(15) for n in survivors))
    assert not watch.gaps, "fenced on the way: %s\n%s" % (
        watch.gaps[:5], "\n".join(n.tail(15) for n in survivors))
    assert watch.polls >= 20, "only %d Metadata polls answered" % watch.polls
    assert gone, "broker %d of the killed controller never fenced: %r" % (
        leader.node_id, [sorted(listed(n)) for n in survivors])
    print("kill -9 of active controller %d: controller %d took over; no survivor registered "
          "again or left Metadata (%d polls at 10 Hz); broker %d fenced %.0f ms after the kill"
          % (leader.node_id, v["leader"], watch.polls, leader.node_id, took))
    leader.start(timeout=TIMEOUT)
    assert wait_for(lambda: all(ids <= set(listed(n)) for n in nodes), TIMEOUT), \
        "node %d not back after restart" % leader.node_id


def find_coordinator(port, group):
    """FindCoordinator v1 for a group: (error, node id)."""
    conn = wire.Conn(port, timeout=TIMEOUT)
    try:
        conn.send(wire.frame(wire.header(10, 1, 4) + wire.string(group) + b"\x00"))
        got, resp = conn.recv_frame(timeout=TIMEOUT)
        assert got == 4, got
        r = wire.Reader(resp)
        r.i32()
        err = r.i16()
        r.string()
        return err, r.i32()
    finally:
        conn.close()


def group_partition(group, n):
    """Kafka's Utils.abs(group.hashCode()) % n."""
    h = 0
    for ch in group:
        h = (31 * h + ord(ch)) & 0xffffffff
    h = h - (1 << 32) if h >= 1 << 31 else h
    return (0 if h == -(1 << 31) else abs(h)) % n


def check_coordinators(nodes, leader):
    """Every node names the leader of a group's __consumer_offsets
    partition as its coordinator, so groups spread over the brokers."""
    groups = ["group-%d" % i for i in range(12)]
    assert wait_for(lambda: find_coordinator(leader.port, groups[0])[0] == NONE, TIMEOUT)
    md = wire.metadata(leader.port, topics=["__consumer_offsets"], version=12, timeout=TIMEOUT)
    parts = {p["partition"]: p["leader"] for p in md["topics"][0]["partitions"]}
    want = {g: parts[group_partition(g, len(parts))] for g in groups}

    def agreed():
        return all(find_coordinator(n.port, g) == (NONE, want[g]) for n in nodes for g in groups)
    assert wait_for(agreed, TIMEOUT), "coordinators %r, partition leaders say %r" % (
        {n.node_id: [find_coordinator(n.port, g) for g in groups] for n in nodes}, want)
    assert len(set(want.values())) > 1, want
    print("FindCoordinator on every node names the leader of the group's partition: %r"
          % sorted(set(want.values())))


def check_clients(nodes):
    """librdkafka (confluent-kafka) produces 1,000 records to the spread
    topic, each partition to its own leader, and a consumer group reads them
    all back across the three brokers."""
    from confluent_kafka import Consumer, Producer
    bootstrap = ",".join("127.0.0.1:%d" % n.port for n in nodes)
    failed = []
    prod = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(1000):
        prod.produce("spread", value=b"v%d" % i, key=b"k%d" % i,
                     on_delivery=lambda err, msg: err and failed.append(err))
        prod.poll(0)
    assert prod.flush(TIMEOUT) == 0, "records still unacknowledged"
    assert not failed, failed[:5]
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "spread-readers",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    cons.subscribe(["spread"])
    seen, parts = set(), set()
    deadline = time.monotonic() + TIMEOUT
    while len(seen) < 1000 and time.monotonic() < deadline:
        m = cons.poll(0.5)
        if m is None or m.error():
            continue
        seen.add(m.value())
        parts.add(m.partition())
    cons.commit(asynchronous=False)
    cons.close()
    assert len(seen) == 1000, "consumed %d of 1000 records" % len(seen)
    assert parts == set(range(6)), parts
    print("librdkafka: 1000 records produced to 6 partitions on 3 brokers, all read back by "
          "a consumer group")


def run(skein):
    make = functools.partial(Node, combined=True)
    with cluster(skein, "skein-brokerreg-", make) as (nodes, cluster_id, v):
        ids = {n.node_id for n in nodes}

        def everyone_listed():
            try:
                return all(ids <= set(listed(n)) for n in nodes)
            except (OSError, wire.Closed, wire.DecodeError):
                return False
        assert wait_for(everyone_listed, TIMEOUT), \
            "not every node lists brokers %r: %r" % (sorted(ids), [sorted(listed(n)) for n in nodes])
        print("every node lists brokers %r: registered and unfenced through the active "
              "controller" % sorted(ids))
        leader = next(n for n in nodes if n.node_id == v["leader"])

        def controller_named():
            return all(wire.metadata(n.port, topics=[], version=12, timeout=TIMEOUT)
                       ["controller_id"] == leader.node_id for n in nodes)
        assert wait_for(controller_named, TIMEOUT), "Metadata does not name controller %d" \
            % leader.node_id
        err, m = wire.create_topic(leader.port, "spread", partitions=6, timeout=TIMEOUT)
        assert err == NONE, (err, m)

        def leaders():
            md = wire.metadata(leader.port, topics=["spread"], version=12, timeout=TIMEOUT)
            return sorted(p["leader"] for p in md["topics"][0]["partitions"])
        got = wait_for(lambda: set(leaders()) == ids and leaders(), TIMEOUT)
        assert got, "6 partitions' leaders %r not spread over %r" % (leaders(), sorted(ids))
        print("Metadata names controller %d on every node; CreateTopics of 6 partitions there "
              "puts leaders %r" % (leader.node_id, got))
        check_coordinators(nodes, leader)
        check_clients(nodes)
        standby = next(n for n in nodes if n is not leader)
        lp = leader.controller_port

        err, epoch = register(standby.controller_port, cluster_id, 1)
        assert err == NOT_CONTROLLER and epoch == -1, (err, epoch)
        other = "AAAAAAAAAAAAAAAAAAAAAA" if cluster_id != "AAAAAAAAAAAAAAAAAAAAAA" else "AQAAAAAAAAAAAAAAAAAAAA"
        err, epoch = register(lp, other, 1)
        assert err == CLUSTER and epoch == -1, (err, epoch)
        err, epoch = register(lp, cluster_id, 1)
        assert err == NONE and epoch >= 0, (err, epoch)
        assert FAKE_ID not in listed(leader), "a new registration must start fenced"
        err, _ = register(lp, cluster_id, 2)
        assert err == DUPLICATE, err
        print("registration: NOT_CONTROLLER off the leader, INCONSISTENT_CLUSTER_ID, epoch %d "
              "fenced, DUPLICATE_BROKER_REGISTRATION for another incarnation" % epoch)

        err, _, fenced, _ = heartbeat(lp, epoch + 1, epoch)
        assert err == STALE_EPOCH and fenced, err
        err, caught_up, fenced, _ = heartbeat(lp, epoch, epoch)
        stopped = time.monotonic()  # its last heartbeat
        assert err == NONE and caught_up and not fenced, (err, caught_up, fenced)
        b = wait_for(lambda: listed(leader).get(FAKE_ID), TIMEOUT)
        assert b and b["port"] == FAKE_PORT and b["rack"] == "rack-r", b
        print("heartbeat: STALE_BROKER_EPOCH for another epoch; caught up, unfenced, listed")

        gone = wait_for(lambda: FAKE_ID not in listed(leader), TIMEOUT, step=0.05)
        took = (time.monotonic() - stopped) * 1000
        assert gone, "broker %d still listed after its session" % FAKE_ID
        assert took >= SESSION_MS * 0.9, "fenced after %.0f ms, before its session ended" % took
        print("fenced %.0f ms after its last heartbeat (session %d ms)" % (took, SESSION_MS))
        err, _, fenced, _ = heartbeat(lp, epoch, epoch + 1000)
        assert err == NONE and not fenced, (err, fenced)
        assert wait_for(lambda: FAKE_ID in listed(leader), TIMEOUT), "not back after a heartbeat"
        print("back after a new heartbeat")
        check_kill(leader, standby)
        check_failover(nodes, leader)


def main():
    run(sys.argv[1])
    print("broker-registration: OK")


if __name__ == "__main__":
    main()
