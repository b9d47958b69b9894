#!/usr/bin/python3
"""Admin requests forwarded to the active controller (KIP-590's Envelope)
and producer ids from it (AllocateProducerIds), on three combined nodes
formatted with one cluster id (quorum_test.cluster):

- CreateTopics, IncrementalAlterConfigs, CreatePartitions, DeleteTopics and
  AlterClientQuotas,
  hand-encoded and sent to a node that is NOT the active controller,
  succeed and are committed on every node (Metadata, DescribeConfigs);
- a Metadata request that auto-creates a topic, sent to a non-controller
  node, creates it through the active controller;
- confluent-kafka's AdminClient bootstrapped at a non-controller node only
  creates and deletes topics;
- kill -9 of the active controller while topics keep being created through
  a non-controller node: each creation succeeds (after the node retried on
  the new controller) or times out (REQUEST_TIMED_OUT), and every
  acknowledged topic is on every node afterwards, the killed one included
  once restarted;
- with two of three nodes down, a CreateTopics forwarded by the survivor
  answers REQUEST_TIMED_OUT within its timeout;
- InitProducerId on every node returns ids, those of different nodes from
  different blocks of 1,000, and an idempotent librdkafka producer
  bootstrapped at each node alone produces.

usage: forward_test.py SKEIN_BIN"""
import functools
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import cluster, Controller, settled, views, TIMEOUT  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

NONE, REQUEST_TIMED_OUT, LOAD_IN_PROGRESS, TOPIC_EXISTS = 0, 7, 14, 36
INVALID_REQUEST = 42
NO_MAJORITY_TIMEOUT_MS = 3000


def call(port, api, version, body, corr=11):
    c = wire.Conn(port, timeout=TIMEOUT)
    try:
        c.send(wire.frame(wire.header(api, version, corr) + body))
        got, resp = c.recv_frame(TIMEOUT)
        assert got == corr, "correlation id %d, expected %d" % (got, corr)
        return wire.Reader(resp)
    finally:
        c.close()


def create_topic(port, name, partitions=1, timeout_ms=15000):
    """CreateTopics v2 for one topic: its error code."""
    body = (struct.pack(">i", 1) + wire.string(name) + struct.pack(">ihii", partitions, 1, 0, 0)
            + struct.pack(">ib", timeout_ms, 0))
    r = call(port, 19, 2, body)
    r.i32()
    assert r.i32() == 1
    assert r.string() == name
    return r.i16()


def create_partitions(port, name, count):
    """CreatePartitions v0: the topic's error code."""
    body = (struct.pack(">i", 1) + wire.string(name) + struct.pack(">ii", count, -1)
            + struct.pack(">ib", 15000, 0))
    r = call(port, 37, 0, body)
    r.i32()
    assert r.i32() == 1 and r.string() == name
    return r.i16()


def delete_topic(port, name):
    """DeleteTopics v1: the topic's error code."""
    r = call(port, 20, 1, struct.pack(">i", 1) + wire.string(name) + struct.pack(">i", 15000))
    r.i32()
    assert r.i32() == 1 and r.string() == name
    return r.i16()


def alter_configs(port, resources):
    """IncrementalAlterConfigs v0 of [(type, name, key, value)], each a SET:
    [(error code, message)] in the order asked."""
    body = struct.pack(">i", len(resources))
    for rtype, name, key, value in resources:
        body += (struct.pack(">b", rtype) + wire.string(name) + struct.pack(">i", 1)
                 + wire.string(key) + struct.pack(">b", 0) + wire.string(value))
    r = call(port, 44, 0, body + b"\x00")
    r.i32()
    assert r.i32() == len(resources)
    out = []
    for rtype, name, _, _ in resources:
        err, msg = r.i16(), r.string()
        assert r.i8() == rtype and r.string() == name, "answers out of order"
        out.append((err, msg))
    return out


def set_topic_config(port, name, key, value):
    """IncrementalAlterConfigs v0, SET key=value on the topic: its error code."""
    return alter_configs(port, [(2, name, key, value)])[0][0]


def topic_config(port, name, key):
    """DescribeConfigs v0 of one key of the topic: its value."""
    body = (struct.pack(">ib", 1, 2) + wire.string(name) + struct.pack(">i", 1)
            + wire.string(key))
    r = call(port, 32, 0, body)
    r.i32()
    assert r.i32() == 1
    err = r.i16()
    r.string()
    r.i8()
    r.string()
    if err != NONE:
        return None
    found = None
    for _ in range(r.i32()):
        k, v = r.string(), r.string()
        r.i8(), r.i8(), r.i8()
        if k == key:
            found = v
    return found


def alter_client_quota(port, client_id, key, value):
    """AlterClientQuotas v0 setting one quota of one client id: the entry's error code."""
    body = (struct.pack(">i", 1) + struct.pack(">i", 1) + wire.string("client-id")
            + wire.string(client_id) + struct.pack(">i", 1) + wire.string(key)
            + struct.pack(">db", value, 0) + struct.pack(">b", 0))
    r = call(port, 49, 0, body)
    r.i32()
    assert r.i32() == 1
    err = r.i16()
    r.string()
    return err


def client_quotas(port, client_id):
    """DescribeClientQuotas v0 of one client id: {key: value}."""
    body = (struct.pack(">i", 1) + wire.string("client-id") + struct.pack(">b", 0)
            + wire.string(client_id) + struct.pack(">b", 1))
    r = call(port, 48, 0, body)
    r.i32()
    assert r.i16() == NONE
    r.string()
    got = {}
    for _ in range(max(r.i32(), 0)):
        for _ in range(r.i32()):
            r.string(), r.string()
        for _ in range(r.i32()):
            k = r.string()
            got[k] = struct.unpack(">d", r.take(8))[0]
    return got


def init_producer_id(port):
    """InitProducerId v0 without a transactional id: (error, producer id)."""
    r = call(port, 22, 0, struct.pack(">hi", -1, 60000))
    r.i32()
    return r.i16(), r.i64()


def topics(node):
    try:
        md = wire.metadata(node.port, version=9, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    return {t["name"]: len(t["partitions"]) for t in md["topics"] if t["error"] == NONE}


def on_all(nodes, pred):
    """Waits until pred(topics of n) holds on every node."""
    return wait_for(lambda: all((lambda t: t is not None and pred(t))(topics(n))
                                for n in nodes), TIMEOUT)


def leader_of(nodes):
    v = wait_for(lambda: settled([n for n in nodes if n.proc and n.proc.poll() is None]),
                 TIMEOUT)
    assert v, "no settled quorum: %r" % views(nodes)
    return next(n for n in nodes if n.node_id == v["leader"])


def registered(nodes):
    ids = {n.node_id for n in nodes}

    def listed():
        try:
            return all(ids <= {b["node_id"] for b in wire.metadata(
                n.port, topics=[], version=12, timeout=TIMEOUT)["brokers"]} for n in nodes)
        except (OSError, wire.Closed, wire.DecodeError):
            return False
    assert wait_for(listed, TIMEOUT), "not every node lists brokers %r" % sorted(ids)


def check_admin(nodes, other):
    err = create_topic(other.port, "fwd-a", partitions=2)
    assert err == NONE, "CreateTopics through node %d: %d" % (other.node_id, err)
    assert on_all(nodes, lambda t: t.get("fwd-a") == 2), [topics(n) for n in nodes]
    err = set_topic_config(other.port, "fwd-a", "retention.ms", "123456")
    assert err == NONE, "IncrementalAlterConfigs through node %d: %d" % (other.node_id, err)
    assert wait_for(lambda: all(topic_config(n.port, "fwd-a", "retention.ms") == "123456"
                                for n in nodes), TIMEOUT), \
        [topic_config(n.port, "fwd-a", "retention.ms") for n in nodes]
    err = create_partitions(other.port, "fwd-a", 5)
    assert err == NONE, "CreatePartitions through node %d: %d" % (other.node_id, err)
    assert on_all(nodes, lambda t: t.get("fwd-a") == 5), [topics(n) for n in nodes]
    check_preprocessed(nodes, other)
    err = delete_topic(other.port, "fwd-a")
    assert err == NONE, "DeleteTopics through node %d: %d" % (other.node_id, err)
    assert on_all(nodes, lambda t: "fwd-a" not in t), [topics(n) for n in nodes]
    err = alter_client_quota(other.port, "fwd-client", "producer_byte_rate", 4096.0)
    assert err == NONE, "AlterClientQuotas through node %d: %d" % (other.node_id, err)
    assert wait_for(lambda: all(client_quotas(n.port, "fwd-client")
                                == {"producer_byte_rate": 4096.0} for n in nodes), TIMEOUT), \
        [client_quotas(n.port, "fwd-client") for n in nodes]
    print("through non-controller node %d: CreateTopics, IncrementalAlterConfigs, "
          "CreatePartitions, DeleteTopics and AlterClientQuotas committed on all three"
          % other.node_id)


def check_preprocessed(nodes, other):
    """What Kafka's broker decides itself before forwarding the rest
    (ConfigAdminManager.preprocess): its own log level (BROKER_LOGGER, never
    persisted), another broker's config and unknown resource types refused;
    a request mixing them with a topic change forwards only that."""
    me, peer = str(other.node_id), str(next(n.node_id for n in nodes if n is not other))
    got = alter_configs(other.port, [(8, me, "root", "INFO")])
    assert got == [(NONE, None)], "BROKER_LOGGER of node %s through it: %r" % (me, got)
    got = alter_configs(other.port, [(4, peer, "log.cleaner.threads", "2"),
                                     (8, me, "root", "INFO"),
                                     (2, "fwd-a", "retention.ms", "654321"),
                                     (99, "x", "k", "v"),
                                     (8, peer, "root", "INFO")])
    unexpected = "Unexpected broker id, expected %s, but received %s" % (me, peer)
    want = [(INVALID_REQUEST, unexpected), (NONE, None), (NONE, None),
            (INVALID_REQUEST, "Unknown resource type 99"), (INVALID_REQUEST, unexpected)]
    assert got == want, "mixed IncrementalAlterConfigs through node %s: %r" % (me, got)
    assert wait_for(lambda: all(topic_config(n.port, "fwd-a", "retention.ms") == "654321"
                                for n in nodes), TIMEOUT), \
        [topic_config(n.port, "fwd-a", "retention.ms") for n in nodes]
    print("through non-controller node %s: its own log level set there, another broker's config "
          "and an unknown resource type refused as Kafka's broker refuses them, the topic change "
          "in the same request committed on all three" % me)


def check_auto_create(nodes, other):
    """Metadata with auto-creation on a non-controller node: LEADER_NOT_AVAILABLE
    at first (the node asked the controller), then the topic, on every node."""
    def created():
        md = wire.metadata(other.port, topics=["fwd-auto"], auto_create=True, version=9,
                           timeout=TIMEOUT)
        return md["topics"][0]["error"] == NONE
    assert wait_for(created, TIMEOUT), "fwd-auto not auto-created through node %d" \
        % other.node_id
    assert on_all(nodes, lambda t: "fwd-auto" in t), [topics(n) for n in nodes]
    print("Metadata through non-controller node %d auto-created a topic on all three"
          % other.node_id)


def check_admin_client(nodes, other):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": "127.0.0.1:%d" % other.port})
    for f in admin.create_topics([NewTopic("fwd-client", 3, 1)],
                                 request_timeout=TIMEOUT).values():
        f.result(TIMEOUT)
    assert on_all(nodes, lambda t: t.get("fwd-client") == 3), [topics(n) for n in nodes]
    for f in admin.delete_topics(["fwd-client"], request_timeout=TIMEOUT).values():
        f.result(TIMEOUT)
    assert on_all(nodes, lambda t: "fwd-client" not in t), [topics(n) for n in nodes]
    print("confluent-kafka AdminClient bootstrapped at node %d created and deleted a topic"
          % other.node_id)


def check_failover(nodes, via, count=16, kill_after=5):
    """Creations through `via` while the active controller is killed."""
    acked, timed_out = set(), []
    victim = None
    for i in range(count):
        if i == kill_after:
            victim = leader_of(nodes)
            assert victim is not via
            victim.kill()
        name = "fail-%d" % i
        started = time.monotonic()
        err = create_topic(via.port, name)
        took = time.monotonic() - started
        # A creation retried on the new controller after the old one had
        # committed it finds it there: it exists, as acknowledged.
        assert err in (NONE, TOPIC_EXISTS, REQUEST_TIMED_OUT), \
            "CreateTopics %s through node %d: %d" % (name, via.node_id, err)
        assert took < 15 + 10, "CreateTopics %s took %.1f s" % (name, took)
        if err == REQUEST_TIMED_OUT:
            timed_out.append(name)
        else:
            acked.add(name)
    live = [n for n in nodes if n is not victim]
    assert on_all(live, lambda t: acked <= set(t)), [topics(n) for n in live]
    victim.start(timeout=TIMEOUT)
    assert on_all(nodes, lambda t: acked <= set(t)), [topics(n) for n in nodes]
    print("kill -9 of active controller %d mid-stream through node %d: %d acknowledged, "
          "%d timed out; every acknowledged topic on all three after its restart"
          % (victim.node_id, via.node_id, len(acked), len(timed_out)))


def check_no_majority(nodes):
    lead = leader_of(nodes)
    via = next(n for n in nodes if n is not lead)
    down = [lead] + [n for n in nodes if n is not lead and n is not via]
    for n in down:
        n.kill()
    started = time.monotonic()
    err = create_topic(via.port, "no-majority", timeout_ms=NO_MAJORITY_TIMEOUT_MS)
    took = time.monotonic() - started
    assert err == REQUEST_TIMED_OUT, "CreateTopics without a majority: %d" % err
    assert took < NO_MAJORITY_TIMEOUT_MS / 1000 + 5, "answered after %.1f s" % took
    for n in down:
        n.start(timeout=TIMEOUT)
    leader_of(nodes)
    print("two of three down: CreateTopics through node %d answered REQUEST_TIMED_OUT after "
          "%.1f s (timeout %d ms)" % (via.node_id, took, NO_MAJORITY_TIMEOUT_MS))


def producer_ids(nodes, per_node=3):
    """Distinct ids from every node, each node's from blocks no other uses."""
    blocks = {}
    seen = set()
    for n in nodes:
        got = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < per_node and time.monotonic() < deadline:
            err, pid = init_producer_id(n.port)
            if err == LOAD_IN_PROGRESS:  # not registered yet, or a block on its way
                time.sleep(0.1)
                continue
            assert err == NONE and pid >= 0, "InitProducerId on node %d: %d" % (n.node_id, err)
            got.append(pid)
        assert len(got) == per_node, "node %d gave %r" % (n.node_id, got)
        assert not seen & set(got), "node %d repeated ids %r" % (n.node_id, got)
        seen |= set(got)
        blocks[n.node_id] = {pid // 1000 for pid in got}
    ids = sorted(blocks)
    for i in ids:
        for j in ids:
            assert i == j or not blocks[i] & blocks[j], "nodes %d and %d share a block: %r" \
                % (i, j, blocks)
    return blocks


def check_producers(nodes):
    from confluent_kafka import Producer
    blocks = producer_ids(nodes)
    err = create_topic(nodes[0].port, "fwd-idem", partitions=3)
    assert err == NONE, err
    assert on_all(nodes, lambda t: t.get("fwd-idem") == 3)
    for n in nodes:
        failed = []
        p = Producer({"bootstrap.servers": "127.0.0.1:%d" % n.port, "enable.idempotence": True,
                      "acks": "all", "linger.ms": 5})
        for i in range(200):
            p.produce("fwd-idem", value=b"n%d-%d" % (n.node_id, i),
                      on_delivery=lambda e, m: e and failed.append(e))
            p.poll(0)
        assert p.flush(TIMEOUT) == 0, "node %d: records unacknowledged" % n.node_id
        assert not failed, "node %d: %r" % (n.node_id, failed[:3])
    print("InitProducerId on every node: blocks %r, none shared; an idempotent librdkafka "
          "producer bootstrapped at each node produced 200 records"
          % {k: sorted(v) for k, v in blocks.items()})


def run(skein):
    make = functools.partial(Controller, combined=True)
    with cluster(skein, "skein-forward-", make) as (nodes, cluster_id, v):
        registered(nodes)
        lead = leader_of(nodes)
        other = next(n for n in nodes if n is not lead)
        check_admin(nodes, other)
        check_auto_create(nodes, other)
        check_admin_client(nodes, other)
        check_producers(nodes)
        check_failover(nodes, other)
        registered(nodes)
        check_no_majority(nodes)
        registered(nodes)


def main():
    run(sys.argv[1])
    print("forward: OK")


if __name__ == "__main__":
    main()
