"""Network namespaces for nodes: one bridge per run, one namespace and veth
pair per node, addresses made by the harness (10.77.<run>.<node+1>/24 in a
subnet no other run holds, the bridge .254 in the root namespace where the
clients run).

Every name starts with PREFIX, so leftovers of a run that died without its
cleanup (kill -9 of the harness) are found and removed by the next run.
Without `ip netns` (no root, no iproute2) nodes listen on loopback instead."""
import os
import shutil
import subprocess

PREFIX = "skf"


def _ip(*args, check=True, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p


def available():
    """Namespaces need root and iproute2; probed by making one."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    name = "%sprobe%d" % (PREFIX, os.getpid())
    ok = _ip("netns", "add", name, check=False).returncode == 0
    _ip("netns", "del", name, check=False)
    return ok


def cleanup_leftovers():
    """Removes namespaces and links of earlier runs whose harness is gone."""
    removed = []
    p = _ip("-o", "link", "show", check=False)
    for line in p.stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(PREFIX) and not _alive(name):
            _ip("link", "del", name, check=False)
            removed.append(name)
    p = _ip("netns", "list", check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX) and not _alive(name):
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


def _alive(name):
    """Names carry the owning harness's pid: skf<pid>n<i> / skf<pid>br."""
    digits = ""
    for c in name[len(PREFIX):]:
        if not c.isdigit():
            break
        digits += c
    if not digits:
        return False
    from .node import _pid_alive
    return _pid_alive(int(digits))


class Network:
    """The bridge and the nodes' namespaces of one run."""

    def __init__(self, run_id):
        self.pid = os.getpid()
        self.subnet = _free_subnet(run_id)
        self.bridge = "%s%dbr" % (PREFIX, self.pid)
        self.namespaces = []
        self.links = []
        _ip("link", "add", self.bridge, "type", "bridge")
        self.links.append(self.bridge)
        _ip("addr", "add", "10.77.%d.254/24" % self.subnet, "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def host_address(self):
        return "10.77.%d.254" % self.subnet

    def add_node(self, index):
        """A namespace wired to the bridge; returns (namespace, address, veth)."""
        ns = "%s%dn%d" % (PREFIX, self.pid, index)
        outer, inner = "%s%dv%d" % (PREFIX, self.pid, index), "eth0"
        addr = "10.77.%d.%d" % (self.subnet, index + 1)
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("link", "add", outer, "type", "veth", "peer", "name", "%sp" % outer)
        self.links.append(outer)
        _ip("link", "set", "%sp" % outer, "netns", ns)
        _ip("link", "set", "%sp" % outer, "name", inner, ns=ns)
        _ip("addr", "add", addr + "/24", "dev", inner, ns=ns)
        _ip("link", "set", inner, "up", ns=ns)
        _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "set", outer, "master", self.bridge)
        _ip("link", "set", outer, "up")
        return ns, addr, outer

    def close(self):
        for ns in self.namespaces:
            _ip("netns", "del", ns, check=False)
        for link in self.links:
            _ip("link", "del", link, check=False)
        self.namespaces, self.links = [], []


def _free_subnet(run_id):
    """A 10.77.x.0/24 no interface holds yet: runs side by side must not
    share one (a second bridge with the same address breaks both)."""
    used = _ip("-o", "-4", "addr", "show", check=False).stdout
    for i in range(250):
        x = 10 + (run_id + i) % 240
        if " 10.77.%d." % x not in used:
            return x
    raise RuntimeError("no free 10.77.x.0/24 subnet")


def set_link(dev, up):
    """A partition: the node's end of the bridge goes down (no iptables or
    netem needed, so it works on kernels without them)."""
    _ip("link", "set", dev, "up" if up else "down")


def netem_available(ns):
    """tc netem needs the sch_netem module, not always there."""
    if not shutil.which("tc"):
        return False
    p = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0",
                        "root", "netem", "delay", "1ms"], capture_output=True)
    if p.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root"],
                   capture_output=True)
    return True


def netem(ns, spec):
    """spec e.g. ["delay", "200ms", "50ms"]; None removes it."""
    base = ["ip", "netns", "exec", ns, "tc", "qdisc"]
    if spec is None:
        subprocess.run(base + ["del", "dev", "eth0", "root"], capture_output=True)
        return
    subprocess.run(base + ["replace", "dev", "eth0", "root", "netem"] + list(spec),
                   check=True, capture_output=True)


def random_loss(ns, port, probability, on):
    """Each TCP segment to or from the node's port dropped with the given
    probability, both ways (iptables' statistic match: this kernel has no
    sch_netem, and a drop rule needs none)."""
    op = "-A" if on else "-D"
    rules = (["INPUT", "-p", "tcp", "--dport", str(port)],
             ["OUTPUT", "-p", "tcp", "--sport", str(port)])
    for rule in rules:
        p = subprocess.run(["ip", "netns", "exec", ns, "iptables", op] + rule +
                           ["-m", "statistic", "--mode", "random", "--probability",
                            "%.2f" % probability, "-j", "DROP"], capture_output=True, text=True)
        if on and p.returncode != 0:
            raise RuntimeError("iptables statistic: %s" % p.stderr.strip())


def tbf_available(ns):
    if not shutil.which("tc"):
        return False
    p = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root",
                        "tbf", "rate", "1mbit", "burst", "1600", "latency", "10ms"],
                       capture_output=True)
    if p.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "lo", "root"],
                   capture_output=True)
    return True


def shape(ns, outer, spec):
    """A token bucket (tc tbf) on both ends of the node's veth, so what the
    node sends and what it is sent queue behind a small rate: the delay is
    the queue's, growing with the load up to the bucket's latency bound,
    and what overflows it is dropped. spec e.g. ["rate", "512kbit", "burst",
    "1600", "latency", "800ms"]; None removes both."""
    for pre, dev in ((["ip", "netns", "exec", ns], "eth0"), ([], outer)):
        if spec is None:
            subprocess.run(pre + ["tc", "qdisc", "del", "dev", dev, "root"], capture_output=True)
            continue
        p = subprocess.run(pre + ["tc", "qdisc", "replace", "dev", dev, "root", "tbf"] +
                           list(spec), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("tc tbf on %s: %s" % (dev, p.stderr.strip()))


def iptables_available(ns):
    if not shutil.which("iptables"):
        return False
    p = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-L", "-n"], capture_output=True)
    return p.returncode == 0


def one_way_drop(ns, port, on):
    """Drops what clients send to the node (answers could still leave)."""
    op = "-A" if on else "-D"
    subprocess.run(["ip", "netns", "exec", ns, "iptables", op, "INPUT", "-p", "tcp",
                    "--dport", str(port), "-j", "DROP"], capture_output=True)
