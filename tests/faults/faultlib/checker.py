"""The checker: what a history proves about the broker.

Failures (any makes the verdict FAIL):
- lost: a write acknowledged (status ok) but absent from the final full read;
- duplicate: one value at two offsets (final read, acknowledgements, reads);
- reorder: a producer's values in one partition out of sequence order in the
  final read (every producer here keeps order: idempotent, or one request in
  flight without retries; but a write of a producer without idempotence
  whose outcome was unknown, marked may_land_late, is not placed: the
  request the client gave up on may still reach the broker after later ones,
  as Kafka allows);
- offset conflict: two values given one offset where the broker cannot have
  changed its mind legitimately (both acknowledged, an acknowledgement and the
  final read, or two reads in one broker process's life);
- committed offset regression: a group's committed offset for a partition
  lower than one committed successfully before (as committed, or as handed to
  a member on assignment); but not back to the offset of a commit that took
  longer than the client's request timeout (COMMIT_TIMEOUT_S): librdkafka
  timed that request out, closed its connection and sent the commit again
  on a new one, and the first copy, still in the network (a partition
  holds it in TCP's retransmission queue), may reach the coordinator after
  later commits, which processes it as Kafka does (a request received on a
  connection its client has closed is still served) and as the same
  member's commit of the same generation: reported as commit_landed_late;
- read past the high watermark: a consumer got offset o, and the high
  watermark sampled afterwards from the same broker process was <= o
  (reads in the first PREFETCH_GRACE_S after a restart are not judged: the
  client may still be handing out records fetched from the old process);
- acknowledged after a failed sync: a write sent while the node's syncs
  failed, to a partition whose sync failed, acknowledged once syncs worked
  again but before a restart recovered the partition from disk.

Reported, not failures: an offset that held a value no one was told was
written, read before a crash, and given to another value after it, or such a
value written again elsewhere by the producer's retry (with one
replica the high watermark moves at the append, in Kafka as in Skein, so a
consumer may see unsynced data that a crash then takes).

Relaxed mode (flush.messages/flush.ms): losses and the offset conflicts they
cause are counted as expected, shown, and do not fail the verdict."""
import bisect
from collections import defaultdict

EXAMPLES = 5
PREFETCH_GRACE_S = 3.0
COMMIT_TIMEOUT_S = 5.0  # the consumers' socket.timeout.ms (workload.py)


def _gen_index(ops):
    """Start times of broker processes: a time maps to the process running."""
    starts = sorted(o["t"] for o in ops if o["type"] == "node" and o.get("event") == "start")
    return starts or [0.0]


def _gen_at(starts, t):
    return bisect.bisect_right(starts, t)


def check(ops, relaxed=False):
    starts = _gen_index(ops)
    produces = [o for o in ops if o["type"] == "produce"]
    acked = {o["value"]: o for o in produces if o["status"] == "ok"}
    # librdkafka's idempotent producer acknowledges a message whose request
    # timed out once a later one of the partition is acknowledged (its
    # "implicit ack"): delivered, at an offset it does not know. Such an
    # ack counts for loss (by value), not for where the value sits.
    placed = {v: o for v, o in acked.items() if o["offset"] is not None}
    final = [o for o in ops if o["type"] == "final"]
    reads = [o for o in ops if o["type"] == "read"]
    counts = defaultdict(int)
    examples = defaultdict(list)

    def found(kind, what):
        counts[kind] += 1
        if len(examples[kind]) < EXAMPLES:
            examples[kind].append(what)

    counts["produced"] = len(produces)
    counts["acknowledged"] = len(acked)
    counts["unknown"] = sum(o["status"] == "unknown" for o in produces)
    counts["failed"] = sum(o["status"] == "failed" for o in produces)
    counts["reads"] = len(reads)
    counts["final_records"] = len(final)
    counts["faults"] = sum(o["type"] == "fault" and o["phase"] == "start" for o in ops)

    final_at = defaultdict(list)  # value -> [(partition, offset)]
    for o in final:
        final_at[o["value"]].append((o["partition"], o["offset"]))
    final_values = set(final_at)

    # lost acknowledged writes
    lost = set()
    for v, o in acked.items():
        if v not in final_values:
            lost.add(v)
            found("lost_expected" if relaxed else "lost",
                  {"value": v, "partition": o["partition"], "offset": o["offset"], "t": o["t"]})
    counts["unacknowledged_present"] = sum(
        1 for v in final_values if v not in acked)

    # duplicates: a value at two places the broker stands by (acknowledged,
    # in the final read), or read at two places in one process's life
    firm_at = defaultdict(set)
    read_at = defaultdict(lambda: defaultdict(set))  # value -> gen -> {loc}
    for v, locs in final_at.items():
        firm_at[v].update(locs)
    for v, o in placed.items():
        firm_at[v].add((o["partition"], o["offset"]))
    for o in reads:
        read_at[o["value"]][_gen_at(starts, o["t"])].add((o["partition"], o["offset"]))
    for v in set(firm_at) | set(read_at):
        firm = firm_at.get(v, set())
        gens = read_at.get(v, {})
        all_locs = set(firm).union(*gens.values()) if gens else set(firm)
        if len(all_locs) < 2:
            continue
        what = {"value": v, "at": sorted(all_locs)}
        if len(firm) > 1 or any(len(locs) > 1 for locs in gens.values()):
            found("duplicate", what)
        else:
            found("rewritten_after_crash_unacknowledged", what)

    # order per producer per partition, in the final read
    late = {o["value"] for o in ops if o["type"] == "produce" and o.get("may_land_late")}
    seqs = defaultdict(list)
    seen = set()
    for o in sorted(final, key=lambda o: (o["partition"], o["offset"])):
        if o["value"] in late:
            continue
        client, _, seq = o["value"].rpartition("-")
        # a duplicate is reported as one; its second copy is not also a reorder
        if seq.isdigit() and (o["partition"], o["value"]) not in seen:
            seen.add((o["partition"], o["value"]))
            seqs[(client, o["partition"])].append((int(seq), o["offset"]))
    for (client, part), lst in seqs.items():
        for (s0, o0), (s1, o1) in zip(lst, lst[1:]):
            if s1 < s0:
                found("reorder", {"client": client, "partition": part,
                                  "seq": [s0, s1], "offsets": [o0, o1]})

    # offsets given to two values
    by_offset = defaultdict(list)  # (p, off) -> [(value, source, gen)]
    for o in final:
        by_offset[(o["partition"], o["offset"])].append((o["value"], "final", None))
    for v, o in placed.items():
        by_offset[(o["partition"], o["offset"])].append((v, "ack", None))
    for o in reads:
        by_offset[(o["partition"], o["offset"])].append((o["value"], "read", _gen_at(starts, o["t"])))
    for key, entries in by_offset.items():
        values = {e[0] for e in entries}
        if len(values) < 2:
            continue
        firm = set()  # values the broker may not take back
        for v, src, _ in entries:
            if src in ("final", "ack"):
                firm.add(v)
        per_gen = defaultdict(set)
        for v, src, g in entries:
            if src == "read":
                per_gen[g].add(v)
        conflict = len(firm) > 1 or any(len(s) > 1 for s in per_gen.values())
        what = {"partition": key[0], "offset": key[1], "values": len(values),
                "some": sorted(values)[:4]}
        if conflict:
            if relaxed and (values & lost):
                found("offset_conflict_after_loss", what)
            else:
                found("offset_conflict", what)
        else:
            found("offset_reused_after_crash_unacknowledged", what)

    # committed offsets going backwards
    best = {}  # (group, partition) -> (offset, t)
    events = sorted((o for o in ops if o["type"] in ("commit", "committed")
                     and "partition" in o and o.get("status", "ok") == "ok"),
                    key=lambda o: o["t"])
    # commits whose request the client timed out and sent again
    resent = {(o["group"], o["partition"], o["offset"]) for o in events
              if o["type"] == "commit" and o["t"] - o.get("t0", o["t"]) > COMMIT_TIMEOUT_S}
    for o in events:
        key = (o["group"], o["partition"])
        off = o["offset"]
        if off is None or off < 0:
            if o["type"] == "committed" and key in best:
                found("commit_regression", {"group": key[0], "partition": key[1], "was": best[key][0],
                                            "now": off, "t": o["t"], "how": "none on assignment"})
            continue
        # a fetch that began before the commit ended may not see it
        if key in best and off < best[key][0] and o.get("t0", o["t"]) >= best[key][1]:
            what = {"group": key[0], "partition": key[1], "was": best[key][0], "now": off,
                    "t": o["t"], "how": o["type"]}
            if (key[0], key[1], off) in resent:
                found("commit_landed_late", what)
                best[key] = (off, o["t"])  # judged from here: the coordinator's state now
                continue
            found("commit_regression", what)
        if o["type"] == "commit" and (key not in best or off > best[key][0]):
            best[key] = (off, o["t"])
        elif o["type"] == "committed" and (key not in best or off > best[key][0]):
            best[key] = (off, o["t"])

    # consumers reading past the high watermark
    hws = defaultdict(list)  # partition -> [(t0, high, gen)]
    for o in ops:
        if o["type"] == "hw":
            hws[o["partition"]].append((o.get("t0", o["t"]), o["high"], _gen_at(starts, o["t"])))
    for lst in hws.values():
        lst.sort()
    counts["hw_samples"] = sum(len(v) for v in hws.values())
    for o in reads:
        lst = hws.get(o["partition"], [])
        i = bisect.bisect_right(lst, (o["t"], float("inf"), 0))
        g = _gen_at(starts, o["t"])
        # The read time is when the application got the record: for a while
        # after a restart librdkafka still hands out what it fetched from the
        # process before, whose high watermark may have been higher.
        if g >= 2 and o["t"] < starts[g - 1] + PREFETCH_GRACE_S:
            counts["reads_unchecked_after_restart"] += 1
            continue
        if i < len(lst) and lst[i][2] == g and _gen_at(starts, lst[i][0]) == g and o["offset"] >= lst[i][1]:
            found("read_past_hw", {"partition": o["partition"], "offset": o["offset"],
                                   "hw_after": lst[i][1], "t": o["t"]})

    # acknowledgements after a failed sync, before the restart ("fsyncgate")
    _check_failed_syncs(ops, acked, found)

    failures = ("lost", "duplicate", "reorder", "offset_conflict", "commit_regression",
                "read_past_hw", "acked_after_failed_sync")
    for k in failures + ("lost_expected", "offset_conflict_after_loss", "commit_landed_late",
                         "offset_reused_after_crash_unacknowledged",
                         "rewritten_after_crash_unacknowledged"):
        counts.setdefault(k, 0)
    bad = {k: counts[k] for k in failures if counts[k]}
    ok = not bad and counts["final_records"] > 0 and counts["acknowledged"] > 0
    return {"valid": ok, "relaxed": relaxed, "failures": bad, "counts": dict(counts),
            "examples": dict(examples)}


def _check_failed_syncs(ops, acked, found):
    """A write sent while the node's syncs failed, to a partition whose sync
    failed, acknowledged after the fault was disarmed but before the node was
    restarted: a later sync was taken as proof for pages an earlier one lost."""
    start = None
    for i, o in enumerate(ops):
        if o["type"] == "fault" and o["phase"] == "start" and o["fault"] == "fsync":
            start = o["t"]
        if not (o["type"] == "fault-note" and o.get("phase") == "disarmed") or start is None:
            continue
        stop = next((x["t"] for x in ops[i:] if x["type"] == "node" and x["event"] == "stopped"),
                    float("inf"))
        parts = set(o["partitions_failed"])
        for v, a in acked.items():
            if a["partition"] in parts and a["t0"] >= start and o["t"] <= a["t"] <= stop:
                found("acked_after_failed_sync", {"value": v, "partition": a["partition"],
                                                  "acked_at": a["t"], "disarmed_at": o["t"]})
        start = None


def summary(result, why="relaxed durability"):
    """`why` names what lets a crash take acknowledged writes in this run."""
    c = result["counts"]
    lines = ["verdict: %s%s" % ("PASS" if result["valid"] else "FAIL",
                                " (%s)" % why if result["relaxed"] else ""),
             "faults %d, produced %d, acknowledged %d, unknown %d, failed %d, reads %d, "
             "final records %d, hw samples %d" % (c["faults"], c["produced"], c["acknowledged"],
                                                  c["unknown"], c["failed"], c["reads"],
                                                  c["final_records"], c.get("hw_samples", 0)),
             "lost %d, duplicates %d, reorderings %d, offset conflicts %d, committed offsets "
             "going back %d, reads past the high watermark %d, acknowledged after a failed "
             "sync %d" % (c["lost"], c["duplicate"], c["reorder"], c["offset_conflict"],
                          c["commit_regression"], c["read_past_hw"],
                          c["acked_after_failed_sync"])]
    if result["relaxed"] or c["lost_expected"]:
        lines.append("expected under %s: lost %d, offset conflicts %d"
                     % (why, c["lost_expected"], c["offset_conflict_after_loss"]))
    if c["commit_landed_late"]:
        lines.append("commits sent twice by the client whose first copy landed late "
                     "(allowed, as in Kafka): %d" % c["commit_landed_late"])
    lines.append("unacknowledged writes present %d; after a crash took unacknowledged data "
                 "that had been read: offsets reused %d, values rewritten elsewhere %d"
                 % (c["unacknowledged_present"], c["offset_reused_after_crash_unacknowledged"],
                    c["rewritten_after_crash_unacknowledged"]))
    for k, ex in result["examples"].items():
        for e in ex:
            lines.append("  %s: %s" % (k, e))
    return "\n".join(lines)
