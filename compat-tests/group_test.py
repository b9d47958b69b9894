#!/usr/bin/python3
"""Consumer-group membership and committed offsets, per client library, against a
real Skein broker.

For each client (librdkafka via confluent-kafka, kafka-python, kafkajs, sarama), with a
producer writing to a 6-partition topic throughout, members run as separate processes
(clients/group_member.py, js/group_member.mjs, go/member.go) and report every
assignment and every record they process:

  1. three members split the partitions 2/2/2;
  2. a fourth joins: 1/1/2/2; kafka-python's and kafkajs's admin clients show the group
     Stable with the members' own assignments, and list it;
  3. the fourth leaves cleanly (SIGTERM, the client closes): 2/2/2 well inside the
     session timeout, so by LeaveGroup;
  4. one member is killed (SIGKILL): the other two get 3/3, no sooner than the session
     timeout;
  5. every produced record was processed, and none at an offset below a commit the
     broker had already acknowledged for its partition (so duplicates are only the
     uncommitted records of a killed member or a failed commit, which the commit
     semantics allow);
  6. the members close, the broker is restarted (SIGTERM, then SIGKILL), and new members
     resume from the commits: they process exactly the records produced since;
  7. for clients with static membership (group.instance.id): a static member killed and
     restarted within its session timeout gets its partitions back and the other
     member sees no rebalance.

usage: group_test.py SKEIN [CLIENT ...]"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from kafka import KafkaAdminClient  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402

from skeinlib.broker import Broker  # noqa: E402
from skeinlib.sarama import build_sarama  # noqa: E402

PY = "/usr/bin/python3"
SESSION_MS = 6000
PARTITIONS = 6
WORK = tempfile.mkdtemp(prefix="skein-group-life-")


def py_member(lib):
    return lambda b, g, t, inst: [PY, os.path.join(HERE, "clients", "group_member.py"), lib,
                                  b, g, t, inst, str(SESSION_MS)]


def js_member(b, g, t, inst):
    return ["node", os.path.join(HERE, "js", "group_member.mjs"), "member", b, g, t, inst,
            str(SESSION_MS)]


def go_member(b, g, t, inst):
    return [SARAMA[0], "member", "--bootstrap", b, "--group", g, "--topic", t,
            "--instance", inst, "--session", str(SESSION_MS)]


SARAMA = [None]
CLIENTS = {  # name: (member argv builder, has static membership)
    "librdkafka": (py_member("confluent"), True),
    "kafka-python": (py_member("kafka-python"), False),
    "kafkajs": (js_member, False),
    "sarama": (go_member, False),
}


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)
    print("ok -", msg, flush=True)


class Member:
    """One member process; its events are read on a thread."""

    def __init__(self, argv, name):
        self.name = name
        self.err = open(os.path.join(WORK, name + ".stderr"), "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        self.lock = threading.Lock()
        self.parts, self.assigns, self.recs, self.errors = None, [], [], []
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if e["ev"] == "assigned":
                    self.parts = sorted(e["parts"])
                    self.assigns.append((e["t"], self.parts))
                elif e["ev"] == "rec":
                    self.recs.append((e["t"], e["p"], e["o"]))
                elif e["ev"] == "closed":
                    self.closed = True
                elif e["ev"] == "error":
                    self.errors.append(e["msg"])

    def alive(self):
        return self.proc.poll() is None

    def term(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail(f"{self.name} did not close within 30 s of SIGTERM")
        time.sleep(0.1)
        check(self.closed, f"{self.name} closed its consumer cleanly")

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Load:
    """Produces to every partition until stopped; remembers each acknowledged offset."""

    def __init__(self, bootstrap, topic, rate=150):
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
        self.topic, self.rate = topic, rate
        self.acked, self.failed = set(), []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _cb(self, err, msg):
        if err is None:
            self.acked.add((msg.partition(), msg.offset()))
        else:
            self.failed.append(str(err))

    def _run(self):
        i = 0
        while not self.stop_ev.is_set():
            self.p.produce(self.topic, value=b"r%d" % i, partition=i % PARTITIONS,
                           on_delivery=self._cb)
            self.p.poll(0)
            i += 1
            time.sleep(1.0 / self.rate)

    def stop(self):
        self.stop_ev.set()
        self.t.join()
        check(self.p.flush(60) == 0 and not self.failed,
              f"producer: {len(self.acked)} records acknowledged, none failed {self.failed[:3]}")


class CommitWatch:
    """Samples the group's committed offsets from the broker (OffsetFetch), so a record
    processed below an offset the broker had already acknowledged as committed shows."""

    def __init__(self, bootstrap, group):
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.group, self.samples = group, []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                got = self.admin.list_consumer_group_offsets(self.group)
                now = time.time()
                self.samples.append((now, {tp.partition: om.offset for tp, om in got.items()}))
            except Exception:  # noqa: BLE001 - sampling continues across restarts
                pass
            time.sleep(0.1)

    def stop(self):
        self.stop_ev.set()
        self.t.join()
        self.admin.close()

    def below_commit(self, members, margin=0.2):
        """Processings of (p, o) after the broker had answered a commit above o."""
        bad = []
        high = {}  # partition -> [(time, committed)] increasing
        for t, offs in self.samples:
            for p, c in offs.items():
                if not high.get(p) or c > high[p][-1][1]:
                    high.setdefault(p, []).append((t, c))
        for m in members:
            for t, p, o in m.recs:
                for ts, c in high.get(p, []):
                    if ts < t - margin and c > o:
                        bad.append((m.name, p, o, c))
                        break
        return bad


def wait_for(cond, timeout, what, state):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise Fail(f"timed out after {timeout}s waiting for {what}: {state()}")


def split_ok(ms, sizes):
    """The live members' own latest assignments are disjoint, cover every partition and
    have these sizes."""
    got = [m.parts for m in ms]
    if any(p is None for p in got):
        return False
    flat = sorted(x for p in got for x in p)
    return flat == list(range(PARTITIONS)) and sorted(len(p) for p in got) == sizes


def state_of(ms):
    return lambda: {m.name: (m.parts, len(m.recs), m.errors[-1:], m.alive()) for m in ms}


def wait_split(ms, sizes, timeout=60):
    wait_for(lambda: split_ok(ms, sizes), timeout, f"assignment sizes {sizes}", state_of(ms))


class Run:
    """The whole sequence for one client library."""

    def __init__(self, broker, client):
        self.b, self.client = broker, client
        self.argv, self.static = CLIENTS[client]
        self.topic, self.group = f"life-{client}", f"life-{client}-g"
        self.members, self.n = [], 0

    def start(self, group=None, instance="-"):
        self.n += 1
        m = Member(self.argv(self.b.bootstrap, group or self.group, self.topic, instance),
                   f"{self.client}-m{self.n}")
        self.members.append(m)
        return m

    def create_topic(self):
        a = KafkaAdminClient(bootstrap_servers=self.b.bootstrap)
        a.create_topics([NewTopic(self.topic, PARTITIONS, 1)])
        a.close()

    def describe(self, live):
        """kafka-python's and kafkajs's admin views against what the members report."""
        own = sorted(m.parts for m in live)
        a = KafkaAdminClient(bootstrap_servers=self.b.bootstrap)
        d = a.describe_consumer_groups([self.group])[0]
        seen = sorted(sorted(p for t in m.member_assignment.assignment for p in t[1])
                      for m in d.members)
        check(d.state == "Stable" and seen == own,
              f"kafka-python DescribeGroups: {d.state}, assignments {seen}")
        listed = dict((g[0], g[1]) for g in a.list_consumer_groups())
        check(listed.get(self.group) == "consumer", "kafka-python ListGroups lists the group")
        a.close()
        out = subprocess.run(["node", os.path.join(HERE, "js", "group_member.mjs"), "describe",
                              self.b.bootstrap, self.group, self.topic],
                             capture_output=True, timeout=60).stdout
        j = json.loads(out.decode().strip().splitlines()[-1])
        seen = sorted(m["parts"] for m in j.get("members", []))
        check(j.get("state") == "Stable" and j.get("protocolType") == "consumer" and seen == own,
              f"kafkajs describeGroups: {j.get('state')}, assignments {seen}")
        check(any(g["groupId"] == self.group for g in j.get("listed", [])),
              "kafkajs listGroups lists the group")

    def membership(self):
        self.create_topic()
        load = Load(self.b.bootstrap, self.topic)
        watch = CommitWatch(self.b.bootstrap, self.group)
        try:
            t0 = time.time()
            m1, m2, m3 = self.start(), self.start(), self.start()
            wait_split([m1, m2, m3], [2, 2, 2])
            check(True, f"three members split 6 partitions 2/2/2 ({time.time() - t0:.2f}s)")
            m4 = self.start()
            wait_split([m1, m2, m3, m4], [1, 1, 2, 2])
            check(True, "a fourth member joined: 1/1/2/2")
            self.describe([m1, m2, m3, m4])
            t0 = time.time()
            m4.term()
            wait_split([m1, m2, m3], [2, 2, 2])
            el = time.time() - t0
            check(el < SESSION_MS / 1000, f"a clean leave rebalanced the rest in {el:.1f}s")
            t0 = time.time()
            m3.kill()
            wait_split([m1, m2], [3, 3], timeout=60)
            el = time.time() - t0
            check(SESSION_MS / 1000 - 1.5 <= el < SESSION_MS / 1000 + 10,
                  f"a killed member was removed after its session timeout ({el:.1f}s)")
        finally:
            load.stop()
        self.drain(load, [m1, m2], watch)
        return watch

    def drain(self, load, live, watch):
        done = lambda: load.acked <= self.processed()  # noqa: E731
        wait_for(done, 60, "every acknowledged record processed",
                 lambda: f"{len(load.acked - self.processed())} missing")
        time.sleep(0.5)
        watch.stop()
        check(True, f"all {len(load.acked)} acknowledged records were processed")
        bad = watch.below_commit(self.members)
        check(not bad, f"no record processed below an acknowledged commit {bad[:5]}")
        count = {}
        for m in self.members:
            for _, p, o in m.recs:
                count[(p, o)] = count.get((p, o), 0) + 1
        dups = sum(1 for v in count.values() if v > 1)
        print(f"# {self.client}: {dups} records processed twice (uncommitted at a handover)",
              flush=True)
        for m in live:
            m.term()

    def processed(self):
        return {(p, o) for m in self.members for _, p, o in m.recs}

    def resume(self, sig):
        """Restart the broker with the group empty; new members start at the commits."""
        a = KafkaAdminClient(bootstrap_servers=self.b.bootstrap)
        before = {tp.partition: om.offset
                  for tp, om in a.list_consumer_group_offsets(self.group).items()}
        a.close()
        done = self.processed()
        ends = {p: max(o for q, o in done if q == p) + 1 for p in range(PARTITIONS)}
        check(before == ends, f"the closed members' commits are at the log ends {before}")
        if sig == signal.SIGKILL:
            self.b.kill()
        else:
            check(self.b.stop() == 0, "broker stopped on SIGTERM")
        self.b.start()
        load = Load(self.b.bootstrap, self.topic, rate=300)
        time.sleep(1)
        load.stop()
        self.members = []
        ms = [self.start(), self.start()]
        wait_for(lambda: load.acked <= self.processed(), 60, "new records processed",
                 state_of(ms))
        time.sleep(1)
        old = sorted((p, o) for p, o in self.processed() if o < before[p])
        check(not old, f"after a restart ({signal.Signals(sig).name}) new members resumed at "
              f"the commits: {len(load.acked)} new records, none below them {old[:5]}")
        for m in ms:
            m.term()

    def static_member(self):
        g = self.group + "-static"
        other = self.start(group=g)
        s = self.start(group=g, instance=f"{self.client}-static-1")
        wait_split([other, s], [3, 3])
        time.sleep(1)
        before_parts, before = s.parts, len(other.assigns)
        s.kill()
        s2 = self.start(group=g, instance=f"{self.client}-static-1")
        wait_for(lambda: s2.parts is not None, SESSION_MS / 1000, "the static member's return",
                 state_of([other, s2]))
        check(s2.parts == before_parts,
              f"the restarted static member got its partitions back {s2.parts}")
        time.sleep(3)
        check(len(other.assigns) == before and other.parts != [] and other.alive(),
              "the other member saw no rebalance")
        s2.kill()
        other.term()

    def run(self):
        print(f"# {self.client}", flush=True)
        try:
            self.membership()
            self.resume(signal.SIGTERM)
            self.resume(signal.SIGKILL)
            if self.static:
                self.static_member()
            else:
                print(f"# {self.client}: no static membership in this client version",
                      flush=True)
        finally:
            for m in self.members:
                m.kill()


def commit_rate(b, topic, committers):
    """Synchronous commits to one group, each answered once durable: committers
    consumers commit in a loop for 2 s (concurrent ones share the group commit)."""
    counts = [0] * committers

    def loop(i):
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "life-commit-rate",
                      "enable.auto.commit": False, "log_level": 2})
        c.commit(offsets=[TopicPartition(topic, i % PARTITIONS, 1)], asynchronous=False)
        t0 = time.time()
        while time.time() - t0 < 2:
            counts[i] += 1
            c.commit(offsets=[TopicPartition(topic, i % PARTITIONS, counts[i] + 1)],
                     asynchronous=False)
        c.close()
    ts = [threading.Thread(target=loop, args=(i,)) for i in range(committers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"# synchronous commits to one group by {committers} consumer(s): "
          f"{sum(counts) / 2:.0f}/s", flush=True)


def main():
    skein = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or list(CLIENTS)
    if "sarama" in names:
        SARAMA[0] = build_sarama(WORK)
        if SARAMA[0] is None:
            raise SystemExit("sarama is not installed (golang-github-shopify-sarama-dev)")
    b = Broker(skein, ["num.partitions=6", "offsets.topic.num.partitions=5",
                       "group.initial.rebalance.delay.ms=500"])
    b.start()
    print("# broker data in", b.data_dir, "member logs in", WORK, flush=True)
    try:
        for name in names:
            Run(b, name).run()
        for n in (1, 4):
            commit_rate(b, f"life-{names[0]}", n)
        check(b.stop() == 0, "broker exited 0 on SIGTERM")
        report = b.sanitizer_report()
        check(report is None, "no sanitizer report from the broker")
    finally:
        b.cleanup()
    print("all group lifecycle tests passed")


if __name__ == "__main__":
    main()
