#!/usr/bin/python3
"""Group administration through @platformatic/kafka's admin client against a real Skein
broker, with librdkafka members (clients/group_member.py):

  ListGroups and DescribeGroups of a live group; OffsetFetch of its commits;
  DescribeLogDirs; removing members that were killed (LeaveGroup v3+ with member ids)
  empties the group at once instead of after their 30 s session timeout; then, on the
  empty group, an admin OffsetCommit, OffsetDelete and DeleteGroups; DescribeAcls is
  answered SECURITY_DISABLED.

usage: group_admin_test.py SKEIN"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from confluent_kafka import Producer  # noqa: E402

from skeinlib.broker import Broker  # noqa: E402

GROUP, TOPIC, N = "ga-g", "ga-t", 20


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("ok -", msg, flush=True)


def admin(b, step):
    out = subprocess.run(["node", os.path.join(HERE, "js", "group_admin.mjs"), step,
                          b.bootstrap, GROUP, TOPIC], capture_output=True, timeout=60)
    lines = out.stdout.decode().strip().splitlines()
    if not lines:
        raise AssertionError(f"group_admin.mjs {step}: no output; {out.stderr.decode()[-500:]}")
    return json.loads(lines[-1])


def member(b):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "clients", "group_member.py"),
                          "confluent", b.bootstrap, GROUP, TOPIC, "-", "30000"],
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    p.recs, p.parts = set(), None

    def read():
        for line in p.stdout:
            e = json.loads(line)
            if e["ev"] == "rec":
                p.recs.add((e["p"], e["o"]))
            elif e["ev"] == "assigned":
                p.parts = e["parts"]
    threading.Thread(target=read, daemon=True).start()
    return p


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def committed(b):
    got = admin(b, "offsets")["ok"][0]["topics"]
    return {p["partitionIndex"]: int(p["committedOffset"]) for t in got for p in t["partitions"]
            if t["name"] == TOPIC}


def live_group(b, ms):
    g = admin(b, "groups")["ok"]
    listed, desc = g["listed"].get(GROUP), g["described"][GROUP]
    check(listed and listed["state"] == "STABLE" and listed["protocolType"] == "consumer",
          f"ListGroups: {listed}")
    check(desc["state"] == "STABLE" and len(desc["members"]) == 2 and desc["protocol"] == "range",
          f"DescribeGroups: {desc['state']}, {len(desc['members'])} members, {desc['protocol']}")
    check(committed(b) == {0: N // 2, 1: N // 2},
          "OffsetFetch shows the members' commits at the log ends")
    dirs = admin(b, "logdirs")["ok"][0]["results"][0]
    sizes = {p["partitionIndex"]: int(p["partitionSize"]) for t in dirs["topics"]
             if t["name"] == TOPIC for p in t["partitions"]}
    check(sorted(sizes) == [0, 1] and all(v > 0 for v in sizes.values()),
          f"DescribeLogDirs sizes {sizes} in {dirs['logDir']}")


def main():
    b = Broker(os.path.abspath(sys.argv[1]), ["num.partitions=2",
                                               "group.initial.rebalance.delay.ms=0"])
    b.start()
    ms = []
    try:
        p = Producer({"bootstrap.servers": b.bootstrap})
        for i in range(N):
            p.produce(TOPIC, b"v%d" % i, partition=i % 2)
        check(p.flush(30) == 0, f"produced {N} records to 2 partitions")
        ms = [member(b), member(b)]
        wait_for(lambda: sorted(len(m.parts or []) for m in ms) == [1, 1] and
                 len(ms[0].recs | ms[1].recs) == N, 60, "two members to consume everything")
        time.sleep(1)
        live_group(b, ms)
        for m in ms:
            m.send_signal(signal.SIGKILL)
            m.wait()
        t0 = time.time()
        r = admin(b, "remove")
        check("error" not in r, f"removeMembersFromConsumerGroup: {r}")
        state = admin(b, "groups")["ok"]["described"][GROUP]["state"]
        check(state == "EMPTY" and time.time() - t0 < 25,
              f"the killed members are gone at once, not after 30 s: {state}")
        check("error" not in admin(b, "alter"), "admin OffsetCommit on the empty group")
        check(committed(b) == {0: 5, 1: N // 2}, f"partition 0 now at 5: {committed(b)}")
        check("error" not in admin(b, "deloffsets"), "OffsetDelete of partition 1")
        check(committed(b).get(1, -1) == -1, f"partition 1 has no commit left: {committed(b)}")
        check("error" not in admin(b, "delete"), "DeleteGroups")
        check(GROUP not in admin(b, "groups")["ok"]["listed"], "the group is no longer listed")
        acl = admin(b, "acls")
        check("error" in acl and any("DescribeAcls" in c for c in acl["causes"]),
              f"DescribeAcls without an authorizer is refused: {acl}")
        check(b.stop() == 0, "broker exited 0 on SIGTERM")
    finally:
        for m in ms:
            if m.poll() is None:
                m.kill()
        b.cleanup()
    print("all group admin tests passed")


if __name__ == "__main__":
    main()
