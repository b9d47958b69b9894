"""A node: one Skein process with its own data dir on its own small tmpfs
(so the disk can be filled), in its own network namespace when there is one.

A Cluster is the list of nodes of a run: one node, or 3-5 combined nodes
(process.roles=broker,controller) sharing one controller.quorum.voters, each
formatted with the run's cluster id before its first start, as
`kafka-storage format` does for a KRaft cluster. Partitions have one replica
(no replication yet), spread over the brokers by the active controller."""
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "compat-tests"))
from skeinlib.broker import SANITIZER_MARKS, Broker, BrokerError  # noqa: E402,F401 (BrokerError for nemesis)

from . import net  # noqa: E402

PORT = 9092
CONTROLLER_PORT = 9093
FAKETIME_CACHE_S = 1
FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1")


def faketime_library():
    """Debian's libfaketime (the multi-threaded variant), or None."""
    return next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)


class Node(Broker):
    """Broker with a harness-chosen address, environment and wrapper."""

    def __init__(self, skein, index, root, host, port, controller_port, namespace=None,
                 veth=None, overrides=(), env=None, disk_mb=0):
        self.root = os.path.join(root, "node%d" % index)
        os.makedirs(self.root, exist_ok=True)
        self.mount = os.path.join(self.root, "disk")
        os.makedirs(self.mount, exist_ok=True)
        self.tmpfs = disk_mb > 0 and _mount_tmpfs(self.mount, disk_mb)
        super().__init__(skein, overrides=overrides, data_dir=self.mount, port=port,
                         node_id=index + 1, name="node%d" % index)
        self.controller_port = controller_port
        self.index = index
        self.host = host
        self.namespace = namespace
        self.veth = veth
        self.env = dict(os.environ, **(env or {}))
        self.generation = 0
        self.ctl = os.path.join(self.root, "fault.ctl")
        self.synclog = os.path.join(self.root, "synced.log")
        self.stderr_path = os.path.join(self.root, "stderr.log")
        self.sanitized = None  # the first sanitizer line of any generation
        self.faketime = None  # libfaketime's timestamp file when preloaded
        self.voters = None  # controller.quorum.voters of a multi-node cluster
        if "FAKETIME_TIMESTAMP_FILE" in self.env:
            self.faketime = self.env["FAKETIME_TIMESTAMP_FILE"]
            self.set_clock(0, wait=False)

    @property
    def log_dir(self):
        return os.path.join(self.data_dir, "logs")

    @property
    def bootstrap(self):
        return "%s:%d" % (self.host, self.port)

    def argv(self):
        return self._netns(self.node_argv())

    def node_argv(self):
        """The broker's own command line, outside any namespace."""
        args = super().argv()
        args = [a.replace("127.0.0.1", self.host) for a in args]
        if self.voters:
            args = ["controller.quorum.voters=" + self.voters
                    if a.startswith("controller.quorum.voters=") else a for a in args]
        return args

    def format(self, cluster_id):
        """`skein format` of the data dir with the cluster's id (a multi-voter
        node refuses to start on an unformatted dir)."""
        p = subprocess.run([self.skein, "format", "-t", cluster_id] + self.node_argv()[1:],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise BrokerError("skein format of node%d: %s" % (self.index, p.stderr.strip()))

    def _netns(self, args):
        if self.namespace:
            args = ["ip", "netns", "exec", self.namespace] + args
        return args

    def launch(self):
        """As Broker.launch, with the harness's environment; `ip netns exec`
        execs the broker, so the pid is the broker's own."""
        self._ready.clear()
        self.lines = []
        self.generation += 1
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=self.env)
        self._reader = threading.Thread(target=self._read_and_keep, daemon=True)
        self._reader.start()
        return self.proc

    def _read_and_keep(self):
        with open(self.stderr_path, "a") as keep:
            keep.write("---- generation %d pid %d\n" % (self.generation, self.proc.pid))
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                keep.write(line + "\n")
                keep.flush()
                with self._lock:
                    self.lines.append(line)
                    if len(self.lines) > 2000:
                        del self.lines[:1000]
                if "Skein started" in line:
                    self._ready.set()
                if any(m in line for m in SANITIZER_MARKS) and not self.sanitized:
                    self.sanitized = "generation %d: %s" % (self.generation, line)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.alive() else None

    def set_fault(self, words):
        """Arms the shim and the broker's sync hook ("fsync", "write"), or
        disarms them with an empty list."""
        if words:
            with open(self.ctl + ".tmp", "w") as f:
                f.write(" ".join(words) + "\n")
            os.rename(self.ctl + ".tmp", self.ctl)
        elif os.path.exists(self.ctl):
            os.unlink(self.ctl)

    def set_clock(self, offset_s, wait=True):
        """The broker's wall clock offset from true time; libfaketime reads
        the file again after FAKETIME_CACHE_DURATION, so wait that out."""
        with open(self.faketime + ".tmp", "w") as f:
            f.write("%+d\n" % offset_s)
        os.rename(self.faketime + ".tmp", self.faketime)
        if wait:
            time.sleep(FAKETIME_CACHE_S + 0.2)

    def destroy(self):
        try:
            if self.proc and self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        self.kill()
        if self.tmpfs:
            subprocess.run(["umount", "-l", self.mount], capture_output=True)
            self.tmpfs = False


def _mount_tmpfs(path, mb):
    if os.geteuid() != 0:
        return False
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % mb, "skf-tmpfs", path],
                       capture_output=True)
    return p.returncode == 0


def cleanup_leftover_mounts():
    """Unmounts data dirs of earlier runs whose harness died (all are named
    skf-tmpfs and live under a skein-faults-<pid> folder)."""
    removed = []
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return removed
    for m in mounts:
        if m[0] != "skf-tmpfs":
            continue
        owner = _owner_pid(m[1])
        if owner and _pid_alive(owner):
            continue
        subprocess.run(["umount", "-l", m[1]], capture_output=True)
        removed.append(m[1])
    return removed


def _owner_pid(path):
    for part in path.split("/"):
        if part.startswith("skein-faults-"):
            try:
                return int(part.split("-")[2])
            except (IndexError, ValueError):
                return None
    return None


def _pid_alive(pid):
    """A zombie (a killed harness its parent has not reaped) counts as dead."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Cluster:
    """The nodes of a run and what they run in."""

    def __init__(self, skein, nodes, root, run_id, shim=None, overrides=(), disk_mb=0,
                 use_netns=True, faketime=None):
        if nodes not in (1, 3, 5):
            raise ValueError("--nodes %d: a run has 1 node or a quorum of 3 or 5" % nodes)
        self.root = root
        self.shim = shim
        self.network = None
        if use_netns and net.available():
            self.network = net.Network(run_id)
        self.nodes = []
        for i in range(nodes):
            if self.network:
                ns, addr, veth = self.network.add_node(i)
                port, cport = PORT, CONTROLLER_PORT
            else:
                ns, addr, veth = None, "127.0.0.1", None
                from skeinlib.broker import free_port
                port, cport = free_port(), free_port()
            node_root = os.path.join(root, "node%d" % i)
            env = {"SKEIN_FAULT_CTL": os.path.join(node_root, "fault.ctl"),
                   "SKEIN_FAULT_DIR": os.path.join(node_root, "disk"),
                   "SKEIN_FAULT_SYNCLOG": os.path.join(node_root, "synced.log")}
            preload = [lib for lib in (shim, faketime) if lib]
            if preload:
                env["LD_PRELOAD"] = " ".join(preload)
                # an ASan broker refuses a preloaded library ahead of its runtime
                env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                             "verify_asan_link_order=0"]))
            if faketime:
                # only the wall clock moves; re-read the offset every second
                env.update(FAKETIME_TIMESTAMP_FILE=os.path.join(node_root, "faketime.rc"),
                           FAKETIME_DONT_FAKE_MONOTONIC="1",
                           FAKETIME_CACHE_DURATION=str(FAKETIME_CACHE_S))
            self.nodes.append(Node(skein, i, root, addr, port, cport, ns, veth,
                                   overrides, env, disk_mb))
        if nodes > 1:
            self._make_quorum(skein)

    def _make_quorum(self, skein):
        voters = ",".join("%d@%s:%d" % (n.node_id, n.host, n.controller_port)
                          for n in self.nodes)
        p = subprocess.run([skein, "random-uuid"], capture_output=True, text=True, timeout=60)
        if p.returncode != 0 or not p.stdout.strip():
            raise BrokerError("skein random-uuid: %s" % p.stderr.strip())
        self.cluster_id = p.stdout.strip()
        for n in self.nodes:
            n.voters = voters
            n.format(self.cluster_id)

    @property
    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.nodes)

    def describe(self):
        if self.network:
            return "network namespaces (%s) on bridge %s" % (
                ", ".join("%s=%s" % (n.namespace, n.host) for n in self.nodes),
                self.network.bridge)
        return "loopback (network namespaces unavailable)"

    def start(self, timeout=60):
        for n in self.nodes:
            n.start(timeout)

    @property
    def multi(self):
        return len(self.nodes) > 1

    def close(self):
        for n in self.nodes:
            try:
                n.destroy()
            except Exception:  # noqa: BLE001 - cleanup goes on for the rest
                pass
        if self.network:
            self.network.close()
            self.network = None


def wait_for(cond, timeout, step=0.1):
    """Polls cond until it is true or timeout seconds pass; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)

