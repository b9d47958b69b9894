#!/usr/bin/python3
"""Replication on a three-node KRaft cluster (combined nodes, as in
quorum_test.py).

- CreateTopics with replication factor 3 on the active controller: every
  node's Metadata gives each partition three distinct replicas, all in the
  ISR, the first one leading, leaders spread over the three brokers;
- every node opens the log of each partition it is a replica of, leader
  or follower (its directory is in the node's log dir);
- replication factor 4 on three brokers gets INVALID_REPLICATION_FACTOR with
  Kafka's message;
- an idempotent librdkafka producer writes with acks=all to the leaders
  (min.insync.replicas=2) and a consumer group reads every record back;
  every replica's log then holds the same bytes (segment files compared),
  and every node's replication-offset-checkpoint the high watermarks;
- hand-encoded follower fetches: an id that is no replica gets
  NOT_LEADER_OR_FOLLOWER, a newer leader epoch UNKNOWN_LEADER_EPOCH, a v15
  fetch whose ReplicaState names a broker epoch older than the follower's
  registration NOT_LEADER_OR_FOLLOWER (KIP-903);
- kill -9 of a follower of partition 0: within replica.lag.time.max.ms
  (30 s, so no ISR shrink: isr_test.py shows that) acks=all to partition 0 waits, and a consumer's fetch sees
  nothing past the high watermark while a follower's fetch reads the leader's
  newer records; the follower restarted catches up byte for byte and the
  producer's records are acknowledged;
- a follower restarted without its log after DeleteRecords moved the
  leader's start: OFFSET_OUT_OF_RANGE, then it starts afresh at the
  leader's log start and holds the same batches from there;
- followers fetch in incremental fetch sessions (KIP-227): with 300 idle
  partitions in sync, what each connection to a node's client listener
  sends (a replica fetcher's rounds; the quorum and registrations use the
  controller listener) comes, once the partitions are open and named,
  below what one round naming 100 partitions would take in 3 s (Linux's
  per-socket byte counts, `ss -ti`); a full round each time (500 ms, the
  leader's wait) would send that many times over.

A leader's kill -9 and SIGTERM are leader_election_test.py's;
NOT_ENOUGH_REPLICAS with two brokers down is isr_test.py's.

usage: replication_test.py SKEIN_BIN"""
import functools
import glob
import os
import re
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import cluster, TIMEOUT, Controller  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

NONE, NOT_LEADER_OR_FOLLOWER, INVALID_REPLICATION_FACTOR = 0, 6, 38
UNKNOWN_LEADER_EPOCH = 75
TOPIC, PARTITIONS, RECORDS = "r3", 3, 300
# How long a write to a partition whose follower is down stays unacknowledged
# (well within replica.lag.time.max.ms, so the ISR keeps the follower)
# before the test calls it waiting: an observation window, not a wait for a
# condition.
HELD_S = 3


def partitions(node, topic):
    md = wire.metadata(node.port, topics=[topic], version=12, timeout=TIMEOUT)
    t = md["topics"][0]
    return [] if t["error"] else sorted(t["partitions"], key=lambda p: p["partition"])


def placed_everywhere(nodes, ids):
    """Every node's Metadata shows the placement complete, or None."""
    views = []
    for n in nodes:
        try:
            ps = partitions(n, TOPIC)
        except (OSError, wire.Closed, wire.DecodeError):
            return None
        if len(ps) != PARTITIONS or any(p["leader"] < 0 for p in ps):
            return None
        views.append([(p["leader"], p["replicas"], p["isr"]) for p in ps])
    return views if all(v == views[0] for v in views) else None


def check_placement(nodes, ids):
    views = wait_for(lambda: placed_everywhere(nodes, ids), TIMEOUT)
    assert views, "nodes disagree on %s: %r" % (TOPIC, [partitions(n, TOPIC) for n in nodes])
    for leader, replicas, isr in views[0]:
        assert sorted(replicas) == sorted(ids), replicas
        assert sorted(isr) == sorted(replicas), (isr, replicas)
        assert leader == replicas[0], (leader, replicas)
    leaders = {v[0] for v in views[0]}
    assert leaders == set(ids), "leaders %r not spread over %r" % (leaders, sorted(ids))
    print("replication factor 3: every node's Metadata gives %r (leader, replicas, isr)"
          % (views[0],))


def check_hosting(nodes):
    want = {"%s-%d" % (TOPIC, p) for p in range(PARTITIONS)}

    def hosted():
        return all(want <= set(os.listdir(os.path.join(n.data_dir, "logs"))) for n in nodes)
    assert wait_for(hosted, TIMEOUT), "not every node opened %r: %r" % (
        sorted(want), [sorted(os.listdir(os.path.join(n.data_dir, "logs"))) for n in nodes])
    print("every node opened the logs of the %d partitions it is a replica of, leader or "
          "follower" % PARTITIONS)


def producer(nodes):
    from confluent_kafka import Producer
    bootstrap = ",".join("127.0.0.1:%d" % n.port for n in nodes)
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                     "enable.idempotence": True})


def check_clients(nodes):
    from confluent_kafka import Consumer
    bootstrap = ",".join("127.0.0.1:%d" % n.port for n in nodes)
    failed = []
    prod = producer(nodes)
    for i in range(RECORDS):
        prod.produce(TOPIC, value=b"v%d" % i, key=b"k%d" % i,
                     on_delivery=lambda err, msg: err and failed.append(err))
        prod.poll(0)
    assert prod.flush(TIMEOUT) == 0, "records still unacknowledged"
    assert not failed, failed[:5]
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "r3-readers",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    cons.subscribe([TOPIC])
    seen = set()
    deadline = time.monotonic() + TIMEOUT
    while len(seen) < RECORDS and time.monotonic() < deadline:
        m = cons.poll(0.5)
        if m is not None and not m.error():
            seen.add(m.value())
    cons.close()
    assert len(seen) == RECORDS, "consumed %d of %d records" % (len(seen), RECORDS)
    print("librdkafka: %d records produced idempotently with acks=all to the leaders, all read "
          "back by a consumer group" % RECORDS)


def log_bytes(node, partition):
    """The partition's records as node's segment files hold them."""
    files = sorted(glob.glob(os.path.join(node.data_dir, "logs", "%s-%d" % (TOPIC, partition),
                                          "*.log")))
    out = b""
    for f in files:
        with open(f, "rb") as fh:
            out += fh.read()
    return out


def batches_from(data, start):
    """The bytes of the v2 batches in data whose base offset is start or more."""
    out, off = b"", 0
    while off + 12 <= len(data):
        base, length = struct.unpack(">qi", data[off:off + 12])
        if base >= start:
            out += data[off:off + 12 + length]
        off += 12 + length
    return out


def logs_alike(nodes, partition, want=None):
    """Every node's log of the partition byte for byte the same (and holding
    want records), or None."""
    logs = [log_bytes(n, partition) for n in nodes]
    if any(lg != logs[0] for lg in logs) or (want is not None and wire.record_count(logs[0]) != want):
        return None
    return logs[0]


def check_logs_alike(nodes):
    total = 0
    for p in range(PARTITIONS):
        data = wait_for(lambda: logs_alike(nodes, p), TIMEOUT)
        assert data, "partition %d: the replicas' logs differ: %r" % (
            p, [len(log_bytes(n, p)) for n in nodes])
        total += wire.record_count(data)
    assert total == RECORDS, "the logs hold %d records, %d were produced" % (total, RECORDS)
    print("every replica's log of the %d partitions holds the same bytes (%d records)"
          % (PARTITIONS, total))


def fetch_v11(port, replica_id, partition, offset, leader_epoch=-1, max_wait=0):
    """One Fetch v11 by hand: (error, high watermark, record bytes)."""
    r = wire.fetch_v11(port, TOPIC, partition, offset, replica_id=replica_id,
                       leader_epoch=leader_epoch, max_wait=max_wait, timeout=TIMEOUT)
    return r["error"], r["hw"], r["records"]


def checkpointed_hws(node):
    """{partition: offset} of TOPIC in node's replication-offset-checkpoint."""
    try:
        with open(os.path.join(node.data_dir, "logs", "replication-offset-checkpoint")) as f:
            lines = f.read().split("\n")
    except OSError:
        return {}
    out = {}
    for line in lines[2:]:
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == TOPIC:
            out[int(parts[1])] = int(parts[2])
    return out


def check_hw_checkpoints(nodes):
    """Every replica checkpoints its high watermark (Kafka's
    replication-offset-checkpoint, every 5 s by default): once the records
    are on all three, each node's lines add up to them."""
    def done():
        return all(sum(checkpointed_hws(n).values()) == RECORDS
                   and len(checkpointed_hws(n)) == PARTITIONS for n in nodes)
    assert wait_for(done, TIMEOUT), [checkpointed_hws(n) for n in nodes]
    print("every node's replication-offset-checkpoint holds the %d partitions' high watermarks "
          "(%d records)" % (PARTITIONS, RECORDS))


def fetch_v15(port, topic_id, replica_id, replica_epoch, partition, offset):
    """One follower Fetch v15 by hand, naming its broker epoch in the tagged
    ReplicaState (KIP-903): the partition's error."""
    state = struct.pack(">iq", replica_id, replica_epoch) + wire.uvarint(0)
    part = struct.pack(">iiqiqi", partition, -1, offset, -1, -1, 1 << 20) + wire.uvarint(0)
    body = struct.pack(">iiibii", 0, 1, 1 << 20, 0, 0, -1)
    body += wire.uvarint(2) + topic_id + wire.uvarint(2) + part + wire.uvarint(0)
    body += wire.uvarint(1) + wire.compact_string("")
    body += wire.uvarint(1) + wire.uvarint(1) + wire.uvarint(len(state)) + state
    c = wire.Conn(port, timeout=TIMEOUT)
    try:
        c.send(wire.frame(wire.header(1, 15, 9, flexible=True) + body))
        corr, resp = c.recv_frame(TIMEOUT)
    finally:
        c.close()
    assert corr == 9, corr
    r = wire.Reader(resp)
    r.tags()
    r.i32()
    assert r.i16() == NONE
    r.i32()
    assert r.uvarint() == 2
    assert r.take(16) == topic_id
    assert r.uvarint() == 2
    assert r.i32() == partition
    return r.i16()


def topic_id_of(node):
    md = wire.metadata(node.port, topics=[TOPIC], version=12, timeout=TIMEOUT)
    return md["topics"][0]["topic_id"]


def leader_of(nodes, partition):
    ps = partitions(nodes[0], TOPIC)
    return next(n for n in nodes if n.node_id == ps[partition]["leader"]), ps[partition]


def check_follower_fetch_errors(nodes):
    leader, pm = leader_of(nodes, 0)
    err, _, _ = fetch_v11(leader.port, 99, 0, 0)
    assert err == NOT_LEADER_OR_FOLLOWER, "replica id 99 (no replica): error %d" % err
    follower = next(i for i in pm["replicas"] if i != leader.node_id)
    err, _, _ = fetch_v11(leader.port, follower, 0, 0, leader_epoch=pm["leader_epoch"] + 5)
    assert err == UNKNOWN_LEADER_EPOCH, "a newer leader epoch: error %d" % err
    other = next(n for n in nodes if n is not leader)
    err, _, _ = fetch_v11(other.port, follower, 0, 0)
    assert err == NOT_LEADER_OR_FOLLOWER, "a follower fetch from a non-leader: error %d" % err
    tid = topic_id_of(leader)
    err = fetch_v15(leader.port, tid, follower, 0, 0, 0)
    assert err == NOT_LEADER_OR_FOLLOWER, "broker epoch 0, below its registration: error %d" % err
    err = fetch_v15(leader.port, tid, follower, -1, 0, 0)
    assert err == NONE, "no broker epoch (-1): error %d" % err
    print("follower fetches: replica id 99 and a fetch from a follower get NOT_LEADER_OR_FOLLOWER, "
          "a newer leader epoch UNKNOWN_LEADER_EPOCH; a v15 fetch naming a broker epoch older "
          "than the follower's registration NOT_LEADER_OR_FOLLOWER (KIP-903), none (-1) is served")


def check_follower_down(nodes):
    """kill -9 of a follower of partition 0, writes held, restart, catch-up."""
    leader, pm = leader_of(nodes, 0)
    victim = next(n for n in nodes if n.node_id != leader.node_id)
    hw_before = fetch_v11(leader.port, -1, 0, 0)[1]
    victim.kill()
    acked, failed = [], []
    prod = producer([n for n in nodes if n is not victim])
    extra = 50
    for i in range(extra):
        prod.produce(TOPIC, value=b"late%d" % i, partition=0,
                     on_delivery=lambda err, msg: (failed if err else acked).append(msg))
    # The producer may first need a producer id and metadata from the two
    # live nodes (the killed one may have been the active controller): the
    # records are on the leader once a follower's fetch past the high
    # watermark reads them all.
    live = next(i for i in pm["replicas"] if i not in (leader.node_id, victim.node_id))

    def appended():
        prod.poll(0.1)
        err, _, ahead = fetch_v11(leader.port, live, 0, hw_before)
        return err == NONE and wire.record_count(ahead) == extra
    assert wait_for(appended, TIMEOUT), "the leader did not get the %d records" % extra
    end = time.monotonic() + HELD_S
    while time.monotonic() < end:
        prod.poll(0.2)
    assert not acked and not failed, "acks=all answered with a follower of the ISR down: %d/%d" % (
        len(acked), len(failed))
    err, hw, got = fetch_v11(leader.port, -1, 0, hw_before)
    assert err == NONE and hw == hw_before and not got, (err, hw, hw_before, len(got))
    print("follower %d killed: %d acks=all records to partition 0 held for %d s; a consumer's "
          "fetch stops at the high watermark %d, a follower's reads the %d records past it"
          % (victim.node_id, extra, HELD_S, hw_before, extra))
    victim.start(timeout=TIMEOUT)
    assert prod.flush(TIMEOUT) == 0, "records still unacknowledged after the follower's restart"
    assert len(acked) == extra and not failed, (len(acked), failed[:3])
    want = wire.record_count(log_bytes(leader, 0))
    data = wait_for(lambda: logs_alike(nodes, 0, want), TIMEOUT)
    assert data, "partition 0 after the restart: %r" % [len(log_bytes(n, 0)) for n in nodes]
    print("follower %d restarted: caught up byte for byte (%d records), the %d held records "
          "acknowledged" % (victim.node_id, want, extra))


IDLE_TOPIC, IDLE_PARTITIONS, IDLE_WINDOW_S = "idle", 300, 3


def bytes_sent_to(ports):
    """Bytes each established loopback connection to one of ports has sent
    (Linux's tcp_info bytes_sent), by (local, remote) address."""
    out = subprocess.run(["ss", "-tinH", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    sent, conn = {}, None
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            f = line.split()
            conn = (f[-2], f[-1]) if int(f[-1].rsplit(":", 1)[1]) in ports else None
            continue
        m = re.search(r"bytes_sent:(\d+)", line)
        if conn and m:
            sent[conn] = int(m.group(1))
    return sent


def all_listed(nodes, via):
    """Whether via's Metadata lists every node as a broker (a restarted
    node takes clients once its registration is back)."""
    try:
        md = wire.metadata(via.port, topics=[], version=12, timeout=TIMEOUT)
        return {b["node_id"] for b in md["brokers"]} == {n.node_id for n in nodes}
    except (OSError, wire.Closed, wire.DecodeError):
        return False


def check_idle_sessions(nodes):
    assert wait_for(lambda: all(all_listed(nodes, n) for n in nodes), TIMEOUT), \
        "not every node serves clients and lists the three brokers"
    leader = nodes[0]
    err, msg = wire.create_topic(leader.port, IDLE_TOPIC, partitions=IDLE_PARTITIONS,
                                 replication_factor=3, timeout=TIMEOUT)
    assert err == NONE, (err, msg)

    def in_sync():
        try:
            ps = partitions(leader, IDLE_TOPIC)
        except (OSError, wire.Closed, wire.DecodeError):
            return False
        return len(ps) == IDLE_PARTITIONS and all(len(p["isr"]) == 3 for p in ps)
    assert wait_for(in_sync, TIMEOUT), "the idle topic's replicas did not all join the ISR"
    ports = {n.port for n in nodes}
    # One partition takes at least 30 bytes in a Fetch v13+ round (topic id,
    # partition, offsets, epochs, sizes).
    bound = 100 * 30
    windows = []

    def quiet_window():
        """A window in which no connection sent a round's worth: partitions
        still opening (in turns) and followers' first rounds name theirs
        once, so windows are taken until one is quiet."""
        before = bytes_sent_to(ports)
        time.sleep(IDLE_WINDOW_S)
        after = bytes_sent_to(ports)
        deltas = {c: after[c] - before[c] for c in after if c in before}
        windows.append(sorted(deltas.values()))
        return deltas and any(d > 0 for d in deltas.values()) and \
            all(d < bound for d in deltas.values())
    assert wait_for(quiet_window, TIMEOUT), \
        "idle rounds kept naming partitions: bytes sent per connection in each %d s " \
        "window (bound %d): %r" % (IDLE_WINDOW_S, bound, windows)
    print("%d idle partitions in sync: followers sent %s bytes in %d s over %d connections "
          "(%d window(s))" % (IDLE_PARTITIONS, windows[-1], IDLE_WINDOW_S, len(windows[-1]),
                              len(windows)))


def run(skein):
    make = functools.partial(Controller, combined=True)
    with cluster(skein, "skein-repl-", make) as (nodes, cluster_id, v):
        ids = [n.node_id for n in nodes]
        leader = next(n for n in nodes if n.node_id == v["leader"])

        assert wait_for(lambda: all_listed(nodes, leader), TIMEOUT), \
            "the three brokers are not all unfenced"
        err, msg = wire.create_topic(leader.port, TOPIC, partitions=PARTITIONS,
                                     configs={"min.insync.replicas": "2"},
                                     replication_factor=3, timeout=TIMEOUT)
        assert err == NONE, (err, msg)
        check_placement(nodes, ids)
        check_hosting(nodes)
        err, msg = wire.create_topic(leader.port, "r4", partitions=1, replication_factor=4,
                                     timeout=TIMEOUT)
        want = ("Unable to replicate the partition 4 time(s): The target replication factor "
                "of 4 cannot be reached because only 3 broker(s) are registered.")
        assert err == INVALID_REPLICATION_FACTOR and msg == want, (err, msg)
        print("replication factor 4 on 3 brokers: INVALID_REPLICATION_FACTOR, %r" % msg)
        try:
            check_clients(nodes)
            check_logs_alike(nodes)
            check_hw_checkpoints(nodes)
            check_follower_fetch_errors(nodes)
            check_follower_down(nodes)
            check_follower_starts_afresh(nodes)
            check_idle_sessions(nodes)
        except (AssertionError, OSError):
            for n in nodes:
                print("--- node %d:\n%s" % (n.node_id, n.tail(60)))
            raise


def delete_records(port, partition, offset):
    """DeleteRecords v1 by hand: (error, low watermark)."""
    body = struct.pack(">i", 1) + wire.string(TOPIC) + struct.pack(">iiq", 1, partition, offset)
    body += struct.pack(">i", int(TIMEOUT * 1000))
    c = wire.Conn(port)
    try:
        c.send(wire.frame(wire.header(21, 1, 9) + body))
        corr, resp = c.recv_frame(timeout=TIMEOUT)
    finally:
        c.close()
    assert corr == 9, corr
    r = wire.Reader(resp)
    r.take(4)
    assert struct.unpack(">i", r.take(4))[0] == 1
    r.take(struct.unpack(">h", r.take(2))[0])
    assert struct.unpack(">i", r.take(4))[0] == 1
    _, low, err = struct.unpack(">iqh", r.take(14))
    return err, low


def check_follower_starts_afresh(nodes):
    """A follower that lost its log while the leader's start moved past
    offset 0 is answered OFFSET_OUT_OF_RANGE, asks the leader's log end and
    start, and starts its log afresh at the leader's start."""
    leader, _ = leader_of(nodes, 0)
    victim = next(n for n in nodes if n.node_id != leader.node_id)
    _, hw, _ = fetch_v11(leader.port, -1, 0, 0)
    err, low = delete_records(leader.port, 0, hw)
    assert err == NONE and low == hw, (err, low, hw)
    victim.kill()
    shutil.rmtree(os.path.join(victim.data_dir, "logs", "%s-0" % TOPIC))
    victim.start(timeout=TIMEOUT)
    prod, failed, more = producer(nodes), [], 20
    for i in range(more):
        prod.produce(TOPIC, value=b"after%d" % i, partition=0,
                     on_delivery=lambda err, msg: err and failed.append(err))
    assert prod.flush(TIMEOUT) == 0 and not failed, "records after the restart: %r" % failed[:3]

    def restarted_at_start():
        ours = log_bytes(victim, 0)
        theirs = batches_from(log_bytes(leader, 0), hw)
        return ours and ours == theirs and wire.record_count(ours) == more
    assert wait_for(restarted_at_start, TIMEOUT), \
        "follower %d with an empty log: %d bytes, the leader's from %d: %d" % (
            victim.node_id, len(log_bytes(victim, 0)), hw,
            len(batches_from(log_bytes(leader, 0), hw)))
    first = os.path.basename(sorted(glob.glob(os.path.join(victim.data_dir, "logs",
                                                           "%s-0" % TOPIC, "*.log")))[0])
    assert first == "%020d.log" % hw, "the follower's first segment is %s" % first
    print("follower %d restarted without its log, the leader's starting at %d: it started "
          "afresh there (%s) and holds the leader's batches from it byte for byte"
          % (victim.node_id, hw, first))


def main():
    run(sys.argv[1])
    print("replication: OK")


if __name__ == "__main__":
    main()
