#!/usr/bin/python3
"""The metadata checker's self-test: a clean cluster history passes, and
histories with one planted anomaly each (an acknowledged creation missing
after the heal, an acknowledged deletion back, two nodes with different
topic sets, the quorum's high watermark going back, a node with no final
view, an acknowledgement while a majority was dead) are each caught, by name, while unknown outcomes are accepted either
way. Runs in the unit suite."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import metaload  # noqa: E402

NODES = [1, 2, 3]


def clean_history():
    """Creations meta-0..9 acknowledged, meta-0 and meta-1 deleted (ok),
    meta-2's deletion unknown, meta-10 created with an unknown outcome and
    absent; every node ends with the same set; the high watermark climbs
    through a leader change."""
    ops, t = [], 0.0
    for i in range(10):
        ops.append({"type": "meta", "action": "create", "topic": "meta-%d" % i, "node": 1,
                    "status": "ok", "error": 0, "t0": t, "t": t + 0.01})
        ops.append({"type": "quorum-hw", "leader": 1 if i < 5 else 2, "epoch": 1 if i < 5 else 2,
                    "hw": 10 + i, "t": t + 0.02})
        t += 0.1
    for i, status in ((0, "ok"), (1, "ok"), (2, "unknown")):
        ops.append({"type": "meta", "action": "delete", "topic": "meta-%d" % i, "node": 2,
                    "status": status, "error": 0 if status == "ok" else 41, "t0": t, "t": t})
    ops.append({"type": "meta", "action": "create", "topic": "meta-10", "node": 2,
                "status": "unknown", "error": "closed", "t0": t, "t": t})
    final = ["meta-%d" % i for i in range(2, 10)]
    for n in NODES:
        ops.append({"type": "meta-final", "node": n, "topics": list(final), "t": t + 1})
    return ops


def final_of(ops, node):
    return next(o for o in ops if o["type"] == "meta-final" and o["node"] == node)


class MetaCheckerSelfTest(unittest.TestCase):
    def assertCaught(self, ops, kind):
        r = metaload.check(ops, NODES)
        self.assertFalse(r["valid"], "planted %s not caught: %s" % (kind, r))
        self.assertEqual({p["kind"] for p in r["problems"]}, {kind}, r["problems"])

    def test_clean_history_passes(self):
        r = metaload.check(clean_history(), NODES)
        self.assertTrue(r["valid"], r)
        self.assertEqual(r["counts"]["created_acked"], 10)
        self.assertEqual(r["counts"]["deleted_acked"], 2)

    def test_unknown_outcomes_either_way(self):
        ops = clean_history()
        for n in NODES:
            final_of(ops, n)["topics"] = final_of(ops, n)["topics"][1:] + ["meta-10"]
        r = metaload.check(ops, NODES)
        self.assertTrue(r["valid"], r)

    def test_lost_creation(self):
        ops = clean_history()
        for n in NODES:
            final_of(ops, n)["topics"].remove("meta-7")
        self.assertCaught(ops, "lost_creation")

    def test_deleted_present(self):
        ops = clean_history()
        for n in NODES:
            final_of(ops, n)["topics"].append("meta-0")
        self.assertCaught(ops, "deleted_present")

    def test_diverged(self):
        ops = clean_history()
        final_of(ops, 3)["topics"].append("meta-10")
        self.assertCaught(ops, "diverged")

    def test_hw_back(self):
        ops = clean_history()
        ops.insert(5, {"type": "quorum-hw", "leader": 3, "epoch": 3, "hw": 1, "t": 0.25})
        self.assertCaught(ops, "hw_back")

    def test_acked_without_majority(self):
        ops = clean_history()
        ops.insert(3, {"type": "majority-down", "nodes": [0, 1], "t": 0.1})
        ops.insert(8, {"type": "majority-back", "nodes": [0, 1], "t": 0.35})
        self.assertCaught(ops, "acked_without_majority")

    def test_acked_around_majority_window_passes(self):
        ops = clean_history()
        ops.insert(3, {"type": "majority-down", "nodes": [0, 1], "t": 0.105})
        ops.insert(4, {"type": "majority-back", "nodes": [0, 1], "t": 0.2})
        self.assertTrue(metaload.check(ops, NODES)["valid"])

    def test_missing_final_view(self):
        ops = [o for o in clean_history() if not (o["type"] == "meta-final" and o["node"] == 2)]
        self.assertCaught(ops, "no_final_view")

    def test_nothing_acknowledged_is_no_pass(self):
        ops = [o for o in clean_history() if o["type"] != "meta"]
        self.assertFalse(metaload.check(ops, NODES)["valid"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
