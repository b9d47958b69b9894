#!/usr/bin/python3
"""Controllers and brokers as separate roles: three process.roles=controller
nodes (the KRaft quorum) and three process.roles=broker nodes (observers of
__cluster_metadata, no CONTROLLER listener), all formatted with one cluster
id on free loopback ports.

- Every broker registers and is unfenced once caught up: each broker's
  Metadata lists the three brokers. Every controller registers (KIP-919):
  DescribeCluster at a CONTROLLER listener lists the three controllers.
- DescribeQuorum at the active controller lists the three brokers as
  observers, with log end offsets at the high watermark once caught up.
- A stream of CreateTopics at the brokers in turn (each forwards it to the
  active controller in an Envelope), with kill -9 of the active controller
  mid-stream: a new leader within the bound, no acknowledged creation lost,
  every broker converges on the same topics; the killed controller restarts
  and rejoins as a follower. The client test's topics are created at the
  active controller's CONTROLLER listener, as an admin client bootstrapped
  to the controllers (KIP-919) does.
- offsets.topic.replication.factor holds: with one broker up, FindCoordinator
  answers COORDINATOR_NOT_AVAILABLE and __consumer_offsets is not made;
  with three it is made with three replicas.
- librdkafka produces through the brokers and a consumer group reads every
  record back and commits; every broker is killed -9 and restarted, and the
  group's committed offsets read back as they were (a restarted coordinator
  loads each __consumer_offsets partition's groups as it comes to lead it).

usage: split_roles_test.py SKEIN_BIN [ROUNDS]"""
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import Controller, settle, settled, started, views  # noqa: E402
from skeinlib import quorum, wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

TIMEOUT = 60  # generous: the machine may be loaded and the election jittered
NONE, REQUEST_TIMED_OUT, COORDINATOR_NOT_AVAILABLE, NOT_CONTROLLER = 0, 7, 15, 41
MISMATCHED_ENDPOINT_TYPE, UNSUPPORTED_ENDPOINT_TYPE = 114, 115
# A controller whose leader vanished stands after its fetch timeout plus a
# jittered election timeout (at most twice controller.quorum.election.timeout.ms).
FETCH_TIMEOUT_MS, ELECTION_TIMEOUT_MS = 2000, 1000
ELECTION_BOUND_MS = FETCH_TIMEOUT_MS + 2 * ELECTION_TIMEOUT_MS


class BrokerNode(Controller):
    """process.roles=broker: a client listener only; the controllers are
    named by controller.quorum.voters."""

    def argv(self):
        return [self.skein,
                "--override", "process.roles=broker",
                "--override", "node.id=%d" % self.node_id,
                "--override", "controller.listener.names=CONTROLLER",
                "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
                "--override", "listener.security.protocol.map="
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "--override", "controller.quorum.voters=" + self.voters,
                # A production cluster's setting, not the single-node default.
                "--override", "offsets.topic.replication.factor=3",
                "--override", "log.dirs=" + os.path.join(self.data_dir, "logs")] + self.shards()


def alive(nodes):
    return [n for n in nodes if n.proc and n.proc.poll() is None]


def quorum_view(ctls):
    """The active controller's DescribeQuorum answer (with observers), or
    None while no live controller leads."""
    for n in alive(ctls):
        try:
            v = quorum.describe(n.controller_port, 1, timeout=TIMEOUT)
        except (OSError, wire.Closed, wire.DecodeError, AssertionError):
            continue
        if v["error"] == NONE:
            v["node"] = n
            return v
    return None


def brokers_listed(node):
    try:
        md = wire.metadata(node.port, topics=[], version=12, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    return sorted(b["node_id"] for b in md["brokers"])


def topics(node):
    try:
        md = wire.metadata(node.port, version=9, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    return {t["name"] for t in md["topics"] if t["error"] == NONE}


def converged(brokers, acked):
    sets = [topics(b) for b in brokers]
    if any(s is None or not acked <= s for s in sets):
        return None
    return sets if all(s == sets[0] for s in sets) else None


def create_at_broker(brokers, name, deadline, first=0):
    """CreateTopics at the brokers in turn, from the first-th, until one
    answers other than NOT_CONTROLLER / REQUEST_TIMED_OUT (the forwarded
    request found no active controller in time): that error, or None when
    none answered."""
    last, i = None, first
    while time.monotonic() < deadline:
        b = brokers[i % len(brokers)]
        i += 1
        try:
            err, _ = wire.create_topic(b.port, name, timeout=TIMEOUT)
        except (OSError, wire.Closed, wire.DecodeError):
            continue
        last = err
        if err not in (NOT_CONTROLLER, REQUEST_TIMED_OUT):
            return err
        time.sleep(0.05)
    return last


def create(ctls, name, deadline, **kw):
    """CreateTopics at the active controller's CONTROLLER listener until one
    answers other than NOT_CONTROLLER / REQUEST_TIMED_OUT: that error, or
    None when none answered."""
    last = None
    while time.monotonic() < deadline:
        v = quorum_view(ctls)
        order = ([v["node"]] if v else []) + [n for n in alive(ctls) if not v or n is not v["node"]]
        for n in order:
            try:
                err, _ = wire.create_topic(n.controller_port, name, timeout=TIMEOUT, **kw)
            except (OSError, wire.Closed, wire.DecodeError):
                continue
            last = err
            if err not in (NOT_CONTROLLER, REQUEST_TIMED_OUT):
                return err
        time.sleep(0.05)
    return last


def observers_caught_up(ctls, brokers):
    v = quorum_view(ctls)
    if not v or v["hw"] < 1:
        return None
    obs = v["observers"]
    if sorted(obs) != sorted(b.node_id for b in brokers):
        return None
    return v if all(obs[b.node_id].log_end_offset >= v["hw"] for b in brokers) else None


def kill_round(ctls, brokers, acked, r):
    """12 creations; kill -9 of the active controller after the fifth."""
    killed_at = elected_ms = None
    old = None
    for i in range(12):
        if i == 5:
            v = quorum_view(ctls)
            assert v, "no active controller: %r" % views(ctls)
            old = v["node"]
            epoch = v["epoch"]
            old.kill()
            killed_at = time.monotonic()
            rest = [n for n in ctls if n is not old]
            nv = wait_for(lambda: settled(rest, epoch), TIMEOUT, step=0.02)
            assert nv, "no new leader after kill -9 of %d: %r" % (old.node_id, views(rest))
            elected_ms = (time.monotonic() - killed_at) * 1000
        name = "r%d-t%d" % (r, i)
        err = create_at_broker(brokers, name, time.monotonic() + TIMEOUT, first=i)
        assert err == NONE, "CreateTopics %s: %r %r" % (name, err, views(alive(ctls)))
        acked.add(name)
    assert wait_for(lambda: converged(brokers, acked), TIMEOUT), \
        "brokers differ: %r" % [topics(b) for b in brokers]
    old.start(timeout=TIMEOUT)
    back = wait_for(lambda: settled(ctls, 0), TIMEOUT)
    assert back and back["leader"] != old.node_id and \
        back["voters"][old.node_id].log_end_offset >= back["hw"], \
        "controller %d did not rejoin as a follower: %r" % (old.node_id, views(ctls))
    assert wait_for(lambda: converged(brokers, acked), TIMEOUT)
    print("round %d: killed the active controller %d mid-stream, leader %d elected %.0f ms "
          "later (bound %d ms); %d topics on every broker; %d rejoined as a follower"
          % (r + 1, old.node_id, back["leader"], elected_ms, ELECTION_BOUND_MS, len(acked),
             old.node_id))
    assert elected_ms < ELECTION_BOUND_MS + 3000, "election took %.0f ms" % elected_ms


def find_coordinator(port, group):
    """FindCoordinator v1 for a group: its error code."""
    conn = wire.Conn(port, timeout=TIMEOUT)
    try:
        conn.send(wire.frame(wire.header(10, 1, 4) + wire.string(group) + b"\x00"))
        _, resp = conn.recv_frame(timeout=TIMEOUT)
        r = wire.Reader(resp)
        r.i32()
        return r.i16()
    finally:
        conn.close()


def offsets_replicas(broker):
    md = wire.metadata(broker.port, topics=["__consumer_offsets"], version=12, timeout=TIMEOUT)
    t = md["topics"][0]
    return None if t["error"] else {len(p["replicas"]) for p in t["partitions"]}


def check_offsets_factor(brokers):
    """offsets.topic.replication.factor (3) holds as in Kafka: with one broker
    up, groups get COORDINATOR_NOT_AVAILABLE and no __consumer_offsets is
    made on fewer replicas; once three are up it is made with three."""
    first, rest = brokers[0], brokers[1:]
    for b in rest:
        assert b.stop() == 0, b.tail()
    assert wait_for(lambda: brokers_listed(first) == [first.node_id], TIMEOUT), \
        brokers_listed(first)
    # An observation window, not a wait: the answer must stay the same.
    until = time.monotonic() + 3
    while time.monotonic() < until:
        err = find_coordinator(first.port, "rt-readers")
        assert err == COORDINATOR_NOT_AVAILABLE, "one broker up: FindCoordinator error %d" % err
        time.sleep(0.2)
    assert offsets_replicas(first) is None, offsets_replicas(first)
    for b in rest:
        b.launch()
    for b in rest:
        b.wait_serving(TIMEOUT)
    assert wait_for(lambda: find_coordinator(first.port, "rt-readers") == NONE, TIMEOUT)
    assert offsets_replicas(first) == {3}, offsets_replicas(first)
    print("one broker up: FindCoordinator COORDINATOR_NOT_AVAILABLE and no __consumer_offsets "
          "for 3 s; three up: created with 3 replicas per partition")


def clients(brokers):
    """librdkafka through the brokers: 300 records to a 3-partition topic
    (one partition per broker), all read back by a consumer group."""
    from confluent_kafka import Consumer, Producer
    bootstrap = ",".join("127.0.0.1:%d" % b.port for b in brokers)
    failed = []
    prod = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                     "enable.idempotence": False})
    for i in range(300):
        prod.produce("rt", value=b"v%d" % i, key=b"k%d" % i,
                     on_delivery=lambda err, msg: err and failed.append(err))
        prod.poll(0)
    assert prod.flush(TIMEOUT) == 0, "records still unacknowledged"
    assert not failed, failed[:5]
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "rt-readers",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    cons.subscribe(["rt"])
    seen = set()
    deadline = time.monotonic() + TIMEOUT
    while len(seen) < 300 and time.monotonic() < deadline:
        m = cons.poll(0.5)
        if m is not None and not m.error():
            seen.add(m.value())
    assert len(seen) == 300, "consumed %d of 300 records" % len(seen)
    cons.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in cons.committed(rt_partitions(), timeout=TIMEOUT)}
    cons.close()
    assert sum(committed.values()) == 300, committed
    print("librdkafka: 300 records produced through the brokers, all read back by a group, "
          "offsets committed %r" % committed)
    return committed


def rt_partitions():
    from confluent_kafka import TopicPartition
    return [TopicPartition("rt", p) for p in range(3)]


def restarted_offsets(brokers, committed):
    """kill -9 of every broker and a restart: each starts from its (empty)
    snapshot and learns the metadata from the quorum. The group's
    coordinator must not serve before it has __consumer_offsets again: the
    committed offsets read back as they were, never as none."""
    from confluent_kafka import Consumer
    for b in brokers:
        b.kill()
    for b in brokers:
        b.start(timeout=TIMEOUT)
    bootstrap = ",".join("127.0.0.1:%d" % b.port for b in brokers)
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "rt-readers"})
    try:
        got = {tp.partition: tp.offset for tp in cons.committed(rt_partitions(), timeout=TIMEOUT)}
    finally:
        cons.close()
    assert got == committed, "committed offsets after the restart: %r, were %r" % (got, committed)
    print("every broker killed and restarted: the group's committed offsets read back %r" % got)


@contextlib.contextmanager
def split_cluster(skein, prefix, make_ctl=Controller, make_broker=BrokerNode):
    """Controllers 1-3 and brokers 4-6 (process.roles split), started as
    quorum_test.started() does; yields (controllers, brokers, quorum view)
    once the quorum agrees and every broker lists all three."""
    def make_nodes(root, voters, ports):
        return ([make_ctl(skein, root, i, voters, ports) for i in (1, 2, 3)] +
                [make_broker(skein, root, i, voters, {i: None}) for i in (4, 5, 6)])
    with started(skein, prefix, make_nodes) as (nodes, _):
        ctls, brokers = nodes[:3], nodes[3:]
        v = settle(ctls)
        for b in brokers:
            assert wait_for(lambda: brokers_listed(b) == [4, 5, 6], TIMEOUT), \
                "broker %d lists %r\n%s" % (b.node_id, brokers_listed(b), b.tail())
        yield ctls, brokers, v


def controllers_described(ctl):
    try:
        d = wire.describe_cluster(ctl.controller_port, endpoint_type=2, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    return d if d["error"] == NONE else None


def check_controller_registrations(ctls, brokers):
    """KIP-919: every controller registers with the active one (a
    RegisterControllerRecord), so DescribeCluster at any CONTROLLER
    listener, asking for controllers, lists the three at their CONTROLLER
    endpoints with the quorum's leader; asking a controller for brokers, or
    a broker for controllers, is MISMATCHED_ENDPOINT_TYPE, as from Kafka."""
    want = {c.node_id: ("127.0.0.1", c.controller_port) for c in ctls}
    for c in ctls:
        d = wait_for(lambda: (lambda x: x if x and x["nodes"] == want else None)(
            controllers_described(c)), TIMEOUT)
        assert d, "controller %d describes %r" % (c.node_id, controllers_described(c))
        v = quorum_view(ctls)
        assert d["endpoint_type"] == 2 and v and d["controller_id"] == v["leader"], (d, v)
    d = wire.describe_cluster(ctls[0].controller_port, endpoint_type=1, timeout=TIMEOUT)
    assert d["error"] == MISMATCHED_ENDPOINT_TYPE, d
    d = wire.describe_cluster(brokers[0].port, endpoint_type=2, timeout=TIMEOUT)
    assert d["error"] == MISMATCHED_ENDPOINT_TYPE, d
    d = wire.describe_cluster(brokers[0].port, endpoint_type=7, timeout=TIMEOUT)
    assert d["error"] == UNSUPPORTED_ENDPOINT_TYPE, d
    print("DescribeCluster for controllers at each CONTROLLER listener: %r, controller %d; "
          "the wrong endpoint type MISMATCHED_ENDPOINT_TYPE, an unknown one "
          "UNSUPPORTED_ENDPOINT_TYPE" % (sorted(want), v["leader"]))


def run(skein, rounds):
    with split_cluster(skein, "skein-split-") as (ctls, brokers, v):
        ov = wait_for(lambda: observers_caught_up(ctls, brokers), TIMEOUT)
        assert ov, "observers: %r" % quorum_view(ctls)
        print("controllers 1-3 elected %d in epoch %d; brokers 4-6 registered and listed by "
              "every broker; DescribeQuorum observers %r at high watermark %d"
              % (v["leader"], v["epoch"],
                 {i: o.log_end_offset for i, o in ov["observers"].items()}, ov["hw"]))
        check_controller_registrations(ctls, brokers)
        acked = set()
        for r in range(rounds):
            kill_round(ctls, brokers, acked, r)
        err = create(ctls, "rt", time.monotonic() + TIMEOUT, partitions=3)
        assert err == NONE, err
        assert wait_for(lambda: converged(brokers, acked | {"rt"}), TIMEOUT)
        check_offsets_factor(brokers)
        committed = clients(brokers)
        restarted_offsets(brokers, committed)


def main():
    skein = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    run(skein, rounds)
    print("split roles: OK")


if __name__ == "__main__":
    main()
