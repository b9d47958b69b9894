"""The contract between the runner and one client's scenario program.

The program is run as `PROGRAM SCENARIO --bootstrap HOST:PORT --expect JSON --apis K,K..`
and prints, as its last stdout line, `RESULT {"status": ..., "step": ..., "detail": ...}`
where status is pass, fail, unsupported (the client cannot do it) or skip (the client
can, but something this machine lacks stops it; the detail says what)."""
import argparse
import json
import os
import sys
import threading
import time
import traceback


class Fail(Exception):
    pass


class Unsupported(Exception):
    pass


class Skip(Exception):
    pass


class Context:
    def __init__(self, args):
        self.bootstrap = args.bootstrap
        self.host, port = args.bootstrap.rsplit(":", 1)
        self.port = int(port)
        self.expect = json.loads(args.expect) if args.expect else {}
        self.apis = set(int(k) for k in args.apis.split(",") if k) if args.apis else set()
        self.topics = [t for t in (args.topics or "").split(",") if t]
        self.out = args.out
        self.current = "start"
        self.notes = []
        self.extra = {}  # more fields for the RESULT line (e.g. timestamps: False)
        self._restarted = None

    def request_restart(self):
        """Asks the runner to stop the broker (SIGTERM or SIGKILL, by scenario) and
        start it again; returns an Event set once it is back. The caller keeps its
        produce/consume loop going meanwhile."""
        self._restarted = threading.Event()
        ev = self._restarted

        def wait():
            sys.stdin.readline()
            ev.set()
        threading.Thread(target=wait, daemon=True).start()
        print("control: restart", flush=True)
        return ev

    def step(self, name):
        self.current = name
        print("step:", name, flush=True)

    def note(self, text):
        self.notes.append(text)
        print("note:", text, flush=True)

    def check(self, cond, what, expected, got):
        if not cond:
            raise Fail("%s: expected %r, got %r" % (what, expected, got))

    def eq(self, what, expected, got):
        self.check(expected == got, what, expected, got)

    def has(self, api_key):
        return api_key in self.apis

    # A single broker or a cluster (the runner's --cluster mode sends "brokers",
    # "replication_factor" and "min_insync_replicas" in --expect).
    @property
    def rf(self):
        """The replication factor topics are created with."""
        return self.expect.get("replication_factor", 1)

    def brokers(self):
        """[(node id, host, port)] the cluster's Metadata must list, sorted."""
        bs = self.expect.get("brokers")
        if bs:
            return sorted(tuple(b) for b in bs)
        return [(self.expect["node_id"], self.expect["host"], self.expect["port"])]

    def broker_ids(self):
        return [b[0] for b in self.brokers()]

    def check_leaders(self, what, got):
        """Each leader in got is a broker of the cluster (the broker itself when
        there is one)."""
        ids = self.broker_ids()
        if len(ids) == 1:
            self.eq(what, ids * len(got), list(got))
        else:
            self.check(all(x in ids for x in got), what, "leaders among %r" % ids, got)

    def wait_topic(self, name, partitions, timeout=30):
        """Waits until every broker's Metadata has topic name with this many
        partitions, each with a leader: in a cluster, brokers apply a new topic
        or partition shortly after the controller answered, as Kafka's do."""
        from . import wire

        def seen(port):
            try:
                md = wire.metadata(port, topics=[name], version=9, timeout=10)
            except (OSError, wire.Closed, wire.DecodeError):
                return False
            t = md["topics"][0] if md["topics"] else None
            return (t is not None and not t["error"] and len(t["partitions"]) == partitions
                    and all(p["leader"] >= 0 for p in t["partitions"]))
        self._wait_brokers(seen, "%s with %d partitions on every broker" % (name, partitions),
                           timeout)

    def wait_topic_gone(self, name, timeout=30):
        """Waits until no broker's Metadata lists topic name (deleted)."""
        from . import wire

        def gone(port):
            try:
                md = wire.metadata(port, topics=[name], version=9, timeout=10)
            except (OSError, wire.Closed, wire.DecodeError):
                return False
            return all(t["error"] for t in md["topics"])
        self._wait_brokers(gone, "%s gone from every broker" % name, timeout)

    def _wait_brokers(self, cond, what, timeout):
        deadline = time.monotonic() + timeout
        while not all(cond(port) for _, _, port in self.brokers()):
            if time.monotonic() > deadline:
                raise Fail("%s: not reached after %ss" % (what, timeout))
            time.sleep(0.1)

    def check_broker_id(self, what, got):
        self.check_leaders(what, [got])


def row(default):
    """The matrix row this run is for: one program may serve several rows (the same
    client over two librdkafka builds), and cross-client topics are named after rows."""
    return os.environ.get("COMPAT_ROW", default)


def expected_librdkafka():
    """The librdkafka version the row names, or None for the system's own."""
    return os.environ.get("COMPAT_LIBRDKAFKA_VERSION")


def emit(status, step="", detail="", notes=(), extra=None):
    r = {"status": status, "step": step, "detail": detail, "notes": list(notes)}
    r.update(extra or {})
    print("RESULT " + json.dumps(r), flush=True)


def main(scenarios, preflight=None):
    """preflight(ctx), if given, runs before every scenario as its first step."""
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--expect", default="")
    ap.add_argument("--apis", default="")
    ap.add_argument("--topics", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    ctx = Context(args)
    fn = scenarios.get(args.scenario)
    if fn is None:
        emit("unsupported", detail="no scenario %s for this client" % args.scenario)
        return 0
    try:
        if preflight:
            preflight(ctx)
        fn(ctx)
    except Fail as e:
        emit("fail", ctx.current, str(e), ctx.notes)
    except Unsupported as e:
        emit("unsupported", ctx.current, str(e), ctx.notes)
    except Skip as e:
        emit("skip", ctx.current, str(e), ctx.notes)
    except Exception as e:  # a client exception is a failure of that step
        traceback.print_exc()
        emit("fail", ctx.current, "%s: %s" % (type(e).__name__, e), ctx.notes)
    else:
        emit("pass", "", "", ctx.notes, ctx.extra)
    sys.stdout.flush()
    return 0
