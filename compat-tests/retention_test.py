#!/usr/bin/python3
"""Retention: with small segments and a small retention.ms, old segments are
deleted and the log start offset moves; a consumer asking below it gets
OFFSET_OUT_OF_RANGE and resets by its policy (earliest: to the new start;
none/error: an error). A later retention.ms change applies without restart.

usage: retention_test.py SKEIN_BIN"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker  # noqa: E402
from skeinlib.poll import produce_small  # noqa: E402

from confluent_kafka import Consumer, KafkaError, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402


def watermarks(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.close()
    return lo, hi


def first_offset_from_zero(bootstrap, topic, reset):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reset-" + reset,
                  "auto.offset.reset": reset, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                return m.error()
            return m.offset()
        return None
    finally:
        c.close()


def main():
    b = Broker(sys.argv[1], overrides=["log.retention.check.interval.ms=300"])
    b.start()
    try:
        a = AdminClient({"bootstrap.servers": b.bootstrap})
        topic = "retained"
        f = a.create_topics([NewTopic(topic, 1, 1, config={
            "segment.bytes": "4096", "retention.ms": "3600000"})])[topic]
        f.result(10)
        produce_small(b.bootstrap, topic, 400)
        lo, hi = watermarks(b.bootstrap, topic)
        assert (lo, hi) == (0, 400), "before retention: watermarks %s" % ((lo, hi),)
        seg_dir = os.path.join(b.data_dir, "logs", topic + "-0")
        segs_before = len([x for x in os.listdir(seg_dir) if x.endswith(".log")])
        assert segs_before > 5, "segment.bytes=4096 should have rolled, got %d" % segs_before
        # Lower retention.ms live: old segments go within a few checks.
        r = ConfigResource("topic", topic, set_config={"retention.ms": "500",
                                                       "segment.bytes": "4096"})
        a.alter_configs([r])[r].result(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            lo, hi = watermarks(b.bootstrap, topic)
            if lo > 0:
                break
            time.sleep(0.3)
        assert lo > 0 and hi == 400, "after retention: watermarks %s" % ((lo, hi),)
        segs_after = len([x for x in os.listdir(seg_dir) if x.endswith(".log")])
        r = ConfigResource("topic", topic, set_config={"retention.ms": "3600000",
                                                       "segment.bytes": "4096"})
        a.alter_configs([r])[r].result(10)
        produce_small(b.bootstrap, topic, 10)
        lo, hi = watermarks(b.bootstrap, topic)
        assert segs_after < segs_before, "segments %d -> %d" % (segs_before, segs_after)
        got = first_offset_from_zero(b.bootstrap, topic, "earliest")
        assert got == lo, "earliest reset from 0: got %r, log start %d" % (got, lo)
        err = first_offset_from_zero(b.bootstrap, topic, "error")
        assert isinstance(err, KafkaError), "reset=error from 0: got %r" % (err,)
        print("retention: %d -> %d segments, log start 0 -> %d; reset earliest -> %d; "
              "reset error -> %s" % (segs_before, segs_after, lo, got, err.name()))
    finally:
        rc = b.stop()
        b.cleanup()
    assert rc == 0, "broker exited %s" % rc


if __name__ == "__main__":
    main()
