#!/usr/bin/python3
"""Runs real Kafka clients against a Skein broker and prints a client x scenario matrix.

For each client: a fresh broker on a free loopback port with its own data folder, the
client's scenarios in order (each a subprocess with a timeout), then SIGTERM, which must
end the broker with status 0. Writes compat-tests/MATRIX.md; exits 1 if any cell the
client supports and the broker serves fails.

With --cluster 3 each client gets three combined nodes (broker + controller, a 3-voter
quorum) instead of one broker: all three are the bootstrap servers, the clients create
topics with replication factor 3, auto-created topics get 3 replicas too, and
min.insync.replicas is 2; the restart scenarios stop and start node 3. The result is the
"3-broker cluster" section of MATRIX.md.

  /usr/bin/python3 compat-tests/run.py [--client NAME] [--scenario NAME] [--skein PATH]
                                       [--cluster 3]
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from skeinlib import records, wire  # noqa: E402
from skeinlib.broker import Broker, BrokerError, default_skein  # noqa: E402
from skeinlib.cluster import Cluster  # noqa: E402
from skeinlib.sarama import build_sarama  # noqa: E402

PY = "/usr/bin/python3"
SCENARIOS = ["metadata", "create-topic", "produce", "consume", "idempotent", "group",
             "offsets", "admin", "large", "restart-term", "restart-kill", "cross-client"]
TIMEOUTS = {"metadata": 60, "create-topic": 60, "produce": 300, "consume": 300,
            "idempotent": 120, "group": 180, "offsets": 120, "admin": 120, "large": 120,
            "restart-term": 180, "restart-kill": 180, "xc-produce": 120, "xc-consume": 180}
RESTART_SIGNAL = {"restart-term": signal.SIGTERM, "restart-kill": signal.SIGKILL}

(PRODUCE, FETCH, LIST_OFFSETS, METADATA, CREATE_TOPICS, DELETE_TOPICS, DELETE_RECORDS,
 INIT_PRODUCER_ID, DESCRIBE_CONFIGS, ALTER_CONFIGS, CREATE_PARTITIONS,
 INCREMENTAL_ALTER_CONFIGS) = 0, 1, 2, 3, 19, 20, 21, 22, 32, 33, 37, 44
GROUP_APIS = {8, 9, 10, 11, 12, 13, 14}  # commit, fetch offsets, coordinator, join..sync
ADMIN_CREATE = {CREATE_TOPICS}
# librdkafka turns on RecordBatch v2 (its MSGVER2 feature) only when the broker has both
# Produce v3+ and Fetch v4+; with Produce alone it sends magic 0 sets at Produce v7,
# which Kafka (and Skein) refuse with INVALID_RECORD.
RDKAFKA_PRODUCE = {PRODUCE, FETCH}
CONSUME_ASSIGNED = {FETCH, LIST_OFFSETS}
ROUND_TRIP = {PRODUCE} | CONSUME_ASSIGNED
ADMIN_ALL = {DESCRIBE_CONFIGS, ALTER_CONFIGS, CREATE_PARTITIONS, DELETE_RECORDS, DELETE_TOPICS}

# What a scenario needs from the broker, unless a client says otherwise. A cell whose
# APIs the broker does not advertise (ApiVersions) is "pending: broker lacks ...".
NEEDS = {"metadata": set(), "create-topic": ADMIN_CREATE, "produce": {PRODUCE},
         "consume": ROUND_TRIP, "idempotent": ROUND_TRIP | {INIT_PRODUCER_ID},
         "group": ROUND_TRIP | GROUP_APIS, "offsets": ROUND_TRIP,
         "admin": ROUND_TRIP | ADMIN_ALL | ADMIN_CREATE, "large": ROUND_TRIP | ADMIN_CREATE,
         "restart-term": ROUND_TRIP, "restart-kill": ROUND_TRIP, "cross-client": ROUND_TRIP}


def py_client(script):
    return [PY, os.path.join(HERE, "clients", script)]


def node_client(script):
    return ["node", os.path.join(HERE, "js", script)]


def have_module(mod):
    return lambda: subprocess.run([PY, "-c", "import " + mod], capture_output=True).returncode == 0


def have_node_module(mod):
    return lambda: (shutil.which("node") is not None and
                    os.path.isdir(os.path.join(HERE, "js", "node_modules", mod)))


BUILT = {}  # client -> path of the program built for it (Go, C)


def built(name):
    return lambda: [BUILT[name]] if BUILT.get(name) else None


ALL_SCENARIOS = list(SCENARIOS)

# cmd: argv prefix (or a function giving it, None if not built); scenarios: the ones
# written for the client; unsupported: scenario -> why the client cannot do it;
# needs: per-client changes to NEEDS; env: set for each of the client's runs.
CLIENTS = {
    "librdkafka": {
        # compat-tests/c/rdkafka_compat.c on librdkafka-dev, built by meson.
        "cmd": built("librdkafka"),
        "available": lambda: bool(BUILT.get("librdkafka")),
        "install": "apt-get install librdkafka-dev, then meson setup",
        "needs": {"produce": RDKAFKA_PRODUCE | ADMIN_CREATE},
        "scenarios": ALL_SCENARIOS,
    },
    "kcat": {
        "cmd": py_client("kcat_client.py"),
        "available": lambda: shutil.which("kcat") is not None,
        "install": "apt-get install kcat",
        "needs": {"create-topic": set(), "produce": RDKAFKA_PRODUCE, "large": ROUND_TRIP},
        "scenarios": ["metadata", "create-topic", "produce", "consume", "offsets", "large",
                      "cross-client"],
        "unsupported": {"idempotent": "kcat has no per-record delivery reports to check",
                        "group": "kcat -G cannot commit or be restarted under control",
                        "admin": "kcat has no admin commands",
                        "restart-term": "one kcat run is not a controllable loop",
                        "restart-kill": "one kcat run is not a controllable loop"},
    },
    "kafka-python": {
        "cmd": py_client("kafka_python_client.py"),
        "available": have_module("kafka"),
        "install": "apt-get install python3-kafka",
        "needs": {"produce": {PRODUCE} | ADMIN_CREATE,
                  # kafka-python 2.0.2 has no delete_records in its admin client.
                  "admin": ROUND_TRIP | ADMIN_CREATE | {DESCRIBE_CONFIGS, ALTER_CONFIGS,
                                                        CREATE_PARTITIONS, DELETE_TOPICS}},
        "scenarios": ALL_SCENARIOS,
        "unsupported": {"idempotent": "kafka-python 2.0.2 has no idempotent producer"},
    },
    "confluent-kafka-python": {
        "cmd": py_client("confluent_client.py"),
        "available": have_module("confluent_kafka"),
        "install": "apt-get install python3-confluent-kafka",
        "needs": {"produce": RDKAFKA_PRODUCE | ADMIN_CREATE,
                  # confluent-kafka-python 1.7 has no delete_records in its AdminClient.
                  "admin": ROUND_TRIP | ADMIN_CREATE | {DESCRIBE_CONFIGS, ALTER_CONFIGS,
                                                        CREATE_PARTITIONS, DELETE_TOPICS}},
        "scenarios": ALL_SCENARIOS,
    },
    "kafkajs": {
        "cmd": node_client("kafkajs.mjs"),
        "available": have_node_module("kafkajs"),
        "install": "cd compat-tests/js && npm ci",
        # kafkajs can only consume through a consumer group.
        "needs": {"produce": {PRODUCE} | ADMIN_CREATE,
                  **{s: NEEDS[s] | GROUP_APIS for s in
                     ("consume", "idempotent", "offsets", "admin", "large", "restart-term",
                      "restart-kill", "cross-client")}},
        "scenarios": ALL_SCENARIOS,
    },
    "platformatic-kafka": {
        "cmd": node_client("platformatic.mjs"),
        "available": have_node_module("@platformatic/kafka"),
        "install": "cd compat-tests/js && npm ci",
        "needs": {"produce": {PRODUCE} | ADMIN_CREATE},
        "scenarios": ALL_SCENARIOS,
    },
    "sarama": {
        "cmd": built("sarama"),
        "available": lambda: bool(BUILT.get("sarama")),
        "install": "apt-get install golang-go golang-github-shopify-sarama-dev",
        "needs": {"produce": {PRODUCE} | ADMIN_CREATE},
        "scenarios": ALL_SCENARIOS,
    },
}


# A current librdkafka beside Debian's 2.0.2 (deploy/build-librdkafka.sh builds it into
# build-deps/): it sends newer protocol versions. The rows on it set
# COMPAT_LIBRDKAFKA_VERSION, and each of their runs first checks that the library it
# loaded is that one, so a row cannot pass on Debian's library by mistake.
RDKAFKA_NEW = "2.12.0"
RDKAFKA_NEW_LIB = os.path.join(os.path.dirname(HERE), "build-deps",
                               "librdkafka-" + RDKAFKA_NEW, "lib")
RDKAFKA_NEW_INSTALL = "deploy/setup.sh --test (deploy/build-librdkafka.sh)"


def rdkafka_new_built():
    return os.path.isfile(os.path.join(RDKAFKA_NEW_LIB, "librdkafka.so.1"))


def on_rdkafka_new(base, preload, **changes):
    """The spec of client `base` over the new librdkafka. preload: the program loads
    librdkafka.so.1 by name (Python module, kcat), so LD_LIBRARY_PATH points the loader
    at the new one; the C program is built against it and finds it through its rpath."""
    spec = dict(CLIENTS[base])
    spec["install"] = RDKAFKA_NEW_INSTALL + ", then " + spec["install"]
    spec.update(changes)
    env = {"COMPAT_ROW": base + "-" + RDKAFKA_NEW, "COMPAT_LIBRDKAFKA_VERSION": RDKAFKA_NEW}
    if preload:
        env["LD_LIBRARY_PATH"] = ":".join(
            p for p in (RDKAFKA_NEW_LIB, os.environ.get("LD_LIBRARY_PATH")) if p)
    spec["env"] = env
    was_available = spec["available"]
    spec["available"] = lambda: rdkafka_new_built() and was_available()
    return spec


def with_rdkafka_new_rows():
    """CLIENTS with a row over the new librdkafka right below each client built on it."""
    c_row = "librdkafka-" + RDKAFKA_NEW
    new = {"librdkafka": (False, {"cmd": built(c_row),
                                  "available": lambda: bool(BUILT.get(c_row)),
                                  "install": RDKAFKA_NEW_INSTALL +
                                  ", then meson setup --reconfigure"}),
           "kcat": (True, {}),
           "confluent-kafka-python": (True, {})}
    rows = {}
    for name, spec in CLIENTS.items():
        rows[name] = spec
        if name in new:
            preload, changes = new[name]
            rows[name + "-" + RDKAFKA_NEW] = on_rdkafka_new(name, preload, **changes)
    return rows


CLIENTS = with_rdkafka_new_rows()


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
                              self.status in ("pending", "skip") else "")

    def failed(self):
        return self.status == "fail"


def probe(broker):
    """What the clients must see: the broker's own answer, read with raw requests."""
    av = wire.api_versions(broker.port, version=3)
    if av["error"] != 0:
        raise BrokerError("ApiVersions v3 returned error %d" % av["error"])
    md = wire.metadata(broker.port, version=9)
    return av["apis"], md


class Run:
    """One client program run: reads its stdout as it comes, restarts the broker when
    the program asks (`control: restart`), and collects the RESULT line."""

    def __init__(self, client, scenario, broker, expect, apis, extra_args=(), env=None,
                 restart_signal=None):
        self.client, self.scenario, self.broker = client, scenario, broker
        self.restart_signal = restart_signal
        cmd = client_cmd(client) + [scenario, "--bootstrap", broker.bootstrap,
                                    "--expect", json.dumps(expect),
                                    "--apis", ",".join(str(k) for k in sorted(apis))]
        cmd += list(extra_args)
        self.env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self.env.update(CLIENTS[client].get("env", {}))
        self.env.update(env or {})
        self.cmd = cmd
        self.lines, self.notes = [], []
        self.restart_problem = None

    def _restart(self, proc):
        sig = self.restart_signal
        if sig is None:
            self.restart_problem = "the program asked for a restart outside a restart scenario"
            return
        self.broker.signal(sig)
        rc = self.broker.wait(30)
        if sig == signal.SIGTERM and rc != 0:
            self.restart_problem = "broker exit status after SIGTERM was %r, expected 0: %s" % (
                rc, self.broker.tail(8))
        if rc is None:
            self.broker.kill()
        try:
            self.broker.start()
        except BrokerError as e:
            self.restart_problem = "broker did not come back: %s" % e
            return
        try:
            proc.stdin.write(b"restarted\n")
            proc.stdin.flush()
        except OSError:
            pass

    def run(self, timeout):
        t0 = time.monotonic()
        proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env, cwd=HERE)
        err_chunks = []
        et = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()),
                              daemon=True)
        et.start()

        def out():
            for raw in proc.stdout:
                ln = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(ln)
                if ln.startswith("control: restart"):
                    self._restart(proc)
        ot = threading.Thread(target=out, daemon=True)
        ot.start()
        try:
            proc.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            timed_out = True
        ot.join(10)
        et.join(10)
        dt = time.monotonic() - t0
        stderr = (err_chunks[0] if err_chunks else b"").decode(errors="replace")
        steps = [ln[6:] for ln in self.lines if ln.startswith("step: ")]
        if timed_out:
            c = Cell("fail", steps[-1] if steps else "", "timed out after %ss" % timeout,
                     seconds=dt)
            c.stderr = stderr[-3000:]
            return c, None
        result = None
        for ln in self.lines:
            if ln.startswith("RESULT "):
                try:
                    result = json.loads(ln[7:])
                except ValueError:
                    pass
        if result is None:
            c = Cell("fail", steps[-1] if steps else "",
                     "no RESULT line (exit %d): %s" % (proc.returncode, stderr[-1500:]),
                     seconds=dt)
            c.stderr = stderr[-3000:]
            return c, None
        cell = Cell(result["status"], result.get("step", ""), result.get("detail", ""),
                    result.get("notes", ()), dt)
        if self.restart_problem and cell.status == "pass":
            cell = Cell("fail", "broker restart", self.restart_problem, cell.notes, dt)
        cell.stderr = stderr[-3000:]
        return cell, result


def client_cmd(client):
    c = CLIENTS[client]["cmd"]
    return c() if callable(c) else c


def run_scenario(client, scenario, broker, expect, apis):
    r = Run(client, scenario, broker, expect, apis,
            restart_signal=RESTART_SIGNAL.get(scenario))
    return r.run(TIMEOUTS[scenario])[0]


def missing_apis(needs, apis):
    return [wire.API_NAMES.get(k, str(k)) for k in sorted(needs) if k not in apis]


def needs(client, scenario):
    return CLIENTS[client].get("needs", {}).get(scenario, NEEDS[scenario])


def gate(client, scenario, apis):
    """The cell a scenario gets without running, or None if it is to run."""
    spec = CLIENTS[client]
    if scenario in spec.get("unsupported", {}):
        return Cell("unsupported", detail=spec["unsupported"][scenario])
    if scenario not in spec.get("scenarios", SCENARIOS):
        return Cell("todo", detail="scenario not written for this client yet")
    lacking = missing_apis(needs(client, scenario), apis)
    if lacking:
        return Cell("pending", detail="broker lacks " + ", ".join(lacking))
    return None


# With --jobs > 1 each client runs on its own thread, and what it says is kept
# (per thread) and printed whole when its turn in the list comes.
_OUT = threading.local()


def say(text):
    lines = getattr(_OUT, "lines", None)
    if lines is None:
        print(text, flush=True)
    else:
        lines.append(text)


def print_cell(client, s, c, verbose):
    say("  %-22s %-14s %6.1fs  %s" % (client, s, c.seconds, c.short()))
    if c.failed():
        say("      %s" % c.detail)
        if verbose and getattr(c, "stderr", ""):
            say("      client stderr:\n" + c.stderr)
    for n in c.notes:
        say("      note: %s" % n)


class ClusterTarget:
    """A cluster seen through the single broker's interface the runner uses: clients
    bootstrap from every node, restarts and signals go to one node (RESTARTED), and
    stopping means SIGTERM to all with each node's exit status checked."""
    RESTARTED = 3
    # What a production cluster's properties say (Skein's built-in defaults, like
    # Kafka's config/kraft/server.properties, are for one node).
    CONFIG = ("default.replication.factor=%d", "min.insync.replicas=2",
              "offsets.topic.replication.factor=%d", "transaction.state.log.replication.factor=%d",
              "transaction.state.log.min.isr=2")

    def __init__(self, skein, size):
        self.cl = Cluster(skein, size, [c % size if "%" in c else c for c in self.CONFIG],
                          prefix="skein-compat-cluster-")
        self.node_id = 1
        self.problems = None

    @property
    def victim(self):
        return self.cl.node(min(self.RESTARTED, len(self.cl.nodes)))

    @property
    def bootstrap(self):
        return self.cl.bootstrap

    @property
    def port(self):
        return self.cl.nodes[0].port

    def start(self, timeout=60):
        if self.cl.cluster_id is None:
            self.cl.start()
            return self
        self.victim.start(timeout=timeout)
        self.cl.wait_ready()
        return self

    def signal(self, sig):
        self.victim.signal(sig)

    def wait(self, timeout=30):
        return self.victim.wait(timeout)

    def kill(self):
        self.victim.kill()

    def tail(self, n=25):
        if self.problems:
            return "; ".join("node %d: %s" % kv for kv in sorted(self.problems.items()))
        return self.victim.tail(n)

    def stop(self):
        self.problems = self.cl.stop()
        return 0 if not self.problems else 1

    def sanitizer_report(self):
        return "\n".join(r for r in (n.sanitizer_report() for n in self.cl.nodes) if r) or None

    def cleanup(self):
        self.cl.cleanup()


def start_broker(name):
    return start_cluster() if CLUSTER > 1 else start_single(name)


def start_single(name):
    broker = Broker(SKEIN, name=name)
    broker.start()
    apis, md = probe(broker)
    expect = {"cluster_id": md["cluster_id"], "node_id": broker.node_id,
              "controller_id": broker.node_id, "host": "127.0.0.1", "port": broker.port}
    brokers = [(b["node_id"], b["host"], b["port"]) for b in md["brokers"]]
    if brokers != [(1, "127.0.0.1", broker.port)] or md["controller_id"] != 1 \
            or not md["cluster_id"]:
        say("  raw Metadata v9 disagrees with the configuration: brokers %r "
            "controller %r cluster %r" % (brokers, md["controller_id"], md["cluster_id"]))
    return broker, apis, md, expect


def start_cluster():
    target = ClusterTarget(SKEIN, CLUSTER)
    try:
        target.start()
        apis, md = probe(target)
    except Exception:
        target.cleanup()
        raise
    brokers = sorted([b["node_id"], b["host"], b["port"]] for b in md["brokers"])
    want = sorted([n.node_id, "127.0.0.1", n.port] for n in target.cl.nodes)
    if brokers != want:
        say("  raw Metadata v9 lists brokers %r, expected %r" % (brokers, want))
    expect = {"cluster_id": md["cluster_id"], "node_id": target.node_id,
              "controller_id": md["controller_id"], "host": "127.0.0.1", "port": target.port,
              "brokers": want, "broker_count": len(want), "replication_factor": CLUSTER,
              "min_insync_replicas": 2}
    return target, apis, md, expect


def stop_problem(broker):
    problem = None
    rc = broker.stop()
    if rc != 0:
        problem = "broker exit status after SIGTERM was %r, expected 0; stderr tail:\n%s" % (
            rc, broker.tail())
    report = broker.sanitizer_report()
    if report:
        problem = (problem or "") + "\nsanitizer report in broker stderr:\n" + report[-4000:]
    return problem


def run_client(client, scenarios, verbose):
    spec = CLIENTS[client]
    cells = {}
    own = [s for s in scenarios if s != "cross-client"]
    if not spec["available"]():
        for s in own:
            cells[s] = Cell("skip", detail="client not installed (%s)" % spec["install"])
        return cells, None
    gated = {s: gate(client, s, APIS) for s in own}
    if all(gated.values()):
        for s in own:
            cells[s] = gated[s]
            print_cell(client, s, cells[s], verbose)
        return cells, None
    broker = None
    try:
        try:
            broker, apis, md, expect = start_broker(client)
        except (BrokerError, OSError, wire.DecodeError, wire.Closed) as e:
            for s in own:
                cells[s] = Cell("fail", "broker start", str(e).replace("\n", " | ")[:600])
            say("  broker did not start: %s" % e)
            return cells, {"cluster_id": None, "problem": "broker did not start: %s" % e}
        for s in own:
            cells[s] = gate(client, s, apis) or run_scenario(client, s, broker, expect, apis)
            print_cell(client, s, cells[s], verbose)
        return cells, cluster_summary(md, stop_problem(broker))
    finally:
        if broker:
            broker.cleanup()


def run_clients(clients, scenarios, verbose, jobs):
    """Every client's cells and broker summary; with jobs > 1 that many
    clients at a time, their output printed whole in the list's order."""
    results, extra = {}, {}
    if jobs <= 1:
        for c in clients:
            print("%s:" % c, flush=True)
            results[c], extra[c] = run_client(c, scenarios, verbose)
        return results, extra

    def one(c):
        _OUT.lines = []
        try:
            return run_client(c, scenarios, verbose), _OUT.lines
        finally:
            _OUT.lines = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [(c, pool.submit(one, c)) for c in clients]
        for c, f in futures:
            (results[c], extra[c]), lines = f.result()
            print("%s:" % c, flush=True)
            for line in lines:
                print(line, flush=True)
    return results, extra


def cluster_summary(md, problem):
    return {"cluster_id": md["cluster_id"], "problem": problem}


def run_cross(clients, verbose):
    """One broker for all: each client produces xc-<client>, then every client consumes
    every such topic and reports what it saw; the runner compares all the views."""
    cells = {c: Cell("skip", detail="client not installed (%s)" % CLIENTS[c]["install"])
             for c in clients if not CLIENTS[c]["available"]()}
    pairs = {}
    live = [c for c in clients if c not in cells]
    for c in live:
        g = gate(c, "cross-client", APIS)
        if g:
            cells[c] = g
    live = [c for c in live if c not in cells]
    if not live:
        return cells, pairs, None
    broker, apis, md, expect = start_broker("cross-client")
    tmp = tempfile.mkdtemp(prefix="skein-xc-")
    try:
        produced, failed = [], {}
        for c in live:
            cell, res = Run(c, "xc-produce", broker, expect, apis).run(TIMEOUTS["xc-produce"])
            print_cell(c, "xc-produce", cell, verbose)
            if cell.status == "pass":
                produced.append((c, (res or {}).get("timestamps", True)))
            else:
                failed[c] = cell
        topics = [records.xc_topic(c) for c, _ in produced]
        views = {}
        for c in live:
            out = os.path.join(tmp, c + ".jsonl")
            cell, res = Run(c, "xc-consume", broker, expect, apis,
                            ["--topics", ",".join(topics), "--out", out]).run(
                TIMEOUTS["xc-consume"])
            print_cell(c, "xc-consume", cell, verbose)
            if cell.status != "pass":
                failed.setdefault(c, cell)
                continue
            views[c] = {}
            with open(out) as f:
                for ln in f:
                    o = json.loads(ln)
                    views[c].setdefault(o[0], []).append(o)
        for p, has_ts in produced:
            t = records.xc_topic(p)
            exp = [records.observation(t, i, records.key(i), records.value(i, t),
                                       records.headers(i), records.timestamp(i))
                   for i in range(records.XC_N)]
            for c in views:
                got = views[c].get(t, [])
                pairs[(p, c)] = xc_compare(exp, got, has_ts)
        for c in live:
            if c in failed:
                cells[c] = failed[c]
                continue
            bad = ["%s -> %s: %s" % (p, q, e) for (p, q), e in pairs.items()
                   if e and c in (p, q)]
            if bad:
                cells[c] = Cell("fail", "compare", "; ".join(bad)[:1500])
            else:
                cells[c] = Cell("pass", seconds=0.0)
        return cells, pairs, cluster_summary(md, stop_problem(broker))
    finally:
        broker.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def xc_compare(exp, got, has_ts):
    if len(got) != len(exp):
        return "consumed %d records, expected %d" % (len(got), len(exp))
    for e, g in zip(exp, got):
        if not has_ts:  # the producer cannot set timestamps (kcat): any CreateTime
            e = e[:5] + [g[5]]
        if e != g:
            return "expected %s, got %s" % (json.dumps(e), json.dumps(g))
    return None


CLUSTER_SECTION = "## 3-broker cluster"


def splice_matrix(path, lines):
    """MATRIX.md holds the single-broker matrix and, after CLUSTER_SECTION, the
    cluster's; a run replaces its own part and keeps the other."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        old = ""
    mark = "\n" + CLUSTER_SECTION
    head, _, tail = old.partition(mark)
    if CLUSTER > 1:
        # The cluster's tables go one heading level down, under its section.
        body = [("#" + ln if ln.startswith("## ") else ln) for ln in lines[1:]]
        text = (head.rstrip("\n") + "\n\n" + CLUSTER_SECTION + " (`run.py --cluster %d`)\n"
                % CLUSTER + "\n".join(body) + "\n")
    else:
        text = "\n".join(lines) + "\n" + (mark + tail if tail else "")
    with open(path, "w") as f:
        f.write(text)


def write_matrix(path, clients, scenarios, results, extra, pairs, seconds):
    lines = ["# Skein client compatibility matrix", "",
             ("Three combined nodes (broker + controller, 3-voter quorum), all three as "
              "bootstrap servers; topics with replication factor 3 and min.insync.replicas "
              "2; restart-term / restart-kill stop node 3 while the client produces and "
              "consumes, and start it again: its leaderships move to the other nodes (at "
              "once on SIGTERM, a controlled shutdown; when its session lapses on SIGKILL) "
              "and the clients follow the leader moves. " if CLUSTER > 1 else "") +
             "Written by `compat-tests/run.py` (%d records per codec and acks, %d per "
             "cross-client topic; %.0f s in all). `pending` cells wait for the broker to "
             "advertise the APIs named (read from ApiVersions); `skip` cells lack something "
             "on this machine; `todo` cells have no scenario written yet; `pass *` has notes "
             "below." % (records.N, records.XC_N, seconds), "",
             "| client | " + " | ".join(scenarios) + " |",
             "|---|" + "---|" * len(scenarios)]
    for c in clients:
        lines.append("| %s | %s |" % (c, " | ".join(results[c][s].short() for s in scenarios)))
    if pairs:
        cons = sorted({q for _, q in pairs}, key=clients.index)
        prods = sorted({p for p, _ in pairs}, key=clients.index)
        lines += ["", "## Cross-client: rows produced, columns consumed", "",
                  "| producer / consumer | " + " | ".join(cons) + " |",
                  "|---|" + "---|" * len(cons)]
        for p in prods:
            lines.append("| %s | %s |" % (p, " | ".join(
                ("pass" if pairs.get((p, q)) is None else "FAIL") if (p, q) in pairs else "-"
                for q in cons)))
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
    splice_matrix(path, lines)


SKEIN = None
APIS = {}
CLUSTER = 1  # nodes per target; > 1 runs each client against a replicated cluster


def main():
    global SKEIN, APIS, CLUSTER
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--client", action="append", choices=sorted(CLIENTS),
                    help="run only this client (repeatable)")
    ap.add_argument("--scenario", action="append", choices=SCENARIOS,
                    help="run only this scenario (repeatable)")
    ap.add_argument("--skein", default=default_skein(), help="the broker binary")
    ap.add_argument("--rdkafka-program", default=None,
                    help="the built compat-tests/c program (default: next to the broker's "
                         "build folder); the one on librdkafka %s is beside it, its name "
                         "ending in -%s" % (RDKAFKA_NEW, RDKAFKA_NEW))
    ap.add_argument("--cluster", type=int, choices=(1, 3), default=1,
                    help="nodes per target: 3 runs every client against a 3-node cluster "
                         "with replication factor 3 topics")
    ap.add_argument("--matrix", default=os.path.join(HERE, "MATRIX.md"))
    ap.add_argument("-v", "--verbose", action="store_true", help="print client stderr on failure")
    ap.add_argument("--jobs", type=int, default=1,
                    help="clients run at once, each against its own broker (or cluster)")
    args = ap.parse_args()
    clients = args.client or list(CLIENTS)
    scenarios = [s for s in SCENARIOS if not args.scenario or s in args.scenario]
    SKEIN = os.path.abspath(args.skein)
    CLUSTER = args.cluster
    if not os.access(SKEIN, os.X_OK):
        print("broker binary %s is missing or not executable (meson setup build && "
              "ninja -C build)" % SKEIN)
        return 2
    print("Skein compatibility: broker %s" % SKEIN)
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="skein-compat-bin-")
    try:
        if "sarama" in clients:
            BUILT["sarama"] = build_sarama(work)
        # Absolute: the client programs run in compat-tests/.
        prog = os.path.abspath(args.rdkafka_program or os.path.join(
            os.path.dirname(os.path.dirname(SKEIN)), "compat-tests", "rdkafka_compat"))
        if os.access(prog, os.X_OK):
            BUILT["librdkafka"] = prog
        if os.access(prog + "-" + RDKAFKA_NEW, os.X_OK):
            BUILT["librdkafka-" + RDKAFKA_NEW] = prog + "-" + RDKAFKA_NEW
        # What the broker serves decides pending cells; read it once from a scratch broker.
        b, APIS, _, _ = start_single("probe")
        b.stop()
        b.cleanup()
        results, extra = run_clients(clients, scenarios, args.verbose, args.jobs)
        pairs = {}
        if "cross-client" in scenarios:
            print("cross-client:", flush=True)
            xc, pairs, extra["cross-client"] = run_cross(clients, args.verbose)
            for c in clients:
                results[c]["cross-client"] = xc[c]
            for (p, q), e in sorted(pairs.items()):
                if e:
                    print("  %s -> %s: %s" % (p, q, e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - t0
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
    if not args.client and not args.scenario:
        write_matrix(args.matrix, clients, scenarios, results, extra, pairs, seconds)
        print("\nwrote %s" % args.matrix)
    print("%d failing cell(s), %d broker problem(s), %.0fs" % (len(failed), len(broker_problems),
                                                                seconds))
    return 1 if failed or broker_problems else 0


if __name__ == "__main__":
    sys.exit(main())
