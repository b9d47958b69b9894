#!/usr/bin/python3
"""Nothing acknowledged is lost: a kafka-python producer with acks=all writes
numbered records until the broker is killed with SIGKILL at a random moment;
after a restart, every acknowledged record is on disk exactly once and in
order (read back with skein-dump-log, and with a consumer when the broker
serves Fetch). Repeated ROUNDS times. Then a segment whose tail is overwritten
with garbage is truncated at start-up and the rest is served.

usage: durability_test.py SKEIN_BIN [ROUNDS]"""
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker  # noqa: E402

from kafka import KafkaProducer  # noqa: E402

TOPIC = "durable"


def dump_values(dump_bin, part_dir):
    """Record values in log order, from every segment of the partition."""
    segs = sorted(f for f in os.listdir(part_dir) if f.endswith(".log"))
    out = subprocess.run([dump_bin, "--print-data-log", "--files"]
                         + [os.path.join(part_dir, s) for s in segs],
                         capture_output=True, text=True, check=False).stdout
    return [int(m.group(1)) for m in re.finditer(r" payload: (\d+)$", out, re.M)]


def produce_until_killed(broker, start, acked, stop):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", retries=0,
                      linger_ms=1, max_in_flight_requests_per_connection=1,
                      request_timeout_ms=5000, max_block_ms=5000)
    i = start

    def ok(n):
        return lambda _md: acked.append(n)

    try:
        while not stop.is_set():
            p.send(TOPIC, value=str(i).encode()).add_callback(ok(i))
            i += 1
            if i % 50 == 0:
                p.flush(5)
    except Exception:
        pass
    try:
        p.close(1)
    except Exception:
        pass


def one_round(skein, dump_bin, data_dir, rnd, all_acked, start):
    b = Broker(skein, data_dir=data_dir, overrides=["num.partitions=1"])
    b.start()
    acked = []
    stop = threading.Event()
    t = threading.Thread(target=produce_until_killed, args=(b, start, acked, stop))
    t.start()
    time.sleep(random.uniform(0.3, 1.5))
    b.kill()
    stop.set()
    t.join(30)
    all_acked.update(acked)
    b2 = Broker(skein, data_dir=data_dir, port=b.port)
    b2.start()
    rc = b2.stop()
    if rc != 0:
        raise AssertionError("round %d: broker exited %s after recovery" % (rnd, rc))
    values = dump_values(dump_bin, os.path.join(data_dir, "logs", TOPIC + "-0"))
    if len(values) != len(set(values)):
        raise AssertionError("round %d: duplicate records on disk" % rnd)
    if values != sorted(values):
        raise AssertionError("round %d: records out of order on disk" % rnd)
    missing = all_acked - set(values)
    if missing:
        raise AssertionError("round %d: %d acknowledged records lost, e.g. %s"
                             % (rnd, len(missing), sorted(missing)[:5]))
    return len(all_acked), values


def torn_tail(skein, dump_bin, data_dir):
    part = os.path.join(data_dir, "logs", TOPIC + "-0")
    before = dump_values(dump_bin, part)
    seg = sorted(f for f in os.listdir(part) if f.endswith(".log"))[-1]
    path = os.path.join(part, seg)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:  # overwrite the last 100 bytes, then add garbage
        f.seek(max(0, size - 100))
        f.write(os.urandom(100) + os.urandom(3000))
    b = Broker(skein, data_dir=data_dir)
    b.start()
    text = b.stderr_text()
    rc = b.stop()
    after = dump_values(dump_bin, part)
    if rc != 0 or "truncated" not in text:
        raise AssertionError("torn tail: no truncation logged (rc %s):\n%s" % (rc, text[-2000:]))
    if after != before[:len(after)] or len(after) < len(before) - 100:
        raise AssertionError("torn tail: kept %d of %d records, or not a prefix"
                             % (len(after), len(before)))
    return len(before), len(after)


def main():
    skein = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    dump_bin = os.path.join(os.path.dirname(os.path.dirname(skein)), "tools", "skein-dump-log")
    import tempfile
    data_dir = tempfile.mkdtemp(prefix="skein-durability-")
    all_acked, start = set(), 0
    for r in range(rounds):
        acked, values = one_round(skein, dump_bin, data_dir, r, all_acked, start)
        start = (values[-1] + 1) if values else 0
        print("round %2d: %6d acknowledged so far, %6d on disk: ok" % (r, acked, len(values)))
    before, after = torn_tail(skein, dump_bin, data_dir)
    print("torn tail: %d records before, %d served after truncation: ok" % (before, after))
    import shutil
    shutil.rmtree(data_dir, ignore_errors=True)
    print("durability: %d rounds of SIGKILL, nothing acknowledged lost" % rounds)


if __name__ == "__main__":
    main()
