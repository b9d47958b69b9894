#!/usr/bin/python3
"""A wall-clock jump does not hold deleted segments on disk: retention
renames old segments *.deleted and removes them file.delete.delay.ms later,
a duration (Kafka schedules the removal on its scheduler, not at a wall-clock
instant). The broker runs under libfaketime with only the wall clock faked;
right after a retention pass renames the segments its clock jumps an hour
back, and the files must still go within the delay (plus slack), not an hour
later. Skipped (exit 77) without Debian's libfaketime.

usage: clock_jump_test.py SKEIN_BIN"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker  # noqa: E402
from skeinlib.poll import produce_small, wait_for  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1")
DELETE_DELAY_MS = 8000


def set_clock(rc, offset_s):
    with open(rc + ".tmp", "w") as f:
        f.write("%+d\n" % offset_s)
    os.rename(rc + ".tmp", rc)


def low_watermark(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    lo, _ = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.close()
    return lo


def deleted_files(seg_dir):
    return [x for x in os.listdir(seg_dir) if x.endswith(".deleted")]


def start_faked(skein, rc):
    """The broker with libfaketime preloaded: CLOCK_REALTIME, time() and
    gettimeofday() read the offset in rc (re-read on every call)."""
    lib = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
    if not lib:
        print("SKIP: no libfaketime (apt-get install libfaketime)")
        sys.exit(77)
    set_clock(rc, 0)
    b = Broker(skein, overrides=["log.retention.check.interval.ms=200"])
    saved = dict(os.environ)
    os.environ.update(LD_PRELOAD=lib, FAKETIME_TIMESTAMP_FILE=rc, FAKETIME_NO_CACHE="1",
                      FAKETIME_DONT_FAKE_MONOTONIC="1",
                      # an ASan broker refuses a preloaded library ahead of its runtime
                      ASAN_OPTIONS=":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                          "verify_asan_link_order=0"])))
    try:
        b.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return b


def main():
    with tempfile.TemporaryDirectory(prefix="skein-clock-") as tmp:
        rc = os.path.join(tmp, "faketime.rc")
        b = start_faked(sys.argv[1], rc)
        try:
            run(b, rc)
        finally:
            status = b.stop()
            report = b.sanitizer_report()
            b.cleanup()
    assert status == 0, "broker exited %s" % status
    assert not report, "sanitizer report:\n%s" % report[-4000:]
    print("clock_jump_test: OK")


def run(b, rc):
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    topic = "jumped"
    cfg = {"segment.bytes": "4096", "file.delete.delay.ms": str(DELETE_DELAY_MS)}
    a.create_topics([NewTopic(topic, 1, 1, config=cfg)])[topic].result(10)
    produce_small(b.bootstrap, topic, 400)
    seg_dir = os.path.join(b.data_dir, "logs", topic + "-0")
    # retention.bytes cut live: the next pass renames the old segments
    r = ConfigResource("topic", topic, set_config=dict(cfg, **{"retention.bytes": "8192"}))
    a.alter_configs([r])[r].result(10)
    assert wait_for(lambda: deleted_files(seg_dir), 30, 0.02), "retention renamed nothing"
    set_clock(rc, -3600)
    renamed = time.monotonic()
    assert low_watermark(b.bootstrap, topic) > 0, "the log start offset did not move"
    # the removal is due DELETE_DELAY_MS after the rename whatever the wall clock says
    gone = wait_for(lambda: not deleted_files(seg_dir), DELETE_DELAY_MS / 1000.0 + 30, 0.2)
    assert gone, ("*.deleted files still there %.0f s after the rename with the wall clock an "
                  "hour back (file.delete.delay.ms=%d): %s"
                  % (time.monotonic() - renamed, DELETE_DELAY_MS, deleted_files(seg_dir)[:3]))
    waited = time.monotonic() - renamed
    # nor removed early: the delay still holds (an early removal shows as < the delay)
    assert waited > DELETE_DELAY_MS / 1000.0 - 4, "removed after %.1f s" % waited
    print("deleted segments removed %.1f s after the rename, clock an hour back" % waited)


if __name__ == "__main__":
    main()
