#!/usr/bin/python3
"""Runs real Kafka clients against a Skein broker and prints a client x scenario matrix.

For each client: a fresh broker on a free loopback port with its own data folder, the
client's scenarios in order (each a subprocess with a timeout), then SIGTERM, which must
end the broker with status 0. Writes compat-tests/MATRIX.md; exits 1 if any cell the
client supports and the broker serves fails.

  /usr/bin/python3 compat-tests/run.py [--client NAME] [--scenario NAME] [--skein PATH]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from skeinlib import wire  # noqa: E402
from skeinlib.broker import Broker, BrokerError, default_skein  # noqa: E402

PY = "/usr/bin/python3"
SCENARIOS = ["metadata", "create-topic", "produce", "consume"]
TIMEOUTS = {"metadata": 60, "create-topic": 60, "produce": 300, "consume": 300}

PRODUCE, FETCH, LIST_OFFSETS, METADATA, CREATE_TOPICS = 0, 1, 2, 3, 19
GROUP_APIS = {8, 9, 10, 11, 12, 13, 14}  # commit, fetch offsets, coordinator, join..sync
ADMIN_CREATE = {CREATE_TOPICS}
# librdkafka turns on RecordBatch v2 (its MSGVER2 feature) only when the broker has both
# Produce v3+ and Fetch v4+; with Produce alone it sends magic 0 sets at Produce v7,
# which Kafka (and Skein) refuse with INVALID_RECORD.
RDKAFKA_PRODUCE = {PRODUCE, FETCH}
CONSUME_ASSIGNED = {FETCH, LIST_OFFSETS}


def py_client(script):
    return [PY, os.path.join(HERE, "clients", script)]


def node_client(script):
    return ["node", os.path.join(HERE, "js", script)]


def have_module(mod):
    return lambda: subprocess.run([PY, "-c", "import " + mod], capture_output=True).returncode == 0


def have_node_module(mod):
    return lambda: (shutil.which("node") is not None and
                    os.path.isdir(os.path.join(HERE, "js", "node_modules", mod)))


# needs: scenario -> API keys the broker must advertise before the cell can run.
CLIENTS = {
    "kcat": {
        "cmd": py_client("kcat_client.py"),
        "available": lambda: shutil.which("kcat") is not None,
        "install": "apt-get install kcat",
        "needs": {"create-topic": set(), "produce": RDKAFKA_PRODUCE,
                  "consume": {PRODUCE} | CONSUME_ASSIGNED},
    },
    "kafka-python": {
        "cmd": py_client("kafka_python_client.py"),
        "available": have_module("kafka"),
        "install": "apt-get install python3-kafka",
        "needs": {"create-topic": ADMIN_CREATE, "produce": {PRODUCE},
                  "consume": {PRODUCE} | CONSUME_ASSIGNED},
    },
    "confluent-kafka-python": {
        "cmd": py_client("confluent_client.py"),
        "available": have_module("confluent_kafka"),
        "install": "apt-get install python3-confluent-kafka",
        "needs": {"create-topic": ADMIN_CREATE, "produce": RDKAFKA_PRODUCE,
                  "consume": {PRODUCE} | CONSUME_ASSIGNED},
    },
    "kafkajs": {
        "cmd": node_client("kafkajs.mjs"),
        "available": have_node_module("kafkajs"),
        "install": "cd compat-tests/js && npm install",
        # kafkajs can only consume through a consumer group.
        "needs": {"create-topic": ADMIN_CREATE, "produce": {PRODUCE},
                  "consume": {PRODUCE} | CONSUME_ASSIGNED | GROUP_APIS},
    },
    "platformatic-kafka": {
        "cmd": node_client("platformatic.mjs"),
        "available": have_node_module("@platformatic/kafka"),
        "install": "cd compat-tests/js && npm install",
        "needs": {"create-topic": ADMIN_CREATE},
        "scenarios": ["metadata", "create-topic"],
    },
}


class Cell:
    def __init__(self, status, step="", detail="", notes=(), seconds=0.0):
        self.status, self.step, self.detail = status, step, detail
        self.notes, self.seconds = list(notes), seconds

    def short(self):
        if self.status == "pass":
            return "pass" + (" *" if self.notes else "")
        if self.status == "fail":
            return "FAIL: " + (self.step or "?")
        if self.status == "unsupported":
            return "not supported by client"
        return self.status + (": " + self.detail if self.detail and
                              self.status in ("pending", "skip", "todo") else "")

    def failed(self):
        return self.status == "fail"


def probe(broker):
    """What the clients must see: the broker's own answer, read with raw requests."""
    av = wire.api_versions(broker.port, version=3)
    if av["error"] != 0:
        raise BrokerError("ApiVersions v3 returned error %d" % av["error"])
    md = wire.metadata(broker.port, version=9)
    return av["apis"], md


def run_scenario(client, scenario, broker, expect, apis):
    cmd = CLIENTS[client]["cmd"] + [scenario, "--bootstrap", broker.bootstrap,
                                    "--expect", json.dumps(expect),
                                    "--apis", ",".join(str(k) for k in sorted(apis))]
    t0 = time.monotonic()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUTS[scenario], env=env,
                           cwd=HERE)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        steps = [ln[6:] for ln in out.splitlines() if ln.startswith("step: ")]
        return Cell("fail", steps[-1] if steps else "", "timed out after %ss"
                    % TIMEOUTS[scenario], seconds=time.monotonic() - t0)
    dt = time.monotonic() - t0
    out = p.stdout.decode(errors="replace")
    result = None
    for ln in out.splitlines():
        if ln.startswith("RESULT "):
            try:
                result = json.loads(ln[7:])
            except ValueError:
                pass
    if result is None:
        err = p.stderr.decode(errors="replace")
        return Cell("fail", "", "no RESULT line (exit %d): %s" % (p.returncode, err[-1500:]),
                    seconds=dt)
    cell = Cell(result["status"], result.get("step", ""), result.get("detail", ""),
                result.get("notes", ()), dt)
    if cell.failed():
        cell.stderr = p.stderr.decode(errors="replace")[-3000:]
    return cell


def missing_apis(needs, apis):
    return [wire.API_NAMES.get(k, str(k)) for k in sorted(needs) if k not in apis]


def run_client(client, scenarios, skein, verbose):
    spec = CLIENTS[client]
    cells = {}
    if not spec["available"]():
        for s in scenarios:
            cells[s] = Cell("skip", detail="client not installed (%s)" % spec["install"])
        return cells, None
    broker = Broker(skein, name=client)
    try:
        try:
            broker.start()
            apis, md = probe(broker)
        except (BrokerError, OSError, wire.DecodeError, wire.Closed) as e:
            for s in scenarios:
                cells[s] = Cell("fail", "broker start", str(e).replace("\n", " | ")[:600])
            print("  broker did not start: %s" % e)
            return cells, {"cluster_id": None, "problem": "broker did not start: %s" % e}
        expect = {"cluster_id": md["cluster_id"], "node_id": broker.node_id,
                  "controller_id": broker.node_id, "host": "127.0.0.1", "port": broker.port}
        brokers = [(b["node_id"], b["host"], b["port"]) for b in md["brokers"]]
        if brokers != [(1, "127.0.0.1", broker.port)] or md["controller_id"] != 1 \
                or not md["cluster_id"]:
            print("  raw Metadata v9 disagrees with the configuration: brokers %r "
                  "controller %r cluster %r" % (brokers, md["controller_id"], md["cluster_id"]))
        for s in scenarios:
            if s not in spec.get("scenarios", SCENARIOS):
                cells[s] = Cell("todo", detail="scenario not written for this client yet")
                continue
            lacking = missing_apis(spec["needs"].get(s, set()), apis)
            if lacking:
                cells[s] = Cell("pending", detail="broker lacks " + ", ".join(lacking))
            else:
                cells[s] = run_scenario(client, s, broker, expect, apis)
            c = cells[s]
            print("  %-22s %-14s %6.1fs  %s" % (client, s, c.seconds, c.short()), flush=True)
            if c.failed():
                print("      %s" % c.detail)
                if verbose and getattr(c, "stderr", ""):
                    print("      client stderr:\n" + c.stderr)
            for n in c.notes:
                print("      note: %s" % n)
        problem = None
        rc = broker.stop()
        if rc != 0:
            problem = "broker exit status after SIGTERM was %r, expected 0; stderr tail:\n%s" % (
                rc, broker.tail())
        report = broker.sanitizer_report()
        if report:
            problem = (problem or "") + "\nsanitizer report in broker stderr:\n" + report[-4000:]
        return cells, cluster_summary(md, problem)
    finally:
        broker.cleanup()


def cluster_summary(md, problem):
    return {"cluster_id": md["cluster_id"], "problem": problem}


def write_matrix(path, clients, scenarios, results, extra):
    lines = ["# Skein client compatibility matrix", "",
             "Written by `compat-tests/run.py`. `pending` cells wait for the broker to "
             "advertise the APIs named; `skip` cells lack something on this machine; "
             "`pass *` has notes below.", "",
             "| client | " + " | ".join(scenarios) + " |",
             "|---|" + "---|" * len(scenarios)]
    for c in clients:
        lines.append("| %s | %s |" % (c, " | ".join(results[c][s].short() for s in scenarios)))
    details = []
    for c in clients:
        for s in scenarios:
            cell = results[c][s]
            if cell.failed() or cell.notes:
                d = "- **%s / %s**: %s" % (c, s, cell.status)
                if cell.failed():
                    d += " at step `%s`: %s" % (cell.step, cell.detail.replace("\n", " "))
                for n in cell.notes:
                    d += "; note: " + n
                details.append(d)
    for c, e in extra.items():
        if e and e.get("problem"):
            details.append("- **%s broker**: %s" % (c, e["problem"].replace("\n", " ")[:1500]))
    if details:
        lines += ["", "## Details", ""] + details
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--client", action="append", choices=sorted(CLIENTS),
                    help="run only this client (repeatable)")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS,
                    help="run only this scenario (repeatable)")
    ap.add_argument("--skein", default=default_skein(), help="the broker binary")
    ap.add_argument("--matrix", default=os.path.join(HERE, "MATRIX.md"))
    ap.add_argument("-v", "--verbose", action="store_true", help="print client stderr on failure")
    args = ap.parse_args()
    clients = args.client or list(CLIENTS)
    scenarios = [s for s in SCENARIOS if not args.scenario or s in args.scenario]
    skein = os.path.abspath(args.skein)
    if not os.access(skein, os.X_OK):
        print("broker binary %s is missing or not executable (meson setup build && "
              "ninja -C build)" % skein)
        return 2
    print("Skein compatibility: broker %s" % skein)
    results, extra = {}, {}
    t0 = time.monotonic()
    for c in clients:
        print("%s:" % c, flush=True)
        results[c], extra[c] = run_client(c, scenarios, skein, args.verbose)
    width = max(len(c) for c in clients)
    colw = {s: max(len(s), max(len(results[c][s].short()) for c in clients)) for s in scenarios}
    print()
    print(" " * width + " | " + " | ".join(s.ljust(colw[s]) for s in scenarios))
    for c in clients:
        print(c.ljust(width) + " | " + " | ".join(results[c][s].short().ljust(colw[s])
                                                  for s in scenarios))
    failed = [(c, s) for c in clients for s in scenarios if results[c][s].failed()]
    broker_problems = [(c, e["problem"]) for c, e in extra.items() if e and e.get("problem")]
    for c, p in broker_problems:
        print("\n%s: %s" % (c, p))
    ids = {e["cluster_id"] for e in extra.values() if e and e["cluster_id"]}
    if len(ids) > 1:
        print("\nnote: each client had its own fresh broker, hence %d cluster ids" % len(ids))
    if not args.client and not args.scenario:
        write_matrix(args.matrix, clients, scenarios, results, extra)
        print("\nwrote %s" % args.matrix)
    print("%d failing cell(s), %d broker problem(s), %.0fs" % (len(failed), len(broker_problems),
                                                                time.monotonic() - t0))
    return 1 if failed or broker_problems else 0


if __name__ == "__main__":
    sys.exit(main())
