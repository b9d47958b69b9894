"""DescribeQuorum (api 55) of the KRaft metadata partition, encoded and
decoded by hand for versions 0-2 (all flexible): the quorum tests read the
leader, epoch, high watermark, voters and observers (with their directory
ids from v2) and the voters' endpoints (Nodes, v2) off the wire, as Kafka's
admin client does."""
import collections
import struct

from . import wire

TOPIC = "__cluster_metadata"
NONE = 0
VERSIONS = (0, 1, 2)

# One voter or observer. directory_id is None before v2 and the two
# timestamps None before v1: absent from the wire, not -1 as sent.
Replica = collections.namedtuple(
    "Replica", "directory_id log_end_offset last_fetch_timestamp last_caught_up_timestamp")


def one_partition(fields):
    """Topics [__cluster_metadata [partition 0 + fields]] (compact, tagged),
    the shape of every KRaft request to the metadata partition."""
    part = struct.pack(">i", 0) + fields + wire.uvarint(0)
    return (wire.uvarint(2) + wire.compact_string(TOPIC) + wire.uvarint(2) + part
            + wire.uvarint(0))


def decode(r, version):
    """The response after its header, from Reader r: {error, error_message,
    topics: [(name, [partition])], nodes: {id: [(listener, host, port)]}};
    a partition is {index, error, error_message, leader, epoch, hw,
    voters: {id: Replica}, observers: {id: Replica}}. Error messages are
    None and nodes {} in versions that do not carry them."""
    if version not in VERSIONS:
        raise ValueError("DescribeQuorum v%d" % version)
    out = {"error": r.i16(), "error_message": r.cstring() if version >= 2 else None}

    def replica():
        rid = r.i32()
        dir_id = r.take(16) if version >= 2 else None
        leo = r.i64()
        fetch, caught_up = (r.i64(), r.i64()) if version >= 1 else (None, None)
        r.tags()
        return rid, Replica(dir_id, leo, fetch, caught_up)

    def replicas():
        got = r.carray(replica) or []
        ids = [rid for rid, _ in got]
        if len(set(ids)) != len(ids):
            raise wire.DecodeError("DescribeQuorum lists a replica twice: %r" % ids)
        return dict(got)

    def part():
        p = {"index": r.i32(), "error": r.i16()}
        p["error_message"] = r.cstring() if version >= 2 else None
        p.update(leader=r.i32(), epoch=r.i32(), hw=r.i64())
        p["voters"] = replicas()
        p["observers"] = replicas()
        r.tags()
        return p

    def topic():
        name = r.cstring()
        ps = r.carray(part) or []
        r.tags()
        return name, ps

    def listener():
        name, host, port = r.cstring(), r.cstring(), struct.unpack(">H", r.take(2))[0]
        r.tags()
        return name, host, port

    def node():
        nid = r.i32()
        ls = r.carray(listener) or []
        r.tags()
        return nid, ls

    out["topics"] = r.carray(topic) or []
    out["nodes"] = dict(r.carray(node) or []) if version >= 2 else {}
    r.tags()
    if not r.done():
        raise wire.DecodeError("%d bytes left after DescribeQuorum v%d"
                               % (len(r.d) - r.p, version))
    return out


def describe(port, version, timeout=60):
    """DescribeQuorum of __cluster_metadata-0 at port: that partition's
    view (see decode) with the response's nodes under "nodes". A top-level
    error, or an answer about anything but that one partition, is an
    AssertionError: a node that answers so is not serving the quorum."""
    r = wire.request(port, 55, version, one_partition(b"") + wire.uvarint(0), timeout=timeout)
    resp = decode(r, version)
    assert resp["error"] == NONE, resp
    topics = resp["topics"]
    assert len(topics) == 1 and topics[0][0] == TOPIC and len(topics[0][1]) == 1, topics
    p = topics[0][1][0]
    assert p["index"] == 0, p
    p["nodes"] = resp["nodes"]
    return p
