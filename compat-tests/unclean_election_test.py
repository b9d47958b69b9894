#!/usr/bin/python3
"""A sole controller and an unclean leader election end to end, as Kafka
3.9 does them: one process.roles=controller node whose static
controller.quorum.voters names only itself (its quorum of one runs on the
wire, so brokers can follow it) and brokers 2-4, which register with it and
forward CreateTopics to it; a topic of replication factor 3 with
unclean.leader.election.enable=true and min.insync.replicas=1.

- librdkafka writes records with acks=all; one follower is killed -9 and
  the ISR shrinks without it (replica.lag.time.max.ms); more records; the
  other follower is killed and the ISR is the leader alone; more records;
  then the leader is killed.
- The first follower comes back: out of the ISR, behind, but live, it is
  elected leader uncleanly (ISR = itself), and the controller's metadata
  log shows the change as Kafka's writes it: LeaderRecoveryState RECOVERING
  (KIP-704), then, once the new leader told it so through AlterPartition,
  a change to RECOVERED.
- It takes writes again. The other two come back, truncate the records
  only they had (their logs diverged at the unclean election) and rejoin
  the ISR; every replica's segments then hold the same batches, and a
  consumer reads the records written before the first kill and after the
  election: the records acknowledged in between are lost, which is what an
  unclean election trades for availability; the test counts them.
- Last, the controller is killed -9 and restarted: it leads its quorum of
  one again with every topic, and a creation through a broker commits and
  reaches every broker.

usage: unclean_election_test.py SKEIN_BIN"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import Controller, stop_all  # noqa: E402
from skeinlib import kraft, metalog, wire  # noqa: E402
from skeinlib.broker import free_port  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402
from split_roles_test import BrokerNode, brokers_listed  # noqa: E402

TIMEOUT = 60  # generous: the machine may be loaded
SESSION_MS, LAG_MS = 3000, 2000
TOPIC = "unclean"
RECOVERING, RECOVERED = 1, 0


class FastController(Controller):
    def argv(self):
        return super().argv() + ["--override", "broker.session.timeout.ms=%d" % SESSION_MS]


class FastBroker(BrokerNode):
    def argv(self):
        return super().argv() + ["--override", "broker.heartbeat.interval.ms=500",
                                 "--override", "replica.lag.time.max.ms=%d" % LAG_MS,
                                 "--override", "broker.session.timeout.ms=%d" % SESSION_MS]


def partition(node):
    """Partition 0 of the topic in node's Metadata, None if it does not
    answer or does not know it."""
    try:
        md = wire.metadata(node.port, topics=[TOPIC], version=9, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    t = md["topics"][0]
    return None if t["error"] or not t["partitions"] else t["partitions"][0]


def isr_is(node, members):
    p = partition(node)
    return p if p and sorted(p["isr"]) == sorted(members) else None


def produce(brokers, prefix, n=50):
    from confluent_kafka import Producer
    bootstrap = ",".join("127.0.0.1:%d" % b.port for b in brokers)
    failed = []
    prod = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                     "message.timeout.ms": TIMEOUT * 1000, "enable.idempotence": False})
    for i in range(n):
        prod.produce(TOPIC, value=b"%s%d" % (prefix, i),
                     on_delivery=lambda err, msg: err and failed.append(err))
    assert prod.flush(TIMEOUT) == 0, "%s: records still unacknowledged" % prefix
    assert not failed, failed[:5]
    return ["%s%d" % (prefix.decode(), i) for i in range(n)]


def consume(node, want):
    from confluent_kafka import Consumer, TopicPartition
    cons = Consumer({"bootstrap.servers": "127.0.0.1:%d" % node.port, "group.id": "unclean-check",
                     "enable.auto.commit": False})
    cons.assign([TopicPartition(TOPIC, 0, 0)])
    got, deadline = [], time.monotonic() + TIMEOUT
    while len(got) < want and time.monotonic() < deadline:
        m = cons.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    cons.close()
    return got


def batches(skein, node):
    """The topic's batches on node's disk (base and last offsets, CRC), as
    skein-dump-log prints them."""
    dump = os.path.join(os.path.dirname(os.path.dirname(skein)), "tools", "skein-dump-log")
    d = os.path.join(node.data_dir, "logs", TOPIC + "-0")
    segs = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".log"))
    out = subprocess.run([dump] + segs, capture_output=True, text=True, check=True).stdout
    keep = []
    for line in out.splitlines():
        f = line.split()
        if "baseOffset:" in f:
            keep.append((f[f.index("baseOffset:") + 1], f[f.index("lastOffset:") + 1],
                         f[f.index("crc:") + 1]))
    return keep


def topics(node):
    try:
        md = wire.metadata(node.port, version=9, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    return {t["name"] for t in md["topics"] if t["error"] == 0}


def controller_restart(ctl, nodes):
    """kill -9 of the sole controller and a restart: its log holds every
    change; a creation through a broker (forwarded) commits again."""
    before = topics(nodes[0])
    ctl.kill()
    ctl.start(timeout=TIMEOUT)
    err = None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            err, _ = wire.create_topic(nodes[1].port, "after-restart", timeout=TIMEOUT)
        except (OSError, wire.Closed, wire.DecodeError):
            err = None
        if err == 0:
            break
        time.sleep(0.1)
    assert err == 0, "CreateTopics after the controller's restart: %r" % err
    want = before | {"after-restart"}
    assert wait_for(lambda: all(topics(b) == want for b in nodes), TIMEOUT), \
        {b.node_id: topics(b) for b in nodes}
    print("controller 1 killed -9 and restarted: every broker lists the %d topics, one "
          "created through broker %d after the restart" % (len(want), nodes[1].node_id))


def recovery_states(ctl, topic_id):
    return [(c["leader"], c["leader_recovery_state"])
            for c in metalog.partition_changes(os.path.join(ctl.data_dir, "logs",
                                                            "__cluster_metadata-0"), topic_id)
            if c["leader_recovery_state"] != -1]


def scenario(skein, ctl, nodes):
    by_id = {b.node_id: b for b in nodes}
    err, msg = wire.create_topic(nodes[0].port, TOPIC, partitions=1, replication_factor=3,
                                 configs={"unclean.leader.election.enable": "true",
                                          "min.insync.replicas": "1"}, timeout=TIMEOUT)
    assert err == 0, "CreateTopics: %r %r" % (err, msg)
    p = wait_for(lambda: isr_is(nodes[0], [2, 3, 4]), TIMEOUT)
    assert p, partition(nodes[0])
    leader = by_id[p["leader"]]
    first, second = [b for b in nodes if b is not leader]
    kept = produce(nodes, b"a")

    first.kill()
    assert wait_for(lambda: isr_is(leader, [leader.node_id, second.node_id]), TIMEOUT), \
        partition(leader)
    lost = produce([leader, second], b"b")
    second.kill()
    assert wait_for(lambda: isr_is(leader, [leader.node_id]), TIMEOUT), partition(leader)
    lost += produce([leader], b"c")
    leader.kill()

    first.start(timeout=TIMEOUT)
    assert first.wait_serving(TIMEOUT), first.tail()
    p = wait_for(lambda: (lambda q: q if q and q["leader"] == first.node_id else None)(
        partition(first)), TIMEOUT)
    assert p and p["isr"] == [first.node_id], "no unclean election: %r" % partition(first)
    topic_id = wire.metadata(first.port, topics=[TOPIC], version=12,
                             timeout=TIMEOUT)["topics"][0]["topic_id"]
    states = wait_for(lambda: (lambda s: s if (first.node_id, RECOVERING) in s and
                               s[-1][1] == RECOVERED else None)(recovery_states(ctl, topic_id)),
                      TIMEOUT)
    assert states, "leader recovery states in the metadata log: %r\n%s\n%s" % (
        recovery_states(ctl, topic_id), first.tail(40), ctl.tail(20))
    kept += produce([first], b"d")

    for b in (second, leader):
        b.start(timeout=TIMEOUT)
    assert wait_for(lambda: isr_is(first, [2, 3, 4]), TIMEOUT), partition(first)
    got = consume(first, len(kept))
    assert got == kept, "read back %d records, first %r, wanted %d" % (len(got), got[:3],
                                                                       len(kept))
    want = batches(skein, first)
    assert wait_for(lambda: all(batches(skein, b) == want for b in (second, leader)), TIMEOUT), \
        {b.node_id: batches(skein, b) for b in nodes}
    print("leader %d, then followers %d and %d killed; %d came back and was elected uncleanly "
          "(metadata log: LeaderRecoveryState RECOVERING, then RECOVERED after its "
          "AlterPartition); %d and %d rejoined the ISR with the same %d batches; %d records "
          "read back, %d acknowledged ones lost to the unclean election"
          % (leader.node_id, first.node_id, second.node_id, first.node_id, second.node_id,
             leader.node_id, len(want), len(got), len(lost)))


def main():
    skein = sys.argv[1]
    root = tempfile.mkdtemp(prefix="skein-unclean-")
    ports = {1: free_port()}
    voters = "1@127.0.0.1:%d" % ports[1]
    ctl = FastController(skein, root, 1, voters, ports)
    nodes = [FastBroker(skein, root, i, voters, {i: None}) for i in (2, 3, 4)]
    cluster_id = kraft.random_uuid(skein)
    try:
        for n in [ctl] + nodes:
            kraft.format_storage(skein, n, cluster_id)
            n.start(timeout=TIMEOUT)
        for b in nodes:
            assert b.wait_serving(TIMEOUT), b.tail()
            assert wait_for(lambda: brokers_listed(b) == [2, 3, 4], TIMEOUT), brokers_listed(b)
        scenario(skein, ctl, nodes)
        controller_restart(ctl, nodes)
        stop_all(nodes)
        stop_all([ctl])
    finally:
        for n in [ctl] + nodes:
            n.kill()
        shutil.rmtree(root, ignore_errors=True)
    print("unclean election: OK")


if __name__ == "__main__":
    main()
