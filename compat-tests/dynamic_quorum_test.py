#!/usr/bin/python3
"""KIP-853 end to end: a quorum that grows from one controller by
AddRaftVoter and shrinks by RemoveRaftVoter, on real processes.

Controller 1 (combined with a broker) is formatted --standalone and started
with controller.quorum.bootstrap.servers naming its own CONTROLLER listener;
topics are created until its metadata log starts above 0 (small snapshot
interval, segments and retention), so a node joining later must take a
snapshot with FetchSnapshot. Controllers 2 and 3 are formatted
--no-initial-controllers with the same cluster id: they start as observers
(DescribeQuorum v2 lists them with their directory ids), take the snapshot
(a .checkpoint in their __cluster_metadata-0, their log starting at its
end), and a hand-encoded AddRaftVoter for each (its directory id from its
meta.properties, its CONTROLLER endpoint) answers NONE, after which
DescribeQuorum shows three voters with their listeners. A broker-only node
with only the bootstrap servers observes the quorum, registers and lists the
topics; it replicates a topic with node 1, leaves its ISR by a controlled
shutdown and is taken back after a restart. Errors: an existing voter again (DUPLICATE_VOTER), a RemoveRaftVoter of an unknown id
(VOTER_NOT_FOUND), an AddRaftVoter to a non-leader (NOT_LEADER_OR_FOLLOWER),
of a voter that does not answer the leader's ApiVersions (REQUEST_TIMED_OUT),
with another cluster id (INCONSISTENT_CLUSTER_ID) and to a static quorum
(UNSUPPORTED_VERSION). kill -9 of the leader: one of
the others is elected, topics created at its CONTROLLER listener commit on
all three voters, and the killed node restarted rejoins as a voter and lists
them. A voter restarted on another CONTROLLER port sends UpdateRaftVoter to
its leader, and the set then names its new endpoint. RemoveRaftVoter of a
follower: DescribeQuorum shows two voters; of the leader itself: it resigns
and the other leads alone.

usage: dynamic_quorum_test.py SKEIN_BIN"""
import base64
import os
import struct
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import Controller, stop_all  # noqa: E402
from skeinlib import kraft, quorum, wire  # noqa: E402
from skeinlib.broker import Broker, free_port  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

TIMEOUT = 90  # generous: the machine may be loaded
NONE, NOT_LEADER, TIMED_OUT, UNSUPPORTED, CLUSTER = 0, 6, 7, 35, 104
DUPLICATE_VOTER, VOTER_NOT_FOUND = 126, 127


class Node(kraft.SnapshotsOften, Controller):
    """A KIP-853 controller: no controller.quorum.voters, controller 1 as
    its bootstrap server, and a metadata log that snapshots and drops its
    old segments quickly."""

    def __init__(self, skein, root, node_id, ports, combined):
        super().__init__(skein, root, node_id, "", ports, combined=combined)
        self.quorum_bootstrap = "127.0.0.1:%d" % ports[1]

    def argv(self):
        return super().argv() + [
            "--override", "controller.quorum.bootstrap.servers=" + self.quorum_bootstrap]

    def directory_id(self):
        with open(os.path.join(self.data_dir, "logs", "meta.properties")) as f:
            for line in f:
                if line.startswith("directory.id="):
                    return base64.urlsafe_b64decode(line.strip().split("=", 1)[1] + "==")
        raise AssertionError("no directory.id in node %d's meta.properties" % self.node_id)


class BrokerNode(Node):
    """A broker-only node that finds the quorum through
    controller.quorum.bootstrap.servers alone, as Kafka's brokers do."""

    def __init__(self, skein, root, node_id, ports):
        super().__init__(skein, root, node_id, {**ports, node_id: 0}, combined=True)

    def argv(self):
        argv = super().argv()
        for i, a in enumerate(argv):
            if a.startswith("process.roles="):
                argv[i] = "process.roles=broker"
            elif a.startswith("listeners="):
                argv[i] = "listeners=PLAINTEXT://127.0.0.1:%d" % self.port
        return argv


def describe(port):
    """DescribeQuorum v2 of the metadata partition (see skeinlib.quorum);
    None when the port does not answer it."""
    try:
        return quorum.describe(port, 2, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError, AssertionError):
        return None


def caught_up(v):
    """v when every voter's log end offset has reached its high watermark."""
    return v if all(r.log_end_offset >= v["hw"] for r in v["voters"].values()) else None


def leader_view(nodes):
    """The view of the node that answers as the leader, or None."""
    for n in nodes:
        if n.proc is None or n.proc.poll() is not None:
            continue
        v = describe(n.controller_port)
        if v and v["error"] == NONE:
            return v
    return None


def add_voter(port, cluster, node, timeout_ms=30000):
    listener = (wire.compact_string("CONTROLLER") + wire.compact_string("127.0.0.1")
                + struct.pack(">H", node.controller_port) + wire.uvarint(0))
    body = (wire.compact_string(cluster) + struct.pack(">ii", timeout_ms, node.node_id)
            + node.directory_id() + wire.uvarint(2) + listener + wire.uvarint(0))
    return voter_change(port, 80, body)


def remove_voter(port, cluster, node_id, directory_id):
    body = (wire.compact_string(cluster) + struct.pack(">i", node_id) + directory_id
            + wire.uvarint(0))
    return voter_change(port, 81, body)


def voter_change(port, api, body):
    """(error, message) of an AddRaftVoter or RemoveRaftVoter v0."""
    r = wire.request(port, api, 0, body, corr=3, timeout=TIMEOUT)
    r.i32()
    return r.i16(), r.cstring()


def topics_of(node):
    try:
        md = wire.metadata(node.port, version=9, timeout=10)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    return {t["name"] for t in md["topics"] if t["error"] == NONE}


def create(port, name):
    """CreateTopics until the node answers anything but a retriable error."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            err, msg = wire.create_topic(port, name, timeout=TIMEOUT)
        except (OSError, wire.Closed, wire.DecodeError):
            err, msg = None, "no answer"
        if err == NONE:
            return
        time.sleep(0.1)
    raise AssertionError("CreateTopics %s at %d: %r %r" % (name, port, err, msg))


def grow_log_past_zero(n1, acked):
    def create_one(i):
        name = "before-%d" % i
        create(n1.port, name)
        acked.add(name)
    return kraft.snapshot_past(n1, 0, create_one, TIMEOUT * 2)


def check_observers(nodes, joiners):
    def seen():
        v = leader_view(nodes)
        if not v or v["leader"] != 1:
            return None
        obs = v["observers"]
        if all(j.node_id in obs and obs[j.node_id].directory_id == j.directory_id()
               and obs[j.node_id].log_end_offset >= v["hw"] for j in joiners):
            return v
        return None
    v = wait_for(seen, TIMEOUT)
    assert v, "observers not caught up: %r\n%s" % (
        leader_view(nodes), "\n".join(j.tail() for j in joiners))
    print("observers: controllers %s follow leader 1 with their directory ids, caught up "
          "to the high watermark %d" % ([j.node_id for j in joiners], v["hw"]))


def check_joined(nodes, joiners, start):
    v = wait_for(lambda: (lambda x: caught_up(x) if x and sorted(x["voters"]) == [1, 2, 3]
                          else None)(leader_view(nodes)), TIMEOUT)
    assert v, leader_view(nodes)
    for j in joiners:
        assert v["voters"][j.node_id].directory_id == j.directory_id(), v
        assert v["nodes"][j.node_id] == [("CONTROLLER", "127.0.0.1", j.controller_port)], v
        took = kraft.took_snapshot(j, start)
        start_j = kraft.log_start(j)
        assert start_j is None or start_j >= kraft.snapshot_end(took[0]), (start_j, took)
    print("AddRaftVoter 2 and 3: NONE; three voters with their directory ids and listeners; "
          "each new voter's log starts at the snapshot it took (%r, %r)"
          % (kraft.checkpoints(joiners[0]), kraft.checkpoints(joiners[1])))
    return v


def check_broker(nodes, broker, acked):
    """A broker-only node observes through the bootstrap servers, registers
    with the active controller it finds there and serves the metadata."""
    broker.start(timeout=TIMEOUT)
    assert broker.wait_serving(TIMEOUT), broker.tail()
    v = wait_for(lambda: (lambda x: x if x and broker.node_id in x["observers"] else None)(
        leader_view(nodes)), TIMEOUT)
    assert v, leader_view(nodes)
    assert wait_for(lambda: (topics_of(broker) or set()) >= acked, TIMEOUT), topics_of(broker)
    print("broker 4 (bootstrap servers only): an observer of the quorum, registered, lists "
          "all %d topics" % len(acked))


def isr_of(node, topic):
    """{partition: sorted ISR} in node's Metadata, None if it does not answer
    or know the topic."""
    try:
        md = wire.metadata(node.port, topics=[topic], version=9, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    t = md["topics"][0]
    return None if t["error"] else {p["partition"]: sorted(p["isr"]) for p in t["partitions"]}


def check_broker_isr(n1, broker):
    """Replication under a KIP-853 quorum: broker 4 leaves the ISR of a
    replication-factor-2 topic by its controlled shutdown and, restarted,
    is taken back by its leader's AlterPartition, which finds the active
    controller through the quorum (no controller.quorum.voters)."""
    err, msg = wire.create_topic(n1.port, "replicated", partitions=2, replication_factor=2,
                                 timeout=TIMEOUT)
    assert err == NONE, (err, msg)
    both, alone = {0: [1, 4], 1: [1, 4]}, {0: [1], 1: [1]}
    assert wait_for(lambda: isr_of(n1, "replicated") == both, TIMEOUT), isr_of(n1, "replicated")
    assert broker.stop() == 0, broker.tail()
    assert wait_for(lambda: isr_of(n1, "replicated") == alone, TIMEOUT), \
        isr_of(n1, "replicated")
    broker.start(timeout=TIMEOUT)
    assert broker.wait_serving(TIMEOUT), broker.tail()
    assert wait_for(lambda: isr_of(n1, "replicated") == both, TIMEOUT), isr_of(n1, "replicated")
    print("a replication-factor-2 topic on nodes 1 and 4: broker 4 left the ISR by its "
          "controlled shutdown and, restarted, was taken back through AlterPartition")


def check_isr_after_failover(broker):
    """Node 1's kill -9 moved its leaderships to broker 4 with an ISR of 4
    alone; node 1, restarted, is taken back by broker 4's AlterPartition: a
    broker-only node of a KIP-853 quorum, which knows no voter from its
    configuration, finds the active controller through the quorum."""
    both = {0: [1, 4], 1: [1, 4]}
    assert wait_for(lambda: isr_of(broker, "replicated") == both, TIMEOUT), \
        "%r\n%s" % (isr_of(broker, "replicated"), broker.tail())
    print("after node 1's kill -9 and restart, both replicas are in the ISR again")


def check_errors(nodes, cluster, v, skein, root):
    leader = next(n for n in nodes if n.node_id == v["leader"])
    other = next(n for n in nodes if n.node_id != v["leader"])
    got = add_voter(leader.controller_port, cluster, other)
    assert got[0] == DUPLICATE_VOTER, got
    got = remove_voter(leader.controller_port, cluster, 99, uuid.uuid4().bytes)
    assert got[0] == VOTER_NOT_FOUND, got
    got = add_voter(other.controller_port, cluster, other)
    assert got[0] == NOT_LEADER, got
    # The leader asks a new voter ApiVersions first (Kafka's AddVoterHandler):
    # one that does not answer is REQUEST_TIMED_OUT.
    ghost = Node(other.skein, root, 9, {1: 0, 9: free_port()}, combined=False)
    os.makedirs(os.path.join(ghost.data_dir, "logs"), exist_ok=True)
    with open(os.path.join(ghost.data_dir, "logs", "meta.properties"), "w") as f:
        f.write("directory.id=%s\n" % base64.urlsafe_b64encode(uuid.uuid4().bytes)
                .decode().rstrip("="))
    got = add_voter(leader.controller_port, cluster, ghost, timeout_ms=2000)
    assert got[0] == TIMED_OUT, got
    foreign = "AAAAAAAAAAAAAAAAAAAAAA" if cluster != "AAAAAAAAAAAAAAAAAAAAAA" else "AQAAAAAAAAAAAAAAAAAAAA"
    got = add_voter(leader.controller_port, foreign, other)
    assert got[0] == CLUSTER, got
    static = Broker(skein, data_dir=os.path.join(root, "static"))
    static.start(timeout=TIMEOUT)
    try:
        got = add_voter(static.port, cluster, other)
        assert got[0] == UNSUPPORTED, got
    finally:
        assert static.stop() == 0, static.tail()
    print("errors: DUPLICATE_VOTER, VOTER_NOT_FOUND, NOT_LEADER_OR_FOLLOWER off the leader, "
          "REQUEST_TIMED_OUT for a new voter that does not answer ApiVersions, "
          "INCONSISTENT_CLUSTER_ID, UNSUPPORTED_VERSION on a static quorum")


def check_failover(nodes, cluster, v, acked):
    old = next(n for n in nodes if n.node_id == v["leader"])
    old.kill()
    live = [n for n in nodes if n is not old]
    nv = wait_for(lambda: (lambda x: x if x and x["epoch"] > v["epoch"] else None)(
        leader_view(live)), TIMEOUT)
    assert nv, "no new leader after killing %d: %r" % (old.node_id, [describe(n.controller_port)
                                                                    for n in live])
    leader = next(n for n in live if n.node_id == nv["leader"])
    after = {"after-%d" % i for i in range(3)}
    for name in sorted(after):
        create(leader.controller_port, name)
    acked |= after
    old.start(timeout=TIMEOUT)

    def rejoined():
        x = leader_view(nodes)
        if not x or sorted(x["voters"]) != [1, 2, 3]:
            return None
        return caught_up(x)
    back = wait_for(rejoined, TIMEOUT)
    assert back, "node %d did not rejoin: %r\n%s" % (old.node_id, leader_view(nodes), old.tail())
    assert wait_for(lambda: old.combined is False or (topics_of(old) or set()) >= acked,
                    TIMEOUT), "node %d lists %r" % (old.node_id, topics_of(old))
    if old.combined:
        # Off the leader, a broker forwards AddRaftVoter to the active
        # controller (Kafka 3.9's KafkaApis), which answers it.
        got = add_voter(old.port, cluster, leader)
        assert got[0] == DUPLICATE_VOTER, got
    print("kill -9 of leader %d: %d leads epoch %d, %d topics created after it commit on all "
          "three voters; node %d restarted rejoins, lists all %d topics and forwards AddRaftVoter"
          % (old.node_id, nv["leader"], nv["epoch"], len(after), old.node_id, len(acked)))
    return back


def check_update(nodes, v):
    """A voter restarted on another CONTROLLER port sends UpdateRaftVoter
    to its leader, as Kafka 3.9's voters do: the set then names the new
    endpoint and the voter follows on."""
    moved = next(n for n in nodes if n.node_id != v["leader"] and not n.combined)
    moved.stop()
    moved.controller_port = free_port()
    moved.start(timeout=TIMEOUT)

    def updated():
        x = leader_view(nodes)
        if not x or x["nodes"].get(moved.node_id) != [("CONTROLLER", "127.0.0.1",
                                                       moved.controller_port)]:
            return None
        return caught_up(x)
    x = wait_for(updated, TIMEOUT)
    assert x, "voter %d's endpoint not updated: %r\n%s" % (moved.node_id, leader_view(nodes),
                                                           moved.tail())
    assert any("UpdateRaftVoter to leader" in ln for ln in moved.lines), moved.tail()
    print("voter %d restarted on port %d: UpdateRaftVoter, the set names its new endpoint"
          % (moved.node_id, moved.controller_port))
    return x


def remove(leader, cluster, gone):
    """RemoveRaftVoter, asked again on REQUEST_TIMED_OUT, which Kafka answers
    while the last change is not yet committed, as its admin client would."""
    deadline = time.monotonic() + TIMEOUT
    got = (TIMED_OUT, None)
    while got[0] == TIMED_OUT and time.monotonic() < deadline:
        got = remove_voter(leader.controller_port, cluster, gone.node_id, gone.directory_id())
        time.sleep(0.1 if got[0] == TIMED_OUT else 0)
    return got


def check_remove(nodes, cluster, v):
    gone = next(n for n in nodes if n.node_id != v["leader"])
    leader = next(n for n in nodes if n.node_id == v["leader"])
    got = remove(leader, cluster, gone)
    assert got[0] == NONE, got
    two = wait_for(lambda: (lambda x: x if x and len(x["voters"]) == 2 else None)(
        leader_view(nodes)), TIMEOUT)
    assert two and gone.node_id not in two["voters"], leader_view(nodes)
    assert gone.node_id not in two["nodes"], two
    print("RemoveRaftVoter %d: NONE; two voters %s" % (gone.node_id, sorted(two["voters"])))
    return two


def check_remove_leader(nodes, cluster, v):
    """The leader removes itself: answered NONE once committed, it resigns
    and the voter left leads alone, as Kafka's RemoveVoterHandler does."""
    leader = next(n for n in nodes if n.node_id == v["leader"])
    got = remove(leader, cluster, leader)
    assert got[0] == NONE, got
    left = next(i for i in v["voters"] if i != leader.node_id)
    one = wait_for(lambda: (lambda x: x if x and x["leader"] == left and
                            sorted(x["voters"]) == [left] else None)(leader_view(nodes)), TIMEOUT)
    assert one, leader_view(nodes)
    print("RemoveRaftVoter %d (the leader): NONE; it resigned, %d leads alone in epoch %d"
          % (leader.node_id, left, one["epoch"]))


def run(skein, root):
    ports = {i: free_port() for i in (1, 2, 3)}
    nodes = [Node(skein, root, i, ports, combined=(i == 1)) for i in (1, 2, 3)]
    n1, joiners = nodes[0], nodes[1:]
    broker = BrokerNode(skein, root, 4, ports)
    cluster = kraft.random_uuid(skein)
    kraft.format_storage(skein, n1, cluster, "--standalone")
    for j in joiners:
        kraft.format_storage(skein, j, cluster, "--no-initial-controllers")
    kraft.format_storage(skein, broker, cluster)
    try:
        n1.start(timeout=TIMEOUT)
        assert n1.wait_serving(TIMEOUT), n1.tail()
        acked = set()
        start = grow_log_past_zero(n1, acked)
        print("controller 1 alone (--standalone): %d topics, its metadata log starts at %d"
              % (len(acked), start))
        for j in joiners:
            j.start(timeout=TIMEOUT)
        check_observers(nodes, joiners)
        for j in joiners:
            got = add_voter(n1.controller_port, cluster, j)
            assert got[0] == NONE, (j.node_id, got, leader_view(nodes), j.tail())
        v = check_joined(nodes, joiners, start)
        check_broker(nodes, broker, acked)
        check_broker_isr(n1, broker)
        check_errors(nodes, cluster, v, skein, root)
        v = check_failover(nodes, cluster, v, acked)
        check_isr_after_failover(broker)
        v = check_update(nodes, v)
        v = check_remove(nodes, cluster, v)
        check_remove_leader(nodes, cluster, v)
        problems = stop_all(nodes + [broker])
        assert not problems, problems
    except AssertionError:
        for n in nodes + [broker]:
            print("---- node %d\n%s" % (n.node_id, n.tail(40)))
        raise
    finally:
        for n in nodes + [broker]:
            n.kill()


def main():
    skein = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="skein-kip853-dyn-",
                                     ignore_cleanup_errors=True) as root:
        run(skein, root)
    print("dynamic quorum: OK")


if __name__ == "__main__":
    main()
