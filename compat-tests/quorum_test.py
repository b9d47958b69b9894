#!/usr/bin/python3
"""Three Skein controllers (two process.roles=controller, one combined with a
broker) as a KRaft quorum over the wire: each formatted with one cluster id, on its own free loopback port.
They elect one leader that all three name in one epoch, and the leader's
LeaderChange batch commits (DescribeQuorum shows a high watermark and every
voter's log end offset past it). Bad Vote requests get Kafka's errors and do
not disturb the quorum: a foreign cluster id (INCONSISTENT_CLUSTER_ID), a
stale epoch (FENCED_LEADER_EPOCH), a node that is no voter
(INCONSISTENT_VOTER_SET), a v1 Vote meant for another voter
(INVALID_VOTER_KEY). DescribeQuorum off the leader answers
NOT_LEADER_OR_FOLLOWER. FetchSnapshot (api 59) gets Kafka's errors: a
snapshot the leader does not hold (SNAPSHOT_NOT_FOUND), a stale epoch
(FENCED_LEADER_EPOCH), a follower asked (NOT_LEADER_OR_FOLLOWER), a foreign
cluster id (INCONSISTENT_CLUSTER_ID, top level). kill -9 of the leader: the other two elect a new
leader in a higher epoch; the killed one restarts and rejoins as a follower
whose log end offset catches up on the leader. kill -9 of a follower: it
restarts and follows the same leader in the same epoch, with no election
(its first fetch reaches the leader before its fetch timeout).

usage: quorum_test.py SKEIN_BIN [ROUNDS]"""
import contextlib
import os
import shutil
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib import kraft, quorum, wire  # noqa: E402
from skeinlib.broker import Broker, free_port  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402
from skeinlib.quorum import TOPIC, one_partition  # noqa: E402

TIMEOUT = 60  # generous: the machine may be loaded and the election jittered
NONE, NOT_LEADER, FENCED, VOTER_SET, CLUSTER, VOTER_KEY = 0, 6, 74, 94, 104, 125
SNAPSHOT_NOT_FOUND = 98


class Controller(Broker):
    """A controller-only node: its CONTROLLER listener and nothing else; with
    combined, a broker too, with a client listener beside it."""

    def __init__(self, skein, root, node_id, voters, ports, combined=False):
        super().__init__(skein, data_dir=os.path.join(root, "n%d" % node_id), node_id=node_id,
                         name="controller-%d" % node_id)
        self.controller_port = ports[node_id]
        self.voters = voters
        self.combined = combined

    def serves_clients(self):
        return self.combined

    def argv(self):
        ctrl = "CONTROLLER://127.0.0.1:%d" % self.controller_port
        client = "PLAINTEXT://127.0.0.1:%d" % self.port
        return [self.skein,
                "--override", "process.roles=" + ("broker,controller" if self.combined
                                                  else "controller"),
                "--override", "node.id=%d" % self.node_id,
                "--override", "controller.listener.names=CONTROLLER",
                "--override", "listeners=" + (client + "," + ctrl if self.combined else ctrl),
                "--override", "listener.security.protocol.map="
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "--override", "controller.quorum.voters=" + self.voters,
                "--override", "log.dirs=" + os.path.join(self.data_dir, "logs")] + self.shards()

    @staticmethod
    def shards():
        n = os.environ.get("SKEIN_TEST_SHARDS")
        return ["--override", "skein.num.shards=%d" % int(n)] if n else []


def request(port, api, version, body, corr=1):
    return wire.request(port, api, version, body, corr, timeout=TIMEOUT)


def api_versions(port):
    conn = wire.Conn(port, timeout=TIMEOUT)
    try:
        conn.send(wire.api_versions_request(3, 5))
        corr, body = conn.recv_frame(timeout=TIMEOUT)
        assert corr == 5
        return wire.decode_api_versions(body, 3)["apis"]
    finally:
        conn.close()


def check_listeners(nodes):
    """The CONTROLLER listener serves the quorum's APIs and the brokers'
    registration and heartbeats, forwarded admin requests (Envelope),
    producer-id blocks (AllocateProducerIds) and the controllers' own
    registration and DescribeCluster (KIP-919), and nothing of a broker's: a
    Metadata request there closes the connection, as Kafka's
    socket server does with an API the listener does not enable. A combined
    node answers DescribeQuorum on its client listener too."""
    ctl = nodes[0]
    assert set(api_versions(ctl.controller_port)) == {1, 18, 19, 52, 53, 54, 55, 56, 58, 59, 60, 62,
                                                      63, 67, 70, 80, 81, 82}, \
        api_versions(ctl.controller_port)
    conn = wire.Conn(ctl.controller_port, timeout=TIMEOUT)
    try:
        conn.send(wire.metadata_request(0, 9))
        assert conn.closed_by_peer(TIMEOUT), "Metadata answered on the CONTROLLER listener"
    finally:
        conn.close()
    combined = next(n for n in nodes if n.combined)
    assert 55 in api_versions(combined.port) and 3 in api_versions(combined.port)
    via_client = describe_quorum(combined.port)
    via_ctl = describe_quorum(combined.controller_port)
    assert via_client["leader"] == via_ctl["leader"] and via_client["error"] == via_ctl["error"], \
        (via_client, via_ctl)
    print("listeners: controller APIs only on CONTROLLER; DescribeQuorum on a combined "
          "node's client listener")


def describe_quorum(port):
    """DescribeQuorum v1 of the metadata partition (see skeinlib.quorum)."""
    return quorum.describe(port, 1, timeout=TIMEOUT)


def vote(port, cluster, candidate, epoch, last_epoch=0, last_offset=0, voter=None):
    """Vote v0, or v1 (KIP-853) naming voter: (top-level error, partition
    error, vote granted)."""
    if voter is None:
        fields = struct.pack(">iiiq", epoch, candidate, last_epoch, last_offset)
        body = wire.compact_string(cluster) + one_partition(fields) + wire.uvarint(0)
    else:
        fields = (struct.pack(">ii", epoch, candidate) + bytes(32)
                  + struct.pack(">iq", last_epoch, last_offset))
        body = (wire.compact_string(cluster) + struct.pack(">i", voter) + one_partition(fields)
                + wire.uvarint(0))
    r = request(port, 52, 0 if voter is None else 1, body)
    top = r.i16()

    def part():
        p = (r.i32(), r.i16(), r.i32(), r.i32(), r.i8())
        r.tags()
        return p

    def topic():
        r.cstring()
        ps = r.carray(part)
        r.tags()
        return ps

    topics = r.carray(topic)
    if top != NONE:
        return top, None, False
    _, err, _, _, granted = topics[0][0]
    return top, err, bool(granted)


def fetch_snapshot(port, cluster, replica, epoch, end_offset, snap_epoch, position=0):
    """FetchSnapshot v1 for __cluster_metadata-0: (top-level error,
    partition error); ClusterId is a tagged field (tag 0)."""
    snap = (struct.pack(">iiqi", 0, epoch, end_offset, snap_epoch) + wire.uvarint(0)
            + struct.pack(">q", position) + wire.uvarint(0))
    topics = (wire.uvarint(2) + wire.compact_string(TOPIC) + wire.uvarint(2) + snap
              + wire.uvarint(0))
    cid = wire.compact_string(cluster)
    tags = wire.uvarint(1) + wire.uvarint(0) + wire.uvarint(len(cid)) + cid
    r = request(port, 59, 1, struct.pack(">ii", replica, 1 << 20) + topics + tags)
    r.i32()
    top = r.i16()
    if top != NONE:
        return top, None
    assert r.uvarint() == 2 and r.cstring() == TOPIC
    assert r.uvarint() == 2
    r.i32()
    return top, r.i16()


def check_fetch_snapshot(nodes, cluster, v):
    leader = next(n for n in nodes if n.node_id == v["leader"])
    follower = next(n for n in nodes if n.node_id != v["leader"])
    other = "AAAAAAAAAAAAAAAAAAAAAA" if cluster != "AAAAAAAAAAAAAAAAAAAAAA" else "AQAAAAAAAAAAAAAAAAAAAA"
    rid = follower.node_id
    got = fetch_snapshot(leader.controller_port, cluster, rid, v["epoch"], 1 << 40, 99)
    assert got == (NONE, SNAPSHOT_NOT_FOUND), got
    got = fetch_snapshot(leader.controller_port, cluster, rid, v["epoch"] - 1, 1 << 40, 99)
    assert got == (NONE, FENCED), got
    got = fetch_snapshot(follower.controller_port, cluster, rid, v["epoch"], 1 << 40, 99)
    assert got == (NONE, NOT_LEADER), got
    got = fetch_snapshot(leader.controller_port, other, rid, v["epoch"], 1 << 40, 99)
    assert got == (CLUSTER, None), got
    after = describe_quorum(leader.controller_port)
    assert after["error"] == NONE and after["epoch"] == v["epoch"], after
    print("FetchSnapshot: missing snapshot, stale epoch, follower, foreign cluster refused")


def views(nodes):
    out = {}
    for n in nodes:
        try:
            out[n.node_id] = describe_quorum(n.controller_port)
        except (OSError, wire.Closed, AssertionError):
            pass
    return out


def settled(nodes, min_epoch=0):
    """The leader's view when every node in nodes agrees on one leader in one
    epoch above min_epoch, and the leader has committed its LeaderChange
    batch with every live voter caught up to it; else None."""
    vs = views(nodes)
    if len(vs) != len(nodes):
        return None
    lead = [v for v in vs.values() if v["error"] == NONE]
    if len(lead) != 1:
        return None
    v = lead[0]
    if v["epoch"] <= min_epoch or v["hw"] < 1:
        return None
    if any(o["leader"] != v["leader"] or o["epoch"] != v["epoch"] for o in vs.values()):
        return None
    if any(n.node_id not in v["voters"] or v["voters"][n.node_id].log_end_offset < v["hw"]
           for n in nodes):
        return None
    return v


def check_bad_votes(nodes, cluster, v):
    leader = next(n for n in nodes if n.node_id == v["leader"])
    follower = next(n for n in nodes if n.node_id != v["leader"])
    other = "AAAAAAAAAAAAAAAAAAAAAA" if cluster != "AAAAAAAAAAAAAAAAAAAAAA" else "AQAAAAAAAAAAAAAAAAAAAA"
    top, _, granted = vote(follower.controller_port, other, leader.node_id, v["epoch"] + 5)
    assert top == CLUSTER and not granted, top
    top, err, granted = vote(follower.controller_port, cluster, leader.node_id, v["epoch"] - 1)
    assert top == NONE and err == FENCED and not granted, (top, err)
    top, err, granted = vote(follower.controller_port, cluster, 99, v["epoch"] + 5, 99, 1 << 40)
    assert top == NONE and err == VOTER_SET and not granted, (top, err)
    top, err, granted = vote(follower.controller_port, cluster, leader.node_id, v["epoch"] + 5,
                             99, 1 << 40, voter=leader.node_id)
    assert top == NONE and err == VOTER_KEY and not granted, (top, err)
    p = describe_quorum(follower.controller_port)
    assert p["error"] == NOT_LEADER and p["leader"] == v["leader"], p
    after = describe_quorum(leader.controller_port)
    assert after["error"] == NONE and after["epoch"] == v["epoch"], after
    print("bad votes: foreign cluster, stale epoch, no voter, another voter's key refused; "
          "quorum undisturbed")


def stop_all(nodes, grace=10):
    """SIGTERM to every node, then each must exit 0 with no sanitizer report.
    A broker shuts down under control, which needs a quorum: one still
    waiting after grace seconds (its quorum gone with the others) gets the
    second signal, which stops it at once, as an operator's would."""
    nodes = [n for n in nodes if n.proc is not None]
    for n in nodes:
        n.signal(signal.SIGTERM)
    for n in nodes:
        rc = n.wait(grace)
        if rc is None:
            n.signal(signal.SIGTERM)
            rc = n.wait(TIMEOUT)
        report = n.sanitizer_report()
        assert rc == 0 and not report, "node %d: exit status %r\n%s" % (
            n.node_id, rc, report or n.tail())


@contextlib.contextmanager
def started(skein, prefix, make_nodes):
    """The nodes make_nodes(root, voters, ports) returns (three voters on
    ports 1-3 first, any brokers after), formatted with one new cluster id
    and started; yields (nodes, cluster id). On a normal exit every node
    must stop cleanly with no sanitizer report; every node is killed and its
    data removed anyway."""
    root = tempfile.mkdtemp(prefix=prefix)
    ports = {i: free_port() for i in (1, 2, 3)}
    voters = ",".join("%d@127.0.0.1:%d" % (i, p) for i, p in sorted(ports.items()))
    cluster_id = kraft.random_uuid(skein)
    nodes = make_nodes(root, voters, ports)
    try:
        for n in nodes:
            kraft.format_storage(skein, n, cluster_id)
            n.start(timeout=TIMEOUT)
        for n in nodes:
            assert not n.serves_clients() or n.wait_serving(TIMEOUT), \
                "node %d takes no client connection: %s" % (n.node_id, n.tail())
        yield nodes, cluster_id
        # Brokers first: their controlled shutdown needs the controllers.
        stop_all(nodes[3:])
        stop_all(nodes[:3])
    finally:
        for n in nodes:
            n.kill()
        shutil.rmtree(root, ignore_errors=True)


def partitions_of(node, topic):
    """The topic's partitions in the node's Metadata (v12), [] if unknown,
    None if the node does not answer."""
    try:
        md = wire.metadata(node.port, topics=[topic], version=12, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    t = md["topics"][0]
    return [] if t["error"] else sorted(t["partitions"], key=lambda p: p["partition"])


def create_everywhere(nodes, topic, partitions, rf, configs=None):
    """Once every node's broker is unfenced, CreateTopics at the first node,
    then waits until every node's Metadata shows the same placement, every
    partition led and its ISR whole; returns that placement."""
    ids = {n.node_id for n in nodes}

    def live():
        md = wire.metadata(nodes[0].port, topics=[], version=12, timeout=TIMEOUT)
        return {b["node_id"] for b in md["brokers"]} == ids
    assert wait_for(live, TIMEOUT), "the brokers are not all unfenced"
    err, msg = wire.create_topic(nodes[0].port, topic, partitions=partitions, configs=configs,
                                 replication_factor=rf, timeout=TIMEOUT)
    assert err == 0, (err, msg)

    def placed():
        vs = [partitions_of(n, topic) for n in nodes]
        if any(not v or len(v) != partitions for v in vs):
            return None
        if any(p["leader"] < 0 or len(p["isr"]) != rf for p in vs[0]):
            return None
        return vs[0] if all(v == vs[0] for v in vs) else None
    ps = wait_for(placed, TIMEOUT)
    assert ps, "%s not placed on every node: %r" % (topic, [partitions_of(n, topic)
                                                          for n in nodes])
    return ps


def settle(voters):
    """The agreed quorum view, or an assertion with every voter's log."""
    v = wait_for(lambda: settled(voters), TIMEOUT)
    assert v, "no agreed leader: %r\n%s" % (
        views(voters), "\n".join("node %d:\n%s" % (n.node_id, n.tail()) for n in voters))
    return v


@contextlib.contextmanager
def cluster(skein, prefix, make):
    """Three nodes made by make(skein, root, id, voters, ports), started
    (see started()); yields (nodes, cluster id, the settled quorum view)."""
    def make_nodes(root, voters, ports):
        return [make(skein, root, i, voters, ports) for i in (1, 2, 3)]
    with started(skein, prefix, make_nodes) as (nodes, cluster_id):
        yield nodes, cluster_id, settle(nodes)


def follower_restart(nodes, v):
    """A restarted follower must not unseat a healthy leader: the epoch stays
    the same through its restart and for three fetch timeouts after it
    (controller.quorum.fetch.timeout.ms, 2 s), the window in which a
    follower that never reached its leader would stand for election."""
    f = next(n for n in nodes if n.node_id != v["leader"])
    f.kill()
    f.start(timeout=TIMEOUT)
    back = wait_for(lambda: settled(nodes), TIMEOUT)
    assert back, "follower %d did not rejoin: %r" % (f.node_id, views(nodes))
    until = time.monotonic() + 6
    while time.monotonic() < until:
        now = views(nodes)
        assert all(o["epoch"] == v["epoch"] and o["leader"] == v["leader"] for o in now.values()), \
            "restarted follower %d disturbed the quorum: %r, was leader %d in epoch %d\n%s" % (
                f.node_id, now, v["leader"], v["epoch"], f.tail())
        time.sleep(0.1)
    print("follower %d killed and restarted: leader %d kept epoch %d" % (
        f.node_id, v["leader"], v["epoch"]))


def answers(port):
    try:
        wire.api_versions(port, timeout=5)
        return True
    except (OSError, wire.Closed, wire.DecodeError):
        return False


def clients_wait_for_catch_up(nodes):
    """A member of a larger quorum restarted while no majority runs cannot
    catch up: it refuses client connections (its port bound, not listening,
    as a Kafka broker's before request processing is enabled) rather than
    answer Metadata from an empty image; once the quorum is back it answers,
    and Metadata has the topics."""
    broker = next(n for n in nodes if n.combined)
    assert broker.wait_serving(TIMEOUT), broker.tail()
    err, msg = wire.create_topic(broker.port, "catch-up", timeout=TIMEOUT)
    assert err == 0, (err, msg)
    assert wait_for(lambda: [p["leader"] for p in partitions_of(broker, "catch-up")] ==
                    [broker.node_id], TIMEOUT), partitions_of(broker, "catch-up")
    for n in nodes:
        n.kill()
    broker.start(timeout=TIMEOUT)
    until = time.monotonic() + 3
    while time.monotonic() < until:
        try:
            wire.api_versions(broker.port, timeout=3)
            raise AssertionError("a node that has not caught up answered a client:\n"
                                 + broker.tail())
        except ConnectionRefusedError:
            time.sleep(0.2)
    for n in nodes:
        if n is not broker:
            n.start(timeout=TIMEOUT)
    assert wait_for(lambda: answers(broker.port), TIMEOUT), broker.tail()
    assert any("accepting client connections" in line for line in broker.lines), broker.tail()
    md = wire.metadata(broker.port, topics=["catch-up"], version=9, timeout=TIMEOUT)
    assert [t["error"] for t in md["topics"]] == [0], md["topics"]
    print("restarted alone, node %d refused clients until the quorum came back; then it "
          "answered and Metadata has the topic" % broker.node_id)


def round_trip(skein, rounds):
    def make(skein, root, i, voters, ports):
        return Controller(skein, root, i, voters, ports, combined=i == 3)
    with cluster(skein, "skein-quorum-", make) as (nodes, cluster_id, v):
        print("elected: leader %d in epoch %d, high watermark %d" % (v["leader"], v["epoch"], v["hw"]))
        check_bad_votes(nodes, cluster_id, v)
        check_fetch_snapshot(nodes, cluster_id, v)
        check_listeners(nodes)
        follower_restart(nodes, v)
        for i in range(rounds):
            old = next(n for n in nodes if n.node_id == v["leader"])
            old.kill()
            killed_at = time.monotonic()
            rest = [n for n in nodes if n is not old]
            nv = wait_for(lambda: settled(rest, v["epoch"]), TIMEOUT, step=0.02)
            assert nv, "no new leader after kill -9 of %d: %r" % (old.node_id, views(rest))
            assert nv["leader"] != old.node_id
            elected_ms = (time.monotonic() - killed_at) * 1000
            old.start(timeout=TIMEOUT)
            back = wait_for(lambda: settled(nodes, v["epoch"]), TIMEOUT)
            assert back, "node %d did not rejoin: %r" % (old.node_id, views(nodes))
            assert back["voters"][old.node_id].log_end_offset >= back["hw"]
            print("round %d: killed leader %d, new leader %d in epoch %d committed %.0f ms "
                  "after the kill; %d rejoined, log end offset %d"
                  % (i + 1, old.node_id, nv["leader"], nv["epoch"], elected_ms, old.node_id,
                     back["voters"][old.node_id].log_end_offset))
            v = back
        clients_wait_for_catch_up(nodes)


def main():
    skein = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    round_trip(skein, rounds)
    print("quorum: OK")


if __name__ == "__main__":
    main()
