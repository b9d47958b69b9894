#!/usr/bin/python3
"""The checker's self-test: a clean history passes, and histories with one
planted anomaly each (a lost write, a duplicate, a reorder, an offset given
to two values, a committed offset going back, a read past the high
watermark) are each caught, by name. Runs in the unit suite."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import checker  # noqa: E402


def clean_history(n=20, partitions=2):
    """Two producers writing round-robin, acknowledged, read by a consumer
    that commits as it goes, and a final read that holds everything."""
    ops = [{"type": "node", "event": "start", "node": 0, "gen": 1, "t": 0.0}]
    t = 1.0
    next_off = {p: 0 for p in range(partitions)}
    final = []
    for seq in range(n):
        for client in ("rdkafka0", "kpython0"):
            p = seq % partitions
            off = next_off[p]
            next_off[p] += 1
            v = "%s-%d" % (client, seq)
            ops.append({"type": "produce", "client": client, "value": v, "seq": seq,
                        "partition": p, "offset": off, "status": "ok", "t0": t, "t": t + 0.01})
            ops.append({"type": "read", "client": "consumer0", "partition": p, "offset": off,
                        "value": v, "t": t + 0.02})
            ops.append({"type": "hw", "client": "consumer0", "partition": p, "high": off + 1,
                        "t0": t + 0.03, "t": t + 0.04})
            ops.append({"type": "commit", "client": "consumer0", "group": "g", "partition": p,
                        "offset": off + 1, "status": "ok", "t0": t + 0.05, "t": t + 0.06})
            final.append({"type": "final", "partition": p, "offset": off, "value": v})
            t += 0.1
    ops.append({"type": "fault", "phase": "start", "fault": "kill", "node": 0, "round": 0, "t": t})
    ops.append({"type": "fault", "phase": "end", "fault": "kill", "node": 0, "round": 0,
                "t": t + 1})
    for o in final:
        o["t"] = t + 2
    return ops + final


def find(ops, **kv):
    return next(o for o in ops if all(o.get(k) == v for k, v in kv.items()))


class CheckerSelfTest(unittest.TestCase):
    def verdict(self, ops, relaxed=False):
        return checker.check(ops, relaxed=relaxed)

    def assertCaught(self, ops, kind, relaxed=False):
        r = self.verdict(ops, relaxed)
        self.assertFalse(r["valid"], "planted %s not caught: %s" % (kind, r["counts"]))
        self.assertGreater(r["counts"][kind], 0, "planted %s counted as %s" % (kind, r["failures"]))
        self.assertEqual(set(r["failures"]), {kind}, "only %s was planted" % kind)

    def test_clean_history_passes(self):
        r = self.verdict(clean_history())
        self.assertTrue(r["valid"], checker.summary(r))
        self.assertEqual(r["counts"]["acknowledged"], 40)

    def test_lost_write(self):
        ops = clean_history()
        ops.remove(find(ops, type="final", value="rdkafka0-7"))
        self.assertCaught(ops, "lost")

    def test_lost_write_is_expected_when_relaxed(self):
        ops = clean_history()
        ops.remove(find(ops, type="final", value="rdkafka0-7"))
        r = self.verdict(ops, relaxed=True)
        self.assertTrue(r["valid"], checker.summary(r))
        self.assertEqual(r["counts"]["lost_expected"], 1, "the loss must still be reported")
        self.assertIn("lost 1", checker.summary(r))

    def test_an_implicit_ack_without_an_offset_counts_by_value(self):
        # librdkafka's idempotent producer: delivered, offset unknown
        ops = clean_history()
        find(ops, type="produce", value="rdkafka0-5")["offset"] = None
        r = self.verdict(ops)
        self.assertTrue(r["valid"], checker.summary(r))
        ops.remove(find(ops, type="final", value="rdkafka0-5"))
        self.assertCaught(ops, "lost")

    def test_duplicate(self):
        ops = clean_history()
        # the same value again at the end of its partition
        ops.append({"type": "final", "partition": 1, "offset": 20, "value": "kpython0-3", "t": 99})
        self.assertCaught(ops, "duplicate")

    def test_reorder(self):
        ops = clean_history()
        a = find(ops, type="final", value="rdkafka0-2")
        b = find(ops, type="final", value="rdkafka0-4")
        a["value"], b["value"] = b["value"], a["value"]
        # the acknowledgements agree with the log, so only the order is wrong
        pa = find(ops, type="produce", value="rdkafka0-2")
        pb = find(ops, type="produce", value="rdkafka0-4")
        pa["offset"], pb["offset"] = pb["offset"], pa["offset"]
        ops = [o for o in ops if not (o["type"] == "read" and
                                      o["value"] in ("rdkafka0-2", "rdkafka0-4"))]
        self.assertCaught(ops, "reorder")

    def _late(self, client):
        """client's write 2, unknown to it, landed after its write 4."""
        ops = clean_history()
        a = find(ops, type="final", value="%s-2" % client)
        b = find(ops, type="final", value="%s-4" % client)
        a["value"], b["value"] = b["value"], a["value"]
        pb = find(ops, type="produce", value="%s-4" % client)
        pb["offset"] = a["offset"]
        pa = find(ops, type="produce", value="%s-2" % client)
        pa.update(status="unknown", error="RequestTimedOutError")
        del pa["offset"]
        ops = [o for o in ops if not (o["type"] == "read" and
                                      o["value"] in ("%s-2" % client, "%s-4" % client))]
        return ops, pa

    def test_unknown_write_without_idempotence_may_land_late(self):
        ops, pa = self._late("kpython0")
        pa["may_land_late"] = True
        r = self.verdict(ops)
        self.assertTrue(r["valid"], checker.summary(r))

    def test_unknown_idempotent_write_landing_late_is_a_reorder(self):
        ops, _ = self._late("rdkafka0")
        self.assertCaught(ops, "reorder")

    def test_offset_given_to_two_values(self):
        ops = clean_history()
        ack = find(ops, type="produce", value="kpython0-5")
        other = find(ops, type="produce", value="rdkafka0-5")
        ops.append({"type": "read", "client": "consumer1", "partition": ack["partition"],
                    "offset": ack["offset"], "value": "kpython0-5", "t": ack["t"] + 0.5})
        find(ops, type="final", value="rdkafka0-5")["value"] = "rdkafka0-5"
        # an acknowledgement for another value at the same offset
        other["offset"] = ack["offset"]
        other["partition"] = ack["partition"]
        r = self.verdict(ops)
        self.assertFalse(r["valid"])
        self.assertGreater(r["counts"]["offset_conflict"], 0, r["counts"])

    def test_committed_offset_regression(self):
        ops = clean_history()
        last = max((o for o in ops if o["type"] == "commit" and o["partition"] == 0),
                   key=lambda o: o["t"])
        ops.append({"type": "committed", "client": "consumer1", "group": "g", "partition": 0,
                    "offset": last["offset"] - 3, "t0": last["t"] + 1, "t": last["t"] + 1.1})
        self.assertCaught(ops, "commit_regression")

    def test_commit_lower_than_before(self):
        ops = clean_history()
        ops.append({"type": "commit", "client": "consumer0", "group": "g", "partition": 1,
                    "offset": 2, "status": "ok", "t0": 50, "t": 50.1})
        self.assertCaught(ops, "commit_regression")

    def test_a_resent_commit_may_land_late(self):
        # A commit that took longer than the client's request timeout was
        # sent twice; the first copy reaching the coordinator after later
        # commits is what Kafka does too, and is reported, not failed.
        ops = clean_history()
        ops.append({"type": "commit", "client": "consumer0", "group": "g", "partition": 0,
                    "offset": 900, "status": "ok", "t0": 50, "t": 55.5})
        ops.append({"type": "commit", "client": "consumer0", "group": "g", "partition": 0,
                    "offset": 950, "status": "ok", "t0": 55.6, "t": 55.7})
        ops.append({"type": "committed", "client": "consumer0", "group": "g", "partition": 0,
                    "offset": 900, "t0": 60, "t": 60.1})
        r = self.verdict(ops)
        self.assertTrue(r["valid"], r["failures"])
        self.assertEqual(r["counts"]["commit_landed_late"], 1, r["counts"])
        # ... but going back further than that copy is still a regression.
        ops.append({"type": "committed", "client": "consumer0", "group": "g", "partition": 0,
                    "offset": 899, "t0": 61, "t": 61.1})
        self.assertCaught(ops, "commit_regression")

    def test_a_quick_commit_does_not_land_late(self):
        ops = clean_history()
        ops.append({"type": "commit", "client": "consumer0", "group": "g", "partition": 0,
                    "offset": 900, "status": "ok", "t0": 50, "t": 50.5})
        ops.append({"type": "commit", "client": "consumer0", "group": "g", "partition": 0,
                    "offset": 950, "status": "ok", "t0": 55.6, "t": 55.7})
        ops.append({"type": "committed", "client": "consumer0", "group": "g", "partition": 0,
                    "offset": 900, "t0": 60, "t": 60.1})
        self.assertCaught(ops, "commit_regression")

    def test_read_past_high_watermark(self):
        ops = clean_history()
        hw = find(ops, type="hw", partition=0, high=4)
        hw["high"] = 3  # the read of offset 3 came before this sample
        self.assertCaught(ops, "read_past_hw")

    def test_acknowledged_after_a_failed_sync(self):
        ops = clean_history()
        ops += [{"type": "fault", "phase": "start", "fault": "fsync", "node": 0, "round": 1,
                 "t": 10.0},
                {"type": "produce", "client": "rdkafka0", "value": "rdkafka0-50", "seq": 50,
                 "partition": 0, "offset": 20, "status": "ok", "t0": 10.5, "t": 12.5},
                {"type": "fault-note", "fault": "fsync", "node": 0, "phase": "disarmed",
                 "partitions_failed": [0], "t": 12.0},
                {"type": "node", "event": "stopped", "node": 0, "gen": 1, "t": 14.0},
                {"type": "final", "partition": 0, "offset": 20, "value": "rdkafka0-50",
                 "t": 99}]
        self.assertCaught(ops, "acked_after_failed_sync")
        # the same acknowledgement after the restart is what should happen
        find(ops, value="rdkafka0-50", type="produce")["t"] = 14.5
        self.assertTrue(self.verdict(ops)["valid"])

    def test_read_past_high_watermark_after_a_restart(self):
        ops = clean_history()
        ops.append({"type": "node", "event": "start", "node": 0, "gen": 2, "t": 20.0})
        ops.append({"type": "read", "client": "consumer0", "partition": 0, "offset": 30,
                    "value": "kpython0-3", "t": 21.0})
        ops.append({"type": "hw", "client": "consumer0", "partition": 0, "high": 20,
                    "t0": 21.1, "t": 21.2})
        # right after the restart: the client may hand out what it fetched before
        r = self.verdict(ops)
        self.assertEqual(r["counts"]["read_past_hw"], 0, r["counts"])
        self.assertEqual(r["counts"]["reads_unchecked_after_restart"], 1)
        for o in ops[-2:]:
            o["t"] += 5
        ops[-1]["t0"] += 5
        self.assertIn("read_past_hw", self.verdict(ops)["failures"])

    def test_unacknowledged_data_lost_in_a_crash_is_not_a_failure(self):
        ops = clean_history()
        # a consumer saw an unacknowledged value at offset 20 of partition 0,
        # the broker crashed, and offset 20 went to another value later
        ops.append({"type": "read", "client": "consumer0", "partition": 0, "offset": 20,
                    "value": "rdkafka0-100", "t": 5.0})
        ops.append({"type": "node", "event": "start", "node": 0, "gen": 2, "t": 6.0})
        ops.append({"type": "produce", "client": "rdkafka0", "value": "rdkafka0-101",
                    "seq": 101, "partition": 0, "offset": 20, "status": "ok", "t0": 7, "t": 7.1})
        ops.append({"type": "final", "partition": 0, "offset": 20, "value": "rdkafka0-101",
                    "t": 99})
        r = self.verdict(ops)
        self.assertTrue(r["valid"], checker.summary(r))
        self.assertEqual(r["counts"]["offset_reused_after_crash_unacknowledged"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
