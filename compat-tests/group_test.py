#!/usr/bin/python3
"""Consumer groups and committed offsets against a real Skein broker, with
librdkafka (confluent-kafka) consumers and kafka-python's admin client.

usage: group_test.py path/to/skein"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaAdminClient

SKEIN = os.path.abspath(sys.argv[1])
TOPIC = "grp-t6"
SESSION_MS = 6000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Broker:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="skein-group-")
        self.port, self.cport = free_port(), free_port()
        self.proc = None

    def start(self):
        args = [SKEIN,
                "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.cport}",
                "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--override", f"log.dirs={self.dir}",
                "--override", "num.partitions=6",
                "--override", "offsets.topic.num.partitions=5",
                "--override", "group.initial.rebalance.delay.ms=1000"]
        self.log = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE)
        print("# broker data and log in", self.dir, flush=True)
        deadline = time.time() + 30
        for line in self.proc.stderr:
            self.log.write(line)
            if b"Skein started" in line:
                break
            if time.time() > deadline:
                raise SystemExit("broker did not start")
        # Keep draining stderr so the broker never blocks on a full pipe.
        import threading
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.write(line)
            self.log.flush()

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"


def consumer(b, group, **extra):
    conf = {"bootstrap.servers": b.bootstrap, "group.id": group,
            "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range", "log_level": 2}
    conf.update(extra)
    c = Consumer(conf)
    c.subscribe([TOPIC])
    return c


def sizes(cs):
    return sorted(len(c.assignment()) for c in cs)


def poll_until(cs, cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for c in cs:
            c.poll(0.05)
        if cond():
            return
    raise AssertionError(f"timed out waiting for {what}: assignment sizes {sizes(cs)}")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("ok -", msg, flush=True)


CHILD = r'''
import sys, time
from confluent_kafka import Consumer
conf = {"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500, "enable.auto.commit": False,
        "partition.assignment.strategy": "range", "log_level": 2}
if sys.argv[3] != "-":
    conf["group.instance.id"] = sys.argv[3]
c = Consumer(conf)
c.subscribe([sys.argv[4]])
last = 0
while True:
    c.poll(0.1)
    n = len(c.assignment())
    if n != last:
        print("assigned", n, flush=True)
        last = n
'''


def child(b, group, instance=None):
    p = subprocess.Popen([sys.executable, "-c", CHILD, b.bootstrap, group, instance or "-", TOPIC],
                         stdout=subprocess.PIPE)
    return p


def create_topic(b):
    p = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(60):
        p.produce(TOPIC, value=b"x%d" % i, partition=i % 6)
    check(p.flush(30) == 0, "produced to a 6-partition topic")


def test_membership(b):
    t0 = time.time()
    cs = [consumer(b, "g-members") for _ in range(3)]
    poll_until(cs, lambda: sizes(cs) == [2, 2, 2], 60, "3 consumers with 2 partitions each")
    check(True, f"three consumers split 6 partitions 2/2/2 in {time.time() - t0:.2f}s")
    c4 = consumer(b, "g-members")
    cs.append(c4)
    poll_until(cs, lambda: sizes(cs) == [1, 1, 2, 2], 60, "4 consumers")
    check(True, "a fourth member joined: 1/1/2/2")

    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    desc = admin.describe_consumer_groups(["g-members"])[0]
    check(desc.state == "Stable" and len(desc.members) == 4,
          f"DescribeGroups shows Stable with 4 members ({desc.state}, {len(desc.members)})")
    parts = sorted(p for m in desc.members for t in m.member_assignment.assignment
                   for p in t[1])
    check(parts == list(range(6)), f"DescribeGroups shows assignments of all 6 partitions {parts}")
    listed = dict((g[0], g[1]) for g in admin.list_consumer_groups())
    check(listed.get("g-members") == "consumer", f"ListGroups lists the group {listed}")

    leaving = cs.pop()
    leaving.close()
    poll_until(cs, lambda: sizes(cs) == [2, 2, 2], 60, "rebalance after a clean leave")
    check(True, "a member left cleanly and the other three got 2/2/2")

    k = child(b, "g-members")
    # Range gives the two extra partitions to whichever members sort first.
    poll_until(cs, lambda: sizes(cs) in ([1, 1, 2], [1, 2, 2]), 60, "child member joined")
    k.send_signal(signal.SIGKILL)
    k.wait()
    t0 = time.time()
    poll_until(cs, lambda: sizes(cs) == [2, 2, 2], 60, "removal of a killed member")
    el = time.time() - t0
    check(el >= SESSION_MS / 1000 - 2.5,
          f"a killed member was removed after its session timeout ({el:.1f}s)")
    for c in cs:
        c.close()
    admin.close()


def test_static(b):
    cs = [consumer(b, "g-static")]
    counts = {"assign": 0}

    def on_assign(c, ps):
        counts["assign"] += 1
    cs[0].subscribe([TOPIC], on_assign=on_assign)
    k = child(b, "g-static", "instance-1")
    poll_until(cs, lambda: sizes(cs) == [3] and counts["assign"] >= 1, 60, "static group")
    time.sleep(1)
    before = counts["assign"]
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    gen_members = admin.describe_consumer_groups(["g-static"])[0]
    k.send_signal(signal.SIGKILL)
    k.wait()
    k = child(b, "g-static", "instance-1")
    line = k.stdout.readline()
    check(line.startswith(b"assigned 3"), f"the static member got its 3 partitions back ({line!r})")
    poll_until(cs, lambda: True, 3, "")
    check(counts["assign"] == before and sizes(cs) == [3],
          "the other member saw no rebalance when the static member came back")
    after = admin.describe_consumer_groups(["g-static"])[0]
    ids = sorted(m.member_id for m in after.members)
    check(len(ids) == 2 and ids != sorted(m.member_id for m in gen_members.members),
          "the static member rejoined under a new member id")
    k.send_signal(signal.SIGKILL)
    k.wait()
    cs[0].close()
    admin.close()


def test_commits(b, restarts):
    c = consumer(b, "g-commits")
    poll_until([c], lambda: len(c.assignment()) == 6, 60, "single consumer")
    offs = [TopicPartition(TOPIC, p, 3 + p) for p in range(6)]
    c.commit(offsets=offs, asynchronous=False)
    got = c.committed([TopicPartition(TOPIC, p) for p in range(6)], timeout=10)
    check([t.offset for t in got] == [3 + p for p in range(6)], "committed offsets read back")
    n, t0 = 0, time.time()
    while time.time() - t0 < 2:
        c.commit(offsets=[TopicPartition(TOPIC, n % 6, 3 + n % 6)], asynchronous=False)
        n += 1
    rate = n / (time.time() - t0)
    print(f"# synchronous commits: {rate:.0f}/s", flush=True)
    c.close()
    for sig in restarts:
        b.stop(sig)
        b.start()
        c = consumer(b, "g-commits")
        got = c.committed([TopicPartition(TOPIC, p) for p in range(6)], timeout=30)
        check([t.offset for t in got] == [3 + p for p in range(6)],
              f"commits survive a restart after {signal.Signals(sig).name}")
        poll_until([c], lambda: len(c.assignment()) == 6, 60, "consumer after restart")
        pos = c.position(c.assignment()) if hasattr(c, "position") else []
        c.close()


def main():
    b = Broker()
    b.start()
    try:
        create_topic(b)
        test_commits(b, [signal.SIGTERM, signal.SIGKILL])
        test_membership(b)
        test_static(b)
    finally:
        if b.proc.poll() is None:
            b.stop()
    print("all group tests passed")


if __name__ == "__main__":
    main()
