#!/usr/bin/python3
"""Follower fetching (KIP-392) on a three-node KRaft cluster (combined
nodes, as in replication_test.py), each broker in its own rack
(broker.rack) with replica.selector.class set to Kafka's
RackAwareReplicaSelector:

- a topic of replication factor 3 gets records with acks=all;
- hand-encoded Fetch v11 to the leader from a consumer in a follower's
  rack is answered with that follower as the preferred read replica and no
  records; from the leader's own rack, from an unknown rack and with no
  rack, with the records and no preferred replica;
- the follower serves a consumer's Fetch v11 below the high watermark it
  learned from its leader, OFFSET_OUT_OF_RANGE past its log end, and a
  Fetch v10 (no client metadata: leader only, as in Kafka) gets
  NOT_LEADER_OR_FOLLOWER;
- a librdkafka consumer with client.rack of a follower's rack reads every
  record, and its statistics show the partition fetched from that follower;
  records produced while it runs reach it from there too;
- a node started with an unknown replica.selector.class is refused with
  the accepted values.

usage: follower_fetch_test.py SKEIN_BIN"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import cluster, create_everywhere, TIMEOUT, Controller  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

NONE, OFFSET_OUT_OF_RANGE, NOT_LEADER_OR_FOLLOWER = 0, 1, 6
TOPIC, RECORDS, LATE = "ff", 400, 100
RACK_AWARE = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


def rack(node_id):
    return "rack-%d" % node_id


class Node(Controller):
    """A combined node in a rack of its own, its leaders rack-aware."""

    def argv(self):
        return super().argv() + ["--override", "broker.rack=" + rack(self.node_id),
                                 "--override", "replica.selector.class=" + RACK_AWARE]


def create(nodes):
    return create_everywhere(nodes, TOPIC, 1, 3, {"min.insync.replicas": "2"})[0]


def produce(nodes, n, start=0):
    from confluent_kafka import Producer
    prod = Producer({"bootstrap.servers": ",".join(x.bootstrap for x in nodes), "acks": "all",
                     "enable.idempotence": True, "linger.ms": 5})
    failed = []
    for i in range(start, start + n):
        prod.produce(TOPIC, value=b"v%06d" % i, partition=0,
                     on_delivery=lambda err, _: err and failed.append(err))
        prod.poll(0)
    assert prod.flush(TIMEOUT * 2) == 0 and not failed, failed[:3]


def fetch(node, offset=0, **kw):
    return wire.fetch_v11(node.port, TOPIC, 0, offset, timeout=TIMEOUT, **kw)


def check_leader_points(leader, followers):
    for f in followers:
        r = fetch(leader, rack=rack(f.node_id))
        assert r["error"] == NONE and r["preferred"] == f.node_id and not r["records"], \
            "a consumer in %s: %r" % (rack(f.node_id), {k: r[k] for k in ("error", "preferred")})
        assert r["hw"] == RECORDS, r["hw"]
    for label, rk in (("the leader's rack", rack(leader.node_id)), ("an unknown rack", "rack-9"),
                      ("no rack", "")):
        r = fetch(leader, rack=rk)
        assert r["error"] == NONE and r["preferred"] == -1, (label, r["error"], r["preferred"])
        assert wire.record_count(r["records"]) == RECORDS, (label, wire.record_count(r["records"]))
    print("leader %d: a consumer in a follower's rack is pointed at that follower (no records); "
          "in its own rack, an unknown one or none it reads from the leader" % leader.node_id)


def check_follower_serves(follower):
    # The follower's high watermark comes with its next fetch answer.
    r = wait_for(lambda: (lambda x: x if x["hw"] == RECORDS else None)(fetch(follower)), TIMEOUT)
    assert r, "follower %d never learned the high watermark %d: %r" % (
        follower.node_id, RECORDS, fetch(follower)["hw"])
    assert r["error"] == NONE and wire.record_count(r["records"]) == RECORDS, \
        (r["error"], wire.record_count(r["records"]))
    r = fetch(follower, offset=RECORDS + 1000)
    assert r["error"] == OFFSET_OUT_OF_RANGE, "past the log end: %d" % r["error"]
    r = fetch(follower, version=10)
    assert r["error"] == NOT_LEADER_OR_FOLLOWER, "Fetch v10 to a follower: %d" % r["error"]
    print("follower %d: Fetch v11 reads the %d records below its high watermark, "
          "OFFSET_OUT_OF_RANGE past its log end; Fetch v10 NOT_LEADER_OR_FOLLOWER"
          % (follower.node_id, RECORDS))


class Stats:
    """librdkafka's statistics: which broker each partition is fetched from."""

    def __init__(self):
        self.last = None

    def __call__(self, text):
        self.last = json.loads(text)

    def fetched_from(self):
        if not self.last:
            return None
        for b in self.last.get("brokers", {}).values():
            if "%s-0" % TOPIC in b.get("toppars", {}) and b.get("nodeid", -1) >= 0:
                return b["nodeid"], b.get("rxbytes", 0)
        return None


def check_client(nodes, follower):
    from confluent_kafka import Consumer
    stats = Stats()
    cons = Consumer({"bootstrap.servers": ",".join(n.bootstrap for n in nodes),
                     "group.id": "ff-rack", "auto.offset.reset": "earliest",
                     "client.rack": rack(follower.node_id), "statistics.interval.ms": 200,
                     "stats_cb": stats, "enable.auto.commit": False})
    got = []
    try:
        cons.subscribe([TOPIC])
        deadline = time.monotonic() + TIMEOUT * 2
        while len(got) < RECORDS and time.monotonic() < deadline:
            m = cons.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value())
        assert got == [b"v%06d" % i for i in range(RECORDS)], "read %d of %d" % (len(got), RECORDS)
        def from_follower():
            cons.poll(0.2)  # statistics come through poll
            w = stats.fetched_from()
            return w if w and w[0] == follower.node_id else None
        where = wait_for(from_follower, TIMEOUT)
        assert where, "librdkafka fetches %s-0 from %r, not follower %d" % (
            TOPIC, stats.fetched_from(), follower.node_id)
        produce(nodes, LATE, start=RECORDS)
        deadline = time.monotonic() + TIMEOUT * 2
        while len(got) < RECORDS + LATE and time.monotonic() < deadline:
            m = cons.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value())
        assert got == [b"v%06d" % i for i in range(RECORDS + LATE)], \
            "read %d of %d" % (len(got), RECORDS + LATE)
        assert stats.fetched_from()[0] == follower.node_id, stats.fetched_from()
    finally:
        cons.close()
    print("librdkafka with client.rack=%s read all %d records from follower %d, %d of them "
          "produced while it read" % (rack(follower.node_id), RECORDS + LATE, follower.node_id,
                                      LATE))


def check_bad_selector(skein):
    p = subprocess.run([skein, "--override", "replica.selector.class=com.example.Nearest",
                        "--override", "log.dirs=/nonexistent/never-used"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode != 0 and "replica.selector.class" in p.stderr and \
        "RackAwareReplicaSelector" in p.stderr, (p.returncode, p.stderr)
    print("an unknown replica.selector.class is refused: %s" % p.stderr.strip().splitlines()[-1])


def run(skein):
    check_bad_selector(skein)
    with cluster(skein, "skein-ff-", lambda *a: Node(*a, combined=True)) as (nodes, _, v):
        pm = create(nodes)
        produce(nodes, RECORDS)
        leader = next(n for n in nodes if n.node_id == pm["leader"])
        followers = [n for n in nodes if n is not leader]
        check_leader_points(leader, followers)
        check_follower_serves(followers[0])
        check_client(nodes, followers[1])


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    run(sys.argv[1])
    print("follower fetching: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
