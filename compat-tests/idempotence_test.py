#!/usr/bin/python3
"""librdkafka's idempotent producer through a proxy that cuts every
connection at random moments: the producer retries batches whose answers it
never saw, and the broker must answer those retries as duplicates. What is
read back is every record exactly once, in order, no gap.

usage: idempotence_test.py SKEIN_BIN"""
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib import wire  # noqa: E402
from skeinlib.broker import Broker, free_port  # noqa: E402

from confluent_kafka import Consumer, Producer  # noqa: E402

N = 50000
TOPIC = "idem"


class CuttingProxy:
    """Forwards 127.0.0.1:port to the broker; cut() closes every live pair."""

    def __init__(self, port, target):
        self.port, self.target = port, target
        self.pairs, self.lock, self.cuts = [], threading.Lock(), 0
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
                b = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            with self.lock:
                self.pairs.append((c, b))
            for src, dst in ((c, b), (b, c)):
                threading.Thread(target=self.pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def pump(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for c, b in pairs:
            for s in (c, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.cuts += 1 if pairs else 0


def describe_producers(port, topic):
    """DescribeProducers v0 (flexible) for partition 0: [(id, epoch, last_sequence)]."""
    body = (wire.uvarint(2) + wire.compact_string(topic) + wire.uvarint(2)
            + struct.pack(">i", 0) + b"\0" + b"\0")
    c = wire.Conn(port)
    try:
        c.send(wire.frame(wire.header(61, 0, 5, flexible=True) + body))
        corr, resp = c.recv_frame()
    finally:
        c.close()
    r = wire.Reader(resp)
    r.tags()  # response header v1
    r.i32()  # throttle

    def producer():
        pid, epoch, last_seq = r.i64(), r.i32(), r.i32()
        r.i64(), r.i32(), r.i64()
        r.tags()
        return pid, epoch, last_seq

    def partition():
        r.i32()
        err = r.i16()
        r.cstring()
        prods = r.carray(producer)
        r.tags()
        return err, prods

    def topic_():
        r.cstring()
        parts = r.carray(partition)
        r.tags()
        return parts

    (err, prods), = r.carray(topic_)[0]
    assert err == 0, "DescribeProducers error %d" % err
    return prods


def main():
    skein = sys.argv[1]
    proxy_port = free_port()
    b = Broker(skein, overrides=["num.partitions=1"])
    # Clients must only ever reach the broker through the proxy.
    b.extra.append("advertised.listeners=PLAINTEXT://127.0.0.1:%d" % proxy_port)
    b.start()
    try:
        proxy = CuttingProxy(proxy_port, b.port)
        stop = threading.Event()

        def cutter():
            while not stop.wait(random.uniform(0.05, 0.3)):
                proxy.cut()

        errors = []
        p = Producer({"bootstrap.servers": "127.0.0.1:%d" % proxy_port,
                      "enable.idempotence": True, "linger.ms": 2,
                      "message.timeout.ms": 120000})
        t = threading.Thread(target=cutter)
        t.start()
        for i in range(N):
            while True:
                try:
                    p.produce(TOPIC, value=b"%d" % i,
                              on_delivery=lambda e, m: e and errors.append(str(e)))
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
            if i % 1000 == 999:
                time.sleep(0.1)  # spread the stream over many cuts
        left = p.flush(120)
        stop.set()
        t.join()
        if proxy.cuts < 5:
            raise AssertionError("only %d connection cuts happened" % proxy.cuts)
        if left or errors:
            raise AssertionError("%d undelivered, errors: %s" % (left, errors[:3]))
        c = Consumer({"bootstrap.servers": "127.0.0.1:%d" % proxy_port, "group.id": "idem-check",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([TOPIC])
        got, deadline = [], time.monotonic() + 60
        while len(got) < N and time.monotonic() < deadline:
            m = c.poll(1)
            if m is not None and not m.error():
                got.append(int(m.value()))
        extra = c.poll(2)
        c.close()
        if got != list(range(N)) or (extra is not None and not extra.error()):
            dup = len(got) - len(set(got))
            gaps = sorted(set(range(N)) - set(got))[:5]
            raise AssertionError("read %d records, %d duplicates, missing e.g. %s"
                                 % (len(got), dup, gaps))
        prods = describe_producers(b.port, TOPIC)
        assert len(prods) == 1 and prods[0][2] == N - 1, \
            "DescribeProducers: %r, expected one producer with last sequence %d" % (prods, N - 1)
        print("idempotence: %d records through %d connection cuts: exactly once, in order; "
              "DescribeProducers shows producer %d epoch %d at sequence %d"
              % (N, proxy.cuts, prods[0][0], prods[0][1], prods[0][2]))
    finally:
        rc = b.stop()
        b.cleanup()
    if rc != 0:
        raise AssertionError("broker exited %s" % rc)


if __name__ == "__main__":
    main()
