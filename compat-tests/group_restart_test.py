#!/usr/bin/python3
"""A group's committed offsets survive a restart of its coordinator in a
three-node KRaft quorum (combined nodes on free loopback ports): librdkafka
commits offsets for a group, the node that coordinates it (the leader of the
group's __consumer_offsets partition) is stopped (SIGTERM, then kill -9 in a
second round) and restarted, and a new consumer of the group reads the same
committed offsets back from it. A restarted quorum member starts from its
snapshot and learns the rest of the metadata, __consumer_offsets included,
only as it catches up with the leader, so its coordinator must load the
groups of a partition it comes to lead then, not only at start-up.

A third round fences the coordinator without stopping it (a hand-encoded
BrokerHeartbeat with WantFence to the active controller, as a session
expiry would): while its __consumer_offsets partition has no leader the
node is no one's coordinator, and, as Kafka's GroupCoordinator after
onResignation, answers the group's OffsetFetch with NOT_COORDINATOR rather
than from what it knew; once its own heartbeat unfences it, it loads the
group from the log again and answers the latest commit.

Last, a commit's late copy: the bytes of an OffsetCommit sent on one
connection reach the coordinator only after a later commit on another one
was answered, just before its client closes that connection (a request
librdkafka timed out and sent again, its first copy held back by TCP's
retransmission across a network partition); as Kafka does, the coordinator
serves it, so the group's offsets are the late copy's. This is what took a
group's offsets back in a fault-harness run (tests/faults/README.md), where
the checker now reports it as allowed.

usage: group_restart_test.py SKEIN_BIN"""
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_registration_test import find_coordinator, group_partition  # noqa: E402
from forward_test import registered  # noqa: E402
from quorum_test import cluster, request, settled, TIMEOUT, Controller  # noqa: E402
from skeinlib.groups import committed_offsets  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402

GROUP = "restart-group"
TOPIC = "restart-topic"
PARTITIONS = 3
NOT_COORDINATOR = 16


def make(skein, root, i, voters, ports):
    return Controller(skein, root, i, voters, ports, combined=True)


def consumer(bootstrap):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                     "enable.auto.commit": False, "session.timeout.ms": 6000})


def committed(bootstrap):
    """The group's committed offsets, or None while the coordinator cannot
    answer (a restarted node still loading, not yet registered)."""
    return committed_offsets(bootstrap, GROUP, TOPIC, PARTITIONS, {"session.timeout.ms": 6000})


def coordinator(nodes):
    """The group's coordinator as every live node names it, or None."""
    try:
        seen = {find_coordinator(n.port, GROUP) for n in nodes}
    except OSError:
        return None
    if len(seen) != 1:
        return None
    err, node = seen.pop()
    return node if err == 0 else None


def restart(node, how):
    if how == "term":
        assert node.stop() == 0, node.tail()
    else:
        node.kill()
    node.start(timeout=TIMEOUT)


def main():
    skein = sys.argv[1]
    with cluster(skein, "skein-grouprestart-", make) as (nodes, _, v):
        bootstrap = ",".join(n.bootstrap for n in nodes)
        registered(nodes)
        made = wait_for(lambda: _create(nodes[0]), TIMEOUT)
        assert made, "%s was not created" % TOPIC
        want = {p: 100 + 11 * p for p in range(PARTITIONS)}
        c = consumer(bootstrap)
        ok = wait_for(lambda: _commit(c, want), TIMEOUT)
        c.close()
        assert ok, "the group's offsets were never committed"
        for round_, how in enumerate(("term", "kill")):
            cid = wait_for(lambda: coordinator(nodes), TIMEOUT)
            assert cid, "no coordinator for %s" % GROUP
            node = next(n for n in nodes if n.node_id == cid)
            got = wait_for(lambda: committed(bootstrap), TIMEOUT)
            assert got == want, (got, want)
            restart(node, how)
            # The restarted node leads the group's partition again once it
            # is registered and unfenced; it must then answer the offsets.
            back = wait_for(lambda: coordinator(nodes) == cid and committed(bootstrap) or None,
                            TIMEOUT)
            assert back == want, "after %s of coordinator %d: %r, want %r\n%s" % (
                how, cid, back, want, node.tail())
            print("round %d: %s of coordinator %d; committed offsets %r read back from it" % (
                round_ + 1, how, cid, back))
        fence_round(nodes, bootstrap)
        late_copy(nodes)
    print("group-restart: OK")


def offset_fetch(port, group, topic, parts):
    """OffsetFetch v1, hand-encoded: {partition: (error, offset)}."""
    body = (wire.string(group) + struct.pack(">i", 1) + wire.string(topic)
            + struct.pack(">i", len(parts)) + b"".join(struct.pack(">i", p) for p in parts))
    conn = wire.Conn(port, timeout=TIMEOUT)
    try:
        conn.send(wire.frame(wire.header(9, 1, 3) + body))
        corr, resp = conn.recv_frame(timeout=TIMEOUT)
        assert corr == 3, corr
        r = wire.Reader(resp)
        out = {}
        for _ in range(r.i32()):
            r.string()
            for _ in range(r.i32()):
                p, off = r.i32(), r.i64()
                r.string()
                out[p] = (r.i16(), off)
        return out
    finally:
        conn.close()


def offset_commit(offsets):
    """OffsetCommit v2 frame, a simple commit (no generation): the bytes."""
    parts = b"".join(struct.pack(">iq", p, o) + wire.string("") for p, o in offsets.items())
    body = (wire.string(GROUP) + struct.pack(">i", -1) + wire.string("")
            + struct.pack(">q", -1) + struct.pack(">i", 1) + wire.string(TOPIC)
            + struct.pack(">i", len(offsets)) + parts)
    return wire.frame(wire.header(8, 2, 5) + body)


def commit_errors(conn):
    corr, resp = conn.recv_frame(timeout=TIMEOUT)
    assert corr == 5, corr
    r = wire.Reader(resp)
    errs = []
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            r.i32()
            errs.append(r.i16())
    return errs


def late_copy(nodes):
    cid = wait_for(lambda: coordinator(nodes), TIMEOUT)
    node = next(n for n in nodes if n.node_id == cid)
    old = {p: 700 + p for p in range(PARTITIONS)}
    new = {p: 800 + p for p in range(PARTITIONS)}
    first = offset_commit(old)
    a = wire.Conn(node.port, timeout=TIMEOUT)
    a.send(first[:-1])  # held back: the last segment is still being retransmitted
    b = wire.Conn(node.port, timeout=TIMEOUT)
    try:
        b.send(offset_commit(new))
        assert commit_errors(b) == [0] * PARTITIONS
        got = offset_fetch(node.port, GROUP, TOPIC, list(range(PARTITIONS)))
        assert got == {p: (0, o) for p, o in new.items()}, got
        a.send(first[-1:])
        a.s.shutdown(socket.SHUT_WR)  # the client had given up on it
        want = {p: (0, o) for p, o in old.items()}
        late = wait_for(lambda: offset_fetch(node.port, GROUP, TOPIC,
                                             list(range(PARTITIONS))) == want, TIMEOUT)
        assert late, "the late copy was not served: %r" % offset_fetch(
            node.port, GROUP, TOPIC, list(range(PARTITIONS)))
    finally:
        a.close()
        b.close()
    print("a commit's copy arriving after a later commit, on a connection its client closed, "
          "is served as Kafka serves it: the group's offsets are the copy's %r" % old)


def broker_epoch(node):
    """The epoch of the node's last registration, from its log."""
    found = re.findall(r"broker %d registered with epoch (\d+)" % node.node_id,
                       node.stderr_text())
    return int(found[-1]) if found else None


def want_fence(port, broker_id, epoch):
    """BrokerHeartbeat v1 with WantFence, as if from the broker: the error."""
    body = struct.pack(">iqq??", broker_id, epoch, 1 << 40, True, False) + wire.uvarint(0)
    r = request(port, 63, 1, body, corr=9)
    r.i32()  # throttle
    return r.i16()


def offsets_leader(node, p):
    md = wire.metadata(node.port, topics=["__consumer_offsets"], version=12, timeout=TIMEOUT)
    return {q["partition"]: q["leader"] for q in md["topics"][0]["partitions"]}.get(p)


def fenced_answer(nodes, node, p):
    """Fences node and asks it for the group's offsets while its partition p
    has no leader (before and after the question, so the answer is from the
    window); None if its own heartbeat unfenced it too soon each time."""
    # A restarted node registers once its previous run's session is over.
    assert wait_for(lambda: broker_epoch(node), TIMEOUT), "node %d never registered" % (
        node.node_id)
    for _ in range(10):
        v = wait_for(lambda: settled(nodes), TIMEOUT)
        ctl = next(n for n in nodes if n.node_id == v["leader"])
        assert want_fence(ctl.controller_port, node.node_id, broker_epoch(node)) == 0
        if not wait_for(lambda: offsets_leader(node, p) == -1, 5, step=0.01):
            continue
        got = offset_fetch(node.port, GROUP, TOPIC, list(range(PARTITIONS)))
        if offsets_leader(node, p) == -1:
            return got
        time.sleep(0.2)  # let its own heartbeat unfence it before the next try
    return None


def fence_round(nodes, bootstrap):
    want = {p: 500 + 7 * p for p in range(PARTITIONS)}
    c = consumer(bootstrap)
    ok = wait_for(lambda: _commit(c, want), TIMEOUT)
    c.close()
    assert ok, "the group's new offsets were never committed"
    cid = wait_for(lambda: coordinator(nodes), TIMEOUT)
    node = next(n for n in nodes if n.node_id == cid)
    md = wire.metadata(node.port, topics=["__consumer_offsets"], version=12, timeout=TIMEOUT)
    p = group_partition(GROUP, len(md["topics"][0]["partitions"]))
    got = fenced_answer(nodes, node, p)
    assert got is not None, "coordinator %d never seen fenced" % cid
    assert all(err == NOT_COORDINATOR for err, _ in got.values()), \
        "fenced coordinator %d answered OffsetFetch %r; want NOT_COORDINATOR" % (cid, got)
    back = wait_for(lambda: coordinator(nodes) == cid and committed(bootstrap) == want
                    and want, TIMEOUT)
    assert back == want, "after the fencing of coordinator %d: %r, want %r\n%s" % (
        cid, committed(bootstrap), want, node.tail())
    print("round 3: coordinator %d fenced: NOT_COORDINATOR while its partition %d had no "
          "leader; unfenced, it loaded the group again and answers %r" % (cid, p, back))


def _create(node):
    try:
        return wire.create_topic(node.port, TOPIC, partitions=PARTITIONS)[0] in (0, 36)
    except (OSError, wire.Closed, wire.DecodeError):
        return False


def _commit(c, want):
    try:
        c.commit(offsets=[TopicPartition(TOPIC, p, o) for p, o in want.items()],
                 asynchronous=False)
        return True
    except KafkaException:
        return False


if __name__ == "__main__":
    main()
