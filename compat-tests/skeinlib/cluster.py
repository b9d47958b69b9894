"""Three combined Skein nodes (broker + controller, a 3-voter KRaft quorum) on
loopback ports, for the tools that need a replicated cluster rather than one
broker: the matrix's --cluster 3 column and bench/replication.

The nodes share one cluster id and one data root; start() returns once the
quorum has one committed leader and every node lists every broker, so topics
with replication factor 3 can be placed."""
import os
import shutil
import tempfile
import time

from . import kraft, wire
from .broker import BrokerError, free_port
from .poll import wait_for

TIMEOUT = 60  # a loaded 2-core machine: elections and registrations are slow
# CreateTopics answers that mean "ask again": the controller moved or is busy.
RETRY = (7, 41)  # REQUEST_TIMED_OUT, NOT_CONTROLLER


def _controller_class():
    """The quorum tests' Controller with overrides (imported here because it
    lives beside the scenario scripts, not in skeinlib)."""
    import sys
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if here not in sys.path:
        sys.path.insert(0, here)
    from quorum_test import Controller

    class Combined(Controller):
        """A combined node with extra --override key=value settings."""

        def __init__(self, skein, root, node_id, voters, ports, overrides=()):
            super().__init__(skein, root, node_id, voters, ports, combined=True)
            self.extra = list(overrides)

        def argv(self):
            out = super().argv()
            for o in self.extra:
                out += ["--override", o]
            return out
    return Combined


class Cluster:
    def __init__(self, skein, size=3, overrides=(), prefix="skein-cluster-"):
        self.skein = skein
        self.root = tempfile.mkdtemp(prefix=prefix)
        ports = {i: free_port() for i in range(1, size + 1)}
        voters = ",".join("%d@127.0.0.1:%d" % (i, p) for i, p in sorted(ports.items()))
        make = _controller_class()
        self.nodes = [make(skein, self.root, i, voters, ports, overrides)
                      for i in range(1, size + 1)]
        self.cluster_id = None

    @property
    def bootstrap(self):
        return ",".join("127.0.0.1:%d" % n.port for n in self.nodes)

    def node(self, node_id):
        return next(n for n in self.nodes if n.node_id == node_id)

    def live(self):
        return [n for n in self.nodes if n.proc and n.proc.poll() is None]

    def format_args(self):
        """What `skein format` is given beyond the cluster id and the node's
        own configuration."""
        return []

    def start(self):
        self.cluster_id = kraft.random_uuid(self.skein)
        extra = self.format_args()
        for n in self.nodes:
            p = kraft.format_storage(self.skein, n, self.cluster_id, *extra, check=False)
            if p.returncode != 0:
                raise BrokerError("format of node %d failed: %s" % (n.node_id, p.stderr))
        # Launched together: each node's broker waits for the quorum, which
        # needs a majority up.
        for n in self.nodes:
            n.launch()
        for n in self.nodes:
            self._ready(n)
        self.wait_ready()
        return self

    @staticmethod
    def _ready(n):
        if not wait_for(lambda: n._ready.is_set() or n.proc.poll() is not None, TIMEOUT) \
                or not n._ready.is_set():
            raise BrokerError("node %d did not start:\n%s" % (n.node_id, n.tail()))

    def wait_ready(self, timeout=TIMEOUT):
        """Every live node agrees on a committed quorum leader and lists every
        live broker."""
        from quorum_test import settled
        live = self.live()
        if not wait_for(lambda: settled(live), timeout):
            raise BrokerError("the quorum did not settle:\n" + self.tails())
        ids = {n.node_id for n in live}

        def listed():
            try:
                return all(ids <= {b["node_id"] for b in wire.metadata(
                    n.port, topics=[], version=12, timeout=TIMEOUT)["brokers"]} for n in live)
            except (OSError, wire.Closed, wire.DecodeError):
                return False
        if not wait_for(listed, timeout):
            raise BrokerError("not every node lists brokers %r:\n%s" % (sorted(ids), self.tails()))

    def tails(self, n=8):
        return "\n".join("node %d: %s" % (x.node_id, x.tail(n)) for x in self.nodes)

    def controller(self):
        """The node leading the metadata quorum, or None."""
        from quorum_test import views
        for nid, v in views(self.live()).items():
            if v["error"] == 0:
                return self.node(nid)
        return None

    def create_topic(self, name, partitions=1, rf=3, configs=None, timeout=TIMEOUT):
        """CreateTopics through any live node until one answers for good; then
        waits until every live node's Metadata has a leader for each
        partition. Returns the Kafka error code (0 when created)."""
        deadline = time.monotonic() + timeout
        err = None
        while time.monotonic() < deadline:
            for n in self.live():
                try:
                    err, _ = wire.create_topic(n.port, name, partitions, configs, TIMEOUT,
                                               replication_factor=rf)
                except (OSError, wire.Closed, wire.DecodeError):
                    continue
                if err not in RETRY:
                    break
            if err is not None and err not in RETRY:
                break
            time.sleep(0.1)
        if err != 0:
            return err
        ok = wait_for(lambda: all(len(self.partitions(n, name)) == partitions and
                                  all(p["leader"] >= 0 for p in self.partitions(n, name))
                                  for n in self.live()), timeout)
        return 0 if ok else 5  # LEADER_NOT_AVAILABLE

    @staticmethod
    def partitions(node, topic):
        """Metadata v12 of topic on node: partitions sorted by index, [] on error."""
        try:
            md = wire.metadata(node.port, topics=[topic], version=12, timeout=TIMEOUT)
        except (OSError, wire.Closed, wire.DecodeError):
            return []
        t = md["topics"][0]
        return [] if t["error"] else sorted(t["partitions"], key=lambda p: p["partition"])

    def leader(self, topic, partition=0, exclude=()):
        """The node id leading topic/partition as a live node sees it, or -1."""
        for n in self.live():
            if n.node_id in exclude:
                continue
            for p in self.partitions(n, topic):
                if p["partition"] == partition:
                    return p["leader"]
        return -1

    def stop(self):
        """SIGTERM to every node; returns {node id: problem} for nodes that did
        not exit 0 or left a sanitizer report."""
        problems = {}
        for n in self.nodes:
            if n.proc is None or n.proc.poll() is not None:
                continue
            rc = n.stop()
            if rc != 0:
                problems[n.node_id] = "exit status %r after SIGTERM: %s" % (rc, n.tail(8))
        for n in self.nodes:
            rep = n.sanitizer_report()
            if rep:
                problems[n.node_id] = (problems.get(n.node_id, "") +
                                       " sanitizer report: " + rep[-3000:])
        return problems

    def cleanup(self):
        for n in self.nodes:
            n.kill()
        shutil.rmtree(self.root, ignore_errors=True)
