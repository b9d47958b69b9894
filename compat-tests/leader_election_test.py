#!/usr/bin/python3
"""Leader election on a three-node KRaft cluster (combined nodes, as in
replication_test.py), with a librdkafka idempotent acks=all producer
running throughout, on topics of replication factor 3 and
min.insync.replicas 2:

- kill -9 of the leader of partition 0: once its session lapses the
  controller fences it, takes it out of the ISRs and elects the next
  in-sync replica (a new leader epoch), within a bounded time; the
  producer resumes on the new leader, a consumer reads every acknowledged
  record exactly once, in order, at the offsets it was acknowledged at,
  and nothing else; the killed node is started again under the producer:
  its own log has it leading at the old epoch, and it must not act on that
  before it has caught up with the quorum (it never leads at an epoch up
  to the new leader's); back in the ISR, it leads its partition again
  through the leader balance (auto.leader.rebalance.enable, every
  leader.imbalance.check.interval.seconds), and the producer goes on;
- kill -9 of a leader and a restart at once, within its session: it
  answers no client until the controller has taken its new registration
  (after the old session lapsed and its leaderships moved), so it never
  serves its caught-up image in which it still leads at the old epoch;
  the producer goes on and every acknowledged record is read back;
- SIGTERM of the leader of a partition of a fresh topic: the broker
  heartbeats WantShutDown, the controller moves its leaderships to other
  in-sync replicas and takes it out of the ISRs, and only then answers
  ShouldShutDown (its log says so); it exits 0, the partitions it led
  have new leaders, the producer sees no error, and every acknowledged
  record is read back as above;
- ElectLeaders (v2, hand-encoded) to every broker, forwarded to the active
  controller by those that are not it: PREFERRED on a partition its first
  replica leads is ELECTION_NOT_NEEDED; on the partition whose first
  replica was shut down (still down, so out of the ISR)
  PREFERRED_LEADER_NOT_AVAILABLE; UNCLEAN on a partition with a leader
  ELECTION_NOT_NEEDED; an unknown topic UNKNOWN_TOPIC_OR_PARTITION. Then
  the shut-down broker is started again; once its leader has added it
  back to the ISR, PREFERRED makes it lead its partition again with a new
  epoch, and a second PREFERRED is ELECTION_NOT_NEEDED. (Unclean elections
  that elect are unit tests.)
- a follower fetch naming the leader epoch before an election:
  FENCED_LEADER_EPOCH;
- __consumer_offsets with three replicas: kill -9 of a group's coordinator
  moves the group to the new leader of its partition, which answers its
  committed offsets while the killed node is down.

usage: leader_election_test.py SKEIN_BIN"""
import os
import signal
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_registration_test import find_coordinator  # noqa: E402
from quorum_test import cluster, create_everywhere, request, TIMEOUT, Controller  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.groups import committed_offsets  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

NONE, UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER = 0, 3, 6
FENCED_LEADER_EPOCH = 74
PREFERRED_LEADER_NOT_AVAILABLE, ELECTION_NOT_NEEDED = 80, 84
ELECT_LEADERS = 43
PRODUCE = 0
PREFERRED, UNCLEAN = 0, 1
PARTITIONS = 3
SESSION_MS = 6000
# A new leader must be in place within this long of a kill -9: the session
# (the controller can only tell a dead broker by silence), a controller
# failover if the victim was the active controller, and a loaded machine's
# slack.
ELECTION_BOUND_S = 45
# Records acknowledged before a fault, and after it to call the producer
# resumed.
BEFORE, AFTER = 200, 200
# leader.imbalance.check.interval.seconds: short, so that the balance is
# seen within the test.
BALANCE_S = 3


class Node(Controller):
    """A combined node whose session and heartbeats are short enough for a
    test, the same for every node of the cluster."""

    def argv(self):
        return super().argv() + ["--override", "broker.session.timeout.ms=%d" % SESSION_MS,
                                 "--override", "broker.heartbeat.interval.ms=500",
                                 "--override", "leader.imbalance.check.interval.seconds=%d"
                                 % BALANCE_S,
                                 "--override", "offsets.topic.replication.factor=3"]


def metadata(node, topic):
    md = wire.metadata(node.port, topics=[topic], version=12, timeout=TIMEOUT)
    t = md["topics"][0]
    return [] if t["error"] else sorted(t["partitions"], key=lambda p: p["partition"])


def view(node, topic):
    try:
        return metadata(node, topic)
    except (OSError, wire.Closed, wire.DecodeError):
        return None


def live_ids(node):
    try:
        md = wire.metadata(node.port, topics=[], version=12, timeout=TIMEOUT)
        return {b["node_id"] for b in md["brokers"]}
    except (OSError, wire.Closed, wire.DecodeError):
        return set()


def create(nodes, topic):
    return create_everywhere(nodes, topic, PARTITIONS, 3, {"min.insync.replicas": "2"})


def probe(nodes, topic, partition):
    """What a plain (not idempotent) produce to the partition gets now."""
    from kafka import KafkaProducer
    bootstrap = ["127.0.0.1:%d" % n.port for n in nodes]
    for acks in (1, "all"):
        prod = KafkaProducer(bootstrap_servers=bootstrap, acks=acks, retries=0,
                             request_timeout_ms=10000)
        try:
            md = prod.send(topic, b"probe", partition=partition or 0).get(timeout=15)
            print("probe acks=%s: offset %d" % (acks, md.offset))
        except Exception as e:  # noqa: BLE001 - any answer is the diagnosis
            print("probe acks=%s: %r" % (acks, e))
        finally:
            prod.close(5)


class Writer:
    """An idempotent acks=all producer writing numbered values to every
    partition in turn, from its own thread, until stopped."""

    def __init__(self, nodes, topic):
        from confluent_kafka import Producer
        self.topic = topic
        self.acked = {p: [] for p in range(PARTITIONS)}  # (offset, value) in ack order
        self.failed = []
        self.fatal = []
        self.lock = threading.Lock()
        bootstrap = ",".join("127.0.0.1:%d" % n.port for n in nodes)
        self.prod = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                              "enable.idempotence": True, "linger.ms": 5,
                              "message.timeout.ms": 300000, "retry.backoff.ms": 100,
                              "topic.metadata.refresh.interval.ms": 1000,
                              "error_cb": self.on_error})
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def on_error(self, err):
        # Connection losses during a fault are expected and retried; a
        # fatal error (idempotence broken) is not.
        if err.fatal():
            self.fatal.append(err)

    def delivered(self, err, msg):
        with self.lock:
            if err:
                self.failed.append(err)
            else:
                self.acked[msg.partition()].append((msg.offset(), msg.value()))

    def run(self):
        seq = [0] * PARTITIONS
        p = 0
        while not self.stopping:
            value = b"p%d-%07d" % (p, seq[p])
            try:
                self.prod.produce(self.topic, value=value, partition=p, on_delivery=self.delivered)
                seq[p] += 1
                p = (p + 1) % PARTITIONS
            except BufferError:
                self.prod.poll(0.1)
                continue
            self.prod.poll(0)
            time.sleep(0.002)
        self.produced = seq

    def count(self, partition=None):
        with self.lock:
            if partition is None:
                return sum(len(v) for v in self.acked.values())
            return len(self.acked[partition])

    def wait_more(self, n, partition=None, nodes=()):
        start = self.count(partition)
        ok = wait_for(lambda: self.count(partition) >= start + n or self.fatal, TIMEOUT * 2)
        if not (ok and not self.fatal):
            print("acknowledged per partition: %r" % {p: len(v) for p, v in self.acked.items()})
            for node in nodes:
                print("node %d: %r" % (node.node_id, view(node, self.topic)))
            probe(nodes, self.topic, partition)
        assert ok and not self.fatal, "the producer did not resume: %d acknowledged (%r)" % (
            self.count(partition) - start, self.fatal)

    def finish(self):
        self.stopping = True
        self.thread.join(TIMEOUT)
        left = self.prod.flush(TIMEOUT * 2)
        assert left == 0, "%d records still unacknowledged" % left
        assert not self.fatal, self.fatal
        assert not self.failed, "delivery errors: %r" % self.failed[:5]
        return self.produced


def high_watermark(cons, tp):
    """The partition's high watermark from its leader. The leader balance may
    move the leadership meanwhile: librdkafka's ListOffsets then reports
    NOT_LEADER_OR_FOLLOWER rather than refreshing and asking again, so ask
    again here, as an application would."""
    from confluent_kafka import KafkaException
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return cons.get_watermark_offsets(tp, timeout=TIMEOUT)[1]
        except KafkaException as e:
            if e.args[0].code() != NOT_LEADER_OR_FOLLOWER or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def check_read_back(nodes, writer, produced):
    """Every acknowledged record exactly once, in order, at its offset."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    bootstrap = ",".join("127.0.0.1:%d" % n.port for n in nodes)
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "elect-check",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        for p in range(PARTITIONS):
            acked = sorted(writer.acked[p])
            want = [b"p%d-%07d" % (p, i) for i in range(produced[p])]
            assert [v for _, v in acked] == want, \
                "partition %d: acknowledged values out of order or missing" % p
            assert [o for o, _ in acked] == list(range(len(acked))), \
                "partition %d: acknowledged offsets are not 0..%d" % (p, len(acked) - 1)
            cons.assign([TopicPartition(writer.topic, p, OFFSET_BEGINNING)])
            got = []
            deadline = time.monotonic() + TIMEOUT * 2
            while len(got) < len(want) and time.monotonic() < deadline:
                m = cons.poll(0.5)
                if m is not None and not m.error():
                    got.append((m.offset(), m.value()))
            assert got == acked, "partition %d: read %d records, %d acknowledged; first " \
                "difference %r" % (p, len(got), len(acked),
                                   next(((g, a) for g, a in zip(got, acked) if g != a), None))
            high = high_watermark(cons, TopicPartition(writer.topic, p))
            assert high == len(acked), "partition %d: high watermark %d, %d records" % (
                p, high, len(acked))
    finally:
        cons.close()
    return sum(produced)


def check_kill_leader(nodes):
    topic = "elect-kill"
    ps = create(nodes, topic)
    writer = Writer(nodes, topic)
    writer.wait_more(BEFORE)
    old = ps[0]
    victim = next(n for n in nodes if n.node_id == old["leader"])
    others = [n for n in nodes if n is not victim]
    victim.kill()
    killed = time.monotonic()

    def elected():
        v = view(others[0], topic)
        if not v or v[0]["leader"] in (-1, victim.node_id):
            return None
        return v[0]
    new = wait_for(elected, ELECTION_BOUND_S)
    took = time.monotonic() - killed
    assert new, "no new leader for %s-0 %d s after its leader %d was killed: %r\n%s" % (
        topic, ELECTION_BOUND_S, victim.node_id, view(others[0], topic), others[0].tail())
    assert victim.node_id not in new["isr"], new
    assert new["leader"] in old["isr"], (new, old)
    assert new["leader_epoch"] > old["leader_epoch"], (new, old)
    writer.wait_more(AFTER, partition=0, nodes=others)
    # KIP-951: a produce to a broker that no longer leads names the new leader.
    follower = next(n for n in others if n.node_id != new["leader"])
    err, hint, endpoints = produce_hint(follower, topic, 0)
    assert err == NOT_LEADER_OR_FOLLOWER, err
    assert hint == (new["leader"], new["leader_epoch"]), (hint, new)
    leader_node = next(n for n in others if n.node_id == new["leader"])
    assert endpoints == {new["leader"]: leader_node.port}, endpoints
    print("Produce v10 to %d: NOT_LEADER_OR_FOLLOWER with the current leader %r and its "
          "endpoint (KIP-951)" % (follower.node_id, hint))
    # A follower's fetch naming the epoch before the election is fenced.
    r = wire.fetch_v11(leader_node.port, topic, 0, 0, replica_id=follower.node_id,
                       leader_epoch=old["leader_epoch"], timeout=TIMEOUT)
    assert r["error"] == FENCED_LEADER_EPOCH, r["error"]
    print("a follower fetch at the old leader epoch %d: FENCED_LEADER_EPOCH"
          % old["leader_epoch"])
    print("kill -9 of %d, leader of %s-0: %d elected from the ISR %r in %.1f s (leader epoch "
          "%d -> %d), the producer resumed" % (victim.node_id, topic, new["leader"], new["isr"],
                                              took, old["leader_epoch"], new["leader_epoch"]))
    # Back while the producer runs: its log still has it leading the
    # partition at the old epoch, an image it must not act on before it has
    # caught up with the quorum (Kafka's MetadataLoader waits the same way).
    victim.start(timeout=TIMEOUT)
    back = time.monotonic()
    ids = {n.node_id for n in nodes}
    assert wait_for(lambda: live_ids(others[0]) == ids, TIMEOUT), \
        "%d did not come back: %s" % (victim.node_id, victim.tail())
    # auto.leader.rebalance.enable: once back in the ISR, the preferred
    # replica leads its partition again without being asked.
    led_again = wait_for(lambda: all((view(n, topic) or [{}])[0].get("leader") == victim.node_id
                                     for n in nodes), TIMEOUT + BALANCE_S)
    assert led_again, "%d does not lead %s-0 again: %r" % (victim.node_id, topic,
                                                          view(others[0], topic))
    print("restarted under the producer, %d leads %s-0 again after %.1f s (the leader "
          "balance, every %d s)" % (victim.node_id, topic, time.monotonic() - back, BALANCE_S))
    writer.wait_more(AFTER, partition=0, nodes=nodes)
    stale = [e for e in leader_epochs(victim, topic, 0) if e <= new["leader_epoch"]]
    assert not stale, "restarted %d led %s-0 at epoch(s) %r, not above %d:\n%s" % (
        victim.node_id, topic, stale, new["leader_epoch"], victim.tail(60))
    assert "caught up with the quorum" in victim.stderr_text(), victim.tail(60)
    produced = writer.finish()
    n = check_read_back(nodes, writer, produced)
    print("%s: %d records acknowledged, every one read back once, in order, at its offset"
          % (topic, n))


def leader_epochs(node, topic, partition):
    """The leader epochs the node's replica layer says it led the partition
    at, in this run of the process."""
    mark = "%s-%d starts at leader epoch " % (topic, partition)
    return [int(line.split(mark, 1)[1].split()[0])
            for line in node.stderr_text().splitlines() if mark in line]


def tagged(r):
    """A tagged-field section: {tag: a Reader over its bytes}."""
    out = {}
    for _ in range(r.uvarint()):
        tag = r.uvarint()
        out[tag] = wire.Reader(r.take(r.uvarint()))
    return out


def produce_hint(node, topic, partition):
    """Produce v10 (no records) for topic's partition to node: the partition
    error, its KIP-951 CurrentLeader (id, epoch) or None, and the answer's
    NodeEndpoints {id: port}."""
    part = struct.pack(">i", partition) + wire.uvarint(0) + wire.uvarint(0)  # null records
    body = (wire.uvarint(0) + struct.pack(">hi", -1, 10000) + wire.uvarint(2)
            + wire.compact_string(topic) + wire.uvarint(2) + part + wire.uvarint(0)
            + wire.uvarint(0))
    r = request(node.port, PRODUCE, 10, body)
    err, leader = None, None
    for _ in range(r.uvarint() - 1):
        r.cstring()
        for _ in range(r.uvarint() - 1):
            r.i32()
            err = r.i16()
            r.i64(), r.i64(), r.i64()
            for _ in range(r.uvarint() - 1):
                r.i32(), r.cstring(), r.tags()
            r.cstring()
            tags = tagged(r)
            if 0 in tags:
                leader = (tags[0].i32(), tags[0].i32())
        r.tags()
    r.i32()  # throttle
    endpoints = {}
    tags = tagged(r)
    if 0 in tags:
        t = tags[0]
        for _ in range(t.uvarint() - 1):
            nid, _host, port, _rack = t.i32(), t.cstring(), t.i32(), t.cstring()
            t.tags()
            endpoints[nid] = port
    return err, leader, endpoints


def check_controlled_shutdown(nodes):
    topic = "elect-term"
    ps = create(nodes, topic)
    writer = Writer(nodes, topic)
    writer.wait_more(BEFORE)
    victim = next(n for n in nodes if n.node_id == ps[0]["leader"])
    led = [p["partition"] for p in ps if p["leader"] == victim.node_id]
    others = [n for n in nodes if n is not victim]
    victim.signal(signal.SIGTERM)
    rc = victim.wait(TIMEOUT)
    assert rc == 0, "exit status %r after SIGTERM\n%s" % (rc, victim.tail())
    log = victim.stderr_text()
    assert "the controller let broker %d go" % victim.node_id in log, \
        "%d stopped without the controller's ShouldShutDown\n%s" % (victim.node_id, victim.tail())
    after = view(others[0], topic)
    for p in led:
        assert after[p]["leader"] not in (-1, victim.node_id), after[p]
        assert after[p]["leader_epoch"] > ps[p]["leader_epoch"], (after[p], ps[p])
    for p in after:
        assert victim.node_id not in p["isr"], p
    writer.wait_more(AFTER, partition=0)
    print("SIGTERM of %d, leader of %s %r: leadership moved to %r before it exited 0, out of "
          "every ISR; the producer went on" % (
              victim.node_id, topic, led, [after[p]["leader"] for p in led]))
    produced = writer.finish()
    n = check_read_back(others, writer, produced)
    print("%s: %d records acknowledged, every one read back once, in order, at its offset"
          % (topic, n))
    return victim


def elect_leaders(node, election, topic, partitions):
    """ElectLeaders v2 for topic's partitions: {partition: (error, message)}."""
    body = struct.pack(">b", election) + wire.uvarint(2) + wire.compact_string(topic)
    body += wire.uvarint(len(partitions) + 1) + b"".join(struct.pack(">i", p) for p in partitions)
    body += wire.uvarint(0) + struct.pack(">i", TIMEOUT * 1000) + wire.uvarint(0)
    r = request(node.port, ELECT_LEADERS, 2, body)
    r.i32()  # throttle
    top = r.i16()
    assert top == NONE, "ElectLeaders top-level error %d" % top
    out = {}
    for _ in range(r.uvarint() - 1):
        got = r.cstring()
        assert got == topic, got
        for _ in range(r.uvarint() - 1):
            p, err, msg = r.i32(), r.i16(), r.cstring()
            r.tags()
            out[p] = (err, msg)
        r.tags()
    return out


def check_restart_at_once(nodes):
    """kill -9 of a leader and a restart well within its session: the
    controller refuses the new registration while the old session lives
    (DUPLICATE_BROKER_REGISTRATION) and until it takes it, after fencing
    the old one and moving its leaderships, the node answers no client. Its
    caught-up image still has it leading at the old epoch, which it must
    never serve (a producer sent there would write past a tail the others
    have, and librdkafka's idempotent sequences break)."""
    topic = "elect-bounce"
    old = create(nodes, topic)[0]
    victim = next(n for n in nodes if n.node_id == old["leader"])
    writer = Writer(nodes, topic)
    writer.wait_more(BEFORE)
    victim.kill()
    killed = time.monotonic()
    victim.start(timeout=TIMEOUT)
    restarted = time.monotonic() - killed
    first = wait_for(lambda: view(victim, topic), TIMEOUT + SESSION_MS / 1000)
    answered = time.monotonic() - killed
    assert first, "restarted %d never answered: %s" % (victim.node_id, victim.tail(40))
    p = first[0]
    assert p["leader"] != victim.node_id or p["leader_epoch"] > old["leader_epoch"], \
        "restarted %d answered leading %s-0 at its old epoch: %r, was %r\n%s" % (
            victim.node_id, topic, p, old, victim.tail(40))
    refused = "DUPLICATE_BROKER_REGISTRATION" in victim.stderr_text()
    writer.wait_more(AFTER, partition=0, nodes=nodes)
    produced = writer.finish()
    n = check_read_back(nodes, writer, produced)
    print("kill -9 of %d, leader of %s-0, restarted %.1f s later (%s): first answered "
          "clients %.1f s after the kill, %s-0 led by %d at epoch %d (was %d at %d); %d records "
          "acknowledged, every one read back once, in order" % (
              victim.node_id, topic, restarted,
              "its registration refused while the old session lived" if refused
              else "after the old session had lapsed", answered, topic, p["leader"],
              p["leader_epoch"], old["leader"], old["leader_epoch"], n))


def check_elect_leaders(nodes, topic, victim):
    """victim, the first replica of some partitions of topic, is stopped."""
    others = [n for n in nodes if n is not victim]
    ps = metadata(others[0], topic)
    moved = [p["partition"] for p in ps if p["replicas"][0] == victim.node_id]
    kept = [p["partition"] for p in ps if p["leader"] == p["replicas"][0]]
    assert moved and kept, ps
    for n in others:
        got = elect_leaders(n, PREFERRED, topic, [kept[0], moved[0]])
        assert got[kept[0]] == (ELECTION_NOT_NEEDED,
                                "Leader election not needed for topic partition."), got
        assert got[moved[0]][0] == PREFERRED_LEADER_NOT_AVAILABLE, got
        got = elect_leaders(n, UNCLEAN, topic, [moved[0]])
        assert got[moved[0]][0] == ELECTION_NOT_NEEDED, got
        got = elect_leaders(n, PREFERRED, "no-such-topic", [0])
        assert got[0][0] == UNKNOWN_TOPIC_OR_PARTITION, got
    assert metadata(others[0], topic) == ps, "a refused election changed %s" % topic

    # Back, caught up and in the ISR again (AlterPartition), the preferred
    # replica may lead once more: once, then the election is not needed.
    # The leader balance may move it first, even before the ISR is seen with
    # the victim in it, so the epoch to beat is the one while it was down.
    down = next(p for p in ps if p["partition"] == moved[0])
    victim.start(timeout=TIMEOUT)
    ids = {n.node_id for n in nodes}
    assert wait_for(lambda: live_ids(others[0]) == ids, TIMEOUT), \
        "%d did not come back: %s" % (victim.node_id, victim.tail())

    def back_in_isr():
        p = (view(others[0], topic) or [None] * PARTITIONS)[moved[0]]
        return p if p and victim.node_id in p["isr"] else None
    before = wait_for(back_in_isr, TIMEOUT)
    assert before, "%d did not rejoin the ISR: %r" % (victim.node_id, view(others[0], topic))
    got = elect_leaders(others[0], PREFERRED, topic, [moved[0]])
    # The leader balance may have come first (it runs every BALANCE_S).
    balanced = got[moved[0]][0] == ELECTION_NOT_NEEDED
    assert got[moved[0]] == (NONE, None) or balanced, got
    after = wait_for(lambda: all((view(n, topic) or [None] * PARTITIONS)[moved[0]] and
                                 view(n, topic)[moved[0]]["leader"] == victim.node_id
                                 for n in nodes) and view(others[0], topic)[moved[0]], TIMEOUT)
    assert after, "preferred leader not in place: %r" % view(others[0], topic)
    assert after["leader_epoch"] > down["leader_epoch"], (down, before, after)
    for n in nodes:
        got = elect_leaders(n, PREFERRED, topic, [moved[0]])
        assert got[moved[0]][0] == ELECTION_NOT_NEEDED, got
    print("ElectLeaders through every broker: ELECTION_NOT_NEEDED where the preferred replica "
          "leads, PREFERRED_LEADER_NOT_AVAILABLE while it is down, "
          "UNKNOWN_TOPIC_OR_PARTITION for an unknown topic; back in the ISR, %s made "
          "%d lead %s-%d again (epoch %d -> %d)" % (
              "the leader balance" if balanced else "PREFERRED", victim.node_id, topic,
              moved[0], down["leader_epoch"], after["leader_epoch"]))


def commit_offsets(bootstrap, group, topic, want):
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in want.items()],
                 asynchronous=False)
        return True
    except KafkaException:
        return False
    finally:
        c.close()


def coordinator_of(nodes, group):
    """The group's coordinator as every node given names it, or None."""
    try:
        seen = {find_coordinator(n.port, group) for n in nodes}
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    err, node = seen.pop() if len(seen) == 1 else (-1, -1)
    return node if err == 0 else None


def check_coordinator_moves(nodes):
    """__consumer_offsets replicated three times: kill -9 of a group's
    coordinator moves the group, once the controller has fenced the node
    and elected a new leader of the group's partition, to that leader, which
    loads it from its replica and answers the committed offsets while the
    killed node is still down."""
    topic, group = "moving-offsets", "moving-group"
    assert create(nodes, topic)
    bootstrap = ",".join("127.0.0.1:%d" % n.port for n in nodes)
    want = {p: 10 + 7 * p for p in range(PARTITIONS)}
    assert wait_for(lambda: commit_offsets(bootstrap, group, topic, want), TIMEOUT)
    cid = wait_for(lambda: coordinator_of(nodes, group), TIMEOUT)
    assert cid, "no coordinator for %s" % group
    victim = next(n for n in nodes if n.node_id == cid)
    live = [n for n in nodes if n is not victim]
    t0 = time.monotonic()
    victim.kill()
    moved = wait_for(lambda: coordinator_of(live, group) not in (None, cid)
                     and coordinator_of(live, group), TIMEOUT)
    assert moved, "the group stayed with killed coordinator %d" % cid
    took = time.monotonic() - t0
    live_bootstrap = ",".join("127.0.0.1:%d" % n.port for n in live)
    got = wait_for(lambda: committed_offsets(live_bootstrap, group, topic, PARTITIONS), TIMEOUT)
    assert got == want, "from new coordinator %d: %r, want %r" % (moved, got, want)
    victim.start(timeout=TIMEOUT)
    victim.wait_serving(TIMEOUT)
    print("kill -9 of coordinator %d: group %s moved to %d after %.1f s (session %d ms), which "
          "answered its committed offsets %r with %d still down" % (
              cid, group, moved, took, SESSION_MS, got, cid))


def run(skein):
    with cluster(skein, "skein-elect-", lambda *a: Node(*a, combined=True)) as (nodes, _, v):
        try:
            check_kill_leader(nodes)
            check_restart_at_once(nodes)
            stopped = check_controlled_shutdown(nodes)
            check_elect_leaders(nodes, "elect-term", stopped)
            check_coordinator_moves(nodes)
        except BaseException:
            for n in nodes:
                print("---- node %d\n%s" % (n.node_id, n.tail(40)))
            raise


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    run(sys.argv[1])
    print("leader election: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
