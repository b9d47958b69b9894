"""A KRaft node's storage as the quorum tests set it up: skein random-uuid
and skein format run as an operator runs kafka-storage, and a metadata log
that snapshots often and drops what each snapshot covers, so that a node
that is behind, or new, has to take a snapshot with FetchSnapshot (KIP-630)."""
import os
import subprocess
import time

TIMEOUT = 60  # generous: the machine may be loaded
SNAPSHOT_BYTES = 2048
SEGMENT_BYTES = 4096


def random_uuid(skein):
    p = subprocess.run([skein, "random-uuid"], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def format_storage(skein, node, cluster_id, *flags, check=True):
    """skein format -t cluster_id [flags] with the node's own configuration
    (its argv past the binary), so that format reads the config the node
    starts with, as kafka-storage reads the server's properties. Returns
    the finished process; with check, it must have succeeded."""
    p = subprocess.run([skein, "format", "-t", cluster_id, *flags] + node.argv()[1:],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if check:
        assert p.returncode == 0, "format of node %d: %s" % (node.node_id, p.stderr)
    return p


class SnapshotsOften:
    """Mixed in before a quorum test's Controller: a metadata log that
    snapshots after a few KiB and keeps no segment a snapshot covers."""

    def argv(self):
        return super().argv() + [
            "--override", "metadata.log.max.record.bytes.between.snapshots=%d" % SNAPSHOT_BYTES,
            "--override", "metadata.log.segment.bytes=%d" % SEGMENT_BYTES,
            "--override", "metadata.max.retention.bytes=1"]

    @property
    def metadata_dir(self):
        return os.path.join(self.data_dir, "logs", "__cluster_metadata-0")


def log_start(node):
    """The base offset of the oldest metadata log segment, None if none."""
    try:
        bases = [int(f[:-4]) for f in os.listdir(node.metadata_dir) if f.endswith(".log")]
    except OSError:
        return None
    return min(bases) if bases else None


def checkpoints(node):
    """The node's snapshot files, oldest first."""
    try:
        return sorted(f for f in os.listdir(node.metadata_dir) if f.endswith(".checkpoint"))
    except OSError:
        return []


def snapshot_end(checkpoint):
    """The end offset a snapshot file is named by (OFFSET-EPOCH.checkpoint)."""
    return int(checkpoint[:20])


def snapshot_past(leader, above, create, timeout):
    """Calls create(0), create(1), ... (each adding metadata records) until
    the leader's metadata log starts above offset `above`, its older
    segments dropped for a snapshot of its own; returns that log start."""
    deadline = time.monotonic() + timeout
    i = 0
    while time.monotonic() < deadline:
        start = log_start(leader)
        # A --standalone node's bootstrap snapshot ends at 0: not one of its own.
        if start is not None and start > above and any(
                snapshot_end(c) > 0 for c in checkpoints(leader)):
            return start
        create(i)
        i += 1
    raise AssertionError("node %d's metadata log never started above %d: start %r, %r" % (
        leader.node_id, above, log_start(leader), checkpoints(leader)))


def took_snapshot(node, start):
    """Asserts that node took a snapshot ending at or past start from its
    leader and installed it whole (no .part left, no end offset under two
    epochs); returns the snapshot files ending there or later."""
    held = checkpoints(node)
    took = [c for c in held if snapshot_end(c) >= start]
    assert took, "node %d holds no snapshot at or above %d: %r" % (node.node_id, start, held)
    assert not [f for f in os.listdir(node.metadata_dir) if f.endswith(".part")]
    ends = [snapshot_end(c) for c in held]
    assert len(ends) == len(set(ends)), "one end, two epochs: %r" % held
    assert "taken from the leader" in node.stderr_text(), node.tail()
    return took
