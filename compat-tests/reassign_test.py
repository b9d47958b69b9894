#!/usr/bin/python3
"""Partition reassignment (KIP-455) on a three-node KRaft cluster (combined
nodes, as in replication_test.py), driven by kafkajs's admin client
(AlterPartitionReassignments and ListPartitionReassignments) and by
hand-encoded requests where kafkajs has no call (a cancel):

- a topic of one partition on one broker (N) gets records;
- with one target broker (B) killed, kafkajs moves the partition to the two
  other brokers [A, B]: the change is in progress (Metadata: replicas
  A, B, N; kafkajs lists adding A, B and removing N) and A copies the log,
  but nothing completes while B is down;
- a cancel (null replicas, sent to N, which forwards it to the active
  controller) goes back to [N] and A drops its copy; a second cancel gets
  NO_REASSIGNMENT_IN_PROGRESS, a target naming an unregistered broker
  INVALID_REPLICA_ASSIGNMENT, an unknown topic UNKNOWN_TOPIC_OR_PARTITION;
- B restarted, kafkajs moves it again: both join the ISR, the move
  completes (replicas [A, B], one of them leads, nothing listed), N deletes
  its log, and a consumer reads every record back in order, then records
  produced after the move too.

usage: reassign_test.py SKEIN_BIN"""
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import (cluster, create_everywhere, partitions_of, request,  # noqa: E402
                         TIMEOUT, Controller)
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT = 0, 3, 39
NO_REASSIGNMENT_IN_PROGRESS = 85
ALTER_REASSIGNMENTS = 45
TOPIC, RECORDS, LATER = "mv", 300, 50


def kafkajs(*args):
    out = subprocess.run(["node", os.path.join(HERE, "js", "reassign.mjs"), *args],
                         capture_output=True, timeout=90)
    lines = out.stdout.decode().strip().splitlines()
    assert out.returncode == 0 and lines, "reassign.mjs %s: %s %s" % (
        args, out.stdout.decode(), out.stderr.decode()[-2000:])
    return json.loads(lines[-1])


def listed(node):
    """kafkajs's ListPartitionReassignments: {partition: (replicas, adding, removing)}."""
    r = kafkajs("list", node.bootstrap, TOPIC)
    assert "ok" in r, r
    out = {}
    for t in r["ok"]["topics"]:
        assert t["name"] == TOPIC, t
        for p in t["partitions"]:
            out[p["partition"]] = (p["replicas"], p["addingReplicas"], p["removingReplicas"])
    return out


def alter(node, topic, replicas):
    """AlterPartitionReassignments v0 by hand for partition 0 (replicas None:
    a cancel): (top-level error, partition error, message)."""
    reps = wire.uvarint(0) if replicas is None else (
        wire.uvarint(len(replicas) + 1) + b"".join(struct.pack(">i", r) for r in replicas))
    part = struct.pack(">i", 0) + reps + wire.uvarint(0)
    body = struct.pack(">i", TIMEOUT * 1000) + wire.uvarint(2) + wire.compact_string(topic)
    body += wire.uvarint(2) + part + wire.uvarint(0) + wire.uvarint(0)
    r = request(node.port, ALTER_REASSIGNMENTS, 0, body)
    r.i32()  # throttle
    top, _ = r.i16(), r.cstring()
    assert r.uvarint() == 2 and r.cstring() == topic
    assert r.uvarint() == 2
    p, err, msg = r.i32(), r.i16(), r.cstring()
    assert p == 0, p
    return top, err, msg


def placement(node):
    ps = partitions_of(node, TOPIC)
    return ps[0] if ps else None


def controller_of(node):
    try:
        return wire.metadata(node.port, topics=[], version=12, timeout=TIMEOUT)["controller_id"]
    except (OSError, wire.Closed, wire.DecodeError):
        return None


def log_dir(node):
    return os.path.join(node.data_dir, "logs", "%s-0" % TOPIC)


def produce(nodes, start, n):
    from confluent_kafka import Producer
    prod = Producer({"bootstrap.servers": ",".join(x.bootstrap for x in nodes), "acks": "all",
                     "enable.idempotence": True, "linger.ms": 5})
    failed = []
    for i in range(start, start + n):
        prod.produce(TOPIC, value=b"m%06d" % i, partition=0,
                     on_delivery=lambda err, _: err and failed.append(err))
        prod.poll(0)
    assert prod.flush(TIMEOUT * 2) == 0 and not failed, failed[:3]


def read_all(nodes, n):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    cons = Consumer({"bootstrap.servers": ",".join(x.bootstrap for x in nodes),
                     "group.id": "mv-check", "enable.auto.commit": False})
    got = []
    try:
        cons.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
        # Everything a poll hands back at once, with no pause between polls.
        wait_for(lambda: [got.append(m.value()) for m in cons.consume(1000, 0.5)
                          if not m.error()] is not None and len(got) >= n,
                 TIMEOUT * 2, step=0)
    finally:
        cons.close()
    assert got == [b"m%06d" % i for i in range(n)], "read %d of %d" % (len(got), n)


def settled(nodes, live, want_replicas, want_isr):
    """Every live node's Metadata shows the partition so, or None."""
    ps = [placement(n) for n in nodes if n in live]
    if any(p is None or p["replicas"] != want_replicas or sorted(p["isr"]) != sorted(want_isr)
           or p["leader"] not in want_isr for p in ps):
        return None
    return ps[0]


def create(nodes):
    return create_everywhere(nodes, TOPIC, 1, 1)[0]


def check_in_progress_and_cancel(nodes, n_old, a, b):
    b.kill()
    live = [n for n in nodes if n is not b]
    # kafkajs sends to the controller Metadata names: once b is not it.
    assert wait_for(lambda: controller_of(n_old) in {n.node_id for n in live}, TIMEOUT), \
        "no live controller named after %d was killed" % b.node_id
    r = kafkajs("alter", n_old.bootstrap, TOPIC, "0", "%d,%d" % (a.node_id, b.node_id))
    assert "ok" in r, r
    moving = [a.node_id, b.node_id, n_old.node_id]
    pm = wait_for(lambda: settled(nodes, live, moving, [n_old.node_id, a.node_id]), TIMEOUT)
    assert pm, "not in progress with %d copying: %r" % (a.node_id, placement(n_old))
    assert listed(n_old) == {0: (moving, [a.node_id, b.node_id], [n_old.node_id])}, \
        listed(n_old)
    assert os.path.isdir(log_dir(a)), "%d holds no copy" % a.node_id
    print("kafkajs moved %s-0 from [%d] to [%d, %d] with %d down: in progress, replicas %r, "
          "ISR %r, listed with adding [%d, %d], removing [%d]"
          % (TOPIC, n_old.node_id, a.node_id, b.node_id, b.node_id, pm["replicas"], pm["isr"],
             a.node_id, b.node_id, n_old.node_id))
    top, err, msg = alter(n_old, TOPIC, None)
    assert (top, err) == (NONE, NONE), (top, err, msg)
    pm = wait_for(lambda: settled(nodes, live, [n_old.node_id], [n_old.node_id]), TIMEOUT)
    assert pm and pm["leader"] == n_old.node_id, placement(n_old)
    assert listed(n_old) == {}, listed(n_old)
    assert wait_for(lambda: not os.path.exists(log_dir(a)), TIMEOUT), \
        "%d kept its copy after the cancel" % a.node_id
    top, err, _ = alter(n_old, TOPIC, None)
    assert err == NO_REASSIGNMENT_IN_PROGRESS, err
    top, err, msg = alter(n_old, TOPIC, [a.node_id, 99])
    assert err == INVALID_REPLICA_ASSIGNMENT and "99" in (msg or ""), (err, msg)
    top, err, _ = alter(n_old, "no-such-topic", [a.node_id])
    assert err == UNKNOWN_TOPIC_OR_PARTITION, err
    print("cancelled: back on [%d], %d's copy deleted; a second cancel NO_REASSIGNMENT_IN_"
          "PROGRESS, broker 99 INVALID_REPLICA_ASSIGNMENT (%s), an unknown topic "
          "UNKNOWN_TOPIC_OR_PARTITION" % (n_old.node_id, a.node_id, msg))


def check_move(nodes, n_old, a, b):
    b.start(timeout=TIMEOUT)
    ids = {n.node_id for n in nodes}
    assert wait_for(lambda: {x["node_id"] for x in wire.metadata(
        n_old.port, topics=[], version=12, timeout=TIMEOUT)["brokers"]} == ids, TIMEOUT), \
        "%d did not come back" % b.node_id
    r = kafkajs("alter", a.bootstrap, TOPIC, "0", "%d,%d" % (a.node_id, b.node_id))
    assert "ok" in r, r
    target = [a.node_id, b.node_id]
    pm = wait_for(lambda: settled(nodes, nodes, target, target), TIMEOUT * 2)
    assert pm, "the move did not complete: %r, listed %r" % (placement(a), listed(a))
    assert listed(a) == {}, listed(a)
    assert wait_for(lambda: not os.path.exists(log_dir(n_old)), TIMEOUT), \
        "%d kept its log after the move" % n_old.node_id
    assert os.path.isdir(log_dir(a)) and os.path.isdir(log_dir(b))
    read_all(nodes, RECORDS)
    produce(nodes, RECORDS, LATER)
    read_all(nodes, RECORDS + LATER)
    print("moved to %r (leader %d, ISR %r): %d deleted its log; every record read back, and "
          "%d more produced after the move" % (target, pm["leader"], pm["isr"], n_old.node_id,
                                               LATER))


def run(skein):
    with cluster(skein, "skein-mv-", lambda *a: Controller(*a, combined=True)) as (nodes, _, v):
        pm = create(nodes)
        produce(nodes, 0, RECORDS)
        n_old = next(n for n in nodes if n.node_id == pm["replicas"][0])
        a, b = [n for n in nodes if n is not n_old]
        check_in_progress_and_cancel(nodes, n_old, a, b)
        check_move(nodes, n_old, a, b)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run(sys.argv[1])
    print("partition reassignment: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
