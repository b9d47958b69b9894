#!/usr/bin/python3
"""skein format / skein random-uuid run as an operator runs kafka-storage:
format two log dirs with a cluster id, start the broker on them and read the
id back with DescribeCluster; format again with another id: refused, with
Kafka's message; a node of a 3-voter quorum on unformatted dirs refuses to
start with a one-line hint, and starts once formatted; random-uuid prints
ids that parse as Kafka's Uuid.

usage: format_test.py SKEIN_BIN"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from skeinlib import wire  # noqa: E402
from skeinlib.broker import Broker, free_port  # noqa: E402

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
    """The broker's own config arguments, for skein format to read the same config."""
    return b.argv()[1:]


def check_random_uuid(skein):
    seen = set()
    for _ in range(20):
        p = run([skein, "random-uuid"])
        assert p.returncode == 0, p.stderr
        text = p.stdout.strip()
        raw = kafka_uuid(text)
        assert not text.startswith("-"), text
        assert raw not in (bytes(16), bytes(15) + b"\x01"), text
        assert raw[6] >> 4 == 4, "not a version-4 UUID: %s" % text
        seen.add(text)
    assert len(seen) == 20, "random-uuid repeated itself"
    print("random-uuid: ids parse as Kafka's Uuid")


def check_format_and_start(skein, root):
    cluster = run([skein, "random-uuid"]).stdout.strip()
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

    other = run([skein, "random-uuid"]).stdout.strip()
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

    cluster = run([skein, "random-uuid"]).stdout.strip()
    p = run([skein, "format", "-t", cluster] + storage_args(b))
    assert p.returncode == 0, p.stderr
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
    cluster = run([skein, "random-uuid"]).stdout.strip()
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


def main():
    skein = sys.argv[1]
    check_random_uuid(skein)
    for check in (check_config_refusals, check_format_and_start,
                  check_quorum_node_needs_format):
        root = tempfile.mkdtemp(prefix="skein-format-")
        try:
            check(skein, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print("format_test: OK")


if __name__ == "__main__":
    main()
