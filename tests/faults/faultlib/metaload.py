"""The metadata workload of a cluster run, its health probe and its checker.

A client creates topics (each name once) at the active controller, found
through DescribeQuorum on any node that answers, and deletes some of those
whose creation was acknowledged. Every attempt is in the history with its
outcome: "ok" (error code 0), or "unknown" for anything else: a
NOT_CONTROLLER may come from a leader that lost its leadership with the
batch in its log, which the next leader may still commit, and a dropped
connection says nothing either way. The client also samples the leader's
high watermark.

After the final heal every live node's Metadata must list every
acknowledged creation that was not deleted, no acknowledged deletion, and
all nodes the same set; the sampled high watermark never goes back; and
while a majority is dead (the "majority" fault) nothing is acknowledged."""
import threading
import time

from . import quorum
from .node import wait_for

PREFIX = "meta-"
NOT_CONTROLLER = 41


def find_leader(cluster):
    """The node every answering node names as leader (DescribeQuorum on the
    client listener), with its view; (None, None) without one."""
    named = set()
    view = None
    for n in cluster.nodes:
        if not n.alive():
            continue
        try:
            v = quorum.describe_quorum(n.host, n.port)
        except (quorum.Unreachable, Exception):  # noqa: BLE001 - a node mid-restart
            continue
        if v["leader"] >= 0:
            named.add(v["leader"])
        if v["error"] == quorum.NONE:
            view = v
    if len(named) != 1 or view is None:
        return None, None
    leader = next((n for n in cluster.nodes if n.node_id == view["leader"]), None)
    return leader, view


def healthy(cluster):
    """A leader that every live node names, and every live node's Metadata
    listing every live broker (registered and unfenced)."""
    return not unhealthy(cluster)


def unhealthy(cluster):
    """What keeps the cluster from being healthy(), or "" when nothing does
    (said when a recovery does not come)."""
    leader, _ = find_leader(cluster)
    if leader is None:
        return "no leader named by every answering node"
    live = {n.node_id for n in cluster.nodes if n.alive()}
    for n in cluster.nodes:
        if not n.alive():
            continue
        try:
            brokers, _, _ = quorum.metadata(n.host, n.port)
        except Exception as e:  # noqa: BLE001 - not answering yet
            return "node %d: Metadata not answered: %r" % (n.node_id, e)
        if not live <= brokers:
            return "node %d lists brokers %s, not every live one of %s" % (
                n.node_id, sorted(brokers), sorted(live))
    return ""


class MetaWorkload(threading.Thread):
    def __init__(self, cluster, history, stop, delete_every=3, pace=0.05):
        super().__init__(name="meta", daemon=True)
        self.cluster = cluster
        self.h = history
        self.stop = stop
        self.delete_every = delete_every
        self.pace = pace
        self.seq = 0
        self.created = []  # acknowledged, not yet asked to be deleted
        self.error = None
        self.last_ok = 0.0

    def run(self):
        try:
            while not self.stop.is_set():
                self.step()
                self.stop.wait(self.pace)
        except Exception as e:  # noqa: BLE001 - reported by the harness
            self.error = "meta: %r" % e
            self.h.record(type="client-error", client="meta", error=repr(e))

    def step(self):
        leader, view = find_leader(self.cluster)
        if leader is None:
            # no leader (an election, or no majority): a creation at any
            # live node must not be acknowledged until there is one
            live = [n for n in self.cluster.nodes if n.alive()]
            if live:
                self.attempt("create", "%s%d" % (PREFIX, self.seq), live[self.seq % len(live)])
                self.seq += 1
            self.stop.wait(0.2)
            return
        self.h.record(type="quorum-hw", leader=view["leader"], epoch=view["epoch"],
                      hw=view["hw"])
        if self.created and self.seq % self.delete_every == 0:
            self.attempt("delete", self.created.pop(0), leader)
        name = "%s%d" % (PREFIX, self.seq)
        self.seq += 1
        self.attempt("create", name, leader)

    def attempt(self, action, name, node):
        t0 = self.h.now()
        try:
            call = quorum.create_topic if action == "create" else quorum.delete_topic
            err = call(node.host, node.port, name)
        except quorum.Unreachable as e:
            self.h.record(type="meta", action=action, topic=name, node=node.node_id,
                          status="unknown", error=str(e)[:200], t0=t0)
            return
        status = "ok" if err == quorum.NONE else "unknown"
        self.h.record(type="meta", action=action, topic=name, node=node.node_id,
                      status=status, error=err, t0=t0)
        if status == "ok":
            self.last_ok = time.monotonic()
            if action == "create":
                self.created.append(name)


def final_views(cluster, history, timeout=120):
    """Once every node is back and the cluster healthy, each node's topic
    set, waiting (bounded) for them to agree; recorded in the history."""
    wait_for(lambda: healthy(cluster), timeout, 0.5)

    def views():
        out = {}
        for n in cluster.nodes:
            try:
                out[n.node_id] = quorum.metadata(n.host, n.port)[2]
            except Exception:  # noqa: BLE001 - recorded as missing
                pass
        return out

    seen = {}

    def agreed():
        seen.clear()
        seen.update(views())
        sets = [frozenset(t for t in s if t.startswith(PREFIX)) for s in seen.values()]
        return len(seen) == len(cluster.nodes) and len(set(sets)) == 1
    wait_for(agreed, timeout, 0.5)
    for node_id, topics in sorted(seen.items()):
        history.record(type="meta-final", node=node_id,
                       topics=sorted(t for t in topics if t.startswith(PREFIX)))
    return seen


def check(ops, nodes):
    """The metadata verdict: a dict of counts and examples, valid or not."""
    attempts = [o for o in ops if o["type"] == "meta"]
    created = {o["topic"] for o in attempts if o["action"] == "create" and o["status"] == "ok"}
    deleted = {o["topic"] for o in attempts if o["action"] == "delete" and o["status"] == "ok"}
    tried_delete = {o["topic"] for o in attempts if o["action"] == "delete"}
    finals = {o["node"]: set(o["topics"]) for o in ops if o["type"] == "meta-final"}
    problems = []
    missing_nodes = sorted(set(nodes) - set(finals))
    if missing_nodes:
        problems.append({"kind": "no_final_view", "nodes": missing_nodes})
    # present after the heal: acknowledged and never asked to be deleted;
    # absent: acknowledged deletions
    must = created - tried_delete
    for node_id, topics in sorted(finals.items()):
        lost = sorted(must - topics)
        back = sorted(deleted & topics)
        if lost:
            problems.append({"kind": "lost_creation", "node": node_id, "count": len(lost),
                             "examples": lost[:5]})
        if back:
            problems.append({"kind": "deleted_present", "node": node_id, "count": len(back),
                             "examples": back[:5]})
    if len({frozenset(s) for s in finals.values()}) > 1:
        problems.append({"kind": "diverged", "sizes": {k: len(v) for k, v in finals.items()}})
    windows = _majority_windows(ops)
    in_windows = [o for o in attempts for down, up in windows if down <= o["t0"] <= up]
    for down, up in windows:
        for o in attempts:
            if o["status"] == "ok" and down <= o["t0"] and o["t"] <= up:
                problems.append({"kind": "acked_without_majority", "action": o["action"],
                                 "topic": o["topic"], "t0": o["t0"], "t": o["t"],
                                 "window": [down, up]})
    hws = [o for o in ops if o["type"] == "quorum-hw" and o["hw"] >= 0]
    for a, b in zip(hws, hws[1:]):
        if b["hw"] < a["hw"]:
            problems.append({"kind": "hw_back", "from": [a["leader"], a["epoch"], a["hw"]],
                             "to": [b["leader"], b["epoch"], b["hw"]], "t": b["t"]})
    counts = {"attempts": len(attempts), "created_acked": len(created),
              "deleted_acked": len(deleted),
              "unknown": sum(o["status"] == "unknown" for o in attempts),
              "hw_samples": len(hws), "hw_max": max((o["hw"] for o in hws), default=-1),
              "epochs": len({o["epoch"] for o in hws}),
              "final_topics": {k: len(v) for k, v in sorted(finals.items())},
              "majority_windows": len(windows), "tried_without_majority": len(in_windows)}
    return {"valid": not problems and bool(created), "counts": counts,
            "problems": problems[:20]}


def recovery(ops):
    """Seconds from each heal until the quorum was healthy and every client
    acknowledged again, by fault and target role: median and max."""
    role = {}
    for o in ops:
        if o["type"] == "fault" and o["phase"] == "start":
            role[o["round"]] = "%s/%s" % (o["fault"], o.get("role", "node"))
    by = {}
    for o in ops:
        if o["type"] == "recovered" and o["round"] in role:
            by.setdefault(role[o["round"]], []).append(o["seconds"] if o["ok"] else None)
    out = {}
    for k, v in sorted(by.items()):
        done = sorted(x for x in v if x is not None)
        out[k] = {"rounds": len(v), "stalled": len(v) - len(done),
                  "median_s": done[len(done) // 2] if done else None,
                  "max_s": done[-1] if done else None}
    return out


def _majority_windows(ops):
    """(from, to): a majority of the nodes dead, before any came back."""
    out, down = [], None
    for o in ops:
        if o["type"] == "majority-down":
            down = o["t"]
        elif o["type"] == "majority-back" and down is not None:
            out.append((down, o["t"]))
            down = None
    return out


def summary(result):
    c = result["counts"]
    text = ("metadata: %s: %d attempts, %d creations and %d deletions acknowledged, %d unknown; "
            "final topics per node %s; high watermark sampled %d times up to %d over %d epochs"
            % ("PASS" if result["valid"] else "FAIL", c["attempts"], c["created_acked"],
               c["deleted_acked"], c["unknown"], c["final_topics"], c["hw_samples"],
               c["hw_max"], c["epochs"]))
    if c["majority_windows"]:
        text += ("; %d requests while a majority was dead (%d windows), none may be "
                 "acknowledged" % (c["tried_without_majority"], c["majority_windows"]))
    for p in result["problems"]:
        text += "\n  %s" % p
    return text
