#!/usr/bin/python3
"""Replica placement and hosting on a three-node KRaft cluster (combined
nodes, as in quorum_test.py): what replication has so far, before any
follower fetches.

- CreateTopics with replication factor 3 on the active controller: every
  node's Metadata gives each partition three distinct replicas, all in the
  ISR, the first one leading, leaders spread over the three brokers;
- every node opens the log of each partition it is a replica of, leader
  or follower (its directory is in the node's log dir);
- replication factor 4 on three brokers gets INVALID_REPLICATION_FACTOR with
  Kafka's message;
- librdkafka produces with acks=all to the leaders and a consumer group
  reads every record back.

Not yet here (no replica fetcher): followers' logs holding the records, a
leader's kill -9 with a new leader from the ISR, and NOT_ENOUGH_REPLICAS
with two brokers down.

usage: replication_test.py SKEIN_BIN"""
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import cluster, TIMEOUT, Controller  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

NONE, INVALID_REPLICATION_FACTOR = 0, 38
TOPIC, PARTITIONS, RECORDS = "r3", 3, 300


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


def check_clients(nodes):
    from confluent_kafka import Consumer, Producer
    bootstrap = ",".join("127.0.0.1:%d" % n.port for n in nodes)
    failed = []
    prod = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
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
    print("librdkafka: %d records produced with acks=all to the leaders, all read back by a "
          "consumer group" % RECORDS)


def run(skein):
    make = functools.partial(Controller, combined=True)
    with cluster(skein, "skein-repl-", make) as (nodes, cluster_id, v):
        ids = [n.node_id for n in nodes]
        leader = next(n for n in nodes if n.node_id == v["leader"])

        def all_listed():
            try:
                md = wire.metadata(leader.port, topics=[], version=12, timeout=TIMEOUT)
                return {b["node_id"] for b in md["brokers"]} == set(ids)
            except (OSError, wire.Closed, wire.DecodeError):
                return False
        assert wait_for(all_listed, TIMEOUT), "the three brokers are not all unfenced"
        err, msg = wire.create_topic(leader.port, TOPIC, partitions=PARTITIONS,
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
        except AssertionError:
            for n in nodes:
                print("--- node %d:\n%s" % (n.node_id, n.tail(60)))
            raise


def main():
    run(sys.argv[1])
    print("replication: OK")


if __name__ == "__main__":
    main()
