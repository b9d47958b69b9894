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

usage: group_restart_test.py SKEIN_BIN"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_registration_test import find_coordinator  # noqa: E402
from forward_test import registered  # noqa: E402
from quorum_test import cluster, TIMEOUT, Controller  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: E402

GROUP = "restart-group"
TOPIC = "restart-topic"
PARTITIONS = 3


def make(skein, root, i, voters, ports):
    return Controller(skein, root, i, voters, ports, combined=True)


def consumer(bootstrap):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                     "enable.auto.commit": False, "session.timeout.ms": 6000})


def committed(bootstrap):
    """The group's committed offsets, or None while the coordinator cannot
    answer (a restarted node still loading, not yet registered)."""
    c = consumer(bootstrap)
    try:
        tps = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in tps if not tp.error}
    except KafkaException:
        return None
    finally:
        c.close()


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
    print("group-restart: OK")


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
