#!/usr/bin/python3
"""No acknowledged metadata change is lost: CreateTopics requests, one at a
time, until the broker is killed with SIGKILL at a random moment; after a
restart every topic whose creation was acknowledged is there. The node is a
one-voter Raft quorum: each start is a new leader epoch, which the
quorum-state file records as Kafka writes it. Metadata snapshots are taken
every few changes, so the log below them goes while the quorum runs on it.
Repeated ROUNDS times.

usage: metadata_kill_test.py SKEIN_BIN [ROUNDS]"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib.broker import Broker  # noqa: E402

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

failures = []


def expect(ok, what, want, got):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else f": want {want}, got {got}"))
    if not ok:
        failures.append(what)


def create_until_killed(port, prefix, acked, stop):
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}",
                         "socket.timeout.ms": 3000, "retries": 0})
    i = 0
    while not stop.is_set():
        name = f"{prefix}-{i}"
        i += 1
        try:
            fs = admin.create_topics([NewTopic(name, 1, 1)], request_timeout=5)
            fs[name].result(timeout=5)
            acked.append(name)
        except Exception:  # the broker died under the request: not acknowledged
            return


def topics_of(port):
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    md = admin.list_topics(timeout=20)
    return set(md.topics)


def quorum_state(data_dir):
    path = os.path.join(data_dir, "logs", "__cluster_metadata-0", "quorum-state")
    if not os.path.exists(path):
        path = os.path.join(data_dir, "__cluster_metadata-0", "quorum-state")
    with open(path) as f:
        return json.loads(f.read())


def find_data(b):
    for root, dirs, _ in os.walk(b.data_dir):
        if "__cluster_metadata-0" in dirs:
            return root
    return b.data_dir


def main():
    skein = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rng = random.Random(int(os.environ.get("SKEIN_SEED", time.time())))
    all_acked = []
    snaps = ["metadata.log.max.record.bytes.between.snapshots=4096"]
    b = Broker(skein, overrides=snaps).start()
    data = b.data_dir
    try:
        for r in range(rounds):
            acked, stop = [], threading.Event()
            t = threading.Thread(target=create_until_killed,
                                 args=(b.port, f"r{r}", acked, stop))
            t.start()
            deadline = time.monotonic() + 30
            while len(acked) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.5))
            b.kill()
            stop.set()
            t.join(30)
            all_acked += acked
            expect(len(acked) >= 3, f"round {r}: creations acknowledged before the kill",
                   ">= 3", len(acked))
            b = Broker(skein, overrides=snaps, data_dir=data).start()
            got = topics_of(b.port)
            lost = [n for n in all_acked if n not in got]
            expect(not lost, f"round {r}: every acknowledged creation survives SIGKILL",
                   "none lost", lost[:5])
            qs = quorum_state(find_data(b))
            expect(qs.get("leaderId") == 1 and qs.get("leaderEpoch") == r + 2
                   and qs.get("data_version") == 0,
                   f"round {r}: quorum-state names this node leader of epoch {r + 2}",
                   {"leaderId": 1, "leaderEpoch": r + 2, "data_version": 0}, qs)
        md = os.path.join(find_data(b), "__cluster_metadata-0")
        snapshots = [f for f in os.listdir(md) if f.endswith(".checkpoint")]
        expect(len(snapshots) > 0, "metadata snapshots were taken", "at least one", snapshots)
        rc = b.stop()
        expect(rc == 0, "exit status after SIGTERM", 0, rc)
        report = b.sanitizer_report()
        expect(report is None, "no sanitizer report", None, report and report[-2000:])
        # A torn quorum-state would forget a vote: the node refuses to start.
        qs_path = os.path.join(find_data(b), "__cluster_metadata-0", "quorum-state")
        with open(qs_path, "r+") as f:
            f.truncate(20)
        b = Broker(skein, data_dir=data)
        b.launch()
        rc = b.wait(30)
        expect(rc not in (None, 0), "a damaged quorum-state refuses start-up",
               "non-zero exit", rc)
        expect("quorum-state is damaged" in b.stderr_text(), "the reason names the file",
               "quorum-state is damaged", b.tail(3))
    finally:
        b.own_dir = True
        b.cleanup()
    print(f"{len(all_acked)} acknowledged creations, {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
