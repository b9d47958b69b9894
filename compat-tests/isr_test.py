#!/usr/bin/python3
"""ISR shrink and expand through AlterPartition, on three controllers (the
KRaft quorum) and three brokers, so that pausing brokers never costs the
quorum its majority. replica.lag.time.max.ms is 3000 on the brokers; the
controllers' broker.session.timeout.ms is long enough that no paused broker
is fenced meanwhile (fencing is not what is tested here).

- A topic with replication factor 3 and min.insync.replicas=2: every replica
  in the ISR; an idempotent librdkafka producer writes with acks=all.
- SIGSTOP of one follower: the leader's ISR shrinks to the other two (seen in
  Metadata at every running broker) and acks=all writes are acknowledged.
- SIGSTOP of the second follower: acks=all is refused, NOT_ENOUGH_REPLICAS
  once the ISR is the leader alone (kafka-python, no retries); a write caught
  while it shrank is not committed (no high watermark moves under
  min.insync.replicas) and times out instead.
- SIGCONT of both: they catch up and rejoin the ISR; acks=all goes on.
- Every acknowledged record is read back.
- With both followers paused, records written with acks=1 to the leader
  alone; the leader killed -9 and restarted within its session: its new
  registration is refused while the old one lives (as Kafka's controller
  does) and it takes no connection meanwhile, so its stale leadership is
  never served.
- The same shrink and rejoin on three combined nodes, where each leader
  reaches the controller over its own node's CONTROLLER listener or
  another's: a paused follower (not the quorum's leader, so the quorum
  keeps its majority) leaves the ISR under acks=all writes and rejoins
  after SIGCONT.

usage: isr_test.py SKEIN_BIN"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import Controller, cluster  # noqa: E402
from split_roles_test import BrokerNode, brokers_listed, create, split_cluster  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

TIMEOUT = 60  # generous: the machine may be loaded
LAG_MS = 3000
NONE = 0
TOPIC = "isr"


class LagBroker(BrokerNode):
    def argv(self):
        return super().argv() + ["--override", "replica.lag.time.max.ms=%d" % LAG_MS]


class LongSessionController(Controller):
    def argv(self):
        return super().argv() + ["--override", "broker.session.timeout.ms=120000"]


class CombinedNode(LongSessionController):
    def __init__(self, skein, root, node_id, voters, ports):
        super().__init__(skein, root, node_id, voters, ports, combined=True)

    def argv(self):
        return super().argv() + ["--override", "replica.lag.time.max.ms=%d" % LAG_MS]


def partition0(broker):
    try:
        md = wire.metadata(broker.port, topics=[TOPIC], version=12, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    t = md["topics"][0]
    if t["error"] or not t["partitions"]:
        return None
    return next(p for p in t["partitions"] if p["partition"] == 0)


def isr_is(brokers, want):
    """Every given broker's Metadata shows ISR want (as a set)."""
    for b in brokers:
        p = partition0(b)
        if not p or sorted(p["isr"]) != sorted(want):
            return False
    return True


def producer(brokers):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": ",".join(b.bootstrap for b in brokers),
                     "acks": "all", "linger.ms": 5, "enable.idempotence": True,
                     "message.timeout.ms": TIMEOUT * 1000})


def produce(brokers, values):
    """acks=all with librdkafka: every value must be acknowledged."""
    prod, failed = producer(brokers), []
    for v in values:
        prod.produce(TOPIC, value=v, partition=0,
                     on_delivery=lambda err, msg: err and failed.append(err))
        prod.poll(0)
    assert prod.flush(TIMEOUT) == 0, "records still unacknowledged"
    assert not failed, failed[:3]


def refused(leader, timeout_ms=TIMEOUT * 1000):
    """One acks=all write with kafka-python and no retries: its error name."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    prod = KafkaProducer(bootstrap_servers=leader.bootstrap, acks="all", retries=0,
                         request_timeout_ms=timeout_ms, max_block_ms=TIMEOUT * 1000)
    try:
        prod.send(TOPIC, value=b"refused", partition=0).get(timeout=TIMEOUT)
        return "NONE"
    except KafkaError as e:
        return type(e).__name__
    finally:
        prod.close(timeout=5)


def read_all(brokers):
    from confluent_kafka import Consumer, TopicPartition
    cons = Consumer({"bootstrap.servers": ",".join(b.bootstrap for b in brokers),
                     "group.id": "isr-readers", "enable.auto.commit": False})
    cons.assign([TopicPartition(TOPIC, 0, 0)])
    got = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        m = cons.poll(0.5)
        if m is not None:
            if not m.error():
                got.append((m.offset(), m.value()))
            continue
        _, hi = cons.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=TIMEOUT)
        if got and got[-1][0] + 1 >= hi:
            break
    cons.close()
    return [v for _, v in got]


def scenario(brokers):
    p = wait_for(lambda: partition0(brokers[0]), TIMEOUT)
    assert p and sorted(p["isr"]) == [4, 5, 6], p
    leader = next(b for b in brokers if b.node_id == p["leader"])
    f1, f2 = [b for b in brokers if b is not leader]
    acked = [b"before-%d" % i for i in range(100)]
    produce(brokers, acked)
    print("replication factor 3, min.insync.replicas 2: ISR %r, leader %d, 100 records "
          "acknowledged" % (p["isr"], leader.node_id))

    # A follower at the leader's log end is in sync however long it is
    # silent (Kafka's isCaughtUp), so writes are what make it fall behind.
    f1.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    more = [b"one-down-%d" % i for i in range(100)]
    produce(brokers, more)
    acked += more
    took = time.monotonic() - t0
    assert wait_for(lambda: isr_is([leader, f2], [leader.node_id, f2.node_id]), TIMEOUT), \
        "the ISR did not shrink without broker %d: %r" % (f1.node_id, partition0(leader))
    print("broker %d paused: 100 acks=all records acknowledged after %.1f s (lag bound %.1f s), "
          "the ISR shrank to [%d, %d]" % (f1.node_id, took, LAG_MS / 1000, leader.node_id,
                                           f2.node_id))

    f2.signal(signal.SIGSTOP)
    # Appended while the ISR still had f2, the write is committed only if
    # the ISR gets back to min.insync.replicas (Kafka 3.7+ moves no high
    # watermark below it): it times out (the request's 5 s) rather than
    # succeeding; one that arrives after the shrink is refused outright.
    first = refused(leader, timeout_ms=5000)
    assert first in ("RequestTimedOutError", "KafkaTimeoutError", "NotEnoughReplicasError"), \
        first
    assert wait_for(lambda: isr_is([leader], [leader.node_id]), TIMEOUT), \
        "the ISR did not shrink to the leader: %r" % partition0(leader)
    second = refused(leader)
    assert second == "NotEnoughReplicasError", second
    print("broker %d paused too: a write caught meanwhile got %s; with the ISR [%d] acks=all "
          "gets %s" % (f2.node_id, first, leader.node_id, second))

    f1.signal(signal.SIGCONT)
    f2.signal(signal.SIGCONT)
    t0 = time.monotonic()
    assert wait_for(lambda: isr_is(brokers, [4, 5, 6]), TIMEOUT), \
        "the followers did not rejoin the ISR: %r" % partition0(leader)
    print("brokers %d and %d resumed: both rejoined the ISR after %.1f s"
          % (f1.node_id, f2.node_id, time.monotonic() - t0))
    after = [b"after-%d" % i for i in range(100)]
    produce(brokers, after)
    acked += after
    got = read_all(brokers)
    missing = [v for v in acked if v not in set(got)]
    assert not missing, "%d acknowledged records not read back, e.g. %r" % (
        len(missing), missing[:3])
    order = [v for v in got if v in set(acked)]
    assert order == acked, "acknowledged records out of order"
    print("every one of the %d acknowledged records read back, in order (%d records in the "
          "log)" % (len(acked), len(got)))


def check_restarted_leader(brokers):
    """Records only the leader holds (acks=1 with both followers paused);
    the leader killed -9 and restarted at once, well within its session
    (the controllers' is 120 s): the controller refuses its new
    registration (DUPLICATE_BROKER_REGISTRATION) while the old one lives,
    and the node takes no connection meanwhile, neither a client's nor a
    follower's. Its caught-up image still has it leading, with an ISR that
    lacks those records; served, it would answer a retry of one of them as
    a duplicate at once, and a replica without it could be elected next."""
    from kafka import KafkaProducer
    p = partition0(brokers[0])
    leader = next(b for b in brokers if b.node_id == p["leader"])
    f1, f2 = [b for b in brokers if b is not leader]
    f1.signal(signal.SIGSTOP)
    f2.signal(signal.SIGSTOP)
    try:
        prod = KafkaProducer(bootstrap_servers=leader.bootstrap, acks=1, retries=0)
        for i in range(20):
            prod.send(TOPIC, value=b"leader-only-%d" % i, partition=0).get(timeout=TIMEOUT)
        prod.close(timeout=5)
        leader.kill()
        leader.start(timeout=TIMEOUT)
        refused = wait_for(lambda: "DUPLICATE_BROKER_REGISTRATION" in leader.stderr_text(),
                           TIMEOUT)
        assert refused, "the restarted leader's registration was not refused:\n%s" % (
            leader.tail(40))
        until = time.monotonic() + 5
        while time.monotonic() < until:
            assert not leader.accepting(), \
                "restarted leader %d took a connection within its old session:\n%s" % (
                    leader.node_id, leader.tail(40))
            time.sleep(0.2)
    finally:
        f1.signal(signal.SIGCONT)
        f2.signal(signal.SIGCONT)
    print("20 records on leader %d alone (acks=1, followers paused), leader killed and "
          "restarted: registration refused while its old session lives, no connection "
          "taken" % leader.node_id)


def run(skein):
    with split_cluster(skein, "skein-isr-", LongSessionController, LagBroker) as \
            (ctls, brokers, _):
        err = create(ctls, TOPIC, time.monotonic() + TIMEOUT, partitions=1,
                     replication_factor=3, configs={"min.insync.replicas": "2"})
        assert err == NONE, err
        try:
            scenario(brokers)
            check_restarted_leader(brokers)
        except AssertionError:
            for n in ctls + brokers:
                n.signal(signal.SIGCONT)
                print("--- node %d:\n%s" % (n.node_id, n.tail(40)))
            raise


def run_combined(skein):
    with cluster(skein, "skein-isr-combined-", CombinedNode) as (nodes, _, v):
        ids = sorted(n.node_id for n in nodes)
        assert wait_for(lambda: all(brokers_listed(n) == ids for n in nodes), TIMEOUT), \
            "the three brokers are not all unfenced"
        quorum_leader = next(n for n in nodes if n.node_id == v["leader"])
        err, msg = wire.create_topic(quorum_leader.port, TOPIC, partitions=1,
                                     configs={"min.insync.replicas": "2"},
                                     replication_factor=3, timeout=TIMEOUT)
        assert err == NONE, (err, msg)
        try:
            p = wait_for(lambda: isr_is(nodes, ids) and partition0(nodes[0]), TIMEOUT)
            assert p, "the topic is not in sync everywhere: %r" % partition0(nodes[0])
            leader = next(n for n in nodes if n.node_id == p["leader"])
            victim = next(n for n in nodes if n is not leader and n is not quorum_leader)
            rest = [n for n in nodes if n is not victim]
            acked = [b"c-%d" % i for i in range(50)]
            produce(nodes, acked)
            victim.signal(signal.SIGSTOP)
            more = [b"c-down-%d" % i for i in range(50)]
            produce(rest, more)
            acked += more
            want = [n.node_id for n in rest]
            assert wait_for(lambda: isr_is(rest, want), TIMEOUT), \
                "the ISR did not shrink without node %d: %r" % (victim.node_id, partition0(leader))
            victim.signal(signal.SIGCONT)
            assert wait_for(lambda: isr_is(nodes, ids), TIMEOUT), \
                "node %d did not rejoin the ISR: %r" % (victim.node_id, partition0(leader))
            got = set(read_all(nodes))
            missing = [x for x in acked if x not in got]
            assert not missing, "%d acknowledged records lost" % len(missing)
        except AssertionError:
            for n in nodes:
                n.signal(signal.SIGCONT)
                print("--- node %d:\n%s" % (n.node_id, n.tail(40)))
            raise
        print("combined nodes: leader %d, quorum leader %d; node %d paused: the ISR shrank to %r "
              "and acks=all went on; resumed, it rejoined; all %d records read back"
              % (leader.node_id, quorum_leader.node_id, victim.node_id, want, len(acked)))


def main():
    run(sys.argv[1])
    run_combined(sys.argv[1])
    print("isr: OK")


if __name__ == "__main__":
    main()
