#!/usr/bin/python3
"""skein format / skein random-uuid run as an operator runs kafka-storage:
format two log dirs with a cluster id, start the broker on them and read the
id back with DescribeCluster; format again with another id: refused, with
Kafka's message; a node of a 3-voter quorum on unformatted dirs refuses to
start with a one-line hint, and starts once formatted; random-uuid prints
ids that parse as Kafka's Uuid.

KIP-853: `format --standalone` writes the bootstrap snapshot and the node,
started with controller.quorum.bootstrap.servers and no
controller.quorum.voters, runs as the sole voter and serves a real client;
`--no-initial-controllers` formats a controller that starts as an observer
of the quorum its bootstrap servers lead, until AddRaftVoter adds it (alone
here, it finds no leader; dynamic_quorum_test.py adds such controllers);
three controllers formatted with one
`--initial-controllers` list form a 3-voter quorum that elects one leader
and creates a topic.

usage: format_test.py SKEIN_BIN"""
import base64
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib import kraft, wire  # noqa: E402
from skeinlib.broker import Broker, free_port  # noqa: E402
from skeinlib.cluster import Cluster, _controller_class  # noqa: E402
from skeinlib.poll import wait_for  # noqa: E402

TIMEOUT = 60  # generous: the machine may be loaded


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)


def kafka_uuid(text):
    """Uuid.fromString's rules: 22 URL-safe base64 characters, 16 bytes."""
    assert len(text) == 22, text
    raw = base64.urlsafe_b64decode(text + "==")
    assert len(raw) == 16, text
    return raw


def describe_cluster_id(port):
    conn = wire.Conn(port)
    try:
        # DescribeCluster v0 (flexible): IncludeClusterAuthorizedOperations, no tags.
        body = wire.header(60, 0, 7, flexible=True) + b"\x00" + wire.uvarint(0)
        conn.send(wire.frame(body))
        corr, resp = conn.recv_frame(timeout=TIMEOUT)
        assert corr == 7
        r = wire.Reader(resp)
        r.tags()  # response header v1
        r.i32()  # throttle
        err = r.i16()
        assert err == 0, "DescribeCluster error %d: %s" % (err, r.cstring())
        r.cstring()  # error message
        return r.cstring()
    finally:
        conn.close()


def storage_args(b):
    """The broker's own config arguments, for skein format to read the same
    config where the test spells format's options itself (kraft.format_storage
    passes -t)."""
    return b.argv()[1:]


def check_random_uuid(skein):
    seen = set()
    for _ in range(20):
        text = kraft.random_uuid(skein)
        raw = kafka_uuid(text)
        assert not text.startswith("-"), text
        assert raw not in (bytes(16), bytes(15) + b"\x01"), text
        assert raw[6] >> 4 == 4, "not a version-4 UUID: %s" % text
        seen.add(text)
    assert len(seen) == 20, "random-uuid repeated itself"
    print("random-uuid: ids parse as Kafka's Uuid")


def check_format_and_start(skein, root):
    cluster = kraft.random_uuid(skein)
    dirs = [os.path.join(root, "a"), os.path.join(root, "b")]
    b = Broker(skein, data_dir=root, overrides=["log.dirs=" + ",".join(dirs)])
    p = run([skein, "format", "--cluster-id", cluster] + storage_args(b))
    assert p.returncode == 0 and "Sanitizer" not in p.stderr, p.stderr
    for d in dirs:
        text = open(os.path.join(d, "meta.properties")).read()
        assert "cluster.id=%s\n" % cluster in text, text
        assert "node.id=1\n" in text and "version=1\n" in text, text
        dir_id = [ln for ln in text.splitlines() if ln.startswith("directory.id=")]
        assert len(dir_id) == 1, text
        kafka_uuid(dir_id[0].split("=", 1)[1])
    b.start(timeout=TIMEOUT)
    try:
        got = describe_cluster_id(b.port)
        assert got == cluster, "DescribeCluster says %s, formatted %s" % (got, cluster)
    finally:
        assert b.stop() == 0, b.tail()
        assert not b.sanitizer_report(), b.sanitizer_report()
    print("format: two dirs formatted, DescribeCluster answers the given id")

    other = kraft.random_uuid(skein)
    p = run([skein, "format", "--cluster-id", other] + storage_args(b))
    assert p.returncode == 1, p
    assert "Invalid cluster.id in: " in p.stderr and other in p.stderr, p.stderr
    p = run([skein, "format", "--cluster-id", cluster] + storage_args(b))
    assert p.returncode == 1 and "is already formatted" in p.stderr, p.stderr
    p = run([skein, "format", "--cluster-id", cluster, "--ignore-formatted"] + storage_args(b))
    assert p.returncode == 0 and "already formatted" in p.stdout, p
    print("format: another id refused, the same id needs --ignore-formatted")

    wrong = Broker(skein, data_dir=root, node_id=2, overrides=["log.dirs=" + ",".join(dirs)])
    rc, err = start_refused(wrong)
    assert "Stored node id 1 doesn't match previous node id 2" in err, err
    print("start-up: another node.id refused")


def start_refused(b):
    """Launches b, which must exit on its own; returns (status, stderr)."""
    b.launch()
    rc = b.wait(TIMEOUT)
    if rc is None:
        b.kill()
        raise AssertionError("the broker started:\n" + b.tail())
    assert rc != 0, b.tail()
    return rc, b.stderr_text()


def check_quorum_node_needs_format(skein, root):
    ctrl = free_port()
    voters = "1@127.0.0.1:%d,2@127.0.0.1:%d,3@127.0.0.1:%d" % (ctrl, free_port(), free_port())
    b = Broker(skein, data_dir=root, overrides=["controller.quorum.voters=" + voters])
    b.controller_port = ctrl
    rc, err = start_refused(b)
    lines = [ln for ln in err.splitlines() if "No readable meta.properties files found." in ln]
    assert len(lines) == 1, err
    assert "skein format --cluster-id" in lines[0], lines[0]
    assert not os.path.exists(os.path.join(root, "logs", "meta.properties")), \
        "a 3-voter node formatted its own dir"
    print("start-up: a 3-voter node on unformatted dirs refuses with the hint")

    cluster = kraft.random_uuid(skein)
    kraft.format_storage(skein, b, cluster)
    b.start(timeout=TIMEOUT)
    try:
        # Alone, it never catches up with a quorum, so its client listener
        # takes no connection (as Kafka's broker before its catch-up): its
        # start-up line names the cluster it was formatted for.
        started = [ln for ln in b.lines if "Skein started" in ln]
        assert started and ("cluster %s," % cluster) in started[0], b.tail()
    finally:
        assert b.stop() == 0, b.tail()
        assert not b.sanitizer_report(), b.sanitizer_report()
    print("start-up: the same node starts once formatted, in its cluster")


def check_config_refusals(skein, root):
    """A config without node.id or process.roles cannot be formatted."""
    cluster = kraft.random_uuid(skein)
    base = ("controller.listener.names=CONTROLLER\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            "listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2\n"
            "controller.quorum.voters=1@127.0.0.1:2\nlog.dirs=%s\n" % os.path.join(root, "d"))
    for missing, text, needle in (
            ("node.id", base + "process.roles=broker,controller\n", "`node.id`"),
            ("process.roles", base + "node.id=1\n", "process.roles")):
        path = os.path.join(root, "no-" + missing + ".properties")
        with open(path, "w") as f:
            f.write(text)
        p = run([skein, "format", "-t", cluster, "-c", path])
        assert p.returncode == 1 and needle in p.stderr, (missing, p)
        assert not os.path.exists(os.path.join(root, "d", "meta.properties"))
    path = os.path.join(root, "good.properties")
    with open(path, "w") as f:
        f.write(base + "node.id=1\nprocess.roles=broker,controller\n")
    p = run([skein, "format", "-t", "not-a-uuid", "-c", path])
    assert "does not appear to be a valid UUID" in p.stderr, p
    print("format: configs without node.id or process.roles, a bad id: refused")


BOOTSTRAP_SNAPSHOT = os.path.join("__cluster_metadata-0",
                                  "00000000000000000000-0000000000.checkpoint")


def dynamic(b):
    """b found through its CONTROLLER listener as a bootstrap server, with no
    static voters: Kafka 3.9's dynamic-quorum quickstart."""
    b.extra += ["controller.quorum.voters=",
                "controller.quorum.bootstrap.servers=127.0.0.1:%d" % b.controller_port]
    return b


def produce_consume(bootstrap):
    import confluent_kafka
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
    p.produce("kip853", key=b"k", value=b"standalone\x00voter")
    assert p.flush(TIMEOUT) == 0, "produce not acknowledged"
    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "kip853",
                                  "auto.offset.reset": "earliest"})
    try:
        c.subscribe(["kip853"])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                assert m.value() == b"standalone\x00voter", m.value()
                return
        raise AssertionError("the record was not consumed")
    finally:
        c.close()


def check_standalone(skein, root):
    cluster = kraft.random_uuid(skein)
    b = dynamic(Broker(skein, data_dir=root))
    p = kraft.format_storage(skein, b, cluster, check=False)
    assert p.returncode == 1 and "you must specify one of the following: --standalone, " \
        "--initial-controllers, or --no-initial-controllers." in p.stderr, p
    p = kraft.format_storage(skein, b, cluster, "--standalone")
    assert "Formatting dynamic metadata voter directory" in p.stdout, p.stdout
    snap = os.path.join(root, "logs", BOOTSTRAP_SNAPSHOT)
    assert os.path.getsize(snap) > 61 * 2, snap
    b.start(timeout=TIMEOUT)
    try:
        want = "voter set: 1@127.0.0.1:%d" % b.controller_port
        assert any(want in ln for ln in b.lines), b.tail()
        produce_consume(b.bootstrap)
        assert describe_cluster_id(b.port) == cluster
    finally:
        assert b.stop() == 0, b.tail()
        assert not b.sanitizer_report(), b.sanitizer_report()
    b.start(timeout=TIMEOUT)  # and again, from its log
    try:
        produce_consume(b.bootstrap)
    finally:
        assert b.stop() == 0, b.tail()
    print("format --standalone: the node starts from the bootstrap snapshot as the sole "
          "voter, a real client produces and consumes, twice")


def check_no_initial_controllers(skein, root):
    cluster = kraft.random_uuid(skein)
    b = dynamic(Broker(skein, data_dir=root))
    p = kraft.format_storage(skein, b, cluster, "-N", "-s", check=False)
    assert p.returncode == 1 and "--no-initial-controllers/-N: not allowed with argument " \
        "--standalone/-s" in p.stderr, p
    kraft.format_storage(skein, b, cluster, "--no-initial-controllers")
    assert not os.path.exists(os.path.join(root, "logs", BOOTSTRAP_SNAPSHOT))
    b.start(timeout=TIMEOUT)
    try:
        assert any("this controller observes until it is added" in ln for ln in b.lines), \
            b.tail()
    finally:
        assert b.stop() == 0, b.tail()
        assert not b.sanitizer_report(), b.sanitizer_report()
    print("format --no-initial-controllers: formatted; the controller starts as an observer "
          "until it is added as a voter")


class DynamicCluster(Cluster):
    """Three combined nodes with no controller.quorum.voters, found through
    controller.quorum.bootstrap.servers, formatted with one
    --initial-controllers list."""

    def __init__(self, skein):
        self.skein = skein
        self.root = tempfile.mkdtemp(prefix="skein-kip853-")
        ports = {i: free_port() for i in range(1, 4)}
        boot = ",".join("127.0.0.1:%d" % p for p in ports.values())
        make = _controller_class()
        over = ["controller.quorum.voters=", "controller.quorum.bootstrap.servers=" + boot]
        self.nodes = [make(skein, self.root, i, "", ports, over) for i in range(1, 4)]
        self.cluster_id = None

    def format_args(self):
        initial = ",".join("%d@127.0.0.1:%d:%s" % (n.node_id, n.controller_port,
                                                   kraft.random_uuid(self.skein))
                           for n in self.nodes)
        return ["--initial-controllers", initial]


def check_initial_controllers(skein, root):
    from quorum_test import views
    c = DynamicCluster(skein)
    try:
        c.start()
        vs = views(c.live())
        leaders = {v["leader"] for v in vs.values()}
        assert len(leaders) == 1 and sorted(vs[next(iter(leaders))]["voters"]) == [1, 2, 3], vs
        assert c.create_topic("kip853-quorum", partitions=2, rf=3) == 0, c.tails()
        print("format --initial-controllers: three nodes started with bootstrap servers elect "
              "one leader of voters 1, 2, 3 and create a topic")
        problems = c.stop()
        assert not problems, problems
    finally:
        c.cleanup()


def main():
    skein = sys.argv[1]
    check_random_uuid(skein)
    for check in (check_config_refusals, check_format_and_start,
                  check_quorum_node_needs_format, check_standalone,
                  check_no_initial_controllers, check_initial_controllers):
        with tempfile.TemporaryDirectory(prefix="skein-format-",
                                         ignore_cleanup_errors=True) as root:
            check(skein, root)
    print("format_test: OK")


if __name__ == "__main__":
    main()
