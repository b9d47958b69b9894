#!/usr/bin/python3
"""A lagging voter catches up through a metadata snapshot (KIP-630).

Three combined nodes with a small metadata.log.max.record.bytes.between.snapshots,
small metadata log segments and metadata.max.retention.bytes=1, so that every
snapshot deletes the log below it. One follower is killed with kill -9; topics
are created until the leader's log starts above where the follower's log
ended. The follower, restarted, can no longer fetch the log from its end: the
leader answers with its snapshot's id, the follower takes it with
FetchSnapshot, installs it (its directory then has the .checkpoint and its log
starts at the snapshot's end) and its controller loads the image from it.
Its Metadata then lists every created topic, as the others' do.

usage: metadata_snapshot_test.py SKEIN_BIN [ROUNDS]"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quorum_test import cluster, Controller, settled, views  # noqa: E402
from quorum_meta_test import create, converged, topics, NONE  # noqa: E402
from forward_test import registered  # noqa: E402
from skeinlib import kraft  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

TIMEOUT = 90  # generous: the machine may be loaded


class Node(kraft.SnapshotsOften, Controller):
    """A combined node that a follower killed for a while falls behind."""


def lag_behind_snapshot(nodes, lagging, acked, prefix):
    """Creates topics until the leader's log starts above the lagging node's
    log end; returns (that end, the leader's log start)."""
    live = [n for n in nodes if n is not lagging]
    v = wait_for(lambda: settled(live), TIMEOUT)
    assert v, views(live)
    behind = v["voters"][lagging.node_id].log_end_offset if lagging.node_id in v["voters"] else 0
    leader = next(n for n in nodes if n.node_id == v["leader"])

    def create_one(i):
        name = "%s-%d" % (prefix, i)
        err, _ = create(live, name, time.monotonic() + TIMEOUT)
        assert err == NONE, "CreateTopics %s: %r\n%r" % (name, err, views(live))
        acked.add(name)
    return behind, kraft.snapshot_past(leader, behind, create_one, TIMEOUT * 2)


def run(skein, rounds):
    made = []

    def make(*args):
        made.append(Node(*args, combined=True))
        return made[-1]
    try:
        run_on(skein, rounds, make)
    except AssertionError:
        for n in made:
            print("---- node %d\n%s" % (n.node_id, n.tail(40)))
        raise


def run_on(skein, rounds, make):
    acked = set()
    with cluster(skein, "skein-meta-snapshot-", make) as (nodes, cluster_id, v):
        registered(nodes)
        for r in range(rounds):
            v = wait_for(lambda: settled(nodes), TIMEOUT)
            assert v, views(nodes)
            lagging = next(n for n in nodes if n.node_id != v["leader"])
            lagging.kill()
            behind, start = lag_behind_snapshot(nodes, lagging, acked, "r%d" % r)
            lagging.start(timeout=TIMEOUT)
            assert wait_for(lambda: converged(nodes, acked), TIMEOUT), \
                "node %d did not converge: %r\n%s" % (
                    lagging.node_id, [len(topics(n) or ()) for n in nodes], lagging.tail())
            took = kraft.took_snapshot(lagging, start)
            assert kraft.log_start(lagging) >= start, (kraft.log_start(lagging), start)
            print("round %d: node %d ended at %d, the leader's log started at %d; it took the "
                  "snapshot %s, its log starts at %d; %d topics on all three"
                  % (r + 1, lagging.node_id, behind, start, took[-1], kraft.log_start(lagging),
                     len(acked)))


def main():
    skein = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    run(skein, rounds)
    print("metadata snapshot: OK")


if __name__ == "__main__":
    main()
