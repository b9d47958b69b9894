#!/usr/bin/python3
"""Three combined nodes (process.roles=broker,controller), formatted with one
cluster id, keep their metadata in one replicated Raft log on disk.

A stream of CreateTopics goes to whichever node is the active controller
(found with DescribeQuorum; NOT_CONTROLLER or a lost connection moves on to
the next). The active controller is killed with kill -9 mid-stream: another
is elected, every acknowledged creation is in every live node's Metadata,
and the killed node, restarted, converges on the same topic set. Then all
three are killed and restarted: their logs and quorum state are on disk, so
the new leader's high watermark is at least the old one and every
acknowledged topic is still there. Last, two of three are killed: with no
majority CreateTopics fails (NOT_CONTROLLER once the leader has resigned for
lack of a quorum, REQUEST_TIMED_OUT while a change waits), and succeeds again
once one of them is back. Last, SIGTERM of the leader: it resigns
(EndQuorumEpoch) before it exits, so another is elected well before the
fetch timeout (set long here, FETCH_TIMEOUT_MS) would have let the others
notice its absence.

usage: quorum_meta_test.py SKEIN_BIN [ROUNDS]"""
import functools
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib import wire  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402
from quorum_test import cluster, Controller, describe_quorum, NOT_LEADER, settled, views  # noqa: E402
from forward_test import delete_topic, registered  # noqa: E402

TIMEOUT = 60  # generous: the machine may be loaded and the election jittered
NONE, REQUEST_TIMED_OUT, NOT_CONTROLLER = 0, 7, 41
UNAVAILABLE = (REQUEST_TIMED_OUT, NOT_CONTROLLER)
FETCH_TIMEOUT_MS = 6000  # a leader that vanishes without a word is missed after this


class Node(Controller):
    def argv(self):
        return super().argv() + ["--override",
                                 "controller.quorum.fetch.timeout.ms=%d" % FETCH_TIMEOUT_MS]


def leader_of(nodes):
    vs = views([n for n in nodes if n.proc and n.proc.poll() is None])
    for nid, v in vs.items():
        if v["error"] == NONE:
            return next(n for n in nodes if n.node_id == nid)
    return None


def create(nodes, name, deadline):
    """CreateTopics for name on whichever node leads, until one answers it
    or deadline passes: (error, node) of the last answer; error None when no
    node answered at all."""
    last = (None, None)
    while time.monotonic() < deadline:
        n = leader_of(nodes)
        for cand in ([n] if n else []) + [m for m in nodes if m is not n]:
            if not cand.proc or cand.proc.poll() is not None:
                continue
            try:
                err, _ = wire.create_topic(cand.port, name, timeout=TIMEOUT)
            except (OSError, wire.Closed, wire.DecodeError):
                continue
            last = (err, cand)
            if err not in UNAVAILABLE:
                return last
        time.sleep(0.05)
    return last


def topics(node):
    try:
        md = wire.metadata(node.port, version=9, timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return None
    return {t["name"] for t in md["topics"] if t["error"] == NONE}


def converged(nodes, acked):
    """Every node's Metadata holds every acknowledged topic, and all name the
    same set."""
    sets = [topics(n) for n in nodes]
    if any(s is None or not acked <= s for s in sets):
        return None
    return sets if all(s == sets[0] for s in sets) else None


def stream(nodes, acked, prefix, count, kill_after=None):
    """count creations; kill -9 of the active controller after kill_after of
    them. Returns ms from the kill to the next acknowledged creation."""
    killed_at, first_after = None, None
    for i in range(count):
        if kill_after is not None and i == kill_after:
            old = leader_of(nodes)
            assert old, "no leader to kill: %r" % views(nodes)
            old.kill()
            killed_at = time.monotonic()
        name = "%s-%d" % (prefix, i)
        err, _ = create(nodes, name, time.monotonic() + TIMEOUT)
        assert err == NONE, "CreateTopics %s: %r\n%r" % (name, err, views(nodes))
        acked.add(name)
        if killed_at and first_after is None:
            first_after = (time.monotonic() - killed_at) * 1000
    return first_after


def kill_majority(nodes, acked):
    lead = leader_of(nodes)
    down = [n for n in nodes if n is not lead][:1] + [lead]
    for n in down:
        n.kill()
    alive = [n for n in nodes if n not in down]
    seen = set()
    # Until the survivor has no leader (it resigned, or never leads alone),
    # a change may wait for a commit that cannot come; either way it fails.
    for i in range(3):
        err, _ = create(alive, "nomajority-%d" % i, time.monotonic() + 5)
        assert err in UNAVAILABLE, "CreateTopics without a majority: %r" % err
        seen.add(err)
    gone = wait_for(lambda: all(v["error"] == NOT_LEADER and v["leader"] < 0
                                for v in views(alive).values()), TIMEOUT)
    assert gone, "a survivor still leads alone: %r" % views(alive)
    err, _ = create(alive, "nomajority-late", time.monotonic() + 3)
    assert err in UNAVAILABLE, err
    seen.add(err)
    down[0].start(timeout=TIMEOUT)
    err, _ = create(nodes, "majority-back", time.monotonic() + TIMEOUT)
    assert err == NONE, "CreateTopics after the majority returned: %r" % err
    acked.add("majority-back")
    down[1].start(timeout=TIMEOUT)
    print("majority lost: CreateTopics failed with %s; it succeeded again once it was back"
          % sorted(seen))


def resign(nodes):
    v = wait_for(lambda: settled(nodes), TIMEOUT)
    assert v, views(nodes)
    old = next(n for n in nodes if n.node_id == v["leader"])
    stopped_at = time.monotonic()
    assert old.stop() == 0, old.tail()
    rest = [n for n in nodes if n is not old]
    nv = wait_for(lambda: settled(rest, v["epoch"]), TIMEOUT, step=0.02)
    ms = (time.monotonic() - stopped_at) * 1000
    assert nv, "no new leader after SIGTERM of %d: %r" % (old.node_id, views(rest))
    assert ms < FETCH_TIMEOUT_MS * 2 / 3, \
        "the next leader took %.0f ms: the old one did not resign" % ms
    old.start(timeout=TIMEOUT)
    assert wait_for(lambda: settled(nodes, v["epoch"]), TIMEOUT), views(nodes)
    print("SIGTERM of leader %d: it resigned; leader %d in epoch %d committed %.0f ms after "
          "the signal (fetch timeout %d ms)" % (old.node_id, nv["leader"], nv["epoch"], ms,
                                                FETCH_TIMEOUT_MS))


def big_partitions():
    """Partitions of the big topic: thousands, within what one node's
    open-file limit takes (a partition holds one fd) with room to spare."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 8000 if hard == resource.RLIM_INFINITY else max(1000, min(8000, hard - 4000))


def all_led(node, name, n):
    try:
        md = wire.metadata(node.port, [name], timeout=TIMEOUT)
    except (OSError, wire.Closed, wire.DecodeError):
        return False
    ps = md["topics"][0]["partitions"]
    return len(ps) == n and all(p["error"] == NONE and p["leader"] >= 0 for p in ps)


def gone(node, name):
    names = topics(node)
    return names is not None and name not in names


def big_topic(nodes):
    """A topic of thousands of partitions on all three nodes (replication
    factor 3): each node opens thousands of logs, a millisecond or more
    each. Opened in one go they would hold shard 0, and the Raft voter on
    it, for seconds, long enough for a leader to be deposed; a shard opens
    for 50 ms a turn and answers between turns. So while the logs open,
    every node answers DescribeQuorum promptly, the leader and epoch stay,
    and every partition gets its leader."""
    v = wait_for(lambda: settled(nodes), TIMEOUT)
    assert v, views(nodes)
    n = big_partitions()
    lead = next(x for x in nodes if x.node_id == v["leader"])
    t0 = time.monotonic()
    err, msg = wire.create_topic(lead.port, "big", partitions=n, replication_factor=3,
                                 timeout=TIMEOUT)
    assert err == NONE, "CreateTopics big (%d partitions): %r %r" % (n, err, msg)
    opened = quorum_steady(nodes, v, lambda: all(all_led(x, "big", n) for x in nodes),
                           "%d logs opened" % n)
    err = delete_topic(leader_of(nodes).port, "big")
    assert err == NONE, "DeleteTopics big: %r" % err
    deleted = quorum_steady(nodes, v, lambda: all(gone(x, "big") for x in nodes),
                            "%d logs were deleted" % n)
    print("a topic of %d partitions on all three: led everywhere after %.1f s, deleted "
          "everywhere %.1f s after DeleteTopics; the quorum kept epoch %d and its slowest "
          "DescribeQuorum answer took %.0f ms" % (n, opened[0], deleted[0], v["epoch"],
                                                  max(opened[1], deleted[1]) * 1000))


def quorum_steady(nodes, v, done, what):
    """Polls every node's DescribeQuorum until done() and 5 s more (the
    work may go on once a Metadata answer shows it done): the leader and
    epoch of v must stay and each answer come within 2.5 s. (seconds until
    done, slowest answer in seconds)."""
    t0 = time.monotonic()
    slowest, epochs, took = 0.0, set(), None
    while took is None or time.monotonic() - t0 < took + 5:
        assert time.monotonic() - t0 < 240, "not done after 240 s: %s" % what
        if took is None and done():
            took = time.monotonic() - t0
        for x in nodes:
            a = time.monotonic()
            got = describe_quorum(x.controller_port)
            slowest = max(slowest, time.monotonic() - a)
            epochs.add((got["leader"], got["epoch"]))
        time.sleep(0.1)
    assert epochs <= {(v["leader"], v["epoch"])}, \
        "the quorum changed leader or epoch while %s: %r" % (what, sorted(epochs))
    assert slowest < 2.5, "a node took %.1f s to answer DescribeQuorum while %s" % (slowest, what)
    return took, slowest


def run(skein, rounds):
    acked = set()
    make = functools.partial(Node, combined=True)
    with cluster(skein, "skein-quorum-meta-", make) as (nodes, cluster_id, v):
        # As in Kafka, a topic is placed on registered brokers: none is
        # before each has registered through its lifecycle.
        registered(nodes)
        big_topic(nodes)
        for r in range(rounds):
            ms = stream(nodes, acked, "r%d" % r, 12, kill_after=5)
            dead = next(n for n in nodes if n.proc.poll() is not None)
            live = [n for n in nodes if n is not dead]
            assert wait_for(lambda: converged(live, acked), TIMEOUT), \
                "live nodes differ: %r" % [topics(n) for n in live]
            dead.start(timeout=TIMEOUT)
            assert wait_for(lambda: converged(nodes, acked), TIMEOUT), \
                "node %d did not converge: %r" % (dead.node_id, [topics(n) for n in nodes])
            print("round %d: killed the active controller %d mid-stream; the next creation was "
                  "acknowledged %.0f ms later; %d topics on all three after its restart"
                  % (r + 1, dead.node_id, ms, len(acked)))
        before = wait_for(lambda: settled(nodes), TIMEOUT)
        assert before, views(nodes)
        for n in nodes:
            n.kill()
        for n in nodes:
            n.start(timeout=TIMEOUT)
        after = wait_for(lambda: settled(nodes, before["epoch"]), TIMEOUT)
        assert after and after["hw"] >= before["hw"], (before, after)
        assert wait_for(lambda: converged(nodes, acked), TIMEOUT), \
            [topics(n) for n in nodes]
        print("all three killed and restarted: high watermark %d before, %d after; "
              "%d topics kept" % (before["hw"], after["hw"], len(acked)))
        kill_majority(nodes, acked)
        assert wait_for(lambda: converged(nodes, acked), TIMEOUT), [topics(n) for n in nodes]
        resign(nodes)


def main():
    skein = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    run(skein, rounds)
    print("quorum metadata: OK")


if __name__ == "__main__":
    main()
