#!/usr/bin/python3
"""Replication throttles (KIP-73) on a three-node KRaft cluster (combined
nodes), set as a reassignment tool's --throttle sets them: broker configs
leader.replication.throttled.rate / follower.replication.throttled.rate
and topic configs leader.replication.throttled.replicas /
follower.replication.throttled.replicas (confluent-kafka's AdminClient,
AlterConfigs), then partitions moved with kafkajs's
AlterPartitionReassignments.

- A topic of three partitions, one replica each, each holding DATA bytes.
- Partition 0's leader throttles what it sends for it (the leader list
  names 0:leader, the leader's rate is RATE); partition 1's new replica
  throttles what it fetches (the follower list names 1:new replica, that
  broker's follower rate is RATE); partition 2 is not throttled.
- All three gain a second replica at once: the throttled two take at least
  a third of DATA / RATE to join the ISR (what a throttle at RATE allows,
  with room for the burst the rate's windows let through); the
  unthrottled one is timed beside them.
- Throttles removed (AlterConfigs without them), partitions 0 and 1 move
  again, timed.

The nodes measure replication over replication.quota.window.num=2 windows
of 1 s, and followers fetch at most FETCH_BYTES per partition, so the
throttle acts in small steps and the burst is about a second's worth.

usage: throttle_test.py SKEIN_BIN"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import cluster, create_everywhere, partitions_of, TIMEOUT, Controller  # noqa: E402
from reassign_test import kafkajs  # noqa: E402

TOPIC = "thr"
RATE = 250_000          # bytes/s
DATA = 3 * 1024 * 1024  # bytes per partition
VALUE = 4096
FETCH_BYTES = 65536


class Node(Controller):
    def __init__(self, skein, root, node_id, voters, ports):
        super().__init__(skein, root, node_id, voters, ports, combined=True)

    def argv(self):
        return super().argv() + ["--override", "replication.quota.window.num=2",
                                 "--override", "replication.quota.window.size.seconds=1",
                                 "--override", "replica.fetch.max.bytes=%d" % FETCH_BYTES]


def alter_configs(nodes, resources):
    """AlterConfigs through confluent-kafka's AdminClient, which sends a
    broker's resource to that broker, as Kafka requires (one per call)."""
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
    for r in resources:
        fs = admin.alter_configs([ConfigResource(r["type"], r["name"],
                                                 set_config=r["entries"])],
                                 request_timeout=TIMEOUT)
        for f in fs.values():
            f.result(timeout=TIMEOUT)


def move(node, partition, replicas):
    r = kafkajs("alter", node.bootstrap, TOPIC, str(partition), ",".join(map(str, replicas)))
    assert "ok" in r, r


def fill(nodes, partitions):
    from confluent_kafka import Producer
    prod = Producer({"bootstrap.servers": ",".join(n.bootstrap for n in nodes), "acks": "all",
                     "linger.ms": 20, "queue.buffering.max.kbytes": 65536})
    failed = []
    value = b"x" * VALUE
    for _ in range(DATA // VALUE):
        for p in partitions:
            while True:
                try:
                    prod.produce(TOPIC, value=value, partition=p,
                                 on_delivery=lambda err, _: err and failed.append(err))
                    break
                except BufferError:
                    prod.poll(0.1)
        prod.poll(0)
    assert prod.flush(TIMEOUT * 2) == 0 and not failed, failed[:3]


def joined(nodes, partition, replica):
    ps = partitions_of(nodes[0], TOPIC)
    return bool(ps) and replica in ps[partition]["isr"]


def time_moves(nodes, moves):
    """moves: {partition: (old replica, new replica)}; all started at once.
    Returns {partition: seconds until the new replica was in the ISR}."""
    start = time.monotonic()
    for p, (old, new) in moves.items():
        move(nodes[0], p, [old, new])
    took = {}
    deadline = start + TIMEOUT * 3
    while len(took) < len(moves) and time.monotonic() < deadline:
        for p, (_, new) in moves.items():
            if p not in took and joined(nodes, p, new):
                took[p] = time.monotonic() - start
        time.sleep(0.1)
    assert len(took) == len(moves), "moves not done in %d s: %r, %r" % (
        TIMEOUT * 3, took, partitions_of(nodes[0], TOPIC))
    return took


def run(skein):
    with cluster(skein, "skein-throttle-", Node) as (nodes, _, _):
        ids = [n.node_id for n in nodes]
        placed = create_everywhere(nodes, TOPIC, 3, 1)
        lead = {p["partition"]: p["leader"] for p in placed}
        fill(nodes, [0, 1, 2])
        new = {p: ids[(ids.index(lead[p]) + 1) % len(ids)] for p in lead}
        alter_configs(nodes, [
            {"type": "TOPIC", "name": TOPIC, "entries": {
                "leader.replication.throttled.replicas": "0:%d" % lead[0],
                "follower.replication.throttled.replicas": "1:%d" % new[1]}},
            {"type": "BROKER", "name": str(lead[0]),
             "entries": {"leader.replication.throttled.rate": str(RATE)}},
            {"type": "BROKER", "name": str(new[1]),
             "entries": {"follower.replication.throttled.rate": str(RATE)}}])
        took = time_moves(nodes, {p: (lead[p], new[p]) for p in (0, 1, 2)})
        bound = DATA / RATE / 3
        print("%d KiB per partition, throttle %d B/s: leader-throttled partition 0 caught up in "
              "%.1f s, follower-throttled partition 1 in %.1f s, unthrottled partition 2 in "
              "%.1f s (a throttled one may not take under %.1f s)" % (
                  DATA // 1024, RATE, took[0], took[1], took[2], bound))
        assert took[0] >= bound, "the leader's throttle did not hold partition 0 back: %r" % took
        assert took[1] >= bound, "the follower's throttle did not hold partition 1 back: %r" % took

        # Throttles lifted, as a tool's --verify does once the move is over:
        # the next move is not held back (timed, not asserted: a loaded
        # machine may be slow without a throttle).
        alter_configs(nodes, [
            {"type": "TOPIC", "name": TOPIC, "entries": {}},
            {"type": "BROKER", "name": str(lead[0]), "entries": {}},
            {"type": "BROKER", "name": str(new[1]), "entries": {}}])
        third = {p: next(i for i in ids if i not in (lead[p], new[p])) for p in (0, 1)}
        again = time_moves(nodes, {p: (lead[p], third[p]) for p in (0, 1)})
        print("throttles removed: partitions 0 and 1 copied to a third broker in %.1f s and "
              "%.1f s" % (again[0], again[1]))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    run(sys.argv[1])
    print("replication throttles: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
