#!/usr/bin/python3
"""A coordinator loads its groups from __consumer_offsets a slice at a time
(offsets.load.buffer.size per turn), answering requests meanwhile, and a
group whose partition is still loading gets COORDINATOR_LOAD_IN_PROGRESS
rather than what a half-read log says.

One broker, __consumer_offsets of one partition and offsets.load.buffer.size
of 1 KiB; 300 OffsetCommits of 100 partitions each (30,000 records, a few
MB of log) for one group, the last naming each partition's final offset;
the broker is stopped (SIGTERM) and started again, and OffsetFetch is sent
as soon as it takes connections, again and again: every answer is either
COORDINATOR_LOAD_IN_PROGRESS or every partition's final offset, never an
older or a missing one; then a confluent-kafka consumer of the group reads
the same offsets. The broker logs the partition loaded after it opened its
listener; how many answers came while loading is reported (how many there
are depends on the machine's speed).

usage: group_load_test.py SKEIN_BIN"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_registration_test import find_coordinator  # noqa: E402
from skeinlib import wire  # noqa: E402
from skeinlib.broker import Broker  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

TIMEOUT = 60
TOPIC, GROUP, PARTITIONS, COMMITS = "gl", "loader", 100, 300
NONE, LOAD_IN_PROGRESS = 0, 14


def offset_commit(k):
    """OffsetCommit v2 of every partition at offset k * 1000 + partition, as a
    client outside any generation commits (generation -1)."""
    parts = b"".join(struct.pack(">iq", p, k * 1000 + p) + wire.string("")
                     for p in range(PARTITIONS))
    return (wire.string(GROUP) + struct.pack(">i", -1) + wire.string("") + struct.pack(">q", -1)
            + struct.pack(">i", 1) + wire.string(TOPIC) + struct.pack(">i", PARTITIONS) + parts)


def commit_all(port):
    c = wire.Conn(port, timeout=TIMEOUT)
    try:
        for k in range(0, COMMITS, 50):  # pipelined, 50 at a time
            for j in range(k, min(k + 50, COMMITS)):
                c.send(wire.frame(wire.header(8, 2, j) + offset_commit(j)))
            for j in range(k, min(k + 50, COMMITS)):
                corr, resp = c.recv_frame(TIMEOUT)
                assert corr == j, (corr, j)
                r = wire.Reader(resp)
                assert r.i32() == 1 and r.string() == TOPIC
                errs = {r.i32(): r.i16() for _ in range(r.i32())}
                assert set(errs.values()) == {NONE}, errs
    finally:
        c.close()


def offset_fetch(port):
    """OffsetFetch v3 of every partition: (top-level error, {partition: (offset, error)})."""
    body = (wire.string(GROUP) + struct.pack(">i", 1) + wire.string(TOPIC)
            + struct.pack(">i", PARTITIONS) + b"".join(struct.pack(">i", p)
                                                       for p in range(PARTITIONS)))
    c = wire.Conn(port, timeout=TIMEOUT)
    try:
        c.send(wire.frame(wire.header(9, 3, 1) + body))
        _, resp = c.recv_frame(TIMEOUT)
    finally:
        c.close()
    r = wire.Reader(resp)
    r.i32()
    got = {}
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, off = r.i32(), r.i64()
            r.string()
            got[p] = (off, r.i16())
    return r.i16(), got


def main():
    skein = sys.argv[1]
    final = {p: (COMMITS - 1) * 1000 + p for p in range(PARTITIONS)}
    b = Broker(skein, ["offsets.topic.num.partitions=1", "offsets.load.buffer.size=1024"])
    try:
        b.start()
        err, msg = wire.create_topic(b.port, TOPIC, partitions=PARTITIONS, timeout=TIMEOUT)
        assert err == NONE, (err, msg)
        # The first FindCoordinator makes __consumer_offsets.
        assert wait_for(lambda: find_coordinator(b.port, GROUP)[0] == NONE, TIMEOUT)
        commit_all(b.port)
        err, got = offset_fetch(b.port)
        assert err == NONE and got == {p: (o, NONE) for p, o in final.items()}, (err, got)
        assert b.stop() == 0, b.tail()
        b.launch()
        assert wait_for(b.accepting, TIMEOUT), b.tail()
        loading = answered = 0
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                err, got = offset_fetch(b.port)
            except (OSError, wire.Closed, wire.DecodeError):
                continue
            answered += 1
            parts = {e for _, e in got.values()}
            if err == LOAD_IN_PROGRESS or parts == {LOAD_IN_PROGRESS}:
                loading += 1
                continue
            assert err == NONE and got == {p: (o, NONE) for p, o in final.items()}, \
                "an answer while or after loading: %r %r" % (err, got)
            break
        else:
            raise AssertionError("no whole answer within %d s: %s" % (TIMEOUT, b.tail()))
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": GROUP,
                      "enable.auto.commit": False})
        tps = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=30)
        c.close()
        assert {tp.partition: tp.offset for tp in tps} == final
        print("restarted with %d commits of %d partitions in __consumer_offsets-0: %d of %d "
              "OffsetFetch answers were COORDINATOR_LOAD_IN_PROGRESS, the rest every final "
              "offset; librdkafka reads the same" % (COMMITS, PARTITIONS, loading, answered))
        # Loaded on the running shard, after the listener opened: not before
        # the node served anything.
        text = b.stderr_text()
        listening, loaded = text.find("listening on"), text.find("groups of __consumer_offsets-0 loaded")
        assert 0 <= listening < loaded, b.tail()
        assert b.stop() == 0, b.tail()
    finally:
        b.kill()
        b.cleanup()
    print("group-load: OK")


if __name__ == "__main__":
    main()
