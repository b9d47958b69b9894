#!/usr/bin/python3
"""kill -9 while producer-state snapshots are in flight: the fault hook
("hold-snapshot", src/util/fault.c) leaves every snapshot's sync unfinished,
so on disk there are only their temporary files when the broker is killed.
After the restart the broker must still know the idempotent producer's last
sequence (rebuilt from the log after the newest snapshot that made it), and
the same producer must go on writing without a gap or a duplicate.

usage: snapshot_crash_test.py SKEIN_BIN"""
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker  # noqa: E402
from idempotence_test import describe_producers  # noqa: E402

from confluent_kafka import Consumer, Producer  # noqa: E402

TOPIC = "snapcrash"
N = 3000
MORE = 500


def produce(p, start, n, errors):
    for i in range(start, start + n):
        while True:
            try:
                p.produce(TOPIC, value=b"%06d" % i + b"x" * 100,
                          on_delivery=lambda e, m: e and errors.append(str(e)))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(120)
    if left or errors:
        raise AssertionError("%d undelivered, errors: %s" % (left, errors[:3]))


def read_all(port, want):
    c = Consumer({"bootstrap.servers": "127.0.0.1:%d" % port, "group.id": "snapcrash-check",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([TOPIC])
    got, deadline = [], time.monotonic() + 60
    while len(got) < want and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got.append(int(m.value()[:6]))
    extra = c.poll(2)
    c.close()
    if extra is not None and not extra.error():
        got.append(int(extra.value()[:6]))
    return got


def main():
    skein = sys.argv[1]
    ctl = tempfile.NamedTemporaryFile("w", prefix="skein-fault-", delete=False)
    ctl.write("hold-snapshot\n")
    ctl.close()
    os.environ["SKEIN_FAULT_CTL"] = ctl.name
    b = Broker(skein, overrides=["num.partitions=1", "log.segment.bytes=65536"])
    b.start()
    try:
        errors = []
        p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                      "linger.ms": 5, "batch.size": 8192,
                      "message.timeout.ms": 120000})
        produce(p, 0, N, errors)
        part = os.path.join(b.data_dir, "logs", TOPIC + "-0")
        held = glob.glob(os.path.join(part, "*.snapshot.tmp"))
        done = glob.glob(os.path.join(part, "*.snapshot"))
        if not held or done:
            raise AssertionError("expected snapshots in flight only, found %d temporary and "
                                 "%d complete in %s" % (len(held), len(done),
                                                        sorted(os.listdir(part))))
        b.kill()
        del os.environ["SKEIN_FAULT_CTL"]
        b.start()
        prods = describe_producers(b.port, TOPIC)
        if len(prods) != 1 or prods[0][2] != N - 1:
            raise AssertionError("after kill -9: DescribeProducers %r, expected one producer at "
                                 "sequence %d" % (prods, N - 1))
        produce(p, N, MORE, errors)  # the same producer id and sequence go on
        prods = describe_producers(b.port, TOPIC)
        if len(prods) != 1 or prods[0][2] != N + MORE - 1:
            raise AssertionError("DescribeProducers %r, expected the same producer at sequence "
                                 "%d" % (prods, N + MORE - 1))
        got = read_all(b.port, N + MORE)
        if got != list(range(N + MORE)):
            raise AssertionError("read %d records, %d distinct, expected %d in order"
                                 % (len(got), len(set(got)), N + MORE))
        print("snapshot crash: %d snapshot(s) in flight at kill -9; producer %d recovered at "
              "sequence %d and went on to %d; %d records read exactly once, in order"
              % (len(held), prods[0][0], N - 1, N + MORE - 1, len(got)))
    finally:
        os.environ.pop("SKEIN_FAULT_CTL", None)
        os.unlink(ctl.name)
        rc = b.stop()
        b.cleanup()
    if rc != 0:
        raise AssertionError("broker exited %s" % rc)


if __name__ == "__main__":
    main()
