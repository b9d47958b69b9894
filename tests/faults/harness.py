#!/usr/bin/python3
"""Skein's fault harness: real clients against a node in its own network
namespace while a seeded nemesis kills, pauses, cuts off, drops and delays
the packets of, jumps the wall clock of, fills the disk of and fails the
syncs of the node; then a checker over the recorded history.

  tests/faults/harness.py --ci                      # the short run CI does
  tests/faults/harness.py --rounds 120 --minutes 30 # a long run
  tests/faults/harness.py --relaxed --rounds 10     # flush.messages: loss expected
  tests/faults/harness.py --seed 1234 ...           # replay a schedule
  tests/faults/harness.py --nodes 3 --ci            # a three-node KRaft quorum (metadata)
  tests/faults/harness.py --nodes 3 --faults kill --rounds 50  # minority kills

See tests/faults/README.md."""
import argparse
import atexit
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from faultlib import checker, history, metaload, nemesis, net, node, plot, workload  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
CI_FAULTS = ["kill", "pause", "disk", "fsync", "resource", "powerloss", "term", "loss", "delay",
             "clock"]
# On a quorum each fault hits one node (a minority): the active controller
# or a follower, chosen by the seed; a partition cuts it off from the other
# nodes and the clients; "majority" kills it and enough others to leave a
# minority, then restarts them.
CLUSTER_FAULTS = ["kill", "term", "pause", "partition", "majority"]
LONG_FAULTS = ["kill", "powerloss", "term", "pause", "disk", "fsync", "write", "resource",
               "partition", "loss", "delay", "oneway", "clock"]

# With clock jumps the broker stamps the records (LogAppendTime), so its
# clock reaches the timestamps, the time index and the segments' ages;
# segment.ms is below the largest jump, so a forward jump rolls segments by
# time; retention.ms is far above it, so no jump may legitimately delete
# anything and every acknowledged write must still be read at the end.
CLOCK_TOPIC = {"message.timestamp.type": "LogAppendTime", "segment.ms": "3600000",
               "retention.ms": "86400000"}


def log(msg):
    print("[faults %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skein", default=os.path.join(ROOT, "build", "src", "skein"))
    ap.add_argument("--shim", default=os.path.join(ROOT, "build", "tests", "faults",
                                                   "skein_fault_shim.so"),
                    help="the LD_PRELOAD I/O-error shim (built by meson)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None, help="fault rounds (default 20)")
    ap.add_argument("--minutes", type=float, default=None, help="stop after this long")
    ap.add_argument("--nodes", type=int, default=1,
                    help="1, or a quorum of 3 or 5 combined nodes (default faults: %s)"
                    % ",".join(CLUSTER_FAULTS))
    ap.add_argument("--data", action="store_true",
                    help="with --nodes 3-5: the producers and consumers too, beside the "
                         "metadata workload")
    ap.add_argument("--faults", default=None, help="comma list of " + ",".join(nemesis.ALL))
    ap.add_argument("--ci", action="store_true",
                    help="the bounded CI run: %s, a few minutes" % ",".join(CI_FAULTS))
    ap.add_argument("--relaxed", action="store_true",
                    help="topic with flush.messages/flush.ms set high; kill -9 with page "
                         "cache loss; the checker reports the loss as expected")
    ap.add_argument("--expect-loss", action="store_true",
                    help="with --relaxed: fail unless some acknowledged loss was seen (proves "
                         "the power-loss model and the checker see it)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--rf", type=int, default=1,
                    help="replication factor of the data topic (a quorum of at least that "
                         "many nodes)")
    ap.add_argument("--min-insync", type=int, default=None,
                    help="min.insync.replicas of the data topic (default: 2 when --rf is "
                         "above 1, else 1)")
    ap.add_argument("--acks", choices=("all", "1"), default="all",
                    help="the producers' acks; with 1 the librdkafka producers run without "
                         "idempotence and one request in flight, and the checker reports the "
                         "loss that acks=1 allows (an unreplicated tail) as expected")
    ap.add_argument("--rate", type=float, default=300, help="writes/s per librdkafka producer")
    ap.add_argument("--client-debug", default=None, metavar="CONTEXTS",
                    help="librdkafka debug contexts for the producers (e.g. eos,msg), "
                         "logged to clients.log")
    ap.add_argument("--producers", type=int, default=2, help="librdkafka producers")
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--disk-mb", type=int, default=192)
    ap.add_argument("--no-netns", action="store_true", help="loopback even if namespaces work")
    ap.add_argument("--out", default=None, help="folder for history, report and PNG")
    ap.add_argument("--check", metavar="HISTORY", default=None,
                    help="only check a recorded history.jsonl (with --relaxed if it was)")
    a = ap.parse_args(argv)
    if a.check:
        return a
    if a.nodes not in (1, 3, 5):
        ap.error("--nodes %d: one node, or a quorum of 3 or 5" % a.nodes)
    if a.relaxed and a.nodes > 1:
        ap.error("--relaxed runs one node")
    if a.rf < 1 or a.rf > a.nodes:
        ap.error("--rf %d: between 1 and --nodes (%d)" % (a.rf, a.nodes))
    if a.min_insync is None:
        a.min_insync = min(2, a.rf)
    if not 1 <= a.min_insync <= a.rf:
        ap.error("--min-insync %d: between 1 and --rf (%d)" % (a.min_insync, a.rf))
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 2**31)
    if a.faults:
        a.faults = a.faults.split(",")
        bad = [f for f in a.faults if f not in nemesis.ALL]
        if bad:
            ap.error("unknown faults %s; known: %s" % (bad, ",".join(nemesis.ALL)))
    elif a.relaxed:
        a.faults = ["powerloss"]
    elif a.nodes > 1:
        a.faults = CLUSTER_FAULTS
    else:
        a.faults = CI_FAULTS if a.ci else LONG_FAULTS
    if a.rounds is None:
        a.rounds = 2 * len(a.faults) if a.ci else (10**9 if a.minutes else 20)
    if a.ci and a.minutes is None:
        a.minutes = 3.0
    if a.out is None:
        a.out = os.path.join(os.getcwd(), "faults-%d" % a.seed)
    return a


# ---- cleanup ---------------------------------------------------------------

class Cleanup:
    """Everything a run made, undone once: at exit, on SIGINT/SIGTERM, or by
    the next run when this one was killed (names carry the harness's pid)."""

    def __init__(self):
        self.cluster = None
        self.root = None
        self.stop = None
        self.done = False
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            if self.done:
                return
            self.done = True
        if self.stop:
            self.stop.set()
        if self.cluster:
            self.cluster.close()
        for p in nemesis.cleanup_leftover_cgroups():
            log("removed cgroup %s" % p)
        if self.root and os.path.isdir(self.root):
            subprocess.run(["umount", "-l"] + _mounts_under(self.root), capture_output=True)
            shutil.rmtree(self.root, ignore_errors=True)


def _mounts_under(root):
    with open("/proc/mounts") as f:
        return [m.split()[1] for m in f if m.split()[1].startswith(root + "/")] or ["/nonexistent"]


def cleanup_leftovers():
    """Brokers, namespaces, mounts and cgroups of earlier runs that died."""
    for pid_dir in os.listdir("/proc"):
        if not pid_dir.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % pid_dir, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for kv in env:
            if kv.startswith(b"SKEIN_FAULT_CTL=") and b"/skein-faults-" in kv:
                owner = node._owner_pid(kv.decode(errors="replace").split("=", 1)[1])
                if owner and not node._pid_alive(owner):
                    os.kill(int(pid_dir), signal.SIGKILL)
                    log("killed leftover broker %s of dead run %d" % (pid_dir, owner))
    for m in node.cleanup_leftover_mounts():
        log("unmounted leftover %s" % m)
    for name in net.cleanup_leftovers():
        log("removed leftover %s" % name)
    for p in nemesis.cleanup_leftover_cgroups():
        log("removed leftover cgroup %s" % p)
    tmp = "/tmp"
    for d in os.listdir(tmp):
        if d.startswith("skein-faults-"):
            owner = node._owner_pid(os.path.join(tmp, d))
            if owner and not node._pid_alive(owner):
                shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


# ---- a run -----------------------------------------------------------------

def run(a):
    cleanup = Cleanup()
    atexit.register(cleanup)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cleanup_leftovers()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    log("seed %d (replay: --seed %d); faults: %s; out: %s" % (a.seed, a.seed,
                                                             ",".join(a.faults), a.out))
    if not os.path.exists(a.skein):
        raise SystemExit("no broker at %s (ninja -C build)" % a.skein)
    shim = a.shim if a.shim and os.path.exists(a.shim) else None
    if not shim:
        log("no shim at %s: libc write/fsync errors not injected" % a.shim)
    root = "/tmp/skein-faults-%d" % os.getpid()
    os.makedirs(root, exist_ok=True)
    cleanup.root = root
    # The groups' offsets are replicated as the data is (the built-in
    # single-node configuration keeps them on one replica), so a killed
    # coordinator's groups move to the new leader of their partition.
    overrides = ["log.segment.bytes=1048576", "group.initial.rebalance.delay.ms=0",
                 "offsets.topic.num.partitions=4", "auto.create.topics.enable=false",
                 "offsets.topic.replication.factor=%d" % a.rf]
    faketime = node.faketime_library() if "clock" in a.faults else None
    if "clock" in a.faults and not faketime:
        log("no libfaketime (apt-get install libfaketime): clock jumps not injected")
    cluster = node.Cluster(a.skein, a.nodes, root, os.getpid(), shim, overrides, a.disk_mb,
                           use_netns=not a.no_netns, faketime=faketime)
    cleanup.cluster = cluster
    for n in cluster.nodes:
        n.stderr_path = os.path.join(a.out, "node%d-stderr.log" % n.index)
    # described now: close() tears the namespaces down before the report is written
    network = cluster.describe()
    log("nodes: %s" % network)
    workload.log_clients_to(os.path.join(a.out, "clients.log"), a.client_debug)
    h = history.History(os.path.join(a.out, "history.jsonl"))
    h.record(type="run", seed=a.seed, faults=a.faults, relaxed=a.relaxed, nodes=a.nodes,
             rf=a.rf, min_insync=a.min_insync, acks=a.acks, network=network, wall=h.wall0)
    cluster.start(120)
    for n in cluster.nodes:
        h.record(type="node", event="start", node=n.index, gen=n.generation, pid=n.proc.pid)
    if cluster.multi and not node.wait_for(lambda: metaload.healthy(cluster), 120, 0.5):
        raise SystemExit("the quorum named no leader or not every broker within 120 s")
    data = not cluster.multi or a.data
    stop = threading.Event()
    cleanup.stop = stop
    producers, consumers = [], []
    if data:
        producers, consumers = start_data(a, cluster, h, stop, faketime)
    # on a quorum the metadata workload counts as a producer: a round has
    # recovered once it got an acknowledgement after the heal too
    meta = [metaload.MetaWorkload(cluster, h, stop)] if cluster.multi else []
    for w in meta:
        w.start()
    started = time.monotonic()
    if not node.wait_for(lambda: all(p.last_ok for p in producers + meta), 90, 0.2):
        raise SystemExit("producers got no acknowledgement within 90 s: %s" %
                         [p.error for p in producers + meta])
    nem = nemesis.Nemesis(cluster, h, a.faults, rng, log)
    for name, why in nem.skipped.items():
        log("fault %s skipped: %s" % (name, why))
        h.record(type="fault-skipped", fault=name, reason=why)
    if not nem.faults:
        raise SystemExit("no fault available")
    deadline = started + a.minutes * 60 if a.minutes else None
    schedule = []
    rounds_done, stalls = 0, 0
    while rounds_done < a.rounds and (deadline is None or time.monotonic() < deadline):
        if not schedule:
            schedule = list(nem.faults)
            rng.shuffle(schedule)
        fault = schedule.pop()
        # on a quorum some holds outlast the fetch timeout (2 s), so a cut-off
        # or paused leader is replaced
        hold = rng.uniform(2.0, 5.0) if cluster.multi else rng.uniform(1.0, 3.0)
        if not nem.round(rounds_done, fault, hold, producers + meta, 90):
            stalls += 1
        rounds_done += 1
        time.sleep(rng.uniform(0.5, 1.5))
    log("%d rounds in %.0fs; letting the workload settle" % (rounds_done,
                                                             time.monotonic() - started))
    time.sleep(3)
    stop.set()
    for w in producers + consumers + meta:
        w.join(90)
    for n in cluster.nodes:
        if not n.alive():
            nemesis.restart(n, h)
    # without replication a partition is back only with its broker: every
    # one is up again before the final read
    highs = workload.final_read(cluster.bootstrap, a.partitions, h) if data else None
    if cluster.multi:
        metaload.final_views(cluster, h)
    # The run ends with a clean stop: its exit status is checked, and an
    # ASan broker's leak check runs at exit (a SIGKILL would skip it).
    for n in cluster.nodes:
        rc = n.stop(120)
        h.record(type="node", event="stopped", node=n.index, gen=n.generation, rc=rc)
    h.record(type="end", rounds=rounds_done, stalls=stalls, highs=highs)
    h.close()
    errors = [w.error for w in producers + consumers + meta if w.error]
    sanitizer = ["node%d %s" % (n.index, n.sanitized) for n in cluster.nodes if n.sanitized]
    cluster.close()
    ops = history.load(os.path.join(a.out, "history.jsonl"))
    # a clean stop exits 0 (SIGTERM, and the stop before the fsync fault's restart)
    errors += ["node%d generation %d stopped with status %s" % (o["node"], o["gen"], o["rc"])
               for o in ops if o["type"] == "node" and o["event"] == "stopped" and o["rc"] != 0]
    result = checker.check(ops, relaxed=loss_allowed(a)) if data else {"valid": True}
    if cluster.multi:
        result["metadata"] = metaload.check(ops, [n.node_id for n in cluster.nodes])
        result["valid"] = result["valid"] and result["metadata"]["valid"]
        result["recovery"] = metaload.recovery(ops)
    result.update(seed=a.seed, rounds=rounds_done, stalls=stalls, client_errors=errors,
                  faults_skipped=nem.skipped, network=network,
                  fault_rounds={f.name: sum(1 for o in ops if o["type"] == "fault" and
                                            o["phase"] == "start" and o["fault"] == f.name)
                                for f in nem.faults},
                  notes=[o for o in ops if o["type"] == "fault-note"][:50],
                  clock=clock_evidence(ops))
    result["plot"] = plot.timeline(ops, os.path.join(a.out, "timeline.png"),
                                   "produce" if data else "meta")
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(result, f, indent=1)
    if data:
        text = checker.summary(result, loss_reason(a.relaxed, a.acks))
    else:
        text = "verdict: %s" % ("PASS" if result["valid"] else "FAIL")
    if cluster.multi:
        text += "\n" + metaload.summary(result["metadata"])
        text += "\nhealthy and acknowledged again after the heal (median / max s): " + \
            ", ".join("%s %s / %s (%d rounds)" % (k, v["median_s"], v["max_s"], v["rounds"])
                      for k, v in result["recovery"].items())
    text += "\nrounds %d (%s), stalled recoveries %d, seed %d\n%s" % (
        rounds_done, ", ".join("%s %d" % kv for kv in result["fault_rounds"].items()),
        stalls, a.seed, result["plot"])
    if result["clock"]:
        text += "\nbroker LogAppendTime against true time: %s" % result["clock"]
    if errors:
        text += "\nclient errors: %s" % errors
    if sanitizer:
        text += ("\nFAIL: sanitizer report from the broker (its nodeN-stderr.log has the "
                 "rest): %s" % "; ".join(sanitizer))
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    print(text, flush=True)
    ok = result["valid"] and not errors and not sanitizer
    if loss_allowed(a) and data:
        print("%s: %d acknowledged writes lost, reported as expected" %
              (loss_reason(a.relaxed, a.acks), result["counts"]["lost_expected"]))
        if a.expect_loss and not result["counts"]["lost_expected"]:
            print("FAIL: --expect-loss, and no loss was seen")
            ok = False
    return 0 if ok else 1


def loss_allowed(a):
    """Runs whose promise lets a crash take acknowledged writes: a relaxed
    flush policy on one node, or acks=1, acknowledged before any follower
    has the record (Kafka allows the same)."""
    return a.relaxed or a.acks == "1"


def loss_reason(relaxed, acks):
    return "relaxed durability" if relaxed else "acks=1, an unreplicated tail"


def start_data(a, cluster, h, stop, faketime):
    """The topic, producers and consumers of the data workload, started."""
    configs = {"min.insync.replicas": str(a.min_insync)}
    if a.relaxed:
        configs.update({"flush.messages": "100000", "flush.ms": "60000"})
    if faketime:
        configs.update(CLOCK_TOPIC)
    workload.create_topic(cluster.bootstrap, a.partitions, configs, rf=a.rf)
    producers = [workload.RdkafkaProducer("rdkafka%d" % i, h, stop, cluster.bootstrap,
                                          a.partitions, a.rate, a.acks)
                 for i in range(a.producers)]
    producers.append(workload.KafkaPythonProducer("kpython0", h, stop, cluster.bootstrap,
                                                  a.partitions, 50, a.acks))
    consumers = [workload.GroupConsumer("consumer%d" % i, h, stop, cluster.bootstrap,
                                        a.partitions) for i in range(a.consumers)]
    for w in producers + consumers:
        w.start()
    return producers, consumers


def clock_evidence(ops):
    """How far the broker's LogAppendTime stamps strayed from the harness's
    own clock: proof that the clock jumps reached the broker's records (the
    jump is seen, or the fault did nothing)."""
    wall0 = next((o["wall"] for o in ops if o["type"] == "run"), None)
    skews = [o["append_ts"] / 1000.0 - (wall0 + o["t"]) for o in ops
             if o["type"] == "produce" and "append_ts" in o]
    if wall0 is None or not skews:
        return None
    return {"stamped_acks": len(skews), "ahead_over_60s": sum(1 for x in skews if x > 60),
            "behind_over_60s": sum(1 for x in skews if x < -60),
            "max_ahead_s": round(max(skews), 1), "max_behind_s": round(-min(skews), 1)}


def recheck(a):
    ops = history.load(a.check)
    run_op = next((o for o in ops if o["type"] == "run"), {})
    ok = True
    if any(o["type"] == "produce" for o in ops) or run_op.get("nodes", 1) == 1:
        result = checker.check(ops, relaxed=a.relaxed or run_op.get("acks") == "1")
        print(checker.summary(result, loss_reason(a.relaxed, run_op.get("acks"))))
        ok = result["valid"]
    if run_op.get("nodes", 1) > 1:
        meta = metaload.check(ops, list(range(1, run_op["nodes"] + 1)))
        print(metaload.summary(meta))
        ok = ok and meta["valid"]
    return 0 if ok else 1


def main(argv=None):
    a = parse_args(argv if argv is not None else sys.argv[1:])
    return recheck(a) if a.check else run(a)


if __name__ == "__main__":
    sys.exit(main())
