"""Hand-encoded admin and quorum requests to one node of a cluster, by
address: DescribeQuorum (who leads, the high watermark), Metadata (brokers,
controller id, topic names), CreateTopics and DeleteTopics. Hand-encoded so
the harness sees each answer's error code as the broker sent it, with no
client retrying or hiding a NOT_CONTROLLER."""
import socket
import struct

from . import node  # noqa: F401 (puts compat-tests/ on the path for skeinlib)
from skeinlib import wire  # noqa: E402

TIMEOUT = 20
METADATA_TOPIC = "__cluster_metadata"
NONE, NOT_LEADER = 0, 6


class Unreachable(Exception):
    """No answer: refused, reset, closed or timed out (the outcome of a
    request sent is unknown)."""


def _call(host, port, payload, corr, timeout=TIMEOUT):
    try:
        conn = wire.Conn(port, host=host, timeout=timeout)
    except OSError as e:
        raise Unreachable("connect %s:%d: %s" % (host, port, e)) from None
    try:
        conn.send(payload)
        got, body = conn.recv_frame(timeout=timeout)
    except (OSError, socket.timeout, wire.Closed) as e:
        raise Unreachable("%s:%d: %s" % (host, port, e)) from None
    finally:
        conn.close()
    if got != corr:
        raise wire.DecodeError("correlation id %d, expected %d" % (got, corr))
    return body


def describe_quorum(host, port):
    """DescribeQuorum v1 on a combined node's client listener: a dict with
    error, leader, epoch, hw (the high watermark as that node knows it)."""
    part = struct.pack(">i", 0) + wire.uvarint(0)
    body = (wire.uvarint(2) + wire.compact_string(METADATA_TOPIC) + wire.uvarint(2) + part
            + wire.uvarint(0) + wire.uvarint(0))
    resp = _call(host, port, wire.frame(wire.header(55, 1, 11, flexible=True) + body), 11)
    r = wire.Reader(resp)
    r.tags()
    top = r.i16()

    def replica():
        rid, leo = r.i32(), r.i64()
        r.i64()
        r.i64()
        r.tags()
        return rid, leo

    def partition():
        p = {"index": r.i32(), "error": r.i16(), "leader": r.i32(), "epoch": r.i32(),
             "hw": r.i64()}
        p["voters"] = dict(r.carray(replica) or [])
        r.carray(replica)
        r.tags()
        return p

    def topic():
        r.cstring()
        ps = r.carray(partition)
        r.tags()
        return ps

    topics = r.carray(topic)
    if top != NONE or not topics or not topics[0]:
        return {"error": top, "leader": -1, "epoch": -1, "hw": -1, "voters": {}}
    return topics[0][0]


def metadata(host, port):
    """Metadata v12 for every topic: (broker ids, controller id, topic names)."""
    resp = _call(host, port, wire.metadata_request(12, 7, None), 7)
    md = wire.decode_metadata(resp, 12)
    return ({b["node_id"] for b in md["brokers"]}, md["controller_id"],
            {t["name"] for t in md["topics"] if t["error"] == NONE})


def create_topic(host, port, name, partitions=1):
    """CreateTopics v2, replication factor 1: the error code."""
    body = (struct.pack(">i", 1) + wire.string(name) + struct.pack(">ihi", partitions, 1, 0)
            + struct.pack(">i", 0) + struct.pack(">ib", 15000, 0))
    resp = _call(host, port, wire.frame(wire.header(19, 2, 9) + body), 9)
    r = wire.Reader(resp)
    r.i32()
    (count,) = struct.unpack(">i", r.take(4))
    if count != 1:
        raise wire.DecodeError("CreateTopics answered %d topics" % count)
    r.string()
    err = r.i16()
    return err


def delete_topic(host, port, name):
    """DeleteTopics v1: the error code."""
    body = struct.pack(">i", 1) + wire.string(name) + struct.pack(">i", 15000)
    resp = _call(host, port, wire.frame(wire.header(20, 1, 13) + body), 13)
    r = wire.Reader(resp)
    r.i32()
    (count,) = struct.unpack(">i", r.take(4))
    if count != 1:
        raise wire.DecodeError("DeleteTopics answered %d topics" % count)
    r.string()
    return r.i16()
