"""Faults, each an inject and a heal on one node, chosen on a schedule by a
seeded random generator (the seed is printed, so a schedule reproduces).

Faults that need something the machine may lack (iptables, tc, libfaketime,
a cgroup memory controller) say so in available() and are left out, with the
reason printed, rather than pretending to run."""
import glob
import os
import re
import signal
import subprocess
import time

from . import net
from .node import BrokerError, _pid_alive, wait_for


class Fault:
    name = "?"

    def available(self, cluster):
        return True, ""

    def inject(self, node, h):
        raise NotImplementedError

    def heal(self, node, h):
        pass


def restart(node, h, timeout=120):
    """A new process on the same data; start-up runs recovery."""
    node.start(timeout)
    h.record(type="node", event="start", node=node.index, gen=node.generation,
             pid=node.proc.pid)


def kill9(node, h):
    pid = node.pid()
    if pid:
        os.kill(pid, signal.SIGCONT)
        node.kill()
    h.record(type="node", event="killed", node=node.index, gen=node.generation)


class Kill(Fault):
    name = "kill"

    def inject(self, node, h):
        kill9(node, h)

    def heal(self, node, h):
        restart(node, h)


class PowerLoss(Fault):
    """kill -9, then every log segment cut back to the size its last sync
    covered (journaled by the broker's fault hook): the page cache a power
    cut would take. Files never synced are left whole (the model keeps more
    than a real cut, never less than an acknowledged sync made durable)."""
    name = "powerloss"

    def inject(self, node, h):
        kill9(node, h)
        synced = {}
        if os.path.exists(node.synclog):
            with open(node.synclog) as f:
                for line in f:
                    path, _, size = line.rstrip("\n").rpartition("\t")
                    if path and size.isdigit():
                        synced[path] = int(size)
        cut = 0
        for seg in glob.glob(os.path.join(node.log_dir, "skf-data-*", "*.log")):
            real = os.path.realpath(seg)
            if real in synced and os.path.getsize(seg) > synced[real]:
                cut += os.path.getsize(seg) - synced[real]
                os.truncate(seg, synced[real])
        h.record(type="fault-note", fault=self.name, node=node.index, bytes_dropped=cut)
        if os.path.exists(node.synclog):
            os.unlink(node.synclog)

    def heal(self, node, h):
        restart(node, h)


class Terminate(Fault):
    name = "term"

    def inject(self, node, h):
        rc = node.stop(60)
        h.record(type="node", event="stopped", node=node.index, gen=node.generation, rc=rc)

    def heal(self, node, h):
        restart(node, h)


class Pause(Fault):
    name = "pause"

    def inject(self, node, h):
        os.kill(node.proc.pid, signal.SIGSTOP)

    def heal(self, node, h):
        os.kill(node.proc.pid, signal.SIGCONT)


class Partition(Fault):
    """The node's veth goes down: cut off from the bridge and every client
    (with several nodes: from the others too, a minority)."""
    name = "partition"

    def available(self, cluster):
        return (cluster.network is not None, "needs network namespaces")

    def inject(self, node, h):
        net.set_link(node.veth, False)

    def heal(self, node, h):
        net.set_link(node.veth, True)


class Loss(Fault):
    """20 % of the TCP segments to and from the node's port dropped, each
    way, at random (iptables statistic in the node's namespace)."""
    name = "loss"
    probability = 0.20

    def available(self, cluster):
        if cluster.network is None:
            return False, "needs network namespaces"
        return (net.iptables_available(cluster.nodes[0].namespace),
                "iptables unavailable in the namespace")

    def inject(self, node, h):
        net.random_loss(node.namespace, node.port, self.probability, True)
        h.record(type="fault-note", fault=self.name, node=node.index,
                 drop_probability=self.probability)

    def heal(self, node, h):
        net.random_loss(node.namespace, node.port, self.probability, False)


class Delay(Fault):
    """300 ms +- 100 ms each way with tc netem where the kernel has it; else
    (this machine) a 256 kbit/s token bucket on both ends of the node's
    veth: packets queue behind it for up to 1 s, so the delay grows with
    the load (in the 130-round run the acknowledgements of writes sent in
    the window took 190 ms at the median, 429 ms at p99, against 3 / 21 ms
    in the clock rounds, which leave the network alone) and what would wait
    longer is dropped."""
    name = "delay"
    NETEM = ["delay", "300ms", "100ms"]
    TBF = ["rate", "256kbit", "burst", "1600", "latency", "1s"]

    def __init__(self):
        self.netem = False

    def available(self, cluster):
        if cluster.network is None:
            return False, "needs network namespaces"
        ns = cluster.nodes[0].namespace
        self.netem = net.netem_available(ns)
        return (self.netem or net.tbf_available(ns),
                "neither tc netem nor tc tbf in this kernel")

    def inject(self, node, h):
        if self.netem:
            net.netem(node.namespace, self.NETEM)
        else:
            net.shape(node.namespace, node.veth, self.TBF)
        h.record(type="fault-note", fault=self.name, node=node.index,
                 how="netem" if self.netem else "tbf",
                 spec=self.NETEM if self.netem else self.TBF)

    def heal(self, node, h):
        if self.netem:
            net.netem(node.namespace, None)
        else:
            net.shape(node.namespace, node.veth, None)


class ClockJump(Fault):
    """The node's wall clock jumped 10 min to 3 h forward or back, and back
    to true time at the heal: libfaketime, preloaded into the broker, adds
    the offset in its timestamp file to CLOCK_REALTIME, time() and
    gettimeofday(). CLOCK_MONOTONIC is left alone (the shards' timers,
    session timeouts, quota windows and fetch sessions run on it), and so
    are the kernel's own clocks (io_uring timeouts)."""
    name = "clock"
    MIN_S, MAX_S = 600, 3 * 3600

    def available(self, cluster):
        return (cluster.nodes[0].faketime is not None,
                "needs Debian's libfaketime (apt-get install libfaketime)")

    def inject(self, node, h):
        offset = self.rng.choice((1, -1)) * self.rng.randint(self.MIN_S, self.MAX_S)
        node.set_clock(offset)
        h.record(type="fault-note", fault=self.name, node=node.index, clock_offset_s=offset)

    def heal(self, node, h):
        node.set_clock(0)


class MajorityKill(Fault):
    """On a quorum: kill -9 of the target and of enough others to leave a
    minority. With no majority nothing can commit, so no admin request may
    be acknowledged until one returns (the checker holds the window between
    the "majority-down" and "majority-back" records to that); the heal
    restarts them all."""
    name = "majority"

    def __init__(self):
        self.killed = []

    def available(self, cluster):
        self.cluster = cluster
        return cluster.multi, "needs a quorum (--nodes 3 or 5)"

    def inject(self, node, h):
        others = [n for n in self.cluster.nodes if n is not node]
        self.killed = [node] + self.rng.sample(others, len(self.cluster.nodes) // 2)
        for n in self.killed:
            kill9(n, h)
        h.record(type="majority-down", nodes=[n.index for n in self.killed])

    def heal(self, node, h):
        h.record(type="majority-back", nodes=[n.index for n in self.killed])
        for n in self.killed:
            restart(n, h)
        self.killed = []


class OneWay(Fault):
    name = "oneway"

    def available(self, cluster):
        if cluster.network is None:
            return False, "needs network namespaces"
        return (net.iptables_available(cluster.nodes[0].namespace),
                "iptables unavailable in the namespace")

    def inject(self, node, h):
        net.one_way_drop(node.namespace, node.port, True)

    def heal(self, node, h):
        net.one_way_drop(node.namespace, node.port, False)


class FullDisk(Fault):
    """The data dir's tmpfs filled to the last block, then freed."""
    name = "disk"

    def available(self, cluster):
        return cluster.nodes[0].tmpfs, "needs root to mount a tmpfs"

    def inject(self, node, h):
        path = os.path.join(node.mount, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (1 << 20, 4096):
                chunk = b"\0" * size
                try:
                    while True:
                        os.write(fd, chunk)
                except OSError:
                    pass
        finally:
            os.close(fd)
        h.record(type="fault-note", fault=self.name, node=node.index,
                 free_bytes=os.statvfs(node.mount).f_bavail * os.statvfs(node.mount).f_frsize)

    def heal(self, node, h):
        path = os.path.join(node.mount, "filler")
        if os.path.exists(path):
            os.unlink(path)


class SyncError(Fault):
    """Every fdatasync/fsync of the node's data fails with EIO: the io_uring
    ones through the broker's hook, the libc ones through the shim. The
    partitions that see it go offline; an operator's restart brings them
    back, recovered from what is on disk."""
    name = "fsync"

    def inject(self, node, h):
        node.set_fault(["fsync"])

    def heal(self, node, h):
        time.sleep(0.5)
        failed = sorted({int(m.group(1)) for m in
                         re.finditer(r"sync of skf-data-(\d+) failed", node.stderr_text())})
        node.set_fault([])
        # Until the restart, nothing appended while syncs failed may be
        # acknowledged: a sync now succeeds, on pages that may be gone. The
        # producers' retries get two seconds to try (the checker looks).
        h.record(type="fault-note", fault=self.name, node=node.index, phase="disarmed",
                 partitions_failed=failed)
        time.sleep(2.0)
        rc = node.stop(60)
        h.record(type="node", event="stopped", node=node.index, gen=node.generation, rc=rc)
        restart(node, h)


class WriteError(Fault):
    """pwrite/write of data files fail with EIO (through the shim only)."""
    name = "write"

    def available(self, cluster):
        return cluster.shim is not None, "needs the shim (--shim)"

    def inject(self, node, h):
        node.set_fault(["write"])

    def heal(self, node, h):
        node.set_fault([])


class Resource(Fault):
    """The open-file limit cut to just above what the node holds, and its
    memory capped near its size (cgroup v2 memory.max, else v1), then both
    raised again."""
    name = "resource"

    def __init__(self):
        self.saved = None
        self.cgroup = None

    def inject(self, node, h):
        pid = node.proc.pid
        nfds = len(os.listdir("/proc/%d/fd" % pid))
        out = subprocess.run(["prlimit", "--pid", str(pid), "--nofile", "--raw", "--noheadings",
                              "--output", "SOFT,HARD"], capture_output=True, text=True)
        self.saved = out.stdout.split()
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:%s" % (nfds + 8, self.saved[1])],
                       check=True, capture_output=True)
        rss = _rss_bytes(pid)
        self.cgroup = _memory_cgroup(pid, rss + (48 << 20))
        h.record(type="fault-note", fault=self.name, node=node.index, nofile=nfds + 8,
                 memory_limit=(rss + (48 << 20)) if self.cgroup else None,
                 cgroup=self.cgroup[0] if self.cgroup else None)

    def heal(self, node, h):
        if node.alive() and self.saved:
            subprocess.run(["prlimit", "--pid", str(node.proc.pid),
                            "--nofile=%s:%s" % tuple(self.saved)], capture_output=True)
        if self.cgroup:
            _memory_cgroup_remove(self.cgroup, node.proc.pid if node.alive() else None)
        self.cgroup = None
        if not node.alive():
            # the memory cap may have killed it: that is a crash to recover
            h.record(type="node", event="killed", node=node.index, gen=node.generation)
            restart(node, h)


def _rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _memory_cgroup(pid, limit):
    """(path, version) of a new memory cgroup holding pid, or None."""
    name = "skf%dmem" % os.getpid()
    v2 = "/sys/fs/cgroup"
    for base, ver, limit_file in ((v2, 2, "memory.max"), ("/sys/fs/cgroup/unified", 2, "memory.max"),
                                  ("/sys/fs/cgroup/memory", 1, "memory.limit_in_bytes")):
        if ver == 2:
            try:
                with open(os.path.join(base, "cgroup.controllers")) as f:
                    if "memory" not in f.read().split():
                        continue
            except OSError:
                continue
        elif not os.path.exists(os.path.join(base, limit_file)):
            continue
        path = os.path.join(base, name)
        try:
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, limit_file), "w") as f:
                f.write(str(limit))
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(pid))
            return (path, ver)
        except OSError:
            try:
                os.rmdir(path)
            except OSError:
                pass
    return None


def _memory_cgroup_remove(cg, pid):
    path, ver = cg
    parent = os.path.dirname(path)
    if pid:
        try:
            with open(os.path.join(parent, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except OSError:
            pass
    wait_for(lambda: _rmdir(path), 10)


def _rmdir(path):
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def cleanup_leftover_cgroups():
    removed = []
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory"):
        for path in glob.glob(os.path.join(base, "skf*mem")):
            try:
                if _pid_alive(int(os.path.basename(path)[3:-3])):
                    continue
            except ValueError:
                pass
            if _rmdir(path):
                removed.append(path)
    return removed


ALL = {
    "kill": Kill, "powerloss": PowerLoss, "term": Terminate, "pause": Pause,
    "partition": Partition,
    "loss": Loss, "delay": Delay, "clock": ClockJump,
    "oneway": OneWay, "majority": MajorityKill, "disk": FullDisk, "fsync": SyncError, "write": WriteError,
    "resource": Resource,
}


class Nemesis:
    def __init__(self, cluster, history, names, rng, log):
        self.cluster = cluster
        self.h = history
        self.rng = rng
        self.log = log
        self.faults, self.skipped = [], {}
        for n in names:
            f = ALL[n]()
            f.rng = rng
            ok, why = f.available(cluster)
            if ok:
                self.faults.append(f)
            else:
                self.skipped[n] = why

    def target(self):
        """One node: any, or in a quorum the active controller or a follower
        (a minority of one either way), chosen by the seed."""
        if not self.cluster.multi:
            return self.rng.choice(self.cluster.nodes), "node"
        role = self.rng.choice(("leader", "follower"))
        from .metaload import find_leader
        leader, _ = find_leader(self.cluster)
        if leader is None:
            return self.rng.choice(self.cluster.nodes), "any"
        if role == "leader":
            return leader, role
        return self.rng.choice([n for n in self.cluster.nodes if n is not leader]), role

    def round(self, i, fault, hold, producers, recover_timeout):
        node, role = self.target()
        self.log("round %d: %s on node%d (%s) for %.1fs" % (i, fault.name, node.index, role,
                                                             hold))
        self.h.record(type="fault", phase="start", fault=fault.name, node=node.index, round=i,
                      role=role)
        fault.inject(node, self.h)
        time.sleep(hold)
        try:
            fault.heal(node, self.h)
        except BrokerError as e:
            self.h.record(type="fault", phase="heal-failed", fault=fault.name, error=str(e)[-2000:])
            raise
        self.h.record(type="fault", phase="end", fault=fault.name, node=node.index, round=i)
        # recovered once every producer got an acknowledgement after the heal
        healed = time.monotonic()
        ok = True
        if self.cluster.multi:
            # the next round only once a leader is named by all and every
            # broker is registered and unfenced again
            from .metaload import healthy
            ok = wait_for(lambda: healthy(self.cluster), recover_timeout, 0.2)
        ok = ok and wait_for(lambda: all(p.last_ok > healed or p.error for p in producers),
                             recover_timeout, 0.2)
        self.h.record(type="recovered", round=i, ok=bool(ok),
                      seconds=round(time.monotonic() - healed, 3))
        if not ok:
            why = ""
            if self.cluster.multi:
                from .metaload import unhealthy
                why = unhealthy(self.cluster)
            stuck = [p.name for p in producers if not (p.last_ok > healed or p.error)]
            self.log("round %d: no recovery within %ds (%s; producers with no acknowledgement "
                     "since the heal: %s)" % (i, recover_timeout, why or "cluster healthy",
                                              stuck or "none"))
        return ok
