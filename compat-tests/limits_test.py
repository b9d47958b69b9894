#!/usr/bin/python3
"""No request can take a Skein node down: admission, loadable metadata, a
network that keeps its descriptors, and a bounded shutdown.

Scenarios, each with its own broker:
  huge      confluent-kafka-python's AdminClient creates NewTopic("huge", 100000, 1):
            refused with POLICY_VIOLATION "Unable to perform excessively large
            batch operation.", the metadata log unchanged, another client
            produces, and after a restart "huge" does not exist.
  budget    under an open-file limit of 20,000: the largest operation the limits
            allow (one topic of 9,999 partitions, 10,000 records), then topics of
            3,000 partitions until the partition budget refuses one with a
            message naming the limit and the setting; the node serves, and after
            kill -9 it starts again with every partition created.
  emfile    under an open-file limit of 128: connections beyond the descriptors
            are closed at once (not left hanging), the broker does not spin, the
            connections it holds are served, and new ones are once fds free up.
  mutations controller_mutation_rate=1 for one client id (set with @platformatic/kafka's
            admin client): its CreateTopics v7 of two 20-partition topics creates
            the first and refuses the second with THROTTLING_QUOTA_EXCEEDED (KIP-599
            strict mode); another client id creates at once; a CreateTopics v2 of
            that client id (permissive mode) succeeds with throttle_time_ms set.
  unloadable a metadata log batch whose record does not decode (valid CRC) stops
            start-up with its offset, the reason and the way out; started once with
            skein.metadata.log.truncate.unloadable=true the node cuts the log there
            and serves, and starts again without it.
  offline   a partition whose log cannot be opened (its folder replaced by a file)
            is offline (Metadata: LEADER_NOT_AVAILABLE, the node as offline
            replica) while the node serves the others; SIGTERM ends it with
            exit 0 promptly while the open is retried.

usage: limits_test.py SKEIN [scenario...]"""
import ctypes
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from skeinlib import wire  # noqa: E402
from skeinlib.broker import Broker, BrokerError  # noqa: E402

POLICY_VIOLATION = 44
LEADER_NOT_AVAILABLE = 5
THROTTLING_QUOTA_EXCEEDED = 89
THROTTLED = "The throttling quota has been exceeded."
EXCESSIVE = "Unable to perform excessively large batch operation."
CAP_SYS_RESOURCE = 24
PR_CAPBSET_DROP = 24


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("ok -", msg, flush=True)


def wait_for(what, cond, timeout=60, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def limit_fds(n):
    """preexec_fn: the broker gets n descriptors and cannot raise them (it takes
    fs.nr_open when it holds CAP_SYS_RESOURCE)."""
    def fn():
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0)
        except OSError:
            pass
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return fn


class LimitedBroker(Broker):
    """A broker started with a lower open-file limit."""

    def __init__(self, skein, nofile, **kw):
        super().__init__(skein, **kw)
        self.nofile = nofile

    def launch(self):
        import threading
        self._ready.clear()
        self.lines = []
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=limit_fds(self.nofile))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self.proc


def restart(b, timeout=120):
    """Starts b again after a kill -9. The killed process's listening socket
    goes with its io_uring, which the kernel tears down after the exit: until
    then the port may still be bound, so that one failure is waited out."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return b.start(timeout)
        except BrokerError:
            if "Address already in use" not in b.stderr_text() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def admin(b):
    return AdminClient({"bootstrap.servers": b.bootstrap, "log_level": 2})


def create(b, name, partitions, timeout=120):
    """Returns (error code, message) of one CreateTopics for one topic; 0 on success."""
    a = admin(b)  # kept alive until the answer: a destroyed client fails its futures
    fs = a.create_topics([NewTopic(name, partitions, 1)], request_timeout=timeout,
                         operation_timeout=timeout)
    try:
        fs[name].result(timeout)
        return 0, ""
    except KafkaException as e:
        err = e.args[0]
        return err.code(), err.str()


def topic_partitions(b, name):
    """The topic's partitions from a Metadata v9 that does not auto-create, or None."""
    t = partition_state(b.port, name)
    if t is None or t["error"] != 0:
        return None
    return {p["partition"]: p for p in t["partitions"]}


def produce_ok(b, topic, partition=0, n=10):
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "message.timeout.ms": 30000,
                  "log_level": 2})
    acked = []
    for i in range(n):
        p.produce(topic, b"v%d" % i, partition=partition,
                  on_delivery=lambda err, m: acked.append(err))
    p.flush(40)
    return len(acked) == n and all(e is None for e in acked)


def consume_count(b, topic, partition, n):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "limits-reader",
                  "enable.auto.commit": False, "log_level": 2})
    c.assign([TopicPartition(topic, partition, 0)])
    got, deadline = 0, time.monotonic() + 30
    while got < n and time.monotonic() < deadline:
        for m in c.consume(100, 0.5):
            if m.error() is None:
                got += 1
    c.close()
    return got


def partition_state(port, topic):
    md = wire.metadata(port, [topic], auto_create=False, timeout=30)
    for t in md["topics"]:
        if t["name"] == topic:
            return t
    return None


def metadata_log_bytes(b):
    d = os.path.join(b.data_dir, "logs", "__cluster_metadata-0")
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".log"))


def budget_of(b):
    for line in b.lines:
        if "partition budget " in line:
            return int(line.split("partition budget ")[1].split()[0])
    raise AssertionError("the broker did not log its partition budget")


def stop_clean(b, timeout=30):
    """SIGTERM: True if the broker exited 0 without a sanitizer report."""
    rc = b.stop(timeout)
    report = b.sanitizer_report()
    if report:
        print(report[-4000:])
    return rc == 0 and report is None


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ---- scenarios -------------------------------------------------------------------


def scenario_huge(skein):
    b = Broker(skein).start()
    try:
        check(create(b, "small", 1) == (0, ""), "huge: a small topic is created")
        before = metadata_log_bytes(b)
        code, msg = create(b, "huge", 100000)
        check(code == POLICY_VIOLATION and msg == EXCESSIVE,
              "huge: NewTopic('huge', 100000, 1) refused with POLICY_VIOLATION '%s' (got %s '%s')"
              % (EXCESSIVE, code, msg))
        check(metadata_log_bytes(b) == before, "huge: the metadata log is unchanged (%d bytes)"
              % before)
        check(topic_partitions(b, "huge") is None, "huge: the topic does not exist")
        check(produce_ok(b, "small"), "huge: another client produces to another topic")
        check(stop_clean(b), "huge: SIGTERM stops the broker with exit 0")
        b.start()
        check(topic_partitions(b, "huge") is None and topic_partitions(b, "small") is not None,
              "huge: after a restart 'huge' is absent and 'small' is there")
    finally:
        b.cleanup()


def scenario_budget(skein):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 20000 if hard == resource.RLIM_INFINITY else min(20000, hard)
    b = LimitedBroker(skein, nofile).start(timeout=60)
    try:
        budget = budget_of(b)
        print("# open-file limit %d gives a partition budget of %d" % (nofile, budget))
        check(budget > 9999 + 3000, "budget: the budget (%d) takes the largest operation and a "
              "3,000-partition topic" % budget)
        t0 = time.monotonic()
        check(create(b, "largest", 9999) == (0, ""),
              "budget: one topic of 9,999 partitions (10,000 records, the most one operation "
              "writes) is created in %.1f s" % (time.monotonic() - t0))
        hosted, made, refused = 9999, [], None
        while refused is None:
            name = "t%d" % len(made)
            code, msg = create(b, name, 3000)
            if code == 0:
                made.append(name)
                hosted += 3000
                check(hosted <= budget, "budget: %s created, %d partitions hosted" % (name, hosted))
            else:
                refused = (code, msg)
        check(hosted + 3000 > budget, "budget: refused only past the budget (%d + 3000 > %d)"
              % (hosted, budget))
        code, msg = refused
        check(code == POLICY_VIOLATION and "limit of %d" % budget in msg
              and "skein.max.partitions.per.shard" in msg and "open-file limit %d" % nofile in msg,
              "budget: the last topic is refused with POLICY_VIOLATION naming the limit and the "
              "setting: %s" % msg)
        check(produce_ok(b, "largest", 9998), "budget: the node serves (produce to largest-9998)")
        check(wire.api_versions(b.port) is not None, "budget: a new connection is served")
        fds = open_fds(b.proc.pid)
        check(fds < nofile - 3000, "budget: %d fds open of %d, the connection reserve is free"
              % (fds, nofile))
        b.kill()
        t0 = time.monotonic()
        restart(b)
        check(True, "budget: after kill -9 the node starts again in %.1f s"
              % (time.monotonic() - t0))
        parts = topic_partitions(b, "largest")
        check(parts is not None and len(parts) == 9999, "budget: largest has its 9,999 "
              "partitions after the restart")
        for name in made:
            check(len(topic_partitions(b, name) or {}) == 3000, "budget: %s has 3,000 partitions"
                  % name)
        check(produce_ok(b, "largest", 9998) and consume_count(b, "largest", 9998, 20) == 20,
              "budget: what was produced before and after kill -9 reads back")
        check(stop_clean(b, 60), "budget: SIGTERM stops the broker with exit 0")
    finally:
        b.cleanup()


def connect_all(port, n):
    """Opens n connections, each sending ApiVersions; returns (served, shed, hanging)."""
    served, shed, hanging = [], 0, 0
    for i in range(n):
        try:
            c = wire.Conn(port, timeout=10)
            c.send(wire.api_versions_request(3, i))
        except OSError:
            shed += 1
            continue
        try:
            c.recv_frame(5)
            served.append(c)
        except wire.Closed:
            shed += 1
            c.close()
        except socket.timeout:
            hanging += 1
            c.close()
    return served, shed, hanging


def scenario_emfile(skein):
    nofile = 128
    b = LimitedBroker(skein, nofile).start()
    try:
        served, shed, hanging = connect_all(b.port, 200)
        print("# %d connections served, %d shed, %d hanging" % (len(served), shed, hanging))
        check(shed > 0 and hanging == 0, "emfile: connections past the descriptors are closed at "
              "once (%d shed), none left hanging (%d)" % (shed, hanging))
        check(len(served) > 50, "emfile: the broker served %d connections" % len(served))
        pid = b.proc.pid
        cpu0 = cpu_seconds(pid)
        time.sleep(2)
        cpu = cpu_seconds(pid) - cpu0
        check(cpu < 0.5, "emfile: the broker does not spin while out of fds (%.2f CPU s in 2 s)"
              % cpu)
        for i, c in enumerate(served[:5]):
            c.send(wire.api_versions_request(3, 1000 + i))
            c.recv_frame(10)
        check(True, "emfile: connections it holds are still served")
        for c in served[:40]:
            c.close()
        def fresh():
            try:
                return wire.api_versions(b.port, timeout=5) is not None
            except (wire.Closed, OSError):
                return False
        wait_for("a new connection to be served once fds are freed", fresh, timeout=30,
                 every=0.2)
        check(True, "emfile: a new connection is served once fds free up")
        warns = [l for l in b.lines if "out of file descriptors" in l]
        spam = [l for l in b.lines if "accept failed" in l]
        check(warns and len(warns) <= 3 and not spam, "emfile: logged once per interval (%d "
              "lines), no accept error per attempt (%d)" % (len(warns), len(spam)))
        for c in served[40:]:
            c.close()
        check(stop_clean(b), "emfile: SIGTERM stops the broker with exit 0")
    finally:
        b.cleanup()


def scenario_offline(skein):
    b = Broker(skein).start()
    try:
        check(create(b, "good", 2) == (0, "") and create(b, "stuck", 200) == (0, ""),
              "offline: topics good (2 partitions) and stuck (200) created")
        check(produce_ok(b, "good"), "offline: good takes records")
        # Each shard opens the logs of its partitions when it applies the
        # new image, after CreateTopics is answered (as Kafka's brokers do).
        logs = os.path.join(b.data_dir, "logs")
        wait_for("every partition of stuck has its log",
                 lambda: all(os.path.isdir(os.path.join(logs, "stuck-%d" % i)) for i in range(200)))
        b.kill()
        for i in range(1, 200):
            d = os.path.join(b.data_dir, "logs", "stuck-%d" % i)
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)
            with open(d, "w") as f:
                f.write("not a directory\n")
        restart(b)
        offline = [l for l in b.lines if "is offline: cannot open its log" in l]
        check(len(offline) == 199 and any("stuck-1 is offline" in l for l in offline),
              "offline: the broker starts and logs each of stuck-1..199 offline once (%d lines)"
              % len(offline))
        parts = topic_partitions(b, "stuck")
        p0, p1 = parts[0], parts[1]
        check(p1["leader"] == -1 and p1["error"] == LEADER_NOT_AVAILABLE and p1["offline"] == [1],
              "offline: Metadata says stuck-1 has no leader (LEADER_NOT_AVAILABLE) and node 1 "
              "as offline replica (%s)" % p1)
        check(p0["leader"] == 1 and p0["error"] == 0, "offline: stuck-0 is led by node 1")
        check(produce_ok(b, "good") and produce_ok(b, "stuck", 0),
              "offline: the other partitions take records")
        wait_for("two retries of the opens", lambda: "retried" in b.stderr_text(), 30)
        time.sleep(2.5)  # and a couple more
        check(len([l for l in b.lines if "is offline: cannot open its log" in l]) == 199,
              "offline: retries do not log each partition again")
        t0 = time.monotonic()
        ok = stop_clean(b, 15)
        took = time.monotonic() - t0
        check(ok and took < 8, "offline: SIGTERM while the open is retried exits 0 in "
              "%.1f s" % took)
    finally:
        b.cleanup()


def node(script, *args):
    out = subprocess.run(["node", os.path.join(HERE, "js", script), *args], capture_output=True,
                         timeout=90)
    lines = out.stdout.decode().strip().splitlines()
    if out.returncode != 0 or not lines:
        raise AssertionError("%s %s failed: %s %s" % (script, args, out.stdout.decode(),
                                                      out.stderr.decode()[-2000:]))
    return json.loads(lines[-1])


def create_v2(port, name, partitions, client_id):
    """CreateTopics v2 (before KIP-599's strict mode): (error code, throttle_time_ms)."""
    body = struct.pack(">i", 1) + wire.string(name) + struct.pack(">ihi", partitions, 1, 0)
    body += struct.pack(">i", 0) + struct.pack(">ib", 15000, 0)
    c = wire.Conn(port, timeout=30)
    try:
        c.send(wire.frame(wire.header(19, 2, 5, client_id=client_id) + body))
        corr, resp = c.recv_frame(30)
    finally:
        c.close()
    throttle, count = struct.unpack_from(">ii", resp, 0)
    nlen = struct.unpack_from(">h", resp, 8)[0]
    (err,) = struct.unpack_from(">h", resp, 10 + nlen)
    return err, throttle


def scenario_mutations(skein):
    b = Broker(skein).start()
    try:
        node("quotas.mjs", "set", b.bootstrap, "mut", "controller_mutation_rate", "1")
        out = node("mutations.mjs", b.bootstrap, "mut", "20", "m1+m2")["m1+m2"]
        check(out["code"] == THROTTLING_QUOTA_EXCEEDED and out["message"] == THROTTLED,
              "mutations: a CreateTopics v7 over controller_mutation_rate=1 is refused with "
              "THROTTLING_QUOTA_EXCEEDED '%s' (%s)" % (THROTTLED, out))
        check(topic_partitions(b, "m1") is not None and topic_partitions(b, "m2") is None,
              "mutations: the first topic (within the burst) was created, the second not")
        t0 = time.monotonic()
        out = node("mutations.mjs", b.bootstrap, "other", "20", "o1")["o1"]
        check(out["code"] == 0 and time.monotonic() - t0 < 10,
              "mutations: another client id creates at once (%s)" % out)
        err, throttle = create_v2(b.port, "p1", 5, "mut")
        check(err == 0 and throttle > 0, "mutations: CreateTopics v2 of the throttled client is "
              "done but throttled (error %d, throttle_time_ms %d)" % (err, throttle))
        check(stop_clean(b), "mutations: SIGTERM stops the broker with exit 0")
    finally:
        b.cleanup()


def crc32c(data):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def zigzag(n):
    n = (n << 1) ^ (n >> 63)
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])


def record_batch(base, value, ts):
    """A RecordBatch v2 of one record (no key, no headers) with a valid CRC-32C."""
    rec = b"\x00" + zigzag(0) + zigzag(0) + zigzag(-1) + zigzag(len(value)) + value + zigzag(0)
    rec = zigzag(len(rec)) + rec
    after_crc = struct.pack(">hiqqqhii", 0, 0, ts, ts, -1, -1, -1, 1) + rec
    body = struct.pack(">ibI", 0, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", base, len(body)) + body


def segment_end(path):
    data = open(path, "rb").read()
    p, end = 0, 0
    while p + 27 <= len(data):
        base, blen = struct.unpack_from(">qi", data, p)
        (delta,) = struct.unpack_from(">i", data, p + 23)
        end, p = base + delta + 1, p + 12 + blen
    return end


def scenario_unloadable(skein):
    b = Broker(skein).start()
    try:
        check(create(b, "before", 1) == (0, ""), "unloadable: topic 'before' created")
        check(stop_clean(b), "unloadable: SIGTERM stops the broker with exit 0")
        d = os.path.join(b.data_dir, "logs", "__cluster_metadata-0")
        seg = os.path.join(d, sorted(f for f in os.listdir(d) if f.endswith(".log"))[-1])
        end = segment_end(seg)
        with open(seg, "ab") as f:
            f.write(record_batch(end, b"\x00\x63\x00\x01\x02", int(time.time() * 1000)))
        b.launch()
        rc = b.wait(30)
        err = b.stderr_text()
        check(rc == 1 and "at offset %d" % end in err
              and "skein.metadata.log.truncate.unloadable=true" in err,
              "unloadable: start-up stops naming offset %d, the reason and the way out: %s"
              % (end, err.strip().splitlines()[-1] if err.strip() else "(nothing)"))
        b.extra.append("skein.metadata.log.truncate.unloadable=true")
        b.start()
        check(any("dropped offsets %d" % end in line for line in b.lines),
              "unloadable: with the option the log is cut at offset %d, logged" % end)
        check(topic_partitions(b, "before") is not None and produce_ok(b, "before"),
              "unloadable: the node serves what was recorded before")
        check(stop_clean(b), "unloadable: SIGTERM stops the broker with exit 0")
        b.extra.pop()
        b.start()
        check(topic_partitions(b, "before") is not None,
              "unloadable: it starts again without the option")
        check(stop_clean(b), "unloadable: SIGTERM stops the broker with exit 0")
    finally:
        b.cleanup()


SCENARIOS = {"huge": scenario_huge, "budget": scenario_budget, "emfile": scenario_emfile,
             "mutations": scenario_mutations, "unloadable": scenario_unloadable,
             "offline": scenario_offline}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    skein = sys.argv[1]
    names = sys.argv[2:] or list(SCENARIOS)
    t0 = time.monotonic()
    for n in names:
        print("# scenario", n, flush=True)
        SCENARIOS[n](skein)
    print("# all passed in %.1f s" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
