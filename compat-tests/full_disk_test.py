#!/usr/bin/python3
"""A full disk under a real Skein broker: its log dir is a small tmpfs.

A librdkafka producer (acks=all) writes until the disk is full. Then:
  - produces fail with KAFKA_STORAGE_ERROR, the broker keeps running and keeps
    serving reads and metadata to other clients;
  - every acknowledged record reads back, in order, with nothing after a gap;
  - once space is freed, produces succeed again without a restart;
  - after a SIGKILL restart every acknowledged record is still there.
(Apache Kafka takes a failed log dir offline and, with a single log dir, stops the
broker; Skein refuses only the writes that cannot be stored.)

Needs root to mount the tmpfs; exits 77 (skipped) where mounting is not permitted.

usage: full_disk_test.py SKEIN"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

from skeinlib.broker import Broker  # noqa: E402

SIZE_MB = 48
FILLER_MB = 8
TOPIC = "full-t"
VALUE = b"f" * 1024


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("ok -", msg, flush=True)


def produce_until_full(b, limit_s=120):
    """Returns (acknowledged offsets in order, error codes seen)."""
    acked, errors = [], {}

    def cb(err, msg):
        if err is None:
            acked.append(msg.offset())
        else:
            errors[err.code()] = errors.get(err.code(), 0) + 1
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 5000, "retries": 2, "log_level": 2})
    t0 = time.time()
    while time.time() - t0 < limit_s and not errors:
        for _ in range(500):
            try:
                p.produce(TOPIC, VALUE, partition=0, on_delivery=cb)
            except BufferError:
                p.poll(0.05)
        p.poll(0.01)
    p.flush(30)
    return acked, errors


def read_back(b, n):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "full-reader",
                  "enable.auto.commit": False, "log_level": 2})
    c.assign([TopicPartition(TOPIC, 0, 0)])
    got, deadline = [], time.time() + 60
    while len(got) < n and time.time() < deadline:
        for m in c.consume(1000, 0.5):
            if m.error() is None:
                got.append(m.offset())
    c.close()
    return got


def one_produce(b, topic=TOPIC):
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "message.timeout.ms": 10000,
                  "log_level": 2})
    res = []
    p.produce(topic, b"after", partition=0, on_delivery=lambda e, m: res.append((e, m)))
    p.flush(15)
    return res[0] if res else (None, None)


def fill_rest(mnt):
    """Takes every byte the log left, so nothing at all can be written."""
    path = os.path.join(mnt, "filler-rest")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass
    os.close(fd)
    return path


def metadata_and_commits_refused(b):
    """The metadata log and __consumer_offsets live on the same full disk."""
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    f = a.create_topics([NewTopic("full-new", 1, 1)])["full-new"]
    try:
        f.result(30)
        err = None
    except Exception as e:  # noqa: BLE001
        err = e
    check(err is None or "KAFKA_STORAGE_ERROR" in str(err),
          f"create_topics on a full disk: {err or 'created (it fit)'}")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "full-g", "log_level": 2})
    try:
        c.commit(offsets=[TopicPartition(TOPIC, 0, 7)], asynchronous=False)
        cerr = None
    except Exception as e:  # noqa: BLE001
        cerr = e
    c.close()
    # Kafka answers a storage error on __consumer_offsets with NOT_COORDINATOR; when
    # the offsets topic is first created on the full disk, its partition cannot be
    # opened and is offline (no leader), which Kafka reports as COORDINATOR_NOT_AVAILABLE.
    check(cerr is None or "NOT_COORDINATOR" in str(cerr) or
          "COORDINATOR_NOT_AVAILABLE" in str(cerr),
          f"offset commit on a full disk: {cerr or 'stored (it fit)'}")
    check(b.proc.poll() is None, "the broker is still running after metadata and commit writes")


def main():
    mnt = tempfile.mkdtemp(prefix="skein-full-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", mnt],
                      capture_output=True).returncode != 0:
        print("skip: cannot mount a tmpfs here (needs root)")
        return 77
    b = Broker(os.path.abspath(sys.argv[1]), ["num.partitions=1", "log.segment.bytes=4194304"],
               data_dir=mnt)
    try:
        b.start()
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (FILLER_MB << 20))
        acked, errors = produce_until_full(b)
        check(len(acked) > 1000, f"{len(acked)} records acknowledged before the disk filled")
        storage = KafkaError.KAFKA_STORAGE_ERROR
        check(storage in errors or KafkaError._MSG_TIMED_OUT in errors,
              f"then produces failed: {errors} (KAFKA_STORAGE_ERROR is {storage})")
        check(b.proc.poll() is None, "the broker is still running")
        said = [ln for ln in b.stderr_text().splitlines() if "No space left on device" in ln]
        check(said, f"the broker says why: {said[:1]}")
        got = read_back(b, len(acked))
        check(got[:len(acked)] == acked == list(range(len(acked))),
              f"all {len(acked)} acknowledged records read back in order")
        more, errors = produce_until_full(b, 30)
        check(errors and len(more) < 2000,
              f"still full: {len(more)} more acknowledged (slack freed inside the log), then {errors}")
        acked += more
        rest = fill_rest(mnt)
        metadata_and_commits_refused(b)
        os.unlink(filler)
        os.unlink(rest)
        err, m = one_produce(b)
        check(err is None and m.offset() >= len(acked),
              f"space freed: a produce succeeds again at offset {m and m.offset()}")
        err, m = one_produce(b, "full-new")
        check(err is None and m.offset() == 0,
              f"the topic created while the disk was full works once space is freed: {err}")
        b.kill()
        b.start()
        got = read_back(b, len(acked) + 1)
        check(got[:len(acked)] == list(range(len(acked))),
              "after a SIGKILL restart every acknowledged record is there")
        check(b.stop() == 0, "broker exited 0 on SIGTERM")
    finally:
        b.kill()
        subprocess.run(["umount", mnt], capture_output=True)
        os.rmdir(mnt)
    print("all full-disk tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
